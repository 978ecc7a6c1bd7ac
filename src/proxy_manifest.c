/*
 * proxy_manifest.c: manifests pulled through upstreams.
 *
 * A pull asks the upstreams one after the other (proxy_upstreams order):
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
 * The pull owns a copy of the request's path; the request itself stays
 * valid until it is answered (evhttp keeps a request whose client left
 * until the handler replies). The pull is freed right after answering.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "config.h"
#include "digest.h"
#include "http.h"
#include "index.h"
#include "log.h"
#include "manifest.h"
#include "metrics.h"
#include "oci.h"
#include "proxy.h"
#include "upstream.h"
#include "upstream_state.h"
#include "xmalloc.h"

#define PROXY_MANIFEST_ACCEPT	"Accept: " \
	"application/vnd.oci.image.index.v1+json, " \
	"application/vnd.docker.distribution.manifest.list.v2+json, " \
	"application/vnd.oci.image.manifest.v1+json, " \
	"application/vnd.docker.distribution.manifest.v2+json"

enum manifest_pull_mode {
	PULL_FETCH,		/* GET and cache */
	PULL_REVALIDATE,	/* HEAD, compare with the cached tag */
	PULL_HEAD		/* HEAD for the client, cache nothing */
};

struct manifest_pull {
	struct oci_request	 mp_o;		/* path copied, request live */
	struct config_upstream	*mp_ups[PROXY_UPSTREAMS_MAX];
	size_t			 mp_nups;
	size_t			 mp_next;	/* next upstream to ask */
	struct config_upstream	*mp_up;		/* being asked */
	enum manifest_pull_mode	 mp_mode;
	int			 mp_have_cached;
	struct index_tag	 mp_cached;
	struct evbuffer		*mp_body;
	struct proxy_outcome	 mp_outcome;
};

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
static void	manifest_pull_renew(struct manifest_pull *);
static int	manifest_pull_store(struct manifest_pull *,
		    struct upstream_call *);
static void	manifest_pull_serve(struct manifest_pull *,
		    const struct digest *);

static const struct upstream_callbacks manifest_pull_cbs = {
	manifest_pull_headers_cb,
	manifest_pull_data_cb,
	manifest_pull_done_cb
};

int
proxy_tag_fresh(struct oci_request *o, const struct index_tag *tag,
    time_t now)
{
	struct config		*cf = http_context(o->or_req)->ctx_config;
	struct config_upstream	*up;

	if ((up = config_upstream_find(cf, tag->it_upstream)) == NULL)
		return (0);
	return (now >= tag->it_fetched_at &&
	    now - tag->it_fetched_at < up->up_tag_ttl);
}

void
proxy_manifest_pull(struct oci_request *o, const struct index_tag *cached)
{
	struct manifest_pull	*mp;
	char			*key;
	int			 missing;

	if (cached == NULL) {
		key = proxy_negative_key(o->or_path.name,
		    o->or_path.reference);
		missing = upstream_negative_get(key, time(NULL));
		free(key);
		if (missing) {
			log_debug("%s: %s:%s: known missing upstream",
			    __func__, o->or_path.name, o->or_path.reference);
			oci_error(o, "MANIFEST_UNKNOWN", o->or_path.reference);
			return;
		}
	}
	mp = xcalloc(1, sizeof(*mp));
	mp->mp_o = *o;
	v2_path_copy(&mp->mp_o.or_path, &o->or_path);
	mp->mp_nups = proxy_upstreams(o, mp->mp_ups, PROXY_UPSTREAMS_MAX);
	if (cached != NULL) {
		mp->mp_have_cached = 1;
		mp->mp_cached = *cached;
		mp->mp_mode = PULL_REVALIDATE;
	} else if (http_method(o->or_req) == EVHTTP_REQ_HEAD)
		mp->mp_mode = PULL_HEAD;
	else
		mp->mp_mode = PULL_FETCH;
	if ((mp->mp_body = evbuffer_new()) == NULL)
		fatalx("%s: evbuffer_new", __func__);
	manifest_pull_next(mp);
}

