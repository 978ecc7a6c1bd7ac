/*
 * blobstore.c: the content-addressed blob directory. Owns the layout
 *
 *   <data_dir>/blobs/<alg>/<first two hex>/<hex>	committed blobs
 *   <data_dir>/tmp/blob-XXXXXX			temp files being written
 *   <data_dir>/tmp/<alg>-<hex>.part		upstream fetches (claimed)
 *
 * and the way a blob gets there: stream into a temp file while hashing
 * (optionally writing it back to the disk as it grows, in flush jobs that
 * hold a descriptor of their own), verify, fsync, link into place, unlink
 * the temp name.
 *
 * Why link + unlink and no lock around it: link(2) is atomic and never
 * replaces an existing name. Every file that ever appears in blobs/ was
 * verified and fsynced before it was linked, so if two writers commit the
 * same content, the second link fails with EEXIST and the name already
 * holds exactly the bytes the second writer would have put there; it just
 * drops its own copy. Temp names are unique per writer (mkostemp), so no
 * two writers ever touch the same temp file. There is therefore no window
 * in which a reader sees a partial blob or in which one commit undoes
 * another, and a per-digest lock file would only add cost.
 *
 * Fetch claims use a write lock on the part file. Where the system has
 * open file description locks (F_OFD_SETLK) they are used: they belong to
 * the open file, not to the process, so a second claim in the same process
 * also fails, and closing some other descriptor of the part file (a reader
 * in the fetching process) does not drop the claim. Elsewhere classic
 * per-process fcntl locks are used; see blobstore.h for what that implies.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/blobstore.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/xmalloc.h"

#ifndef PATH_MAX
#define PATH_MAX		4096
#endif

#define BLOBSTORE_DIR_MODE	0750
#define BLOBSTORE_FILE_MODE	0640
#define BLOBSTORE_TMP_PREFIX	"blob-"
/*
 * Flush jobs end on this boundary (a multiple of the page size): the page
 * the writer appends to next is not one being written back.
 */
#define BLOBSTORE_FLUSH_ALIGN	(64 * 1024)
/* A claim retries when the part file it opened was replaced meanwhile. */
#define BLOBSTORE_CLAIM_TRIES	8

#ifdef F_OFD_SETLK
#define BLOBSTORE_SETLK		F_OFD_SETLK
#define BLOBSTORE_GETLK		F_OFD_GETLK
#else
#define BLOBSTORE_SETLK		F_SETLK
#define BLOBSTORE_GETLK		F_GETLK
#endif

struct blobstore {
	char	bs_blobdir[PATH_MAX];
	char	bs_tmpdir[PATH_MAX];
};

struct blob_writer {
	struct blobstore	*bw_store;
	struct digester		*bw_digester;
	enum digest_alg		 bw_alg;
	int			 bw_fd;
	off_t			 bw_size;
	off_t			 bw_flushed;	/* handed to a flush job */
	int			 bw_failed;	/* a write failed part way */
	int			 bw_claimed;	/* part file under a fetch lock */
	int			 bw_final;	/* bw_got is the digest: no more
						   writes */
	struct digest		 bw_got;
	struct digest		 bw_claim;	/* what the claim promised */
	char			 bw_path[PATH_MAX];
};

struct blob_flush {
	int			 fl_fd;		/* a dup of the writer's */
	off_t			 fl_from;
	off_t			 fl_length;
};

static void	blobstore_cause(char **, const char *, ...) PRINTFLIKE(2, 3);
static int	blobstore_digest_valid(const struct digest *);
static int	blobstore_dir_path(struct blobstore *, const struct digest *,
		    char *, size_t);
static int	blobstore_size_path(struct blobstore *, const struct digest *,
		    char *, size_t);
static void	blobstore_size_unlink(struct blob_writer *);
static int	blobstore_part_path(struct blobstore *, const struct digest *,
		    char *, size_t);
static int	blobstore_place(struct blobstore *, const char *,
		    const struct digest *, char **);
static int	blobstore_verify(const struct digest *, const struct digest *,
		    char **);
static int	blobstore_tmp_inside(struct blobstore *, const char *);
static int	blobstore_lock(int, short);
static int	blobstore_claim_open(const char *, int *, char **);
static int	blobstore_claim_fresh(struct blobstore *, const char *, int *,
		    char **);
static struct blob_writer *blob_writer_new(struct blobstore *,
		    enum digest_alg, int, const char *);
static int	blobstore_sweep_part(struct blobstore *, const char *, size_t,
		    time_t);
static void	blobstore_sweep_size(struct blobstore *, const char *, size_t,
		    time_t);
static void	blobstore_sweep_temp(struct blobstore *, const char *,
		    time_t);
static void	blob_writer_free(struct blob_writer *);

