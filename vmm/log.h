/* One-line diagnostics on stderr, always prefixed "kvmm: " so a user can tell our words from the
 * guest's console output that shares the terminal. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

extern int log_verbosity;

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
