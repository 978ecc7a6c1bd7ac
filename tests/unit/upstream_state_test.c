/*
 * upstream_state_test.c: unit tests for upstream_state.c: the circuit
 * breaker and its back-off, Retry-After deadlines, the token cache and
 * the negative cache (expiry, replacement when full), flight claims
 * (held, released, taken over from a dead process), the segment shared
 * by forked processes, a process killed while it may hold the lock, ECR
 * token slots (claims, refresh ahead, expiry, failures, drops),
 * every call without a segment, and the Retry-After and ratelimit
 * parsers.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "upstream/upstream_state.h"
#include "lib/xmalloc.h"
#include "check_main.h"

#define NCHILDREN	4
#define PER_CHILD	200
/* Sun, 06 Nov 1994 08:49:37 GMT */
#define DATE_T		((time_t)784111777)

static void	 wait_child(pid_t);
static void	 segment_setup(void);
static void	 segment_teardown(void);
static Suite	*upstream_state_suite(void);

static void
wait_child(pid_t pid)
{
	int	 status;

	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
}

static void
segment_setup(void)
{
	ck_assert_int_eq(upstream_state_init(), 0);
	/* Twice is a no-op. */
	ck_assert_int_eq(upstream_state_init(), 0);
}

static void
segment_teardown(void)
{
	upstream_state_close();
	upstream_state_close();
}

START_TEST(test_no_segment)
{
	uint64_t	 ticket = 0;
	char	 buf[64];
	time_t	 until = 42;

	ck_assert_int_eq(upstream_state_check("hub", 1000, &until),
	    UPSTREAM_GO);
	ck_assert_int_eq(upstream_state_check("hub", 1000, NULL), UPSTREAM_GO);
	ck_assert_int_eq(upstream_state_failure("hub", 1000), 0);
	ck_assert_int_eq(upstream_state_failure("hub", 1000), 0);
	ck_assert_int_eq(upstream_state_failure("hub", 1000), 0);
	ck_assert_int_eq(upstream_state_check("hub", 1000, NULL), UPSTREAM_GO);
	upstream_state_retry_after("hub", 5000);
	upstream_state_success("hub");
	ck_assert_int_eq(upstream_state_check("hub", 1000, NULL), UPSTREAM_GO);
	upstream_token_put("hub", "s", "tok", 5000);
	ck_assert_int_eq(upstream_token_get("hub", "s", 1000, buf,
	    sizeof(buf)), 0);
	upstream_token_drop("hub", "s");
	upstream_negative_put("a/b:latest", 5000);
	ck_assert_int_eq(upstream_negative_get("a/b:latest", 1000), 0);
	upstream_negative_drop("a/b:latest");
	ck_assert_int_eq(upstream_flight_claim("a/b:latest", 1000, &ticket),
	    -1);
	ck_assert_int_eq(upstream_flight_held("a/b:latest", 1000), 0);
	upstream_flight_release("a/b:latest", ticket);
	upstream_state_close();
	ck_assert_str_eq(upstream_skip_str(UPSTREAM_GO), "go");
	ck_assert_str_eq(upstream_skip_str(UPSTREAM_SKIP_BREAKER),
	    "circuit open");
	ck_assert_str_eq(upstream_skip_str(UPSTREAM_SKIP_RETRY_AFTER),
	    "Retry-After");
}
END_TEST

