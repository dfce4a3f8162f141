/* virtio-blk's request path over a real image file and hand-built rings, with io_uring and
 * synchronously: reads and writes land at the right offsets, status bytes and used lengths are
 * what the driver expects, bad requests fail without touching the image, a head offered twice
 * breaks the device, and a file truncated underneath reads as zeros. A reset or destroy never
 * leaves I/O running into guest memory, even when io_uring refuses to submit or wait. No KVM:
 * the device core runs without a transport, and io_uring completions come back on a real I/O
 * thread.
 *
 * Two seams make the in-flight cases deterministic, with no hook in the device: the disk's fd
 * (blk.fd) swapped for a pipe, whose reads wait until the test writes; and a thread that a
 * seccomp filter denies io_uring_enter, as a seccomp profile would, so that submitting and
 * waiting fail there and work everywhere else. */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "devices/virtio_blk.h"
#include "ring.h"
#include "unit.h"

#define QSIZE  32 /* three descriptors a request, heads 0 to 7 */
#define DESC   0x1000ULL
#define AVAIL  0x2000ULL
#define USED   0x3000ULL
#define HDR    0x10000ULL
#define DATA   0x20000ULL
#define STATUS 0x80000ULL
#define OLD    0x40000ULL /* a request's buffer that the driver takes back at a reset */
#define IMG    (1 * MiB)

static struct guest_mem mem;
static struct io_thread io;
static struct virtio_blk blk;
static char path[64];
static int img_fd;

static void desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	ring_desc(&mem, DESC, i, addr, len, flags, next);
}

static uint16_t get16(uint64_t gpa)
{
	uint16_t v = 0;
	ck_assert(gmem_read(&mem, gpa, &v, 2));
	return v;
}

static void put16(uint64_t gpa, uint16_t v)
{
	ck_assert(gmem_write(&mem, gpa, &v, 2));
}

/* The driver sets the queue up, after a reset as at first: empty rings, then enabled. */
static void setup_queue(void)
{
	put16(AVAIL + 2, 0);
	put16(USED + 2, 0);
	pthread_mutex_lock(&blk.vd.lock);
	struct virtq *vq = &blk.vd.vqs[0];
	vq->size = QSIZE;
	vq->desc_gpa = DESC;
	vq->avail_gpa = AVAIL;
	vq->used_gpa = USED;
	ck_assert(virtq_enable(vq));
	pthread_mutex_unlock(&blk.vd.lock);
}

static void start(bool sync_io, bool ro)
{
	ck_assert_int_eq(gmem_init_layout(&mem, 1 * MiB, 4 * GiB, 4 * GiB), 0);
	snprintf(path, sizeof(path), "/tmp/kvmm-blk-test.XXXXXX");
	img_fd = mkstemp(path);
	ck_assert_int_ge(img_fd, 0);
	uint8_t *img = malloc(IMG);
	for (unsigned i = 0; i < IMG; i++)
		img[i] = (uint8_t)(i / 512);
	ck_assert_int_eq(pwrite(img_fd, img, IMG, 0), IMG);
	free(img);
	ck_assert_int_eq(io_thread_init(&io), 0);
	ck_assert_int_eq(virtio_blk_init(&blk, path, ro, "serial-1", sync_io, &mem, &io), 0);
	ck_assert_int_eq(io_thread_start(&io), 0);
	setup_queue();
}

/* What stop() does after the device is gone. */
static void stop_rest(void)
{
	io_thread_destroy(&io);
	gmem_free(&mem);
	close(img_fd);
	unlink(path);
}

static void stop(void)
{
	io_thread_stop(&io);
	virtio_blk_destroy(&blk);
	stop_rest();
}

/* Offers a chain of header, data (len bytes at data, device-writable for a read) and status at
 * head; returns its first descriptor. */
static unsigned offer(uint16_t head, uint32_t type, uint64_t sector, uint32_t len, uint64_t data)
{
	uint8_t hdr[16] = {0};
	memcpy(hdr, &type, 4);
	memcpy(hdr + 8, &sector, 8);
	ck_assert(gmem_write(&mem, HDR + 16ULL * head, hdr, 16));
	uint8_t fill = 0xee;
	ck_assert(gmem_write(&mem, STATUS + head, &fill, 1));
	bool in = type == 0 || type == 8;
	unsigned d = head * 3;
	desc(d, HDR + 16ULL * head, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(d + 1));
	if (len) {
		desc(d + 1, data, len, VIRTQ_DESC_F_NEXT | (in ? VIRTQ_DESC_F_WRITE : 0),
		     (uint16_t)(d + 2));
		desc(d + 2, STATUS + head, 1, VIRTQ_DESC_F_WRITE, 0);
	} else {
		desc(d, HDR + 16ULL * head, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(d + 2));
		desc(d + 2, STATUS + head, 1, VIRTQ_DESC_F_WRITE, 0);
	}
	uint16_t idx = get16(AVAIL + 2);
	put16(AVAIL + 4 + 2 * (idx % QSIZE), (uint16_t)d);
	put16(AVAIL + 2, (uint16_t)(idx + 1));
	return d;
}

