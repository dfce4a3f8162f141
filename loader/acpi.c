#include "acpi.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "aml.h"
#include "devices/acpi_pm.h"
#include "devices/framebuffer.h"
#include "devices/i8042.h"
#include "devices/pci.h"
#include "devices/rtc.h"
#include "devices/serial.h"
#include "devices/virtio_mmio.h"
#include "mptable.h"
#include "vmm/log.h"

#define OEM_ID	     "KVMM  "
#define OEM_TABLE_ID "KVMMBRD "
#define CREATOR_ID   "KVMM"

struct acpi_rsdp {
	char signature[8];
	uint8_t checksum; /* of the first 20 bytes */
	char oem_id[6];
	uint8_t revision;
	uint32_t rsdt_address;
	uint32_t length;
	uint64_t xsdt_address;
	uint8_t extended_checksum;
	uint8_t reserved[3];
} __attribute__((packed));

/* Generic Address Structure (ACPI 6.4 §5.2.3.2). */
struct acpi_gas {
	uint8_t space_id;
	uint8_t bit_width;
	uint8_t bit_offset;
	uint8_t access_size;
	uint64_t address;
} __attribute__((packed));

#define GAS_SYSTEM_IO 1
#define GAS_BYTE      1

/* FADT revision 6 (ACPI 6.4 §5.2.9). */
struct acpi_fadt {
	struct acpi_table_header h;
	uint32_t firmware_ctrl;
	uint32_t dsdt;
	uint8_t reserved0;
	uint8_t preferred_pm_profile;
	uint16_t sci_int;
	uint32_t smi_cmd;
	uint8_t acpi_enable, acpi_disable, s4bios_req, pstate_cnt;
	uint32_t pm1a_evt_blk, pm1b_evt_blk, pm1a_cnt_blk, pm1b_cnt_blk, pm2_cnt_blk, pm_tmr_blk;
	uint32_t gpe0_blk, gpe1_blk;
	uint8_t pm1_evt_len, pm1_cnt_len, pm2_cnt_len, pm_tmr_len;
	uint8_t gpe0_blk_len, gpe1_blk_len, gpe1_base, cst_cnt;
	uint16_t p_lvl2_lat, p_lvl3_lat, flush_size, flush_stride;
	uint8_t duty_offset, duty_width, day_alrm, mon_alrm, century;
	uint16_t iapc_boot_arch;
	uint8_t reserved1;
	uint32_t flags;
	struct acpi_gas reset_reg;
	uint8_t reset_value;
	uint16_t arm_boot_arch;
	uint8_t minor_version;
	uint64_t x_firmware_ctrl, x_dsdt;
	struct acpi_gas x_pm1a_evt_blk, x_pm1b_evt_blk, x_pm1a_cnt_blk, x_pm1b_cnt_blk;
	struct acpi_gas x_pm2_cnt_blk, x_pm_tmr_blk, x_gpe0_blk, x_gpe1_blk;
	struct acpi_gas sleep_control_reg, sleep_status_reg;
	uint64_t hypervisor_vendor_id;
} __attribute__((packed));

_Static_assert(sizeof(struct acpi_fadt) == 276, "FADT revision 6 is 276 bytes");

/* FADT flags and IA-PC boot architecture flags. */
#define FADT_WBINVD	    (1u << 0)
#define FADT_PROC_C1	    (1u << 2)
#define FADT_SLP_BUTTON	    (1u << 5) /* no fixed-feature sleep button; the power button is */
#define FADT_TMR_VAL_EXT    (1u << 8)
#define FADT_RESET_REG_SUP  (1u << 10)
#define BOOT_LEGACY_DEVICES (1u << 0)
#define BOOT_8042	    (1u << 1)
#define BOOT_NO_VGA	    (1u << 2)

struct acpi_facs {
	char signature[4];
	uint32_t length;
	uint32_t hardware_signature;
	uint32_t firmware_waking_vector;
	uint32_t global_lock;
	uint32_t flags;
	uint64_t x_firmware_waking_vector;
	uint8_t version;
	uint8_t reserved[3];
	uint32_t ospm_flags;
	uint8_t reserved2[24];
} __attribute__((packed));

