/*
 * index_test.c: unit tests for index.c: counters that persist across a
 * reopen, atomic multi-counter updates, the health probe, the retry of
 * lock conflicts under contention between processes, a worker joining while the master is
 * open, failchk after an idle worker is killed, recovery, and a crash test
 * that SIGKILLs busy workers and checks that the counters stay consistent.
 *
 * Children are started with fork and always leave with _exit: they never
 * touch the parent's handle, and never outlive CHILD_LIFETIME_MS or their
 * parent. INDEX_TEST_VERBOSE=1 in the environment shows the index's logs.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "index.h"
#include "log.h"
#include "util.h"

#define CHILD_LIFETIME_MS	30000	/* no child lives longer */
#define READY_MS		10000	/* wait for a child to be ready */
#define EXIT_MS			20000	/* wait for a child to finish */
#define MAX_KIDS		16
#define CRASH_WORKERS		3
#define CRASH_ROUNDS		5
#define CRASH_RUN_MS		300
#define CONTENTION_KIDS		4
#define CONTENTION_TXNS		200

/* Exit codes of children. */
#define KID_OK			0
#define KID_OPEN_FAILED		2
#define KID_NEED_RECOVERY	3
#define KID_OP_FAILED		4

typedef void	(*kid_fn)(int);

static char	 basedir[4096];
static char	 tmpdir[4096];
static char	 dbdir[4096];
static pid_t	 kids[MAX_KIDS];

static void	 sleep_ms(long);
static int	 rm_entry(const char *, const struct stat *, int,
		    struct FTW *);
static void	 basedir_setup(void);
static void	 basedir_teardown(void);
static void	 tmpdir_setup(void);
static void	 tmpdir_teardown(void);
static void	 kid_track(pid_t);
static void	 kid_forget(pid_t);
static void	 kid_kill(pid_t);
static int	 kid_wait(pid_t, long, int *);
static pid_t	 kid_spawn(kid_fn);
static struct index *kid_open(void);
static int	 kid_should_run(pid_t, long long);
static void	 kid_ready(int);
static void	 kid_adder(int);
static void	 kid_contender(int);
static void	 kid_idle(int);
static void	 kid_replacement(int);
static void	 kid_joiner(int);
static void	 kid_first(int);
static struct index *master_open(void);
static int64_t	 counter(struct index *, const char *);
static Suite	*index_suite(void);

static int	 contender_id;

/*
 * Berkeley DB keeps the heap of a handle closed after a panic, which is how
 * index_recover leaves a broken environment; LeakSanitizer, when built in,
 * reads this list and ignores allocations made inside the library.
 */
const char	*__lsan_default_suppressions(void);

const char *
__lsan_default_suppressions(void)
{
	return ("leak:libdb-5.3.so\n");
}

static void
sleep_ms(long ms)
{
	struct timespec	 ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static int
rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return (remove(path));
}

/* Once per test case, in the runner: the directory every test lives in. */
static void
basedir_setup(void)
{
	const char	*base;

	if ((base = getenv("TMPDIR")) == NULL || *base == '\0')
		base = "/tmp";
	if (path_fmt(basedir, sizeof(basedir), "%s/index_test.XXXXXX",
	    base) == -1 || mkdtemp(basedir) == NULL) {
		fprintf(stderr, "index_test: cannot create a temporary "
		    "directory under %s\n", base);
		exit(EXIT_FAILURE);
	}
}