/* The device runs the queue, as the I/O thread does on a kick (whatever the status says). */
static void notify(void)
{
	pthread_mutex_lock(&blk.vd.lock);
	blk.vd.ops->queue_notify(&blk, &blk.vd, 0);
	pthread_mutex_unlock(&blk.vd.lock);
}

/* Offers a request with its data at DATA (see offer), lets the device run, and waits for the
 * used ring to move. Returns the status byte and sets *used_len. */
static uint8_t request(uint16_t head, uint32_t type, uint64_t sector, uint32_t len,
		       uint32_t *used_len)
{
	uint16_t used_before = get16(USED + 2);
	unsigned d = offer(head, type, sector, len, DATA);
	notify();
	for (int i = 0; i < 5000 && get16(USED + 2) == used_before; i++)
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	ck_assert_uint_eq(get16(USED + 2), (uint16_t)(used_before + 1));
	uint32_t id = 0;
	ck_assert(gmem_read(&mem, USED + 4 + 8ULL * (used_before % QSIZE), &id, 4));
	ck_assert_uint_eq(id, d);
	ck_assert(gmem_read(&mem, USED + 8 + 8ULL * (used_before % QSIZE), used_len, 4));
	uint8_t status = 0;
	ck_assert(gmem_read(&mem, STATUS + head, &status, 1));
	return status;
}

static void read_write_flush(bool sync_io)
{
	start(sync_io, false);
	uint32_t used;
	ck_assert_uint_eq(request(0, 0, 3, 4096, &used), 0); /* IN: sectors 3..10 */
	ck_assert_uint_eq(used, 4096 + 1);
	uint8_t got[4096];
	ck_assert(gmem_read(&mem, DATA, got, sizeof(got)));
	ck_assert_uint_eq(got[0], 3);
	ck_assert_uint_eq(got[4095], 10);

	uint8_t pattern[8192];
	memset(pattern, 0x5a, sizeof(pattern));
	ck_assert(gmem_write(&mem, DATA, pattern, sizeof(pattern)));
	ck_assert_uint_eq(request(1, 1, 100, 8192, &used), 0); /* OUT */
	ck_assert_uint_eq(used, 1);
	uint8_t disk[8192];
	ck_assert_int_eq(pread(img_fd, disk, sizeof(disk), 100 * 512), (ssize_t)sizeof(disk));
	ck_assert_int_eq(memcmp(disk, pattern, sizeof(disk)), 0);
	ck_assert_uint_eq(request(2, 4, 0, 0, &used), 0); /* FLUSH */

	/* Past the end of the disk, and not a whole sector: refused, the image untouched. */
	ck_assert_uint_eq(request(3, 1, IMG / 512 - 1, 1024, &used), 1);
	ck_assert_uint_eq(request(4, 0, 0, 100, &used), 1);
	ck_assert_uint_eq(used, 1);
	ck_assert_uint_eq(request(5, 99, 0, 512, &used), 2); /* unsupported type */

	/* GET_ID: the serial, no more than the buffer holds. */
	ck_assert_uint_eq(request(6, 8, 0, 20, &used), 0);
	char id[21] = {0};
	ck_assert(gmem_read(&mem, DATA, id, 20));
	ck_assert_str_eq(id, "serial-1");

	/* Someone truncates the image under the running VM: the lost tail reads as zeros. */
	ck_assert_int_eq(ftruncate(img_fd, IMG / 2), 0);
	memset(pattern, 0x77, sizeof(pattern));
	ck_assert(gmem_write(&mem, DATA, pattern, sizeof(pattern)));
	ck_assert_uint_eq(request(7, 0, IMG / 512 / 2 - 4, 4096, &used), 0);
	ck_assert(gmem_read(&mem, DATA, got, sizeof(got)));
	ck_assert_uint_eq(got[0], (uint8_t)(IMG / 512 / 2 - 4));
	ck_assert_uint_eq(got[2047], (uint8_t)(IMG / 512 / 2 - 1));
	ck_assert_uint_eq(got[2048], 0);
	ck_assert_uint_eq(got[4095], 0);
	stop();
}

START_TEST(test_io_uring)
{
	read_write_flush(false);
}
END_TEST

START_TEST(test_sync)
{
	read_write_flush(true);
}
END_TEST

