/*
 * gc_mark.c: a garbage collection (gc_run): mark, then sweep, online.
 *
 * The mark reads snapshots in batches and the manifests' files outside
 * any transaction. Marks are per link, (repo, digest): a repository
 * keeps a blob only when one of its own kept manifests references it.
 *  - roots: the manifest of every tag; every manifest link unless
 *    go_untagged; with a repository that has an upload in progress, all
 *    its links; the blobs of hosted chart versions (global); every
 *    link of a chart cached from a Helm upstream (INDEX_LINK_CHART: it
 *    stays until cache eviction gives it up);
 *  - from each kept manifest: its config and layers, the children of an
 *    index (kept in turn), and the referrers of it in its repository
 *    (a signature or SBOM of a kept subject is kept in turn). A manifest
 *    whose file cannot be read or parsed keeps every link of its
 *    repository: what we cannot read we do not judge.
 * The sweep, started at time T (in whole seconds, as links are touched)
 * with cutoff T - grace: the mark waits for the clock to leave the
 * second T before it reads anything, so that a link touched after the
 * mark's snapshots is stamped after the cutoff even with a grace of 0
 * (a touch in the second T itself could follow the snapshot);
 *  1. each link not marked and not touched after cutoff is removed by
 *     gc_unlink, which re-checks under locks (one short transaction each);
 *  2. each file of blobs/ whose digest no kept link names, no chart
 *     names, and whose mtime is not after cutoff goes to
 *     gc_remove_digest, which re-checks under locks and the file's flock.
 * Anything written, linked, touched or referenced by a manifest PUT after
 * T - grace is therefore kept, whatever the mark saw.
 * With go_registry, links of other registries are never removed, and
 * only blobs whose links this run removed are candidates. Runs that
 * remove things do not overlap: the second finds tmp/gc.lock taken and
 * fails at once.
 */
#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "depot.h"
#include "lib/digest.h"
#include "lib/log.h"
#include "lib/manifest.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "store/blobstore.h"
#include "store/gc.h"
#include "store/index.h"

#define GC_BATCH	1024	/* entries per listing snapshot */
#define GC_LOCK_FILE	"gc.lock"	/* in tmp/: one collection at a time */

/* A set of strings (open addressing, FNV-1a). */
struct gc_set {
	char		**gs_slots;
	size_t		  gs_size;	/* a power of two, or 0 */
	size_t		  gs_count;
};

/* A run; keys of the sets and the queue are "repo digest" or digests. */
struct gc {
	struct index		*gc_ix;
	struct blobstore	*gc_bs;
	const struct gc_options	*gc_opt;
	struct gc_result	*gc_res;
	int64_t			 gc_cutoff;
	struct gc_set		 gc_marked;	/* "repo digest" */
	struct gc_set		 gc_keep_repos;	/* all links kept */
	struct gc_set		 gc_kept;	/* of kept links */
	struct gc_set		 gc_swept;	/* of removed links */
	struct gc_set		 gc_charts;	/* of hosted charts */
	char			**gc_queue;
	size_t			 gc_queued;
	size_t			 gc_queue_size;
};

static uint64_t	gc_hash(const char *);
static int	gc_set_has(const struct gc_set *, const char *);
static int	gc_set_add(struct gc_set *, const char *);
static void	gc_set_clear(struct gc_set *);
static char	*gc_key(const char *, const struct digest *);
static int	gc_in_scope(const struct gc *, const char *);
static int	gc_stopped(const struct gc *, char **);
static int	gc_lock(struct blobstore *, char **);
static int	gc_next_second(const struct gc *, time_t, char **);
static void	gc_push(struct gc *, const char *, const struct digest *);
static int	gc_roots(struct gc *, char **);
static int	gc_visit(struct gc *, const char *, const struct digest *);
static int	gc_read_manifest(struct gc *, const struct digest *,
		    struct manifest_info *);
