/*
 * ecr_url.c: the ECR URL forms (console, registry host, -fips, China,
 * ECR Public) and what each resolves to: registry, API and STS
 * endpoints, region, partition, alias. Every refusal says what is wrong
 * and lists the accepted forms.
 */
#include <sys/types.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf/ecr_url.h"
#include "lib/xmalloc.h"

#define ECR_REPO_MAX	256
#define ECR_ALIAS_MAX	50

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
static void	 ecr_url_free(struct ecr_url *);

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

/* public.ecr.aws/<alias>[/<repository>], gallery.ecr.aws the same. */
static int
ecr_public(struct ecr_url *u, struct ecr_location *loc, char **cause)
{
	const char	*p = u->eu_path, *slash;
	size_t		 len;

	while (*p == '/')
		p++;
	if (*p == '\0') {
		xasprintf(cause, "an ECR Public URL names the registry's "
		    "alias: https://public.ecr.aws/<alias>");
		return (-1);
	}
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

