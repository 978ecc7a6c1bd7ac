/*
 * index.c: depot's index, the only file that speaks Berkeley DB. It owns the
 * transactional environment under the data directory, the database handles,
 * the retry of transactions that meet a lock conflict, and the typed calls
 * that the rest of depot uses.
 *
 * Processes and failures (Berkeley DB 5.3)
 * ----------------------------------------
 * Every process opens its own DB_ENV after fork with DB_CREATE |
 * DB_INIT_TXN | DB_INIT_LOCK | DB_INIT_LOG | DB_INIT_MPOOL | DB_REGISTER
 * (no DB_THREAD: a process uses its handles from one thread; and DB_REGISTER
 * allows one handle per process), and configures thread tracking first
 * (set_thread_count, set_isalive on the pid), so that failchk can tell which
 * lockers, transactions and file registrations belong to processes that are
 * gone. A zombie still counts as alive: reap a child before index_failchk.
 *
 *  - The master opens with DB_RECOVER. Thanks to DB_REGISTER, recovery runs
 *    only when the registry file is new or holds the slot of a process that
 *    died while registered: after a crash of the whole daemon or of the
 *    machine. The master does not pass DB_FAILCHK: after a machine crash the
 *    region files cannot be trusted, and only recovery is safe. The master
 *    creates the environment; a worker that comes first gets DB_RUNRECOVERY.
 *
 *  - A worker opens without DB_RECOVER and with DB_FAILCHK. A killed worker
 *    leaves its slot in the registry file, and failchk does not clear it.
 *    With plain DB_REGISTER, the next process to open (the replacement
 *    worker) sees that slot, marks the environment panicked under the feet
 *    of the master and of every live worker, and fails with DB_RUNRECOVERY,
 *    even when the master has already cleaned up with failchk: one killed
 *    worker would force a full stop and recovery. With DB_FAILCHK, the
 *    registry code runs failchk instead (release the dead process's locks,
 *    abort its transactions, close its file registrations), clears the slot
 *    and the open goes on. Only when failchk itself finds that recovery is
 *    needed (the process died inside the library, where it may have held a
 *    mutex or left a page half written) is the environment panicked and
 *    DB_RUNRECOVERY returned; index_open then sets *need_recovery.
 *
 *  - After reaping a worker that died abnormally, the master calls
 *    index_failchk: 0 means the environment is fine and a replacement may
 *    be started at once; 1 (DB_RUNRECOVERY) means: stop every worker, call
 *    index_recover, start them again. index_failchk then also marks the
 *    environment panicked, so that live workers get DB_RUNRECOVERY at once
 *    instead of working on. A worker killed between calls costs a failchk;
 *    one killed inside a call costs a recovery.
 *
 *  - No transaction ever waits for a lock (DB_TXN_NOWAIT, see
 *    index_txn_run): failchk would hang for good on the lock request of a
 *    process killed while it waited. Conflicts are retried instead, with a
 *    gate that keeps a busy writer from starving the others, and plain
 *    reads are snapshot reads (DB_MULTIVERSION) that take no locks at all.
 *
 *  - index_recover closes the handles (marking the environment panicked
 *    first when failchk says it is broken, so the close does not wait on a
 *    mutex held by a dead process; Berkeley DB then leaves a few KB of heap
 *    behind), forces recovery with a handle opened without DB_REGISTER
 *    (then DB_RECOVER always recovers), and rejoins with the master's flags;
 *    stale registry slots make that second open recover again, which is
 *    cheap right after a recovery.
 *
 *  - Logs: DB_LOG_AUTO_REMOVE, and index_checkpoint (the master's timer)
 *    checkpoints and removes log files no longer needed. Catastrophic
 *    recovery from archived logs is therefore not available. Commits are
 *    durable (the log is flushed to disk), except the health probe's.
 *
 * Files in the directory: Berkeley DB's (__db.*, log.*), the databases
 * below (*.db, all opened in every process, created when missing), and
 * index.gate (empty; only locked).
 *
 * Key schema
 * ----------
 * Keys are byte strings without a terminating NUL; the parts of a composite
 * key are separated by one NUL byte (names never hold NUL, so "a/b" NUL
 * sorts before "a/b/c" and "a/bc" and a prefix scan on "a/b" NUL finds the
 * entries of a/b alone). Integers are stored big-endian (two's complement
 * when signed), so they read the same on every host and unsigned ones sort
 * in numeric order. Every database is a btree with the default (byte-wise)
 * key order, which is the order of the lists.
 *
 * meta.db, unversioned values:
 *   "schema"       -> uint32 schema version (INDEX_SCHEMA_VERSION)
 *   "c/" name      -> int64 counter value
 *   "health"       -> int64 probe count, int64 wall clock of the last probe
 *                     in milliseconds since the epoch
 *
 * Registry content. A value starts with one version byte
 * (INDEX_VALUE_VERSION), then its fields in order: int64 is 8 bytes, u8 one
 * byte, str a uint32 byte count then the bytes (no NUL inside, none at the
 * end). A value that is short, long, of another version or with a field out
 * of range is refused (logged, -1), never trusted. Digests are "alg:hex".
 *   tags.db        repo NUL tag -> str digest, str media type,
 *                  int64 fetched_at, str upstream ("" when pushed)
 *   links.db       repo NUL digest -> u8 kind (enum index_link_kind)
 *   manifests.db   digest -> str media type, int64 size, str artifact type,
 *                  u8 has subject, [str subject], u8 has annotations,
 *                  [str annotations (JSON)]
 *   referrers.db   repo NUL subject digest NUL manifest digest -> (empty)
 *   repos.db       repo -> (empty); present while repo has a link: added
 *                  by every link write, removed with the repo's last link
 *   uploads.db     upload id -> str repo, int64 offset, int64 started,
 *                  int64 updated
 *
 * A registry's entries are those of the repositories "registry/...": a
 * prefix scan finds them in tags, links, referrers and repos; uploads are
 * found by the repository in their value. index_registry_purge deletes
 * them table by table, at most INDEX_PURGE_BATCH keys visited per
 * transaction, so that a big registry never makes one huge transaction.
 *
 * Limits checked on every key: repo 1..DEPOT_REPO_MAX bytes, tag
 * 1..DEPOT_TAG_MAX, upload id 1..INDEX_UPLOAD_ID_MAX. Keys read back from a
 * scan that break them are skipped with a warning.
 *
 * Planned, not implemented yet:
 *   upstreams.db   upstream key -> health, retry-after deadline
 */
#include <sys/types.h>

#include <db.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/index.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/xmalloc.h"

#define INDEX_DIR_MODE		0750
#define INDEX_FILE_MODE		0640
#define INDEX_CACHE_BYTES	(16 * 1024 * 1024)
#define INDEX_THREAD_COUNT	256
#define INDEX_TXN_TRIES		8
#define INDEX_BACKOFF_USEC	1000	/* first pause; doubles each try */
#define INDEX_SCHEMA_VERSION	1
#define INDEX_NAME_MAX		255
#define INDEX_GATE_AFTER	3	/* tries before taking the gate */
#define INDEX_META_FILE		"meta.db"
#define INDEX_GATE_FILE		"index.gate"
#define INDEX_KEY_SCHEMA	"schema"
#define INDEX_KEY_HEALTH	"health"
#define INDEX_COUNTER_PREFIX	"c/"
#define INDEX_VALUE_VERSION	1
#define INDEX_UPLOAD_ID_MAX	64
#define INDEX_KEY_MAX		1024	/* longest key: a referrer, < 600 */
#define INDEX_STR_MAX		DEPOT_MANIFEST_MAX	/* any str field */
#define INDEX_PURGE_BATCH	512	/* keys visited per purge transaction */

#define INDEX_ENV_FLAGS	(DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK | \
	DB_INIT_LOG | DB_INIT_MPOOL)

/* The databases, opened together; INDEX_DB_META first. */
enum index_table {
	INDEX_DB_META,
	INDEX_DB_TAGS,
	INDEX_DB_LINKS,
	INDEX_DB_MANIFESTS,
	INDEX_DB_REFERRERS,
	INDEX_DB_REPOS,
	INDEX_DB_UPLOADS,
	INDEX_NDB
};

static const char *const index_files[INDEX_NDB] = {
	INDEX_META_FILE,
	"tags.db",
	"links.db",
	"manifests.db",
	"referrers.db",
	"repos.db",
	"uploads.db"
};

struct index {
	char		*ix_dir;
	enum index_role	 ix_role;
	DB_ENV		*ix_env;
	DB		*ix_db[INDEX_NDB];
	int		 ix_gate;	/* fd of INDEX_GATE_FILE, or -1 */
	int		 ix_broken;	/* failchk asked for recovery */
	unsigned int	 ix_seed;	/* jitter of retry pauses */
};

