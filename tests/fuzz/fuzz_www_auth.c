/*
 * fuzz_www_auth.c: libFuzzer target for upstream_auth.c, the client side
 * of registry authentication. The input is fields split at 0xff bytes: a
 * WWW-Authenticate value, two URLs, and a token service answer (JSON).
 * - A challenge list parsed, printed back with every parameter quoted,
 *   parses to the same list; a refusal says why.
 * - Same origin is symmetric, and a URL that has an origin has its own.
 * - A token URL keeps the realm in front and carries the service and
 *   scope so that a form decoder gives them back.
 * - A token accepted is visible ASCII with a lifetime of 60 s to a day.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "upstream/upstream_auth.h"
#include "fuzz_util.h"

static void	fuzz_str_add(char **, size_t *, size_t *, const char *);
static void	fuzz_quoted_add(char **, size_t *, size_t *, const char *,
		    const char *);
static int	fuzz_str_eq(const char *, const char *);
static void	fuzz_challenges(const char *);
static void	fuzz_origins(const char *, const char *);
static void	fuzz_token_url(const char *, const char *, const char *);
static void	fuzz_token(const char *);

static void
fuzz_str_add(char **buf, size_t *len, size_t *cap, const char *s)
{
	size_t	 n = strlen(s);

	if (*len + n + 1 > *cap) {
		*cap = (*len + n + 1) * 2;
		if ((*buf = realloc(*buf, *cap)) == NULL)
			abort();
	}
	memcpy(*buf + *len, s, n + 1);
	*len += n;
}

/* ` name="value"` with \ and " escaped. */
static void
fuzz_quoted_add(char **buf, size_t *len, size_t *cap, const char *name,
    const char *value)
{
	char	 c[3];

	if (value == NULL)
		return;
	fuzz_str_add(buf, len, cap, name);
	fuzz_str_add(buf, len, cap, "=\"");
	for (; *value != '\0'; value++) {
		c[0] = '\\';
		c[1] = *value;
		c[2] = '\0';
		fuzz_str_add(buf, len, cap, *value == '"' || *value == '\\' ?
		    c : c + 1);
	}
	fuzz_str_add(buf, len, cap, "\",");
}

static int
fuzz_str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a == b);
	return (strcmp(a, b) == 0);
}

static void
fuzz_challenges(const char *value)
{
	struct upstream_challenge	*list, *again, one;
	char				*cause = NULL, *buf = NULL;
	size_t				 n, n2, i, pick, len = 0, cap = 0;

	if (upstream_auth_challenge_parse_all(value, &list, &n, &cause) == -1) {
		if (cause == NULL || *cause == '\0' || list != NULL || n != 0)
			abort();
		free(cause);
		if (upstream_auth_challenge_parse(value, &one, &cause) != -1 ||
		    cause == NULL)
			abort();
		free(cause);
		return;
	}
	if (n == 0 || list == NULL || cause != NULL)
		abort();
	fuzz_str_add(&buf, &len, &cap, "");
	for (i = 0; i < n; i++) {
		if (list[i].ac_scheme_name == NULL ||
		    list[i].ac_scheme_name[0] == '\0')
			abort();
		if ((list[i].ac_scheme == AUTH_SCHEME_BASIC) !=
		    (strcasecmp(list[i].ac_scheme_name, "basic") == 0) ||
		    (list[i].ac_scheme == AUTH_SCHEME_BEARER) !=
		    (strcasecmp(list[i].ac_scheme_name, "bearer") == 0))
			abort();
		fuzz_str_add(&buf, &len, &cap, list[i].ac_scheme_name);
		fuzz_str_add(&buf, &len, &cap, " ");
		fuzz_quoted_add(&buf, &len, &cap, "realm", list[i].ac_realm);
		fuzz_quoted_add(&buf, &len, &cap, "service",
		    list[i].ac_service);
		fuzz_quoted_add(&buf, &len, &cap, "scope", list[i].ac_scope);
		fuzz_quoted_add(&buf, &len, &cap, "error", list[i].ac_error);
		fuzz_str_add(&buf, &len, &cap, ", ");
	}
	/* Printed back (when not too long for the parser), the same. */
	if (len <= 16384) {
		if (upstream_auth_challenge_parse_all(buf, &again, &n2,
		    &cause) == -1 || n2 != n)
			abort();
		for (i = 0; i < n; i++)
			if (strcmp(again[i].ac_scheme_name,
			    list[i].ac_scheme_name) != 0 ||
			    again[i].ac_scheme != list[i].ac_scheme ||
			    !fuzz_str_eq(again[i].ac_realm, list[i].ac_realm) ||
			    !fuzz_str_eq(again[i].ac_service,
			    list[i].ac_service) ||
			    !fuzz_str_eq(again[i].ac_scope, list[i].ac_scope) ||
			    !fuzz_str_eq(again[i].ac_error, list[i].ac_error))
				abort();
		upstream_auth_challenge_free_all(again, n2);
	}
	free(buf);

	/* The one picked: the first Bearer, else the first Basic. */
	pick = n;
	for (i = 0; i < n && pick == n; i++)
		if (list[i].ac_scheme == AUTH_SCHEME_BEARER)
			pick = i;
	for (i = 0; i < n && pick == n; i++)
		if (list[i].ac_scheme == AUTH_SCHEME_BASIC)
			pick = i;
	if (upstream_auth_challenge_parse(value, &one, &cause) == 0) {
		if (pick == n || cause != NULL ||
		    one.ac_scheme != list[pick].ac_scheme ||
		    strcmp(one.ac_scheme_name, list[pick].ac_scheme_name) != 0 ||
		    !fuzz_str_eq(one.ac_realm, list[pick].ac_realm))
			abort();
		if (one.ac_scheme == AUTH_SCHEME_BEARER &&
		    (one.ac_realm == NULL || one.ac_realm[0] == '\0'))
			abort();
		upstream_auth_challenge_clear(&one);
	} else {
		if (cause == NULL)
			abort();
		free(cause);
		if (pick != n && (list[pick].ac_scheme != AUTH_SCHEME_BEARER ||
		    (list[pick].ac_realm != NULL &&
		    list[pick].ac_realm[0] != '\0')))
			abort();
	}
	upstream_auth_challenge_free_all(list, n);
}

