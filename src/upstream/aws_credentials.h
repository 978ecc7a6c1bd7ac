/*
 * aws_credentials.h: the AWS credentials an ECR upstream signs with.
 *
 * Static keys come from the configuration (auth type access_key). The
 * default chain (auth type aws_default) tries, in the AWS SDKs' order:
 *   1. the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
 *      AWS_SESSION_TOKEN (depotd's workers inherit the master's);
 *   2. web identity: AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN
 *      (AWS_ROLE_SESSION_NAME optional), exchanged at STS
 *      AssumeRoleWithWebIdentity; the token file is read at each use;
 *   3. the ECS/EKS container endpoint: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
 *      (on 169.254.170.2) or AWS_CONTAINER_CREDENTIALS_FULL_URI (https, or
 *      http to a loopback or the container hosts), with
 *      AWS_CONTAINER_AUTHORIZATION_TOKEN or _TOKEN_FILE as Authorization;
 *   4. EC2 instance metadata, IMDSv2 only: PUT /latest/api/token, then the
 *      role's name and its credentials with that session token
 *      (AWS_EC2_METADATA_DISABLED=true skips it).
 * The first link whose settings are present is used; a link that is
 * configured and fails is an error (the chain does not go on past it).
 * Temporary credentials are kept per process and per upstream, and
 * fetched again a while before their Expiration (aws_refresh_at).
 *
 * Every network exchange goes through fetch (the curl multi interface
 * on the worker's loop): nothing blocks. Secrets are never logged, and
 * error messages quote AWS's error code, never a key, token or body.
 */
#ifndef DEPOT_AWS_CREDENTIALS_H
#define DEPOT_AWS_CREDENTIALS_H

#include <stddef.h>
#include <time.h>

#define AWS_CREDS_MARGIN	300	/* s: refresh at most this early */
#define AWS_IMDS_URL		"http://169.254.169.254"
#define AWS_CONTAINER_HOST	"http://169.254.170.2"
#define AWS_IMDS_TOKEN_TTL	21600	/* s asked of IMDSv2 */

struct aws_credentials {
	char		*ac_access_key_id;
	char		*ac_secret_access_key;	/* secret */
	char		*ac_session_token;	/* secret, or NULL */
	time_t		 ac_expiration;		/* 0: does not expire */
	time_t		 ac_obtained;
	const char	*ac_source;	/* "static", "environment", ... */
};

void	 aws_credentials_clear(struct aws_credentials *);
void	 aws_credentials_copy(struct aws_credentials *dst,
	    const struct aws_credentials *src);

/*
 * When to refresh something valid from obtained until expires: a quarter
 * of its life ahead of expiry, but at most max_margin seconds ahead.
 */
time_t	 aws_refresh_at(time_t obtained, time_t expires, time_t max_margin);
/* 1 when c may be used at now (static, or before its refresh time). */
int	 aws_credentials_fresh(const struct aws_credentials *c, time_t now);

/*
 * An ISO 8601 UTC time as AWS writes it ("2026-12-07T12:00:00Z", with
 * optional fractional seconds, or a "+00:00" offset). 0, or -1.
 */
int	 aws_time_parse(const char *s, time_t *t);

/*
 * STS AssumeRoleWithWebIdentity's XML answer: 0 with c filled, or -1
 * with *code (the ErrorResponse's Code, or a short description) and
 * *cause (its Message, or what is wrong); both caller frees.
 */
int	 aws_sts_parse(const char *xml, size_t len, struct aws_credentials *c,
	    char **code, char **cause);

/*
 * The JSON of the container endpoint or of IMDS (AccessKeyId,
 * SecretAccessKey, Token, Expiration; IMDS's Code must be "Success"
 * when present). 0, or -1 with *cause (caller frees).
 */
int	 aws_credentials_json_parse(const char *json, size_t len,
	    struct aws_credentials *c, char **cause);

/*
 * Whether AWS_CONTAINER_CREDENTIALS_FULL_URI may be used: https, or http
 * to a loopback address, 169.254.170.2, 169.254.170.23 or fd00:ec2::23.
 */
int	 aws_container_url_allowed(const char *url);

/* ---- the chain, on the worker's loop ---- */

struct fetcher;
struct aws_credentials_get;

/* Where the chain looks and how it talks (the upstream's settings). */
struct aws_chain_config {
	const char	*cc_key;	/* the upstream's: caches are per key */
	int		 cc_static;	/* access_key: use cc_static_creds */
	const struct aws_credentials *cc_static_creds;
	const char	*cc_region;	/* for STS */
	const char	*cc_sts_url;	/* NULL: the region's */
	const char	*cc_imds_url;	/* NULL: AWS_IMDS_URL or the env */
	int		 cc_timeout;
	const char	*cc_ca_file;
	int		 cc_insecure_tls;
};

/*
 * on_done: creds (valid during the call) or NULL with code (AWS's error
 * code or a short word) and message, fit for a client and the log.
 */
typedef void (*aws_credentials_cb)(const struct aws_credentials *creds,
    const char *code, const char *message, void *arg);

/*
 * Get credentials: from the cache when still fresh, else from the chain.
 * The callback always comes from the event loop, never from inside this
 * call. NULL only when out of events (logged). cancel: no callback.
 */
struct aws_credentials_get *aws_credentials_get(struct fetcher *,
	    const struct aws_chain_config *, aws_credentials_cb, void *arg);
void	 aws_credentials_cancel(struct aws_credentials_get *);
/* Forget the cached credentials of key (they were refused). */
void	 aws_credentials_forget(const char *key);

#endif /* DEPOT_AWS_CREDENTIALS_H */
