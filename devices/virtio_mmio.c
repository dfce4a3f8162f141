#include "virtio_mmio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/le.h"
#include "vmm/log.h"

#define MMIO_MAGIC   0x74726976 /* "virt" */
#define MMIO_VERSION 2		/* modern: no legacy guest page size or PFN registers */
#define MMIO_VENDOR  0x4d4d564b /* "KVMM" */

enum {
	R_MAGIC = 0x000,
	R_VERSION = 0x004,
	R_DEVICE_ID = 0x008,
	R_VENDOR_ID = 0x00c,
	R_DEVICE_FEATURES = 0x010,
	R_DEVICE_FEATURES_SEL = 0x014,
	R_DRIVER_FEATURES = 0x020,
	R_DRIVER_FEATURES_SEL = 0x024,
	R_QUEUE_SEL = 0x030,
	R_QUEUE_NUM_MAX = 0x034,
	R_QUEUE_NUM = 0x038,
	R_QUEUE_READY = 0x044,
	R_QUEUE_NOTIFY = 0x050,
	R_INTERRUPT_STATUS = 0x060,
	R_INTERRUPT_ACK = 0x064,
	R_STATUS = 0x070,
	R_QUEUE_DESC_LOW = 0x080,
	R_QUEUE_DESC_HIGH = 0x084,
	R_QUEUE_DRIVER_LOW = 0x090,
	R_QUEUE_DRIVER_HIGH = 0x094,
	R_QUEUE_DEVICE_LOW = 0x0a0,
	R_QUEUE_DEVICE_HIGH = 0x0a4,
	R_CONFIG_GENERATION = 0x0fc,
	R_CONFIG = 0x100,
};

unsigned virtio_mmio_gsi(unsigned n)
{
	/* ISA lines no device of kvmm's board uses: not IRQ 9 either, the ACPI SCI. */
	static const unsigned lines[VIRTIO_MMIO_MAX] = {5, 6, 7, 10, 11, 14, 15, 3};
	return lines[n % VIRTIO_MMIO_MAX];
}

int virtio_mmio_cmdline(char *buf, size_t size, uint64_t base, unsigned gsi)
{
	return snprintf(buf, size, "virtio_mmio.device=4K@0x%llx:%u ", (unsigned long long)base,
			gsi);
}

/* Edge-triggered, as ISA lines are: each interrupt is one pulse. The driver reads
 * InterruptStatus and acknowledges what it saw, so a pulse is never needed twice. */
static void mmio_interrupt(struct virtio_dev *vd, uint8_t isr_bit, unsigned q)
{
	struct virtio_mmio *vm = vd->transport_data;
	(void)isr_bit;
	(void)q;
	kvm_irq_line(vm->kvm, vm->gsi, 1);
	kvm_irq_line(vm->kvm, vm->gsi, 0);
}

static void mmio_driver_reset(struct virtio_dev *vd)
{
	struct virtio_mmio *vm = vd->transport_data;
	vm->device_feature_select = vm->driver_feature_select = 0;
}

static void set_half(uint64_t *reg, bool high, uint32_t val)
{
	unsigned shift = high ? 32 : 0;
	*reg = (*reg & ~(0xffffffffULL << shift)) | ((uint64_t)val << shift);
}

void virtio_mmio_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct virtio_mmio *vm = opaque;
	struct virtio_dev *vd = vm->vd;
	memset(data, 0, len);
	pthread_mutex_lock(&vd->lock);
	if (offset >= R_CONFIG) {
		if (offset - R_CONFIG + len <= vd->ops->config_size && vd->ops->config_read)
			vd->ops->config_read(vd->dev, (unsigned)(offset - R_CONFIG), data, len);
		pthread_mutex_unlock(&vd->lock);
		return;
	}
	unsigned q = vd->queue_select;
	bool qvalid = q < vd->ops->nqueues;
	uint32_t v = 0;
	switch (offset) {
	case R_MAGIC:
		v = MMIO_MAGIC;
		break;
	case R_VERSION:
		v = MMIO_VERSION;
		break;
	case R_DEVICE_ID:
		v = vd->ops->device_id;
		break;
	case R_VENDOR_ID:
		v = MMIO_VENDOR;
		break;
	case R_DEVICE_FEATURES:
		v = virtio_device_features_word(vd, vm->device_feature_select);
		break;
	case R_QUEUE_NUM_MAX:
		v = qvalid ? vd->ops->queue_max : 0;
		break;
	case R_QUEUE_READY:
		v = qvalid && vd->vqs[q].ready;
		break;
	case R_INTERRUPT_STATUS:
		v = vd->isr;
		break;
	case R_STATUS:
		v = vd->status;
		break;
	case R_CONFIG_GENERATION:
		v = vd->config_generation;
		break;
	default:
		break; /* write-only or reserved: reads as zero */
	}
	pthread_mutex_unlock(&vd->lock);
	/* Registers below the configuration space are 32 bits wide (4.2.2.2). */
	if (len == 4 && offset % 4 == 0)
		le_put(data, v, 4);
}

