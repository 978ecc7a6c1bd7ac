/*
 * ref_test.c: unit tests for ref.c: the registry name rule, the OCI
 * repository and tag grammars, and the right-to-left split of /v2/ paths.
 */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "depot.h"
#include "lib/digest.h"
#include "lib/ref.h"
#include "lib/xmalloc.h"
#include "check_main.h"

#define HEX64 \
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HEX64_UPPER \
	"0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"
#define D256	"sha256:" HEX64
#define D512	"sha512:" HEX64 HEX64

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

static char	*repeat(char, size_t);
static int	 parse_ok(const char *, struct v2_path *);
static void	 expect_fail(const char *, const char *);
struct good_path;
static void	 check_good(const struct good_path *);
static Suite	*ref_suite(void);

/* A string of n times c. Caller frees. */
static char *
repeat(char c, size_t n)
{
	char	*s;

	s = xmalloc(n + 1);
	memset(s, c, n);
	s[n] = '\0';
	return (s);
}

/* Parse a path that must be accepted, checking the common invariants. */
static int
parse_ok(const char *path, struct v2_path *p)
{
	const char	*code = NULL;
	char		*cause = NULL, *joined;
	int		 rc;

	rc = ref_parse_v2_path(path, p, &code, &cause);
	ck_assert_msg(rc == 0, "refused \"%s\": %s (%s)", path,
	    cause != NULL ? cause : "no cause", code != NULL ? code : "-");
	ck_assert_ptr_null(cause);
	if (p->kind == V2_BASE || p->kind == V2_CATALOG) {
		ck_assert_ptr_null(p->name);
		ck_assert_ptr_null(p->registry);
		ck_assert_ptr_null(p->image);
		ck_assert_ptr_null(p->reference);
		return (rc);
	}
	ck_assert_ptr_nonnull(p->name);
	ck_assert_ptr_nonnull(p->registry);
	ck_assert_ptr_nonnull(p->image);
	xasprintf(&joined, "%s/%s", p->registry, p->image);
	ck_assert_str_eq(joined, p->name);
	free(joined);
	ck_assert_uint_le(strlen(p->name), DEPOT_REPO_MAX);
	return (rc);
}

/* Parse a path that must be refused with the given OCI code. */
static void
expect_fail(const char *path, const char *want)
{
	struct v2_path	 p;
	const char	*code = NULL;
	char		*cause = NULL;

	memset(&p, 0xa5, sizeof(p));
	ck_assert_msg(ref_parse_v2_path(path, &p, &code, &cause) == -1,
	    "accepted \"%s\"", path);
	ck_assert_ptr_nonnull(code);
	ck_assert_msg(strcmp(code, want) == 0, "\"%s\": code %s, want %s (%s)",
	    path, code, want, cause != NULL ? cause : "no cause");
	ck_assert_ptr_nonnull(cause);
	ck_assert_uint_gt(strlen(cause), 0);
	ck_assert_uint_lt(strlen(cause), 400);
	/* The output holds nothing after a failure. */
	ck_assert_ptr_null(p.name);
	ck_assert_ptr_null(p.registry);
	ck_assert_ptr_null(p.image);
	ck_assert_ptr_null(p.reference);
	free(cause);
	/* Neither out-parameter is required. */
	ck_assert_int_eq(ref_parse_v2_path(path, &p, NULL, NULL), -1);
	v2_path_clear(&p);
}

/* ---- registry names ---- */

static const char *good_names[] = {
	"a", "z", "docker-local", "helm_local", "my.reg", "a0", "a-", "a_",
	"a.", "a..b", "a__b", "a--b", "ecr-prod", "r2d2", "x.y_z-0",
};

static const char *bad_names[] = {
	"", "A", "Docker", "dockeR", "0abc", "_a", ".a", "-a", "a/b",
	"a b", "a:b", "a%b", "a\tb", "a\nb", "..", ".", "é", "a\xc3\xa9",
	"a@b", "a+b", "a~b", "a*", "a\\b",
};

START_TEST(test_name_good)
{
	char	*cause;
	size_t	 i;

	for (i = 0; i < NELEM(good_names); i++) {
		cause = (char *)"untouched";
		ck_assert_msg(ref_name_valid(good_names[i], &cause) == 0,
		    "refused \"%s\"", good_names[i]);
		ck_assert_ptr_null(cause);
		ck_assert_int_eq(ref_name_valid(good_names[i], NULL), 0);
	}
}
END_TEST

