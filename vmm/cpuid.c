#include "cpuid.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "log.h"

#define CPUID_1_ECX_HYPERVISOR (1U << 31)
#define CPUID_1_EDX_HTT	       (1U << 28)
#define TOPO_LEVEL_SMT	       1
#define TOPO_LEVEL_CORE	       2

struct kvm_cpuid2 *cpuid_supported(int kvm_fd)
{
	for (unsigned n = 128; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
		if (!c)
			break;
		c->nent = n;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			return c;
		int e = errno;
		free(c);
		if (e != E2BIG) {
			log_error("KVM_GET_SUPPORTED_CPUID: %s", strerror(e));
			return NULL;
		}
	}
	log_error("KVM_GET_SUPPORTED_CPUID: table too large");
	return NULL;
}

struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *cpuid, unsigned function, unsigned index)
{
	for (unsigned i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];
		if (e->function == function &&
		    (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e->index == index))
			return e;
	}
	return NULL;
}

static unsigned bits_for(unsigned n)
{
	unsigned b = 0;
	while ((1U << b) < n)
		b++;
	return b;
}

/* Leaves 0xB and 0x1F describe the same thing: SMT level of one thread, then a core level of
 * ncpus, each subleaf reporting this vCPU's x2APIC ID. */
static void patch_topology_leaf(struct kvm_cpuid2 *cpuid, unsigned leaf, unsigned apic_id,
				unsigned ncpus)
{
	for (unsigned i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];
		if (e->function != leaf)
			continue;
		e->edx = apic_id;
		switch (e->index) {
		case 0:
			e->eax = 0;
			e->ebx = 1;
			e->ecx = (TOPO_LEVEL_SMT << 8) | 0;
			break;
		case 1:
			e->eax = bits_for(ncpus);
			e->ebx = ncpus;
			e->ecx = (TOPO_LEVEL_CORE << 8) | 1;
			break;
		default:
			e->eax = e->ebx = 0;
			e->ecx = e->index; /* level type 0: no further levels */
			break;
		}
	}
}

void cpuid_patch(struct kvm_cpuid2 *cpuid, unsigned apic_id, unsigned ncpus)
{
	for (unsigned i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];
		switch (e->function) {
		case 1:
			/* EBX[31:24] initial APIC ID, EBX[23:16] logical processors per package. */
			e->ebx = (e->ebx & 0x0000ffff) | (apic_id << 24) | ((ncpus & 0xff) << 16);
			e->ecx |= CPUID_1_ECX_HYPERVISOR;
			if (ncpus > 1)
				e->edx |= CPUID_1_EDX_HTT;
			else
				e->edx &= ~CPUID_1_EDX_HTT;
			break;
		case 4:
			/* EAX[31:26]: cores per package - 1; EAX[25:14]: threads sharing the
			 * cache - 1 (each core has its own). */
			if (e->eax & 0x1f)
				e->eax = (e->eax & 0x3fff) | ((ncpus > 64 ? 63 : ncpus - 1) << 26);
			break;
		}
	}
	patch_topology_leaf(cpuid, 0xb, apic_id, ncpus);
	patch_topology_leaf(cpuid, 0x1f, apic_id, ncpus);
}
