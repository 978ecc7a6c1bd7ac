/*
 * index_uploads.c: uploads.db, the blob uploads in progress.
 *
 * Key schema (uploads.db):
 *   key    upload id (1..INDEX_UPLOAD_ID_MAX bytes)
 *   value  str repo, int64 offset (bytes received so far), int64 started,
 *          int64 updated (unix seconds)
 * No secondary index: expired uploads and the uploads into a registry
 * (index_purge.c) are found by reading them all.
 */
#include <sys/types.h>

#include <db.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/index_impl.h"
#include "lib/log.h"

struct index_advance {
	struct index_key	 ad_key;
	int64_t			 ad_expect;
	int64_t			 ad_next;
};

static void	index_upload_fields(struct index_code *, void *);
static int	index_upload_rec(struct index *, struct index_rec *,
		    const char *, const char *);
static int	index_upload_expired_keep(const struct index_scan *,
		    const void *, size_t);
static int	index_advance_txn(struct index *, DB_TXN *, void *);

/* The value of uploads.db, field by field (see index_code_*). */
static void
index_upload_fields(struct index_code *c, void *value)
{
	struct index_upload	*u = value;

	index_code_name(c, u->iu_repo, sizeof(u->iu_repo));
	index_code_size(c, &u->iu_offset);
	index_code_i64(c, &u->iu_started);
	index_code_i64(c, &u->iu_updated);
}

const struct index_layout index_upload_layout = {
	INDEX_DB_UPLOADS, sizeof(struct index_upload), index_upload_fields
};

/*
 * Check that the index is open and the upload id is good, and aim rec at
 * its record. 0 or -1 (logged for func).
 */
static int
index_upload_rec(struct index *ix, struct index_rec *rec, const char *func,
    const char *id)
{
	memset(rec, 0, sizeof(*rec));
	rec->rec_table = INDEX_DB_UPLOADS;
	if (!index_ready(ix, func) ||
	    !index_str_ok(func, "upload id", id, INDEX_UPLOAD_ID_MAX))
		return (-1);
	return (index_key_make(&rec->rec_key, id, NULL, NULL));
}

/* An upload old enough or garbled (so that it gets cleaned up too). */
static int
index_upload_expired_keep(const struct index_scan *sc, const void *data,
    size_t size)
{
	struct index_upload	 u;

	return (index_decode(&index_upload_layout, data, size, &u) != 0 ||
	    u.iu_updated < sc->sc_before);
}

/*
 * Compare and set an upload's offset. DB_NOTFOUND both when the upload is
 * absent and when it is at another offset: nothing is written either way.
 */
static int
index_advance_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	struct index_advance	*ad = arg;
	struct index_upload	 u;
	struct index_enc	 e;
	int			 ret;

	if ((ret = index_get(ix, txn, &index_upload_layout, &ad->ad_key,
	    DB_RMW, &u)) != 0)
		return (ret);
	if (u.iu_offset != ad->ad_expect)
		return (DB_NOTFOUND);
	u.iu_offset = ad->ad_next;
	u.iu_updated = (int64_t)time(NULL);
	if (index_encode(&e, &index_upload_layout, &u) == -1)
		return (EINVAL);
	ret = index_put(ix, txn, INDEX_DB_UPLOADS, &ad->ad_key, e.enc_data,
	    e.enc_len);
	index_enc_free(&e);
	return (ret);
}

int
index_upload_put(struct index *ix, const char *id,
    const struct index_upload *u)
{
	struct index_rec	 rec;
	struct index_enc	 e;

	if (index_upload_rec(ix, &rec, __func__, id) == -1 ||
	    index_encode(&e, &index_upload_layout, u) == -1)
		return (-1);
	return (index_store(ix, "put upload", &rec, &e));
}

int
index_upload_get(struct index *ix, const char *id, struct index_upload *out)
{
	struct index_rec	 rec;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (index_upload_rec(ix, &rec, __func__, id) == -1)
		return (-1);
	return (index_lookup(ix, "get upload", &rec, &index_upload_layout,
	    out));
}

int
index_upload_delete(struct index *ix, const char *id)
{
	struct index_rec	 rec;

	if (index_upload_rec(ix, &rec, __func__, id) == -1)
		return (-1);
	return (index_remove(ix, "delete upload", &rec));
}

int
index_upload_advance(struct index *ix, const char *id, int64_t expect,
    int64_t next)
{
	struct index_rec	 rec;
	struct index_advance	 ad;
	int			 ret;

	if (index_upload_rec(ix, &rec, __func__, id) == -1)
		return (-1);
	if (next < 0) {
		log_warnx("%s: bad offset", __func__);
		return (-1);
	}
	ad.ad_key = rec.rec_key;
	ad.ad_expect = expect;
	ad.ad_next = next;
	ret = index_txn_run(ix, "advance upload", 0, index_advance_txn, &ad);
	if (ret == DB_NOTFOUND)
		return (1);
	return (ret == 0 ? 0 : -1);
}

/*
 * A garbled upload record counts as expired, so that the caller cleans it
 * up with the rest. Caller frees *ids (NULL when none).
 */
int
index_upload_expired(struct index *ix, int64_t before, size_t n,
    char ***ids, size_t *count)
{
	struct index_scan	 sc;

	if (index_scan_init(&sc, ix, __func__, INDEX_DB_UPLOADS,
	    INDEX_UPLOAD_ID_MAX, ids, count) == -1)
		return (-1);
	sc.sc_max = n;
	sc.sc_keep = index_upload_expired_keep;
	sc.sc_before = before;
	return (index_scan_run(ix, "list expired uploads", &sc, ids, count));
}
