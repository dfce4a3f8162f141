#include "virtio_pci.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
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
	return vp->vd->ops->nqueues + 1;
}

/* --- interrupts ------------------------------------------------------------------------- */

static uint16_t msix_control(const struct virtio_pci *vp)
{
	return (uint16_t)le_get(&vp->pci.cfg[vp->msix_cap + 2], 2);
}

static bool vector_live(const struct virtio_pci *vp, unsigned v)
{
	uint16_t ctrl = msix_control(vp);
	return (ctrl & MSIX_CTRL_ENABLE) && !(ctrl & MSIX_CTRL_MASKALL) &&
	       !(vp->msix[v].ctrl & MSIX_ENTRY_MASKED);
}

/* Brings each vector's irqfd in line with the MSI-X table and control register: routed to the
 * guest's message and bound while the vector is live, unbound otherwise. Linux masks an entry
 * while it rewrites the message, so a route changes between an unbind and a bind. A vector that
 * goes live with an interrupt pending gets it now. Device locked. */
static void msix_sync(struct virtio_pci *vp)
{
	for (unsigned v = 0; v < nvectors(vp); v++) {
		struct msix_route *r = &vp->route[v];
		if (r->gsi < 0)
			continue;
		if (!vector_live(vp, v)) {
			if (r->bound && kvm_irqfd(vp->kvm, r->fd, (uint32_t)r->gsi, false) == 0)
				r->bound = false;
			continue;
		}
		const struct msix_entry *e = &vp->msix[v];
		uint64_t addr = ((uint64_t)e->addr_hi << 32) | e->addr_lo;
		if (!r->routed || r->addr != addr || r->data != e->data) {
			if (kvm_msi_route_set(vp->kvm, (uint32_t)r->gsi, addr, e->data) < 0)
				continue;
			r->routed = true;
			r->addr = addr;
			r->data = e->data;
		}
		if (!r->bound && kvm_irqfd(vp->kvm, r->fd, (uint32_t)r->gsi, true) == 0)
			r->bound = true;
		if (r->bound && (vp->msix_pending & (1ULL << v))) {
			vp->msix_pending &= ~(1ULL << v);
			eventfd_write(r->fd, 1);
		}
	}
}

/* Signals left in unbound vectors' eventfds (a backend's, before it stopped) would fire when a
 * new driver unmasks them: dropped with the state they belonged to. */
static void msix_drop_stale(struct virtio_pci *vp)
{
	for (unsigned v = 0; v < nvectors(vp); v++) {
		eventfd_t n;
		/* Nonblocking: an eventfd with nothing to drop just says EAGAIN. */
		if (vp->route[v].fd >= 0 && !vp->route[v].bound)
			eventfd_read(vp->route[v].fd, &n);
	}
}

/* The PBA: kvmm's own pending interrupts, and a backend's signals waiting in an unbound
 * vector's eventfd. */
static uint64_t msix_pba(const struct virtio_pci *vp)
{
	uint64_t pending = vp->msix_pending;
	for (unsigned v = 0; v < nvectors(vp); v++) {
		const struct msix_route *r = &vp->route[v];
		struct pollfd p = {.fd = r->fd, .events = POLLIN};
		if (r->fd >= 0 && !r->bound && poll(&p, 1, 0) == 1)
			pending |= 1ULL << v;
	}
	return pending;
}

/* A masked vector remembers the interrupt in the PBA (virtio 1.2 4.1.4.5; PCI MSI-X). */
static void msix_fire(struct virtio_pci *vp, uint16_t vector)
{
	if (vector == VIRTIO_NO_VECTOR || vector >= nvectors(vp))
		return;
	struct msix_route *r = &vp->route[vector];
	if (r->bound)
		eventfd_write(r->fd, 1);
	else
		vp->msix_pending |= 1ULL << vector;
}

