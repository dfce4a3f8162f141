/* The i8042 PS/2 controller (devices/i8042.c) and, beside it as in the unit tests, the
 * MC146818 RTC (devices/rtc.c), as the guest reaches them: ports 0x60-0x64 and 0x70-0x71 on the
 * port bus, any width, any order. The RTC reads a clock the input sets, so a run repeats.
 * Checked: the keyboard interrupt changes at every set_irq call, the output queue stays within
 * its 16 bytes, and a reset is requested only by a write.
 *
 * Input: the host clock (8 bytes), then operations of (op, port, value). */
#include "devices/i8042.h"
#include "devices/rtc.h"
#include "fuzz.h"

static struct i8042 kbd;
static struct rtc rtc;
static struct bus pio;
static bool level, writing;
static unsigned resets;
static time_t clock_now;

static void kbd_irq(void *opaque, bool l)
{
	(void)opaque;
	FUZZ_CHECK(l != level); /* called on a change only */
	level = l;
}

static void kbd_reset(void *opaque)
{
	(void)opaque;
	FUZZ_CHECK(writing);
	resets++;
}

static const struct i8042_ops kbd_ops = {.set_irq = kbd_irq, .reset = kbd_reset};

static time_t fixed_now(void)
{
	return clock_now;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	level = writing = false;
	resets = 0;
	/* Any host clock from 1970 to the year 4147 (gmtime's range is not the guest's to pick). */
	clock_now = (time_t)(fuzz_u64(&in) % (1ULL << 36));
	bus_init(&pio, BUS_PIO);
	i8042_init(&kbd, &kbd_ops, NULL);
	rtc_init(&rtc);
	rtc.now = fixed_now;
	if (i8042_register(&kbd, &pio) < 0 || rtc_register(&rtc, &pio) < 0)
		abort();

	while (fuzz_more(&in)) {
		uint8_t op = fuzz_u8(&in);
		unsigned len = fuzz_width(op >> 2);
		bool write = op & 0x10;
		uint16_t port;
		switch (op & 3) {
		case 0: /* the controller's data and command ports */
			port = op & 0x20 ? I8042_COMMAND_PORT : I8042_DATA_PORT;
			break;
		case 1: /* anywhere in or near its claim */
			port = (uint16_t)(0x5e + fuzz_u8(&in) % 10);
			break;
		case 2: /* the RTC's index and data ports */
			port = (uint16_t)(RTC_INDEX_PORT + ((op >> 5) & 1));
			break;
		default:
			if (op & 0x80)
				i8042_reset(&kbd);
			else
				rtc_reset(&rtc);
			continue;
		}
		uint8_t b[8] = {0};
		if (write)
			b[0] = fuzz_u8(&in);
		writing = write;
		bus_access(&pio, port, b, len, write);
		writing = false;
		FUZZ_CHECK(kbd.count <= I8042_QUEUE && kbd.head < I8042_QUEUE);
		FUZZ_CHECK(kbd.irq_level == level);
		FUZZ_CHECK(rtc.index < RTC_NVRAM);
	}

	rtc_destroy(&rtc);
	i8042_destroy(&kbd);
	bus_destroy(&pio);
	return 0;
}
