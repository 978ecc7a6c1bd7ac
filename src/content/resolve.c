/*
 * resolve.c: what a handler asks for, resolved the one way: the
 * repository's own content first (the index and the blob store), then,
 * when its registry pulls through upstreams, the upstreams in order
 * (blob_fill.c, manifest_pull.c, tags_pull.c). What is found goes to the
 * handler's callbacks (ch_manifest, ch_tags) or out through serve.c;
 * what is not, to its ch_error.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf/config.h"
#include "content/content.h"
#include "content/upstreams.h"
#include "http/http.h"
#include "lib/digest.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/xmalloc.h"
#include "store/blobstore.h"
#include "store/index.h"
#include "upstream/upstream.h"

/* Repositories read from the index at a time while looking for one. */
#define RESOLVE_LIST_BATCH	256

static int	manifest_lookup_local(struct content_request *,
		    struct digest *, struct index_manifest *,
		    struct index_tag *);
static int	repo_listed(struct index *, const char *);
static void	blob_head_touch(struct content_request *);

void
content_blob_get(struct content_request *cr)
{
	struct http_context	*ctx = http_context(cr->cr_req);
	struct config_upstream	*ups[CONTENT_UPSTREAMS_MAX];
	enum index_link_kind	 kind;
	char			 ds[DIGEST_STRING_MAX];
	int			 found, proxied;

	digest_format(&cr->cr_path.digest, ds, sizeof(ds));
	found = index_link_get(ctx->ctx_index, cr->cr_path.name,
	    &cr->cr_path.digest, &kind);
	if (found == -1) {
		content_fail(cr->cr_handler, cr->cr_req, 500, "UNKNOWN",
		    "internal error", "cannot read the index");
		return;
	}
	if (found == 1 && (found = blobstore_stat(ctx->ctx_blobs,
	    &cr->cr_path.digest, NULL)) == -1) {
		content_fail(cr->cr_handler, cr->cr_req, 500, "UNKNOWN",
		    "internal error", "cannot read the blob store");
		return;
	}
	proxied = content_upstreams(cr, ups, CONTENT_UPSTREAMS_MAX) > 0;
	if (found == 0 && proxied)
		content_blob_pull(cr);
	else if (found == 0)
		content_error(cr, "BLOB_UNKNOWN", ds);
	else {
		if (proxied)
			metrics_cache(cr->cr_path.registry, "blob",
			    METRICS_CACHE_HIT);
		if (http_method(cr->cr_req) == EVHTTP_REQ_HEAD)
			blob_head_touch(cr);
		content_pulled(cr->cr_req, cr->cr_path.name,
		    &cr->cr_path.digest);
		content_blob_send(cr->cr_req, cr->cr_handler,
		    &cr->cr_path.digest);
	}
}

/*
 * A client that HEADs a blob before its manifest PUT skips the upload:
 * the link's age restarts, so that the garbage collection keeps it
 * (gc.h); written at most every quarter of gc_grace (an hour at most).
 */
static void
blob_head_touch(struct content_request *cr)
{
	struct http_context	*ctx = http_context(cr->cr_req);
	int64_t			 every;

	every = ctx->ctx_config->cf_server.srv_gc_grace / 4;
	if (every > 3600)
		every = 3600;
	if (index_link_touch(ctx->ctx_index, cr->cr_path.name,
	    &cr->cr_path.digest, (int64_t)time(NULL) - every) == -1)
		log_warnx("%s: %s: cannot touch the link", __func__,
		    cr->cr_path.name);
}

/* Fill the blob from the upstreams cr pulls through, at blobs/<digest>. */
void
content_blob_pull(struct content_request *cr)
{
	struct config_upstream	*ups[CONTENT_UPSTREAMS_MAX];
	struct content_source	 srcs[CONTENT_UPSTREAMS_MAX];
	struct content_fill	 f;
	char			 ds[DIGEST_STRING_MAX], *path;
	size_t			 i, n;

	n = content_upstreams(cr, ups, CONTENT_UPSTREAMS_MAX);
	digest_format(&cr->cr_path.digest, ds, sizeof(ds));
	xasprintf(&path, "blobs/%s", ds);
	for (i = 0; i < n; i++) {
		srcs[i].cs_upstream = ups[i];
		srcs[i].cs_repo = upstream_remote_repo(ups[i],
		    cr->cr_path.image);
		srcs[i].cs_path = path;
	}
	memset(&f, 0, sizeof(f));
	f.cf_digest = cr->cr_path.digest;
	f.cf_repo = cr->cr_path.name;
	f.cf_registry = cr->cr_path.registry;
	f.cf_sources = srcs;
	f.cf_nsources = n;
	f.cf_req = cr->cr_req;
	f.cf_handler = cr->cr_handler;
	f.cf_not_found = "BLOB_UNKNOWN";
	content_fill_start(&f);
	for (i = 0; i < n; i++)
		free((char *)srcs[i].cs_repo);
	free(path);
}

