/* Guest memory: layout around the PCI hole and gmem_ptr() at every edge. */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "unit.h"
#include "vmm/guest_mem.h"

/* A small fake hole so every edge can be touched without mapping gigabytes. */
#define RAM	 (16 * MiB)
#define HOLE_LO	 (8 * MiB)
#define HOLE_HI	 (12 * MiB)
#define HIGH_END (HOLE_HI + (RAM - HOLE_LO)) /* one past the last RAM byte */

static struct guest_mem mem;

static void setup_small(void)
{
	ck_assert_int_eq(gmem_init_layout(&mem, RAM, HOLE_LO, HOLE_HI), 0);
}

static void teardown(void)
{
	gmem_free(&mem);
}

START_TEST(test_small_layout)
{
	ck_assert_int_eq(mem.nregions, 2);
	ck_assert_uint_eq(mem.ram_size, RAM);
	ck_assert_uint_eq(mem.regions[0].gpa, 0);
	ck_assert_uint_eq(mem.regions[0].size, HOLE_LO);
	ck_assert_uint_eq(mem.regions[1].gpa, HOLE_HI);
	ck_assert_uint_eq(mem.regions[1].size, RAM - HOLE_LO);
	ck_assert_uint_eq(gmem_low_end(&mem), HOLE_LO);
}
END_TEST

START_TEST(test_low_region_edges)
{
	ck_assert_ptr_eq(gmem_ptr(&mem, 0, 1), mem.base);
	ck_assert_ptr_eq(gmem_ptr(&mem, HOLE_LO - 1, 1), mem.base + HOLE_LO - 1);
	/* the whole low region in one access */
	ck_assert_ptr_eq(gmem_ptr(&mem, 0, HOLE_LO), mem.base);
	/* straddling into the hole */
	ck_assert_ptr_null(gmem_ptr(&mem, HOLE_LO - 1, 2));
	ck_assert_ptr_null(gmem_ptr(&mem, 0, HOLE_LO + 1));
}
END_TEST

START_TEST(test_hole_refused)
{
	ck_assert_ptr_null(gmem_ptr(&mem, HOLE_LO, 1));
	ck_assert_ptr_null(gmem_ptr(&mem, HOLE_LO + MiB, 8));
	ck_assert_ptr_null(gmem_ptr(&mem, HOLE_HI - 1, 1));
	/* straddling out of the hole into high RAM */
	ck_assert_ptr_null(gmem_ptr(&mem, HOLE_HI - 1, 2));
	/* spanning the hole from low RAM to high RAM */
	ck_assert_ptr_null(gmem_ptr(&mem, HOLE_LO - 1, HOLE_HI - HOLE_LO + 2));
}
END_TEST

START_TEST(test_high_region_edges)
{
	/* The first byte above the hole is backed by the host byte right after the low region. */
	ck_assert_ptr_eq(gmem_ptr(&mem, HOLE_HI, 1), mem.base + HOLE_LO);
	ck_assert_ptr_eq(gmem_ptr(&mem, HIGH_END - 1, 1), mem.base + RAM - 1);
	ck_assert_ptr_eq(gmem_ptr(&mem, HOLE_HI, RAM - HOLE_LO), mem.base + HOLE_LO);
	ck_assert_ptr_null(gmem_ptr(&mem, HIGH_END, 1));
	ck_assert_ptr_null(gmem_ptr(&mem, HIGH_END - 1, 2));
	ck_assert_ptr_null(gmem_ptr(&mem, HOLE_HI, RAM - HOLE_LO + 1));
}
END_TEST

START_TEST(test_degenerate_lengths)
{
	ck_assert_ptr_null(gmem_ptr(&mem, 0, 0));
	ck_assert_ptr_null(gmem_ptr(&mem, HOLE_HI, 0));
	/* more than all of RAM, and all of RAM (which spans two regions) */
	ck_assert_ptr_null(gmem_ptr(&mem, 0, RAM + 1));
	ck_assert_ptr_null(gmem_ptr(&mem, 0, RAM));
	ck_assert_ptr_null(gmem_ptr(&mem, 0, UINT64_MAX));
}
END_TEST

