/*
 * index_fsck.h: what the store's checker (fsck.c) needs of the index
 * beyond the typed calls of index.h: every entry of a table, read in
 * short snapshot batches; the removal of one entry only while it is still
 * what was read and still broken; and the verification of the Berkeley
 * DB databases on a hot backup.
 */
#ifndef DEPOT_INDEX_FSCK_H
#define DEPOT_INDEX_FSCK_H

#include <stddef.h>
#include <stdint.h>

#include "depot.h"
#include "lib/digest.h"

struct index;

/* The tables the checker reads. */
enum index_fsck_table {
	INDEX_FSCK_LINKS,
	INDEX_FSCK_TAGS,
	INDEX_FSCK_MANIFESTS,
	INDEX_FSCK_REFERRERS,
	INDEX_FSCK_REPOS,
	INDEX_FSCK_UPLOADS,
	INDEX_FSCK_HELM,
	INDEX_FSCK_DIGESTS
};

#define INDEX_FSCK_KEY_MAX	1024

/*
 * One entry, decoded. ie_garbled is set when its key or value does not
 * decode (then only ie_key and ie_value are meaningful).
 *   links      ie_repo, ie_digest, ie_kind (enum index_link_kind),
 *              ie_time (touched), ie_upstream; ie_unmatched when its
 *              reverse entry (digests.db) is missing
 *   tags       ie_repo, ie_name (the tag), ie_digest, ie_upstream,
 *              ie_time (fetched_at)
 *   manifests  ie_digest; ie_subject when ie_has_subject
 *   referrers  ie_repo, ie_subject, ie_digest (the referring manifest)
 *   repos      ie_repo
 *   uploads    ie_name (the id), ie_repo, ie_time (last updated)
 *   helm       ie_repo (the registry), ie_name, ie_version, ie_digest
 *              (the .tgz); ie_subject is the .prov when ie_has_subject
 *   digests    ie_digest, ie_repo (the reverse of a link); ie_unmatched
 *              when the link is missing
 */
struct index_entry {
	enum index_fsck_table	 ie_table;
	int			 ie_garbled;
	char			 ie_repo[DEPOT_REPO_MAX + 1];
	char			 ie_name[256];
	char			 ie_version[129];
	struct digest		 ie_digest;
	struct digest		 ie_subject;
	int			 ie_has_subject;
	int			 ie_kind;
	char			 ie_upstream[DEPOT_NAME_MAX + 1];
	int64_t			 ie_time;
	int			 ie_unmatched;
	unsigned char		 ie_key[INDEX_FSCK_KEY_MAX];
	size_t			 ie_keylen;
	unsigned char		*ie_value;
	size_t			 ie_valuelen;
};

/* Where a read of a table goes on from; zero it to start. */
struct index_fsck_pos {
	unsigned char	 fp_key[INDEX_FSCK_KEY_MAX];
	size_t		 fp_keylen;
	int		 fp_started;
	int		 fp_done;	/* the table has been read to its end */
};

/*
 * The next at most max entries of table after pos, read in one snapshot
 * (no locks); pos moves on. *out (free with index_entries_free) and
 * *count; at the end of the table *count is 0 and pos->fp_done is set.
 * 0 or -1.
 */
int	index_fsck_read(struct index *, enum index_fsck_table,
	    struct index_fsck_pos *, size_t max, struct index_entry **out,
	    size_t *count);
void	index_entries_free(struct index_entry *, size_t);
/* The database file that holds table. */
const char *index_fsck_file(enum index_fsck_table);
/* A printable name of the entry's key (garbled bytes as \xNN). */
void	index_entry_name(const struct index_entry *, char *, size_t);

/*
 * Is the entry still what was read, in a fresh snapshot: the same value
 * and, for a link or a reverse entry, its counterpart still present or
 * still missing (ie_unmatched)? 1 yes, 0 no (changed or gone), -1 error.
 */
int	index_fsck_current(struct index *, const struct index_entry *);
/* Does repo have a link, in a fresh snapshot? 1 yes, 0 no, -1 error. */
int	index_fsck_repo_linked(struct index *, const char *repo);

/*
 * Called inside the removal's transaction: 1 when the entry is still to
 * be removed (its target is still missing, say), else 0.
 */
typedef int	(*index_fsck_still_fn)(void *, const struct index_entry *);

/*
 * Remove the entry in one short transaction, only while its value is
 * still the one read (under a write lock) and still(arg, e) says so
 * (still may be NULL). A link takes its reverse entry along, and its
 * catalog row when it was the repository's last; a catalog row goes only
 * when its repository has no link, a reverse entry only when its link is
 * absent. 1 removed, 0 kept (changed meanwhile), -1 error.
 */
int	index_fsck_remove(struct index *, const struct index_entry *,
	    index_fsck_still_fn still, void *arg);
/*
 * Write the reverse entry of a link (ie_unmatched) while the link is
 * still the one read. 1 written, 0 changed meanwhile, -1 error.
 */
int	index_fsck_reindex(struct index *, const struct index_entry *);
/* List repo in the catalog (a repository with links but no row). 0, -1. */
int	index_fsck_repo_add(struct index *, const char *repo);

/*
 * Verify every database of the index without disturbing the processes
 * that use it: a hot backup (DB_ENV->backup, which reads the pages
 * through the shared cache and takes no transaction locks) into a new
 * folder under workdir, catastrophic recovery on the copy, then
 * DB->verify on each copied file. Each problem goes to report(arg, file,
 * message). The folder is removed. The number of problems, or -1 when
 * the check itself could not be done (*cause, caller frees).
 */
int	index_fsck_verify(struct index *, const char *workdir,
	    void (*report)(void *, const char *, const char *), void *arg,
	    char **cause);

#endif /* DEPOT_INDEX_FSCK_H */
