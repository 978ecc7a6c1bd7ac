/*
 * index_helm.c: helm.db, the hosted Helm charts. Its rows carry their own
 * compact encoding below (not the index_code_* layouts: an entry is a
 * pre-rendered JSON and YAML text) and are run through index_txn_run.
 *
 * Key schema (parts separated by one NUL byte, as in index.c):
 *   registry                      -> int64 generation (big-endian)
 *   registry NUL name NUL version -> u8 value version (1), str digest,
 *                                    int64 size, str prov digest ("" when
 *                                    none), int64 created, str entry
 *                                    (JSON), str entry (YAML)
 * where str is a uint32 byte count (big-endian) and the bytes. The
 * generation row sorts before the registry's charts and is told apart by
 * having no NUL. Every write of a chart row moves the generation in the
 * same transaction.
 */
#include <sys/types.h>

#include <db.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/index.h"
#include "lib/log.h"
#include "store/index_helm.h"
#include "store/index_impl.h"
#include "lib/xmalloc.h"

#define HELM_DB_FILE		"helm.db"

/* A unit of work on helm.db; returns a Berkeley DB code (or errno). */
typedef int	(*helm_table_fn)(DB *, DB_TXN *, void *);

struct helm_call {
	helm_table_fn	 hc_fn;
	void		*hc_arg;
};
#define HELM_VALUE_VERSION	1
#define HELM_KEY_MAX		(DEPOT_NAME_MAX + 256 + 129 + 2)
#define HELM_PURGE_BATCH	512
#define HELM_ENTRY_MAX		(4 * 1024 * 1024)

struct helm_key {
	char	 k_buf[HELM_KEY_MAX];
	size_t	 k_len;
};

struct helm_op {
	struct helm_key			 op_key;
	struct helm_key			 op_gen;
	const struct index_helm_chart	*op_in;
	struct index_helm_chart		*op_out;
	int				 op_force;
	int				 op_result;	/* 1, 0 */
	int64_t				 op_genval;
	/* lists */
	size_t				 op_prefix;
	struct index_helm_chart		*op_list;
	size_t				 op_count;
};

static int	helm_call_txn(struct index *, DB_TXN *, void *);
static int	helm_table_run(struct index *, const char *, const char *,
		    int, helm_table_fn, void *);
static int	helm_key_make(struct helm_key *, const char *, const char *,
		    const char *);
static void	helm_dbt(DBT *, const void *, size_t);
static void	helm_enc64(unsigned char *, int64_t);
static int64_t	helm_dec64(const unsigned char *);
static unsigned char *helm_encode(const struct index_helm_chart *, size_t *);
static int	helm_decode(const void *, size_t, struct index_helm_chart *);
static int	helm_key_split(const void *, size_t, size_t,
		    struct index_helm_chart *);
static int	helm_gen_bump(DB *, DB_TXN *, struct helm_op *);
static int	helm_gen_read(DB *, DB_TXN *, struct helm_op *, u_int32_t);
static int	helm_get_txn(DB *, DB_TXN *, void *);
static int	helm_put_txn(DB *, DB_TXN *, void *);
static int	helm_del_txn(DB *, DB_TXN *, void *);
static int	helm_list_txn(DB *, DB_TXN *, void *);
static int	helm_purge_txn(DB *, DB_TXN *, void *);
static int	helm_gen_txn(DB *, DB_TXN *, void *);
static int	helm_gen_jump_txn(DB *, DB_TXN *, void *);

static int
helm_call_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	struct helm_call	*hc = arg;

	return (hc->hc_fn(ix->ix_db[INDEX_DB_HELM], txn, hc->hc_arg));
}

/* Run fn on helm.db in a transaction (a snapshot read when snapshot). */
static int
helm_table_run(struct index *ix, const char *file, const char *what,
    int snapshot, helm_table_fn fn, void *arg)
{
	struct helm_call	 hc;

	(void)file;
	if (!index_ready(ix, what) || ix->ix_db[INDEX_DB_HELM] == NULL)
		return (EINVAL);
	hc.hc_fn = fn;
	hc.hc_arg = arg;
	return (index_txn_run(ix, what, snapshot ? DB_TXN_SNAPSHOT : 0,
	    helm_call_txn, &hc));
}

void
index_helm_chart_clear(struct index_helm_chart *c)
{
	free(c->ihc_entry);
	free(c->ihc_yaml);
	memset(c, 0, sizeof(*c));
}

