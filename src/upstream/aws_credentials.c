/*
 * aws_credentials.c: AWS credentials for ECR upstreams. Owns the parsers
 * of what the credential sources answer (STS XML, the container
 * endpoint's and IMDS's JSON, AWS's ISO 8601 times), the refresh-time
 * arithmetic, the per-process cache of temporary credentials, and the
 * default chain as a small state machine of fetches on the worker's
 * loop: environment, web identity (STS), container endpoint, IMDSv2.
 *
 * Only the few STS elements needed are read from its XML (Credentials'
 * AccessKeyId, SecretAccessKey, SessionToken, Expiration; Error's Code
 * and Message), with the five predefined entities and character
 * references decoded: STS's answers are small and flat.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "lib/log.h"
#include "lib/xmalloc.h"
#include "upstream/aws_credentials.h"
#include "upstream/aws_sigv4.h"
#include "upstream/fetch.h"

#define AC_BODY_MAX		(64 * 1024)	/* an answer's body */
#define AC_FILE_MAX		(16 * 1024)	/* a token file */
#define AC_CACHE_SLOTS		16
#define AC_IMDS_TIMEOUT		5	/* s, at most */
#define AC_SESSION_NAME		"depot"

enum ac_step {
	AC_STS,
	AC_CONTAINER,
	AC_IMDS_TOKEN,
	AC_IMDS_ROLE,
	AC_IMDS_CREDS
};

struct aws_credentials_get {
	struct fetcher		*g_fetcher;
	aws_credentials_cb	 g_cb;
	void			*g_arg;
	struct event		*g_ev;		/* deferred end */
	char			*g_key;
	char			*g_region;
	char			*g_sts_url;
	char			*g_imds_url;
	int			 g_timeout;
	char			*g_ca_file;
	int			 g_insecure_tls;
	enum ac_step		 g_step;
	struct fetch		*g_fetch;
	char			*g_body;
	size_t			 g_body_len;
	int			 g_body_abort;
	char			*g_imds_token;	/* secret */
	char			*g_role;
	struct aws_credentials	 g_creds;
	int			 g_ok;
	char			*g_code;
	char			*g_message;
	int			 g_cancelled;
};

struct ac_cache {
	char			*c_key;
	struct aws_credentials	 c_creds;
};

static struct ac_cache	 ac_cache[AC_CACHE_SLOTS];

static char	*ac_xml_text(const char *, size_t, const char *);
static char	*ac_xml_unescape(const char *, size_t);
static void	 ac_secret_free(char *);
static void	 ac_end(struct aws_credentials_get *, int, const char *,
		    const char *, ...) __attribute__((__format__(__printf__,
		    4, 5)));
static void	 ac_deferred_cb(evutil_socket_t, short, void *);
static void	 ac_free(struct aws_credentials_get *);
static void	 ac_chain(struct aws_credentials_get *);
static int	 ac_env_set(const char *);
static char	*ac_file_read(const char *, char **);
static void	 ac_fetch(struct aws_credentials_get *, enum fetch_method,
		    const char *, const char *const *, size_t, const char *);
static int	 ac_data_cb(struct fetch *, const void *, size_t, void *);
static void	 ac_done_cb(struct fetch *, enum fetch_result, const char *,
		    void *);
static void	 ac_answer(struct aws_credentials_get *, long);
static void	 ac_sts(struct aws_credentials_get *);
static void	 ac_container(struct aws_credentials_get *);
static void	 ac_imds_token(struct aws_credentials_get *);
static void	 ac_imds_role(struct aws_credentials_get *);
static void	 ac_imds_creds(struct aws_credentials_get *);
static void	 ac_got(struct aws_credentials_get *, const char *);
static struct ac_cache *ac_cache_find(const char *, int);

static const struct fetch_callbacks ac_callbacks = {
	NULL, ac_data_cb, ac_done_cb
};

/* ---- pure parts ---- */

