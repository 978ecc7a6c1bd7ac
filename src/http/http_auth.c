/*
 * http_auth.c: the token service (/token) and the access checks of /v2/
 * requests and of /metrics. Passwords are checked off the event loop
 * (access_identify_start): the request waits, in flight, and its handler
 * is called again once the caller is known (r->req_caller set). The
 * request stays the handler's until answered, even when its client has
 * left, so nothing it points at is freed meanwhile. Refusals of wrong
 * passwords are held back (access_login_delay_ms) so that guessing is
 * slow. Passwords and tokens are never logged.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>

#include "access/access.h"
#include "http/http_auth.h"
#include "conf/config.h"
#include "http/http.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

/* A request waiting for its caller's password check. */
struct http_auth_resume {
	struct req	*ar_req;
	void		(*ar_again)(struct req *);
};

/* A refusal sent later, to slow down password guessing. */
struct http_auth_later {
	struct req	*al_req;
	struct event	*al_ev;
	int		 al_status;
	char		*al_challenge;	/* WWW-Authenticate, or NULL */
	char		*al_code;
	char		*al_message;
};

static int	http_auth_login(struct req *, const char *, const char *,
		    void (*)(struct req *));
static void	http_auth_resume_cb(void *);
static void	http_auth_refuse(struct req *, int, const char *, const char *,
		    const char *, int);
static void	http_auth_later_cb(evutil_socket_t, short, void *);
static void	http_auth_unauthorized(struct req *, const char *, unsigned,
		    const char *);
static char	*http_auth_challenge(struct req *, const char *, unsigned,
		    const char *);
static int	http_auth_scopes_add(char **, size_t *, const char *);
static void	http_auth_token_reply(struct req *, const char *, char **, size_t,
		    const char *, int);
static void	http_auth_token_post(struct req *);

int
http_auth_identify(struct req *r, void (*again)(struct req *))
{
	struct http_context	*ctx = http_context(r);
	struct http_auth_resume	*ar;

	if (r->req_caller != NULL)
		return (0);
	r->req_caller = xcalloc(1, sizeof(*r->req_caller));
	ar = xcalloc(1, sizeof(*ar));
	ar->ar_req = r;
	ar->ar_again = again;
	if (access_identify_start(ctx->ctx_access, ctx->ctx_config,
	    ctx->ctx_base, http_header_get(r, "Authorization"), r->req_client,
	    r->req_caller, http_auth_resume_cb, ar) == 1)
		return (-1);
	free(ar);
	return (0);
}

/* Check user and password (POST /token); as http_auth_identify. */
static int
http_auth_login(struct req *r, const char *user, const char *password,
    void (*again)(struct req *))
{
	struct http_context	*ctx = http_context(r);
	struct http_auth_resume	*ar;

	if (r->req_caller != NULL)
		return (0);
	r->req_caller = xcalloc(1, sizeof(*r->req_caller));
	ar = xcalloc(1, sizeof(*ar));
	ar->ar_req = r;
	ar->ar_again = again;
	if (access_login_start(ctx->ctx_access, ctx->ctx_config,
	    ctx->ctx_base, user, password, r->req_client, r->req_caller,
	    http_auth_resume_cb, ar) == 1)
		return (-1);
	free(ar);
	return (0);
}

/* On the loop: the caller is known; the handler goes on. */
static void
http_auth_resume_cb(void *arg)
{
	struct http_auth_resume	*ar = arg;
	struct req		*r = ar->ar_req;
	void			(*again)(struct req *) = ar->ar_again;

	free(ar);
	again(r);
}

/*
 * Answer status with the OCI error JSON and the challenge; held back when
 * the caller just got a password wrong.
 */
static void
http_auth_refuse(struct req *r, int status, const char *challenge,
    const char *code, const char *message, int bad_password)
{
	struct http_auth_later	*al;
	struct timeval		 tv;
	long			 ms;

	ms = bad_password ? access_login_delay_ms(http_context(r)->ctx_config,
	    r->req_client, r->req_caller != NULL ? r->req_caller->ca_user :
	    NULL) : 0;
	if (ms <= 0) {
		if (challenge != NULL)
			http_header_add(r, "WWW-Authenticate", challenge);
		http_reply_oci_error(r, status, code, message, NULL);
		return;
	}
	al = xcalloc(1, sizeof(*al));
	al->al_req = r;
	al->al_status = status;
	al->al_challenge = challenge != NULL ? xstrdup(challenge) : NULL;
	al->al_code = xstrdup(code);
	al->al_message = xstrdup(message);
	if ((al->al_ev = evtimer_new(http_context(r)->ctx_base, http_auth_later_cb,
	    al)) == NULL)
		fatalx("%s: evtimer_new", __func__);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(al->al_ev, &tv);
}

