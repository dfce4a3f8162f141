#include "guest_mem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

#include "log.h"

int gmem_layout(uint64_t ram_size, uint64_t hole_start, uint64_t hole_end,
		struct gmem_region out[GMEM_MAX_REGIONS])
{
	if (ram_size <= hole_start) {
		out[0] = (struct gmem_region){.gpa = 0, .size = ram_size};
		return 1;
	}
	out[0] = (struct gmem_region){.gpa = 0, .size = hole_start};
	out[1] = (struct gmem_region){.gpa = hole_end, .size = ram_size - hole_start};
	return 2;
}

int gmem_init_layout(struct guest_mem *mem, uint64_t ram_size, uint64_t hole_start,
		     uint64_t hole_end)
{
	memset(mem, 0, sizeof(*mem));
	if (ram_size == 0 || ram_size > UINT64_MAX - hole_end) {
		log_error("guest memory size %llu is not usable", (unsigned long long)ram_size);
		return -1;
	}
	/* MAP_NORESERVE: the guest touches pages lazily; a 2G guest that idles at 100M should cost
	 * 100M of host memory, and overcommit policy decides, not us. */
	/* Aligned to 2 MiB, so guest-physical 2 MiB pages are host ones too where THP backs them
	 * (gmem_prefault), and KVM can map them as large pages. */
	size_t slop = GMEM_HUGE_PAGE;
	uint8_t *p = mmap(NULL, ram_size + slop, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		log_error("cannot map %llu MiB of guest memory: %s",
			  (unsigned long long)(ram_size >> 20), strerror(errno));
		return -1;
	}
	uint8_t *base = (uint8_t *)(((uintptr_t)p + slop - 1) & ~(uintptr_t)(slop - 1));
	if (base > p)
		munmap(p, (size_t)(base - p));
	if (p + slop > base)
		munmap(base + ram_size, (size_t)(p + slop - base));
	mem->base = base;
	mem->ram_size = ram_size;
	mem->nregions = gmem_layout(ram_size, hole_start, hole_end, mem->regions);
	uint64_t off = 0;
	for (int i = 0; i < mem->nregions; i++) {
		mem->regions[i].host = mem->base + off;
		off += mem->regions[i].size;
	}
	return 0;
}

int gmem_init(struct guest_mem *mem, uint64_t ram_size)
{
	return gmem_init_layout(mem, ram_size, GMEM_HOLE_START, GMEM_HOLE_END);
}

void gmem_free(struct guest_mem *mem)
{
	if (mem->base)
		munmap(mem->base, mem->ram_size);
	memset(mem, 0, sizeof(*mem));
}

int gmem_wipe(struct guest_mem *mem)
{
	/* On a private anonymous mapping MADV_DONTNEED drops the pages: the next touch gets a
	 * fresh zero page, and KVM's MMU notifier forgets its mappings of the old ones. */
	if (mem->base && madvise(mem->base, mem->ram_size, MADV_DONTNEED) < 0) {
		log_error("reset: dropping guest memory: %s", strerror(errno));
		return -1;
	}
	return 0;
}

void gmem_prefault(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	uint64_t start = gpa & ~(GMEM_HUGE_PAGE - 1),
		 end = (gpa + len + GMEM_HUGE_PAGE - 1) & ~(GMEM_HUGE_PAGE - 1);
	if (end <= start)
		return;
	uint8_t *host = gmem_ptr(mem, start, end - start);
	if (!host)
		return;
	/* Best effort: older kernels lack MADV_POPULATE_WRITE, THP may be off. */
	madvise(host, end - start, MADV_POPULATE_WRITE);
}

void *gmem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	if (len == 0)
		return NULL;
	for (int i = 0; i < mem->nregions; i++) {
		const struct gmem_region *r = &mem->regions[i];
		/* Written so no sum can overflow: gpa - r->gpa only runs when gpa >= r->gpa. */
		if (gpa < r->gpa || len > r->size || gpa - r->gpa > r->size - len)
			continue;
		return r->host + (gpa - r->gpa);
	}
	return NULL;
}

bool gmem_read(const struct guest_mem *mem, uint64_t gpa, void *dst, uint64_t len)
{
	const void *src = gmem_ptr(mem, gpa, len);
	if (!src)
		return false;
	memcpy(dst, src, len);
	return true;
}

bool gmem_write(const struct guest_mem *mem, uint64_t gpa, const void *src, uint64_t len)
{
	void *dst = gmem_ptr(mem, gpa, len);
	if (!dst)
		return false;
	memcpy(dst, src, len);
	return true;
}

uint64_t gmem_low_end(const struct guest_mem *mem)
{
	return mem->nregions > 0 ? mem->regions[0].size : 0;
}