static void
ac_secret_free(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

void
aws_credentials_clear(struct aws_credentials *c)
{
	free(c->ac_access_key_id);
	ac_secret_free(c->ac_secret_access_key);
	ac_secret_free(c->ac_session_token);
	memset(c, 0, sizeof(*c));
}

void
aws_credentials_copy(struct aws_credentials *dst,
    const struct aws_credentials *src)
{
	memset(dst, 0, sizeof(*dst));
	if (src->ac_access_key_id != NULL)
		dst->ac_access_key_id = xstrdup(src->ac_access_key_id);
	if (src->ac_secret_access_key != NULL)
		dst->ac_secret_access_key = xstrdup(src->ac_secret_access_key);
	if (src->ac_session_token != NULL)
		dst->ac_session_token = xstrdup(src->ac_session_token);
	dst->ac_expiration = src->ac_expiration;
	dst->ac_obtained = src->ac_obtained;
	dst->ac_source = src->ac_source;
}

time_t
aws_refresh_at(time_t obtained, time_t expires, time_t max_margin)
{
	time_t	 margin;

	if (expires <= obtained)
		return (obtained);
	margin = (expires - obtained) / 4;
	if (margin > max_margin)
		margin = max_margin;
	return (expires - margin);
}

int
aws_credentials_fresh(const struct aws_credentials *c, time_t now)
{
	if (c->ac_access_key_id == NULL || c->ac_secret_access_key == NULL)
		return (0);
	if (c->ac_expiration == 0)
		return (1);
	return (now < aws_refresh_at(c->ac_obtained, c->ac_expiration,
	    AWS_CREDS_MARGIN));
}

/* YYYY-MM-DDTHH:MM:SS[.fff](Z|+00:00) */
int
aws_time_parse(const char *s, time_t *t)
{
	struct tm	 tm;
	const char	*p;
	int		 n = 0;

	if (s == NULL)
		return (-1);
	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
	    &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 ||
	    n != 19 || s[4] != '-' || s[7] != '-' || s[13] != ':' ||
	    s[16] != ':')
		return (-1);
	p = s + 19;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return (-1);
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0)
		return (-1);
	if (tm.tm_year < 1970 || tm.tm_mon < 1 || tm.tm_mon > 12 ||
	    tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
	    tm.tm_min > 59 || tm.tm_sec > 60)
		return (-1);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	if ((*t = timegm(&tm)) == (time_t)-1)
		return (-1);
	return (0);
}

/* XML character data with entities and character references decoded. */
static char *
ac_xml_unescape(const char *s, size_t len)
{
	static const struct {
		const char	*name;
		char		 c;
	} ent[] = {
		{ "amp;", '&' }, { "lt;", '<' }, { "gt;", '>' },
		{ "quot;", '"' }, { "apos;", '\'' }
	};
	char		*out, *o, *end;
	size_t		 i, k;
	unsigned long	 v;

	out = o = xmalloc(len + 1);
	for (i = 0; i < len; i++) {
		if (s[i] != '&') {
			*o++ = s[i];
			continue;
		}
		for (k = 0; k < sizeof(ent) / sizeof(ent[0]); k++)
			if (len - i - 1 >= strlen(ent[k].name) &&
			    strncmp(s + i + 1, ent[k].name,
			    strlen(ent[k].name)) == 0)
				break;
		if (k < sizeof(ent) / sizeof(ent[0])) {
			*o++ = ent[k].c;
			i += strlen(ent[k].name);
			continue;
		}
		if (i + 2 < len && s[i + 1] == '#') {
			errno = 0;
			if (s[i + 2] == 'x')
				v = strtoul(s + i + 3, &end, 16);
			else
				v = strtoul(s + i + 2, &end, 10);
			if (errno == 0 && end < s + len && *end == ';' &&
			    v > 0 && v < 0x80) {
				*o++ = (char)v;
				i = end - s;
				continue;
			}
		}
		*o++ = s[i];
	}
	*o = '\0';
	return (out);
}

