/* virtio-blk over a raw image file. Requests are served on the I/O thread with pread/pwrite;
 * FLUSH is acknowledged only after fdatasync(), DISCARD and WRITE_ZEROES punch or zero ranges of
 * the file, GET_ID returns the serial. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "devices/virtio_pci.h"

#define VIRTIO_BLK_SERIAL_MAX 20

struct virtio_blk {
	struct virtio_pci vp;
	int fd;
	bool ro;
	uint64_t capacity; /* 512-byte sectors */
	char serial[VIRTIO_BLK_SERIAL_MAX + 1];
	uint8_t *bounce;
};

/* Opens path (read-only when ro) and adds the device. Returns 0, or -1 after a one-line error
 * naming the path. */
int virtio_blk_init(struct virtio_blk *blk, const char *path, bool ro, const char *serial,
		    struct kvm *kvm, const struct guest_mem *mem, struct pci_bus *pci,
		    struct io_thread *io);
void virtio_blk_destroy(struct virtio_blk *blk);