/* A unit of work run inside a transaction; returns a Berkeley DB code. */
typedef int	(*index_txn_fn)(struct index *, DB_TXN *, void *);

struct index_add {
	const char	**add_names;
	int		  add_count;
	int64_t		  add_delta;
	int64_t		 *add_out;
};

/* A value being encoded: grows as needed; a field out of range sticks. */
struct index_enc {
	unsigned char	*enc_data;
	size_t		 enc_len;
	size_t		 enc_size;
	int		 enc_bad;
};

/* A value being decoded: any error sticks. */
struct index_dec {
	const unsigned char	*dec_p;
	size_t			 dec_left;
	int			 dec_bad;
};

struct index_key {
	char		 key_buf[INDEX_KEY_MAX];
	size_t		 key_len;
};

/* One record of one table, read, written or deleted. */
struct index_rec {
	enum index_table	 rec_table;
	struct index_key	 rec_key;
	void			*rec_data;	/* when read: malloc'd */
	size_t			 rec_size;
};

/* A prefix scan that collects the rest of each key after the prefix. */
struct index_scan {
	enum index_table	 sc_table;
	struct index_key	 sc_from;	/* first key (DB_SET_RANGE) */
	size_t			 sc_prefix;	/* bytes of sc_from all share */
	size_t			 sc_rest_max;	/* longest valid rest */
	size_t			 sc_max;	/* 0: no limit */
	int			 sc_expired;	/* uploads updated before... */
	int64_t			 sc_before;	/* ... this time only */
	char			**sc_items;
	size_t			 sc_count;
};

/* A link (repo, digest) and what goes with it. */
struct index_link {
	const char		*ln_repo;
	const struct digest	*ln_digest;
	char			 ln_digest_str[DIGEST_STRING_MAX];
	struct index_key	 ln_key;	/* repo NUL digest */
	unsigned char		 ln_kind;
};

struct index_commit {
	struct index_link	 cm_link;
	struct index_key	 cm_tag;	/* key_len 0: no tag */
	struct index_key	 cm_referrer;	/* key_len 0: no subject */
	struct index_enc	 cm_manifest;
	struct index_enc	 cm_tag_value;
};

/* One batch of a registry purge in one table. */
struct index_purge {
	enum index_table	 pg_table;
	struct index_key	 pg_prefix;	/* "registry/" */
	struct index_key	 pg_from;	/* first key of the batch */
	struct index_key	 pg_next;	/* first key of the next batch */
	size_t			 pg_deleted;	/* by the batch */
	int			 pg_more;	/* a next batch is needed */
};

struct index_advance {
	struct index_key	 ad_key;
	int64_t			 ad_expect;
	int64_t			 ad_next;
};

static int	index_isalive(DB_ENV *, pid_t, db_threadid_t, u_int32_t);
static void	index_errcall(const DB_ENV *, const char *, const char *);
static void	index_msgcall(const DB_ENV *, const char *);
static int	index_env_create(DB_ENV **);
static int	index_env_open(struct index *, u_int32_t);
static u_int32_t index_role_flags(enum index_role);
static int	index_force_recovery(struct index *);
static int	index_gate_open(struct index *);
static void	index_gate(struct index *, short);
static int	index_dbs_txn(struct index *, DB_TXN *, void *);
static int	index_attach(struct index *, u_int32_t, const char **);
static void	index_detach(struct index *, int);
static void	index_set_cause(char **, const char *, const char *, int);
static int	index_ready(struct index *, const char *);
static int	index_retryable(int);
static void	index_backoff(struct index *, int);
static int	index_txn_once(struct index *, u_int32_t, index_txn_fn,
		    void *);
static int	index_txn_run(struct index *, const char *, u_int32_t,
		    index_txn_fn, void *);
static void	index_dbt(DBT *, void *, size_t);
static void	index_enc64(unsigned char *, int64_t);
static int64_t	index_dec64(const unsigned char *);
static int	index_name_ok(const char *, const char *);
static int	index_counter_key(const char *, char *, size_t, size_t *);
static int	index_read64(DB *, DB_TXN *, DBT *, u_int32_t, int64_t *);
static int	index_schema_txn(struct index *, DB_TXN *, void *);
static int	index_add_txn(struct index *, DB_TXN *, void *);
static int	index_get_txn(struct index *, DB_TXN *, void *);
static int	index_health_txn(struct index *, DB_TXN *, void *);
static int	index_str_ok(const char *, const char *, const char *, size_t);
static int	index_digest_fmt(const char *, const struct digest *, char *);
static int	index_key_make(struct index_key *, const char *, const char *,
		    const char *);
static void	index_enc_init(struct index_enc *);
static void	index_enc_bytes(struct index_enc *, const void *, size_t);
static void	index_enc_u8(struct index_enc *, unsigned int);
static void	index_enc_i64(struct index_enc *, int64_t);
static void	index_enc_str(struct index_enc *, const char *, size_t);
static void	index_enc_digest(struct index_enc *, const struct digest *);
static void	index_enc_free(struct index_enc *);
static void	index_dec_init(struct index_dec *, const void *, size_t);
static const unsigned char *index_dec_take(struct index_dec *, size_t);
static unsigned int index_dec_u8(struct index_dec *);
static int64_t	index_dec_i64(struct index_dec *);
static size_t	index_dec_len(struct index_dec *, size_t);
static void	index_dec_str(struct index_dec *, char *, size_t);
static char	*index_dec_strdup(struct index_dec *);
static void	index_dec_digest(struct index_dec *, struct digest *);
static int	index_dec_end(struct index_dec *, enum index_table);
static int	index_tag_encode(struct index_enc *, const struct index_tag *);
static int	index_tag_decode(const void *, size_t, struct index_tag *);
static int	index_manifest_encode(struct index_enc *,
		    const struct index_manifest *);
static int	index_manifest_decode(const void *, size_t,
		    struct index_manifest *);
static int	index_upload_encode(struct index_enc *,
		    const struct index_upload *);
static int	index_upload_decode(const void *, size_t,
		    struct index_upload *);
static int	index_link_decode(const void *, size_t,
		    enum index_link_kind *);
static int	index_link_init(struct index_link *, const char *, const char *,
		    const struct digest *);
static int	index_tag_rec(struct index_rec *, const char *, const char *,
		    const char *);
static int	index_upload_rec(struct index_rec *, const char *,
		    const char *);
static int	index_rec_get_txn(struct index *, DB_TXN *, void *);
static int	index_rec_put_txn(struct index *, DB_TXN *, void *);
static int	index_rec_del_txn(struct index *, DB_TXN *, void *);
static int	index_lookup(struct index *, const char *, struct index_rec *);
static int	index_store(struct index *, const char *, struct index_rec *,
		    struct index_enc *);
static int	index_remove(struct index *, const char *, struct index_rec *);
static void	index_scan_reset(struct index_scan *);
static int	index_scan_keep(struct index_scan *, const DBT *, const DBT *);
static int	index_scan_txn(struct index *, DB_TXN *, void *);
static int	index_scan_run(struct index *, const char *,
		    struct index_scan *, char ***, size_t *);
static int	index_put(struct index *, DB_TXN *, enum index_table,
		    const struct index_key *, const void *, size_t);
static int	index_del(struct index *, DB_TXN *, enum index_table,
		    const struct index_key *);
static int	index_has_prefix(const DBT *, const struct index_key *,
		    size_t);
static int	index_link_write(struct index *, DB_TXN *,
		    const struct index_link *);
static int	index_repo_prune(struct index *, DB_TXN *, const char *);
static int	index_untag(struct index *, DB_TXN *,
		    const struct index_link *);
static int	index_subject_drop(struct index *, DB_TXN *,
		    const struct index_link *);
static int	index_link_read(struct index *, DB_TXN *,
		    const struct index_key *, u_int32_t,
		    enum index_link_kind *);
static int	index_link_get_txn(struct index *, DB_TXN *, void *);
static int	index_link_put_txn(struct index *, DB_TXN *, void *);
static int	index_link_del_txn(struct index *, DB_TXN *, void *);
static int	index_commit_txn(struct index *, DB_TXN *, void *);
static int	index_unlink_txn(struct index *, DB_TXN *, void *);
static int	index_advance_txn(struct index *, DB_TXN *, void *);
static int	index_purge_match(const struct index_purge *, const DBT *);
static int	index_purge_txn(struct index *, DB_TXN *, void *);

/*
 * Test hook, deliberately not in index.h: store raw bytes under a raw key
 * of the named database file, so that tests can check how readers cope
 * with a damaged value. depot itself never calls it.
 */
int	index_test_put_raw(struct index *, const char *, const void *, size_t,
	    const void *, size_t);

/* A thread of control is alive while its process is. */
static int
index_isalive(DB_ENV *env, pid_t pid, db_threadid_t tid, u_int32_t flags)
{
	(void)env;
	(void)tid;
	(void)flags;
	return (kill(pid, 0) == 0 || errno == EPERM);
}

