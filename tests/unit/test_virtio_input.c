/* virtio-input as a driver sees it: configuration through the virtio-mmio register file (the
 * select and subsel writes included), and events over hand-built rings. No KVM and no
 * transport interrupt: the device core runs alone, and a kick is the device's queue_notify
 * called as the I/O thread calls it, except in the one test that runs a real I/O thread with
 * events coming from another thread. */
#include <linux/input-event-codes.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "devices/keymap.h"
#include "devices/virtio_input.h"
#include "devices/virtio_mmio.h"
#include "ring.h"
#include "stderr_capture.h"
#include "unit.h"
#include "vmm/log.h"

#define QSIZE 16
#define EVQ   0
#define STSQ  1

static struct guest_mem mem;
static struct io_thread io;
static struct virtio_input in;
static struct virtio_mmio vm;

/* A queue as the driver keeps it: where its rings and buffers are, what it has offered and
 * what it has seen come back. */
struct gq {
	uint64_t desc, avail, used, bufs;
	uint16_t avail_idx, used_seen;
};
static struct gq evq = {0x1000, 0x2000, 0x3000, 0x10000, 0, 0};
static struct gq stsq = {0x4000, 0x5000, 0x6000, 0x20000, 0, 0};

static uint16_t get16(uint64_t gpa)
{
	uint16_t v = 0;
	ck_assert(gmem_read(&mem, gpa, &v, 2));
	return v;
}

static uint32_t get32(uint64_t gpa)
{
	uint32_t v = 0;
	ck_assert(gmem_read(&mem, gpa, &v, 4));
	return v;
}

static void put16(uint64_t gpa, uint16_t v)
{
	ck_assert(gmem_write(&mem, gpa, &v, 2));
}

/* --- configuration, through the transport ------------------------------------------------- */

static uint8_t cfg8(unsigned off)
{
	uint8_t b = 0xee;
	virtio_mmio_read(&vm, 0x100 + off, &b, 1);
	return b;
}

/* What the driver does for each query: select, subsel, then size and the bytes. */
static unsigned query(uint8_t select, uint8_t subsel, uint8_t *u)
{
	virtio_mmio_write(&vm, 0x100, &select, 1);
	virtio_mmio_write(&vm, 0x101, &subsel, 1);
	ck_assert_uint_eq(cfg8(0), select);
	ck_assert_uint_eq(cfg8(1), subsel);
	unsigned size = cfg8(2);
	ck_assert_uint_le(size, 128);
	for (unsigned i = 0; i < 128; i++)
		u[i] = cfg8(8 + i);
	for (unsigned i = size; i < 128; i++)
		ck_assert_uint_eq(u[i], 0);
	return size;
}

static bool bit(const uint8_t *u, unsigned n)
{
	return u[n / 8] & (1U << (n % 8));
}

/* --- the driver's side of the queues ------------------------------------------------------- */

static void setup_kind(enum virtio_input_kind kind)
{
	ck_assert_int_eq(gmem_init_layout(&mem, 1 * MiB, 4 * GiB, 4 * GiB), 0);
	ck_assert_int_eq(io_thread_init(&io), 0);
	ck_assert_int_eq(virtio_input_init(&in, kind, &mem, &io), 0);
	vm = (struct virtio_mmio){.vd = &in.vd};
	evq.avail_idx = evq.used_seen = stsq.avail_idx = stsq.used_seen = 0;
}

static void setup_keyboard(void)
{
	setup_kind(VIRTIO_INPUT_KEYBOARD);
}

static void setup_tablet(void)
{
	setup_kind(VIRTIO_INPUT_TABLET);
}

static void teardown(void)
{
	io_thread_stop(&io);
	virtio_input_destroy(&in);
	io_thread_destroy(&io);
	gmem_free(&mem);
}

