/* The i8042 PS/2 controller and the MC146818 RTC, driven through their ports. */
#include <check.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "devices/i8042.h"
#include "devices/rtc.h"
#include "unit.h"

#define ST_OBF 0x01 /* output buffer full: a byte waits at the data port */

static struct i8042 kbd;
static int resets, irq_changes;
static bool irq_level;

static void kbd_irq(void *opaque, bool level)
{
	(void)opaque;
	irq_changes++;
	irq_level = level;
}

static void kbd_reset(void *opaque)
{
	(void)opaque;
	resets++;
}

static const struct i8042_ops kbd_ops = {.set_irq = kbd_irq, .reset = kbd_reset};

static void kbd_setup(void)
{
	resets = irq_changes = 0;
	irq_level = false;
	i8042_init(&kbd, &kbd_ops, NULL);
}

static void kbd_teardown(void)
{
	i8042_destroy(&kbd);
}

static uint8_t status(void)
{
	return i8042_read_port(&kbd, I8042_COMMAND_PORT);
}

static void cmd(uint8_t c)
{
	i8042_write_port(&kbd, I8042_COMMAND_PORT, c);
}

static void data_out(uint8_t v)
{
	i8042_write_port(&kbd, I8042_DATA_PORT, v);
}

/* Reads the next byte the way a driver does: OBF must be set first. */
static uint8_t data_in(void)
{
	ck_assert_uint_eq(status() & ST_OBF, ST_OBF);
	return i8042_read_port(&kbd, I8042_DATA_PORT);
}

START_TEST(test_self_test)
{
	ck_assert_uint_eq(status() & ST_OBF, 0);
	cmd(0xaa);
	ck_assert_uint_eq(data_in(), 0x55);
	ck_assert_uint_eq(status() & ST_OBF, 0);
}
END_TEST

START_TEST(test_ctr_read_write)
{
	cmd(0x60);
	data_out(0x45);
	cmd(0x20);
	ck_assert_uint_eq(data_in(), 0x45);
	cmd(0x60);
	data_out(0x00);
	cmd(0x20);
	ck_assert_uint_eq(data_in(), 0x00);
	ck_assert_uint_eq(status() & ST_OBF, 0);
	ck_assert_int_eq(resets, 0);
}
END_TEST

START_TEST(test_pulse_reset)
{
	cmd(0xfe);
	ck_assert_int_eq(resets, 1);
	status();
	i8042_read_port(&kbd, I8042_DATA_PORT);
	ck_assert_int_eq(resets, 1);
}
END_TEST

START_TEST(test_keyboard_reset)
{
	data_out(0xff);
	ck_assert_uint_eq(data_in(), 0xfa);
	ck_assert_uint_eq(data_in(), 0xaa);
	ck_assert_uint_eq(status() & ST_OBF, 0);
	ck_assert_int_eq(resets, 0); /* a keyboard reset is not a CPU reset */
}
END_TEST

START_TEST(test_keyboard_get_id)
{
	data_out(0xf2);
	ck_assert_uint_eq(data_in(), 0xfa);
	ck_assert_uint_eq(data_in(), 0xab);
	ck_assert_uint_eq(data_in(), 0x83);
	ck_assert_uint_eq(status() & ST_OBF, 0);
}
END_TEST

START_TEST(test_aux_test_no_port)
{
	cmd(0xa9);
	ck_assert_uint_ne(data_in(), 0x00); /* 0 would mean "mouse port OK" */
}
END_TEST

START_TEST(test_controller_reply_replaces_output)
{
	/* one output register: a controller reply supersedes unread keyboard bytes */
	data_out(0xf2);
	cmd(0xaa);
	ck_assert_uint_eq(data_in(), 0x55);
	ck_assert_uint_eq(status() & ST_OBF, 0);
	/* AUX loopback (0xd3) hands the byte straight back */
	cmd(0xd3);
	data_out(0x5a);
	ck_assert_uint_eq(data_in(), 0x5a);
	ck_assert_uint_eq(status() & ST_OBF, 0);
}
END_TEST

START_TEST(test_kbd_irq)
{
	cmd(0x60);
	data_out(0x01); /* keyboard interrupt enabled */
	ck_assert(!irq_level);
	data_out(0xf2);
	ck_assert(irq_level);
	data_in();
	data_in();
	ck_assert(irq_level);
	data_in();
	ck_assert(!irq_level);
	ck_assert_int_eq(irq_changes, 2);
}
END_TEST

START_TEST(test_kbd_via_bus)
{
	struct bus pio;
	bus_init(&pio, BUS_PIO);
	ck_assert_int_eq(i8042_register(&kbd, &pio), 0);
	uint8_t v = 0xaa;
	ck_assert(bus_access(&pio, 0x64, &v, 1, true));
	ck_assert(bus_access(&pio, 0x64, &v, 1, false));
	ck_assert_uint_eq(v & ST_OBF, ST_OBF);
	ck_assert(bus_access(&pio, 0x60, &v, 1, false));
	ck_assert_uint_eq(v, 0x55);
	v = 0xfe;
	ck_assert(bus_access(&pio, 0x64, &v, 1, true));
	ck_assert_int_eq(resets, 1);
	bus_destroy(&pio);
}
END_TEST

