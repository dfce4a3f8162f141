/* The one program every row of tests/bench/vs-containers.sh runs: as a bare process, in crun and
 * podman, and as the workload inside a kvmm or QEMU guest. Built static (cc -static -O2) so the
 * same binary runs in a busybox root with no libraries. Results are one line each, KEY value or
 * key=value pairs, so the launcher reads them alike from a pipe, a container's stdout or a serial
 * console.
 *
 *   workload start                     READY <CLOCK_REALTIME ns>, then exit
 *   workload idle                      READY <CLOCK_REALTIME ns>, then sleep until killed
 *   workload cpu N                     N rounds of a fixed integer loop: CPU elapsed_ns=...
 *   workload disk DIR SIZE_MB [SECS]   DISK seq_write_MBps=... seq_read_MBps=...
 *                                      rand_read_iops=... rand_write_iops=... direct=0|1
 *   workload net-server PORT           NET recv_MBps=... bytes=... (one connection, read to EOF)
 *   workload net-client HOST PORT SECS NET send_MBps=... bytes=... (sends for SECS seconds)
 *
 * `start` and `idle` print READY before anything else (no stdio buffering, no allocation) so
 * the timestamp is as close to the program's first instruction as a user process gets; the
 * launcher subtracts its own CLOCK_REALTIME taken just before it launched the runtime. Guests
 * read the same clock through kvmclock, which KVM keeps on the host's wall clock.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MiB	(1024 * 1024)
#define BLOCK	4096
#define NET_BUF (128 * 1024)

static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double secs_since(uint64_t t0)
{
	return (double)(now_ns(CLOCK_MONOTONIC) - t0) / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "workload: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* READY with write(2) straight away: stdio would allocate its buffer first. */
static void ready(void)
{
	uint64_t t = now_ns(CLOCK_REALTIME);
	char buf[32], *p = buf + sizeof(buf);
	*--p = '\n';
	do {
		*--p = (char)('0' + t % 10);
		t /= 10;
	} while (t);
	p -= 6;
	memcpy(p, "READY ", 6);
	if (write(1, p, (size_t)(buf + sizeof(buf) - p)) < 0)
		exit(1);
}

/* A loop the compiler cannot fold or vectorise away: a xorshift chain with a data-dependent
 * multiply, the same instructions whatever runs it. No memory traffic, so it measures the
 * vCPU (or the cgroup's CPU quota), not caches. */
static int cmd_cpu(long rounds)
{
	uint64_t x = 88172645463325252ull, sum = 0, t0 = now_ns(CLOCK_MONOTONIC);
	for (long r = 0; r < rounds; r++) {
		for (int i = 0; i < 1000000; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			sum += x * (sum | 1);
		}
	}
	uint64_t dt = now_ns(CLOCK_MONOTONIC) - t0;
	printf("CPU elapsed_ns=%llu rounds=%ld checksum=%016llx\n", (unsigned long long)dt, rounds,
	       (unsigned long long)sum);
	return 0;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* 4 KiB at random aligned offsets for `secs` seconds; returns operations per second. */
static double random_io(int fd, char *buf, long blocks, double secs, int writing)
{
	long ops = 0;
	uint64_t t0 = now_ns(CLOCK_MONOTONIC);
	do {
		for (int i = 0; i < 64; i++, ops++) {
			off_t off = (off_t)(next_rand() % (uint64_t)blocks) * BLOCK;
			ssize_t n =
			    writing ? pwrite(fd, buf, BLOCK, off) : pread(fd, buf, BLOCK, off);
			if (n != BLOCK)
				die(writing ? "random pwrite" : "random pread");
		}
	} while (secs_since(t0) < secs);
	return (double)ops / secs_since(t0);
}

/* Sequential write (buffered, then fsync, the way most programs write a file), sequential read
 * with O_DIRECT (so the page cache the write left does not answer it), then random 4 KiB reads
 * and writes with O_DIRECT. Where O_DIRECT is refused (tmpfs, some overlays), the same is done
 * buffered and direct=0 says so. */
static int cmd_disk(const char *dir, long size_mb, double secs)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/workload-disk.%d", dir, (int)getpid());
	char *buf;
	if (posix_memalign((void **)&buf, BLOCK, MiB))
		die("posix_memalign");
	for (int i = 0; i < MiB; i++)
		buf[i] = (char)(next_rand() | 1); /* not zeros: no filesystem may elide them */

	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		die(path);
	uint64_t t0 = now_ns(CLOCK_MONOTONIC);
	for (long i = 0; i < size_mb; i++)
		if (write(fd, buf, MiB) != MiB)
			die("sequential write");
	if (fsync(fd))
		die("fsync");
	double wr = (double)size_mb / secs_since(t0);
	close(fd);

	int direct = 1;
	fd = open(path, O_RDWR | O_DIRECT);
	if (fd < 0 && errno == EINVAL) {
		direct = 0;
		fd = open(path, O_RDWR);
	}
	if (fd < 0)
		die(path);
	t0 = now_ns(CLOCK_MONOTONIC);
	for (long i = 0; i < size_mb; i++) {
		ssize_t n = read(fd, buf, MiB);
		if (n < 0 && errno == EINVAL && direct) {
			/* open() took O_DIRECT but the filesystem refuses it on read */
			direct = 0;
			fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_DIRECT);
			n = read(fd, buf, MiB);
		}
		if (n != MiB)
			die("sequential read");
	}
	double rd = (double)size_mb / secs_since(t0);

	long blocks = size_mb * (MiB / BLOCK);
	double rr = random_io(fd, buf, blocks, secs, 0);
	double rw = random_io(fd, buf, blocks, secs, 1);
	if (fsync(fd))
		die("fsync");
	close(fd);
	unlink(path);
	printf("DISK seq_write_MBps=%.1f seq_read_MBps=%.1f rand_read_iops=%.0f "
	       "rand_write_iops=%.0f direct=%d size_mb=%ld\n",
	       wr, rd, rr, rw, direct, size_mb);
	return 0;
}

