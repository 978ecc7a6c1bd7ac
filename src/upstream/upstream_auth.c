/*
 * upstream_auth.c: what an upstream registry says when it wants
 * credentials, and the token dance that follows. Owns the RFC 7235
 * WWW-Authenticate parser, the one rule for which token realms may be
 * trusted with an upstream's credentials (by origin: scheme, host and
 * port), the token URL, and the token
 * service's JSON answer. URLs are parsed with libcurl's URL parser, the
 * same one that later connects, so both agree on what the host is.
 *
 * Grammar (RFC 7235 section 4.1, RFC 7230 section 3.2.6):
 *	challenge	= auth-scheme [ 1*SP ( token68 / #auth-param ) ]
 *	auth-param	= token BWS "=" BWS ( token / quoted-string )
 *	token68		= 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" )
 *			  *"="
 * Challenges and their parameters are all separated by commas; a new
 * challenge is recognised by a token that is not followed by "=".
 */
#include <sys/types.h>

#include <ctype.h>
#include <limits.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "upstream/upstream_auth.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

#define AUTH_HEADER_MAX		16384	/* longest value parsed */
#define AUTH_TOKEN_MAX_TTL	86400	/* refresh at least daily */

/* A growing string. */
struct upstream_auth_buf {
	char	*ab_data;
	size_t	 ab_len;
	size_t	 ab_size;
};

static void	upstream_auth_cause(char **, const char *, ...) PRINTFLIKE(2, 3);
static int	upstream_auth_tchar(int);
static int	upstream_auth_t68char(int);
static const char *upstream_auth_skip_ows(const char *);
static size_t	upstream_auth_token_len(const char *);
static int	upstream_auth_quoted_parse(const char **, char **, char **);
static int	upstream_auth_param_parse(const char **, char **, char **, char **);
static int	upstream_auth_param_set(struct upstream_challenge *, char *, char *,
		    char **);
static int	upstream_auth_param_end(const char **, char **);
static struct upstream_challenge *upstream_auth_challenge_add(struct upstream_challenge **,
		    size_t *, const char *, size_t);
struct upstream_auth_origin;
static void	upstream_auth_origin_clear(struct upstream_auth_origin *);
static int	upstream_auth_origin_parse(const char *, struct upstream_auth_origin *);
static int	upstream_auth_origin_equal(const struct upstream_auth_origin *,
		    const struct upstream_auth_origin *);
static int	upstream_auth_realm_listed(const struct upstream_auth_origin *, const char *);
static void	upstream_auth_buf_add(struct upstream_auth_buf *, const char *, size_t);
static void	upstream_auth_buf_add_encoded(struct upstream_auth_buf *, const char *);
static int	upstream_auth_token_chars_ok(const char *);
static time_t	upstream_auth_rfc3339(const char *);

/* Set *cause (when wanted) to a formatted message. */
static void
upstream_auth_cause(char **cause, const char *fmt, ...)
{
	va_list	 ap;

	if (cause == NULL)
		return;
	va_start(ap, fmt);
	xvasprintf(cause, fmt, ap);
	va_end(ap);
}

/* RFC 7230 tchar. */
static int
upstream_auth_tchar(int c)
{
	return (c > 0 && c < 0x80 && (isalnum(c) ||
	    strchr("!#$%&'*+-.^_`|~", c) != NULL));
}

static int
upstream_auth_t68char(int c)
{
	return (c > 0 && c < 0x80 && (isalnum(c) ||
	    strchr("-._~+/", c) != NULL));
}

static const char *
upstream_auth_skip_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return (p);
}

static size_t
upstream_auth_token_len(const char *p)
{
	size_t	 n = 0;

	while (upstream_auth_tchar((unsigned char)p[n]))
		n++;
	return (n);
}

