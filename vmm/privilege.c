#define _GNU_SOURCE
#include "privilege.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

int privilege_resolve(struct privilege *p, const char *user, const char *dir)
{
	memset(p, 0, sizeof(*p));
	p->user = user;
	p->dir = dir;
	if (dir) {
		struct stat st;
		if (stat(dir, &st) < 0) {
			log_error("--chroot %s: %s", dir, strerror(errno));
			return -1;
		}
		if (!S_ISDIR(st.st_mode)) {
			log_error("--chroot %s: not a directory", dir);
			return -1;
		}
	}
	if (!user)
		return 0;
	struct passwd *pw = getpwnam(user);
	char *end;
	errno = 0;
	unsigned long n = strtoul(user, &end, 10);
	if (pw) {
		p->uid = pw->pw_uid;
		p->gid = pw->pw_gid;
		p->ngroups = PRIVILEGE_MAX_GROUPS;
		if (getgrouplist(pw->pw_name, p->gid, p->groups, &p->ngroups) < 0) {
			log_error("--user %s: in more than %d groups", user, PRIVILEGE_MAX_GROUPS);
			return -1;
		}
	} else if (*user >= '0' && *user <= '9' && !*end && !errno && n < UINT_MAX) {
		/* A number without a passwd entry: that uid and a gid of the same number. */
		p->uid = (uid_t)n;
		p->gid = (gid_t)n;
		p->groups[0] = p->gid;
		p->ngroups = 1;
	} else {
		log_error("--user %s: no such user", user);
		return -1;
	}
	if (p->uid == 0) {
		log_error("--user %s: is root; name an unprivileged user", user);
		return -1;
	}
	return 0;
}

int privilege_apply(const struct privilege *p)
{
	if (p->dir) {
		if (chroot(p->dir) < 0) {
			log_error("--chroot %s: %s%s", p->dir, strerror(errno),
				  errno == EPERM ? " (kvmm must start as root)" : "");
			return -1;
		}
		if (chdir("/") < 0) {
			log_error("--chroot %s: chdir: %s", p->dir, strerror(errno));
			return -1;
		}
	}
	if (!p->user)
		return 0;
	/* Groups before the uid: only root may set them. */
	if (setgroups((size_t)p->ngroups, p->groups) < 0 || setresgid(p->gid, p->gid, p->gid) < 0 ||
	    setresuid(p->uid, p->uid, p->uid) < 0) {
		log_error("--user %s: %s%s", p->user, strerror(errno),
			  errno == EPERM ? " (kvmm must start as root to change user)" : "");
		return -1;
	}
	/* Proof that it is for good: root's uid cannot come back. */
	if (setuid(0) == 0 || geteuid() != p->uid || getegid() != p->gid) {
		log_error("--user %s: the privilege drop did not hold", p->user);
		return -1;
	}
	/* The new user may not ptrace kvmm or read its memory through /proc: what root opened
	 * stays root's. (A uid change makes the process non-dumpable already; this says so.) */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	return 0;
}