static int	gc_mark(struct gc *, char **);
static int	gc_sweep_links(struct gc *, char **);
static int	gc_sweep_blob(struct gc *, const char *, const char *,
		    const char *);
static int	gc_sweep_blobs(struct gc *, char **);
static int	gc_sweep_dir(struct gc *, const char *, const char *,
		    const char *);

static uint64_t
gc_hash(const char *s)
{
	uint64_t	 h = 1469598103934665603ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return (h);
}

static int
gc_set_has(const struct gc_set *gs, const char *key)
{
	size_t	 i;

	if (gs->gs_size == 0)
		return (0);
	for (i = gc_hash(key) & (gs->gs_size - 1); gs->gs_slots[i] != NULL;
	    i = (i + 1) & (gs->gs_size - 1))
		if (strcmp(gs->gs_slots[i], key) == 0)
			return (1);
	return (0);
}

/* Add a copy of key. 1 added, 0 already there. */
static int
gc_set_add(struct gc_set *gs, const char *key)
{
	struct gc_set	 grown;
	size_t		 i;

	if (gc_set_has(gs, key))
		return (0);
	if ((gs->gs_count + 1) * 2 > gs->gs_size) {
		memset(&grown, 0, sizeof(grown));
		grown.gs_size = gs->gs_size == 0 ? 1024 : gs->gs_size * 2;
		grown.gs_slots = xcalloc(grown.gs_size, sizeof(char *));
		for (i = 0; i < gs->gs_size; i++)
			if (gs->gs_slots[i] != NULL) {
				size_t j = gc_hash(gs->gs_slots[i]) &
				    (grown.gs_size - 1);

				while (grown.gs_slots[j] != NULL)
					j = (j + 1) & (grown.gs_size - 1);
				grown.gs_slots[j] = gs->gs_slots[i];
			}
		free(gs->gs_slots);
		gs->gs_slots = grown.gs_slots;
		gs->gs_size = grown.gs_size;
	}
	for (i = gc_hash(key) & (gs->gs_size - 1); gs->gs_slots[i] != NULL;
	    i = (i + 1) & (gs->gs_size - 1))
		;
	gs->gs_slots[i] = xstrdup(key);
	gs->gs_count++;
	return (1);
}

static void
gc_set_clear(struct gc_set *gs)
{
	size_t	 i;

	for (i = 0; i < gs->gs_size; i++)
		free(gs->gs_slots[i]);
	free(gs->gs_slots);
	memset(gs, 0, sizeof(*gs));
}

/* "repo digest" (a space cannot be in either). Caller frees. */
static char *
gc_key(const char *repo, const struct digest *d)
{
	char	 ds[DIGEST_STRING_MAX], *key;

	digest_format(d, ds, sizeof(ds));
	xasprintf(&key, "%s %s", repo, ds);
	return (key);
}

/* Is repo in the registry the run is limited to (or is there none)? */
static int
gc_in_scope(const struct gc *g, const char *repo)
{
	const char	*reg = g->gc_opt->go_registry;
	size_t		 n;

	if (reg == NULL)
		return (1);
	n = strlen(reg);
	return (strncmp(repo, reg, n) == 0 && repo[n] == '/');
}

/* Was the run asked to stop? Then -1 with *cause. */
static int
gc_stopped(const struct gc *g, char **cause)
{
	if (g->gc_opt->go_stop == NULL || !*g->gc_opt->go_stop)
		return (0);
	if (*cause == NULL)
		*cause = xstrdup("interrupted");
	return (1);
}

/*
 * One collection at a time (a second would only repeat the first's
 * work): an flock on tmp/gc.lock, dropped with the descriptor. The
 * descriptor, or -1 with *cause.
 */
static int
gc_lock(struct blobstore *bs, char **cause)
{
	char	 path[PATH_MAX];
	int	 fd;

	if (path_fmt(path, sizeof(path), "%s/%s", blobstore_tmpdir(bs),
	    GC_LOCK_FILE) == -1) {
		*cause = xstrdup("data directory path too long");
		return (-1);
	}
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640)) == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return (-1);
	}
	while (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EINTR)
			continue;
		if (errno == EWOULDBLOCK)
			*cause = xstrdup("another garbage collection is "
			    "running");
		else
			xasprintf(cause, "flock %s: %s", path,
			    strerror(errno));
		close(fd);
		return (-1);
	}
	return (fd);
}

