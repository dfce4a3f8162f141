#define _GNU_SOURCE /* fallocate */
#include "virtio_blk.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/log.h"

#define VIRTIO_ID_BLOCK	       2
#define PCI_CLASS_STORAGE_SCSI 0x010000
#define BLK_QUEUE_SIZE	       256
#define SECTOR		       512ULL

#define VIRTIO_BLK_F_SIZE_MAX	  1
#define VIRTIO_BLK_F_SEG_MAX	  2
#define VIRTIO_BLK_F_RO		  5
#define VIRTIO_BLK_F_BLK_SIZE	  6
#define VIRTIO_BLK_F_FLUSH	  9
#define VIRTIO_BLK_F_DISCARD	  13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

enum { T_IN = 0, T_OUT = 1, T_FLUSH = 4, T_GET_ID = 8, T_DISCARD = 11, T_WRITE_ZEROES = 13 };
enum { S_OK = 0, S_IOERR = 1, S_UNSUPP = 2 };

/* Limits we advertise, which also bound one request's bounce buffer. */
#define SIZE_MAX_BYTES (1U << 20)
#define MAX_REQUEST    ((uint64_t)SIZE_MAX_BYTES * 2) /* one DISCARD or WRITE_ZEROES */
/* A read or write is bounded by the segments we advertise, nothing else. */
#define MAX_RW		 ((uint64_t)SIZE_MAX_BYTES * VIRTIO_BLK_SEG_MAX)
#define MAX_DISCARD_SEGS 1

struct blk_req_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

struct blk_discard {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

static void blk_config_read(void *dev, unsigned offset, uint8_t *data, unsigned len)
{
	struct virtio_blk *blk = dev;
	uint8_t cfg[60] = {0};
	uint32_t v;
	memcpy(&cfg[0], &blk->capacity, 8);
	v = SIZE_MAX_BYTES;
	memcpy(&cfg[8], &v, 4);
	v = VIRTIO_BLK_SEG_MAX;
	memcpy(&cfg[12], &v, 4);
	v = (uint32_t)SECTOR;
	memcpy(&cfg[20], &v, 4); /* blk_size */
	v = (uint32_t)(MAX_REQUEST / SECTOR);
	memcpy(&cfg[36], &v, 4); /* max_discard_sectors */
	v = MAX_DISCARD_SEGS;
	memcpy(&cfg[40], &v, 4);
	v = 1;
	memcpy(&cfg[44], &v, 4); /* discard_sector_alignment */
	v = (uint32_t)(MAX_REQUEST / SECTOR);
	memcpy(&cfg[48], &v, 4); /* max_write_zeroes_sectors */
	v = MAX_DISCARD_SEGS;
	memcpy(&cfg[52], &v, 4);
	cfg[56] = 1; /* write_zeroes_may_unmap */
	if (offset + len <= sizeof(cfg))
		memcpy(data, &cfg[offset], len);
}

/* The byte range [sector*512, +len) must lie inside the disk. */
static bool in_range(const struct virtio_blk *blk, uint64_t sector, uint64_t len)
{
	uint64_t size = blk->capacity * SECTOR;
	return sector <= blk->capacity && len <= size - sector * SECTOR;
}

/* An io_uring operation's user_data: the request's slot and generation, so that a completion
 * finishes only the use of the slot it was submitted for, never a later request on that head.
 * A cancel's names no slot. */
#define CANCEL_TAG UINT64_MAX

static uint64_t req_tag(const struct virtio_blk *blk, const struct blk_req *req)
{
	return (uint64_t)req->gen << 32 | (uint64_t)(req - blk->reqs);
}

/* The request a completion belongs to, or NULL: a cancel's, or a use of its slot that is over
 * (a NOP left where a withdrawn request was). */
static struct blk_req *tag_req(struct virtio_blk *blk, uint64_t tag)
{
	uint32_t slot = (uint32_t)tag;
	if (slot >= BLK_QUEUE_SIZE)
		return NULL;
	struct blk_req *req = &blk->reqs[slot];
	return req->busy && req->gen == (uint32_t)(tag >> 32) ? req : NULL;
}

/* Names the request in a prepared operation, which is in flight until its completion is reaped. */
static void track(struct virtio_blk *blk, struct blk_req *req, struct io_uring_sqe *sqe)
{
	io_uring_sqe_set_data64(sqe, req_tag(blk, req));
	blk->inflight++;
}

/* Finishes a request: status byte, used ring. The caller interrupts the driver. */
static void req_done(struct virtio_blk *blk, struct blk_req *req, uint8_t status)
{
	if (req->status)
		*req->status = status;
	uint32_t written = status == S_OK ? req->written : 0;
	if (status == S_OK && req->flush) {
		blk->stats.flushes++;
	} else if (status == S_OK && req->len && req->out) {
		blk->stats.wr_reqs++;
		blk->stats.wr_bytes += req->len;
	} else if (status == S_OK && req->len) {
		blk->stats.rd_reqs++;
		blk->stats.rd_bytes += req->len;
	}
	virtq_push(&blk->vd.vqs[0], req->head, written + (req->status ? 1 : 0));
	req->busy = false;
}

/* The ring has an entry per queue slot, so it fills only if a batch outruns submission. */
static struct io_uring_sqe *get_sqe(struct virtio_blk *blk)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&blk->ring);
	if (!sqe && io_uring_submit(&blk->ring) >= 0)
		sqe = io_uring_get_sqe(&blk->ring);
	return sqe;
}

