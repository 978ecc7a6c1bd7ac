/*
 * blob_follow.c: serve a blob to one client from the part file that a
 * fetch is still writing (see blob_follow.h).
 *
 * A follower is driven by one timer event of its own: each step sends what
 * the part file holds beyond what was sent, short of the held-back tail and
 * at most BLOB_FOLLOW_QUEUE_MAX bytes queued on the connection, as sendfile
 * segments. Once a fill of this process marked the very file the follower
 * reads (same device and inode) verified, there is no tail to hold: the
 * follower sends the rest from that file and ends, whatever happens to it
 * afterwards (the commit may still fail or be under way; the bytes are those
 * verified). Otherwise, when there is nothing new it asks whether the fetch
 * ended: a committed blob of the expected size that is the part file it was
 * sent from (the same inode) gets the tail sent from blobs/ and the reply
 * ended; no fetch holding the part lock and no committed blob, a part file
 * unlinked without a commit (an abort, or a new fetch that replaced it) or
 * cut short, a committed blob that is another file, or a size mismatch close
 * the connection mid-body: bytes of one fetch are never completed with those
 * of another. A step is taken when a fill of this process calls
 * blob_follow_wake (the followers of each digest are on one list per
 * process), when the write callback of a chunk says the connection took it,
 * and otherwise every BLOB_FOLLOW_POLL_MS. A client that leaves makes evhttp
 * detach the request from its connection; the next step sees that and stops.
 * The fetch itself is never touched.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "content/blob_follow.h"
#include "store/blobstore.h"
#include "http/http.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

/*
 * What started a step, in the events its timer callback gets: the timer
 * itself (EV_TIMEOUT), or event_active with one of these.
 */
#define FOLLOW_KICK	EV_WRITE	/* the start, a chunk that left */
#define FOLLOW_WAKE	EV_READ		/* blob_follow_wake */

struct blob_follow {
	TAILQ_ENTRY(blob_follow) fo_entry;
	struct req		*fo_req;	/* NULL once answered (HEAD) */
	struct evhttp_request	*fo_ev;
	struct blobstore	*fo_blobs;
	struct digest		 fo_digest;
	off_t			 fo_expected;
	off_t			 fo_hold;	/* tail sent only once committed */
	off_t			 fo_sent;	/* bytes queued so far */
	int			 fo_verified;	/* the part file is marked */
	int			 fo_draining;	/* all queued, wait to end */
	int			 fo_drain_ms;	/* next look while draining */
	int			 fo_part_fd;	/* or -1 */
	struct event		*fo_timer;
	void			(*fo_done_cb)(int, void *);
	void			*fo_arg;
};

enum follow_step {
	FOLLOW_WAIT,		/* poll again later */
	FOLLOW_DONE,		/* whole body queued */
	FOLLOW_FAILED		/* the fetch failed: close mid-body */
};

TAILQ_HEAD(blob_follows, blob_follow);

/* A part file whose digest a fill of this process verified. */
struct blob_follow_mark {
	TAILQ_ENTRY(blob_follow_mark) bm_entry;
	struct digest		 bm_digest;
	dev_t			 bm_dev;
	ino_t			 bm_ino;
	off_t			 bm_size;
	int			 bm_fd;		/* pins the inode */
};
TAILQ_HEAD(blob_follow_marks, blob_follow_mark);

/* Every follower of this process, for blob_follow_wake. */
static struct blob_follows	blob_follows =
				    TAILQ_HEAD_INITIALIZER(blob_follows);
static struct blob_follow_marks	blob_follow_marks =
				    TAILQ_HEAD_INITIALIZER(blob_follow_marks);
static struct blob_follow_stats	blob_follow_counts;
static int			blob_follow_poll_ms = BLOB_FOLLOW_POLL_MS;

static void	blob_follow_step_cb(evutil_socket_t, short, void *);
static enum follow_step blob_follow_step(struct blob_follow *);
static enum follow_step blob_follow_ended(struct blob_follow *,
		    const struct stat *);
static enum follow_step blob_follow_tail(struct blob_follow *);
static int	blob_follow_same_file(int, int);
static int	blob_follow_marked(struct blob_follow *, const struct stat *);
static void	blob_follow_drained_cb(struct evhttp_connection *, void *);
static size_t	blob_follow_queued(struct blob_follow *);
static int	blob_follow_queue(struct blob_follow *, int, off_t, off_t,
		    int);
static void	blob_follow_finish(struct blob_follow *, int);

