/*
 * api.c: GET /api/v1/...: read-only JSON about the registries, the
 * upstreams, the repositories of a registry with their tags, and the
 * client set-up instructions (conf/setup.c, as depotctl prints them).
 *
 * Who sees what: without an auth group, everyone everything. With one,
 * a caller sees a registry or upstream key its read list allows (a
 * Bearer token from /token stands for its user here, whatever its
 * scopes), and an upstream key also when a registry it may read lists
 * it. Lists leave the rest out; a name the caller may not read answers
 * as an unknown one: 401 with the /v2/ challenge unless signed in, else
 * 404. Errors are {"errors":[{"code","message","detail"}]}. No secret
 * (password, key, token, URL credentials) is ever part of an answer.
 *
 * Sizes come from the index and the stored manifests (small files): a
 * registry's totals stop after API_STATS_MAX tags ("complete": false);
 * a helm registry's count its hosted chart versions the same way. Its
 * chart list (hosted and upstream versions, merged) is read from the
 * member files off the loop (helm_charts_list).
 */
#include <sys/types.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>

#include "access/access.h"
#include "api/api.h"
#include "conf/config.h"
#include "conf/setup.h"
#include "helm/helm.h"
#include "http/http.h"
#include "http/http_auth.h"
#include "lib/digest.h"
#include "lib/log.h"
#include "lib/manifest.h"
#include "lib/metrics.h"
#include "lib/ref.h"
#include "lib/xmalloc.h"
#include "store/blobstore.h"
#include "store/index.h"
#include "store/index_helm.h"
#include "upstream/upstream_state.h"

#define API_PREFIX		"/api/v1"
#define API_PAGE_DEFAULT	100
#define API_PAGE_MAX		1000
#define API_BATCH		256
#define API_STATS_MAX		5000	/* tags a registry's totals read */
#define API_MANIFEST_MAX	(4 * 1024 * 1024)
#define API_TAGS_MAX		10000	/* tags counted per repository */
#define API_MATCH_MAX		256	/* bytes of a search text */
#define API_STR_(x)		#x
#define API_STR(x)		API_STR_(x)
#define API_MT_CONFIG		"application/vnd.oci.image.config.v1+json"
#define API_MT_DOCKER_CONFIG	"application/vnd.docker.container.image.v1+json"

static void	 api_route(struct req *, char **, size_t);
static void	 api_root(struct req *);
static void	 api_registries(struct req *);
static void	 api_registry(struct req *, const char *);
static void	 api_repositories(struct req *, const char *);
static void	 api_repository(struct req *, const char *, const char *);
static void	 api_charts(struct req *, const char *);
static void	 api_charts_page(const struct helm_chart_page *, void *);
static void	 api_setup(struct req *, const char *);
static void	 api_upstreams(struct req *);
static void	 api_upstream(struct req *, const char *);
static void	 api_reply(struct req *, json_t *);
static void	 api_error(struct req *, int, const char *, const char *,
		    const char *);
static void	 api_unknown(struct req *, const char *, const char *);
static int	 api_may_read(struct req *, const char *);
static int	 api_upstream_visible(struct req *, struct config_upstream *);
static int	 api_page(struct req *, size_t *, const char **);
static void	 api_next(struct req *, json_t *, const char *, const char *,
		    size_t, const char *);
static json_t	*api_time(int64_t);
static json_t	*api_str(const char *);
static json_t	*api_strlist(const struct strlist *);
static json_t	*api_registry_json(struct req *, struct config_registry *,
		    int);
static json_t	*api_upstream_json(struct req *, struct config_upstream *,
		    int);
static json_t	*api_health_json(const char *);
static json_t	*api_cache_json(const char *);
static char	*api_url_clean(const struct config_upstream *);
static json_t	*api_stats(struct req *, const char *);
static json_t	*api_helm_stats(struct req *, const char *);
static json_t	*api_manifest_load(struct req *, const struct digest *);
static int	 api_manifest_walk(struct req *, const struct digest *,
		    json_t *, json_t **);
static void	 api_seen_add(json_t *, const char *, int64_t);
static int64_t	 api_seen_total(json_t *);
static json_t	*api_tag_json(struct req *, const char *, const char *,
		    const struct index_tag *);
static json_t	*api_referrers(struct req *, const char *,
		    const struct digest *);
static int	 api_docker_name(struct req *, const char *);
static int	 api_tag_count(struct req *, const char *, size_t *);

void
api_dispatch(struct req *r)
{
	char		*path, *p, *parts[4];
	size_t		 n = 0, len;
	const char	*rest;

	/* A password is checked off the loop: this runs again after. */
	if (http_auth_identify(r, api_dispatch) == -1)
		return;
	if (http_method(r) != EVHTTP_REQ_GET &&
	    http_method(r) != EVHTTP_REQ_HEAD) {
		http_header_add(r, "Allow", "GET, HEAD");
		api_error(r, 405, "UNSUPPORTED", "the API is read-only", NULL);
		return;
	}
	/* Wrong credentials are refused; none at all see what anyone may. */
	if (http_auth_check_catalog(r) == -1)
		return;
	rest = r->req_path + strlen(API_PREFIX);
	if (*rest != '\0' && *rest != '/') {
		api_error(r, 404, "UNSUPPORTED", "no such endpoint",
		    r->req_path);
		return;
	}
	rest += strspn(rest, "/");
	path = xstrdup(rest);
	len = strlen(path);
	while (len > 0 && path[len - 1] == '/')
		path[--len] = '\0';
	/*
	 * Up to three components split at '/'; the fourth is the rest (an
	 * image name may hold '/').
	 */
	p = path;
	while (*p != '\0' && n < 4) {
		parts[n++] = p;
		if (n == 4)
			break;
		if ((p = strchr(p, '/')) == NULL)
			break;
		*p++ = '\0';
	}
	api_route(r, parts, n);
	free(path);
}