/* Runs even when a test failed in its own process. */
static void
basedir_teardown(void)
{
	if (basedir[0] != '\0')
		nftw(basedir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	basedir[0] = '\0';
}

static void
tmpdir_setup(void)
{
	memset(kids, 0, sizeof(kids));
	ck_assert_int_eq(path_fmt(tmpdir, sizeof(tmpdir), "%s/t.XXXXXX",
	    basedir), 0);
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	ck_assert_int_eq(path_fmt(dbdir, sizeof(dbdir), "%s/db", tmpdir), 0);
}

static void
tmpdir_teardown(void)
{
	int	 i;

	for (i = 0; i < MAX_KIDS; i++)
		if (kids[i] > 0)
			kid_kill(kids[i]);
	if (tmpdir[0] != '\0')
		nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	tmpdir[0] = '\0';
}

static void
kid_track(pid_t pid)
{
	int	 i;

	for (i = 0; i < MAX_KIDS; i++)
		if (kids[i] == 0) {
			kids[i] = pid;
			return;
		}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	ck_abort_msg("too many children");
}

static void
kid_forget(pid_t pid)
{
	int	 i;

	for (i = 0; i < MAX_KIDS; i++)
		if (kids[i] == pid)
			kids[i] = 0;
}

/* SIGKILL a child and reap it. */
static void
kid_kill(pid_t pid)
{
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
		;
	kid_forget(pid);
}

/* Reap a child within ms; -1 when it is still running. */
static int
kid_wait(pid_t pid, long ms, int *status)
{
	long long	 deadline = now_ms() + ms;
	pid_t		 r;

	for (;;) {
		r = waitpid(pid, status, WNOHANG);
		if (r == pid) {
			kid_forget(pid);
			return (0);
		}
		if ((r == -1 && errno != EINTR) || now_ms() > deadline)
			return (-1);
		sleep_ms(2);
	}
}

/*
 * Fork a child running fn(ready_fd) and wait until it writes one byte to
 * ready_fd. Fails the test when the child dies or is not ready in time.
 */
static pid_t
kid_spawn(kid_fn fn)
{
	struct pollfd	 pfd;
	pid_t		 pid;
	char		 c;
	int		 p[2], n, status;

	ck_assert_int_eq(pipe(p), 0);
	fflush(NULL);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		close(p[0]);
		fn(p[1]);
		_exit(KID_OK);
	}
	close(p[1]);
	kid_track(pid);
	pfd.fd = p[0];
	pfd.events = POLLIN;
	while ((n = poll(&pfd, 1, READY_MS)) == -1 && errno == EINTR)
		;
	if (n != 1 || read(p[0], &c, 1) != 1) {
		close(p[0]);
		if (kid_wait(pid, 1000, &status) == 0 && WIFEXITED(status))
			ck_abort_msg("child exited with %d before ready",
			    WEXITSTATUS(status));
		ck_abort_msg("child not ready");
	}
	close(p[0]);
	return (pid);
}

/* In a child: open the index as a worker, or leave with a telling code. */
static struct index *
kid_open(void)
{
	struct index	*ix;
	char		*cause = NULL;
	int		 need_recovery = 0;

	log_procname("worker");
	ix = index_open(dbdir, INDEX_WORKER, &need_recovery, &cause);
	if (ix == NULL)
		_exit(need_recovery ? KID_NEED_RECOVERY : KID_OPEN_FAILED);
	return (ix);
}

static int
kid_should_run(pid_t parent, long long deadline)
{
	return (getppid() == parent && now_ms() < deadline);
}

static void
kid_ready(int fd)
{
	if (write(fd, "r", 1) != 1)
		_exit(KID_OP_FAILED);
	close(fd);
}

/* Crash test worker: add 1 to "a" and "b" together until killed. */
static void
kid_adder(int fd)
{
	const char	*names[] = { "a", "b" };
	struct index	*ix;
	pid_t		 parent = getppid();
	long long	 deadline = now_ms() + CHILD_LIFETIME_MS;

	ix = kid_open();
	if (index_counters_add(ix, names, 2, 1, NULL) == -1)
		_exit(KID_OP_FAILED);
	kid_ready(fd);
	while (kid_should_run(parent, deadline))
		if (index_counters_add(ix, names, 2, 1, NULL) == -1)
			sleep_ms(1);
	_exit(KID_OK);
}

/* Contention worker: CONTENTION_TXNS adds, half of them in reverse order. */
static void
kid_contender(int fd)
{
	const char	*ab[] = { "a", "b" }, *ba[] = { "b", "a" };
	struct index	*ix;
	int		 i;

	ix = kid_open();
	kid_ready(fd);
	for (i = 0; i < CONTENTION_TXNS; i++)
		if (index_counters_add(ix, (contender_id + i) % 2 ? ba : ab,
		    2, 1, NULL) == -1)
			_exit(KID_OP_FAILED);
	index_close(ix);
	_exit(KID_OK);
}

