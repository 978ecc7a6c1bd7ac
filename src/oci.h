/*
 * oci.h: the OCI distribution API under /v2/: the dispatcher (oci.c) and
 * the handlers of each endpoint family (oci_blob.c, oci_upload.c,
 * oci_manifest.c, oci_tags.c).
 */
#ifndef DEPOT_OCI_H
#define DEPOT_OCI_H

#include "ref.h"

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

#endif /* DEPOT_OCI_H */
