/*
 * offload_test.c: work runs in a thread while the loop goes on, and its
 * done callback comes once, on the loop, never inside offload_run; also
 * when no thread can be had.
 */
#include <sys/types.h>
#include <sys/resource.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "lib/offload.h"
#include "check_main.h"

#define TEST_JOBS		8
#define TEST_GATE_MS		20000
#define TEST_DEADLINE_S		30

struct job {
	int		 j_gate;	/* work waits for a byte here, or -1 */
	int		 j_released;	/* the byte came */
	pthread_t	 j_work_thread;
	pthread_t	 j_done_thread;
	int		 j_worked;
	int		 j_done;
	int		 j_done_after_work;
};

static struct event_base	*test_base;
static int			 test_ndone, test_want;
static int			 test_in_run;
static int			 test_done_inside;

static void
test_work(void *arg)
{
	struct job	*j = arg;
	struct pollfd	 pfd;
	char		 c;

	j->j_work_thread = pthread_self();
	if (j->j_gate != -1) {
		pfd.fd = j->j_gate;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, TEST_GATE_MS) == 1 &&
		    read(j->j_gate, &c, 1) == 1)
			j->j_released = 1;
	}
	j->j_worked = 1;
}

static void
test_done(void *arg)
{
	struct job	*j = arg;

	if (test_in_run)
		test_done_inside = 1;
	j->j_done_thread = pthread_self();
	j->j_done_after_work = j->j_worked;
	j->j_done++;
	if (++test_ndone == test_want)
		event_base_loopexit(test_base, NULL);
}

/* From the loop, while the work waits: let it go on. */
static void
test_open_gate_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	ck_assert_int_eq(write(*(int *)arg, "g", 1), 1);
}

static void
test_run_one(struct job *j)
{
	test_in_run = 1;
	offload_run(test_base, test_work, test_done, j);
	test_in_run = 0;
}

/* Run the loop until test_want jobs are done (bounded). */
static void
test_loop(void)
{
	struct timeval	 tv = { TEST_DEADLINE_S, 0 };

	ck_assert_int_eq(event_base_loopexit(test_base, &tv), 0);
	ck_assert_int_ne(event_base_dispatch(test_base), -1);
	ck_assert_int_eq(test_ndone, test_want);
}

static void
test_setup(void)
{
	test_base = event_base_new();
	ck_assert_ptr_nonnull(test_base);
	test_ndone = test_done_inside = 0;
}

static void
test_teardown(void)
{
	event_base_free(test_base);
}

/* The work blocks until the loop, running meanwhile, releases it. */
START_TEST(test_offload_thread)
{
	struct job	 j;
	struct timeval	 now = { 0, 0 };
	int		 gate[2];

	memset(&j, 0, sizeof(j));
	ck_assert_int_eq(pipe(gate), 0);
	j.j_gate = gate[0];
	test_want = 1;
	test_run_one(&j);
	ck_assert_int_eq(j.j_done, 0);
	ck_assert_uint_eq(offload_pending(), 1);
	ck_assert_int_eq(event_base_once(test_base, -1, EV_TIMEOUT,
	    test_open_gate_cb, &gate[1], &now), 0);
	test_loop();
	ck_assert(j.j_released);
	ck_assert_int_eq(j.j_done, 1);
	ck_assert(j.j_done_after_work);
	ck_assert(!test_done_inside);
	ck_assert(!pthread_equal(j.j_work_thread, pthread_self()));
	ck_assert(pthread_equal(j.j_done_thread, pthread_self()));
	ck_assert_uint_eq(offload_pending(), 0);
	close(gate[0]);
	close(gate[1]);
}
END_TEST

