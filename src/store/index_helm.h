/*
 * index_helm.h: the hosted Helm charts in the index (helm.db).
 *
 * A registry's charts are rows (registry, name, version); each upload or
 * delete also moves the registry's generation, in the same transaction,
 * so that whoever renders the registry's index from a read of the rows
 * can tell whether a newer read was rendered already.
 */
#ifndef DEPOT_INDEX_HELM_H
#define DEPOT_INDEX_HELM_H

#include <stddef.h>
#include <stdint.h>

struct index;

#define INDEX_HELM_HEX		64	/* hex SHA-256 */

struct index_helm_chart {
	char	 ihc_name[256];
	char	 ihc_version[129];
	char	 ihc_digest[INDEX_HELM_HEX + 1];	/* the .tgz */
	int64_t	 ihc_size;
	char	 ihc_prov[INDEX_HELM_HEX + 1];		/* "" when none */
	int64_t	 ihc_created;				/* unix seconds */
	char	*ihc_entry;	/* index entry, JSON object text */
	char	*ihc_yaml;	/* the same entry, rendered as YAML */
};

void	index_helm_chart_clear(struct index_helm_chart *);
void	index_helm_charts_free(struct index_helm_chart *, size_t);

/* 1 found (c filled; clear it), 0 absent, -1 error. */
int	index_helm_get(struct index *, const char *registry, const char *name,
	    const char *version, struct index_helm_chart *c);
/*
 * Store c (its name and version say where) unless that version exists
 * and force is not set: 1 stored (*old filled when it replaced one,
 * else old->ihc_digest is ""), 0 exists, -1 error. *gen gets the
 * registry's new generation.
 */
int	index_helm_put(struct index *, const char *registry,
	    const struct index_helm_chart *c, int force,
	    struct index_helm_chart *old, int64_t *gen);
/* 1 deleted (*old filled), 0 absent, -1 error; *gen as for put. */
int	index_helm_delete(struct index *, const char *registry,
	    const char *name, const char *version,
	    struct index_helm_chart *old, int64_t *gen);
/*
 * Every chart of registry (name NULL) or of one chart name, in (name,
 * version) byte order, read in one snapshot with the generation it
 * shows. Free with index_helm_charts_free. 0 or -1.
 */
int	index_helm_list(struct index *, const char *registry, const char *name,
	    struct index_helm_chart **out, size_t *count, int64_t *gen);
/* The registry's generation (0 before its first chart). 0 or -1. */
int	index_helm_gen(struct index *, const char *registry, int64_t *gen);
/* The hosted charts of a registry, counted up to max versions. */
struct index_helm_stats {
	size_t	 ihs_charts;		/* names */
	size_t	 ihs_versions;
	int64_t	 ihs_bytes;		/* of the .tgz files */
	int	 ihs_complete;		/* 0: stopped at max */
};
int	index_helm_stats(struct index *, const char *registry, size_t max,
	    struct index_helm_stats *);
/* Remove every chart row of registry (its blobs stay). Rows or -1. */
int	index_helm_purge(struct index *, const char *registry);

#endif /* DEPOT_INDEX_HELM_H */
