/* The 16550A UART, driven as a guest driver would, with fake ops recording what reaches the host
 * (transmitted bytes, every interrupt level change, rx_ready notifications). */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "devices/serial.h"
#include "unit.h"

struct rec {
	uint8_t tx[256];
	int ntx;
	bool level[256];
	int nlevel;
	int rx_ready;
	bool refuse; /* the host side has no room */
};

static struct rec rec;
static struct serial s;

static bool rec_tx(void *opaque, uint8_t byte)
{
	struct rec *r = opaque;
	if (r->refuse)
		return false;
	ck_assert_int_lt(r->ntx, (int)sizeof(r->tx));
	r->tx[r->ntx++] = byte;
	return true;
}

static void rec_irq(void *opaque, bool level)
{
	struct rec *r = opaque;
	ck_assert_int_lt(r->nlevel, (int)sizeof(r->level));
	r->level[r->nlevel++] = level;
}

static void rec_rx_ready(void *opaque)
{
	((struct rec *)opaque)->rx_ready++;
}

static const struct serial_ops rec_ops = {
    .tx = rec_tx, .set_irq = rec_irq, .rx_ready = rec_rx_ready};

static void setup(void)
{
	memset(&rec, 0, sizeof(rec));
	serial_init(&s, &rec_ops, &rec);
}

static void teardown(void)
{
	serial_destroy(&s);
}

static bool irq(void)
{
	return rec.nlevel ? rec.level[rec.nlevel - 1] : false;
}

static int rising_edges(void)
{
	int n = 0;
	for (int i = 0; i < rec.nlevel; i++)
		n += rec.level[i];
	return n;
}

/* set_irq is documented to be called only on a change: levels must alternate, starting high. */
static void check_level_changes(void)
{
	for (int i = 0; i < rec.nlevel; i++)
		ck_assert_msg(rec.level[i] == (i % 2 == 0), "set_irq call %d repeats level %d", i,
			      rec.level[i]);
}

#define RD(reg)	     serial_read_reg(&s, (reg))
#define WR(reg, val) serial_write_reg(&s, (reg), (val))

START_TEST(test_reset_state)
{
	ck_assert_uint_eq(RD(UART_LSR), 0x60); /* THRE | TEMT, exactly */
	ck_assert_uint_eq(RD(UART_IIR_FCR), 0x01);
	uint8_t msr = RD(UART_MSR);
	ck_assert_uint_eq(msr & (UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS),
			  UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS);
	ck_assert_uint_eq(RD(UART_IER), 0);
	ck_assert(!irq());
}
END_TEST

START_TEST(test_lsr_after_reset)
{
	/* trap (a): LSR must read 0x60 after reset whatever happened before */
	WR(UART_IIR_FCR, UART_FCR_ENABLE);
	WR(UART_IER, 0x0f);
	WR(UART_RBR_THR, 'x');
	ck_assert_uint_eq(RD(UART_LSR), 0x60); /* transmit is instant: still empty */
	ck_assert_uint_eq(serial_rx_push(&s, (const uint8_t *)"abc", 3), 3);
	ck_assert_uint_eq(RD(UART_LSR), 0x61); /* data ready */
	WR(UART_MCR, 0x1f);
	WR(UART_LCR, 0x83);
	WR(UART_SCR, 0x77);
	serial_reset(&s);
	ck_assert_uint_eq(RD(UART_LSR), 0x60);
	ck_assert_uint_eq(RD(UART_IIR_FCR), 0x01);
	ck_assert_uint_eq(RD(UART_IER), 0);
	ck_assert_uint_eq(RD(UART_LCR), 0);
	ck_assert(!irq());
	check_level_changes();
}
END_TEST

START_TEST(test_thr_transmits)
{
	WR(UART_LCR, 0x03);
	WR(UART_RBR_THR, 'h');
	WR(UART_RBR_THR, 'i');
	WR(UART_RBR_THR, 0);
	ck_assert_int_eq(rec.ntx, 3);
	ck_assert_mem_eq(rec.tx, "hi\0", 3);
	ck_assert_uint_eq(RD(UART_LSR), 0x60);
	ck_assert(!irq()); /* THRI not enabled */
}
END_TEST

