#include "rtc.h"

#include <string.h>

enum {
	RTC_SECONDS = 0x00,
	RTC_MINUTES = 0x02,
	RTC_HOURS = 0x04,
	RTC_DAY_OF_WEEK = 0x06,
	RTC_DAY_OF_MONTH = 0x07,
	RTC_MONTH = 0x08,
	RTC_YEAR = 0x09,
	RTC_REG_A = 0x0a,
	RTC_REG_B = 0x0b,
	RTC_REG_C = 0x0c,
	RTC_REG_D = 0x0d,
};

#define REG_B_24H    0x02
#define REG_B_BINARY 0x04
#define REG_D_VRT    0x80 /* "valid RAM and time": the battery is fine */

static time_t host_now(void)
{
	return time(NULL);
}

void rtc_init(struct rtc *rtc)
{
	memset(rtc, 0, sizeof(*rtc));
	pthread_mutex_init(&rtc->lock, NULL);
	rtc->now = host_now;
	rtc_reset(rtc);
}

void rtc_destroy(struct rtc *rtc)
{
	pthread_mutex_destroy(&rtc->lock);
}

void rtc_reset(struct rtc *rtc)
{
	pthread_mutex_lock(&rtc->lock);
	memset(rtc->nvram, 0, sizeof(rtc->nvram));
	rtc->index = 0;
	rtc->nvram[RTC_REG_A] = 0x26; /* 32.768 kHz divider, 1024 Hz rate: the BIOS default */
	rtc->nvram[RTC_REG_B] = REG_B_24H;
	pthread_mutex_unlock(&rtc->lock);
}

static uint8_t encode(const struct rtc *rtc, int v)
{
	if (rtc->nvram[RTC_REG_B] & REG_B_BINARY)
		return (uint8_t)v;
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

uint8_t rtc_read_reg(struct rtc *rtc, uint8_t reg)
{
	reg &= 0x7f;
	pthread_mutex_lock(&rtc->lock);
	time_t t = rtc->now();
	struct tm tm;
	gmtime_r(&t, &tm);
	uint8_t val;
	switch (reg) {
	case RTC_SECONDS:
		val = encode(rtc, tm.tm_sec);
		break;
	case RTC_MINUTES:
		val = encode(rtc, tm.tm_min);
		break;
	case RTC_HOURS:
		val = encode(rtc, tm.tm_hour);
		break;
	case RTC_DAY_OF_WEEK:
		val = encode(rtc, tm.tm_wday + 1);
		break;
	case RTC_DAY_OF_MONTH:
		val = encode(rtc, tm.tm_mday);
		break;
	case RTC_MONTH:
		val = encode(rtc, tm.tm_mon + 1);
		break;
	case RTC_YEAR:
		val = encode(rtc, tm.tm_year % 100);
		break;
	case RTC_CENTURY:
		val = encode(rtc, (tm.tm_year + 1900) / 100);
		break;
	case RTC_REG_C:
		val = 0; /* no alarm, periodic or update interrupts are ever raised */
		break;
	case RTC_REG_D:
		val = REG_D_VRT;
		break;
	default:
		val = rtc->nvram[reg];
		break;
	}
	pthread_mutex_unlock(&rtc->lock);
	return val;
}

void rtc_write_reg(struct rtc *rtc, uint8_t reg, uint8_t val)
{
	reg &= 0x7f;
	pthread_mutex_lock(&rtc->lock);
	/* Setting the clock would need an offset from host time; Linux only writes it when told
	 * to (hwclock -w), so time writes are ignored and the guest keeps reading host time. */
	if (reg == RTC_REG_A)
		rtc->nvram[reg] = val & 0x7f; /* UIP is read-only */
	else if (reg == RTC_REG_B)
		rtc->nvram[reg] = val;
	else if (reg > RTC_REG_D && reg != RTC_CENTURY)
		rtc->nvram[reg] = val;
	pthread_mutex_unlock(&rtc->lock);
}

static void rtc_bus_read(void *dev, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct rtc *rtc = dev;
	if (offset == 0) {
		data[0] = 0xff; /* the index port is write-only */
	} else {
		pthread_mutex_lock(&rtc->lock);
		uint8_t index = rtc->index;
		pthread_mutex_unlock(&rtc->lock);
		data[0] = rtc_read_reg(rtc, index);
	}
	memset(data + 1, 0xff, len - 1);
}

static void rtc_bus_write(void *dev, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct rtc *rtc = dev;
	(void)len;
	if (offset == 0) {
		pthread_mutex_lock(&rtc->lock);
		rtc->index = data[0] & 0x7f; /* bit 7 masks NMIs on a PC; nothing to mask here */
		pthread_mutex_unlock(&rtc->lock);
	} else {
		pthread_mutex_lock(&rtc->lock);
		uint8_t index = rtc->index;
		pthread_mutex_unlock(&rtc->lock);
		rtc_write_reg(rtc, index, data[0]);
	}
}

static const struct bus_ops rtc_bus_ops = {.read = rtc_bus_read, .write = rtc_bus_write};

int rtc_register(struct rtc *rtc, struct bus *pio)
{
	return bus_register(pio, RTC_INDEX_PORT, RTC_NPORTS, &rtc_bus_ops, rtc, "rtc");
}
