/*
 * proxy_blob.c: blobs pulled through upstreams, one fill per digest.
 *
 * The first request in a process for a blob that is not stored creates a
 * fill; later requests for the same digest in the same repository join
 * it as waiters. The fill claims the fetch across processes
 * (blobstore_claim_fetch):
 *  - owner: it asks the upstreams in order with GET; at the first 200 it
 *    records the expected size next to the part file and every waiter
 *    becomes a follower (blob_follow.h) of the growing part file; the
 *    body goes into the part file, hashing as it goes, and is committed
 *    (digest verified) at the end, then linked into the repository. A
 *    short or wrong body commits nothing: followers see the part file go
 *    and close their connections before the end of the body.
 *  - follower: another fill (of this process or another, maybe for
 *    another repository) holds the claim. Once an upstream of this
 *    repository confirmed with a HEAD that it has the blob, the fill polls
 *    for the size the owner records, then its waiters follow the part
 *    file as above; should that fetch fail, the fill claims it once.
 * A blob already stored but not linked in the repository is likewise
 * confirmed with a HEAD upstream before it is linked and served: no
 * repository gets a blob its own upstreams do not have. Waiters that asked
 * for a Range, or whose fill does not know the size, are answered from
 * the committed blob once the fill ends. A HEAD of a blob not stored asks
 * the upstreams with HEAD and caches nothing.
 *
 * The fill does not depend on any client: it goes on (and the blob is
 * cached) when every waiter has left. Fills and waiters are owned by the
 * fill list of this process; a fill is freed from the event loop when
 * its transfer has ended and its waiters are answered.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <event2/http.h>

#include "blob_follow.h"
#include "blobstore.h"
#include "config.h"
#include "digest.h"
#include "http.h"
#include "index.h"
#include "log.h"
#include "metrics.h"
#include "oci.h"
#include "proxy.h"
#include "upstream.h"
#include "xmalloc.h"

enum fill_mode {
	FILL_OWNER,	/* this process fetches (GET) */
	FILL_CONFIRM,	/* stored already: HEAD before linking */
	FILL_FOLLOW,	/* another process fetches */
	FILL_HEAD	/* a client's HEAD: ask, cache nothing */
};

struct blob_waiter {
	TAILQ_ENTRY(blob_waiter) bw_entry;
	struct req		*bw_req;
	char			*bw_repo;	/* to link when served */
	int			 bw_whole;	/* no Range: may follow */
	struct blobstore	*bw_blobs;
	struct index		*bw_index;
	struct digest		 bw_digest;
};
TAILQ_HEAD(blob_waiters, blob_waiter);

struct blob_fill {
	TAILQ_ENTRY(blob_fill)	 bf_entry;
	struct http_context	*bf_ctx;
	enum fill_mode		 bf_mode;
	struct digest		 bf_digest;
	char			*bf_repo;	/* linked on success */
	char			*bf_registry;	/* for metrics */
	char			*bf_image;	/* name below the registry */
	struct config_upstream	*bf_ups[PROXY_UPSTREAMS_MAX];
	size_t			 bf_nups;
	size_t			 bf_next;
	struct config_upstream	*bf_up;		/* being asked */
	struct upstream_call	*bf_call;
	struct blob_writer	*bf_writer;	/* owner: the claimed part */
	off_t			 bf_size;	/* expected, -1 unknown */
	off_t			 bf_written;
	int			 bf_streaming;	/* waiters may follow */
	int			 bf_reclaimed;	/* follower claimed once */
	int			 bf_confirmed;	/* an upstream of ours has it */
	struct event		*bf_timer;	/* follower polling, ends */
	int			 bf_ended;
	int			 bf_ok;
	struct blob_waiters	 bf_waiters;
	struct proxy_outcome	 bf_outcome;
};
TAILQ_HEAD(blob_fills, blob_fill);

static struct blob_fills blob_fills = TAILQ_HEAD_INITIALIZER(blob_fills);
static size_t		 blob_nfills;

