/*
 * ecr.c: the pure parts of ECR upstreams. Owns the URL forms (console,
 * registry host, -fips, China, ECR Public) and what each resolves to
 * (registry, API and STS endpoints, region, partition, alias), the
 * signed GetAuthorizationToken request, and the parsing of its answer
 * (base64 "AWS:<password>", expiresAt) and of AWS JSON errors.
 */
#include <sys/types.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "lib/log.h"
#include "lib/xmalloc.h"
#include "upstream/aws_credentials.h"
#include "upstream/aws_sigv4.h"
#include "upstream/ecr.h"

#define ECR_REPO_MAX	256
#define ECR_ALIAS_MAX	50
#define ECR_TOKEN_MAX	(16 * 1024)

#define ECR_FORMS							\
	"an ECR URL is one of: "					\
	"https://<region>.console.aws.amazon.com/ecr/repositories/"	\
	"private/<12-digit account>/<repository>?region=<region> (the "	\
	"console), https://<account>.dkr.ecr.<region>.amazonaws.com "	\
	"(also dkr.ecr-fips, and .amazonaws.com.cn), "			\
	"https://public.ecr.aws/<alias> or https://gallery.ecr.aws/<alias>"

/* The pieces of an https URL, cut out of a copy. */
struct ecr_url {
	char	*eu_copy;
	char	*eu_host;	/* lower-cased */
	char	*eu_path;	/* "" or "/..." */
	char	*eu_query;	/* NULL or after '?' */
};

static int	 ecr_url_split(const char *, struct ecr_url *, char **);
static int	 ecr_query_region(const char *, char *, size_t, char **);
static int	 ecr_repo_valid(const char *, size_t);
static int	 ecr_alias_valid(const char *, size_t);
static int	 ecr_console(struct ecr_url *, const char *, size_t,
		    struct ecr_location *, char **);
static int	 ecr_registry_host(struct ecr_url *, struct ecr_location *,
		    char **);
static int	 ecr_public(struct ecr_url *, struct ecr_location *, char **);
static int	 ecr_region_set(struct ecr_location *, const char *, size_t,
		    const char *, char **);
static void	 ecr_endpoints(struct ecr_location *);
static int	 ecr_host_of(const char *, char **, const char **);

int
ecr_region_valid(const char *s, size_t len)
{
	size_t	 i, parts = 1;

	if (len < 4 || len > ECR_REGION_MAX || !(s[0] >= 'a' && s[0] <= 'z') ||
	    !(s[len - 1] >= '0' && s[len - 1] <= '9'))
		return (0);
	for (i = 0; i < len; i++) {
		if (s[i] == '-') {
			if (s[i - 1] == '-')
				return (0);
			parts++;
		} else if (!(s[i] >= 'a' && s[i] <= 'z') &&
		    !(s[i] >= '0' && s[i] <= '9'))
			return (0);
	}
	return (parts >= 3);
}