/* A quoted-string at *pp (on its opening quote), unescaped into *out. */
static int
upstream_auth_quoted_parse(const char **pp, char **out, char **cause)
{
	const char	*p = *pp + 1;
	char		*buf, *q;

	buf = q = xmalloc(strlen(p) + 1);
	for (;;) {
		if (*p == '\0') {
			upstream_auth_cause(cause, "unterminated quoted string");
			goto fail;
		}
		if (*p == '"')
			break;
		if (*p == '\\')
			p++;
		if (*p == '\0' || (*p != '\t' && ((unsigned char)*p < 0x20 ||
		    *p == 0x7f))) {
			upstream_auth_cause(cause, "control character in a quoted "
			    "string");
			goto fail;
		}
		*q++ = *p++;
	}
	*q = '\0';
	*out = buf;
	*pp = p + 1;
	return (0);
fail:
	free(buf);
	return (-1);
}

/*
 * An auth-param at *pp: 1 with *name and *value set (caller frees),
 * 0 when the text there is no auth-param (nothing consumed), -1 when it
 * is one but malformed.
 */
static int
upstream_auth_param_parse(const char **pp, char **name, char **value, char **cause)
{
	const char	*p = *pp, *v;
	size_t		 nlen, vlen;

	if ((nlen = upstream_auth_token_len(p)) == 0)
		return (0);
	v = upstream_auth_skip_ows(p + nlen);
	if (*v != '=')
		return (0);
	v = upstream_auth_skip_ows(v + 1);
	/* "abc==" or "abc=" at the end is a token68, not a parameter. */
	if (*v == '=' || *v == ',' || *v == '\0')
		return (0);
	if (*v == '"') {
		if (upstream_auth_quoted_parse(&v, value, cause) == -1)
			return (-1);
	} else {
		if ((vlen = upstream_auth_token_len(v)) == 0) {
			upstream_auth_cause(cause, "bad value for parameter \"%.*s\"",
			    (int)(nlen > 64 ? 64 : nlen), p);
			return (-1);
		}
		*value = xstrndup(v, vlen);
		v += vlen;
	}
	*name = xstrndup(p, nlen);
	*pp = v;
	return (1);
}

/* Keep the parameters we use; each may appear once. Takes name, value. */
static int
upstream_auth_param_set(struct upstream_challenge *ch, char *name, char *value,
    char **cause)
{
	char	**slot = NULL;

	if (strcasecmp(name, "realm") == 0)
		slot = &ch->ac_realm;
	else if (strcasecmp(name, "service") == 0)
		slot = &ch->ac_service;
	else if (strcasecmp(name, "scope") == 0)
		slot = &ch->ac_scope;
	else if (strcasecmp(name, "error") == 0)
		slot = &ch->ac_error;
	if (slot != NULL && *slot != NULL) {
		upstream_auth_cause(cause, "parameter \"%s\" given twice", name);
		free(name);
		free(value);
		return (-1);
	}
	if (slot != NULL)
		*slot = value;
	else
		free(value);
	free(name);
	return (0);
}

/* After a parameter or token68 comes a comma or the end. */
static int
upstream_auth_param_end(const char **pp, char **cause)
{
	const char	*p = upstream_auth_skip_ows(*pp);

	if (*p != ',' && *p != '\0') {
		upstream_auth_cause(cause, "unexpected '%c' after a parameter",
		    isprint((unsigned char)*p) ? *p : '?');
		return (-1);
	}
	*pp = p;
	return (0);
}

static struct upstream_challenge *
upstream_auth_challenge_add(struct upstream_challenge **list, size_t *n,
    const char *scheme, size_t len)
{
	struct upstream_challenge	*ch;

	*list = xreallocarray(*list, *n + 1, sizeof(**list));
	ch = &(*list)[(*n)++];
	memset(ch, 0, sizeof(*ch));
	ch->ac_scheme_name = xstrndup(scheme, len);
	if (strcasecmp(ch->ac_scheme_name, "basic") == 0)
		ch->ac_scheme = AUTH_SCHEME_BASIC;
	else if (strcasecmp(ch->ac_scheme_name, "bearer") == 0)
		ch->ac_scheme = AUTH_SCHEME_BEARER;
	else
		ch->ac_scheme = AUTH_SCHEME_OTHER;
	return (ch);
}

