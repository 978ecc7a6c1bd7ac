/*
 * ctl_daemon.c: depotctl and the running depotd. Whether one runs (its
 * pid file is locked), reload (SIGHUP, then the outcome the master writes
 * to "<pidfile>.status"), and the index for registry delete --purge:
 * opened as a worker opens it while depotd runs, as the master otherwise,
 * and as the owner of data_dir when run as root.
 */
#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "helm/helm.h"
#include "store/index.h"
#include "store/index_helm.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/xmalloc.h"

#define CTL_RELOAD_WAIT_MS	10000
#define CTL_RELOAD_PAUSE_US	100000
/* A running depotd recovers an index that needs it within a second. */
#define CTL_RECOVERY_WAIT_MS	15000

/* What "<pidfile>.status" says. */
struct ctl_status {
	long	 st_pid;
	long	 st_reloads;
	long	 st_generation;
	char	 st_result[16];
	char	*st_message;
};

static char	*ctl_pidfile(struct ctl *);
static int	 ctl_status_read(const char *, struct ctl_status *);
static void	 ctl_status_print(FILE *, const char *);
static int	 ctl_reload_wait(pid_t, const char *, long);

/*
 * Is a depotd running with this pid file? 1 when one holds its lock
 * (*pid is the pid it wrote, 0 if unreadable), 0 when none does, or -1
 * after saying why it cannot tell.
 */
/*
 * Open the index in dbdir: as a worker opens it while depotd runs
 * (running), as the master otherwise. An index that needs recovery (a
 * process died inside Berkeley DB: another depotctl killed, say) is
 * recovered by the running master's failchk within a second: wait for
 * it, bounded. NULL after saying why.
 */
struct index *
ctl_index_open(const char *dbdir, int running)
{
	struct index	*ix;
	char		*cause = NULL;
	int		 need_recovery = 0, waited = 0;

	for (;;) {
		ix = index_open(dbdir, running ? INDEX_WORKER : INDEX_MASTER,
		    &need_recovery, &cause);
		if (ix != NULL || !running || !need_recovery ||
		    waited >= CTL_RECOVERY_WAIT_MS)
			break;
		free(cause);
		cause = NULL;
		need_recovery = 0;
		usleep(CTL_RELOAD_PAUSE_US);
		waited += CTL_RELOAD_PAUSE_US / 1000;
	}
	if (ix == NULL)
		ctl_refuse("cannot open the index: %s%s", cause != NULL ?
		    cause : "unknown error", !need_recovery ? "" : running ?
		    " (it needs recovery, which depotd did not make: restart "
		    "depotd)" : " (it needs recovery: start depotd, which "
		    "recovers it)");
	free(cause);
	return (ix);
}

