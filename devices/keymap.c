#include "keymap.h"

#include <ctype.h>
#include <linux/input-event-codes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vmm/log.h"

struct key {
	const char *name; /* QEMU's qcode; NULL: known by its HID usage only */
	uint16_t code;	  /* Linux KEY_* */
	uint8_t hid;	  /* USB HID keyboard page usage (= SDL_Scancode); 0: none */
};

/* In HID usage order. "print" and "sysrq" are one key on a PC keyboard, as in QEMU; HID 50 is
 * the ISO keyboard's key by Enter, which Linux's HID driver also calls KEY_BACKSLASH. */
static const struct key table[] = {
    {"a", KEY_A, 4},
    {"b", KEY_B, 5},
    {"c", KEY_C, 6},
    {"d", KEY_D, 7},
    {"e", KEY_E, 8},
    {"f", KEY_F, 9},
    {"g", KEY_G, 10},
    {"h", KEY_H, 11},
    {"i", KEY_I, 12},
    {"j", KEY_J, 13},
    {"k", KEY_K, 14},
    {"l", KEY_L, 15},
    {"m", KEY_M, 16},
    {"n", KEY_N, 17},
    {"o", KEY_O, 18},
    {"p", KEY_P, 19},
    {"q", KEY_Q, 20},
    {"r", KEY_R, 21},
    {"s", KEY_S, 22},
    {"t", KEY_T, 23},
    {"u", KEY_U, 24},
    {"v", KEY_V, 25},
    {"w", KEY_W, 26},
    {"x", KEY_X, 27},
    {"y", KEY_Y, 28},
    {"z", KEY_Z, 29},
    {"1", KEY_1, 30},
    {"2", KEY_2, 31},
    {"3", KEY_3, 32},
    {"4", KEY_4, 33},
    {"5", KEY_5, 34},
    {"6", KEY_6, 35},
    {"7", KEY_7, 36},
    {"8", KEY_8, 37},
    {"9", KEY_9, 38},
    {"0", KEY_0, 39},
    {"ret", KEY_ENTER, 40},
    {"esc", KEY_ESC, 41},
    {"backspace", KEY_BACKSPACE, 42},
    {"tab", KEY_TAB, 43},
    {"spc", KEY_SPACE, 44},
    {"minus", KEY_MINUS, 45},
    {"equal", KEY_EQUAL, 46},
    {"bracket_left", KEY_LEFTBRACE, 47},
    {"bracket_right", KEY_RIGHTBRACE, 48},
    {"backslash", KEY_BACKSLASH, 49},
    {NULL, KEY_BACKSLASH, 50},
    {"semicolon", KEY_SEMICOLON, 51},
    {"apostrophe", KEY_APOSTROPHE, 52},
    {"grave_accent", KEY_GRAVE, 53},
    {"comma", KEY_COMMA, 54},
    {"dot", KEY_DOT, 55},
    {"slash", KEY_SLASH, 56},
    {"caps_lock", KEY_CAPSLOCK, 57},
    {"f1", KEY_F1, 58},
    {"f2", KEY_F2, 59},
    {"f3", KEY_F3, 60},
    {"f4", KEY_F4, 61},
    {"f5", KEY_F5, 62},
    {"f6", KEY_F6, 63},
    {"f7", KEY_F7, 64},
    {"f8", KEY_F8, 65},
    {"f9", KEY_F9, 66},
    {"f10", KEY_F10, 67},
    {"f11", KEY_F11, 68},
    {"f12", KEY_F12, 69},
    {"print", KEY_SYSRQ, 70},
    {"sysrq", KEY_SYSRQ, 0},
    {"scroll_lock", KEY_SCROLLLOCK, 71},
    {"pause", KEY_PAUSE, 72},
    {"insert", KEY_INSERT, 73},
    {"home", KEY_HOME, 74},
    {"pgup", KEY_PAGEUP, 75},
    {"delete", KEY_DELETE, 76},
    {"end", KEY_END, 77},
    {"pgdn", KEY_PAGEDOWN, 78},
    {"right", KEY_RIGHT, 79},
    {"left", KEY_LEFT, 80},
    {"down", KEY_DOWN, 81},
    {"up", KEY_UP, 82},
    {"num_lock", KEY_NUMLOCK, 83},
    {"kp_divide", KEY_KPSLASH, 84},
    {"kp_multiply", KEY_KPASTERISK, 85},
    {"kp_subtract", KEY_KPMINUS, 86},
    {"kp_add", KEY_KPPLUS, 87},
    {"kp_enter", KEY_KPENTER, 88},
    {"kp_1", KEY_KP1, 89},
    {"kp_2", KEY_KP2, 90},
    {"kp_3", KEY_KP3, 91},
    {"kp_4", KEY_KP4, 92},
    {"kp_5", KEY_KP5, 93},
    {"kp_6", KEY_KP6, 94},
    {"kp_7", KEY_KP7, 95},
    {"kp_8", KEY_KP8, 96},
    {"kp_9", KEY_KP9, 97},
    {"kp_0", KEY_KP0, 98},
    {"kp_decimal", KEY_KPDOT, 99},
    {"less", KEY_102ND, 100},
    {"compose", KEY_COMPOSE, 101},
    {"power", KEY_POWER, 102},
    {"kp_equals", KEY_KPEQUAL, 103},
    {"f13", KEY_F13, 104},
    {"f14", KEY_F14, 105},
    {"f15", KEY_F15, 106},
    {"f16", KEY_F16, 107},
    {"f17", KEY_F17, 108},
    {"f18", KEY_F18, 109},
    {"f19", KEY_F19, 110},
    {"f20", KEY_F20, 111},
    {"f21", KEY_F21, 112},
    {"f22", KEY_F22, 113},
    {"f23", KEY_F23, 114},
    {"f24", KEY_F24, 115},
    {"help", KEY_HELP, 117},
    {"menu", KEY_MENU, 118},
    {"stop", KEY_STOP, 120},
    {"again", KEY_AGAIN, 121},
    {"undo", KEY_UNDO, 122},
    {"cut", KEY_CUT, 123},
    {"copy", KEY_COPY, 124},
    {"paste", KEY_PASTE, 125},
    {"find", KEY_FIND, 126},
    {"audiomute", KEY_MUTE, 127},
    {"volumeup", KEY_VOLUMEUP, 128},
    {"volumedown", KEY_VOLUMEDOWN, 129},
    {"kp_comma", KEY_KPCOMMA, 133},
    {"ro", KEY_RO, 135},
    {"katakanahiragana", KEY_KATAKANAHIRAGANA, 136},
    {"yen", KEY_YEN, 137},
    {"henkan", KEY_HENKAN, 138},
    {"muhenkan", KEY_MUHENKAN, 139},
    {"lang1", KEY_HANGEUL, 144},
    {"lang2", KEY_HANJA, 145},
    {"ctrl", KEY_LEFTCTRL, 224},
    {"shift", KEY_LEFTSHIFT, 225},
    {"alt", KEY_LEFTALT, 226},
    {"meta_l", KEY_LEFTMETA, 227},
    {"ctrl_r", KEY_RIGHTCTRL, 228},
    {"shift_r", KEY_RIGHTSHIFT, 229},
    {"alt_r", KEY_RIGHTALT, 230},
    {"meta_r", KEY_RIGHTMETA, 231},
};

