/*
 * blob_follow_test.c: serving a blob from a part file that another
 * process is still writing.
 *
 * Each test runs http.c's server in-process on a loopback port with a
 * route table of its own: every /v2/ request is answered with
 * blob_follow_start. A forked child plays
 * the fetcher: it claims the part file, writes the blob slowly, and then
 * commits it, commits a corrupted copy, or dies halfway. Forked children
 * play the clients over raw sockets and report what they received. Some
 * tests write the blob in this process instead, as a fill does, and wake
 * the follower with blob_follow_wake, or mark the part file verified
 * (blob_follow_verified) without committing it.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/event.h>

#include "content/blob_follow.h"
#include "store/blobstore.h"
#include "conf/config.h"
#include "http/http.h"
#include "lib/util.h"
#include "check_main.h"

#define TEST_SIZE		(8 * 1024 * 1024)
#define TEST_CHUNK		(128 * 1024)
#define TEST_WRITE_PAUSE_US	4000
#define TEST_MAX_CHILDREN	8
#define TEST_DEADLINE_MS	60000
#define TEST_CLIENT_TIMEOUT_S	30

enum fetch_mode {
	FETCH_COMMIT,		/* writes the blob and commits it */
	FETCH_CORRUPT,		/* flips a byte near the end: commit fails */
	FETCH_DIE		/* exits halfway */
};

/* How the in-process fetch ends (test_write_cb). */
enum write_end {
	WRITE_COMMIT,		/* commits the part file */
	WRITE_VERIFY,		/* verifies and marks it, no commit */
	WRITE_REPLACE		/* a corrupt part file, replaced by a good
				   one that is verified and marked */
};

struct client_result {
	int		 cr_status;
	long long	 cr_length;	/* Content-Length, -1 when absent */
	long long	 cr_got;	/* body bytes received */
	int		 cr_match;	/* they equal the blob's first bytes */
	int		 cr_error;	/* read error or timeout */
};

static char			 test_root[PATH_MAX];
static struct blobstore		*test_blobs;
static unsigned char		*test_data;
static struct digest		 test_digest;
static struct event_base	*test_base;
static struct http_server	*test_http;
static struct config		 test_config;
static struct http_context	 test_ctx;
static int			 test_port;
static pid_t			 test_pids[TEST_MAX_CHILDREN];
static int			 test_status[TEST_MAX_CHILDREN];
static int			 test_npids;
static int			 test_done_ok, test_done_failed;
static int			 test_expect;
static long long		 test_deadline;
static struct blob_writer	*test_writer;	/* in-process fetch */
static struct event		*test_write_ev;
static size_t			 test_write_off;
static enum write_end		 test_write_end;
static struct blob_follow_mark	*test_mark;

static void	test_done_cb(int, void *);
static void	test_tick_cb(evutil_socket_t, short, void *);
static int	test_rm_cb(const char *, const struct stat *, int,
		    struct FTW *);
static void	test_setup(void);
static void	test_teardown(void);
static void	test_fetcher(enum fetch_mode);
static void	test_fetch(enum fetch_mode, int);
static int	test_client(const char *, long long);
static void	test_client_run(const char *, long long, int);
static void	test_result(int, struct client_result *);
static void	test_run(int);
static int	test_exit_code(int);
static void	test_write_cb(evutil_socket_t, short, void *);
static int	test_write_start(enum write_end);
static void	test_route(struct req *);

static const struct http_route test_routes[] = {
	{ "/v2/",	1, test_route },
};

/* The route of this test: every /v2/ request follows the test blob. */
static void
test_route(struct req *r)
{
	struct timeval	 tv = { 0, 1000 };

	if (blob_follow_start(r, test_blobs, &test_digest, TEST_SIZE,
	    test_done_cb, NULL) == NULL)
		http_reply_text(r, 404, "nothing to follow\n");
	else if (test_write_ev != NULL && test_write_off == 0)
		evtimer_add(test_write_ev, &tv);
}

/*
 * The in-process fetch: a chunk every millisecond, then the commit, each
 * followed by blob_follow_wake as a fill does.
 */
