#include "virtio_input.h"

#include <linux/input-event-codes.h>
#include <linux/input.h>
#include <string.h>

#include "devices/keymap.h"
#include "vmm/le.h"
#include "vmm/log.h"

#define VIRTIO_ID_INPUT	      18
#define PCI_CLASS_KEYBOARD    0x090000
#define PCI_CLASS_INPUT_OTHER 0x098000
#define INPUT_QUEUE_SIZE      64
#define EVENTQ		      0
#define STATUSQ		      1
#define EVENT_SIZE	      8 /* struct virtio_input_event on the wire: le16, le16, le32 */

/* struct virtio_input_config: select, subsel, size, 5 reserved, then a 128-byte union. */
#define CFG_UNION      8
#define CFG_UNION_SIZE 128
#define CFG_SIZE       (CFG_UNION + CFG_UNION_SIZE)

enum {
	CFG_ID_NAME = 0x01,
	CFG_ID_SERIAL = 0x02,
	CFG_ID_DEVIDS = 0x03,
	CFG_PROP_BITS = 0x10,
	CFG_EV_BITS = 0x11,
	CFG_ABS_INFO = 0x12,
};

/* The vendor QEMU gives its USB and virtio input devices, which guests' quirk tables know. */
#define DEVIDS_VENDOR 0x0627

/* What each kind tells the driver it may send (EV_KEY, EV_REL, EV_ABS) or drive (EV_LED). The
 * keyboard has every key up to KEY_MICMUTE, as the keymap and raw sendkey codes can name any. */
static bool announced(enum virtio_input_kind kind, unsigned type, unsigned code)
{
	if (kind == VIRTIO_INPUT_KEYBOARD) {
		switch (type) {
		case EV_KEY:
			return code >= KEY_ESC && code <= KEYMAP_MAX_CODE;
		case EV_LED:
			return code == LED_NUML || code == LED_CAPSL || code == LED_SCROLLL;
		default:
			return false;
		}
	}
	switch (type) {
	case EV_KEY:
		return code == BTN_LEFT || code == BTN_RIGHT || code == BTN_MIDDLE;
	case EV_ABS:
		return code == ABS_X || code == ABS_Y;
	case EV_REL:
		return code == REL_WHEEL;
	default:
		return false;
	}
}

/* The union for the driver's select and subsel; returns its size, 0 for what we lack (no
 * serial, no properties: QEMU's tablet has none either). */
static unsigned config_union(const struct virtio_input *in, uint8_t *u)
{
	bool kbd = in->kind == VIRTIO_INPUT_KEYBOARD;
	switch (in->select) {
	case CFG_ID_NAME: {
		const char *name = kbd ? "kvmm keyboard" : "kvmm tablet";
		size_t len = strlen(name);
		memcpy(u, name, len);
		return (unsigned)len;
	}
	case CFG_ID_DEVIDS:
		le_put(&u[0], BUS_VIRTUAL, 2);
		le_put(&u[2], DEVIDS_VENDOR, 2);
		le_put(&u[4], kbd ? 1 : 3, 2); /* QEMU's products: keyboard 1, tablet 3 */
		le_put(&u[6], 1, 2);
		return 8;
	case CFG_EV_BITS: {
		/* Linux turns on its own autorepeat for any size here; the bits mean nothing. */
		if (in->subsel == EV_REP)
			return kbd ? 1 : 0;
		unsigned size = 0;
		for (unsigned code = 0; code < 8 * CFG_UNION_SIZE; code++)
			if (announced(in->kind, in->subsel, code)) {
				u[code / 8] |= (uint8_t)(1U << (code % 8));
				size = code / 8 + 1;
			}
		return size;
	}
	case CFG_ABS_INFO:
		if (!announced(in->kind, EV_ABS, in->subsel))
			return 0;
		le_put(&u[4], VIRTIO_INPUT_ABS_MAX, 4); /* min 0; max; fuzz, flat, res 0 */
		return 20;
	default:
		return 0;
	}
}

static void input_config_read(void *dev, unsigned offset, uint8_t *data, unsigned len)
{
	struct virtio_input *in = dev;
	uint8_t cfg[CFG_SIZE] = {0};
	cfg[0] = in->select;
	cfg[1] = in->subsel;
	cfg[2] = (uint8_t)config_union(in, &cfg[CFG_UNION]);
	if (offset + len <= sizeof(cfg))
		memcpy(data, &cfg[offset], len);
}

/* Only select and subsel are the driver's to write. */
static void input_config_write(void *dev, unsigned offset, const uint8_t *data, unsigned len)
{
	struct virtio_input *in = dev;
	for (unsigned i = 0; i < len; i++) {
		if (offset + i == 0)
			in->select = data[i];
		else if (offset + i == 1)
			in->subsel = data[i];
	}
}

/* A driver that can take events now; before that, events would reach a guest that has moved
 * on (a boot menu, another kernel), so they are dropped rather than kept. */
