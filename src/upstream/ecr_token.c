/*
 * ecr_token.c: getting and sharing ECR tokens. Owns the waits of
 * upstream calls for a token, the refreshes this process runs (at most
 * one per upstream key, whatever the number of waiting calls), and
 * what a refresh leaves in the shared state: the token, or its failure.
 *
 * A wait asks the shared state (upstream_ecr_acquire) what to do: use
 * the token, refresh it (this process now holds the claim), wait for
 * another process's refresh (poll on a timer), or report the standing
 * failure. Waits of this process attach to its refresh and are told
 * when it ends, so a process without a shared segment (tests) works
 * too.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "conf/config.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/xmalloc.h"
#include "upstream/aws_credentials.h"
#include "upstream/ecr.h"
#include "upstream/ecr_token.h"
#include "upstream/fetch.h"
#include "upstream/upstream_state.h"

#define ET_BODY_MAX		(64 * 1024)
#define ET_WAIT_EXTRA		30	/* s beyond the timeouts */

struct ecr_refresh;

struct ecr_token_wait {
	TAILQ_ENTRY(ecr_token_wait)	 w_entry;
	struct ecr_refresh		*w_refresh;	/* attached to */
	struct fetcher			*w_fetcher;
	const struct config_upstream	*w_up;
	uint64_t			 w_fingerprint;
	ecr_token_cb			 w_cb;
	void				*w_arg;
	struct event			*w_ev;	/* poll, or the answer */
	time_t				 w_deadline;
	int				 w_asked;	/* w_fail_seq is set */
	uint64_t			 w_fail_seq;
	int				 w_done;
	char				*w_user;
	char				*w_password;	/* secret */
	uint64_t			 w_generation;
	char				*w_error;
};

struct ecr_refresh {
	TAILQ_ENTRY(ecr_refresh)	 r_entry;
	TAILQ_HEAD(, ecr_token_wait)	 r_waits;
	struct fetcher			*r_fetcher;
	const struct config_upstream	*r_up;
	char				*r_key;
	uint64_t			 r_ticket;
	struct aws_credentials_get	*r_creds_get;
	const char			*r_creds_source;
	int				 r_static;
	struct fetch			*r_fetch;
	char				*r_body;
	size_t				 r_body_len;
	int				 r_body_abort;
};

static TAILQ_HEAD(, ecr_refresh) et_refreshes =
    TAILQ_HEAD_INITIALIZER(et_refreshes);

static uint64_t	 et_fingerprint(const struct config_upstream *);
static void	 et_step(struct ecr_token_wait *);
static void	 et_answer(struct ecr_token_wait *, const char *,
		    const char *, uint64_t, const char *);
static void	 et_wait_cb(evutil_socket_t, short, void *);
static void	 et_wait_free(struct ecr_token_wait *);
static struct ecr_refresh *et_refresh_find(const char *);
static struct ecr_refresh *et_refresh_start(struct fetcher *,
		    const struct config_upstream *, uint64_t);
static void	 et_creds_cb(const struct aws_credentials *, const char *,
		    const char *, void *);
static int	 et_data_cb(struct fetch *, const void *, size_t, void *);
static void	 et_done_cb(struct fetch *, enum fetch_result, const char *,
		    void *);
static void	 et_refresh_ok(struct ecr_refresh *, struct ecr_token *);
static void	 et_refresh_fail(struct ecr_refresh *, const char *,
		    const char *, ...) __attribute__((__format__(__printf__,
		    3, 4)));
static void	 et_refresh_free(struct ecr_refresh *);
static void	 et_secret_free(char *);

static const struct fetch_callbacks et_callbacks = {
	NULL, et_data_cb, et_done_cb
};