static struct blob_fill *blob_fill_find(const struct digest *, const char *);
static struct blob_fill *blob_fill_create(struct oci_request *,
		    enum fill_mode);
static void	blob_fill_claim(struct blob_fill *);
static void	blob_fill_confirmed(struct blob_fill *);
static void	blob_fill_follow(struct blob_fill *);
static void	blob_fill_next(struct blob_fill *);
static int	blob_fill_headers_cb(struct upstream_call *, long, void *);
static int	blob_fill_data_cb(struct upstream_call *, const void *, size_t,
		    void *);
static void	blob_fill_done_cb(struct upstream_call *, enum upstream_result,
		    const char *, void *);
static void	blob_fill_commit(struct blob_fill *);
static void	blob_fill_head_reply(struct blob_fill *, struct upstream_call *);
static void	blob_fill_poll_cb(evutil_socket_t, short, void *);
static void	blob_fill_stream(struct blob_fill *);
static void	blob_fill_end(struct blob_fill *, int);
static void	blob_fill_free(struct blob_fill *);
static void	blob_waiter_add(struct blob_fill *, struct oci_request *);
static int	blob_waiter_follow(struct blob_fill *, struct blob_waiter *);
static void	blob_waiter_followed_cb(int, void *);
static void	blob_waiter_free(struct blob_waiter *);

static const struct upstream_callbacks blob_fill_cbs = {
	blob_fill_headers_cb,
	blob_fill_data_cb,
	blob_fill_done_cb
};

size_t
proxy_blob_fills(void)
{
	return (blob_nfills);
}

void
proxy_blob_pull(struct oci_request *o)
{
	struct http_context	*ctx = http_context(o->or_req);
	struct blob_fill	*bf;
	int			 stored;

	if (http_method(o->or_req) == EVHTTP_REQ_HEAD) {
		bf = blob_fill_create(o, FILL_HEAD);
		blob_fill_next(bf);
		return;
	}
	if ((bf = blob_fill_find(&o->or_path.digest, o->or_path.name)) != NULL) {
		metrics_singleflight_wait(o->or_path.registry);
		blob_waiter_add(bf, o);
		return;
	}
	if ((stored = blobstore_stat(ctx->ctx_blobs, &o->or_path.digest,
	    NULL)) == -1) {
		http_reply_oci_error(o->or_req, 500, "UNKNOWN",
		    "internal error", "cannot read the blob store");
		return;
	}
	bf = blob_fill_create(o, stored ? FILL_CONFIRM : FILL_OWNER);
	blob_waiter_add(bf, o);
	if (stored)
		blob_fill_next(bf);
	else
		blob_fill_claim(bf);
}

static struct blob_fill *
blob_fill_find(const struct digest *d, const char *repo)
{
	struct blob_fill	*bf;

	TAILQ_FOREACH(bf, &blob_fills, bf_entry)
		if (!bf->bf_ended && bf->bf_mode != FILL_HEAD &&
		    digest_equal(&bf->bf_digest, d) &&
		    strcmp(bf->bf_repo, repo) == 0)
			return (bf);
	return (NULL);
}

static struct blob_fill *
blob_fill_create(struct oci_request *o, enum fill_mode mode)
{
	struct blob_fill	*bf;

	bf = xcalloc(1, sizeof(*bf));
	bf->bf_ctx = http_context(o->or_req);
	bf->bf_mode = mode;
	bf->bf_digest = o->or_path.digest;
	bf->bf_repo = xstrdup(o->or_path.name);
	bf->bf_registry = xstrdup(o->or_path.registry);
	bf->bf_image = xstrdup(o->or_path.image);
	bf->bf_nups = proxy_upstreams(o, bf->bf_ups, PROXY_UPSTREAMS_MAX);
	bf->bf_size = -1;
	TAILQ_INIT(&bf->bf_waiters);
	if ((bf->bf_timer = evtimer_new(bf->bf_ctx->ctx_base,
	    blob_fill_poll_cb, bf)) == NULL)
		fatalx("%s: evtimer_new", __func__);
	TAILQ_INSERT_TAIL(&blob_fills, bf, bf_entry);
	blob_nfills++;
	if (mode == FILL_HEAD) {
		/* The HEAD's request rides along as the fill's only waiter. */
		blob_waiter_add(bf, o);
	}
	return (bf);
}

