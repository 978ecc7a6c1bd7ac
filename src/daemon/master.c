/*
 * master.c: the master process. It holds the pid file, binds every listen
 * address, opens the index first (running recovery when needed) and then
 * forks generations of workers on the bound sockets. It reaps and respawns
 * workers (throttling crash loops), is the index's watcher (failchk after
 * an abnormal exit and every MASTER_WATCH_SECS for processes it does not
 * reap, such as a killed depotctl; recovery when that asks for it), reloads on SIGHUP by
 * starting a new generation and draining the old one, reopens logs on
 * SIGUSR1 and stops gracefully on SIGTERM/SIGINT. It creates the shared
 * metrics segment before the first fork and keeps its own gauges there.
 */
#include <sys/types.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <netdb.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "store/blobstore.h"
#include "conf/config.h"
#include "store/index.h"
#include "lib/log.h"
#include "daemon/gc_child.h"
#include "daemon/master.h"
#include "daemon/evictor.h"
#include "access/access.h"
#include "lib/metrics.h"
#include "upstream/upstream_state.h"
#include "store/upload.h"
#include "lib/util.h"
#include "daemon/worker.h"
#include "lib/xmalloc.h"

#define MASTER_CHECKPOINT_SECS	60
/*
 * How often the master runs failchk for the processes it does not reap:
 * a depotctl gc, fsck or purge killed while it held index locks would
 * otherwise hold them until the next restart.
 */
#define MASTER_WATCH_SECS	1
#define MASTER_QUICK_DEATH_MS	2000	/* a worker dying sooner crash-loops */
#define MASTER_BACKOFF_MAX_MS	30000
#define MASTER_KILL_GRACE_SECS	5	/* after shutdown_timeout */
#define MASTER_NSIGNALS		5
/* A part file of a fetch nobody runs is removed once this old. */
#define MASTER_PART_GRACE_SECS	900

struct listener {
	char	*ls_text;
	int	 ls_fd;
};

struct child {
	pid_t		 ch_pid;
	int		 ch_control_fd;	/* write end; closing it drains */
	int		 ch_generation;
	long long	 ch_started_ms;
};

struct master {
	struct config		*m_config;
	struct access		*m_access;	/* of m_config; NULL: off */
	char			*m_config_path;
	int			 m_foreground;
	int			 m_debug;
	struct event_base	*m_base;
	struct index		*m_index;
	struct blobstore	*m_blobs;
	char			 m_db_dir[4096];
	int			 m_pid_fd;
	struct listener		*m_listeners;
	size_t			 m_nlisteners;
	struct child		*m_children;
	size_t			 m_nchildren;
	int			 m_generation;
	int			 m_nslots;	/* workers per generation */
	int			 m_quick_deaths;
	unsigned int		 m_reloads;	/* SIGHUPs handled */
	int			 m_stopping;
	uid_t			 m_uid;
	gid_t			 m_gid;
	int			 m_drop;
	struct event		*m_signal_ev[MASTER_NSIGNALS];
	struct event		*m_respawn_ev;
	struct event		*m_checkpoint_ev;
	struct event		*m_kill_ev;
	struct evictor		*m_evictor;	/* cache eviction runs */
	struct event		*m_gc_ev;	/* every gc_interval */
	struct event		*m_watch_ev;	/* failchk, MASTER_WATCH_SECS */
	pid_t			 m_gc_pid;	/* the running gc, or 0 */
};

static int	master_resolve_user(struct config *, uid_t *, gid_t *, int *,
		    char **);
static int	master_pidfile_lock(struct master *);
static int	master_pidfile_write(struct master *);
static int	master_bind(const struct config_listen *);
static int	master_bind_all(struct master *, struct config *,
		    struct listener **, size_t *);
static void	master_listeners_free(struct listener *, size_t, int);
static int	master_prepare_storage(struct master *);
static void	master_db_enter(struct master *);
static void	master_db_leave(struct master *);
static int	master_daemonize(int *);
static void	master_spawn(struct master *);
static void	master_fill_slots(struct master *);
static int	master_live_current(struct master *);
static void	master_remove_child(struct master *, size_t);
static void	master_drain_generation(struct master *, int);
static void	master_child_exited(struct master *, struct child *, int);
static void	master_recover(struct master *);
static void	master_reload(struct master *);
static void	master_reload_failed(struct master *, const char *);
static void	master_warn_open(struct config *);
static int	master_worker_count(struct config *);
static void	master_status_remove(struct master *);
static void	master_status_write(struct master *, const char *,
		    const char *);
static void	master_stop(struct master *);
static void	master_block_stop_signals(void);
static void	master_events(struct master *);
static void	master_sigchld_cb(evutil_socket_t, short, void *);
static void	master_sighup_cb(evutil_socket_t, short, void *);
static void	master_sigterm_cb(evutil_socket_t, short, void *);
static void	master_sigusr1_cb(evutil_socket_t, short, void *);
static void	master_respawn_cb(evutil_socket_t, short, void *);
static void	master_checkpoint_cb(evutil_socket_t, short, void *);
static void	master_housekeeping_arm(struct master *);
static void	master_kill_cb(evutil_socket_t, short, void *);
static void	master_evictor_exited(struct master *, int);
static void	master_gc_arm(struct master *);
static void	master_gc_cb(evutil_socket_t, short, void *);
static void	master_watch_cb(evutil_socket_t, short, void *);
static void	master_gc_exited(struct master *, int);

