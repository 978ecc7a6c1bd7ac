/*
 * gc.h: garbage collection of the store, online, while pushes and pulls
 * run (gc.c), and the one primitive that removes a blob, shared by the
 * collection, cache eviction and fsck --repair.
 *
 * What holds a blob (a file of blobs/, manifests included):
 *  - a link (repo, digest) in links.db, found from the digest through
 *    the reverse table of links (digest NUL repo) in the same
 *    transaction that writes or deletes the link;
 *  - a hosted Helm chart version of helm.db (its .tgz and .prov).
 * Its age is the newest of its links' `touched` (set when a link is
 * written, mounted, HEAD-confirmed, or re-read by a manifest PUT that
 * references it) and of the file's mtime (set when written, refreshed by
 * gc_hold when a writer finds the file already stored).
 *
 * Locking: the sweep holds an exclusive flock on the blob file across
 * its re-check transaction and the unlink(2) that follows the commit;
 * writers that link a blob already in blobs/ (upload of known bytes,
 * cross-repository mount, a fill that found the blob stored) hold it
 * shared with gc_hold around their link transaction, so they either see
 * the file gone (and store it again, or answer that it is unknown) or
 * the sweep sees their link. A manifest PUT re-reads and touches the
 * links it references inside its own commit transaction
 * (index_manifest_commit_refs), so it either sees each blob linked or
 * fails with MANIFEST_BLOB_UNKNOWN.
 *
 * Long work (the mark) runs in depotctl or in a child the master forks,
 * never in a worker; no lock is held across slow I/O.
 */
#ifndef DEPOT_GC_H
#define DEPOT_GC_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/digest.h"
#include "store/index.h"

struct blobstore;

/* Default grace (seconds): longer than the default upload expiry (1 d). */
#define GC_GRACE_DEFAULT	(2 * 86400)

/*
 * The sweep primitive. Remove the blob d when nothing references it and
 * nothing touched it after cutoff (unix seconds): in one short
 * transaction that takes the locks a link writer takes, check that no
 * repository links d (reverse table) and no hosted chart names it, and
 * drop its manifest record (manifests.db) if any; after the commit,
 * unlink the file, all under the blob file's exclusive flock, and only
 * when its mtime is not after cutoff.
 * Returns 1 removed (*freed, when not NULL, gets the file's size), 0
 * kept (referenced, touched after cutoff, or not stored), -1 error
 * (logged). Links are not removed here: remove them first (gc_unlink,
 * or cache eviction's own rules), then call this.
 */
int	gc_remove_digest(struct index *, struct blobstore *,
	    const struct digest *d, int64_t cutoff, int64_t *freed);

/*
 * Remove the link (repo, d) when it was not touched after cutoff; for a
 * manifest link, only when no tag of repo points at d, and its referrer
 * entry goes with it. One transaction with locks. 1 removed, 0 kept or
 * absent, -1 error.
 */
int	gc_unlink(struct index *, const char *repo, const struct digest *d,
	    int64_t cutoff);

/*
 * For writers that link a blob already in blobs/: take the blob file's
 * shared flock and refresh its mtime. 1 held (*fd to pass to
 * gc_release), 0 the blob is not stored (or was just swept: store it
 * again, or answer that it is unknown), -1 error. Never held across slow
 * I/O: hold, write the link, release.
 */
int	gc_hold(struct blobstore *, const struct digest *d, int *fd);
/* Release what gc_hold took. Accepts -1. */
void	gc_release(int fd);

/*
 * gc_hold + index_link_put + gc_release: link the stored blob d into
 * repo (upstream: the upstream key of a fill, NULL or "" for pushes and
 * mounts). 1 linked, 0 not stored (nothing linked), -1 error.
 */
int	gc_link_stored(struct index *, struct blobstore *, const char *repo,
	    const struct digest *d, enum index_link_kind kind,
	    const char *upstream);

/* A collection. */
struct gc_options {
	int		 go_dry_run;	/* count, remove nothing */
	int64_t		 go_grace;	/* seconds; < 0: the default */
	const char	*go_registry;	/* NULL: all; else its repos */
	int		 go_untagged;	/* untagged manifests go too */
	volatile sig_atomic_t *go_stop;	/* set by a signal: stop */
};

struct gc_result {
	uint64_t	 gr_links;	/* links removed (or would be) */
	uint64_t	 gr_manifests;	/* of which manifest links */
	uint64_t	 gr_blobs;	/* blob files removed */
	int64_t		 gr_bytes;	/* their bytes */
	uint64_t	 gr_kept;	/* candidates kept by the re-check */
	int64_t		 gr_msec;	/* duration */
};

/*
 * Mark what is reachable (tags, manifests, index children, referrers of
 * kept subjects, hosted charts, repositories with uploads in progress,
 * untagged manifest links unless go_untagged), then sweep the rest that
 * is older than the grace: links, then blob files. 0 with *res, or -1
 * with *cause (caller frees).
 */
int	gc_run(struct index *, struct blobstore *, const struct gc_options *,
	    struct gc_result *res, char **cause);

/*
 * The totals of every run that was not a dry run, kept in the index's
 * counters (meta.db "gc.runs", "gc.freed_bytes", "gc.freed_blobs",
 * "gc.msec", "gc.last_msec") so that depotctl's runs count too.
 */
struct gc_totals {
	int64_t		 gt_runs;
	int64_t		 gt_bytes;
	int64_t		 gt_blobs;
	int64_t		 gt_msec;
	int64_t		 gt_last_msec;
};
/* Add a run's result to the totals. 0 or -1. */
int	gc_totals_add(struct index *, const struct gc_result *);
int	gc_totals_get(struct index *, struct gc_totals *);

#endif /* DEPOT_GC_H */