/* The handshake through DRIVER_OK, both queues enabled, none of them holding buffers. */
static void driver_start(void)
{
	struct virtio_dev *vd = &in.vd;
	pthread_mutex_lock(&vd->lock);
	virtio_write_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_write_driver_features(vd, 1, 1); /* VERSION_1 */
	virtio_write_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				    VIRTIO_STATUS_FEATURES_OK);
	const struct gq *qs[] = {&evq, &stsq};
	for (unsigned q = 0; q < 2; q++) {
		virtio_set_queue_size(vd, q, QSIZE);
		vd->queue_desc[q] = qs[q]->desc;
		vd->queue_driver[q] = qs[q]->avail;
		vd->queue_device[q] = qs[q]->used;
		virtio_enable_queue(vd, q);
		ck_assert(vd->vqs[q].ready);
	}
	virtio_write_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				    VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	pthread_mutex_unlock(&vd->lock);
	evq.avail_idx = evq.used_seen = stsq.avail_idx = stsq.used_seen = 0;
	put16(evq.avail + 2, 0);
	put16(stsq.avail + 2, 0);
	put16(evq.used + 2, 0);
	put16(stsq.used + 2, 0);
}

/* Offers one buffer of len bytes (device-writable or not); descriptors go round the table. */
static void offer(struct gq *q, uint32_t len, uint16_t flags)
{
	uint16_t d = q->avail_idx % QSIZE;
	ring_desc(&mem, q->desc, d, q->bufs + 0x100ULL * d, len, flags, 0);
	put16(q->avail + 4 + 2 * d, d);
	put16(q->avail + 2, ++q->avail_idx);
}

static void offer_events(unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		offer(&evq, 8, VIRTQ_DESC_F_WRITE);
}

static void kick(unsigned q)
{
	struct virtio_dev *vd = &in.vd;
	pthread_mutex_lock(&vd->lock);
	/* As kick_handler does. */
	if (vd->vqs[q].ready && !(vd->status & VIRTIO_STATUS_NEEDS_RESET))
		vd->ops->queue_notify(vd->dev, vd, q);
	pthread_mutex_unlock(&vd->lock);
}

static unsigned used_new(const struct gq *q)
{
	return (uint16_t)(get16(q->used + 2) - q->used_seen);
}

/* The next event the device returned, checked for its used length. */
static struct virtio_input_event next_event(void)
{
	ck_assert_uint_gt(used_new(&evq), 0);
	uint64_t elem = evq.used + 4 + 8ULL * (evq.used_seen % QSIZE);
	uint32_t id = get32(elem);
	ck_assert_uint_lt(id, QSIZE);
	ck_assert_uint_eq(get32(elem + 4), 8);
	uint64_t buf = evq.bufs + 0x100ULL * id;
	evq.used_seen++;
	return (struct virtio_input_event){get16(buf), get16(buf + 2), get32(buf + 4)};
}

static void expect_event(uint16_t type, uint16_t code, uint32_t value)
{
	struct virtio_input_event e = next_event();
	ck_assert_uint_eq(e.type, type);
	ck_assert_uint_eq(e.code, code);
	ck_assert_uint_eq(e.value, value);
}

static struct virtio_input_info info(void)
{
	struct virtio_input_info i;
	virtio_input_get_info(&in, &i);
	return i;
}

/* --- tests --------------------------------------------------------------------------------- */