/* Set *cause (when wanted) to a formatted message. */
static void
blobstore_cause(char **cause, const char *fmt, ...)
{
	va_list	 ap;
	int	 saved_errno = errno;

	if (cause == NULL)
		return;
	va_start(ap, fmt);
	xvasprintf(cause, fmt, ap);
	va_end(ap);
	errno = saved_errno;	/* callers answer by it */
}

/* A digest is only turned into a path when it looks exactly as parsed. */
static int
blobstore_digest_valid(const struct digest *d)
{
	size_t	 want, i;

	switch (d->alg) {
	case DIGEST_SHA256:
	case DIGEST_SHA512:
		break;
	default:
		return (0);
	}
	want = digest_hex_len(d->alg);
	if (strnlen(d->hex, sizeof(d->hex)) != want)
		return (0);
	for (i = 0; i < want; i++) {
		if ((d->hex[i] >= '0' && d->hex[i] <= '9') ||
		    (d->hex[i] >= 'a' && d->hex[i] <= 'f'))
			continue;
		return (0);
	}
	return (1);
}

struct blobstore *
blobstore_open(const char *data_dir, char **cause)
{
	struct blobstore	*bs;
	char			 path[PATH_MAX];
	const char		*algs[] = { "sha256", "sha512" };
	size_t			 i;

	bs = xcalloc(1, sizeof(*bs));
	if (path_fmt(bs->bs_blobdir, sizeof(bs->bs_blobdir), "%s/blobs",
	    data_dir) == -1 ||
	    path_fmt(bs->bs_tmpdir, sizeof(bs->bs_tmpdir), "%s/tmp",
	    data_dir) == -1) {
		blobstore_cause(cause, "%s: data directory path too long",
		    data_dir);
		goto fail;
	}
	for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		if (path_fmt(path, sizeof(path), "%s/%s", bs->bs_blobdir,
		    algs[i]) == -1) {
			blobstore_cause(cause, "%s: data directory path too "
			    "long", data_dir);
			goto fail;
		}
		if (mkdir_p(path, BLOBSTORE_DIR_MODE) == -1) {
			blobstore_cause(cause, "%s: %s", path, strerror(errno));
			goto fail;
		}
	}
	if (mkdir_p(bs->bs_tmpdir, BLOBSTORE_DIR_MODE) == -1) {
		blobstore_cause(cause, "%s: %s", bs->bs_tmpdir,
		    strerror(errno));
		goto fail;
	}
	return (bs);

fail:
	free(bs);
	return (NULL);
}

void
blobstore_free(struct blobstore *bs)
{
	free(bs);
}

const char *
blobstore_tmpdir(struct blobstore *bs)
{
	return (bs->bs_tmpdir);
}

/* The two-level directory that holds a blob: blobs/<alg>/<first two hex>. */
static int
blobstore_dir_path(struct blobstore *bs, const struct digest *d, char *buf,
    size_t len)
{
	if (!blobstore_digest_valid(d)) {
		errno = EINVAL;
		return (-1);
	}
	return (path_fmt(buf, len, "%s/%s/%.2s", bs->bs_blobdir,
	    digest_alg_name(d->alg), d->hex));
}

int
blobstore_path(struct blobstore *bs, const struct digest *d, char *buf,
    size_t len)
{
	if (!blobstore_digest_valid(d)) {
		errno = EINVAL;
		return (-1);
	}
	return (path_fmt(buf, len, "%s/%s/%.2s/%s", bs->bs_blobdir,
	    digest_alg_name(d->alg), d->hex, d->hex));
}

/* The part file of an upstream fetch: tmp/<alg>-<hex>.part. */
static int
blobstore_part_path(struct blobstore *bs, const struct digest *d, char *buf,
    size_t len)
{
	if (!blobstore_digest_valid(d)) {
		errno = EINVAL;
		return (-1);
	}
	return (path_fmt(buf, len, "%s/%s-%s.part", bs->bs_tmpdir,
	    digest_alg_name(d->alg), d->hex));
}

int
blobstore_stat(struct blobstore *bs, const struct digest *d, off_t *size)
{
	char		 path[PATH_MAX];
	struct stat	 sb;

	if (blobstore_path(bs, d, path, sizeof(path)) == -1)
		return (-1);
	if (stat(path, &sb) == -1) {
		if (errno == ENOENT)
			return (0);
		log_warn("%s: stat %s", __func__, path);
		return (-1);
	}
	if (size != NULL)
		*size = sb.st_size;
	return (1);
}

