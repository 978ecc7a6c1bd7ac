/*
 * index_access.c: access.db, when each blob or manifest of a repository
 * was last pulled, the recency that cache eviction orders by.
 *
 * Key schema (access.db):
 *   key    repo NUL digest ("alg:hex"), as in links.db
 *   value  int64 last_pull (unix seconds)
 * No secondary index. An entry may outlive its link (it is dropped with
 * the link by eviction and with the registry by a purge); readers join it
 * with links.db, never list it alone. Writes are frequent and cheap to
 * lose, so they commit without flushing the log (DB_TXN_NOSYNC): a crash
 * loses at most the last seconds of recency, never anything stored.
 */
#include <sys/types.h>

#include <db.h>
#include <errno.h>
#include <string.h>

#include "store/index_impl.h"
#include "lib/log.h"

struct index_access {
	int64_t		 ia_last_pull;
};

/* A touch: write now unless the stored time is within granularity. */
struct index_access_touch {
	struct index_key	 at_key;
	int64_t			 at_now;
	int64_t			 at_granularity;
	int			 at_written;
};

static void	index_access_fields(struct index_code *, void *);
static int	index_access_key(struct index *, struct index_key *,
		    const char *, const char *, const struct digest *);
static int	index_access_touch_txn(struct index *, DB_TXN *, void *);

/* The value of access.db, field by field (see index_code_*). */
static void
index_access_fields(struct index_code *c, void *value)
{
	struct index_access	*a = value;

	index_code_i64(c, &a->ia_last_pull);
}

static const struct index_layout index_access_layout = {
	INDEX_DB_ACCESS, sizeof(struct index_access), index_access_fields
};

/*
 * Check that the index is open and repo and d are good, and build the
 * key. 0 or -1 (logged for func).
 */
static int
index_access_key(struct index *ix, struct index_key *k, const char *func,
    const char *repo, const struct digest *d)
{
	char	 ds[DIGEST_STRING_MAX];

	if (!index_ready(ix, func) ||
	    !index_str_ok(func, "repository", repo, DEPOT_REPO_MAX) ||
	    index_digest_fmt(func, d, ds) == -1)
		return (-1);
	return (index_key_make(k, repo, ds, NULL));
}

int
index_access_get(struct index *ix, const char *repo, const struct digest *d,
    int64_t *last_pull)
{
	struct index_rec	 rec;
	struct index_access	 a;
	int			 found;

	if (last_pull != NULL)
		*last_pull = 0;
	memset(&rec, 0, sizeof(rec));
	rec.rec_table = INDEX_DB_ACCESS;
	if (index_access_key(ix, &rec.rec_key, __func__, repo, d) == -1)
		return (-1);
	found = index_lookup(ix, "get last pull", &rec, &index_access_layout,
	    &a);
	if (found == 1 && last_pull != NULL)
		*last_pull = a.ia_last_pull;
	return (found);
}

static int
index_access_touch_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	struct index_access_touch	*at = arg;
	struct index_access		 a;
	struct index_enc		 e;
	int				 ret;

	at->at_written = 0;
	ret = index_get(ix, txn, &index_access_layout, &at->at_key, DB_RMW,
	    &a);
	if (ret == 0 && a.ia_last_pull > at->at_now - at->at_granularity)
		return (0);
	if (ret != 0 && ret != DB_NOTFOUND && ret != EINVAL)
		return (ret);
	a.ia_last_pull = at->at_now;
	if (index_encode(&e, &index_access_layout, &a) == -1)
		return (EINVAL);
	ret = index_put(ix, txn, INDEX_DB_ACCESS, &at->at_key, e.enc_data,
	    e.enc_len);
	index_enc_free(&e);
	if (ret == 0)
		at->at_written = 1;
	return (ret);
}

int
index_access_touch(struct index *ix, const char *repo,
    const struct digest *d, int64_t now, int64_t granularity)
{
	struct index_access_touch	 at;

	memset(&at, 0, sizeof(at));
	if (index_access_key(ix, &at.at_key, __func__, repo, d) == -1)
		return (-1);
	at.at_now = now;
	at.at_granularity = granularity;
	if (index_txn_run(ix, "touch last pull", DB_TXN_NOSYNC,
	    index_access_touch_txn, &at) != 0)
		return (-1);
	return (at.at_written);
}

int
index_access_delete(struct index *ix, const char *repo,
    const struct digest *d)
{
	struct index_rec	 rec;

	memset(&rec, 0, sizeof(rec));
	rec.rec_table = INDEX_DB_ACCESS;
	if (index_access_key(ix, &rec.rec_key, __func__, repo, d) == -1)
		return (-1);
	return (index_remove(ix, "delete last pull", &rec));
}