/*
 * Wait until time(2), the clock links are stamped with, is past t0.
 * 0, or -1 with *cause when the run was asked to stop.
 */
static int
gc_next_second(const struct gc *g, time_t t0, char **cause)
{
	struct timespec	 now, ts;

	while (time(NULL) <= t0) {
		if (gc_stopped(g, cause))
			return (-1);
		if (clock_gettime(CLOCK_REALTIME, &now) == -1)
			now.tv_nsec = 0;
		ts.tv_sec = 0;
		/* To the next second, and a tick for time(2)'s coarse clock. */
		ts.tv_nsec = 1000000000L - now.tv_nsec + 5000000L;
		if (ts.tv_nsec >= 1000000000L)
			ts.tv_nsec = 999999999L;
		(void)nanosleep(&ts, NULL);
	}
	return (0);
}

/* Queue the manifest d of repo for a visit. */
static void
gc_push(struct gc *g, const char *repo, const struct digest *d)
{
	if (g->gc_queued == g->gc_queue_size) {
		g->gc_queue_size = g->gc_queue_size == 0 ? 256 :
		    g->gc_queue_size * 2;
		g->gc_queue = xreallocarray(g->gc_queue, g->gc_queue_size,
		    sizeof(*g->gc_queue));
	}
	g->gc_queue[g->gc_queued++] = gc_key(repo, d);
}

/* Tags, manifest links (unless go_untagged), uploads and charts. */
static int
gc_roots(struct gc *g, char **cause)
{
	struct index_tag_entry	*tags = NULL, tlast;
	struct index_link_entry	*links = NULL, llast;
	struct digest		*charts = NULL;
	char			**repos = NULL, ds[DIGEST_STRING_MAX];
	size_t			 n, i;
	int			 first = 1;

	do {
		if (index_tag_list_all(g->gc_ix, first ? NULL : &tlast,
		    GC_BATCH, &tags, &n) == -1)
			goto fail;
		for (i = 0; i < n; i++)
			if (gc_in_scope(g, tags[i].ite_repo))
				gc_push(g, tags[i].ite_repo,
				    &tags[i].ite_digest);
		if (n > 0)
			tlast = tags[n - 1];
		free(tags);
		first = 0;
	} while (n == GC_BATCH);
	for (first = 1; !g->gc_opt->go_untagged; first = 0) {
		if (index_link_list(g->gc_ix, first ? NULL : &llast, GC_BATCH,
		    &links, &n) == -1)
			goto fail;
		for (i = 0; i < n; i++)
			if (links[i].ile_info.ili_kind == INDEX_LINK_MANIFEST &&
			    gc_in_scope(g, links[i].ile_repo))
				gc_push(g, links[i].ile_repo,
				    &links[i].ile_digest);
		if (n > 0)
			llast = links[n - 1];
		free(links);
		if (n < GC_BATCH)
			break;
	}
	if (index_upload_repos(g->gc_ix, &repos, &n) == -1)
		goto fail;
	for (i = 0; i < n; i++)
		gc_set_add(&g->gc_keep_repos, repos[i]);
	index_strings_free(repos, n);
	if (index_helm_blobs(g->gc_ix, &charts, &n) == -1)
		goto fail;
	for (i = 0; i < n; i++) {
		digest_format(&charts[i], ds, sizeof(ds));
		gc_set_add(&g->gc_charts, ds);
	}
	free(charts);
	return (0);

fail:
	*cause = xstrdup("cannot read the index (see the log)");
	return (-1);
}

/*
 * Read and parse the manifest d from its file. 0, or -1 when it cannot
 * be read or parsed (logged).
 */