/* 2024-02-29 13:45:56 UTC, a leap day */
static struct tm fixed_tm(void)
{
	struct tm tm = {.tm_year = 2024 - 1900,
			.tm_mon = 1,
			.tm_mday = 29,
			.tm_hour = 13,
			.tm_min = 45,
			.tm_sec = 56};
	return tm;
}

static time_t fixed_now(void)
{
	struct tm tm = fixed_tm();
	return timegm(&tm);
}

static uint8_t bcd(int v)
{
	return (uint8_t)((v / 10) * 16 + v % 10);
}

static struct rtc rtc;

static void rtc_setup(void)
{
	rtc_init(&rtc);
	rtc.now = fixed_now;
}

static void rtc_teardown(void)
{
	rtc_destroy(&rtc);
}

START_TEST(test_rtc_bcd_time)
{
	struct tm tm = fixed_tm();
	time_t t = timegm(&tm); /* also fills tm_wday */
	ck_assert_int_ne(t, (time_t)-1);
	ck_assert_uint_eq(rtc_read_reg(&rtc, 0x00), bcd(tm.tm_sec));
	ck_assert_uint_eq(rtc_read_reg(&rtc, 0x02), bcd(tm.tm_min));
	ck_assert_uint_eq(rtc_read_reg(&rtc, 0x04), bcd(tm.tm_hour));
	ck_assert_uint_eq(rtc_read_reg(&rtc, 0x06), bcd(tm.tm_wday + 1)); /* 1 = Sunday */
	ck_assert_uint_eq(rtc_read_reg(&rtc, 0x07), bcd(tm.tm_mday));
	ck_assert_uint_eq(rtc_read_reg(&rtc, 0x08), bcd(tm.tm_mon + 1));
	ck_assert_uint_eq(rtc_read_reg(&rtc, 0x09), bcd((tm.tm_year + 1900) % 100));
	ck_assert_uint_eq(rtc_read_reg(&rtc, 0x32), bcd((tm.tm_year + 1900) / 100));
	/* BCD, 24-hour: status B bit 2 clear, bit 1 set */
	ck_assert_uint_eq(rtc_read_reg(&rtc, 0x0b) & 0x06, 0x02);
}
END_TEST

START_TEST(test_rtc_binary_mode)
{
	struct tm tm = fixed_tm();
	rtc_write_reg(&rtc, 0x0b, 0x02 | 0x04); /* DM: binary */
	ck_assert_uint_eq(rtc_read_reg(&rtc, 0x00), tm.tm_sec);
	ck_assert_uint_eq(rtc_read_reg(&rtc, 0x04), tm.tm_hour);
	ck_assert_uint_eq(rtc_read_reg(&rtc, 0x09), (tm.tm_year + 1900) % 100);
}
END_TEST

START_TEST(test_rtc_status)
{
	ck_assert_uint_eq(rtc_read_reg(&rtc, 0x0d) & 0x80, 0x80); /* VRT: battery good */
	ck_assert_uint_eq(rtc_read_reg(&rtc, 0x0a) & 0x80, 0);	  /* UIP clear */
	rtc_write_reg(&rtc, 0x0a, 0xa6);			  /* UIP is read-only */
	ck_assert_uint_eq(rtc_read_reg(&rtc, 0x0a) & 0x80, 0);
	/* CMOS RAM beyond the clock keeps what is written */
	rtc_write_reg(&rtc, 0x40, 0x5c);
	ck_assert_uint_eq(rtc_read_reg(&rtc, 0x40), 0x5c);
}
END_TEST

START_TEST(test_rtc_via_bus)
{
	struct bus pio;
	bus_init(&pio, BUS_PIO);
	ck_assert_int_eq(rtc_register(&rtc, &pio), 0);
	struct tm tm = fixed_tm();
	uint8_t v = 0x80 | 0x04; /* bit 7 is the NMI mask, not part of the index */
	ck_assert(bus_access(&pio, 0x70, &v, 1, true));
	ck_assert(bus_access(&pio, 0x71, &v, 1, false));
	ck_assert_uint_eq(v, bcd(tm.tm_hour));
	v = 0x32;
	bus_access(&pio, 0x70, &v, 1, true);
	bus_access(&pio, 0x71, &v, 1, false);
	ck_assert_uint_eq(v, bcd((tm.tm_year + 1900) / 100));
	bus_destroy(&pio);
}
END_TEST

static Suite *i8042_rtc_suite(void)
{
	Suite *s = suite_create("i8042_rtc");
	TCase *tc = tcase_create("i8042");
	tcase_add_checked_fixture(tc, kbd_setup, kbd_teardown);
	tcase_add_test(tc, test_self_test);
	tcase_add_test(tc, test_ctr_read_write);
	tcase_add_test(tc, test_pulse_reset);
	tcase_add_test(tc, test_keyboard_reset);
	tcase_add_test(tc, test_keyboard_get_id);
	tcase_add_test(tc, test_aux_test_no_port);
	tcase_add_test(tc, test_controller_reply_replaces_output);
	tcase_add_test(tc, test_kbd_irq);
	tcase_add_test(tc, test_kbd_via_bus);
	suite_add_tcase(s, tc);

	tc = tcase_create("rtc");
	tcase_add_checked_fixture(tc, rtc_setup, rtc_teardown);
	tcase_add_test(tc, test_rtc_bcd_time);
	tcase_add_test(tc, test_rtc_binary_mode);
	tcase_add_test(tc, test_rtc_status);
	tcase_add_test(tc, test_rtc_via_bus);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(i8042_rtc_suite());
}