int
upstream_auth_challenge_parse_all(const char *value, struct upstream_challenge **listp,
    size_t *np, char **cause)
{
	struct upstream_challenge	*list = NULL, *cur = NULL;
	const char		*p = value;
	char			*name, *pvalue;
	size_t			 n = 0, len;
	int			 rc;

	*listp = NULL;
	*np = 0;
	if (value == NULL || strlen(value) > AUTH_HEADER_MAX) {
		upstream_auth_cause(cause, "WWW-Authenticate missing or too long");
		return (-1);
	}
	for (;;) {
		p = upstream_auth_skip_ows(p);
		if (*p == '\0')
			break;
		if (*p == ',') {
			p++;
			continue;
		}
		/* After a comma: another parameter of cur, or a new scheme. */
		if (cur != NULL) {
			rc = upstream_auth_param_parse(&p, &name, &pvalue, cause);
			if (rc == -1)
				goto fail;
			if (rc == 1) {
				if (upstream_auth_param_set(cur, name, pvalue,
				    cause) == -1 ||
				    upstream_auth_param_end(&p, cause) == -1)
					goto fail;
				continue;
			}
		}
		if ((len = upstream_auth_token_len(p)) == 0) {
			upstream_auth_cause(cause, "expected an authentication scheme "
			    "at offset %zu", (size_t)(p - value));
			goto fail;
		}
		cur = upstream_auth_challenge_add(&list, &n, p, len);
		p += len;
		if (*p == '\0' || *p == ',')
			continue;
		if (*p != ' ' && *p != '\t') {
			upstream_auth_cause(cause, "unexpected '%c' after scheme \"%s\"",
			    isprint((unsigned char)*p) ? *p : '?',
			    cur->ac_scheme_name);
			goto fail;
		}
		p = upstream_auth_skip_ows(p);
		if (*p == '\0' || *p == ',')
			continue;
		rc = upstream_auth_param_parse(&p, &name, &pvalue, cause);
		if (rc == -1)
			goto fail;
		if (rc == 1) {
			if (upstream_auth_param_set(cur, name, pvalue, cause) == -1 ||
			    upstream_auth_param_end(&p, cause) == -1)
				goto fail;
			continue;
		}
		/* token68: not used, but it takes no parameters after it. */
		for (len = 0; upstream_auth_t68char((unsigned char)p[len]); len++)
			;
		if (len == 0) {
			upstream_auth_cause(cause, "malformed credentials after scheme "
			    "\"%s\"", cur->ac_scheme_name);
			goto fail;
		}
		p += len;
		while (*p == '=')
			p++;
		if (upstream_auth_param_end(&p, cause) == -1)
			goto fail;
		cur = NULL;
	}
	if (n == 0) {
		upstream_auth_cause(cause, "no challenge in WWW-Authenticate");
		goto fail;
	}
	*listp = list;
	*np = n;
	return (0);
fail:
	upstream_auth_challenge_free_all(list, n);
	return (-1);
}

void
upstream_auth_challenge_clear(struct upstream_challenge *ch)
{
	if (ch == NULL)
		return;
	free(ch->ac_scheme_name);
	free(ch->ac_realm);
	free(ch->ac_service);
	free(ch->ac_scope);
	free(ch->ac_error);
	memset(ch, 0, sizeof(*ch));
}

void
upstream_auth_challenge_free_all(struct upstream_challenge *list, size_t n)
{
	size_t	 i;

	if (list == NULL)
		return;
	for (i = 0; i < n; i++)
		upstream_auth_challenge_clear(&list[i]);
	free(list);
}

int
upstream_auth_challenge_parse(const char *value, struct upstream_challenge *ch,
    char **cause)
{
	struct upstream_challenge	*list;
	size_t			 n, i, pick = SIZE_MAX;

	memset(ch, 0, sizeof(*ch));
	if (upstream_auth_challenge_parse_all(value, &list, &n, cause) == -1)
		return (-1);
	for (i = 0; i < n && pick == SIZE_MAX; i++)
		if (list[i].ac_scheme == AUTH_SCHEME_BEARER)
			pick = i;
	for (i = 0; i < n && pick == SIZE_MAX; i++)
		if (list[i].ac_scheme == AUTH_SCHEME_BASIC)
			pick = i;
	if (pick == SIZE_MAX) {
		upstream_auth_cause(cause, "no Basic or Bearer challenge (got %s)",
		    list[0].ac_scheme_name);
		goto fail;
	}
	if (list[pick].ac_scheme == AUTH_SCHEME_BEARER &&
	    (list[pick].ac_realm == NULL || list[pick].ac_realm[0] == '\0')) {
		upstream_auth_cause(cause, "Bearer challenge without a realm");
		goto fail;
	}
	*ch = list[pick];
	memset(&list[pick], 0, sizeof(list[pick]));
	upstream_auth_challenge_free_all(list, n);
	return (0);
fail:
	upstream_auth_challenge_free_all(list, n);
	return (-1);
}

