/* The I/O thread: one epoll loop per VM where device work runs (virtqueue processing after a
 * guest kick, backend completions), so no device ever does I/O on a vCPU thread. */
#pragma once

#include <pthread.h>
#include <stdbool.h>

typedef void (*io_handler)(void *opaque);

#define IO_THREAD_MAX_FDS 64

struct io_watch {
	int fd;
	io_handler fn;
	void *opaque;
	bool drain_eventfd; /* read the eventfd counter before calling fn */
};

struct io_thread {
	int epoll_fd;
	int stop_fd;
	int hold_fd; /* eventfd: a hold is waiting for the thread to step aside */
	pthread_mutex_t hold_lock;
	pthread_cond_t hold_cond;
	int holds;   /* io_thread_hold calls not yet released */
	bool parked; /* the thread waits, between handlers, for holds to reach 0 */
	bool exited; /* it stopped for good (an epoll error): a hold waits for nothing */
	pthread_t thread;
	bool started;
	int nwatches;
	struct io_watch watches[IO_THREAD_MAX_FDS];
};

int io_thread_init(struct io_thread *io);
/* Calls fn(opaque) on the I/O thread whenever fd is readable. Register before io_thread_start.
 * With drain_eventfd the eventfd's counter is consumed first, so level-triggered polling does
 * not spin. Returns 0 or -1. */
int io_thread_watch(struct io_thread *io, int fd, io_handler fn, void *opaque, bool drain_eventfd);
/* Stops (or resumes) calling the handler for fd, e.g. while a device has nowhere to put what a
 * readable fd holds, so the loop does not spin on it. Safe from any thread. */
int io_thread_pause_fd(struct io_thread *io, int fd, bool paused);
int io_thread_start(struct io_thread *io);
/* Keeps the thread from running any handler (a paused or resetting VM: no device work) and
 * returns once it waits between handlers. Nests; io_thread_release undoes one. */
void io_thread_hold(struct io_thread *io);
void io_thread_release(struct io_thread *io);
/* Stops and joins the thread; handlers are not running once it returns. */
void io_thread_stop(struct io_thread *io);
void io_thread_destroy(struct io_thread *io);
