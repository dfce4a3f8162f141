#include "bus.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

void bus_init(struct bus *bus, enum bus_kind kind)
{
	memset(bus, 0, sizeof(*bus));
	bus->kind = kind;
	bus->name = kind == BUS_PIO ? "pio" : "mmio";
	pthread_rwlock_init(&bus->lock, NULL);
	pthread_mutex_init(&bus->unhandled_lock, NULL);
}

void bus_destroy(struct bus *bus)
{
	free(bus->ranges);
	pthread_rwlock_destroy(&bus->lock);
	pthread_mutex_destroy(&bus->unhandled_lock);
	memset(bus, 0, sizeof(*bus));
}

/* Index of the last range with base <= addr, or -1: the only one that can contain addr. */
static int bus_find(const struct bus *bus, uint64_t addr)
{
	int lo = 0, hi = bus->nranges;
	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;
		if (bus->ranges[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo - 1;
}

static uint64_t range_last(const struct bus_range *r)
{
	return r->base + r->len - 1;
}

int bus_claim(struct bus *bus, uint64_t base, uint64_t len, const struct bus_ops *ops, void *dev,
	      const char *name, char *why, size_t whylen)
{
	if (len == 0 || base + len - 1 < base)
		return err_set(why, whylen, "%s: %s claims an empty or wrapping range at 0x%llx",
			       bus->name, name, (unsigned long long)base);
	int ret = -1;
	pthread_rwlock_wrlock(&bus->lock);
	int i = bus_find(bus, base);
	uint64_t last = base + len - 1;
	/* Only the claim starting at or before base and the one after it can overlap. */
	for (int j = i < 0 ? 0 : i; j < bus->nranges && j <= i + 1; j++) {
		const struct bus_range *r = &bus->ranges[j];
		if (base <= range_last(r) && r->base <= last) {
			err_set(why, whylen, "%s: %s [0x%llx-0x%llx] overlaps %s [0x%llx-0x%llx]",
				bus->name, name, (unsigned long long)base, (unsigned long long)last,
				r->name, (unsigned long long)r->base,
				(unsigned long long)range_last(r));
			goto out;
		}
	}
	if (bus->nranges == bus->cap) {
		int cap = bus->cap ? bus->cap * 2 : 16;
		struct bus_range *n = realloc(bus->ranges, (size_t)cap * sizeof(*n));
		if (!n) {
			err_set(why, whylen, "%s: out of memory registering %s", bus->name, name);
			goto out;
		}
		bus->ranges = n;
		bus->cap = cap;
	}
	i++; /* keep the array sorted by base */
	memmove(&bus->ranges[i + 1], &bus->ranges[i],
		(size_t)(bus->nranges - i) * sizeof(bus->ranges[0]));
	bus->ranges[i] = (struct bus_range){base, len, ops, dev, name};
	bus->nranges++;
	ret = 0;
out:
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

int bus_register(struct bus *bus, uint64_t base, uint64_t len, const struct bus_ops *ops, void *dev,
		 const char *name)
{
	char why[256];
	if (bus_claim(bus, base, len, ops, dev, name, why, sizeof(why)) < 0) {
		log_error("%s", why);
		return -1;
	}
	return 0;
}

int bus_unregister(struct bus *bus, uint64_t base)
{
	int ret = -1;
	pthread_rwlock_wrlock(&bus->lock);
	for (int i = 0; i < bus->nranges; i++) {
		if (bus->ranges[i].base != base)
			continue;
		memmove(&bus->ranges[i], &bus->ranges[i + 1],
			(size_t)(bus->nranges - i - 1) * sizeof(bus->ranges[0]));
		bus->nranges--;
		ret = 0;
		break;
	}
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

/* True the first time this port (or MMIO page) shows up unclaimed. */
static bool bus_note_unhandled(struct bus *bus, uint64_t addr)
{
	bool first = false;
	pthread_mutex_lock(&bus->unhandled_lock);
	bus->unhandled_total++;
	if (bus->kind == BUS_PIO) {
		uint64_t bit = 1ULL << (addr % 64);
		uint64_t *word = &bus->unhandled_ports[(addr & 0xffff) / 64];
		first = !(*word & bit);
		*word |= bit;
		bus->nunhandled += first;
	} else {
		uint64_t page = addr & ~0xfffULL;
		first = bus->nunhandled < BUS_UNHANDLED_MMIO_MAX;
		for (int i = 0; i < bus->nunhandled && first; i++)
			first = bus->unhandled_pages[i] != page;
		if (first)
			bus->unhandled_pages[bus->nunhandled++] = page;
	}
	pthread_mutex_unlock(&bus->unhandled_lock);
	return first;
}

bool bus_access(struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	/* The claim is copied and the lock dropped before the device runs: a device may re-claim
	 * ranges from inside an access (a guest moving a PCI BAR through port 0xcfc), and devices
	 * live as long as the VM, so a stale copy never points at freed state. */
	struct bus_range r = {0};
	bool found = false;
	pthread_rwlock_rdlock(&bus->lock);
	int i = bus_find(bus, addr);
	if (i >= 0) {
		r = bus->ranges[i];
		/* The whole access must lie inside the claim; one straddling two devices goes to
		 * neither. */
		found = addr - r.base < r.len && len <= r.len - (addr - r.base);
	}
	pthread_rwlock_unlock(&bus->lock);

	if (found && r.ops) {
		if (is_write)
			r.ops->write(r.dev, addr - r.base, data, len);
		else
			r.ops->read(r.dev, addr - r.base, data, len);
	} else if (!is_write) {
		memset(data, 0xff, len);
	}
	if (!found && bus_note_unhandled(bus, addr))
		log_debug("%s: unhandled %u-byte %s at 0x%llx (logged once)", bus->name, len,
			  is_write ? "write" : "read", (unsigned long long)addr);
	return found;
}

int bus_unhandled_count(struct bus *bus)
{
	pthread_mutex_lock(&bus->unhandled_lock);
	int n = bus->nunhandled;
	pthread_mutex_unlock(&bus->unhandled_lock);
	return n;
}
