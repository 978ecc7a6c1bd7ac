/*
 * http.c: evhttp setup for a worker, routing by the table the worker
 * gives (daemon/routes.c), replies (plain, JSON errors, files),
 * in-flight accounting for graceful drain, public URLs, the access log,
 * the request metrics with GET /metrics, and GET /healthz.
 * It also decides when to accept: not beyond server.max_connections, and
 * not for a moment after accept() failed (out of descriptors).
 * Request bodies pass through the framing filter of http_body.c; handlers
 * for each family of paths live in their own files.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <jansson.h>

#include "conf/config.h"
#include "access/access.h"
#include "http/http_auth.h"
#include "http/http.h"
#include "http/http_body.h"
#include "store/index.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/util.h"
#include "lib/xmalloc.h"

#define HTTP_MAX_HEADERS_SIZE	(64 * 1024)
#define HTTP_MAX_BOUND		16
#define HTTP_HOST_MAX		255
#define HTTP_DRAIN_POLL_MS	50
/* Files up to this size are read into the reply: one write with the head. */
#define HTTP_FILE_INLINE_MAX	(16 * 1024)
#define HTTP_ACCEPT_PAUSE_MS	250	/* after accept() failed */
#define HTTP_ACCEPT_LOG_MS	10000	/* between accept warnings */
/* max_connections = 0: from RLIMIT_NOFILE, keeping these for the rest. */
#define HTTP_FD_RESERVE		32
#define HTTP_CONNS_MIN		16

struct http_server {
	LIST_ENTRY(http_server)		 hs_entry;
	struct evhttp			*hs_http;
	struct http_bodies		*hs_bodies;
	struct http_context		*hs_ctx;
	struct evhttp_bound_socket	*hs_bound[HTTP_MAX_BOUND];
	int				 hs_nbound;
	int				 hs_inflight;
	int				 hs_draining;
	struct event			*hs_drain_ev;
	void				(*hs_drained_cb)(void *);
	void				*hs_drained_arg;
	int				 hs_access_fd;
	struct event			*hs_accept_ev; /* pause ends */
	int				 hs_accept_paused;
	int				 hs_accepting;	/* listening */
	size_t				 hs_open;	/* sockets */
	size_t				 hs_max_open;
	long long			 hs_accept_warned_ms;
	unsigned int			 hs_accept_failures;
	long long			 hs_full_warned_ms;
	const struct http_route		*hs_routes;	/* http_routes_set */
	size_t				 hs_nroutes;
};

/* What the access log and the metrics say of a reply, once it is sent. */
struct http_log {
	struct http_server	*lg_server;
	char			*lg_uri;
	long long		 lg_start_ms;
	enum evhttp_cmd_type	 lg_method;
	int			 lg_status;
	char			 lg_client[64];
	char			 lg_registry[DEPOT_NAME_MAX + 1];
};

static void	http_dispatch_cb(struct evhttp_request *, void *);
static const char *http_query_nul(const char *, size_t *);
static void	http_route(struct req *);
static int	http_query_lenient(const char *, const char *,
		    struct evkeyvalq *);
static void	http_metrics_registry(struct req *, char *, size_t);
static void	http_not_found(struct req *);
static void	http_refused(struct req *, int status);
static void	http_drop_body(struct req *);
static void	http_finish(struct req *);
static int	http_file_read(struct evbuffer *, int, off_t, size_t);
static struct http_log *http_log_start(struct req *, int status);
static void	http_log_watch(struct http_server *, struct evhttp_request *,
		    size_t, int, struct http_log *);
static void	http_log_sent_cb(int64_t, void *);
static void	http_drain_check_cb(evutil_socket_t, short, void *);
static size_t	http_max_connections(struct config *);
static void	http_count_cb(size_t, void *);
static void	http_accept_error_cb(struct evconnlistener *, void *);
static void	http_accept_resume_cb(evutil_socket_t, short, void *);
static void	http_accept_update(struct http_server *);
static int	http_host_valid(const char *, size_t);
static char	*http_header_first(struct req *, const char *name);
static int	http_peer_trusted(struct req *);
static char	*http_local_address(struct req *);
static void	http_access_log(struct http_log *, int64_t bytes);
static const char *http_method_name(enum evhttp_cmd_type);

/* Every server of this process, for the accept error callback. */
static LIST_HEAD(, http_server) http_servers =
    LIST_HEAD_INITIALIZER(http_servers);