static void
api_route(struct req *r, char **parts, size_t n)
{
	if (n == 0)
		api_root(r);
	else if (strcmp(parts[0], "registries") == 0) {
		if (n == 1)
			api_registries(r);
		else if (n == 2)
			api_registry(r, parts[1]);
		else if (strcmp(parts[2], "repositories") == 0 && n == 3)
			api_repositories(r, parts[1]);
		else if (strcmp(parts[2], "repositories") == 0)
			api_repository(r, parts[1], parts[3]);
		else if (strcmp(parts[2], "charts") == 0 && n == 3)
			api_charts(r, parts[1]);
		else if (strcmp(parts[2], "setup") == 0 && n == 3)
			api_setup(r, parts[1]);
		else
			api_error(r, 404, "UNSUPPORTED", "no such endpoint",
			    r->req_path);
	} else if (strcmp(parts[0], "upstreams") == 0 && n <= 2) {
		if (n == 1)
			api_upstreams(r);
		else
			api_upstream(r, parts[1]);
	} else
		api_error(r, 404, "UNSUPPORTED", "no such endpoint",
		    r->req_path);
}

/* GET /api/v1: who asks, and where things are. */
static void
api_root(struct req *r)
{
	struct http_context		*ctx = http_context(r);
	const struct access_caller	*who = r->req_caller;
	char				*base;
	json_t				*root;

	base = http_public_url(r, "");
	root = json_pack("{s:s, s:b, s:o, s:s, s:s, s:[sssssssss]}",
	    "api", "v1", "auth", ctx->ctx_access != NULL,
	    "user", who->ca_signed_in && !who->ca_bad ?
	    api_str(who->ca_user) : json_null(),
	    "public_url", base, "token_url", "/token", "endpoints",
	    "/api/v1/registries", "/api/v1/registries/{name}",
	    "/api/v1/registries/{name}/repositories",
	    "/api/v1/registries/{name}/repositories/{image}",
	    "/api/v1/registries/{name}/charts",
	    "/api/v1/registries/{name}/setup", "/api/v1/upstreams",
	    "/api/v1/upstreams/{key}", "/ui/");
	free(base);
	api_reply(r, root);
}

static void
api_registries(struct req *r)
{
	struct config	*cf = http_context(r)->ctx_config;
	json_t		*list;
	size_t		 i;

	if ((list = json_array()) == NULL)
		fatalx("%s: json_array", __func__);
	for (i = 0; i < cf->cf_nregistries; i++)
		if (api_may_read(r, cf->cf_registries[i].reg_name))
			json_array_append_new(list, api_registry_json(r,
			    &cf->cf_registries[i], 0));
	api_reply(r, json_pack("{s:o}", "registries", list));
}

static void
api_registry(struct req *r, const char *name)
{
	struct config_registry	*reg;

	reg = config_registry_find(http_context(r)->ctx_config, name);
	if (reg == NULL || !api_may_read(r, name)) {
		api_unknown(r, "registry", name);
		return;
	}
	api_reply(r, api_registry_json(r, reg, 1));
}

/*
 * Is name a docker registry or docker upstream key the caller may read?
 * 1, or 0 when answered.
 */
static int
api_docker_name(struct req *r, const char *name)
{
	struct config		*cf = http_context(r)->ctx_config;
	struct config_registry	*reg;
	struct config_upstream	*up;

	reg = config_registry_find(cf, name);
	up = config_upstream_find(cf, name);
	if ((reg == NULL && up == NULL) || !api_may_read(r, name)) {
		api_unknown(r, "registry", name);
		return (0);
	}
	if ((reg != NULL && reg->reg_type != REPO_DOCKER) ||
	    (reg == NULL && up->up_type != REPO_DOCKER)) {
		api_error(r, 404, "UNSUPPORTED", "a helm registry has charts, "
		    "not repositories", name);
		return (0);
	}
	return (1);
}

/* GET .../repositories?n=&last=: the repositories, as the catalog. */
static void
api_repositories(struct req *r, const char *name)
{
	struct index	*ix = http_context(r)->ctx_index;
	char		**names, *from, *prefix, *path;
	const char	*last;
	json_t		*list, *root;
	size_t		 n, got, i, want, plen, tags;
	int		 done = 0;

	if (!api_docker_name(r, name) || api_page(r, &want, &last) == -1)
		return;
	xasprintf(&prefix, "%s/", name);
	plen = strlen(prefix);
	if (last != NULL)
		xasprintf(&from, "%s%s", prefix, last);
	else
		from = xstrdup(prefix);
	if ((list = json_array()) == NULL)
		fatalx("%s: json_array", __func__);
	got = 0;
	while (!done && got <= want) {
		if (index_repo_list(ix, from, API_BATCH, &names, &n) == -1) {
			free(from);
			free(prefix);
			json_decref(list);
			api_error(r, 500, "UNKNOWN", "the index cannot be read",
			    NULL);
			return;
		}
		free(from);
		from = n > 0 ? xstrdup(names[n - 1]) : NULL;
		for (i = 0; i < n && got <= want; i++) {
			if (strncmp(names[i], prefix, plen) != 0) {
				done = 1;
				break;
			}
			if (got++ == want)
				break;
			if (api_tag_count(r, names[i], &tags) == -1)
				tags = 0;
			json_array_append_new(list, json_pack("{s:s, s:s, s:I}",
			    "name", names[i] + plen, "repository", names[i],
			    "tags", (json_int_t)tags));
		}
		index_strings_free(names, n);
		if (n < API_BATCH)
			done = 1;
	}
	free(from);
	free(prefix);
	root = json_pack("{s:s, s:o}", "registry", name, "repositories", list);
	if (got > want && want > 0) {
		xasprintf(&path, API_PREFIX "/registries/%s/repositories",
		    name);
		api_next(r, root, path, json_string_value(json_object_get(
		    json_array_get(list, want - 1), "name")), want, NULL);
		free(path);
	}
	api_reply(r, root);
}

