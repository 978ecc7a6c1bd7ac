/*
 * aws_sigv4_test.c: unit tests for aws_sigv4.c against every case of
 * the AWS Signature Version 4 test suite (tests/data/aws-sigv4/, with
 * its README): for each case NAME, the canonical request built from
 * NAME.req equals NAME.creq, the string to sign over NAME.creq equals
 * NAME.sts, the signature of NAME.sts is the one in NAME.authz, and the
 * whole Authorization value signed from NAME.req equals NAME.authz.
 *
 * Two cases of the published suite disagree with themselves: in
 * post-x-www-form-urlencoded and post-x-www-form-urlencoded-parameters
 * the .creq signs Content-Length, while the .sts and .authz were made
 * without it (and, in the second, with "charset=utf8" for the .req's
 * "charset=utf-8", while its .authz names content-length among the
 * SignedHeaders all the same). For those the .creq is checked from the
 * .req as it is, and the .sts and .authz from the request that was
 * really signed (in the second, the Signature= part of the .authz).
 * Every folder of the suite must be listed here: a new case fails the
 * test until it is.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "lib/util.h"
#include "lib/xmalloc.h"
#include "upstream/aws_sigv4.h"
#include "check_main.h"

#define SUITE_DATE	"20150830T123600Z"
#define MAX_HEADERS	32

struct sigv4_case {
	const char	*c_name;
	int		 c_errata;	/* see the top: 1, or 2 for the
					   signature alone */
	const char	*c_content_type;	/* as signed, for errata */
};

static const struct sigv4_case cases[] = {
	{ "get-header-key-duplicate", 0, NULL },
	{ "get-header-value-order", 0, NULL },
	{ "get-header-value-trim", 0, NULL },
	{ "get-relative", 0, NULL },
	{ "get-relative-relative", 0, NULL },
	{ "get-slash", 0, NULL },
	{ "get-slash-dot-slash", 0, NULL },
	{ "get-slash-pointless-dot", 0, NULL },
	{ "get-slashes", 0, NULL },
	{ "get-unreserved", 0, NULL },
	{ "get-vanilla", 0, NULL },
	{ "get-vanilla-empty-query-key", 0, NULL },
	{ "get-vanilla-query", 0, NULL },
	{ "get-vanilla-query-order-key", 0, NULL },
	{ "get-vanilla-query-order-key-case", 0, NULL },
	{ "get-vanilla-query-order-value", 0, NULL },
	{ "get-vanilla-query-unreserved", 0, NULL },
	{ "get-vanilla-utf8-query", 0, NULL },
	{ "post-header-key-case", 0, NULL },
	{ "post-header-key-sort", 0, NULL },
	{ "post-header-value-case", 0, NULL },
	{ "post-sts-header-after", 0, NULL },
	{ "post-sts-header-before", 0, NULL },
	{ "post-vanilla", 0, NULL },
	{ "post-vanilla-empty-query-value", 0, NULL },
	{ "post-vanilla-query", 0, NULL },
	{ "post-x-www-form-urlencoded", 1, NULL },
	{ "post-x-www-form-urlencoded-parameters", 2,
	    "application/x-www-form-urlencoded; charset=utf8" },
};
#define NCASES	(sizeof(cases) / sizeof(cases[0]))

/* The suite's CONFIG. */
static char	*cfg_key_id, *cfg_secret, *cfg_region, *cfg_service;

/* A parsed NAME.req. */
struct parsed_req {
	char			*pr_text;	/* the file, cut in place */
	char			*pr_method;
	char			*pr_path;
	char			*pr_query;
	struct aws_sigv4_header	 pr_headers[MAX_HEADERS];
	size_t			 pr_nheaders;
	char			*pr_body;
	size_t			 pr_body_len;
};

static char	*data_path(const char *, const char *);
static char	*slurp(const char *);
static void	 config_read(void);
static void	 req_parse(const char *, struct parsed_req *);
static char	*authz_signature(const char *);
static char	*case_file(const char *, const char *);
static struct aws_sigv4_request req_of(const struct parsed_req *);
static Suite	*aws_sigv4_suite(void);

