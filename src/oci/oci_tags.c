/*
 * oci_tags.c: the listing endpoints: a repository's tags
 * (/v2/<name>/tags/list), the catalog of repositories (/v2/_catalog),
 * both paginated with n and last and a Link header to the next page, and
 * the referrers of a manifest (/v2/<name>/referrers/<digest>) as an OCI
 * image index.
 */
#include <sys/types.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>

#include "access/access.h"
#include "conf/config.h"
#include "depot.h"
#include "lib/digest.h"
#include "http/http.h"
#include "store/index.h"
#include "lib/log.h"
#include "lib/manifest.h"
#include "oci/oci.h"
#include "content/content.h"
#include "lib/ref.h"
#include "lib/xmalloc.h"

/* Most entries one page holds; a larger n gets this many and a Link. */
#define OCI_LIST_MAX		10000
/* Repositories read from the index at a time while filtering. */
#define OCI_LIST_BATCH		256

/* The n and last query parameters of a listing. */
struct oci_page {
	size_t		 pg_n;		/* wanted, at most 10000 */
	const char	*pg_last;	/* start after this one, or NULL */
};

static void	oci_internal_error(struct req *);
static int	oci_page_parse(struct oci_request *, int, struct oci_page *);
static void	oci_link_next(struct req *, const char *path, const char *last,
		    size_t n);
static json_t	*oci_strings_json(char **, size_t);
static void	oci_reply_json(struct req *, const char *content_type,
		    json_t *);
static int	oci_catalog_visible(struct req *, const char *);
static int	oci_catalog_collect(struct req *, const struct oci_page *,
		    char ***, size_t *);
static json_t	*oci_referrer_descriptor(const struct digest *,
		    const struct index_manifest *);
static int	catalog_may_list(struct req *, const char *);

/* The request failed on our side (index error, logged there): 500. */
static void
oci_internal_error(struct req *r)
{
	http_reply_oci_error(r, 500, "UNKNOWN", "internal error", NULL);
}

/*
 * Read n (a non-negative integer, capped at OCI_LIST_MAX; absent or
 * empty means the cap) and last (a tag, or for the catalog a repository
 * name; empty means absent). 0, or -1 when the request has been answered.
 */
static int
oci_page_parse(struct oci_request *o, int is_catalog, struct oci_page *pg)
{
	const char		*n, *last;
	char			*end, *cause = NULL;
	unsigned long long	 value;
	int			 bad;

	pg->pg_n = OCI_LIST_MAX;
	pg->pg_last = NULL;
	if ((n = http_query_get(o->or_req, "n")) != NULL && *n != '\0') {
		errno = 0;
		value = strtoull(n, &end, 10);
		if (*n < '0' || *n > '9' || *end != '\0' ||
		    (errno == ERANGE && value == ULLONG_MAX)) {
			http_reply_oci_error(o->or_req, 400,
			    "PAGINATION_NUMBER_INVALID",
			    "invalid number of results requested",
			    "n must be a non-negative integer");
			return (-1);
		}
		if (value < OCI_LIST_MAX)
			pg->pg_n = (size_t)value;
	}
	if ((last = http_query_get(o->or_req, "last")) == NULL ||
	    *last == '\0')
		return (0);
	if (is_catalog)
		bad = strlen(last) > DEPOT_REPO_MAX ||
		    ref_repository_valid(last, &cause) == -1;
	else
		bad = ref_tag_valid(last, &cause) == -1;
	if (bad) {
		oci_error(o, is_catalog ? "NAME_INVALID" : "TAG_INVALID",
		    cause != NULL ? cause : "last is too long");
		free(cause);
		return (-1);
	}
	pg->pg_last = last;
	return (0);
}

/* Link: <path?last=...&n=...>; rel="next", for the page after last. */
static void
oci_link_next(struct req *r, const char *path, const char *last, size_t n)
{
	char	*encoded, *value;

	if ((encoded = evhttp_uriencode(last, -1, 0)) == NULL)
		fatalx("%s: evhttp_uriencode", __func__);
	xasprintf(&value, "<%s?last=%s&n=%zu>; rel=\"next\"", path, encoded,
	    n);
	http_header_add(r, "Link", value);
	free(value);
	free(encoded);
}

