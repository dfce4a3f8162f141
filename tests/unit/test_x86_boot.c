/* Boot page tables, GDT and entry registers for the Linux 64-bit and 32-bit boot protocols. */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "loader/x86_boot.h"
#include "unit.h"

#define PTE_P	 0x1ULL
#define PTE_RW	 0x2ULL
#define PTE_PS	 0x80ULL
#define ADDR(e)	 ((e)&0x000ffffffffff000ULL)
#define CR0_PE	 0x1ULL
#define CR0_PG	 0x80000000ULL
#define CR4_PAE	 0x20ULL
#define EFER_LME 0x100ULL
#define EFER_LMA 0x400ULL

static struct guest_mem mem;

static void setup(void)
{
	ck_assert_int_eq(gmem_init(&mem, 64 * MiB), 0);
}

static void teardown(void)
{
	gmem_free(&mem);
}

static uint64_t rd64(uint64_t gpa)
{
	uint64_t v;
	ck_assert_msg(gmem_read(&mem, gpa, &v, sizeof(v)), "0x%llx is not RAM",
		      (unsigned long long)gpa);
	return v;
}

/* Walks the tables at cr3 like the MMU does for a 2 MiB page; returns the PDE. */
static uint64_t pde_for(uint64_t cr3, uint64_t va)
{
	uint64_t pml4e = rd64(ADDR(cr3) + ((va >> 39) & 511) * 8);
	ck_assert_uint_eq(pml4e & (PTE_P | PTE_RW), PTE_P | PTE_RW);
	uint64_t pdpte = rd64(ADDR(pml4e) + ((va >> 30) & 511) * 8);
	ck_assert_uint_eq(pdpte & (PTE_P | PTE_RW), PTE_P | PTE_RW);
	ck_assert_uint_eq(pdpte & PTE_PS, 0); /* points to a page directory, not a 1 GiB page */
	return rd64(ADDR(pdpte) + ((va >> 21) & 511) * 8);
}

START_TEST(test_long_mode_tables)
{
	/* dirty the area so stale entries would show */
	memset(gmem_ptr(&mem, BOOT_PML4_ADDR, 6 * 4096), 0xff, 6 * 4096);
	ck_assert_int_eq(x86_write_boot_tables(&mem, true), 0);

	uint64_t pml4e0 = rd64(BOOT_PML4_ADDR);
	ck_assert_uint_eq(pml4e0 & (PTE_P | PTE_RW), PTE_P | PTE_RW);
	for (int i = 1; i < 512; i++)
		ck_assert_uint_eq(rd64(BOOT_PML4_ADDR + 8 * (uint64_t)i) & PTE_P, 0);

	uint64_t pdpt = ADDR(pml4e0);
	for (int i = 0; i < 4; i++)
		ck_assert_uint_eq(rd64(pdpt + 8 * (uint64_t)i) & PTE_P, PTE_P);
	for (int i = 4; i < 512; i++)
		ck_assert_uint_eq(rd64(pdpt + 8 * (uint64_t)i) & PTE_P, 0);

	/* every 2 MiB page of the first 4 GiB maps to itself */
	for (uint64_t va = 0; va < 4 * GiB; va += 2 * MiB) {
		uint64_t pde = pde_for(BOOT_PML4_ADDR, va);
		ck_assert_uint_eq(pde & (PTE_P | PTE_RW | PTE_PS), PTE_P | PTE_RW | PTE_PS);
		ck_assert_uint_eq(ADDR(pde) & ~(2 * MiB - 1), va);
	}
	uint64_t pde = pde_for(BOOT_PML4_ADDR, 0xBFE00000ULL);
	ck_assert_uint_eq(ADDR(pde), 0xBFE00000ULL);

	/* the tables do not overlap what the loader puts elsewhere below 1 MiB */
	uint64_t pds_end = ADDR(rd64(pdpt + 3 * 8)) + 4096;
	ck_assert_uint_le(pds_end, BOOT_CMDLINE_ADDR);
	ck_assert(BOOT_PML4_ADDR >= BOOT_ZERO_PAGE_ADDR + 4096);
}
END_TEST

static uint64_t gdt_entry(unsigned selector)
{
	return rd64(BOOT_GDT_ADDR + (selector & ~7u));
}