static void
index_errcall(const DB_ENV *env, const char *prefix, const char *msg)
{
	(void)env;
	(void)prefix;
	log_warnx("index: %s", msg);
}

/* Informational messages, e.g. what failchk released. */
static void
index_msgcall(const DB_ENV *env, const char *msg)
{
	(void)env;
	log_info("index: %s", msg);
}

/* Create an environment handle configured the same way in every process. */
static int
index_env_create(DB_ENV **envp)
{
	DB_ENV	*env;
	int	 ret;

	*envp = NULL;
	if ((ret = db_env_create(&env, 0)) != 0)
		return (ret);
	env->set_errcall(env, index_errcall);
	env->set_msgcall(env, index_msgcall);
	if ((ret = env->set_cachesize(env, 0, INDEX_CACHE_BYTES, 1)) != 0 ||
	    (ret = env->set_thread_count(env, INDEX_THREAD_COUNT)) != 0 ||
	    (ret = env->set_isalive(env, index_isalive)) != 0 ||
	    (ret = env->set_lk_detect(env, DB_LOCK_DEFAULT)) != 0 ||
	    (ret = env->log_set_config(env, DB_LOG_AUTO_REMOVE, 1)) != 0)
		goto fail;
	*envp = env;
	return (0);

fail:
	(void)env->close(env, 0);
	return (ret);
}

/* Open ix->ix_env with flags; on failure ix->ix_env stays NULL. */
static int
index_env_open(struct index *ix, u_int32_t flags)
{
	DB_ENV	*env;
	int	 ret;

	if ((ret = index_env_create(&env)) != 0)
		return (ret);
	if ((ret = env->open(env, ix->ix_dir, flags, INDEX_FILE_MODE)) != 0) {
		(void)env->close(env, 0);
		return (ret);
	}
	ix->ix_env = env;
	return (0);
}

static u_int32_t
index_role_flags(enum index_role role)
{
	if (role == INDEX_MASTER)
		return (INDEX_ENV_FLAGS | DB_REGISTER | DB_RECOVER);
	return (INDEX_ENV_FLAGS | DB_REGISTER | DB_FAILCHK);
}

/* Run recovery unconditionally: without DB_REGISTER, DB_RECOVER always runs. */
static int
index_force_recovery(struct index *ix)
{
	DB_ENV	*env;
	int	 ret, t_ret;

	if ((ret = index_env_create(&env)) != 0)
		return (ret);
	ret = env->open(env, ix->ix_dir, INDEX_ENV_FLAGS | DB_RECOVER,
	    INDEX_FILE_MODE);
	if ((t_ret = env->close(env, 0)) != 0 && ret == 0)
		ret = t_ret;
	return (ret);
}

/* Open (create) the gate file that starved transactions lock. */
static int
index_gate_open(struct index *ix)
{
	char	 path[4096];

	if (path_fmt(path, sizeof(path), "%s/%s", ix->ix_dir,
	    INDEX_GATE_FILE) == -1)
		return (errno);
	ix->ix_gate = open(path, O_RDWR | O_CREAT | O_CLOEXEC,
	    INDEX_FILE_MODE);
	if (ix->ix_gate == -1)
		return (errno);
	return (0);
}

/*
 * Lock (F_RDLCK, F_WRLCK) or unlock (F_UNLCK) the gate, waiting as needed.
 * The kernel drops the lock of a process that dies, so a dead holder never
 * blocks anyone. The gate only buys fairness: failures are logged and
 * ignored.
 */
static void
index_gate(struct index *ix, short type)
{
	struct flock	 fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = 0;
	fl.l_len = 1;
	while (fcntl(ix->ix_gate, F_SETLKW, &fl) == -1)
		if (errno != EINTR) {
			log_warn("%s: %s", __func__, ix->ix_dir);
			return;
		}
}

/*
 * Open every database inside txn. Handles left by an earlier try whose
 * commit failed are closed first; the caller closes those of a failed last
 * try.
 */
static int
index_dbs_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	DB	*db;
	int	 i, ret;

	(void)arg;
	for (i = 0; i < INDEX_NDB; i++)
		if (ix->ix_db[i] != NULL) {
			(void)ix->ix_db[i]->close(ix->ix_db[i], 0);
			ix->ix_db[i] = NULL;
		}
	for (i = 0; i < INDEX_NDB; i++) {
		if ((ret = db_create(&db, ix->ix_env, 0)) != 0)
			return (ret);
		if ((ret = db->open(db, txn, index_files[i], NULL, DB_BTREE,
		    DB_CREATE | DB_MULTIVERSION, INDEX_FILE_MODE)) != 0) {
			(void)db->close(db, 0);
			return (ret);
		}
		ix->ix_db[i] = db;
	}
	return (0);
}

/* Open the environment and the databases; *what names the failing step. */
static int
index_attach(struct index *ix, u_int32_t flags, const char **what)
{
	int		 store = 1;
	int		 ret;

	*what = "open " INDEX_GATE_FILE;
	if ((ret = index_gate_open(ix)) != 0)
		goto fail;
	*what = "open environment";
	if ((ret = index_env_open(ix, flags)) != 0)
		goto fail;
	*what = "open databases";
	if ((ret = index_txn_run(ix, *what, 0, index_dbs_txn, NULL)) != 0)
		goto fail;
	*what = "check schema";
	ret = index_txn_run(ix, *what, DB_TXN_SNAPSHOT, index_schema_txn, NULL);
	if (ret == DB_NOTFOUND)
		ret = index_txn_run(ix, *what, 0, index_schema_txn, &store);
	if (ret != 0)
		goto fail;
	return (0);

fail:
	index_detach(ix, 0);
	return (ret);
}

/* Close the database handles, then the environment; quiet after a panic. */
static void
index_detach(struct index *ix, int quiet)
{
	int	 i, ret;

	for (i = 0; i < INDEX_NDB; i++) {
		if (ix->ix_db[i] == NULL)
			continue;
		if ((ret = ix->ix_db[i]->close(ix->ix_db[i], 0)) != 0 &&
		    !quiet)
			log_warnx("%s: close %s: %s", __func__,
			    index_files[i], db_strerror(ret));
		ix->ix_db[i] = NULL;
	}
	if (ix->ix_env != NULL) {
		if ((ret = ix->ix_env->close(ix->ix_env, 0)) != 0 && !quiet)
			log_warnx("%s: close environment %s: %s", __func__,
			    ix->ix_dir, db_strerror(ret));
		ix->ix_env = NULL;
	}
	if (ix->ix_gate != -1) {
		close(ix->ix_gate);
		ix->ix_gate = -1;
	}
}

static void
index_set_cause(char **cause, const char *dir, const char *what, int ret)
{
	if (cause != NULL)
		xasprintf(cause, "index %s: %s: %s", dir, what,
		    db_strerror(ret));
}

static int
index_ready(struct index *ix, const char *func)
{
	if (ix == NULL || ix->ix_env == NULL ||
	    ix->ix_db[INDEX_DB_META] == NULL) {
		log_warnx("%s: index not open", func);
		return (0);
	}
	return (1);
}

static int
index_retryable(int ret)
{
	return (ret == DB_LOCK_DEADLOCK || ret == DB_LOCK_NOTGRANTED);
}

/*
 * Pause before try number try (1, 2, ...): a random time up to
 * INDEX_BACKOFF_USEC << (try - 1), so that contenders spread out.
 */
static void
index_backoff(struct index *ix, int try)
{
	unsigned int	 span = INDEX_BACKOFF_USEC << (try - 1);

	if (ix->ix_seed == 0)
		ix->ix_seed = (unsigned int)getpid() ^ (unsigned int)now_ms();
	usleep(span / 2 + (unsigned int)rand_r(&ix->ix_seed) % (span / 2 + 1));
}

/* Run fn in a new transaction and commit it; a Berkeley DB code. */
static int
index_txn_once(struct index *ix, u_int32_t txn_flags, index_txn_fn fn,
    void *arg)
{
	DB_TXN	*txn;
	int	 ret;

	if ((ret = ix->ix_env->txn_begin(ix->ix_env, NULL, &txn,
	    txn_flags | DB_TXN_NOWAIT)) != 0)
		return (ret);
	if ((ret = fn(ix, txn, arg)) != 0) {
		(void)txn->abort(txn);
		return (ret);
	}
	return (txn->commit(txn, 0));
}

