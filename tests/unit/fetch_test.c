/*
 * fetch_test.c: unit tests for fetch.c. Two evhttp servers listen on
 * 127.0.0.1 (ephemeral ports) on the same event base as the fetcher, so
 * one loop drives both ends: bodies and headers, HEAD, POST and PUT
 * bodies, error statuses,
 * chunked and 50 MB bodies with pause and resume, refused connections,
 * idle timeouts, redirects (and the credentials they must not carry to
 * another port), cancellation from inside callbacks, and many transfers
 * at once.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "upstream/fetch.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "check_main.h"

#define BIG_SIZE	(50 * 1024 * 1024)
#define BIG_CHUNK	(1024 * 1024)
#define PAUSE_EVERY	(4 * 1024 * 1024)
#define TEST_WAIT_MS	60000	/* bound of a wait for a fetch to end */
#define NCONCURRENT	50
#define BODY_MAX	4096
#define TRICKLE_SIZE	100000	/* /trickle: announced length */
#define TRICKLE_FIRST	4096	/* sent at once */
#define TRICKLE_BYTES	4	/* then this much ... */
#define TRICKLE_MS	250	/* ... this often */

struct server {
	struct evhttp	*sv_http;
	int		 sv_port;
	int		 sv_requests;
	int		 sv_auth_seen;		/* at /echo-auth */
	char		 sv_auth[256];		/* last Authorization seen */
	struct evhttp_request *sv_slow;		/* never answered */
};

/* A /big reply being streamed. */
struct stream {
	struct evhttp_request		*st_req;
	struct evhttp_connection	*st_conn;
	size_t				 st_sent;
};

/* A /trickle reply: a burst, then a few bytes now and then, for good. */
struct trickle {
	struct evhttp_request		*tr_req;
	struct evhttp_connection	*tr_conn;
	struct event			*tr_ev;
};

/* What one transfer saw. */
struct result {
	struct fetch	*r_fetch;
	int		 r_headers_calls;
	int		 r_data_calls;
	int		 r_done_calls;
	long		 r_status;
	off_t		 r_clen;
	enum fetch_result r_result;
	char		 r_errmsg[512];
	int		 r_errmsg_null;
	char		 r_body[BODY_MAX];
	size_t		 r_body_len;
	size_t		 r_total;
	size_t		 r_mismatches;
	char		*r_hdr[8];		/* copies of wanted headers */
	char		*r_effective;
	/* behaviour */
	int		 r_pattern;		/* check the /big pattern */
	size_t		 r_pause_every;
	size_t		 r_since_pause;
	int		 r_paused;
	int		 r_pauses;
	int		 r_data_while_paused;
	long		 r_first_pause_ms;	/* first pause lasts this */
	int		 r_cancel_in_data;
	int		 r_cancel_in_headers;
	int		 r_abort_in_headers;
	int		 r_start_in_headers;	/* start r_child from on_headers */
	struct result	*r_child;
	int		*r_counter;		/* bumped in on_done */
};

static struct event_base	*base;
static struct fetcher		*fetcher;
static struct server		 srv1, srv2;
static struct trickle		*trickle;	/* the one running, if any */

static const char *wanted_headers[] = {
	"x-test", "X-TEST", "x-multi", "x-echo", "x-ua", "location",
	"transfer-encoding", "nope",
};

static unsigned char	 big_byte(size_t);
static void		 server_start(struct server *);
static void		 server_stop(struct server *);
static void		 server_cb(struct evhttp_request *, void *);
static void		 server_redirect(struct evhttp_request *, const char *);
static void		 stream_start(struct evhttp_request *);
static void		 stream_more(struct evhttp_connection *, void *);
static void		 stream_closed(struct evhttp_connection *, void *);
static void		 trickle_start(struct evhttp_request *);
static void		 trickle_cb(evutil_socket_t, short, void *);
static void		 trickle_closed(struct evhttp_connection *, void *);
static void		 trickle_free(void);
static int		 on_headers(struct fetch *, long, void *);
static int		 on_data(struct fetch *, const void *, size_t, void *);
static void		 on_done(struct fetch *, enum fetch_result,
			    const char *, void *);
static void		 resume_cb(evutil_socket_t, short, void *);
static void		 tick_cb(evutil_socket_t, short, void *);
static int		 loop_until(const int *, int, long);
static void		 loop_for(long);
static struct fetch	*start(const char *, struct fetch_request *,
			    struct result *);
static void		 result_init(struct result *);
static void		 result_clear(struct result *);
static int		 run_one(const char *, struct fetch_request *,
			    struct result *, long);
static void		 setup(void);
static void		 teardown(void);
static Suite		*fetch_suite(void);

/* The byte at offset i of /big: not periodic in any chunk size. */
static unsigned char
big_byte(size_t i)
{
	return ((unsigned char)(i * 31 + (i >> 13)));
}

/* ---- the servers ---- */

static void
server_start(struct server *sv)
{
	struct evhttp_bound_socket	*bound;
	struct sockaddr_in		 sin;
	socklen_t			 len = sizeof(sin);

	memset(sv, 0, sizeof(*sv));
	sv->sv_http = evhttp_new(base);
	ck_assert_ptr_nonnull(sv->sv_http);
	bound = evhttp_bind_socket_with_handle(sv->sv_http, "127.0.0.1", 0);
	ck_assert_ptr_nonnull(bound);
	ck_assert_int_eq(getsockname(evhttp_bound_socket_get_fd(bound),
	    (struct sockaddr *)&sin, &len), 0);
	sv->sv_port = ntohs(sin.sin_port);
	evhttp_set_gencb(sv->sv_http, server_cb, sv);
}

