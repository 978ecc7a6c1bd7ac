/*
 * ecr.h: Amazon ECR as an upstream, the pure parts: which registry,
 * region and partition a URL names, the GetAuthorizationToken request
 * (AWS JSON 1.1, signed with SigV4) and its answer. No I/O: the token's
 * fetching and sharing are ecr_token.h's.
 *
 * Accepted URLs (config load and depotctl use this one validator):
 *   https://<region>.console.aws.amazon.com/ecr/repositories/private/
 *       <account>/<repository>?region=<region>	(the console; also
 *       console.aws.amazon.com without the region in the host, and
 *       <region>.console.amazonaws.cn for China)
 *   https://<account>.dkr.ecr.<region>.amazonaws.com	(registry host)
 *   https://<account>.dkr.ecr-fips.<region>.amazonaws.com
 *   https://<account>.dkr.ecr.<region>.amazonaws.com.cn
 *   https://public.ecr.aws[/<alias>], https://gallery.ecr.aws[/<alias>]
 * The repository in a console URL is only an example: image paths under
 * the upstream key are the ECR repository names. A console URL of a
 * public repository names the account, not the alias: it is refused
 * with a message asking for the public.ecr.aws/<alias> URL. A region in
 * the host and in ?region= must agree.
 */
#ifndef DEPOT_ECR_H
#define DEPOT_ECR_H

#include <stddef.h>
#include <time.h>

#define ECR_ACCOUNT_LEN		12
#define ECR_REGION_MAX		32
#define ECR_PUBLIC_REGION	"us-east-1"
#define ECR_TARGET_PRIVATE	\
	"AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"
#define ECR_TARGET_PUBLIC	"SpencerFrontendService.GetAuthorizationToken"
#define ECR_CONTENT_TYPE	"application/x-amz-json-1.1"

enum ecr_kind {
	ECR_PRIVATE,
	ECR_PUBLIC
};

struct ecr_location {
	enum ecr_kind	 el_kind;
	char		 el_account[ECR_ACCOUNT_LEN + 1];	/* "" public */
	char		 el_region[ECR_REGION_MAX + 1];
	const char	*el_partition;	/* "aws", "aws-cn", "aws-us-gov" */
	int		 el_fips;
	char		*el_alias;	/* public: the alias, or NULL */
	char		*el_example;	/* the URL's repository, or NULL */
	char		*el_registry_url;	/* https://host, no slash */
	char		*el_api_url;	/* GetAuthorizationToken's endpoint */
	char		*el_sts_url;	/* the region's STS */
	const char	*el_service;	/* SigV4 service: ecr, ecr-public */
	const char	*el_target;	/* X-Amz-Target */
};

/*
 * Parse an ECR URL. 0, or -1 with *cause (caller frees) saying what is
 * wrong and which forms are accepted. Free with ecr_location_clear.
 */
int	 ecr_url_parse(const char *url, struct ecr_location *, char **cause);
void	 ecr_location_clear(struct ecr_location *);

/* An AWS region name (us-east-1, us-gov-west-1, cn-north-1). */
int	 ecr_region_valid(const char *s, size_t len);

/* A signed GetAuthorizationToken request, ready for fetch. */
struct ecr_api_request {
	char	*ar_url;
	char	*ar_body;
	char	*ar_headers[8];		/* "Name: value"; secrets inside */
	size_t	 ar_nheaders;
};

struct aws_credentials;

/*
 * Build and sign GetAuthorizationToken for loc at now, sent to api_url
 * (the location's when NULL). 0, or -1 with *cause. Free with
 * ecr_api_request_clear (it zeroes the secrets).
 */
int	 ecr_api_request(const struct ecr_location *, const char *api_url,
	    const struct aws_credentials *, time_t now,
	    struct ecr_api_request *, char **cause);
void	 ecr_api_request_clear(struct ecr_api_request *);

/* A token, decoded: Basic credentials for the registry. */
struct ecr_token {
	char	*et_username;	/* "AWS" */
	char	*et_password;	/* secret */
	time_t	 et_expires;	/* expiresAt */
};

/*
 * Parse GetAuthorizationToken's answer (private: authorizationData is
 * an array; public: an object). 0, or -1 with *cause (caller frees;
 * never the token). Free with ecr_token_clear.
 */
int	 ecr_token_parse(const char *json, size_t len, struct ecr_token *,
	    char **cause);
void	 ecr_token_clear(struct ecr_token *);

/*
 * An AWS JSON error answer: *code gets its type ("ThrottlingException",
 * from __type without its namespace, else the x-amzn-ErrorType header
 * given as type_header), *message its message (or NULL). Both caller
 * frees; *code is "HTTP <status>" when neither says.
 */
void	 ecr_error_parse(const char *json, size_t len, const char *type_header,
	    long status, char **code, char **message);

#endif /* DEPOT_ECR_H */
