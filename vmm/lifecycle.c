#include "lifecycle.h"

#include <stdio.h>

static const char *const running_reasons[] = {
    [VIR_DOMAIN_RUNNING_UNKNOWN] = "unknown",
    [VIR_DOMAIN_RUNNING_BOOTED] = "booted",
    [VIR_DOMAIN_RUNNING_MIGRATED] = "migrated",
    [VIR_DOMAIN_RUNNING_RESTORED] = "restored",
    [VIR_DOMAIN_RUNNING_FROM_SNAPSHOT] = "from snapshot",
    [VIR_DOMAIN_RUNNING_UNPAUSED] = "unpaused",
    [VIR_DOMAIN_RUNNING_MIGRATION_CANCELED] = "migration canceled",
    [VIR_DOMAIN_RUNNING_SAVE_CANCELED] = "save canceled",
    [VIR_DOMAIN_RUNNING_WAKEUP] = "event wakeup",
    [VIR_DOMAIN_RUNNING_CRASHED] = "crashed",
};

static const char *const paused_reasons[] = {
    [VIR_DOMAIN_PAUSED_UNKNOWN] = "unknown",
    [VIR_DOMAIN_PAUSED_USER] = "user",
    [VIR_DOMAIN_PAUSED_MIGRATION] = "migrating",
    [VIR_DOMAIN_PAUSED_SAVE] = "saving",
    [VIR_DOMAIN_PAUSED_DUMP] = "dumping",
    [VIR_DOMAIN_PAUSED_IOERROR] = "I/O error",
    [VIR_DOMAIN_PAUSED_WATCHDOG] = "watchdog",
    [VIR_DOMAIN_PAUSED_FROM_SNAPSHOT] = "from snapshot",
    [VIR_DOMAIN_PAUSED_SHUTTING_DOWN] = "shutting down",
    [VIR_DOMAIN_PAUSED_SNAPSHOT] = "creating snapshot",
    [VIR_DOMAIN_PAUSED_CRASHED] = "crashed",
    [VIR_DOMAIN_PAUSED_STARTING_UP] = "starting up",
};

static const char *const shutdown_reasons[] = {
    [VIR_DOMAIN_SHUTDOWN_UNKNOWN] = "unknown",
    [VIR_DOMAIN_SHUTDOWN_USER] = "user",
};

static const char *const shutoff_reasons[] = {
    [VIR_DOMAIN_SHUTOFF_UNKNOWN] = "unknown",
    [VIR_DOMAIN_SHUTOFF_SHUTDOWN] = "shutdown",
    [VIR_DOMAIN_SHUTOFF_DESTROYED] = "destroyed",
    [VIR_DOMAIN_SHUTOFF_CRASHED] = "crashed",
    [VIR_DOMAIN_SHUTOFF_MIGRATED] = "migrated",
    [VIR_DOMAIN_SHUTOFF_SAVED] = "saved",
    [VIR_DOMAIN_SHUTOFF_FAILED] = "failed",
    [VIR_DOMAIN_SHUTOFF_FROM_SNAPSHOT] = "from snapshot",
};

static const char *const crashed_reasons[] = {
    [VIR_DOMAIN_CRASHED_UNKNOWN] = "unknown",
    [VIR_DOMAIN_CRASHED_PANICKED] = "panicked",
};

#define NAMED(table, i)                                                                            \
	((i) >= 0 && (size_t)(i) < sizeof(table) / sizeof(table[0]) && table[i] ? table[i]         \
										: "unknown")

const char *lifecycle_state_name(virDomainState state)
{
	switch (state) {
	case VIR_DOMAIN_NOSTATE:
		return "no state";
	case VIR_DOMAIN_RUNNING:
		return "running";
	case VIR_DOMAIN_BLOCKED:
		return "idle";
	case VIR_DOMAIN_PAUSED:
		return "paused";
	case VIR_DOMAIN_SHUTDOWN:
		return "in shutdown";
	case VIR_DOMAIN_SHUTOFF:
		return "shut off";
	case VIR_DOMAIN_CRASHED:
		return "crashed";
	case VIR_DOMAIN_PMSUSPENDED:
		return "pmsuspended";
	default:
		return "unknown";
	}
}

const char *lifecycle_reason_name(virDomainState state, int reason)
{
	switch (state) {
	case VIR_DOMAIN_RUNNING:
		return NAMED(running_reasons, reason);
	case VIR_DOMAIN_PAUSED:
		return NAMED(paused_reasons, reason);
	case VIR_DOMAIN_SHUTDOWN:
		return NAMED(shutdown_reasons, reason);
	case VIR_DOMAIN_SHUTOFF:
		return NAMED(shutoff_reasons, reason);
	case VIR_DOMAIN_CRASHED:
		return NAMED(crashed_reasons, reason);
	default:
		return "unknown";
	}
}

