/* One thread per vCPU, each looping on KVM_RUN and dispatching exits to the buses.
 *
 * A vCPU is stopped by vcpu_kick(): it sets kvm_run.immediate_exit and signals the thread, so a
 * KVM_RUN in progress returns EINTR and one about to start returns at once. The signal handler
 * does nothing; the thread then looks at the VM's run state. */
#pragma once

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>

struct vm;
struct boot_layout;

/* SIGUSR1 is reserved for kicking vCPU threads out of KVM_RUN. */
#define VCPU_KICK_SIGNAL SIGUSR1

struct vcpu {
	struct vm *vm;
	int id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
};

/* Creates the vCPU with its CPUID (apic ID = id) and local APIC wiring. */
int vcpu_create(struct vcpu *vcpu, struct vm *vm, int id, const struct kvm_cpuid2 *supported);
/* Registers and segments for the kernel entry; only the boot processor gets them, the others
 * wait in KVM for the guest's INIT/SIPI. */
int vcpu_set_boot_state(struct vcpu *vcpu, const struct boot_layout *boot);
int vcpu_start(struct vcpu *vcpu);
void vcpu_kick(struct vcpu *vcpu);
void vcpu_join(struct vcpu *vcpu);
void vcpu_destroy(struct vcpu *vcpu);

/* Installs the (empty) kick handler; once per process, before any vCPU starts. */
int vcpu_signals_init(void);
