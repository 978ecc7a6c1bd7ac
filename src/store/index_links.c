/*
 * index_links.c: links.db, the blobs and manifests that belong to a
 * repository (the spec's "link").
 *
 * Key schema (links.db):
 *   key    repo NUL digest ("alg:hex")
 *   value  u8 kind (enum index_link_kind)
 * Secondary index: repos.db (index_repos.c) lists every repo that has at
 * least one link; a link write adds the repo, the delete of its last
 * link removes it, in the same transaction.
 */
#include <sys/types.h>

#include <db.h>
#include <errno.h>
#include <string.h>

#include "store/index_impl.h"
#include "lib/log.h"

static int	index_link_decode(const void *, size_t,
		    enum index_link_kind *);
static int	index_link_get_txn(struct index *, DB_TXN *, void *);
static int	index_link_put_txn(struct index *, DB_TXN *, void *);
static int	index_link_del_txn(struct index *, DB_TXN *, void *);

static int
index_link_decode(const void *data, size_t size, enum index_link_kind *kind)
{
	struct index_dec	 d;
	unsigned int		 v;

	index_dec_init(&d, data, size, NULL, 0);
	v = index_dec_u8(&d);
	if (v != INDEX_LINK_BLOB && v != INDEX_LINK_MANIFEST)
		d.dec_bad = 1;
	*kind = v == INDEX_LINK_BLOB ? INDEX_LINK_BLOB : INDEX_LINK_MANIFEST;
	return (index_dec_end(&d, INDEX_DB_LINKS));
}

/*
 * Check that the index is open and repo and d are good, and build the
 * link key. 0 or -1 (logged for func).
 */
int
index_link_init(struct index *ix, struct index_link *ln, const char *func,
    const char *repo, const struct digest *d)
{
	memset(ln, 0, sizeof(*ln));
	if (!index_ready(ix, func) ||
	    !index_str_ok(func, "repository", repo, DEPOT_REPO_MAX) ||
	    index_digest_fmt(func, d, ln->ln_digest_str) == -1)
		return (-1);
	ln->ln_repo = repo;
	ln->ln_digest = d;
	return (index_key_make(&ln->ln_key, repo, ln->ln_digest_str, NULL));
}

/*
 * Run fn on the link of repo to d in a transaction: 1 done, 0 when fn
 * says DB_NOTFOUND, -1 error (logged for func).
 */
int
index_link_apply(struct index *ix, const char *func, const char *what,
    const char *repo, const struct digest *d, index_txn_fn fn)
{
	struct index_link	 ln;

	if (index_link_init(ix, &ln, func, repo, d) == -1)
		return (-1);
	return (index_found(index_txn_run(ix, what, 0, fn, &ln)));
}

/* Store the link, and the repository when it is not listed yet. */
int
index_link_write(struct index *ix, DB_TXN *txn, const struct index_link *ln)
{
	unsigned char	 value[2];
	int		 ret;

	value[0] = INDEX_VALUE_VERSION;
	value[1] = ln->ln_kind;
	if ((ret = index_put(ix, txn, INDEX_DB_LINKS, &ln->ln_key, value,
	    sizeof(value))) != 0)
		return (ret);
	return (index_repo_add(ix, txn, ln->ln_repo));
}

/* The kind of a link: DB_NOTFOUND when absent, EINVAL when garbled. */
int
index_link_read(struct index *ix, DB_TXN *txn, const struct index_key *k,
    u_int32_t flags, enum index_link_kind *kind)
{
	DB		*links = ix->ix_db[INDEX_DB_LINKS];
	unsigned char	 buf[16];
	DBT		 key, data;
	int		 ret;

	index_dbt(&key, (void *)k->key_buf, k->key_len);
	index_dbt(&data, buf, sizeof(buf));
	ret = links->get(links, txn, &key, &data, flags);
	if (ret == DB_BUFFER_SMALL)	/* longer than any link value */
		data.size = 0;
	else if (ret != 0)
		return (ret);
	return (index_link_decode(buf, data.size, kind));
}

static int
index_link_get_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	struct index_link	*ln = arg;
	enum index_link_kind	 kind;
	int			 ret;

	if ((ret = index_link_read(ix, txn, &ln->ln_key, 0, &kind)) == 0)
		ln->ln_kind = (unsigned char)kind;
	return (ret);
}

static int
index_link_put_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	return (index_link_write(ix, txn, arg));
}

/* Delete a link (DB_NOTFOUND when absent) and prune its repository. */
static int
index_link_del_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	struct index_link	*ln = arg;
	int			 ret;

	if ((ret = index_del(ix, txn, INDEX_DB_LINKS, &ln->ln_key)) != 0)
		return (ret);
	return (index_repo_prune(ix, txn, ln->ln_repo));
}

int
index_link_put(struct index *ix, const char *repo, const struct digest *d,
    enum index_link_kind kind)
{
	struct index_link	 ln;

	if (index_link_init(ix, &ln, __func__, repo, d) == -1)
		return (-1);
	if (kind != INDEX_LINK_BLOB && kind != INDEX_LINK_MANIFEST) {
		log_warnx("%s: bad link kind %d", __func__, (int)kind);
		return (-1);
	}
	ln.ln_kind = (unsigned char)kind;
	if (index_txn_run(ix, "put link", 0, index_link_put_txn, &ln) != 0)
		return (-1);
	return (0);
}

int
index_link_get(struct index *ix, const char *repo, const struct digest *d,
    enum index_link_kind *kind)
{
	struct index_link	 ln;
	int			 found;

	if (index_link_init(ix, &ln, __func__, repo, d) == -1)
		return (-1);
	found = index_found(index_txn_run(ix, "get link", DB_TXN_SNAPSHOT,
	    index_link_get_txn, &ln));
	if (found == 1 && kind != NULL)
		*kind = (enum index_link_kind)ln.ln_kind;
	return (found);
}

int
index_link_delete(struct index *ix, const char *repo, const struct digest *d)
{
	return (index_link_apply(ix, __func__, "delete link", repo, d,
	    index_link_del_txn));
}
