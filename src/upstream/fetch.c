/*
 * fetch.c: HTTP(S) client transfers on a worker's event loop. Owns the
 * worker's libcurl multi handle and the glue that lets libevent drive it:
 *
 *   curl -> us	CURLMOPT_SOCKETFUNCTION: watch this socket for in/out
 *		CURLMOPT_TIMERFUNCTION: wake me in n ms
 *   us -> curl	curl_multi_socket_action() when a socket is ready or the
 *		timer fires, then collect finished transfers
 *
 * libcurl forbids multi calls from inside its own callbacks, and our
 * callers may cancel, resume or start transfers from inside theirs, so
 * those requests are queued on the fetch and carried out by a deferred
 * event ("pending" work) once curl has returned to the loop.
 *
 * Pausing: when on_data returns FETCH_PAUSE the write callback returns
 * CURL_WRITEFUNC_PAUSE. curl then keeps the buffer and hands it over again
 * after the pause is lifted; the caller has already consumed it, so those
 * bytes are counted in fe_redeliver and skipped.
 *
 * Yielding: while its socket stays readable, curl goes on reading one
 * transfer's body inside a single curl_multi_socket_action (up to 100
 * reads of the receive buffer, a whole 25 MB layer seen in one pass),
 * and the worker answers nothing else meanwhile. After FETCH_TURN_MAX
 * bytes in one call the transfer is paused like above and a zero timer
 * lifts the pause on the next loop pass, after the loop polled its
 * other sockets.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "upstream/fetch.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

/* Body bytes one transfer may take in one curl call (see Yielding). */
#define FETCH_TURN_MAX		(1024 * 1024)

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION		"0"
#endif

#define FETCH_USER_AGENT	"depot/" PACKAGE_VERSION
#define FETCH_MAXCONNECTS	32	/* idle connections kept per worker */
#define FETCH_MAX_HEADERS	256	/* response fields kept per response */

struct fetch_field {
	char	*ff_name;
	char	*ff_value;
	char	*ff_joined;	/* every field of this name, on demand */
};

struct fetch_sock {
	TAILQ_ENTRY(fetch_sock)	 fs_entry;
	struct fetcher		*fs_fetcher;
	curl_socket_t		 fs_fd;
	struct event		*fs_ev;
};

struct fetch {
	TAILQ_ENTRY(fetch)	 fe_entry;
	TAILQ_ENTRY(fetch)	 fe_pending_entry;
	struct fetcher		*fe_fetcher;
	CURL			*fe_easy;
	struct curl_slist	*fe_reqheaders;
	struct fetch_callbacks	 fe_cb;
	void			*fe_arg;
	char			*fe_logurl;	/* redacted, for logs */
	enum fetch_method	 fe_method;
	int			 fe_follow;
	long			 fe_status;
	struct fetch_field	*fe_fields;
	size_t			 fe_nfields;
	int			 fe_in_multi;	/* added to the multi handle */
	int			 fe_start;	/* pending: add to the multi */
	int			 fe_resume;	/* pending: lift the pause */
	int			 fe_pending;	/* on f_pending */
	int			 fe_head_done;	/* on_headers was called */
	int			 fe_paused;
	int			 fe_yielded;	/* paused for a loop pass */
	int			 fe_yield_logged;
	int			 fe_cancelled;
	int			 fe_finishing;	/* on_done running */
	int			 fe_aborted;	/* a callback returned -1 */
	size_t			 fe_redeliver;	/* consumed bytes curl resends */
	int			 fe_timeout;	/* seconds, as configured */
	int			 fe_min_speed;	/* bytes a second, 0 none */
	struct event		*fe_deadline;	/* body must be in by then */
	char			 fe_errbuf[CURL_ERROR_SIZE];
};

struct fetcher {
	struct event_base		*f_base;
	CURLM				*f_multi;
	struct event			*f_timer;
	struct event			*f_deferred;
	struct event			*f_yield_ev;	/* lifts yields */
	size_t				 f_turn;	/* body bytes, this call */
	TAILQ_HEAD(, fetch)		 f_fetches;	/* all, until freed */
	TAILQ_HEAD(, fetch)		 f_pending;
	TAILQ_HEAD(, fetch_sock)	 f_socks;
	size_t				 f_nactive;
};