int
blobstore_open_blob(struct blobstore *bs, const struct digest *d, int *fd,
    off_t *size)
{
	char		 path[PATH_MAX];
	struct stat	 sb;
	int		 f, saved_errno;

	if (blobstore_path(bs, d, path, sizeof(path)) == -1)
		return (-1);
	if ((f = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno != ENOENT)
			log_warn("%s: open %s", __func__, path);
		return (-1);
	}
	if (fstat(f, &sb) == -1) {
		saved_errno = errno;
		log_warn("%s: fstat %s", __func__, path);
		close(f);
		errno = saved_errno;
		return (-1);
	}
	*fd = f;
	if (size != NULL)
		*size = sb.st_size;
	return (0);
}

int
blobstore_delete(struct blobstore *bs, const struct digest *d)
{
	char	 path[PATH_MAX];

	if (blobstore_path(bs, d, path, sizeof(path)) == -1)
		return (-1);
	if (unlink(path) == -1 && errno != ENOENT) {
		log_warn("%s: unlink %s", __func__, path);
		return (-1);
	}
	return (0);
}

/* Compare a computed digest with the one expected. */
static int
blobstore_verify(const struct digest *expected, const struct digest *got,
    char **cause)
{
	char	 want[DIGEST_STRING_MAX], have[DIGEST_STRING_MAX];

	if (digest_equal(expected, got))
		return (0);
	if (blobstore_digest_valid(expected))
		digest_format(expected, want, sizeof(want));
	else
		(void)snprintf(want, sizeof(want), "(invalid digest)");
	digest_format(got, have, sizeof(have));
	blobstore_cause(cause, "digest mismatch: expected %s, got %s", want,
	    have);
	errno = EINVAL;
	return (-1);
}

/*
 * Link a verified, fsynced file at src into blobs/ under its digest. An
 * existing blob of that digest wins (same content by construction). The
 * caller still owns and removes src.
 */
static int
blobstore_place(struct blobstore *bs, const char *src, const struct digest *d,
    char **cause)
{
	char	 dir[PATH_MAX], path[PATH_MAX];

	if (blobstore_dir_path(bs, d, dir, sizeof(dir)) == -1 ||
	    blobstore_path(bs, d, path, sizeof(path)) == -1) {
		blobstore_cause(cause, "blob path: %s", strerror(errno));
		return (-1);
	}
	if (link(src, path) == -1 && errno != EEXIST) {
		if (errno != ENOENT) {
			blobstore_cause(cause, "link %s: %s", path,
			    strerror(errno));
			return (-1);
		}
		/* First blob under this prefix: make the directory durable. */
		if (mkdir_p(dir, BLOBSTORE_DIR_MODE) == -1 ||
		    fsync_parent(dir) == -1) {
			blobstore_cause(cause, "%s: %s", dir, strerror(errno));
			return (-1);
		}
		if (link(src, path) == -1 && errno != EEXIST) {
			blobstore_cause(cause, "link %s: %s", path,
			    strerror(errno));
			return (-1);
		}
	}
	if (fsync_parent(path) == -1) {
		blobstore_cause(cause, "fsync %s: %s", dir, strerror(errno));
		return (-1);
	}
	return (0);
}

/* Wrap an open temp file in a writer. */
static struct blob_writer *
blob_writer_new(struct blobstore *bs, enum digest_alg alg, int fd,
    const char *path)
{
	struct blob_writer	*w;

	w = xcalloc(1, sizeof(*w));
	w->bw_store = bs;
	w->bw_alg = alg;
	w->bw_fd = fd;
	w->bw_digester = digester_create(alg);
	/* Both callers built path in a buffer of this size: cannot fail. */
	(void)path_fmt(w->bw_path, sizeof(w->bw_path), "%s", path);
	return (w);
}

/* Close and free; the temp file itself is the caller's business. */
static void
blob_writer_free(struct blob_writer *w)
{
	if (w == NULL)
		return;
	if (w->bw_fd != -1)
		close(w->bw_fd);
	digester_free(w->bw_digester);
	free(w);
}

struct blob_writer *
blob_writer_create(struct blobstore *bs, enum digest_alg alg, char **cause)
{
	char	 path[PATH_MAX];
	int	 fd = -1, saved_errno;

	if (alg != DIGEST_SHA256 && alg != DIGEST_SHA512) {
		blobstore_cause(cause, "unknown digest algorithm %d", (int)alg);
		return (NULL);
	}
	if (path_fmt(path, sizeof(path), "%s/" BLOBSTORE_TMP_PREFIX "XXXXXX",
	    bs->bs_tmpdir) == -1) {
		blobstore_cause(cause, "%s: path too long", bs->bs_tmpdir);
		return (NULL);
	}
	if ((fd = mkostemp(path, O_CLOEXEC)) == -1) {
		blobstore_cause(cause, "mkostemp %s: %s", path,
		    strerror(errno));
		return (NULL);
	}
	if (fchmod(fd, BLOBSTORE_FILE_MODE) == -1) {
		blobstore_cause(cause, "fchmod %s: %s", path, strerror(errno));
		goto fail;
	}
	return (blob_writer_new(bs, alg, fd, path));

fail:
	saved_errno = errno;
	close(fd);
	(void)unlink(path);
	errno = saved_errno;
	return (NULL);
}

