/* The CPUID a vCPU sees: what KVM supports on this host, with the per-vCPU identity patched in. */
#pragma once

#include <linux/kvm.h>

/* KVM_GET_SUPPORTED_CPUID, grown until it fits. Returns a malloc'd table or NULL after an error. */
struct kvm_cpuid2 *cpuid_supported(int kvm_fd);

/* Patches entries in place for vCPU apic_id of ncpus: APIC IDs in leaves 1, 0xB and 0x1F, the
 * hypervisor bit, and a topology of ncpus single-thread cores in one package. Pure. */
void cpuid_patch(struct kvm_cpuid2 *cpuid, unsigned apic_id, unsigned ncpus);

/* Entry for (function, index), or NULL. */
struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *cpuid, unsigned function, unsigned index);
