/*
 * index_gc.c: what the garbage collection (gc.c) asks of the index: the
 * listings its mark reads (every tag, the repositories of the uploads,
 * the blobs of hosted charts), and the two short transactions of its
 * sweep, which re-check a candidate under locks before removing it
 * (index_link_expire, index_digest_release). No table of its own.
 *
 * Hosted charts are read from helm.db's rows (index_helm.c) by their
 * first fields alone: u8 version 1, str digest (hex), int64 size, str
 * prov digest (hex); a partial read of HELM_HEAD bytes holds them.
 */
#include <sys/types.h>

#include <db.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/index_impl.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

#define HELM_HEAD	(1 + 4 + 64 + 8 + 4 + 64)

/* A listing of every tag (index_tag_list_all). */
struct index_tag_walk {
	struct index_key	 tw_from;
	int			 tw_skip_first;
	size_t			 tw_max;
	struct index_tag_entry	*tw_out;
	size_t			 tw_count;
};

/* The blobs of hosted charts, or whether one is d (hb_want). */
struct index_helm_walk {
	const char		*hb_want;	/* hex, or NULL: list all */
	int			 hb_found;
	struct digest		*hb_out;
	size_t			 hb_count;
};

/* A candidate of the sweep. */
struct index_expire {
	struct index_link	 ex_link;
	int64_t			 ex_cutoff;
	int			 ex_removed;
};

static int	index_tag_all_one(DBC *, const DBT *, const DBT *, void *);
static int	index_tag_all_txn(struct index *, DB_TXN *, void *);
static int	index_helm_str(const unsigned char **, size_t *, char *);
static int	index_helm_one(struct index_helm_walk *, const DBT *,
		    const DBT *);
static int	index_helm_walk_txn(struct index *, DB_TXN *, void *);
static int	index_tag_points(DBC *, const DBT *, const DBT *, void *);
static int	index_expire_txn(struct index *, DB_TXN *, void *);
static int	index_release_txn(struct index *, DB_TXN *, void *);

static int
index_tag_all_one(DBC *dbc, const DBT *key, const DBT *data, void *arg)
{
	struct index_tag_walk	*tw = arg;
	struct index_tag_entry	*e;
	struct index_tag	 t;
	const char		*p = key->data, *nul;
	size_t			 rlen, tlen;

	(void)dbc;
	if (tw->tw_skip_first) {
		tw->tw_skip_first = 0;
		if (key->size == tw->tw_from.key_len &&
		    memcmp(key->data, tw->tw_from.key_buf, key->size) == 0)
			return (0);
	}
	if ((nul = memchr(p, '\0', key->size)) == NULL)
		goto bad;
	rlen = (size_t)(nul - p);
	tlen = key->size - rlen - 1;
	if (rlen == 0 || rlen > DEPOT_REPO_MAX || tlen == 0 ||
	    tlen > DEPOT_TAG_MAX || memchr(nul + 1, '\0', tlen) != NULL ||
	    index_decode(&index_tag_layout, data->data, data->size, &t) != 0)
		goto bad;
	tw->tw_out = xreallocarray(tw->tw_out, tw->tw_count + 1,
	    sizeof(*tw->tw_out));
	e = &tw->tw_out[tw->tw_count++];
	memset(e, 0, sizeof(*e));
	memcpy(e->ite_repo, p, rlen);
	memcpy(e->ite_tag, nul + 1, tlen);
	e->ite_digest = t.it_digest;
	if (tw->tw_max != 0 && tw->tw_count >= tw->tw_max)
		return (INDEX_WALK_STOP);
	return (0);

bad:
	log_warnx("%s: %s: garbled entry skipped", __func__,
	    index_files[INDEX_DB_TAGS]);
	return (0);
}

static int
index_tag_all_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	struct index_tag_walk	*tw = arg;

	free(tw->tw_out);
	tw->tw_out = NULL;
	tw->tw_count = 0;
	tw->tw_skip_first = tw->tw_from.key_len > 0;
	return (index_walk(ix, txn, INDEX_DB_TAGS, &tw->tw_from, NULL, 0, 0,
	    index_tag_all_one, tw));
}

int
index_tag_list_all(struct index *ix, const struct index_tag_entry *after,
    size_t n, struct index_tag_entry **out, size_t *count)
{
	struct index_tag_walk	 tw;

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
	memset(&tw, 0, sizeof(tw));
	tw.tw_max = n;
	if (after != NULL && index_key_make(&tw.tw_from, after->ite_repo,
	    after->ite_tag, NULL) == -1)
		return (-1);
	if (index_txn_run(ix, "list all tags", DB_TXN_SNAPSHOT,
	    index_tag_all_txn, &tw) != 0) {
		free(tw.tw_out);
		return (-1);
	}
	*out = tw.tw_out;
	*count = tw.tw_count;
	return (0);
}

