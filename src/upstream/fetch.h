/*
 * fetch.h: asynchronous HTTP(S) client transfers for one worker.
 *
 * A fetcher is one libcurl multi handle driven by the worker's libevent
 * event_base: curl tells us which sockets to watch and when to wake it,
 * and the event loop calls back into curl. Nothing here ever blocks.
 *
 * Life of a transfer:
 *
 *	fetch_start()		returns a struct fetch *, or NULL (no callback
 *				will ever be called then)
 *	on_headers()		once, when the head of the final response (after
 *				redirects) is complete; not called when the
 *				transfer fails before that
 *	on_data()		zero or more times, the body as it arrives
 *	on_done()		exactly once, from the event loop (never from
 *				inside fetch_start or another curl callback);
 *				the fetch is freed when on_done returns
 *
 * An HTTP error status (404, 500, ...) is a complete transfer: on_done
 * gets FETCH_OK and the caller looks at the status. FETCH_E* results are
 * for transfers that did not complete.
 *
 * Ownership: the fetcher owns every struct fetch. The caller's pointer is
 * valid until on_done returns or fetch_cancel is called, whichever comes
 * first. A cancelled fetch gets no further callback of any kind (no on_done
 * either); it is freed later, from the event loop.
 *
 * What may be called from which callback:
 *	- fetch_cancel, fetch_resume, fetch_start and the fetch_header/status/
 *	  content_length/effective_url getters: from any callback.
 *	- fetch_cancel on the fetch whose on_done is running: a no-op.
 *	- fetcher_free: never from a callback.
 *
 * Methods: GET and HEAD for registries; POST and PUT with a small body
 * (copied) for the AWS APIs (ECR, STS) and IMDSv2.
 *
 * Security: request credentials (fetch_request.username/password) and any
 * "Authorization:" extra header are only sent to the host (and port) of
 * the original URL, never after a redirect to another one. Only http and
 * https are allowed, for the first request and for redirects. URLs are
 * logged through fetch_url_redact, headers never.
 */
#ifndef DEPOT_FETCH_H
#define DEPOT_FETCH_H

#include <sys/types.h>

#include <stddef.h>

struct event_base;
struct fetcher;
struct fetch;

enum fetch_method {
	FETCH_GET = 0,
	FETCH_HEAD,
	FETCH_POST,	/* with body (AWS APIs) */
	FETCH_PUT	/* with body (IMDSv2's session token) */
};

/* Results passed to on_done. */
enum fetch_result {
	FETCH_OK = 0,
	FETCH_ETIMEOUT,		/* connect timeout, too slow, or past deadline */
	FETCH_ECONNECT,		/* refused, unreachable, name not resolved */
	FETCH_ENETWORK,		/* reset, truncated, nothing received */
	FETCH_ETLS,		/* handshake or certificate verification */
	FETCH_EABORTED,		/* a callback returned -1 */
	FETCH_EPROTOCOL,	/* bad URL, scheme not allowed, redirect loop */
	FETCH_EOTHER
};

/* on_data returns this to pause the transfer until fetch_resume. */
#define FETCH_PAUSE		1

#define FETCH_TIMEOUT_DEFAULT	30	/* seconds */
#define FETCH_MAX_REDIRECTS	5
#define FETCH_MAX_HOST_CONNS	8
/*
 * A GET's body is read from the connection, and handed to on_data, up to
 * this many bytes at a time (curl's default, 16 KB, costs a poll, a read
 * and a callback per 16 KB of a blob of hundreds of MB).
 */
#define FETCH_BUFFER_SIZE	(512 * 1024)

struct fetch_request {
	enum fetch_method	 method;
	const char		*url;
	/* Extra request headers, each "Name: value" without CR or LF. */
	const char *const	*headers;
	size_t			 nheaders;
	/*
	 * Seconds allowed to connect, and seconds the transfer may go on
	 * without receiving a byte (while not paused). Not a cap on the whole
	 * transfer: big downloads run as long as they move. 0 = default.
	 */
	int			 timeout;
	/*
	 * The slowest a transfer may be: fewer than min_speed bytes a second
	 * over speed_window seconds (while not paused) ends it with
	 * FETCH_ETIMEOUT. 0 = 1 byte a second over timeout seconds. With
	 * min_speed set, a response that announces its Content-Length must
	 * also be complete within timeout + length / min_speed seconds of
	 * its head (FETCH_ETIMEOUT otherwise), however it trickles or pauses.
	 */
	int			 min_speed;	/* bytes a second */
	int			 speed_window;	/* seconds */
	const char		*ca_file;	/* NULL = system CA store */
	int			 insecure_tls;	/* skip peer and host checks */
	/* Basic credentials, both or neither; original host only. */
	const char		*username;
	const char		*password;
	int			 no_follow;	/* default: follow up to 5 */
	/* POST and PUT: the body (copied), and its length. */
	const char		*body;
	size_t			 body_len;
};

struct fetch_callbacks {
	/* Head of the final response complete: 0 to go on, -1 to abort. */
	int	(*on_headers)(struct fetch *, long status, void *arg);
	/*
	 * Body bytes, consumed by the call: return 0 for more, FETCH_PAUSE to
	 * get nothing more until fetch_resume, or -1 to abort.
	 */
	int	(*on_data)(struct fetch *, const void *buf, size_t len,
		    void *arg);
	/*
	 * The end: result is FETCH_OK or an error, errmsg NULL on success
	 * or a human message (never credentials). May be NULL.
	 */
	void	(*on_done)(struct fetch *, enum fetch_result result,
		    const char *errmsg, void *arg);
};

/* curl_global_init, once per process, before any fetcher. 0 or -1. */
int		 fetch_global_init(void);

struct fetcher	*fetcher_create(struct event_base *);
/* Cancel every transfer (no callbacks) and free. Accepts NULL. */
void		 fetcher_free(struct fetcher *);
/* Transfers started and not yet finished or cancelled. */
size_t		 fetcher_active(struct fetcher *);
/* The event base the fetcher runs on. */
struct event_base *fetcher_base(struct fetcher *);

/*
 * Start a transfer. The request and its strings are copied; they need
 * not outlive the call. NULL on a bad request (logged).
 */
struct fetch	*fetch_start(struct fetcher *, const struct fetch_request *,
		    const struct fetch_callbacks *, void *arg);
/* Stop a transfer; no callback follows. Safe from within callbacks. */
void		 fetch_cancel(struct fetch *);
/* Continue a transfer paused by FETCH_PAUSE (deferred to the loop). */
void		 fetch_resume(struct fetch *);

/* The final response's status, 0 before its head arrived. */
long		 fetch_status(struct fetch *);
/*
 * A header of the final response, by case-insensitive name; several
 * fields of one name are joined with ", ". NULL when absent. Valid until
 * the fetch is freed.
 */
const char	*fetch_header(struct fetch *, const char *name);
/* Content-Length of the final response, -1 if unknown. */
off_t		 fetch_content_length(struct fetch *);
/*
 * The URL of the last request (after redirects); may hold secrets
 * (presigned query strings): log it only through fetch_url_redact.
 */
const char	*fetch_effective_url(struct fetch *);
const char	*fetch_result_str(enum fetch_result);

/* The URL without user info, query and fragment, for logs. Caller frees. */
char		*fetch_url_redact(const char *url);

#endif /* DEPOT_FETCH_H */
