/* The info commands: what the machine is made of and what it did (CPUs, memory, PCI, disks,
 * NICs), as JSON results and as text for people. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "control_cmds.h"
#include "vm.h"

int cmd_cpus(struct control *ctl, struct json_object *req, struct control_origin *o,
	     struct json_object *result, char *err, size_t errlen)
{
	(void)req, (void)o;
	if (!need_vm(ctl, err, errlen))
		return -1;
	struct vm *vm = ctl->vm;
	struct json_object *cpus = json_object_new_array();
	put(result, "cpus", cpus);
	/* A vCPU's registers can be read only while it is out of KVM_RUN: each is held for the
	 * moment it takes (a paused VM is held already). */
	vm_hold_vcpus(vm);
	int r = 0;
	for (int i = 0; i < vm->ncpus; i++) {
		struct vcpu_info info;
		if (vcpu_get_info(&vm->vcpus[i], &info) < 0) {
			snprintf(err, errlen, "vCPU %d: %s", i, strerror(errno));
			r = -1;
			break;
		}
		struct json_object *c = json_object_new_object();
		put(c, "cpu", json_object_new_int(i));
		put(c, "state", json_object_new_string(info.halted ? "halted" : "running"));
		put(c, "rip", json_object_new_uint64(info.rip));
		put(c, "cr3", json_object_new_uint64(info.cr3));
		json_object_array_add(cpus, c);
	}
	vm_release_vcpus(vm);
	return r;
}

void print_cpus(struct json_object *r, FILE *out)
{
	struct json_object *cpus;
	size_t count = get_array(r, "cpus", &cpus);
	for (size_t i = 0; i < count; i++) {
		struct json_object *c = json_object_array_get_idx(cpus, i);
		fprintf(out, "CPU %d: %-7s RIP 0x%016" PRIx64 " CR3 0x%" PRIx64 "\n",
			(int)get_u64(c, "cpu"), get_string(c, "state"), get_u64(c, "rip"),
			get_u64(c, "cr3"));
	}
}

int cmd_mem(struct control *ctl, struct json_object *req, struct control_origin *o,
	    struct json_object *result, char *err, size_t errlen)
{
	(void)req, (void)o;
	if (!need_vm(ctl, err, errlen))
		return -1;
	const struct guest_mem *mem = &ctl->vm->mem;
	put(result, "ram_size", json_object_new_uint64(mem->ram_size));
	struct json_object *regions = json_object_new_array();
	put(result, "regions", regions);
	for (int i = 0; i < mem->nregions; i++) {
		struct json_object *r = json_object_new_object();
		put(r, "slot", json_object_new_int(i)); /* map_memory: one memslot per region */
		put(r, "gpa", json_object_new_uint64(mem->regions[i].gpa));
		put(r, "size", json_object_new_uint64(mem->regions[i].size));
		json_object_array_add(regions, r);
	}
	return 0;
}

void print_mem(struct json_object *r, FILE *out)
{
	fprintf(out, "RAM %" PRIu64 " MiB\n", get_u64(r, "ram_size") >> 20);
	struct json_object *regions;
	size_t count = get_array(r, "regions", &regions);
	for (size_t i = 0; i < count; i++) {
		struct json_object *g = json_object_array_get_idx(regions, i);
		uint64_t gpa = get_u64(g, "gpa"), size = get_u64(g, "size");
		fprintf(out, "memslot %d: 0x%09" PRIx64 "-0x%09" PRIx64 " (%" PRIu64 " MiB)\n",
			(int)get_u64(g, "slot"), gpa, gpa + size - 1, size >> 20);
	}
}

static uint16_t cfg16(const struct pci_device *d, unsigned off)
{
	return (uint16_t)(d->cfg[off] | d->cfg[off + 1] << 8);
}