static int	fetcher_socket_cb(CURL *, curl_socket_t, int, void *, void *);
static int	fetcher_timer_cb(CURLM *, long, void *);
static void	fetcher_event_cb(evutil_socket_t, short, void *);
static void	fetcher_timeout_cb(evutil_socket_t, short, void *);
static void	fetch_deadline_arm(struct fetch *);
static void	fetch_deadline_cb(evutil_socket_t, short, void *);
static void	fetcher_deferred_cb(evutil_socket_t, short, void *);
static void	fetcher_yield_cb(evutil_socket_t, short, void *);
static void	fetcher_kick(struct fetcher *);
static void	fetcher_check_done(struct fetcher *);
static void	fetch_sock_free(struct fetch_sock *);
static int	fetch_request_valid(const struct fetch_request *);
static int	fetch_setopts(struct fetch *, const struct fetch_request *);
static void	fetch_defer(struct fetch *);
static void	fetch_add(struct fetch *);
static void	fetch_unpause(struct fetch *);
static void	fetch_finish(struct fetch *, CURLcode, const char *);
static void	fetch_destroy(struct fetch *);
static size_t	fetch_header_cb(char *, size_t, size_t, void *);
static size_t	fetch_write_cb(char *, size_t, size_t, void *);
static void	fetch_head_line(struct fetch *, const char *, size_t);
static int	fetch_head_end(struct fetch *);
static int	fetch_deliver_head(struct fetch *);
static void	fetch_fields_clear(struct fetch *);
static struct fetch_field *fetch_field_find(struct fetch *, const char *,
		    size_t);
static enum fetch_result fetch_classify(struct fetch *, CURLcode);
static char	*fetch_trim(const char *, size_t);
static const char *fetch_method_str(enum fetch_method);

/* Initialise libcurl for this process; later calls do nothing. */
int
fetch_global_init(void)
{
	static int			 done;
	const curl_version_info_data	*v;

	if (done)
		return (0);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_warnx("%s: curl_global_init failed", __func__);
		return (-1);
	}
	v = curl_version_info(CURLVERSION_NOW);
	if (v != NULL && !(v->features & CURL_VERSION_ASYNCHDNS))
		log_warnx("libcurl %s resolves names synchronously: lookups "
		    "will stall the event loop", v->version);
	done = 1;
	return (0);
}

struct fetcher *
fetcher_create(struct event_base *base)
{
	struct fetcher	*f;

	f = xcalloc(1, sizeof(*f));
	f->f_base = base;
	TAILQ_INIT(&f->f_fetches);
	TAILQ_INIT(&f->f_pending);
	TAILQ_INIT(&f->f_socks);
	if ((f->f_multi = curl_multi_init()) == NULL) {
		log_warnx("%s: curl_multi_init failed", __func__);
		goto fail;
	}
	f->f_timer = evtimer_new(base, fetcher_timeout_cb, f);
	f->f_deferred = event_new(base, -1, 0, fetcher_deferred_cb, f);
	f->f_yield_ev = evtimer_new(base, fetcher_yield_cb, f);
	if (f->f_timer == NULL || f->f_deferred == NULL ||
	    f->f_yield_ev == NULL) {
		log_warnx("%s: event_new failed", __func__);
		goto fail;
	}
	curl_multi_setopt(f->f_multi, CURLMOPT_SOCKETFUNCTION,
	    fetcher_socket_cb);
	curl_multi_setopt(f->f_multi, CURLMOPT_SOCKETDATA, f);
	curl_multi_setopt(f->f_multi, CURLMOPT_TIMERFUNCTION, fetcher_timer_cb);
	curl_multi_setopt(f->f_multi, CURLMOPT_TIMERDATA, f);
	curl_multi_setopt(f->f_multi, CURLMOPT_MAX_HOST_CONNECTIONS,
	    (long)FETCH_MAX_HOST_CONNS);
	curl_multi_setopt(f->f_multi, CURLMOPT_MAXCONNECTS,
	    (long)FETCH_MAXCONNECTS);
#ifdef CURLPIPE_MULTIPLEX
	curl_multi_setopt(f->f_multi, CURLMOPT_PIPELINING,
	    (long)CURLPIPE_MULTIPLEX);
#endif
	return (f);
fail:
	fetcher_free(f);
	return (NULL);
}

void
fetcher_free(struct fetcher *f)
{
	struct fetch		*fe;
	struct fetch_sock	*fs;

	if (f == NULL)
		return;
	while ((fe = TAILQ_FIRST(&f->f_fetches)) != NULL)
		fetch_destroy(fe);
	/* Closing cached connections may still call our socket callback. */
	if (f->f_multi != NULL)
		curl_multi_cleanup(f->f_multi);
	while ((fs = TAILQ_FIRST(&f->f_socks)) != NULL)
		fetch_sock_free(fs);
	if (f->f_timer != NULL)
		event_free(f->f_timer);
	if (f->f_deferred != NULL)
		event_free(f->f_deferred);
	if (f->f_yield_ev != NULL)
		event_free(f->f_yield_ev);
	free(f);
}

size_t
fetcher_active(struct fetcher *f)
{
	return (f->f_nactive);
}

struct event_base *
fetcher_base(struct fetcher *f)
{
	return (f->f_base);
}

