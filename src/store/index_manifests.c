/*
 * index_manifests.c: manifests.db, what the index knows of each manifest,
 * and the transactions that record a manifest in a repository and remove
 * it from one, across tags, links, repos and referrers.
 *
 * Key schema (manifests.db):
 *   key    digest ("alg:hex"), global: shared by every repository
 *   value  str media type, int64 size, str artifact type, u8 has subject,
 *          [str subject digest], u8 has annotations, [str annotations
 *          (a JSON object)]
 * Secondary index: referrers.db (index_referrers.c), per repository, for
 * the manifests that have a subject. A record stays when a repository
 * unlinks the manifest (others may link it).
 */
#include <sys/types.h>

#include <db.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/index_impl.h"
#include "lib/log.h"

struct index_commit {
	struct index_link	 cm_link;
	struct index_key	 cm_key;	/* of the manifest record */
	struct index_key	 cm_tag;	/* key_len 0: no tag */
	struct index_key	 cm_referrer;	/* key_len 0: no subject */
	struct index_enc	 cm_manifest;
	struct index_enc	 cm_tag_value;
	const struct manifest_ref *cm_refs;	/* to re-read and touch */
	size_t			 cm_nrefs;
	size_t			 cm_missing;	/* the first one not linked */
	int			 cm_missed;
};

static void	index_manifest_fields(struct index_code *, void *);
static int	index_commit_refs(struct index *, DB_TXN *,
		    struct index_commit *);
static int	index_commit_txn(struct index *, DB_TXN *, void *);
static int	index_unlink_txn(struct index *, DB_TXN *, void *);

/* The value of manifests.db, field by field (see index_code_*). */
static void
index_manifest_fields(struct index_code *c, void *value)
{
	struct index_manifest	*m = value;

	index_code_str(c, m->im_media_type, sizeof(m->im_media_type));
	index_code_size(c, &m->im_size);
	index_code_str(c, m->im_artifact_type, sizeof(m->im_artifact_type));
	if (index_code_flag(c, &m->im_has_subject))
		index_code_digest(c, &m->im_subject);
	index_code_text(c, &m->im_annotations);
}

const struct index_layout index_manifest_layout = {
	INDEX_DB_MANIFESTS, sizeof(struct index_manifest),
	index_manifest_fields
};

/* The key of the record of d. 0 or -1 (logged for func). */
int
index_manifest_key(struct index_key *k, const char *func,
    const struct digest *d)
{
	char	 buf[DIGEST_STRING_MAX];

	if (index_digest_fmt(func, d, buf) == -1)
		return (-1);
	return (index_key_make(k, buf, NULL, NULL));
}

/*
 * Re-read (with locks) and touch the link in the manifest's repository
 * of each reference, which becomes pushed content (no upstream);
 * DB_NOTFOUND (cm_missed) when one is not linked.
 */
static int
index_commit_refs(struct index *ix, DB_TXN *txn, struct index_commit *cm)
{
	const struct manifest_ref	*ref;
	struct index_link		 ln;
	struct index_link_info		 li;
	size_t				 i;
	int				 ret;

	cm->cm_missed = 0;
	for (i = 0; i < cm->cm_nrefs; i++) {
		ref = &cm->cm_refs[i];
		if (index_link_init(ix, &ln, __func__, cm->cm_link.ln_repo,
		    &ref->mr_digest) == -1)
			return (EINVAL);
		ret = index_link_read_info(ix, txn, &ln.ln_key, DB_RMW, &li);
		if (ret == 0 && ref->mr_is_manifest &&
		    li.ili_kind != INDEX_LINK_MANIFEST)
			ret = DB_NOTFOUND;
		if (ret == DB_NOTFOUND) {
			cm->cm_missed = 1;
			cm->cm_missing = i;
		}
		if (ret != 0)
			return (ret);
		/*
		 * Only a push passes references: what a pushed manifest
		 * references is pushed content from now on, even if a fill
		 * linked it, so the cache's eviction never takes it.
		 */
		ln.ln_kind = (unsigned char)li.ili_kind;
		memset(ln.ln_upstream, 0, sizeof(ln.ln_upstream));
		if ((ret = index_link_write(ix, txn, &ln)) != 0)
			return (ret);
	}
	return (0);
}

static int
index_commit_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	struct index_commit	*cm = arg;
	int			 ret;

	if ((ret = index_commit_refs(ix, txn, cm)) != 0)
		return (ret);
	if ((ret = index_put(ix, txn, INDEX_DB_MANIFESTS, &cm->cm_key,
	    cm->cm_manifest.enc_data, cm->cm_manifest.enc_len)) != 0 ||
	    (ret = index_link_write(ix, txn, &cm->cm_link)) != 0)
		return (ret);
	if (cm->cm_tag.key_len > 0 &&
	    (ret = index_put(ix, txn, INDEX_DB_TAGS, &cm->cm_tag,
	    cm->cm_tag_value.enc_data, cm->cm_tag_value.enc_len)) != 0)
		return (ret);
	if (cm->cm_referrer.key_len > 0 &&
	    (ret = index_put(ix, txn, INDEX_DB_REFERRERS, &cm->cm_referrer,
	    NULL, 0)) != 0)
		return (ret);
	return (0);
}