/*
 * Claim the fetch across processes: fetch it here, or follow the process
 * that does, or serve it when it was committed meanwhile.
 */
static void
blob_fill_claim(struct blob_fill *bf)
{
	char		*cause = NULL;
	int		 rv;

	rv = blobstore_claim_fetch(bf->bf_ctx->ctx_blobs, &bf->bf_digest,
	    &bf->bf_writer, &cause);
	if (rv == 0 && !bf->bf_confirmed) {
		/*
		 * Fetched (or stored) for some other repository: our own
		 * upstreams must have it before this one gets it.
		 */
		bf->bf_mode = FILL_CONFIRM;
		bf->bf_next = 0;
		blob_fill_next(bf);
		return;
	}
	if (rv == -1) {
		log_warnx("%s: %s", __func__, cause);
		free(cause);
		proxy_outcome_fail(&bf->bf_outcome, bf->bf_ups[0],
		    "cannot write to the blob store", "other");
		blob_fill_end(bf, 0);
		return;
	}
	if (rv == 1) {
		bf->bf_mode = FILL_OWNER;
		blob_fill_next(bf);
		return;
	}
	if (blobstore_stat(bf->bf_ctx->ctx_blobs, &bf->bf_digest, NULL) == 1) {
		blob_fill_end(bf, 1);
		return;
	}
	blob_fill_follow(bf);
}

/*
 * An upstream of this repository has the blob (HEAD 200): serve it when
 * stored, follow the fetch under way, or fetch it from that upstream.
 */
static void
blob_fill_confirmed(struct blob_fill *bf)
{
	struct blobstore	*bs = bf->bf_ctx->ctx_blobs;

	bf->bf_confirmed = 1;
	if (blobstore_stat(bs, &bf->bf_digest, NULL) == 1)
		blob_fill_end(bf, 1);
	else if (blobstore_fetch_active(bs, &bf->bf_digest))
		blob_fill_follow(bf);
	else {
		bf->bf_next--;		/* GET from the one that said yes */
		blob_fill_claim(bf);
	}
}

/* Another fill (process) fetches the blob: follow its part file. */
static void
blob_fill_follow(struct blob_fill *bf)
{
	struct blob_waiter	*w;
	struct timeval		 tv = { 0, BLOB_FOLLOW_POLL_MS * 1000 };

	bf->bf_mode = FILL_FOLLOW;
	TAILQ_FOREACH(w, &bf->bf_waiters, bw_entry)
		metrics_singleflight_wait(bf->bf_registry);
	evtimer_add(bf->bf_timer, &tv);
}

/* Ask the next upstream, or end the fill when none is left. */
static void
blob_fill_next(struct blob_fill *bf)
{
	char	 ds[DIGEST_STRING_MAX], path[DIGEST_STRING_MAX + 8];

	digest_format(&bf->bf_digest, ds, sizeof(ds));
	(void)snprintf(path, sizeof(path), "blobs/%s", ds);
	while (bf->bf_next < bf->bf_nups) {
		bf->bf_up = bf->bf_ups[bf->bf_next++];
		bf->bf_call = proxy_call(bf->bf_ctx->ctx_fetcher, bf->bf_up,
		    bf->bf_image, bf->bf_mode == FILL_OWNER ? FETCH_GET :
		    FETCH_HEAD, path, NULL, 0, &blob_fill_cbs, bf,
		    &bf->bf_outcome);
		if (bf->bf_call != NULL)
			return;
	}
	blob_fill_end(bf, 0);
}