static void
http_auth_later_cb(evutil_socket_t fd, short events, void *arg)
{
	struct http_auth_later	*al = arg;

	(void)fd;
	(void)events;
	if (al->al_challenge != NULL)
		http_header_add(al->al_req, "WWW-Authenticate",
		    al->al_challenge);
	http_reply_oci_error(al->al_req, al->al_status, al->al_code,
	    al->al_message, NULL);
	event_free(al->al_ev);
	free(al->al_challenge);
	free(al->al_code);
	free(al->al_message);
	free(al);
}

/* The Bearer challenge, for repo (NULL: none) and need. Caller frees. */
static char *
http_auth_challenge(struct req *r, const char *repo, unsigned need,
    const char *error)
{
	char	*realm, *challenge, *scope = NULL, *err = NULL;

	realm = http_public_url(r, "/token");
	if (repo != NULL)
		xasprintf(&scope, ",scope=\"repository:%s:%s\"", repo,
		    (need & ACCESS_DELETE) ? "delete" :
		    (need & ACCESS_PUSH) ? "pull,push" : "pull");
	if (error != NULL)
		xasprintf(&err, ",error=\"%s\"", error);
	xasprintf(&challenge, "Bearer realm=\"%s\",service=\"%s\"%s%s", realm,
	    ACCESS_SERVICE, scope != NULL ? scope : "", err != NULL ? err : "");
	free(realm);
	free(scope);
	free(err);
	return (challenge);
}

/*
 * 401 for a caller without (good) credentials, with the challenge for
 * repo (NULL: none) and need; a wrong password is logged, counted and its
 * refusal held back.
 */
static void
http_auth_unauthorized(struct req *r, const char *repo, unsigned need,
    const char *error)
{
	const struct access_caller	*who = r->req_caller;
	char				*challenge;

	if (error == NULL && who->ca_bad && !who->ca_bad_password &&
	    !who->ca_backoff)
		error = "invalid_token";
	challenge = http_auth_challenge(r, repo, need, error);
	http_auth_refuse(r, 401, challenge, "UNAUTHORIZED", who->ca_backoff ?
	    "too many failed logins; try again later" :
	    "authentication required", who->ca_bad_password);
	free(challenge);
}

int
http_auth_check_base(struct req *r)
{
	const struct access_caller	*who = r->req_caller;

	if (http_context(r)->ctx_access == NULL || who->ca_signed_in ||
	    (who->ca_bearer && !who->ca_bad))
		return (0);
	http_auth_unauthorized(r, NULL, 0, NULL);
	return (-1);
}

int
http_auth_check_catalog(struct req *r)
{
	if (http_context(r)->ctx_access == NULL || !r->req_caller->ca_bad)
		return (0);
	http_auth_unauthorized(r, NULL, 0, NULL);
	return (-1);
}

int
http_auth_check_unknown(struct req *r, const char *repo, unsigned need)
{
	if (http_context(r)->ctx_access == NULL ||
	    (r->req_caller->ca_signed_in && !r->req_caller->ca_bad))
		return (0);
	http_auth_unauthorized(r, repo, need, NULL);
	return (-1);
}

int
http_auth_check(struct req *r, const char *repo, unsigned need)
{
	struct http_context		*ctx = http_context(r);
	const struct access_caller	*who = r->req_caller;
	unsigned			 rights, policy;

	if (ctx->ctx_access == NULL)
		return (0);
	rights = access_rights(ctx->ctx_access, ctx->ctx_config, who,
	    repo);
	if ((rights & need) == need)
		return (0);
	policy = access_policy(ctx->ctx_config, repo,
	    who->ca_bad ? "" : who->ca_user);
	if (who->ca_bad || !who->ca_signed_in) {
		http_auth_unauthorized(r, repo, need, NULL);
		return (-1);
	}
	if (who->ca_bearer && (policy & need) == need) {
		http_auth_unauthorized(r, repo, need,
		    "insufficient_scope");
		return (-1);
	}
	if ((policy & ACCESS_PULL) == 0)
		http_reply_oci_error(r, 404, "NAME_UNKNOWN",
		    "repository name not known to registry", repo);
	else
		http_reply_oci_error(r, 403, "DENIED",
		    "requested access to the resource is denied",
		    repo);
	return (-1);
}

