/*
 * helm.c: the /helm/<name>/ requests (see helm.h for the URLs): routing,
 * access, the ChartMuseum API of hosted registries (upload, list,
 * delete), chart downloads and the rendered index.yaml.
 *
 * An upload streams its body to a file in tmp/ (never whole in memory).
 * Off the loop, a thread splits a multipart body, reads the chart's
 * Chart.yaml (libarchive, libyaml), checks it, and hashes and fsyncs the
 * files; back on the loop the version is checked against the index (409);
 * a second thread links the files into the blob store (deduplicated by
 * digest); the row is written (with the registry's generation, in one
 * transaction); a third thread writes the registry's hosted member file
 * from the rows and renders its index.yaml; then the client gets 201.
 * A request never renders an index from all charts: it serves the file
 * the last change rendered (sendfile, ETag of its content).
 */
#include <sys/types.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "access/access.h"
#include "http/http_auth.h"
#include "store/blobstore.h"
#include "store/space.h"
#include "conf/config.h"
#include "lib/digest.h"
#include "helm/helm.h"
#include "helm/helm_chart.h"
#include "helm/helm_index.h"
#include "helm/helm_int.h"
#include "http/http.h"
#include "http/http_body.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/offload.h"
#include "store/gc.h"
#include "store/index_helm.h"
#include "lib/util.h"
#include "lib/xmalloc.h"

#define HELM_API		"api/charts"
#define HELM_CHARTS		"charts/"
#define HELM_INDEX		"index.yaml"
#define HELM_YAML_TYPE		"application/x-yaml"
#define HELM_TGZ_TYPE		"application/gzip"
#define HELM_PROV_TYPE		"application/octet-stream"

/* An upload, from its first body byte to its answer. */
struct helm_upload {
	struct helm_request	 u_h;
	struct http_body	*u_body;
	int			 u_fd;
	char			 u_tmp[HELM_PATH_MAX];	/* the body */
	char			 u_chart[HELM_PATH_MAX];	/* the .tgz */
	char			 u_prov[HELM_PATH_MAX];	/* "" none */
	off_t			 u_size;
	long long		 u_limit;
	int			 u_force;
	char			*u_boundary;	/* multipart, or NULL */
	char			*u_tmpdir;
	struct blobstore	*u_blobs;
	/* results of the threads */
	int			 u_status;	/* 0 ok, else the answer */
	char			*u_cause;
	struct helm_chart	 u_meta;
	char			*u_filename;	/* multipart file name */
	struct digest		 u_digest;
	struct digest		 u_prov_digest;
	off_t			 u_chart_size;
	int			 u_has_prov;
	char			*u_yaml;	/* the entry, rendered */
	struct helm_delta	 u_delta;
};

/* A render of one index, off the loop. */
struct helm_render_job {
	char			 rj_name[DEPOT_NAME_MAX + 1];
	struct event_base	*rj_base;
	struct index		*rj_index;
	char			 rj_dir[HELM_PATH_MAX];
	char			 rj_members[HELM_UPSTREAMS_MAX + 1][HELM_PATH_MAX];
	size_t			 rj_n;
	/* a hosted registry: its member file first */
	int			 rj_hosted;
	char			 rj_hosted_path[HELM_PATH_MAX];
	int64_t			 rj_gen;
	struct helm_delta	 rj_delta;
	int			 rj_has_delta;
	int			 rj_need_full;	/* the delta did not apply */
	int			 rj_full;	/* rows read whole */
	struct index_helm_chart	*rj_rows;
	size_t			 rj_nrows;
	int			 rj_ret;
	void			(*rj_done)(int, void *);
	void			*rj_arg;
};

static int	helm_access(struct helm_request *, unsigned);
static void	helm_route(struct helm_request *);
static void	helm_index_get(struct helm_request *);
static void	helm_index_serve(struct helm_request *);
static void	helm_chart_get(struct helm_request *);
static void	helm_chart_upstream(struct helm_request *);
static void	helm_chart_serve(struct helm_request *, const char *, int);
static void	helm_api(struct helm_request *);
static void	helm_api_list(struct helm_request *, const char *,
		    const char *);
static void	helm_api_delete(struct helm_request *, const char *,
		    const char *);
static void	helm_upload_start(struct helm_request *);
static void	helm_upload_data_cb(struct http_body *, struct evbuffer *,
		    void *);
static void	helm_upload_done_cb(struct http_body *, enum http_body_end,
		    void *);
static void	helm_upload_body(struct helm_upload *);
static void	helm_upload_check(void *);
static void	helm_upload_checked(void *);
static void	helm_upload_commit(void *);
static void	helm_upload_committed(void *);
static void	helm_upload_rendered(int, void *);
static void	helm_upload_free(struct helm_upload *);
static int	helm_multipart(struct helm_upload *);
static void	helm_render_work(void *);
static void	helm_render_done(void *);
static void	helm_reply_json(struct req *, int, json_t *);

int
helm_path_hosted(const struct config *cf, const char *registry, char *buf,
    size_t len)
{
	return (path_fmt(buf, len, "%s/helm/hosted/%s.member",
	    cf->cf_server.srv_data_dir, registry));
}

int
helm_path_upstream(const struct config *cf, const char *key,
    const char *file, char *buf, size_t len)
{
	return (path_fmt(buf, len, "%s/helm/upstreams/%s%s%s",
	    cf->cf_server.srv_data_dir, key, file ? "/" : "",
	    file ? file : ""));
}

int
helm_path_render(const struct config *cf, const char *name, char *buf,
    size_t len)
{
	return (path_fmt(buf, len, "%s/helm/render/%s",
	    cf->cf_server.srv_data_dir, name));
}

void
helm_registry_forget(const struct config *cf, const char *name)
{
	char		 path[HELM_PATH_MAX], file[HELM_PATH_MAX + 256];
	DIR		*d;
	struct dirent	*de;

	if (helm_path_hosted(cf, name, path, sizeof(path)) == 0 &&
	    unlink(path) == -1 && errno != ENOENT)
		log_warn("%s: %s", __func__, path);
	if (helm_path_render(cf, name, path, sizeof(path)) == -1 ||
	    (d = opendir(path)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || path_fmt(file, sizeof(file),
		    "%s/%s", path, de->d_name) == -1)
			continue;
		if (unlink(file) == -1)
			log_warn("%s: %s", __func__, file);
	}
	closedir(d);
	(void)rmdir(path);
}

