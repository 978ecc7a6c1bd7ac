/*
 * index_test.c: unit tests for the index (src/store/index_*.c): counters
 * that persist across a reopen, atomic multi-counter updates, the health
 * probe, the retry of lock conflicts under contention between processes,
 * a worker joining while the master is open, failchk after an idle
 * worker is killed, recovery, and a crash test that SIGKILLs busy
 * workers and checks that the counters stay consistent. Registry
 * content: tags, links and the catalog, tags written only while
 * unchanged (compare and set), manifests with their referrers, uploads
 * (with a race between processes on one upload's offset), values damaged
 * on disk, and the purge of a registry's entries (more than one batch of
 * them).
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

#include "store/index.h"
#include "lib/log.h"
#include "lib/util.h"
#include "check_main.h"

#define CHILD_LIFETIME_MS	30000	/* no child lives longer */
#define READY_MS		10000	/* wait for a child to be ready */
#define EXIT_MS			20000	/* wait for a child to finish */
#define MAX_KIDS		16
#define CRASH_WORKERS		3
#define CRASH_ROUNDS		5
#define CRASH_RUN_MS		300
#define CONTENTION_KIDS		4
#define CONTENTION_TXNS		200
#define PURGE_TAGS		530	/* more than one purge batch */

/* Exit codes of children. */
#define KID_OK			0
#define KID_OPEN_FAILED		2
#define KID_NEED_RECOVERY	3
#define KID_OP_FAILED		4
#define KID_LOST		5	/* index_upload_advance said 1 */

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
static void	 kid_cacher(int);
static struct index *master_open(void);
static int64_t	 counter(struct index *, const char *);
static void	 mkdigest(struct digest *, const char *);
static void	 mktag(struct index_tag *, const struct digest *,
		    const char *, int64_t, const char *);
static void	 tag_is(struct index *, const char *, const char *,
		    const struct digest *);
static void	 list_is(char **, size_t, const char **);
static void	 tags_are(struct index *, const char *, const char *, size_t,
		    const char **);
static void	 repos_are(struct index *, const char *, size_t,
		    const char **);
static void	 mkmanifest(struct index_manifest *, int64_t, const char *,
		    const struct digest *, const char *);
static void	 upload_put(struct index *, const char *, const char *,
		    int64_t, int64_t);
static void	 kid_wait_go(void);
static void	 kid_advancer(int);
static Suite	*index_suite(void);

/* index_record.c's test hook, on purpose not in index.h. */
int		 index_test_put_raw(struct index *, const char *,
		    const void *, size_t, const void *, size_t);

static int	 contender_id;
static int	 go_pipe[2];	/* closed by the parent: children start */

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

/*
 * In a child: link a blob as a fill does (upstream "up", committed
 * without a log flush), then wait to be killed.
 */
static void
kid_cacher(int fd)
{
	struct index	*ix;
	struct digest	 d;
	pid_t		 parent = getppid();
	long long	 deadline = now_ms() + CHILD_LIFETIME_MS;

	ix = kid_open();
	mkdigest(&d, "cached");
	if (index_link_put(ix, "r/cached", &d, INDEX_LINK_BLOB, "up") == -1)
		_exit(KID_OP_FAILED);
	kid_ready(fd);
	while (kid_should_run(parent, deadline))
		sleep_ms(10);
	_exit(KID_OK);
}

/*
 * What a pull caches is committed without flushing the log, but written
 * to it: it survives a killed worker and the recovery that follows.
 */
START_TEST(test_cached_survives_kill)
{
	struct index		*ix;
	struct index_link_info	 li;
	struct digest		 d;
	char			*cause = NULL;

	ix = master_open();
	kid_kill(kid_spawn(kid_cacher));
	ck_assert_msg(index_recover(ix, &cause) == 0, "index_recover: %s",
	    cause ? cause : "?");
	mkdigest(&d, "cached");
	ck_assert_int_eq(index_link_stat(ix, "r/cached", &d, &li), 1);
	ck_assert_str_eq(li.ili_upstream, "up");
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
	long long	 deadline;
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
		/* The workers go on adding (a busy machine may be slow). */
		deadline = now_ms() + EXIT_MS;
		while (counter(ix, "a") <= before && now_ms() < deadline)
			sleep_ms(10);
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

static void
mkdigest(struct digest *d, const char *seed)
{
	digest_buffer(DIGEST_SHA256, seed, strlen(seed), d);
}

static void
mktag(struct index_tag *t, const struct digest *d, const char *media_type,
    int64_t fetched_at, const char *upstream)
{
	memset(t, 0, sizeof(*t));
	t->it_digest = *d;
	snprintf(t->it_media_type, sizeof(t->it_media_type), "%s", media_type);
	t->it_fetched_at = fetched_at;
	snprintf(t->it_upstream, sizeof(t->it_upstream), "%s", upstream);
}

/* The tag's digest, which must be present. */
static void
tag_is(struct index *ix, const char *repo, const char *tag,
    const struct digest *want)
{
	struct index_tag	 t;

	ck_assert_int_eq(index_tag_get(ix, repo, tag, &t), 1);
	ck_assert_msg(digest_equal(&t.it_digest, want), "%s:%s points "
	    "elsewhere", repo, tag);
}

/* Compare a list with a NULL-ended array of expected strings. */
static void
list_is(char **got, size_t count, const char **want)
{
	size_t	 i;

	for (i = 0; want[i] != NULL; i++) {
		ck_assert_msg(i < count, "missing %s", want[i]);
		ck_assert_str_eq(got[i], want[i]);
	}
	ck_assert_uint_eq(count, i);
	if (count == 0)
		ck_assert_ptr_null(got);
}

static void
tags_are(struct index *ix, const char *repo, const char *last, size_t n,
    const char **want)
{
	char	**tags = NULL;
	size_t	  count = 99;

	ck_assert_int_eq(index_tag_list(ix, repo, last, n, &tags, &count), 0);
	list_is(tags, count, want);
	index_strings_free(tags, count);
}

static void
repos_are(struct index *ix, const char *last, size_t n, const char **want)
{
	char	**repos = NULL;
	size_t	  count = 99;

	ck_assert_int_eq(index_repo_list(ix, last, n, &repos, &count), 0);
	list_is(repos, count, want);
	index_strings_free(repos, count);
}

static void
mkmanifest(struct index_manifest *m, int64_t size, const char *artifact,
    const struct digest *subject, const char *annotations)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->im_media_type, sizeof(m->im_media_type), "%s",
	    "application/vnd.oci.image.manifest.v1+json");
	m->im_size = size;
	snprintf(m->im_artifact_type, sizeof(m->im_artifact_type), "%s",
	    artifact);
	if (subject != NULL) {
		m->im_has_subject = 1;
		m->im_subject = *subject;
	}
	m->im_annotations = (char *)annotations;
}