/* INTx: the line stays asserted while ISR has bits set; reading ISR clears both. */
static void intx_update(struct virtio_pci *vp)
{
	bool level = vp->vd->isr != 0 && !(msix_control(vp) & MSIX_CTRL_ENABLE) &&
		     !(le_get(&vp->pci.cfg[PCI_COMMAND], 2) & PCI_COMMAND_INTX_DISABLE);
	if (level != vp->intx_level) {
		vp->intx_level = level;
		kvm_irq_line(vp->kvm, vp->intx_gsi, level);
	}
}

static void pci_interrupt(struct virtio_dev *vd, uint8_t isr_bit, unsigned q)
{
	struct virtio_pci *vp = vd->transport_data;
	if (msix_control(vp) & MSIX_CTRL_ENABLE)
		msix_fire(vp,
			  isr_bit == VIRTIO_ISR_CONFIG ? vp->config_vector : vp->queue_vector[q]);
	else
		intx_update(vp);
}

/* A driver reset also forgets which vectors the driver chose. */
static void pci_driver_reset(struct virtio_dev *vd)
{
	struct virtio_pci *vp = vd->transport_data;
	vp->device_feature_select = vp->driver_feature_select = 0;
	vp->config_vector = VIRTIO_NO_VECTOR;
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		vp->queue_vector[q] = VIRTIO_NO_VECTOR;
	vp->msix_pending = 0;
	msix_drop_stale(vp);
	intx_update(vp);
}

/* For a backend that signals queue q's interrupt itself (vhost): the eventfd of the queue's
 * MSI-X vector, which KVM turns into the interrupt with no stop in kvmm; -1 when the driver
 * uses INTx or gave the queue no vector (the backend's signals are relayed then). */
static int pci_queue_irqfd(struct virtio_dev *vd, unsigned q)
{
	struct virtio_pci *vp = vd->transport_data;
	uint16_t v = q < vd->ops->nqueues ? vp->queue_vector[q] : VIRTIO_NO_VECTOR;
	if (!(msix_control(vp) & MSIX_CTRL_ENABLE) || v >= nvectors(vp) || vp->route[v].gsi < 0)
		return -1;
	return vp->route[v].fd;
}

/* Power-on: every MSI-X entry masked. */
static void pci_power_on(struct virtio_dev *vd)
{
	struct virtio_pci *vp = vd->transport_data;
	for (unsigned v = 0; v < VIRTIO_PCI_VECTORS; v++)
		vp->msix[v] = (struct msix_entry){.ctrl = MSIX_ENTRY_MASKED};
	msix_sync(vp);
	msix_drop_stale(vp);
	vp->msix_enabled = msix_control(vp) & MSIX_CTRL_ENABLE; /* off after a bus reset */
}

static void pci_destroy(struct virtio_dev *vd)
{
	struct virtio_pci *vp = vd->transport_data;
	for (unsigned v = 0; v < VIRTIO_PCI_VECTORS; v++)
		if (vp->route[v].fd >= 0)
			close(vp->route[v].fd); /* KVM drops an irqfd whose eventfd goes */
}

/* --- common configuration ------------------------------------------------------------------ */