START_TEST(test_read_only)
{
	start(false, true);
	uint32_t used;
	uint8_t before[512], after[512];
	ck_assert_int_eq(pread(img_fd, before, 512, 0), 512);
	ck_assert_uint_eq(request(0, 1, 0, 512, &used), 1);
	ck_assert_int_eq(pread(img_fd, after, 512, 0), 512);
	ck_assert_int_eq(memcmp(before, after, 512), 0);
	ck_assert_uint_eq(request(1, 0, 0, 512, &used), 0);
	stop();
}
END_TEST

/* Polls cond for up to five seconds; returns whether it came true. */
static bool wait_until(bool (*cond)(void))
{
	for (int i = 0; i < 5000; i++) {
		if (cond())
			return true;
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	}
	return false;
}

static bool nothing_in_flight(void)
{
	pthread_mutex_lock(&blk.vd.lock);
	bool idle = blk.inflight == 0 && io_uring_cq_ready(&blk.ring) == 0;
	pthread_mutex_unlock(&blk.vd.lock);
	return idle;
}

static bool completions_reaped(void)
{
	pthread_mutex_lock(&blk.vd.lock);
	bool reaped = io_uring_cq_ready(&blk.ring) == 0;
	pthread_mutex_unlock(&blk.vd.lock);
	return reaped;
}

static bool completion_waiting(void)
{
	return io_uring_cq_ready(&blk.ring) > 0;
}

static uint8_t dev_status(void)
{
	pthread_mutex_lock(&blk.vd.lock);
	uint8_t st = blk.vd.status;
	pthread_mutex_unlock(&blk.vd.lock);
	return st;
}

/* The driver writes status 0. */
static void driver_reset(void)
{
	pthread_mutex_lock(&blk.vd.lock);
	virtio_write_status(&blk.vd, 0);
	pthread_mutex_unlock(&blk.vd.lock);
}

/* Test seam: runs fn on a thread where io_uring_enter fails with EPERM (a seccomp filter on
 * that thread alone, as a seccomp profile would refuse it), so every submit and wait the
 * device makes there fails, and works again on every other thread. */
static void (*without_fn)(void);

static void *without_io_uring_main(void *unused)
{
	(void)unused;
	struct sock_filter f[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_enter, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {sizeof(f) / sizeof(f[0]), f};
	ck_assert_int_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
	ck_assert_int_eq(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), 0);
	without_fn();
	return NULL;
}

