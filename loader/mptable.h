/* Intel MultiProcessor Specification 1.4 tables: with no ACPI, this is how Linux finds every vCPU,
 * the IOAPIC and how ISA interrupts are wired to it. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "vmm/guest_mem.h"

/* In the reserved last KiB of base memory, one of the places Linux scans for "_MP_". */
#define MPTABLE_ADDR 0x9fc00ULL

#define MP_IOAPIC_ADDR 0xfec00000U
#define MP_LAPIC_ADDR  0xfee00000U
#define MP_IOAPIC_PINS 24
#define MP_ISA_IRQS    16

/* 8-bit APIC IDs, one taken by the IOAPIC and 0xff meaning broadcast. */
#define MPTABLE_MAX_CPUS 254

/* Bytes the tables for ncpus take. */
size_t mptable_size(int ncpus);

/* Builds floating pointer and configuration table into buf as if buf sat at guest address base.
 * Returns the bytes written, or 0 when ncpus is out of range or buf is too small. */
size_t mptable_build(uint8_t *buf, size_t buflen, uint64_t base, int ncpus);

/* Writes them at MPTABLE_ADDR. Returns 0 or -1. */
int mptable_write(const struct guest_mem *mem, int ncpus);

/* The IOAPIC's APIC ID: the first one after the CPUs'. */
static inline uint8_t mptable_ioapic_id(int ncpus)
{
	return (uint8_t)ncpus;
}
