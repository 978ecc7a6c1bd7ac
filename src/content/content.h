/*
 * content.h: resolving an artifact for a request handler: the
 * repository's own content first, then its upstreams in order (pulled
 * through and cached); and serving and storing what is stored. Handlers
 * (oci/, helm/) call down into it; it never calls a handler by name:
 * what it cannot serve, and what it found, it reports through the
 * handler's callbacks (struct content_handler).
 *
 *   resolve.c		local first, then upstreams: content_blob_get,
 *			content_manifest_get, content_tags_list
 *   serve.c		answering with stored bytes: content_blob_send
 *			(one byte Range), content_manifest_send
 *   manifest_store.c	storing (in a thread) and recording a manifest
 *			(push and cache)
 *   upstreams.c	which upstreams a request pulls through, the outcome
 *			of asking them (upstreams.h, inside content/)
 *   blob_fill.c	blobs: one fill per digest, streamed to every client
 *			from the part file while it is written; the entry
 *			point content_fill_start is not tied to /v2
 *   blob_follow.c	streaming a part file another process writes
 *   manifest_pull.c	manifests: fetch, cache, tag TTL revalidation,
 *			serving stale, single flight across workers
 *   tags_pull.c	tags/list merged with the upstreams' lists
 *   recency.c		when each link was last pulled, for cache eviction
 *
 * Every function that takes a request answers it (now, or later from
 * the event loop), unless it says otherwise.
 */
#ifndef DEPOT_CONTENT_H
#define DEPOT_CONTENT_H

#include <sys/types.h>

#include <stddef.h>

#include "lib/digest.h"
#include "lib/ref.h"

struct req;
struct config_registry;
struct config_upstream;
struct index;
struct index_manifest;
struct manifest_info;
struct content_request;

/*
 * What a handler gives content so that content can answer its clients
 * without knowing the API they speak.
 */
struct content_handler {
	/*
	 * Answer r with an error. code is a distribution error code
	 * (BLOB_UNKNOWN, MANIFEST_UNKNOWN, NAME_UNKNOWN, UNAVAILABLE,
	 * TOOMANYREQUESTS, UNKNOWN, ...); with message NULL the handler's
	 * own table gives the status and the message of code (status is
	 * 0 then), else status and message are the ones to send. detail
	 * may be NULL. Headers content added (Retry-After,
	 * Content-Range) go with the answer.
	 */
	void	(*ch_error)(struct req *r, int status, const char *code,
		    const char *message, const char *detail);
	/*
	 * The manifest d (stored, recorded as im) answers cr: negotiate
	 * with the client, then content_manifest_send (or ch_error).
	 */
	void	(*ch_manifest)(struct content_request *cr,
		    const struct digest *d, const struct index_manifest *im);
	/*
	 * Answer a listing of cr's tags: tags are sorted and unique, and
	 * those up to last are to be skipped; at most n are shown.
	 */
	void	(*ch_tags)(struct content_request *cr, size_t n,
		    const char *last, char **tags, size_t count);
};

/*
 * What is being resolved, whatever the API of the request: the registry
 * or upstream key of the repository's first component, the repository
 * (cr_path.name, with cr_path.registry its first component and
 * cr_path.image the rest), and the reference (a tag, or a digest when
 * cr_path.ref_is_digest). cr_path.kind is not looked at. The request
 * stays the caller's; content copies what it keeps.
 */
struct content_request {
	struct req			*cr_req;	/* the client to answer */
	const struct content_handler	*cr_handler;
	struct v2_path			 cr_path;
	struct config_registry		*cr_registry;	/* a registry, or */
	struct config_upstream		*cr_upstream;	/* an upstream key */
};

/* Answer cr with code, its status and message from the handler's table. */
void	content_error(struct content_request *, const char *code,
	    const char *detail);
/* Answer r through h with this status, code and message. */
void	content_fail(const struct content_handler *h, struct req *r,
	    int status, const char *code, const char *message,
	    const char *detail);

/*
 * GET or HEAD of the blob cr_path.digest in the repository: served when
 * the repository links it and the blob store has it; else pulled
 * through the upstreams when the repository has some; else BLOB_UNKNOWN.
 */
void	content_blob_get(struct content_request *);
/*
 * GET or HEAD of the manifest cr_path.reference: found locally by tag
 * or digest, else pulled through the upstreams (a cached tag past its
 * tag_ttl is revalidated first); found, it goes to ch_manifest.
 */
void	content_manifest_get(struct content_request *);
/*
 * The tags of the repository, n at most after last (NULL: from the
 * first), the upstreams' lists merged in; found, they go to ch_tags.
 */
void	content_tags_list(struct content_request *, size_t n,
	    const char *last);
