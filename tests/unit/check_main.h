/*
 * check_main.h: what the main() of every unit test program shares: run
 * a suite with the runner's settings from the environment (CK_FORK,
 * CK_VERBOSITY, CK_TAP_LOG_FILE_NAME) and tell whether a test failed.
 */
#ifndef DEPOT_CHECK_MAIN_H
#define DEPOT_CHECK_MAIN_H

#include <stdlib.h>

#include <check.h>

/* Run s (and free it): EXIT_SUCCESS, or EXIT_FAILURE when a test failed. */
static inline int
check_run(Suite *s)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}

/* A main() that only runs the suite suite_fn() builds. */
#define CHECK_MAIN(suite_fn)						\
int									\
main(void)								\
{									\
	return (check_run(suite_fn()));					\
}

#endif /* DEPOT_CHECK_MAIN_H */