/* https://host[/path][?query][#fragment]: 0, or -1 with *cause. */
static int
ecr_url_split(const char *url, struct ecr_url *u, char **cause)
{
	char	*p, *e;
	size_t	 i;

	memset(u, 0, sizeof(*u));
	for (i = 0; url[i] != '\0'; i++)
		if ((unsigned char)url[i] <= 0x20 || url[i] == 0x7f) {
			xasprintf(cause, "an ECR URL has no blanks or control "
			    "characters");
			return (-1);
		}
	if (strncasecmp(url, "https://", 8) != 0) {
		xasprintf(cause, "an ECR URL starts with https://; %s",
		    ECR_FORMS);
		return (-1);
	}
	u->eu_copy = xstrdup(url + 8);
	if ((p = strchr(u->eu_copy, '#')) != NULL)
		*p = '\0';
	if ((p = strchr(u->eu_copy, '?')) != NULL) {
		*p = '\0';
		u->eu_query = p + 1;
	}
	u->eu_host = u->eu_copy;
	if ((p = strchr(u->eu_copy, '/')) != NULL) {
		/* The path moves one byte right to end the host. */
		e = xstrdup(p);
		*p = '\0';
		u->eu_path = e;
	} else
		u->eu_path = xstrdup("");
	for (p = u->eu_host; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	if (u->eu_host[0] == '\0' || strpbrk(u->eu_host, "@:[]") != NULL) {
		xasprintf(cause, "an ECR URL names a host without user, "
		    "password or port; %s", ECR_FORMS);
		free(u->eu_path);
		free(u->eu_copy);
		memset(u, 0, sizeof(*u));
		return (-1);
	}
	return (0);
}

static void
ecr_url_free(struct ecr_url *u)
{
	free(u->eu_path);
	free(u->eu_copy);
	memset(u, 0, sizeof(*u));
}

/* The value of region= in query into buf ("" when absent). 0, or -1. */
static int
ecr_query_region(const char *query, char *buf, size_t len, char **cause)
{
	const char	*p;
	size_t		 n;

	buf[0] = '\0';
	for (p = query; p != NULL && *p != '\0'; p += n + (p[n] == '&')) {
		n = strcspn(p, "&");
		if (n < 7 || strncmp(p, "region=", 7) != 0)
			continue;
		if (!ecr_region_valid(p + 7, n - 7) || n - 7 >= len) {
			xasprintf(cause, "'region=%.*s' in the ECR URL is not "
			    "an AWS region", (int)(n - 7 > 40 ? 40 : n - 7),
			    p + 7);
			return (-1);
		}
		if (buf[0] != '\0' && (strlen(buf) != n - 7 ||
		    strncmp(buf, p + 7, n - 7) != 0)) {
			xasprintf(cause, "the ECR URL names two regions");
			return (-1);
		}
		memcpy(buf, p + 7, n - 7);
		buf[n - 7] = '\0';
	}
	return (0);
}

/* An ECR repository name: [a-z0-9._-] components joined by '/'. */
static int
ecr_repo_valid(const char *s, size_t len)
{
	size_t	 i;

	if (len == 0 || len > ECR_REPO_MAX || s[0] == '/' ||
	    s[len - 1] == '/')
		return (0);
	for (i = 0; i < len; i++) {
		if (s[i] == '/' && s[i + 1] == '/')
			return (0);
		if (!(s[i] >= 'a' && s[i] <= 'z') &&
		    !(s[i] >= '0' && s[i] <= '9') &&
		    strchr("._-/", s[i]) == NULL)
			return (0);
	}
	return (1);
}

/* An ECR Public alias: lower-case letters, digits, '-' and '_'. */
static int
ecr_alias_valid(const char *s, size_t len)
{
	size_t	 i;

	if (len < 2 || len > ECR_ALIAS_MAX ||
	    !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return (0);
	for (i = 0; i < len; i++)
		if (!(s[i] >= 'a' && s[i] <= 'z') &&
		    !(s[i] >= '0' && s[i] <= '9') && s[i] != '-' &&
		    s[i] != '_')
			return (0);
	return (1);
}

/*
 * Set the region (from the host, hlen bytes, or the query's) and the
 * partition; they must agree. china: the host is .amazonaws.com.cn /
 * .amazonaws.cn.
 */
static int
ecr_region_set(struct ecr_location *loc, const char *host_region,
    size_t hlen, const char *query_region, char **cause)
{
	int	 china_host = loc->el_partition != NULL &&
		    strcmp(loc->el_partition, "aws-cn") == 0;

	if (hlen > 0 && !ecr_region_valid(host_region, hlen)) {
		xasprintf(cause, "'%.*s' in the ECR URL's host is not an AWS "
		    "region", (int)(hlen > 40 ? 40 : hlen), host_region);
		return (-1);
	}
	if (hlen > 0 && query_region[0] != '\0' &&
	    (strlen(query_region) != hlen ||
	    strncmp(query_region, host_region, hlen) != 0)) {
		xasprintf(cause, "the ECR URL's host names region %.*s but "
		    "its ?region= names %s: they must agree", (int)hlen,
		    host_region, query_region);
		return (-1);
	}
	if (hlen > 0)
		(void)snprintf(loc->el_region, sizeof(loc->el_region), "%.*s",
		    (int)hlen, host_region);
	else if (query_region[0] != '\0')
		(void)snprintf(loc->el_region, sizeof(loc->el_region), "%s",
		    query_region);
	else {
		xasprintf(cause, "the ECR URL names no region (add "
		    "?region=<region>)");
		return (-1);
	}
	if (strncmp(loc->el_region, "cn-", 3) == 0) {
		if (!china_host) {
			xasprintf(cause, "region %s is in AWS China: its hosts "
			    "end in .amazonaws.com.cn", loc->el_region);
			return (-1);
		}
	} else if (china_host) {
		xasprintf(cause, "a .amazonaws.com.cn host is for a China "
		    "region (cn-...), not %s", loc->el_region);
		return (-1);
	} else if (strncmp(loc->el_region, "us-gov-", 7) == 0)
		loc->el_partition = "aws-us-gov";
	else
		loc->el_partition = "aws";
	return (0);
}

/* .../ecr/repositories/{private|public}/<account>[/<repository>] */
static int
ecr_console(struct ecr_url *u, const char *host_region, size_t hlen,
    struct ecr_location *loc, char **cause)
{
	static const char	 prefix[] = "/ecr/repositories/";
	char			 qregion[ECR_REGION_MAX + 1];
	const char		*p, *repo, *end;
	size_t			 i;
	int			 public = 0;

	if (ecr_query_region(u->eu_query, qregion, sizeof(qregion),
	    cause) == -1)
		return (-1);
	p = u->eu_path;
	if (strncmp(p, prefix, strlen(prefix)) != 0)
		goto form;
	p += strlen(prefix);
	if (strncmp(p, "private/", 8) == 0)
		p += 8;
	else if (strncmp(p, "public/", 7) == 0) {
		p += 7;
		public = 1;
	} else
		goto form;
	for (i = 0; i < ECR_ACCOUNT_LEN; i++)
		if (!isdigit((unsigned char)p[i]))
			goto form;
	if (p[ECR_ACCOUNT_LEN] != '\0' && p[ECR_ACCOUNT_LEN] != '/')
		goto form;
	if (public) {
		xasprintf(cause, "the console URL of a public repository names "
		    "the account (%.12s), not the registry's alias: use the "
		    "repository's URI, https://public.ecr.aws/<alias>", p);
		return (-1);
	}
	memcpy(loc->el_account, p, ECR_ACCOUNT_LEN);
	loc->el_account[ECR_ACCOUNT_LEN] = '\0';
	repo = p + ECR_ACCOUNT_LEN;
	if (*repo == '/')
		repo++;
	/* An image's page: .../<repository>/_/image/<digest>/details */
	if ((end = strstr(repo, "/_/")) == NULL)
		end = repo + strlen(repo);
	while (end > repo && end[-1] == '/')
		end--;
	if (end > repo) {
		if (!ecr_repo_valid(repo, end - repo)) {
			xasprintf(cause, "'%.*s' in the ECR URL is not a "
			    "repository name (a-z 0-9 . _ - and /)",
			    (int)(end - repo > 80 ? 80 : end - repo), repo);
			return (-1);
		}
		loc->el_example = xstrndup(repo, end - repo);
	}
	loc->el_kind = ECR_PRIVATE;
	loc->el_service = "ecr";
	loc->el_target = ECR_TARGET_PRIVATE;
	return (ecr_region_set(loc, host_region, hlen, qregion, cause));
form:
	xasprintf(cause, "a console URL must be .../ecr/repositories/private/"
	    "<12-digit account>/<repository>?region=<region>; %s", ECR_FORMS);
	return (-1);
}

/* <account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn] */
static int
ecr_registry_host(struct ecr_url *u, struct ecr_location *loc, char **cause)
{
	char		 qregion[ECR_REGION_MAX + 1];
	const char	*h = u->eu_host, *region, *dot;
	size_t		 i;

	for (i = 0; i < ECR_ACCOUNT_LEN; i++)
		if (!isdigit((unsigned char)h[i]))
			goto form;
	h += ECR_ACCOUNT_LEN;
	if (strncmp(h, ".dkr.ecr-fips.", 14) == 0) {
		loc->el_fips = 1;
		h += 14;
	} else if (strncmp(h, ".dkr.ecr.", 9) == 0)
		h += 9;
	else
		goto form;
	region = h;
	if ((dot = strchr(region, '.')) == NULL)
		goto form;
	if (strcmp(dot, ".amazonaws.com.cn") == 0)
		loc->el_partition = "aws-cn";
	else if (strcmp(dot, ".amazonaws.com") != 0)
		goto form;
	if (u->eu_path[0] != '\0' && strcmp(u->eu_path, "/") != 0) {
		xasprintf(cause, "an ECR registry URL takes no path: image "
		    "paths under the upstream key are the repository names");
		return (-1);
	}
	if (ecr_query_region(u->eu_query, qregion, sizeof(qregion),
	    cause) == -1)
		return (-1);
	memcpy(loc->el_account, u->eu_host, ECR_ACCOUNT_LEN);
	loc->el_account[ECR_ACCOUNT_LEN] = '\0';
	loc->el_kind = ECR_PRIVATE;
	loc->el_service = "ecr";
	loc->el_target = ECR_TARGET_PRIVATE;
	if (ecr_region_set(loc, region, dot - region, qregion, cause) == -1)
		return (-1);
	if (loc->el_fips && strcmp(loc->el_partition, "aws-cn") == 0) {
		xasprintf(cause, "ECR has no FIPS endpoints in AWS China");
		return (-1);
	}
	return (0);
form:
	xasprintf(cause, "'%.80s' is not an ECR registry host; %s",
	    u->eu_host, ECR_FORMS);
	return (-1);
}

/* public.ecr.aws[/<alias>[/<repository>]], gallery.ecr.aws the same. */
static int
ecr_public(struct ecr_url *u, struct ecr_location *loc, char **cause)
{
	const char	*p = u->eu_path, *slash;
	size_t		 len;

	while (*p == '/')
		p++;
	if (*p != '\0') {
		slash = strchr(p, '/');
		len = slash != NULL ? (size_t)(slash - p) : strlen(p);
		if (!ecr_alias_valid(p, len)) {
			xasprintf(cause, "'%.*s' is not an ECR Public alias "
			    "(2 to 50 of a-z 0-9 - _)", (int)(len > 60 ? 60 :
			    len), p);
			return (-1);
		}
		loc->el_alias = xstrndup(p, len);
		if (slash != NULL) {
			p = slash + 1;
			len = strlen(p);
			while (len > 0 && p[len - 1] == '/')
				len--;
			if (len > 0 && !ecr_repo_valid(p, len)) {
				xasprintf(cause, "'%.*s' in the ECR URL is not "
				    "a repository name", (int)(len > 80 ? 80 :
				    len), p);
				return (-1);
			}
			if (len > 0)
				loc->el_example = xstrndup(p, len);
		}
	}
	loc->el_kind = ECR_PUBLIC;
	loc->el_partition = "aws";
	(void)snprintf(loc->el_region, sizeof(loc->el_region), "%s",
	    ECR_PUBLIC_REGION);
	loc->el_service = "ecr-public";
	loc->el_target = ECR_TARGET_PUBLIC;
	return (0);
}

/* The registry, API and STS URLs of a parsed location. */
static void
ecr_endpoints(struct ecr_location *loc)
{
	const char	*suffix;

	if (loc->el_kind == ECR_PUBLIC) {
		loc->el_registry_url = xstrdup("https://public.ecr.aws");
		xasprintf(&loc->el_api_url, "https://api.ecr-public.%s."
		    "amazonaws.com", ECR_PUBLIC_REGION);
		xasprintf(&loc->el_sts_url, "https://sts.%s.amazonaws.com",
		    ECR_PUBLIC_REGION);
		return;
	}
	suffix = strcmp(loc->el_partition, "aws-cn") == 0 ?
	    "amazonaws.com.cn" : "amazonaws.com";
	xasprintf(&loc->el_registry_url, "https://%s.dkr.ecr%s.%s.%s",
	    loc->el_account, loc->el_fips ? "-fips" : "", loc->el_region,
	    suffix);
	if (loc->el_fips)
		xasprintf(&loc->el_api_url, "https://ecr-fips.%s.%s",
		    loc->el_region, suffix);
	else
		xasprintf(&loc->el_api_url, "https://api.ecr.%s.%s",
		    loc->el_region, suffix);
	xasprintf(&loc->el_sts_url, "https://sts.%s.%s", loc->el_region,
	    suffix);
}

int
ecr_url_parse(const char *url, struct ecr_location *loc, char **cause)
{
	struct ecr_url	 u;
	const char	*h;
	size_t		 n;
	int		 rc = -1;

	memset(loc, 0, sizeof(*loc));
	*cause = NULL;
	if (url == NULL || ecr_url_split(url, &u, cause) == -1)
		goto done;
	h = u.eu_host;
	n = strlen(h);
	if (strcmp(h, "public.ecr.aws") == 0 ||
	    strcmp(h, "gallery.ecr.aws") == 0)
		rc = ecr_public(&u, loc, cause);
	else if (strcmp(h, "console.aws.amazon.com") == 0)
		rc = ecr_console(&u, "", 0, loc, cause);
	else if (n > 23 && strcmp(h + n - 23, ".console.aws.amazon.com") == 0)
		rc = ecr_console(&u, h, n - 23, loc, cause);
	else if (strcmp(h, "console.amazonaws.cn") == 0) {
		loc->el_partition = "aws-cn";
		rc = ecr_console(&u, "", 0, loc, cause);
	} else if (n > 21 && strcmp(h + n - 21, ".console.amazonaws.cn") == 0) {
		loc->el_partition = "aws-cn";
		rc = ecr_console(&u, h, n - 21, loc, cause);
	} else if (n > ECR_ACCOUNT_LEN && strstr(h, ".dkr.ecr") != NULL)
		rc = ecr_registry_host(&u, loc, cause);
	else
		xasprintf(cause, "'%.80s' is not an ECR host; %s", h,
		    ECR_FORMS);
	ecr_url_free(&u);
	if (rc == 0)
		ecr_endpoints(loc);
done:
	if (rc == -1) {
		ecr_location_clear(loc);
		if (*cause == NULL)
			xasprintf(cause, "%s", ECR_FORMS);
	}
	return (rc);
}

void
ecr_location_clear(struct ecr_location *loc)
{
	free(loc->el_alias);
	free(loc->el_example);
	free(loc->el_registry_url);
	free(loc->el_api_url);
	free(loc->el_sts_url);
	memset(loc, 0, sizeof(*loc));
}

/* The host[:port] and path of an http(s) URL. 0, or -1. *host: caller
 * frees; *path points into url ("/" when none). */
static int
ecr_host_of(const char *url, char **host, const char **path)
{
	const char	*p, *e;

	if (strncasecmp(url, "https://", 8) == 0)
		p = url + 8;
	else if (strncasecmp(url, "http://", 7) == 0)
		p = url + 7;
	else
		return (-1);
	e = p + strcspn(p, "/?#");
	if (e == p || memchr(p, '@', e - p) != NULL)
		return (-1);
	*host = xstrndup(p, e - p);
	*path = *e == '/' ? e : "/";
	return (0);
}

int
ecr_api_request(const struct ecr_location *loc, const char *api_url,
    const struct aws_credentials *cr, time_t now, struct ecr_api_request *ar,
    char **cause)
{
	struct aws_sigv4_header	 h[6];
	struct aws_sigv4_request req;
	struct aws_sigv4_signer	 sg;
	char			 date[AWS_SIGV4_DATE_LEN + 1], *host = NULL;
	char			*authz, *path_only;
	const char		*path;
	size_t			 n = 0, i;

	memset(ar, 0, sizeof(*ar));
	if (api_url == NULL)
		api_url = loc->el_api_url;
	if (ecr_host_of(api_url, &host, &path) == -1) {
		xasprintf(cause, "unusable ECR API URL");
		return (-1);
	}
	aws_sigv4_date(now, date, sizeof(date));
	ar->ar_url = xstrdup(api_url);
	ar->ar_body = xstrdup("{}");
	h[n].h_name = "Host";
	h[n++].h_value = host;
	h[n].h_name = "X-Amz-Date";
	h[n++].h_value = date;
	h[n].h_name = "X-Amz-Target";
	h[n++].h_value = loc->el_target;
	h[n].h_name = "Content-Type";
	h[n++].h_value = ECR_CONTENT_TYPE;
	if (cr->ac_session_token != NULL) {
		h[n].h_name = "X-Amz-Security-Token";
		h[n++].h_value = cr->ac_session_token;
	}
	path_only = xstrndup(path, strcspn(path, "?#"));
	memset(&req, 0, sizeof(req));
	req.r_method = "POST";
	req.r_path = path_only;
	req.r_query = strchr(path, '?') != NULL ? strchr(path, '?') + 1 : NULL;
	req.r_headers = h;
	req.r_nheaders = n;
	req.r_body = ar->ar_body;
	req.r_body_len = strlen(ar->ar_body);
	memset(&sg, 0, sizeof(sg));
	sg.s_access_key_id = cr->ac_access_key_id;
	sg.s_secret_access_key = cr->ac_secret_access_key;
	sg.s_region = loc->el_region;
	sg.s_service = loc->el_service;
	sg.s_amz_date = date;
	authz = aws_sigv4_authorization(&req, &sg);
	free(path_only);
	if (authz == NULL) {
		free(host);
		ecr_api_request_clear(ar);
		xasprintf(cause, "cannot sign the GetAuthorizationToken "
		    "request");
		return (-1);
	}
	for (i = 0; i < n; i++)
		xasprintf(&ar->ar_headers[ar->ar_nheaders++], "%s: %s",
		    h[i].h_name, h[i].h_value);
	xasprintf(&ar->ar_headers[ar->ar_nheaders++], "Authorization: %s",
	    authz);
	/* No "Expect: 100-continue" round trip for a tiny body. */
	ar->ar_headers[ar->ar_nheaders++] = xstrdup("Expect:");
	explicit_bzero(authz, strlen(authz));
	free(authz);
	free(host);
	return (0);
}

void
ecr_api_request_clear(struct ecr_api_request *ar)
{
	size_t	 i;

	for (i = 0; i < ar->ar_nheaders; i++) {
		explicit_bzero(ar->ar_headers[i], strlen(ar->ar_headers[i]));
		free(ar->ar_headers[i]);
	}
	free(ar->ar_url);
	free(ar->ar_body);
	memset(ar, 0, sizeof(*ar));
}

/* base64 "user:password" into tok. 0, or -1. */
static int
ecr_token_decode(const char *b64, struct ecr_token *tok)
{
	unsigned char	*out;
	size_t		 len = strlen(b64), pad = 0;
	int		 n;
	char		*colon;

	if (len == 0 || len % 4 != 0 || len > ECR_TOKEN_MAX)
		return (-1);
	if (b64[len - 1] == '=')
		pad++;
	if (b64[len - 2] == '=')
		pad++;
	out = xmalloc(len / 4 * 3 + 1);
	n = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)len);
	if (n < 0 || (size_t)n < pad) {
		free(out);
		return (-1);
	}
	n -= (int)pad;
	out[n] = '\0';
	if (memchr(out, '\0', n) != NULL ||
	    (colon = strchr((char *)out, ':')) == NULL ||
	    colon == (char *)out || colon[1] == '\0') {
		explicit_bzero(out, n);
		free(out);
		return (-1);
	}
	*colon = '\0';
	tok->et_username = xstrdup((char *)out);
	tok->et_password = xstrdup(colon + 1);
	explicit_bzero(out, n);
	free(out);
	return (0);
}