/*
 * Run fn in a transaction begun with txn_flags and commit it. Returns 0 or
 * the Berkeley DB (or errno) code; DB_NOTFOUND is passed on quietly.
 *
 * Transactions never wait for a lock (DB_TXN_NOWAIT): with Berkeley DB 5.3
 * and a current glibc, failchk hangs for good in pthread_cond_destroy when
 * it frees the lock request of a process that was killed while waiting for
 * that lock (the dead waiter is still counted on the condition variable).
 * Without waiters there is no deadlock either: a conflict comes back at
 * once as DB_LOCK_DEADLOCK or DB_LOCK_NOTGRANTED, the transaction is
 * aborted and run again after a random, growing pause, up to
 * INDEX_TXN_TRIES times.
 *
 * Lock requests that do not wait are not served in order, so a busy writer
 * could starve the others. Every writer therefore passes a gate (a shared
 * fcntl lock on INDEX_GATE_FILE, taken and dropped) before each try, and
 * one that failed INDEX_GATE_AFTER times holds the gate exclusively for its
 * remaining tries: new writers wait at the gate, the ones in flight finish,
 * and the starved transaction gets through. Snapshot reads take no locks
 * and skip the gate.
 */
static int
index_txn_run(struct index *ix, const char *what, u_int32_t txn_flags,
    index_txn_fn fn, void *arg)
{
	int	 gated = 0, ret = 0, try;

	for (try = 0; try < INDEX_TXN_TRIES; try++) {
		if (try > 0) {
			log_debug("%s: %s: retry %d", __func__, what, try);
			index_backoff(ix, try);
		}
		if ((txn_flags & DB_TXN_SNAPSHOT) == 0 && !gated) {
			if (try >= INDEX_GATE_AFTER) {
				index_gate(ix, F_WRLCK);
				gated = 1;
			} else {
				index_gate(ix, F_RDLCK);
				index_gate(ix, F_UNLCK);
			}
		}
		ret = index_txn_once(ix, txn_flags, fn, arg);
		if (!index_retryable(ret))
			break;
	}
	if (gated)
		index_gate(ix, F_UNLCK);
	if (ret != 0 && ret != DB_NOTFOUND)
		log_warnx("%s: %s: %s", __func__, what, db_strerror(ret));
	return (ret);
}

/* Point dbt at a caller buffer of size bytes, used for keys and values. */
static void
index_dbt(DBT *dbt, void *data, size_t size)
{
	memset(dbt, 0, sizeof(*dbt));
	dbt->data = data;
	dbt->size = (u_int32_t)size;
	dbt->ulen = (u_int32_t)size;
	dbt->flags = DB_DBT_USERMEM;
}

static void
index_enc64(unsigned char *p, int64_t value)
{
	uint64_t	 u = (uint64_t)value;
	int		 i;

	for (i = 7; i >= 0; i--) {
		p[i] = (unsigned char)(u & 0xff);
		u >>= 8;
	}
}

static int64_t
index_dec64(const unsigned char *p)
{
	uint64_t	 u = 0;
	int		 i;

	for (i = 0; i < 8; i++)
		u = (u << 8) | p[i];
	if (u <= INT64_MAX)
		return ((int64_t)u);
	return (-(int64_t)(~u) - 1);
}

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
 * when none is stored yet), or the flag that allows storing it.
 */
static int
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

/* A name of 1 to max bytes (a C string cannot hold the NUL separator). */
static int
index_str_ok(const char *func, const char *what, const char *s, size_t max)
{
	size_t	 n;

	if (s == NULL || (n = strnlen(s, max + 1)) == 0 || n > max) {
		log_warnx("%s: bad %s", func, what);
		return (0);
	}
	return (1);
}

/* Check a parsed digest and format it into buf (DIGEST_STRING_MAX). */
static int
index_digest_fmt(const char *func, const struct digest *d, char *buf)
{
	struct digest	 check;

	if (d == NULL || (d->alg != DIGEST_SHA256 && d->alg != DIGEST_SHA512) ||
	    strnlen(d->hex, sizeof(d->hex)) != digest_hex_len(d->alg))
		goto fail;
	digest_format(d, buf, DIGEST_STRING_MAX);
	if (digest_parse(buf, &check, NULL) == -1)
		goto fail;
	return (0);

fail:
	log_warnx("%s: bad digest", func);
	return (-1);
}

/* Key of parts a, b, c (b and c may be NULL) joined by NUL bytes. */
static int
index_key_make(struct index_key *k, const char *a, const char *b,
    const char *c)
{
	const char	*parts[3];
	size_t		 len, i;

	parts[0] = a;
	parts[1] = b;
	parts[2] = b != NULL ? c : NULL;
	k->key_len = 0;
	for (i = 0; i < 3 && parts[i] != NULL; i++) {
		len = strlen(parts[i]);
		if (len + 1 > sizeof(k->key_buf) - k->key_len) {
			log_warnx("%s: key too long", __func__);
			k->key_len = 0;
			return (-1);
		}
		if (i > 0)
			k->key_buf[k->key_len++] = '\0';
		memcpy(k->key_buf + k->key_len, parts[i], len);
		k->key_len += len;
	}
	return (0);
}

static void
index_enc_init(struct index_enc *e)
{
	memset(e, 0, sizeof(*e));
	index_enc_u8(e, INDEX_VALUE_VERSION);
}

static void
index_enc_bytes(struct index_enc *e, const void *p, size_t n)
{
	size_t	 size;

	if (e->enc_size - e->enc_len < n) {
		size = e->enc_size == 0 ? 64 : e->enc_size;
		while (size - e->enc_len < n)
			size *= 2;
		e->enc_data = xreallocarray(e->enc_data, 1, size);
		e->enc_size = size;
	}
	if (n > 0)
		memcpy(e->enc_data + e->enc_len, p, n);
	e->enc_len += n;
}

static void
index_enc_u8(struct index_enc *e, unsigned int v)
{
	unsigned char	 c = (unsigned char)v;

	index_enc_bytes(e, &c, 1);
}

static void
index_enc_i64(struct index_enc *e, int64_t v)
{
	unsigned char	 buf[8];

	index_enc64(buf, v);
	index_enc_bytes(e, buf, sizeof(buf));
}

/* A uint32 byte count, then the bytes; longer than max sets enc_bad. */
static void
index_enc_str(struct index_enc *e, const char *s, size_t max)
{
	unsigned char	 buf[4];
	size_t		 n;

	if (s == NULL || (n = strnlen(s, max + 1)) > max) {
		e->enc_bad = 1;
		return;
	}
	buf[0] = (unsigned char)(n >> 24);
	buf[1] = (unsigned char)(n >> 16);
	buf[2] = (unsigned char)(n >> 8);
	buf[3] = (unsigned char)n;
	index_enc_bytes(e, buf, sizeof(buf));
	index_enc_bytes(e, s, n);
}

static void
index_enc_digest(struct index_enc *e, const struct digest *d)
{
	char	 buf[DIGEST_STRING_MAX];

	if (index_digest_fmt(__func__, d, buf) == -1) {
		e->enc_bad = 1;
		return;
	}
	index_enc_str(e, buf, DIGEST_STRING_MAX - 1);
}

static void
index_enc_free(struct index_enc *e)
{
	free(e->enc_data);
	memset(e, 0, sizeof(*e));
}

/* Start decoding a value: it must begin with our version byte. */
static void
index_dec_init(struct index_dec *d, const void *data, size_t size)
{
	const unsigned char	*p = data;

	d->dec_bad = size < 1 || p == NULL || p[0] != INDEX_VALUE_VERSION;
	d->dec_p = d->dec_bad ? NULL : p + 1;
	d->dec_left = d->dec_bad ? 0 : size - 1;
}

/* The next n bytes, or NULL (and dec_bad) when fewer are left. */
static const unsigned char *
index_dec_take(struct index_dec *d, size_t n)
{
	const unsigned char	*p;

	if (d->dec_bad || d->dec_left < n) {
		d->dec_bad = 1;
		return (NULL);
	}
	p = d->dec_p;
	d->dec_p += n;
	d->dec_left -= n;
	return (p);
}

static unsigned int
index_dec_u8(struct index_dec *d)
{
	const unsigned char	*p;

	if ((p = index_dec_take(d, 1)) == NULL)
		return (0);
	return (p[0]);
}

static int64_t
index_dec_i64(struct index_dec *d)
{
	const unsigned char	*p;

	if ((p = index_dec_take(d, 8)) == NULL)
		return (0);
	return (index_dec64(p));
}

/* The byte count of a str field: at most max and what is left. */
static size_t
index_dec_len(struct index_dec *d, size_t max)
{
	const unsigned char	*p;
	size_t			 n;

	if ((p = index_dec_take(d, 4)) == NULL)
		return (0);
	n = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 |
	    (size_t)p[3];
	if (n > max || n > d->dec_left) {
		d->dec_bad = 1;
		return (0);
	}
	return (n);
}

/* A str field into buf of size bytes, NUL ended; "" when bad. */
static void
index_dec_str(struct index_dec *d, char *buf, size_t size)
{
	const unsigned char	*p;
	size_t			 n;

	buf[0] = '\0';
	n = index_dec_len(d, size - 1);
	if ((p = index_dec_take(d, n)) == NULL || memchr(p, '\0', n) != NULL) {
		d->dec_bad = 1;
		return;
	}
	memcpy(buf, p, n);
	buf[n] = '\0';
}

