/* The ACPI fixed-feature hardware of a PC, as the FADT describes it: the PM1a event block (status
 * and enable: the power button), the PM1a control block (SCI_EN; SLP_TYP/SLP_EN to power off)
 * and the 32-bit PM timer at 3.579545 MHz, read from the host's monotonic clock. The SCI is a
 * level-triggered ISA interrupt, raised while an enabled status bit is set. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm/bus.h"

#define ACPI_PM_BASE	 0x600
#define ACPI_PM1_EVT	 (ACPI_PM_BASE + 0) /* status (2 bytes), then enable (2 bytes) */
#define ACPI_PM1_EVT_LEN 4
#define ACPI_PM1_CNT	 (ACPI_PM_BASE + 4)
#define ACPI_PM1_CNT_LEN 2
#define ACPI_PM_TMR	 (ACPI_PM_BASE + 8)
#define ACPI_PM_TMR_LEN	 4
#define ACPI_PM_LEN	 12
#define ACPI_SCI_IRQ	 9
#define ACPI_PM_TMR_HZ	 3579545ULL

/* The SLP_TYP values the DSDT's \_S5 names; kvmm has no other sleep state. */
#define ACPI_S5_SLP_TYP 5

/* PM1 status and enable bits (ACPI 6.4 §4.8.3.1). */
#define ACPI_PM1_TMR	(1u << 0)
#define ACPI_PM1_GBL	(1u << 5)
#define ACPI_PM1_PWRBTN (1u << 8)
#define ACPI_PM1_WAK	(1u << 15)
/* PM1 control bits. */
#define ACPI_PM1_SCI_EN	    (1u << 0)
#define ACPI_PM1_SLP_TYP(v) (((v) >> 10) & 7)
#define ACPI_PM1_SLP_EN	    (1u << 13)

struct acpi_pm_ops {
	void (*set_sci)(void *opaque, bool level);
	/* The guest entered sleep state slp_typ (SLP_EN written); for ACPI_S5_SLP_TYP, off. */
	void (*sleep)(void *opaque, unsigned slp_typ);
};

struct acpi_pm {
	pthread_mutex_t lock;
	uint16_t sts, en, cnt;
	bool sci;
	const struct acpi_pm_ops *ops;
	void *opaque;
};

void acpi_pm_init(struct acpi_pm *pm, const struct acpi_pm_ops *ops, void *opaque);
void acpi_pm_destroy(struct acpi_pm *pm);
int acpi_pm_register(struct acpi_pm *pm, struct bus *pio);
/* Power-on state: nothing pending, nothing enabled, the SCI low. */
void acpi_pm_reset(struct acpi_pm *pm);
/* Presses the power button: PWRBTN_STS, and the SCI if the guest enabled it. Returns whether
 * the guest has enabled the button (a guest without ACPI or its button driver ignores it). */
bool acpi_pm_power_button(struct acpi_pm *pm);

/* The PM timer's value at a CLOCK_MONOTONIC time in nanoseconds: 32 bits, wrapping. */
uint32_t acpi_pm_timer_at(uint64_t ns);

extern const struct bus_ops acpi_pm_bus_ops;