int
master_run(struct config *cf, const char *config_path, int foreground,
    int debug)
{
	struct master	 m;
	char		*cause = NULL;
	int		 ready_fd = -1, i;
	char		 one = 1;

	memset(&m, 0, sizeof(m));
	m.m_config = cf;
	m.m_config_path = xstrdup(config_path);
	m.m_foreground = foreground;
	m.m_debug = debug;
	m.m_pid_fd = -1;
	log_procname("master");
	if (master_resolve_user(cf, &m.m_uid, &m.m_gid, &m.m_drop, &cause)
	    == -1) {
		log_warnx("%s", cause);
		free(cause);
		goto fail;
	}
	m.m_access = access_load(cf, &cause);
	if (m.m_access == NULL && cause != NULL) {
		log_warnx("%s", cause);
		free(cause);
		goto fail;
	}
	if (m.m_access == NULL)
		master_warn_open(cf);
	if (master_pidfile_lock(&m) == -1)
		goto fail;
	if (master_bind_all(&m, cf, &m.m_listeners, &m.m_nlisteners) == -1)
		goto fail;
	if (master_prepare_storage(&m) == -1)
		goto fail;
	/* Before any fork: workers of every generation inherit it. */
	if (metrics_init() == -1 || upstream_state_init() == -1)
		goto fail;
	if (!foreground) {
		if (master_daemonize(&ready_fd) == -1)
			goto fail;
		log_init(0, cf->cf_server.srv_log.log_facility,
		    debug ? LOG_DEBUG : cf->cf_server.srv_log.log_level);
	}
	if (master_pidfile_write(&m) == -1)
		goto fail;

	master_db_enter(&m);
	m.m_index = index_open(m.m_db_dir, INDEX_MASTER, NULL, &cause);
	master_db_leave(&m);
	if (m.m_index == NULL) {
		log_warnx("index %s: %s", m.m_db_dir, cause);
		free(cause);
		goto fail;
	}

	signal(SIGPIPE, SIG_IGN);
	if ((m.m_base = event_base_new()) == NULL)
		fatalx("%s: event_base_new", __func__);
	master_events(&m);
	m.m_generation = 1;
	m.m_nslots = master_worker_count(cf);
	for (i = 0; i < m.m_nslots; i++)
		master_spawn(&m);
	for (i = 0; i < (int)m.m_nlisteners; i++)
		log_info("listening on %s", m.m_listeners[i].ls_text);
	log_info("started %d workers (depot %s)", m.m_nslots, PACKAGE_VERSION);
	master_status_write(&m, "ok", "started");
	if (ready_fd != -1) {
		if (write(ready_fd, &one, 1) != 1)
			log_warn("%s: ready pipe", __func__);
		close(ready_fd);
	}
	/* The first value of the blob store gauges, while workers serve. */
	master_db_enter(&m);
	metrics_blob_store_update(m.m_config->cf_server.srv_data_dir, 1);
	master_db_leave(&m);

	event_base_dispatch(m.m_base);

	/*
	 * Stopped: freeing the signal events below puts back the default
	 * actions, and a second SIGTERM (a service manager, an impatient
	 * script) must not kill the orderly exit under way.
	 */
	master_block_stop_signals();
	evictor_free(m.m_evictor);	/* waits a little for a run */
	master_db_enter(&m);
	/* Workers killed at the deadline may have left locks behind. */
	index_failchk(m.m_index);
	index_checkpoint(m.m_index);
	index_close(m.m_index);
	master_db_leave(&m);
	master_status_remove(&m);
	unlink(m.m_config->cf_server.srv_pidfile);
	log_info("stopped");
	master_listeners_free(m.m_listeners, m.m_nlisteners, 1);
	for (i = 0; i < MASTER_NSIGNALS; i++)
		event_free(m.m_signal_ev[i]);
	event_free(m.m_respawn_ev);
	event_free(m.m_checkpoint_ev);
	event_free(m.m_gc_ev);
	event_free(m.m_watch_ev);
	if (m.m_kill_ev != NULL)
		event_free(m.m_kill_ev);
	event_base_free(m.m_base);
	metrics_close();
	upstream_state_close();
	free(m.m_children);
	free(m.m_config_path);
	blobstore_free(m.m_blobs);
	access_free(m.m_access);
	config_free(m.m_config);
	return (0);

fail:
	/* A start that fails leaves nothing behind (sanitizer builds). */
	master_listeners_free(m.m_listeners, m.m_nlisteners, 1);
	free(m.m_config_path);
	blobstore_free(m.m_blobs);
	access_free(m.m_access);
	config_free(cf);
	return (1);
}

/*
 * Workers run as server.user/group when depotd starts as root; the master
 * stays root to re-read secrets and bind on reload. Caller frees *cause.
 */