/* Drops the first n bytes from the request's iovecs: what a short transfer already moved. */
static void req_advance(struct blk_req *req, uint64_t n)
{
	req->done += n;
	int i = 0;
	while (i < req->niov && n >= req->iov[i].iov_len)
		n -= req->iov[i++].iov_len;
	memmove(req->iov, req->iov + i, (size_t)(req->niov - i) * sizeof(*req->iov));
	req->niov -= i;
	if (req->niov > 0) {
		req->iov[0].iov_base = (uint8_t *)req->iov[0].iov_base + n;
		req->iov[0].iov_len -= n;
	}
}

/* A read that met the end of the file: the rest reads as zeros, as a sparse tail does. */
static uint8_t zero_rest(struct blk_req *req)
{
	for (int i = 0; i < req->niov; i++)
		memset(req->iov[i].iov_base, 0, req->iov[i].iov_len);
	return S_OK;
}

static void prep_rw(struct virtio_blk *blk, struct blk_req *req, struct io_uring_sqe *sqe)
{
	off_t pos = req->pos + (off_t)req->done;
	if (req->out)
		io_uring_prep_writev(sqe, blk->fd, req->iov, (unsigned)req->niov, pos);
	else
		io_uring_prep_readv(sqe, blk->fd, req->iov, (unsigned)req->niov, pos);
	track(blk, req, sqe);
}

/* What the last transfer of n bytes (or -errno) leaves: a status, or -1 for more to do. */
static int rw_progress(struct blk_req *req, int64_t n)
{
	if (n < 0 || (n == 0 && req->out))
		return S_IOERR;
	if (n == 0)
		return zero_rest(req);
	req_advance(req, (uint64_t)n);
	return req->done < req->len ? -1 : S_OK;
}

static uint8_t rw_sync(struct virtio_blk *blk, struct blk_req *req)
{
	for (;;) {
		off_t pos = req->pos + (off_t)req->done;
		ssize_t n = req->out ? pwritev(blk->fd, req->iov, req->niov, pos)
				     : preadv(blk->fd, req->iov, req->niov, pos);
		if (n < 0 && errno == EINTR)
			continue;
		int st = rw_progress(req, n < 0 ? -errno : n);
		if (st >= 0)
			return (uint8_t)st;
	}
}

/* Submits what was prepared; false when io_uring refused it for good, which leaves requests
 * that will never complete: the device then needs a reset. */