/*
 * Well-known registries whose token service lives on another origin,
 * trusted with the registry's credentials without configuration.
 */
static const struct {
	const char	*kr_registry;
	const char	*kr_realm;
} upstream_auth_known_realms[] = {
	{ "https://registry-1.docker.io", "https://auth.docker.io" },
	{ "https://registry.gitlab.com", "https://gitlab.com" },
};

/*
 * The origin of an http(s) URL: lower-case scheme and host (without a
 * trailing dot), the port (the scheme's default when none is written),
 * whether it carries user info, and its path. -1 when url does not parse
 * as http or https.
 */
struct upstream_auth_origin {
	char	*ao_scheme;
	char	*ao_host;
	long	 ao_port;
	int	 ao_userinfo;
	char	*ao_path;
};

static void
upstream_auth_origin_clear(struct upstream_auth_origin *o)
{
	free(o->ao_scheme);
	free(o->ao_host);
	free(o->ao_path);
	memset(o, 0, sizeof(*o));
}

static int
upstream_auth_origin_parse(const char *url, struct upstream_auth_origin *o)
{
	CURLU	*u;
	char	*host = NULL, *s = NULL, *user = NULL, *pass = NULL;
	char	*port = NULL, *path = NULL;
	size_t	 i, len;
	int	 rv = -1;

	memset(o, 0, sizeof(*o));
	if (url == NULL)
		return (-1);
	if ((u = curl_url()) == NULL)
		fatalx("%s: out of memory", __func__);
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &s, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) !=
	    CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
		goto done;
	if (strcasecmp(s, "http") != 0 && strcasecmp(s, "https") != 0)
		goto done;
	o->ao_userinfo = curl_url_get(u, CURLUPART_USER, &user, 0) ==
	    CURLUE_OK || curl_url_get(u, CURLUPART_PASSWORD, &pass, 0) ==
	    CURLUE_OK;
	o->ao_host = xstrdup(host);
	for (i = 0; o->ao_host[i] != '\0'; i++)
		o->ao_host[i] = tolower((unsigned char)o->ao_host[i]);
	if ((len = strlen(o->ao_host)) > 1 && o->ao_host[len - 1] == '.')
		o->ao_host[len - 1] = '\0';
	o->ao_scheme = xstrdup(s);
	for (i = 0; o->ao_scheme[i] != '\0'; i++)
		o->ao_scheme[i] = tolower((unsigned char)o->ao_scheme[i]);
	o->ao_port = strtol(port, NULL, 10);
	o->ao_path = xstrdup(path);
	rv = 0;
done:
	if (rv == -1)
		upstream_auth_origin_clear(o);
	curl_free(host);
	curl_free(s);
	curl_free(user);
	curl_free(pass);
	curl_free(port);
	curl_free(path);
	curl_url_cleanup(u);
	return (rv);
}

static int
upstream_auth_origin_equal(const struct upstream_auth_origin *a, const struct upstream_auth_origin *b)
{
	return (strcmp(a->ao_scheme, b->ao_scheme) == 0 &&
	    strcmp(a->ao_host, b->ao_host) == 0 && a->ao_port == b->ao_port);
}

int
upstream_auth_same_origin(const char *a, const char *b)
{
	struct upstream_auth_origin	 oa, ob;
	int			 same;

	if (upstream_auth_origin_parse(a, &oa) == -1)
		return (0);
	if (upstream_auth_origin_parse(b, &ob) == -1) {
		upstream_auth_origin_clear(&oa);
		return (0);
	}
	same = upstream_auth_origin_equal(&oa, &ob);
	upstream_auth_origin_clear(&oa);
	upstream_auth_origin_clear(&ob);
	return (same);
}

