/*
 * oci_manifest.c: the manifest endpoints under /v2/<name>/manifests/<ref>.
 * Push validates the body, checks that every blob and manifest it
 * references is in the repository, stores the exact bytes in the blob
 * store and records them in the index (with the tag, when pushed by tag).
 * Pull finds the manifest by tag or digest, negotiates the media type with
 * the client's Accept headers and sends the stored bytes. Delete removes
 * a tag, or a manifest's link with every tag of the repository on it.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "store/blobstore.h"
#include "depot.h"
#include "lib/digest.h"
#include "http/http.h"
#include "store/index.h"
#include "lib/log.h"
#include "lib/manifest.h"
#include "lib/metrics.h"
#include "oci/oci.h"
#include "content/proxy.h"
#include "upstream/upstream_state.h"
#include "lib/xmalloc.h"

static void	manifest_internal_error(struct oci_request *);
static int	manifest_lookup_local(struct oci_request *, struct digest *,
		    struct index_manifest *, struct index_tag *);
static char	*manifest_accept_joined(struct req *);
static void	manifest_send(struct oci_request *, const struct digest *,
		    const struct index_manifest *);
static int	manifest_refs_known(struct oci_request *,
		    const struct manifest_info *);
static int	manifest_copy(char *, size_t, const char *);
static void	manifest_created(struct oci_request *, const struct digest *,
		    const struct manifest_info *);
static void	manifest_forget_miss(struct oci_request *);

/* The request failed on our side (index or disk): 500, already logged. */
static void
manifest_internal_error(struct oci_request *o)
{
	http_reply_oci_error(o->or_req, 500, "UNKNOWN", "internal error", NULL);
}

/*
 * Find the manifest o names in the repository's own content: by tag
 * through the tag record, by digest through the repository's manifest
 * link. Returns 1 with *d and *im filled (clear im with
 * index_manifest_clear), 0 when absent, -1 on error. For a tag, *tag
 * holds its record (it_upstream is "" for a tag pushed here); for a
 * digest, *tag is zeroed.
 */
static int
manifest_lookup_local(struct oci_request *o, struct digest *d,
    struct index_manifest *im, struct index_tag *tag)
{
	struct index		*ix = http_context(o->or_req)->ctx_index;
	enum index_link_kind	 kind;
	char			 buf[DIGEST_STRING_MAX];
	int			 found;

	memset(im, 0, sizeof(*im));
	memset(tag, 0, sizeof(*tag));
	if (o->or_path.ref_is_digest) {
		*d = o->or_path.digest;
		found = index_link_get(ix, o->or_path.name, d, &kind);
		if (found == 1 && kind != INDEX_LINK_MANIFEST)
			found = 0;
	} else {
		found = index_tag_get(ix, o->or_path.name,
		    o->or_path.reference, tag);
		if (found == 1)
			*d = tag->it_digest;
	}
	if (found != 1)
		return (found);
	if ((found = index_manifest_get(ix, d, im)) == 0) {
		digest_format(d, buf, sizeof(buf));
		log_warnx("%s: %s: linked manifest %s has no record", __func__,
		    o->or_path.name, buf);
	}
	return (found);
}

/*
 * Every Accept header of the request joined with ", " (evhttp keeps
 * repeated headers apart); NULL when there is none. Caller frees.
 */
static char *
manifest_accept_joined(struct req *r)
{
	struct evkeyvalq	*headers;
	struct evkeyval		*kv;
	char			*joined = NULL, *grown;

	headers = evhttp_request_get_input_headers(r->req_ev);
	TAILQ_FOREACH(kv, headers, next) {
		if (strcasecmp(kv->key, "Accept") != 0)
			continue;
		if (joined == NULL)
			joined = xstrdup(kv->value);
		else {
			xasprintf(&grown, "%s, %s", joined, kv->value);
			free(joined);
			joined = grown;
		}
	}
	return (joined);
}

void
oci_manifest_get(struct oci_request *o)
{
	struct config_upstream	*ups[PROXY_UPSTREAMS_MAX];
	struct index_manifest	 im;
	struct index_tag	 tag;
	struct digest		 d;
	int			 found, proxied;

	if ((found = manifest_lookup_local(o, &d, &im, &tag)) == -1) {
		manifest_internal_error(o);
		return;
	}
	proxied = proxy_upstreams(o, ups, PROXY_UPSTREAMS_MAX) > 0;
	if (found == 0 && proxied) {
		proxy_manifest_pull(o, NULL);
		return;
	}
	if (found == 0) {
		oci_error(o, "MANIFEST_UNKNOWN", o->or_path.reference);
		return;
	}
	/* A tag cached from an upstream is asked again once its TTL passed. */
	if (proxied && tag.it_upstream[0] != '\0' &&
	    !proxy_tag_fresh(o, &tag, time(NULL))) {
		index_manifest_clear(&im);
		proxy_manifest_pull(o, &tag);
		return;
	}
	if (proxied)
		metrics_cache(o->or_path.registry, "manifest",
		    METRICS_CACHE_HIT);
	oci_manifest_serve(o, &d, &im);
	index_manifest_clear(&im);
}