void
content_manifest_get(struct content_request *cr)
{
	struct config_upstream	*ups[CONTENT_UPSTREAMS_MAX];
	struct index_manifest	 im;
	struct index_tag	 tag;
	struct digest		 d;
	int			 found, proxied;

	if ((found = manifest_lookup_local(cr, &d, &im, &tag)) == -1) {
		content_fail(cr->cr_handler, cr->cr_req, 500, "UNKNOWN",
		    "internal error", NULL);
		return;
	}
	proxied = content_upstreams(cr, ups, CONTENT_UPSTREAMS_MAX) > 0;
	if (found == 0 && proxied) {
		content_manifest_pull(cr, NULL);
		return;
	}
	if (found == 0) {
		content_error(cr, "MANIFEST_UNKNOWN", cr->cr_path.reference);
		return;
	}
	/* A tag cached from an upstream is asked again once its TTL passed. */
	if (proxied && tag.it_upstream[0] != '\0' &&
	    !content_tag_fresh(cr, &tag, time(NULL))) {
		index_manifest_clear(&im);
		content_manifest_pull(cr, &tag);
		return;
	}
	if (proxied)
		metrics_cache(cr->cr_path.registry, "manifest",
		    METRICS_CACHE_HIT);
	cr->cr_handler->ch_manifest(cr, &d, &im);
	index_manifest_clear(&im);
}

/*
 * Find the manifest cr names in the repository's own content: by tag
 * through the tag record, by digest through the repository's manifest
 * link. Returns 1 with *d and *im filled (clear im with
 * index_manifest_clear), 0 when absent, -1 on error. For a tag, *tag
 * holds its record (it_upstream is "" for a tag pushed here); for a
 * digest, *tag is zeroed.
 */
static int
manifest_lookup_local(struct content_request *cr, struct digest *d,
    struct index_manifest *im, struct index_tag *tag)
{
	struct index		*ix = http_context(cr->cr_req)->ctx_index;
	enum index_link_kind	 kind;
	char			 buf[DIGEST_STRING_MAX];
	int			 found;

	memset(im, 0, sizeof(*im));
	memset(tag, 0, sizeof(*tag));
	if (cr->cr_path.ref_is_digest) {
		*d = cr->cr_path.digest;
		found = index_link_get(ix, cr->cr_path.name, d, &kind);
		if (found == 1 && kind != INDEX_LINK_MANIFEST)
			found = 0;
	} else {
		found = index_tag_get(ix, cr->cr_path.name,
		    cr->cr_path.reference, tag);
		if (found == 1)
			*d = tag->it_digest;
	}
	if (found != 1)
		return (found);
	if ((found = index_manifest_get(ix, d, im)) == 0) {
		digest_format(d, buf, sizeof(buf));
		log_warnx("%s: %s: linked manifest %s has no record", __func__,
		    cr->cr_path.name, buf);
	}
	return (found);
}

void
content_tags_list(struct content_request *cr, size_t n, const char *last)
{
	struct index		*ix = http_context(cr->cr_req)->ctx_index;
	struct config_upstream	*ups[CONTENT_UPSTREAMS_MAX];
	char			**tags = NULL;
	size_t			  count = 0;
	int			  known;

	if (content_upstreams(cr, ups, CONTENT_UPSTREAMS_MAX) > 0) {
		content_tags_pull(cr, n, last);
		return;
	}
	if (n > 0 && index_tag_list(ix, cr->cr_path.name, last, n + 1, &tags,
	    &count) == -1) {
		content_fail(cr->cr_handler, cr->cr_req, 500, "UNKNOWN",
		    "internal error", NULL);
		return;
	}
	known = count > 0 ? 1 : content_repo_known(ix, cr->cr_path.name);
	if (known == -1)
		content_fail(cr->cr_handler, cr->cr_req, 500, "UNKNOWN",
		    "internal error", NULL);
	else if (known == 0)
		content_error(cr, "NAME_UNKNOWN", cr->cr_path.name);
	else
		cr->cr_handler->ch_tags(cr, n, last, tags, count);
	index_strings_free(tags, count);
}

int
content_repo_known(struct index *ix, const char *repo)
{
	char	**tags;
	size_t	  count;

	if (index_tag_list(ix, repo, NULL, 1, &tags, &count) == -1)
		return (-1);
	index_strings_free(tags, count);
	if (count > 0)
		return (1);
	return (repo_listed(ix, repo));
}

/*
 * 1 when repo is in the index's repository list (it has a link), 0 when
 * not, -1 on error. The list is read from just before repo: after repo
 * without its last byte, which sorts before repo itself.
 */
static int
repo_listed(struct index *ix, const char *repo)
{
	char	**names = NULL, *from;
	size_t	  count = 0, i;
	int	  cmp, found = -1;

	from = xstrndup(repo, strlen(repo) - 1);
	for (;;) {
		if (index_repo_list(ix, *from != '\0' ? from : NULL,
		    RESOLVE_LIST_BATCH, &names, &count) == -1)
			break;
		for (i = 0; i < count; i++) {
			if ((cmp = strcmp(names[i], repo)) >= 0) {
				found = cmp == 0;
				goto done;
			}
		}
		if (count < RESOLVE_LIST_BATCH) {
			found = 0;
			goto done;
		}
		free(from);
		from = xstrdup(names[count - 1]);
		index_strings_free(names, count);
		names = NULL;
	}

done:
	index_strings_free(names, count);
	free(from);
	return (found);
}
