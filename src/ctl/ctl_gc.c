/*
 * ctl_gc.c: depotctl gc, one garbage collection of the store (store/gc.h)
 * run by depotctl itself, online (beside a running depotd, whose pushes
 * and pulls go on) or offline. It prints what it freed (or, with
 * --dry-run, what it would free) and exits 0, 1 when the collection
 * failed, 2 on a usage error. SIGINT, SIGTERM and SIGHUP stop it between
 * two candidates, never inside a transaction of the index it shares with
 * depotd: a process killed there may leave a lock or a region mutex
 * held that only a restart of depotd clears.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/config.h"
#include "ctl/ctl.h"
#include "lib/log.h"
#include "lib/util.h"
#include "store/blobstore.h"
#include "store/gc.h"
#include "store/index.h"

static volatile sig_atomic_t	gc_stop;

static void	gc_on_signal(int);
static int	gc_grace_arg(const struct ctl_command *, const char *,
		    int64_t *);
static int	gc_collect(struct ctl *, const struct gc_options *,
		    struct gc_result *);
static void	gc_print(const struct gc_options *,
		    const struct gc_result *);

static void
gc_on_signal(int sig)
{
	(void)sig;
	gc_stop = 1;
}

/* --grace SECONDS: 0 or more. */
static int
gc_grace_arg(const struct ctl_command *cmd, const char *arg, int64_t *out)
{
	char		*end;
	long long	 v;

	errno = 0;
	v = strtoll(arg, &end, 10);
	if (*arg == '\0' || *end != '\0' || errno != 0 || v < 0)
		ctl_usage(cmd, "--grace wants a number of seconds (0 or "
		    "more), not '%s'", arg);
	*out = v;
	return (0);
}

/*
 * Open the index (as a worker beside a running depotd, else as master)
 * and the blob store, as the owner of the data directory, and collect.
 * 0, or CTL_REFUSED after a message.
 */
static int
gc_collect(struct ctl *ctl, const struct gc_options *o, struct gc_result *r)
{
	struct config	*cf = ctl->ctl_cf;
	struct index	*ix = NULL;
	struct blobstore *bs = NULL;
	struct stat	 st;
	char		 dbdir[PATH_MAX], *cause = NULL;
	pid_t		 pid;
	int		 running, as_owner, rv;

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
	if ((ix = ctl_index_open(dbdir, running)) == NULL) {
		rv = CTL_REFUSED;
		goto done;
	}
	if ((bs = blobstore_open(cf->cf_server.srv_data_dir, &cause)) ==
	    NULL) {
		rv = ctl_refuse("cannot open the blob store: %s", cause);
		goto done;
	}
	if (gc_run(ix, bs, o, r, &cause) == -1) {
		gc_print(o, r);
		rv = ctl_refuse("garbage collection failed: %s", cause);
		goto done;
	}
	rv = 0;

done:
	free(cause);
	blobstore_free(bs);
	index_close(ix);
	if (as_owner && (seteuid(0) == -1 || setegid(0) == -1))
		fatal("%s: cannot switch back to root", __func__);
	return (rv);
}

static void
gc_print(const struct gc_options *o, const struct gc_result *r)
{
	printf("%s %" PRIu64 " blob%s, %" PRId64 " bytes; %" PRIu64
	    " link%s (%" PRIu64 " manifest%s) %s\n",
	    o->go_dry_run ? "would free" : "freed", r->gr_blobs,
	    r->gr_blobs == 1 ? "" : "s", r->gr_bytes, r->gr_links,
	    r->gr_links == 1 ? "" : "s", r->gr_manifests,
	    r->gr_manifests == 1 ? "" : "s",
	    o->go_dry_run ? "would be removed" : "removed");
	if (r->gr_kept > 0)
		printf("kept %" PRIu64 " candidate%s used or written while "
		    "the collection ran\n", r->gr_kept,
		    r->gr_kept == 1 ? "" : "s");
}

int
ctl_gc(struct ctl *ctl, const struct ctl_command *cmd, int argc, char **argv)
{
	static const struct option	 opts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "grace", required_argument, NULL, 'g' },
		{ "registry", required_argument, NULL, 'r' },
		{ "untagged", no_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct gc_options		 o;
	struct gc_result		 r;
	struct sigaction		 sa;
	int				 ch, grace_set = 0;

	memset(&o, 0, sizeof(o));
	memset(&r, 0, sizeof(r));
	while ((ch = ctl_getopt(argc, argv, opts, cmd)) != -1)
		switch (ch) {
		case 'n':
			o.go_dry_run = 1;
			break;
		case 'g':
			gc_grace_arg(cmd, optarg, &o.go_grace);
			grace_set = 1;
			break;
		case 'r':
			o.go_registry = optarg;
			break;
		case 'u':
			o.go_untagged = 1;
			break;
		}
	ctl_args_done(argc, argv, cmd, 0, 0);
	if (o.go_registry != NULL &&
	    ctl_name_check(o.go_registry, "registry name") != 0)
		return (CTL_REFUSED);
	if (ctl_config(ctl) == NULL)
		return (CTL_REFUSED);
	if (o.go_registry != NULL &&
	    config_registry_find(ctl->ctl_cf, o.go_registry) == NULL &&
	    config_upstream_find(ctl->ctl_cf, o.go_registry) == NULL)
		return (ctl_refuse("no registry or upstream is named '%s'",
		    o.go_registry));
	if (!grace_set)
		o.go_grace = ctl->ctl_cf->cf_server.srv_gc_grace;
	/* Stop between two candidates (gc_run checks go_stop). */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = gc_on_signal;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGINT, &sa, NULL) == -1 ||
	    sigaction(SIGTERM, &sa, NULL) == -1 ||
	    sigaction(SIGHUP, &sa, NULL) == -1)
		return (ctl_refuse("sigaction: %s", strerror(errno)));
	o.go_stop = &gc_stop;
	if (gc_collect(ctl, &o, &r) != 0)
		return (CTL_REFUSED);
	gc_print(&o, &r);
	return (CTL_OK);
}
