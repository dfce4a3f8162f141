#include "kernel_cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "vmm/log.h"

#define KCACHE_MAGIC  "KVMMKC1"
#define KCACHE_PREFIX "vmlinux-"
#define KCACHE_SUFFIX ".kc"

struct kcache_header {
	char magic[8];
	struct kcache_id id;
	int64_t read_ns;   /* when the kernel file was read, for the racy check */
	uint32_t file_crc; /* CRC-32 of the kernel file */
	uint32_t reserved;
	uint64_t elf_len;
};

void kcache_id_from_stat(struct kcache_id *id, const struct stat *st)
{
	memset(id, 0, sizeof(*id));
	id->dev = st->st_dev;
	id->ino = st->st_ino;
	id->size = (uint64_t)st->st_size;
	id->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	id->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
}

bool kcache_default_dir(char *buf, size_t len)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	int n;
	if (xdg && xdg[0] == '/')
		n = snprintf(buf, len, "%s/kvmm/kernels", xdg);
	else if (home && home[0] == '/')
		n = snprintf(buf, len, "%s/.cache/kvmm/kernels", home);
	else
		return false;
	return n > 0 && (size_t)n < len;
}

static uint32_t file_crc(const uint8_t *p, size_t len)
{
	uLong crc = crc32(0L, Z_NULL, 0);
	while (len) {
		uInt n = len > (1U << 30) ? (1U << 30) : (uInt)len;
		crc = crc32(crc, p, n);
		p += n;
		len -= n;
	}
	return (uint32_t)crc;
}

/* FNV-1a over the identity: the entry's file name. */
static void entry_path(char *buf, size_t len, const char *dir, const struct kcache_id *id)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	const uint8_t *p = (const uint8_t *)id;
	for (size_t i = 0; i < sizeof(*id); i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	snprintf(buf, len, "%s/" KCACHE_PREFIX "%016llx" KCACHE_SUFFIX, dir, (unsigned long long)h);
}

static bool racy(const struct kcache_id *id, int64_t read_ns)
{
	int64_t changed = id->ctime_ns > id->mtime_ns ? id->ctime_ns : id->mtime_ns;
	return changed >= read_ns - KCACHE_RACY_NS;
}

int kcache_lookup(const char *dir, const struct kcache_id *id, int64_t read_ns, const uint8_t *file,
		  size_t len, struct kcache_entry *e, char *why, size_t whylen)
{
	memset(e, 0, sizeof(*e));
	char path[4096];
	entry_path(path, sizeof(path), dir, id);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return err_set(why, whylen, "%s: %s", path, strerror(errno));
	}
	struct stat st;
	struct kcache_header h;
	int r = 0;
	if (fstat(fd, &st) < 0 || pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
	    memcmp(h.magic, KCACHE_MAGIC, sizeof(h.magic)) ||
	    h.elf_len != (uint64_t)st.st_size - sizeof(h) || (uint64_t)st.st_size < sizeof(h))
		goto out; /* another format or a torn file: a miss, overwritten by the store */
	if (memcmp(&h.id, id, sizeof(*id)))
		goto out;
	/* The file may have changed since the entry was made without its timestamps showing it. */
	if ((racy(&h.id, h.read_ns) || racy(id, read_ns)) && file_crc(file, len) != h.file_crc)
		goto out;
	void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED) {
		r = err_set(why, whylen, "mmap %s: %s", path, strerror(errno));
		goto out;
	}
	*e = (struct kcache_entry){map, (size_t)st.st_size, (const uint8_t *)map + sizeof(h),
				   (size_t)h.elf_len};
	/* It is read once, front to back, right after this: ask for all of it now, in big reads,
	 * rather than a page per fault (which over a network filesystem is a round trip each). */
	madvise(map, (size_t)st.st_size, MADV_SEQUENTIAL);
	madvise(map, (size_t)st.st_size, MADV_WILLNEED);
	/* Least recently used goes first when the cache is trimmed. */
	futimens(fd, NULL);
	r = 1;
out:
	close(fd);
	return r;
}

struct old_entry {
	char name[64];
	int64_t mtime_ns;
	uint64_t size;
};

static int by_age(const void *a, const void *b)
{
	int64_t x = ((const struct old_entry *)a)->mtime_ns,
		y = ((const struct old_entry *)b)->mtime_ns;
	return x < y ? -1 : x > y;
}

/* Removes the oldest entries until the directory holds at most max_bytes; keep is spared. */
static void trim(const char *dir, const char *keep, uint64_t max_bytes)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct old_entry *v = NULL;
	size_t n = 0, cap = 0;
	uint64_t total = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (strncmp(de->d_name, KCACHE_PREFIX, strlen(KCACHE_PREFIX)) || l >= 64 ||
		    l < strlen(KCACHE_SUFFIX) ||
		    strcmp(de->d_name + l - strlen(KCACHE_SUFFIX), KCACHE_SUFFIX))
			continue;
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		total += (uint64_t)st.st_size;
		if (!strcmp(de->d_name, keep))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			struct old_entry *nv = realloc(v, cap * sizeof(*v));
			if (!nv)
				break;
			v = nv;
		}
		memcpy(v[n].name, de->d_name, l + 1); /* l < sizeof(name), checked above */
		v[n].mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
		v[n].size = (uint64_t)st.st_size;
		n++;
	}
	if (n)
		qsort(v, n, sizeof(*v), by_age);
	for (size_t i = 0; i < n && total > max_bytes; i++)
		if (unlinkat(dirfd(d), v[i].name, 0) == 0)
			total -= v[i].size;
	free(v);
	closedir(d);
}

/* mkdir -p, private to the user: the cache holds what the user's kernels contain. */
static int make_dir(const char *dir)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s", dir);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST)
			return -1;
		*s = '/';
	}
	return mkdir(p, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

static bool write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

int kcache_store(const char *dir, const struct kcache_id *id, int64_t read_ns, const uint8_t *file,
		 size_t len, const uint8_t *elf, size_t elf_len, uint64_t max_bytes, char *why,
		 size_t whylen)
{
	if (elf_len + sizeof(struct kcache_header) > max_bytes)
		return err_set(why, whylen, "%zu bytes is more than the cache holds", elf_len);
	if (make_dir(dir) < 0)
		return err_set(why, whylen, "%s: %s", dir, strerror(errno));
	char path[4096], tmp[4200];
	entry_path(path, sizeof(path), dir, id);
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_set(why, whylen, "%s: %s", tmp, strerror(errno));
	struct kcache_header h = {.magic = KCACHE_MAGIC,
				  .id = *id,
				  .read_ns = read_ns,
				  .file_crc = file_crc(file, len),
				  .elf_len = elf_len};
	if (!write_all(fd, &h, sizeof(h)) || !write_all(fd, elf, elf_len)) {
		int e = errno;
		close(fd);
		unlink(tmp);
		return err_set(why, whylen, "writing %s: %s", tmp, strerror(e ? e : EIO));
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return err_set(why, whylen, "%s: %s", path, strerror(e));
	}
	trim(dir, strrchr(path, '/') + 1, max_bytes);
	return 0;
}

void kcache_drop_pages(const struct kcache_entry *e)
{
	if (e->map)
		madvise(e->map, e->map_len, MADV_DONTNEED);
}

void kcache_release(struct kcache_entry *e)
{
	if (e->map)
		munmap(e->map, e->map_len);
	memset(e, 0, sizeof(*e));
}