static int
blob_fill_headers_cb(struct upstream_call *call, long status, void *arg)
{
	struct blob_fill	*bf = arg;

	if (status != 200 || bf->bf_mode != FILL_OWNER)
		return (0);
	bf->bf_size = upstream_call_content_length(call);
	if (bf->bf_size >= 0)
		(void)blobstore_part_size_set(bf->bf_writer, bf->bf_size);
	bf->bf_streaming = 1;
	blob_fill_stream(bf);
	return (0);
}

static int
blob_fill_data_cb(struct upstream_call *call, const void *buf, size_t len,
    void *arg)
{
	struct blob_fill	*bf = arg;

	if (upstream_call_status(call) != 200 || bf->bf_mode != FILL_OWNER)
		return (0);	/* an error page: dropped */
	if (blob_writer_write(bf->bf_writer, buf, len) == -1)
		return (-1);
	bf->bf_written += (off_t)len;
	metrics_upstream_bytes(bf->bf_up->up_key, len);
	if (bf->bf_size >= 0 && bf->bf_written > bf->bf_size)
		return (-1);
	return (0);
}

static void
blob_fill_done_cb(struct upstream_call *call, enum upstream_result result,
    const char *errmsg, void *arg)
{
	struct blob_fill	*bf = arg;
	long			 status;

	bf->bf_call = NULL;
	status = result == UPSTREAM_OK ? upstream_call_status(call) : 0;
	if (bf->bf_streaming) {
		/* The body was on its way: no other upstream can take over. */
		if (result != UPSTREAM_OK) {
			proxy_outcome_note(&bf->bf_outcome, bf->bf_up, result,
			    status, errmsg);
			blob_writer_abort(bf->bf_writer);
			bf->bf_writer = NULL;
			blob_fill_end(bf, 0);
		} else
			blob_fill_commit(bf);
		return;
	}
	if (status != 200) {
		proxy_outcome_note(&bf->bf_outcome, bf->bf_up, result, status,
		    errmsg);
		blob_fill_next(bf);
		return;
	}
	switch (bf->bf_mode) {
	case FILL_HEAD:
		blob_fill_head_reply(bf, call);
		blob_fill_end(bf, 1);
		break;
	case FILL_CONFIRM:
		blob_fill_confirmed(bf);
		break;
	default:
		/* A 200 whose headers were refused: cannot happen. */
		blob_fill_end(bf, 0);
		break;
	}
}

/* The whole body arrived: verify, commit, link. */
static void
blob_fill_commit(struct blob_fill *bf)
{
	char	*cause = NULL, *why;

	if (bf->bf_size >= 0 && bf->bf_written != bf->bf_size) {
		xasprintf(&why, "body of %lld bytes, %lld announced",
		    (long long)bf->bf_written, (long long)bf->bf_size);
		proxy_outcome_fail(&bf->bf_outcome, bf->bf_up, why, "network");
		free(why);
		blob_writer_abort(bf->bf_writer);
		bf->bf_writer = NULL;
		blob_fill_end(bf, 0);
		return;
	}
	if (blob_writer_commit(bf->bf_writer, NULL, NULL, &cause) == -1) {
		bf->bf_writer = NULL;
		xasprintf(&why, "blob not stored: %s", cause);
		proxy_outcome_fail(&bf->bf_outcome, bf->bf_up, why, "digest");
		free(why);
		free(cause);
		blob_fill_end(bf, 0);
		return;
	}
	bf->bf_writer = NULL;
	metrics_cache(bf->bf_registry, "blob", METRICS_CACHE_MISS);
	blob_fill_end(bf, 1);
}

