/* The virtqueue core against rings built by hand in guest memory, laid out as virtio 1.2 section
 * 2.7 describes: 16-byte descriptors, avail {flags, idx, ring[], used_event}, used {flags, idx,
 * {id, len}[], avail_event}. Each malformed case must break the queue, never crash. */
#include <string.h>

#include "devices/virtq.h"
#include "ring.h"
#include "unit.h"

#define QSIZE 8
#define DESC  0x1000ULL
#define AVAIL 0x2000ULL
#define USED  0x3000ULL
#define DATA  0x10000ULL
#define RAM   (1 * MiB)

static struct guest_mem mem;
static struct virtq vq;
static struct virtq_chain chain;

static void setup(void)
{
	/* No hole inside 1 MiB of RAM. */
	ck_assert_int_eq(gmem_init_layout(&mem, RAM, 4 * GiB, 4 * GiB), 0);
	virtq_init(&vq, &mem);
	vq.size = QSIZE;
	vq.desc_gpa = DESC;
	vq.avail_gpa = AVAIL;
	vq.used_gpa = USED;
	ck_assert(virtq_enable(&vq));
}

static void teardown(void)
{
	gmem_free(&mem);
}

static void put16(uint64_t gpa, uint16_t v)
{
	ck_assert(gmem_write(&mem, gpa, &v, 2));
}

static uint16_t get16(uint64_t gpa)
{
	uint16_t v = 0;
	ck_assert(gmem_read(&mem, gpa, &v, 2));
	return v;
}

static void desc_at(uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		    uint16_t next)
{
	ring_desc(&mem, table, i, addr, len, flags, next);
}

static void desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	desc_at(DESC, i, addr, len, flags, next);
}

/* Offers head as the next available chain. */
static void offer(uint16_t head)
{
	uint16_t idx = get16(AVAIL + 2);
	put16(AVAIL + 4 + 2 * (idx % QSIZE), head);
	put16(AVAIL + 2, (uint16_t)(idx + 1));
}

static void assert_broken(void)
{
	ck_assert_int_eq(virtq_pop(&vq, &chain), -1);
	ck_assert(vq.broken);
	ck_assert_int_eq(virtq_pop(&vq, &chain), -1); /* stays broken until reset */
}

START_TEST(test_enable_checks)
{
	struct virtq q;
	virtq_init(&q, &mem);
	q.size = 6; /* not a power of two */
	q.desc_gpa = DESC, q.avail_gpa = AVAIL, q.used_gpa = USED;
	ck_assert(!virtq_enable(&q));
	q.size = 0;
	ck_assert(!virtq_enable(&q));
	q.size = QSIZE;
	q.desc_gpa = DESC + 8; /* descriptors need 16-byte alignment */
	ck_assert(!virtq_enable(&q));
	q.desc_gpa = RAM - 16; /* table runs past RAM */
	ck_assert(!virtq_enable(&q));
	q.desc_gpa = DESC;
	q.used_gpa = USED + 2; /* used ring needs 4-byte alignment */
	ck_assert(!virtq_enable(&q));
	q.used_gpa = USED;
	ck_assert(virtq_enable(&q));
	ck_assert(q.ready);
}
END_TEST

START_TEST(test_empty_ring)
{
	ck_assert_int_eq(virtq_pop(&vq, &chain), 0);
	ck_assert(!vq.broken);
}
END_TEST

START_TEST(test_chain_read_then_write)
{
	desc(0, DATA, 16, VIRTQ_DESC_F_NEXT, 3);
	desc(3, DATA + 0x100, 100, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 5);
	desc(5, DATA + 0x200, 1, VIRTQ_DESC_F_WRITE, 0);
	offer(0);
	ck_assert_int_eq(virtq_pop(&vq, &chain), 1);
	ck_assert_uint_eq(chain.head, 0);
	ck_assert_uint_eq(chain.nbufs, 3);
	ck_assert_uint_eq(chain.read_len, 16);
	ck_assert_uint_eq(chain.write_len, 101);
	ck_assert(!chain.bufs[0].write && chain.bufs[1].write && chain.bufs[2].write);
	ck_assert_uint_eq(chain.bufs[1].gpa, DATA + 0x100);
	ck_assert_int_eq(virtq_pop(&vq, &chain), 0);

	/* Writes span buffers in order and stop at the chain's end. */
	uint8_t src[200];
	memset(src, 0xab, sizeof(src));
	ck_assert_uint_eq(virtq_chain_write(&vq, &chain, 0, src, sizeof(src)), 101);
	uint8_t last = 0;
	ck_assert(gmem_read(&mem, DATA + 0x200, &last, 1));
	ck_assert_uint_eq(last, 0xab);
	ck_assert(gmem_write(&mem, DATA, "0123456789abcdef", 16));
	char got[16];
	ck_assert_uint_eq(virtq_chain_read(&vq, &chain, 4, got, 16), 12);
	ck_assert_int_eq(memcmp(got, "456789abcdef", 12), 0);
}
END_TEST