/*
 * The realm matches a token_realms entry: the same origin, and the
 * entry's path (if any besides "/") a prefix of the realm's path that
 * ends at a '/' or where the realm's path ends.
 */
static int
upstream_auth_realm_listed(const struct upstream_auth_origin *realm, const char *entry)
{
	struct upstream_auth_origin	 e;
	size_t			 len;
	int			 match = 0;

	if (upstream_auth_origin_parse(entry, &e) == -1)
		return (0);
	if (!e.ao_userinfo && upstream_auth_origin_equal(realm, &e)) {
		len = strlen(e.ao_path);
		while (len > 0 && e.ao_path[len - 1] == '/')
			len--;
		match = len == 0 || (strncmp(realm->ao_path, e.ao_path,
		    len) == 0 && (realm->ao_path[len] == '\0' ||
		    realm->ao_path[len] == '/'));
	}
	upstream_auth_origin_clear(&e);
	return (match);
}

int
upstream_auth_realm_trusted(const char *realm_url, const char *upstream_url,
    const char *const *extra_realms, size_t n)
{
	struct upstream_auth_origin	 realm;
	size_t			 i;
	int			 trusted = 0;

	if (realm_url == NULL || upstream_url == NULL ||
	    upstream_auth_origin_parse(realm_url, &realm) == -1)
		return (0);
	if (realm.ao_userinfo)
		goto done;
	if (upstream_auth_same_origin(realm_url, upstream_url)) {
		trusted = 1;
		goto done;
	}
	for (i = 0; extra_realms != NULL && i < n && !trusted; i++)
		trusted = upstream_auth_realm_listed(&realm, extra_realms[i]);
	for (i = 0; i < sizeof(upstream_auth_known_realms) /
	    sizeof(upstream_auth_known_realms[0]) && !trusted; i++)
		trusted = upstream_auth_same_origin(upstream_url,
		    upstream_auth_known_realms[i].kr_registry) &&
		    upstream_auth_realm_listed(&realm, upstream_auth_known_realms[i].kr_realm);
done:
	upstream_auth_origin_clear(&realm);
	return (trusted);
}

static void
upstream_auth_buf_add(struct upstream_auth_buf *b, const char *s, size_t len)
{
	if (b->ab_len + len + 1 > b->ab_size) {
		b->ab_size = (b->ab_len + len + 1) * 2;
		b->ab_data = xreallocarray(b->ab_data, b->ab_size, 1);
	}
	memcpy(b->ab_data + b->ab_len, s, len);
	b->ab_len += len;
	b->ab_data[b->ab_len] = '\0';
}

/* Percent-encode all but RFC 3986 unreserved characters. */
static void
upstream_auth_buf_add_encoded(struct upstream_auth_buf *b, const char *s)
{
	static const char	 hex[] = "0123456789ABCDEF";
	char			 esc[3];
	unsigned char		 c;

	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (c < 0x80 && (isalnum(c) || (c != '\0' &&
		    strchr("-._~", c) != NULL))) {
			upstream_auth_buf_add(b, s, 1);
			continue;
		}
		esc[0] = '%';
		esc[1] = hex[c >> 4];
		esc[2] = hex[c & 0x0f];
		upstream_auth_buf_add(b, esc, 3);
	}
}