START_TEST(test_breaker)
{
	time_t	 t = 1000, until = 0;
	int	 backoff, i;

	ck_assert_int_eq(upstream_state_check("hub", t, &until), UPSTREAM_GO);
	ck_assert_int_eq(until, 0);
	ck_assert_int_eq(upstream_state_failure("hub", t), 0);
	ck_assert_int_eq(upstream_state_failure("hub", t), 0);
	ck_assert_int_eq(upstream_state_check("hub", t, NULL), UPSTREAM_GO);
	ck_assert_int_eq(upstream_state_failure("hub", t), 1);
	ck_assert_int_eq(upstream_state_check("hub", t, &until),
	    UPSTREAM_SKIP_BREAKER);
	ck_assert_int_eq(until, t + UPSTREAM_BREAKER_MIN);
	/* Other upstreams are not concerned. */
	ck_assert_int_eq(upstream_state_check("quay", t, NULL), UPSTREAM_GO);
	ck_assert_int_eq(upstream_state_check("hub", t + UPSTREAM_BREAKER_MIN -
	    1, NULL), UPSTREAM_SKIP_BREAKER);
	/* A failure of a request under way while open changes nothing. */
	ck_assert_int_eq(upstream_state_failure("hub", t + 1), 0);
	ck_assert_int_eq(upstream_state_check("hub", t + 1, &until),
	    UPSTREAM_SKIP_BREAKER);
	ck_assert_int_eq(until, t + UPSTREAM_BREAKER_MIN);

	/* Each reopening doubles the back-off, up to the cap. */
	backoff = UPSTREAM_BREAKER_MIN;
	for (i = 0; i < 6; i++) {
		t = until;
		ck_assert_int_eq(upstream_state_check("hub", t, NULL),
		    UPSTREAM_GO);
		ck_assert_int_eq(upstream_state_failure("hub", t), 1);
		backoff = backoff * 2 > UPSTREAM_BREAKER_MAX ?
		    UPSTREAM_BREAKER_MAX : backoff * 2;
		ck_assert_int_eq(upstream_state_check("hub", t, &until),
		    UPSTREAM_SKIP_BREAKER);
		ck_assert_int_eq(until - t, backoff);
	}
	ck_assert_int_eq(backoff, UPSTREAM_BREAKER_MAX);

	/* A success closes it and forgets the back-off. */
	upstream_state_success("hub");
	ck_assert_int_eq(upstream_state_check("hub", t, NULL), UPSTREAM_GO);
	ck_assert_int_eq(upstream_state_failure("hub", t), 0);
	ck_assert_int_eq(upstream_state_failure("hub", t), 0);
	ck_assert_int_eq(upstream_state_failure("hub", t), 1);
	ck_assert_int_eq(upstream_state_check("hub", t, &until),
	    UPSTREAM_SKIP_BREAKER);
	ck_assert_int_eq(until, t + UPSTREAM_BREAKER_MIN);
	/* A success of an unknown upstream is harmless. */
	upstream_state_success("never-seen");
}
END_TEST

START_TEST(test_retry_after)
{
	time_t	 until;

	upstream_state_retry_after("hub", 2000);
	ck_assert_int_eq(upstream_state_check("hub", 1000, &until),
	    UPSTREAM_SKIP_RETRY_AFTER);
	ck_assert_int_eq(until, 2000);
	ck_assert_int_eq(upstream_state_check("hub", 1999, NULL),
	    UPSTREAM_SKIP_RETRY_AFTER);
	ck_assert_int_eq(upstream_state_check("hub", 2000, NULL), UPSTREAM_GO);
	/* An earlier deadline does not shorten it; a later one extends. */
	upstream_state_retry_after("hub", 1500);
	ck_assert_int_eq(upstream_state_check("hub", 1600, &until),
	    UPSTREAM_SKIP_RETRY_AFTER);
	ck_assert_int_eq(until, 2000);
	upstream_state_retry_after("hub", 2500);
	ck_assert_int_eq(upstream_state_check("hub", 2100, &until),
	    UPSTREAM_SKIP_RETRY_AFTER);
	ck_assert_int_eq(until, 2500);
	/* A success does not lift it. */
	upstream_state_success("hub");
	ck_assert_int_eq(upstream_state_check("hub", 2100, NULL),
	    UPSTREAM_SKIP_RETRY_AFTER);

	/* With the breaker open too, the later of both is reported. */
	upstream_state_failure("quay", 2000);
	upstream_state_failure("quay", 2000);
	upstream_state_failure("quay", 2000);
	upstream_state_retry_after("quay", 2003);
	ck_assert_int_eq(upstream_state_check("quay", 2000, &until),
	    UPSTREAM_SKIP_BREAKER);
	ck_assert_int_eq(until, 2000 + UPSTREAM_BREAKER_MIN);
	upstream_state_retry_after("quay", 2100);
	ck_assert_int_eq(upstream_state_check("quay", 2000, &until),
	    UPSTREAM_SKIP_RETRY_AFTER);
	ck_assert_int_eq(until, 2100);
}
END_TEST

