#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int log_verbosity;

/* -1: not asked yet. Asked once: isatty is an ioctl, which filtered threads may not make. */
static int stderr_tty = -1;

void log_probe_stderr(void)
{
	__atomic_store_n(&stderr_tty, isatty(STDERR_FILENO), __ATOMIC_RELAXED);
}

/* The terminal may be in raw mode while the guest runs, where "\n" does not return the carriage;
 * "\r\n" reads right in both modes. A single write(2) keeps lines from different threads whole. */
static void log_line(const char *prefix, const char *fmt, va_list ap)
{
	char buf[1024];
	int n = snprintf(buf, sizeof(buf), "kvmm: %s", prefix);
	if (n < 0)
		return;
	int m = vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	if (m < 0)
		return;
	size_t len = strnlen(buf, sizeof(buf) - 3);
	if (__atomic_load_n(&stderr_tty, __ATOMIC_RELAXED) < 0)
		log_probe_stderr();
	buf[len++] = __atomic_load_n(&stderr_tty, __ATOMIC_RELAXED) ? '\r' : '\n';
	if (buf[len - 1] == '\r')
		buf[len++] = '\n';
	ssize_t w = write(STDERR_FILENO, buf, len);
	(void)w;
}

void log_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_line("", fmt, ap);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_line("", fmt, ap);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_line("warning: ", fmt, ap);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	if (log_verbosity < 1)
		return;
	va_list ap;
	va_start(ap, fmt);
	log_line("debug: ", fmt, ap);
	va_end(ap);
}

int err_set(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

bool log_limit_pass(struct log_limit *l, uint64_t now_ns, unsigned long long *held)
{
	const uint64_t window = (uint64_t)LOG_LIMIT_WINDOW_S * 1000000000ULL;
	if (l->window_start == 0 || now_ns - l->window_start >= window) {
		l->window_start = now_ns ? now_ns : 1;
		l->used = 0;
	}
	if (l->used >= LOG_LIMIT_BURST) {
		l->held++;
		return false;
	}
	l->used++;
	*held = l->held;
	l->held = 0;
	return true;
}

static pthread_mutex_t limit_lock = PTHREAD_MUTEX_INITIALIZER;

void log_warn_limited(struct log_limit *l, const char *fmt, ...)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	unsigned long long held = 0;
	pthread_mutex_lock(&limit_lock);
	bool pass =
	    log_limit_pass(l, (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec, &held);
	pthread_mutex_unlock(&limit_lock);
	if (!pass)
		return;
	char msg[900];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (held)
		log_warn("%s (%llu more like it held back)", msg, held);
	else if (l->used == LOG_LIMIT_BURST)
		log_warn("%s (more like it are held back for up to %d s)", msg, LOG_LIMIT_WINDOW_S);
	else
		log_warn("%s", msg);
}