struct http_server *
http_create(struct event_base *base, struct http_context *ctx)
{
	struct http_server	*hs;
	struct timeval		 tv;

	hs = xcalloc(1, sizeof(*hs));
	hs->hs_ctx = ctx;
	hs->hs_access_fd = -1;
	if ((hs->hs_http = evhttp_new(base)) == NULL)
		fatalx("%s: evhttp_new failed", __func__);
	tv.tv_sec = ctx->ctx_config->cf_server.srv_request_timeout;
	tv.tv_usec = 0;
	evhttp_set_timeout_tv(hs->hs_http, &tv);
	evhttp_set_max_headers_size(hs->hs_http, HTTP_MAX_HEADERS_SIZE);
	/* Upload bodies stream past evhttp; server.max_body limits them. */
	evhttp_set_max_body_size(hs->hs_http, HTTP_BODY_PASS_MAX);
	hs->hs_bodies = http_bodies_create(base,
	    ctx->ctx_config->cf_server.srv_max_body);
	http_bodies_attach(hs->hs_bodies, hs->hs_http);
	evhttp_set_allowed_methods(hs->hs_http, EVHTTP_REQ_GET |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
	    EVHTTP_REQ_PATCH | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS);
	evhttp_set_default_content_type(hs->hs_http, "text/plain");
	evhttp_set_gencb(hs->hs_http, http_dispatch_cb, hs);
	if ((hs->hs_drain_ev = evtimer_new(base, http_drain_check_cb, hs)) ==
	    NULL ||
	    (hs->hs_accept_ev = evtimer_new(base, http_accept_resume_cb, hs)) ==
	    NULL)
		fatalx("%s: evtimer_new", __func__);
	hs->hs_accepting = 1;
	hs->hs_max_open = http_max_connections(ctx->ctx_config);
	http_bodies_set_count_cb(hs->hs_bodies, http_count_cb, hs);
	LIST_INSERT_HEAD(&http_servers, hs, hs_entry);
	http_reopen_access_log(hs);
	log_debug("accepting up to %zu connections", hs->hs_max_open);
	return (hs);
}

/*
 * server.max_connections, or when 0 what the descriptor limit allows:
 * a connection may hold a file and an upstream socket besides its own.
 */
static size_t
http_max_connections(struct config *cf)
{
	struct rlimit	 rl;
	rlim_t		 n;

	if (cf->cf_server.srv_max_connections > 0)
		return ((size_t)cf->cf_server.srv_max_connections);
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 ||
	    rl.rlim_cur == RLIM_INFINITY)
		return (INT_MAX);
	n = rl.rlim_cur > HTTP_FD_RESERVE ?
	    (rl.rlim_cur - HTTP_FD_RESERVE) / 2 : 0;
	if (n < HTTP_CONNS_MIN)
		n = HTTP_CONNS_MIN;
	return (n > INT_MAX ? INT_MAX : (size_t)n);
}

void
http_free(struct http_server *hs)
{
	if (hs == NULL)
		return;
	/* Connections close below: no more accept decisions. */
	http_bodies_set_count_cb(hs->hs_bodies, NULL, NULL);
	hs->hs_nbound = 0;
	if (hs->hs_http != NULL)
		evhttp_free(hs->hs_http);
	http_bodies_free(hs->hs_bodies);
	LIST_REMOVE(hs, hs_entry);
	if (hs->hs_drain_ev != NULL)
		event_free(hs->hs_drain_ev);
	if (hs->hs_accept_ev != NULL)
		event_free(hs->hs_accept_ev);
	if (hs->hs_access_fd != -1)
		close(hs->hs_access_fd);
	free(hs);
}

int
http_accept(struct http_server *hs, int fd)
{
	struct evhttp_bound_socket	*bound;
	struct evconnlistener		*lev;

	if (hs->hs_nbound == HTTP_MAX_BOUND) {
		log_warnx("%s: too many listening sockets", __func__);
		return (-1);
	}
	if ((bound = evhttp_accept_socket_with_handle(hs->hs_http, fd)) ==
	    NULL) {
		log_warnx("%s: cannot accept on fd %d", __func__, fd);
		return (-1);
	}
	hs->hs_bound[hs->hs_nbound++] = bound;
	lev = evhttp_bound_socket_get_listener(bound);
	evconnlistener_set_error_cb(lev, http_accept_error_cb);
	if (!hs->hs_accepting)
		evconnlistener_disable(lev);
	return (0);
}

/*
 * accept() failed, most likely out of descriptors (EMFILE, ENFILE): the
 * socket stays readable, so stop accepting for a moment rather than
 * spin, and say so at most every HTTP_ACCEPT_LOG_MS.
 */