size_t
helm_members(const struct config *cf, const char *name,
    char (*paths)[HELM_PATH_MAX])
{
	struct config_registry	*reg;
	struct config_upstream	*up;
	size_t			 i, n = 0;

	reg = config_registry_find((struct config *)cf, name);
	if (reg != NULL && reg->reg_type == REPO_HELM) {
		if (helm_path_hosted(cf, name, paths[n], HELM_PATH_MAX) == 0)
			n++;
		for (i = 0; i < reg->reg_upstreams.sl_count &&
		    n <= HELM_UPSTREAMS_MAX; i++) {
			up = config_upstream_find((struct config *)cf,
			    reg->reg_upstreams.sl_items[i]);
			if (up != NULL && up->up_type == REPO_HELM &&
			    helm_path_upstream(cf, up->up_key, "member",
			    paths[n], HELM_PATH_MAX) == 0)
				n++;
		}
		return (n);
	}
	if ((up = config_upstream_find((struct config *)cf, name)) != NULL &&
	    up->up_type == REPO_HELM && helm_path_upstream(cf, name, "member",
	    paths[n], HELM_PATH_MAX) == 0)
		n++;
	return (n);
}

void
helm_reply_error(struct req *r, int status, const char *message)
{
	json_t	*j;

	j = json_pack("{s:s}", "error", message);
	helm_reply_json(r, status, j);
	json_decref(j);
}

static void
helm_reply_json(struct req *r, int status, json_t *j)
{
	char	*text;

	if ((text = json_dumps(j, JSON_COMPACT)) == NULL)
		fatalx("%s: json_dumps", __func__);
	http_reply_json_text(r, status, text);
	free(text);
}

void
helm_request_free(struct helm_request *h)
{
	if (h == NULL)
		return;
	free(h->h_rest);
	free(h->h_file);
	helm_record_clear(&h->h_rec);
	free(h);
}

void
helm_dispatch(struct req *r)
{
	struct helm_request	*h;
	struct config		*cf = http_context(r)->ctx_config;
	const char		*name = r->req_path + strlen(HELM_PREFIX);
	size_t			 n = strcspn(name, "/");

	if (http_auth_identify(r, helm_dispatch) == -1)
		return;
	h = xcalloc(1, sizeof(*h));
	h->h_req = r;
	if (n == 0 || n > DEPOT_NAME_MAX || name[n] != '/') {
		helm_reply_error(r, 404, "no such chart repository");
		helm_request_free(h);
		return;
	}
	memcpy(h->h_name, name, n);
	h->h_name[n] = '\0';
	h->h_rest = xstrdup(name + n + 1);
	h->h_reg = config_registry_find(cf, h->h_name);
	if (h->h_reg != NULL && h->h_reg->reg_type != REPO_HELM)
		h->h_reg = NULL;
	if (h->h_reg == NULL) {
		h->h_up = config_upstream_find(cf, h->h_name);
		if (h->h_up != NULL && h->h_up->up_type != REPO_HELM)
			h->h_up = NULL;
	}
	helm_route(h);
}

/* A refusal held back after a wrong password (slow guessing). */
struct helm_later {
	struct req	*hl_req;
	struct event	*hl_ev;
	char		*hl_message;
};

static void
helm_later_cb(evutil_socket_t fd, short events, void *arg)
{
	struct helm_later	*hl = arg;

	(void)fd;
	(void)events;
	http_header_add(hl->hl_req, "WWW-Authenticate", "Basic realm=\"depot\"");
	helm_reply_error(hl->hl_req, 401, hl->hl_message);
	event_free(hl->hl_ev);
	free(hl->hl_message);
	free(hl);
}

/* 401 with a Basic challenge; held back after a wrong password. */
static void
helm_unauthorized(struct req *r)
{
	const struct access_caller	*who = r->req_caller;
	struct helm_later		*hl;
	struct timeval			 tv;
	const char			*message;
	long				 ms;

	message = who->ca_backoff ? "too many failed logins; try again later" :
	    "authentication required";
	ms = who->ca_bad_password ? access_login_delay_ms(
	    http_context(r)->ctx_config, r->req_client, who->ca_user) : 0;
	if (ms <= 0) {
		http_header_add(r, "WWW-Authenticate", "Basic realm=\"depot\"");
		helm_reply_error(r, 401, message);
		return;
	}
	hl = xcalloc(1, sizeof(*hl));
	hl->hl_req = r;
	hl->hl_message = xstrdup(message);
	if ((hl->hl_ev = evtimer_new(http_context(r)->ctx_base,
	    helm_later_cb, hl)) == NULL)
		fatalx("%s: evtimer_new", __func__);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(hl->hl_ev, &tv);
}

/*
 * May the caller do need on h's registry? 0, or -1 when answered: 401
 * with a Basic challenge (no or bad credentials), 403 (signed in, may
 * read), 404 (may not read: nothing tells that it exists).
 */
static int
helm_access(struct helm_request *h, unsigned need)
{
	struct req			*r = h->h_req;
	struct http_context		*ctx = http_context(r);
	const struct access_caller	*who = r->req_caller;
	unsigned			 policy;

	if (ctx->ctx_access == NULL)
		return (0);
	policy = (h->h_reg != NULL || h->h_up != NULL) ? access_policy(
	    ctx->ctx_config, h->h_name, who->ca_bad ? "" : who->ca_user) : 0;
	if (!who->ca_bad && (policy & need) == need)
		return (0);
	if (who->ca_bad || !who->ca_signed_in)
		helm_unauthorized(r);
	else if ((policy & ACCESS_PULL) == 0)
		helm_reply_error(r, 404, "no such chart repository");
	else
		helm_reply_error(r, 403, "access denied");
	return (-1);
}

static void
helm_route(struct helm_request *h)
{
	struct req		*r = h->h_req;
	enum evhttp_cmd_type	 m = http_method(r);
	unsigned		 need;

	need = (m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD) ? ACCESS_PULL :
	    m == EVHTTP_REQ_DELETE ? ACCESS_DELETE : ACCESS_PUSH;
	if (helm_access(h, need) == -1) {
		helm_request_free(h);
		return;
	}
	if (h->h_reg == NULL && h->h_up == NULL) {
		helm_reply_error(r, 404, "no such chart repository");
		helm_request_free(h);
		return;
	}
	if (strcmp(h->h_rest, HELM_INDEX) == 0 ||
	    strncmp(h->h_rest, HELM_CHARTS, strlen(HELM_CHARTS)) == 0) {
		if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD) {
			http_header_add(r, "Allow", "GET, HEAD");
			helm_reply_error(r, 405, "method not allowed");
			helm_request_free(h);
		} else if (h->h_rest[0] == 'i')
			helm_index_get(h);
		else
			helm_chart_get(h);
		return;
	}
	if (strcmp(h->h_rest, HELM_API) == 0 ||
	    strncmp(h->h_rest, HELM_API "/", strlen(HELM_API) + 1) == 0) {
		helm_api(h);
		return;
	}
	helm_reply_error(r, 404, "no such endpoint");
	helm_request_free(h);
}