/* A str field, allocated; NULL when bad. Caller frees. */
static char *
index_dec_strdup(struct index_dec *d)
{
	const unsigned char	*p;
	size_t			 n;

	n = index_dec_len(d, INDEX_STR_MAX);
	if ((p = index_dec_take(d, n)) == NULL || memchr(p, '\0', n) != NULL) {
		d->dec_bad = 1;
		return (NULL);
	}
	return (xstrndup((const char *)p, n));
}

static void
index_dec_digest(struct index_dec *d, struct digest *out)
{
	char	 buf[DIGEST_STRING_MAX];

	index_dec_str(d, buf, sizeof(buf));
	if (!d->dec_bad && digest_parse(buf, out, NULL) == -1)
		d->dec_bad = 1;
}

/* Finish decoding: every byte used, nothing bad. 0 or EINVAL (logged). */
static int
index_dec_end(struct index_dec *d, enum index_table table)
{
	if (d->dec_bad || d->dec_left != 0) {
		log_warnx("%s: %s: garbled value", __func__,
		    index_files[table]);
		return (EINVAL);
	}
	return (0);
}

static int
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

static int
index_manifest_encode(struct index_enc *e, const struct index_manifest *m)
{
	index_enc_init(e);
	index_enc_str(e, m->im_media_type, sizeof(m->im_media_type) - 1);
	if (m->im_size < 0)
		e->enc_bad = 1;
	index_enc_i64(e, m->im_size);
	index_enc_str(e, m->im_artifact_type,
	    sizeof(m->im_artifact_type) - 1);
	index_enc_u8(e, m->im_has_subject != 0);
	if (m->im_has_subject)
		index_enc_digest(e, &m->im_subject);
	index_enc_u8(e, m->im_annotations != NULL);
	if (m->im_annotations != NULL)
		index_enc_str(e, m->im_annotations, INDEX_STR_MAX);
	return (e->enc_bad ? -1 : 0);
}

/* Decode into m (cleared first); m holds nothing to free on failure. */
static int
index_manifest_decode(const void *data, size_t size,
    struct index_manifest *m)
{
	struct index_dec	 d;
	unsigned int		 flag;

	memset(m, 0, sizeof(*m));
	index_dec_init(&d, data, size);
	index_dec_str(&d, m->im_media_type, sizeof(m->im_media_type));
	if ((m->im_size = index_dec_i64(&d)) < 0)
		d.dec_bad = 1;
	index_dec_str(&d, m->im_artifact_type, sizeof(m->im_artifact_type));
	if ((flag = index_dec_u8(&d)) > 1)
		d.dec_bad = 1;
	if ((m->im_has_subject = flag == 1))
		index_dec_digest(&d, &m->im_subject);
	if ((flag = index_dec_u8(&d)) > 1)
		d.dec_bad = 1;
	if (flag == 1)
		m->im_annotations = index_dec_strdup(&d);
	if (index_dec_end(&d, INDEX_DB_MANIFESTS) != 0) {
		index_manifest_clear(m);
		return (EINVAL);
	}
	return (0);
}

static int
index_upload_encode(struct index_enc *e, const struct index_upload *u)
{
	index_enc_init(e);
	if (strnlen(u->iu_repo, sizeof(u->iu_repo)) == 0 || u->iu_offset < 0)
		e->enc_bad = 1;
	index_enc_str(e, u->iu_repo, sizeof(u->iu_repo) - 1);
	index_enc_i64(e, u->iu_offset);
	index_enc_i64(e, u->iu_started);
	index_enc_i64(e, u->iu_updated);
	return (e->enc_bad ? -1 : 0);
}

static int
index_upload_decode(const void *data, size_t size, struct index_upload *u)
{
	struct index_dec	 d;

	memset(u, 0, sizeof(*u));
	index_dec_init(&d, data, size);
	index_dec_str(&d, u->iu_repo, sizeof(u->iu_repo));
	if ((u->iu_offset = index_dec_i64(&d)) < 0 || u->iu_repo[0] == '\0')
		d.dec_bad = 1;
	u->iu_started = index_dec_i64(&d);
	u->iu_updated = index_dec_i64(&d);
	return (index_dec_end(&d, INDEX_DB_UPLOADS));
}

static int
index_link_decode(const void *data, size_t size, enum index_link_kind *kind)
{
	struct index_dec	 d;
	unsigned int		 v;

	index_dec_init(&d, data, size);
	v = index_dec_u8(&d);
	if (v != INDEX_LINK_BLOB && v != INDEX_LINK_MANIFEST)
		d.dec_bad = 1;
	*kind = v == INDEX_LINK_BLOB ? INDEX_LINK_BLOB : INDEX_LINK_MANIFEST;
	return (index_dec_end(&d, INDEX_DB_LINKS));
}

/* Check repo and digest, and build the link key. 0 or -1 (logged). */
static int
index_link_init(struct index_link *ln, const char *func, const char *repo,
    const struct digest *d)
{
	memset(ln, 0, sizeof(*ln));
	if (!index_str_ok(func, "repository", repo, DEPOT_REPO_MAX) ||
	    index_digest_fmt(func, d, ln->ln_digest_str) == -1)
		return (-1);
	ln->ln_repo = repo;
	ln->ln_digest = d;
	return (index_key_make(&ln->ln_key, repo, ln->ln_digest_str, NULL));
}

/* Read one record into rec_data (malloc'd); freed on failure. */
static int
index_rec_get_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	struct index_rec	*rec = arg;
	DB			*db = ix->ix_db[rec->rec_table];
	DBT			 key, data;
	int			 ret;

	free(rec->rec_data);
	rec->rec_data = NULL;
	rec->rec_size = 0;
	index_dbt(&key, rec->rec_key.key_buf, rec->rec_key.key_len);
	memset(&data, 0, sizeof(data));
	data.flags = DB_DBT_MALLOC;
	if ((ret = db->get(db, txn, &key, &data, 0)) != 0)
		return (ret);
	rec->rec_data = data.data;
	rec->rec_size = data.size;
	return (0);
}

static int
index_rec_put_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	struct index_rec	*rec = arg;

	return (index_put(ix, txn, rec->rec_table, &rec->rec_key,
	    rec->rec_data, rec->rec_size));
}

static int
index_rec_del_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	struct index_rec	*rec = arg;

	return (index_del(ix, txn, rec->rec_table, &rec->rec_key));
}

/* Snapshot read of rec: 1 found (caller frees rec_data), 0 absent, -1. */
static int
index_lookup(struct index *ix, const char *what, struct index_rec *rec)
{
	int	 ret;

	rec->rec_data = NULL;
	ret = index_txn_run(ix, what, DB_TXN_SNAPSHOT, index_rec_get_txn, rec);
	if (ret == DB_NOTFOUND)
		return (0);
	return (ret == 0 ? 1 : -1);
}

/* Write the encoded value e at rec, then free e. 0 or -1. */
static int
index_store(struct index *ix, const char *what, struct index_rec *rec,
    struct index_enc *e)
{
	int	 ret;

	rec->rec_data = e->enc_data;
	rec->rec_size = e->enc_len;
	ret = index_txn_run(ix, what, 0, index_rec_put_txn, rec);
	index_enc_free(e);
	return (ret == 0 ? 0 : -1);
}

/* 1 deleted, 0 absent, -1 error. */
static int
index_remove(struct index *ix, const char *what, struct index_rec *rec)
{
	int	 ret;

	ret = index_txn_run(ix, what, 0, index_rec_del_txn, rec);
	if (ret == DB_NOTFOUND)
		return (0);
	return (ret == 0 ? 1 : -1);
}

static void
index_scan_reset(struct index_scan *sc)
{
	index_strings_free(sc->sc_items, sc->sc_count);
	sc->sc_items = NULL;
	sc->sc_count = 0;
}

/*
 * Collect the rest of key after the prefix, when it is a valid name (else
 * skip it with a warning) and, for an expiry scan, the upload is old enough
 * or garbled (so that it gets cleaned up too).
 */
static int
index_scan_keep(struct index_scan *sc, const DBT *key, const DBT *data)
{
	struct index_upload	 u;
	const char		*rest = (const char *)key->data + sc->sc_prefix;
	size_t			 len = key->size - sc->sc_prefix;

	if (len == 0 || len > sc->sc_rest_max || memchr(rest, '\0', len)) {
		log_warnx("%s: %s: garbled key skipped", __func__,
		    index_files[sc->sc_table]);
		return (0);
	}
	if (sc->sc_expired &&
	    index_upload_decode(data->data, data->size, &u) == 0 &&
	    u.iu_updated >= sc->sc_before)
		return (0);
	sc->sc_items = xreallocarray(sc->sc_items, sc->sc_count + 1,
	    sizeof(*sc->sc_items));
	sc->sc_items[sc->sc_count++] = xstrndup(rest, len);
	return (0);
}

