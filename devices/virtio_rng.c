#include "virtio_rng.h"

#include <sys/random.h>

#define VIRTIO_ID_RNG	 4
#define PCI_CLASS_OTHERS 0xff0000
#define RNG_QUEUE_SIZE	 256
/* Per chain: a guest asking for more gets this much and asks again. */
#define RNG_MAX_PER_CHAIN 4096

static void rng_queue_notify(void *dev, struct virtio_dev *vd, unsigned q)
{
	(void)dev;
	struct virtq *vq = &vd->vqs[q];
	struct virtq_chain chain;
	int r;
	while ((r = virtq_pop(vq, &chain)) > 0) {
		uint8_t buf[RNG_MAX_PER_CHAIN];
		size_t want = chain.write_len < sizeof(buf) ? chain.write_len : sizeof(buf);
		ssize_t got = want ? getrandom(buf, want, 0) : 0;
		size_t written = got > 0 ? virtq_chain_write(vq, &chain, 0, buf, (size_t)got) : 0;
		virtq_push(vq, chain.head, (uint32_t)written);
	}
	if (r < 0)
		virtio_needs_reset(vd);
	else
		virtio_notify_queue(vd, q);
}

static const struct virtio_device_ops rng_ops = {
    .device_id = VIRTIO_ID_RNG,
    .pci_class = PCI_CLASS_OTHERS,
    .nqueues = 1,
    .queue_max = RNG_QUEUE_SIZE,
    .queue_notify = rng_queue_notify,
};

int virtio_rng_init(struct virtio_rng *rng, const struct guest_mem *mem, struct io_thread *io)
{
	return virtio_dev_init(&rng->vd, "virtio-rng", &rng_ops, rng, mem, io);
}

void virtio_rng_destroy(struct virtio_rng *rng)
{
	virtio_dev_destroy(&rng->vd);
}
