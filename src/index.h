/*
 * index.h: depot's index, a Berkeley DB transactional environment under
 * <data_dir>/db shared by the master and every worker. index.c is the only
 * file that speaks Berkeley DB; everything else uses this typed API.
 *
 * Life cycle across processes:
 *  - the master opens with INDEX_MASTER before forking: it runs recovery
 *    when needed and stays the watcher (index_failchk after a worker dies,
 *    index_checkpoint on a timer);
 *  - each worker opens its own handle after fork with INDEX_WORKER.
 */
#ifndef DEPOT_INDEX_H
#define DEPOT_INDEX_H

#include <stdint.h>

enum index_role {
	INDEX_MASTER,
	INDEX_WORKER
};

struct index;

/*
 * Open the environment in dir (created when missing). NULL with *cause
 * (caller frees) on failure. For INDEX_WORKER, a failure that needs
 * recovery sets *need_recovery (when not NULL) so the worker can exit with
 * a status that tells the master.
 */
struct index	*index_open(const char *dir, enum index_role role,
		    int *need_recovery, char **cause);
/* Close the handle. Accepts NULL. */
void		 index_close(struct index *);

/*
 * Master only: after a worker died abnormally, release what it held.
 * 0 when the environment is fine, 1 when recovery is needed (the caller
 * stops every worker, calls index_recover, then restarts them), -1 error.
 */
int		 index_failchk(struct index *);
/* Master only, with no worker running: close, run recovery, reopen. */
int		 index_recover(struct index *, char **cause);
/* Master only: checkpoint and drop log files no longer needed. */
int		 index_checkpoint(struct index *);

/* Health probe: a small read-write transaction. 0 ok, -1 failed. */
int		 index_health(struct index *);

/*
 * Add delta to each of the named counters in one transaction and return
 * the new values in out (which may be NULL). Used by tests of crash
 * consistency and by simple bookkeeping. 0 or -1.
 */
int		 index_counters_add(struct index *, const char **names,
		    int count, int64_t delta, int64_t *out);
/* Read one counter (0 when absent). 0 or -1. */
int		 index_counter_get(struct index *, const char *name,
		    int64_t *value);

#endif /* DEPOT_INDEX_H */
