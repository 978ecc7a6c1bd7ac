/*
 * blob_fill.c: blobs pulled through upstreams, one fill per digest and
 * repository in each process. The entry point, content_fill_start
 * (content.h), takes a digest to verify, the sources to ask in order
 * (an upstream, the repository there and the path below it) and a
 * client to stream to, through its handler's callbacks: nothing here
 * knows which API the client speaks.
 *
 * The first request in a process for a blob not linked in its repository
 * creates a fill; later requests for the same digest in the same
 * repository join it as waiters. A fill is a small state machine (enum
 * fill_state; every change goes through blob_fill_move, which checks it
 * against fill_moves and runs what entering the new state does; the
 * diagram is in docs/architecture.md, "Pulling through upstreams"):
 *  - ASK, STREAM: this fill holds the fetch claim (blobstore_claim_fetch)
 *    and asks the upstreams in order with GET. At the first 200 it
 *    records the expected size and its repository next to the part file,
 *    and every waiter becomes a follower (blob_follow.h) of the growing
 *    part file. Each write wakes the followers of this process
 *    (blob_follow_wake); the part file is written back to the disk in a
 *    thread every FILL_FLUSH_STEP bytes. At the end of the body its
 *    digest (hashed as it came) is verified on the loop; verified, the
 *    followers of this process are told (blob_follow_verified) and send
 *    the held-back tail from that very file at once, and the commit (its
 *    fsync, the link into blobs/) runs in a thread (offload.h), the fill
 *    staying in STREAM (or VERIFY) until it is done: the loop never
 *    waits for the disk, and clients of this process do not wait for the
 *    commit (followers in other processes still do). A transfer that
 *    fails, is too slow (min_speed, see fetch.h) or does not verify
 *    drops the part file (its followers are cut before the end of the
 *    body) and the fill claims a new one and goes on with the next
 *    upstream; so does a commit that fails after the verification (the
 *    clients already sent the verified bytes keep them), and nothing is
 *    linked: the repository is linked only once the blob is committed.
 *  - WAIT, CONFIRM, FOLLOW: another fill (of this process or another)
 *    holds the claim. Once its size and repository are known: a fetch for
 *    this same repository is followed at once; one for a repository that
 *    anyone may read anonymously is followed once an upstream of ours
 *    confirmed with a HEAD that it has the blob; any other is not
 *    followed (VERIFY). Should that fetch end without a blob, the fill
 *    claims it once.
 *  - VERIFY: content stored (or being fetched) for another repository is
 *    not served here on an upstream's word: the fill GETs the blob from
 *    its own upstreams into a temp file of its own and verifies the
 *    digest; only then is the blob linked and served. A HEAD is no proof.
 *  - HEAD: a client's HEAD of a blob not linked asks the upstreams with
 *    HEAD and caches nothing.
 * A repository is linked to the blob only when the fill ends in DONE, and
 * DONE is only entered once the blob is committed. Waiters that asked for
 * a Range, or whose fill does not know the size, are answered from the
 * committed blob once the fill ends.
 *
 * The fill does not depend on any client: it goes on (and the blob is
 * cached) when every waiter has left. Fills and waiters are owned by the
 * fill list of this process; a fill is freed from the event loop once it
 * has ended (DONE or FAILED) and its waiters are answered.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/http.h>

#include "access/access.h"
#include "content/blob_follow.h"
#include "store/blobstore.h"
#include "store/evict.h"
#include "store/space.h"
#include "conf/config.h"
#include "lib/digest.h"
#include "http/http.h"
#include "store/gc.h"
#include "store/index.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "content/content.h"
#include "lib/offload.h"
#include "content/upstreams.h"
#include "upstream/upstream.h"
#include "lib/xmalloc.h"

enum fill_state {
	FILL_START,	/* created, nothing asked yet */
	FILL_HEAD,	/* a client's HEAD: HEAD the upstreams, cache nothing */
	FILL_ASK,	/* claimed: GET from the next upstream, no body yet */
	FILL_STREAM,	/* claimed: a 200 body goes into the part file */
	FILL_WAIT,	/* another fill fetches: wait for its size, owner */
	FILL_CONFIRM,	/* it fetches for a public repository: HEAD ours */
	FILL_FOLLOW,	/* its bytes may be served here: waiters follow */
	FILL_VERIFY,	/* GET into a temp file of our own, verify */
	FILL_DONE,	/* committed and linked: waiters served */
	FILL_FAILED,	/* no upstream delivered: waiters get the outcome */
	FILL_NSTATES
};

#define FILL_BIT(s)	(1U << (s))

/* A writer's bytes are written back to the disk by this many at least. */
#define FILL_FLUSH_STEP	(4 * 1024 * 1024)

