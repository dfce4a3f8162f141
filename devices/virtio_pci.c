#include "virtio_pci.h"

#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vmm/le.h"
#include "vmm/log.h"

#define VIRTIO_PCI_VENDOR      0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040 /* + device type: modern-only IDs */
#define VIRTIO_PCI_REVISION    1

/* BAR 0, one 4 KiB page per structure so each can be claimed or traced on its own. */
#define BAR0_SIZE   0x8000
#define COMMON_OFF  0x0000
#define COMMON_LEN  0x40
#define ISR_OFF	    0x1000
#define DEVICE_OFF  0x2000
#define NOTIFY_OFF  0x3000
#define NOTIFY_MULT 4
#define MSIX_TABLE  0x4000
#define MSIX_PBA    0x5000

#define PCI_CAP_ID_VNDR 0x09
#define PCI_CAP_ID_MSIX 0x11
enum { CFG_COMMON = 1, CFG_NOTIFY = 2, CFG_ISR = 3, CFG_DEVICE = 4 };

#define MSIX_CTRL_ENABLE  0x8000
#define MSIX_CTRL_MASKALL 0x4000
#define MSIX_ENTRY_MASKED 0x1

static unsigned nvectors(const struct virtio_pci *vp)
{
	return vp->ops->nqueues + 1;
}

/* --- interrupts ------------------------------------------------------------------------- */

static uint16_t msix_control(const struct virtio_pci *vp)
{
	return (uint16_t)le_get(&vp->pci.cfg[vp->msix_cap + 2], 2);
}

static void msix_fire(struct virtio_pci *vp, uint16_t vector)
{
	if (vector == VIRTIO_NO_VECTOR || vector >= nvectors(vp))
		return;
	uint16_t ctrl = msix_control(vp);
	if (!(ctrl & MSIX_CTRL_ENABLE))
		return;
	const struct msix_entry *e = &vp->msix[vector];
	if ((ctrl & MSIX_CTRL_MASKALL) || (e->ctrl & MSIX_ENTRY_MASKED)) {
		vp->msix_pending |= 1ULL << vector;
		return;
	}
	vp->msix_pending &= ~(1ULL << vector);
	kvm_signal_msi(vp->kvm, ((uint64_t)e->addr_hi << 32) | e->addr_lo, e->data);
}

/* A vector the guest unmasks gets the interrupt it missed while masked. */
static void msix_deliver_pending(struct virtio_pci *vp)
{
	for (unsigned v = 0; v < nvectors(vp); v++)
		if (vp->msix_pending & (1ULL << v))
			msix_fire(vp, (uint16_t)v);
}

/* INTx: the line stays asserted while ISR has bits set; reading ISR clears both. */
static void intx_update(struct virtio_pci *vp)
{
	bool level = vp->isr != 0 && !(msix_control(vp) & MSIX_CTRL_ENABLE) &&
		     !(le_get(&vp->pci.cfg[PCI_COMMAND], 2) & PCI_COMMAND_INTX_DISABLE);
	if (level != vp->intx_level) {
		vp->intx_level = level;
		kvm_irq_line(vp->kvm, vp->intx_gsi, level);
	}
}

static void raise_interrupt(struct virtio_pci *vp, uint8_t isr_bit, uint16_t vector)
{
	vp->isr |= isr_bit;
	if (msix_control(vp) & MSIX_CTRL_ENABLE)
		msix_fire(vp, vector);
	else
		intx_update(vp);
}

void virtio_pci_notify_queue(struct virtio_pci *vp, unsigned q)
{
	if (q < vp->ops->nqueues && virtq_should_notify(&vp->vqs[q]))
		virtio_pci_interrupt_queue(vp, q);
}

void virtio_pci_interrupt_queue(struct virtio_pci *vp, unsigned q)
{
	if (q < vp->ops->nqueues)
		raise_interrupt(vp, 1, vp->queue_vector[q]);
}