START_TEST(test_tokens)
{
	char	 buf[64], *big, *out;

	ck_assert_int_eq(upstream_token_get("hub", "repository:a:pull", 1000,
	    buf, sizeof(buf)), 0);
	upstream_token_put("hub", "repository:a:pull", "tok-a", 1100);
	ck_assert_int_eq(upstream_token_get("hub", "repository:a:pull", 1000,
	    buf, sizeof(buf)), 1);
	ck_assert_str_eq(buf, "tok-a");
	/* Keyed by both: other scope, other upstream, prefixes. */
	ck_assert_int_eq(upstream_token_get("hub", "repository:b:pull", 1000,
	    buf, sizeof(buf)), 0);
	ck_assert_int_eq(upstream_token_get("quay", "repository:a:pull", 1000,
	    buf, sizeof(buf)), 0);
	ck_assert_int_eq(upstream_token_get("hu", "repository:a:pull", 1000,
	    buf, sizeof(buf)), 0);
	ck_assert_int_eq(upstream_token_get("hub", "repository:a:pul", 1000,
	    buf, sizeof(buf)), 0);
	/* A buffer too small. */
	ck_assert_int_eq(upstream_token_get("hub", "repository:a:pull", 1000,
	    buf, 5), 0);
	ck_assert_int_eq(upstream_token_get("hub", "repository:a:pull", 1000,
	    buf, 6), 1);
	/* Replaced. */
	upstream_token_put("hub", "repository:a:pull", "tok-a2", 1200);
	ck_assert_int_eq(upstream_token_get("hub", "repository:a:pull", 1150,
	    buf, sizeof(buf)), 1);
	ck_assert_str_eq(buf, "tok-a2");
	/* Must last 10 s more. */
	ck_assert_int_eq(upstream_token_get("hub", "repository:a:pull", 1189,
	    buf, sizeof(buf)), 1);
	ck_assert_int_eq(upstream_token_get("hub", "repository:a:pull", 1190,
	    buf, sizeof(buf)), 0);
	/* Dropped. */
	upstream_token_put("hub", "repository:a:pull", "tok-a3", 5000);
	upstream_token_put("hub", "repository:b:pull", "tok-b", 5000);
	upstream_token_drop("hub", "repository:a:pull");
	ck_assert_int_eq(upstream_token_get("hub", "repository:a:pull", 1000,
	    buf, sizeof(buf)), 0);
	ck_assert_int_eq(upstream_token_get("hub", "repository:b:pull", 1000,
	    buf, sizeof(buf)), 1);
	ck_assert_str_eq(buf, "tok-b");
	upstream_token_drop("hub", "repository:a:pull");

	/* The longest token that fits, and one byte more. */
	big = xmalloc(UPSTREAM_TOKEN_MAX + 1);
	out = xmalloc(UPSTREAM_TOKEN_MAX + 1);
	memset(big, 'x', UPSTREAM_TOKEN_MAX - 1);
	big[UPSTREAM_TOKEN_MAX - 1] = '\0';
	upstream_token_put("hub", "big", big, 5000);
	ck_assert_int_eq(upstream_token_get("hub", "big", 1000, out,
	    UPSTREAM_TOKEN_MAX), 1);
	ck_assert_str_eq(out, big);
	memset(big, 'y', UPSTREAM_TOKEN_MAX);
	big[UPSTREAM_TOKEN_MAX] = '\0';
	upstream_token_put("hub", "too-big", big, 5000);
	ck_assert_int_eq(upstream_token_get("hub", "too-big", 1000, out,
	    UPSTREAM_TOKEN_MAX + 1), 0);
	/* A scope too long, a key too long. */
	memset(big, 's', UPSTREAM_SCOPE_MAX);
	big[UPSTREAM_SCOPE_MAX] = '\0';
	upstream_token_put("hub", big, "t", 5000);
	ck_assert_int_eq(upstream_token_get("hub", big, 1000, out,
	    UPSTREAM_TOKEN_MAX), 0);
	memset(big, 'k', DEPOT_NAME_MAX + 1);
	big[DEPOT_NAME_MAX + 1] = '\0';
	upstream_token_put(big, "s", "t", 5000);
	ck_assert_int_eq(upstream_token_get(big, "s", 1000, out,
	    UPSTREAM_TOKEN_MAX), 0);
	free(big);
	free(out);
}
END_TEST

START_TEST(test_tokens_full)
{
	char	 scope[32], buf[32], want[32];
	int	 i;

	/* Fill every slot; the first expires soonest. */
	for (i = 0; i < UPSTREAM_TOKEN_SLOTS; i++) {
		snprintf(scope, sizeof(scope), "s%d", i);
		snprintf(want, sizeof(want), "t%d", i);
		upstream_token_put("hub", scope, want, 10000 + i);
	}
	upstream_token_put("hub", "new", "t-new", 20000);
	ck_assert_int_eq(upstream_token_get("hub", "new", 1000, buf,
	    sizeof(buf)), 1);
	ck_assert_str_eq(buf, "t-new");
	ck_assert_int_eq(upstream_token_get("hub", "s0", 1000, buf,
	    sizeof(buf)), 0);
	for (i = 1; i < UPSTREAM_TOKEN_SLOTS; i++) {
		snprintf(scope, sizeof(scope), "s%d", i);
		snprintf(want, sizeof(want), "t%d", i);
		ck_assert_int_eq(upstream_token_get("hub", scope, 1000, buf,
		    sizeof(buf)), 1);
		ck_assert_str_eq(buf, want);
	}
}
END_TEST

