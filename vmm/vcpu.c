#include "vcpu.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cpuid.h"
#include "loader/x86_boot.h"
#include "log.h"
#include "seccomp.h"
#include "timeline.h"
#include "vm.h"

/* Local APIC register offsets and delivery modes, for wiring LINT0/LINT1 as a PC BIOS does. */
#define APIC_LVT_LINT0	  0x350
#define APIC_LVT_LINT1	  0x360
#define APIC_MODE_MASK	  0x700
#define APIC_MODE_NMI	  0x400
#define APIC_MODE_EXTINT  0x700
#define FPU_DEFAULT_FCW	  0x37f
#define FPU_DEFAULT_MXCSR 0x1f80

static void kick_handler(int sig)
{
	(void)sig;
}

int vcpu_signals_init(void)
{
	struct sigaction sa = {.sa_handler = kick_handler};
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: the point is for KVM_RUN to return EINTR. */
	if (sigaction(VCPU_KICK_SIGNAL, &sa, NULL) < 0) {
		log_error("sigaction: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static uint32_t lapic_reg(const struct kvm_lapic_state *l, int off)
{
	uint32_t v;
	memcpy(&v, &l->regs[off], sizeof(v));
	return v;
}

static void lapic_set(struct kvm_lapic_state *l, int off, uint32_t v)
{
	memcpy(&l->regs[off], &v, sizeof(v));
}

static int setup_lapic(struct vcpu *vcpu)
{
	struct kvm_lapic_state l;
	if (ioctl(vcpu->fd, KVM_GET_LAPIC, &l) < 0)
		return -1;
	lapic_set(&l, APIC_LVT_LINT0,
		  (lapic_reg(&l, APIC_LVT_LINT0) & ~APIC_MODE_MASK) | APIC_MODE_EXTINT);
	lapic_set(&l, APIC_LVT_LINT1,
		  (lapic_reg(&l, APIC_LVT_LINT1) & ~APIC_MODE_MASK) | APIC_MODE_NMI);
	return ioctl(vcpu->fd, KVM_SET_LAPIC, &l);
}

/* MSRs a reset leaves alone: the TSC runs on (Linux copes with a TSC that never went back, and
 * KVM's TSC synchronisation across vCPUs treats host writes specially). */
#define MSR_IA32_TSC	    0x10
#define MSR_IA32_TSC_ADJUST 0x3b

struct vcpu_snapshot {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;
	struct kvm_xsave xsave;
	bool has_xsave;
	struct kvm_xcrs xcrs;
	bool has_xcrs;
	struct kvm_lapic_state lapic;
	struct kvm_mp_state mp_state;
	struct kvm_vcpu_events events;
	struct kvm_debugregs debugregs;
	struct kvm_msrs *msrs; /* the ones that could be read, with their values */
};

/* Every MSR KVM saves and restores for this vCPU, read as it is now. One that refuses to be
 * read is left out (KVM_GET_MSRS stops at the first such). */
static struct kvm_msrs *save_msrs(struct vcpu *vcpu)
{
	struct kvm_msr_list probe = {.nmsrs = 0};
	int dev = vcpu->vm->kvm.dev_fd;
	if (ioctl(dev, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
		return NULL;
	struct kvm_msr_list *list = malloc(sizeof(*list) + probe.nmsrs * sizeof(uint32_t));
	struct kvm_msrs *msrs =
	    calloc(1, sizeof(*msrs) + probe.nmsrs * sizeof(struct kvm_msr_entry));
	if (!list || !msrs)
		goto fail;
	list->nmsrs = probe.nmsrs;
	if (ioctl(dev, KVM_GET_MSR_INDEX_LIST, list) < 0)
		goto fail;
	struct kvm_msrs *one = calloc(1, sizeof(*one) + sizeof(struct kvm_msr_entry));
	if (!one)
		goto fail;
	for (uint32_t i = 0; i < list->nmsrs; i++) {
		uint32_t index = list->indices[i];
		if (index == MSR_IA32_TSC || index == MSR_IA32_TSC_ADJUST)
			continue;
		one->nmsrs = 1;
		one->entries[0] = (struct kvm_msr_entry){.index = index};
		if (ioctl(vcpu->fd, KVM_GET_MSRS, one) == 1)
			msrs->entries[msrs->nmsrs++] = one->entries[0];
	}
	free(one);
	free(list);
	return msrs;
fail:
	free(list);
	free(msrs);
	return NULL;
}

static int save_power_on(struct vcpu *vcpu)
{
	struct vcpu_snapshot *s = calloc(1, sizeof(*s));
	if (!s)
		return log_error("vCPU %d: out of memory", vcpu->id), -1;
	vcpu->power_on = s;
	const char *what = "registers";
	if (ioctl(vcpu->fd, KVM_GET_REGS, &s->regs) < 0 ||
	    ioctl(vcpu->fd, KVM_GET_SREGS, &s->sregs) < 0 ||
	    ioctl(vcpu->fd, KVM_GET_FPU, &s->fpu) < 0)
		goto fail;
	s->has_xsave = ioctl(vcpu->fd, KVM_GET_XSAVE, &s->xsave) == 0;
	s->has_xcrs = ioctl(vcpu->fd, KVM_GET_XCRS, &s->xcrs) == 0;
	what = "local APIC and events";
	if (ioctl(vcpu->fd, KVM_GET_LAPIC, &s->lapic) < 0 ||
	    ioctl(vcpu->fd, KVM_GET_MP_STATE, &s->mp_state) < 0 ||
	    ioctl(vcpu->fd, KVM_GET_VCPU_EVENTS, &s->events) < 0 ||
	    ioctl(vcpu->fd, KVM_GET_DEBUGREGS, &s->debugregs) < 0)
		goto fail;
	what = "MSRs";
	s->msrs = save_msrs(vcpu);
	if (!s->msrs)
		goto fail;
	return 0;
fail:
	log_error("vCPU %d: saving its power-on %s: %s", vcpu->id, what, strerror(errno));
	return -1;
}

/* MSRs one at a time past any KVM refuses now (it stops a batch at the first): those keep
 * whatever they hold, which -v reports. */
static void restore_msrs(struct vcpu *vcpu, const struct kvm_msrs *msrs)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry entry;
	} one;
	for (uint32_t i = 0; i < msrs->nmsrs; i++) {
		one.hdr = (struct kvm_msrs){.nmsrs = 1};
		one.entry = msrs->entries[i];
		if (ioctl(vcpu->fd, KVM_SET_MSRS, &one) != 1)
			log_debug("vCPU %d: reset: MSR 0x%x not restored", vcpu->id,
				  msrs->entries[i].index);
	}
}

int vcpu_power_on(struct vcpu *vcpu)
{
	const struct vcpu_snapshot *s = vcpu->power_on;
	struct kvm_vcpu_events events = s->events;
	/* Leave out what the events call does not restore from a snapshot taken at creation. */
	events.flags &= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR |
			KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM;
	/* sregs before the LAPIC: the APIC base MSR lives in sregs. */
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &s->sregs) < 0 ||
	    ioctl(vcpu->fd, KVM_SET_REGS, &s->regs) < 0 ||
	    ioctl(vcpu->fd, KVM_SET_FPU, &s->fpu) < 0 ||
	    (s->has_xsave && ioctl(vcpu->fd, KVM_SET_XSAVE, &s->xsave) < 0) ||
	    (s->has_xcrs && ioctl(vcpu->fd, KVM_SET_XCRS, &s->xcrs) < 0))
		goto fail;
	restore_msrs(vcpu, s->msrs);
	if (ioctl(vcpu->fd, KVM_SET_LAPIC, &s->lapic) < 0 ||
	    ioctl(vcpu->fd, KVM_SET_MP_STATE, &s->mp_state) < 0 ||
	    ioctl(vcpu->fd, KVM_SET_VCPU_EVENTS, &events) < 0 ||
	    ioctl(vcpu->fd, KVM_SET_DEBUGREGS, &s->debugregs) < 0)
		goto fail;
	return 0;
fail:
	log_error("vCPU %d: reset to power-on state: %s", vcpu->id, strerror(errno));
	return -1;
}

int vcpu_get_info(struct vcpu *vcpu, struct vcpu_info *info)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_mp_state mp;
	if (ioctl(vcpu->fd, KVM_GET_REGS, &regs) < 0 ||
	    ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0 ||
	    ioctl(vcpu->fd, KVM_GET_MP_STATE, &mp) < 0)
		return -1;
	info->rip = regs.rip;
	info->cr3 = sregs.cr3;
	info->mp_state = mp.mp_state;
	info->halted = mp.mp_state != KVM_MP_STATE_RUNNABLE;
	return 0;
}

