/* Port I/O and MMIO buses: claims, overlap checks, dispatch and unclaimed accesses. */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "unit.h"
#include "vmm/bus.h"

struct fake_dev {
	int reads, writes;
	uint64_t last_offset;
	uint32_t last_len;
	uint8_t written[8];
	uint8_t fill; /* what reads return */
};

static void fake_read(void *dev, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct fake_dev *f = dev;
	f->reads++;
	f->last_offset = offset;
	f->last_len = len;
	memset(data, f->fill, len);
}

static void fake_write(void *dev, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct fake_dev *f = dev;
	f->writes++;
	f->last_offset = offset;
	f->last_len = len;
	memcpy(f->written, data, len < sizeof(f->written) ? len : sizeof(f->written));
}

static const struct bus_ops fake_ops = {.read = fake_read, .write = fake_write};

static struct bus bus;

static void setup_pio(void)
{
	bus_init(&bus, BUS_PIO);
}

static void teardown(void)
{
	bus_destroy(&bus);
}

static bool rd(uint64_t addr, uint32_t len, uint8_t *data)
{
	memset(data, 0x11, len);
	return bus_access(&bus, addr, data, len, false);
}

START_TEST(test_register_unregister)
{
	struct fake_dev d = {.fill = 0x42};
	uint8_t data[4];
	ck_assert_int_eq(bus_register(&bus, 0x100, 8, &fake_ops, &d, "dev"), 0);
	ck_assert(rd(0x104, 1, data));
	ck_assert_int_eq(d.reads, 1);
	ck_assert_uint_eq(data[0], 0x42);

	ck_assert_int_eq(bus_unregister(&bus, 0x100), 0);
	ck_assert(!rd(0x104, 1, data));
	ck_assert_int_eq(d.reads, 1);
	ck_assert_uint_eq(data[0], 0xff);
	ck_assert_int_eq(bus_unregister(&bus, 0x100), -1);
	ck_assert_int_eq(bus_unregister(&bus, 0x999), -1);
	/* the range is free again */
	ck_assert_int_eq(bus_register(&bus, 0x100, 8, &fake_ops, &d, "again"), 0);
}
END_TEST

START_TEST(test_overlap_rejected)
{
	struct fake_dev d = {0};
	uint8_t data[1];
	ck_assert_int_eq(bus_register(&bus, 0x100, 0x10, &fake_ops, &d, "a"), 0); /* 0x100-0x10f */
	ck_assert_int_eq(bus_register(&bus, 0xf8, 0x10, &fake_ops, &d, "start"), -1);
	ck_assert_int_eq(bus_register(&bus, 0x10f, 0x10, &fake_ops, &d, "end"), -1);
	ck_assert_int_eq(bus_register(&bus, 0x104, 4, &fake_ops, &d, "inside"), -1);
	ck_assert_int_eq(bus_register(&bus, 0x0, 0x200, &fake_ops, &d, "around"), -1);
	ck_assert_int_eq(bus_register(&bus, 0x100, 0x10, &fake_ops, &d, "dup"), -1);
	ck_assert_int_eq(bus_register(&bus, 0x100, 1, &fake_ops, &d, "same base"), -1);
	ck_assert_int_eq(bus_register(&bus, 0x10f, 1, &fake_ops, &d, "last byte"), -1);
	/* none of the rejected claims took effect */
	ck_assert(!rd(0xf8, 1, data));
	ck_assert(!rd(0x110, 1, data));
	ck_assert(!rd(0x1ff, 1, data));

	/* adjacent on both sides is fine */
	ck_assert_int_eq(bus_register(&bus, 0xf0, 0x10, &fake_ops, &d, "below"), 0);
	ck_assert_int_eq(bus_register(&bus, 0x110, 0x10, &fake_ops, &d, "above"), 0);
	/* now sandwiched: anything touching a neighbour is refused */
	ck_assert_int_eq(bus_register(&bus, 0xff, 2, &fake_ops, &d, "seam"), -1);
	ck_assert_int_eq(bus_register(&bus, 0x10f, 2, &fake_ops, &d, "seam2"), -1);
	ck_assert_int_eq(bus_register(&bus, 0xe0, 0x100, &fake_ops, &d, "all three"), -1);
	ck_assert_int_eq(bus_register(&bus, 0x120, 0x10, &fake_ops, &d, "next"), 0);
}
END_TEST

