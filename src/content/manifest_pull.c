/*
 * manifest_pull.c: manifests pulled through upstreams.
 *
 * A pull asks the upstreams one after the other (content_upstreams order):
 *  - a manifest not cached: GET; the first 200 is verified (the digest of
 *    the body against the reference, or against the upstream's
 *    Docker-Content-Digest), parsed like a push, stored and recorded with
 *    its tag, then served; a 404 or a failure moves on to the next one;
 *  - a cached tag whose tag_ttl has passed: HEAD; the same digest only
 *    renews the tag, a new one is fetched with GET; when no upstream
 *    answers, the cached manifest is served stale;
 *  - a HEAD of a manifest not cached is answered from the upstream's HEAD
 *    and caches nothing.
 * When every upstream said 404 the miss is remembered in the negative
 * cache for the smallest negative_ttl among them.
 *
 * Single flight: a GET (or a revalidation) claims the pull of its
 * reference, keyed like the negative cache ("<repository>:<tag>",
 * "<repository>@<digest>", the repository with its registry), in the
 * shared upstream state, so across every worker one pull asks the
 * upstreams at a time. A pull that finds the claim held waits on a
 * timer (the event loop never blocks) until the claim is gone, then
 * looks the reference up again as if it had just arrived: it serves what
 * the leader stored; a tag the leader could not revalidate is served
 * stale like the leader did; a reference the leader could not fetch is
 * claimed and asked for again (the leader's failure is not the
 * follower's answer). A follower that waited longer than its upstreams
 * could take goes ahead alone.
 *
 * A fetched manifest's bytes are stored in a thread (content_manifest_store)
 * while the loop goes on; the pull, its claim and its body live on until
 * the store is done, the manifest recorded and the client served
 * (manifest_pull_stored), so a follower finds the claim held until the
 * manifest is in the index.
 *
 * The pull owns a copy of the request's path; the request itself stays
 * valid until it is answered (evhttp keeps a request whose client left
 * until the handler replies, and the worker's drain waits for it). The
 * pull is freed right after answering.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "conf/config.h"
#include "lib/digest.h"
#include "http/http.h"
#include "store/index.h"
#include "lib/log.h"
#include "lib/manifest.h"
#include "lib/metrics.h"
#include "content/content.h"
#include "content/upstreams.h"
#include "upstream/upstream.h"
#include "upstream/upstream_state.h"
#include "lib/xmalloc.h"

#define PROXY_MANIFEST_ACCEPT	"Accept: " \
	"application/vnd.oci.image.index.v1+json, " \
	"application/vnd.docker.distribution.manifest.list.v2+json, " \
	"application/vnd.oci.image.manifest.v1+json, " \
	"application/vnd.docker.distribution.manifest.v2+json"
#define MANIFEST_WAIT_POLL_MS	25	/* a follower looks at the claim */
#define MANIFEST_WAIT_SLACK	5	/* seconds beyond the upstreams' timeouts */

enum manifest_pull_mode {
	PULL_FETCH,		/* GET and cache */
	PULL_REVALIDATE,	/* HEAD, compare with the cached tag */
	PULL_HEAD		/* HEAD for the client, cache nothing */
};

struct manifest_pull {
	struct content_request	 mp_cr;		/* path copied, request live */
	struct config_upstream	*mp_ups[CONTENT_UPSTREAMS_MAX];
	size_t			 mp_nups;
	size_t			 mp_next;	/* next upstream to ask */
	struct config_upstream	*mp_up;		/* being asked */
	enum manifest_pull_mode	 mp_mode;
	int			 mp_have_cached;
	struct index_tag	 mp_cached;
	struct evbuffer		*mp_body;
	struct content_outcome	 mp_outcome;
	char			*mp_flight;	/* claimed pull, or NULL */
	uint64_t		 mp_ticket;
	/* PULL_FETCH, while the store runs: what is being stored. */
	struct manifest_info	 mp_mi;		/* parsed; cleared when freed */
	struct digest		 mp_digest;
	size_t			 mp_len;
};

