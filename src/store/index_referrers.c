/*
 * index_referrers.c: referrers.db, the manifests of a repository that
 * name a subject (the referrers API).
 *
 * Key schema (referrers.db):
 *   key    repo NUL subject digest NUL manifest digest
 *   value  (empty)
 * A secondary index of manifests.db: written with the manifest's link
 * (index_manifest_commit), removed with it (index_manifest_unlink); the
 * referrers of a subject are the keys after repo NUL subject NUL.
 */
#include <sys/types.h>

#include <db.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/index_impl.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

/* The key repo NUL subject NUL manifest (a digest string). 0 or -1. */
int
index_referrer_key(struct index_key *k, const char *repo,
    const struct digest *subject, const char *manifest)
{
	char	 buf[DIGEST_STRING_MAX];

	digest_format(subject, buf, sizeof(buf));
	return (index_key_make(k, repo, buf, manifest));
}

/* Delete the referrer entry of the link's manifest, when it has a subject. */
int
index_subject_drop(struct index *ix, DB_TXN *txn, const struct index_link *ln)
{
	struct index_manifest	 m;
	struct index_key	 mkey, rkey;
	int			 ret;

	if (index_manifest_key(&mkey, __func__, ln->ln_digest) == -1)
		return (EINVAL);
	ret = index_get(ix, txn, &index_manifest_layout, &mkey, 0, &m);
	if (ret == DB_NOTFOUND)
		return (0);
	if (ret != 0)
		return (ret);
	if (m.im_has_subject) {
		if (index_referrer_key(&rkey, ln->ln_repo, &m.im_subject,
		    ln->ln_digest_str) == -1)
			ret = EINVAL;
		else if ((ret = index_del(ix, txn, INDEX_DB_REFERRERS,
		    &rkey)) == DB_NOTFOUND)
			ret = 0;
	}
	index_manifest_clear(&m);
	return (ret);
}

/* Caller frees *out (NULL when none). Garbled entries are skipped. */
int
index_referrer_list(struct index *ix, const char *repo,
    const struct digest *subject, struct digest **out, size_t *count)
{
	struct index_scan	 sc;
	char			 buf[DIGEST_STRING_MAX];
	char			**items;
	size_t			 n, i;

	if (out != NULL)
		*out = NULL;
	if (count != NULL)
		*count = 0;
	if (!index_ready(ix, __func__) ||
	    !index_str_ok(__func__, "repository", repo, DEPOT_REPO_MAX) ||
	    index_digest_fmt(__func__, subject, buf) == -1)
		return (-1);
	if (out == NULL || count == NULL) {
		log_warnx("%s: bad arguments", __func__);
		return (-1);
	}
	memset(&sc, 0, sizeof(sc));
	sc.sc_table = INDEX_DB_REFERRERS;
	sc.sc_rest_max = DIGEST_STRING_MAX - 1;
	if (index_key_make(&sc.sc_from, repo, buf, "") == -1)
		return (-1);
	sc.sc_prefix = sc.sc_from.key_len;
	if (index_scan_run(ix, "list referrers", &sc, &items, &n) == -1)
		return (-1);
	if (n > 0)
		*out = xreallocarray(NULL, n, sizeof(**out));
	for (i = 0; i < n; i++) {
		if (digest_parse(items[i], &(*out)[*count], NULL) == 0)
			(*count)++;
		else
			log_warnx("%s: %s: garbled key skipped", __func__,
			    index_files[INDEX_DB_REFERRERS]);
	}
	index_strings_free(items, n);
	if (*count == 0) {
		free(*out);
		*out = NULL;
	}
	return (0);
}
