#include "io_thread.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "thread.h"

int io_thread_init(struct io_thread *io)
{
	memset(io, 0, sizeof(*io));
	io->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	io->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (io->epoll_fd < 0 || io->stop_fd < 0) {
		log_error("I/O thread: %s", strerror(errno));
		io_thread_destroy(io);
		return -1;
	}
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	if (epoll_ctl(io->epoll_fd, EPOLL_CTL_ADD, io->stop_fd, &ev) < 0) {
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

static void *io_thread_main(void *arg)
{
	struct io_thread *io = arg;
	for (;;) {
		struct epoll_event evs[16];
		int n = epoll_wait(io->epoll_fd, evs, 16, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("I/O thread: epoll_wait: %s", strerror(errno));
			return NULL;
		}
		for (int i = 0; i < n; i++) {
			struct io_watch *w = evs[i].data.ptr;
			if (!w)
				return NULL; /* stop requested */
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
	io->epoll_fd = io->stop_fd = -1;
}
