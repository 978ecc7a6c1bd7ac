/*
 * proxy.h: pull-through caching from upstreams. A docker registry with
 * upstreams asks them in the listed order when a pull misses its own
 * content; an upstream key, used as a registry, asks its one upstream.
 * The first upstream that has the artifact answers and the result is
 * cached (see docs/architecture.md).
 *
 *   proxy.c		which upstreams a request pulls through, and the
 *			outcome of asking them (the client's error when
 *			none had it)
 *   proxy_manifest.c	manifests: fetch, cache, tag TTL revalidation,
 *			serving stale
 *   proxy_blob.c	blobs: one fill per digest, streamed to every
 *			client from the part file while it is written
 *   proxy_tags.c	tags/list merged with the upstreams' lists
 */
#ifndef DEPOT_PROXY_H
#define DEPOT_PROXY_H

#include <stddef.h>
#include <time.h>

#include "upstream/upstream.h"

struct oci_request;
struct config_upstream;
struct index_tag;
struct req;

#define PROXY_UPSTREAMS_MAX	32

/*
 * The upstreams o pulls through, in query order, into out (at most max).
 * 0 when it pulls through none (a registry without upstreams, a helm
 * upstream, a name without an image part).
 */
size_t	proxy_upstreams(struct oci_request *o, struct config_upstream **out,
	    size_t max);

/* What asking the upstreams one after the other came to. */
struct proxy_outcome {
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
void	proxy_outcome_note(struct proxy_outcome *, struct config_upstream *,
	    enum upstream_result, long status, const char *errmsg);
/* Add a failure of our own making ("digest mismatch", ...). */
void	proxy_outcome_fail(struct proxy_outcome *, struct config_upstream *,
	    const char *reason, const char *metric_reason);
void	proxy_outcome_clear(struct proxy_outcome *);
/*
 * Answer r when no upstream had it: not_found_code (MANIFEST_UNKNOWN,
 * BLOB_UNKNOWN, NAME_UNKNOWN) with 404 when every upstream said 404;
 * 429 TOOMANYREQUESTS with Retry-After when the rest were rate limited;
 * otherwise 503 UNAVAILABLE naming each upstream and what went wrong.
 */
void	proxy_outcome_reply(const struct proxy_outcome *, struct req *r,
	    const char *not_found_code, const char *what);
/* 1 when every upstream asked said 404 (the negative cache may keep it). */
int	proxy_outcome_all_missing(const struct proxy_outcome *);

/*
 * Ask up for path ("manifests/latest", "blobs/sha256:...") below image's
 * repository there (upstream_remote_repo), with extra headers. The call,
 * or NULL after noting the failure in po.
 */
struct upstream_call *proxy_call(struct fetcher *, struct config_upstream *up,
	    const char *image, enum fetch_method, const char *path,
	    const char *const *headers, size_t nheaders,
	    const struct upstream_callbacks *, void *arg,
	    struct proxy_outcome *po);

/* The negative cache key of a reference in repo. Caller frees. */
char	*proxy_negative_key(const char *repo, const char *reference);

/*
 * Handlers called by oci_manifest.c, oci_blob.c and oci_tags.c when the
 * request's registry pulls through upstreams. Each answers the request,
 * now or later from the event loop.
 */
/* A manifest not found locally (cached is NULL), or a cached tag whose
 * TTL has passed (revalidate; serve it stale when no upstream answers). */
void	proxy_manifest_pull(struct oci_request *o,
	    const struct index_tag *cached);
/* 1 when a cached tag is still fresh (within its upstream's tag_ttl). */
int	proxy_tag_fresh(struct oci_request *o, const struct index_tag *, time_t);
/* A blob not linked in the repository, or linked but not stored. */
void	proxy_blob_pull(struct oci_request *o);
/* Fills running in this process (the worker waits for them to end). */
size_t	proxy_blob_fills(void);
/* tags/list of a repository that pulls through upstreams. */
void	proxy_tags_list(struct oci_request *o);

#endif /* DEPOT_PROXY_H */
