/* The BIOS e820 memory map handed to the guest in the zero page. */
#pragma once

#include <stdint.h>

#include "vmm/guest_mem.h"

#define E820_RAM      1
#define E820_RESERVED 2

/* As many as the zero page holds. */
#define E820_MAX 128

/* Base memory ends where the BIOS data it would describe begins: the last KiB below 640 KiB
 * (where the MP table lives) up to 1 MiB is reserved, as on a PC. */
#define E820_BASE_MEM_END 0x9fc00ULL
#define E820_HIGH_MEM	  0x100000ULL

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

struct e820_map {
	int n;
	struct e820_entry e[E820_MAX];
};

/* Appends one range; ranges must come in ascending, non-overlapping order. Returns 0, or -1 for
 * an empty range, overlap, disorder or a full table. */
int e820_add(struct e820_map *map, uint64_t addr, uint64_t size, uint32_t type);

/* Puts one range where it belongs in an ordered map (a device's reserved memory in a gap).
 * Returns 0, or -1 for an empty range, overlap or a full table. */
int e820_insert(struct e820_map *map, uint64_t addr, uint64_t size, uint32_t type);

/* The map for guest memory laid out as mem describes (RAM regions, the PCI hole as a gap).
 * Returns 0, or -1 when RAM is too small to hold base memory and 1 MiB. */
int e820_build(struct e820_map *map, const struct gmem_region *regions, int nregions);