START_TEST(test_name_bad)
{
	char	*cause;
	size_t	 i;

	for (i = 0; i < NELEM(bad_names); i++) {
		cause = NULL;
		ck_assert_msg(ref_name_valid(bad_names[i], &cause) == -1,
		    "accepted \"%s\"", bad_names[i]);
		ck_assert_ptr_nonnull(cause);
		ck_assert_ptr_nonnull(strstr(cause, REF_NAME_RULE));
		free(cause);
		ck_assert_int_eq(ref_name_valid(bad_names[i], NULL), -1);
	}
}
END_TEST

START_TEST(test_name_length)
{
	char	*s, *cause = NULL;

	s = repeat('a', DEPOT_NAME_MAX);
	ck_assert_int_eq(ref_name_valid(s, NULL), 0);
	free(s);
	s = repeat('a', DEPOT_NAME_MAX + 1);
	ck_assert_int_eq(ref_name_valid(s, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, REF_NAME_RULE));
	free(cause);
	free(s);

	/* A huge name is refused with a short message. */
	s = repeat('a', 100000);
	ck_assert_int_eq(ref_name_valid(s, &cause), -1);
	ck_assert_uint_lt(strlen(cause), 300);
	free(cause);
	free(s);

	ck_assert_int_eq(ref_name_valid(NULL, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, REF_NAME_RULE));
	free(cause);
}
END_TEST

START_TEST(test_name_cause_quotes)
{
	char	*cause = NULL;

	ck_assert_int_eq(ref_name_valid("Bad", &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "\"Bad\""));
	free(cause);
	/* Control characters are not echoed into logs. */
	ck_assert_int_eq(ref_name_valid("a\x1b[2J", &cause), -1);
	ck_assert_ptr_null(strchr(cause, '\x1b'));
	free(cause);
}
END_TEST

/* Every single byte after a leading letter: only a-z 0-9 _ . - pass. */
START_TEST(test_name_every_byte)
{
	char	 s[3];
	int	 c, want;

	for (c = 1; c < 256; c++) {
		s[0] = 'a';
		s[1] = (char)c;
		s[2] = '\0';
		want = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '.' || c == '-';
		ck_assert_msg((ref_name_valid(s, NULL) == 0) == want,
		    "byte 0x%02x", c);
		s[0] = (char)c;
		s[1] = '\0';
		want = c >= 'a' && c <= 'z';
		ck_assert_msg((ref_name_valid(s, NULL) == 0) == want,
		    "leading byte 0x%02x", c);
	}
}
END_TEST

/* ---- repository names ---- */

static const char *good_repos[] = {
	"a", "0", "alpine", "library/alpine", "a/b/c/d/e/f", "a.b", "a_b",
	"a__b", "a-b", "a--b", "a---------b", "a.b_c__d-e--f", "123",
	"a1/b2/c3", "x/manifests/y", "blobs/uploads", "tags/list",
	"my-app/v1.2", "a/b.c/d__e",
};

static const char *bad_repos[] = {
	"", "/", "a/", "/a", "a//b", ".", "..", "a/..", "../a", "a/../b",
	"a/./b", "a.", ".a", "a-", "-a", "a_", "_a", "a..b", "a._b", "a_.b",
	"a___b", "a.-b", "a-.b", "a-_b", "A", "aB", "a/B", "a b", "a%2fb",
	"a%b", "a:b", "a@b", "a\\b", "a\tb", "a\nb", "\xc3\xa9", "a/.b",
	"a/b.", "a/b/", "a+b", "a~b", "a*b", "a?b", "a#b",
};

START_TEST(test_repo_good)
{
	char	*cause;
	size_t	 i;

	for (i = 0; i < NELEM(good_repos); i++) {
		cause = (char *)"untouched";
		ck_assert_msg(ref_repository_valid(good_repos[i], &cause) == 0,
		    "refused \"%s\"", good_repos[i]);
		ck_assert_ptr_null(cause);
	}
}
END_TEST

START_TEST(test_repo_bad)
{
	char	*cause;
	size_t	 i;

	for (i = 0; i < NELEM(bad_repos); i++) {
		cause = NULL;
		ck_assert_msg(ref_repository_valid(bad_repos[i], &cause) == -1,
		    "accepted \"%s\"", bad_repos[i]);
		ck_assert_ptr_nonnull(cause);
		free(cause);
		ck_assert_int_eq(ref_repository_valid(bad_repos[i], NULL), -1);
	}
}
END_TEST

START_TEST(test_repo_length)
{
	char	*s, *cause = NULL;
	size_t	 i;

	s = repeat('a', DEPOT_REPO_MAX);
	ck_assert_int_eq(ref_repository_valid(s, NULL), 0);
	/* Components of all lengths within the limit. */
	for (i = 1; i < DEPOT_REPO_MAX; i += 2)
		s[i] = '/';
	ck_assert_int_eq(ref_repository_valid(s, NULL), 0);
	free(s);
	s = repeat('a', DEPOT_REPO_MAX + 1);
	ck_assert_int_eq(ref_repository_valid(s, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "255"));
	free(cause);
	free(s);
	ck_assert_int_eq(ref_repository_valid(NULL, &cause), -1);
	free(cause);
}
END_TEST

