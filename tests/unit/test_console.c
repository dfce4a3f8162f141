/* The console's Ctrl-A escape filter. */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "cli/console.h"
#include "unit.h"

#define CA "\x01" /* Ctrl-A */

static struct console_escape esc;
static uint8_t out[256];
static size_t out_len;
static enum console_action act;

static void setup(void)
{
	memset(&esc, 0, sizeof(esc));
	memset(out, 0xee, sizeof(out));
	out_len = 12345;
	act = CONSOLE_HELP + 100;
}

/* Filters a string; returns the bytes consumed. */
static size_t filter(const char *in)
{
	return console_filter(&esc, (const uint8_t *)in, strlen(in), out, &out_len, &act);
}

START_TEST(test_plain_bytes)
{
	const char *in = "ls -l\r\x1b[A\x7f";
	ck_assert_uint_eq(filter(in), strlen(in));
	ck_assert_uint_eq(out_len, strlen(in));
	ck_assert_mem_eq(out, in, strlen(in));
	ck_assert_int_eq(act, CONSOLE_NONE);
	/* empty input */
	ck_assert_uint_eq(console_filter(&esc, out, 0, out, &out_len, &act), 0);
	ck_assert_uint_eq(out_len, 0);
	ck_assert_int_eq(act, CONSOLE_NONE);
}
END_TEST

START_TEST(test_quit_stops_consuming)
{
	const char *in = "ab" CA "xcd";
	ck_assert_uint_eq(filter(in), 4); /* a, b, Ctrl-A, x: not c or d */
	ck_assert_int_eq(act, CONSOLE_QUIT);
	ck_assert_uint_eq(out_len, 2);
	ck_assert_mem_eq(out, "ab", 2);
	/* the rest is ordinary input on the next call */
	ck_assert_uint_eq(filter(in + 4), 2);
	ck_assert_int_eq(act, CONSOLE_NONE);
	ck_assert_uint_eq(out_len, 2);
	ck_assert_mem_eq(out, "cd", 2);
}
END_TEST

START_TEST(test_help)
{
	const char *in = CA "hzz";
	ck_assert_uint_eq(filter(in), 2);
	ck_assert_int_eq(act, CONSOLE_HELP);
	ck_assert_uint_eq(out_len, 0);
	ck_assert_uint_eq(filter(in + 2), 2);
	ck_assert_int_eq(act, CONSOLE_NONE);
	ck_assert_mem_eq(out, "zz", 2);
}
END_TEST

/* Ctrl-A c toggles the monitor; the bytes around it are split at the key. */
START_TEST(test_monitor_key)
{
	const char *in = "ls" CA "cinfo";
	ck_assert_uint_eq(filter(in), 4);
	ck_assert_int_eq(act, CONSOLE_MONITOR);
	ck_assert_uint_eq(out_len, 2);
	ck_assert_mem_eq(out, "ls", 2);
	ck_assert_uint_eq(filter(in + 4), 4);
	ck_assert_int_eq(act, CONSOLE_NONE);
	ck_assert_mem_eq(out, "info", 4);
	ck_assert_uint_eq(filter(CA "C"), 2);
	ck_assert_int_eq(act, CONSOLE_MONITOR);
}
END_TEST

START_TEST(test_literal_ctrl_a)
{
	const char *in = "p" CA "aq";
	ck_assert_uint_eq(filter(in), 4);
	ck_assert_int_eq(act, CONSOLE_NONE);
	ck_assert_uint_eq(out_len, 3);
	ck_assert_mem_eq(out, "p" CA "q", 3);
}
END_TEST

START_TEST(test_split_escape)
{
	ck_assert_uint_eq(filter("k" CA), 2);
	ck_assert_int_eq(act, CONSOLE_NONE);
	ck_assert_uint_eq(out_len, 1);
	ck_assert_uint_eq(out[0], 'k');
	ck_assert_uint_eq(filter("x"), 1);
	ck_assert_int_eq(act, CONSOLE_QUIT);
	ck_assert_uint_eq(out_len, 0);

	setup();
	ck_assert_uint_eq(filter(CA), 1);
	ck_assert_uint_eq(out_len, 0);
	ck_assert_uint_eq(filter("a"), 1);
	ck_assert_int_eq(act, CONSOLE_NONE);
	ck_assert_uint_eq(out_len, 1);
	ck_assert_uint_eq(out[0], 0x01);
}
END_TEST

START_TEST(test_unknown_escape_swallowed)
{
	const char *in = "1" CA "z2";
	ck_assert_uint_eq(filter(in), 4);
	ck_assert_int_eq(act, CONSOLE_NONE);
	ck_assert_uint_eq(out_len, 2);
	ck_assert_mem_eq(out, "12", 2);
	/* and the escape is disarmed afterwards: a later x is just an x */
	ck_assert_uint_eq(filter("x"), 1);
	ck_assert_int_eq(act, CONSOLE_NONE);
	ck_assert_uint_eq(out_len, 1);
	ck_assert_uint_eq(out[0], 'x');
}
END_TEST

static Suite *console_suite(void)
{
	Suite *s = suite_create("console");
	TCase *tc = tcase_create("filter");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_plain_bytes);
	tcase_add_test(tc, test_quit_stops_consuming);
	tcase_add_test(tc, test_help);
	tcase_add_test(tc, test_monitor_key);
	tcase_add_test(tc, test_literal_ctrl_a);
	tcase_add_test(tc, test_split_escape);
	tcase_add_test(tc, test_unknown_escape_swallowed);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(console_suite());
}