void
index_helm_charts_free(struct index_helm_chart *v, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		free(v[i].ihc_entry);
		free(v[i].ihc_yaml);
	}
	free(v);
}

/* registry [NUL name [NUL version]]; -1 when a part is bad or too long. */
static int
helm_key_make(struct helm_key *k, const char *registry, const char *name,
    const char *version)
{
	size_t	 r = strlen(registry), n = name ? strlen(name) : 0;
	size_t	 v = version ? strlen(version) : 0;

	if (r == 0 || r > DEPOT_NAME_MAX || n > 255 || v > 128 ||
	    memchr(registry, '\0', r) != NULL)
		return (-1);
	k->k_len = 0;
	memcpy(k->k_buf, registry, r);
	k->k_len = r;
	if (name != NULL) {
		k->k_buf[k->k_len++] = '\0';
		memcpy(k->k_buf + k->k_len, name, n);
		k->k_len += n;
	}
	if (version != NULL) {
		k->k_buf[k->k_len++] = '\0';
		memcpy(k->k_buf + k->k_len, version, v);
		k->k_len += v;
	}
	return (0);
}

static void
helm_dbt(DBT *d, const void *data, size_t size)
{
	memset(d, 0, sizeof(*d));
	d->data = (void *)(uintptr_t)data;
	d->size = (u_int32_t)size;
}

static void
helm_enc64(unsigned char *p, int64_t value)
{
	uint64_t	 v = (uint64_t)value;
	int		 i;

	for (i = 7; i >= 0; i--) {
		p[i] = (unsigned char)v;
		v >>= 8;
	}
}

static int64_t
helm_dec64(const unsigned char *p)
{
	uint64_t	 v = 0;
	int		 i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return ((int64_t)v);
}

static void
helm_enc_str(unsigned char **p, const char *s, size_t n)
{
	(*p)[0] = (unsigned char)(n >> 24);
	(*p)[1] = (unsigned char)(n >> 16);
	(*p)[2] = (unsigned char)(n >> 8);
	(*p)[3] = (unsigned char)n;
	memcpy(*p + 4, s, n);
	*p += 4 + n;
}

/* The value of a chart row. Caller frees. */
static unsigned char *
helm_encode(const struct index_helm_chart *c, size_t *len)
{
	size_t		 d = strlen(c->ihc_digest), pv = strlen(c->ihc_prov);
	size_t		 e = strlen(c->ihc_entry), y = strlen(c->ihc_yaml);
	unsigned char	*buf, *p;

	*len = 1 + 4 + d + 8 + 4 + pv + 8 + 4 + e + 4 + y;
	buf = p = xmalloc(*len);
	*p++ = HELM_VALUE_VERSION;
	helm_enc_str(&p, c->ihc_digest, d);
	helm_enc64(p, c->ihc_size);
	p += 8;
	helm_enc_str(&p, c->ihc_prov, pv);
	helm_enc64(p, c->ihc_created);
	p += 8;
	helm_enc_str(&p, c->ihc_entry, e);
	helm_enc_str(&p, c->ihc_yaml, y);
	return (buf);
}

static int
helm_dec_str(const unsigned char **p, size_t *left, char *buf, size_t max,
    char **dup)
{
	size_t	 n;

	if (*left < 4)
		return (-1);
	n = ((size_t)(*p)[0] << 24) | ((size_t)(*p)[1] << 16) |
	    ((size_t)(*p)[2] << 8) | (*p)[3];
	if (n > *left - 4 || (buf != NULL && n >= max) ||
	    (dup != NULL && n > HELM_ENTRY_MAX) ||
	    memchr(*p + 4, '\0', n) != NULL)
		return (-1);
	if (buf != NULL) {
		memcpy(buf, *p + 4, n);
		buf[n] = '\0';
	} else
		*dup = xstrndup((const char *)*p + 4, n);
	*p += 4 + n;
	*left -= 4 + n;
	return (0);
}