void virtio_mmio_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct virtio_mmio *vm = opaque;
	struct virtio_dev *vd = vm->vd;
	if (offset >= R_CONFIG) {
		/* Any width: fields are as wide as the device says (virtio-input's are bytes). */
		pthread_mutex_lock(&vd->lock);
		if (offset - R_CONFIG + len <= vd->ops->config_size && vd->ops->config_write)
			vd->ops->config_write(vd->dev, (unsigned)(offset - R_CONFIG), data, len);
		pthread_mutex_unlock(&vd->lock);
		return;
	}
	if (len != 4 || offset % 4)
		return;
	uint32_t v = (uint32_t)le_get(data, 4);
	if (offset == R_QUEUE_NOTIFY) {
		/* A kick the ioeventfd did not catch (a queue index it does not match). */
		virtio_kick_queue(vd, v);
		return;
	}
	pthread_mutex_lock(&vd->lock);
	unsigned q = vd->queue_select;
	bool qcfg = virtio_queue_configurable(vd, q);
	switch (offset) {
	case R_DEVICE_FEATURES_SEL:
		vm->device_feature_select = v;
		break;
	case R_DRIVER_FEATURES:
		virtio_write_driver_features(vd, vm->driver_feature_select, v);
		break;
	case R_DRIVER_FEATURES_SEL:
		vm->driver_feature_select = v;
		break;
	case R_QUEUE_SEL:
		/* Saturate: a selector past 16 bits must not alias queue 0. */
		vd->queue_select = v > 0xffff ? 0xffff : (uint16_t)v;
		break;
	case R_QUEUE_NUM:
		virtio_set_queue_size(vd, q, v);
		break;
	case R_QUEUE_READY:
		if (v == 1)
			virtio_enable_queue(vd, q);
		break;
	case R_INTERRUPT_ACK:
		vd->isr &= (uint8_t)~v;
		break;
	case R_STATUS:
		virtio_write_status(vd, (uint8_t)v);
		break;
	case R_QUEUE_DESC_LOW:
	case R_QUEUE_DESC_HIGH:
		if (qcfg)
			set_half(&vd->queue_desc[q], offset == R_QUEUE_DESC_HIGH, v);
		break;
	case R_QUEUE_DRIVER_LOW:
	case R_QUEUE_DRIVER_HIGH:
		if (qcfg)
			set_half(&vd->queue_driver[q], offset == R_QUEUE_DRIVER_HIGH, v);
		break;
	case R_QUEUE_DEVICE_LOW:
	case R_QUEUE_DEVICE_HIGH:
		if (qcfg)
			set_half(&vd->queue_device[q], offset == R_QUEUE_DEVICE_HIGH, v);
		break;
	default:
		break;
	}
	pthread_mutex_unlock(&vd->lock);
}

static const struct bus_ops mmio_ops = {.read = virtio_mmio_read, .write = virtio_mmio_write};

static const struct virtio_transport_ops mmio_transport = {
    .interrupt = mmio_interrupt,
    .driver_reset = mmio_driver_reset,
};

int virtio_mmio_attach(struct virtio_dev *vd, struct kvm *kvm, struct bus *mmio, uint64_t base,
		       unsigned gsi)
{
	struct virtio_mmio *vm = calloc(1, sizeof(*vm));
	if (!vm) {
		log_error("%s: out of memory", vd->name);
		return -1;
	}
	*vm = (struct virtio_mmio){.vd = vd, .base = base, .gsi = gsi};
	vd->transport = &mmio_transport;
	vd->transport_data = vm;
	vm->kvm = kvm;
	if (bus_register(mmio, base, VIRTIO_MMIO_SIZE, &mmio_ops, vm, vd->name) < 0)
		return -1;
	for (unsigned q = 0; q < vd->ops->nqueues; q++)
		if (kvm_ioeventfd_match(kvm, base + R_QUEUE_NOTIFY, 4, vd->kick_fd[q], q, true) < 0)
			return -1;
	virtio_dev_reset(vd);
	log_debug("%s: virtio-mmio at 0x%llx, IRQ %u", vd->name, (unsigned long long)base, gsi);
	return 0;
}