/* ---- tags ---- */

static const char *good_tags[] = {
	"latest", "v1.2.3", "1", "_", "A", "Z9", "_x", "9.", "a-", "a--b",
	"a..b", "3.19-alpine_rc.1", "UPPER_lower-1.2",
};

static const char *bad_tags[] = {
	"", ".", "..", "-", ".latest", "-latest", "a/b", "a:b", "a b", "a%b",
	"la%74est", "latest?x=1", "a+b", "a@b", "\xc3\xa9", "a\nb", "a\\b",
	"a#b", "a~b",
};

START_TEST(test_tag_good)
{
	char	*cause;
	size_t	 i;

	for (i = 0; i < NELEM(good_tags); i++) {
		cause = (char *)"untouched";
		ck_assert_msg(ref_tag_valid(good_tags[i], &cause) == 0,
		    "refused \"%s\"", good_tags[i]);
		ck_assert_ptr_null(cause);
	}
}
END_TEST

START_TEST(test_tag_bad)
{
	char	*cause;
	size_t	 i;

	for (i = 0; i < NELEM(bad_tags); i++) {
		cause = NULL;
		ck_assert_msg(ref_tag_valid(bad_tags[i], &cause) == -1,
		    "accepted \"%s\"", bad_tags[i]);
		ck_assert_ptr_nonnull(cause);
		free(cause);
		ck_assert_int_eq(ref_tag_valid(bad_tags[i], NULL), -1);
	}
}
END_TEST

START_TEST(test_tag_length)
{
	char	*s, *cause = NULL;

	s = repeat('t', DEPOT_TAG_MAX);
	ck_assert_int_eq(ref_tag_valid(s, NULL), 0);
	free(s);
	s = repeat('t', DEPOT_TAG_MAX + 1);
	ck_assert_int_eq(ref_tag_valid(s, &cause), -1);
	ck_assert_uint_lt(strlen(cause), 300);
	free(cause);
	free(s);
	ck_assert_int_eq(ref_tag_valid(NULL, NULL), -1);
}
END_TEST

/* ---- /v2/ paths ---- */

