/*
 * aws_sigv4.c: AWS Signature Version 4. Owns the canonical forms of a
 * request (path with dot segments and empty segments removed, each byte
 * outside the unreserved set percent-encoded; query parameters decoded,
 * re-encoded and sorted by name then value; header names lower-cased,
 * values trimmed with inner runs of blanks folded to one, fields of one
 * name joined by commas in their order), the string to sign, the key
 * derivation chain (date, region, service, "aws4_request") and the
 * Authorization header. SHA-256 and HMAC come from OpenSSL.
 */
#include <sys/types.h>

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "lib/log.h"
#include "lib/xmalloc.h"
#include "upstream/aws_sigv4.h"

struct sv_buf {
	char	*b_data;
	size_t	 b_len;
	size_t	 b_size;
};

struct sv_pair {
	char	*p_name;	/* encoded, or lower-cased header name */
	char	*p_value;
	size_t	 p_order;	/* as given: keeps duplicates in order */
};

static void	 sv_add(struct sv_buf *, const char *, size_t);
static void	 sv_adds(struct sv_buf *, const char *);
static int	 sv_unreserved(int);
static char	*sv_path(const char *);
static char	*sv_query(const char *);
static char	*sv_decode(const char *, size_t);
static char	*sv_header_value(const char *);
static int	 sv_pair_cmp(const void *, const void *);
static int	 sv_headers(const struct aws_sigv4_request *, struct sv_buf *,
		    struct sv_buf *);
static void	 sv_pairs_free(struct sv_pair *, size_t);
static int	 sv_date_ok(const char *);
static int	 sv_hmac(const void *, size_t, const char *, unsigned char *);
static void	 sv_hex(const unsigned char *, size_t, char *);

static void
sv_add(struct sv_buf *b, const char *s, size_t len)
{
	if (b->b_len + len + 1 > b->b_size) {
		while (b->b_len + len + 1 > b->b_size)
			b->b_size = b->b_size == 0 ? 256 : b->b_size * 2;
		b->b_data = xreallocarray(b->b_data, 1, b->b_size);
	}
	memcpy(b->b_data + b->b_len, s, len);
	b->b_len += len;
	b->b_data[b->b_len] = '\0';
}

static void
sv_adds(struct sv_buf *b, const char *s)
{
	sv_add(b, s, strlen(s));
}

static int
sv_unreserved(int c)
{
	return ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	    c == '~');
}

char *
aws_uri_encode(const char *s, size_t len, int keep_slash)
{
	static const char	 hex[] = "0123456789ABCDEF";
	struct sv_buf		 b = { NULL, 0, 0 };
	char			 esc[3];
	size_t			 i;
	unsigned char		 c;

	sv_add(&b, "", 0);
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (sv_unreserved(c) || (keep_slash && c == '/'))
			sv_add(&b, (const char *)&s[i], 1);
		else {
			esc[0] = '%';
			esc[1] = hex[c >> 4];
			esc[2] = hex[c & 0xf];
			sv_add(&b, esc, 3);
		}
	}
	return (b.b_data);
}

/*
 * The canonical URI: "." and empty segments dropped, ".." removes the
 * one before it, a trailing slash kept; then encoded. NULL when path
 * does not start with '/'.
 */
static char *
sv_path(const char *path)
{
	char		**seg = NULL;
	struct sv_buf	  b = { NULL, 0, 0 };
	const char	 *p = path, *e;
	size_t		  n = 0, i, len;
	int		  dots = 0;

	if (path == NULL || path[0] == '\0')
		return (xstrdup("/"));
	if (path[0] != '/')
		return (NULL);
	while (*p != '\0') {
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		e = strchr(p, '/');
		len = e != NULL ? (size_t)(e - p) : strlen(p);
		dots = (len == 1 && *p == '.') ||
		    (len == 2 && strncmp(p, "..", 2) == 0);
		if (len == 2 && dots) {
			if (n > 0)
				free(seg[--n]);
		} else if (!dots) {
			seg = xreallocarray(seg, n + 1, sizeof(*seg));
			seg[n++] = aws_uri_encode(p, len, 0);
		}
		p += len;
	}
	sv_add(&b, "", 0);
	for (i = 0; i < n; i++) {
		sv_adds(&b, "/");
		sv_adds(&b, seg[i]);
		free(seg[i]);
	}
	free(seg);
	/* A trailing slash stays, as after "." or ".." (RFC 3986 5.2.4). */
	if (n == 0 || dots || path[strlen(path) - 1] == '/')
		sv_adds(&b, "/");
	return (b.b_data);
}

