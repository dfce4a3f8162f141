/* The kernel file parsers: the input is the file given to --kernel. bzimage_parse checks the
 * setup header (loader/bzimage.c); kernel_open (loader/kernel.c), with the cache off, recognises
 * an ELF vmlinux (loader/elf.c) or a bzImage, booted the classic way or direct, which unpacks
 * the payload the header locates (loader/decompress.c) and parses the ELF inside; kernel_load
 * then places whatever opened in guest memory, with a command line and an initrd. Checked: what
 * bzimage_parse returns lies inside the file, and a kernel that opens either loads or is refused
 * with a reason, never read or written past the file or RAM. */
#include <asm/bootparam.h>

#include "fuzz.h"
#include "loader/bzimage.h"
#include "loader/kernel.h"

/* Enough for the small kernels of the corpus; a bigger one is refused for --mem, which is a
 * path too. */
#define RAM (8ULL << 20)

static uint8_t initrd[4096];

static void check_bz(const struct bzimage *bz, size_t len)
{
	FUZZ_CHECK(bz->setup_size >= 512 && bz->setup_size < len);
	FUZZ_CHECK(bz->kernel_offset == bz->setup_size);
	FUZZ_CHECK(bz->kernel_offset + bz->kernel_size == len);
	FUZZ_CHECK(bz->pref_address >= BOOT_KERNEL_ADDR);
	FUZZ_CHECK(bz->pref_address <= UINT64_MAX - bz->init_size);
	if (bz->payload_offset) {
		FUZZ_CHECK(bz->payload_offset >= bz->kernel_offset && bz->payload_offset <= len);
		FUZZ_CHECK(bz->payload_length <= len - bz->payload_offset);
	}
}

static void try_kernel(const struct kernel_file *f, enum kernel_boot_mode mode, bool with_initrd)
{
	struct kernel_image k;
	struct kernel_options o = {.mode = mode, .cache_dir = NULL};
	char err[256] = "";
	if (kernel_open(&k, f, &o, err, sizeof(err)) < 0) {
		FUZZ_CHECK(err[0] != '\0'); /* a refusal says why */
		kernel_close(&k);
		return;
	}
	if (k.has_bz) {
		check_bz(&k.bz, f->len);
		FUZZ_CHECK(bzimage_header_len(f->data, f->len) <= sizeof(struct setup_header));
	}
	if (k.kind == KERNEL_BZIMAGE_DIRECT || k.kind == KERNEL_ELF64 || k.kind == KERNEL_ELF_PVH) {
		FUZZ_CHECK(k.elf && k.elf_len > 0);
		FUZZ_CHECK(k.ek.nseg >= 0 && k.ek.nseg <= ELF_MAX_SEGMENTS);
		for (int i = 0; i < k.ek.nseg; i++) {
			const struct elf_segment *s = &k.ek.seg[i];
			FUZZ_CHECK(s->offset <= k.elf_len && s->filesz <= k.elf_len - s->offset);
			FUZZ_CHECK(s->filesz <= s->memsz);
		}
	}
	struct guest_mem *mem = fuzz_gmem(RAM, false);
	struct boot_config cfg = {
	    .kernel = &k,
	    .initrd = with_initrd ? initrd : NULL,
	    .initrd_len = with_initrd ? sizeof(initrd) : 0,
	    .cmdline = "console=ttyS0 reboot=k",
	    .rsdp = 0xe0000,
	};
	struct boot_layout out;
	if (kernel_load(mem, &cfg, &out) == 0) {
		FUZZ_CHECK(out.zero_page == BOOT_ZERO_PAGE_ADDR);
		if (with_initrd)
			FUZZ_CHECK(out.initrd_addr >= out.kernel_end &&
				   out.initrd_addr + sizeof(initrd) <= gmem_low_end(mem));
		kernel_loaded(&k);
	}
	kernel_close(&k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bzimage bz;
	char err[256];
	if (bzimage_parse(data, size, &bz, err, sizeof(err)) == 0)
		check_bz(&bz, size);

	/* libFuzzer's copy of the input is exactly its size: ASan sees a read past the file. */
	struct kernel_file f = {.data = data, .len = size, .st = NULL};
	bool with_initrd = size && (data[size - 1] & 1);
	try_kernel(&f, KERNEL_BOOT_CLASSIC, with_initrd);
	try_kernel(&f, KERNEL_BOOT_DIRECT, with_initrd);
	return 0;
}
