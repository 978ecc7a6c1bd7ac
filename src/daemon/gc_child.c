/*
 * gc_child.c: the periodic garbage collection, in a child the master
 * forks every gc_interval seconds (master.c keeps the timer and reaps
 * it). The child drops to the worker user, opens its own index and blob
 * store handles, runs gc_run (store/gc.h) with gc_grace and exits; a
 * SIGTERM makes it stop between two candidates. Nothing here runs in a
 * worker or on the master's loop.
 */
#include <sys/types.h>

#include <grp.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/config.h"
#include "daemon/gc_child.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/util.h"
#include "store/blobstore.h"
#include "store/gc.h"
#include "store/index.h"

static volatile sig_atomic_t	gc_child_stop;

static void	gc_child_term(int);

static void
gc_child_term(int sig)
{
	(void)sig;
	gc_child_stop = 1;
}

void
gc_child_main(struct config *cf, uid_t uid, gid_t gid, int drop)
{
	struct sigaction	 sa;
	struct gc_options	 o;
	struct gc_result	 r;
	struct index		*ix;
	struct blobstore	*bs;
	sigset_t		 none;
	char			 dir[4096], *cause = NULL;
	int			 rv;

	log_procname("gc");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = gc_child_term;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	(void)sigaction(SIGHUP, &sa, NULL);
	(void)sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = SIG_DFL;
	(void)sigaction(SIGCHLD, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (drop && (setgroups(1, &gid) == -1 ||
	    setresgid(gid, gid, gid) == -1 || setresuid(uid, uid, uid) == -1))
		fatal("%s: cannot drop privileges", __func__);
	if (path_fmt(dir, sizeof(dir), "%s/db", cf->cf_server.srv_data_dir) ==
	    -1)
		fatalx("%s: data_dir path too long", __func__);
	if ((ix = index_open(dir, INDEX_WORKER, NULL, &cause)) == NULL) {
		log_warnx("gc: index: %s", cause);
		_exit(1);
	}
	if ((bs = blobstore_open(cf->cf_server.srv_data_dir, &cause)) == NULL) {
		log_warnx("gc: blob store: %s", cause);
		index_close(ix);
		_exit(1);
	}
	memset(&o, 0, sizeof(o));
	o.go_grace = cf->cf_server.srv_gc_grace;
	o.go_stop = &gc_child_stop;
	rv = gc_run(ix, bs, &o, &r, &cause);
	if (rv == 0)
		log_info("freed %" PRIu64 " blob%s, %" PRId64 " bytes "
		    "(%" PRIu64 " links removed) in %" PRId64 " ms",
		    r.gr_blobs, r.gr_blobs == 1 ? "" : "s", r.gr_bytes,
		    r.gr_links, r.gr_msec);
	else
		log_warnx("%s (freed %" PRIu64 " blobs, %" PRId64
		    " bytes before that)", cause, r.gr_blobs, r.gr_bytes);
	free(cause);
	blobstore_free(bs);
	index_close(ix);
	_exit(rv == 0 ? 0 : 1);
}

void
gc_child_metrics(struct index *ix)
{
	struct gc_totals	 t;
	struct metrics_gc	 mg;

	if (gc_totals_get(ix, &t) == -1)
		return;
	mg.mg_runs = (uint64_t)t.gt_runs;
	mg.mg_bytes = (uint64_t)t.gt_bytes;
	mg.mg_blobs = (uint64_t)t.gt_blobs;
	mg.mg_msec = (uint64_t)t.gt_msec;
	mg.mg_last_msec = (uint64_t)t.gt_last_msec;
	metrics_gc_set(&mg);
}
