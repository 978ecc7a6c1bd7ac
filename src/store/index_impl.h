/*
 * index_impl.h: what the files of the index share, and nothing else
 * includes: the Berkeley DB handles, the list of tables, keys, the value
 * codec, records and prefix scans, and the calls one table file makes into
 * another inside a transaction. The files of src/store/index*.c are the
 * only code of depot that includes <db.h>; everything else uses index.h.
 *
 *   index_env.c        environment, recovery, failchk, the retry gate and
 *                      the transaction runner (index_txn_run)
 *   index_codec.c      keys, and the versioned value codec run by each
 *                      table's layout function (index_code_*)
 *   index_record.c     records, cursor walks and prefix scans on any table
 *   index_meta.c       meta.db: schema version, counters, health probe
 *   index_tags.c       tags.db
 *   index_links.c      links.db, and digests.db (its reverse)
 *   index_repos.c      repos.db
 *   index_manifests.c  manifests.db
 *   index_referrers.c  referrers.db
 *   index_uploads.c    uploads.db
 *   index_helm.c       helm.db (hosted Helm charts)
 *   index_access.c     access.db (last pull of each link)
 *   index_purge.c      the purge of a registry across the tables
 *   index_gc.c         the listings and re-checks of the collection
 *   index_cache.c      the removal of one cached link (cache eviction)
 *
 * Adding a table: a name in enum index_table and its file name in
 * index_files (index_env.c), then index_<table>.c with its key schema in
 * the comment at its top, a record builder that checks the key parts
 * (index_tag_rec is the model), a layout function naming the value's
 * fields with index_code_* and its struct index_layout, and its typed
 * calls in index.h; docs/architecture.md tells the rest. The file is
 * created on the next open; no schema version change is needed for a new
 * table.
 *
 * Planned, not implemented yet:
 *   upstreams.db   upstream key -> health, retry-after deadline
 */
#ifndef DEPOT_INDEX_IMPL_H
#define DEPOT_INDEX_IMPL_H

#include <sys/types.h>

#include <db.h>
#include <stddef.h>
#include <stdint.h>

#include "store/index.h"

#define INDEX_FILE_MODE		0640
#define INDEX_META_FILE		"meta.db"
#define INDEX_VALUE_VERSION	1
#define INDEX_UPLOAD_ID_MAX	64
#define INDEX_KEY_MAX		1024	/* longest key: a referrer, < 600 */
#define INDEX_STR_MAX		DEPOT_MANIFEST_MAX	/* any str field */

/* The databases, opened together; INDEX_DB_META first. */
enum index_table {
	INDEX_DB_META,
	INDEX_DB_TAGS,
	INDEX_DB_LINKS,
	INDEX_DB_MANIFESTS,
	INDEX_DB_REFERRERS,
	INDEX_DB_REPOS,
	INDEX_DB_UPLOADS,
	INDEX_DB_HELM,
	INDEX_DB_DIGESTS,
	INDEX_DB_ACCESS,
	INDEX_NDB
};

/* The file of each table, in the environment's directory. */
extern const char *const index_files[INDEX_NDB];

struct index {
	char		*ix_dir;
	enum index_role	 ix_role;
	DB_ENV		*ix_env;
	DB		*ix_db[INDEX_NDB];
	int		 ix_gate;	/* fd of the gate file, or -1 */
	int		 ix_broken;	/* failchk asked for recovery */
	unsigned int	 ix_seed;	/* jitter of retry pauses */
};

/* A unit of work run inside a transaction; returns a Berkeley DB code. */
typedef int	(*index_txn_fn)(struct index *, DB_TXN *, void *);

/* A value being encoded: grows as needed; a field out of range sticks. */
struct index_enc {
	unsigned char	*enc_data;
	size_t		 enc_len;
	size_t		 enc_size;
	int		 enc_bad;
};

/* A value being decoded: any error sticks. */
struct index_dec {
	const unsigned char	*dec_p;
	size_t			 dec_left;
	int			 dec_bad;
};

struct index_key {
	char		 key_buf[INDEX_KEY_MAX];
	size_t		 key_len;
};

/*
 * A value being encoded into co_enc or decoded from co_dec, or, with
 * neither, freed: the layout function of a table (index_layout) calls
 * index_code_* on each field in order, and so describes the value once
 * for all three, as XDR does.
 */
struct index_code {
	struct index_enc	*co_enc;
	struct index_dec	*co_dec;
};

/* The value of a table: a struct of lo_size bytes, laid out by lo_fn. */
struct index_layout {
	enum index_table	 lo_table;
	size_t			 lo_size;
	void			(*lo_fn)(struct index_code *, void *);
};

/* One record of one table, read, written or deleted. */
struct index_rec {
	enum index_table	 rec_table;
	struct index_key	 rec_key;
	const void		*rec_data;	/* to write */
	size_t			 rec_size;
	const struct index_layout *rec_layout;	/* to read: into rec_out */
	void			*rec_out;
};

/*
 * Called by index_walk on each entry: 0 goes on, INDEX_WALK_STOP ends the
 * walk (index_walk then returns 0), anything else ends it with that code.
 */
typedef int	(*index_walk_fn)(DBC *, const DBT *, const DBT *, void *);
#define INDEX_WALK_STOP	(-1)	/* neither a Berkeley DB code nor an errno */

/*
 * A prefix scan that collects the rest of each key after the prefix;
 * sc_keep (when set) says which values to keep.
 */
