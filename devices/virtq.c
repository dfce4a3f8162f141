#include "virtq.h"

#include <string.h>

struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

#define DESC_SIZE 16

void virtq_init(struct virtq *vq, const struct guest_mem *mem)
{
	memset(vq, 0, sizeof(*vq));
	vq->mem = mem;
}

void virtq_reset(struct virtq *vq)
{
	virtq_init(vq, vq->mem);
}

static uint64_t avail_ring_bytes(uint16_t size)
{
	return 4 + 2ULL * size + 2; /* flags, idx, ring[size], used_event */
}

static uint64_t used_ring_bytes(uint16_t size)
{
	return 4 + 8ULL * size + 2; /* flags, idx, ring[size], avail_event */
}

bool virtq_enable(struct virtq *vq)
{
	uint16_t n = vq->size;
	if (n == 0 || (n & (n - 1)) || n > VIRTQ_MAX_SIZE)
		return false;
	if ((vq->desc_gpa & 15) || (vq->avail_gpa & 1) || (vq->used_gpa & 3))
		return false;
	if (!gmem_ptr(vq->mem, vq->desc_gpa, (uint64_t)DESC_SIZE * n) ||
	    !gmem_ptr(vq->mem, vq->avail_gpa, avail_ring_bytes(n)) ||
	    !gmem_ptr(vq->mem, vq->used_gpa, used_ring_bytes(n)))
		return false;
	vq->last_avail = vq->used_idx = 0;
	vq->signalled_valid = false;
	vq->broken = false;
	vq->ready = true;
	return true;
}

/* Ring fields are naturally aligned 16-bit words in RAM that virtq_enable checked. */
static uint16_t *ring16(struct virtq *vq, uint64_t gpa)
{
	return gmem_ptr(vq->mem, gpa, 2);
}

static uint16_t load16(struct virtq *vq, uint64_t gpa, int order)
{
	uint16_t *p = ring16(vq, gpa);
	return p ? __atomic_load_n(p, order) : 0;
}

static void store16(struct virtq *vq, uint64_t gpa, uint16_t v, int order)
{
	uint16_t *p = ring16(vq, gpa);
	if (p)
		__atomic_store_n(p, v, order);
}

static int fail(struct virtq *vq)
{
	vq->broken = true;
	return -1;
}

/* Copies descriptor i of a table at table_gpa with n entries. */
static bool read_desc(struct virtq *vq, uint64_t table_gpa, uint32_t n, uint32_t i,
		      struct vring_desc *d)
{
	if (i >= n)
		return false;
	const uint8_t *p = gmem_ptr(vq->mem, table_gpa + (uint64_t)i * DESC_SIZE, DESC_SIZE);
	if (!p)
		return false;
	memcpy(&d->addr, p, 8);
	memcpy(&d->len, p + 8, 4);
	memcpy(&d->flags, p + 12, 2);
	memcpy(&d->next, p + 14, 2);
	return true;
}

static bool add_buf(struct virtq *vq, struct virtq_chain *c, const struct vring_desc *d)
{
	bool write = d->flags & VIRTQ_DESC_F_WRITE;
	if (c->nbufs >= VIRTQ_MAX_CHAIN || d->len == 0 || !gmem_ptr(vq->mem, d->addr, d->len))
		return false;
	/* Device-readable buffers come first (virtio 1.2, 2.7.4.2). */
	if (!write && c->write_len)
		return false;
	uint32_t *total = write ? &c->write_len : &c->read_len;
	if (*total > UINT32_MAX - d->len)
		return false;
	*total += d->len;
	c->bufs[c->nbufs++] = (struct virtq_buf){d->addr, d->len, write};
	return true;
}

/* Walks an indirect table: its descriptors link among themselves only. */
static bool walk_indirect(struct virtq *vq, struct virtq_chain *c, const struct vring_desc *ind)
{
	if (!vq->indirect || (ind->flags & VIRTQ_DESC_F_NEXT) || ind->len == 0 ||
	    ind->len % DESC_SIZE || ind->len / DESC_SIZE > VIRTQ_MAX_CHAIN)
		return false;
	uint32_t n = ind->len / DESC_SIZE;
	if (!gmem_ptr(vq->mem, ind->addr, ind->len))
		return false;
	uint32_t i = 0;
	for (uint32_t steps = 0;; steps++) {
		struct vring_desc d;
		if (steps >= n || !read_desc(vq, ind->addr, n, i, &d))
			return false; /* out of range, or a loop */
		if ((d.flags & VIRTQ_DESC_F_INDIRECT) || !add_buf(vq, c, &d))
			return false;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return true;
		i = d.next;
	}
}

int virtq_pop(struct virtq *vq, struct virtq_chain *c)
{
	if (vq->broken)
		return -1;
	if (!vq->ready)
		return 0;
	uint16_t avail_idx = load16(vq, vq->avail_gpa + 2, __ATOMIC_ACQUIRE);
	uint16_t pending = (uint16_t)(avail_idx - vq->last_avail);
	if (pending == 0 && vq->event_idx) {
		/* Drained: ask for a kick at the next buffer (avail_event), then look again, since
		 * the driver may have added one before it could see the request. */
		virtq_set_notify(vq, true);
		avail_idx = load16(vq, vq->avail_gpa + 2, __ATOMIC_ACQUIRE);
		pending = (uint16_t)(avail_idx - vq->last_avail);
	}
	if (pending == 0)
		return 0;
	if (pending > vq->size)
		return fail(vq);
	uint16_t head =
	    load16(vq, vq->avail_gpa + 4 + 2ULL * (vq->last_avail % vq->size), __ATOMIC_RELAXED);
	if (head >= vq->size)
		return fail(vq);

	c->head = head;
	c->nbufs = 0;
	c->read_len = c->write_len = 0;
	uint32_t i = head;
	for (uint32_t steps = 0;; steps++) {
		struct vring_desc d;
		/* More steps than descriptors means the chain loops. */
		if (steps >= vq->size || !read_desc(vq, vq->desc_gpa, vq->size, i, &d))
			return fail(vq);
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			/* An indirect descriptor stands alone in its chain. */
			if (steps != 0 || !walk_indirect(vq, c, &d))
				return fail(vq);
			break;
		}
		if (!add_buf(vq, c, &d))
			return fail(vq);
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			break;
		i = d.next;
	}
	vq->last_avail++;
	return 1;
}