static void
http_accept_error_cb(struct evconnlistener *lev, void *arg)
{
	struct http_server	*hs;
	struct timeval		 tv;
	int			 error = errno;
	long long		 now = now_ms();

	LIST_FOREACH(hs, &http_servers, hs_entry)
		if (hs->hs_http == arg)
			break;
	if (hs == NULL) {
		evconnlistener_disable(lev);	/* not ours: never spin */
		return;
	}
	hs->hs_accept_failures++;
	if (now - hs->hs_accept_warned_ms >= HTTP_ACCEPT_LOG_MS) {
		log_warnx("accept: %s (%zu connections open, %u failures); "
		    "pausing", strerror(error), hs->hs_open,
		    hs->hs_accept_failures);
		hs->hs_accept_warned_ms = now;
		hs->hs_accept_failures = 0;
	}
	hs->hs_accept_paused = 1;
	http_accept_update(hs);
	tv.tv_sec = 0;
	tv.tv_usec = HTTP_ACCEPT_PAUSE_MS * 1000;
	evtimer_add(hs->hs_accept_ev, &tv);
}

static void
http_accept_resume_cb(evutil_socket_t fd, short events, void *arg)
{
	struct http_server	*hs = arg;

	(void)fd;
	(void)events;
	hs->hs_accept_paused = 0;
	http_accept_update(hs);
}

/* The number of open client sockets changed. */
static void
http_count_cb(size_t open, void *arg)
{
	struct http_server	*hs = arg;
	long long		 now;

	/* A socket closed after accept() failed: try again at once. */
	if (open < hs->hs_open && hs->hs_accept_paused) {
		evtimer_del(hs->hs_accept_ev);
		hs->hs_accept_paused = 0;
	}
	hs->hs_open = open;
	if (open >= hs->hs_max_open && hs->hs_accepting &&
	    (now = now_ms()) - hs->hs_full_warned_ms >= HTTP_ACCEPT_LOG_MS) {
		log_warnx("%zu connections open (max_connections): not "
		    "accepting until one closes", open);
		hs->hs_full_warned_ms = now;
	}
	http_accept_update(hs);
}

/* Accept unless paused or at max_connections. */
static void
http_accept_update(struct http_server *hs)
{
	struct evconnlistener	*lev;
	int			 on, i;

	on = !hs->hs_accept_paused && hs->hs_open < hs->hs_max_open;
	if (on == hs->hs_accepting)
		return;
	hs->hs_accepting = on;
	for (i = 0; i < hs->hs_nbound; i++) {
		lev = evhttp_bound_socket_get_listener(hs->hs_bound[i]);
		if (on)
			evconnlistener_enable(lev);
		else
			evconnlistener_disable(lev);
	}
}

void
http_drain(struct http_server *hs, void (*done_cb)(void *), void *arg)
{
	int	 i;

	if (!hs->hs_draining) {
		for (i = 0; i < hs->hs_nbound; i++)
			evhttp_del_accept_socket(hs->hs_http, hs->hs_bound[i]);
		hs->hs_nbound = 0;
		hs->hs_draining = 1;
	}
	hs->hs_drained_cb = done_cb;
	hs->hs_drained_arg = arg;
	if (hs->hs_inflight == 0)
		event_active(hs->hs_drain_ev, EV_TIMEOUT, 1);
}

/*
 * Draining and nothing in flight: done once the last answers have left
 * for the kernel too (a blob may take a while to send).
 */
static void
http_drain_check_cb(evutil_socket_t fd, short events, void *arg)
{
	struct http_server	*hs = arg;
	struct timeval		 tv;
	void			(*done_cb)(void *);

	(void)fd;
	(void)events;
	if (hs->hs_inflight > 0 || hs->hs_drained_cb == NULL)
		return;
	if (http_bodies_output_pending(hs->hs_bodies) > 0) {
		tv.tv_sec = 0;
		tv.tv_usec = HTTP_DRAIN_POLL_MS * 1000;
		evtimer_add(hs->hs_drain_ev, &tv);
		return;
	}
	done_cb = hs->hs_drained_cb;
	hs->hs_drained_cb = NULL;
	done_cb(hs->hs_drained_arg);
}

void
http_reopen_access_log(struct http_server *hs)
{
	const char	*path = hs->hs_ctx->ctx_config->cf_server.srv_log.log_access_log;
	int		 fd;

	if (path == NULL)
		return;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1) {
		log_warn("%s: %s", __func__, path);
		return;
	}
	if (hs->hs_access_fd != -1)
		close(hs->hs_access_fd);
	hs->hs_access_fd = fd;
}

struct http_context *
http_context(struct req *r)
{
	return (r->req_server->hs_ctx);
}

/*
 * The name of the first parameter of query whose value decodes with a
 * NUL in it (a %00: evhttp would cut the value there), its length in
 * *len; or NULL. evhttp decodes values only, and a '%' never belongs to
 * an escape before it, so "%00" in a value is exactly a NUL decoded.
 */