#define NKEYS (sizeof(table) / sizeof(table[0]))

int keymap_by_name(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (table[i].name && !strcasecmp(table[i].name, name))
			return table[i].code;
	return -1;
}

int keymap_by_hid(unsigned usage)
{
	for (size_t i = 0; usage && i < NKEYS; i++)
		if (table[i].hid == usage)
			return table[i].code;
	return -1;
}

const char *keymap_name(unsigned code)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (table[i].name && table[i].code == code)
			return table[i].name;
	return NULL;
}

/* A key of a combo, len bytes at s: a name, or a Linux code in hex ("0x1c"). */
static int combo_key(const char *s, size_t len)
{
	char name[24];
	if (len >= sizeof(name))
		return -1;
	memcpy(name, s, len);
	name[len] = '\0';
	if (len > 2 && name[0] == '0' && (name[1] == 'x' || name[1] == 'X')) {
		for (size_t i = 2; i < len; i++)
			if (!isxdigit((unsigned char)name[i]))
				return -1;
		unsigned long v = strtoul(name + 2, NULL, 16);
		return v >= 1 && v <= KEYMAP_MAX_CODE ? (int)v : -1;
	}
	return keymap_by_name(name);
}

int keymap_parse_combo(const char *keys, uint16_t *codes, unsigned max, char *err, size_t errlen)
{
	if (!*keys)
		return err_set(err, errlen, "sendkey: no key given");
	unsigned n = 0;
	const char *s = keys;
	for (;;) {
		size_t len = strcspn(s, "-");
		if (len == 0)
			return err_set(err, errlen, "sendkey: empty key name in '%s'", keys);
		int code = combo_key(s, len);
		if (code < 0)
			return err_set(err, errlen, "sendkey: unknown key '%.*s' in '%s'", (int)len,
				       s, keys);
		if (n == max)
			return err_set(err, errlen, "sendkey: more than %u keys in '%s'", max,
				       keys);
		codes[n++] = (uint16_t)code;
		if (!s[len])
			return (int)n;
		s += len + 1;
	}
}