static const struct good_path {
	const char	*path;
	enum v2_kind	 kind;
	const char	*name;
	const char	*registry;
	const char	*image;
	const char	*reference;
	int		 is_digest;
} good_paths[] = {
	{ "/v2", V2_BASE, NULL, NULL, NULL, NULL, 0 },
	{ "/v2/", V2_BASE, NULL, NULL, NULL, NULL, 0 },
	{ "/v2/_catalog", V2_CATALOG, NULL, NULL, NULL, NULL, 0 },
	{ "/v2/docker-local/alpine/manifests/latest", V2_MANIFEST,
	    "docker-local/alpine", "docker-local", "alpine", "latest", 0 },
	{ "/v2/docker-local/library/alpine/manifests/3.19", V2_MANIFEST,
	    "docker-local/library/alpine", "docker-local", "library/alpine",
	    "3.19", 0 },
	{ "/v2/r/a/b/c/d/manifests/v1.0.0-rc_1", V2_MANIFEST,
	    "r/a/b/c/d", "r", "a/b/c/d", "v1.0.0-rc_1", 0 },
	{ "/v2/r/img/manifests/" D256, V2_MANIFEST,
	    "r/img", "r", "img", D256, 1 },
	{ "/v2/r/img/manifests/" D512, V2_MANIFEST,
	    "r/img", "r", "img", D512, 1 },
	{ "/v2/r/img/blobs/" D256, V2_BLOB, "r/img", "r", "img", D256, 1 },
	{ "/v2/r/img/blobs/" D512, V2_BLOB, "r/img", "r", "img", D512, 1 },
	{ "/v2/r/img/blobs/uploads/", V2_UPLOAD_START,
	    "r/img", "r", "img", NULL, 0 },
	{ "/v2/r/img/blobs/uploads", V2_UPLOAD_START,
	    "r/img", "r", "img", NULL, 0 },
	{ "/v2/r/img/blobs/uploads/0f3c-AB12-zz", V2_UPLOAD,
	    "r/img", "r", "img", "0f3c-AB12-zz", 0 },
	{ "/v2/r/img/tags/list", V2_TAGS, "r/img", "r", "img", NULL, 0 },
	{ "/v2/r/img/referrers/" D256, V2_REFERRERS,
	    "r/img", "r", "img", D256, 1 },
	/* The last endpoint shape wins; names may hold the keywords. */
	{ "/v2/r/a/manifests/b/manifests/latest", V2_MANIFEST,
	    "r/a/manifests/b", "r", "a/manifests/b", "latest", 0 },
	{ "/v2/r/manifests/manifests/manifests", V2_MANIFEST,
	    "r/manifests", "r", "manifests", "manifests", 0 },
	{ "/v2/r/blobs/blobs/" D256, V2_BLOB,
	    "r/blobs", "r", "blobs", D256, 1 },
	{ "/v2/r/tags/list/tags/list", V2_TAGS,
	    "r/tags/list", "r", "tags/list", NULL, 0 },
	{ "/v2/r/blobs/uploads/blobs/uploads/", V2_UPLOAD_START,
	    "r/blobs/uploads", "r", "blobs/uploads", NULL, 0 },
	{ "/v2/r/blobs/uploads/blobs/uploads", V2_UPLOAD_START,
	    "r/blobs/uploads", "r", "blobs/uploads", NULL, 0 },
	{ "/v2/r/img/blobs/uploads/uploads", V2_UPLOAD,
	    "r/img", "r", "img", "uploads", 0 },
	{ "/v2/r/referrers/referrers/" D256, V2_REFERRERS,
	    "r/referrers", "r", "referrers", D256, 1 },
	{ "/v2/r/manifests/blobs/" D256, V2_BLOB,
	    "r/manifests", "r", "manifests", D256, 1 },
	{ "/v2/r/x/blobs/manifests/tags", V2_MANIFEST,
	    "r/x/blobs", "r", "x/blobs", "tags", 0 },
	{ "/v2/r/x/tags/list/manifests/list", V2_MANIFEST,
	    "r/x/tags/list", "r", "x/tags/list", "list", 0 },
	/* Registry names follow the name rule, not the OCI grammar. */
	{ "/v2/my_reg.v2-x/img/manifests/latest", V2_MANIFEST,
	    "my_reg.v2-x/img", "my_reg.v2-x", "img", "latest", 0 },
	{ "/v2/a_/img/tags/list", V2_TAGS, "a_/img", "a_", "img", NULL, 0 },
	{ "/v2/a../img/tags/list", V2_TAGS, "a../img", "a..", "img", NULL,
	    0 },
	{ "/v2/a-/img/tags/list", V2_TAGS, "a-/img", "a-", "img", NULL, 0 },
	{ "/v2/a___b/img/tags/list", V2_TAGS,
	    "a___b/img", "a___b", "img", NULL, 0 },
	{ "/v2/library/alpine/manifests/latest", V2_MANIFEST,
	    "library/alpine", "library", "alpine", "latest", 0 },
	/* Image names use the OCI grammar in full. */
	{ "/v2/r/a__b/tags/list", V2_TAGS, "r/a__b", "r", "a__b", NULL, 0 },
	{ "/v2/r/a---b/tags/list", V2_TAGS, "r/a---b", "r", "a---b", NULL, 0 },
	{ "/v2/r/a.b_c-d/e/tags/list", V2_TAGS,
	    "r/a.b_c-d/e", "r", "a.b_c-d/e", NULL, 0 },
	{ "/v2/r/0/tags/list", V2_TAGS, "r/0", "r", "0", NULL, 0 },
	/* Tags. */
	{ "/v2/r/i/manifests/_", V2_MANIFEST, "r/i", "r", "i", "_", 0 },
	{ "/v2/r/i/manifests/LATEST", V2_MANIFEST,
	    "r/i", "r", "i", "LATEST", 0 },
	{ "/v2/r/i/manifests/9", V2_MANIFEST, "r/i", "r", "i", "9", 0 },
	{ "/v2/r/i/manifests/list", V2_MANIFEST, "r/i", "r", "i", "list", 0 },
};

/* Parse one accepted path and compare every field. */
static void
check_good(const struct good_path *g)
{
	struct v2_path	 p;

	parse_ok(g->path, &p);
	ck_assert_msg(p.kind == g->kind, "\"%s\": kind %d, want %d",
	    g->path, (int)p.kind, (int)g->kind);
	if (g->name == NULL) {
		ck_assert_ptr_null(p.name);
	} else {
		ck_assert_str_eq(p.name, g->name);
		ck_assert_str_eq(p.registry, g->registry);
		ck_assert_str_eq(p.image, g->image);
	}
	if (g->reference == NULL)
		ck_assert_ptr_null(p.reference);
	else
		ck_assert_str_eq(p.reference, g->reference);
	ck_assert_int_eq(p.ref_is_digest, g->is_digest);
	v2_path_clear(&p);
	ck_assert_ptr_null(p.name);
	ck_assert_ptr_null(p.reference);
	v2_path_clear(&p);
}