static void
server_stop(struct server *sv)
{
	if (sv->sv_http != NULL)
		evhttp_free(sv->sv_http);
	sv->sv_http = NULL;
}

static void
server_redirect(struct evhttp_request *req, const char *to)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Location",
	    to);
	evhttp_send_reply(req, 302, "Found", NULL);
}

/* The routes every test uses. */
static void
server_cb(struct evhttp_request *req, void *arg)
{
	struct server		*sv = arg;
	struct evkeyvalq	*in = evhttp_request_get_input_headers(req);
	struct evkeyvalq	*out = evhttp_request_get_output_headers(req);
	struct evbuffer		*body;
	const char		*uri = evhttp_request_get_uri(req), *v;
	char			 to[128];

	sv->sv_requests++;
	if ((v = evhttp_find_header(in, "Authorization")) != NULL)
		snprintf(sv->sv_auth, sizeof(sv->sv_auth), "%s", v);
	else
		sv->sv_auth[0] = '\0';
	body = evbuffer_new();
	if (strcmp(uri, "/hello") == 0) {
		evhttp_add_header(out, "X-Test", "yes");
		evhttp_add_header(out, "X-Multi", "a");
		evhttp_add_header(out, "X-Multi", "b");
		if ((v = evhttp_find_header(in, "X-Req")) != NULL)
			evhttp_add_header(out, "X-Echo", v);
		if ((v = evhttp_find_header(in, "User-Agent")) != NULL)
			evhttp_add_header(out, "X-UA", v);
		if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
			evhttp_add_header(out, "Content-Length", "11");
			evhttp_send_reply(req, 200, "OK", NULL);
		} else {
			evbuffer_add_printf(body, "hello world");
			evhttp_send_reply(req, 200, "OK", body);
		}
	} else if (strcmp(uri, "/missing") == 0) {
		evbuffer_add_printf(body, "no such thing");
		evhttp_send_reply(req, 404, "Not Found", body);
	} else if (strcmp(uri, "/chunked") == 0) {
		evhttp_send_reply_start(req, 200, "OK");
		evbuffer_add_printf(body, "one-");
		evhttp_send_reply_chunk(req, body);
		evbuffer_add_printf(body, "two-");
		evhttp_send_reply_chunk(req, body);
		evbuffer_add_printf(body, "three");
		evhttp_send_reply_chunk(req, body);
		evhttp_send_reply_end(req);
	} else if (strcmp(uri, "/big") == 0)
		stream_start(req);
	else if (strcmp(uri, "/trickle") == 0)
		trickle_start(req);
	else if (strcmp(uri, "/slow") == 0)
		sv->sv_slow = req;
	else if (strcmp(uri, "/redirect") == 0)
		server_redirect(req, "/hello");
	else if (strcmp(uri, "/samehost-redirect") == 0)
		server_redirect(req, "/echo-auth");
	else if (strcmp(uri, "/xredirect") == 0) {
		snprintf(to, sizeof(to), "http://127.0.0.1:%d/echo-auth",
		    srv2.sv_port);
		server_redirect(req, to);
	} else if (strcmp(uri, "/file-redirect") == 0)
		server_redirect(req, "file:///etc/passwd");
	else if (strcmp(uri, "/loop") == 0)
		server_redirect(req, "/loop");
	else if (strcmp(uri, "/echo-auth") == 0) {
		sv->sv_auth_seen = sv->sv_auth[0] != '\0';
		evbuffer_add_printf(body, "ok");
		evhttp_send_reply(req, 200, "OK", body);
	} else if (strcmp(uri, "/echo-body") == 0) {
		/* The method and the request body, back. */
		evbuffer_add_printf(body, "%s ",
		    evhttp_request_get_command(req) == EVHTTP_REQ_POST ?
		    "POST" : evhttp_request_get_command(req) ==
		    EVHTTP_REQ_PUT ? "PUT" : "other");
		evbuffer_add_buffer(body, evhttp_request_get_input_buffer(req));
		evhttp_send_reply(req, 200, "OK", body);
	} else if (strncmp(uri, "/n/", 3) == 0) {
		evbuffer_add_printf(body, "n=%s", uri + 3);
		evhttp_send_reply(req, 200, "OK", body);
	} else
		evhttp_send_error(req, 404, NULL);
	evbuffer_free(body);
}

/* Stream BIG_SIZE bytes, one chunk each time the last one drained. */
static void
stream_start(struct evhttp_request *req)
{
	struct stream	*st;
	char		 len[32];

	st = xcalloc(1, sizeof(*st));
	st->st_req = req;
	st->st_conn = evhttp_request_get_connection(req);
	evhttp_connection_set_closecb(st->st_conn, stream_closed, st);
	snprintf(len, sizeof(len), "%d", BIG_SIZE);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Length", len);
	evhttp_send_reply_start(req, 200, "OK");
	stream_more(st->st_conn, st);
}

