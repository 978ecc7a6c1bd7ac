/*
 * helm_upstream.c: Helm upstreams. An upstream's index.yaml is fetched
 * with the worker's fetcher (curl multi, never blocking), kept as a
 * member file (helm_index.c) with its validators and fetch time in a
 * small state file beside it, trusted for tag_ttl seconds, revalidated
 * with If-None-Match / If-Modified-Since after that, and served as it
 * was (stale: logged and counted) when the upstream fails; a failure
 * is not retried for negative_ttl seconds. A new index is parsed into a
 * member file off the loop, and every index that has it as a member is
 * rendered again in the same job.
 *
 * Charts come from the URL the upstream index gave (resolved against the
 * index URL), with the upstream's credentials only when that URL has
 * the upstream's own origin (upstream_auth_same_origin). The body goes
 * into the blob store through a claimed part file (blobstore_claim_fetch: one fetch per
 * chart across processes; one per worker here, its requests waiting),
 * the digest of the index is verified at the commit, and the waiting
 * requests are then served from the blob. A chart whose bytes do not
 * match is refused and not cached.
 *
 * A cached chart is cache content like a pulled layer: it is linked
 * (kind INDEX_LINK_CHART, so that the collection keeps it as a root) in
 * the repository "<upstream key>/<chart name>" with the upstream's key,
 * under the collection's lock (gc_link_stored), and each download
 * records its pull; cache eviction counts it in max_cache_bytes and
 * cache_max_bytes and gives it up least recently downloaded first. The
 * name is never served by /v2/ nor listed by its catalog, which take
 * docker registries and upstreams only. While space is low a fill links
 * nothing (the low-space guard): its clients get the chart and the next
 * eviction run removes it.
 */
#include <sys/types.h>
#include <sys/file.h>
#include <sys/queue.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "upstream/upstream_auth.h"
#include "content/blob_follow.h"
#include "content/content.h"
#include "store/blobstore.h"
#include "store/evict.h"
#include "store/gc.h"
#include "store/index.h"
#include "store/space.h"
#include "conf/config.h"
#include "lib/digest.h"
#include "upstream/fetch.h"
#include "upstream/upstream_state.h"
#include "helm/helm_chart.h"
#include "helm/helm_index.h"
#include "helm/helm_int.h"
#include "http/http.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/offload.h"
#include "lib/util.h"
#include "lib/xmalloc.h"

#define HELM_INDEX_BODY_MAX	(1024LL * 1024 * 1024)	/* 1 GiB */
#define HELM_CHART_BODY_MAX	(1024LL * 1024 * 1024)
#define HELM_POLL_MS		100

struct helm_waiter {
	TAILQ_ENTRY(helm_waiter)	 w_entry;
	struct helm_request		*w_h;
	void				(*w_again)(struct helm_request *);
};
TAILQ_HEAD(helm_waiters, helm_waiter);

/* One index being revalidated by this worker. */
struct helm_refresh {
	LIST_ENTRY(helm_refresh)	 rf_entry;
	char				 rf_key[DEPOT_NAME_MAX + 1];
	struct config_upstream		*rf_up;
	struct config			*rf_config;
	struct event_base		*rf_base;
	struct fetcher			*rf_fetcher;
	int				 rf_lock;	/* flock: one per host */
	struct event			*rf_poll;	/* waiting for it */
	char				*rf_url;
	char				 rf_dir[HELM_PATH_MAX];
	char				 rf_tmp[HELM_PATH_MAX];
	int				 rf_fd;
	off_t				 rf_size;
	long				 rf_status;
	char				*rf_etag;
	char				*rf_modified;
	long long			 rf_started;
	struct helm_waiters		 rf_waiters;
	/* the parse job */
	int				 rf_ret;
	char				 rf_cause[256];	/* why refused */
	size_t				 rf_entries;
	struct helm_render_spec		*rf_renders;
	size_t				 rf_nrenders;
};

/* An index to render again: its directory and members. */
struct helm_render_spec {
	char	 rs_dir[HELM_PATH_MAX];
	char	 rs_members[HELM_UPSTREAMS_MAX + 1][HELM_PATH_MAX];
	size_t	 rs_n;
};

/* One chart being fetched by this worker. */
struct helm_fill {
	LIST_ENTRY(helm_fill)		 fl_entry;
	char				*fl_url;
	char				 fl_key[DEPOT_NAME_MAX + 1];
	char				 fl_registry[DEPOT_NAME_MAX + 1];
	char				*fl_chart;	/* its name */
	struct http_context		*fl_ctx;
	struct digest			 fl_digest;
	int				 fl_has_digest;
	struct blobstore		*fl_blobs;
	struct event_base		*fl_base;
	struct blob_writer		*fl_writer;
	struct event			*fl_poll;	/* another process fetches */
	long				 fl_status;
	off_t				 fl_size;	/* -1 until known */
	long long			 fl_started;
	int				 fl_ok;
	char				*fl_cause;
	struct helm_waiters		 fl_waiters;
};

/* The last failure of an upstream in this worker (negative_ttl). */
struct helm_failure {
	LIST_ENTRY(helm_failure)	 hf_entry;
	char				 hf_key[DEPOT_NAME_MAX + 1];
	long long			 hf_at_ms;
};

static LIST_HEAD(, helm_refresh)	helm_refreshes =
    LIST_HEAD_INITIALIZER(helm_refreshes);
static LIST_HEAD(, helm_fill)		helm_fills =
    LIST_HEAD_INITIALIZER(helm_fills);
