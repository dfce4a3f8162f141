/* The keymap: sendkey names and HID usages (SDL scancodes) to Linux key codes, and QEMU's
 * sendkey combo syntax with its errors. */
#include <linux/input-event-codes.h>
#include <stdio.h>
#include <string.h>

#include "devices/keymap.h"
#include "unit.h"

START_TEST(test_names)
{
	ck_assert_int_eq(keymap_by_name("a"), KEY_A);
	ck_assert_int_eq(keymap_by_name("0"), KEY_0);
	ck_assert_int_eq(keymap_by_name("ret"), KEY_ENTER);
	ck_assert_int_eq(keymap_by_name("spc"), KEY_SPACE);
	ck_assert_int_eq(keymap_by_name("ctrl_r"), KEY_RIGHTCTRL);
	ck_assert_int_eq(keymap_by_name("meta_l"), KEY_LEFTMETA);
	ck_assert_int_eq(keymap_by_name("less"), KEY_102ND);
	ck_assert_int_eq(keymap_by_name("kp_enter"), KEY_KPENTER);
	ck_assert_int_eq(keymap_by_name("kp_7"), KEY_KP7);
	ck_assert_int_eq(keymap_by_name("print"), KEY_SYSRQ);
	ck_assert_int_eq(keymap_by_name("sysrq"), KEY_SYSRQ);
	ck_assert_int_eq(keymap_by_name("menu"), KEY_MENU);
	ck_assert_int_eq(keymap_by_name("Delete"), KEY_DELETE); /* any case */
	ck_assert_int_eq(keymap_by_name("foo"), -1);
	ck_assert_int_eq(keymap_by_name(""), -1);
	ck_assert_int_eq(keymap_by_name("kp_"), -1); /* a prefix is not a name */
	ck_assert_str_eq(keymap_name(KEY_ENTER), "ret");
	ck_assert_ptr_null(keymap_name(KEY_RESERVED));
}
END_TEST

/* Every name QEMU's sendkey documents is here, inside the keyboard's announced range, and
 * gives its code back its own name or another for the same key. */
START_TEST(test_every_sendkey_name)
{
	static const char *const names[] = {
	    "ret",	     "spc",	    "tab",	  "esc",	 "backspace",
	    "delete",	     "insert",	    "home",	  "end",	 "pgup",
	    "pgdn",	     "up",	    "down",	  "left",	 "right",
	    "ctrl",	     "ctrl_r",	    "alt",	  "alt_r",	 "shift",
	    "shift_r",	     "meta_l",	    "meta_r",	  "menu",	 "caps_lock",
	    "num_lock",	     "scroll_lock", "minus",	  "equal",	 "bracket_left",
	    "bracket_right", "backslash",   "semicolon",  "apostrophe",	 "grave_accent",
	    "comma",	     "dot",	    "slash",	  "less",	 "print",
	    "sysrq",	     "pause",	    "kp_add",	  "kp_subtract", "kp_multiply",
	    "kp_divide",     "kp_enter",    "kp_decimal",
	};
	char name[8];
	unsigned n = sizeof(names) / sizeof(names[0]);
	enum { ALL = sizeof(names) / sizeof(names[0]) + 26 + 10 + 12 + 10 };
	int codes[ALL];
	char spelled[ALL][16];
	for (unsigned i = 0; i < ALL; i++) {
		const char *k = name;
		if (i < n)
			k = names[i];
		else if (i < n + 26)
			snprintf(name, sizeof(name), "%c", 'a' + (i - n));
		else if (i < n + 36)
			snprintf(name, sizeof(name), "%u", i - n - 26);
		else if (i < n + 48)
			snprintf(name, sizeof(name), "f%u", i - n - 36 + 1);
		else
			snprintf(name, sizeof(name), "kp_%u", i - n - 48);
		int code = keymap_by_name(k);
		ck_assert_msg(code >= 1 && code <= KEYMAP_MAX_CODE, "%s: %d", k, code);
		const char *back = keymap_name((unsigned)code);
		ck_assert_ptr_nonnull(back);
		ck_assert_int_eq(keymap_by_name(back), code);
		codes[i] = code;
		snprintf(spelled[i], sizeof(spelled[i]), "%s", k);
	}
	/* Different names are different keys, but for QEMU's one alias. */
	for (unsigned i = 0; i < ALL; i++)
		for (unsigned j = i + 1; j < ALL; j++)
			ck_assert_msg(codes[i] != codes[j] || (!strcmp(spelled[i], "print") &&
							       !strcmp(spelled[j], "sysrq")),
				      "%s and %s are both %d", spelled[i], spelled[j], codes[i]);
}
END_TEST