static bool blk_submit(struct virtio_blk *blk)
{
	int r = 0;
	for (int tries = 0; io_uring_sq_ready(&blk->ring) && tries < 100; tries++) {
		r = io_uring_submit(&blk->ring);
		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
			break;
	}
	if (!io_uring_sq_ready(&blk->ring))
		return true;
	log_warn_limited(&blk->log, "virtio-blk: io_uring_submit: %s",
			 r < 0 ? strerror(-r) : "nothing taken");
	return false;
}

/* Reads and writes go straight between the image and guest memory: iovecs over the chain's
 * buffers, through io_uring when we have one. Returns a status, or -1 once submitted. */
static int start_rw(struct virtio_blk *blk, struct virtq *vq, const struct virtq_chain *c,
		    const struct blk_req_hdr *h, struct blk_req *req)
{
	bool out = h->type == T_OUT;
	/* Data follows the header (OUT) or precedes the status byte (IN). */
	uint64_t len = out ? c->read_len - sizeof(*h) : c->write_len - 1;
	if (len % SECTOR || len > MAX_RW || !in_range(blk, h->sector, len))
		return S_IOERR;
	if (out && blk->ro)
		return S_IOERR;
	if (len == 0)
		return S_OK;
	req->niov =
	    virtq_chain_iov(vq, c, !out, out ? sizeof(*h) : 0, len, req->iov, VIRTIO_BLK_SEG_MAX);
	if (req->niov < 0)
		return S_IOERR;
	req->len = len;
	req->out = out;
	req->pos = (off_t)(h->sector * SECTOR);
	req->written = out ? 0 : (uint32_t)len;
	if (!blk->uring)
		return rw_sync(blk, req);
	struct io_uring_sqe *sqe = get_sqe(blk);
	if (!sqe)
		return S_IOERR;
	prep_rw(blk, req, sqe);
	return -1;
}

static uint8_t do_discard(struct virtio_blk *blk, struct virtq *vq, const struct virtq_chain *c,
			  bool zeroes)
{
	struct blk_discard seg;
	if (blk->ro)
		return S_IOERR;
	if (c->read_len - sizeof(struct blk_req_hdr) != sizeof(seg) ||
	    virtq_chain_read(vq, c, sizeof(struct blk_req_hdr), &seg, sizeof(seg)) != sizeof(seg))
		return S_UNSUPP;
	uint64_t len = (uint64_t)seg.num_sectors * SECTOR;
	if (!in_range(blk, seg.sector, len) || len > MAX_REQUEST)
		return S_IOERR;
	int mode = FALLOC_FL_KEEP_SIZE | (zeroes ? FALLOC_FL_ZERO_RANGE : FALLOC_FL_PUNCH_HOLE);
	if (fallocate(blk->fd, mode, (off_t)(seg.sector * SECTOR), (off_t)len) == 0)
		return S_OK;
	if (!zeroes)
		return S_OK; /* discard is a hint: a file system that cannot punch keeps the data */
	memset(blk->zeroes, 0, len);
	ssize_t n = pwrite(blk->fd, blk->zeroes, len, (off_t)(seg.sector * SECTOR));
	return n == (ssize_t)len ? S_OK : S_IOERR;
}

/* Starts one request. Returns its status when it finished at once, or -1 once submitted. */
static int start(struct virtio_blk *blk, struct virtq *vq, const struct virtq_chain *c,
		 struct blk_req *req)
{
	struct blk_req_hdr h;
	if (c->read_len < sizeof(h) || virtq_chain_read(vq, c, 0, &h, sizeof(h)) != sizeof(h))
		return S_IOERR;
	switch (h.type) {
	case T_IN:
	case T_OUT:
		return start_rw(blk, vq, c, &h, req);
	case T_FLUSH:
		/* Acknowledged only once the data is on stable storage. */
		if (blk->uring) {
			struct io_uring_sqe *sqe = get_sqe(blk);
			if (!sqe)
				return S_IOERR;
			io_uring_prep_fsync(sqe, blk->fd, IORING_FSYNC_DATASYNC);
			track(blk, req, sqe);
			req->flush = true;
			return -1;
		}
		req->flush = true;
		return fdatasync(blk->fd) == 0 ? S_OK : S_IOERR;
	case T_GET_ID: {
		char id[VIRTIO_BLK_SERIAL_MAX] = {0};
		memcpy(id, blk->serial, strnlen(blk->serial, sizeof(id)));
		uint32_t n = c->write_len - 1 < sizeof(id) ? c->write_len - 1 : sizeof(id);
		req->written = (uint32_t)virtq_chain_write(vq, c, 0, id, n);
		return S_OK;
	}
	case T_DISCARD:
	case T_WRITE_ZEROES:
		return do_discard(blk, vq, c, h.type == T_WRITE_ZEROES);
	default:
		return S_UNSUPP;
	}
}