/* The text of the first <name>...</name> in xml, decoded. Caller frees. */
static char *
ac_xml_text(const char *xml, size_t len, const char *name)
{
	char		 open[64], close[64];
	const char	*b, *e, *end = xml + len;

	if (snprintf(open, sizeof(open), "<%s>", name) >= (int)sizeof(open) ||
	    snprintf(close, sizeof(close), "</%s>", name) >=
	    (int)sizeof(close))
		return (NULL);
	if ((b = memmem(xml, len, open, strlen(open))) == NULL)
		return (NULL);
	b += strlen(open);
	if ((e = memmem(b, end - b, close, strlen(close))) == NULL ||
	    memchr(b, '<', e - b) != NULL)
		return (NULL);
	return (ac_xml_unescape(b, e - b));
}

int
aws_sts_parse(const char *xml, size_t len, struct aws_credentials *c,
    char **code, char **cause)
{
	const char	*cr;
	char		*exp = NULL, *msg;
	size_t		 crlen;

	memset(c, 0, sizeof(*c));
	*code = NULL;
	*cause = NULL;
	if ((*code = ac_xml_text(xml, len, "Code")) != NULL) {
		msg = ac_xml_text(xml, len, "Message");
		xasprintf(cause, "%s", msg != NULL ? msg : "no message");
		free(msg);
		return (-1);
	}
	if ((cr = memmem(xml, len, "<Credentials>", 13)) == NULL) {
		*code = xstrdup("MalformedAnswer");
		xasprintf(cause, "STS answered without Credentials");
		return (-1);
	}
	crlen = len - (cr - xml);
	c->ac_access_key_id = ac_xml_text(cr, crlen, "AccessKeyId");
	c->ac_secret_access_key = ac_xml_text(cr, crlen, "SecretAccessKey");
	c->ac_session_token = ac_xml_text(cr, crlen, "SessionToken");
	exp = ac_xml_text(cr, crlen, "Expiration");
	if (c->ac_access_key_id == NULL || c->ac_access_key_id[0] == '\0' ||
	    c->ac_secret_access_key == NULL ||
	    c->ac_secret_access_key[0] == '\0' ||
	    c->ac_session_token == NULL || exp == NULL ||
	    aws_time_parse(exp, &c->ac_expiration) == -1) {
		aws_credentials_clear(c);
		free(exp);
		*code = xstrdup("MalformedAnswer");
		xasprintf(cause, "STS answered incomplete Credentials");
		return (-1);
	}
	free(exp);
	c->ac_source = "web identity";
	return (0);
}

/* A string member of obj, or NULL. */
static const char *
ac_json_str(json_t *obj, const char *name)
{
	json_t	*v = json_object_get(obj, name);

	return (json_is_string(v) && json_string_length(v) > 0 ?
	    json_string_value(v) : NULL);
}

int
aws_credentials_json_parse(const char *json, size_t len,
    struct aws_credentials *c, char **cause)
{
	json_t		*root;
	json_error_t	 err;
	const char	*id, *secret, *token, *exp, *code;
	int		 rc = -1;

	memset(c, 0, sizeof(*c));
	if ((root = json_loadb(json, len, 0, &err)) == NULL ||
	    !json_is_object(root)) {
		xasprintf(cause, "the credentials answer is not a JSON object");
		goto done;
	}
	if ((code = ac_json_str(root, "Code")) != NULL &&
	    strcmp(code, "Success") != 0) {
		xasprintf(cause, "the credentials answer says %.60s", code);
		goto done;
	}
	id = ac_json_str(root, "AccessKeyId");
	secret = ac_json_str(root, "SecretAccessKey");
	token = ac_json_str(root, "Token");
	exp = ac_json_str(root, "Expiration");
	if (id == NULL || secret == NULL) {
		xasprintf(cause, "the credentials answer has no AccessKeyId "
		    "or SecretAccessKey");
		goto done;
	}
	if (exp != NULL && aws_time_parse(exp, &c->ac_expiration) == -1) {
		xasprintf(cause, "the credentials answer has an unreadable "
		    "Expiration");
		goto done;
	}
	c->ac_access_key_id = xstrdup(id);
	c->ac_secret_access_key = xstrdup(secret);
	if (token != NULL)
		c->ac_session_token = xstrdup(token);
	rc = 0;
done:
	json_decref(root);
	return (rc);
}