struct index_scan {
	enum index_table	 sc_table;
	struct index_key	 sc_from;	/* first key (DB_SET_RANGE) */
	size_t			 sc_prefix;	/* bytes of sc_from all share */
	size_t			 sc_rest_max;	/* longest valid rest */
	size_t			 sc_max;	/* 0: no limit */
	int			(*sc_keep)(const struct index_scan *,
				    const void *, size_t);
	int64_t			 sc_before;	/* for sc_keep */
	char			**sc_items;
	size_t			 sc_count;
};

/* A link (repo, digest) and what goes with it. */
struct index_link {
	const char		*ln_repo;
	const struct digest	*ln_digest;
	char			 ln_digest_str[DIGEST_STRING_MAX];
	struct index_key	 ln_key;	/* repo NUL digest */
	unsigned char		 ln_kind;
	int64_t			 ln_touched;	/* now, by index_link_init */
	char			 ln_upstream[DEPOT_NAME_MAX + 1];
};

/* index_env.c */
/*
 * Commit flags of what a pull caches (links, manifests and tags fetched
 * from an upstream): the log is written at commit but not flushed, so the
 * commit survives a killed process, not a power loss, which only costs
 * a fetch again. The next flushed commit (any push) flushes it too.
 */
#define INDEX_TXN_CACHED	DB_TXN_WRITE_NOSYNC
int	index_ready(struct index *, const char *);
int	index_txn_run(struct index *, const char *, u_int32_t, index_txn_fn,
	    void *);

/* index_codec.c */
void	index_enc64(unsigned char *, int64_t);
int64_t	index_dec64(const unsigned char *);
int	index_str_ok(const char *, const char *, const char *, size_t);
int	index_digest_fmt(const char *, const struct digest *, char *);
int	index_key_make(struct index_key *, const char *, const char *,
	    const char *);
void	index_enc_free(struct index_enc *);
void	index_dec_init(struct index_dec *, const void *, size_t, void *,
	    size_t);
unsigned int index_dec_u8(struct index_dec *);
int	index_dec_end(struct index_dec *, enum index_table);
int	index_encode(struct index_enc *, const struct index_layout *,
	    const void *);
int	index_decode(const struct index_layout *, const void *, size_t,
	    void *);
void	index_layout_clear(const struct index_layout *, void *);
void	index_code_i64(struct index_code *, int64_t *);
void	index_code_size(struct index_code *, int64_t *);
void	index_code_str(struct index_code *, char *, size_t);
void	index_code_name(struct index_code *, char *, size_t);
void	index_code_digest(struct index_code *, struct digest *);
int	index_code_flag(struct index_code *, int *);
void	index_code_text(struct index_code *, char **);

/* index_record.c */
void	index_dbt(DBT *, void *, size_t);
int	index_put(struct index *, DB_TXN *, enum index_table,
	    const struct index_key *, const void *, size_t);
int	index_del(struct index *, DB_TXN *, enum index_table,
	    const struct index_key *);
int	index_has_prefix(const DBT *, const struct index_key *, size_t);
int	index_get(struct index *, DB_TXN *, const struct index_layout *,
	    const struct index_key *, u_int32_t, void *);
int	index_walk(struct index *, DB_TXN *, enum index_table,
	    const struct index_key *, const struct index_key *, size_t,
	    u_int32_t, index_walk_fn, void *);
int	index_found(int);
int	index_lookup(struct index *, const char *, struct index_rec *,
	    const struct index_layout *, void *);
int	index_store(struct index *, const char *, struct index_rec *,
	    struct index_enc *);
int	index_remove(struct index *, const char *, struct index_rec *);
int	index_scan_init(struct index_scan *, struct index *, const char *,
	    enum index_table, size_t, char ***, size_t *);
int	index_scan_after(struct index_scan *, const char *, const char *,
	    size_t);
int	index_scan_run(struct index *, const char *, struct index_scan *,
	    char ***, size_t *);

/* index_meta.c */
int	index_schema_txn(struct index *, DB_TXN *, void *);

/* index_tags.c */
extern const struct index_layout index_tag_layout;
int	index_tag_rec(struct index *, struct index_rec *, const char *,
	    const char *, const char *);
int	index_untag(struct index *, DB_TXN *, const struct index_link *);

/* index_links.c */
int	index_link_init(struct index *, struct index_link *, const char *,
	    const char *, const struct digest *);
int	index_link_apply(struct index *, const char *, const char *,
	    const char *, const struct digest *, index_txn_fn);
int	index_link_write(struct index *, DB_TXN *,
	    const struct index_link *);
int	index_link_read(struct index *, DB_TXN *, const struct index_key *,
	    u_int32_t, enum index_link_kind *);
int	index_link_read_info(struct index *, DB_TXN *,
	    const struct index_key *, u_int32_t, struct index_link_info *);
int	index_link_decode(const void *, size_t, struct index_link_info *);
int	index_link_erase(struct index *, DB_TXN *, const struct index_link *);
int	index_link_rev_del(struct index *, DB_TXN *, const char *,
	    const char *);
int	index_digest_held(struct index *, DB_TXN *, const char *);
int	index_links_migrate(struct index *);

/* index_repos.c */
int	index_repo_add(struct index *, DB_TXN *, const char *);
int	index_repo_prune(struct index *, DB_TXN *, const char *);

/* index_manifests.c */
extern const struct index_layout index_manifest_layout;
int	index_manifest_key(struct index_key *, const char *,
	    const struct digest *);

/* index_referrers.c */
int	index_referrer_key(struct index_key *, const char *,
	    const struct digest *, const char *);
int	index_subject_drop(struct index *, DB_TXN *,
	    const struct index_link *);

/* index_uploads.c */
extern const struct index_layout index_upload_layout;

#endif /* DEPOT_INDEX_IMPL_H */