/*
 * Walk the keys from sc_from while they start with its first sc_prefix
 * bytes, up to sc_max kept ones. Cursor memory belongs to the library and
 * stays valid until the next call on the cursor.
 */
static int
index_scan_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	struct index_scan	*sc = arg;
	DB			*db = ix->ix_db[sc->sc_table];
	DBC			*dbc;
	DBT			 key, data;
	u_int32_t		 op = DB_SET_RANGE;
	int			 ret = 0, t_ret;

	index_scan_reset(sc);
	if ((ret = db->cursor(db, txn, &dbc, 0)) != 0)
		return (ret);
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = sc->sc_from.key_buf;
	key.size = (u_int32_t)sc->sc_from.key_len;
	if (key.size == 0)
		op = DB_FIRST;
	while (sc->sc_max == 0 || sc->sc_count < sc->sc_max) {
		if ((ret = dbc->get(dbc, &key, &data, op)) != 0)
			break;
		op = DB_NEXT;
		if (!index_has_prefix(&key, &sc->sc_from, sc->sc_prefix))
			break;
		if ((ret = index_scan_keep(sc, &key, &data)) != 0)
			break;
	}
	if (ret == DB_NOTFOUND)
		ret = 0;
	if ((t_ret = dbc->close(dbc)) != 0 && ret == 0)
		ret = t_ret;
	return (ret);
}

/* Run a scan in a snapshot; *items (caller frees) and *count. 0 or -1. */
static int
index_scan_run(struct index *ix, const char *what, struct index_scan *sc,
    char ***items, size_t *count)
{
	int	 ret;

	ret = index_txn_run(ix, what, DB_TXN_SNAPSHOT, index_scan_txn, sc);
	if (ret != 0) {
		index_scan_reset(sc);
		return (-1);
	}
	*items = sc->sc_items;
	*count = sc->sc_count;
	return (0);
}

static int
index_put(struct index *ix, DB_TXN *txn, enum index_table table,
    const struct index_key *k, const void *value, size_t size)
{
	DB	*db = ix->ix_db[table];
	DBT	 key, data;

	index_dbt(&key, (void *)k->key_buf, k->key_len);
	index_dbt(&data, (void *)value, size);
	return (db->put(db, txn, &key, &data, 0));
}

static int
index_del(struct index *ix, DB_TXN *txn, enum index_table table,
    const struct index_key *k)
{
	DB	*db = ix->ix_db[table];
	DBT	 key;

	index_dbt(&key, (void *)k->key_buf, k->key_len);
	return (db->del(db, txn, &key, 0));
}

/* Does key start with the first len bytes of k? */
static int
index_has_prefix(const DBT *key, const struct index_key *k, size_t len)
{
	return (key->size >= len && memcmp(key->data, k->key_buf, len) == 0);
}

/* Store the link, and the repository when it is not listed yet. */
static int
index_link_write(struct index *ix, DB_TXN *txn, const struct index_link *ln)
{
	DB			*repos = ix->ix_db[INDEX_DB_REPOS];
	struct index_key	 rkey;
	unsigned char		 value[2];
	DBT			 key, data;
	int			 ret;

	value[0] = INDEX_VALUE_VERSION;
	value[1] = ln->ln_kind;
	if ((ret = index_put(ix, txn, INDEX_DB_LINKS, &ln->ln_key, value,
	    sizeof(value))) != 0)
		return (ret);
	if (index_key_make(&rkey, ln->ln_repo, NULL, NULL) == -1)
		return (EINVAL);
	index_dbt(&key, rkey.key_buf, rkey.key_len);
	index_dbt(&data, NULL, 0);
	ret = repos->put(repos, txn, &key, &data, DB_NOOVERWRITE);
	return (ret == DB_KEYEXIST ? 0 : ret);
}

/* Drop repo from the repository list when it has no link left. */
static int
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

/* Delete every tag of the link's repository that points at its digest. */
static int
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

/* Delete the referrer entry of the link's manifest, when it has a subject. */
static int
index_subject_drop(struct index *ix, DB_TXN *txn, const struct index_link *ln)
{
	struct index_rec	 rec;
	struct index_manifest	 m;
	struct index_key	 rkey;
	char			 subject[DIGEST_STRING_MAX];
	int			 ret;

	memset(&rec, 0, sizeof(rec));
	rec.rec_table = INDEX_DB_MANIFESTS;
	if (index_key_make(&rec.rec_key, ln->ln_digest_str, NULL, NULL) == -1)
		return (EINVAL);
	ret = index_rec_get_txn(ix, txn, &rec);
	if (ret == DB_NOTFOUND)
		return (0);
	if (ret != 0)
		return (ret);
	ret = index_manifest_decode(rec.rec_data, rec.rec_size, &m);
	free(rec.rec_data);
	if (ret != 0)
		return (ret);
	if (m.im_has_subject) {
		digest_format(&m.im_subject, subject, sizeof(subject));
		if (index_key_make(&rkey, ln->ln_repo, subject,
		    ln->ln_digest_str) == -1)
			ret = EINVAL;
		else if ((ret = index_del(ix, txn, INDEX_DB_REFERRERS,
		    &rkey)) == DB_NOTFOUND)
			ret = 0;
	}
	index_manifest_clear(&m);
	return (ret);
}

/* The kind of a link: DB_NOTFOUND when absent, EINVAL when garbled. */
static int
index_link_read(struct index *ix, DB_TXN *txn, const struct index_key *k,
    u_int32_t flags, enum index_link_kind *kind)
{
	DB		*links = ix->ix_db[INDEX_DB_LINKS];
	unsigned char	 buf[16];
	DBT		 key, data;
	int		 ret;

	index_dbt(&key, (void *)k->key_buf, k->key_len);
	index_dbt(&data, buf, sizeof(buf));
	ret = links->get(links, txn, &key, &data, flags);
	if (ret == DB_BUFFER_SMALL)	/* longer than any link value */
		data.size = 0;
	else if (ret != 0)
		return (ret);
	return (index_link_decode(buf, data.size, kind));
}

static int
index_link_get_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	struct index_link	*ln = arg;
	enum index_link_kind	 kind;
	int			 ret;

	if ((ret = index_link_read(ix, txn, &ln->ln_key, 0, &kind)) == 0)
		ln->ln_kind = (unsigned char)kind;
	return (ret);
}

static int
index_link_put_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	return (index_link_write(ix, txn, arg));
}

/* Delete a link (DB_NOTFOUND when absent) and prune its repository. */
static int
index_link_del_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	struct index_link	*ln = arg;
	int			 ret;

	if ((ret = index_del(ix, txn, INDEX_DB_LINKS, &ln->ln_key)) != 0)
		return (ret);
	return (index_repo_prune(ix, txn, ln->ln_repo));
}

