/* virtio over MMIO (virtio 1.2 section 4.2, version 2 register layout): one 4 KiB page of
 * registers per device, an edge-triggered ISA interrupt line, and queue kicks caught by KVM
 * ioeventfds that match the queue index written to QueueNotify. A kernel finds such devices
 * only through its command line (virtio_mmio.device=, which needs
 * CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES); kvmm writes those parameters itself. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "devices/virtio.h"
#include "vmm/bus.h"
#include "vmm/kvm.h"

/* Below the IOAPIC, in the 32-bit hole, one page each. */
#define VIRTIO_MMIO_BASE 0xfeb00000ULL
#define VIRTIO_MMIO_SIZE 0x1000ULL
#define VIRTIO_MMIO_MAX	 8

struct virtio_mmio {
	struct virtio_dev *vd;
	struct kvm *kvm;
	uint64_t base;
	unsigned gsi;
	uint32_t device_feature_select, driver_feature_select;
};

/* The ISA interrupt line of the n-th MMIO device (n < VIRTIO_MMIO_MAX): lines no legacy
 * device of kvmm's uses. */
unsigned virtio_mmio_gsi(unsigned n);

/* Puts an initialised virtio device at base with interrupt line gsi. Returns 0, or -1 after
 * printing why. */
int virtio_mmio_attach(struct virtio_dev *vd, struct kvm *kvm, struct bus *mmio, uint64_t base,
		       unsigned gsi);
/* Writes the kernel parameter that announces the device at base, "virtio_mmio.device=... ",
 * with a trailing space, for the command line's start. Returns the length (as snprintf). */
int virtio_mmio_cmdline(char *buf, size_t size, uint64_t base, unsigned gsi);

/* Register access, exposed for the unit tests: offset within the device's page. */
void virtio_mmio_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len);
void virtio_mmio_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len);