static int
master_resolve_user(struct config *cf, uid_t *uid, gid_t *gid, int *drop,
    char **cause)
{
	struct passwd	*pw;
	struct group	*gr;

	*drop = 0;
	if (geteuid() != 0 || cf->cf_server.srv_user == NULL)
		return (0);
	if ((pw = getpwnam(cf->cf_server.srv_user)) == NULL) {
		xasprintf(cause, "server.user: no such user '%s'",
		    cf->cf_server.srv_user);
		return (-1);
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	if (cf->cf_server.srv_group != NULL) {
		if ((gr = getgrnam(cf->cf_server.srv_group)) == NULL) {
			xasprintf(cause, "server.group: no such group '%s'",
			    cf->cf_server.srv_group);
			return (-1);
		}
		*gid = gr->gr_gid;
	}
	*drop = 1;
	return (0);
}

/* Hold the pid file with an exclusive lock; refuse if another holds it. */
static int
master_pidfile_lock(struct master *m)
{
	const char	*path = m->m_config->cf_server.srv_pidfile;
	char		 dir[4096], buf[32];
	ssize_t		 n;

	if (path_fmt(dir, sizeof(dir), "%s", path) == -1 ||
	    mkdir_p(dirname(dir), 0755) == -1) {
		log_warn("pid file %s: directory", path);
		return (-1);
	}
	m->m_pid_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (m->m_pid_fd == -1) {
		log_warn("pid file %s", path);
		return (-1);
	}
	if (flock(m->m_pid_fd, LOCK_EX | LOCK_NB) == -1) {
		n = pread(m->m_pid_fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		log_warnx("another depotd is running (pid %s, pid file %s)",
		    buf[0] != '\0' ? buf : "unknown", path);
		return (-1);
	}
	return (0);
}

static int
master_pidfile_write(struct master *m)
{
	char	 buf[32];
	int	 n;

	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(m->m_pid_fd, 0) == -1 ||
	    pwrite(m->m_pid_fd, buf, (size_t)n, 0) != n) {
		log_warn("pid file %s", m->m_config->cf_server.srv_pidfile);
		return (-1);
	}
	return (0);
}

/* Bind and listen on one address; -1 after logging. */
static int
master_bind(const struct config_listen *l)
{
	struct addrinfo	 hints, *res = NULL;
	int		 fd = -1, on = 1, rv, flags;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rv = getaddrinfo(l->l_host, l->l_port, &hints, &res)) != 0) {
		log_warnx("listen %s: %s", l->l_text, gai_strerror(rv));
		return (-1);
	}
	fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
	if (fd == -1) {
		log_warn("listen %s: socket", l->l_text);
		goto fail;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (res->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	if (bind(fd, res->ai_addr, res->ai_addrlen) == -1) {
		log_warn("listen %s: bind", l->l_text);
		goto fail;
	}
	if (listen(fd, 1024) == -1) {
		log_warn("listen %s: listen", l->l_text);
		goto fail;
	}
	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1) {
		log_warn("listen %s: fcntl", l->l_text);
		goto fail;
	}
	freeaddrinfo(res);
	return (fd);
fail:
	if (fd != -1)
		close(fd);
	freeaddrinfo(res);
	return (-1);
}

/*
 * Bind every listen address of cf, reusing the sockets m already has for
 * the same address (so a reload keeps them). All or nothing.
 */
static int
master_bind_all(struct master *m, struct config *cf, struct listener **out,
    size_t *nout)
{
	struct listener	*ls;
	size_t		 i, j, n = cf->cf_server.srv_nlisten;

	ls = xcalloc(n, sizeof(*ls));
	for (i = 0; i < n; i++) {
		ls[i].ls_text = xstrdup(cf->cf_server.srv_listen[i].l_text);
		ls[i].ls_fd = -1;
		for (j = 0; j < m->m_nlisteners; j++)
			if (strcmp(m->m_listeners[j].ls_text,
			    ls[i].ls_text) == 0)
				ls[i].ls_fd = m->m_listeners[j].ls_fd;
		if (ls[i].ls_fd != -1)
			continue;
		if ((ls[i].ls_fd = master_bind(&cf->cf_server.srv_listen[i]))
		    == -1) {
			/* close only what this call bound */
			for (j = 0; j < i; j++) {
				size_t	 k;
				int	 reused = 0;

				for (k = 0; k < m->m_nlisteners; k++)
					if (m->m_listeners[k].ls_fd ==
					    ls[j].ls_fd)
						reused = 1;
				if (!reused)
					close(ls[j].ls_fd);
			}
			ls[i].ls_fd = -1;
			master_listeners_free(ls, n, 0);
			return (-1);
		}
	}
	*out = ls;
	*nout = n;
	return (0);
}

static void
master_listeners_free(struct listener *ls, size_t n, int close_fds)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (close_fds && ls[i].ls_fd != -1)
			close(ls[i].ls_fd);
		free(ls[i].ls_text);
	}
	free(ls);
}