/* How many tags repo has, up to API_TAGS_MAX. 0 or -1. */
static int
api_tag_count(struct req *r, const char *repo, size_t *count)
{
	char	**tags;

	if (index_tag_list(http_context(r)->ctx_index, repo, NULL,
	    API_TAGS_MAX, &tags, count) == -1)
		return (-1);
	index_strings_free(tags, *count);
	return (0);
}

/* GET .../repositories/IMAGE?n=&last=: its tags, paginated by tag. */
static void
api_repository(struct req *r, const char *name, const char *image)
{
	struct index	*ix = http_context(r)->ctx_index;
	struct index_tag it;
	char		*repo, *cause = NULL, **tags = NULL, *path;
	const char	*last;
	json_t		*list, *root, *t;
	size_t		 want, count = 0, i;

	if (!api_docker_name(r, name) || api_page(r, &want, &last) == -1)
		return;
	xasprintf(&repo, "%s/%s", name, image);
	if (strlen(repo) > DEPOT_REPO_MAX ||
	    ref_repository_valid(repo, &cause) == -1) {
		api_error(r, 400, "NAME_INVALID", "invalid repository name",
		    cause != NULL ? cause : image);
		free(cause);
		free(repo);
		return;
	}
	if (last != NULL && ref_tag_valid(last, &cause) == -1) {
		api_error(r, 400, "TAG_INVALID", "invalid tag in last", cause);
		free(cause);
		free(repo);
		return;
	}
	if (index_tag_list(ix, repo, last, want + 1, &tags, &count) == -1) {
		free(repo);
		api_error(r, 500, "UNKNOWN", "the index cannot be read", NULL);
		return;
	}
	if (count == 0 && last == NULL) {
		api_error(r, 404, "NAME_UNKNOWN", "no such repository (or it "
		    "has no tags)", repo);
		free(repo);
		return;
	}
	if ((list = json_array()) == NULL)
		fatalx("%s: json_array", __func__);
	for (i = 0; i < count && i < want; i++) {
		if (index_tag_get(ix, repo, tags[i], &it) != 1)
			continue;
		if ((t = api_tag_json(r, repo, tags[i], &it)) != NULL)
			json_array_append_new(list, t);
	}
	root = json_pack("{s:s, s:s, s:s, s:o}", "registry", name, "name",
	    image, "repository", repo, "tags", list);
	if (count > want && want > 0) {
		xasprintf(&path, API_PREFIX "/registries/%s/repositories/%s",
		    name, image);
		api_next(r, root, path, tags[want - 1], want, NULL);
		free(path);
	}
	index_strings_free(tags, count);
	free(repo);
	api_reply(r, root);
}

/*
 * One tag: its manifest's digest, media type and sizes, when it was
 * pushed or cached and from where, when it was last pulled, the platforms of an index (or the
 * image's own), and the referrers of its digest.
 */
static json_t *
api_tag_json(struct req *r, const char *repo, const char *tag,
    const struct index_tag *it)
{
	struct index_manifest	 im;
	char			 dstr[DIGEST_STRING_MAX];
	json_t			*t, *platforms = NULL, *seen;
	int64_t			 total, msize = -1, pulled;
	json_t			*artifact = NULL;

	digest_format(&it->it_digest, dstr, sizeof(dstr));
	if (index_manifest_get(http_context(r)->ctx_index, &it->it_digest,
	    &im) == 1) {
		msize = im.im_size;
		/* An image's config type is no artifact type. */
		if (im.im_artifact_type[0] != '\0' &&
		    strcmp(im.im_artifact_type, API_MT_CONFIG) != 0 &&
		    strcmp(im.im_artifact_type, API_MT_DOCKER_CONFIG) != 0)
			artifact = json_string(im.im_artifact_type);
		index_manifest_clear(&im);
	}
	if ((seen = json_object()) == NULL)
		fatalx("%s: json_object", __func__);
	total = api_manifest_walk(r, &it->it_digest, seen, &platforms) == 0 ?
	    api_seen_total(seen) : -1;
	json_decref(seen);
	if (index_access_get(http_context(r)->ctx_index, repo,
	    &it->it_digest, &pulled) != 1)
		pulled = 0;
	t = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o}",
	    "tag", tag, "digest", dstr, "media_type", it->it_media_type,
	    "size", total >= 0 ? json_integer(total) : json_null(),
	    "manifest_size", msize >= 0 ? json_integer(msize) : json_null(),
	    "updated", api_time(it->it_fetched_at),
	    "origin", it->it_upstream[0] != '\0' ?
	    api_str(it->it_upstream) : json_null(),
	    "referrers", api_referrers(r, repo, &it->it_digest),
	    "last_pull", pulled > 0 ? api_time(pulled) : json_null());
	if (t == NULL) {
		json_decref(platforms);
		json_decref(artifact);
		return (NULL);
	}
	json_object_set_new(t, "platforms", platforms != NULL ? platforms :
	    json_array());
	json_object_set_new(t, "artifact_type", artifact != NULL ? artifact :
	    json_null());
	return (t);
}

/* The manifests whose subject is d in repo. */
static json_t *
api_referrers(struct req *r, const char *repo, const struct digest *d)
{
	struct index		*ix = http_context(r)->ctx_index;
	struct index_manifest	 im;
	struct digest		*list = NULL;
	char			 dstr[DIGEST_STRING_MAX];
	json_t			*out;
	size_t			 count = 0, i;

	if ((out = json_array()) == NULL)
		fatalx("%s: json_array", __func__);
	if (index_referrer_list(ix, repo, d, &list, &count) == -1)
		return (out);
	for (i = 0; i < count; i++) {
		if (index_manifest_get(ix, &list[i], &im) != 1)
			continue;
		digest_format(&list[i], dstr, sizeof(dstr));
		json_array_append_new(out, json_pack("{s:s, s:s, s:o, s:I}",
		    "digest", dstr, "media_type", im.im_media_type,
		    "artifact_type", im.im_artifact_type[0] != '\0' ?
		    api_str(im.im_artifact_type) : json_null(),
		    "size", (json_int_t)im.im_size));
		index_manifest_clear(&im);
	}
	free(list);
	return (out);
}