/* Commit one add, then wait outside the library until killed. */
static void
kid_idle(int fd)
{
	const char	*names[] = { "i" };
	struct index	*ix;
	pid_t		 parent = getppid();
	long long	 deadline = now_ms() + CHILD_LIFETIME_MS;

	ix = kid_open();
	if (index_counters_add(ix, names, 1, 1, NULL) == -1)
		_exit(KID_OP_FAILED);
	kid_ready(fd);
	while (kid_should_run(parent, deadline))
		sleep_ms(10);
	_exit(KID_OK);
}

/* Open as a worker, add to "i", probe health, close. */
static void
kid_replacement(int fd)
{
	const char	*names[] = { "i" };
	struct index	*ix;

	ix = kid_open();
	if (index_counters_add(ix, names, 1, 1, NULL) == -1 ||
	    index_health(ix) == -1)
		_exit(KID_OP_FAILED);
	index_close(ix);
	kid_ready(fd);
	_exit(KID_OK);
}

/* Try to open before any master did; report through the exit code. */
static void
kid_first(int fd)
{
	kid_ready(fd);
	(void)kid_open();
	_exit(KID_OK);
}

/* Join while the master is open: read what it wrote, add to "w". */
static void
kid_joiner(int fd)
{
	const char	*names[] = { "w" };
	struct index	*ix;
	int64_t		 value, out;

	ix = kid_open();
	if (index_counter_get(ix, "m", &value) == -1 || value != 7)
		_exit(KID_OP_FAILED);
	if (index_counters_add(ix, names, 1, 1, &out) == -1 || out != 1 ||
	    index_health(ix) == -1)
		_exit(KID_OP_FAILED);
	index_close(ix);
	kid_ready(fd);
	_exit(KID_OK);
}

static struct index *
master_open(void)
{
	struct index	*ix;
	char		*cause = NULL;
	int		 need_recovery = -1;

	ix = index_open(dbdir, INDEX_MASTER, &need_recovery, &cause);
	ck_assert_msg(ix != NULL, "index_open: %s", cause ? cause : "?");
	ck_assert_int_eq(need_recovery, 0);
	return (ix);
}

static int64_t
counter(struct index *ix, const char *name)
{
	int64_t	 value = -1;

	ck_assert_int_eq(index_counter_get(ix, name, &value), 0);
	return (value);
}