void lifecycle_format(const struct lifecycle *lc, char *buf, size_t len)
{
	snprintf(buf, len, "%s (%s)", lifecycle_state_name(lc->state),
		 lifecycle_reason_name(lc->state, lc->reason));
}

bool lifecycle_is_over(const struct lifecycle *lc)
{
	return lc->state == VIR_DOMAIN_SHUTOFF || lc->state == VIR_DOMAIN_CRASHED;
}

void lifecycle_init(struct lifecycle *lc, struct lc_event *ev)
{
	*lc = (struct lifecycle){VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_BOOTED, false};
	*ev = (struct lc_event){"started", "booted"};
}

bool lifecycle_allowed(const struct lifecycle *lc, enum lc_op op, char *err, size_t errlen)
{
	char now[64];
	lifecycle_format(lc, now, sizeof(now));
	if (lifecycle_is_over(lc)) {
		snprintf(err, errlen, "the VM is %s: nothing left to run", now);
		return false;
	}
	switch (op) {
	case LC_PAUSE:
		if (lc->state == VIR_DOMAIN_PAUSED) {
			snprintf(err, errlen, "pause: the VM is already %s", now);
			return false;
		}
		return true;
	case LC_RESUME:
		if (lc->state != VIR_DOMAIN_PAUSED) {
			snprintf(err, errlen, "resume: the VM is not paused, it is %s", now);
			return false;
		}
		return true;
	case LC_POWERDOWN:
		/* A paused guest cannot see the button; QEMU would latch the press, but a user
		 * who paused it is better told. */
		if (lc->state == VIR_DOMAIN_PAUSED) {
			snprintf(err, errlen, "powerdown: the VM is %s: resume it first", now);
			return false;
		}
		return true;
	case LC_RESET:
	case LC_QUIT:
	case LC_GUEST_REBOOT:
	case LC_GUEST_SHUTDOWN:
	case LC_FAIL:
		return true;
	}
	snprintf(err, errlen, "unknown operation %d", (int)op);
	return false;
}

void lifecycle_apply(struct lifecycle *lc, enum lc_op op, struct lc_event *ev)
{
	switch (op) {
	case LC_PAUSE:
		lc->state = VIR_DOMAIN_PAUSED;
		lc->reason = VIR_DOMAIN_PAUSED_USER;
		*ev = (struct lc_event){"suspended", "paused"};
		break;
	case LC_RESUME:
		lc->state = lc->shutdown_pending ? VIR_DOMAIN_SHUTDOWN : VIR_DOMAIN_RUNNING;
		lc->reason =
		    lc->shutdown_pending ? VIR_DOMAIN_SHUTDOWN_USER : VIR_DOMAIN_RUNNING_UNPAUSED;
		*ev = (struct lc_event){"resumed", "unpaused"};
		break;
	case LC_RESET:
		/* A paused machine stays paused through a reset, as QEMU's system_reset leaves it;
		 * a running one (or one shutting down) boots again: running (booted). */
		if (lc->state != VIR_DOMAIN_PAUSED)
			*lc = (struct lifecycle){VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_BOOTED};
		lc->shutdown_pending = false; /* the new boot knows of no button */
		*ev = (struct lc_event){"reset", "user"};
		break;
	case LC_GUEST_REBOOT:
		if (lc->state != VIR_DOMAIN_PAUSED)
			*lc = (struct lifecycle){VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_BOOTED};
		lc->shutdown_pending = false;
		*ev = (struct lc_event){"reboot", "guest"};
		break;
	case LC_POWERDOWN:
		lc->state = VIR_DOMAIN_SHUTDOWN;
		lc->reason = VIR_DOMAIN_SHUTDOWN_USER;
		lc->shutdown_pending = true;
		*ev = (struct lc_event){"powerdown", "user"};
		break;
	case LC_QUIT:
		lc->state = VIR_DOMAIN_SHUTOFF;
		lc->reason = VIR_DOMAIN_SHUTOFF_DESTROYED;
		*ev = (struct lc_event){"stopped", "destroyed"};
		break;
	case LC_GUEST_SHUTDOWN:
		lc->state = VIR_DOMAIN_SHUTOFF;
		lc->reason = VIR_DOMAIN_SHUTOFF_SHUTDOWN;
		*ev = (struct lc_event){"stopped", "shutdown"};
		break;
	case LC_FAIL:
		lc->state = VIR_DOMAIN_SHUTOFF;
		lc->reason = VIR_DOMAIN_SHUTOFF_FAILED;
		*ev = (struct lc_event){"stopped", "failed"};
		break;
	}
}