int
http_auth_check_metrics(struct req *r, void (*again)(struct req *))
{
	struct http_context		*ctx = http_context(r);
	const struct access_caller	*who;

	if (http_auth_identify(r, again) == -1)
		return (-1);
	who = r->req_caller;
	if (!who->ca_bad && access_metrics_allowed(ctx->ctx_config,
	    r->req_client, who->ca_user))
		return (0);
	if (ctx->ctx_access != NULL && (who->ca_bad || !who->ca_signed_in) &&
	    ctx->ctx_config->cf_server.srv_metrics_read_set)
		http_auth_refuse(r, 401, "Basic realm=\"depot\"", "UNAUTHORIZED",
		    who->ca_backoff ? "too many failed logins; try again later" :
		    "authentication required", who->ca_bad_password);
	else
		http_reply_oci_error(r, 403, "DENIED",
		    "requested access to the resource is denied", NULL);
	return (-1);
}

/* Add the space separated scopes of value. 0, or -1 when too many. */
static int
http_auth_scopes_add(char **scopes, size_t *n, const char *value)
{
	const char	*p = value;
	size_t		 len;

	while (*p != '\0') {
		p += strspn(p, " ");
		if ((len = strcspn(p, " ")) == 0)
			break;
		if (*n >= AUTH_SCOPES_MAX)
			return (-1);
		scopes[(*n)++] = xstrndup(p, len);
		p += len;
	}
	return (0);
}

/* 200 with a token for user ("" anonymous). */
static void
http_auth_token_reply(struct req *r, const char *user, char **scopes, size_t n,
    const char *service, int with_refresh)
{
	struct http_context	*ctx = http_context(r);
	char			*json;
	size_t			 i;

	json = access_token_answer(ctx->ctx_access, ctx->ctx_config, user,
	    service, scopes, n, with_refresh);
	if (*user != '\0') {
		log_info("audit: token for %s from %s (%zu scopes)", user,
		    r->req_client, n);
		for (i = 0; i < n; i++)
			log_debug("audit: token for %s: %s", user, scopes[i]);
	}
	http_header_add(r, "Cache-Control", "no-store");
	http_reply_json_text(r, 200, json);
	OPENSSL_cleanse(json, strlen(json));
	free(json);
}

void
http_auth_token_service(struct req *r)
{
	struct http_context	*ctx = http_context(r);
	struct evkeyval		*kv;
	const struct access_caller *who;
	char			*scopes[AUTH_SCOPES_MAX];
	size_t			 n = 0, i;
	enum evhttp_cmd_type	 m = http_method(r);

	if (ctx->ctx_access == NULL) {
		http_reply_oci_error(r, 404, "UNSUPPORTED",
		    "no token service: access control is off", NULL);
		return;
	}
	if (m == EVHTTP_REQ_POST) {
		http_auth_token_post(r);
		return;
	}
	if (m != EVHTTP_REQ_GET) {
		http_reply_oci_error(r, 405, "UNSUPPORTED",
		    "method not allowed", NULL);
		return;
	}
	if (http_auth_identify(r, http_auth_token_service) == -1)
		return;
	who = r->req_caller;
	TAILQ_FOREACH(kv, &r->req_query, next)
		if (strcmp(kv->key, "scope") == 0 &&
		    http_auth_scopes_add(scopes, &n, kv->value) == -1) {
			http_reply_oci_error(r, 400, "UNSUPPORTED",
			    "too many scopes", NULL);
			goto done;
		}
	/* A token does not buy another one: only a password does. */
	if (who->ca_bad || who->ca_bearer)
		http_auth_refuse(r, 401, "Basic realm=\"depot\"", "UNAUTHORIZED",
		    who->ca_backoff ? "too many failed logins; try again later" :
		    "wrong user name or password", who->ca_bad_password);
	else
		http_auth_token_reply(r, who->ca_user, scopes, n,
		    http_query_get(r, "service"), 0);

done:
	for (i = 0; i < n; i++)
		free(scopes[i]);
}

