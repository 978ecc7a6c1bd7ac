/*
 * oci_upload.c: pushing blobs. POST /v2/<name>/blobs/uploads/ starts an
 * upload session (or, with ?digest=, takes the whole blob at once; with
 * ?mount=&from=, links a blob another repository has); PATCH appends a
 * chunk, PUT ?digest= appends the last one and commits the blob, GET
 * tells the offset, DELETE cancels. The sessions' files and their
 * expiry are store/upload.c's.
 *
 * The requests of one upload may reach different workers, and a session
 * survives a worker's restart: its state is in the index (repository,
 * offset, times) and its data in <data_dir>/tmp/upload-<id>. A request
 * that writes holds an open file description lock on that file, moves
 * the offset in the index with a compare-and-set once its data is
 * written, and cuts the file back to the recorded offset first (a request
 * that died mid-write leaves bytes past it). Bodies stream in through
 * http_body.h.
 *
 * A PATCH's bytes are on the disk before anything claims them: a thread
 * fdatasyncs the file (offload.h), and only then is the offset moved in
 * the index and the 202 sent. A worker, the daemon or the machine that
 * dies at any point leaves an offset no larger than the bytes the file
 * keeps; the next writer cuts whatever lies past it. A full disk answers
 * 507 with the OCI error body and leaves the session as it was.
 *
 * The event loop never hashes or fsyncs a whole blob. A worker keeps the
 * running SHA-256 of the sessions it wrote the last chunk of (in memory,
 * a bounded table) and feeds it each chunk as the chunk is written. The
 * final step (hash whatever that state does not cover, which is all of
 * the file when earlier chunks went to another worker or a worker
 * restarted; verify; fsync; link into blobs/) runs in a thread of its
 * own (offload.h) while the file's lock is held, and the request is
 * answered back on the loop when it is done. A monolithic upload (POST
 * ?digest=) hashes as it is written and commits in such a thread too.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "access/access.h"
#include "store/blobstore.h"
#include "conf/config.h"
#include "lib/digest.h"
#include "http/http.h"
#include "http/http_body.h"
#include "store/gc.h"
#include "store/index.h"
#include "lib/log.h"
#include "oci/oci.h"
#include "lib/offload.h"
#include "lib/ref.h"
#include "store/upload.h"
#include "lib/util.h"
#include "lib/xmalloc.h"

#define UPLOAD_ID_BYTES		16
#define UPLOAD_FILE_MODE	0640
#define UPLOAD_IOV_MAX		64	/* buffer segments per write */
/*
 * A streamed body is written once this much waits (or it is complete):
 * a write and a hash step per socket read were 26,000 writes for a
 * 100 MB layer. Reading stops at HTTP_BODY_PENDING_MAX, above it.
 */
#define UPLOAD_WRITE_BATCH	(256 * 1024)
#if UPLOAD_WRITE_BATCH >= HTTP_BODY_PENDING_MAX
#error "UPLOAD_WRITE_BATCH must stay below HTTP_BODY_PENDING_MAX"
#endif
#define UPLOAD_HASH_ALG		DIGEST_SHA256	/* of the running hashes */
#define UPLOAD_HASHES_MAX	64	/* running hashes kept per worker */
#define UPLOAD_READ_CHUNK	(1024 * 1024)	/* commit thread's reads */
/* For tests: a PATCH's sync waits while the file this names exists. */
#define UPLOAD_SYNC_HOLD_ENV	"DEPOT_TEST_SYNC_HOLD"

enum upload_kind {
	UPLOAD_CHUNK,		/* PATCH: append */
	UPLOAD_FINAL,		/* PUT: append, then commit */
	UPLOAD_WHOLE		/* POST ?digest=: the blob in one request */
};

/* One request that writes upload data. */
struct upload_op {
	struct oci_request	 op_o;		/* only or_req is set */
	struct http_context	*op_ctx;
	enum upload_kind	 op_kind;
	char			*op_repo;
	char			 op_id[UPLOAD_ID_MAX + 1];
	char			 op_path[PATH_MAX];
	int			 op_fd;		/* locked file */
	struct blob_writer	*op_writer;	/* UPLOAD_WHOLE */
	int64_t			 op_start;	/* offset before us */
	int64_t			 op_written;
	int64_t			 op_expect;	/* per range, or -1 */
	struct digest		 op_digest;	/* FINAL, WHOLE */
	struct digester		*op_hash;	/* SHA-256 of [0, op_hash_at) */
	int64_t			 op_hash_at;
	int			 op_hashing;	/* op_hash follows our writes */
	int			 op_errno;	/* of a failed write */
};

/*
 * A PATCH's data on its way to the disk, in a thread (offload_run): the
 * fdatasync of the locked file. The thread waits first while the file
 * named by UPLOAD_SYNC_HOLD_ENV exists (tests).
 */
struct upload_sync {
	struct upload_op	*us_op;
	int			 us_fd;
	int			 us_errno;	/* 0, or the fdatasync's */
};

/* A session's running hash, kept by the worker between its requests. */
struct upload_hash {
	char			 uh_id[UPLOAD_ID_MAX + 1];
	struct digester		*uh_digester;	/* NULL: free slot */
	int64_t			 uh_offset;	/* bytes hashed */
	uint64_t		 uh_used;
};

/*
 * The end of an upload, done by a thread: hash what is not hashed yet,
 * verify, fsync and link the blob into place (offload_run). The thread
 * waits first while the file named by OFFLOAD_HOLD_ENV exists (tests).
 */
struct upload_commit {
	struct upload_op	*uc_op;
	struct blobstore	*uc_store;
	struct blob_writer	*uc_writer;	/* WHOLE */
	int			 uc_fd;		/* FINAL: the locked file */
	const char		*uc_path;
	struct digest		 uc_expected;
	struct digester		*uc_digester;	/* FINAL: state at uc_from */
	int64_t			 uc_from;
	int64_t			 uc_size;
	int			 uc_result;	/* 0, or -1 */
	int			 uc_mismatch;	/* the digest differs */
	int			 uc_synced;	/* FINAL: the file is on disk */
	int			 uc_errno;	/* of a failed step */
	char			*uc_cause;
};

