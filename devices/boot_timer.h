/* The boot-timer port: four debug I/O ports from 0x440 that the guest's init writes once, as a
 * 32-bit little-endian value, its uptime in milliseconds (0 if it does not know): an `outl` to
 * 0x440, or four `outb` to 0x440..0x443 as `dd` to /dev/port does. The first byte's arrival is
 * the moment init ran; the uptime tells when the guest kernel's clock started, which times a
 * decompressor in the guest too. See docs/boot-timer.md. A guest that writes it more than once a
 * boot is ignored: it cannot make kvmm log more than once a boot. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "vmm/bus.h"

#define BOOT_TIMER_PORT 0x440
#define BOOT_TIMER_LEN	4

struct boot_timer {
	const char *kernel_how; /* printed with the timeline */
	uint8_t value[BOOT_TIMER_LEN];
	bool done; /* this boot's value is complete */
};

void boot_timer_init(struct boot_timer *bt, const char *kernel_how);
void boot_timer_reset(struct boot_timer *bt);
int boot_timer_register(struct boot_timer *bt, struct bus *pio);
/* The value from offset 0 to 3 of a write sequence, as the timer assembles it (for tests). */
void boot_timer_write(void *dev, uint64_t offset, const uint8_t *data, uint32_t len);