START_TEST(test_open_close_reopen)
{
	const char	*names[] = { "pulls", "pushes" };
	struct index	*ix;
	struct stat	 st;
	int64_t		 out[2];
	mode_t		 mask;

	mask = umask(022);
	umask(mask);
	ix = master_open();
	ck_assert_int_eq(stat(dbdir, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0750 & ~mask);
	ck_assert_int_eq(counter(ix, "pulls"), 0);
	ck_assert_int_eq(index_counters_add(ix, names, 2, 3, out), 0);
	ck_assert_int_eq(out[0], 3);
	ck_assert_int_eq(out[1], 3);
	ck_assert_int_eq(index_counters_add(ix, names, 1, 4, out), 0);
	ck_assert_int_eq(out[0], 7);
	index_close(ix);
	index_close(NULL);

	ix = master_open();
	ck_assert_int_eq(counter(ix, "pulls"), 7);
	ck_assert_int_eq(counter(ix, "pushes"), 3);
	ck_assert_int_eq(counter(ix, "absent"), 0);
	ck_assert_int_eq(index_checkpoint(ix), 0);
	index_close(ix);

	/* Once created, the environment may be joined by a worker alone. */
	ix = index_open(dbdir, INDEX_WORKER, NULL, NULL);
	ck_assert_ptr_nonnull(ix);
	ck_assert_int_eq(counter(ix, "pulls"), 7);
	index_close(ix);
}
END_TEST

START_TEST(test_counters_atomic)
{
	const char	*xyz[] = { "x", "y", "z" }, *dup[] = { "d", "d" };
	const char	*mixed[] = { "small", "big" }, *big[] = { "big" };
	struct index	*ix;
	int64_t		 out[3];

	ix = master_open();
	ck_assert_int_eq(index_counters_add(ix, xyz, 3, 5, out), 0);
	ck_assert_int_eq(out[0], 5);
	ck_assert_int_eq(out[2], 5);
	ck_assert_int_eq(index_counters_add(ix, xyz, 2, -7, out), 0);
	ck_assert_int_eq(out[0], -2);
	ck_assert_int_eq(out[1], -2);
	ck_assert_int_eq(counter(ix, "x"), -2);
	ck_assert_int_eq(counter(ix, "z"), 5);
	ck_assert_int_eq(index_counters_add(ix, dup, 2, 1, out), 0);
	ck_assert_int_eq(out[0], 1);
	ck_assert_int_eq(out[1], 2);
	ck_assert_int_eq(index_counters_add(ix, xyz, 0, 1, NULL), 0);

	/* A failure on the second counter undoes the first. */
	ck_assert_int_eq(index_counters_add(ix, big, 1, INT64_MAX - 1, out),
	    0);
	ck_assert_int_eq(index_counters_add(ix, mixed, 2, 5, out), -1);
	ck_assert_int_eq(counter(ix, "small"), 0);
	ck_assert_int_eq(counter(ix, "big"), INT64_MAX - 1);
	ck_assert_int_eq(index_counters_add(ix, big, 1, 1, out), 0);
	ck_assert_int_eq(out[0], INT64_MAX);
	ck_assert_int_eq(index_counters_add(ix, big, 1, INT64_MIN, out), 0);
	ck_assert_int_eq(out[0], -1);

	/* Values survive a reopen bit for bit, negative ones included. */
	index_close(ix);
	ix = master_open();
	ck_assert_int_eq(counter(ix, "big"), -1);
	ck_assert_int_eq(counter(ix, "x"), -2);
	index_close(ix);
}
END_TEST

START_TEST(test_bad_arguments)
{
	char		 longname[300];
	const char	*empty[] = { "ok", "" }, *nul[] = { NULL };
	const char	*toolong[] = { longname }, *ok[] = { "ok" };
	struct index	*ix;
	char		*cause = NULL, file[4096];
	int64_t		 value;
	int		 need_recovery = -1;
	FILE		*fp;

	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	ix = master_open();
	ck_assert_int_eq(index_counters_add(ix, empty, 2, 1, NULL), -1);
	ck_assert_int_eq(counter(ix, "ok"), 0);
	ck_assert_int_eq(index_counters_add(ix, nul, 1, 1, NULL), -1);
	ck_assert_int_eq(index_counters_add(ix, toolong, 1, 1, NULL), -1);
	ck_assert_int_eq(index_counters_add(ix, NULL, 1, 1, NULL), -1);
	ck_assert_int_eq(index_counters_add(ix, ok, -1, 1, NULL), -1);
	ck_assert_int_eq(index_counter_get(ix, "", &value), -1);
	index_close(ix);

	ck_assert_int_eq(index_counters_add(NULL, ok, 1, 1, NULL), -1);
	ck_assert_int_eq(index_counter_get(NULL, "ok", &value), -1);
	ck_assert_int_eq(index_health(NULL), -1);
	ck_assert_int_eq(index_failchk(NULL), -1);
	ck_assert_int_eq(index_checkpoint(NULL), -1);

	/* A directory that cannot be created. */
	ck_assert_int_eq(path_fmt(file, sizeof(file), "%s/file", tmpdir), 0);
	ck_assert_ptr_nonnull(fp = fopen(file, "w"));
	fclose(fp);
	ck_assert_int_eq(path_fmt(file, sizeof(file), "%s/file/db", tmpdir), 0);
	ck_assert_ptr_null(index_open(file, INDEX_MASTER, &need_recovery,
	    &cause));
	ck_assert_ptr_nonnull(cause);
	ck_assert_ptr_nonnull(strstr(cause, "file/db"));
	ck_assert_int_eq(need_recovery, 0);
	free(cause);
}
END_TEST

START_TEST(test_health)
{
	struct index	*ix;
	int		 i;

	ix = master_open();
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(index_health(ix), 0);
	ck_assert_int_eq(index_failchk(ix), 0);
	index_close(ix);
	ix = master_open();
	ck_assert_int_eq(index_health(ix), 0);
	index_close(ix);
}
END_TEST

START_TEST(test_recover)
{
	const char	*names[] = { "r" };
	struct index	*ix;
	char		*cause = NULL;

	ix = master_open();
	ck_assert_int_eq(index_counters_add(ix, names, 1, 2, NULL), 0);
	ck_assert_int_eq(index_recover(ix, &cause), 0);
	ck_assert_ptr_null(cause);
	ck_assert_int_eq(counter(ix, "r"), 2);
	ck_assert_int_eq(index_counters_add(ix, names, 1, 2, NULL), 0);
	ck_assert_int_eq(index_health(ix), 0);
	ck_assert_int_eq(index_checkpoint(ix), 0);
	ck_assert_int_eq(index_failchk(ix), 0);
	index_close(ix);

	/* Only the master recovers. */
	ix = index_open(dbdir, INDEX_WORKER, NULL, NULL);
	ck_assert_ptr_nonnull(ix);
	ck_assert_int_eq(index_recover(ix, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	free(cause);
	ck_assert_int_eq(counter(ix, "r"), 4);
	index_close(ix);
}
END_TEST

/* A worker cannot create the environment: the master must. */
START_TEST(test_worker_first)
{
	struct index	*ix;
	pid_t		 pid;
	int		 status;

	pid = kid_spawn(kid_first);
	ck_assert_int_eq(kid_wait(pid, EXIT_MS, &status), 0);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), KID_NEED_RECOVERY);
	ix = master_open();
	ck_assert_int_eq(index_health(ix), 0);
	index_close(ix);
}
END_TEST

START_TEST(test_worker_joins_master)
{
	const char	*names[] = { "m" };
	struct index	*ix;
	pid_t		 pid;
	int		 status;

	ix = master_open();
	ck_assert_int_eq(index_counters_add(ix, names, 1, 7, NULL), 0);
	pid = kid_spawn(kid_joiner);
	ck_assert_int_eq(kid_wait(pid, EXIT_MS, &status), 0);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), KID_OK);
	ck_assert_int_eq(counter(ix, "w"), 1);
	ck_assert_int_eq(index_failchk(ix), 0);
	ck_assert_int_eq(index_health(ix), 0);
	index_close(ix);
}
END_TEST