static int
gc_read_manifest(struct gc *g, const struct digest *d,
    struct manifest_info *mi)
{
	struct index_manifest	 im;
	char			 ds[DIGEST_STRING_MAX], *buf = NULL;
	char			*cause = NULL;
	const char		*type = NULL;
	off_t			 size;
	ssize_t			 n;
	size_t			 got = 0;
	int			 fd = -1, rv = -1, found;

	memset(&im, 0, sizeof(im));
	digest_format(d, ds, sizeof(ds));
	if ((found = index_manifest_get(g->gc_ix, d, &im)) == -1)
		goto fail;
	if (found == 1 && im.im_media_type[0] != '\0')
		type = im.im_media_type;
	if (blobstore_open_blob(g->gc_bs, d, &fd, &size) == -1) {
		log_warnx("gc: manifest %s: not stored", ds);
		goto fail;
	}
	if (size > DEPOT_MANIFEST_MAX) {
		log_warnx("gc: manifest %s: too big", ds);
		goto fail;
	}
	buf = xmalloc((size_t)size + 1);
	while (got < (size_t)size) {
		if ((n = read(fd, buf + got, (size_t)size - got)) == -1 &&
		    errno == EINTR)
			continue;
		if (n <= 0) {
			log_warnx("gc: manifest %s: short read", ds);
			goto fail;
		}
		got += (size_t)n;
	}
	if (manifest_parse(buf, got, type, mi, &cause) == -1) {
		log_warnx("gc: manifest %s: %s", ds, cause);
		goto fail;
	}
	rv = 0;

fail:
	free(cause);
	free(buf);
	if (fd != -1)
		close(fd);
	index_manifest_clear(&im);
	return (rv);
}

/* Mark the manifest d of repo, its references, children and referrers. */
static int
gc_visit(struct gc *g, const char *repo, const struct digest *d)
{
	struct manifest_info	 mi;
	struct digest		*refs = NULL;
	char			*key;
	size_t			 i, n;

	key = gc_key(repo, d);
	if (!gc_set_add(&g->gc_marked, key)) {
		free(key);
		return (0);
	}
	free(key);
	memset(&mi, 0, sizeof(mi));
	if (gc_read_manifest(g, d, &mi) == -1) {
		/* What we cannot read we do not judge. */
		gc_set_add(&g->gc_keep_repos, repo);
		return (0);
	}
	for (i = 0; i < mi.mi_nrefs; i++) {
		key = gc_key(repo, &mi.mi_refs[i].mr_digest);
		if (mi.mi_refs[i].mr_is_manifest)
			gc_push(g, repo, &mi.mi_refs[i].mr_digest);
		else
			gc_set_add(&g->gc_marked, key);
		free(key);
	}
	manifest_info_clear(&mi);
	if (index_referrer_list(g->gc_ix, repo, d, &refs, &n) == -1)
		return (-1);
	for (i = 0; i < n; i++)
		gc_push(g, repo, &refs[i]);
	free(refs);
	return (0);
}

static int
gc_mark(struct gc *g, char **cause)
{
	struct digest	 d;
	char		*key, *sp;
	int		 rv = 0;

	if (gc_roots(g, cause) == -1)
		return (-1);
	while (g->gc_queued > 0) {
		if (gc_stopped(g, cause))
			return (-1);
		key = g->gc_queue[--g->gc_queued];
		sp = strrchr(key, ' ');
		*sp = '\0';
		if (digest_parse(sp + 1, &d, NULL) == 0 &&
		    gc_visit(g, key, &d) == -1)
			rv = -1;
		free(key);
		if (rv == -1) {
			*cause = xstrdup("cannot read the index (see the log)");
			return (-1);
		}
	}
	return (0);
}