static void
upload_put(struct index *ix, const char *id, const char *repo,
    int64_t offset, int64_t updated)
{
	struct index_upload	 u;

	memset(&u, 0, sizeof(u));
	snprintf(u.iu_repo, sizeof(u.iu_repo), "%s", repo);
	u.iu_offset = offset;
	u.iu_started = updated - 1;
	u.iu_updated = updated;
	ck_assert_int_eq(index_upload_put(ix, id, &u), 0);
}

/* Wait until the parent closes the go pipe, or give up after a while. */
static void
kid_wait_go(void)
{
	struct pollfd	 pfd;
	char		 c;

	pfd.fd = go_pipe[0];
	pfd.events = POLLIN;
	if (poll(&pfd, 1, CHILD_LIFETIME_MS) != 1 ||
	    read(go_pipe[0], &c, 1) != 0)
		_exit(KID_OP_FAILED);
}

/* Advance the shared upload from 0; tell the outcome with the exit code. */
static void
kid_advancer(int fd)
{
	struct index	*ix;
	int		 r;

	close(go_pipe[1]);
	ix = kid_open();
	kid_ready(fd);
	kid_wait_go();
	r = index_upload_advance(ix, "shared", 0, 100 + contender_id);
	index_close(ix);
	if (r == 0)
		_exit(KID_OK);
	_exit(r == 1 ? KID_LOST : KID_OP_FAILED);
}

START_TEST(test_tag_roundtrip)
{
	struct index		*ix;
	struct index_tag	 t, got;
	struct digest		 d1, d2;
	char			 longtag[DEPOT_TAG_MAX + 2];
	char			 longrepo[DEPOT_REPO_MAX + 2];

	mkdigest(&d1, "one");
	digest_buffer(DIGEST_SHA512, "two", 3, &d2);
	memset(longtag, 't', sizeof(longtag) - 1);
	longtag[sizeof(longtag) - 1] = '\0';
	memset(longrepo, 'r', sizeof(longrepo) - 1);
	longrepo[sizeof(longrepo) - 1] = '\0';

	ix = master_open();
	ck_assert_int_eq(index_tag_get(ix, "hub/app", "v1", &got), 0);
	mktag(&t, &d1, "application/vnd.oci.image.index.v1+json", 1700000000,
	    "hub");
	ck_assert_int_eq(index_tag_put(ix, "hub/app", "v1", &t), 0);
	ck_assert_int_eq(index_tag_get(ix, "hub/app", "v1", &got), 1);
	ck_assert(digest_equal(&got.it_digest, &d1));
	ck_assert_str_eq(got.it_media_type, t.it_media_type);
	ck_assert_int_eq(got.it_fetched_at, 1700000000);
	ck_assert_str_eq(got.it_upstream, "hub");
	ck_assert_int_eq(index_tag_get(ix, "hub/app", "v2", &got), 0);
	ck_assert_int_eq(index_tag_get(ix, "hub/ap", "v1", &got), 0);

	/* Overwrite: a sha512 digest, negative time, pushed here. */
	mktag(&t, &d2, "", -5, "");
	ck_assert_int_eq(index_tag_put(ix, "hub/app", "v1", &t), 0);
	ck_assert_int_eq(index_tag_get(ix, "hub/app", "v1", &got), 1);
	ck_assert(digest_equal(&got.it_digest, &d2));
	ck_assert_str_eq(got.it_media_type, "");
	ck_assert_int_eq(got.it_fetched_at, -5);
	ck_assert_str_eq(got.it_upstream, "");

	/* Limits. */
	ck_assert_int_eq(index_tag_put(ix, "", "v1", &t), -1);
	ck_assert_int_eq(index_tag_put(ix, "hub/app", "", &t), -1);
	ck_assert_int_eq(index_tag_put(ix, "hub/app", longtag, &t), -1);
	ck_assert_int_eq(index_tag_put(ix, longrepo, "v1", &t), -1);
	ck_assert_int_eq(index_tag_put(ix, NULL, "v1", &t), -1);
	ck_assert_int_eq(index_tag_put(ix, "hub/app", "v1", NULL), -1);
	ck_assert_int_eq(index_tag_get(ix, "hub/app", longtag, &got), -1);
	longtag[DEPOT_TAG_MAX] = '\0';
	ck_assert_int_eq(index_tag_put(ix, "hub/app", longtag, &t), 0);
	longrepo[DEPOT_REPO_MAX] = '\0';
	ck_assert_int_eq(index_tag_put(ix, longrepo, longtag, &t), 0);
	ck_assert_int_eq(index_tag_get(ix, longrepo, longtag, &got), 1);
	t.it_digest.alg = (enum digest_alg)7;
	ck_assert_int_eq(index_tag_put(ix, "hub/app", "bad", &t), -1);
	mktag(&t, &d1, "", 0, "");
	t.it_digest.hex[3] = 'G';
	ck_assert_int_eq(index_tag_put(ix, "hub/app", "bad", &t), -1);
	mktag(&t, &d1, "", 0, "");
	memset(t.it_upstream, 'u', sizeof(t.it_upstream));
	ck_assert_int_eq(index_tag_put(ix, "hub/app", "bad", &t), -1);
	ck_assert_int_eq(index_tag_get(ix, "hub/app", "bad", &got), 0);

	/* Survives a reopen; delete says whether it deleted. */
	index_close(ix);
	ix = master_open();
	tag_is(ix, "hub/app", "v1", &d2);
	ck_assert_int_eq(index_tag_delete(ix, "hub/app", "v1"), 1);
	ck_assert_int_eq(index_tag_delete(ix, "hub/app", "v1"), 0);
	ck_assert_int_eq(index_tag_get(ix, "hub/app", "v1", &got), 0);
	ck_assert_int_eq(index_tag_delete(ix, "hub/app", ""), -1);
	index_close(ix);

	ck_assert_int_eq(index_tag_get(NULL, "hub/app", "v1", &got), -1);
	ck_assert_int_eq(index_tag_put(NULL, "hub/app", "v1", &t), -1);
}
END_TEST