static void blk_queue_notify(void *dev, struct virtio_dev *vd, unsigned q)
{
	struct virtio_blk *blk = dev;
	struct virtq *vq = &vd->vqs[q];
	static __thread struct virtq_chain chain;
	int r;
	bool done = false;
	while ((r = virtq_pop(vq, &chain)) > 0) {
		/* A head names one chain until it is used, so it indexes the request table; one
		 * offered again while in flight is a broken driver. */
		struct blk_req *req = &blk->reqs[chain.head];
		if (req->busy) {
			r = -1;
			break;
		}
		*req = (struct blk_req){.head = chain.head, .busy = true, .gen = req->gen + 1};
		/* The status byte is the last writable byte of the chain. */
		struct iovec st;
		if (chain.write_len >= 1 &&
		    virtq_chain_iov(vq, &chain, true, chain.write_len - 1, 1, &st, 1) == 1)
			req->status = st.iov_base;
		int status = req->status ? start(blk, vq, &chain, req) : S_IOERR;
		if (status >= 0) {
			req_done(blk, req, (uint8_t)status);
			done = true;
		}
	}
	if (blk->uring && !blk_submit(blk))
		r = -1;
	if (r < 0)
		virtio_needs_reset(vd);
	else if (done)
		virtio_notify_queue(vd, q);
}

/* io_uring finished requests; the I/O thread runs this when its eventfd fires. */
static void blk_completions(void *opaque)
{
	struct virtio_blk *blk = opaque;
	pthread_mutex_lock(&blk->vd.lock);
	struct io_uring_cqe *cqe;
	unsigned head, n = 0, done = 0;
	bool orphans_back = false;
	io_uring_for_each_cqe(&blk->ring, head, cqe)
	{
		struct blk_req *req = tag_req(blk, cqe->user_data);
		n++;
		blk->inflight--;
		if (!req)
			continue;
		if (req->orphan) { /* its driver is gone: nothing to tell anyone */
			req->busy = req->orphan = false;
			orphans_back = --blk->orphans == 0;
			continue;
		}
		int st = req->flush ? (cqe->res == 0 ? S_OK : S_IOERR) : rw_progress(req, cqe->res);
		struct io_uring_sqe *sqe;
		if (st < 0 && (sqe = get_sqe(blk))) { /* short: the rest, from where it stopped */
			prep_rw(blk, req, sqe);
			continue;
		}
		req_done(blk, req, st < 0 ? S_IOERR : (uint8_t)st);
		done++;
	}
	io_uring_cq_advance(&blk->ring, n);
	if (!blk_submit(blk))
		virtio_needs_reset(&blk->vd);
	if (done)
		virtio_notify_queue(&blk->vd, 0);
	/* The reset that found them in the kernel can complete now, if its driver is still waiting
	 * for the status to read 0 (it wrote nothing since): a reset forgets no request, ever. */
	if (orphans_back && blk->vd.status == VIRTIO_STATUS_NEEDS_RESET)
		virtio_reset_locked(&blk->vd);
	pthread_mutex_unlock(&blk->vd.lock);
}