/*
 * A JSON array of the first count strings of v. The index only holds
 * validated names; one that is not UTF-8 is left out, logged.
 */
static json_t *
oci_strings_json(char **v, size_t count)
{
	json_t	*array, *s;
	size_t	 i;

	if ((array = json_array()) == NULL)
		fatalx("%s: json_array", __func__);
	for (i = 0; i < count; i++) {
		if ((s = json_string(v[i])) == NULL) {
			log_warnx("%s: a name that is not UTF-8 skipped",
			    __func__);
			continue;
		}
		if (json_array_append_new(array, s) == -1)
			fatalx("%s: json_array_append_new", __func__);
	}
	return (array);
}

/* Answer 200 with root encoded as JSON; root is released. */
static void
oci_reply_json(struct req *r, const char *content_type, json_t *root)
{
	http_reply_json(r, 200, content_type, root);
}

void
oci_tags_list(struct oci_request *o)
{
	struct content_request	 cr;
	struct oci_page		 pg;

	if (oci_page_parse(o, 0, &pg) == -1)
		return;
	oci_content(o, &cr);
	content_tags_list(&cr, pg.pg_n, pg.pg_last);
}

void
oci_tags_reply(struct content_request *cr, size_t n, const char *last,
    char **tags, size_t count)
{
	size_t	 first = 0, shown;
	char	*path;

	if (last != NULL)
		while (first < count && strcmp(tags[first], last) <= 0)
			first++;
	shown = count - first;
	if (shown > n) {
		shown = n;
		xasprintf(&path, "/v2/%s/tags/list", cr->cr_path.name);
		oci_link_next(cr->cr_req, path, tags[first + shown - 1], n);
		free(path);
	}
	oci_reply_json(cr->cr_req, "application/json",
	    json_pack("{s:s, s:o}", "name", cr->cr_path.name, "tags",
	    oci_strings_json(tags + first, shown)));
}

/* Whether the catalog may show repo to this client: it may read it. */
static int
catalog_may_list(struct req *r, const char *repo)
{
	struct http_context	*ctx = http_context(r);
	struct access_caller	 anonymous;

	if (ctx->ctx_access == NULL)
		return (1);
	memset(&anonymous, 0, sizeof(anonymous));
	return ((access_rights(ctx->ctx_access, ctx->ctx_config,
	    r->req_caller != NULL ? r->req_caller : &anonymous, repo) &
	    ACCESS_PULL) != 0);
}

/*
 * A repository is listed when its registry component names a docker
 * registry or docker upstream key of the current configuration, and the
 * client may see it.
 */
static int
oci_catalog_visible(struct req *r, const char *repo)
{
	struct config		*cf = http_context(r)->ctx_config;
	struct config_registry	*reg;
	struct config_upstream	*up;
	int			 docker = 0;

	if (strchr(repo, '/') == NULL)
		return (0);
	(void)config_name_find(cf, repo, &reg, &up);
	if (reg != NULL)
		docker = reg->reg_type == REPO_DOCKER;
	else if (up != NULL)
		docker = up->up_type == REPO_DOCKER;
	return (docker && catalog_may_list(r, repo));
}

/*
 * Up to pg_n + 1 visible repositories after pg_last (the extra one tells
 * that a next page exists). Caller frees *out with index_strings_free.
 * 0 or -1.
 */
static int
oci_catalog_collect(struct req *r, const struct oci_page *pg, char ***out,
    size_t *count)
{
	struct index	*ix = http_context(r)->ctx_index;
	char		**names, *from;
	size_t		  n, i, want = pg->pg_n + 1;
	int		  rv = -1;

	*out = xreallocarray(NULL, want, sizeof(**out));
	*count = 0;
	from = pg->pg_last != NULL ? xstrdup(pg->pg_last) : NULL;
	while (*count < want) {
		if (index_repo_list(ix, from, OCI_LIST_BATCH, &names,
		    &n) == -1)
			goto fail;
		free(from);
		from = n > 0 ? xstrdup(names[n - 1]) : NULL;
		for (i = 0; i < n && *count < want; i++) {
			if (oci_catalog_visible(r, names[i])) {
				(*out)[(*count)++] = names[i];
				names[i] = NULL;
			}
		}
		index_strings_free(names, n);
		if (n < OCI_LIST_BATCH)
			break;
	}
	rv = 0;

fail:
	free(from);
	if (rv == -1) {
		index_strings_free(*out, *count);
		*out = NULL;
		*count = 0;
	}
	return (rv);
}

