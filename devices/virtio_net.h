/* virtio-net on a TAP interface. The TAP carries the virtio-net header itself (IFF_VNET_HDR), so
 * checksum and segmentation offload requests pass between guest and host kernel untouched.
 * Received packets are held, never dropped, until the guest has posted enough buffers: while it
 * has none the TAP is not read, and the host kernel's queue applies backpressure. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "devices/vhost_net.h"
#include "devices/virtio.h"

#define VIRTIO_NET_MAX_PACKET (65550 + 12)
#define VIRTIO_NET_MAX_HELD   64

struct virtio_net {
	struct virtio_dev vd;
	struct io_thread *io;
	char tap[16];
	int tap_fd;
	uint8_t mac[6];
	/* The packet read from the TAP and not yet delivered, and the guest buffers gathered
	 * for it so far (with mergeable buffers a packet may span several). */
	uint8_t *rx_pkt;
	size_t rx_len;
	struct virtq_chain *held;
	int nheld;
	size_t held_bytes;
	bool rx_paused;
	uint8_t *tx_buf;
	/* vhost=on: the kernel's data path while the driver is running (vhost.running). */
	bool use_vhost;
	struct vhost_net vhost;
	struct virtio_kick vhost_call[VHOST_NET_QUEUES];
	struct log_limit log; /* warnings the guest's driver can cause again and again */
};

/* tap: interface name; mac: 6 bytes, or NULL for one derived from the name; vhost: use the
 * kernel's vhost-net for the data path. Returns 0, or -1 after a one-line error saying what to
 * do. */
int virtio_net_init(struct virtio_net *net, const char *tap, const uint8_t *mac, bool vhost,
		    const struct guest_mem *mem, struct io_thread *io);
void virtio_net_destroy(struct virtio_net *net);
/* A pause: the kernel's data path stops (vhost=on; the userspace path stops with the I/O
 * thread), or goes on. */
void virtio_net_pause(struct virtio_net *net, bool paused);
/* Opens (or creates) the TAP; used by the CLI to check it before KVM is touched. */
int virtio_net_open_tap(const char *name);
