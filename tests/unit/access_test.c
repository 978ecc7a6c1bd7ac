/*
 * access_test.c: access control that needs no HTTP: the read default of
 * registries and upstream keys with an auth group, who may read
 * /metrics, the failed login counters shared across processes, and the
 * password checks handed to threads and back to the event loop.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <check.h>
#include <crypt.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "access/access.h"
#include "access/access_pool.h"
#include "conf/config.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "check_main.h"

#define SALT_04	"$2b$04$abcdefghijklmnopqrstuu"
#define SALT_10	"$2b$10$abcdefghijklmnopqrstuu"

struct job_result {
	int		 jr_called;
	int		 jr_ok;
	int		 jr_on_loop;
	int		*jr_left;
};

static pthread_t	 loop_thread;

static char	*make_hash(const char *, const char *);
static void	 job_cb(int, void *);
static void	 deadline_cb(evutil_socket_t, short, void *);
static void	 run_until_done(struct event_base *, int *);
static void	 strlist_of(struct strlist *, const char *const *);
static Suite	*access_suite(void);

/* crypt_r(password, setting) as a new string. */
static char *
make_hash(const char *password, const char *setting)
{
	struct crypt_data	*data;
	char			*out, *hash;

	data = xcalloc(1, sizeof(*data));
	out = crypt_r(password, setting, data);
	ck_assert_ptr_nonnull(out);
	ck_assert_msg(out[0] == '$', "crypt_r failed");
	hash = xstrdup(out);
	free(data);
	return (hash);
}

static void
job_cb(int ok, void *arg)
{
	struct job_result	*jr = arg;

	jr->jr_called++;
	jr->jr_ok = ok;
	jr->jr_on_loop = pthread_equal(pthread_self(), loop_thread);
	(*jr->jr_left)--;
}

static void
deadline_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	*(int *)arg = 1;
}

/* Run the loop until *left is 0; fail after a generous deadline. */
static void
run_until_done(struct event_base *base, int *left)
{
	struct event	*deadline;
	struct timeval	 tv = { 60, 0 };
	int		 expired = 0;

	deadline = evtimer_new(base, deadline_cb, &expired);
	evtimer_add(deadline, &tv);
	while (*left > 0 && !expired)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(deadline);
	ck_assert_msg(!expired, "the checks did not come back in time");
}

static void
strlist_of(struct strlist *sl, const char *const *items)
{
	size_t	 n;

	for (n = 0; items[n] != NULL; n++)
		continue;
	sl->sl_items = (char **)items;
	sl->sl_count = n;
}

/* Checks run in threads and their results come back on the loop. */
START_TEST(test_pool_handoff)
{
	struct event_base	*base;
	struct access_pool	*ap;
	struct job_result	 jr[6];
	char			*hash;
	int			 i, left = 6;

	loop_thread = pthread_self();
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	ap = access_pool_create(base, 2, 16);
	ck_assert_ptr_nonnull(ap);
	hash = make_hash("right", SALT_04);
	memset(jr, 0, sizeof(jr));
	for (i = 0; i < 6; i++) {
		jr[i].jr_left = &left;
		ck_assert_int_eq(access_pool_submit(ap,
		    i % 2 == 0 ? "right" : "wrong", hash, job_cb, &jr[i]), 0);
	}
	/* Nothing is reported before the loop runs. */
	for (i = 0; i < 6; i++)
		ck_assert_int_eq(jr[i].jr_called, 0);
	ck_assert_int_eq(access_pool_pending(ap), 6);
	run_until_done(base, &left);
	for (i = 0; i < 6; i++) {
		ck_assert_int_eq(jr[i].jr_called, 1);
		ck_assert_int_eq(jr[i].jr_ok, i % 2 == 0);
		ck_assert_int_eq(jr[i].jr_on_loop, 1);
	}
	ck_assert_int_eq(access_pool_pending(ap), 0);
	access_pool_free(ap);
	free(hash);
	event_base_free(base);
}
END_TEST

/*
 * A full queue refuses more; freeing the pool with checks in flight
 * drops them without calling back (nothing used after free).
 */
START_TEST(test_pool_full_and_free)
{
	struct event_base	*base;
	struct access_pool	*ap;
	struct job_result	 jr[12];
	char			*hash;
	int			 i, left = 0, refused = 0;

	loop_thread = pthread_self();
	base = event_base_new();
	ap = access_pool_create(base, 1, 2);
	ck_assert_ptr_nonnull(ap);
	hash = make_hash("right", SALT_10);
	memset(jr, 0, sizeof(jr));
	for (i = 0; i < 12; i++) {
		jr[i].jr_left = &left;
		if (access_pool_submit(ap, "wrong", hash, job_cb, &jr[i]) == 0)
			left++;
		else
			refused++;
	}
	ck_assert_int_gt(refused, 0);
	ck_assert_int_le(left, 11);
	run_until_done(base, &left);
	for (i = 0; i < 12; i++)
		ck_assert_int_eq(jr[i].jr_ok, 0);
	/* Again, then free without running the loop. */
	for (i = 0; i < 3; i++) {
		jr[i].jr_called = 0;
		(void)access_pool_submit(ap, "right", hash, job_cb, &jr[i]);
	}
	access_pool_free(ap);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(jr[i].jr_called, 0);
	free(hash);
	event_base_free(base);
}
END_TEST

