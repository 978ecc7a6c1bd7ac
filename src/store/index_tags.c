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
#include <string.h>

#include "store/index_impl.h"
#include "lib/log.h"

/* A tag written only while the record is still tc_expect (or absent). */
struct index_tag_cas {
	struct index_rec	 tc_rec;
	const struct index_tag	*tc_expect;
	int			 tc_changed;
};

static void	index_tag_fields(struct index_code *, void *);
static int	index_tag_same(const struct index_tag *,
		    const struct index_tag *);
static int	index_tag_cas_txn(struct index *, DB_TXN *, void *);
static int	index_untag_one(DBC *, const DBT *, const DBT *, void *);

/* The value of tags.db, field by field (see index_code_*). */
static void
index_tag_fields(struct index_code *c, void *value)
{
	struct index_tag	*t = value;

	index_code_digest(c, &t->it_digest);
	index_code_str(c, t->it_media_type, sizeof(t->it_media_type));
	index_code_i64(c, &t->it_fetched_at);
	index_code_str(c, t->it_upstream, sizeof(t->it_upstream));
}

const struct index_layout index_tag_layout = {
	INDEX_DB_TAGS, sizeof(struct index_tag), index_tag_fields
};

/*
 * Check that the index is open and repo and tag are good, and aim rec at
 * their record. 0 or -1 (logged for func).
 */
int
index_tag_rec(struct index *ix, struct index_rec *rec, const char *func,
    const char *repo, const char *tag)
{
	memset(rec, 0, sizeof(*rec));
	rec->rec_table = INDEX_DB_TAGS;
	if (!index_ready(ix, func) ||
	    !index_str_ok(func, "repository", repo, DEPOT_REPO_MAX) ||
	    !index_str_ok(func, "tag", tag, DEPOT_TAG_MAX))
		return (-1);
	return (index_key_make(&rec->rec_key, repo, tag, NULL));
}

/* Delete the tag at the cursor when it points at the link's digest. */
static int
index_untag_one(DBC *dbc, const DBT *key, const DBT *data, void *arg)
{
	const struct index_link	*ln = arg;
	struct index_tag	 t;

	(void)key;
	/* A garbled tag points nowhere: leave it, logged. */
	if (index_decode(&index_tag_layout, data->data, data->size,
	    &t) != 0 || !digest_equal(&t.it_digest, ln->ln_digest))
		return (0);
	return (dbc->del(dbc, 0));
}

/* Delete every tag of the link's repository that points at its digest. */
int
index_untag(struct index *ix, DB_TXN *txn, const struct index_link *ln)
{
	struct index_key	 prefix;

	if (index_key_make(&prefix, ln->ln_repo, "", NULL) == -1)
		return (EINVAL);
	return (index_walk(ix, txn, INDEX_DB_TAGS, &prefix, &prefix,
	    prefix.key_len, DB_RMW, index_untag_one, (void *)ln));
}

int
index_tag_get(struct index *ix, const char *repo, const char *tag,
    struct index_tag *out)
{
	struct index_rec	 rec;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (index_tag_rec(ix, &rec, __func__, repo, tag) == -1)
		return (-1);
	return (index_lookup(ix, "get tag", &rec, &index_tag_layout, out));
}

int
index_tag_put(struct index *ix, const char *repo, const char *tag,
    const struct index_tag *t)
{
	struct index_rec	 rec;
	struct index_enc	 e;

	if (index_tag_rec(ix, &rec, __func__, repo, tag) == -1 ||
	    index_encode(&e, &index_tag_layout, t) == -1)
		return (-1);
	return (index_store(ix, "put tag", &rec, &e));
}

/* Same digest, media type, time and origin. */
static int
index_tag_same(const struct index_tag *a, const struct index_tag *b)
{
	return (digest_equal(&a->it_digest, &b->it_digest) &&
	    a->it_fetched_at == b->it_fetched_at &&
	    strcmp(a->it_media_type, b->it_media_type) == 0 &&
	    strcmp(a->it_upstream, b->it_upstream) == 0);
}

static int
index_tag_cas_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	struct index_tag_cas	*tc = arg;
	struct index_tag	 cur;
	int			 ret, same;

	tc->tc_changed = 0;
	ret = index_get(ix, txn, &index_tag_layout, &tc->tc_rec.rec_key,
	    DB_RMW, &cur);
	if (ret == DB_NOTFOUND)
		same = tc->tc_expect == NULL;
	else if (ret != 0)
		return (ret);
	else
		same = tc->tc_expect != NULL &&
		    index_tag_same(&cur, tc->tc_expect);
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
	if (index_tag_rec(ix, &tc.tc_rec, __func__, repo, tag) == -1 ||
	    index_encode(&e, &index_tag_layout, t) == -1)
		return (-1);
	tc.tc_rec.rec_data = e.enc_data;
	tc.tc_rec.rec_size = e.enc_len;
	tc.tc_expect = expect;
	ret = index_txn_run(ix, "put tag if unchanged",
	    t->it_upstream[0] != '\0' ? INDEX_TXN_CACHED : 0,
	    index_tag_cas_txn, &tc);
	index_enc_free(&e);
	if (ret != 0)
		return (-1);
	return (tc.tc_changed ? 0 : 1);
}

int
index_tag_delete(struct index *ix, const char *repo, const char *tag)
{
	struct index_rec	 rec;

	if (index_tag_rec(ix, &rec, __func__, repo, tag) == -1)
		return (-1);
	return (index_remove(ix, "delete tag", &rec));
}

/*
 * The tags of repo after last (see index_scan_after), at most n. Caller
 * frees *tags (NULL when none).
 */
int
index_tag_list(struct index *ix, const char *repo, const char *last,
    size_t n, char ***tags, size_t *count)
{
	struct index_scan	 sc;

	if (index_scan_init(&sc, ix, __func__, INDEX_DB_TAGS, DEPOT_TAG_MAX,
	    tags, count) == -1 ||
	    !index_str_ok(__func__, "repository", repo, DEPOT_REPO_MAX))
		return (-1);
	sc.sc_max = n;
	if (index_key_make(&sc.sc_from, repo, "", NULL) == -1)
		return (-1);
	sc.sc_prefix = sc.sc_from.key_len;
	if (index_scan_after(&sc, repo, last, DEPOT_TAG_MAX) == -1)
		return (-1);
	return (index_scan_run(ix, "list tags", &sc, tags, count));
}
