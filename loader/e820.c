#include "e820.h"

#include <string.h>

int e820_add(struct e820_map *map, uint64_t addr, uint64_t size, uint32_t type)
{
	if (size == 0 || addr + size < addr || map->n >= E820_MAX)
		return -1;
	if (map->n > 0) {
		const struct e820_entry *prev = &map->e[map->n - 1];
		if (addr < prev->addr + prev->size)
			return -1;
	}
	map->e[map->n++] = (struct e820_entry){addr, size, type};
	return 0;
}

int e820_build(struct e820_map *map, const struct gmem_region *regions, int nregions)
{
	memset(map, 0, sizeof(*map));
	if (nregions < 1 || regions[0].gpa != 0 || regions[0].size <= E820_HIGH_MEM)
		return -1;
	if (e820_add(map, 0, E820_BASE_MEM_END, E820_RAM) ||
	    e820_add(map, E820_BASE_MEM_END, E820_HIGH_MEM - E820_BASE_MEM_END, E820_RESERVED) ||
	    e820_add(map, E820_HIGH_MEM, regions[0].size - E820_HIGH_MEM, E820_RAM))
		return -1;
	for (int i = 1; i < nregions; i++)
		if (e820_add(map, regions[i].gpa, regions[i].size, E820_RAM))
			return -1;
	return 0;
}

int e820_insert(struct e820_map *map, uint64_t addr, uint64_t size, uint32_t type)
{
	if (size == 0 || addr + size < addr || map->n >= E820_MAX)
		return -1;
	int i = 0;
	while (i < map->n && map->e[i].addr < addr)
		i++;
	if (i > 0 && map->e[i - 1].addr + map->e[i - 1].size > addr)
		return -1;
	if (i < map->n && addr + size > map->e[i].addr)
		return -1;
	memmove(&map->e[i + 1], &map->e[i], (size_t)(map->n - i) * sizeof(map->e[0]));
	map->e[i] = (struct e820_entry){addr, size, type};
	map->n++;
	return 0;
}