START_TEST(test_keyboard_config)
{
	uint8_t u[128];
	unsigned size = query(0x01, 0, u); /* ID_NAME */
	ck_assert_uint_eq(size, strlen("kvmm keyboard"));
	ck_assert_mem_eq(u, "kvmm keyboard", size);
	ck_assert_uint_eq(query(0x02, 0, u), 0); /* ID_SERIAL: none */
	ck_assert_uint_eq(query(0x03, 0, u), 8); /* ID_DEVIDS */
	ck_assert_uint_eq(u[0] | u[1] << 8, 0x06);
	ck_assert_uint_eq(u[2] | u[3] << 8, 0x0627);
	ck_assert_uint_eq(u[4] | u[5] << 8, 1);
	ck_assert_uint_eq(u[6] | u[7] << 8, 1);
	ck_assert_uint_eq(query(0x10, 0, u), 0); /* PROP_BITS */
	size = query(0x11, EV_KEY, u);
	ck_assert_uint_eq(size, KEYMAP_MAX_CODE / 8 + 1);
	ck_assert(bit(u, KEY_A) && bit(u, KEY_ESC) && bit(u, KEY_MICMUTE));
	ck_assert(!bit(u, KEY_RESERVED));
	/* Every key the keymap names is one the guest was told of. */
	static const char *const names[] = {"ctrl", "alt_r", "delete", "kp_enter", "f24", "sysrq"};
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int code = keymap_by_name(names[i]);
		ck_assert_int_gt(code, 0);
		ck_assert(bit(u, (unsigned)code));
	}
	ck_assert_uint_eq(query(0x11, EV_REP, u), 1);
	ck_assert_uint_eq(query(0x11, EV_LED, u), 1);
	ck_assert_uint_eq(u[0], 1U << LED_NUML | 1U << LED_CAPSL | 1U << LED_SCROLLL);
	ck_assert_uint_eq(query(0x11, EV_ABS, u), 0);
	ck_assert_uint_eq(query(0x11, EV_REL, u), 0);
	ck_assert_uint_eq(query(0x12, ABS_X, u), 0);
	ck_assert_uint_eq(query(0x7f, 0, u), 0);
	ck_assert_uint_eq(query(0x00, 0, u), 0); /* UNSET */
}
END_TEST

START_TEST(test_tablet_config)
{
	uint8_t u[128];
	unsigned size = query(0x01, 0, u);
	ck_assert_uint_eq(size, strlen("kvmm tablet"));
	ck_assert_mem_eq(u, "kvmm tablet", size);
	ck_assert_uint_eq(query(0x03, 0, u), 8);
	ck_assert_uint_eq(u[4] | u[5] << 8, 3);
	ck_assert_uint_eq(query(0x10, 0, u), 0);
	size = query(0x11, EV_KEY, u);
	ck_assert_uint_eq(size, BTN_MIDDLE / 8 + 1);
	ck_assert(bit(u, BTN_LEFT) && bit(u, BTN_RIGHT) && bit(u, BTN_MIDDLE));
	ck_assert(!bit(u, KEY_A));
	ck_assert_uint_eq(query(0x11, EV_ABS, u), 1);
	ck_assert_uint_eq(u[0], 1U << ABS_X | 1U << ABS_Y);
	ck_assert_uint_eq(query(0x11, EV_REL, u), REL_WHEEL / 8 + 1);
	ck_assert(bit(u, REL_WHEEL) && !bit(u, REL_X));
	ck_assert_uint_eq(query(0x11, EV_REP, u), 0);
	ck_assert_uint_eq(query(0x11, EV_LED, u), 0);
	for (unsigned axis = ABS_X; axis <= ABS_Y; axis++) {
		ck_assert_uint_eq(query(0x12, (uint8_t)axis, u), 20);
		uint32_t v[5];
		memcpy(v, u, sizeof(v));
		ck_assert_uint_eq(v[0], 0);
		ck_assert_uint_eq(v[1], 32767);
		ck_assert_uint_eq(v[2] | v[3] | v[4], 0);
	}
	ck_assert_uint_eq(query(0x12, ABS_Z, u), 0);
}
END_TEST

/* Only select and subsel take writes; the rest of the configuration stays the device's. */
START_TEST(test_config_is_read_only_past_subsel)
{
	uint8_t u[128];
	query(0x01, 0, u);
	uint8_t junk[4] = {0x55, 0x55, 0x55, 0x55};
	virtio_mmio_write(&vm, 0x100 + 2, junk, 1);
	virtio_mmio_write(&vm, 0x100 + 8, junk, 4);
	ck_assert_uint_eq(cfg8(2), strlen("kvmm keyboard"));
	ck_assert_uint_eq(cfg8(8), 'k');
	virtio_mmio_write(&vm, 0x100, junk, 2); /* select and subsel in one write */
	ck_assert_uint_eq(cfg8(0), 0x55);
	ck_assert_uint_eq(cfg8(1), 0x55);
	ck_assert_uint_eq(cfg8(2), 0);
}
END_TEST

