/*
 * http.h: the worker's HTTP front: evhttp on the inherited sockets,
 * routing, error replies, limits, in-flight accounting and the access log.
 */
#ifndef DEPOT_HTTP_H
#define DEPOT_HTTP_H

#include <sys/types.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "depot.h"

struct config;
struct index;
struct blobstore;
struct http_server;
struct http_body;
struct fetcher;
struct access;
struct access_caller;

/* One request being answered; handlers get it and answer through http.c. */
struct req {
	struct evhttp_request	*req_ev;
	struct http_server	*req_server;
	const char		*req_path;	/* decoded path, no query */
	struct evkeyvalq	 req_query;	/* parsed query string */
	long long		 req_start_ms;
	char			 req_client[64];
	int			 req_done;
	struct http_body	*req_body;	/* diverted body (http_body.h) */
	/* Who asks (access.h), set by oci_dispatch; freed with r. */
	struct access_caller	*req_caller;
};

/* What handlers may use of the worker. */
struct http_context {
	struct config		*ctx_config;
	struct index		*ctx_index;
	struct blobstore	*ctx_blobs;
	struct event_base	*ctx_base;
	struct fetcher		*ctx_fetcher;	/* upstream transfers */
	struct access		*ctx_access;	/* NULL: no access control */
};

typedef void (*http_handler)(struct req *);

/* A route: an exact path, or a prefix of paths, and its handler. */
struct http_route {
	const char	*rt_path;
	int		 rt_prefix;
	http_handler	 rt_handler;
};

struct http_server	*http_create(struct event_base *, struct http_context *);
/*
 * The routes of hs (kept, not copied): the first that matches a request's
 * path answers it; a path that none matches gets 404 with the OCI error
 * JSON. The worker gives the table (daemon/routes.c).
 */
void			 http_routes_set(struct http_server *,
			    const struct http_route *, size_t);
/* GET /healthz: 200 "ok" while the index answers, else 503. */
void			 http_healthz(struct req *);
/* GET /metrics: the shared counters in the Prometheus text format. */
void			 http_metrics(struct req *);
void			 http_free(struct http_server *);
/* Serve on an already bound, listening, non-blocking socket. */
int			 http_accept(struct http_server *, int fd);
/* Stop accepting; call done_cb once no request is in flight. */
void			 http_drain(struct http_server *, void (*done_cb)(void *),
			    void *arg);
/* Open (or reopen, on SIGUSR1) the access log named in the config. */
void			 http_reopen_access_log(struct http_server *);
struct http_context	*http_context(struct req *);

/*
 * The absolute URL of path (which starts with "/") as the client sees
 * this server: server.public_url when set; else X-Forwarded-Proto and
 * X-Forwarded-Host when the peer is one of server.trusted_proxies; else
 * "http://" and the Host header (or the address the client reached).
 * Caller frees.
 */
char	*http_public_url(struct req *, const char *path);

/*
 * Answers. Each finishes the request: the handler must not touch it after.
 * An answer given before a diverted body has fully arrived closes the
 * connection after it (see http_body.h). To HEAD, the body's length is
 * sent as Content-Length, and not the body.
 */
void	http_reply(struct req *, int status, const char *content_type,
	    struct evbuffer *body);
/*
 * Answer with length bytes of the open file fd from offset, sent with
 * sendfile; the fd is closed when sent (also on error). A HEAD request
 * gets the Content-Length and no body.
 */
void	http_reply_file(struct req *, int status, const char *content_type,
	    int fd, off_t offset, off_t length);
/*
 * A streamed answer. http_reply_stream_start sends the status line and
 * the headers (framed by the Content-Length the handler added, else
 * chunked); the handler then sends the body with
 * evhttp_send_reply_chunk_with_cb on r->req_ev and calls
 * http_reply_stream_end once, from an event of its own rather than from
 * inside an evhttp callback. With ok the reply ends normally; without,
 * the connection is closed so that the client sees a truncated transfer.
 * When the client has already gone (evhttp_request_get_connection() is
 * NULL), either only releases the request. The request counts as in
 * flight until then, and http_reply_stream_end frees r. The access log
 * and the metrics count the body bytes that were sent (for every answer),
 * not the bytes given here.
 */
void	http_reply_stream_start(struct req *, int status,
	    const char *content_type);
void	http_reply_stream_end(struct req *, int status, off_t bytes, int ok);
void	http_reply_text(struct req *, int status, const char *text);
void	http_reply_json_text(struct req *, int status, const char *json);
/*
 * Answer status with root encoded as compact JSON and a newline; root is
 * released.
 */
struct json_t;
void	http_reply_json(struct req *, int status, const char *content_type,
	    struct json_t *root);
/* The OCI error JSON: {"errors":[{"code","message","detail"}]}. */
void	http_reply_oci_error(struct req *, int status, const char *code,
	    const char *message, const char *detail);
void	http_header_add(struct req *, const char *name, const char *value);
const char *http_header_get(struct req *, const char *name);
const char *http_query_get(struct req *, const char *name);
enum evhttp_cmd_type http_method(struct req *);

#endif /* DEPOT_HTTP_H */