/* A stored manifest (or config) blob as JSON; NULL when absent or bad. */
static json_t *
api_manifest_load(struct req *r, const struct digest *d)
{
	struct http_context	*ctx = http_context(r);
	json_t			*root;
	char			*buf;
	off_t			 size, got = 0;
	ssize_t			 n;
	int			 fd;

	if (ctx->ctx_blobs == NULL ||
	    blobstore_open_blob(ctx->ctx_blobs, d, &fd, &size) == -1)
		return (NULL);
	if (size <= 0 || size > API_MANIFEST_MAX) {
		close(fd);
		return (NULL);
	}
	buf = xmalloc((size_t)size);
	while (got < size) {
		n = pread(fd, buf + got, (size_t)(size - got), got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += n;
	}
	close(fd);
	root = got == size ? json_loadb(buf, (size_t)size, 0, NULL) : NULL;
	free(buf);
	if (root != NULL && !json_is_object(root)) {
		json_decref(root);
		root = NULL;
	}
	return (root);
}

/* Record digest's size in seen (each digest counts once). */
static void
api_seen_add(json_t *seen, const char *digest, int64_t size)
{
	if (digest == NULL || size < 0 || json_object_get(seen, digest) != NULL)
		return;
	json_object_set_new(seen, digest, json_integer(size));
}

/* The bytes of every digest seen. */
static int64_t
api_seen_total(json_t *seen)
{
	const char	*key;
	json_t		*v;
	int64_t		 total = 0;

	json_object_foreach(seen, key, v)
		total += json_integer_value(v);
	return (total);
}

/*
 * Record in seen manifest d and what it references (config and layers;
 * for an index, each listed manifest with its own, or the size its
 * descriptor gives when it is not stored). With platforms, the platforms
 * of an index, or the image's own from its config. 0, or -1 when d is
 * not stored.
 */
static int
api_manifest_walk(struct req *r, const struct digest *d, json_t *seen,
    json_t **platforms)
{
	struct digest	 child;
	json_t		*m, *refs, *e, *pl, *config, *cfg;
	char		 dstr[DIGEST_STRING_MAX], *cause = NULL;
	const char	*s, *os, *ar, *var;
	int64_t		 sz;
	off_t		 msize;
	size_t		 i;

	if (platforms != NULL)
		*platforms = NULL;
	if ((m = api_manifest_load(r, d)) == NULL)
		return (-1);
	digest_format(d, dstr, sizeof(dstr));
	if (blobstore_stat(http_context(r)->ctx_blobs, d, &msize) == 1)
		api_seen_add(seen, dstr, (int64_t)msize);
	if ((refs = json_object_get(m, "manifests")) != NULL &&
	    json_is_array(refs)) {
		if (platforms != NULL && (*platforms = json_array()) == NULL)
			fatalx("%s: json_array", __func__);
		json_array_foreach(refs, i, e) {
			s = json_string_value(json_object_get(e, "digest"));
			sz = json_integer_value(json_object_get(e, "size"));
			if (s == NULL || digest_parse(s, &child, &cause) == -1) {
				free(cause);
				cause = NULL;
				continue;
			}
			if (api_manifest_walk(r, &child, seen, NULL) == -1)
				api_seen_add(seen, s, sz);
			if (platforms == NULL)
				continue;
			pl = json_object_get(e, "platform");
			os = json_string_value(json_object_get(pl, "os"));
			ar = json_string_value(json_object_get(pl,
			    "architecture"));
			var = json_string_value(json_object_get(pl,
			    "variant"));
			json_array_append_new(*platforms, json_pack(
			    "{s:s, s:I, s:o, s:o, s:o, s:o}", "digest", s,
			    "size", (json_int_t)sz,
			    "os", api_str(os), "architecture", api_str(ar),
			    "variant", api_str(var), "media_type",
			    api_str(json_string_value(json_object_get(e,
			    "mediaType")))));
		}
		json_decref(m);
		return (0);
	}
	config = json_object_get(m, "config");
	if ((s = json_string_value(json_object_get(config, "digest"))) != NULL)
		api_seen_add(seen, s, json_integer_value(json_object_get(config,
		    "size")));
	if ((refs = json_object_get(m, "layers")) != NULL &&
	    json_is_array(refs))
		json_array_foreach(refs, i, e)
			api_seen_add(seen, json_string_value(
			    json_object_get(e, "digest")), json_integer_value(
			    json_object_get(e, "size")));
	if (platforms != NULL && s != NULL &&
	    digest_parse(s, &child, &cause) == 0 &&
	    (cfg = api_manifest_load(r, &child)) != NULL) {
		os = json_string_value(json_object_get(cfg, "os"));
		ar = json_string_value(json_object_get(cfg, "architecture"));
		var = json_string_value(json_object_get(cfg, "variant"));
		if (os != NULL || ar != NULL)
			*platforms = json_pack("[{s:s, s:o, s:o, s:o, s:o}]",
			    "digest", dstr, "os", api_str(os),
			    "architecture", api_str(ar), "variant",
			    api_str(var), "media_type", api_str(
			    json_string_value(json_object_get(m,
			    "mediaType"))));
		json_decref(cfg);
	}
	free(cause);
	json_decref(m);
	return (0);
}

/*
 * A registry's totals: repositories, tags, and the bytes of the distinct
 * content its tags reference, from at most API_STATS_MAX tags.
 */
static json_t *
api_stats(struct req *r, const char *name)
{
	struct index	*ix = http_context(r)->ctx_index;
	struct index_tag it;
	char		**names, **tags, *from, *prefix;
	json_t		*seen, *out;
	size_t		 n, i, j, ntags, repos = 0, total_tags = 0, read = 0;
	int		 done = 0, complete = 1;

	if ((seen = json_object()) == NULL)
		fatalx("%s: json_object", __func__);
	xasprintf(&prefix, "%s/", name);
	from = xstrdup(prefix);
	while (!done) {
		if (index_repo_list(ix, from, API_BATCH, &names, &n) == -1) {
			complete = 0;
			break;
		}
		free(from);
		from = n > 0 ? xstrdup(names[n - 1]) : NULL;
		for (i = 0; i < n; i++) {
			if (strncmp(names[i], prefix, strlen(prefix)) != 0) {
				done = 1;
				break;
			}
			repos++;
			if (index_tag_list(ix, names[i], NULL, API_TAGS_MAX,
			    &tags, &ntags) == -1) {
				complete = 0;
				continue;
			}
			total_tags += ntags;
			for (j = 0; j < ntags; j++) {
				if (read >= API_STATS_MAX) {
					complete = 0;
					break;
				}
				read++;
				if (index_tag_get(ix, names[i], tags[j],
				    &it) == 1)
					(void)api_manifest_walk(r,
					    &it.it_digest, seen, NULL);
			}
			index_strings_free(tags, ntags);
		}
		index_strings_free(names, n);
		if (n < API_BATCH)
			done = 1;
	}
	free(from);
	free(prefix);
	out = json_pack("{s:I, s:I, s:I, s:b}", "repositories",
	    (json_int_t)repos, "tags", (json_int_t)total_tags, "bytes",
	    (json_int_t)api_seen_total(seen), "complete", complete);
	json_decref(seen);
	return (out);
}

/*
 * A helm registry's hosted charts: names, versions and the bytes of the
 * .tgz files (up to API_STATS_MAX versions).
 */
static json_t *
api_helm_stats(struct req *r, const char *name)
{
	struct index_helm_stats	 st;

	if (index_helm_stats(http_context(r)->ctx_index, name, API_STATS_MAX,
	    &st) == -1)
		return (json_pack("{s:n, s:n, s:n, s:n, s:n, s:b}",
		    "repositories", "tags", "charts", "versions", "bytes",
		    "complete", 0));
	return (json_pack("{s:n, s:n, s:I, s:I, s:I, s:b}", "repositories",
	    "tags", "charts", (json_int_t)st.ihs_charts, "versions",
	    (json_int_t)st.ihs_versions, "bytes", (json_int_t)st.ihs_bytes,
	    "complete", st.ihs_complete));
}

/* A registry; with detail, its upstreams with their health, and stats. */
static json_t *
api_registry_json(struct req *r, struct config_registry *reg, int detail)
{
	struct config		*cf = http_context(r)->ctx_config;
	struct config_upstream	*up;
	json_t			*o, *ups, *u;
	char			*base, *host, *url;
	size_t			 i;

	if ((ups = json_array()) == NULL)
		fatalx("%s: json_array", __func__);
	for (i = 0; i < reg->reg_upstreams.sl_count; i++) {
		up = config_upstream_find(cf, reg->reg_upstreams.sl_items[i]);
		if (up == NULL)
			continue;
		u = api_upstream_json(r, up, 0);
		if (detail)
			json_object_set_new(u, "health",
			    api_health_json(up->up_key));
		json_array_append_new(ups, u);
	}
	base = http_public_url(r, "");
	host = strstr(base, "://") != NULL ? strstr(base, "://") + 3 : base;
	if (reg->reg_type == REPO_HELM)
		xasprintf(&url, "%s/helm/%s", base, reg->reg_name);
	else
		xasprintf(&url, "%.*s/%s", (int)strcspn(host, "/"), host,
		    reg->reg_name);
	o = json_pack("{s:s, s:s, s:o, s:o, s:b, s:o, s:s, s:o}",
	    "name", reg->reg_name,
	    "type", config_repo_type_name(reg->reg_type),
	    "description", api_str(reg->reg_description),
	    "labels", api_strlist(&reg->reg_labels),
	    "read_only", reg->reg_read_only,
	    "upstreams", ups,
	    reg->reg_type == REPO_HELM ? "repo_url" : "pull_prefix", url,
	    "stats", reg->reg_type == REPO_DOCKER ? api_stats(r,
	    reg->reg_name) : api_helm_stats(r, reg->reg_name));
	free(url);
	free(base);
	if (o == NULL)
		fatalx("%s: json_pack", __func__);
	if (detail)
		json_object_set_new(o, "cache", api_cache_json(reg->reg_name));
	return (o);
}

/* A charts request waiting for its page (helm_charts_list). */
struct api_charts_job {
	struct req	*cj_req;
	char		*cj_name;
	char		*cj_match;
	size_t		 cj_want;
};

/*
 * GET .../charts?n=&last=NAME/VERSION&q=: the chart versions of a helm
 * registry (or helm upstream key), hosted and from its upstreams, as its
 * index.yaml merges them, a page at a time.
 */
static void
api_charts(struct req *r, const char *name)
{
	struct config		*cf = http_context(r)->ctx_config;
	struct config_registry	*reg;
	struct config_upstream	*up;
	struct helm_chart_query	 q;
	struct api_charts_job	*cj;
	const char		*last, *match, *slash;
	char			*after = NULL;

	reg = config_registry_find(cf, name);
	up = reg == NULL ? config_upstream_find(cf, name) : NULL;
	if ((reg == NULL && up == NULL) || !api_may_read(r, name)) {
		api_unknown(r, "registry", name);
		return;
	}
	if ((reg != NULL && reg->reg_type != REPO_HELM) ||
	    (up != NULL && up->up_type != REPO_HELM)) {
		api_error(r, 404, "UNSUPPORTED", "a docker registry has "
		    "repositories, not charts", name);
		return;
	}
	if (api_page(r, &q.cq_want, &last) == -1)
		return;
	match = http_query_get(r, "q");
	if (match != NULL && strlen(match) > API_MATCH_MAX) {
		api_error(r, 400, "UNSUPPORTED", "search text too long",
		    "q has at most " API_STR(API_MATCH_MAX) " bytes");
		return;
	}
	q.cq_match = match != NULL && *match != '\0' ? match : NULL;
	q.cq_after_name = q.cq_after_version = NULL;
	if (last != NULL) {
		/* NAME/VERSION: neither holds a '/' */
		after = xstrdup(last);
		q.cq_after_name = after;
		if ((slash = strchr(after, '/')) != NULL) {
			after[slash - after] = '\0';
			q.cq_after_version = slash + 1;
		}
	}
	cj = xcalloc(1, sizeof(*cj));
	cj->cj_req = r;
	cj->cj_name = xstrdup(name);
	cj->cj_match = q.cq_match != NULL ? xstrdup(q.cq_match) : NULL;
	cj->cj_want = q.cq_want;
	helm_charts_list(r, name, &q, api_charts_page, cj);
	free(after);
}

/* The page is read: answer with it. */
static void
api_charts_page(const struct helm_chart_page *p, void *arg)
{
	struct api_charts_job		*cj = arg;
	struct req			*r = cj->cj_req;
	const struct helm_chart_version	*cv;
	struct index_helm_chart		 c;
	json_t				*list, *v, *root;
	char				*base, *url, *path, *last, *extra = NULL;
	char				*enc;
	size_t				 i;
	int				 have;

	if (p->cp_ret == -1) {
		api_error(r, 503, "UNAVAILABLE", "the chart list cannot be "
		    "read", NULL);
		goto fail;
	}
	if ((list = json_array()) == NULL)
		fatalx("%s: json_array", __func__);
	base = http_public_url(r, "");
	for (i = 0; i < p->cp_count; i++) {
		cv = &p->cp_list[i];
		have = cv->cv_hosted && index_helm_get(http_context(r)->ctx_index,
		    cj->cj_name, cv->cv_name, cv->cv_version, &c) == 1;
		xasprintf(&url, "%s/helm/%s/charts/%s-%s.tgz", base,
		    cj->cj_name, cv->cv_name, cv->cv_version);
		v = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:b, s:b, "
		    "s:o, s:b, s:s}",
		    "name", api_str(cv->cv_name),
		    "version", api_str(cv->cv_version),
		    "app_version", api_str(cv->cv_app_version),
		    "description", api_str(cv->cv_description),
		    "digest", cv->cv_digest[0] != '\0' ?
		    api_str(cv->cv_digest) : json_null(),
		    "created", cv->cv_created != NULL ?
		    api_str(cv->cv_created) : have ?
		    api_time(c.ihc_created) : json_null(),
		    "source", api_str(cv->cv_source),
		    "hosted", cv->cv_hosted,
		    "cached", cv->cv_cached,
		    "size", have ? json_integer(c.ihc_size) : json_null(),
		    "provenance", have && c.ihc_prov[0] != '\0',
		    "url", url);
		if (v == NULL)
			fatalx("%s: json_pack", __func__);
		if (have)
			index_helm_chart_clear(&c);
		free(url);
		json_array_append_new(list, v);
	}
	free(base);
	root = json_pack("{s:s, s:o}", "registry", cj->cj_name, "charts",
	    list);
	if (p->cp_more && p->cp_count > 0) {
		cv = &p->cp_list[p->cp_count - 1];
		xasprintf(&path, API_PREFIX "/registries/%s/charts",
		    cj->cj_name);
		xasprintf(&last, "%s/%s", cv->cv_name, cv->cv_version);
		if (cj->cj_match != NULL) {
			if ((enc = evhttp_uriencode(cj->cj_match, -1, 0)) ==
			    NULL)
				fatalx("%s: evhttp_uriencode", __func__);
			xasprintf(&extra, "&q=%s", enc);
			free(enc);
		}
		api_next(r, root, path, last, cj->cj_want, extra);
		free(extra);
		free(last);
		free(path);
	}
	api_reply(r, root);
fail:
	free(cj->cj_name);
	free(cj->cj_match);
	free(cj);
}