START_TEST(test_key_reaches_the_ring)
{
	driver_start();
	offer_events(4);
	kick(EVQ);
	ck_assert_uint_eq(used_new(&evq), 0);
	ck_assert_int_eq(virtio_input_key(&in, KEY_A, true), 0);
	ck_assert_uint_eq(used_new(&evq), 2);
	expect_event(EV_KEY, KEY_A, 1);
	expect_event(EV_SYN, SYN_REPORT, 0);
	ck_assert_int_eq(virtio_input_key(&in, KEY_A, false), 0);
	expect_event(EV_KEY, KEY_A, 0);
	expect_event(EV_SYN, SYN_REPORT, 0);
	ck_assert_uint_eq(info().pending, 0);
	ck_assert_uint_eq(info().dropped, 0);
}
END_TEST

START_TEST(test_pending_until_buffers_come)
{
	driver_start();
	ck_assert_int_eq(virtio_input_key(&in, KEY_B, true), 0);
	ck_assert_int_eq(virtio_input_key(&in, KEY_B, false), 0);
	ck_assert_uint_eq(used_new(&evq), 0);
	ck_assert_uint_eq(info().pending, 4);
	offer_events(3);
	ck_assert_uint_eq(used_new(&evq), 0); /* posted, not kicked yet */
	kick(EVQ);
	ck_assert_uint_eq(used_new(&evq), 3);
	ck_assert_uint_eq(info().pending, 1);
	expect_event(EV_KEY, KEY_B, 1);
	expect_event(EV_SYN, SYN_REPORT, 0);
	expect_event(EV_KEY, KEY_B, 0);
	offer_events(1);
	kick(EVQ);
	expect_event(EV_SYN, SYN_REPORT, 0);
	ck_assert_uint_eq(info().pending, 0);
}
END_TEST

/* A full ring refuses a batch it has no room for, all of it, even when part would fit; what
 * the driver gets later is whole batches only. The warning about it is rate-limited. */
START_TEST(test_overflow_drops_whole_batches)
{
	driver_start();
	for (unsigned i = 0; i < (VIRTIO_INPUT_PENDING - 2) / 2; i++)
		ck_assert_int_eq(virtio_input_key(&in, KEY_C, i % 2 == 0), 0);
	ck_assert_uint_eq(info().pending, VIRTIO_INPUT_PENDING - 2);
	const struct virtio_input_event three[] = {
	    {EV_KEY, KEY_LEFTCTRL, 1}, {EV_KEY, KEY_X, 1}, {EV_SYN, SYN_REPORT, 0}};
	ck_assert_int_eq(virtio_input_send(&in, three, 3), -1);
	ck_assert_uint_eq(info().pending, VIRTIO_INPUT_PENDING - 2);
	ck_assert_uint_eq(info().dropped, 1);
	ck_assert_int_eq(virtio_input_key(&in, KEY_D, true), 0); /* two still fit */
	ck_assert_uint_eq(info().pending, VIRTIO_INPUT_PENDING);

	struct stderr_capture cap;
	stderr_capture_begin(&cap);
	for (int i = 0; i < 50; i++)
		ck_assert_int_eq(virtio_input_key(&in, KEY_E, true), -1);
	int lines = stderr_capture_end(&cap, "dropped");
	ck_assert_int_ge(lines, 1);
	ck_assert_int_le(lines, LOG_LIMIT_BURST);
	ck_assert_uint_eq(info().dropped, 51);

	/* Drained a queue's worth at a time: C presses and releases, then D, each with its SYN. */
	unsigned n = 0;
	while (n < VIRTIO_INPUT_PENDING) {
		offer_events(QSIZE);
		kick(EVQ);
		ck_assert_uint_eq(used_new(&evq), QSIZE);
		for (unsigned i = 0; i < QSIZE; i++, n++) {
			struct virtio_input_event e = next_event();
			if (n % 2) {
				ck_assert_uint_eq(e.type, EV_SYN);
				continue;
			}
			ck_assert_uint_eq(e.type, EV_KEY);
			bool last = n == VIRTIO_INPUT_PENDING - 2;
			ck_assert_uint_eq(e.code, last ? KEY_D : KEY_C);
			ck_assert_uint_eq(e.value, last ? 1 : (n / 2) % 2 == 0);
		}
	}
	ck_assert_uint_eq(info().pending, 0);
}
END_TEST

