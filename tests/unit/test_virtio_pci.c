/* The virtio-pci transport as a driver sees it through configuration space and BAR 0: the
 * capability list Linux's virtio_pci_modern probe walks, the common configuration, and the
 * interrupt paths. There is no VM here, so KVM's ioctls fail and no MSI-X vector ever binds
 * its irqfd: every MSI-X interrupt lands in the PBA, which makes pending state observable. */
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>

#include "devices/virtio_pci.h"
#include "fake_virtio.h"
#include "stderr_capture.h"
#include "unit.h"
#include "vmm/log.h"

#define BAR0 0xc0000000ULL

static struct guest_mem mem;
static struct io_thread io;
static struct bus pio, mmio;
static struct pci_bus pci;
static struct kvm kvm;
static struct virtio_dev vd;
static struct virtio_pci *vp;
static const struct virtio_device_ops ops = {
    .device_id = 4,
    .pci_class = 0xff0000,
    .nqueues = 2,
    .queue_max = 64,
    .queue_notify = fake_queue_notify,
    .driver_ok = fake_driver_ok,
    .reset = fake_reset,
    .irqfd_changed = fake_irqfd_changed,
};

/* A second device, with eight bytes of device configuration. */
static struct virtio_dev cfg_vd;
static uint8_t dev_cfg[8];

static void dev_cfg_read(void *dev, unsigned offset, uint8_t *data, unsigned len)
{
	(void)dev;
	memcpy(data, &dev_cfg[offset], len);
}

static void dev_cfg_write(void *dev, unsigned offset, const uint8_t *data, unsigned len)
{
	(void)dev;
	memcpy(&dev_cfg[offset], data, len);
}

static const struct virtio_device_ops cfg_ops = {
    .device_id = 18,
    .pci_class = 0x098000,
    .nqueues = 2,
    .queue_max = 64,
    .config_size = sizeof(dev_cfg),
    .config_read = dev_cfg_read,
    .config_write = dev_cfg_write,
    .queue_notify = fake_queue_notify,
};

static uint32_t cfg_rd(unsigned off, unsigned len)
{
	return pci_cfg_read(&pci, 1, off, len);
}

static void cfg_wr(unsigned off, uint32_t v, unsigned len)
{
	pci_cfg_write(&pci, 1, off, v, len);
}

