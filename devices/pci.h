/* PCI bus 0 with type-1 configuration access (ports 0xCF8/0xCFC), a host bridge at 00:00.0, and
 * the configuration-space model every PCI device shares: read-only IDs, guest-writable bits by
 * mask, and BARs the guest sizes by writing all-ones and then places. A BAR the guest moves is
 * re-claimed on the MMIO or port bus at its new address. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm/bus.h"
#include "vmm/log.h"

#define PCI_CONFIG_ADDRESS 0xcf8
#define PCI_CONFIG_DATA	   0xcfc
#define PCI_CFG_SIZE	   256
#define PCI_MAX_DEVICES	   32
#define PCI_NUM_BARS	   6

/* Configuration-space offsets. */
#define PCI_VENDOR_ID	     0x00
#define PCI_DEVICE_ID	     0x02
#define PCI_COMMAND	     0x04
#define PCI_STATUS	     0x06
#define PCI_REVISION_ID	     0x08
#define PCI_CLASS_PROG	     0x09
#define PCI_CLASS_DEVICE     0x0a
#define PCI_HEADER_TYPE	     0x0e
#define PCI_BASE_ADDRESS_0   0x10
#define PCI_SUBSYSTEM_VENDOR 0x2c
#define PCI_SUBSYSTEM_ID     0x2e
#define PCI_CAPABILITY_LIST  0x34
#define PCI_INTERRUPT_LINE   0x3c
#define PCI_INTERRUPT_PIN    0x3d

#define PCI_COMMAND_IO		 0x1
#define PCI_COMMAND_MEMORY	 0x2
#define PCI_COMMAND_MASTER	 0x4
#define PCI_COMMAND_INTX_DISABLE 0x400
#define PCI_STATUS_CAP_LIST	 0x10

#define PCI_BAR_IO    0x1
#define PCI_BAR_MEM64 0x4

/* INTx wiring, as the MP table describes it to the guest: every slot's INTA# goes to one of the
 * IOAPIC pins above the ISA ones, level-triggered, active high. */
#define PCI_INTX_FIRST_GSI 16
#define PCI_INTX_GSIS	   8
static inline unsigned pci_intx_gsi(unsigned slot)
{
	return PCI_INTX_FIRST_GSI + slot % PCI_INTX_GSIS;
}

struct pci_device;

/* A BAR the device decodes: MMIO (64-bit) or port I/O. */
struct pci_bar {
	uint64_t size; /* power of two; 0 = unused */
	bool io;
	uint64_t addr; /* where it is claimed now, valid when mapped */
	bool mapped;
	const struct bus_ops *ops;
	void *opaque;
};

struct pci_device {
	const char *name;
	uint8_t cfg[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE]; /* bits the guest may change */
	struct pci_bar bars[PCI_NUM_BARS];
	/* Optional hooks for capability registers (MSI-X control and the like). */
	void (*cfg_write)(struct pci_device *dev, unsigned offset, uint32_t val, unsigned len);
	/* Optional: BAR n was claimed at addr (mapped) or released; for ioeventfds that follow it.
	 * Called with the PCI bus lock held. */
	void (*bar_moved)(struct pci_device *dev, int n, uint64_t addr, bool mapped);
	void *opaque;
	unsigned cap_last, cap_end; /* capability list bookkeeping */
};

struct pci_bus {
	pthread_mutex_t lock;
	uint32_t config_address;
	/* The PC's reset control register, a byte at 0xCF9 inside the configuration ports (the
	 * chipset decodes it there, and the FADT's reset register names it): RST_CPU resets. */
	uint8_t reset_control;
	void (*reset_request)(void *opaque);
	void *reset_opaque;
	struct log_limit bar_log; /* BARs a guest places over other claims */
	struct pci_device *slots[PCI_MAX_DEVICES];
	struct pci_device host_bridge;
	struct bus *pio, *mmio;
};

int pci_bus_init(struct pci_bus *pci, struct bus *pio, struct bus *mmio);
/* Who a write of RST_CPU to 0xCF9 asks for a reset. */
void pci_bus_set_reset(struct pci_bus *pci, void (*request)(void *opaque), void *opaque);
void pci_bus_destroy(struct pci_bus *pci);
/* Forgets where the guest put BARs and what it enabled: power-on state for every device. */
void pci_bus_reset(struct pci_bus *pci);

/* Sets up a device's header (IDs, class, interrupt pin) before adding it. */
void pci_device_init(struct pci_device *dev, const char *name, uint16_t vendor, uint16_t device,
		     uint32_t class_code, uint16_t subsys_vendor, uint16_t subsys_id);
/* Declares BAR n of size bytes (a power of two, at least 16 for I/O, 4096 for MMIO). */
void pci_device_set_bar(struct pci_device *dev, int n, uint64_t size, bool io,
			const struct bus_ops *ops, void *opaque);
/* Appends a capability of len bytes (header included) with the given ID; returns its offset
 * in configuration space, or 0 when there is no room. */
unsigned pci_device_add_cap(struct pci_device *dev, uint8_t id, unsigned len);
/* Puts dev in the first free slot; returns the slot or -1. */
int pci_bus_add(struct pci_bus *pci, struct pci_device *dev);

/* Configuration accesses as the ports see them (also used by tests). */
uint32_t pci_cfg_read(struct pci_bus *pci, uint8_t slot, unsigned offset, unsigned len);
void pci_cfg_write(struct pci_bus *pci, uint8_t slot, unsigned offset, uint32_t val, unsigned len);