/* The moves allowed from each state (see docs/architecture.md). */
static const unsigned fill_moves[FILL_NSTATES] = {
	[FILL_START] = FILL_BIT(FILL_HEAD) | FILL_BIT(FILL_ASK) |
	    FILL_BIT(FILL_WAIT) | FILL_BIT(FILL_VERIFY) | FILL_BIT(FILL_FAILED),
	[FILL_HEAD] = FILL_BIT(FILL_DONE) | FILL_BIT(FILL_FAILED),
	[FILL_ASK] = FILL_BIT(FILL_STREAM) | FILL_BIT(FILL_FAILED),
	[FILL_STREAM] = FILL_BIT(FILL_DONE) | FILL_BIT(FILL_ASK) |
	    FILL_BIT(FILL_WAIT) | FILL_BIT(FILL_VERIFY) | FILL_BIT(FILL_FAILED),
	[FILL_WAIT] = FILL_BIT(FILL_FOLLOW) | FILL_BIT(FILL_CONFIRM) |
	    FILL_BIT(FILL_VERIFY) | FILL_BIT(FILL_ASK) | FILL_BIT(FILL_WAIT) |
	    FILL_BIT(FILL_FAILED),
	[FILL_CONFIRM] = FILL_BIT(FILL_FOLLOW) | FILL_BIT(FILL_DONE) |
	    FILL_BIT(FILL_ASK) | FILL_BIT(FILL_WAIT) | FILL_BIT(FILL_VERIFY) |
	    FILL_BIT(FILL_FAILED),
	[FILL_FOLLOW] = FILL_BIT(FILL_DONE) | FILL_BIT(FILL_ASK) |
	    FILL_BIT(FILL_WAIT) | FILL_BIT(FILL_VERIFY) | FILL_BIT(FILL_FAILED),
	[FILL_VERIFY] = FILL_BIT(FILL_DONE) | FILL_BIT(FILL_FAILED),
	[FILL_DONE] = 0,
	[FILL_FAILED] = 0
};

static const char *const fill_names[FILL_NSTATES] = {
	"start", "head", "ask", "stream", "wait", "confirm", "follow",
	"verify", "done", "failed"
};

struct blob_waiter {
	TAILQ_ENTRY(blob_waiter) wt_entry;
	struct req		*wt_req;
	const struct content_handler *wt_handler;
	int			 wt_whole;	/* no Range: may follow */
	struct blobstore	*wt_blobs;
};
TAILQ_HEAD(blob_waiters, blob_waiter);

struct blob_fill {
	TAILQ_ENTRY(blob_fill)	 bf_entry;
	struct http_context	*bf_ctx;
	enum fill_state		 bf_state;
	struct digest		 bf_digest;
	char			*bf_repo;	/* linked on success */
	char			*bf_registry;	/* for metrics */
	const char		*bf_not_found;	/* the code when all say 404 */
	struct blob_source {
		struct config_upstream	*bs_up;
		char			*bs_repo;
		char			*bs_path;
	}			 bf_srcs[CONTENT_UPSTREAMS_MAX];
	size_t			 bf_nsrcs;
	size_t			 bf_next;
	struct config_upstream	*bf_up;		/* being asked */
	struct upstream_call	*bf_call;
	struct blob_writer	*bf_writer;	/* the claimed part, or VERIFY's */
	off_t			 bf_size;	/* expected, -1 unknown */
	off_t			 bf_written;
	int			 bf_reclaims;	/* claims after another's fetch */
	int			 bf_part_fd;	/* CONFIRM, FOLLOW: its part file */
	struct event		*bf_timer;	/* WAIT, FOLLOW polling; free */
	struct blob_flush	*bf_flush;	/* being written back */
	struct blob_commit	*bf_commit;	/* being committed */
	struct blob_waiters	 bf_waiters;
	struct content_outcome	 bf_outcome;
};
TAILQ_HEAD(blob_fills, blob_fill);

/*
 * The commit of a fill's writer (STREAM, VERIFY), done in a thread: only
 * these fields are the thread's; the fill waits in its state meanwhile.
 */
struct blob_commit {
	struct blob_fill	*bc_fill;
	struct blob_writer	*bc_writer;
	struct digest		 bc_digest;
	int			 bc_result;	/* 0, or -1 */
	char			*bc_cause;
	struct blob_follow_mark	*bc_mark;	/* the loop's: verified part */
};

static struct blob_fills blob_fills = TAILQ_HEAD_INITIALIZER(blob_fills);
static size_t		 blob_nfills;

static struct blob_fill *blob_fill_find(const struct digest *, const char *);
static struct blob_fill *blob_fill_create(const struct content_fill *);
static void	blob_fill_move(struct blob_fill *, enum fill_state);
static int	blob_fill_ended(const struct blob_fill *);
static void	blob_fill_claim(struct blob_fill *);
static void	blob_fill_owner(struct blob_fill *, const char *);
static int	blob_fill_public(struct blob_fill *, const char *);
static void	blob_fill_confirmed(struct blob_fill *);
static void	blob_fill_committed(struct blob_fill *);
static void	blob_fill_reclaim(struct blob_fill *);
static int	blob_fill_learn(struct blob_fill *, char *, size_t);
static void	blob_fill_next(struct blob_fill *);
static void	blob_fill_retry(struct blob_fill *);
static void	blob_fill_fail(struct blob_fill *, const char *, const char *);
static int	blob_fill_headers_cb(struct upstream_call *, long, void *);
static int	blob_fill_data_cb(struct upstream_call *, const void *, size_t,
		    void *);
static void	blob_fill_done_cb(struct upstream_call *, enum upstream_result,
		    const char *, void *);
static void	blob_fill_body_end(struct blob_fill *);
static void	blob_fill_commit_work(void *);
static void	blob_fill_commit_done(void *);
static void	blob_fill_flush(struct blob_fill *);
static void	blob_fill_flush_work(void *);
static void	blob_fill_flush_done(void *);
static void	blob_fill_head_reply(struct blob_fill *, struct upstream_call *);
static void	blob_fill_poll_cb(evutil_socket_t, short, void *);
static void	blob_fill_poll(struct blob_fill *);
static void	blob_fill_stream(struct blob_fill *);
static void	blob_fill_end(struct blob_fill *, enum fill_state);
static int	blob_fill_uncached(struct blob_fill *);
static void	blob_fill_linked(struct blob_fill *);
static void	blob_fill_free(struct blob_fill *);
static const char *blob_fill_upstream(const struct blob_fill *);
static void	blob_waiter_add(struct blob_fill *, struct req *,
		    const struct content_handler *);
