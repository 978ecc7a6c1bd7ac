/*
 * helm_int.h: what the files of src/helm share: one request's state,
 * the paths of the data under <data_dir>/helm, and the upstream side
 * (helm_upstream.c) that helm.c calls.
 */
#ifndef DEPOT_HELM_INT_H
#define DEPOT_HELM_INT_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "depot.h"
#include "helm/helm_index.h"

struct req;
struct config;
struct config_registry;
struct config_upstream;
struct digest;

#define HELM_PATH_MAX		1024
#define HELM_UPSTREAMS_MAX	64

/* A request under /helm/<name>/. */
struct helm_request {
	struct req		*h_req;
	char			 h_name[DEPOT_NAME_MAX + 1];
	struct config_registry	*h_reg;		/* a hosted registry, or */
	struct config_upstream	*h_up;		/* an upstream key */
	char			*h_rest;	/* the path after the name/ */
	/* index.yaml: upstream refreshes still running, members changed */
	int			 h_waiting;
	int			 h_changed;
	/* chart download: what an upstream member said */
	struct helm_record	 h_rec;
	char			*h_file;
	int			 h_found;
	size_t			 h_member;	/* which upstream */
};

/* <data_dir>/helm/... paths; -1 on truncation. */
int	helm_path_hosted(const struct config *, const char *registry,
	    char *, size_t);
int	helm_path_upstream(const struct config *, const char *key,
	    const char *file, char *, size_t);
int	helm_path_render(const struct config *, const char *name, char *,
	    size_t);

/*
 * The member files of name's index, in precedence order (a registry's
 * own charts, then its helm upstreams; an upstream key's own), into
 * paths (HELM_UPSTREAMS_MAX + 1 entries of HELM_PATH_MAX bytes). The
 * number of members.
 */
size_t	helm_members(const struct config *, const char *name,
	    char (*paths)[HELM_PATH_MAX]);
/* A change of a hosted registry's rows, for its member file. */
struct helm_delta {
	int64_t	 hd_gen;		/* the registry's generation after it */
	char	*hd_name;		/* the strings stay the caller's */
	char	*hd_version;
	char	*hd_digest;
	char	*hd_yaml;		/* NULL: the version was deleted */
};

/*
 * Render name's index.yaml again, off the loop (after applying delta to
 * a hosted registry's member file, when not NULL), then done(arg) on it
 * with 0 or -1.
 */
void	helm_render_start(struct req *, const char *name,
	    const struct helm_delta *delta, void (*done)(int, void *),
	    void *arg);

/*
 * Make the upstream members of h's index fresh: every helm upstream whose
 * index is older than its tag_ttl is revalidated (one transfer per
 * upstream per worker; requests wait for it), and every index that holds
 * a member that changed is rendered again. Then again(h). A failing
 * upstream is logged and its last index served.
 */
void	helm_upstream_refresh(struct helm_request *,
	    void (*again)(struct helm_request *));
/*
 * Fetch the chart h->h_rec names from its upstream (member h_member),
 * verify its digest, cache it in the blob store, then again(h) with
 * h_found 2 (cached: h_rec.hr_digest names the blob) or 0 after a
 * failure (logged).
 */
void	helm_upstream_chart(struct helm_request *,
	    void (*again)(struct helm_request *));
/*
 * The chart d of upstream member h_member is served from the cache: a
 * GET records its pull (cache eviction's recency), and a chart stored
 * but not linked there (cached by an older depot) is linked.
 */
void	helm_upstream_cached(struct helm_request *, const struct digest *d);

void	helm_reply_error(struct req *, int status, const char *message);
/* Free h (not its request, which must have been answered). */
void	helm_request_free(struct helm_request *);

#endif /* DEPOT_HELM_INT_H */
