/* The ACPI AML writer (loader/aml.c) driven by a byte program: each op calls one writer
 * function with arguments from the input (names and strings of any bytes, integers, resource
 * descriptors, constructs opened and closed in any order, too deep or unbalanced), and the table
 * builder (loader/acpi.c) for a configuration from the input, into a buffer of the size the
 * input gives. Checked: PkgLength encodes what it was given, the finished AML is NULL exactly
 * when the writer was misused, and built tables lie inside the buffer, each with its checksum,
 * found from the RSDP as a guest's ACPICA finds them.
 *
 * Input: a flags byte (AML program or table build), then the program or the configuration. */
#include "fuzz.h"
#include "loader/acpi.h"
#include "loader/aml.h"

static char str[2][2048];

/* A NUL-terminated string of up to 2047 input bytes (a NUL inside ends it early). */
static const char *fuzz_str(struct fuzz_in *in, int which)
{
	size_t n;
	const uint8_t *p = fuzz_bytes(in, fuzz_u16(in) % sizeof(str[0]), &n);
	memcpy(str[which], p, n);
	str[which][n] = '\0';
	return str[which];
}

/* Decodes a PkgLength (ACPI 6.4 §20.2.4). */
static size_t pkglen_decode(const uint8_t *b, size_t n)
{
	if (n == 1)
		return b[0] & 0x3f;
	size_t v = b[0] & 0x0f;
	for (size_t i = 1; i < n; i++)
		v |= (size_t)b[i] << (4 + 8 * (i - 1));
	return v;
}

static void check_pkglen(size_t body)
{
	uint8_t out[4];
	size_t n = aml_pkglen(body, out);
	if (body + 4 >= (size_t)1 << 28) {
		FUZZ_CHECK(n == 0 || pkglen_decode(out, n) == body + n);
		return;
	}
	FUZZ_CHECK(n >= 1 && n <= 4);
	FUZZ_CHECK((size_t)(out[0] >> 6) == n - 1);
	FUZZ_CHECK(pkglen_decode(out, n) == body + n);
}

static void run_aml(struct fuzz_in *in)
{
	struct aml a;
	aml_init(&a);
	int depth = 0; /* what a correct writer tracks too */
	bool misused = false;
	while (fuzz_more(in)) {
		uint8_t op = fuzz_u8(in);
		switch (op % 26) {
		case 0:
			aml_int(&a, fuzz_u64(in));
			break;
		case 1:
			aml_string(&a, fuzz_str(in, 0));
			break;
		case 2:
			aml_namestring(&a, fuzz_str(in, 0));
			break;
		case 3:
			aml_name(&a, fuzz_str(in, 0));
			break;
		case 4: {
			const char *p = fuzz_str(in, 0);
			aml_name_int(&a, p, fuzz_u64(in));
			break;
		}
		case 5: {
			const char *p = fuzz_str(in, 0);
			aml_name_string(&a, p, fuzz_str(in, 1));
			break;
		}
		case 6: {
			const char *p = fuzz_str(in, 0);
			aml_name_eisaid(&a, p, fuzz_str(in, 1));
			break;
		}
		case 7:
			aml_scope(&a, fuzz_str(in, 0));
			depth++;
			break;
		case 8:
			aml_device(&a, fuzz_str(in, 0));
			depth++;
			break;
		case 9: {
			const char *p = fuzz_str(in, 0);
			uint8_t b = fuzz_u8(in);
			aml_method(&a, p, b & 0x7f, b & 0x80);
			depth++;
			break;
		}
		case 10:
			aml_package(&a);
			depth++;
			break;
		case 11:
			aml_buffer(&a);
			depth++;
			break;
		case 12:
			aml_close(&a);
			if (depth == 0)
				misused = true;
			else
				depth--;
			break;
		case 13:
			aml_return(&a);
			break;
		case 14: {
			size_t n;
			const uint8_t *p = fuzz_bytes(in, fuzz_u16(in), &n);
			aml_bytes(&a, p, n);
			break;
		}
		case 15: {
			uint16_t base = fuzz_u16(in);
			aml_res_io(&a, base, fuzz_u8(in));
			break;
		}
		case 16:
			aml_res_irq(&a, fuzz_u32(in));
			break;
		case 17: {
			uint32_t base = fuzz_u32(in);
			aml_res_mem32_fixed(&a, base, fuzz_u32(in));
			break;
		}
		case 18:
			aml_res_edge_interrupt(&a, fuzz_u32(in));
			break;
		case 19: {
			uint16_t lo = fuzz_u16(in);
			aml_res_bus_numbers(&a, lo, fuzz_u16(in));
			break;
		}
		case 20: {
			uint16_t lo = fuzz_u16(in);
			aml_res_io_window(&a, lo, fuzz_u16(in));
			break;
		}
		case 21: {
			uint32_t lo = fuzz_u32(in);
			aml_res_mem32_window(&a, lo, fuzz_u32(in));
			break;
		}
		case 22: {
			uint64_t lo = fuzz_u64(in);
			aml_res_mem64_window(&a, lo, fuzz_u64(in));
			break;
		}
		case 23:
			aml_res_end(&a);
			break;
		case 24:
			check_pkglen(fuzz_u32(in));
			break;
		default: {
			uint32_t v = aml_eisaid(fuzz_str(in, 0));
			(void)v;
			break;
		}
		}
		if (depth > AML_MAX_DEPTH)
			misused = true;
		FUZZ_CHECK(a.len <= a.cap);
		FUZZ_CHECK(a.depth >= 0 && a.depth <= AML_MAX_DEPTH);
	}
	size_t len = 0;
	const uint8_t *out = aml_done(&a, &len);
	if (misused || depth != 0)
		FUZZ_CHECK(out == NULL);
	if (out)
		FUZZ_CHECK(len == a.len && len > 0);
	aml_free(&a);
}

