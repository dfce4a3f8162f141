/* A linear framebuffer the guest draws on directly, as kvmtool's VESA mode gives one: guest
 * memory of its own (a memslot outside RAM, dirty-logged so a display redraws only what
 * changed), announced to Linux through the zero page's screen_info as a VESA linear framebuffer
 * (vesafb, built into Debian's kernel; fbcon draws the console on it). 32 bpp XRGB8888. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kvm;
struct screen_info;

/* Where it sits: inside the 32-bit PCI hole, below the virtio-mmio devices; the DSDT's PCI window
 * ends below it and e820 marks it reserved, so no BAR is ever put on it. */
#define FB_BASE	    0xfc000000ULL
#define FB_MAX_SIZE (16ULL << 20)
#define FB_SLOT	    8 /* memslots 0 and 1 are RAM's */
#define FB_BPP	    4

#define FB_MIN_WIDTH  320
#define FB_MIN_HEIGHT 200
#define FB_MAX_WIDTH  2560
#define FB_MAX_HEIGHT 1600

struct framebuffer {
	unsigned width, height, stride; /* stride: bytes per row */
	uint64_t size;			/* mapped and registered: whole 64 KiB units (vesafb's) */
	uint8_t *pixels;		/* the host's view of the guest's framebuffer */
	struct kvm *kvm;
	uint64_t *dirty; /* KVM_GET_DIRTY_LOG's bitmap, one bit per page */
	size_t dirty_words;
	_Atomic bool all_dirty; /* the host wrote it (power-on): the next collect reports it all */
	/* What a display (cli/display.c) did with it, for `info display`. */
	_Atomic bool shown;
	_Atomic uint64_t frames; /* presented since start */
	_Atomic unsigned fps;	 /* in the last whole second */
};

/* Whether width x height is a mode kvmm offers (NULL), else why not, naming the limits. */
const char *framebuffer_check_mode(unsigned width, unsigned height);

/* Maps the pixels (black) and registers them with KVM, dirty-logged. Returns 0, or -1 after
 * printing why. */
int framebuffer_init(struct framebuffer *fb, struct kvm *kvm, unsigned width, unsigned height);
void framebuffer_destroy(struct framebuffer *fb);
/* Power-on: a black screen (the whole of it reported dirty by the next collect). */
void framebuffer_reset(struct framebuffer *fb);

/* screen_info for the zero page: a VESA linear framebuffer of this mode at FB_BASE. Pure. */
void framebuffer_screen_info(unsigned width, unsigned height, struct screen_info *si);
/* Bytes of guest-physical space the framebuffer takes for this mode (64 KiB units). Pure. */
uint64_t framebuffer_size(unsigned width, unsigned height);

/* The rows the guest wrote since the last call: [*y0, *y1) (empty when *y0 == *y1). Reads
 * and clears KVM's dirty log for the slot. Returns 0, or -1 when KVM refused (errno set). */
int framebuffer_collect(struct framebuffer *fb, unsigned *y0, unsigned *y1);
/* The same from a dirty bitmap (one bit per 4 KiB page of a framebuffer with this stride and
 * height): pure, for tests. */
void framebuffer_dirty_rows(const uint64_t *bitmap, size_t words, unsigned stride, unsigned height,
			    unsigned *y0, unsigned *y1);