int vcpu_create(struct vcpu *vcpu, struct vm *vm, int id, const struct kvm_cpuid2 *supported)
{
	memset(vcpu, 0, sizeof(*vcpu));
	vcpu->vm = vm;
	vcpu->id = id;
	vcpu->fd = ioctl(vm->kvm.vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (vcpu->fd < 0) {
		log_error("vCPU %d: KVM_CREATE_VCPU: %s", id, strerror(errno));
		return -1;
	}
	vcpu->run = mmap(NULL, (size_t)vm->kvm.vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED,
			 vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		vcpu->run = NULL;
		log_error("vCPU %d: mmap of kvm_run: %s", id, strerror(errno));
		return -1;
	}

	size_t size = sizeof(*supported) + supported->nent * sizeof(supported->entries[0]);
	struct kvm_cpuid2 *cpuid = malloc(size);
	if (!cpuid)
		return log_error("vCPU %d: out of memory", id), -1;
	memcpy(cpuid, supported, size);
	cpuid_patch(cpuid, (unsigned)id, (unsigned)vm->ncpus);
	int r = ioctl(vcpu->fd, KVM_SET_CPUID2, cpuid);
	free(cpuid);
	if (r < 0) {
		log_error("vCPU %d: KVM_SET_CPUID2: %s", id, strerror(errno));
		return -1;
	}
	if (setup_lapic(vcpu) < 0) {
		log_error("vCPU %d: local APIC setup: %s", id, strerror(errno));
		return -1;
	}
	return save_power_on(vcpu);
}

int vcpu_set_boot_state(struct vcpu *vcpu, const struct boot_layout *boot)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_fpu fpu = {.fcw = FPU_DEFAULT_FCW, .mxcsr = FPU_DEFAULT_MXCSR};
	if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
		goto fail;
	x86_boot_sregs(&sregs, boot->entry64);
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) < 0)
		goto fail;
	x86_boot_regs(&regs, boot);
	if (ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0)
		goto fail;
	if (ioctl(vcpu->fd, KVM_SET_FPU, &fpu) < 0)
		goto fail;
	return 0;
