/* MP tables, parsed byte by byte as the MultiProcessor Specification 1.4 lays them out (chapter 4):
 * 16-byte floating pointer, 44-byte configuration table header, then entries of 20 bytes
 * (processor) or 8 bytes (bus, I/O APIC, I/O interrupt, local interrupt). */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/pci.h"
#include "loader/e820.h"
#include "loader/mptable.h"
#include "unit.h"

enum { ENT_CPU, ENT_BUS, ENT_IOAPIC, ENT_INTSRC, ENT_LINTSRC };
enum { INT_INT = 0, INT_NMI = 1, INT_EXTINT = 3 };

#define BASE 0x9fc00ULL

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16;
}

static uint8_t sum8(const uint8_t *p, size_t len)
{
	uint8_t s = 0;
	for (size_t i = 0; i < len; i++)
		s = (uint8_t)(s + p[i]);
	return s;
}

struct parsed {
	int ncpu, nbus, nioapic, nintsrc, nlint;
	uint8_t cpu_id[256], cpu_flags[256];
	int isa_bus; /* bus id whose type is "ISA   ", or -1 */
	int pci_bus; /* bus id whose type is "PCI   ", or -1 */
	int npci_route;
	int pci_pin[32]; /* PCI slot's INTA# -> I/O APIC pin, -1 when not listed */
	uint8_t ioapic_id, ioapic_flags;
	uint32_t ioapic_addr;
	int irq_pin[16];  /* ISA IRQ -> I/O APIC pin, -1 when not listed */
	int irq_dst[16];  /* ISA IRQ -> destination I/O APIC id */
	int lint_type[2]; /* LINT0/LINT1 interrupt type, -1 when not listed */
};

/* Checks the structure and fills p; returns the number of entries walked. */
static int parse(const uint8_t *buf, size_t len, uint64_t base, int ncpus, struct parsed *p)
{
	memset(p, 0, sizeof(*p));
	p->isa_bus = p->pci_bus = -1;
	for (int i = 0; i < 32; i++)
		p->pci_pin[i] = -1;
	for (int i = 0; i < 16; i++)
		p->irq_pin[i] = p->irq_dst[i] = -1;
	p->lint_type[0] = p->lint_type[1] = -1;

	ck_assert_mem_eq(buf, "_MP_", 4);
	ck_assert_uint_eq(buf[8], 1); /* length in 16-byte paragraphs */
	ck_assert_uint_eq(buf[9], 4); /* spec revision 1.4 */
	ck_assert_uint_eq(sum8(buf, 16), 0);
	ck_assert_uint_eq(buf[11], 0); /* feature byte 1: 0 = a configuration table is present */
	uint32_t physptr = rd32(buf + 4);
	ck_assert_uint_eq(physptr, base + 16);

	const uint8_t *t = buf + (physptr - base);
	ck_assert_mem_eq(t, "PCMP", 4);
	uint16_t tlen = rd16(t + 4);
	ck_assert_uint_ge(tlen, 44);
	ck_assert_uint_le((size_t)(t - buf) + tlen, len);
	ck_assert_uint_eq(t[6], 4);
	ck_assert_uint_eq(sum8(t, tlen), 0);
	ck_assert_uint_eq(rd32(t + 36), 0xfee00000); /* local APIC address */
	uint16_t count = rd16(t + 34);

	const uint8_t *e = t + 44, *end = t + tlen;
	int walked = 0, last_type = 0;
	while (e < end) {
		size_t elen = e[0] == ENT_CPU ? 20 : 8;
		ck_assert_uint_le(elen, (size_t)(end - e));
		/* 4.3: entries come sorted by type, so buses precede the interrupts naming them */
		ck_assert_int_ge(e[0], last_type);
		last_type = e[0];
		switch (e[0]) {
		case ENT_CPU:
			ck_assert_int_lt(p->ncpu, ncpus);
			p->cpu_id[p->ncpu] = e[1];
			p->cpu_flags[p->ncpu++] = e[3];
			break;
		case ENT_BUS:
			if (!memcmp(e + 2, "ISA   ", 6))
				p->isa_bus = e[1];
			if (!memcmp(e + 2, "PCI   ", 6))
				p->pci_bus = e[1];
			p->nbus++;
			break;
		case ENT_IOAPIC:
			p->nioapic++;
			p->ioapic_id = e[1];
			p->ioapic_flags = e[3];
			p->ioapic_addr = rd32(e + 4);
			break;
		case ENT_INTSRC:
			ck_assert_uint_eq(e[1], INT_INT);
			if (e[4] == p->pci_bus) {
				/* Source IRQ: device number << 2 | pin (0 = INTA#); level, high. */
				unsigned slot = e[5] >> 2;
				ck_assert_uint_eq(e[5] & 3, 0);
				ck_assert_uint_eq(rd16(e + 2), 0x0d);
				ck_assert_int_eq(p->pci_pin[slot], -1);
				ck_assert_uint_eq(e[6], p->ioapic_id);
				p->pci_pin[slot] = e[7];
				p->npci_route++;
				break;
			}
			p->nintsrc++;
			ck_assert_int_eq(e[4], p->isa_bus);
			ck_assert_uint_lt(e[5], 16);
			ck_assert_int_eq(p->irq_pin[e[5]], -1); /* each IRQ listed once */
			p->irq_dst[e[5]] = e[6];
			p->irq_pin[e[5]] = e[7];
			break;
		case ENT_LINTSRC:
			p->nlint++;
			ck_assert_uint_lt(e[7], 2);
			p->lint_type[e[7]] = e[1];
			break;
		default:
			ck_abort_msg("unknown entry type %u at offset %td", e[0], e - buf);
		}
		e += elen;
		walked++;
	}
	ck_assert_int_eq(walked, count);
	return walked;
}