START_TEST(test_long_mode_sregs)
{
	struct kvm_sregs sr;
	memset(&sr, 0, sizeof(sr));
	x86_boot_sregs(&sr, true);
	ck_assert_uint_eq(sr.cs.selector, 0x10); /* __BOOT_CS */
	ck_assert_uint_eq(sr.ds.selector, 0x18); /* __BOOT_DS */
	ck_assert_uint_eq(sr.ss.selector, 0x18);
	ck_assert_uint_eq(sr.es.selector, 0x18);
	ck_assert_uint_eq(sr.cs.l, 1);
	ck_assert_uint_eq(sr.cs.db, 0); /* L=1 with D=1 is reserved */
	ck_assert_uint_eq(sr.cs.present, 1);
	ck_assert_uint_eq(sr.cs.s, 1);
	ck_assert_uint_eq(sr.cs.type & 0x8, 0x8); /* code */
	ck_assert_uint_eq(sr.ds.type & 0xa, 0x2); /* data, writable */
	ck_assert_uint_eq(sr.ds.present, 1);
	ck_assert_uint_eq(sr.efer & (EFER_LME | EFER_LMA), EFER_LME | EFER_LMA);
	ck_assert_uint_eq(sr.cr0 & (CR0_PE | CR0_PG), CR0_PE | CR0_PG);
	ck_assert_uint_eq(sr.cr4 & CR4_PAE, CR4_PAE);
	ck_assert_uint_eq(sr.cr3, BOOT_PML4_ADDR);
	ck_assert_uint_eq(sr.gdt.base, BOOT_GDT_ADDR);
	ck_assert_uint_ge(sr.gdt.limit, 0x1f);
	ck_assert_uint_ne(sr.tr.type, 0); /* VMX needs a usable TR */

	/* the GDT in memory agrees with the cached descriptors */
	ck_assert_int_eq(x86_write_boot_tables(&mem, true), 0);
	uint64_t cs = gdt_entry(sr.cs.selector), ds = gdt_entry(sr.ds.selector);
	ck_assert_uint_eq((cs >> 53) & 1, sr.cs.l);
	ck_assert_uint_eq((cs >> 54) & 1, sr.cs.db);
	ck_assert_uint_eq((cs >> 47) & 1, 1);
	ck_assert_uint_eq((cs >> 40) & 0xf, sr.cs.type);
	ck_assert_uint_eq((ds >> 40) & 0xf, sr.ds.type);
}
END_TEST

START_TEST(test_protected_mode_sregs)
{
	struct kvm_sregs sr;
	memset(&sr, 0, sizeof(sr));
	x86_boot_sregs(&sr, true); /* whatever long mode left behind must be undone */
	x86_boot_sregs(&sr, false);
	ck_assert_uint_eq(sr.cs.selector, 0x10);
	ck_assert_uint_eq(sr.ds.selector, 0x18);
	ck_assert_uint_eq(sr.cs.db, 1);
	ck_assert_uint_eq(sr.cs.l, 0);
	ck_assert_uint_eq(sr.cs.base, 0);
	ck_assert_uint_eq(sr.cs.limit, 0xffffffff);
	ck_assert_uint_eq(sr.ds.base, 0);
	ck_assert_uint_eq(sr.ds.limit, 0xffffffff);
	ck_assert_uint_eq(sr.cr0 & CR0_PE, CR0_PE);
	ck_assert_uint_eq(sr.cr0 & CR0_PG, 0);
	ck_assert_uint_eq(sr.efer & (EFER_LME | EFER_LMA), 0);

	ck_assert_int_eq(x86_write_boot_tables(&mem, false), 0);
	uint64_t cs = gdt_entry(sr.cs.selector);
	ck_assert_uint_eq((cs >> 53) & 1, 0);
	ck_assert_uint_eq((cs >> 54) & 1, 1);
}
END_TEST

START_TEST(test_boot_regs)
{
	struct boot_layout b = {
	    .entry = BOOT_KERNEL_ADDR + 0x200, .entry64 = true, .zero_page = BOOT_ZERO_PAGE_ADDR};
	struct kvm_regs r;
	memset(&r, 0xff, sizeof(r));
	x86_boot_regs(&r, &b);
	ck_assert_uint_eq(r.rip, BOOT_KERNEL_ADDR + 0x200);
	ck_assert_uint_eq(r.rsi, BOOT_ZERO_PAGE_ADDR); /* boot.rst: %rsi holds the boot_params */
	ck_assert_uint_eq(r.rflags & 0x2, 0x2);
	ck_assert_uint_eq(r.rflags & 0x200, 0); /* interrupts off */
	ck_assert_uint_eq(r.rax, 0);
}
END_TEST

START_TEST(test_tables_need_ram)
{
	/* RAM that stops below the page tables */
	struct guest_mem small;
	ck_assert_int_eq(gmem_init_layout(&small, 0x9000, 1 * GiB, 2 * GiB), 0);
	ck_assert_int_eq(x86_write_boot_tables(&small, true), -1);
	ck_assert_int_eq(x86_write_boot_tables(&small, false), 0); /* the GDT alone fits */
	gmem_free(&small);
}
END_TEST

static Suite *x86_boot_suite(void)
{
	Suite *s = suite_create("x86_boot");
	TCase *tc = tcase_create("x86_boot");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_long_mode_tables);
	tcase_add_test(tc, test_long_mode_sregs);
	tcase_add_test(tc, test_protected_mode_sregs);
	tcase_add_test(tc, test_boot_regs);
	tcase_add_test(tc, test_tables_need_ram);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(x86_boot_suite());
}