fail:
	log_error("vCPU %d: setting boot registers: %s", vcpu->id, strerror(errno));
	return -1;
}

static void handle_io(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool out = run->io.direction == KVM_EXIT_IO_OUT;
	/* String I/O (rep outsb/insb) arrives as count items back to back. */
	for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size)
		bus_access(&vcpu->vm->pio, run->io.port, data, run->io.size, out);
}

static void handle_system_event(struct vcpu *vcpu)
{
	switch (vcpu->run->system_event.type) {
	case KVM_SYSTEM_EVENT_RESET:
		vm_request_reset(vcpu->vm);
		break;
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		vm_request_stop(vcpu->vm, VM_STOP_SHUTDOWN);
		break;
	default:
		log_error("vCPU %d: guest crashed (KVM system event %u)", vcpu->id,
			  vcpu->run->system_event.type);
		vm_request_stop(vcpu->vm, VM_STOP_ERROR);
		break;
	}
}

/* Returns false when the vCPU must stop running. */
static bool handle_exit(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(vcpu);
		return true;
	case KVM_EXIT_MMIO:
		bus_access(&vcpu->vm->mmio, run->mmio.phys_addr, run->mmio.data, run->mmio.len,
			   run->mmio.is_write);
		return true;
	case KVM_EXIT_SHUTDOWN:
		/* A triple fault: what a PC does with it is reset, and Linux relies on that as its
		 * last-resort reboot method. */
		log_debug("vCPU %d: triple fault, resetting", vcpu->id);
		vm_request_reset(vcpu->vm);
		return true;
	case KVM_EXIT_SYSTEM_EVENT:
		handle_system_event(vcpu);
		return true;
	case KVM_EXIT_HLT:
		/* Only reachable without the in-kernel LAPIC, which kvmm always has. */
		vm_request_stop(vcpu->vm, VM_STOP_SHUTDOWN);
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		log_error("vCPU %d: KVM entry failed, hardware reason 0x%llx", vcpu->id,
			  (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		log_error("vCPU %d: KVM internal error, suberror %u", vcpu->id,
			  run->internal.suberror);
		break;
	default:
		log_error("vCPU %d: unexpected KVM exit reason %u", vcpu->id, run->exit_reason);
		break;
	}
	vm_request_stop(vcpu->vm, VM_STOP_ERROR);
	return false;
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	char label[16];
	snprintf(label, sizeof(label), "vcpu %d", vcpu->id);
	if (seccomp_enter(SECCOMP_VCPU, label) < 0) {
		vm_request_stop(vcpu->vm, VM_STOP_ERROR);
		return NULL;
	}

	while (vm_stop_reason(vcpu->vm) == VM_RUNNING) {
		/* Held for a pause, a reset or a look at its registers: wait, do not spin. */
		if (vm_vcpu_held(vcpu->vm)) {
			vm_vcpu_park(vcpu->vm);
			continue;
		}
		/* Without a decompressor in the guest, its first instruction is the kernel's. */
		if (vcpu->id == 0 && timeline_mark(TL_FIRST_RUN) && vcpu->vm->kernel_entry_first)
			timeline_set(TL_KERNEL_ENTRY, timeline_ms(TL_FIRST_RUN));
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				vcpu->run->immediate_exit = 0;
				continue;
			}
			log_error("vCPU %d: KVM_RUN: %s", vcpu->id, strerror(errno));
			vm_request_stop(vcpu->vm, VM_STOP_ERROR);
			break;
		}
		if (!handle_exit(vcpu))
			break;
	}
	return NULL;
}

