/*
 * gc.c: the sweep primitive of the store (gc_remove_digest), the lock
 * that link writers take against it (gc_hold), and the removal of one
 * link (gc_unlink). gc.h tells the rules; gc_mark.c runs a collection.
 */
#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "store/blobstore.h"
#include "store/gc.h"

static int	gc_flock(int, int);

/* flock(2) through EINTR. 0 or -1. */
static int
gc_flock(int fd, int op)
{
	while (flock(fd, op) == -1)
		if (errno != EINTR)
			return (-1);
	return (0);
}

int
gc_hold(struct blobstore *bs, const struct digest *d, int *fd)
{
	struct stat	 sb;
	int		 f;

	*fd = -1;
	if (blobstore_open_blob(bs, d, &f, NULL) == -1)
		return (errno == ENOENT ? 0 : -1);
	if (gc_flock(f, LOCK_SH) == -1) {
		log_warn("%s: flock", __func__);
		close(f);
		return (-1);
	}
	/* Swept while we waited: the file we hold is no longer there. */
	if (fstat(f, &sb) == -1 || sb.st_nlink == 0 ||
	    !blobstore_same_file(bs, d, f, 0)) {
		close(f);
		return (0);
	}
	/* Its age restarts: a sweep that has not looked yet keeps it. */
	if (futimens(f, NULL) == -1 && errno != EPERM && errno != EACCES)
		log_warn("%s: futimens", __func__);
	*fd = f;
	return (1);
}

void
gc_release(int fd)
{
	if (fd != -1)
		close(fd);	/* drops the flock */
}

int
gc_link_stored(struct index *ix, struct blobstore *bs, const char *repo,
    const struct digest *d, enum index_link_kind kind, const char *upstream)
{
	int	 fd, held, rv;

	if ((held = gc_hold(bs, d, &fd)) != 1)
		return (held);
	rv = index_link_put(ix, repo, d, kind, upstream) == 0 ? 1 : -1;
	gc_release(fd);
	return (rv);
}

int
gc_unlink(struct index *ix, const char *repo, const struct digest *d,
    int64_t cutoff)
{
	return (index_link_expire(ix, repo, d, cutoff));
}

int
gc_remove_digest(struct index *ix, struct blobstore *bs,
    const struct digest *d, int64_t cutoff, int64_t *freed)
{
	char		 path[PATH_MAX];
	struct stat	 sb;
	int		 fd, rv = -1, released;

	if (freed != NULL)
		*freed = 0;
	if (blobstore_path(bs, d, path, sizeof(path)) == -1) {
		log_warnx("%s: bad digest", __func__);
		return (-1);
	}
	if (blobstore_open_blob(bs, d, &fd, NULL) == -1)
		return (errno == ENOENT ? 0 : -1);
	if (gc_flock(fd, LOCK_EX) == -1) {
		log_warn("%s: flock %s", __func__, path);
		goto fail;
	}
	if (fstat(fd, &sb) == -1) {
		log_warn("%s: fstat %s", __func__, path);
		goto fail;
	}
	rv = 0;
	if (sb.st_nlink == 0 || !blobstore_same_file(bs, d, fd, 0) ||
	    (int64_t)sb.st_mtime > cutoff)
		goto fail;	/* gone, replaced, or written recently */
	if ((released = index_digest_release(ix, d)) != 1) {
		rv = released;
		goto fail;
	}
	/* Committed: no link, no chart. Remove the file under the lock. */
	if (unlink(path) == -1 && errno != ENOENT) {
		log_warn("%s: unlink %s", __func__, path);
		rv = -1;
		goto fail;
	}
	if (freed != NULL)
		*freed = (int64_t)sb.st_size;
	rv = 1;

fail:
	close(fd);
	return (rv);
}

#define GC_C_RUNS	"gc.runs"
#define GC_C_BYTES	"gc.freed_bytes"
#define GC_C_BLOBS	"gc.freed_blobs"
#define GC_C_MSEC	"gc.msec"
#define GC_C_LAST	"gc.last_msec"

int
gc_totals_add(struct index *ix, const struct gc_result *r)
{
	const char	*runs[] = { GC_C_RUNS }, *bytes[] = { GC_C_BYTES };
	const char	*blobs[] = { GC_C_BLOBS }, *msec[] = { GC_C_MSEC };
	const char	*last[] = { GC_C_LAST };
	int64_t		 prev;

	if (index_counter_get(ix, GC_C_LAST, &prev) == -1 ||
	    index_counters_add(ix, last, 1, r->gr_msec - prev, NULL) == -1 ||
	    index_counters_add(ix, bytes, 1, r->gr_bytes, NULL) == -1 ||
	    index_counters_add(ix, blobs, 1, (int64_t)r->gr_blobs,
	    NULL) == -1 ||
	    index_counters_add(ix, msec, 1, r->gr_msec, NULL) == -1 ||
	    index_counters_add(ix, runs, 1, 1, NULL) == -1)
		return (-1);
	return (0);
}

int
gc_totals_get(struct index *ix, struct gc_totals *t)
{
	memset(t, 0, sizeof(*t));
	if (index_counter_get(ix, GC_C_RUNS, &t->gt_runs) == -1 ||
	    index_counter_get(ix, GC_C_BYTES, &t->gt_bytes) == -1 ||
	    index_counter_get(ix, GC_C_BLOBS, &t->gt_blobs) == -1 ||
	    index_counter_get(ix, GC_C_MSEC, &t->gt_msec) == -1 ||
	    index_counter_get(ix, GC_C_LAST, &t->gt_last_msec) == -1)
		return (-1);
	return (0);
}
