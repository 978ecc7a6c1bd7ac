/*
 * ecr_token.h: the registry credentials of an ECR upstream, for
 * upstream.c. One token per upstream for the whole daemon, kept in the
 * shared upstream state (upstream_state.h): every worker uses it, it
 * outlives a worker's death, and it is refreshed by one process at a
 * time, a while before its expiresAt (a quarter of its life, at most
 * ECR_TOKEN_MARGIN seconds), while the others go on using it. A request
 * that finds no valid token waits for the refresh under way (in this
 * process: told at once; in another: looked up every ECR_TOKEN_POLL_MS)
 * or makes it. A failed refresh is logged once, with AWS's error code,
 * and every request that waited for it (in any process) gets its
 * message without asking AWS again; the next request tries again, so
 * that depot recovers as soon as AWS answers. An expired token is never
 * handed out.
 *
 * A refresh: credentials (aws_credentials.h: static keys or the default
 * chain), then GetAuthorizationToken signed with them, then the token
 * decoded into Basic credentials (user "AWS"). Everything runs on the
 * worker's loop through fetch.
 */
#ifndef DEPOT_ECR_TOKEN_H
#define DEPOT_ECR_TOKEN_H

#include <stdint.h>

#define ECR_TOKEN_MARGIN	1800	/* s: refresh at most this early */
#define ECR_TOKEN_POLL_MS	50	/* waiting on another process */
#define ECR_TOKEN_FAIL_HOLD	0	/* s a failure is handed out to
					   new requests too */

struct config_upstream;
struct fetcher;
struct ecr_token_wait;

/*
 * The token, or errmsg (fit for a client: says what failed and AWS's
 * error code, never a secret). user and password are valid during the
 * call only; generation names the token for ecr_token_refused.
 */
typedef void (*ecr_token_cb)(const char *user, const char *password,
    uint64_t generation, const char *errmsg, void *arg);

/*
 * Get the upstream's token. The callback always comes from the event
 * loop, never from inside this call. NULL only when out of events
 * (logged); then no callback comes. up must outlive the wait (the
 * worker's config does).
 */
struct ecr_token_wait	*ecr_token_get(struct fetcher *,
			    const struct config_upstream *, ecr_token_cb,
			    void *arg);
/* Stop waiting: no callback. A refresh under way goes on. */
void			 ecr_token_cancel(struct ecr_token_wait *);
/* The registry refused the token of generation: forget it. */
void			 ecr_token_refused(const struct config_upstream *,
			    uint64_t generation);
/* The registry's base URL: registry_url, or the one up_url names. */
const char		*ecr_token_registry_url(const struct config_upstream *);

#endif /* DEPOT_ECR_TOKEN_H */