/* GET .../setup: what depotctl setup-client prints, as data. */
static void
api_setup(struct req *r, const char *name)
{
	struct config	*cf = http_context(r)->ctx_config;
	struct setup	*st;
	json_t		*lines, *sections, *sec, *cmds;
	char		*base, *cause = NULL;
	size_t		 i;
	const char	*kind, *note;

	if ((config_registry_find(cf, name) == NULL &&
	    config_upstream_find(cf, name) == NULL) || !api_may_read(r, name)) {
		api_unknown(r, "registry", name);
		return;
	}
	base = http_public_url(r, "");
	st = setup_client(cf, name, base, &cause);
	free(base);
	if (st == NULL) {
		api_error(r, 404, "UNSUPPORTED", cause, name);
		free(cause);
		return;
	}
	if ((lines = json_array()) == NULL || (sections = json_array()) == NULL)
		fatalx("%s: json_array", __func__);
	for (i = 0; i < st->st_nsections; i++)
		json_array_append_new(sections, json_pack("{s:s, s:[], s:[]}",
		    "title", st->st_sections[i], "notes", "commands"));
	for (i = 0; i < st->st_count; i++) {
		kind = st->st_lines[i].sl_kind == SETUP_BLANK ? "blank" :
		    st->st_lines[i].sl_kind == SETUP_COMMENT ? "comment" :
		    "command";
		json_array_append_new(lines, json_pack("{s:s, s:s}", "kind",
		    kind, "text", st->st_lines[i].sl_text));
		if ((sec = json_array_get(sections,
		    st->st_lines[i].sl_section)) == NULL ||
		    st->st_lines[i].sl_kind == SETUP_BLANK)
			continue;
		cmds = json_object_get(sec,
		    st->st_lines[i].sl_kind == SETUP_COMMAND ? "commands" :
		    "notes");
		/* The title line itself is not a note. */
		if (st->st_lines[i].sl_kind == SETUP_COMMENT &&
		    json_array_size(cmds) == 0 && strcmp(st->st_sections[
		    st->st_lines[i].sl_section], st->st_lines[i].sl_text +
		    strspn(st->st_lines[i].sl_text, "# ")) == 0)
			continue;
		if (st->st_lines[i].sl_kind == SETUP_COMMAND)
			json_array_append_new(cmds, json_string(
			    st->st_lines[i].sl_text));
		else if ((note = st->st_lines[i].sl_text + 1)[0] != '\0')
			json_array_append_new(cmds, json_string(note +
			    (*note == ' ')));
	}
	api_reply(r, json_pack("{s:s, s:s, s:b, s:s, s:s, s:b, s:o, s:o, "
	    "s:s}", "name", st->st_name, "type", st->st_type, "upstream",
	    st->st_upstream, "base_url", st->st_base, "host", st->st_host,
	    "sign_in", st->st_auth, "sections", sections, "lines", lines,
	    "text", st->st_text));
	setup_free(st);
}