static bool driver_up(const struct virtio_input *in)
{
	const struct virtio_dev *vd = &in->vd;
	return (vd->status & VIRTIO_STATUS_DRIVER_OK) &&
	       !(vd->status & VIRTIO_STATUS_NEEDS_RESET) && vd->vqs[EVENTQ].ready;
}

static void pending_clear(struct virtio_input *in)
{
	in->pending_head = in->pending_count = 0;
}

/* Gives the driver pending events while it has buffers for them. Device locked. */
static void deliver(struct virtio_input *in)
{
	struct virtio_dev *vd = &in->vd;
	struct virtq *vq = &vd->vqs[EVENTQ];
	bool pushed = false;
	while (in->pending_count && driver_up(in)) {
		int r = virtq_pop(vq, &in->chain);
		if (r == 0)
			break;
		if (r > 0) {
			const struct virtio_input_event *e = &in->pending[in->pending_head];
			uint8_t ev[EVENT_SIZE];
			le_put(&ev[0], e->type, 2);
			le_put(&ev[2], e->code, 2);
			le_put(&ev[4], e->value, 4);
			size_t w = virtq_chain_write(vq, &in->chain, 0, ev, sizeof(ev));
			virtq_push(vq, in->chain.head, (uint32_t)w);
			pushed = true;
			if (w == sizeof(ev)) {
				in->pending_head = (in->pending_head + 1) % VIRTIO_INPUT_PENDING;
				in->pending_count--;
				continue;
			}
		}
		/* A malformed ring, or a buffer that cannot hold an event (1.2 5.8.6.2: it must):
		 * nothing more goes to this driver, and a reset starts from nothing. */
		virtio_needs_reset(vd);
		pending_clear(in);
	}
	if (pushed)
		virtio_notify_queue(vd, EVENTQ);
}

/* Events the host may send: announced, never the driver's LEDs; SYN only at the end, where
 * the batch must have it, so a guest never acts on half of one. */
static bool batch_valid(const struct virtio_input *in, const struct virtio_input_event *evs,
			unsigned n)
{
	if (n == 0 || n > VIRTIO_INPUT_PENDING || evs[n - 1].type != EV_SYN ||
	    evs[n - 1].code != SYN_REPORT)
		return false;
	for (unsigned i = 0; i + 1 < n; i++)
		if (evs[i].type == EV_LED || !announced(in->kind, evs[i].type, evs[i].code))
			return false;
	return true;
}

static int send_locked(struct virtio_input *in, const struct virtio_input_event *evs, unsigned n)
{
	if (!batch_valid(in, evs, n))
		return -1;
	if (!driver_up(in)) {
		in->dropped++;
		return -1;
	}
	/* What the driver has buffers for goes first, making room. */
	deliver(in);
	if (!driver_up(in)) { /* its ring just broke: virtio_needs_reset said so */
		in->dropped++;
		return -1;
	}
	if (VIRTIO_INPUT_PENDING - in->pending_count < n) {
		in->dropped++;
		log_warn_limited(&in->log, "%s: the guest is not reading input events; %u dropped",
				 in->vd.name, n);
		return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		unsigned slot = (in->pending_head + in->pending_count) % VIRTIO_INPUT_PENDING;
		in->pending[slot] = evs[i];
		in->pending_count++;
	}
	deliver(in);
	return 0;
}

int virtio_input_send(struct virtio_input *in, const struct virtio_input_event *evs, unsigned n)
{
	pthread_mutex_lock(&in->vd.lock);
	int r = send_locked(in, evs, n);
	pthread_mutex_unlock(&in->vd.lock);
	return r;
}

int virtio_input_key(struct virtio_input *in, uint16_t code, bool down)
{
	const struct virtio_input_event evs[] = {{EV_KEY, code, down}, {EV_SYN, SYN_REPORT, 0}};
	return virtio_input_send(in, evs, 2);
}