void
oci_catalog(struct oci_request *o)
{
	struct oci_page	 pg;
	char		**repos = NULL;
	size_t		  count = 0, shown;

	if (oci_page_parse(o, 1, &pg) == -1)
		return;
	if (pg.pg_n > 0 && oci_catalog_collect(o->or_req, &pg, &repos,
	    &count) == -1) {
		oci_internal_error(o->or_req);
		return;
	}
	shown = count;
	if (count > pg.pg_n) {
		shown = pg.pg_n;
		oci_link_next(o->or_req, "/v2/_catalog", repos[shown - 1],
		    pg.pg_n);
	}
	oci_reply_json(o->or_req, "application/json", json_pack("{s:o}",
	    "repositories", oci_strings_json(repos, shown)));
	index_strings_free(repos, count);
}

/*
 * The descriptor of one referrer, as the referrers index lists it; NULL
 * when its record cannot be encoded (logged).
 */
static json_t *
oci_referrer_descriptor(const struct digest *d,
    const struct index_manifest *im)
{
	json_t	*desc, *annotations;
	char	 dstr[DIGEST_STRING_MAX];

	digest_format(d, dstr, sizeof(dstr));
	desc = json_pack("{s:s, s:s, s:I}", "mediaType", im->im_media_type,
	    "digest", dstr, "size", (json_int_t)im->im_size);
	if (desc == NULL || (im->im_artifact_type[0] != '\0' &&
	    json_object_set_new(desc, "artifactType",
	    json_string(im->im_artifact_type)) == -1)) {
		log_warnx("%s: %s: garbled manifest record", __func__, dstr);
		json_decref(desc);
		return (NULL);
	}
	if (im->im_annotations != NULL) {
		annotations = json_loads(im->im_annotations, 0, NULL);
		if (json_is_object(annotations))
			json_object_set_new(desc, "annotations", annotations);
		else {
			log_warnx("%s: %s: stored annotations are not a JSON "
			    "object", __func__, dstr);
			json_decref(annotations);
		}
	}
	return (desc);
}

void
oci_referrers(struct oci_request *o)
{
	struct index		*ix = http_context(o->or_req)->ctx_index;
	struct index_manifest	 im;
	struct digest		*list = NULL;
	const char		*filter;
	json_t			*manifests, *desc;
	size_t			 count = 0, i;

	if (!o->or_path.ref_is_digest) {
		oci_error(o, "DIGEST_INVALID", o->or_path.reference);
		return;
	}
	if ((filter = http_query_get(o->or_req, "artifactType")) != NULL &&
	    *filter == '\0')
		filter = NULL;
	if (index_referrer_list(ix, o->or_path.name, &o->or_path.digest,
	    &list, &count) == -1) {
		oci_internal_error(o->or_req);
		return;
	}
	if ((manifests = json_array()) == NULL)
		fatalx("%s: json_array", __func__);
	for (i = 0; i < count; i++) {
		/* A referrer whose record is gone or garbled is left out. */
		if (index_manifest_get(ix, &list[i], &im) != 1)
			continue;
		if ((filter == NULL ||
		    strcmp(filter, im.im_artifact_type) == 0) &&
		    (desc = oci_referrer_descriptor(&list[i], &im)) != NULL)
			json_array_append_new(manifests, desc);
		index_manifest_clear(&im);
	}
	free(list);
	if (filter != NULL)
		http_header_add(o->or_req, "OCI-Filters-Applied",
		    "artifactType");
	oci_reply_json(o->or_req, MT_OCI_INDEX, json_pack("{s:i, s:s, s:o}",
	    "schemaVersion", 2, "mediaType", MT_OCI_INDEX, "manifests",
	    manifests));
}
