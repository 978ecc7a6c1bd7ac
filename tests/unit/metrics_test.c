/*
 * metrics_test.c: unit tests for metrics.c: exact counts from several
 * processes updating the shared segment at once, the label table when
 * full, in-flight slots of dead workers, the blob store walk, and the
 * Prometheus text rendering.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "util.h"
#include "xmalloc.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION	"unknown"
#endif

#define NPROCS		4
#define INCREMENTS	10000

#define NAME_RE		"[a-zA-Z_:][a-zA-Z0-9_:]*"
#define LABEL_RE	"[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|\\\\.)*\""

static char	*tmpdir;

static long long	 series_value(const char *, const char *);
static int		 series_count(const char *, const char *);
static int		 lines_with_prefix(const char *, const char *);
static void		 run_children(int, void (*)(int));
static void		 count_loop(int);
static void		 fill_loop(int);
static long long	 requests_sum(const char *);
static void		 write_file(const char *, size_t);
static void		 rm_tree(const char *);
static void		 segment_setup(void);
static void		 segment_teardown(void);
static void		 tmpdir_setup(void);
static void		 tmpdir_teardown(void);
static Suite		*metrics_suite(void);

/*
 * The value of the sample whose name and labels are exactly series, or
 * -1 when it is absent.
 */
static long long
series_value(const char *text, const char *series)
{
	const char	*p = text;
	size_t		 n = strlen(series);

	while (p != NULL && *p != '\0') {
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return (strtoll(p + n + 1, NULL, 10));
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	}
	return (-1);
}

/* How many samples have exactly this name and labels. */
static int
series_count(const char *text, const char *series)
{
	const char	*p = text;
	size_t		 n = strlen(series);
	int		 count = 0;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			count++;
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	}
	return (count);
}

static int
lines_with_prefix(const char *text, const char *prefix)
{
	const char	*p = text;
	int		 count = 0;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, prefix, strlen(prefix)) == 0)
			count++;
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	}
	return (count);
}

/*
 * Fork n children that wait on a pipe, so that they start together, and
 * then run fn(index). Wait for all; each must exit 0.
 */
static void
run_children(int n, void (*fn)(int))
{
	pid_t	 pids[NPROCS * 2];
	int	 gate[2], i, status;
	char	 c;

	ck_assert_int_le(n, NPROCS * 2);
	ck_assert_int_eq(pipe(gate), 0);
	for (i = 0; i < n; i++) {
		pids[i] = fork();
		ck_assert_int_ne(pids[i], -1);
		if (pids[i] == 0) {
			close(gate[1]);
			if (read(gate[0], &c, 1) != 0)
				_exit(2);
			fn(i);
			_exit(0);
		}
	}
	close(gate[0]);
	close(gate[1]);		/* EOF: every child starts */
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
}

/* One child's share: the same label sets as every other child. */
static void
count_loop(int child)
{
	int	 i;

	(void)child;
	metrics_worker_attach();
	for (i = 0; i < INCREMENTS; i++) {
		metrics_inflight_add(1);
		metrics_request("docker-local", "GET", 200, 3);
		if (i % 2 == 0)
			metrics_request("", "HEAD", 404, 0);
		metrics_request(i % 10 == 0 ? "hub" : "docker-local", "PUT",
		    201, 1);
		metrics_inflight_add(-1);
	}
}

/* A full table filled by several processes at once stays exact. */
static void
fill_loop(int child)
{
	char	 name[32];
	int	 i;

	for (i = 0; i < METRICS_LABEL_SLOTS + 200; i++) {
		snprintf(name, sizeof(name), "r%d", (i + child * 97) %
		    (METRICS_LABEL_SLOTS + 200));
		metrics_request(name, "GET", 200, 1);
	}
}

/* The sum of every depot_http_requests_total sample. */
static long long
requests_sum(const char *text)
{
	const char	*p = text, *prefix = "depot_http_requests_total{";
	long long	 total = 0;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, prefix, strlen(prefix)) == 0)
			total += strtoll(strchr(p, ' ') + 1, NULL, 10);
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	}
	return (total);
}

static void
write_file(const char *path, size_t len)
{
	char	 buf[64];
	int	 fd;

	memset(buf, 'x', sizeof(buf));
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ne(fd, -1);
	while (len > 0) {
		size_t	 n = len < sizeof(buf) ? len : sizeof(buf);

		ck_assert_int_eq(write_all(fd, buf, n), 0);
		len -= n;
	}
	close(fd);
}

static void
rm_tree(const char *path)
{
	char	*cmd;

	xasprintf(&cmd, "rm -rf '%s'", path);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", path);
	free(cmd);
}

static void
segment_setup(void)
{
	ck_assert_int_eq(metrics_init(), 0);
}

static void
segment_teardown(void)
{
	metrics_close();
}