static const char *
http_query_nul(const char *query, size_t *len)
{
	const char	*p, *eq;
	size_t		 n;

	for (p = query; *p != '\0'; p += n + (p[n] == '&')) {
		n = strcspn(p, "&");
		if ((eq = memchr(p, '=', n)) == NULL)
			continue;
		if (memmem(eq, n - (size_t)(eq - p), "%00", 3) != NULL) {
			*len = (size_t)(eq - p);
			return (p);
		}
	}
	return (NULL);
}

/*
 * A query of a /helm/ path, where a key may come without "=" (as in
 * ChartMuseum's ?force): parsed as if it had one. 0, or -1.
 */
static int
http_query_lenient(const char *path, const char *query, struct evkeyvalq *q)
{
	char	*fixed, *part, *save = NULL, *copy;
	size_t	 n;
	int	 ret;

	evhttp_clear_headers(q);
	if (strncmp(path, "/helm/", 6) != 0)
		return (-1);
	n = strlen(query);
	fixed = xcalloc(1, 2 * n + 2);
	copy = xstrdup(query);
	for (part = strtok_r(copy, "&", &save); part != NULL;
	    part = strtok_r(NULL, "&", &save)) {
		if (*fixed != '\0')
			strcat(fixed, "&");
		strcat(fixed, part);
		if (strchr(part, '=') == NULL)
			strcat(fixed, "=");
	}
	ret = evhttp_parse_query_str(fixed, q);
	free(copy);
	free(fixed);
	return (ret == 0 ? 0 : -1);
}

/* Every request starts here: set up its state and route it. */
static void
http_dispatch_cb(struct evhttp_request *ev, void *arg)
{
	struct http_server		*hs = arg;
	struct req			*r;
	const struct evhttp_uri		*uri;
	const char			*path, *query, *bad;
	char				*decoded, *peer;
	ev_uint16_t			 port;
	size_t				 len;
	int				 refused;

	r = xcalloc(1, sizeof(*r));
	r->req_ev = ev;
	r->req_server = hs;
	r->req_start_ms = now_ms();
	TAILQ_INIT(&r->req_query);
	hs->hs_inflight++;
	metrics_inflight_add(1);
	refused = http_bodies_enter(hs->hs_bodies, ev, &r->req_body);
	evhttp_connection_get_peer(evhttp_request_get_connection(ev), &peer,
	    &port);
	snprintf(r->req_client, sizeof(r->req_client), "%s", peer);

	uri = evhttp_request_get_evhttp_uri(ev);
	path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	if (path == NULL || *path == '\0')
		path = "/";
	decoded = evhttp_uridecode(path, 0, &len);
	if (decoded == NULL || strlen(decoded) != len) {
		/* A %00 in the path: refuse rather than truncate. */
		free(decoded);
		r->req_path = xstrdup("");
		http_reply_oci_error(r, 400, "NAME_INVALID",
		    "invalid path encoding", NULL);
		return;
	}
	r->req_path = decoded;
	if (refused != 0) {
		http_refused(r, refused);
		return;
	}
	query = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
	if (query != NULL &&
	    evhttp_parse_query_str(query, &r->req_query) != 0 &&
	    http_query_lenient(r->req_path, query, &r->req_query) != 0) {
		http_reply_oci_error(r, 400, "UNSUPPORTED",
		    "malformed query string", NULL);
		return;
	}
	if (query != NULL && (bad = http_query_nul(query, &len)) != NULL) {
		/* As in the path: refuse rather than truncate the value. */
		if ((len == 6 && strncmp(bad, "digest", len) == 0) ||
		    (len == 5 && strncmp(bad, "mount", len) == 0))
			http_reply_oci_error(r, 400, "DIGEST_INVALID",
			    "invalid digest encoding", NULL);
		else
			http_reply_oci_error(r, 400, "UNSUPPORTED",
			    "invalid query encoding", NULL);
		return;
	}
	if (hs->hs_draining)
		evhttp_add_header(evhttp_request_get_output_headers(ev),
		    "Connection", "close");
	http_route(r);
}

void
http_routes_set(struct http_server *hs, const struct http_route *routes,
    size_t nroutes)
{
	hs->hs_routes = routes;
	hs->hs_nroutes = nroutes;
}

static void
http_route(struct req *r)
{
	const struct http_route	*rt = r->req_server->hs_routes;
	size_t			 i, n;

	if (strlen(r->req_path) > 4096) {
		http_reply_oci_error(r, 414, "UNSUPPORTED", "path too long",
		    NULL);
		return;
	}
	for (i = 0; i < r->req_server->hs_nroutes; i++) {
		n = strlen(rt[i].rt_path);
		if (rt[i].rt_prefix ? strncmp(r->req_path, rt[i].rt_path, n) == 0 :
		    strcmp(r->req_path, rt[i].rt_path) == 0) {
			rt[i].rt_handler(r);
			return;
		}
	}
	http_not_found(r);
}