/* Create data_dir owned by the worker user, then blobs/, tmp/ and db/. */
static int
master_prepare_storage(struct master *m)
{
	const char		*dir = m->m_config->cf_server.srv_data_dir;
	char			*cause = NULL;

	if (mkdir_p(dir, 0750) == -1) {
		log_warn("data_dir %s", dir);
		return (-1);
	}
	if (m->m_drop && chown(dir, m->m_uid, m->m_gid) == -1) {
		log_warn("data_dir %s: chown", dir);
		return (-1);
	}
	if (path_fmt(m->m_db_dir, sizeof(m->m_db_dir), "%s/db", dir) == -1) {
		log_warnx("data_dir %s: path too long", dir);
		return (-1);
	}
	master_db_enter(m);
	m->m_blobs = blobstore_open(dir, &cause);
	master_db_leave(m);
	if (m->m_blobs == NULL) {
		log_warnx("blob store %s: %s", dir, cause);
		free(cause);
		return (-1);
	}
	return (0);
}

/*
 * Storage files are created as the worker user, so that workers can open
 * what the master created: the master switches its effective ids around
 * every index and blob store call.
 */
static void
master_db_enter(struct master *m)
{
	if (!m->m_drop)
		return;
	if (setegid(m->m_gid) == -1 || seteuid(m->m_uid) == -1)
		fatal("%s: cannot switch to the worker user", __func__);
}

static void
master_db_leave(struct master *m)
{
	if (!m->m_drop)
		return;
	if (seteuid(0) == -1 || setegid(0) == -1)
		fatal("%s: cannot switch back to root", __func__);
}

/*
 * Detach from the terminal. The parent waits until the child says it is
 * serving (a byte on *ready_fd) so that an init script sees a real result.
 */
static int
master_daemonize(int *ready_fd)
{
	int	 p[2], fd;
	pid_t	 pid;
	char	 c;

	if (pipe(p) == -1) {
		log_warn("%s: pipe", __func__);
		return (-1);
	}
	if ((pid = fork()) == -1) {
		log_warn("%s: fork", __func__);
		return (-1);
	}
	if (pid != 0) {
		close(p[1]);
		_exit(read(p[0], &c, 1) == 1 ? 0 : 1);
	}
	close(p[0]);
	*ready_fd = p[1];
	if (setsid() == -1)
		fatal("%s: setsid", __func__);
	if (chdir("/") == -1)
		fatal("%s: chdir", __func__);
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	return (0);
}

