/*
 * ecr_url_test.c: unit tests for ecr.c: every accepted ECR URL form
 * (console private with and without the region in the host, China
 * console, registry hosts, -fips, .amazonaws.com.cn, us-gov,
 * public.ecr.aws and gallery.ecr.aws with an alias) and
 * what each resolves to; a list of wrong ones (a region in the host and
 * in ?region= that differ, the public console form, other hosts, bad
 * accounts, regions, repositories and aliases); the signed
 * GetAuthorizationToken request; the parsing of its answer and of AWS
 * JSON errors.
 */
#include <sys/types.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xmalloc.h"
#include "upstream/aws_credentials.h"
#include "upstream/ecr.h"
#include "check_main.h"

struct good_url {
	const char	*g_url;
	enum ecr_kind	 g_kind;
	const char	*g_account;
	const char	*g_region;
	const char	*g_partition;
	int		 g_fips;
	const char	*g_alias;
	const char	*g_example;
	const char	*g_registry;
	const char	*g_api;
	const char	*g_service;
};

static const struct good_url good[] = {
	{ "https://us-east-1.console.aws.amazon.com/ecr/repositories/private/"
	    "123456789012/team/app?region=us-east-1", ECR_PRIVATE,
	    "123456789012", "us-east-1", "aws", 0, NULL, "team/app",
	    "https://123456789012.dkr.ecr.us-east-1.amazonaws.com",
	    "https://api.ecr.us-east-1.amazonaws.com", "ecr" },
	{ "https://eu-west-3.console.aws.amazon.com/ecr/repositories/private/"
	    "123456789012/app", ECR_PRIVATE, "123456789012", "eu-west-3", "aws",
	    0, NULL, "app",
	    "https://123456789012.dkr.ecr.eu-west-3.amazonaws.com",
	    "https://api.ecr.eu-west-3.amazonaws.com", "ecr" },
	{ "https://console.aws.amazon.com/ecr/repositories/private/"
	    "123456789012/app?region=ap-southeast-2", ECR_PRIVATE,
	    "123456789012", "ap-southeast-2", "aws", 0, NULL, "app",
	    "https://123456789012.dkr.ecr.ap-southeast-2.amazonaws.com",
	    "https://api.ecr.ap-southeast-2.amazonaws.com", "ecr" },
	{ "https://us-west-2.console.aws.amazon.com/ecr/repositories/private/"
	    "123456789012/a/b/_/image/sha256:abc/details?region=us-west-2",
	    ECR_PRIVATE, "123456789012", "us-west-2", "aws", 0, NULL, "a/b",
	    "https://123456789012.dkr.ecr.us-west-2.amazonaws.com",
	    "https://api.ecr.us-west-2.amazonaws.com", "ecr" },
	{ "https://us-gov-west-1.console.aws.amazon.com/ecr/repositories/"
	    "private/123456789012/app?region=us-gov-west-1", ECR_PRIVATE,
	    "123456789012", "us-gov-west-1", "aws-us-gov", 0, NULL, "app",
	    "https://123456789012.dkr.ecr.us-gov-west-1.amazonaws.com",
	    "https://api.ecr.us-gov-west-1.amazonaws.com", "ecr" },
	{ "https://cn-north-1.console.amazonaws.cn/ecr/repositories/private/"
	    "123456789012/app?region=cn-north-1", ECR_PRIVATE, "123456789012",
	    "cn-north-1", "aws-cn", 0, NULL, "app",
	    "https://123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
	    "https://api.ecr.cn-north-1.amazonaws.com.cn", "ecr" },
	{ "https://123456789012.dkr.ecr.us-east-1.amazonaws.com", ECR_PRIVATE,
	    "123456789012", "us-east-1", "aws", 0, NULL, NULL,
	    "https://123456789012.dkr.ecr.us-east-1.amazonaws.com",
	    "https://api.ecr.us-east-1.amazonaws.com", "ecr" },
	{ "HTTPS://123456789012.DKR.ECR.us-east-2.amazonaws.com/",
	    ECR_PRIVATE, "123456789012", "us-east-2", "aws", 0, NULL, NULL,
	    "https://123456789012.dkr.ecr.us-east-2.amazonaws.com",
	    "https://api.ecr.us-east-2.amazonaws.com", "ecr" },
	{ "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/?region="
	    "us-east-1", ECR_PRIVATE, "123456789012", "us-east-1", "aws", 0,
	    NULL, NULL, "https://123456789012.dkr.ecr.us-east-1.amazonaws.com",
	    "https://api.ecr.us-east-1.amazonaws.com", "ecr" },
	{ "https://123456789012.dkr.ecr-fips.us-east-1.amazonaws.com",
	    ECR_PRIVATE, "123456789012", "us-east-1", "aws", 1, NULL, NULL,
	    "https://123456789012.dkr.ecr-fips.us-east-1.amazonaws.com",
	    "https://ecr-fips.us-east-1.amazonaws.com", "ecr" },
	{ "https://123456789012.dkr.ecr-fips.us-gov-east-1.amazonaws.com",
	    ECR_PRIVATE, "123456789012", "us-gov-east-1", "aws-us-gov", 1, NULL,
	    NULL, "https://123456789012.dkr.ecr-fips.us-gov-east-1."
	    "amazonaws.com", "https://ecr-fips.us-gov-east-1.amazonaws.com",
	    "ecr" },
	{ "https://123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn",
	    ECR_PRIVATE, "123456789012", "cn-northwest-1", "aws-cn", 0, NULL,
	    NULL, "https://123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn",
	    "https://api.ecr.cn-northwest-1.amazonaws.com.cn", "ecr" },
	{ "https://public.ecr.aws/nginx", ECR_PUBLIC, "", "us-east-1", "aws",
	    0, "nginx", NULL, "https://public.ecr.aws",
	    "https://api.ecr-public.us-east-1.amazonaws.com", "ecr-public" },
	{ "https://public.ecr.aws/docker/library/alpine", ECR_PUBLIC, "",
	    "us-east-1", "aws", 0, "docker", "library/alpine",
	    "https://public.ecr.aws",
	    "https://api.ecr-public.us-east-1.amazonaws.com", "ecr-public" },
	{ "https://gallery.ecr.aws/my_alias-1/app/", ECR_PUBLIC, "",
	    "us-east-1", "aws", 0, "my_alias-1", "app",
	    "https://public.ecr.aws",
	    "https://api.ecr-public.us-east-1.amazonaws.com", "ecr-public" },
};