static int	blob_waiter_follow(struct blob_fill *, struct blob_waiter *);
static void	blob_waiter_followed_cb(int, void *);
static void	blob_waiter_free(struct blob_waiter *);

static const struct upstream_callbacks blob_fill_cbs = {
	blob_fill_headers_cb,
	blob_fill_data_cb,
	blob_fill_done_cb
};

size_t
content_fills(void)
{
	return (blob_nfills);
}

void
content_fill_start(const struct content_fill *f)
{
	struct http_context	*ctx = http_context(f->cf_req);
	struct blob_fill	*bf;
	int			 stored;

	if (http_method(f->cf_req) == EVHTTP_REQ_HEAD) {
		bf = blob_fill_create(f);
		/* The HEAD's request rides along as the fill's only waiter. */
		blob_waiter_add(bf, f->cf_req, f->cf_handler);
		blob_fill_move(bf, FILL_HEAD);
		return;
	}
	if ((bf = blob_fill_find(&f->cf_digest, f->cf_repo)) != NULL) {
		metrics_singleflight_wait(f->cf_registry);
		blob_waiter_add(bf, f->cf_req, f->cf_handler);
		return;
	}
	if ((stored = blobstore_stat(ctx->ctx_blobs, &f->cf_digest,
	    NULL)) == -1) {
		content_fail(f->cf_handler, f->cf_req, 500, "UNKNOWN",
		    "internal error", "cannot read the blob store");
		return;
	}
	bf = blob_fill_create(f);
	blob_waiter_add(bf, f->cf_req, f->cf_handler);
	/* Stored, and so not linked here: stored for another repository. */
	if (stored)
		blob_fill_move(bf, FILL_VERIFY);
	else
		blob_fill_claim(bf);
}

static struct blob_fill *
blob_fill_find(const struct digest *d, const char *repo)
{
	struct blob_fill	*bf;

	TAILQ_FOREACH(bf, &blob_fills, bf_entry)
		if (!blob_fill_ended(bf) && bf->bf_state != FILL_HEAD &&
		    digest_equal(&bf->bf_digest, d) &&
		    strcmp(bf->bf_repo, repo) == 0)
			return (bf);
	return (NULL);
}

static struct blob_fill *
blob_fill_create(const struct content_fill *f)
{
	struct blob_fill	*bf;
	size_t			 i;

	bf = xcalloc(1, sizeof(*bf));
	bf->bf_ctx = http_context(f->cf_req);
	bf->bf_state = FILL_START;
	bf->bf_digest = f->cf_digest;
	bf->bf_repo = xstrdup(f->cf_repo);
	bf->bf_registry = xstrdup(f->cf_registry);
	bf->bf_not_found = f->cf_not_found;
	for (i = 0; i < f->cf_nsources && i < CONTENT_UPSTREAMS_MAX; i++) {
		bf->bf_srcs[i].bs_up = f->cf_sources[i].cs_upstream;
		bf->bf_srcs[i].bs_repo = xstrdup(f->cf_sources[i].cs_repo);
		bf->bf_srcs[i].bs_path = xstrdup(f->cf_sources[i].cs_path);
	}
	bf->bf_nsrcs = i;
	bf->bf_size = -1;
	bf->bf_part_fd = -1;
	TAILQ_INIT(&bf->bf_waiters);
	if ((bf->bf_timer = evtimer_new(bf->bf_ctx->ctx_base,
	    blob_fill_poll_cb, bf)) == NULL)
		fatalx("%s: evtimer_new", __func__);
	TAILQ_INSERT_TAIL(&blob_fills, bf, bf_entry);
	blob_nfills++;
	return (bf);
}

/*
 * The one place a fill changes state: check the move, then do what
 * entering the new state does (which may move on again).
 */
static void
blob_fill_move(struct blob_fill *bf, enum fill_state to)
{
	enum fill_state		 from = bf->bf_state;
	struct timeval		 tv = { 0, BLOB_FOLLOW_POLL_MS * 1000 };
	struct blob_waiter	*w;
	char			 ds[DIGEST_STRING_MAX];

	if ((fill_moves[from] & FILL_BIT(to)) == 0)
		fatalx("%s: fill %s -> %s", __func__, fill_names[from],
		    fill_names[to]);
	digest_format(&bf->bf_digest, ds, sizeof(ds));
	log_debug("%s: %s %s: %s -> %s", __func__, bf->bf_repo, ds,
	    fill_names[from], fill_names[to]);
	bf->bf_state = to;
	if (to != FILL_CONFIRM && to != FILL_FOLLOW && bf->bf_part_fd != -1) {
		close(bf->bf_part_fd);
		bf->bf_part_fd = -1;
	}
	switch (to) {
	case FILL_HEAD:
	case FILL_ASK:
		blob_fill_next(bf);
		break;
	case FILL_STREAM:
		blob_fill_stream(bf);
		break;
	case FILL_WAIT:
		if (from == FILL_START)
			TAILQ_FOREACH(w, &bf->bf_waiters, wt_entry)
				metrics_singleflight_wait(bf->bf_registry);
		evtimer_add(bf->bf_timer, &tv);
		break;
	case FILL_CONFIRM:
		bf->bf_next = 0;
		blob_fill_next(bf);
		break;
	case FILL_FOLLOW:
		blob_fill_stream(bf);
		evtimer_add(bf->bf_timer, &tv);
		break;
	case FILL_VERIFY:
		bf->bf_next = 0;
		bf->bf_size = -1;
		blob_fill_next(bf);
		break;
	case FILL_DONE:
	case FILL_FAILED:
		blob_fill_end(bf, from);
		break;
	case FILL_START:
	case FILL_NSTATES:
		fatalx("%s: bad state %d", __func__, (int)to);
	}
}