/* 1 when repo has a tag or a link in the index, 0 not, -1 error. */
int	content_repo_known(struct index *, const char *repo);

/* Answer a GET or HEAD of a stored blob, honouring one byte Range. */
void	content_blob_send(struct req *, const struct content_handler *,
	    const struct digest *);
/* Answer a GET or HEAD with the stored manifest d and its headers. */
void	content_manifest_send(struct content_request *,
	    const struct digest *, const struct index_manifest *);
/*
 * Pull recency (recency.c): a GET of repo's blob or manifest d was
 * answered; recorded at most once per RECENCY_GRANULARITY seconds per
 * link and worker, without waiting for the disk. content_pulled looks
 * at the method (a HEAD is no pull); content_pull_record does not.
 */
#define RECENCY_GRANULARITY	60
void	content_pulled(struct req *, const char *repo, const struct digest *);
void	content_pull_record(struct index *, const char *repo,
	    const struct digest *);
/*
 * Store manifest bytes (len of them, hashing to d) in the blob store,
 * then call done(arg, rv): rv 0 stored; -1 cr's request has been
 * answered (507 when the disk or a quota is full, else 500). When the
 * blob store already has d, done runs at once, before this returns; else
 * the bytes are copied and a thread writes, verifies, fsyncs and links
 * them while the loop goes on, and done runs later from the loop. cr
 * (and its request) must stay valid until done; the caller does nothing
 * after this call: done continues (record, answer the client).
 */
void	content_manifest_store(struct content_request *, const void *,
	    size_t len, const struct digest *d, void (*done)(void *arg, int rv),
	    void *arg);
/*
 * Record the manifest (and the request's tag, when it names one) in the
 * index; upstream is the key it was cached from, NULL when pushed.
 * 0, or -1 (answered).
 */
int	content_manifest_record(struct content_request *,
	    const struct digest *, const struct manifest_info *, size_t,
	    const char *upstream);
/* A reference pushed here is no longer a miss the upstreams told of. */
void	content_manifest_pushed(const char *repo, const char *reference);

/*
 * Filling a blob from upstreams, for any API. The fill fetches the
 * sources in order (a 404 or a failure moves on to the next one) into
 * the blob store's part file for digest, verifies that the bytes hash
 * to digest, commits the blob and then links it in repo. One fill runs
 * per digest and repository in a process, and across processes the
 * blob store's fetch claim lets one fetch at a time: a later request
 * joins the fill, or follows the part file another process writes when
 * that one fetches for the same repository (for another one, only once
 * an upstream of ours confirmed it has the blob, and only when anyone
 * may read that repository; else it fetches and verifies its own copy).
 * The client is streamed the bytes as they arrive (the tail once
 * verified) when it asked for the whole blob, else it is answered from
 * the committed blob (content_blob_send). A HEAD asks the sources with
 * HEAD and caches nothing. When no source delivers, the client gets 404
 * (not_found_code) when every source said 404, 429 when the rest were
 * rate limited, else 503 UNAVAILABLE naming each source and what went
 * wrong, all through cf_handler->ch_error.
 */
/*
 * A source is asked through upstream_call_start (upstream.h), which
 * today builds <upstream url>/v2/<cs_repo>/<cs_path>; a source that is
 * not a registry (a Helm repository's chart URL) needs the upstream
 * layer to take a plain path first.
 */
struct content_source {
	struct config_upstream	*cs_upstream;
	const char		*cs_repo;	/* the repository there */
	const char		*cs_path;	/* below it: "blobs/<digest>" */
};
struct content_fill {
	struct digest			 cf_digest;	/* to verify */
	const char			*cf_repo;	/* linked once committed */
	const char			*cf_registry;	/* metrics label */
	const struct content_source	*cf_sources;	/* in order */
	size_t				 cf_nsources;	/* at most 32 */
	struct req			*cf_req;	/* the client */
	const struct content_handler	*cf_handler;	/* answers it */
	const char			*cf_not_found;	/* "BLOB_UNKNOWN" */
};
/* Start or join the fill of f (copied); answers f->cf_req. */
void	content_fill_start(const struct content_fill *);
/* Fills running in this process (the worker waits for them to end). */
size_t	content_fills(void);

/* What content_range_parse makes of a Range header. */
enum blob_range {
	BLOB_RANGE_WHOLE,	/* none, one ignored, or several */
	BLOB_RANGE_ONE,
	BLOB_RANGE_UNSATISFIABLE
};

/*
 * A Range header (NULL when none) for a blob of size bytes: with
 * BLOB_RANGE_ONE, *first and *last (within the blob) are set. Pure
 * (serve.c).
 */
enum blob_range	content_range_parse(const char *range, off_t size,
		    off_t *first, off_t *last);

#endif /* DEPOT_CONTENT_H */