START_TEST(test_empty_or_wrapping_rejected)
{
	struct fake_dev d = {0};
	ck_assert_int_eq(bus_register(&bus, 0x100, 0, &fake_ops, &d, "empty"), -1);
	ck_assert_int_eq(bus_register(&bus, UINT64_MAX - 1, 4, &fake_ops, &d, "wrap"), -1);
	ck_assert_int_eq(bus_register(&bus, 2, UINT64_MAX, &fake_ops, &d, "wrap2"), -1);
	/* ending exactly at the top of the address space does not wrap */
	ck_assert_int_eq(bus_register(&bus, UINT64_MAX, 1, &fake_ops, &d, "top"), 0);
	uint8_t data[1];
	ck_assert(rd(UINT64_MAX, 1, data));
	ck_assert_uint_eq(d.last_offset, 0);
}
END_TEST

START_TEST(test_dispatch)
{
	struct fake_dev a = {.fill = 0xa0}, b = {.fill = 0xb0}, c = {.fill = 0xc0};
	uint8_t data[4];
	/* registered out of order */
	ck_assert_int_eq(bus_register(&bus, 0x300, 8, &fake_ops, &c, "c"), 0);
	ck_assert_int_eq(bus_register(&bus, 0x100, 8, &fake_ops, &a, "a"), 0);
	ck_assert_int_eq(bus_register(&bus, 0x200, 8, &fake_ops, &b, "b"), 0);

	ck_assert(rd(0x205, 2, data));
	ck_assert_int_eq(b.reads, 1);
	ck_assert_uint_eq(b.last_offset, 5);
	ck_assert_uint_eq(b.last_len, 2);
	ck_assert_uint_eq(data[0], 0xb0);
	ck_assert_uint_eq(data[1], 0xb0);
	ck_assert_int_eq(a.reads + c.reads, 0);

	uint8_t w[4] = {1, 2, 3, 4};
	ck_assert(bus_access(&bus, 0x304, w, 4, true));
	ck_assert_int_eq(c.writes, 1);
	ck_assert_uint_eq(c.last_offset, 4);
	ck_assert_uint_eq(c.last_len, 4);
	ck_assert_mem_eq(c.written, w, 4);

	ck_assert(rd(0x100, 1, data));
	ck_assert_int_eq(a.reads, 1);
	ck_assert_uint_eq(a.last_offset, 0);
	ck_assert_uint_eq(data[0], 0xa0);
	ck_assert_int_eq(a.writes + b.writes, 0);
}
END_TEST

START_TEST(test_dispatch_many)
{
	/* more claims than the initial table holds, registered in descending order */
	enum { N = 40 };
	struct fake_dev d[N];
	memset(d, 0, sizeof(d));
	for (int i = N - 1; i >= 0; i--)
		ck_assert_int_eq(
		    bus_register(&bus, 0x1000 + 0x10 * (uint64_t)i, 4, &fake_ops, &d[i], "many"),
		    0);
	for (int i = 0; i < N; i++) {
		uint8_t data[1];
		ck_assert(rd(0x1000 + 0x10 * (uint64_t)i + 3, 1, data));
		ck_assert_int_eq(d[i].reads, 1);
		ck_assert_uint_eq(d[i].last_offset, 3);
		/* the gap after each claim is unclaimed */
		ck_assert(!rd(0x1000 + 0x10 * (uint64_t)i + 4, 1, data));
	}
}
END_TEST