/*
 * Unlink a manifest from its repository: DB_NOTFOUND when the repository
 * has no manifest link to it (a blob link is not one and stays).
 */
static int
index_unlink_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	struct index_link	*ln = arg;
	enum index_link_kind	 kind;
	int			 ret;

	if ((ret = index_link_read(ix, txn, &ln->ln_key, DB_RMW, &kind)) != 0)
		return (ret);
	if (kind != INDEX_LINK_MANIFEST)
		return (DB_NOTFOUND);
	if ((ret = index_link_erase(ix, txn, ln)) != 0 ||
	    (ret = index_untag(ix, txn, ln)) != 0 ||
	    (ret = index_subject_drop(ix, txn, ln)) != 0)
		return (ret);
	return (index_repo_prune(ix, txn, ln->ln_repo));
}

/* On 1, out->im_annotations (NULL when none) is freed by the caller. */
int
index_manifest_get(struct index *ix, const struct digest *d,
    struct index_manifest *out)
{
	struct index_rec	 rec;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	memset(&rec, 0, sizeof(rec));
	rec.rec_table = INDEX_DB_MANIFESTS;
	if (!index_ready(ix, __func__) ||
	    index_manifest_key(&rec.rec_key, __func__, d) == -1)
		return (-1);
	return (index_lookup(ix, "get manifest", &rec, &index_manifest_layout,
	    out));
}

void
index_manifest_clear(struct index_manifest *m)
{
	if (m != NULL)
		index_layout_clear(&index_manifest_layout, m);
}

/*
 * The tag, when given, points at d whatever t->it_digest says: t brings
 * the other fields.
 */
int
index_manifest_commit(struct index *ix, const char *repo,
    const struct digest *d, const struct index_manifest *m, const char *tag,
    const struct index_tag *t)
{
	return (index_manifest_commit_refs(ix, repo, d, m, tag, t, NULL, NULL,
	    0, NULL) == 1 ? 0 : -1);
}

int
index_manifest_commit_refs(struct index *ix, const char *repo,
    const struct digest *d, const struct index_manifest *m, const char *tag,
    const struct index_tag *t, const char *upstream,
    const struct manifest_ref *refs, size_t nrefs, size_t *missing)
{
	struct index_commit	 cm;
	struct index_rec	 tag_rec;
	struct index_tag	 tv;
	int			 ret, rv = -1;

	memset(&cm, 0, sizeof(cm));
	if (index_link_init(ix, &cm.cm_link, __func__, repo, d) == -1)
		return (-1);
	cm.cm_link.ln_kind = INDEX_LINK_MANIFEST;
	if (m == NULL || (tag != NULL && t == NULL) ||
	    (nrefs > 0 && refs == NULL) || (upstream != NULL &&
	    strlen(upstream) > DEPOT_NAME_MAX)) {
		log_warnx("%s: bad arguments", __func__);
		return (-1);
	}
	if (upstream != NULL)
		memcpy(cm.cm_link.ln_upstream, upstream, strlen(upstream));
	cm.cm_refs = refs;
	cm.cm_nrefs = nrefs;
	if (index_manifest_key(&cm.cm_key, __func__, d) == -1 ||
	    index_encode(&cm.cm_manifest, &index_manifest_layout, m) == -1)
		goto fail;
	if (tag != NULL) {
		tv = *t;
		tv.it_digest = *d;
		if (index_tag_rec(ix, &tag_rec, __func__, repo, tag) == -1 ||
		    index_encode(&cm.cm_tag_value, &index_tag_layout,
		    &tv) == -1)
			goto fail;
		cm.cm_tag = tag_rec.rec_key;
	}
	if (m->im_has_subject && index_referrer_key(&cm.cm_referrer, repo,
	    &m->im_subject, cm.cm_link.ln_digest_str) == -1)
		goto fail;
	ret = index_txn_run(ix, "commit manifest",
	    cm.cm_link.ln_upstream[0] != '\0' ? INDEX_TXN_CACHED : 0,
	    index_commit_txn, &cm);
	if (ret == 0)
		rv = 1;
	else if (ret == DB_NOTFOUND && cm.cm_missed) {
		if (missing != NULL)
			*missing = cm.cm_missing;
		rv = 0;
	}

fail:
	index_enc_free(&cm.cm_manifest);
	index_enc_free(&cm.cm_tag_value);
	return (rv);
}

int
index_manifest_unlink(struct index *ix, const char *repo,
    const struct digest *d)
{
	return (index_link_apply(ix, __func__, "unlink manifest", repo, d,
	    index_unlink_txn));
}
