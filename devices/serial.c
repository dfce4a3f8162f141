#include "serial.h"

#include <string.h>

static unsigned rx_capacity(const struct serial *s)
{
	/* With the FIFO off the 16550A behaves as a 16450: one holding register. */
	return (s->fcr & UART_FCR_ENABLE) ? SERIAL_FIFO_SIZE : 1;
}

static uint8_t compute_iir(const struct serial *s)
{
	uint8_t fifo = (s->fcr & UART_FCR_ENABLE) ? UART_IIR_FIFO : 0;
	if ((s->ier & UART_IER_RDI) && s->rx_count)
		return fifo | UART_IIR_RDI;
	if ((s->ier & UART_IER_THRI) && s->thre_pending)
		return fifo | UART_IIR_THRI;
	/* Modem status never changes (the line is always up), so no MSI source. */
	return fifo | UART_IIR_NO_INT;
}

/* The one place the interrupt output is decided, called after every register access. */
static void update_irq(struct serial *s)
{
	bool level = !(compute_iir(s) & UART_IIR_NO_INT);
	/* OUT2 gates the interrupt onto the bus on a PC, but Linux sets it once at open; honouring
	 * it would only add a way to lose interrupts before then. */
	if (level != s->irq_level) {
		s->irq_level = level;
		if (s->ops && s->ops->set_irq)
			s->ops->set_irq(s->opaque, level);
	}
}

static uint8_t modem_status(const struct serial *s)
{
	if (!(s->mcr & UART_MCR_LOOP))
		return UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;
	/* Loopback wires the modem outputs back to the inputs; Linux's probe checks for it. */
	uint8_t msr = 0;
	if (s->mcr & 0x01)
		msr |= UART_MSR_DSR; /* DTR */
	if (s->mcr & 0x02)
		msr |= UART_MSR_CTS; /* RTS */
	if (s->mcr & 0x04)
		msr |= UART_MSR_RI; /* OUT1 */
	if (s->mcr & 0x08)
		msr |= UART_MSR_DCD; /* OUT2 */
	return msr;
}

/* Transmission is instant while the host takes bytes: THR and the shift register are empty
 * unless it refused some. Even then only an interrupt-driven driver (THRI on) is told: one that
 * polls LSR does so with interrupts off for up to 10 ms a byte (Linux's printk path), so it
 * sees a line that drops what overflows the FIFO, as a dead one would, instead of stalling. */
static bool tx_busy(const struct serial *s)
{
	return s->tx_count && (s->ier & UART_IER_THRI);
}

static void tx_hold(struct serial *s, uint8_t byte)
{
	if (s->tx_count == SERIAL_FIFO_SIZE) {
		s->tx_dropped++; /* more than the FIFO holds, written without waiting */
		return;
	}
	s->tx[(s->tx_head + s->tx_count) % SERIAL_FIFO_SIZE] = byte;
	s->tx_count++;
}

static void rx_clear(struct serial *s)
{
	s->rx_head = s->rx_count = 0;
}

static void rx_append(struct serial *s, uint8_t byte)
{
	if (s->rx_count >= rx_capacity(s))
		return; /* overrun: only reachable in loopback, where the guest sends to itself */
	s->rx[(s->rx_head + s->rx_count) % SERIAL_FIFO_SIZE] = byte;
	s->rx_count++;
}

/* Room for host input; in loopback the receiver listens to the transmitter, not the host. */
static size_t rx_space(const struct serial *s)
{
	return (s->mcr & UART_MCR_LOOP) ? 0 : rx_capacity(s) - s->rx_count;
}

/* Any register access can make room (reading RBR, clearing the FIFO, leaving loopback); the
 * host's pending input waits for exactly this, so every path that grows the space reports it. */
static void finish_access(struct serial *s, size_t space_before)
{
	size_t space_after = rx_space(s);
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
	if (space_after > space_before && s->ops && s->ops->rx_ready)
		s->ops->rx_ready(s->opaque);
}

void serial_init(struct serial *s, const struct serial_ops *ops, void *opaque)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->ops = ops;
	s->opaque = opaque;
	serial_reset(s);
}

void serial_destroy(struct serial *s)
{
	pthread_mutex_destroy(&s->lock);
}

void serial_reset(struct serial *s)
{
	pthread_mutex_lock(&s->lock);
	size_t space = rx_space(s);
	s->ier = s->lcr = s->mcr = s->scr = s->fcr = s->dlm = 0;
	s->dll = 12; /* 9600 baud */
	s->thre_pending = false;
	s->tx_head = s->tx_count = 0;
	rx_clear(s);
	finish_access(s, space);
}

