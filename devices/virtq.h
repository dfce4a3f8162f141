/* The split virtqueue (virtio 1.2 section 2.7), shared by every virtio device and transport.
 *
 * Everything in the rings is written by the guest, concurrently, and is untrusted: each
 * descriptor is copied out once and then checked, every address and length goes through the
 * guest-memory accessor, and a malformed ring (index past the ring, a loop, a chain longer than
 * the queue, a zero-length or out-of-RAM buffer, a bad indirect table) marks the queue broken so
 * the device can report NEEDS_RESET. The VMM never crashes or spins on a guest's ring. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vmm/guest_mem.h"

#define VIRTQ_MAX_SIZE	32768
#define VIRTQ_MAX_CHAIN 1024

#define VIRTQ_DESC_F_NEXT	   1
#define VIRTQ_DESC_F_WRITE	   2
#define VIRTQ_DESC_F_INDIRECT	   4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY	   1

struct virtq {
	uint16_t size; /* 0 = not configured */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	bool ready;
	bool event_idx; /* VIRTIO_F_EVENT_IDX negotiated */
	bool indirect;	/* VIRTIO_F_INDIRECT_DESC negotiated */
	uint16_t last_avail;
	uint16_t used_idx;
	uint16_t signalled_used; /* used_idx when the driver was last interrupted */
	bool signalled_valid;
	bool broken;
	const struct guest_mem *mem;
};

/* One descriptor's guest range. */
struct virtq_buf {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

struct virtq_chain {
	uint16_t head;
	uint16_t nbufs;
	uint32_t read_len, write_len;
	struct virtq_buf bufs[VIRTQ_MAX_CHAIN];
};

void virtq_init(struct virtq *vq, const struct guest_mem *mem);
/* Power-on state: unconfigured, not ready, indices 0, not broken. */
void virtq_reset(struct virtq *vq);
/* Checks size and ring placement and alignment; marks the queue ready, or returns false. */
bool virtq_enable(struct virtq *vq);
/* 1: a chain was popped; 0: nothing available; -1: malformed ring (queue is now broken). */
int virtq_pop(struct virtq *vq, struct virtq_chain *chain);
/* Returns a chain to the driver with the bytes written into it. */
void virtq_push(struct virtq *vq, uint16_t head, uint32_t written);
/* Whether the driver asked to be interrupted for what was pushed since the last interrupt. */
bool virtq_should_notify(struct virtq *vq);
/* Asks the driver for kicks (enable) or not. */
void virtq_set_notify(struct virtq *vq, bool enable);
/* Copies between a chain's readable (read) or writable (write) buffers, from byte offset within
 * those buffers; returns the bytes copied, which stops short at the chain's end. */
size_t virtq_chain_read(struct virtq *vq, const struct virtq_chain *c, size_t offset, void *dst,
			size_t len);
size_t virtq_chain_write(struct virtq *vq, const struct virtq_chain *c, size_t offset,
			 const void *src, size_t len);
/* Maps bytes [offset, offset + len) of a chain's readable (write false) or writable buffers to
 * at most max host iovecs, each checked by the guest-memory accessor, so I/O can go straight to
 * guest memory. Returns the number used, or -1 when the range is empty, runs past the chain,
 * leaves RAM, or needs more than max pieces. */
int virtq_chain_iov(struct virtq *vq, const struct virtq_chain *c, bool write, size_t offset,
		    size_t len, struct iovec *iov, int max);