START_TEST(test_contention)
{
	struct index	*ix;
	pid_t		 pids[CONTENTION_KIDS];
	int		 i, status;

	ix = master_open();
	for (i = 0; i < CONTENTION_KIDS; i++) {
		contender_id = i;
		pids[i] = kid_spawn(kid_contender);
	}
	for (i = 0; i < CONTENTION_KIDS; i++) {
		ck_assert_int_eq(kid_wait(pids[i], EXIT_MS, &status), 0);
		ck_assert(WIFEXITED(status));
		ck_assert_int_eq(WEXITSTATUS(status), KID_OK);
	}
	ck_assert_int_eq(counter(ix, "a"), CONTENTION_KIDS * CONTENTION_TXNS);
	ck_assert_int_eq(counter(ix, "b"), CONTENTION_KIDS * CONTENTION_TXNS);
	ck_assert_int_eq(index_failchk(ix), 0);
	index_close(ix);
}
END_TEST

/*
 * Kill a worker while it waits outside the library; a replacement opens
 * without recovery and the master's handle stays usable. _i == 0: the
 * master runs failchk first; _i == 1: the replacement's open does it.
 */
START_TEST(test_idle_kill)
{
	struct index	*ix;
	pid_t		 pid;
	int		 status;

	ix = master_open();
	pid = kid_spawn(kid_idle);
	kid_kill(pid);
	if (_i == 0)
		ck_assert_int_eq(index_failchk(ix), 0);
	pid = kid_spawn(kid_replacement);
	ck_assert_int_eq(kid_wait(pid, EXIT_MS, &status), 0);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), KID_OK);
	ck_assert_int_eq(index_health(ix), 0);
	ck_assert_int_eq(counter(ix, "i"), 2);
	ck_assert_int_eq(index_failchk(ix), 0);
	index_close(ix);
}
END_TEST