static LIST_HEAD(, helm_failure)	helm_failures =
    LIST_HEAD_INITIALIZER(helm_failures);

static size_t	helm_upstreams_of(struct config *, const char *,
		    struct config_upstream **);
static char	*helm_index_url(const struct config_upstream *);
static int	helm_state_read(const char *, json_t **);
static int	helm_fresh(struct config *, struct config_upstream *);
static void	helm_failed(const char *, int);
static int	helm_failed_lately(struct config_upstream *);
static void	helm_refresh_join(struct helm_request *,
		    struct config_upstream *,
		    void (*)(struct helm_request *));
static void	helm_refresh_finish(struct helm_refresh *);
static void	helm_refresh_poll_cb(evutil_socket_t, short, void *);
static void	helm_refresh_fetch(struct helm_refresh *);
static int	helm_refresh_headers(struct fetch *, long, void *);
static int	helm_refresh_data(struct fetch *, const void *, size_t,
		    void *);
static void	helm_refresh_done(struct fetch *, enum fetch_result,
		    const char *, void *);
static void	helm_refresh_work(void *);
static void	helm_refresh_parsed(void *);
static int	helm_state_write(struct helm_refresh *, int);
static void	helm_fill_finish(struct helm_fill *);
static void	helm_fill_follow(struct helm_fill *);
static void	helm_followed_cb(int, void *);
static int	helm_fill_headers(struct fetch *, long, void *);
static int	helm_fill_data(struct fetch *, const void *, size_t, void *);
static void	helm_fill_done(struct fetch *, enum fetch_result, const char *,
		    void *);
static void	helm_fill_commit(void *);
static void	helm_fill_committed(void *);
static void	helm_fill_poll_cb(evutil_socket_t, short, void *);
static const char *helm_fetch_reason(enum fetch_result);
static int	helm_cache_repo(const char *, const char *, char *, size_t);
static int	helm_cache_link(struct http_context *, const char *,
		    const char *, const struct digest *);

/* The helm upstreams of registry or key name, in order. */
static size_t
helm_upstreams_of(struct config *cf, const char *name,
    struct config_upstream **ups)
{
	struct config_registry	*reg;
	struct config_upstream	*up;
	size_t			 i, n = 0;

	reg = config_registry_find(cf, name);
	if (reg != NULL && reg->reg_type == REPO_HELM) {
		for (i = 0; i < reg->reg_upstreams.sl_count &&
		    n < HELM_UPSTREAMS_MAX; i++) {
			up = config_upstream_find(cf,
			    reg->reg_upstreams.sl_items[i]);
			if (up != NULL && up->up_type == REPO_HELM)
				ups[n++] = up;
		}
		return (n);
	}
	if ((up = config_upstream_find(cf, name)) != NULL &&
	    up->up_type == REPO_HELM)
		ups[n++] = up;
	return (n);
}

/* The URL of an upstream's index.yaml. Caller frees. */
static char *
helm_index_url(const struct config_upstream *up)
{
	const char	*url = up->up_url != NULL ? up->up_url : "";
	size_t		 n = strlen(url);
	char		*s;

	if (n > 5 && strcmp(url + n - 5, ".yaml") == 0)
		return (xstrdup(url));
	xasprintf(&s, "%s%sindex.yaml", url, n > 0 && url[n - 1] == '/' ?
	    "" : "/");
	return (s);
}

static int
helm_state_read(const char *path, json_t **out)
{
	json_error_t	 err;

	if ((*out = json_load_file(path, 0, &err)) != NULL &&
	    json_is_object(*out))
		return (0);
	json_decref(*out);
	*out = NULL;
	return (-1);
}

/* 1 when the upstream's member may be served without asking it. */
static int
helm_fresh(struct config *cf, struct config_upstream *up)
{
	char		 path[HELM_PATH_MAX];
	json_t		*st;
	json_int_t	 at;
	char		*url;
	int		 fresh = 0;

	if (helm_failed_lately(up))
		return (1);
	if (helm_path_upstream(cf, up->up_key, "state", path,
	    sizeof(path)) == -1 || helm_state_read(path, &st) == -1)
		return (0);
	at = json_integer_value(json_object_get(st, "fetched_at"));
	if ((long long)json_integer_value(json_object_get(st, "failed_at")) +
	    up->up_negative_ttl > (long long)time(NULL)) {
		json_decref(st);
		return (1);		/* failed lately: the kept one */
	}
	url = helm_index_url(up);
	/* an index of another URL (the config changed) is not the one */
	if (json_is_string(json_object_get(st, "url")) &&
	    strcmp(json_string_value(json_object_get(st, "url")), url) == 0 &&
	    (long long)at + up->up_tag_ttl > (long long)time(NULL) &&
	    helm_path_upstream(cf, up->up_key, "member", path,
	    sizeof(path)) == 0 && access(path, F_OK) == 0)
		fresh = 1;
	free(url);
	json_decref(st);
	return (fresh);
}

static void
helm_failed(const char *key, int failed)
{
	struct helm_failure	*hf;

	LIST_FOREACH(hf, &helm_failures, hf_entry)
		if (strcmp(hf->hf_key, key) == 0)
			break;
	if (!failed) {
		if (hf != NULL) {
			LIST_REMOVE(hf, hf_entry);
			free(hf);
		}
		return;
	}
	if (hf == NULL) {
		hf = xcalloc(1, sizeof(*hf));
		snprintf(hf->hf_key, sizeof(hf->hf_key), "%s", key);
		LIST_INSERT_HEAD(&helm_failures, hf, hf_entry);
	}
	hf->hf_at_ms = now_ms();
}