START_TEST(test_negative)
{
	char	*big;

	ck_assert_int_eq(upstream_negative_get("lib/alpine:latest", 1000), 0);
	upstream_negative_put("lib/alpine:latest", 1030);
	ck_assert_int_eq(upstream_negative_get("lib/alpine:latest", 1000), 1);
	ck_assert_int_eq(upstream_negative_get("lib/alpine:latest", 1029), 1);
	ck_assert_int_eq(upstream_negative_get("lib/alpine:latest", 1030), 0);
	ck_assert_int_eq(upstream_negative_get("lib/alpine:latest", 1000), 0);
	/* Compared in full. */
	upstream_negative_put("lib/alpine:latest", 2000);
	ck_assert_int_eq(upstream_negative_get("lib/alpine:lates", 1000), 0);
	ck_assert_int_eq(upstream_negative_get("lib/alpine:latest2", 1000),
	    0);
	ck_assert_int_eq(upstream_negative_get("lib/alpine@latest", 1000), 0);
	/* Extended, dropped. */
	upstream_negative_put("lib/alpine:latest", 3000);
	ck_assert_int_eq(upstream_negative_get("lib/alpine:latest", 2500), 1);
	upstream_negative_put("lib/alpine:3", 3000);
	upstream_negative_drop("lib/alpine:latest");
	ck_assert_int_eq(upstream_negative_get("lib/alpine:latest", 1000), 0);
	ck_assert_int_eq(upstream_negative_get("lib/alpine:3", 1000), 1);
	upstream_negative_drop("lib/alpine:latest");
	upstream_negative_drop("never-there");

	/* The longest key, and one byte more. */
	big = xmalloc(UPSTREAM_NEGATIVE_KEY_MAX + 1);
	memset(big, 'a', UPSTREAM_NEGATIVE_KEY_MAX - 1);
	big[UPSTREAM_NEGATIVE_KEY_MAX - 1] = '\0';
	upstream_negative_put(big, 3000);
	ck_assert_int_eq(upstream_negative_get(big, 1000), 1);
	memset(big, 'b', UPSTREAM_NEGATIVE_KEY_MAX);
	big[UPSTREAM_NEGATIVE_KEY_MAX] = '\0';
	upstream_negative_put(big, 3000);
	ck_assert_int_eq(upstream_negative_get(big, 1000), 0);
	free(big);
}
END_TEST

START_TEST(test_negative_full)
{
	char	 what[64];
	int	 i;

	for (i = 0; i < UPSTREAM_NEGATIVE_SLOTS; i++) {
		snprintf(what, sizeof(what), "repo/%d:latest", i);
		upstream_negative_put(what, 10000 + (i + 7) %
		    UPSTREAM_NEGATIVE_SLOTS);
	}
	/* The entry closest to expiry (i + 7 == SLOTS) makes room. */
	upstream_negative_put("repo/new:latest", 20000);
	ck_assert_int_eq(upstream_negative_get("repo/new:latest", 1000), 1);
	for (i = 0; i < UPSTREAM_NEGATIVE_SLOTS; i++) {
		snprintf(what, sizeof(what), "repo/%d:latest", i);
		ck_assert_int_eq(upstream_negative_get(what, 1000),
		    i != UPSTREAM_NEGATIVE_SLOTS - 7);
	}
	/* An expired entry is replaced before a live one. */
	upstream_negative_put("repo/100:latest", 1001);
	ck_assert_int_eq(upstream_negative_get("repo/100:latest", 2000), 0);
	upstream_negative_put("repo/newer:latest", 20000);
	ck_assert_int_eq(upstream_negative_get("repo/newer:latest", 1000), 1);
	ck_assert_int_eq(upstream_negative_get("repo/new:latest", 1000), 1);
	ck_assert_int_eq(upstream_negative_get("repo/101:latest", 1000), 1);
}
END_TEST

