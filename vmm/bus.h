/* Address buses for port I/O and MMIO exits.
 *
 * Devices claim [base, base + len) ranges; a vCPU exit is dispatched to the one device whose
 * range holds the whole access. Two claims may not overlap: that is a wiring bug, reported at
 * registration rather than discovered as a guest that talks to the wrong device. Accesses no
 * device claims read as all-ones (what an empty ISA/PCI bus returns) and are logged once. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct bus_ops {
	/* offset is relative to the claimed base; len is 1, 2, 4 or 8. */
	void (*read)(void *dev, uint64_t offset, uint8_t *data, uint32_t len);
	void (*write)(void *dev, uint64_t offset, const uint8_t *data, uint32_t len);
};

struct bus_range {
	uint64_t base;
	uint64_t len;
	const struct bus_ops
	    *ops; /* NULL ops: claimed but inert (reads all-ones, writes dropped) */
	void *dev;
	const char *name;
};

/* MMIO pages remembered as already reported; past that, unclaimed MMIO is counted, not logged. */
#define BUS_UNHANDLED_MMIO_MAX 64

enum bus_kind { BUS_PIO, BUS_MMIO };

struct bus {
	enum bus_kind kind;
	const char *name;	  /* "pio" or "mmio", for messages */
	pthread_rwlock_t lock;	  /* writers: (un)registration, e.g. a guest moving a PCI BAR */
	struct bus_range *ranges; /* sorted by base, never overlapping */
	int nranges, cap;
	/* What was already reported as unclaimed: every port, or the first MMIO pages. */
	pthread_mutex_t unhandled_lock;
	uint64_t unhandled_ports[65536 / 64];
	uint64_t unhandled_pages[BUS_UNHANDLED_MMIO_MAX];
	int nunhandled;
	uint64_t unhandled_total;
};

void bus_init(struct bus *bus, enum bus_kind kind);
void bus_destroy(struct bus *bus);

/* Returns 0, or -1 after printing which claim it overlaps (or on a zero/wrapping range). */
int bus_register(struct bus *bus, uint64_t base, uint64_t len, const struct bus_ops *ops, void *dev,
		 const char *name);
/* The same without logging: why it failed goes to why (whylen bytes), for claims a guest
 * makes (a BAR it places), whose failures the caller rate-limits. */
int bus_claim(struct bus *bus, uint64_t base, uint64_t len, const struct bus_ops *ops, void *dev,
	      const char *name, char *why, size_t whylen);
int bus_unregister(struct bus *bus, uint64_t base);

/* Returns true when a device handled it. An unclaimed read fills data with 0xff. */
bool bus_access(struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len, bool is_write);

/* How many distinct unclaimed addresses were reported (ports, or 4 KiB pages for MMIO). */
int bus_unhandled_count(struct bus *bus);
