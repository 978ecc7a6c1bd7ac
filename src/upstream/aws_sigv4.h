/*
 * aws_sigv4.h: AWS Signature Version 4 (HMAC-SHA256), the signing of the
 * AWS API requests depot makes (ECR GetAuthorizationToken). Pure: no I/O,
 * no clock (the caller passes the time), OpenSSL for SHA-256 and HMAC.
 *
 * The steps are exposed one by one so that tests can check each against
 * the AWS Signature Version 4 test suite: the canonical request, the
 * string to sign, the signing key, the signature, the Authorization
 * header value. Secrets (the secret access key, the signing key) are
 * never put in a returned string but the signature.
 */
#ifndef DEPOT_AWS_SIGV4_H
#define DEPOT_AWS_SIGV4_H

#include <stddef.h>
#include <time.h>

#define AWS_SIGV4_ALGORITHM	"AWS4-HMAC-SHA256"
#define AWS_SIGV4_DATE_LEN	16	/* 20150830T123600Z */
#define AWS_SHA256_HEX_LEN	64

struct aws_sigv4_header {
	const char	*h_name;	/* any case */
	const char	*h_value;	/* as sent: trimmed and folded here */
};

/* The request as it goes on the wire. */
struct aws_sigv4_request {
	const char			*r_method;	/* "GET", "POST" */
	const char			*r_path;	/* "/" when empty */
	const char			*r_query;	/* after '?', or NULL */
	/* Every header to sign: Host and X-Amz-Date included. */
	const struct aws_sigv4_header	*r_headers;
	size_t				 r_nheaders;
	const void			*r_body;	/* NULL: empty */
	size_t				 r_body_len;
};

/* Who signs, where and when. */
struct aws_sigv4_signer {
	const char	*s_access_key_id;
	const char	*s_secret_access_key;	/* secret */
	const char	*s_region;		/* "us-east-1" */
	const char	*s_service;		/* "ecr" */
	const char	*s_amz_date;		/* X-Amz-Date's value */
};

/* t as X-Amz-Date wants it (UTC): buf holds AWS_SIGV4_DATE_LEN + 1. */
void	 aws_sigv4_date(time_t t, char *buf, size_t len);

/* Lower-case hex SHA-256 of buf into hex (AWS_SHA256_HEX_LEN + 1). */
void	 aws_sha256_hex(const void *buf, size_t len, char *hex);

/*
 * The canonical request: method, normalised and encoded path, sorted
 * query, canonical headers, signed header list, payload hash, joined by
 * newlines. With signed_headers not NULL, *signed_headers gets the list
 * ("host;x-amz-date"). NULL on a malformed request (a header without a
 * name, a path not starting with '/'). Caller frees both.
 */
char	*aws_sigv4_canonical_request(const struct aws_sigv4_request *,
	    char **signed_headers);

/* "20150830/us-east-1/service/aws4_request"; NULL on a bad date. Caller
 * frees. */
char	*aws_sigv4_scope(const char *amz_date, const char *region,
	    const char *service);

/* The string to sign over a canonical request. Caller frees. */
char	*aws_sigv4_string_to_sign(const char *amz_date, const char *scope,
	    const char *canonical_request);

/* The signing key (32 bytes) derived from the secret. 0, or -1. */
int	 aws_sigv4_signing_key(const char *secret_access_key,
	    const char *amz_date, const char *region, const char *service,
	    unsigned char key[32]);

/* The hex signature of a string to sign. 0, or -1. */
int	 aws_sigv4_signature(const unsigned char key[32],
	    const char *string_to_sign, char *hex);

/*
 * The Authorization header value: "AWS4-HMAC-SHA256 Credential=...,
 * SignedHeaders=..., Signature=...". NULL on a malformed request or
 * signer. Caller frees.
 */
char	*aws_sigv4_authorization(const struct aws_sigv4_request *,
	    const struct aws_sigv4_signer *);

/*
 * Percent-encode s as SigV4 wants it: every byte but A-Z a-z 0-9 - . _ ~
 * becomes %XX (upper-case hex); '/' is kept when keep_slash. Caller
 * frees.
 */
char	*aws_uri_encode(const char *s, size_t len, int keep_slash);

#endif /* DEPOT_AWS_SIGV4_H */