/* Remove (or count) the links not marked and older than the cutoff. */
static int
gc_sweep_links(struct gc *g, char **cause)
{
	struct index_link_entry	*links = NULL, last, *e;
	char			 ds[DIGEST_STRING_MAX], *key;
	size_t			 n, i;
	int			 first = 1, kept, removed;

	do {
		if (gc_stopped(g, cause))
			return (-1);
		if (index_link_list(g->gc_ix, first ? NULL : &last, GC_BATCH,
		    &links, &n) == -1) {
			*cause = xstrdup("cannot read the index (see the log)");
			return (-1);
		}
		for (i = 0; i < n; i++) {
			if (gc_stopped(g, cause)) {
				free(links);
				return (-1);
			}
			e = &links[i];
			digest_format(&e->ile_digest, ds, sizeof(ds));
			key = gc_key(e->ile_repo, &e->ile_digest);
			kept = !gc_in_scope(g, e->ile_repo) ||
			    gc_set_has(&g->gc_marked, key) ||
			    gc_set_has(&g->gc_keep_repos, e->ile_repo) ||
			    e->ile_info.ili_kind == INDEX_LINK_CHART ||
			    e->ile_info.ili_touched > g->gc_cutoff;
			free(key);
			if (kept)
				removed = 0;
			else if (g->gc_opt->go_dry_run)
				removed = 1;
			else if ((removed = gc_unlink(g->gc_ix, e->ile_repo,
			    &e->ile_digest, g->gc_cutoff)) == 0)
				g->gc_res->gr_kept++;
			if (removed == -1) {
				*cause = xstrdup("cannot remove a link (see "
				    "the log)");
				free(links);
				return (-1);
			}
			if (removed == 1) {
				log_debug("gc: link %s %s removed",
				    e->ile_repo, ds);
				g->gc_res->gr_links++;
				if (e->ile_info.ili_kind == INDEX_LINK_MANIFEST)
					g->gc_res->gr_manifests++;
				gc_set_add(&g->gc_swept, ds);
			} else
				gc_set_add(&g->gc_kept, ds);
		}
		if (n > 0)
			last = links[n - 1];
		free(links);
		first = 0;
	} while (n == GC_BATCH);
	return (0);
}