/* s decoded from percent-encoding (malformed escapes kept). Caller frees. */
static char *
sv_decode(const char *s, size_t len)
{
	char	*out, *o;
	size_t	 i;
	int	 hi, lo;

	out = o = xmalloc(len + 1);
	for (i = 0; i < len; i++) {
		if (s[i] == '%' && i + 2 < len &&
		    isxdigit((unsigned char)s[i + 1]) &&
		    isxdigit((unsigned char)s[i + 2])) {
			hi = isdigit((unsigned char)s[i + 1]) ? s[i + 1] - '0' :
			    (tolower((unsigned char)s[i + 1]) - 'a' + 10);
			lo = isdigit((unsigned char)s[i + 2]) ? s[i + 2] - '0' :
			    (tolower((unsigned char)s[i + 2]) - 'a' + 10);
			*o++ = (char)(hi * 16 + lo);
			i += 2;
		} else
			*o++ = s[i];
	}
	*o = '\0';
	return (out);
}

static int
sv_pair_cmp(const void *a, const void *b)
{
	const struct sv_pair	*pa = a, *pb = b;
	int			 c;

	if ((c = strcmp(pa->p_name, pb->p_name)) != 0)
		return (c);
	if (pa->p_value != NULL && pb->p_value != NULL &&
	    (c = strcmp(pa->p_value, pb->p_value)) != 0)
		return (c);
	return (pa->p_order < pb->p_order ? -1 : pa->p_order > pb->p_order);
}

static void
sv_pairs_free(struct sv_pair *p, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		free(p[i].p_name);
		free(p[i].p_value);
	}
	free(p);
}

/* The canonical query string: name=value pairs encoded and sorted. */
static char *
sv_query(const char *query)
{
	struct sv_pair	*p = NULL;
	struct sv_buf	 b = { NULL, 0, 0 };
	const char	*s = query, *eq;
	char		*raw;
	size_t		 n = 0, i, len;

	sv_add(&b, "", 0);
	while (s != NULL && *s != '\0') {
		len = strcspn(s, "&");
		if (len > 0) {
			p = xreallocarray(p, n + 1, sizeof(*p));
			eq = memchr(s, '=', len);
			raw = sv_decode(s, eq != NULL ? (size_t)(eq - s) : len);
			p[n].p_name = aws_uri_encode(raw, strlen(raw), 0);
			free(raw);
			raw = eq != NULL ? sv_decode(eq + 1, s + len - eq - 1) :
			    xstrdup("");
			p[n].p_value = aws_uri_encode(raw, strlen(raw), 0);
			free(raw);
			p[n].p_order = n;
			n++;
		}
		s += len;
		if (*s == '&')
			s++;
	}
	if (n > 0)
		qsort(p, n, sizeof(*p), sv_pair_cmp);
	for (i = 0; i < n; i++) {
		if (i > 0)
			sv_adds(&b, "&");
		sv_adds(&b, p[i].p_name);
		sv_adds(&b, "=");
		sv_adds(&b, p[i].p_value);
	}
	sv_pairs_free(p, n);
	return (b.b_data);
}

/* A header value trimmed, runs of blanks folded to one. Caller frees. */
static char *
sv_header_value(const char *v)
{
	char	*out, *o;
	int	 blank = 0;

	while (*v == ' ' || *v == '\t')
		v++;
	out = o = xmalloc(strlen(v) + 1);
	for (; *v != '\0'; v++) {
		if (*v == ' ' || *v == '\t') {
			blank = 1;
			continue;
		}
		if (blank && o > out)
			*o++ = ' ';
		blank = 0;
		*o++ = *v;
	}
	*o = '\0';
	return (out);
}

/*
 * The canonical headers ("name:value\n" each, sorted, duplicates joined)
 * into canon and the signed header list into list. 0, or -1.
 */
static int
sv_headers(const struct aws_sigv4_request *req, struct sv_buf *canon,
    struct sv_buf *list)
{
	struct sv_pair	*p;
	size_t		 i, j;