static void
et_secret_free(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

const char *
ecr_token_registry_url(const struct config_upstream *up)
{
	if (up->up_registry_url != NULL)
		return (up->up_registry_url);
	return (up->up_ecr.el_registry_url);
}

/* FNV-1a of s into h, with a separator. */
static uint64_t
et_hash(uint64_t h, const char *s)
{
	if (s != NULL)
		for (; *s != '\0'; s++)
			h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return ((h ^ 0xff) * 1099511628211ULL);
}

/* The settings a token depends on: a reload that changes one of them
 * starts afresh. */
static uint64_t
et_fingerprint(const struct config_upstream *up)
{
	const struct config_auth_creds	*cr = &up->up_auth;
	uint64_t			 h = 14695981039346656037ULL;

	h = et_hash(h, up->up_url);
	h = et_hash(h, config_auth_type_name(cr->cr_type));
	h = et_hash(h, cr->cr_access_key_id);
	h = et_hash(h, cr->cr_secret_access_key);
	h = et_hash(h, cr->cr_session_token);
	h = et_hash(h, up->up_registry_url);
	h = et_hash(h, up->up_api_url);
	h = et_hash(h, up->up_sts_url);
	return (et_hash(h, up->up_imds_url));
}

struct ecr_token_wait *
ecr_token_get(struct fetcher *f, const struct config_upstream *up,
    ecr_token_cb cb, void *arg)
{
	struct ecr_token_wait	*w;

	w = xcalloc(1, sizeof(*w));
	w->w_fetcher = f;
	w->w_up = up;
	w->w_cb = cb;
	w->w_arg = arg;
	w->w_fingerprint = et_fingerprint(up);
	w->w_deadline = time(NULL) + 3 * up->up_timeout + ET_WAIT_EXTRA;
	if ((w->w_ev = evtimer_new(fetcher_base(f), et_wait_cb, w)) == NULL) {
		log_warnx("%s: evtimer_new failed", __func__);
		free(w);
		return (NULL);
	}
	et_step(w);
	return (w);
}

/* Ask the shared state what to do now. */
static void
et_step(struct ecr_token_wait *w)
{
	struct upstream_ecr_view	*v;
	struct ecr_refresh		*r;
	struct timeval			 tv;
	const char			*key = w->w_up->up_key;
	time_t				 now = time(NULL);

	v = xmalloc(sizeof(*v));
	switch (upstream_ecr_acquire(key, w->w_fingerprint, now,
	    w->w_asked ? &w->w_fail_seq : NULL, v)) {
	case UPSTREAM_ECR_TOKEN:
		et_answer(w, v->ev_user, v->ev_password, v->ev_generation,
		    NULL);
		break;
	case UPSTREAM_ECR_FAILED:
		et_answer(w, NULL, NULL, 0, v->ev_error);
		break;
	case UPSTREAM_ECR_REFRESH:
		/* A refresh of ours outlived its claim: it takes the new one. */
		if ((r = et_refresh_find(key)) != NULL)
			r->r_ticket = v->ev_ticket;
		else
			r = et_refresh_start(w->w_fetcher, w->w_up,
			    v->ev_ticket);
		if (v->ev_has_token)
			et_answer(w, v->ev_user, v->ev_password,
			    v->ev_generation, NULL);
		else if (r != NULL) {
			w->w_refresh = r;
			TAILQ_INSERT_TAIL(&r->r_waits, w, w_entry);
		} else
			et_answer(w, NULL, NULL, 0, "cannot get an ECR token: "
			    "cannot start a refresh");
		break;
	case UPSTREAM_ECR_WAIT:
		if (!w->w_asked) {
			w->w_asked = 1;
			w->w_fail_seq = v->ev_fail_seq;
		}
		if ((r = et_refresh_find(key)) != NULL) {
			w->w_refresh = r;
			TAILQ_INSERT_TAIL(&r->r_waits, w, w_entry);
		} else if (now > w->w_deadline)
			et_answer(w, NULL, NULL, 0, "cannot get an ECR token: "
			    "timed out waiting for another process's refresh");
		else {
			tv.tv_sec = 0;
			tv.tv_usec = ECR_TOKEN_POLL_MS * 1000;
			evtimer_add(w->w_ev, &tv);
		}
		break;
	}
	explicit_bzero(v, sizeof(*v));
	free(v);
}

/* The wait's result; handed over from the loop. */
static void
et_answer(struct ecr_token_wait *w, const char *user, const char *password,
    uint64_t generation, const char *error)
{
	if (w->w_done)
		return;
	w->w_done = 1;
	if (error != NULL)
		w->w_error = xstrdup(error);
	else {
		w->w_user = xstrdup(user);
		w->w_password = xstrdup(password);
		w->w_generation = generation;
	}
	event_active(w->w_ev, EV_TIMEOUT, 1);
}

static void
et_wait_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ecr_token_wait	*w = arg;

	(void)fd;
	(void)what;
	if (!w->w_done) {
		et_step(w);
		return;
	}
	w->w_cb(w->w_user, w->w_password, w->w_generation, w->w_error,
	    w->w_arg);
	et_wait_free(w);
}

void
ecr_token_cancel(struct ecr_token_wait *w)
{
	if (w == NULL)
		return;
	et_wait_free(w);
}

static void
et_wait_free(struct ecr_token_wait *w)
{
	if (w->w_refresh != NULL)
		TAILQ_REMOVE(&w->w_refresh->r_waits, w, w_entry);
	event_free(w->w_ev);
	free(w->w_user);
	et_secret_free(w->w_password);
	free(w->w_error);
	free(w);
}