int
aws_container_url_allowed(const char *url)
{
	struct in_addr	 a4;
	struct in6_addr	 a6;
	const char	*h, *e;
	char		 host[64];
	size_t		 n;

	if (strncasecmp(url, "https://", 8) == 0)
		return (1);
	if (strncasecmp(url, "http://", 7) != 0)
		return (0);
	h = url + 7;
	if (*h == '[') {
		if ((e = strchr(h, ']')) == NULL)
			return (0);
		h++;
	} else
		e = h + strcspn(h, ":/?#");
	n = e - h;
	if (n == 0 || n >= sizeof(host))
		return (0);
	memcpy(host, h, n);
	host[n] = '\0';
	if (strcasecmp(host, "localhost") == 0)
		return (1);
	if (inet_pton(AF_INET, host, &a4) == 1)
		return ((ntohl(a4.s_addr) >> 24) == 127 ||
		    strcmp(host, "169.254.170.2") == 0 ||
		    strcmp(host, "169.254.170.23") == 0);
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return (IN6_IS_ADDR_LOOPBACK(&a6) ||
		    strcasecmp(host, "fd00:ec2::23") == 0);
	return (0);
}

/* ---- the per-process cache ---- */

static struct ac_cache *
ac_cache_find(const char *key, int create)
{
	size_t	 i;
	struct ac_cache *free_slot = NULL;

	for (i = 0; i < AC_CACHE_SLOTS; i++) {
		if (ac_cache[i].c_key != NULL &&
		    strcmp(ac_cache[i].c_key, key) == 0)
			return (&ac_cache[i]);
		if (ac_cache[i].c_key == NULL && free_slot == NULL)
			free_slot = &ac_cache[i];
	}
	if (!create)
		return (NULL);
	if (free_slot == NULL) {
		free_slot = &ac_cache[0];
		free(free_slot->c_key);
		aws_credentials_clear(&free_slot->c_creds);
	}
	free_slot->c_key = xstrdup(key);
	return (free_slot);
}

void
aws_credentials_forget(const char *key)
{
	struct ac_cache	*c;

	if ((c = ac_cache_find(key, 0)) == NULL)
		return;
	free(c->c_key);
	c->c_key = NULL;
	aws_credentials_clear(&c->c_creds);
}

/* ---- the chain ---- */

struct aws_credentials_get *
aws_credentials_get(struct fetcher *f, const struct aws_chain_config *cc,
    aws_credentials_cb cb, void *arg)
{
	struct aws_credentials_get	*g;
	struct ac_cache			*c;

	g = xcalloc(1, sizeof(*g));
	g->g_fetcher = f;
	g->g_cb = cb;
	g->g_arg = arg;
	g->g_key = xstrdup(cc->cc_key);
	g->g_region = xstrdup(cc->cc_region);
	g->g_sts_url = cc->cc_sts_url != NULL ? xstrdup(cc->cc_sts_url) : NULL;
	g->g_imds_url = cc->cc_imds_url != NULL ? xstrdup(cc->cc_imds_url) :
	    NULL;
	g->g_timeout = cc->cc_timeout;
	g->g_ca_file = cc->cc_ca_file != NULL ? xstrdup(cc->cc_ca_file) : NULL;
	g->g_insecure_tls = cc->cc_insecure_tls;
	if ((g->g_ev = event_new(fetcher_base(f), -1, 0, ac_deferred_cb,
	    g)) == NULL) {
		log_warnx("%s: event_new failed", __func__);
		ac_free(g);
		return (NULL);
	}
	if (cc->cc_static) {
		aws_credentials_copy(&g->g_creds, cc->cc_static_creds);
		g->g_creds.ac_source = "static";
		ac_end(g, 1, NULL, NULL);
	} else if ((c = ac_cache_find(g->g_key, 0)) != NULL &&
	    aws_credentials_fresh(&c->c_creds, time(NULL))) {
		aws_credentials_copy(&g->g_creds, &c->c_creds);
		ac_end(g, 1, NULL, NULL);
	} else
		ac_chain(g);
	return (g);
}