START_TEST(test_v2_good)
{
	size_t	 i;

	for (i = 0; i < NELEM(good_paths); i++)
		check_good(&good_paths[i]);
	v2_path_clear(NULL);
}
END_TEST

START_TEST(test_v2_digest_fields)
{
	struct v2_path	 p;
	char		 buf[DIGEST_STRING_MAX];

	parse_ok("/v2/r/img/manifests/" D512, &p);
	ck_assert(p.ref_is_digest);
	ck_assert_int_eq(p.digest.alg, DIGEST_SHA512);
	ck_assert_str_eq(p.digest.hex, HEX64 HEX64);
	digest_format(&p.digest, buf, sizeof(buf));
	ck_assert_str_eq(buf, p.reference);
	v2_path_clear(&p);

	parse_ok("/v2/r/img/blobs/" D256, &p);
	ck_assert_int_eq(p.digest.alg, DIGEST_SHA256);
	ck_assert_str_eq(p.digest.hex, HEX64);
	v2_path_clear(&p);

	parse_ok("/v2/r/img/manifests/latest", &p);
	ck_assert(!p.ref_is_digest);
	v2_path_clear(&p);
}
END_TEST

/* Success resets *cause and the output even when they held garbage. */
START_TEST(test_v2_resets_output)
{
	struct v2_path	 p;
	char		*cause = (char *)"untouched";

	memset(&p, 0xa5, sizeof(p));
	ck_assert_int_eq(ref_parse_v2_path("/v2/", &p, NULL, &cause), 0);
	ck_assert_ptr_null(cause);
	ck_assert_int_eq(p.kind, V2_BASE);
	ck_assert_ptr_null(p.name);
	ck_assert_ptr_null(p.image);
	ck_assert_ptr_null(p.reference);
	ck_assert_int_eq(p.ref_is_digest, 0);
	v2_path_clear(&p);
}
END_TEST

