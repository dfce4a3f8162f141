/* A virtio device for the transport tests: its callbacks only count how often a transport
 * called them. Included by one test file each, so the counters are that file's. */
#pragma once

#include "devices/virtio.h"

static unsigned notified, started, resets, irqfd_changes;

static inline void fake_counts_clear(void)
{
	notified = started = resets = irqfd_changes = 0;
}

static inline void fake_queue_notify(void *dev, struct virtio_dev *d, unsigned q)
{
	(void)dev;
	(void)d;
	(void)q;
	notified++;
}

static inline void fake_driver_ok(void *dev, struct virtio_dev *d)
{
	(void)dev;
	(void)d;
	started++;
}

static inline void fake_reset(void *dev)
{
	(void)dev;
	resets++;
}

static inline void fake_irqfd_changed(void *dev, struct virtio_dev *d)
{
	(void)dev;
	(void)d;
	irqfd_changes++;
}