int
blob_writer_write(struct blob_writer *w, const void *buf, size_t len)
{
	if (w->bw_failed || w->bw_final) {
		errno = EIO;
		return (-1);
	}
	if (write_all(w->bw_fd, buf, len) == -1) {
		log_warn("%s: write %s", __func__, w->bw_path);
		/* The file may hold part of buf: only abort is left. */
		w->bw_failed = 1;
		return (-1);
	}
	digester_update(w->bw_digester, buf, len);
	w->bw_size += (off_t)len;
	return (0);
}

off_t
blob_writer_size(struct blob_writer *w)
{
	return (w->bw_size);
}

int
blob_writer_verify(struct blob_writer *w, const struct digest *expected,
    char **cause)
{
	if (w->bw_failed) {
		blobstore_cause(cause, "%s: an earlier write failed",
		    w->bw_path);
		errno = EIO;
		return (-1);
	}
	if (!w->bw_final) {
		digester_final(w->bw_digester, &w->bw_got);
		w->bw_final = 1;
	}
	if (w->bw_claimed && blobstore_verify(&w->bw_claim, &w->bw_got,
	    cause) == -1)
		return (-1);
	if (expected != NULL && blobstore_verify(expected, &w->bw_got,
	    cause) == -1)
		return (-1);
	return (0);
}

int
blob_writer_fd(struct blob_writer *w)
{
	return (w->bw_fd);
}

int
blob_writer_commit(struct blob_writer *w, const struct digest *expected,
    struct digest *out, char **cause)
{
	struct digest	 got;
	int		 rv, saved_errno;

	rv = blob_writer_verify(w, expected, cause);
	if (out != NULL && w->bw_final)
		*out = w->bw_got;
	if (rv == -1)
		goto fail;
	got = w->bw_got;
	if (fsync(w->bw_fd) == -1) {
		blobstore_cause(cause, "fsync %s: %s", w->bw_path,
		    strerror(errno));
		goto fail;
	}
	if (!w->bw_claimed) {
		/* Nobody else knows this file; close it before linking. */
		close(w->bw_fd);
		w->bw_fd = -1;
	}
	if (blobstore_place(w->bw_store, w->bw_path, &got, cause) == -1)
		goto fail;
	/* A claimed part file goes away while its lock is still held. */
	blobstore_size_unlink(w);
	if (unlink(w->bw_path) == -1)
		log_warn("%s: unlink %s", __func__, w->bw_path);
	blob_writer_free(w);
	return (0);

fail:
	saved_errno = errno;
	blobstore_size_unlink(w);
	(void)unlink(w->bw_path);
	blob_writer_free(w);
	errno = saved_errno;
	return (-1);
}

void
blob_writer_abort(struct blob_writer *w)
{
	int	 saved_errno;

	if (w == NULL)
		return;
	saved_errno = errno;
	blobstore_size_unlink(w);
	if (unlink(w->bw_path) == -1 && errno != ENOENT)
		log_warn("%s: unlink %s", __func__, w->bw_path);
	blob_writer_free(w);
	errno = saved_errno;
}

struct blob_flush *
blob_writer_flush_prepare(struct blob_writer *w, off_t min)
{
	struct blob_flush	*f;
	off_t			 end;
	int			 fd;

	end = w->bw_size - w->bw_size % BLOBSTORE_FLUSH_ALIGN;
	if (w->bw_failed || end - w->bw_flushed < min || end <= w->bw_flushed)
		return (NULL);
#ifndef F_OFD_SETLK
	/* Closing the job's descriptor would drop the claim. */
	if (w->bw_claimed)
		return (NULL);
#endif
	if ((fd = fcntl(w->bw_fd, F_DUPFD_CLOEXEC, 0)) == -1) {
		log_warn("%s: dup %s", __func__, w->bw_path);
		return (NULL);
	}
	f = xcalloc(1, sizeof(*f));
	f->fl_fd = fd;
	f->fl_from = w->bw_flushed;
	f->fl_length = end - w->bw_flushed;
	w->bw_flushed = end;
	return (f);
}

/* Write the job's range back and wait for it (data only, no metadata). */
void
blob_flush_run(struct blob_flush *f)
{
	int	 rv;

#ifdef SYNC_FILE_RANGE_WRITE
	rv = sync_file_range(f->fl_fd, f->fl_from, f->fl_length,
	    SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
	    SYNC_FILE_RANGE_WAIT_AFTER);
#else
	rv = fdatasync(f->fl_fd);
#endif
	if (rv == -1)
		log_warn("%s: %lld bytes at %lld", __func__,
		    (long long)f->fl_length, (long long)f->fl_from);
}