/* A pull waiting for another process's (or request's) pull of the same. */
struct manifest_wait {
	struct content_request	 mw_cr;		/* path copied, request live */
	char			*mw_flight;
	struct event		*mw_timer;
	time_t			 mw_since;
	time_t			 mw_deadline;
};

/* How a follower looks again (set around its content_manifest_get). */
enum manifest_rejoin {
	REJOIN_NONE = 0,	/* a request as it arrived */
	REJOIN_LED,		/* the leader is done: a stale tag stays stale */
	REJOIN_LATE		/* the leader takes too long: do not wait */
};
static enum manifest_rejoin manifest_rejoin;
static time_t	manifest_rejoin_since;	/* the follower began to wait */

static void	manifest_pull_start(struct content_request *,
		    const struct index_tag *, enum manifest_pull_mode, char *,
		    uint64_t);
static void	manifest_serve_rejoined(struct content_request *,
		    const struct index_tag *);
static void	manifest_wait_start(struct content_request *, char *);
static void	manifest_wait_cb(evutil_socket_t, short, void *);
static void	manifest_wait_arm(struct manifest_wait *);
static void	manifest_pull_next(struct manifest_pull *);
static void	manifest_pull_exhausted(struct manifest_pull *);
static void	manifest_pull_free(struct manifest_pull *);
static int	manifest_pull_headers_cb(struct upstream_call *, long, void *);
static int	manifest_pull_data_cb(struct upstream_call *, const void *,
		    size_t, void *);
static void	manifest_pull_done_cb(struct upstream_call *,
		    enum upstream_result, const char *, void *);
static void	manifest_pull_head_reply(struct manifest_pull *,
		    struct upstream_call *);
static int	manifest_pull_same(struct manifest_pull *,
		    struct upstream_call *);
static int	manifest_pull_renew(struct manifest_pull *);
static int	manifest_pull_record(struct manifest_pull *,
		    const struct digest *, const struct manifest_info *,
		    size_t);
static void	manifest_pull_moved(struct manifest_pull *);
static int	manifest_pull_store(struct manifest_pull *,
		    struct upstream_call *);
static void	manifest_pull_stored(void *, int);
static void	manifest_pull_serve(struct manifest_pull *,
		    const struct digest *);
static void	manifest_serve_digest(struct content_request *,
		    const struct digest *);

static const struct upstream_callbacks manifest_pull_cbs = {
	manifest_pull_headers_cb,
	manifest_pull_data_cb,
	manifest_pull_done_cb
};

int
content_tag_fresh(struct content_request *o, const struct index_tag *tag,
    time_t now)
{
	struct config		*cf = http_context(o->cr_req)->ctx_config;
	struct config_upstream	*up;

	if ((up = config_upstream_find(cf, tag->it_upstream)) == NULL)
		return (0);
	return (now >= tag->it_fetched_at &&
	    now - tag->it_fetched_at < up->up_tag_ttl);
}

void
content_manifest_pull(struct content_request *o, const struct index_tag *cached)
{
	enum manifest_pull_mode	 mode;
	char			*key;
	uint64_t		 ticket = 0;
	int			 claim = -1;

	key = content_negative_key(o->cr_path.name, o->cr_path.reference);
	if (cached == NULL && upstream_negative_get(key, time(NULL))) {
		log_debug("%s: %s:%s: known missing upstream", __func__,
		    o->cr_path.name, o->cr_path.reference);
		content_error(o, "MANIFEST_UNKNOWN", o->cr_path.reference);
		free(key);
		return;
	}
	if (cached != NULL)
		mode = PULL_REVALIDATE;
	else if (http_method(o->cr_req) == EVHTTP_REQ_HEAD)
		mode = PULL_HEAD;
	else
		mode = PULL_FETCH;
	if (mode == PULL_REVALIDATE && manifest_rejoin == REJOIN_LED) {
		manifest_serve_rejoined(o, cached);
		free(key);
		return;
	}
	if (mode != PULL_HEAD && manifest_rejoin != REJOIN_LATE)
		claim = upstream_flight_claim(key, time(NULL), &ticket);
	if (claim == 0) {
		manifest_wait_start(o, key);
		return;
	}
	if (claim != 1) {
		free(key);
		key = NULL;
	}
	manifest_pull_start(o, cached, mode, key, ticket);
}