static struct upload_hash	upload_hashes[UPLOAD_HASHES_MAX];
static uint64_t			upload_hash_clock;

static struct upload_op *upload_op_create(struct oci_request *,
		    enum upload_kind);
static void	upload_op_free(struct upload_op *);
static int	upload_new_id(char *, size_t);
static int	upload_lookup(struct http_context *, const char *,
		    const char *, struct index_upload *);
static int	upload_lookup_reply(struct oci_request *, const char *,
		    const char *, struct index_upload *);
static int	upload_range_check(struct upload_op *);
static int	upload_acquire(struct upload_op *);
static void	upload_lost(struct upload_op *);
static void	upload_truncate(struct upload_op *);
static void	upload_session_headers(struct req *, const char *,
		    const char *, int64_t);
static void	upload_range_invalid(struct oci_request *, const char *,
		    const char *, int64_t, const char *);
static void	upload_internal_error(struct req *, const char *);
static int	upload_digest_param(struct oci_request *, struct digest *);
static int	upload_mount(struct oci_request *, const char *,
		    const char *);
static int	upload_mount_source_known(struct config *, const char *);
static int	upload_mount_allowed(struct oci_request *,
		    const char *);
static void	upload_create(struct oci_request *);
static void	upload_whole(struct oci_request *);
static void	upload_receive(struct upload_op *);
static int	upload_write(struct upload_op *, struct evbuffer *);
static void	upload_data_cb(struct http_body *, struct evbuffer *,
		    void *);
static void	upload_write_failed(struct upload_op *);
static void	upload_done_cb(struct http_body *, enum http_body_end,
		    void *);
static void	upload_complete(struct upload_op *);
static void	upload_chunk_done(struct upload_op *);
static void	upload_sync_run(void *);
static void	upload_sync_done(void *);
static void	upload_chunk_record(struct upload_op *);
static void	upload_storage_error(struct req *, int, const char *);
static void	upload_final_done(struct upload_op *);
static void	upload_whole_done(struct upload_op *);
static void	upload_fail(struct upload_op *, int, const char *,
		    const char *, const char *);
static int	upload_link(struct http_context *, const char *,
		    const struct digest *);
static void	upload_created(struct req *, const char *,
		    const struct digest *);
static struct upload_hash *upload_hash_find(const char *);
static struct digester *upload_hash_take(const char *, int64_t *);
static void	upload_hash_keep(const char *, struct digester *, int64_t);
static void	upload_hash_begin(struct upload_op *);
static void	upload_hash_written(struct upload_op *, const struct iovec *,
		    int, size_t);
static void	upload_commit_start(struct upload_op *);
static void	upload_commit_run(void *);
static int	upload_commit_file(struct upload_commit *);
static void	upload_commit_done(void *);

void
oci_upload_start(struct oci_request *o)
{
	struct req	*r = o->or_req;
	const char	*mount, *from;

	mount = http_query_get(r, "mount");
	from = http_query_get(r, "from");
	if (mount != NULL && from != NULL && upload_mount(o, mount, from))
		return;
	if (http_query_get(r, "digest") != NULL)
		upload_whole(o);
	else
		upload_create(o);
}

void
oci_upload_patch(struct oci_request *o)
{
	struct upload_op	*op;

	op = upload_op_create(o, UPLOAD_CHUNK);
	if (upload_acquire(op) == -1) {
		upload_op_free(op);
		return;
	}
	upload_hash_begin(op);
	if (upload_range_check(op) == -1) {
		upload_op_free(op);
		return;
	}
	upload_receive(op);
}

void
oci_upload_finish(struct oci_request *o)
{
	struct upload_op	*op;
	struct digest		 d;

	if (upload_digest_param(o, &d) == -1)
		return;
	op = upload_op_create(o, UPLOAD_FINAL);
	op->op_digest = d;
	if (upload_acquire(op) == -1) {
		upload_op_free(op);
		return;
	}
	upload_hash_begin(op);
	if (upload_range_check(op) == -1) {
		upload_op_free(op);
		return;
	}
	upload_receive(op);
}