void
blob_flush_free(struct blob_flush *f)
{
	if (f == NULL)
		return;
	close(f->fl_fd);
	free(f);
}

/*
 * True when path names a plain entry directly inside tmp/: the stored tmp
 * directory, one slash, then a single component that is not "." or "..".
 */
static int
blobstore_tmp_inside(struct blobstore *bs, const char *path)
{
	size_t		 len;
	const char	*name;

	len = strlen(bs->bs_tmpdir);
	if (strncmp(path, bs->bs_tmpdir, len) != 0 || path[len] != '/')
		return (0);
	name = path + len + 1;
	if (*name == '\0' || strchr(name, '/') != NULL)
		return (0);
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return (0);
	return (1);
}

int
blobstore_commit_file(struct blobstore *bs, const char *tmp_path,
    const struct digest *expected, char **cause)
{
	struct digest	 got;
	struct stat	 sb;
	int		 fd = -1, saved_errno;

	if (!blobstore_digest_valid(expected)) {
		blobstore_cause(cause, "invalid expected digest");
		errno = EINVAL;
		return (-1);
	}
	if (!blobstore_tmp_inside(bs, tmp_path)) {
		blobstore_cause(cause, "%s: not a file in %s", tmp_path,
		    bs->bs_tmpdir);
		errno = EINVAL;
		return (-1);
	}
	/* No symlinks: link(2) would put the link itself into blobs/. */
	if ((fd = open(tmp_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		blobstore_cause(cause, "open %s: %s", tmp_path,
		    strerror(errno));
		return (-1);
	}
	if (fstat(fd, &sb) == -1) {
		blobstore_cause(cause, "fstat %s: %s", tmp_path,
		    strerror(errno));
		goto fail;
	}
	if (!S_ISREG(sb.st_mode)) {
		blobstore_cause(cause, "%s: not a regular file", tmp_path);
		errno = EINVAL;
		goto fail;
	}
	if (digest_fd(expected->alg, fd, &got) == -1) {
		blobstore_cause(cause, "read %s: %s", tmp_path,
		    strerror(errno));
		goto fail;
	}
	if (blobstore_verify(expected, &got, cause) == -1)
		goto fail;
	if (fsync(fd) == -1) {
		blobstore_cause(cause, "fsync %s: %s", tmp_path,
		    strerror(errno));
		goto fail;
	}
	close(fd);
	fd = -1;
	if (blobstore_place(bs, tmp_path, &got, cause) == -1)
		goto fail;
	if (unlink(tmp_path) == -1)
		log_warn("%s: unlink %s", __func__, tmp_path);
	return (0);

fail:
	saved_errno = errno;
	if (fd != -1)
		close(fd);
	errno = saved_errno;
	return (-1);
}

int
blobstore_commit_hashed(struct blobstore *bs, const char *tmp_path,
    const struct digest *d, char **cause)
{
	struct stat	 sb;

	if (!blobstore_digest_valid(d)) {
		blobstore_cause(cause, "invalid digest");
		errno = EINVAL;
		return (-1);
	}
	if (!blobstore_tmp_inside(bs, tmp_path)) {
		blobstore_cause(cause, "%s: not a file in %s", tmp_path,
		    bs->bs_tmpdir);
		errno = EINVAL;
		return (-1);
	}
	/* No symlinks: link(2) would put the link itself into blobs/. */
	if (lstat(tmp_path, &sb) == -1) {
		blobstore_cause(cause, "lstat %s: %s", tmp_path,
		    strerror(errno));
		return (-1);
	}
	if (!S_ISREG(sb.st_mode)) {
		blobstore_cause(cause, "%s: not a regular file", tmp_path);
		errno = EINVAL;
		return (-1);
	}
	if (blobstore_place(bs, tmp_path, d, cause) == -1)
		return (-1);
	if (unlink(tmp_path) == -1)
		log_warn("%s: unlink %s", __func__, tmp_path);
	return (0);
}

/* Non-blocking write lock (F_WRLCK) or unlock (F_UNLCK) of a whole file. */
static int
blobstore_lock(int fd, short type)
{
	struct flock	 fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = 0;
	fl.l_len = 0;
	return (fcntl(fd, BLOBSTORE_SETLK, &fl));
}

/*
 * Open (create) the part file and try to lock it. 1 with *fd locked,
 * 0 when another holder has it, -1 on error. Retries while the file it
 * opened is no longer the one at path: a previous holder unlinked it
 * (commit or abort) between our open and our lock, and locking that
 * orphan, let alone truncating it, would be wrong: after a commit it is
 * the committed blob.
 */
static int
blobstore_claim_open(const char *path, int *fd, char **cause)
{
	struct stat	 fsb, psb;
	int		 f = -1, try, saved_errno;

	for (try = 0; try < BLOBSTORE_CLAIM_TRIES; try++) {
		f = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
		    BLOBSTORE_FILE_MODE);
		if (f == -1) {
			blobstore_cause(cause, "open %s: %s", path,
			    strerror(errno));
			return (-1);
		}
		if (blobstore_lock(f, F_WRLCK) == -1) {
			if (errno == EAGAIN || errno == EACCES) {
				close(f);
				return (0);
			}
			blobstore_cause(cause, "lock %s: %s", path,
			    strerror(errno));
			goto fail;
		}
		if (fstat(f, &fsb) == -1) {
			blobstore_cause(cause, "fstat %s: %s", path,
			    strerror(errno));
			goto fail;
		}
		if (stat(path, &psb) == 0 && psb.st_dev == fsb.st_dev &&
		    psb.st_ino == fsb.st_ino) {
			*fd = f;
			return (1);
		}
		close(f);
		f = -1;
	}
	blobstore_cause(cause, "%s: keeps being replaced", path);
	errno = EAGAIN;
	return (-1);

fail:
	saved_errno = errno;
	if (f != -1)
		close(f);
	errno = saved_errno;
	return (-1);
}

/*
 * Put a new, empty, locked file at path, the claimed part file whose
 * descriptor *fd holds the lock: while that lock is held nobody else
 * replaces path. The old file is unlinked by the rename, and its lock
 * released with *fd, which becomes the new file's. 0, or -1 with *cause
 * (path and *fd are gone then).
 */
static int
blobstore_claim_fresh(struct blobstore *bs, const char *path, int *fd,
    char **cause)
{
	char	 tmp[PATH_MAX];
	int	 f, saved_errno;

	if (path_fmt(tmp, sizeof(tmp), "%s/" BLOBSTORE_TMP_PREFIX "XXXXXX",
	    bs->bs_tmpdir) == -1) {
		blobstore_cause(cause, "%s: path too long", bs->bs_tmpdir);
		errno = ENAMETOOLONG;
		goto fail;
	}
	if ((f = mkostemp(tmp, O_CLOEXEC)) == -1) {
		blobstore_cause(cause, "mkostemp %s: %s", tmp, strerror(errno));
		goto fail;
	}
	if (fchmod(f, BLOBSTORE_FILE_MODE) == -1 ||
	    blobstore_lock(f, F_WRLCK) == -1 || rename(tmp, path) == -1) {
		saved_errno = errno;
		blobstore_cause(cause, "%s: %s", path, strerror(errno));
		close(f);
		(void)unlink(tmp);
		errno = saved_errno;
		goto fail;
	}
	close(*fd);
	*fd = f;
	return (0);

fail:
	saved_errno = errno;
	(void)unlink(path);
	close(*fd);
	*fd = -1;
	errno = saved_errno;
	return (-1);
}

int
blobstore_claim_fetch(struct blobstore *bs, const struct digest *d,
    struct blob_writer **out, char **cause)
{
	char			 path[PATH_MAX], size_path[PATH_MAX];
	struct blob_writer	*w;
	int			 fd = -1, rv, present;

	*out = NULL;
	if (blobstore_part_path(bs, d, path, sizeof(path)) == -1) {
		blobstore_cause(cause, "part path: %s", strerror(errno));
		return (-1);
	}
	if ((rv = blobstore_claim_open(path, &fd, cause)) != 1)
		return (rv);
	/* Lost a race with a fetch that already finished: nothing to do. */
	if ((present = blobstore_stat(bs, d, NULL)) != 0) {
		(void)unlink(path);
		close(fd);
		if (present == -1)
			blobstore_cause(cause, "stat blob: %s",
			    strerror(errno));
		return (present == 1 ? 0 : -1);
	}
	/*
	 * Start over on a new file: readers of a part file left by a
	 * fetcher that died keep its bytes and see it unlinked, never a
	 * file that shrinks and grows again under them.
	 */
	/*
	 * The size file of a fetcher that died goes first, so that nobody
	 * reads it as the new part file's.
	 */
	if (blobstore_size_path(bs, d, size_path, sizeof(size_path)) == 0 &&
	    unlink(size_path) == -1 && errno != ENOENT)
		log_warn("%s: unlink %s", __func__, size_path);
	if (blobstore_claim_fresh(bs, path, &fd, cause) == -1)
		return (-1);
	w = blob_writer_new(bs, d->alg, fd, path);
	w->bw_claimed = 1;
	w->bw_claim = *d;
	*out = w;
	return (1);
}

/* The expected size of a claimed fetch: tmp/<alg>-<hex>.size. */
static int
blobstore_size_path(struct blobstore *bs, const struct digest *d, char *buf,
    size_t len)
{
	if (!blobstore_digest_valid(d)) {
		errno = EINVAL;
		return (-1);
	}
	return (path_fmt(buf, len, "%s/%s-%s.size", bs->bs_tmpdir,
	    digest_alg_name(d->alg), d->hex));
}

/* Drop the size file of a claimed writer's fetch, if any. */
static void
blobstore_size_unlink(struct blob_writer *w)
{
	char	 path[PATH_MAX];

	if (!w->bw_claimed || blobstore_size_path(w->bw_store, &w->bw_claim,
	    path, sizeof(path)) == -1)
		return;
	if (unlink(path) == -1 && errno != ENOENT)
		log_warn("%s: unlink %s", __func__, path);
}

int
blobstore_part_size_set(struct blob_writer *w, off_t size, const char *owner)
{
	char	 path[PATH_MAX], tmp[PATH_MAX], text[BLOBSTORE_OWNER_MAX + 32];
	int	 fd, n, saved_errno;

	if (!w->bw_claimed || blobstore_size_path(w->bw_store, &w->bw_claim,
	    path, sizeof(path)) == -1 ||
	    path_fmt(tmp, sizeof(tmp), "%s.%ld", path, (long)getpid()) == -1)
		return (-1);
	if (owner == NULL)
		owner = "";
	if (strlen(owner) > BLOBSTORE_OWNER_MAX ||
	    strpbrk(owner, "\n") != NULL) {
		errno = EINVAL;
		return (-1);
	}
	n = snprintf(text, sizeof(text), "%lld\n%s\n", (long long)size,
	    owner);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, BLOBSTORE_FILE_MODE)) == -1) {
		log_warn("%s: open %s", __func__, tmp);
		return (-1);
	}
	if (write(fd, text, (size_t)n) != n || close(fd) == -1 ||
	    rename(tmp, path) == -1) {
		saved_errno = errno;
		log_warn("%s: write %s", __func__, path);
		(void)unlink(tmp);
		errno = saved_errno;
		return (-1);
	}
	return (0);
}

