/* ACPI: the AML writer's encodings against the bytes ACPI 6.4 §20 gives, the table set walked
 * from the RSDP as a guest's ACPICA does (checksums, lengths, pointers), MADT entries for 1, 2
 * and 64 vCPUs, and the PM registers and 0xCF9 reset control as a guest sees them.
 *   test_acpi --dump DIR NCPUS   writes each table to DIR/<signature>.dat (for iasl -d) */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/acpi_pm.h"
#include "devices/pci.h"
#include "loader/acpi.h"
#include "loader/aml.h"
#include "loader/mptable.h"
#include "unit.h"
#include "vmm/bus.h"

#define BASE 0xe0000ULL
#define CAP  (128 * 1024)

static uint64_t rd(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint8_t sum8(const uint8_t *p, size_t len)
{
	uint8_t s = 0;
	for (size_t i = 0; i < len; i++)
		s = (uint8_t)(s + p[i]);
	return s;
}

/* --- AML writer --------------------------------------------------------------------------- */

static void expect(struct aml *a, const uint8_t *want, size_t n)
{
	size_t len = 0;
	const uint8_t *got = aml_done(a, &len);
	ck_assert_ptr_nonnull(got);
	ck_assert_uint_eq(len, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(got[i] == want[i], "byte %zu: 0x%02x, want 0x%02x", i, got[i],
			      want[i]);
	aml_free(a);
}

START_TEST(test_pkglen)
{
	struct {
		size_t body;
		uint8_t n, b[4];
	} cases[] = {
	    {0, 1, {0x01}},
	    {62, 1, {0x3f}},
	    {63, 2, {0x41, 0x04}},		    /* 65 = 0x041 */
	    {4093, 2, {0x4f, 0xff}},		    /* 4095 */
	    {4094, 3, {0x81, 0x00, 0x01}},	    /* 4097 = 0x1001 */
	    {0xfffff, 4, {0xc3, 0x00, 0x00, 0x01}}, /* 0x100003 */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t out[4];
		ck_assert_uint_eq(aml_pkglen(cases[i].body, out), cases[i].n);
		ck_assert_mem_eq(out, cases[i].b, cases[i].n);
	}
	uint8_t out[4];
	ck_assert_uint_eq(aml_pkglen((size_t)1 << 28, out), 0);
}
END_TEST

START_TEST(test_integers)
{
	struct aml a;
	aml_init(&a);
	aml_int(&a, 0);
	aml_int(&a, 1);
	aml_int(&a, 0x12);
	aml_int(&a, 0x1234);
	aml_int(&a, 0x12345678);
	aml_int(&a, 0x123456789aULL);
	static const uint8_t want[] = {0x00, 0x01, 0x0a, 0x12, 0x0b, 0x34, 0x12,
				       0x0c, 0x78, 0x56, 0x34, 0x12, 0x0e, 0x9a,
				       0x78, 0x56, 0x34, 0x12, 0x00, 0x00, 0x00};
	expect(&a, want, sizeof(want));
}
END_TEST

START_TEST(test_names)
{
	struct aml a;
	aml_init(&a);
	aml_namestring(&a, "PCI0");
	aml_namestring(&a, "\\_SB.PCI0");
	aml_namestring(&a, "A.B.C");
	aml_namestring(&a, "^FOO");
	aml_namestring(&a, "\\");
	static const uint8_t want[] = {'P', 'C', 'I', '0', '\\', 0x2e, '_',  'S', 'B',
				       '_', 'P', 'C', 'I', '0',	 0x2f, 3,    'A', '_',
				       '_', '_', 'B', '_', '_',	 '_',  'C',  '_', '_',
				       '_', '^', 'F', 'O', 'O',	 '_',  '\\', 0x00};
	expect(&a, want, sizeof(want));

	aml_init(&a);
	aml_namestring(&a, "TOOLONG");
	size_t n;
	ck_assert_ptr_null(aml_done(&a, &n));
	aml_free(&a);
	aml_init(&a);
	aml_namestring(&a, "A..B");
	ck_assert_ptr_null(aml_done(&a, &n));
	aml_free(&a);
}
END_TEST

/* No bytes on a writer that holds none yet: nothing happens (it once did pointer arithmetic on
 * and a memcpy to its NULL buffer, which UBSan reports). */
START_TEST(test_no_bytes)
{
	struct aml a;
	aml_init(&a);
	aml_bytes(&a, NULL, 0);
	aml_bytes(&a, "", 0);
	aml_int(&a, 1);
	static const uint8_t want[] = {0x01};
	expect(&a, want, sizeof(want));
}
END_TEST

START_TEST(test_eisaid)
{
	ck_assert_uint_eq(aml_eisaid("PNP0A03"), 0x030ad041);
	ck_assert_uint_eq(aml_eisaid("PNP0501"), 0x0105d041);
	ck_assert_uint_eq(aml_eisaid("PNP0A0"), 0);
	ck_assert_uint_eq(aml_eisaid("pnp0A03"), 0);
	ck_assert_uint_eq(aml_eisaid("PNP0A0G"), 0);
}
END_TEST

START_TEST(test_constructs)
{
	struct aml a;
	aml_init(&a);
	aml_device(&a, "FOO");
	aml_close(&a);
	aml_package(&a);
	aml_int(&a, 5);
	aml_int(&a, 5);
	aml_close(&a);
	aml_buffer(&a);
	aml_res_end(&a);
	aml_close(&a);
	aml_method(&a, "_STA", 0, false);
	aml_return(&a);
	aml_int(&a, 0x0f);
	aml_close(&a);
	aml_name_string(&a, "_HID", "ACPI0007");
	static const uint8_t want[] = {
	    0x5b, 0x82, 0x05, 'F',  'O',  'O',	'_',			/* Device(FOO) {} */
	    0x12, 0x06, 0x02, 0x0a, 0x05, 0x0a, 0x05,			/* Package() {5, 5} */
	    0x11, 0x05, 0x0a, 0x02, 0x79, 0x00,				/* Buffer() {EndTag} */
	    0x14, 0x09, '_',  'S',  'T',  'A',	0x00, 0xa4, 0x0a, 0x0f, /* Method(_STA) */
	    0x08, '_',	'H',  'I',  'D',  0x0d, 'A',  'C',  'P',  'I',	'0', '0', '0', '7', 0x00};
	expect(&a, want, sizeof(want));
}
END_TEST

START_TEST(test_long_package)
{
	/* Over 63 bytes of contents: a 2-byte PkgLength, and the contents moved behind it. */
	struct aml a;
	aml_init(&a);
	aml_package(&a);
	for (int i = 0; i < 40; i++)
		aml_int(&a, 0x100 + (unsigned)i); /* 3 bytes each */
	aml_close(&a);
	size_t n;
	const uint8_t *b = aml_done(&a, &n);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(n, 1 + 2 + 1 + 120);
	ck_assert_uint_eq(b[0], 0x12);
	ck_assert_uint_eq(b[1] >> 6, 1);
	ck_assert_uint_eq((b[1] & 0x0f) | b[2] << 4, 2 + 1 + 120);
	ck_assert_uint_eq(b[3], 40);
	ck_assert_uint_eq(b[4], 0x0b);
	ck_assert_uint_eq(rd(b + 5, 2), 0x100);
	ck_assert_uint_eq(rd(b + n - 2, 2), 0x100 + 39);
	aml_free(&a);
}
END_TEST

START_TEST(test_unbalanced)
{
	struct aml a;
	size_t n;
	aml_init(&a);
	aml_scope(&a, "\\_SB");
	ck_assert_ptr_null(aml_done(&a, &n)); /* still open */
	aml_free(&a);
	aml_init(&a);
	aml_close(&a);
	ck_assert_ptr_null(aml_done(&a, &n)); /* nothing to close */
	aml_free(&a);
	aml_init(&a);
	for (int i = 0; i < AML_MAX_DEPTH + 1; i++)
		aml_scope(&a, "X");
	for (int i = 0; i < AML_MAX_DEPTH + 1; i++)
		aml_close(&a);
	ck_assert_ptr_null(aml_done(&a, &n)); /* too deep */
	aml_free(&a);
}
END_TEST

/* --- Tables --------------------------------------------------------------------------------- */

struct tables {
	uint8_t buf[CAP];
	size_t len;
	const uint8_t *xsdt, *fadt, *madt, *dsdt, *facs;
};

/* A table at guest address gpa: inside the blob, its length sane, its checksum zero. */
static const uint8_t *table_at(const struct tables *t, uint64_t gpa, const char *sig)
{
	ck_assert_msg(gpa >= BASE && gpa + 36 <= BASE + t->len, "%s at 0x%llx is outside", sig,
		      (unsigned long long)gpa);
	const uint8_t *p = t->buf + (gpa - BASE);
	ck_assert_msg(!memcmp(p, sig, 4), "want %s at 0x%llx", sig, (unsigned long long)gpa);
	uint32_t len = (uint32_t)rd(p + 4, 4);
	ck_assert_msg(len >= 36 && gpa + len <= BASE + t->len, "%s length %u", sig, len);
	ck_assert_msg(sum8(p, len) == 0, "%s checksum", sig);
	return p;
}

static void walk(struct tables *t, int ncpus)
{
	struct acpi_config cfg = {.ncpus = ncpus, .ram_top = 256 * MiB, .pci_slots = 0x6};
	t->len = acpi_build(t->buf, CAP, BASE, &cfg);
	ck_assert_uint_gt(t->len, 0);
	const uint8_t *rsdp = t->buf;
	ck_assert_mem_eq(rsdp, "RSD PTR ", 8);
	ck_assert_uint_eq(sum8(rsdp, 20), 0);
	ck_assert_uint_eq(rsdp[15], 2);
	ck_assert_uint_eq(rd(rsdp + 20, 4), 36);
	ck_assert_uint_eq(sum8(rsdp, 36), 0);
	t->xsdt = table_at(t, rd(rsdp + 24, 8), "XSDT");
	uint32_t xlen = (uint32_t)rd(t->xsdt + 4, 4);
	ck_assert_uint_eq((xlen - 36) % 8, 0);
	t->fadt = t->madt = NULL;
	for (uint32_t off = 36; off < xlen; off += 8) {
		uint64_t gpa = rd(t->xsdt + off, 8);
		const uint8_t *p = t->buf + (gpa - BASE);
		if (gpa >= BASE && gpa < BASE + t->len && !memcmp(p, "FACP", 4))
			t->fadt = table_at(t, gpa, "FACP");
		else
			t->madt = table_at(t, gpa, "APIC");
	}
	ck_assert_ptr_nonnull(t->fadt);
	ck_assert_ptr_nonnull(t->madt);
	ck_assert_uint_eq(rd(t->fadt + 4, 4), 276);
	uint64_t dsdt = rd(t->fadt + 140, 8), facs = rd(t->fadt + 132, 8);
	ck_assert_uint_eq(rd(t->fadt + 40, 4), dsdt); /* the 32-bit copies agree */
	ck_assert_uint_eq(rd(t->fadt + 36, 4), 0);    /* the FACS once, in X_FIRMWARE_CTRL */
	t->dsdt = table_at(t, dsdt, "DSDT");
	ck_assert_uint_eq(facs % 64, 0);
	t->facs = t->buf + (facs - BASE);
	ck_assert_mem_eq(t->facs, "FACS", 4);
	ck_assert_uint_eq(rd(t->facs + 4, 4), 64);
}

static struct tables T;

START_TEST(test_fadt)
{
	walk(&T, 1);
	const uint8_t *f = T.fadt;
	ck_assert_uint_eq(rd(f + 46, 2), ACPI_SCI_IRQ);
	ck_assert_uint_eq(rd(f + 48, 4), 0); /* no SMI_CMD */
	ck_assert_uint_eq(rd(f + 56, 4), ACPI_PM1_EVT);
	ck_assert_uint_eq(rd(f + 64, 4), ACPI_PM1_CNT);
	ck_assert_uint_eq(rd(f + 76, 4), ACPI_PM_TMR);
	ck_assert_uint_eq(f[88], 4);
	ck_assert_uint_eq(f[89], 2);
	ck_assert_uint_eq(f[91], 4);
	uint32_t flags = (uint32_t)rd(f + 112, 4);
	ck_assert(flags & (1u << 8));	  /* TMR_VAL_EXT: 32-bit PM timer */
	ck_assert(flags & (1u << 10));	  /* RESET_REG_SUP */
	ck_assert(!(flags & (1u << 4)));  /* the power button is a fixed feature */
	ck_assert(!(flags & (1u << 20))); /* not hardware-reduced */
	/* RESET_REG: system I/O, 8 bits, at 0xCF9; value 6 */
	ck_assert_uint_eq(f[116], 1);
	ck_assert_uint_eq(f[117], 8);
	ck_assert_uint_eq(rd(f + 120, 8), ACPI_RESET_PORT);
	ck_assert_uint_eq(f[128], ACPI_RESET_VALUE);
	/* X_PM1a_EVT_BLK, X_PM1a_CNT_BLK, X_PM_TMR_BLK: the same ports, widths from the lengths */
	ck_assert_uint_eq(f[148], 1);
	ck_assert_uint_eq(f[149], 32);
	ck_assert_uint_eq(rd(f + 152, 8), ACPI_PM1_EVT);
	ck_assert_uint_eq(f[173], 16);
	ck_assert_uint_eq(rd(f + 176, 8), ACPI_PM1_CNT);
	ck_assert_uint_eq(f[209], 32);
	ck_assert_uint_eq(rd(f + 212, 8), ACPI_PM_TMR);
	uint16_t boot_arch = (uint16_t)rd(f + 109, 2);
	ck_assert(boot_arch & 2); /* an 8042 */
}
END_TEST

struct madt_seen {
	int nlapic, nioapic, nnmi;
	int lapic_uid[256], lapic_id[256];
	int override_gsi[16], override_flags[16];
	uint8_t ioapic_id;
	uint32_t ioapic_addr, lapic_addr;
};

static void madt(int ncpus, struct madt_seen *s)
{
	walk(&T, ncpus);
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < 16; i++)
		s->override_gsi[i] = -1;
	const uint8_t *m = T.madt;
	uint32_t len = (uint32_t)rd(m + 4, 4);
	s->lapic_addr = (uint32_t)rd(m + 36, 4);
	ck_assert_uint_eq(rd(m + 40, 4) & 1, 1); /* PCAT_COMPAT */
	for (uint32_t off = 44; off < len;) {
		uint8_t type = m[off], elen = m[off + 1];
		ck_assert_uint_ge(elen, 2);
		ck_assert_uint_le(off + elen, len);
		const uint8_t *e = m + off;
		switch (type) {
		case 0:
			ck_assert_uint_eq(elen, 8);
			ck_assert_uint_eq(rd(e + 4, 4) & 1, 1);
			s->lapic_uid[s->nlapic] = e[2];
			s->lapic_id[s->nlapic++] = e[3];
			break;
		case 1:
			ck_assert_uint_eq(elen, 12);
			s->nioapic++;
			s->ioapic_id = e[2];
			s->ioapic_addr = (uint32_t)rd(e + 4, 4);
			ck_assert_uint_eq(rd(e + 8, 4), 0);
			break;
		case 2:
			ck_assert_uint_eq(elen, 10);
			ck_assert_uint_eq(e[2], 0); /* ISA */
			ck_assert_uint_lt(e[3], 16);
			s->override_gsi[e[3]] = (int)rd(e + 4, 4);
			s->override_flags[e[3]] = (int)rd(e + 8, 2);
			break;
		case 4:
			ck_assert_uint_eq(elen, 6);
			ck_assert_uint_eq(e[2], 0xff);
			ck_assert_uint_eq(e[5], 1); /* LINT1 */
			s->nnmi++;
			break;
		default:
			ck_abort_msg("MADT entry type %u", type);
		}
		off += elen;
	}
}

static void check_madt(int ncpus)
{
	struct madt_seen s;
	madt(ncpus, &s);
	ck_assert_int_eq(s.nlapic, ncpus);
	for (int i = 0; i < ncpus; i++) {
		ck_assert_int_eq(s.lapic_uid[i], i);
		ck_assert_int_eq(s.lapic_id[i], i);
	}
	ck_assert_int_eq(s.nioapic, 1);
	ck_assert_uint_eq(s.ioapic_id, mptable_ioapic_id(ncpus)); /* as the MP table says */
	ck_assert_uint_eq(s.ioapic_addr, MP_IOAPIC_ADDR);
	ck_assert_uint_eq(s.lapic_addr, MP_LAPIC_ADDR);
	ck_assert_int_eq(s.override_gsi[0], 0);
	ck_assert_int_eq(s.override_gsi[ACPI_SCI_IRQ], ACPI_SCI_IRQ);
	ck_assert_int_eq(s.override_flags[ACPI_SCI_IRQ], 0x0d); /* level, active high */
	ck_assert_int_eq(s.nnmi, 1);
}

START_TEST(test_madt_1)
{
	check_madt(1);
}
END_TEST

START_TEST(test_madt_2)
{
	check_madt(2);
}
END_TEST

START_TEST(test_madt_64)
{
	check_madt(64);
}
END_TEST

static bool contains(const uint8_t *p, size_t len, const void *what, size_t n)
{
	for (size_t i = 0; i + n <= len; i++)
		if (!memcmp(p + i, what, n))
			return true;
	return false;
}

START_TEST(test_dsdt_follows_config)
{
	walk(&T, 64);
	const uint8_t *d = T.dsdt;
	size_t len = (size_t)rd(d + 4, 4);
	ck_assert(contains(d, len, "_S5_", 4));
	uint8_t pnp0a03[5] = {0x0c, 0x41, 0xd0, 0x0a, 0x03};
	ck_assert(contains(d, len, pnp0a03, 5));
	ck_assert(contains(d, len, "C000", 4));
	ck_assert(contains(d, len, "C03F", 4));
	ck_assert(!contains(d, len, "C040", 4));
	/* _PRT: slots 1 and 2 (pci_slots 0x6) routed, slot 3 not */
	uint8_t slot1[5] = {0x0c, 0xff, 0xff, 0x01, 0x00},
		slot3[5] = {0x0c, 0xff, 0xff, 0x03, 0x00};
	ck_assert(contains(d, len, slot1, 5));
	ck_assert(!contains(d, len, slot3, 5));
	ck_assert(!contains(d, len, "LNRO0005", 8));
	walk(&T, 2);
	len = (size_t)rd(T.dsdt + 4, 4);
	ck_assert(contains(T.dsdt, len, "C001", 4));
	ck_assert(!contains(T.dsdt, len, "C002", 4));
	/* virtio-mmio: each device's window and interrupt */
	struct acpi_config cfg = {.ncpus = 1, .nmmio = 2};
	cfg.mmio[0].base = 0xfeb00000;
	cfg.mmio[0].gsi = 5;
	cfg.mmio[1].base = 0xfeb01000;
	cfg.mmio[1].gsi = 6;
	T.len = acpi_build(T.buf, CAP, BASE, &cfg);
	ck_assert_uint_gt(T.len, 0);
	d = T.buf + (rd(T.buf + (rd(T.buf + 24, 8) - BASE) + 36, 8) - BASE); /* XSDT[0]: FADT */
	d = T.buf + (rd(d + 140, 8) - BASE);
	len = (size_t)rd(d + 4, 4);
	ck_assert(contains(d, len, "LNRO0005", 8));
	uint8_t win1[12] = {0x86, 9, 0, 1, 0x00, 0x10, 0xb0, 0xfe, 0x00, 0x10, 0x00, 0x00};
	uint8_t irq6[9] = {0x89, 6, 0, 0x03, 1, 6, 0, 0, 0};
	ck_assert(contains(d, len, win1, sizeof(win1)));
	ck_assert(contains(d, len, irq6, sizeof(irq6)));
	cfg.nmmio = ACPI_MAX_MMIO + 1;
	ck_assert_uint_eq(acpi_build(T.buf, CAP, BASE, &cfg), 0);
}
END_TEST

START_TEST(test_bad_config)
{
	struct acpi_config cfg = {.ncpus = 0};
	ck_assert_uint_eq(acpi_build(T.buf, CAP, BASE, &cfg), 0);
	cfg.ncpus = ACPI_MAX_CPUS + 1;
	ck_assert_uint_eq(acpi_build(T.buf, CAP, BASE, &cfg), 0);
	cfg.ncpus = 2;
	ck_assert_uint_eq(acpi_build(T.buf, 300, BASE, &cfg), 0);
	cfg.ncpus = ACPI_MAX_CPUS;
	ck_assert_uint_gt(acpi_build(T.buf, CAP, BASE, &cfg), 0);
	ck_assert_uint_le(acpi_build(T.buf, CAP, BASE, &cfg), ACPI_AREA_END - ACPI_RSDP_ADDR);
}
END_TEST

/* --- PM registers and the reset control --------------------------------------------------- */

static int sci_level = -1, sleeps, sleep_typ;

static void fake_sci(void *opaque, bool level)
{
	(void)opaque;
	sci_level = level;
}

static void fake_sleep(void *opaque, unsigned typ)
{
	(void)opaque;
	sleeps++;
	sleep_typ = (int)typ;
}

static const struct acpi_pm_ops fake_ops = {.set_sci = fake_sci, .sleep = fake_sleep};

static uint32_t pm_in(struct bus *b, uint16_t port, unsigned len)
{
	uint8_t d[4] = {0};
	ck_assert(bus_access(b, port, d, len, false));
	return (uint32_t)rd(d, (int)len);
}

static void pm_out(struct bus *b, uint16_t port, uint32_t v, unsigned len)
{
	uint8_t d[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
	ck_assert(bus_access(b, port, d, len, true));
}

START_TEST(test_power_button)
{
	struct bus pio;
	struct acpi_pm pm;
	bus_init(&pio, BUS_PIO);
	acpi_pm_init(&pm, &fake_ops, NULL);
	ck_assert_int_eq(acpi_pm_register(&pm, &pio), 0);
	sci_level = -1;
	/* Not enabled: the status is set, no SCI. */
	ck_assert(!acpi_pm_power_button(&pm));
	ck_assert_int_eq(sci_level, -1);
	ck_assert_uint_eq(pm_in(&pio, ACPI_PM1_EVT, 2) & ACPI_PM1_PWRBTN, ACPI_PM1_PWRBTN);
	/* Enabling it with the status pending raises the SCI; clearing the status lowers it. */
	pm_out(&pio, ACPI_PM1_EVT + 2, ACPI_PM1_PWRBTN, 2);
	ck_assert_int_eq(sci_level, 1);
	pm_out(&pio, ACPI_PM1_EVT, ACPI_PM1_PWRBTN, 2);
	ck_assert_int_eq(sci_level, 0);
	ck_assert_uint_eq(pm_in(&pio, ACPI_PM1_EVT, 2), 0);
	/* Writing 0 clears nothing; a dword access covers status and enable. */
	ck_assert(acpi_pm_power_button(&pm));
	ck_assert_int_eq(sci_level, 1);
	pm_out(&pio, ACPI_PM1_EVT, 0, 2);
	ck_assert_int_eq(sci_level, 1);
	ck_assert_uint_eq(pm_in(&pio, ACPI_PM1_EVT, 4), ACPI_PM1_PWRBTN << 16 | ACPI_PM1_PWRBTN);
	/* A reset forgets the press and the enable. */
	acpi_pm_reset(&pm);
	ck_assert_int_eq(sci_level, 0);
	ck_assert_uint_eq(pm_in(&pio, ACPI_PM1_EVT, 4), 0);
	acpi_pm_destroy(&pm);
	bus_destroy(&pio);
}
END_TEST

START_TEST(test_sleep_control)
{
	struct bus pio;
	struct acpi_pm pm;
	bus_init(&pio, BUS_PIO);
	acpi_pm_init(&pm, &fake_ops, NULL);
	ck_assert_int_eq(acpi_pm_register(&pm, &pio), 0);
	sleeps = 0;
	/* SCI_EN reads 1 whatever is written: the machine is in ACPI mode from power-on. */
	pm_out(&pio, ACPI_PM1_CNT, 0, 2);
	ck_assert_uint_eq(pm_in(&pio, ACPI_PM1_CNT, 2) & ACPI_PM1_SCI_EN, 1);
	/* ACPICA writes SLP_TYP first, then SLP_TYP with SLP_EN. */
	pm_out(&pio, ACPI_PM1_CNT, ACPI_S5_SLP_TYP << 10, 2);
	ck_assert_int_eq(sleeps, 0);
	pm_out(&pio, ACPI_PM1_CNT, ACPI_S5_SLP_TYP << 10 | ACPI_PM1_SLP_EN, 2);
	ck_assert_int_eq(sleeps, 1);
	ck_assert_int_eq(sleep_typ, ACPI_S5_SLP_TYP);
	ck_assert_uint_eq(pm_in(&pio, ACPI_PM1_CNT, 2) & ACPI_PM1_SLP_EN, 0);
	/* Byte-wide: SLP_EN in the high byte. */
	pm_out(&pio, ACPI_PM1_CNT + 1, (3u << 10 | ACPI_PM1_SLP_EN) >> 8, 1);
	ck_assert_int_eq(sleeps, 2);
	ck_assert_int_eq(sleep_typ, 3);
	/* The timer is read-only and runs. */
	uint32_t t0 = pm_in(&pio, ACPI_PM_TMR, 4);
	pm_out(&pio, ACPI_PM_TMR, 0, 4);
	struct timespec ts = {0, 2000000};
	nanosleep(&ts, NULL);
	uint32_t t1 = pm_in(&pio, ACPI_PM_TMR, 4);
	ck_assert_uint_ge((uint32_t)(t1 - t0), 3579545 / 1000); /* 2 ms: over 3579 ticks */
	acpi_pm_destroy(&pm);
	bus_destroy(&pio);
}
END_TEST

START_TEST(test_pm_timer_rate)
{
	ck_assert_uint_eq(acpi_pm_timer_at(0), 0);
	ck_assert_uint_eq(acpi_pm_timer_at(1000000000ULL), 3579545);
	ck_assert_uint_eq(acpi_pm_timer_at(500000000ULL), 1789772);
	/* 1200 s wraps the 32 bits once */
	ck_assert_uint_eq(acpi_pm_timer_at(1200000000000ULL), (uint32_t)(1200ULL * 3579545ULL));
	/* No overflow for a host up for years */
	uint64_t ns = 10ULL * 365 * 86400 * 1000000000ULL;
	ck_assert_uint_eq(acpi_pm_timer_at(ns), (uint32_t)(ns / 1000000000ULL * 3579545ULL));
}
END_TEST

static int resets;
static void count_reset(void *opaque)
{
	(void)opaque;
	resets++;
}

START_TEST(test_reset_control)
{
	struct bus pio, mmio;
	struct pci_bus pci;
	bus_init(&pio, BUS_PIO);
	bus_init(&mmio, BUS_MMIO);
	ck_assert_int_eq(pci_bus_init(&pci, &pio, &mmio), 0);
	pci_bus_set_reset(&pci, count_reset, NULL);
	resets = 0;
	/* Linux's reboot=pci: SYS_RST, then SYS_RST|RST_CPU. */
	pm_out(&pio, ACPI_RESET_PORT, 0x02, 1);
	ck_assert_int_eq(resets, 0);
	ck_assert_uint_eq(pm_in(&pio, ACPI_RESET_PORT, 1), 0x02);
	pm_out(&pio, ACPI_RESET_PORT, ACPI_RESET_VALUE, 1);
	ck_assert_int_eq(resets, 1);
	/* CONFIG_ADDRESS is still a dword at 0xCF8 */
	pm_out(&pio, 0xcf8, 0x80000000, 4);
	ck_assert_uint_eq(pm_in(&pio, 0xcf8, 4), 0x80000000);
	ck_assert_int_eq(resets, 1);
	pci_bus_reset(&pci);
	ck_assert_uint_eq(pm_in(&pio, ACPI_RESET_PORT, 1), 0);
	pci_bus_destroy(&pci);
	bus_destroy(&pio);
	bus_destroy(&mmio);
}
END_TEST

static int dump(const char *dir, int ncpus)
{
	struct acpi_config cfg = {.ncpus = ncpus, .ram_top = 4 * GiB, .pci_slots = 0xe, .nmmio = 2};
	cfg.mmio[0].base = 0xfeb00000;
	cfg.mmio[0].gsi = 5;
	cfg.mmio[1].base = 0xfeb01000;
	cfg.mmio[1].gsi = 6;
	size_t len = acpi_build(T.buf, CAP, BASE, &cfg);
	if (!len)
		return fprintf(stderr, "acpi_build failed\n"), 1;
	const uint8_t *rsdp = T.buf, *xsdt = T.buf + (rd(rsdp + 24, 8) - BASE);
	const uint8_t *tabs[8];
	int n = 0;
	tabs[n++] = xsdt;
	for (uint32_t off = 36; off < rd(xsdt + 4, 4); off += 8)
		tabs[n++] = T.buf + (rd(xsdt + off, 8) - BASE);
	tabs[n++] = T.buf + (rd(tabs[1] + 140, 8) - BASE); /* DSDT, from the FADT */
	for (int i = 0; i < n; i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%.4s.dat", dir, (const char *)tabs[i]);
		FILE *f = fopen(path, "wb");
		if (!f || fwrite(tabs[i], 1, rd(tabs[i] + 4, 4), f) != rd(tabs[i] + 4, 4) ||
		    fclose(f))
			return fprintf(stderr, "cannot write %s\n", path), 1;
	}
	return 0;
}

static Suite *acpi_suite(void)
{
	Suite *s = suite_create("acpi");
	TCase *tc = tcase_create("aml");
	tcase_add_test(tc, test_pkglen);
	tcase_add_test(tc, test_integers);
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_no_bytes);
	tcase_add_test(tc, test_eisaid);
	tcase_add_test(tc, test_constructs);
	tcase_add_test(tc, test_long_package);
	tcase_add_test(tc, test_unbalanced);
	suite_add_tcase(s, tc);
	tc = tcase_create("tables");
	tcase_add_test(tc, test_fadt);
	tcase_add_test(tc, test_madt_1);
	tcase_add_test(tc, test_madt_2);
	tcase_add_test(tc, test_madt_64);
	tcase_add_test(tc, test_dsdt_follows_config);
	tcase_add_test(tc, test_bad_config);
	suite_add_tcase(s, tc);
	tc = tcase_create("registers");
	tcase_add_test(tc, test_power_button);
	tcase_add_test(tc, test_sleep_control);
	tcase_add_test(tc, test_pm_timer_rate);
	tcase_add_test(tc, test_reset_control);
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "--dump"))
		return dump(argv[2], atoi(argv[3]));
	return unit_run(acpi_suite());
}
