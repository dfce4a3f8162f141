/* A virtio device for the transport fuzzers: two queues whose kicks are served as virtio-rng
 * serves its one (pop every chain, fill what is writable, push it, interrupt), a configuration
 * space that checks each read the transport lets through stays inside it, and device features
 * the input picks. Included by one target each. */
#pragma once

#include "devices/virtio.h"
#include "fuzz.h"

#define FUZZ_DEV_CONFIG_SIZE 24

static void fuzz_dev_config_read(void *dev, unsigned offset, uint8_t *data, unsigned len)
{
	(void)dev;
	FUZZ_CHECK(len > 0 && len <= 8 && offset + len <= FUZZ_DEV_CONFIG_SIZE);
	for (unsigned i = 0; i < len; i++)
		data[i] = (uint8_t)(offset + i);
}

static void fuzz_dev_queue_notify(void *dev, struct virtio_dev *vd, unsigned q)
{
	(void)dev;
	FUZZ_CHECK(q < vd->ops->nqueues && vd->vqs[q].ready);
	struct virtq *vq = &vd->vqs[q];
	static struct virtq_chain chain;
	int r;
	for (unsigned i = 0; i <= VIRTQ_MAX_SIZE && (r = virtq_pop(vq, &chain)) > 0; i++) {
		static uint8_t buf[4096];
		size_t n = chain.write_len < sizeof(buf) ? chain.write_len : sizeof(buf);
		memset(buf, 0x5a, n);
		size_t w = virtq_chain_write(vq, &chain, 0, buf, n);
		FUZZ_CHECK(w == n);
		virtq_push(vq, chain.head, (uint32_t)w);
	}
	if (r < 0)
		virtio_needs_reset(vd);
	else
		virtio_notify_queue(vd, q);
}

static void fuzz_dev_irqfd_changed(void *dev, struct virtio_dev *vd)
{
	(void)dev;
	for (unsigned q = 0; q < vd->ops->nqueues; q++)
		virtio_queue_irqfd(vd, q);
}

/* features: bits offered besides VERSION_1, INDIRECT_DESC and EVENT_IDX (the core adds those). */
static inline struct virtio_device_ops fuzz_dev_ops(uint64_t features)
{
	return (struct virtio_device_ops){
	    .device_id = 4,
	    .pci_class = 0xff0000,
	    .features = features,
	    .nqueues = 2,
	    .queue_max = 256,
	    .config_size = FUZZ_DEV_CONFIG_SIZE,
	    .config_read = fuzz_dev_config_read,
	    .queue_notify = fuzz_dev_queue_notify,
	    .irqfd_changed = fuzz_dev_irqfd_changed,
	};
}
