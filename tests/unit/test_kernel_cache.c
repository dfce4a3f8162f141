/* The unpacked-kernel cache: a hit for the same file, a miss once the file is rewritten (with a
 * new size, and with the same size inside the timestamp granularity, where only the CRC tells),
 * torn or foreign entries ignored, and the directory trimmed oldest first. */
#include <check.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "loader/kernel_cache.h"
#include "unit.h"

static char dir[64], kpath[96];
static char why[256];

static int64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/kvmm-kcache-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(kpath, sizeof(kpath), "%s/bzImage", dir);
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Writes the "kernel" file in place (same inode) and returns its identity. */
static void write_kernel(const char *text, struct kcache_id *id)
{
	FILE *f = fopen(kpath, "r+");
	if (!f)
		f = fopen(kpath, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fflush(f), 0);
	ck_assert_int_eq(ftruncate(fileno(f), (off_t)strlen(text)), 0);
	struct stat st;
	ck_assert_int_eq(fstat(fileno(f), &st), 0);
	fclose(f);
	kcache_id_from_stat(id, &st);
}

static int lookup(const struct kcache_id *id, int64_t read_ns, const char *text,
		  struct kcache_entry *e)
{
	return kcache_lookup(dir, id, read_ns, (const uint8_t *)text, strlen(text), e, why,
			     sizeof(why));
}

static void store(const struct kcache_id *id, int64_t read_ns, const char *text, const char *elf)
{
	ck_assert_msg(kcache_store(dir, id, read_ns, (const uint8_t *)text, strlen(text),
				   (const uint8_t *)elf, strlen(elf), KCACHE_MAX_BYTES, why,
				   sizeof(why)) == 0,
		      "%s", why);
}

START_TEST(test_hit_then_rewrite)
{
	struct kcache_id id;
	struct kcache_entry e;
	write_kernel("kernel one", &id);
	int64_t t = now_ns();
	ck_assert_int_eq(lookup(&id, t, "kernel one", &e), 0);
	store(&id, t, "kernel one", "ELF one");
	ck_assert_int_eq(lookup(&id, now_ns(), "kernel one", &e), 1);
	ck_assert_uint_eq(e.elf_len, 7);
	ck_assert_mem_eq(e.elf, "ELF one", 7);
	kcache_release(&e);

	/* Rewritten right away with the same length: mtime and ctime may not have moved (they
	 * tick with the kernel's coarse clock), but the entry is racy, so the CRC is compared. */
	struct kcache_id id2;
	write_kernel("kernel two", &id2);
	ck_assert_int_eq(lookup(&id2, now_ns(), "kernel two", &e), 0);
	/* The same contents again is a hit whatever the timestamps say. */
	write_kernel("kernel one", &id2);
	ck_assert_int_eq(
	    lookup(&id2, now_ns(), "kernel one", &e) == 1 || memcmp(&id, &id2, sizeof(id)) != 0, 1);
	kcache_release(&e);

	/* A different size is a different identity. */
	write_kernel("kernel three!", &id2);
	ck_assert_int_ne(memcmp(&id, &id2, sizeof(id)), 0);
	ck_assert_int_eq(lookup(&id2, now_ns(), "kernel three!", &e), 0);
}
END_TEST

/* An entry made long after the file last changed is trusted on its timestamps alone. */
START_TEST(test_not_racy_trusts_stat)
{
	struct kcache_id id;
	struct kcache_entry e;
	write_kernel("kernel one", &id);
	int64_t later = now_ns() + 10 * KCACHE_RACY_NS;
	store(&id, later, "kernel one", "ELF one");
	/* Same identity, other bytes (a file changed behind a forged clock): only stat is used. */
	ck_assert_int_eq(lookup(&id, later, "kernel XXX", &e), 1);
	kcache_release(&e);
	/* ...while a racy read of the same identity checks the contents. */
	ck_assert_int_eq(lookup(&id, id.ctime_ns, "kernel XXX", &e), 0);
}
END_TEST