static int
blob_fill_ended(const struct blob_fill *bf)
{
	return (bf->bf_state == FILL_DONE || bf->bf_state == FILL_FAILED);
}

/*
 * Claim the fetch across processes: fetch it here (ASK), wait for the
 * fill that does (WAIT), or, when it was committed meanwhile by a fetch
 * we cannot vouch for, fetch it to verify (VERIFY).
 */
static void
blob_fill_claim(struct blob_fill *bf)
{
	char		*cause = NULL;
	int		 rv;

	rv = blobstore_claim_fetch(bf->bf_ctx->ctx_blobs, &bf->bf_digest,
	    &bf->bf_writer, &cause);
	if (rv == -1) {
		log_warnx("%s: %s", __func__, cause);
		free(cause);
		blob_fill_fail(bf, "cannot write to the blob store", "other");
		blob_fill_move(bf, FILL_FAILED);
	} else if (rv == 1) {
		bf->bf_size = -1;
		bf->bf_written = 0;
		blob_fill_move(bf, FILL_ASK);
	} else if (blobstore_stat(bf->bf_ctx->ctx_blobs, &bf->bf_digest,
	    NULL) == 1)
		blob_fill_move(bf, FILL_VERIFY);
	else
		blob_fill_move(bf, FILL_WAIT);
}

/*
 * WAIT learnt the size and the repository (owner) of the fetch under
 * way: follow it when its bytes may be served here, else fetch our own.
 */
static void
blob_fill_owner(struct blob_fill *bf, const char *owner)
{
	if (strcmp(owner, bf->bf_repo) == 0)
		blob_fill_move(bf, FILL_FOLLOW);
	else if (blob_fill_public(bf, owner))
		blob_fill_move(bf, FILL_CONFIRM);
	else
		blob_fill_move(bf, FILL_VERIFY);
}

/* 1 when anyone, signed in or not, may pull from repo's registry. */
static int
blob_fill_public(struct blob_fill *bf, const char *repo)
{
	if (bf->bf_ctx->ctx_access == NULL)
		return (1);
	return ((access_policy(bf->bf_ctx->ctx_config, repo, "") &
	    ACCESS_PULL) != 0);
}

/*
 * An upstream of ours has the blob (HEAD 200) that a fill for a public
 * repository fetches: serve it when committed, follow the fetch under
 * way, or fetch it from that upstream when the fetch ended without it.
 */
static void
blob_fill_confirmed(struct blob_fill *bf)
{
	struct blobstore	*bs = bf->bf_ctx->ctx_blobs;

	if (blobstore_stat(bs, &bf->bf_digest, NULL) == 1)
		blob_fill_committed(bf);
	else if (blobstore_fetch_active(bs, &bf->bf_digest))
		blob_fill_move(bf, FILL_FOLLOW);
	else {
		bf->bf_next--;		/* GET from the one that said yes */
		bf->bf_reclaims++;
		blob_fill_claim(bf);
	}
}

/*
 * The blob was committed while we followed (or confirmed) a fetch: ours
 * to link only when it is the part file of that fetch.
 */
static void
blob_fill_committed(struct blob_fill *bf)
{
	if (bf->bf_part_fd != -1 && blobstore_same_file(bf->bf_ctx->ctx_blobs,
	    &bf->bf_digest, bf->bf_part_fd, 0))
		blob_fill_move(bf, FILL_DONE);
	else
		blob_fill_move(bf, FILL_VERIFY);
}

/* The fetch we waited for or followed ended without a blob. */
static void
blob_fill_reclaim(struct blob_fill *bf)
{
	if (bf->bf_reclaims++ > 0) {
		blob_fill_fail(bf, "the fetch by another process failed",
		    "other");
		blob_fill_move(bf, FILL_FAILED);
		return;
	}
	bf->bf_next = 0;
	blob_fill_claim(bf);
}

/* Ask the next upstream (HEAD or GET as the state wants), or fail. */
static void
blob_fill_next(struct blob_fill *bf)
{
	struct blob_source	*src;
	enum fetch_method	 method;

	method = bf->bf_state == FILL_ASK || bf->bf_state == FILL_VERIFY ?
	    FETCH_GET : FETCH_HEAD;
	while (bf->bf_next < bf->bf_nsrcs) {
		src = &bf->bf_srcs[bf->bf_next++];
		bf->bf_up = src->bs_up;
		bf->bf_call = content_call_repo(bf->bf_ctx->ctx_fetcher,
		    bf->bf_up, src->bs_repo, method, src->bs_path, NULL, 0,
		    &blob_fill_cbs, bf, &bf->bf_outcome);
		if (bf->bf_call != NULL)
			return;
	}
	blob_fill_move(bf, FILL_FAILED);
}