static void
stream_more(struct evhttp_connection *evcon, void *arg)
{
	struct stream	*st = arg;
	struct evbuffer	*buf;
	unsigned char	*chunk;
	size_t		 n, i;

	(void)evcon;
	if (st->st_sent == BIG_SIZE) {
		evhttp_connection_set_closecb(st->st_conn, NULL, NULL);
		evhttp_send_reply_end(st->st_req);
		free(st);
		return;
	}
	n = BIG_SIZE - st->st_sent;
	if (n > BIG_CHUNK)
		n = BIG_CHUNK;
	chunk = xmalloc(n);
	for (i = 0; i < n; i++)
		chunk[i] = big_byte(st->st_sent + i);
	st->st_sent += n;
	buf = evbuffer_new();
	evbuffer_add(buf, chunk, n);
	free(chunk);
	evhttp_send_reply_chunk_with_cb(st->st_req, buf, stream_more, st);
	evbuffer_free(buf);
}

/*
 * The client went away mid-stream. libevent then detaches the unfinished
 * reply from the connection and leaves it to us: ending it frees it.
 */
static void
stream_closed(struct evhttp_connection *evcon, void *arg)
{
	struct stream	*st = arg;

	(void)evcon;
	if (evhttp_request_get_connection(st->st_req) == NULL)
		evhttp_send_reply_end(st->st_req);
	free(st);
}

/* Announce TRICKLE_SIZE bytes, send TRICKLE_FIRST, then trickle. */
static void
trickle_start(struct evhttp_request *req)
{
	struct evbuffer	*buf;
	char		 len[32], zero[TRICKLE_FIRST];

	ck_assert_ptr_null(trickle);
	trickle = xcalloc(1, sizeof(*trickle));
	trickle->tr_req = req;
	trickle->tr_conn = evhttp_request_get_connection(req);
	trickle->tr_ev = evtimer_new(base, trickle_cb, trickle);
	evhttp_connection_set_closecb(trickle->tr_conn, trickle_closed,
	    trickle);
	snprintf(len, sizeof(len), "%d", TRICKLE_SIZE);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Length", len);
	evhttp_send_reply_start(req, 200, "OK");
	memset(zero, 'x', sizeof(zero));
	buf = evbuffer_new();
	evbuffer_add(buf, zero, sizeof(zero));
	evhttp_send_reply_chunk(req, buf);
	evbuffer_free(buf);
	trickle_cb(-1, 0, trickle);
}

static void
trickle_cb(evutil_socket_t fd, short what, void *arg)
{
	struct trickle	*tr = arg;
	struct timeval	 tv = { 0, TRICKLE_MS * 1000 };
	struct evbuffer	*buf;

	(void)fd;
	if (what != 0) {
		buf = evbuffer_new();
		evbuffer_add(buf, "yyyy", TRICKLE_BYTES);
		evhttp_send_reply_chunk(tr->tr_req, buf);
		evbuffer_free(buf);
	}
	evtimer_add(tr->tr_ev, &tv);
}

/* The client gave up: stop trickling (see stream_closed). */
static void
trickle_closed(struct evhttp_connection *evcon, void *arg)
{
	struct trickle	*tr = arg;

	(void)evcon;
	if (evhttp_request_get_connection(tr->tr_req) == NULL)
		evhttp_send_reply_end(tr->tr_req);
	trickle->tr_conn = NULL;
	trickle_free();
}

static void
trickle_free(void)
{
	if (trickle == NULL)
		return;
	if (trickle->tr_conn != NULL)
		evhttp_connection_set_closecb(trickle->tr_conn, NULL, NULL);
	event_free(trickle->tr_ev);
	free(trickle);
	trickle = NULL;
}

/* ---- the client side ---- */

static int
on_headers(struct fetch *fe, long status, void *arg)
{
	struct result	*r = arg;
	const char	*v;
	size_t		 i;

	r->r_headers_calls++;
	r->r_status = status;
	ck_assert_int_eq(fetch_status(fe), status);
	r->r_clen = fetch_content_length(fe);
	for (i = 0; i < sizeof(wanted_headers) / sizeof(wanted_headers[0]);
	    i++) {
		free(r->r_hdr[i]);
		v = fetch_header(fe, wanted_headers[i]);
		r->r_hdr[i] = v != NULL ? xstrdup(v) : NULL;
	}
	if (r->r_start_in_headers)
		ck_assert_ptr_nonnull(start("/hello", NULL, r->r_child));
	if (r->r_cancel_in_headers) {
		fetch_cancel(fe);
		return (0);
	}
	return (r->r_abort_in_headers ? -1 : 0);
}

