/*
 * evictor.h: the master's schedule of cache eviction runs (store/evict.h).
 * A run is a child process the master forks: it drops privileges as a
 * worker does, opens its own index and blob store, runs evict_run and
 * exits; the master's loop never waits for it. Runs start at start and
 * every EVICTOR_INTERVAL_SECS while a cache limit or min_free_bytes is
 * configured (they also count the bytes cached for /metrics), and
 * within a second when a
 * worker asks for one (a fill took an upstream over its limit: see
 * metrics_evict_request); one at a time.
 */
#ifndef DEPOT_EVICTOR_H
#define DEPOT_EVICTOR_H

#include <sys/types.h>

#include "depot.h"

#define EVICTOR_INTERVAL_SECS	60

struct event_base;
struct config;
struct evictor;

/*
 * The evictor of the master; *config, *uid, *gid and *drop are the
 * master's, read at each run (they change on reload).
 */
struct evictor	*evictor_create(struct event_base *, struct config **config,
		    uid_t *uid, gid_t *gid, int *drop);
/* Stop the schedule, and a run under way (SIGKILL, reaped). Accepts NULL. */
void		 evictor_free(struct evictor *);
/*
 * Was pid (reaped by the master) the evictor's run? 1 yes (*abnormal
 * tells whether it died: the master then checks the index), 0 no.
 */
int		 evictor_reaped(struct evictor *, pid_t pid, int status,
		    int *abnormal);
/* Kill a run under way and reap it (before an index recovery). */
void		 evictor_stop(struct evictor *);

#endif /* DEPOT_EVICTOR_H */