struct blob_follow *
blob_follow_start(struct req *r, struct blobstore *bs,
    const struct digest *d, int64_t expected_size,
    void (*done_cb)(int, void *), void *arg)
{
	struct blob_follow	*bf;
	struct event_base	*base = http_context(r)->ctx_base;
	char			 len[32], digest[DIGEST_STRING_MAX];
	int			 fd = -1;

	if (expected_size < 0)
		return (NULL);
	if (blobstore_part_open(bs, d, &fd) == -1 &&
	    blobstore_stat(bs, d, NULL) != 1)
		return (NULL);
	bf = xcalloc(1, sizeof(*bf));
	bf->fo_req = r;
	bf->fo_ev = r->req_ev;
	bf->fo_blobs = bs;
	bf->fo_digest = *d;
	bf->fo_expected = expected_size;
	bf->fo_hold = expected_size < BLOB_FOLLOW_HOLD_BACK ? expected_size :
	    BLOB_FOLLOW_HOLD_BACK;
	bf->fo_part_fd = fd;
	bf->fo_done_cb = done_cb;
	bf->fo_arg = arg;
	if ((bf->fo_timer = evtimer_new(base, blob_follow_step_cb, bf)) == NULL)
		fatalx("%s: evtimer_new", __func__);

	(void)snprintf(len, sizeof(len), "%" PRId64, expected_size);
	digest_format(d, digest, sizeof(digest));
	http_header_add(r, "Content-Length", len);
	http_header_add(r, "Docker-Content-Digest", digest);
	if (http_method(r) == EVHTTP_REQ_HEAD) {
		http_reply(r, 200, "application/octet-stream", NULL);
		bf->fo_req = NULL;
	} else
		http_reply_stream_start(r, 200, "application/octet-stream");
	TAILQ_INSERT_TAIL(&blob_follows, bf, fo_entry);
	/* The first step runs from the loop, never inside the caller. */
	event_active(bf->fo_timer, FOLLOW_KICK, 1);
	return (bf);
}

void
blob_follow_wake(const struct digest *d)
{
	struct blob_follow	*bf;

	TAILQ_FOREACH(bf, &blob_follows, fo_entry)
		if (digest_equal(&bf->fo_digest, d))
			event_active(bf->fo_timer, FOLLOW_WAKE, 1);
}

