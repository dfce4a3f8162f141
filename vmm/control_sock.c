#define _GNU_SOURCE /* accept4 */
#include "control_sock.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "log.h"
#include "seccomp.h"
#include "thread.h"

/* How long a stop waits for clients to take their last replies and events. */
#define FLUSH_MS 500

struct control_client {
	int fd;
	struct control_origin origin;
	char in[CONTROL_SOCK_LINE_MAX];
	size_t in_len;
	char *out; /* queued replies and events, out_len bytes from out_off */
	size_t out_len, out_off, out_cap;
	bool closing; /* send what is queued, then drop */
	bool dead;
};

int control_sock_address(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -1;
	memcpy(sa->sun_path, path, strlen(path));
	return 0;
}

int control_sock_open(struct control_sock *cs, const char *path)
{
	memset(cs, 0, sizeof(*cs));
	cs->listen_fd = cs->epoll_fd = cs->wake_fd = -1;
	pthread_mutex_init(&cs->lock, NULL);
	struct sockaddr_un sa;
	if (control_sock_address(path, &sa) < 0) {
		log_error("--api-sock %s: longer than %zu bytes", path, sizeof(sa.sun_path) - 1);
		return -1;
	}
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_error("--api-sock %s: exists and is not a socket", path);
			return -1;
		}
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int r = probe < 0 ? -1 : connect(probe, (struct sockaddr *)&sa, sizeof(sa));
		int e = errno;
		if (probe >= 0)
			close(probe);
		if (r == 0) {
			log_error(
			    "--api-sock %s: a running kvmm (or another program) listens there",
			    path);
			return -1;
		}
		if (e != ECONNREFUSED) {
			log_error("--api-sock %s: %s", path, strerror(e));
			return -1;
		}
		/* Nobody listens: what a kvmm that died left behind. */
		if (unlink(path) < 0) {
			log_error("--api-sock %s: removing the stale socket: %s", path,
				  strerror(errno));
			return -1;
		}
	}
	cs->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (cs->listen_fd < 0) {
		log_error("--api-sock %s: socket: %s", path, strerror(errno));
		return -1;
	}
	/* Created 0600 from the start: no moment where someone else may connect. */
	mode_t old = umask(0177);
	int r = bind(cs->listen_fd, (struct sockaddr *)&sa, sizeof(sa));
	int e = errno;
	umask(old);
	if (r < 0 || listen(cs->listen_fd, 64) < 0) {
		log_error("--api-sock %s: %s", path, strerror(r < 0 ? e : errno));
		close(cs->listen_fd);
		cs->listen_fd = -1;
		return -1;
	}
	cs->path = strdup(path);
	return 0;
}

static void client_free(struct control_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->out);
	free(c);
}

/* Lock held. Queues a line for c; a client whose queue would overflow is dropped. */
static void enqueue(struct control_client *c, const char *s, size_t len)
{
	if (c->dead)
		return;
	size_t pending = c->out_len - c->out_off;
	if (pending + len + 1 > CONTROL_SOCK_OUT_MAX) {
		log_debug("control socket: a client does not read its replies; dropped");
		c->dead = true;
		return;
	}
	if (c->out_off && c->out_len + len + 1 > c->out_cap) {
		memmove(c->out, c->out + c->out_off, pending);
		c->out_len = pending;
		c->out_off = 0;
	}
	if (c->out_len + len + 1 > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		while (cap < c->out_len + len + 1)
			cap *= 2;
		char *p = realloc(c->out, cap);
		if (!p) {
			c->dead = true;
			return;
		}
		c->out = p;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, s, len);
	c->out[c->out_len + len] = '\n';
	c->out_len += len + 1;
}

/* Lock held. Writes what the socket takes now, never waiting. */
static void flush(struct control_client *c)
{
	while (!c->dead && c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			c->dead = true;
			return;
		}
		c->out_off += (size_t)n;
	}
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->closing && !c->out_len)
		c->dead = true;
}

