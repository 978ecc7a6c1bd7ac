/*
 * evict.h: cache limits. Content pulled through an upstream (a link a
 * fill made, recorded with the upstream's key; the cached tags) is given
 * up, least recently pulled first, while an upstream holds more than
 * its max_cache_bytes or all upstreams together more than
 * cache_max_bytes. Pushed content is never evicted, and a file stays
 * while anything else references it (gc_remove_digest decides).
 *
 * The unit of eviction is an item: one digest as cached through one
 * upstream, in every repository that holds it through that upstream.
 * Its size is the blob's; its recency the newest last pull (access.db)
 * or, never pulled, link touch of its links. evict_plan (evict_plan.c)
 * chooses the victims without any I/O; evict_run (evict.c) lists the
 * items, plans, and removes the victims one short transaction each. It
 * runs in a child process the master forks, never in a worker.
 */
#ifndef DEPOT_EVICT_H
#define DEPOT_EVICT_H

#include <stddef.h>
#include <stdint.h>

#include "depot.h"
#include "lib/digest.h"

struct index;
struct blobstore;
struct config;

struct evict_item {
	char		 ei_upstream[DEPOT_NAME_MAX + 1];
	struct digest	 ei_digest;
	int64_t		 ei_size;
	int64_t		 ei_recency;	/* unix seconds */
	char		**ei_repos;	/* that hold it through ei_upstream */
	size_t		 ei_nrepos;
	int		 ei_victim;	/* set by evict_plan */
};

/* The limits (0: none) and the bytes held, before and after a plan. */
struct evict_upstream {
	const char	*eu_key;
	long long	 eu_limit;
	uint64_t	 eu_bytes;	/* before the plan */
	uint64_t	 eu_after;	/* once the victims are gone */
	uint64_t	 eu_victims;
	uint64_t	 eu_victim_bytes;
};

struct evict_totals {
	struct evict_upstream	*et_up;		/* the caller's array */
	size_t			 et_nup;
	long long		 et_limit;	/* cache_max_bytes */
	uint64_t		 et_bytes;	/* each digest once */
	uint64_t		 et_after;
};

/*
 * Choose victims among items (reordered here), the least recent first,
 * until no limit of t is exceeded; an item of an upstream missing from
 * t counts for the total alone. Sets ei_victim, and the bytes of t.
 * Returns the number of victims.
 */
size_t	evict_plan(struct evict_item *items, size_t n,
	    struct evict_totals *t);

struct evict_result {
	uint64_t	 er_items;	/* cached items seen */
	uint64_t	 er_evicted;	/* items whose links were removed */
	uint64_t	 er_files;	/* blob files removed */
	int64_t		 er_freed;	/* their bytes */
	uint64_t	 er_uncached;	/* files of uncached fills removed */
};

/*
 * One run: list the cached items, plan with cf's limits, remove the
 * victims (their links, cached tags and pull records, then the file
 * through gc_remove_digest), publish the gauges and counters of
 * /metrics, and remove the blobs that fills committed without caching
 * (evict_note_uncached). 0 with *res, or -1 (logged).
 */
int	evict_run(struct config *cf, struct index *, struct blobstore *,
	    struct evict_result *res);

/*
 * A fill committed d while space was low and linked nothing: note it so
 * that the next run removes the file, unless something links it by then.
 */
void	evict_note_uncached(struct blobstore *, const struct digest *d);

#endif /* DEPOT_EVICT_H */