int
index_upload_repos(struct index *ix, char ***repos, size_t *count)
{
	struct index_scan	 sc;
	char			**ids = NULL;
	struct index_upload	 u;
	size_t			 n = 0, i;

	/* Every upload "expired" before the end of time is every upload. */
	if (index_upload_expired(ix, INT64_MAX, 0, &ids, &n) == -1)
		return (-1);
	if (index_scan_init(&sc, ix, __func__, INDEX_DB_UPLOADS,
	    DEPOT_REPO_MAX, repos, count) == -1) {
		index_strings_free(ids, n);
		return (-1);
	}
	for (i = 0; i < n; i++) {
		if (index_upload_get(ix, ids[i], &u) != 1)
			continue;	/* finished meanwhile */
		*repos = xreallocarray(*repos, *count + 1, sizeof(**repos));
		(*repos)[(*count)++] = xstrdup(u.iu_repo);
	}
	index_strings_free(ids, n);
	return (0);
}

/* A str field of hex digits (64, or none) into buf (65 bytes). */
static int
index_helm_str(const unsigned char **p, size_t *left, char *buf)
{
	size_t	 n;

	if (*left < 4)
		return (-1);
	n = ((size_t)(*p)[0] << 24) | ((size_t)(*p)[1] << 16) |
	    ((size_t)(*p)[2] << 8) | (*p)[3];
	if (n > 64 || n > *left - 4)
		return (-1);
	memcpy(buf, *p + 4, n);
	buf[n] = '\0';
	*p += 4 + n;
	*left -= 4 + n;
	return (0);
}

/* A chart row: note its blobs, or whether one is hb_want. */
static int
index_helm_one(struct index_helm_walk *hb, const DBT *key, const DBT *data)
{
	const unsigned char	*p = data->data;
	size_t			 left = data->size, i;
	char			 hex[2][65];
	struct digest		 d;

	if (memchr(key->data, '\0', key->size) == NULL)
		return (0);	/* a generation row */
	if (left < 1 || *p != 1)
		goto bad;
	p++;
	left--;
	if (index_helm_str(&p, &left, hex[0]) == -1 || left < 8)
		goto bad;
	p += 8;
	left -= 8;
	if (index_helm_str(&p, &left, hex[1]) == -1)
		goto bad;
	for (i = 0; i < 2; i++) {
		if (hex[i][0] == '\0')
			continue;
		if (hb->hb_want != NULL) {
			if (strcmp(hex[i], hb->hb_want) == 0) {
				hb->hb_found = 1;
				return (INDEX_WALK_STOP);
			}
			continue;
		}
		d.alg = DIGEST_SHA256;
		memcpy(d.hex, hex[i], sizeof(hex[i]));
		hb->hb_out = xreallocarray(hb->hb_out, hb->hb_count + 1,
		    sizeof(*hb->hb_out));
		hb->hb_out[hb->hb_count++] = d;
	}
	return (0);

bad:
	log_warnx("%s: %s: garbled entry skipped", __func__,
	    index_files[INDEX_DB_HELM]);
	return (0);
}

/* Walk helm.db reading the head of each value (with txn's locks). */
static int
index_helm_walk_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	struct index_helm_walk	*hb = arg;
	DB			*db = ix->ix_db[INDEX_DB_HELM];
	DBC			*dbc;
	DBT			 key, data;
	int			 ret, t_ret;

	free(hb->hb_out);
	hb->hb_out = NULL;
	hb->hb_count = 0;
	hb->hb_found = 0;
	if ((ret = db->cursor(db, txn, &dbc, 0)) != 0)
		return (ret);
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	data.flags = DB_DBT_PARTIAL;
	data.doff = 0;
	data.dlen = HELM_HEAD;
	while ((ret = dbc->get(dbc, &key, &data, DB_NEXT)) == 0)
		if ((ret = index_helm_one(hb, &key, &data)) != 0)
			break;
	if (ret == DB_NOTFOUND || ret == INDEX_WALK_STOP)
		ret = 0;
	if ((t_ret = dbc->close(dbc)) != 0 && ret == 0)
		ret = t_ret;
	return (ret);
}