START_TEST(test_wrapping)
{
	ck_assert_ptr_null(gmem_ptr(&mem, UINT64_MAX, 1));
	ck_assert_ptr_null(gmem_ptr(&mem, UINT64_MAX - 0xf, 0x20));
	/* gpa inside RAM, but gpa + len wraps back to a small number */
	ck_assert_ptr_null(gmem_ptr(&mem, 1, UINT64_MAX));
	ck_assert_ptr_null(gmem_ptr(&mem, HOLE_HI, UINT64_MAX - HOLE_HI + 2));
	ck_assert_ptr_null(gmem_ptr(&mem, HIGH_END - 1, UINT64_MAX));
}
END_TEST

START_TEST(test_read_write)
{
	uint8_t pat[64], got[64];
	for (size_t i = 0; i < sizeof(pat); i++)
		pat[i] = (uint8_t)(i * 7 + 3);

	ck_assert(gmem_write(&mem, HOLE_HI + 0x1000, pat, sizeof(pat)));
	ck_assert_mem_eq(mem.base + HOLE_LO + 0x1000, pat, sizeof(pat));
	memset(got, 0, sizeof(got));
	ck_assert(gmem_read(&mem, HOLE_HI + 0x1000, got, sizeof(got)));
	ck_assert_mem_eq(got, pat, sizeof(pat));

	/* the last bytes of each region */
	ck_assert(gmem_write(&mem, HOLE_LO - sizeof(pat), pat, sizeof(pat)));
	ck_assert_mem_eq(mem.base + HOLE_LO - sizeof(pat), pat, sizeof(pat));
	ck_assert(gmem_write(&mem, HIGH_END - sizeof(pat), pat, sizeof(pat)));
	ck_assert_mem_eq(mem.base + RAM - sizeof(pat), pat, sizeof(pat));
}
END_TEST

START_TEST(test_read_write_refused)
{
	uint8_t pat[16], got[16];
	memset(pat, 0xab, sizeof(pat));

	/* straddling the end of the low region: nothing may be written, not even the part in RAM */
	memset(mem.base + HOLE_LO - 8, 0, 8);
	ck_assert(!gmem_write(&mem, HOLE_LO - 8, pat, sizeof(pat)));
	for (int i = 0; i < 8; i++)
		ck_assert_uint_eq(mem.base[HOLE_LO - 8 + i], 0);
	ck_assert(!gmem_write(&mem, HOLE_LO, pat, 1));
	ck_assert(!gmem_write(&mem, HIGH_END, pat, 1));
	ck_assert(!gmem_write(&mem, UINT64_MAX - 3, pat, sizeof(pat)));

	memset(got, 0x5a, sizeof(got));
	ck_assert(!gmem_read(&mem, HIGH_END - 8, got, sizeof(got)));
	ck_assert(!gmem_read(&mem, HOLE_LO + 4, got, 4));
	for (size_t i = 0; i < sizeof(got); i++)
		ck_assert_uint_eq(got[i], 0x5a);
}
END_TEST

START_TEST(test_layout_pure)
{
	struct gmem_region r[GMEM_MAX_REGIONS];
	/* RAM that ends at or below the hole stays in one piece */
	ck_assert_int_eq(gmem_layout(512 * MiB, GMEM_HOLE_START, GMEM_HOLE_END, r), 1);
	ck_assert_uint_eq(r[0].gpa, 0);
	ck_assert_uint_eq(r[0].size, 512 * MiB);
	ck_assert_int_eq(gmem_layout(GMEM_HOLE_START, GMEM_HOLE_START, GMEM_HOLE_END, r), 1);
	ck_assert_uint_eq(r[0].size, GMEM_HOLE_START);
	/* one page more: that page moves above 4 GiB */
	ck_assert_int_eq(gmem_layout(GMEM_HOLE_START + 4096, GMEM_HOLE_START, GMEM_HOLE_END, r), 2);
	ck_assert_uint_eq(r[0].size, GMEM_HOLE_START);
	ck_assert_uint_eq(r[1].gpa, GMEM_HOLE_END);
	ck_assert_uint_eq(r[1].size, 4096);
}
END_TEST

