/* The framebuffer's pure parts (modes, screen_info, dirty pages to rows) and screendump's PNG,
 * read back through libpng: no KVM needed. */
#include <check.h>
#include <linux/screen_info.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/framebuffer.h"
#include "unit.h"
#include "vmm/screendump.h"

START_TEST(test_modes)
{
	ck_assert_ptr_null(framebuffer_check_mode(1024, 768));
	ck_assert_ptr_null(framebuffer_check_mode(FB_MIN_WIDTH, FB_MIN_HEIGHT));
	ck_assert_ptr_null(framebuffer_check_mode(FB_MAX_WIDTH, FB_MAX_HEIGHT));
	ck_assert_ptr_nonnull(strstr(framebuffer_check_mode(100, 768), "100x768"));
	ck_assert_ptr_nonnull(framebuffer_check_mode(1024, 1601));
	ck_assert_ptr_nonnull(framebuffer_check_mode(0, 0));
	ck_assert_ptr_nonnull(strstr(framebuffer_check_mode(1020, 768), "multiple of 8"));
	/* the largest mode fits the place kept for it */
	ck_assert_uint_le(framebuffer_size(FB_MAX_WIDTH, FB_MAX_HEIGHT), FB_MAX_SIZE);
	ck_assert_uint_eq(framebuffer_size(1024, 768), 3 * MiB);
	ck_assert_uint_eq(framebuffer_size(800, 600) % (64 << 10), 0);
	ck_assert_uint_ge(framebuffer_size(800, 600), 800 * 600 * 4);
}
END_TEST

START_TEST(test_screen_info)
{
	struct screen_info si;
	framebuffer_screen_info(1280, 800, &si);
	ck_assert_uint_eq(si.orig_video_isVGA, VIDEO_TYPE_VLFB);
	ck_assert_uint_eq(si.lfb_width, 1280);
	ck_assert_uint_eq(si.lfb_height, 800);
	ck_assert_uint_eq(si.lfb_depth, 32);
	ck_assert_uint_eq(si.lfb_linelength, 1280 * 4);
	ck_assert_uint_eq(si.lfb_base, FB_BASE);
	/* VESA modes count lfb_size in 64 KiB */
	ck_assert_uint_eq((uint64_t)si.lfb_size << 16, framebuffer_size(1280, 800));
	ck_assert_uint_eq(si.red_pos, 16);
	ck_assert_uint_eq(si.green_pos, 8);
	ck_assert_uint_eq(si.blue_pos, 0);
	ck_assert_uint_eq(si.red_size + si.green_size + si.blue_size + si.rsvd_size, 32);
	ck_assert_uint_eq(si.ext_lfb_base, 0); /* below 4 GiB: no 64-bit base */
}
END_TEST

START_TEST(test_dirty_rows)
{
	/* 1024 x 768, 4096 bytes a row: page n is row n */
	uint64_t bm[12] = {0};
	unsigned y0, y1;
	framebuffer_dirty_rows(bm, 12, 4096, 768, &y0, &y1);
	ck_assert_uint_eq(y0, y1);
	bm[0] = 1ULL << 5;
	bm[3] = 1ULL << 1; /* page 193 */
	framebuffer_dirty_rows(bm, 12, 4096, 768, &y0, &y1);
	ck_assert_uint_eq(y0, 5);
	ck_assert_uint_eq(y1, 194);
	/* 800 x 600 (3200 bytes a row): page 1 holds bytes 4096..8191, rows 1 and 2 */
	memset(bm, 0, sizeof(bm));
	bm[0] = 1ULL << 1;
	framebuffer_dirty_rows(bm, 12, 3200, 600, &y0, &y1);
	ck_assert_uint_eq(y0, 1);
	ck_assert_uint_eq(y1, 3);
	/* the last page of the mapping lies past the last row: clamped, or nothing */
	memset(bm, 0, sizeof(bm));
	bm[11] = 1ULL << 63; /* page 767 of a 768-row screen: the last row */
	framebuffer_dirty_rows(bm, 12, 4096, 768, &y0, &y1);
	ck_assert_uint_eq(y0, 767);
	ck_assert_uint_eq(y1, 768);
	framebuffer_dirty_rows(bm, 12, 4096, 700, &y0, &y1);
	ck_assert_uint_eq(y0, y1);
}
END_TEST

/* Reads a PNG back with libpng: width, height and RGB rows. */
static uint8_t *read_png(const char *path, unsigned *w, unsigned *h)
{
	FILE *f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	png_infop info = png_create_info_struct(png);
	png_init_io(png, f);
	png_read_info(png, info);
	*w = png_get_image_width(png, info);
	*h = png_get_image_height(png, info);
	ck_assert_int_eq(png_get_color_type(png, info), PNG_COLOR_TYPE_RGB);
	ck_assert_int_eq(png_get_bit_depth(png, info), 8);
	uint8_t *rgb = malloc((size_t)*w * *h * 3);
	for (unsigned y = 0; y < *h; y++)
		png_read_row(png, rgb + (size_t)y * *w * 3, NULL);
	png_destroy_read_struct(&png, &info, NULL);
	fclose(f);
	return rgb;
}

START_TEST(test_screendump_roundtrip)
{
	enum { W = 37, H = 11, STRIDE = 40 * 4 };
	uint8_t px[STRIDE * H];
	for (unsigned y = 0; y < H; y++)
		for (unsigned x = 0; x < STRIDE / 4; x++) {
			uint8_t *p = px + y * STRIDE + x * 4; /* XRGB8888: B, G, R, X */
			p[0] = (uint8_t)(x * 7), p[1] = (uint8_t)(y * 13), p[2] = (uint8_t)(x ^ y),
			p[3] = 0xee;
		}
	char dir[] = "/tmp/kvmm-png.XXXXXX", path[64], err[256];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s.png", dir);
	ck_assert_int_eq(screendump_write_png(path, px, W, H, STRIDE, err, sizeof(err)), 0);
	unsigned w, h;
	uint8_t *rgb = read_png(path, &w, &h);
	ck_assert_uint_eq(w, W);
	ck_assert_uint_eq(h, H);
	for (unsigned y = 0; y < H; y++)
		for (unsigned x = 0; x < W; x++) {
			const uint8_t *got = rgb + (y * W + x) * 3, *src = px + y * STRIDE + x * 4;
			ck_assert_uint_eq(got[0], src[2]);
			ck_assert_uint_eq(got[1], src[1]);
			ck_assert_uint_eq(got[2], src[0]);
		}
	free(rgb);
	/* an existing file is replaced whole (rename), and no temporary is left behind */
	ck_assert_int_eq(screendump_write_png(path, px, W, H, STRIDE, err, sizeof(err)), 0);
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "test $(ls %s | wc -l) -eq 1", dir);
	ck_assert_int_eq(system(cmd), 0);
	/* a directory that does not exist: one line naming the file */
	snprintf(path, sizeof(path), "%s/no/such.png", dir);
	ck_assert_int_eq(screendump_write_png(path, px, W, H, STRIDE, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "no/such.png"));
	ck_assert_ptr_null(strchr(err, '\n'));
	ck_assert_int_eq(screendump_write_png("", px, W, H, STRIDE, err, sizeof(err)), -1);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static Suite *framebuffer_suite(void)
{
	Suite *s = suite_create("framebuffer");
	TCase *tc = tcase_create("framebuffer");
	tcase_add_test(tc, test_modes);
	tcase_add_test(tc, test_screen_info);
	tcase_add_test(tc, test_dirty_rows);
	tcase_add_test(tc, test_screendump_roundtrip);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(framebuffer_suite());
}
