/* The 16550A UART (devices/serial.c) as the guest reaches it, through its eight ports on the
 * port bus at any width, interleaved with what the host side does: input pushed, the console
 * refusing bytes and then taking them again. Checked: the interrupt line changes at every
 * set_irq call (serial.h's promise), the FIFOs stay within their 16 bytes, and every byte the
 * host accepted was one the guest wrote, in order.
 *
 * Input: operations of (op, register, value) and host-side events. */
#include "devices/serial.h"
#include "fuzz.h"

struct host {
	bool refuse;
	bool level;
	unsigned irq_calls;
	uint8_t sent[64]; /* the last bytes the host took, for the order check */
	unsigned nsent;
};

static struct host host;
static struct serial uart;
static struct bus pio;

/* Bytes the guest wrote that may still reach the host, in order (a ring of the last 256). */
static uint8_t written[256];
static unsigned nwritten, next_out;

static bool host_tx(void *opaque, uint8_t byte)
{
	struct host *h = opaque;
	if (h->refuse)
		return false;
	/* In order: each byte taken is one written, no earlier one skipped unless dropped. */
	bool found = false;
	while (next_out < nwritten) {
		if (written[next_out++ % sizeof(written)] == byte) {
			found = true;
			break;
		}
	}
	FUZZ_CHECK(found);
	h->sent[h->nsent++ % sizeof(h->sent)] = byte;
	return true;
}

static void host_irq(void *opaque, bool level)
{
	struct host *h = opaque;
	FUZZ_CHECK(level != h->level); /* called only when the level changes */
	h->level = level;
	h->irq_calls++;
}

static void host_rx_ready(void *opaque)
{
	(void)opaque;
}

static const struct serial_ops ops = {
    .tx = host_tx, .set_irq = host_irq, .rx_ready = host_rx_ready};

static void check_state(void)
{
	FUZZ_CHECK(uart.tx_count <= SERIAL_FIFO_SIZE && uart.rx_count <= SERIAL_FIFO_SIZE);
	FUZZ_CHECK(uart.tx_head < SERIAL_FIFO_SIZE && uart.rx_head < SERIAL_FIFO_SIZE);
	FUZZ_CHECK(serial_rx_space(&uart) <= SERIAL_FIFO_SIZE);
	FUZZ_CHECK(uart.irq_level == host.level);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	memset(&host, 0, sizeof(host));
	nwritten = next_out = 0;
	serial_init(&uart, &ops, &host);
	bus_init(&pio, BUS_PIO);
	if (bus_register(&pio, SERIAL_COM1_BASE, SERIAL_NREGS, &serial_bus_ops, &uart, "serial") <
	    0)
		abort();

	while (fuzz_more(&in)) {
		uint8_t op = fuzz_u8(&in);
		unsigned reg = (op >> 3) & 7, len = fuzz_width(op >> 6);
		switch (op & 7) {
		case 0:
		case 1: { /* a guest read */
			uint8_t b[8];
			bus_access(&pio, SERIAL_COM1_BASE + reg, b, len, false);
			break;
		}
		case 2:
		case 3: { /* a guest write; what reaches THR is remembered for the order check */
			uint8_t b[8] = {fuzz_u8(&in)};
			bool thr = reg == UART_RBR_THR && !(uart.lcr & UART_LCR_DLAB) &&
				   !(uart.mcr & UART_MCR_LOOP);
			uint64_t dropped = uart.tx_dropped;
			if (thr)
				written[nwritten++ % sizeof(written)] = b[0];
			bus_access(&pio, SERIAL_COM1_BASE + reg, b, len, true);
			if (thr && uart.tx_dropped != dropped)
				nwritten--; /* a full FIFO: never sent, as on a real UART */
			/* What is live (held in the FIFO) is among the newest 16 remembered. */
			if (nwritten - next_out > sizeof(written))
				next_out = nwritten - (unsigned)sizeof(written);
			break;
		}
		case 4: { /* host input */
			size_t n;
			const uint8_t *p = fuzz_bytes(&in, fuzz_u8(&in) % 32, &n);
			size_t room = serial_rx_space(&uart);
			size_t took = serial_rx_push(&uart, p, n);
			FUZZ_CHECK(took <= n && took <= room);
			break;
		}
		case 5: /* the console stops taking output, or takes it again */
			host.refuse = op & 0x80;
			if (!host.refuse)
				serial_tx_ready(&uart);
			break;
		case 6:
			serial_reset(&uart);
			break;
		default: { /* a port around the UART's: not its to answer */
			uint8_t b[8] = {0};
			bus_access(&pio, SERIAL_COM1_BASE + SERIAL_NREGS + reg, b, len, op & 0x80);
			break;
		}
		}
		check_state();
	}

	bus_destroy(&pio);
	serial_destroy(&uart);
	return 0;
}
