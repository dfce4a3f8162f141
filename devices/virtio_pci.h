/* virtio over PCI, the modern transport of virtio 1.2 section 4.1: common, notify, ISR and
 * device-configuration structures in BAR 0, MSI-X for interrupts, and every queue kick turned
 * into an ioeventfd inside KVM so it costs no exit to userspace and lands on the I/O thread.
 *
 * A device is a small table of callbacks (struct virtio_device_ops) over the shared virtqueue
 * core; the transport owns feature negotiation, status, queue setup and reset. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/pci.h"
#include "devices/virtq.h"
#include "vmm/guest_mem.h"
#include "vmm/io_thread.h"
#include "vmm/kvm.h"

#define VIRTIO_MAX_QUEUES 8
#define VIRTIO_NO_VECTOR  0xffff

#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX     29
#define VIRTIO_F_VERSION_1     32

#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER	  2
#define VIRTIO_STATUS_DRIVER_OK	  4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED	  0x80

struct virtio_pci;

struct virtio_device_ops {
	uint16_t device_id; /* virtio device type: 4 = entropy, 2 = block, 1 = network */
	uint32_t pci_class;
	uint64_t features; /* device-specific feature bits offered */
	unsigned nqueues;
	uint16_t queue_max;
	unsigned config_size;
	void (*config_read)(void *dev, unsigned offset, uint8_t *data, unsigned len);
	/* Runs on the I/O thread with the transport locked, after the guest kicked queue q. */
	void (*queue_notify)(void *dev, struct virtio_pci *vp, unsigned q);
	/* The driver set DRIVER_OK (transport locked): the rings are final. Optional. */
	void (*driver_ok)(void *dev, struct virtio_pci *vp);
	/* The driver wrote status 0: forget all in-flight state. */
	void (*reset)(void *dev);
};

struct virtio_kick {
	struct virtio_pci *vp;
	unsigned q;
};

struct msix_entry {
	uint32_t addr_lo, addr_hi, data, ctrl;
};

struct virtio_pci {
	struct pci_device pci;
	const struct virtio_device_ops *ops;
	void *dev;
	struct kvm *kvm;
	const struct guest_mem *mem;
	pthread_mutex_t lock;

	uint64_t device_features, driver_features;
	uint32_t device_feature_select, driver_feature_select;
	uint8_t status, config_generation, isr;
	uint16_t queue_select, config_vector;
	struct virtq vqs[VIRTIO_MAX_QUEUES];
	uint16_t queue_vector[VIRTIO_MAX_QUEUES];
	uint16_t queue_size[VIRTIO_MAX_QUEUES];
	uint64_t queue_desc[VIRTIO_MAX_QUEUES], queue_driver[VIRTIO_MAX_QUEUES],
	    queue_device[VIRTIO_MAX_QUEUES];

	unsigned msix_cap;
	struct msix_entry msix[VIRTIO_MAX_QUEUES + 1];
	uint64_t msix_pending;

	int kick_fd[VIRTIO_MAX_QUEUES];
	struct virtio_kick kick[VIRTIO_MAX_QUEUES];
	unsigned intx_gsi;
	bool intx_level;
	uint64_t notify_addr; /* guest address of the notify structure while BAR 0 is mapped */
	bool notify_mapped;
};

/* Creates the PCI function for a device, registers its kicks with the I/O thread, and puts it
 * on the bus. Returns 0, or -1 after printing why. */
int virtio_pci_init(struct virtio_pci *vp, const char *name, const struct virtio_device_ops *ops,
		    void *dev, struct kvm *kvm, const struct guest_mem *mem, struct pci_bus *pci,
		    struct io_thread *io);
void virtio_pci_destroy(struct virtio_pci *vp);
/* Back to power-on state (as if the driver wrote status 0). */
void virtio_pci_reset(struct virtio_pci *vp);

/* For devices, with the transport locked (i.e. from queue_notify): interrupt the driver for
 * queue q if it wants one; mark the device broken after a malformed ring. */
void virtio_pci_notify_queue(struct virtio_pci *vp, unsigned q);
/* Interrupts the driver for queue q unconditionally: for a backend (vhost) that already decided
 * the driver wants it. Transport locked. */
void virtio_pci_interrupt_queue(struct virtio_pci *vp, unsigned q);
void virtio_pci_needs_reset(struct virtio_pci *vp);