START_TEST(test_thri)
{
	WR(UART_IER, UART_IER_THRI);
	ck_assert(irq());
	ck_assert_int_eq(rising_edges(), 1);
	ck_assert_uint_eq(RD(UART_IIR_FCR), 0x02);
	/* that read acknowledged it */
	ck_assert(!irq());
	ck_assert_uint_eq(RD(UART_IIR_FCR), 0x01);
	/* THR empties again after each byte sent: interrupt again */
	WR(UART_RBR_THR, 'A');
	ck_assert(irq());
	ck_assert_uint_eq(RD(UART_IIR_FCR), 0x02);
	ck_assert(!irq());
	ck_assert_int_eq(rec.ntx, 1);
	check_level_changes();
}
END_TEST

/* A host side that takes no more (a console nobody reads): what the guest writes waits in the
 * transmit FIFO, THR shows full in LSR and raises no THR-empty interrupt; once there is room
 * the FIFO goes out in order, THR empties and interrupts. Only writes past the FIFO's 16 bytes
 * are lost, as on a real UART. */
START_TEST(test_tx_backpressure)
{
	WR(UART_IIR_FCR, UART_FCR_ENABLE);
	WR(UART_IER, UART_IER_THRI);
	ck_assert_uint_eq(RD(UART_IIR_FCR) & 0x0f, 0x02); /* the enable-time interrupt, read */
	rec.refuse = true;
	/* Linux's THRE handler writes a FIFO's worth without looking at LSR. */
	for (int i = 0; i < SERIAL_FIFO_SIZE; i++)
		WR(UART_RBR_THR, (uint8_t)('a' + i));
	ck_assert_uint_eq(RD(UART_LSR) & (UART_LSR_THRE | UART_LSR_TEMT), 0);
	ck_assert(!irq());
	ck_assert_uint_eq(s.tx_dropped, 0);
	WR(UART_RBR_THR, '!'); /* one more than it holds: overrun */
	ck_assert_uint_eq(s.tx_dropped, 1);
	serial_tx_ready(&s); /* still no room */
	ck_assert(!irq());
	ck_assert_int_eq(rec.ntx, 0);
	rec.refuse = false;
	serial_tx_ready(&s);
	ck_assert_int_eq(rec.ntx, SERIAL_FIFO_SIZE);
	ck_assert_mem_eq(rec.tx, "abcdefghijklmnop", SERIAL_FIFO_SIZE);
	ck_assert_uint_eq(RD(UART_LSR), 0x60);
	ck_assert(irq());
	ck_assert_uint_eq(RD(UART_IIR_FCR) & 0x0f, 0x02);
	ck_assert(!irq());
	/* Nothing held: a ready call changes nothing. */
	serial_tx_ready(&s);
	ck_assert(!irq());
	ck_assert_int_eq(rec.ntx, SERIAL_FIFO_SIZE);
	check_level_changes();
}
END_TEST

/* Bytes written after a refusal queue behind it even if the host would take them: order holds. */
START_TEST(test_tx_order_after_refusal)
{
	rec.refuse = true;
	WR(UART_RBR_THR, '1');
	rec.refuse = false;
	WR(UART_RBR_THR, '2');
	ck_assert_int_eq(rec.ntx, 0);
	serial_tx_ready(&s);
	ck_assert_int_eq(rec.ntx, 2);
	ck_assert_mem_eq(rec.tx, "12", 2);
}
END_TEST

/* A driver that polls LSR with interrupts off (Linux's printk path) is never told to wait: it
 * would spin 10 ms a byte with interrupts off. Bytes past the FIFO are dropped instead. Turning
 * THRI on shows the held bytes as a full THR, and raises nothing until they are out; a reset
 * empties THR. */