static int
helm_failed_lately(struct config_upstream *up)
{
	struct helm_failure	*hf;

	LIST_FOREACH(hf, &helm_failures, hf_entry)
		if (strcmp(hf->hf_key, up->up_key) == 0)
			return (now_ms() - hf->hf_at_ms <
			    (long long)up->up_negative_ttl * 1000);
	return (0);
}

void
helm_upstream_refresh(struct helm_request *h,
    void (*again)(struct helm_request *))
{
	struct config		*cf = http_context(h->h_req)->ctx_config;
	struct config_upstream	*ups[HELM_UPSTREAMS_MAX];
	size_t			 i, n;

	n = helm_upstreams_of(cf, h->h_name, ups);
	h->h_waiting = 1;	/* until every refresh is joined */
	for (i = 0; i < n; i++)
		if (!helm_fresh(cf, ups[i])) {
			h->h_waiting++;
			helm_refresh_join(h, ups[i], again);
		}
	if (--h->h_waiting == 0)
		again(h);
}

static void
helm_refresh_join(struct helm_request *h, struct config_upstream *up,
    void (*again)(struct helm_request *))
{
	struct http_context	*ctx = http_context(h->h_req);
	struct helm_refresh	*rf;
	struct helm_waiter	*w;
	char			 path[HELM_PATH_MAX];

	w = xcalloc(1, sizeof(*w));
	w->w_h = h;
	w->w_again = again;
	LIST_FOREACH(rf, &helm_refreshes, rf_entry)
		if (strcmp(rf->rf_key, up->up_key) == 0) {
			TAILQ_INSERT_TAIL(&rf->rf_waiters, w, w_entry);
			return;
		}
	rf = xcalloc(1, sizeof(*rf));
	TAILQ_INIT(&rf->rf_waiters);
	TAILQ_INSERT_TAIL(&rf->rf_waiters, w, w_entry);
	LIST_INSERT_HEAD(&helm_refreshes, rf, rf_entry);
	snprintf(rf->rf_key, sizeof(rf->rf_key), "%s", up->up_key);
	rf->rf_up = up;
	rf->rf_config = ctx->ctx_config;
	rf->rf_base = ctx->ctx_base;
	rf->rf_fd = -1;
	rf->rf_url = helm_index_url(up);
	rf->rf_started = now_ms();
	rf->rf_fetcher = ctx->ctx_fetcher;
	rf->rf_lock = -1;
	if (helm_path_upstream(ctx->ctx_config, up->up_key, NULL, rf->rf_dir,
	    sizeof(rf->rf_dir)) == -1 || mkdir_p(rf->rf_dir, 0750) == -1 ||
	    path_fmt(path, sizeof(path), "%s/lock", rf->rf_dir) == -1 ||
	    (rf->rf_lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC,
	    0640)) == -1) {
		log_warn("%s: %s", __func__, rf->rf_dir);
		helm_refresh_finish(rf);
		return;
	}
	/* one refresh per upstream across the workers: the lock's holder */
	if (flock(rf->rf_lock, LOCK_EX | LOCK_NB) == -1) {
		if ((rf->rf_poll = evtimer_new(rf->rf_base, helm_refresh_poll_cb,
		    rf)) == NULL)
			fatalx("%s: evtimer_new", __func__);
		helm_refresh_poll_cb(-1, 0, rf);
		return;
	}
	helm_refresh_fetch(rf);
}

/* Another process refreshes: wait for its lock, then look again. */
static void
helm_refresh_poll_cb(evutil_socket_t fd, short events, void *arg)
{
	struct helm_refresh	*rf = arg;
	struct timeval		 tv;

	if (fd != -1 || events != 0) {
		if (flock(rf->rf_lock, LOCK_EX | LOCK_NB) == 0) {
			if (helm_fresh(rf->rf_config, rf->rf_up))
				helm_refresh_finish(rf);
			else
				helm_refresh_fetch(rf);
			return;
		}
	}
	tv.tv_sec = 0;
	tv.tv_usec = HELM_POLL_MS * 1000;
	evtimer_add(rf->rf_poll, &tv);
}

