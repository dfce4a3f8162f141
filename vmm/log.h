/* One-line diagnostics on stderr, always prefixed "kvmm: " so a user can tell our words from the
 * guest's console output that shares the terminal. */
#pragma once

#include <stdbool.h>

extern int log_verbosity;

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A line the user asked for (--boot-timeline): no prefix beyond "kvmm: ". */
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Printed only with -v: things an operator may want when debugging a guest, never on a normal run.
 */
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