/* tests/data/aws-sigv4/<dir>/<file> (file NULL: the folder). Caller
 * frees. */
static char *
data_path(const char *dir, const char *file)
{
	const char	*src;
	char		*p;

	if ((src = getenv("DEPOT_SRCDIR")) == NULL || *src == '\0')
		src = ".";
	if (file == NULL)
		xasprintf(&p, "%s/tests/data/aws-sigv4%s%s", src,
		    dir != NULL ? "/" : "", dir != NULL ? dir : "");
	else
		xasprintf(&p, "%s/tests/data/aws-sigv4/%s/%s", src, dir, file);
	return (p);
}

/* A whole file, NUL-terminated. Caller frees. */
static char *
slurp(const char *path)
{
	struct stat	 st;
	char		*buf;
	int		 fd;

	fd = open(path, O_RDONLY);
	ck_assert_msg(fd != -1, "cannot open %s", path);
	ck_assert_int_eq(fstat(fd, &st), 0);
	buf = xmalloc(st.st_size + 1);
	ck_assert_int_eq(read(fd, buf, st.st_size), st.st_size);
	buf[st.st_size] = '\0';
	close(fd);
	return (buf);
}

static void
config_read(void)
{
	char	*path, *text, *line, *next, *eq;

	if (cfg_key_id != NULL)
		return;
	path = data_path(NULL, NULL);
	xasprintf(&line, "%s/CONFIG", path);
	free(path);
	path = line;
	text = slurp(path);
	free(path);
	for (line = text; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if ((eq = strchr(line, '=')) == NULL)
			continue;
		*eq++ = '\0';
		if (strcmp(line, "access_key_id") == 0)
			cfg_key_id = xstrdup(eq);
		else if (strcmp(line, "secret_access_key") == 0)
			cfg_secret = xstrdup(eq);
		else if (strcmp(line, "region") == 0)
			cfg_region = xstrdup(eq);
		else if (strcmp(line, "service") == 0)
			cfg_service = xstrdup(eq);
	}
	free(text);
	ck_assert_ptr_nonnull(cfg_key_id);
	ck_assert_ptr_nonnull(cfg_secret);
	ck_assert_ptr_nonnull(cfg_region);
	ck_assert_ptr_nonnull(cfg_service);
}

/* "METHOD PATH HTTP/1.1", "Name:value" lines, a blank line, the body. */
static void
req_parse(const char *name, struct parsed_req *pr)
{
	char	*path, *file, *line, *next, *sp, *colon, *q;

	memset(pr, 0, sizeof(*pr));
	xasprintf(&file, "%s.req", name);
	path = data_path(name, file);
	pr->pr_text = slurp(path);
	free(path);
	free(file);
	line = pr->pr_text;
	next = strchr(line, '\n');
	if (next != NULL)
		*next++ = '\0';
	sp = strchr(line, ' ');
	ck_assert_ptr_nonnull(sp);
	*sp = '\0';
	pr->pr_method = line;
	pr->pr_path = sp + 1;
	sp = strstr(pr->pr_path, " HTTP/");
	ck_assert_ptr_nonnull(sp);
	*sp = '\0';
	if ((q = strchr(pr->pr_path, '?')) != NULL) {
		*q = '\0';
		pr->pr_query = q + 1;
	}
	for (line = next; line != NULL; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (*line == '\0') {
			pr->pr_body = next;
			pr->pr_body_len = next != NULL ? strlen(next) : 0;
			break;
		}
		colon = strchr(line, ':');
		ck_assert_ptr_nonnull(colon);
		*colon = '\0';
		ck_assert_uint_lt(pr->pr_nheaders, MAX_HEADERS);
		pr->pr_headers[pr->pr_nheaders].h_name = line;
		pr->pr_headers[pr->pr_nheaders].h_value = colon + 1;
		pr->pr_nheaders++;
	}
}

/* The Signature= value of an Authorization line. Caller frees. */
static char *
authz_signature(const char *authz)
{
	const char	*p;

	p = strstr(authz, "Signature=");
	ck_assert_ptr_nonnull(p);
	p += strlen("Signature=");
	return (xstrndup(p, strspn(p, "0123456789abcdef")));
}

