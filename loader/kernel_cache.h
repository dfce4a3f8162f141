/* The cache of kernels decompressed on the host: one file per bzImage, named after the kernel
 * file's identity (device, inode, size, mtime, ctime), holding the ELF its payload unpacked to.
 * A kernel rewritten in place changes its ctime, which no program can set back; one rewritten
 * within the filesystem's timestamp granularity of the moment kvmm read it ("racy", as git calls
 * it) is checked against the CRC-32 of its contents as well. Least recently used entries go once
 * the directory holds more than KCACHE_MAX_BYTES. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#define KCACHE_MAX_BYTES (512ULL << 20)
/* Timestamps closer than this to the moment the kernel was read are not trusted alone. */
#define KCACHE_RACY_NS (2LL * 1000000000)

struct kcache_id {
	uint64_t dev, ino, size;
	int64_t mtime_ns, ctime_ns;
};

struct kcache_entry {
	void *map; /* the whole cache file, mapped read-only */
	size_t map_len;
	const uint8_t *elf; /* inside map */
	size_t elf_len;
};

void kcache_id_from_stat(struct kcache_id *id, const struct stat *st);

/* $XDG_CACHE_HOME/kvmm/kernels, else $HOME/.cache/kvmm/kernels; false when neither is set. */
bool kcache_default_dir(char *buf, size_t len);

/* Finds the entry for a kernel file of these contents, read at read_ns (CLOCK_REALTIME). Returns
 * 1 on a hit (e filled; release it), 0 on a miss, -1 on an error (why says it; treat as a miss). */
int kcache_lookup(const char *dir, const struct kcache_id *id, int64_t read_ns, const uint8_t *file,
		  size_t len, struct kcache_entry *e, char *why, size_t whylen);

/* Stores elf for that kernel file, atomically (a temporary file renamed), then trims the
 * directory to max_bytes. Returns 0, or -1 with why (a read-only or full disk). */
int kcache_store(const char *dir, const struct kcache_id *id, int64_t read_ns, const uint8_t *file,
		 size_t len, const uint8_t *elf, size_t elf_len, uint64_t max_bytes, char *why,
		 size_t whylen);

/* Drops what the mapping holds in memory (it comes back from the page cache when read again). */
void kcache_drop_pages(const struct kcache_entry *e);
void kcache_release(struct kcache_entry *e);