/* One file of blobs/<alg>/<xx>/: remove it (or count it) when garbage. */
static int
gc_sweep_blob(struct gc *g, const char *dir, const char *alg,
    const char *name)
{
	struct digest	 d;
	struct stat	 sb;
	char		 ds[DIGEST_STRING_MAX], path[PATH_MAX];
	int64_t		 freed = 0;
	int		 rv;

	if (path_fmt(ds, sizeof(ds), "%s:%s", alg, name) == -1 ||
	    digest_parse(ds, &d, NULL) == -1)
		return (0);	/* not a blob: fsck's business */
	if (gc_set_has(&g->gc_kept, ds) || gc_set_has(&g->gc_charts, ds) ||
	    (g->gc_opt->go_registry != NULL && !gc_set_has(&g->gc_swept, ds)))
		return (0);
	if (path_fmt(path, sizeof(path), "%s/%s", dir, name) == -1 ||
	    lstat(path, &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    (int64_t)sb.st_mtime > g->gc_cutoff)
		return (0);
	if (g->gc_opt->go_dry_run) {
		g->gc_res->gr_blobs++;
		g->gc_res->gr_bytes += (int64_t)sb.st_size;
		return (0);
	}
	if ((rv = gc_remove_digest(g->gc_ix, g->gc_bs, &d, g->gc_cutoff,
	    &freed)) == 1) {
		log_debug("gc: blob %s removed (%" PRId64 " bytes)", ds,
		    freed);
		g->gc_res->gr_blobs++;
		g->gc_res->gr_bytes += freed;
	} else if (rv == 0)
		g->gc_res->gr_kept++;
	return (rv == -1 ? -1 : 0);
}

/* The files of one blobs/<alg>/<xx> directory. */
static int
gc_sweep_dir(struct gc *g, const char *top, const char *alg,
    const char *sub)
{
	char		 dir[PATH_MAX];
	DIR		*dp;
	struct dirent	*de;
	int		 rv = 0;

	if (path_fmt(dir, sizeof(dir), "%s/%s/%s", top, alg, sub) == -1)
		return (-1);
	if ((dp = opendir(dir)) == NULL)
		return (errno == ENOENT || errno == ENOTDIR ? 0 : -1);
	while ((de = readdir(dp)) != NULL)
		if (de->d_name[0] != '.' &&
		    gc_sweep_blob(g, dir, alg, de->d_name) == -1)
			rv = -1;
	closedir(dp);
	return (rv);
}

/* Walk blobs/<alg>/<xx>/<hex> under the data directory. */
static int
gc_sweep_blobs(struct gc *g, char **cause)
{
	static const char *const algs[] = { "sha256", "sha512" };
	char		 top[PATH_MAX], dir[PATH_MAX], *slash;
	DIR		*dp;
	struct dirent	*de;
	size_t		 i;
	int		 rv = 0;

	/* blobs/ is the sibling of the blob store's tmp/. */
	if (path_fmt(top, sizeof(top), "%s",
	    blobstore_tmpdir(g->gc_bs)) == -1 ||
	    (slash = strrchr(top, '/')) == NULL)
		goto fail;
	*slash = '\0';
	if (path_fmt(dir, sizeof(dir), "%s/blobs", top) == -1)
		goto fail;
	for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		if (path_fmt(top, sizeof(top), "%s/%s", dir, algs[i]) == -1)
			goto fail;
		if ((dp = opendir(top)) == NULL) {
			if (errno == ENOENT)
				continue;
			goto fail;
		}
		while ((de = readdir(dp)) != NULL && !gc_stopped(g, cause))
			if (de->d_name[0] != '.' && gc_sweep_dir(g, dir,
			    algs[i], de->d_name) == -1)
				rv = -1;
		closedir(dp);
		if (gc_stopped(g, cause))
			return (-1);
	}
	if (rv == -1)
		*cause = xstrdup("some blobs could not be removed (see the "
		    "log)");
	return (rv);

fail:
	xasprintf(cause, "cannot read the blob store: %s", strerror(errno));
	return (-1);
}

int
gc_run(struct index *ix, struct blobstore *bs, const struct gc_options *opt,
    struct gc_result *res, char **cause)
{
	struct gc	 g;
	int64_t		 start_ms, grace;
	time_t		 t0;
	size_t		 i;
	int		 rv = -1, lock = -1;

	*cause = NULL;
	memset(res, 0, sizeof(*res));
	if (!opt->go_dry_run && (lock = gc_lock(bs, cause)) == -1)
		return (-1);
	memset(&g, 0, sizeof(g));
	start_ms = (int64_t)now_ms();
	grace = opt->go_grace < 0 ? GC_GRACE_DEFAULT : opt->go_grace;
	g.gc_ix = ix;
	g.gc_bs = bs;
	g.gc_opt = opt;
	g.gc_res = res;
	t0 = time(NULL);
	g.gc_cutoff = (int64_t)t0 - grace;
	if (gc_next_second(&g, t0, cause) == -1 ||
	    gc_mark(&g, cause) == -1 || gc_sweep_links(&g, cause) == -1 ||
	    gc_sweep_blobs(&g, cause) == -1)
		goto fail;
	rv = 0;

fail:
	res->gr_msec = (int64_t)now_ms() - start_ms;
	/* What was freed counts, even when the run stopped part way. */
	if (!opt->go_dry_run && (rv == 0 || res->gr_blobs > 0) &&
	    gc_totals_add(ix, res) == -1)
		log_warnx("gc: the totals were not recorded");
	for (i = 0; i < g.gc_queued; i++)
		free(g.gc_queue[i]);
	free(g.gc_queue);
	gc_set_clear(&g.gc_marked);
	gc_set_clear(&g.gc_keep_repos);
	gc_set_clear(&g.gc_kept);
	gc_set_clear(&g.gc_swept);
	gc_set_clear(&g.gc_charts);
	if (lock != -1)
		close(lock);
	return (rv);
}
