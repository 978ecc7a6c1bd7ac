/*
 * index_fsck.c: the index as the store's checker (fsck.c) sees it: every
 * entry of a table in short snapshot batches, decoded by the table's own
 * layout; the removal of one broken entry under a write lock, only while
 * it is still the entry that was read and still broken; and the
 * verification of the databases on a hot backup.
 *
 * Verifying a live environment (Berkeley DB 5.3)
 * ----------------------------------------------
 * DB->verify and db_verify take no locks and read the database file
 * directly: on files that a running depotd changes they may read
 * half-written pages, or pages whose current version is only in the
 * shared cache, so Berkeley DB allows them only on files nobody modifies.
 * The checker therefore never verifies the live files. It checkpoints
 * (DB_ENV->txn_checkpoint: the cache's dirty pages go to the files, as
 * the master's timer does anyway), then takes a hot backup with
 * DB_ENV->backup, the way db_hotbackup does in 5.3: each page is read
 * through the shared cache under its short latch, without transaction
 * locks, and the log files are copied after the pages (log removal waits
 * meanwhile, DB_HOTBACKUP_IN_PROGRESS). Normal recovery of the copy, in a
 * private environment, replays what changed during the copy and so
 * brings every page to one consistent point, and DB->verify runs on the
 * copied files. Replaying only what came after the checkpoint (not the
 * whole log, as catastrophic recovery would) leaves damage on disk in
 * place for the verification to find. Pushes and pulls go on during the
 * backup; the copy is removed after.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <db.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/index_fsck.h"
#include "store/index_helm.h"
#include "store/index_impl.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/xmalloc.h"

#ifndef PATH_MAX
#define PATH_MAX	4096
#endif

#define INDEX_FSCK_VERIFY_FLAGS	(DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK | \
	DB_INIT_LOG | DB_INIT_MPOOL | DB_PRIVATE | DB_RECOVER)

/* A batch being read. */
struct index_fsck_batch {
	enum index_fsck_table	 fb_table;
	struct index_fsck_pos	*fb_pos;
	struct index_fsck_pos	 fb_start;	/* where each try starts */
	DB_TXN			*fb_txn;
	struct index		*fb_index;
	size_t			 fb_max;
	struct index_entry	*fb_out;
	size_t			 fb_count;
	size_t			 fb_size;
};

/* A removal. */
struct index_fsck_rm {
	const struct index_entry *rm_entry;
	index_fsck_still_fn	 rm_still;
	void			*rm_arg;
	int			 rm_done;	/* 1: removed, written, same */
};

/* The verification of one file; its messages go to vf_report. */
struct index_fsck_vf {
	char		 vf_first[512];	/* Berkeley DB's first message */
	int		 vf_messages;
	void		(*vf_report)(void *, const char *, const char *);
	void		*vf_arg;
	int		 vf_problems;
};

static struct index_fsck_vf *index_fsck_vf_now;

static enum index_table index_fsck_db(enum index_fsck_table);
static int	index_fsck_parts(const unsigned char *, size_t, char **, int);
static int	index_fsck_digest(const char *, struct digest *);
static int	index_fsck_copy(char *, size_t, const char *);
static int	index_fsck_helm_str(const unsigned char **, size_t *, char *);
static void	index_fsck_decode(struct index_fsck_batch *,
		    struct index_entry *);
static int	index_fsck_helm(struct index_entry *);
static int	index_fsck_exists(struct index_fsck_batch *, enum index_table,
		    const struct index_key *);
static int	index_fsck_reindex_txn(struct index *, DB_TXN *, void *);
static int	index_fsck_mate(struct index *, DB_TXN *,
		    const struct index_entry *);
static int	index_fsck_current_txn(struct index *, DB_TXN *, void *);
static int	index_fsck_linked_txn(struct index *, DB_TXN *, void *);
static int	index_fsck_keep(DBC *, const DBT *, const DBT *, void *);
static int	index_fsck_batch_txn(struct index *, DB_TXN *, void *);
static int	index_fsck_rm_txn(struct index *, DB_TXN *, void *);
static int	index_fsck_add_txn(struct index *, DB_TXN *, void *);
static void	index_fsck_errcall(const DB_ENV *, const char *,
		    const char *);
static int	index_fsck_verify_file(const char *, const char *,
		    struct index_fsck_vf *);