START_TEST(test_straddle_not_dispatched)
{
	struct fake_dev a = {.fill = 0}, b = {.fill = 0};
	uint8_t data[4];
	ck_assert_int_eq(bus_register(&bus, 0x100, 8, &fake_ops, &a, "a"), 0);
	ck_assert(rd(0x104, 4, data)); /* ends exactly at the end: fine */
	ck_assert_int_eq(a.reads, 1);

	ck_assert(!rd(0x106, 4, data));
	ck_assert_int_eq(a.reads, 1);
	for (int i = 0; i < 4; i++)
		ck_assert_uint_eq(data[i], 0xff);
	ck_assert(!rd(0xfe, 4, data)); /* starts below it */
	ck_assert_int_eq(a.reads, 1);

	/* spanning two adjacent devices goes to neither */
	ck_assert_int_eq(bus_register(&bus, 0x108, 8, &fake_ops, &b, "b"), 0);
	ck_assert(!rd(0x107, 2, data));
	uint8_t w[4] = {9, 9, 9, 9};
	ck_assert(!bus_access(&bus, 0x106, w, 4, true));
	ck_assert_int_eq(a.reads + a.writes, 1);
	ck_assert_int_eq(b.reads + b.writes, 0);
}
END_TEST

START_TEST(test_unclaimed_counted_once_per_port)
{
	uint8_t data[4];
	ck_assert_int_eq(bus_unhandled_count(&bus), 0);
	for (int i = 0; i < 3; i++) {
		ck_assert(!rd(0x80, 4, data));
		for (int j = 0; j < 4; j++)
			ck_assert_uint_eq(data[j], 0xff);
		ck_assert_int_eq(bus_unhandled_count(&bus), 1);
	}
	ck_assert(!rd(0x81, 1, data));
	ck_assert_int_eq(bus_unhandled_count(&bus), 2);
	ck_assert(!rd(0x80, 1, data));
	ck_assert_int_eq(bus_unhandled_count(&bus), 2);
}
END_TEST

START_TEST(test_inert_claim)
{
	uint8_t data[2];
	ck_assert_int_eq(bus_register(&bus, 0x80, 1, NULL, NULL, "inert"), 0);
	rd(0x80, 1, data);
	ck_assert_uint_eq(data[0], 0xff);
	uint8_t w = 0x12;
	bus_access(&bus, 0x80, &w, 1, true); /* dropped, must not crash */
	rd(0x80, 1, data);
	ck_assert_uint_eq(data[0], 0xff);
	ck_assert_int_eq(bus_unhandled_count(&bus), 0);
	/* and it still blocks other claims */
	struct fake_dev d = {0};
	ck_assert_int_eq(bus_register(&bus, 0x80, 1, &fake_ops, &d, "late"), -1);
}
END_TEST

START_TEST(test_mmio_counted_per_page)
{
	struct bus mmio;
	uint8_t data[4];
	bus_init(&mmio, BUS_MMIO);
	ck_assert(!bus_access(&mmio, 0xd0000000ULL, data, 4, false));
	ck_assert_uint_eq(data[0], 0xff);
	ck_assert(!bus_access(&mmio, 0xd0000ffcULL, data, 4, false));
	ck_assert_int_eq(bus_unhandled_count(&mmio), 1);
	ck_assert(!bus_access(&mmio, 0xd0001000ULL, data, 4, false));
	ck_assert_int_eq(bus_unhandled_count(&mmio), 2);

	struct fake_dev d = {.fill = 0x77};
	ck_assert_int_eq(bus_register(&mmio, 0xfec00000ULL, 0x1000, &fake_ops, &d, "ioapic"), 0);
	ck_assert(bus_access(&mmio, 0xfec00010ULL, data, 4, false));
	ck_assert_uint_eq(d.last_offset, 0x10);
	ck_assert_uint_eq(data[3], 0x77);
	bus_destroy(&mmio);
}
END_TEST

static Suite *bus_suite(void)
{
	Suite *s = suite_create("bus");
	TCase *tc = tcase_create("pio");
	tcase_add_checked_fixture(tc, setup_pio, teardown);
	tcase_add_test(tc, test_register_unregister);
	tcase_add_test(tc, test_overlap_rejected);
	tcase_add_test(tc, test_empty_or_wrapping_rejected);
	tcase_add_test(tc, test_dispatch);
	tcase_add_test(tc, test_dispatch_many);
	tcase_add_test(tc, test_straddle_not_dispatched);
	tcase_add_test(tc, test_unclaimed_counted_once_per_port);
	tcase_add_test(tc, test_inert_claim);
	tcase_add_test(tc, test_mmio_counted_per_page);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(bus_suite());
}