int cmd_pci(struct control *ctl, struct json_object *req, struct control_origin *o,
	    struct json_object *result, char *err, size_t errlen)
{
	(void)req, (void)o;
	if (!need_vm(ctl, err, errlen))
		return -1;
	struct pci_bus *pci = &ctl->vm->pci;
	struct json_object *devs = json_object_new_array();
	put(result, "devices", devs);
	pthread_mutex_lock(&pci->lock);
	for (int slot = 0; slot < PCI_MAX_DEVICES; slot++) {
		const struct pci_device *d = pci->slots[slot];
		if (!d)
			continue;
		char bdf[16];
		snprintf(bdf, sizeof(bdf), "00:%02x.0", slot);
		struct json_object *j = json_object_new_object();
		put(j, "bdf", json_object_new_string(bdf));
		put(j, "name", json_object_new_string(d->name));
		put(j, "vendor", json_object_new_int(cfg16(d, PCI_VENDOR_ID)));
		put(j, "device", json_object_new_int(cfg16(d, PCI_DEVICE_ID)));
		struct json_object *bars = json_object_new_array();
		for (int n = 0; n < PCI_NUM_BARS; n++) {
			const struct pci_bar *b = &d->bars[n];
			if (!b->size)
				continue;
			struct json_object *bar = json_object_new_object();
			put(bar, "bar", json_object_new_int(n));
			put(bar, "type", json_object_new_string(b->io ? "io" : "mem"));
			put(bar, "size", json_object_new_uint64(b->size));
			put(bar, "mapped", json_object_new_boolean(b->mapped));
			if (b->mapped)
				put(bar, "addr", json_object_new_uint64(b->addr));
			json_object_array_add(bars, bar);
		}
		put(j, "bars", bars);
		json_object_array_add(devs, j);
	}
	pthread_mutex_unlock(&pci->lock);
	return 0;
}

void print_pci(struct json_object *r, FILE *out)
{
	struct json_object *devs;
	size_t count = get_array(r, "devices", &devs);
	for (size_t i = 0; i < count; i++) {
		struct json_object *d = json_object_array_get_idx(devs, i), *bars;
		fprintf(out, "%s %04x:%04x %s\n", get_string(d, "bdf"), (int)get_u64(d, "vendor"),
			(int)get_u64(d, "device"), get_string(d, "name"));
		size_t nbars = get_array(d, "bars", &bars);
		for (size_t k = 0; k < nbars; k++) {
			struct json_object *b = json_object_array_get_idx(bars, k), *a;
			fprintf(out, "  BAR%d %s %" PRIu64 " bytes", (int)get_u64(b, "bar"),
				get_string(b, "type"), get_u64(b, "size"));
			if (json_object_object_get_ex(b, "addr", &a))
				fprintf(out, " at 0x%" PRIx64 "\n", json_object_get_uint64(a));
			else
				fprintf(out, " (not mapped)\n");
		}
	}
}

int cmd_block(struct control *ctl, struct json_object *req, struct control_origin *o,
	      struct json_object *result, char *err, size_t errlen)
{
	(void)req, (void)o;
	if (!need_vm(ctl, err, errlen))
		return -1;
	struct json_object *disks = json_object_new_array();
	put(result, "disks", disks);
	for (int i = 0; i < ctl->vm->ndisks; i++) {
		struct virtio_blk *blk = ctl->vm->disks[i];
		pthread_mutex_lock(&blk->vd.lock);
		struct virtio_blk_stats st = blk->stats;
		pthread_mutex_unlock(&blk->vd.lock);
		char dev[8];
		snprintf(dev, sizeof(dev), "vd%c", 'a' + i);
		struct json_object *d = json_object_new_object();
		put(d, "device", json_object_new_string(dev));
		put(d, "path", json_object_new_string(blk->path ? blk->path : ""));
		put(d, "ro", json_object_new_boolean(blk->ro));
		put(d, "rd_reqs", json_object_new_uint64(st.rd_reqs));
		put(d, "rd_bytes", json_object_new_uint64(st.rd_bytes));
		put(d, "wr_reqs", json_object_new_uint64(st.wr_reqs));
		put(d, "wr_bytes", json_object_new_uint64(st.wr_bytes));
		put(d, "flushes", json_object_new_uint64(st.flushes));
		json_object_array_add(disks, d);
	}
	return 0;
}