/* Batches the host must not send: refused before they reach the ring, and not counted as the
 * guest's doing. */
START_TEST(test_bad_batches_are_refused)
{
	driver_start();
	offer_events(QSIZE);
	kick(EVQ);
	const struct virtio_input_event no_syn[] = {{EV_KEY, KEY_A, 1}};
	const struct virtio_input_event early_syn[] = {
	    {EV_SYN, SYN_REPORT, 0}, {EV_KEY, KEY_A, 1}, {EV_SYN, SYN_REPORT, 0}};
	const struct virtio_input_event led[] = {{EV_LED, LED_CAPSL, 1}, {EV_SYN, SYN_REPORT, 0}};
	const struct virtio_input_event button[] = {{EV_KEY, BTN_LEFT, 1}, {EV_SYN, SYN_REPORT, 0}};
	ck_assert_int_eq(virtio_input_send(&in, no_syn, 1), -1);
	ck_assert_int_eq(virtio_input_send(&in, early_syn, 3), -1);
	ck_assert_int_eq(virtio_input_send(&in, led, 2), -1);
	ck_assert_int_eq(virtio_input_send(&in, button, 2), -1); /* a keyboard has no buttons */
	ck_assert_int_eq(virtio_input_send(&in, no_syn, 0), -1);
	ck_assert_int_eq(virtio_input_key(&in, 0, true), -1);
	ck_assert_int_eq(virtio_input_key(&in, KEYMAP_MAX_CODE + 1, true), -1);
	ck_assert_uint_eq(used_new(&evq), 0);
	ck_assert_uint_eq(info().dropped, 0);
	ck_assert_int_eq(virtio_input_key(&in, KEYMAP_MAX_CODE, true), 0);
	ck_assert_uint_eq(used_new(&evq), 2);
}
END_TEST

/* A buffer outside RAM, one the device may not write, one too small for an event: each puts
 * the device in NEEDS_RESET, drops what was pending, and refuses events until a reset. */
START_TEST(test_malformed_ring_needs_reset)
{
	static const struct {
		uint64_t addr;
		uint32_t len;
		uint16_t flags;
	} bad[] = {
	    {0x7fff0000, 8, VIRTQ_DESC_F_WRITE},
	    {0x10000, 8, 0},
	    {0x10000, 4, VIRTQ_DESC_F_WRITE},
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		driver_start();
		ck_assert_int_eq(virtio_input_key(&in, KEY_A, true), 0);
		ring_desc(&mem, evq.desc, 0, bad[i].addr, bad[i].len, bad[i].flags, 0);
		put16(evq.avail + 4, 0);
		put16(evq.avail + 2, ++evq.avail_idx);
		kick(EVQ);
		ck_assert(in.vd.status & VIRTIO_STATUS_NEEDS_RESET);
		ck_assert_uint_eq(info().pending, 0);
		ck_assert(!info().ready);
		ck_assert_int_eq(virtio_input_key(&in, KEY_A, false), -1);
		pthread_mutex_lock(&in.vd.lock);
		virtio_write_status(&in.vd, 0);
		pthread_mutex_unlock(&in.vd.lock);
		ck_assert(!(in.vd.status & VIRTIO_STATUS_NEEDS_RESET));
	}
}
END_TEST

/* What was pending was for the driver that went: a reset, the driver's or the machine's,
 * drops it, and events before DRIVER_OK are dropped too. */
