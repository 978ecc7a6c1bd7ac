/*
 * fsck.h: the check of a store (the blob directory, tmp/ and the index)
 * and its repair, for `depotctl fsck [--repair]`. It runs beside a
 * working depotd: the index is read in short snapshot batches, no lock is
 * held while files are hashed, and every repair re-checks its condition
 * under the index's locks (or gc's primitive) just before it acts.
 */
#ifndef DEPOT_FSCK_H
#define DEPOT_FSCK_H

#include <stddef.h>
#include <stdint.h>

#include "lib/digest.h"

struct index;
struct blobstore;

struct fsck_options {
	const char	*fo_data_dir;
	int		 fo_repair;
	/*
	 * Seconds: temp, part and size files, upload sessions and orphan
	 * blobs younger than this are left alone (the upload expiry).
	 */
	int64_t		 fo_grace;
	/*
	 * 1 when everything in repo is pushed there (its registry has no
	 * upstream), so that a manifest's missing blob is damage rather
	 * than content not fetched yet. NULL: only manifests tagged by a
	 * push count as pushed.
	 */
	int		(*fo_hosted)(void *, const char *repo);
	/*
	 * One line per problem: kind ("blob", "link", ...), the object,
	 * what is wrong, and with fo_repair what was done about it (NULL
	 * when nothing could be).
	 */
	void		(*fo_report)(void *, const char *kind,
			    const char *object, const char *what,
			    const char *repaired);
	void		*fo_arg;
	int		 fo_skip_db;	/* no verification of the databases */
	/*
	 * Blobs in use that the index does not name: the charts cached from
	 * Helm upstreams (their upstream's index names them). Never orphans.
	 */
	const struct digest	*fo_used;
	size_t		 fo_nused;
};

struct fsck_stats {
	uint64_t	 fs_blobs;	/* blob files hashed */
	uint64_t	 fs_bytes;	/* their bytes */
	uint64_t	 fs_entries;	/* index entries checked */
	uint64_t	 fs_problems;
	uint64_t	 fs_repaired;
};

/*
 * Check (and with fo_repair, repair) the store. 0 when the check ran to
 * its end (problems are counted in st), -1 when it could not (*cause,
 * caller frees).
 */
int	fsck_run(struct index *, struct blobstore *,
	    const struct fsck_options *, struct fsck_stats *st, char **cause);

#endif /* DEPOT_FSCK_H */
