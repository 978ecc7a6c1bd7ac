/*
 * evictor.c: the master's eviction runs (evictor.h): a one-second timer
 * that looks for a worker's request (an atomic flag in the metrics
 * segment) and at the time of the next periodic run, and forks the run.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "conf/config.h"
#include "daemon/evictor.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "store/blobstore.h"
#include "store/evict.h"
#include "store/index.h"
#include "store/space.h"

#define EVICTOR_STOP_WAIT_MS	10000

struct evictor {
	struct event	*ev_timer;
	struct config	**ev_config;
	uid_t		*ev_uid;
	gid_t		*ev_gid;
	int		*ev_drop;
	pid_t		 ev_pid;	/* the run under way, or 0 */
	time_t		 ev_next;	/* the next periodic run */
};

static int	evictor_needed(struct config *);
static void	evictor_tick_cb(evutil_socket_t, short, void *);
static void	evictor_fork(struct evictor *);
static __dead void evictor_child(struct evictor *);

struct evictor *
evictor_create(struct event_base *base, struct config **config, uid_t *uid,
    gid_t *gid, int *drop)
{
	struct evictor	*ev;
	struct timeval	 tv = { 1, 0 };

	ev = xcalloc(1, sizeof(*ev));
	ev->ev_config = config;
	ev->ev_uid = uid;
	ev->ev_gid = gid;
	ev->ev_drop = drop;
	ev->ev_next = time(NULL);	/* count at once */
	space_announce();
	ev->ev_timer = event_new(base, -1, EV_PERSIST, evictor_tick_cb, ev);
	if (ev->ev_timer == NULL || event_add(ev->ev_timer, &tv) == -1)
		fatalx("%s: event_new", __func__);
	return (ev);
}

void
evictor_free(struct evictor *ev)
{
	int	 i, status;

	if (ev == NULL)
		return;
	/* A run ends by itself within moments; then it is killed. */
	for (i = 0; ev->ev_pid != 0 && i < EVICTOR_STOP_WAIT_MS / 50; i++) {
		if (waitpid(ev->ev_pid, &status, WNOHANG) == ev->ev_pid)
			ev->ev_pid = 0;
		else
			usleep(50 * 1000);
	}
	evictor_stop(ev);
	event_free(ev->ev_timer);
	free(ev);
}

void
evictor_stop(struct evictor *ev)
{
	int	 status;

	if (ev == NULL || ev->ev_pid == 0)
		return;
	kill(ev->ev_pid, SIGKILL);
	while (waitpid(ev->ev_pid, &status, 0) == -1 && errno == EINTR)
		;
	ev->ev_pid = 0;
}

int
evictor_reaped(struct evictor *ev, pid_t pid, int status, int *abnormal)
{
	if (ev == NULL || ev->ev_pid == 0 || pid != ev->ev_pid)
		return (0);
	ev->ev_pid = 0;
	*abnormal = !WIFEXITED(status) || WEXITSTATUS(status) != 0;
	if (*abnormal)
		log_warnx("cache eviction run %ld failed (status %d)",
		    (long)pid, status);
	return (1);
}

/* Runs are for a configured limit, or the notes of the low-space guard. */
static int
evictor_needed(struct config *cf)
{
	size_t	 i;

	if (cf->cf_server.srv_cache_max_bytes > 0 ||
	    cf->cf_server.srv_min_free_bytes > 0)
		return (1);
	for (i = 0; i < cf->cf_nupstreams; i++)
		if (cf->cf_upstreams[i].up_max_cache_bytes > 0)
			return (1);
	return (0);
}

static void
evictor_tick_cb(evutil_socket_t fd, short events, void *arg)
{
	struct evictor	*ev = arg;
	struct config	*cf = *ev->ev_config;
	int		 asked;

	(void)fd;
	(void)events;
	/* The low-space guard's state, logged and published from here. */
	(void)space_low(cf->cf_server.srv_data_dir,
	    cf->cf_server.srv_min_free_bytes);
	if (ev->ev_pid != 0 || !evictor_needed(cf))
		return;
	asked = metrics_evict_requested();
	if (!asked && time(NULL) < ev->ev_next)
		return;
	ev->ev_next = time(NULL) + EVICTOR_INTERVAL_SECS;
	evictor_fork(ev);
}

static void
evictor_fork(struct evictor *ev)
{
	sigset_t	 all, old;
	pid_t		 pid;

	/*
	 * Every signal stays blocked in the run: a signal to the group
	 * must not kill it inside Berkeley DB, nor reach the master's
	 * handlers through the inherited signal pipe. It ends by itself.
	 */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	if ((pid = fork()) == -1) {
		log_warn("%s: fork", __func__);
		sigprocmask(SIG_SETMASK, &old, NULL);
		return;
	}
	if (pid == 0)
		evictor_child(ev);
	sigprocmask(SIG_SETMASK, &old, NULL);
	ev->ev_pid = pid;
	log_debug("cache eviction run %ld started", (long)pid);
}

/* The run: leave root, open the store, evict, exit. */
static __dead void
evictor_child(struct evictor *ev)
{
	struct config		*cf = *ev->ev_config;
	struct index		*ix;
	struct blobstore	*bs;
	struct evict_result	 res;
	char			 dir[4096], *cause = NULL;
	int			 rv;

	log_procname("evict");
	if (*ev->ev_drop && (setgroups(1, ev->ev_gid) == -1 ||
	    setresgid(*ev->ev_gid, *ev->ev_gid, *ev->ev_gid) == -1 ||
	    setresuid(*ev->ev_uid, *ev->ev_uid, *ev->ev_uid) == -1)) {
		log_warn("%s: cannot drop privileges", __func__);
		_exit(1);
	}
	if (path_fmt(dir, sizeof(dir), "%s/db", cf->cf_server.srv_data_dir) ==
	    -1)
		_exit(1);
	if ((ix = index_open(dir, INDEX_WORKER, NULL, &cause)) == NULL) {
		log_warnx("index: %s", cause);
		_exit(1);
	}
	if ((bs = blobstore_open(cf->cf_server.srv_data_dir, &cause)) ==
	    NULL) {
		log_warnx("blob store: %s", cause);
		index_close(ix);
		_exit(1);
	}
	rv = evict_run(cf, ix, bs, &res);
	blobstore_free(bs);
	index_close(ix);
	_exit(rv == 0 ? 0 : 1);
}