	if (req->r_nheaders == 0 || req->r_headers == NULL)
		return (-1);
	p = xcalloc(req->r_nheaders, sizeof(*p));
	for (i = 0; i < req->r_nheaders; i++) {
		if (req->r_headers[i].h_name == NULL ||
		    req->r_headers[i].h_name[0] == '\0' ||
		    req->r_headers[i].h_value == NULL) {
			sv_pairs_free(p, req->r_nheaders);
			return (-1);
		}
		p[i].p_name = xstrdup(req->r_headers[i].h_name);
		for (j = 0; p[i].p_name[j] != '\0'; j++)
			p[i].p_name[j] = (char)tolower(
			    (unsigned char)p[i].p_name[j]);
		p[i].p_value = NULL;	/* sort by name, then order */
		p[i].p_order = i;
	}
	qsort(p, req->r_nheaders, sizeof(*p), sv_pair_cmp);
	sv_add(canon, "", 0);
	sv_add(list, "", 0);
	for (i = 0; i < req->r_nheaders; i++) {
		p[i].p_value = sv_header_value(
		    req->r_headers[p[i].p_order].h_value);
		if (i > 0 && strcmp(p[i].p_name, p[i - 1].p_name) == 0) {
			/* Replace the "\n" that ended the previous one. */
			canon->b_data[--canon->b_len] = '\0';
			sv_adds(canon, ",");
		} else {
			if (i > 0)
				sv_adds(list, ";");
			sv_adds(list, p[i].p_name);
			sv_adds(canon, p[i].p_name);
			sv_adds(canon, ":");
		}
		sv_adds(canon, p[i].p_value);
		sv_adds(canon, "\n");
	}
	sv_pairs_free(p, req->r_nheaders);
	return (0);
}

char *
aws_sigv4_canonical_request(const struct aws_sigv4_request *req,
    char **signed_headers)
{
	struct sv_buf	 b = { NULL, 0, 0 }, canon = { NULL, 0, 0 };
	struct sv_buf	 list = { NULL, 0, 0 };
	char		*path = NULL, *query = NULL, hash[AWS_SHA256_HEX_LEN + 1];

	if (signed_headers != NULL)
		*signed_headers = NULL;
	if (req->r_method == NULL || req->r_method[0] == '\0' ||
	    (path = sv_path(req->r_path)) == NULL ||
	    sv_headers(req, &canon, &list) == -1) {
		free(path);
		free(canon.b_data);
		free(list.b_data);
		return (NULL);
	}
	query = sv_query(req->r_query);
	aws_sha256_hex(req->r_body != NULL ? req->r_body : "",
	    req->r_body != NULL ? req->r_body_len : 0, hash);
	sv_adds(&b, req->r_method);
	sv_adds(&b, "\n");
	sv_adds(&b, path);
	sv_adds(&b, "\n");
	sv_adds(&b, query);
	sv_adds(&b, "\n");
	sv_adds(&b, canon.b_data);
	sv_adds(&b, "\n");
	sv_adds(&b, list.b_data);
	sv_adds(&b, "\n");
	sv_adds(&b, hash);
	free(path);
	free(query);
	free(canon.b_data);
	if (signed_headers != NULL)
		*signed_headers = list.b_data;
	else
		free(list.b_data);
	return (b.b_data);
}

/* A well-formed X-Amz-Date: 8 digits, 'T', 6 digits, 'Z'. */
static int
sv_date_ok(const char *d)
{
	size_t	 i;

	if (d == NULL || strlen(d) != AWS_SIGV4_DATE_LEN || d[8] != 'T' ||
	    d[15] != 'Z')
		return (0);
	for (i = 0; i < 15; i++)
		if (i != 8 && !isdigit((unsigned char)d[i]))
			return (0);
	return (1);
}

char *
aws_sigv4_scope(const char *amz_date, const char *region,
    const char *service)
{
	char	*scope;

	if (!sv_date_ok(amz_date) || region == NULL || region[0] == '\0' ||
	    service == NULL || service[0] == '\0')
		return (NULL);
	xasprintf(&scope, "%.8s/%s/%s/aws4_request", amz_date, region,
	    service);
	return (scope);
}

