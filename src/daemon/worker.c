/*
 * worker.c: a worker process: drop privileges, open its own index and
 * blob store handles, serve HTTP on the sockets the master bound, and
 * drain gracefully when the master closes the control pipe.
 */
#include <sys/types.h>

#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "store/blobstore.h"
#include "conf/config.h"
#include "upstream/fetch.h"
#include "http/http.h"
#include "store/index.h"
#include "lib/log.h"
#include "lib/offload.h"
#include "content/content.h"
#include "lib/util.h"
#include "daemon/routes.h"
#include "daemon/worker.h"
#include "lib/xmalloc.h"

struct worker {
	struct event_base	*w_base;
	struct http_server	*w_http;
	struct http_context	 w_ctx;
	struct event		*w_control_ev;
	struct event		*w_term_ev;
	struct event		*w_usr1_ev;
	struct event		*w_deadline_ev;
	struct event		*w_fills_ev;	/* drain: fills to end */
	int			 w_control_fd;
	int			 w_draining;
};

static void	worker_drop_privileges(struct worker_args *);
static void	worker_open_storage(struct worker *, struct config *);
static void	worker_start_drain(struct worker *);
static void	worker_control_cb(evutil_socket_t, short, void *);
static void	worker_term_cb(evutil_socket_t, short, void *);
static void	worker_usr1_cb(evutil_socket_t, short, void *);
static void	worker_deadline_cb(evutil_socket_t, short, void *);
static void	worker_drained_cb(void *);
static void	worker_fills_cb(evutil_socket_t, short, void *);

void
worker_main(struct worker_args *wa)
{
	struct worker	 w;
	sigset_t	 mask;
	int		 i;

	memset(&w, 0, sizeof(w));
	log_procname("worker");
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, SIG_IGN);	/* the master decides on ^C */
	signal(SIGHUP, SIG_IGN);
	if (wa->wa_drop)
		worker_drop_privileges(wa);
	worker_open_storage(&w, wa->wa_config);

	if ((w.w_base = event_base_new()) == NULL)
		fatalx("%s: event_base_new", __func__);
	w.w_ctx.ctx_config = wa->wa_config;
	w.w_ctx.ctx_access = wa->wa_access;
	w.w_ctx.ctx_base = w.w_base;
	if (fetch_global_init() == -1 ||
	    (w.w_ctx.ctx_fetcher = fetcher_create(w.w_base)) == NULL)
		fatalx("%s: cannot set up upstream transfers", __func__);
	w.w_http = http_create(w.w_base, &w.w_ctx);
	routes_install(w.w_http);
	for (i = 0; i < wa->wa_nlisten; i++)
		if (http_accept(w.w_http, wa->wa_listen_fds[i]) == -1)
			fatalx("%s: cannot serve on listening socket", __func__);

	w.w_control_fd = wa->wa_control_fd;
	w.w_control_ev = event_new(w.w_base, w.w_control_fd,
	    EV_READ | EV_PERSIST, worker_control_cb, &w);
	w.w_term_ev = evsignal_new(w.w_base, SIGTERM, worker_term_cb, &w);
	w.w_usr1_ev = evsignal_new(w.w_base, SIGUSR1, worker_usr1_cb, &w);
	if (w.w_control_ev == NULL || w.w_term_ev == NULL ||
	    w.w_usr1_ev == NULL)
		fatalx("%s: event_new", __func__);
	event_add(w.w_control_ev, NULL);
	event_add(w.w_term_ev, NULL);
	event_add(w.w_usr1_ev, NULL);
	/* The master forked us with every signal blocked; handlers are set. */
	sigemptyset(&mask);
	sigprocmask(SIG_SETMASK, &mask, NULL);

	log_debug("generation %d serving", wa->wa_generation);
	event_base_dispatch(w.w_base);

	/*
	 * A SIGTERM sent to the whole group may arrive after the drain began
	 * through the control pipe; once the handlers are freed it would
	 * kill this process inside Berkeley DB. Nothing may interrupt the
	 * cleanup now.
	 */
	sigfillset(&mask);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	http_free(w.w_http);
	fetcher_free(w.w_ctx.ctx_fetcher);
	event_free(w.w_control_ev);
	event_free(w.w_term_ev);
	event_free(w.w_usr1_ev);
	if (w.w_deadline_ev != NULL)
		event_free(w.w_deadline_ev);
	if (w.w_fills_ev != NULL)
		event_free(w.w_fills_ev);
	event_base_free(w.w_base);
	index_close(w.w_ctx.ctx_index);
	blobstore_free(w.w_ctx.ctx_blobs);
	log_debug("exiting");
	exit(0);
}

