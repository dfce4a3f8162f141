#include "bzimage.h"

#include <asm/bootparam.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "vmm/log.h"

#define SETUP_HDR_OFFSET 0x1f1
#define HDRS_MAGIC	 0x53726448 /* "HdrS" */
#define BOOT_FLAG_MAGIC	 0xaa55

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return a ? (v + a - 1) / a * a : v;
}

int bzimage_parse(const uint8_t *image, size_t len, struct bzimage *bz, char *err, size_t errlen)
{
	struct setup_header h;
	memset(bz, 0, sizeof(*bz));
	if (len < SETUP_HDR_OFFSET + sizeof(h))
		return err_set(err, errlen, "not a bzImage (too short to hold a setup header)");
	memcpy(&h, image + SETUP_HDR_OFFSET, sizeof(h));
	if (h.boot_flag != BOOT_FLAG_MAGIC || h.header != HDRS_MAGIC)
		return err_set(err, errlen, "not a bzImage (no HdrS signature)");
	if (h.version < 0x0206) {
		snprintf(err, errlen, "boot protocol %u.%02u is older than 2.06", h.version >> 8,
			 h.version & 0xff);
		return -1;
	}
	if (!(h.loadflags & LOADED_HIGH))
		return err_set(err, errlen, "a zImage (not loaded high) is not supported");
	/* A kernel that is not relocatable still boots from 1 MiB: its decompressor moves it to
	 * LOAD_PHYSICAL_ADDR, which pref_address gives (kernel_footprint_end() keeps room for it).
	 */
	bz->relocatable = h.relocatable_kernel;

	unsigned setup_sects = h.setup_sects ? h.setup_sects : 4;
	bz->version = h.version;
	bz->setup_size = (setup_sects + 1) * 512u;
	if (bz->setup_size >= len)
		return err_set(err, errlen, "truncated (setup code runs past the end of the file)");
	bz->kernel_offset = bz->setup_size;
	bz->kernel_size = len - bz->setup_size;
	if ((uint64_t)h.syssize * 16 > bz->kernel_size)
		return err_set(err, errlen, "truncated (kernel is shorter than its header says)");
	bz->cmdline_size = h.cmdline_size;
	bz->initrd_addr_max = h.initrd_addr_max;
	bz->entry64 = h.version >= 0x020c && (h.xloadflags & XLF_KERNEL_64);
	if (h.version >= 0x020a) {
		bz->pref_address = h.pref_address;
		bz->init_size = h.init_size;
	}
	if (h.version >= 0x0208 && h.payload_offset && h.payload_length &&
	    h.payload_offset <= bz->kernel_size &&
	    h.payload_length <= bz->kernel_size - h.payload_offset) {
		bz->payload_offset = bz->kernel_offset + h.payload_offset;
		bz->payload_length = h.payload_length;
	}
	if (bz->pref_address < BOOT_KERNEL_ADDR)
		bz->pref_address = BOOT_KERNEL_ADDR;
	/* Before 2.10 the kernel does not say; decompression needs a few times its size. */
	if (bz->init_size == 0) {
		if (bz->kernel_size > UINT32_MAX / 4) {
			snprintf(err, errlen,
				 "a protocol %u.%02u kernel of %zu bytes would need over 4 GiB to "
				 "decompress",
				 h.version >> 8, h.version & 0xff, bz->kernel_size);
			return -1;
		}
		bz->init_size = (uint32_t)(bz->kernel_size * 4);
	}
	/* A relocatable kernel runs from pref_address, or from the load address rounded up to its
	 * alignment when that is higher; our load address is always the lower one. */
	uint64_t aligned = align_up(BOOT_KERNEL_ADDR, h.kernel_alignment);
	if (aligned > bz->pref_address)
		bz->pref_address = aligned;
	/* The area the kernel runs in while it boots must not wrap around the address space. */
	if (bz->pref_address > UINT64_MAX - bz->init_size) {
		snprintf(err, errlen, "pref_address 0x%llx + init_size 0x%x wraps around",
			 (unsigned long long)bz->pref_address, bz->init_size);
		return -1;
	}
	return 0;
}

uint64_t boot_place_initrd(uint64_t addr_max, uint64_t ram_low_end, uint64_t initrd_len,
			   uint64_t kernel_end)
{
	uint64_t top = ram_low_end;
	if (addr_max + 1 < top)
		top = addr_max + 1;
	if (initrd_len == 0 || initrd_len > top)
		return 0;
	uint64_t addr = (top - initrd_len) & ~0xfffULL;
	return addr >= kernel_end ? addr : 0;
}

/* First byte above everything the kernel may occupy before it reads the e820 map: the loaded
 * image, and init_size bytes from where it relocates itself to. */
static uint64_t kernel_footprint_end(const struct bzimage *bz)
{
	uint64_t end = BOOT_KERNEL_ADDR + bz->kernel_size;
	uint64_t run_end = bz->pref_address + bz->init_size;
	return run_end > end ? run_end : end;
}

int bzimage_load_classic(const struct guest_mem *mem, const struct bzimage *bz,
			 const uint8_t *image, struct boot_layout *out)
{
	out->kernel_end = kernel_footprint_end(bz);
	if (out->kernel_end > gmem_low_end(mem)) {
		log_error("--mem %lluM is too small for this kernel (it needs %lluM to boot)",
			  (unsigned long long)(mem->ram_size >> 20),
			  (unsigned long long)((out->kernel_end + (1 << 20) - 1) >> 20));
		return -1;
	}
	/* The decompressor in the guest writes all of it soon. */
	gmem_prefault(mem, BOOT_KERNEL_ADDR, out->kernel_end - BOOT_KERNEL_ADDR);
	if (!gmem_write(mem, BOOT_KERNEL_ADDR, image + bz->kernel_offset, bz->kernel_size))
		return log_error("kernel does not fit in guest memory"), -1;
	out->entry64 = bz->entry64;
	out->entry = bz->entry64 ? BOOT_KERNEL_ADDR + 0x200 : BOOT_KERNEL_ADDR;
	return 0;
}

size_t bzimage_header_len(const uint8_t *image, size_t len)
{
	/* The header's own length is encoded in its first jump: 0x202 + the byte at 0x201. */
	size_t hdr_len = 0x202 + image[0x201] - SETUP_HDR_OFFSET;
	if (hdr_len > sizeof(struct setup_header))
		hdr_len = sizeof(struct setup_header);
	if (SETUP_HDR_OFFSET + hdr_len > len)
		hdr_len = len - SETUP_HDR_OFFSET;
	return hdr_len;
}
