/*
 * gc_child.h: the periodic garbage collection the master forks
 * (gc_child.c), and the copy of the collection's totals into /metrics.
 */
#ifndef DEPOT_GC_CHILD_H
#define DEPOT_GC_CHILD_H

#include <sys/types.h>

#include "depot.h"

struct config;
struct index;

/*
 * In a child the master just forked (its fds closed, signals blocked):
 * drop to uid/gid when drop is set, run one collection with cf's
 * gc_grace, log what it freed, and exit 0 (1 on failure or when stopped
 * by SIGTERM).
 */
__dead void	gc_child_main(struct config *cf, uid_t uid, gid_t gid,
		    int drop);
/* Copy the totals every run keeps in the index into the metrics. */
void		gc_child_metrics(struct index *);

#endif /* DEPOT_GC_CHILD_H */