void
oci_manifest_serve(struct oci_request *o, const struct digest *d,
    const struct index_manifest *im)
{
	char	*accept, *detail;

	accept = manifest_accept_joined(o->or_req);
	if (!manifest_accepts(accept, im->im_media_type)) {
		xasprintf(&detail, "the manifest is %s, which the Accept "
		    "header does not list", im->im_media_type);
		oci_error(o, "MANIFEST_UNKNOWN", detail);
		free(detail);
	} else
		manifest_send(o, d, im);
	free(accept);
}

/* Answer a GET or HEAD with the stored manifest bytes and their headers. */
static void
manifest_send(struct oci_request *o, const struct digest *d,
    const struct index_manifest *im)
{
	struct blobstore	*bs = http_context(o->or_req)->ctx_blobs;
	char			 dstr[DIGEST_STRING_MAX];
	char			 etag[DIGEST_STRING_MAX + 2];
	off_t			 size;
	int			 fd;

	digest_format(d, dstr, sizeof(dstr));
	if (blobstore_open_blob(bs, d, &fd, &size) == -1) {
		if (errno != ENOENT) {
			log_warn("%s: %s", __func__, dstr);
			manifest_internal_error(o);
			return;
		}
		log_warnx("%s: manifest %s is indexed but not stored",
		    __func__, dstr);
		oci_error(o, "MANIFEST_UNKNOWN", dstr);
		return;
	}
	if (size != (off_t)im->im_size)
		log_warnx("%s: %s: stored size %lld, indexed %lld", __func__,
		    dstr, (long long)size, (long long)im->im_size);
	snprintf(etag, sizeof(etag), "\"%s\"", dstr);
	http_header_add(o->or_req, "Docker-Content-Digest", dstr);
	http_header_add(o->or_req, "ETag", etag);
	http_reply_file(o->or_req, 200, im->im_media_type, fd, 0, size);
}

void
oci_manifest_put(struct oci_request *o)
{
	struct manifest_info	 mi;
	struct evbuffer		*input;
	struct digest		 d;
	enum digest_alg		 alg = DIGEST_SHA256;
	const unsigned char	*data;
	char			*cause = NULL, dstr[DIGEST_STRING_MAX];
	size_t			 len;

	input = evhttp_request_get_input_buffer(o->or_req->req_ev);
	if ((len = evbuffer_get_length(input)) > DEPOT_MANIFEST_MAX) {
		http_reply_oci_error(o->or_req, 413, "MANIFEST_INVALID",
		    "manifest too large", NULL);
		return;
	}
	if ((data = evbuffer_pullup(input, -1)) == NULL)
		data = (const unsigned char *)"";
	memset(&mi, 0, sizeof(mi));
	if (manifest_parse(data, len, http_header_get(o->or_req,
	    "Content-Type"), &mi, &cause) == -1) {
		oci_error(o, "MANIFEST_INVALID", cause);
		free(cause);
		return;
	}
	if (o->or_path.ref_is_digest)
		alg = o->or_path.digest.alg;
	digest_buffer(alg, data, len, &d);
	digest_format(&d, dstr, sizeof(dstr));
	if (o->or_path.ref_is_digest && !digest_equal(&d, &o->or_path.digest))
		oci_error(o, "DIGEST_INVALID", dstr);
	else if (manifest_refs_known(o, &mi) == 0 &&
	    oci_manifest_store(o, data, len, &d) == 0 &&
	    oci_manifest_record(o, &d, &mi, len, NULL) == 0) {
		manifest_forget_miss(o);
		manifest_created(o, &d, &mi);
	}
	manifest_info_clear(&mi);
}

/*
 * Every blob the manifest references (config, layers) and every manifest
 * an index lists must be in this repository, with the size its
 * descriptor gives; the subject need not be. 0, or -1 when the request
 * has been answered.
 */
static int
manifest_refs_known(struct oci_request *o, const struct manifest_info *mi)
{
	struct http_context	*ctx = http_context(o->or_req);
	struct index		*ix = ctx->ctx_index;
	const struct manifest_ref *ref;
	enum index_link_kind	 kind;
	char			 dstr[DIGEST_STRING_MAX], *detail;
	size_t			 i;
	off_t			 size;
	int			 found;

	for (i = 0; i < mi->mi_nrefs; i++) {
		ref = &mi->mi_refs[i];
		found = index_link_get(ix, o->or_path.name, &ref->mr_digest,
		    &kind);
		if (found == -1) {
			manifest_internal_error(o);
			return (-1);
		}
		/* A blob may be linked as a manifest: its bytes are stored. */
		if (found == 1 && ref->mr_is_manifest &&
		    kind != INDEX_LINK_MANIFEST)
			found = 0;
		/* Manifests are stored as blobs too. */
		if (found == 1 && (found = blobstore_stat(ctx->ctx_blobs,
		    &ref->mr_digest, &size)) == -1) {
			manifest_internal_error(o);
			return (-1);
		}
		digest_format(&ref->mr_digest, dstr, sizeof(dstr));
		if (found == 0) {
			oci_error(o, "MANIFEST_BLOB_UNKNOWN", dstr);
			return (-1);
		}
		if ((int64_t)size != ref->mr_size) {
			xasprintf(&detail, "the descriptor of %s gives size "
			    "%" PRId64 ", but it has %lld bytes", dstr,
			    ref->mr_size, (long long)size);
			oci_error(o, "MANIFEST_INVALID", detail);
			free(detail);
			return (-1);
		}
	}
	return (0);
}