static void	index_fsck_rmdir(const char *);

static enum index_table
index_fsck_db(enum index_fsck_table t)
{
	switch (t) {
	case INDEX_FSCK_LINKS:
		return (INDEX_DB_LINKS);
	case INDEX_FSCK_TAGS:
		return (INDEX_DB_TAGS);
	case INDEX_FSCK_MANIFESTS:
		return (INDEX_DB_MANIFESTS);
	case INDEX_FSCK_REFERRERS:
		return (INDEX_DB_REFERRERS);
	case INDEX_FSCK_REPOS:
		return (INDEX_DB_REPOS);
	case INDEX_FSCK_UPLOADS:
		return (INDEX_DB_UPLOADS);
	case INDEX_FSCK_DIGESTS:
		return (INDEX_DB_DIGESTS);
	case INDEX_FSCK_HELM:
		break;
	}
	return (INDEX_DB_HELM);
}

/*
 * Split a key into n NUL-separated parts, each a C string (the key is
 * copied into the entry with a NUL after it). 0 when there are exactly n
 * non-empty parts, else -1.
 */
static int
index_fsck_parts(const unsigned char *key, size_t len, char **parts, int n)
{
	const unsigned char	*p = key, *end = key + len, *nul;
	int			 i;

	for (i = 0; i < n; i++) {
		nul = memchr(p, '\0', (size_t)(end - p));
		if ((nul == NULL) != (i == n - 1))
			return (-1);
		if (nul == NULL)
			nul = end;
		if (nul == p)
			return (-1);
		parts[i] = (char *)p;
		p = nul + 1;
	}
	return (0);
}

static int
index_fsck_digest(const char *s, struct digest *d)
{
	return (digest_parse(s, d, NULL));
}

/* Copy a part of at most size - 1 bytes; -1 when longer. */
static int
index_fsck_copy(char *dst, size_t size, const char *src)
{
	size_t	 n = strlen(src);

	if (n >= size)
		return (-1);
	memcpy(dst, src, n + 1);
	return (0);
}

/* A str field of a helm.db value: uint32 count, then hex; -1 when bad. */
static int
index_fsck_helm_str(const unsigned char **p, size_t *left, char *hex)
{
	size_t	 n;

	if (*left < 4)
		return (-1);
	n = ((size_t)(*p)[0] << 24) | ((size_t)(*p)[1] << 16) |
	    ((size_t)(*p)[2] << 8) | (*p)[3];
	*p += 4;
	*left -= 4;
	if (n > INDEX_HELM_HEX || n > *left)
		return (-1);
	memcpy(hex, *p, n);
	hex[n] = '\0';
	*p += n;
	*left -= n;
	return (0);
}

/*
 * helm.db rows: registry NUL name NUL version -> u8 1, str digest (hex),
 * int64 size, str prov (hex, "" when none), ... (see index_helm.c); only
 * the fields the checker needs are read. 1 a chart row, 0 the registry's
 * generation row (no NUL in its key), -1 garbled.
 */
static int
index_fsck_helm(struct index_entry *e)
{
	const unsigned char	*p = e->ie_value;
	size_t			 left = e->ie_valuelen;
	char			*parts[3], tgz[INDEX_HELM_HEX + 1];
	char			 prov[INDEX_HELM_HEX + 1], s[DIGEST_STRING_MAX];

	if (memchr(e->ie_key, '\0', e->ie_keylen) == NULL)
		return (0);
	if (index_fsck_parts(e->ie_key, e->ie_keylen, parts, 3) == -1 ||
	    index_fsck_copy(e->ie_repo, sizeof(e->ie_repo), parts[0]) == -1 ||
	    index_fsck_copy(e->ie_name, sizeof(e->ie_name), parts[1]) == -1 ||
	    index_fsck_copy(e->ie_version, sizeof(e->ie_version),
	    parts[2]) == -1)
		return (-1);
	if (left < 1 || *p != 1)
		return (-1);
	p++;
	left--;
	if (index_fsck_helm_str(&p, &left, tgz) == -1 || left < 8)
		return (-1);
	p += 8;
	left -= 8;
	if (index_fsck_helm_str(&p, &left, prov) == -1)
		return (-1);
	(void)snprintf(s, sizeof(s), "sha256:%s", tgz);
	if (index_fsck_digest(s, &e->ie_digest) == -1)
		return (-1);
	if (prov[0] != '\0') {
		(void)snprintf(s, sizeof(s), "sha256:%s", prov);
		if (index_fsck_digest(s, &e->ie_subject) == -1)
			return (-1);
		e->ie_has_subject = 1;
	}
	return (1);
}