/* Fork one worker of the current generation. */
static void
master_spawn(struct master *m)
{
	struct worker_args	 wa;
	struct child		*ch;
	sigset_t		 all, old;
	int			 ctl[2], *fds;
	size_t			 i;
	pid_t			 pid;

	if (pipe(ctl) == -1) {
		log_warn("%s: pipe", __func__);
		return;
	}
	/*
	 * Signals stay blocked in the child until the worker's own handlers
	 * are in place: a SIGTERM to the whole group (systemd, pkill) must
	 * not kill a worker inside Berkeley DB, nor reach the master's
	 * handler through the inherited signal pipe.
	 */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	if ((pid = fork()) == -1) {
		log_warn("%s: fork", __func__);
		sigprocmask(SIG_SETMASK, &old, NULL);
		close(ctl[0]);
		close(ctl[1]);
		return;
	}
	if (pid == 0) {
		/* The child keeps no write end of any control pipe. */
		close(ctl[1]);
		for (i = 0; i < m->m_nchildren; i++)
			close(m->m_children[i].ch_control_fd);
		close(m->m_pid_fd);
		/*
		 * The epoll instance is shared with the master after fork:
		 * re-create the child's own before freeing the base, or the
		 * free would unregister the master's events.
		 */
		if (event_reinit(m->m_base) == -1)
			fatalx("%s: event_reinit", __func__);
		event_base_free(m->m_base);
		signal(SIGCHLD, SIG_DFL);
		fds = xcalloc(m->m_nlisteners, sizeof(*fds));
		for (i = 0; i < m->m_nlisteners; i++)
			fds[i] = m->m_listeners[i].ls_fd;
		memset(&wa, 0, sizeof(wa));
		wa.wa_config = m->m_config;
		wa.wa_access = m->m_access;
		wa.wa_listen_fds = fds;
		wa.wa_nlisten = (int)m->m_nlisteners;
		wa.wa_control_fd = ctl[0];
		wa.wa_uid = m->m_uid;
		wa.wa_gid = m->m_gid;
		wa.wa_drop = m->m_drop;
		wa.wa_generation = m->m_generation;
		metrics_worker_attach();
		worker_main(&wa);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(ctl[0]);
	fcntl(ctl[1], F_SETFD, FD_CLOEXEC);
	m->m_children = xreallocarray(m->m_children, m->m_nchildren + 1,
	    sizeof(*m->m_children));
	ch = &m->m_children[m->m_nchildren++];
	ch->ch_pid = pid;
	ch->ch_control_fd = ctl[1];
	ch->ch_generation = m->m_generation;
	ch->ch_started_ms = now_ms();
	metrics_workers_set(master_live_current(m));
	log_debug("spawned worker %ld (generation %d)", (long)pid,
	    m->m_generation);
}

/* Workers of the current generation that are alive and not draining. */
static int
master_live_current(struct master *m)
{
	size_t	 i;
	int	 n = 0;

	for (i = 0; i < m->m_nchildren; i++)
		if (m->m_children[i].ch_generation == m->m_generation &&
		    m->m_children[i].ch_control_fd != -1)
			n++;
	return (n);
}

static void
master_fill_slots(struct master *m)
{
	int	 n;

	if (m->m_stopping)
		return;
	for (n = master_live_current(m); n < m->m_nslots; n++)
		master_spawn(m);
}

static void
master_remove_child(struct master *m, size_t i)
{
	if (m->m_children[i].ch_control_fd != -1)
		close(m->m_children[i].ch_control_fd);
	metrics_worker_detach(m->m_children[i].ch_pid);
	m->m_children[i] = m->m_children[m->m_nchildren - 1];
	m->m_nchildren--;
	metrics_workers_set(master_live_current(m));
}

/* Close the control pipes of a generation: its workers drain and exit. */
static void
master_drain_generation(struct master *m, int generation)
{
	size_t	 i;

	for (i = 0; i < m->m_nchildren; i++) {
		if (generation != -1 &&
		    m->m_children[i].ch_generation != generation)
			continue;
		if (m->m_children[i].ch_control_fd != -1) {
			close(m->m_children[i].ch_control_fd);
			m->m_children[i].ch_control_fd = -1;
		}
	}
	metrics_workers_set(master_live_current(m));
}

/* A worker is gone: log how, check the index, schedule a replacement. */
static void
master_child_exited(struct master *m, struct child *ch, int status)
{
	struct timeval	 tv;
	long long	 lived = now_ms() - ch->ch_started_ms, delay = 0;
	int		 abnormal, rv = 0;

	abnormal = !WIFEXITED(status) || WEXITSTATUS(status) != 0;
	if (WIFSIGNALED(status))
		log_warnx("worker %ld killed by signal %d", (long)ch->ch_pid,
		    WTERMSIG(status));
	else if (abnormal)
		log_warnx("worker %ld exited with status %d", (long)ch->ch_pid,
		    WEXITSTATUS(status));
	else
		log_debug("worker %ld exited", (long)ch->ch_pid);
	/* Its manifest pulls are over, even if its pid comes back. */
	upstream_flight_drop_pid(ch->ch_pid);
	/* Counted here: the recovery path below replaces it too. */
	if (abnormal && !m->m_stopping &&
	    ch->ch_generation == m->m_generation && ch->ch_control_fd != -1)
		metrics_worker_restarted();
	if (abnormal && !m->m_stopping) {
		master_db_enter(m);
		rv = index_failchk(m->m_index);
		master_db_leave(m);
	}
	if (rv == 1 || (WIFEXITED(status) &&
	    WEXITSTATUS(status) == WORKER_EXIT_RECOVER)) {
		master_recover(m);
		return;
	}
	if (!abnormal || m->m_stopping ||
	    ch->ch_generation != m->m_generation || ch->ch_control_fd == -1)
		return;
	if (lived < MASTER_QUICK_DEATH_MS) {
		m->m_quick_deaths++;
		delay = 100LL << (m->m_quick_deaths < 9 ? m->m_quick_deaths : 9);
		if (delay > MASTER_BACKOFF_MAX_MS)
			delay = MASTER_BACKOFF_MAX_MS;
		log_warnx("workers are dying quickly; next start in %lld ms",
		    delay);
	} else
		m->m_quick_deaths = 0;
	tv.tv_sec = delay / 1000;
	tv.tv_usec = (delay % 1000) * 1000;
	evtimer_add(m->m_respawn_ev, &tv);
}

/*
 * The index needs recovery: no other process may have it open, so stop
 * every worker at once, recover, and start a fresh set.
 */
static void
master_recover(struct master *m)
{
	char	*cause = NULL;
	size_t	 i;
	int	 status;

	log_warnx("index needs recovery: stopping workers");
	evictor_stop(m->m_evictor);
	for (i = 0; i < m->m_nchildren; i++)
		kill(m->m_children[i].ch_pid, SIGKILL);
	while (m->m_nchildren > 0) {
		if (waitpid(m->m_children[0].ch_pid, &status, 0) == -1 &&
		    errno == EINTR)
			continue;
		master_remove_child(m, 0);
	}
	if (m->m_gc_pid > 0) {		/* it is started again later */
		kill(m->m_gc_pid, SIGKILL);
		while (waitpid(m->m_gc_pid, &status, 0) == -1 &&
		    errno == EINTR)
			;
		m->m_gc_pid = 0;
		master_gc_arm(m);
	}
	master_db_enter(m);
	if (index_recover(m->m_index, &cause) == -1)
		fatalx("index recovery failed: %s", cause);
	master_db_leave(m);
	log_info("index recovered");
	master_fill_slots(m);
}

/* SIGHUP: a new generation on the new config, or nothing but a log line. */
static void
master_reload(struct master *m)
{
	struct config	*cf;
	struct access	*access;
	struct listener	*ls;
	size_t		 nls, i, j;
	char		*cause = NULL;
	uid_t		 uid;
	gid_t		 gid;
	int		 drop, old_generation, used;

	m->m_reloads++;
	if ((cf = config_load(m->m_config_path, &cause)) == NULL) {
		master_reload_failed(m, cause);
		free(cause);
		return;
	}
	if (strcmp(cf->cf_server.srv_data_dir,
	    m->m_config->cf_server.srv_data_dir) != 0 ||
	    strcmp(cf->cf_server.srv_pidfile,
	    m->m_config->cf_server.srv_pidfile) != 0) {
		master_reload_failed(m,
		    "data_dir and pidfile change only with a restart");
		config_free(cf);
		return;
	}
	if ((access = access_load(cf, &cause)) == NULL && cause != NULL) {
		master_reload_failed(m, cause);
		free(cause);
		config_free(cf);
		return;
	}
	if (master_resolve_user(cf, &uid, &gid, &drop, &cause) == -1 ||
	    master_bind_all(m, cf, &ls, &nls) == -1) {
		master_reload_failed(m, cause != NULL ? cause :
		    "cannot listen on a new address (see the log)");
		free(cause);
		access_free(access);
		config_free(cf);
		return;
	}
	/* Close sockets the new configuration no longer lists. */
	for (i = 0; i < m->m_nlisteners; i++) {
		for (used = 0, j = 0; j < nls; j++)
			if (ls[j].ls_fd == m->m_listeners[i].ls_fd)
				used = 1;
		if (!used)
			close(m->m_listeners[i].ls_fd);
	}
	master_listeners_free(m->m_listeners, m->m_nlisteners, 0);
	m->m_listeners = ls;
	m->m_nlisteners = nls;
	config_free(m->m_config);
	m->m_config = cf;
	access_free(m->m_access);
	m->m_access = access;
	if (access == NULL)
		master_warn_open(cf);
	m->m_uid = uid;
	m->m_gid = gid;
	m->m_drop = drop;
	if (!m->m_debug)
		log_setlevel(cf->cf_server.srv_log.log_level);
	old_generation = m->m_generation++;
	m->m_nslots = master_worker_count(cf);
	m->m_quick_deaths = 0;
	master_fill_slots(m);
	master_drain_generation(m, old_generation);
	log_info("configuration reloaded from %s (generation %d)",
	    m->m_config_path, m->m_generation);
	master_housekeeping_arm(m);
	master_gc_arm(m);
	master_status_write(m, "ok", "configuration reloaded");
}

static void
master_status_remove(struct master *m)
{
	char	 path[4096];

	if (path_fmt(path, sizeof(path), "%s.status",
	    m->m_config->cf_server.srv_pidfile) == 0)
		unlink(path);
}

static void
master_reload_failed(struct master *m, const char *why)
{
	log_warnx("reload failed, keeping the running configuration:\n%s",
	    why);
	master_status_write(m, "failed", why);
}

static int
master_worker_count(struct config *cf)
{
	int	 n = cf->cf_server.srv_workers;

	if (n == 0)
		n = (int)sysconf(_SC_NPROCESSORS_ONLN);
	return (n < 1 ? 1 : n);
}

/*
 * The outcome of the last reload, for depotctl reload: "<pidfile>.status"
 * holds lines "pid N", "reloads N", "generation N", "result ok|failed"
 * and "message ..." (the message's newlines become "; "). Written to a
 * temp file and renamed, so a reader never sees half of it.
 */
static void
master_status_write(struct master *m, const char *result, const char *why)
{
	const char	*pidfile = m->m_config->cf_server.srv_pidfile;
	char		 path[4096], tmp[4096], *msg, *p;
	FILE		*f;

	if (path_fmt(path, sizeof(path), "%s.status", pidfile) == -1 ||
	    path_fmt(tmp, sizeof(tmp), "%s.status.tmp", pidfile) == -1)
		return;
	if ((f = fopen(tmp, "w")) == NULL) {
		log_warn("%s: %s", __func__, tmp);
		return;
	}
	msg = xstrdup(why);
	for (p = msg; *p != '\0'; p++)
		if (*p == '\n')
			*p = ';';
	fprintf(f, "pid %ld\nreloads %u\ngeneration %d\nresult %s\n"
	    "message %s\n", (long)getpid(), m->m_reloads, m->m_generation,
	    result, msg);
	free(msg);
	if (fclose(f) == EOF || rename(tmp, path) == -1) {
		log_warn("%s: %s", __func__, path);
		unlink(tmp);
	}
}

/* Hold back the signals that stop or reload: the exit is under way. */
static void
master_block_stop_signals(void)
{
	sigset_t	 set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		log_warn("%s: sigprocmask", __func__);
}

/* SIGTERM/SIGINT: drain every worker, then leave the loop. */
static void
master_stop(struct master *m)
{
	struct timeval	 tv;

	if (m->m_stopping)
		return;
	m->m_stopping = 1;
	log_info("stopping");
	evtimer_del(m->m_respawn_ev);
	evtimer_del(m->m_gc_ev);
	if (m->m_gc_pid > 0)
		kill(m->m_gc_pid, SIGTERM);	/* stops between candidates */
	master_drain_generation(m, -1);
	if (m->m_nchildren == 0 && m->m_gc_pid == 0) {
		event_base_loopexit(m->m_base, NULL);
		return;
	}
	tv.tv_sec = m->m_config->cf_server.srv_shutdown_timeout +
	    MASTER_KILL_GRACE_SECS;
	tv.tv_usec = 0;
	if ((m->m_kill_ev = evtimer_new(m->m_base, master_kill_cb, m)) == NULL)
		fatalx("%s: evtimer_new", __func__);
	evtimer_add(m->m_kill_ev, &tv);
}

static void
master_events(struct master *m)
{
	static const struct {
		int	 sig;
		void	(*cb)(evutil_socket_t, short, void *);
	} sigs[MASTER_NSIGNALS] = {
		{ SIGCHLD, master_sigchld_cb }, { SIGHUP, master_sighup_cb },
		{ SIGTERM, master_sigterm_cb }, { SIGINT, master_sigterm_cb },
		{ SIGUSR1, master_sigusr1_cb },
	};
	struct event	*ev;
	struct timeval	 tv;
	size_t		 i;

	for (i = 0; i < MASTER_NSIGNALS; i++) {
		ev = evsignal_new(m->m_base, sigs[i].sig, sigs[i].cb, m);
		if (ev == NULL || evsignal_add(ev, NULL) == -1)
			fatalx("%s: signal %d", __func__, sigs[i].sig);
		m->m_signal_ev[i] = ev;
	}
	m->m_respawn_ev = evtimer_new(m->m_base, master_respawn_cb, m);
	m->m_checkpoint_ev = evtimer_new(m->m_base, master_checkpoint_cb, m);
	m->m_gc_ev = evtimer_new(m->m_base, master_gc_cb, m);
	m->m_watch_ev = event_new(m->m_base, -1, EV_PERSIST, master_watch_cb,
	    m);
	if (m->m_respawn_ev == NULL || m->m_checkpoint_ev == NULL ||
	    m->m_gc_ev == NULL || m->m_watch_ev == NULL)
		fatalx("%s: evtimer_new", __func__);
	tv.tv_sec = MASTER_WATCH_SECS;
	tv.tv_usec = 0;
	evtimer_add(m->m_watch_ev, &tv);
	master_housekeeping_arm(m);
	master_gc_arm(m);
	m->m_evictor = evictor_create(m->m_base, &m->m_config, &m->m_uid,
	    &m->m_gid, &m->m_drop);
}

/* An eviction run died: check the index as for a worker's death. */
static void
master_evictor_exited(struct master *m, int abnormal)
{
	int	 rv;

	if (!abnormal || m->m_stopping)
		return;
	master_db_enter(m);
	rv = index_failchk(m->m_index);
	master_db_leave(m);
	if (rv == 1)
		master_recover(m);
}

static void
master_sigchld_cb(evutil_socket_t sig, short events, void *arg)
{
	struct master	*m = arg;
	struct child	 ch;
	pid_t		 pid;
	size_t		 i;
	int		 status, abnormal;

	(void)sig;
	(void)events;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (evictor_reaped(m->m_evictor, pid, status, &abnormal)) {
			master_evictor_exited(m, abnormal);
			continue;
		}
		if (pid == m->m_gc_pid) {
			master_gc_exited(m, status);
			continue;
		}
		for (i = 0; i < m->m_nchildren; i++)
			if (m->m_children[i].ch_pid == pid)
				break;
		if (i == m->m_nchildren)
			continue;
		ch = m->m_children[i];
		m->m_children[i].ch_control_fd = -1;
		if (ch.ch_control_fd != -1)
			close(ch.ch_control_fd);
		master_remove_child(m, i);
		master_child_exited(m, &ch, status);
	}
	if (m->m_stopping && m->m_nchildren == 0 && m->m_gc_pid == 0)
		event_base_loopexit(m->m_base, NULL);
}