static void without_io_uring(void (*fn)(void))
{
	pthread_t t;
	without_fn = fn;
	ck_assert_int_eq(pthread_create(&t, NULL, without_io_uring_main, NULL), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
}

/* Test seam: the disk's fd becomes a pipe, whose reads wait until the test writes the data.
 * Returns the pipe's write end; *rd gets another read end, to see what nobody read. */
static int pipe_disk(int *rd)
{
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	ck_assert_int_ge(dup2(p[0], blk.fd), 0);
	*rd = p[0];
	return p[1];
}

static void fill(uint64_t gpa, uint8_t v, size_t len)
{
	uint8_t buf[512];
	memset(buf, v, sizeof(buf));
	ck_assert(len <= sizeof(buf) && gmem_write(&mem, gpa, buf, len));
}

/* Whether all of [gpa, gpa + len) still holds v. */
static bool holds(uint64_t gpa, uint8_t v, size_t len)
{
	uint8_t buf[512];
	ck_assert(len <= sizeof(buf) && gmem_read(&mem, gpa, buf, len));
	for (size_t i = 0; i < len; i++)
		if (buf[i] != v)
			return false;
	return true;
}

static uint8_t failed_status;

static void read_then_reset(void)
{
	offer(0, 0, 5, 512, OLD); /* IN: sector 5 into OLD, which io_uring will not take */
	notify();
	failed_status = dev_status();
	driver_reset();
}

/* io_uring refused a read (submission failed) and the driver resets: the read must never run
 * after that, into memory the driver took back or into the next request on its head. */
START_TEST(test_reset_after_submit_error)
{
	start(false, false);
	fill(OLD, 0xcc, 512);
	without_io_uring(read_then_reset);
	ck_assert(failed_status & VIRTIO_STATUS_NEEDS_RESET);
	/* Nothing had reached the kernel, so the reset is complete. */
	ck_assert_uint_eq(dev_status(), 0);
	ck_assert_uint_eq(get16(USED + 2), 0);

	/* The driver starts again and writes sector 50 from a request on the same head. */
	setup_queue();
	uint8_t pattern[512], got[512];
	memset(pattern, 0x5a, sizeof(pattern));
	ck_assert(gmem_write(&mem, DATA, pattern, sizeof(pattern)));
	uint32_t used;
	ck_assert_uint_eq(request(0, 1, 50, 512, &used), 0);
	ck_assert(wait_until(nothing_in_flight));
	ck_assert_uint_eq(get16(USED + 2), 1);
	/* The old read ran into neither buffer, and the disk has what the write had. */
	ck_assert(gmem_read(&mem, DATA, got, sizeof(got)));
	ck_assert_uint_eq(got[0], 0x5a);
	ck_assert_int_eq(memcmp(got, pattern, sizeof(got)), 0);
	ck_assert_int_eq(pread(img_fd, got, sizeof(got), 50 * 512), (ssize_t)sizeof(got));
	ck_assert_int_eq(memcmp(got, pattern, sizeof(got)), 0);
	ck_assert(holds(OLD, 0xcc, 512));
	stop();
}
END_TEST

static void reset(void)
{
	driver_reset();
	failed_status = dev_status();
}

/* A device on a pipe disk with one read of 512 bytes into OLD in the kernel, waiting on the
 * empty pipe: nothing used yet. Returns the pipe's write end; *rd is its read end. */
static int start_stuck_read(int *rd)
{
	start(false, false);
	int wr = pipe_disk(rd);
	fill(OLD, 0xcc, 512);
	offer(0, 0, 0, 512, OLD);
	notify();
	nanosleep(&(struct timespec){0, 20000000}, NULL);
	ck_assert_uint_eq(get16(USED + 2), 0);
	return wr;
}

/* The driver resets while a read is in the kernel, and the wait for it fails: the read is not
 * forgotten. The reset does not complete (the status reads NEEDS_RESET, not 0) until the read
 * came back, and its late completion finishes nothing but itself, however the driver reused
 * the head meanwhile. */
START_TEST(test_reset_wait_fails)
{
	int rd, wr = start_stuck_read(&rd);
	without_io_uring(reset);

	/* A driver that does not wait for the status to read 0 sets the queue up again. The old
	 * read gets its data, but its completion waits for the I/O thread, held meanwhile, until
	 * the driver offered the same head again, for a read that waits on the pipe. */
	setup_queue();
	io_thread_hold(&io);
	uint8_t data[512];
	memset(data, 0xab, sizeof(data));
	ck_assert_int_eq(write(wr, data, sizeof(data)), (ssize_t)sizeof(data));
	ck_assert(wait_until(completion_waiting));
	fill(DATA, 0xee, 512);
	offer(0, 0, 0, 512, DATA);
	notify();
	io_thread_release(&io);
	ck_assert(wait_until(completions_reaped));
	nanosleep(&(struct timespec){0, 20000000}, NULL);
	/* The old read's completion did not finish the new request, which got no data. */
	ck_assert_uint_eq(get16(USED + 2), 0);
	ck_assert(holds(DATA, 0xee, 512));
	ck_assert_uint_eq(failed_status, VIRTIO_STATUS_NEEDS_RESET);
	/* With the read back, the reset is complete: the status reads 0, and the disk works. */
	ck_assert_uint_eq(dev_status(), 0);
	ck_assert_int_ge(dup2(img_fd, blk.fd), 0);
	setup_queue();
	uint32_t used;
	ck_assert_uint_eq(request(1, 0, 3, 512, &used), 0);
	ck_assert_uint_eq(used, 512 + 1);
	ck_assert(holds(DATA, 3, 512));
	close(rd);
	close(wr);
	stop();
}
END_TEST

/* Destroying the device with a read in the kernel: the read is over when destroy returns,
 * before guest memory goes, however long the ring itself outlives io_uring_queue_exit. */
START_TEST(test_destroy_drains)
{
	int rd, wr = start_stuck_read(&rd);
	/* Closing the ring does not wait for what the kernel still runs (io-wq workers, or here
	 * a read polling the pipe). Another reference holds the ring open, as a forked child's
	 * would, so that only destroy itself can have ended the read. */
	int ring = dup(blk.ring.ring_fd);
	ck_assert_int_ge(ring, 0);
	io_thread_stop(&io);
	virtio_blk_destroy(&blk);
	uint8_t data[512];
	memset(data, 0xab, sizeof(data));
	ck_assert_int_eq(write(wr, data, sizeof(data)), (ssize_t)sizeof(data));
	nanosleep(&(struct timespec){0, 20000000}, NULL);
	ck_assert(holds(OLD, 0xcc, 512));
	/* Nobody read the data. */
	ck_assert_int_eq(fcntl(rd, F_SETFL, O_NONBLOCK), 0);
	ck_assert_int_eq(read(rd, data, sizeof(data)), (ssize_t)sizeof(data));
	close(ring);
	close(rd);
	close(wr);
	stop_rest();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("virtio_blk");
	TCase *tc = tcase_create("requests");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_io_uring);
	tcase_add_test(tc, test_sync);
	tcase_add_test(tc, test_read_only);
	tcase_add_test(tc, test_reset_after_submit_error);
	tcase_add_test(tc, test_reset_wait_fails);
	tcase_add_test(tc, test_destroy_drains);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
