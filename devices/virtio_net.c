#include "virtio_net.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "vmm/le.h"
#include "vmm/log.h"

#define VIRTIO_ID_NET	      1
#define PCI_CLASS_NETWORK_ETH 0x020000
#define NET_QUEUE_SIZE	      256
#define RXQ		      0
#define TXQ		      1
#define NET_HDR_LEN	      12 /* struct virtio_net_hdr_v1, with num_buffers */

#define VIRTIO_NET_F_CSUM	0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MAC	5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_HOST_TSO4	11
#define VIRTIO_NET_F_HOST_TSO6	12
#define VIRTIO_NET_F_MRG_RXBUF	15
#define VIRTIO_NET_F_STATUS	16
#define VIRTIO_NET_S_LINK_UP	1

/* What vhost-net implements itself; the offload bits concern only the TAP. */
#define NET_VHOST_FEATURES                                                                         \
	((1ULL << VIRTIO_NET_F_MRG_RXBUF) | (1ULL << VIRTIO_F_INDIRECT_DESC) |                     \
	 (1ULL << VIRTIO_F_EVENT_IDX) | (1ULL << VIRTIO_F_VERSION_1))

int virtio_net_open_tap(const char *name)
{
	if (strlen(name) >= IFNAMSIZ) {
		log_error("--net tap=%s: interface names are at most %d characters", name,
			  IFNAMSIZ - 1);
		return -1;
	}
	bool existed = if_nametoindex(name) != 0;
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		log_error("--net tap=%s: /dev/net/tun: %s%s", name, strerror(errno),
			  errno == ENOENT ? " (modprobe tun)" : "");
		return -1;
	}
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int e = errno;
		log_error("--net tap=%s: %s%s", name, strerror(e),
			  e == EPERM
			      ? (existed
				     ? " (it belongs to another user: ip tuntap del it and "
				       "add it with 'user YOU')"
				     : " (create it first: sudo ip tuntap add dev NAME mode tap "
				       "user $USER)")
			      : "");
		close(fd);
		return -1;
	}
	int hdr = NET_HDR_LEN;
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
		log_error("--net tap=%s: TUNSETVNETHDRSZ: %s", name, strerror(errno));
		close(fd);
		return -1;
	}
	if (!existed)
		log_warn("created TAP interface %s (it goes away when kvmm exits)", name);
	return fd;
}

static void net_config_read(void *dev, unsigned offset, uint8_t *data, unsigned len)
{
	struct virtio_net *net = dev;
	uint8_t cfg[12] = {0};
	memcpy(cfg, net->mac, 6);
	le_put(&cfg[6], VIRTIO_NET_S_LINK_UP, 2);
	le_put(&cfg[8], 1, 2); /* max_virtqueue_pairs */
	if (offset + len <= sizeof(cfg))
		memcpy(data, &cfg[offset], len);
}

static bool mergeable(const struct virtio_net *net)
{
	return net->vd.driver_features & (1ULL << VIRTIO_NET_F_MRG_RXBUF);
}

/* No packet pending and no guest buffers held for one. */
static void rx_forget(struct virtio_net *net)
{
	net->nheld = 0;
	net->held_bytes = 0;
	net->rx_len = 0;
}

/* Delivers the pending packet once enough guest buffers are held; true when it went out. */
static bool rx_deliver(struct virtio_net *net)
{
	struct virtq *vq = &net->vd.vqs[RXQ];
	while (net->held_bytes < net->rx_len) {
		if (net->nheld == VIRTIO_NET_MAX_HELD || net->nheld >= vq->size ||
		    (net->nheld > 0 && !mergeable(net))) {
			/* The guest's buffers cannot hold it, even with the whole ring: only a
			 * driver that negotiated offloads it then did not size for gets here. */
			log_debug("virtio-net: %zu-byte packet larger than the guest's buffers",
				  net->rx_len);
			net->rx_len = 0;
			return false;
		}
		int r = virtq_pop(vq, &net->held[net->nheld]);
		if (r < 0) {
			virtio_needs_reset(&net->vd);
			return false;
		}
		if (r == 0)
			return false; /* wait for the guest to post more */
		net->held_bytes += net->held[net->nheld].write_len;
		net->nheld++;
	}
	/* Only the buffers this packet fills: after a dropped packet more may be held, and those
	 * wait for the next one. num_buffers tells the driver how many the packet spans. */
	int used = 0;
	size_t room = 0;
	while (room < net->rx_len)
		room += net->held[used++].write_len;
	le_put(&net->rx_pkt[10], (uint64_t)used, 2);
	size_t off = 0;
	for (int i = 0; i < used; i++) {
		struct virtq_chain *c = &net->held[i];
		size_t n = net->rx_len - off < c->write_len ? net->rx_len - off : c->write_len;
		n = virtq_chain_write(vq, c, 0, net->rx_pkt + off, n);
		virtq_push(vq, c->head, (uint32_t)n);
		off += n;
	}
	memmove(net->held, net->held + used, (size_t)(net->nheld - used) * sizeof(*net->held));
	net->nheld -= used;
	net->held_bytes -= room;
	net->rx_len = 0;
	return true;
}

