/*
 * upstream.c: one logical request to an upstream registry. It owns the
 * exchanges a call is made of (the request, the token request, the
 * request again), the choice of credentials for each, what the shared
 * state learns from the answers (breaker, Retry-After, tokens, which
 * upstreams want Basic), and the messages a caller may hand its client.
 *
 * A call has at most one fetch under way. An answer of 401 never reaches
 * the caller: its body is swallowed and, when the fetch ends, the
 * challenge decides what comes next. Every other answer is final: the
 * caller gets its head, body and end through the call.
 *
 * An ECR call waits for its token (ecr_token.h) before its first
 * exchange and again after the registry refused it.
 *
 * Ends that do not come from a fetch (skipped, unsupported source) and
 * the freeing of a cancelled call go through a deferred event, so no
 * callback ever runs inside upstream_call_start or upstream_call_cancel.
 * Other ends come from a fetch's on_done, which runs from the event loop;
 * the call is freed when the caller's on_done returns.
 */
#include <sys/types.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "upstream/upstream_auth.h"
#include "conf/config.h"
#include "upstream/ecr_token.h"
#include "upstream/fetch.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "upstream/upstream.h"
#include "upstream/upstream_state.h"
#include "lib/util.h"
#include "lib/xmalloc.h"

#define UPSTREAM_DOCKERHUB_URL	"https://registry-1.docker.io"
/* A token-cache entry under this scope: the upstream wants Basic. */
#define UC_SCOPE_BASIC		"depot:basic"
#define UC_BASIC_TTL		86400	/* seconds the hint is kept */
#define UC_SWALLOW_MAX		(64 * 1024)	/* body of a 401 */
#define UC_TOKEN_BODY_MAX	(64 * 1024)	/* token service answer */
#define UC_RETRY_AFTER_DEFAULT	60

enum uc_auth {
	UC_AUTH_NONE,
	UC_AUTH_BEARER,
	UC_AUTH_BASIC
};

struct upstream_call {
	struct fetcher			*uc_fetcher;
	const struct config_upstream	*uc_up;
	struct upstream_callbacks	 uc_cb;
	void				*uc_arg;
	struct event			*uc_ev;	/* deferred end, or free */
	enum fetch_method		 uc_method;
	char				*uc_base;
	char				*uc_url;
	char				*uc_scope;	/* of its token */
	char				**uc_headers;	/* the caller's */
	size_t				 uc_nheaders;
	struct fetch			*uc_fetch;	/* under way */
	struct fetch			*uc_final;	/* the answer */
	char				*uc_token;	/* secret */
	int				 uc_basic;	/* send Basic */
	enum uc_auth			 uc_sent;	/* what went */
	int				 uc_retried;	/* went again */
	int				 uc_untrusted;	/* realm got no creds */
	int				 uc_swallow;	/* a 401 arrives */
	size_t				 uc_swallowed;
	int				 uc_swallow_abort;
	char				*uc_realm_log;	/* redacted */
	char				*uc_body;	/* token answer */
	size_t				 uc_body_len;
	int				 uc_body_abort;
	int				 uc_cancelled;
	int				 uc_done;	/* on_done called */
	enum upstream_result		 uc_result;	/* deferred end's */
	long long			 uc_sent_ms;	/* request went out */
	char				*uc_errmsg;
	/* ECR with credentials: the token as Basic credentials. */
	int				 uc_ecr;
	struct ecr_token_wait		*uc_ecr_wait;
	char				*uc_ecr_user;
	char				*uc_ecr_password;	/* secret */
	uint64_t			 uc_ecr_generation;
	int				 uc_ecr_retried;	/* refused once */
	long				 uc_swallow_status;	/* 401, 403 */
};

static int	 uc_request_valid(const struct upstream_request *);
static int	 uc_url_part_ok(const char *);
static int	 uc_dot_segment(const char *);
static int	 uc_userpass(const struct upstream_call *);
static const char *uc_username(const struct upstream_call *);
static const char *uc_password(const struct upstream_call *);
static void	 uc_ecr_start(struct upstream_call *);
static void	 uc_ecr_token_cb(const char *, const char *, uint64_t,
		    const char *, void *);
static void	 uc_ecr_refused(struct upstream_call *, long);
static const char *uc_key(const struct upstream_call *);
static void	 uc_defer_end(struct upstream_call *, enum upstream_result,
		    const char *, ...) PRINTFLIKE(3, 4);