void virtio_pci_needs_reset(struct virtio_pci *vp)
{
	if (vp->status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	log_warn("%s: malformed virtqueue from the guest; device needs reset", vp->pci.name);
	vp->status |= VIRTIO_STATUS_NEEDS_RESET;
	vp->config_generation++;
	raise_interrupt(vp, 2, vp->config_vector);
}

/* --- reset and feature negotiation --------------------------------------------------------- */

static void reset_locked(struct virtio_pci *vp)
{
	vp->driver_features = 0;
	vp->device_feature_select = vp->driver_feature_select = 0;
	vp->status = vp->isr = 0;
	vp->queue_select = 0;
	vp->config_vector = VIRTIO_NO_VECTOR;
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		virtq_reset(&vp->vqs[q]);
		vp->queue_vector[q] = VIRTIO_NO_VECTOR;
		vp->queue_size[q] = vp->ops->queue_max;
		vp->queue_desc[q] = vp->queue_driver[q] = vp->queue_device[q] = 0;
	}
	vp->msix_pending = 0;
	intx_update(vp);
	if (vp->ops->reset)
		vp->ops->reset(vp->dev);
}

void virtio_pci_reset(struct virtio_pci *vp)
{
	pthread_mutex_lock(&vp->lock);
	reset_locked(vp);
	for (unsigned v = 0; v <= VIRTIO_MAX_QUEUES; v++)
		vp->msix[v] = (struct msix_entry){.ctrl = MSIX_ENTRY_MASKED};
	pthread_mutex_unlock(&vp->lock);
}

static void write_status(struct virtio_pci *vp, uint8_t status)
{
	if (status == 0) {
		reset_locked(vp);
		return;
	}
	/* FEATURES_OK sticks only for a subset of what we offer that includes VERSION_1: this
	 * transport has no legacy interface. */
	if ((status & VIRTIO_STATUS_FEATURES_OK) && !(vp->status & VIRTIO_STATUS_FEATURES_OK)) {
		bool ok = !(vp->driver_features & ~vp->device_features) &&
			  (vp->driver_features & (1ULL << VIRTIO_F_VERSION_1));
		if (!ok)
			status &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
	}
	uint8_t old = vp->status;
	vp->status = (uint8_t)(status | (vp->status & VIRTIO_STATUS_NEEDS_RESET));
	if ((vp->status & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK) &&
	    !(vp->status & VIRTIO_STATUS_NEEDS_RESET) && vp->ops->driver_ok)
		vp->ops->driver_ok(vp->dev, vp);
}

static void enable_queue(struct virtio_pci *vp, unsigned q)
{
	struct virtq *vq = &vp->vqs[q];
	vq->size = vp->queue_size[q];
	vq->desc_gpa = vp->queue_desc[q];
	vq->avail_gpa = vp->queue_driver[q];
	vq->used_gpa = vp->queue_device[q];
	vq->event_idx = vp->driver_features & (1ULL << VIRTIO_F_EVENT_IDX);
	vq->indirect = vp->driver_features & (1ULL << VIRTIO_F_INDIRECT_DESC);
	if (!virtq_enable(vq))
		virtio_pci_needs_reset(vp);
}

/* --- common configuration ------------------------------------------------------------------ */

static uint64_t common_read(struct virtio_pci *vp, unsigned off, unsigned len)
{
	unsigned q = vp->queue_select;
	bool qvalid = q < vp->ops->nqueues;
	uint8_t buf[COMMON_LEN] = {0};
	le_put(&buf[0x00], vp->device_feature_select, 4);
	if (vp->device_feature_select < 2)
		le_put(&buf[0x04], vp->device_features >> (32 * vp->device_feature_select), 4);
	le_put(&buf[0x08], vp->driver_feature_select, 4);
	if (vp->driver_feature_select < 2)
		le_put(&buf[0x0c], vp->driver_features >> (32 * vp->driver_feature_select), 4);
	le_put(&buf[0x10], vp->config_vector, 2);
	le_put(&buf[0x12], vp->ops->nqueues, 2);
	buf[0x14] = vp->status;
	buf[0x15] = vp->config_generation;
	le_put(&buf[0x16], vp->queue_select, 2);
	if (qvalid) {
		le_put(&buf[0x18], vp->queue_size[q], 2);
		le_put(&buf[0x1a], vp->queue_vector[q], 2);
		le_put(&buf[0x1c], vp->vqs[q].ready, 2);
		le_put(&buf[0x1e], q, 2); /* queue_notify_off */
		le_put(&buf[0x20], vp->queue_desc[q], 8);
		le_put(&buf[0x28], vp->queue_driver[q], 8);
		le_put(&buf[0x30], vp->queue_device[q], 8);
	}
	return off + len <= COMMON_LEN ? le_get(&buf[off], len) : 0;
}