/* Is key in table (in the batch's snapshot)? 0 or DB_NOTFOUND (or error). */
static int
index_fsck_exists(struct index_fsck_batch *fb, enum index_table table,
    const struct index_key *k)
{
	DB	*db = fb->fb_index->ix_db[table];
	DBT	 key, data;

	index_dbt(&key, (void *)k->key_buf, k->key_len);
	memset(&data, 0, sizeof(data));
	data.flags = DB_DBT_PARTIAL;	/* dlen 0: the key is enough */
	return (db->get(db, fb->fb_txn, &key, &data, 0));
}

/* Decode the entry whose key and value were copied in; sets ie_garbled. */
static void
index_fsck_decode(struct index_fsck_batch *fb, struct index_entry *e)
{
	struct index_tag	 t;
	struct index_manifest	 m;
	struct index_upload	 u;
	struct index_link_info	 li;
	struct index_key	 k;
	char			*parts[3];
	int			 bad = 1;

	switch (e->ie_table) {
	case INDEX_FSCK_LINKS:
		if (index_fsck_parts(e->ie_key, e->ie_keylen, parts, 2) == -1 ||
		    index_fsck_copy(e->ie_repo, sizeof(e->ie_repo),
		    parts[0]) == -1 ||
		    index_fsck_digest(parts[1], &e->ie_digest) == -1 ||
		    index_link_decode(e->ie_value, e->ie_valuelen, &li) != 0)
			break;
		e->ie_kind = (int)li.ili_kind;
		e->ie_time = li.ili_touched;
		(void)snprintf(e->ie_upstream, sizeof(e->ie_upstream), "%s",
		    li.ili_upstream);
		/* its reverse entry, in the same snapshot */
		if (index_key_make(&k, parts[1], parts[0], NULL) == -1)
			break;
		e->ie_unmatched = index_fsck_exists(fb, INDEX_DB_DIGESTS,
		    &k) == DB_NOTFOUND;
		bad = 0;
		break;
	case INDEX_FSCK_DIGESTS:
		if (index_fsck_parts(e->ie_key, e->ie_keylen, parts, 2) == -1 ||
		    index_fsck_digest(parts[0], &e->ie_digest) == -1 ||
		    index_fsck_copy(e->ie_repo, sizeof(e->ie_repo),
		    parts[1]) == -1 ||
		    index_key_make(&k, parts[1], parts[0], NULL) == -1)
			break;
		e->ie_unmatched = index_fsck_exists(fb, INDEX_DB_LINKS,
		    &k) == DB_NOTFOUND;
		bad = 0;
		break;
	case INDEX_FSCK_TAGS:
		if (index_fsck_parts(e->ie_key, e->ie_keylen, parts, 2) == -1 ||
		    index_fsck_copy(e->ie_repo, sizeof(e->ie_repo),
		    parts[0]) == -1 ||
		    index_fsck_copy(e->ie_name, sizeof(e->ie_name),
		    parts[1]) == -1 ||
		    index_decode(&index_tag_layout, e->ie_value,
		    e->ie_valuelen, &t) != 0)
			break;
		e->ie_digest = t.it_digest;
		e->ie_time = t.it_fetched_at;
		(void)snprintf(e->ie_upstream, sizeof(e->ie_upstream), "%s",
		    t.it_upstream);
		bad = 0;
		break;
	case INDEX_FSCK_MANIFESTS:
		if (index_fsck_parts(e->ie_key, e->ie_keylen, parts, 1) == -1 ||
		    index_fsck_digest(parts[0], &e->ie_digest) == -1 ||
		    index_decode(&index_manifest_layout, e->ie_value,
		    e->ie_valuelen, &m) != 0)
			break;
		e->ie_has_subject = m.im_has_subject;
		if (m.im_has_subject)
			e->ie_subject = m.im_subject;
		index_manifest_clear(&m);
		bad = 0;
		break;
	case INDEX_FSCK_REFERRERS:
		if (index_fsck_parts(e->ie_key, e->ie_keylen, parts, 3) == -1 ||
		    index_fsck_copy(e->ie_repo, sizeof(e->ie_repo),
		    parts[0]) == -1 ||
		    index_fsck_digest(parts[1], &e->ie_subject) == -1 ||
		    index_fsck_digest(parts[2], &e->ie_digest) == -1)
			break;
		e->ie_has_subject = 1;
		bad = 0;
		break;
	case INDEX_FSCK_REPOS:
		if (index_fsck_parts(e->ie_key, e->ie_keylen, parts, 1) == -1 ||
		    index_fsck_copy(e->ie_repo, sizeof(e->ie_repo),
		    parts[0]) == -1)
			break;
		bad = 0;
		break;
	case INDEX_FSCK_UPLOADS:
		if (index_fsck_parts(e->ie_key, e->ie_keylen, parts, 1) == -1 ||
		    index_fsck_copy(e->ie_name, sizeof(e->ie_name),
		    parts[0]) == -1 ||
		    index_decode(&index_upload_layout, e->ie_value,
		    e->ie_valuelen, &u) != 0)
			break;
		(void)snprintf(e->ie_repo, sizeof(e->ie_repo), "%s",
		    u.iu_repo);
		e->ie_time = u.iu_updated;
		bad = 0;
		break;
	case INDEX_FSCK_HELM:
		bad = index_fsck_helm(e) == -1;
		break;
	}
	e->ie_garbled = bad;
}