int
ctl_daemon_pid(const char *pidfile, pid_t *pid)
{
	char	 buf[32];
	ssize_t	 n;
	int	 fd;

	*pid = 0;
	if ((fd = open(pidfile, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		if (errno == ENOENT)
			return (0);
		ctl_refuse("cannot open the pid file %s: %s", pidfile,
		    strerror(errno));
		return (-1);
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
		close(fd);
		return (0);
	}
	if (errno != EWOULDBLOCK) {
		ctl_refuse("cannot lock the pid file %s: %s", pidfile,
		    strerror(errno));
		close(fd);
		return (-1);
	}
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	*pid = (pid_t)strtol(buf, NULL, 10);
	return (1);
}

/*
 * The pid file as depotd finds it; from depot.conf alone when the whole
 * configuration does not load (depotd is then the judge). Caller frees;
 * NULL after saying why.
 */
static char *
ctl_pidfile(struct ctl *ctl)
{
	config_t	 cfg;
	const char	*s = DEPOT_PIDFILE_DEFAULT;
	char		*cause, *path = NULL;

	if (ctl_paths(ctl) != 0)
		return (NULL);
	if (ctl->ctl_cf == NULL &&
	    (ctl->ctl_cf = config_load(ctl->ctl_conf, &cause)) == NULL)
		free(cause);
	if (ctl->ctl_cf != NULL)
		return (xstrdup(ctl->ctl_cf->cf_server.srv_pidfile));
	config_init(&cfg);
	config_set_include_dir(&cfg, ctl->ctl_confdir);
	if (config_read_file(&cfg, ctl->ctl_conf) != CONFIG_TRUE)
		ctl_refuse("%s:%d: %s", config_error_file(&cfg) != NULL ?
		    config_error_file(&cfg) : ctl->ctl_conf,
		    config_error_line(&cfg), config_error_text(&cfg));
	else {
		if (config_lookup_string(&cfg, "server.pidfile", &s) !=
		    CONFIG_TRUE || *s == '\0')
			s = DEPOT_PIDFILE_DEFAULT;
		if (s[0] == '/')
			path = xstrdup(s);
		else
			xasprintf(&path, "%s/%s", ctl->ctl_confdir, s);
	}
	config_destroy(&cfg);
	return (path);
}

/* Parse the status file; 0, or -1 when it cannot be read. */
static int
ctl_status_read(const char *path, struct ctl_status *st)
{
	FILE	*f;
	char	*line = NULL;
	size_t	 size = 0;
	ssize_t	 n;

	memset(st, 0, sizeof(*st));
	st->st_pid = st->st_reloads = -1;
	if ((f = fopen(path, "r")) == NULL)
		return (-1);
	while ((n = getline(&line, &size, f)) != -1) {
		if (n > 0 && line[n - 1] == '\n')
			line[n - 1] = '\0';
		if (strncmp(line, "pid ", 4) == 0)
			st->st_pid = strtol(line + 4, NULL, 10);
		else if (strncmp(line, "reloads ", 8) == 0)
			st->st_reloads = strtol(line + 8, NULL, 10);
		else if (strncmp(line, "generation ", 11) == 0)
			st->st_generation = strtol(line + 11, NULL, 10);
		else if (strncmp(line, "result ", 7) == 0)
			(void)snprintf(st->st_result, sizeof(st->st_result),
			    "%s", line + 7);
		else if (strncmp(line, "message ", 8) == 0 &&
		    st->st_message == NULL)
			st->st_message = xstrdup(line + 8);
	}
	free(line);
	fclose(f);
	return (0);
}

/* The master's message, one error per line again ("; /file:line: ..."). */
static void
ctl_status_print(FILE *f, const char *message)
{
	const char	*p;

	fprintf(f, "  ");
	for (p = message; *p != '\0'; p++) {
		if (*p == ';' && p[1] == '/') {
			fprintf(f, "\n  ");
			continue;
		}
		if (*p == ';' && p[1] == ' ' && p[2] == '/') {
			fprintf(f, "\n  ");
			p++;
			continue;
		}
		fputc(*p, f);
	}
	fprintf(f, "\n");
}

/* Wait for the status file to count one more reload than before. */
static int
ctl_reload_wait(pid_t pid, const char *status, long before)
{
	struct ctl_status	 st;
	long long		 deadline = now_ms() + CTL_RELOAD_WAIT_MS;
	int			 rv;

	for (;;) {
		usleep(CTL_RELOAD_PAUSE_US);
		if (ctl_status_read(status, &st) == 0 &&
		    st.st_pid == (long)pid && st.st_reloads > before)
			break;
		free(st.st_message);
		if (now_ms() > deadline)
			return (ctl_refuse("depotd (pid %ld) did not report on "
			    "the reload within %d seconds; see its log",
			    (long)pid, CTL_RELOAD_WAIT_MS / 1000));
	}
	if (strcmp(st.st_result, "ok") == 0) {
		printf("depotd (pid %ld) reloaded the configuration "
		    "(generation %ld)\n", (long)pid, st.st_generation);
		rv = CTL_OK;
	} else {
		rv = ctl_refuse("depotd (pid %ld) refused the configuration "
		    "and keeps the running one:", (long)pid);
		ctl_status_print(stderr, st.st_message != NULL ?
		    st.st_message : "(no message)");
	}
	free(st.st_message);
	return (rv);
}

int
ctl_reload(struct ctl *ctl, const struct ctl_command *cmd, int argc,
    char **argv)
{
	static const struct option	 opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct ctl_status		 st;
	char				*pidfile, *status = NULL;
	long				 before = -1;
	pid_t				 pid;
	int				 running, rv = CTL_REFUSED;

	while (ctl_getopt(argc, argv, opts, cmd) != -1)
		;
	ctl_args_done(argc, argv, cmd, 0, 0);
	if ((pidfile = ctl_pidfile(ctl)) == NULL)
		return (CTL_REFUSED);
	if ((running = ctl_daemon_pid(pidfile, &pid)) == -1)
		goto fail;
	if (running == 0 || pid <= 0) {
		ctl_refuse(running == 0 ? "no depotd is running (its pid file "
		    "%s is not locked)" : "cannot read a pid from %s", pidfile);
		goto fail;
	}
	xasprintf(&status, "%s.status", pidfile);
	if (ctl_status_read(status, &st) == 0 && st.st_pid == (long)pid)
		before = st.st_reloads;
	free(st.st_message);
	if (kill(pid, SIGHUP) == -1) {
		ctl_refuse("cannot signal depotd (pid %ld): %s", (long)pid,
		    strerror(errno));
		goto fail;
	}
	rv = ctl_reload_wait(pid, status, before);

fail:
	free(status);
	free(pidfile);
	return (rv);
}

/*
 * registry delete --purge: remove the registry's index entries. *repos
 * says how many repositories went. 0 or CTL_REFUSED.
 */
int
ctl_purge(struct ctl *ctl, const char *name, int *repos)
{
	struct config	*cf = ctl->ctl_cf;
	struct index	*ix;
	struct stat	 st;
	char		 dbdir[PATH_MAX];
	pid_t		 pid;
	int		 running, as_owner;

	*repos = 0;
	if (path_fmt(dbdir, sizeof(dbdir), "%s/db",
	    cf->cf_server.srv_data_dir) == -1)
		return (ctl_refuse("%s: path too long",
		    cf->cf_server.srv_data_dir));
	if (stat(dbdir, &st) == -1 && errno == ENOENT)
		return (0);	/* nothing was ever stored */
	if (stat(cf->cf_server.srv_data_dir, &st) == -1)
		return (ctl_refuse("%s: %s", cf->cf_server.srv_data_dir,
		    strerror(errno)));
	if ((running = ctl_daemon_pid(cf->cf_server.srv_pidfile, &pid)) == -1)
		return (CTL_REFUSED);
	/* Files the index creates must stay usable by depotd's workers. */
	as_owner = geteuid() == 0 && st.st_uid != 0;
	if (as_owner && (setegid(st.st_gid) == -1 ||
	    seteuid(st.st_uid) == -1))
		return (ctl_refuse("cannot switch to the owner of %s: %s",
		    cf->cf_server.srv_data_dir, strerror(errno)));
	ix = ctl_index_open(dbdir, running);
	if (ix != NULL) {
		*repos = index_registry_purge(ix, name);
		/* a helm registry's charts (the blobs stay for gc) */
		if (*repos != -1 && index_helm_purge(ix, name) == -1)
			*repos = -1;
		index_close(ix);
		helm_registry_forget(cf, name);
	}
	if (as_owner && (seteuid(0) == -1 || setegid(0) == -1))
		fatal("%s: cannot switch back to root", __func__);
	if (ix == NULL)
		return (CTL_REFUSED);
	if (*repos == -1)
		return (ctl_refuse("the purge of '%s' failed part way (see "
		    "above); run it again", name));
	return (0);
}
