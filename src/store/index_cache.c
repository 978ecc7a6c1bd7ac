/*
 * index_cache.c: the index side of cache eviction (store/evict.c): the
 * removal of one link that a fill of an upstream made, with the cached
 * tags that point at it, in one transaction with locks. No table of its
 * own: it works on links.db (and its reverse, digests.db), tags.db,
 * referrers.db and access.db.
 */
#include <sys/types.h>

#include <db.h>
#include <errno.h>
#include <string.h>

#include "store/index_impl.h"
#include "lib/log.h"

/* One link to evict. */
struct index_evict {
	struct index_link	 ev_link;
	const char		*ev_upstream;
	int64_t			 ev_cutoff;
	int			 ev_hosted;	/* a pushed tag points at it */
	int			 ev_removed;
};

static int	index_evict_hosted(DBC *, const DBT *, const DBT *, void *);
static int	index_evict_untag(DBC *, const DBT *, const DBT *, void *);
static int	index_evict_txn(struct index *, DB_TXN *, void *);

/* Does a tag pushed here point at the link's digest? Stop if so. */
static int
index_evict_hosted(DBC *dbc, const DBT *key, const DBT *data, void *arg)
{
	struct index_evict	*ev = arg;
	struct index_tag	 t;

	(void)dbc;
	(void)key;
	if (index_decode(&index_tag_layout, data->data, data->size, &t) != 0)
		return (0);
	if (t.it_upstream[0] == '\0' &&
	    digest_equal(&t.it_digest, ev->ev_link.ln_digest)) {
		ev->ev_hosted = 1;
		return (INDEX_WALK_STOP);
	}
	return (0);
}

/* Delete the cached tag at the cursor when it points at the digest. */
static int
index_evict_untag(DBC *dbc, const DBT *key, const DBT *data, void *arg)
{
	struct index_evict	*ev = arg;
	struct index_tag	 t;

	(void)key;
	if (index_decode(&index_tag_layout, data->data, data->size, &t) != 0)
		return (0);
	if (t.it_upstream[0] == '\0' ||
	    !digest_equal(&t.it_digest, ev->ev_link.ln_digest))
		return (0);
	return (dbc->del(dbc, 0));
}

static int
index_evict_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	struct index_evict	*ev = arg;
	struct index_link	*ln = &ev->ev_link;
	struct index_link_info	 li;
	struct index_key	 prefix;
	int			 ret;

	ev->ev_removed = ev->ev_hosted = 0;
	if ((ret = index_link_read_info(ix, txn, &ln->ln_key, DB_RMW,
	    &li)) != 0)
		return (ret);
	/* Pushed, re-filled through another upstream, or pulled again. */
	if (strcmp(li.ili_upstream, ev->ev_upstream) != 0 ||
	    li.ili_touched > ev->ev_cutoff)
		return (0);
	if (li.ili_kind == INDEX_LINK_MANIFEST) {
		if (index_key_make(&prefix, ln->ln_repo, "", NULL) == -1)
			return (EINVAL);
		if ((ret = index_walk(ix, txn, INDEX_DB_TAGS, &prefix,
		    &prefix, prefix.key_len, DB_RMW, index_evict_hosted,
		    ev)) != 0)
			return (ret);
		if (ev->ev_hosted)
			return (0);
		if ((ret = index_walk(ix, txn, INDEX_DB_TAGS, &prefix,
		    &prefix, prefix.key_len, DB_RMW, index_evict_untag,
		    ev)) != 0 ||
		    (ret = index_subject_drop(ix, txn, ln)) != 0)
			return (ret);
	}
	if ((ret = index_link_erase(ix, txn, ln)) != 0 ||
	    (ret = index_repo_prune(ix, txn, ln->ln_repo)) != 0)
		return (ret);
	ret = index_del(ix, txn, INDEX_DB_ACCESS, &ln->ln_key);
	if (ret != 0 && ret != DB_NOTFOUND)
		return (ret);
	ev->ev_removed = 1;
	return (0);
}

int
index_cache_evict(struct index *ix, const char *repo, const struct digest *d,
    const char *upstream, int64_t cutoff)
{
	struct index_evict	 ev;
	int			 ret;

	memset(&ev, 0, sizeof(ev));
	if (upstream == NULL || upstream[0] == '\0') {
		log_warnx("%s: pushed content is never evicted", __func__);
		return (-1);
	}
	if (index_link_init(ix, &ev.ev_link, __func__, repo, d) == -1)
		return (-1);
	ev.ev_upstream = upstream;
	ev.ev_cutoff = cutoff;
	ret = index_txn_run(ix, "evict link", 0, index_evict_txn, &ev);
	if (ret == DB_NOTFOUND)
		return (0);
	if (ret != 0)
		return (-1);
	return (ev.ev_removed);
}
