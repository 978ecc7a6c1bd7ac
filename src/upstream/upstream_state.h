/*
 * upstream_state.h: what every process of depotd must agree on about its
 * upstreams, kept in one shared memory segment (MAP_SHARED |
 * MAP_ANONYMOUS) that the master creates before it forks the first worker
 * and keeps across reloads, like the metrics segment:
 *
 *  - health: a circuit breaker per upstream key (after
 *    UPSTREAM_BREAKER_FAILURES consecutive failures the upstream is
 *    skipped for a back-off that doubles from UPSTREAM_BREAKER_MIN to
 *    UPSTREAM_BREAKER_MAX seconds; when it has passed, requests go
 *    through again and the next failure reopens it at once), and the
 *    deadline of an upstream's Retry-After;
 *  - bearer tokens per upstream key and scope, until they expire, so
 *    every worker reuses one token;
 *  - the negative cache: references every upstream answered 404 for;
 *  - flights: which process is pulling a manifest from the upstreams right
 *    now, so that the others wait for its result instead of asking too;
 *  - ECR tokens: one per ECR upstream for the whole daemon, with the
 *    claim of the one process refreshing it and the last refresh's
 *    failure (see upstream_ecr_acquire).
 *
 * Tables have fixed sizes; when one is full the entry closest to expiry
 * (or least recently used) is replaced. Keys are strings compared in full
 * (never by hash alone). Every call is safe from any process sharing the
 * segment, and a process that dies inside one never blocks the others
 * (a robust process-shared mutex, or lock-free atomics). Without a
 * segment (upstream_state_init not called, tests of other modules) every
 * call behaves as on an empty table: allowed, no token, no negative entry.
 */
#ifndef DEPOT_UPSTREAM_STATE_H
#define DEPOT_UPSTREAM_STATE_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "depot.h"

#define UPSTREAM_BREAKER_FAILURES	3	/* consecutive, to open */
#define UPSTREAM_BREAKER_MIN		5	/* seconds, first back-off */
#define UPSTREAM_BREAKER_MAX		60	/* seconds, longest back-off */
#define UPSTREAM_RETRY_AFTER_MAX	3600	/* seconds honoured at most */
#define UPSTREAM_TOKEN_MAX		8192	/* bytes of one token, with NUL */
#define UPSTREAM_SCOPE_MAX		512	/* bytes of one scope, with NUL */
#define UPSTREAM_HEALTH_SLOTS		64	/* upstream keys tracked */
#define UPSTREAM_TOKEN_SLOTS		128	/* tokens kept */
#define UPSTREAM_NEGATIVE_SLOTS		4096	/* misses remembered */
#define UPSTREAM_FLIGHT_SLOTS		256	/* pulls under way */
#define UPSTREAM_FLIGHT_MAX_AGE		900	/* seconds a claim lasts at most */
#define UPSTREAM_ECR_SLOTS		32	/* ECR upstream keys */
#define UPSTREAM_ECR_USER_MAX		64	/* bytes of the user, with NUL */
#define UPSTREAM_ECR_ERROR_MAX		512	/* bytes of a failure's text */
#define UPSTREAM_ECR_CLAIM_MAX_AGE	120	/* s a refresh claim lasts */
#define UPSTREAM_ECR_EXPIRY_MARGIN	10	/* s a token must still last */
/* bytes of one negative key, with NUL: repository, '@', sha512 digest */
#define UPSTREAM_NEGATIVE_KEY_MAX	(DEPOT_REPO_MAX + 1 + 135 + 1)

/*
 * Create the segment; the master calls it once, before forking. 0, or -1
 * after logging. Calling it again while it exists is a no-op.
 */
int	upstream_state_init(void);
/* Unmap the segment (tests; the master at exit). */
void	upstream_state_close(void);

enum upstream_skip {
	UPSTREAM_GO = 0,		/* send the request */
	UPSTREAM_SKIP_BREAKER,		/* circuit open after failures */
	UPSTREAM_SKIP_RETRY_AFTER	/* the upstream asked us to wait */
};

/*
 * May a request go to upstream key at now? UPSTREAM_GO, or why not, with
 * the unix time it may go again in *until (when until is not NULL).
 */
enum upstream_skip upstream_state_check(const char *key, time_t now,
		    time_t *until);
/* The upstream answered (any HTTP status but 5xx/429): close the breaker. */
void	upstream_state_success(const char *key);
/*
 * A connection failure, timeout, TLS error or 5xx. Returns 1 when this
 * failure opened the breaker (so the caller logs it once), else 0.
 */
int	upstream_state_failure(const char *key, time_t now);
/* A 429 (or 503) with Retry-After: no request to key before until. */
void	upstream_state_retry_after(const char *key, time_t until);
const char *upstream_skip_str(enum upstream_skip);

/*
 * Parse a Retry-After value (RFC 9110 10.2.3: delta-seconds or an
 * HTTP-date) received at now into the unix time it names, capped at
 * now + UPSTREAM_RETRY_AFTER_MAX and never before now. NULL or
 * unreadable values give now + dflt. Returns the time.
 */
time_t	upstream_retry_after_parse(const char *value, time_t now, int dflt);