/* Read a case file with the given suffix; trailing newlines dropped. */
static char *
case_file(const char *name, const char *suffix)
{
	char	*file, *path, *text;
	size_t	 len;

	xasprintf(&file, "%s.%s", name, suffix);
	path = data_path(name, file);
	text = slurp(path);
	free(path);
	free(file);
	len = strlen(text);
	while (len > 0 && text[len - 1] == '\n')
		text[--len] = '\0';
	return (text);
}

static struct aws_sigv4_request
req_of(const struct parsed_req *pr)
{
	struct aws_sigv4_request	 req;

	memset(&req, 0, sizeof(req));
	req.r_method = pr->pr_method;
	req.r_path = pr->pr_path;
	req.r_query = pr->pr_query;
	req.r_headers = pr->pr_headers;
	req.r_nheaders = pr->pr_nheaders;
	req.r_body = pr->pr_body;
	req.r_body_len = pr->pr_body_len;
	return (req);
}

/* The canonical request of every case, from its .req. */
START_TEST(test_canonical_request)
{
	const struct sigv4_case		*c = &cases[_i];
	struct parsed_req		 pr;
	struct aws_sigv4_request	 req;
	char				*creq, *want, *list;

	config_read();
	req_parse(c->c_name, &pr);
	req = req_of(&pr);
	creq = aws_sigv4_canonical_request(&req, &list);
	ck_assert_ptr_nonnull(creq);
	want = case_file(c->c_name, "creq");
	ck_assert_msg(strcmp(creq, want) == 0, "%s: canonical request\n"
	    "got:\n%s\nwant:\n%s", c->c_name, creq, want);
	ck_assert_ptr_nonnull(strstr(want, list));
	free(creq);
	free(list);
	free(want);
	free(pr.pr_text);
}
END_TEST

/* The string to sign over each expected canonical request. */
START_TEST(test_string_to_sign)
{
	const struct sigv4_case	*c = &cases[_i];
	char			*creq, *want, *scope, *sts;

	config_read();
	if (c->c_errata)
		return;
	creq = case_file(c->c_name, "creq");
	want = case_file(c->c_name, "sts");
	scope = aws_sigv4_scope(SUITE_DATE, cfg_region, cfg_service);
	ck_assert_str_eq(scope, "20150830/us-east-1/service/aws4_request");
	sts = aws_sigv4_string_to_sign(SUITE_DATE, scope, creq);
	ck_assert_msg(strcmp(sts, want) == 0, "%s: string to sign\ngot:\n%s\n"
	    "want:\n%s", c->c_name, sts, want);
	free(creq);
	free(want);
	free(scope);
	free(sts);
}
END_TEST

/* The signature of each expected string to sign. */
START_TEST(test_signature)
{
	const struct sigv4_case	*c = &cases[_i];
	unsigned char		 key[32];
	char			*sts, *authz, *want, sig[AWS_SHA256_HEX_LEN + 1];

	config_read();
	sts = case_file(c->c_name, "sts");
	authz = case_file(c->c_name, "authz");
	want = authz_signature(authz);
	ck_assert_int_eq(aws_sigv4_signing_key(cfg_secret, SUITE_DATE,
	    cfg_region, cfg_service, key), 0);
	ck_assert_int_eq(aws_sigv4_signature(key, sts, sig), 0);
	ck_assert_str_eq(sig, want);
	free(sts);
	free(authz);
	free(want);
}
END_TEST