/* Moves packets from the TAP to the guest until either runs dry. Transport locked. */
static void rx_pump(struct virtio_net *net)
{
	struct virtio_dev *vd = &net->vd;
	if (!vd->vqs[RXQ].ready || (vd->status & VIRTIO_STATUS_NEEDS_RESET)) {
		/* Nowhere to deliver yet: the first receive kick resumes reading. */
		net->rx_paused = true;
		io_thread_pause_fd(net->io, net->tap_fd, true);
		return;
	}
	bool delivered = false;
	for (;;) {
		if (net->rx_len == 0) {
			ssize_t n = read(net->tap_fd, net->rx_pkt, VIRTIO_NET_MAX_PACKET);
			if (n <= 0)
				break; /* EAGAIN: the TAP is empty */
			net->rx_len = (size_t)n;
		}
		if (!rx_deliver(net)) {
			if (net->rx_len) {
				/* Out of guest buffers: stop reading until the guest posts more. */
				net->rx_paused = true;
				io_thread_pause_fd(net->io, net->tap_fd, true);
			}
			break;
		}
		delivered = true;
	}
	if (delivered)
		virtio_notify_queue(vd, RXQ);
}

static void tx_pump(struct virtio_net *net)
{
	struct virtq *vq = &net->vd.vqs[TXQ];
	static __thread struct virtq_chain chain;
	int r;
	bool sent = false;
	while ((r = virtq_pop(vq, &chain)) > 0) {
		size_t len = chain.read_len;
		if (len > NET_HDR_LEN && len <= VIRTIO_NET_MAX_PACKET &&
		    virtq_chain_read(vq, &chain, 0, net->tx_buf, len) == len) {
			ssize_t w = write(net->tap_fd, net->tx_buf, len);
			if (w < 0)
				log_debug("virtio-net: TAP write: %s", strerror(errno));
		}
		virtq_push(vq, chain.head, 0);
		sent = true;
	}
	if (r < 0)
		virtio_needs_reset(&net->vd);
	else if (sent)
		virtio_notify_queue(&net->vd, TXQ);
}

static void net_queue_notify(void *dev, struct virtio_dev *vd, unsigned q)
{
	struct virtio_net *net = dev;
	(void)vd;
	if (net->vhost.running)
		return; /* a kick that reached the I/O thread just before vhost took the rings */
	if (q == TXQ) {
		tx_pump(net);
		return;
	}
	/* New receive buffers: deliver what was held back and read the TAP again. */
	if (net->rx_paused) {
		net->rx_paused = false;
		io_thread_pause_fd(net->io, net->tap_fd, false);
	}
	rx_pump(net);
}

/* Kicks and the TAP go to the kernel (vhost) or to the I/O thread, never both. */
static void route_to_vhost(struct virtio_net *net, bool vhost)
{
	for (unsigned q = 0; q < VHOST_NET_QUEUES; q++)
		io_thread_pause_fd(net->io, net->vd.kick_fd[q], vhost);
	io_thread_pause_fd(net->io, net->tap_fd, vhost);
	net->rx_paused = vhost;
}

/* What the TAP may hand the guest is what its driver said it takes: packets whose checksum
 * is left to it (GUEST_CSUM) and TCP segments up to 64 KiB (GUEST_TSO4/6, which need
 * GUEST_CSUM). Without this a TAP gives only finished, MTU-sized frames. */
