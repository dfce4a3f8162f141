#include "i8042.h"

#include <string.h>

#define STATUS_OBF    0x01
#define STATUS_SYS    0x04
#define STATUS_CMD    0x08 /* last write was to the command port */
#define STATUS_UNLOCK 0x10

#define CTR_KBD_INT	0x01
#define CTR_SYS		0x04
#define CTR_KBD_DISABLE 0x10
#define CTR_AUX_DISABLE 0x20
#define CTR_XLATE	0x40

enum {
	CMD_READ_CTR = 0x20,
	CMD_WRITE_CTR = 0x60,
	CMD_AUX_DISABLE = 0xa7,
	CMD_AUX_ENABLE = 0xa8,
	CMD_AUX_TEST = 0xa9,
	CMD_SELF_TEST = 0xaa,
	CMD_KBD_TEST = 0xab,
	CMD_KBD_DISABLE = 0xad,
	CMD_KBD_ENABLE = 0xae,
	CMD_READ_OUTPUT = 0xd0,
	CMD_WRITE_OUTPUT = 0xd1,
	CMD_WRITE_KBD_OUTBUF = 0xd2,
	CMD_WRITE_AUX_OUTBUF = 0xd3,
	CMD_WRITE_AUX = 0xd4,
	CMD_PULSE_RESET = 0xfe,
};

enum {
	KBD_ACK = 0xfa,
	KBD_RESET = 0xff,
	KBD_GET_ID = 0xf2,
	KBD_ECHO = 0xee,
	KBD_SELF_TEST_OK = 0xaa,
};

/* What AUX_TEST answers: "clock line stuck high", which tells Linux there is no mouse port. */
#define AUX_TEST_NO_PORT 0x02

static void update_irq(struct i8042 *k)
{
	bool level = k->count && (k->ctr & CTR_KBD_INT);
	if (level != k->irq_level) {
		k->irq_level = level;
		if (k->ops && k->ops->set_irq)
			k->ops->set_irq(k->opaque, level);
	}
}

static void queue_byte(struct i8042 *k, uint8_t b)
{
	if (k->count < I8042_QUEUE)
		k->queue[(k->head + k->count++) % I8042_QUEUE] = b;
}

void i8042_init(struct i8042 *k, const struct i8042_ops *ops, void *opaque)
{
	memset(k, 0, sizeof(*k));
	pthread_mutex_init(&k->lock, NULL);
	k->ops = ops;
	k->opaque = opaque;
	i8042_reset(k);
}

void i8042_destroy(struct i8042 *k)
{
	pthread_mutex_destroy(&k->lock);
}

void i8042_reset(struct i8042 *k)
{
	pthread_mutex_lock(&k->lock);
	k->ctr = CTR_KBD_INT | CTR_SYS | CTR_AUX_DISABLE | CTR_XLATE;
	k->pending_cmd = 0;
	k->head = k->count = 0;
	update_irq(k);
	pthread_mutex_unlock(&k->lock);
}

/* A byte for the keyboard itself: it acknowledges everything, and identifies as an MF2 keyboard. */
static void keyboard_write(struct i8042 *k, uint8_t val)
{
	switch (val) {
	case KBD_RESET:
		queue_byte(k, KBD_ACK);
		queue_byte(k, KBD_SELF_TEST_OK);
		break;
	case KBD_GET_ID:
		queue_byte(k, KBD_ACK);
		queue_byte(k, 0xab);
		queue_byte(k, 0x83);
		break;
	case KBD_ECHO:
		queue_byte(k, KBD_ECHO);
		break;
	default:
		queue_byte(k, KBD_ACK);
		break;
	}
}

/* The controller's own answers go through its single output register, replacing whatever sat
 * there; only the keyboard's multi-byte replies queue up behind each other. */
static void controller_reply(struct i8042 *k, uint8_t b)
{
	k->head = k->count = 0;
	queue_byte(k, b);
}

