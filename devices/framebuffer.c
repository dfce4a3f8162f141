#include "framebuffer.h"

#include <errno.h>
#include <linux/kvm.h>
#include <linux/screen_info.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "vmm/kvm.h"
#include "vmm/log.h"

#define PAGE	  4096ULL
#define LFB_UNIT  (64ULL << 10) /* screen_info.lfb_size counts these for VESA modes */
#define WORD_BITS 64

const char *framebuffer_check_mode(unsigned width, unsigned height)
{
	static char why[128];
	if (width < FB_MIN_WIDTH || width > FB_MAX_WIDTH || height < FB_MIN_HEIGHT ||
	    height > FB_MAX_HEIGHT) {
		snprintf(why, sizeof(why), "%ux%u is outside %ux%u to %ux%u", width, height,
			 FB_MIN_WIDTH, FB_MIN_HEIGHT, FB_MAX_WIDTH, FB_MAX_HEIGHT);
		return why;
	}
	/* fbcon draws 8-pixel-wide glyphs; an odd width leaves a ragged edge Linux handles,
	 * but vesafb's line length must stay a whole number of 32-bit pixels anyway. */
	if (width % 8) {
		snprintf(why, sizeof(why), "width %u is not a multiple of 8", width);
		return why;
	}
	return NULL;
}

uint64_t framebuffer_size(unsigned width, unsigned height)
{
	uint64_t bytes = (uint64_t)width * height * FB_BPP;
	return (bytes + LFB_UNIT - 1) / LFB_UNIT * LFB_UNIT;
}

void framebuffer_screen_info(unsigned width, unsigned height, struct screen_info *si)
{
	memset(si, 0, sizeof(*si));
	si->orig_video_isVGA = VIDEO_TYPE_VLFB;
	si->lfb_width = (uint16_t)width;
	si->lfb_height = (uint16_t)height;
	si->lfb_depth = 32;
	si->lfb_linelength = (uint16_t)(width * FB_BPP);
	si->lfb_base = (uint32_t)FB_BASE;
	si->lfb_size = (uint32_t)(framebuffer_size(width, height) / LFB_UNIT);
	/* XRGB8888, as SDL's and libpng's conversions assume. */
	si->red_size = 8, si->red_pos = 16;
	si->green_size = 8, si->green_pos = 8;
	si->blue_size = 8, si->blue_pos = 0;
	si->rsvd_size = 8, si->rsvd_pos = 24;
	si->pages = 1;
	/* No text mode: with cols and lines 0 nothing (a decompressor's messages, vgacon) writes
	 * to 0xb8000 or the VGA ports, which no device here claims. */
}

int framebuffer_init(struct framebuffer *fb, struct kvm *kvm, unsigned width, unsigned height)
{
	memset(fb, 0, sizeof(*fb));
	const char *why = framebuffer_check_mode(width, height);
	if (why) {
		log_error("framebuffer: %s", why);
		return -1;
	}
	fb->width = width, fb->height = height, fb->stride = width * FB_BPP;
	fb->size = framebuffer_size(width, height);
	fb->kvm = kvm;
	fb->pixels = mmap(NULL, fb->size, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (fb->pixels == MAP_FAILED) {
		fb->pixels = NULL;
		log_error("framebuffer: mmap %llu bytes: %s", (unsigned long long)fb->size,
			  strerror(errno));
		return -1;
	}
	uint64_t pages = fb->size / PAGE;
	fb->dirty_words = (size_t)((pages + WORD_BITS - 1) / WORD_BITS);
	fb->dirty = calloc(fb->dirty_words, sizeof(*fb->dirty));
	if (!fb->dirty) {
		log_error("out of memory");
		framebuffer_destroy(fb);
		return -1;
	}
	struct kvm_userspace_memory_region r = {
	    .slot = FB_SLOT,
	    .flags = KVM_MEM_LOG_DIRTY_PAGES,
	    .guest_phys_addr = FB_BASE,
	    .memory_size = fb->size,
	    .userspace_addr = (uint64_t)(uintptr_t)fb->pixels,
	};
	if (ioctl(kvm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
		log_error("framebuffer: KVM_SET_USER_MEMORY_REGION at 0x%llx: %s",
			  (unsigned long long)FB_BASE, strerror(errno));
		framebuffer_destroy(fb);
		return -1;
	}
	atomic_store(&fb->all_dirty, true);
	return 0;
}

void framebuffer_reset(struct framebuffer *fb)
{
	/* MADV_DONTNEED gives zero pages back: black, and the memory returned until drawn. */
	if (madvise(fb->pixels, fb->size, MADV_DONTNEED) < 0)
		memset(fb->pixels, 0, fb->size);
	atomic_store(&fb->all_dirty, true);
}

void framebuffer_destroy(struct framebuffer *fb)
{
	/* Its memslot goes with the VM's fd; no vCPU runs by now. */
	if (fb->pixels)
		munmap(fb->pixels, fb->size);
	fb->pixels = NULL;
	free(fb->dirty);
	fb->dirty = NULL;
}

void framebuffer_dirty_rows(const uint64_t *bitmap, size_t words, unsigned stride, unsigned height,
			    unsigned *y0, unsigned *y1)
{
	size_t first = SIZE_MAX, last = 0;
	for (size_t w = 0; w < words; w++) {
		if (!bitmap[w])
			continue;
		size_t lo = w * WORD_BITS + (size_t)__builtin_ctzll(bitmap[w]);
		size_t hi = w * WORD_BITS + WORD_BITS - 1 - (size_t)__builtin_clzll(bitmap[w]);
		if (first == SIZE_MAX)
			first = lo;
		last = hi;
	}
	*y0 = *y1 = 0;
	if (first == SIZE_MAX || !stride)
		return;
	uint64_t top = first * PAGE / stride, bottom = ((last + 1) * PAGE + stride - 1) / stride;
	if (top >= height)
		return; /* only the padding past the last row: nothing on screen */
	*y0 = (unsigned)top;
	*y1 = bottom < height ? (unsigned)bottom : height;
}

int framebuffer_collect(struct framebuffer *fb, unsigned *y0, unsigned *y1)
{
	struct kvm_dirty_log log = {.slot = FB_SLOT, .dirty_bitmap = fb->dirty};
	memset(fb->dirty, 0, fb->dirty_words * sizeof(*fb->dirty));
	int r = ioctl(fb->kvm->vm_fd, KVM_GET_DIRTY_LOG, &log);
	if (atomic_exchange(&fb->all_dirty, false)) {
		*y0 = 0, *y1 = fb->height;
		return 0;
	}
	if (r < 0) {
		*y0 = *y1 = 0;
		return -1;
	}
	framebuffer_dirty_rows(fb->dirty, fb->dirty_words, fb->stride, fb->height, y0, y1);
	return 0;
}
