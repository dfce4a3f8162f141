/* Shared by the libFuzzer targets: reading the input as a stream of fields, guest memory set up
 * the way the unit tests do (gmem_init_layout: one anonymous mapping, nothing mapped right after
 * it, so a stray access past RAM faults), the I/O thread's loop run inline, and invariants that
 * stop the run the way a sanitizer does. Included by one target each. */
#pragma once

#include <errno.h>
#include <sanitizer/common_interface_defs.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "vmm/guest_mem.h"
#include "vmm/io_thread.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input, consumed front to back; past its end every field reads as zero. */
struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

static inline bool fuzz_more(const struct fuzz_in *in)
{
	return in->n > 0;
}

static inline uint64_t fuzz_le(struct fuzz_in *in, unsigned bytes)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes && in->n; i++, in->p++, in->n--)
		v |= (uint64_t)*in->p << (8 * i);
	return v;
}

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
	return (uint8_t)fuzz_le(in, 1);
}

static inline uint16_t fuzz_u16(struct fuzz_in *in)
{
	return (uint16_t)fuzz_le(in, 2);
}

static inline uint32_t fuzz_u32(struct fuzz_in *in)
{
	return (uint32_t)fuzz_le(in, 4);
}

static inline uint64_t fuzz_u64(struct fuzz_in *in)
{
	return fuzz_le(in, 8);
}

/* Up to want bytes of the input, in place; *got says how many there were. */
static inline const uint8_t *fuzz_bytes(struct fuzz_in *in, size_t want, size_t *got)
{
	const uint8_t *p = in->p;
	*got = want < in->n ? want : in->n;
	in->p += *got;
	in->n -= *got;
	return p;
}

/* An access width the buses take: 1, 2, 4 or 8. */
static inline unsigned fuzz_width(uint8_t b)
{
	return 1u << (b & 3);
}

/* Ops 0 and 1 of the device targets' programs: the guest stores a field (op 0; its width from
 * op's high bits) or a run of bytes (op 1) at an offset the input gives. */
static inline void fuzz_guest_store(struct fuzz_in *in, uint8_t op, struct guest_mem *mem)
{
	uint16_t off = fuzz_u16(in);
	if ((op & 7) == 0) {
		uint64_t v = fuzz_u64(in);
		gmem_write(mem, off, &v, fuzz_width(op >> 4));
		return;
	}
	size_t n;
	const uint8_t *p = fuzz_bytes(in, fuzz_u8(in), &n);
	if (n)
		gmem_write(mem, off, p, n);
}

/* An invariant of the code under test does not hold: stop like a sanitizer report, through the
 * sanitizers' own output (run.sh closes the target's stderr: -close_fd_mask). */
#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			__sanitizer_print_stack_trace();                                           \
			__sanitizer_report_error_summary("invariant failed: " __FILE__             \
							 ":" FUZZ_STR(__LINE__) ": " #cond);       \
			abort();                                                                   \
		}                                                                                  \
	} while (0)
#define FUZZ_STR(x)  FUZZ_STR_(x)
#define FUZZ_STR_(x) #x

/* Guest RAM of size bytes at guest-physical 0, one region (a hole above it), mapped once per
 * process; wipe puts it back to zeroes for the next input. */
static inline struct guest_mem *fuzz_gmem(uint64_t size, bool wipe)
{
	static struct guest_mem mem;
	if (!mem.base && gmem_init_layout(&mem, size, 4ULL << 30, 4ULL << 30) < 0)
		abort();
	FUZZ_CHECK(mem.ram_size == size);
	if (wipe)
		memset(mem.base, 0, size);
	return &mem;
}

/* One pass of the I/O thread's loop (io_thread.c's io_thread_main) on this thread: every watched
 * fd that is readable now and not paused gets its handler, eventfds drained first. Returns how
 * many handlers ran. timeout_ms as epoll_wait's. */
static inline int fuzz_io_run(struct io_thread *io, int timeout_ms)
{
	struct epoll_event evs[16];
	int n = epoll_wait(io->epoll_fd, evs, 16, timeout_ms);
	int ran = 0;
	for (int i = 0; i < n; i++) {
		struct io_watch *w = evs[i].data.ptr;
		if (!w || evs[i].data.ptr == &io->hold_fd)
			continue; /* stop or hold: never signalled here */
		if (w->drain_eventfd) {
			uint64_t v;
			if (read(w->fd, &v, sizeof(v)) < 0 && errno == EAGAIN)
				continue;
		}
		w->fn(w->opaque);
		ran++;
	}
	return ran;
}

/* Runs the loop until nothing is ready (at most rounds passes): a kick's work, and the work that
 * work queues, done before the next guest access. */
static inline void fuzz_io_settle(struct io_thread *io, int rounds)
{
	for (int i = 0; i < rounds && fuzz_io_run(io, 0) > 0; i++)
		;
}