/* A 64-bit ring address written as one or two halves. */
static void write_addr(uint64_t *reg, unsigned off_in_reg, uint64_t val, unsigned len)
{
	uint8_t b[8];
	le_put(b, *reg, 8);
	if (off_in_reg + len <= 8)
		le_put(&b[off_in_reg], val, len);
	*reg = le_get(b, 8);
}

static void common_write(struct virtio_pci *vp, unsigned off, uint64_t val, unsigned len)
{
	unsigned q = vp->queue_select;
	bool qvalid = q < vp->ops->nqueues;
	/* Queue layout is frozen once a queue is enabled (virtio 1.2, 4.1.4.3.2). */
	bool qlocked = qvalid && vp->vqs[q].ready;
	switch (off) {
	case 0x00:
		vp->device_feature_select = (uint32_t)val;
		break;
	case 0x08:
		vp->driver_feature_select = (uint32_t)val;
		break;
	case 0x0c:
		if (vp->driver_feature_select < 2 && !(vp->status & VIRTIO_STATUS_FEATURES_OK)) {
			unsigned shift = 32 * vp->driver_feature_select;
			vp->driver_features &= ~(0xffffffffULL << shift);
			vp->driver_features |= (val & 0xffffffffULL) << shift;
		}
		break;
	case 0x10:
		vp->config_vector = (uint16_t)val;
		break;
	case 0x14:
		write_status(vp, (uint8_t)val);
		break;
	case 0x16:
		vp->queue_select = (uint16_t)val;
		break;
	case 0x18:
		/* Any size up to our maximum that the split ring allows: a power of two. */
		if (qvalid && !qlocked && val && val <= vp->ops->queue_max && !(val & (val - 1)))
			vp->queue_size[q] = (uint16_t)val;
		break;
	case 0x1a:
		if (qvalid)
			vp->queue_vector[q] = (uint16_t)val;
		break;
	case 0x1c:
		if (qvalid && !qlocked && val == 1)
			enable_queue(vp, q);
		break;
	default:
		if (!qvalid || qlocked)
			break;
		if (off >= 0x20 && off < 0x28)
			write_addr(&vp->queue_desc[q], off - 0x20, val, len);
		else if (off >= 0x28 && off < 0x30)
			write_addr(&vp->queue_driver[q], off - 0x28, val, len);
		else if (off >= 0x30 && off < 0x38)
			write_addr(&vp->queue_device[q], off - 0x30, val, len);
		break;
	}
}

/* --- BAR 0 ---------------------------------------------------------------------------------- */

static void msix_table_access(struct virtio_pci *vp, unsigned off, uint8_t *data, unsigned len,
			      bool write)
{
	unsigned idx = off / 16, field = off % 16;
	if (idx >= nvectors(vp) || field + len > 16 || (len != 4 && len != 8)) {
		if (!write)
			memset(data, 0xff, len);
		return;
	}
	uint8_t raw[16];
	struct msix_entry *e = &vp->msix[idx];
	le_put(&raw[0], e->addr_lo, 4);
	le_put(&raw[4], e->addr_hi, 4);
	le_put(&raw[8], e->data, 4);
	le_put(&raw[12], e->ctrl, 4);
	if (!write) {
		memcpy(data, &raw[field], len);
		return;
	}
	memcpy(&raw[field], data, len);
	e->addr_lo = (uint32_t)le_get(&raw[0], 4);
	e->addr_hi = (uint32_t)le_get(&raw[4], 4);
	e->data = (uint32_t)le_get(&raw[8], 4);
	e->ctrl = (uint32_t)le_get(&raw[12], 4) & MSIX_ENTRY_MASKED;
	msix_deliver_pending(vp);
}

