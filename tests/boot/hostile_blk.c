/* A hostile guest for kvmm's virtio-blk, run as the guest's init script (static, no kernel
 * driver bound): it finds the device in sysfs, maps BAR 0 from resource0, drives the common
 * configuration by hand, and feeds the queue malformed rings. Each bad ring must put the device
 * in NEEDS_RESET; after a reset a sane read of sector 0 must work again. A request for sectors
 * past the end is well-formed and must fail with IOERR instead. Then 100000 kicks with nothing
 * new in the ring, after which the device must still serve reads.
 *
 * Prints "KVMM-HOSTILE case NAME: ok|FAIL ..." per case and "KVMM-HOSTILE-DONE ok=N failed=M".
 * Guest-physical addresses of its buffers come from /proc/self/pagemap (it runs as root). */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define QSZ 16
enum { ST_ACK = 1, ST_DRIVER = 2, ST_DRIVER_OK = 4, ST_FEATURES_OK = 8, ST_NEEDS_RESET = 0x40 };
enum { F_NEXT = 1, F_WRITE = 2, F_INDIRECT = 4 };

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

static volatile uint8_t *bar;
static size_t common_off, notify_off, isr_off, device_off;
static uint32_t notify_mult;
static int ok_cases, failed_cases;

/* The pages the rings and buffers live in, and their guest-physical addresses. */
enum { P_DESC, P_AVAIL, P_USED, P_HDR, P_DATA, P_IND, NPAGES };
static uint8_t *page[NPAGES];
static uint64_t pa[NPAGES];
static uint16_t avail_idx, used_seen;

static void die(const char *what)
{
	printf("KVMM-HOSTILE-ERROR %s\n", what);
	fflush(stdout);
	exit(1);
}

static uint8_t rd8(size_t o)
{
	return bar[o];
}
static uint16_t rd16(size_t o)
{
	return *(volatile uint16_t *)(bar + o);
}
static uint32_t rd32(size_t o)
{
	return *(volatile uint32_t *)(bar + o);
}
static void wr8(size_t o, uint8_t v)
{
	bar[o] = v;
}
static void wr16(size_t o, uint16_t v)
{
	*(volatile uint16_t *)(bar + o) = v;
}
static void wr32(size_t o, uint32_t v)
{
	*(volatile uint32_t *)(bar + o) = v;
}
static void wr64(size_t o, uint64_t v)
{
	wr32(o, (uint32_t)v);
	wr32(o + 4, (uint32_t)(v >> 32));
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static uint64_t phys(void *p)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	uint64_t e = 0;
	if (fd < 0 || pread(fd, &e, 8, (off_t)((uintptr_t)p / 4096) * 8) != 8)
		die("pagemap");
	close(fd);
	if (!(e & (1ULL << 63)) || !(e & ((1ULL << 55) - 1)))
		die("pagemap gives no frame (not root?)");
	return (e & ((1ULL << 55) - 1)) * 4096;
}

/* The virtio-blk PCI function (1af4:1042): its sysfs directory. */
static void find_device(char *dir, size_t len)
{
	DIR *d = opendir("/sys/bus/pci/devices");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char path[300], id[32] = "";
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/device", e->d_name);
		FILE *f = fopen(path, "r");
		if (f && fgets(id, sizeof(id), f) && !strncmp(id, "0x1042", 6)) {
			fclose(f);
			snprintf(dir, len, "/sys/bus/pci/devices/%s", e->d_name);
			closedir(d);
			return;
		}
		if (f)
			fclose(f);
	}
	die("no virtio-blk (1af4:1042) in /sys/bus/pci/devices");
}