START_TEST(test_tx_busy_thri_and_reset)
{
	rec.refuse = true;
	for (int i = 0; i < SERIAL_FIFO_SIZE + 3; i++)
		WR(UART_RBR_THR, 'a');
	ck_assert_uint_eq(RD(UART_LSR), 0x60);
	ck_assert_uint_eq(s.tx_dropped, 3);
	WR(UART_IER, UART_IER_THRI);
	ck_assert_uint_eq(RD(UART_LSR) & (UART_LSR_THRE | UART_LSR_TEMT), 0);
	ck_assert(!irq());
	serial_reset(&s);
	ck_assert_uint_eq(RD(UART_LSR), 0x60);
	rec.refuse = false;
	serial_tx_ready(&s);
	ck_assert_int_eq(rec.ntx, 0); /* the reset dropped them */
}
END_TEST

/* FCR's transmit-FIFO clear (Linux does it at open and close) drops what waits and empties THR. */
START_TEST(test_tx_fifo_clear)
{
	WR(UART_IER, UART_IER_THRI);
	ck_assert_uint_eq(RD(UART_IIR_FCR) & 0x0f, 0x02);
	rec.refuse = true;
	WR(UART_RBR_THR, 'a');
	ck_assert(!irq());
	WR(UART_IIR_FCR, UART_FCR_ENABLE | UART_FCR_CLEAR_XMIT);
	ck_assert_uint_eq(RD(UART_LSR), 0x60);
	ck_assert(irq());
	rec.refuse = false;
	serial_tx_ready(&s);
	ck_assert_int_eq(rec.ntx, 0);
}
END_TEST

START_TEST(test_dlab)
{
	WR(UART_LCR, UART_LCR_DLAB | 0x03);
	WR(UART_RBR_THR, 0x01); /* 115200 baud */
	WR(UART_IER, 0x00);
	ck_assert_int_eq(rec.ntx, 0);
	ck_assert_uint_eq(RD(UART_RBR_THR), 0x01);
	ck_assert_uint_eq(RD(UART_IER), 0x00);
	WR(UART_IER, 0x5a);
	ck_assert_uint_eq(RD(UART_IER), 0x5a);
	WR(UART_LCR, 0x03);
	ck_assert_uint_eq(RD(UART_IER), 0); /* the divisor write did not touch IER */
	ck_assert(!irq());
	WR(UART_RBR_THR, 'Z');
	ck_assert_int_eq(rec.ntx, 1);
	ck_assert_uint_eq(rec.tx[0], 'Z');
	/* the divisor survived */
	WR(UART_LCR, UART_LCR_DLAB | 0x03);
	ck_assert_uint_eq(RD(UART_RBR_THR), 0x01);
	ck_assert_uint_eq(RD(UART_IER), 0x5a);
}
END_TEST

START_TEST(test_scratch)
{
	WR(UART_SCR, 0xa5);
	ck_assert_uint_eq(RD(UART_SCR), 0xa5);
	WR(UART_SCR, 0x5a);
	ck_assert_uint_eq(RD(UART_SCR), 0x5a);
	ck_assert_int_eq(rec.ntx, 0);
}
END_TEST

START_TEST(test_fifo_iir_bits)
{
	WR(UART_IIR_FCR, UART_FCR_ENABLE);
	ck_assert_uint_eq(RD(UART_IIR_FCR) & 0xc0, 0xc0); /* how Linux tells a 16550A */
	ck_assert_uint_eq(RD(UART_IIR_FCR) & 0x0f, 0x01);
	WR(UART_IIR_FCR, 0);
	ck_assert_uint_eq(RD(UART_IIR_FCR) & 0xc0, 0);
}
END_TEST

START_TEST(test_loopback)
{
	WR(UART_IIR_FCR, UART_FCR_ENABLE);
	WR(UART_MCR, UART_MCR_LOOP | 0x0a); /* RTS -> CTS, OUT2 -> DCD */
	ck_assert_uint_eq(RD(UART_MSR) & 0xf0, 0x90);
	WR(UART_RBR_THR, 'L');
	WR(UART_RBR_THR, 'P');
	ck_assert_int_eq(rec.ntx, 0);
	ck_assert_uint_eq(RD(UART_LSR) & UART_LSR_DR, UART_LSR_DR);
	ck_assert_uint_eq(RD(UART_RBR_THR), 'L');
	ck_assert_uint_eq(RD(UART_RBR_THR), 'P');
	ck_assert_uint_eq(RD(UART_LSR), 0x60);
	/* host input is not the receiver's source in loopback */
	ck_assert_uint_eq(serial_rx_push(&s, (const uint8_t *)"q", 1), 0);
	WR(UART_MCR, 0x0b);
	ck_assert_uint_eq(RD(UART_MSR) & 0xb0, UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS);
	WR(UART_RBR_THR, 'T');
	ck_assert_int_eq(rec.ntx, 1);
}
END_TEST