void print_block(struct json_object *r, FILE *out)
{
	struct json_object *disks;
	if (!json_object_object_get_ex(r, "disks", NULL))
		return;
	size_t count = get_array(r, "disks", &disks);
	if (!count)
		fprintf(out, "no disks\n");
	for (size_t i = 0; i < count; i++) {
		struct json_object *d = json_object_array_get_idx(disks, i), *ro;
		json_object_object_get_ex(d, "ro", &ro);
		fprintf(out,
			"%s: %s%s  read %" PRIu64 " reqs %" PRIu64 " bytes  written %" PRIu64
			" reqs %" PRIu64 " bytes  flushes %" PRIu64 "\n",
			get_string(d, "device"), get_string(d, "path"),
			json_object_get_boolean(ro) ? " (ro)" : "", get_u64(d, "rd_reqs"),
			get_u64(d, "rd_bytes"), get_u64(d, "wr_reqs"), get_u64(d, "wr_bytes"),
			get_u64(d, "flushes"));
	}
}

/* The TAP's counters in sysfs see every packet, vhost's included; the host's transmit is the
 * guest's receive. */
static uint64_t tap_stat(const char *tap, const char *name)
{
	char path[128];
	snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/%s", tap, name);
	FILE *f = fopen(path, "re");
	unsigned long long v = 0;
	if (f) {
		if (fscanf(f, "%llu", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v;
}

int cmd_net(struct control *ctl, struct json_object *req, struct control_origin *o,
	    struct json_object *result, char *err, size_t errlen)
{
	(void)req, (void)o;
	if (!need_vm(ctl, err, errlen))
		return -1;
	struct json_object *nics = json_object_new_array();
	put(result, "nics", nics);
	for (int i = 0; i < ctl->vm->nnics; i++) {
		const struct virtio_net *net = ctl->vm->nics[i];
		char mac[18];
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", net->mac[0],
			 net->mac[1], net->mac[2], net->mac[3], net->mac[4], net->mac[5]);
		struct json_object *n = json_object_new_object();
		put(n, "tap", json_object_new_string(net->tap));
		put(n, "mac", json_object_new_string(mac));
		put(n, "vhost", json_object_new_boolean(net->use_vhost));
		put(n, "rx_packets", json_object_new_uint64(tap_stat(net->tap, "tx_packets")));
		put(n, "rx_bytes", json_object_new_uint64(tap_stat(net->tap, "tx_bytes")));
		put(n, "tx_packets", json_object_new_uint64(tap_stat(net->tap, "rx_packets")));
		put(n, "tx_bytes", json_object_new_uint64(tap_stat(net->tap, "rx_bytes")));
		json_object_array_add(nics, n);
	}
	return 0;
}

void print_net(struct json_object *r, FILE *out)
{
	struct json_object *nics;
	if (!json_object_object_get_ex(r, "nics", NULL))
		return;
	size_t count = get_array(r, "nics", &nics);
	if (!count)
		fprintf(out, "no NICs\n");
	for (size_t i = 0; i < count; i++) {
		struct json_object *n = json_object_array_get_idx(nics, i), *vh;
		json_object_object_get_ex(n, "vhost", &vh);
		fprintf(out,
			"eth%zu: tap %s mac %s vhost %s  rx %" PRIu64 " packets %" PRIu64
			" bytes  tx %" PRIu64 " packets %" PRIu64 " bytes\n",
			i, get_string(n, "tap"), get_string(n, "mac"),
			json_object_get_boolean(vh) ? "on" : "off", get_u64(n, "rx_packets"),
			get_u64(n, "rx_bytes"), get_u64(n, "tx_packets"), get_u64(n, "tx_bytes"));
	}
}
