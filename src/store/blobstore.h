/*
 * blobstore.h: the content-addressed blob directory.
 *
 *   <data_dir>/blobs/sha256/ab/abcdef...	committed blobs, read-only
 *   <data_dir>/tmp/				temp files being written
 *
 * A blob becomes visible only once complete: writers stream into a temp
 * file, hashing as they go; commit verifies the digest, fsyncs, and links
 * the file into place (a concurrent writer of the same digest finds it
 * there and drops its copy). Readers never see partial files.
 */
#ifndef DEPOT_BLOBSTORE_H
#define DEPOT_BLOBSTORE_H

#include <sys/types.h>

#include <stddef.h>
#include <time.h>

#include "lib/digest.h"

struct blobstore;
struct blob_writer;

/* Open (and create) blobs/ and tmp/ under data_dir. NULL and *cause on error. */
struct blobstore	*blobstore_open(const char *data_dir, char **cause);
void			 blobstore_free(struct blobstore *);
const char		*blobstore_tmpdir(struct blobstore *);

/* Path of a committed blob. 0, or -1 on truncation. */
int	blobstore_path(struct blobstore *, const struct digest *, char *buf,
	    size_t len);
/* 1 present (size in *size when not NULL), 0 absent, -1 error. */
int	blobstore_stat(struct blobstore *, const struct digest *, off_t *size);
/* Open a committed blob read-only (for sendfile). 0, or -1 (errno ENOENT). */
int	blobstore_open_blob(struct blobstore *, const struct digest *, int *fd,
	    off_t *size);
/* Remove a committed blob. 0 (also when absent) or -1. */
int	blobstore_delete(struct blobstore *, const struct digest *);

/* Start a new temp file that hashes with alg while written. */
struct blob_writer	*blob_writer_create(struct blobstore *, enum digest_alg,
			    char **cause);
int			 blob_writer_write(struct blob_writer *, const void *,
			    size_t);
off_t			 blob_writer_size(struct blob_writer *);
/*
 * Verify against expected (when not NULL), fsync, and move into place.
 * The computed digest goes to *out when not NULL. On a mismatch nothing is
 * stored, -1 is returned and *cause says so. The writer is freed either way.
 */
int	blob_writer_commit(struct blob_writer *, const struct digest *expected,
	    struct digest *out, char **cause);
/*
 * The verification of commit alone, done ahead of it: finish the digest
 * (nothing more may be written) and check it against the claim and
 * expected (when not NULL); the file is not touched. 0, or -1 and *cause
 * (the writer is left for commit or abort, which fail or drop it). A
 * commit after it verifies the same digest again without hashing.
 */
int	blob_writer_verify(struct blob_writer *, const struct digest *expected,
	    char **cause);
/* The writer's descriptor of its file, for fstat (never to be closed). */
int	blob_writer_fd(struct blob_writer *);
/* Drop the temp file and free the writer. Accepts NULL. */
void	blob_writer_abort(struct blob_writer *);

/*
 * Writing back as the file grows, so that the fsync of the commit finds
 * little left to write. blob_writer_flush_prepare returns a job for what
 * was written since the last job, when that is at least min bytes (NULL
 * otherwise, or where no job can be had: a claimed part file without
 * open file description locks, whose claim closing another descriptor
 * would drop). blob_flush_run writes that range to the disk and waits for
 * it, in any thread, while the writer goes on; errors are only logged (the
 * commit's fsync reports them). The job holds a descriptor of its own, so
 * the writer may be committed or aborted meanwhile. blob_flush_free
 * accepts NULL.
 */
struct blob_flush;
struct blob_flush	*blob_writer_flush_prepare(struct blob_writer *,
			    off_t min);
void			 blob_flush_run(struct blob_flush *);
void			 blob_flush_free(struct blob_flush *);

/*
 * Commit an existing file in tmp/ (an upload assembled over several
 * requests): re-hash it, verify against expected, fsync, move into place.
 * The temp file is gone afterwards on success; on mismatch it is left for
 * the caller. 0, or -1 with *cause.
 */
