/* virtio-rng: one queue of guest buffers, each filled from the host's getrandom(). */
#pragma once

#include "devices/virtio.h"

struct virtio_rng {
	struct virtio_dev vd;
};

int virtio_rng_init(struct virtio_rng *rng, const struct guest_mem *mem, struct io_thread *io);
void virtio_rng_destroy(struct virtio_rng *rng);
