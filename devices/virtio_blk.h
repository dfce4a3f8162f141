/* virtio-blk over a raw image file. Reads and writes go between the image and guest memory
 * through io_uring (iovecs over the descriptors, no copy), submitted and completed on the I/O
 * thread, many in flight at once; without io_uring they run synchronously there. FLUSH is
 * acknowledged only after fdatasync, DISCARD and WRITE_ZEROES punch or zero ranges of the file,
 * GET_ID returns the serial. */
#pragma once

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "devices/virtio.h"

#define VIRTIO_BLK_SERIAL_MAX 20
#define VIRTIO_BLK_SEG_MAX    126 /* data segments per request, as advertised */

/* One request from pop to push, found by its chain's head index. A slot stays busy while
 * io_uring may still touch its buffers, even across a reset (then it is an orphan). */
struct blk_req {
	bool busy;
	bool orphan; /* in the kernel at a reset that could not wait for it: finished silently */
	uint16_t head;
	uint32_t gen;	  /* which use of the slot this is: an io_uring completion names it too */
	uint8_t *status;  /* the chain's last writable byte, in guest memory */
	uint32_t written; /* data bytes the device put in the chain on success */
	bool out, flush;
	off_t pos;     /* image offset of the data */
	uint64_t len;  /* what the I/O must transfer to succeed */
	uint64_t done; /* moved so far: a short transfer goes on from here */
	int niov;
	struct iovec iov[VIRTIO_BLK_SEG_MAX];
};

/* What `info block` shows: requests that succeeded, and their bytes. */
struct virtio_blk_stats {
	uint64_t rd_reqs, rd_bytes, wr_reqs, wr_bytes, flushes;
};

struct virtio_blk {
	struct virtio_dev vd;
	const char *path;	       /* as given; the caller keeps it */
	struct virtio_blk_stats stats; /* under vd.lock */
	struct log_limit log;	       /* I/O failures the guest's requests run into */
	int fd;
	bool ro;
	uint64_t capacity; /* 512-byte sectors */
	char serial[VIRTIO_BLK_SERIAL_MAX + 1];
	uint8_t *zeroes; /* WRITE_ZEROES where the file system cannot zero a range itself */
	struct blk_req *reqs;
	unsigned inflight; /* io_uring operations not reaped yet: requests', NOPs', cancels' */
	unsigned orphans;  /* requests left in flight by a reset: it completes once they are back */
	bool uring;
	struct io_uring ring;
	int uring_fd; /* eventfd: completions are waiting */
};

/* Opens path (read-only when ro) and adds the device; sync_io skips io_uring. Returns 0, or -1
 * after a one-line error naming the path. */
int virtio_blk_init(struct virtio_blk *blk, const char *path, bool ro, const char *serial,
		    bool sync_io, const struct guest_mem *mem, struct io_thread *io);
void virtio_blk_destroy(struct virtio_blk *blk);