void
oci_upload_status(struct oci_request *o)
{
	struct http_context	*ctx = http_context(o->or_req);
	struct index_upload	 u;
	struct stat		 sb;
	char			 path[PATH_MAX];

	if (upload_lookup_reply(o, o->or_path.name, o->or_path.reference,
	    &u) != 1)
		return;
	/*
	 * Tell an offset only when the next PATCH can go on from it (see
	 * upload_acquire): a session whose data is missing or short, or
	 * whose file a commit has already placed, is unknown.
	 */
	if (u.iu_offset > 0 && (upload_path(ctx->ctx_blobs,
	    o->or_path.reference, path, sizeof(path)) == -1 ||
	    lstat(path, &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    sb.st_size < u.iu_offset || sb.st_nlink != 1)) {
		oci_error(o, "BLOB_UPLOAD_UNKNOWN", o->or_path.reference);
		return;
	}
	upload_session_headers(o->or_req, o->or_path.name,
	    o->or_path.reference, u.iu_offset);
	http_reply(o->or_req, 204, NULL, NULL);
}

void
oci_upload_cancel(struct oci_request *o)
{
	struct http_context	*ctx = http_context(o->or_req);
	struct index_upload	 u;
	const char		*id = o->or_path.reference;
	char			 path[PATH_MAX];
	int			 fd;

	if (upload_lookup_reply(o, o->or_path.name, id, &u) != 1)
		return;
	if (upload_path(ctx->ctx_blobs, id, path, sizeof(path)) == -1) {
		upload_internal_error(o->or_req, "upload path too long");
		return;
	}
	/*
	 * Like a writer, hold the file's lock: never pull a session from
	 * under a request that appends to it or commits it. As then, 416
	 * says another request has it; the client may try again.
	 */
	if ((fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC)) == -1 &&
	    errno != ENOENT) {
		log_warn("%s: open %s", __func__, path);
		upload_internal_error(o->or_req, "cannot open upload");
		return;
	}
	if (fd != -1 && upload_lock(fd) == -1) {
		if (errno != EAGAIN && errno != EACCES) {
			log_warn("%s: lock %s", __func__, path);
			upload_internal_error(o->or_req, "cannot lock upload");
		} else
			upload_range_invalid(o, o->or_path.name, id,
			    u.iu_offset, "another request is writing to this "
			    "upload");
		close(fd);
		return;
	}
	/*
	 * A commit may have ended the session before the lock was ours. A
	 * missing file is a session whose data is lost, or one a commit has
	 * just placed (it ends the session next): cancelling either is
	 * harmless.
	 */
	if (upload_lookup_reply(o, o->or_path.name, id, &u) == 1) {
		if (index_upload_delete(ctx->ctx_index, id) == -1)
			upload_internal_error(o->or_req,
			    "cannot cancel the upload");
		else {
			digester_free(upload_hash_take(id, NULL));
			if (unlink(path) == -1 && errno != ENOENT)
				log_warn("%s: unlink %s", __func__, path);
			http_reply(o->or_req, 204, NULL, NULL);
		}
	}
	/* The lock goes with the close; blocks are freed off the loop. */
	offload_close(ctx->ctx_base, fd);
}

static struct upload_op *
upload_op_create(struct oci_request *o, enum upload_kind kind)
{
	struct upload_op	*op;

	op = xcalloc(1, sizeof(*op));
	op->op_o.or_req = o->or_req;
	op->op_ctx = http_context(o->or_req);
	op->op_kind = kind;
	op->op_repo = xstrdup(o->or_path.name);
	if (o->or_path.reference != NULL)
		(void)snprintf(op->op_id, sizeof(op->op_id), "%s",
		    o->or_path.reference);
	op->op_fd = -1;
	op->op_expect = -1;
	return (op);
}

static void
upload_op_free(struct upload_op *op)
{
	if (op == NULL)
		return;
	/*
	 * The lock goes with the close. The file may be unlinked (a blob
	 * stored already, a cancelled upload): its blocks are freed off the
	 * loop.
	 */
	offload_close(op->op_ctx->ctx_base, op->op_fd);
	blob_writer_abort(op->op_writer);
	digester_free(op->op_hash);
	free(op->op_repo);
	free(op);
}

/* 32 random hex digits. 0, or -1 when OpenSSL has no randomness. */
static int
upload_new_id(char *buf, size_t len)
{
	unsigned char	 raw[UPLOAD_ID_BYTES];
	size_t		 i;

	if (len < sizeof(raw) * 2 + 1 || RAND_bytes(raw, sizeof(raw)) != 1)
		return (-1);
	for (i = 0; i < sizeof(raw); i++)
		(void)snprintf(buf + 2 * i, 3, "%02x", raw[i]);
	return (0);
}

/* The session id of repo: 1 found, 0 absent or another's, -1 error. */
static int
upload_lookup(struct http_context *ctx, const char *id, const char *repo,
    struct index_upload *u)
{
	int	 found;

	found = index_upload_get(ctx->ctx_index, id, u);
	if (found == 1 && strcmp(u->iu_repo, repo) != 0)
		found = 0;
	return (found);
}

/* upload_lookup, answering when it is not 1. */
static int
upload_lookup_reply(struct oci_request *o, const char *repo, const char *id,
    struct index_upload *u)
{
	int	 found;

	found = upload_lookup(http_context(o->or_req), id, repo, u);
	if (found == 0)
		oci_error(o, "BLOB_UPLOAD_UNKNOWN", id);
	else if (found == -1)
		upload_internal_error(o->or_req, "cannot read the upload");
	return (found);
}

/*
 * Make the session of op ours: find it, open and lock its file, cut the
 * file to the recorded offset and position there. 0, or -1 answered.
 */
static int
upload_acquire(struct upload_op *op)
{
	struct index_upload	 u;
	struct stat		 sb;
	struct oci_request	*o = &op->op_o;
	int			 flags = O_RDWR | O_NOFOLLOW | O_CLOEXEC;

	if (upload_lookup_reply(o, op->op_repo, op->op_id, &u) != 1)
		return (-1);
	if (upload_path(op->op_ctx->ctx_blobs, op->op_id, op->op_path,
	    sizeof(op->op_path)) == -1) {
		upload_internal_error(o->or_req, "upload path too long");
		return (-1);
	}
	if (u.iu_offset == 0)
		flags |= O_CREAT;
	if ((op->op_fd = open(op->op_path, flags, UPLOAD_FILE_MODE)) == -1) {
		if (errno == ENOENT)
			upload_lost(op);
		else {
			log_warn("%s: open %s", __func__, op->op_path);
			upload_internal_error(o->or_req, "cannot open upload");
		}
		return (-1);
	}
	if (upload_lock(op->op_fd) == -1) {
		if (errno != EAGAIN && errno != EACCES) {
			log_warn("%s: lock %s", __func__, op->op_path);
			upload_internal_error(o->or_req, "cannot lock upload");
		} else
			upload_range_invalid(o, op->op_repo, op->op_id,
			    u.iu_offset, "another request is writing to this "
			    "upload");
		return (-1);
	}
	/* The offset may have moved before the lock was ours. */
	if (upload_lookup_reply(o, op->op_repo, op->op_id, &u) != 1)
		return (-1);
	/*
	 * A second name means the file was already linked into blobs/ by a
	 * commit that died before it could end the session: never write to
	 * a committed blob.
	 */
	if (fstat(op->op_fd, &sb) == -1 || sb.st_size < u.iu_offset ||
	    sb.st_nlink != 1) {
		upload_lost(op);
		return (-1);
	}
	if ((sb.st_size > u.iu_offset && ftruncate(op->op_fd, u.iu_offset) ==
	    -1) || lseek(op->op_fd, u.iu_offset, SEEK_SET) == -1) {
		log_warn("%s: %s", __func__, op->op_path);
		upload_internal_error(o->or_req, "cannot prepare upload");
		return (-1);
	}
	op->op_start = u.iu_offset;
	return (0);
}