static void
fuzz_origins(const char *a, const char *b)
{
	const char	*extra[1];
	int		 ab, ba;

	ab = upstream_auth_same_origin(a, b);
	ba = upstream_auth_same_origin(b, a);
	if (ab != ba || (ab != 0 && ab != 1))
		abort();
	if (ab == 1 && (upstream_auth_same_origin(a, a) != 1 ||
	    upstream_auth_same_origin(b, b) != 1))
		abort();
	extra[0] = b;
	if (upstream_auth_realm_trusted(a, b, extra, 1) < 0 ||
	    upstream_auth_realm_trusted(a, b, NULL, 0) < 0)
		abort();
	/* A realm with user info never gets credentials. */
	if (strchr(a, '@') == NULL && strchr(a, '\\') == NULL &&
	    ab == 1 && upstream_auth_realm_trusted(a, b, NULL, 0) != 1)
		abort();
}

static void
fuzz_token_url(const char *realm, const char *service, const char *scope)
{
	struct evkeyvalq	 q;
	const char		*scopes[2], *v;
	char			*url;
	size_t			 rlen = strlen(realm);

	scopes[0] = scope;
	scopes[1] = "";
	if ((url = upstream_auth_token_url(realm, service, scopes, 2)) == NULL)
		return;
	if (strncmp(url, realm, rlen) != 0)
		abort();
	for (v = url; *v != '\0'; v++)
		if ((unsigned char)*v <= 0x20 || (unsigned char)*v >= 0x7f)
			abort();
	if (strchr(realm, '?') == NULL && url[rlen] != '\0') {
		if (url[rlen] != '?')
			abort();
		TAILQ_INIT(&q);
		if (evhttp_parse_query_str(url + rlen + 1, &q) != 0)
			abort();
		v = evhttp_find_header(&q, "service");
		if (service[0] != '\0' && (v == NULL || strcmp(v, service) != 0))
			abort();
		v = evhttp_find_header(&q, "scope");
		if (scope[0] != '\0' && (v == NULL || strcmp(v, scope) != 0))
			abort();
		evhttp_clear_headers(&q);
	}
	free(url);
}

static void
fuzz_token(const char *json)
{
	struct upstream_token	 t;
	char			*cause = NULL;
	const char		*p;

	memset(&t, 0, sizeof(t));
	if (upstream_auth_token_parse(json, strlen(json), &t, &cause) == -1) {
		if (cause == NULL)
			abort();
		free(cause);
		return;
	}
	if (cause != NULL || t.at_token == NULL || t.at_token[0] == '\0' ||
	    t.at_expires_in < AUTH_TOKEN_MIN_TTL || t.at_expires_in > 86400)
		abort();
	for (p = t.at_token; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			abort();
	upstream_auth_token_clear(&t);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*f[4];
	size_t	 i;

	fuzz_init_log();
	for (i = 0; i < 4; i++)
		if ((f[i] = fuzz_field(&data, &size)) == NULL)
			f[i] = fuzz_string(data, 0);
	fuzz_challenges(f[0]);
	fuzz_origins(f[1], f[2]);
	fuzz_token_url(f[1], f[2], f[0]);
	fuzz_token(f[3]);
	for (i = 0; i < 4; i++)
		free(f[i]);
	return (0);
}

#include "fuzz_main.h"