static void
api_upstreams(struct req *r)
{
	struct config	*cf = http_context(r)->ctx_config;
	json_t		*list, *u;
	size_t		 i;

	if ((list = json_array()) == NULL)
		fatalx("%s: json_array", __func__);
	for (i = 0; i < cf->cf_nupstreams; i++)
		if (api_upstream_visible(r, &cf->cf_upstreams[i])) {
			u = api_upstream_json(r, &cf->cf_upstreams[i], 1);
			json_array_append_new(list, u);
		}
	api_reply(r, json_pack("{s:o}", "upstreams", list));
}

static void
api_upstream(struct req *r, const char *key)
{
	struct config_upstream	*up;

	up = config_upstream_find(http_context(r)->ctx_config, key);
	if (up == NULL || !api_upstream_visible(r, up)) {
		api_unknown(r, "upstream", key);
		return;
	}
	api_reply(r, api_upstream_json(r, up, 1));
}

/*
 * An upstream: what it is, never its credentials; with detail, its
 * health, its counters and the registries (the caller may read) that
 * ask it.
 */
static json_t *
api_upstream_json(struct req *r, struct config_upstream *up, int detail)
{
	struct config		*cf = http_context(r)->ctx_config;
	struct config_registry	*reg;
	struct metrics_counts	 mc;
	json_t			*o, *regs;
	char			*url;
	size_t			 i, j;

	url = api_url_clean(up);
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i}",
	    "key", up->up_key, "type", config_repo_type_name(up->up_type),
	    "source", config_source_name(up->up_source), "url", url,
	    "auth", config_auth_type_name(up->up_auth.cr_type),
	    "tag_ttl", up->up_tag_ttl, "timeout", up->up_timeout);
	free(url);
	if (o == NULL)
		fatalx("%s: json_pack", __func__);
	if (!detail)
		return (o);
	if ((regs = json_array()) == NULL)
		fatalx("%s: json_array", __func__);
	for (i = 0; i < cf->cf_nregistries; i++) {
		reg = &cf->cf_registries[i];
		for (j = 0; j < reg->reg_upstreams.sl_count; j++)
			if (strcmp(reg->reg_upstreams.sl_items[j],
			    up->up_key) == 0 && api_may_read(r, reg->reg_name))
				json_array_append_new(regs,
				    json_string(reg->reg_name));
	}
	json_object_set_new(o, "registries", regs);
	json_object_set_new(o, "health", api_health_json(up->up_key));
	metrics_counts_get(up->up_key, &mc);
	json_object_set_new(o, "cache", api_cache_json(up->up_key));
	json_object_set_new(o, "requests", json_integer((json_int_t)
	    mc.mc_requests));
	json_object_set_new(o, "errors", json_integer((json_int_t)
	    mc.mc_errors));
	json_object_set_new(o, "received_bytes", json_integer((json_int_t)
	    mc.mc_bytes));
	return (o);
}