START_TEST(test_tag_put_if)
{
	struct index		*ix;
	struct index_tag	 cached, renewed, pushed, got;
	struct digest		 d1, d2;

	mkdigest(&d1, "cached");
	mkdigest(&d2, "pushed");
	ix = master_open();
	mktag(&cached, &d1, "application/vnd.oci.image.manifest.v1+json",
	    1700000000, "hub");
	/* Absent: written only when absent is expected. */
	ck_assert_int_eq(index_tag_put_if(ix, "p/app", "v1", &cached,
	    &cached), 0);
	ck_assert_int_eq(index_tag_get(ix, "p/app", "v1", &got), 0);
	ck_assert_int_eq(index_tag_put_if(ix, "p/app", "v1", &cached, NULL), 1);
	tag_is(ix, "p/app", "v1", &d1);
	ck_assert_int_eq(index_tag_put_if(ix, "p/app", "v1", &cached, NULL), 0);

	/* Unchanged: a revalidation renews it. */
	renewed = cached;
	renewed.it_fetched_at = 1700000300;
	ck_assert_int_eq(index_tag_put_if(ix, "p/app", "v1", &renewed,
	    &cached), 1);
	ck_assert_int_eq(index_tag_get(ix, "p/app", "v1", &got), 1);
	ck_assert_int_eq(got.it_fetched_at, 1700000300);

	/* Pushed meanwhile: the revalidation's write is refused. */
	mktag(&pushed, &d2, "application/vnd.oci.image.manifest.v1+json",
	    1700000301, "");
	ck_assert_int_eq(index_tag_put(ix, "p/app", "v1", &pushed), 0);
	ck_assert_int_eq(index_tag_put_if(ix, "p/app", "v1", &renewed,
	    &renewed), 0);
	tag_is(ix, "p/app", "v1", &d2);
	ck_assert_int_eq(index_tag_get(ix, "p/app", "v1", &got), 1);
	ck_assert_str_eq(got.it_upstream, "");

	ck_assert_int_eq(index_tag_put_if(ix, "p/app", "", &renewed, NULL), -1);
	ck_assert_int_eq(index_tag_put_if(ix, "p/app", "v1", NULL, NULL), -1);
	index_close(ix);
	ck_assert_int_eq(index_tag_put_if(NULL, "p/app", "v1", &renewed, NULL),
	    -1);
}
END_TEST

START_TEST(test_tag_list)
{
	const char	*all[] = { "1.0", "A", "latest", "v1", "v10", "v2",
			    NULL };
	const char	*none[] = { NULL }, *x[] = { "x", NULL };
	const char	*y[] = { "y", NULL };
	const char	*z[] = { "z", NULL }, *after_latest[] = { "v1", "v10",
			    "v2", NULL }, *first2[] = { "1.0", "A", NULL };
	const char	*v2[] = { "v2", NULL }, *one[] = { "v10", NULL };
	struct index	*ix;
	struct index_tag t;
	struct digest	 d;
	char		**tags, *last;
	char		 longlast[2000];
	size_t		 count, i, walked;

	mkdigest(&d, "list");
	mktag(&t, &d, "m", 1, "");
	ix = master_open();
	tags_are(ix, "a/b", NULL, 0, none);
	for (i = 0; all[i] != NULL; i++)
		ck_assert_int_eq(index_tag_put(ix, "a/b", all[5 - i], &t), 0);
	ck_assert_int_eq(index_tag_put(ix, "a/bc", "x", &t), 0);
	ck_assert_int_eq(index_tag_put(ix, "a/b/c", "y", &t), 0);
	ck_assert_int_eq(index_tag_put(ix, "a", "z", &t), 0);
	ck_assert_int_eq(index_tag_put(ix, "a/a", "w", &t), 0);

	/* Each repository alone, in byte order. */
	tags_are(ix, "a/b", NULL, 0, all);
	tags_are(ix, "a/bc", NULL, 0, x);
	tags_are(ix, "a/b/c", NULL, 0, y);
	tags_are(ix, "a", NULL, 0, z);
	tags_are(ix, "a/", NULL, 0, none);
	tags_are(ix, "b", NULL, 0, none);

	/* Pagination edges. */
	tags_are(ix, "a/b", NULL, 2, first2);
	tags_are(ix, "a/b", "", 0, all);
	tags_are(ix, "a/b", "0", 0, all);
	tags_are(ix, "a/b", "latest", 0, after_latest);
	tags_are(ix, "a/b", "lat", 0, all + 2);
	tags_are(ix, "a/b", "latest0", 0, after_latest);
	tags_are(ix, "a/b", "v2", 0, none);
	tags_are(ix, "a/b", "zzz", 0, none);
	tags_are(ix, "a/b", "v10", 5, v2);
	tags_are(ix, "a/b", "v1", 1, one);
	tags_are(ix, "a/b", "v2", 1, none);
	tags_are(ix, "a", "z", 0, none);
	tags_are(ix, "a", "y", 0, z);

	/* A last longer than any tag: cut, with the same tags after it. */
	memset(longlast, 'v', sizeof(longlast) - 1);
	longlast[sizeof(longlast) - 1] = '\0';
	tags_are(ix, "a/b", longlast, 0, v2 + 1);
	longlast[1] = '1';
	tags_are(ix, "a/b", longlast, 0, v2);
	longlast[2] = '\0';
	tags_are(ix, "a/b", longlast, 0, after_latest + 1);

	/* n = 1 walks the whole list, one tag per call. */
	last = NULL;
	for (walked = 0; walked < 10; walked++) {
		ck_assert_int_eq(index_tag_list(ix, "a/b", last, 1, &tags,
		    &count), 0);
		free(last);
		last = NULL;
		if (count == 0)
			break;
		ck_assert_uint_eq(count, 1);
		ck_assert_str_eq(tags[0], all[walked]);
		last = strdup(tags[0]);
		index_strings_free(tags, count);
	}
	ck_assert_uint_eq(walked, 6);

	/* Bad arguments; freeing nothing is fine. */
	ck_assert_int_eq(index_tag_list(ix, "", NULL, 0, &tags, &count), -1);
	ck_assert_int_eq(index_tag_list(ix, "a/b", NULL, 0, NULL, &count),
	    -1);
	index_strings_free(NULL, 0);
	index_close(ix);
}
END_TEST