char *
aws_sigv4_string_to_sign(const char *amz_date, const char *scope,
    const char *creq)
{
	char	 hash[AWS_SHA256_HEX_LEN + 1], *sts;

	aws_sha256_hex(creq, strlen(creq), hash);
	xasprintf(&sts, "%s\n%s\n%s\n%s", AWS_SIGV4_ALGORITHM, amz_date, scope,
	    hash);
	return (sts);
}

/* HMAC-SHA256 of msg under key into out (32 bytes). 0, or -1. */
static int
sv_hmac(const void *key, size_t keylen, const char *msg, unsigned char *out)
{
	unsigned int	 outlen = 32;

	if (HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg,
	    strlen(msg), out, &outlen) == NULL || outlen != 32)
		return (-1);
	return (0);
}

int
aws_sigv4_signing_key(const char *secret, const char *amz_date,
    const char *region, const char *service, unsigned char key[32])
{
	unsigned char	 k[32];
	char		*seed, date[9];
	int		 rc = -1;

	if (secret == NULL || !sv_date_ok(amz_date) || region == NULL ||
	    service == NULL)
		return (-1);
	memcpy(date, amz_date, 8);
	date[8] = '\0';
	xasprintf(&seed, "AWS4%s", secret);
	if (sv_hmac(seed, strlen(seed), date, k) == -1 ||
	    sv_hmac(k, 32, region, k) == -1 ||
	    sv_hmac(k, 32, service, k) == -1 ||
	    sv_hmac(k, 32, "aws4_request", key) == -1)
		goto fail;
	rc = 0;
fail:
	explicit_bzero(seed, strlen(seed));
	free(seed);
	explicit_bzero(k, sizeof(k));
	return (rc);
}

int
aws_sigv4_signature(const unsigned char key[32], const char *sts,
    char *hex)
{
	unsigned char	 mac[32];

	if (sv_hmac(key, 32, sts, mac) == -1)
		return (-1);
	sv_hex(mac, sizeof(mac), hex);
	return (0);
}

char *
aws_sigv4_authorization(const struct aws_sigv4_request *req,
    const struct aws_sigv4_signer *sg)
{
	unsigned char	 key[32];
	char		*creq = NULL, *list = NULL, *scope = NULL, *sts = NULL;
	char		*authz = NULL, sig[AWS_SHA256_HEX_LEN + 1];

	if (sg->s_access_key_id == NULL || sg->s_access_key_id[0] == '\0' ||
	    (scope = aws_sigv4_scope(sg->s_amz_date, sg->s_region,
	    sg->s_service)) == NULL ||
	    (creq = aws_sigv4_canonical_request(req, &list)) == NULL)
		goto fail;
	sts = aws_sigv4_string_to_sign(sg->s_amz_date, scope, creq);
	if (aws_sigv4_signing_key(sg->s_secret_access_key, sg->s_amz_date,
	    sg->s_region, sg->s_service, key) == -1 ||
	    aws_sigv4_signature(key, sts, sig) == -1)
		goto fail;
	xasprintf(&authz, "%s Credential=%s/%s, SignedHeaders=%s, "
	    "Signature=%s", AWS_SIGV4_ALGORITHM, sg->s_access_key_id, scope,
	    list, sig);
fail:
	explicit_bzero(key, sizeof(key));
	free(creq);
	free(list);
	free(scope);
	free(sts);
	return (authz);
}

void
aws_sigv4_date(time_t t, char *buf, size_t len)
{
	struct tm	 tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y%m%dT%H%M%SZ", &tm) == 0) {
		if (len > 0)
			buf[0] = '\0';
	}
}

static void
sv_hex(const unsigned char *p, size_t n, char *hex)
{
	static const char	 digits[] = "0123456789abcdef";
	size_t			 i;

	for (i = 0; i < n; i++) {
		hex[2 * i] = digits[p[i] >> 4];
		hex[2 * i + 1] = digits[p[i] & 0xf];
	}
	hex[2 * n] = '\0';
}

void
aws_sha256_hex(const void *buf, size_t len, char *hex)
{
	unsigned char	 md[32];
	unsigned int	 mdlen = 0;

	if (EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != 32)
		fatalx("%s: EVP_Digest failed", __func__);
	sv_hex(md, sizeof(md), hex);
}
