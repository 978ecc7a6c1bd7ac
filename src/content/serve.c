/*
 * serve.c: answering a GET or HEAD with stored bytes, for every handler
 * and for the fills: a blob (sent with sendfile, whole or as one byte
 * range) and a manifest (its exact bytes, with its digest and media
 * type). What goes wrong is answered through the handler's ch_error.
 */
#include <sys/types.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "content/content.h"
#include "http/http.h"
#include "lib/digest.h"
#include "lib/log.h"
#include "store/blobstore.h"
#include "store/index.h"

#define BLOB_CONTENT_TYPE	"application/octet-stream"

static int	blob_range_number(const char **, off_t *);
static void	blob_headers(struct req *, const char *);

void
content_blob_send(struct req *r, const struct content_handler *h,
    const struct digest *d)
{
	struct http_context	*ctx = http_context(r);
	char			 ds[DIGEST_STRING_MAX], cr[96];
	off_t			 size, first, last;
	int			 fd;

	digest_format(d, ds, sizeof(ds));
	if (blobstore_open_blob(ctx->ctx_blobs, d, &fd, &size) == -1) {
		if (errno == ENOENT)
			content_fail(h, r, 404, "BLOB_UNKNOWN",
			    "blob unknown to registry", ds);
		else
			content_fail(h, r, 500, "UNKNOWN",
			    "internal error", "cannot open the blob");
		return;
	}
	blob_headers(r, ds);
	switch (content_range_parse(http_header_get(r, "Range"), size, &first,
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
		content_fail(h, r, 416, "RANGE_INVALID",
		    "requested range not satisfiable",
		    http_header_get(r, "Range"));
		break;
	}
}

void
content_manifest_send(struct content_request *cr, const struct digest *d,
    const struct index_manifest *im)
{
	struct blobstore	*bs = http_context(cr->cr_req)->ctx_blobs;
	char			 dstr[DIGEST_STRING_MAX];
	char			 etag[DIGEST_STRING_MAX + 2];
	off_t			 size;
	int			 fd;

	digest_format(d, dstr, sizeof(dstr));
	if (blobstore_open_blob(bs, d, &fd, &size) == -1) {
		if (errno != ENOENT) {
			log_warn("%s: %s", __func__, dstr);
			content_fail(cr->cr_handler, cr->cr_req, 500,
			    "UNKNOWN", "internal error", NULL);
			return;
		}
		log_warnx("%s: manifest %s is indexed but not stored",
		    __func__, dstr);
		content_error(cr, "MANIFEST_UNKNOWN", dstr);
		return;
	}
	if (size != (off_t)im->im_size)
		log_warnx("%s: %s: stored size %lld, indexed %lld", __func__,
		    dstr, (long long)size, (long long)im->im_size);
	snprintf(etag, sizeof(etag), "\"%s\"", dstr);
	http_header_add(cr->cr_req, "Docker-Content-Digest", dstr);
	http_header_add(cr->cr_req, "ETag", etag);
	content_pulled(cr->cr_req, cr->cr_path.name, d);
	http_reply_file(cr->cr_req, 200, im->im_media_type, fd, 0, size);
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
enum blob_range
content_range_parse(const char *s, off_t size, off_t *first, off_t *last)
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