/* A tag pushed here is no longer a miss the upstreams told of. */
static void
manifest_forget_miss(struct oci_request *o)
{
	char	*key;

	key = proxy_negative_key(o->or_path.name, o->or_path.reference);
	upstream_negative_drop(key);
	free(key);
}

int
oci_manifest_store(struct oci_request *o, const void *data, size_t len,
    const struct digest *d)
{
	struct blobstore	*bs = http_context(o->or_req)->ctx_blobs;
	struct blob_writer	*w;
	char			*cause = NULL;

	if ((w = blob_writer_create(bs, d->alg, &cause)) == NULL)
		goto fail;
	if (blob_writer_write(w, data, len) == -1) {
		blob_writer_abort(w);
		xasprintf(&cause, "cannot write the manifest");
		goto fail;
	}
	if (blob_writer_commit(w, d, NULL, &cause) == -1)
		goto fail;
	return (0);

fail:
	log_warnx("%s: %s: %s", __func__, o->or_path.name,
	    cause != NULL ? cause : "blob store error");
	free(cause);
	manifest_internal_error(o);
	return (-1);
}

/* Copy src (NULL: empty) into a fixed field. 0, or -1 when too long. */
static int
manifest_copy(char *dst, size_t size, const char *src)
{
	int	 n;

	n = snprintf(dst, size, "%s", src != NULL ? src : "");
	return (n < 0 || (size_t)n >= size ? -1 : 0);
}

int
oci_manifest_record(struct oci_request *o, const struct digest *d,
    const struct manifest_info *mi, size_t len, const char *upstream)
{
	struct index		*ix = http_context(o->or_req)->ctx_index;
	struct index_manifest	 im;
	struct index_tag	 tag;
	const char		*tag_name = NULL;

	memset(&im, 0, sizeof(im));
	memset(&tag, 0, sizeof(tag));
	if (manifest_copy(im.im_media_type, sizeof(im.im_media_type),
	    mi->mi_media_type) == -1 ||
	    manifest_copy(im.im_artifact_type, sizeof(im.im_artifact_type),
	    mi->mi_artifact_type) == -1) {
		oci_error(o, "MANIFEST_INVALID", "media type too long");
		return (-1);
	}
	im.im_size = (int64_t)len;
	im.im_has_subject = mi->mi_has_subject;
	if (mi->mi_has_subject)
		im.im_subject = mi->mi_subject;
	im.im_annotations = mi->mi_annotations;	/* borrowed, not freed */
	if (!o->or_path.ref_is_digest) {
		tag_name = o->or_path.reference;
		tag.it_digest = *d;
		manifest_copy(tag.it_media_type, sizeof(tag.it_media_type),
		    im.im_media_type);
		tag.it_fetched_at = (int64_t)time(NULL);
		manifest_copy(tag.it_upstream, sizeof(tag.it_upstream),
		    upstream);
	}
	if (index_manifest_commit(ix, o->or_path.name, d, &im, tag_name,
	    tag_name != NULL ? &tag : NULL) == -1) {
		manifest_internal_error(o);
		return (-1);
	}
	return (0);
}

/* 201 Created with the manifest's location, digest and subject. */
static void
manifest_created(struct oci_request *o, const struct digest *d,
    const struct manifest_info *mi)
{
	char	 dstr[DIGEST_STRING_MAX], subject[DIGEST_STRING_MAX];
	char	*path, *location;

	digest_format(d, dstr, sizeof(dstr));
	xasprintf(&path, "/v2/%s/manifests/%s", o->or_path.name, dstr);
	location = http_public_url(o->or_req, path);
	http_header_add(o->or_req, "Location", location);
	free(location);
	http_header_add(o->or_req, "Docker-Content-Digest", dstr);
	if (mi->mi_has_subject) {
		digest_format(&mi->mi_subject, subject, sizeof(subject));
		http_header_add(o->or_req, "OCI-Subject", subject);
	}
	free(path);
	http_reply(o->or_req, 201, NULL, NULL);
}

void
oci_manifest_delete(struct oci_request *o)
{
	struct index	*ix = http_context(o->or_req)->ctx_index;
	int		 found;

	if (o->or_path.ref_is_digest)
		found = index_manifest_unlink(ix, o->or_path.name,
		    &o->or_path.digest);
	else
		found = index_tag_delete(ix, o->or_path.name,
		    o->or_path.reference);
	if (found == -1)
		manifest_internal_error(o);
	else if (found == 0)
		oci_error(o, "MANIFEST_UNKNOWN", o->or_path.reference);
	else
		http_reply(o->or_req, 202, NULL, NULL);
}