_Static_assert(sizeof(struct acpi_facs) == 64, "FACS is 64 bytes");

struct madt_lapic {
	uint8_t type, length, processor_uid, apic_id;
	uint32_t flags;
} __attribute__((packed));

struct madt_ioapic {
	uint8_t type, length, ioapic_id, reserved;
	uint32_t address, gsi_base;
} __attribute__((packed));

struct madt_override {
	uint8_t type, length, bus, source;
	uint32_t gsi;
	uint16_t flags;
} __attribute__((packed));

struct madt_lapic_nmi {
	uint8_t type, length, processor_uid;
	uint16_t flags;
	uint8_t lint;
} __attribute__((packed));

#define MADT_PCAT_COMPAT    1 /* the dual 8259 is there too */
#define MADT_LAPIC_ENABLED  1
#define MADT_ACTIVE_HIGH    0x1
#define MADT_LEVEL	    (0x3 << 2)
#define MADT_ALL_PROCESSORS 0xff

uint8_t acpi_checksum(const void *p, size_t len)
{
	uint8_t sum = 0;
	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + ((const uint8_t *)p)[i]);
	return (uint8_t)-sum;
}

/* Tables are laid out one after the other, each aligned; out of room sets full. */
struct layout {
	uint8_t *buf;
	size_t cap, used;
	uint64_t base;
	bool full;
};

static uint8_t *place(struct layout *l, size_t len, size_t align, uint64_t *gpa)
{
	size_t at = (l->used + align - 1) & ~(align - 1);
	if (l->full || at > l->cap || len > l->cap - at) {
		l->full = true;
		return NULL;
	}
	memset(l->buf + at, 0, len);
	l->used = at + len;
	*gpa = l->base + at;
	return l->buf + at;
}

static void header(struct acpi_table_header *h, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(h->signature, sig, 4);
	h->length = len;
	h->revision = rev;
	memcpy(h->oem_id, OEM_ID, 6);
	memcpy(h->oem_table_id, OEM_TABLE_ID, 8);
	h->oem_revision = 1;
	memcpy(h->creator_id, CREATOR_ID, 4);
	h->creator_revision = 1;
}

static void seal(struct acpi_table_header *h)
{
	h->checksum = 0;
	h->checksum = acpi_checksum(h, h->length);
}

static struct acpi_gas io_gas(uint16_t port, unsigned len)
{
	return (struct acpi_gas){
	    .space_id = GAS_SYSTEM_IO, .bit_width = (uint8_t)(8 * len), .address = port};
}

static void crs_io_irq(struct aml *a, uint16_t port, uint8_t len, unsigned irq)
{
	aml_name(a, "_CRS");
	aml_buffer(a);
	aml_res_io(a, port, len);
	aml_res_irq(a, irq);
	aml_res_end(a);
	aml_close(a);
}

/* The 64-bit PCI window: from above RAM (at least 4 GiB), 1 GiB aligned, 64 GiB long, below
 * 2^39, the smallest physical address width of current x86-64 CPUs (some Intel client parts);
 * with more RAM than leaves room for it there is no 64-bit window and BARs go below 4 GiB. */
#define WIN64_ALIGN (1ULL << 30)
#define WIN64_SIZE  (64ULL << 30)
#define WIN64_LIMIT (1ULL << 39)

