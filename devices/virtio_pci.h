/* virtio over PCI, the modern transport of virtio 1.2 section 4.1: common, notify, ISR and
 * device-configuration structures in BAR 0, MSI-X for interrupts (INTx without it), and every
 * queue kick turned into an ioeventfd inside KVM so it costs no exit to userspace and lands on
 * the I/O thread. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "devices/pci.h"
#include "devices/virtio.h"
#include "vmm/kvm.h"

#define VIRTIO_NO_VECTOR 0xffff

struct msix_entry {
	uint32_t addr_lo, addr_hi, data, ctrl;
};

#define VIRTIO_PCI_VECTORS (VIRTIO_MAX_QUEUES + 1)

/* How an MSI-X vector reaches KVM: its own GSI routed to the message the guest programmed, and
 * an irqfd on that GSI, bound only while the vector may fire (MSI-X on, vector unmasked). A
 * signal while it is unbound waits in the eventfd's count and fires when the guest unmasks. */
struct msix_route {
	int gsi;       /* -1 until allocated */
	int fd;	       /* the irqfd's eventfd: what vhost signals directly */
	bool bound;    /* assigned to gsi in KVM */
	bool routed;   /* gsi points at msg */
	uint64_t addr; /* the message gsi points at */
	uint32_t data;
};

struct virtio_pci {
	struct pci_device pci;
	struct virtio_dev *vd;
	struct kvm *kvm;

	uint32_t device_feature_select, driver_feature_select;
	uint16_t config_vector;
	uint16_t queue_vector[VIRTIO_MAX_QUEUES];

	unsigned msix_cap;
	struct msix_entry msix[VIRTIO_PCI_VECTORS];
	struct msix_route route[VIRTIO_PCI_VECTORS];
	uint64_t msix_pending;
	bool msix_enabled; /* as of the last control write */

	unsigned intx_gsi;
	bool intx_level;
};

/* Puts an initialised virtio device on PCI bus 0 as a function of its own. Returns 0, or -1
 * after printing why. */
int virtio_pci_attach(struct virtio_dev *vd, struct kvm *kvm, struct pci_bus *pci);
