/*
 * index_meta.c: meta.db, the index's own bookkeeping: the schema version
 * checked at every open, named counters, and the health probe.
 *
 * Key schema (meta.db; values are not versioned, fixed sizes):
 *   "schema"       -> uint32 schema version (INDEX_SCHEMA_VERSION)
 *   "c/" name      -> int64 counter value; name 1..INDEX_NAME_MAX bytes
 *   "health"       -> int64 probe count, int64 wall clock of the last probe
 *                     in milliseconds since the epoch
 *   "digests.db"   -> (empty) digests.db was built from links.db
 *                     (index_links_migrate)
 * No secondary index.
 */
#include <sys/types.h>

#include <db.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "store/index_impl.h"
#include "lib/log.h"
#include "lib/util.h"

/*
 * 2: links.db values carry touched and upstream, and digests.db mirrors
 * links.db (index_links.c). A store of version 1 is upgraded at open
 * (its old link values stay readable; the master builds digests.db);
 * a depot of version 1 refuses a store of version 2.
 */
#define INDEX_SCHEMA_VERSION	2
#define INDEX_SCHEMA_UPGRADES	1	/* the version upgraded at open */
#define INDEX_NAME_MAX		255
#define INDEX_KEY_SCHEMA	"schema"
#define INDEX_KEY_HEALTH	"health"
#define INDEX_COUNTER_PREFIX	"c/"

struct index_add {
	const char	**add_names;
	int		  add_count;
	int64_t		  add_delta;
	int64_t		 *add_out;
};

static int	index_name_ok(const char *, const char *);
static int	index_counter_key(const char *, char *, size_t, size_t *);
static int	index_read64(DB *, DB_TXN *, DBT *, u_int32_t, int64_t *);
static int	index_add_txn(struct index *, DB_TXN *, void *);
static int	index_get_txn(struct index *, DB_TXN *, void *);
static int	index_health_txn(struct index *, DB_TXN *, void *);

/* A counter name is 1 to INDEX_NAME_MAX bytes. */
static int
index_name_ok(const char *func, const char *name)
{
	size_t	 n;

	if (name == NULL || (n = strlen(name)) == 0 || n > INDEX_NAME_MAX) {
		log_warnx("%s: bad counter name", func);
		return (0);
	}
	return (1);
}

/* Build the key of counter name into buf; EINVAL for a bad name. */
static int
index_counter_key(const char *name, char *buf, size_t len, size_t *sizep)
{
	if (!index_name_ok(__func__, name) ||
	    path_fmt(buf, len, "%s%s", INDEX_COUNTER_PREFIX, name) == -1)
		return (EINVAL);
	*sizep = strlen(buf);
	return (0);
}

/* Read an int64 stored at key (0 when absent). */
static int
index_read64(DB *db, DB_TXN *txn, DBT *key, u_int32_t flags, int64_t *value)
{
	unsigned char	 buf[8];
	DBT		 data;
	int		 ret;

	index_dbt(&data, buf, sizeof(buf));
	ret = db->get(db, txn, key, &data, flags);
	if (ret == DB_NOTFOUND) {
		*value = 0;
		return (0);
	}
	if (ret == DB_BUFFER_SMALL || (ret == 0 && data.size != sizeof(buf))) {
		log_warnx("%s: %s: value of unexpected size", __func__,
		    INDEX_META_FILE);
		return (EINVAL);
	}
	if (ret == 0)
		*value = index_dec64(buf);
	return (ret);
}

/*
 * Check the schema version; arg is NULL for a snapshot read (DB_NOTFOUND
 * when none is stored yet, or an older one to upgrade), or the flag that
 * allows storing it.
 */
int
index_schema_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	DB		*meta = ix->ix_db[INDEX_DB_META];
	unsigned char	 want[4], have[4];
	DBT		 key, data;
	int		 ret;

	want[0] = (unsigned char)(INDEX_SCHEMA_VERSION >> 24);
	want[1] = (unsigned char)(INDEX_SCHEMA_VERSION >> 16);
	want[2] = (unsigned char)(INDEX_SCHEMA_VERSION >> 8);
	want[3] = (unsigned char)INDEX_SCHEMA_VERSION;
	index_dbt(&key, INDEX_KEY_SCHEMA, strlen(INDEX_KEY_SCHEMA));
	index_dbt(&data, have, sizeof(have));
	ret = meta->get(meta, txn, &key, &data, arg != NULL ? DB_RMW : 0);
	if (ret == 0 && data.size == sizeof(have) && have[0] == 0 &&
	    have[1] == 0 && have[2] == 0 && have[3] == INDEX_SCHEMA_UPGRADES)
		ret = DB_NOTFOUND;
	if (ret == DB_NOTFOUND && arg != NULL) {
		index_dbt(&data, want, sizeof(want));
		return (meta->put(meta, txn, &key, &data, 0));
	}
	if (ret == DB_BUFFER_SMALL || (ret == 0 && (data.size != sizeof(want) ||
	    memcmp(have, want, sizeof(want)) != 0))) {
		log_warnx("%s: %s: unsupported schema version", __func__,
		    ix->ix_dir);
		return (EINVAL);
	}
	return (ret);
}