static void pci_root_bridge(struct aml *a, const struct acpi_config *cfg)
{
	aml_device(a, "PCI0");
	aml_name_eisaid(a, "_HID", "PNP0A03");
	aml_name_int(a, "_UID", 0);
	aml_name_int(a, "_SEG", 0);
	aml_name_int(a, "_BBN", 0);
	aml_name_int(a, "_ADR", 0);
	aml_name(a, "_CRS");
	aml_buffer(a);
	aml_res_bus_numbers(a, 0, 0xff);
	aml_res_io(a, PCI_CONFIG_ADDRESS, 8);
	aml_res_io_window(a, 0x0000, PCI_CONFIG_ADDRESS - 1);
	aml_res_io_window(a, PCI_CONFIG_ADDRESS + 8, 0xffff);
	/* The PCI hole up to the framebuffer's place (then the virtio-mmio devices, the IOAPIC
	 * and local APICs), whether or not there is a display: BARs never move with an option. */
	aml_res_mem32_window(a, (uint32_t)GMEM_HOLE_START, (uint32_t)FB_BASE - 1);
	uint64_t top = cfg->ram_top > GMEM_HOLE_END ? cfg->ram_top : GMEM_HOLE_END;
	uint64_t lo = (top + WIN64_ALIGN - 1) & ~(WIN64_ALIGN - 1);
	if (lo + WIN64_SIZE <= WIN64_LIMIT)
		aml_res_mem64_window(a, lo, lo + WIN64_SIZE - 1);
	aml_res_end(a);
	aml_close(a);
	/* INTA# of each device, to the IOAPIC pin the MP table also names (no link devices). */
	aml_name(a, "_PRT");
	aml_package(a);
	for (unsigned slot = 1; slot < PCI_MAX_DEVICES; slot++) {
		if (!(cfg->pci_slots & (1u << slot)))
			continue;
		aml_package(a);
		aml_int(a, (uint64_t)slot << 16 | 0xffff);
		aml_int(a, 0); /* INTA# */
		aml_int(a, 0); /* no link device: the next field is a GSI */
		aml_int(a, pci_intx_gsi(slot));
		aml_close(a);
	}
	aml_close(a);
	aml_close(a);
}

static void build_dsdt(struct aml *a, const struct acpi_config *cfg)
{
	aml_scope(a, "\\_SB");
	pci_root_bridge(a, cfg);

	aml_device(a, "COM1");
	aml_name_eisaid(a, "_HID", "PNP0501");
	aml_name_int(a, "_UID", 1);
	crs_io_irq(a, SERIAL_COM1_BASE, SERIAL_NREGS, SERIAL_COM1_IRQ);
	aml_close(a);

	aml_device(a, "KBD");
	aml_name_eisaid(a, "_HID", "PNP0303");
	aml_name(a, "_CRS");
	aml_buffer(a);
	aml_res_io(a, I8042_DATA_PORT, 1);
	aml_res_io(a, I8042_COMMAND_PORT, 1);
	aml_res_irq(a, I8042_KBD_IRQ);
	aml_res_end(a);
	aml_close(a);
	aml_close(a);

	aml_device(a, "RTC");
	aml_name_eisaid(a, "_HID", "PNP0B00");
	crs_io_irq(a, RTC_INDEX_PORT, RTC_NPORTS, RTC_IRQ);
	aml_close(a);

	/* virtio-mmio devices: how a kernel without VIRTIO_MMIO_CMDLINE_DEVICES (Debian's)
	 * finds them, as with QEMU's microvm. */
	for (int i = 0; i < cfg->nmmio; i++) {
		char name[5];
		snprintf(name, sizeof(name), "VR%02X", (unsigned)i & 0xff);
		aml_device(a, name);
		aml_name_string(a, "_HID", "LNRO0005");
		aml_name_int(a, "_UID", (uint64_t)i);
		aml_name(a, "_CRS");
		aml_buffer(a);
		aml_res_mem32_fixed(a, (uint32_t)cfg->mmio[i].base, (uint32_t)VIRTIO_MMIO_SIZE);
		aml_res_edge_interrupt(a, cfg->mmio[i].gsi);
		aml_res_end(a);
		aml_close(a);
		aml_close(a);
	}

	/* One processor device per vCPU; _UID matches the MADT's processor UID. */
	for (int i = 0; i < cfg->ncpus; i++) {
		char name[5];
		snprintf(name, sizeof(name), "C%03X", (unsigned)i & 0xfff);
		aml_device(a, name);
		aml_name_string(a, "_HID", "ACPI0007");
		aml_name_int(a, "_UID", (uint64_t)i);
		aml_close(a);
	}
	aml_close(a);

	/* \_S5: SLP_TYPa, SLP_TYPb and two reserved fields. */
	aml_name(a, "\\_S5");
	aml_package(a);
	aml_int(a, ACPI_S5_SLP_TYP);
	aml_int(a, ACPI_S5_SLP_TYP);
	aml_int(a, 0);
	aml_int(a, 0);
	aml_close(a);
}

