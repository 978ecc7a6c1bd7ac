/*
 * index_tags.c: tags.db, what each tag of a repository points at.
 *
 * Key schema (tags.db):
 *   key    repo NUL tag
 *   value  str digest, str media type, int64 fetched_at (unix seconds:
 *          pushed or cached), str upstream ("" when pushed here)
 * No secondary index: the tags of a repository are the keys after
 * repo NUL (in byte order, the order of index_tag_list); the tags that
 * point at a digest are found by reading them all (index_untag).
 */

#include <sys/types.h>

#include <db.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/index_impl.h"
#include "lib/log.h"

/* A tag written only while the record is still tc_expect (or absent). */
struct index_tag_cas {
	struct index_rec	 tc_rec;
	const struct index_tag	*tc_expect;
	int			 tc_changed;
};

static int	index_tag_decode(const void *, size_t, struct index_tag *);
static int	index_tag_rec(struct index_rec *, const char *, const char *,
		    const char *);
static int	index_tag_cas_txn(struct index *, DB_TXN *, void *);

int
index_tag_encode(struct index_enc *e, const struct index_tag *t)
{
	index_enc_init(e);
	index_enc_digest(e, &t->it_digest);
	index_enc_str(e, t->it_media_type, sizeof(t->it_media_type) - 1);
	index_enc_i64(e, t->it_fetched_at);
	index_enc_str(e, t->it_upstream, sizeof(t->it_upstream) - 1);
	return (e->enc_bad ? -1 : 0);
}

static int
index_tag_decode(const void *data, size_t size, struct index_tag *t)
{
	struct index_dec	 d;

	memset(t, 0, sizeof(*t));
	index_dec_init(&d, data, size);
	index_dec_digest(&d, &t->it_digest);
	index_dec_str(&d, t->it_media_type, sizeof(t->it_media_type));
	t->it_fetched_at = index_dec_i64(&d);
	index_dec_str(&d, t->it_upstream, sizeof(t->it_upstream));
	return (index_dec_end(&d, INDEX_DB_TAGS));
}

/* Check repo and tag, and aim rec at their record. 0 or -1 (logged). */
static int
index_tag_rec(struct index_rec *rec, const char *func, const char *repo,
    const char *tag)
{
	memset(rec, 0, sizeof(*rec));
	rec->rec_table = INDEX_DB_TAGS;
	if (!index_str_ok(func, "repository", repo, DEPOT_REPO_MAX) ||
	    !index_str_ok(func, "tag", tag, DEPOT_TAG_MAX))
		return (-1);
	return (index_key_make(&rec->rec_key, repo, tag, NULL));
}

/* Delete every tag of the link's repository that points at its digest. */
int
index_untag(struct index *ix, DB_TXN *txn, const struct index_link *ln)
{
	DB			*tags = ix->ix_db[INDEX_DB_TAGS];
	struct index_key	 prefix;
	struct index_tag	 t;
	DBC			*dbc;
	DBT			 key, data;
	u_int32_t		 op = DB_SET_RANGE;
	int			 ret, t_ret;

	if (index_key_make(&prefix, ln->ln_repo, "", NULL) == -1)
		return (EINVAL);
	if ((ret = tags->cursor(tags, txn, &dbc, 0)) != 0)
		return (ret);
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = prefix.key_buf;
	key.size = (u_int32_t)prefix.key_len;
	for (;;) {
		if ((ret = dbc->get(dbc, &key, &data, op | DB_RMW)) != 0)
			break;
		op = DB_NEXT;
		if (!index_has_prefix(&key, &prefix, prefix.key_len))
			break;
		/* A garbled tag points nowhere: leave it, logged. */
		if (index_tag_decode(data.data, data.size, &t) != 0 ||
		    !digest_equal(&t.it_digest, ln->ln_digest))
			continue;
		if ((ret = dbc->del(dbc, 0)) != 0)
			break;
	}
	if (ret == DB_NOTFOUND)
		ret = 0;
	if ((t_ret = dbc->close(dbc)) != 0 && ret == 0)
		ret = t_ret;
	return (ret);
}

int
index_tag_get(struct index *ix, const char *repo, const char *tag,
    struct index_tag *out)
{
	struct index_rec	 rec;
	int			 found;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (!index_ready(ix, __func__) ||
	    index_tag_rec(&rec, __func__, repo, tag) == -1)
		return (-1);
	if (out == NULL) {
		log_warnx("%s: bad arguments", __func__);
		return (-1);
	}
	if ((found = index_lookup(ix, "get tag", &rec)) == 1 &&
	    index_tag_decode(rec.rec_data, rec.rec_size, out) != 0)
		found = -1;
	free(rec.rec_data);
	return (found);
}