/*
 * Docker Hub's "ratelimit-limit" / "ratelimit-remaining" values, such as
 * "100;w=21600": the leading count, or -1 when absent or unreadable.
 */
long	upstream_ratelimit_parse(const char *value);

/*
 * Bearer tokens. upstream_token_get copies the token of (key, scope) into
 * buf when one is stored and expires after now + 10 s: 1, else 0 (also
 * when it does not fit in len). upstream_token_put stores (or replaces)
 * it; tokens or scopes too long for a slot are not stored.
 * upstream_token_drop forgets it (the upstream refused it).
 */
int	upstream_token_get(const char *key, const char *scope, time_t now,
	    char *buf, size_t len);
void	upstream_token_put(const char *key, const char *scope,
	    const char *token, time_t expires);
void	upstream_token_drop(const char *key, const char *scope);

/*
 * Negative cache. what is any string naming the miss (depotd uses
 * "<repository>:<tag>" and "<repository>@<digest>"). get: 1 when a miss
 * of what is remembered until after now, else 0. put: remember it until
 * the given time. drop: forget it (a push of that reference). Keys
 * longer than UPSTREAM_NEGATIVE_KEY_MAX - 1 bytes are not stored.
 */
int	upstream_negative_get(const char *what, time_t now);
void	upstream_negative_put(const char *what, time_t until);
void	upstream_negative_drop(const char *what);

/*
 * Flights: single flight of an upstream pull across processes. what
 * names the pull (depotd uses the negative cache's keys).
 * upstream_flight_claim returns 1 when the caller now leads the pull
 * (*ticket identifies its claim), 0 when a live process holds it (the
 * caller waits and looks again), -1 when single flight is unavailable
 * (no segment, a key too long, every slot held): go ahead alone. A claim
 * whose process died, or older than UPSTREAM_FLIGHT_MAX_AGE, is taken
 * over. upstream_flight_held: 1 while a live claim on what exists.
 * upstream_flight_release drops the claim of that ticket.
 */
int	upstream_flight_claim(const char *what, time_t now, uint64_t *ticket);
int	upstream_flight_held(const char *what, time_t now);
void	upstream_flight_release(const char *what, uint64_t ticket);
/* Drop every claim of process pid (the master, when it reaps a worker). */
void	upstream_flight_drop_pid(pid_t pid);

/*
 * ECR tokens: one slot per upstream key, valid for the settings whose
 * fingerprint it was made with (a reload with other keys or URLs starts
 * afresh). upstream_ecr_acquire says what a request may do at now:
 *   UPSTREAM_ECR_TOKEN	use the token in *view (it lasts past now +
 *			UPSTREAM_ECR_EXPIRY_MARGIN);
 *   UPSTREAM_ECR_REFRESH	the caller now holds the refresh claim
 *			(view->ev_ticket) and must end it with store or
 *			fail; view->ev_has_token says whether the current
 *			token may still be used meanwhile (a refresh ahead
 *			of expiry);
 *   UPSTREAM_ECR_WAIT	another live process refreshes: look again soon;
 *   UPSTREAM_ECR_FAILED	no valid token, and a refresh failed since the
 *			caller's first ask (fail_seen: the view's
 *			ev_fail_seq of that ask; NULL on the first) or
 *			less than its hold ago: view->ev_error says why.
 * An expired token is never handed out. A claim whose process died, or
 * older than UPSTREAM_ECR_CLAIM_MAX_AGE, is taken over. Without a
 * segment every call is REFRESH with no token (ticket 0).
 * upstream_ecr_drop forgets the token of that generation (the registry
 * refused it), so that the next acquire refreshes.
 */
enum upstream_ecr_state {
	UPSTREAM_ECR_TOKEN,
	UPSTREAM_ECR_REFRESH,
	UPSTREAM_ECR_WAIT,
	UPSTREAM_ECR_FAILED
};

struct upstream_ecr_view {
	int		 ev_has_token;
	char		 ev_user[UPSTREAM_ECR_USER_MAX];
	char		 ev_password[UPSTREAM_TOKEN_MAX];	/* secret */
	time_t		 ev_expires;
	uint64_t	 ev_generation;
	uint64_t	 ev_ticket;
	uint64_t	 ev_fail_seq;
	char		 ev_error[UPSTREAM_ECR_ERROR_MAX];
};

enum upstream_ecr_state upstream_ecr_acquire(const char *key,
		    uint64_t fingerprint, time_t now, const uint64_t *fail_seen,
		    struct upstream_ecr_view *);
/*
 * The refresh of ticket got a token: store it, end the claim. Returns
 * the token's generation (0 when the claim was lost or no segment).
 */
uint64_t upstream_ecr_store(const char *key, uint64_t ticket, const char *user,
	    const char *password, time_t expires, time_t refresh_at);
/* The refresh of ticket failed: error stands until until; end the claim. */
void	upstream_ecr_fail(const char *key, uint64_t ticket, const char *error,
	    time_t until);
void	upstream_ecr_drop(const char *key, uint64_t generation);

#endif /* DEPOT_UPSTREAM_STATE_H */
