/*
 * worker.h: a pre-forked worker process.
 */
#ifndef DEPOT_WORKER_H
#define DEPOT_WORKER_H

#include <sys/types.h>

#include "depot.h"

struct config;
struct access;

/* Exit status a worker uses when its index needs recovery by the master. */
#define WORKER_EXIT_RECOVER	3

struct worker_args {
	struct config	*wa_config;
	struct access	*wa_access;	/* NULL: no access control */
	const int	*wa_listen_fds;
	int		 wa_nlisten;
	int		 wa_control_fd;	/* EOF on it: stop accepting, drain */
	uid_t		 wa_uid;	/* drop to these when wa_drop is set */
	gid_t		 wa_gid;
	int		 wa_drop;
	int		 wa_generation;
};

/* Run a worker; never returns. */
__dead void	worker_main(struct worker_args *);

#endif /* DEPOT_WORKER_H */
