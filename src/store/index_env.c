/*
 * index_env.c: the index's Berkeley DB transactional environment under the
 * data directory: opening it in each process, recovery, failchk and
 * checkpoints, the database handles, and the run of a transaction with
 * the retry of lock conflicts and its gate (index_txn_run). The tables
 * are in index_<table>.c; index_impl.h lists the files.
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
 *  - A full disk: Berkeley DB maps its region files (__db.NNN), and a
 *    page of one that the file system cannot back when it is first
 *    touched (a full disk) kills the process with SIGBUS inside the
 *    library, which then asks for a recovery that needs space too. So
 *    region files are written out in full when created (DB_REGION_INIT),
 *    and since a region grows later by extending its file sparsely (the
 *    cache does, up to INDEX_CACHE_BYTES), index_regions_reserve gives
 *    every region file its space: its holes and INDEX_REGION_AHEAD past
 *    its end, at each open and each checkpoint (the master's timer).
 *    With that, a write that finds no space fails its transaction (an
 *    error to the caller) and the environment keeps working.
 *
 * Files in the directory: Berkeley DB's (__db.*, log.*), the databases
 * (*.db, one per table in index_files, all opened in every process,
 * created when missing), and index.gate (empty; only locked).
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <db.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/index_impl.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/xmalloc.h"

#define INDEX_DIR_MODE		0750
#define INDEX_CACHE_BYTES	(16 * 1024 * 1024)
#define INDEX_THREAD_COUNT	256
#define INDEX_TXN_TRIES		8
#define INDEX_TXN_GATED_TRIES	24	/* tries in all once gated */
#define INDEX_BACKOFF_USEC	1000	/* first pause; doubles each try */
#define INDEX_BACKOFF_MAX_USEC	50000	/* up to this */
#define INDEX_GATE_AFTER	3	/* tries before taking the gate */
#define INDEX_GATE_FILE		"index.gate"
#define INDEX_REGION_AHEAD	(4 * 1024 * 1024)	/* disk space reserved
							   past a region's end */

#define INDEX_ENV_FLAGS	(DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK | \
	DB_INIT_LOG | DB_INIT_MPOOL)

/* One name per enum index_table; a new table adds its line here. */
const char *const index_files[INDEX_NDB] = {
	[INDEX_DB_META] = INDEX_META_FILE,
	[INDEX_DB_TAGS] = "tags.db",
	[INDEX_DB_LINKS] = "links.db",
	[INDEX_DB_MANIFESTS] = "manifests.db",
	[INDEX_DB_REFERRERS] = "referrers.db",
	[INDEX_DB_REPOS] = "repos.db",
	[INDEX_DB_UPLOADS] = "uploads.db",
	[INDEX_DB_HELM] = "helm.db",
	[INDEX_DB_DIGESTS] = "digests.db",
	[INDEX_DB_ACCESS] = "access.db"
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
static int	index_env_ready(struct index *, const char *);
static int	index_retryable(int);
static void	index_regions_reserve(struct index *);
static void	index_backoff(struct index *, int);
static int	index_txn_once(struct index *, u_int32_t, index_txn_fn,
		    void *);

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
	    (ret = env->set_flags(env, DB_REGION_INIT, 1)) != 0 ||
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
	index_regions_reserve(ix);
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

/* Is the environment open? Logged for func when not. */
static int
index_env_ready(struct index *ix, const char *func)
{
	if (ix == NULL || ix->ix_env == NULL) {
		log_warnx("%s: index not open", func);
		return (0);
	}
	return (1);
}

/* Are the environment and the databases open? Logged for func when not. */
int
index_ready(struct index *ix, const char *func)
{
	if (!index_env_ready(ix, func))
		return (0);
	if (ix->ix_db[INDEX_DB_META] == NULL) {
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
	unsigned int	 span = INDEX_BACKOFF_MAX_USEC;

	if (try < 16 && (INDEX_BACKOFF_USEC << (try - 1)) < (int)span)
		span = INDEX_BACKOFF_USEC << (try - 1);

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
 * and the starved transaction gets through; it keeps trying (up to
 * INDEX_TXN_GATED_TRIES in all, pauses capped at INDEX_BACKOFF_MAX_USEC)
 * while those finish, which on a loaded machine can take a while. Snapshot
 * reads take no locks and skip the gate.
 */
int
index_txn_run(struct index *ix, const char *what, u_int32_t txn_flags,
    index_txn_fn fn, void *arg)
{
	int	 gated = 0, ret = 0, try;

	for (try = 0; try < (gated ? INDEX_TXN_GATED_TRIES : INDEX_TXN_TRIES);
	    try++) {
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
	what = "build digests.db";
	if (role == INDEX_MASTER && (ret = index_links_migrate(ix)) != 0)
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

	if (!index_env_ready(ix, __func__))
		return (-1);
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

	if (!index_env_ready(ix, __func__))
		return (-1);
	index_regions_reserve(ix);
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

/*
 * Allocate the disk space of every region file: its holes, and
 * INDEX_REGION_AHEAD past its end for the region to grow into (see "A
 * full disk" above). Best effort: a file system without fallocate, or one
 * already full, just gets less.
 */
static void
index_regions_reserve(struct index *ix)
{
	struct dirent	*de;
	struct stat	 sb;
	DIR		*dir;
	int		 fd;

	if ((dir = opendir(ix->ix_dir)) == NULL)
		return;
	while ((de = readdir(dir)) != NULL) {
		if (strncmp(de->d_name, "__db.", 5) != 0 ||
		    de->d_name[5] < '0' || de->d_name[5] > '9')
			continue;	/* not a region (__db.register) */
		if ((fd = openat(dirfd(dir), de->d_name, O_RDWR | O_NOFOLLOW |
		    O_CLOEXEC)) == -1)
			continue;
		if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode)) {
#ifdef FALLOC_FL_KEEP_SIZE
			(void)fallocate(fd, FALLOC_FL_KEEP_SIZE, 0,
			    sb.st_size + INDEX_REGION_AHEAD);
#else
			(void)posix_fallocate(fd, 0, sb.st_size);
#endif
		}
		close(fd);
	}
	closedir(dir);
}