static uint64_t common_read(struct virtio_pci *vp, unsigned off, unsigned len)
{
	struct virtio_dev *vd = vp->vd;
	unsigned q = vd->queue_select;
	bool qvalid = q < vd->ops->nqueues;
	uint8_t buf[COMMON_LEN] = {0};
	le_put(&buf[0x00], vp->device_feature_select, 4);
	le_put(&buf[0x04], virtio_device_features_word(vd, vp->device_feature_select), 4);
	le_put(&buf[0x08], vp->driver_feature_select, 4);
	if (vp->driver_feature_select < 2)
		le_put(&buf[0x0c], vd->driver_features >> (32 * vp->driver_feature_select), 4);
	le_put(&buf[0x10], vp->config_vector, 2);
	le_put(&buf[0x12], vd->ops->nqueues, 2);
	buf[0x14] = vd->status;
	buf[0x15] = vd->config_generation;
	le_put(&buf[0x16], vd->queue_select, 2);
	if (qvalid) {
		le_put(&buf[0x18], vd->queue_size[q], 2);
		le_put(&buf[0x1a], vp->queue_vector[q], 2);
		le_put(&buf[0x1c], vd->vqs[q].ready, 2);
		le_put(&buf[0x1e], q, 2); /* queue_notify_off */
		le_put(&buf[0x20], vd->queue_desc[q], 8);
		le_put(&buf[0x28], vd->queue_driver[q], 8);
		le_put(&buf[0x30], vd->queue_device[q], 8);
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
	struct virtio_dev *vd = vp->vd;
	unsigned q = vd->queue_select;
	switch (off) {
	case 0x00:
		vp->device_feature_select = (uint32_t)val;
		break;
	case 0x08:
		vp->driver_feature_select = (uint32_t)val;
		break;
	case 0x0c:
		virtio_write_driver_features(vd, vp->driver_feature_select, (uint32_t)val);
		break;
	case 0x10:
		vp->config_vector = (uint16_t)val;
		break;
	case 0x14:
		virtio_write_status(vd, (uint8_t)val);
		break;
	case 0x16:
		vd->queue_select = (uint16_t)val;
		break;
	case 0x18:
		virtio_set_queue_size(vd, q, val);
		break;
	case 0x1a:
		if (q < vd->ops->nqueues && vp->queue_vector[q] != (uint16_t)val) {
			vp->queue_vector[q] = (uint16_t)val;
			virtio_irqfd_changed(vd);
		}
		break;
	case 0x1c:
		if (val == 1)
			virtio_enable_queue(vd, q);
		break;
	default:
		/* Queue layout is frozen once a queue is enabled (virtio 1.2, 4.1.4.3.2). */
		if (!virtio_queue_configurable(vd, q))
			break;
		if (off >= 0x20 && off < 0x28)
			write_addr(&vd->queue_desc[q], off - 0x20, val, len);
		else if (off >= 0x28 && off < 0x30)
			write_addr(&vd->queue_driver[q], off - 0x28, val, len);
		else if (off >= 0x30 && off < 0x38)
			write_addr(&vd->queue_device[q], off - 0x30, val, len);
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
	msix_sync(vp);
}

static void bar0_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct virtio_pci *vp = opaque;
	struct virtio_dev *vd = vp->vd;
	unsigned off = (unsigned)offset;
	memset(data, 0, len);
	pthread_mutex_lock(&vd->lock);
	if (off < COMMON_OFF + COMMON_LEN) {
		le_put(data, common_read(vp, off - COMMON_OFF, len), len);
	} else if (off == ISR_OFF) {
		data[0] = vd->isr; /* reading acknowledges */
		vd->isr = 0;
		intx_update(vp);
	} else if (off >= DEVICE_OFF && off - DEVICE_OFF + len <= vd->ops->config_size) {
		if (vd->ops->config_read)
			vd->ops->config_read(vd->dev, off - DEVICE_OFF, data, len);
	} else if (off >= MSIX_TABLE && off < MSIX_PBA) {
		msix_table_access(vp, off - MSIX_TABLE, data, len, false);
	} else if (off >= MSIX_PBA && off - MSIX_PBA + len <= 8) {
		le_put(data, msix_pba(vp) >> (8 * (off - MSIX_PBA)), len);
	}
	pthread_mutex_unlock(&vd->lock);
}

static void bar0_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct virtio_pci *vp = opaque;
	struct virtio_dev *vd = vp->vd;
	unsigned off = (unsigned)offset;
	if (off >= NOTIFY_OFF && off < NOTIFY_OFF + NOTIFY_MULT * vd->ops->nqueues) {
		/* A kick the ioeventfd did not catch (another access width). */
		virtio_kick_queue(vd, (off - NOTIFY_OFF) / NOTIFY_MULT);
		return;
	}
	pthread_mutex_lock(&vd->lock);
	if (off < COMMON_OFF + COMMON_LEN)
		common_write(vp, off - COMMON_OFF, le_get(data, len), len);
	else if (off >= DEVICE_OFF && off - DEVICE_OFF + len <= vd->ops->config_size) {
		if (vd->ops->config_write)
			vd->ops->config_write(vd->dev, off - DEVICE_OFF, data, len);
	} else if (off >= MSIX_TABLE && off < MSIX_PBA)
		msix_table_access(vp, off - MSIX_TABLE, (uint8_t *)data, len, true);
	pthread_mutex_unlock(&vd->lock);
}

