/* Split rings built by hand for the unit tests, laid out as virtio 1.2 section 2.7 says. */
#pragma once

#include <check.h>
#include <stdint.h>
#include <string.h>

#include "vmm/guest_mem.h"

/* Writes descriptor i of the table at gpa table: addr, len, flags, next, little-endian. */
static inline void ring_desc(const struct guest_mem *mem, uint64_t table, unsigned i, uint64_t addr,
			     uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t d[16];
	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
	ck_assert(gmem_write(mem, table + 16ULL * i, d, 16));
}
