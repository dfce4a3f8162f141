#include "kernel.h"

#include <asm/bootparam.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "e820.h"
#include "vmm/log.h"

#define LOADER_TYPE_UNDEFINED 0xff
#define HDRS_MAGIC	      0x53726448
#define ELF_INITRD_ADDR_MAX   0x7fffffffULL
/* The unpacked kernel may not be bigger than this (Debian's is 66 MB). */
#define UNPACK_MAX (1ULL << 30)

/* xen/include/public/arch-x86/hvm/start_info.h, version 1. */
#define HVM_START_MAGIC 0x336ec578U
struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};
struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};
struct hvm_memmap_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};
#define PVH_MODLIST_ADDR (BOOT_PVH_INFO_ADDR + 0x40)
#define PVH_MEMMAP_ADDR	 (BOOT_PVH_INFO_ADDR + 0x80)

const char *kernel_kind_name(enum kernel_kind kind)
{
	switch (kind) {
	case KERNEL_BZIMAGE_CLASSIC:
		return "bzImage, classic";
	case KERNEL_BZIMAGE_DIRECT:
		return "bzImage, direct";
	case KERNEL_ELF64:
		return "ELF, 64-bit entry";
	default:
		return "ELF, PVH entry";
	}
}

/* The bzImage's payload as an ELF: from the cache, else unpacked (and stored). Returns 0, or -1
 * with why: the caller then boots it the classic way. */
static int unpack_payload(struct kernel_image *k, const struct kernel_file *f,
			  const struct kernel_options *o, char *why, size_t whylen)
{
	const uint8_t *payload = f->data + k->bz.payload_offset;
	size_t plen = k->bz.payload_length;
	if (!plen)
		return err_set(why, whylen,
			       "its header does not locate the payload (protocol < 2.08)");
	k->comp = kcomp_detect(payload, plen);
	struct kcache_id id;
	char cwhy[256] = "";
	bool cache = o->cache_dir && f->st;
	if (cache) {
		kcache_id_from_stat(&id, f->st);
		int hit = kcache_lookup(o->cache_dir, &id, f->read_ns, f->data, f->len, &k->cache,
					cwhy, sizeof(cwhy));
		if (hit < 0)
			log_debug("kernel cache: %s", cwhy);
		if (hit > 0) {
			k->elf = k->cache.elf;
			k->elf_len = k->cache.elf_len;
			snprintf(k->how, sizeof(k->how),
				 "%s payload unpacked on the host, from the "
				 "cache",
				 kcomp_name(k->comp));
			return 0;
		}
	}
	size_t out_len;
	if (kcomp_decompress(k->comp, payload, plen, UNPACK_MAX, &k->unpacked, &out_len, why,
			     whylen) < 0)
		return -1;
	k->elf = k->unpacked;
	k->elf_len = out_len;
	snprintf(k->how, sizeof(k->how), "%s payload unpacked on the host (%zu KiB)",
		 kcomp_name(k->comp), out_len >> 10);
	if (cache) {
		/* Only an ELF that loads is worth keeping. */
		struct elf_kernel ek;
		char e[128];
		if (elf_parse(k->elf, k->elf_len, &ek, e, sizeof(e)) == 0 &&
		    kcache_store(o->cache_dir, &id, f->read_ns, f->data, f->len, k->elf, k->elf_len,
				 KCACHE_MAX_BYTES, cwhy, sizeof(cwhy)) == 0) {
			strncat(k->how, ", cached", sizeof(k->how) - strlen(k->how) - 1);
			/* From now on the cache's mapping: memory the kernel can take back. */
			if (kcache_lookup(o->cache_dir, &id, f->read_ns, f->data, f->len, &k->cache,
					  cwhy, sizeof(cwhy)) > 0) {
				free(k->unpacked);
				k->unpacked = NULL;
				k->elf = k->cache.elf;
				k->elf_len = k->cache.elf_len;
			}
		} else if (cwhy[0]) {
			log_debug("kernel cache: not stored: %s", cwhy);
		}
	}
	return 0;
}