static uint64_t bar_rd(unsigned off, unsigned len)
{
	uint8_t b[8] = {0};
	ck_assert(bus_access(&mmio, BAR0 + off, b, len, false));
	uint64_t v = 0;
	for (unsigned i = 0; i < len; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

static void bar_wr(unsigned off, uint64_t v, unsigned len)
{
	uint8_t b[8];
	for (unsigned i = 0; i < len; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	ck_assert(bus_access(&mmio, BAR0 + off, b, len, true));
}

/* MSI-X message control, and table entry v's vector control word. */
static void msix_ctrl(uint16_t v)
{
	cfg_wr(vp->msix_cap + 2, v, 2);
}

static void msix_entry_mask(unsigned v, bool masked)
{
	bar_wr(0x4000 + 16 * v + 12, masked, 4);
}

static uint64_t pba(void)
{
	return bar_rd(0x5000, 8);
}

static void setup(void)
{
	ck_assert_int_eq(gmem_init_layout(&mem, 1 * MiB, 4 * GiB, 4 * GiB), 0);
	ck_assert_int_eq(io_thread_init(&io), 0);
	bus_init(&pio, BUS_PIO);
	bus_init(&mmio, BUS_MMIO);
	ck_assert_int_eq(pci_bus_init(&pci, &pio, &mmio), 0);
	kvm = (struct kvm){.dev_fd = -1, .vm_fd = -1};
	ck_assert_int_eq(kvm_irq_routes_init(&kvm), 0);
	ck_assert_int_eq(virtio_dev_init(&vd, "test", &ops, NULL, &mem, &io), 0);
	ck_assert_int_eq(virtio_pci_attach(&vd, &kvm, &pci), 0);
	vp = vd.transport_data;
	fake_counts_clear();
	/* What the guest's PCI code does: place BAR 0, turn on memory decoding. */
	cfg_wr(PCI_BASE_ADDRESS_0, (uint32_t)BAR0, 4);
	cfg_wr(PCI_BASE_ADDRESS_0 + 4, 0, 4);
	cfg_wr(PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
}

static void teardown(void)
{
	virtio_dev_destroy(&cfg_vd);
	virtio_dev_destroy(&vd);
	pci_bus_destroy(&pci);
	bus_destroy(&mmio);
	bus_destroy(&pio);
	kvm_close(&kvm);
	io_thread_destroy(&io);
	gmem_free(&mem);
}

/* The driver's handshake up to DRIVER_OK, with VERSION_1. */
static void driver_start(void)
{
	bar_wr(0x14, 1 | 2, 1);
	bar_wr(0x08, 1, 4);
	bar_wr(0x0c, 1, 4); /* VIRTIO_F_VERSION_1 (bit 32) */
	bar_wr(0x14, 1 | 2 | 8, 1);
	bar_wr(0x14, 1 | 2 | 8 | 4, 1);
	ck_assert_uint_eq(bar_rd(0x14, 1), 1 | 2 | 8 | 4);
}

/* What virtio_pci_modern's probe needs: IDs, and every structure found through a vendor
 * capability in BAR 0; and the MSI-X capability with one vector per queue plus config. */
START_TEST(test_capabilities)
{
	ck_assert_uint_eq(cfg_rd(PCI_VENDOR_ID, 2), 0x1af4);
	ck_assert_uint_eq(cfg_rd(PCI_DEVICE_ID, 2), 0x1040 + 4);
	ck_assert_uint_eq(cfg_rd(PCI_REVISION_ID, 1), 1);
	ck_assert(cfg_rd(PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	unsigned seen = 0, msix = 0;
	for (unsigned c = cfg_rd(PCI_CAPABILITY_LIST, 1), n = 0; c && n < 16;
	     c = cfg_rd(c + 1, 1), n++) {
		if (cfg_rd(c, 1) == 0x11) {
			msix = c;
			continue;
		}
		ck_assert_uint_eq(cfg_rd(c, 1), 0x09);
		unsigned type = cfg_rd(c + 3, 1);
		ck_assert(type >= 1 && type <= 4);
		ck_assert_uint_eq(cfg_rd(c + 4, 1), 0); /* BAR 0 */
		seen |= 1U << type;
		if (type == 2) {
			ck_assert_uint_eq(cfg_rd(c + 2, 1), 20);
			ck_assert_uint_eq(cfg_rd(c + 16, 4), 4); /* notify_off_multiplier */
			ck_assert_uint_ge(cfg_rd(c + 12, 4), 4 * ops.nqueues);
		}
	}
	/* No device-specific configuration here (config_size 0), so no type 4. */
	ck_assert_uint_eq(seen, 1U << 1 | 1U << 2 | 1U << 3);
	ck_assert_uint_ne(msix, 0);
	ck_assert_uint_eq(cfg_rd(msix + 2, 2) & 0x7ff, ops.nqueues); /* table size - 1 */
	ck_assert_uint_eq(cfg_rd(msix + 4, 4), 0x4000);
	ck_assert_uint_eq(cfg_rd(msix + 8, 4), 0x5000);
	/* Every entry starts masked. */
	for (unsigned v = 0; v <= ops.nqueues; v++)
		ck_assert_uint_eq(bar_rd(0x4000 + 16 * v + 12, 4), 1);
}
END_TEST

START_TEST(test_common_config)
{
	ck_assert_uint_eq(bar_rd(0x12, 2), ops.nqueues);
	bar_wr(0x16, 1, 2);
	ck_assert_uint_eq(bar_rd(0x18, 2), 64);
	ck_assert_uint_eq(bar_rd(0x1e, 2), 1); /* queue_notify_off */
	ck_assert_uint_eq(bar_rd(0x1a, 2), VIRTIO_NO_VECTOR);
	bar_wr(0x1a, 2, 2);
	ck_assert_uint_eq(bar_rd(0x1a, 2), 2);
	bar_wr(0x20, 0x1000, 4);
	bar_wr(0x24, 0x0, 4);
	bar_wr(0x28, 0x2000, 8);
	ck_assert_uint_eq(bar_rd(0x20, 8), 0x1000);
	ck_assert_uint_eq(bar_rd(0x28, 8), 0x2000);
	/* A queue that does not exist reads as size 0. */
	bar_wr(0x16, 5, 2);
	ck_assert_uint_eq(bar_rd(0x18, 2), 0);
	/* Status 0 resets the device, and the vectors the driver chose with it. */
	bar_wr(0x14, 0, 1);
	ck_assert_uint_eq(resets, 1);
	bar_wr(0x16, 1, 2);
	ck_assert_uint_eq(bar_rd(0x1a, 2), VIRTIO_NO_VECTOR);
	ck_assert_uint_eq(bar_rd(0x20, 8), 0);
}
END_TEST

/* Without MSI-X: INTx is a level that follows ISR, and reading ISR acknowledges it. */
START_TEST(test_intx_follows_isr)
{
	pthread_mutex_lock(&vd.lock);
	virtio_interrupt_queue(&vd, 0);
	pthread_mutex_unlock(&vd.lock);
	ck_assert(vp->intx_level);
	ck_assert_uint_eq(bar_rd(0x1000, 1), 1);
	ck_assert(!vp->intx_level);
	ck_assert_uint_eq(bar_rd(0x1000, 1), 0);
	/* The line drops when MSI-X takes over, and INTx disable keeps it down. */
	pthread_mutex_lock(&vd.lock);
	virtio_interrupt_queue(&vd, 1);
	pthread_mutex_unlock(&vd.lock);
	ck_assert(vp->intx_level);
	msix_ctrl(0x8000);
	ck_assert(!vp->intx_level);
	msix_ctrl(0);
	ck_assert(vp->intx_level);
	cfg_wr(PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_INTX_DISABLE, 2);
	ck_assert_uint_eq(bar_rd(0x1000, 1), 1);
	pthread_mutex_lock(&vd.lock);
	virtio_interrupt_queue(&vd, 1);
	pthread_mutex_unlock(&vd.lock);
	ck_assert(!vp->intx_level);
}
END_TEST

/* A masked vector (or function) keeps its interrupt in the PBA; a reset forgets it. */
START_TEST(test_msix_pending_while_masked)
{
	msix_ctrl(0x8000);
	bar_wr(0x16, 0, 2);
	bar_wr(0x1a, 1, 2);
	bar_wr(0x10, 0, 2); /* config vector */
	pthread_mutex_lock(&vd.lock);
	virtio_interrupt_queue(&vd, 0);
	pthread_mutex_unlock(&vd.lock);
	ck_assert_uint_eq(pba(), 1U << 1);
	ck_assert(!vp->intx_level);
	/* A malformed ring raises the config vector. */
	pthread_mutex_lock(&vd.lock);
	virtio_needs_reset(&vd);
	pthread_mutex_unlock(&vd.lock);
	ck_assert_uint_eq(pba(), 1U << 1 | 1U << 0);
	/* A queue without a vector raises nothing. */
	bar_wr(0x16, 1, 2);
	pthread_mutex_lock(&vd.lock);
	virtio_interrupt_queue(&vd, 1);
	pthread_mutex_unlock(&vd.lock);
	ck_assert_uint_eq(pba(), 1U << 1 | 1U << 0);
	bar_wr(0x14, 0, 1);
	ck_assert_uint_eq(pba(), 0);
}
END_TEST

/* A backend that signals by itself (vhost) gets the vector's eventfd with MSI-X on, nothing
 * without; what it signals while the vector cannot fire shows in the PBA, and a reset drops
 * it so the next driver does not get a stale interrupt. */
START_TEST(test_queue_irqfd)
{
	bar_wr(0x16, 0, 2);
	bar_wr(0x1a, 2, 2);
	ck_assert_int_eq(virtio_queue_irqfd(&vd, 0), -1); /* MSI-X off */
	msix_ctrl(0x8000);
	int fd = virtio_queue_irqfd(&vd, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(virtio_queue_irqfd(&vd, 1), -1); /* no vector */
	ck_assert_int_eq(virtio_queue_irqfd(&vd, 7), -1);
	ck_assert_int_eq(eventfd_write(fd, 1), 0);
	ck_assert_uint_eq(pba(), 1U << 2);
	bar_wr(0x14, 0, 1);
	ck_assert_uint_eq(pba(), 0);
	struct pollfd p = {.fd = fd, .events = POLLIN};
	ck_assert_int_eq(poll(&p, 1, 0), 0);
}
END_TEST

/* Where interrupts go changes under a running driver: the device hears of it, so vhost can
 * follow; before DRIVER_OK it asks at start anyway. */
START_TEST(test_irqfd_changes_reach_the_device)
{
	bar_wr(0x16, 0, 2);
	bar_wr(0x1a, 1, 2);
	msix_ctrl(0x8000);
	ck_assert_uint_eq(irqfd_changes, 0);
	driver_start();
	ck_assert_uint_eq(started, 1);
	bar_wr(0x1a, 1, 2); /* the same vector again: nothing changed */
	ck_assert_uint_eq(irqfd_changes, 0);
	bar_wr(0x1a, 2, 2);
	ck_assert_uint_eq(irqfd_changes, 1);
	msix_ctrl(0x8000 | 0x4000); /* function mask: the vectors stay where they are */
	ck_assert_uint_eq(irqfd_changes, 1);
	msix_ctrl(0);
	ck_assert_uint_eq(irqfd_changes, 2);
	ck_assert_int_eq(virtio_queue_irqfd(&vd, 0), -1);
}
END_TEST

/* An in-place reset of the machine: the table goes back to all-masked, MSI-X off. */
START_TEST(test_power_on_masks_every_vector)
{
	msix_ctrl(0x8000);
	msix_entry_mask(0, false);
	msix_entry_mask(2, false);
	ck_assert_uint_eq(bar_rd(0x4000 + 12, 4), 0);
	pci_bus_reset(&pci);
	virtio_dev_reset(&vd);
	for (unsigned v = 0; v <= ops.nqueues; v++)
		ck_assert_uint_eq(vp->msix[v].ctrl, 1); /* BAR 0 is unplaced again: no bus access */
	ck_assert_uint_eq(cfg_rd(vp->msix_cap + 2, 2) & 0x8000, 0);
}
END_TEST

/* The device structure: reads and writes inside config_size reach the device, any access that
 * runs past it does not, and the structure's capability says how long it is. */
START_TEST(test_device_config)
{
	const uint64_t bar = BAR0 + 0x10000;
	memset(dev_cfg, 0, sizeof(dev_cfg));
	ck_assert_int_eq(virtio_dev_init(&cfg_vd, "cfg", &cfg_ops, NULL, &mem, &io), 0);
	ck_assert_int_eq(virtio_pci_attach(&cfg_vd, &kvm, &pci), 0);
	struct virtio_pci *cvp = cfg_vd.transport_data;
	uint8_t slot = 0;
	while (slot < PCI_MAX_DEVICES && pci.slots[slot] != &cvp->pci)
		slot++;
	ck_assert_uint_lt(slot, PCI_MAX_DEVICES);
	unsigned cap = 0;
	for (unsigned c = pci_cfg_read(&pci, slot, PCI_CAPABILITY_LIST, 1), n = 0; c && n < 16;
	     c = pci_cfg_read(&pci, slot, c + 1, 1), n++)
		if (pci_cfg_read(&pci, slot, c, 1) == 0x09 &&
		    pci_cfg_read(&pci, slot, c + 3, 1) == 4)
			cap = c;
	ck_assert_uint_ne(cap, 0);
	ck_assert_uint_eq(pci_cfg_read(&pci, slot, cap + 8, 4), 0x2000);
	ck_assert_uint_eq(pci_cfg_read(&pci, slot, cap + 12, 4), sizeof(dev_cfg));
	pci_cfg_write(&pci, slot, PCI_BASE_ADDRESS_0, (uint32_t)bar, 4);
	pci_cfg_write(&pci, slot, PCI_BASE_ADDRESS_0 + 4, 0, 4);
	pci_cfg_write(&pci, slot, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);

	uint8_t b[4] = {0xa1, 0xa2, 0xa3, 0xa4};
	ck_assert(bus_access(&mmio, bar + 0x2000, b, 1, true));
	ck_assert(bus_access(&mmio, bar + 0x2004, b, 4, true));
	ck_assert(bus_access(&mmio, bar + 0x2006, b, 4, true)); /* past the end: dropped */
	ck_assert(bus_access(&mmio, bar + 0x2008, b, 1, true));
	static const uint8_t want[8] = {0xa1, 0, 0, 0, 0xa1, 0xa2, 0xa3, 0xa4};
	ck_assert_mem_eq(dev_cfg, want, sizeof(want));
	uint8_t r[4];
	ck_assert(bus_access(&mmio, bar + 0x2004, r, 4, false));
	ck_assert_mem_eq(r, b, 4);
	memset(r, 0xff, sizeof(r));
	ck_assert(bus_access(&mmio, bar + 0x2006, r, 4, false));
	ck_assert_uint_eq(r[0] | r[1] | r[2] | r[3], 0);
}
END_TEST

/* A guest that places a BAR over another device's claim gets a BAR that does not decode; it
 * toggling memory decoding again and again must not flood the host's log. */
START_TEST(test_bar_conflict_log_is_rate_limited)
{
	ck_assert_int_eq(bus_register(&mmio, 0x40000000, 0x1000, NULL, NULL, "other"), 0);
	cfg_wr(PCI_COMMAND, 0, 2);
	cfg_wr(PCI_BASE_ADDRESS_0, 0x40000000, 4);
	struct stderr_capture cap;
	stderr_capture_begin(&cap);
	for (int i = 0; i < 50; i++) {
		cfg_wr(PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
		cfg_wr(PCI_COMMAND, 0, 2);
	}
	int lines = stderr_capture_end(&cap, "overlaps");
	ck_assert_int_ge(lines, 1);
	ck_assert_int_le(lines, LOG_LIMIT_BURST);
	ck_assert(!vp->pci.bars[0].mapped);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("virtio_pci");
	TCase *tc = tcase_create("transport");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_capabilities);
	tcase_add_test(tc, test_common_config);
	tcase_add_test(tc, test_intx_follows_isr);
	tcase_add_test(tc, test_msix_pending_while_masked);
	tcase_add_test(tc, test_queue_irqfd);
	tcase_add_test(tc, test_irqfd_changes_reach_the_device);
	tcase_add_test(tc, test_power_on_masks_every_vector);
	tcase_add_test(tc, test_device_config);
	tcase_add_test(tc, test_bar_conflict_log_is_rate_limited);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
