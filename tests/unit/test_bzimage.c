/* bzImage setup header checks and loading, on images crafted per Documentation/arch/x86/boot.rst
 * (fields written at their documented offsets, not through the loader's own structures). */
#include <asm/bootparam.h>
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "loader/bzimage.h"
#include "loader/e820.h"
#include "loader/kernel.h"
#include "unit.h"

#define KERNEL_LEN  8192
#define SETUP_SECTS 3
#define HDR_END	    0x26c /* end of the 2.15 header: kernel_info_offset at 0x268 */
#define PREF_ADDR   0x1000000ULL
#define INIT_SIZE   0x800000U
#define CMDLINE_SZ  255U
#define INITRD_MAX  0x7fffffffU

static uint8_t *img;
static size_t img_len;
static struct bzimage bz;
static char err[128];

static void put16(size_t off, uint16_t v)
{
	img[off] = (uint8_t)v;
	img[off + 1] = (uint8_t)(v >> 8);
}

static void put32(size_t off, uint32_t v)
{
	put16(off, (uint16_t)v);
	put16(off + 2, (uint16_t)(v >> 16));
}

static void put64(size_t off, uint64_t v)
{
	put32(off, (uint32_t)v);
	put32(off + 4, (uint32_t)(v >> 32));
}

/* A protocol 2.15 64-bit relocatable kernel: setup_sects_field (0 means 4) then KERNEL_LEN bytes.
 */
static void build(uint8_t setup_sects_field)
{
	free(img);
	size_t sects = setup_sects_field ? setup_sects_field : 4;
	img_len = (sects + 1) * 512 + KERNEL_LEN;
	img = calloc(1, img_len);
	ck_assert_ptr_nonnull(img);
	img[0x1f1] = setup_sects_field;
	put32(0x1f4, KERNEL_LEN / 16); /* syssize, in 16-byte paragraphs */
	put16(0x1fe, 0xAA55);
	img[0x200] = 0xeb; /* jmp short over the header */
	img[0x201] = HDR_END - 0x202;
	memcpy(img + 0x202, "HdrS", 4);
	put16(0x206, 0x020f);
	img[0x211] = 0x01;	  /* loadflags: LOADED_HIGH */
	put32(0x22c, INITRD_MAX); /* initrd_addr_max */
	put32(0x230, 0x200000);	  /* kernel_alignment */
	img[0x234] = 1;		  /* relocatable_kernel */
	put16(0x236, 0x0001);	  /* xloadflags: XLF_KERNEL_64 */
	put32(0x238, CMDLINE_SZ); /* cmdline_size */
	put64(0x258, PREF_ADDR);  /* pref_address */
	put32(0x260, INIT_SIZE);  /* init_size */
	for (size_t i = (sects + 1) * 512; i < img_len; i++)
		img[i] = (uint8_t)(i * 13 + 1);
}

static void setup(void)
{
	build(SETUP_SECTS);
}

static void teardown(void)
{
	free(img);
	img = NULL;
}

static void expect_reject(const uint8_t *image, size_t len)
{
	err[0] = '\0';
	ck_assert_int_eq(bzimage_parse(image, len, &bz, err, sizeof(err)), -1);
	ck_assert_msg(strlen(err) > 0, "no reason given for a rejected image of %zu bytes", len);
}

START_TEST(test_parse_good)
{
	ck_assert_int_eq(bzimage_parse(img, img_len, &bz, err, sizeof(err)), 0);
	ck_assert_uint_eq(bz.version, 0x020f);
	ck_assert_uint_eq(bz.setup_size, (SETUP_SECTS + 1) * 512);
	ck_assert_uint_eq(bz.kernel_offset, (SETUP_SECTS + 1) * 512);
	ck_assert_uint_eq(bz.kernel_size, KERNEL_LEN);
	ck_assert_uint_eq(bz.cmdline_size, CMDLINE_SZ);
	ck_assert_uint_eq(bz.initrd_addr_max, INITRD_MAX);
	ck_assert_uint_eq(bz.pref_address, PREF_ADDR);
	ck_assert_uint_eq(bz.init_size, INIT_SIZE);
	ck_assert(bz.entry64);

	put16(0x236, 0); /* no XLF_KERNEL_64: no 64-bit entry point */
	ck_assert_int_eq(bzimage_parse(img, img_len, &bz, err, sizeof(err)), 0);
	ck_assert(!bz.entry64);
}
END_TEST