/*
 * Busy workers add 1 to "a" and "b" in one transaction, so a == b at every
 * commit. Kill one per round, let the master clean up (failchk, or stop
 * everyone and recover), start a replacement, and check the invariant.
 */
START_TEST(test_crash)
{
	const char	*names[] = { "a", "b" };
	struct index	*ix;
	pid_t		 pids[CRASH_WORKERS];
	char		*cause = NULL;
	int64_t		 before, out[2];
	int		 i, r, round, victim;

	ix = master_open();
	for (i = 0; i < CRASH_WORKERS; i++)
		pids[i] = kid_spawn(kid_adder);
	sleep_ms(CRASH_RUN_MS);
	for (round = 0; round < CRASH_ROUNDS; round++) {
		before = counter(ix, "a");
		victim = round % CRASH_WORKERS;
		kid_kill(pids[victim]);
		r = index_failchk(ix);
		ck_assert_msg(r == 0 || r == 1, "index_failchk: %d", r);
		if (r == 1) {
			for (i = 0; i < CRASH_WORKERS; i++)
				if (i != victim)
					kid_kill(pids[i]);
			ck_assert_msg(index_recover(ix, &cause) == 0,
			    "index_recover: %s", cause ? cause : "?");
			for (i = 0; i < CRASH_WORKERS; i++)
				pids[i] = kid_spawn(kid_adder);
		} else
			pids[victim] = kid_spawn(kid_adder);
		log_info("round %d: %s", round, r ? "recovery" : "failchk");
		sleep_ms(CRASH_RUN_MS);
		ck_assert_int_gt(counter(ix, "a"), before);
	}
	for (i = 0; i < CRASH_WORKERS; i++)
		kid_kill(pids[i]);
	if ((r = index_failchk(ix)) == 1)
		ck_assert_msg(index_recover(ix, &cause) == 0,
		    "index_recover: %s", cause ? cause : "?");
	else
		ck_assert_int_eq(r, 0);

	ck_assert_int_gt(counter(ix, "a"), 0);
	ck_assert_int_eq(counter(ix, "a"), counter(ix, "b"));
	before = counter(ix, "a");
	ck_assert_int_eq(index_counters_add(ix, names, 2, 1, out), 0);
	ck_assert_int_eq(out[0], before + 1);
	ck_assert_int_eq(out[1], before + 1);
	ck_assert_int_eq(index_health(ix), 0);
	ck_assert_int_eq(index_checkpoint(ix), 0);
	index_close(ix);

	/* A fresh master start sees the same, consistent counters. */
	ix = master_open();
	ck_assert_int_eq(counter(ix, "a"), before + 1);
	ck_assert_int_eq(counter(ix, "b"), before + 1);
	index_close(ix);
}
END_TEST

static Suite *
index_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("index");

	tc = tcase_create("basic");
	tcase_add_unchecked_fixture(tc, basedir_setup, basedir_teardown);
	tcase_add_checked_fixture(tc, tmpdir_setup, tmpdir_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_open_close_reopen);
	tcase_add_test(tc, test_counters_atomic);
	tcase_add_test(tc, test_bad_arguments);
	tcase_add_test(tc, test_health);
	tcase_add_test(tc, test_recover);
	suite_add_tcase(s, tc);

	tc = tcase_create("processes");
	tcase_add_unchecked_fixture(tc, basedir_setup, basedir_teardown);
	tcase_add_checked_fixture(tc, tmpdir_setup, tmpdir_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_worker_first);
	tcase_add_test(tc, test_worker_joins_master);
	tcase_add_test(tc, test_contention);
	tcase_add_loop_test(tc, test_idle_kill, 0, 2);
	tcase_add_test(tc, test_crash);
	suite_add_tcase(s, tc);

	return (s);
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	log_init(1, NULL, getenv("INDEX_TEST_VERBOSE") != NULL ?
	    LOG_DEBUG : LOG_CRIT);
	log_procname("test");
	sr = srunner_create(index_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
