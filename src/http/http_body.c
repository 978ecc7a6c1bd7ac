/*
 * http_body.c: the framing filter under evhttp that streams upload
 * bodies (see http_body.h for the contract).
 *
 * evhttp (libevent 2.1) reads a request body whole into memory before it
 * calls the handler. To stream, every connection gets a
 * bufferevent_filter stacked on its socket bufferevent (evhttp_set_bevcb).
 * The input filter frames HTTP/1.1 itself, strictly (one Content-Length,
 * "chunked" alone, no obs-fold; the bodies of diverted and collected
 * requests through the framer of body_parser.c), and for each request
 * head:
 *  - pass: the head, with a Content-Length always present, and its body
 *    go on to evhttp;
 *  - divert: the head goes on with "Content-Length: 0" and
 *    "X-Depot-Body: <id>" instead of its framing headers; the body bytes
 *    (de-chunked) go to a struct http_body that the handler drains;
 *  - collect: a chunked body that is not an upload is gathered here and
 *    handed to evhttp after its head, with a Content-Length;
 *  - refuse: a head with "X-Depot-Error: <status>" goes to evhttp so that
 *    http.c answers in order; everything after it is dropped.
 * Clients cannot send X-Depot-* headers themselves.
 *
 * What makes this work with evhttp, each learnt the hard way:
 *  1. The filter needs BEV_OPT_DEFER_CALLBACKS, or it calls evhttp's
 *     write callback from inside evbuffer_add() before evhttp installed
 *     the callback state it belongs to.
 *  2. evhttp adds a reply while EV_WRITE is disabled on the filter, and
 *     enabling a filter does not flush it: an output buffer callback
 *     kicks the write (deferred), or a keep-alive reply can stall.
 *  3. The output filter writes straight to the socket, so a reply leaves
 *     the filter only once the kernel took it. Moving it to the socket
 *     bufferevent instead lets evhttp free a "Connection: close"
 *     connection with the reply still queued (truncated replies).
 *  4. sendfile: evbuffer_add_file() makes sendfile segments only in a
 *     buffer flagged EVBUFFER_FLAG_DRAINS_TO_FD, and they reach the
 *     socket only through evbuffer_write() on the fd, which (3) gives.
 *  5. When the client leaves or times out while the handler owns a
 *     request, evhttp detaches the request from the connection and frees
 *     the connection; the request is then the handler's to finish
 *     (evhttp_send_reply on it frees it). The body reports
 *     HTTP_BODY_GONE so that the handler finishes it.
 *  6. While a handler owns a request evhttp must not parse more input:
 *     its read callback is removed at dispatch (http_bodies_enter), so
 *     enabling EV_READ on the filter to stream the body cannot call it.
 *     evhttp installs it again when it starts reading the next request.
 *  7. The input filter answers BEV_OK only when it made progress: that
 *     re-arms the read timeout (request_timeout) and schedules evhttp's
 *     read callback. A client that trickles an unfinished head is dropped
 *     after request_timeout.
 *  8. While a reply goes out, evhttp keeps EV_READ enabled (to see the
 *     client close) and so the read timeout armed: a download longer
 *     than request_timeout was cut although the client kept reading.
 *     The output filter re-arms it whenever the kernel takes bytes, so
 *     only a connection that makes no progress either way times out.
 *     The kernel takes bytes in bursts a third of a (many MB) send buffer
 *     apart, so while output waits for room the socket's queue is also
 *     looked at every HTTP_BODY_PROGRESS_MS (SIOCOUTQ): the client
 *     acknowledging bytes is progress too. The send buffer stays as
 *     large as the kernel makes it, so that a reply of a few MB leaves in
 *     one sendfile, as nginx sends it; where the queue cannot be read, a
 *     socket holds at most HTTP_BODY_NOTSENT_MAX bytes not yet sent
 *     (TCP_NOTSENT_LOWAT) instead, and the writes show the progress.
 * Resuming the filter is always deferred (bufferevent_trigger with
 * BEV_TRIG_DEFER_CALLBACKS), so nothing here re-enters evhttp.
 *
 * The socket is ours: the socket bufferevent does not close it. When a
 * connection ends with the client still sending (an early reply, a
 * refused request), the socket lingers: shut for writing and read and
 * dropped for a short while, so that the client reads the answer instead
 * of a reset.
 */
#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "http/body_parser.h"
#include "http/http.h"
#include "http/http_body.h"
#include "lib/log.h"
#include "lib/ref.h"
#include "lib/util.h"
#include "lib/xmalloc.h"

#define HTTP_BODY_HEAD_MAX	(64 * 1024)	/* request line, headers */
#define HTTP_BODY_HEAD_LINES	128
/*
 * evhttp moves a Content-Length body out of its input only once all of it
 * is there, so its input must hold the largest body passed through, plus
 * the next head.
 */
#define HTTP_BODY_IN_CAP	(HTTP_BODY_PASS_MAX + 2 * HTTP_BODY_HEAD_MAX)
#define HTTP_BODY_PENDING_LOW	(256 * 1024)	/* resume below */
#define HTTP_BODY_LINGER_MS	3000
#define HTTP_BODY_CORK_MIN	(16 * 1024)	/* output corked above */
#define HTTP_BODY_NOTSENT_MAX	(128 * 1024)	/* see 8 above */
#define HTTP_BODY_PROGRESS_MS	1000		/* see 8 above */
#define HTTP_BODY_ERROR_PATH	"/-/refused"

/* Bytes in a socket's send queue (not yet acknowledged), where known. */
#if defined(__linux__) && defined(TIOCOUTQ)
#define HTTP_BODY_OUTQ		TIOCOUTQ
#elif defined(FIONWRITE)
#define HTTP_BODY_OUTQ		FIONWRITE
#endif

enum conn_state {
	CONN_HEAD,	/* reading a request head */
	CONN_PASS,	/* handing a Content-Length body to evhttp */
	CONN_SINK,	/* receiving a diverted body */
	CONN_COLLECT,	/* gathering a chunked body for evhttp */
	CONN_DEAD	/* dropping everything (closing after the answer) */
};

struct http_conn;

struct http_body {
	struct http_conn	*b_conn;	/* NULL once detached */
	struct event		*b_notify_ev;
	struct evbuffer		*b_pending;	/* not yet consumed */
	int64_t			 b_declared;	/* length or -1 */
	int64_t			 b_received;
	uint64_t		 b_id;
	int			 b_claimed;	/* a handler has it */
	int			 b_complete;
	int			 b_failed;	/* b_end holds why */
	enum http_body_end	 b_end;
	int			 b_done_sent;
	int			 b_expect_continue;
	int			 b_in_cb;
	int			 b_released;	/* free after callback */
	http_body_data_cb	 b_data_cb;
	http_body_done_cb	 b_done_cb;
	void			*b_arg;
};