/* Ask the upstream, with validators when its member is kept. */
static void
helm_refresh_fetch(struct helm_refresh *rf)
{
	struct config_upstream	*up = rf->rf_up;
	struct fetch_request	 fr;
	struct fetch_callbacks	 cb;
	char			 path[HELM_PATH_MAX], *inm = NULL, *ims = NULL;
	const char		*headers[2];
	json_t			*st = NULL;
	size_t			 nh = 0;

	rf->rf_started = now_ms();
	/* validators only when the member they describe is there */
	if (helm_path_upstream(rf->rf_config, up->up_key, "member", path,
	    sizeof(path)) == 0 && access(path, F_OK) == 0 &&
	    helm_path_upstream(rf->rf_config, up->up_key, "state", path,
	    sizeof(path)) == 0 && helm_state_read(path, &st) == 0 &&
	    json_is_string(json_object_get(st, "url")) &&
	    strcmp(json_string_value(json_object_get(st, "url")),
	    rf->rf_url) == 0) {
		if (json_is_string(json_object_get(st, "etag")))
			xasprintf(&inm, "If-None-Match: %s", json_string_value(
			    json_object_get(st, "etag")));
		if (json_is_string(json_object_get(st, "last_modified")))
			xasprintf(&ims, "If-Modified-Since: %s",
			    json_string_value(json_object_get(st,
			    "last_modified")));
		rf->rf_etag = json_is_string(json_object_get(st, "etag")) ?
		    xstrdup(json_string_value(json_object_get(st, "etag"))) :
		    NULL;
		rf->rf_modified = json_is_string(json_object_get(st,
		    "last_modified")) ? xstrdup(json_string_value(
		    json_object_get(st, "last_modified"))) : NULL;
	}
	json_decref(st);
	if (inm != NULL && strpbrk(inm, "\r\n") == NULL)
		headers[nh++] = inm;
	if (ims != NULL && strpbrk(ims, "\r\n") == NULL)
		headers[nh++] = ims;
	memset(&fr, 0, sizeof(fr));
	fr.method = FETCH_GET;
	fr.url = rf->rf_url;
	fr.headers = headers;
	fr.nheaders = nh;
	fr.timeout = up->up_timeout;
	fr.min_speed = up->up_min_speed;
	fr.speed_window = up->up_speed_window;
	fr.ca_file = up->up_ca_file;
	fr.insecure_tls = up->up_insecure_tls;
	if (up->up_auth.cr_type == AUTH_USERPASS) {
		fr.username = up->up_auth.cr_username;
		fr.password = up->up_auth.cr_password;
	}
	memset(&cb, 0, sizeof(cb));
	cb.on_headers = helm_refresh_headers;
	cb.on_data = helm_refresh_data;
	cb.on_done = helm_refresh_done;
	if (fetch_start(rf->rf_fetcher, &fr, &cb, rf) == NULL) {
		helm_failed(up->up_key, 1);
		helm_refresh_finish(rf);
	}
	free(inm);
	free(ims);
}

/* Wake the waiting requests and free rf. */
static void
helm_refresh_finish(struct helm_refresh *rf)
{
	struct helm_waiter	*w;

	LIST_REMOVE(rf, rf_entry);
	while ((w = TAILQ_FIRST(&rf->rf_waiters)) != NULL) {
		TAILQ_REMOVE(&rf->rf_waiters, w, w_entry);
		if (--w->w_h->h_waiting == 0)
			w->w_again(w->w_h);
		free(w);
	}
	if (rf->rf_fd != -1)
		close(rf->rf_fd);
	if (rf->rf_tmp[0] != '\0')
		(void)unlink(rf->rf_tmp);
	if (rf->rf_poll != NULL)
		event_free(rf->rf_poll);
	if (rf->rf_lock != -1)
		close(rf->rf_lock);	/* releases the flock */
	free(rf->rf_renders);
	free(rf->rf_url);
	free(rf->rf_etag);
	free(rf->rf_modified);
	free(rf);
}

static int
helm_refresh_headers(struct fetch *f, long status, void *arg)
{
	struct helm_refresh	*rf = arg;
	const char		*v;

	rf->rf_status = status;
	if (status != 200)
		return (0);
	if (path_fmt(rf->rf_tmp, sizeof(rf->rf_tmp), "%s/index.tmp.XXXXXX",
	    rf->rf_dir) == -1 || (rf->rf_fd = mkstemp(rf->rf_tmp)) == -1) {
		log_warn("%s: %s", __func__, rf->rf_dir);
		rf->rf_tmp[0] = '\0';
		return (-1);
	}
	free(rf->rf_etag);
	free(rf->rf_modified);
	rf->rf_etag = (v = fetch_header(f, "ETag")) != NULL ? xstrdup(v) : NULL;
	rf->rf_modified = (v = fetch_header(f, "Last-Modified")) != NULL ?
	    xstrdup(v) : NULL;
	return (0);
}

static int
helm_refresh_data(struct fetch *f, const void *buf, size_t len, void *arg)
{
	struct helm_refresh	*rf = arg;

	(void)f;
	if (rf->rf_fd == -1)
		return (0);	/* an error page: not kept */
	rf->rf_size += len;
	if (rf->rf_size > HELM_INDEX_BODY_MAX ||
	    write_all(rf->rf_fd, buf, len) == -1)
		return (-1);
	metrics_upstream_bytes(rf->rf_key, len);
	return (0);
}

static const char *
helm_fetch_reason(enum fetch_result result)
{
	switch (result) {
	case FETCH_ETIMEOUT:
		return ("timeout");
	case FETCH_ECONNECT:
		return ("connect");
	case FETCH_ENETWORK:
		return ("network");
	case FETCH_ETLS:
		return ("tls");
	case FETCH_EPROTOCOL:
		return ("protocol");
	default:
		return ("other");
	}
}