/*
 * A GET's body failed (cut, too slow, too long, wrong digest): drop what
 * was written and go on with the next upstream. In STREAM that drops the
 * part file, whose followers are cut, and claims a new one.
 */
static void
blob_fill_retry(struct blob_fill *bf)
{
	blob_writer_abort(bf->bf_writer);
	bf->bf_writer = NULL;
	blob_follow_wake(&bf->bf_digest);
	bf->bf_size = -1;
	bf->bf_written = 0;
	if (bf->bf_state == FILL_STREAM) {
		if (bf->bf_next >= bf->bf_nsrcs)
			blob_fill_move(bf, FILL_FAILED);
		else
			blob_fill_claim(bf);
	} else
		blob_fill_next(bf);
}

/* Note a failure of our own making against the upstream being asked. */
static void
blob_fill_fail(struct blob_fill *bf, const char *why, const char *metric)
{
	struct config_upstream	*up = bf->bf_up;

	if (up == NULL && bf->bf_nsrcs > 0)
		up = bf->bf_srcs[0].bs_up;
	if (up != NULL)
		content_outcome_fail(&bf->bf_outcome, up, why, metric);
	else
		bf->bf_outcome.po_failed++;
}

static int
blob_fill_headers_cb(struct upstream_call *call, long status, void *arg)
{
	struct blob_fill	*bf = arg;
	char			*cause = NULL;
	char			 ds[DIGEST_STRING_MAX];

	if (status != 200)
		return (0);
	if ((bf->bf_state == FILL_VERIFY || bf->bf_state == FILL_ASK) &&
	    upstream_call_content_length(call) < 0) {
		/* Unbounded: it could fill the disk and keep clients waiting. */
		digest_format(&bf->bf_digest, ds, sizeof(ds));
		log_warnx("upstream %s: blob %s comes without a length; "
		    "refused", bf->bf_up->up_key, ds);
		return (-1);
	}
	if (bf->bf_state == FILL_VERIFY) {
		bf->bf_size = upstream_call_content_length(call);
		bf->bf_written = 0;
		if ((bf->bf_writer = blob_writer_create(bf->bf_ctx->ctx_blobs,
		    bf->bf_digest.alg, &cause)) == NULL) {
			log_warnx("%s: %s", __func__, cause);
			free(cause);
			return (-1);
		}
		return (0);
	}
	if (bf->bf_state != FILL_ASK)
		return (0);
	bf->bf_size = upstream_call_content_length(call);
	if (bf->bf_size >= 0)
		(void)blobstore_part_size_set(bf->bf_writer, bf->bf_size,
		    bf->bf_repo);
	blob_fill_move(bf, FILL_STREAM);
	return (0);
}

static int
blob_fill_data_cb(struct upstream_call *call, const void *buf, size_t len,
    void *arg)
{
	struct blob_fill	*bf = arg;

	if (upstream_call_status(call) != 200 || bf->bf_writer == NULL ||
	    (bf->bf_state != FILL_STREAM && bf->bf_state != FILL_VERIFY))
		return (0);	/* an error page: dropped */
	if (blob_writer_write(bf->bf_writer, buf, len) == -1)
		return (-1);
	bf->bf_written += (off_t)len;
	metrics_upstream_bytes(bf->bf_up->up_key, len);
	if (bf->bf_size >= 0 && bf->bf_written > bf->bf_size)
		return (-1);
	blob_fill_flush(bf);
	if (bf->bf_state == FILL_STREAM)
		blob_follow_wake(&bf->bf_digest);
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
	if (bf->bf_writer != NULL && (bf->bf_state == FILL_STREAM ||
	    bf->bf_state == FILL_VERIFY)) {
		/* A 200 body was on its way. */
		if (result != UPSTREAM_OK) {
			content_outcome_note(&bf->bf_outcome, bf->bf_up, result,
			    status, errmsg);
			blob_fill_retry(bf);
		} else
			blob_fill_body_end(bf);
		return;
	}
	if (status != 200) {
		content_outcome_note(&bf->bf_outcome, bf->bf_up, result, status,
		    errmsg);
		blob_fill_next(bf);
		return;
	}
	switch (bf->bf_state) {
	case FILL_HEAD:
		blob_fill_head_reply(bf, call);
		blob_fill_move(bf, FILL_DONE);
		break;
	case FILL_CONFIRM:
		blob_fill_confirmed(bf);
		break;
	default:
		/* A 200 whose body had nowhere to go: cannot happen. */
		blob_fill_fail(bf, "internal error", "other");
		blob_fill_move(bf, FILL_FAILED);
		break;
	}
}

/*
 * The whole body arrived: verify its digest here (the hash was computed
 * as it came, only its end is left), or retry. Verified, the part file's
 * followers in this process are told so (STREAM) and send the held-back
 * tail at once; then a thread commits it (fsync, link into blobs/).
 */
