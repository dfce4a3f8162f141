/* virtio-rng: one queue of guest buffers, each filled from the host's getrandom(). */
#pragma once

#include "devices/virtio_pci.h"

struct virtio_rng {
	struct virtio_pci vp;
};

int virtio_rng_init(struct virtio_rng *rng, struct kvm *kvm, const struct guest_mem *mem,
		    struct pci_bus *pci, struct io_thread *io);
void virtio_rng_destroy(struct virtio_rng *rng);