/* The whole Authorization value, signed from the .req. */
START_TEST(test_authorization)
{
	const struct sigv4_case		*c = &cases[_i];
	struct parsed_req		 pr;
	struct aws_sigv4_request	 req;
	struct aws_sigv4_signer		 sg;
	struct aws_sigv4_header		 kept[MAX_HEADERS];
	size_t				 i, n = 0;
	char				*authz, *want, *got;

	config_read();
	req_parse(c->c_name, &pr);
	req = req_of(&pr);
	if (c->c_errata) {
		/* Sign what the suite signed: no Content-Length. */
		for (i = 0; i < pr.pr_nheaders; i++) {
			if (strcasecmp(pr.pr_headers[i].h_name,
			    "content-length") == 0)
				continue;
			kept[n] = pr.pr_headers[i];
			if (c->c_content_type != NULL &&
			    strcasecmp(kept[n].h_name, "content-type") == 0)
				kept[n].h_value = c->c_content_type;
			n++;
		}
		req.r_headers = kept;
		req.r_nheaders = n;
	}
	memset(&sg, 0, sizeof(sg));
	sg.s_access_key_id = cfg_key_id;
	sg.s_secret_access_key = cfg_secret;
	sg.s_region = cfg_region;
	sg.s_service = cfg_service;
	sg.s_amz_date = SUITE_DATE;
	authz = aws_sigv4_authorization(&req, &sg);
	ck_assert_ptr_nonnull(authz);
	want = case_file(c->c_name, "authz");
	if (c->c_errata == 2) {
		got = authz_signature(authz);
		free(authz);
		authz = got;
		got = authz_signature(want);
		free(want);
		want = got;
	}
	ck_assert_msg(strcmp(authz, want) == 0, "%s: Authorization\ngot:  %s\n"
	    "want: %s", c->c_name, authz, want);
	free(authz);
	free(want);
	free(pr.pr_text);
}
END_TEST

/* Every case folder of the suite is in the table above. */
START_TEST(test_every_case_listed)
{
	DIR		*d;
	struct dirent	*de;
	char		*path;
	size_t		 i, seen = 0;
	int		 found;

	path = data_path(NULL, NULL);
	d = opendir(path);
	ck_assert_msg(d != NULL, "cannot open %s", path);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || strcmp(de->d_name, "README") == 0 ||
		    strcmp(de->d_name, "CONFIG") == 0)
			continue;
		found = 0;
		for (i = 0; i < NCASES; i++)
			if (strcmp(cases[i].c_name, de->d_name) == 0)
				found = 1;
		ck_assert_msg(found, "case %s is not tested", de->d_name);
		seen++;
	}
	closedir(d);
	free(path);
	ck_assert_uint_eq(seen, NCASES);
}
END_TEST

/* The pieces ECR's signing uses: dates, encoding, bad input. */
START_TEST(test_helpers)
{
	struct aws_sigv4_request	 req;
	struct aws_sigv4_header		 h[1] = { { "Host", "x" } };
	char				 date[AWS_SIGV4_DATE_LEN + 1], *s;
	char				 hex[AWS_SHA256_HEX_LEN + 1];

	aws_sigv4_date((time_t)1440938160, date, sizeof(date));
	ck_assert_str_eq(date, SUITE_DATE);
	aws_sha256_hex("", 0, hex);
	ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b"
	    "934ca495991b7852b855");
	s = aws_uri_encode("a b/c~%", 7, 1);
	ck_assert_str_eq(s, "a%20b/c~%25");
	free(s);
	s = aws_uri_encode("a/b", 3, 0);
	ck_assert_str_eq(s, "a%2Fb");
	free(s);
	ck_assert_ptr_null(aws_sigv4_scope("2015-08-30", "r", "s"));
	memset(&req, 0, sizeof(req));
	req.r_method = "GET";
	req.r_path = "relative";
	req.r_headers = h;
	req.r_nheaders = 1;
	ck_assert_ptr_null(aws_sigv4_canonical_request(&req, NULL));
	req.r_path = "/";
	req.r_nheaders = 0;
	ck_assert_ptr_null(aws_sigv4_canonical_request(&req, NULL));
}
END_TEST

static Suite *
aws_sigv4_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("aws_sigv4");
	tc = tcase_create("suite");
	tcase_add_loop_test(tc, test_canonical_request, 0, NCASES);
	tcase_add_loop_test(tc, test_string_to_sign, 0, NCASES);
	tcase_add_loop_test(tc, test_signature, 0, NCASES);
	tcase_add_loop_test(tc, test_authorization, 0, NCASES);
	tcase_add_test(tc, test_every_case_listed);
	tcase_add_test(tc, test_helpers);
	suite_add_tcase(s, tc);
	return (s);
}

CHECK_MAIN(aws_sigv4_suite)