static void
blob_fill_body_end(struct blob_fill *bf)
{
	struct blob_commit	*bc;
	char			*why, *cause = NULL, ds[DIGEST_STRING_MAX];

	if (bf->bf_size >= 0 && bf->bf_written != bf->bf_size) {
		xasprintf(&why, "body of %lld bytes, %lld announced",
		    (long long)bf->bf_written, (long long)bf->bf_size);
		blob_fill_fail(bf, why, "network");
		free(why);
		blob_fill_retry(bf);
		return;
	}
	if (blob_writer_verify(bf->bf_writer, &bf->bf_digest, &cause) == -1) {
		xasprintf(&why, "blob not stored: %s", cause != NULL ? cause :
		    "verification failed");
		free(cause);
		blob_fill_fail(bf, why, "digest");
		free(why);
		blob_fill_retry(bf);
		return;
	}
	bc = xcalloc(1, sizeof(*bc));
	bc->bc_fill = bf;
	bc->bc_writer = bf->bf_writer;
	bc->bc_digest = bf->bf_digest;
	digest_format(&bf->bf_digest, ds, sizeof(ds));
	log_debug("%s: %s %s: %lld bytes verified", __func__, bf->bf_repo, ds,
	    (long long)bf->bf_written);
	/* Before the thread owns the writer: its descriptor is still open. */
	if (bf->bf_state == FILL_STREAM)
		bc->bc_mark = blob_follow_verified(&bf->bf_digest,
		    blob_writer_fd(bf->bf_writer));
	bf->bf_writer = NULL;
	bf->bf_commit = bc;
	log_debug("%s: %s %s: committing %lld bytes in a thread", __func__,
	    bf->bf_repo, ds, (long long)bf->bf_written);
	offload_run(bf->bf_ctx->ctx_base, blob_fill_commit_work,
	    blob_fill_commit_done, bc);
}

/*
 * In the thread: fsync, link into blobs/ (blob_writer_commit finds the
 * digest verified already). Only bc's writer and result are touched.
 */
static void
blob_fill_commit_work(void *arg)
{
	struct blob_commit	*bc = arg;

	offload_test_hold();
	bc->bc_result = blob_writer_commit(bc->bc_writer, &bc->bc_digest,
	    NULL, &bc->bc_cause);
	bc->bc_writer = NULL;	/* freed either way */
}

/* On the loop: the commit is over; DONE, or on with the next upstream. */
static void
blob_fill_commit_done(void *arg)
{
	struct blob_commit	*bc = arg;
	struct blob_fill	*bf = bc->bc_fill;
	struct digest		 d = bf->bf_digest;
	char			*why;

	bf->bf_commit = NULL;
	/* Followers that learnt of it finish from the file they hold. */
	blob_follow_verified_drop(bc->bc_mark);
	if (bc->bc_result == -1) {
		/* Verified, but not stored: the disk, not the upstream. */
		xasprintf(&why, "blob not stored: %s", bc->bc_cause != NULL ?
		    bc->bc_cause : "commit failed");
		blob_fill_fail(bf, why, "other");
		free(why);
		blob_fill_retry(bf);
	} else {
		metrics_cache(bf->bf_registry, "blob", METRICS_CACHE_MISS);
		blob_fill_move(bf, FILL_DONE);
	}
	free(bc->bc_cause);
	free(bc);
	/* The followers here send the tail now, not at their next poll. */
	blob_follow_wake(&d);
}

/*
 * Write the part (or VERIFY's temp file) back to the disk in a thread as
 * it grows, one job at a time, so that the commit's fsync is short.
 */
static void
blob_fill_flush(struct blob_fill *bf)
{
	if (bf->bf_flush != NULL || (bf->bf_flush =
	    blob_writer_flush_prepare(bf->bf_writer, FILL_FLUSH_STEP)) == NULL)
		return;
	offload_run(bf->bf_ctx->ctx_base, blob_fill_flush_work,
	    blob_fill_flush_done, bf);
}

/* In the thread: only bf_flush, which the loop leaves alone meanwhile. */
static void
blob_fill_flush_work(void *arg)
{
	struct blob_fill	*bf = arg;

	blob_flush_run(bf->bf_flush);
}

/* On the loop: the next flush may start; an ended fill may be freed. */
static void
blob_fill_flush_done(void *arg)
{
	struct blob_fill	*bf = arg;

	blob_flush_free(bf->bf_flush);
	bf->bf_flush = NULL;
	if (blob_fill_ended(bf))
		event_active(bf->bf_timer, EV_TIMEOUT, 1);
}

/* A client's HEAD of a blob not linked: the upstream's length. */
static void
blob_fill_head_reply(struct blob_fill *bf, struct upstream_call *call)
{
	struct blob_waiter	*w = TAILQ_FIRST(&bf->bf_waiters);
	char			 ds[DIGEST_STRING_MAX], len[32];
	off_t			 length = upstream_call_content_length(call);

	if (w == NULL)
		return;
	TAILQ_REMOVE(&bf->bf_waiters, w, wt_entry);
	digest_format(&bf->bf_digest, ds, sizeof(ds));
	if (length < 0) {
		content_fail(w->wt_handler, w->wt_req, 503, "UNAVAILABLE",
		    "no upstream could provide it",
		    "the upstream's answer to HEAD lacks the blob's length");
	} else {
		(void)snprintf(len, sizeof(len), "%lld", (long long)length);
		http_header_add(w->wt_req, "Docker-Content-Digest", ds);
		http_header_add(w->wt_req, "Content-Length", len);
		http_reply(w->wt_req, 200, "application/octet-stream", NULL);
	}
	blob_waiter_free(w);
}