/* The session's data is gone (a crash, a full disk): drop the session. */
static void
upload_lost(struct upload_op *op)
{
	log_warnx("upload %s of %s: data file missing or short, dropped",
	    op->op_id, op->op_repo);
	if (index_upload_delete(op->op_ctx->ctx_index, op->op_id) == -1)
		log_warnx("%s: cannot delete upload %s", __func__, op->op_id);
	(void)unlink(op->op_path);
	oci_error(&op->op_o, "BLOB_UPLOAD_INVALID", "upload data lost");
}

/* Drop what this request appended (the next writer would, too). */
static void
upload_truncate(struct upload_op *op)
{
	if (op->op_fd != -1 && op->op_kind != UPLOAD_WHOLE &&
	    ftruncate(op->op_fd, op->op_start) == -1)
		log_warn("%s: %s", __func__, op->op_path);
}

/* Location, Range and Docker-Upload-UUID of a session at offset. */
static void
upload_session_headers(struct req *r, const char *repo, const char *id,
    int64_t offset)
{
	char	*path, *url, range[64];

	xasprintf(&path, "/v2/%s/blobs/uploads/%s", repo, id);
	url = http_public_url(r, path);
	http_header_add(r, "Location", url);
	free(url);
	free(path);
	/* As distribution does: "0-0" also when nothing arrived yet. */
	(void)snprintf(range, sizeof(range), "0-%" PRId64,
	    offset > 0 ? offset - 1 : 0);
	http_header_add(r, "Range", range);
	http_header_add(r, "Docker-Upload-UUID", id);
}

/* 416 with where the session really is. */
static void
upload_range_invalid(struct oci_request *o, const char *repo, const char *id,
    int64_t offset, const char *detail)
{
	upload_session_headers(o->or_req, repo, id, offset);
	oci_error(o, "RANGE_INVALID", detail);
}

static void
upload_internal_error(struct req *r, const char *detail)
{
	http_reply_oci_error(r, 500, "UNKNOWN", "internal error", detail);
}

/*
 * "<first>-<last>", then optionally "/" and the total length (which
 * must exceed last) or an asterisk for an unknown total. A "bytes " or
 * "bytes=" prefix is tolerated.
 */
int
oci_content_range(const char *s, int64_t *first, int64_t *last)
{
	char		*end;
	long long	 a, b, total;

	if (strncmp(s, "bytes", 5) == 0 && (s[5] == ' ' || s[5] == '='))
		s += 6;
	if (*s < '0' || *s > '9')
		return (-1);
	errno = 0;
	a = strtoll(s, &end, 10);
	if (errno != 0 || *end != '-' || end[1] < '0' || end[1] > '9')
		return (-1);
	b = strtoll(end + 1, &end, 10);
	/* b - a + 1, the chunk's length, must fit in an int64_t too. */
	if (errno != 0 || (*end != '\0' && *end != '/') || b < a ||
	    b - a >= INT64_MAX)
		return (-1);
	if (*end == '/' && strcmp(end + 1, "*") != 0) {
		if (end[1] < '0' || end[1] > '9')
			return (-1);
		total = strtoll(end + 1, &end, 10);
		if (errno != 0 || *end != '\0' || total <= b)
			return (-1);
	}
	*first = a;
	*last = b;
	return (0);
}

/*
 * The Content-Range of a PATCH, or of a PUT with a body: it must start
 * at the session's offset and, when the length is known, cover the
 * body. Sets op_expect. 0, or -1 answered (416).
 */
static int
upload_range_check(struct upload_op *op)
{
	struct req		*r = op->op_o.or_req;
	struct http_body	*b;
	const char		*range;
	int64_t			 first, last, declared;

	if ((range = http_header_get(r, "Content-Range")) == NULL)
		return (0);
	b = http_body_claim(r);
	declared = b != NULL ? http_body_declared(b) : (int64_t)
	    evbuffer_get_length(evhttp_request_get_input_buffer(r->req_ev));
	/* A PUT without a body only ends the upload: nothing to place. */
	if (op->op_kind == UPLOAD_FINAL && declared == 0)
		return (0);
	if (oci_content_range(range, &first, &last) == -1 ||
	    first != op->op_start ||
	    (declared != -1 && declared != last - first + 1)) {
		upload_range_invalid(&op->op_o, op->op_repo, op->op_id,
		    op->op_start, "chunk out of order or malformed "
		    "Content-Range");
		return (-1);
	}
	op->op_expect = last - first + 1;
	return (0);
}

/* The ?digest= of a PUT or POST. 0, or -1 answered. */
static int
upload_digest_param(struct oci_request *o, struct digest *d)
{
	const char	*v = http_query_get(o->or_req, "digest");
	char		*cause = NULL;

	if (v == NULL) {
		http_reply_oci_error(o->or_req, 400, "DIGEST_INVALID",
		    "no digest provided", "the digest parameter is missing");
		return (-1);
	}
	if (digest_parse(v, d, &cause) == -1) {
		oci_digest_malformed(o, cause);
		free(cause);
		return (-1);
	}
	return (0);
}

/*
 * POST ?mount=<digest>&from=<repo>: link the blob from the other
 * repository when it has it. 1 answered, 0 when a plain upload session
 * should start instead.
 */
