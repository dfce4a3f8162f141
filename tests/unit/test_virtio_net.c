/* virtio-net's receive path with mergeable buffers, over hand-built rings and without a TAP:
 * the packet is placed straight where the TAP read would have put it. Built with the device's
 * own source, for its static receive functions. */
#include "../../devices/virtio_net.c"

#include "ring.h"
#include "unit.h"

#define QSIZE 4
#define DESC  0x1000ULL
#define AVAIL 0x2000ULL
#define USED  0x3000ULL
#define BUF   0x10000ULL
#define BUFSZ 1000

static struct guest_mem mem;
static struct io_thread io;
static struct virtio_net net;

static uint16_t get16(uint64_t gpa)
{
	uint16_t v = 0;
	ck_assert(gmem_read(&mem, gpa, &v, 2));
	return v;
}

static uint32_t get32(uint64_t gpa)
{
	uint32_t v = 0;
	ck_assert(gmem_read(&mem, gpa, &v, 4));
	return v;
}

static void put16(uint64_t gpa, uint16_t v)
{
	ck_assert(gmem_write(&mem, gpa, &v, 2));
}

static void setup(void)
{
	ck_assert_int_eq(gmem_init_layout(&mem, 1 * MiB, 4 * GiB, 4 * GiB), 0);
	ck_assert_int_eq(io_thread_init(&io), 0);
	memset(&net, 0, sizeof(net));
	net.tap_fd = -1;
	net.rx_pkt = calloc(1, VIRTIO_NET_MAX_PACKET);
	net.held = calloc(VIRTIO_NET_MAX_HELD, sizeof(*net.held));
	ck_assert(net.rx_pkt && net.held);
	ck_assert_int_eq(virtio_dev_init(&net.vd, "net", &net_ops, &net, &mem, &io), 0);
	net.vd.driver_features = 1ULL << VIRTIO_NET_F_MRG_RXBUF;
	struct virtq *vq = &net.vd.vqs[RXQ];
	vq->size = QSIZE;
	vq->desc_gpa = DESC;
	vq->avail_gpa = AVAIL;
	vq->used_gpa = USED;
	ck_assert(virtq_enable(vq));
	/* The driver posts QSIZE one-descriptor receive buffers of BUFSZ bytes. */
	for (unsigned i = 0; i < QSIZE; i++) {
		ring_desc(&mem, DESC, i, BUF + i * 0x1000ULL, BUFSZ, 2 /* WRITE */, 0);
		put16(AVAIL + 4 + 2 * i, (uint16_t)i);
	}
	put16(AVAIL + 2, QSIZE);
}

static void teardown(void)
{
	virtio_dev_destroy(&net.vd);
	free(net.rx_pkt);
	free(net.held);
	io_thread_destroy(&io);
	gmem_free(&mem);
}

/* A packet in rx_pkt as the TAP gives it: the virtio-net header, then len - 12 bytes. */
static void packet(size_t len)
{
	memset(net.rx_pkt, 0, NET_HDR_LEN);
	memset(net.rx_pkt + NET_HDR_LEN, 0xab, len - NET_HDR_LEN);
	net.rx_len = len;
}

/* After a packet too big for the whole ring is dropped, the buffers gathered for it serve the
 * next packets one at a time: each is used only for as many buffers as it fills, and its
 * num_buffers says so. */
START_TEST(test_dropped_packet_leaves_buffers_for_the_next)
{
	packet(5000); /* more than QSIZE * BUFSZ */
	ck_assert(!rx_deliver(&net));
	ck_assert_uint_eq(net.rx_len, 0);
	ck_assert_uint_eq(get16(USED + 2), 0);

	packet(100);
	ck_assert(rx_deliver(&net));
	ck_assert_uint_eq(get16(USED + 2), 1); /* one buffer used, not all four held */
	ck_assert_uint_eq(get32(USED + 4), 0); /* head 0 */
	ck_assert_uint_eq(get32(USED + 8), 100);
	ck_assert_uint_eq(get16(BUF + 10), 1); /* num_buffers */

	packet(1500); /* spans two of the three left */
	ck_assert(rx_deliver(&net));
	ck_assert_uint_eq(get16(USED + 2), 3);
	ck_assert_uint_eq(get32(USED + 12), 1);
	ck_assert_uint_eq(get32(USED + 16), BUFSZ);
	ck_assert_uint_eq(get32(USED + 20), 2);
	ck_assert_uint_eq(get32(USED + 24), 500);
	ck_assert_uint_eq(get16(BUF + 0x1000 + 10), 2);

	packet(60);
	ck_assert(rx_deliver(&net));
	ck_assert_uint_eq(get16(USED + 2), 4);
	ck_assert_uint_eq(get32(USED + 28), 3);
	ck_assert_uint_eq(get16(BUF + 0x3000 + 10), 1);
	ck_assert_int_eq(net.nheld, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("virtio_net");
	TCase *tc = tcase_create("rx");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_dropped_packet_leaves_buffers_for_the_next);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
