#include "virtio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vmm/log.h"

void virtio_notify_queue(struct virtio_dev *vd, unsigned q)
{
	if (q < vd->ops->nqueues && virtq_should_notify(&vd->vqs[q]))
		virtio_interrupt_queue(vd, q);
}

/* Without a transport (unit tests) there is nobody to interrupt. */
static void raise_interrupt(struct virtio_dev *vd, uint8_t isr_bit, unsigned q)
{
	if (!vd->transport)
		return;
	vd->isr |= isr_bit;
	vd->transport->interrupt(vd, isr_bit, q);
}

void virtio_interrupt_queue(struct virtio_dev *vd, unsigned q)
{
	if (q < vd->ops->nqueues)
		raise_interrupt(vd, VIRTIO_ISR_QUEUE, q);
}

void virtio_needs_reset(struct virtio_dev *vd)
{
	if (vd->status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	log_warn_limited(&vd->malformed_log,
			 "%s: malformed virtqueue from the guest; device needs reset", vd->name);
	vd->status |= VIRTIO_STATUS_NEEDS_RESET;
	vd->config_generation++;
	raise_interrupt(vd, VIRTIO_ISR_CONFIG, 0);
}

int virtio_queue_irqfd(struct virtio_dev *vd, unsigned q)
{
	if (!vd->transport || !vd->transport->queue_irqfd)
		return -1;
	return vd->transport->queue_irqfd(vd, q);
}

void virtio_irqfd_changed(struct virtio_dev *vd)
{
	if ((vd->status & VIRTIO_STATUS_DRIVER_OK) && vd->ops->irqfd_changed)
		vd->ops->irqfd_changed(vd->dev, vd);
}

void virtio_reset_locked(struct virtio_dev *vd)
{
	vd->driver_features = 0;
	vd->status = vd->isr = 0;
	vd->queue_select = 0;
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		virtq_reset(&vd->vqs[q]);
		vd->queue_size[q] = vd->ops->queue_max;
		vd->queue_desc[q] = vd->queue_driver[q] = vd->queue_device[q] = 0;
	}
	/* The device stops first (a backend such as vhost signals no more), then the transport
	 * forgets what it held for the driver, stale signals included. */
	if (vd->ops->reset)
		vd->ops->reset(vd->dev);
	if (vd->transport && vd->transport->driver_reset)
		vd->transport->driver_reset(vd);
}

void virtio_dev_reset(struct virtio_dev *vd)
{
	pthread_mutex_lock(&vd->lock);
	virtio_reset_locked(vd);
	if (vd->transport && vd->transport->power_on)
		vd->transport->power_on(vd);
	pthread_mutex_unlock(&vd->lock);
}

void virtio_write_status(struct virtio_dev *vd, uint8_t status)
{
	if (status == 0) {
		virtio_reset_locked(vd);
		return;
	}
	/* A driver must not clear a status bit (virtio 1.2 §2.1.2) other than by resetting:
	 * taking back FEATURES_OK would let features change under the queues and backend the
	 * device set up for the old ones. NEEDS_RESET is the device's, whatever is written. */
	if (vd->status & (uint8_t)~status & (uint8_t)~VIRTIO_STATUS_NEEDS_RESET)
		return;
	/* FEATURES_OK sticks only for a subset of what we offer that includes VERSION_1: kvmm
	 * has no legacy interface. */
	if ((status & VIRTIO_STATUS_FEATURES_OK) && !(vd->status & VIRTIO_STATUS_FEATURES_OK)) {
		bool ok = !(vd->driver_features & ~vd->device_features) &&
			  (vd->driver_features & (1ULL << VIRTIO_F_VERSION_1));
		if (!ok)
			status &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
	}
	uint8_t old = vd->status;
	vd->status = (uint8_t)(status | (vd->status & VIRTIO_STATUS_NEEDS_RESET));
	/* A driver that never got FEATURES_OK may not drive the device. */
	if ((vd->status & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK) &&
	    (vd->status & VIRTIO_STATUS_FEATURES_OK) && !(vd->status & VIRTIO_STATUS_NEEDS_RESET) &&
	    vd->ops->driver_ok)
		vd->ops->driver_ok(vd->dev, vd);
}

uint32_t virtio_device_features_word(const struct virtio_dev *vd, uint32_t word)
{
	return word < 2 ? (uint32_t)(vd->device_features >> (32 * word)) : 0;
}

