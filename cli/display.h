/* The graphical console (--display sdl): the guest's framebuffer in an SDL2 window, redrawn
 * from KVM's dirty log at most 60 times a second on a thread of its own, with the window's
 * keyboard and mouse going to the guest's virtio-input keyboard and tablet. Closing the window
 * presses the guest's power button (or quits, when nothing would answer it). */
#pragma once

#include <iconv.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct vm;
struct control;

#define KEY_WORDS 4 /* bits for Linux key codes 0..255 (KEYMAP_MAX_CODE is 248) */

struct display {
	void *window, *renderer, *texture; /* SDL_Window, SDL_Renderer, SDL_Texture */
	iconv_t iconv;			   /* held for SDL's key path: see display_open */
	unsigned width, height;
	struct vm *vm;
	struct control *ctl;
	pthread_t thread;
	bool started;
	_Atomic bool quit;
	bool grabbed;
	bool close_pressed; /* the window was closed once: the power button is pressed */
	unsigned buttons;   /* mouse buttons down, VIRTIO_INPUT_BTN_* */
	int px, py;	    /* the pointer, in framebuffer pixels */
	bool pointer_owed;  /* moved while the VM was paused: sent once it runs */
	/* Linux key codes the guest was told are down, and releases made while it was paused. */
	uint64_t keys_down[KEY_WORDS], keys_owed[KEY_WORDS];
	uint64_t last_fps_ns;
	unsigned frames_this_second, fps_shown;
};

/* In main(), before KVM and before privileges are dropped: SDL, the window (black) and what
 * draws into it. Returns 0, or -1 after a one-line error (no display to open, say). */
int display_open(struct display *d, unsigned width, unsigned height);
/* Once the VM runs: the display thread. Returns 0, or -1 after printing why. */
int display_start(struct display *d, struct vm *vm, struct control *ctl);
/* Ends the thread (it also ends by itself once the VM stops) and closes the window. */
void display_close(struct display *d);
