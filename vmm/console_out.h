/* The guest console's way out: a byte ring that a thread of its own writes to the terminal (or
 * whatever fd the console goes to). A vCPU that writes the UART only copies into the ring, so a
 * terminal that stops reading (Ctrl-S, a stalled ssh session, a full pipe) never blocks it in
 * a host write. When the ring is full the UART reports its transmitter busy, as a real one
 * behind a stalled line does, and the ring says when it has room again. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONSOLE_OUT_SIZE (64 * 1024)

struct console_out {
	int fd;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint8_t *buf;
	size_t size, head, len;
	bool full_seen; /* a write found no room: call room() once there is some */
	bool broken;	/* the fd failed for good (reader gone): output is discarded */
	bool stopping, started;
	bool held;    /* the terminal shows something else (the monitor): keep output for later */
	bool give_up; /* stopping, and the console took nothing for a while */
	size_t given_up; /* bytes dropped then */
	bool said_full;	 /* "not being read" logged (with -v) */
	uint64_t written;
	pthread_t thread;
	void (*room)(void *opaque);
	void *opaque;
};

/* The ring alone, its writer not started yet: what is written stays in it until
 * console_out_start. Returns 0, or -1 after printing why. */
int console_out_prepare(struct console_out *co, int fd, size_t size, void (*room)(void *opaque),
			void *opaque);
int console_out_start(struct console_out *co);
/* Both: starts the writer thread on fd. room (optional) is called from it when space appears after
 * a write found the ring full. Returns 0, or -1 after printing why. */
int console_out_init(struct console_out *co, int fd, size_t size, void (*room)(void *opaque),
		     void *opaque);
/* Copies what fits of data into the ring and returns how much that was; never blocks on the
 * fd. Once the fd is broken everything "fits" and is dropped, so a guest is never held up by
 * a console nobody reads. */
size_t console_out_write(struct console_out *co, const void *data, size_t len);
/* While held, output stays in the ring (and, once it is full, the guest's UART waits), so it
 * does not interleave with what else the terminal shows; released, it goes out in order. A
 * stop writes it out even if held. */
void console_out_hold(struct console_out *co, bool held);
/* Writes out what the ring holds, then stops the thread and frees the ring. A console that
 * takes nothing for 2 s gets the rest dropped (and a warning), so kvmm can always exit. */
void console_out_destroy(struct console_out *co);