struct http_conn {
	struct http_bodies	*c_bodies;
	struct bufferevent	*c_filter;	/* what evhttp sees */
	struct bufferevent	*c_under;	/* the socket */
	struct event		*c_write_ev;	/* socket writable */
	evutil_socket_t		 c_fd;	/* or -1 */
	enum conn_state		 c_state;
	size_t			 c_head_scan;	/* bytes scanned */
	uint64_t		 c_pass_left;
	struct http_body	*c_body;	/* diverted, one at most */
	struct body_parser	 c_parser;	/* SINK, COLLECT */
	char			*c_request_line; /* COLLECT */
	struct evbuffer		*c_held;	/* COLLECT: head */
	struct evbuffer		*c_collected;	/* COLLECT: body */
	int			 c_paused;	/* not reading */
	int			 c_in_blocked;	/* evhttp input full */
	int			 c_closecb_set;
	int			 c_dying;
	int			 c_write_failed;
	int			 c_seen_input;	/* a first byte arrived */
	uint64_t		 c_next_id;
	uint64_t		 c_written;	/* bytes the kernel took */
	int			 c_outq;	/* send queue at the last look */
	http_body_sent_cb	 c_sent_cb;	/* reply watched */
	void			*c_sent_arg;
	struct evhttp_request	*c_sent_req;
	uint64_t		 c_sent_base;	/* c_written before */
	size_t			 c_sent_head;	/* head bytes */
	int			 c_sent_stream;	/* more may come */
};

struct http_linger {
	TAILQ_ENTRY(http_linger) l_entry;
	struct http_bodies	*l_bodies;
	struct event		*l_ev;
	evutil_socket_t		 l_fd;
	long long		 l_deadline;
};

struct http_bodies {
	struct event_base	*bs_base;
	long long		 bs_max_upload;	/* 0: no limit */
	long long		 bs_max_pass;
	struct http_conn	**bs_conns;	/* by socket */
	size_t			 bs_nconns;
	size_t			 bs_alive;	/* live connections */
	size_t			 bs_nlingers;
	int			 bs_freeing;
	TAILQ_HEAD(, http_linger) bs_lingers;
	void			(*bs_count_cb)(size_t, void *);
	void			*bs_count_arg;
};

/* A request head split into lines (without line ends). */
struct head_line {
	const char	*hl_p;
	size_t		 hl_n;
};

struct head_info {
	struct head_line	 hi_lines[HTTP_BODY_HEAD_LINES];
	size_t			 hi_nlines;
	size_t			 hi_len;	/* with the empty line */
	const char		*hi_method;
	size_t			 hi_method_len;
	const char		*hi_target;
	size_t			 hi_target_len;
	int			 hi_http11;
	int64_t			 hi_length;	/* or -1 */
	int			 hi_chunked;
	int			 hi_expect;	/* 100-continue */
};

static struct bufferevent *conn_create_cb(struct event_base *, void *);
static void	conn_destroy_cb(void *);
static void	conn_closecb(struct evhttp_connection *, void *);
static void	conn_register(struct http_conn *);
static struct http_conn *conn_find(struct http_bodies *,
		    struct evhttp_request *);
static void	conn_detach_body(struct http_conn *);
static void	conn_pause(struct http_conn *);
static void	conn_resume(struct http_conn *);
static void	conn_kick(struct http_conn *);
static void	conn_cork(struct http_conn *, int);
static void	conn_wait_writable(struct http_conn *);
static void	conn_reply_end(struct http_conn *);
static void	conn_reply_complete_cb(struct evhttp_request *, void *);
static void	conn_refuse(struct http_conn *, struct evbuffer *, int,
		    const char *, size_t);
static int	conn_refuse_tls(struct http_conn *, struct evbuffer *);
static int	head_path_is_upload(const char *, size_t);
static enum bufferevent_filter_result conn_input_filter(struct evbuffer *,
		    struct evbuffer *, ev_ssize_t, enum bufferevent_flush_mode,
		    void *);
static enum bufferevent_filter_result conn_output_filter(struct evbuffer *,
		    struct evbuffer *, ev_ssize_t, enum bufferevent_flush_mode,
		    void *);
static void	conn_output_added_cb(struct evbuffer *,
		    const struct evbuffer_cb_info *, void *);
static void	conn_input_drained_cb(struct evbuffer *,
		    const struct evbuffer_cb_info *, void *);
static void	conn_writable_cb(evutil_socket_t, short, void *);
static int	head_read(struct http_conn *, struct evbuffer *,
		    struct evbuffer *);
static int	head_scan(struct http_conn *, struct evbuffer *, size_t *);
static int	head_parse(struct head_info *, const char *, size_t);
static int	head_split(struct head_info *, const char *, size_t);
static int	head_check(struct head_info *);
static int	head_is_upload(const struct head_info *);
static int	head_may_have_body(const struct head_info *);
static int	head_framing_header(const struct head_line *);
static void	head_forward(struct http_conn *, struct head_info *,
		    struct evbuffer *, int);
static void	head_divert(struct http_conn *, struct head_info *,
		    struct evbuffer *);
static void	head_collect(struct http_conn *, struct head_info *);
static int	pass_read(struct http_conn *, struct evbuffer *,
		    struct evbuffer *);
static int	body_read(struct http_conn *, struct evbuffer *,
		    struct evbuffer *);
static size_t	body_room(struct http_conn *);
static void	body_move(struct http_conn *, struct evbuffer *, size_t);
static void	body_finish(struct http_conn *, struct evbuffer *, int,
		    enum http_body_end);
static void	body_notify(struct http_body *);
static void	body_notify_cb(evutil_socket_t, short, void *);
static void	body_free(struct http_body *);
static void	bodies_destroy(struct http_bodies *);
static void	bodies_count(struct http_bodies *);
static void	linger_start(struct http_bodies *, evutil_socket_t);
static void	linger_cb(evutil_socket_t, short, void *);
static void	linger_end(struct http_linger *);
static int	is_tchar(unsigned char);

struct http_bodies *
http_bodies_create(struct event_base *base, long long max_upload)
{
	struct http_bodies	*bs;

	bs = xcalloc(1, sizeof(*bs));
	bs->bs_base = base;
	bs->bs_max_upload = max_upload;
	bs->bs_max_pass = max_upload > 0 && max_upload < HTTP_BODY_PASS_MAX ?
	    max_upload : HTTP_BODY_PASS_MAX;
	TAILQ_INIT(&bs->bs_lingers);
	return (bs);
}

void
http_bodies_free(struct http_bodies *bs)
{
	struct http_linger	*l;

	size_t			 i;

	if (bs == NULL)
		return;
	bs->bs_count_cb = NULL;
	while ((l = TAILQ_FIRST(&bs->bs_lingers)) != NULL)
		linger_end(l);
	/* Replies still going out are accounted for now, while we can. */
	for (i = 0; i < bs->bs_nconns; i++)
		if (bs->bs_conns[i] != NULL)
			conn_reply_end(bs->bs_conns[i]);
	bs->bs_freeing = 1;
	if (bs->bs_alive == 0)
		bodies_destroy(bs);
}

static void
bodies_destroy(struct http_bodies *bs)
{
	free(bs->bs_conns);
	free(bs);
}

void
http_bodies_set_count_cb(struct http_bodies *bs,
    void (*count_cb)(size_t, void *), void *arg)
{
	bs->bs_count_cb = count_cb;
	bs->bs_count_arg = arg;
}

/* Tell how many client sockets are open. */
static void
bodies_count(struct http_bodies *bs)
{
	if (bs->bs_count_cb != NULL && !bs->bs_freeing)
		bs->bs_count_cb(bs->bs_alive + bs->bs_nlingers,
		    bs->bs_count_arg);
}

void
http_bodies_attach(struct http_bodies *bs, struct evhttp *http)
{
	evhttp_set_bevcb(http, conn_create_cb, bs);
}

