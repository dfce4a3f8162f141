/* The Linux x86 boot protocol (Documentation/arch/x86/boot.rst): validating a bzImage's setup
 * header and placing kernel, command line, initrd and zero page in guest memory. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/guest_mem.h"

/* Guest-physical layout of what the loader writes below 1 MiB. */
#define BOOT_GDT_ADDR	    0x500ULL
#define BOOT_ZERO_PAGE_ADDR 0x7000ULL
#define BOOT_STACK_ADDR	    0x8ff0ULL
#define BOOT_PML4_ADDR	    0x9000ULL /* then PDPT and four PDs: identity map of 4 GiB */
#define BOOT_CMDLINE_ADDR   0x20000ULL
#define BOOT_CMDLINE_MAX    0x10000ULL
#define BOOT_KERNEL_ADDR    0x100000ULL

struct bzimage {
	uint16_t version;	  /* boot protocol, e.g. 0x020f */
	size_t setup_size;	  /* bytes of real-mode setup, including the boot sector */
	size_t kernel_offset;	  /* file offset of the protected-mode kernel */
	size_t kernel_size;	  /* its length */
	uint32_t cmdline_size;	  /* longest command line the kernel accepts, without the NUL */
	uint32_t initrd_addr_max; /* highest address an initrd byte may occupy */
	uint64_t pref_address;	  /* where the kernel wants to run (it relocates itself there) */
	uint32_t init_size;	  /* bytes it needs from there while decompressing */
	bool entry64;		  /* has a 64-bit entry point at load address + 0x200 */
	bool relocatable;	  /* runs anywhere; else only from pref_address */
	size_t payload_offset;	  /* file offset of the compressed vmlinux (2.08+), 0 if unknown */
	size_t payload_length;
};

/* Checks the setup header of a bzImage image of len bytes. Returns 0, or -1 with a short reason in
 * err (e.g. "no HdrS signature") that the caller prefixes with the file name. */
int bzimage_parse(const uint8_t *image, size_t len, struct bzimage *bz, char *err, size_t errlen);

struct kernel_image;

struct screen_info;

struct boot_config {
	const struct kernel_image *kernel;
	const uint8_t *initrd; /* NULL for none */
	size_t initrd_len;
	const char *cmdline;
	uint64_t rsdp; /* the ACPI RSDP's address, 0 for none */
	/* A linear framebuffer for the zero page (NULL: none; PVH has no place for one), and the
	 * guest-physical range it takes, marked reserved in e820. */
	const struct screen_info *screen;
	uint64_t fb_base, fb_size;
};

/* Where the loader put things; the vCPU setup needs entry and zero page. */
struct boot_layout {
	uint64_t entry; /* first instruction */
	bool entry64;	/* 64-bit mode with identity paging; else 32-bit protected, paging off */
	uint64_t zero_page;  /* in %rsi: boot_params */
	uint64_t start_info; /* in %rbx: PVH's hvm_start_info, 0 for other entries */
	uint64_t initrd_addr;
	uint64_t kernel_end; /* first byte above everything the kernel occupies while booting */
};

/* Highest-placed initrd address below min(ram_low_end, addr_max + 1), above kernel_end; pure,
 * for tests. Returns the chosen address or 0 when it does not fit. */
uint64_t boot_place_initrd(uint64_t addr_max, uint64_t ram_low_end, uint64_t initrd_len,
			   uint64_t kernel_end);

/* Copies the protected-mode kernel to 1 MiB, where its own decompressor runs (the classic boot).
 * Fills entry, entry64, kernel_end. Returns 0, or -1 after printing a one-line error. */
int bzimage_load_classic(const struct guest_mem *mem, const struct bzimage *bz,
			 const uint8_t *image, struct boot_layout *out);

/* Bytes of setup header the image carries from 0x1f1, at most sizeof(struct setup_header). */
size_t bzimage_header_len(const uint8_t *image, size_t len);