/* Children write, the parent reads; children also race each other. */
START_TEST(test_flight)
{
	char		 key[UPSTREAM_NEGATIVE_KEY_MAX + 1];
	uint64_t	 t1, t2, t3;
	pid_t		 pid;
	int		 status;

	ck_assert_int_eq(upstream_flight_claim("r/a:1", 1000, &t1), 1);
	ck_assert_int_eq(upstream_flight_claim("r/a:1", 1000, &t2), 0);
	ck_assert_int_eq(upstream_flight_held("r/a:1", 1000), 1);
	ck_assert_int_eq(upstream_flight_held("r/a:2", 1000), 0);
	ck_assert_int_eq(upstream_flight_claim("r/a:2", 1000, &t2), 1);
	ck_assert(t1 != t2);

	/* Another process sees the claim; its own dies with it. */
	if ((pid = fork()) == 0) {
		if (upstream_flight_claim("r/a:1", 1000, &t3) != 0 ||
		    upstream_flight_claim("r/c:1", 1000, &t3) != 1)
			_exit(1);
		_exit(0);
	}
	ck_assert_int_ge(pid, 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(upstream_flight_held("r/c:1", 1000), 0);
	ck_assert_int_eq(upstream_flight_claim("r/c:1", 1000, &t3), 1);

	/* Only the claim's own ticket releases it. */
	upstream_flight_release("r/a:1", t2);
	ck_assert_int_eq(upstream_flight_held("r/a:1", 1000), 1);
	upstream_flight_release("r/a:1", t1);
	ck_assert_int_eq(upstream_flight_held("r/a:1", 1000), 0);
	ck_assert_int_eq(upstream_flight_claim("r/a:1", 1000, &t1), 1);

	/* The master forgets the claims of a worker it reaped. */
	upstream_flight_drop_pid(getpid() + 1);
	ck_assert_int_eq(upstream_flight_held("r/c:1", 1000), 1);
	upstream_flight_drop_pid(getpid());
	ck_assert_int_eq(upstream_flight_held("r/c:1", 1000), 0);
	ck_assert_int_eq(upstream_flight_held("r/a:1", 1000), 0);
	ck_assert_int_eq(upstream_flight_claim("r/a:1", 1000, &t1), 1);
	ck_assert_int_eq(upstream_flight_claim("r/a:2", 1000, &t2), 1);

		/* A claim too old is over. */
	ck_assert_int_eq(upstream_flight_held("r/a:2",
	    1000 + UPSTREAM_FLIGHT_MAX_AGE + 1), 0);
	ck_assert_int_eq(upstream_flight_claim("r/a:2",
	    1000 + UPSTREAM_FLIGHT_MAX_AGE + 1, &t2), 1);

	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	ck_assert_int_eq(upstream_flight_claim(key, 1000, &t3), -1);
	ck_assert_int_eq(upstream_flight_held(key, 1000), 0);
}
END_TEST

START_TEST(test_flight_full)
{
	char		 what[64];
	uint64_t	 t;
	int		 i;

	for (i = 0; i < UPSTREAM_FLIGHT_SLOTS; i++) {
		snprintf(what, sizeof(what), "r/f:%d", i);
		ck_assert_int_eq(upstream_flight_claim(what, 1000, &t), 1);
	}
	/* Every slot held by a live pull: go ahead without one. */
	ck_assert_int_eq(upstream_flight_claim("r/f:x", 1000, &t), -1);
	snprintf(what, sizeof(what), "r/f:%d", UPSTREAM_FLIGHT_SLOTS - 1);
	upstream_flight_release(what, t);
	ck_assert_int_eq(upstream_flight_claim("r/f:x", 1000, &t), 1);
}
END_TEST

START_TEST(test_fork)
{
	char	 what[64], buf[64];
	pid_t	 pids[NCHILDREN];
	time_t	 until;
	int	 c, i;

	if ((pids[0] = fork()) == 0) {
		upstream_state_failure("hub", 1000);
		upstream_state_failure("hub", 1000);
		upstream_state_failure("hub", 1000);
		upstream_state_retry_after("quay", 1500);
		upstream_token_put("hub", "repository:a:pull", "child-tok",
		    5000);
		upstream_negative_put("a/b:missing", 5000);
		_exit(0);
	}
	ck_assert_int_ge(pids[0], 0);
	wait_child(pids[0]);
	ck_assert_int_eq(upstream_state_check("hub", 1000, &until),
	    UPSTREAM_SKIP_BREAKER);
	ck_assert_int_eq(until, 1000 + UPSTREAM_BREAKER_MIN);
	ck_assert_int_eq(upstream_state_check("quay", 1000, &until),
	    UPSTREAM_SKIP_RETRY_AFTER);
	ck_assert_int_eq(until, 1500);
	ck_assert_int_eq(upstream_token_get("hub", "repository:a:pull", 1000,
	    buf, sizeof(buf)), 1);
	ck_assert_str_eq(buf, "child-tok");
	ck_assert_int_eq(upstream_negative_get("a/b:missing", 1000), 1);

	for (c = 0; c < NCHILDREN; c++) {
		if ((pids[c] = fork()) == 0) {
			for (i = 0; i < PER_CHILD; i++) {
				snprintf(what, sizeof(what), "c%d/%d:x", c, i);
				upstream_negative_put(what, 5000);
			}
			_exit(0);
		}
		ck_assert_int_ge(pids[c], 0);
	}
	for (c = 0; c < NCHILDREN; c++)
		wait_child(pids[c]);
	for (c = 0; c < NCHILDREN; c++)
		for (i = 0; i < PER_CHILD; i++) {
			snprintf(what, sizeof(what), "c%d/%d:x", c, i);
			ck_assert_int_eq(upstream_negative_get(what, 1000), 1);
		}
}
END_TEST

/*
 * A process killed while it updates the segment (and likely holds the
 * lock) blocks nobody afterwards.
 */
/*
 * ECR tokens: one refresh claim at a time, its token shared, refreshed
 * ahead while still handed out, never once expired; a failure for the
 * waiters; drop by generation; a dead refresher's claim taken over;
 * other settings start afresh.
 */
START_TEST(test_ecr)
{
	struct upstream_ecr_view	*v, *w;
	uint64_t			 seen, gen;
	pid_t				 pid;
	int				 status;

	v = xmalloc(sizeof(*v));
	w = xmalloc(sizeof(*w));
	ck_assert_int_eq(upstream_ecr_acquire("ecr", 1, 1000, NULL, v),
	    UPSTREAM_ECR_REFRESH);
	ck_assert_int_eq(v->ev_has_token, 0);
	/* Another process waits for the refresh under way. */
	if ((pid = fork()) == 0)
		_exit(upstream_ecr_acquire("ecr", 1, 1000, NULL, w) ==
		    UPSTREAM_ECR_WAIT ? 0 : 1);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(upstream_ecr_acquire("ecr", 1, 1000, NULL, w),
	    UPSTREAM_ECR_WAIT);
	seen = w->ev_fail_seq;
	/* Only the claim's ticket stores. */
	ck_assert_int_eq(upstream_ecr_store("ecr", v->ev_ticket + 1, "AWS",
	    "pw1", 2000, 1800), 0);
	gen = upstream_ecr_store("ecr", v->ev_ticket, "AWS", "pw1", 2000,
	    1800);
	ck_assert_uint_gt(gen, 0);
	ck_assert_int_eq(upstream_ecr_acquire("ecr", 1, 1000, &seen, w),
	    UPSTREAM_ECR_TOKEN);
	ck_assert_str_eq(w->ev_user, "AWS");
	ck_assert_str_eq(w->ev_password, "pw1");
	ck_assert_uint_eq(w->ev_generation, gen);
	/* Past its refresh time: one caller refreshes, with the token. */
	ck_assert_int_eq(upstream_ecr_acquire("ecr", 1, 1850, NULL, v),
	    UPSTREAM_ECR_REFRESH);
	ck_assert_int_eq(v->ev_has_token, 1);
	ck_assert_int_eq(upstream_ecr_acquire("ecr", 1, 1850, NULL, w),
	    UPSTREAM_ECR_TOKEN);
	/* The refresh fails: the token stays while valid ... */
	upstream_ecr_fail("ecr", v->ev_ticket, "cannot (ThrottlingException)",
	    1850);
	ck_assert_int_eq(upstream_ecr_acquire("ecr", 1, 1860, NULL, w),
	    UPSTREAM_ECR_REFRESH);
	ck_assert_int_eq(w->ev_has_token, 1);
	/* ... and is never handed out once (nearly) expired. */
	upstream_ecr_fail("ecr", w->ev_ticket, "cannot (ThrottlingException)",
	    1995);
	ck_assert_int_eq(upstream_ecr_acquire("ecr", 1, 1995, NULL, w),
	    UPSTREAM_ECR_REFRESH);
	ck_assert_int_eq(w->ev_has_token, 0);
	ck_assert_int_eq(upstream_ecr_acquire("ecr", 1, 1995, NULL, v),
	    UPSTREAM_ECR_WAIT);
	seen = v->ev_fail_seq;
	upstream_ecr_fail("ecr", w->ev_ticket, "cannot (ThrottlingException)",
	    1995);
	/* The waiter gets the failure; a new caller tries again. */
	ck_assert_int_eq(upstream_ecr_acquire("ecr", 1, 1995, &seen, v),
	    UPSTREAM_ECR_FAILED);
	ck_assert_str_eq(v->ev_error, "cannot (ThrottlingException)");
	ck_assert_int_eq(upstream_ecr_acquire("ecr", 1, 1995, NULL, v),
	    UPSTREAM_ECR_REFRESH);
	gen = upstream_ecr_store("ecr", v->ev_ticket, "AWS", "pw2", 5000,
	    4000);
	/* A refused token is dropped by its generation only. */
	upstream_ecr_drop("ecr", gen - 1);
	ck_assert_int_eq(upstream_ecr_acquire("ecr", 1, 2000, NULL, v),
	    UPSTREAM_ECR_TOKEN);
	upstream_ecr_drop("ecr", gen);
	ck_assert_int_eq(upstream_ecr_acquire("ecr", 1, 2000, NULL, v),
	    UPSTREAM_ECR_REFRESH);
	/* A refresher that died: its claim is taken over. */
	if ((pid = fork()) == 0)
		_exit(upstream_ecr_acquire("dead", 1, 2000, NULL, w) ==
		    UPSTREAM_ECR_REFRESH ? 0 : 1);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(upstream_ecr_acquire("dead", 1, 2000, NULL, w),
	    UPSTREAM_ECR_REFRESH);
	/* Other settings (a reload with another key): afresh. */
	upstream_ecr_store("dead", w->ev_ticket, "AWS", "pw3", 5000, 4000);
	ck_assert_int_eq(upstream_ecr_acquire("dead", 1, 2000, NULL, w),
	    UPSTREAM_ECR_TOKEN);
	ck_assert_int_eq(upstream_ecr_acquire("dead", 2, 2000, NULL, w),
	    UPSTREAM_ECR_REFRESH);
	ck_assert_int_eq(w->ev_has_token, 0);
	free(v);
	free(w);
}
END_TEST

START_TEST(test_killed_holder)
{
	char	 what[64], c;
	pid_t	 pid;
	int	 fds[2], status, i;

	ck_assert_int_eq(pipe(fds), 0);
	if ((pid = fork()) == 0) {
		close(fds[0]);
		for (i = 0;; i++) {
			snprintf(what, sizeof(what), "k/%d:x", i % 5000);
			upstream_negative_put(what, 5000);
			if (i == 100 && write(fds[1], "x", 1) != 1)
				_exit(1);
		}
	}
	ck_assert_int_ge(pid, 0);
	close(fds[1]);
	ck_assert_int_eq(read(fds[0], &c, 1), 1);
	close(fds[0]);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status));
	/* Whatever it left, the segment works. */
	upstream_negative_put("after/kill:x", 5000);
	ck_assert_int_eq(upstream_negative_get("after/kill:x", 1000), 1);
	upstream_state_failure("hub", 1000);
	ck_assert_int_eq(upstream_state_check("hub", 1000, NULL), UPSTREAM_GO);
}
END_TEST