/* curl asks us to watch a socket for reading and/or writing, or to stop. */
static int
fetcher_socket_cb(CURL *easy, curl_socket_t s, int what, void *arg,
    void *sockp)
{
	struct fetcher		*f = arg;
	struct fetch_sock	*fs = sockp;
	short			 events = EV_PERSIST;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (fs != NULL)
			fetch_sock_free(fs);
		return (0);
	}
	if (what & CURL_POLL_IN)
		events |= EV_READ;
	if (what & CURL_POLL_OUT)
		events |= EV_WRITE;
	if (fs == NULL) {
		fs = xcalloc(1, sizeof(*fs));
		fs->fs_fetcher = f;
		fs->fs_fd = s;
		TAILQ_INSERT_TAIL(&f->f_socks, fs, fs_entry);
		curl_multi_assign(f->f_multi, s, fs);
	} else if (fs->fs_ev != NULL) {
		event_free(fs->fs_ev);
		fs->fs_ev = NULL;
	}
	/* The event takes the fetcher, not fs: fs may go during the call. */
	if ((fs->fs_ev = event_new(f->f_base, s, events, fetcher_event_cb,
	    f)) == NULL || event_add(fs->fs_ev, NULL) == -1) {
		log_warnx("%s: cannot watch socket %d", __func__, (int)s);
		return (-1);
	}
	return (0);
}

static void
fetch_sock_free(struct fetch_sock *fs)
{
	TAILQ_REMOVE(&fs->fs_fetcher->f_socks, fs, fs_entry);
	if (fs->fs_ev != NULL)
		event_free(fs->fs_ev);
	free(fs);
}

/* curl asks to be woken after timeout_ms, or not at all when negative. */
static int
fetcher_timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
	struct fetcher	*f = arg;
	struct timeval	 tv;

	(void)multi;
	if (timeout_ms < 0) {
		evtimer_del(f->f_timer);
		return (0);
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	return (evtimer_add(f->f_timer, &tv) == -1 ? -1 : 0);
}

/* A watched socket is ready: let curl work on it. */
static void
fetcher_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fetcher	*f = arg;
	CURLMcode	 mc;
	int		 action = 0, running;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	f->f_turn = 0;
	mc = curl_multi_socket_action(f->f_multi, fd, action, &running);
	if (mc != CURLM_OK)
		log_warnx("%s: %s", __func__, curl_multi_strerror(mc));
	fetcher_check_done(f);
}

/* curl's timer expired. */
static void
fetcher_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	fetcher_kick(arg);
}

/* Let curl run its due timers and collect what finished. */
static void
fetcher_kick(struct fetcher *f)
{
	CURLMcode	 mc;
	int		 running;

	f->f_turn = 0;
	mc = curl_multi_socket_action(f->f_multi, CURL_SOCKET_TIMEOUT, 0,
	    &running);
	if (mc != CURLM_OK)
		log_warnx("%s: %s", __func__, curl_multi_strerror(mc));
	fetcher_check_done(f);
}

/* Hand every finished transfer to its owner. */
static void
fetcher_check_done(struct fetcher *f)
{
	CURLMsg		*msg;
	struct fetch	*fe;
	char		*priv;
	int		 left;

	while ((msg = curl_multi_info_read(f->f_multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		priv = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		if ((fe = (struct fetch *)priv) == NULL)
			continue;
		/* A cancelled fetch is freed by the deferred event. */
		if (fe->fe_cancelled || fe->fe_finishing)
			continue;
		fetch_finish(fe, msg->data.result, NULL);
	}
}

/* Carry out what callers asked for while curl was busy. */
static void
fetcher_deferred_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fetcher	*f = arg;
	struct fetch	*fe;
	int		 kick = 0;

	(void)fd;
	(void)what;
	while ((fe = TAILQ_FIRST(&f->f_pending)) != NULL) {
		TAILQ_REMOVE(&f->f_pending, fe, fe_pending_entry);
		fe->fe_pending = 0;
		if (fe->fe_cancelled) {
			fetch_destroy(fe);
			continue;
		}
		if (fe->fe_start) {
			fe->fe_start = 0;
			fetch_add(fe);
			continue;
		}
		if (fe->fe_resume) {
			fe->fe_resume = 0;
			if (fe->fe_paused) {
				fetch_unpause(fe);
				kick = 1;
			}
		}
	}
	if (kick)
		fetcher_kick(f);
}

/* A loop pass later: the transfers that yielded go on. */
static void
fetcher_yield_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fetcher	*f = arg;
	struct fetch	*fe;
	int		 kick = 0;

	(void)fd;
	(void)what;
	f->f_turn = 0;
	TAILQ_FOREACH(fe, &f->f_fetches, fe_entry) {
		if (!fe->fe_yielded)
			continue;
		fe->fe_yielded = 0;
		if (fe->fe_paused && !fe->fe_cancelled && !fe->fe_finishing) {
			fetch_unpause(fe);
			kick = 1;
		}
	}
	if (kick)
		fetcher_kick(f);
}

/* Queue fe for the deferred event. */
static void
fetch_defer(struct fetch *fe)
{
	struct fetcher	*f = fe->fe_fetcher;

	if (!fe->fe_pending) {
		TAILQ_INSERT_TAIL(&f->f_pending, fe, fe_pending_entry);
		fe->fe_pending = 1;
	}
	event_active(f->f_deferred, EV_TIMEOUT, 1);
}