int
blobstore_part_size_get(struct blobstore *bs, const struct digest *d,
    off_t *size, char *owner, size_t ownerlen)
{
	char		 path[PATH_MAX], text[BLOBSTORE_OWNER_MAX + 32];
	char		*end, *nl;
	long long	 v;
	ssize_t		 n;
	int		 fd;

	if (blobstore_size_path(bs, d, path, sizeof(path)) == -1)
		return (-1);
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return (errno == ENOENT ? 0 : -1);
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return (-1);
	text[n] = '\0';
	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno != 0 || end == text || *end != '\n' || v < 0)
		return (-1);
	*size = (off_t)v;
	if (owner != NULL && ownerlen > 0) {
		end++;
		if ((nl = strchr(end, '\n')) == NULL ||
		    (size_t)(nl - end) >= ownerlen)
			return (-1);
		memcpy(owner, end, nl - end);
		owner[nl - end] = '\0';
	}
	return (1);
}

int
blobstore_part_open(struct blobstore *bs, const struct digest *d, int *fd)
{
	char	 path[PATH_MAX];
	int	 f;

	if (blobstore_part_path(bs, d, path, sizeof(path)) == -1)
		return (-1);
	if ((f = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		if (errno != ENOENT)
			log_warn("%s: open %s", __func__, path);
		return (-1);
	}
	*fd = f;
	return (0);
}

int
blobstore_fetch_active(struct blobstore *bs, const struct digest *d)
{
	char		 path[PATH_MAX];
	struct flock	 fl;
	int		 fd, rv, saved_errno;

	if (blobstore_part_path(bs, d, path, sizeof(path)) == -1)
		return (0);
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		if (errno != ENOENT)
			log_warn("%s: open %s", __func__, path);
		return (0);
	}
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = 0;
	fl.l_len = 0;
	rv = fcntl(fd, BLOBSTORE_GETLK, &fl);
	saved_errno = errno;
	close(fd);
	if (rv == -1) {
		errno = saved_errno;
		log_warn("%s: lock test %s", __func__, path);
		return (0);
	}
	return (fl.l_type != F_UNLCK);
}