START_TEST(test_masked_input_not_lost)
{
	/* trap (b): Linux masks IER while printing; input arriving meanwhile must raise the line
	 * again once IER is restored, and nothing may be dropped */
	WR(UART_IIR_FCR, UART_FCR_ENABLE);
	WR(UART_IER, UART_IER_RDI);
	ck_assert(!irq());
	ck_assert_uint_eq(serial_rx_push(&s, (const uint8_t *)"abc", 3), 3);
	ck_assert(irq());
	ck_assert_uint_eq(RD(UART_IIR_FCR) & 0x0f, UART_IIR_RDI);
	WR(UART_IER, 0);
	ck_assert(!irq());
	ck_assert_uint_eq(serial_rx_push(&s, (const uint8_t *)"def", 3), 3);
	ck_assert(!irq());
	ck_assert_int_eq(rising_edges(), 1);
	WR(UART_IER, UART_IER_RDI);
	ck_assert(irq());
	ck_assert_int_eq(rising_edges(), 2);
	char got[7] = {0};
	for (int i = 0; i < 6; i++) {
		ck_assert_uint_eq(RD(UART_LSR) & UART_LSR_DR, UART_LSR_DR);
		got[i] = (char)RD(UART_RBR_THR);
	}
	ck_assert_str_eq(got, "abcdef");
	ck_assert(!irq());
	ck_assert_uint_eq(RD(UART_LSR), 0x60);
	check_level_changes();
}
END_TEST

START_TEST(test_rx_push_fifo_on)
{
	uint8_t in[20];
	for (int i = 0; i < 20; i++)
		in[i] = (uint8_t)('A' + i);
	WR(UART_IIR_FCR, UART_FCR_ENABLE);
	/* Turning the FIFO on grows the room from 1 to 16 bytes: that is announced too. */
	ck_assert_int_eq(rec.rx_ready, 1);
	rec.rx_ready = 0;
	ck_assert_uint_eq(serial_rx_space(&s), 16);
	ck_assert_uint_eq(serial_rx_push(&s, in, 20), 16);
	ck_assert_uint_eq(serial_rx_space(&s), 0);
	ck_assert_uint_eq(serial_rx_push(&s, in + 16, 4), 0);
	for (int i = 0; i < 4; i++)
		ck_assert_uint_eq(RD(UART_RBR_THR), in[i]);
	ck_assert_int_eq(rec.rx_ready, 4);
	ck_assert_uint_eq(serial_rx_push(&s, in + 16, 4), 4);
	for (int i = 4; i < 20; i++)
		ck_assert_uint_eq(RD(UART_RBR_THR), in[i]);
	ck_assert_int_eq(rec.rx_ready, 20);
	RD(UART_RBR_THR); /* empty: no room was made */
	ck_assert_int_eq(rec.rx_ready, 20);
}
END_TEST

START_TEST(test_rx_push_fifo_off)
{
	ck_assert_uint_eq(serial_rx_push(&s, (const uint8_t *)"xyz", 3), 1);
	ck_assert_uint_eq(serial_rx_push(&s, (const uint8_t *)"yz", 2), 0);
	ck_assert_int_eq(rec.rx_ready, 0);
	ck_assert_uint_eq(RD(UART_RBR_THR), 'x');
	ck_assert_int_eq(rec.rx_ready, 1);
	ck_assert_uint_eq(serial_rx_push(&s, (const uint8_t *)"yz", 2), 1);
	ck_assert_uint_eq(RD(UART_RBR_THR), 'y');
	ck_assert_uint_eq(serial_rx_push(&s, (const uint8_t *)"z", 1), 1);
	ck_assert_uint_eq(RD(UART_RBR_THR), 'z');
	ck_assert_int_eq(rec.rx_ready, 3);
}
END_TEST

