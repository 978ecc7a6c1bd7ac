/*
 * metrics_test.c: unit tests for metrics.c: exact counts from several
 * processes updating the shared segment at once, the label table when
 * full, in-flight slots of dead workers, the blob store walk, the
 * upstream proxy's series (labels, histogram, gauges, the table of
 * names), and the Prometheus text rendering.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "check_main.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION	"unknown"
#endif

#define NPROCS		4
#define INCREMENTS	10000

#define NAME_RE		"[a-zA-Z_:][a-zA-Z0-9_:]*"
#define LABEL_RE	"[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|\\\\.)*\""
#define FORMAT_KEYS	4096	/* samples format_check() can compare */
#define FORMAT_NAMES	64	/* names format_check() can compare */

#define HIST		"depot_upstream_request_duration_seconds"
/*
 * Samples of a new segment: build info, in flight, workers, restarts,
 * expired uploads, and the five of the garbage collection.
 */
#define BASE_SAMPLES	10

static char	*tmpdir;

static long long	 series_value(const char *, const char *);
static int		 series_count(const char *, const char *);
static int		 lines_with_prefix(const char *, const char *);
static int		 has_line(const char *, const char *);
static int		 format_check(const char *);
static void		 upstream_loop(int);
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

/* Whether text has exactly this line. */
static int
has_line(const char *text, const char *line)
{
	const char	*p = text;
	size_t		 n = strlen(line);

	while (p != NULL && *p != '\0') {
		if (strncmp(p, line, n) == 0 && p[n] == '\n')
			return (1);
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	}
	return (0);
}

/*
 * Check text line by line against the text format 0.0.4: a HELP then
 * the TYPE of each name, once; every sample after the TYPE of its name
 * (a histogram's with the _bucket, _sum and _count suffixes), with a
 * well-formed label set, an integer or decimal value, and no two
 * samples alike; histogram buckets cumulative up to le="+Inf", which
 * equals _count. Returns the number of samples.
 */
