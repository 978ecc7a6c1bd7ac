/*
 * index_record.c: the operations every table file builds on: read, write
 * or delete one record (inside a caller's transaction, or in one of its
 * own), and prefix scans that list the rest of each key after a prefix.
 * Plain reads are snapshot reads (DB_TXN_SNAPSHOT): they take no locks.
 */
#include <sys/types.h>

#include <db.h>
#include <stdlib.h>
#include <string.h>

#include "store/index_impl.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

static int	index_rec_get_txn(struct index *, DB_TXN *, void *);
static int	index_rec_put_txn(struct index *, DB_TXN *, void *);
static int	index_rec_del_txn(struct index *, DB_TXN *, void *);
static void	index_scan_reset(struct index_scan *);
static int	index_scan_keep(DBC *, const DBT *, const DBT *, void *);
static int	index_scan_txn(struct index *, DB_TXN *, void *);

/*
 * Test hook, deliberately not in index.h: store raw bytes under a raw key
 * of the named database file, so that tests can check how readers cope
 * with a damaged value. depot itself never calls it.
 */
int	index_test_put_raw(struct index *, const char *, const void *, size_t,
	    const void *, size_t);
/* The same hook, to delete a raw key (1 deleted, 0 absent, -1 error). */
int	index_test_del_raw(struct index *, const char *, const void *,
	    size_t);

/* Point dbt at a caller buffer of size bytes, used for keys and values. */
void
index_dbt(DBT *dbt, void *data, size_t size)
{
	memset(dbt, 0, sizeof(*dbt));
	dbt->data = data;
	dbt->size = (u_int32_t)size;
	dbt->ulen = (u_int32_t)size;
	dbt->flags = DB_DBT_USERMEM;
}

int
index_put(struct index *ix, DB_TXN *txn, enum index_table table,
    const struct index_key *k, const void *value, size_t size)
{
	DB	*db = ix->ix_db[table];
	DBT	 key, data;

	index_dbt(&key, (void *)k->key_buf, k->key_len);
	index_dbt(&data, (void *)value, size);
	return (db->put(db, txn, &key, &data, 0));
}

int
index_del(struct index *ix, DB_TXN *txn, enum index_table table,
    const struct index_key *k)
{
	DB	*db = ix->ix_db[table];
	DBT	 key;

	index_dbt(&key, (void *)k->key_buf, k->key_len);
	return (db->del(db, txn, &key, 0));
}

/* Does key start with the first len bytes of k? */
int
index_has_prefix(const DBT *key, const struct index_key *k, size_t len)
{
	return (key->size >= len && memcmp(key->data, k->key_buf, len) == 0);
}

/*
 * Read the value at k in the table of lo and decode it into out: 0,
 * DB_NOTFOUND, EINVAL when garbled (logged), or another Berkeley DB code.
 */
int
index_get(struct index *ix, DB_TXN *txn, const struct index_layout *lo,
    const struct index_key *k, u_int32_t flags, void *out)
{
	DB	*db = ix->ix_db[lo->lo_table];
	DBT	 key, data;
	int	 ret;

	index_dbt(&key, (void *)k->key_buf, k->key_len);
	memset(&data, 0, sizeof(data));
	data.flags = DB_DBT_MALLOC;
	if ((ret = db->get(db, txn, &key, &data, flags)) != 0)
		return (ret);
	ret = index_decode(lo, data.data, data.size, out);
	free(data.data);
	return (ret);
}

/*
 * Walk table from the key from (from the first key when from is empty)
 * while the keys start with the first len bytes of prefix (to the end
 * when prefix is NULL), calling fn on each entry; flags DB_RMW to change
 * entries through the cursor. Cursor memory belongs to the library and
 * stays valid until the next call on the cursor.
 */