/* A chart row's value into c (name and version left alone). 0 or -1. */
static int
helm_decode(const void *data, size_t len, struct index_helm_chart *c)
{
	const unsigned char	*p = data;
	size_t			 left = len;

	if (left < 1 || *p != HELM_VALUE_VERSION)
		goto bad;
	p++;
	left--;
	if (helm_dec_str(&p, &left, c->ihc_digest, sizeof(c->ihc_digest),
	    NULL) == -1 || left < 8)
		goto bad;
	c->ihc_size = helm_dec64(p);
	p += 8;
	left -= 8;
	if (helm_dec_str(&p, &left, c->ihc_prov, sizeof(c->ihc_prov),
	    NULL) == -1 || left < 8)
		goto bad;
	c->ihc_created = helm_dec64(p);
	p += 8;
	left -= 8;
	if (helm_dec_str(&p, &left, NULL, 0, &c->ihc_entry) == -1 ||
	    helm_dec_str(&p, &left, NULL, 0, &c->ihc_yaml) == -1 ||
	    left != 0)
		goto bad;
	return (0);
bad:
	free(c->ihc_entry);
	free(c->ihc_yaml);
	c->ihc_entry = NULL;
	c->ihc_yaml = NULL;
	log_warnx("%s: %s: a damaged chart row is skipped", __func__,
	    HELM_DB_FILE);
	return (-1);
}

/* Name and version from a chart key after its prefix bytes. 0 or -1. */
static int
helm_key_split(const void *data, size_t len, size_t prefix,
    struct index_helm_chart *c)
{
	const char	*k = data, *nul;
	size_t		 n, v;

	if (len <= prefix || k[prefix - 1] != '\0')
		return (-1);
	if ((nul = memchr(k + prefix, '\0', len - prefix)) == NULL)
		return (-1);
	n = nul - (k + prefix);
	v = len - prefix - n - 1;
	if (n == 0 || n >= sizeof(c->ihc_name) || v == 0 ||
	    v >= sizeof(c->ihc_version) ||
	    memchr(nul + 1, '\0', v) != NULL)
		return (-1);
	memcpy(c->ihc_name, k + prefix, n);
	c->ihc_name[n] = '\0';
	memcpy(c->ihc_version, nul + 1, v);
	c->ihc_version[v] = '\0';
	return (0);
}

/* Move the registry's generation on by one. */
static int
helm_gen_bump(DB *db, DB_TXN *txn, struct helm_op *op)
{
	unsigned char	 buf[8];
	DBT		 key, data;
	int		 ret;

	if ((ret = helm_gen_read(db, txn, op, DB_RMW)) != 0)
		return (ret);
	op->op_genval++;
	helm_enc64(buf, op->op_genval);
	helm_dbt(&key, op->op_gen.k_buf, op->op_gen.k_len);
	helm_dbt(&data, buf, sizeof(buf));
	return (db->put(db, txn, &key, &data, 0));
}

/* Read the registry's generation into op_genval (0 when none yet). */
static int
helm_gen_read(DB *db, DB_TXN *txn, struct helm_op *op, u_int32_t flags)
{
	unsigned char	 buf[8];
	DBT		 key, data;
	int		 ret;

	helm_dbt(&key, op->op_gen.k_buf, op->op_gen.k_len);
	memset(&data, 0, sizeof(data));
	data.data = buf;
	data.ulen = sizeof(buf);
	data.flags = DB_DBT_USERMEM;
	ret = db->get(db, txn, &key, &data, flags);
	op->op_genval = 0;
	if (ret == DB_NOTFOUND)
		return (0);
	if (ret == 0 && data.size != sizeof(buf))
		return (EINVAL);
	if (ret == 0)
		op->op_genval = helm_dec64(buf);
	return (ret);
}

/* Read the row at op_key into op_out (when not NULL): op_result 1/0. */
static int
helm_read(DB *db, DB_TXN *txn, struct helm_op *op, u_int32_t flags)
{
	DBT	 key, data;
	int	 ret;

	helm_dbt(&key, op->op_key.k_buf, op->op_key.k_len);
	memset(&data, 0, sizeof(data));
	data.flags = DB_DBT_MALLOC;
	ret = db->get(db, txn, &key, &data, flags);
	op->op_result = ret == 0;
	if (ret == DB_NOTFOUND)
		return (0);
	if (ret != 0)
		return (ret);
	if (op->op_out != NULL) {
		index_helm_chart_clear(op->op_out);
		if (helm_decode(data.data, data.size, op->op_out) == -1)
			ret = EINVAL;
	}
	free(data.data);
	return (ret);
}

static int
helm_get_txn(DB *db, DB_TXN *txn, void *arg)
{
	return (helm_read(db, txn, arg, 0));
}