static int
on_data(struct fetch *fe, const void *buf, size_t len, void *arg)
{
	struct result		*r = arg;
	const unsigned char	*p = buf;
	size_t			 i, n;
	struct timeval		 tv;

	r->r_data_calls++;
	if (r->r_paused)
		r->r_data_while_paused++;
	if (r->r_pattern) {
		for (i = 0; i < len; i++)
			if (p[i] != big_byte(r->r_total + i))
				r->r_mismatches++;
	} else {
		n = len;
		if (n > sizeof(r->r_body) - 1 - r->r_body_len)
			n = sizeof(r->r_body) - 1 - r->r_body_len;
		memcpy(r->r_body + r->r_body_len, buf, n);
		r->r_body_len += n;
		r->r_body[r->r_body_len] = '\0';
	}
	r->r_total += len;
	if (r->r_cancel_in_data) {
		fetch_cancel(fe);
		fetch_cancel(fe);	/* twice is harmless */
		return (0);
	}
	if (r->r_pause_every > 0) {
		r->r_since_pause += len;
		if (r->r_since_pause >= r->r_pause_every) {
			r->r_since_pause = 0;
			r->r_paused = 1;
			tv.tv_sec = 0;
			tv.tv_usec = 2000;
			if (r->r_pauses++ == 0 && r->r_first_pause_ms > 0) {
				tv.tv_sec = r->r_first_pause_ms / 1000;
				tv.tv_usec = (r->r_first_pause_ms % 1000) *
				    1000;
			}
			ck_assert_int_eq(event_base_once(base, -1, EV_TIMEOUT,
			    resume_cb, r, &tv), 0);
			return (FETCH_PAUSE);
		}
	}
	return (0);
}

static void
resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct result	*r = arg;

	(void)fd;
	(void)what;
	r->r_paused = 0;
	fetch_resume(r->r_fetch);
}