int
index_tag_put(struct index *ix, const char *repo, const char *tag,
    const struct index_tag *t)
{
	struct index_rec	 rec;
	struct index_enc	 e;

	if (!index_ready(ix, __func__) ||
	    index_tag_rec(&rec, __func__, repo, tag) == -1)
		return (-1);
	if (t == NULL || index_tag_encode(&e, t) == -1) {
		if (t != NULL)
			index_enc_free(&e);
		log_warnx("%s: bad tag record", __func__);
		return (-1);
	}
	return (index_store(ix, "put tag", &rec, &e));
}

static int
index_tag_cas_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	struct index_tag_cas	*tc = arg;
	const struct index_tag	*x = tc->tc_expect;
	struct index_tag	 cur;
	DB			*db = ix->ix_db[INDEX_DB_TAGS];
	DBT			 key, data;
	int			 ret, same;

	tc->tc_changed = 0;
	index_dbt(&key, tc->tc_rec.rec_key.key_buf, tc->tc_rec.rec_key.key_len);
	memset(&data, 0, sizeof(data));
	data.flags = DB_DBT_MALLOC;
	ret = db->get(db, txn, &key, &data, DB_RMW);
	if (ret == DB_NOTFOUND)
		same = x == NULL;
	else if (ret != 0)
		return (ret);
	else {
		ret = index_tag_decode(data.data, data.size, &cur);
		free(data.data);
		if (ret != 0)
			return (ret);
		same = x != NULL && digest_equal(&cur.it_digest, &x->it_digest) &&
		    cur.it_fetched_at == x->it_fetched_at &&
		    strcmp(cur.it_media_type, x->it_media_type) == 0 &&
		    strcmp(cur.it_upstream, x->it_upstream) == 0;
	}
	if (!same) {
		tc->tc_changed = 1;
		return (0);
	}
	return (index_put(ix, txn, INDEX_DB_TAGS, &tc->tc_rec.rec_key,
	    tc->tc_rec.rec_data, tc->tc_rec.rec_size));
}

int
index_tag_put_if(struct index *ix, const char *repo, const char *tag,
    const struct index_tag *t, const struct index_tag *expect)
{
	struct index_tag_cas	 tc;
	struct index_enc	 e;
	int			 ret;

	memset(&tc, 0, sizeof(tc));
	if (!index_ready(ix, __func__) ||
	    index_tag_rec(&tc.tc_rec, __func__, repo, tag) == -1)
		return (-1);
	if (t == NULL || index_tag_encode(&e, t) == -1) {
		if (t != NULL)
			index_enc_free(&e);
		log_warnx("%s: bad tag record", __func__);
		return (-1);
	}
	tc.tc_rec.rec_data = e.enc_data;
	tc.tc_rec.rec_size = e.enc_len;
	tc.tc_expect = expect;
	ret = index_txn_run(ix, "put tag if unchanged", 0, index_tag_cas_txn,
	    &tc);
	index_enc_free(&e);
	if (ret != 0)
		return (-1);
	return (tc.tc_changed ? 0 : 1);
}

int
index_tag_delete(struct index *ix, const char *repo, const char *tag)
{
	struct index_rec	 rec;

	if (!index_ready(ix, __func__) ||
	    index_tag_rec(&rec, __func__, repo, tag) == -1)
		return (-1);
	return (index_remove(ix, "delete tag", &rec));
}

/*
 * The scan starts at repo NUL last NUL: the first key after every tag up
 * to last, since a tag holds no NUL. A last longer than any tag is cut to
 * DEPOT_TAG_MAX bytes, which leaves the same tags after it. Caller frees
 * *tags (NULL when none).
 */
int
index_tag_list(struct index *ix, const char *repo, const char *last,
    size_t n, char ***tags, size_t *count)
{
	struct index_scan	 sc;
	char			 from[DEPOT_TAG_MAX + 1];
	size_t			 len;

	if (tags != NULL)
		*tags = NULL;
	if (count != NULL)
		*count = 0;
	if (!index_ready(ix, __func__) ||
	    !index_str_ok(__func__, "repository", repo, DEPOT_REPO_MAX))
		return (-1);
	if (tags == NULL || count == NULL) {
		log_warnx("%s: bad arguments", __func__);
		return (-1);
	}
	memset(&sc, 0, sizeof(sc));
	sc.sc_table = INDEX_DB_TAGS;
	sc.sc_rest_max = DEPOT_TAG_MAX;
	sc.sc_max = n;
	if (index_key_make(&sc.sc_from, repo, "", NULL) == -1)
		return (-1);
	sc.sc_prefix = sc.sc_from.key_len;
	if (last != NULL) {
		len = strnlen(last, sizeof(from) - 1);
		memcpy(from, last, len);
		from[len] = '\0';
		if (index_key_make(&sc.sc_from, repo, from, "") == -1)
			return (-1);
	}
	return (index_scan_run(ix, "list tags", &sc, tags, count));
}
