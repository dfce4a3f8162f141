/* A 16550A UART: the guest's console.
 *
 * Two properties matter more than the rest, both learned from peers' bugs:
 * - LSR resets to 0x60 (transmitter empty). A zero there makes Linux wait for a transmitter that
 *   never drains and stalls boot for seconds (Cloud Hypervisor #163).
 * - The interrupt output is a level computed from the registers and re-evaluated after every
 *   access, IER writes and IIR reads included. Linux masks IER while printing to the console; an
 *   edge fired only "when data arrives" is lost in that window and so is the typed input
 *   (rust-vmm/vm-superio#135). Re-raising when IER is restored delivers it.
 * Transmission is instant while the host takes bytes; when it cannot (a console nobody reads),
 * THR stays full and the guest waits on LSR or the THR-empty interrupt, as with a real line. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/bus.h"

#define SERIAL_COM1_BASE 0x3f8
#define SERIAL_COM1_IRQ	 4
#define SERIAL_NREGS	 8
#define SERIAL_FIFO_SIZE 16

/* Register offsets (DLAB selects divisor latches at 0 and 1). */
enum {
	UART_RBR_THR = 0,
	UART_IER = 1,
	UART_IIR_FCR = 2,
	UART_LCR = 3,
	UART_MCR = 4,
	UART_LSR = 5,
	UART_MSR = 6,
	UART_SCR = 7,
};

#define UART_IER_RDI  0x01
#define UART_IER_THRI 0x02
#define UART_IER_RLSI 0x04
#define UART_IER_MSI  0x08

#define UART_IIR_NO_INT 0x01
#define UART_IIR_MSI	0x00
#define UART_IIR_THRI	0x02
#define UART_IIR_RDI	0x04
#define UART_IIR_FIFO	0xc0

#define UART_FCR_ENABLE	    0x01
#define UART_FCR_CLEAR_RCV  0x02
#define UART_FCR_CLEAR_XMIT 0x04

#define UART_LCR_DLAB 0x80
#define UART_MCR_LOOP 0x10

#define UART_LSR_DR   0x01
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40

#define UART_MSR_CTS 0x10
#define UART_MSR_DSR 0x20
#define UART_MSR_RI  0x40
#define UART_MSR_DCD 0x80

struct serial_ops {
	/* The guest wrote a byte. false: the host side has no room now; the UART keeps the byte
	 * in its transmit FIFO and shows the transmitter busy until serial_tx_ready. */
	bool (*tx)(void *opaque, uint8_t byte);
	void (*set_irq)(void *opaque, bool level); /* called only when the level changes */
	void (*rx_ready)(void *opaque);		   /* the guest made room for more input */
};

struct serial {
	pthread_mutex_t lock;
	const struct serial_ops *ops;
	void *opaque;

	uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
	bool thre_pending; /* THR-empty interrupt latched until IIR read or THR write */
	/* Bytes the host refused, oldest first; THR is empty only when there are none. Linux
	 * writes up to a FIFO's worth per THR-empty interrupt without reading LSR in between. */
	uint8_t tx[SERIAL_FIFO_SIZE];
	unsigned tx_head, tx_count;
	uint64_t tx_dropped; /* written into a full transmit FIFO (a real UART overruns too) */
	bool irq_level;
	uint8_t rx[SERIAL_FIFO_SIZE];
	unsigned rx_head, rx_count;
};

void serial_init(struct serial *s, const struct serial_ops *ops, void *opaque);
void serial_destroy(struct serial *s);
/* Power-on state: LSR 0x60, interrupts off, FIFO empty. */
void serial_reset(struct serial *s);

uint8_t serial_read_reg(struct serial *s, unsigned reg);
void serial_write_reg(struct serial *s, unsigned reg, uint8_t val);

/* Feeds host input to the guest. Takes as many bytes as the receive FIFO has room for and
 * returns that count; the rest must wait for rx_ready, so input is never dropped. */
size_t serial_rx_push(struct serial *s, const uint8_t *buf, size_t len);
size_t serial_rx_space(struct serial *s);
/* The host side has room again: the transmit FIFO goes out, and once it is empty THR is
 * empty (and interrupts). */
void serial_tx_ready(struct serial *s);

extern const struct bus_ops serial_bus_ops;