/* Wrong URLs, and a word the message must contain. */
static const struct {
	const char	*b_url;
	const char	*b_word;
} bad[] = {
	{ "https://us-east-1.console.aws.amazon.com/ecr/repositories/private/"
	    "123456789012/app?region=us-west-2", "must agree" },
	{ "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/?region="
	    "eu-west-1", "must agree" },
	{ "https://us-east-1.console.aws.amazon.com/ecr/repositories/public/"
	    "123456789012/app?region=us-east-1", "public.ecr.aws/<alias>" },
	{ "http://123456789012.dkr.ecr.us-east-1.amazonaws.com", "https://" },
	{ "123456789012.dkr.ecr.us-east-1.amazonaws.com", "https://" },
	{ "https://registry.example.com", "is one of" },
	{ "https://12345678901.dkr.ecr.us-east-1.amazonaws.com", "ECR" },
	{ "https://1234567890123.dkr.ecr.us-east-1.amazonaws.com", "ECR" },
	{ "https://123456789012.dkr.ecr.us-east-1.amazonaws.org", "ECR" },
	{ "https://123456789012.dkr.ecr.useast.amazonaws.com", "region" },
	{ "https://123456789012.dkr.ecr.cn-north-1.amazonaws.com", "China" },
	{ "https://123456789012.dkr.ecr.us-east-1.amazonaws.com.cn", "China" },
	{ "https://123456789012.dkr.ecr-fips.cn-north-1.amazonaws.com.cn",
	    "FIPS" },
	{ "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app",
	    "no path" },
	{ "https://123456789012.dkr.ecr.us-east-1.amazonaws.com:443", "port" },
	{ "https://u:p@123456789012.dkr.ecr.us-east-1.amazonaws.com", "user" },
	{ "https://console.aws.amazon.com/ecr/repositories/private/"
	    "123456789012/app", "no region" },
	{ "https://us-east-1.console.aws.amazon.com/ecr/repositories/private/"
	    "12345/app?region=us-east-1", "console URL" },
	{ "https://us-east-1.console.aws.amazon.com/ecr/private-registry/"
	    "repositories?region=us-east-1", "console URL" },
	{ "https://us-east-1.console.aws.amazon.com/ecr/repositories/private/"
	    "123456789012/App?region=us-east-1", "repository name" },
	{ "https://us-east-1.console.aws.amazon.com/ecr/repositories/private/"
	    "123456789012/a//b?region=us-east-1", "repository name" },
	{ "https://us-east-1.console.aws.amazon.com/ecr/repositories/private/"
	    "123456789012/app?region=moon", "region" },
	{ "https://us-east-1.console.aws.amazon.com/ecr/repositories/private/"
	    "123456789012/app?region=us-east-1&region=us-east-2", "two" },
	{ "https://cn-north-1.console.amazonaws.cn/ecr/repositories/private/"
	    "123456789012/app?region=us-east-1", "must agree" },
	{ "https://public.ecr.aws/Upper", "alias" },
	{ "https://public.ecr.aws/a", "alias" },
	{ "https://public.ecr.aws", "public.ecr.aws/<alias>" },
	{ "https://gallery.ecr.aws/", "public.ecr.aws/<alias>" },
	{ "https://public.ecr.aws/alias/App", "repository name" },
	{ "https://public.ecr.aws/al ias", "blanks" },
	{ "", "https://" },
};