static void
on_done(struct fetch *fe, enum fetch_result result, const char *errmsg,
    void *arg)
{
	struct result	*r = arg;
	const char	*u;

	ck_assert_ptr_eq(fe, r->r_fetch);
	r->r_done_calls++;
	r->r_result = result;
	r->r_errmsg_null = errmsg == NULL;
	snprintf(r->r_errmsg, sizeof(r->r_errmsg), "%s",
	    errmsg != NULL ? errmsg : "");
	if ((u = fetch_effective_url(fe)) != NULL)
		r->r_effective = xstrdup(u);
	/* Cancelling a finishing transfer does nothing. */
	fetch_cancel(fe);
	if (r->r_counter != NULL)
		(*r->r_counter)++;
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* Run the loop until *counter reaches want or ms pass. */
static int
loop_until(const int *counter, int want, long ms)
{
	struct event	*tick;
	struct timeval	 tv = { 0, 20000 };
	long long	 deadline = now_ms() + ms;

	tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	event_add(tick, &tv);
	while (*counter < want && now_ms() < deadline)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(tick);
	return (*counter >= want);
}

/* Run the loop for ms, whatever happens. */
static void
loop_for(long ms)
{
	int	 never = 0;

	loop_until(&never, 1, ms);
}

static void
result_init(struct result *r)
{
	memset(r, 0, sizeof(*r));
	r->r_clen = -2;
}

static void
result_clear(struct result *r)
{
	size_t	 i;

	for (i = 0; i < sizeof(r->r_hdr) / sizeof(r->r_hdr[0]); i++)
		free(r->r_hdr[i]);
	free(r->r_effective);
	memset(r->r_hdr, 0, sizeof(r->r_hdr));
	r->r_effective = NULL;
}

/* Start path (on srv1 unless a full URL) with req's options, or a GET. */
static struct fetch *
start(const char *path, struct fetch_request *req, struct result *r)
{
	struct fetch_request	 plain;
	static const struct fetch_callbacks cb = { on_headers, on_data,
	    on_done };
	char			 url[256];

	if (req == NULL) {
		memset(&plain, 0, sizeof(plain));
		req = &plain;
	}
	if (strncmp(path, "/", 1) == 0)
		snprintf(url, sizeof(url), "http://127.0.0.1:%d%s",
		    srv1.sv_port, path);
	else
		snprintf(url, sizeof(url), "%s", path);
	req->url = url;
	r->r_fetch = fetch_start(fetcher, req, &cb, r);
	return (r->r_fetch);
}

/* Start one transfer and run until it is done; 1 when it is. */
static int
run_one(const char *path, struct fetch_request *req, struct result *r,
    long ms)
{
	int	 done = 0;

	r->r_counter = &done;
	ck_assert_ptr_nonnull(start(path, req, r));
	ck_assert_uint_eq(fetcher_active(fetcher), 1);
	/* Never from inside fetch_start. */
	ck_assert_int_eq(r->r_done_calls, 0);
	loop_until(&done, 1, ms);
	r->r_counter = NULL;
	return (done);
}

static void
setup(void)
{
	/* The servers are local: no proxy from the environment. */
	unsetenv("http_proxy");
	unsetenv("https_proxy");
	unsetenv("HTTPS_PROXY");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	fetcher = fetcher_create(base);
	ck_assert_ptr_nonnull(fetcher);
	server_start(&srv1);
	server_start(&srv2);
}

static void
teardown(void)
{
	fetcher_free(fetcher);
	fetcher = NULL;
	trickle_free();
	server_stop(&srv1);
	server_stop(&srv2);
	event_base_free(base);
	base = NULL;
}

/* ---- tests ---- */

START_TEST(test_get)
{
	struct fetch_request	 req;
	struct result		 r;
	const char		*hdrs[] = { "X-Req: abc" };

	memset(&req, 0, sizeof(req));
	req.headers = hdrs;
	req.nheaders = 1;
	result_init(&r);
	ck_assert(run_one("/hello", &req, &r, TEST_WAIT_MS));
	ck_assert_int_eq(r.r_done_calls, 1);
	ck_assert_int_eq(r.r_result, FETCH_OK);
	ck_assert(r.r_errmsg_null);
	ck_assert_int_eq(r.r_headers_calls, 1);
	ck_assert_int_eq(r.r_status, 200);
	ck_assert_str_eq(r.r_body, "hello world");
	ck_assert_int_eq(r.r_clen, 11);
	ck_assert_str_eq(r.r_hdr[0], "yes");
	ck_assert_str_eq(r.r_hdr[1], "yes");
	ck_assert_str_eq(r.r_hdr[2], "a, b");
	ck_assert_str_eq(r.r_hdr[3], "abc");
	ck_assert_ptr_nonnull(r.r_hdr[4]);
	ck_assert_msg(strncmp(r.r_hdr[4], "depot/", 6) == 0, "UA %s",
	    r.r_hdr[4]);
	ck_assert_ptr_null(r.r_hdr[7]);
	ck_assert_ptr_nonnull(r.r_effective);
	ck_assert_msg(strstr(r.r_effective, "/hello") != NULL, "%s",
	    r.r_effective);
	ck_assert_uint_eq(fetcher_active(fetcher), 0);
	result_clear(&r);
}
END_TEST

START_TEST(test_head)
{
	struct fetch_request	 req;
	struct result		 r;

	memset(&req, 0, sizeof(req));
	req.method = FETCH_HEAD;
	result_init(&r);
	ck_assert(run_one("/hello", &req, &r, TEST_WAIT_MS));
	ck_assert_int_eq(r.r_result, FETCH_OK);
	ck_assert_int_eq(r.r_headers_calls, 1);
	ck_assert_int_eq(r.r_status, 200);
	ck_assert_int_eq(r.r_data_calls, 0);
	ck_assert_int_eq(r.r_clen, 11);
	ck_assert_str_eq(r.r_hdr[0], "yes");
	ck_assert_int_eq(srv1.sv_requests, 1);
	result_clear(&r);
}
END_TEST

/* POST and PUT send their body (copied), PUT an empty one too. */
START_TEST(test_post_put)
{
	struct fetch_request	 req;
	struct result		 r;
	char			 body[16];

	memset(&req, 0, sizeof(req));
	req.method = FETCH_POST;
	snprintf(body, sizeof(body), "{}");
	req.body = body;
	req.body_len = strlen(body);
	result_init(&r);
	ck_assert(run_one("/echo-body", &req, &r, TEST_WAIT_MS));
	ck_assert_int_eq(r.r_result, FETCH_OK);
	ck_assert_int_eq(r.r_status, 200);
	ck_assert_str_eq(r.r_body, "POST {}");
	result_clear(&r);
	req.method = FETCH_PUT;
	req.body = "";
	req.body_len = 0;
	result_init(&r);
	ck_assert(run_one("/echo-body", &req, &r, TEST_WAIT_MS));
	ck_assert_int_eq(r.r_status, 200);
	ck_assert_str_eq(r.r_body, "PUT ");
	result_clear(&r);
}
END_TEST

START_TEST(test_404)
{
	struct result	 r;

	result_init(&r);
	ck_assert(run_one("/missing", NULL, &r, TEST_WAIT_MS));
	/* An HTTP error status is a complete transfer. */
	ck_assert_int_eq(r.r_result, FETCH_OK);
	ck_assert_int_eq(r.r_headers_calls, 1);
	ck_assert_int_eq(r.r_status, 404);
	ck_assert_str_eq(r.r_body, "no such thing");
	result_clear(&r);
}
END_TEST

START_TEST(test_chunked)
{
	struct result	 r;

	result_init(&r);
	ck_assert(run_one("/chunked", NULL, &r, TEST_WAIT_MS));
	ck_assert_int_eq(r.r_result, FETCH_OK);
	ck_assert_int_eq(r.r_status, 200);
	ck_assert_str_eq(r.r_body, "one-two-three");
	ck_assert_int_eq(r.r_clen, -1);
	ck_assert_str_eq(r.r_hdr[6], "chunked");
	result_clear(&r);
}
END_TEST

/*
 * 50 MB, paused every 4 MB. The first pause outlasts the idle timeout:
 * a paused transfer is not idle.
 */
START_TEST(test_big_pause)
{
	struct fetch_request	 req;
	struct result		 r;

	memset(&req, 0, sizeof(req));
	req.timeout = 2;
	result_init(&r);
	r.r_pattern = 1;
	r.r_pause_every = PAUSE_EVERY;
	r.r_first_pause_ms = 3000;
	ck_assert(run_one("/big", &req, &r, TEST_WAIT_MS));
	ck_assert_msg(r.r_result == FETCH_OK, "%s", r.r_errmsg);
	ck_assert_int_eq(r.r_status, 200);
	ck_assert_int_eq(r.r_clen, BIG_SIZE);
	ck_assert_uint_eq(r.r_total, BIG_SIZE);
	ck_assert_uint_eq(r.r_mismatches, 0);
	ck_assert_int_ge(r.r_pauses, BIG_SIZE / PAUSE_EVERY);
	ck_assert_int_eq(r.r_data_while_paused, 0);
	result_clear(&r);
}
END_TEST

START_TEST(test_refused)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	struct result		 r;
	char			 url[64];
	int			 s;

	/* A port bound but not listening (until the end): refused. */
	s = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(s, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(s, (struct sockaddr *)&sin, &len), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x",
	    ntohs(sin.sin_port));
	result_init(&r);
	ck_assert(run_one(url, NULL, &r, TEST_WAIT_MS));
	ck_assert_int_eq(r.r_done_calls, 1);
	ck_assert_int_eq(r.r_result, FETCH_ECONNECT);
	ck_assert(!r.r_errmsg_null);
	ck_assert_uint_gt(strlen(r.r_errmsg), 0);
	ck_assert_int_eq(r.r_headers_calls, 0);
	ck_assert_uint_eq(fetcher_active(fetcher), 0);
	result_clear(&r);
	close(s);
}
END_TEST