int
ecr_token_parse(const char *json, size_t len, struct ecr_token *tok,
    char **cause)
{
	json_t		*root, *data, *v;
	json_error_t	 err;
	double		 expires;
	int		 rc = -1;

	memset(tok, 0, sizeof(*tok));
	if ((root = json_loadb(json, len, 0, &err)) == NULL) {
		xasprintf(cause, "GetAuthorizationToken's answer is not JSON");
		return (-1);
	}
	data = json_object_get(root, "authorizationData");
	if (json_is_array(data))
		data = json_array_get(data, 0);
	if (!json_is_object(data)) {
		xasprintf(cause, "GetAuthorizationToken's answer has no "
		    "authorizationData");
		goto done;
	}
	v = json_object_get(data, "expiresAt");
	if (!json_is_number(v) || (expires = json_number_value(v)) <= 0 ||
	    expires > 1e11) {
		xasprintf(cause, "GetAuthorizationToken's answer has no usable "
		    "expiresAt");
		goto done;
	}
	tok->et_expires = (time_t)expires;
	v = json_object_get(data, "authorizationToken");
	if (!json_is_string(v) || ecr_token_decode(json_string_value(v),
	    tok) == -1) {
		xasprintf(cause, "GetAuthorizationToken's answer has no usable "
		    "authorizationToken");
		ecr_token_clear(tok);
		goto done;
	}
	rc = 0;
done:
	json_decref(root);
	return (rc);
}

