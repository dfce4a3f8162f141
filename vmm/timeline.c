#include "timeline.h"

#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "vmm/log.h"

static struct timespec t0;
static _Atomic int64_t at_ns[TL_STEPS]; /* since t0, + 1 so that 0 means "not yet" */
static atomic_bool printing, printed;
/* kvmm's CPU time (all threads) when the boot vCPU first entered KVM_RUN, + 1 as above: what
 * the host side of a start costs beyond the wall-clock wait, for benchmarks beside containers. */
static _Atomic int64_t first_run_cpu_ns;
static _Atomic uint64_t boot_no = 1;

static const char *const names[TL_STEPS] = {
    [TL_OPTIONS] = "options parsed",
    [TL_KERNEL_OPEN] = "kernel read and unpacked",
    [TL_VM_CREATED] = "KVM VM created",
    [TL_RAM_MAPPED] = "RAM mapped",
    [TL_DEVICES] = "devices set up",
    [TL_KERNEL_LOADED] = "kernel and initrd loaded",
    [TL_VCPUS] = "vCPUs created",
    [TL_FIRST_RUN] = "first KVM_RUN",
    [TL_KERNEL_ENTRY] = "kernel entry",
    [TL_KERNEL_CLOCK] = "guest kernel clock starts",
    [TL_INIT] = "guest init (boot-timer port)",
};

/* As early as kvmm's own code runs: before main() and every other constructor of ours. */
__attribute__((constructor(101))) static void timeline_start(void)
{
	clock_gettime(CLOCK_MONOTONIC, &t0);
}

void timeline_set_print(bool print)
{
	atomic_store(&printing, print);
}

bool timeline_printing(void)
{
	return atomic_load(&printing);
}

bool timeline_mark(enum timeline_step step)
{
	if ((unsigned)step >= TL_STEPS || atomic_load(&at_ns[step]))
		return false;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	int64_t ns = (int64_t)(now.tv_sec - t0.tv_sec) * 1000000000 + (now.tv_nsec - t0.tv_nsec);
	int64_t none = 0;
	if (!atomic_compare_exchange_strong(&at_ns[step], &none, ns + 1))
		return false;
	if (step == TL_FIRST_RUN) {
		struct timespec cpu;
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
		atomic_store(&first_run_cpu_ns, (int64_t)cpu.tv_sec * 1000000000 + cpu.tv_nsec + 1);
	}
	return true;
}

void timeline_set(enum timeline_step step, double ms)
{
	if ((unsigned)step >= TL_STEPS || ms < 0)
		return;
	int64_t none = 0;
	atomic_compare_exchange_strong(&at_ns[step], &none, (int64_t)(ms * 1e6) + 1);
}

double timeline_ms(enum timeline_step step)
{
	if ((unsigned)step >= TL_STEPS)
		return -1;
	int64_t v = atomic_load(&at_ns[step]);
	return v ? (double)(v - 1) / 1e6 : -1;
}

const char *timeline_step_name(enum timeline_step step)
{
	return (unsigned)step < TL_STEPS ? names[step] : "?";
}

void timeline_new_boot(void)
{
	for (int s = TL_FIRST_RUN; s < TL_STEPS; s++)
		atomic_store(&at_ns[s], 0);
	atomic_store(&first_run_cpu_ns, 0);
	atomic_fetch_add(&boot_no, 1);
	atomic_store(&printed, false);
}

void timeline_print(const char *kernel_how)
{
	bool no = false;
	if (!atomic_load(&printing) || !atomic_compare_exchange_strong(&printed, &no, true))
		return;
	uint64_t n = atomic_load(&boot_no);
	log_info("boot timeline, boot %llu (ms since kvmm started; kernel: %s):",
		 (unsigned long long)n, kernel_how);
	/* After a reset the host-side steps are those of the first boot: not shown again. */
	for (int s = n > 1 ? TL_FIRST_RUN : 0; s < TL_STEPS; s++) {
		double ms = timeline_ms((enum timeline_step)s);
		if (ms >= 0)
			log_info("  %10.1f  %s", ms, names[s]);
		else
			log_info("  %10s  %s", "-", names[s]);
	}
	int64_t cpu = atomic_load(&first_run_cpu_ns);
	if (cpu)
		log_info("  %10.1f  CPU time (ms, all threads) until the first KVM_RUN",
			 (double)(cpu - 1) / 1e6);
}