uint8_t serial_read_reg(struct serial *s, unsigned reg)
{
	uint8_t val = 0xff;
	pthread_mutex_lock(&s->lock);
	size_t space = rx_space(s);
	switch (reg) {
	case UART_RBR_THR:
		if (s->lcr & UART_LCR_DLAB) {
			val = s->dll;
		} else if (s->rx_count) {
			val = s->rx[s->rx_head];
			s->rx_head = (s->rx_head + 1) % SERIAL_FIFO_SIZE;
			s->rx_count--;
		} else {
			val = 0;
		}
		break;
	case UART_IER:
		val = (s->lcr & UART_LCR_DLAB) ? s->dlm : s->ier;
		break;
	case UART_IIR_FCR:
		val = compute_iir(s);
		/* Reading IIR while it reports THR-empty acknowledges that interrupt. */
		if ((val & 0x0f) == UART_IIR_THRI)
			s->thre_pending = false;
		break;
	case UART_LCR:
		val = s->lcr;
		break;
	case UART_MCR:
		val = s->mcr;
		break;
	case UART_LSR:
		val = (tx_busy(s) ? 0 : UART_LSR_THRE | UART_LSR_TEMT) |
		      (s->rx_count ? UART_LSR_DR : 0);
		break;
	case UART_MSR:
		val = modem_status(s);
		break;
	case UART_SCR:
		val = s->scr;
		break;
	}
	finish_access(s, space);
	return val;
}

void serial_write_reg(struct serial *s, unsigned reg, uint8_t val)
{
	pthread_mutex_lock(&s->lock);
	size_t space = rx_space(s);
	switch (reg) {
	case UART_RBR_THR:
		if (s->lcr & UART_LCR_DLAB) {
			s->dll = val;
		} else {
			if (s->mcr & UART_MCR_LOOP) {
				rx_append(s, val);
			} else if (s->tx_count ||
				   (s->ops && s->ops->tx && !s->ops->tx(s->opaque, val))) {
				tx_hold(s, val); /* behind what the host refused before */
			}
			s->thre_pending = !s->tx_count;
		}
		break;
	case UART_IER:
		if (s->lcr & UART_LCR_DLAB) {
			s->dlm = val;
		} else {
			/* Enabling the THR interrupt while THR is empty raises it at once; Linux's
			 * startup code tests for exactly this. */
			if ((val & UART_IER_THRI) && !(s->ier & UART_IER_THRI) && !s->tx_count)
				s->thre_pending = true;
			s->ier = val & 0x0f;
		}
		break;
	case UART_IIR_FCR:
		if ((val ^ s->fcr) & UART_FCR_ENABLE)
			rx_clear(s);
		if (val & UART_FCR_CLEAR_RCV)
			rx_clear(s);
		if (val & UART_FCR_CLEAR_XMIT) {
			s->tx_head = s->tx_count = 0; /* what the host refused is dropped */
			s->thre_pending = true;
		}
		s->fcr = val & 0xc9; /* enable, DMA mode and trigger level persist */
		break;
	case UART_LCR:
		s->lcr = val;
		break;
	case UART_MCR:
		s->mcr = val & 0x1f;
		break;
	case UART_SCR:
		s->scr = val;
		break;
	default: /* LSR and MSR are read-only */
		break;
	}
	finish_access(s, space);
}

size_t serial_rx_space(struct serial *s)
{
	pthread_mutex_lock(&s->lock);
	size_t space = rx_space(s);
	pthread_mutex_unlock(&s->lock);
	return space;
}

size_t serial_rx_push(struct serial *s, const uint8_t *buf, size_t len)
{
	size_t n = 0;
	pthread_mutex_lock(&s->lock);
	/* In loopback the receiver is wired to the transmitter, not the outside world. */
	if (!(s->mcr & UART_MCR_LOOP))
		for (; n < len && s->rx_count < rx_capacity(s); n++)
			rx_append(s, buf[n]);
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return n;
}

void serial_tx_ready(struct serial *s)
{
	pthread_mutex_lock(&s->lock);
	bool had = s->tx_count;
	while (s->tx_count && s->ops->tx(s->opaque, s->tx[s->tx_head])) {
		s->tx_head = (s->tx_head + 1) % SERIAL_FIFO_SIZE;
		s->tx_count--;
	}
	if (had && !s->tx_count) {
		s->thre_pending = true;
		update_irq(s);
	}
	pthread_mutex_unlock(&s->lock);
}

static void serial_bus_read(void *dev, uint64_t offset, uint8_t *data, uint32_t len)
{
	data[0] = serial_read_reg(dev, (unsigned)offset);
	memset(data + 1, 0xff, len - 1);
}

static void serial_bus_write(void *dev, uint64_t offset, const uint8_t *data, uint32_t len)
{
	(void)len; /* the UART's registers are a byte wide; wider writes land their low byte */
	serial_write_reg(dev, (unsigned)offset, data[0]);
}

const struct bus_ops serial_bus_ops = {.read = serial_bus_read, .write = serial_bus_write};