static void	 uc_deferred_cb(evutil_socket_t, short, void *);
static void	 uc_finish(struct upstream_call *, enum upstream_result,
		    const char *, ...) PRINTFLIKE(3, 4);
static void	 uc_free(struct upstream_call *);
static void	 uc_pick_auth(struct upstream_call *, time_t);
static int	 uc_send(struct upstream_call *);
static int	 uc_reg_headers_cb(struct fetch *, long, void *);
static int	 uc_reg_data_cb(struct fetch *, const void *, size_t, void *);
static void	 uc_reg_done_cb(struct fetch *, enum fetch_result,
		    const char *, void *);
static void	 uc_health(struct upstream_call *, struct fetch *,
		    enum fetch_result, const char *);
static void	 uc_failure(struct upstream_call *, time_t, const char *);
static const char *uc_metric_reason(enum fetch_result);
static void	 uc_challenge(struct upstream_call *, struct fetch *);
static void	 uc_refused(struct upstream_call *);
static void	 uc_bearer(struct upstream_call *, struct upstream_challenge *);
static void	 uc_basic(struct upstream_call *);
static int	 uc_tok_data_cb(struct fetch *, const void *, size_t, void *);
static void	 uc_tok_done_cb(struct fetch *, enum fetch_result,
		    const char *, void *);
static void	 uc_tok_answer(struct upstream_call *, long);
static void	 uc_secret_free(char *, size_t);
static void	 uc_time_str(time_t, char *, size_t);

static const struct fetch_callbacks uc_reg_callbacks = {
	uc_reg_headers_cb, uc_reg_data_cb, uc_reg_done_cb
};
static const struct fetch_callbacks uc_tok_callbacks = {
	NULL, uc_tok_data_cb, uc_tok_done_cb
};

char *
upstream_base_url(const struct config_upstream *up)
{
	const char	*url = up->up_url;
	size_t		 len;

	if (up->up_source == SOURCE_ECR)
		url = ecr_token_registry_url(up);
	if (url == NULL || url[0] == '\0') {
		if (up->up_source != SOURCE_DOCKERHUB)
			return (NULL);
		url = UPSTREAM_DOCKERHUB_URL;
	}
	len = strlen(url);
	while (len > 0 && url[len - 1] == '/')
		len--;
	return (xstrndup(url, len));
}

char *
upstream_remote_repo(const struct config_upstream *up, const char *image)
{
	char	*repo;

	if (up->up_source == SOURCE_DOCKERHUB && strchr(image, '/') == NULL)
		xasprintf(&repo, "library/%s", image);
	else if (up->up_source == SOURCE_ECR && up->up_ecr.el_alias != NULL)
		xasprintf(&repo, "%s/%s", up->up_ecr.el_alias, image);
	else
		repo = xstrdup(image);
	return (repo);
}