START_TEST(test_links_and_catalog)
{
	const char		*none[] = { NULL };
	const char		*one[] = { "r/one", NULL };
	const char		*both[] = { "r/one", "r/two", NULL };
	const char		*three[] = { "r/one", "r/one/x", "r/onex",
				    NULL };
	const char		*two[] = { "r/two", NULL };
	struct index		*ix;
	struct digest		 d1, d2;
	enum index_link_kind	 kind;
	char			 longlast[2000];

	mkdigest(&d1, "blob one");
	mkdigest(&d2, "blob two");
	ix = master_open();
	repos_are(ix, NULL, 0, none);
	ck_assert_int_eq(index_link_get(ix, "r/one", &d1, &kind), 0);
	ck_assert_int_eq(index_link_put(ix, "r/one", &d1, INDEX_LINK_BLOB, NULL),
	    0);
	ck_assert_int_eq(index_link_get(ix, "r/one", &d1, &kind), 1);
	ck_assert_int_eq(kind, INDEX_LINK_BLOB);
	ck_assert_int_eq(index_link_get(ix, "r/one", &d2, &kind), 0);
	ck_assert_int_eq(index_link_get(ix, "r/two", &d1, &kind), 0);
	repos_are(ix, NULL, 0, one);

	ck_assert_int_eq(index_link_put(ix, "r/two", &d1,
	    INDEX_LINK_MANIFEST, NULL), 0);
	ck_assert_int_eq(index_link_get(ix, "r/two", &d1, &kind), 1);
	ck_assert_int_eq(kind, INDEX_LINK_MANIFEST);
	ck_assert_int_eq(index_link_put(ix, "r/one", &d2, INDEX_LINK_BLOB, NULL),
	    0);
	ck_assert_int_eq(index_link_put(ix, "r/one", &d2, INDEX_LINK_BLOB, NULL),
	    0);
	repos_are(ix, NULL, 0, both);
	repos_are(ix, NULL, 1, one);
	repos_are(ix, "r/one", 0, two);
	repos_are(ix, "r/two", 0, none);
	repos_are(ix, "a", 0, both);
	memset(longlast, 'r', sizeof(longlast) - 1);
	longlast[sizeof(longlast) - 1] = '\0';
	repos_are(ix, longlast, 0, none);
	longlast[0] = 'a';
	repos_are(ix, longlast, 0, both);

	/* The repository stays while it has a link. */
	ck_assert_int_eq(index_link_delete(ix, "r/one", &d1), 1);
	ck_assert_int_eq(index_link_delete(ix, "r/one", &d1), 0);
	repos_are(ix, NULL, 0, both);
	ck_assert_int_eq(index_link_delete(ix, "r/two", &d1), 1);
	repos_are(ix, NULL, 0, one);

	/* Neighbours by name do not keep a repository alive. */
	ck_assert_int_eq(index_link_put(ix, "r/onex", &d1, INDEX_LINK_BLOB, NULL),
	    0);
	ck_assert_int_eq(index_link_put(ix, "r/one/x", &d1, INDEX_LINK_BLOB,
	    NULL),
	    0);
	repos_are(ix, NULL, 0, three);
	ck_assert_int_eq(index_link_delete(ix, "r/one", &d2), 1);
	three[0] = "r/one/x";
	three[1] = "r/onex";
	three[2] = NULL;
	repos_are(ix, NULL, 0, three);
	ck_assert_int_eq(index_link_get(ix, "r/onex", &d1, NULL), 1);

	/* A link written again comes back; kinds are checked. */
	ck_assert_int_eq(index_link_put(ix, "r/one", &d2,
	    INDEX_LINK_MANIFEST, NULL), 0);
	ck_assert_int_eq(index_link_put(ix, "r/one", &d2, INDEX_LINK_BLOB, NULL),
	    0);
	ck_assert_int_eq(index_link_get(ix, "r/one", &d2, &kind), 1);
	ck_assert_int_eq(kind, INDEX_LINK_BLOB);
	ck_assert_int_eq(index_link_put(ix, "r/one", &d2,
	    (enum index_link_kind)4, NULL), -1);
	ck_assert_int_eq(index_link_put(ix, "r/chart", &d2, INDEX_LINK_CHART,
	    "up"), 0);
	ck_assert_int_eq(index_link_get(ix, "r/chart", &d2, &kind), 1);
	ck_assert_int_eq(kind, INDEX_LINK_CHART);
	ck_assert_int_eq(index_link_delete(ix, "r/chart", &d2), 1);
	ck_assert_int_eq(index_link_put(ix, "", &d2, INDEX_LINK_BLOB, NULL),
	    -1);
	ck_assert_int_eq(index_link_put(ix, "r/one", NULL, INDEX_LINK_BLOB,
	    NULL),
	    -1);
	ck_assert_int_eq(index_repo_list(ix, NULL, 0, NULL, NULL), -1);
	index_close(ix);

	/* The catalog survives a reopen. */
	ix = master_open();
	three[0] = "r/one";
	three[1] = "r/one/x";
	three[2] = "r/onex";
	repos_are(ix, NULL, 0, three);
	index_close(ix);
}
END_TEST