/* index.yaml: fresh upstream members first, rendered when missing. */
static void
helm_index_get(struct helm_request *h)
{
	helm_upstream_refresh(h, helm_index_serve);
}

static void
helm_index_rendered(int ret, void *arg)
{
	struct helm_request	*h = arg;

	if (ret == -1) {
		helm_reply_error(h->h_req, 500, "index could not be rendered");
		helm_request_free(h);
		return;
	}
	h->h_changed = -1;	/* rendered: serve, do not render again */
	helm_index_serve(h);
}

/* 1 when an If-None-Match value lists tag. */
static int
helm_etag_match(const char *header, const char *tag)
{
	const char	*p;
	size_t		 n = strlen(tag);

	if (header == NULL)
		return (0);
	if (strcmp(header, "*") == 0)
		return (1);
	for (p = header; (p = strstr(p, tag)) != NULL; p += n)
		if ((p == header || p[-1] == '"') && p[n] == '"')
			return (1);
	return (0);
}

static void
helm_index_serve(struct helm_request *h)
{
	struct req	*r = h->h_req;
	struct config	*cf = http_context(r)->ctx_config;
	const char	*ae = http_header_get(r, "Accept-Encoding");
	char		 dir[HELM_PATH_MAX], name[128], etag[160], when[64];
	struct stat	 st;
	struct tm	 tm;
	int		 fd, gz;

	if (helm_path_render(cf, h->h_name, dir, sizeof(dir)) == -1) {
		helm_reply_error(r, 500, "path too long");
		helm_request_free(h);
		return;
	}
	gz = ae != NULL && strstr(ae, "gzip") != NULL;
	if (h->h_changed == 1 || helm_render_open(dir, gz, name, sizeof(name),
	    &fd) == -1) {
		if (h->h_changed != -1) {
			h->h_changed = 0;
			helm_render_start(r, h->h_name, NULL, helm_index_rendered,
			    h);
			return;
		}
		helm_reply_error(r, 500, "index not available");
		helm_request_free(h);
		return;
	}
	/* index-<sha256>.yaml: the content's digest is its ETag */
	snprintf(etag, sizeof(etag), "\"%.64s%s\"", name + 6, gz ? "-gz" : "");
	(void)fstat(fd, &st);
	gmtime_r(&st.st_mtime, &tm);
	strftime(when, sizeof(when), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	http_header_add(r, "ETag", etag);
	http_header_add(r, "Last-Modified", when);
	http_header_add(r, "Vary", "Accept-Encoding");
	http_header_add(r, "Cache-Control", "no-cache");
	etag[strlen(etag) - 1] = '\0';
	if (helm_etag_match(http_header_get(r, "If-None-Match"), etag + 1) ||
	    (http_header_get(r, "If-None-Match") == NULL &&
	    http_header_get(r, "If-Modified-Since") != NULL &&
	    strcmp(http_header_get(r, "If-Modified-Since"), when) == 0)) {
		close(fd);
		http_reply(r, 304, NULL, NULL);
		helm_request_free(h);
		return;
	}
	if (gz)
		http_header_add(r, "Content-Encoding", "gzip");
	http_reply_file(r, 200, HELM_YAML_TYPE, fd, 0, st.st_size);
	helm_request_free(h);
}

static void
helm_chart_get(struct helm_request *h)
{
	struct req		*r = h->h_req;
	struct http_context	*ctx = http_context(r);
	struct index_helm_chart	 c;
	const char		*file = h->h_rest + strlen(HELM_CHARTS);
	char			 base[512], name[256], version[129];
	const char		*p;
	size_t			 n = strlen(file);
	int			 prov = 0, found = 0;

	if (n > 5 && strcmp(file + n - 5, ".prov") == 0) {
		prov = 1;
		n -= 5;
	}
	if (n <= 4 || n >= sizeof(base) || strncmp(file + n - 4, ".tgz", 4) ||
	    strchr(file, '/') != NULL) {
		helm_reply_error(r, 404, "no such chart");
		helm_request_free(h);
		return;
	}
	memcpy(base, file, n - 4);
	base[n - 4] = '\0';
	/* hosted first: every split whose version is SemVer */
	for (p = strchr(base, '-'); h->h_reg != NULL && p != NULL;
	    p = strchr(p + 1, '-')) {
		if ((size_t)(p - base) >= sizeof(name) ||
		    strlen(p + 1) >= sizeof(version))
			continue;
		memcpy(name, base, p - base);
		name[p - base] = '\0';
		strcpy(version, p + 1);
		if (!helm_name_ok(name) || !helm_semver_ok(version) ||
		    index_helm_get(ctx->ctx_index, h->h_name, name, version,
		    &c) != 1)
			continue;
		found = !prov || c.ihc_prov[0] != '\0';
		if (found)
			helm_chart_serve(h, prov ? c.ihc_prov : c.ihc_digest,
			    prov);
		index_helm_chart_clear(&c);
		if (found)
			return;
	}
	if (prov) {
		helm_reply_error(r, 404, "no such provenance file");
		helm_request_free(h);
		return;
	}
	xasprintf(&h->h_file, "%s.tgz", base);
	helm_chart_upstream(h);
}

/* Serve the blob hex (a hosted chart or a cached one). */
static void
helm_chart_serve(struct helm_request *h, const char *hex, int prov)
{
	struct req		*r = h->h_req;
	struct http_context	*ctx = http_context(r);
	struct digest		 d;
	off_t			 size;
	int			 fd;

	d.alg = DIGEST_SHA256;
	snprintf(d.hex, sizeof(d.hex), "%s", hex);
	if (strlen(hex) != 64 || blobstore_open_blob(ctx->ctx_blobs, &d,
	    &fd, &size) == -1) {
		log_warnx("%s: %s: chart %s: blob sha256:%s missing", __func__,
		    h->h_name, h->h_rest, hex);
		helm_reply_error(r, 404, "chart file missing from the store");
		helm_request_free(h);
		return;
	}
	http_reply_file(r, 200, prov ? HELM_PROV_TYPE : HELM_TGZ_TYPE, fd, 0,
	    size);
	helm_request_free(h);
}

/* Look the chart up in the upstream members, off the loop. */
struct helm_find_job {
	struct helm_request	*fj_h;
	char			 fj_members[HELM_UPSTREAMS_MAX + 1][HELM_PATH_MAX];
	size_t			 fj_first;	/* skip the hosted member */
	size_t			 fj_n;
};

static void
helm_find_work(void *arg)
{
	struct helm_find_job	*fj = arg;
	struct helm_request	*h = fj->fj_h;
	size_t			 i;

	for (i = fj->fj_first; i < fj->fj_n; i++)
		if (helm_member_find(fj->fj_members[i], h->h_file,
		    &h->h_rec) == 1) {
			h->h_found = 1;
			h->h_member = i - fj->fj_first;
			return;
		}
}

static void
helm_chart_found(struct helm_request *h)
{
	struct req		*r = h->h_req;
	struct http_context	*ctx = http_context(r);
	struct digest		 d;
	int			 filled = h->h_found == 2;

	if (h->h_found == -1) {
		helm_request_free(h);		/* answered */
		return;
	}
	d.alg = DIGEST_SHA256;
	snprintf(d.hex, sizeof(d.hex), "%s", h->h_rec.hr_digest);
	if (h->h_found > 0 && strlen(h->h_rec.hr_digest) == 64 &&
	    blobstore_stat(ctx->ctx_blobs, &d, NULL) == 1) {
		if (!filled)
			metrics_cache(h->h_name, "chart", METRICS_CACHE_HIT);
		helm_upstream_cached(h, &d);
		helm_chart_serve(h, h->h_rec.hr_digest, 0);
		return;
	}
	if (filled || h->h_found <= 0) {
		helm_reply_error(r, 502, "chart could not be fetched from "
		    "its upstream");
		helm_request_free(h);
		return;
	}
	helm_upstream_chart(h, helm_chart_found);
}

static void
helm_find_done(void *arg)
{
	struct helm_find_job	*fj = arg;
	struct helm_request	*h = fj->fj_h;

	free(fj);
	if (!h->h_found) {
		helm_reply_error(h->h_req, 404, "no such chart");
		helm_request_free(h);
		return;
	}
	helm_chart_found(h);
}

static void
helm_chart_upstream(struct helm_request *h)
{
	struct http_context	*ctx = http_context(h->h_req);
	struct helm_find_job	*fj;

	fj = xcalloc(1, sizeof(*fj));
	fj->fj_h = h;
	fj->fj_n = helm_members(ctx->ctx_config, h->h_name, fj->fj_members);
	fj->fj_first = h->h_reg != NULL ? 1 : 0;
	h->h_found = 0;
	offload_run(ctx->ctx_base, helm_find_work, helm_find_done, fj);
}

/* /api/charts[/<name>[/<version>]] */
static void
helm_api(struct helm_request *h)
{
	struct req		*r = h->h_req;
	enum evhttp_cmd_type	 m = http_method(r);
	char			*name = NULL, *version = NULL, *p;

	p = h->h_rest + strlen(HELM_API);
	if (*p == '/') {
		name = p + 1;
		if ((p = strchr(name, '/')) != NULL) {
			*p = '\0';
			version = p + 1;
			if (strchr(version, '/') != NULL || *version == '\0')
				goto notfound;
		}
		if (*name == '\0')
			goto notfound;
	}
	if (m == EVHTTP_REQ_POST && name == NULL) {
		if (h->h_reg == NULL || h->h_reg->reg_read_only) {
			helm_reply_error(r, 405, "charts are uploaded into "
			    "a hosted helm registry, not an upstream");
			helm_request_free(h);
			return;
		}
		helm_upload_start(h);
		return;
	}
	if (m == EVHTTP_REQ_DELETE && version != NULL) {
		if (h->h_reg == NULL || h->h_reg->reg_read_only) {
			helm_reply_error(r, 405, "charts are deleted from "
			    "a hosted helm registry, not an upstream");
			helm_request_free(h);
			return;
		}
		helm_api_delete(h, name, version);
		return;
	}
	if (m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD) {
		helm_api_list(h, name, version);
		return;
	}
	http_header_add(r, "Allow", name == NULL ? "GET, HEAD, POST" :
	    version == NULL ? "GET, HEAD" : "GET, HEAD, DELETE");
	helm_reply_error(r, 405, "method not allowed");
	helm_request_free(h);
	return;
notfound:
	helm_reply_error(r, 404, "no such chart");
	helm_request_free(h);
}

/* The hosted charts as ChartMuseum lists them. */
static void
helm_api_list(struct helm_request *h, const char *name, const char *version)
{
	struct req		*r = h->h_req;
	struct http_context	*ctx = http_context(r);
	struct index_helm_chart	*rows = NULL;
	json_t			*all, *list, *e;
	size_t			 n = 0, i;

	if (h->h_reg == NULL) {
		helm_reply_error(r, 404, "an upstream has no chart API; "
		    "read its index.yaml");
		helm_request_free(h);
		return;
	}
	if ((name != NULL && !helm_name_ok(name)) ||
	    index_helm_list(ctx->ctx_index, h->h_name, name, &rows, &n,
	    NULL) == -1) {
		helm_reply_error(r, name != NULL ? 404 : 500, name != NULL ?
		    "no such chart" : "index unavailable");
		helm_request_free(h);
		return;
	}
	all = json_object();
	for (i = 0; i < n; i++) {
		if (version != NULL && strcmp(rows[i].ihc_version, version))
			continue;
		if ((e = json_loads(rows[i].ihc_entry, 0, NULL)) == NULL)
			continue;
		if ((list = json_object_get(all, rows[i].ihc_name)) == NULL) {
			list = json_array();
			json_object_set_new(all, rows[i].ihc_name, list);
		}
		json_array_append_new(list, e);
	}
	/* newest first, as in index.yaml */
	json_object_foreach(all, name, list) {
		size_t	 a, b;

		for (a = 1; a < json_array_size(list); a++)
			for (b = a; b > 0 && helm_semver_cmp(json_string_value(
			    json_object_get(json_array_get(list, b - 1),
			    "version")), json_string_value(json_object_get(
			    json_array_get(list, b), "version"))) < 0; b--) {
				e = json_incref(json_array_get(list, b - 1));
				json_array_set(list, b - 1,
				    json_array_get(list, b));
				json_array_set_new(list, b, e);
			}
	}
	index_helm_charts_free(rows, n);
	if (version != NULL || h->h_rest[strlen(HELM_API)] == '/') {
		list = json_object_size(all) == 1 ? json_object_iter_value(
		    json_object_iter(all)) : NULL;
		if (list == NULL) {
			helm_reply_error(r, 404, "no such chart");
		} else if (version != NULL)
			helm_reply_json(r, 200, json_array_get(list, 0));
		else
			helm_reply_json(r, 200, list);
	} else
		helm_reply_json(r, 200, all);
	json_decref(all);
	helm_request_free(h);
}

static void
helm_deleted(int ret, void *arg)
{
	struct helm_request	*h = arg;
	json_t			*j;

	if (ret == -1)
		log_warnx("%s: %s: index not rendered again", __func__,
		    h->h_name);
	j = json_pack("{s:b}", "deleted", 1);
	helm_reply_json(h->h_req, 200, j);
	json_decref(j);
	helm_request_free(h);
}

static void
helm_api_delete(struct helm_request *h, const char *name,
    const char *version)
{
	struct req		*r = h->h_req;
	struct http_context	*ctx = http_context(r);
	struct index_helm_chart	 old;
	struct helm_delta	 delta;
	int64_t			 gen;
	int			 ret;

	ret = index_helm_delete(ctx->ctx_index, h->h_name, name, version, &old,
	    &gen);
	index_helm_chart_clear(&old);
	if (ret != 1) {
		helm_reply_error(r, ret == 0 ? 404 : 500, ret == 0 ?
		    "no such chart version" : "index unavailable");
		helm_request_free(h);
		return;
	}
	log_info("helm %s: deleted chart %s %s", h->h_name, name, version);
	memset(&delta, 0, sizeof(delta));
	delta.hd_gen = gen;
	delta.hd_name = (char *)(uintptr_t)name;
	delta.hd_version = (char *)(uintptr_t)version;
	helm_render_start(r, h->h_name, &delta, helm_deleted, h);
}

/*
 * Rendering. A hosted registry's member file follows its rows: a change
 * is applied to it as a delta on top of the generation before (no scan);
 * when a change is missing from it (another worker's delta not applied
 * yet, a crash, a lost file) the rows are read whole and it is written
 * again. Then the index is rendered from the members.
 */
void
helm_render_start(struct req *r, const char *name,
    const struct helm_delta *delta, void (*done)(int, void *), void *arg)
{
	struct http_context	*ctx = http_context(r);
	struct config		*cf = ctx->ctx_config;
	struct config_registry	*reg;
	struct helm_render_job	*rj;

	rj = xcalloc(1, sizeof(*rj));
	rj->rj_done = done;
	rj->rj_arg = arg;
	rj->rj_base = ctx->ctx_base;
	rj->rj_index = ctx->ctx_index;
	snprintf(rj->rj_name, sizeof(rj->rj_name), "%s", name);
	rj->rj_n = helm_members(cf, name, rj->rj_members);
	if (helm_path_render(cf, name, rj->rj_dir, sizeof(rj->rj_dir)) == -1)
		rj->rj_ret = -1;
	reg = config_registry_find(cf, name);
	if (rj->rj_ret == 0 && reg != NULL && reg->reg_type == REPO_HELM) {
		rj->rj_hosted = 1;
		snprintf(rj->rj_hosted_path, sizeof(rj->rj_hosted_path), "%s",
		    rj->rj_members[0]);
		if (delta != NULL) {
			rj->rj_delta = *delta;
			rj->rj_has_delta = 1;
			rj->rj_gen = delta->hd_gen;
		} else if (index_helm_gen(ctx->ctx_index, name,
		    &rj->rj_gen) == -1)
			rj->rj_ret = -1;
	}
	offload_run(ctx->ctx_base, helm_render_work, helm_render_done, rj);
}

/* In a thread: the hosted member file as its rows are. 0 or -1. */
static int
helm_render_hosted(struct helm_render_job *rj)
{
	struct helm_record	*recs, rec;
	struct helm_delta	*d = &rj->rj_delta;
	char			*cause = NULL, *dir;
	int64_t			 have;
	size_t			 i;
	int			 ret;

	dir = xstrdup(rj->rj_hosted_path);
	*strrchr(dir, '/') = '\0';
	ret = mkdir_p(dir, 0750);
	free(dir);
	if (ret == -1) {
		log_warn("%s: %s", __func__, rj->rj_hosted_path);
		return (-1);
	}
	if (rj->rj_rows != NULL || rj->rj_full) {
		recs = xcalloc(rj->rj_nrows ? rj->rj_nrows : 1, sizeof(*recs));
		for (i = 0; i < rj->rj_nrows; i++) {
			recs[i].hr_name = rj->rj_rows[i].ihc_name;
			recs[i].hr_version = rj->rj_rows[i].ihc_version;
			recs[i].hr_digest = rj->rj_rows[i].ihc_digest;
			recs[i].hr_url = (char *)"";
			recs[i].hr_yaml = rj->rj_rows[i].ihc_yaml;
			recs[i].hr_yaml_len = strlen(recs[i].hr_yaml);
		}
		ret = helm_member_write(rj->rj_hosted_path, rj->rj_gen, recs,
		    rj->rj_nrows, &cause);
		free(recs);
	} else if (rj->rj_has_delta) {
		memset(&rec, 0, sizeof(rec));
		rec.hr_name = d->hd_name;
		rec.hr_version = d->hd_version;
		rec.hr_digest = d->hd_digest;
		rec.hr_url = (char *)"";
		rec.hr_yaml = d->hd_yaml;
		rec.hr_yaml_len = d->hd_yaml != NULL ? strlen(d->hd_yaml) : 0;
		ret = helm_member_apply(rj->rj_hosted_path, rj->rj_gen,
		    d->hd_name, d->hd_version, d->hd_yaml != NULL ? &rec :
		    NULL, &cause);
		if (ret == 2)
			rj->rj_need_full = 1;
	} else {
		if (helm_member_gen(rj->rj_hosted_path, &have) == -1)
			have = errno == ENOENT ? 0 : -1;
		ret = 0;
		if (have < rj->rj_gen)
			rj->rj_need_full = 1;
	}
	if (ret == -1) {
		log_warnx("%s: %s", __func__, cause);
		free(cause);
		return (-1);
	}
	return (0);
}

static void
helm_render_work(void *arg)
{
	struct helm_render_job	*rj = arg;
	const char		*members[HELM_UPSTREAMS_MAX + 1];
	char			*cause = NULL;
	size_t			 i;

	if (rj->rj_ret == -1)
		return;
	if (rj->rj_hosted && (helm_render_hosted(rj) == -1 ||
	    rj->rj_need_full)) {
		if (!rj->rj_need_full)
			rj->rj_ret = -1;
		return;
	}
	for (i = 0; i < rj->rj_n; i++)
		members[i] = rj->rj_members[i];
	if (helm_render(rj->rj_dir, members, rj->rj_n, &cause) == -1) {
		log_warnx("%s: %s: %s", __func__, rj->rj_dir, cause);
		rj->rj_ret = -1;
	}
	free(cause);
}

static void
helm_render_done(void *arg)
{
	struct helm_render_job	*rj = arg;

	if (rj->rj_need_full && !rj->rj_full) {
		/* the rows, whole: once per missing change, not per request */
		rj->rj_need_full = 0;
		rj->rj_full = 1;
		if (index_helm_list(rj->rj_index, rj->rj_name, NULL,
		    &rj->rj_rows, &rj->rj_nrows, &rj->rj_gen) == -1)
			rj->rj_ret = -1;
		offload_run(rj->rj_base, helm_render_work, helm_render_done,
		    rj);
		return;
	}
	index_helm_charts_free(rj->rj_rows, rj->rj_nrows);
	rj->rj_done(rj->rj_ret, rj->rj_arg);
	free(rj);
}

/* Uploads. */
static void
helm_upload_free(struct helm_upload *u)
{
	if (u->u_fd != -1)
		close(u->u_fd);
	if (u->u_tmp[0] != '\0')
		(void)unlink(u->u_tmp);
	if (u->u_chart[0] != '\0' && strcmp(u->u_chart, u->u_tmp) != 0)
		(void)unlink(u->u_chart);
	if (u->u_prov[0] != '\0')
		(void)unlink(u->u_prov);
	free(u->u_boundary);
	free(u->u_tmpdir);
	free(u->u_cause);
	free(u->u_filename);
	free(u->u_yaml);
	helm_chart_clear(&u->u_meta);
	free(u->u_h.h_rest);
	free(u->u_h.h_file);
	helm_record_clear(&u->u_h.h_rec);
	free(u);
}

/* Answer and free the upload. */
static void
helm_upload_end(struct helm_upload *u, int status, const char *message)
{
	json_t	*j;

	if (status == 201) {
		j = json_pack("{s:b}", "saved", 1);
		helm_reply_json(u->u_h.h_req, 201, j);
		json_decref(j);
	} else
		helm_reply_error(u->u_h.h_req, status, message);
	helm_upload_free(u);
}

static char *
helm_boundary(const char *ct)
{
	const char	*p;
	size_t		 n;

	if (ct == NULL || strncasecmp(ct, "multipart/form-data", 19) != 0 ||
	    (p = strcasestr(ct, "boundary=")) == NULL)
		return (NULL);
	p += 9;
	if (*p == '"') {
		p++;
		n = strcspn(p, "\"");
	} else
		n = strcspn(p, "; \t");
	if (n == 0 || n > 70)
		return (NULL);
	return (xstrndup(p, n));
}

static void
helm_upload_start(struct helm_request *h)
{
	struct req		*r = h->h_req;
	struct http_context	*ctx = http_context(r);
	struct config_server	*srv = &ctx->ctx_config->cf_server;
	struct helm_upload	*u;
	struct evbuffer		*in;
	const char		*ct = http_header_get(r, "Content-Type");
	int64_t			 declared;

	u = xcalloc(1, sizeof(*u));
	u->u_h = *h;
	free(h);
	u->u_fd = -1;
	u->u_limit = srv->srv_max_chart_size;
	if (srv->srv_max_body > 0 && srv->srv_max_body < u->u_limit)
		u->u_limit = srv->srv_max_body;
	u->u_force = http_query_get(r, "force") != NULL;
	if (space_low(srv->srv_data_dir, srv->srv_min_free_bytes)) {
		helm_upload_end(u, 507, "insufficient storage: the registry "
		    "is low on disk space; try again later");
		return;
	}
	u->u_boundary = helm_boundary(ct);
	if (ct != NULL && strncasecmp(ct, "multipart/", 10) == 0 &&
	    u->u_boundary == NULL) {
		helm_upload_end(u, 400, "multipart body without a boundary");
		return;
	}
	u->u_tmpdir = xstrdup(blobstore_tmpdir(ctx->ctx_blobs));
	u->u_blobs = ctx->ctx_blobs;
	if (path_fmt(u->u_tmp, sizeof(u->u_tmp), "%s/helm-upload.XXXXXX",
	    u->u_tmpdir) == -1 || (u->u_fd = mkstemp(u->u_tmp)) == -1) {
		log_warn("%s: %s", __func__, u->u_tmpdir);
		u->u_tmp[0] = '\0';
		helm_upload_end(u, 500, "cannot store the upload");
		return;
	}
	if ((u->u_body = http_body_claim(r)) != NULL) {
		declared = http_body_declared(u->u_body);
		if (declared > (int64_t)u->u_limit) {
			helm_upload_end(u, 413, "chart larger than the limit "
			    "(server.max_chart_size)");
			return;
		}
		http_body_start(u->u_body, helm_upload_data_cb,
		    helm_upload_done_cb, u);
		return;
	}
	/* A body evhttp read (not diverted): bounded by its own limit. */
	in = evhttp_request_get_input_buffer(r->req_ev);
	helm_upload_data_cb(NULL, in, u);
	if (u->u_status == 0)
		helm_upload_body(u);
	else
		helm_upload_end(u, u->u_status, u->u_cause);
}

static void
helm_upload_data_cb(struct http_body *b, struct evbuffer *buf, void *arg)
{
	struct helm_upload	*u = arg;
	size_t			 n;
	int			 w;

	(void)b;
	if (u->u_status != 0) {
		evbuffer_drain(buf, evbuffer_get_length(buf));
		return;
	}
	while ((n = evbuffer_get_length(buf)) > 0) {
		if (u->u_size + (off_t)n > u->u_limit) {
			u->u_status = 413;
			u->u_cause = xstrdup("chart larger than the limit "
			    "(server.max_chart_size)");
			evbuffer_drain(buf, n);
			return;
		}
		if ((w = evbuffer_write_atmost(buf, u->u_fd, 1024 * 1024)) <= 0) {
			log_warn("%s: write %s", __func__, u->u_tmp);
			u->u_status = 500;
			u->u_cause = xstrdup("cannot store the upload");
			evbuffer_drain(buf, evbuffer_get_length(buf));
			return;
		}
		u->u_size += w;
	}
}

static void
helm_upload_done_cb(struct http_body *b, enum http_body_end end, void *arg)
{
	struct helm_upload	*u = arg;

	(void)b;
	if (end == HTTP_BODY_TOO_LARGE && u->u_status == 0) {
		u->u_status = 413;
		u->u_cause = xstrdup("request body larger than server.max_body");
	} else if (end != HTTP_BODY_COMPLETE && u->u_status == 0) {
		u->u_status = 400;
		u->u_cause = xstrdup("incomplete request body");
	}
	if (u->u_status != 0) {
		helm_upload_end(u, u->u_status, u->u_cause);
		return;
	}
	helm_upload_body(u);
}

/* The whole body is in u_tmp: check it off the loop. */
static void
helm_upload_body(struct helm_upload *u)
{
	struct http_context	*ctx = http_context(u->u_h.h_req);

	if (u->u_size == 0) {
		helm_upload_end(u, 400, "empty body: send a chart .tgz");
		return;
	}
	offload_run(ctx->ctx_base, helm_upload_check, helm_upload_checked, u);
}

/* Hash, fsync and name file; 0 or -1 (u_cause set). */
static int
helm_upload_hash(struct helm_upload *u, const char *path, struct digest *d,
    off_t *size)
{
	struct stat	 st;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    digest_fd(DIGEST_SHA256, fd, d) == -1 || fstat(fd, &st) == -1 ||
	    fsync(fd) == -1) {
		xasprintf(&u->u_cause, "cannot read the upload: %s",
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return (-1);
	}
	close(fd);
	if (size != NULL)
		*size = st.st_size;
	return (0);
}

/* In a thread: split, read Chart.yaml, check, hash. */
static void
helm_upload_check(void *arg)
{
	struct helm_upload	*u = arg;
	char			*want;

	close(u->u_fd);
	u->u_fd = -1;
	if (u->u_boundary != NULL) {
		if (helm_multipart(u) == -1) {
			u->u_status = 400;
			return;
		}
	} else
		snprintf(u->u_chart, sizeof(u->u_chart), "%s", u->u_tmp);
	if (helm_chart_read(u->u_chart, &u->u_meta, &u->u_cause) == -1) {
		u->u_status = 400;
		return;
	}
	if (u->u_filename != NULL) {
		want = helm_chart_file(u->u_meta.hc_name, u->u_meta.hc_version);
		if (strcmp(want, u->u_filename) != 0) {
			xasprintf(&u->u_cause, "file name %s does not match "
			    "the chart's name and version (%s)",
			    u->u_filename, want);
			u->u_status = 400;
		}
		free(want);
		if (u->u_status != 0)
			return;
	}
	if (helm_upload_hash(u, u->u_chart, &u->u_digest,
	    &u->u_chart_size) == -1 || (u->u_prov[0] != '\0' &&
	    helm_upload_hash(u, u->u_prov, &u->u_prov_digest, NULL) == -1))
		u->u_status = 500;
}

static void
helm_upload_checked(void *arg)
{
	struct helm_upload	*u = arg;
	struct http_context	*ctx = http_context(u->u_h.h_req);
	struct index_helm_chart	 c;

	if (u->u_status != 0) {
		helm_upload_end(u, u->u_status, u->u_cause);
		return;
	}
	if (!u->u_force && index_helm_get(ctx->ctx_index, u->u_h.h_name,
	    u->u_meta.hc_name, u->u_meta.hc_version, &c) == 1) {
		index_helm_chart_clear(&c);
		helm_upload_end(u, 409, "chart version already exists "
		    "(upload with ?force to replace it)");
		return;
	}
	offload_run(ctx->ctx_base, helm_upload_commit, helm_upload_committed,
	    u);
}

/* In a thread: link the files into the blob store. */
static void
helm_upload_commit(void *arg)
{
	struct helm_upload	*u = arg;

	if (blobstore_commit_hashed(u->u_blobs, u->u_chart, &u->u_digest,
	    &u->u_cause) == -1) {
		u->u_status = 500;
		return;
	}
	if (strcmp(u->u_chart, u->u_tmp) == 0)
		u->u_tmp[0] = '\0';
	u->u_chart[0] = '\0';
	if (u->u_prov[0] != '\0') {
		if (blobstore_commit_hashed(u->u_blobs, u->u_prov,
		    &u->u_prov_digest, &u->u_cause) == -1) {
			u->u_status = 500;
			return;
		}
		u->u_prov[0] = '\0';
		u->u_has_prov = 1;
	}
}

static void
helm_upload_committed(void *arg)
{
	struct helm_upload	*u = arg;
	struct http_context	*ctx = http_context(u->u_h.h_req);
	struct index_helm_chart	 c, old;
	int64_t			 gen;
	size_t			 len;
	int			 ret, held[2], fds[2] = { -1, -1 };

	if (u->u_status != 0) {
		log_warnx("%s: %s", __func__, u->u_cause);
		helm_upload_end(u, u->u_status, "cannot store the chart");
		return;
	}
	memset(&c, 0, sizeof(c));
	memset(&old, 0, sizeof(old));
	snprintf(c.ihc_name, sizeof(c.ihc_name), "%s", u->u_meta.hc_name);
	snprintf(c.ihc_version, sizeof(c.ihc_version), "%s",
	    u->u_meta.hc_version);
	snprintf(c.ihc_digest, sizeof(c.ihc_digest), "%.64s",
	    u->u_digest.hex);
	if (u->u_has_prov)
		snprintf(c.ihc_prov, sizeof(c.ihc_prov), "%.64s",
		    u->u_prov_digest.hex);
	c.ihc_size = u->u_chart_size;
	c.ihc_created = time(NULL);
	c.ihc_entry = helm_entry_json(&u->u_meta, u->u_digest.hex,
	    (time_t)c.ihc_created);
	c.ihc_yaml = helm_json_yaml(c.ihc_entry, &len);
	if (c.ihc_yaml == NULL) {
		/* Metadata jansson refuses (a NUL inside a string). */
		free(c.ihc_entry);
		helm_upload_end(u, 400, "Chart.yaml holds a value that cannot "
		    "be written into index.yaml");
		return;
	}
	/* Under the sweep's lock (store/gc.h): never a chart to nothing. */
	held[0] = gc_hold(ctx->ctx_blobs, &u->u_digest, &fds[0]);
	held[1] = u->u_has_prov ? gc_hold(ctx->ctx_blobs, &u->u_prov_digest,
	    &fds[1]) : 1;
	if (held[0] == 1 && held[1] == 1)
		ret = index_helm_put(ctx->ctx_index, u->u_h.h_name, &c,
		    u->u_force, &old, &gen);
	else
		ret = -1;
	gc_release(fds[0]);
	gc_release(fds[1]);
	free(c.ihc_entry);
	index_helm_chart_clear(&old);
	if (ret != 1) {
		free(c.ihc_yaml);
		helm_upload_end(u, ret == 0 ? 409 : 500, ret == 0 ?
		    "chart version already exists (upload with ?force to "
		    "replace it)" : "index unavailable");
		return;
	}
	log_info("helm %s: chart %s %s uploaded (sha256:%s)", u->u_h.h_name,
	    c.ihc_name, c.ihc_version, c.ihc_digest);
	u->u_yaml = c.ihc_yaml;
	memset(&u->u_delta, 0, sizeof(u->u_delta));
	u->u_delta.hd_gen = gen;
	u->u_delta.hd_name = u->u_meta.hc_name;
	u->u_delta.hd_version = u->u_meta.hc_version;
	u->u_delta.hd_digest = u->u_digest.hex;
	u->u_delta.hd_yaml = u->u_yaml;
	helm_render_start(u->u_h.h_req, u->u_h.h_name, &u->u_delta,
	    helm_upload_rendered, u);
}

static void
helm_upload_rendered(int ret, void *arg)
{
	struct helm_upload	*u = arg;

	if (ret == -1)
		log_warnx("%s: %s: index not rendered again", __func__,
		    u->u_h.h_name);
	helm_upload_end(u, 201, NULL);
}

/* A header's parameter value (name="value") in a part's head. */
static char *
helm_part_param(const char *head, size_t len, const char *param)
{
	char		*h = xstrndup(head, len), *p, *v = NULL;
	size_t		 pl = strlen(param);

	for (p = h; (p = strcasestr(p, param)) != NULL; p += pl) {
		if ((p != h && p[-1] != ' ' && p[-1] != ';') || p[pl] != '=')
			continue;
		p += pl + 1;
		if (*p == '"')
			v = xstrndup(p + 1, strcspn(p + 1, "\""));
		else
			v = xstrndup(p, strcspn(p, "; \r\n"));
		break;
	}
	free(h);
	return (v);
}

/* Write the part's body to a new temp file, its name in out. */
static int
helm_part_save(struct helm_upload *u, const char *data, size_t len,
    char *out, size_t outlen)
{
	int	 fd;

	if (path_fmt(out, outlen, "%s/helm-part.XXXXXX", u->u_tmpdir) == -1 ||
	    (fd = mkstemp(out)) == -1) {
		out[0] = '\0';
		xasprintf(&u->u_cause, "cannot store the upload: %s",
		    strerror(errno));
		return (-1);
	}
	if (write_all(fd, data, len) == -1) {
		close(fd);
		xasprintf(&u->u_cause, "cannot store the upload: %s",
		    strerror(errno));
		return (-1);
	}
	close(fd);
	return (0);
}

/*
 * Split a multipart/form-data body (RFC 7578): the part named "chart"
 * becomes u_chart, "prov" u_prov; other parts are ignored. The file is
 * mapped, not read into memory. 0, or -1 with u_cause.
 */
static int
helm_multipart(struct helm_upload *u)
{
	struct stat	 st;
	char		*delim, *map = MAP_FAILED, *name, *file;
	const char	*p, *end, *head, *body, *next;
	size_t		 dl;
	int		 fd, ret = -1;

	xasprintf(&delim, "\r\n--%s", u->u_boundary);
	dl = strlen(delim);
	if ((fd = open(u->u_tmp, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1 || st.st_size == 0 ||
	    (map = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0)) ==
	    MAP_FAILED) {
		xasprintf(&u->u_cause, "cannot read the upload");
		goto fail;
	}
	end = map + st.st_size;
	/* the first delimiter may lack its CRLF */
	if ((size_t)st.st_size < dl - 2 || memcmp(map, delim + 2, dl - 2) != 0) {
		if ((p = memmem(map, st.st_size, delim, dl)) == NULL)
			goto bad;
		p += dl;
	} else
		p = map + dl - 2;
	for (;;) {
		if (end - p >= 2 && memcmp(p, "--", 2) == 0)
			break;		/* the close delimiter */
		if (end - p < 2 || memcmp(p, "\r\n", 2) != 0)
			goto bad;
		head = p + 2;
		if ((body = memmem(head, end - head, "\r\n\r\n", 4)) == NULL)
			goto bad;
		body += 4;
		if ((next = memmem(body, end - body, delim, dl)) == NULL)
			goto bad;
		name = helm_part_param(head, body - head, "name");
		file = helm_part_param(head, body - head, "filename");
		if (name != NULL && (strcmp(name, "chart") == 0 ||
		    strcmp(name, "prov") == 0)) {
			int	 chart = name[0] == 'c';
			char	*out = chart ? u->u_chart : u->u_prov;

			if (out[0] != '\0' || helm_part_save(u, body,
			    next - body, out, HELM_PATH_MAX) == -1) {
				if (u->u_cause == NULL)
					xasprintf(&u->u_cause, "form field "
					    "\"%s\" given twice", name);
				free(name);
				free(file);
				goto fail;
			}
			if (chart && file != NULL && *file != '\0') {
				free(u->u_filename);
				u->u_filename = xstrdup(file);
			}
		}
		free(name);
		free(file);
		p = next + dl;
	}
	if (u->u_chart[0] == '\0') {
		xasprintf(&u->u_cause, "multipart body without a \"chart\" "
		    "field");
		goto fail;
	}
	ret = 0;
	goto fail;
bad:
	xasprintf(&u->u_cause, "malformed multipart/form-data body");
fail:
	if (map != MAP_FAILED)
		munmap(map, st.st_size);
	if (fd != -1)
		close(fd);
	free(delim);
	return (ret);
}