int vcpu_start(struct vcpu *vcpu)
{
	int e = pthread_create(&vcpu->thread, NULL, vcpu_thread, vcpu);
	if (e) {
		log_error("vCPU %d: cannot start thread: %s", vcpu->id, strerror(e));
		return -1;
	}
	vcpu->started = true;
	return 0;
}

void vcpu_kick(struct vcpu *vcpu)
{
	if (!vcpu->started)
		return;
	/* Order matters: immediate_exit first covers a thread about to enter KVM_RUN, the signal
	 * covers one already inside it. */
	__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(vcpu->thread, VCPU_KICK_SIGNAL);
}

void vcpu_join(struct vcpu *vcpu)
{
	if (vcpu->started)
		pthread_join(vcpu->thread, NULL);
	vcpu->started = false;
}

void vcpu_destroy(struct vcpu *vcpu)
{
	if (!vcpu->vm)
		return; /* never created */
	vcpu_join(vcpu);
	if (vcpu->run)
		munmap(vcpu->run, (size_t)vcpu->vm->kvm.vcpu_mmap_size);
	if (vcpu->fd >= 0)
		close(vcpu->fd);
	if (vcpu->power_on)
		free(vcpu->power_on->msrs);
	free(vcpu->power_on);
	vcpu->power_on = NULL;
	vcpu->run = NULL;
	vcpu->fd = -1;
}
