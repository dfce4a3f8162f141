/* virtio-blk's request path (devices/virtio_blk.c) over a small image file, with rings and
 * requests the input writes into guest memory. The device is set up as a driver does it (status
 * handshake, features, one queue), without a transport: kicks go through the queue's eventfd to
 * the I/O thread's loop, run inline; io_uring completions come back the same way.
 *
 * Input: a flags byte (synchronous I/O or io_uring, read-only), the driver's feature word, the
 * queue's size and ring addresses, then operations: guest memory stores, a kick, waiting for I/O
 * in flight, a device reset and setup again, configuration reads. The image is an unlinked
 * temporary file, its size put back for every input. */
#include <fcntl.h>

#include "devices/virtio_blk.h"
#include "fuzz.h"

#define RAM (64 * 1024)
#define IMG (64 * 1024)

static struct io_thread io;
static struct virtio_blk blk;
static int img_fd = -1;
static char img_path[64];

struct driver {
	uint32_t features;
	uint16_t qsize;
	uint16_t desc, avail, used;
};

static void image_once(void)
{
	if (img_fd >= 0)
		return;
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char path[256];
	snprintf(path, sizeof(path), "%s/kvmm-fuzz-blk.XXXXXX", dir);
	img_fd = mkstemp(path);
	if (img_fd < 0)
		abort();
	unlink(path);
	/* virtio_blk_init opens a path: this one names the unlinked file. */
	snprintf(img_path, sizeof(img_path), "/proc/self/fd/%d", img_fd);
}

/* What a driver does after a reset: handshake, features, the queue, DRIVER_OK. */
static void driver_start(const struct driver *d)
{
	struct virtio_dev *vd = &blk.vd;
	pthread_mutex_lock(&vd->lock);
	virtio_write_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_write_driver_features(vd, 0, d->features);
	virtio_write_driver_features(vd, 1, 1); /* VERSION_1 */
	virtio_write_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				    VIRTIO_STATUS_FEATURES_OK);
	virtio_set_queue_size(vd, 0, d->qsize);
	vd->queue_desc[0] = d->desc;
	vd->queue_driver[0] = d->avail;
	vd->queue_device[0] = d->used;
	virtio_enable_queue(vd, 0);
	virtio_write_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				    VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	pthread_mutex_unlock(&vd->lock);
}

/* Completions for what io_uring has in flight, for up to about 100 ms. */
static void wait_io(void)
{
	for (int i = 0; i < 100 && blk.inflight; i++)
		fuzz_io_run(&io, 1);
	fuzz_io_settle(&io, 8);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	struct guest_mem *mem = fuzz_gmem(RAM, true);
	image_once();
	if (ftruncate(img_fd, IMG) < 0)
		abort();

	uint8_t flags = fuzz_u8(&in);
	bool sync_io = !(flags & 1), ro = flags & 2;
	struct driver d;
	d.features = fuzz_u32(&in);
	d.qsize = (uint16_t)(1u << (fuzz_u8(&in) % 9));
	d.desc = fuzz_u16(&in);
	d.avail = fuzz_u16(&in);
	d.used = fuzz_u16(&in);

	if (io_thread_init(&io) < 0 ||
	    virtio_blk_init(&blk, img_path, ro, "fuzz-serial", sync_io, mem, &io) < 0)
		abort();
	driver_start(&d);

	while (fuzz_more(&in)) {
		uint8_t op = fuzz_u8(&in);
		switch (op & 7) {
		case 0: /* the guest stores: rings, descriptors, request headers */
		case 1:
			fuzz_guest_store(&in, op, mem);
			break;
		case 2: /* a kick, served by the I/O thread */
			virtio_kick_queue(&blk.vd, 0);
			fuzz_io_settle(&io, 8);
			break;
		case 3:
			wait_io();
			break;
		case 4: /* the driver resets the device (I/O may be in flight) and starts again */
			pthread_mutex_lock(&blk.vd.lock);
			virtio_write_status(&blk.vd, 0);
			pthread_mutex_unlock(&blk.vd.lock);
			if (op & 0x80)
				driver_start(&d);
			break;
		case 5: { /* configuration space, as a transport lets it through */
			unsigned off = fuzz_u8(&in), len = fuzz_width(op >> 4);
			uint8_t buf[8];
			if (off + len <= blk.vd.ops->config_size)
				blk.vd.ops->config_read(&blk, off, buf, len);
			break;
		}
		default:
			break;
		}
	}
	wait_io();

	virtio_blk_destroy(&blk);
	io_thread_destroy(&io);
	return 0;
}