/* Failures counted in one process are seen in another (workers). */
START_TEST(test_fails_shared)
{
	static const char *const proxies[] = { "192.0.2.100", NULL };
	struct config	*cf;
	pid_t		 pid;
	int		 status, i;

	ck_assert_int_eq(access_fails_init(), 0);
	cf = xcalloc(1, sizeof(*cf));
	strlist_of(&cf->cf_server.srv_trusted_proxies, proxies);
	ck_assert_int_eq(access_login_delay_ms(cf, "192.0.2.1", "bob"), 0);
	if ((pid = fork()) == 0) {
		for (i = 0; i < 3; i++)
			access_login_failed(cf, "192.0.2.1", "bob");
		/* Behind a proxy: the user counts, not the address. */
		access_login_failed(cf, "192.0.2.100", "carol");
		_exit(0);
	}
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_eq(status, 0);
	/* By user name from another address, and by address. */
	ck_assert_int_eq(access_login_delay_ms(cf, "192.0.2.9", "bob"), 1000);
	ck_assert_int_eq(access_login_delay_ms(cf, "192.0.2.1", "dave"), 1000);
	ck_assert_int_eq(access_login_delay_ms(cf, "192.0.2.9", "dave"), 0);
	ck_assert_int_eq(access_login_delay_ms(cf, "192.0.2.9", "carol"), 250);
	ck_assert_int_eq(access_login_delay_ms(cf, "192.0.2.100", "erin"), 0);
	ck_assert_int_eq(access_login_delay_ms(cf, "192.0.2.100", NULL), 0);

	/* Five failures: four seconds of back-off, ample to look at. */
	for (i = 0; i < 5; i++)
		access_login_failed(cf, "192.0.2.2", "frank");
	ck_assert_int_eq(access_login_backoff(cf, "192.0.2.3", "frank"), 1);
	ck_assert_int_eq(access_login_backoff(cf, "192.0.2.2", "gina"), 1);
	ck_assert_int_eq(access_login_backoff(cf, "192.0.2.3", "gina"), 0);
	/* A good password clears the user, not the address. */
	access_login_succeeded(cf, "192.0.2.2", "frank");
	ck_assert_int_eq(access_login_backoff(cf, "192.0.2.3", "frank"), 0);
	ck_assert_int_eq(access_login_delay_ms(cf, "192.0.2.3", "frank"), 0);
	ck_assert_int_eq(access_login_backoff(cf, "192.0.2.2", "gina"), 1);
	free(cf);
}
END_TEST

/* Who may read /metrics. */
START_TEST(test_metrics_allowed)
{
	static const char *const proxies[] = { "192.0.2.7", "2001:db8::7",
	    NULL };
	static const char *const alice[] = { "alice", NULL };
	static const char *const star[] = { "*", NULL };
	static const char *const anon[] = { "anonymous", NULL };
	struct config	*cf;

	cf = xcalloc(1, sizeof(*cf));
	strlist_of(&cf->cf_server.srv_trusted_proxies, proxies);
	/* Default: loopback and trusted proxies, credentials or not. */
	ck_assert_int_eq(access_metrics_allowed(cf, "127.0.0.1", ""), 1);
	ck_assert_int_eq(access_metrics_allowed(cf, "127.0.0.53", ""), 1);
	ck_assert_int_eq(access_metrics_allowed(cf, "::1", ""), 1);
	ck_assert_int_eq(access_metrics_allowed(cf, "::ffff:127.0.0.1", ""),
	    1);
	ck_assert_int_eq(access_metrics_allowed(cf, "192.0.2.7", ""), 1);
	ck_assert_int_eq(access_metrics_allowed(cf, "2001:db8::7", ""), 1);
	ck_assert_int_eq(access_metrics_allowed(cf, "::ffff:192.0.2.7", ""),
	    1);
	ck_assert_int_eq(access_metrics_allowed(cf, "192.0.2.8", ""), 0);
	ck_assert_int_eq(access_metrics_allowed(cf, "192.0.2.8", "alice"), 0);
	ck_assert_int_eq(access_metrics_allowed(cf, "128.0.0.1", ""), 0);
	ck_assert_int_eq(access_metrics_allowed(cf, "::2", ""), 0);
	ck_assert_int_eq(access_metrics_allowed(cf, "not an address", ""), 0);

	/* A list decides alone, from any address. */
	cf->cf_server.srv_metrics_read_set = 1;
	strlist_of(&cf->cf_server.srv_metrics_read, alice);
	ck_assert_int_eq(access_metrics_allowed(cf, "127.0.0.1", ""), 0);
	ck_assert_int_eq(access_metrics_allowed(cf, "127.0.0.1", "bob"), 0);
	ck_assert_int_eq(access_metrics_allowed(cf, "192.0.2.8", "alice"), 1);
	strlist_of(&cf->cf_server.srv_metrics_read, star);
	ck_assert_int_eq(access_metrics_allowed(cf, "127.0.0.1", ""), 0);
	ck_assert_int_eq(access_metrics_allowed(cf, "192.0.2.8", "bob"), 1);
	strlist_of(&cf->cf_server.srv_metrics_read, anon);
	ck_assert_int_eq(access_metrics_allowed(cf, "192.0.2.8", ""), 1);
	/* An empty list: nobody. */
	cf->cf_server.srv_metrics_read.sl_count = 0;
	ck_assert_int_eq(access_metrics_allowed(cf, "127.0.0.1", ""), 0);
	ck_assert_int_eq(access_metrics_allowed(cf, "127.0.0.1", "alice"), 0);
	free(cf);
}
END_TEST