int
http_auth_form_parse(const char *body, struct http_auth_form *f,
    const char **why)
{
	const char	*access_type, *scope;

	memset(f, 0, sizeof(*f));
	TAILQ_INIT(&f->af_fields);
	if (evhttp_parse_query_str(body, &f->af_fields) == -1) {
		*why = "the form cannot be read";
		return (-1);
	}
	f->af_grant = evhttp_find_header(&f->af_fields, "grant_type");
	f->af_user = evhttp_find_header(&f->af_fields, "username");
	f->af_password = evhttp_find_header(&f->af_fields, "password");
	f->af_refresh = evhttp_find_header(&f->af_fields, "refresh_token");
	f->af_service = evhttp_find_header(&f->af_fields, "service");
	access_type = evhttp_find_header(&f->af_fields, "access_type");
	f->af_offline = access_type != NULL &&
	    strcmp(access_type, "offline") == 0;
	scope = evhttp_find_header(&f->af_fields, "scope");
	if (scope != NULL && http_auth_scopes_add(f->af_scopes,
	    &f->af_nscopes, scope) == -1) {
		*why = "too many scopes";
		return (-1);
	}
	return (0);
}

void
http_auth_form_clear(struct http_auth_form *f)
{
	struct evkeyval	*kv;
	size_t		 i;

	for (i = 0; i < f->af_nscopes; i++)
		free(f->af_scopes[i]);
	/* The password is among the values. */
	TAILQ_FOREACH(kv, &f->af_fields, next)
		OPENSSL_cleanse(kv->value, strlen(kv->value));
	evhttp_clear_headers(&f->af_fields);
	memset(f, 0, sizeof(*f));
	TAILQ_INIT(&f->af_fields);
}

/* POST /token: Docker's OAuth2 flavour (password and refresh_token). */
static void
http_auth_token_post(struct req *r)
{
	struct http_context	*ctx = http_context(r);
	struct evbuffer		*input = evhttp_request_get_input_buffer(r->req_ev);
	struct http_auth_form	 form;
	const char		*why;
	char			*body;
	char			 who[ACCESS_USER_MAX + 1];
	size_t			 len;

	len = evbuffer_get_length(input);
	body = xmalloc(len + 1);
	evbuffer_copyout(input, body, len);
	body[len] = '\0';
	if (http_auth_form_parse(body, &form, &why) == -1) {
		http_reply_oci_error(r, 400, "UNSUPPORTED", why, NULL);
		goto done;
	}
	if (form.af_grant != NULL && strcmp(form.af_grant, "password") == 0) {
		/* Checked off the loop; this runs again when done. */
		if (http_auth_login(r, form.af_user, form.af_password,
		    http_auth_token_service) == -1)
			goto done;
		if (!r->req_caller->ca_signed_in) {
			http_auth_refuse(r, 401, NULL, "UNAUTHORIZED",
			    r->req_caller->ca_backoff ? "too many failed "
			    "logins; try again later" :
			    "wrong user name or password",
			    r->req_caller->ca_bad_password);
			goto done;
		}
		http_auth_token_reply(r, form.af_user, form.af_scopes,
		    form.af_nscopes, form.af_service, form.af_offline);
	} else if (form.af_grant != NULL &&
	    strcmp(form.af_grant, "refresh_token") == 0) {
		if (form.af_refresh == NULL ||
		    access_refresh_user(ctx->ctx_access, form.af_refresh,
		    who) == -1) {
			http_reply_oci_error(r, 401, "UNAUTHORIZED",
			    "the refresh token is not valid", NULL);
			goto done;
		}
		http_auth_token_reply(r, who, form.af_scopes, form.af_nscopes,
		    form.af_service, 0);
	} else
		http_reply_oci_error(r, 400, "UNSUPPORTED",
		    "grant_type must be password or refresh_token", NULL);

done:
	http_auth_form_clear(&form);
	OPENSSL_cleanse(body, len);
	free(body);
}