static int
upload_mount(struct oci_request *o, const char *mount, const char *from)
{
	struct http_context	*ctx = http_context(o->or_req);
	struct digest		 d;
	enum index_link_kind	 kind;
	char			*cause = NULL;
	int			 found;

	if (digest_parse(mount, &d, &cause) == -1) {
		oci_digest_malformed(o, cause);
		free(cause);
		return (1);
	}
	if (!upload_mount_source_known(ctx->ctx_config, from) ||
	    !upload_mount_allowed(o, from))
		return (0);
	found = index_link_get(ctx->ctx_index, from, &d, &kind);
	if (found == -1) {
		upload_internal_error(o->or_req, "cannot read the index");
		return (1);
	}
	if (found == 0 || blobstore_stat(ctx->ctx_blobs, &d, NULL) != 1)
		return (0);
	if ((found = upload_link(ctx, o->or_path.name, &d)) == -1) {
		upload_internal_error(o->or_req, "cannot link the blob");
		return (1);
	}
	if (found == 0)		/* swept meanwhile: upload it instead */
		return (0);
	upload_created(o->or_req, o->or_path.name, &d);
	return (1);
}

/* A repository of a docker registry or upstream key of the config. */
static int
upload_mount_source_known(struct config *cf, const char *from)
{
	struct config_registry	*reg;
	struct config_upstream	*up;

	if (strlen(from) > DEPOT_REPO_MAX ||
	    ref_repository_valid(from, NULL) == -1)
		return (0);
	(void)config_name_find(cf, from, &reg, &up);
	if (reg != NULL)
		return (reg->reg_type == REPO_DOCKER);
	return (up != NULL && up->up_type == REPO_DOCKER);
}

/*
 * Access control hook: may the caller read from? Everyone may until
 * authentication lands; the check of read permission on from goes here.
 */
static int
upload_mount_allowed(struct oci_request *o, const char *from)
{
	struct http_context	*ctx = http_context(o->or_req);
	struct access_caller	 anonymous;

	if (ctx->ctx_access == NULL)
		return (1);
	memset(&anonymous, 0, sizeof(anonymous));
	return ((access_rights(ctx->ctx_access, ctx->ctx_config,
	    o->or_req->req_caller != NULL ? o->or_req->req_caller :
	    &anonymous, from) & ACCESS_PULL) != 0);
}

/* POST without digest: a new session, 202. */
static void
upload_create(struct oci_request *o)
{
	struct http_context	*ctx = http_context(o->or_req);
	struct index_upload	 u;
	char			 id[UPLOAD_ID_BYTES * 2 + 1];
	char			 path[PATH_MAX];
	int			 fd;

	memset(&u, 0, sizeof(u));
	if (strlen(o->or_path.name) >= sizeof(u.iu_repo)) {
		oci_error(o, "NAME_INVALID", o->or_path.name);
		return;
	}
	(void)snprintf(u.iu_repo, sizeof(u.iu_repo), "%s", o->or_path.name);
	u.iu_started = u.iu_updated = (int64_t)time(NULL);
	if (upload_new_id(id, sizeof(id)) == -1 ||
	    upload_path(ctx->ctx_blobs, id, path, sizeof(path)) == -1) {
		log_warnx("%s: cannot make an upload id", __func__);
		upload_internal_error(o->or_req, "cannot start an upload");
		return;
	}
	if (index_upload_put(ctx->ctx_index, id, &u) == -1) {
		upload_internal_error(o->or_req, "cannot start an upload");
		return;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    UPLOAD_FILE_MODE);
	if (fd == -1) {
		log_warn("%s: %s", __func__, path);
		(void)index_upload_delete(ctx->ctx_index, id);
		upload_internal_error(o->or_req, "cannot start an upload");
		return;
	}
	close(fd);
	upload_session_headers(o->or_req, o->or_path.name, id, 0);
	http_reply(o->or_req, 202, NULL, NULL);
}

/* POST ?digest=: the body is the whole blob. */
static void
upload_whole(struct oci_request *o)
{
	struct http_context	*ctx = http_context(o->or_req);
	struct upload_op	*op;
	struct digest		 d;
	char			*cause = NULL;

	if (upload_digest_param(o, &d) == -1)
		return;
	op = upload_op_create(o, UPLOAD_WHOLE);
	op->op_digest = d;
	op->op_writer = blob_writer_create(ctx->ctx_blobs, d.alg, &cause);
	if (op->op_writer == NULL) {
		log_warnx("%s: %s", __func__, cause);
		free(cause);
		upload_internal_error(o->or_req, "cannot store the blob");
		upload_op_free(op);
		return;
	}
	upload_receive(op);
}

/* Take the body: streamed when diverted, else what evhttp read. */
static void
upload_receive(struct upload_op *op)
{
	struct req		*r = op->op_o.or_req;
	struct http_body	*b;

	if ((b = http_body_claim(r)) != NULL) {
		http_body_start(b, upload_data_cb, upload_done_cb, op);
		return;
	}
	if (upload_write(op, evhttp_request_get_input_buffer(r->req_ev)) ==
	    -1) {
		upload_write_failed(op);
		return;
	}
	upload_complete(op);
}

/* Write (and remove) everything in buf. 0, or -1 logged. */
static int
upload_write(struct upload_op *op, struct evbuffer *buf)
{
	struct iovec	 iov[UPLOAD_IOV_MAX];
	size_t		 len;
	ssize_t		 n;
	int		 nvec;

	while (evbuffer_get_length(buf) > 0) {
		if (op->op_writer != NULL) {
			len = evbuffer_get_contiguous_space(buf);
			if (blob_writer_write(op->op_writer,
			    evbuffer_pullup(buf, len), len) == -1) {
				op->op_errno = errno;
				return (-1);
			}
			evbuffer_drain(buf, len);
			op->op_written += (int64_t)len;
			continue;
		}
		nvec = evbuffer_peek(buf, -1, NULL, iov, UPLOAD_IOV_MAX);
		if (nvec > UPLOAD_IOV_MAX)
			nvec = UPLOAD_IOV_MAX;
		if ((n = writev(op->op_fd, iov, nvec)) == -1) {
			if (errno == EINTR)
				continue;
			op->op_errno = errno;
			log_warn("%s: write %s", __func__, op->op_path);
			return (-1);
		}
		if (op->op_hashing)
			upload_hash_written(op, iov, nvec, (size_t)n);
		evbuffer_drain(buf, (size_t)n);
		op->op_written += n;
	}
	return (0);
}