/* A client's HEAD of a blob not stored: the upstream's length. */
static void
blob_fill_head_reply(struct blob_fill *bf, struct upstream_call *call)
{
	struct blob_waiter	*w = TAILQ_FIRST(&bf->bf_waiters);
	char			 ds[DIGEST_STRING_MAX], len[32];
	off_t			 length = upstream_call_content_length(call);

	if (w == NULL)
		return;
	TAILQ_REMOVE(&bf->bf_waiters, w, bw_entry);
	digest_format(&bf->bf_digest, ds, sizeof(ds));
	if (length < 0) {
		http_reply_oci_error(w->bw_req, 503, "UNAVAILABLE",
		    "no upstream could provide it",
		    "the upstream's answer to HEAD lacks the blob's length");
	} else {
		(void)snprintf(len, sizeof(len), "%lld", (long long)length);
		http_header_add(w->bw_req, "Docker-Content-Digest", ds);
		http_header_add(w->bw_req, "Content-Length", len);
		http_reply(w->bw_req, 200, "application/octet-stream", NULL);
	}
	blob_waiter_free(w);
}

/* Follower: watch for the size, the commit, or the end of the fetch. */
static void
blob_fill_poll_cb(evutil_socket_t fd, short events, void *arg)
{
	struct blob_fill	*bf = arg;
	struct blobstore	*bs = bf->bf_ctx->ctx_blobs;
	struct timeval		 tv = { 0, BLOB_FOLLOW_POLL_MS * 1000 };
	off_t			 size;

	(void)fd;
	(void)events;
	if (bf->bf_ended) {
		blob_fill_free(bf);
		return;
	}
	if (blobstore_stat(bs, &bf->bf_digest, NULL) == 1) {
		blob_fill_end(bf, 1);
		return;
	}
	if (!bf->bf_streaming && blobstore_part_size_get(bs, &bf->bf_digest,
	    &size) == 1) {
		bf->bf_size = size;
		bf->bf_streaming = 1;
		blob_fill_stream(bf);
	}
	if (!blobstore_fetch_active(bs, &bf->bf_digest) &&
	    blobstore_stat(bs, &bf->bf_digest, NULL) != 1) {
		if (bf->bf_reclaimed || bf->bf_streaming) {
			proxy_outcome_fail(&bf->bf_outcome, bf->bf_ups[0],
			    "the fetch by another process failed", "other");
			blob_fill_end(bf, 0);
			return;
		}
		bf->bf_reclaimed = 1;
		bf->bf_next = 0;
		blob_fill_claim(bf);
		return;
	}
	if (TAILQ_EMPTY(&bf->bf_waiters) && bf->bf_streaming) {
		/* Everyone follows the part file on its own now. */
		blob_fill_end(bf, 1);
		return;
	}
	evtimer_add(bf->bf_timer, &tv);
}

/* The size is known: every waiter for the whole blob follows the part. */
static void
blob_fill_stream(struct blob_fill *bf)
{
	struct blob_waiter	*w;

	if (bf->bf_size < 0)
		return;
	struct blob_waiters	 left = TAILQ_HEAD_INITIALIZER(left);

	/* Those that cannot follow (a Range) wait for the end. */
	while ((w = TAILQ_FIRST(&bf->bf_waiters)) != NULL) {
		TAILQ_REMOVE(&bf->bf_waiters, w, bw_entry);
		if (!w->bw_whole || blob_waiter_follow(bf, w) == -1)
			TAILQ_INSERT_TAIL(&left, w, bw_entry);
	}
	while ((w = TAILQ_FIRST(&left)) != NULL) {
		TAILQ_REMOVE(&left, w, bw_entry);
		TAILQ_INSERT_TAIL(&bf->bf_waiters, w, bw_entry);
	}
}

/*
 * The fill is over: link on success, answer the waiters still waiting,
 * and free the fill from the event loop.
 */
