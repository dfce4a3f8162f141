/* Every kernel format kvmm boots, behind one interface: a bzImage whose compressed payload kvmm
 * unpacks on the host (cached) and enters at the kernel's own 64-bit entry, a bzImage booted the
 * classic way (its decompressor runs in the guest), and an ELF vmlinux through its PVH note or
 * its 64-bit entry with a zero page. kernel_open() runs once per process; kernel_load() at every
 * boot, resets included. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "loader/bzimage.h"
#include "loader/decompress.h"
#include "loader/elf.h"
#include "loader/kernel_cache.h"

/* The guest-physical page holding PVH's hvm_start_info, its module list and memory map. */
#define BOOT_PVH_INFO_ADDR 0x6000ULL
/* x86's COMMAND_LINE_SIZE, for kernels whose header does not say. */
#define BOOT_ELF_CMDLINE_MAX 2047U

enum kernel_boot_mode {
	KERNEL_BOOT_DIRECT = 0, /* bzImage: unpack on the host when kvmm can, else classic */
	KERNEL_BOOT_CLASSIC,	/* bzImage: the guest runs the kernel's own decompressor */
};

enum kernel_kind {
	KERNEL_BZIMAGE_CLASSIC,
	KERNEL_BZIMAGE_DIRECT, /* payload unpacked on the host, entered at startup_64 */
	KERNEL_ELF64,	       /* vmlinux without a PVH note: 64-bit entry with a zero page */
	KERNEL_ELF_PVH,	       /* vmlinux through XEN_ELFNOTE_PHYS32_ENTRY */
};

struct kernel_file {
	const uint8_t *data; /* the whole file; it must outlive the kernel_image */
	size_t len;
	const struct stat *st; /* for the cache's key; NULL: no cache */
	int64_t read_ns;       /* CLOCK_REALTIME just before the file was read */
};

struct kernel_options {
	enum kernel_boot_mode mode;
	const char *cache_dir; /* NULL: decompress in memory only */
};

struct kernel_image {
	enum kernel_kind kind;
	const uint8_t *file;
	size_t file_len;
	bool has_bz; /* a bzImage: its setup header goes into the zero page */
	struct bzimage bz;
	const uint8_t *elf; /* the ELF loaded: the file itself, or the unpacked payload */
	size_t elf_len;
	struct elf_kernel ek;
	uint32_t cmdline_max; /* longest command line, without the NUL */
	enum kcomp comp;
	char how[256];		   /* how it boots and why, for -v and the boot timeline */
	uint8_t *unpacked;	   /* owned: the payload unpacked in memory */
	struct kcache_entry cache; /* or: the cache's mapping */
};

/* Recognises and checks the kernel (bad input gets err naming what is wrong), and for a bzImage
 * in direct mode unpacks its payload or takes it from the cache. A payload kvmm cannot unpack is
 * booted the classic way (how says why). Returns 0, or -1 with a reason in err. */
int kernel_open(struct kernel_image *k, const struct kernel_file *f, const struct kernel_options *o,
		char *err, size_t errlen);

/* Returns 0 when the kernel accepts this command line, or -1 after printing why. */
int kernel_check_cmdline(const struct kernel_image *k, const char *cmdline);

/* Puts kernel, command line, initrd and boot tables (zero page with its e820 map, or PVH's start
 * info) in guest memory. Returns 0, or -1 after printing a one-line error. */
int kernel_load(const struct guest_mem *mem, const struct boot_config *cfg,
		struct boot_layout *out);

/* After a load: lets go of the memory the unpacked kernel holds where it can come back. */
void kernel_loaded(const struct kernel_image *k);

void kernel_close(struct kernel_image *k);

const char *kernel_kind_name(enum kernel_kind kind);
