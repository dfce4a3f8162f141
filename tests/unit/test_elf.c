/* ELF kernels: segments and the PVH note of crafted vmlinux images (built with <elf.h>'s structs,
 * not the loader's), malformed ones rejected with a reason, and what kernel_load() leaves for each
 * entry: PVH's hvm_start_info, or a zero page for the 64-bit entry. */
#include <asm/bootparam.h>
#include <check.h>
#include <elf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "loader/e820.h"
#include "loader/elf.h"
#include "loader/kernel.h"
#include "unit.h"

#define SEG0_PADDR 0x1000000ULL
#define SEG1_PADDR 0x1200000ULL
#define SEG_FILESZ 0x3000ULL
#define SEG1_MEMSZ 0x5000ULL /* 0x2000 of bss */
#define PVH_ENTRY  0x10004a0U
#define IMG_LEN	   0x8000

static uint8_t img[IMG_LEN];
static char err[160];

struct note {
	Elf64_Nhdr h;
	char name[4];
	uint64_t desc;
};

/* An x86-64 vmlinux: two PT_LOAD segments (the second with bss), optionally the PVH note. */
static void build64(bool pvh)
{
	memset(img, 0, sizeof(img));
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_entry = SEG0_PADDR;
	eh->e_phoff = sizeof(*eh);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = 3;
	Elf64_Phdr *ph = (Elf64_Phdr *)(img + eh->e_phoff);
	ph[0] = (Elf64_Phdr){.p_type = PT_LOAD,
			     .p_offset = 0x1000,
			     .p_vaddr = 0xffffffff81000000,
			     .p_paddr = SEG0_PADDR,
			     .p_filesz = SEG_FILESZ,
			     .p_memsz = SEG_FILESZ};
	ph[1] = (Elf64_Phdr){.p_type = PT_LOAD,
			     .p_offset = 0x4000,
			     .p_paddr = SEG1_PADDR,
			     .p_filesz = SEG_FILESZ,
			     .p_memsz = SEG1_MEMSZ};
	ph[2] = (Elf64_Phdr){.p_type = pvh ? PT_NOTE : PT_NULL,
			     .p_offset = 0x800,
			     .p_filesz = 2 * sizeof(struct note)};
	/* Another Xen note first, as in a real vmlinux; then PHYS32_ENTRY as a .quad. */
	struct note *n = (struct note *)(img + 0x800);
	n[0] = (struct note){{4, 8, 6}, "Xen", 0x78756e696cULL};
	n[1] = (struct note){{4, 8, 18}, "Xen", PVH_ENTRY};
	for (size_t i = 0x1000; i < 0x7000; i++)
		img[i] = (uint8_t)(i * 7 + 3);
}

static void expect_reject(size_t len, const char *why)
{
	struct elf_kernel k;
	err[0] = '\0';
	ck_assert_int_eq(elf_parse(img, len, &k, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, why), "reason '%s' does not say '%s'", err, why);
}

START_TEST(test_parse_segments)
{
	build64(false);
	struct elf_kernel k;
	ck_assert_int_eq(elf_parse(img, IMG_LEN, &k, err, sizeof(err)), 0);
	ck_assert(k.is64);
	ck_assert_int_eq(k.nseg, 2);
	ck_assert_uint_eq(k.entry, SEG0_PADDR);
	ck_assert_uint_eq(k.pvh_entry, 0);
	ck_assert_uint_eq(k.start, SEG0_PADDR);
	ck_assert_uint_eq(k.end, SEG1_PADDR + SEG1_MEMSZ);
	ck_assert_uint_eq(k.seg[1].memsz, SEG1_MEMSZ);
}
END_TEST

START_TEST(test_parse_pvh_note)
{
	build64(true);
	struct elf_kernel k;
	ck_assert_int_eq(elf_parse(img, IMG_LEN, &k, err, sizeof(err)), 0);
	ck_assert_uint_eq(k.pvh_entry, PVH_ENTRY);
	/* a note whose sizes run past its segment is not read */
	((struct note *)(img + 0x800))[1].h.n_descsz = 0x1000;
	ck_assert_int_eq(elf_parse(img, IMG_LEN, &k, err, sizeof(err)), 0);
	ck_assert_uint_eq(k.pvh_entry, 0);
}
END_TEST