/* The table at guest address gpa inside buf (which lies at base), with its checksum. */
static const struct acpi_table_header *table(const uint8_t *buf, size_t n, uint64_t base,
					     uint64_t gpa, const char *sig)
{
	FUZZ_CHECK(gpa >= base && gpa - base <= n && n - (gpa - base) >= 36);
	const struct acpi_table_header *h = (const void *)(buf + (gpa - base));
	FUZZ_CHECK(memcmp(h->signature, sig, 4) == 0);
	FUZZ_CHECK(h->length >= 36 && h->length <= n - (gpa - base));
	FUZZ_CHECK(acpi_checksum(h, h->length) == 0);
	return h;
}

static void run_acpi(struct fuzz_in *in)
{
	struct acpi_config cfg = {0};
	cfg.ncpus = (int16_t)fuzz_u16(in);
	cfg.ram_top = fuzz_u64(in);
	cfg.pci_slots = fuzz_u32(in);
	cfg.nmmio = (int8_t)fuzz_u8(in);
	for (int i = 0; i < ACPI_MAX_MMIO; i++) {
		cfg.mmio[i].base = fuzz_u64(in);
		cfg.mmio[i].gsi = fuzz_u32(in);
	}
	/* Where the tables lie: below 4 GiB (the FADT's 32-bit DSDT pointer), 16-aligned; kvmm's
	 * own is ACPI_RSDP_ADDR. */
	uint64_t base = fuzz_u32(in) & ~0xfULL;
	size_t cap = fuzz_u32(in) % (128 * 1024 + 1);
	uint8_t *buf = malloc(cap ? cap : 1);
	if (!buf)
		abort();
	size_t n = acpi_build(buf, cap, base, &cfg);
	FUZZ_CHECK(n <= cap);
	if (n) {
		FUZZ_CHECK(cfg.ncpus >= 1 && cfg.ncpus <= ACPI_MAX_CPUS);
		FUZZ_CHECK(n >= 36 && memcmp(buf, "RSD PTR ", 8) == 0);
		FUZZ_CHECK(acpi_checksum(buf, 20) == 0 && acpi_checksum(buf, 36) == 0);
		uint64_t xsdt;
		memcpy(&xsdt, buf + 24, 8);
		const struct acpi_table_header *x = table(buf, n, base, xsdt, "XSDT");
		FUZZ_CHECK(x->length == 36 + 16);
		uint64_t e[2];
		memcpy(e, (const uint8_t *)x + 36, 16);
		const struct acpi_table_header *f = table(buf, n, base, e[0], "FACP");
		table(buf, n, base, e[1], "APIC");
		uint64_t dsdt;
		FUZZ_CHECK(f->length >= 148);
		memcpy(&dsdt, (const uint8_t *)f + 140, 8); /* X_DSDT */
		table(buf, n, base, dsdt, "DSDT");
	}
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	if (fuzz_u8(&in) & 1)
		run_acpi(&in);
	else
		run_aml(&in);
	return 0;
}
