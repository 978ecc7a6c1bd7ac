/*
 * ctl_fsck.c: `depotctl fsck [--repair]`, the check of the store
 * (store/fsck.c) with or without a running depotd. The index is opened
 * as a worker opens it while depotd runs (its pid file is locked), as the
 * master otherwise (running recovery when it is needed), and everything
 * runs as the owner of data_dir when started as root, so that what the
 * repair creates (lost+found/) stays depotd's. One line per problem on
 * standard output, "kind: object: what is wrong", then a summary line.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "helm/helm.h"
#include "helm/helm_index.h"
#include "store/blobstore.h"
#include "store/fsck.h"
#include "store/index.h"

/* What a run shares with its callbacks. */
struct ctl_fsck {
	struct config	*cf_config;
	int		 cf_repair;
	struct digest	*cf_used;	/* charts cached from Helm upstreams */
	size_t		 cf_nused;
	struct strlist	 cf_charts;	/* helm registries the repair changed */
};

static int	ctl_fsck_hosted(void *, const char *);
static void	ctl_fsck_chart(void *, const char *);
static void	ctl_fsck_charts(struct ctl_fsck *, const char *);
static void	ctl_fsck_rendered(struct ctl_fsck *, const char *);
static void	ctl_fsck_report(void *, const char *, const char *,
		    const char *, const char *);
static void	ctl_fsck_bytes(uint64_t, char *, size_t);
static int	ctl_fsck_owner(const char *, int *);
static int	ctl_fsck_store(struct ctl_fsck *, const char *, int,
		    struct fsck_stats *);

/* Is everything in repo pushed there: a registry with no upstream? */
static int
ctl_fsck_hosted(void *arg, const char *repo)
{
	struct ctl_fsck		*cx = arg;
	struct config_registry	*reg;

	return (config_name_find(cx->cf_config, repo, &reg, NULL) == 1 &&
	    reg != NULL && reg->reg_upstreams.sl_count == 0);
}

/* One chart an upstream's index names. */
static void
ctl_fsck_chart(void *arg, const char *hex)
{
	struct ctl_fsck	*cx = arg;
	struct digest	 d;
	char		 s[DIGEST_STRING_MAX];

	if (snprintf(s, sizeof(s), "sha256:%s", hex) >= (int)sizeof(s) ||
	    digest_parse(s, &d, NULL) == -1)
		return;
	cx->cf_used = xreallocarray(cx->cf_used, cx->cf_nused + 1,
	    sizeof(*cx->cf_used));
	cx->cf_used[cx->cf_nused++] = d;
}

/*
 * The charts cached from Helm upstreams are linked nowhere: their
 * upstream's index (a member file under data_dir/helm) names them.
 */
static void
ctl_fsck_charts(struct ctl_fsck *cx, const char *data_dir)
{
	struct config_upstream	*up;
	char			 path[PATH_MAX];
	size_t			 i;

	for (i = 0; i < cx->cf_config->cf_nupstreams; i++) {
		up = &cx->cf_config->cf_upstreams[i];
		if (up->up_type != REPO_HELM ||
		    path_fmt(path, sizeof(path), "%s/helm/upstreams/%s/member",
		    data_dir, up->up_key) == -1)
			continue;
		if (helm_member_digests(path, ctl_fsck_chart, cx) == -1)
			log_warnx("%s: cannot be read; the charts cached from "
			    "%s may be taken for orphans", path, up->up_key);
	}
}

/*
 * A chart version the repair removed: its registry's index.yaml is
 * rendered again (from the index) when next asked for, once the rendered
 * one is forgotten after the run. object is "registry/name-version" (or
 * a garbled key, printed "registry\0...").
 */
static void
ctl_fsck_rendered(struct ctl_fsck *cx, const char *object)
{
	char	*name;
	size_t	 i;

	name = xstrndup(object, strcspn(object, "/\\"));
	for (i = 0; i < cx->cf_charts.sl_count; i++)
		if (strcmp(cx->cf_charts.sl_items[i], name) == 0)
			break;
	if (i == cx->cf_charts.sl_count && *name != '\0')
		ctl_list_add(&cx->cf_charts, name);
	free(name);
}

static void
ctl_fsck_report(void *arg, const char *kind, const char *object,
    const char *what, const char *repaired)
{
	struct ctl_fsck	*cx = arg;

	if (repaired != NULL && strcmp(kind, "chart") == 0)
		ctl_fsck_rendered(cx, object);
	printf("%s: %s: %s", kind, object, what);
	if (repaired != NULL)
		printf("; repaired: %s", repaired);
	else if (cx->cf_repair)
		printf("; not repaired");
	printf("\n");
	fflush(stdout);
}

static void
ctl_fsck_bytes(uint64_t n, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double		 v = (double)n;
	size_t		 u = 0;

	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		(void)snprintf(buf, len, "%" PRIu64 " B", n);
	else
		(void)snprintf(buf, len, "%.1f %s", v, units[u]);
}