/* HID usages are SDL scancodes: SDL_SCANCODE_A 4, RETURN 40, F1 58, KP_1 89, LCTRL 224. */
START_TEST(test_hid)
{
	ck_assert_int_eq(keymap_by_hid(4), KEY_A);
	ck_assert_int_eq(keymap_by_hid(29), KEY_Z);
	ck_assert_int_eq(keymap_by_hid(30), KEY_1);
	ck_assert_int_eq(keymap_by_hid(39), KEY_0);
	ck_assert_int_eq(keymap_by_hid(40), KEY_ENTER);
	ck_assert_int_eq(keymap_by_hid(44), KEY_SPACE);
	ck_assert_int_eq(keymap_by_hid(58), KEY_F1);
	ck_assert_int_eq(keymap_by_hid(69), KEY_F12);
	ck_assert_int_eq(keymap_by_hid(79), KEY_RIGHT);
	ck_assert_int_eq(keymap_by_hid(82), KEY_UP);
	ck_assert_int_eq(keymap_by_hid(89), KEY_KP1);
	ck_assert_int_eq(keymap_by_hid(98), KEY_KP0);
	ck_assert_int_eq(keymap_by_hid(100), KEY_102ND);
	ck_assert_int_eq(keymap_by_hid(224), KEY_LEFTCTRL);
	ck_assert_int_eq(keymap_by_hid(230), KEY_RIGHTALT);
	ck_assert_int_eq(keymap_by_hid(231), KEY_RIGHTMETA);
	ck_assert_int_eq(keymap_by_hid(0), -1);
	ck_assert_int_eq(keymap_by_hid(1), -1); /* ErrorRollOver: not a key */
	ck_assert_int_eq(keymap_by_hid(232), -1);
	ck_assert_int_eq(keymap_by_hid(100000), -1);
}
END_TEST

START_TEST(test_combo)
{
	uint16_t c[KEYMAP_MAX_COMBO];
	char err[128] = "";
	ck_assert_int_eq(
	    keymap_parse_combo("ctrl-alt-delete", c, KEYMAP_MAX_COMBO, err, sizeof(err)), 3);
	ck_assert_uint_eq(c[0], KEY_LEFTCTRL);
	ck_assert_uint_eq(c[1], KEY_LEFTALT);
	ck_assert_uint_eq(c[2], KEY_DELETE);
	ck_assert_int_eq(keymap_parse_combo("a", c, KEYMAP_MAX_COMBO, err, sizeof(err)), 1);
	ck_assert_uint_eq(c[0], KEY_A);
	ck_assert_int_eq(keymap_parse_combo("shift-0x1e", c, KEYMAP_MAX_COMBO, err, sizeof(err)),
			 2);
	ck_assert_uint_eq(c[1], KEY_A);
	ck_assert_str_eq(err, ""); /* success leaves it alone */
}
END_TEST

static void combo_fails(const char *keys, unsigned max, const char *want)
{
	uint16_t c[KEYMAP_MAX_COMBO + 1];
	char err[128] = "";
	ck_assert_int_eq(keymap_parse_combo(keys, c, max, err, sizeof(err)), -1);
	ck_assert_str_eq(err, want);
}

START_TEST(test_combo_errors)
{
	combo_fails("ctrl-foo", KEYMAP_MAX_COMBO, "sendkey: unknown key 'foo' in 'ctrl-foo'");
	combo_fails("foo", KEYMAP_MAX_COMBO, "sendkey: unknown key 'foo' in 'foo'");
	combo_fails("", KEYMAP_MAX_COMBO, "sendkey: no key given");
	combo_fails("ctrl-", KEYMAP_MAX_COMBO, "sendkey: empty key name in 'ctrl-'");
	combo_fails("-a", KEYMAP_MAX_COMBO, "sendkey: empty key name in '-a'");
	combo_fails("ctrl--a", KEYMAP_MAX_COMBO, "sendkey: empty key name in 'ctrl--a'");
	combo_fails("a-b-c", 2, "sendkey: more than 2 keys in 'a-b-c'");
	combo_fails("0x0", KEYMAP_MAX_COMBO, "sendkey: unknown key '0x0' in '0x0'");
	combo_fails("0xf9", KEYMAP_MAX_COMBO, "sendkey: unknown key '0xf9' in '0xf9'");
	combo_fails("0x1g", KEYMAP_MAX_COMBO, "sendkey: unknown key '0x1g' in '0x1g'");
	combo_fails("a-averyveryverylongkeyname", KEYMAP_MAX_COMBO,
		    "sendkey: unknown key 'averyveryverylongkeyname' in "
		    "'a-averyveryverylongkeyname'");
	/* Seventeen keys: one more than a combo holds. */
	combo_fails("a-b-c-d-e-f-g-h-i-j-k-l-m-n-o-p-q", KEYMAP_MAX_COMBO,
		    "sendkey: more than 16 keys in 'a-b-c-d-e-f-g-h-i-j-k-l-m-n-o-p-q'");
	/* An error that does not fit is cut, not overrun. */
	uint16_t c[4];
	char small[12];
	memset(small, 'x', sizeof(small));
	ck_assert_int_eq(keymap_parse_combo("nosuchkey", c, 4, small, sizeof(small)), -1);
	ck_assert_str_eq(small, "sendkey: un");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("keymap");
	TCase *tc = tcase_create("keymap");
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_every_sendkey_name);
	tcase_add_test(tc, test_hid);
	tcase_add_test(tc, test_combo);
	tcase_add_test(tc, test_combo_errors);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