static int
helm_put_txn(DB *db, DB_TXN *txn, void *arg)
{
	struct helm_op	*op = arg;
	unsigned char	*value;
	size_t		 len;
	DBT		 key, data;
	int		 ret;

	if ((ret = helm_read(db, txn, op, DB_RMW)) != 0)
		return (ret);
	if (op->op_result && !op->op_force) {
		op->op_result = 0;
		return (0);
	}
	if (!op->op_result && op->op_out != NULL)
		index_helm_chart_clear(op->op_out);
	value = helm_encode(op->op_in, &len);
	helm_dbt(&key, op->op_key.k_buf, op->op_key.k_len);
	helm_dbt(&data, value, len);
	ret = db->put(db, txn, &key, &data, 0);
	free(value);
	if (ret != 0)
		return (ret);
	op->op_result = 1;
	return (helm_gen_bump(db, txn, op));
}

static int
helm_del_txn(DB *db, DB_TXN *txn, void *arg)
{
	struct helm_op	*op = arg;
	DBT		 key;
	int		 ret;

	if ((ret = helm_read(db, txn, op, DB_RMW)) != 0 || !op->op_result)
		return (ret);
	helm_dbt(&key, op->op_key.k_buf, op->op_key.k_len);
	if ((ret = db->del(db, txn, &key, 0)) != 0)
		return (ret);
	return (helm_gen_bump(db, txn, op));
}

int
index_helm_get(struct index *ix, const char *registry, const char *name,
    const char *version, struct index_helm_chart *c)
{
	struct helm_op	 op;
	int		 ret;

	memset(&op, 0, sizeof(op));
	memset(c, 0, sizeof(*c));
	if (helm_key_make(&op.op_key, registry, name, version) == -1)
		return (0);
	op.op_out = c;
	ret = helm_table_run(ix, HELM_DB_FILE, "helm chart get", 1,
	    helm_get_txn, &op);
	if (ret != 0 && ret != DB_NOTFOUND)
		return (-1);
	if (op.op_result) {
		snprintf(c->ihc_name, sizeof(c->ihc_name), "%s", name);
		snprintf(c->ihc_version, sizeof(c->ihc_version), "%s",
		    version);
	}
	return (op.op_result);
}

int
index_helm_put(struct index *ix, const char *registry,
    const struct index_helm_chart *c, int force,
    struct index_helm_chart *old, int64_t *gen)
{
	struct helm_op	 op;

	memset(&op, 0, sizeof(op));
	memset(old, 0, sizeof(*old));
	if (helm_key_make(&op.op_key, registry, c->ihc_name,
	    c->ihc_version) == -1 ||
	    helm_key_make(&op.op_gen, registry, NULL, NULL) == -1 ||
	    c->ihc_entry == NULL || c->ihc_yaml == NULL)
		return (-1);
	op.op_in = c;
	op.op_out = old;
	op.op_force = force;
	if (helm_table_run(ix, HELM_DB_FILE, "helm chart put", 0,
	    helm_put_txn, &op) != 0) {
		index_helm_chart_clear(old);
		return (-1);
	}
	if (op.op_result == 0)
		index_helm_chart_clear(old);	/* exists: nothing replaced */
	*gen = op.op_genval;
	return (op.op_result);
}

int
index_helm_delete(struct index *ix, const char *registry, const char *name,
    const char *version, struct index_helm_chart *old, int64_t *gen)
{
	struct helm_op	 op;

	memset(&op, 0, sizeof(op));
	memset(old, 0, sizeof(*old));
	if (helm_key_make(&op.op_key, registry, name, version) == -1 ||
	    helm_key_make(&op.op_gen, registry, NULL, NULL) == -1)
		return (0);
	op.op_out = old;
	if (helm_table_run(ix, HELM_DB_FILE, "helm chart delete", 0,
	    helm_del_txn, &op) != 0)
		return (-1);
	*gen = op.op_genval;
	return (op.op_result);
}