static void
upload_data_cb(struct http_body *b, struct evbuffer *buf, void *arg)
{
	struct upload_op	*op = arg;

	/* What is left stays pending; this runs again as more arrives. */
	if (!http_body_complete(b) &&
	    evbuffer_get_length(buf) < UPLOAD_WRITE_BATCH)
		return;
	if (upload_write(op, buf) == -1)
		upload_write_failed(op);
}

/* A write failed: drop what this request wrote, and say why. */
static void
upload_write_failed(struct upload_op *op)
{
	upload_truncate(op);
	upload_storage_error(op->op_o.or_req, op->op_errno,
	    "cannot write the upload");
	upload_op_free(op);
}

/*
 * Answer a failed write, sync or commit: 507 (DENIED, as the low-space
 * guard answers) when the disk or the quota is full, else 500.
 */
static void
upload_storage_error(struct req *r, int error, const char *detail)
{
	if (error == ENOSPC || error == EDQUOT)
		http_reply_oci_error(r, 507, "DENIED", "insufficient storage",
		    detail);
	else
		upload_internal_error(r, detail);
}

static void
upload_done_cb(struct http_body *b, enum http_body_end end, void *arg)
{
	struct upload_op	*op = arg;

	switch (end) {
	case HTTP_BODY_COMPLETE:
		upload_complete(op);
		return;
	case HTTP_BODY_TOO_LARGE:
		upload_fail(op, 413, "SIZE_INVALID", "request body too large",
		    NULL);
		return;
	case HTTP_BODY_GONE:
	case HTTP_BODY_INVALID:
		log_info("upload to %s: %s after %" PRId64 " bytes",
		    op->op_repo, http_body_end_name(end),
		    http_body_received(b));
		upload_fail(op, 400, "BLOB_UPLOAD_INVALID",
		    "blob upload invalid", http_body_end_name(end));
		return;
	}
}

static void
upload_complete(struct upload_op *op)
{
	switch (op->op_kind) {
	case UPLOAD_CHUNK:
		upload_chunk_done(op);
		break;
	case UPLOAD_FINAL:
		upload_final_done(op);
		break;
	case UPLOAD_WHOLE:
		upload_whole_done(op);
		break;
	}
}

/*
 * PATCH: every byte is written; a thread syncs them, then the offset
 * moves (upload_chunk_record). The file's lock stays held meanwhile.
 */
static void
upload_chunk_done(struct upload_op *op)
{
	struct upload_sync	*s;

	if (op->op_expect != -1 && op->op_written != op->op_expect) {
		upload_truncate(op);
		upload_range_invalid(&op->op_o, op->op_repo, op->op_id,
		    op->op_start, "chunk length differs from Content-Range");
		upload_op_free(op);
		return;
	}
	if (op->op_written == 0) {
		upload_chunk_record(op);
		return;
	}
	s = xcalloc(1, sizeof(*s));
	s->us_op = op;
	s->us_fd = op->op_fd;
	offload_run(op->op_ctx->ctx_base, upload_sync_run, upload_sync_done, s);
}

/* In the thread: only the descriptor. */
static void
upload_sync_run(void *arg)
{
	struct upload_sync	*s = arg;

	offload_test_hold_env(UPLOAD_SYNC_HOLD_ENV);
	if (fdatasync(s->us_fd) == -1)
		s->us_errno = errno;
}

/* On the loop: the chunk is on the disk, or it is dropped. */
static void
upload_sync_done(void *arg)
{
	struct upload_sync	*s = arg;
	struct upload_op	*op = s->us_op;

	if (s->us_errno == 0) {
		free(s);
		upload_chunk_record(op);
		return;
	}
	log_warnx("upload %s of %s: fdatasync %s: %s", op->op_id, op->op_repo,
	    op->op_path, strerror(s->us_errno));
	op->op_errno = s->us_errno;
	free(s);
	upload_write_failed(op);
}

/* PATCH: the chunk is durable; move the offset and answer. */
static void
upload_chunk_record(struct upload_op *op)
{
	struct index_upload	 u;
	struct index		*ix = op->op_ctx->ctx_index;
	struct req		*r = op->op_o.or_req;
	int64_t			 next = op->op_start + op->op_written;

	switch (index_upload_advance(ix, op->op_id, op->op_start, next)) {
	case 0:
		if (op->op_hashing) {
			upload_hash_keep(op->op_id, op->op_hash, next);
			op->op_hash = NULL;
		}
		upload_session_headers(r, op->op_repo, op->op_id, next);
		http_reply(r, 202, NULL, NULL);
		break;
	case 1:
		/* Cancelled or expired meanwhile (the lock rules out more). */
		if (upload_lookup(op->op_ctx, op->op_id, op->op_repo, &u) == 1)
			upload_range_invalid(&op->op_o, op->op_repo, op->op_id,
			    u.iu_offset, "the upload moved meanwhile");
		else
			oci_error(&op->op_o, "BLOB_UPLOAD_UNKNOWN", op->op_id);
		break;
	default:
		upload_truncate(op);
		upload_internal_error(r, "cannot record the chunk");
		break;
	}
	upload_op_free(op);
}

/*
 * PUT: the last bytes are written; verify, sync, store and link off the
 * loop. The offset moves only once they are synced, and only when the
 * commit fails after that (a success ends the session).
 */
