/* The control socket: a Unix stream socket (mode 0600) that speaks line-delimited JSON to the
 * command table (control.h), on a thread of its own. Every client is untrusted: reads are
 * bounded, a line longer than CONTROL_SOCK_LINE_MAX is refused and the client dropped, replies
 * and events wait in a bounded queue per client (one that lets it overflow is dropped), and no
 * write ever blocks, so no client can stall the guest or another client. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct control;

#define CONTROL_SOCK_LINE_MAX	 (64 * 1024)
#define CONTROL_SOCK_OUT_MAX	 (1024 * 1024)
#define CONTROL_SOCK_MAX_CLIENTS 64

struct control_client;

struct control_sock {
	char *path;
	int listen_fd, epoll_fd, wake_fd;
	struct control *ctl;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock; /* clients' queues and the stopping flag */
	bool stopping;
	struct control_client *clients[CONTROL_SOCK_MAX_CLIENTS];
};

struct sockaddr_un;
/* path as a socket address; -1 when it is too long for one. */
int control_sock_address(const char *path, struct sockaddr_un *sa);
/* Binds path, refusing a path that is not a socket or that a live process listens on, and
 * replacing a stale one. Returns 0, or -1 after a one-line error naming path. */
int control_sock_open(struct control_sock *cs, const char *path);
/* Serves ctl from now on, its events included. Returns 0 or -1. */
int control_sock_start(struct control_sock *cs, struct control *ctl);
/* Sends what is queued (for up to half a second), then closes every client and removes the
 * socket file. */
void control_sock_close(struct control_sock *cs);