static void drop_unpacked(struct kernel_image *k)
{
	free(k->unpacked);
	k->unpacked = NULL;
	kcache_release(&k->cache);
	k->elf = NULL;
	k->elf_len = 0;
}

static int open_bzimage(struct kernel_image *k, const struct kernel_file *f,
			const struct kernel_options *o, char *err, size_t errlen)
{
	if (bzimage_parse(f->data, f->len, &k->bz, err, errlen) < 0)
		return -1;
	k->has_bz = true;
	k->cmdline_max = k->bz.cmdline_size;
	k->kind = KERNEL_BZIMAGE_CLASSIC;
	if (o->mode == KERNEL_BOOT_CLASSIC) {
		snprintf(k->how, sizeof(k->how),
			 "its own decompressor runs in the guest "
			 "(--kernel-boot classic)");
		return 0;
	}
	char why[192];
	if (!k->bz.entry64) {
		snprintf(why, sizeof(why), "it has no 64-bit entry");
	} else if (unpack_payload(k, f, o, why, sizeof(why)) < 0) {
		/* A payload in a format kvmm reads that does not unpack is broken: the guest's own
		 * decompressor would stop on it too. Only --kernel-boot classic still tries. */
		if (k->comp != KCOMP_UNKNOWN && k->comp != KCOMP_BZIP2 && k->comp != KCOMP_LZO)
			return err_set(err, errlen,
				       "its %s payload does not unpack (%s); "
				       "--kernel-boot classic lets the guest try",
				       kcomp_name(k->comp), why);
	} else {
		char e[128] = "32-bit";
		if (elf_parse(k->elf, k->elf_len, &k->ek, e, sizeof(e)) == 0 && k->ek.is64) {
			k->kind = KERNEL_BZIMAGE_DIRECT;
			return 0;
		}
		snprintf(why, sizeof(why), "its payload is not a loadable x86-64 ELF (%s)", e);
		drop_unpacked(k);
	}
	snprintf(k->how, sizeof(k->how), "its own decompressor runs in the guest: %s", why);
	return 0;
}

static int open_elf(struct kernel_image *k, const struct kernel_file *f, char *err, size_t errlen)
{
	if (elf_parse(f->data, f->len, &k->ek, err, errlen) < 0)
		return -1;
	k->elf = f->data;
	k->elf_len = f->len;
	k->cmdline_max = BOOT_ELF_CMDLINE_MAX;
	if (k->ek.pvh_entry) {
		k->kind = KERNEL_ELF_PVH;
		snprintf(k->how, sizeof(k->how), "PVH entry at %#llx",
			 (unsigned long long)k->ek.pvh_entry);
	} else if (k->ek.is64) {
		k->kind = KERNEL_ELF64;
		snprintf(k->how, sizeof(k->how), "no PVH note: 64-bit entry at %#llx",
			 (unsigned long long)k->ek.entry);
	} else {
		return err_set(err, errlen,
			       "a 32-bit ELF kernel without a PVH entry note "
			       "(CONFIG_PVH) cannot be booted");
	}
	return 0;
}

int kernel_open(struct kernel_image *k, const struct kernel_file *f, const struct kernel_options *o,
		char *err, size_t errlen)
{
	memset(k, 0, sizeof(*k));
	k->file = f->data;
	k->file_len = f->len;
	if (elf_is_elf(f->data, f->len))
		return open_elf(k, f, err, errlen);
	return open_bzimage(k, f, o, err, errlen);
}

int kernel_check_cmdline(const struct kernel_image *k, const char *cmdline)
{
	size_t len = strlen(cmdline);
	if (len > k->cmdline_max || len >= BOOT_CMDLINE_MAX) {
		log_error("--cmdline: %zu bytes with kvmm's own, this kernel accepts at most %u",
			  len, k->cmdline_max);
		return -1;
	}
	return 0;
}

