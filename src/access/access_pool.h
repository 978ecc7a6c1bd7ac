/*
 * access_pool.h: password checks (bcrypt, htpasswd_verify) off the event
 * loop. A few threads hash; each finished check is handed back to the
 * loop through a pipe, and its callback runs there, never in a thread.
 *
 * Ownership: a job holds copies of the password and the hash, and the
 * threads touch nothing else. The callback's argument belongs to the
 * caller, who must keep it valid until the callback has run (an evhttp
 * request stays the handler's until it is answered, even when its client
 * has left, so a request is a valid argument). Freeing the pool drops
 * the jobs not yet reported without calling their callbacks.
 */
#ifndef DEPOT_ACCESS_POOL_H
#define DEPOT_ACCESS_POOL_H

struct event_base;
struct access_pool;

/* ok: 1 when the password matched the hash, 0 when not. */
typedef void (*access_pool_cb)(int ok, void *arg);

/* nthreads hashing threads reporting to base. NULL (logged) on error. */
struct access_pool	*access_pool_create(struct event_base *, int nthreads,
			    int max_queued);
void			 access_pool_free(struct access_pool *);
/*
 * Check password against hash in a thread; cb(ok, arg) runs later on
 * the loop. 0, or -1 when max_queued checks are already waiting.
 */
int	access_pool_submit(struct access_pool *, const char *password,
	    const char *hash, access_pool_cb cb, void *arg);
/* Checks submitted and not yet reported. */
int	access_pool_pending(const struct access_pool *);

#endif /* DEPOT_ACCESS_POOL_H */
