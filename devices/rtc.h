/* The MC146818 CMOS real-time clock at ports 0x70/0x71, so the guest starts with the host's date.
 * Time registers are read live from the host clock (UTC), in BCD, 24-hour mode, as a PC BIOS sets
 * them up; the clock never shows "update in progress", so readers never spin. */
#pragma once

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "vmm/bus.h"

#define RTC_INDEX_PORT 0x70
#define RTC_NPORTS     2
#define RTC_IRQ	       8
#define RTC_NVRAM      128
/* The century register, as the ACPI FADT names it to the guest. */
#define RTC_CENTURY 0x32

struct rtc {
	pthread_mutex_t lock;
	uint8_t index;
	uint8_t nvram[RTC_NVRAM]; /* registers that are not the clock: status B, CMOS RAM */
	time_t (*now)(void);	  /* the host clock; tests substitute a fixed one */
};

void rtc_init(struct rtc *rtc);
void rtc_destroy(struct rtc *rtc);
void rtc_reset(struct rtc *rtc);
uint8_t rtc_read_reg(struct rtc *rtc, uint8_t reg);
void rtc_write_reg(struct rtc *rtc, uint8_t reg, uint8_t val);
int rtc_register(struct rtc *rtc, struct bus *pio);
