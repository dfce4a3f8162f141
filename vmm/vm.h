/* A virtual machine: KVM, guest memory, buses, devices and vCPUs, and its run state. */
#pragma once

#include <linux/screen_info.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/acpi_pm.h"
#include "devices/boot_timer.h"
#include "devices/framebuffer.h"
#include "devices/i8042.h"
#include "devices/pci.h"
#include "devices/rtc.h"
#include "devices/serial.h"
#include "devices/virtio_blk.h"
#include "devices/virtio_input.h"
#include "devices/virtio_mmio.h"
#include "devices/virtio_net.h"
#include "devices/virtio_pci.h"
#include "devices/virtio_rng.h"
#include "loader/kernel.h"
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
	const struct kernel_image *kernel; /* opened; it and the initrd must outlive the VM: every
					    * reset loads them again */
	const uint8_t *initrd;		   /* NULL for none */
	size_t initrd_len;
	const char *cmdline;
	int console_out_fd; /* where the guest's serial output goes */
	bool rng;	    /* a virtio-rng device */
	bool acpi;	    /* ACPI tables and PM registers (power button, poweroff) */
	enum vm_transport transport;
	int ndisks;
	struct vm_disk disks[VM_MAX_DISKS];
	int nnics;
	struct vm_nic nics[VM_MAX_NICS];
	/* A framebuffer of this mode with a virtio keyboard and tablet (a display shows it);
	 * 0 x 0: none. */
	unsigned fb_width, fb_height;
};

/* Why the VM stopped running. The first reason reported wins. */
enum vm_stop {
	VM_RUNNING = 0,
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
	bool acpi;
	struct acpi_pm acpi_pm; /* when acpi */
	struct io_thread io;
	struct virtio_rng *rng;
	struct virtio_blk *disks[VM_MAX_DISKS];
	int ndisks;
	struct virtio_net *nics[VM_MAX_NICS];
	int nnics;
	struct framebuffer *fb;		   /* NULL: no display */
	struct virtio_input *kbd, *tablet; /* with the framebuffer */
	struct screen_info screen;	   /* the framebuffer, for the zero page */
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
	int reset_fd;			/* eventfd: the guest asked for a reset */
	_Atomic int stop;

	/* What the loader writes at every power-on: the first boot and each reset. */
	struct boot_config boot_cfg;
	struct boot_timer boot_timer;
	bool kernel_entry_first; /* the first instruction is the kernel's own: no decompressor */
	uint64_t boots;		 /* power-ons so far, the first included */

	/* Run control: while holds > 0 every vCPU waits outside KVM_RUN (parked). A pause holds
	 * until resume, a reset or a look at registers only while it works, and a guest's reset
	 * request until the reset is done. */
	pthread_mutex_t run_lock;
	pthread_cond_t run_cond;
	int holds;
	int parked;
	_Atomic bool held;
	bool paused;	       /* vm_pause is in effect */
	bool reset_pending;    /* a guest's reset request holds the vCPUs */
	uint64_t paused_clock; /* the guest's clock when it was paused */
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

/* For vCPU threads: whether to park, and parking (returns once released or stopping). */
bool vm_vcpu_held(struct vm *vm);
void vm_vcpu_park(struct vm *vm);
/* Takes every vCPU out of KVM_RUN and returns once all wait; nests. Not on a vCPU thread. */
void vm_hold_vcpus(struct vm *vm);
void vm_release_vcpus(struct vm *vm);

/* Stops the guest: every vCPU parked, no device work, the guest clock kept (and each vCPU's
 * kvmclock told, so the guest's watchdogs do not count the pause). Returns once it is done. */
int vm_pause(struct vm *vm);
int vm_resume(struct vm *vm);
bool vm_is_paused(struct vm *vm);
/* Power-on again in place: devices reset (I/O in flight finished first), interrupt
 * controllers and vCPUs as created, RAM zeroed, kernel and tables loaded afresh. A paused VM
 * stays paused. Returns 0, or -1 after printing why (the VM is then unusable). */
int vm_reset(struct vm *vm);
/* From a vCPU thread: the guest reset the machine. Holds the vCPUs and signals reset_fd;
 * whoever watches it calls vm_reset (or stops the VM). */
void vm_request_reset(struct vm *vm);
/* Reads reset_fd; true when a guest's reset request waits. */
bool vm_take_reset_request(struct vm *vm);
/* Whether a guest's reset request waits still (a reset since then answered it). */
bool vm_reset_pending(struct vm *vm);
/* Presses the ACPI power button. Returns 1 when the guest has enabled it, 0 when it has not
 * (no ACPI in the guest, or no button driver: nothing will happen), -1 without ACPI. */
int vm_power_button(struct vm *vm);
/* Presses codes (Linux key codes) in order on the virtio keyboard, then releases them in
 * reverse: QEMU's sendkey. Returns 0, or -1 (why in err) without a keyboard. */
int vm_send_keys(struct vm *vm, const uint16_t *codes, unsigned n, char *err, size_t errlen);
/* The framebuffer as it is now, to a PNG file. Returns 0, or -1 with why in err. */
int vm_screendump(struct vm *vm, const char *path, char *err, size_t errlen);
/* fdatasync on every disk image. */
void vm_flush_disks(struct vm *vm);
