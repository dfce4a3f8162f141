/* Shared by the unit test binaries: run one Check suite, exit non-zero when any test failed. */
#pragma once

#include <check.h>
#include <stdlib.h>

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

static inline int unit_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