/* Plain checks on what the caller passed; CR or LF would split headers. */
static int
fetch_request_valid(const struct fetch_request *req)
{
	size_t	 i;

	if (req->url == NULL || req->url[0] == '\0') {
		log_warnx("fetch_start: no URL");
		return (-1);
	}
	if (req->method != FETCH_GET && req->method != FETCH_HEAD &&
	    req->method != FETCH_POST && req->method != FETCH_PUT) {
		log_warnx("fetch_start: unknown method %d", (int)req->method);
		return (-1);
	}
	if ((req->username == NULL) != (req->password == NULL)) {
		log_warnx("fetch_start: username and password go together");
		return (-1);
	}
	if (req->nheaders > 0 && req->headers == NULL)
		return (-1);
	for (i = 0; i < req->nheaders; i++) {
		if (req->headers[i] == NULL ||
		    strpbrk(req->headers[i], "\r\n") != NULL ||
		    strchr(req->headers[i], ':') == NULL ||
		    req->headers[i][0] == ':') {
			log_warnx("fetch_start: malformed request header %zu",
			    i);
			return (-1);
		}
	}
	return (0);
}

struct fetch *
fetch_start(struct fetcher *f, const struct fetch_request *req,
    const struct fetch_callbacks *cb, void *arg)
{
	struct fetch		*fe;
	struct curl_slist	*sl;
	size_t			 i;

	if (fetch_request_valid(req) == -1)
		return (NULL);
	fe = xcalloc(1, sizeof(*fe));
	fe->fe_fetcher = f;
	fe->fe_cb = *cb;
	fe->fe_arg = arg;
	fe->fe_method = req->method;
	fe->fe_follow = !req->no_follow;
	fe->fe_timeout = req->timeout > 0 ? req->timeout :
	    FETCH_TIMEOUT_DEFAULT;
	fe->fe_min_speed = req->min_speed > 0 ? req->min_speed : 0;
	fe->fe_logurl = fetch_url_redact(req->url);
	for (i = 0; i < req->nheaders; i++) {
		if ((sl = curl_slist_append(fe->fe_reqheaders,
		    req->headers[i])) == NULL)
			fatalx("%s: out of memory", __func__);
		fe->fe_reqheaders = sl;
	}
	if ((fe->fe_easy = curl_easy_init()) == NULL) {
		log_warnx("%s: curl_easy_init failed", __func__);
		goto fail;
	}
	if (fetch_setopts(fe, req) == -1)
		goto fail;
	TAILQ_INSERT_TAIL(&f->f_fetches, fe, fe_entry);
	f->f_nactive++;
	/* curl refuses new handles from within its callbacks: defer. */
	fe->fe_start = 1;
	fetch_defer(fe);
	log_debug("%s: %s %s", __func__, fetch_method_str(req->method),
	    fe->fe_logurl);
	return (fe);
fail:
	if (fe->fe_easy != NULL)
		curl_easy_cleanup(fe->fe_easy);
	curl_slist_free_all(fe->fe_reqheaders);
	free(fe->fe_logurl);
	free(fe);
	return (NULL);
}

/* Set one option; the first failure sticks in rc. */
#define FETCH_SETOPT(opt, val) do {					\
	if (rc == CURLE_OK && (rc = curl_easy_setopt(e, (opt), (val))) !=	\
	    CURLE_OK)							\
		what = #opt;						\
} while (0)

