/* Giving up root once everything privileged is open (/dev/kvm, disks, TAPs, vhost-net, the
 * control socket), as QEMU's -runas and -chroot do: a guest that escapes into kvmm then holds
 * an unprivileged user in an empty directory. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#define PRIVILEGE_MAX_GROUPS 64

struct privilege {
	const char *user, *dir; /* as given; either may be NULL */
	uid_t uid;
	gid_t gid;
	gid_t groups[PRIVILEGE_MAX_GROUPS];
	int ngroups;
};

/* Checks user (a name, or a number) and dir while /etc/passwd is reachable and before KVM is
 * touched, so bad values are bad input like any other. Returns 0, or -1 after a one-line error
 * naming the value. */
int privilege_resolve(struct privilege *p, const char *user, const char *dir);

/* Chroots to p->dir (if any) and changes to p->uid's gid, supplementary groups and uid, all
 * three of real, effective and saved. Must run before any other thread exists: credentials are
 * per thread. Returns 0, or -1 after a one-line error. */
int privilege_apply(const struct privilege *p);