START_TEST(test_retry_after_parse)
{
	time_t	 now = DATE_T - 100;

	/* delta-seconds */
	ck_assert_int_eq(upstream_retry_after_parse("120", now, 60), now + 120);
	ck_assert_int_eq(upstream_retry_after_parse(" 5 ", now, 60), now + 5);
	ck_assert_int_eq(upstream_retry_after_parse("0", now, 60), now);
	ck_assert_int_eq(upstream_retry_after_parse("3600", now, 60),
	    now + 3600);
	ck_assert_int_eq(upstream_retry_after_parse("3601", now, 60),
	    now + UPSTREAM_RETRY_AFTER_MAX);
	ck_assert_int_eq(upstream_retry_after_parse(
	    "99999999999999999999999999", now, 60),
	    now + UPSTREAM_RETRY_AFTER_MAX);

	/* The three HTTP-date forms. */
	ck_assert_int_eq(upstream_retry_after_parse(
	    "Sun, 06 Nov 1994 08:49:37 GMT", now, 60), DATE_T);
	ck_assert_int_eq(upstream_retry_after_parse(
	    "Sunday, 06-Nov-94 08:49:37 GMT", now, 60), DATE_T);
	ck_assert_int_eq(upstream_retry_after_parse(
	    "Sun Nov  6 08:49:37 1994", now, 60), DATE_T);
	ck_assert_int_eq(upstream_retry_after_parse(
	    "Sun Nov 16 08:49:37 1994", now, 60),
	    now + UPSTREAM_RETRY_AFTER_MAX);
	/* In the past: now. Far ahead: capped. */
	ck_assert_int_eq(upstream_retry_after_parse(
	    "Sun, 06 Nov 1994 08:49:37 GMT", DATE_T + 50, 60), DATE_T + 50);
	ck_assert_int_eq(upstream_retry_after_parse(
	    "Thu, 01 Jan 2099 00:00:00 GMT", now, 60),
	    now + UPSTREAM_RETRY_AFTER_MAX);
	ck_assert_int_eq(upstream_retry_after_parse(
	    "Sun, 06 Nov 1994 09:49:37 GMT", now, 60),
	    now + UPSTREAM_RETRY_AFTER_MAX);
	ck_assert_int_eq(upstream_retry_after_parse(
	    "Sun, 06 Nov 1994 09:49:36 GMT", DATE_T, 60),
	    DATE_T + 3599);

	/* Garbage: the default. */
	ck_assert_int_eq(upstream_retry_after_parse(NULL, now, 60), now + 60);
	ck_assert_int_eq(upstream_retry_after_parse("", now, 60), now + 60);
	ck_assert_int_eq(upstream_retry_after_parse("soon", now, 60),
	    now + 60);
	ck_assert_int_eq(upstream_retry_after_parse("-5", now, 60), now + 60);
	ck_assert_int_eq(upstream_retry_after_parse("12a", now, 60), now + 60);
	ck_assert_int_eq(upstream_retry_after_parse("1.5", now, 60), now + 60);
	ck_assert_int_eq(upstream_retry_after_parse(
	    "Sun, 06 Nov 1994 08:49:37 UTC", now, 60), now + 60);
	ck_assert_int_eq(upstream_retry_after_parse(
	    "Sun, 06 Foo 1994 08:49:37 GMT", now, 60), now + 60);
	ck_assert_int_eq(upstream_retry_after_parse(
	    "Sun, 06 Nov 1994 25:49:37 GMT", now, 60), now + 60);
	ck_assert_int_eq(upstream_retry_after_parse(
	    "Sun, 6 Nov 1994 08:49:37 GMT", now, 60), now + 60);
	ck_assert_int_eq(upstream_retry_after_parse(
	    "Sun, 06 Nov 1994 08:49:37 GMT trailing", now, 60), now + 60);
	ck_assert_int_eq(upstream_retry_after_parse(
	    "Sun, 00 Nov 1994 08:49:37 GMT", now, 60), now + 60);
	/* The default itself is capped and never negative. */
	ck_assert_int_eq(upstream_retry_after_parse("x", now, 100000),
	    now + UPSTREAM_RETRY_AFTER_MAX);
	ck_assert_int_eq(upstream_retry_after_parse("x", now, -5), now);
}
END_TEST

