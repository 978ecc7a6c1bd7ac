/*
 * blob_follow.h: answer a blob GET from the part file that a fetch, in
 * this process or another, is still writing (blobstore.h, fetch claims).
 *
 * Every client of a blob being fetched is a reader of its part file: it
 * is sent the bytes written so far and waits for more. The last
 * BLOB_FOLLOW_HOLD_BACK bytes are held back until the blob is known good:
 * a fill of this process said that the very part file read (the same
 * inode) was verified (blob_follow_verified), and the tail goes from it
 * at once, before the commit's fsync and link; otherwise (a fetch in
 * another process) once the blob is committed (verified and linked into
 * blobs/ with the expected size), the tail then going from the committed
 * file when it is that same inode. When the fetch fails instead, the
 * connection is closed before the end of the body: a client never
 * receives a complete-looking wrong body, nor bytes of two part files.
 *
 * A follower takes a step (sends what is new, or sees the end) when a
 * fill of this process wrote to the part file or committed it and said
 * so with blob_follow_wake, when its connection took what was queued, and
 * otherwise every BLOB_FOLLOW_POLL_MS: the poll is what notices a fetch
 * in another process.
 *
 * With classic (non-OFD) record locks, a follower in the fetching process
 * itself would drop the claim when it closes its descriptor of the part
 * file (see blobstore.h); where the system has OFD locks it is safe.
 */
#ifndef DEPOT_BLOB_FOLLOW_H
#define DEPOT_BLOB_FOLLOW_H

#include <stdint.h>

#include "lib/digest.h"

#define BLOB_FOLLOW_HOLD_BACK	(64 * 1024)	/* bytes kept until commit */
#define BLOB_FOLLOW_QUEUE_MAX	(1024 * 1024)	/* queued per connection */
#define BLOB_FOLLOW_POLL_MS	20		/* part file growth check */

struct req;
struct blobstore;
struct blob_follow;
struct blob_follow_mark;

/*
 * Answer r with 200, Content-Length expected_size and
 * Docker-Content-Digest d, and stream the blob as its part file grows (a
 * HEAD gets the headers only). done_cb runs once, from the event loop,
 * when the follower is finished: ok is 1 when the whole body was queued
 * and the reply ended, 0 when the fetch failed (the connection was
 * closed) or the client left. The follower and r are gone after it.
 *
 * Returns NULL, with r untouched and done_cb never called, when there is
 * nothing to follow: neither a part file nor a committed blob of d.
 */
struct blob_follow	*blob_follow_start(struct req *r, struct blobstore *,
			    const struct digest *d, int64_t expected_size,
			    void (*done_cb)(int ok, void *), void *arg);

/*
 * The part file of d grew, was committed or was dropped: every follower
 * of d in this process takes its next step from the loop soon, without
 * waiting for its poll.
 */
void	blob_follow_wake(const struct digest *d);

/*
 * The fill of this process that writes the part file of d verified its
 * digest, with the whole body written to fd (its writer's descriptor, which
 * is duplicated, never closed): the followers of that very file (one inode)
 * may send all of it, and are woken. A follower of another file of d (a part
 * file replaced by a new fetch) is not. Returns the mark to drop with
 * blob_follow_verified_drop once the fill no longer needs it (its commit
 * ended, stored or not: followers that learnt of it finish from the file
 * they hold); the mark keeps a descriptor of the file meanwhile, so that its
 * inode is not reused. NULL when fd cannot be dup'ed (logged; followers then
 * wait for the commit as usual).
 */
struct blob_follow_mark	*blob_follow_verified(const struct digest *d,
			    int fd);
/* Accepts NULL. */
void	blob_follow_verified_drop(struct blob_follow_mark *);

/* Steps taken since the start of the process, by what started them. */
struct blob_follow_stats {
	uint64_t	fs_woken;	/* by blob_follow_wake */
	uint64_t	fs_polled;	/* by the poll timer */
	uint64_t	fs_released;	/* tails sent on a verified mark */
};
void	blob_follow_stats(struct blob_follow_stats *);
/* For tests: the poll interval in milliseconds (BLOB_FOLLOW_POLL_MS). */
void	blob_follow_set_poll_ms(int);

#endif /* DEPOT_BLOB_FOLLOW_H */
