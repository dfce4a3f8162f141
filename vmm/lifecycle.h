/* The VM's run state as libvirt names it: virDomainState with its reason enums, and the events
 * a change announces (virDomainEventType with its details). Pure: what is allowed from which
 * state and what it leads to; vm.c does the work and control.c puts the two together. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <libvirt/libvirt.h>

enum lc_op {
	LC_PAUSE,	   /* the user: pause, stop, suspend */
	LC_RESUME,	   /* the user: resume, cont */
	LC_RESET,	   /* the user: reset */
	LC_QUIT,	   /* the user: quit, destroy, or a signal */
	LC_POWERDOWN,	   /* the user pressed the power button: powerdown, system_powerdown */
	LC_GUEST_REBOOT,   /* the guest reset the machine (i8042, triple fault, KVM event) */
	LC_GUEST_SHUTDOWN, /* the guest powered off, or rebooted under --no-reboot */
	LC_FAIL,	   /* KVM or the VMM failed */
};

struct lifecycle {
	virDomainState state;
	int reason;	       /* the virDomain<State>Reason enum of state */
	bool shutdown_pending; /* powerdown pressed: a pause and resume come back in shutdown */
};

/* An announcement: libvirt's event type and detail, and our names for them. */
struct lc_event {
	const char *name;   /* "started", "suspended", "resumed", "reset", "reboot", "powerdown",
			     * "stopped" */
	const char *detail; /* "booted", "paused", "unpaused", "user", "guest", "destroyed", ... */
};

/* A VM that has just started: running (booted). */
void lifecycle_init(struct lifecycle *lc, struct lc_event *ev);
/* Whether op may happen now; if not, false and why (one line, naming the state) in err. */
bool lifecycle_allowed(const struct lifecycle *lc, enum lc_op op, char *err, size_t errlen);
/* op happened: the new state, and what to announce. */
void lifecycle_apply(struct lifecycle *lc, enum lc_op op, struct lc_event *ev);

/* virsh's words: "running", "paused", "shut off", ...; and the reason: "booted", "user", ... */
const char *lifecycle_state_name(virDomainState state);
const char *lifecycle_reason_name(virDomainState state, int reason);
/* "paused (user)", as `virsh domstate --reason` prints it. */
void lifecycle_format(const struct lifecycle *lc, char *buf, size_t len);
/* Whether the VM is stopped for good (shut off or crashed): no op but reading state is left. */
bool lifecycle_is_over(const struct lifecycle *lc);
