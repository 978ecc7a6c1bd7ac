/*
 * index_links.c: links.db, the blobs and manifests that belong to a
 * repository (the spec's "link"), and digests.db, its reverse.
 *
 * Key schema (links.db):
 *   key    repo NUL digest ("alg:hex")
 *   value  version 2: u8 kind (enum index_link_kind: blob, manifest, or
 *          a chart cached from a Helm upstream), int64 touched (unix
 *          seconds: written, mounted, HEAD-confirmed, referenced by a
 *          manifest PUT), str upstream (the upstream key whose fill made
 *          the link, "" for pushes and mounts);
 *          version 1 (older stores): u8 kind alone, read as touched 0
 *          and upstream "".
 * Secondary indexes, written and deleted in the link's transaction:
 *  - repos.db (index_repos.c) lists every repo that has at least one
 *    link; a link write adds the repo, the delete of its last link
 *    removes it;
 *  - digests.db: key digest NUL repo, value empty: "is this digest
 *    linked anywhere" is a prefix lookup (index_digest_held), under the
 *    locks of the transaction that asks. A store from before digests.db
 *    gets it built once by the master at open (index_links_migrate;
 *    meta.db then holds the key "digests.db").
 */
#include <sys/types.h>

#include <db.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/index_impl.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

#define INDEX_LINK_VERSION	2	/* of links.db values */
#define INDEX_LINK_VALUE_MAX	128	/* longer than any link value */
#define INDEX_MIGRATE_BATCH	512
#define INDEX_MIGRATED_KEY	"digests.db"	/* in meta.db */

/* A listing of links (index_link_list). */
struct index_link_walk {
	struct index_key	 lw_from;
	int			 lw_skip_first;	/* skip lw_from */
	size_t			 lw_max;
	struct index_link_entry	*lw_out;
	size_t			 lw_count;
};

/* A batch of the migration: the reverse entries of links from mg_from. */
struct index_migrate {
	struct index_key	 mg_from;
	size_t			 mg_seen;
	int			 mg_more;
	DB_TXN			*mg_txn;
	struct index		*mg_ix;
};

static void	index_link_fields(struct index_code *,
		    struct index_link_info *);
static int	index_link_rev_key(struct index_key *, const char *,
		    const char *);
static int	index_link_split(const DBT *, struct index_link_entry *);
static int	index_link_get_txn(struct index *, DB_TXN *, void *);
static int	index_link_put_txn(struct index *, DB_TXN *, void *);
static int	index_link_del_txn(struct index *, DB_TXN *, void *);
static int	index_link_touch_txn(struct index *, DB_TXN *, void *);
static int	index_link_list_one(DBC *, const DBT *, const DBT *, void *);
static int	index_link_list_txn(struct index *, DB_TXN *, void *);
static int	index_digest_linked_txn(struct index *, DB_TXN *, void *);
static int	index_migrate_one(DBC *, const DBT *, const DBT *, void *);
static int	index_migrate_txn(struct index *, DB_TXN *, void *);
static int	index_migrated_txn(struct index *, DB_TXN *, void *);

/* The fields of a version 2 value after its version byte (decoding). */
static void
index_link_fields(struct index_code *c, struct index_link_info *li)
{
	unsigned int	 kind;

	kind = index_dec_u8(c->co_dec);
	if (kind != INDEX_LINK_BLOB && kind != INDEX_LINK_MANIFEST &&
	    kind != INDEX_LINK_CHART)
		c->co_dec->dec_bad = 1;
	li->ili_kind = kind == INDEX_LINK_BLOB ? INDEX_LINK_BLOB :
	    kind == INDEX_LINK_CHART ? INDEX_LINK_CHART : INDEX_LINK_MANIFEST;
	index_code_i64(c, &li->ili_touched);
	index_code_str(c, li->ili_upstream, sizeof(li->ili_upstream));
}

/*
 * Decode a links.db value, either version: 0 or EINVAL (logged) when
 * garbled.
 */
int
index_link_decode(const void *data, size_t size, struct index_link_info *li)
{
	const unsigned char	*p = data;
	struct index_dec	 d;
	struct index_code	 c;
	unsigned int		 v;

	memset(li, 0, sizeof(*li));
	if (size >= 1 && p != NULL && p[0] == INDEX_LINK_VERSION) {
		d.dec_p = p + 1;
		d.dec_left = size - 1;
		d.dec_bad = 0;
		c.co_enc = NULL;
		c.co_dec = &d;
		index_link_fields(&c, li);
		return (index_dec_end(&d, INDEX_DB_LINKS));
	}
	index_dec_init(&d, data, size, NULL, 0);
	v = index_dec_u8(&d);
	if (v != INDEX_LINK_BLOB && v != INDEX_LINK_MANIFEST)
		d.dec_bad = 1;
	li->ili_kind = v == INDEX_LINK_BLOB ? INDEX_LINK_BLOB :
	    INDEX_LINK_MANIFEST;
	return (index_dec_end(&d, INDEX_DB_LINKS));
}