START_TEST(test_reset_drops_pending)
{
	ck_assert_int_eq(virtio_input_key(&in, KEY_A, true), -1); /* no driver yet */
	ck_assert_uint_eq(info().dropped, 1);
	ck_assert_uint_eq(info().pending, 0);

	driver_start();
	ck_assert_int_eq(virtio_input_key(&in, KEY_F, true), 0);
	ck_assert_uint_eq(info().pending, 2);
	virtio_dev_reset(&in.vd); /* the machine's reset */
	ck_assert_uint_eq(info().pending, 0);
	ck_assert(!info().ready);

	driver_start();
	ck_assert_int_eq(virtio_input_key(&in, KEY_G, true), 0);
	pthread_mutex_lock(&in.vd.lock);
	virtio_write_status(&in.vd, 0); /* the driver's */
	pthread_mutex_unlock(&in.vd.lock);
	ck_assert_uint_eq(info().pending, 0);

	driver_start();
	offer_events(4);
	kick(EVQ);
	ck_assert_uint_eq(used_new(&evq), 0);
	ck_assert_int_eq(virtio_input_key(&in, KEY_H, true), 0);
	expect_event(EV_KEY, KEY_H, 1);
}
END_TEST

/* The driver's LED updates are read and completed with nothing written; a buffer too short
 * for an event is completed too, and changes nothing. */
START_TEST(test_status_queue)
{
	driver_start();
	uint8_t ev[8] = {EV_LED, 0, LED_CAPSL, 0, 1, 0, 0, 0};
	ck_assert(gmem_write(&mem, stsq.bufs, ev, 8));
	ev[2] = LED_NUML;
	ck_assert(gmem_write(&mem, stsq.bufs + 0x100, ev, 8));
	offer(&stsq, 8, 0);
	offer(&stsq, 8, 0);
	kick(STSQ);
	ck_assert_uint_eq(used_new(&stsq), 2);
	ck_assert_uint_eq(get32(stsq.used + 4 + 4), 0);
	ck_assert_uint_eq(get32(stsq.used + 12 + 4), 0);
	stsq.used_seen = 2;
	ck_assert_uint_eq(info().leds, 1U << LED_CAPSL | 1U << LED_NUML);

	ev[2] = LED_CAPSL;
	ev[4] = 0;
	ck_assert(gmem_write(&mem, stsq.bufs + 0x200, ev, 8));
	ev[2] = LED_NUML;
	ck_assert(gmem_write(&mem, stsq.bufs + 0x300, ev, 8));
	offer(&stsq, 8, 0);
	offer(&stsq, 4, 0); /* NUML off, cut short: ignored */
	kick(STSQ);
	ck_assert_uint_eq(used_new(&stsq), 2);
	ck_assert_uint_eq(info().leds, 1U << LED_NUML);
	ck_assert(!(in.vd.status & VIRTIO_STATUS_NEEDS_RESET));

	virtio_dev_reset(&in.vd);
	ck_assert_uint_eq(info().leds, 0);
}
END_TEST

/* Only what changed goes out, in one batch with its SYN; coordinates are clamped. */
START_TEST(test_tablet_events)
{
	driver_start();
	offer_events(QSIZE);
	kick(EVQ);
	ck_assert_int_eq(virtio_input_tablet(&in, 100, 200, VIRTIO_INPUT_BTN_LEFT, 0), 0);
	ck_assert_uint_eq(used_new(&evq), 4);
	expect_event(EV_ABS, ABS_X, 100);
	expect_event(EV_ABS, ABS_Y, 200);
	expect_event(EV_KEY, BTN_LEFT, 1);
	expect_event(EV_SYN, SYN_REPORT, 0);

	ck_assert_int_eq(virtio_input_tablet(&in, 100, 200, VIRTIO_INPUT_BTN_RIGHT, -1), 0);
	ck_assert_uint_eq(used_new(&evq), 4);
	expect_event(EV_KEY, BTN_LEFT, 0);
	expect_event(EV_KEY, BTN_RIGHT, 1);
	expect_event(EV_REL, REL_WHEEL, (uint32_t)-1);
	expect_event(EV_SYN, SYN_REPORT, 0);

	ck_assert_int_eq(virtio_input_tablet(&in, 100, 200, VIRTIO_INPUT_BTN_RIGHT, 0), 0);
	ck_assert_uint_eq(used_new(&evq), 0); /* nothing changed */

	ck_assert_int_eq(virtio_input_tablet(&in, 40000, 200, VIRTIO_INPUT_BTN_RIGHT, 0), 0);
	expect_event(EV_ABS, ABS_X, 32767);
	expect_event(EV_SYN, SYN_REPORT, 0);

	/* After a reset the position is sent whole again, and buttons start released. */
	virtio_dev_reset(&in.vd);
	driver_start();
	offer_events(QSIZE);
	kick(EVQ);
	ck_assert_int_eq(virtio_input_tablet(&in, 32767, 200, 0, 0), 0);
	expect_event(EV_ABS, ABS_X, 32767);
	expect_event(EV_ABS, ABS_Y, 200);
	expect_event(EV_SYN, SYN_REPORT, 0);
	/* A tablet has no keys. */
	ck_assert_int_eq(virtio_input_key(&in, KEY_A, true), -1);
}
END_TEST

