/* The KVM system and VM file descriptors, and the capabilities kvmm relies on. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <linux/kvm.h>

struct kvm_irq_routing;

struct kvm {
	int dev_fd; /* /dev/kvm */
	int vm_fd;
	int vcpu_mmap_size;
	int max_vcpus;

	/* KVM replaces its GSI routing table whole on every change, so kvmm keeps the table it
	 * last gave: the irqchip pins KVM routes by default, then one MSI route per vector. */
	pthread_mutex_t routes_lock;
	struct kvm_irq_routing *routes;
	unsigned max_routes;

	/* The interrupt controllers and PIT as KVM created them, for a reset. */
	struct kvm_irqchip power_on_chips[3]; /* PIC master, PIC slave, IOAPIC */
	struct kvm_pit_state2 power_on_pit;
};

/* Opens the KVM device at path, checks the API version and every capability kvmm uses, creates
 * the VM with its in-kernel interrupt controllers and PIT. Returns 0, or -1 after a one-line
 * error naming what is missing. */
int kvm_init(struct kvm *kvm, const char *path);
void kvm_close(struct kvm *kvm);
/* Puts the in-kernel PICs, IOAPIC and PIT back as kvm_init created them. */
int kvm_reset_irqchips(struct kvm *kvm);
/* The guest's clock (kvmclock's base): read at a pause, written back at resume so the paused
 * time never shows. */
int kvm_get_clock(struct kvm *kvm, uint64_t *ns);
int kvm_set_clock(struct kvm *kvm, uint64_t ns);

/* Registers [gpa, gpa + size) of guest memory backed by host at slot. */
int kvm_set_memslot(struct kvm *kvm, uint32_t slot, uint64_t gpa, uint64_t size, void *host);

/* Makes a guest write of len bytes at addr (MMIO, or a port when pio) signal fd inside KVM,
 * without an exit to userspace: how a virtqueue kick reaches the I/O thread. */
int kvm_ioeventfd(struct kvm *kvm, uint64_t addr, uint32_t len, int fd, bool pio, bool assign);
/* Same for an MMIO write of exactly value: several queues sharing one notify register. */
int kvm_ioeventfd_match(struct kvm *kvm, uint64_t addr, uint32_t len, int fd, uint64_t value,
			bool assign);

/* kvmm's copy of the routing table, holding KVM's default irqchip routes (kvm_init calls it;
 * unit tests call it on a struct kvm without a VM). Returns 0, or -1 after logging. */
int kvm_irq_routes_init(struct kvm *kvm);
/* A GSI of its own for one MSI (an MSI-X vector), routed nowhere until kvm_msi_route_set.
 * Returns the GSI, or -1 after logging. */
int kvm_msi_route_add(struct kvm *kvm);
/* Points gsi at the message the guest programmed (address/data of an MSI-X table entry). */
int kvm_msi_route_set(struct kvm *kvm, uint32_t gsi, uint64_t addr, uint32_t data);
/* Makes a signal on eventfd fd raise gsi inside KVM (assign), or stops that. An assign while
 * fd already counts raises gsi at once; a deassign forgets the count. */
int kvm_irqfd(struct kvm *kvm, int fd, uint32_t gsi, bool assign);

/* Drives a GSI of the in-kernel PIC/IOAPIC. */
int kvm_irq_line(struct kvm *kvm, uint32_t gsi, int level);