static void bar0_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct virtio_pci *vp = opaque;
	unsigned off = (unsigned)offset;
	memset(data, 0, len);
	pthread_mutex_lock(&vp->lock);
	if (off < COMMON_OFF + COMMON_LEN) {
		le_put(data, common_read(vp, off - COMMON_OFF, len), len);
	} else if (off == ISR_OFF) {
		data[0] = vp->isr; /* reading acknowledges */
		vp->isr = 0;
		intx_update(vp);
	} else if (off >= DEVICE_OFF && off - DEVICE_OFF + len <= vp->ops->config_size) {
		if (vp->ops->config_read)
			vp->ops->config_read(vp->dev, off - DEVICE_OFF, data, len);
	} else if (off >= MSIX_TABLE && off < MSIX_PBA) {
		msix_table_access(vp, off - MSIX_TABLE, data, len, false);
	} else if (off >= MSIX_PBA && off - MSIX_PBA + len <= 8) {
		le_put(data, vp->msix_pending >> (8 * (off - MSIX_PBA)), len);
	}
	pthread_mutex_unlock(&vp->lock);
}

static void bar0_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct virtio_pci *vp = opaque;
	unsigned off = (unsigned)offset;
	if (off >= NOTIFY_OFF && off < NOTIFY_OFF + NOTIFY_MULT * vp->ops->nqueues) {
		/* A kick the ioeventfd did not catch (another access width): hand it over the
		 * same way, so queue work still happens on the I/O thread. */
		uint64_t one = 1;
		ssize_t r = write(vp->kick_fd[(off - NOTIFY_OFF) / NOTIFY_MULT], &one, sizeof(one));
		(void)r;
		return;
	}
	pthread_mutex_lock(&vp->lock);
	if (off < COMMON_OFF + COMMON_LEN)
		common_write(vp, off - COMMON_OFF, le_get(data, len), len);
	else if (off >= MSIX_TABLE && off < MSIX_PBA)
		msix_table_access(vp, off - MSIX_TABLE, (uint8_t *)data, len, true);
	pthread_mutex_unlock(&vp->lock);
}

static const struct bus_ops bar0_ops = {.read = bar0_read, .write = bar0_write};

/* --- kicks ---------------------------------------------------------------------------------- */

static void kick_handler(void *opaque)
{
	struct virtio_kick *kick = opaque;
	struct virtio_pci *vp = kick->vp;
	unsigned q = kick->q;
	pthread_mutex_lock(&vp->lock);
	/* A ready queue is served even before DRIVER_OK: Linux's virtio-rng queues its first
	 * request during probe, and a kick dropped then would never come again. */
	if (q < vp->ops->nqueues && vp->vqs[q].ready && !(vp->status & VIRTIO_STATUS_NEEDS_RESET))
		vp->ops->queue_notify(vp->dev, vp, q);
	pthread_mutex_unlock(&vp->lock);
}

/* The notify structure moves with BAR 0; its ioeventfds follow it. */
static void bar_moved(struct pci_device *pdev, int n, uint64_t addr, bool mapped)
{
	struct virtio_pci *vp = (struct virtio_pci *)pdev;
	if (n != 0)
		return;
	for (unsigned q = 0; q < vp->ops->nqueues; q++)
		kvm_ioeventfd(vp->kvm, addr + NOTIFY_OFF + NOTIFY_MULT * q, 2, vp->kick_fd[q],
			      false, mapped);
	log_debug("%s: BAR0 %s at 0x%llx", pdev->name, mapped ? "mapped" : "unmapped",
		  (unsigned long long)addr);
	vp->notify_addr = addr + NOTIFY_OFF;
	vp->notify_mapped = mapped;
}

static void msix_cfg_write(struct pci_device *pdev, unsigned offset, uint32_t val, unsigned len)
{
	struct virtio_pci *vp = (struct virtio_pci *)pdev;
	(void)val;
	(void)len;
	/* Enabling MSI-X or clearing the function mask may release pending vectors. Called with
	 * the PCI bus lock held; the transport lock nests inside it. */
	if (offset <= vp->msix_cap + 3 && offset + len > vp->msix_cap + 2) {
		pthread_mutex_lock(&vp->lock);
		msix_deliver_pending(vp);
		pthread_mutex_unlock(&vp->lock);
	}
}

