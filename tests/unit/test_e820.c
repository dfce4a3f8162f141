/* The e820 map: PC base memory, the PCI hole, and e820_add's ordering rules. */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "loader/e820.h"
#include "unit.h"

static void expect_entry(const struct e820_map *m, int i, uint64_t addr, uint64_t end,
			 uint32_t type)
{
	ck_assert_int_lt(i, m->n);
	ck_assert_uint_eq(m->e[i].addr, addr);
	ck_assert_uint_eq(m->e[i].size, end - addr);
	ck_assert_uint_eq(m->e[i].type, type);
}

static uint64_t sum(const struct e820_map *m, uint32_t type)
{
	uint64_t total = 0;
	for (int i = 0; i < m->n; i++)
		if (m->e[i].type == type)
			total += m->e[i].size;
	return total;
}

START_TEST(test_no_hole)
{
	struct gmem_region r[GMEM_MAX_REGIONS];
	int n = gmem_layout(512 * MiB, GMEM_HOLE_START, GMEM_HOLE_END, r);
	struct e820_map m;
	ck_assert_int_eq(e820_build(&m, r, n), 0);
	ck_assert_int_eq(m.n, 3);
	expect_entry(&m, 0, 0, 0x9fc00, E820_RAM);
	expect_entry(&m, 1, 0x9fc00, 0x100000, E820_RESERVED);
	expect_entry(&m, 2, 0x100000, 512 * MiB, E820_RAM);
	/* every byte of RAM is described: usable, or the reserved BIOS area below 1 MiB */
	ck_assert_uint_eq(sum(&m, E820_RAM) + sum(&m, E820_RESERVED), 512 * MiB);
}
END_TEST

START_TEST(test_with_hole)
{
	const uint64_t ram = 5 * GiB;
	struct gmem_region r[GMEM_MAX_REGIONS];
	int n = gmem_layout(ram, GMEM_HOLE_START, GMEM_HOLE_END, r);
	ck_assert_int_eq(n, 2);
	struct e820_map m;
	ck_assert_int_eq(e820_build(&m, r, n), 0);
	ck_assert_int_eq(m.n, 4);
	expect_entry(&m, 0, 0, 0x9fc00, E820_RAM);
	expect_entry(&m, 1, 0x9fc00, 0x100000, E820_RESERVED);
	expect_entry(&m, 2, 0x100000, 3 * GiB, E820_RAM);
	expect_entry(&m, 3, 4 * GiB, 6 * GiB, E820_RAM); /* the 2 GiB that did not fit below */
	for (int i = 0; i < m.n; i++) {
		uint64_t a = m.e[i].addr, end = m.e[i].addr + m.e[i].size;
		ck_assert_msg(end <= GMEM_HOLE_START || a >= GMEM_HOLE_END,
			      "entry %d [0x%llx, 0x%llx) reaches into the PCI hole", i,
			      (unsigned long long)a, (unsigned long long)end);
	}
	/* RAM counted: usable plus the 385 KiB below 1 MiB reserved as on a PC */
	ck_assert_uint_eq(sum(&m, E820_RAM) + sum(&m, E820_RESERVED), ram);
	ck_assert_uint_eq(sum(&m, E820_RESERVED), 0x100000 - 0x9fc00);
}
END_TEST

START_TEST(test_small_hole)
{
	/* the split follows whatever hole the layout has */
	struct gmem_region r[GMEM_MAX_REGIONS];
	int n = gmem_layout(16 * MiB, 8 * MiB, 12 * MiB, r);
	struct e820_map m;
	ck_assert_int_eq(e820_build(&m, r, n), 0);
	ck_assert_int_eq(m.n, 4);
	expect_entry(&m, 2, 0x100000, 8 * MiB, E820_RAM);
	expect_entry(&m, 3, 12 * MiB, 20 * MiB, E820_RAM);
}
END_TEST

START_TEST(test_build_too_small)
{
	struct gmem_region r[1] = {{.gpa = 0, .size = 0x100000}};
	struct e820_map m;
	ck_assert_int_eq(e820_build(&m, r, 1), -1);
	ck_assert_int_eq(e820_build(&m, r, 0), -1);
	r[0].gpa = 0x1000; /* RAM that does not start at 0 */
	r[0].size = 64 * MiB;
	ck_assert_int_eq(e820_build(&m, r, 1), -1);
}
END_TEST

