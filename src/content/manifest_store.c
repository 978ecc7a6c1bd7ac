/*
 * manifest_store.c: storing a manifest, pushed or cached from an
 * upstream: its exact bytes go into the blob store under their digest,
 * and its record (media type, size, subject, annotations) and the tag
 * the request names into the index, in one transaction.
 */
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "content/content.h"
#include "content/upstreams.h"
#include "http/http.h"
#include "lib/digest.h"
#include "lib/log.h"
#include "lib/manifest.h"
#include "lib/xmalloc.h"
#include "store/blobstore.h"
#include "store/gc.h"
#include "store/index.h"
#include "upstream/upstream_state.h"

static int	manifest_copy(char *, size_t, const char *);

void
content_manifest_pushed(const char *repo, const char *reference)
{
	char	*key;

	key = content_negative_key(repo, reference);
	upstream_negative_drop(key);
	free(key);
}

int
content_manifest_store(struct content_request *cr, const void *data,
    size_t len, const struct digest *d)
{
	struct blobstore	*bs = http_context(cr->cr_req)->ctx_blobs;
	struct blob_writer	*w;
	char			*cause = NULL;
	int			 error;

	if ((w = blob_writer_create(bs, d->alg, &cause)) == NULL) {
		error = errno;
		goto fail;
	}
	if (blob_writer_write(w, data, len) == -1) {
		error = errno;
		blob_writer_abort(w);
		xasprintf(&cause, "cannot write the manifest");
		goto fail;
	}
	if (blob_writer_commit(w, d, NULL, &cause) == -1) {
		error = errno;
		goto fail;
	}
	return (0);

fail:
	log_warnx("%s: %s: %s", __func__, cr->cr_path.name,
	    cause != NULL ? cause : "blob store error");
	free(cause);
	/* A full disk or quota: 507, as an upload answers it. */
	if (error == ENOSPC || error == EDQUOT)
		content_fail(cr->cr_handler, cr->cr_req, 507, "DENIED",
		    "insufficient storage", "cannot store the manifest");
	else
		content_fail(cr->cr_handler, cr->cr_req, 500, "UNKNOWN",
		    "internal error", NULL);
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
content_manifest_record(struct content_request *cr, const struct digest *d,
    const struct manifest_info *mi, size_t len, const char *upstream)
{
	struct index		*ix = http_context(cr->cr_req)->ctx_index;
	struct index_manifest	 im;
	struct index_tag	 tag;
	const char		*tag_name = NULL;
	char			 ds[DIGEST_STRING_MAX];
	size_t			 missing = 0;
	int			 held, fd, ret;

	memset(&im, 0, sizeof(im));
	memset(&tag, 0, sizeof(tag));
	if (manifest_copy(im.im_media_type, sizeof(im.im_media_type),
	    mi->mi_media_type) == -1 ||
	    manifest_copy(im.im_artifact_type, sizeof(im.im_artifact_type),
	    mi->mi_artifact_type) == -1) {
		content_error(cr, "MANIFEST_INVALID", "media type too long");
		return (-1);
	}
	im.im_size = (int64_t)len;
	im.im_has_subject = mi->mi_has_subject;
	if (mi->mi_has_subject)
		im.im_subject = mi->mi_subject;
	im.im_annotations = mi->mi_annotations;	/* borrowed, not freed */
	if (!cr->cr_path.ref_is_digest) {
		tag_name = cr->cr_path.reference;
		tag.it_digest = *d;
		manifest_copy(tag.it_media_type, sizeof(tag.it_media_type),
		    im.im_media_type);
		tag.it_fetched_at = (int64_t)time(NULL);
		manifest_copy(tag.it_upstream, sizeof(tag.it_upstream),
		    upstream);
	}
	/*
	 * The manifest's own file is held against the sweep while it is
	 * linked (an identical manifest stored long ago may be its file),
	 * and a pushed manifest's references are re-read and touched in the
	 * commit: a blob the garbage collection removed meanwhile is
	 * unknown, never a dangling reference (see store/gc.h).
	 */
	if ((held = gc_hold(http_context(cr->cr_req)->ctx_blobs, d,
	    &fd)) != 1) {
		content_fail(cr->cr_handler, cr->cr_req, 500, "UNKNOWN",
		    "internal error", held == 0 ? "the manifest was removed "
		    "by the garbage collection meanwhile; push it again" :
		    NULL);
		return (-1);
	}
	ret = index_manifest_commit_refs(ix, cr->cr_path.name, d, &im,
	    tag_name, tag_name != NULL ? &tag : NULL, upstream,
	    upstream == NULL ? mi->mi_refs : NULL,
	    upstream == NULL ? mi->mi_nrefs : 0, &missing);
	gc_release(fd);
	switch (ret) {
	case 1:
		return (0);
	case 0:
		digest_format(&mi->mi_refs[missing].mr_digest, ds, sizeof(ds));
		content_error(cr, "MANIFEST_BLOB_UNKNOWN", ds);
		return (-1);
	default:
		content_fail(cr->cr_handler, cr->cr_req, 500, "UNKNOWN",
		    "internal error", NULL);
		return (-1);
	}
}