START_TEST(test_manifest_commit)
{
	const char		*ab[] = { "a/b", NULL };
	const char		*sig[] = { "sig", NULL };
	struct index		*ix;
	struct index_manifest	 m, got;
	struct index_tag	 t;
	struct digest		 subject, sbom, sign, other, *refs;
	size_t			 count;

	mkdigest(&subject, "image");
	mkdigest(&sbom, "sbom");
	mkdigest(&sign, "signature");
	mkdigest(&other, "other");
	ix = master_open();

	ck_assert_int_eq(index_manifest_get(ix, &sign, &got), 0);
	ck_assert_ptr_null(got.im_annotations);
	mkmanifest(&m, 1234, "application/vnd.dev.cosign", &subject,
	    "{\"org.opencontainers.image.created\":\"now\"}");
	/* The tag points at the committed manifest, not at it_digest. */
	mktag(&t, &other, "application/vnd.oci.image.manifest.v1+json", 42,
	    "");
	ck_assert_int_eq(index_manifest_commit(ix, "a/b", &sign, &m, "sig",
	    &t), 0);

	ck_assert_int_eq(index_manifest_get(ix, &sign, &got), 1);
	ck_assert_str_eq(got.im_media_type, m.im_media_type);
	ck_assert_int_eq(got.im_size, 1234);
	ck_assert_str_eq(got.im_artifact_type, "application/vnd.dev.cosign");
	ck_assert_int_eq(got.im_has_subject, 1);
	ck_assert(digest_equal(&got.im_subject, &subject));
	ck_assert_ptr_nonnull(got.im_annotations);
	ck_assert_str_eq(got.im_annotations, m.im_annotations);
	index_manifest_clear(&got);
	ck_assert_ptr_null(got.im_annotations);
	index_manifest_clear(NULL);
	tag_is(ix, "a/b", "sig", &sign);
	tags_are(ix, "a/b", NULL, 0, sig);
	repos_are(ix, NULL, 0, ab);

	ck_assert_int_eq(index_referrer_list(ix, "a/b", &subject, &refs,
	    &count), 0);
	ck_assert_uint_eq(count, 1);
	ck_assert(digest_equal(&refs[0], &sign));
	free(refs);
	ck_assert_int_eq(index_referrer_list(ix, "a/bc", &subject, &refs,
	    &count), 0);
	ck_assert_uint_eq(count, 0);
	ck_assert_ptr_null(refs);
	ck_assert_int_eq(index_referrer_list(ix, "a/b", &sign, &refs,
	    &count), 0);
	ck_assert_uint_eq(count, 0);

	/* A second referrer, no tag, no annotations. */
	mkmanifest(&m, 10, "", &subject, NULL);
	ck_assert_int_eq(index_manifest_commit(ix, "a/b", &sbom, &m, NULL,
	    NULL), 0);
	ck_assert_int_eq(index_manifest_get(ix, &sbom, &got), 1);
	ck_assert_ptr_null(got.im_annotations);
	ck_assert_str_eq(got.im_artifact_type, "");
	index_manifest_clear(&got);
	ck_assert_int_eq(index_referrer_list(ix, "a/b", &subject, &refs,
	    &count), 0);
	ck_assert_uint_eq(count, 2);
	ck_assert_int_eq(memcmp(refs[0].hex, refs[1].hex, 64) < 0, 1);
	ck_assert(digest_equal(&refs[0], &sbom) ||
	    digest_equal(&refs[1], &sbom));
	ck_assert(digest_equal(&refs[0], &sign) ||
	    digest_equal(&refs[1], &sign));
	free(refs);
	tags_are(ix, "a/b", NULL, 0, sig);

	/* No subject: no referrer; an empty annotations object is kept. */
	mkmanifest(&m, 0, "", NULL, "{}");
	ck_assert_int_eq(index_manifest_commit(ix, "a/b", &subject, &m,
	    "latest", &t), 0);
	ck_assert_int_eq(index_manifest_get(ix, &subject, &got), 1);
	ck_assert_int_eq(got.im_has_subject, 0);
	ck_assert_str_eq(got.im_annotations, "{}");
	index_manifest_clear(&got);
	tag_is(ix, "a/b", "latest", &subject);
	ck_assert_int_eq(index_link_get(ix, "a/b", &subject, NULL), 1);

	/* Bad input writes nothing at all. */
	mkmanifest(&m, -1, "", NULL, NULL);
	ck_assert_int_eq(index_manifest_commit(ix, "x/y", &other, &m, "t",
	    &t), -1);
	mkmanifest(&m, 1, "", NULL, NULL);
	ck_assert_int_eq(index_manifest_commit(ix, "x/y", &other, &m, "t",
	    NULL), -1);
	ck_assert_int_eq(index_manifest_commit(ix, "x/y", &other, &m, "",
	    &t), -1);
	ck_assert_int_eq(index_manifest_commit(ix, "x/y", &other, NULL, NULL,
	    NULL), -1);
	ck_assert_int_eq(index_manifest_get(ix, &other, &got), 0);
	ck_assert_int_eq(index_link_get(ix, "x/y", &other, NULL), 0);
	repos_are(ix, NULL, 0, ab);
	index_close(ix);
}
END_TEST

START_TEST(test_manifest_unlink)
{
	const char		*ab[] = { "a/b", "a/bc", NULL };
	const char		*bc[] = { "a/bc", NULL };
	const char		*t3[] = { "t3", NULL };
	struct index		*ix;
	struct index_manifest	 m, got;
	struct index_tag	 t;
	struct digest		 subject, m1, m2, blob, *refs;
	size_t			 count;

	mkdigest(&subject, "subject");
	mkdigest(&m1, "manifest one");
	mkdigest(&m2, "manifest two");
	mkdigest(&blob, "a blob");
	ix = master_open();
	mkmanifest(&m, 100, "", &subject, NULL);
	mktag(&t, &m1, "mt", 1, "");
	ck_assert_int_eq(index_manifest_commit(ix, "a/b", &m1, &m, "t1", &t),
	    0);
	ck_assert_int_eq(index_tag_put(ix, "a/b", "t2", &t), 0);
	mkmanifest(&m, 200, "", NULL, NULL);
	ck_assert_int_eq(index_manifest_commit(ix, "a/b", &m2, &m, "t3", &t),
	    0);
	ck_assert_int_eq(index_link_put(ix, "a/b", &blob, INDEX_LINK_BLOB, NULL),
	    0);
	/* The same manifest in a neighbour repository. */
	ck_assert_int_eq(index_link_put(ix, "a/bc", &m1, INDEX_LINK_MANIFEST,
	    NULL),
	    0);
	ck_assert_int_eq(index_tag_put(ix, "a/bc", "t1", &t), 0);
	repos_are(ix, NULL, 0, ab);

	ck_assert_int_eq(index_manifest_unlink(ix, "a/b", &m1), 1);
	ck_assert_int_eq(index_link_get(ix, "a/b", &m1, NULL), 0);
	ck_assert_int_eq(index_tag_get(ix, "a/b", "t1", &t), 0);
	ck_assert_int_eq(index_tag_get(ix, "a/b", "t2", &t), 0);
	tag_is(ix, "a/b", "t3", &m2);
	tags_are(ix, "a/b", NULL, 0, t3);
	ck_assert_int_eq(index_referrer_list(ix, "a/b", &subject, &refs,
	    &count), 0);
	ck_assert_uint_eq(count, 0);
	ck_assert_int_eq(index_manifest_get(ix, &m1, &got), 1);
	ck_assert_int_eq(got.im_size, 100);
	index_manifest_clear(&got);
	tag_is(ix, "a/bc", "t1", &m1);
	ck_assert_int_eq(index_link_get(ix, "a/bc", &m1, NULL), 1);
	repos_are(ix, NULL, 0, ab);
	ck_assert_int_eq(index_manifest_unlink(ix, "a/b", &m1), 0);

	/* A blob link is not a manifest; the last manifest empties a/b. */
	ck_assert_int_eq(index_manifest_unlink(ix, "a/b", &blob), 0);
	ck_assert_int_eq(index_link_get(ix, "a/b", &blob, NULL), 1);
	ck_assert_int_eq(index_manifest_unlink(ix, "a/b", &m2), 1);
	repos_are(ix, NULL, 0, ab);
	ck_assert_int_eq(index_link_delete(ix, "a/b", &blob), 1);
	repos_are(ix, NULL, 0, bc);
	tags_are(ix, "a/b", NULL, 0, t3 + 1);
	ck_assert_int_eq(index_manifest_unlink(ix, "a/b", &m2), 0);
	ck_assert_int_eq(index_manifest_unlink(ix, "", &m2), -1);
	index_close(ix);
}
END_TEST