START_TEST(test_real_512m)
{
	struct guest_mem m;
	ck_assert_int_eq(gmem_init(&m, 512 * MiB), 0);
	ck_assert_int_eq(m.nregions, 1);
	ck_assert_uint_eq(m.regions[0].gpa, 0);
	ck_assert_uint_eq(m.regions[0].size, 512 * MiB);
	ck_assert_uint_eq(gmem_low_end(&m), 512 * MiB);
	ck_assert_ptr_eq(gmem_ptr(&m, 512 * MiB - 1, 1), m.base + 512 * MiB - 1);
	ck_assert_ptr_null(gmem_ptr(&m, 512 * MiB, 1));
	ck_assert_ptr_null(gmem_ptr(&m, GMEM_HOLE_START, 1));
	gmem_free(&m);
	ck_assert_ptr_null(m.base);
}
END_TEST

START_TEST(test_real_5g)
{
	struct guest_mem m;
	const uint64_t ram = 5 * GiB;
	const uint64_t high = ram - GMEM_HOLE_START; /* what moves above 4 GiB */
	ck_assert_int_eq(gmem_init(&m, ram), 0);
	ck_assert_int_eq(m.nregions, 2);
	ck_assert_uint_eq(m.regions[0].gpa, 0);
	ck_assert_uint_eq(m.regions[0].size, 0xC0000000ULL);
	ck_assert_uint_eq(gmem_low_end(&m), 0xC0000000ULL);
	ck_assert_uint_eq(m.regions[1].gpa, 4 * GiB);
	ck_assert_uint_eq(m.regions[1].size, high);
	ck_assert_uint_eq(m.regions[0].size + m.regions[1].size, ram);

	ck_assert_ptr_nonnull(gmem_ptr(&m, 0xC0000000ULL - 1, 1));
	ck_assert_ptr_null(gmem_ptr(&m, 0xC0000000ULL - 1, 2));
	ck_assert_ptr_null(gmem_ptr(&m, 0xC0000000ULL, 1));
	ck_assert_ptr_null(gmem_ptr(&m, 0xFEC00000ULL, 4)); /* IOAPIC */
	ck_assert_ptr_null(gmem_ptr(&m, 4 * GiB - 1, 1));
	ck_assert_ptr_eq(gmem_ptr(&m, 4 * GiB, 1), m.base + 0xC0000000ULL);
	ck_assert_ptr_eq(gmem_ptr(&m, 4 * GiB + high - 1, 1), m.base + ram - 1);
	ck_assert_ptr_null(gmem_ptr(&m, 4 * GiB + high, 1));

	uint8_t v = 0x3c, r = 0;
	ck_assert(gmem_write(&m, 4 * GiB + high - 1, &v, 1));
	ck_assert(gmem_read(&m, 4 * GiB + high - 1, &r, 1));
	ck_assert_uint_eq(r, 0x3c);
	gmem_free(&m);
}
END_TEST

START_TEST(test_init_refuses)
{
	struct guest_mem m;
	ck_assert_int_eq(gmem_init(&m, 0), -1);
	ck_assert_int_eq(m.nregions, 0);
	ck_assert_ptr_null(gmem_ptr(&m, 0, 1));
	ck_assert_int_eq(gmem_init(&m, UINT64_MAX), -1);
	ck_assert_int_eq(m.nregions, 0);
	/* more address space than the host has */
	ck_assert_int_eq(gmem_init(&m, 1ULL << 60), -1);
	ck_assert_ptr_null(gmem_ptr(&m, 0, 1));
	gmem_free(&m);
}
END_TEST

static Suite *guest_mem_suite(void)
{
	Suite *s = suite_create("guest_mem");
	TCase *tc = tcase_create("small_hole");
	tcase_add_checked_fixture(tc, setup_small, teardown);
	tcase_add_test(tc, test_small_layout);
	tcase_add_test(tc, test_low_region_edges);
	tcase_add_test(tc, test_hole_refused);
	tcase_add_test(tc, test_high_region_edges);
	tcase_add_test(tc, test_degenerate_lengths);
	tcase_add_test(tc, test_wrapping);
	tcase_add_test(tc, test_read_write);
	tcase_add_test(tc, test_read_write_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("real_layout");
	tcase_add_test(tc, test_layout_pure);
	tcase_add_test(tc, test_real_512m);
	tcase_add_test(tc, test_real_5g);
	tcase_add_test(tc, test_init_refuses);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(guest_mem_suite());
}