static void
tmpdir_setup(void)
{
	char	*t;

	segment_setup();
	xasprintf(&t, "%s/metrics_test.XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	tmpdir = mkdtemp(t);
	ck_assert_ptr_nonnull(tmpdir);
}

static void
tmpdir_teardown(void)
{
	rm_tree(tmpdir);
	free(tmpdir);
	tmpdir = NULL;
	segment_teardown();
}

START_TEST(test_no_segment)
{
	/* Without a segment every update is a no-op and nothing renders. */
	metrics_request("docker-local", "GET", 200, 1);
	metrics_inflight_add(1);
	metrics_worker_attach();
	metrics_worker_detach(getpid());
	metrics_worker_restarted();
	metrics_workers_set(2);
	metrics_uploads_expired(1);
	metrics_blob_store_set(1, 1);
	ck_assert_ptr_null(metrics_render());
}
END_TEST

START_TEST(test_forked_exact)
{
	char	*text;

	run_children(NPROCS, count_loop);
	text = metrics_render();
	ck_assert_ptr_nonnull(text);
	ck_assert_int_eq(series_value(text, "depot_http_requests_total{"
	    "registry=\"docker-local\",method=\"GET\",code=\"200\"}"),
	    NPROCS * INCREMENTS);
	ck_assert_int_eq(series_value(text, "depot_http_requests_total{"
	    "registry=\"\",method=\"HEAD\",code=\"404\"}"),
	    NPROCS * INCREMENTS / 2);
	ck_assert_int_eq(series_value(text, "depot_http_requests_total{"
	    "registry=\"docker-local\",method=\"PUT\",code=\"201\"}"),
	    NPROCS * INCREMENTS * 9 / 10);
	ck_assert_int_eq(series_value(text, "depot_http_requests_total{"
	    "registry=\"hub\",method=\"PUT\",code=\"201\"}"),
	    NPROCS * INCREMENTS / 10);
	ck_assert_int_eq(series_value(text, "depot_http_response_bytes_total{"
	    "registry=\"docker-local\"}"),
	    NPROCS * INCREMENTS * 3 + NPROCS * INCREMENTS * 9 / 10);
	ck_assert_int_eq(series_value(text, "depot_http_response_bytes_total{"
	    "registry=\"hub\"}"), NPROCS * INCREMENTS / 10);
	ck_assert_int_eq(series_value(text, "depot_http_response_bytes_total{"
	    "registry=\"\"}"), 0);
	/* Entries two processes added at once are rendered as one. */
	ck_assert_int_eq(lines_with_prefix(text, "depot_http_requests_total{"),
	    4);
	ck_assert_int_eq(lines_with_prefix(text,
	    "depot_http_response_bytes_total{"), 3);
	ck_assert_int_eq(series_value(text, "depot_http_requests_in_flight"),
	    0);
	free(text);
}
END_TEST

START_TEST(test_table_full)
{
	char	 name[32], *text;
	int	 i;

	for (i = 0; i < METRICS_LABEL_SLOTS; i++) {
		snprintf(name, sizeof(name), "r%d", i);
		metrics_request(name, "GET", 200, 10);
	}
	/* Full: new label sets go to the overflow series ... */
	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "new%d", i);
		metrics_request(name, "GET", 200, 1);
	}
	/* ... and so do label values that cannot be real. */
	metrics_request("r0", "GET", 42, 1);
	metrics_request("r0", "PROPFIND", 200, 1);
	metrics_request("r0", "", 200, 1);
	metrics_request("a-registry-name-that-is-longer-than-any-that-is-"
	    "allowed-in-a-config", "GET", 200, 1);
	metrics_request(NULL, "GET", 200, 1);
	/* Known label sets still count. */
	metrics_request("r0", "GET", 200, 10);
	metrics_request("r1023", "GET", 200, 10);

	text = metrics_render();
	ck_assert_ptr_nonnull(text);
	ck_assert_int_eq(lines_with_prefix(text,
	    "depot_http_requests_total{registry=\"r"), METRICS_LABEL_SLOTS);
	ck_assert_int_eq(series_value(text, "depot_http_requests_total{"
	    "registry=\"" METRICS_OTHER "\",method=\"" METRICS_OTHER
	    "\",code=\"" METRICS_OTHER "\"}"), 105);
	ck_assert_int_eq(series_value(text, "depot_http_response_bytes_total{"
	    "registry=\"" METRICS_OTHER "\"}"), 105);
	ck_assert_int_eq(series_value(text, "depot_http_requests_total{"
	    "registry=\"r0\",method=\"GET\",code=\"200\"}"), 2);
	ck_assert_int_eq(series_value(text, "depot_http_requests_total{"
	    "registry=\"r1023\",method=\"GET\",code=\"200\"}"), 2);
	ck_assert_int_eq(series_value(text, "depot_http_requests_total{"
	    "registry=\"r500\",method=\"GET\",code=\"200\"}"), 1);
	ck_assert_int_eq(series_value(text, "depot_http_response_bytes_total{"
	    "registry=\"r0\"}"), 20);
	ck_assert_int_eq(series_value(text, "depot_http_requests_total{"
	    "registry=\"new0\",method=\"GET\",code=\"200\"}"), -1);
	free(text);
}
END_TEST