/* Every per-transfer option. */
static int
fetch_setopts(struct fetch *fe, const struct fetch_request *req)
{
	CURL		*e = fe->fe_easy;
	CURLcode	 rc = CURLE_OK;
	const char	*what = "";
	long		 timeout, window, min_speed;

	timeout = req->timeout > 0 ? req->timeout : FETCH_TIMEOUT_DEFAULT;
	window = req->speed_window > 0 ? req->speed_window : timeout;
	min_speed = req->min_speed > 0 ? req->min_speed : 1;
	FETCH_SETOPT(CURLOPT_URL, req->url);
	FETCH_SETOPT(CURLOPT_PRIVATE, (void *)fe);
	FETCH_SETOPT(CURLOPT_NOSIGNAL, 1L);
	FETCH_SETOPT(CURLOPT_ERRORBUFFER, fe->fe_errbuf);
	FETCH_SETOPT(CURLOPT_USERAGENT, FETCH_USER_AGENT);
	FETCH_SETOPT(CURLOPT_HEADERFUNCTION, fetch_header_cb);
	FETCH_SETOPT(CURLOPT_HEADERDATA, (void *)fe);
	FETCH_SETOPT(CURLOPT_WRITEFUNCTION, fetch_write_cb);
	FETCH_SETOPT(CURLOPT_WRITEDATA, (void *)fe);
	if (fe->fe_reqheaders != NULL)
		FETCH_SETOPT(CURLOPT_HTTPHEADER, fe->fe_reqheaders);
	if (req->method == FETCH_HEAD)
		FETCH_SETOPT(CURLOPT_NOBODY, 1L);
	else if (req->method == FETCH_POST || req->method == FETCH_PUT) {
		FETCH_SETOPT(CURLOPT_POST, 1L);
		FETCH_SETOPT(CURLOPT_POSTFIELDSIZE, (long)req->body_len);
		FETCH_SETOPT(CURLOPT_COPYPOSTFIELDS, req->body != NULL ?
		    req->body : "");
		if (req->method == FETCH_PUT)
			FETCH_SETOPT(CURLOPT_CUSTOMREQUEST, "PUT");
	} else {
		FETCH_SETOPT(CURLOPT_HTTPGET, 1L);
		FETCH_SETOPT(CURLOPT_BUFFERSIZE, (long)FETCH_BUFFER_SIZE);
	}
	FETCH_SETOPT(CURLOPT_FOLLOWLOCATION, req->no_follow ? 0L : 1L);
	FETCH_SETOPT(CURLOPT_MAXREDIRS, (long)FETCH_MAX_REDIRECTS);
	/* Credentials stay with the original host (and port). */
	FETCH_SETOPT(CURLOPT_UNRESTRICTED_AUTH, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	FETCH_SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
	FETCH_SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	FETCH_SETOPT(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
	FETCH_SETOPT(CURLOPT_REDIR_PROTOCOLS,
	    (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	FETCH_SETOPT(CURLOPT_CONNECTTIMEOUT, timeout);
	FETCH_SETOPT(CURLOPT_LOW_SPEED_LIMIT, min_speed);
	FETCH_SETOPT(CURLOPT_LOW_SPEED_TIME, window);
	if (req->ca_file != NULL)
		FETCH_SETOPT(CURLOPT_CAINFO, req->ca_file);
	FETCH_SETOPT(CURLOPT_SSL_VERIFYPEER, req->insecure_tls ? 0L : 1L);
	FETCH_SETOPT(CURLOPT_SSL_VERIFYHOST, req->insecure_tls ? 0L : 2L);
	if (req->username != NULL) {
		FETCH_SETOPT(CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		FETCH_SETOPT(CURLOPT_USERNAME, req->username);
		FETCH_SETOPT(CURLOPT_PASSWORD, req->password);
	}
	/* Bodies pass through byte for byte: digests are over them. */
	FETCH_SETOPT(CURLOPT_HTTP_CONTENT_DECODING, 0L);
	FETCH_SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
	FETCH_SETOPT(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
#ifdef CURL_HTTP_VERSION_2TLS
	FETCH_SETOPT(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	FETCH_SETOPT(CURLOPT_PIPEWAIT, 1L);
#endif
	if (rc != CURLE_OK) {
		log_warnx("%s: %s: %s", __func__, what, curl_easy_strerror(rc));
		return (-1);
	}
	return (0);
}

#undef FETCH_SETOPT

/* Hand the easy handle to the multi (from the deferred event). */
static void
fetch_add(struct fetch *fe)
{
	CURLMcode	 mc;
	char		 msg[128];

	mc = curl_multi_add_handle(fe->fe_fetcher->f_multi, fe->fe_easy);
	if (mc != CURLM_OK) {
		snprintf(msg, sizeof(msg), "curl_multi_add_handle: %s",
		    curl_multi_strerror(mc));
		fetch_finish(fe, CURLE_FAILED_INIT, msg);
		return;
	}
	fe->fe_in_multi = 1;
}

/* Lift a pause (from the deferred event); buffered data may come now. */
static void
fetch_unpause(struct fetch *fe)
{
	CURLcode	 rc;

	fe->fe_paused = 0;
	rc = curl_easy_pause(fe->fe_easy, CURLPAUSE_CONT);
	if (rc != CURLE_OK && !fe->fe_cancelled && !fe->fe_finishing) {
		/* The multi does not see errors raised here: finish it. */
		fetch_finish(fe, rc, NULL);
	}
}

void
fetch_cancel(struct fetch *fe)
{
	if (fe == NULL || fe->fe_cancelled || fe->fe_finishing)
		return;
	fe->fe_cancelled = 1;
	fe->fe_fetcher->f_nactive--;
	log_debug("%s: %s", __func__, fe->fe_logurl);
	fetch_defer(fe);
}

void
fetch_resume(struct fetch *fe)
{
	if (fe == NULL || fe->fe_cancelled || fe->fe_finishing)
		return;
	fe->fe_resume = 1;
	fetch_defer(fe);
}

/* The transfer is over: tell the owner, then free. */
static void
fetch_finish(struct fetch *fe, CURLcode code, const char *why)
{
	enum fetch_result	 result;
	char			 msg[CURL_ERROR_SIZE + 256];
	const char		*errmsg = NULL;

	if (fe->fe_in_multi) {
		curl_multi_remove_handle(fe->fe_fetcher->f_multi, fe->fe_easy);
		fe->fe_in_multi = 0;
	}
	fe->fe_finishing = 1;
	fe->fe_fetcher->f_nactive--;
	/* A body-less final response may end before its head was handed. */
	if (code == CURLE_OK && !fe->fe_head_done && fe->fe_status >= 200 &&
	    fetch_deliver_head(fe) == -1)
		code = CURLE_WRITE_ERROR;
	if (code == CURLE_OK && fe->fe_status == 0)
		curl_easy_getinfo(fe->fe_easy, CURLINFO_RESPONSE_CODE,
		    &fe->fe_status);
	result = fetch_classify(fe, code);
	if (result != FETCH_OK) {
		if (result == FETCH_EABORTED)
			snprintf(msg, sizeof(msg), "aborted by the caller");
		else if (why != NULL)
			snprintf(msg, sizeof(msg), "%s", why);
		else if (fe->fe_errbuf[0] != '\0')
			snprintf(msg, sizeof(msg), "%s (%s)",
			    curl_easy_strerror(code), fe->fe_errbuf);
		else
			snprintf(msg, sizeof(msg), "%s",
			    curl_easy_strerror(code));
		errmsg = msg;
		log_debug("%s: %s: %s", __func__, fe->fe_logurl, msg);
	} else
		log_debug("%s: %s: %ld", __func__, fe->fe_logurl,
		    fe->fe_status);
	if (fe->fe_cb.on_done != NULL)
		fe->fe_cb.on_done(fe, result, errmsg, fe->fe_arg);
	fetch_destroy(fe);
}

/* Free a fetch and everything it holds; no callback. */
static void
fetch_destroy(struct fetch *fe)
{
	struct fetcher	*f = fe->fe_fetcher;

	if (fe->fe_pending)
		TAILQ_REMOVE(&f->f_pending, fe, fe_pending_entry);
	TAILQ_REMOVE(&f->f_fetches, fe, fe_entry);
	if (!fe->fe_cancelled && !fe->fe_finishing)
		f->f_nactive--;
	if (fe->fe_in_multi)
		curl_multi_remove_handle(f->f_multi, fe->fe_easy);
	curl_easy_cleanup(fe->fe_easy);
	curl_slist_free_all(fe->fe_reqheaders);
	if (fe->fe_deadline != NULL)
		event_free(fe->fe_deadline);
	fetch_fields_clear(fe);
	free(fe->fe_logurl);
	free(fe);
}

/*
 * A body of known length must arrive within timeout + length / min_speed
 * seconds of its head: curl's speed check averages, and a trickle that
 * keeps just above it would hold the transfer for good.
 */
static void
fetch_deadline_arm(struct fetch *fe)
{
	struct timeval	 tv;
	off_t		 length;

	if (fe->fe_min_speed == 0 || fe->fe_method != FETCH_GET ||
	    fe->fe_status < 200 || fe->fe_status >= 300 ||
	    (length = fetch_content_length(fe)) < 0)
		return;
	tv.tv_sec = fe->fe_timeout + length / fe->fe_min_speed;
	tv.tv_usec = 0;
	if ((fe->fe_deadline = evtimer_new(fe->fe_fetcher->f_base,
	    fetch_deadline_cb, fe)) == NULL)
		fatalx("%s: evtimer_new", __func__);
	evtimer_add(fe->fe_deadline, &tv);
}

/* The deadline passed with the body still coming: give up on it. */
static void
fetch_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fetch	*fe = arg;

	(void)fd;
	(void)what;
	if (fe->fe_cancelled || fe->fe_finishing)
		return;
	log_warnx("%s: %s: body not complete by its deadline", __func__,
	    fe->fe_logurl);
	fetch_finish(fe, CURLE_OPERATION_TIMEDOUT,
	    "transfer too slow: body not complete by its deadline");
}

/* Map a curl code to our few result classes. */
static enum fetch_result
fetch_classify(struct fetch *fe, CURLcode code)
{
	if (fe->fe_aborted)
		return (FETCH_EABORTED);
	switch (code) {
	case CURLE_OK:
		return (FETCH_OK);
	case CURLE_OPERATION_TIMEDOUT:
		return (FETCH_ETIMEOUT);
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return (FETCH_ECONNECT);
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return (FETCH_ENETWORK);
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_USE_SSL_FAILED:
		return (FETCH_ETLS);
	case CURLE_ABORTED_BY_CALLBACK:
		return (FETCH_EABORTED);
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_TOO_MANY_REDIRECTS:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_BAD_CONTENT_ENCODING:
		return (FETCH_EPROTOCOL);
	default:
		return (FETCH_EOTHER);
	}
}

/* One line of a response head, with its CRLF. */
static size_t
fetch_header_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct fetch	*fe = arg;
	size_t		 len = size * n, l = len;

	if (fe->fe_cancelled || fe->fe_aborted)
		return (0);
	/* After the final head only trailers come: not kept. */
	if (fe->fe_head_done)
		return (len);
	while (l > 0 && (buf[l - 1] == '\n' || buf[l - 1] == '\r'))
		l--;
	if (l == 0)
		return (fetch_head_end(fe) == -1 ? 0 : len);
	fetch_head_line(fe, buf, l);
	return (len);
}

/* A status line starts a new response; anything else is a field. */
static void
fetch_head_line(struct fetch *fe, const char *line, size_t len)
{
	struct fetch_field	*ff;
	const char		*colon, *sp;
	char			*more, *joined;
	long			 status;

	if (len > 5 && strncmp(line, "HTTP/", 5) == 0) {
		fetch_fields_clear(fe);
		fe->fe_status = 0;
		sp = memchr(line, ' ', len);
		if (sp != NULL && line + len - sp >= 4 &&
		    isdigit((unsigned char)sp[1]) &&
		    isdigit((unsigned char)sp[2]) &&
		    isdigit((unsigned char)sp[3])) {
			status = (sp[1] - '0') * 100 + (sp[2] - '0') * 10 +
			    (sp[3] - '0');
			fe->fe_status = status;
		}
		return;
	}
	if (line[0] == ' ' || line[0] == '\t') {
		/* Obsolete line folding: continue the previous field. */
		if (fe->fe_nfields == 0)
			return;
		ff = &fe->fe_fields[fe->fe_nfields - 1];
		more = fetch_trim(line, len);
		xasprintf(&joined, "%s %s", ff->ff_value, more);
		free(more);
		free(ff->ff_value);
		ff->ff_value = joined;
		return;
	}
	colon = memchr(line, ':', len);
	if (colon == NULL || colon == line ||
	    memchr(line, ' ', colon - line) != NULL ||
	    fe->fe_nfields >= FETCH_MAX_HEADERS)
		return;
	fe->fe_fields = xreallocarray(fe->fe_fields, fe->fe_nfields + 1,
	    sizeof(*fe->fe_fields));
	ff = &fe->fe_fields[fe->fe_nfields++];
	ff->ff_name = xstrndup(line, colon - line);
	ff->ff_value = fetch_trim(colon + 1, line + len - colon - 1);
	ff->ff_joined = NULL;
}

/*
 * The blank line after a head. The head is final unless it is 1xx, or
 * a 3xx with a Location that curl is going to follow (curl follows any
 * 3xx with a non-empty Location, and skips that response's body).
 */
static int
fetch_head_end(struct fetch *fe)
{
	struct fetch_field	*loc;

	if (fe->fe_status < 200)
		return (0);
	if (fe->fe_follow && fe->fe_status >= 300 && fe->fe_status < 400) {
		loc = fetch_field_find(fe, "location", 0);
		if (loc != NULL && loc->ff_value[0] != '\0')
			return (0);
	}
	return (fetch_deliver_head(fe));
}

/* Call on_headers once: 0 to go on, -1 to stop the transfer. */
static int
fetch_deliver_head(struct fetch *fe)
{
	fe->fe_head_done = 1;
	fetch_deadline_arm(fe);
	if (fe->fe_cb.on_headers != NULL &&
	    fe->fe_cb.on_headers(fe, fe->fe_status, fe->fe_arg) == -1) {
		fe->fe_aborted = 1;
		return (-1);
	}
	return (fe->fe_cancelled ? -1 : 0);
}

/* Body bytes of the final response. */
static size_t
fetch_write_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct fetch	*fe = arg;
	struct fetcher	*f;
	struct timeval	 now = { 0, 0 };
	size_t		 total = size * n, len = total, skip;
	int		 rc;

	if (fe->fe_cancelled || fe->fe_aborted)
		return (0);
	if (!fe->fe_head_done && fetch_deliver_head(fe) == -1)
		return (0);
	if (fe->fe_redeliver > 0) {
		skip = fe->fe_redeliver < len ? fe->fe_redeliver : len;
		fe->fe_redeliver -= skip;
		buf += skip;
		len -= skip;
	}
	if (len == 0 || fe->fe_cb.on_data == NULL)
		return (total);
	rc = fe->fe_cb.on_data(fe, buf, len, fe->fe_arg);
	if (rc == -1) {
		fe->fe_aborted = 1;
		return (0);
	}
	if (fe->fe_cancelled)
		return (0);
	if (rc == FETCH_PAUSE) {
		/* curl keeps this whole buffer and passes it again. */
		fe->fe_paused = 1;
		fe->fe_redeliver = total;
		return (CURL_WRITEFUNC_PAUSE);
	}
	f = fe->fe_fetcher;
	if ((f->f_turn += len) >= FETCH_TURN_MAX) {
		/* Enough for one loop pass: let the others have theirs. */
		if (!fe->fe_yield_logged) {
			fe->fe_yield_logged = 1;
			log_debug("%s: %s: yields the loop every %d bytes",
			    __func__, fe->fe_logurl, FETCH_TURN_MAX);
		}
		fe->fe_paused = fe->fe_yielded = 1;
		fe->fe_redeliver = total;
		evtimer_add(f->f_yield_ev, &now);
		return (CURL_WRITEFUNC_PAUSE);
	}
	return (total);
}

static void
fetch_fields_clear(struct fetch *fe)
{
	size_t	 i;

	for (i = 0; i < fe->fe_nfields; i++) {
		free(fe->fe_fields[i].ff_name);
		free(fe->fe_fields[i].ff_value);
		free(fe->fe_fields[i].ff_joined);
	}
	free(fe->fe_fields);
	fe->fe_fields = NULL;
	fe->fe_nfields = 0;
}

/* The first field named name at or after index from. */
static struct fetch_field *
fetch_field_find(struct fetch *fe, const char *name, size_t from)
{
	size_t	 i;

	for (i = from; i < fe->fe_nfields; i++)
		if (strcasecmp(fe->fe_fields[i].ff_name, name) == 0)
			return (&fe->fe_fields[i]);
	return (NULL);
}

/* A copy of buf without surrounding blanks. Caller frees. */
static char *
fetch_trim(const char *buf, size_t len)
{
	while (len > 0 && (*buf == ' ' || *buf == '\t')) {
		buf++;
		len--;
	}
	while (len > 0 && (buf[len - 1] == ' ' || buf[len - 1] == '\t'))
		len--;
	return (xstrndup(buf, len));
}

long
fetch_status(struct fetch *fe)
{
	return (fe->fe_head_done ? fe->fe_status : 0);
}

const char *
fetch_header(struct fetch *fe, const char *name)
{
	struct fetch_field	*first, *ff;
	char			*joined;

	if ((first = fetch_field_find(fe, name, 0)) == NULL)
		return (NULL);
	if (first->ff_joined != NULL)
		return (first->ff_joined);
	ff = fetch_field_find(fe, name, first - fe->fe_fields + 1);
	if (ff == NULL)
		return (first->ff_value);
	first->ff_joined = xstrdup(first->ff_value);
	for (; ff != NULL; ff = fetch_field_find(fe, name,
	    ff - fe->fe_fields + 1)) {
		xasprintf(&joined, "%s, %s", first->ff_joined, ff->ff_value);
		free(first->ff_joined);
		first->ff_joined = joined;
	}
	return (first->ff_joined);
}

off_t
fetch_content_length(struct fetch *fe)
{
	const char	*v;
	long long	 n = 0;

	if (!fe->fe_head_done ||
	    fetch_header(fe, "transfer-encoding") != NULL ||
	    (v = fetch_header(fe, "content-length")) == NULL || *v == '\0')
		return (-1);
	for (; *v != '\0'; v++) {
		if (!isdigit((unsigned char)*v))
			return (-1);
		if (n > (LLONG_MAX - 9) / 10)
			return (-1);
		n = n * 10 + (*v - '0');
	}
	return ((off_t)n);
}

const char *
fetch_effective_url(struct fetch *fe)
{
	char	*url = NULL;

	if (curl_easy_getinfo(fe->fe_easy, CURLINFO_EFFECTIVE_URL, &url) !=
	    CURLE_OK)
		return (NULL);
	return (url);
}

const char *
fetch_result_str(enum fetch_result r)
{
	switch (r) {
	case FETCH_OK:
		return ("ok");
	case FETCH_ETIMEOUT:
		return ("timeout");
	case FETCH_ECONNECT:
		return ("cannot connect");
	case FETCH_ENETWORK:
		return ("network error");
	case FETCH_ETLS:
		return ("TLS error");
	case FETCH_EABORTED:
		return ("aborted");
	case FETCH_EPROTOCOL:
		return ("protocol error");
	default:
		return ("error");
	}
}

static const char *
fetch_method_str(enum fetch_method m)
{
	switch (m) {
	case FETCH_HEAD:
		return ("HEAD");
	case FETCH_POST:
		return ("POST");
	case FETCH_PUT:
		return ("PUT");
	default:
		return ("GET");
	}
}

/* scheme://host[:port]/path of url: no user info, query or fragment. */
char *
fetch_url_redact(const char *url)
{
	CURLU	*u;
	char	*scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
	char	*out = NULL;

	if (url == NULL)
		return (xstrdup("(no URL)"));
	if ((u = curl_url()) == NULL)
		fatalx("%s: out of memory", __func__);
	if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) !=
	    CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		goto done;
	if (curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK)
		port = NULL;
	if (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
		path = NULL;
	xasprintf(&out, "%s://%s%s%s%s", scheme, host, port != NULL ? ":" : "",
	    port != NULL ? port : "", path != NULL ? path : "/");
done:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_url_cleanup(u);
	return (out != NULL ? out : xstrdup("(invalid URL)"));
}
