/* A virtual machine: KVM, guest memory, buses, devices and vCPUs, and its run state. */
#pragma once

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/i8042.h"
#include "devices/pci.h"
#include "devices/rtc.h"
#include "devices/serial.h"
#include "devices/virtio_blk.h"
#include "devices/virtio_mmio.h"
#include "devices/virtio_net.h"
#include "devices/virtio_pci.h"
#include "devices/virtio_rng.h"
#include "vmm/bus.h"
#include "vmm/console_out.h"
#include "vmm/guest_mem.h"
#include "vmm/io_thread.h"
#include "vmm/kvm.h"
#include "vmm/vcpu.h"

#define VM_MAX_DISKS 8

struct vm_disk {
	const char *path;
	const char *serial; /* NULL for none */
	bool ro;
	bool sync_io;
};

#define VM_MAX_NICS 4

struct vm_nic {
	const char *tap;
	const uint8_t *mac; /* NULL: derived from the TAP name */
	bool vhost;
};

/* How virtio devices reach the guest. */
enum vm_transport {
	VM_TRANSPORT_PCI = 0, /* modern virtio-pci: found by any kernel's PCI probe */
	VM_TRANSPORT_MMIO,    /* virtio-mmio, announced on the kernel command line */
};

struct vm_config {
	const char *kvm_path;
	uint64_t mem_size;
	int ncpus;
	const uint8_t *kernel; /* the whole bzImage */
	size_t kernel_len;
	const uint8_t *initrd; /* NULL for none */
	size_t initrd_len;
	const char *cmdline;
	int console_out_fd; /* where the guest's serial output goes */
	bool rng;	    /* a virtio-rng device */
	enum vm_transport transport;
	int ndisks;
	struct vm_disk disks[VM_MAX_DISKS];
	int nnics;
	struct vm_nic nics[VM_MAX_NICS];
};

/* Why the VM stopped running. The first reason reported wins. */
enum vm_stop {
	VM_RUNNING = 0,
	VM_STOP_RESET,	  /* guest asked for a reboot (i8042, triple fault, KVM reset event) */
	VM_STOP_SHUTDOWN, /* guest powered off */
	VM_STOP_QUIT,	  /* the user or a signal asked us to quit */
	VM_STOP_ERROR,	  /* KVM or the VMM failed; already reported */
};

/* A device that can be put back to its power-on state, for an in-place reset. */
struct vm_device {
	const char *name;
	void (*reset)(void *dev);
	void *dev;
};

#define VM_MAX_DEVICES 32

struct vm {
	struct kvm kvm;
	struct guest_mem mem;
	struct bus pio, mmio;
	int ncpus;
	struct vcpu *vcpus;
	struct kvm_cpuid2 *cpuid;

	struct serial serial;
	struct i8042 i8042;
	struct rtc rtc;
	struct pci_bus pci;
	struct io_thread io;
	struct virtio_rng *rng;
	struct virtio_blk *disks[VM_MAX_DISKS];
	int ndisks;
	struct virtio_net *nics[VM_MAX_NICS];
	int nnics;
	struct vm_device devices[VM_MAX_DEVICES];
	int ndevices;
	enum vm_transport transport;
	int nmmio;
	char cmdline_mmio[VIRTIO_MMIO_MAX * 48]; /* virtio_mmio.device=... for each */
	char *cmdline;				 /* cmdline_mmio, then the user's */

	int console_out_fd;
	struct console_out console_out; /* the UART's output, written to console_out_fd */
	int stop_fd;			/* eventfd: readable once a stop was requested */
	int rx_ready_fd;		/* eventfd: the UART has room for more input */
	_Atomic int stop;
};

/* Builds the whole machine, top to bottom, ready to run. Returns 0, or -1 after printing why
 * (and with everything it had set up released). */
int vm_create(struct vm *vm, const struct vm_config *cfg);
int vm_start(struct vm *vm);
/* Records why (first caller wins) and kicks every vCPU out of the guest. Thread-safe. */
void vm_request_stop(struct vm *vm, enum vm_stop why);
enum vm_stop vm_stop_reason(struct vm *vm);
/* Waits for the vCPU threads after a stop and frees everything. */
void vm_destroy(struct vm *vm);
/* Puts every registered device back to its power-on state. */
void vm_reset_devices(struct vm *vm);