/* The key of digests.db: digest NUL repo. */
static int
index_link_rev_key(struct index_key *k, const char *digest, const char *repo)
{
	return (index_key_make(k, digest, repo, NULL));
}

/*
 * Check that the index is open and repo and d are good, and build the
 * link key; the link's touched is now, its upstream "". 0 or -1 (logged
 * for func).
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
	ln->ln_touched = (int64_t)time(NULL);
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

/*
 * Store the link (version 2), its reverse entry, and the repository when
 * it is not listed yet.
 */
int
index_link_write(struct index *ix, DB_TXN *txn, const struct index_link *ln)
{
	unsigned char		 value[INDEX_LINK_VALUE_MAX];
	struct index_key	 rev;
	size_t			 n;
	int			 ret;

	n = strnlen(ln->ln_upstream, sizeof(ln->ln_upstream));
	if (n > DEPOT_NAME_MAX)
		return (EINVAL);
	value[0] = INDEX_LINK_VERSION;
	value[1] = ln->ln_kind;
	index_enc64(value + 2, ln->ln_touched);
	value[10] = (unsigned char)(n >> 24);
	value[11] = (unsigned char)(n >> 16);
	value[12] = (unsigned char)(n >> 8);
	value[13] = (unsigned char)n;
	memcpy(value + 14, ln->ln_upstream, n);
	if (index_link_rev_key(&rev, ln->ln_digest_str, ln->ln_repo) == -1)
		return (EINVAL);
	if ((ret = index_put(ix, txn, INDEX_DB_LINKS, &ln->ln_key, value,
	    14 + n)) != 0 ||
	    (ret = index_put(ix, txn, INDEX_DB_DIGESTS, &rev, NULL, 0)) != 0)
		return (ret);
	return (index_repo_add(ix, txn, ln->ln_repo));
}

/* Delete the reverse entry of (repo, digest); absent is fine. */
int
index_link_rev_del(struct index *ix, DB_TXN *txn, const char *repo,
    const char *digest)
{
	struct index_key	 rev;
	int			 ret;

	if (index_link_rev_key(&rev, digest, repo) == -1)
		return (EINVAL);
	ret = index_del(ix, txn, INDEX_DB_DIGESTS, &rev);
	return (ret == DB_NOTFOUND ? 0 : ret);
}

/*
 * Delete the link and its reverse entry (DB_NOTFOUND when there is no
 * link); the caller prunes the repository.
 */
int
index_link_erase(struct index *ix, DB_TXN *txn, const struct index_link *ln)
{
	int	 ret;

	if ((ret = index_del(ix, txn, INDEX_DB_LINKS, &ln->ln_key)) != 0)
		return (ret);
	return (index_link_rev_del(ix, txn, ln->ln_repo, ln->ln_digest_str));
}

/* The whole link: DB_NOTFOUND when absent, EINVAL when garbled. */
int
index_link_read_info(struct index *ix, DB_TXN *txn, const struct index_key *k,
    u_int32_t flags, struct index_link_info *li)
{
	DB		*links = ix->ix_db[INDEX_DB_LINKS];
	unsigned char	 buf[INDEX_LINK_VALUE_MAX];
	DBT		 key, data;
	int		 ret;

	index_dbt(&key, (void *)k->key_buf, k->key_len);
	index_dbt(&data, buf, sizeof(buf));
	ret = links->get(links, txn, &key, &data, flags);
	if (ret == DB_BUFFER_SMALL)	/* longer than any link value */
		data.size = 0;
	else if (ret != 0)
		return (ret);
	return (index_link_decode(buf, data.size, li));
}

/* The kind of a link: DB_NOTFOUND when absent, EINVAL when garbled. */
int
index_link_read(struct index *ix, DB_TXN *txn, const struct index_key *k,
    u_int32_t flags, enum index_link_kind *kind)
{
	struct index_link_info	 li;
	int			 ret;

	if ((ret = index_link_read_info(ix, txn, k, flags, &li)) == 0)
		*kind = li.ili_kind;
	return (ret);
}