/* A ".." path segment in s. */
static int
uc_dot_segment(const char *s)
{
	const char	*p;

	for (p = s; (p = strstr(p, "..")) != NULL; p += 2)
		if ((p == s || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
			return (1);
	return (0);
}

/* What goes into the URL: no blanks, controls, fragments or "..". */
static int
uc_request_valid(const struct upstream_request *req)
{
	if (req->ur_upstream == NULL || req->ur_upstream->up_key == NULL) {
		log_warnx("upstream_call_start: no upstream");
		return (-1);
	}
	if (!uc_url_part_ok(req->ur_repo) || !uc_url_part_ok(req->ur_path) ||
	    strchr(req->ur_repo, '?') != NULL ||
	    (req->ur_nheaders > 0 && req->ur_headers == NULL)) {
		log_warnx("upstream_call_start: %s: bad request",
		    req->ur_upstream->up_key);
		return (-1);
	}
	return (0);
}

/* A repository or path that may follow "/v2/" as it is. */
static int
uc_url_part_ok(const char *s)
{
	const char	*p;

	if (s == NULL || s[0] == '\0' || s[0] == '/' ||
	    strchr(s, '#') != NULL || uc_dot_segment(s))
		return (0);
	for (p = s; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return (0);
	return (1);
}

/* Credentials to send: configured ones, or an ECR token's. */
static int
uc_userpass(const struct upstream_call *uc)
{
	const struct config_auth_creds	*cr = &uc->uc_up->up_auth;

	if (uc->uc_ecr)
		return (uc->uc_ecr_user != NULL &&
		    uc->uc_ecr_password != NULL);
	return (cr->cr_type == AUTH_USERPASS && cr->cr_username != NULL &&
	    cr->cr_password != NULL);
}

static const char *
uc_username(const struct upstream_call *uc)
{
	return (uc->uc_ecr ? uc->uc_ecr_user : uc->uc_up->up_auth.cr_username);
}

static const char *
uc_password(const struct upstream_call *uc)
{
	return (uc->uc_ecr ? uc->uc_ecr_password :
	    uc->uc_up->up_auth.cr_password);
}

static const char *
uc_key(const struct upstream_call *uc)
{
	return (uc->uc_up->up_key);
}

struct upstream_call *
upstream_call_start(struct fetcher *f, const struct upstream_request *req,
    const struct upstream_callbacks *cb, void *arg)
{
	struct upstream_call	*uc;
	enum upstream_skip	 skip;
	time_t			 now = time(NULL), until;
	char			 when[32];
	size_t			 i;

	if (uc_request_valid(req) == -1)
		return (NULL);
	uc = xcalloc(1, sizeof(*uc));
	uc->uc_fetcher = f;
	uc->uc_up = req->ur_upstream;
	uc->uc_cb = *cb;
	uc->uc_arg = arg;
	uc->uc_method = req->ur_method;
	uc->uc_ev = event_new(fetcher_base(f), -1, 0, uc_deferred_cb, uc);
	if (uc->uc_ev == NULL) {
		log_warnx("%s: event_new failed", __func__);
		goto fail;
	}
	if ((skip = upstream_state_check(uc_key(uc), now, &until)) !=
	    UPSTREAM_GO) {
		uc_time_str(until, when, sizeof(when));
		uc_defer_end(uc, UPSTREAM_ESKIPPED, "%s: skipped: %s until %s",
		    uc_key(uc), skip == UPSTREAM_SKIP_BREAKER ? "circuit open" :
		    "the upstream asked to wait (Retry-After)", when);
		return (uc);
	}
	if ((uc->uc_base = upstream_base_url(uc->uc_up)) == NULL) {
		log_warnx("%s: %s: no url", __func__, uc_key(uc));
		goto fail;
	}
	xasprintf(&uc->uc_url, "%s/v2/%s/%s", uc->uc_base, req->ur_repo,
	    req->ur_path);
	xasprintf(&uc->uc_scope, "repository:%s:pull", req->ur_repo);
	uc->uc_headers = xcalloc(req->ur_nheaders + 1, sizeof(char *));
	for (i = 0; i < req->ur_nheaders; i++)
		uc->uc_headers[i] = xstrdup(req->ur_headers[i]);
	uc->uc_nheaders = req->ur_nheaders;
	if (uc->uc_up->up_source == SOURCE_ECR &&
	    (uc->uc_up->up_auth.cr_type == AUTH_ACCESS_KEY ||
	    uc->uc_up->up_auth.cr_type == AUTH_AWS_DEFAULT)) {
		uc->uc_ecr = 1;
		uc_ecr_start(uc);
		if (uc->uc_ecr_wait == NULL)
			goto fail;
		return (uc);
	}
	uc_pick_auth(uc, now);
	if (uc_send(uc) == -1)
		goto fail;
	return (uc);
fail:
	uc_free(uc);
	return (NULL);
}

/* What the first request carries: a cached token, or Basic if wanted. */
static void
uc_pick_auth(struct upstream_call *uc, time_t now)
{
	char	*buf;

	buf = xmalloc(UPSTREAM_TOKEN_MAX);
	if (upstream_token_get(uc_key(uc), uc->uc_scope, now, buf,
	    UPSTREAM_TOKEN_MAX))
		uc->uc_token = xstrdup(buf);
	else if (uc_userpass(uc) && upstream_token_get(uc_key(uc),
	    UC_SCOPE_BASIC, now, buf, UPSTREAM_TOKEN_MAX))
		uc->uc_basic = 1;
	uc_secret_free(buf, UPSTREAM_TOKEN_MAX);
}

/* Start the registry request with the credentials chosen. 0, or -1. */
static int
uc_send(struct upstream_call *uc)
{
	struct fetch_request	 fr;
	char			*auth = NULL;
	size_t			 n = uc->uc_nheaders;

	memset(&fr, 0, sizeof(fr));
	fr.method = uc->uc_method;
	fr.url = uc->uc_url;
	fr.timeout = uc->uc_up->up_timeout;
	fr.min_speed = uc->uc_up->up_min_speed;
	fr.speed_window = uc->uc_up->up_speed_window;
	fr.ca_file = uc->uc_up->up_ca_file;
	fr.insecure_tls = uc->uc_up->up_insecure_tls;
	uc->uc_sent = UC_AUTH_NONE;
	if (uc->uc_token != NULL) {
		xasprintf(&auth, "Authorization: Bearer %s", uc->uc_token);
		uc->uc_headers[n++] = auth;
		uc->uc_sent = UC_AUTH_BEARER;
	} else if (uc->uc_basic && uc_userpass(uc)) {
		fr.username = uc_username(uc);
		fr.password = uc_password(uc);
		uc->uc_sent = UC_AUTH_BASIC;
	}
	fr.headers = (const char *const *)uc->uc_headers;
	fr.nheaders = n;
	uc->uc_swallow = 0;
	uc->uc_swallowed = 0;
	uc->uc_swallow_abort = 0;
	uc->uc_sent_ms = now_ms();
	uc->uc_fetch = fetch_start(uc->uc_fetcher, &fr, &uc_reg_callbacks,
	    uc);
	uc->uc_headers[uc->uc_nheaders] = NULL;
	if (auth != NULL)
		uc_secret_free(auth, strlen(auth));
	return (uc->uc_fetch == NULL ? -1 : 0);
}

/* The head of a registry answer: a 401 is ours, the rest the caller's. */
static int
uc_reg_headers_cb(struct fetch *fe, long status, void *arg)
{
	struct upstream_call	*uc = arg;
	long			 limit, remaining;

	limit = upstream_ratelimit_parse(fetch_header(fe, "ratelimit-limit"));
	remaining = upstream_ratelimit_parse(fetch_header(fe,
	    "ratelimit-remaining"));
	if (limit != -1 || remaining != -1) {
		log_debug("upstream %s: ratelimit-limit %ld, "
		    "ratelimit-remaining %ld", uc_key(uc), limit, remaining);
		metrics_upstream_ratelimit(uc_key(uc), limit, remaining);
	}
	/* ECR answers 403 to an expired token: drop it, ask again once. */
	if (status == 401 || (status == 403 && uc->uc_ecr &&
	    uc->uc_sent == UC_AUTH_BASIC && !uc->uc_ecr_retried)) {
		uc->uc_swallow = 1;
		uc->uc_swallow_status = status;
		return (0);
	}
	uc->uc_final = fe;
	if (uc->uc_cb.on_headers != NULL &&
	    uc->uc_cb.on_headers(uc, status, uc->uc_arg) == -1)
		return (-1);
	return (0);
}

static int
uc_reg_data_cb(struct fetch *fe, const void *buf, size_t len, void *arg)
{
	struct upstream_call	*uc = arg;

	(void)fe;
	if (uc->uc_swallow) {
		uc->uc_swallowed += len;
		if (uc->uc_swallowed > UC_SWALLOW_MAX) {
			uc->uc_swallow_abort = 1;
			return (-1);
		}
		return (0);
	}
	if (uc->uc_cb.on_data == NULL)
		return (0);
	return (uc->uc_cb.on_data(uc, buf, len, uc->uc_arg));
}

static void
uc_reg_done_cb(struct fetch *fe, enum fetch_result result,
    const char *errmsg, void *arg)
{
	struct upstream_call	*uc = arg;

	uc->uc_fetch = NULL;
	if (uc->uc_swallow && (result == FETCH_OK || uc->uc_swallow_abort)) {
		uc_challenge(uc, fe);
		return;
	}
	uc_health(uc, fe, result, errmsg);
	if (result == FETCH_OK)
		uc_finish(uc, UPSTREAM_OK, NULL);
	else if (result == FETCH_EABORTED)
		uc_finish(uc, UPSTREAM_EFETCH, "%s: transfer aborted",
		    uc_key(uc));
	else
		uc_finish(uc, UPSTREAM_EFETCH, "%s: %s", uc_key(uc),
		    errmsg != NULL ? errmsg : fetch_result_str(result));
}

/* What the final answer (or its absence) tells about the upstream. */
static void
uc_health(struct upstream_call *uc, struct fetch *fe,
    enum fetch_result result, const char *errmsg)
{
	const char	*ra;
	time_t		 now = time(NULL), until;
	long		 status = fetch_status(fe);
	char		 when[32], why[32];

	metrics_upstream_request(uc_key(uc), (int)status,
	    (double)(now_ms() - uc->uc_sent_ms) / 1000.0);
	if (result != FETCH_OK && result != FETCH_EABORTED)
		metrics_upstream_error(uc_key(uc), uc_metric_reason(result));
	if (result != FETCH_OK && (result != FETCH_EABORTED || status == 0)) {
		if (result != FETCH_EABORTED)
			uc_failure(uc, now, errmsg != NULL ? errmsg :
			    fetch_result_str(result));
		return;
	}
	ra = fetch_header(fe, "retry-after");
	if (status == 429 || (status == 503 && ra != NULL)) {
		until = upstream_retry_after_parse(ra, now,
		    UC_RETRY_AFTER_DEFAULT);
		upstream_state_retry_after(uc_key(uc), until);
		uc_time_str(until, when, sizeof(when));
		log_info("upstream %s: HTTP %ld, no requests until %s",
		    uc_key(uc), status, when);
	}
	if (status >= 500) {
		(void)snprintf(why, sizeof(why), "HTTP %ld", status);
		uc_failure(uc, now, why);
	} else if (status != 429)
		upstream_state_success(uc_key(uc));
}

/* The metrics reason of a transfer that did not complete. */
static const char *
uc_metric_reason(enum fetch_result result)
{
	switch (result) {
	case FETCH_ECONNECT:
		return ("connect");
	case FETCH_ETIMEOUT:
		return ("timeout");
	case FETCH_ETLS:
		return ("tls");
	case FETCH_ENETWORK:
		return ("network");
	case FETCH_EPROTOCOL:
		return ("protocol");
	default:
		return ("other");
	}
}

/* Count a failure; say so once when it opens the breaker. */
static void
uc_failure(struct upstream_call *uc, time_t now, const char *why)
{
	time_t	 until;

	if (!upstream_state_failure(uc_key(uc), now))
		return;
	if (upstream_state_check(uc_key(uc), now, &until) == UPSTREAM_GO)
		until = now;
	log_warnx("upstream %s: %s; circuit open, skipping it for %lld s",
	    uc_key(uc), why,
	    (long long)(until - now));
}

/* A 401 arrived whole: answer its challenge, or give up. */
static void
uc_challenge(struct upstream_call *uc, struct fetch *fe)
{
	struct upstream_challenge	 ch;
	const char		*value;
	char			*cause = NULL;

	/* The upstream answered: it is up. */
	upstream_state_success(uc_key(uc));
	if (uc->uc_ecr && uc->uc_sent == UC_AUTH_BASIC) {
		uc_ecr_refused(uc, uc->uc_swallow_status);
		return;
	}
	if (uc->uc_sent == UC_AUTH_BEARER)
		upstream_token_drop(uc_key(uc), uc->uc_scope);
	if (uc->uc_retried) {
		uc_refused(uc);
		return;
	}
	if ((value = fetch_header(fe, "www-authenticate")) == NULL) {
		uc_finish(uc, UPSTREAM_EAUTH, "%s: HTTP 401 without an "
		    "authentication challenge", uc_key(uc));
		return;
	}
	if (upstream_auth_challenge_parse(value, &ch, &cause) == -1) {
		uc_finish(uc, UPSTREAM_EAUTH, "%s: cannot answer the "
		    "upstream's authentication challenge: %s", uc_key(uc),
		    cause);
		free(cause);
		return;
	}
	if (ch.ac_scheme == AUTH_SCHEME_BEARER)
		uc_bearer(uc, &ch);
	else
		uc_basic(uc);
	upstream_auth_challenge_clear(&ch);
}

/* The retry was refused too. */
static void
uc_refused(struct upstream_call *uc)
{
	if (uc->uc_sent == UC_AUTH_BASIC || uc_userpass(uc))
		uc_finish(uc, UPSTREAM_EAUTH, "%s: the upstream refused "
		    "depot's credentials (HTTP 401)", uc_key(uc));
	else
		uc_finish(uc, UPSTREAM_EAUTH, "%s: the upstream refused "
		    "anonymous access (HTTP 401)", uc_key(uc));
}

/*
 * Ask the realm for a token. Credentials go along only to a realm
 * trusted with them; without credentials any realm will do.
 */
static void
uc_bearer(struct upstream_call *uc, struct upstream_challenge *ch)
{
	const struct config_upstream	*up = uc->uc_up;
	struct fetch_request		 fr;
	const char			*scopes[2];
	char				*url;
	size_t				 nscopes = 0;

	if (uc->uc_sent == UC_AUTH_BASIC)
		upstream_token_drop(uc_key(uc), UC_SCOPE_BASIC);
	uc->uc_basic = 0;
	free(uc->uc_realm_log);
	uc->uc_realm_log = fetch_url_redact(ch->ac_realm);
	/* An untrusted realm may still hand out an anonymous token. */
	if (uc_userpass(uc) && !upstream_auth_realm_trusted(ch->ac_realm, uc->uc_base,
	    (const char *const *)up->up_token_realms.sl_items,
	    up->up_token_realms.sl_count)) {
		if (!uc->uc_untrusted)
			log_warnx("upstream %s: the token realm %s is not "
			    "trusted with the upstream's credentials; asking "
			    "it without them", uc_key(uc), uc->uc_realm_log);
		uc->uc_untrusted = 1;
	}
	scopes[nscopes++] = uc->uc_scope;
	if (ch->ac_scope != NULL && ch->ac_scope[0] != '\0' &&
	    strcmp(ch->ac_scope, uc->uc_scope) != 0)
		scopes[nscopes++] = ch->ac_scope;
	if ((url = upstream_auth_token_url(ch->ac_realm, ch->ac_service, scopes,
	    nscopes)) == NULL) {
		uc_finish(uc, UPSTREAM_EAUTH, "%s: unusable token realm %s",
		    uc_key(uc), uc->uc_realm_log);
		return;
	}
	memset(&fr, 0, sizeof(fr));
	fr.method = FETCH_GET;
	fr.url = url;
	fr.timeout = up->up_timeout;
	fr.ca_file = up->up_ca_file;
	fr.insecure_tls = up->up_insecure_tls;
	if (uc_userpass(uc) && !uc->uc_untrusted) {
		fr.username = uc_username(uc);
		fr.password = uc_password(uc);
	}
	uc->uc_body_len = 0;
	uc->uc_body_abort = 0;
	uc->uc_fetch = fetch_start(uc->uc_fetcher, &fr, &uc_tok_callbacks, uc);
	free(url);
	if (uc->uc_fetch == NULL)
		uc_finish(uc, UPSTREAM_EAUTH, "%s: cannot ask the token realm "
		    "%s", uc_key(uc), uc->uc_realm_log);
}

/* The upstream wants Basic: remember it, and send the credentials. */
static void
uc_basic(struct upstream_call *uc)
{
	if (!uc_userpass(uc)) {
		uc_finish(uc, UPSTREAM_EAUTH, "%s: the upstream asks for Basic "
		    "credentials and none are configured", uc_key(uc));
		return;
	}
	if (uc->uc_sent == UC_AUTH_BASIC) {
		uc_refused(uc);
		return;
	}
	upstream_token_put(uc_key(uc), UC_SCOPE_BASIC, "1",
	    time(NULL) + UC_BASIC_TTL);
	if (uc->uc_token != NULL) {
		uc_secret_free(uc->uc_token, strlen(uc->uc_token));
		uc->uc_token = NULL;
	}
	uc->uc_basic = 1;
	uc->uc_retried = 1;
	if (uc_send(uc) == -1)
		uc_finish(uc, UPSTREAM_EFETCH, "%s: cannot send the request "
		    "again", uc_key(uc));
}

static int
uc_tok_data_cb(struct fetch *fe, const void *buf, size_t len, void *arg)
{
	struct upstream_call	*uc = arg;
	char			*grown;

	(void)fe;
	if (len > UC_TOKEN_BODY_MAX - uc->uc_body_len) {
		uc->uc_body_abort = 1;
		return (-1);
	}
	/* Grown by hand, so no copy of a token is left behind unzeroed. */
	grown = xmalloc(uc->uc_body_len + len + 1);
	if (uc->uc_body != NULL) {
		memcpy(grown, uc->uc_body, uc->uc_body_len);
		uc_secret_free(uc->uc_body, uc->uc_body_len + 1);
	}
	memcpy(grown + uc->uc_body_len, buf, len);
	uc->uc_body = grown;
	uc->uc_body_len += len;
	uc->uc_body[uc->uc_body_len] = '\0';
	return (0);
}

static void
uc_tok_done_cb(struct fetch *fe, enum fetch_result result,
    const char *errmsg, void *arg)
{
	struct upstream_call	*uc = arg;
	long			 status = fetch_status(fe);

	uc->uc_fetch = NULL;
	if (result != FETCH_OK) {
		if (uc->uc_body_abort) {
			uc_finish(uc, UPSTREAM_EAUTH, "%s: the token realm %s "
			    "sent too long an answer", uc_key(uc),
			    uc->uc_realm_log);
			return;
		}
		/* Without its token service, the upstream is unusable. */
		uc_failure(uc, time(NULL), "token realm unreachable");
		uc_finish(uc, UPSTREAM_EAUTH, "%s: token realm %s: %s",
		    uc_key(uc), uc->uc_realm_log,
		    errmsg != NULL ? errmsg : fetch_result_str(result));
		return;
	}
	uc_tok_answer(uc, status);
}

/* The token service answered: keep the token and send the request again. */
static void
uc_tok_answer(struct upstream_call *uc, long status)
{
	struct upstream_token	 tok;
	char			*cause = NULL, *colon;

	if (status != 200) {
		if (status >= 500)
			uc_failure(uc, time(NULL), "token realm failing");
		uc_finish(uc, UPSTREAM_EAUTH, "%s: the token realm %s answered "
		    "HTTP %ld%s", uc_key(uc), uc->uc_realm_log, status,
		    (status == 401 || status == 403) && uc_userpass(uc) ?
		    " to depot's credentials" : "");
		return;
	}
	if (upstream_auth_token_parse(uc->uc_body != NULL ? uc->uc_body : "",
	    uc->uc_body_len, &tok, &cause) == -1) {
		/* A JSON error may quote the answer: keep only its gist. */
		if ((colon = strchr(cause, ':')) != NULL)
			*colon = '\0';
		uc_finish(uc, UPSTREAM_EAUTH, "%s: the token realm %s sent an "
		    "unusable answer: %s", uc_key(uc), uc->uc_realm_log, cause);
		free(cause);
		return;
	}
	upstream_token_put(uc_key(uc), uc->uc_scope, tok.at_token,
	    time(NULL) + tok.at_expires_in);
	if (uc->uc_token != NULL)
		uc_secret_free(uc->uc_token, strlen(uc->uc_token));
	uc->uc_token = tok.at_token;
	tok.at_token = NULL;
	upstream_auth_token_clear(&tok);
	uc->uc_retried = 1;
	if (uc_send(uc) == -1)
		uc_finish(uc, UPSTREAM_EFETCH, "%s: cannot send the request "
		    "again", uc_key(uc));
}

/* End the call from the event loop, not from the caller's own stack. */
static void
uc_defer_end(struct upstream_call *uc, enum upstream_result result,
    const char *fmt, ...)
{
	va_list	 ap;

	uc->uc_result = result;
	va_start(ap, fmt);
	xvasprintf(&uc->uc_errmsg, fmt, ap);
	va_end(ap);
	event_active(uc->uc_ev, EV_TIMEOUT, 1);
}

static void
uc_deferred_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upstream_call	*uc = arg;

	(void)fd;
	(void)what;
	if (!uc->uc_cancelled) {
		uc->uc_done = 1;
		if (uc->uc_cb.on_done != NULL)
			uc->uc_cb.on_done(uc, uc->uc_result, uc->uc_errmsg,
			    uc->uc_arg);
	}
	uc_free(uc);
}

/* Tell the caller (from a fetch's on_done, so from the loop) and free. */
static void
uc_finish(struct upstream_call *uc, enum upstream_result result,
    const char *fmt, ...)
{
	va_list	 ap;
	char	*msg = NULL, *hint;

	if (fmt != NULL) {
		va_start(ap, fmt);
		xvasprintf(&msg, fmt, ap);
		va_end(ap);
		if (result == UPSTREAM_EAUTH && uc->uc_untrusted) {
			xasprintf(&hint, "%s (depot's credentials were not sent: "
			    "the token realm %s is not trusted with them; list "
			    "it in token_realms to allow it)", msg,
			    uc->uc_realm_log);
			free(msg);
			msg = hint;
		}
		/* A token failure was logged where it happened. */
		if (result != UPSTREAM_ETOKEN)
			log_debug("upstream call: %s", msg);
	}
	uc->uc_done = 1;
	if (uc->uc_cb.on_done != NULL)
		uc->uc_cb.on_done(uc, result, msg, uc->uc_arg);
	free(msg);
	uc_free(uc);
}

static void
uc_free(struct upstream_call *uc)
{
	size_t	 i;

	if (uc->uc_ev != NULL)
		event_free(uc->uc_ev);
	ecr_token_cancel(uc->uc_ecr_wait);
	free(uc->uc_ecr_user);
	if (uc->uc_ecr_password != NULL)
		uc_secret_free(uc->uc_ecr_password,
		    strlen(uc->uc_ecr_password));
	for (i = 0; uc->uc_headers != NULL && i < uc->uc_nheaders; i++)
		free(uc->uc_headers[i]);
	free(uc->uc_headers);
	free(uc->uc_base);
	free(uc->uc_url);
	free(uc->uc_scope);
	free(uc->uc_realm_log);
	free(uc->uc_errmsg);
	if (uc->uc_token != NULL)
		uc_secret_free(uc->uc_token, strlen(uc->uc_token));
	if (uc->uc_body != NULL)
		uc_secret_free(uc->uc_body, uc->uc_body_len + 1);
	free(uc);
}

void
upstream_call_cancel(struct upstream_call *uc)
{
	if (uc == NULL || uc->uc_cancelled || uc->uc_done)
		return;
	uc->uc_cancelled = 1;
	ecr_token_cancel(uc->uc_ecr_wait);
	uc->uc_ecr_wait = NULL;
	if (uc->uc_fetch != NULL)
		fetch_cancel(uc->uc_fetch);
	uc->uc_fetch = NULL;
	uc->uc_final = NULL;
	event_active(uc->uc_ev, EV_TIMEOUT, 1);
}

void
upstream_call_resume(struct upstream_call *uc)
{
	if (uc == NULL || uc->uc_cancelled || uc->uc_done ||
	    uc->uc_final == NULL || uc->uc_fetch != uc->uc_final)
		return;
	fetch_resume(uc->uc_fetch);
}

long
upstream_call_status(struct upstream_call *uc)
{
	return (uc->uc_final != NULL ? fetch_status(uc->uc_final) : 0);
}

const char *
upstream_call_header(struct upstream_call *uc, const char *name)
{
	return (uc->uc_final != NULL ? fetch_header(uc->uc_final, name) :
	    NULL);
}

off_t
upstream_call_content_length(struct upstream_call *uc)
{
	return (uc->uc_final != NULL ? fetch_content_length(uc->uc_final) :
	    -1);
}

/* Wait for the ECR token (ecr_token.h); the request goes when it comes. */
static void
uc_ecr_start(struct upstream_call *uc)
{
	uc->uc_ecr_wait = ecr_token_get(uc->uc_fetcher, uc->uc_up,
	    uc_ecr_token_cb, uc);
}

static void
uc_ecr_token_cb(const char *user, const char *password, uint64_t generation,
    const char *errmsg, void *arg)
{
	struct upstream_call	*uc = arg;

	uc->uc_ecr_wait = NULL;
	if (errmsg != NULL) {
		uc_finish(uc, UPSTREAM_ETOKEN, "%s", errmsg);
		return;
	}
	free(uc->uc_ecr_user);
	if (uc->uc_ecr_password != NULL)
		uc_secret_free(uc->uc_ecr_password,
		    strlen(uc->uc_ecr_password));
	uc->uc_ecr_user = xstrdup(user);
	uc->uc_ecr_password = xstrdup(password);
	uc->uc_ecr_generation = generation;
	if (uc->uc_up->up_ecr.el_kind == ECR_PRIVATE)
		uc->uc_basic = 1;	/* ECR wants Basic: no round trip */
	else
		uc_pick_auth(uc, time(NULL));
	if (uc_send(uc) == -1)
		uc_finish(uc, UPSTREAM_EFETCH, "%s: cannot send the request",
		    uc_key(uc));
}

/*
 * The registry refused the ECR token (401, or 403 for an expired one):
 * forget it and try once more with a fresh one; the second refusal is
 * final.
 */
static void
uc_ecr_refused(struct upstream_call *uc, long status)
{
	if (uc->uc_ecr_retried) {
		uc_finish(uc, UPSTREAM_EAUTH, "%s: the registry refused depot's "
		    "credentials (a fresh ECR token, HTTP %ld)", uc_key(uc),
		    status);
		return;
	}
	log_info("upstream %s: the registry refused the ECR token (HTTP %ld);"
	    " getting a new one", uc_key(uc), status);
	ecr_token_refused(uc->uc_up, uc->uc_ecr_generation);
	uc->uc_ecr_retried = 1;
	uc->uc_retried = 1;
	uc_ecr_start(uc);
	if (uc->uc_ecr_wait == NULL)
		uc_finish(uc, UPSTREAM_ETOKEN, "cannot get an ECR token");
}

/* Zero a secret, then free it. */
static void
uc_secret_free(char *s, size_t len)
{
	explicit_bzero(s, len);
	free(s);
}

/* t as 2006-01-02T15:04:05Z. */
static void
uc_time_str(time_t t, char *buf, size_t len)
{
	struct tm	 tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		(void)snprintf(buf, len, "%lld", (long long)t);
}
