/* The lifecycle state machine: every operation from every state, libvirt's words for states
 * and reasons, and the events a change announces. */
#include <check.h>
#include <string.h>

#include "unit.h"
#include "vmm/lifecycle.h"

static const enum lc_op all_ops[] = {LC_PAUSE,	   LC_RESUME,	    LC_RESET,	       LC_QUIT,
				     LC_POWERDOWN, LC_GUEST_REBOOT, LC_GUEST_SHUTDOWN, LC_FAIL};
#define NOPS (sizeof(all_ops) / sizeof(all_ops[0]))

static struct lifecycle running(void)
{
	struct lifecycle lc;
	struct lc_event ev;
	lifecycle_init(&lc, &ev);
	return lc;
}

static struct lifecycle after(enum lc_op op)
{
	struct lifecycle lc = running();
	struct lc_event ev;
	lifecycle_apply(&lc, op, &ev);
	return lc;
}

static void expect_status(const struct lifecycle *lc, const char *want)
{
	char buf[64];
	lifecycle_format(lc, buf, sizeof(buf));
	ck_assert_str_eq(buf, want);
}

START_TEST(test_start_is_running_booted)
{
	struct lifecycle lc;
	struct lc_event ev;
	lifecycle_init(&lc, &ev);
	ck_assert_int_eq(lc.state, VIR_DOMAIN_RUNNING);
	ck_assert_int_eq(lc.reason, VIR_DOMAIN_RUNNING_BOOTED);
	expect_status(&lc, "running (booted)");
	ck_assert_str_eq(ev.name, "started");
	ck_assert_str_eq(ev.detail, "booted");
}
END_TEST

START_TEST(test_pause_resume_cycle)
{
	struct lifecycle lc = running();
	struct lc_event ev;
	char err[128];
	ck_assert(lifecycle_allowed(&lc, LC_PAUSE, err, sizeof(err)));
	lifecycle_apply(&lc, LC_PAUSE, &ev);
	expect_status(&lc, "paused (user)");
	ck_assert_str_eq(ev.name, "suspended");
	ck_assert_str_eq(ev.detail, "paused");
	ck_assert(lifecycle_allowed(&lc, LC_RESUME, err, sizeof(err)));
	lifecycle_apply(&lc, LC_RESUME, &ev);
	expect_status(&lc, "running (unpaused)");
	ck_assert_str_eq(ev.name, "resumed");
	ck_assert_str_eq(ev.detail, "unpaused");
}
END_TEST

START_TEST(test_refusals_say_why)
{
	char err[128] = "";
	struct lifecycle lc = running();
	ck_assert(!lifecycle_allowed(&lc, LC_RESUME, err, sizeof(err)));
	ck_assert_str_eq(err, "resume: the VM is not paused, it is running (booted)");
	lc = after(LC_PAUSE);
	ck_assert(!lifecycle_allowed(&lc, LC_PAUSE, err, sizeof(err)));
	ck_assert_str_eq(err, "pause: the VM is already paused (user)");
}
END_TEST

/* Running and paused allow everything that makes sense there; shut off and crashed allow
 * nothing, each refusal naming the state. */
START_TEST(test_every_op_from_every_state)
{
	struct lifecycle states[5];
	states[0] = running();
	states[1] = after(LC_PAUSE);
	states[2] = after(LC_QUIT);
	states[3] = running();
	states[3].state = VIR_DOMAIN_CRASHED;
	states[3].reason = VIR_DOMAIN_CRASHED_PANICKED;
	states[4] = after(LC_POWERDOWN);
	for (int s = 0; s < 5; s++) {
		for (size_t o = 0; o < NOPS; o++) {
			char err[128] = "";
			bool ok = lifecycle_allowed(&states[s], all_ops[o], err, sizeof(err));
			bool want;
			if (s == 2 || s == 3)
				want = false;
			else if (all_ops[o] == LC_PAUSE || all_ops[o] == LC_POWERDOWN)
				want = s == 0 || s == 4;
			else if (all_ops[o] == LC_RESUME)
				want = s == 1;
			else
				want = true;
			ck_assert_msg(ok == want, "state %d op %d: allowed=%d", s, (int)all_ops[o],
				      ok);
			if (!ok)
				ck_assert_msg(strlen(err) > 10, "state %d op %d: no reason", s,
					      (int)all_ops[o]);
		}
	}
	char err[128];
	ck_assert(!lifecycle_allowed(&states[2], LC_RESET, err, sizeof(err)));
	ck_assert_str_eq(err, "the VM is shut off (destroyed): nothing left to run");
	ck_assert(!lifecycle_allowed(&states[3], LC_QUIT, err, sizeof(err)));
	ck_assert_str_eq(err, "the VM is crashed (panicked): nothing left to run");
}
END_TEST

START_TEST(test_reset_keeps_pause_and_reboots_announce)
{
	struct lc_event ev;
	struct lifecycle lc = after(LC_PAUSE);
	lifecycle_apply(&lc, LC_RESET, &ev);
	expect_status(&lc, "paused (user)");
	ck_assert_str_eq(ev.name, "reset");
	ck_assert_str_eq(ev.detail, "user");
	lc = after(LC_PAUSE);
	lifecycle_apply(&lc, LC_RESUME, &ev);
	lifecycle_apply(&lc, LC_GUEST_REBOOT, &ev);
	expect_status(&lc, "running (booted)");
	ck_assert_str_eq(ev.name, "reboot");
	ck_assert_str_eq(ev.detail, "guest");
}
END_TEST

