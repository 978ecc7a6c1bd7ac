/*
 * upstream_auth_test.c: unit tests for upstream_auth.c: the
 * WWW-Authenticate parser, the realm trust rule, the token URL and the
 * token service's JSON answer.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "upstream/upstream_auth.h"
#include "lib/xmalloc.h"
#include "check_main.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

#define HUB_CHALLENGE	"Bearer realm=\"https://auth.docker.io/token\"," \
	"service=\"registry.docker.io\",scope=\"repository:library/alpine:pull\""

static void	 parse_ok(const char *, struct upstream_challenge *);
static void	 parse_fails(const char *);
static void	 token_fails(const char *);
static Suite	*upstream_auth_suite(void);

/* Parse a value that must yield a usable challenge. */
static void
parse_ok(const char *value, struct upstream_challenge *ch)
{
	char	*cause = NULL;

	ck_assert_msg(upstream_auth_challenge_parse(value, ch, &cause) == 0,
	    "refused \"%s\": %s", value, cause != NULL ? cause : "-");
	ck_assert_ptr_null(cause);
	ck_assert_ptr_nonnull(ch->ac_scheme_name);
}

/* A value that must be refused, with a cause, and nothing leaked. */
static void
parse_fails(const char *value)
{
	struct upstream_challenge	 ch;
	char			*cause = NULL;

	ck_assert_msg(upstream_auth_challenge_parse(value, &ch, &cause) == -1,
	    "accepted \"%s\"", value);
	ck_assert_ptr_nonnull(cause);
	ck_assert_uint_gt(strlen(cause), 0);
	ck_assert_ptr_null(ch.ac_scheme_name);
	ck_assert_ptr_null(ch.ac_realm);
	free(cause);
	/* cause is optional */
	ck_assert_int_eq(upstream_auth_challenge_parse(value, &ch, NULL), -1);
}

static void
token_fails(const char *json)
{
	struct upstream_token	 tok;
	char			*cause = NULL;

	ck_assert_msg(upstream_auth_token_parse(json, strlen(json), &tok, &cause) == -1,
	    "accepted %s", json);
	ck_assert_ptr_nonnull(cause);
	ck_assert_ptr_null(tok.at_token);
	free(cause);
}

/* ---- WWW-Authenticate ---- */

START_TEST(test_docker_hub)
{
	struct upstream_challenge	 ch;

	parse_ok(HUB_CHALLENGE, &ch);
	ck_assert_int_eq(ch.ac_scheme, AUTH_SCHEME_BEARER);
	ck_assert_str_eq(ch.ac_scheme_name, "Bearer");
	ck_assert_str_eq(ch.ac_realm, "https://auth.docker.io/token");
	ck_assert_str_eq(ch.ac_service, "registry.docker.io");
	ck_assert_str_eq(ch.ac_scope, "repository:library/alpine:pull");
	ck_assert_ptr_null(ch.ac_error);
	upstream_auth_challenge_clear(&ch);
	ck_assert_ptr_null(ch.ac_realm);
	upstream_auth_challenge_clear(&ch);
	upstream_auth_challenge_clear(NULL);
}
END_TEST

START_TEST(test_params)
{
	struct upstream_challenge	 ch;

	/* A comma inside quotes, the error parameter, unknown parameters. */
	parse_ok("Bearer realm=\"https://auth.docker.io/token\","
	    "service=\"registry.docker.io\","
	    "scope=\"repository:samalba/my-app:pull,push\","
	    "error=\"insufficient_scope\",extra=whatever", &ch);
	ck_assert_str_eq(ch.ac_scope, "repository:samalba/my-app:pull,push");
	ck_assert_str_eq(ch.ac_error, "insufficient_scope");
	upstream_auth_challenge_clear(&ch);

	/* Blanks around '=' and ',', token values, any case. */
	parse_ok("  bEaReR   REALM = \"https://r.example/t\" ,Service=svc.x ,"
	    " scope = \"a b\"  ", &ch);
	ck_assert_int_eq(ch.ac_scheme, AUTH_SCHEME_BEARER);
	ck_assert_str_eq(ch.ac_scheme_name, "bEaReR");
	ck_assert_str_eq(ch.ac_realm, "https://r.example/t");
	ck_assert_str_eq(ch.ac_service, "svc.x");
	ck_assert_str_eq(ch.ac_scope, "a b");
	upstream_auth_challenge_clear(&ch);

	/* Empty list elements are allowed by the #rule. */
	parse_ok(",, Bearer realm=\"r\",, service=\"s\" ,", &ch);
	ck_assert_str_eq(ch.ac_realm, "r");
	ck_assert_str_eq(ch.ac_service, "s");
	upstream_auth_challenge_clear(&ch);
}
END_TEST