int
index_helm_blobs(struct index *ix, struct digest **out, size_t *count)
{
	struct index_helm_walk	 hb;

	*out = NULL;
	*count = 0;
	if (!index_ready(ix, __func__))
		return (-1);
	memset(&hb, 0, sizeof(hb));
	if (index_txn_run(ix, "list chart blobs", DB_TXN_SNAPSHOT,
	    index_helm_walk_txn, &hb) != 0) {
		free(hb.hb_out);
		return (-1);
	}
	*out = hb.hb_out;
	*count = hb.hb_count;
	return (0);
}

/* Does the tag at the cursor point at the link's digest? Stop if so. */
static int
index_tag_points(DBC *dbc, const DBT *key, const DBT *data, void *arg)
{
	struct index_expire	*ex = arg;
	struct index_tag	 t;

	(void)dbc;
	(void)key;
	if (index_decode(&index_tag_layout, data->data, data->size, &t) != 0)
		return (0);
	if (digest_equal(&t.it_digest, ex->ex_link.ln_digest)) {
		ex->ex_removed = 0;
		return (INDEX_WALK_STOP);
	}
	return (0);
}

static int
index_expire_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	struct index_expire	*ex = arg;
	struct index_link	*ln = &ex->ex_link;
	struct index_link_info	 li;
	struct index_key	 prefix;
	int			 ret;

	ex->ex_removed = 0;
	if ((ret = index_link_read_info(ix, txn, &ln->ln_key, DB_RMW,
	    &li)) != 0)
		return (ret);
	if (li.ili_touched > ex->ex_cutoff)
		return (0);
	if (li.ili_kind == INDEX_LINK_MANIFEST) {
		if (index_key_make(&prefix, ln->ln_repo, "", NULL) == -1)
			return (EINVAL);
		ex->ex_removed = 1;
		if ((ret = index_walk(ix, txn, INDEX_DB_TAGS, &prefix,
		    &prefix, prefix.key_len, 0, index_tag_points, ex)) != 0)
			return (ret);
		if (!ex->ex_removed)
			return (0);	/* tagged meanwhile */
		if ((ret = index_subject_drop(ix, txn, ln)) != 0)
			return (ret);
	}
	if ((ret = index_link_erase(ix, txn, ln)) != 0 ||
	    (ret = index_repo_prune(ix, txn, ln->ln_repo)) != 0)
		return (ret);
	ex->ex_removed = 1;
	return (0);
}

int
index_link_expire(struct index *ix, const char *repo, const struct digest *d,
    int64_t cutoff)
{
	struct index_expire	 ex;
	int			 ret;

	memset(&ex, 0, sizeof(ex));
	if (index_link_init(ix, &ex.ex_link, __func__, repo, d) == -1)
		return (-1);
	ex.ex_cutoff = cutoff;
	ret = index_txn_run(ix, "expire link", 0, index_expire_txn, &ex);
	if (ret == DB_NOTFOUND)
		return (0);
	if (ret != 0)
		return (-1);
	return (ex.ex_removed);
}

/*
 * No link, no chart: drop the manifest record. DB_NOTFOUND (quiet) when
 * the digest is held.
 */
static int
index_release_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	const struct digest	*d = arg;
	struct index_helm_walk	 hb;
	struct index_key	 mkey;
	char			 ds[DIGEST_STRING_MAX];
	int			 ret;

	digest_format(d, ds, sizeof(ds));
	if ((ret = index_digest_held(ix, txn, ds)) == 0)
		return (DB_NOTFOUND);
	if (ret != DB_NOTFOUND)
		return (ret);
	if (d->alg == DIGEST_SHA256) {
		memset(&hb, 0, sizeof(hb));
		hb.hb_want = d->hex;
		if ((ret = index_helm_walk_txn(ix, txn, &hb)) != 0)
			return (ret);
		if (hb.hb_found)
			return (DB_NOTFOUND);
	}
	if (index_manifest_key(&mkey, __func__, d) == -1)
		return (EINVAL);
	ret = index_del(ix, txn, INDEX_DB_MANIFESTS, &mkey);
	return (ret == DB_NOTFOUND ? 0 : ret);
}

int
index_digest_release(struct index *ix, const struct digest *d)
{
	char	 ds[DIGEST_STRING_MAX];
	int	 ret;

	if (!index_ready(ix, __func__) ||
	    index_digest_fmt(__func__, d, ds) == -1)
		return (-1);
	ret = index_txn_run(ix, "release digest", 0, index_release_txn,
	    (void *)d);
	return (index_found(ret));
}