/* A dropped tablet batch leaves the state the driver knows, so the change goes out later. */
START_TEST(test_tablet_drop_is_resent)
{
	ck_assert_int_eq(virtio_input_tablet(&in, 10, 10, VIRTIO_INPUT_BTN_LEFT, 0), -1);
	driver_start();
	offer_events(QSIZE);
	kick(EVQ);
	ck_assert_int_eq(virtio_input_tablet(&in, 10, 10, VIRTIO_INPUT_BTN_LEFT, 0), 0);
	ck_assert_uint_eq(used_new(&evq), 4);
}
END_TEST

/* Key events from another thread while the I/O thread serves the driver's kicks: every event
 * arrives, in order, with no drop. */
static void *typist(void *arg)
{
	(void)arg;
	for (unsigned i = 0; i < 100; i++) {
		uint16_t code = (uint16_t)(KEY_1 + i % 10);
		ck_assert_int_eq(virtio_input_key(&in, code, i % 2 == 0), 0);
	}
	return NULL;
}

START_TEST(test_events_from_another_thread)
{
	ck_assert_int_eq(io_thread_start(&io), 0);
	driver_start();
	offer_events(QSIZE);
	virtio_kick_queue(&in.vd, EVQ);
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, typist, NULL), 0);
	unsigned got = 0;
	for (int spins = 0; got < 200 && spins < 5000; spins++) {
		unsigned n = used_new(&evq);
		if (!n) {
			nanosleep(&(struct timespec){0, 1000000}, NULL);
			continue;
		}
		for (unsigned i = 0; i < n; i++, got++) {
			struct virtio_input_event e = next_event();
			unsigned k = got / 2;
			if (got % 2) {
				ck_assert_uint_eq(e.type, EV_SYN);
				continue;
			}
			ck_assert_uint_eq(e.code, KEY_1 + k % 10);
			ck_assert_uint_eq(e.value, k % 2 == 0);
		}
		offer_events(n);
		virtio_kick_queue(&in.vd, EVQ);
	}
	pthread_join(t, NULL);
	ck_assert_uint_eq(got, 200);
	ck_assert_uint_eq(info().dropped, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("virtio_input");
	TCase *kbd = tcase_create("keyboard");
	tcase_add_checked_fixture(kbd, setup_keyboard, teardown);
	tcase_add_test(kbd, test_keyboard_config);
	tcase_add_test(kbd, test_config_is_read_only_past_subsel);
	tcase_add_test(kbd, test_key_reaches_the_ring);
	tcase_add_test(kbd, test_pending_until_buffers_come);
	tcase_add_test(kbd, test_overflow_drops_whole_batches);
	tcase_add_test(kbd, test_bad_batches_are_refused);
	tcase_add_test(kbd, test_malformed_ring_needs_reset);
	tcase_add_test(kbd, test_reset_drops_pending);
	tcase_add_test(kbd, test_status_queue);
	tcase_add_test(kbd, test_events_from_another_thread);
	suite_add_tcase(s, kbd);
	TCase *tab = tcase_create("tablet");
	tcase_add_checked_fixture(tab, setup_tablet, teardown);
	tcase_add_test(tab, test_tablet_config);
	tcase_add_test(tab, test_tablet_events);
	tcase_add_test(tab, test_tablet_drop_is_resent);
	suite_add_tcase(s, tab);
	return unit_run(s);
}
