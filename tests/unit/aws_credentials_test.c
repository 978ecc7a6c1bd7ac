/*
 * aws_credentials_test.c: unit tests for the pure parts of
 * aws_credentials.c: STS AssumeRoleWithWebIdentity answers (credentials,
 * entities, ErrorResponse codes, incomplete answers), the container
 * endpoint's and IMDS's JSON, AWS times, the refresh arithmetic, the
 * container URL rule, and static credentials through the chain.
 */
#include <sys/types.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "lib/xmalloc.h"
#include "upstream/aws_credentials.h"
#include "upstream/fetch.h"
#include "check_main.h"

static const char sts_ok[] =
    "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/"
    "doc/2011-06-15/\">\n  <AssumeRoleWithWebIdentityResult>\n"
    "    <SubjectFromWebIdentityToken>system:sa</SubjectFromWebIdentityToken>\n"
    "    <Credentials>\n"
    "      <SessionToken>FQoG&amp;/tok&#43;en==</SessionToken>\n"
    "      <SecretAccessKey>wJalr&lt;XUtn</SecretAccessKey>\n"
    "      <Expiration>2026-12-07T12:00:00Z</Expiration>\n"
    "      <AccessKeyId>ASIAEXAMPLE</AccessKeyId>\n"
    "    </Credentials>\n  </AssumeRoleWithWebIdentityResult>\n"
    "</AssumeRoleWithWebIdentityResponse>\n";
static const char sts_err[] =
    "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
    "<Error><Type>Sender</Type><Code>InvalidIdentityToken</Code>"
    "<Message>Couldn&apos;t validate the token</Message></Error>"
    "<RequestId>x</RequestId></ErrorResponse>";
static const char sts_partial[] =
    "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>"
    "<Credentials><AccessKeyId>ASIA</AccessKeyId>"
    "<SecretAccessKey>s</SecretAccessKey>"
    "<Expiration>2026-12-07T12:00:00Z</Expiration></Credentials>"
    "</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>";

START_TEST(test_sts)
{
	struct aws_credentials	 c;
	char			*code, *cause;
	time_t			 t;

	ck_assert_int_eq(aws_sts_parse(sts_ok, strlen(sts_ok), &c, &code,
	    &cause), 0);
	ck_assert_str_eq(c.ac_access_key_id, "ASIAEXAMPLE");
	ck_assert_str_eq(c.ac_secret_access_key, "wJalr<XUtn");
	ck_assert_str_eq(c.ac_session_token, "FQoG&/tok+en==");
	ck_assert_int_eq(aws_time_parse("2026-12-07T12:00:00Z", &t), 0);
	ck_assert_int_eq(c.ac_expiration, t);
	aws_credentials_clear(&c);
	ck_assert_int_eq(aws_sts_parse(sts_err, strlen(sts_err), &c, &code,
	    &cause), -1);
	ck_assert_str_eq(code, "InvalidIdentityToken");
	ck_assert_str_eq(cause, "Couldn't validate the token");
	free(code);
	free(cause);
	ck_assert_int_eq(aws_sts_parse(sts_partial, strlen(sts_partial), &c,
	    &code, &cause), -1);
	ck_assert_str_eq(code, "MalformedAnswer");
	free(code);
	free(cause);
	ck_assert_int_eq(aws_sts_parse("<x/>", 4, &c, &code, &cause), -1);
	ck_assert_str_eq(code, "MalformedAnswer");
	free(code);
	free(cause);
}
END_TEST

START_TEST(test_json)
{
	static const char container[] = "{\"AccessKeyId\":\"ASIAC\","
	    "\"SecretAccessKey\":\"sec\",\"Token\":\"tok\",\"Expiration\":"
	    "\"2026-12-07T12:00:00.000Z\",\"RoleArn\":\"arn:aws:iam::1:role/r\"}";
	static const char imds[] = "{\"Code\":\"Success\",\"LastUpdated\":"
	    "\"2026-12-07T06:00:00Z\",\"Type\":\"AWS-HMAC\",\"AccessKeyId\":"
	    "\"ASIAI\",\"SecretAccessKey\":\"s2\",\"Token\":\"t2\","
	    "\"Expiration\":\"2026-12-07T12:00:00+00:00\"}";
	static const char *const wrong[] = {
	    "[]", "nope", "{\"AccessKeyId\":\"A\"}",
	    "{\"Code\":\"Failure\",\"AccessKeyId\":\"A\","
	    "\"SecretAccessKey\":\"s\"}",
	    "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\","
	    "\"Expiration\":\"tomorrow\"}",
	};
	struct aws_credentials	 c;
	char			*cause;
	time_t			 t;
	size_t			 i;

	ck_assert_int_eq(aws_time_parse("2026-12-07T12:00:00Z", &t), 0);
	ck_assert_int_eq(aws_credentials_json_parse(container,
	    strlen(container), &c, &cause), 0);
	ck_assert_str_eq(c.ac_access_key_id, "ASIAC");
	ck_assert_str_eq(c.ac_secret_access_key, "sec");
	ck_assert_str_eq(c.ac_session_token, "tok");
	ck_assert_int_eq(c.ac_expiration, t);
	aws_credentials_clear(&c);
	ck_assert_int_eq(aws_credentials_json_parse(imds, strlen(imds), &c,
	    &cause), 0);
	ck_assert_str_eq(c.ac_access_key_id, "ASIAI");
	ck_assert_int_eq(c.ac_expiration, t);
	aws_credentials_clear(&c);
	for (i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
		cause = NULL;
		ck_assert_int_eq(aws_credentials_json_parse(wrong[i],
		    strlen(wrong[i]), &c, &cause), -1);
		ck_assert_ptr_nonnull(cause);
		free(cause);
	}
}
END_TEST