int
blobstore_same_file(struct blobstore *bs, const struct digest *d, int fd,
    int part)
{
	char		 path[PATH_MAX];
	struct stat	 fsb, psb;

	if ((part ? blobstore_part_path(bs, d, path, sizeof(path)) :
	    blobstore_path(bs, d, path, sizeof(path))) == -1)
		return (0);
	if (fstat(fd, &fsb) == -1 || stat(path, &psb) == -1)
		return (0);
	return (fsb.st_dev == psb.st_dev && fsb.st_ino == psb.st_ino);
}

int
blobstore_sweep_parts(struct blobstore *bs, time_t before)
{
	DIR		*dir;
	struct dirent	*de;
	size_t		 len;
	int		 n = 0;

	if ((dir = opendir(bs->bs_tmpdir)) == NULL) {
		log_warn("%s: opendir %s", __func__, bs->bs_tmpdir);
		return (-1);
	}
	while ((de = readdir(dir)) != NULL) {
		len = strlen(de->d_name);
		if (len > 5 && strcmp(de->d_name + len - 5, ".part") == 0)
			n += blobstore_sweep_part(bs, de->d_name, len - 5,
			    before);
		else if (strstr(de->d_name, ".size") != NULL)
			blobstore_sweep_size(bs, de->d_name, len, before);
		else if (strncmp(de->d_name, BLOBSTORE_TMP_PREFIX,
		    strlen(BLOBSTORE_TMP_PREFIX)) == 0)
			blobstore_sweep_temp(bs, de->d_name, before);
	}
	closedir(dir);
	return (n);
}