/* Copy and decode one entry; stop after fb_max, remembering the key. */
static int
index_fsck_keep(DBC *dbc, const DBT *key, const DBT *data, void *arg)
{
	struct index_fsck_batch	*fb = arg;
	struct index_fsck_pos	*pos = fb->fb_pos;
	struct index_entry	*e;

	(void)dbc;
	if (key->size >= sizeof(pos->fp_key))
		return (EINVAL);	/* longer than any key written */
	if (pos->fp_started && key->size == pos->fp_keylen &&
	    memcmp(key->data, pos->fp_key, key->size) == 0)
		return (0);	/* the last of the previous batch */
	if (fb->fb_count == fb->fb_max)
		return (INDEX_WALK_STOP);
	if (fb->fb_count == fb->fb_size) {
		fb->fb_size = fb->fb_size == 0 ? 64 : fb->fb_size * 2;
		fb->fb_out = xreallocarray(fb->fb_out, fb->fb_size,
		    sizeof(*fb->fb_out));
	}
	e = &fb->fb_out[fb->fb_count];
	memset(e, 0, sizeof(*e));
	e->ie_table = fb->fb_table;
	e->ie_keylen = key->size;	/* NUL after it: e was zeroed */
	memcpy(e->ie_key, key->data, e->ie_keylen);
	e->ie_value = xmalloc(data->size + 1);
	if (data->size > 0)	/* an empty value may have no data */
		memcpy(e->ie_value, data->data, data->size);
	e->ie_valuelen = data->size;
	fb->fb_count++;
	index_fsck_decode(fb, e);
	if (fb->fb_table == INDEX_FSCK_HELM && !e->ie_garbled &&
	    memchr(e->ie_key, '\0', e->ie_keylen) == NULL) {
		/* a registry's generation row: not an entry */
		free(e->ie_value);
		fb->fb_count--;
	}
	memcpy(pos->fp_key, key->data, e->ie_keylen);
	pos->fp_keylen = e->ie_keylen;
	return (0);
}

static int
index_fsck_batch_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	struct index_fsck_batch	*fb = arg;
	struct index_key	 from;

	index_entries_free(fb->fb_out, fb->fb_count);
	fb->fb_out = NULL;
	fb->fb_count = fb->fb_size = 0;
	fb->fb_txn = txn;
	*fb->fb_pos = fb->fb_start;
	memcpy(from.key_buf, fb->fb_pos->fp_key, fb->fb_pos->fp_keylen);
	from.key_len = fb->fb_pos->fp_keylen;
	return (index_walk(ix, txn, index_fsck_db(fb->fb_table), &from, NULL,
	    0, 0, index_fsck_keep, fb));
}

