/*
 * oci_blob.c: GET, HEAD and DELETE of /v2/<name>/blobs/<digest>. A blob
 * is served only when the repository links it and the blob store has it;
 * the body goes out with sendfile, whole or as one byte range. DELETE
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
#include "content/proxy.h"

#define BLOB_CONTENT_TYPE	"application/octet-stream"

enum blob_range {
	BLOB_RANGE_WHOLE,	/* none, one ignored, or several */
	BLOB_RANGE_ONE,
	BLOB_RANGE_UNSATISFIABLE
};

static enum blob_range blob_range_parse(const char *, off_t, off_t *,
		    off_t *);
static int	blob_range_number(const char **, off_t *);
static void	blob_headers(struct req *, const char *);

void
oci_blob_get(struct oci_request *o)
{
	struct http_context	*ctx = http_context(o->or_req);
	struct config_upstream	*ups[PROXY_UPSTREAMS_MAX];
	enum index_link_kind	 kind;
	char			 ds[DIGEST_STRING_MAX];
	int			 found, proxied;

	digest_format(&o->or_path.digest, ds, sizeof(ds));
	found = index_link_get(ctx->ctx_index, o->or_path.name,
	    &o->or_path.digest, &kind);
	if (found == -1) {
		http_reply_oci_error(o->or_req, 500, "UNKNOWN",
		    "internal error", "cannot read the index");
		return;
	}
	if (found == 1 && (found = blobstore_stat(ctx->ctx_blobs,
	    &o->or_path.digest, NULL)) == -1) {
		http_reply_oci_error(o->or_req, 500, "UNKNOWN",
		    "internal error", "cannot read the blob store");
		return;
	}
	proxied = proxy_upstreams(o, ups, PROXY_UPSTREAMS_MAX) > 0;
	if (found == 0 && proxied)
		proxy_blob_pull(o);
	else if (found == 0)
		oci_error(o, "BLOB_UNKNOWN", ds);
	else {
		if (proxied)
			metrics_cache(o->or_path.registry, "blob",
			    METRICS_CACHE_HIT);
		oci_blob_send(o->or_req, &o->or_path.digest);
	}
}

void
oci_blob_send(struct req *r, const struct digest *d)
{
	struct http_context	*ctx = http_context(r);
	char			 ds[DIGEST_STRING_MAX], cr[96];
	off_t			 size, first, last;
	int			 fd;

	digest_format(d, ds, sizeof(ds));
	if (blobstore_open_blob(ctx->ctx_blobs, d, &fd, &size) == -1) {
		if (errno == ENOENT)
			http_reply_oci_error(r, 404, "BLOB_UNKNOWN",
			    "blob unknown to registry", ds);
		else
			http_reply_oci_error(r, 500, "UNKNOWN",
			    "internal error", "cannot open the blob");
		return;
	}
	blob_headers(r, ds);
	switch (blob_range_parse(http_header_get(r, "Range"), size, &first,
	    &last)) {
	case BLOB_RANGE_WHOLE:
		http_reply_file(r, 200, BLOB_CONTENT_TYPE, fd, 0, size);
		break;
	case BLOB_RANGE_ONE:
		(void)snprintf(cr, sizeof(cr), "bytes %lld-%lld/%lld",
		    (long long)first, (long long)last, (long long)size);
		http_header_add(r, "Content-Range", cr);
		http_reply_file(r, 206, BLOB_CONTENT_TYPE, fd, first,
		    last - first + 1);
		break;
	case BLOB_RANGE_UNSATISFIABLE:
		close(fd);
		(void)snprintf(cr, sizeof(cr), "bytes */%lld", (long long)size);
		http_header_add(r, "Content-Range", cr);
		http_reply_oci_error(r, 416, "RANGE_INVALID",
		    "requested range not satisfiable",
		    http_header_get(r, "Range"));
		break;
	}
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

static void
blob_headers(struct req *r, const char *ds)
{
	char	 etag[DIGEST_STRING_MAX + 2];

	(void)snprintf(etag, sizeof(etag), "\"%s\"", ds);
	http_header_add(r, "Docker-Content-Digest", ds);
	http_header_add(r, "ETag", etag);
	http_header_add(r, "Accept-Ranges", "bytes");
}

/*
 * A Range header (RFC 9110, 14.2) for a blob of size bytes. Only one
 * byte range is served; anything else that is well formed gets the whole
 * blob, and so does a header that is not.
 */
static enum blob_range
blob_range_parse(const char *s, off_t size, off_t *first, off_t *last)
{
	off_t	 a, b;

	if (s == NULL || strncmp(s, "bytes=", 6) != 0)
		return (BLOB_RANGE_WHOLE);
	s += 6;
	s += strspn(s, " \t");
	if (strchr(s, ',') != NULL)
		return (BLOB_RANGE_WHOLE);
	if (*s == '-') {
		/* The last b bytes. */
		s++;
		if (blob_range_number(&s, &b) == -1 || *s != '\0')
			return (BLOB_RANGE_WHOLE);
		if (b == 0 || size == 0)
			return (BLOB_RANGE_UNSATISFIABLE);
		*first = b >= size ? 0 : size - b;
		*last = size - 1;
		return (BLOB_RANGE_ONE);
	}
	if (blob_range_number(&s, &a) == -1 || *s++ != '-')
		return (BLOB_RANGE_WHOLE);
	if (*s == '\0')
		b = size - 1;
	else if (blob_range_number(&s, &b) == -1 || *s != '\0' || b < a)
		return (BLOB_RANGE_WHOLE);
	if (a >= size)
		return (BLOB_RANGE_UNSATISFIABLE);
	*first = a;
	*last = b >= size ? size - 1 : b;
	return (BLOB_RANGE_ONE);
}

/*
 * Decimal digits at *s (then optional blanks). A number too large for
 * an off_t is taken as the largest one: it is past the end of any blob
 * all the same. 0, or -1.
 */
static int
blob_range_number(const char **s, off_t *out)
{
	const char	*p = *s;
	off_t		 n = 0;
	int		 digit;

	if (*p < '0' || *p > '9')
		return (-1);
	for (; *p >= '0' && *p <= '9'; p++) {
		digit = *p - '0';
		if (n > (INT64_MAX - digit) / 10)
			n = INT64_MAX;
		else
			n = n * 10 + digit;
	}
	p += strspn(p, " \t");
	*s = p;
	*out = n;
	return (0);
}
