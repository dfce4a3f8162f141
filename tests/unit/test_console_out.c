/* The console output ring over a real pipe: bytes come out in order, a reader that stops makes
 * the ring refuse (never block) and then say when it has room, what is left is written out at
 * the end, and a reader that goes away makes the ring discard instead of holding anyone up. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "devices/serial.h"
#include "unit.h"
#include "vmm/console_out.h"

static int pfd[2];
static struct console_out co;
static atomic_int rooms;

static void on_room(void *opaque)
{
	(void)opaque;
	atomic_fetch_add(&rooms, 1);
}

static void setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	ck_assert_int_eq(pipe2(pfd, O_CLOEXEC), 0);
	ck_assert_int_ge(fcntl(pfd[0], F_SETPIPE_SZ, 4096), 4096);
	atomic_store(&rooms, 0);
}

static void teardown(void)
{
	console_out_destroy(&co);
	close(pfd[0]);
	close(pfd[1]);
}

static void nap(void)
{
	struct timespec ts = {0, 2 * 1000 * 1000};
	nanosleep(&ts, NULL);
}

/* Reads exactly len bytes from the pipe. */
static void read_exactly(uint8_t *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t r = read(pfd[0], buf + got, len - got);
		ck_assert_int_gt(r, 0);
		got += (size_t)r;
	}
}

START_TEST(test_in_order)
{
	ck_assert_int_eq(console_out_init(&co, pfd[1], 64, on_room, NULL), 0);
	ck_assert_uint_eq(console_out_write(&co, "hello ", 6), 6);
	ck_assert_uint_eq(console_out_write(&co, "world", 5), 5);
	uint8_t buf[11];
	read_exactly(buf, sizeof(buf));
	ck_assert_mem_eq(buf, "hello world", 11);
	ck_assert_int_eq(atomic_load(&rooms), 0);
}
END_TEST

/* Held (the monitor is shown): nothing reaches the fd, the ring keeps it in order; released,
 * it all comes out. */
START_TEST(test_hold_keeps_output)
{
	ck_assert_int_eq(console_out_init(&co, pfd[1], 64, on_room, NULL), 0);
	console_out_hold(&co, true);
	ck_assert_uint_eq(console_out_write(&co, "while ", 6), 6);
	ck_assert_uint_eq(console_out_write(&co, "held", 4), 4);
	for (int i = 0; i < 20; i++)
		nap();
	ck_assert_int_eq(fcntl(pfd[0], F_SETFL, O_NONBLOCK), 0);
	uint8_t buf[16];
	ck_assert_int_eq(read(pfd[0], buf, sizeof(buf)), -1);
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_int_eq(fcntl(pfd[0], F_SETFL, 0), 0);
	console_out_hold(&co, false);
	read_exactly(buf, 10);
	ck_assert_mem_eq(buf, "while held", 10);
}
END_TEST

/* The reader stops: the pipe fills, then the ring; writes are refused, not blocked. Once the
 * reader drains, room() is called and every accepted byte comes out in order, wrapping the
 * ring many times. */
START_TEST(test_full_refuses_then_room)
{
	ck_assert_int_eq(console_out_init(&co, pfd[1], 64, on_room, NULL), 0);
	uint8_t seq = 0;
	size_t accepted = 0;
	int stuck = 0; /* writes in a row that took nothing: the writer is blocked on the pipe */
	for (int i = 0; i < 20000 && stuck < 20; i++) {
		uint8_t chunk[7];
		for (unsigned k = 0; k < sizeof(chunk); k++)
			chunk[k] = (uint8_t)(seq + k);
		size_t n = console_out_write(&co, chunk, sizeof(chunk));
		ck_assert_uint_le(n, sizeof(chunk));
		seq = (uint8_t)(seq + n);
		accepted += n;
		stuck = n ? 0 : stuck + 1;
		if (n < sizeof(chunk))
			nap();
	}
	ck_assert_int_eq(stuck, 20);
	/* What the ring holds plus what the one-page pipe took (small writes share its page). */
	ck_assert_uint_ge(accepted, 64);
	ck_assert_uint_le(accepted, 4096 + 64);
	int before = atomic_load(&rooms);
	uint8_t *buf = malloc(accepted);
	read_exactly(buf, accepted);
	for (size_t i = 0; i < accepted; i++)
		ck_assert_uint_eq(buf[i], (uint8_t)i);
	free(buf);
	for (int i = 0; i < 1000 && atomic_load(&rooms) == before; i++)
		nap();
	ck_assert_int_eq(atomic_load(&rooms), before + 1);
	/* Room again. */
	ck_assert_uint_eq(console_out_write(&co, "x", 1), 1);
	uint8_t x;
	read_exactly(&x, 1);
	ck_assert_uint_eq(x, 'x');
}
END_TEST

struct reader {
	uint8_t *buf;
	size_t len;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	read_exactly(r->buf, r->len);
	return NULL;
}

