/* The graphical console's code (display.c) and SDL2 live in kvmm-display.so beside the kvmm
 * binary, loaded only for --display sdl: SDL2 brings about 45 libraries (X11, Wayland, ALSA,
 * PulseAudio, D-Bus, audio codecs) that every other VM would otherwise map, relocate and keep
 * resident, measured in kvmm's start and its memory beyond guest RAM. */
#pragma once

#include "cli/display.h"

struct display_module {
	void *handle;
	int (*open)(struct display *d, unsigned width, unsigned height);
	int (*start)(struct display *d, struct vm *vm, struct control *ctl);
	void (*close)(struct display *d);
};

/* In main(), before display_open: loads the module. Returns 0, or -1 after a one-line error
 * naming the file (not built, not installed beside kvmm, or a library of SDL's missing). */
int display_module_load(struct display_module *m);
