#define _GNU_SOURCE
#include "privilege.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "log.h"

#define MAX_GROUPS 64

int privilege_drop(const char *user, const char *dir)
{
	uid_t uid = 0;
	gid_t gid = 0, groups[MAX_GROUPS];
	int ngroups = 0;
	if (user) {
		/* Looked up before the chroot: the new root has no /etc/passwd. */
		struct passwd *pw = getpwnam(user);
		char *end;
		errno = 0;
		unsigned long n = strtoul(user, &end, 10);
		if (pw) {
			uid = pw->pw_uid;
			gid = pw->pw_gid;
			ngroups = MAX_GROUPS;
			if (getgrouplist(pw->pw_name, gid, groups, &ngroups) < 0) {
				log_error("--user %s: in more than %d groups", user, MAX_GROUPS);
				return -1;
			}
		} else if (*user && !*end && !errno && n < (unsigned long)UINT_MAX) {
			/* A bare number without a passwd entry: that uid, and a gid of the same
			 * number, as QEMU's -runas does for uid:gid. */
			uid = (uid_t)n;
			gid = (gid_t)n;
			groups[0] = gid;
			ngroups = 1;
		} else {
			log_error("--user %s: no such user", user);
			return -1;
		}
		if (uid == 0) {
			log_error("--user %s: is root; name an unprivileged user", user);
			return -1;
		}
	}
	if (dir) {
		if (chroot(dir) < 0) {
			log_error("--chroot %s: %s%s", dir, strerror(errno),
				  errno == EPERM ? " (kvmm must start as root)" : "");
			return -1;
		}
		if (chdir("/") < 0) {
			log_error("--chroot %s: chdir: %s", dir, strerror(errno));
			return -1;
		}
	}
	if (!user)
		return 0;
	/* Groups before the uid: only root may set them. */
	if (setgroups((size_t)ngroups, groups) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(uid, uid, uid) < 0) {
		log_error("--user %s: %s%s", user, strerror(errno),
			  errno == EPERM ? " (kvmm must start as root to change user)" : "");
		return -1;
	}
	/* Proof that it is for good: root's uid cannot come back. */
	if (setuid(0) == 0 || geteuid() != uid || getegid() != gid) {
		log_error("--user %s: the privilege drop did not hold", user);
		return -1;
	}
	/* A core dump or ptrace by the new user must not see what root opened: the drop makes the
	 * process non-dumpable already; keep it so. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	return 0;
}
