/*
 * index_purge.c: the removal of a registry's entries from every table.
 *
 * A registry's entries are those of the repositories "registry/...": a
 * prefix scan finds them in tags, links, referrers and repos; uploads are
 * found by the repository in their value. index_registry_purge deletes
 * them table by table, at most INDEX_PURGE_BATCH keys visited per
 * transaction, so that a big registry never makes one huge transaction.
 * A new table keyed by repository joins the list in index_registry_purge.
 */
#include <sys/types.h>

#include <db.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "store/index_impl.h"
#include "lib/log.h"

#define INDEX_PURGE_BATCH	512	/* keys visited per purge transaction */

/* One batch of a registry purge in one table. */
struct index_purge {
	enum index_table	 pg_table;
	struct index_key	 pg_prefix;	/* "registry/" */
	struct index_key	 pg_from;	/* first key of the batch */
	struct index_key	 pg_next;	/* first key of the next batch */
	size_t			 pg_seen;	/* keys seen by the batch */
	size_t			 pg_deleted;	/* by the batch */
	int			 pg_more;	/* a next batch is needed */
	struct index		*pg_ix;		/* for the reverse of links */
	DB_TXN			*pg_txn;
};

static int	index_purge_match(const struct index_purge *, const DBT *);
static int	index_purge_one(DBC *, const DBT *, const DBT *, void *);
static int	index_purge_txn(struct index *, DB_TXN *, void *);
static int	index_purge_link_rev(struct index_purge *, const DBT *);

/* Does this entry belong to the registry being purged? */
static int
index_purge_match(const struct index_purge *pg, const DBT *data)
{
	struct index_upload	 u;

	/* An upload names its repository in its value; a garbled one is
	 * left for the expiry. */
	if (pg->pg_table != INDEX_DB_UPLOADS)
		return (1);
	if (index_decode(&index_upload_layout, data->data, data->size,
	    &u) != 0)
		return (0);
	return (strncmp(u.iu_repo, pg->pg_prefix.key_buf,
	    pg->pg_prefix.key_len) == 0);
}

/* A link is going: its entry in digests.db (digest NUL repo) goes too. */
static int
index_purge_link_rev(struct index_purge *pg, const DBT *key)
{
	char		 repo[DEPOT_REPO_MAX + 1], digest[DIGEST_STRING_MAX];
	const char	*p = key->data, *nul;
	size_t		 rlen, dlen;

	if ((nul = memchr(p, '\0', key->size)) == NULL)
		return (0);
	rlen = (size_t)(nul - p);
	dlen = key->size - rlen - 1;
	if (rlen > DEPOT_REPO_MAX || dlen >= sizeof(digest))
		return (0);
	memcpy(repo, p, rlen);
	repo[rlen] = '\0';
	memcpy(digest, nul + 1, dlen);
	digest[dlen] = '\0';
	return (index_link_rev_del(pg->pg_ix, pg->pg_txn, repo, digest));
}

/*
 * Delete the entry at the cursor when it matches, among at most
 * INDEX_PURGE_BATCH keys; at the next one, set pg_next to it and stop.
 */
static int
index_purge_one(DBC *dbc, const DBT *key, const DBT *data, void *arg)
{
	struct index_purge	*pg = arg;
	int			 ret;

	if (pg->pg_seen++ == INDEX_PURGE_BATCH) {
		if (key->size > sizeof(pg->pg_next.key_buf))
			return (EINVAL);
		memcpy(pg->pg_next.key_buf, key->data, key->size);
		pg->pg_next.key_len = key->size;
		pg->pg_more = 1;
		return (INDEX_WALK_STOP);
	}
	if (!index_purge_match(pg, data))
		return (0);
	if ((ret = dbc->del(dbc, 0)) != 0)
		return (ret);
	if (pg->pg_table == INDEX_DB_LINKS &&
	    (ret = index_purge_link_rev(pg, key)) != 0)
		return (ret);
	pg->pg_deleted++;
	return (0);
}

/*
 * One batch from pg_from. Keyed tables stop at the end of the prefix;
 * uploads are all walked.
 */
static int
index_purge_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	struct index_purge	*pg = arg;

	pg->pg_deleted = 0;
	pg->pg_seen = 0;
	pg->pg_more = 0;
	pg->pg_ix = ix;
	pg->pg_txn = txn;
	return (index_walk(ix, txn, pg->pg_table, &pg->pg_from,
	    pg->pg_table != INDEX_DB_UPLOADS ? &pg->pg_prefix : NULL,
	    pg->pg_prefix.key_len, DB_RMW, index_purge_one, pg));
}

/*
 * Tags first, so that the registry's content disappears from view before
 * the rest; an interrupted purge leaves entries a second run removes.
 */
int
index_registry_purge(struct index *ix, const char *registry)
{
	static const enum index_table	 tables[] = { INDEX_DB_TAGS,
	    INDEX_DB_REFERRERS, INDEX_DB_LINKS, INDEX_DB_REPOS,
	    INDEX_DB_UPLOADS, INDEX_DB_ACCESS };
	struct index_purge		 pg;
	char				 prefix[DEPOT_NAME_MAX + 2];
	size_t				 i;
	int				 repos = 0;

	if (!index_ready(ix, __func__) ||
	    !index_str_ok(__func__, "registry", registry, DEPOT_NAME_MAX))
		return (-1);
	if (strchr(registry, '/') != NULL) {
		log_warnx("%s: bad registry", __func__);
		return (-1);
	}
	(void)snprintf(prefix, sizeof(prefix), "%s/", registry);
	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		memset(&pg, 0, sizeof(pg));
		pg.pg_table = tables[i];
		if (index_key_make(&pg.pg_prefix, prefix, NULL, NULL) == -1)
			return (-1);
		if (pg.pg_table != INDEX_DB_UPLOADS)
			pg.pg_from = pg.pg_prefix;
		do {
			if (index_txn_run(ix, "purge registry", 0,
			    index_purge_txn, &pg) != 0)
				return (-1);
			if (pg.pg_table == INDEX_DB_REPOS)
				repos += (int)pg.pg_deleted;
			pg.pg_from = pg.pg_next;
		} while (pg.pg_more);
	}
	return (repos);
}