START_TEST(test_reject_malformed)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	Elf64_Phdr *ph = (Elf64_Phdr *)(img + sizeof(*eh));
	build64(false);
	expect_reject(3, "not an ELF");
	expect_reject(sizeof(*eh) - 1, "truncated");
	eh->e_machine = EM_AARCH64;
	expect_reject(IMG_LEN, "machine 183");
	build64(false);
	eh->e_type = ET_DYN;
	expect_reject(IMG_LEN, "not an executable");
	build64(false);
	eh->e_phnum = 0xffff; /* absurd count */
	expect_reject(IMG_LEN, "program headers");
	build64(false);
	eh->e_phoff = IMG_LEN - 8; /* headers past the end */
	expect_reject(IMG_LEN, "past the end");
	build64(false);
	eh->e_phoff = UINT64_MAX - 8; /* and wrapping */
	expect_reject(IMG_LEN, "past the end");
	build64(false);
	expect_reject(0x4000 + SEG_FILESZ - 1, "past the end of the file"); /* truncated segment */
	build64(false);
	ph[1].p_offset = UINT64_MAX - 0x10;
	expect_reject(IMG_LEN, "past the end of the file");
	build64(false);
	ph[1].p_paddr = SEG0_PADDR + 0x1000; /* overlaps segment 0 */
	expect_reject(IMG_LEN, "overlaps");
	build64(false);
	ph[1].p_paddr = UINT64_MAX - 0x1000; /* wraps */
	expect_reject(IMG_LEN, "wraps");
	build64(false);
	ph[1].p_paddr = 0x7000; /* where the zero page lives */
	expect_reject(IMG_LEN, "below 1 MiB");
	build64(false);
	ph[1].p_memsz = SEG_FILESZ - 1;
	expect_reject(IMG_LEN, "more file bytes");
	build64(false);
	ph[0].p_type = ph[1].p_type = PT_NULL;
	expect_reject(IMG_LEN, "no loadable segments");
}
END_TEST

START_TEST(test_load_outside_ram)
{
	build64(false);
	struct elf_kernel k;
	ck_assert_int_eq(elf_parse(img, IMG_LEN, &k, err, sizeof(err)), 0);
	struct guest_mem mem;
	ck_assert_int_eq(gmem_init(&mem, 16 * MiB), 0); /* both segments are above 16 MiB */
	ck_assert_int_eq(elf_load(&mem, &k, img, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "not in guest RAM"));
	gmem_free(&mem);
}
END_TEST

/* kernel_open + kernel_load as kvmm does them, into 64 MiB. */
static void boot(struct guest_mem *mem, struct kernel_image *k, struct boot_layout *out,
		 const uint8_t *initrd, size_t initrd_len)
{
	struct kernel_file f = {img, IMG_LEN, NULL, 0};
	struct kernel_options o = {KERNEL_BOOT_DIRECT, NULL};
	ck_assert_int_eq(kernel_open(k, &f, &o, err, sizeof(err)), 0);
	ck_assert_int_eq(gmem_init(mem, 64 * MiB), 0);
	struct boot_config cfg = {k, initrd, initrd_len, "console=ttyS0 reboot=k"};
	ck_assert_int_eq(kernel_load(mem, &cfg, out), 0);
	/* the segments, and the bss zeroed (RAM was poisoned first? it is fresh: check both) */
	ck_assert_mem_eq(gmem_ptr(mem, SEG0_PADDR, SEG_FILESZ), img + 0x1000, SEG_FILESZ);
	ck_assert_mem_eq(gmem_ptr(mem, SEG1_PADDR, SEG_FILESZ), img + 0x4000, SEG_FILESZ);
	const uint8_t *bss = gmem_ptr(mem, SEG1_PADDR + SEG_FILESZ, SEG1_MEMSZ - SEG_FILESZ);
	for (uint64_t i = 0; i < SEG1_MEMSZ - SEG_FILESZ; i++)
		ck_assert_uint_eq(bss[i], 0);
	ck_assert_uint_ge(out->kernel_end, SEG1_PADDR + SEG1_MEMSZ);
	ck_assert_str_eq(gmem_ptr(mem, BOOT_CMDLINE_ADDR, 23), "console=ttyS0 reboot=k");
}