/* Start asking the upstreams; flight (taken) is the claim, or NULL. */
static void
manifest_pull_start(struct content_request *o, const struct index_tag *cached,
    enum manifest_pull_mode mode, char *flight, uint64_t ticket)
{
	struct manifest_pull	*mp;

	mp = xcalloc(1, sizeof(*mp));
	mp->mp_cr = *o;
	v2_path_copy(&mp->mp_cr.cr_path, &o->cr_path);
	mp->mp_nups = content_upstreams(o, mp->mp_ups, CONTENT_UPSTREAMS_MAX);
	mp->mp_mode = mode;
	mp->mp_flight = flight;
	mp->mp_ticket = ticket;
	if (cached != NULL) {
		mp->mp_have_cached = 1;
		mp->mp_cached = *cached;
	}
	if ((mp->mp_body = evbuffer_new()) == NULL)
		fatalx("%s: evbuffer_new", __func__);
	manifest_pull_next(mp);
}

/*
 * A follower whose leader is done finds the tag past its TTL: renewed
 * while it waited (a short tag_ttl), or the leader could not revalidate
 * it and served it stale, and so does the follower.
 */
static void
manifest_serve_rejoined(struct content_request *o, const struct index_tag *cached)
{
	if (cached->it_fetched_at >= (int64_t)manifest_rejoin_since)
		metrics_cache(o->cr_path.registry, "manifest",
		    METRICS_CACHE_HIT);
	else {
		log_warnx("serving stale %s:%s (cached from %s): the pull "
		    "just made could not revalidate it", o->cr_path.name,
		    o->cr_path.reference, cached->it_upstream);
		metrics_cache(o->cr_path.registry, "manifest",
		    METRICS_CACHE_STALE);
	}
	manifest_serve_digest(o, &cached->it_digest);
}

/*
 * Another pull of the same reference holds the claim: wait for it, at
 * most as long as asking each upstream twice (HEAD, then GET) could
 * take. Takes flight (the claim's key).
 */
static void
manifest_wait_start(struct content_request *o, char *flight)
{
	struct http_context	*ctx = http_context(o->cr_req);
	struct config_upstream	*ups[CONTENT_UPSTREAMS_MAX];
	struct manifest_wait	*mw;
	size_t			 i, n;
	time_t			 budget = MANIFEST_WAIT_SLACK;

	n = content_upstreams(o, ups, CONTENT_UPSTREAMS_MAX);
	for (i = 0; i < n; i++)
		budget += 2 * (time_t)ups[i]->up_timeout;
	mw = xcalloc(1, sizeof(*mw));
	mw->mw_cr = *o;
	v2_path_copy(&mw->mw_cr.cr_path, &o->cr_path);
	mw->mw_flight = flight;
	mw->mw_since = time(NULL);
	mw->mw_deadline = mw->mw_since + budget;
	if ((mw->mw_timer = evtimer_new(ctx->ctx_base, manifest_wait_cb,
	    mw)) == NULL)
		fatalx("%s: evtimer_new", __func__);
	log_debug("%s: waiting for the pull of %s under way", __func__,
	    flight);
	manifest_wait_arm(mw);
}

static void
manifest_wait_arm(struct manifest_wait *mw)
{
	struct timeval	 tv = { 0, MANIFEST_WAIT_POLL_MS * 1000 };

	evtimer_add(mw->mw_timer, &tv);
}

/*
 * Look at the claim again; once it is gone (or the wait is too long),
 * handle the request afresh: what the leader stored is served from the
 * index, and when there is nothing fresh this pull claims it itself.
 */