/* Collect the rows under op_key (a prefix of op_prefix bytes). */
static int
helm_list_txn(DB *db, DB_TXN *txn, void *arg)
{
	struct helm_op		*op = arg;
	struct index_helm_chart	 c;
	DBC			*dbc;
	DBT			 key, data;
	size_t			 prefix;
	int			 ret, t_ret;

	index_helm_charts_free(op->op_list, op->op_count);
	op->op_list = NULL;
	op->op_count = 0;
	prefix = op->op_prefix;
	if ((ret = db->cursor(db, txn, &dbc, 0)) != 0)
		return (ret);
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = op->op_gen.k_buf;
	key.size = (u_int32_t)op->op_gen.k_len;
	ret = dbc->get(dbc, &key, &data, DB_SET);
	if (ret == 0 && data.size == 8)
		op->op_genval = helm_dec64(data.data);
	else if (ret == DB_NOTFOUND)
		op->op_genval = 0;
	else
		goto done;
	key.data = op->op_key.k_buf;
	key.size = (u_int32_t)op->op_key.k_len;
	for (ret = dbc->get(dbc, &key, &data, DB_SET_RANGE); ret == 0;
	    ret = dbc->get(dbc, &key, &data, DB_NEXT)) {
		if (key.size < prefix ||
		    memcmp(key.data, op->op_key.k_buf, prefix) != 0)
			break;
		memset(&c, 0, sizeof(c));
		if (helm_key_split(key.data, key.size,
		    op->op_gen.k_len + 1, &c) == -1 ||
		    helm_decode(data.data, data.size, &c) == -1)
			continue;
		op->op_list = xreallocarray(op->op_list, op->op_count + 1,
		    sizeof(*op->op_list));
		op->op_list[op->op_count++] = c;
	}
	if (ret == DB_NOTFOUND)
		ret = 0;
done:
	if ((t_ret = dbc->close(dbc)) != 0 && ret == 0)
		ret = t_ret;
	return (ret);
}

int
index_helm_list(struct index *ix, const char *registry, const char *name,
    struct index_helm_chart **out, size_t *count, int64_t *gen)
{
	struct helm_op	 op;
	int		 ret;

	memset(&op, 0, sizeof(op));
	*out = NULL;
	*count = 0;
	if (helm_key_make(&op.op_gen, registry, NULL, NULL) == -1 ||
	    helm_key_make(&op.op_key, registry, name != NULL ? name : "",
	    NULL) == -1)
		return (-1);
	/* "registry NUL" for all, "registry NUL name NUL" for one name. */
	if (name != NULL)
		op.op_key.k_buf[op.op_key.k_len++] = '\0';
	op.op_prefix = op.op_key.k_len;
	ret = helm_table_run(ix, HELM_DB_FILE, "helm chart list", 1,
	    helm_list_txn, &op);
	if (ret != 0 && ret != DB_NOTFOUND) {
		index_helm_charts_free(op.op_list, op.op_count);
		return (-1);
	}
	*out = op.op_list;
	*count = op.op_count;
	if (gen != NULL)
		*gen = op.op_genval;
	return (0);
}

static int
helm_gen_txn(DB *db, DB_TXN *txn, void *arg)
{
	return (helm_gen_read(db, txn, arg, 0));
}

int
index_helm_gen(struct index *ix, const char *registry, int64_t *gen)
{
	struct helm_op	 op;
	int		 ret;

	memset(&op, 0, sizeof(op));
	if (helm_key_make(&op.op_gen, registry, NULL, NULL) == -1)
		return (-1);
	ret = helm_table_run(ix, HELM_DB_FILE, "helm generation", 1,
	    helm_gen_txn, &op);
	if (ret != 0 && ret != DB_NOTFOUND)
		return (-1);
	*gen = op.op_genval;
	return (0);
}

/* Delete up to HELM_PURGE_BATCH rows of the registry; op_result: more. */
static int
helm_purge_txn(DB *db, DB_TXN *txn, void *arg)
{
	struct helm_op	*op = arg;
	DBC		*dbc;
	DBT		 key, data;
	size_t		 n = 0;
	int		 ret, t_ret;

	op->op_result = 0;
	if ((ret = db->cursor(db, txn, &dbc, 0)) != 0)
		return (ret);
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = op->op_gen.k_buf;
	key.size = (u_int32_t)op->op_gen.k_len;
	for (ret = dbc->get(dbc, &key, &data, DB_SET_RANGE | DB_RMW);
	    ret == 0; ret = dbc->get(dbc, &key, &data, DB_NEXT | DB_RMW)) {
		if (key.size < op->op_gen.k_len || memcmp(key.data,
		    op->op_gen.k_buf, op->op_gen.k_len) != 0 ||
		    (key.size > op->op_gen.k_len &&
		    ((char *)key.data)[op->op_gen.k_len] != '\0'))
			break;
		if (key.size == op->op_gen.k_len)
			continue;	/* the generation stays */
		if (++n > HELM_PURGE_BATCH) {
			op->op_result = 1;
			break;
		}
		if ((ret = dbc->del(dbc, 0)) != 0)
			break;
		op->op_count++;
	}
	if (ret == DB_NOTFOUND)
		ret = 0;
	if ((t_ret = dbc->close(dbc)) != 0 && ret == 0)
		ret = t_ret;
	return (ret);
}