static const struct bad_path {
	const char	*path;
	const char	*code;
} bad_paths[] = {
	/* No endpoint shape at the end. */
	{ "", "UNSUPPORTED" },
	{ "/", "UNSUPPORTED" },
	{ "/v2x/r/img/tags/list", "UNSUPPORTED" },
	{ "/v3/r/img/manifests/latest", "UNSUPPORTED" },
	{ "v2/r/img/tags/list", "UNSUPPORTED" },
	{ "/V2/r/img/tags/list", "UNSUPPORTED" },
	{ "/v2//", "UNSUPPORTED" },
	{ "/v2/_catalog/", "UNSUPPORTED" },
	{ "/v2/_catalogs", "UNSUPPORTED" },
	{ "/v2/r/img", "UNSUPPORTED" },
	{ "/v2/r/img/", "UNSUPPORTED" },
	{ "/v2/r/img/manifests", "UNSUPPORTED" },
	{ "/v2/r/img/manifests/", "UNSUPPORTED" },
	{ "/v2/r/img/manifests/latest/", "UNSUPPORTED" },
	{ "/v2/r/img/Manifests/latest", "UNSUPPORTED" },
	{ "/v2/r/img/tags", "UNSUPPORTED" },
	{ "/v2/r/img/tags/", "UNSUPPORTED" },
	{ "/v2/r/img/tags/list/", "UNSUPPORTED" },
	{ "/v2/r/img/tags/lists", "UNSUPPORTED" },
	{ "/v2/r/img/blobs", "UNSUPPORTED" },
	{ "/v2/r/img/blobs/", "UNSUPPORTED" },
	{ "/v2/r/img/blobs/" D256 "/", "UNSUPPORTED" },
	{ "/v2/r/img/blobs/uploads/abc/", "UNSUPPORTED" },
	{ "/v2/r/img/blobs/uploads//", "UNSUPPORTED" },
	{ "/v2/r/img/referrers", "UNSUPPORTED" },
	{ "/v2/r/img/referrers/", "UNSUPPORTED" },
	{ "/v2/r/a/blobs/sha256:../../x", "UNSUPPORTED" },
	{ "/v2/r/a/manifests/../../x", "UNSUPPORTED" },
	{ "/v2/r/a/manifests/a/b", "UNSUPPORTED" },
	/* Names. */
	{ "/v2/manifests/latest", "NAME_INVALID" },
	{ "/v2//manifests/latest", "NAME_INVALID" },
	{ "/v2/tags/list", "NAME_INVALID" },
	{ "/v2/blobs/uploads/", "NAME_INVALID" },
	{ "/v2/blobs/" D256, "NAME_INVALID" },
	{ "/v2/alpine/manifests/latest", "NAME_INVALID" },
	{ "/v2/r/manifests/latest", "NAME_INVALID" },
	{ "/v2/r/blobs/uploads/", "NAME_INVALID" },
	{ "/v2/r/tags/list", "NAME_INVALID" },
	{ "/v2/r/../etc/manifests/x", "NAME_INVALID" },
	{ "/v2/r/./img/manifests/x", "NAME_INVALID" },
	{ "/v2/../r/img/manifests/x", "NAME_INVALID" },
	{ "/v2/./r/img/manifests/x", "NAME_INVALID" },
	{ "/v2/r/img/../../../etc/passwd/manifests/x", "NAME_INVALID" },
	{ "/v2/r/..", "UNSUPPORTED" },
	{ "/v2/r/img/../tags/list", "NAME_INVALID" },
	{ "/v2/r//img/manifests/x", "NAME_INVALID" },
	{ "/v2/r/img//manifests/x", "NAME_INVALID" },
	{ "/v2/r/img/./manifests/x", "NAME_INVALID" },
	{ "/v2//r/img/manifests/x", "NAME_INVALID" },
	{ "/v2/r/Img/manifests/x", "NAME_INVALID" },
	{ "/v2/R/img/manifests/x", "NAME_INVALID" },
	{ "/v2/1r/img/manifests/x", "NAME_INVALID" },
	{ "/v2/_r/img/manifests/x", "NAME_INVALID" },
	{ "/v2/-r/img/manifests/x", "NAME_INVALID" },
	{ "/v2/.r/img/manifests/x", "NAME_INVALID" },
	{ "/v2/_catalog/img/tags/list", "NAME_INVALID" },
	{ "/v2/r/img%2f..%2fx/manifests/x", "NAME_INVALID" },
	{ "/v2/r%2fimg/x/manifests/latest", "NAME_INVALID" },
	{ "/v2/r/%2e%2e/manifests/latest", "NAME_INVALID" },
	{ "/v2/r/a..b/tags/list", "NAME_INVALID" },
	{ "/v2/r/a._b/tags/list", "NAME_INVALID" },
	{ "/v2/r/a___b/tags/list", "NAME_INVALID" },
	{ "/v2/r/-a/tags/list", "NAME_INVALID" },
	{ "/v2/r/a-/tags/list", "NAME_INVALID" },
	{ "/v2/r/.a/tags/list", "NAME_INVALID" },
	{ "/v2/r/_a/tags/list", "NAME_INVALID" },
	{ "/v2/r/a_/tags/list", "NAME_INVALID" },
	{ "/v2/r/a b/tags/list", "NAME_INVALID" },
	{ "/v2/r/a\\b/tags/list", "NAME_INVALID" },
	{ "/v2/r/a:b/tags/list", "NAME_INVALID" },
	{ "/v2/r/img\n/tags/list", "NAME_INVALID" },
	{ "/v2/r/\xc3\xa9/tags/list", "NAME_INVALID" },
	{ "/v2/r:5000/img/tags/list", "NAME_INVALID" },
	{ "/v2/r/img?x=/manifests/latest", "NAME_INVALID" },
	/* A digest is no repository name component (':'). */
	{ "/v2/r/blobs/" D256 "/manifests/latest", "NAME_INVALID" },
	/* A bad name is reported before a bad reference. */
	{ "/v2/R/img/manifests/-x", "NAME_INVALID" },
	{ "/v2/r/img/../blobs/sha256:x", "NAME_INVALID" },
	/* Digests. */
	{ "/v2/r/img/blobs/latest", "DIGEST_INVALID" },
	{ "/v2/r/img/blobs/uploadsx", "DIGEST_INVALID" },
	{ "/v2/r/img/blobs/sha256:" HEX64_UPPER, "DIGEST_INVALID" },
	{ "/v2/r/img/blobs/SHA256:" HEX64, "DIGEST_INVALID" },
	{ "/v2/r/img/blobs/sha256:abc", "DIGEST_INVALID" },
	{ "/v2/r/img/blobs/sha256:" HEX64 "0", "DIGEST_INVALID" },
	{ "/v2/r/img/blobs/sha256:" "0123456789abcdef0123456789abcdef"
	    "0123456789abcdef0123456789abcdeg", "DIGEST_INVALID" },
	{ "/v2/r/img/blobs/md5:d41d8cd98f00b204e9800998ecf8427e",
	    "DIGEST_INVALID" },
	{ "/v2/r/img/blobs/sha512:" HEX64, "DIGEST_INVALID" },
	{ "/v2/r/img/blobs/sha256:..", "DIGEST_INVALID" },
	{ "/v2/r/img/blobs/..", "DIGEST_INVALID" },
	{ "/v2/r/img/blobs/sha256%3a" HEX64, "DIGEST_INVALID" },
	{ "/v2/r/img/manifests/sha256:short", "DIGEST_INVALID" },
	{ "/v2/r/img/manifests/sha256:" HEX64_UPPER, "DIGEST_INVALID" },
	{ "/v2/r/img/manifests/sha384:" HEX64, "DIGEST_INVALID" },
	{ "/v2/r/img/manifests/latest:1", "DIGEST_INVALID" },
	{ "/v2/r/img/manifests/sha256:xyz", "DIGEST_INVALID" },
	{ "/v2/r/img/manifests/sha512:", "DIGEST_INVALID" },
	{ "/v2/r/img/manifests/md5:d41d8cd98f00b204e9800998ecf8427e",
	    "DIGEST_INVALID" },
	{ "/v2/r/img/manifests/sha3-256:abcd", "DIGEST_INVALID" },
	{ "/v2/r/img/referrers/latest", "DIGEST_INVALID" },
	{ "/v2/r/img/referrers/sha256:" HEX64_UPPER, "DIGEST_INVALID" },
	/* Tags. */
	{ "/v2/r/img/manifests/-latest", "TAG_INVALID" },
	{ "/v2/r/img/manifests/.x", "TAG_INVALID" },
	{ "/v2/r/img/manifests/.", "TAG_INVALID" },
	{ "/v2/r/img/manifests/..", "TAG_INVALID" },
	{ "/v2/r/img/manifests/la%74est", "TAG_INVALID" },
	{ "/v2/r/img/manifests/latest?x=1", "TAG_INVALID" },
	{ "/v2/r/img/manifests/lat est", "TAG_INVALID" },
	{ "/v2/r/img/manifests/lat\test", "TAG_INVALID" },
	{ "/v2/r/img/manifests/\xc3\xa9", "TAG_INVALID" },
	/* A colon alone does not make a digest. */
	{ "/v2/r/img/manifests/:", "TAG_INVALID" },
	{ "/v2/r/img/manifests/v1:2.3", "TAG_INVALID" },
	{ "/v2/r/img/manifests/foo:bar", "TAG_INVALID" },
	{ "/v2/r/img/manifests/a:b:c", "TAG_INVALID" },
	{ "/v2/r/img/manifests/Latest:abc", "TAG_INVALID" },
	{ "/v2/r/img/manifests/-x:abc", "TAG_INVALID" },
	/* Upload ids. */
	{ "/v2/r/img/blobs/uploads/abc_def", "BLOB_UPLOAD_UNKNOWN" },
	{ "/v2/r/img/blobs/uploads/..", "BLOB_UPLOAD_UNKNOWN" },
	{ "/v2/r/img/blobs/uploads/a.b", "BLOB_UPLOAD_UNKNOWN" },
	{ "/v2/r/img/blobs/uploads/a%2e", "BLOB_UPLOAD_UNKNOWN" },
	{ "/v2/r/img/blobs/uploads/a:b", "BLOB_UPLOAD_UNKNOWN" },
};

