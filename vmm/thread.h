/* Helper threads (the I/O thread, the console writer) take no process signals: SIGINT/SIGTERM/
 * SIGHUP belong to the console loop's signalfd and the kick signal to the vCPUs. */
#pragma once

#include <pthread.h>
#include <signal.h>

/* pthread_create with every signal blocked in the new thread (it may unblock its own). Returns
 * pthread_create's error number, 0 on success. */
static inline int thread_start_unsignalled(pthread_t *thread, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int e = pthread_create(thread, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return e;
}