/* The timer: free an ended fill, or poll another's fetch (WAIT, FOLLOW). */
static void
blob_fill_poll_cb(evutil_socket_t fd, short events, void *arg)
{
	struct blob_fill	*bf = arg;
	struct timeval		 tv = { 0, BLOB_FOLLOW_POLL_MS * 1000 };

	(void)fd;
	(void)events;
	if (blob_fill_ended(bf)) {
		/* A job in a thread still points here: its end frees it. */
		if (bf->bf_flush == NULL && bf->bf_commit == NULL)
			blob_fill_free(bf);
		return;
	}
	if (bf->bf_state != FILL_WAIT && bf->bf_state != FILL_FOLLOW)
		return;
	blob_fill_poll(bf);
	if ((bf->bf_state == FILL_WAIT || bf->bf_state == FILL_FOLLOW) &&
	    !evtimer_pending(bf->bf_timer, NULL))
		evtimer_add(bf->bf_timer, &tv);
}

/* Watch another fill's fetch: its size and owner, its commit, its end. */
static void
blob_fill_poll(struct blob_fill *bf)
{
	struct blobstore	*bs = bf->bf_ctx->ctx_blobs;
	char			 owner[BLOBSTORE_OWNER_MAX + 1];
	int			 stored;

	stored = blobstore_stat(bs, &bf->bf_digest, NULL);
	if (stored == 1) {
		/* In WAIT: committed before we learnt for whom. */
		blob_fill_committed(bf);
		return;
	}
	if (bf->bf_state == FILL_WAIT && blob_fill_learn(bf, owner,
	    sizeof(owner)) == 1) {
		blob_fill_owner(bf, owner);
		return;
	}
	if (!blobstore_fetch_active(bs, &bf->bf_digest)) {
		if (blobstore_stat(bs, &bf->bf_digest, NULL) != 1)
			blob_fill_reclaim(bf);
		return;
	}
	if (bf->bf_state == FILL_FOLLOW && !blobstore_same_file(bs,
	    &bf->bf_digest, bf->bf_part_fd, 1)) {
		/* Committed just now, or its owner fetches anew. */
		if (blobstore_stat(bs, &bf->bf_digest, NULL) == 1)
			blob_fill_committed(bf);
		else {
			bf->bf_size = -1;
			blob_fill_move(bf, FILL_WAIT);
		}
	}
}

/*
 * The size and the owner of the fetch under way, and its part file kept
 * open (bf_part_fd), all of one fetch: the part file is opened first and
 * must still be the one at its path after the side file was read (a new
 * claim replaces the part file only after dropping the old side file).
 * 1 when known, else 0.
 */
static int
blob_fill_learn(struct blob_fill *bf, char *owner, size_t len)
{
	struct blobstore	*bs = bf->bf_ctx->ctx_blobs;
	off_t			 size;
	int			 fd;

	if (blobstore_part_open(bs, &bf->bf_digest, &fd) == -1)
		return (0);
	if (blobstore_part_size_get(bs, &bf->bf_digest, &size, owner,
	    len) != 1 || !blobstore_same_file(bs, &bf->bf_digest, fd, 1)) {
		close(fd);
		return (0);
	}
	bf->bf_size = size;
	bf->bf_part_fd = fd;
	return (1);
}

/* The size is known: every waiter for the whole blob follows the part. */
static void
blob_fill_stream(struct blob_fill *bf)
{
	struct blob_waiters	 left = TAILQ_HEAD_INITIALIZER(left);
	struct blob_waiter	*w;

	if (bf->bf_size < 0)
		return;
	/* Those that cannot follow (a Range) wait for the end. */
	while ((w = TAILQ_FIRST(&bf->bf_waiters)) != NULL) {
		TAILQ_REMOVE(&bf->bf_waiters, w, wt_entry);
		if (!w->wt_whole || blob_waiter_follow(bf, w) == -1)
			TAILQ_INSERT_TAIL(&left, w, wt_entry);
	}
	while ((w = TAILQ_FIRST(&left)) != NULL) {
		TAILQ_REMOVE(&left, w, wt_entry);
		TAILQ_INSERT_TAIL(&bf->bf_waiters, w, wt_entry);
	}
}

/*
 * Linked: record the pull, and count the blob in its upstream's cache;
 * over a limit, ask the master for an eviction run (evictor.h).
 */
static void
blob_fill_linked(struct blob_fill *bf)
{
	struct config_server	*srv = &bf->bf_ctx->ctx_config->cf_server;
	struct config_upstream	*up;
	const char		*key = blob_fill_upstream(bf);
	uint64_t		 mine, all;
	off_t			 size = 0;

	content_pull_record(bf->bf_ctx->ctx_index, bf->bf_repo,
	    &bf->bf_digest);
	if (key == NULL || (up = config_upstream_find(bf->bf_ctx->ctx_config,
	    key)) == NULL || (up->up_max_cache_bytes == 0 &&
	    srv->srv_cache_max_bytes == 0) ||
	    blobstore_stat(bf->bf_ctx->ctx_blobs, &bf->bf_digest, &size) != 1)
		return;
	mine = metrics_cache_bytes_add(key, (uint64_t)size);
	all = metrics_cache_bytes_add(NULL, (uint64_t)size);
	if ((up->up_max_cache_bytes > 0 &&
	    mine > (uint64_t)up->up_max_cache_bytes) ||
	    (srv->srv_cache_max_bytes > 0 &&
	    all > (uint64_t)srv->srv_cache_max_bytes))
		metrics_evict_request();
}

/*
 * The low-space guard: a fill that ends while space is low links
 * nothing, and its blob, committed for the clients being served, is
 * noted for the next eviction run to remove. 1 when so.
 */
