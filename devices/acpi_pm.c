#include "acpi_pm.h"

#include <string.h>
#include <time.h>

/* Status bits that raise the SCI when enabled; kvmm sets only PWRBTN_STS. */
#define SCI_SOURCES (ACPI_PM1_TMR | ACPI_PM1_GBL | ACPI_PM1_PWRBTN)
/* Bits of PM1_CNT a guest may set and read back; SCI_EN always reads 1 (no SMI_CMD: the
 * machine is in ACPI mode from power-on) and SLP_EN always reads 0. */
#define CNT_WRITABLE (0x7u << 10 | 0x6u)

void acpi_pm_init(struct acpi_pm *pm, const struct acpi_pm_ops *ops, void *opaque)
{
	memset(pm, 0, sizeof(*pm));
	pthread_mutex_init(&pm->lock, NULL);
	pm->ops = ops;
	pm->opaque = opaque;
	pm->cnt = ACPI_PM1_SCI_EN;
}

void acpi_pm_destroy(struct acpi_pm *pm)
{
	pthread_mutex_destroy(&pm->lock);
}

uint32_t acpi_pm_timer_at(uint64_t ns)
{
	/* In two parts so that ns * 3579545 cannot overflow 64 bits. */
	uint64_t s = ns / 1000000000ULL, rem = ns % 1000000000ULL;
	return (uint32_t)(s * ACPI_PM_TMR_HZ + rem * ACPI_PM_TMR_HZ / 1000000000ULL);
}

static uint32_t timer_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return acpi_pm_timer_at((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec);
}

/* With the lock held: the SCI follows the enabled status bits. */
static void update_sci(struct acpi_pm *pm)
{
	bool level = (pm->sts & pm->en & SCI_SOURCES) != 0;
	if (level != pm->sci) {
		pm->sci = level;
		pm->ops->set_sci(pm->opaque, level);
	}
}

void acpi_pm_reset(struct acpi_pm *pm)
{
	pthread_mutex_lock(&pm->lock);
	pm->sts = pm->en = 0;
	pm->cnt = ACPI_PM1_SCI_EN;
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
}

bool acpi_pm_power_button(struct acpi_pm *pm)
{
	pthread_mutex_lock(&pm->lock);
	pm->sts |= ACPI_PM1_PWRBTN;
	bool enabled = pm->en & ACPI_PM1_PWRBTN;
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
	return enabled;
}

/* The block as bytes, for reads of any width at any offset. */
static void pm_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct acpi_pm *pm = opaque;
	uint8_t regs[ACPI_PM_LEN] = {0};
	pthread_mutex_lock(&pm->lock);
	uint16_t cnt = (uint16_t)((pm->cnt & CNT_WRITABLE) | ACPI_PM1_SCI_EN);
	uint16_t words[3] = {pm->sts, pm->en, cnt};
	pthread_mutex_unlock(&pm->lock);
	for (int i = 0; i < 3; i++) {
		regs[2 * i] = (uint8_t)words[i];
		regs[2 * i + 1] = (uint8_t)(words[i] >> 8);
	}
	uint32_t t = timer_now();
	for (int i = 0; i < 4; i++)
		regs[8 + i] = (uint8_t)(t >> (8 * i));
	for (uint32_t i = 0; i < len; i++)
		data[i] = offset + i < ACPI_PM_LEN ? regs[offset + i] : 0xff;
}

static void pm_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct acpi_pm *pm = opaque;
	unsigned sleep_typ = 0;
	bool sleep = false;
	pthread_mutex_lock(&pm->lock);
	for (uint32_t i = 0; i < len; i++) {
		uint64_t at = offset + i;
		uint16_t b = data[i], shift = (uint16_t)(8 * (at & 1));
		switch (at >> 1) {
		case 0: /* status: write 1 to clear */
			pm->sts = (uint16_t)(pm->sts & ~(b << shift));
			break;
		case 1: /* enable */
			pm->en = (uint16_t)((pm->en & ~(0xff << shift)) | (b << shift));
			break;
		case 2: /* control */
			pm->cnt = (uint16_t)((pm->cnt & ~(0xff << shift)) | (b << shift));
			break;
		default: /* the timer is read-only */
			break;
		}
	}
	if (pm->cnt & ACPI_PM1_SLP_EN) {
		/* SLP_EN starts the transition and reads back 0; the wake status is what a
		 * waking machine would report. */
		pm->cnt &= (uint16_t)~ACPI_PM1_SLP_EN;
		sleep = true;
		sleep_typ = ACPI_PM1_SLP_TYP(pm->cnt);
		pm->sts |= ACPI_PM1_WAK;
	}
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
	if (sleep)
		pm->ops->sleep(pm->opaque, sleep_typ);
}

const struct bus_ops acpi_pm_bus_ops = {.read = pm_read, .write = pm_write};

int acpi_pm_register(struct acpi_pm *pm, struct bus *pio)
{
	return bus_register(pio, ACPI_PM_BASE, ACPI_PM_LEN, &acpi_pm_bus_ops, pm, "acpi-pm");
}