void
http_healthz(struct req *r)
{
	struct http_context	*ctx = http_context(r);

	if (http_method(r) != EVHTTP_REQ_GET &&
	    http_method(r) != EVHTTP_REQ_HEAD) {
		http_reply_oci_error(r, 405, "UNSUPPORTED",
		    "method not allowed", NULL);
		return;
	}
	if (index_health(ctx->ctx_index) == -1) {
		http_reply_text(r, 503, "index unavailable\n");
		return;
	}
	http_reply_text(r, 200, "ok\n");
}

void
http_metrics(struct req *r)
{
	struct evbuffer	*body;
	char		*text;

	if (http_method(r) != EVHTTP_REQ_GET &&
	    http_method(r) != EVHTTP_REQ_HEAD) {
		http_reply_oci_error(r, 405, "UNSUPPORTED",
		    "method not allowed", NULL);
		return;
	}
	/* server.metrics_read; registry names are not everyone's. */
	if (http_auth_check_metrics(r, http_metrics) == -1)
		return;
	if ((text = metrics_render()) == NULL) {
		http_reply_text(r, 503, "metrics unavailable\n");
		return;
	}
	if ((body = evbuffer_new()) == NULL)
		fatalx("%s: evbuffer_new", __func__);
	evbuffer_add(body, text, strlen(text));
	free(text);
	http_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", body);
	evbuffer_free(body);
}

/*
 * The registry label of a request: the first component of a /v2/<name>/
 * path when it names a configured registry or upstream key, else "".
 * Client input that names nothing configured never becomes a label.
 */
static void
http_metrics_registry(struct req *r, char *buf, size_t len)
{
	struct config	*cf = http_context(r)->ctx_config;
	const char	*name;
	size_t		 n;

	buf[0] = '\0';
	if (strncmp(r->req_path, "/helm/", 6) == 0)
		name = r->req_path + 6;
	else if (strncmp(r->req_path, "/v2/", 4) == 0)
		name = r->req_path + 4;
	else
		return;
	n = strcspn(name, "/");
	if (name[n] != '/' || n == 0 || n >= len)
		return;
	memcpy(buf, name, n);
	buf[n] = '\0';
	if (config_name_find(cf, buf, NULL, NULL))
		return;
	/* Served by the mirror registry (see oci.c), counted there. */
	if (r->req_path[1] == 'v' &&
	    cf->cf_server.srv_mirror_registry != NULL &&
	    strlen(cf->cf_server.srv_mirror_registry) < len)
		(void)strcpy(buf, cf->cf_server.srv_mirror_registry);
	else
		buf[0] = '\0';
}

static void
http_not_found(struct req *r)
{
	http_reply_oci_error(r, 404, "UNSUPPORTED",
	    "no such endpoint", r->req_path);
}

/* A request the framing filter refused; the connection closes after. */
static void
http_refused(struct req *r, int status)
{
	http_header_add(r, "Connection", "close");
	if (status == 413)
		http_reply_oci_error(r, 413, http_method(r) == EVHTTP_REQ_PUT &&
		    strstr(r->req_path, "/manifests/") != NULL ?
		    "MANIFEST_INVALID" : "SIZE_INVALID",
		    "request body too large", NULL);
	else if (status == 431)
		http_reply_oci_error(r, 431, "UNSUPPORTED",
		    "request header fields too large", NULL);
	else
		http_reply_oci_error(r, status, "UNSUPPORTED",
		    "malformed request", NULL);
}

char *
http_public_url(struct req *r, const char *path)
{
	struct config	*cf = http_context(r)->ctx_config;
	char		*url, *host = NULL, *proto = NULL;
	const char	*h;

	if (cf->cf_server.srv_public_url != NULL) {
		xasprintf(&url, "%s%s", cf->cf_server.srv_public_url, path);
		return (url);
	}
	if (http_peer_trusted(r) &&
	    (host = http_header_first(r, "X-Forwarded-Host")) != NULL) {
		proto = http_header_first(r, "X-Forwarded-Proto");
		if (proto == NULL || (strcasecmp(proto, "http") != 0 &&
		    strcasecmp(proto, "https") != 0)) {
			free(proto);
			proto = xstrdup("http");
		}
		xasprintf(&url, "%s://%s%s", strcasecmp(proto, "https") == 0 ?
		    "https" : "http", host, path);
		free(host);
		free(proto);
		return (url);
	}
	if ((h = http_header_get(r, "Host")) != NULL &&
	    http_host_valid(h, strlen(h)))
		host = xstrdup(h);
	else
		host = http_local_address(r);
	xasprintf(&url, "http://%s%s", host, path);
	free(host);
	return (url);
}

