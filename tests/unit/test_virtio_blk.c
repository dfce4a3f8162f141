/* virtio-blk's request path over a real image file and hand-built rings, with io_uring and
 * synchronously: reads and writes land at the right offsets, status bytes and used lengths are
 * what the driver expects, bad requests fail without touching the image, a head offered twice
 * breaks the device, and a file truncated underneath reads as zeros. No KVM: the device core
 * runs without a transport, and io_uring completions come back on a real I/O thread. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	struct virtq *vq = &blk.vd.vqs[0];
	vq->size = QSIZE;
	vq->desc_gpa = DESC;
	vq->avail_gpa = AVAIL;
	vq->used_gpa = USED;
	ck_assert(virtq_enable(vq));
}

static void stop(void)
{
	io_thread_stop(&io);
	virtio_blk_destroy(&blk);
	io_thread_destroy(&io);
	gmem_free(&mem);
	close(img_fd);
	unlink(path);
}

/* Offers a chain of header, data (len bytes, device-writable for a read) and status at head,
 * lets the device run, and waits for the used ring to move. Returns the status byte and sets
 * *used_len. */
static uint8_t request(uint16_t head, uint32_t type, uint64_t sector, uint32_t len,
		       uint32_t *used_len)
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
		desc(d + 1, DATA, len, VIRTQ_DESC_F_NEXT | (in ? VIRTQ_DESC_F_WRITE : 0),
		     (uint16_t)(d + 2));
		desc(d + 2, STATUS + head, 1, VIRTQ_DESC_F_WRITE, 0);
	} else {
		desc(d, HDR + 16ULL * head, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(d + 2));
		desc(d + 2, STATUS + head, 1, VIRTQ_DESC_F_WRITE, 0);
	}
	uint16_t used_before = get16(USED + 2);
	uint16_t idx = get16(AVAIL + 2);
	put16(AVAIL + 4 + 2 * (idx % QSIZE), (uint16_t)d);
	put16(AVAIL + 2, (uint16_t)(idx + 1));
	pthread_mutex_lock(&blk.vd.lock);
	blk.vd.ops->queue_notify(&blk, &blk.vd, 0);
	pthread_mutex_unlock(&blk.vd.lock);
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

int main(void)
{
	Suite *s = suite_create("virtio_blk");
	TCase *tc = tcase_create("requests");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_io_uring);
	tcase_add_test(tc, test_sync);
	tcase_add_test(tc, test_read_only);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