int
index_fsck_read(struct index *ix, enum index_fsck_table table,
    struct index_fsck_pos *pos, size_t max, struct index_entry **out,
    size_t *count)
{
	struct index_fsck_batch	 fb;
	struct index_fsck_pos	 start = *pos;

	*out = NULL;
	*count = 0;
	if (!index_ready(ix, __func__) || max == 0)
		return (-1);
	if (pos->fp_done)
		return (0);
	memset(&fb, 0, sizeof(fb));
	fb.fb_table = table;
	fb.fb_pos = pos;
	fb.fb_index = ix;
	fb.fb_max = max;
	for (;;) {
		fb.fb_start = start;
		if (index_txn_run(ix, "fsck read", DB_TXN_SNAPSHOT,
		    index_fsck_batch_txn, &fb) != 0) {
			index_entries_free(fb.fb_out, fb.fb_count);
			*pos = start;
			return (-1);
		}
		pos->fp_started = 1;
		/* only generation rows of helm.db in this batch: go on */
		if (fb.fb_count > 0 || (pos->fp_keylen == start.fp_keylen &&
		    memcmp(pos->fp_key, start.fp_key, pos->fp_keylen) == 0))
			break;
		start = *pos;
	}
	if (fb.fb_count == 0)
		pos->fp_done = 1;
	*out = fb.fb_out;
	*count = fb.fb_count;
	return (0);
}

const char *
index_fsck_file(enum index_fsck_table table)
{
	return (index_files[index_fsck_db(table)]);
}

void
index_entries_free(struct index_entry *v, size_t n)
{
	size_t	 i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		free(v[i].ie_value);
	free(v);
}

void
index_entry_name(const struct index_entry *e, char *buf, size_t len)
{
	size_t	 i, o = 0;
	int	 n;

	if (len == 0)
		return;
	for (i = 0; i < e->ie_keylen && o + 5 < len; i++) {
		if (e->ie_key[i] == '\0')
			n = snprintf(buf + o, len - o, "\\0");
		else if (e->ie_key[i] < 0x20 || e->ie_key[i] >= 0x7f ||
		    e->ie_key[i] == '\\')
			n = snprintf(buf + o, len - o, "\\x%02x", e->ie_key[i]);
		else
			n = snprintf(buf + o, len - o, "%c", e->ie_key[i]);
		if (n < 0 || (size_t)n >= len - o)
			break;
		o += (size_t)n;
	}
	buf[o] = '\0';
}

/* The other half of a link or reverse entry: 0 present, DB_NOTFOUND. */
static int
index_fsck_mate(struct index *ix, DB_TXN *txn, const struct index_entry *e)
{
	struct index_fsck_batch	 fb;
	struct index_key	 k;
	char			 ds[DIGEST_STRING_MAX];

	memset(&fb, 0, sizeof(fb));
	fb.fb_index = ix;
	fb.fb_txn = txn;
	digest_format(&e->ie_digest, ds, sizeof(ds));
	if (e->ie_table == INDEX_FSCK_LINKS) {
		if (index_key_make(&k, ds, e->ie_repo, NULL) == -1)
			return (EINVAL);
		return (index_fsck_exists(&fb, INDEX_DB_DIGESTS, &k));
	}
	if (index_key_make(&k, e->ie_repo, ds, NULL) == -1)
		return (EINVAL);
	return (index_fsck_exists(&fb, INDEX_DB_LINKS, &k));
}

static int
index_fsck_current_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	struct index_fsck_rm	*rm = arg;
	const struct index_entry *e = rm->rm_entry;
	DB			*db = ix->ix_db[index_fsck_db(e->ie_table)];
	DBT			 key, data;
	int			 ret, same;

	rm->rm_done = 0;
	index_dbt(&key, (void *)e->ie_key, e->ie_keylen);
	memset(&data, 0, sizeof(data));
	data.flags = DB_DBT_MALLOC;
	if ((ret = db->get(db, txn, &key, &data, 0)) == DB_NOTFOUND)
		return (0);
	if (ret != 0)
		return (ret);
	same = data.size == e->ie_valuelen && (data.size == 0 ||
	    memcmp(data.data, e->ie_value, data.size) == 0);
	free(data.data);
	if (!same)
		return (0);
	if (!e->ie_garbled && (e->ie_table == INDEX_FSCK_LINKS ||
	    e->ie_table == INDEX_FSCK_DIGESTS)) {
		ret = index_fsck_mate(ix, txn, e);
		if (ret != 0 && ret != DB_NOTFOUND)
			return (ret);
		if ((ret == DB_NOTFOUND) != (e->ie_unmatched != 0))
			return (0);
	}
	rm->rm_done = 1;
	return (0);
}