static void
manifest_wait_cb(evutil_socket_t fd, short events, void *arg)
{
	struct manifest_wait	*mw = arg;
	time_t			 now = time(NULL);
	int			 late;

	(void)fd;
	(void)events;
	late = now >= mw->mw_deadline;
	if (!late && upstream_flight_held(mw->mw_flight, now)) {
		manifest_wait_arm(mw);
		return;
	}
	if (late)
		log_warnx("%s: %s: the pull under way takes too long; asking "
		    "the upstreams without it", __func__, mw->mw_flight);
	manifest_rejoin = late ? REJOIN_LATE : REJOIN_LED;
	manifest_rejoin_since = mw->mw_since;
	content_manifest_get(&mw->mw_cr);
	manifest_rejoin = REJOIN_NONE;
	event_free(mw->mw_timer);
	v2_path_clear(&mw->mw_cr.cr_path);
	free(mw->mw_flight);
	free(mw);
}

/* Ask the next upstream, or answer when none is left. */
static void
manifest_pull_next(struct manifest_pull *mp)
{
	struct http_context	*ctx = http_context(mp->mp_cr.cr_req);
	const char		*headers[] = { PROXY_MANIFEST_ACCEPT };
	char			*path;
	struct upstream_call	*call;

	xasprintf(&path, "manifests/%s", mp->mp_cr.cr_path.reference);
	while (mp->mp_next < mp->mp_nups) {
		mp->mp_up = mp->mp_ups[mp->mp_next++];
		evbuffer_drain(mp->mp_body, evbuffer_get_length(mp->mp_body));
		call = content_call(ctx->ctx_fetcher, mp->mp_up,
		    mp->mp_cr.cr_path.image, mp->mp_mode == PULL_FETCH ?
		    FETCH_GET : FETCH_HEAD, path, headers, 1,
		    &manifest_pull_cbs, mp, &mp->mp_outcome);
		if (call != NULL) {
			free(path);
			return;
		}
	}
	free(path);
	manifest_pull_exhausted(mp);
}

static int
manifest_pull_headers_cb(struct upstream_call *call, long status, void *arg)
{
	struct manifest_pull	*mp = arg;

	(void)mp;
	if (status == 200 && upstream_call_content_length(call) >
	    DEPOT_MANIFEST_MAX)
		return (-1);
	return (0);
}

static int
manifest_pull_data_cb(struct upstream_call *call, const void *buf,
    size_t len, void *arg)
{
	struct manifest_pull	*mp = arg;

	(void)call;
	if (evbuffer_get_length(mp->mp_body) + len > DEPOT_MANIFEST_MAX)
		return (-1);
	if (evbuffer_add(mp->mp_body, buf, len) == -1)
		fatalx("%s: evbuffer_add", __func__);
	return (0);
}

static void
manifest_pull_done_cb(struct upstream_call *call, enum upstream_result result,
    const char *errmsg, void *arg)
{
	struct manifest_pull	*mp = arg;
	long			 status;

	status = result == UPSTREAM_OK ? upstream_call_status(call) : 0;
	if (status != 200) {
		content_outcome_note(&mp->mp_outcome, mp->mp_up, result, status,
		    errmsg);
		manifest_pull_next(mp);
		return;
	}
	switch (mp->mp_mode) {
	case PULL_HEAD:
		manifest_pull_head_reply(mp, call);
		manifest_pull_free(mp);
		return;
	case PULL_REVALIDATE:
		if (manifest_pull_same(mp, call)) {
			if (manifest_pull_renew(mp) == 0)
				manifest_pull_moved(mp);
			else {
				metrics_cache(mp->mp_cr.cr_path.registry,
				    "manifest", METRICS_CACHE_HIT);
				manifest_pull_serve(mp,
				    &mp->mp_cached.it_digest);
			}
			manifest_pull_free(mp);
			return;
		}
		/* Changed upstream: fetch it from this same upstream. */
		mp->mp_mode = PULL_FETCH;
		mp->mp_next--;
		manifest_pull_next(mp);
		return;
	case PULL_FETCH:
		/* 0: the store owns mp now (it may be freed already). */
		if (manifest_pull_store(mp, call) == 0)
			return;
		manifest_pull_next(mp);
		return;
	}
}

