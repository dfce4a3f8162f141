/* The kernel's vhost-net as virtio-net's data path (--net ...,vhost=on): once the driver sets
 * DRIVER_OK, the host kernel moves packets between the TAP and the guest's rings directly and
 * signals interrupts through KVM irqfds (or, without MSI-X, through eventfds kvmm relays).
 * The userspace path in virtio_net.c stays for everything before DRIVER_OK and after a reset. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "devices/virtq.h"
#include "vmm/guest_mem.h"
#include "vmm/log.h"

#define VHOST_NET_QUEUES 2

struct vhost_net {
	int fd; /* /dev/vhost-net, -1 when unused */
	int call_fd[VHOST_NET_QUEUES];
	uint64_t features; /* what the kernel's vhost-net supports */
	bool running;
	struct log_limit log; /* what fails when the guest's driver starts or stops it */
};

/* Opens /dev/vhost-net, becomes its owner and gives it the guest's memory map. Returns 0, or -1
 * after a one-line error naming what to do (modprobe vhost_net, permissions). */
int vhost_net_open(struct vhost_net *vh, const char *tap, const struct guest_mem *mem);
/* Hands the configured rings to the kernel: base[q] is the next available index to process,
 * kick_fd[q] the eventfd the guest's notify write signals, call_fd[q] the one vhost signals
 * for an interrupt (a KVM irqfd, or vh->call_fd[q] to relay); features are the negotiated
 * ring features, a subset of vh->features. Returns 0, or -1 after logging. */
int vhost_net_start(struct vhost_net *vh, const struct guest_mem *mem, const struct virtq *vqs,
		    const uint16_t *base, const int *kick_fd, const int *call_fd, uint64_t features,
		    int tap_fd);
/* Points the running rings' interrupt signals at other eventfds (call_fd as for start). */
void vhost_net_set_call(struct vhost_net *vh, const int *call_fd);
/* A paused VM: detaches the TAP (vhost's worker flushed, no packet moves, no interrupt) or
 * attaches it again; the rings keep their state. Returns 0, or -1 after logging. */
int vhost_net_set_backend(struct vhost_net *vh, int tap_fd);
/* Detaches the TAP and stops the rings (after a device reset). */
void vhost_net_stop(struct vhost_net *vh);
void vhost_net_close(struct vhost_net *vh);