int
index_fsck_current(struct index *ix, const struct index_entry *e)
{
	struct index_fsck_rm	 rm;

	if (!index_ready(ix, __func__) || e->ie_keylen == 0)
		return (-1);
	memset(&rm, 0, sizeof(rm));
	rm.rm_entry = e;
	if (index_txn_run(ix, "fsck read again", DB_TXN_SNAPSHOT,
	    index_fsck_current_txn, &rm) != 0)
		return (-1);
	return (rm.rm_done);
}

static int
index_fsck_linked_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	struct index_fsck_rm	*rm = arg;
	DB			*links = ix->ix_db[INDEX_DB_LINKS];
	struct index_key	 prefix;
	DBC			*dbc;
	DBT			 key, data;
	int			 ret, t_ret;

	rm->rm_done = 0;
	if (index_key_make(&prefix, rm->rm_arg, "", NULL) == -1)
		return (EINVAL);
	if ((ret = links->cursor(links, txn, &dbc, 0)) != 0)
		return (ret);
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = prefix.key_buf;
	key.size = (u_int32_t)prefix.key_len;
	data.flags = DB_DBT_PARTIAL;	/* dlen 0: the key is enough */
	ret = dbc->get(dbc, &key, &data, DB_SET_RANGE);
	rm->rm_done = ret == 0 &&
	    index_has_prefix(&key, &prefix, prefix.key_len);
	if ((t_ret = dbc->close(dbc)) != 0 && (ret == 0 || ret == DB_NOTFOUND))
		ret = t_ret;
	return (ret == DB_NOTFOUND ? 0 : ret);
}

int
index_fsck_repo_linked(struct index *ix, const char *repo)
{
	struct index_fsck_rm	 rm;

	if (!index_ready(ix, __func__) ||
	    !index_str_ok(__func__, "repository", repo, DEPOT_REPO_MAX))
		return (-1);
	memset(&rm, 0, sizeof(rm));
	rm.rm_arg = (void *)repo;
	if (index_txn_run(ix, "fsck repository linked", DB_TXN_SNAPSHOT,
	    index_fsck_linked_txn, &rm) != 0)
		return (-1);
	return (rm.rm_done);
}

/*
 * Remove the entry while it is still the one read and still broken: its
 * value is read again under a write lock and compared byte for byte.
 */
static int
index_fsck_rm_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	struct index_fsck_rm	*rm = arg;
	const struct index_entry *e = rm->rm_entry;
	enum index_table	 t = index_fsck_db(e->ie_table);
	DB			*db = ix->ix_db[t];
	struct index_key	 k, lk;
	char			 ds[DIGEST_STRING_MAX];
	DBT			 key, lkey, data;
	int			 ret, same;

	rm->rm_done = 0;
	digest_format(&e->ie_digest, ds, sizeof(ds));
	memcpy(k.key_buf, e->ie_key, e->ie_keylen);
	k.key_len = e->ie_keylen;
	index_dbt(&key, k.key_buf, k.key_len);
	memset(&data, 0, sizeof(data));
	data.flags = DB_DBT_MALLOC;
	if ((ret = db->get(db, txn, &key, &data, DB_RMW)) == DB_NOTFOUND)
		return (0);
	if (ret != 0)
		return (ret);
	same = data.size == e->ie_valuelen && (data.size == 0 ||
	    memcmp(data.data, e->ie_value, data.size) == 0);
	free(data.data);
	if (!same || (rm->rm_still != NULL && !rm->rm_still(rm->rm_arg, e)))
		return (0);
	if (t == INDEX_DB_REPOS) {
		/* the row goes only when the repository has no link */
		if ((ret = index_repo_prune(ix, txn, e->ie_repo)) != 0)
			return (ret);
		memset(&data, 0, sizeof(data));
		data.flags = DB_DBT_MALLOC;
		ret = db->get(db, txn, &key, &data, 0);
		free(data.data);
		if (ret == DB_NOTFOUND)
			rm->rm_done = 1;
		return (ret == DB_NOTFOUND ? 0 : ret);
	}
	if (t == INDEX_DB_DIGESTS) {
		/* a reverse entry goes only while its link is absent */
		if (index_key_make(&lk, e->ie_repo, ds, NULL) == -1)
			return (EINVAL);
		index_dbt(&lkey, lk.key_buf, lk.key_len);
		memset(&data, 0, sizeof(data));
		data.flags = DB_DBT_PARTIAL;
		ret = ix->ix_db[INDEX_DB_LINKS]->get(ix->ix_db[INDEX_DB_LINKS],
		    txn, &lkey, &data, 0);
		if (ret != DB_NOTFOUND)
			return (ret);
	}
	if ((ret = index_del(ix, txn, t, &k)) != 0)
		return (ret);
	if (t == INDEX_DB_LINKS && e->ie_repo[0] != '\0' &&
	    ((ret = index_link_rev_del(ix, txn, e->ie_repo, ds)) != 0 ||
	    (ret = index_repo_prune(ix, txn, e->ie_repo)) != 0))
		return (ret);
	rm->rm_done = 1;
	return (0);
}

