/* Giving up root once everything privileged is open (/dev/kvm, disks, TAPs, vhost-net, the
 * control socket), as QEMU's -runas and -chroot do: a guest that escapes into kvmm then holds
 * an unprivileged user in an empty directory. */
#pragma once

/* Resolves user (a name, or a number) while /etc/passwd is still reachable, then chroots to
 * dir (if any) and changes to that user's gid, supplementary groups and uid, all three of
 * real, effective and saved. Either may be NULL. Must run before any other thread exists:
 * credentials are per thread. Returns 0, or -1 after a one-line error naming the value. */
int privilege_drop(const char *user, const char *dir);