static void
helm_refresh_done(struct fetch *f, enum fetch_result result,
    const char *errmsg, void *arg)
{
	struct helm_refresh	*rf = arg;
	struct config		*cf = rf->rf_config;
	struct config_registry	*reg;
	struct helm_render_spec	*rs;
	char			*redacted;
	size_t			 i, j;

	(void)f;
	metrics_upstream_request(rf->rf_key, (int)rf->rf_status,
	    (now_ms() - rf->rf_started) / 1000.0);
	if (result == FETCH_OK && rf->rf_status == 304) {
		helm_failed(rf->rf_key, 0);
		metrics_cache(rf->rf_key, "index", METRICS_CACHE_HIT);
		(void)helm_state_write(rf, 0);
		helm_refresh_finish(rf);
		return;
	}
	if (result != FETCH_OK || rf->rf_status != 200) {
		redacted = fetch_url_redact(rf->rf_url);
		log_warnx("helm upstream %s: %s: %s; serving the cached index "
		    "(stale)", rf->rf_key, redacted, result != FETCH_OK ?
		    (errmsg ? errmsg : fetch_result_str(result)) :
		    rf->rf_status == 401 || rf->rf_status == 403 ?
		    "refused the credentials" : "unexpected status");
		if (result == FETCH_OK)
			log_warnx("helm upstream %s: status %ld", rf->rf_key,
			    rf->rf_status);
		free(redacted);
		metrics_upstream_error(rf->rf_key, result != FETCH_OK ?
		    helm_fetch_reason(result) : rf->rf_status == 401 ||
		    rf->rf_status == 403 ? "auth" : rf->rf_status >= 500 ?
		    "status" : "other");
		metrics_cache(rf->rf_key, "index", METRICS_CACHE_STALE);
		upstream_state_error(rf->rf_key, result != FETCH_OK ?
		    (errmsg ? errmsg : fetch_result_str(result)) :
		    "index.yaml: unexpected status");
		(void)upstream_state_failure(rf->rf_key, time(NULL));
		helm_failed(rf->rf_key, 1);
		(void)helm_state_write(rf, 1);
		helm_refresh_finish(rf);
		return;
	}
	helm_failed(rf->rf_key, 0);
	metrics_cache(rf->rf_key, "index", METRICS_CACHE_MISS);
	close(rf->rf_fd);
	rf->rf_fd = -1;
	/* every index that has this upstream as a member */
	for (i = 0; i <= cf->cf_nregistries; i++) {
		const char	*name;

		if (i < cf->cf_nregistries) {
			reg = &cf->cf_registries[i];
			if (reg->reg_type != REPO_HELM)
				continue;
			for (j = 0; j < reg->reg_upstreams.sl_count; j++)
				if (strcmp(reg->reg_upstreams.sl_items[j],
				    rf->rf_key) == 0)
					break;
			if (j == reg->reg_upstreams.sl_count)
				continue;
			name = reg->reg_name;
		} else
			name = rf->rf_key;
		rf->rf_renders = xreallocarray(rf->rf_renders,
		    rf->rf_nrenders + 1, sizeof(*rf->rf_renders));
		rs = &rf->rf_renders[rf->rf_nrenders];
		if (helm_path_render(cf, name, rs->rs_dir,
		    sizeof(rs->rs_dir)) == -1)
			continue;
		rs->rs_n = helm_members(cf, name, rs->rs_members);
		rf->rf_nrenders++;
	}
	offload_run(rf->rf_base, helm_refresh_work, helm_refresh_parsed, rf);
}

/* In a thread: parse into the member file, render the indexes. */
static void
helm_refresh_work(void *arg)
{
	struct helm_refresh	*rf = arg;
	const char		*members[HELM_UPSTREAMS_MAX + 1];
	char			 path[HELM_PATH_MAX], *cause = NULL;
	size_t			 skipped = 0, i, j;

	rf->rf_ret = -1;
	if (path_fmt(path, sizeof(path), "%s/member", rf->rf_dir) == -1)
		return;
	if (helm_index_parse(rf->rf_tmp, rf->rf_url, path, &rf->rf_entries,
	    &skipped, &cause) == -1) {
		log_warnx("helm upstream %s: index.yaml refused: %s",
		    rf->rf_key, cause);
		(void)snprintf(rf->rf_cause, sizeof(rf->rf_cause),
		    "index.yaml refused: %s", cause);
		free(cause);
		return;
	}
	if (skipped > 0)
		log_info("helm upstream %s: %zu index entries left out "
		    "(bad name, version, digest, URL or field types)",
		    rf->rf_key, skipped);
	rf->rf_ret = 0;
	for (i = 0; i < rf->rf_nrenders; i++) {
		for (j = 0; j < rf->rf_renders[i].rs_n; j++)
			members[j] = rf->rf_renders[i].rs_members[j];
		if (helm_render(rf->rf_renders[i].rs_dir, members,
		    rf->rf_renders[i].rs_n, &cause) == -1) {
			log_warnx("%s: %s: %s", __func__,
			    rf->rf_renders[i].rs_dir, cause);
			free(cause);
			cause = NULL;
		}
	}
}

static void
helm_refresh_parsed(void *arg)
{
	struct helm_refresh	*rf = arg;

	if (rf->rf_ret == 0) {
		log_info("helm upstream %s: index.yaml updated, %zu entries",
		    rf->rf_key, rf->rf_entries);
		(void)helm_state_write(rf, 0);
		upstream_state_success(rf->rf_key);
	} else {
		upstream_state_error(rf->rf_key, rf->rf_cause[0] != '\0' ?
		    rf->rf_cause : "index.yaml refused");
		(void)upstream_state_failure(rf->rf_key, time(NULL));
		metrics_upstream_error(rf->rf_key, "protocol");
		metrics_cache(rf->rf_key, "index", METRICS_CACHE_STALE);
		helm_failed(rf->rf_key, 1);
		(void)helm_state_write(rf, 1);
	}
	helm_refresh_finish(rf);
}

/*
 * The state file: validators, the URL and when it was fetched; or, after
 * a failure, when it failed (every worker then serves the kept index for
 * negative_ttl seconds without asking).
 */