void virtio_write_driver_features(struct virtio_dev *vd, uint32_t word, uint32_t val)
{
	if (word >= 2 || (vd->status & VIRTIO_STATUS_FEATURES_OK))
		return;
	unsigned shift = 32 * word;
	vd->driver_features &= ~(0xffffffffULL << shift);
	vd->driver_features |= (uint64_t)val << shift;
}

bool virtio_queue_configurable(const struct virtio_dev *vd, unsigned q)
{
	return q < vd->ops->nqueues && !vd->vqs[q].ready;
}

void virtio_set_queue_size(struct virtio_dev *vd, unsigned q, uint64_t size)
{
	/* Any size up to our maximum that the split ring allows: a power of two. */
	if (virtio_queue_configurable(vd, q) && size && size <= vd->ops->queue_max &&
	    !(size & (size - 1)))
		vd->queue_size[q] = (uint16_t)size;
}

void virtio_enable_queue(struct virtio_dev *vd, unsigned q)
{
	if (!virtio_queue_configurable(vd, q))
		return;
	struct virtq *vq = &vd->vqs[q];
	vq->size = vd->queue_size[q];
	vq->desc_gpa = vd->queue_desc[q];
	vq->avail_gpa = vd->queue_driver[q];
	vq->used_gpa = vd->queue_device[q];
	vq->event_idx = vd->driver_features & (1ULL << VIRTIO_F_EVENT_IDX);
	vq->indirect = vd->driver_features & (1ULL << VIRTIO_F_INDIRECT_DESC);
	if (!virtq_enable(vq))
		virtio_needs_reset(vd);
}

void virtio_kick_queue(struct virtio_dev *vd, unsigned q)
{
	if (q >= vd->ops->nqueues)
		return;
	/* An eventfd only fails to count on overflow, which leaves it readable. */
	eventfd_write(vd->kick_fd[q], 1);
}

static void kick_handler(void *opaque)
{
	struct virtio_kick *kick = opaque;
	struct virtio_dev *vd = kick->vd;
	unsigned q = kick->q;
	pthread_mutex_lock(&vd->lock);
	/* A ready queue is served even before DRIVER_OK: Linux's virtio-rng queues its first
	 * request during probe, and a kick dropped then would never come again. */
	if (q < vd->ops->nqueues && vd->vqs[q].ready && !(vd->status & VIRTIO_STATUS_NEEDS_RESET))
		vd->ops->queue_notify(vd->dev, vd, q);
	pthread_mutex_unlock(&vd->lock);
}

int virtio_dev_init(struct virtio_dev *vd, const char *name, const struct virtio_device_ops *ops,
		    void *dev, const struct guest_mem *mem, struct io_thread *io)
{
	memset(vd, 0, sizeof(*vd));
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		vd->kick_fd[q] = -1;
	vd->name = name;
	if (ops->nqueues == 0 || ops->nqueues > VIRTIO_MAX_QUEUES) {
		log_error("%s: %u queues is not supported", name, ops->nqueues);
		return -1;
	}
	pthread_mutex_init(&vd->lock, NULL);
	vd->initialised = true;
	vd->ops = ops;
	vd->dev = dev;
	vd->mem = mem;
	vd->device_features = ops->features | (1ULL << VIRTIO_F_VERSION_1) |
			      (1ULL << VIRTIO_F_INDIRECT_DESC) | (1ULL << VIRTIO_F_EVENT_IDX);
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		virtq_init(&vd->vqs[q], mem);
	for (unsigned q = 0; q < ops->nqueues; q++) {
		vd->kick_fd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		vd->kick[q] = (struct virtio_kick){vd, q};
		if (vd->kick_fd[q] < 0 ||
		    io_thread_watch(io, vd->kick_fd[q], kick_handler, &vd->kick[q], true) < 0) {
			log_error("%s: kick eventfd: %s", name, strerror(errno));
			return -1;
		}
	}
	virtio_reset_locked(vd);
	return 0;
}

void virtio_dev_destroy(struct virtio_dev *vd)
{
	/* The transport's bus claims and ioeventfds go with the VM itself; no vCPU is left. */
	if (vd->transport && vd->transport->destroy)
		vd->transport->destroy(vd);
	free(vd->transport_data);
	vd->transport_data = NULL;
	vd->transport = NULL;
	if (!vd->initialised)
		return; /* never set up: its kick_fd[] are zeros from calloc, not descriptors */
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		if (vd->kick_fd[q] >= 0)
			close(vd->kick_fd[q]);
	pthread_mutex_destroy(&vd->lock);
	vd->initialised = false;
}
