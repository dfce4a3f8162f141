#include "io_thread.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "seccomp.h"
#include "thread.h"

int io_thread_init(struct io_thread *io)
{
	memset(io, 0, sizeof(*io));
	pthread_mutex_init(&io->hold_lock, NULL);
	pthread_cond_init(&io->hold_cond, NULL);
	io->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	io->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	io->hold_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (io->epoll_fd < 0 || io->stop_fd < 0 || io->hold_fd < 0) {
		log_error("I/O thread: %s", strerror(errno));
		io_thread_destroy(io);
		return -1;
	}
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	struct epoll_event hold = {.events = EPOLLIN, .data.ptr = &io->hold_fd};
	if (epoll_ctl(io->epoll_fd, EPOLL_CTL_ADD, io->stop_fd, &ev) < 0 ||
	    epoll_ctl(io->epoll_fd, EPOLL_CTL_ADD, io->hold_fd, &hold) < 0) {
		log_error("I/O thread: epoll_ctl: %s", strerror(errno));
		io_thread_destroy(io);
		return -1;
	}
	return 0;
}

int io_thread_watch(struct io_thread *io, int fd, io_handler fn, void *opaque, bool drain_eventfd)
{
	if (io->nwatches >= IO_THREAD_MAX_FDS) {
		log_error("I/O thread: more than %d event sources", IO_THREAD_MAX_FDS);
		return -1;
	}
	struct io_watch *w = &io->watches[io->nwatches];
	*w = (struct io_watch){fd, fn, opaque, drain_eventfd};
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = w};
	if (epoll_ctl(io->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		log_error("I/O thread: epoll_ctl: %s", strerror(errno));
		return -1;
	}
	io->nwatches++;
	return 0;
}

int io_thread_pause_fd(struct io_thread *io, int fd, bool paused)
{
	for (int i = 0; i < io->nwatches; i++) {
		if (io->watches[i].fd != fd)
			continue;
		struct epoll_event ev = {.events = paused ? 0 : EPOLLIN,
					 .data.ptr = &io->watches[i]};
		return epoll_ctl(io->epoll_fd, EPOLL_CTL_MOD, fd, &ev);
	}
	return -1;
}

/* On the I/O thread: a hold was asked for; wait until every hold is released. */
static void park(struct io_thread *io)
{
	uint64_t v;
	if (read(io->hold_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_debug("I/O thread: hold eventfd: %s", strerror(errno));
	pthread_mutex_lock(&io->hold_lock);
	io->parked = true;
	pthread_cond_broadcast(&io->hold_cond);
	while (io->holds > 0)
		pthread_cond_wait(&io->hold_cond, &io->hold_lock);
	io->parked = false;
	pthread_mutex_unlock(&io->hold_lock);
}

void io_thread_hold(struct io_thread *io)
{
	pthread_mutex_lock(&io->hold_lock);
	if (io->holds++ == 0 && io->started) {
		eventfd_write(io->hold_fd, 1);
		while (!io->parked && !io->exited)
			pthread_cond_wait(&io->hold_cond, &io->hold_lock);
	}
	pthread_mutex_unlock(&io->hold_lock);
}

void io_thread_release(struct io_thread *io)
{
	pthread_mutex_lock(&io->hold_lock);
	if (io->holds > 0 && --io->holds == 0)
		pthread_cond_broadcast(&io->hold_cond);
	pthread_mutex_unlock(&io->hold_lock);
}

static void *io_thread_main(void *arg)
{
	struct io_thread *io = arg;
	if (seccomp_enter(SECCOMP_IO, "io") < 0)
		kill(getpid(), SIGTERM); /* the console loop's clean exit */
	for (;;) {
		struct epoll_event evs[16];
		int n = epoll_wait(io->epoll_fd, evs, 16, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("I/O thread: epoll_wait: %s", strerror(errno));
			pthread_mutex_lock(&io->hold_lock);
			io->exited = true;
			pthread_cond_broadcast(&io->hold_cond);
			pthread_mutex_unlock(&io->hold_lock);
			return NULL;
		}
		for (int i = 0; i < n; i++) {
			struct io_watch *w = evs[i].data.ptr;
			if (!w)
				return NULL; /* stop requested */
			if (evs[i].data.ptr == &io->hold_fd) {
				park(io);
				continue;
			}
			if (w->drain_eventfd) {
				uint64_t v;
				if (read(w->fd, &v, sizeof(v)) < 0 && errno == EAGAIN)
					continue;
			}
			w->fn(w->opaque);
		}
	}
}

int io_thread_start(struct io_thread *io)
{
	int e = thread_start_unsignalled(&io->thread, io_thread_main, io);
	if (e) {
		log_error("I/O thread: %s", strerror(e));
		return -1;
	}
	io->started = true;
	return 0;
}

void io_thread_stop(struct io_thread *io)
{
	if (!io->started)
		return;
	/* A parked thread must see the stop: holds end here. */
	pthread_mutex_lock(&io->hold_lock);
	io->holds = 0;
	pthread_cond_broadcast(&io->hold_cond);
	pthread_mutex_unlock(&io->hold_lock);
	uint64_t one = 1;
	ssize_t r = write(io->stop_fd, &one, sizeof(one));
	(void)r;
	pthread_join(io->thread, NULL);
	io->started = false;
}

void io_thread_destroy(struct io_thread *io)
{
	io_thread_stop(io);
	if (io->epoll_fd >= 0)
		close(io->epoll_fd);
	if (io->stop_fd >= 0)
		close(io->stop_fd);
	if (io->hold_fd >= 0)
		close(io->hold_fd);
	io->epoll_fd = io->stop_fd = io->hold_fd = -1;
}