static int
helm_state_write(struct helm_refresh *rf, int failed)
{
	char	 path[HELM_PATH_MAX], tmp[HELM_PATH_MAX];
	json_t	*st;
	int	 ret;

	if (path_fmt(path, sizeof(path), "%s/state", rf->rf_dir) == -1 ||
	    path_fmt(tmp, sizeof(tmp), "%s/state.%ld", rf->rf_dir,
	    (long)getpid()) == -1)
		return (-1);
	if (failed) {
		if (helm_state_read(path, &st) == -1)
			st = json_object();
		json_object_set_new(st, "failed_at",
		    json_integer((json_int_t)time(NULL)));
	} else {
		st = json_pack("{s:s, s:I}", "url", rf->rf_url, "fetched_at",
		    (json_int_t)time(NULL));
		if (rf->rf_etag != NULL)
			json_object_set_new(st, "etag",
			    json_string(rf->rf_etag));
		if (rf->rf_modified != NULL)
			json_object_set_new(st, "last_modified",
			    json_string(rf->rf_modified));
	}
	ret = json_dump_file(st, tmp, JSON_COMPACT);
	json_decref(st);
	if (ret == -1 || rename(tmp, path) == -1) {
		log_warn("%s: %s", __func__, path);
		(void)unlink(tmp);
		return (-1);
	}
	return (0);
}

/* Charts. */
void
helm_upstream_chart(struct helm_request *h,
    void (*again)(struct helm_request *))
{
	struct http_context	*ctx = http_context(h->h_req);
	struct config_upstream	*ups[HELM_UPSTREAMS_MAX], *up;
	struct helm_waiter	*w;
	struct helm_fill	*fl;
	struct fetch_request	 fr;
	struct fetch_callbacks	 cb;
	char			*index_url, *cause = NULL;
	struct timeval		 tv;
	size_t			 n;
	int			 claim;

	w = xcalloc(1, sizeof(*w));
	w->w_h = h;
	w->w_again = again;
	n = helm_upstreams_of(ctx->ctx_config, h->h_name, ups);
	if (h->h_member >= n) {
		h->h_found = 0;
		again(h);
		free(w);
		return;
	}
	up = ups[h->h_member];
	if (!helm_digest_ok(h->h_rec.hr_digest)) {
		/* unverifiable: its URL could point anywhere */
		log_warnx("helm upstream %s: chart %s: upstream index gives "
		    "no digest for this chart", up->up_key, h->h_rec.hr_name);
		helm_reply_error(h->h_req, 502, "upstream index gives no "
		    "digest for this chart");
		h->h_found = -1;		/* answered */
		again(h);
		free(w);
		return;
	}
	LIST_FOREACH(fl, &helm_fills, fl_entry)
		if (strcmp(fl->fl_url, h->h_rec.hr_url) == 0) {
			metrics_singleflight_wait(h->h_name);
			TAILQ_INSERT_TAIL(&fl->fl_waiters, w, w_entry);
			helm_fill_follow(fl);
			return;
		}
	fl = xcalloc(1, sizeof(*fl));
	TAILQ_INIT(&fl->fl_waiters);
	TAILQ_INSERT_TAIL(&fl->fl_waiters, w, w_entry);
	LIST_INSERT_HEAD(&helm_fills, fl, fl_entry);
	fl->fl_url = xstrdup(h->h_rec.hr_url);
	snprintf(fl->fl_key, sizeof(fl->fl_key), "%s", up->up_key);
	snprintf(fl->fl_registry, sizeof(fl->fl_registry), "%s", h->h_name);
	fl->fl_chart = xstrdup(h->h_rec.hr_name != NULL ? h->h_rec.hr_name :
	    "");
	fl->fl_ctx = ctx;
	fl->fl_blobs = ctx->ctx_blobs;
	fl->fl_started = now_ms();
	fl->fl_base = ctx->ctx_base;
	fl->fl_size = -1;
	if (strlen(h->h_rec.hr_digest) == 64) {
		char	 ds[DIGEST_STRING_MAX];

		snprintf(ds, sizeof(ds), "sha256:%s", h->h_rec.hr_digest);
		fl->fl_has_digest = digest_parse(ds, &fl->fl_digest,
		    NULL) == 0;
	}
	if (fl->fl_has_digest) {
		claim = blobstore_claim_fetch(ctx->ctx_blobs, &fl->fl_digest,
		    &fl->fl_writer, &cause);
		if (claim == 0) {
			/* another process fetches it, or it is there */
			fl->fl_poll = evtimer_new(ctx->ctx_base,
			    helm_fill_poll_cb, fl);
			if (fl->fl_poll == NULL)
				fatalx("%s: evtimer_new", __func__);
			tv.tv_sec = 0;
			tv.tv_usec = HELM_POLL_MS * 1000;
			evtimer_add(fl->fl_poll, &tv);
			return;
		}
	} else
		fl->fl_writer = blob_writer_create(ctx->ctx_blobs,
		    DIGEST_SHA256, &cause);
	if (fl->fl_writer == NULL) {
		log_warnx("%s: %s", __func__, cause ? cause : "no writer");
		free(cause);
		helm_fill_finish(fl);
		return;
	}
	index_url = helm_index_url(up);
	memset(&fr, 0, sizeof(fr));
	fr.method = FETCH_GET;
	fr.url = fl->fl_url;
	fr.timeout = up->up_timeout;
	fr.min_speed = up->up_min_speed;
	fr.speed_window = up->up_speed_window;
	fr.ca_file = up->up_ca_file;
	fr.insecure_tls = up->up_insecure_tls;
	/* credentials go to the upstream's own origin only */
	if (up->up_auth.cr_type == AUTH_USERPASS &&
	    upstream_auth_same_origin(index_url, fl->fl_url)) {
		fr.username = up->up_auth.cr_username;
		fr.password = up->up_auth.cr_password;
	}
	free(index_url);
	memset(&cb, 0, sizeof(cb));
	cb.on_headers = helm_fill_headers;
	cb.on_data = helm_fill_data;
	cb.on_done = helm_fill_done;
	if (fetch_start(ctx->ctx_fetcher, &fr, &cb, fl) == NULL) {
		blob_writer_abort(fl->fl_writer);
		fl->fl_writer = NULL;
		helm_fill_finish(fl);
	}
}

