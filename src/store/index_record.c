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

static int	index_rec_put_txn(struct index *, DB_TXN *, void *);
static int	index_rec_del_txn(struct index *, DB_TXN *, void *);
static void	index_scan_reset(struct index_scan *);
static int	index_scan_keep(struct index_scan *, const DBT *, const DBT *);
static int	index_scan_txn(struct index *, DB_TXN *, void *);

/*
 * Test hook, deliberately not in index.h: store raw bytes under a raw key
 * of the named database file, so that tests can check how readers cope
 * with a damaged value. depot itself never calls it.
 */
int	index_test_put_raw(struct index *, const char *, const void *, size_t,
	    const void *, size_t);

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

/* Read one record into rec_data (malloc'd); freed on failure. */
int
index_rec_get_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	struct index_rec	*rec = arg;
	DB			*db = ix->ix_db[rec->rec_table];
	DBT			 key, data;
	int			 ret;

	free(rec->rec_data);
	rec->rec_data = NULL;
	rec->rec_size = 0;
	index_dbt(&key, rec->rec_key.key_buf, rec->rec_key.key_len);
	memset(&data, 0, sizeof(data));
	data.flags = DB_DBT_MALLOC;
	if ((ret = db->get(db, txn, &key, &data, 0)) != 0)
		return (ret);
	rec->rec_data = data.data;
	rec->rec_size = data.size;
	return (0);
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

/* Snapshot read of rec: 1 found (caller frees rec_data), 0 absent, -1. */
int
index_lookup(struct index *ix, const char *what, struct index_rec *rec)
{
	int	 ret;

	rec->rec_data = NULL;
	ret = index_txn_run(ix, what, DB_TXN_SNAPSHOT, index_rec_get_txn, rec);
	if (ret == DB_NOTFOUND)
		return (0);
	return (ret == 0 ? 1 : -1);
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
	int	 ret;

	ret = index_txn_run(ix, what, 0, index_rec_del_txn, rec);
	if (ret == DB_NOTFOUND)
		return (0);
	return (ret == 0 ? 1 : -1);
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
 * skip it with a warning) and sc_keep, when set, wants its value.
 */
static int
index_scan_keep(struct index_scan *sc, const DBT *key, const DBT *data)
{
	const char	*rest = (const char *)key->data + sc->sc_prefix;
	size_t		 len = key->size - sc->sc_prefix;

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
	return (0);
}

/*
 * Walk the keys from sc_from while they start with its first sc_prefix
 * bytes, up to sc_max kept ones. Cursor memory belongs to the library and
 * stays valid until the next call on the cursor.
 */
static int
index_scan_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	struct index_scan	*sc = arg;
	DB			*db = ix->ix_db[sc->sc_table];
	DBC			*dbc;
	DBT			 key, data;
	u_int32_t		 op = DB_SET_RANGE;
	int			 ret = 0, t_ret;

	index_scan_reset(sc);
	if ((ret = db->cursor(db, txn, &dbc, 0)) != 0)
		return (ret);
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = sc->sc_from.key_buf;
	key.size = (u_int32_t)sc->sc_from.key_len;
	if (key.size == 0)
		op = DB_FIRST;
	while (sc->sc_max == 0 || sc->sc_count < sc->sc_max) {
		if ((ret = dbc->get(dbc, &key, &data, op)) != 0)
			break;
		op = DB_NEXT;
		if (!index_has_prefix(&key, &sc->sc_from, sc->sc_prefix))
			break;
		if ((ret = index_scan_keep(sc, &key, &data)) != 0)
			break;
	}
	if (ret == DB_NOTFOUND)
		ret = 0;
	if ((t_ret = dbc->close(dbc)) != 0 && ret == 0)
		ret = t_ret;
	return (ret);
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
	rec.rec_data = (void *)value;
	rec.rec_size = size;
	if (index_txn_run(ix, "put raw", 0, index_rec_put_txn, &rec) != 0)
		return (-1);
	return (0);
}