START_TEST(test_parse_setup_sects_zero)
{
	build(0);
	ck_assert_int_eq(bzimage_parse(img, img_len, &bz, err, sizeof(err)), 0);
	ck_assert_uint_eq(bz.setup_size, 5 * 512);
	ck_assert_uint_eq(bz.kernel_offset, 5 * 512);
	ck_assert_uint_eq(bz.kernel_size, KERNEL_LEN);
}
END_TEST

START_TEST(test_parse_truncated)
{
	expect_reject(img, 0);
	expect_reject(img, 0x1f1);
	expect_reject(img, 0x200);
	expect_reject(img, HDR_END - 1);
	/* header intact, but setup code (or the kernel after it) cut off */
	expect_reject(img, (SETUP_SECTS + 1) * 512 - 1);
	expect_reject(img, (SETUP_SECTS + 1) * 512);
	img[0x1f1] = 60; /* setup_sects pointing past the end of the file */
	expect_reject(img, img_len);
}
END_TEST

START_TEST(test_parse_syssize_past_eof)
{
	put32(0x1f4, KERNEL_LEN / 16 + 1);
	expect_reject(img, img_len);
	put32(0x1f4, 0xffffffffU);
	expect_reject(img, img_len);
	/* a file shorter than syssize says */
	put32(0x1f4, KERNEL_LEN / 16);
	expect_reject(img, img_len - 16);
}
END_TEST

/* Regression: bzimage_parse() once accepted files of 0x268..0x26b bytes and then copied the whole
 * setup header (through 0x26b), reading up to 4 bytes past the end. Here the image sits right below
 * a PROT_NONE page, so that over-read is a SIGSEGV (or an ASan report) instead of going unnoticed.
 */