static void check_tables(int ncpus)
{
	size_t size = mptable_size(ncpus);
	uint8_t *buf = malloc(size);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(mptable_build(buf, size, BASE, ncpus), size);
	struct parsed p;
	parse(buf, size, BASE, ncpus, &p);

	ck_assert_int_eq(p.ncpu, ncpus);
	bool seen[256] = {false};
	for (int i = 0; i < ncpus; i++) {
		ck_assert_uint_lt(p.cpu_id[i], ncpus); /* APIC IDs 0..n-1 ... */
		ck_assert(!seen[p.cpu_id[i]]);	       /* ... each once */
		seen[p.cpu_id[i]] = true;
		ck_assert_uint_eq(p.cpu_flags[i] & 1, 1);			 /* enabled */
		ck_assert_uint_eq(p.cpu_flags[i] & 2, p.cpu_id[i] == 0 ? 2 : 0); /* BSP: CPU 0 */
	}

	ck_assert_int_eq(p.nioapic, 1);
	ck_assert_uint_eq(p.ioapic_addr, 0xfec00000);
	ck_assert_uint_eq(p.ioapic_flags & 1, 1);
	ck_assert_uint_ne(p.ioapic_id, 0xff);
	ck_assert(!seen[p.ioapic_id]); /* not any CPU's APIC ID */

	ck_assert_int_ge(p.isa_bus, 0);
	ck_assert_int_eq(p.nintsrc, 16);
	for (int irq = 0; irq < 16; irq++) {
		ck_assert_int_eq(p.irq_pin[irq], irq);
		ck_assert_int_eq(p.irq_dst[irq], p.ioapic_id);
	}
	/* Every PCI slot but the host bridge's has its INTA# wired, to the pin the devices drive.
	 */
	ck_assert_int_ge(p.pci_bus, 0);
	ck_assert_int_eq(p.npci_route, 31);
	ck_assert_int_eq(p.pci_pin[0], -1);
	for (unsigned slot = 1; slot < 32; slot++)
		ck_assert_int_eq(p.pci_pin[slot], (int)pci_intx_gsi(slot));
	ck_assert_int_eq(p.nlint, 2);
	ck_assert_int_eq(p.lint_type[0], INT_EXTINT);
	ck_assert_int_eq(p.lint_type[1], INT_NMI);
	free(buf);
}