int
index_walk(struct index *ix, DB_TXN *txn, enum index_table table,
    const struct index_key *from, const struct index_key *prefix, size_t len,
    u_int32_t flags, index_walk_fn fn, void *arg)
{
	DB		*db = ix->ix_db[table];
	DBC		*dbc;
	DBT		 key, data;
	u_int32_t	 op = DB_SET_RANGE;
	int		 ret, t_ret;

	if ((ret = db->cursor(db, txn, &dbc, 0)) != 0)
		return (ret);
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = (void *)from->key_buf;
	key.size = (u_int32_t)from->key_len;
	if (key.size == 0)
		op = DB_FIRST;
	while ((ret = dbc->get(dbc, &key, &data, op | flags)) == 0) {
		op = DB_NEXT;
		if (prefix != NULL && !index_has_prefix(&key, prefix, len))
			break;
		if ((ret = fn(dbc, &key, &data, arg)) != 0)
			break;
	}
	if (ret == DB_NOTFOUND || ret == INDEX_WALK_STOP)
		ret = 0;
	if ((t_ret = dbc->close(dbc)) != 0 && ret == 0)
		ret = t_ret;
	return (ret);
}

static int
index_rec_get_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	struct index_rec	*rec = arg;

	return (index_get(ix, txn, rec->rec_layout, &rec->rec_key, 0,
	    rec->rec_out));
}

static int
index_rec_put_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	struct index_rec	*rec = arg;

	return (index_put(ix, txn, rec->rec_table, &rec->rec_key,
	    rec->rec_data, rec->rec_size));
}

static int
index_rec_del_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	struct index_rec	*rec = arg;

	return (index_del(ix, txn, rec->rec_table, &rec->rec_key));
}

/* What a lookup or delete returns: 1 done, 0 absent (DB_NOTFOUND), -1. */
int
index_found(int ret)
{
	if (ret == DB_NOTFOUND)
		return (0);
	return (ret == 0 ? 1 : -1);
}

/*
 * Snapshot read of rec, decoded into out: 1 found, 0 absent, -1 error
 * (also when the value is garbled).
 */
int
index_lookup(struct index *ix, const char *what, struct index_rec *rec,
    const struct index_layout *lo, void *out)
{
	if (out == NULL) {
		log_warnx("%s: %s: bad arguments", __func__, what);
		return (-1);
	}
	rec->rec_layout = lo;
	rec->rec_out = out;
	return (index_found(index_txn_run(ix, what, DB_TXN_SNAPSHOT,
	    index_rec_get_txn, rec)));
}

/* Write the encoded value e at rec, then free e. 0 or -1. */
int
index_store(struct index *ix, const char *what, struct index_rec *rec,
    struct index_enc *e)
{
	int	 ret;

	rec->rec_data = e->enc_data;
	rec->rec_size = e->enc_len;
	ret = index_txn_run(ix, what, 0, index_rec_put_txn, rec);
	index_enc_free(e);
	return (ret == 0 ? 0 : -1);
}

/* 1 deleted, 0 absent, -1 error. */
int
index_remove(struct index *ix, const char *what, struct index_rec *rec)
{
	return (index_found(index_txn_run(ix, what, 0, index_rec_del_txn,
	    rec)));
}

/*
 * Start sc, a scan of table whose keys end in names of at most rest_max
 * bytes, into *items and *count (set to NULL and 0 here). -1 (logged for
 * func) when the index is not open or either is NULL.
 */
int
index_scan_init(struct index_scan *sc, struct index *ix, const char *func,
    enum index_table table, size_t rest_max, char ***items, size_t *count)
{
	memset(sc, 0, sizeof(*sc));
	sc->sc_table = table;
	sc->sc_rest_max = rest_max;
	if (items != NULL)
		*items = NULL;
	if (count != NULL)
		*count = 0;
	if (!index_ready(ix, func))
		return (-1);
	if (items == NULL || count == NULL) {
		log_warnx("%s: bad arguments", func);
		return (-1);
	}
	return (0);
}

/*
 * Start sc after last (when not NULL): at head NUL last NUL, or at last
 * NUL when head is NULL: the first key after every name up to last, since
 * a name holds no NUL. A last longer than max is cut to max bytes, which
 * leaves the same names after it. 0 or -1.
 */
int
index_scan_after(struct index_scan *sc, const char *head, const char *last,
    size_t max)
{
	char	 from[INDEX_KEY_MAX];
	size_t	 len;

	if (last == NULL)
		return (0);
	len = strnlen(last, max < sizeof(from) ? max : sizeof(from) - 1);
	memcpy(from, last, len);
	from[len] = '\0';
	if (head == NULL)
		return (index_key_make(&sc->sc_from, from, "", NULL));
	return (index_key_make(&sc->sc_from, head, from, ""));
}