static void tap_set_offloads(struct virtio_net *net, uint64_t features)
{
	unsigned flags = 0;
	if (features & (1ULL << VIRTIO_NET_F_GUEST_CSUM)) {
		flags |= TUN_F_CSUM;
		if (features & (1ULL << VIRTIO_NET_F_GUEST_TSO4))
			flags |= TUN_F_TSO4;
		if (features & (1ULL << VIRTIO_NET_F_GUEST_TSO6))
			flags |= TUN_F_TSO6;
	}
	if (ioctl(net->tap_fd, TUNSETOFFLOAD, flags) < 0)
		log_warn_limited(&net->log, "virtio-net: TUNSETOFFLOAD 0x%x: %s", flags,
				 strerror(errno));
}

/* vhost signals a queue's MSI-X irqfd itself when there is one; otherwise (INTx, virtio-mmio)
 * its own eventfd, which the I/O thread relays (vhost_call). */
static void vhost_call_fds(struct virtio_net *net, struct virtio_dev *vd, int *call)
{
	unsigned direct = 0;
	for (unsigned q = 0; q < VHOST_NET_QUEUES; q++) {
		call[q] = virtio_queue_irqfd(vd, q);
		if (call[q] >= 0)
			direct++;
		else
			call[q] = net->vhost.call_fd[q];
	}
	log_debug("virtio-net: vhost interrupts %s",
		  direct == VHOST_NET_QUEUES ? "straight to KVM (irqfd)"
		  : direct ? "straight to KVM for one queue, relayed for the other"
			   : "relayed by the I/O thread");
}

/* MSI-X went on or off, or a queue changed vector, while vhost runs: its signals follow. */
static void net_irqfd_changed(void *dev, struct virtio_dev *vd)
{
	struct virtio_net *net = dev;
	if (!net->vhost.running)
		return;
	int call[VHOST_NET_QUEUES];
	vhost_call_fds(net, vd, call);
	vhost_net_set_call(&net->vhost, call);
}

static void start_vhost(struct virtio_net *net, struct virtio_dev *vd)
{
	if (net->vhost.running)
		return; /* DRIVER_OK cleared and set again without a reset */
	if (!vd->vqs[RXQ].ready || !vd->vqs[TXQ].ready) {
		log_warn_limited(&net->log,
				 "virtio-net: driver started without both queues; vhost stays off");
		return;
	}
	/* Buffers held for a packet are still the driver's: vhost takes them again from the
	 * available ring, and the packet itself is dropped, as a NIC that is just coming up may. */
	vd->vqs[RXQ].last_avail = (uint16_t)(vd->vqs[RXQ].last_avail - net->nheld);
	uint16_t base[VHOST_NET_QUEUES] = {
	    [RXQ] = vd->vqs[RXQ].last_avail,
	    [TXQ] = vd->vqs[TXQ].last_avail,
	};
	rx_forget(net);
	route_to_vhost(net, true);
	int kick[VHOST_NET_QUEUES] = {vd->kick_fd[RXQ], vd->kick_fd[TXQ]};
	int call[VHOST_NET_QUEUES];
	vhost_call_fds(net, vd, call);
	if (vhost_net_start(&net->vhost, vd->mem, vd->vqs, base, kick, call,
			    vd->driver_features & NET_VHOST_FEATURES, net->tap_fd) < 0) {
		log_warn_limited(&net->log, "virtio-net: carrying on without vhost");
		route_to_vhost(net, false);
	}
}

static void net_driver_ok(void *dev, struct virtio_dev *vd)
{
	struct virtio_net *net = dev;
	tap_set_offloads(net, vd->driver_features);
	if (net->use_vhost)
		start_vhost(net, vd);
}

static void net_reset(void *dev)
{
	struct virtio_net *net = dev;
	if (net->tap_fd >= 0)
		tap_set_offloads(net, 0);
	if (net->vhost.running) {
		vhost_net_stop(&net->vhost);
		route_to_vhost(net, false);
	}
	/* Held buffers belong to rings the driver just abandoned. */
	rx_forget(net);
}

void virtio_net_pause(struct virtio_net *net, bool paused)
{
	pthread_mutex_lock(&net->vd.lock);
	if (net->vhost.running)
		vhost_net_set_backend(&net->vhost, paused ? -1 : net->tap_fd);
	pthread_mutex_unlock(&net->vd.lock);
}