/* Whatever is still in the ring when it is destroyed reaches the fd first. */
START_TEST(test_destroy_writes_the_rest)
{
	ck_assert_int_eq(console_out_init(&co, pfd[1], 8192, NULL, NULL), 0);
	static uint8_t big[6000];
	memset(big, 'z', sizeof(big));
	ck_assert_uint_eq(console_out_write(&co, big, sizeof(big)), sizeof(big));
	ck_assert_uint_eq(console_out_write(&co, "end", 3), 3);
	/* The pipe holds 4096 bytes: the destroy waits for this reader to take the rest. */
	struct reader r = {malloc(sizeof(big) + 3), sizeof(big) + 3};
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, reader_main, &r), 0);
	console_out_destroy(&co);
	pthread_join(t, NULL);
	ck_assert_mem_eq(r.buf, big, sizeof(big));
	ck_assert_mem_eq(r.buf + sizeof(big), "end", 3);
	free(r.buf);
}
END_TEST

/* The reader is gone: output is dropped, and no write is ever refused or held up. */
START_TEST(test_reader_gone_discards)
{
	ck_assert_int_eq(console_out_init(&co, pfd[1], 64, NULL, NULL), 0);
	close(pfd[0]);
	pfd[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	size_t total = 0;
	for (int i = 0; i < 100000; i++) {
		size_t n = console_out_write(&co, "0123456789", 10);
		total += n;
		if (n < 10)
			nap(); /* the writer has not hit EPIPE yet */
	}
	pthread_mutex_lock(&co.lock);
	ck_assert(co.broken);
	pthread_mutex_unlock(&co.lock);
	ck_assert_uint_eq(console_out_write(&co, "more", 4), 4);
	ck_assert_uint_gt(total, 64);
}
END_TEST

/* A console that takes nothing at all (its reader stopped for good) cannot keep kvmm from
 * exiting: the stop gives up on it after a while, dropping the rest. */
START_TEST(test_stuck_console_lets_go)
{
	ck_assert_int_eq(console_out_init(&co, pfd[1], 64, NULL, NULL), 0);
	int stuck = 0;
	for (int i = 0; i < 20000 && stuck < 20; i++) {
		size_t n = console_out_write(&co, "0123456789", 10);
		stuck = n ? 0 : stuck + 1; /* twenty in a row: the writer is blocked */
		if (n < 10)
			nap();
	}
	ck_assert_int_eq(stuck, 20);
	console_out_destroy(&co); /* returns: the writer's write() was interrupted */
	ck_assert_ptr_null(co.buf);
}
END_TEST

/* The UART over the ring, as vm.c wires them: a stalled reader makes THR busy; once the reader
 * drains, room() pushes the UART's held bytes (re-entering the ring from the writer thread)
 * and raises the THR-empty interrupt. Every byte arrives once, in order. */
static struct serial uart;
static atomic_int uart_irq;

static bool uart_tx(void *opaque, uint8_t byte)
{
	(void)opaque;
	return console_out_write(&co, &byte, 1) == 1;
}

static void uart_set_irq(void *opaque, bool level)
{
	(void)opaque;
	atomic_store(&uart_irq, level);
}

static void uart_room(void *opaque)
{
	(void)opaque;
	serial_tx_ready(&uart);
}

static const struct serial_ops uart_ops = {.tx = uart_tx, .set_irq = uart_set_irq};

START_TEST(test_uart_waits_for_the_ring)
{
	serial_init(&uart, &uart_ops, NULL);
	ck_assert_int_eq(console_out_init(&co, pfd[1], 64, uart_room, NULL), 0);
	serial_write_reg(&uart, UART_IER, UART_IER_THRI);
	serial_read_reg(&uart, UART_IIR_FCR); /* acknowledge the enable-time interrupt */
	/* An interrupt-driven driver: a FIFO's worth per THR-empty, until THR stays full. */
	size_t sent = 0;
	int busy = 0;
	for (int i = 0; i < 20000 && busy < 20; i++) {
		if (!(serial_read_reg(&uart, UART_LSR) & UART_LSR_THRE)) {
			busy++;
			nap();
			continue;
		}
		busy = 0;
		for (int k = 0; k < SERIAL_FIFO_SIZE; k++)
			serial_write_reg(&uart, UART_RBR_THR, (uint8_t)sent++);
	}
	ck_assert_int_eq(busy, 20);
	ck_assert_uint_eq(uart.tx_dropped, 0);
	uint8_t *buf = malloc(sent);
	read_exactly(buf, sent);
	for (size_t i = 0; i < sent; i++)
		ck_assert_uint_eq(buf[i], (uint8_t)i);
	free(buf);
	for (int i = 0; i < 1000 && !atomic_load(&uart_irq); i++)
		nap();
	ck_assert(atomic_load(&uart_irq));
	ck_assert_uint_eq(serial_read_reg(&uart, UART_LSR) & 0x60, 0x60);
	console_out_destroy(&co);
	serial_destroy(&uart);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("console_out");
	TCase *tc = tcase_create("ring");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_in_order);
	tcase_add_test(tc, test_hold_keeps_output);
	tcase_add_test(tc, test_full_refuses_then_room);
	tcase_add_test(tc, test_destroy_writes_the_rest);
	tcase_add_test(tc, test_reader_gone_discards);
	tcase_add_test(tc, test_stuck_console_lets_go);
	tcase_add_test(tc, test_uart_waits_for_the_ring);
	tcase_set_timeout(tc, 60); /* the stuck console is given 2 s; room for a loaded machine */
	suite_add_tcase(s, tc);
	return unit_run(s);
}
