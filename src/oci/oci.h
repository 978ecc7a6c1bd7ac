/*
 * oci.h: the OCI distribution API under /v2/: the dispatcher (oci.c) and
 * the handlers of each endpoint family (oci_blob.c, oci_upload.c,
 * oci_manifest.c, oci_tags.c).
 */
#ifndef DEPOT_OCI_H
#define DEPOT_OCI_H

#include <stdint.h>

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
 * Inside oci/: the request as content (content.h) sees it, answered
 * through oci_content_handler (the OCI error JSON, Accept negotiation,
 * the tags/list JSON). The path and names are o's, not copied.
 */
struct content_request;
struct content_handler;
extern const struct content_handler oci_content_handler;
void	oci_content(struct oci_request *, struct content_request *);
/*
 * ch_error of oci_content_handler: with message NULL, code's status and
 * message from the distribution spec's table (as oci_error).
 */
void	oci_reply_error(struct req *, int status, const char *code,
	    const char *message, const char *detail);
/* ch_manifest: answer with manifest d after checking the Accept headers. */
struct digest;
struct index_manifest;
void	oci_manifest_serve(struct content_request *, const struct digest *,
	    const struct index_manifest *);
/* ch_tags: a tags/list page, with a Link header when more follow. */
void	oci_tags_reply(struct content_request *, size_t n, const char *last,
	    char **tags, size_t count);

/*
 * The Content-Range of an upload chunk (oci_upload.c): "<first>-<last>",
 * then optionally "/" and the total length or "*"; "bytes " or "bytes="
 * before it is tolerated. 0 with *first <= *last set, or -1. Pure.
 */
int	oci_content_range(const char *range, int64_t *first, int64_t *last);

#endif /* DEPOT_OCI_H */
