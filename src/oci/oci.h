/*
 * oci.h: the OCI distribution API under /v2/: the dispatcher (oci.c) and
 * the handlers of each endpoint family (oci_blob.c, oci_upload.c,
 * oci_manifest.c, oci_tags.c).
 */
#ifndef DEPOT_OCI_H
#define DEPOT_OCI_H

#include "lib/ref.h"

struct req;
struct config_registry;
struct config_upstream;

/* What a /v2/ request addresses, resolved by the dispatcher. */
struct oci_request {
	struct req		*or_req;
	struct v2_path		 or_path;	/* parsed and validated */
	struct config_registry	*or_registry;	/* a registry, or */
	struct config_upstream	*or_upstream;	/* an upstream key */
	int			 or_read_only;	/* push/delete refused (405) */
};

/* Entry point for every /v2 path. */
void	oci_dispatch(struct req *);

/*
 * Answer with the OCI error JSON for code, with the HTTP status and
 * message the distribution spec gives that code. detail may be NULL.
 */
void	oci_error(struct oci_request *, const char *code, const char *detail);
/*
 * 400 DIGEST_INVALID for a digest that does not parse (the table's
 * message is about a digest that does not match the content).
 */
void	oci_digest_malformed(struct oci_request *, const char *detail);

/* Handlers; each answers the request. HEAD goes with GET. */
void	oci_blob_get(struct oci_request *);
void	oci_blob_delete(struct oci_request *);
void	oci_upload_start(struct oci_request *);		/* POST */
void	oci_upload_patch(struct oci_request *);		/* PATCH */
void	oci_upload_finish(struct oci_request *);	/* PUT */
void	oci_upload_status(struct oci_request *);	/* GET */
void	oci_upload_cancel(struct oci_request *);	/* DELETE */
void	oci_manifest_get(struct oci_request *);
void	oci_manifest_put(struct oci_request *);
void	oci_manifest_delete(struct oci_request *);
void	oci_tags_list(struct oci_request *);
void	oci_catalog(struct oci_request *);
void	oci_referrers(struct oci_request *);

/*
 * Shared with the pull-through code (proxy_*.c). Each answers the
 * request on failure (or, for serve, always).
 */
struct digest;
struct index_manifest;
struct manifest_info;
/* Answer a GET or HEAD with the stored manifest d, after Accept checks. */
void	oci_manifest_serve(struct oci_request *, const struct digest *,
	    const struct index_manifest *);
/* Store manifest bytes under d in the blob store. 0, or -1 (answered). */
int	oci_manifest_store(struct oci_request *, const void *, size_t,
	    const struct digest *);
/*
 * Record the manifest (and the request's tag, when it names one) in the
 * index; upstream is the key it was cached from, NULL when pushed.
 * 0, or -1 (answered).
 */
int	oci_manifest_record(struct oci_request *, const struct digest *,
	    const struct manifest_info *, size_t, const char *upstream);
/* The n and last query parameters of a listing. */
struct oci_page {
	size_t		 pg_n;		/* wanted, at most 10000 */
	const char	*pg_last;	/* start after this one, or NULL */
};
/* Read n and last. 0, or -1 when the request has been answered. */
int	oci_page_parse(struct oci_request *, int is_catalog, struct oci_page *);
/*
 * Answer a tags/list page from tags (sorted, unique; entries up to
 * pg_last are skipped), with a Link header when more follow.
 */
void	oci_tags_reply(struct oci_request *, const struct oci_page *,
	    char **tags, size_t count);
/* 1 when the repository has a tag or a link here, 0 not, -1 error. */
int	oci_tags_known(struct oci_request *);
/* Answer a GET or HEAD of a stored blob, honouring one byte Range. */
void	oci_blob_send(struct req *, const struct digest *);

#endif /* DEPOT_OCI_H */