/* A request's data as iovecs straight into guest memory: pieces in order, offsets honoured,
 * all-or-nothing when the range runs past the chain or needs more pieces than allowed. */
START_TEST(test_chain_iov)
{
	desc(0, DATA, 16, VIRTQ_DESC_F_NEXT, 1);
	desc(1, DATA + 0x100, 100, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	desc(2, DATA + 0x200, 50, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 3);
	desc(3, DATA + 0x300, 1, VIRTQ_DESC_F_WRITE, 0);
	offer(0);
	ck_assert_int_eq(virtq_pop(&vq, &chain), 1);
	struct iovec iov[4];
	/* Writable bytes 10..149: the tail of the first writable buffer and all of the second. */
	ck_assert_int_eq(virtq_chain_iov(&vq, &chain, true, 10, 140, iov, 4), 2);
	ck_assert_ptr_eq(iov[0].iov_base, gmem_ptr(&mem, DATA + 0x100 + 10, 90));
	ck_assert_uint_eq(iov[0].iov_len, 90);
	ck_assert_ptr_eq(iov[1].iov_base, gmem_ptr(&mem, DATA + 0x200, 50));
	ck_assert_uint_eq(iov[1].iov_len, 50);
	/* The readable side is only the 16-byte header. */
	ck_assert_int_eq(virtq_chain_iov(&vq, &chain, false, 0, 16, iov, 4), 1);
	ck_assert_uint_eq(iov[0].iov_len, 16);
	ck_assert_int_eq(virtq_chain_iov(&vq, &chain, false, 0, 17, iov, 4), -1);
	ck_assert_int_eq(virtq_chain_iov(&vq, &chain, true, 0, 152, iov, 4), -1);
	ck_assert_int_eq(virtq_chain_iov(&vq, &chain, true, 0, 151, iov, 2), -1); /* 3 pieces */
	ck_assert_int_eq(virtq_chain_iov(&vq, &chain, true, 0, 151, iov, 3), 3);
	ck_assert_int_eq(virtq_chain_iov(&vq, &chain, true, 0, 0, iov, 3), -1);
}
END_TEST

START_TEST(test_push_publishes_used)
{
	desc(2, DATA, 8, VIRTQ_DESC_F_WRITE, 0);
	offer(2);
	ck_assert_int_eq(virtq_pop(&vq, &chain), 1);
	virtq_push(&vq, chain.head, 8);
	ck_assert_uint_eq(get16(USED + 2), 1);
	uint32_t elem[2];
	ck_assert(gmem_read(&mem, USED + 4, elem, 8));
	ck_assert_uint_eq(elem[0], 2);
	ck_assert_uint_eq(elem[1], 8);
}
END_TEST

START_TEST(test_index_wraparound)
{
	/* Start both sides just below 2^16 so the 16-bit indices wrap during the test. */
	put16(AVAIL + 2, 65534);
	vq.last_avail = 65534;
	vq.used_idx = 65534;
	desc(0, DATA, 4, 0, 0);
	for (int i = 0; i < 4; i++) {
		offer(0);
		ck_assert_int_eq(virtq_pop(&vq, &chain), 1);
		virtq_push(&vq, chain.head, 0);
	}
	ck_assert_uint_eq(vq.last_avail, 2);
	ck_assert_uint_eq(get16(USED + 2), 2);
}
END_TEST

START_TEST(test_indirect)
{
	vq.indirect = true;
	uint64_t table = DATA + 0x1000;
	desc_at(table, 0, DATA, 16, VIRTQ_DESC_F_NEXT, 1);
	desc_at(table, 1, DATA + 0x100, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	desc_at(table, 2, DATA + 0x400, 1, VIRTQ_DESC_F_WRITE, 0);
	desc(1, table, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(1);
	ck_assert_int_eq(virtq_pop(&vq, &chain), 1);
	ck_assert_uint_eq(chain.head, 1);
	ck_assert_uint_eq(chain.nbufs, 3);
	ck_assert_uint_eq(chain.read_len, 16);
	ck_assert_uint_eq(chain.write_len, 513);
}
END_TEST

START_TEST(test_event_idx_suppression)
{
	vq.event_idx = true;
	desc(0, DATA, 4, 0, 0);
	offer(0);
	ck_assert_int_eq(virtq_pop(&vq, &chain), 1);
	virtq_push(&vq, chain.head, 0);
	ck_assert(virtq_should_notify(&vq)); /* first interrupt always goes */
	/* The driver wants an interrupt only once used->idx passes 5. */
	put16(AVAIL + 4 + 2 * QSIZE, 5);
	offer(0);
	ck_assert_int_eq(virtq_pop(&vq, &chain), 1);
	virtq_push(&vq, chain.head, 0); /* used idx 2 */
	ck_assert(!virtq_should_notify(&vq));
	for (int i = 0; i < 4; i++) { /* used idx 3..6 crosses 5 */
		offer(0);
		ck_assert_int_eq(virtq_pop(&vq, &chain), 1);
		virtq_push(&vq, chain.head, 0);
	}
	ck_assert(virtq_should_notify(&vq));
	/* Draining publishes avail_event = last_avail so the next buffer gets a kick. */
	ck_assert_int_eq(virtq_pop(&vq, &chain), 0);
	ck_assert_uint_eq(get16(USED + 4 + 8 * QSIZE), vq.last_avail);
}
END_TEST

START_TEST(test_no_interrupt_flag)
{
	desc(0, DATA, 4, 0, 0);
	offer(0);
	ck_assert_int_eq(virtq_pop(&vq, &chain), 1);
	virtq_push(&vq, chain.head, 0);
	ck_assert(virtq_should_notify(&vq));
	put16(AVAIL, VIRTQ_AVAIL_F_NO_INTERRUPT);
	ck_assert(!virtq_should_notify(&vq));
}
END_TEST

START_TEST(test_bad_avail_idx)
{
	put16(AVAIL + 2, QSIZE + 1); /* more pending than the ring holds */
	assert_broken();
}
END_TEST

START_TEST(test_head_out_of_range)
{
	offer(QSIZE);
	assert_broken();
}
END_TEST

START_TEST(test_next_out_of_range)
{
	desc(0, DATA, 4, VIRTQ_DESC_F_NEXT, QSIZE + 3);
	offer(0);
	assert_broken();
}
END_TEST

START_TEST(test_loop)
{
	desc(0, DATA, 4, VIRTQ_DESC_F_NEXT, 1);
	desc(1, DATA, 4, VIRTQ_DESC_F_NEXT, 0);
	offer(0);
	assert_broken();
}
END_TEST

START_TEST(test_zero_length)
{
	desc(0, DATA, 0, 0, 0);
	offer(0);
	assert_broken();
}
END_TEST

START_TEST(test_buffer_outside_ram)
{
	desc(0, RAM - 4, 8, 0, 0);
	offer(0);
	assert_broken();
}
END_TEST

START_TEST(test_buffer_wraps)
{
	desc(0, UINT64_MAX - 3, 8, 0, 0);
	offer(0);
	assert_broken();
}
END_TEST

START_TEST(test_readable_after_writable)
{
	desc(0, DATA, 4, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	desc(1, DATA, 4, 0, 0);
	offer(0);
	assert_broken();
}
END_TEST

START_TEST(test_indirect_not_negotiated)
{
	desc_at(DATA + 0x1000, 0, DATA, 4, 0, 0);
	desc(0, DATA + 0x1000, 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(0);
	assert_broken();
}
END_TEST

START_TEST(test_indirect_bad_len)
{
	vq.indirect = true;
	desc(0, DATA + 0x1000, 20, VIRTQ_DESC_F_INDIRECT, 0); /* not a multiple of 16 */
	offer(0);
	assert_broken();
}
END_TEST

START_TEST(test_indirect_nested)
{
	vq.indirect = true;
	desc_at(DATA + 0x1000, 0, DATA + 0x2000, 16, VIRTQ_DESC_F_INDIRECT, 0);
	desc(0, DATA + 0x1000, 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(0);
	assert_broken();
}
END_TEST

START_TEST(test_indirect_loop)
{
	vq.indirect = true;
	desc_at(DATA + 0x1000, 0, DATA, 4, VIRTQ_DESC_F_NEXT, 1);
	desc_at(DATA + 0x1000, 1, DATA, 4, VIRTQ_DESC_F_NEXT, 0);
	desc(0, DATA + 0x1000, 32, VIRTQ_DESC_F_INDIRECT, 0);
	offer(0);
	assert_broken();
}
END_TEST

START_TEST(test_reset_clears)
{
	offer(QSIZE);
	assert_broken();
	virtq_reset(&vq);
	ck_assert(!vq.broken && !vq.ready);
	ck_assert_uint_eq(vq.size, 0);
	ck_assert_uint_eq(vq.last_avail, 0);
	ck_assert_int_eq(virtq_pop(&vq, &chain), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("virtq");
	TCase *tc = tcase_create("virtq");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_enable_checks);
	tcase_add_test(tc, test_empty_ring);
	tcase_add_test(tc, test_chain_read_then_write);
	tcase_add_test(tc, test_chain_iov);
	tcase_add_test(tc, test_push_publishes_used);
	tcase_add_test(tc, test_index_wraparound);
	tcase_add_test(tc, test_indirect);
	tcase_add_test(tc, test_event_idx_suppression);
	tcase_add_test(tc, test_no_interrupt_flag);
	tcase_add_test(tc, test_bad_avail_idx);
	tcase_add_test(tc, test_head_out_of_range);
	tcase_add_test(tc, test_next_out_of_range);
	tcase_add_test(tc, test_loop);
	tcase_add_test(tc, test_zero_length);
	tcase_add_test(tc, test_buffer_outside_ram);
	tcase_add_test(tc, test_buffer_wraps);
	tcase_add_test(tc, test_readable_after_writable);
	tcase_add_test(tc, test_indirect_not_negotiated);
	tcase_add_test(tc, test_indirect_bad_len);
	tcase_add_test(tc, test_indirect_nested);
	tcase_add_test(tc, test_indirect_loop);
	tcase_add_test(tc, test_reset_clears);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