/* No upstream could answer: serve stale, or tell the client why. */
static void
manifest_pull_exhausted(struct manifest_pull *mp)
{
	struct config_upstream	*up;
	struct content_request	*o = &mp->mp_cr;
	char			*key;
	int			 ttl = -1;
	size_t			 i;

	if (mp->mp_have_cached) {
		log_warnx("serving stale %s:%s (cached from %s): %s",
		    o->cr_path.name, o->cr_path.reference,
		    mp->mp_cached.it_upstream,
		    mp->mp_outcome.po_errors != NULL ?
		    mp->mp_outcome.po_errors : "every upstream says 404");
		metrics_cache(o->cr_path.registry, "manifest",
		    METRICS_CACHE_STALE);
		manifest_pull_serve(mp, &mp->mp_cached.it_digest);
		manifest_pull_free(mp);
		return;
	}
	if (content_outcome_all_missing(&mp->mp_outcome) &&
	    mp->mp_mode == PULL_FETCH) {
		for (i = 0; i < mp->mp_nups; i++) {
			up = mp->mp_ups[i];
			if (ttl == -1 || up->up_negative_ttl < ttl)
				ttl = up->up_negative_ttl;
		}
		if (ttl > 0) {
			key = content_negative_key(o->cr_path.name,
			    o->cr_path.reference);
			upstream_negative_put(key, time(NULL) + ttl);
			free(key);
		}
	}
	content_outcome_reply(&mp->mp_outcome, o->cr_handler, o->cr_req,
	    "MANIFEST_UNKNOWN", o->cr_path.reference);
	manifest_pull_free(mp);
}

static void
manifest_pull_free(struct manifest_pull *mp)
{
	if (mp->mp_flight != NULL) {
		upstream_flight_release(mp->mp_flight, mp->mp_ticket);
		free(mp->mp_flight);
	}
	v2_path_clear(&mp->mp_cr.cr_path);
	evbuffer_free(mp->mp_body);
	content_outcome_clear(&mp->mp_outcome);
	manifest_info_clear(&mp->mp_mi);
	free(mp);
}

/* A client's HEAD of a manifest not cached: the upstream's headers. */
static void
manifest_pull_head_reply(struct manifest_pull *mp, struct upstream_call *call)
{
	struct req	*r = mp->mp_cr.cr_req;
	struct digest	 d;
	const char	*value, *type;
	char		 dstr[DIGEST_STRING_MAX], len[32], etag[DIGEST_STRING_MAX + 2];
	off_t		 length;

	type = upstream_call_header(call, "Content-Type");
	value = upstream_call_header(call, "Docker-Content-Digest");
	length = upstream_call_content_length(call);
	if (type == NULL || !manifest_media_type_known(type) ||
	    value == NULL || digest_parse(value, &d, NULL) == -1 ||
	    length < 0) {
		content_fail(mp->mp_cr.cr_handler, r, 503, "UNAVAILABLE",
		    "no upstream could provide it",
		    "the upstream's answer to HEAD lacks the manifest's "
		    "type, digest or length");
		return;
	}
	if (mp->mp_cr.cr_path.ref_is_digest &&
	    !digest_equal(&d, &mp->mp_cr.cr_path.digest)) {
		content_fail(mp->mp_cr.cr_handler, r, 503, "UNAVAILABLE",
		    "no upstream could provide it",
		    "the upstream names another digest");
		return;
	}
	digest_format(&d, dstr, sizeof(dstr));
	(void)snprintf(etag, sizeof(etag), "\"%s\"", dstr);
	(void)snprintf(len, sizeof(len), "%lld", (long long)length);
	http_header_add(r, "Docker-Content-Digest", dstr);
	http_header_add(r, "ETag", etag);
	http_header_add(r, "Content-Length", len);
	http_reply(r, 200, type, NULL);
}