START_TEST(test_times)
{
	time_t	 t;

	ck_assert_int_eq(aws_time_parse("2015-08-30T12:36:00Z", &t), 0);
	ck_assert_int_eq(t, 1440938160);
	ck_assert_int_eq(aws_time_parse("2015-08-30T12:36:00.123Z", &t), 0);
	ck_assert_int_eq(t, 1440938160);
	ck_assert_int_eq(aws_time_parse("2015-08-30T12:36:00+00:00", &t), 0);
	ck_assert_int_eq(aws_time_parse("2015-08-30T12:36:00+02:00", &t), -1);
	ck_assert_int_eq(aws_time_parse("2015-08-30 12:36:00Z", &t), -1);
	ck_assert_int_eq(aws_time_parse("2015-13-30T12:36:00Z", &t), -1);
	ck_assert_int_eq(aws_time_parse("2015-08-30T12:36:00.Z", &t), -1);
	ck_assert_int_eq(aws_time_parse("", &t), -1);
}
END_TEST

/* A quarter of the life ahead, capped; expired things at once. */
START_TEST(test_refresh_at)
{
	struct aws_credentials	 c;

	ck_assert_int_eq(aws_refresh_at(1000, 1000 + 43200, 1800),
	    1000 + 43200 - 1800);
	ck_assert_int_eq(aws_refresh_at(1000, 1040, 1800), 1030);
	ck_assert_int_eq(aws_refresh_at(1000, 1000, 1800), 1000);
	ck_assert_int_eq(aws_refresh_at(1000, 900, 1800), 1000);
	memset(&c, 0, sizeof(c));
	ck_assert(!aws_credentials_fresh(&c, 0));
	c.ac_access_key_id = "A";
	c.ac_secret_access_key = "s";
	ck_assert(aws_credentials_fresh(&c, 1 << 30));
	c.ac_obtained = 1000;
	c.ac_expiration = 1000 + 3600;
	ck_assert(aws_credentials_fresh(&c, 1000 + 3600 - AWS_CREDS_MARGIN -
	    1));
	ck_assert(!aws_credentials_fresh(&c, 1000 + 3600 - AWS_CREDS_MARGIN));
	ck_assert(!aws_credentials_fresh(&c, 1000 + 3600));
}
END_TEST

START_TEST(test_container_url)
{
	ck_assert(aws_container_url_allowed("https://creds.example.com/x"));
	ck_assert(aws_container_url_allowed("http://127.0.0.1:8080/v1"));
	ck_assert(aws_container_url_allowed("http://127.1.2.3/v1"));
	ck_assert(aws_container_url_allowed("http://localhost/v1"));
	ck_assert(aws_container_url_allowed("http://[::1]:80/v1"));
	ck_assert(aws_container_url_allowed("http://169.254.170.2/v1"));
	ck_assert(aws_container_url_allowed("http://169.254.170.23/v1"));
	ck_assert(aws_container_url_allowed("http://[fd00:ec2::23]/v1"));
	ck_assert(!aws_container_url_allowed("http://10.0.0.1/v1"));
	ck_assert(!aws_container_url_allowed("http://example.com/v1"));
	ck_assert(!aws_container_url_allowed("ftp://127.0.0.1/v1"));
	ck_assert(!aws_container_url_allowed("http://169.254.169.254/v1"));
}
END_TEST

static int	 got_static;

static void
static_cb(const struct aws_credentials *c, const char *code,
    const char *message, void *arg)
{
	(void)code;
	(void)message;
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(c->ac_access_key_id, "AKID");
	ck_assert_str_eq(c->ac_source, "static");
	got_static = 1;
	event_base_loopbreak(arg);
}

/* Static keys come back from the loop, never from inside the call. */
START_TEST(test_static_chain)
{
	struct event_base	*base;
	struct fetcher		*f;
	struct aws_credentials	 st;
	struct aws_chain_config	 cc;

	base = event_base_new();
	ck_assert_int_eq(fetch_global_init(), 0);
	f = fetcher_create(base);
	memset(&st, 0, sizeof(st));
	st.ac_access_key_id = "AKID";
	st.ac_secret_access_key = "secret";
	memset(&cc, 0, sizeof(cc));
	cc.cc_key = "ecr";
	cc.cc_static = 1;
	cc.cc_static_creds = &st;
	cc.cc_region = "us-east-1";
	ck_assert_ptr_nonnull(aws_credentials_get(f, &cc, static_cb, base));
	ck_assert_int_eq(got_static, 0);
	event_base_dispatch(base);
	ck_assert_int_eq(got_static, 1);
	fetcher_free(f);
	event_base_free(base);
}
END_TEST

static Suite *
aws_credentials_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("aws_credentials");
	tc = tcase_create("parse");
	tcase_add_test(tc, test_sts);
	tcase_add_test(tc, test_json);
	tcase_add_test(tc, test_times);
	tcase_add_test(tc, test_refresh_at);
	tcase_add_test(tc, test_container_url);
	tcase_add_test(tc, test_static_chain);
	suite_add_tcase(s, tc);
	return (s);
}

CHECK_MAIN(aws_credentials_suite)