/*
 * Is the digest (a string) linked by some repository? 0 yes, DB_NOTFOUND
 * no; read with the transaction's locks. A reverse entry whose link is
 * gone (it cannot happen, but costs nothing to check) is dropped.
 */
int
index_digest_held(struct index *ix, DB_TXN *txn, const char *digest)
{
	DB			*rev = ix->ix_db[INDEX_DB_DIGESTS];
	struct index_key	 prefix, lkey;
	struct index_link_info	 li;
	char			 repo[DEPOT_REPO_MAX + 1];
	DBC			*dbc;
	DBT			 key, data;
	size_t			 len;
	int			 ret, t_ret, held = 0;

	if (index_key_make(&prefix, digest, "", NULL) == -1)
		return (EINVAL);
	if ((ret = rev->cursor(rev, txn, &dbc, 0)) != 0)
		return (ret);
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = prefix.key_buf;
	key.size = (u_int32_t)prefix.key_len;
	data.flags = DB_DBT_PARTIAL;	/* dlen 0: the key is enough */
	ret = dbc->get(dbc, &key, &data, DB_SET_RANGE | DB_RMW);
	while (ret == 0 && index_has_prefix(&key, &prefix, prefix.key_len)) {
		len = key.size - prefix.key_len;
		if (len > 0 && len <= DEPOT_REPO_MAX) {
			memcpy(repo, (char *)key.data + prefix.key_len, len);
			repo[len] = '\0';
			if (index_key_make(&lkey, repo, digest, NULL) == 0 &&
			    (ret = index_link_read_info(ix, txn, &lkey, 0,
			    &li)) != DB_NOTFOUND) {
				held = ret == 0 || ret == EINVAL;
				if (held)
					ret = 0;
				break;
			}
		}
		log_warnx("%s: %s: stale entry of %s dropped", __func__,
		    index_files[INDEX_DB_DIGESTS], digest);
		if ((ret = dbc->del(dbc, 0)) != 0)
			break;
		ret = dbc->get(dbc, &key, &data, DB_NEXT | DB_RMW);
	}
	if ((t_ret = dbc->close(dbc)) != 0 && (ret == 0 || ret == DB_NOTFOUND))
		ret = t_ret;
	if (ret != 0 && ret != DB_NOTFOUND)
		return (ret);
	return (held ? 0 : DB_NOTFOUND);
}

static int
index_link_get_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	struct index_link	*ln = arg;
	struct index_link_info	 li;
	int			 ret;

	if ((ret = index_link_read_info(ix, txn, &ln->ln_key, 0, &li)) == 0) {
		ln->ln_kind = (unsigned char)li.ili_kind;
		ln->ln_touched = li.ili_touched;
		memcpy(ln->ln_upstream, li.ili_upstream,
		    sizeof(ln->ln_upstream));
	}
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

	if ((ret = index_link_erase(ix, txn, ln)) != 0)
		return (ret);
	return (index_repo_prune(ix, txn, ln->ln_repo));
}

/* Rewrite the link with touched = now, keeping its kind and upstream. */
static int
index_link_touch_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	struct index_link	*ln = arg;
	struct index_link_info	 li;
	int			 ret;

	if ((ret = index_link_read_info(ix, txn, &ln->ln_key, DB_RMW,
	    &li)) != 0)
		return (ret);
	ln->ln_kind = (unsigned char)li.ili_kind;
	memcpy(ln->ln_upstream, li.ili_upstream, sizeof(ln->ln_upstream));
	return (index_link_write(ix, txn, ln));
}

int
index_link_put(struct index *ix, const char *repo, const struct digest *d,
    enum index_link_kind kind, const char *upstream)
{
	struct index_link	 ln;

	if (index_link_init(ix, &ln, __func__, repo, d) == -1)
		return (-1);
	if (kind != INDEX_LINK_BLOB && kind != INDEX_LINK_MANIFEST &&
	    kind != INDEX_LINK_CHART) {
		log_warnx("%s: bad link kind %d", __func__, (int)kind);
		return (-1);
	}
	if (upstream != NULL && upstream[0] != '\0' &&
	    !index_str_ok(__func__, "upstream", upstream, DEPOT_NAME_MAX))
		return (-1);
	if (upstream != NULL)
		memcpy(ln.ln_upstream, upstream, strlen(upstream));
	ln.ln_kind = (unsigned char)kind;
	if (index_txn_run(ix, "put link", ln.ln_upstream[0] != '\0' ?
	    INDEX_TXN_CACHED : 0, index_link_put_txn, &ln) != 0)
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
index_link_stat(struct index *ix, const char *repo, const struct digest *d,
    struct index_link_info *info)
{
	struct index_link	 ln;
	int			 found;