void
aws_credentials_cancel(struct aws_credentials_get *g)
{
	if (g == NULL || g->g_cancelled)
		return;
	g->g_cancelled = 1;
	if (g->g_fetch != NULL)
		fetch_cancel(g->g_fetch);
	g->g_fetch = NULL;
	event_active(g->g_ev, EV_TIMEOUT, 1);
}

static int
ac_env_set(const char *name)
{
	const char	*v = getenv(name);

	return (v != NULL && *v != '\0');
}

/* A small file whole, one trailing newline dropped. Caller frees. */
static char *
ac_file_read(const char *path, char **why)
{
	char	*buf;
	ssize_t	 n;
	size_t	 len = 0;
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		xasprintf(why, "cannot read %s: %s", path, strerror(errno));
		return (NULL);
	}
	buf = xmalloc(AC_FILE_MAX + 1);
	while (len < AC_FILE_MAX && (n = read(fd, buf + len,
	    AC_FILE_MAX - len)) > 0)
		len += n;
	close(fd);
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	buf[len] = '\0';
	if (len == 0) {
		xasprintf(why, "%s is empty", path);
		free(buf);
		return (NULL);
	}
	return (buf);
}

/* The first link of the chain whose settings are present. */
static void
ac_chain(struct aws_credentials_get *g)
{
	const char	*v;

	if (ac_env_set("AWS_ACCESS_KEY_ID") &&
	    ac_env_set("AWS_SECRET_ACCESS_KEY")) {
		g->g_creds.ac_access_key_id = xstrdup(
		    getenv("AWS_ACCESS_KEY_ID"));
		g->g_creds.ac_secret_access_key = xstrdup(
		    getenv("AWS_SECRET_ACCESS_KEY"));
		if (ac_env_set("AWS_SESSION_TOKEN"))
			g->g_creds.ac_session_token = xstrdup(
			    getenv("AWS_SESSION_TOKEN"));
		g->g_creds.ac_source = "environment";
		ac_end(g, 1, NULL, NULL);
	} else if (ac_env_set("AWS_WEB_IDENTITY_TOKEN_FILE") &&
	    ac_env_set("AWS_ROLE_ARN"))
		ac_sts(g);
	else if (ac_env_set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") ||
	    ac_env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI"))
		ac_container(g);
	else if ((v = getenv("AWS_EC2_METADATA_DISABLED")) != NULL &&
	    strcasecmp(v, "true") == 0)
		ac_end(g, 0, "NoCredentials", "no AWS credentials: none in "
		    "the environment, no web identity, no container endpoint, "
		    "and instance metadata is disabled");
	else
		ac_imds_token(g);
}

/* STS AssumeRoleWithWebIdentity with the token file's content. */
static void
ac_sts(struct aws_credentials_get *g)
{
	const char	*session = getenv("AWS_ROLE_SESSION_NAME");
	const char	*headers[] = { "Content-Type: application/"
			    "x-www-form-urlencoded; charset=utf-8" };
	char		*token, *why = NULL, *etoken, *erole, *esession, *body;
	char		*url;

	if ((token = ac_file_read(getenv("AWS_WEB_IDENTITY_TOKEN_FILE"),
	    &why)) == NULL) {
		ac_end(g, 0, "WebIdentityTokenFile", "web identity: %s", why);
		free(why);
		return;
	}
	if (session == NULL || *session == '\0')
		session = AC_SESSION_NAME;
	etoken = aws_uri_encode(token, strlen(token), 0);
	erole = aws_uri_encode(getenv("AWS_ROLE_ARN"),
	    strlen(getenv("AWS_ROLE_ARN")), 0);
	esession = aws_uri_encode(session, strlen(session), 0);
	xasprintf(&body, "Action=AssumeRoleWithWebIdentity&Version=2011-06-15"
	    "&RoleArn=%s&RoleSessionName=%s&WebIdentityToken=%s", erole,
	    esession, etoken);
	if (g->g_sts_url != NULL)
		url = xstrdup(g->g_sts_url);
	else if (strncmp(g->g_region, "cn-", 3) == 0)
		xasprintf(&url, "https://sts.%s.amazonaws.com.cn/",
		    g->g_region);
	else
		xasprintf(&url, "https://sts.%s.amazonaws.com/", g->g_region);
	g->g_step = AC_STS;
	ac_fetch(g, FETCH_POST, url, headers, 1, body);
	ac_secret_free(token);
	ac_secret_free(etoken);
	ac_secret_free(body);
	free(erole);
	free(esession);
	free(url);
}

/* The ECS/EKS container credentials endpoint. */
static void
ac_container(struct aws_credentials_get *g)
{
	const char	*rel = getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char	*full = getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	const char	*headers[1];
	char		*url, *token = NULL, *why = NULL, *authz = NULL;
	size_t		 n = 0;

	if (rel != NULL && *rel != '\0')
		xasprintf(&url, "%s%s%s", AWS_CONTAINER_HOST, rel[0] == '/' ?
		    "" : "/", rel);
	else if (!aws_container_url_allowed(full)) {
		ac_end(g, 0, "ContainerCredentials", "container credentials: "
		    "AWS_CONTAINER_CREDENTIALS_FULL_URI must be https, or http "
		    "to a loopback address or the container host");
		return;
	} else
		url = xstrdup(full);
	if (ac_env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")) {
		if ((token = ac_file_read(getenv(
		    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"), &why)) == NULL) {
			ac_end(g, 0, "ContainerCredentials", "container "
			    "credentials: %s", why);
			free(why);
			free(url);
			return;
		}
	} else if (ac_env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN"))
		token = xstrdup(getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN"));
	if (token != NULL) {
		if (strpbrk(token, "\r\n") != NULL) {
			ac_end(g, 0, "ContainerCredentials", "container "
			    "credentials: the authorization token spans lines");
			ac_secret_free(token);
			free(url);
			return;
		}
		xasprintf(&authz, "Authorization: %s", token);
		headers[n++] = authz;
	}
	g->g_step = AC_CONTAINER;
	ac_fetch(g, FETCH_GET, url, headers, n, NULL);
	ac_secret_free(token);
	ac_secret_free(authz);
	free(url);
}

/* The IMDS base URL, without a trailing slash. Caller frees. */
static char *
ac_imds_base(struct aws_credentials_get *g)
{
	const char	*base = g->g_imds_url;
	size_t		 len;

	if (base == NULL && ac_env_set("AWS_EC2_METADATA_SERVICE_ENDPOINT"))
		base = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	if (base == NULL)
		base = AWS_IMDS_URL;
	len = strlen(base);
	while (len > 0 && base[len - 1] == '/')
		len--;
	return (xstrndup(base, len));
}

static void
ac_imds_token(struct aws_credentials_get *g)
{
	char		*base, *url, *ttl;
	const char	*headers[1];

	base = ac_imds_base(g);
	xasprintf(&url, "%s/latest/api/token", base);
	xasprintf(&ttl, "X-aws-ec2-metadata-token-ttl-seconds: %d",
	    AWS_IMDS_TOKEN_TTL);
	headers[0] = ttl;
	g->g_step = AC_IMDS_TOKEN;
	ac_fetch(g, FETCH_PUT, url, headers, 1, "");
	free(base);
	free(url);
	free(ttl);
}

static void
ac_imds_get(struct aws_credentials_get *g, const char *path)
{
	char		*base, *url, *hdr;
	const char	*headers[1];

	base = ac_imds_base(g);
	xasprintf(&url, "%s/latest/meta-data/iam/security-credentials/%s",
	    base, path);
	xasprintf(&hdr, "X-aws-ec2-metadata-token: %s", g->g_imds_token);
	headers[0] = hdr;
	ac_fetch(g, FETCH_GET, url, headers, 1, NULL);
	ac_secret_free(hdr);
	free(base);
	free(url);
}

static void
ac_imds_role(struct aws_credentials_get *g)
{
	g->g_step = AC_IMDS_ROLE;
	ac_imds_get(g, "");
}

static void
ac_imds_creds(struct aws_credentials_get *g)
{
	char	*role;

	g->g_step = AC_IMDS_CREDS;
	role = aws_uri_encode(g->g_role, strlen(g->g_role), 0);
	ac_imds_get(g, role);
	free(role);
}

/* Start one exchange of the chain; a failure to start ends it. */
static void
ac_fetch(struct aws_credentials_get *g, enum fetch_method method,
    const char *url, const char *const *headers, size_t n, const char *body)
{
	struct fetch_request	 fr;

	memset(&fr, 0, sizeof(fr));
	fr.method = method;
	fr.url = url;
	fr.headers = headers;
	fr.nheaders = n;
	fr.timeout = g->g_timeout;
	if (g->g_step >= AC_IMDS_TOKEN && (fr.timeout == 0 ||
	    fr.timeout > AC_IMDS_TIMEOUT))
		fr.timeout = AC_IMDS_TIMEOUT;
	fr.ca_file = g->g_ca_file;
	fr.insecure_tls = g->g_insecure_tls;
	fr.no_follow = 1;
	fr.body = body;
	fr.body_len = body != NULL ? strlen(body) : 0;
	if (g->g_body != NULL)
		ac_secret_free(g->g_body);
	g->g_body = NULL;
	g->g_body_len = 0;
	g->g_body_abort = 0;
	if ((g->g_fetch = fetch_start(g->g_fetcher, &fr, &ac_callbacks,
	    g)) == NULL)
		ac_end(g, 0, "InternalError", "cannot start a request for "
		    "AWS credentials");
}

static int
ac_data_cb(struct fetch *fe, const void *buf, size_t len, void *arg)
{
	struct aws_credentials_get	*g = arg;
	char				*grown;

	(void)fe;
	if (len > AC_BODY_MAX - g->g_body_len) {
		g->g_body_abort = 1;
		return (-1);
	}
	grown = xmalloc(g->g_body_len + len + 1);
	if (g->g_body != NULL) {
		memcpy(grown, g->g_body, g->g_body_len);
		explicit_bzero(g->g_body, g->g_body_len);
		free(g->g_body);
	}
	memcpy(grown + g->g_body_len, buf, len);
	g->g_body = grown;
	g->g_body_len += len;
	g->g_body[g->g_body_len] = '\0';
	return (0);
}

static const char *
ac_step_name(enum ac_step step)
{
	switch (step) {
	case AC_STS:
		return ("STS AssumeRoleWithWebIdentity");
	case AC_CONTAINER:
		return ("the container credentials endpoint");
	default:
		return ("instance metadata (IMDSv2)");
	}
}

static void
ac_done_cb(struct fetch *fe, enum fetch_result result, const char *errmsg,
    void *arg)
{
	struct aws_credentials_get	*g = arg;

	g->g_fetch = NULL;
	if (result != FETCH_OK) {
		if (g->g_step == AC_IMDS_TOKEN && (result == FETCH_ECONNECT ||
		    result == FETCH_ETIMEOUT))
			ac_end(g, 0, "NoCredentials", "no AWS credentials: none "
			    "in the environment, no web identity, no container "
			    "endpoint, and no instance metadata (%s)",
			    errmsg != NULL ? errmsg : fetch_result_str(result));
		else
			ac_end(g, 0, g->g_body_abort ? "AnswerTooLong" :
			    "Unreachable", "%s: %s", ac_step_name(g->g_step),
			    g->g_body_abort ? "answer too long" : errmsg !=
			    NULL ? errmsg : fetch_result_str(result));
		return;
	}
	ac_answer(g, fetch_status(fe));
}

/* An answer of the step under way. */
static void
ac_answer(struct aws_credentials_get *g, long status)
{
	const char	*body = g->g_body != NULL ? g->g_body : "";
	char		*code = NULL, *cause = NULL;
	size_t		 n;

	if (g->g_step == AC_STS) {
		if (aws_sts_parse(body, g->g_body_len, &g->g_creds, &code,
		    &cause) == -1) {
			ac_end(g, 0, code, "STS AssumeRoleWithWebIdentity "
			    "(HTTP %ld): %s", status, cause);
			free(code);
			free(cause);
			return;
		}
		ac_got(g, "web identity");
		return;
	}
	if (status != 200) {
		ac_end(g, 0, g->g_step == AC_CONTAINER ? "ContainerCredentials" :
		    "InstanceMetadata", "%s answered HTTP %ld",
		    ac_step_name(g->g_step), status);
		return;
	}
	switch (g->g_step) {
	case AC_IMDS_TOKEN:
		if (g->g_body_len == 0 || strpbrk(body, "\r\n") != NULL) {
			ac_end(g, 0, "InstanceMetadata", "IMDSv2 sent an "
			    "unusable session token");
			return;
		}
		g->g_imds_token = xstrdup(body);
		ac_imds_role(g);
		return;
	case AC_IMDS_ROLE:
		n = strcspn(body, "\r\n");
		if (n == 0 || strchr(body, '/') != NULL) {
			ac_end(g, 0, "InstanceMetadata", "the instance has no "
			    "IAM role");
			return;
		}
		g->g_role = xstrndup(body, n);
		ac_imds_creds(g);
		return;
	default:
		if (aws_credentials_json_parse(body, g->g_body_len,
		    &g->g_creds, &cause) == -1) {
			ac_end(g, 0, g->g_step == AC_CONTAINER ?
			    "ContainerCredentials" : "InstanceMetadata",
			    "%s: %s", ac_step_name(g->g_step), cause);
			free(cause);
			return;
		}
		ac_got(g, g->g_step == AC_CONTAINER ? "container" :
		    "instance metadata");
	}
}

/* Temporary credentials arrived: cache them and end. */
static void
ac_got(struct aws_credentials_get *g, const char *source)
{
	struct ac_cache	*c;
	struct tm	 tm;
	char		 when[32] = "?";

	g->g_creds.ac_source = source;
	g->g_creds.ac_obtained = time(NULL);
	if (gmtime_r(&g->g_creds.ac_expiration, &tm) != NULL)
		(void)strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	log_info("upstream %s: AWS credentials from %s, valid until %s",
	    g->g_key, source, g->g_creds.ac_expiration != 0 ? when : "-");
	c = ac_cache_find(g->g_key, 1);
	aws_credentials_clear(&c->c_creds);
	aws_credentials_copy(&c->c_creds, &g->g_creds);
	ac_end(g, 1, NULL, NULL);
}

/* Record the end and call back from the loop. */
static void
ac_end(struct aws_credentials_get *g, int ok, const char *code,
    const char *fmt, ...)
{
	va_list	 ap;

	g->g_ok = ok;
	if (!ok) {
		g->g_code = xstrdup(code != NULL ? code : "Error");
		va_start(ap, fmt);
		xvasprintf(&g->g_message, fmt, ap);
		va_end(ap);
	}
	event_active(g->g_ev, EV_TIMEOUT, 1);
}

static void
ac_deferred_cb(evutil_socket_t fd, short what, void *arg)
{
	struct aws_credentials_get	*g = arg;

	(void)fd;
	(void)what;
	if (!g->g_cancelled && g->g_cb != NULL)
		g->g_cb(g->g_ok ? &g->g_creds : NULL, g->g_code, g->g_message,
		    g->g_arg);
	ac_free(g);
}

static void
ac_free(struct aws_credentials_get *g)
{
	if (g->g_ev != NULL)
		event_free(g->g_ev);
	free(g->g_key);
	free(g->g_region);
	free(g->g_sts_url);
	free(g->g_imds_url);
	free(g->g_ca_file);
	ac_secret_free(g->g_body);
	ac_secret_free(g->g_imds_token);
	free(g->g_role);
	aws_credentials_clear(&g->g_creds);
	free(g->g_code);
	free(g->g_message);
	free(g);
}