static void
index_scan_reset(struct index_scan *sc)
{
	index_strings_free(sc->sc_items, sc->sc_count);
	sc->sc_items = NULL;
	sc->sc_count = 0;
}

/*
 * Collect the rest of key after the prefix, when it is a valid name (else
 * skip it with a warning) and sc_keep, when set, wants its value; stop at
 * sc_max kept ones.
 */
static int
index_scan_keep(DBC *dbc, const DBT *key, const DBT *data, void *arg)
{
	struct index_scan	*sc = arg;
	const char		*rest = (const char *)key->data + sc->sc_prefix;
	size_t			 len = key->size - sc->sc_prefix;

	(void)dbc;
	if (len == 0 || len > sc->sc_rest_max || memchr(rest, '\0', len)) {
		log_warnx("%s: %s: garbled key skipped", __func__,
		    index_files[sc->sc_table]);
		return (0);
	}
	if (sc->sc_keep != NULL && !sc->sc_keep(sc, data->data, data->size))
		return (0);
	sc->sc_items = xreallocarray(sc->sc_items, sc->sc_count + 1,
	    sizeof(*sc->sc_items));
	sc->sc_items[sc->sc_count++] = xstrndup(rest, len);
	if (sc->sc_max != 0 && sc->sc_count >= sc->sc_max)
		return (INDEX_WALK_STOP);
	return (0);
}

/* Walk the keys from sc_from while they start with its sc_prefix bytes. */
static int
index_scan_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	struct index_scan	*sc = arg;

	index_scan_reset(sc);
	return (index_walk(ix, txn, sc->sc_table, &sc->sc_from, &sc->sc_from,
	    sc->sc_prefix, 0, index_scan_keep, sc));
}

/* Run a scan in a snapshot; *items (caller frees) and *count. 0 or -1. */
int
index_scan_run(struct index *ix, const char *what, struct index_scan *sc,
    char ***items, size_t *count)
{
	int	 ret;

	ret = index_txn_run(ix, what, DB_TXN_SNAPSHOT, index_scan_txn, sc);
	if (ret != 0) {
		index_scan_reset(sc);
		return (-1);
	}
	*items = sc->sc_items;
	*count = sc->sc_count;
	return (0);
}

void
index_strings_free(char **v, size_t count)
{
	size_t	 i;

	if (v == NULL)
		return;
	for (i = 0; i < count; i++)
		free(v[i]);
	free(v);
}

int
index_test_put_raw(struct index *ix, const char *file, const void *key,
    size_t keylen, const void *value, size_t size)
{
	struct index_rec	 rec;
	int			 i;

	if (!index_ready(ix, __func__) || file == NULL)
		return (-1);
	for (i = 0; i < INDEX_NDB; i++)
		if (strcmp(index_files[i], file) == 0)
			break;
	if (i == INDEX_NDB || keylen > sizeof(rec.rec_key.key_buf)) {
		log_warnx("%s: bad arguments", __func__);
		return (-1);
	}
	memset(&rec, 0, sizeof(rec));
	rec.rec_table = (enum index_table)i;
	memcpy(rec.rec_key.key_buf, key, keylen);
	rec.rec_key.key_len = keylen;
	rec.rec_data = value;
	rec.rec_size = size;
	if (index_txn_run(ix, "put raw", 0, index_rec_put_txn, &rec) != 0)
		return (-1);
	return (0);
}

int
index_test_del_raw(struct index *ix, const char *file, const void *key,
    size_t keylen)
{
	struct index_rec	 rec;
	int			 i;

	if (!index_ready(ix, __func__) || file == NULL)
		return (-1);
	for (i = 0; i < INDEX_NDB; i++)
		if (strcmp(index_files[i], file) == 0)
			break;
	if (i == INDEX_NDB || keylen > sizeof(rec.rec_key.key_buf)) {
		log_warnx("%s: bad arguments", __func__);
		return (-1);
	}
	memset(&rec, 0, sizeof(rec));
	rec.rec_table = (enum index_table)i;
	memcpy(rec.rec_key.key_buf, key, keylen);
	rec.rec_key.key_len = keylen;
	return (index_remove(ix, "delete raw", &rec));
}