static void
master_sighup_cb(evutil_socket_t sig, short events, void *arg)
{
	struct master	*m = arg;

	(void)sig;
	(void)events;
	if (!m->m_stopping)
		master_reload(m);
}

static void
master_sigterm_cb(evutil_socket_t sig, short events, void *arg)
{
	(void)sig;
	(void)events;
	master_stop(arg);
}

static void
master_sigusr1_cb(evutil_socket_t sig, short events, void *arg)
{
	struct master	*m = arg;
	size_t		 i;

	(void)sig;
	(void)events;
	log_info("reopening log files");
	for (i = 0; i < m->m_nchildren; i++)
		kill(m->m_children[i].ch_pid, SIGUSR1);
}

static void
master_respawn_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	master_fill_slots(arg);
}

/*
 * Every minute: checkpoint the index, expire abandoned uploads, sweep the
 * part files of upstream fetches that died, and refresh the blob store
 * gauges.
 */
static void
master_checkpoint_cb(evutil_socket_t fd, short events, void *arg)
{
	struct master	*m = arg;
	int64_t		 before;
	int		 n, swept;

	(void)fd;
	(void)events;
	before = (int64_t)time(NULL) -
	    m->m_config->cf_server.srv_upload_expiry;
	master_db_enter(m);
	index_checkpoint(m->m_index);
	n = upload_expire(m->m_index, m->m_blobs, before);
	swept = blobstore_sweep_parts(m->m_blobs,
	    time(NULL) - MASTER_PART_GRACE_SECS);
	metrics_blob_store_update(m->m_config->cf_server.srv_data_dir, 0);
	gc_child_metrics(m->m_index);
	master_db_leave(m);
	if (n > 0)	/* upload_expire logs the count */
		metrics_uploads_expired((uint64_t)n);
	if (swept > 0)
		log_info("removed %d part file%s of upstream fetches that "
		    "ended unfinished", swept, swept == 1 ? "" : "s");
	master_housekeeping_arm(m);
}