static void add_virtio_cap(struct pci_device *pdev, uint8_t type, uint32_t off, uint32_t len,
			   bool notify)
{
	unsigned c = pci_device_add_cap(pdev, PCI_CAP_ID_VNDR, notify ? 20 : 16);
	pdev->cfg[c + 2] = notify ? 20 : 16; /* cap_len */
	pdev->cfg[c + 3] = type;
	pdev->cfg[c + 4] = 0; /* BAR 0 */
	le_put(&pdev->cfg[c + 8], off, 4);
	le_put(&pdev->cfg[c + 12], len, 4);
	if (notify)
		le_put(&pdev->cfg[c + 16], NOTIFY_MULT, 4);
}

int virtio_pci_init(struct virtio_pci *vp, const char *name, const struct virtio_device_ops *ops,
		    void *dev, struct kvm *kvm, const struct guest_mem *mem, struct pci_bus *pci,
		    struct io_thread *io)
{
	memset(vp, 0, sizeof(*vp));
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		vp->kick_fd[q] = -1;
	if (ops->nqueues == 0 || ops->nqueues > VIRTIO_MAX_QUEUES) {
		log_error("%s: %u queues is not supported", name, ops->nqueues);
		return -1;
	}
	pthread_mutex_init(&vp->lock, NULL);
	vp->ops = ops;
	vp->dev = dev;
	vp->kvm = kvm;
	vp->mem = mem;
	vp->device_features = ops->features | (1ULL << VIRTIO_F_VERSION_1) |
			      (1ULL << VIRTIO_F_INDIRECT_DESC) | (1ULL << VIRTIO_F_EVENT_IDX);
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		virtq_init(&vp->vqs[q], mem);

	struct pci_device *p = &vp->pci;
	pci_device_init(p, name, VIRTIO_PCI_VENDOR, VIRTIO_PCI_DEVICE_BASE + ops->device_id,
			ops->pci_class, VIRTIO_PCI_VENDOR, ops->device_id);
	p->cfg[PCI_REVISION_ID] = VIRTIO_PCI_REVISION;
	p->cfg[PCI_INTERRUPT_PIN] = 1;
	p->cfg_write = msix_cfg_write;
	p->bar_moved = bar_moved;
	pci_device_set_bar(p, 0, BAR0_SIZE, false, &bar0_ops, vp);
	add_virtio_cap(p, CFG_COMMON, COMMON_OFF, COMMON_LEN, false);
	add_virtio_cap(p, CFG_ISR, ISR_OFF, 1, false);
	if (ops->config_size)
		add_virtio_cap(p, CFG_DEVICE, DEVICE_OFF, ops->config_size, false);
	add_virtio_cap(p, CFG_NOTIFY, NOTIFY_OFF, NOTIFY_MULT * ops->nqueues, true);
	vp->msix_cap = pci_device_add_cap(p, PCI_CAP_ID_MSIX, 12);
	le_put(&p->cfg[vp->msix_cap + 2], nvectors(vp) - 1, 2); /* table size - 1 */
	le_put(&p->wmask[vp->msix_cap + 2], MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL, 2);
	le_put(&p->cfg[vp->msix_cap + 4], MSIX_TABLE, 4); /* BIR 0 */
	le_put(&p->cfg[vp->msix_cap + 8], MSIX_PBA, 4);

	for (unsigned q = 0; q < ops->nqueues; q++) {
		vp->kick_fd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		vp->kick[q].vp = vp;
		vp->kick[q].q = q;
		if (vp->kick_fd[q] < 0 ||
		    io_thread_watch(io, vp->kick_fd[q], kick_handler, &vp->kick[q], true) < 0) {
			log_error("%s: kick eventfd: %s", name, strerror(errno));
			return -1;
		}
	}
	virtio_pci_reset(vp);
	int slot = pci_bus_add(pci, p);
	if (slot < 0)
		return -1;
	vp->intx_gsi = pci_intx_gsi((unsigned)slot);
	p->cfg[PCI_INTERRUPT_LINE] = (uint8_t)vp->intx_gsi;
	log_debug("%s: PCI 00:%02x.0", name, slot);
	return 0;
}

void virtio_pci_destroy(struct virtio_pci *vp)
{
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		if (vp->kick_fd[q] >= 0)
			close(vp->kick_fd[q]);
	if (vp->ops)
		pthread_mutex_destroy(&vp->lock);
}