	if (info != NULL)
		memset(info, 0, sizeof(*info));
	if (index_link_init(ix, &ln, __func__, repo, d) == -1)
		return (-1);
	found = index_found(index_txn_run(ix, "stat link", DB_TXN_SNAPSHOT,
	    index_link_get_txn, &ln));
	if (found == 1 && info != NULL) {
		info->ili_kind = (enum index_link_kind)ln.ln_kind;
		info->ili_touched = ln.ln_touched;
		memcpy(info->ili_upstream, ln.ln_upstream,
		    sizeof(info->ili_upstream));
	}
	return (found);
}

int
index_link_touch(struct index *ix, const char *repo, const struct digest *d,
    int64_t before)
{
	struct index_link_info	 li;
	int			 found;

	if ((found = index_link_stat(ix, repo, d, &li)) != 1)
		return (found);
	if (li.ili_touched >= before)
		return (1);
	return (index_link_apply(ix, __func__, "touch link", repo, d,
	    index_link_touch_txn));
}

int
index_link_delete(struct index *ix, const char *repo, const struct digest *d)
{
	return (index_link_apply(ix, __func__, "delete link", repo, d,
	    index_link_del_txn));
}

static int
index_digest_linked_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	return (index_digest_held(ix, txn, arg));
}

int
index_digest_linked(struct index *ix, const struct digest *d)
{
	char	 buf[DIGEST_STRING_MAX];

	if (!index_ready(ix, __func__) ||
	    index_digest_fmt(__func__, d, buf) == -1)
		return (-1);
	/* With locks: a stale entry found is dropped. */
	return (index_found(index_txn_run(ix, "digest linked", 0,
	    index_digest_linked_txn, buf)));
}

int
index_digest_repos(struct index *ix, const struct digest *d, char ***repos,
    size_t *count)
{
	struct index_scan	 sc;
	char			 buf[DIGEST_STRING_MAX];

	if (index_scan_init(&sc, ix, __func__, INDEX_DB_DIGESTS,
	    DEPOT_REPO_MAX, repos, count) == -1 ||
	    index_digest_fmt(__func__, d, buf) == -1 ||
	    index_key_make(&sc.sc_from, buf, "", NULL) == -1)
		return (-1);
	sc.sc_prefix = sc.sc_from.key_len;
	return (index_scan_run(ix, "list digest repositories", &sc, repos,
	    count));
}

/* Split a links.db key into repo and digest. 0, or -1 when garbled. */
static int
index_link_split(const DBT *key, struct index_link_entry *e)
{
	const char	*p = key->data, *nul;
	char		 ds[DIGEST_STRING_MAX];
	size_t		 rlen, dlen;

	if ((nul = memchr(p, '\0', key->size)) == NULL)
		return (-1);
	rlen = (size_t)(nul - p);
	dlen = key->size - rlen - 1;
	if (rlen == 0 || rlen > DEPOT_REPO_MAX || dlen == 0 ||
	    dlen >= sizeof(ds) || memchr(nul + 1, '\0', dlen) != NULL)
		return (-1);
	memcpy(e->ile_repo, p, rlen);
	e->ile_repo[rlen] = '\0';
	memcpy(ds, nul + 1, dlen);
	ds[dlen] = '\0';
	return (digest_parse(ds, &e->ile_digest, NULL));
}

static int
index_link_list_one(DBC *dbc, const DBT *key, const DBT *data, void *arg)
{
	struct index_link_walk	*lw = arg;
	struct index_link_entry	*e;

	(void)dbc;
	if (lw->lw_skip_first) {
		lw->lw_skip_first = 0;
		if (key->size == lw->lw_from.key_len &&
		    memcmp(key->data, lw->lw_from.key_buf, key->size) == 0)
			return (0);
	}
	lw->lw_out = xreallocarray(lw->lw_out, lw->lw_count + 1,
	    sizeof(*lw->lw_out));
	e = &lw->lw_out[lw->lw_count];
	memset(e, 0, sizeof(*e));
	if (index_link_split(key, e) == -1 ||
	    index_link_decode(data->data, data->size, &e->ile_info) != 0) {
		log_warnx("%s: %s: garbled entry skipped", __func__,
		    index_files[INDEX_DB_LINKS]);
		return (0);
	}
	lw->lw_count++;
	if (lw->lw_max != 0 && lw->lw_count >= lw->lw_max)
		return (INDEX_WALK_STOP);
	return (0);
}

