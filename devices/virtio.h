/* A virtio device as every transport sees it (virtio 1.2 sections 2 and 3): feature bits,
 * device status, the queues with their ring addresses, the interrupt status, and the kicks
 * that reach the I/O thread through eventfds. A device is a small table of callbacks (struct
 * virtio_device_ops) over this core and the shared virtqueue code; a transport (virtio_pci.c,
 * virtio_mmio.c) maps its registers onto it and delivers its interrupts. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/virtq.h"
#include "vmm/guest_mem.h"
#include "vmm/io_thread.h"
#include "vmm/log.h"

#define VIRTIO_MAX_QUEUES 8

#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX     29
#define VIRTIO_F_VERSION_1     32

#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER	  2
#define VIRTIO_STATUS_DRIVER_OK	  4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED	  0x80

#define VIRTIO_ISR_QUEUE  1
#define VIRTIO_ISR_CONFIG 2

struct virtio_dev;

struct virtio_device_ops {
	uint16_t device_id; /* virtio device type: 4 = entropy, 2 = block, 1 = network */
	uint32_t pci_class;
	uint64_t features; /* device-specific feature bits offered */
	unsigned nqueues;
	uint16_t queue_max;
	unsigned config_size;
	void (*config_read)(void *dev, unsigned offset, uint8_t *data, unsigned len);
	/* The driver wrote [offset, offset + len) of the device configuration, which the transport
	 * checked lies within config_size. Device locked. Optional: without it, writes are
	 * ignored. A change the driver makes itself needs no config_generation bump (1.2 2.5). */
	void (*config_write)(void *dev, unsigned offset, const uint8_t *data, unsigned len);
	/* Runs on the I/O thread with the device locked, after the guest kicked queue q. */
	void (*queue_notify)(void *dev, struct virtio_dev *vd, unsigned q);
	/* The driver set DRIVER_OK (device locked): the rings are final. Optional. */
	void (*driver_ok)(void *dev, struct virtio_dev *vd);
	/* The driver wrote status 0: forget all in-flight state. Optional. */
	void (*reset)(void *dev);
	/* Where queue interrupts go changed under a running driver (MSI-X switched on or off, a
	 * queue given another vector): a backend holding virtio_queue_irqfd's answer asks again.
	 * Device locked. Optional. */
	void (*irqfd_changed)(void *dev, struct virtio_dev *vd);
};

/* What a transport does for the core. */
struct virtio_transport_ops {
	/* Deliver an interrupt for isr_bit (VIRTIO_ISR_QUEUE for queue q, or VIRTIO_ISR_CONFIG);
	 * vd->isr already has the bit. Device locked. */
	void (*interrupt)(struct virtio_dev *vd, uint8_t isr_bit, unsigned q);
	/* The device was reset (status 0, isr cleared): the transport's per-driver state goes
	 * too, and a level-triggered line drops. Optional. */
	void (*driver_reset)(struct virtio_dev *vd);
	/* Power-on state of what a driver reset keeps (the MSI-X table). Optional. */
	void (*power_on)(struct virtio_dev *vd);
	/* An eventfd whose signal raises queue q's interrupt without kvmm (an irqfd), for a
	 * backend that signals by itself; -1 when there is none now. Device locked. Optional. */
	int (*queue_irqfd)(struct virtio_dev *vd, unsigned q);
	/* Releases what the transport holds besides its allocation. Optional. */
	void (*destroy)(struct virtio_dev *vd);
};

struct virtio_kick {
	struct virtio_dev *vd;
	unsigned q;
};

struct virtio_dev {
	const char *name;
	const struct virtio_device_ops *ops;
	void *dev;
	const struct guest_mem *mem;
	pthread_mutex_t lock;
	bool initialised;

	const struct virtio_transport_ops *transport;
	void *transport_data; /* the transport's allocation; freed with the device */

	uint64_t device_features, driver_features;
	uint8_t status, config_generation, isr;
	uint16_t queue_select;
	struct virtq vqs[VIRTIO_MAX_QUEUES];
	uint16_t queue_size[VIRTIO_MAX_QUEUES];
	uint64_t queue_desc[VIRTIO_MAX_QUEUES], queue_driver[VIRTIO_MAX_QUEUES],
	    queue_device[VIRTIO_MAX_QUEUES];

	/* A guest's notify write signals kick_fd[q] (through a KVM ioeventfd) and the I/O thread
	 * runs ops->queue_notify. */
	int kick_fd[VIRTIO_MAX_QUEUES];
	struct virtio_kick kick[VIRTIO_MAX_QUEUES];
	struct log_limit malformed_log; /* a guest can break its rings after every reset */
};

/* Sets up the core and registers its kicks with the I/O thread; a transport attaches next.
 * Returns 0, or -1 after printing why. */
int virtio_dev_init(struct virtio_dev *vd, const char *name, const struct virtio_device_ops *ops,
		    void *dev, const struct guest_mem *mem, struct io_thread *io);
void virtio_dev_destroy(struct virtio_dev *vd);
/* Back to power-on state, transport registers included (an in-place reset of the machine). */
void virtio_dev_reset(struct virtio_dev *vd);

/* For transports, with the device locked. */
void virtio_reset_locked(struct virtio_dev *vd);
void virtio_write_status(struct virtio_dev *vd, uint8_t status);
uint32_t virtio_device_features_word(const struct virtio_dev *vd, uint32_t word);
void virtio_write_driver_features(struct virtio_dev *vd, uint32_t word, uint32_t val);
/* Whether queue q exists and its layout may still change (not enabled yet, 1.2 4.1.4.3.2). */
bool virtio_queue_configurable(const struct virtio_dev *vd, unsigned q);
void virtio_set_queue_size(struct virtio_dev *vd, unsigned q, uint64_t size);
void virtio_enable_queue(struct virtio_dev *vd, unsigned q);
/* A kick that did not come through an ioeventfd: handed to the I/O thread the same way. */
void virtio_kick_queue(struct virtio_dev *vd, unsigned q);

/* For devices, with the device locked (i.e. from queue_notify): interrupt the driver for queue
 * q if it wants one; interrupt it unconditionally (a backend such as vhost decided already);
 * mark the device broken after a malformed ring. */
void virtio_notify_queue(struct virtio_dev *vd, unsigned q);
void virtio_interrupt_queue(struct virtio_dev *vd, unsigned q);
void virtio_needs_reset(struct virtio_dev *vd);
/* For a backend that raises queue q's interrupts by itself: the transport's irqfd for it, or
 * -1 when its signals must go through virtio_interrupt_queue. Device locked. */
int virtio_queue_irqfd(struct virtio_dev *vd, unsigned q);
/* For transports: queue interrupts now take another path (see ops->irqfd_changed). */
void virtio_irqfd_changed(struct virtio_dev *vd);
