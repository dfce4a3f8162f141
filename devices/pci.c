#include "pci.h"

#include <string.h>

#include "vmm/le.h"
#include "vmm/log.h"

/* The host bridge Linux's conf1 sanity check looks for: an Intel 440FX, class "host bridge". */
#define HOST_BRIDGE_VENDOR 0x8086
#define HOST_BRIDGE_DEVICE 0x1237
#define CLASS_HOST_BRIDGE  0x060000

#define CONFIG_ENABLE 0x80000000U
#define CAP_START     0x40

void pci_device_init(struct pci_device *dev, const char *name, uint16_t vendor, uint16_t device,
		     uint32_t class_code, uint16_t subsys_vendor, uint16_t subsys_id)
{
	memset(dev, 0, sizeof(*dev));
	dev->name = name;
	le_put(&dev->cfg[PCI_VENDOR_ID], vendor, 2);
	le_put(&dev->cfg[PCI_DEVICE_ID], device, 2);
	le_put(&dev->cfg[PCI_CLASS_PROG], class_code, 3);
	le_put(&dev->cfg[PCI_SUBSYSTEM_VENDOR], subsys_vendor, 2);
	le_put(&dev->cfg[PCI_SUBSYSTEM_ID], subsys_id, 2);
	le_put(&dev->wmask[PCI_COMMAND],
	       PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE,
	       2);
	dev->wmask[PCI_INTERRUPT_LINE] = 0xff;
}

void pci_device_set_bar(struct pci_device *dev, int n, uint64_t size, bool io,
			const struct bus_ops *ops, void *opaque)
{
	dev->bars[n] = (struct pci_bar){.size = size, .io = io, .ops = ops, .opaque = opaque};
	/* BAR bits below the size read back as zero; the type bits are fixed. */
	uint64_t mask = ~(size - 1);
	if (io) {
		le_put(&dev->cfg[PCI_BASE_ADDRESS_0 + 4 * n], PCI_BAR_IO, 4);
		le_put(&dev->wmask[PCI_BASE_ADDRESS_0 + 4 * n], (uint32_t)mask & 0xfffc, 4);
	} else {
		/* 64-bit memory BARs take two slots; n + 1 holds the high half. */
		le_put(&dev->cfg[PCI_BASE_ADDRESS_0 + 4 * n], PCI_BAR_MEM64, 4);
		le_put(&dev->wmask[PCI_BASE_ADDRESS_0 + 4 * n], (uint32_t)mask & ~0xfU, 4);
		le_put(&dev->wmask[PCI_BASE_ADDRESS_0 + 4 * (n + 1)], (uint32_t)(mask >> 32), 4);
	}
}

unsigned pci_device_add_cap(struct pci_device *dev, uint8_t id, unsigned len)
{
	unsigned off = dev->cap_end ? dev->cap_end : CAP_START;
	if (len < 2 || off + len > PCI_CFG_SIZE)
		return 0;
	if (dev->cap_last)
		dev->cfg[dev->cap_last + 1] = (uint8_t)off;
	else
		dev->cfg[PCI_CAPABILITY_LIST] = (uint8_t)off;
	dev->cfg[off] = id;
	dev->cfg[off + 1] = 0;
	dev->cap_last = off;
	dev->cap_end = (off + len + 3) & ~3U;
	dev->cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	return off;
}

/* Where the guest put BAR n, from its configuration registers. */
static uint64_t bar_address(const struct pci_device *dev, int n)
{
	const struct pci_bar *bar = &dev->bars[n];
	uint32_t lo = (uint32_t)le_get(&dev->cfg[PCI_BASE_ADDRESS_0 + 4 * n], 4);
	if (bar->io)
		return lo & ~0x3U;
	uint32_t hi = (uint32_t)le_get(&dev->cfg[PCI_BASE_ADDRESS_0 + 4 * (n + 1)], 4);
	return ((uint64_t)hi << 32) | (lo & ~0xfU);
}

/* Brings each BAR's claim on the port or MMIO bus in line with the command register and the
 * address the guest programmed. Called after every write that can change either. */