/* A request that streamed the chart from the part file is done. */
static void
helm_followed_cb(int ok, void *arg)
{
	struct helm_request	*h = arg;

	(void)ok;
	h->h_req = NULL;	/* answered by the follower */
	helm_request_free(h);
}

/*
 * Once the chart's size is known, the waiting requests stream it from
 * the part file as it grows (blob_follow.h: the tail is held back until
 * the digest is verified and the chart committed; a failed fetch cuts
 * them). Those that cannot follow wait for the end.
 */
static void
helm_fill_follow(struct helm_fill *fl)
{
	struct helm_waiter	*w, *next;

	if (!fl->fl_has_digest || fl->fl_size < 0)
		return;
	for (w = TAILQ_FIRST(&fl->fl_waiters); w != NULL; w = next) {
		next = TAILQ_NEXT(w, w_entry);
		if (blob_follow_start(w->w_h->h_req, fl->fl_blobs,
		    &fl->fl_digest, fl->fl_size, helm_followed_cb,
		    w->w_h) == NULL)
			continue;
		TAILQ_REMOVE(&fl->fl_waiters, w, w_entry);
		free(w);
	}
}

/* Wake the requests waiting for fl (with the blob's digest) and free it. */
static void
helm_fill_finish(struct helm_fill *fl)
{
	struct helm_waiter	*w;
	struct helm_request	*h;

	LIST_REMOVE(fl, fl_entry);
	while ((w = TAILQ_FIRST(&fl->fl_waiters)) != NULL) {
		TAILQ_REMOVE(&fl->fl_waiters, w, w_entry);
		h = w->w_h;
		h->h_found = fl->fl_ok ? 2 : 0;
		if (fl->fl_ok) {
			free(h->h_rec.hr_digest);
			h->h_rec.hr_digest = xstrdup(fl->fl_digest.hex);
		}
		w->w_again(h);
		free(w);
	}
	if (fl->fl_poll != NULL)
		event_free(fl->fl_poll);
	blob_writer_abort(fl->fl_writer);
	if (fl->fl_has_digest)
		blob_follow_wake(&fl->fl_digest);	/* ended: either way */
	free(fl->fl_url);
	free(fl->fl_chart);
	free(fl->fl_cause);
	free(fl);
}

static void
helm_fill_poll_cb(evutil_socket_t fd, short events, void *arg)
{
	struct helm_fill	*fl = arg;
	struct timeval		 tv;

	(void)fd;
	(void)events;
	if (blobstore_stat(fl->fl_blobs, &fl->fl_digest, NULL) == 1) {
		fl->fl_ok = 1;
		helm_fill_finish(fl);
		return;
	}
	if (!blobstore_fetch_active(fl->fl_blobs, &fl->fl_digest)) {
		helm_fill_finish(fl);		/* that fetch failed */
		return;
	}
	if (fl->fl_size < 0 && blobstore_part_size_get(fl->fl_blobs,
	    &fl->fl_digest, &fl->fl_size, NULL, 0) != 1)
		fl->fl_size = -1;
	helm_fill_follow(fl);
	if (TAILQ_EMPTY(&fl->fl_waiters)) {
		helm_fill_finish(fl);		/* every one follows */
		return;
	}
	tv.tv_sec = 0;
	tv.tv_usec = HELM_POLL_MS * 1000;
	evtimer_add(fl->fl_poll, &tv);
}

static int
helm_fill_headers(struct fetch *f, long status, void *arg)
{
	struct helm_fill	*fl = arg;
	off_t			 len = fetch_content_length(f);

	fl->fl_status = status;
	if (status != 200)
		return (-1);
	if (len > HELM_CHART_BODY_MAX)
		return (-1);
	if (len >= 0 && fl->fl_has_digest) {
		(void)blobstore_part_size_set(fl->fl_writer, len, fl->fl_key);
		fl->fl_size = len;
		helm_fill_follow(fl);
	}
	return (0);
}

static int
helm_fill_data(struct fetch *f, const void *buf, size_t len, void *arg)
{
	struct helm_fill	*fl = arg;

	(void)f;
	if (blob_writer_size(fl->fl_writer) + (off_t)len > HELM_CHART_BODY_MAX ||
	    blob_writer_write(fl->fl_writer, buf, len) == -1)
		return (-1);
	if (fl->fl_size >= 0 && blob_writer_size(fl->fl_writer) > fl->fl_size)
		return (-1);	/* more than announced */
	metrics_upstream_bytes(fl->fl_key, len);
	if (fl->fl_has_digest)
		blob_follow_wake(&fl->fl_digest);
	return (0);
}