/* The layout xen/include/public/arch-x86/hvm/start_info.h documents, read at its offsets. */
START_TEST(test_pvh_start_info)
{
	build64(true);
	static uint8_t initrd[5000];
	memset(initrd, 0xa5, sizeof(initrd));
	struct guest_mem mem;
	struct kernel_image k;
	struct boot_layout out;
	boot(&mem, &k, &out, initrd, sizeof(initrd));
	ck_assert_int_eq(k.kind, KERNEL_ELF_PVH);
	ck_assert_uint_eq(out.entry, PVH_ENTRY);
	ck_assert(!out.entry64); /* 32-bit protected mode, paging off */
	ck_assert_uint_eq(out.start_info, BOOT_PVH_INFO_ADDR);
	const uint8_t *si = gmem_ptr(&mem, out.start_info, 56);
	uint32_t u32;
	uint64_t u64;
	memcpy(&u32, si, 4);
	ck_assert_uint_eq(u32, 0x336ec578); /* magic */
	memcpy(&u32, si + 4, 4);
	ck_assert_uint_eq(u32, 1); /* version */
	memcpy(&u32, si + 12, 4);
	ck_assert_uint_eq(u32, 1); /* nr_modules: the initrd */
	memcpy(&u64, si + 24, 8);
	ck_assert_uint_eq(u64, BOOT_CMDLINE_ADDR); /* cmdline_paddr */
	uint64_t modlist, memmap;
	memcpy(&modlist, si + 16, 8);
	memcpy(&memmap, si + 40, 8);
	memcpy(&u32, si + 48, 4); /* memmap_entries */
	uint64_t mod[2];
	memcpy(mod, gmem_ptr(&mem, modlist, 16), 16);
	ck_assert_uint_eq(mod[0], out.initrd_addr);
	ck_assert_uint_eq(mod[1], sizeof(initrd));
	ck_assert_mem_eq(gmem_ptr(&mem, mod[0], sizeof(initrd)), initrd, sizeof(initrd));
	struct e820_map map;
	ck_assert_int_eq(e820_build(&map, mem.regions, mem.nregions), 0);
	ck_assert_uint_eq(u32, (uint32_t)map.n);
	for (int i = 0; i < map.n; i++) {
		const uint8_t *e = gmem_ptr(&mem, memmap + 24 * (uint64_t)i, 24);
		memcpy(&u64, e, 8);
		ck_assert_uint_eq(u64, map.e[i].addr);
		memcpy(&u64, e + 8, 8);
		ck_assert_uint_eq(u64, map.e[i].size);
		memcpy(&u32, e + 16, 4);
		ck_assert_uint_eq(u32, map.e[i].type);
	}
	kernel_close(&k);
	gmem_free(&mem);
}
END_TEST

START_TEST(test_elf64_zero_page)
{
	build64(false);
	struct guest_mem mem;
	struct kernel_image k;
	struct boot_layout out;
	boot(&mem, &k, &out, NULL, 0);
	ck_assert_int_eq(k.kind, KERNEL_ELF64);
	ck_assert(out.entry64);
	ck_assert_uint_eq(out.entry, SEG0_PADDR);
	ck_assert_uint_eq(out.start_info, 0);
	struct boot_params *zp = gmem_ptr(&mem, out.zero_page, sizeof(*zp));
	ck_assert_uint_eq(zp->hdr.boot_flag, 0xaa55);
	ck_assert_mem_eq(&zp->hdr.header, "HdrS", 4);
	ck_assert_uint_eq(zp->hdr.cmd_line_ptr, BOOT_CMDLINE_ADDR);
	ck_assert_uint_eq(zp->hdr.type_of_loader, 0xff);
	ck_assert_uint_gt(zp->e820_entries, 0);
	kernel_close(&k);
	gmem_free(&mem);
}
END_TEST

/* i386 ELF: bootable only through a PVH note. */
START_TEST(test_elf32)
{
	memset(img, 0, sizeof(img));
	Elf32_Ehdr *eh = (Elf32_Ehdr *)img;
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS32;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_386;
	eh->e_phoff = sizeof(*eh);
	eh->e_phentsize = sizeof(Elf32_Phdr);
	eh->e_phnum = 2;
	Elf32_Phdr *ph = (Elf32_Phdr *)(img + eh->e_phoff);
	ph[0] = (Elf32_Phdr){.p_type = PT_LOAD,
			     .p_offset = 0x1000,
			     .p_paddr = 0x1000000,
			     .p_filesz = 0x1000,
			     .p_memsz = 0x2000};
	struct kernel_image k;
	struct kernel_file f = {img, IMG_LEN, NULL, 0};
	struct kernel_options o = {KERNEL_BOOT_DIRECT, NULL};
	ck_assert_int_eq(kernel_open(&k, &f, &o, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "32-bit ELF kernel without a PVH entry note"));
	ph[1] = (Elf32_Phdr){.p_type = PT_NOTE, .p_offset = 0x800, .p_filesz = 20};
	uint32_t note[5] = {4, 4, 18, 0, 0x1000100};
	memcpy(&note[3], "Xen", 4);
	memcpy(img + 0x800, note, sizeof(note));
	ck_assert_int_eq(kernel_open(&k, &f, &o, err, sizeof(err)), 0);
	ck_assert_int_eq(k.kind, KERNEL_ELF_PVH);
	ck_assert_uint_eq(k.ek.pvh_entry, 0x1000100);
	kernel_close(&k);
}
END_TEST

static Suite *elf_suite(void)
{
	Suite *s = suite_create("elf");
	TCase *tc = tcase_create("parse");
	tcase_add_test(tc, test_parse_segments);
	tcase_add_test(tc, test_parse_pvh_note);
	tcase_add_test(tc, test_reject_malformed);
	tcase_add_test(tc, test_load_outside_ram);
	tcase_add_test(tc, test_elf32);
	suite_add_tcase(s, tc);
	tc = tcase_create("boot");
	tcase_add_test(tc, test_pvh_start_info);
	tcase_add_test(tc, test_elf64_zero_page);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(elf_suite());
}