int virtio_input_tablet(struct virtio_input *in, uint32_t x, uint32_t y, unsigned buttons,
			int wheel)
{
	static const struct {
		unsigned mask;
		uint16_t code;
	} btn[] = {{VIRTIO_INPUT_BTN_LEFT, BTN_LEFT},
		   {VIRTIO_INPUT_BTN_MIDDLE, BTN_MIDDLE},
		   {VIRTIO_INPUT_BTN_RIGHT, BTN_RIGHT}};
	const unsigned all =
	    VIRTIO_INPUT_BTN_LEFT | VIRTIO_INPUT_BTN_MIDDLE | VIRTIO_INPUT_BTN_RIGHT;
	x = x > VIRTIO_INPUT_ABS_MAX ? VIRTIO_INPUT_ABS_MAX : x;
	y = y > VIRTIO_INPUT_ABS_MAX ? VIRTIO_INPUT_ABS_MAX : y;
	buttons &= all;
	struct virtio_input_event evs[8];
	unsigned n = 0;
	pthread_mutex_lock(&in->vd.lock);
	if (!in->pos_valid || x != in->x)
		evs[n++] = (struct virtio_input_event){EV_ABS, ABS_X, x};
	if (!in->pos_valid || y != in->y)
		evs[n++] = (struct virtio_input_event){EV_ABS, ABS_Y, y};
	for (unsigned i = 0; i < sizeof(btn) / sizeof(btn[0]); i++)
		if ((buttons ^ in->buttons) & btn[i].mask)
			evs[n++] = (struct virtio_input_event){EV_KEY, btn[i].code,
							       !!(buttons & btn[i].mask)};
	if (wheel)
		evs[n++] = (struct virtio_input_event){EV_REL, REL_WHEEL, (uint32_t)wheel};
	int r = 0;
	if (n) {
		evs[n++] = (struct virtio_input_event){EV_SYN, SYN_REPORT, 0};
		r = send_locked(in, evs, n);
	}
	/* A dropped batch leaves the old state, so the next one carries the change again. */
	if (n && r == 0) {
		in->pos_valid = true;
		in->x = x;
		in->y = y;
		in->buttons = buttons;
	}
	pthread_mutex_unlock(&in->vd.lock);
	return r;
}

/* The driver's status events: LEDs on the keyboard; anything else is read and let go. */
static void status_event(struct virtio_input *in, const uint8_t *ev)
{
	unsigned type = (unsigned)le_get(&ev[0], 2), code = (unsigned)le_get(&ev[2], 2);
	uint32_t value = (uint32_t)le_get(&ev[4], 4);
	if (type != EV_LED || !announced(in->kind, type, code))
		return;
	if (value)
		in->leds |= (uint8_t)(1U << code);
	else
		in->leds &= (uint8_t) ~(1U << code);
}

static void input_queue_notify(void *dev, struct virtio_dev *vd, unsigned q)
{
	struct virtio_input *in = dev;
	if (q == EVENTQ) {
		deliver(in);
		return;
	}
	struct virtq *vq = &vd->vqs[STATUSQ];
	int r;
	while ((r = virtq_pop(vq, &in->chain)) > 0) {
		uint8_t ev[EVENT_SIZE];
		if (virtq_chain_read(vq, &in->chain, 0, ev, sizeof(ev)) == sizeof(ev))
			status_event(in, ev);
		virtq_push(vq, in->chain.head, 0);
	}
	if (r < 0)
		virtio_needs_reset(vd);
	else
		virtio_notify_queue(vd, STATUSQ);
}

/* A driver reset or the machine's: what was pending was for the driver that went. */
static void input_reset(void *dev)
{
	struct virtio_input *in = dev;
	pending_clear(in);
	in->select = in->subsel = 0;
	in->leds = 0;
	in->pos_valid = false;
	in->buttons = 0;
}

static const struct virtio_device_ops keyboard_ops = {
    .device_id = VIRTIO_ID_INPUT,
    .pci_class = PCI_CLASS_KEYBOARD,
    .nqueues = 2,
    .queue_max = INPUT_QUEUE_SIZE,
    .config_size = CFG_SIZE,
    .config_read = input_config_read,
    .config_write = input_config_write,
    .queue_notify = input_queue_notify,
    .reset = input_reset,
};

/* The same device; PCI calls it an input controller of no particular kind, as QEMU does. */
static const struct virtio_device_ops tablet_ops = {
    .device_id = VIRTIO_ID_INPUT,
    .pci_class = PCI_CLASS_INPUT_OTHER,
    .nqueues = 2,
    .queue_max = INPUT_QUEUE_SIZE,
    .config_size = CFG_SIZE,
    .config_read = input_config_read,
    .config_write = input_config_write,
    .queue_notify = input_queue_notify,
    .reset = input_reset,
};

int virtio_input_init(struct virtio_input *in, enum virtio_input_kind kind,
		      const struct guest_mem *mem, struct io_thread *io)
{
	memset(in, 0, sizeof(*in));
	in->kind = kind;
	if (kind == VIRTIO_INPUT_KEYBOARD)
		return virtio_dev_init(&in->vd, "virtio-keyboard", &keyboard_ops, in, mem, io);
	return virtio_dev_init(&in->vd, "virtio-tablet", &tablet_ops, in, mem, io);
}

void virtio_input_destroy(struct virtio_input *in)
{
	virtio_dev_destroy(&in->vd);
}

void virtio_input_get_info(struct virtio_input *in, struct virtio_input_info *info)
{
	pthread_mutex_lock(&in->vd.lock);
	*info = (struct virtio_input_info){
	    .ready = driver_up(in),
	    .pending = in->pending_count,
	    .dropped = in->dropped,
	    .leds = in->leds,
	};
	pthread_mutex_unlock(&in->vd.lock);
}
