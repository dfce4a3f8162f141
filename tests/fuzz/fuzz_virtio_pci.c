/* The virtio-pci transport (devices/virtio_pci.c over devices/pci.c and the virtio core) as a
 * guest reaches it: configuration space through ports 0xCF8/0xCFC, and BAR 0 (common, ISR,
 * notify and device configuration, the MSI-X table and PBA) on the MMIO bus wherever the guest
 * put it. There is no VM: KVM's ioctls fail, as in the unit tests, so MSI-X interrupts stay
 * pending, and kicks reach the device through the I/O thread's loop run inline.
 *
 * Input: a flags byte (device features, BAR 0 placed and decoding on from the start), then
 * operations of (op, offset, size, value): configuration and BAR reads and writes, raw port
 * accesses, guest memory stores (rings), running the I/O thread, and a machine reset. */
#include "devices/pci.h"
#include "devices/virtio_pci.h"
#include "fuzz_device.h"
#include "vmm/bus.h"
#include "vmm/kvm.h"

#define RAM  (64 * 1024)
#define BAR0 0xc0000000ULL

static struct io_thread io;
static struct bus pio, mmio;
static struct pci_bus pci;
static struct kvm kvm;
static struct virtio_dev vd;
static struct virtio_device_ops ops;

static uint64_t port_rw(uint16_t port, unsigned len, uint64_t v, bool write)
{
	uint8_t b[8];
	for (unsigned i = 0; i < len; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	bus_access(&pio, port, b, len, write);
	uint64_t r = 0;
	for (unsigned i = 0; i < len; i++)
		r |= (uint64_t)b[i] << (8 * i);
	return r;
}

/* A type-1 configuration access to slot's register reg, as Linux's pci_conf1 makes it. */
static void cfg_rw(uint8_t slot, unsigned reg, unsigned len, uint32_t v, bool write)
{
	if (len > 4)
		len = 4;
	port_rw(PCI_CONFIG_ADDRESS, 4, 0x80000000U | (uint32_t)slot << 11 | (reg & 0xfc), true);
	port_rw((uint16_t)(PCI_CONFIG_DATA + (reg & 3)), len, v, write);
}

static uint64_t bar_base(void)
{
	struct virtio_pci *vp = vd.transport_data;
	return vp->pci.bars[0].mapped ? vp->pci.bars[0].addr : BAR0;
}

static void bar_rw(uint32_t off, unsigned len, uint64_t v, bool write)
{
	uint8_t b[8];
	for (unsigned i = 0; i < len; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	bus_access(&mmio, bar_base() + off, b, len, write);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	struct guest_mem *mem = fuzz_gmem(RAM, true);
	uint8_t flags = fuzz_u8(&in);
	ops = fuzz_dev_ops(flags & 0x80 ? fuzz_u64(&in) : 0);

	if (io_thread_init(&io) < 0)
		abort();
	bus_init(&pio, BUS_PIO);
	bus_init(&mmio, BUS_MMIO);
	if (pci_bus_init(&pci, &pio, &mmio) < 0)
		abort();
	kvm = (struct kvm){.dev_fd = -1, .vm_fd = -1};
	if (kvm_irq_routes_init(&kvm) < 0 ||
	    virtio_dev_init(&vd, "fuzz", &ops, NULL, mem, &io) < 0 ||
	    virtio_pci_attach(&vd, &kvm, &pci) < 0)
		abort();
	struct virtio_pci *vp = vd.transport_data;
	uint8_t slot = 1; /* the first slot after the host bridge */
	FUZZ_CHECK(pci.slots[slot] == &vp->pci);
	if (flags & 1) { /* what the guest's PCI code does first */
		cfg_rw(slot, PCI_BASE_ADDRESS_0, 4, (uint32_t)BAR0, true);
		cfg_rw(slot, PCI_BASE_ADDRESS_0 + 4, 4, 0, true);
		cfg_rw(slot, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, true);
	}
	if (flags & 2) /* MSI-X on */
		cfg_rw(slot, vp->msix_cap + 2, 2, 0x8000, true);

	while (fuzz_more(&in)) {
		uint8_t op = fuzz_u8(&in);
		unsigned len = fuzz_width(op >> 4);
		bool write = op & 0x40;
		switch (op & 0xf) {
		case 0: /* our function's configuration space */
		case 1: {
			unsigned reg = fuzz_u8(&in);
			uint32_t v = write ? fuzz_u32(&in) : 0;
			cfg_rw(slot, reg, len, v, write);
			break;
		}
		case 2: /* BAR 0's structures */
		case 3:
		case 4: {
			uint32_t off = fuzz_u16(&in);
			uint64_t v = write ? fuzz_u64(&in) : 0;
			bar_rw(off, len, v, write);
			break;
		}
		case 5: { /* the configuration ports themselves, any slot, any width */
			uint16_t port = (uint16_t)(PCI_CONFIG_ADDRESS + fuzz_u8(&in) % 8);
			uint64_t v = write ? fuzz_u32(&in) : 0;
			port_rw(port, len > 4 ? 4 : len, v, write);
			break;
		}
		case 6: { /* direct, as pci.c's callers make them */
			uint8_t s = fuzz_u8(&in) % (PCI_MAX_DEVICES + 1);
			unsigned reg = fuzz_u16(&in) % (PCI_CFG_SIZE + 8);
			unsigned l = len > 4 ? 4 : len;
			if (write)
				pci_cfg_write(&pci, s, reg, fuzz_u32(&in), l);
			else
				pci_cfg_read(&pci, s, reg, l);
			break;
		}
		case 7:
		case 8: { /* the guest fills its rings and buffers */
			uint16_t off = fuzz_u16(&in);
			uint64_t v = fuzz_u64(&in);
			gmem_write(mem, off, &v, len);
			break;
		}
		case 9: /* the I/O thread serves the kicks */
			fuzz_io_settle(&io, 8);
			break;
		case 10: /* a machine reset in place */
			pci_bus_reset(&pci);
			virtio_dev_reset(&vd);
			break;
		default:
			break;
		}
	}
	fuzz_io_settle(&io, 8);

	virtio_dev_destroy(&vd);
	pci_bus_destroy(&pci);
	bus_destroy(&mmio);
	bus_destroy(&pio);
	kvm_close(&kvm);
	io_thread_destroy(&io);
	return 0;
}
