/* One thread per vCPU, each looping on KVM_RUN and dispatching exits to the buses.
 *
 * A vCPU is stopped by vcpu_kick(): it sets kvm_run.immediate_exit and signals the thread, so a
 * KVM_RUN in progress returns EINTR and one about to start returns at once. The signal handler
 * does nothing; the thread then looks at the VM's run state. */
#pragma once

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct vm;
struct boot_layout;
struct vcpu_snapshot;

/* SIGUSR1 is reserved for kicking vCPU threads out of KVM_RUN. */
#define VCPU_KICK_SIGNAL SIGUSR1

struct vcpu {
	struct vm *vm;
	int id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
	/* Everything KVM keeps of this vCPU as it was at creation: a reset puts it back. */
	struct vcpu_snapshot *power_on;
};

/* What `info cpus` shows of a vCPU. */
struct vcpu_info {
	uint64_t rip, cr3;
	bool halted; /* waiting in HLT (or, for an AP, for its INIT/SIPI) */
	uint32_t mp_state;
};

/* Creates the vCPU with its CPUID (apic ID = id) and local APIC wiring. */
int vcpu_create(struct vcpu *vcpu, struct vm *vm, int id, const struct kvm_cpuid2 *supported);
/* Registers and segments for the kernel entry; only the boot processor gets them, the others
 * wait in KVM for the guest's INIT/SIPI. */
int vcpu_set_boot_state(struct vcpu *vcpu, const struct boot_layout *boot);
/* Back to the state saved at creation: registers, FPU, MSRs (kvmclock and the other
 * paravirtual ones off), local APIC, multiprocessor state (APs wait for INIT/SIPI again) and
 * pending events. Only while the vCPU is out of KVM_RUN. */
int vcpu_power_on(struct vcpu *vcpu);
/* Reads RIP, CR3 and the run state. Only while the vCPU is out of KVM_RUN (parked). */
int vcpu_get_info(struct vcpu *vcpu, struct vcpu_info *info);
int vcpu_start(struct vcpu *vcpu);
void vcpu_kick(struct vcpu *vcpu);
void vcpu_join(struct vcpu *vcpu);
void vcpu_destroy(struct vcpu *vcpu);

/* Installs the (empty) kick handler; once per process, before any vCPU starts. */
int vcpu_signals_init(void);