static void on_event(void *opaque, struct json_object *event)
{
	struct control_sock *cs = opaque;
	size_t len;
	const char *s = json_object_to_json_string_length(event, JSON_C_TO_STRING_PLAIN, &len);
	pthread_mutex_lock(&cs->lock);
	for (int i = 0; i < CONTROL_SOCK_MAX_CLIENTS; i++)
		if (cs->clients[i] && cs->clients[i]->origin.subscribed)
			enqueue(cs->clients[i], s, len);
	pthread_mutex_unlock(&cs->lock);
	eventfd_write(cs->wake_fd, 1);
}

static void send_reply(struct control_sock *cs, struct control_client *c, struct json_object *r)
{
	size_t len;
	const char *s = json_object_to_json_string_length(r, JSON_C_TO_STRING_PLAIN, &len);
	pthread_mutex_lock(&cs->lock);
	enqueue(c, s, len);
	pthread_mutex_unlock(&cs->lock);
}

static void accept_clients(struct control_sock *cs)
{
	for (;;) {
		int fd = accept4(cs->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return; /* EAGAIN, or a client that left before we got to it */
		pthread_mutex_lock(&cs->lock);
		int slot = -1;
		for (int i = 0; i < CONTROL_SOCK_MAX_CLIENTS && slot < 0; i++)
			if (!cs->clients[i])
				slot = i;
		pthread_mutex_unlock(&cs->lock);
		struct control_client *c = slot < 0 ? NULL : calloc(1, sizeof(*c));
		if (!c) {
			static const char busy[] =
			    "{\"ok\":false,\"error\":\"too many clients\"}\n";
			ssize_t w = send(fd, busy, sizeof(busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
			(void)w;
			close(fd);
			continue;
		}
		c->fd = fd;
		c->origin.can_subscribe = true;
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
		if (epoll_ctl(cs->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			client_free(c);
			continue;
		}
		pthread_mutex_lock(&cs->lock);
		cs->clients[slot] = c;
		pthread_mutex_unlock(&cs->lock);
	}
}

/* Runs every complete line c sent; an over-long one ends the client. */
static void client_readable(struct control_sock *cs, struct control_client *c)
{
	for (;;) {
		if (c->closing || c->dead)
			return;
		ssize_t n = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) {
			c->dead = true; /* gone, perhaps mid-command: its reply has nowhere to go */
			return;
		}
		if (n == 0) {
			/* Shut for writing, perhaps still reading: its replies go out first. */
			pthread_mutex_lock(&cs->lock);
			c->closing = true;
			pthread_mutex_unlock(&cs->lock);
			return;
		}
		c->in_len += (size_t)n;
		size_t start = 0;
		for (size_t i = 0; i < c->in_len; i++) {
			if (c->in[i] != '\n')
				continue;
			struct json_object *r =
			    control_execute_text(cs->ctl, c->in + start, i - start, &c->origin);
			if (r) {
				send_reply(cs, c, r);
				json_object_put(r);
			}
			start = i + 1;
		}
		memmove(c->in, c->in + start, c->in_len - start);
		c->in_len -= start;
		if (c->in_len == sizeof(c->in)) {
			char err[96];
			int len = snprintf(err, sizeof(err),
					   "{\"ok\":false,\"error\":\"request longer than %d "
					   "bytes; closing\"}",
					   CONTROL_SOCK_LINE_MAX);
			pthread_mutex_lock(&cs->lock);
			enqueue(c, err, (size_t)len);
			c->closing = true;
			pthread_mutex_unlock(&cs->lock);
			return;
		}
	}
}

/* Lock held: sends what can go, drops the dead, and watches for room where data waits. */
static void service(struct control_sock *cs)
{
	for (int i = 0; i < CONTROL_SOCK_MAX_CLIENTS; i++) {
		struct control_client *c = cs->clients[i];
		if (!c)
			continue;
		flush(c);
		if (c->dead) {
			epoll_ctl(cs->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
			cs->clients[i] = NULL;
			client_free(c);
			continue;
		}
		struct epoll_event ev = {.events = (c->closing ? 0 : EPOLLIN) |
						   (c->out_len ? EPOLLOUT : 0),
					 .data.ptr = c};
		epoll_ctl(cs->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev);
	}
}

static long ms_since(const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

static void *sock_main(void *arg)
{
	struct control_sock *cs = arg;
	struct timespec stop_at = {0};
	bool stopping = false;
	if (seccomp_enter(SECCOMP_CONTROL, "control") < 0)
		kill(getpid(), SIGTERM); /* the console loop's clean exit */
	for (;;) {
		struct epoll_event evs[16];
		int n = epoll_wait(cs->epoll_fd, evs, 16, stopping ? 50 : -1);
		if (n < 0 && errno != EINTR) {
			log_error("control socket: epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			if (p == &cs->wake_fd) {
				uint64_t v;
				if (read(cs->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
					log_debug("control socket: wake: %s", strerror(errno));
			} else if (p == &cs->listen_fd) {
				if (!stopping)
					accept_clients(cs);
			} else if (!stopping && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
				client_readable(cs, p);
			}
		}
		pthread_mutex_lock(&cs->lock);
		service(cs);
		if (cs->stopping && !stopping) {
			stopping = true;
			clock_gettime(CLOCK_MONOTONIC, &stop_at);
			/* Nothing more is read: only what is queued goes out. */
			for (int i = 0; i < CONTROL_SOCK_MAX_CLIENTS; i++)
				if (cs->clients[i])
					cs->clients[i]->closing = true;
			service(cs);
		}
		bool pending = false;
		for (int i = 0; i < CONTROL_SOCK_MAX_CLIENTS; i++)
			pending |= cs->clients[i] && cs->clients[i]->out_len;
		pthread_mutex_unlock(&cs->lock);
		if (stopping && (!pending || ms_since(&stop_at) >= FLUSH_MS))
			break;
	}
	return NULL;
}

int control_sock_start(struct control_sock *cs, struct control *ctl)
{
	cs->ctl = ctl;
	cs->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	cs->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct epoll_event lev = {.events = EPOLLIN, .data.ptr = &cs->listen_fd};
	struct epoll_event wev = {.events = EPOLLIN, .data.ptr = &cs->wake_fd};
	if (cs->epoll_fd < 0 || cs->wake_fd < 0 ||
	    epoll_ctl(cs->epoll_fd, EPOLL_CTL_ADD, cs->listen_fd, &lev) < 0 ||
	    epoll_ctl(cs->epoll_fd, EPOLL_CTL_ADD, cs->wake_fd, &wev) < 0) {
		log_error("control socket: %s", strerror(errno));
		return -1;
	}
	ctl->on_event = on_event;
	ctl->event_opaque = cs;
	int e = thread_start_unsignalled(&cs->thread, sock_main, cs);
	if (e) {
		log_error("control socket thread: %s", strerror(e));
		ctl->on_event = NULL;
		return -1;
	}
	cs->started = true;
	return 0;
}

void control_sock_close(struct control_sock *cs)
{
	if (cs->started) {
		pthread_mutex_lock(&cs->lock);
		cs->stopping = true;
		pthread_mutex_unlock(&cs->lock);
		eventfd_write(cs->wake_fd, 1);
		pthread_join(cs->thread, NULL);
		cs->started = false;
		pthread_mutex_lock(&cs->ctl->lock);
		cs->ctl->on_event = NULL;
		pthread_mutex_unlock(&cs->ctl->lock);
	}
	for (int i = 0; i < CONTROL_SOCK_MAX_CLIENTS; i++) {
		if (cs->clients[i])
			client_free(cs->clients[i]);
		cs->clients[i] = NULL;
	}
	if (cs->listen_fd >= 0)
		close(cs->listen_fd);
	if (cs->epoll_fd >= 0)
		close(cs->epoll_fd);
	if (cs->wake_fd >= 0)
		close(cs->wake_fd);
	cs->listen_fd = cs->epoll_fd = cs->wake_fd = -1;
	if (cs->path)
		unlink(cs->path);
	free(cs->path);
	cs->path = NULL;
}