void virtq_push(struct virtq *vq, uint16_t head, uint32_t written)
{
	if (!vq->ready)
		return;
	uint64_t elem = vq->used_gpa + 4 + 8ULL * (vq->used_idx % vq->size);
	uint8_t *p = gmem_ptr(vq->mem, elem, 8);
	if (!p)
		return;
	uint32_t id = head;
	memcpy(p, &id, 4);
	memcpy(p + 4, &written, 4);
	vq->used_idx++;
	/* The element must be visible before the index that publishes it. */
	store16(vq, vq->used_gpa + 2, vq->used_idx, __ATOMIC_RELEASE);
}

bool virtq_should_notify(struct virtq *vq)
{
	if (!vq->ready)
		return false;
	/* Our used->idx store must be ordered before reading the driver's suppression fields. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vq->event_idx) {
		uint16_t flags = load16(vq, vq->avail_gpa, __ATOMIC_RELAXED);
		return !(flags & VIRTQ_AVAIL_F_NO_INTERRUPT);
	}
	uint16_t old = vq->signalled_used, now = vq->used_idx;
	bool valid = vq->signalled_valid;
	vq->signalled_used = now;
	vq->signalled_valid = true;
	if (!valid)
		return true;
	uint16_t event = load16(vq, vq->avail_gpa + 4 + 2ULL * vq->size, __ATOMIC_RELAXED);
	/* vring_need_event() from the spec. */
	return (uint16_t)(now - event - 1) < (uint16_t)(now - old);
}

void virtq_set_notify(struct virtq *vq, bool enable)
{
	if (!vq->ready)
		return;
	if (vq->event_idx) {
		store16(vq, vq->used_gpa + 4 + 8ULL * vq->size, vq->last_avail, __ATOMIC_RELAXED);
	} else {
		uint16_t flags = load16(vq, vq->used_gpa, __ATOMIC_RELAXED);
		flags = enable ? (uint16_t)(flags & ~VIRTQ_USED_F_NO_NOTIFY)
			       : (uint16_t)(flags | VIRTQ_USED_F_NO_NOTIFY);
		store16(vq, vq->used_gpa, flags, __ATOMIC_RELAXED);
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* Calls fn on each host piece of bytes [offset, offset + len) of the chain's readable (write
 * false) or writable buffers, in order, each piece checked by gmem_ptr. Stops at the chain's
 * end, at a piece outside RAM, or when fn returns false; returns the bytes walked. */
static size_t chain_walk(struct virtq *vq, const struct virtq_chain *c, bool write, size_t offset,
			 size_t len, bool (*fn)(void *ctx, uint8_t *g, size_t n, size_t done),
			 void *ctx)
{
	size_t done = 0;
	for (uint16_t i = 0; i < c->nbufs && done < len; i++) {
		const struct virtq_buf *b = &c->bufs[i];
		if (b->write != write)
			continue;
		if (offset >= b->len) {
			offset -= b->len;
			continue;
		}
		size_t n = b->len - offset;
		if (n > len - done)
			n = len - done;
		uint8_t *g = gmem_ptr(vq->mem, b->gpa + offset, n);
		if (!g || !fn(ctx, g, n, done))
			break;
		done += n;
		offset = 0;
	}
	return done;
}

struct copy_ctx {
	uint8_t *host;
	bool to_guest;
};

static bool copy_piece(void *ctx, uint8_t *g, size_t n, size_t done)
{
	struct copy_ctx *cc = ctx;
	if (cc->to_guest)
		memcpy(g, cc->host + done, n);
	else
		memcpy(cc->host + done, g, n);
	return true;
}

static size_t chain_copy(struct virtq *vq, const struct virtq_chain *c, bool write, size_t offset,
			 uint8_t *host, size_t len)
{
	struct copy_ctx cc = {host, write};
	return chain_walk(vq, c, write, offset, len, copy_piece, &cc);
}

struct iov_ctx {
	struct iovec *iov;
	int n, max;
};

static bool iov_piece(void *ctx, uint8_t *g, size_t n, size_t done)
{
	struct iov_ctx *ic = ctx;
	(void)done;
	if (ic->n == ic->max)
		return false;
	ic->iov[ic->n++] = (struct iovec){g, n};
	return true;
}

int virtq_chain_iov(struct virtq *vq, const struct virtq_chain *c, bool write, size_t offset,
		    size_t len, struct iovec *iov, int max)
{
	struct iov_ctx ic = {iov, 0, max};
	if (len == 0 || chain_walk(vq, c, write, offset, len, iov_piece, &ic) != len)
		return -1;
	return ic.n;
}

size_t virtq_chain_read(struct virtq *vq, const struct virtq_chain *c, size_t offset, void *dst,
			size_t len)
{
	return chain_copy(vq, c, false, offset, dst, len);
}

size_t virtq_chain_write(struct virtq *vq, const struct virtq_chain *c, size_t offset,
			 const void *src, size_t len)
{
	return chain_copy(vq, c, true, offset, (uint8_t *)src, len);
}