/* Turns what sits in the submission queue, prepared but not taken by the kernel (a submit that
 * failed), into NOPs: whenever a later submit hands them over, they touch no memory. Their
 * requests are over, and the NOPs keep tags that no longer name them (a cancel's stays a
 * cancel's), so their completions finish nothing. This is the submission queue's own memory,
 * which the kernel reads only inside io_uring_enter, and only we (device locked) call that. */
static void blk_withdraw(struct virtio_blk *blk)
{
	struct io_uring_sq *sq = &blk->ring.sq;
	for (unsigned pos = *sq->khead; pos != sq->sqe_tail; pos++) {
		struct io_uring_sqe *sqe = &sq->sqes[pos & sq->ring_mask];
		uint64_t tag = sqe->user_data;
		struct blk_req *req = tag_req(blk, tag);
		io_uring_prep_nop(sqe);
		io_uring_sqe_set_data64(sqe, tag);
		if (req)
			req->busy = false;
	}
}

static bool any_busy(const struct virtio_blk *blk)
{
	for (unsigned i = 0; i < BLK_QUEUE_SIZE; i++)
		if (blk->reqs[i].busy)
			return true;
	return false;
}

/* Ends every request in flight without a word to the driver (a reset, or the device going
 * away): what the kernel never took is withdrawn, what it has is cancelled (reads polling a
 * pipe, queued io-wq work; kernels before 5.19 refuse CANCEL_ANY, and then it is waited for),
 * and completions are reaped until no request is left. Returns false when io_uring failed us
 * first: the requests still busy are in the kernel and may yet touch their buffers. */
static bool blk_drain(struct virtio_blk *blk)
{
	blk_withdraw(blk);
	bool cancelled = false;
	for (int tries = 0; any_busy(blk);) {
		struct io_uring_sqe *sqe;
		if (!cancelled && (sqe = io_uring_get_sqe(&blk->ring))) {
			io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
			io_uring_sqe_set_data64(sqe, CANCEL_TAG);
			blk->inflight++;
			cancelled = true;
		}
		/* Submits the cancel (and any NOPs), then waits. */
		int r = io_uring_submit_and_wait(&blk->ring, 1);
		if (r < 0 && r != -EINTR && ((r != -EAGAIN && r != -EBUSY) || ++tries >= 100)) {
			log_warn_limited(&blk->log, "virtio-blk: waiting for I/O in flight: %s",
					 strerror(-r));
			blk_withdraw(blk); /* the cancel, if the kernel did not take it */
			return false;
		}
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;
		io_uring_for_each_cqe(&blk->ring, head, cqe)
		{
			struct blk_req *req = tag_req(blk, cqe->user_data);
			n++;
			blk->inflight--;
			if (req && req->orphan)
				blk->orphans--;
			if (req)
				req->busy = req->orphan = false;
		}
		io_uring_cq_advance(&blk->ring, n);
	}
	return true;
}

/* A reset must not leave I/O running into buffers the driver has taken back (transport locked,
 * so blk_completions is not running). What io_uring would not cancel or let us wait for stays
 * tracked, its slot taken: the device then needs a reset, and its status does not read 0, so
 * a driver that waits for that (Linux does) waits for the I/O too; blk_completions completes
 * the reset when the last of it comes back. */
static void blk_reset(void *dev)
{
	struct virtio_blk *blk = dev;
	if (!blk->uring || blk_drain(blk))
		return;
	blk->orphans = 0;
	for (unsigned i = 0; i < BLK_QUEUE_SIZE; i++) {
		struct blk_req *req = &blk->reqs[i];
		if (req->busy) {
			req->orphan = true;
			blk->orphans++;
		}
	}
	log_warn_limited(&blk->log, "virtio-blk: reset with %u requests still in flight",
			 blk->orphans);
	virtio_needs_reset(&blk->vd);
}