/* Leave root for good: groups, gid, uid, and check it stuck. */
static void
worker_drop_privileges(struct worker_args *wa)
{
	if (setgroups(1, &wa->wa_gid) == -1)
		fatal("%s: setgroups", __func__);
	if (setresgid(wa->wa_gid, wa->wa_gid, wa->wa_gid) == -1)
		fatal("%s: setresgid", __func__);
	if (setresuid(wa->wa_uid, wa->wa_uid, wa->wa_uid) == -1)
		fatal("%s: setresuid", __func__);
	if (wa->wa_uid != 0 && (setuid(0) != -1 || seteuid(0) != -1))
		fatalx("%s: could regain root", __func__);
}

/* Open this process's own index and blob store handles. */
static void
worker_open_storage(struct worker *w, struct config *cf)
{
	char	 dir[4096], *cause = NULL;
	int	 need_recovery = 0;

	if (path_fmt(dir, sizeof(dir), "%s/db", cf->cf_server.srv_data_dir) ==
	    -1)
		fatalx("%s: data_dir path too long", __func__);
	w->w_ctx.ctx_index = index_open(dir, INDEX_WORKER, &need_recovery,
	    &cause);
	if (w->w_ctx.ctx_index == NULL) {
		log_warnx("index: %s", cause);
		exit(need_recovery ? WORKER_EXIT_RECOVER : 1);
	}
	w->w_ctx.ctx_blobs = blobstore_open(cf->cf_server.srv_data_dir, &cause);
	if (w->w_ctx.ctx_blobs == NULL)
		fatalx("blob store: %s", cause);
}

/* Stop accepting, finish what is in flight, exit; bounded by a deadline. */
static void
worker_start_drain(struct worker *w)
{
	struct timeval	 tv;

	if (w->w_draining)
		return;
	w->w_draining = 1;
	event_del(w->w_control_ev);
	tv.tv_sec = w->w_ctx.ctx_config->cf_server.srv_shutdown_timeout;
	tv.tv_usec = 0;
	w->w_deadline_ev = evtimer_new(w->w_base, worker_deadline_cb, w);
	if (w->w_deadline_ev == NULL)
		fatalx("%s: evtimer_new", __func__);
	evtimer_add(w->w_deadline_ev, &tv);
	log_debug("draining");
	http_drain(w->w_http, worker_drained_cb, w);
}

static void
worker_control_cb(evutil_socket_t fd, short events, void *arg)
{
	struct worker	*w = arg;
	char		 buf[64];
	ssize_t		 n;

	(void)events;
	n = read(fd, buf, sizeof(buf));
	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0)
		worker_start_drain(w);
}

static void
worker_term_cb(evutil_socket_t sig, short events, void *arg)
{
	(void)sig;
	(void)events;
	worker_start_drain(arg);
}

static void
worker_usr1_cb(evutil_socket_t sig, short events, void *arg)
{
	struct worker	*w = arg;

	(void)sig;
	(void)events;
	http_reopen_access_log(w->w_http);
}

static void
worker_deadline_cb(evutil_socket_t fd, short events, void *arg)
{
	struct worker	*w = arg;

	(void)fd;
	(void)events;
	log_warnx("shutdown deadline passed with requests in flight");
	event_base_loopbreak(w->w_base);
}

/*
 * No request in flight: exit once the blob fills that outlived their
 * clients and the jobs still in threads (offload.h: a commit, a close)
 * have ended too (the deadline still bounds the wait).
 */
static void
worker_drained_cb(void *arg)
{
	struct worker	*w = arg;
	struct timeval	 tv = { 0, 100 * 1000 };

	if (content_fills() == 0 && offload_pending() == 0) {
		event_base_loopexit(w->w_base, NULL);
		return;
	}
	if (w->w_fills_ev == NULL && (w->w_fills_ev = evtimer_new(w->w_base,
	    worker_fills_cb, w)) == NULL)
		fatalx("%s: evtimer_new", __func__);
	evtimer_add(w->w_fills_ev, &tv);
}

static void
worker_fills_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	worker_drained_cb(arg);
}