/*
 * Run as the owner of data_dir when started as root (*switched says so).
 * 0 or CTL_REFUSED.
 */
static int
ctl_fsck_owner(const char *data_dir, int *switched)
{
	struct stat	 st;

	*switched = 0;
	if (stat(data_dir, &st) == -1)
		return (ctl_refuse("%s: %s", data_dir, strerror(errno)));
	if (geteuid() != 0 || st.st_uid == 0)
		return (0);
	if (setegid(st.st_gid) == -1 || seteuid(st.st_uid) == -1)
		return (ctl_refuse("cannot switch to the owner of %s: %s",
		    data_dir, strerror(errno)));
	*switched = 1;
	return (0);
}

/* Open the index and the blob store and check them. 0 or CTL_REFUSED. */
static int
ctl_fsck_store(struct ctl_fsck *cx, const char *data_dir, int running,
    struct fsck_stats *st)
{
	struct fsck_options	 opt;
	struct index		*ix = NULL;
	struct blobstore	*bs = NULL;
	char			 dbdir[PATH_MAX], *cause = NULL;
	int			 rv = CTL_REFUSED;

	if (path_fmt(dbdir, sizeof(dbdir), "%s/db", data_dir) == -1)
		return (ctl_refuse("%s: path too long", data_dir));
	if ((bs = blobstore_open(data_dir, &cause)) == NULL) {
		ctl_refuse("cannot open the blob store: %s", cause);
		goto fail;
	}
	if ((ix = ctl_index_open(dbdir, running)) == NULL)
		goto fail;
	memset(&opt, 0, sizeof(opt));
	opt.fo_data_dir = data_dir;
	opt.fo_repair = cx->cf_repair;
	opt.fo_grace = cx->cf_config->cf_server.srv_upload_expiry;
	opt.fo_hosted = ctl_fsck_hosted;
	opt.fo_report = ctl_fsck_report;
	opt.fo_arg = cx;
	ctl_fsck_charts(cx, data_dir);
	opt.fo_used = cx->cf_used;
	opt.fo_nused = cx->cf_nused;
	if (fsck_run(ix, bs, &opt, st, &cause) == -1) {
		ctl_refuse("the check stopped: %s", cause);
		goto fail;
	}
	rv = CTL_OK;

fail:
	free(cause);
	free(cx->cf_used);
	cx->cf_used = NULL;
	cx->cf_nused = 0;
	index_close(ix);
	blobstore_free(bs);
	return (rv);
}

int
ctl_fsck(struct ctl *ctl, const struct ctl_command *cmd, int argc,
    char **argv)
{
	static const struct option	 opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "repair", no_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 }
	};
	struct ctl_fsck			 cx;
	struct fsck_stats		 st;
	struct config			*cf;
	char				 bytes[32];
	pid_t				 pid;
	size_t				 i;
	int				 ch, running, switched, rv;

	memset(&cx, 0, sizeof(cx));
	while ((ch = ctl_getopt(argc, argv, opts, cmd)) != -1)
		if (ch == 'r')
			cx.cf_repair = 1;
	ctl_args_done(argc, argv, cmd, 0, 0);
	if ((cf = ctl_config(ctl)) == NULL)
		return (CTL_REFUSED);
	cx.cf_config = cf;
	if ((running = ctl_daemon_pid(cf->cf_server.srv_pidfile, &pid)) == -1)
		return (CTL_REFUSED);
	if (ctl_fsck_owner(cf->cf_server.srv_data_dir, &switched) != 0)
		return (CTL_REFUSED);
	rv = ctl_fsck_store(&cx, cf->cf_server.srv_data_dir, running, &st);
	for (i = 0; i < cx.cf_charts.sl_count; i++)
		if (config_registry_find(cf, cx.cf_charts.sl_items[i]) != NULL)
			helm_registry_forget(cf, cx.cf_charts.sl_items[i]);
	ctl_list_clear(&cx.cf_charts);
	if (switched && (seteuid(0) == -1 || setegid(0) == -1))
		fatal("%s: cannot switch back to root", __func__);
	if (rv != CTL_OK)
		return (rv);
	ctl_fsck_bytes(st.fs_bytes, bytes, sizeof(bytes));
	printf("fsck: %s, %" PRIu64 " blob%s (%s) hashed, %" PRIu64
	    " index entr%s checked: ", running ? "online" : "offline",
	    st.fs_blobs, st.fs_blobs == 1 ? "" : "s", bytes, st.fs_entries,
	    st.fs_entries == 1 ? "y" : "ies");
	if (st.fs_problems == 0) {
		printf("clean\n");
		return (CTL_OK);
	}
	printf("%" PRIu64 " problem%s", st.fs_problems,
	    st.fs_problems == 1 ? "" : "s");
	if (cx.cf_repair)
		printf(", %" PRIu64 " repaired", st.fs_repaired);
	printf("\n");
	return (CTL_REFUSED);
}