/* The breaker of an upstream key, as upstream_state.h keeps it. */
static json_t *
api_health_json(const char *key)
{
	struct upstream_health	 uh;
	const char		*state;

	upstream_state_health(key, time(NULL), &uh);
	switch (uh.uh_state) {
	case UPSTREAM_SKIP_BREAKER:
		state = "open";
		break;
	case UPSTREAM_SKIP_RETRY_AFTER:
		state = "retry_after";
		break;
	default:
		state = uh.uh_failures > 0 ? "failing" : "ok";
		break;
	}
	return (json_pack("{s:s, s:o, s:i, s:o, s:o, s:o}", "state", state,
	    "until", uh.uh_state != UPSTREAM_GO ? api_time(uh.uh_until) :
	    json_null(), "consecutive_failures", uh.uh_failures,
	    "last_success", api_time(uh.uh_last_success),
	    "last_failure", api_time(uh.uh_last_failure),
	    "last_error", uh.uh_last_error[0] != '\0' ?
	    api_str(uh.uh_last_error) : json_null()));
}

/* Pulls through name (/v2/NAME/...) answered from the cache or not. */
static json_t *
api_cache_json(const char *name)
{
	struct metrics_counts	 mc;

	metrics_counts_get(name, &mc);
	return (json_pack("{s:I, s:I, s:I}", "hits", (json_int_t)mc.mc_hits,
	    "misses", (json_int_t)mc.mc_misses, "stale",
	    (json_int_t)mc.mc_stale));
}

