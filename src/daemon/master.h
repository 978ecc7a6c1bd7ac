/*
 * master.h: the master process: pid file, sockets, worker generations,
 * signals, and the index watcher.
 */
#ifndef DEPOT_MASTER_H
#define DEPOT_MASTER_H

#include "depot.h"

struct config;

/*
 * Run depotd with a loaded configuration (ownership passes to the master).
 * Returns the process exit status.
 */
int	master_run(struct config *, const char *config_path, int foreground,
	    int debug);

#endif /* DEPOT_MASTER_H */