/* evhttp's bevcb: the filter over a new socket bufferevent. */
static struct bufferevent *
conn_create_cb(struct event_base *base, void *arg)
{
	struct http_bodies	*bs = arg;
	struct http_conn	*c;

	c = xcalloc(1, sizeof(*c));
	c->c_bodies = bs;
	c->c_fd = -1;
	c->c_state = CONN_HEAD;
	/* No BEV_OPT_CLOSE_ON_FREE: the socket is closed (or lingers) here. */
	if ((c->c_under = bufferevent_socket_new(base, -1, 0)) == NULL)
		fatalx("%s: bufferevent_socket_new", __func__);
	c->c_filter = bufferevent_filter_new(c->c_under, conn_input_filter,
	    conn_output_filter, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS,
	    conn_destroy_cb, c);
	if (c->c_filter == NULL)
		fatalx("%s: bufferevent_filter_new", __func__);
	if (evbuffer_add_cb(bufferevent_get_output(c->c_filter),
	    conn_output_added_cb, c) == NULL ||
	    evbuffer_add_cb(bufferevent_get_input(c->c_filter),
	    conn_input_drained_cb, c) == NULL)
		fatalx("%s: evbuffer_add_cb", __func__);
	bs->bs_alive++;
	bodies_count(bs);
	return (c->c_filter);
}

/* The filter is being freed (after evhttp freed the connection). */
static void
conn_destroy_cb(void *arg)
{
	struct http_conn	*c = arg;
	struct http_bodies	*bs = c->c_bodies;
	evutil_socket_t		 fd;

	c->c_dying = 1;
	conn_detach_body(c);
	c->c_sent_req = NULL;	/* may be freed by now */
	conn_reply_end(c);
	/* The socket bufferevent is still allocated: the filter holds it. */
	fd = c->c_fd != -1 ? c->c_fd : bufferevent_getfd(c->c_under);
	if (c->c_fd != -1 && (size_t)c->c_fd < bs->bs_nconns &&
	    bs->bs_conns[c->c_fd] == c)
		bs->bs_conns[c->c_fd] = NULL;
	if (c->c_write_ev != NULL)
		event_free(c->c_write_ev);
	if (c->c_held != NULL)
		evbuffer_free(c->c_held);
	if (c->c_collected != NULL)
		evbuffer_free(c->c_collected);
	free(c->c_request_line);
	free(c);
	if (fd != -1)
		linger_start(bs, fd);
	bs->bs_alive--;
	bodies_count(bs);
	if (bs->bs_alive == 0 && bs->bs_freeing)
		bodies_destroy(bs);
}

/* evhttp is freeing the connection: stop writing, tell the body. */
static void
conn_closecb(struct evhttp_connection *evcon, void *arg)
{
	struct http_conn	*c = arg;

	(void)evcon;
	c->c_dying = 1;
	if (c->c_write_ev != NULL)
		event_del(c->c_write_ev);
	conn_detach_body(c);
	conn_reply_end(c);
}

/* Learn the socket (evhttp sets it after bevcb) and index it. */
static void
conn_register(struct http_conn *c)
{
	struct http_bodies	*bs = c->c_bodies;
	evutil_socket_t		 fd;
	size_t			 n;
	int			 one = 1, notsent = HTTP_BODY_NOTSENT_MAX;

	if ((fd = bufferevent_getfd(c->c_filter)) < 0)
		return;
	/*
	 * Each reply leaves in as few writes as it can (a small file is read
	 * into the reply, a large one is corked with its head): what it
	 * sends must not wait for the ACK of the last reply (Nagle against
	 * the client's delayed ACK, 40 ms a reply).
	 */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == -1)
		log_debug("%s: TCP_NODELAY: %s", __func__, strerror(errno));
#if defined(TCP_NOTSENT_LOWAT) && !defined(HTTP_BODY_OUTQ)
	if (setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &notsent,
	    sizeof(notsent)) == -1)
		log_debug("%s: TCP_NOTSENT_LOWAT: %s", __func__,
		    strerror(errno));
#else
	(void)notsent;
#endif
	if ((size_t)fd >= bs->bs_nconns) {
		n = bs->bs_nconns != 0 ? bs->bs_nconns : 64;
		while (n <= (size_t)fd)
			n *= 2;
		bs->bs_conns = xreallocarray(bs->bs_conns, n,
		    sizeof(*bs->bs_conns));
		memset(bs->bs_conns + bs->bs_nconns, 0,
		    (n - bs->bs_nconns) * sizeof(*bs->bs_conns));
		bs->bs_nconns = n;
	}
	bs->bs_conns[fd] = c;
	c->c_fd = fd;
	c->c_write_ev = event_new(bs->bs_base, fd, EV_WRITE, conn_writable_cb,
	    c);
	if (c->c_write_ev == NULL)
		fatalx("%s: event_new", __func__);
}

static struct http_conn *
conn_find(struct http_bodies *bs, struct evhttp_request *req)
{
	struct evhttp_connection	*evcon;
	struct bufferevent		*bev;
	evutil_socket_t			 fd;

	if ((evcon = evhttp_request_get_connection(req)) == NULL)
		return (NULL);
	bev = evhttp_connection_get_bufferevent(evcon);
	fd = bufferevent_getfd(bev);
	if (fd < 0 || (size_t)fd >= bs->bs_nconns || bs->bs_conns[fd] == NULL ||
	    bs->bs_conns[fd]->c_filter != bev)
		return (NULL);
	return (bs->bs_conns[fd]);
}

int
http_bodies_enter(struct http_bodies *bs, struct evhttp_request *req,
    struct http_body **body)
{
	struct evhttp_connection	*evcon;
	struct evkeyvalq		*in;
	struct bufferevent		*bev;
	struct http_conn		*c;
	bufferevent_data_cb		 readcb, writecb;
	bufferevent_event_cb		 eventcb;
	void				*cbarg;
	const char			*v;
	char				*end;
	unsigned long long		 id;
	long				 status = 0;

	*body = NULL;
	in = evhttp_request_get_input_headers(req);
	if ((evcon = evhttp_request_get_connection(req)) == NULL)
		return (0);
	/* evhttp must not parse input while the handler owns the request. */
	bev = evhttp_connection_get_bufferevent(evcon);
	bufferevent_getcb(bev, &readcb, &writecb, &eventcb, &cbarg);
	bufferevent_setcb(bev, NULL, writecb, eventcb, cbarg);
	if ((c = conn_find(bs, req)) == NULL) {
		log_warnx("%s: request on an unknown connection", __func__);
		return (0);
	}
	if (!c->c_closecb_set) {
		evhttp_connection_set_closecb(evcon, conn_closecb, c);
		c->c_closecb_set = 1;
	}
	if ((v = evhttp_find_header(in, "X-Depot-Error")) != NULL) {
		status = strtol(v, &end, 10);
		if (*end != '\0' || status < 400 || status > 599)
			status = 400;
		evhttp_remove_header(in, "X-Depot-Error");
	}
	if ((v = evhttp_find_header(in, "X-Depot-Body")) != NULL) {
		id = strtoull(v, &end, 10);
		if (c->c_body != NULL && !c->c_body->b_claimed &&
		    c->c_body->b_id == id && *end == '\0') {
			c->c_body->b_claimed = 1;
			*body = c->c_body;
		} else
			log_warnx("%s: diverted body %s not found", __func__,
			    v);
		evhttp_remove_header(in, "X-Depot-Body");
	}
	return ((int)status);
}

