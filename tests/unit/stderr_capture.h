/* For tests that provoke log lines: stderr goes to a temporary file between the two calls, and
 * the second says how often a word appeared in what was written. */
#pragma once

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct stderr_capture {
	int fd, saved;
};

static inline void stderr_capture_begin(struct stderr_capture *c)
{
	char path[] = "/tmp/kvmm-test-log.XXXXXX";
	c->fd = mkstemp(path);
	ck_assert_int_ge(c->fd, 0);
	unlink(path);
	fflush(stderr);
	c->saved = dup(STDERR_FILENO);
	ck_assert_int_ge(c->saved, 0);
	dup2(c->fd, STDERR_FILENO);
}

static inline int stderr_capture_end(struct stderr_capture *c, const char *word)
{
	dup2(c->saved, STDERR_FILENO);
	close(c->saved);
	char buf[8192];
	ssize_t n = pread(c->fd, buf, sizeof(buf) - 1, 0);
	close(c->fd);
	ck_assert_int_ge(n, 0);
	buf[n] = 0;
	int count = 0;
	for (char *p = buf; (p = strstr(p, word)); p++)
		count++;
	return count;
}
