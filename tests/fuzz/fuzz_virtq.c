/* The virtqueue core (devices/virtq.c) against rings the input writes into guest memory.
 *
 * Input: a header (queue size, EVENT_IDX and INDIRECT_DESC, where the descriptor table and the
 * two rings lie, the starting ring indices), then the guest memory image copied to guest
 * address 0, then operations as a device and a driver interleave them: pop a chain into one of
 * a few slots, read its request and write its reply, map it to iovecs, push it back, ask whether
 * to interrupt, toggle notifications, and the guest storing into its rings between them. Checked:
 * every chain popped is consistent with what virtq.h promises, copies stop where the chain ends,
 * and no access leaves guest RAM. */
#include "devices/virtq.h"
#include "fuzz.h"

#define RAM   (64 * 1024)
#define SLOTS 4

static struct virtq_chain slot[SLOTS];
static bool slot_full[SLOTS];
static uint8_t scratch[256 * 1024];

struct setup {
	uint16_t size;
	bool event_idx, indirect;
	uint64_t desc, avail, used;
	uint16_t last_avail;
};

static bool enable(struct virtq *vq, const struct setup *s)
{
	virtq_reset(vq);
	vq->size = s->size;
	vq->desc_gpa = s->desc;
	vq->avail_gpa = s->avail;
	vq->used_gpa = s->used;
	vq->event_idx = s->event_idx;
	vq->indirect = s->indirect;
	if (!virtq_enable(vq))
		return false;
	/* A queue that has run for a while: indices anywhere, wrapping past 0xffff. */
	vq->last_avail = vq->used_idx = s->last_avail;
	return true;
}

/* What virtq.h promises of a popped chain. */
static void check_chain(const struct virtq *vq, const struct virtq_chain *c)
{
	FUZZ_CHECK(c->head < vq->size);
	FUZZ_CHECK(c->nbufs >= 1 && c->nbufs <= VIRTQ_MAX_CHAIN);
	uint64_t rd = 0, wr = 0;
	bool seen_write = false;
	for (unsigned i = 0; i < c->nbufs; i++) {
		const struct virtq_buf *b = &c->bufs[i];
		FUZZ_CHECK(b->len > 0);
		FUZZ_CHECK(gmem_ptr(vq->mem, b->gpa, b->len) != NULL);
		FUZZ_CHECK(!seen_write || b->write); /* readable buffers first */
		seen_write |= b->write;
		*(b->write ? &wr : &rd) += b->len;
	}
	FUZZ_CHECK(rd == c->read_len && wr == c->write_len);
}

static size_t expect_copy(uint32_t total, size_t offset, size_t len)
{
	if (offset >= total)
		return 0;
	return len < total - offset ? len : total - offset;
}

/* A copy of len bytes at offset of the readable (or writable) part. */
static void copy(struct virtq *vq, const struct virtq_chain *c, bool write, size_t offset,
		 size_t len)
{
	if (len > sizeof(scratch))
		len = sizeof(scratch);
	size_t got = write ? virtq_chain_write(vq, c, offset, scratch, len)
			   : virtq_chain_read(vq, c, offset, scratch, len);
	FUZZ_CHECK(got == expect_copy(write ? c->write_len : c->read_len, offset, len));
}

static void iov(struct virtq *vq, const struct virtq_chain *c, bool write, size_t offset,
		size_t len, int max)
{
	struct iovec v[8];
	int n = virtq_chain_iov(vq, c, write, offset, len, v, max);
	FUZZ_CHECK(n >= -1 && n <= max);
	if (n < 0)
		return;
	FUZZ_CHECK(expect_copy(write ? c->write_len : c->read_len, offset, len) == len);
	size_t sum = 0;
	const uint8_t *base = vq->mem->base;
	for (int i = 0; i < n; i++) {
		const uint8_t *p = v[i].iov_base;
		FUZZ_CHECK(v[i].iov_len > 0);
		FUZZ_CHECK(p >= base && v[i].iov_len <= vq->mem->ram_size &&
			   (size_t)(p - base) <= vq->mem->ram_size - v[i].iov_len);
		sum += v[i].iov_len;
	}
	FUZZ_CHECK(sum == len);
}