START_TEST(test_escapes)
{
	struct upstream_challenge	 ch;

	parse_ok("Bearer realm=\"https://a.example/t\\\"x\\\\y\","
	    "service=\"s\\vc\",scope=\"\"", &ch);
	ck_assert_str_eq(ch.ac_realm, "https://a.example/t\"x\\y");
	ck_assert_str_eq(ch.ac_service, "svc");
	ck_assert_str_eq(ch.ac_scope, "");
	upstream_auth_challenge_clear(&ch);
}
END_TEST

START_TEST(test_basic)
{
	struct upstream_challenge	 ch;

	parse_ok("Basic realm=\"Registry Realm\"", &ch);
	ck_assert_int_eq(ch.ac_scheme, AUTH_SCHEME_BASIC);
	ck_assert_str_eq(ch.ac_realm, "Registry Realm");
	ck_assert_ptr_null(ch.ac_service);
	upstream_auth_challenge_clear(&ch);

	parse_ok("basic", &ch);
	ck_assert_int_eq(ch.ac_scheme, AUTH_SCHEME_BASIC);
	ck_assert_ptr_null(ch.ac_realm);
	upstream_auth_challenge_clear(&ch);
}
END_TEST

START_TEST(test_multiple)
{
	struct upstream_challenge	*list, ch;
	char			*cause = NULL;
	size_t			 n;
	const char		*rfc = "Newauth realm=\"apps\", type=1, "
	    "title=\"Login to \\\"apps\\\"\", Basic realm=\"simple\"";

	/* RFC 7235's own example. */
	ck_assert_int_eq(upstream_auth_challenge_parse_all(rfc, &list, &n, &cause), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(list[0].ac_scheme, AUTH_SCHEME_OTHER);
	ck_assert_str_eq(list[0].ac_scheme_name, "Newauth");
	ck_assert_str_eq(list[0].ac_realm, "apps");
	ck_assert_int_eq(list[1].ac_scheme, AUTH_SCHEME_BASIC);
	ck_assert_str_eq(list[1].ac_realm, "simple");
	upstream_auth_challenge_free_all(list, n);
	parse_ok(rfc, &ch);
	ck_assert_int_eq(ch.ac_scheme, AUTH_SCHEME_BASIC);
	ck_assert_str_eq(ch.ac_realm, "simple");
	upstream_auth_challenge_clear(&ch);

	/* Bearer is preferred wherever it is. */
	parse_ok("Basic realm=\"b\", Bearer realm=\"https://a/t\",service=s",
	    &ch);
	ck_assert_int_eq(ch.ac_scheme, AUTH_SCHEME_BEARER);
	ck_assert_str_eq(ch.ac_realm, "https://a/t");
	ck_assert_str_eq(ch.ac_service, "s");
	upstream_auth_challenge_clear(&ch);

	/* token68 credentials, then a parameterless scheme. */
	ck_assert_int_eq(upstream_auth_challenge_parse_all("Negotiate abc+/d==, "
	    "NTLM, Basic realm=x", &list, &n, &cause), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(list[0].ac_scheme_name, "Negotiate");
	ck_assert_ptr_null(list[0].ac_realm);
	ck_assert_str_eq(list[1].ac_scheme_name, "NTLM");
	ck_assert_str_eq(list[2].ac_realm, "x");
	upstream_auth_challenge_free_all(list, n);
	upstream_auth_challenge_free_all(NULL, 0);
	ck_assert_ptr_null(cause);
}
END_TEST

static const char *garbage[] = {
	"", "   ", ",", ", ,", "=", "=x", "\"Bearer\"", "Bearer realm=",
	"Bearer realm=\"unterminated", "Bearer realm=\"x\\", "Bearer realm",
	"Bearer realm=\"x\" junk", "Bearer realm=\"x\"junk",
	"Bearer realm=\"a\x01b\"", "Bearer realm=\"a\nb\"",
	"Bearer realm=\"x\",realm=\"y\"", "Bearer realm=\"x\",REALM=y",
	"Bearer realm=@", "Bearer realm==", "Bearer \x01", "Bearer/x",
	"Bearer ,", "Bearer service=\"s\"", "Bearer realm=\"\"",
	"Digest nonce=\"1\", Negotiate", "Negotiate abc==, realm=x",
	"Bearer realm=\"x\", ,=", "Bearer realm=\"x\" , \"y\"",
	"B\xc3\xa9" "arer realm=x", "Bearer realm=x;y",
};

START_TEST(test_garbage)
{
	size_t	 i;

	for (i = 0; i < NELEM(garbage); i++)
		parse_fails(garbage[i]);
	parse_fails(NULL);
}
END_TEST

/* Random input never crashes and always ends in a clean answer. */
START_TEST(test_random)
{
	static const char	 alphabet[] = "Bearer Basic realm=\"\\,; \t"
	    "abc=/+\x01\xff";
	struct upstream_challenge	*list;
	char			 buf[64], *cause, *big;
	size_t			 i, j, len, n;
	unsigned int		 seed = 12345;
	int			 rc;

	for (i = 0; i < 20000; i++) {
		len = rand_r(&seed) % (sizeof(buf) - 1);
		for (j = 0; j < len; j++)
			buf[j] = alphabet[rand_r(&seed) %
			    (sizeof(alphabet) - 1)];
		buf[len] = '\0';
		cause = NULL;
		rc = upstream_auth_challenge_parse_all(buf, &list, &n, &cause);
		if (rc == 0) {
			ck_assert_uint_gt(n, 0);
			ck_assert_ptr_null(cause);
			upstream_auth_challenge_free_all(list, n);
		} else {
			ck_assert_int_eq(rc, -1);
			ck_assert_ptr_nonnull(cause);
			ck_assert_ptr_null(list);
			free(cause);
		}
	}
	/* Too long. */
	big = xmalloc(70000);
	memset(big, 'a', 69999);
	big[69999] = '\0';
	memcpy(big, "Basic realm=", 12);
	parse_fails(big);
	free(big);
}
END_TEST

/* ---- realm trust ---- */

struct trust_case {
	const char	*realm;
	const char	*upstream;
	int		 want;
};

static const struct trust_case trust_cases[] = {
	{ "https://auth.docker.io/token", "https://registry-1.docker.io", 1 },
	{ "https://AUTH.Docker.IO/token", "https://registry-1.docker.io/", 1 },
	{ "https://auth.docker.io./token", "https://registry-1.docker.io", 1 },
	/* Docker Hub's known token service; not the rest of its domain. */
	{ "https://docker.io/token", "https://registry-1.docker.io", 0 },
	{ "https://a.b.docker.io/token", "https://registry-1.docker.io", 0 },
	{ "https://auth.docker.io:443/token", "https://registry-1.docker.io",
	    1 },
	{ "https://auth.docker.io:8443/token", "https://registry-1.docker.io",
	    0 },
	{ "https://auth.docker.io/token", "https://mirror.example.com", 0 },
	{ "https://registry-1.docker.io/token", "https://registry-1.docker.io",
	    1 },
	{ "https://gitlab.com/jwt/auth", "https://registry.gitlab.com", 1 },
	{ "https://ghcr.io/token", "https://ghcr.io", 1 },
	{ "http://reg.local:5000/auth", "http://reg.local:5000/v2/", 1 },
	{ "https://10.0.0.5/token", "https://10.0.0.5:443", 1 },
	/* Same host, another port or scheme: another origin. */
	{ "https://quay.io:8443/v2/auth", "https://quay.io", 0 },
	{ "http://reg.local:5001/auth", "http://reg.local:5000", 0 },
	{ "https://reg.local:5001/auth", "http://reg.local:5000", 0 },
	{ "https://reg.local:5000/auth", "http://reg.local:5000", 0 },
	{ "https://10.0.0.5:5001/token", "https://10.0.0.5:5000", 0 },
	/* not trusted */
	{ "https://evil.com/token", "https://registry-1.docker.io", 0 },
	{ "http://auth.docker.io/token", "https://registry-1.docker.io", 0 },
	{ "https://auth.docker.io.evil.com/token",
	    "https://registry-1.docker.io", 0 },
	{ "https://evildocker.io/token", "https://registry-1.docker.io", 0 },
	{ "https://auth.docker.io@evil.com/token",
	    "https://registry-1.docker.io", 0 },
	{ "https://user@auth.docker.io/token", "https://registry-1.docker.io",
	    0 },
	{ "https://u:p@registry-1.docker.io/", "https://registry-1.docker.io",
	    0 },
	{ "https://auth.io/token", "https://ghcr.io", 0 },
	{ "https://io/token", "https://ghcr.io", 0 },
	{ "https://evil.co.uk/token", "https://example.co.uk", 0 },
	{ "https://co.uk/token", "https://example.co.uk", 0 },
	{ "https://auth.example.co.uk/t", "https://reg.example.co.uk", 0 },
	{ "https://auth.example.com/t", "https://reg.example.com", 0 },
	{ "https://1.0.0.5/token", "https://10.0.0.5", 0 },
	{ "https://0.0.5/token", "https://10.0.0.5", 0 },
	{ "https://[::2]/token", "https://[::1]", 0 },
	{ "ftp://auth.docker.io/token", "https://registry-1.docker.io", 0 },
	{ "file:///etc/passwd", "https://registry-1.docker.io", 0 },
	{ "not a url", "https://registry-1.docker.io", 0 },
	{ "", "https://registry-1.docker.io", 0 },
	{ "https://auth.docker.io/token", "", 0 },
	{ "/token", "https://registry-1.docker.io", 0 },
};

START_TEST(test_trust)
{
	const struct trust_case	*tc;
	size_t			 i;

	for (i = 0; i < NELEM(trust_cases); i++) {
		tc = &trust_cases[i];
		ck_assert_msg(upstream_auth_realm_trusted(tc->realm, tc->upstream,
		    NULL, 0) == tc->want, "realm %s upstream %s: want %d",
		    tc->realm, tc->upstream, tc->want);
	}
	ck_assert_int_eq(upstream_auth_realm_trusted(NULL, "https://a.b", NULL, 0), 0);
	ck_assert_int_eq(upstream_auth_realm_trusted("https://a.b", NULL, NULL, 0), 0);
}
END_TEST

/* Origins that differ by one part, and default ports. */
static const struct trust_case origin_cases[] = {
	{ "https://h.example", "https://h.example", 1 },
	{ "https://h.example/a/b?c#d", "https://h.example/x", 1 },
	{ "https://H.Example./", "https://h.example", 1 },
	{ "https://h.example:443/", "https://h.example", 1 },
	{ "http://h.example:80/", "http://h.example/token", 1 },
	{ "http://h.example:5000/v2/", "http://h.example:5000/token", 1 },
	{ "https://[::1]:5000/", "https://[::1]:5000/t", 1 },
	/* one part differs */
	{ "http://h.example", "https://h.example", 0 },
	{ "http://h.example:443", "https://h.example", 0 },
	{ "https://h.example:80", "http://h.example", 0 },
	{ "https://h.example", "https://g.example", 0 },
	{ "https://h.example", "https://a.h.example", 0 },
	{ "http://h:5000/", "http://h:5001/token", 0 },
	{ "http://h/", "http://h:8080/token", 0 },
	{ "https://h.example:444", "https://h.example", 0 },
	{ "https://[::1]:5000/", "https://[::2]:5000/", 0 },
	{ "https://127.0.0.1:5000/", "https://[::1]:5000/", 0 },
	/* not http(s), or no URL */
	{ "ftp://h.example", "ftp://h.example", 0 },
	{ "h.example", "https://h.example", 0 },
	{ "", "https://h.example", 0 },
};

START_TEST(test_same_origin)
{
	const struct trust_case	*tc;
	size_t			 i;

	for (i = 0; i < NELEM(origin_cases); i++) {
		tc = &origin_cases[i];
		ck_assert_msg(upstream_auth_same_origin(tc->realm, tc->upstream) ==
		    tc->want, "%s vs %s: want %d", tc->realm, tc->upstream,
		    tc->want);
		ck_assert_msg(upstream_auth_same_origin(tc->upstream, tc->realm) ==
		    tc->want, "%s vs %s: want %d", tc->upstream, tc->realm,
		    tc->want);
	}
	ck_assert_int_eq(upstream_auth_same_origin(NULL, "https://h"), 0);
	ck_assert_int_eq(upstream_auth_same_origin("https://h", NULL), 0);
}
END_TEST

START_TEST(test_trust_extra)
{
	const char	*extra[] = { "https://login.example.net/oauth",
	    "http://sso.corp/", "https://auth.other.org" };
	const char	*up = "https://registry-1.docker.io";

	ck_assert_int_eq(upstream_auth_realm_trusted("https://login.example.net/oauth",
	    up, extra, 3), 1);
	ck_assert_int_eq(upstream_auth_realm_trusted(
	    "https://login.example.net/oauth/token?x=1", up, extra, 3), 1);
	ck_assert_int_eq(upstream_auth_realm_trusted("https://login.example.net/oauth?a",
	    up, extra, 3), 1);
	/* The admin's entry also allows http. */
	ck_assert_int_eq(upstream_auth_realm_trusted("http://sso.corp/token", up,
	    extra, 3), 1);
	ck_assert_int_eq(upstream_auth_realm_trusted("https://auth.other.org/t", up,
	    extra, 3), 1);
	/* Prefixes only match at a boundary. */
	ck_assert_int_eq(upstream_auth_realm_trusted(
	    "https://login.example.net/oauthx", up, extra, 3), 0);
	ck_assert_int_eq(upstream_auth_realm_trusted(
	    "https://auth.other.org.evil.com/t", up, extra, 3), 0);
	ck_assert_int_eq(upstream_auth_realm_trusted(
	    "https://auth.other.org@evil.com/t", up, extra, 3), 0);
	ck_assert_int_eq(upstream_auth_realm_trusted(
	    "https://auth.other.org:444/t", up, extra, 3), 0);
	/* Entries past n are not consulted. */
	ck_assert_int_eq(upstream_auth_realm_trusted("https://auth.other.org/t", up,
	    extra, 2), 0);
	ck_assert_int_eq(upstream_auth_realm_trusted("https://login.example.net/oauth",
	    up, NULL, 0), 0);
}
END_TEST

/* ---- token URL ---- */

START_TEST(test_token_url)
{
	const char	*one[] = { "repository:library/alpine:pull" };
	const char	*two[] = { "repository:a/b:pull,push", "",
	    "registry:catalog:*" };
	const char	*odd[] = { "a b&c=d\xc3\xa9~._-" };
	char		*u;

	u = upstream_auth_token_url("https://auth.docker.io/token", "registry.docker.io",
	    one, 1);
	ck_assert_str_eq(u, "https://auth.docker.io/token"
	    "?service=registry.docker.io"
	    "&scope=repository%3Alibrary%2Falpine%3Apull");
	free(u);

	u = upstream_auth_token_url("https://r.example/t?client=x", "s", two, 3);
	ck_assert_str_eq(u, "https://r.example/t?client=x&service=s"
	    "&scope=repository%3Aa%2Fb%3Apull%2Cpush"
	    "&scope=registry%3Acatalog%3A%2A");
	free(u);

	u = upstream_auth_token_url("https://r.example/t?", NULL, odd, 1);
	ck_assert_str_eq(u, "https://r.example/t?"
	    "scope=a%20b%26c%3Dd%C3%A9~._-");
	free(u);

	u = upstream_auth_token_url("https://r.example/t", "", NULL, 0);
	ck_assert_str_eq(u, "https://r.example/t");
	free(u);

	ck_assert_ptr_null(upstream_auth_token_url(NULL, "s", one, 1));
	ck_assert_ptr_null(upstream_auth_token_url("", "s", one, 1));
	ck_assert_ptr_null(upstream_auth_token_url("https://r/t#frag", "s", one, 1));
	ck_assert_ptr_null(upstream_auth_token_url("https://r/t x", "s", one, 1));
	ck_assert_ptr_null(upstream_auth_token_url("https://r/t\r\nX: y", "s", one, 1));
}
END_TEST

/* ---- token JSON ---- */

START_TEST(test_token_json)
{
	struct upstream_token	 t;
	char			*cause = NULL;
	const char		*j;

	j = "{\"token\":\"abc.def.ghi\",\"expires_in\":300,"
	    "\"issued_at\":\"2024-01-02T03:04:05Z\"}";
	ck_assert_int_eq(upstream_auth_token_parse(j, strlen(j), &t, &cause), 0);
	ck_assert_str_eq(t.at_token, "abc.def.ghi");
	ck_assert_int_eq(t.at_expires_in, 300);
	ck_assert_int_eq((long long)t.at_issued_at, 1704164645LL);
	upstream_auth_token_clear(&t);
	ck_assert_ptr_null(t.at_token);

	/* OAuth name, defaults. */
	j = "{\"access_token\":\"xyz\"}";
	ck_assert_int_eq(upstream_auth_token_parse(j, strlen(j), &t, &cause), 0);
	ck_assert_str_eq(t.at_token, "xyz");
	ck_assert_int_eq(t.at_expires_in, 60);
	ck_assert_int_eq((long long)t.at_issued_at, 0);
	upstream_auth_token_clear(&t);

	/* Both names: "token" wins; an empty one falls back. */
	j = "{\"token\":\"t1\",\"access_token\":\"t2\"}";
	ck_assert_int_eq(upstream_auth_token_parse(j, strlen(j), &t, &cause), 0);
	ck_assert_str_eq(t.at_token, "t1");
	upstream_auth_token_clear(&t);
	j = "{\"token\":\"\",\"access_token\":\"t2\",\"refresh_token\":\"r\"}";
	ck_assert_int_eq(upstream_auth_token_parse(j, strlen(j), &t, &cause), 0);
	ck_assert_str_eq(t.at_token, "t2");
	upstream_auth_token_clear(&t);

	/* Lifetimes: minimum, maximum, wrong type, fraction. */
	j = "{\"token\":\"a\",\"expires_in\":10}";
	ck_assert_int_eq(upstream_auth_token_parse(j, strlen(j), &t, &cause), 0);
	ck_assert_int_eq(t.at_expires_in, 60);
	upstream_auth_token_clear(&t);
	j = "{\"token\":\"a\",\"expires_in\":-5}";
	ck_assert_int_eq(upstream_auth_token_parse(j, strlen(j), &t, &cause), 0);
	ck_assert_int_eq(t.at_expires_in, 60);
	upstream_auth_token_clear(&t);
	j = "{\"token\":\"a\",\"expires_in\":1e300}";
	ck_assert_int_eq(upstream_auth_token_parse(j, strlen(j), &t, &cause), 0);
	ck_assert_int_eq(t.at_expires_in, 86400);
	upstream_auth_token_clear(&t);
	j = "{\"token\":\"a\",\"expires_in\":99999999999}";
	ck_assert_int_eq(upstream_auth_token_parse(j, strlen(j), &t, &cause), 0);
	ck_assert_int_eq(t.at_expires_in, 86400);
	upstream_auth_token_clear(&t);
	j = "{\"token\":\"a\",\"expires_in\":\"300\"}";
	ck_assert_int_eq(upstream_auth_token_parse(j, strlen(j), &t, &cause), 0);
	ck_assert_int_eq(t.at_expires_in, 60);
	upstream_auth_token_clear(&t);
	j = "{\"token\":\"a\",\"expires_in\":3600.7}";
	ck_assert_int_eq(upstream_auth_token_parse(j, strlen(j), &t, &cause), 0);
	ck_assert_int_eq(t.at_expires_in, 3600);
	upstream_auth_token_clear(&t);

	/* issued_at with a fraction and an offset; unreadable is 0. */
	j = "{\"token\":\"a\",\"issued_at\":\"2024-01-02T05:04:05.123456+02:00\"}";
	ck_assert_int_eq(upstream_auth_token_parse(j, strlen(j), &t, &cause), 0);
	ck_assert_int_eq((long long)t.at_issued_at, 1704164645LL);
	upstream_auth_token_clear(&t);
	j = "{\"token\":\"a\",\"issued_at\":\"yesterday\"}";
	ck_assert_int_eq(upstream_auth_token_parse(j, strlen(j), &t, &cause), 0);
	ck_assert_int_eq((long long)t.at_issued_at, 0);
	upstream_auth_token_clear(&t);
	j = "{\"token\":\"a\",\"issued_at\":\"2024-01-02T03:04:05\"}";
	ck_assert_int_eq(upstream_auth_token_parse(j, strlen(j), &t, &cause), 0);
	ck_assert_int_eq((long long)t.at_issued_at, 0);
	upstream_auth_token_clear(&t);
	ck_assert_ptr_null(cause);

	/* Only len bytes are read. */
	j = "{\"token\":\"a\"}trailing";
	ck_assert_int_eq(upstream_auth_token_parse(j, 13, &t, &cause), 0);
	ck_assert_str_eq(t.at_token, "a");
	upstream_auth_token_clear(&t);
	upstream_auth_token_clear(NULL);
}
END_TEST

START_TEST(test_token_json_bad)
{
	token_fails("");
	token_fails("not json");
	token_fails("[]");
	token_fails("\"token\"");
	token_fails("{}");
	token_fails("{\"token\":5}");
	token_fails("{\"token\":null,\"access_token\":[]}");
	token_fails("{\"token\":\"\"}");
	token_fails("{\"token\":\"a b\"}");
	token_fails("{\"token\":\"a\\r\\nX-Evil: 1\"}");
	token_fails("{\"token\":\"a\\u0000b\"}");
	token_fails("{\"token\":\"caf\\u00e9\"}");
	token_fails("{\"token\":\"a\"");
}
END_TEST

static Suite *
upstream_auth_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("upstream_auth");
	tc = tcase_create("challenge");
	tcase_add_test(tc, test_docker_hub);
	tcase_add_test(tc, test_params);
	tcase_add_test(tc, test_escapes);
	tcase_add_test(tc, test_basic);
	tcase_add_test(tc, test_multiple);
	tcase_add_test(tc, test_garbage);
	tcase_add_test(tc, test_random);
	suite_add_tcase(s, tc);
	tc = tcase_create("trust");
	tcase_add_test(tc, test_trust);
	tcase_add_test(tc, test_same_origin);
	tcase_add_test(tc, test_trust_extra);
	suite_add_tcase(s, tc);
	tc = tcase_create("token");
	tcase_add_test(tc, test_token_url);
	tcase_add_test(tc, test_token_json);
	tcase_add_test(tc, test_token_json_bad);
	suite_add_tcase(s, tc);
	return (s);
}

CHECK_MAIN(upstream_auth_suite)