START_TEST(test_stops)
{
	struct lc_event ev;
	struct lifecycle lc = running();
	lifecycle_apply(&lc, LC_QUIT, &ev);
	expect_status(&lc, "shut off (destroyed)");
	ck_assert_str_eq(ev.name, "stopped");
	ck_assert_str_eq(ev.detail, "destroyed");
	ck_assert(lifecycle_is_over(&lc));
	lc = after(LC_PAUSE);
	lifecycle_apply(&lc, LC_GUEST_SHUTDOWN, &ev);
	expect_status(&lc, "shut off (shutdown)");
	ck_assert_str_eq(ev.detail, "shutdown");
	lc = running();
	lifecycle_apply(&lc, LC_FAIL, &ev);
	expect_status(&lc, "shut off (failed)");
	ck_assert(!lifecycle_is_over(&(struct lifecycle){VIR_DOMAIN_PAUSED, 1}));
}
END_TEST

START_TEST(test_powerdown)
{
	struct lc_event ev;
	struct lifecycle lc = running();
	lifecycle_apply(&lc, LC_POWERDOWN, &ev);
	expect_status(&lc, "in shutdown (user)");
	ck_assert_str_eq(ev.name, "powerdown");
	ck_assert_str_eq(ev.detail, "user");
	ck_assert(!lifecycle_is_over(&lc));
	lifecycle_apply(&lc, LC_GUEST_SHUTDOWN, &ev);
	expect_status(&lc, "shut off (shutdown)");
	ck_assert_str_eq(ev.name, "stopped");
	/* A guest that reboots instead, or a reset, runs again. */
	lc = after(LC_POWERDOWN);
	lifecycle_apply(&lc, LC_GUEST_REBOOT, &ev);
	expect_status(&lc, "running (booted)");
	lc = after(LC_POWERDOWN);
	lifecycle_apply(&lc, LC_RESET, &ev);
	expect_status(&lc, "running (booted)");
	/* Paused while shutting down: a resume comes back in shutdown, not plain running. */
	lc = after(LC_POWERDOWN);
	lifecycle_apply(&lc, LC_PAUSE, &ev);
	expect_status(&lc, "paused (user)");
	lifecycle_apply(&lc, LC_RESUME, &ev);
	expect_status(&lc, "in shutdown (user)");
	ck_assert_str_eq(ev.name, "resumed");
	/* ... until a reset: then a pause and resume is plain running again. */
	lifecycle_apply(&lc, LC_RESET, &ev);
	lifecycle_apply(&lc, LC_PAUSE, &ev);
	lifecycle_apply(&lc, LC_RESUME, &ev);
	expect_status(&lc, "running (unpaused)");
	/* A reset while paused in shutdown: the pending shutdown goes with the old boot. */
	lc = after(LC_POWERDOWN);
	lifecycle_apply(&lc, LC_PAUSE, &ev);
	lifecycle_apply(&lc, LC_RESET, &ev);
	expect_status(&lc, "paused (user)");
	lifecycle_apply(&lc, LC_RESUME, &ev);
	expect_status(&lc, "running (unpaused)");
	/* Paused: refused, with the state named. */
	lc = after(LC_PAUSE);
	char err[128];
	ck_assert(!lifecycle_allowed(&lc, LC_POWERDOWN, err, sizeof(err)));
	ck_assert_str_eq(err, "powerdown: the VM is paused (user): resume it first");
}
END_TEST

START_TEST(test_virsh_words)
{
	ck_assert_str_eq(lifecycle_state_name(VIR_DOMAIN_SHUTOFF), "shut off");
	ck_assert_str_eq(lifecycle_state_name(VIR_DOMAIN_SHUTDOWN), "in shutdown");
	ck_assert_str_eq(lifecycle_reason_name(VIR_DOMAIN_SHUTDOWN, VIR_DOMAIN_SHUTDOWN_USER),
			 "user");
	ck_assert_str_eq(lifecycle_state_name((virDomainState)99), "unknown");
	ck_assert_str_eq(lifecycle_reason_name(VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_IOERROR),
			 "I/O error");
	ck_assert_str_eq(lifecycle_reason_name(VIR_DOMAIN_RUNNING, -1), "unknown");
	ck_assert_str_eq(lifecycle_reason_name(VIR_DOMAIN_RUNNING, 1000), "unknown");
	ck_assert_str_eq(lifecycle_reason_name(VIR_DOMAIN_CRASHED, VIR_DOMAIN_CRASHED_PANICKED),
			 "panicked");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("lifecycle");
	TCase *tc = tcase_create("lifecycle");
	tcase_add_test(tc, test_start_is_running_booted);
	tcase_add_test(tc, test_pause_resume_cycle);
	tcase_add_test(tc, test_refusals_say_why);
	tcase_add_test(tc, test_every_op_from_every_state);
	tcase_add_test(tc, test_reset_keeps_pause_and_reboots_announce);
	tcase_add_test(tc, test_stops);
	tcase_add_test(tc, test_powerdown);
	tcase_add_test(tc, test_virsh_words);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
