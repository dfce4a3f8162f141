#include "kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "log.h"

/* KVM's own real-mode helpers need three pages of guest-physical space that is not RAM: just
 * below the 4 GiB line, inside the PCI hole, clear of the IOAPIC (0xfec00000) and LAPIC. */
#define KVM_IDENTITY_MAP_ADDR 0xfeffc000ULL
#define KVM_TSS_ADDR	      0xfeffd000ULL

static const struct {
	int cap;
	const char *name;
} required_caps[] = {
    {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
    {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
    {KVM_CAP_SET_IDENTITY_MAP_ADDR, "KVM_CAP_SET_IDENTITY_MAP_ADDR"},
    {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},
    {KVM_CAP_PIT2, "KVM_CAP_PIT2"},
    {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
    {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
    {KVM_CAP_NR_MEMSLOTS, "KVM_CAP_NR_MEMSLOTS"},
    {KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING"},
    {KVM_CAP_IRQFD, "KVM_CAP_IRQFD"},
};

/* The routes KVM_CREATE_IRQCHIP starts with (x86 default routing): GSIs 0-15 reach both PICs'
 * pins and the IOAPIC's, 16-23 the IOAPIC only. Replacing the table must keep them. */
#define IRQCHIP_GSIS 24

int kvm_irq_routes_init(struct kvm *kvm)
{
	int max = ioctl(kvm->dev_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQ_ROUTING);
	kvm->max_routes = max > 0 ? (unsigned)max : 1024;
	kvm->routes = calloc(1, sizeof(*kvm->routes) +
				    kvm->max_routes * sizeof(struct kvm_irq_routing_entry));
	if (!kvm->routes) {
		log_error("out of memory");
		return -1;
	}
	pthread_mutex_init(&kvm->routes_lock, NULL);
	struct kvm_irq_routing_entry *e = kvm->routes->entries;
	unsigned n = 0;
	for (uint32_t gsi = 0; gsi < IRQCHIP_GSIS; gsi++) {
		if (gsi < 16)
			e[n++] = (struct kvm_irq_routing_entry){
			    .gsi = gsi,
			    .type = KVM_IRQ_ROUTING_IRQCHIP,
			    .u.irqchip = {gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE,
					  gsi % 8},
			};
		e[n++] = (struct kvm_irq_routing_entry){
		    .gsi = gsi,
		    .type = KVM_IRQ_ROUTING_IRQCHIP,
		    .u.irqchip = {KVM_IRQCHIP_IOAPIC, gsi},
		};
	}
	kvm->routes->nr = n;
	return 0;
}

int kvm_msi_route_add(struct kvm *kvm)
{
	pthread_mutex_lock(&kvm->routes_lock);
	struct kvm_irq_routing *r = kvm->routes;
	int gsi = -1;
	if (r->nr < kvm->max_routes) {
		gsi = (int)r->entries[r->nr - 1].gsi + 1;
		/* An MSI to address 0 is nothing a vector sends before the guest programs it:
		 * kvmm only signals vectors the guest enabled and unmasked. */
		r->entries[r->nr++] = (struct kvm_irq_routing_entry){
		    .gsi = (uint32_t)gsi,
		    .type = KVM_IRQ_ROUTING_MSI,
		};
	} else {
		log_error("KVM GSI routing: all %u routes in use", kvm->max_routes);
	}
	pthread_mutex_unlock(&kvm->routes_lock);
	return gsi;
}

int kvm_msi_route_set(struct kvm *kvm, uint32_t gsi, uint64_t addr, uint32_t data)
{
	pthread_mutex_lock(&kvm->routes_lock);
	struct kvm_irq_routing *r = kvm->routes;
	int ret = -1;
	for (unsigned i = 0; i < r->nr; i++) {
		struct kvm_irq_routing_entry *e = &r->entries[i];
		if (e->gsi != gsi || e->type != KVM_IRQ_ROUTING_MSI)
			continue;
		e->u.msi.address_lo = (uint32_t)addr;
		e->u.msi.address_hi = (uint32_t)(addr >> 32);
		e->u.msi.data = data;
		ret = ioctl(kvm->vm_fd, KVM_SET_GSI_ROUTING, r);
		if (ret < 0)
			log_error("KVM_SET_GSI_ROUTING (GSI %u): %s", gsi, strerror(errno));
		break;
	}
	pthread_mutex_unlock(&kvm->routes_lock);
	return ret;
}

int kvm_irqfd(struct kvm *kvm, int fd, uint32_t gsi, bool assign)
{
	struct kvm_irqfd irqfd = {
	    .fd = (uint32_t)fd,
	    .gsi = gsi,
	    .flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN,
	};
	if (ioctl(kvm->vm_fd, KVM_IRQFD, &irqfd) < 0) {
		log_error("KVM_IRQFD %s GSI %u: %s", assign ? "to" : "from", gsi, strerror(errno));
		return -1;
	}
	return 0;
}

int kvm_init(struct kvm *kvm, const char *path)
{
	kvm->dev_fd = kvm->vm_fd = -1;
	kvm->routes = NULL;
	kvm->dev_fd = open(path, O_RDWR | O_CLOEXEC);
	if (kvm->dev_fd < 0) {
		int e = errno;
		log_error("%s: %s%s", path, strerror(e),
			  e == ENOENT	? " (no KVM here: load kvm_intel/kvm_amd, or run under "
					  "tests/harness/kvm-run)"
			  : e == EACCES ? " (add yourself to the 'kvm' group)"
					: "");
		return -1;
	}
	int api = ioctl(kvm->dev_fd, KVM_GET_API_VERSION, 0);
	if (api != KVM_API_VERSION) {
		log_error("%s: KVM API version %d, kvmm needs %d", path, api, KVM_API_VERSION);
		goto fail;
	}
	for (size_t i = 0; i < sizeof(required_caps) / sizeof(required_caps[0]); i++) {
		if (ioctl(kvm->dev_fd, KVM_CHECK_EXTENSION, required_caps[i].cap) <= 0) {
			log_error("%s: host KVM lacks %s", path, required_caps[i].name);
			goto fail;
		}
	}
	kvm->max_vcpus = ioctl(kvm->dev_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (kvm->max_vcpus <= 0)
		kvm->max_vcpus = ioctl(kvm->dev_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (kvm->max_vcpus <= 0)
		kvm->max_vcpus = 4; /* the documented minimum when neither cap is reported */
	kvm->vcpu_mmap_size = ioctl(kvm->dev_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (kvm->vcpu_mmap_size <= 0) {
		log_error("%s: KVM_GET_VCPU_MMAP_SIZE: %s", path, strerror(errno));
		goto fail;
	}

	kvm->vm_fd = ioctl(kvm->dev_fd, KVM_CREATE_VM, 0);
	if (kvm->vm_fd < 0) {
		log_error("%s: KVM_CREATE_VM: %s", path, strerror(errno));
		goto fail;
	}
	if (ioctl(kvm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_ADDR) < 0) {
		log_error("KVM_SET_TSS_ADDR: %s", strerror(errno));
		goto fail;
	}
	uint64_t idmap = KVM_IDENTITY_MAP_ADDR;
	if (ioctl(kvm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0) {
		log_error("KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(errno));
		goto fail;
	}
	if (ioctl(kvm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		log_error("KVM_CREATE_IRQCHIP: %s", strerror(errno));
		goto fail;
	}
	/* The dummy speaker port lets the in-kernel PIT answer port 0x61 too (PIT channel 2 gate,
	 * which Linux reads while calibrating) without an exit per read. */
	struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
	if (ioctl(kvm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		log_error("KVM_CREATE_PIT2: %s", strerror(errno));
		goto fail;
	}
	for (uint32_t chip = 0; chip < 3; chip++) {
		kvm->power_on_chips[chip].chip_id = chip;
		if (ioctl(kvm->vm_fd, KVM_GET_IRQCHIP, &kvm->power_on_chips[chip]) < 0) {
			log_error("KVM_GET_IRQCHIP: %s", strerror(errno));
			goto fail;
		}
	}
	if (ioctl(kvm->vm_fd, KVM_GET_PIT2, &kvm->power_on_pit) < 0) {
		log_error("KVM_GET_PIT2: %s", strerror(errno));
		goto fail;
	}
	if (kvm_irq_routes_init(kvm) < 0)
		goto fail;
	return 0;
fail:
	kvm_close(kvm);
	return -1;
}

void kvm_close(struct kvm *kvm)
{
	if (kvm->vm_fd >= 0)
		close(kvm->vm_fd);
	if (kvm->dev_fd >= 0)
		close(kvm->dev_fd);
	kvm->vm_fd = kvm->dev_fd = -1;
	if (kvm->routes) {
		free(kvm->routes);
		kvm->routes = NULL;
		pthread_mutex_destroy(&kvm->routes_lock);
	}
}

int kvm_set_memslot(struct kvm *kvm, uint32_t slot, uint64_t gpa, uint64_t size, void *host)
{
	struct kvm_userspace_memory_region r = {
	    .slot = slot,
	    .guest_phys_addr = gpa,
	    .memory_size = size,
	    .userspace_addr = (uint64_t)(uintptr_t)host,
	};
	if (ioctl(kvm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
		log_error("KVM_SET_USER_MEMORY_REGION slot %u at 0x%llx: %s", slot,
			  (unsigned long long)gpa, strerror(errno));
		return -1;
	}
	return 0;
}

int kvm_irq_line(struct kvm *kvm, uint32_t gsi, int level)
{
	struct kvm_irq_level irq = {.irq = gsi, .level = (uint32_t)level};
	return ioctl(kvm->vm_fd, KVM_IRQ_LINE, &irq);
}

static int ioeventfd(struct kvm *kvm, struct kvm_ioeventfd *io, bool assign)
{
	if (!assign)
		io->flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
	if (ioctl(kvm->vm_fd, KVM_IOEVENTFD, io) < 0) {
		log_error("KVM_IOEVENTFD at 0x%llx: %s", (unsigned long long)io->addr,
			  strerror(errno));
		return -1;
	}
	return 0;
}

int kvm_ioeventfd(struct kvm *kvm, uint64_t addr, uint32_t len, int fd, bool pio, bool assign)
{
	struct kvm_ioeventfd io = {
	    .addr = addr,
	    .len = len,
	    .fd = fd,
	    .flags = pio ? KVM_IOEVENTFD_FLAG_PIO : 0,
	};
	return ioeventfd(kvm, &io, assign);
}

int kvm_ioeventfd_match(struct kvm *kvm, uint64_t addr, uint32_t len, int fd, uint64_t value,
			bool assign)
{
	struct kvm_ioeventfd io = {
	    .datamatch = value,
	    .addr = addr,
	    .len = len,
	    .fd = fd,
	    .flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
	};
	return ioeventfd(kvm, &io, assign);
}

int kvm_reset_irqchips(struct kvm *kvm)
{
	for (int chip = 0; chip < 3; chip++) {
		if (ioctl(kvm->vm_fd, KVM_SET_IRQCHIP, &kvm->power_on_chips[chip]) < 0) {
			log_error("reset: KVM_SET_IRQCHIP %d: %s", chip, strerror(errno));
			return -1;
		}
	}
	if (ioctl(kvm->vm_fd, KVM_SET_PIT2, &kvm->power_on_pit) < 0) {
		log_error("reset: KVM_SET_PIT2: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int kvm_get_clock(struct kvm *kvm, uint64_t *ns)
{
	struct kvm_clock_data c = {0};
	if (ioctl(kvm->vm_fd, KVM_GET_CLOCK, &c) < 0) {
		log_error("KVM_GET_CLOCK: %s", strerror(errno));
		return -1;
	}
	*ns = c.clock;
	return 0;
}

int kvm_set_clock(struct kvm *kvm, uint64_t ns)
{
	struct kvm_clock_data c = {.clock = ns};
	if (ioctl(kvm->vm_fd, KVM_SET_CLOCK, &c) < 0) {
		log_error("KVM_SET_CLOCK: %s", strerror(errno));
		return -1;
	}
	return 0;
}