START_TEST(test_v2_bad)
{
	size_t	 i;

	for (i = 0; i < NELEM(bad_paths); i++)
		expect_fail(bad_paths[i].path, bad_paths[i].code);
}
END_TEST

START_TEST(test_v2_null_path)
{
	expect_fail(NULL, "UNSUPPORTED");
}
END_TEST

START_TEST(test_v2_limits)
{
	struct v2_path	 p;
	char		*reg, *img, *tag, *id, *path;

	/* Registry of 64 characters passes, 65 does not. */
	reg = repeat('r', DEPOT_NAME_MAX);
	xasprintf(&path, "/v2/%s/img/tags/list", reg);
	parse_ok(path, &p);
	ck_assert_str_eq(p.registry, reg);
	v2_path_clear(&p);
	free(path);
	free(reg);
	reg = repeat('r', DEPOT_NAME_MAX + 1);
	xasprintf(&path, "/v2/%s/img/tags/list", reg);
	expect_fail(path, "NAME_INVALID");
	free(path);
	free(reg);

	/* Full name of 255 characters passes, 256 does not. */
	img = repeat('i', DEPOT_REPO_MAX - 2);
	xasprintf(&path, "/v2/r/%s/manifests/latest", img);
	parse_ok(path, &p);
	ck_assert_uint_eq(strlen(p.name), DEPOT_REPO_MAX);
	v2_path_clear(&p);
	free(path);
	free(img);
	img = repeat('i', DEPOT_REPO_MAX - 1);
	xasprintf(&path, "/v2/r/%s/manifests/latest", img);
	expect_fail(path, "NAME_INVALID");
	free(path);
	free(img);
	img = repeat('i', 100000);
	xasprintf(&path, "/v2/r/%s/manifests/latest", img);
	expect_fail(path, "NAME_INVALID");
	free(path);
	free(img);

	/* Tags of 128 characters pass, 129 do not. */
	tag = repeat('t', DEPOT_TAG_MAX);
	xasprintf(&path, "/v2/r/img/manifests/%s", tag);
	parse_ok(path, &p);
	ck_assert_str_eq(p.reference, tag);
	v2_path_clear(&p);
	free(path);
	free(tag);
	tag = repeat('t', DEPOT_TAG_MAX + 1);
	xasprintf(&path, "/v2/r/img/manifests/%s", tag);
	expect_fail(path, "TAG_INVALID");
	free(path);
	free(tag);

	/* Upload ids of 64 characters pass, 65 do not. */
	id = repeat('A', 64);
	xasprintf(&path, "/v2/r/img/blobs/uploads/%s", id);
	parse_ok(path, &p);
	ck_assert_int_eq(p.kind, V2_UPLOAD);
	ck_assert_str_eq(p.reference, id);
	v2_path_clear(&p);
	free(path);
	free(id);
	id = repeat('A', 65);
	xasprintf(&path, "/v2/r/img/blobs/uploads/%s", id);
	expect_fail(path, "BLOB_UPLOAD_UNKNOWN");
	free(path);
	free(id);

	/* Overlong digests. */
	id = repeat('a', 10000);
	xasprintf(&path, "/v2/r/img/blobs/sha256:%s", id);
	expect_fail(path, "DIGEST_INVALID");
	free(path);
	free(id);
}
END_TEST

