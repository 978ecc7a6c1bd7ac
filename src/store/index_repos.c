/*
 * index_repos.c: repos.db, the repositories of the catalog.
 *
 * Key schema (repos.db):
 *   key    repo
 *   value  (empty)
 * A secondary index of links.db: a repo is present while it has a link;
 * added by every link write (index_repo_add), removed with the repo's
 * last link (index_repo_prune), always in the link's transaction.
 */
#include <sys/types.h>

#include <db.h>
#include <errno.h>
#include <string.h>

#include "store/index_impl.h"
#include "lib/log.h"

/* List repo in the catalog when it is not listed yet. */
int
index_repo_add(struct index *ix, DB_TXN *txn, const char *repo)
{
	DB			*repos = ix->ix_db[INDEX_DB_REPOS];
	struct index_key	 rkey;
	DBT			 key, data;
	int			 ret;

	if (index_key_make(&rkey, repo, NULL, NULL) == -1)
		return (EINVAL);
	index_dbt(&key, rkey.key_buf, rkey.key_len);
	index_dbt(&data, NULL, 0);
	ret = repos->put(repos, txn, &key, &data, DB_NOOVERWRITE);
	return (ret == DB_KEYEXIST ? 0 : ret);
}

/* Drop repo from the repository list when it has no link left. */
int
index_repo_prune(struct index *ix, DB_TXN *txn, const char *repo)
{
	DB			*links = ix->ix_db[INDEX_DB_LINKS];
	struct index_key	 prefix, rkey;
	DBC			*dbc;
	DBT			 key, data;
	int			 ret, t_ret, found;

	if (index_key_make(&prefix, repo, "", NULL) == -1 ||
	    index_key_make(&rkey, repo, NULL, NULL) == -1)
		return (EINVAL);
	if ((ret = links->cursor(links, txn, &dbc, 0)) != 0)
		return (ret);
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = prefix.key_buf;
	key.size = (u_int32_t)prefix.key_len;
	data.flags = DB_DBT_PARTIAL;	/* dlen 0: the key is enough */
	ret = dbc->get(dbc, &key, &data, DB_SET_RANGE);
	found = ret == 0 && index_has_prefix(&key, &prefix, prefix.key_len);
	if ((t_ret = dbc->close(dbc)) != 0 && (ret == 0 || ret == DB_NOTFOUND))
		ret = t_ret;
	if (ret != 0 && ret != DB_NOTFOUND)
		return (ret);
	if (found)
		return (0);
	ret = index_del(ix, txn, INDEX_DB_REPOS, &rkey);
	return (ret == DB_NOTFOUND ? 0 : ret);
}

/*
 * The repositories after last (see index_scan_after), at most n. Caller
 * frees *repos (NULL when none).
 */
int
index_repo_list(struct index *ix, const char *last, size_t n, char ***repos,
    size_t *count)
{
	struct index_scan	 sc;

	if (index_scan_init(&sc, ix, __func__, INDEX_DB_REPOS, DEPOT_REPO_MAX,
	    repos, count) == -1 ||
	    index_scan_after(&sc, NULL, last, DEPOT_REPO_MAX) == -1)
		return (-1);
	sc.sc_max = n;
	return (index_scan_run(ix, "list repositories", &sc, repos, count));
}