void
ecr_token_refused(const struct config_upstream *up, uint64_t generation)
{
	upstream_ecr_drop(up->up_key, generation);
}

/* ---- refreshes ---- */

static struct ecr_refresh *
et_refresh_find(const char *key)
{
	struct ecr_refresh	*r;

	TAILQ_FOREACH(r, &et_refreshes, r_entry)
		if (strcmp(r->r_key, key) == 0)
			return (r);
	return (NULL);
}

/* Start refreshing up's token under the claim ticket. */
static struct ecr_refresh *
et_refresh_start(struct fetcher *f, const struct config_upstream *up,
    uint64_t ticket)
{
	const struct config_auth_creds	*cr = &up->up_auth;
	struct ecr_refresh		*r;
	struct aws_chain_config		 cc;
	struct aws_credentials		 st;

	r = xcalloc(1, sizeof(*r));
	TAILQ_INIT(&r->r_waits);
	r->r_fetcher = f;
	r->r_up = up;
	r->r_key = xstrdup(up->up_key);
	r->r_ticket = ticket;
	TAILQ_INSERT_TAIL(&et_refreshes, r, r_entry);
	memset(&st, 0, sizeof(st));
	st.ac_access_key_id = cr->cr_access_key_id;
	st.ac_secret_access_key = cr->cr_secret_access_key;
	st.ac_session_token = cr->cr_session_token;
	memset(&cc, 0, sizeof(cc));
	cc.cc_key = up->up_key;
	r->r_static = cc.cc_static = cr->cr_type == AUTH_ACCESS_KEY;
	cc.cc_static_creds = &st;
	cc.cc_region = up->up_ecr.el_region;
	cc.cc_sts_url = up->up_sts_url;
	cc.cc_imds_url = up->up_imds_url;
	cc.cc_timeout = up->up_timeout;
	cc.cc_ca_file = up->up_ca_file;
	cc.cc_insecure_tls = up->up_insecure_tls;
	log_debug("upstream %s: refreshing the ECR token", up->up_key);
	if ((r->r_creds_get = aws_credentials_get(f, &cc, et_creds_cb,
	    r)) == NULL) {
		et_refresh_fail(r, "InternalError", "out of events");
		return (NULL);
	}
	return (r);
}

/* Credentials arrived (or not): ask ECR for a token. */
static void
et_creds_cb(const struct aws_credentials *creds, const char *code,
    const char *message, void *arg)
{
	struct ecr_refresh		*r = arg;
	const struct config_upstream	*up = r->r_up;
	struct ecr_api_request		 ar;
	struct fetch_request		 fr;
	char				*cause = NULL;

	r->r_creds_get = NULL;
	if (creds == NULL) {
		et_refresh_fail(r, code, "no AWS credentials: %s", message);
		return;
	}
	r->r_creds_source = creds->ac_source;
	if (ecr_api_request(&up->up_ecr, up->up_api_url, creds, time(NULL),
	    &ar, &cause) == -1) {
		et_refresh_fail(r, "InternalError", "%s", cause);
		free(cause);
		return;
	}
	memset(&fr, 0, sizeof(fr));
	fr.method = FETCH_POST;
	fr.url = ar.ar_url;
	fr.headers = (const char *const *)ar.ar_headers;
	fr.nheaders = ar.ar_nheaders;
	fr.body = ar.ar_body;
	fr.body_len = strlen(ar.ar_body);
	fr.timeout = up->up_timeout;
	fr.ca_file = up->up_ca_file;
	fr.insecure_tls = up->up_insecure_tls;
	fr.no_follow = 1;
	r->r_fetch = fetch_start(r->r_fetcher, &fr, &et_callbacks, r);
	ecr_api_request_clear(&ar);
	if (r->r_fetch == NULL)
		et_refresh_fail(r, "InternalError", "cannot start the "
		    "GetAuthorizationToken request");
}

static int
et_data_cb(struct fetch *fe, const void *buf, size_t len, void *arg)
{
	struct ecr_refresh	*r = arg;
	char			*grown;

	(void)fe;
	if (len > ET_BODY_MAX - r->r_body_len) {
		r->r_body_abort = 1;
		return (-1);
	}
	grown = xmalloc(r->r_body_len + len + 1);
	if (r->r_body != NULL) {
		memcpy(grown, r->r_body, r->r_body_len);
		explicit_bzero(r->r_body, r->r_body_len);
		free(r->r_body);
	}
	memcpy(grown + r->r_body_len, buf, len);
	r->r_body = grown;
	r->r_body_len += len;
	r->r_body[r->r_body_len] = '\0';
	return (0);
}