/*
 * Every MASTER_WATCH_SECS: failchk finds the index locks and transactions
 * of a process that died without the master reaping it (a depotctl gc,
 * fsck --repair or registry delete --purge killed with SIGKILL), releases
 * them, or asks for recovery when it died inside Berkeley DB. Children are
 * checked when they are reaped (a zombie counts as alive here).
 */
static void
master_watch_cb(evutil_socket_t fd, short events, void *arg)
{
	struct master	*m = arg;
	int		 rv;

	(void)fd;
	(void)events;
	if (m->m_stopping)
		return;
	master_db_enter(m);
	rv = index_failchk(m->m_index);
	master_db_leave(m);
	if (rv == 1)
		master_recover(m);
}

/*
 * Housekeeping runs every MASTER_CHECKPOINT_SECS, or more often when
 * uploads expire sooner than that, so expiry is never late by more than
 * half of upload_expiry.
 */
static void
master_housekeeping_arm(struct master *m)
{
	struct timeval	 tv = { MASTER_CHECKPOINT_SECS, 0 };
	int		 half = m->m_config->cf_server.srv_upload_expiry / 2;

	if (half < 1)
		half = 1;
	if (half < tv.tv_sec)
		tv.tv_sec = half;
	evtimer_add(m->m_checkpoint_ev, &tv);
}

