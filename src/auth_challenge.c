/*
 * auth_challenge.c: what an upstream registry says when it wants
 * credentials, and the token dance that follows. Owns the RFC 7235
 * WWW-Authenticate parser, the rule for which token realms may be
 * trusted with an upstream's credentials, the token URL, and the token
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

#include "auth_challenge.h"
#include "log.h"
#include "xmalloc.h"

#define AUTH_HEADER_MAX		16384	/* longest value parsed */
#define AUTH_TOKEN_MAX_TTL	86400	/* refresh at least daily */

/* A growing string. */
struct auth_buf {
	char	*ab_data;
	size_t	 ab_len;
	size_t	 ab_size;
};

static void	auth_cause(char **, const char *, ...) PRINTFLIKE(2, 3);
static int	auth_tchar(int);
static int	auth_t68char(int);
static const char *auth_skip_ows(const char *);
static size_t	auth_token_len(const char *);
static int	auth_quoted_parse(const char **, char **, char **);
static int	auth_param_parse(const char **, char **, char **, char **);
static int	auth_param_set(struct auth_challenge *, char *, char *,
		    char **);
static int	auth_param_end(const char **, char **);
static struct auth_challenge *auth_challenge_add(struct auth_challenge **,
		    size_t *, const char *, size_t);
static char	*auth_host(const char *, char **, int *);
static int	auth_ip_literal(const char *);
static int	auth_suffix_like(const char *);
static int	auth_host_under_parent(const char *, const char *);
static int	auth_prefix_match(const char *, const char *);
static void	auth_buf_add(struct auth_buf *, const char *, size_t);
static void	auth_buf_add_encoded(struct auth_buf *, const char *);
static int	auth_token_chars_ok(const char *);
static time_t	auth_rfc3339(const char *);

/* Set *cause (when wanted) to a formatted message. */
static void
auth_cause(char **cause, const char *fmt, ...)
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
auth_tchar(int c)
{
	return (c > 0 && c < 0x80 && (isalnum(c) ||
	    strchr("!#$%&'*+-.^_`|~", c) != NULL));
}

static int
auth_t68char(int c)
{
	return (c > 0 && c < 0x80 && (isalnum(c) ||
	    strchr("-._~+/", c) != NULL));
}

static const char *
auth_skip_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return (p);
}

static size_t
auth_token_len(const char *p)
{
	size_t	 n = 0;

	while (auth_tchar((unsigned char)p[n]))
		n++;
	return (n);
}