/* One byte inside an image name: only the OCI alphabet passes. */
START_TEST(test_v2_every_byte_in_name)
{
	struct v2_path	 p;
	char		 path[64];
	int		 c, want, rc;

	for (c = 1; c < 256; c++) {
		snprintf(path, sizeof(path), "/v2/r/i%cg/manifests/latest", c);
		want = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '.' || c == '-' || c == '/';
		rc = ref_parse_v2_path(path, &p, NULL, NULL);
		ck_assert_msg((rc == 0) == want, "byte 0x%02x", c);
		v2_path_clear(&p);
	}
}
END_TEST

/* One byte inside a tag: letters, digits, '_', '.', '-' pass. */
START_TEST(test_v2_every_byte_in_tag)
{
	struct v2_path	 p;
	const char	*code;
	char		 path[64];
	int		 c, want, rc;

	for (c = 1; c < 256; c++) {
		snprintf(path, sizeof(path), "/v2/r/img/manifests/a%cb", c);
		want = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
		code = NULL;
		rc = ref_parse_v2_path(path, &p, &code, NULL);
		ck_assert_msg((rc == 0) == want, "byte 0x%02x", c);
		if (rc == -1 && c != '/' && c != ':')
			ck_assert_str_eq(code, "TAG_INVALID");
		v2_path_clear(&p);
	}
}
END_TEST

static Suite *
ref_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("ref");

	tc = tcase_create("name");
	tcase_add_test(tc, test_name_good);
	tcase_add_test(tc, test_name_bad);
	tcase_add_test(tc, test_name_length);
	tcase_add_test(tc, test_name_cause_quotes);
	tcase_add_test(tc, test_name_every_byte);
	suite_add_tcase(s, tc);

	tc = tcase_create("repository");
	tcase_add_test(tc, test_repo_good);
	tcase_add_test(tc, test_repo_bad);
	tcase_add_test(tc, test_repo_length);
	suite_add_tcase(s, tc);

	tc = tcase_create("tag");
	tcase_add_test(tc, test_tag_good);
	tcase_add_test(tc, test_tag_bad);
	tcase_add_test(tc, test_tag_length);
	suite_add_tcase(s, tc);

	tc = tcase_create("v2path");
	tcase_add_test(tc, test_v2_good);
	tcase_add_test(tc, test_v2_digest_fields);
	tcase_add_test(tc, test_v2_resets_output);
	tcase_add_test(tc, test_v2_bad);
	tcase_add_test(tc, test_v2_null_path);
	tcase_add_test(tc, test_v2_limits);
	tcase_add_test(tc, test_v2_every_byte_in_name);
	tcase_add_test(tc, test_v2_every_byte_in_tag);
	suite_add_tcase(s, tc);

	return (s);
}

CHECK_MAIN(ref_suite)
