/* Guest RAM and the one way to reach it.
 *
 * Every guest-physical address the VMM touches, whether it came from our own loader or from an
 * untrusted guest (a virtqueue descriptor, a DMA address), goes through gmem_ptr(). It refuses
 * anything not wholly inside one RAM region, so an address in the PCI hole, past the end of RAM,
 * or one whose end wraps past 2^64 can never be dereferenced. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The 32-bit PCI hole: RAM that would fall into [3 GiB, 4 GiB) is moved above 4 GiB so MMIO BARs,
 * the IOAPIC and the local APIC have room. */
#define GMEM_HOLE_START 0xC0000000ULL
#define GMEM_HOLE_END	0x100000000ULL

#define GMEM_MAX_REGIONS 2
#define GMEM_HUGE_PAGE	 (2ULL << 20)

struct gmem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *host;
};

struct guest_mem {
	uint8_t *base; /* one host mapping backs all regions, in order */
	uint64_t ram_size;
	int nregions;
	struct gmem_region regions[GMEM_MAX_REGIONS];
};

/* Splits ram_size bytes of RAM around [hole_start, hole_end); fills out[] (gpa and size only) and
 * returns the number of regions. Pure, so tests can use a small hole. */
int gmem_layout(uint64_t ram_size, uint64_t hole_start, uint64_t hole_end,
		struct gmem_region out[GMEM_MAX_REGIONS]);

/* Maps ram_size bytes of anonymous memory and lays it out around the standard PCI hole.
 * Returns 0, or -1 after printing why. */
int gmem_init(struct guest_mem *mem, uint64_t ram_size);
/* Same, with an explicit hole (for tests). */
int gmem_init_layout(struct guest_mem *mem, uint64_t ram_size, uint64_t hole_start,
		     uint64_t hole_end);
void gmem_free(struct guest_mem *mem);
/* Gives all of RAM back to the host: it reads as zeroes again, as at power-on, and costs no
 * memory until touched. Returns 0, or -1 after printing why. */
int gmem_wipe(struct guest_mem *mem);

/* Host pointer for guest bytes [gpa, gpa + len), or NULL unless all of them are RAM in a single
 * region. A zero-length access is refused: no legitimate use needs a pointer to nothing. */
void *gmem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len);

/* Backs the 2 MiB pages around [gpa, gpa + len) with transparent huge pages where the host
 * allows, and allocates them now: for what the loader is about to fill (the kernel, the initrd),
 * one call instead of a page fault per 4 KiB, and large pages for the guest's kernel. */
void gmem_prefault(const struct guest_mem *mem, uint64_t gpa, uint64_t len);

/* Copies through gmem_ptr(); false when the range is not RAM. */
bool gmem_read(const struct guest_mem *mem, uint64_t gpa, void *dst, uint64_t len);
bool gmem_write(const struct guest_mem *mem, uint64_t gpa, const void *src, uint64_t len);

/* End of the RAM region that starts at 0 (RAM below the hole). */
uint64_t gmem_low_end(const struct guest_mem *mem);
