/* The virtio-mmio transport (devices/virtio_mmio.c over the virtio core) as a guest reaches it:
 * its 4 KiB register page on the MMIO bus, any offset and width. Built with the transport's own
 * source, as test_virtio_net.c is with its device's, for what virtio_mmio_attach does but
 * cannot without a VM (its ioeventfds): the same transport ops and bus claim, without KVM.
 * Interrupts go to KVM's ioctls, which fail; kicks reach the device through the I/O thread's
 * loop run inline.
 *
 * Input: a flags byte (device features), then operations of (op, offset, size, value): register
 * reads and writes, guest memory stores (rings), running the I/O thread, a machine reset. */
#include "../../devices/virtio_mmio.c"

#include "fuzz_device.h"

#define RAM (64 * 1024)

static struct io_thread io;
static struct bus bus;
static struct kvm kvm;
static struct virtio_dev vd;
static struct virtio_device_ops ops;

static void reg_rw(uint32_t off, unsigned len, uint64_t v, bool write)
{
	uint8_t b[8];
	for (unsigned i = 0; i < len; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	bus_access(&bus, VIRTIO_MMIO_BASE + off, b, len, write);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	struct guest_mem *mem = fuzz_gmem(RAM, true);
	uint8_t flags = fuzz_u8(&in);
	ops = fuzz_dev_ops(flags & 0x80 ? fuzz_u64(&in) : 0);

	if (io_thread_init(&io) < 0)
		abort();
	bus_init(&bus, BUS_MMIO);
	kvm = (struct kvm){.dev_fd = -1, .vm_fd = -1};
	if (virtio_dev_init(&vd, "fuzz", &ops, NULL, mem, &io) < 0)
		abort();
	/* virtio_mmio_attach, less the ioeventfds. */
	struct virtio_mmio *vm = calloc(1, sizeof(*vm));
	if (!vm)
		abort();
	*vm = (struct virtio_mmio){.vd = &vd, .kvm = &kvm, .base = VIRTIO_MMIO_BASE, .gsi = 5};
	vd.transport = &mmio_transport;
	vd.transport_data = vm;
	if (bus_register(&bus, VIRTIO_MMIO_BASE, VIRTIO_MMIO_SIZE, &mmio_ops, vm, "fuzz") < 0)
		abort();
	virtio_dev_reset(&vd);

	while (fuzz_more(&in)) {
		uint8_t op = fuzz_u8(&in);
		unsigned len = fuzz_width(op >> 4);
		bool write = op & 0x40;
		switch (op & 0xf) {
		case 0: /* a register: the 32-bit ones and the configuration space */
		case 1:
		case 2: {
			uint32_t off = fuzz_u8(&in) * 4u;
			uint64_t v = write ? fuzz_u32(&in) : 0;
			reg_rw(off, len, v, write);
			break;
		}
		case 3: { /* anywhere in (and past) the page */
			uint32_t off = fuzz_u16(&in) % (VIRTIO_MMIO_SIZE + 16);
			uint64_t v = write ? fuzz_u64(&in) : 0;
			reg_rw(off, len, v, write);
			break;
		}
		case 4:
		case 5: { /* the guest fills its rings and buffers */
			uint16_t off = fuzz_u16(&in);
			uint64_t v = fuzz_u64(&in);
			gmem_write(mem, off, &v, len);
			break;
		}
		case 6:
			fuzz_io_settle(&io, 8);
			break;
		case 7:
			virtio_dev_reset(&vd);
			break;
		default:
			break;
		}
	}
	fuzz_io_settle(&io, 8);

	virtio_dev_destroy(&vd);
	bus_destroy(&bus);
	io_thread_destroy(&io);
	return 0;
}