static const struct bus_ops bar0_ops = {.read = bar0_read, .write = bar0_write};

/* --- kicks ---------------------------------------------------------------------------------- */

/* The notify structure moves with BAR 0; its ioeventfds follow it. */
static void bar_moved(struct pci_device *pdev, int n, uint64_t addr, bool mapped)
{
	struct virtio_pci *vp = (struct virtio_pci *)pdev;
	if (n != 0)
		return;
	for (unsigned q = 0; q < vp->vd->ops->nqueues; q++)
		kvm_ioeventfd(vp->kvm, addr + NOTIFY_OFF + NOTIFY_MULT * q, 2, vp->vd->kick_fd[q],
			      false, mapped);
	log_debug("%s: BAR0 %s at 0x%llx", pdev->name, mapped ? "mapped" : "unmapped",
		  (unsigned long long)addr);
}

static void msix_cfg_write(struct pci_device *pdev, unsigned offset, uint32_t val, unsigned len)
{
	struct virtio_pci *vp = (struct virtio_pci *)pdev;
	(void)val;
	(void)len;
	/* Enabling MSI-X or clearing the function mask binds vectors and may release pending
	 * ones. Called with the PCI bus lock held; the transport lock nests inside it. */
	if (offset <= vp->msix_cap + 3 && offset + len > vp->msix_cap + 2) {
		pthread_mutex_lock(&vp->vd->lock);
		msix_sync(vp);
		bool enabled = msix_control(vp) & MSIX_CTRL_ENABLE;
		if (enabled != vp->msix_enabled) {
			vp->msix_enabled = enabled;
			intx_update(vp); /* INTx is off while MSI-X is on, and back after */
			virtio_irqfd_changed(vp->vd);
		}
		pthread_mutex_unlock(&vp->vd->lock);
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

static const struct virtio_transport_ops pci_transport = {
    .interrupt = pci_interrupt,
    .driver_reset = pci_driver_reset,
    .power_on = pci_power_on,
    .queue_irqfd = pci_queue_irqfd,
    .destroy = pci_destroy,
};

int virtio_pci_attach(struct virtio_dev *vd, struct kvm *kvm, struct pci_bus *pci)
{
	const struct virtio_device_ops *ops = vd->ops;
	struct virtio_pci *vp = calloc(1, sizeof(*vp));
	if (!vp) {
		log_error("%s: out of memory", vd->name);
		return -1;
	}
	vp->vd = vd;
	vp->kvm = kvm;
	for (unsigned v = 0; v < VIRTIO_PCI_VECTORS; v++)
		vp->route[v] = (struct msix_route){.gsi = -1, .fd = -1};
	vd->transport = &pci_transport;
	vd->transport_data = vp; /* vd owns vp now: virtio_dev_destroy frees it */
	for (unsigned v = 0; v < nvectors(vp); v++) {
		vp->route[v].fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		vp->route[v].gsi = kvm_msi_route_add(kvm);
		if (vp->route[v].fd < 0 || vp->route[v].gsi < 0) {
			log_error("%s: MSI-X vector %u: %s", vd->name, v,
				  vp->route[v].fd < 0 ? strerror(errno) : "no GSI left");
			return -1;
		}
	}
	struct pci_device *p = &vp->pci;
	pci_device_init(p, vd->name, VIRTIO_PCI_VENDOR, VIRTIO_PCI_DEVICE_BASE + ops->device_id,
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

	virtio_dev_reset(vd);
	int slot = pci_bus_add(pci, p);
	if (slot < 0)
		return -1;
	vp->intx_gsi = pci_intx_gsi((unsigned)slot);
	p->cfg[PCI_INTERRUPT_LINE] = (uint8_t)vp->intx_gsi;
	log_debug("%s: PCI 00:%02x.0", vd->name, slot);
	return 0;
}