static void
helm_fill_done(struct fetch *f, enum fetch_result result, const char *errmsg,
    void *arg)
{
	struct helm_fill	*fl = arg;
	char			*redacted;

	(void)f;
	metrics_upstream_request(fl->fl_key, (int)fl->fl_status,
	    (now_ms() - fl->fl_started) / 1000.0);
	if (result != FETCH_OK || fl->fl_status != 200) {
		redacted = fetch_url_redact(fl->fl_url);
		if (result == FETCH_EABORTED && fl->fl_status != 200)
			log_warnx("helm upstream %s: chart %s: status %ld",
			    fl->fl_key, redacted, fl->fl_status);
		else
			log_warnx("helm upstream %s: chart %s: %s", fl->fl_key,
			    redacted, errmsg ? errmsg :
			    fetch_result_str(result));
		free(redacted);
		metrics_upstream_error(fl->fl_key, result != FETCH_OK &&
		    result != FETCH_EABORTED ? helm_fetch_reason(result) :
		    fl->fl_status >= 500 ? "status" : "other");
		helm_fill_finish(fl);
		return;
	}
	metrics_cache(fl->fl_registry, "chart", METRICS_CACHE_MISS);
	offload_run(fl->fl_base, helm_fill_commit, helm_fill_committed,
	    fl);
}

/* In a thread: verify the digest the index gave, fsync, link. */
static void
helm_fill_commit(void *arg)
{
	struct helm_fill	*fl = arg;
	struct digest		 got;

	if (blob_writer_commit(fl->fl_writer, fl->fl_has_digest ?
	    &fl->fl_digest : NULL, &got, &fl->fl_cause) == 0) {
		fl->fl_ok = 1;
		fl->fl_digest = got;
	}
	fl->fl_writer = NULL;	/* freed either way */
}

static void
helm_fill_committed(void *arg)
{
	struct helm_fill	*fl = arg;
	char			*redacted;

	if (!fl->fl_ok) {
		redacted = fetch_url_redact(fl->fl_url);
		log_warnx("helm upstream %s: chart %s refused: %s", fl->fl_key,
		    redacted, fl->fl_cause ? fl->fl_cause : "not stored");
		free(redacted);
		metrics_upstream_error(fl->fl_key, "digest");
	} else if (fl->fl_has_digest && helm_cache_link(fl->fl_ctx,
	    fl->fl_key, fl->fl_chart, &fl->fl_digest) == -1)
		log_warnx("helm upstream %s: chart %s: cannot be linked into "
		    "the cache", fl->fl_key, fl->fl_chart);
	helm_fill_finish(fl);
}

/*
 * The repository a chart cached from the upstream key is linked in:
 * "<key>/<chart name>". 0, or -1 when there is none (a name that is no
 * chart name, or too long for a repository).
 */
static int
helm_cache_repo(const char *key, const char *chart, char *buf, size_t len)
{
	if (chart == NULL || !helm_name_ok(chart))
		return (-1);
	return (path_fmt(buf, len, "%s/%s", key, chart));
}

/*
 * Link the stored chart d that the upstream key gave into its cache
 * repository, record the pull, and count it in the upstream's cache;
 * over a limit, ask the master for an eviction run (evictor.h). While
 * space is low nothing is linked and the blob is noted for the next run
 * to remove. 1 linked, 0 not (space low, no repository for the name,
 * or not stored), -1 error (logged).
 */
static int
helm_cache_link(struct http_context *ctx, const char *key, const char *chart,
    const struct digest *d)
{
	struct config_server	*srv = &ctx->ctx_config->cf_server;
	struct config_upstream	*up;
	char			 repo[DEPOT_REPO_MAX + 1];
	uint64_t		 mine, all;
	off_t			 size = 0;
	int			 rv;

	if (helm_cache_repo(key, chart, repo, sizeof(repo)) == -1)
		return (0);
	if (space_low(srv->srv_data_dir, srv->srv_min_free_bytes)) {
		evict_note_uncached(ctx->ctx_blobs, d);
		return (0);
	}
	if ((rv = gc_link_stored(ctx->ctx_index, ctx->ctx_blobs, repo, d,
	    INDEX_LINK_CHART, key)) != 1)
		return (rv);
	content_pull_record(ctx->ctx_index, repo, d);
	if ((up = config_upstream_find(ctx->ctx_config, key)) == NULL ||
	    (up->up_max_cache_bytes == 0 && srv->srv_cache_max_bytes == 0) ||
	    blobstore_stat(ctx->ctx_blobs, d, &size) != 1)
		return (1);
	mine = metrics_cache_bytes_add(key, (uint64_t)size);
	all = metrics_cache_bytes_add(NULL, (uint64_t)size);
	if ((up->up_max_cache_bytes > 0 &&
	    mine > (uint64_t)up->up_max_cache_bytes) ||
	    (srv->srv_cache_max_bytes > 0 &&
	    all > (uint64_t)srv->srv_cache_max_bytes))
		metrics_evict_request();
	return (1);
}

void
helm_upstream_cached(struct helm_request *h, const struct digest *d)
{
	struct http_context	*ctx = http_context(h->h_req);
	struct config_upstream	*ups[HELM_UPSTREAMS_MAX];
	char			 repo[DEPOT_REPO_MAX + 1];
	size_t			 n;

	n = helm_upstreams_of(ctx->ctx_config, h->h_name, ups);
	if (h->h_member >= n || helm_cache_repo(ups[h->h_member]->up_key,
	    h->h_rec.hr_name, repo, sizeof(repo)) == -1)
		return;
	/* Cached before charts were linked, or given up by another key. */
	switch (index_link_stat(ctx->ctx_index, repo, d, NULL)) {
	case 0:
		if (helm_cache_link(ctx, ups[h->h_member]->up_key,
		    h->h_rec.hr_name, d) != 1)
			return;
		/* FALLTHROUGH */
	case 1:
		content_pulled(h->h_req, repo, d);
		break;
	default:
		break;
	}
}