START_TEST(test_one_cpu)
{
	check_tables(1);
}
END_TEST

START_TEST(test_four_cpus)
{
	check_tables(4);
}
END_TEST

START_TEST(test_max_cpus)
{
	check_tables(MPTABLE_MAX_CPUS);
	ck_assert_int_eq(MPTABLE_MAX_CPUS, 254);
}
END_TEST

START_TEST(test_bad_ncpus)
{
	uint8_t buf[8192];
	ck_assert_uint_eq(mptable_build(buf, sizeof(buf), BASE, 0), 0);
	ck_assert_uint_eq(mptable_build(buf, sizeof(buf), BASE, -1), 0);
	ck_assert_uint_eq(mptable_build(buf, sizeof(buf), BASE, 255), 0);
}
END_TEST

START_TEST(test_buffer_too_small)
{
	size_t size = mptable_size(4);
	uint8_t *buf = malloc(size - 1); /* ASan catches a write past it */
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(mptable_build(buf, size - 1, BASE, 4), 0);
	ck_assert_uint_eq(mptable_build(buf, 16, BASE, 4), 0);
	ck_assert_uint_eq(mptable_build(buf, 0, BASE, 4), 0);
	free(buf);
}
END_TEST

START_TEST(test_physptr_follows_base)
{
	uint8_t buf[4096];
	ck_assert_uint_ne(mptable_build(buf, sizeof(buf), 0xf0000, 2), 0);
	ck_assert_uint_eq(rd32(buf + 4), 0xf0010);
	ck_assert_uint_eq(sum8(buf, 16), 0);
}
END_TEST

START_TEST(test_write_in_reserved_memory)
{
	/* The tables at MPTABLE_ADDR must sit where e820 tells the guest not to allocate. */
	struct guest_mem mem;
	ck_assert_int_eq(gmem_init(&mem, 64 * MiB), 0);
	struct e820_map map;
	ck_assert_int_eq(e820_build(&map, mem.regions, mem.nregions), 0);
	for (int ncpus = 1; ncpus <= MPTABLE_MAX_CPUS; ncpus += MPTABLE_MAX_CPUS - 1) {
		ck_assert_int_eq(mptable_write(&mem, ncpus), 0);
		uint64_t lo = MPTABLE_ADDR, hi = MPTABLE_ADDR + mptable_size(ncpus);
		bool inside = false;
		for (int i = 0; i < map.n; i++)
			inside |= map.e[i].type == E820_RESERVED && map.e[i].addr <= lo &&
				  hi <= map.e[i].addr + map.e[i].size;
		ck_assert_msg(inside, "MP table for %d CPUs is not in reserved memory", ncpus);
		struct parsed p;
		parse(gmem_ptr(&mem, MPTABLE_ADDR, mptable_size(ncpus)), mptable_size(ncpus),
		      MPTABLE_ADDR, ncpus, &p);
		ck_assert_int_eq(p.ncpu, ncpus);
	}
	/* Linux scans the last KiB of base memory for the floating pointer, on a 16-byte boundary
	 */
	ck_assert_uint_eq(MPTABLE_ADDR % 16, 0);
	ck_assert_uint_ge(MPTABLE_ADDR, 639 * 1024);
	ck_assert_uint_lt(MPTABLE_ADDR + 16, 640 * 1024);
	gmem_free(&mem);
}
END_TEST

static Suite *mptable_suite(void)
{
	Suite *s = suite_create("mptable");
	TCase *tc = tcase_create("mptable");
	tcase_add_test(tc, test_one_cpu);
	tcase_add_test(tc, test_four_cpus);
	tcase_add_test(tc, test_max_cpus);
	tcase_add_test(tc, test_bad_ncpus);
	tcase_add_test(tc, test_buffer_too_small);
	tcase_add_test(tc, test_physptr_follows_base);
	tcase_add_test(tc, test_write_in_reserved_memory);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(mptable_suite());
}