START_TEST(test_good)
{
	const struct good_url	*g = &good[_i];
	struct ecr_location	 loc;
	char			*cause = NULL;

	ck_assert_msg(ecr_url_parse(g->g_url, &loc, &cause) == 0, "%s: %s",
	    g->g_url, cause);
	ck_assert_int_eq(loc.el_kind, g->g_kind);
	ck_assert_str_eq(loc.el_account, g->g_account);
	ck_assert_str_eq(loc.el_region, g->g_region);
	ck_assert_str_eq(loc.el_partition, g->g_partition);
	ck_assert_int_eq(loc.el_fips, g->g_fips);
	if (g->g_alias == NULL)
		ck_assert_ptr_null(loc.el_alias);
	else
		ck_assert_str_eq(loc.el_alias, g->g_alias);
	if (g->g_example == NULL)
		ck_assert_ptr_null(loc.el_example);
	else
		ck_assert_str_eq(loc.el_example, g->g_example);
	ck_assert_str_eq(loc.el_registry_url, g->g_registry);
	ck_assert_str_eq(loc.el_api_url, g->g_api);
	ck_assert_str_eq(loc.el_service, g->g_service);
	ck_assert_ptr_nonnull(loc.el_sts_url);
	ecr_location_clear(&loc);
}
END_TEST

START_TEST(test_bad)
{
	struct ecr_location	 loc;
	char			*cause = NULL;

	ck_assert_msg(ecr_url_parse(bad[_i].b_url, &loc, &cause) == -1,
	    "%s accepted", bad[_i].b_url);
	ck_assert_ptr_nonnull(cause);
	ck_assert_msg(strstr(cause, bad[_i].b_word) != NULL,
	    "%s: '%s' lacks '%s'", bad[_i].b_url, cause, bad[_i].b_word);
	ck_assert_ptr_null(loc.el_registry_url);
	free(cause);
}
END_TEST

START_TEST(test_regions)
{
	ck_assert(ecr_region_valid("us-east-1", 9));
	ck_assert(ecr_region_valid("us-gov-west-1", 13));
	ck_assert(ecr_region_valid("ap-southeast-2", 14));
	ck_assert(!ecr_region_valid("us-east", 7));
	ck_assert(!ecr_region_valid("US-EAST-1", 9));
	ck_assert(!ecr_region_valid("us--east-1", 10));
	ck_assert(!ecr_region_valid("-us-east-1", 10));
}
END_TEST

/* The signed request: headers, target, security token, body. */
START_TEST(test_api_request)
{
	struct ecr_location	 loc;
	struct ecr_api_request	 ar;
	struct aws_credentials	 cr;
	char			*cause = NULL;
	size_t			 i;
	int			 target = 0, host = 0, token = 0, authz = 0;

	ck_assert_int_eq(ecr_url_parse("https://123456789012.dkr.ecr."
	    "us-east-1.amazonaws.com", &loc, &cause), 0);
	memset(&cr, 0, sizeof(cr));
	cr.ac_access_key_id = "AKIDEXAMPLE";
	cr.ac_secret_access_key = "secret";
	cr.ac_session_token = "SESSION";
	ck_assert_int_eq(ecr_api_request(&loc, "http://127.0.0.1:8080",
	    &cr, (time_t)1440938160, &ar, &cause), 0);
	ck_assert_str_eq(ar.ar_url, "http://127.0.0.1:8080");
	ck_assert_str_eq(ar.ar_body, "{}");
	for (i = 0; i < ar.ar_nheaders; i++) {
		if (strcmp(ar.ar_headers[i], "X-Amz-Target: "
		    ECR_TARGET_PRIVATE) == 0)
			target = 1;
		if (strcmp(ar.ar_headers[i], "Host: 127.0.0.1:8080") == 0)
			host = 1;
		if (strcmp(ar.ar_headers[i], "X-Amz-Security-Token: "
		    "SESSION") == 0)
			token = 1;
		if (strncmp(ar.ar_headers[i], "Authorization: AWS4-HMAC-SHA256 "
		    "Credential=AKIDEXAMPLE/20150830/us-east-1/ecr/aws4_request,"
		    " SignedHeaders=content-type;host;x-amz-date;x-amz-security-"
		    "token;x-amz-target, Signature=", 167) == 0)
			authz = 1;
	}
	ck_assert(target && host && token && authz);
	ck_assert(strstr(ar.ar_headers[ar.ar_nheaders - 2], "secret") == NULL);
	ecr_api_request_clear(&ar);
	ecr_location_clear(&loc);
	ck_assert_int_eq(ecr_url_parse("https://public.ecr.aws/alias",
	    &loc, &cause), 0);
	cr.ac_session_token = NULL;
	ck_assert_int_eq(ecr_api_request(&loc, NULL, &cr, (time_t)1440938160,
	    &ar, &cause), 0);
	ck_assert_str_eq(ar.ar_url,
	    "https://api.ecr-public.us-east-1.amazonaws.com");
	for (i = 0, target = 0; i < ar.ar_nheaders; i++)
		if (strcmp(ar.ar_headers[i], "X-Amz-Target: "
		    ECR_TARGET_PUBLIC) == 0)
			target = 1;
	ck_assert(target);
	ecr_api_request_clear(&ar);
	ecr_location_clear(&loc);
}
END_TEST