static int load_initrd(const struct guest_mem *mem, const struct boot_config *cfg,
		       uint64_t addr_max, struct boot_layout *out)
{
	uint64_t low_end = gmem_low_end(mem);
	out->initrd_addr = boot_place_initrd(addr_max, low_end, cfg->initrd_len, out->kernel_end);
	if (!out->initrd_addr) {
		log_error(
		    "initrd of %zu KiB does not fit below %lluM beside the kernel; raise --mem",
		    cfg->initrd_len >> 10, (unsigned long long)(low_end >> 20));
		return -1;
	}
	gmem_prefault(mem, out->initrd_addr, cfg->initrd_len);
	if (!gmem_write(mem, out->initrd_addr, cfg->initrd, cfg->initrd_len))
		return log_error("initrd does not fit in guest memory"), -1;
	return 0;
}

/* boot_params: the bzImage's own setup header, or one made up for a vmlinux (as Firecracker's
 * loader does), then what kvmm decided. */
static int write_zero_page(const struct guest_mem *mem, const struct kernel_image *k,
			   const struct boot_config *cfg, const struct boot_layout *out,
			   const struct e820_map *map)
{
	struct boot_params *zp = gmem_ptr(mem, BOOT_ZERO_PAGE_ADDR, sizeof(*zp));
	if (!zp)
		return log_error("no room for the zero page"), -1;
	memset(zp, 0, sizeof(*zp));
	if (k->has_bz) {
		memcpy(&zp->hdr, k->file + 0x1f1, bzimage_header_len(k->file, k->file_len));
	} else {
		zp->hdr.boot_flag = 0xaa55;
		zp->hdr.header = HDRS_MAGIC;
		zp->hdr.version = 0x020f;
		zp->hdr.loadflags = LOADED_HIGH;
		zp->hdr.kernel_alignment = 0x200000;
		zp->hdr.cmdline_size = BOOT_ELF_CMDLINE_MAX;
		zp->hdr.initrd_addr_max = (uint32_t)ELF_INITRD_ADDR_MAX;
		zp->hdr.xloadflags = XLF_KERNEL_64;
	}
	zp->hdr.type_of_loader = LOADER_TYPE_UNDEFINED;
	zp->hdr.vid_mode = 0xffff; /* "normal" */
	zp->hdr.code32_start = BOOT_KERNEL_ADDR;
	zp->hdr.cmd_line_ptr = BOOT_CMDLINE_ADDR;
	if (cfg->initrd) {
		zp->hdr.ramdisk_image = (uint32_t)out->initrd_addr;
		zp->hdr.ramdisk_size = (uint32_t)cfg->initrd_len;
	}
	for (int i = 0; i < map->n; i++) {
		zp->e820_table[i].addr = map->e[i].addr;
		zp->e820_table[i].size = map->e[i].size;
		zp->e820_table[i].type = map->e[i].type;
	}
	zp->e820_entries = (uint8_t)map->n;
	zp->acpi_rsdp_addr = cfg->rsdp;
	if (cfg->screen)
		zp->screen_info = *cfg->screen;
	return 0;
}