static void
master_kill_cb(evutil_socket_t fd, short events, void *arg)
{
	struct master	*m = arg;
	size_t		 i;

	(void)fd;
	(void)events;
	for (i = 0; i < m->m_nchildren; i++) {
		log_warnx("worker %ld did not stop in time, killing it",
		    (long)m->m_children[i].ch_pid);
		kill(m->m_children[i].ch_pid, SIGKILL);
	}
	if (m->m_gc_pid > 0) {
		log_warnx("gc %ld did not stop in time, killing it",
		    (long)m->m_gc_pid);
		kill(m->m_gc_pid, SIGKILL);
	}
}

/* The periodic garbage collection: every gc_interval seconds, or never. */
static void
master_gc_arm(struct master *m)
{
	struct timeval	 tv;

	evtimer_del(m->m_gc_ev);
	if (m->m_config->cf_server.srv_gc_interval <= 0 || m->m_stopping)
		return;
	tv.tv_sec = m->m_config->cf_server.srv_gc_interval;
	tv.tv_usec = 0;
	evtimer_add(m->m_gc_ev, &tv);
}

/*
 * Fork a collection (gc_child.c) unless one still runs; the next is
 * armed when it ends.
 */
static void
master_gc_cb(evutil_socket_t fd, short events, void *arg)
{
	struct master	*m = arg;
	sigset_t	 all, old;
	size_t		 i;
	pid_t		 pid;

	(void)fd;
	(void)events;
	if (m->m_gc_pid > 0 || m->m_stopping)
		return;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	if ((pid = fork()) == -1) {
		log_warn("%s: fork", __func__);
		sigprocmask(SIG_SETMASK, &old, NULL);
		master_gc_arm(m);
		return;
	}
	if (pid == 0) {
		for (i = 0; i < m->m_nchildren; i++)
			close(m->m_children[i].ch_control_fd);
		for (i = 0; i < m->m_nlisteners; i++)
			close(m->m_listeners[i].ls_fd);
		close(m->m_pid_fd);
		if (event_reinit(m->m_base) == -1)
			fatalx("%s: event_reinit", __func__);
		event_base_free(m->m_base);
		gc_child_main(m->m_config, m->m_uid, m->m_gid, m->m_drop);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	m->m_gc_pid = pid;
	log_debug("started gc %ld", (long)pid);
}

/* The collection ended: check the index as for a worker, arm the next. */
static void
master_gc_exited(struct master *m, int status)
{
	int	 rv = 0;

	m->m_gc_pid = 0;
	if (WIFSIGNALED(status))
		log_warnx("gc killed by signal %d", WTERMSIG(status));
	if (WIFSIGNALED(status) && !m->m_stopping) {
		master_db_enter(m);
		rv = index_failchk(m->m_index);
		master_db_leave(m);
	}
	master_db_enter(m);
	gc_child_metrics(m->m_index);
	master_db_leave(m);
	if (rv == 1) {
		master_recover(m);
		return;
	}
	master_gc_arm(m);
}

/* Without access control, say so when depot listens beyond loopback. */
static void
master_warn_open(struct config *cf)
{
	const char	*host;
	size_t		 i;

	for (i = 0; i < cf->cf_server.srv_nlisten; i++) {
		host = cf->cf_server.srv_listen[i].l_host;
		if (strncmp(host, "127.", 4) != 0 && strcmp(host, "::1") != 0 &&
		    strcmp(host, "localhost") != 0) {
			log_warnx("no auth group: anyone who reaches %s may "
			    "push and delete", cf->cf_server.srv_listen[i].l_text);
			return;
		}
	}
}