static int
index_add_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	struct index_add	*add = arg;
	DB			*meta = ix->ix_db[INDEX_DB_META];
	char			 name[sizeof(INDEX_COUNTER_PREFIX) +
				    INDEX_NAME_MAX];
	unsigned char		 buf[8];
	DBT			 key, data;
	size_t			 size;
	int64_t			 value;
	int			 i, ret;

	for (i = 0; i < add->add_count; i++) {
		if ((ret = index_counter_key(add->add_names[i], name,
		    sizeof(name), &size)) != 0)
			return (ret);
		index_dbt(&key, name, size);
		if ((ret = index_read64(meta, txn, &key, DB_RMW,
		    &value)) != 0)
			return (ret);
		if ((add->add_delta > 0 && value > INT64_MAX - add->add_delta) ||
		    (add->add_delta < 0 && value < INT64_MIN - add->add_delta)) {
			log_warnx("%s: counter %s would overflow", __func__,
			    add->add_names[i]);
			return (EOVERFLOW);
		}
		value += add->add_delta;
		index_enc64(buf, value);
		index_dbt(&data, buf, sizeof(buf));
		if ((ret = meta->put(meta, txn, &key, &data, 0)) != 0)
			return (ret);
		if (add->add_out != NULL)
			add->add_out[i] = value;
	}
	return (0);
}

static int
index_get_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	struct index_add	*get = arg;
	char			 name[sizeof(INDEX_COUNTER_PREFIX) +
				    INDEX_NAME_MAX];
	DBT			 key;
	size_t			 size;
	int			 ret;

	if ((ret = index_counter_key(get->add_names[0], name, sizeof(name),
	    &size)) != 0)
		return (ret);
	index_dbt(&key, name, size);
	return (index_read64(ix->ix_db[INDEX_DB_META], txn, &key, 0,
	    get->add_out));
}

/* Bump the probe count and stamp the time: proves the index can write. */
static int
index_health_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	DB		*meta = ix->ix_db[INDEX_DB_META];
	unsigned char	 buf[16];
	struct timespec	 ts;
	DBT		 key, data;
	int64_t		 count;
	int		 ret;

	(void)arg;
	index_dbt(&key, INDEX_KEY_HEALTH, strlen(INDEX_KEY_HEALTH));
	index_dbt(&data, buf, sizeof(buf));
	ret = meta->get(meta, txn, &key, &data, DB_RMW);
	if (ret == DB_NOTFOUND || ret == DB_BUFFER_SMALL ||
	    (ret == 0 && data.size != sizeof(buf)))
		count = 0;
	else if (ret != 0)
		return (ret);
	else
		count = index_dec64(buf);
	clock_gettime(CLOCK_REALTIME, &ts);
	index_enc64(buf, count + 1);
	index_enc64(buf + 8, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
	index_dbt(&data, buf, sizeof(buf));
	return (meta->put(meta, txn, &key, &data, 0));
}

int
index_health(struct index *ix)
{
	if (!index_ready(ix, __func__))
		return (-1);
	/* The probe record is not worth a log flush to disk. */
	if (index_txn_run(ix, "health", DB_TXN_NOSYNC, index_health_txn,
	    NULL) != 0)
		return (-1);
	return (0);
}

int
index_counters_add(struct index *ix, const char **names, int count,
    int64_t delta, int64_t *out)
{
	struct index_add	 add;
	int			 i;

	if (!index_ready(ix, __func__))
		return (-1);
	if (names == NULL || count < 0) {
		log_warnx("%s: bad arguments", __func__);
		return (-1);
	}
	for (i = 0; i < count; i++)
		if (!index_name_ok(__func__, names[i]))
			return (-1);
	add.add_names = names;
	add.add_count = count;
	add.add_delta = delta;
	add.add_out = out;
	if (index_txn_run(ix, "add counters", 0, index_add_txn, &add) != 0)
		return (-1);
	return (0);
}

int
index_counter_get(struct index *ix, const char *name, int64_t *value)
{
	struct index_add	 get;

	if (!index_ready(ix, __func__) || !index_name_ok(__func__, name))
		return (-1);
	if (value == NULL) {
		log_warnx("%s: bad arguments", __func__);
		return (-1);
	}
	memset(&get, 0, sizeof(get));
	get.add_names = &name;
	get.add_count = 1;
	get.add_out = value;
	if (index_txn_run(ix, "get counter", DB_TXN_SNAPSHOT, index_get_txn,
	    &get) != 0)
		return (-1);
	return (0);
}