/* PVH: hvm_start_info with the command line, the initrd as module 0 and the memory map. */
static int write_start_info(const struct guest_mem *mem, const struct boot_config *cfg,
			    const struct boot_layout *out, const struct e820_map *map)
{
	size_t maplen = (size_t)map->n * sizeof(struct hvm_memmap_entry);
	struct hvm_start_info *si = gmem_ptr(mem, BOOT_PVH_INFO_ADDR, sizeof(*si));
	struct hvm_memmap_entry *mm = gmem_ptr(mem, PVH_MEMMAP_ADDR, maplen);
	struct hvm_modlist_entry *mod = gmem_ptr(mem, PVH_MODLIST_ADDR, sizeof(*mod));
	if (!si || !mm || !mod || PVH_MEMMAP_ADDR + maplen > BOOT_ZERO_PAGE_ADDR)
		return log_error("no room for PVH's start info"), -1;
	*si = (struct hvm_start_info){.magic = HVM_START_MAGIC,
				      .version = 1,
				      .cmdline_paddr = BOOT_CMDLINE_ADDR,
				      .rsdp_paddr = cfg->rsdp,
				      .memmap_paddr = PVH_MEMMAP_ADDR,
				      .memmap_entries = (uint32_t)map->n};
	for (int i = 0; i < map->n; i++)
		mm[i] =
		    (struct hvm_memmap_entry){map->e[i].addr, map->e[i].size, map->e[i].type, 0};
	if (cfg->initrd) {
		*mod = (struct hvm_modlist_entry){out->initrd_addr, cfg->initrd_len, 0, 0};
		si->nr_modules = 1;
		si->modlist_paddr = PVH_MODLIST_ADDR;
	}
	return 0;
}

static int load_elf(const struct guest_mem *mem, const struct kernel_image *k,
		    struct boot_layout *out)
{
	char err[128];
	if (k->ek.end > gmem_low_end(mem)) {
		log_error("--mem %lluM is too small for this kernel (it needs %lluM to boot)",
			  (unsigned long long)(mem->ram_size >> 20),
			  (unsigned long long)((k->ek.end + (1 << 20) - 1) >> 20));
		return -1;
	}
	gmem_prefault(mem, k->ek.start, k->ek.end - k->ek.start);
	if (elf_load(mem, &k->ek, k->elf, err, sizeof(err)) < 0) {
		log_error("kernel: %s", err);
		return -1;
	}
	out->kernel_end = k->ek.end;
	if (k->kind == KERNEL_ELF_PVH) {
		out->entry = k->ek.pvh_entry;
		out->entry64 = false;
		out->start_info = BOOT_PVH_INFO_ADDR;
	} else {
		out->entry = k->ek.entry;
		out->entry64 = true;
	}
	return 0;
}

int kernel_load(const struct guest_mem *mem, const struct boot_config *cfg, struct boot_layout *out)
{
	const struct kernel_image *k = cfg->kernel;
	memset(out, 0, sizeof(*out));
	int r = k->kind == KERNEL_BZIMAGE_CLASSIC ? bzimage_load_classic(mem, &k->bz, k->file, out)
						  : load_elf(mem, k, out);
	if (r < 0)
		return -1;
	if (kernel_check_cmdline(k, cfg->cmdline) < 0)
		return -1;
	if (!gmem_write(mem, BOOT_CMDLINE_ADDR, cfg->cmdline, strlen(cfg->cmdline) + 1))
		return log_error("no room for the command line"), -1;
	uint64_t initrd_max = k->has_bz ? k->bz.initrd_addr_max : ELF_INITRD_ADDR_MAX;
	if (cfg->initrd && load_initrd(mem, cfg, initrd_max, out) < 0)
		return -1;
	struct e820_map map;
	if (e820_build(&map, mem->regions, mem->nregions) < 0)
		return log_error("guest memory too small for an e820 map"), -1;
	if (cfg->fb_size && e820_insert(&map, cfg->fb_base, cfg->fb_size, E820_RESERVED) < 0)
		return log_error("the framebuffer at 0x%llx overlaps RAM",
				 (unsigned long long)cfg->fb_base),
		       -1;
	out->zero_page = BOOT_ZERO_PAGE_ADDR;
	if (k->kind == KERNEL_ELF_PVH)
		return write_start_info(mem, cfg, out, &map);
	return write_zero_page(mem, k, cfg, out, &map);
}

void kernel_loaded(const struct kernel_image *k)
{
	kcache_drop_pages(&k->cache);
}

void kernel_close(struct kernel_image *k)
{
	drop_unpacked(k);
}