/* With an auth group, reading needs a user unless "anonymous" is named. */
START_TEST(test_read_default)
{
	char		 dir[] = "/tmp/access_test.XXXXXX", path[PATH_MAX];
	char		*cause = NULL;
	struct config	*cf;
	FILE		*fp;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(path_fmt(path, sizeof(path), "%s/depot.conf", dir),
	    0);
	fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	fprintf(fp,
	    "server = { listen = [ \"127.0.0.1:5000\" ]; data_dir = \"%s\"; "
	    "pidfile = \"%s/pid\"; };\n"
	    "auth = { users_file = \"%s/htpasswd\"; "
	    "token_key_file = \"%s/key\"; };\n"
	    "upstreams = (\n"
	    "  { key = \"priv\"; type = \"docker\"; source = \"custom\";\n"
	    "    url = \"https://reg.example.com\";\n"
	    "    auth = { type = \"userpass\"; username = \"u\";"
	    " password = \"p\"; }; },\n"
	    "  { key = \"open\"; type = \"docker\"; source = \"custom\";\n"
	    "    url = \"https://reg.example.com\"; read = [ \"anonymous\" ]; }\n"
	    ");\n"
	    "registries = (\n"
	    "  { name = \"team\"; type = \"docker\"; upstreams = [ \"priv\" ]; },\n"
	    "  { name = \"pub\"; type = \"docker\"; read = [ \"anonymous\" ]; }\n"
	    ");\n", dir, dir, dir, dir);
	ck_assert_int_eq(fclose(fp), 0);
	cf = config_load(path, &cause);
	ck_assert_msg(cf != NULL, "config_load: %s", cause);
	ck_assert_uint_eq(access_policy(cf, "team", "") & ACCESS_PULL, 0);
	ck_assert_uint_eq(access_policy(cf, "priv", "") & ACCESS_PULL, 0);
	ck_assert_uint_eq(access_policy(cf, "team", "alice") & ACCESS_PULL,
	    ACCESS_PULL);
	ck_assert_uint_eq(access_policy(cf, "priv", "alice") & ACCESS_PULL,
	    ACCESS_PULL);
	ck_assert_uint_eq(access_policy(cf, "pub", "") & ACCESS_PULL,
	    ACCESS_PULL);
	ck_assert_uint_eq(access_policy(cf, "open", "") & ACCESS_PULL,
	    ACCESS_PULL);
	ck_assert_uint_eq(access_policy(cf, "pub", "") & ACCESS_PUSH, 0);
	config_free(cf);
	unlink(path);
	rmdir(dir);
}
END_TEST

static Suite *
access_suite(void)
{
	Suite	*s = suite_create("access");
	TCase	*tc;

	tc = tcase_create("pool");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_pool_handoff);
	tcase_add_test(tc, test_pool_full_and_free);
	suite_add_tcase(s, tc);
	tc = tcase_create("fails");
	tcase_add_test(tc, test_fails_shared);
	suite_add_tcase(s, tc);
	tc = tcase_create("policy");
	tcase_add_test(tc, test_metrics_allowed);
	tcase_add_test(tc, test_read_default);
	suite_add_tcase(s, tc);
	return (s);
}

CHECK_MAIN(access_suite)