static const struct virtio_device_ops blk_ops = {
    .device_id = VIRTIO_ID_BLOCK,
    .pci_class = PCI_CLASS_STORAGE_SCSI,
    .features = (1ULL << VIRTIO_BLK_F_SIZE_MAX) | (1ULL << VIRTIO_BLK_F_SEG_MAX) |
		(1ULL << VIRTIO_BLK_F_BLK_SIZE) | (1ULL << VIRTIO_BLK_F_FLUSH) |
		(1ULL << VIRTIO_BLK_F_DISCARD) | (1ULL << VIRTIO_BLK_F_WRITE_ZEROES),
    .nqueues = 1,
    .queue_max = BLK_QUEUE_SIZE,
    .config_size = 60,
    .config_read = blk_config_read,
    .queue_notify = blk_queue_notify,
    .reset = blk_reset,
};

/* What a read-only disk offers instead: RO, and none of the features that change the image. */
#define BLK_RO_DROPS                                                                               \
	((1ULL << VIRTIO_BLK_F_FLUSH) | (1ULL << VIRTIO_BLK_F_DISCARD) |                           \
	 (1ULL << VIRTIO_BLK_F_WRITE_ZEROES))

int virtio_blk_init(struct virtio_blk *blk, const char *path, bool ro, const char *serial,
		    bool sync_io, const struct guest_mem *mem, struct io_thread *io)
{
	memset(blk, 0, sizeof(*blk));
	blk->path = path;
	blk->ro = ro;
	blk->uring_fd = -1;
	blk->fd = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (blk->fd < 0) {
		log_error("--disk %s: %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(blk->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		log_error("--disk %s: not a regular file", path);
		return -1;
	}
	blk->capacity = (uint64_t)st.st_size / SECTOR;
	if (serial)
		snprintf(blk->serial, sizeof(blk->serial), "%s", serial);
	blk->zeroes = malloc(MAX_REQUEST);
	blk->reqs = calloc(BLK_QUEUE_SIZE, sizeof(*blk->reqs));
	if (!blk->zeroes || !blk->reqs) {
		log_error("--disk %s: out of memory", path);
		return -1;
	}
	if (virtio_dev_init(&blk->vd, "virtio-blk", &blk_ops, blk, mem, io) < 0)
		return -1;
	if (ro)
		blk->vd.device_features =
		    (blk->vd.device_features & ~BLK_RO_DROPS) | (1ULL << VIRTIO_BLK_F_RO);
	/* io_uring may be refused (a seccomp profile, kernel.io_uring_disabled): then requests
	 * run synchronously on the I/O thread, which is correct, only slower. */
	if (!sync_io) {
		int e = io_uring_queue_init(BLK_QUEUE_SIZE, &blk->ring, 0);
		if (e == 0) {
			blk->uring = true;
			blk->uring_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			if (blk->uring_fd < 0 ||
			    io_uring_register_eventfd(&blk->ring, blk->uring_fd) < 0 ||
			    io_thread_watch(io, blk->uring_fd, blk_completions, blk, true) < 0) {
				log_error("--disk %s: io_uring completions: %s", path,
					  strerror(errno));
				return -1;
			}
		} else {
			log_warn("--disk %s: io_uring unavailable (%s); synchronous I/O", path,
				 strerror(-e));
		}
	}
	log_debug("virtio-blk %s: %s I/O", path, blk->uring ? "io_uring" : "synchronous");
	return 0;
}

void virtio_blk_destroy(struct virtio_blk *blk)
{
	/* Closing the ring does not wait for what the kernel still runs (io-wq workers, polled
	 * reads), which would go on into guest memory after it is unmapped: end it all first. */
	if (blk->uring) {
		pthread_mutex_lock(&blk->vd.lock);
		if (!blk_drain(blk))
			log_error("--disk %s: I/O still in flight at exit", blk->path);
		pthread_mutex_unlock(&blk->vd.lock);
		io_uring_queue_exit(&blk->ring);
	}
	blk->uring = false;
	if (blk->uring_fd >= 0)
		close(blk->uring_fd);
	virtio_dev_destroy(&blk->vd);
	if (blk->fd >= 0)
		close(blk->fd);
	free(blk->zeroes);
	free(blk->reqs);
	blk->fd = blk->uring_fd = -1;
	blk->zeroes = NULL;
	blk->reqs = NULL;
}
