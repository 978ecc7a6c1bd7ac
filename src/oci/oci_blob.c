/*
 * oci_blob.c: GET, HEAD and DELETE of /v2/<name>/blobs/<digest>. A read
 * goes to content (content_blob_get: served when the repository links it
 * and the blob store has it, else pulled through its upstreams). DELETE
 * removes the link only: the file stays for a garbage collector.
 */
#include <sys/types.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/blobstore.h"
#include "lib/digest.h"
#include "http/http.h"
#include "store/index.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "oci/oci.h"
#include "content/content.h"

void
oci_blob_get(struct oci_request *o)
{
	struct content_request	 cr;

	oci_content(o, &cr);
	content_blob_get(&cr);
}

void
oci_blob_delete(struct oci_request *o)
{
	struct http_context	*ctx = http_context(o->or_req);
	enum index_link_kind	 kind;
	char			 ds[DIGEST_STRING_MAX];
	int			 found;

	digest_format(&o->or_path.digest, ds, sizeof(ds));
	found = index_link_get(ctx->ctx_index, o->or_path.name,
	    &o->or_path.digest, &kind);
	/* A manifest goes through /manifests/, which also drops its tags. */
	if (found == 1 && kind != INDEX_LINK_BLOB)
		found = 0;
	if (found == 1)
		found = index_link_delete(ctx->ctx_index, o->or_path.name,
		    &o->or_path.digest);
	if (found == -1)
		http_reply_oci_error(o->or_req, 500, "UNKNOWN",
		    "internal error", "cannot update the index");
	else if (found == 0)
		oci_error(o, "BLOB_UNKNOWN", ds);
	else
		http_reply(o->or_req, 202, NULL, NULL);
}
