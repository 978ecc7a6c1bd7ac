/*
 * upstreams.h: pull-through caching from upstreams, inside content/. A
 * docker registry with upstreams asks them in the listed order when a
 * pull misses its own content; an upstream key, used as a registry, asks
 * its one upstream. The first upstream that has the artifact answers and
 * the result is cached (see docs/architecture.md). Handlers use
 * content.h; this is what the files of content/ share:
 *
 *   upstreams.c	which upstreams a request pulls through, and the
 *			outcome of asking them (the client's error when
 *			none had it)
 *   manifest_pull.c	manifests: fetch, cache, tag TTL revalidation,
 *			serving stale
 *   blob_fill.c	blobs: one fill per digest, streamed to every
 *			client from the part file while it is written
 *   tags_pull.c	tags/list merged with the upstreams' lists
 */
#ifndef DEPOT_UPSTREAMS_H
#define DEPOT_UPSTREAMS_H

#include <stddef.h>
#include <time.h>

#include "upstream/upstream.h"

struct content_handler;
struct content_request;
struct config_upstream;
struct index_tag;
struct req;

#define CONTENT_UPSTREAMS_MAX	32

/*
 * The upstreams cr pulls through, in query order, into out (at most max).
 * 0 when it pulls through none (a registry without upstreams, a helm
 * upstream, a name without an image part).
 */
size_t	content_upstreams(struct content_request *cr, struct config_upstream **out,
	    size_t max);

/* What asking the upstreams one after the other came to. */
struct content_outcome {
	char	*po_errors;		/* "key: why; key: why" or NULL */
	size_t	 po_missing;		/* upstreams that answered 404 */
	size_t	 po_limited;		/* rate limited (429, Retry-After) */
	size_t	 po_failed;		/* anything else */
	time_t	 po_retry_after;	/* earliest time a limited one allows */
};

/*
 * Record how one upstream answered: result and status as the upstream
 * call ended (status 0 when no answer), errmsg as it gave (may be NULL).
 * Counts the error in the metrics and logs it.
 */
void	content_outcome_note(struct content_outcome *, struct config_upstream *,
	    enum upstream_result, long status, const char *errmsg);
/* Add a failure of our own making ("digest mismatch", ...). */
void	content_outcome_fail(struct content_outcome *, struct config_upstream *,
	    const char *reason, const char *metric_reason);
void	content_outcome_clear(struct content_outcome *);
/*
 * Answer r (through h) when no upstream had it: not_found_code
 * (MANIFEST_UNKNOWN, BLOB_UNKNOWN, NAME_UNKNOWN) with 404 when every
 * upstream said 404; 429 TOOMANYREQUESTS with Retry-After when the rest
 * were rate limited; otherwise 503 UNAVAILABLE naming each upstream and
 * what went wrong.
 */
void	content_outcome_reply(const struct content_outcome *,
	    const struct content_handler *h, struct req *r,
	    const char *not_found_code, const char *what);
/* 1 when every upstream asked said 404 (the negative cache may keep it). */
int	content_outcome_all_missing(const struct content_outcome *);

/*
 * Ask up for path ("manifests/latest", "blobs/sha256:...") below image's
 * repository there (upstream_remote_repo), with extra headers. The call,
 * or NULL after noting the failure in po.
 */
struct upstream_call *content_call(struct fetcher *, struct config_upstream *up,
	    const char *image, enum fetch_method, const char *path,
	    const char *const *headers, size_t nheaders,
	    const struct upstream_callbacks *, void *arg,
	    struct content_outcome *po);
/* The same with the repository there (remote) given. */
struct upstream_call *content_call_repo(struct fetcher *,
	    struct config_upstream *up, const char *remote, enum fetch_method,
	    const char *path, const char *const *headers, size_t nheaders,
	    const struct upstream_callbacks *, void *arg,
	    struct content_outcome *po);

/* The negative cache key of a reference in repo. Caller frees. */
char	*content_negative_key(const char *repo, const char *reference);

/*
 * The pulls of resolve.c when the request's registry pulls through
 * upstreams. Each answers the request, now or later from the event loop.
 */
/* A manifest not found locally (cached is NULL), or a cached tag whose
 * TTL has passed (revalidate; serve it stale when no upstream answers). */
void	content_manifest_pull(struct content_request *cr,
	    const struct index_tag *cached);
/* 1 when a cached tag is still fresh (within its upstream's tag_ttl). */
int	content_tag_fresh(struct content_request *cr, const struct index_tag *,
	    time_t);
/* A blob not linked in the repository, or linked but not stored. */
void	content_blob_pull(struct content_request *cr);
/* tags/list of a repository that pulls through upstreams. */
void	content_tags_pull(struct content_request *cr, size_t n,
	    const char *last);

#endif /* DEPOT_UPSTREAMS_H */