START_TEST(test_ratelimit_parse)
{
	ck_assert_int_eq(upstream_ratelimit_parse("100;w=21600"), 100);
	ck_assert_int_eq(upstream_ratelimit_parse("100"), 100);
	ck_assert_int_eq(upstream_ratelimit_parse(" 42 "), 42);
	ck_assert_int_eq(upstream_ratelimit_parse("0;w=60"), 0);
	ck_assert_int_eq(upstream_ratelimit_parse("7, 100;w=60"), 7);
	ck_assert_int_eq(upstream_ratelimit_parse(NULL), -1);
	ck_assert_int_eq(upstream_ratelimit_parse(""), -1);
	ck_assert_int_eq(upstream_ratelimit_parse("abc"), -1);
	ck_assert_int_eq(upstream_ratelimit_parse("-1"), -1);
	ck_assert_int_eq(upstream_ratelimit_parse("10x"), -1);
	ck_assert_int_eq(upstream_ratelimit_parse(
	    "999999999999999999999999999"), -1);
}
END_TEST

static Suite *
upstream_state_suite(void)
{
	Suite	*s = suite_create("upstream_state");
	TCase	*tc;

	tc = tcase_create("no segment");
	tcase_add_test(tc, test_no_segment);
	suite_add_tcase(s, tc);

	tc = tcase_create("segment");
	tcase_add_checked_fixture(tc, segment_setup, segment_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_breaker);
	tcase_add_test(tc, test_retry_after);
	tcase_add_test(tc, test_tokens);
	tcase_add_test(tc, test_tokens_full);
	tcase_add_test(tc, test_negative);
	tcase_add_test(tc, test_negative_full);
	tcase_add_test(tc, test_flight);
	tcase_add_test(tc, test_flight_full);
	tcase_add_test(tc, test_fork);
	tcase_add_test(tc, test_killed_holder);
	tcase_add_test(tc, test_ecr);
	suite_add_tcase(s, tc);

	tc = tcase_create("parsers");
	tcase_add_test(tc, test_retry_after_parse);
	tcase_add_test(tc, test_ratelimit_parse);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	int	 failed;

	log_init(1, "daemon", LOG_ERR);
	failed = check_run(upstream_state_suite()) != EXIT_SUCCESS;
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