START_TEST(test_idle_timeout)
{
	struct fetch_request	 req;
	struct result		 r;
	long long		 t0, took;

	memset(&req, 0, sizeof(req));
	req.timeout = 2;
	result_init(&r);
	t0 = now_ms();
	ck_assert(run_one("/slow", &req, &r, TEST_WAIT_MS));
	took = now_ms() - t0;
	ck_assert_ptr_nonnull(srv1.sv_slow);
	ck_assert_int_eq(r.r_result, FETCH_ETIMEOUT);
	ck_assert_uint_gt(strlen(r.r_errmsg), 0);
	ck_assert_int_eq(r.r_headers_calls, 0);
	ck_assert_msg(took >= 1500, "took %lld ms", took);
	result_clear(&r);
}
END_TEST

/*
 * A body that trickles in above curl's old cutoff (1 byte a second) but
 * below min_speed over speed_window is given up, and its end comes.
 */
START_TEST(test_min_speed)
{
	struct fetch_request	 req;
	struct result		 r;

	memset(&req, 0, sizeof(req));
	req.timeout = 5;
	req.min_speed = 1000;
	req.speed_window = 1;
	result_init(&r);
	ck_assert(run_one("/trickle", &req, &r, 15000));
	ck_assert_int_eq(r.r_result, FETCH_ETIMEOUT);
	ck_assert_int_eq(r.r_headers_calls, 1);
	ck_assert_int_eq(r.r_clen, TRICKLE_SIZE);
	ck_assert_uint_ge(r.r_total, TRICKLE_FIRST);
	ck_assert_uint_lt(r.r_total, TRICKLE_SIZE);
	result_clear(&r);
}
END_TEST

/*
 * With a speed window too long to end it, the deadline does: timeout +
 * length / min_speed seconds after the head.
 */
START_TEST(test_deadline)
{
	struct fetch_request	 req;
	struct result		 r;

	memset(&req, 0, sizeof(req));
	req.timeout = 1;
	req.min_speed = TRICKLE_SIZE;
	req.speed_window = 600;
	result_init(&r);
	ck_assert(run_one("/trickle", &req, &r, 15000));
	ck_assert_int_eq(r.r_result, FETCH_ETIMEOUT);
	ck_assert_ptr_nonnull(strstr(r.r_errmsg, "deadline"));
	ck_assert_uint_lt(r.r_total, TRICKLE_SIZE);
	result_clear(&r);
}
END_TEST

START_TEST(test_redirect)
{
	struct result	 r;

	result_init(&r);
	ck_assert(run_one("/redirect", NULL, &r, TEST_WAIT_MS));
	ck_assert_int_eq(r.r_result, FETCH_OK);
	/* Only the final response is reported. */
	ck_assert_int_eq(r.r_headers_calls, 1);
	ck_assert_int_eq(r.r_status, 200);
	ck_assert_str_eq(r.r_body, "hello world");
	ck_assert_str_eq(r.r_hdr[0], "yes");
	ck_assert_ptr_null(r.r_hdr[5]);
	ck_assert_msg(strstr(r.r_effective, "/hello") != NULL, "%s",
	    r.r_effective);
	ck_assert_int_eq(srv1.sv_requests, 2);
	result_clear(&r);

	/* Not followed on request. */
	{
		struct fetch_request	 req;

		memset(&req, 0, sizeof(req));
		req.no_follow = 1;
		result_init(&r);
		ck_assert(run_one("/redirect", &req, &r, TEST_WAIT_MS));
		ck_assert_int_eq(r.r_result, FETCH_OK);
		ck_assert_int_eq(r.r_status, 302);
		ck_assert_str_eq(r.r_hdr[5], "/hello");
		result_clear(&r);
	}
}
END_TEST