static void
test_write_cb(evutil_socket_t fd, short events, void *arg)
{
	struct timeval	 tv = { 0, 1000 };
	char		*cause = NULL;
	size_t		 n;

	(void)fd;
	(void)events;
	(void)arg;
	n = TEST_SIZE - test_write_off < TEST_CHUNK ?
	    TEST_SIZE - test_write_off : TEST_CHUNK;
	if (test_write_end == WRITE_REPLACE && test_write_off + n ==
	    TEST_SIZE) {
		/* The last byte of this first part file is wrong. */
		unsigned char	 chunk[TEST_CHUNK];

		memcpy(chunk, test_data + test_write_off, n);
		chunk[n - 1] ^= 0x55;
		ck_assert_int_eq(blob_writer_write(test_writer, chunk, n), 0);
	} else
		ck_assert_int_eq(blob_writer_write(test_writer,
		    test_data + test_write_off, n), 0);
	test_write_off += n;
	if (test_write_off < TEST_SIZE)
		evtimer_add(test_write_ev, &tv);
	else if (test_write_end == WRITE_COMMIT) {
		ck_assert_int_eq(blob_writer_commit(test_writer, &test_digest,
		    NULL, &cause), 0);
		test_writer = NULL;
	} else {
		if (test_write_end == WRITE_REPLACE) {
			/*
			 * Dropped, and a new fetch writes the good bytes
			 * into a new part file at once: the follower of the
			 * first one has not stepped since.
			 */
			blob_writer_abort(test_writer);
			ck_assert_int_eq(blobstore_claim_fetch(test_blobs,
			    &test_digest, &test_writer, &cause), 1);
			ck_assert_int_eq(blob_writer_write(test_writer,
			    test_data, TEST_SIZE), 0);
		}
		ck_assert_int_eq(blob_writer_verify(test_writer, &test_digest,
		    &cause), 0);
		test_mark = blob_follow_verified(&test_digest,
		    blob_writer_fd(test_writer));
		ck_assert_ptr_nonnull(test_mark);
		return;		/* blob_follow_verified woke the follower */
	}
	blob_follow_wake(&test_digest);
}

static void
test_done_cb(int ok, void *arg)
{
	(void)arg;
	if (ok)
		test_done_ok++;
	else
		test_done_failed++;
}

static int
test_rm_cb(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	(void)remove(path);
	return (0);
}

static void
test_setup(void)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	const char		*tmp;
	char			*cause = NULL;
	uint32_t		 x = 2463534242U;
	size_t			 i;
	int			 fd;

	tmp = getenv("TMPDIR");
	ck_assert(path_fmt(test_root, sizeof(test_root), "%s/follow.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp") == 0);
	ck_assert_ptr_nonnull(mkdtemp(test_root));
	test_blobs = blobstore_open(test_root, &cause);
	ck_assert_msg(test_blobs != NULL, "blobstore_open: %s", cause);

	test_data = malloc(TEST_SIZE);
	ck_assert_ptr_nonnull(test_data);
	for (i = 0; i < TEST_SIZE; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		test_data[i] = (unsigned char)x;
	}
	digest_buffer(DIGEST_SHA256, test_data, TEST_SIZE, &test_digest);

	test_base = event_base_new();
	ck_assert_ptr_nonnull(test_base);
	memset(&test_config, 0, sizeof(test_config));
	test_config.cf_server.srv_request_timeout = 30;
	test_ctx.ctx_config = &test_config;
	test_ctx.ctx_blobs = test_blobs;
	test_ctx.ctx_base = test_base;
	test_http = http_create(test_base, &test_ctx);
	http_routes_set(test_http, test_routes,
	    sizeof(test_routes) / sizeof(test_routes[0]));

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ck_assert_int_ne(fd, -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(fd, 16), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	test_port = ntohs(sin.sin_port);
	ck_assert_int_eq(http_accept(test_http, fd), 0);

	test_npids = 0;
	test_done_ok = test_done_failed = 0;
	/* As in the worker: a client gone shows as EPIPE, not a signal. */
	signal(SIGPIPE, SIG_IGN);
}

