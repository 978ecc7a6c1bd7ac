/*
 * manifest_store.c: storing a manifest, pushed or cached from an
 * upstream: its exact bytes go into the blob store under their digest,
 * and its record (media type, size, subject, annotations) and the tag
 * the request names into the index, in one transaction.
 *
 * The bytes are stored off the event loop: a temp file, the write, the
 * verification, the fsync and the link into blobs/ (three fsyncs in all)
 * run in a thread of their own (offload.h) on a copy of the bytes the
 * job owns, and the caller's done callback continues on the loop (record
 * the manifest, answer the client). A manifest the blob store already
 * has (pushed again, or pulled into another repository) needs no thread:
 * done runs at once. The record is written on the loop, as every index
 * write is.
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
#include "lib/offload.h"
#include "lib/xmalloc.h"
#include "store/blobstore.h"
#include "store/gc.h"
#include "store/index.h"
#include "upstream/upstream_state.h"

/*
 * A manifest's bytes on their way into the blob store. Made by
 * content_manifest_store; from offload_run on, the thread alone uses it
 * (manifest_store_work), then manifest_store_done on the loop, which
 * frees it and calls ms_done. The thread touches ms_data, the result
 * fields and the blob store's directories (ms_bs is only read: its
 * paths), never the request or the index.
 */
struct manifest_store_job {
	struct content_request	*ms_cr;		/* the caller's; valid until done */
	struct blobstore	*ms_bs;
	void			*ms_data;	/* a copy of the bytes */
	size_t			 ms_len;
	struct digest		 ms_digest;
	void			(*ms_done)(void *, int);
	void			*ms_arg;
	int			 ms_failed;	/* set by the thread */
	int			 ms_errno;	/* of the failed step */
	char			*ms_cause;	/* of the failed step, or NULL */
};

static int	manifest_copy(char *, size_t, const char *);
static void	manifest_store_work(void *);
static void	manifest_store_done(void *);
static void	manifest_store_fail(struct content_request *, int,
		    const char *);

void
content_manifest_pushed(const char *repo, const char *reference)
{
	char	*key;

	key = content_negative_key(repo, reference);
	upstream_negative_drop(key);
	free(key);
}

void
content_manifest_store(struct content_request *cr, const void *data,
    size_t len, const struct digest *d, void (*done)(void *, int),
    void *arg)
{
	struct http_context		*ctx = http_context(cr->cr_req);
	struct manifest_store_job	*ms;
	char				 ds[DIGEST_STRING_MAX];

	/* Already stored: its bytes are these (its name is their digest). */
	if (blobstore_stat(ctx->ctx_blobs, d, NULL) == 1) {
		done(arg, 0);
		return;
	}
	ms = xcalloc(1, sizeof(*ms));
	ms->ms_cr = cr;
	ms->ms_bs = ctx->ctx_blobs;
	ms->ms_data = xmalloc(len > 0 ? len : 1);
	if (len > 0)
		memcpy(ms->ms_data, data, len);
	ms->ms_len = len;
	ms->ms_digest = *d;
	ms->ms_done = done;
	ms->ms_arg = arg;
	digest_format(d, ds, sizeof(ds));
	log_debug("%s: %s: storing manifest %s in a thread", __func__,
	    cr->cr_path.name, ds);
	offload_run(ctx->ctx_base, manifest_store_work, manifest_store_done,
	    ms);
}

/*
 * In the thread: temp file, write, verify, fsync, link. Waits first
 * while the file named by $DEPOT_TEST_COMMIT_HOLD exists (tests).
 */
static void
manifest_store_work(void *arg)
{
	struct manifest_store_job	*ms = arg;
	struct blob_writer		*w;

	offload_test_hold();
	if ((w = blob_writer_create(ms->ms_bs, ms->ms_digest.alg,
	    &ms->ms_cause)) == NULL)
		goto fail;
	if (blob_writer_write(w, ms->ms_data, ms->ms_len) == -1) {
		ms->ms_errno = errno;
		blob_writer_abort(w);
		xasprintf(&ms->ms_cause, "cannot write the manifest");
		ms->ms_failed = 1;
		return;
	}
	if (blob_writer_commit(w, &ms->ms_digest, NULL, &ms->ms_cause) == -1)
		goto fail;
	return;

fail:
	ms->ms_errno = errno;
	ms->ms_failed = 1;
}

/* On the loop: answer a failure, free the job, continue the caller. */
static void
manifest_store_done(void *arg)
{
	struct manifest_store_job	*ms = arg;
	void				(*done)(void *, int) = ms->ms_done;
	void				*done_arg = ms->ms_arg;
	int				 rv = 0;

	if (ms->ms_failed) {
		manifest_store_fail(ms->ms_cr, ms->ms_errno, ms->ms_cause);
		rv = -1;
	}
	free(ms->ms_cause);
	free(ms->ms_data);
	free(ms);
	done(done_arg, rv);
}

/* Log why the bytes were not stored and answer 507 or 500. */
static void
manifest_store_fail(struct content_request *cr, int error, const char *cause)
{
	log_warnx("content_manifest_store: %s: %s", cr->cr_path.name,
	    cause != NULL ? cause : "blob store error");
	/* A full disk or quota: 507, as an upload answers it. */
	if (error == ENOSPC || error == EDQUOT)
		content_fail(cr->cr_handler, cr->cr_req, 507, "DENIED",
		    "insufficient storage", "cannot store the manifest");
	else
		content_fail(cr->cr_handler, cr->cr_req, 500, "UNKNOWN",
		    "internal error", NULL);
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