START_TEST(test_redirect_auth)
{
	struct fetch_request	 req;
	struct result		 r;
	const char		*bearer[] = { "Authorization: Bearer s3cr3t" };
	char			 url[128];

	/* The second server sees credentials sent to it directly. */
	memset(&req, 0, sizeof(req));
	req.username = "user";
	req.password = "pass";
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/echo-auth",
	    srv2.sv_port);
	result_init(&r);
	ck_assert(run_one(url, &req, &r, TEST_WAIT_MS));
	ck_assert_int_eq(srv2.sv_auth_seen, 1);
	ck_assert_str_eq(srv2.sv_auth, "Basic dXNlcjpwYXNz");
	result_clear(&r);

	/* Same host and port: kept. */
	srv1.sv_auth_seen = 0;
	result_init(&r);
	ck_assert(run_one("/samehost-redirect", &req, &r, TEST_WAIT_MS));
	ck_assert_int_eq(r.r_status, 200);
	ck_assert_int_eq(srv1.sv_auth_seen, 1);
	result_clear(&r);

	/* Basic credentials: not to another port. */
	srv2.sv_auth_seen = -1;
	srv2.sv_auth[0] = '\0';
	result_init(&r);
	ck_assert(run_one("/xredirect", &req, &r, TEST_WAIT_MS));
	ck_assert_int_eq(r.r_result, FETCH_OK);
	ck_assert_int_eq(r.r_status, 200);
	ck_assert_str_eq(r.r_body, "ok");
	ck_assert_int_eq(srv2.sv_auth_seen, 0);
	result_clear(&r);

	/* An Authorization header of our own: not either. */
	memset(&req, 0, sizeof(req));
	req.headers = bearer;
	req.nheaders = 1;
	srv2.sv_auth_seen = -1;
	result_init(&r);
	ck_assert(run_one("/xredirect", &req, &r, TEST_WAIT_MS));
	ck_assert_int_eq(r.r_status, 200);
	ck_assert_int_eq(srv2.sv_auth_seen, 0);
	/* ... while the first hop carried it. */
	srv1.sv_auth[0] = '\0';
	result_clear(&r);
	result_init(&r);
	ck_assert(run_one("/samehost-redirect", &req, &r, TEST_WAIT_MS));
	ck_assert_str_eq(srv1.sv_auth, "Bearer s3cr3t");
	result_clear(&r);
}
END_TEST

START_TEST(test_bad_redirects)
{
	struct result	 r;

	result_init(&r);
	ck_assert(run_one("/file-redirect", NULL, &r, TEST_WAIT_MS));
	ck_assert_int_eq(r.r_result, FETCH_EPROTOCOL);
	ck_assert_int_eq(r.r_headers_calls, 0);
	ck_assert_int_eq(r.r_data_calls, 0);
	result_clear(&r);

	result_init(&r);
	ck_assert(run_one("/loop", NULL, &r, TEST_WAIT_MS));
	ck_assert_int_eq(r.r_result, FETCH_EPROTOCOL);
	ck_assert_int_eq(r.r_headers_calls, 0);
	ck_assert_int_eq(srv1.sv_requests, 1 + 1 + FETCH_MAX_REDIRECTS);
	result_clear(&r);

	result_init(&r);
	ck_assert(run_one("file:///etc/passwd", NULL, &r, TEST_WAIT_MS));
	ck_assert_int_eq(r.r_result, FETCH_EPROTOCOL);
	ck_assert_int_eq(r.r_data_calls, 0);
	result_clear(&r);
}
END_TEST

START_TEST(test_cancel)
{
	struct result	 r, r2, r3, r4;

	/* From inside on_data, in the middle of 50 MB. */
	result_init(&r);
	r.r_pattern = 1;
	r.r_cancel_in_data = 1;
	ck_assert_ptr_nonnull(start("/big", NULL, &r));
	loop_until(&r.r_data_calls, 1, TEST_WAIT_MS);
	loop_for(400);
	ck_assert_int_eq(r.r_data_calls, 1);
	ck_assert_uint_lt(r.r_total, BIG_SIZE);
	ck_assert_int_eq(r.r_done_calls, 0);

	/* From inside on_headers. */
	result_init(&r2);
	r2.r_cancel_in_headers = 1;
	ck_assert_ptr_nonnull(start("/hello", NULL, &r2));
	/* From the loop, while the server sits on it. */
	result_init(&r3);
	ck_assert_ptr_nonnull(start("/slow", NULL, &r3));
	loop_for(200);
	fetch_cancel(r3.r_fetch);
	/* on_headers saying -1 ends in on_done(FETCH_EABORTED). */
	result_init(&r4);
	r4.r_abort_in_headers = 1;
	ck_assert(run_one("/hello", NULL, &r4, TEST_WAIT_MS));
	loop_until(&r2.r_headers_calls, 1, TEST_WAIT_MS);
	loop_for(200);
	ck_assert_int_eq(r2.r_headers_calls, 1);
	ck_assert_int_eq(r2.r_data_calls, 0);
	ck_assert_int_eq(r2.r_done_calls, 0);
	ck_assert_int_eq(r3.r_done_calls, 0);
	ck_assert_int_eq(r4.r_done_calls, 1);
	ck_assert_int_eq(r4.r_result, FETCH_EABORTED);
	ck_assert_int_eq(r4.r_data_calls, 0);
	ck_assert_uint_gt(strlen(r4.r_errmsg), 0);
	ck_assert_uint_eq(fetcher_active(fetcher), 0);
	/* The fetcher still works. */
	result_clear(&r4);
	result_init(&r4);
	ck_assert(run_one("/hello", NULL, &r4, TEST_WAIT_MS));
	ck_assert_str_eq(r4.r_body, "hello world");
	result_clear(&r);
	result_clear(&r2);
	result_clear(&r3);
	result_clear(&r4);
}
END_TEST