static int
format_check(const char *text)
{
	static const char	*keys[FORMAT_KEYS];
	static size_t		 keylen[FORMAT_KEYS];
	const char		*names[FORMAT_NAMES];
	regex_t			 help, type, sample;
	regmatch_t		 m[3];
	char			*copy, *line, *save = NULL;
	char			 helped[128] = "";
	char			 typed[128] = "", kind[16] = "", suffix[16];
	long long		 value, bucket = -1, inf = -1;
	size_t			 n, i, samples = 0, ntyped = 0;

	ck_assert_int_eq(regcomp(&help, "^# HELP (" NAME_RE ") [^ ].*$",
	    REG_EXTENDED), 0);
	ck_assert_int_eq(regcomp(&type, "^# TYPE (" NAME_RE ") "
	    "(counter|gauge|histogram)$", REG_EXTENDED), 0);
	ck_assert_int_eq(regcomp(&sample, "^(" NAME_RE ")(\\{" LABEL_RE
	    "(," LABEL_RE ")*\\})? [0-9]+(\\.[0-9]+)?$", REG_EXTENDED), 0);
	ck_assert(text[strlen(text) - 1] == '\n');
	copy = xstrdup(text);
	for (line = strtok_r(copy, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (regexec(&help, line, 2, m, 0) == 0) {
			n = (size_t)(m[1].rm_eo - m[1].rm_so);
			ck_assert_uint_lt(n, sizeof(helped));
			memcpy(helped, line + m[1].rm_so, n);
			helped[n] = '\0';
			continue;
		}
		if (regexec(&type, line, 3, m, 0) == 0) {
			n = (size_t)(m[1].rm_eo - m[1].rm_so);
			ck_assert_msg(strncmp(line + 7, helped, n) == 0 &&
			    helped[n] == '\0', "TYPE without HELP: '%s'",
			    line);
			for (i = 0; i < ntyped; i++)
				ck_assert_msg(strcmp(names[i], helped) != 0,
				    "second TYPE: '%s'", line);
			ck_assert_uint_lt(ntyped, FORMAT_NAMES);
			names[ntyped++] = line + 7;
			line[7 + n] = '\0';
			memcpy(typed, helped, n + 1);
			(void)snprintf(kind, sizeof(kind), "%s",
			    line + m[2].rm_so);
			continue;
		}
		ck_assert_msg(regexec(&sample, line, 0, NULL, 0) == 0,
		    "not a Prometheus line: '%s'", line);
		n = strcspn(line, "{ ");
		ck_assert_msg(*typed != '\0', "sample before any TYPE: '%s'",
		    line);
		*suffix = '\0';
		if (strcmp(kind, "histogram") == 0 && n > strlen(typed))
			(void)snprintf(suffix, sizeof(suffix), "%.*s",
			    (int)(n - strlen(typed)), line + strlen(typed));
		ck_assert_msg(strncmp(line, typed, strlen(typed)) == 0 &&
		    (n == strlen(typed) ? strcmp(kind, "histogram") != 0 :
		    strcmp(suffix, "_bucket") == 0 ||
		    strcmp(suffix, "_sum") == 0 ||
		    strcmp(suffix, "_count") == 0),
		    "sample '%s' outside its TYPE %s", line, typed);
		/* No sample twice. */
		n = (size_t)(strrchr(line, ' ') - line);
		for (i = 0; i < samples && i < FORMAT_KEYS; i++)
			ck_assert_msg(keylen[i] != n ||
			    strncmp(keys[i], line, n) != 0,
			    "duplicate sample '%s'", line);
		if (samples < FORMAT_KEYS) {
			keys[samples] = line;
			keylen[samples] = n;
		}
		samples++;
		/* Histograms: cumulative buckets; +Inf is the count. */
		value = strtoll(line + n + 1, NULL, 10);
		if (strcmp(suffix, "_bucket") == 0) {
			ck_assert_msg(value >= bucket, "bucket falls: '%s'",
			    line);
			bucket = value;
			if (strstr(line, "le=\"+Inf\"") != NULL)
				inf = value;
			continue;
		}
		if (strcmp(suffix, "_count") == 0)
			ck_assert_msg(value == inf, "count is not +Inf: '%s'",
			    line);
		bucket = -1;
	}
	regfree(&help);
	regfree(&type);
	regfree(&sample);
	free(copy);
	return ((int)samples);
}

/*
 * One child's share of the upstream series: the same names as every
 * other child, first touched by all of them at once.
 */
static void
upstream_loop(int child)
{
	char	 up[16];
	int	 i;

	for (i = 0; i < INCREMENTS / 10; i++) {
		snprintf(up, sizeof(up), "up%d", i % 4);
		metrics_cache(up, "blob", METRICS_CACHE_HIT);
		metrics_cache(up, i % 2 ? "manifest" : "tags",
		    METRICS_CACHE_MISS);
		metrics_upstream_request(up, i % 5 == 0 ? 404 : 200, 0.002);
		metrics_upstream_error(up, "timeout");
		metrics_singleflight_wait(up);
		metrics_upstream_bytes(up, 100);
	}
	if (child == 0)
		metrics_upstream_ratelimit("up0", 100, 42);
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
	metrics_cache("hub", "blob", METRICS_CACHE_HIT);
	metrics_upstream_request("hub", 200, 0.1);
	metrics_upstream_error("hub", "connect");
	metrics_singleflight_wait("hub");
	metrics_upstream_ratelimit("hub", 100, 1);
	metrics_upstream_bytes("hub", 1);
	ck_assert_ptr_null(metrics_render());
	{
		struct metrics_counts	 mc;

		metrics_counts_get("hub", &mc);
		ck_assert_uint_eq(mc.mc_hits + mc.mc_requests, 0);
	}
}
END_TEST

/* metrics_counts_get: the sums the JSON API shows; nothing is created. */
START_TEST(test_counts_get)
{
	struct metrics_counts	 mc;
	char			*text;

	metrics_counts_get("hub", &mc);
	ck_assert_uint_eq(mc.mc_hits + mc.mc_misses + mc.mc_requests, 0);
	metrics_cache("hub", "manifest", METRICS_CACHE_HIT);
	metrics_cache("hub", "blob", METRICS_CACHE_HIT);
	metrics_cache("hub", "blob", METRICS_CACHE_MISS);
	metrics_cache("hub", "tags", METRICS_CACHE_STALE);
	metrics_upstream_request("hub", 200, 0.1);
	metrics_upstream_request("hub", 503, 0.1);
	metrics_upstream_error("hub", "status");
	metrics_upstream_bytes("hub", 1234);
	metrics_counts_get("hub", &mc);
	ck_assert_uint_eq(mc.mc_hits, 2);
	ck_assert_uint_eq(mc.mc_misses, 1);
	ck_assert_uint_eq(mc.mc_stale, 1);
	ck_assert_uint_eq(mc.mc_requests, 2);
	ck_assert_uint_eq(mc.mc_errors, 1);
	ck_assert_uint_eq(mc.mc_bytes, 1234);
	/* Reading a name never seen adds no series. */
	metrics_counts_get("never-seen", &mc);
	ck_assert_uint_eq(mc.mc_hits + mc.mc_requests + mc.mc_bytes, 0);
	text = metrics_render();
	ck_assert_ptr_null(strstr(text, "never-seen"));
	free(text);
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
	struct metrics_gc	 gc;
	char			*text;

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
	gc.mg_runs = 3;
	gc.mg_bytes = 65536;
	gc.mg_blobs = 9;
	gc.mg_msec = 2500;
	gc.mg_last_msec = 1250;
	metrics_gc_set(&gc);
	text = metrics_render();
	ck_assert_int_eq(series_value(text, "depot_workers"), 3);
	ck_assert_int_eq(series_value(text, "depot_worker_restarts_total"), 2);
	ck_assert_int_eq(series_value(text,
	    "depot_upload_sessions_expired_total"), 5);
	ck_assert_int_eq(series_value(text, "depot_blob_store_bytes"), 4096);
	ck_assert_int_eq(series_value(text, "depot_blob_store_blobs"), 7);
	ck_assert_int_eq(series_value(text, "depot_gc_runs_total"), 3);
	ck_assert_int_eq(series_value(text, "depot_gc_freed_bytes_total"),
	    65536);
	ck_assert_int_eq(series_value(text, "depot_gc_freed_blobs_total"), 9);
	ck_assert_ptr_nonnull(strstr(text,
	    "\ndepot_gc_duration_seconds_total 2.500\n"));
	ck_assert_ptr_nonnull(strstr(text,
	    "\ndepot_gc_last_duration_seconds 1.250\n"));
	ck_assert_int_eq(series_value(text, "depot_http_response_bytes_total{"
	    "registry=\"docker-local\"}"), 1234);
	ck_assert_int_eq(series_value(text, "depot_http_requests_total{"
	    "registry=\"odd\\\"na\\\\me\",method=\"GET\",code=\"200\"}"), 1);
	ck_assert_int_eq(series_count(text, "depot_http_response_bytes_total{"
	    "registry=\"docker-local\"}"), 1);

	ck_assert_int_eq(format_check(text), 1 + 4 + 3 + 6 + 5);
	/* Nothing of the upstream proxy before it counted anything. */
	ck_assert_ptr_null(strstr(text, "depot_upstream"));
	free(text);
}
END_TEST

START_TEST(test_upstream_series)
{
	char	*text;

	metrics_cache("hub", "manifest", METRICS_CACHE_HIT);
	metrics_cache("hub", "manifest", METRICS_CACHE_HIT);
	metrics_cache("hub", "blob", METRICS_CACHE_MISS);
	metrics_cache("hub", "tags", METRICS_CACHE_STALE);
	metrics_cache("docker-local", "blob", METRICS_CACHE_HIT);
	metrics_upstream_request("hub", 200, 0.1);
	metrics_upstream_request("hub", 200, 0.2);
	metrics_upstream_request("hub", 429, 0.01);
	metrics_upstream_request("quay", 0, 30.5);
	metrics_upstream_error("hub", "ratelimited");
	metrics_upstream_error("quay", "timeout");
	metrics_upstream_error("quay", "timeout");
	metrics_singleflight_wait("docker-local");
	metrics_upstream_ratelimit("hub", 100, 42);
	metrics_upstream_ratelimit("quay", -1, 7);
	metrics_upstream_bytes("hub", 1000);
	metrics_upstream_bytes("hub", 234);
	metrics_upstream_bytes("quay", 0);
	text = metrics_render();

	ck_assert_int_eq(series_value(text, "depot_upstream_cache_hits_total{"
	    "registry=\"hub\",kind=\"manifest\"}"), 2);
	ck_assert_int_eq(series_value(text, "depot_upstream_cache_hits_total{"
	    "registry=\"docker-local\",kind=\"blob\"}"), 1);
	ck_assert_int_eq(series_value(text, "depot_upstream_cache_misses_total{"
	    "registry=\"hub\",kind=\"blob\"}"), 1);
	ck_assert_int_eq(series_value(text, "depot_upstream_cache_stale_total{"
	    "registry=\"hub\",kind=\"tags\"}"), 1);
	/* Only what was touched. */
	ck_assert_int_eq(lines_with_prefix(text,
	    "depot_upstream_cache_hits_total{"), 2);
	ck_assert_int_eq(lines_with_prefix(text,
	    "depot_upstream_cache_misses_total{"), 1);
	ck_assert_int_eq(lines_with_prefix(text,
	    "depot_upstream_cache_stale_total{"), 1);

	ck_assert_int_eq(series_value(text, "depot_upstream_requests_total{"
	    "upstream=\"hub\",code=\"200\"}"), 2);
	ck_assert_int_eq(series_value(text, "depot_upstream_requests_total{"
	    "upstream=\"hub\",code=\"429\"}"), 1);
	ck_assert_int_eq(series_value(text, "depot_upstream_requests_total{"
	    "upstream=\"quay\",code=\"0\"}"), 1);
	ck_assert_int_eq(lines_with_prefix(text,
	    "depot_upstream_requests_total{"), 3);
	ck_assert_int_eq(series_value(text, HIST "_count{upstream=\"hub\"}"),
	    3);
	ck_assert(has_line(text, HIST "_sum{upstream=\"hub\"} 0.310000"));
	ck_assert_int_eq(series_value(text, HIST "_bucket{upstream=\"quay\","
	    "le=\"30\"}"), 0);
	ck_assert_int_eq(series_value(text, HIST "_bucket{upstream=\"quay\","
	    "le=\"60\"}"), 1);

	ck_assert_int_eq(series_value(text, "depot_upstream_errors_total{"
	    "upstream=\"hub\",reason=\"ratelimited\"}"), 1);
	ck_assert_int_eq(series_value(text, "depot_upstream_errors_total{"
	    "upstream=\"quay\",reason=\"timeout\"}"), 2);
	ck_assert_int_eq(lines_with_prefix(text,
	    "depot_upstream_errors_total{"), 2);
	ck_assert_int_eq(series_value(text,
	    "depot_upstream_singleflight_waits_total{"
	    "registry=\"docker-local\"}"), 1);
	ck_assert_int_eq(lines_with_prefix(text,
	    "depot_upstream_singleflight_waits_total{"), 1);

	ck_assert_int_eq(series_value(text, "depot_upstream_ratelimit_limit{"
	    "upstream=\"hub\"}"), 100);
	ck_assert_int_eq(series_value(text,
	    "depot_upstream_ratelimit_remaining{upstream=\"hub\"}"), 42);
	ck_assert_int_eq(series_value(text, "depot_upstream_ratelimit_limit{"
	    "upstream=\"quay\"}"), -1);
	ck_assert_int_eq(series_value(text,
	    "depot_upstream_ratelimit_remaining{upstream=\"quay\"}"), 7);
	ck_assert_int_eq(series_value(text,
	    "depot_upstream_received_bytes_total{upstream=\"hub\"}"), 1234);
	ck_assert_int_eq(series_value(text,
	    "depot_upstream_received_bytes_total{upstream=\"quay\"}"), 0);
	ck_assert_int_eq(lines_with_prefix(text,
	    "depot_upstream_received_bytes_total{"), 2);
	/* No overflow series when every label was fine. */
	ck_assert_ptr_null(strstr(text, METRICS_OTHER));
	ck_assert_int_gt(format_check(text), 0);
	free(text);

	/* Unknown again: the gauges have no sample, and no HELP without. */
	metrics_upstream_ratelimit("hub", -1, -1);
	text = metrics_render();
	ck_assert_int_eq(series_value(text, "depot_upstream_ratelimit_limit{"
	    "upstream=\"hub\"}"), -1);
	ck_assert_int_eq(series_value(text,
	    "depot_upstream_ratelimit_remaining{upstream=\"hub\"}"), -1);
	ck_assert_int_eq(series_value(text,
	    "depot_upstream_ratelimit_remaining{upstream=\"quay\"}"), 7);
	ck_assert_ptr_null(strstr(text, "depot_upstream_ratelimit_limit"));
	ck_assert_int_gt(format_check(text), 0);
	free(text);
}
END_TEST

START_TEST(test_upstream_labels)
{
	char		 longest[DEPOT_NAME_MAX + 1];
	char		 toolong[DEPOT_NAME_MAX + 2];
	char		 series[256], *text;
	const char	*bad[] = { NULL, "", "Hub", "odd\"name", "-hub",
	    "hub/x", "h\nb", "_other", toolong };
	size_t		 i, n = sizeof(bad) / sizeof(bad[0]);

	memset(longest, 'a', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = '\0';
	memset(toolong, 'a', sizeof(toolong) - 1);
	toolong[sizeof(toolong) - 1] = '\0';
	for (i = 0; i < n; i++) {
		metrics_cache(bad[i], "blob", METRICS_CACHE_HIT);
		metrics_upstream_request(bad[i], 200, 0.001);
		metrics_upstream_error(bad[i], "connect");
		metrics_singleflight_wait(bad[i]);
		metrics_upstream_bytes(bad[i], 1);
	}
	metrics_upstream_ratelimit("Hub", 10, 5);
	metrics_singleflight_wait(longest);
	/* Kinds, codes and reasons outside their sets. */
	metrics_cache("hub", "catalog", METRICS_CACHE_HIT);
	metrics_cache("hub", NULL, METRICS_CACHE_MISS);
	metrics_cache("hub", "Blob", METRICS_CACHE_STALE);
	metrics_upstream_request("hub", 42, 0);
	metrics_upstream_request("hub", 1000, 0);
	metrics_upstream_request("hub", -200, 0);
	metrics_upstream_error("hub", "bogus");
	metrics_upstream_error("hub", NULL);
	metrics_upstream_error("hub", "Connect");
	metrics_upstream_error("hub", "other");
	/* More codes than an upstream has slots for. */
	for (i = 0; i < METRICS_CODE_SLOTS + 2; i++)
		metrics_upstream_request("quay", 200 + (int)i, 0);
	metrics_upstream_request("quay", 200, 0);
	text = metrics_render();

	ck_assert_int_eq(series_value(text, "depot_upstream_cache_hits_total{"
	    "registry=\"" METRICS_OTHER "\",kind=\"blob\"}"), (long long)n);
	ck_assert_int_eq(series_value(text, "depot_upstream_requests_total{"
	    "upstream=\"" METRICS_OTHER "\",code=\"200\"}"), (long long)n);
	ck_assert_int_eq(series_value(text, HIST "_count{upstream=\""
	    METRICS_OTHER "\"}"), (long long)n);
	ck_assert_int_eq(series_value(text, "depot_upstream_errors_total{"
	    "upstream=\"" METRICS_OTHER "\",reason=\"connect\"}"),
	    (long long)n);
	ck_assert_int_eq(series_value(text,
	    "depot_upstream_singleflight_waits_total{registry=\""
	    METRICS_OTHER "\"}"), (long long)n);
	ck_assert_int_eq(series_value(text,
	    "depot_upstream_received_bytes_total{upstream=\"" METRICS_OTHER
	    "\"}"), (long long)n);
	ck_assert_int_eq(series_value(text, "depot_upstream_ratelimit_limit{"
	    "upstream=\"" METRICS_OTHER "\"}"), 10);
	snprintf(series, sizeof(series),
	    "depot_upstream_singleflight_waits_total{registry=\"%s\"}",
	    longest);
	ck_assert_int_eq(series_value(text, series), 1);
	/* No bad value reaches the output. */
	ck_assert_ptr_null(strstr(text, "Hub"));
	ck_assert_ptr_null(strstr(text, "odd"));
	ck_assert_ptr_null(strstr(text, "hub/x"));
	ck_assert_ptr_null(strstr(text, toolong));
	ck_assert_ptr_null(strstr(text, "\"-hub\""));

	ck_assert_int_eq(series_value(text, "depot_upstream_cache_hits_total{"
	    "registry=\"hub\",kind=\"" METRICS_OTHER "\"}"), 1);
	ck_assert_int_eq(series_value(text, "depot_upstream_cache_misses_total{"
	    "registry=\"hub\",kind=\"" METRICS_OTHER "\"}"), 1);
	ck_assert_int_eq(series_value(text, "depot_upstream_cache_stale_total{"
	    "registry=\"hub\",kind=\"" METRICS_OTHER "\"}"), 1);
	ck_assert_int_eq(series_value(text, "depot_upstream_requests_total{"
	    "upstream=\"hub\",code=\"" METRICS_OTHER "\"}"), 3);
	ck_assert_int_eq(series_value(text, "depot_upstream_errors_total{"
	    "upstream=\"hub\",reason=\"other\"}"), 4);
	ck_assert_int_eq(lines_with_prefix(text,
	    "depot_upstream_errors_total{upstream=\"hub\""), 1);

	ck_assert_int_eq(lines_with_prefix(text,
	    "depot_upstream_requests_total{upstream=\"quay\""),
	    METRICS_CODE_SLOTS + 1);
	ck_assert_int_eq(series_value(text, "depot_upstream_requests_total{"
	    "upstream=\"quay\",code=\"200\"}"), 2);
	snprintf(series, sizeof(series), "depot_upstream_requests_total{"
	    "upstream=\"quay\",code=\"%d\"}", 200 + METRICS_CODE_SLOTS - 1);
	ck_assert_int_eq(series_value(text, series), 1);
	ck_assert_int_eq(series_value(text, "depot_upstream_requests_total{"
	    "upstream=\"quay\",code=\"" METRICS_OTHER "\"}"), 2);
	ck_assert_int_gt(format_check(text), 0);
	free(text);
}
END_TEST

START_TEST(test_upstream_table_full)
{
	char	 name[32], series[128], *text;
	int	 i;

	for (i = 0; i < METRICS_NAME_SLOTS; i++) {
		snprintf(name, sizeof(name), "u%d", i);
		metrics_singleflight_wait(name);
	}
	metrics_singleflight_wait("one-too-many");
	metrics_upstream_bytes("one-too-many", 3);
	/* Known names still count. */
	metrics_singleflight_wait("u0");
	metrics_upstream_bytes("u1", 5);
	text = metrics_render();
	ck_assert_int_eq(lines_with_prefix(text,
	    "depot_upstream_singleflight_waits_total{registry=\"u"),
	    METRICS_NAME_SLOTS);
	ck_assert_int_eq(series_value(text,
	    "depot_upstream_singleflight_waits_total{registry=\"u0\"}"), 2);
	snprintf(series, sizeof(series),
	    "depot_upstream_singleflight_waits_total{registry=\"u%d\"}",
	    METRICS_NAME_SLOTS - 1);
	ck_assert_int_eq(series_value(text, series), 1);
	ck_assert_int_eq(series_value(text,
	    "depot_upstream_singleflight_waits_total{registry=\""
	    METRICS_OTHER "\"}"), 1);
	ck_assert_int_eq(series_value(text,
	    "depot_upstream_received_bytes_total{upstream=\"" METRICS_OTHER
	    "\"}"), 3);
	ck_assert_int_eq(series_value(text,
	    "depot_upstream_received_bytes_total{upstream=\"u1\"}"), 5);
	ck_assert_ptr_null(strstr(text, "one-too-many"));
	ck_assert_int_eq(format_check(text), BASE_SAMPLES +
	    METRICS_NAME_SLOTS + 1 + 2);
	free(text);
}
END_TEST

START_TEST(test_upstream_histogram)
{
	const double	 secs[] = { 0, 0.005, 0.0051, 0.3, 1, 59.9, 61, -1,
	    NAN };
	const char	*le[] = { "0.005", "0.01", "0.025", "0.05", "0.1",
	    "0.25", "0.5", "1", "2.5", "5", "10", "30", "60", "+Inf" };
	const int	 want[] = { 4, 5, 5, 5, 5, 5, 6, 7, 7, 7, 7, 7, 8, 9 };
	char		 series[128], *text;
	size_t		 i;

	for (i = 0; i < sizeof(secs) / sizeof(secs[0]); i++)
		metrics_upstream_request("hub", 200, secs[i]);
	metrics_upstream_request("quay", 200, 1e300);
	text = metrics_render();
	ck_assert_int_eq(lines_with_prefix(text,
	    HIST "_bucket{upstream=\"hub\""), 14);
	for (i = 0; i < sizeof(le) / sizeof(le[0]); i++) {
		snprintf(series, sizeof(series),
		    HIST "_bucket{upstream=\"hub\",le=\"%s\"}", le[i]);
		ck_assert_msg(series_value(text, series) == want[i],
		    "%s: %lld, want %d", series, series_value(text, series),
		    want[i]);
	}
	ck_assert_int_eq(series_value(text, HIST "_count{upstream=\"hub\"}"),
	    9);
	ck_assert(has_line(text, HIST "_sum{upstream=\"hub\"} 122.210100"));
	/* Absurd durations are capped, and only fill +Inf. */
	ck_assert_int_eq(series_value(text, HIST "_bucket{upstream=\"quay\","
	    "le=\"60\"}"), 0);
	ck_assert_int_eq(series_value(text, HIST "_bucket{upstream=\"quay\","
	    "le=\"+Inf\"}"), 1);
	ck_assert(has_line(text,
	    HIST "_sum{upstream=\"quay\"} 1000000000.000000"));
	ck_assert(has_line(text, "# TYPE " HIST " histogram"));
	/* Two upstreams: 14 buckets, _sum, _count, and one code each. */
	ck_assert_int_eq(format_check(text), BASE_SAMPLES + 2 * 16 + 2);
	free(text);
}
END_TEST

START_TEST(test_upstream_forked)
{
	char		 series[160], *text;
	long long	 each = NPROCS * INCREMENTS / 10 / 4;
	int		 k;

	run_children(NPROCS, upstream_loop);
	text = metrics_render();
	for (k = 0; k < 4; k++) {
		snprintf(series, sizeof(series), "depot_upstream_cache_hits_"
		    "total{registry=\"up%d\",kind=\"blob\"}", k);
		ck_assert_int_eq(series_count(text, series), 1);
		ck_assert_int_eq(series_value(text, series), each);
		snprintf(series, sizeof(series), "depot_upstream_cache_misses_"
		    "total{registry=\"up%d\",kind=\"%s\"}", k,
		    k % 2 ? "manifest" : "tags");
		ck_assert_int_eq(series_value(text, series), each);
		snprintf(series, sizeof(series), "depot_upstream_requests_total"
		    "{upstream=\"up%d\",code=\"404\"}", k);
		ck_assert_int_eq(series_value(text, series), each / 5);
		snprintf(series, sizeof(series), "depot_upstream_requests_total"
		    "{upstream=\"up%d\",code=\"200\"}", k);
		ck_assert_int_eq(series_value(text, series), each * 4 / 5);
		snprintf(series, sizeof(series),
		    HIST "_bucket{upstream=\"up%d\",le=\"0.005\"}", k);
		ck_assert_int_eq(series_value(text, series), each);
		snprintf(series, sizeof(series),
		    HIST "_count{upstream=\"up%d\"}", k);
		ck_assert_int_eq(series_value(text, series), each);
		snprintf(series, sizeof(series),
		    HIST "_sum{upstream=\"up%d\"} %lld.%06lld", k,
		    each * 2000 / 1000000, each * 2000 % 1000000);
		ck_assert_msg(has_line(text, series), "no line '%s'", series);
		snprintf(series, sizeof(series), "depot_upstream_errors_total"
		    "{upstream=\"up%d\",reason=\"timeout\"}", k);
		ck_assert_int_eq(series_value(text, series), each);
		snprintf(series, sizeof(series),
		    "depot_upstream_singleflight_waits_total"
		    "{registry=\"up%d\"}", k);
		ck_assert_int_eq(series_value(text, series), each);
		snprintf(series, sizeof(series),
		    "depot_upstream_received_bytes_total{upstream=\"up%d\"}",
		    k);
		ck_assert_int_eq(series_value(text, series), each * 100);
	}
	ck_assert_int_eq(lines_with_prefix(text,
	    "depot_upstream_received_bytes_total{"), 4);
	/* A gauge a child set is seen in the parent. */
	ck_assert_int_eq(series_value(text, "depot_upstream_ratelimit_limit{"
	    "upstream=\"up0\"}"), 100);
	ck_assert_int_eq(series_value(text,
	    "depot_upstream_ratelimit_remaining{upstream=\"up0\"}"), 42);
	ck_assert_ptr_null(strstr(text, METRICS_OTHER));
	ck_assert_int_gt(format_check(text), 0);
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

	tc = tcase_create("upstream");
	tcase_add_checked_fixture(tc, segment_setup, segment_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_upstream_series);
	tcase_add_test(tc, test_counts_get);
	tcase_add_test(tc, test_upstream_labels);
	tcase_add_test(tc, test_upstream_table_full);
	tcase_add_test(tc, test_upstream_histogram);
	tcase_add_test(tc, test_upstream_forked);
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
	int	 failed;

	log_init(1, "daemon", LOG_ERR);
	failed = check_run(metrics_suite()) != EXIT_SUCCESS;
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