START_TEST(test_torn_entry_is_a_miss)
{
	struct kcache_id id;
	struct kcache_entry e;
	write_kernel("kernel one", &id);
	int64_t t = now_ns();
	store(&id, t, "kernel one", "ELF one, longer");
	/* cut the entry short, as a crash mid-write would (without the rename) */
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "for f in %s/vmlinux-*.kc; do truncate -s -3 \"$f\"; done", dir);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(lookup(&id, t, "kernel one", &e), 0);
	/* a file that is not ours at all */
	snprintf(cmd, sizeof(cmd), "for f in %s/vmlinux-*.kc; do echo junk >\"$f\"; done", dir);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(lookup(&id, t, "kernel one", &e), 0);
	/* and a store replaces it */
	store(&id, t, "kernel one", "ELF again");
	ck_assert_int_eq(lookup(&id, t, "kernel one", &e), 1);
	ck_assert_mem_eq(e.elf, "ELF again", 9);
	kcache_release(&e);
}
END_TEST

START_TEST(test_trim_oldest_first)
{
	static char elf[300000];
	memset(elf, 'E', sizeof(elf) - 1);
	struct kcache_id ids[4];
	for (int i = 0; i < 4; i++) {
		memset(&ids[i], 0, sizeof(ids[i]));
		ids[i].ino = (uint64_t)i + 1;
		ids[i].size = 1;
		/* room for about three entries */
		ck_assert_int_eq(kcache_store(dir, &ids[i], 0, (const uint8_t *)"k", 1,
					      (const uint8_t *)elf, sizeof(elf),
					      3 * sizeof(elf) + 1000, why, sizeof(why)),
				 0);
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	struct kcache_entry e;
	ck_assert_int_eq(lookup(&ids[0], 0, "k", &e), 0); /* the oldest went */
	for (int i = 1; i < 4; i++) {
		ck_assert_int_eq(lookup(&ids[i], 0, "k", &e), 1);
		kcache_release(&e);
	}
	/* more than the whole cache holds is refused, not stored */
	ck_assert_int_eq(kcache_store(dir, &ids[0], 0, (const uint8_t *)"k", 1,
				      (const uint8_t *)elf, sizeof(elf), 1000, why, sizeof(why)),
			 -1);
}
END_TEST

START_TEST(test_unwritable_dir)
{
	struct kcache_id id = {.ino = 1, .size = 1};
	ck_assert_int_eq(kcache_store("/proc/kvmm-no-such-dir", &id, 0, (const uint8_t *)"k", 1,
				      (const uint8_t *)"E", 1, KCACHE_MAX_BYTES, why, sizeof(why)),
			 -1);
	ck_assert_ptr_nonnull(strstr(why, "/proc/kvmm-no-such-dir"));
}
END_TEST

START_TEST(test_default_dir)
{
	char buf[256];
	setenv("XDG_CACHE_HOME", "/x/cache", 1);
	ck_assert(kcache_default_dir(buf, sizeof(buf)));
	ck_assert_str_eq(buf, "/x/cache/kvmm/kernels");
	setenv("XDG_CACHE_HOME", "relative", 1); /* the spec says to ignore those */
	setenv("HOME", "/home/u", 1);
	ck_assert(kcache_default_dir(buf, sizeof(buf)));
	ck_assert_str_eq(buf, "/home/u/.cache/kvmm/kernels");
	unsetenv("XDG_CACHE_HOME");
	unsetenv("HOME");
	ck_assert(!kcache_default_dir(buf, sizeof(buf)));
}
END_TEST

static Suite *kernel_cache_suite(void)
{
	Suite *s = suite_create("kernel_cache");
	TCase *tc = tcase_create("cache");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_hit_then_rewrite);
	tcase_add_test(tc, test_not_racy_trusts_stat);
	tcase_add_test(tc, test_torn_entry_is_a_miss);
	tcase_add_test(tc, test_trim_oldest_first);
	tcase_add_test(tc, test_unwritable_dir);
	tcase_add_test(tc, test_default_dir);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(kernel_cache_suite());
}
