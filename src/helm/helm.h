/*
 * helm.h: Helm chart repositories under /helm/.
 *
 * Configuration (depot.conf(5)):
 *  - a registry with type = "helm" is a hosted chart repository at
 *    /helm/<name>/; its upstreams (type = "helm" only) are merged into
 *    its index.yaml after its own charts, in the listed order, and the
 *    first member that has a name+version wins;
 *  - an upstream with type = "helm" needs source = "custom" and url = the
 *    repository's URL, the directory that holds index.yaml (a url ending
 *    in ".yaml" is taken as the index itself); auth is "anonymous" or
 *    "userpass" (Basic, sent to the url's own origin only); tag_ttl is how
 *    long a fetched index.yaml is trusted before it is revalidated with
 *    If-None-Match / If-Modified-Since; timeout, ca_file and insecure_tls
 *    apply as for docker upstreams. An upstream key is also a read-only
 *    chart repository at /helm/<key>/;
 *  - server.max_chart_size (bytes, default 20 MiB, at most server.max_body
 *    when that is set) limits an uploaded chart (and its .prov): 413 beyond;
 *  - read and write lists of the registry or key apply as for Docker:
 *    GET/HEAD need read, POST and DELETE need write. Clients send Basic
 *    credentials (helm repo add --username --password); a 401 carries
 *    WWW-Authenticate: Basic realm="depot".
 *
 * URLs (relative to /helm/<registry>):
 *   GET|HEAD  /index.yaml                  merged index (ETag, gzip)
 *   GET|HEAD  /charts/<name>-<version>.tgz chart (and .tgz.prov)
 *   POST      /api/charts                  raw .tgz, or multipart/form-data
 *                                          with field "chart" (+ "prov");
 *                                          ?force overwrites; 201, 409
 *   GET       /api/charts[/<name>[/<version>]]   JSON (ChartMuseum shape)
 *   HEAD      /api/charts/<name>[/<version>]     200 or 404
 *   DELETE    /api/charts/<name>/<version>       200 {"deleted":true}
 * Errors outside the index are JSON {"error":"message"}.
 *
 * Data under <data_dir>/helm/ (all of it can be rebuilt from the index
 * and the upstreams; chart files are blobs of the blob store):
 *   hosted/<registry>.member     the registry's own charts, compact form
 *   upstreams/<key>/member       an upstream's index, compact form
 *   upstreams/<key>/state        validators and fetch time (JSON)
 *   upstreams/<key>/index.tmp.*  an index.yaml being downloaded
 *   render/<name>/index-<sha256>.yaml[.gz] a rendered index, and
 *   render/<name>/current        symlink to the one served
 *   render/<name>/lock           taken while rendering
 * The hosted charts themselves are rows of the index (store/index_helm.h)
 * and blobs of the blob store; cached upstream charts are blobs too.
 */
#ifndef DEPOT_HELM_H
#define DEPOT_HELM_H

#include <stddef.h>

struct req;

#define HELM_PREFIX		"/helm/"
#define HELM_CHART_SIZE_DEFAULT	(20LL * 1024 * 1024)

/* Every request whose path starts with /helm/. */
void	helm_dispatch(struct req *);

/*
 * Remove what <data_dir>/helm holds for a registry that is deleted (its
 * member file and rendered index), so that a new registry of that name
 * starts empty. Errors are logged.
 */
struct config;
void	helm_registry_forget(const struct config *, const char *name);

/*
 * The chart versions of helm registry or helm upstream key name as its
 * index.yaml lists them (hosted charts first, then the upstreams in
 * order; the first that has a name+version wins), a page at a time, for
 * the JSON API. The upstream indexes are made fresh first, as for
 * index.yaml; the member files are then read off the loop. done(page,
 * arg) follows on the loop, once; the page is freed after it returns.
 */
struct helm_chart_version {
	char	*cv_name;
	char	*cv_version;
	char	*cv_digest;		/* hex SHA-256, "" when unknown */
	char	*cv_app_version;	/* NULL when the entry has none */
	char	*cv_description;
	char	*cv_created;
	char	*cv_source;		/* "hosted", or the upstream key */
	int	 cv_hosted;
	int	 cv_cached;		/* the .tgz is in the blob store */
};
struct helm_chart_page {
	int				 cp_ret;	/* 0, or -1: */
	char				*cp_cause;	/* why */
	struct helm_chart_version	*cp_list;
	size_t				 cp_count;
	int				 cp_more;	/* a next page */
};
struct helm_chart_query {
	const char	*cq_match;	/* part of the name, any case; or NULL */
	const char	*cq_after_name;	/* the last of the page before, */
	const char	*cq_after_version;	/* or NULL */
	size_t		 cq_want;
};
void	helm_charts_list(struct req *, const char *name,
	    const struct helm_chart_query *,
	    void (*done)(const struct helm_chart_page *, void *), void *arg);

#endif /* DEPOT_HELM_H */