static void
upload_final_done(struct upload_op *op)
{
	if (op->op_expect != -1 && op->op_written != op->op_expect) {
		upload_truncate(op);
		upload_range_invalid(&op->op_o, op->op_repo, op->op_id,
		    op->op_start, "chunk length differs from Content-Range");
		upload_op_free(op);
		return;
	}
	upload_commit_start(op);
}

/* POST ?digest=: verify, store and link off the loop. */
static void
upload_whole_done(struct upload_op *op)
{
	upload_commit_start(op);
}

/* Answer an error and undo what this request wrote. */
static void
upload_fail(struct upload_op *op, int status, const char *code,
    const char *message, const char *detail)
{
	upload_truncate(op);
	http_reply_oci_error(op->op_o.or_req, status, code, message, detail);
	upload_op_free(op);
}

/*
 * Link a stored blob into repo (touching the link when repo has it
 * already), under the sweep's lock (gc.h): 1 linked, 0 the blob is not
 * stored (swept meanwhile), -1 error.
 */
static int
upload_link(struct http_context *ctx, const char *repo, const struct digest *d)
{
	enum index_link_kind	 kind;
	int			 found;

	if ((found = index_link_get(ctx->ctx_index, repo, d, &kind)) == -1)
		return (-1);
	/* Swept between the two calls: link it again below. */
	if (found == 1 && (found = index_link_touch(ctx->ctx_index, repo, d,
	    (int64_t)time(NULL))) != 0)
		return (found);
	return (gc_link_stored(ctx->ctx_index, ctx->ctx_blobs, repo, d,
	    INDEX_LINK_BLOB, NULL));
}

/* 201 Created for a blob of repo. */
static void
upload_created(struct req *r, const char *repo, const struct digest *d)
{
	char	 ds[DIGEST_STRING_MAX], *path, *url;

	digest_format(d, ds, sizeof(ds));
	xasprintf(&path, "/v2/%s/blobs/%s", repo, ds);
	url = http_public_url(r, path);
	http_header_add(r, "Location", url);
	http_header_add(r, "Docker-Content-Digest", ds);
	free(url);
	free(path);
	http_reply(r, 201, NULL, NULL);
}

/* The slot of a session's running hash, or NULL. */
static struct upload_hash *
upload_hash_find(const char *id)
{
	size_t	 i;

	for (i = 0; i < UPLOAD_HASHES_MAX; i++)
		if (upload_hashes[i].uh_digester != NULL &&
		    strcmp(upload_hashes[i].uh_id, id) == 0)
			return (&upload_hashes[i]);
	return (NULL);
}

/*
 * Remove a session's running hash from the table: the digester (caller
 * frees) with the number of bytes it covers in *offset, or NULL.
 */
static struct digester *
upload_hash_take(const char *id, int64_t *offset)
{
	struct upload_hash	*uh;
	struct digester		*dg;

	if ((uh = upload_hash_find(id)) == NULL)
		return (NULL);
	dg = uh->uh_digester;
	if (offset != NULL)
		*offset = uh->uh_offset;
	memset(uh, 0, sizeof(*uh));
	return (dg);
}

/* Keep dg, the hash of a session's first offset bytes; evicts the oldest. */
static void
upload_hash_keep(const char *id, struct digester *dg, int64_t offset)
{
	struct upload_hash	*uh, *oldest = NULL;
	size_t			 i;

	if ((uh = upload_hash_find(id)) == NULL) {
		for (i = 0; i < UPLOAD_HASHES_MAX; i++) {
			uh = &upload_hashes[i];
			if (uh->uh_digester == NULL)
				break;
			if (oldest == NULL || uh->uh_used < oldest->uh_used)
				oldest = uh;
		}
		if (i == UPLOAD_HASHES_MAX)
			uh = oldest;
	}
	digester_free(uh->uh_digester);
	(void)snprintf(uh->uh_id, sizeof(uh->uh_id), "%s", id);
	uh->uh_digester = dg;
	uh->uh_offset = offset;
	uh->uh_used = ++upload_hash_clock;
}

/*
 * A PATCH or PUT holds the session: take its running hash. When the hash
 * covers everything up to where this request writes, the request feeds it
 * (op_hashing); a hash of a shorter prefix (a chunk went to another
 * worker) is left for the final PUT to continue from, off the loop.
 */
static void
upload_hash_begin(struct upload_op *op)
{
	op->op_hash = upload_hash_take(op->op_id, &op->op_hash_at);
	if ((op->op_kind == UPLOAD_FINAL &&
	    op->op_digest.alg != UPLOAD_HASH_ALG) ||
	    (op->op_hash != NULL && op->op_hash_at > op->op_start)) {
		digester_free(op->op_hash);
		op->op_hash = NULL;
	}
	if (op->op_hash == NULL) {
		op->op_hash_at = 0;
		if (op->op_start == 0 && (op->op_kind != UPLOAD_FINAL ||
		    op->op_digest.alg == UPLOAD_HASH_ALG))
			op->op_hash = digester_create(UPLOAD_HASH_ALG);
	}
	op->op_hashing = op->op_hash != NULL &&
	    op->op_hash_at == op->op_start;
	if (op->op_kind == UPLOAD_CHUNK && op->op_hash != NULL &&
	    !op->op_hashing) {
		upload_hash_keep(op->op_id, op->op_hash, op->op_hash_at);
		op->op_hash = NULL;
	}
}

/* Feed the running hash the first len bytes of iov, just written. */
static void
upload_hash_written(struct upload_op *op, const struct iovec *iov, int nvec,
    size_t len)
{
	size_t	 n;
	int	 i;

	for (i = 0; i < nvec && len > 0; i++) {
		n = iov[i].iov_len < len ? iov[i].iov_len : len;
		digester_update(op->op_hash, iov[i].iov_base, n);
		op->op_hash_at += (int64_t)n;
		len -= n;
	}
}