START_TEST(test_uploads)
{
	const char		*old[] = { "u-old", NULL };
	const char		*both[] = { "u-new", "u-old", NULL };
	const char		*none[] = { NULL };
	const char		*first[] = { "u-new", NULL };
	struct index		*ix;
	struct index_upload	 u;
	char			 longid[66], **ids;
	size_t			 count;
	int64_t			 now = (int64_t)time(NULL);

	memset(longid, 'i', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	ix = master_open();
	ck_assert_int_eq(index_upload_get(ix, "u-new", &u), 0);
	upload_put(ix, "u-new", "hub/app", 0, now);
	ck_assert_int_eq(index_upload_get(ix, "u-new", &u), 1);
	ck_assert_str_eq(u.iu_repo, "hub/app");
	ck_assert_int_eq(u.iu_offset, 0);
	ck_assert_int_eq(u.iu_started, now - 1);
	ck_assert_int_eq(u.iu_updated, now);

	upload_put(ix, "u-old", "hub/other", 7, 100);
	ck_assert_int_eq(index_upload_advance(ix, "u-old", 6, 20), 1);
	ck_assert_int_eq(index_upload_advance(ix, "u-absent", 0, 20), 1);
	ck_assert_int_eq(index_upload_get(ix, "u-old", &u), 1);
	ck_assert_int_eq(u.iu_offset, 7);
	ck_assert_int_eq(u.iu_updated, 100);
	ck_assert_int_eq(index_upload_advance(ix, "u-old", 7, 20), 0);
	ck_assert_int_eq(index_upload_get(ix, "u-old", &u), 1);
	ck_assert_int_eq(u.iu_offset, 20);
	ck_assert_int_ge(u.iu_updated, now);
	ck_assert_int_le(u.iu_updated, (int64_t)time(NULL));
	ck_assert_int_eq(u.iu_started, 99);
	ck_assert_str_eq(u.iu_repo, "hub/other");
	ck_assert_int_eq(index_upload_advance(ix, "u-old", 7, 30), 1);
	ck_assert_int_eq(index_upload_advance(ix, "u-old", 20, -1), -1);

	/* Expiry looks at iu_updated. */
	upload_put(ix, "u-old", "hub/other", 20, 100);
	ids = NULL;
	ck_assert_int_eq(index_upload_expired(ix, 1000, 0, &ids, &count), 0);
	list_is(ids, count, old);
	index_strings_free(ids, count);
	ck_assert_int_eq(index_upload_expired(ix, 100, 0, &ids, &count), 0);
	list_is(ids, count, none);
	ck_assert_int_eq(index_upload_expired(ix, now + 10, 0, &ids, &count),
	    0);
	list_is(ids, count, both);
	index_strings_free(ids, count);
	ck_assert_int_eq(index_upload_expired(ix, now + 10, 1, &ids, &count),
	    0);
	list_is(ids, count, first);
	index_strings_free(ids, count);

	ck_assert_int_eq(index_upload_delete(ix, "u-old"), 1);
	ck_assert_int_eq(index_upload_delete(ix, "u-old"), 0);
	ck_assert_int_eq(index_upload_get(ix, "u-old", &u), 0);

	/* Limits. */
	ck_assert_int_eq(index_upload_get(ix, "", &u), -1);
	ck_assert_int_eq(index_upload_get(ix, longid, &u), -1);
	longid[64] = '\0';
	upload_put(ix, longid, "r", 0, 1);
	ck_assert_int_eq(index_upload_get(ix, longid, &u), 1);
	ck_assert_int_eq(index_upload_put(ix, "x", NULL), -1);
	memset(&u, 0, sizeof(u));
	ck_assert_int_eq(index_upload_put(ix, "x", &u), -1);
	strcpy(u.iu_repo, "r");
	u.iu_offset = -1;
	ck_assert_int_eq(index_upload_put(ix, "x", &u), -1);
	ck_assert_int_eq(index_upload_get(ix, "x", &u), 0);
	ck_assert_int_eq(index_upload_expired(ix, 0, 0, NULL, &count), -1);
	index_close(ix);
}
END_TEST

START_TEST(test_garbled)
{
	static const unsigned char	 truncated[] = { 1, 0, 0 };
	static const unsigned char	 version2[] = { 2, 0 };
	static const unsigned char	 huge[] = { 1, 0xff, 0xff, 0xff, 0xff };
	static const unsigned char	 kind7[] = { 1, 7 };
	static const unsigned char	 kind1[] = { 1, 1, 0 };
	const char			*tags_ok[] = { "bad", "good", NULL };
	const char			*expired[] = { "up-bad", NULL };
	struct index			*ix;
	struct index_tag		 t;
	struct index_manifest		 m;
	struct index_upload		 u;
	unsigned char			 val[600];
	size_t				 vlen;
	struct digest			 d, *refs;
	char				 key[512];
	char				 digest_str[DIGEST_STRING_MAX];
	char				**ids;
	size_t				 count, n;

	mkdigest(&d, "garbled");
	digest_format(&d, digest_str, sizeof(digest_str));
	ix = master_open();

	/* Tags: short, other version, absurd length, empty. */
	mktag(&t, &d, "m", 1, "");
	ck_assert_int_eq(index_tag_put(ix, "g", "good", &t), 0);
	ck_assert_int_eq(index_test_put_raw(ix, "tags.db", "g\0bad", 5,
	    truncated, sizeof(truncated)), 0);
	ck_assert_int_eq(index_tag_get(ix, "g", "bad", &t), -1);
	ck_assert_int_eq(index_test_put_raw(ix, "tags.db", "g\0bad", 5,
	    version2, sizeof(version2)), 0);
	ck_assert_int_eq(index_tag_get(ix, "g", "bad", &t), -1);
	ck_assert_int_eq(index_test_put_raw(ix, "tags.db", "g\0bad", 5,
	    huge, sizeof(huge)), 0);
	ck_assert_int_eq(index_tag_get(ix, "g", "bad", &t), -1);
	ck_assert_int_eq(index_test_put_raw(ix, "tags.db", "g\0bad", 5,
	    "", 0), 0);
	ck_assert_int_eq(index_tag_get(ix, "g", "bad", &t), -1);

	/* A well-formed value with one byte more, or a NUL inside. */
	vlen = 0;
	val[vlen++] = 1;
	n = strlen(digest_str);
	val[vlen++] = 0;
	val[vlen++] = 0;
	val[vlen++] = 0;
	val[vlen++] = (unsigned char)n;
	memcpy(val + vlen, digest_str, n);
	vlen += n;
	memset(val + vlen, 0, 4 + 8 + 4);	/* "", 0, "" */
	vlen += 16;
	ck_assert_int_eq(index_test_put_raw(ix, "tags.db", "g\0bad", 5,
	    val, vlen), 0);
	ck_assert_int_eq(index_tag_get(ix, "g", "bad", &t), 1);
	ck_assert(digest_equal(&t.it_digest, &d));
	val[vlen++] = 0;
	ck_assert_int_eq(index_test_put_raw(ix, "tags.db", "g\0bad", 5,
	    val, vlen), 0);
	ck_assert_int_eq(index_tag_get(ix, "g", "bad", &t), -1);
	vlen--;
	val[5 + 10] = '\0';
	ck_assert_int_eq(index_test_put_raw(ix, "tags.db", "g\0bad", 5,
	    val, vlen), 0);
	ck_assert_int_eq(index_tag_get(ix, "g", "bad", &t), -1);
	tag_is(ix, "g", "good", &d);

	/* A key with a NUL in the tag part is skipped by lists. */
	ck_assert_int_eq(index_test_put_raw(ix, "tags.db", "g\0b\0x", 5,
	    val, vlen), 0);
	tags_are(ix, "g", NULL, 0, tags_ok);

	/* Unlinking still works around a garbled tag, which stays. */
	mkmanifest(&m, 5, "", &d, NULL);
	ck_assert_int_eq(index_manifest_commit(ix, "g", &d, &m, NULL, NULL),
	    0);
	ck_assert_int_eq(index_manifest_unlink(ix, "g", &d), 1);
	ck_assert_int_eq(index_tag_get(ix, "g", "good", &t), 0);
	tags_ok[1] = NULL;
	tags_are(ix, "g", NULL, 0, tags_ok);

	/* Links and manifests. */
	n = (size_t)snprintf(key, sizeof(key), "g%c%s", '\0', digest_str);
	ck_assert_int_eq(index_test_put_raw(ix, "links.db", key, n, kind7,
	    sizeof(kind7)), 0);
	ck_assert_int_eq(index_link_get(ix, "g", &d, NULL), -1);
	ck_assert_int_eq(index_manifest_unlink(ix, "g", &d), -1);
	ck_assert_int_eq(index_test_put_raw(ix, "links.db", key, n, kind1,
	    sizeof(kind1)), 0);
	ck_assert_int_eq(index_link_get(ix, "g", &d, NULL), -1);
	ck_assert_int_eq(index_test_put_raw(ix, "manifests.db", digest_str,
	    strlen(digest_str), truncated, sizeof(truncated)), 0);
	ck_assert_int_eq(index_manifest_get(ix, &d, &m), -1);
	ck_assert_ptr_null(m.im_annotations);
	ck_assert_int_eq(index_test_put_raw(ix, "manifests.db", digest_str,
	    strlen(digest_str), huge, sizeof(huge)), 0);
	ck_assert_int_eq(index_manifest_get(ix, &d, &m), -1);

	/* A referrer key that is not a digest is skipped. */
	n = (size_t)snprintf(key, sizeof(key), "g%c%s%csha256:nope", '\0',
	    digest_str, '\0');
	ck_assert_int_eq(index_test_put_raw(ix, "referrers.db", key, n, "",
	    0), 0);
	ck_assert_int_eq(index_referrer_list(ix, "g", &d, &refs, &count), 0);
	ck_assert_uint_eq(count, 0);
	ck_assert_ptr_null(refs);

	/* A garbled upload cannot be read or advanced, and expires. */
	upload_put(ix, "up-ok", "r", 0, (int64_t)time(NULL));
	ck_assert_int_eq(index_test_put_raw(ix, "uploads.db", "up-bad", 6,
	    truncated, sizeof(truncated)), 0);
	ck_assert_int_eq(index_upload_get(ix, "up-bad", &u), -1);
	ck_assert_int_eq(index_upload_advance(ix, "up-bad", 0, 1), -1);
	ck_assert_int_eq(index_upload_expired(ix, 1000, 0, &ids, &count), 0);
	list_is(ids, count, expired);
	index_strings_free(ids, count);
	ck_assert_int_eq(index_upload_delete(ix, "up-bad"), 1);

	ck_assert_int_eq(index_test_put_raw(ix, "nope.db", "k", 1, "", 0), -1);
	index_close(ix);
}
END_TEST

/* Four workers advance one upload from the same offset: one wins. */
START_TEST(test_upload_contention)
{
	struct index		*ix;
	struct index_upload	 u;
	pid_t			 pids[CONTENTION_KIDS];
	int			 i, status, winner = -1, lost = 0;

	ix = master_open();
	upload_put(ix, "shared", "hub/app", 0, 1);
	ck_assert_int_eq(pipe(go_pipe), 0);
	for (i = 0; i < CONTENTION_KIDS; i++) {
		contender_id = i;
		pids[i] = kid_spawn(kid_advancer);
	}
	close(go_pipe[1]);
	for (i = 0; i < CONTENTION_KIDS; i++) {
		ck_assert_int_eq(kid_wait(pids[i], EXIT_MS, &status), 0);
		ck_assert(WIFEXITED(status));
		if (WEXITSTATUS(status) == KID_OK) {
			ck_assert_int_eq(winner, -1);
			winner = i;
		} else {
			ck_assert_int_eq(WEXITSTATUS(status), KID_LOST);
			lost++;
		}
	}
	close(go_pipe[0]);
	ck_assert_int_ne(winner, -1);
	ck_assert_int_eq(lost, CONTENTION_KIDS - 1);
	ck_assert_int_eq(index_upload_get(ix, "shared", &u), 1);
	ck_assert_int_eq(u.iu_offset, 100 + winner);
	ck_assert_int_gt(u.iu_updated, 1);
	ck_assert_int_eq(index_failchk(ix), 0);
	index_close(ix);
}
END_TEST

/*
 * Purging registry "reg" removes the tags, links, referrers, catalog rows
 * and uploads of "reg/..." repositories, in several batches, and nothing
 * of "reg2/...", "re/..." or a repository named "reg" itself.
 */
START_TEST(test_registry_purge)
{
	const char		*none[] = { NULL }, *kept[] = { "t", NULL };
	const char		*repos_left[] = { "re/g", "reg", "reg2/x",
				    NULL };
	struct index		*ix;
	struct index_manifest	 m, got;
	struct index_upload	 u;
	struct index_tag	 t;
	struct digest		 d, subject, sig, *refs;
	char			 tag[32];
	size_t			 count;
	int			 i;

	mkdigest(&d, "purge");
	mkdigest(&subject, "purge subject");
	mkdigest(&sig, "purge signature");
	mktag(&t, &d, "m", 1, "");
	ix = master_open();
	for (i = 0; i < PURGE_TAGS; i++) {
		snprintf(tag, sizeof(tag), "v%04d", i);
		ck_assert_int_eq(index_tag_put(ix, "reg/a", tag, &t), 0);
	}
	ck_assert_int_eq(index_tag_put(ix, "reg/b/c", "t", &t), 0);
	ck_assert_int_eq(index_link_put(ix, "reg/a", &d, INDEX_LINK_BLOB, NULL),
	    0);
	ck_assert_int_eq(index_link_put(ix, "reg/b/c", &d, INDEX_LINK_BLOB,
	    NULL),
	    0);
	mkmanifest(&m, 10, "application/x-sig", &subject, NULL);
	ck_assert_int_eq(index_manifest_commit(ix, "reg/a", &sig, &m, "sig",
	    &t), 0);
	upload_put(ix, "up-1", "reg/a", 0, 5);
	upload_put(ix, "up-3", "reg/b/c", 9, 5);
	/* Neighbours that must survive. */
	ck_assert_int_eq(index_tag_put(ix, "reg2/x", "t", &t), 0);
	ck_assert_int_eq(index_tag_put(ix, "re/g", "t", &t), 0);
	ck_assert_int_eq(index_tag_put(ix, "reg", "t", &t), 0);
	ck_assert_int_eq(index_link_put(ix, "reg2/x", &d, INDEX_LINK_BLOB, NULL),
	    0);
	ck_assert_int_eq(index_link_put(ix, "re/g", &d, INDEX_LINK_BLOB, NULL),
	    0);
	ck_assert_int_eq(index_link_put(ix, "reg", &d, INDEX_LINK_BLOB, NULL),
	    0);
	ck_assert_int_eq(index_manifest_commit(ix, "reg2/x", &sig, &m, NULL,
	    NULL), 0);
	upload_put(ix, "up-2", "reg2/x", 0, 5);
	upload_put(ix, "up-4", "reg", 0, 5);

	ck_assert_int_eq(index_registry_purge(ix, "reg"), 2);
	tags_are(ix, "reg/a", NULL, 0, none);
	tags_are(ix, "reg/b/c", NULL, 0, none);
	tags_are(ix, "reg2/x", NULL, 0, kept);
	tags_are(ix, "re/g", NULL, 0, kept);
	tags_are(ix, "reg", NULL, 0, kept);
	ck_assert_int_eq(index_link_get(ix, "reg/a", &d, NULL), 0);
	ck_assert_int_eq(index_link_get(ix, "reg/a", &sig, NULL), 0);
	ck_assert_int_eq(index_link_get(ix, "reg/b/c", &d, NULL), 0);
	ck_assert_int_eq(index_link_get(ix, "reg2/x", &d, NULL), 1);
	ck_assert_int_eq(index_link_get(ix, "reg", &d, NULL), 1);
	repos_are(ix, NULL, 0, repos_left);
	ck_assert_int_eq(index_referrer_list(ix, "reg/a", &subject, &refs,
	    &count), 0);
	ck_assert_uint_eq(count, 0);
	ck_assert_int_eq(index_referrer_list(ix, "reg2/x", &subject, &refs,
	    &count), 0);
	ck_assert_uint_eq(count, 1);
	free(refs);
	ck_assert_int_eq(index_upload_get(ix, "up-1", &u), 0);
	ck_assert_int_eq(index_upload_get(ix, "up-3", &u), 0);
	ck_assert_int_eq(index_upload_get(ix, "up-2", &u), 1);
	ck_assert_int_eq(index_upload_get(ix, "up-4", &u), 1);
	/* The manifest record is global: it stays for the other repos. */
	ck_assert_int_eq(index_manifest_get(ix, &sig, &got), 1);
	index_manifest_clear(&got);

	/* Nothing left: a second purge finds nothing; bad names refused. */
	ck_assert_int_eq(index_registry_purge(ix, "reg"), 0);
	ck_assert_int_eq(index_registry_purge(ix, ""), -1);
	ck_assert_int_eq(index_registry_purge(ix, "reg/a"), -1);
	ck_assert_int_eq(index_registry_purge(ix, NULL), -1);
	ck_assert_int_eq(index_registry_purge(NULL, "reg"), -1);
	index_close(ix);

	/* Durable: still gone after a reopen. */
	ix = master_open();
	tags_are(ix, "reg/a", NULL, 0, none);
	tags_are(ix, "reg2/x", NULL, 0, kept);
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

	tc = tcase_create("content");
	tcase_add_unchecked_fixture(tc, basedir_setup, basedir_teardown);
	tcase_add_checked_fixture(tc, tmpdir_setup, tmpdir_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_tag_roundtrip);
	tcase_add_test(tc, test_tag_put_if);
	tcase_add_test(tc, test_tag_list);
	tcase_add_test(tc, test_links_and_catalog);
	tcase_add_test(tc, test_manifest_commit);
	tcase_add_test(tc, test_manifest_unlink);
	tcase_add_test(tc, test_uploads);
	tcase_add_test(tc, test_garbled);
	tcase_add_test(tc, test_registry_purge);
	suite_add_tcase(s, tc);

	tc = tcase_create("processes");
	tcase_add_unchecked_fixture(tc, basedir_setup, basedir_teardown);
	tcase_add_checked_fixture(tc, tmpdir_setup, tmpdir_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_worker_first);
	tcase_add_test(tc, test_worker_joins_master);
	tcase_add_test(tc, test_contention);
	tcase_add_test(tc, test_upload_contention);
	tcase_add_loop_test(tc, test_idle_kill, 0, 2);
	tcase_add_test(tc, test_crash);
	tcase_add_test(tc, test_cached_survives_kill);
	suite_add_tcase(s, tc);

	return (s);
}

int
main(void)
{
	int	 failed;

	log_init(1, NULL, getenv("INDEX_TEST_VERBOSE") != NULL ?
	    LOG_DEBUG : LOG_CRIT);
	log_procname("test");
	failed = check_run(index_suite()) != EXIT_SUCCESS;
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