static bool put_dsdt(struct layout *l, const struct acpi_config *cfg, uint64_t *gpa)
{
	struct aml a;
	aml_init(&a);
	build_dsdt(&a, cfg);
	size_t n;
	const uint8_t *aml = aml_done(&a, &n);
	uint8_t *t = aml ? place(l, sizeof(struct acpi_table_header) + n, 16, gpa) : NULL;
	if (t) {
		struct acpi_table_header *h = (struct acpi_table_header *)t;
		header(h, "DSDT", (uint32_t)(sizeof(*h) + n), 2); /* 2: 64-bit integers */
		memcpy(t + sizeof(*h), aml, n);
		seal(h);
	}
	aml_free(&a);
	return t != NULL;
}

static bool put_madt(struct layout *l, const struct acpi_config *cfg, uint64_t *gpa)
{
	size_t len = sizeof(struct acpi_table_header) + 8 +
		     (size_t)cfg->ncpus * sizeof(struct madt_lapic) + sizeof(struct madt_ioapic) +
		     2 * sizeof(struct madt_override) + sizeof(struct madt_lapic_nmi);
	uint8_t *t = place(l, len, 16, gpa);
	if (!t)
		return false;
	struct acpi_table_header *h = (struct acpi_table_header *)t;
	header(h, "APIC", (uint32_t)len, 5);
	uint8_t *p = t + sizeof(*h);
	uint32_t lapic = MP_LAPIC_ADDR, flags = MADT_PCAT_COMPAT;
	memcpy(p, &lapic, 4);
	memcpy(p + 4, &flags, 4);
	p += 8;
	for (int i = 0; i < cfg->ncpus; i++) {
		struct madt_lapic e = {0, sizeof(e), (uint8_t)i, (uint8_t)i, MADT_LAPIC_ENABLED};
		memcpy(p, &e, sizeof(e));
		p += sizeof(e);
	}
	struct madt_ioapic io = {1, sizeof(io),	    mptable_ioapic_id(cfg->ncpus),
				 0, MP_IOAPIC_ADDR, 0};
	memcpy(p, &io, sizeof(io));
	p += sizeof(io);
	/* KVM wires ISA IRQ n to IOAPIC pin n, the PIT's IRQ0 included (not pin 2 as on PCs),
	 * as the MP table says too; the SCI is a level-triggered, active-high ISA interrupt. */
	struct madt_override ovr[2] = {
	    {2, sizeof(ovr[0]), 0, 0, 0, 0},
	    {2, sizeof(ovr[0]), 0, ACPI_SCI_IRQ, ACPI_SCI_IRQ, MADT_ACTIVE_HIGH | MADT_LEVEL},
	};
	memcpy(p, ovr, sizeof(ovr));
	p += sizeof(ovr);
	struct madt_lapic_nmi nmi = {4, sizeof(nmi), MADT_ALL_PROCESSORS, 0, 1};
	memcpy(p, &nmi, sizeof(nmi));
	seal(h);
	return true;
}

