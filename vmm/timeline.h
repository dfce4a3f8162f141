/* The boot timeline: when each step of a boot happened, in milliseconds since kvmm started
 * (the process's first constructor, after the dynamic loader), for --boot-timeline. Marks are
 * cheap and thread-safe; each is kept once per boot (the first time wins). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

enum timeline_step {
	TL_OPTIONS,	  /* options parsed */
	TL_KERNEL_OPEN,	  /* kernel read, checked and (direct boot) unpacked or found cached */
	TL_VM_CREATED,	  /* KVM VM with its in-kernel irqchips */
	TL_RAM_MAPPED,	  /* guest RAM mapped and registered */
	TL_DEVICES,	  /* devices and virtio transports set up */
	TL_KERNEL_LOADED, /* kernel, initrd and tables in guest memory */
	TL_VCPUS,	  /* vCPUs created, boot state set */
	TL_FIRST_RUN,	  /* the boot vCPU's first KVM_RUN */
	TL_KERNEL_ENTRY,  /* the kernel proper's first instruction (known without a decompressor) */
	TL_KERNEL_CLOCK,  /* the guest kernel's clock started: init's time less its uptime */
	TL_INIT,	  /* the guest's init wrote the boot-timer port */
	TL_STEPS,
};

/* --boot-timeline: print the timeline when the guest's init writes the boot-timer port (or at
 * exit, if it never does), and time the kernel's entry behind a decompressor too. */
void timeline_set_print(bool print);
bool timeline_printing(void);

/* Records step now, unless it was recorded already in this boot. Returns true when it did. */
bool timeline_mark(enum timeline_step step);

/* Records step at ms (for steps known after the fact), unless already recorded. */
void timeline_set(enum timeline_step step, double ms);

/* Milliseconds since kvmm started at which step happened, or -1 when it has not. */
double timeline_ms(enum timeline_step step);
const char *timeline_step_name(enum timeline_step step);

/* A reset: the guest-side steps (first KVM_RUN on) are recorded afresh for the new boot. */
void timeline_new_boot(void);

/* Prints every recorded step, one line each, and kvmm's CPU time until the first KVM_RUN
 * (when printing is on); once per boot. */
void timeline_print(const char *kernel_how);