/* A host[:port] safe to put in a URL and a header. */
static int
http_host_valid(const char *s, size_t len)
{
	size_t	 i;

	if (len == 0 || len > HTTP_HOST_MAX)
		return (0);
	for (i = 0; i < len; i++)
		if (s[i] == '\0' || strchr("abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:[]", s[i]) == NULL)
			return (0);
	return (1);
}

/* The first element of a comma-separated header, if valid. Caller frees. */
static char *
http_header_first(struct req *r, const char *name)
{
	const char	*v = http_header_get(r, name);
	size_t		 len;

	if (v == NULL)
		return (NULL);
	v += strspn(v, " \t");
	len = strcspn(v, ",");
	while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
		len--;
	if (!http_host_valid(v, len))
		return (NULL);
	return (xstrndup(v, len));
}

/* Is the peer one of server.trusted_proxies? */
static int
http_peer_trusted(struct req *r)
{
	return (access_address_trusted(http_context(r)->ctx_config,
	    r->req_client));
}

/* The address and port the client connected to. Caller frees. */
static char *
http_local_address(struct req *r)
{
	struct evhttp_connection	*evcon;
	struct sockaddr_storage		 ss;
	socklen_t			 sslen = sizeof(ss);
	char				 addr[INET6_ADDRSTRLEN], *s;
	struct config			*cf = http_context(r)->ctx_config;
	evutil_socket_t			 fd = -1;

	if ((evcon = evhttp_request_get_connection(r->req_ev)) != NULL)
		fd = bufferevent_getfd(
		    evhttp_connection_get_bufferevent(evcon));
	if (fd != -1 && getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0) {
		if (ss.ss_family == AF_INET && inet_ntop(AF_INET,
		    &((struct sockaddr_in *)&ss)->sin_addr, addr,
		    sizeof(addr)) != NULL) {
			xasprintf(&s, "%s:%u", addr,
			    ntohs(((struct sockaddr_in *)&ss)->sin_port));
			return (s);
		}
		if (ss.ss_family == AF_INET6 && inet_ntop(AF_INET6,
		    &((struct sockaddr_in6 *)&ss)->sin6_addr, addr,
		    sizeof(addr)) != NULL) {
			xasprintf(&s, "[%s]:%u", addr,
			    ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
			return (s);
		}
	}
	if (cf->cf_server.srv_nlisten > 0)
		return (xstrdup(cf->cf_server.srv_listen[0].l_text));
	return (xstrdup("localhost"));
}

void
http_reply(struct req *r, int status, const char *content_type,
    struct evbuffer *body)
{
	struct evhttp_request	*ev = r->req_ev;
	struct evkeyvalq	*out = evhttp_request_get_output_headers(ev);
	struct http_server	*hs = r->req_server;
	struct http_log		*lg;
	size_t			 bytes = body != NULL ? evbuffer_get_length(body) : 0;
	int			 connected;
	char			 len[32];

	if (content_type != NULL && evhttp_find_header(out, "Content-Type") ==
	    NULL)
		evhttp_add_header(out, "Content-Type", content_type);
	if (r->req_body != NULL)
		http_drop_body(r);
	if (http_method(r) == EVHTTP_REQ_HEAD) {
		/* evhttp would send the body: say its length instead. */
		if (body != NULL && evhttp_find_header(out, "Content-Length") ==
		    NULL) {
			(void)snprintf(len, sizeof(len), "%zu", bytes);
			evhttp_add_header(out, "Content-Length", len);
		}
		body = NULL;
		bytes = 0;
	}
	/*
	 * Finish first: evhttp frees a request whose client is gone as soon
	 * as it is answered. A request with a connection lives on until its
	 * reply is written (never at once: writes are deferred).
	 */
	lg = http_log_start(r, status);
	connected = evhttp_request_get_connection(ev) != NULL;
	http_finish(r);
	evhttp_send_reply(ev, status, NULL, body);
	http_log_watch(hs, connected ? ev : NULL, bytes, 0, lg);
}

/* Answered before the body was read: close after, drop the rest. */
static void
http_drop_body(struct req *r)
{
	struct evkeyvalq	*out = evhttp_request_get_output_headers(r->req_ev);

	if (!http_body_complete(r->req_body) &&
	    evhttp_find_header(out, "Connection") == NULL)
		evhttp_add_header(out, "Connection", "close");
	http_body_release(r->req_body);
	r->req_body = NULL;
}

void
http_reply_file(struct req *r, int status, const char *content_type, int fd,
    off_t offset, off_t length)
{
	struct evbuffer	*body;
	char		 len[32];

	if (http_method(r) == EVHTTP_REQ_HEAD) {
		close(fd);
		(void)snprintf(len, sizeof(len), "%lld", (long long)length);
		http_header_add(r, "Content-Length", len);
		http_reply(r, status, content_type, NULL);
		return;
	}
	if ((body = evbuffer_new()) == NULL)
		fatalx("%s: evbuffer_new", __func__);
	/*
	 * A small file (a manifest, a config blob) goes out in one write
	 * with the head; a larger one with sendfile.
	 */
	if (length == 0 || (length <= HTTP_FILE_INLINE_MAX &&
	    http_file_read(body, fd, offset, (size_t)length) == 0))
		close(fd);
	else {
		/* Without this flag evbuffer_add_file reads, not sendfile. */
		evbuffer_set_flags(body, EVBUFFER_FLAG_DRAINS_TO_FD);
		if (evbuffer_add_file(body, fd, offset, length) == -1)
			fatalx("%s: evbuffer_add_file", __func__); /* memory */
	}
	http_reply(r, status, content_type, body);
	evbuffer_free(body);
}

/*
 * Read length (at most HTTP_FILE_INLINE_MAX) bytes of fd from offset into
 * buf. 0, or -1 with buf unchanged (the caller falls back to sendfile,
 * which then fails the way a large file does).
 */
static int
http_file_read(struct evbuffer *buf, int fd, off_t offset, size_t length)
{
	char	 data[HTTP_FILE_INLINE_MAX];
	size_t	 got = 0;
	ssize_t	 n;

	while (got < length) {
		n = pread(fd, data + got, length - got, offset + (off_t)got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			log_warn("%s: pread", __func__);
			return (-1);
		}
		if (n == 0) {
			log_warnx("%s: file shorter than %zu bytes", __func__,
			    length);
			return (-1);
		}
		got += (size_t)n;
	}
	evbuffer_add(buf, data, length);
	return (0);
}

void
http_reply_stream_start(struct req *r, int status, const char *content_type)
{
	struct evkeyvalq	*out = evhttp_request_get_output_headers(r->req_ev);
	struct http_log		*lg;
	int			 connected;

	if (content_type != NULL && evhttp_find_header(out, "Content-Type") ==
	    NULL)
		evhttp_add_header(out, "Content-Type", content_type);
	if (r->req_body != NULL)
		http_drop_body(r);
	lg = http_log_start(r, status);
	connected = evhttp_request_get_connection(r->req_ev) != NULL;
	evhttp_send_reply_start(r->req_ev, status, NULL);
	http_log_watch(r->req_server, connected ? r->req_ev : NULL, 0, 1, lg);
}

void
http_reply_stream_end(struct req *r, int status, off_t bytes, int ok)
{
	struct evhttp_request		*ev = r->req_ev;
	struct evhttp_connection	*evcon;

	/* Logged with what was sent, when it was (http_reply_stream_start). */
	(void)status;
	(void)bytes;
	http_finish(r);
	evcon = evhttp_request_get_connection(ev);
	if (ok || evcon == NULL)
		evhttp_send_reply_end(ev);	/* frees a detached request */
	else
		evhttp_connection_free(evcon);	/* frees the request too */
}

void
http_reply_text(struct req *r, int status, const char *text)
{
	struct evbuffer	*body;

	if ((body = evbuffer_new()) == NULL)
		fatalx("%s: evbuffer_new", __func__);
	evbuffer_add(body, text, strlen(text));
	http_reply(r, status, "text/plain; charset=utf-8", body);
	evbuffer_free(body);
}

void
http_reply_json_text(struct req *r, int status, const char *json)
{
	struct evbuffer	*body;

	if ((body = evbuffer_new()) == NULL)
		fatalx("%s: evbuffer_new", __func__);
	evbuffer_add(body, json, strlen(json));
	http_reply(r, status, "application/json", body);
	evbuffer_free(body);
}

void
http_reply_json(struct req *r, int status, const char *content_type,
    json_t *root)
{
	struct evbuffer	*body;
	char		*text;

	if (root == NULL || (text = json_dumps(root, JSON_COMPACT)) == NULL)
		fatalx("%s: json encoding", __func__);
	json_decref(root);
	if ((body = evbuffer_new()) == NULL)
		fatalx("%s: evbuffer_new", __func__);
	evbuffer_add(body, text, strlen(text));
	evbuffer_add(body, "\n", 1);
	free(text);
	http_reply(r, status, content_type, body);
	evbuffer_free(body);
}

void
http_reply_oci_error(struct req *r, int status, const char *code,
    const char *message, const char *detail)
{
	json_t		*err, *root;

	err = json_pack("{s:s, s:s}", "code", code, "message", message);
	if (err == NULL)
		fatalx("%s: json_pack", __func__);
	json_object_set_new(err, "detail", detail != NULL ?
	    json_string(detail) : json_null());
	root = json_pack("{s:[o]}", "errors", err);
	http_reply_json(r, status, "application/json", root);
}

void
http_header_add(struct req *r, const char *name, const char *value)
{
	evhttp_add_header(evhttp_request_get_output_headers(r->req_ev), name,
	    value);
}

const char *
http_header_get(struct req *r, const char *name)
{
	return (evhttp_find_header(evhttp_request_get_input_headers(r->req_ev),
	    name));
}

const char *
http_query_get(struct req *r, const char *name)
{
	return (evhttp_find_header(&r->req_query, name));
}

enum evhttp_cmd_type
http_method(struct req *r)
{
	return (evhttp_request_get_command(r->req_ev));
}

/* The request is answered: free its state, maybe end a drain. */
static void
http_finish(struct req *r)
{
	struct http_server	*hs = r->req_server;

	metrics_inflight_add(-1);
	evhttp_clear_headers(&r->req_query);
	if (r->req_caller != NULL) {
		access_caller_clear(r->req_caller);
		free(r->req_caller);
	}
	free((char *)r->req_path);
	free(r);
	hs->hs_inflight--;
	if (hs->hs_draining && hs->hs_inflight == 0)
		event_active(hs->hs_drain_ev, EV_TIMEOUT, 1);
}

/* What to log of the reply about to be queued; http_log_sent_cb frees. */
static struct http_log *
http_log_start(struct req *r, int status)
{
	struct http_log	*lg;
	const char	*uri = evhttp_request_get_uri(r->req_ev);

	lg = xcalloc(1, sizeof(*lg));
	lg->lg_server = r->req_server;
	lg->lg_uri = xstrdup(uri != NULL ? uri : "-");
	lg->lg_start_ms = r->req_start_ms;
	lg->lg_method = http_method(r);
	lg->lg_status = status;
	(void)snprintf(lg->lg_client, sizeof(lg->lg_client), "%s",
	    r->req_client);
	http_metrics_registry(r, lg->lg_registry, sizeof(lg->lg_registry));
	return (lg);
}

/*
 * Log the reply just queued on ev once it has gone out, or its connection
 * ended, with the body bytes the kernel took; at once (0 bytes) when ev
 * is NULL, its client gone.
 */
static void
http_log_watch(struct http_server *hs, struct evhttp_request *ev,
    size_t body, int stream, struct http_log *lg)
{
	if (ev == NULL || http_bodies_watch_reply(hs->hs_bodies, ev, body,
	    stream, http_log_sent_cb, lg) == -1)
		http_log_sent_cb(0, lg);
}

static void
http_log_sent_cb(int64_t sent, void *arg)
{
	struct http_log	*lg = arg;

	http_access_log(lg, sent);
	metrics_request(lg->lg_registry, http_method_name(lg->lg_method),
	    lg->lg_status, sent > 0 ? (size_t)sent : 0);
	free(lg->lg_uri);
	free(lg);
}

/*
 * One line per request: client, time, request line, status, body bytes
 * sent, ms until the reply was sent.
 */
static void
http_access_log(struct http_log *lg, int64_t bytes)
{
	struct http_server	*hs = lg->lg_server;
	char			 line[6144], when[64];
	time_t			 t;
	struct tm		 tm;
	int			 n;

	if (hs->hs_access_fd == -1)
		return;
	t = time(NULL);
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%d/%b/%Y:%H:%M:%S +0000", &tm);
	n = snprintf(line, sizeof(line), "%s - - [%s] \"%s %.4096s\" %d %lld "
	    "%lldms\n", lg->lg_client, when, http_method_name(lg->lg_method),
	    lg->lg_uri, lg->lg_status, (long long)bytes,
	    now_ms() - lg->lg_start_ms);
	if (n > 0 && (size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	if (n > 0 && write_all(hs->hs_access_fd, line, (size_t)n) == -1)
		log_warn("%s: write", __func__);
}

static const char *
http_method_name(enum evhttp_cmd_type m)
{
	switch (m) {
	case EVHTTP_REQ_GET:	return ("GET");
	case EVHTTP_REQ_HEAD:	return ("HEAD");
	case EVHTTP_REQ_POST:	return ("POST");
	case EVHTTP_REQ_PUT:	return ("PUT");
	case EVHTTP_REQ_PATCH:	return ("PATCH");
	case EVHTTP_REQ_DELETE:	return ("DELETE");
	case EVHTTP_REQ_OPTIONS: return ("OPTIONS");
	default:		return ("OTHER");
	}
}
