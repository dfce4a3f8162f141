#include "screendump.h"

#include <errno.h>
#include <fcntl.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* libpng reports through longjmp; its message is kept for the one-line error. */
struct png_failure {
	jmp_buf jump;
	char msg[128];
};

static void on_png_error(png_structp png, png_const_charp msg)
{
	struct png_failure *f = png_get_error_ptr(png);
	snprintf(f->msg, sizeof(f->msg), "%s", msg);
	longjmp(f->jump, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg)
{
	(void)png, (void)msg; /* nothing a screenshot needs to say */
}

/* Everything libpng touches after setjmp is volatile or allocated before it. */
static int write_rows(FILE *f, const uint8_t *pixels, unsigned width, unsigned height,
		      unsigned stride, uint8_t *row, char *err, size_t errlen)
{
	struct png_failure fail = {.msg = ""};
	png_structp png =
	    png_create_write_struct(PNG_LIBPNG_VER_STRING, &fail, on_png_error, on_png_warning);
	png_infop info = png ? png_create_info_struct(png) : NULL;
	if (!info) {
		png_destroy_write_struct(&png, NULL);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (setjmp(fail.jump)) {
		png_destroy_write_struct(&png, &info);
		snprintf(err, errlen, "libpng: %s", fail.msg);
		return -1;
	}
	png_init_io(png, f);
	png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
		     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	/* Screens are mostly flat colour: fast compression loses little. */
	png_set_compression_level(png, 3);
	png_write_info(png, info);
	for (unsigned y = 0; y < height; y++) {
		const uint8_t *src = pixels + (size_t)y * stride;
		for (unsigned x = 0; x < width; x++) {
			/* XRGB8888 in memory (little-endian): B, G, R, X. */
			row[3 * x] = src[4 * x + 2];
			row[3 * x + 1] = src[4 * x + 1];
			row[3 * x + 2] = src[4 * x];
		}
		png_write_row(png, row);
	}
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	return 0;
}

int screendump_write_png(const char *path, const uint8_t *pixels, unsigned width, unsigned height,
			 unsigned stride, char *err, size_t errlen)
{
	if (!path || !*path) {
		snprintf(err, errlen, "screendump: no file name");
		return -1;
	}
	/* What is there already is replaced only when it is a regular file: `screendump /dev/null`
	 * from a client must not put a PNG where a device node was. */
	struct stat st;
	if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "screendump: %s exists and is not a regular file", path);
		return -1;
	}
	char tmp[4096];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid()) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "screendump: file name too long");
		return -1;
	}
	/* O_NOFOLLOW|O_EXCL: a client's name never writes through a planted link. */
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(err, errlen, "screendump: %s: %s", path, strerror(errno));
		return -1;
	}
	FILE *f = fdopen(fd, "wb");
	uint8_t *row = malloc((size_t)width * 3);
	if (!f || !row) {
		if (f)
			fclose(f);
		else
			close(fd);
		free(row);
		unlink(tmp);
		snprintf(err, errlen, "screendump: out of memory");
		return -1;
	}
	char why[160] = "";
	int r = write_rows(f, pixels, width, height, stride, row, why, sizeof(why));
	free(row);
	if (fclose(f) != 0 && r == 0) {
		snprintf(why, sizeof(why), "%s", strerror(errno));
		r = -1;
	}
	if (r == 0 && rename(tmp, path) < 0) {
		snprintf(why, sizeof(why), "%s", strerror(errno));
		r = -1;
	}
	if (r < 0) {
		unlink(tmp);
		snprintf(err, errlen, "screendump: %s: %s", path, why);
	}
	return r;
}