void
ecr_token_clear(struct ecr_token *tok)
{
	free(tok->et_username);
	if (tok->et_password != NULL) {
		explicit_bzero(tok->et_password, strlen(tok->et_password));
		free(tok->et_password);
	}
	memset(tok, 0, sizeof(*tok));
}

/* A printable, single-line copy of s, at most max bytes. Caller frees. */
static char *
ecr_printable(const char *s, size_t max)
{
	char	*out;
	size_t	 i, n = strlen(s);

	if (n > max)
		n = max;
	out = xstrndup(s, n);
	for (i = 0; out[i] != '\0'; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			out[i] = ' ';
	return (out);
}

void
ecr_error_parse(const char *json, size_t len, const char *type_header,
    long status, char **code, char **message)
{
	json_t		*root = NULL, *v;
	json_error_t	 err;
	const char	*type = NULL, *hash;
	char		*t;

	*code = NULL;
	*message = NULL;
	if (json != NULL && len > 0)
		root = json_loadb(json, len, 0, &err);
	if (json_is_object(root)) {
		if (json_is_string(v = json_object_get(root, "__type")))
			type = json_string_value(v);
		if (json_is_string(v = json_object_get(root, "message")) ||
		    json_is_string(v = json_object_get(root, "Message")))
			*message = ecr_printable(json_string_value(v), 200);
	}
	if (type == NULL && type_header != NULL && *type_header != '\0')
		type = type_header;
	if (type != NULL) {
		/* "com.amazonaws.ecr#ThrottlingException", "X:http://..." */
		if ((hash = strrchr(type, '#')) != NULL)
			type = hash + 1;
		t = ecr_printable(type, 80);
		t[strcspn(t, ": ")] = '\0';
		if (*t != '\0')
			*code = t;
		else
			free(t);
	}
	if (*code == NULL)
		xasprintf(code, "HTTP %ld", status);
	json_decref(root);
}
