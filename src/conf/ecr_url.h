/*
 * ecr_url.h: the URLs of Amazon ECR registries, as depot.conf and
 * depotctl accept them, and what each names: registry, API and STS
 * endpoints, region, partition, ECR Public alias. Pure string work; the
 * one validator of config loading, depotctl and the ECR upstream code.
 *
 * Accepted URLs:
 *   https://<region>.console.aws.amazon.com/ecr/repositories/private/
 *       <account>/<repository>?region=<region>	(the console; also
 *       console.aws.amazon.com without the region in the host, and
 *       <region>.console.amazonaws.cn for China)
 *   https://<account>.dkr.ecr.<region>.amazonaws.com	(registry host)
 *   https://<account>.dkr.ecr-fips.<region>.amazonaws.com
 *   https://<account>.dkr.ecr.<region>.amazonaws.com.cn
 *   https://public.ecr.aws/<alias>, https://gallery.ecr.aws/<alias>
 * The repository in a console URL is only an example: image paths under
 * the upstream key are the ECR repository names. A console URL of a
 * public repository names the account, not the alias: it is refused
 * with a message asking for the public.ecr.aws/<alias> URL. A region in
 * the host and in ?region= must agree.
 */
#ifndef DEPOT_ECR_URL_H
#define DEPOT_ECR_URL_H

#include <stddef.h>

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
	char		*el_alias;	/* public: the alias */
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

#endif /* DEPOT_ECR_URL_H */
