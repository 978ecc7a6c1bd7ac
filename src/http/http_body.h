/*
 * http_body.h: request bodies that stream. Every connection evhttp
 * accepts reads through a framing filter (http_body.c) that parses each
 * request head itself and:
 *  - hands the bodies of blob uploads (PATCH, PUT or POST whose path holds
 *    "/blobs/uploads/") to the handler as they arrive, with back-pressure,
 *    instead of letting evhttp buffer them whole;
 *  - lets every other body through to evhttp, at most
 *    HTTP_BODY_PASS_MAX bytes or server.max_body if smaller (a chunked
 *    one is collected first and given to evhttp with a Content-Length);
 *  - turns a request it refuses (broken framing, too large) into one that
 *    evhttp dispatches, marked with the status to answer, so that the
 *    answer goes out in order and the connection closes after it.
 *
 * A handler that finds a body with http_body_claim starts it with
 * http_body_start: data_cb runs whenever bytes are pending (it removes
 * from the evbuffer what it has written; what it leaves stays pending and
 * reading stops once about HTTP_BODY_PENDING_MAX bytes wait), and done_cb
 * runs once, with how the body ended. After done_cb the callbacks are
 * never called again. Callbacks run from their own event, never from
 * inside evhttp.
 *
 * Any http_reply* finishes the request and releases its body. A reply
 * before done_cb said HTTP_BODY_COMPLETE is an early reply: it carries
 * "Connection: close", the rest of the body is read and dropped, and the
 * connection closes after the answer.
 */
#ifndef DEPOT_HTTP_BODY_H
#define DEPOT_HTTP_BODY_H

#include <stdint.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "depot.h"

/* Bodies that are not uploads: a manifest and some room for the rest. */
#define HTTP_BODY_PASS_MAX	(DEPOT_MANIFEST_MAX + 64 * 1024)
/* Bytes of an upload body that may wait for the handler. */
#define HTTP_BODY_PENDING_MAX	(1024 * 1024)

struct req;
struct http_bodies;
struct http_body;

enum http_body_end {
	HTTP_BODY_COMPLETE,	/* every byte arrived and was handed over */
	HTTP_BODY_GONE,		/* the client left or timed out */
	HTTP_BODY_INVALID,	/* broken chunked framing */
	HTTP_BODY_TOO_LARGE	/* more than server.max_body */
};

typedef void	(*http_body_data_cb)(struct http_body *, struct evbuffer *,
		    void *);
typedef void	(*http_body_done_cb)(struct http_body *, enum http_body_end,
		    void *);
/* A reply ended: sent is how many bytes of its body went to the kernel. */
typedef void	(*http_body_sent_cb)(int64_t sent, void *);

/* For handlers. */

/* The diverted body of a request, or NULL when it has none. */
struct http_body	*http_body_claim(struct req *);
void		 http_body_start(struct http_body *, http_body_data_cb,
		    http_body_done_cb, void *arg);
/* After removing pending bytes outside data_cb: resume reading. */
void		 http_body_consumed(struct http_body *);
/* The declared Content-Length, or -1 for a chunked body. */
int64_t		 http_body_declared(const struct http_body *);
/* Bytes received from the client so far. */
int64_t		 http_body_received(const struct http_body *);
/* 1 once the whole body arrived (it may still be pending). */
int		 http_body_complete(const struct http_body *);
const char	*http_body_end_name(enum http_body_end);

/* For http.c. */

/* max_upload: server.max_body, 0 for no limit. */
struct http_bodies	*http_bodies_create(struct event_base *,
			    long long max_upload);
/* Frees once the last connection is gone; closes lingering sockets. */
void		 http_bodies_free(struct http_bodies *);
/* Make evhttp read every new connection through the filter. */
void		 http_bodies_attach(struct http_bodies *, struct evhttp *);
/*
 * Called first for every request evhttp dispatches. Returns the status a
 * refused request must be answered with (and closed), else 0; *body gets
 * the request's diverted body or NULL.
 */
int		 http_bodies_enter(struct http_bodies *,
		    struct evhttp_request *, struct http_body **body);
/* The request is answered: the body is dropped (and freed). */
void		 http_body_release(struct http_body *);
/* Bytes of answers still waiting for the kernel, on every connection. */
size_t		 http_bodies_output_pending(struct http_bodies *);
/*
 * Right after a reply (or, with stream set, the head of a stream) was
 * queued on req, with body bytes of body among it: sent_cb runs once,
 * when the reply has all gone to the kernel or its connection ended
 * first, with the bytes of the body that did (what a stream queues later
 * counts as body). Returns -1, and never calls sent_cb, when req has no
 * connection.
 */
int		 http_bodies_watch_reply(struct http_bodies *,
		    struct evhttp_request *, size_t body, int stream,
		    http_body_sent_cb, void *);
/*
 * count_cb runs whenever the number of open client sockets changes
 * (connections and those lingering before close); NULL stops it.
 */
void		 http_bodies_set_count_cb(struct http_bodies *,
		    void (*count_cb)(size_t, void *), void *);
/*
 * The status a request head (request line and header lines, up to and
 * with the empty line) is refused with, or 0: the framer's syntax rules.
 */
int		 http_body_head_check(const char *head, size_t len);

#endif /* DEPOT_HTTP_BODY_H */