/* Write a link's missing reverse entry while the link is unchanged. */
static int
index_fsck_reindex_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	struct index_fsck_rm	*rm = arg;
	const struct index_entry *e = rm->rm_entry;
	DB			*db = ix->ix_db[INDEX_DB_LINKS];
	struct index_key	 rev;
	char			 ds[DIGEST_STRING_MAX];
	DBT			 key, data;
	int			 ret, same;

	rm->rm_done = 0;
	index_dbt(&key, (void *)e->ie_key, e->ie_keylen);
	memset(&data, 0, sizeof(data));
	data.flags = DB_DBT_MALLOC;
	if ((ret = db->get(db, txn, &key, &data, DB_RMW)) == DB_NOTFOUND)
		return (0);
	if (ret != 0)
		return (ret);
	same = data.size == e->ie_valuelen && (data.size == 0 ||
	    memcmp(data.data, e->ie_value, data.size) == 0);
	free(data.data);
	if (!same)
		return (0);
	digest_format(&e->ie_digest, ds, sizeof(ds));
	if (index_key_make(&rev, ds, e->ie_repo, NULL) == -1)
		return (EINVAL);
	if ((ret = index_put(ix, txn, INDEX_DB_DIGESTS, &rev, NULL, 0)) != 0)
		return (ret);
	rm->rm_done = 1;
	return (0);
}

int
index_fsck_reindex(struct index *ix, const struct index_entry *e)
{
	struct index_fsck_rm	 rm;

	if (!index_ready(ix, __func__) || e->ie_table != INDEX_FSCK_LINKS ||
	    e->ie_garbled)
		return (-1);
	memset(&rm, 0, sizeof(rm));
	rm.rm_entry = e;
	if (index_txn_run(ix, "fsck reindex", 0, index_fsck_reindex_txn,
	    &rm) != 0)
		return (-1);
	return (rm.rm_done);
}

int
index_fsck_remove(struct index *ix, const struct index_entry *e,
    index_fsck_still_fn still, void *arg)
{
	struct index_fsck_rm	 rm;

	if (!index_ready(ix, __func__) || e->ie_keylen == 0)
		return (-1);
	memset(&rm, 0, sizeof(rm));
	rm.rm_entry = e;
	rm.rm_still = still;
	rm.rm_arg = arg;
	if (index_txn_run(ix, "fsck remove", 0, index_fsck_rm_txn, &rm) != 0)
		return (-1);
	return (rm.rm_done);
}

static int
index_fsck_add_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	return (index_repo_add(ix, txn, arg));
}

int
index_fsck_repo_add(struct index *ix, const char *repo)
{
	if (!index_ready(ix, __func__) ||
	    !index_str_ok(__func__, "repository", repo, DEPOT_REPO_MAX))
		return (-1);
	if (index_txn_run(ix, "fsck add repository", 0, index_fsck_add_txn,
	    (void *)repo) != 0)
		return (-1);
	return (0);
}