int	blobstore_commit_file(struct blobstore *, const char *tmp_path,
	    const struct digest *expected, char **cause);
/*
 * Commit a file in tmp/ that the caller hashed itself as it was written
 * (d is its digest) and has fsynced: move it into place under d. The
 * temp file is gone afterwards on success. 0, or -1 with *cause.
 */
int	blobstore_commit_hashed(struct blobstore *, const char *tmp_path,
	    const struct digest *d, char **cause);

/*
 * Fetch claims (single flight across processes).
 *
 * An upstream fetch of a blob writes into tmp/<alg>-<hex>.part while
 * holding a write lock on it; other processes serve their clients from
 * that growing file and learn from the lock whether the fetch still runs.
 * A reader that finds no lock and no committed blob knows the fetch failed.
 *
 * blobstore_claim_fetch returns 1 when the caller now owns the fetch: *out
 * writes into a new, empty part file (a stale one left by a fetcher that
 * died is replaced by rename, never truncated: its readers keep the old
 * file, see it unlinked and stop), and blob_writer_commit verifies it
 * against d, links it into blobs/ and unlinks the part file while the lock
 * is still held, then releases it; blob_writer_abort unlinks the part file
 * and releases the lock. It returns 0 when there is nothing to fetch here:
 * another holder has the lock, or the blob was committed meanwhile. -1 and
 * *cause on error. Callers should check blobstore_stat first.
 *
 * Locks are fcntl locks: open file description locks (F_OFD_SETLK) where
 * the system has them, classic per-process record locks elsewhere. With
 * classic locks a second claim inside the same process succeeds,
 * blobstore_fetch_active in the claiming process reports 0, and closing
 * any descriptor of the part file in the claiming process (for example
 * one from blobstore_part_open, or the one blobstore_fetch_active uses)
 * silently drops the claim. Either way, callers must de-duplicate
 * fetches inside their own process (one fetch per digest per process,
 * shared by all its clients) and use this API only between processes.
 * A process forked while holding an open file description lock shares it
 * until it closes the descriptor (they are close-on-exec).
 */
int	blobstore_claim_fetch(struct blobstore *, const struct digest *,
	    struct blob_writer **out, char **cause);
/* Open the growing part file read-only. 0, or -1 (errno ENOENT). */
int	blobstore_part_open(struct blobstore *, const struct digest *, int *fd);
/*
 * The expected size of a claimed fetch (the upstream's Content-Length)
 * and its owner (the repository the fetch is for, at most
 * BLOBSTORE_OWNER_MAX bytes, no newline), told to readers in other
 * processes through a small side file written atomically next to the
 * part file; commit and abort remove it.
 * set: 0 or -1 (w must be a claimed writer). get: 1 with *size and, when
 * owner is not NULL, the owner in owner (ownerlen bytes); 0 when not
 * (yet) known, -1 on error.
 */
#define BLOBSTORE_OWNER_MAX	512
int	blobstore_part_size_set(struct blob_writer *w, off_t size,
	    const char *owner);
int	blobstore_part_size_get(struct blobstore *, const struct digest *,
	    off_t *size, char *owner, size_t ownerlen);
/*
 * 1 when fd is the file now at the committed blob's path (part 0) or at
 * the part file's path (part 1), else 0: tells whether the part file a
 * reader opened is the one that was committed, or still the current one.
 */
int	blobstore_same_file(struct blobstore *, const struct digest *, int fd,
	    int part);
/* 1 if some holder has the part lock (a fetch is running), else 0. */
int	blobstore_fetch_active(struct blobstore *, const struct digest *);
/*
 * Housekeeping: remove the part files of fetches that ended without
 * finishing (a fetcher that died): files whose lock can be taken, so no
 * fetch runs, and that were last written before `before`; with each its
 * size file, and size files left behind without a part file. The number
 * of part files removed, or -1 when tmp/ cannot be read.
 */
int	blobstore_sweep_parts(struct blobstore *, time_t before);

#endif /* DEPOT_BLOBSTORE_H */