static int
blob_fill_uncached(struct blob_fill *bf)
{
	struct config_server	*srv = &bf->bf_ctx->ctx_config->cf_server;

	if (!space_low(srv->srv_data_dir, srv->srv_min_free_bytes))
		return (0);
	evict_note_uncached(bf->bf_ctx->ctx_blobs, &bf->bf_digest);
	return (1);
}

/*
 * Entering DONE or FAILED: link the repository (DONE, and only to a blob
 * that is committed), answer the waiters still waiting, and free the
 * fill from the event loop.
 */
static void
blob_fill_end(struct blob_fill *bf, enum fill_state from)
{
	struct blob_waiter	*w;
	char			 ds[DIGEST_STRING_MAX];
	int			 ok = bf->bf_state == FILL_DONE;

	digest_format(&bf->bf_digest, ds, sizeof(ds));
	if (ok && from != FILL_HEAD && blob_fill_uncached(bf)) {
		if (blobstore_stat(bf->bf_ctx->ctx_blobs, &bf->bf_digest,
		    NULL) != 1)
			ok = 0;
		else
			log_info("%s: %s: %s served, not cached: low on space",
			    __func__, bf->bf_repo, ds);
	} else if (ok && from != FILL_HEAD) {
		/* Under the sweep's lock (gc.h): never a link to nothing. */
		switch (gc_link_stored(bf->bf_ctx->ctx_index,
		    bf->bf_ctx->ctx_blobs, bf->bf_repo, &bf->bf_digest,
		    INDEX_LINK_BLOB, blob_fill_upstream(bf))) {
		case 0:
			log_warnx("%s: %s: %s is not stored", __func__,
			    bf->bf_repo, ds);
			ok = 0;
			break;
		case -1:
			log_warnx("%s: %s: cannot link %s", __func__,
			    bf->bf_repo, ds);
			ok = 0;
			break;
		default:
			blob_fill_linked(bf);
			break;
		}
	}
	while ((w = TAILQ_FIRST(&bf->bf_waiters)) != NULL) {
		TAILQ_REMOVE(&bf->bf_waiters, w, wt_entry);
		if (ok)
			content_blob_send(w->wt_req, w->wt_handler,
			    &bf->bf_digest);
		else if (bf->bf_outcome.po_errors == NULL &&
		    bf->bf_outcome.po_missing == 0)
			content_fail(w->wt_handler, w->wt_req, 500, "UNKNOWN",
			    "internal error", ds);
		else
			content_outcome_reply(&bf->bf_outcome, w->wt_handler,
			    w->wt_req, bf->bf_not_found, ds);
		blob_waiter_free(w);
	}
	if (bf->bf_call != NULL) {
		upstream_call_cancel(bf->bf_call);
		bf->bf_call = NULL;
	}
	blob_writer_abort(bf->bf_writer);
	bf->bf_writer = NULL;
	blob_follow_wake(&bf->bf_digest);
	/* The poll callback frees an ended fill, from the loop. */
	event_del(bf->bf_timer);
	event_active(bf->bf_timer, EV_TIMEOUT, 1);
}

/* The upstream key the link of a fill records: the one asked last. */
static const char *
blob_fill_upstream(const struct blob_fill *bf)
{
	if (bf->bf_up != NULL)
		return (bf->bf_up->up_key);
	if (bf->bf_nsrcs > 0 && bf->bf_srcs[0].bs_up != NULL)
		return (bf->bf_srcs[0].bs_up->up_key);
	return (NULL);
}

static void
blob_fill_free(struct blob_fill *bf)
{
	size_t	 i;

	TAILQ_REMOVE(&blob_fills, bf, bf_entry);
	blob_nfills--;
	event_free(bf->bf_timer);
	content_outcome_clear(&bf->bf_outcome);
	free(bf->bf_repo);
	free(bf->bf_registry);
	for (i = 0; i < bf->bf_nsrcs; i++) {
		free(bf->bf_srcs[i].bs_repo);
		free(bf->bf_srcs[i].bs_path);
	}
	free(bf);
}

/* A request joins a fill: it follows at once when it can, else waits. */
static void
blob_waiter_add(struct blob_fill *bf, struct req *r,
    const struct content_handler *h)
{
	struct http_context	*ctx = http_context(r);
	struct blob_waiter	*w;

	w = xcalloc(1, sizeof(*w));
	w->wt_req = r;
	w->wt_handler = h;
	w->wt_whole = http_header_get(r, "Range") == NULL;
	w->wt_blobs = ctx->ctx_blobs;
	if ((bf->bf_state == FILL_STREAM || bf->bf_state == FILL_FOLLOW) &&
	    bf->bf_size >= 0 && w->wt_whole && blob_waiter_follow(bf, w) == 0)
		return;
	TAILQ_INSERT_TAIL(&bf->bf_waiters, w, wt_entry);
}

/* Stream the part file to w. 0 (w belongs to its follower), or -1. */
static int
blob_waiter_follow(struct blob_fill *bf, struct blob_waiter *w)
{
	if (blob_follow_start(w->wt_req, w->wt_blobs, &bf->bf_digest,
	    bf->bf_size, blob_waiter_followed_cb, w) == NULL)
		return (-1);
	return (0);
}

/*
 * A follower is done. The fill links the repository when it ends in DONE
 * (it outlives its followers' fetch); nothing is linked here.
 */
static void
blob_waiter_followed_cb(int ok, void *arg)
{
	(void)ok;
	blob_waiter_free(arg);
}

static void
blob_waiter_free(struct blob_waiter *w)
{
	free(w);
}