/* 1 when the upstream's HEAD names the digest of the cached tag. */
static int
manifest_pull_same(struct manifest_pull *mp, struct upstream_call *call)
{
	struct digest	 d;
	const char	*value;

	value = upstream_call_header(call, "Docker-Content-Digest");
	if (value == NULL || digest_parse(value, &d, NULL) == -1)
		return (0);
	return (digest_equal(&d, &mp->mp_cached.it_digest));
}

/*
 * The upstream still has the cached digest: trust the tag for a TTL
 * more, unless it changed while we asked (a push). 1 renewed (or not,
 * after an error, which is logged), 0 the tag changed.
 */
static int
manifest_pull_renew(struct manifest_pull *mp)
{
	struct index	*ix = http_context(mp->mp_cr.cr_req)->ctx_index;
	struct index_tag tag = mp->mp_cached;
	int		 rv;

	tag.it_fetched_at = (int64_t)time(NULL);
	(void)snprintf(tag.it_upstream, sizeof(tag.it_upstream), "%s",
	    mp->mp_up->up_key);
	rv = index_tag_put_if(ix, mp->mp_cr.cr_path.name,
	    mp->mp_cr.cr_path.reference, &tag, &mp->mp_cached);
	if (rv == -1)
		log_warnx("%s: %s:%s: cannot renew the tag", __func__,
		    mp->mp_cr.cr_path.name, mp->mp_cr.cr_path.reference);
	return (rv == 0 ? 0 : 1);
}

/*
 * Record the manifest d fetched for the request, and its tag only when
 * the tag is still what this pull found (cached, or absent): a tag
 * pushed meanwhile wins. 1 recorded, 0 the tag changed meanwhile, -1
 * after answering the request with an error.
 */
static int
manifest_pull_record(struct manifest_pull *mp, const struct digest *d,
    const struct manifest_info *mi, size_t len)
{
	struct content_request	*o = &mp->mp_cr, by_digest;
	struct index		*ix = http_context(o->cr_req)->ctx_index;
	struct index_tag	 tag;
	int			 rv;

	if (o->cr_path.ref_is_digest)
		return (content_manifest_record(o, d, mi, len,
		    mp->mp_up->up_key) == 0 ? 1 : -1);
	by_digest = *o;		/* shares the path's strings */
	by_digest.cr_path.ref_is_digest = 1;
	by_digest.cr_path.digest = *d;
	if (content_manifest_record(&by_digest, d, mi, len,
	    mp->mp_up->up_key) == -1)
		return (-1);
	memset(&tag, 0, sizeof(tag));
	tag.it_digest = *d;
	(void)snprintf(tag.it_media_type, sizeof(tag.it_media_type), "%s",
	    mi->mi_media_type != NULL ? mi->mi_media_type : "");
	tag.it_fetched_at = (int64_t)time(NULL);
	(void)snprintf(tag.it_upstream, sizeof(tag.it_upstream), "%s",
	    mp->mp_up->up_key);
	rv = index_tag_put_if(ix, o->cr_path.name, o->cr_path.reference, &tag,
	    mp->mp_have_cached ? &mp->mp_cached : NULL);
	if (rv == -1)
		content_fail(o->cr_handler, o->cr_req, 500, "UNKNOWN",
		    "internal error", "cannot record the tag");
	return (rv);
}

/*
 * The tag changed while the upstreams were asked (pushed, deleted, or
 * set by a pull that did not wait for this one): answer with what it is
 * now, as a follower would.
 */
static void
manifest_pull_moved(struct manifest_pull *mp)
{
	log_info("%s:%s changed while %s was asked; serving it as it is now",
	    mp->mp_cr.cr_path.name, mp->mp_cr.cr_path.reference,
	    mp->mp_up->up_key);
	manifest_rejoin = REJOIN_LED;
	manifest_rejoin_since = time(NULL);
	content_manifest_get(&mp->mp_cr);
	manifest_rejoin = REJOIN_NONE;
}