size_t
http_bodies_output_pending(struct http_bodies *bs)
{
	struct http_conn	*c;
	size_t			 i, n = 0;

	for (i = 0; i < bs->bs_nconns; i++) {
		if ((c = bs->bs_conns[i]) == NULL || c->c_dying ||
		    c->c_write_failed)
			continue;
		n += evbuffer_get_length(bufferevent_get_output(c->c_filter));
		n += evbuffer_get_length(bufferevent_get_output(c->c_under));
	}
	return (n);
}

int
http_bodies_watch_reply(struct http_bodies *bs, struct evhttp_request *req,
    size_t body, int stream, http_body_sent_cb sent_cb, void *arg)
{
	struct http_conn	*c;
	size_t			 queued;

	if ((c = conn_find(bs, req)) == NULL || c->c_dying)
		return (-1);
	conn_reply_end(c);	/* evhttp answers in turn: never two */
	queued = evbuffer_get_length(bufferevent_get_output(c->c_filter));
	c->c_sent_cb = sent_cb;
	c->c_sent_arg = arg;
	c->c_sent_req = req;
	c->c_sent_base = c->c_written;
	c->c_sent_head = queued > body ? queued - body : 0;
	c->c_sent_stream = stream;
	evhttp_request_set_on_complete_cb(req, conn_reply_complete_cb, c);
	return (0);
}

/*
 * The watched reply ended, sent or cut short: tell how much of its body
 * the kernel took (the rest is still queued, or was never queued).
 */
static void
conn_reply_end(struct http_conn *c)
{
	http_body_sent_cb	 sent_cb = c->c_sent_cb;
	uint64_t		 out;

	if (sent_cb == NULL)
		return;
	c->c_sent_cb = NULL;
	if (c->c_sent_req != NULL)
		evhttp_request_set_on_complete_cb(c->c_sent_req, NULL, NULL);
	c->c_sent_req = NULL;
	out = c->c_written - c->c_sent_base;
	sent_cb(out > c->c_sent_head ? (int64_t)(out - c->c_sent_head) : 0,
	    c->c_sent_arg);
}

/* evhttp wrote the whole reply. */
static void
conn_reply_complete_cb(struct evhttp_request *req, void *arg)
{
	struct http_conn	*c = arg;

	(void)req;
	c->c_sent_req = NULL;
	conn_reply_end(c);
}

/* The connection is going away: the body's handler learns it. */
static void
conn_detach_body(struct http_conn *c)
{
	struct http_body	*b = c->c_body;

	if (b == NULL)
		return;
	c->c_body = NULL;
	b->b_conn = NULL;
	if (!b->b_claimed) {
		body_free(b);
		return;
	}
	if (!b->b_complete && !b->b_failed) {
		b->b_failed = 1;
		b->b_end = HTTP_BODY_GONE;
	}
	body_notify(b);
}

/* Stop reading the socket (TCP back-pressure). */
static void
conn_pause(struct http_conn *c)
{
	if (!c->c_paused && !c->c_dying) {
		c->c_paused = 1;
		bufferevent_disable(c->c_under, EV_READ);
	}
}

static void
conn_resume(struct http_conn *c)
{
	if (c->c_dying)
		return;
	if (c->c_paused) {
		c->c_paused = 0;
		bufferevent_enable(c->c_under, EV_READ);
	}
	conn_kick(c);
}