/*
 * Hand the end of op (FINAL or WHOLE) to a thread; the request is
 * answered from upload_commit_done, on the loop.
 */
static void
upload_commit_start(struct upload_op *op)
{
	struct upload_commit	*c;

	c = xcalloc(1, sizeof(*c));
	c->uc_op = op;
	c->uc_store = op->op_ctx->ctx_blobs;
	c->uc_expected = op->op_digest;
	if (op->op_kind == UPLOAD_WHOLE) {
		c->uc_writer = op->op_writer;
		op->op_writer = NULL;
	} else {
		c->uc_fd = op->op_fd;
		c->uc_path = op->op_path;
		c->uc_digester = op->op_hash;
		c->uc_from = op->op_hash != NULL ? op->op_hash_at : 0;
		c->uc_size = op->op_start + op->op_written;
		op->op_hash = NULL;
		log_debug("upload %s: committing %" PRId64 " bytes (%" PRId64
		    " hashed) in a thread", op->op_id, c->uc_size, c->uc_from);
	}
	offload_run(op->op_ctx->ctx_base, upload_commit_run,
	    upload_commit_done, c);
}

/*
 * The commit itself; runs in the thread. No index calls and no event
 * loop here: only the file, the hash and the blob store's directories.
 */
static void
upload_commit_run(void *arg)
{
	struct upload_commit	*c = arg;

	offload_test_hold();
	if (c->uc_writer != NULL) {
		c->uc_result = blob_writer_commit(c->uc_writer,
		    &c->uc_expected, NULL, &c->uc_cause);
		c->uc_writer = NULL;	/* freed either way */
		if (c->uc_result == -1 && errno == EINVAL)
			c->uc_mismatch = 1;
		else if (c->uc_result == -1)
			c->uc_errno = errno;
		return;
	}
	c->uc_result = upload_commit_file(c);
}

/* FINAL: hash [uc_from, uc_size), verify, fsync, link. 0, or -1. */
static int
upload_commit_file(struct upload_commit *c)
{
	struct digest	 got;
	char		*buf, want[DIGEST_STRING_MAX], have[DIGEST_STRING_MAX];
	int64_t		 off;
	size_t		 len;
	ssize_t		 n;

	if (c->uc_digester == NULL) {
		c->uc_digester = digester_create(c->uc_expected.alg);
		c->uc_from = 0;
	}
	buf = xmalloc(UPLOAD_READ_CHUNK);
	for (off = c->uc_from; off < c->uc_size; off += n) {
		len = c->uc_size - off < UPLOAD_READ_CHUNK ?
		    (size_t)(c->uc_size - off) : UPLOAD_READ_CHUNK;
		if ((n = pread(c->uc_fd, buf, len, (off_t)off)) == -1 &&
		    errno == EINTR) {
			n = 0;
			continue;
		}
		if (n <= 0) {
			xasprintf(&c->uc_cause, "read %s at %" PRId64 ": %s",
			    c->uc_path, off, n == 0 ? "file too short" :
			    strerror(errno));
			free(buf);
			return (-1);
		}
		digester_update(c->uc_digester, buf, (size_t)n);
	}
	free(buf);
	digester_final(c->uc_digester, &got);
	if (!digest_equal(&got, &c->uc_expected)) {
		digest_format(&c->uc_expected, want, sizeof(want));
		digest_format(&got, have, sizeof(have));
		xasprintf(&c->uc_cause, "digest mismatch: expected %s, got %s",
		    want, have);
		c->uc_mismatch = 1;
		return (-1);
	}
	if (fsync(c->uc_fd) == -1) {
		c->uc_errno = errno;
		xasprintf(&c->uc_cause, "fsync %s: %s", c->uc_path,
		    strerror(errno));
		return (-1);
	}
	c->uc_synced = 1;
	if (blobstore_commit_hashed(c->uc_store, c->uc_path, &got,
	    &c->uc_cause) == -1) {
		c->uc_errno = errno;
		return (-1);
	}
	return (0);
}

/* On the loop: answer the request whose commit c was, and free both. */
static void
upload_commit_done(void *arg)
{
	struct upload_commit	*c = arg;
	struct upload_op	*op = c->uc_op;
	struct http_context	*ctx = op->op_ctx;
	struct req		*r = op->op_o.or_req;
	int			 ret;

	digester_free(c->uc_digester);
	if (c->uc_result == -1 && c->uc_mismatch) {
		if (op->op_kind == UPLOAD_FINAL) {
			/* As distribution does: the upload is over. */
			(void)index_upload_delete(ctx->ctx_index, op->op_id);
			(void)unlink(op->op_path);
		}
		oci_error(&op->op_o, "DIGEST_INVALID", c->uc_cause);
	} else if (c->uc_result == -1) {
		log_warnx("upload to %s: %s", op->op_repo,
		    c->uc_cause != NULL ? c->uc_cause : "commit failed");
		/* What is on the disk counts; what may not be is dropped. */
		if (op->op_kind == UPLOAD_FINAL && op->op_written > 0 &&
		    (!c->uc_synced || index_upload_advance(ctx->ctx_index,
		    op->op_id, op->op_start, op->op_start + op->op_written) !=
		    0))
			upload_truncate(op);
		upload_storage_error(r, c->uc_errno, "cannot store the blob");
	} else {
		if (op->op_kind == UPLOAD_FINAL && index_upload_delete(
		    ctx->ctx_index, op->op_id) == -1)
			log_warnx("upload %s: session not deleted", op->op_id);
		if ((ret = upload_link(ctx, op->op_repo, &op->op_digest)) == -1)
			upload_internal_error(r, "cannot link the blob");
		else if (ret == 0)
			upload_internal_error(r, "the blob was removed by the "
			    "garbage collection meanwhile; upload it again");
		else
			upload_created(r, op->op_repo, &op->op_digest);
	}
	free(c->uc_cause);
	free(c);
	upload_op_free(op);
}