START_TEST(test_table_full_forked)
{
	char	*text;

	run_children(NPROCS, fill_loop);
	text = metrics_render();
	ck_assert_ptr_nonnull(text);
	ck_assert_int_eq(requests_sum(text),
	    NPROCS * (METRICS_LABEL_SLOTS + 200));
	ck_assert_int_gt(series_value(text, "depot_http_requests_total{"
	    "registry=\"" METRICS_OTHER "\",method=\"" METRICS_OTHER
	    "\",code=\"" METRICS_OTHER "\"}"), 0);
	free(text);
}
END_TEST

START_TEST(test_inflight_slots)
{
	char	*text, c;
	pid_t	 pid;
	int	 p[2], status;

	ck_assert_int_eq(pipe(p), 0);
	if ((pid = fork()) == 0) {
		metrics_worker_attach();
		metrics_inflight_add(1);
		metrics_inflight_add(1);
		metrics_inflight_add(1);
		metrics_inflight_add(-1);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	ck_assert_int_ne(pid, -1);
	close(p[1]);
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	close(p[0]);
	metrics_inflight_add(1);	/* this process has no slot */
	text = metrics_render();
	ck_assert_int_eq(series_value(text, "depot_http_requests_in_flight"),
	    3);
	free(text);

	/* A killed worker's requests leave with it once it is reaped. */
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	text = metrics_render();
	ck_assert_int_eq(series_value(text, "depot_http_requests_in_flight"),
	    3);
	free(text);
	metrics_worker_detach(pid);
	text = metrics_render();
	ck_assert_int_eq(series_value(text, "depot_http_requests_in_flight"),
	    1);
	free(text);
	metrics_inflight_add(-1);
	text = metrics_render();
	ck_assert_int_eq(series_value(text, "depot_http_requests_in_flight"),
	    0);
	free(text);
}
END_TEST

START_TEST(test_render_format)
{
	regex_t		 help, type, sample;
	char		*text, *line, *save = NULL, *typed = NULL;
	char		 name[128];
	size_t		 n;
	int		 samples = 0;

	text = metrics_render();
	/* No blob store sample before the first walk. */
	ck_assert_int_eq(series_value(text, "depot_blob_store_bytes"), -1);
	ck_assert_int_eq(series_value(text, "depot_blob_store_blobs"), -1);
	ck_assert_int_eq(series_value(text, "depot_build_info{version=\""
	    PACKAGE_VERSION "\"}"), 1);
	free(text);

	metrics_request("docker-local", "GET", 200, 1234);
	metrics_request("docker-local", "HEAD", 200, 0);
	metrics_request("", "GET", 404, 50);
	metrics_request("odd\"na\\me", "GET", 200, 1);
	metrics_workers_set(3);
	metrics_worker_restarted();
	metrics_worker_restarted();
	metrics_uploads_expired(5);
	metrics_blob_store_set(4096, 7);
	text = metrics_render();
	ck_assert_int_eq(series_value(text, "depot_workers"), 3);
	ck_assert_int_eq(series_value(text, "depot_worker_restarts_total"), 2);
	ck_assert_int_eq(series_value(text,
	    "depot_upload_sessions_expired_total"), 5);
	ck_assert_int_eq(series_value(text, "depot_blob_store_bytes"), 4096);
	ck_assert_int_eq(series_value(text, "depot_blob_store_blobs"), 7);
	ck_assert_int_eq(series_value(text, "depot_http_response_bytes_total{"
	    "registry=\"docker-local\"}"), 1234);
	ck_assert_int_eq(series_value(text, "depot_http_requests_total{"
	    "registry=\"odd\\\"na\\\\me\",method=\"GET\",code=\"200\"}"), 1);
	ck_assert_int_eq(series_count(text, "depot_http_response_bytes_total{"
	    "registry=\"docker-local\"}"), 1);

	ck_assert_int_eq(regcomp(&help, "^# HELP (" NAME_RE ") [^ ].*$",
	    REG_EXTENDED), 0);
	ck_assert_int_eq(regcomp(&type, "^# TYPE (" NAME_RE ") "
	    "(counter|gauge)$", REG_EXTENDED), 0);
	ck_assert_int_eq(regcomp(&sample, "^(" NAME_RE ")(\\{" LABEL_RE
	    "(," LABEL_RE ")*\\})? [0-9]+$", REG_EXTENDED), 0);
	ck_assert(text[strlen(text) - 1] == '\n');
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (regexec(&help, line, 0, NULL, 0) == 0)
			continue;
		if (regexec(&type, line, 0, NULL, 0) == 0) {
			typed = line + 7;
			continue;
		}
		ck_assert_msg(regexec(&sample, line, 0, NULL, 0) == 0,
		    "not a Prometheus line: '%s'", line);
		/* Every sample follows the TYPE line of its name. */
		n = strcspn(line, "{ ");
		ck_assert_uint_lt(n, sizeof(name));
		memcpy(name, line, n);
		name[n] = '\0';
		ck_assert_ptr_nonnull(typed);
		ck_assert_msg(strncmp(typed, name, n) == 0 && typed[n] == ' ',
		    "sample '%s' outside its TYPE", line);
		samples++;
	}
	ck_assert_int_eq(samples, 1 + 4 + 3 + 6);
	regfree(&help);
	regfree(&type);
	regfree(&sample);
	free(text);
}
END_TEST