/* What a device does with a request: read it all, write the reply, give the chain back. */
static void serve(struct virtq *vq, const struct virtq_chain *c, uint32_t reply)
{
	copy(vq, c, false, 0, c->read_len);
	size_t n = reply < c->write_len ? reply : c->write_len;
	copy(vq, c, true, 0, n);
	virtq_push(vq, c->head, (uint32_t)n);
}

static void drain(struct virtq *vq)
{
	int r;
	/* At most size chains are pending; a bound anyway, so a bug shows as a failure, not a
	 * hang. */
	for (unsigned i = 0; i <= VIRTQ_MAX_SIZE && (r = virtq_pop(vq, &slot[0])) > 0; i++) {
		check_chain(vq, &slot[0]);
		serve(vq, &slot[0], slot[0].write_len);
	}
	virtq_should_notify(vq);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	struct guest_mem *mem = fuzz_gmem(RAM, true);
	static struct virtq vq;
	virtq_init(&vq, mem);

	struct setup s;
	uint8_t sz = fuzz_u8(&in);
	s.size = sz & 0x80 ? fuzz_u16(&in) : (uint16_t)(1u << (sz % 9));
	uint8_t flags = fuzz_u8(&in);
	s.event_idx = flags & 1;
	s.indirect = flags & 2;
	if (flags & 4) { /* anywhere at all: virtq_enable must refuse what is not RAM */
		s.desc = fuzz_u64(&in);
		s.avail = fuzz_u64(&in);
		s.used = fuzz_u64(&in);
	} else {
		s.desc = fuzz_u16(&in);
		s.avail = fuzz_u16(&in);
		s.used = fuzz_u16(&in);
	}
	s.last_avail = fuzz_u16(&in);
	size_t image_len;
	const uint8_t *image = fuzz_bytes(&in, fuzz_u16(&in), &image_len);
	memcpy(mem->base, image, image_len);
	memset(slot_full, 0, sizeof(slot_full));

	if (!enable(&vq, &s))
		return 0;
	while (fuzz_more(&in)) {
		uint8_t op = fuzz_u8(&in);
		unsigned k = (op >> 4) % SLOTS;
		struct virtq_chain *c = &slot[k];
		switch (op & 0xf) {
		case 0: { /* pop into slot k */
			int r = virtq_pop(&vq, c);
			FUZZ_CHECK(r >= -1 && r <= 1);
			FUZZ_CHECK(r != -1 || vq.broken);
			if (r == 1)
				check_chain(&vq, c);
			slot_full[k] = r == 1;
			break;
		}
		case 1: /* the device serves slot k */
			if (slot_full[k]) {
				serve(&vq, c, fuzz_u32(&in));
				slot_full[k] = false;
			}
			break;
		case 2: /* everything available, as virtio-rng does */
			drain(&vq);
			break;
		case 3: { /* the guest stores into its memory (rings, descriptors, buffers) */
			uint16_t off = fuzz_u16(&in);
			unsigned len = fuzz_width(fuzz_u8(&in));
			uint64_t v = fuzz_u64(&in);
			gmem_write(mem, off, &v, len);
			break;
		}
		case 4:
			virtq_should_notify(&vq);
			break;
		case 5:
			virtq_set_notify(&vq, op & 0x10);
			break;
		case 6: { /* iovecs over part of slot k */
			bool write = fuzz_u8(&in) & 1;
			size_t off = fuzz_u16(&in), len = fuzz_u16(&in);
			int max = 1 + fuzz_u8(&in) % 8;
			if (slot_full[k])
				iov(&vq, c, write, off, len, max);
			break;
		}
		case 7: { /* copies at an offset */
			bool write = fuzz_u8(&in) & 1;
			size_t off = fuzz_u32(&in), len = fuzz_u32(&in) % (sizeof(scratch) + 1);
			if (slot_full[k])
				copy(&vq, c, write, off, len);
			break;
		}
		case 8: /* the driver resets and sets the queue up again */
			memset(slot_full, 0, sizeof(slot_full));
			if (!enable(&vq, &s))
				return 0;
			break;
		default:
			break;
		}
	}
	drain(&vq);
	return 0;
}