/*
 * Past a purge, the generation jumps by two, so that a member file
 * written before it can never take a delta again and is rebuilt.
 */
static int
helm_gen_jump_txn(DB *db, DB_TXN *txn, void *arg)
{
	int	 ret;

	if ((ret = helm_gen_bump(db, txn, arg)) != 0)
		return (ret);
	return (helm_gen_bump(db, txn, arg));
}

int
index_helm_purge(struct index *ix, const char *registry)
{
	struct helm_op	 op;

	memset(&op, 0, sizeof(op));
	if (helm_key_make(&op.op_gen, registry, NULL, NULL) == -1)
		return (-1);
	do {
		if (helm_table_run(ix, HELM_DB_FILE, "helm purge", 0,
		    helm_purge_txn, &op) != 0)
			return (-1);
	} while (op.op_result);
	if (helm_table_run(ix, HELM_DB_FILE, "helm purge", 0,
	    helm_gen_jump_txn, &op) != 0)
		return (-1);
	return ((int)op.op_count);
}

/* The counts of index_helm_stats. */
struct helm_stats_op {
	struct helm_op		 so_op;
	size_t			 so_max;
	struct index_helm_stats	*so_out;
};

static int
helm_stats_txn(DB *db, DB_TXN *txn, void *arg)
{
	struct helm_stats_op	*so = arg;
	struct helm_op		*op = &so->so_op;
	struct index_helm_stats	*st = so->so_out;
	struct index_helm_chart	 c;
	char			 last[sizeof(c.ihc_name)];
	DBC			*dbc;
	DBT			 key, data;
	int			 ret, t_ret;

	memset(st, 0, sizeof(*st));
	st->ihs_complete = 1;
	last[0] = '\0';
	if ((ret = db->cursor(db, txn, &dbc, 0)) != 0)
		return (ret);
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = op->op_key.k_buf;
	key.size = (u_int32_t)op->op_key.k_len;
	for (ret = dbc->get(dbc, &key, &data, DB_SET_RANGE); ret == 0;
	    ret = dbc->get(dbc, &key, &data, DB_NEXT)) {
		if (key.size < op->op_prefix ||
		    memcmp(key.data, op->op_key.k_buf, op->op_prefix) != 0)
			break;
		if (st->ihs_versions >= so->so_max) {
			st->ihs_complete = 0;
			break;
		}
		memset(&c, 0, sizeof(c));
		if (helm_key_split(key.data, key.size,
		    op->op_gen.k_len + 1, &c) == -1 ||
		    helm_decode(data.data, data.size, &c) == -1)
			continue;
		if (strcmp(c.ihc_name, last) != 0) {
			st->ihs_charts++;
			memcpy(last, c.ihc_name, sizeof(last));
		}
		st->ihs_versions++;
		st->ihs_bytes += c.ihc_size;
		index_helm_chart_clear(&c);
	}
	if (ret == DB_NOTFOUND)
		ret = 0;
	if ((t_ret = dbc->close(dbc)) != 0 && ret == 0)
		ret = t_ret;
	return (ret);
}

int
index_helm_stats(struct index *ix, const char *registry, size_t max,
    struct index_helm_stats *st)
{
	struct helm_stats_op	 so;
	int			 ret;

	memset(&so, 0, sizeof(so));
	so.so_max = max;
	so.so_out = st;
	if (helm_key_make(&so.so_op.op_gen, registry, NULL, NULL) == -1 ||
	    helm_key_make(&so.so_op.op_key, registry, "", NULL) == -1)
		return (-1);
	so.so_op.op_prefix = so.so_op.op_key.k_len;
	ret = helm_table_run(ix, HELM_DB_FILE, "helm chart stats", 1,
	    helm_stats_txn, &so);
	if (ret != 0 && ret != DB_NOTFOUND)
		return (-1);
	return (0);
}