static void
test_teardown(void)
{
	int	 i;

	for (i = 0; i < test_npids; i++)
		if (test_pids[i] != -1) {
			(void)kill(test_pids[i], SIGKILL);
			(void)waitpid(test_pids[i], NULL, 0);
		}
	if (test_write_ev != NULL)
		event_free(test_write_ev);
	test_write_ev = NULL;
	test_write_end = WRITE_COMMIT;
	blob_follow_verified_drop(test_mark);
	test_mark = NULL;
	blob_writer_abort(test_writer);
	test_writer = NULL;
	http_free(test_http);
	event_base_free(test_base);
	blobstore_free(test_blobs);
	free(test_data);
	(void)nftw(test_root, test_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Fork the fetcher and wait until it holds the claim. */
static void
test_fetcher(enum fetch_mode mode)
{
	struct pollfd	 pfd;
	char		 c = 0;
	int		 p[2];
	pid_t		 pid;

	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		close(p[0]);
		test_fetch(mode, p[1]);
	}
	close(p[1]);
	test_status[test_npids] = -1;
	test_pids[test_npids++] = pid;
	pfd.fd = p[0];
	pfd.events = POLLIN;
	ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	ck_assert_int_eq(c, 'c');
	close(p[0]);
}

/* The fetcher's child: claim, write slowly, then end as mode says. */
static void
test_fetch(enum fetch_mode mode, int ready)
{
	struct blob_writer	*w;
	unsigned char		 chunk[TEST_CHUNK];
	char			*cause = NULL;
	size_t			 off, n;

	if (blobstore_claim_fetch(test_blobs, &test_digest, &w, &cause) != 1)
		_exit(2);
	if (write(ready, "c", 1) != 1)
		_exit(2);
	close(ready);
	for (off = 0; off < TEST_SIZE; off += n) {
		n = TEST_SIZE - off < TEST_CHUNK ? TEST_SIZE - off : TEST_CHUNK;
		if (mode == FETCH_DIE && off >= TEST_SIZE / 2)
			_exit(3);
		memcpy(chunk, test_data + off, n);
		if (mode == FETCH_CORRUPT && off + n == TEST_SIZE)
			chunk[n - 1] ^= 0x55;
		if (blob_writer_write(w, chunk, n) == -1)
			_exit(5);
		usleep(TEST_WRITE_PAUSE_US);
	}
	_exit(blob_writer_commit(w, &test_digest, NULL, &cause) == 0 ? 0 : 4);
}

/*
 * Fork a client that sends method for the blob and reads the answer,
 * closing after quit_after body bytes when that is not -1. Returns the
 * pipe its result comes on.
 */
static int
test_client(const char *method, long long quit_after)
{
	int	 p[2];
	pid_t	 pid;

	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		close(p[0]);
		test_client_run(method, quit_after, p[1]);
		_exit(0);
	}
	close(p[1]);
	test_status[test_npids] = -1;
	test_pids[test_npids++] = pid;
	return (p[0]);
}