static int
index_commit_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	struct index_commit	*cm = arg;
	struct index_key	 mkey;
	int			 ret;

	if (index_key_make(&mkey, cm->cm_link.ln_digest_str, NULL, NULL) == -1)
		return (EINVAL);
	if ((ret = index_put(ix, txn, INDEX_DB_MANIFESTS, &mkey,
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
	if ((ret = index_del(ix, txn, INDEX_DB_LINKS, &ln->ln_key)) != 0 ||
	    (ret = index_untag(ix, txn, ln)) != 0 ||
	    (ret = index_subject_drop(ix, txn, ln)) != 0)
		return (ret);
	return (index_repo_prune(ix, txn, ln->ln_repo));
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
	DB			*db = ix->ix_db[INDEX_DB_UPLOADS];
	DBT			 key, data;
	int			 ret;

	index_dbt(&key, ad->ad_key.key_buf, ad->ad_key.key_len);
	memset(&data, 0, sizeof(data));
	data.flags = DB_DBT_MALLOC;
	if ((ret = db->get(db, txn, &key, &data, DB_RMW)) != 0)
		return (ret);
	ret = index_upload_decode(data.data, data.size, &u);
	free(data.data);
	if (ret != 0)
		return (ret);
	if (u.iu_offset != ad->ad_expect)
		return (DB_NOTFOUND);
	u.iu_offset = ad->ad_next;
	u.iu_updated = (int64_t)time(NULL);
	if (index_upload_encode(&e, &u) == -1) {
		index_enc_free(&e);
		return (EINVAL);
	}
	ret = index_put(ix, txn, INDEX_DB_UPLOADS, &ad->ad_key, e.enc_data,
	    e.enc_len);
	index_enc_free(&e);
	return (ret);
}

/* Does this entry belong to the registry being purged? */
static int
index_purge_match(const struct index_purge *pg, const DBT *data)
{
	struct index_upload	 u;

	/* An upload names its repository in its value; a garbled one is
	 * left for the expiry. */
	if (pg->pg_table != INDEX_DB_UPLOADS)
		return (1);
	if (index_upload_decode(data->data, data->size, &u) != 0)
		return (0);
	return (strncmp(u.iu_repo, pg->pg_prefix.key_buf,
	    pg->pg_prefix.key_len) == 0);
}

/*
 * Delete the matching entries among at most INDEX_PURGE_BATCH keys from
 * pg_from; set pg_next to the first key not visited when more remain.
 * Keyed tables stop at the end of the prefix; uploads are all walked.
 */
static int
index_purge_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	struct index_purge	*pg = arg;
	DB			*db = ix->ix_db[pg->pg_table];
	DBC			*dbc;
	DBT			 key, data;
	u_int32_t		 op = DB_SET_RANGE;
	size_t			 seen = 0;
	int			 ret, t_ret;

	pg->pg_deleted = 0;
	pg->pg_more = 0;
	if ((ret = db->cursor(db, txn, &dbc, 0)) != 0)
		return (ret);
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = pg->pg_from.key_buf;
	key.size = (u_int32_t)pg->pg_from.key_len;
	if (key.size == 0)
		op = DB_FIRST;
	while ((ret = dbc->get(dbc, &key, &data, op | DB_RMW)) == 0) {
		op = DB_NEXT;
		if (pg->pg_table != INDEX_DB_UPLOADS &&
		    !index_has_prefix(&key, &pg->pg_prefix,
		    pg->pg_prefix.key_len))
			break;
		if (seen++ == INDEX_PURGE_BATCH) {
			if (key.size > sizeof(pg->pg_next.key_buf)) {
				ret = EINVAL;
				break;
			}
			memcpy(pg->pg_next.key_buf, key.data, key.size);
			pg->pg_next.key_len = key.size;
			pg->pg_more = 1;
			break;
		}
		if (!index_purge_match(pg, &data))
			continue;
		if ((ret = dbc->del(dbc, 0)) != 0)
			break;
		pg->pg_deleted++;
	}
	if (ret == DB_NOTFOUND)
		ret = 0;
	if ((t_ret = dbc->close(dbc)) != 0 && ret == 0)
		ret = t_ret;
	return (ret);
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

/* Check an upload id and aim rec at its record. 0 or -1 (logged). */
static int
index_upload_rec(struct index_rec *rec, const char *func, const char *id)
{
	memset(rec, 0, sizeof(*rec));
	rec->rec_table = INDEX_DB_UPLOADS;
	if (!index_str_ok(func, "upload id", id, INDEX_UPLOAD_ID_MAX))
		return (-1);
	return (index_key_make(&rec->rec_key, id, NULL, NULL));
}

struct index *
index_open(const char *dir, enum index_role role, int *need_recovery,
    char **cause)
{
	struct index	*ix;
	const char	*what;
	int		 ret;

	if (need_recovery != NULL)
		*need_recovery = 0;
	if (mkdir_p(dir, INDEX_DIR_MODE) == -1) {
		ret = errno;
		index_set_cause(cause, dir, "create directory", ret);
		return (NULL);
	}
	ix = xcalloc(1, sizeof(*ix));
	ix->ix_dir = xstrdup(dir);
	ix->ix_role = role;
	ix->ix_gate = -1;
	if ((ret = index_attach(ix, index_role_flags(role), &what)) != 0)
		goto fail;
	return (ix);

fail:
	if (ret == DB_RUNRECOVERY && need_recovery != NULL)
		*need_recovery = 1;
	index_set_cause(cause, dir, what, ret);
	index_close(ix);
	return (NULL);
}

void
index_close(struct index *ix)
{
	if (ix == NULL)
		return;
	index_detach(ix, ix->ix_broken);
	free(ix->ix_dir);
	free(ix);
}

int
index_failchk(struct index *ix)
{
	int	 ret;

	if (ix == NULL || ix->ix_env == NULL) {
		log_warnx("%s: index not open", __func__);
		return (-1);
	}
	ret = ix->ix_env->failchk(ix->ix_env, 0);
	if (ret == 0)
		return (0);
	if (ret == DB_RUNRECOVERY) {
		/* Make every process stop using the environment at once. */
		log_warnx("%s: %s: recovery needed", __func__, ix->ix_dir);
		ix->ix_broken = 1;
		(void)ix->ix_env->set_flags(ix->ix_env, DB_PANIC_ENVIRONMENT,
		    1);
		return (1);
	}
	log_warnx("%s: %s: %s", __func__, ix->ix_dir, db_strerror(ret));
	return (-1);
}

int
index_recover(struct index *ix, char **cause)
{
	const char	*what;
	int		 ret;

	if (ix == NULL || ix->ix_role != INDEX_MASTER) {
		if (cause != NULL)
			*cause = xstrdup("index recovery: master only");
		return (-1);
	}
	/*
	 * When failchk finds trouble, a dead process may hold a region mutex
	 * (e.g. the log's) and a normal close would wait for it forever: mark
	 * the environment panicked, so that the close only drops this
	 * process's references (Berkeley DB then leaves some heap behind).
	 */
	if (ix->ix_env != NULL && !ix->ix_broken &&
	    ix->ix_env->failchk(ix->ix_env, 0) != 0) {
		(void)ix->ix_env->set_flags(ix->ix_env, DB_PANIC_ENVIRONMENT,
		    1);
		ix->ix_broken = 1;
	}
	index_detach(ix, ix->ix_broken);
	ix->ix_broken = 0;
	what = "recover";
	if ((ret = index_force_recovery(ix)) != 0)
		goto fail;
	if ((ret = index_attach(ix, index_role_flags(ix->ix_role),
	    &what)) != 0)
		goto fail;
	log_info("index: %s: recovered", ix->ix_dir);
	return (0);

fail:
	index_set_cause(cause, ix->ix_dir, what, ret);
	return (-1);
}

int
index_checkpoint(struct index *ix)
{
	int	 ret;

	if (ix == NULL || ix->ix_env == NULL) {
		log_warnx("%s: index not open", __func__);
		return (-1);
	}
	if ((ret = ix->ix_env->txn_checkpoint(ix->ix_env, 0, 0, 0)) != 0)
		goto fail;
	if ((ret = ix->ix_env->log_archive(ix->ix_env, NULL,
	    DB_ARCH_REMOVE)) != 0)
		goto fail;
	return (0);

fail:
	log_warnx("%s: %s: %s", __func__, ix->ix_dir, db_strerror(ret));
	return (-1);
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

void
index_strings_free(char **v, size_t count)
{
	size_t	 i;

	if (v == NULL)
		return;
	for (i = 0; i < count; i++)
		free(v[i]);
	free(v);
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

/* A tag written only while the record is still tc_expect (or absent). */
struct index_tag_cas {
	struct index_rec	 tc_rec;
	const struct index_tag	*tc_expect;
	int			 tc_changed;
};

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

int
index_link_put(struct index *ix, const char *repo, const struct digest *d,
    enum index_link_kind kind)
{
	struct index_link	 ln;

	if (!index_ready(ix, __func__) ||
	    index_link_init(&ln, __func__, repo, d) == -1)
		return (-1);
	if (kind != INDEX_LINK_BLOB && kind != INDEX_LINK_MANIFEST) {
		log_warnx("%s: bad link kind %d", __func__, (int)kind);
		return (-1);
	}
	ln.ln_kind = (unsigned char)kind;
	if (index_txn_run(ix, "put link", 0, index_link_put_txn, &ln) != 0)
		return (-1);
	return (0);
}

int
index_link_get(struct index *ix, const char *repo, const struct digest *d,
    enum index_link_kind *kind)
{
	struct index_link	 ln;
	int			 ret;

	if (!index_ready(ix, __func__) ||
	    index_link_init(&ln, __func__, repo, d) == -1)
		return (-1);
	ret = index_txn_run(ix, "get link", DB_TXN_SNAPSHOT,
	    index_link_get_txn, &ln);
	if (ret == DB_NOTFOUND)
		return (0);
	if (ret != 0)
		return (-1);
	if (kind != NULL)
		*kind = (enum index_link_kind)ln.ln_kind;
	return (1);
}

int
index_link_delete(struct index *ix, const char *repo, const struct digest *d)
{
	struct index_link	 ln;
	int			 ret;

	if (!index_ready(ix, __func__) ||
	    index_link_init(&ln, __func__, repo, d) == -1)
		return (-1);
	ret = index_txn_run(ix, "delete link", 0, index_link_del_txn, &ln);
	if (ret == DB_NOTFOUND)
		return (0);
	return (ret == 0 ? 1 : -1);
}

/* On 1, out->im_annotations (NULL when none) is freed by the caller. */
int
index_manifest_get(struct index *ix, const struct digest *d,
    struct index_manifest *out)
{
	struct index_rec	 rec;
	char			 buf[DIGEST_STRING_MAX];
	int			 found;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (!index_ready(ix, __func__) ||
	    index_digest_fmt(__func__, d, buf) == -1)
		return (-1);
	if (out == NULL) {
		log_warnx("%s: bad arguments", __func__);
		return (-1);
	}
	memset(&rec, 0, sizeof(rec));
	rec.rec_table = INDEX_DB_MANIFESTS;
	if (index_key_make(&rec.rec_key, buf, NULL, NULL) == -1)
		return (-1);
	if ((found = index_lookup(ix, "get manifest", &rec)) == 1 &&
	    index_manifest_decode(rec.rec_data, rec.rec_size, out) != 0)
		found = -1;
	free(rec.rec_data);
	return (found);
}

void
index_manifest_clear(struct index_manifest *m)
{
	if (m == NULL)
		return;
	free(m->im_annotations);
	memset(m, 0, sizeof(*m));
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
	struct index_commit	 cm;
	struct index_tag	 tv;
	char			 subject[DIGEST_STRING_MAX];
	int			 rv = -1;

	if (!index_ready(ix, __func__))
		return (-1);
	memset(&cm, 0, sizeof(cm));
	if (index_link_init(&cm.cm_link, __func__, repo, d) == -1)
		return (-1);
	cm.cm_link.ln_kind = INDEX_LINK_MANIFEST;
	if (m == NULL || (tag != NULL && t == NULL)) {
		log_warnx("%s: bad arguments", __func__);
		return (-1);
	}
	if (index_manifest_encode(&cm.cm_manifest, m) == -1) {
		log_warnx("%s: bad manifest record", __func__);
		goto fail;
	}
	if (tag != NULL) {
		tv = *t;
		tv.it_digest = *d;
		if (!index_str_ok(__func__, "tag", tag, DEPOT_TAG_MAX) ||
		    index_key_make(&cm.cm_tag, repo, tag, NULL) == -1)
			goto fail;
		if (index_tag_encode(&cm.cm_tag_value, &tv) == -1) {
			log_warnx("%s: bad tag record", __func__);
			goto fail;
		}
	}
	if (m->im_has_subject) {
		digest_format(&m->im_subject, subject, sizeof(subject));
		if (index_key_make(&cm.cm_referrer, repo, subject,
		    cm.cm_link.ln_digest_str) == -1)
			goto fail;
	}
	if (index_txn_run(ix, "commit manifest", 0, index_commit_txn,
	    &cm) == 0)
		rv = 0;

fail:
	index_enc_free(&cm.cm_manifest);
	index_enc_free(&cm.cm_tag_value);
	return (rv);
}

int
index_manifest_unlink(struct index *ix, const char *repo,
    const struct digest *d)
{
	struct index_link	 ln;
	int			 ret;

	if (!index_ready(ix, __func__) ||
	    index_link_init(&ln, __func__, repo, d) == -1)
		return (-1);
	ret = index_txn_run(ix, "unlink manifest", 0, index_unlink_txn, &ln);
	if (ret == DB_NOTFOUND)
		return (0);
	return (ret == 0 ? 1 : -1);
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

/*
 * Like index_tag_list: from last NUL, with last cut to DEPOT_REPO_MAX
 * bytes. Caller frees *repos (NULL when none).
 */
int
index_repo_list(struct index *ix, const char *last, size_t n, char ***repos,
    size_t *count)
{
	struct index_scan	 sc;
	char			 from[DEPOT_REPO_MAX + 1];
	size_t			 len;

	if (repos != NULL)
		*repos = NULL;
	if (count != NULL)
		*count = 0;
	if (!index_ready(ix, __func__))
		return (-1);
	if (repos == NULL || count == NULL) {
		log_warnx("%s: bad arguments", __func__);
		return (-1);
	}
	memset(&sc, 0, sizeof(sc));
	sc.sc_table = INDEX_DB_REPOS;
	sc.sc_rest_max = DEPOT_REPO_MAX;
	sc.sc_max = n;
	if (last != NULL) {
		len = strnlen(last, sizeof(from) - 1);
		memcpy(from, last, len);
		from[len] = '\0';
		if (index_key_make(&sc.sc_from, from, "", NULL) == -1)
			return (-1);
	}
	return (index_scan_run(ix, "list repositories", &sc, repos, count));
}

int
index_upload_put(struct index *ix, const char *id,
    const struct index_upload *u)
{
	struct index_rec	 rec;
	struct index_enc	 e;

	if (!index_ready(ix, __func__) ||
	    index_upload_rec(&rec, __func__, id) == -1)
		return (-1);
	if (u == NULL || index_upload_encode(&e, u) == -1) {
		if (u != NULL)
			index_enc_free(&e);
		log_warnx("%s: bad upload record", __func__);
		return (-1);
	}
	return (index_store(ix, "put upload", &rec, &e));
}

int
index_upload_get(struct index *ix, const char *id, struct index_upload *out)
{
	struct index_rec	 rec;
	int			 found;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (!index_ready(ix, __func__) ||
	    index_upload_rec(&rec, __func__, id) == -1)
		return (-1);
	if (out == NULL) {
		log_warnx("%s: bad arguments", __func__);
		return (-1);
	}
	if ((found = index_lookup(ix, "get upload", &rec)) == 1 &&
	    index_upload_decode(rec.rec_data, rec.rec_size, out) != 0)
		found = -1;
	free(rec.rec_data);
	return (found);
}

int
index_upload_delete(struct index *ix, const char *id)
{
	struct index_rec	 rec;

	if (!index_ready(ix, __func__) ||
	    index_upload_rec(&rec, __func__, id) == -1)
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

	if (!index_ready(ix, __func__) ||
	    index_upload_rec(&rec, __func__, id) == -1)
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

	if (ids != NULL)
		*ids = NULL;
	if (count != NULL)
		*count = 0;
	if (!index_ready(ix, __func__))
		return (-1);
	if (ids == NULL || count == NULL) {
		log_warnx("%s: bad arguments", __func__);
		return (-1);
	}
	memset(&sc, 0, sizeof(sc));
	sc.sc_table = INDEX_DB_UPLOADS;
	sc.sc_rest_max = INDEX_UPLOAD_ID_MAX;
	sc.sc_max = n;
	sc.sc_expired = 1;
	sc.sc_before = before;
	return (index_scan_run(ix, "list expired uploads", &sc, ids, count));
}

/*
 * Tags first, so that the registry's content disappears from view before
 * the rest; an interrupted purge leaves entries a second run removes.
 */
int
index_registry_purge(struct index *ix, const char *registry)
{
	static const enum index_table	 tables[] = { INDEX_DB_TAGS,
	    INDEX_DB_REFERRERS, INDEX_DB_LINKS, INDEX_DB_REPOS,
	    INDEX_DB_UPLOADS };
	struct index_purge		 pg;
	char				 prefix[DEPOT_NAME_MAX + 2];
	size_t				 i;
	int				 repos = 0;

	if (!index_ready(ix, __func__) ||
	    !index_str_ok(__func__, "registry", registry, DEPOT_NAME_MAX))
		return (-1);
	if (strchr(registry, '/') != NULL) {
		log_warnx("%s: bad registry", __func__);
		return (-1);
	}
	(void)snprintf(prefix, sizeof(prefix), "%s/", registry);
	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		memset(&pg, 0, sizeof(pg));
		pg.pg_table = tables[i];
		if (index_key_make(&pg.pg_prefix, prefix, NULL, NULL) == -1)
			return (-1);
		if (pg.pg_table != INDEX_DB_UPLOADS)
			pg.pg_from = pg.pg_prefix;
		do {
			if (index_txn_run(ix, "purge registry", 0,
			    index_purge_txn, &pg) != 0)
				return (-1);
			if (pg.pg_table == INDEX_DB_REPOS)
				repos += (int)pg.pg_deleted;
			pg.pg_from = pg.pg_next;
		} while (pg.pg_more);
	}
	return (repos);
}

int
index_test_put_raw(struct index *ix, const char *file, const void *key,
    size_t keylen, const void *value, size_t size)
{
	struct index_rec	 rec;
	int			 i;

	if (!index_ready(ix, __func__) || file == NULL)
		return (-1);
	for (i = 0; i < INDEX_NDB; i++)
		if (strcmp(index_files[i], file) == 0)
			break;
	if (i == INDEX_NDB || keylen > sizeof(rec.rec_key.key_buf)) {
		log_warnx("%s: bad arguments", __func__);
		return (-1);
	}
	memset(&rec, 0, sizeof(rec));
	rec.rec_table = (enum index_table)i;
	memcpy(rec.rec_key.key_buf, key, keylen);
	rec.rec_key.key_len = keylen;
	rec.rec_data = (void *)value;
	rec.rec_size = size;
	if (index_txn_run(ix, "put raw", 0, index_rec_put_txn, &rec) != 0)
		return (-1);
	return (0);
}
