#include "boot_timer.h"

#include <string.h>

#include "vmm/timeline.h"

static void boot_timer_read(void *dev, uint64_t offset, uint8_t *data, uint32_t len)
{
	(void)dev;
	(void)offset;
	memset(data, 0, len);
}

void boot_timer_write(void *dev, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct boot_timer *bt = dev;
	if (bt->done || offset >= BOOT_TIMER_LEN)
		return;
	if (offset == 0)
		timeline_mark(TL_INIT);
	for (uint32_t i = 0; i < len && offset + i < BOOT_TIMER_LEN; i++)
		bt->value[offset + i] = data[i];
	if (offset + len < BOOT_TIMER_LEN)
		return;
	bt->done = true;
	uint32_t ms = (uint32_t)bt->value[0] | (uint32_t)bt->value[1] << 8 |
		      (uint32_t)bt->value[2] << 16 | (uint32_t)bt->value[3] << 24;
	double init = timeline_ms(TL_INIT);
	if (ms && init >= ms)
		timeline_set(TL_KERNEL_CLOCK, init - ms);
	timeline_print(bt->kernel_how);
}

static const struct bus_ops boot_timer_ops = {.read = boot_timer_read, .write = boot_timer_write};

void boot_timer_init(struct boot_timer *bt, const char *kernel_how)
{
	memset(bt, 0, sizeof(*bt));
	bt->kernel_how = kernel_how;
}

void boot_timer_reset(struct boot_timer *bt)
{
	memset(bt->value, 0, sizeof(bt->value));
	bt->done = false;
}

int boot_timer_register(struct boot_timer *bt, struct bus *pio)
{
	return bus_register(pio, BOOT_TIMER_PORT, BOOT_TIMER_LEN, &boot_timer_ops, bt,
			    "boot-timer");
}
