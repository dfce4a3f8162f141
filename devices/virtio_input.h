/* virtio-input (virtio 1.2 section 5.8): a keyboard or a tablet for a graphical console. The
 * host side (the display thread, the control socket's sendkey) hands in batches of Linux input
 * events; the device keeps them in a bounded ring and writes them into the buffers the driver
 * posts on the event queue. The driver's status queue (LEDs) is read and completed. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "devices/virtio.h"

#define VIRTIO_INPUT_PENDING 256 /* events waiting for the driver's buffers */

/* Tablet buttons: the same bits as SDL's SDL_BUTTON_LMASK, MMASK and RMASK. */
#define VIRTIO_INPUT_BTN_LEFT	1
#define VIRTIO_INPUT_BTN_MIDDLE 2
#define VIRTIO_INPUT_BTN_RIGHT	4

#define VIRTIO_INPUT_ABS_MAX 32767 /* the tablet's ABS_X and ABS_Y run 0 to this */

enum virtio_input_kind { VIRTIO_INPUT_KEYBOARD, VIRTIO_INPUT_TABLET };

/* One event in host byte order: type EV_*, code, value, as in <linux/input-event-codes.h>. */
struct virtio_input_event {
	uint16_t type;
	uint16_t code;
	uint32_t value;
};

struct virtio_input {
	struct virtio_dev vd;
	enum virtio_input_kind kind;
	/* Everything below is guarded by vd.lock. */
	uint8_t select, subsel; /* the configuration the driver asked for */
	struct virtio_input_event pending[VIRTIO_INPUT_PENDING];
	unsigned pending_head, pending_count;
	unsigned long long dropped; /* whole batches, since start */
	uint8_t leds;		    /* bit n: LED n (LED_NUML...) as the driver last set it */
	/* The tablet as the driver last saw it, so only changes are sent. */
	bool pos_valid;
	uint32_t x, y;
	unsigned buttons;
	struct virtq_chain chain; /* one guest chain at a time, under the lock: off the stack */
	struct log_limit log;
};

/* What the control socket's info shows. */
struct virtio_input_info {
	bool ready;		    /* the driver is up and takes events */
	unsigned pending;	    /* events waiting for its buffers */
	unsigned long long dropped; /* batches dropped: driver not up, or pending ring full */
	uint8_t leds;		    /* keyboard: bit n is LED n (LED_NUML, LED_CAPSL, ...) */
};

/* Sets up the device core; a transport attaches next. Returns 0, or -1 after printing why. */
int virtio_input_init(struct virtio_input *in, enum virtio_input_kind kind,
		      const struct guest_mem *mem, struct io_thread *io);
void virtio_input_destroy(struct virtio_input *in);

/* From any thread. Queues n events, which must end with EV_SYN/SYN_REPORT and be of codes this
 * kind of device announces, and gives the driver as many as it has buffers for. A batch goes
 * whole or not at all: it is dropped (and counted) when the driver is not up (no DRIVER_OK,
 * event queue not enabled, NEEDS_RESET), or when the pending ring has no room for all of it.
 * Returns 0 when queued, -1 when dropped or refused. */
int virtio_input_send(struct virtio_input *in, const struct virtio_input_event *evs, unsigned n);
/* A keyboard key (KEY_*, 1 to KEYMAP_MAX_CODE) going down or up, and the SYN after it. */
int virtio_input_key(struct virtio_input *in, uint16_t code, bool down);
/* The tablet's state: the pointer at x, y (0 to VIRTIO_INPUT_ABS_MAX, larger is clamped), the
 * buttons held (VIRTIO_INPUT_BTN_*), and wheel clicks (positive: away from the user). Only what
 * changed since the last batch the driver was given is sent; nothing changed, nothing sent. */
int virtio_input_tablet(struct virtio_input *in, uint32_t x, uint32_t y, unsigned buttons,
			int wheel);

void virtio_input_get_info(struct virtio_input *in, struct virtio_input_info *info);
