#define _GNU_SOURCE /* pthread_clockjoin_np */
#include "console_out.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "seccomp.h"
#include "thread.h"

/* Interrupts the writer's write() when the console has stopped taking output at exit. */
#define GIVE_UP_SIGNAL SIGUSR2
/* How long a stop waits for a console that takes nothing. */
#define FLUSH_TIMEOUT_MS 2000

static void timespec_add_ms(struct timespec *t, long ms)
{
	t->tv_nsec += ms * 1000 * 1000;
	t->tv_sec += t->tv_nsec / (1000 * 1000 * 1000);
	t->tv_nsec %= 1000 * 1000 * 1000;
}

static long ms_between(const struct timespec *a, const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) * 1000 + (b->tv_nsec - a->tv_nsec) / (1000 * 1000);
}

static void give_up_handler(int sig)
{
	(void)sig;
}

static void *writer_main(void *arg)
{
	struct console_out *co = arg;
	sigset_t give_up;
	sigemptyset(&give_up);
	sigaddset(&give_up, GIVE_UP_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &give_up, NULL);
	if (seccomp_enter(SECCOMP_CONSOLE, "console") < 0)
		kill(getpid(), SIGTERM); /* the console loop's clean exit */
	pthread_mutex_lock(&co->lock);
	for (;;) {
		while ((!co->len || co->held) && !co->stopping)
			pthread_cond_wait(&co->cond, &co->lock);
		if (!co->len)
			break; /* stopping, and everything is out */
		/* The contiguous part from head: the producer only ever appends after it. */
		size_t chunk = co->len < co->size - co->head ? co->len : co->size - co->head;
		const uint8_t *p = co->buf + co->head;
		pthread_mutex_unlock(&co->lock);
		ssize_t w = write(co->fd, p, chunk);
		int err = w < 0 ? errno : 0;
		if (err == EAGAIN) {
			/* An fd someone made non-blocking: wait for room instead of spinning. */
			struct pollfd pfd = {.fd = co->fd, .events = POLLOUT};
			poll(&pfd, 1, -1);
		}
		pthread_mutex_lock(&co->lock);
		if ((err == EINTR || err == EAGAIN) && !co->give_up)
			continue;
		if (w <= 0) {
			/* EPIPE, EIO, a closed terminal: the console reader is gone, and the guest
			 * must not be held up waiting for it. Or kvmm is stopping and the console
			 * took nothing for FLUSH_TIMEOUT_MS (console_out_destroy says so: a log
			 * line here could block on the same stalled terminal). */
			if (co->give_up)
				co->given_up = co->len;
			co->broken = true;
			w = (ssize_t)co->len;
		}
		size_t n = (size_t)w < co->len ? (size_t)w : co->len;
		co->head = (co->head + n) % co->size;
		co->len -= n;
		co->written += n;
		if (co->full_seen && !co->said_full) {
			/* Said here, not by the guest's vCPU: stderr may be as stalled as fd. */
			co->said_full = true;
			pthread_mutex_unlock(&co->lock);
			log_debug(
			    "console: output is not being read; the guest's UART waits for it");
			pthread_mutex_lock(&co->lock);
		}
		if (co->full_seen && co->room) {
			co->full_seen = false;
			pthread_mutex_unlock(&co->lock);
			co->room(co->opaque); /* may write again: not under our lock */
			pthread_mutex_lock(&co->lock);
		}
	}
	pthread_mutex_unlock(&co->lock);
	return NULL;
}

int console_out_prepare(struct console_out *co, int fd, size_t size, void (*room)(void *opaque),
			void *opaque)
{
	memset(co, 0, sizeof(*co));
	co->fd = fd;
	co->size = size;
	co->room = room;
	co->opaque = opaque;
	co->buf = malloc(size);
	if (!co->buf) {
		log_error("console output buffer: out of memory");
		return -1;
	}
	pthread_mutex_init(&co->lock, NULL);
	pthread_cond_init(&co->cond, NULL);
	/* No SA_RESTART: the signal is there to make a stuck write() return. */
	struct sigaction sa = {.sa_handler = give_up_handler};
	sigemptyset(&sa.sa_mask);
	sigaction(GIVE_UP_SIGNAL, &sa, NULL);
	return 0;
}

int console_out_start(struct console_out *co)
{
	int e = thread_start_unsignalled(&co->thread, writer_main, co);
	if (e) {
		log_error("console output thread: %s", strerror(e));
		console_out_destroy(co);
		return -1;
	}
	co->started = true;
	return 0;
}

int console_out_init(struct console_out *co, int fd, size_t size, void (*room)(void *opaque),
		     void *opaque)
{
	if (console_out_prepare(co, fd, size, room, opaque) < 0)
		return -1;
	return console_out_start(co);
}

size_t console_out_write(struct console_out *co, const void *data, size_t len)
{
	pthread_mutex_lock(&co->lock);
	if (co->broken) {
		pthread_mutex_unlock(&co->lock);
		return len;
	}
	size_t n = co->size - co->len < len ? co->size - co->len : len;
	size_t tail = (co->head + co->len) % co->size;
	size_t first = n < co->size - tail ? n : co->size - tail;
	memcpy(co->buf + tail, data, first);
	memcpy(co->buf, (const uint8_t *)data + first, n - first);
	if (co->len == 0 && n)
		pthread_cond_signal(&co->cond);
	co->len += n;
	if (n < len)
		co->full_seen = true;
	pthread_mutex_unlock(&co->lock);
	return n;
}

void console_out_hold(struct console_out *co, bool held)
{
	pthread_mutex_lock(&co->lock);
	co->held = held;
	pthread_cond_signal(&co->cond);
	pthread_mutex_unlock(&co->lock);
}

void console_out_destroy(struct console_out *co)
{
	if (!co->buf)
		return;
	if (co->started) {
		pthread_mutex_lock(&co->lock);
		co->stopping = true;
		pthread_cond_signal(&co->cond);
		pthread_mutex_unlock(&co->lock);
		/* A console that stopped reading (a terminal held with Ctrl-S, a pipe nobody
		 * drains) must not keep kvmm from exiting: once it has taken nothing for
		 * FLUSH_TIMEOUT_MS, interrupt the write (again every 100 ms, should a signal
		 * land just before it). A slow console that still moves is waited for. */
		uint64_t seen = UINT64_MAX;
		struct timespec last = {0}, now, slice;
		for (;;) {
			clock_gettime(CLOCK_MONOTONIC, &slice);
			timespec_add_ms(&slice, 100);
			if (pthread_clockjoin_np(co->thread, NULL, CLOCK_MONOTONIC, &slice) !=
			    ETIMEDOUT)
				break;
			clock_gettime(CLOCK_MONOTONIC, &now);
			pthread_mutex_lock(&co->lock);
			if (co->written != seen) {
				seen = co->written;
				last = now;
			} else if (ms_between(&last, &now) >= FLUSH_TIMEOUT_MS) {
				co->give_up = true;
				pthread_kill(co->thread, GIVE_UP_SIGNAL);
			}
			pthread_mutex_unlock(&co->lock);
		}
		if (co->given_up)
			log_warn("the console took no output for %d s; the last %zu bytes of the "
				 "guest's output were dropped",
				 FLUSH_TIMEOUT_MS / 1000, co->given_up);
		co->started = false;
	}
	pthread_cond_destroy(&co->cond);
	pthread_mutex_destroy(&co->lock);
	free(co->buf);
	co->buf = NULL;
}