/* Memory decoding and bus mastering on; the virtio capabilities' places in BAR 0. */
static void map_device(const char *dir)
{
	char path[320];
	snprintf(path, sizeof(path), "%s/enable", dir);
	int fd = open(path, O_WRONLY);
	if (fd < 0 || write(fd, "1", 1) != 1)
		die("enable");
	close(fd);
	snprintf(path, sizeof(path), "%s/config", dir);
	fd = open(path, O_RDWR);
	uint8_t cfg[256];
	if (fd < 0 || pread(fd, cfg, sizeof(cfg), 0) != (ssize_t)sizeof(cfg))
		die("config");
	uint16_t cmd = (uint16_t)(cfg[4] | cfg[5] << 8) | 0x6;
	if (pwrite(fd, &cmd, 2, 4) != 2)
		die("config write");
	close(fd);
	for (unsigned c = cfg[0x34]; c && c < 0xff; c = cfg[c + 1]) {
		if (cfg[c] != 0x09 || cfg[c + 4] != 0)
			continue; /* vendor capabilities in BAR 0 only */
		uint32_t off;
		memcpy(&off, &cfg[c + 8], 4);
		switch (cfg[c + 3]) {
		case 1:
			common_off = off;
			break;
		case 2:
			notify_off = off;
			memcpy(&notify_mult, &cfg[c + 16], 4);
			break;
		case 3:
			isr_off = off;
			break;
		case 4:
			device_off = off;
			break;
		}
	}
	snprintf(path, sizeof(path), "%s/resource0", dir);
	fd = open(path, O_RDWR | O_SYNC);
	if (fd < 0)
		die("resource0");
	bar = mmap(NULL, 0x8000, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (bar == MAP_FAILED)
		die("mmap resource0");
}

static void dev_reset(void)
{
	wr8(common_off + 0x14, 0);
	for (int i = 0; i < 1000 && rd8(common_off + 0x14); i++)
		sleep_ms(1);
	if (rd8(common_off + 0x14))
		die("the device did not reset");
}

/* A driver's initialisation (virtio 1.2 3.1.1), polling instead of interrupts. */
static void dev_init(void)
{
	dev_reset();
	for (int i = 0; i < NPAGES; i++)
		memset(page[i], 0, 4096);
	avail_idx = used_seen = 0;
	wr8(common_off + 0x14, ST_ACK);
	wr8(common_off + 0x14, ST_ACK | ST_DRIVER);
	wr32(common_off + 0x00, 0);
	uint32_t f0 = rd32(common_off + 0x04);
	wr32(common_off + 0x08, 0);
	wr32(common_off + 0x0c, f0 & (1U << 28)); /* INDIRECT_DESC, if offered */
	wr32(common_off + 0x08, 1);
	wr32(common_off + 0x0c, 1); /* VERSION_1 */
	wr8(common_off + 0x14, ST_ACK | ST_DRIVER | ST_FEATURES_OK);
	if (!(rd8(common_off + 0x14) & ST_FEATURES_OK))
		die("FEATURES_OK refused");
	wr16(common_off + 0x16, 0);
	wr16(common_off + 0x18, QSZ);
	wr16(common_off + 0x1a, 0xffff);
	wr64(common_off + 0x20, pa[P_DESC]);
	wr64(common_off + 0x28, pa[P_AVAIL]);
	wr64(common_off + 0x30, pa[P_USED]);
	wr16(common_off + 0x1c, 1);
	wr8(common_off + 0x14, ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
}

static struct desc *descs(void)
{
	return (struct desc *)page[P_DESC];
}

static void kick(void)
{
	uint16_t qoff = rd16(common_off + 0x1e);
	wr16(notify_off + (size_t)qoff * notify_mult, 0);
}

/* Publishes head (or any value) in the avail ring and kicks. */
static void submit(uint16_t head)
{
	uint16_t *avail = (uint16_t *)page[P_AVAIL];
	avail[2 + avail_idx % QSZ] = head;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	avail[1] = ++avail_idx;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	kick();
}

static int wait_used(long ms)
{
	volatile uint16_t *used = (uint16_t *)page[P_USED];
	for (long t = 0; t < ms; t++) {
		if (used[1] != used_seen) {
			used_seen = used[1];
			(void)rd8(isr_off); /* acknowledges the INTx nobody handles */
			return 1;
		}
		sleep_ms(1);
	}
	return 0;
}

/* header, data, status: the three descriptors of a read of one sector. */
static void read_chain(uint64_t sector)
{
	struct desc *d = descs();
	uint32_t hdr[4] = {0, 0, (uint32_t)sector, (uint32_t)(sector >> 32)};
	memcpy(page[P_HDR], hdr, 16);
	page[P_HDR][64] = 0xff;
	d[0] = (struct desc){pa[P_HDR], 16, F_NEXT, 1};
	d[1] = (struct desc){pa[P_DATA], 512, F_WRITE | F_NEXT, 2};
	d[2] = (struct desc){pa[P_HDR] + 64, 1, F_WRITE, 0};
}

static void result(const char *name, int ok, const char *detail)
{
	printf("KVMM-HOSTILE case %s: %s%s%s\n", name, ok ? "ok" : "FAIL", *detail ? ": " : "",
	       detail);
	fflush(stdout);
	ok ? ok_cases++ : failed_cases++;
}

/* A fresh device, then a read of sector 0, which the host filled with a known line. */
static int sane_read(void)
{
	dev_init();
	read_chain(0);
	submit(0);
	return wait_used(5000) && page[P_HDR][64] == 0 &&
	       !memcmp(page[P_DATA], "KVMM-HOSTILE-SECTOR0", 20);
}

typedef void (*corrupt_fn)(void);

static void bad_addr(void)
{
	descs()[1].addr = 0xfff0000000ULL;
}
static void bad_loop(void)
{
	descs()[2] = (struct desc){pa[P_HDR] + 64, 1, F_WRITE | F_NEXT, 0};
}
static void bad_self_loop(void)
{
	descs()[0].next = 0;
}
static void bad_len(void)
{
	descs()[1].len = 0xfffff000U;
}
static void bad_next(void)
{
	descs()[1].next = 200;
}
static void bad_indirect(void)
{
	/* An indirect table of 2048 entries: longer than any chain may be. */
	descs()[0] = (struct desc){pa[P_IND], 16 * 2048, F_INDIRECT, 0};
}

/* One malformed ring: NEEDS_RESET within a second, then a reset and a sane read. */
static void bad_case(const char *name, corrupt_fn corrupt, uint16_t head, uint16_t idx_jump)
{
	char detail[128];
	if (!sane_read()) {
		result(name, 0, "the sane read before it failed");
		return;
	}
	read_chain(0);
	if (corrupt)
		corrupt();
	if (idx_jump) {
		uint16_t *avail = (uint16_t *)page[P_AVAIL];
		avail_idx += idx_jump;
		avail[1] = avail_idx;
		kick();
	} else {
		submit(head);
	}
	int status = 0;
	for (int t = 0; t < 1000 && !(status & ST_NEEDS_RESET); t++) {
		status = rd8(common_off + 0x14);
		sleep_ms(1);
	}
	int after = sane_read();
	snprintf(detail, sizeof(detail), "status 0x%02x, NEEDS_RESET %s, sane read after reset %s",
		 status, status & ST_NEEDS_RESET ? "set" : "NOT set", after ? "ok" : "FAILED");
	result(name, (status & ST_NEEDS_RESET) && after, detail);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	char dir[300];
	find_device(dir, sizeof(dir));
	map_device(dir);
	uint8_t *mem = mmap(NULL, NPAGES * 4096, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE | MAP_LOCKED, -1, 0);
	if (mem == MAP_FAILED)
		die("mmap");
	for (int i = 0; i < NPAGES; i++) {
		page[i] = mem + i * 4096;
		pa[i] = phys(page[i]);
	}
	printf("KVMM-HOSTILE device %s, common 0x%zx notify 0x%zx x%u\n", dir, common_off,
	       notify_off, notify_mult);
	result("sane-read", sane_read(), "");
	uint64_t capacity;
	memcpy(&capacity, (const void *)(bar + device_off), 8);

	bad_case("addr-outside-ram", bad_addr, 0, 0);
	bad_case("desc-loop", bad_loop, 0, 0);
	bad_case("desc-self-loop", bad_self_loop, 0, 0);
	bad_case("len-near-4GiB", bad_len, 0, 0);
	bad_case("next-out-of-range", bad_next, 0, 0);
	bad_case("indirect-longer-than-queue", bad_indirect, 0, 0);
	bad_case("head-out-of-range", NULL, QSZ + 3, 0);
	bad_case("avail-idx-past-queue", NULL, 0, 100);

	/* Well-formed, but past the end of the disk: IOERR, and the device stays usable. */
	char detail[128];
	int ok = sane_read();
	read_chain(capacity + 8);
	submit(0);
	int done = wait_used(5000);
	int st = rd8(common_off + 0x14);
	snprintf(detail, sizeof(detail), "capacity %llu sectors, request status %u, device 0x%02x",
		 (unsigned long long)capacity, page[P_HDR][64], st);
	result("sector-past-end", ok && done && page[P_HDR][64] == 1 && !(st & ST_NEEDS_RESET),
	       detail);

	/* 100000 kicks with nothing new: no NEEDS_RESET, and reads still work. */
	ok = sane_read();
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < 100000; i++)
		kick();
	clock_gettime(CLOCK_MONOTONIC, &b);
	st = rd8(common_off + 0x14);
	read_chain(0);
	submit(0);
	int after = wait_used(5000) && page[P_HDR][64] == 0;
	snprintf(detail, sizeof(detail), "100000 kicks in %ld ms, device 0x%02x, read after %s",
		 (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000, st,
		 after ? "ok" : "FAILED");
	result("kick-flood", ok && !(st & ST_NEEDS_RESET) && after, detail);

	printf("KVMM-HOSTILE-DONE ok=%d failed=%d\n", ok_cases, failed_cases);
	return 0;
}