/* Berkeley DB's messages about the file being verified: kept. */
static void
index_fsck_errcall(const DB_ENV *env, const char *prefix, const char *msg)
{
	struct index_fsck_vf	*vf = index_fsck_vf_now;

	(void)env;
	(void)prefix;
	if (vf == NULL)
		return;
	if (vf->vf_messages++ == 0)
		(void)snprintf(vf->vf_first, sizeof(vf->vf_first), "%s", msg);
}

/* DB->verify on one copied file; one report when it fails. */
static int
index_fsck_verify_file(const char *dir, const char *file,
    struct index_fsck_vf *vf)
{
	char	 path[PATH_MAX], msg[600];
	DB	*db;
	int	 ret;

	if (path_fmt(path, sizeof(path), "%s/%s", dir, file) == -1)
		return (-1);
	if (access(path, F_OK) == -1) {
		vf->vf_report(vf->vf_arg, file, "missing from the hot backup");
		vf->vf_problems++;
		return (0);
	}
	if ((ret = db_create(&db, NULL, 0)) != 0)
		return (-1);
	db->set_errcall(db, index_fsck_errcall);
	vf->vf_messages = 0;
	index_fsck_vf_now = vf;
	ret = db->verify(db, path, NULL, NULL, 0);	/* frees db */
	index_fsck_vf_now = NULL;
	if (ret == 0 && vf->vf_messages == 0)
		return (0);
	if (vf->vf_messages == 0)
		(void)snprintf(msg, sizeof(msg), "does not verify: %s",
		    db_strerror(ret));
	else
		(void)snprintf(msg, sizeof(msg), "does not verify: %s%s",
		    vf->vf_first, vf->vf_messages > 1 ? " (and more)" : "");
	vf->vf_report(vf->vf_arg, file, msg);
	vf->vf_problems++;
	return (0);
}

/* Remove a folder of plain files (the backup). */
static void
index_fsck_rmdir(const char *dir)
{
	DIR		*d;
	struct dirent	*de;

	if ((d = opendir(dir)) != NULL) {
		while ((de = readdir(d)) != NULL)
			if (strcmp(de->d_name, ".") != 0 &&
			    strcmp(de->d_name, "..") != 0 &&
			    unlinkat(dirfd(d), de->d_name, 0) == -1)
				log_warn("%s: %s/%s", __func__, dir,
				    de->d_name);
		closedir(d);
	}
	if (rmdir(dir) == -1 && errno != ENOENT)
		log_warn("%s: %s", __func__, dir);
}

int
index_fsck_verify(struct index *ix, const char *workdir,
    void (*report)(void *, const char *, const char *), void *arg,
    char **cause)
{
	struct index_fsck_vf	 vf;
	DB_ENV			*env = NULL;
	char			 dir[PATH_MAX];
	const char		*what;
	int			 i, ret;

	if (!index_ready(ix, __func__)) {
		xasprintf(cause, "the index is not open");
		return (-1);
	}
	if (path_fmt(dir, sizeof(dir), "%s/fsck-db-XXXXXX", workdir) == -1 ||
	    mkdtemp(dir) == NULL) {
		xasprintf(cause, "%s: cannot make a folder for the hot backup: "
		    "%s", workdir, strerror(errno));
		return (-1);
	}
	/* Recovery of the copy then replays only what came after this. */
	what = "checkpoint";
	if ((ret = ix->ix_env->txn_checkpoint(ix->ix_env, 0, 0,
	    DB_FORCE)) != 0)
		goto fail;
	what = "hot backup";
	if ((ret = ix->ix_env->backup(ix->ix_env, dir, 0)) != 0)
		goto fail;
	what = "recovery of the backup";
	if ((ret = db_env_create(&env, 0)) != 0)
		goto fail;
	ret = env->open(env, dir, INDEX_FSCK_VERIFY_FLAGS, INDEX_FILE_MODE);
	(void)env->close(env, 0);
	if (ret != 0)
		goto fail;
	memset(&vf, 0, sizeof(vf));
	vf.vf_report = report;
	vf.vf_arg = arg;
	for (i = 0; i < INDEX_NDB; i++)
		if (index_fsck_verify_file(dir, index_files[i], &vf) == -1) {
			ret = ENOMEM;
			what = "verify";
			goto fail;
		}
	index_fsck_rmdir(dir);
	return (vf.vf_problems);

fail:
	xasprintf(cause, "%s: %s", what, db_strerror(ret));
	index_fsck_rmdir(dir);
	return (-1);
}