/*
 * Remove tmp/<stem>.part and its size file when no fetch holds its lock
 * and it was last written before `before`. 1 when removed, else 0. The
 * file is opened without O_CREAT (a sweep never makes a part file) and
 * checked to still be the one at its name once locked.
 */
static int
blobstore_sweep_part(struct blobstore *bs, const char *name, size_t stem,
    time_t before)
{
	char		 path[PATH_MAX], size[PATH_MAX];
	struct stat	 fsb, psb;
	int		 fd;

	if (path_fmt(path, sizeof(path), "%s/%s", bs->bs_tmpdir, name) == -1 ||
	    path_fmt(size, sizeof(size), "%s/%.*s.size", bs->bs_tmpdir,
	    (int)stem, name) == -1)
		return (0);
	if (lstat(path, &psb) == -1 || !S_ISREG(psb.st_mode) ||
	    psb.st_mtime >= before)
		return (0);
	if ((fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return (0);
	if (blobstore_lock(fd, F_WRLCK) == -1 || fstat(fd, &fsb) == -1 ||
	    lstat(path, &psb) == -1 || psb.st_dev != fsb.st_dev ||
	    psb.st_ino != fsb.st_ino || fsb.st_mtime >= before) {
		close(fd);	/* a fetch runs, or the file moved on */
		return (0);
	}
	if (unlink(size) == -1 && errno != ENOENT)
		log_warn("%s: unlink %s", __func__, size);
	if (unlink(path) == -1) {
		log_warn("%s: unlink %s", __func__, path);
		close(fd);
		return (0);
	}
	close(fd);
	return (1);
}

/*
 * Remove an old size file whose part file is gone (tmp/<stem>.size), or
 * the temp file of one that was never renamed (tmp/<stem>.size.<pid>).
 */
static void
blobstore_sweep_size(struct blobstore *bs, const char *name, size_t len,
    time_t before)
{
	char		 path[PATH_MAX], part[PATH_MAX];
	const char	*dot;
	struct stat	 sb;

	dot = strstr(name, ".size");
	if (path_fmt(path, sizeof(path), "%s/%s", bs->bs_tmpdir, name) == -1 ||
	    path_fmt(part, sizeof(part), "%s/%.*s.part", bs->bs_tmpdir,
	    (int)(dot - name), name) == -1)
		return;
	if ((size_t)(dot - name) + 5 == len && lstat(part, &sb) == 0)
		return;		/* swept with its part file, or live */
	if ((size_t)(dot - name) + 5 != len && dot[5] != '.')
		return;		/* not ours */
	if (lstat(path, &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    sb.st_mtime >= before)
		return;
	if (unlink(path) == -1 && errno != ENOENT)
		log_warn("%s: unlink %s", __func__, path);
}

/*
 * Remove tmp/blob-XXXXXX, a blob being written (a manifest, a verifying
 * download, a part file about to be claimed) by a process that died:
 * a live writer writes it within seconds, so one untouched since
 * `before` has none.
 */
static void
blobstore_sweep_temp(struct blobstore *bs, const char *name, time_t before)
{
	char		 path[PATH_MAX];
	struct stat	 sb;

	if (path_fmt(path, sizeof(path), "%s/%s", bs->bs_tmpdir, name) == -1)
		return;
	if (lstat(path, &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    sb.st_mtime >= before)
		return;
	if (unlink(path) == -1 && errno != ENOENT)
		log_warn("%s: unlink %s", __func__, path);
	else
		log_debug("%s: removed %s", __func__, name);
}