/* The upstream's URL without user information. Caller frees. */
static char *
api_url_clean(const struct config_upstream *up)
{
	const char	*u = up->up_url, *host, *at;
	size_t		 authority;
	char		*out;

	if (u == NULL)
		return (xstrdup(up->up_source == SOURCE_DOCKERHUB ?
		    "https://registry-1.docker.io" : ""));
	if ((host = strstr(u, "://")) == NULL)
		return (xstrdup(""));
	host += 3;
	authority = strcspn(host, "/?#");
	if ((at = memchr(host, '@', authority)) == NULL)
		return (xstrdup(u));
	xasprintf(&out, "%.*s%s", (int)(host - u), u, at + 1);
	return (out);
}

/* May the caller read registry or upstream key name? */
static int
api_may_read(struct req *r, const char *name)
{
	struct http_context		*ctx = http_context(r);
	const struct access_caller	*who = r->req_caller;

	if (ctx->ctx_access == NULL)
		return (1);
	return ((access_policy(ctx->ctx_config, name, who->ca_bad ||
	    !who->ca_signed_in ? "" : who->ca_user) & ACCESS_PULL) != 0);
}

/* An upstream key is seen when readable, or through a readable registry. */
static int
api_upstream_visible(struct req *r, struct config_upstream *up)
{
	struct config		*cf = http_context(r)->ctx_config;
	struct config_registry	*reg;
	size_t			 i, j;

	if (api_may_read(r, up->up_key))
		return (1);
	for (i = 0; i < cf->cf_nregistries; i++) {
		reg = &cf->cf_registries[i];
		if (!api_may_read(r, reg->reg_name))
			continue;
		for (j = 0; j < reg->reg_upstreams.sl_count; j++)
			if (strcmp(reg->reg_upstreams.sl_items[j],
			    up->up_key) == 0)
				return (1);
	}
	return (0);
}

/* n (default API_PAGE_DEFAULT, at most API_PAGE_MAX) and last. 0 or -1. */
static int
api_page(struct req *r, size_t *n, const char **last)
{
	const char		*s;
	char			*end;
	unsigned long long	 v;

	*n = API_PAGE_DEFAULT;
	if ((s = http_query_get(r, "n")) != NULL && *s != '\0') {
		errno = 0;
		v = strtoull(s, &end, 10);
		if (*s < '0' || *s > '9' || *end != '\0' || errno == ERANGE) {
			api_error(r, 400, "PAGINATION_NUMBER_INVALID",
			    "invalid number of results requested",
			    "n must be a non-negative integer");
			return (-1);
		}
		*n = v < API_PAGE_MAX ? (size_t)v : API_PAGE_MAX;
	}
	*last = http_query_get(r, "last");
	if (*last != NULL && **last == '\0')
		*last = NULL;
	return (0);
}

/*
 * The next page: a Link header as /v2/ gives, and "next" in root; extra
 * (NULL, or "&k=v" already encoded) is added to the query.
 */
static void
api_next(struct req *r, json_t *root, const char *path, const char *last,
    size_t n, const char *extra)
{
	char	*encoded, *value;

	if (last == NULL)
		return;
	if (extra == NULL)
		extra = "";
	if ((encoded = evhttp_uriencode(last, -1, 0)) == NULL)
		fatalx("%s: evhttp_uriencode", __func__);
	xasprintf(&value, "%s?last=%s&n=%zu%s", path, encoded, n, extra);
	json_object_set_new(root, "next", json_string(value));
	free(value);
	xasprintf(&value, "<%s?last=%s&n=%zu%s>; rel=\"next\"", path,
	    encoded, n, extra);
	http_header_add(r, "Link", value);
	free(value);
	free(encoded);
}

/* Answer 200 with root, which is released. */
static void
api_reply(struct req *r, json_t *root)
{
	/* Answers depend on who asks and change all the time. */
	http_header_add(r, "Cache-Control", "no-store");
	http_header_add(r, "X-Content-Type-Options", "nosniff");
	http_reply_json(r, 200, "application/json", root);
}

static void
api_error(struct req *r, int status, const char *code, const char *message,
    const char *detail)
{
	http_header_add(r, "Cache-Control", "no-store");
	http_header_add(r, "X-Content-Type-Options", "nosniff");
	http_reply_oci_error(r, status, code, message, detail);
}

/*
 * A name that is unknown or that the caller may not read: the same
 * answer for both. 401 with the challenge of /v2/ when not signed in
 * and access control is on, else 404.
 */
static void
api_unknown(struct req *r, const char *what, const char *name)
{
	char	*message;

	if (http_context(r)->ctx_access != NULL &&
	    http_auth_check_base(r) == -1)
		return;
	xasprintf(&message, "%s not known", what);
	api_error(r, 404, "NAME_UNKNOWN", message, name);
	free(message);
}

/* A Unix time as "2006-01-02T15:04:05Z"; null when 0. */
static json_t *
api_time(int64_t t)
{
	struct tm	 tm;
	time_t		 tt = (time_t)t;
	char		 buf[32];

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL)
		return (json_null());
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return (json_string(buf));
}

/* A string, or null for NULL (or not UTF-8). */
static json_t *
api_str(const char *s)
{
	json_t	*j;

	if (s == NULL || (j = json_string(s)) == NULL)
		return (json_null());
	return (j);
}

static json_t *
api_strlist(const struct strlist *sl)
{
	json_t	*a;
	size_t	 i;

	if ((a = json_array()) == NULL)
		fatalx("%s: json_array", __func__);
	for (i = 0; i < sl->sl_count; i++)
		json_array_append_new(a, api_str(sl->sl_items[i]));
	return (a);
}
