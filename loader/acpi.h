/* ACPI tables for the board kvmm builds, written at every power-on: RSDP (where Linux's scan of
 * 0xE0000-0xFFFFF finds it, and in boot_params/PVH's start info), XSDT, FADT (PC fixed-feature
 * hardware: devices/acpi_pm.h, the reset register at 0xCF9), FACS, MADT and a DSDT with the PCI
 * root bridge, COM1, the i8042, the RTC, a processor device per vCPU and \_S5. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "vmm/guest_mem.h"

#define ACPI_RSDP_ADDR 0xe0000ULL
#define ACPI_AREA_END  0x100000ULL /* the tables stay in the BIOS area e820 reserves */
#define ACPI_MAX_CPUS  254
#define ACPI_MAX_MMIO  8

/* The reset register (FADT RESET_REG): the PC's reset control at 0xCF9, value RST_CPU|SYS_RST. */
#define ACPI_RESET_PORT	 0xcf9
#define ACPI_RESET_VALUE 0x06

struct acpi_config {
	int ncpus;
	uint64_t ram_top;   /* one past the highest RAM byte: the 64-bit PCI window starts above */
	uint32_t pci_slots; /* bit n: a device in PCI slot n, whose INTA# _PRT routes */
	int nmmio; /* virtio-mmio devices (LNRO0005), each a 4 KiB window and an edge IRQ */
	struct {
		uint64_t base;
		unsigned gsi;
	} mmio[ACPI_MAX_MMIO];
};

struct acpi_table_header {
	char signature[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	char creator_id[4];
	uint32_t creator_revision;
} __attribute__((packed));

/* Builds every table into buf as it will lie at guest address base (RSDP first). Returns the
 * bytes used, or 0 when they do not fit in cap or the configuration cannot be described. */
size_t acpi_build(uint8_t *buf, size_t cap, uint64_t base, const struct acpi_config *cfg);
/* acpi_build at ACPI_RSDP_ADDR in guest memory; 0, or -1 after printing why. */
int acpi_write(const struct guest_mem *mem, const struct acpi_config *cfg);

/* The 8-bit sum that makes len bytes sum to zero. */
uint8_t acpi_checksum(const void *p, size_t len);