START_TEST(test_add_rules)
{
	struct e820_map m;
	memset(&m, 0, sizeof(m));
	ck_assert_int_eq(e820_add(&m, 0x1000, 0x1000, E820_RAM), 0);
	ck_assert_int_eq(m.n, 1);
	/* zero size */
	ck_assert_int_eq(e820_add(&m, 0x4000, 0, E820_RAM), -1);
	/* overlapping the previous entry's last byte, and containing it */
	ck_assert_int_eq(e820_add(&m, 0x1fff, 0x10, E820_RAM), -1);
	ck_assert_int_eq(e820_add(&m, 0x0, 0x10000, E820_RAM), -1);
	ck_assert_int_eq(e820_add(&m, 0x1000, 0x1000, E820_RAM), -1);
	/* out of order: entirely below the previous one */
	ck_assert_int_eq(e820_add(&m, 0x0, 0x1000, E820_RAM), -1);
	/* wrapping past 2^64 */
	ck_assert_int_eq(e820_add(&m, UINT64_MAX - 10, 100, E820_RAM), -1);
	ck_assert_int_eq(m.n, 1);
	/* adjacent is fine, and so is a gap */
	ck_assert_int_eq(e820_add(&m, 0x2000, 0x1000, E820_RESERVED), 0);
	ck_assert_int_eq(e820_add(&m, 0x10000, 0x1000, E820_RAM), 0);
	ck_assert_int_eq(m.n, 3);
	expect_entry(&m, 1, 0x2000, 0x3000, E820_RESERVED);
}
END_TEST

START_TEST(test_add_full)
{
	struct e820_map m;
	memset(&m, 0, sizeof(m));
	for (int i = 0; i < E820_MAX; i++)
		ck_assert_int_eq(e820_add(&m, (uint64_t)i * 0x2000, 0x1000, E820_RAM), 0);
	ck_assert_int_eq(m.n, E820_MAX);
	ck_assert_int_eq(e820_add(&m, (uint64_t)E820_MAX * 0x2000, 0x1000, E820_RAM), -1);
	ck_assert_int_eq(m.n, E820_MAX);
}
END_TEST

START_TEST(test_insert)
{
	/* The framebuffer's reserved range goes in the gap between low and high RAM. */
	const uint64_t ram = 5 * GiB;
	struct gmem_region r[GMEM_MAX_REGIONS];
	int n = gmem_layout(ram, GMEM_HOLE_START, GMEM_HOLE_END, r);
	struct e820_map m;
	ck_assert_int_eq(e820_build(&m, r, n), 0);
	ck_assert_int_eq(e820_insert(&m, 0xfc000000, 3 * MiB, E820_RESERVED), 0);
	ck_assert_int_eq(m.n, 5);
	expect_entry(&m, 3, 0xfc000000, 0xfc000000 + 3 * MiB, E820_RESERVED);
	expect_entry(&m, 4, 4 * GiB, 6 * GiB, E820_RAM);
	for (int i = 1; i < m.n; i++)
		ck_assert_uint_le(m.e[i - 1].addr + m.e[i - 1].size, m.e[i].addr);
	/* overlapping RAM on either side, or the new entry itself, is refused and changes nothing
	 */
	ck_assert_int_eq(e820_insert(&m, 3 * GiB - 4096, 8192, E820_RESERVED), -1);
	ck_assert_int_eq(e820_insert(&m, 4 * GiB - 4096, 8192, E820_RESERVED), -1);
	ck_assert_int_eq(e820_insert(&m, 0xfc100000, 4096, E820_RESERVED), -1);
	ck_assert_int_eq(e820_insert(&m, 0xfd000000, 0, E820_RESERVED), -1);
	ck_assert_int_eq(e820_insert(&m, UINT64_MAX - 10, 100, E820_RESERVED), -1);
	ck_assert_int_eq(m.n, 5);
	/* at the very end, and at the start of an empty map */
	ck_assert_int_eq(e820_insert(&m, 7 * GiB, 4096, E820_RESERVED), 0);
	expect_entry(&m, 5, 7 * GiB, 7 * GiB + 4096, E820_RESERVED);
	struct e820_map e;
	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(e820_insert(&e, 0x1000, 0x1000, E820_RAM), 0);
	ck_assert_int_eq(e820_insert(&e, 0x0, 0x1000, E820_RAM), 0);
	expect_entry(&e, 0, 0, 0x1000, E820_RAM);
}
END_TEST

static Suite *e820_suite(void)
{
	Suite *s = suite_create("e820");
	TCase *tc = tcase_create("e820");
	tcase_add_test(tc, test_no_hole);
	tcase_add_test(tc, test_with_hole);
	tcase_add_test(tc, test_small_hole);
	tcase_add_test(tc, test_build_too_small);
	tcase_add_test(tc, test_add_rules);
	tcase_add_test(tc, test_add_full);
	tcase_add_test(tc, test_insert);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(e820_suite());
}