START_TEST(test_blob_walk)
{
	char	 p[4096], *text;

	ck_assert_int_eq(metrics_blob_store_update(tmpdir, 1), -1);
	ck_assert_int_eq(path_fmt(p, sizeof(p), "%s/blobs/sha256/ab", tmpdir),
	    0);
	ck_assert_int_eq(mkdir_p(p, 0755), 0);
	ck_assert_int_eq(path_fmt(p, sizeof(p), "%s/blobs/sha256/cd/dir",
	    tmpdir), 0);
	ck_assert_int_eq(mkdir_p(p, 0755), 0);
	ck_assert_int_eq(path_fmt(p, sizeof(p), "%s/blobs/sha512/ef", tmpdir),
	    0);
	ck_assert_int_eq(mkdir_p(p, 0755), 0);
	ck_assert_int_eq(path_fmt(p, sizeof(p), "%s/tmp", tmpdir), 0);
	ck_assert_int_eq(mkdir_p(p, 0755), 0);

	ck_assert_int_eq(metrics_blob_store_update(tmpdir, 1), 0);
	text = metrics_render();
	ck_assert_int_eq(series_value(text, "depot_blob_store_bytes"), 0);
	ck_assert_int_eq(series_value(text, "depot_blob_store_blobs"), 0);
	free(text);

	path_fmt(p, sizeof(p), "%s/blobs/sha256/ab/ab01", tmpdir);
	write_file(p, 10);
	path_fmt(p, sizeof(p), "%s/blobs/sha256/ab/ab02", tmpdir);
	write_file(p, 1000);
	path_fmt(p, sizeof(p), "%s/blobs/sha512/ef/ef01", tmpdir);
	write_file(p, 200);
	/* Not blobs: temp files, strays above the leaves, links, dirs. */
	path_fmt(p, sizeof(p), "%s/tmp/upload-1", tmpdir);
	write_file(p, 5000);
	path_fmt(p, sizeof(p), "%s/blobs/sha256/stray", tmpdir);
	write_file(p, 7);
	path_fmt(p, sizeof(p), "%s/blobs/sha256/ab/.hidden", tmpdir);
	write_file(p, 9);
	path_fmt(p, sizeof(p), "%s/blobs/sha256/cd/link", tmpdir);
	ck_assert_int_eq(symlink("../ab/ab02", p), 0);
	path_fmt(p, sizeof(p), "%s/blobs/sha256/cd/dir/deep", tmpdir);
	write_file(p, 11);

	/* The last walk was quick: an unforced update walks again. */
	ck_assert_int_eq(metrics_blob_store_update(tmpdir, 0), 0);
	text = metrics_render();
	ck_assert_int_eq(series_value(text, "depot_blob_store_bytes"), 1210);
	ck_assert_int_eq(series_value(text, "depot_blob_store_blobs"), 3);
	free(text);
}
END_TEST

static Suite *
metrics_suite(void)
{
	Suite	*s = suite_create("metrics");
	TCase	*tc;

	tc = tcase_create("segment");
	tcase_add_test(tc, test_no_segment);
	suite_add_tcase(s, tc);

	tc = tcase_create("counters");
	tcase_add_checked_fixture(tc, segment_setup, segment_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_forked_exact);
	tcase_add_test(tc, test_table_full);
	tcase_add_test(tc, test_table_full_forked);
	tcase_add_test(tc, test_inflight_slots);
	tcase_add_test(tc, test_render_format);
	suite_add_tcase(s, tc);

	tc = tcase_create("blob store");
	tcase_add_checked_fixture(tc, tmpdir_setup, tmpdir_teardown);
	tcase_add_test(tc, test_blob_walk);
	suite_add_tcase(s, tc);

	return (s);
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	log_init(1, "daemon", LOG_ERR);
	sr = srunner_create(metrics_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