static void
test_client_run(const char *method, long long quit_after, int out)
{
	struct client_result	 cr;
	struct sockaddr_in	 sin;
	struct timeval		 tv = { TEST_CLIENT_TIMEOUT_S, 0 };
	char			 req[512], digest[DIGEST_STRING_MAX], *buf, *end;
	const char		*cl;
	size_t			 cap = TEST_SIZE + 65536, len = 0, head = 0;
	ssize_t			 n;
	int			 s;

	memset(&cr, 0, sizeof(cr));
	cr.cr_length = -1;
	if ((buf = malloc(cap + 1)) == NULL)
		_exit(1);
	s = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(test_port);
	if (s == -1 || setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv,
	    sizeof(tv)) == -1 ||
	    connect(s, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		_exit(1);
	digest_format(&test_digest, digest, sizeof(digest));
	n = snprintf(req, sizeof(req), "%s /v2/test/blobs/%s HTTP/1.1\r\n"
	    "Host: localhost\r\nConnection: close\r\n\r\n", method, digest);
	if (write_all(s, req, (size_t)n) == -1)
		_exit(1);
	for (;;) {
		if (head == 0) {
			buf[len] = '\0';
			if ((end = memmem(buf, len, "\r\n\r\n", 4)) != NULL)
				head = (size_t)(end - buf) + 4;
		}
		if (head != 0 && quit_after != -1 &&
		    (long long)(len - head) >= quit_after)
			break;
		if (len == cap)
			break;
		if ((n = read(s, buf + len, cap - len)) == 0)
			break;
		if (n == -1) {
			if (errno == EINTR)
				continue;
			cr.cr_error = 1;
			break;
		}
		len += (size_t)n;
	}
	close(s);
	if (head != 0) {
		buf[head - 1] = '\0';
		(void)sscanf(buf, "HTTP/1.1 %d", &cr.cr_status);
		if ((cl = strcasestr(buf, "\r\nContent-Length:")) != NULL)
			cr.cr_length = strtoll(cl + 17, NULL, 10);
		cr.cr_got = (long long)(len - head);
		cr.cr_match = cr.cr_got <= TEST_SIZE &&
		    memcmp(buf + head, test_data, (size_t)cr.cr_got) == 0;
	}
	if (write_all(out, &cr, sizeof(cr)) == -1)
		_exit(1);
}

static void
test_result(int fd, struct client_result *cr)
{
	memset(cr, 0, sizeof(*cr));
	ck_assert_int_eq(read(fd, cr, sizeof(*cr)), (ssize_t)sizeof(*cr));
	close(fd);
}

/* Reap children; stop once all exited and the followers are done. */
static void
test_tick_cb(evutil_socket_t fd, short events, void *arg)
{
	struct event	*tick = arg;
	struct timeval	 tv = { 0, 10000 };
	int		 i, running = 0;

	(void)fd;
	(void)events;
	for (i = 0; i < test_npids; i++) {
		if (test_pids[i] != -1 &&
		    waitpid(test_pids[i], &test_status[i], WNOHANG) ==
		    test_pids[i])
			test_pids[i] = -1;
		if (test_pids[i] != -1)
			running++;
	}
	if ((running == 0 && test_done_ok + test_done_failed >= test_expect) ||
	    now_ms() > test_deadline) {
		event_base_loopbreak(test_base);
		return;
	}
	evtimer_add(tick, &tv);
}

/* Serve until every child exited and expect followers are done. */
static void
test_run(int expect)
{
	struct event	*tick;

	test_expect = expect;
	test_deadline = now_ms() + TEST_DEADLINE_MS;
	tick = evtimer_new(test_base, test_tick_cb, event_self_cbarg());
	ck_assert_ptr_nonnull(tick);
	event_active(tick, EV_TIMEOUT, 1);
	ck_assert_int_ne(event_base_dispatch(test_base), -1);
	event_free(tick);
	ck_assert_msg(now_ms() <= test_deadline, "timed out: %d ok, %d failed",
	    test_done_ok, test_done_failed);
	ck_assert_int_eq(test_done_ok + test_done_failed, expect);
}

static int
test_exit_code(int status)
{
	return (WIFEXITED(status) ? WEXITSTATUS(status) : 128);
}

/* Three clients, the fetch commits: all get the whole blob. */
START_TEST(test_follow_commit)
{
	struct client_result	 cr;
	int			 fds[3], i;

	test_fetcher(FETCH_COMMIT);
	for (i = 0; i < 3; i++)
		fds[i] = test_client("GET", -1);
	test_run(3);
	ck_assert_int_eq(test_exit_code(test_status[0]), 0);
	for (i = 0; i < 3; i++) {
		test_result(fds[i], &cr);
		ck_assert_int_eq(cr.cr_status, 200);
		ck_assert_int_eq(cr.cr_length, TEST_SIZE);
		ck_assert_int_eq(cr.cr_got, TEST_SIZE);
		ck_assert(cr.cr_match);
		ck_assert(!cr.cr_error);
	}
	ck_assert_int_eq(test_done_ok, 3);
	ck_assert_int_eq(blobstore_stat(test_blobs, &test_digest, NULL), 1);
}
END_TEST

/* Check what clients of a failed fetch got: never the held-back tail. */
static void
test_follow_failed(enum fetch_mode mode, int code, long long most)
{
	struct client_result	 cr;
	int			 fds[3], i;

	test_fetcher(mode);
	for (i = 0; i < 3; i++)
		fds[i] = test_client("GET", -1);
	test_run(3);
	ck_assert_int_eq(test_exit_code(test_status[0]), code);
	for (i = 0; i < 3; i++) {
		test_result(fds[i], &cr);
		ck_assert_int_eq(cr.cr_status, 200);
		ck_assert_int_eq(cr.cr_length, TEST_SIZE);
		ck_assert_int_lt(cr.cr_got, TEST_SIZE);
		ck_assert_int_le(cr.cr_got, most);
		ck_assert(cr.cr_match);
		ck_assert(!cr.cr_error);
	}
	ck_assert_int_eq(test_done_failed, 3);
	ck_assert_int_eq(blobstore_stat(test_blobs, &test_digest, NULL), 0);
}

START_TEST(test_follow_corrupt)
{
	test_follow_failed(FETCH_CORRUPT, 4, TEST_SIZE - BLOB_FOLLOW_HOLD_BACK);
}
END_TEST

START_TEST(test_follow_die)
{
	test_follow_failed(FETCH_DIE, 3, TEST_SIZE / 2);
}
END_TEST

/* A client that leaves early does not disturb the others or the fetch. */
START_TEST(test_follow_disconnect)
{
	struct client_result	 cr;
	int			 fds[3], i;

	test_fetcher(FETCH_COMMIT);
	fds[0] = test_client("GET", 1024 * 1024);
	fds[1] = test_client("GET", -1);
	fds[2] = test_client("GET", -1);
	test_run(3);
	ck_assert_int_eq(test_exit_code(test_status[0]), 0);
	test_result(fds[0], &cr);
	ck_assert_int_eq(cr.cr_status, 200);
	ck_assert_int_ge(cr.cr_got, 1024 * 1024);
	ck_assert_int_lt(cr.cr_got, TEST_SIZE);
	ck_assert(cr.cr_match);
	for (i = 1; i < 3; i++) {
		test_result(fds[i], &cr);
		ck_assert_int_eq(cr.cr_got, TEST_SIZE);
		ck_assert(cr.cr_match);
	}
	ck_assert_int_eq(test_done_ok, 2);
	ck_assert_int_eq(test_done_failed, 1);
	ck_assert_int_eq(blobstore_stat(test_blobs, &test_digest, NULL), 1);
}
END_TEST

/* A blob committed before the request is served whole; HEAD too. */
START_TEST(test_follow_committed)
{
	struct client_result	 cr;
	struct blob_writer	*w;
	char			*cause = NULL;
	int			 get, head;

	w = blob_writer_create(test_blobs, DIGEST_SHA256, &cause);
	ck_assert_ptr_nonnull(w);
	ck_assert_int_eq(blob_writer_write(w, test_data, TEST_SIZE), 0);
	ck_assert_int_eq(blob_writer_commit(w, &test_digest, NULL, &cause), 0);
	get = test_client("GET", -1);
	head = test_client("HEAD", -1);
	test_run(2);
	test_result(get, &cr);
	ck_assert_int_eq(cr.cr_status, 200);
	ck_assert_int_eq(cr.cr_got, TEST_SIZE);
	ck_assert(cr.cr_match);
	test_result(head, &cr);
	ck_assert_int_eq(cr.cr_status, 200);
	ck_assert_int_eq(cr.cr_length, TEST_SIZE);
	ck_assert_int_eq(cr.cr_got, 0);
	ck_assert_int_eq(test_done_ok, 2);
}
END_TEST

/*
 * A fetch in this process wakes its follower as it writes and commits:
 * with the poll an hour away, the follower still gets the whole blob,
 * and no step of it was taken by the poll timer.
 */
START_TEST(test_follow_woken)
{
	struct blob_follow_stats	 before, after;
	struct client_result		 cr;
	char				*cause = NULL;
	int				 fd;

	blob_follow_set_poll_ms(3600 * 1000);
	blob_follow_stats(&before);
	/* The client first: it must not inherit the claim's descriptor. */
	fd = test_client("GET", -1);
	ck_assert_int_eq(blobstore_claim_fetch(test_blobs, &test_digest,
	    &test_writer, &cause), 1);
	test_write_off = 0;
	test_write_ev = evtimer_new(test_base, test_write_cb, NULL);
	ck_assert_ptr_nonnull(test_write_ev);
	test_run(1);
	blob_follow_stats(&after);
	test_result(fd, &cr);
	ck_assert_int_eq(cr.cr_status, 200);
	ck_assert_int_eq(cr.cr_got, TEST_SIZE);
	ck_assert(cr.cr_match);
	ck_assert_int_eq(test_done_ok, 1);
	ck_assert_ptr_null(test_writer);
	ck_assert_uint_gt(after.fs_woken, before.fs_woken);
	ck_assert_uint_eq(after.fs_polled, before.fs_polled);
	blob_follow_set_poll_ms(0);
}
END_TEST

/*
 * Start the in-process fetch of the test blob that ends as end says,
 * with the poll an hour away; the client is forked first, so that it
 * does not inherit the claim's descriptor. Returns its result pipe.
 */
static int
test_write_start(enum write_end end)
{
	char	*cause = NULL;
	int	 fd;

	blob_follow_set_poll_ms(3600 * 1000);
	fd = test_client("GET", -1);
	ck_assert_int_eq(blobstore_claim_fetch(test_blobs, &test_digest,
	    &test_writer, &cause), 1);
	test_write_off = 0;
	test_write_end = end;
	test_write_ev = evtimer_new(test_base, test_write_cb, NULL);
	ck_assert_ptr_nonnull(test_write_ev);
	return (fd);
}

/*
 * A fill of this process verified the part file and has not committed
 * it (its fsync and link are under way): the follower is sent the whole
 * blob from that file, held-back tail included, and the reply ends,
 * while nothing is stored yet.
 */
START_TEST(test_follow_verified)
{
	struct blob_follow_stats	 before, after;
	struct client_result		 cr;
	int				 fd;

	blob_follow_stats(&before);
	fd = test_write_start(WRITE_VERIFY);
	test_run(1);
	blob_follow_stats(&after);
	blob_follow_set_poll_ms(0);
	test_result(fd, &cr);
	ck_assert_int_eq(cr.cr_status, 200);
	ck_assert_int_eq(cr.cr_length, TEST_SIZE);
	ck_assert_int_eq(cr.cr_got, TEST_SIZE);
	ck_assert(cr.cr_match);
	ck_assert(!cr.cr_error);
	ck_assert_int_eq(test_done_ok, 1);
	ck_assert_uint_eq(after.fs_released, before.fs_released + 1);
	ck_assert_uint_eq(after.fs_polled, before.fs_polled);
	ck_assert_ptr_nonnull(test_writer);
	ck_assert_int_eq(blobstore_stat(test_blobs, &test_digest, NULL), 0);
}
END_TEST

/*
 * The part file followed is dropped and replaced by a new one, which is
 * verified and marked: the mark is not for the file the follower reads,
 * so it is cut before the end, the bad last byte never sent, and nothing
 * of the new file is added to what it got from the old.
 */
START_TEST(test_follow_replaced)
{
	struct blob_follow_stats	 before, after;
	struct client_result		 cr;
	int				 fd;

	blob_follow_stats(&before);
	fd = test_write_start(WRITE_REPLACE);
	test_run(1);
	blob_follow_stats(&after);
	blob_follow_set_poll_ms(0);
	test_result(fd, &cr);
	ck_assert_int_eq(cr.cr_status, 200);
	ck_assert_int_eq(cr.cr_length, TEST_SIZE);
	ck_assert_int_le(cr.cr_got, TEST_SIZE - BLOB_FOLLOW_HOLD_BACK);
	ck_assert(cr.cr_match);
	ck_assert(!cr.cr_error);
	ck_assert_int_eq(test_done_failed, 1);
	ck_assert_int_eq(test_done_ok, 0);
	ck_assert_uint_eq(after.fs_released, before.fs_released);
	ck_assert_ptr_nonnull(test_mark);
}
END_TEST

/* No part file and no blob: nothing to follow, the caller answers. */
START_TEST(test_follow_nothing)
{
	struct client_result	 cr;
	int			 fd;

	fd = test_client("GET", -1);
	test_run(0);
	test_result(fd, &cr);
	ck_assert_int_eq(cr.cr_status, 404);
	ck_assert_int_eq(test_done_ok + test_done_failed, 0);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("blob_follow");
	TCase	*tc = tcase_create("follow");
	int	 failed;

	tcase_add_checked_fixture(tc, test_setup, test_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_follow_commit);
	tcase_add_test(tc, test_follow_corrupt);
	tcase_add_test(tc, test_follow_die);
	tcase_add_test(tc, test_follow_disconnect);
	tcase_add_test(tc, test_follow_committed);
	tcase_add_test(tc, test_follow_woken);
	tcase_add_test(tc, test_follow_nothing);
	tcase_add_test(tc, test_follow_verified);
	tcase_add_test(tc, test_follow_replaced);
	suite_add_tcase(s, tc);
	failed = check_run(s) != EXIT_SUCCESS;
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