START_TEST(test_parse_never_reads_past_end)
{
	long page = sysconf(_SC_PAGESIZE);
	uint8_t *map = mmap(NULL, 2 * (size_t)page, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(map, MAP_FAILED);
	ck_assert_int_eq(mprotect(map + page, (size_t)page, PROT_NONE), 0);
	for (size_t len = 0; len <= 0x280; len++) {
		uint8_t *p = map + page - len;
		memcpy(p, img, len);
		expect_reject(p, len); /* all header, no kernel */
	}
	munmap(map, 2 * (size_t)page);
}
END_TEST

START_TEST(test_parse_bad_magic)
{
	memcpy(img + 0x202, "HdrX", 4);
	expect_reject(img, img_len);
	memcpy(img + 0x202, "HdrS", 4);
	put16(0x1fe, 0x55AA);
	expect_reject(img, img_len);
	put16(0x1fe, 0);
	expect_reject(img, img_len);
}
END_TEST

START_TEST(test_parse_old_protocol)
{
	put16(0x206, 0x0205);
	expect_reject(img, img_len);
	put16(0x206, 0x0206); /* the oldest one accepted */
	ck_assert_int_eq(bzimage_parse(img, img_len, &bz, err, sizeof(err)), 0);
	ck_assert(!bz.entry64); /* the 64-bit entry point came with 2.12 */
}
END_TEST

/* Loads img, booted the classic way, with an optional initrd. */
static int load_img(struct guest_mem *mem, const uint8_t *initrd, size_t initrd_len,
		    const char *cmdline, struct boot_layout *out)
{
	struct kernel_image k;
	struct kernel_file f = {img, img_len, NULL, 0};
	struct kernel_options o = {KERNEL_BOOT_CLASSIC, NULL};
	if (kernel_open(&k, &f, &o, err, sizeof(err)) < 0)
		return -1;
	ck_assert_int_eq(k.kind, KERNEL_BZIMAGE_CLASSIC);
	struct boot_config cfg = {&k, initrd, initrd_len, cmdline};
	int r = kernel_load(mem, &cfg, out);
	kernel_close(&k);
	return r;
}

/* tinyconfig leaves CONFIG_RELOCATABLE off: such a kernel boots from 1 MiB too, and its
 * decompressor moves it to pref_address (LOAD_PHYSICAL_ADDR), where kvmm must leave room. */
START_TEST(test_parse_not_relocatable)
{
	img[0x234] = 0;
	ck_assert_int_eq(bzimage_parse(img, img_len, &bz, err, sizeof(err)), 0);
	ck_assert(!bz.relocatable);
	ck_assert_uint_eq(bz.pref_address, PREF_ADDR);
	struct guest_mem mem;
	ck_assert_int_eq(gmem_init(&mem, 64 * MiB), 0);
	struct boot_layout out;
	ck_assert_int_eq(load_img(&mem, NULL, 0, "quiet", &out), 0);
	ck_assert_uint_ge(out.kernel_end, PREF_ADDR + INIT_SIZE);
	ck_assert_uint_eq(out.entry, BOOT_KERNEL_ADDR + 0x200);
	gmem_free(&mem);
}
END_TEST

/* A crafted pref_address near 2^64: pref_address + init_size must not wrap into a small end. */
START_TEST(test_parse_run_area_wraps)
{
	put64(0x258, 0xfffffffffff00000ULL);
	put32(0x260, 0x00200000);
	expect_reject(img, img_len);
	ck_assert_msg(strstr(err, "wraps"), "reason: %s", err);
	put64(0x258, UINT64_MAX - INIT_SIZE); /* the last that does not wrap parses */
	ck_assert_int_eq(bzimage_parse(img, img_len, &bz, err, sizeof(err)), 0);
}
END_TEST

/* Before 2.10 init_size is kernel_size * 4; for a kernel over 1 GiB that does not fit the 32-bit
 * field, and truncating it would leave too little room. The file is sparse: only its header
 * page is ever touched. */
START_TEST(test_parse_pre_2_10_huge)
{
	size_t len = (1ULL << 30) + (64ULL << 20);
	uint8_t *big = mmap(NULL, len, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ck_assert_ptr_ne(big, MAP_FAILED);
	memcpy(big, img, 0x1000);
	big[0x206] = 0x08; /* protocol 2.08: no init_size */
	err[0] = '\0';
	ck_assert_int_eq(bzimage_parse(big, len, &bz, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "4 GiB"), "reason: %s", err);
	munmap(big, len);
	/* The same header on a small kernel parses, with 4 times its size as init_size. */
	img[0x206] = 0x08;
	ck_assert_int_eq(bzimage_parse(img, img_len, &bz, err, sizeof(err)), 0);
	ck_assert_uint_eq(bz.init_size, 4 * KERNEL_LEN);
}
END_TEST

START_TEST(test_parse_not_loaded_high)
{
	img[0x211] = 0x80; /* CAN_USE_HEAP, but not LOADED_HIGH */
	expect_reject(img, img_len);
}
END_TEST

START_TEST(test_check_cmdline)
{
	struct kernel_image k;
	struct kernel_file f = {img, img_len, NULL, 0};
	struct kernel_options o = {KERNEL_BOOT_CLASSIC, NULL};
	ck_assert_int_eq(kernel_open(&k, &f, &o, err, sizeof(err)), 0);
	char line[CMDLINE_SZ + 2];
	memset(line, 'a', sizeof(line));
	line[CMDLINE_SZ] = '\0'; /* exactly cmdline_size bytes: allowed */
	ck_assert_int_eq(kernel_check_cmdline(&k, line), 0);
	line[CMDLINE_SZ] = 'a';
	line[CMDLINE_SZ + 1] = '\0';
	ck_assert_int_eq(kernel_check_cmdline(&k, line), -1);
	kernel_close(&k);
}
END_TEST

static void check_initrd(uint64_t addr, uint64_t len, uint64_t max, uint64_t ram_end,
			 uint64_t kernel_end)
{
	ck_assert_uint_ne(addr, 0);
	ck_assert_uint_eq(addr & 0xfff, 0);
	ck_assert_uint_ge(addr, kernel_end);
	ck_assert_uint_le(addr + len - 1, max);
	ck_assert_uint_le(addr + len, ram_end);
}

START_TEST(test_place_initrd)
{
	uint64_t len = MiB + 123;
	check_initrd(boot_place_initrd(INITRD_MAX, 64 * MiB, len, 24 * MiB), len, INITRD_MAX,
		     64 * MiB, 24 * MiB);
	/* initrd_addr_max below the end of RAM is what limits it */
	check_initrd(boot_place_initrd(0x37ffffff, 3 * GiB, len, 24 * MiB), len, 0x37ffffff,
		     3 * GiB, 24 * MiB);
	/* exactly one page-aligned place fits: kernel_end == ram_end - len */
	ck_assert_uint_eq(boot_place_initrd(INITRD_MAX, 64 * MiB, 4 * MiB, 60 * MiB), 60 * MiB);
}
END_TEST

START_TEST(test_place_initrd_no_fit)
{
	ck_assert_uint_eq(boot_place_initrd(INITRD_MAX, 64 * MiB, 4 * MiB + 1, 60 * MiB), 0);
	ck_assert_uint_eq(boot_place_initrd(INITRD_MAX, 64 * MiB, 65 * MiB, MiB), 0);
	ck_assert_uint_eq(boot_place_initrd(INITRD_MAX, 64 * MiB, 4096, 64 * MiB), 0);
	/* RAM is big enough, but initrd_addr_max is below the kernel */
	ck_assert_uint_eq(boot_place_initrd(16 * MiB - 1, GiB, 4096, 24 * MiB), 0);
}
END_TEST

/* Loads img plus an initrd into mem_size bytes of RAM and checks the zero page. */
static void load_and_check(uint64_t mem_size)
{
	struct guest_mem mem;
	ck_assert_int_eq(gmem_init(&mem, mem_size), 0);
	static uint8_t initrd[12345];
	for (size_t i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i ^ 0x5a);
	const char *cmdline = "console=ttyS0 reboot=k root=/dev/ram0";
	struct boot_layout out;
	ck_assert_int_eq(load_img(&mem, initrd, sizeof(initrd), cmdline, &out), 0);

	size_t setup = (SETUP_SECTS + 1) * 512;
	ck_assert_mem_eq(gmem_ptr(&mem, BOOT_KERNEL_ADDR, KERNEL_LEN), img + setup, KERNEL_LEN);
	ck_assert(out.entry64);
	ck_assert_uint_eq(out.entry, BOOT_KERNEL_ADDR + 0x200);
	ck_assert_uint_eq(out.zero_page, BOOT_ZERO_PAGE_ADDR);
	ck_assert_uint_ge(out.kernel_end, PREF_ADDR + INIT_SIZE);
	ck_assert_uint_ge(out.kernel_end, BOOT_KERNEL_ADDR + KERNEL_LEN);

	struct boot_params *zp = gmem_ptr(&mem, BOOT_ZERO_PAGE_ADDR, sizeof(*zp));
	ck_assert_ptr_nonnull(zp);
	struct setup_header h;
	memcpy(&h, img + 0x1f1, sizeof(h));
	ck_assert_uint_eq(zp->hdr.setup_sects, SETUP_SECTS);
	ck_assert_uint_eq(zp->hdr.syssize, h.syssize);
	ck_assert_uint_eq(zp->hdr.boot_flag, 0xAA55);
	uint32_t magic = zp->hdr.header;
	ck_assert_mem_eq(&magic, "HdrS", 4);
	ck_assert_uint_eq(zp->hdr.version, 0x020f);
	ck_assert_uint_eq(zp->hdr.relocatable_kernel, 1);
	ck_assert_uint_eq(zp->hdr.kernel_alignment, h.kernel_alignment);
	ck_assert_uint_eq(zp->hdr.xloadflags, h.xloadflags);
	ck_assert_uint_eq(zp->hdr.cmdline_size, CMDLINE_SZ);
	ck_assert_uint_eq(zp->hdr.initrd_addr_max, INITRD_MAX);
	ck_assert_uint_eq(zp->hdr.pref_address, PREF_ADDR);
	ck_assert_uint_eq(zp->hdr.init_size, INIT_SIZE);
	ck_assert_uint_eq(zp->hdr.loadflags & 0x01, 0x01);
	ck_assert_uint_eq(zp->hdr.type_of_loader, 0xff);

	const char *cl = gmem_ptr(&mem, zp->hdr.cmd_line_ptr, strlen(cmdline) + 1);
	ck_assert_ptr_nonnull(cl);
	ck_assert_str_eq(cl, cmdline);

	uint64_t rd = zp->hdr.ramdisk_image;
	ck_assert_uint_eq(rd, out.initrd_addr);
	ck_assert_uint_eq(zp->hdr.ramdisk_size, sizeof(initrd));
	check_initrd(rd, sizeof(initrd), INITRD_MAX, gmem_low_end(&mem), out.kernel_end);
	ck_assert_mem_eq(gmem_ptr(&mem, rd, sizeof(initrd)), initrd, sizeof(initrd));

	struct e820_map map;
	ck_assert_int_eq(e820_build(&map, mem.regions, mem.nregions), 0);
	ck_assert_int_eq(zp->e820_entries, map.n);
	for (int i = 0; i < map.n; i++) {
		ck_assert_uint_eq(zp->e820_table[i].addr, map.e[i].addr);
		ck_assert_uint_eq(zp->e820_table[i].size, map.e[i].size);
		ck_assert_uint_eq(zp->e820_table[i].type, map.e[i].type);
	}
	gmem_free(&mem);
}

START_TEST(test_load_64m)
{
	load_and_check(64 * MiB);
}
END_TEST

START_TEST(test_load_5g)
{
	/* RAM above 4 GiB shows in the zero page's e820; the initrd stays below initrd_addr_max */
	load_and_check(5 * GiB);
}
END_TEST

START_TEST(test_load_cmdline_too_long)
{
	struct guest_mem mem;
	ck_assert_int_eq(gmem_init(&mem, 64 * MiB), 0);
	char line[CMDLINE_SZ + 2];
	memset(line, 'x', CMDLINE_SZ + 1);
	line[CMDLINE_SZ + 1] = '\0';
	struct boot_layout out;
	ck_assert_int_eq(load_img(&mem, NULL, 0, line, &out), -1);
	line[CMDLINE_SZ] = '\0';
	ck_assert_int_eq(load_img(&mem, NULL, 0, line, &out), 0);
	ck_assert_str_eq(gmem_ptr(&mem, BOOT_CMDLINE_ADDR, CMDLINE_SZ + 1), line);
	gmem_free(&mem);
}
END_TEST

START_TEST(test_load_mem_too_small)
{
	struct guest_mem mem;
	ck_assert_int_eq(gmem_init(&mem, 64 * MiB), 0);
	struct boot_layout out;
	/* pref_address 16M + init_size 64M does not fit in 64M of RAM */
	put32(0x260, 64 * MiB);
	ck_assert_int_eq(load_img(&mem, NULL, 0, "quiet", &out), -1);
	/* 48M does exactly */
	put32(0x260, 48 * MiB);
	ck_assert_int_eq(load_img(&mem, NULL, 0, "quiet", &out), 0);
	gmem_free(&mem);
}
END_TEST

static Suite *bzimage_suite(void)
{
	Suite *s = suite_create("bzimage");
	TCase *tc = tcase_create("parse");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_parse_good);
	tcase_add_test(tc, test_parse_setup_sects_zero);
	tcase_add_test(tc, test_parse_truncated);
	tcase_add_test(tc, test_parse_syssize_past_eof);
	tcase_add_test(tc, test_parse_never_reads_past_end);
	tcase_add_test(tc, test_parse_bad_magic);
	tcase_add_test(tc, test_parse_old_protocol);
	tcase_add_test(tc, test_parse_not_relocatable);
	tcase_add_test(tc, test_parse_not_loaded_high);
	tcase_add_test(tc, test_parse_run_area_wraps);
	tcase_add_test(tc, test_parse_pre_2_10_huge);
	tcase_add_test(tc, test_check_cmdline);
	tcase_add_test(tc, test_place_initrd);
	tcase_add_test(tc, test_place_initrd_no_fit);
	suite_add_tcase(s, tc);

	tc = tcase_create("load");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_load_64m);
	tcase_add_test(tc, test_load_5g);
	tcase_add_test(tc, test_load_cmdline_too_long);
	tcase_add_test(tc, test_load_mem_too_small);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(bzimage_suite());
}
