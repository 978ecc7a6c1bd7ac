/*
 * oci_manifest.c: the manifest endpoints under /v2/<name>/manifests/<ref>.
 * Push validates the body, checks that every blob and manifest it
 * references is in the repository, stores the exact bytes in the blob
 * store and records them in the index (with the tag, when pushed by tag),
 * through content/manifest_store.c: the bytes are stored in a thread, and
 * the push is recorded and answered 201 once they are (struct
 * manifest_push). Pull goes to content, which finds
 * the manifest by tag or digest, locally or through the upstreams; here
 * its media type is negotiated with the client's Accept headers before
 * content sends the stored bytes (oci_manifest_serve). Delete removes
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
#include "content/content.h"
#include "lib/xmalloc.h"

/*
 * A push whose bytes are being stored: made by oci_manifest_put once the
 * manifest is checked, then owned by the store until manifest_put_stored,
 * which records it, answers and frees it. The request stays valid until
 * it is answered (evhttp keeps a request whose client left until the
 * handler replies, and the worker's drain waits for it).
 */
struct manifest_push {
	struct oci_request	 pu_o;		/* path copied */
	struct content_request	 pu_cr;		/* shares pu_o's path */
	struct manifest_info	 pu_mi;
	struct digest		 pu_digest;
	size_t			 pu_len;
};

static void	manifest_put_stored(void *, int);
static void	manifest_internal_error(struct oci_request *);
static char	*manifest_accept_joined(struct req *);
static int	manifest_refs_known(struct oci_request *,
		    const struct manifest_info *);
static void	manifest_created(struct oci_request *, const struct digest *,
		    const struct manifest_info *);

/* The request failed on our side (index or disk): 500, already logged. */
static void
manifest_internal_error(struct oci_request *o)
{
	http_reply_oci_error(o->or_req, 500, "UNKNOWN", "internal error", NULL);
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
	struct content_request	 cr;

	oci_content(o, &cr);
	content_manifest_get(&cr);
}

void
oci_manifest_serve(struct content_request *cr, const struct digest *d,
    const struct index_manifest *im)
{
	char	*accept, *detail;

	accept = manifest_accept_joined(cr->cr_req);
	if (!manifest_accepts(accept, im->im_media_type)) {
		xasprintf(&detail, "the manifest is %s, which the Accept "
		    "header does not list", im->im_media_type);
		content_error(cr, "MANIFEST_UNKNOWN", detail);
		free(detail);
	} else
		content_manifest_send(cr, d, im);
	free(accept);
}

void
oci_manifest_put(struct oci_request *o)
{
	struct manifest_push	*pu;
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
	else if (manifest_refs_known(o, &mi) == 0) {
		pu = xcalloc(1, sizeof(*pu));
		pu->pu_o = *o;
		v2_path_copy(&pu->pu_o.or_path, &o->or_path);
		oci_content(&pu->pu_o, &pu->pu_cr);
		pu->pu_mi = mi;		/* taken: not cleared here */
		pu->pu_digest = d;
		pu->pu_len = len;
		content_manifest_store(&pu->pu_cr, data, len, &d,
		    manifest_put_stored, pu);
		return;
	}
	manifest_info_clear(&mi);
}

/*
 * The pushed bytes are stored (stored 0), or the store answered the
 * request (-1): record the manifest and its tag, answer 201; free pu.
 */
static void
manifest_put_stored(void *arg, int stored)
{
	struct manifest_push	*pu = arg;
	struct oci_request	*o = &pu->pu_o;

	if (stored == 0 && content_manifest_record(&pu->pu_cr, &pu->pu_digest,
	    &pu->pu_mi, pu->pu_len, NULL) == 0) {
		content_manifest_pushed(o->or_path.name, o->or_path.reference);
		manifest_created(o, &pu->pu_digest, &pu->pu_mi);
	}
	manifest_info_clear(&pu->pu_mi);
	v2_path_clear(&pu->pu_o.or_path);
	free(pu);
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
