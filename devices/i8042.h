/* The PS/2 controller (i8042): enough for Linux to probe it quickly and quietly (a keyboard that
 * answers, no mouse), and for the classic reset line, pulsed by command 0xFE, which Linux uses to
 * reboot when there is no ACPI. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm/bus.h"

#define I8042_DATA_PORT	   0x60
#define I8042_COMMAND_PORT 0x64
#define I8042_KBD_IRQ	   1

#define I8042_QUEUE 16

struct i8042_ops {
	void (*set_irq)(void *opaque, bool level); /* keyboard IRQ, called on change */
	void (*reset)(void *opaque);		   /* the guest pulsed the CPU reset line */
};

struct i8042 {
	pthread_mutex_t lock;
	const struct i8042_ops *ops;
	void *opaque;
	uint8_t ctr;	     /* controller configuration ("command byte") */
	uint8_t pending_cmd; /* controller command awaiting its data byte, or 0 */
	uint8_t queue[I8042_QUEUE];
	unsigned head, count;
	bool irq_level;
};

void i8042_init(struct i8042 *k, const struct i8042_ops *ops, void *opaque);
void i8042_destroy(struct i8042 *k);
void i8042_reset(struct i8042 *k);

uint8_t i8042_read_port(struct i8042 *k, uint16_t port);
void i8042_write_port(struct i8042 *k, uint16_t port, uint8_t val);

/* Claims ports 0x60-0x64. */
int i8042_register(struct i8042 *k, struct bus *pio);
