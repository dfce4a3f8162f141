/* ELF kernels (vmlinux, and the ELF inside a bzImage's payload): the PT_LOAD segments placed at
 * their physical addresses, and the PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY) when present. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/guest_mem.h"

#define ELF_MAX_SEGMENTS 16
#define ELF_MAX_PHDRS	 64

struct elf_segment {
	uint64_t offset; /* in the file */
	uint64_t paddr;
	uint64_t filesz;
	uint64_t memsz; /* >= filesz; the rest is zeroed (bss) */
};

struct elf_kernel {
	bool is64;	    /* ELFCLASS64, x86-64; else ELFCLASS32, i386 */
	uint64_t entry;	    /* e_entry: physical for a Linux vmlinux (phys_startup_64) */
	uint64_t pvh_entry; /* 32-bit PVH entry, 0 when the kernel has no such note */
	int nseg;
	struct elf_segment seg[ELF_MAX_SEGMENTS];
	uint64_t start, end; /* lowest physical address loaded, first byte above all of them */
};

/* True when the image starts with the ELF magic. */
bool elf_is_elf(const uint8_t *image, size_t len);

/* Checks an ELF kernel of len bytes: x86-64 or i386, program headers and every PT_LOAD segment
 * inside the file, segments at or above 1 MiB (below is kvmm's boot area), none overlapping
 * another, no address that wraps. Returns 0, or -1 with a short reason in err. */
int elf_parse(const uint8_t *image, size_t len, struct elf_kernel *k, char *err, size_t errlen);

/* Copies the segments into guest memory and zeroes their bss. Returns 0, or -1 with a reason
 * (a segment outside RAM) in err. */
int elf_load(const struct guest_mem *mem, const struct elf_kernel *k, const uint8_t *image,
	     char *err, size_t errlen);