static void tap_readable(void *opaque)
{
	struct virtio_net *net = opaque;
	pthread_mutex_lock(&net->vd.lock);
	if (!net->vhost.running)
		rx_pump(net);
	pthread_mutex_unlock(&net->vd.lock);
}

/* vhost-net used buffers and wants the driver told: it already applied EVENT_IDX. A signal
 * that arrives after a reset stopped vhost is for rings that no longer exist. */
static void vhost_call(void *opaque)
{
	struct virtio_kick *call = opaque;
	struct virtio_net *net = call->vd->dev;
	pthread_mutex_lock(&call->vd->lock);
	if (net->vhost.running)
		virtio_interrupt_queue(call->vd, call->q);
	pthread_mutex_unlock(&call->vd->lock);
}

static const struct virtio_device_ops net_ops = {
    .device_id = VIRTIO_ID_NET,
    .pci_class = PCI_CLASS_NETWORK_ETH,
    .features = (1ULL << VIRTIO_NET_F_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_CSUM) |
		(1ULL << VIRTIO_NET_F_GUEST_TSO4) | (1ULL << VIRTIO_NET_F_GUEST_TSO6) |
		(1ULL << VIRTIO_NET_F_MAC) | (1ULL << VIRTIO_NET_F_HOST_TSO4) |
		(1ULL << VIRTIO_NET_F_HOST_TSO6) | (1ULL << VIRTIO_NET_F_MRG_RXBUF) |
		(1ULL << VIRTIO_NET_F_STATUS),
    .nqueues = 2,
    .queue_max = NET_QUEUE_SIZE,
    .config_size = 12,
    .config_read = net_config_read,
    .queue_notify = net_queue_notify,
    .driver_ok = net_driver_ok,
    .reset = net_reset,
    .irqfd_changed = net_irqfd_changed,
};

int virtio_net_init(struct virtio_net *net, const char *tap, const uint8_t *mac, bool vhost,
		    const struct guest_mem *mem, struct io_thread *io)
{
	memset(net, 0, sizeof(*net));
	net->io = io;
	snprintf(net->tap, sizeof(net->tap), "%s", tap);
	net->vhost.fd = net->vhost.call_fd[0] = net->vhost.call_fd[1] = -1;
	net->tap_fd = virtio_net_open_tap(tap);
	if (net->tap_fd < 0)
		return -1;
	if (mac) {
		memcpy(net->mac, mac, 6);
	} else {
		/* Locally administered, stable for a given TAP name. */
		uint32_t h = 2166136261u;
		for (const char *p = tap; *p; p++)
			h = (h ^ (uint8_t)*p) * 16777619u;
		uint8_t def[6] = {0x52,	     0x54, 0x00, (uint8_t)(h >> 16), (uint8_t)(h >> 8),
				  (uint8_t)h};
		memcpy(net->mac, def, 6);
	}
	net->rx_pkt = malloc(VIRTIO_NET_MAX_PACKET);
	net->tx_buf = malloc(VIRTIO_NET_MAX_PACKET);
	net->held = calloc(VIRTIO_NET_MAX_HELD, sizeof(*net->held));
	if (!net->rx_pkt || !net->tx_buf || !net->held) {
		log_error("--net tap=%s: out of memory", tap);
		return -1;
	}
	if (virtio_dev_init(&net->vd, "virtio-net", &net_ops, net, mem, io) < 0)
		return -1;
	if (vhost) {
		net->use_vhost = true;
		if (vhost_net_open(&net->vhost, tap, mem) < 0)
			return -1;
		for (unsigned q = 0; q < VHOST_NET_QUEUES; q++) {
			net->vhost_call[q] = (struct virtio_kick){&net->vd, q};
			if (io_thread_watch(io, net->vhost.call_fd[q], vhost_call,
					    &net->vhost_call[q], true) < 0)
				return -1;
		}
	}
	return io_thread_watch(io, net->tap_fd, tap_readable, net, false);
}

void virtio_net_destroy(struct virtio_net *net)
{
	vhost_net_close(&net->vhost);
	virtio_dev_destroy(&net->vd);
	if (net->tap_fd >= 0)
		close(net->tap_fd);
	free(net->rx_pkt);
	free(net->tx_buf);
	free(net->held);
	net->tap_fd = -1;
}