/* Caller frees. */
char *
upstream_auth_token_url(const char *realm, const char *service,
    const char *const *scopes, size_t nscopes)
{
	struct upstream_auth_buf	 b = { NULL, 0, 0 };
	const char	*sep, *p;
	size_t		 i, len;

	if (realm == NULL || (len = strlen(realm)) == 0 ||
	    strchr(realm, '#') != NULL)
		return (NULL);
	/* Only visible ASCII goes into a request line. */
	for (p = realm; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return (NULL);
	if (strchr(realm, '?') == NULL)
		sep = "?";
	else if (realm[len - 1] == '?' || realm[len - 1] == '&')
		sep = "";
	else
		sep = "&";
	upstream_auth_buf_add(&b, realm, len);
	if (service != NULL && service[0] != '\0') {
		upstream_auth_buf_add(&b, sep, strlen(sep));
		upstream_auth_buf_add(&b, "service=", 8);
		upstream_auth_buf_add_encoded(&b, service);
		sep = "&";
	}
	for (i = 0; scopes != NULL && i < nscopes; i++) {
		if (scopes[i] == NULL || scopes[i][0] == '\0')
			continue;
		upstream_auth_buf_add(&b, sep, strlen(sep));
		upstream_auth_buf_add(&b, "scope=", 6);
		upstream_auth_buf_add_encoded(&b, scopes[i]);
		sep = "&";
	}
	return (b.ab_data);
}

/* A token goes into a header: visible ASCII only. */
static int
upstream_auth_token_chars_ok(const char *s)
{
	if (*s == '\0')
		return (0);
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return (0);
	return (1);
}

/* An RFC 3339 time (fraction and offset allowed), or 0. */
static time_t
upstream_auth_rfc3339(const char *s)
{
	struct tm	 tm;
	const char	*p;
	time_t		 t;
	long		 off = 0;
	int		 oh, om;

	memset(&tm, 0, sizeof(tm));
	if ((p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return (0);
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return (0);
		while (isdigit((unsigned char)*p))
			p++;
	}
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
		off = 0;
	else if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1]) &&
	    isdigit((unsigned char)p[2]) && p[3] == ':' &&
	    isdigit((unsigned char)p[4]) && isdigit((unsigned char)p[5]) &&
	    p[6] == '\0') {
		oh = (p[1] - '0') * 10 + (p[2] - '0');
		om = (p[4] - '0') * 10 + (p[5] - '0');
		if (oh > 23 || om > 59)
			return (0);
		off = (oh * 60L + om) * 60L * (*p == '-' ? -1 : 1);
	} else
		return (0);
	if ((t = timegm(&tm)) == (time_t)-1)
		return (0);
	return (t - off);
}

int
upstream_auth_token_parse(const char *json, size_t len, struct upstream_token *tok,
    char **cause)
{
	json_t		*root, *v;
	json_error_t	 err;
	const char	*s = NULL;
	long long	 ttl = AUTH_TOKEN_MIN_TTL;

	memset(tok, 0, sizeof(*tok));
	if ((root = json_loadb(json, len, 0, &err)) == NULL) {
		upstream_auth_cause(cause, "token answer is not JSON: %s (line %d)",
		    err.text, err.line);
		return (-1);
	}
	if (!json_is_object(root)) {
		upstream_auth_cause(cause, "token answer is not a JSON object");
		goto fail;
	}
	if ((v = json_object_get(root, "token")) != NULL &&
	    json_is_string(v) && json_string_length(v) > 0)
		s = json_string_value(v);
	else if ((v = json_object_get(root, "access_token")) != NULL &&
	    json_is_string(v) && json_string_length(v) > 0)
		s = json_string_value(v);
	if (s == NULL) {
		upstream_auth_cause(cause, "token answer has no token");
		goto fail;
	}
	if (strlen(s) != json_string_length(v) || !upstream_auth_token_chars_ok(s)) {
		upstream_auth_cause(cause, "token has characters a header cannot carry");
		goto fail;
	}
	v = json_object_get(root, "expires_in");
	if (json_is_integer(v))
		ttl = json_integer_value(v);
	else if (json_is_real(v) && json_real_value(v) < AUTH_TOKEN_MAX_TTL)
		ttl = (long long)json_real_value(v);
	else if (json_is_real(v))
		ttl = AUTH_TOKEN_MAX_TTL;
	if (ttl < AUTH_TOKEN_MIN_TTL)
		ttl = AUTH_TOKEN_MIN_TTL;
	if (ttl > AUTH_TOKEN_MAX_TTL)
		ttl = AUTH_TOKEN_MAX_TTL;
	v = json_object_get(root, "issued_at");
	if (json_is_string(v))
		tok->at_issued_at = upstream_auth_rfc3339(json_string_value(v));
	tok->at_token = xstrdup(s);
	tok->at_expires_in = ttl;
	json_decref(root);
	return (0);
fail:
	json_decref(root);
	return (-1);
}

void
upstream_auth_token_clear(struct upstream_token *tok)
{
	if (tok == NULL)
		return;
	free(tok->at_token);
	memset(tok, 0, sizeof(*tok));
}