static void update_bars(struct pci_bus *pci, struct pci_device *dev)
{
	uint16_t cmd = (uint16_t)(uint32_t)le_get(&dev->cfg[PCI_COMMAND], 2);
	for (int n = 0; n < PCI_NUM_BARS; n++) {
		struct pci_bar *bar = &dev->bars[n];
		if (!bar->size)
			continue;
		struct bus *bus = bar->io ? pci->pio : pci->mmio;
		bool enabled = cmd & (bar->io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY);
		uint64_t addr = bar_address(dev, n);
		bool want = enabled && addr != 0;
		if (bar->mapped && (!want || addr != bar->addr)) {
			bus_unregister(bus, bar->addr);
			bar->mapped = false;
			if (dev->bar_moved)
				dev->bar_moved(dev, n, bar->addr, false);
		}
		if (want && !bar->mapped) {
			/* A guest that places a BAR over another claim gets a device that does not
			 * answer there, as on real hardware with a decode conflict. */
			char why[256];
			if (bus_claim(bus, addr, bar->size, bar->ops, bar->opaque, dev->name, why,
				      sizeof(why)) == 0) {
				bar->addr = addr;
				bar->mapped = true;
				if (dev->bar_moved)
					dev->bar_moved(dev, n, addr, true);
			} else {
				log_warn_limited(&pci->bar_log, "%s: BAR %d not decoded: %s",
						 dev->name, n, why);
			}
		}
	}
}

uint32_t pci_cfg_read(struct pci_bus *pci, uint8_t slot, unsigned offset, unsigned len)
{
	if (slot >= PCI_MAX_DEVICES || offset + len > PCI_CFG_SIZE)
		return 0xffffffffU >> (32 - 8 * len);
	pthread_mutex_lock(&pci->lock);
	struct pci_device *dev = pci->slots[slot];
	uint32_t v = dev ? (uint32_t)le_get(&dev->cfg[offset], len) : 0xffffffffU >> (32 - 8 * len);
	pthread_mutex_unlock(&pci->lock);
	return v;
}

void pci_cfg_write(struct pci_bus *pci, uint8_t slot, unsigned offset, uint32_t val, unsigned len)
{
	if (slot >= PCI_MAX_DEVICES || offset + len > PCI_CFG_SIZE)
		return;
	pthread_mutex_lock(&pci->lock);
	struct pci_device *dev = pci->slots[slot];
	if (dev) {
		for (unsigned i = 0; i < len; i++) {
			uint8_t m = dev->wmask[offset + i], b = (uint8_t)(val >> (8 * i));
			dev->cfg[offset + i] = (uint8_t)((dev->cfg[offset + i] & ~m) | (b & m));
		}
		if (offset < PCI_BASE_ADDRESS_0 + 4 * PCI_NUM_BARS && offset + len > PCI_COMMAND)
			update_bars(pci, dev);
		if (dev->cfg_write)
			dev->cfg_write(dev, offset, val, len);
	}
	pthread_mutex_unlock(&pci->lock);
}

#define RESET_CONTROL_OFFSET  1 /* 0xCF9 */
#define RESET_CONTROL_RST_CPU 0x04

/* Type-1 configuration address: enable bit, bus, device, function, dword register. */
static bool decode_address(uint32_t a, uint8_t *slot, unsigned *reg)
{
	unsigned bus = (a >> 16) & 0xff, fn = (a >> 8) & 7;
	*slot = (uint8_t)((a >> 11) & 0x1f);
	*reg = a & 0xfc;
	return (a & CONFIG_ENABLE) && bus == 0 && fn == 0;
}

/* The slot and register a data-port access (0xcfc + port_offset - 4) reaches, per the address
 * the guest latched in 0xcf8; false when that address is disabled or names another bus or a
 * function we do not have. */
static bool config_target(struct pci_bus *pci, uint64_t port_offset, uint8_t *slot, unsigned *reg)
{
	pthread_mutex_lock(&pci->lock);
	uint32_t a = pci->config_address;
	pthread_mutex_unlock(&pci->lock);
	if (!decode_address(a, slot, reg))
		return false;
	*reg += (unsigned)(port_offset - 4);
	return true;
}