/* Regression: a guest FIFO reset (FCR with CLEAR_RCV, or toggling FCR ENABLE, which Linux's
 * serial8250_clear_fifos does whenever the port is opened) emptied the receive FIFO without
 * calling rx_ready. console_loop() only retries its pending input on rx_ready, and with an
 * empty FIFO the guest has nothing to read that would fire it: typed input stalls for good.
 * Case: FIFO on, push 20 bytes (16 taken), guest writes FCR = 0x07 -> rx_ready count stayed 0. */
START_TEST(test_fifo_clear_signals_room)
{
	uint8_t in[20];
	memset(in, 'k', sizeof(in));
	WR(UART_IIR_FCR, UART_FCR_ENABLE);
	ck_assert_uint_eq(serial_rx_push(&s, in, sizeof(in)), 16);
	ck_assert_uint_eq(serial_rx_space(&s), 0);
	WR(UART_IIR_FCR, UART_FCR_ENABLE | UART_FCR_CLEAR_RCV | 0x04);
	ck_assert_uint_eq(serial_rx_space(&s), 16);
	ck_assert_msg(rec.rx_ready > 0, "FIFO cleared by the guest, rx_ready never called");
}
END_TEST

/* Regression, same stall: in loopback serial_rx_space() is 0 and serial_rx_push()
 * takes nothing (Linux's probe does this at boot); leaving loopback makes room without rx_ready.
 * Case: MCR = 0x10, push "a" -> 0 taken, MCR = 0x0b -> space 1, rx_ready count stayed 0. */
START_TEST(test_loopback_exit_signals_room)
{
	WR(UART_MCR, UART_MCR_LOOP);
	ck_assert_uint_eq(serial_rx_push(&s, (const uint8_t *)"a", 1), 0);
	WR(UART_MCR, 0x0b);
	ck_assert_uint_eq(serial_rx_space(&s), 1);
	ck_assert_msg(rec.rx_ready > 0, "left loopback, rx_ready never called");
}
END_TEST

START_TEST(test_via_bus)
{
	struct bus pio;
	bus_init(&pio, BUS_PIO);
	ck_assert_int_eq(
	    bus_register(&pio, SERIAL_COM1_BASE, SERIAL_NREGS, &serial_bus_ops, &s, "com1"), 0);
	uint8_t v = 0;
	ck_assert(bus_access(&pio, SERIAL_COM1_BASE + UART_LSR, &v, 1, false));
	ck_assert_uint_eq(v, 0x60);
	v = 'B';
	ck_assert(bus_access(&pio, SERIAL_COM1_BASE, &v, 1, true));
	ck_assert_int_eq(rec.ntx, 1);
	ck_assert_uint_eq(rec.tx[0], 'B');
	bus_destroy(&pio);
}
END_TEST

static Suite *serial_suite(void)
{
	Suite *su = suite_create("serial");
	TCase *tc = tcase_create("uart");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_reset_state);
	tcase_add_test(tc, test_lsr_after_reset);
	tcase_add_test(tc, test_thr_transmits);
	tcase_add_test(tc, test_thri);
	tcase_add_test(tc, test_tx_backpressure);
	tcase_add_test(tc, test_tx_order_after_refusal);
	tcase_add_test(tc, test_tx_busy_thri_and_reset);
	tcase_add_test(tc, test_tx_fifo_clear);
	tcase_add_test(tc, test_dlab);
	tcase_add_test(tc, test_scratch);
	tcase_add_test(tc, test_fifo_iir_bits);
	tcase_add_test(tc, test_loopback);
	tcase_add_test(tc, test_masked_input_not_lost);
	tcase_add_test(tc, test_rx_push_fifo_on);
	tcase_add_test(tc, test_rx_push_fifo_off);
	tcase_add_test(tc, test_fifo_clear_signals_room);
	tcase_add_test(tc, test_loopback_exit_signals_room);
	tcase_add_test(tc, test_via_bus);
	suite_add_tcase(su, tc);
	return su;
}

int main(void)
{
	return unit_run(serial_suite());
}