/* Run the input filter again later on what is already read. */
static void
conn_kick(struct http_conn *c)
{
	if (c->c_dying)
		return;
	if (evbuffer_get_length(bufferevent_get_input(c->c_under)) > 0)
		bufferevent_trigger(c->c_under, EV_READ,
		    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

/*
 * Hand evhttp a request it will dispatch, marked with the status to
 * answer; drop everything after it. line is the request line to keep (so
 * that the answer can depend on the path), or NULL.
 */
static void
conn_refuse(struct http_conn *c, struct evbuffer *dst, int status,
    const char *line, size_t len)
{
	if (line != NULL)
		evbuffer_add(dst, line, len);
	else
		evbuffer_add_printf(dst, "GET %s HTTP/1.1",
		    HTTP_BODY_ERROR_PATH);
	evbuffer_add_printf(dst, "\r\nX-Depot-Error: %d\r\n"
	    "Connection: close\r\nContent-Length: 0\r\n\r\n", status);
	c->c_state = CONN_DEAD;
}

/*
 * A TLS handshake (a record starting with 0x16) on this plain-HTTP port:
 * answer 400 and close at once, so that clients which try HTTPS first
 * (skopeo, podman, docker) fall back to HTTP without waiting out their
 * handshake timeout. Returns 1 when the connection was refused.
 */
static int
conn_refuse_tls(struct http_conn *c, struct evbuffer *src)
{
	static const char	 answer[] = "HTTP/1.1 400 Bad Request\r\n"
	    "Content-Type: text/plain\r\nConnection: close\r\n"
	    "Content-Length: 45\r\n\r\n"
	    "depot speaks plain HTTP on this port, not TLS\n";
	unsigned char		*first;

	if ((first = evbuffer_pullup(src, 1)) == NULL || first[0] != 0x16)
		return (0);
	evbuffer_drain(src, evbuffer_get_length(src));
	c->c_state = CONN_DEAD;
	if (c->c_fd != -1) {
		if (write(c->c_fd, answer, sizeof(answer) - 1) == -1)
			log_debug("%s: write: %s", __func__, strerror(errno));
		shutdown(c->c_fd, SHUT_RDWR);
	}
	log_debug("TLS handshake on a plain HTTP port: refused");
	return (1);
}

static enum bufferevent_filter_result
conn_input_filter(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t lim,
    enum bufferevent_flush_mode mode, void *arg)
{
	struct http_conn	*c = arg;
	int			 progress = 0, r = 0;

	(void)lim;
	(void)mode;
	if (c->c_fd == -1)
		conn_register(c);
	if (!c->c_seen_input && evbuffer_get_length(src) > 0) {
		c->c_seen_input = 1;
		if (conn_refuse_tls(c, src))
			return (BEV_NEED_MORE);
	}
	while (evbuffer_get_length(src) > 0) {
		switch (c->c_state) {
		case CONN_HEAD:
			r = head_read(c, src, dst);
			break;
		case CONN_PASS:
			r = pass_read(c, src, dst);
			break;
		case CONN_SINK:
		case CONN_COLLECT:
			r = body_read(c, src, dst);
			break;
		case CONN_DEAD:
			evbuffer_drain(src, evbuffer_get_length(src));
			r = 1;
			break;
		}
		if (r <= 0)
			break;
		progress = 1;
		/* A finished body may have stopped reading. */
		if (!(bufferevent_get_enabled(c->c_filter) & EV_READ))
			break;
	}
	if (r < 0)
		conn_pause(c);
	return (progress ? BEV_OK : BEV_NEED_MORE);
}

/*
 * Write evhttp's output straight to the socket (see 3 and 4 above), as
 * much as the kernel takes; the rest waits for conn_writable_cb. A head
 * and a large (sendfile) body are corked together, so that the head does
 * not leave alone in a small segment.
 */
static enum bufferevent_filter_result
conn_output_filter(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t lim,
    enum bufferevent_flush_mode mode, void *arg)
{
	struct http_conn	*c = arg;
	size_t			 before, left;
	int			 n, error, cork;

	(void)lim;
	(void)mode;
	if (c->c_fd == -1)
		conn_register(c);
	if (c->c_dying || c->c_write_failed || c->c_fd == -1)
		return (BEV_NEED_MORE);
	/* An interim "100 Continue" still queued below goes first. */
	if (evbuffer_get_length(dst) > 0 ||
	    (before = evbuffer_get_length(src)) == 0)
		return (BEV_NEED_MORE);
	if ((cork = before > HTTP_BODY_CORK_MIN))
		conn_cork(c, 1);
	while ((n = evbuffer_write(src, c->c_fd)) > 0 &&
	    evbuffer_get_length(src) > 0)
		;
	error = errno;
	if (cork)
		conn_cork(c, 0);
	left = evbuffer_get_length(src);
	c->c_written += before - left;
	if (n == -1 && error != EAGAIN && error != EWOULDBLOCK &&
	    error != EINTR) {
		c->c_write_failed = 1;
		/* evhttp hears of it through its (deferred) event callback. */
		bufferevent_trigger_event(c->c_filter,
		    BEV_EVENT_WRITING | BEV_EVENT_ERROR, 0);
		return (BEV_ERROR);
	}
	if (left > 0)
		conn_wait_writable(c);
	if (left == before)
		return (BEV_NEED_MORE);
	/* A whole reply is out: account for it now, not a loop pass later. */
	if (left == 0 && c->c_sent_cb != NULL && !c->c_sent_stream)
		conn_reply_end(c);
	/* See 8 above: a client that reads is not idle. */
	if (bufferevent_get_enabled(c->c_filter) & EV_READ)
		bufferevent_enable(c->c_filter, EV_READ);
	return (BEV_OK);
}

/* Hold partial segments back (on), or send them now (off). */
static void
conn_cork(struct http_conn *c, int on)
{
#ifdef TCP_CORK
	if (setsockopt(c->c_fd, IPPROTO_TCP, TCP_CORK, &on, sizeof(on)) == -1)
		log_debug("%s: TCP_CORK: %s", __func__, strerror(errno));
#else
	(void)c;
	(void)on;
#endif
}

/*
 * Wait for room in the socket; meanwhile look at its send queue now and
 * then (see 8 above).
 */
static void
conn_wait_writable(struct http_conn *c)
{
#ifdef HTTP_BODY_OUTQ
	struct timeval	 tv;

	if (ioctl(c->c_fd, HTTP_BODY_OUTQ, &c->c_outq) == -1)
		c->c_outq = -1;
	tv.tv_sec = HTTP_BODY_PROGRESS_MS / 1000;
	tv.tv_usec = (HTTP_BODY_PROGRESS_MS % 1000) * 1000;
	event_add(c->c_write_ev, &tv);
#else
	event_add(c->c_write_ev, NULL);
#endif
}

static void
conn_writable_cb(evutil_socket_t fd, short events, void *arg)
{
	struct http_conn	*c = arg;
#ifdef HTTP_BODY_OUTQ
	short			 armed;
	int			 outq;

	if (!(events & EV_WRITE)) {
		/*
		 * The client took bytes off the queue: it is not idle. Enabling
		 * what is enabled re-arms its timeouts (request_timeout).
		 */
		armed = bufferevent_get_enabled(c->c_filter) &
		    (EV_READ | EV_WRITE);
		if (ioctl(fd, HTTP_BODY_OUTQ, &outq) == 0 && c->c_outq != -1 &&
		    outq < c->c_outq && armed != 0)
			bufferevent_enable(c->c_filter, armed);
		conn_wait_writable(c);
		return;
	}
#else
	(void)fd;
	(void)events;
#endif
	bufferevent_trigger(c->c_under, EV_WRITE, BEV_TRIG_IGNORE_WATERMARKS);
}

/* See 2 above: evhttp queued output while writing was disabled. */
static void
conn_output_added_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct http_conn	*c = arg;

	(void)buf;
	if (info->n_added > 0 && !c->c_dying &&
	    !(bufferevent_get_enabled(c->c_filter) & EV_WRITE))
		bufferevent_trigger(c->c_under, EV_WRITE,
		    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

/* evhttp consumed its input: go on if the filter waited for room. */
static void
conn_input_drained_cb(struct evbuffer *buf,
    const struct evbuffer_cb_info *info, void *arg)
{
	struct http_conn	*c = arg;

	if (info->n_deleted > 0 && c->c_in_blocked &&
	    evbuffer_get_length(buf) < HTTP_BODY_IN_CAP / 2) {
		c->c_in_blocked = 0;
		conn_resume(c);
	}
}

/*
 * One request head: find its end, check it, decide what happens to its
 * body. 1 progress, 0 more input needed, -1 blocked.
 */
static int
head_read(struct http_conn *c, struct evbuffer *src, struct evbuffer *dst)
{
	struct head_info	 hi;
	size_t			 len;
	int			 r, status;

	/* One diverted body at a time: wait until its handler is done. */
	if (c->c_body != NULL)
		return (-1);
	if (evbuffer_get_length(dst) >= HTTP_BODY_IN_CAP) {
		c->c_in_blocked = 1;
		return (-1);
	}
	if ((r = head_scan(c, src, &len)) <= 0) {
		if (r == -1)
			conn_refuse(c, dst, 431, NULL, 0);
		return (r == -1 ? 1 : 0);
	}
	if (len == 0)
		return (1);	/* an empty line before a request */
	status = head_parse(&hi, (const char *)evbuffer_pullup(src, len), len);
	if (status != 0)
		conn_refuse(c, dst, status, NULL, 0);
	else if (hi.hi_chunked && head_is_upload(&hi))
		head_divert(c, &hi, dst);
	else if (hi.hi_chunked)
		head_collect(c, &hi);
	else if (hi.hi_length > 0 && head_is_upload(&hi)) {
		if (c->c_bodies->bs_max_upload > 0 &&
		    hi.hi_length > c->c_bodies->bs_max_upload)
			conn_refuse(c, dst, 413, hi.hi_lines[0].hl_p,
			    hi.hi_lines[0].hl_n);
		else
			head_divert(c, &hi, dst);
	} else if (hi.hi_length > c->c_bodies->bs_max_pass)
		conn_refuse(c, dst, 413, hi.hi_lines[0].hl_p,
		    hi.hi_lines[0].hl_n);
	else
		head_forward(c, &hi, dst, 0);
	evbuffer_drain(src, len);
	return (1);
}

/*
 * Find the end of the head in src, resuming the scan where the last call
 * stopped. 1 with *len (0 for a stray empty line, already drained), 0
 * when more input is needed, -1 when the head is too large.
 */
static int
head_scan(struct http_conn *c, struct evbuffer *src, size_t *len)
{
	struct evbuffer_ptr	 p, e;
	size_t			 eol;

	if (evbuffer_ptr_set(src, &p, c->c_head_scan, EVBUFFER_PTR_SET) == -1)
		return (0);
	for (;;) {
		e = evbuffer_search_eol(src, &p, &eol, EVBUFFER_EOL_CRLF);
		if (e.pos == -1)
			return (evbuffer_get_length(src) > HTTP_BODY_HEAD_MAX ?
			    -1 : 0);
		if ((size_t)e.pos + eol > HTTP_BODY_HEAD_MAX)
			return (-1);
		if (e.pos == p.pos) {
			c->c_head_scan = 0;
			if (p.pos == 0) {
				evbuffer_drain(src, eol);
				*len = 0;
			} else
				*len = (size_t)e.pos + eol;
			return (1);
		}
		c->c_head_scan = (size_t)e.pos + eol;
		if (evbuffer_ptr_set(src, &p, c->c_head_scan,
		    EVBUFFER_PTR_SET) == -1)
			return (0);
	}
}

int
http_body_head_check(const char *head, size_t len)
{
	struct head_info	 hi;

	return (head_parse(&hi, head, len));
}

/* Parse and check a head: 0, or the status to refuse it with. */
static int
head_parse(struct head_info *hi, const char *h, size_t len)
{
	int	 status;

	memset(hi, 0, sizeof(*hi));
	hi->hi_length = -1;
	if ((status = head_split(hi, h, len)) == 0)
		status = head_check(hi);
	return (status);
}

/* Split the head into lines and the request line into its parts. */
static int
head_split(struct head_info *hi, const char *h, size_t len)
{
	const char	*s = h, *end = h + len, *nl, *sp1, *sp2, *rl_end;
	size_t		 n, i;

	/*
	 * A NUL anywhere (RFC 9110 5.5): evhttp would cut the line there and
	 * see another header than the one checked here.
	 */
	if (memchr(h, '\0', len) != NULL)
		return (400);
	hi->hi_len = len;
	while (s < end && (nl = memchr(s, '\n', end - s)) != NULL) {
		n = nl - s;
		if (n > 0 && s[n - 1] == '\r')
			n--;
		if (n == 0)
			break;
		if (hi->hi_nlines == HTTP_BODY_HEAD_LINES)
			return (431);
		hi->hi_lines[hi->hi_nlines].hl_p = s;
		hi->hi_lines[hi->hi_nlines].hl_n = n;
		hi->hi_nlines++;
		s = nl + 1;
	}
	if (hi->hi_nlines == 0)
		return (400);
	/* METHOD SP TARGET SP HTTP/1.x */
	s = hi->hi_lines[0].hl_p;
	rl_end = s + hi->hi_lines[0].hl_n;
	sp1 = memchr(s, ' ', rl_end - s);
	sp2 = sp1 != NULL ? memchr(sp1 + 1, ' ', rl_end - sp1 - 1) : NULL;
	if (sp1 == NULL || sp2 == NULL || sp1 == s || sp2 == sp1 + 1 ||
	    rl_end - sp2 - 1 != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
	    (sp2[8] != '0' && sp2[8] != '1') ||
	    memchr(s, '\r', rl_end - s) != NULL)
		return (400);
	for (i = 0; i < (size_t)(sp1 - s); i++)
		if (!is_tchar((unsigned char)s[i]))
			return (400);
	hi->hi_method = s;
	hi->hi_method_len = sp1 - s;
	hi->hi_target = sp1 + 1;
	hi->hi_target_len = sp2 - sp1 - 1;
	hi->hi_http11 = sp2[8] == '1';
	return (0);
}

/* Check header syntax and the framing headers (RFC 9112, strictly). */
static int
head_check(struct head_info *hi)
{
	const char	*l, *colon, *v, *ve, *q;
	size_t		 i, j, kn;
	int		 n_length = 0, n_te = 0, te_other = 0;

	for (i = 1; i < hi->hi_nlines; i++) {
		l = hi->hi_lines[i].hl_p;
		colon = memchr(l, ':', hi->hi_lines[i].hl_n);
		/* No name, a space before the colon, obs-fold, a bare CR. */
		if (colon == NULL || colon == l ||
		    memchr(l, '\r', hi->hi_lines[i].hl_n) != NULL)
			return (400);
		kn = colon - l;
		for (j = 0; j < kn; j++)
			if (!is_tchar((unsigned char)l[j]))
				return (400);
		v = colon + 1;
		ve = l + hi->hi_lines[i].hl_n;
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		if (kn >= 8 && strncasecmp(l, "X-Depot-", 8) == 0)
			return (400);
		if (kn == 14 && strncasecmp(l, "Content-Length", 14) == 0) {
			if (++n_length > 1 || v == ve || ve - v > 18)
				return (400);
			hi->hi_length = 0;
			for (q = v; q < ve; q++) {
				if (*q < '0' || *q > '9')
					return (400);
				hi->hi_length = hi->hi_length * 10 + (*q - '0');
			}
		} else if (kn == 17 &&
		    strncasecmp(l, "Transfer-Encoding", 17) == 0) {
			n_te++;
			if (ve - v == 7 && strncasecmp(v, "chunked", 7) == 0)
				hi->hi_chunked = 1;
			else
				te_other = 1;
		} else if (kn == 6 && strncasecmp(l, "Expect", 6) == 0 &&
		    ve - v == 12 && strncasecmp(v, "100-continue", 12) == 0)
			hi->hi_expect = 1;
	}
	if (n_te > 0 && (n_length > 0 || te_other || n_te > 1 ||
	    !hi->hi_http11))
		return (400);
	/* evhttp does not read a body for these: it would be a request. */
	if ((hi->hi_chunked || hi->hi_length > 0) && !head_may_have_body(hi))
		return (400);
	return (0);
}

/*
 * An upload: PATCH, PUT or POST with "/blobs/uploads/" in the path, or a
 * Helm chart upload (ref_helm_upload_path).
 */
static int
head_is_upload(const struct head_info *hi)
{
	const char	*q;
	size_t		 len = hi->hi_target_len;

	if (!((hi->hi_method_len == 5 &&
	    memcmp(hi->hi_method, "PATCH", 5) == 0) ||
	    (hi->hi_method_len == 3 && memcmp(hi->hi_method, "PUT", 3) == 0) ||
	    (hi->hi_method_len == 4 && memcmp(hi->hi_method, "POST", 4) == 0)))
		return (0);
	if ((q = memchr(hi->hi_target, '?', len)) != NULL)
		len = q - hi->hi_target;
	return (head_path_is_upload(hi->hi_target, len));
}

/*
 * Whether the router will take this path for an upload endpoint: the same
 * decoding and the same parser (ref_parse_v2_path), so the two never
 * disagree about which bodies are diverted.
 */
static int
head_path_is_upload(const char *target, size_t len)
{
	struct v2_path	 p;
	const char	*code = NULL;
	char		*raw, *path, *cause = NULL;
	size_t		 n;
	int		 upload = 0;

	if (ref_helm_upload_path(target, len))
		return (1);
	if (len < 4 || memcmp(target, "/v2/", 4) != 0)
		return (0);
	raw = xstrndup(target, len);
	path = evhttp_uridecode(raw, 0, &n);
	free(raw);
	if (path == NULL)
		return (0);
	memset(&p, 0, sizeof(p));
	if (strlen(path) == n &&
	    ref_parse_v2_path(path, &p, &code, &cause) == 0)
		upload = p.kind == V2_UPLOAD_START || p.kind == V2_UPLOAD;
	free(cause);
	v2_path_clear(&p);
	free(path);
	return (upload);
}

/* The methods whose bodies evhttp reads. */
static int
head_may_have_body(const struct head_info *hi)
{
	static const char	*methods[] = {
		"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"
	};
	size_t			 i;

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (hi->hi_method_len == strlen(methods[i]) &&
		    memcmp(hi->hi_method, methods[i], hi->hi_method_len) == 0)
			return (1);
	return (0);
}

static int
head_framing_header(const struct head_line *hl)
{
	return ((hl->hl_n > 14 &&
	    strncasecmp(hl->hl_p, "Content-Length:", 15) == 0) ||
	    (hl->hl_n > 17 &&
	    strncasecmp(hl->hl_p, "Transfer-Encoding:", 18) == 0) ||
	    (hl->hl_n > 6 && strncasecmp(hl->hl_p, "Expect:", 7) == 0));
}

/*
 * Copy the head to dst. With strip, without its framing headers (the
 * caller adds its own and the empty line); else as it came, with a
 * Content-Length always present, and its body follows to evhttp.
 */
static void
head_forward(struct http_conn *c, struct head_info *hi, struct evbuffer *dst,
    int strip)
{
	size_t	 i;

	for (i = 0; i < hi->hi_nlines; i++) {
		if (i > 0 && strip && head_framing_header(&hi->hi_lines[i]))
			continue;
		evbuffer_add(dst, hi->hi_lines[i].hl_p, hi->hi_lines[i].hl_n);
		evbuffer_add(dst, "\r\n", 2);
	}
	if (strip)
		return;
	/* evhttp must never guess whether a body follows. */
	if (hi->hi_length == -1)
		evbuffer_add(dst, "Content-Length: 0\r\n", 19);
	evbuffer_add(dst, "\r\n", 2);
	if (hi->hi_length > 0) {
		c->c_state = CONN_PASS;
		c->c_pass_left = (uint64_t)hi->hi_length;
	}
}

/* The body goes to a struct http_body; evhttp sees an empty one. */
static void
head_divert(struct http_conn *c, struct head_info *hi, struct evbuffer *dst)
{
	struct http_body	*b;

	b = xcalloc(1, sizeof(*b));
	b->b_conn = c;
	b->b_id = ++c->c_next_id;
	b->b_declared = hi->hi_chunked ? -1 : hi->hi_length;
	b->b_expect_continue = hi->hi_expect && hi->hi_http11;
	if ((b->b_pending = evbuffer_new()) == NULL ||
	    (b->b_notify_ev = event_new(c->c_bodies->bs_base, -1, 0,
	    body_notify_cb, b)) == NULL)
		fatalx("%s: out of memory", __func__);
	c->c_body = b;
	head_forward(c, hi, dst, 1);
	evbuffer_add_printf(dst, "Content-Length: 0\r\nX-Depot-Body: %" PRIu64
	    "\r\n\r\n", b->b_id);
	body_parser_init(&c->c_parser, b->b_declared,
	    (uint64_t)c->c_bodies->bs_max_upload);
	c->c_state = CONN_SINK;
}

/* A chunked body for evhttp: hold the head until the body is here. */
static void
head_collect(struct http_conn *c, struct head_info *hi)
{
	if ((c->c_held = evbuffer_new()) == NULL ||
	    (c->c_collected = evbuffer_new()) == NULL)
		fatalx("%s: evbuffer_new", __func__);
	c->c_request_line = xstrndup(hi->hi_lines[0].hl_p,
	    hi->hi_lines[0].hl_n);
	head_forward(c, hi, c->c_held, 1);
	body_parser_init(&c->c_parser, -1, (uint64_t)c->c_bodies->bs_max_pass);
	c->c_state = CONN_COLLECT;
}

/* A Content-Length body evhttp reads, with bounded buffering. */
static int
pass_read(struct http_conn *c, struct evbuffer *src, struct evbuffer *dst)
{
	size_t	 have = evbuffer_get_length(dst), n;

	if (have >= HTTP_BODY_IN_CAP) {
		c->c_in_blocked = 1;
		return (-1);
	}
	n = evbuffer_get_length(src);
	if (n > HTTP_BODY_IN_CAP - have)
		n = HTTP_BODY_IN_CAP - have;
	if (n > c->c_pass_left)
		n = (size_t)c->c_pass_left;
	evbuffer_remove_buffer(src, dst, n);
	c->c_pass_left -= n;
	if (c->c_pass_left == 0)
		c->c_state = CONN_HEAD;
	return (1);
}

/* How many body bytes may move now. */
static size_t
body_room(struct http_conn *c)
{
	size_t	 pending;

	if (c->c_state == CONN_COLLECT)
		return (SIZE_MAX);
	pending = evbuffer_get_length(c->c_body->b_pending);
	return (pending >= HTTP_BODY_PENDING_MAX ? 0 :
	    HTTP_BODY_PENDING_MAX - pending);
}

/*
 * Body bytes (CONN_SINK or CONN_COLLECT) through the framer, up to its
 * next event. 1 progress, 0 more input needed, -1 full.
 */
static int
body_read(struct http_conn *c, struct evbuffer *src, struct evbuffer *dst)
{
	struct evbuffer_iovec	 v;
	enum body_event		 ev;
	enum body_error		 error;
	size_t			 room = body_room(c), used;

	if (room == 0)
		return (-1);
	do {
		if (evbuffer_peek(src, -1, NULL, &v, 1) < 1)
			v.iov_len = 0;
		if (v.iov_len > room)
			v.iov_len = room;
		ev = body_parser_step(&c->c_parser, v.iov_len > 0 ?
		    v.iov_base : "", v.iov_len, &used);
		if (ev != BODY_EVENT_DATA)
			evbuffer_drain(src, used);
	} while (ev == BODY_EVENT_MORE && used > 0);
	switch (ev) {
	case BODY_EVENT_MORE:
		return (0);
	case BODY_EVENT_FRAMING:
		return (1);
	case BODY_EVENT_DATA:
		body_move(c, src, used);
		/* A Content-Length body ends with its last byte. */
		if (body_parser_step(&c->c_parser, "", 0, &used) ==
		    BODY_EVENT_END)
			body_finish(c, dst, 0, HTTP_BODY_COMPLETE);
		return (1);
	case BODY_EVENT_END:
		body_finish(c, dst, 0, HTTP_BODY_COMPLETE);
		return (1);
	case BODY_EVENT_ERROR:
		error = body_parser_error(&c->c_parser);
		log_debug("%s: body refused: %s", __func__,
		    body_parser_reason(error));
		body_finish(c, dst, 1, error == BODY_ERROR_TOO_LARGE ?
		    HTTP_BODY_TOO_LARGE : HTTP_BODY_INVALID);
		return (1);
	}
	return (0);
}

/* Move n body bytes to the body or the collection. */
static void
body_move(struct http_conn *c, struct evbuffer *src, size_t n)
{
	struct http_body	*b = c->c_body;

	if (c->c_state == CONN_COLLECT) {
		evbuffer_remove_buffer(src, c->c_collected, n);
		return;
	}
	evbuffer_remove_buffer(src, b->b_pending, n);
	b->b_received += (int64_t)n;
	body_notify(b);
}

/* The body ended (failed when error is set, with why). */
static void
body_finish(struct http_conn *c, struct evbuffer *dst, int error,
    enum http_body_end why)
{
	struct http_body	*b = c->c_body;

	if (c->c_state == CONN_COLLECT) {
		if (error)
			conn_refuse(c, dst, why == HTTP_BODY_TOO_LARGE ? 413 :
			    400, c->c_request_line, strlen(c->c_request_line));
		else {
			evbuffer_add_buffer(dst, c->c_held);
			evbuffer_add_printf(dst, "Content-Length: %zu\r\n\r\n",
			    evbuffer_get_length(c->c_collected));
			evbuffer_add_buffer(dst, c->c_collected);
			c->c_state = CONN_HEAD;
		}
		evbuffer_free(c->c_held);
		evbuffer_free(c->c_collected);
		c->c_held = c->c_collected = NULL;
		free(c->c_request_line);
		c->c_request_line = NULL;
		return;
	}
	if (error) {
		/* Framing is lost or the rest is unwanted: close after. */
		b->b_failed = 1;
		b->b_end = why;
		evbuffer_drain(b->b_pending, evbuffer_get_length(b->b_pending));
		c->c_state = CONN_DEAD;
	} else {
		b->b_complete = 1;
		c->c_state = CONN_HEAD;
		c->c_head_scan = 0;
	}
	/* Back to evhttp's rule while a handler runs: no reading. */
	if (b->b_claimed)
		bufferevent_disable(c->c_filter, EV_READ);
	body_notify(b);
}

struct http_body *
http_body_claim(struct req *r)
{
	return (r->req_body);
}

void
http_body_start(struct http_body *b, http_body_data_cb data_cb,
    http_body_done_cb done_cb, void *arg)
{
	struct http_conn	*c = b->b_conn;

	b->b_data_cb = data_cb;
	b->b_done_cb = done_cb;
	b->b_arg = arg;
	if (c != NULL && c->c_state == CONN_SINK && c->c_body == b &&
	    !c->c_dying) {
		if (b->b_expect_continue && b->b_received == 0)
			bufferevent_write(c->c_under,
			    "HTTP/1.1 100 Continue\r\n\r\n", 25);
		b->b_expect_continue = 0;
		bufferevent_enable(c->c_filter, EV_READ);
		conn_resume(c);
	}
	body_notify(b);
}

void
http_body_consumed(struct http_body *b)
{
	struct http_conn	*c = b->b_conn;

	if (c != NULL && c->c_paused &&
	    evbuffer_get_length(b->b_pending) < HTTP_BODY_PENDING_LOW)
		conn_resume(c);
	body_notify(b);
}

int64_t
http_body_declared(const struct http_body *b)
{
	return (b->b_declared);
}

int64_t
http_body_received(const struct http_body *b)
{
	return (b->b_received);
}

int
http_body_complete(const struct http_body *b)
{
	return (b->b_complete);
}

const char *
http_body_end_name(enum http_body_end end)
{
	switch (end) {
	case HTTP_BODY_COMPLETE:
		return ("complete");
	case HTTP_BODY_GONE:
		return ("client gone");
	case HTTP_BODY_INVALID:
		return ("invalid chunked framing");
	case HTTP_BODY_TOO_LARGE:
		return ("body too large");
	}
	return ("unknown");
}

void
http_body_release(struct http_body *b)
{
	struct http_conn	*c = b->b_conn;

	b->b_data_cb = NULL;
	b->b_done_cb = NULL;
	if (c != NULL) {
		c->c_body = NULL;
		b->b_conn = NULL;
		/* The rest is unwanted; the reply closes the connection. */
		if (c->c_state == CONN_SINK)
			c->c_state = CONN_DEAD;
		conn_resume(c);
	}
	if (b->b_in_cb)
		b->b_released = 1;
	else
		body_free(b);
}

/* Have the handler's callbacks run (from their own event). */
static void
body_notify(struct http_body *b)
{
	if (b->b_data_cb != NULL && !b->b_done_sent)
		event_active(b->b_notify_ev, EV_TIMEOUT, 1);
}

static void
body_notify_cb(evutil_socket_t fd, short events, void *arg)
{
	struct http_body	*b = arg;
	enum http_body_end	 end;

	(void)fd;
	(void)events;
	if (b->b_data_cb == NULL || b->b_done_sent)
		return;
	b->b_in_cb = 1;
	if (!b->b_failed && evbuffer_get_length(b->b_pending) > 0) {
		b->b_data_cb(b, b->b_pending, b->b_arg);
		if (b->b_released)
			goto released;
	}
	if (b->b_failed || (b->b_complete &&
	    evbuffer_get_length(b->b_pending) == 0)) {
		end = b->b_failed ? b->b_end : HTTP_BODY_COMPLETE;
		b->b_done_sent = 1;
		b->b_done_cb(b, end, b->b_arg);
		if (b->b_released)
			goto released;
	}
	b->b_in_cb = 0;
	if (b->b_conn != NULL && b->b_conn->c_paused &&
	    evbuffer_get_length(b->b_pending) < HTTP_BODY_PENDING_LOW)
		conn_resume(b->b_conn);
	return;

released:
	body_free(b);
}

static void
body_free(struct http_body *b)
{
	if (b == NULL)
		return;
	event_free(b->b_notify_ev);
	evbuffer_free(b->b_pending);
	free(b);
}

/* Close a socket, or first drain what the client still sends. */
static void
linger_start(struct http_bodies *bs, evutil_socket_t fd)
{
	struct http_linger	*l;
	struct timeval		 tv;
	char			 c;
	ssize_t			 n;

	n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	if (bs->bs_freeing || n == 0 || (n == -1 && errno != EAGAIN &&
	    errno != EWOULDBLOCK && errno != EINTR)) {
		close(fd);
		return;
	}
	(void)shutdown(fd, SHUT_WR);
	bs->bs_nlingers++;
	l = xcalloc(1, sizeof(*l));
	l->l_bodies = bs;
	l->l_fd = fd;
	l->l_deadline = now_ms() + HTTP_BODY_LINGER_MS;
	l->l_ev = event_new(bs->bs_base, fd, EV_READ | EV_PERSIST, linger_cb,
	    l);
	if (l->l_ev == NULL)
		fatalx("%s: event_new", __func__);
	tv.tv_sec = HTTP_BODY_LINGER_MS / 1000;
	tv.tv_usec = (HTTP_BODY_LINGER_MS % 1000) * 1000;
	event_add(l->l_ev, &tv);
	TAILQ_INSERT_TAIL(&bs->bs_lingers, l, l_entry);
}

static void
linger_cb(evutil_socket_t fd, short events, void *arg)
{
	struct http_linger	*l = arg;
	char			 buf[16384];
	ssize_t			 n;
	int			 i;

	if (events & EV_TIMEOUT) {
		linger_end(l);
		return;
	}
	for (i = 0; i < 16; i++) {
		if ((n = read(fd, buf, sizeof(buf))) > 0)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == EINTR))
			break;
		linger_end(l);	/* EOF or error */
		return;
	}
	if (now_ms() >= l->l_deadline)
		linger_end(l);
}

static void
linger_end(struct http_linger *l)
{
	struct http_bodies	*bs = l->l_bodies;

	TAILQ_REMOVE(&bs->bs_lingers, l, l_entry);
	event_free(l->l_ev);
	close(l->l_fd);
	free(l);
	bs->bs_nlingers--;
	bodies_count(bs);
}

static int
is_tchar(unsigned char ch)
{
	return ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
	    (ch >= 'A' && ch <= 'Z') ||
	    (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL));
}