START_TEST(test_start_from_callback)
{
	struct result	 parent, child;
	int		 done = 0;

	result_init(&parent);
	result_init(&child);
	parent.r_start_in_headers = 1;
	parent.r_child = &child;
	parent.r_counter = &done;
	child.r_counter = &done;
	ck_assert_ptr_nonnull(start("/redirect", NULL, &parent));
	ck_assert(loop_until(&done, 2, 5000));
	ck_assert_int_eq(parent.r_result, FETCH_OK);
	ck_assert_int_eq(child.r_result, FETCH_OK);
	ck_assert_str_eq(parent.r_body, "hello world");
	ck_assert_str_eq(child.r_body, "hello world");
	result_clear(&parent);
	result_clear(&child);
}
END_TEST

START_TEST(test_concurrent)
{
	struct result	*r;
	char		 path[32], want[32];
	int		 done = 0, i;

	r = xcalloc(NCONCURRENT, sizeof(*r));
	for (i = 0; i < NCONCURRENT; i++) {
		result_init(&r[i]);
		r[i].r_counter = &done;
		snprintf(path, sizeof(path), "/n/%d", i);
		ck_assert_ptr_nonnull(start(path, NULL, &r[i]));
	}
	ck_assert_uint_eq(fetcher_active(fetcher), NCONCURRENT);
	ck_assert(loop_until(&done, NCONCURRENT, 10000));
	for (i = 0; i < NCONCURRENT; i++) {
		snprintf(want, sizeof(want), "n=%d", i);
		ck_assert_int_eq(r[i].r_done_calls, 1);
		ck_assert_msg(r[i].r_result == FETCH_OK, "%d: %s", i,
		    r[i].r_errmsg);
		ck_assert_str_eq(r[i].r_body, want);
		result_clear(&r[i]);
	}
	ck_assert_int_eq(srv1.sv_requests, NCONCURRENT);
	ck_assert_uint_eq(fetcher_active(fetcher), 0);
	free(r);
}
END_TEST

START_TEST(test_bad_request)
{
	struct fetch_request	 req;
	struct result		 r;
	const char		*crlf[] = { "X-A: b\r\nX-Evil: 1" };
	const char		*nocolon[] = { "X-A b" };

	result_init(&r);
	memset(&req, 0, sizeof(req));
	req.headers = crlf;
	req.nheaders = 1;
	ck_assert_ptr_null(start("/hello", &req, &r));
	req.headers = nocolon;
	ck_assert_ptr_null(start("/hello", &req, &r));
	memset(&req, 0, sizeof(req));
	req.username = "u";
	ck_assert_ptr_null(start("/hello", &req, &r));
	req.username = NULL;
	req.method = (enum fetch_method)7;
	ck_assert_ptr_null(start("/hello", &req, &r));
	ck_assert_ptr_null(start("", NULL, &r));
	ck_assert_uint_eq(fetcher_active(fetcher), 0);
	loop_for(50);
	ck_assert_int_eq(r.r_done_calls, 0);
	ck_assert_int_eq(srv1.sv_requests, 0);
}
END_TEST

START_TEST(test_redact)
{
	char	*s;

	s = fetch_url_redact("https://user:pw@Reg.Example:8443/v2/x/blobs/"
	    "sha256:ab?X-Amz-Signature=secret#frag");
	ck_assert_ptr_null(strstr(s, "pw"));
	ck_assert_ptr_null(strstr(s, "user"));
	ck_assert_ptr_null(strstr(s, "secret"));
	ck_assert_ptr_null(strstr(s, "frag"));
	ck_assert_msg(strstr(s, "Reg.Example:8443/v2/x/blobs/sha256:ab") !=
	    NULL || strstr(s, "reg.example:8443/v2/x/blobs/sha256:ab") != NULL,
	    "%s", s);
	free(s);
	s = fetch_url_redact("http://127.0.0.1/");
	ck_assert_str_eq(s, "http://127.0.0.1/");
	free(s);
	s = fetch_url_redact(NULL);
	ck_assert_ptr_nonnull(s);
	free(s);
	s = fetch_url_redact("::not a url::");
	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_null(strstr(s, "not a url"));
	free(s);
	ck_assert_str_eq(fetch_result_str(FETCH_OK), "ok");
	ck_assert_str_eq(fetch_result_str(FETCH_ETIMEOUT), "timeout");
	fetcher_free(NULL);
}
END_TEST

static Suite *
fetch_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("fetch");
	tc = tcase_create("fetch");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_get);
	tcase_add_test(tc, test_head);
	tcase_add_test(tc, test_post_put);
	tcase_add_test(tc, test_404);
	tcase_add_test(tc, test_chunked);
	tcase_add_test(tc, test_big_pause);
	tcase_add_test(tc, test_refused);
	tcase_add_test(tc, test_idle_timeout);
	tcase_add_test(tc, test_min_speed);
	tcase_add_test(tc, test_deadline);
	tcase_add_test(tc, test_redirect);
	tcase_add_test(tc, test_redirect_auth);
	tcase_add_test(tc, test_bad_redirects);
	tcase_add_test(tc, test_cancel);
	tcase_add_test(tc, test_start_from_callback);
	tcase_add_test(tc, test_concurrent);
	tcase_add_test(tc, test_bad_request);
	tcase_add_test(tc, test_redact);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	int	 failed;

	log_init(1, NULL, LOG_WARNING);
	if (fetch_global_init() == -1)
		return (EXIT_FAILURE);
	failed = check_run(fetch_suite()) != EXIT_SUCCESS;
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