static bool put_fadt(struct layout *l, uint64_t facs, uint64_t dsdt, uint64_t *gpa)
{
	struct acpi_fadt *f = (struct acpi_fadt *)place(l, sizeof(*f), 16, gpa);
	if (!f)
		return false;
	header(&f->h, "FACP", sizeof(*f), 6);
	/* The FACS only in the 64-bit field: ACPICA installs it once for each field that is set. */
	f->x_firmware_ctrl = facs;
	f->dsdt = (uint32_t)dsdt;
	f->x_dsdt = dsdt;
	f->sci_int = ACPI_SCI_IRQ;
	/* No SMI_CMD: always in ACPI mode, nothing to hand over from a firmware. */
	f->pm1a_evt_blk = ACPI_PM1_EVT;
	f->pm1a_cnt_blk = ACPI_PM1_CNT;
	f->pm_tmr_blk = ACPI_PM_TMR;
	f->pm1_evt_len = ACPI_PM1_EVT_LEN;
	f->pm1_cnt_len = ACPI_PM1_CNT_LEN;
	f->pm_tmr_len = ACPI_PM_TMR_LEN;
	f->x_pm1a_evt_blk = io_gas(ACPI_PM1_EVT, ACPI_PM1_EVT_LEN);
	f->x_pm1a_cnt_blk = io_gas(ACPI_PM1_CNT, ACPI_PM1_CNT_LEN);
	f->x_pm_tmr_blk = io_gas(ACPI_PM_TMR, ACPI_PM_TMR_LEN);
	/* Latencies above 100 and 1000 us: no C2, no C3 (a guest idles with HLT). */
	f->p_lvl2_lat = 101;
	f->p_lvl3_lat = 1001;
	f->century = RTC_CENTURY;
	f->iapc_boot_arch = BOOT_LEGACY_DEVICES | BOOT_8042 | BOOT_NO_VGA;
	f->flags =
	    FADT_WBINVD | FADT_PROC_C1 | FADT_SLP_BUTTON | FADT_TMR_VAL_EXT | FADT_RESET_REG_SUP;
	f->reset_reg = io_gas(ACPI_RESET_PORT, 1);
	f->reset_reg.access_size = GAS_BYTE;
	f->reset_value = ACPI_RESET_VALUE;
	f->minor_version = 0;
	seal(&f->h);
	return true;
}

size_t acpi_build(uint8_t *buf, size_t cap, uint64_t base, const struct acpi_config *cfg)
{
	if (cfg->ncpus < 1 || cfg->ncpus > ACPI_MAX_CPUS || cfg->nmmio < 0 ||
	    cfg->nmmio > ACPI_MAX_MMIO)
		return 0;
	struct layout l = {.buf = buf, .cap = cap, .base = base};
	uint64_t rsdp_gpa, xsdt, fadt, facs, madt, dsdt;
	struct acpi_rsdp *rsdp = (struct acpi_rsdp *)place(&l, sizeof(*rsdp), 16, &rsdp_gpa);
	const size_t xsdt_len = sizeof(struct acpi_table_header) + 2 * 8;
	uint8_t *x = place(&l, xsdt_len, 16, &xsdt);
	struct acpi_facs *fc = (struct acpi_facs *)place(&l, sizeof(*fc), 64, &facs);
	if (!rsdp || !x || !fc || !put_dsdt(&l, cfg, &dsdt) || !put_madt(&l, cfg, &madt) ||
	    !put_fadt(&l, facs, dsdt, &fadt))
		return 0;

	memcpy(fc->signature, "FACS", 4);
	fc->length = sizeof(*fc);
	fc->version = 2;

	struct acpi_table_header *xh = (struct acpi_table_header *)x;
	header(xh, "XSDT", (uint32_t)xsdt_len, 1);
	uint64_t entries[2] = {fadt, madt};
	memcpy(x + sizeof(*xh), entries, sizeof(entries));
	seal(xh);

	memcpy(rsdp->signature, "RSD PTR ", 8);
	memcpy(rsdp->oem_id, OEM_ID, 6);
	rsdp->revision = 2;
	rsdp->length = sizeof(*rsdp);
	rsdp->xsdt_address = xsdt;
	rsdp->checksum = acpi_checksum(rsdp, 20);
	rsdp->extended_checksum = acpi_checksum(rsdp, sizeof(*rsdp));
	return l.used;
}

int acpi_write(const struct guest_mem *mem, const struct acpi_config *cfg)
{
	size_t cap = ACPI_AREA_END - ACPI_RSDP_ADDR;
	uint8_t *buf = gmem_ptr(mem, ACPI_RSDP_ADDR, cap);
	if (!buf || acpi_build(buf, cap, ACPI_RSDP_ADDR, cfg) == 0) {
		log_error("cannot build the ACPI tables for %d vCPUs", cfg->ncpus);
		return -1;
	}
	return 0;
}
