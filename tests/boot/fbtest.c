/* The guest's side of tests/boot/display.sh (and tests/bench/display.sh): a static program
 * that draws on /dev/fb0 as any framebuffer program would, through the fbdev ioctls.
 *   fbtest info            FB WIDTHxHEIGHT bpp=N stride=N (what vesafb made of kvmm's mode)
 *   fbtest pattern         the VT in graphics mode (fbcon stops drawing), then the test
 *                          pattern every pixel of which display.sh checks in a screendump
 *   fbtest redraw SECONDS  the whole screen redrawn as fast as it goes, a new colour each
 *                          time; prints the guest's frame rate
 * The pattern: red = (3x + y) & 255, green = (x ^ y) & 255, blue = (x + 5y) & 255. */
#include <fcntl.h>
#include <linux/fb.h>
#include <linux/kd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static struct fb_var_screeninfo var;
static struct fb_fix_screeninfo fix;

static uint8_t *map_fb(void)
{
	int fd = open("/dev/fb0", O_RDWR);
	if (fd < 0 || ioctl(fd, FBIOGET_VSCREENINFO, &var) < 0 ||
	    ioctl(fd, FBIOGET_FSCREENINFO, &fix) < 0) {
		perror("fbtest: /dev/fb0");
		exit(1);
	}
	uint8_t *p = mmap(NULL, fix.smem_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		perror("fbtest: mmap /dev/fb0");
		exit(1);
	}
	if (var.bits_per_pixel != 32) {
		fprintf(stderr, "fbtest: %u bpp, want 32\n", var.bits_per_pixel);
		exit(1);
	}
	return p;
}

static uint32_t rgb(unsigned r, unsigned g, unsigned b)
{
	return (uint32_t)r << var.red.offset | (uint32_t)g << var.green.offset |
	       (uint32_t)b << var.blue.offset;
}

/* fbcon draws its cursor and text unless the VT is in graphics mode, as X servers put it. */
static void graphics_mode(void)
{
	int fd = open("/dev/tty1", O_RDWR);
	if (fd < 0 || ioctl(fd, KDSETMODE, KD_GRAPHICS) < 0) {
		perror("fbtest: KDSETMODE KD_GRAPHICS on /dev/tty1");
		exit(1);
	}
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "info")) {
		map_fb();
		printf("FB %ux%u bpp=%u stride=%u id=%s\n", var.xres, var.yres, var.bits_per_pixel,
		       fix.line_length, fix.id);
		return 0;
	}
	if (argc >= 2 && !strcmp(argv[1], "pattern")) {
		uint8_t *fb = map_fb();
		graphics_mode();
		for (unsigned y = 0; y < var.yres; y++) {
			uint32_t *row = (uint32_t *)(fb + (size_t)y * fix.line_length);
			for (unsigned x = 0; x < var.xres; x++)
				row[x] = rgb((3 * x + y) & 255, (x ^ y) & 255, (x + 5 * y) & 255);
		}
		msync(fb, fix.smem_len, MS_SYNC);
		printf("PATTERN-DONE %ux%u\n", var.xres, var.yres);
		return 0;
	}
	if (argc >= 3 && !strcmp(argv[1], "redraw")) {
		uint8_t *fb = map_fb();
		graphics_mode();
		double secs = atof(argv[2]), start = now(), t;
		unsigned frames = 0;
		do {
			uint32_t c = rgb(frames * 7 & 255, frames * 13 & 255, frames * 29 & 255);
			for (unsigned y = 0; y < var.yres; y++) {
				uint32_t *row = (uint32_t *)(fb + (size_t)y * fix.line_length);
				for (unsigned x = 0; x < var.xres; x++)
					row[x] = c;
			}
			frames++;
			t = now() - start;
		} while (t < secs);
		printf("REDRAW frames=%u seconds=%.2f guest_fps=%.1f\n", frames, t, frames / t);
		return 0;
	}
	fprintf(stderr, "usage: fbtest info | pattern | redraw SECONDS\n");
	return 2;
}