/* A quoted-string at *pp (on its opening quote), unescaped into *out. */
static int
auth_quoted_parse(const char **pp, char **out, char **cause)
{
	const char	*p = *pp + 1;
	char		*buf, *q;

	buf = q = xmalloc(strlen(p) + 1);
	for (;;) {
		if (*p == '\0') {
			auth_cause(cause, "unterminated quoted string");
			goto fail;
		}
		if (*p == '"')
			break;
		if (*p == '\\')
			p++;
		if (*p == '\0' || (*p != '\t' && ((unsigned char)*p < 0x20 ||
		    *p == 0x7f))) {
			auth_cause(cause, "control character in a quoted "
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
auth_param_parse(const char **pp, char **name, char **value, char **cause)
{
	const char	*p = *pp, *v;
	size_t		 nlen, vlen;

	if ((nlen = auth_token_len(p)) == 0)
		return (0);
	v = auth_skip_ows(p + nlen);
	if (*v != '=')
		return (0);
	v = auth_skip_ows(v + 1);
	/* "abc==" or "abc=" at the end is a token68, not a parameter. */
	if (*v == '=' || *v == ',' || *v == '\0')
		return (0);
	if (*v == '"') {
		if (auth_quoted_parse(&v, value, cause) == -1)
			return (-1);
	} else {
		if ((vlen = auth_token_len(v)) == 0) {
			auth_cause(cause, "bad value for parameter \"%.*s\"",
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
auth_param_set(struct auth_challenge *ch, char *name, char *value,
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
		auth_cause(cause, "parameter \"%s\" given twice", name);
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
auth_param_end(const char **pp, char **cause)
{
	const char	*p = auth_skip_ows(*pp);

	if (*p != ',' && *p != '\0') {
		auth_cause(cause, "unexpected '%c' after a parameter",
		    isprint((unsigned char)*p) ? *p : '?');
		return (-1);
	}
	*pp = p;
	return (0);
}

static struct auth_challenge *
auth_challenge_add(struct auth_challenge **list, size_t *n,
    const char *scheme, size_t len)
{
	struct auth_challenge	*ch;

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
auth_challenge_parse_all(const char *value, struct auth_challenge **listp,
    size_t *np, char **cause)
{
	struct auth_challenge	*list = NULL, *cur = NULL;
	const char		*p = value;
	char			*name, *pvalue;
	size_t			 n = 0, len;
	int			 rc;

	*listp = NULL;
	*np = 0;
	if (value == NULL || strlen(value) > AUTH_HEADER_MAX) {
		auth_cause(cause, "WWW-Authenticate missing or too long");
		return (-1);
	}
	for (;;) {
		p = auth_skip_ows(p);
		if (*p == '\0')
			break;
		if (*p == ',') {
			p++;
			continue;
		}
		/* After a comma: another parameter of cur, or a new scheme. */
		if (cur != NULL) {
			rc = auth_param_parse(&p, &name, &pvalue, cause);
			if (rc == -1)
				goto fail;
			if (rc == 1) {
				if (auth_param_set(cur, name, pvalue,
				    cause) == -1 ||
				    auth_param_end(&p, cause) == -1)
					goto fail;
				continue;
			}
		}
		if ((len = auth_token_len(p)) == 0) {
			auth_cause(cause, "expected an authentication scheme "
			    "at offset %zu", (size_t)(p - value));
			goto fail;
		}
		cur = auth_challenge_add(&list, &n, p, len);
		p += len;
		if (*p == '\0' || *p == ',')
			continue;
		if (*p != ' ' && *p != '\t') {
			auth_cause(cause, "unexpected '%c' after scheme \"%s\"",
			    isprint((unsigned char)*p) ? *p : '?',
			    cur->ac_scheme_name);
			goto fail;
		}
		p = auth_skip_ows(p);
		if (*p == '\0' || *p == ',')
			continue;
		rc = auth_param_parse(&p, &name, &pvalue, cause);
		if (rc == -1)
			goto fail;
		if (rc == 1) {
			if (auth_param_set(cur, name, pvalue, cause) == -1 ||
			    auth_param_end(&p, cause) == -1)
				goto fail;
			continue;
		}
		/* token68: not used, but it takes no parameters after it. */
		for (len = 0; auth_t68char((unsigned char)p[len]); len++)
			;
		if (len == 0) {
			auth_cause(cause, "malformed credentials after scheme "
			    "\"%s\"", cur->ac_scheme_name);
			goto fail;
		}
		p += len;
		while (*p == '=')
			p++;
		if (auth_param_end(&p, cause) == -1)
			goto fail;
		cur = NULL;
	}
	if (n == 0) {
		auth_cause(cause, "no challenge in WWW-Authenticate");
		goto fail;
	}
	*listp = list;
	*np = n;
	return (0);
fail:
	auth_challenge_free_all(list, n);
	return (-1);
}

void
auth_challenge_clear(struct auth_challenge *ch)
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
auth_challenge_free_all(struct auth_challenge *list, size_t n)
{
	size_t	 i;

	if (list == NULL)
		return;
	for (i = 0; i < n; i++)
		auth_challenge_clear(&list[i]);
	free(list);
}

int
auth_challenge_parse(const char *value, struct auth_challenge *ch,
    char **cause)
{
	struct auth_challenge	*list;
	size_t			 n, i, pick = SIZE_MAX;

	memset(ch, 0, sizeof(*ch));
	if (auth_challenge_parse_all(value, &list, &n, cause) == -1)
		return (-1);
	for (i = 0; i < n && pick == SIZE_MAX; i++)
		if (list[i].ac_scheme == AUTH_SCHEME_BEARER)
			pick = i;
	for (i = 0; i < n && pick == SIZE_MAX; i++)
		if (list[i].ac_scheme == AUTH_SCHEME_BASIC)
			pick = i;
	if (pick == SIZE_MAX) {
		auth_cause(cause, "no Basic or Bearer challenge (got %s)",
		    list[0].ac_scheme_name);
		goto fail;
	}
	if (list[pick].ac_scheme == AUTH_SCHEME_BEARER &&
	    (list[pick].ac_realm == NULL || list[pick].ac_realm[0] == '\0')) {
		auth_cause(cause, "Bearer challenge without a realm");
		goto fail;
	}
	*ch = list[pick];
	memset(&list[pick], 0, sizeof(list[pick]));
	auth_challenge_free_all(list, n);
	return (0);
fail:
	auth_challenge_free_all(list, n);
	return (-1);
}

/*
 * The lower-case host of url without a trailing dot, its scheme in
 * *scheme, whether it carries user info in *userinfo. NULL when url does
 * not parse as http(s). Caller frees both.
 */
static char *
auth_host(const char *url, char **scheme, int *userinfo)
{
	CURLU	*u;
	char	*host = NULL, *s = NULL, *user = NULL, *pass = NULL, *out;
	size_t	 i, len;

	*scheme = NULL;
	out = NULL;
	if ((u = curl_url()) == NULL)
		fatalx("%s: out of memory", __func__);
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &s, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		goto done;
	if (strcasecmp(s, "http") != 0 && strcasecmp(s, "https") != 0)
		goto done;
	*userinfo = curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PASSWORD, &pass, 0) == CURLUE_OK;
	out = xstrdup(host);
	for (i = 0; out[i] != '\0'; i++)
		out[i] = tolower((unsigned char)out[i]);
	if ((len = strlen(out)) > 1 && out[len - 1] == '.')
		out[len - 1] = '\0';
	*scheme = xstrdup(s);
	for (i = 0; (*scheme)[i] != '\0'; i++)
		(*scheme)[i] = tolower((unsigned char)(*scheme)[i]);
done:
	curl_free(host);
	curl_free(s);
	curl_free(user);
	curl_free(pass);
	curl_url_cleanup(u);
	return (out);
}

/* An IPv6 literal ([...]) or a dotted IPv4 address. */
static int
auth_ip_literal(const char *host)
{
	return (host[0] == '[' || strspn(host, "0123456789.") == strlen(host));
}

/*
 * A heuristic for two-label public suffixes such as co.uk or com.au:
 * a generic second-level label under a two-letter country code. Their
 * subdomains belong to unrelated owners.
 */
static int
auth_suffix_like(const char *parent)
{
	static const char	*generic[] = {
		"ac", "co", "com", "edu", "go", "gob", "gov", "govt", "lg",
		"ltd", "mil", "ne", "net", "nic", "or", "org", "plc", "sch",
	};
	const char		*dot = strchr(parent, '.');
	size_t			 i, len;

	if (dot == NULL || strchr(dot + 1, '.') != NULL || strlen(dot + 1) != 2)
		return (0);
	len = dot - parent;
	for (i = 0; i < sizeof(generic) / sizeof(generic[0]); i++)
		if (strlen(generic[i]) == len &&
		    strncmp(parent, generic[i], len) == 0)
			return (1);
	return (0);
}

/*
 * The realm host is the upstream host's parent domain or below it:
 * registry-1.docker.io -> docker.io, auth.docker.io. The parent must
 * keep at least two labels.
 */
static int
auth_host_under_parent(const char *realm_host, const char *up_host)
{
	const char	*dot, *parent;
	size_t		 rl, pl;

	if (auth_ip_literal(up_host) || auth_ip_literal(realm_host))
		return (0);
	if ((dot = strchr(up_host, '.')) == NULL)
		return (0);
	parent = dot + 1;
	if (strchr(parent, '.') == NULL || auth_suffix_like(parent))
		return (0);
	if (strcmp(realm_host, parent) == 0)
		return (1);
	rl = strlen(realm_host);
	pl = strlen(parent);
	return (rl > pl + 1 && realm_host[rl - pl - 1] == '.' &&
	    strcmp(realm_host + rl - pl, parent) == 0);
}

/* realm starts with prefix, and the match ends at a URL boundary. */
static int
auth_prefix_match(const char *realm, const char *prefix)
{
	size_t	 len;
	char	 next;

	if (prefix == NULL || (len = strlen(prefix)) == 0 ||
	    strncmp(realm, prefix, len) != 0)
		return (0);
	next = realm[len];
	return (next == '\0' || prefix[len - 1] == '/' || next == '/' ||
	    next == '?' || next == '#');
}

int
auth_realm_trusted(const char *realm_url, const char *upstream_url,
    const char *const *extra_realms, size_t n)
{
	char	*rhost = NULL, *uhost = NULL, *rscheme = NULL, *uscheme = NULL;
	int	 ruser = 0, uuser = 0, trusted = 0;
	size_t	 i;

	if (realm_url == NULL || upstream_url == NULL)
		return (0);
	for (i = 0; extra_realms != NULL && i < n; i++)
		if (auth_prefix_match(realm_url, extra_realms[i]))
			return (1);
	if ((rhost = auth_host(realm_url, &rscheme, &ruser)) == NULL ||
	    (uhost = auth_host(upstream_url, &uscheme, &uuser)) == NULL)
		goto done;
	if (ruser)
		goto done;
	if (strcmp(rscheme, "https") != 0 &&
	    !(strcmp(rscheme, "http") == 0 && strcmp(uscheme, "http") == 0))
		goto done;
	trusted = strcmp(rhost, uhost) == 0 ||
	    auth_host_under_parent(rhost, uhost);
done:
	free(rhost);
	free(uhost);
	free(rscheme);
	free(uscheme);
	return (trusted);
}

static void
auth_buf_add(struct auth_buf *b, const char *s, size_t len)
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
auth_buf_add_encoded(struct auth_buf *b, const char *s)
{
	static const char	 hex[] = "0123456789ABCDEF";
	char			 esc[3];
	unsigned char		 c;

	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (c < 0x80 && (isalnum(c) || (c != '\0' &&
		    strchr("-._~", c) != NULL))) {
			auth_buf_add(b, s, 1);
			continue;
		}
		esc[0] = '%';
		esc[1] = hex[c >> 4];
		esc[2] = hex[c & 0x0f];
		auth_buf_add(b, esc, 3);
	}
}

/* Caller frees. */
char *
auth_token_url(const char *realm, const char *service,
    const char *const *scopes, size_t nscopes)
{
	struct auth_buf	 b = { NULL, 0, 0 };
	const char	*sep, *p;
	size_t		 i, len;

	if (realm == NULL || (len = strlen(realm)) == 0 ||
	    strchr(realm, '#') != NULL)
		return (NULL);
	for (p = realm; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return (NULL);
	if (strchr(realm, '?') == NULL)
		sep = "?";
	else if (realm[len - 1] == '?' || realm[len - 1] == '&')
		sep = "";
	else
		sep = "&";
	auth_buf_add(&b, realm, len);
	if (service != NULL && service[0] != '\0') {
		auth_buf_add(&b, sep, strlen(sep));
		auth_buf_add(&b, "service=", 8);
		auth_buf_add_encoded(&b, service);
		sep = "&";
	}
	for (i = 0; scopes != NULL && i < nscopes; i++) {
		if (scopes[i] == NULL || scopes[i][0] == '\0')
			continue;
		auth_buf_add(&b, sep, strlen(sep));
		auth_buf_add(&b, "scope=", 6);
		auth_buf_add_encoded(&b, scopes[i]);
		sep = "&";
	}
	return (b.ab_data);
}

/* A token goes into a header: visible ASCII only. */
static int
auth_token_chars_ok(const char *s)
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
auth_rfc3339(const char *s)
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
auth_token_parse(const char *json, size_t len, struct auth_token *tok,
    char **cause)
{
	json_t		*root, *v;
	json_error_t	 err;
	const char	*s = NULL;
	long long	 ttl = AUTH_TOKEN_MIN_TTL;

	memset(tok, 0, sizeof(*tok));
	if ((root = json_loadb(json, len, 0, &err)) == NULL) {
		auth_cause(cause, "token answer is not JSON: %s (line %d)",
		    err.text, err.line);
		return (-1);
	}
	if (!json_is_object(root)) {
		auth_cause(cause, "token answer is not a JSON object");
		goto fail;
	}
	if ((v = json_object_get(root, "token")) != NULL &&
	    json_is_string(v) && json_string_length(v) > 0)
		s = json_string_value(v);
	else if ((v = json_object_get(root, "access_token")) != NULL &&
	    json_is_string(v) && json_string_length(v) > 0)
		s = json_string_value(v);
	if (s == NULL) {
		auth_cause(cause, "token answer has no token");
		goto fail;
	}
	if (strlen(s) != json_string_length(v) || !auth_token_chars_ok(s)) {
		auth_cause(cause, "token has characters a header cannot carry");
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
		tok->at_issued_at = auth_rfc3339(json_string_value(v));
	tok->at_token = xstrdup(s);
	tok->at_expires_in = ttl;
	json_decref(root);
	return (0);
fail:
	json_decref(root);
	return (-1);
}

void
auth_token_clear(struct auth_token *tok)
{
	if (tok == NULL)
		return;
	free(tok->at_token);
	memset(tok, 0, sizeof(*tok));
}