START_TEST(test_token_parse)
{
	/* base64("AWS:pass-word:x") */
	static const char private[] = "{\"authorizationData\":[{"
	    "\"authorizationToken\":\"QVdTOnBhc3Mtd29yZDp4\","
	    "\"expiresAt\":1.7651E9,\"proxyEndpoint\":\"https://x\"}]}";
	static const char public[] = "{\"authorizationData\":{"
	    "\"authorizationToken\":\"QVdTOnB3\",\"expiresAt\":1765100000}}";
	static const char *const wrong[] = {
	    "not json", "{}", "{\"authorizationData\":[]}",
	    "{\"authorizationData\":[{\"authorizationToken\":\"QVdT\","
	    "\"expiresAt\":1765100000}]}",
	    "{\"authorizationData\":[{\"authorizationToken\":\"!!!!\","
	    "\"expiresAt\":1765100000}]}",
	    "{\"authorizationData\":[{\"authorizationToken\":\"QVdTOnB3\"}]}",
	};
	struct ecr_token	 tok;
	char			*cause = NULL;
	size_t			 i;

	ck_assert_int_eq(ecr_token_parse(private, strlen(private), &tok,
	    &cause), 0);
	ck_assert_str_eq(tok.et_username, "AWS");
	ck_assert_str_eq(tok.et_password, "pass-word:x");
	ck_assert_int_eq(tok.et_expires, 1765100000);
	ecr_token_clear(&tok);
	ck_assert_int_eq(ecr_token_parse(public, strlen(public), &tok,
	    &cause), 0);
	ck_assert_str_eq(tok.et_password, "pw");
	ecr_token_clear(&tok);
	for (i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
		cause = NULL;
		ck_assert_int_eq(ecr_token_parse(wrong[i], strlen(wrong[i]),
		    &tok, &cause), -1);
		ck_assert_ptr_nonnull(cause);
		free(cause);
	}
}
END_TEST

START_TEST(test_error_parse)
{
	static const char j1[] = "{\"__type\":\"com.amazonaws.ecr#"
	    "ThrottlingException\",\"message\":\"Rate exceeded\"}";
	static const char j2[] = "{\"__type\":\"UnrecognizedClientException\","
	    "\"Message\":\"The security token\\nis invalid.\"}";
	char	*code, *msg;

	ecr_error_parse(j1, strlen(j1), NULL, 400, &code, &msg);
	ck_assert_str_eq(code, "ThrottlingException");
	ck_assert_str_eq(msg, "Rate exceeded");
	free(code);
	free(msg);
	ecr_error_parse(j2, strlen(j2), NULL, 400, &code, &msg);
	ck_assert_str_eq(code, "UnrecognizedClientException");
	ck_assert_str_eq(msg, "The security token is invalid.");
	free(code);
	free(msg);
	ecr_error_parse("<html>", 6, "InvalidSignatureException:http://x",
	    403, &code, &msg);
	ck_assert_str_eq(code, "InvalidSignatureException");
	ck_assert_ptr_null(msg);
	free(code);
	ecr_error_parse(NULL, 0, NULL, 502, &code, &msg);
	ck_assert_str_eq(code, "HTTP 502");
	free(code);
}
END_TEST

static Suite *
ecr_url_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("ecr_url");
	tc = tcase_create("ecr");
	tcase_add_loop_test(tc, test_good, 0, sizeof(good) / sizeof(good[0]));
	tcase_add_loop_test(tc, test_bad, 0, sizeof(bad) / sizeof(bad[0]));
	tcase_add_test(tc, test_regions);
	tcase_add_test(tc, test_api_request);
	tcase_add_test(tc, test_token_parse);
	tcase_add_test(tc, test_error_parse);
	suite_add_tcase(s, tc);
	return (s);
}

CHECK_MAIN(ecr_url_suite)