static void pci_port_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct pci_bus *pci = opaque;
	uint32_t v = 0xffffffffU;
	if (offset < 4) {
		/* Only whole-dword reads of CONFIG_ADDRESS return it (Linux's probe checks). */
		pthread_mutex_lock(&pci->lock);
		if (offset == 0 && len == 4)
			v = pci->config_address;
		else if (offset == RESET_CONTROL_OFFSET && len == 1)
			v = pci->reset_control;
		pthread_mutex_unlock(&pci->lock);
	} else {
		uint8_t slot;
		unsigned reg;
		if (config_target(pci, offset, &slot, &reg))
			v = pci_cfg_read(pci, slot, reg, len);
	}
	le_put(data, v, len);
}

static void pci_port_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct pci_bus *pci = opaque;
	uint32_t v = (uint32_t)le_get(data, len);
	if (offset < 4) {
		bool reset = false;
		pthread_mutex_lock(&pci->lock);
		if (offset == 0 && len == 4) {
			pci->config_address = v;
		} else if (offset == RESET_CONTROL_OFFSET && len == 1) {
			/* Linux's reboot=pci writes SYS_RST, then SYS_RST|RST_CPU; reboot=acpi the
			 * FADT's RESET_VALUE. The bit itself does not stay set. */
			reset = v & RESET_CONTROL_RST_CPU;
			pci->reset_control = (uint8_t)(v & ~RESET_CONTROL_RST_CPU);
		}
		pthread_mutex_unlock(&pci->lock);
		if (reset && pci->reset_request)
			pci->reset_request(pci->reset_opaque);
		return;
	}
	uint8_t slot;
	unsigned reg;
	if (config_target(pci, offset, &slot, &reg))
		pci_cfg_write(pci, slot, reg, v, len);
}

void pci_bus_set_reset(struct pci_bus *pci, void (*request)(void *opaque), void *opaque)
{
	pci->reset_request = request;
	pci->reset_opaque = opaque;
}

static const struct bus_ops pci_port_ops = {.read = pci_port_read, .write = pci_port_write};

int pci_bus_init(struct pci_bus *pci, struct bus *pio, struct bus *mmio)
{
	memset(pci, 0, sizeof(*pci));
	pthread_mutex_init(&pci->lock, NULL);
	pci->pio = pio;
	pci->mmio = mmio;
	pci_device_init(&pci->host_bridge, "host-bridge", HOST_BRIDGE_VENDOR, HOST_BRIDGE_DEVICE,
			CLASS_HOST_BRIDGE, 0, 0);
	pci->slots[0] = &pci->host_bridge;
	return bus_register(pio, PCI_CONFIG_ADDRESS, 8, &pci_port_ops, pci, "pci-config");
}

void pci_bus_destroy(struct pci_bus *pci)
{
	pthread_mutex_destroy(&pci->lock);
}

int pci_bus_add(struct pci_bus *pci, struct pci_device *dev)
{
	pthread_mutex_lock(&pci->lock);
	int slot = -1;
	for (int i = 0; i < PCI_MAX_DEVICES && slot < 0; i++)
		if (!pci->slots[i])
			slot = i;
	if (slot >= 0)
		pci->slots[slot] = dev;
	pthread_mutex_unlock(&pci->lock);
	if (slot < 0)
		log_error("pci: no free slot for %s", dev->name);
	return slot;
}

void pci_bus_reset(struct pci_bus *pci)
{
	pthread_mutex_lock(&pci->lock);
	pci->config_address = 0;
	pci->reset_control = 0;
	for (int i = 0; i < PCI_MAX_DEVICES; i++) {
		struct pci_device *dev = pci->slots[i];
		if (!dev)
			continue;
		/* Clear everything the guest could write, then drop the claims that follow. */
		for (unsigned off = 0; off < PCI_CFG_SIZE; off++)
			dev->cfg[off] &= (uint8_t)~dev->wmask[off];
		update_bars(pci, dev);
	}
	pthread_mutex_unlock(&pci->lock);
}