/*
 * Verify the manifest the upstream sent and hand it to the store, which
 * continues at manifest_pull_stored (record, serve, free mp). 0 when mp
 * is the store's (the request is answered there, and mp may be freed
 * already), -1 when this upstream's answer is unusable and the next one
 * may help.
 */
static int
manifest_pull_store(struct manifest_pull *mp, struct upstream_call *call)
{
	struct content_request	*o = &mp->mp_cr;
	struct manifest_info	 mi;
	struct digest		 d, named;
	const unsigned char	*data;
	const char		*value;
	char			*cause = NULL, *why;
	size_t			 len;
	int			 has_named = 0;

	len = evbuffer_get_length(mp->mp_body);
	if ((data = evbuffer_pullup(mp->mp_body, -1)) == NULL)
		data = (const unsigned char *)"";
	if (o->cr_path.ref_is_digest) {
		named = o->cr_path.digest;
		has_named = 1;
	} else if ((value = upstream_call_header(call,
	    "Docker-Content-Digest")) != NULL &&
	    digest_parse(value, &named, NULL) == 0)
		has_named = 1;
	digest_buffer(has_named ? named.alg : DIGEST_SHA256, data, len, &d);
	if (has_named && !digest_equal(&d, &named)) {
		content_outcome_fail(&mp->mp_outcome, mp->mp_up,
		    "the manifest's digest does not match", "digest");
		return (-1);
	}
	memset(&mi, 0, sizeof(mi));
	if (manifest_parse(data, len, upstream_call_header(call,
	    "Content-Type"), &mi, &cause) == -1) {
		xasprintf(&why, "unusable manifest: %s", cause);
		content_outcome_fail(&mp->mp_outcome, mp->mp_up, why, "protocol");
		free(why);
		free(cause);
		return (-1);
	}
	manifest_info_clear(&mp->mp_mi);
	mp->mp_mi = mi;		/* taken: cleared with mp */
	mp->mp_digest = d;
	mp->mp_len = len;
	content_manifest_store(o, data, len, &d, manifest_pull_stored, mp);
	return (0);
}

/*
 * On the loop, the bytes stored (stored 0) or the request answered with
 * the store's error (-1): record the manifest and its tag, serve it, and
 * only then free the pull, which releases its claim.
 */
static void
manifest_pull_stored(void *arg, int stored)
{
	struct manifest_pull	*mp = arg;
	struct content_request	*o = &mp->mp_cr;
	int			 recorded = -1;

	if (stored == 0 && (recorded = manifest_pull_record(mp,
	    &mp->mp_digest, &mp->mp_mi, mp->mp_len)) == 1) {
		metrics_cache(o->cr_path.registry, "manifest",
		    METRICS_CACHE_MISS);
		log_debug("cached %s:%s from %s", o->cr_path.name,
		    o->cr_path.reference, mp->mp_up->up_key);
		manifest_pull_serve(mp, &mp->mp_digest);
	} else if (recorded == 0)
		manifest_pull_moved(mp);
	manifest_pull_free(mp);
}

static void
manifest_pull_serve(struct manifest_pull *mp, const struct digest *d)
{
	manifest_serve_digest(&mp->mp_cr, d);
}

/* Serve the stored manifest d, looked up again in the index. */
static void
manifest_serve_digest(struct content_request *o, const struct digest *d)
{
	struct index		*ix = http_context(o->cr_req)->ctx_index;
	struct index_manifest	 im;

	if (index_manifest_get(ix, d, &im) != 1) {
		content_fail(o->cr_handler, o->cr_req, 500, "UNKNOWN",
		    "internal error", "the manifest record is missing");
		return;
	}
	o->cr_handler->ch_manifest(o, d, &im);
	index_manifest_clear(&im);
}