struct blob_follow_mark *
blob_follow_verified(const struct digest *d, int fd)
{
	struct blob_follow_mark	*bm;
	struct stat		 st;
	int			 pin;

	if ((pin = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1) {
		log_warn("%s: dup", __func__);
		return (NULL);
	}
	if (fstat(pin, &st) == -1) {
		log_warn("%s: fstat", __func__);
		close(pin);
		return (NULL);
	}
	bm = xcalloc(1, sizeof(*bm));
	bm->bm_fd = pin;
	bm->bm_digest = *d;
	bm->bm_dev = st.st_dev;
	bm->bm_ino = st.st_ino;
	bm->bm_size = st.st_size;
	TAILQ_INSERT_TAIL(&blob_follow_marks, bm, bm_entry);
	blob_follow_wake(d);
	return (bm);
}

void
blob_follow_verified_drop(struct blob_follow_mark *bm)
{
	if (bm == NULL)
		return;
	TAILQ_REMOVE(&blob_follow_marks, bm, bm_entry);
	close(bm->bm_fd);
	free(bm);
}

void
blob_follow_stats(struct blob_follow_stats *st)
{
	*st = blob_follow_counts;
}

void
blob_follow_set_poll_ms(int ms)
{
	blob_follow_poll_ms = ms > 0 ? ms : BLOB_FOLLOW_POLL_MS;
}

/* One step of the follower, and when to take the next. */
static void
blob_follow_step_cb(evutil_socket_t fd, short events, void *arg)
{
	struct blob_follow	*bf = arg;
	struct timeval		 tv;
	int			 ms;

	(void)fd;
	if (events & FOLLOW_WAKE)
		blob_follow_counts.fs_woken++;
	else if (events == EV_TIMEOUT && !bf->fo_draining)
		blob_follow_counts.fs_polled++;
	if (bf->fo_req == NULL) {
		blob_follow_finish(bf, 1);	/* HEAD, answered */
		return;
	}
	if (evhttp_request_get_connection(bf->fo_ev) == NULL) {
		log_debug("%s: client left after %lld bytes", __func__,
		    (long long)bf->fo_sent);
		blob_follow_finish(bf, 0);
		return;
	}
	switch (blob_follow_step(bf)) {
	case FOLLOW_DONE:
		blob_follow_finish(bf, 1);
		return;
	case FOLLOW_FAILED:
		blob_follow_finish(bf, 0);
		return;
	case FOLLOW_WAIT:
		break;
	}
	ms = blob_follow_poll_ms;
	if (bf->fo_draining) {
		/*
		 * The last chunk has no write callback: look again soon, then
		 * less and less often (1, 2, 4 ... BLOB_FOLLOW_POLL_MS).
		 */
		ms = bf->fo_drain_ms;
		if ((bf->fo_drain_ms *= 2) > BLOB_FOLLOW_POLL_MS)
			bf->fo_drain_ms = BLOB_FOLLOW_POLL_MS;
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(bf->fo_timer, &tv);
}

/* Send what the part file has beyond what was sent, or check the end. */
static enum follow_step
blob_follow_step(struct blob_follow *bf)
{
	struct stat	 st;
	size_t		 queued;
	off_t		 limit, n;
	int		 fd, last;

	memset(&st, 0, sizeof(st));
	queued = blob_follow_queued(bf);
	if (bf->fo_draining)
		return (queued == 0 ? FOLLOW_DONE : FOLLOW_WAIT);
	if (queued >= BLOB_FOLLOW_QUEUE_MAX)
		return (FOLLOW_WAIT);
	if (bf->fo_part_fd == -1)
		return (blob_follow_ended(bf, NULL));
	if (fstat(bf->fo_part_fd, &st) == -1) {
		log_warn("%s: fstat part file", __func__);
		return (FOLLOW_FAILED);
	}
	if (!bf->fo_verified && blob_follow_marked(bf, &st)) {
		bf->fo_verified = 1;
		blob_follow_counts.fs_released++;
	}
	if (st.st_nlink == 0 && !bf->fo_verified) {
		/*
		 * Unlinked without being committed (a commit links it into
		 * blobs/ first): the fetch failed, or a new one replaced it.
		 */
		log_warnx("%s: part file dropped after %lld of %lld bytes",
		    __func__, (long long)bf->fo_sent,
		    (long long)bf->fo_expected);
		return (FOLLOW_FAILED);
	}
	if (st.st_size < bf->fo_sent || st.st_size > bf->fo_expected) {
		log_warnx("%s: part file is %lld bytes, %lld sent of %lld",
		    __func__, (long long)st.st_size, (long long)bf->fo_sent,
		    (long long)bf->fo_expected);
		return (FOLLOW_FAILED);
	}
	if (bf->fo_verified && st.st_size != bf->fo_expected) {
		log_warnx("%s: verified part file is %lld bytes, expected %lld",
		    __func__, (long long)st.st_size,
		    (long long)bf->fo_expected);
		return (FOLLOW_FAILED);
	}
	/* Verified, the whole file is known good: nothing is held back. */
	limit = bf->fo_expected - (bf->fo_verified ? 0 : bf->fo_hold);
	if (st.st_size < limit)
		limit = st.st_size;
	if (limit <= bf->fo_sent) {
		if (!bf->fo_verified)
			return (blob_follow_ended(bf, &st));
		/* All queued (an empty blob): end once it has left. */
		bf->fo_draining = 1;
		bf->fo_drain_ms = 1;
		return (FOLLOW_WAIT);
	}
	n = limit - bf->fo_sent;
	if (n > (off_t)(BLOB_FOLLOW_QUEUE_MAX - queued))
		n = BLOB_FOLLOW_QUEUE_MAX - queued;
	last = bf->fo_verified && bf->fo_sent + n == bf->fo_expected;
	if ((fd = dup(bf->fo_part_fd)) == -1) {
		log_warn("%s: dup", __func__);
		return (FOLLOW_FAILED);
	}
	if (blob_follow_queue(bf, fd, bf->fo_sent, n, last) == -1)
		return (FOLLOW_FAILED);
	if (last) {
		bf->fo_draining = 1;
		bf->fo_drain_ms = 1;
	}
	return (FOLLOW_WAIT);
}

/*
 * Nothing new to send: did the fetch end? The lock is tested before the
 * blob because a fetch commits before it releases the lock.
 */
static enum follow_step
blob_follow_ended(struct blob_follow *bf, const struct stat *part)
{
	int	 active, present;

	active = blobstore_fetch_active(bf->fo_blobs, &bf->fo_digest);
	present = blobstore_stat(bf->fo_blobs, &bf->fo_digest, NULL);
	if (present == 1)
		return (blob_follow_tail(bf));
	if (present == -1) {
		log_warn("%s: stat blob", __func__);
		return (FOLLOW_FAILED);
	}
	if (!active || part == NULL || part->st_nlink == 0) {
		log_warnx("%s: fetch ended without a blob (%lld of %lld bytes)",
		    __func__, (long long)(part != NULL ? part->st_size : 0),
		    (long long)bf->fo_expected);
		return (FOLLOW_FAILED);
	}
	return (FOLLOW_WAIT);
}

/*
 * The blob is committed: queue the rest of it from blobs/, and end the
 * reply once it has all left (see blob_follow_queue).
 */
static enum follow_step
blob_follow_tail(struct blob_follow *bf)
{
	off_t	 size;
	int	 fd;

	if (blobstore_open_blob(bf->fo_blobs, &bf->fo_digest, &fd, &size) ==
	    -1) {
		log_warn("%s: open blob", __func__);
		return (FOLLOW_FAILED);
	}
	if (size != bf->fo_expected) {
		log_warnx("%s: blob is %lld bytes, expected %lld", __func__,
		    (long long)size, (long long)bf->fo_expected);
		close(fd);
		return (FOLLOW_FAILED);
	}
	if (bf->fo_part_fd != -1 && !blob_follow_same_file(bf->fo_part_fd,
	    fd)) {
		/* What was sent came from another fetch than the commit. */
		log_warnx("%s: the committed blob is not the part file sent "
		    "from", __func__);
		close(fd);
		return (FOLLOW_FAILED);
	}
	if (size == bf->fo_sent) {
		close(fd);
		return (FOLLOW_DONE);
	}
	if (blob_follow_queue(bf, fd, bf->fo_sent, size - bf->fo_sent, 1) ==
	    -1)
		return (FOLLOW_FAILED);
	bf->fo_draining = 1;
	bf->fo_drain_ms = 1;
	return (FOLLOW_WAIT);
}

/*
 * 1 when the part file the follower reads (st) is one a fill of this
 * process marked verified: same digest, device, inode and size.
 */
static int
blob_follow_marked(struct blob_follow *bf, const struct stat *st)
{
	struct blob_follow_mark	*bm;

	TAILQ_FOREACH(bm, &blob_follow_marks, bm_entry)
		if (digest_equal(&bm->bm_digest, &bf->fo_digest) &&
		    bm->bm_dev == st->st_dev && bm->bm_ino == st->st_ino &&
		    bm->bm_size == st->st_size)
			return (1);
	return (0);
}

/* 1 when the two descriptors are of one file (one inode). */
static int
blob_follow_same_file(int a, int b)
{
	struct stat	 sa, sb;

	if (fstat(a, &sa) == -1 || fstat(b, &sb) == -1) {
		log_warn("%s: fstat", __func__);
		return (0);
	}
	return (sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino);
}

/* A chunk left for the kernel: take the next step now. */
static void
blob_follow_drained_cb(struct evhttp_connection *evcon, void *arg)
{
	struct blob_follow	*bf = arg;

	(void)evcon;
	event_active(bf->fo_timer, FOLLOW_KICK, 1);
}

/* Bytes queued on the connection and not yet taken by the kernel. */
static size_t
blob_follow_queued(struct blob_follow *bf)
{
	struct evhttp_connection	*evcon;

	if ((evcon = evhttp_request_get_connection(bf->fo_ev)) == NULL)
		return (0);
	return (evbuffer_get_length(bufferevent_get_output(
	    evhttp_connection_get_bufferevent(evcon))));
}

/*
 * Queue length bytes of fd from offset (sendfile); fd is consumed.
 *
 * evhttp keeps the write callback of the last chunk installed after the
 * reply, and a deferred write callback may fire late, so the last chunk
 * goes without one (the follower is freed after it). For the same reason
 * the reply is ended only once the output is empty: ended with bytes
 * still queued, a stale write callback could run evhttp's end of reply
 * early and close the connection on them.
 */
static int
blob_follow_queue(struct blob_follow *bf, int fd, off_t offset, off_t length,
    int last)
{
	struct evbuffer	*buf;

	if ((buf = evbuffer_new()) == NULL)
		fatalx("%s: evbuffer_new", __func__);
	/* Without this flag evbuffer_add_file reads instead of sendfile. */
	evbuffer_set_flags(buf, EVBUFFER_FLAG_DRAINS_TO_FD);
	if (evbuffer_add_file(buf, fd, offset, length) == -1) {
		log_warnx("%s: evbuffer_add_file failed", __func__);
		evbuffer_free(buf);
		return (-1);
	}
	if (last)
		evhttp_send_reply_chunk(bf->fo_ev, buf);
	else
		evhttp_send_reply_chunk_with_cb(bf->fo_ev, buf,
		    blob_follow_drained_cb, bf);
	evbuffer_free(buf);
	bf->fo_sent += length;
	return (0);
}

/* End the reply (ok) or close the connection mid-body, then tell. */
static void
blob_follow_finish(struct blob_follow *bf, int ok)
{
	void	(*done_cb)(int, void *) = bf->fo_done_cb;
	void	*arg = bf->fo_arg;

	TAILQ_REMOVE(&blob_follows, bf, fo_entry);
	event_free(bf->fo_timer);
	if (bf->fo_part_fd != -1)
		close(bf->fo_part_fd);
	if (bf->fo_req != NULL)
		http_reply_stream_end(bf->fo_req, 200, bf->fo_sent, ok);
	free(bf);
	if (done_cb != NULL)
		done_cb(ok, arg);
}