static int
index_link_list_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	struct index_link_walk	*lw = arg;

	free(lw->lw_out);
	lw->lw_out = NULL;
	lw->lw_count = 0;
	lw->lw_skip_first = lw->lw_from.key_len > 0;
	return (index_walk(ix, txn, INDEX_DB_LINKS, &lw->lw_from, NULL, 0, 0,
	    index_link_list_one, lw));
}

int
index_link_list(struct index *ix, const struct index_link_entry *after,
    size_t n, struct index_link_entry **out, size_t *count)
{
	struct index_link_walk	 lw;
	char			 ds[DIGEST_STRING_MAX];

	if (out != NULL)
		*out = NULL;
	if (count != NULL)
		*count = 0;
	if (!index_ready(ix, __func__))
		return (-1);
	if (out == NULL || count == NULL) {
		log_warnx("%s: bad arguments", __func__);
		return (-1);
	}
	memset(&lw, 0, sizeof(lw));
	lw.lw_max = n;
	if (after != NULL && (index_digest_fmt(__func__, &after->ile_digest,
	    ds) == -1 || index_key_make(&lw.lw_from, after->ile_repo, ds,
	    NULL) == -1))
		return (-1);
	if (index_txn_run(ix, "list links", DB_TXN_SNAPSHOT,
	    index_link_list_txn, &lw) != 0) {
		free(lw.lw_out);
		return (-1);
	}
	*out = lw.lw_out;
	*count = lw.lw_count;
	return (0);
}

/* Add the reverse entry of the link at the cursor; stop after a batch. */
static int
index_migrate_one(DBC *dbc, const DBT *key, const DBT *data, void *arg)
{
	struct index_migrate	*mg = arg;
	struct index_link_entry	 e;
	struct index_key	 rev;
	char			 ds[DIGEST_STRING_MAX];

	(void)dbc;
	(void)data;
	if (mg->mg_seen++ == INDEX_MIGRATE_BATCH) {
		if (key->size > sizeof(mg->mg_from.key_buf))
			return (EINVAL);
		memcpy(mg->mg_from.key_buf, key->data, key->size);
		mg->mg_from.key_len = key->size;
		mg->mg_more = 1;
		return (INDEX_WALK_STOP);
	}
	if (index_link_split(key, &e) == -1)
		return (0);	/* garbled: fsck's business */
	digest_format(&e.ile_digest, ds, sizeof(ds));
	if (index_link_rev_key(&rev, ds, e.ile_repo) == -1)
		return (0);
	return (index_put(mg->mg_ix, mg->mg_txn, INDEX_DB_DIGESTS, &rev, NULL,
	    0));
}

static int
index_migrate_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	struct index_migrate	*mg = arg;

	mg->mg_seen = 0;
	mg->mg_more = 0;
	mg->mg_txn = txn;
	mg->mg_ix = ix;
	return (index_walk(ix, txn, INDEX_DB_LINKS, &mg->mg_from, NULL, 0, 0,
	    index_migrate_one, mg));
}

/* arg NULL: is the migration done (0, else DB_NOTFOUND)? Else mark it. */
static int
index_migrated_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	DB			*meta = ix->ix_db[INDEX_DB_META];
	struct index_key	 k;
	DBT			 key, data;

	if (index_key_make(&k, INDEX_MIGRATED_KEY, NULL, NULL) == -1)
		return (EINVAL);
	if (arg != NULL)
		return (index_put(ix, txn, INDEX_DB_META, &k, NULL, 0));
	index_dbt(&key, k.key_buf, k.key_len);
	memset(&data, 0, sizeof(data));
	data.flags = DB_DBT_PARTIAL;
	return (meta->get(meta, txn, &key, &data, 0));
}

/*
 * Master, at open: build digests.db from links.db once, for a store
 * written before it existed, in batches. A Berkeley DB code.
 */
int
index_links_migrate(struct index *ix)
{
	struct index_migrate	 mg;
	int			 ret, done = 1;

	ret = index_txn_run(ix, "check digests.db", DB_TXN_SNAPSHOT,
	    index_migrated_txn, NULL);
	if (ret != DB_NOTFOUND)
		return (ret);
	memset(&mg, 0, sizeof(mg));
	do {
		if ((ret = index_txn_run(ix, "build digests.db", 0,
		    index_migrate_txn, &mg)) != 0)
			return (ret);
	} while (mg.mg_more);
	return (index_txn_run(ix, "build digests.db", 0, index_migrated_txn,
	    &done));
}