static int cmd_net_server(int port)
{
	int one = 1, s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0)
		die("socket");
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) || listen(s, 1))
		die("bind/listen");
	printf("LISTENING %d\n", port);
	fflush(stdout);
	int c = accept(s, NULL, NULL);
	if (c < 0)
		die("accept");
	static char buf[NET_BUF];
	long long bytes = 0;
	uint64_t t0 = 0;
	for (;;) {
		ssize_t n = read(c, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (!bytes)
			t0 = now_ns(
			    CLOCK_MONOTONIC); /* from the first byte: not the peer's connect */
		bytes += n;
	}
	double dt = t0 ? secs_since(t0) : 0;
	printf("NET recv_MBps=%.1f bytes=%lld seconds=%.3f\n", dt > 0 ? bytes / dt / 1e6 : 0.0,
	       bytes, dt);
	return bytes > 0 ? 0 : 1;
}

/* Connects (retrying for a minute: the server may be a guest still booting) and sends for
 * `secs` seconds. */
static int cmd_net_client(const char *host, int port, double secs)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
		fprintf(stderr, "workload: %s: not an IPv4 address\n", host);
		return 2;
	}
	int s = -1;
	uint64_t t0 = now_ns(CLOCK_MONOTONIC);
	for (;;) {
		s = socket(AF_INET, SOCK_STREAM, 0);
		if (s < 0)
			die("socket");
		if (!connect(s, (struct sockaddr *)&a, sizeof(a)))
			break;
		close(s);
		if (secs_since(t0) > 60)
			die("connect");
		usleep(100000);
	}
	static char buf[NET_BUF];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)next_rand();
	long long bytes = 0;
	t0 = now_ns(CLOCK_MONOTONIC);
	while (secs_since(t0) < secs) {
		ssize_t n = write(s, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("send");
		bytes += n;
	}
	shutdown(s, SHUT_WR);
	/* wait for the server's close, so the time covers delivery, not just the socket buffer */
	while (read(s, buf, sizeof(buf)) > 0)
		;
	double dt = secs_since(t0);
	printf("NET send_MBps=%.1f bytes=%lld seconds=%.3f\n", bytes / dt / 1e6, bytes, dt);
	return 0;
}

static long num(const char *s, const char *what)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v <= 0) {
		fprintf(stderr, "workload: %s '%s': expected a positive number\n", what, s);
		exit(2);
	}
	return v;
}

static int usage(void)
{
	fprintf(stderr, "usage: workload start | idle | cpu N | disk DIR SIZE_MB [SECS] |\n"
			"                net-server PORT | net-client HOST PORT SECS\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	const char *m = argv[1];
	if (!strcmp(m, "start") && argc == 2) {
		ready();
		return 0;
	}
	if (!strcmp(m, "idle") && argc == 2) {
		ready();
		for (;;)
			pause();
	}
	/* results go to a pipe or a console: one line each, out at once */
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(m, "cpu") && argc == 3)
		return cmd_cpu(num(argv[2], "rounds"));
	if (!strcmp(m, "disk") && (argc == 4 || argc == 5))
		return cmd_disk(argv[2], num(argv[3], "size"),
				argc == 5 ? num(argv[4], "secs") : 3);
	if (!strcmp(m, "net-server") && argc == 3)
		return cmd_net_server((int)num(argv[2], "port"));
	if (!strcmp(m, "net-client") && argc == 5)
		return cmd_net_client(argv[2], (int)num(argv[3], "port"), num(argv[4], "secs"));
	return usage();
}