/* Ask the next upstream, or answer when none is left. */
static void
manifest_pull_next(struct manifest_pull *mp)
{
	struct http_context	*ctx = http_context(mp->mp_o.or_req);
	const char		*headers[] = { PROXY_MANIFEST_ACCEPT };
	char			*path;
	struct upstream_call	*call;

	xasprintf(&path, "manifests/%s", mp->mp_o.or_path.reference);
	while (mp->mp_next < mp->mp_nups) {
		mp->mp_up = mp->mp_ups[mp->mp_next++];
		evbuffer_drain(mp->mp_body, evbuffer_get_length(mp->mp_body));
		call = proxy_call(ctx->ctx_fetcher, mp->mp_up,
		    mp->mp_o.or_path.image, mp->mp_mode == PULL_FETCH ?
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
		proxy_outcome_note(&mp->mp_outcome, mp->mp_up, result, status,
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
			manifest_pull_renew(mp);
			metrics_cache(mp->mp_o.or_path.registry, "manifest",
			    METRICS_CACHE_HIT);
			manifest_pull_serve(mp, &mp->mp_cached.it_digest);
			manifest_pull_free(mp);
			return;
		}
		/* Changed upstream: fetch it from this same upstream. */
		mp->mp_mode = PULL_FETCH;
		mp->mp_next--;
		manifest_pull_next(mp);
		return;
	case PULL_FETCH:
		if (manifest_pull_store(mp, call) == 0) {
			manifest_pull_free(mp);
			return;
		}
		manifest_pull_next(mp);
		return;
	}
}

/* No upstream could answer: serve stale, or tell the client why. */
static void
manifest_pull_exhausted(struct manifest_pull *mp)
{
	struct config_upstream	*up;
	struct oci_request	*o = &mp->mp_o;
	char			*key;
	int			 ttl = -1;
	size_t			 i;

	if (mp->mp_have_cached) {
		log_warnx("serving stale %s:%s (cached from %s): %s",
		    o->or_path.name, o->or_path.reference,
		    mp->mp_cached.it_upstream,
		    mp->mp_outcome.po_errors != NULL ?
		    mp->mp_outcome.po_errors : "every upstream says 404");
		metrics_cache(o->or_path.registry, "manifest",
		    METRICS_CACHE_STALE);
		manifest_pull_serve(mp, &mp->mp_cached.it_digest);
		manifest_pull_free(mp);
		return;
	}
	if (proxy_outcome_all_missing(&mp->mp_outcome) &&
	    mp->mp_mode == PULL_FETCH) {
		for (i = 0; i < mp->mp_nups; i++) {
			up = mp->mp_ups[i];
			if (ttl == -1 || up->up_negative_ttl < ttl)
				ttl = up->up_negative_ttl;
		}
		if (ttl > 0) {
			key = proxy_negative_key(o->or_path.name,
			    o->or_path.reference);
			upstream_negative_put(key, time(NULL) + ttl);
			free(key);
		}
	}
	proxy_outcome_reply(&mp->mp_outcome, o->or_req, "MANIFEST_UNKNOWN",
	    o->or_path.reference);
	manifest_pull_free(mp);
}

static void
manifest_pull_free(struct manifest_pull *mp)
{
	v2_path_clear(&mp->mp_o.or_path);
	evbuffer_free(mp->mp_body);
	proxy_outcome_clear(&mp->mp_outcome);
	free(mp);
}

/* A client's HEAD of a manifest not cached: the upstream's headers. */
static void
manifest_pull_head_reply(struct manifest_pull *mp, struct upstream_call *call)
{
	struct req	*r = mp->mp_o.or_req;
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
		http_reply_oci_error(r, 503, "UNAVAILABLE",
		    "no upstream could provide it",
		    "the upstream's answer to HEAD lacks the manifest's "
		    "type, digest or length");
		return;
	}
	if (mp->mp_o.or_path.ref_is_digest &&
	    !digest_equal(&d, &mp->mp_o.or_path.digest)) {
		http_reply_oci_error(r, 503, "UNAVAILABLE",
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

/* The upstream still has the cached digest: trust the tag for a TTL more. */
static void
manifest_pull_renew(struct manifest_pull *mp)
{
	struct index	*ix = http_context(mp->mp_o.or_req)->ctx_index;
	struct index_tag tag = mp->mp_cached;

	tag.it_fetched_at = (int64_t)time(NULL);
	(void)snprintf(tag.it_upstream, sizeof(tag.it_upstream), "%s",
	    mp->mp_up->up_key);
	if (index_tag_put(ix, mp->mp_o.or_path.name, mp->mp_o.or_path.reference,
	    &tag) == -1)
		log_warnx("%s: %s:%s: cannot renew the tag", __func__,
		    mp->mp_o.or_path.name, mp->mp_o.or_path.reference);
}

/*
 * Verify, store and record the manifest the upstream sent, then serve
 * it. 0 when the request was answered (served, or an internal error),
 * -1 when this upstream's answer is unusable and the next one may help.
 */
static int
manifest_pull_store(struct manifest_pull *mp, struct upstream_call *call)
{
	struct oci_request	*o = &mp->mp_o;
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
	if (o->or_path.ref_is_digest) {
		named = o->or_path.digest;
		has_named = 1;
	} else if ((value = upstream_call_header(call,
	    "Docker-Content-Digest")) != NULL &&
	    digest_parse(value, &named, NULL) == 0)
		has_named = 1;
	digest_buffer(has_named ? named.alg : DIGEST_SHA256, data, len, &d);
	if (has_named && !digest_equal(&d, &named)) {
		proxy_outcome_fail(&mp->mp_outcome, mp->mp_up,
		    "the manifest's digest does not match", "digest");
		return (-1);
	}
	memset(&mi, 0, sizeof(mi));
	if (manifest_parse(data, len, upstream_call_header(call,
	    "Content-Type"), &mi, &cause) == -1) {
		xasprintf(&why, "unusable manifest: %s", cause);
		proxy_outcome_fail(&mp->mp_outcome, mp->mp_up, why, "protocol");
		free(why);
		free(cause);
		return (-1);
	}
	if (oci_manifest_store(o, data, len, &d) == 0 &&
	    oci_manifest_record(o, &d, &mi, len, mp->mp_up->up_key) == 0) {
		metrics_cache(o->or_path.registry, "manifest",
		    METRICS_CACHE_MISS);
		log_debug("cached %s:%s from %s", o->or_path.name,
		    o->or_path.reference, mp->mp_up->up_key);
		manifest_pull_serve(mp, &d);
	}
	manifest_info_clear(&mi);
	return (0);
}

/* Serve the stored manifest d, looked up again in the index. */
static void
manifest_pull_serve(struct manifest_pull *mp, const struct digest *d)
{
	struct index		*ix = http_context(mp->mp_o.or_req)->ctx_index;
	struct index_manifest	 im;

	if (index_manifest_get(ix, d, &im) != 1) {
		http_reply_oci_error(mp->mp_o.or_req, 500, "UNKNOWN",
		    "internal error", "the manifest record is missing");
		return;
	}
	oci_manifest_serve(&mp->mp_o, d, &im);
	index_manifest_clear(&im);
}