static bool command(struct i8042 *k, uint8_t cmd)
{
	bool reset = false;
	switch (cmd) {
	case CMD_READ_CTR:
		controller_reply(k, k->ctr);
		break;
	case CMD_AUX_DISABLE:
		k->ctr |= CTR_AUX_DISABLE;
		break;
	case CMD_AUX_ENABLE:
		k->ctr &= (uint8_t)~CTR_AUX_DISABLE;
		break;
	case CMD_AUX_TEST:
		controller_reply(k, AUX_TEST_NO_PORT);
		break;
	case CMD_SELF_TEST:
		controller_reply(k, 0x55);
		break;
	case CMD_KBD_TEST:
		controller_reply(k, 0x00);
		break;
	case CMD_KBD_DISABLE:
		k->ctr |= CTR_KBD_DISABLE;
		break;
	case CMD_KBD_ENABLE:
		k->ctr &= (uint8_t)~CTR_KBD_DISABLE;
		break;
	case CMD_READ_OUTPUT:
		controller_reply(k, 0x01); /* reset line high: not in reset */
		break;
	case CMD_WRITE_CTR:
	case CMD_WRITE_OUTPUT:
	case CMD_WRITE_KBD_OUTBUF:
	case CMD_WRITE_AUX_OUTBUF:
	case CMD_WRITE_AUX:
		k->pending_cmd = cmd;
		break;
	case CMD_PULSE_RESET:
		reset = true;
		break;
	default:
		/* 0xf0-0xff pulse output lines; bit 0 clear pulses reset. */
		if (cmd >= 0xf0 && !(cmd & 1))
			reset = true;
		break;
	}
	return reset;
}

static bool data_write(struct i8042 *k, uint8_t val)
{
	uint8_t cmd = k->pending_cmd;
	k->pending_cmd = 0;
	switch (cmd) {
	case CMD_WRITE_CTR:
		k->ctr = val;
		return false;
	case CMD_WRITE_OUTPUT:
		return !(val & 1);
	case CMD_WRITE_KBD_OUTBUF:
		controller_reply(k, val);
		return false;
	case CMD_WRITE_AUX_OUTBUF:
		/* Echoed without the AUX-data status bit: Linux's loopback probe sees at once that
		 * there is no mouse port, instead of waiting half a second for a byte. */
		controller_reply(k, val);
		return false;
	case CMD_WRITE_AUX:
		return false; /* no mouse: the bytes go nowhere */
	default:
		keyboard_write(k, val);
		return false;
	}
}

uint8_t i8042_read_port(struct i8042 *k, uint16_t port)
{
	uint8_t val;
	pthread_mutex_lock(&k->lock);
	if (port == I8042_COMMAND_PORT) {
		val = STATUS_UNLOCK | ((k->ctr & CTR_SYS) ? STATUS_SYS : 0) |
		      (k->count ? STATUS_OBF : 0) | (k->pending_cmd ? STATUS_CMD : 0);
	} else if (k->count) {
		val = k->queue[k->head];
		k->head = (k->head + 1) % I8042_QUEUE;
		k->count--;
	} else {
		val = 0;
	}
	update_irq(k);
	pthread_mutex_unlock(&k->lock);
	return val;
}

void i8042_write_port(struct i8042 *k, uint16_t port, uint8_t val)
{
	pthread_mutex_lock(&k->lock);
	bool reset = port == I8042_COMMAND_PORT ? command(k, val) : data_write(k, val);
	update_irq(k);
	pthread_mutex_unlock(&k->lock);
	if (reset && k->ops && k->ops->reset)
		k->ops->reset(k->opaque);
}

/* One claim covers 0x60-0x64; 0x61 never exits to us (the in-kernel PIT answers it) and
 * 0x62/0x63 are unassigned on a PC. */
static void i8042_bus_read(void *dev, uint64_t offset, uint8_t *data, uint32_t len)
{
	uint16_t port = (uint16_t)(I8042_DATA_PORT + offset);
	if (port == I8042_DATA_PORT || port == I8042_COMMAND_PORT)
		data[0] = i8042_read_port(dev, port);
	else
		data[0] = 0xff;
	memset(data + 1, 0xff, len - 1);
}

static void i8042_bus_write(void *dev, uint64_t offset, const uint8_t *data, uint32_t len)
{
	(void)len;
	uint16_t port = (uint16_t)(I8042_DATA_PORT + offset);
	if (port == I8042_DATA_PORT || port == I8042_COMMAND_PORT)
		i8042_write_port(dev, port, data[0]);
}

static const struct bus_ops i8042_bus_ops = {.read = i8042_bus_read, .write = i8042_bus_write};

int i8042_register(struct i8042 *k, struct bus *pio)
{
	return bus_register(pio, I8042_DATA_PORT, I8042_COMMAND_PORT - I8042_DATA_PORT + 1,
			    &i8042_bus_ops, k, "i8042");
}
