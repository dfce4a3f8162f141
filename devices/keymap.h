/* Key names and key numbers for the guest's keyboard: QEMU's sendkey names (its QKeyCode
 * "qcodes") and USB HID keyboard usages, both to Linux input codes (KEY_*), which is what
 * virtio-input carries. HID usages are also SDL2's SDL_Scancode values, so the display passes
 * those as they are. One table holds all three, so a key cannot be known by one name and not by
 * another. No state: callable from any thread. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* The highest Linux code a combo may name by number, and the top of the keyboard's key range. */
#define KEYMAP_MAX_CODE 248 /* KEY_MICMUTE */
/* Keys in one sendkey combo: more than anyone can hold down. */
#define KEYMAP_MAX_COMBO 16

/* The Linux code of a sendkey name ("ctrl_r", "kp_enter"; any case), or -1. */
int keymap_by_name(const char *name);
/* The Linux code of a USB HID keyboard usage (= SDL_Scancode), or -1. */
int keymap_by_hid(unsigned usage);
/* The first sendkey name for a Linux code, or NULL. */
const char *keymap_name(unsigned code);

/* QEMU's sendkey syntax: "ctrl-alt-delete", key names (or Linux codes as "0x1c") joined by '-',
 * to be pressed in that order and released in reverse. Puts at most max codes in codes and
 * returns how many; or returns -1 with a one-line reason in err ("sendkey: unknown key 'foo' in
 * 'ctrl-foo'"). */
int keymap_parse_combo(const char *keys, uint16_t *codes, unsigned max, char *err, size_t errlen);
