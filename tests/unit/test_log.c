/* The log limiter: how many lines one cause may log per window, and the count of those held
 * back, at times the test chooses. */
#include <check.h>

#include "unit.h"
#include "vmm/log.h"

#define SEC 1000000000ULL

START_TEST(test_burst_then_held)
{
	struct log_limit l = {0};
	unsigned long long held = 99;
	uint64_t t = 5 * SEC;
	for (int i = 0; i < LOG_LIMIT_BURST; i++) {
		ck_assert(log_limit_pass(&l, t + (uint64_t)i, &held));
		ck_assert_uint_eq(held, 0);
	}
	for (int i = 0; i < 1000; i++)
		ck_assert(!log_limit_pass(&l, t + SEC, &held));
	/* Still inside the window: held. */
	ck_assert(!log_limit_pass(&l, t + (LOG_LIMIT_WINDOW_S - 1) * SEC, &held));
	/* A new window: one line again, saying how many were held back. */
	ck_assert(log_limit_pass(&l, t + LOG_LIMIT_WINDOW_S * SEC, &held));
	ck_assert_uint_eq(held, 1001);
	ck_assert(log_limit_pass(&l, t + LOG_LIMIT_WINDOW_S * SEC + 1, &held));
	ck_assert_uint_eq(held, 0);
}
END_TEST

START_TEST(test_limiters_are_independent)
{
	struct log_limit a = {0}, b = {0};
	unsigned long long held;
	for (int i = 0; i < LOG_LIMIT_BURST; i++)
		ck_assert(log_limit_pass(&a, SEC, &held));
	ck_assert(!log_limit_pass(&a, SEC, &held));
	ck_assert(log_limit_pass(&b, SEC, &held));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("limit");
	tcase_add_test(tc, test_burst_then_held);
	tcase_add_test(tc, test_limiters_are_independent);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