/* Several jobs at once: each done exactly once. */
START_TEST(test_offload_many)
{
	struct job	 j[TEST_JOBS];
	int		 i;

	memset(j, 0, sizeof(j));
	test_want = TEST_JOBS;
	for (i = 0; i < TEST_JOBS; i++) {
		j[i].j_gate = -1;
		test_run_one(&j[i]);
	}
	ck_assert_uint_eq(offload_pending(), TEST_JOBS);
	test_loop();
	for (i = 0; i < TEST_JOBS; i++) {
		ck_assert_int_eq(j[i].j_done, 1);
		ck_assert(j[i].j_done_after_work);
	}
	ck_assert(!test_done_inside);
	ck_assert_uint_eq(offload_pending(), 0);
}
END_TEST

/* Out of descriptors: the work runs at once, done still from the loop. */
START_TEST(test_offload_no_thread)
{
	struct rlimit	 old, rl;
	struct job	 j;
	int		 fd;

	memset(&j, 0, sizeof(j));
	j.j_gate = -1;
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	/* No descriptor above the lowest free one: pipe2 fails. */
	fd = dup(0);
	ck_assert_int_ne(fd, -1);
	close(fd);
	rl = old;
	rl.rlim_cur = (rlim_t)fd;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	test_want = 1;
	test_run_one(&j);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	ck_assert(j.j_worked);
	ck_assert(pthread_equal(j.j_work_thread, pthread_self()));
	ck_assert_int_eq(j.j_done, 0);
	test_loop();
	ck_assert_int_eq(j.j_done, 1);
	ck_assert(!test_done_inside);
	ck_assert_uint_eq(offload_pending(), 0);
}
END_TEST

/* A file of size bytes in the temp directory; its name in path. */
static int
test_file(off_t size, char *path)
{
	int	 fd;

	strcpy(path, "/tmp/offload-test-XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(ftruncate(fd, size), 0);
	return (fd);
}

/*
 * The last close of a large unlinked file (its blocks are freed) runs in
 * a thread; any other descriptor is closed at once.
 */
START_TEST(test_offload_close)
{
	struct timeval	 tv = { 0, 10000 };
	char		 path[64];
	int		 fd, i;

	fd = test_file(2 * 1024 * 1024, path);
	ck_assert_int_eq(unlink(path), 0);
	offload_close(test_base, fd);
	ck_assert_uint_eq(offload_pending(), 1);
	for (i = 0; i < TEST_DEADLINE_S * 100 && offload_pending() > 0; i++) {
		event_base_loopexit(test_base, &tv);
		event_base_dispatch(test_base);
	}
	ck_assert_uint_eq(offload_pending(), 0);
	ck_assert_int_eq(fcntl(fd, F_GETFD), -1);
	ck_assert_int_eq(errno, EBADF);

	fd = test_file(2 * 1024 * 1024, path);	/* still named */
	offload_close(test_base, fd);
	ck_assert_uint_eq(offload_pending(), 0);
	ck_assert_int_eq(fcntl(fd, F_GETFD), -1);
	ck_assert_int_eq(unlink(path), 0);

	fd = test_file(1024, path);		/* small */
	ck_assert_int_eq(unlink(path), 0);
	offload_close(test_base, fd);
	ck_assert_uint_eq(offload_pending(), 0);
	ck_assert_int_eq(fcntl(fd, F_GETFD), -1);

	fd = open("/dev/null", O_RDONLY);	/* not a regular file */
	ck_assert_int_ne(fd, -1);
	offload_close(test_base, fd);
	ck_assert_uint_eq(offload_pending(), 0);
	ck_assert_int_eq(fcntl(fd, F_GETFD), -1);
	offload_close(test_base, -1);		/* nothing */
	ck_assert_uint_eq(offload_pending(), 0);
}
END_TEST

static Suite *
offload_suite(void)
{
	Suite	*s = suite_create("offload");
	TCase	*tc = tcase_create("offload");

	tcase_add_checked_fixture(tc, test_setup, test_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_offload_thread);
	tcase_add_test(tc, test_offload_many);
	tcase_add_test(tc, test_offload_no_thread);
	tcase_add_test(tc, test_offload_close);
	suite_add_tcase(s, tc);
	return (s);
}

CHECK_MAIN(offload_suite)
