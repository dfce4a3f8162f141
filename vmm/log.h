/* One-line diagnostics on stderr, always prefixed "kvmm: " so a user can tell our words from the
 * guest's console output that shares the terminal. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

extern int log_verbosity;

/* Whether stderr is a terminal (lines then end "\r\n"), asked now rather than at the first line,
 * which may come from a thread whose seccomp filter allows no such ioctl. */
void log_probe_stderr(void);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A line the user asked for (--boot-timeline): no prefix beyond "kvmm: ". */
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Printed only with -v: things an operator may want when debugging a guest, never on a normal run.
 */
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* For functions that return -1 with a reason for their caller to place in its own message:
 * writes the printf-style reason into err (errlen bytes) and returns -1. */
int err_set(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* For every line a guest can cause: at most LOG_LIMIT_BURST lines per LOG_LIMIT_WINDOW_S seconds
 * from one limiter (one per device and cause). Past that, lines are counted, and the first one
 * let through afterwards says how many were held back. Zero-initialised is ready to use. */
#define LOG_LIMIT_BURST	   5
#define LOG_LIMIT_WINDOW_S 60

struct log_limit {
	uint64_t window_start; /* CLOCK_MONOTONIC ns; 0: no window yet */
	unsigned used;
	unsigned long long held;
};

void log_warn_limited(struct log_limit *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The decision alone, at now_ns: whether to log, and in *held how many lines were held back
 * since the last one logged. Callers serialise (log_warn_limited does). */
bool log_limit_pass(struct log_limit *l, uint64_t now_ns, unsigned long long *held);