static void
et_done_cb(struct fetch *fe, enum fetch_result result, const char *errmsg,
    void *arg)
{
	struct ecr_refresh	*r = arg;
	struct ecr_token	 tok;
	long			 status = fetch_status(fe);
	char			*code = NULL, *message = NULL, *cause = NULL;

	r->r_fetch = NULL;
	if (result != FETCH_OK) {
		et_refresh_fail(r, r->r_body_abort ? "AnswerTooLong" :
		    "Unreachable", "GetAuthorizationToken: %s",
		    r->r_body_abort ? "answer too long" : errmsg != NULL ?
		    errmsg : fetch_result_str(result));
		return;
	}
	if (status != 200) {
		ecr_error_parse(r->r_body, r->r_body_len,
		    fetch_header(fe, "x-amzn-errortype"), status, &code,
		    &message);
		if (!r->r_static)
			aws_credentials_forget(r->r_key);
		et_refresh_fail(r, code, "GetAuthorizationToken answered "
		    "HTTP %ld%s%s", status, message != NULL ? ": " : "",
		    message != NULL ? message : "");
		free(code);
		free(message);
		return;
	}
	if (ecr_token_parse(r->r_body != NULL ? r->r_body : "",
	    r->r_body_len, &tok, &cause) == -1) {
		et_refresh_fail(r, "MalformedAnswer", "%s", cause);
		free(cause);
		return;
	}
	et_refresh_ok(r, &tok);
	ecr_token_clear(&tok);
}

/* A new token: share it, tell this process's waits, count it. */
static void
et_refresh_ok(struct ecr_refresh *r, struct ecr_token *tok)
{
	struct ecr_token_wait	*w;
	time_t			 now = time(NULL), refresh_at;
	struct tm		 tm;
	char			 when[32];

	uint64_t		 generation;

	refresh_at = aws_refresh_at(now, tok->et_expires, ECR_TOKEN_MARGIN);
	generation = upstream_ecr_store(r->r_key, r->r_ticket,
	    tok->et_username, tok->et_password, tok->et_expires, refresh_at);
	metrics_upstream_token(r->r_key, 1);
	if (gmtime_r(&tok->et_expires, &tm) == NULL ||
	    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		(void)snprintf(when, sizeof(when), "%lld",
		    (long long)tok->et_expires);
	log_info("upstream %s: new ECR token (credentials: %s), valid until "
	    "%s", r->r_key, r->r_creds_source != NULL ? r->r_creds_source :
	    "?", when);
	while ((w = TAILQ_FIRST(&r->r_waits)) != NULL) {
		TAILQ_REMOVE(&r->r_waits, w, w_entry);
		w->w_refresh = NULL;
		et_answer(w, tok->et_username, tok->et_password, generation,
		    NULL);
	}
	et_refresh_free(r);
}

/*
 * The refresh failed: one log line with AWS's code, the failure shared
 * with the requests waiting for it, this process's waits told.
 */
static void
et_refresh_fail(struct ecr_refresh *r, const char *code, const char *fmt,
    ...)
{
	struct ecr_token_wait	*w;
	va_list			 ap;
	char			*detail, *msg;

	va_start(ap, fmt);
	xvasprintf(&detail, fmt, ap);
	va_end(ap);
	log_warnx("upstream %s: ECR token refresh failed (%s): %s", r->r_key,
	    code != NULL ? code : "Error", detail);
	xasprintf(&msg, "cannot get an ECR token (%s): %s",
	    code != NULL ? code : "Error", detail);
	upstream_ecr_fail(r->r_key, r->r_ticket, msg,
	    time(NULL) + ECR_TOKEN_FAIL_HOLD);
	metrics_upstream_token(r->r_key, 0);
	while ((w = TAILQ_FIRST(&r->r_waits)) != NULL) {
		TAILQ_REMOVE(&r->r_waits, w, w_entry);
		w->w_refresh = NULL;
		et_answer(w, NULL, NULL, 0, msg);
	}
	free(detail);
	free(msg);
	et_refresh_free(r);
}

static void
et_refresh_free(struct ecr_refresh *r)
{
	TAILQ_REMOVE(&et_refreshes, r, r_entry);
	if (r->r_creds_get != NULL)
		aws_credentials_cancel(r->r_creds_get);
	if (r->r_fetch != NULL)
		fetch_cancel(r->r_fetch);
	if (r->r_body != NULL) {
		explicit_bzero(r->r_body, r->r_body_len);
		free(r->r_body);
	}
	free(r->r_key);
	free(r);
}
