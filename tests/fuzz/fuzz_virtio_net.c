/* virtio-net's transmit and receive paths (devices/virtio_net.c) with a socket pair in place of
 * the TAP: what the device writes to "the TAP" arrives at the other end, and packets the input
 * sends from there are what the device reads. Built with the device's own source, as
 * test_virtio_net.c is, to put the device together without /dev/net/tun. The device is set up
 * as a driver does it, without a transport; kicks and the TAP's readiness go through the I/O
 * thread's loop, run inline, which honours the device pausing the TAP.
 *
 * Input: the driver's feature word (MRG_RXBUF among them), the queues' sizes and ring
 * addresses, then operations: guest memory stores, a receive or transmit kick, a packet from the
 * host (bytes of the input, or a long run of a filler), the I/O thread's loop, a device reset. */
#include "../../devices/virtio_net.c"

#include <sys/socket.h>

#include "fuzz.h"

#define RAM (64 * 1024)

static struct io_thread io;
static struct virtio_net net;
static int host_fd = -1; /* the TAP's far end: the host's network */
static uint8_t pkt[VIRTIO_NET_MAX_PACKET];

struct driver {
	uint32_t features;
	uint16_t qsize[2];
	uint16_t desc[2], avail[2], used[2];
};

static void driver_start(const struct driver *d)
{
	struct virtio_dev *vd = &net.vd;
	pthread_mutex_lock(&vd->lock);
	virtio_write_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_write_driver_features(vd, 0, d->features);
	virtio_write_driver_features(vd, 1, 1); /* VERSION_1 */
	virtio_write_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				    VIRTIO_STATUS_FEATURES_OK);
	for (unsigned q = 0; q < 2; q++) {
		virtio_set_queue_size(vd, q, d->qsize[q]);
		vd->queue_desc[q] = d->desc[q];
		vd->queue_driver[q] = d->avail[q];
		vd->queue_device[q] = d->used[q];
		virtio_enable_queue(vd, q);
	}
	virtio_write_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				    VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	pthread_mutex_unlock(&vd->lock);
}

/* What virtio_net_init does once the TAP is open. */
static void net_start(int tap_fd, const struct guest_mem *mem)
{
	memset(&net, 0, sizeof(net));
	net.io = &io;
	snprintf(net.tap, sizeof(net.tap), "fuzz0");
	net.vhost.fd = net.vhost.call_fd[0] = net.vhost.call_fd[1] = -1;
	net.tap_fd = tap_fd;
	memcpy(net.mac, "\x52\x54\x00\x12\x34\x56", 6);
	net.rx_pkt = malloc(VIRTIO_NET_MAX_PACKET);
	net.tx_buf = malloc(VIRTIO_NET_MAX_PACKET);
	net.held = calloc(VIRTIO_NET_MAX_HELD, sizeof(*net.held));
	if (!net.rx_pkt || !net.tx_buf || !net.held ||
	    virtio_dev_init(&net.vd, "virtio-net", &net_ops, &net, mem, &io) < 0 ||
	    io_thread_watch(&io, net.tap_fd, tap_readable, &net, false) < 0)
		abort();
}

/* The host takes whatever the guest sent. */
static void host_drain(void)
{
	while (recv(host_fd, pkt, sizeof(pkt), MSG_DONTWAIT) > 0)
		;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	struct guest_mem *mem = fuzz_gmem(RAM, true);
	struct driver d;
	d.features = fuzz_u32(&in);
	for (unsigned q = 0; q < 2; q++) {
		d.qsize[q] = (uint16_t)(1u << (fuzz_u8(&in) % 9));
		d.desc[q] = fuzz_u16(&in);
		d.avail[q] = fuzz_u16(&in);
		d.used[q] = fuzz_u16(&in);
	}

	/* Datagrams keep packet boundaries, as a TAP does; nonblocking, as the TAP is opened. */
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	int sndbuf = 4 << 20;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	host_fd = sv[1];
	if (io_thread_init(&io) < 0)
		abort();
	net_start(sv[0], mem);
	driver_start(&d);

	while (fuzz_more(&in)) {
		uint8_t op = fuzz_u8(&in);
		switch (op & 7) {
		case 0: /* the guest stores: rings, descriptors, packet headers */
		case 1:
			fuzz_guest_store(&in, op, mem);
			break;
		case 2: /* a kick: receive buffers posted (0x10) or packets to send */
			virtio_kick_queue(&net.vd, op & 0x10 ? RXQ : TXQ);
			fuzz_io_settle(&io, 8);
			host_drain();
			break;
		case 3: { /* a packet from the host: bytes of the input */
			size_t n;
			const uint8_t *p = fuzz_bytes(&in, fuzz_u8(&in), &n);
			if (send(host_fd, p, n, MSG_DONTWAIT) < 0 && errno != EAGAIN)
				abort();
			break;
		}
		case 4: { /* ... or a big one, up to what a TAP with offloads gives */
			size_t n = fuzz_u32(&in) % (VIRTIO_NET_MAX_PACKET + 1);
			memset(pkt, op, n);
			if (send(host_fd, pkt, n, MSG_DONTWAIT) < 0 && errno != EAGAIN &&
			    errno != ENOBUFS)
				abort();
			break;
		}
		case 5: /* the I/O thread's loop: the TAP is readable */
			fuzz_io_settle(&io, 8);
			host_drain();
			break;
		case 6: /* the driver resets the device and, maybe, starts again */
			pthread_mutex_lock(&net.vd.lock);
			virtio_write_status(&net.vd, 0);
			pthread_mutex_unlock(&net.vd.lock);
			if (op & 0x80)
				driver_start(&d);
			break;
		case 7: { /* configuration space, as a transport lets it through */
			unsigned off = fuzz_u8(&in), len = fuzz_width(op >> 4);
			uint8_t buf[8];
			if (off + len <= net.vd.ops->config_size)
				net.vd.ops->config_read(&net, off, buf, len);
			break;
		}
		default:
			break;
		}
	}
	fuzz_io_settle(&io, 8);

	virtio_net_destroy(&net); /* closes the TAP's end */
	close(host_fd);
	io_thread_destroy(&io);
	return 0;
}