static void
blob_fill_end(struct blob_fill *bf, int ok)
{
	struct blob_waiter	*w;
	char			 ds[DIGEST_STRING_MAX];

	if (bf->bf_ended)
		return;
	bf->bf_ended = 1;
	bf->bf_ok = ok;
	digest_format(&bf->bf_digest, ds, sizeof(ds));
	if (ok && bf->bf_mode != FILL_HEAD &&
	    index_link_put(bf->bf_ctx->ctx_index, bf->bf_repo, &bf->bf_digest,
	    INDEX_LINK_BLOB) == -1) {
		log_warnx("%s: %s: cannot link %s", __func__, bf->bf_repo, ds);
		ok = 0;
	}
	while ((w = TAILQ_FIRST(&bf->bf_waiters)) != NULL) {
		TAILQ_REMOVE(&bf->bf_waiters, w, bw_entry);
		if (ok && bf->bf_mode != FILL_HEAD) {
			if (index_link_put(w->bw_index, w->bw_repo,
			    &w->bw_digest, INDEX_LINK_BLOB) == -1)
				log_warnx("%s: %s: cannot link %s", __func__,
				    w->bw_repo, ds);
			oci_blob_send(w->bw_req, &bf->bf_digest);
		} else if (bf->bf_outcome.po_errors == NULL &&
		    bf->bf_outcome.po_missing == 0)
			http_reply_oci_error(w->bw_req, 500, "UNKNOWN",
			    "internal error", ds);
		else
			proxy_outcome_reply(&bf->bf_outcome, w->bw_req,
			    "BLOB_UNKNOWN", ds);
		blob_waiter_free(w);
	}
	if (bf->bf_call != NULL) {
		upstream_call_cancel(bf->bf_call);
		bf->bf_call = NULL;
	}
	if (bf->bf_writer != NULL) {
		blob_writer_abort(bf->bf_writer);
		bf->bf_writer = NULL;
	}
	/* The poll callback frees an ended fill, from the loop. */
	event_del(bf->bf_timer);
	event_active(bf->bf_timer, EV_TIMEOUT, 1);
}

static void
blob_fill_free(struct blob_fill *bf)
{
	TAILQ_REMOVE(&blob_fills, bf, bf_entry);
	blob_nfills--;
	event_free(bf->bf_timer);
	proxy_outcome_clear(&bf->bf_outcome);
	free(bf->bf_repo);
	free(bf->bf_registry);
	free(bf->bf_image);
	free(bf);
}

/* A request joins a fill: it follows at once when it can, else waits. */
static void
blob_waiter_add(struct blob_fill *bf, struct oci_request *o)
{
	struct http_context	*ctx = http_context(o->or_req);
	struct blob_waiter	*w;

	w = xcalloc(1, sizeof(*w));
	w->bw_req = o->or_req;
	w->bw_repo = xstrdup(o->or_path.name);
	w->bw_whole = http_header_get(o->or_req, "Range") == NULL;
	w->bw_blobs = ctx->ctx_blobs;
	w->bw_index = ctx->ctx_index;
	w->bw_digest = o->or_path.digest;
	if (bf->bf_streaming && w->bw_whole && blob_waiter_follow(bf, w) == 0)
		return;
	TAILQ_INSERT_TAIL(&bf->bf_waiters, w, bw_entry);
}

/* Stream the part file to w. 0 (w belongs to its follower), or -1. */
static int
blob_waiter_follow(struct blob_fill *bf, struct blob_waiter *w)
{
	if (blob_follow_start(w->bw_req, w->bw_blobs, &bf->bf_digest,
	    bf->bf_size, blob_waiter_followed_cb, w) == NULL)
		return (-1);
	return (0);
}

/* A follower is done: link the blob where this client asked for it. */
static void
blob_waiter_followed_cb(int ok, void *arg)
{
	struct blob_waiter	*w = arg;
	char			 ds[DIGEST_STRING_MAX];

	/* Confirmed for this repository; the client may have left early. */
	(void)ok;
	if (blobstore_stat(w->bw_blobs, &w->bw_digest, NULL) == 1 &&
	    index_link_put(w->bw_index, w->bw_repo, &w->bw_digest,
	    INDEX_LINK_BLOB) == -1) {
		digest_format(&w->bw_digest, ds, sizeof(ds));
		log_warnx("%s: %s: cannot link %s", __func__, w->bw_repo, ds);
	}
	blob_waiter_free(w);
}

static void
blob_waiter_free(struct blob_waiter *w)
{
	free(w->bw_repo);
	free(w);
}
