/*
 * upstream_test.c: unit tests for upstream.c. A fake registry and its
 * token service are one evhttp server on 127.0.0.1 (ephemeral port),
 * driven by the same event loop as the fetcher. The repository in the
 * path picks the behaviour: open, Bearer, Basic, a realm on another host
 * name, 429, 500, held forever. Covered: the Bearer dance and its token
 * cache, Basic, refused credentials, credentials kept from untrusted
 * realms, Retry-After and the breaker skipping calls, the library/
 * mapping, ECR (its token as Basic, shared, refreshed once on a 401 or
 * 403, a failed refresh; ECR Public with keys), and that no callback ever comes from inside
 * upstream_call_start or after a cancel.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "conf/config.h"
#include "upstream/fetch.h"
#include "lib/log.h"
#include "upstream/upstream.h"
#include "upstream/upstream_state.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "check_main.h"

#define BODY_MAX	4096
#define SCOPE		"repository:bearer/app:pull"
#define USER		"user"
#define PASS		"pa55-w0rd"
#define BASIC_GOOD	"Basic dXNlcjpwYTU1LXcwcmQ="	/* user:pa55-w0rd */

/* The fake registry and token service. */
struct fake {
	struct evhttp		*fk_http;
	int			 fk_port;
	int			 fk_registry_requests;
	int			 fk_token_requests;
	int			 fk_token_gen;		/* valid: tok-<gen> */
	int			 fk_refuse_tokens;	/* no token is good */
	char			 fk_token_query[512];
	char			 fk_token_auth[256];
	char			 fk_registry_auth[256];
	char			 fk_accept[128];
	struct evhttp_request	*fk_held;
	int			 fk_ecr_calls;	/* GetAuthorizationToken */
	int			 fk_ecr_gen;	/* valid: AWS:ecr-pw-<gen> */
	int			 fk_ecr_issued;	/* the password handed out */
	int			 fk_ecr_403;	/* answers 403 so many times */
	int			 fk_ecr_throttle;
	char			 fk_ecr_target[128];
	char			 fk_ecr_authz[512];
};

/* What one call saw. */
struct result {
	struct upstream_call	*r_call;
	int			 r_in_start;
	int			 r_headers_calls;
	int			 r_data_calls;
	int			 r_done_calls;
	int			 r_done_in_start;
	long			 r_status;
	off_t			 r_clen;
	char			 r_xtest[64];
	enum upstream_result	 r_result;
	char			 r_errmsg[512];
	int			 r_errmsg_null;
	long			 r_status_at_done;
	char			 r_body[BODY_MAX];
	size_t			 r_body_len;
	int			 r_cancel_in_headers;
	int			*r_counter;
};

static struct event_base	*base;
static struct fetcher		*fetcher;
static struct fake		 fk;
static char			 fake_url[64];

static void		 fake_start(void);
static void		 fake_cb(struct evhttp_request *, void *);
static void		 fake_token(struct evhttp_request *, const char *);
static void		 fake_ecr_api(struct evhttp_request *, const char *);
static void		 fake_ecr_registry(struct evhttp_request *,
			    const char *);
static void		 ecr_init(struct config_upstream *);
static void		 fake_ecr_public_token(struct evhttp_request *,
			    const char *);
static void		 ecr_basic(char *, size_t);
static void		 fake_reply(struct evhttp_request *, int,
			    const char *);
static void		 fake_challenge(struct evhttp_request *, const char *,
			    const char *);
static int		 on_headers(struct upstream_call *, long, void *);
static int		 on_data(struct upstream_call *, const void *, size_t,
			    void *);
static void		 on_done(struct upstream_call *, enum upstream_result,
			    const char *, void *);
static void		 tick_cb(evutil_socket_t, short, void *);
static int		 loop_until(const int *, int, long);
static void		 loop_for(long);
static void		 upstream_init(struct config_upstream *, const char *);
static struct upstream_call *start(const struct config_upstream *,
			    const char *, const char *, struct result *);
static int		 run(const struct config_upstream *, const char *,
			    const char *, struct result *);
static int		 free_port(void);
static void		 setup(void);
static void		 teardown(void);
static Suite		*upstream_suite(void);

/* ---- the fake registry ---- */

static void
fake_start(void)
{
	struct evhttp_bound_socket	*bound;
	struct sockaddr_in		 sin;
	socklen_t			 len = sizeof(sin);

	memset(&fk, 0, sizeof(fk));
	fk.fk_token_gen = 1;
	fk.fk_http = evhttp_new(base);
	ck_assert_ptr_nonnull(fk.fk_http);
	bound = evhttp_bind_socket_with_handle(fk.fk_http, "127.0.0.1", 0);
	ck_assert_ptr_nonnull(bound);
	ck_assert_int_eq(getsockname(evhttp_bound_socket_get_fd(bound),
	    (struct sockaddr *)&sin, &len), 0);
	fk.fk_port = ntohs(sin.sin_port);
	evhttp_set_gencb(fk.fk_http, fake_cb, NULL);
	snprintf(fake_url, sizeof(fake_url), "http://127.0.0.1:%d",
	    fk.fk_port);
}

static void
fake_reply(struct evhttp_request *req, int code, const char *body)
{
	struct evbuffer	*buf = evbuffer_new();

	if (body != NULL)
		evbuffer_add_printf(buf, "%s", body);
	evhttp_send_reply(req, code, code == 200 ? "OK" : "Nope", buf);
	evbuffer_free(buf);
}

/* 401 with a Bearer challenge naming a realm on host at path. */
static void
fake_challenge(struct evhttp_request *req, const char *host,
    const char *path)
{
	char	 value[512];

	snprintf(value, sizeof(value), "Bearer realm=\"http://%s:%d%s\","
	    "service=\"fake-registry\",scope=\"repository:%s:pull\"", host,
	    fk.fk_port, path, "bearer/app");
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "WWW-Authenticate", value);
	fake_reply(req, 401, "{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}");
}

/* The token service: tok-<gen>; with userpass upstreams, checks Basic. */
static void
fake_token(struct evhttp_request *req, const char *auth)
{
	const char	*uri = evhttp_request_get_uri(req), *q;
	char		 body[128];

	fk.fk_token_requests++;
	q = strchr(uri, '?');
	snprintf(fk.fk_token_query, sizeof(fk.fk_token_query), "%s",
	    q != NULL ? q + 1 : "");
	snprintf(fk.fk_token_auth, sizeof(fk.fk_token_auth), "%s",
	    auth != NULL ? auth : "");
	if (strncmp(uri, "/token-held", 11) == 0) {
		fk.fk_held = req;
		return;
	}
	if (strncmp(uri, "/token-garbage", 14) == 0) {
		fake_reply(req, 200, "this is not { json tok-secret");
		return;
	}
	if (auth != NULL && strcmp(auth, BASIC_GOOD) != 0) {
		fake_reply(req, 401, "bad credentials");
		return;
	}
	snprintf(body, sizeof(body), "{\"token\":\"tok-%d\","
	    "\"expires_in\":300}", fk.fk_token_gen);
	fake_reply(req, 200, body);
}

static void
fake_cb(struct evhttp_request *req, void *arg)
{
	struct evkeyvalq	*in = evhttp_request_get_input_headers(req);
	struct evkeyvalq	*out = evhttp_request_get_output_headers(req);
	const char		*uri = evhttp_request_get_uri(req);
	const char		*auth, *v;
	char			 good[64];

	(void)arg;
	auth = evhttp_find_header(in, "Authorization");
	if (strncmp(uri, "/token", 6) == 0) {
		fake_token(req, auth);
		return;
	}
	if (strcmp(uri, "/ecr-api") == 0) {
		fake_ecr_api(req, auth);
		return;
	}
	if (strncmp(uri, "/ecrpub-token", 13) == 0) {
		fake_ecr_public_token(req, auth);
		return;
	}
	fk.fk_registry_requests++;
	snprintf(fk.fk_registry_auth, sizeof(fk.fk_registry_auth), "%s",
	    auth != NULL ? auth : "");
	v = evhttp_find_header(in, "Accept");
	snprintf(fk.fk_accept, sizeof(fk.fk_accept), "%s", v != NULL ? v : "");
	snprintf(good, sizeof(good), "Bearer tok-%d", fk.fk_token_gen);
	if (strncmp(uri, "/v2/open/app/", 13) == 0 ||
	    strncmp(uri, "/v2/library/alpine/", 19) == 0) {
		evhttp_add_header(out, "X-Test", "yes");
		fake_reply(req, 200, strncmp(uri, "/v2/open/", 9) == 0 ?
		    "manifest-body" : "alpine-body");
	} else if (strncmp(uri, "/v2/bearer/app/", 15) == 0 ||
	    strncmp(uri, "/v2/untrusted/app/", 18) == 0 ||
	    strncmp(uri, "/v2/garbage/app/", 16) == 0 ||
	    strncmp(uri, "/v2/heldtoken/app/", 18) == 0) {
		if (auth != NULL && strcmp(auth, good) == 0 &&
		    !fk.fk_refuse_tokens) {
			evhttp_add_header(out, "ratelimit-limit",
			    "100;w=21600");
			evhttp_add_header(out, "ratelimit-remaining",
			    "99;w=21600");
			fake_reply(req, 200, "secret-body");
		} else if (strncmp(uri, "/v2/untrusted/", 14) == 0)
			fake_challenge(req, "localhost", "/token");
		else if (strncmp(uri, "/v2/garbage/", 12) == 0)
			fake_challenge(req, "127.0.0.1", "/token-garbage");
		else if (strncmp(uri, "/v2/heldtoken/", 14) == 0)
			fake_challenge(req, "127.0.0.1", "/token-held");
		else
			fake_challenge(req, "127.0.0.1", "/token");
	} else if (strncmp(uri, "/v2/basic/app/", 14) == 0) {
		if (auth != NULL && strcmp(auth, BASIC_GOOD) == 0)
			fake_reply(req, 200, "basic-body");
		else {
			evhttp_add_header(out, "WWW-Authenticate",
			    "Basic realm=\"fake\"");
			fake_reply(req, 401, "who are you");
		}
	} else if (strncmp(uri, "/v2/ecrapp/", 11) == 0) {
		fake_ecr_registry(req, auth);
	} else if (strncmp(uri, "/v2/pubalias/app/", 17) == 0) {
		if (auth != NULL && strcmp(auth, "Bearer pub-tok") == 0)
			fake_reply(req, 200, "public-body");
		else
			fake_challenge(req, "127.0.0.1", "/ecrpub-token");
	} else if (strncmp(uri, "/v2/nochallenge/", 16) == 0)
		fake_reply(req, 401, NULL);
	else if (strncmp(uri, "/v2/limited/", 12) == 0) {
		evhttp_add_header(out, "Retry-After", "120");
		fake_reply(req, 429, "slow down");
	} else if (strncmp(uri, "/v2/broken/", 11) == 0)
		fake_reply(req, 500, "oops");
	else if (strncmp(uri, "/v2/held/", 9) == 0)
		fk.fk_held = req;
	else
		fake_reply(req, 404, "{\"errors\":[]}");
}

/*
 * ECR's GetAuthorizationToken: a signed POST with the target header;
 * hands out base64("AWS:ecr-pw-<gen>"), or a throttling error.
 */
static void
fake_ecr_api(struct evhttp_request *req, const char *auth)
{
	struct evkeyvalq	*in = evhttp_request_get_input_headers(req);
	const char		*target;
	char			 plain[64], b64[128], body[512];

	fk.fk_ecr_calls++;
	target = evhttp_find_header(in, "X-Amz-Target");
	snprintf(fk.fk_ecr_target, sizeof(fk.fk_ecr_target), "%s",
	    target != NULL ? target : "");
	snprintf(fk.fk_ecr_authz, sizeof(fk.fk_ecr_authz), "%s",
	    auth != NULL ? auth : "");
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		fake_reply(req, 405, NULL);
		return;
	}
	if (fk.fk_ecr_throttle) {
		fake_reply(req, 400, "{\"__type\":\"ThrottlingException\","
		    "\"message\":\"Rate exceeded\"}");
		return;
	}
	snprintf(plain, sizeof(plain), "AWS:ecr-pw-%d", fk.fk_ecr_gen);
	EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)plain,
	    strlen(plain));
	fk.fk_ecr_issued = fk.fk_ecr_gen;
	snprintf(body, sizeof(body), "{\"authorizationData\":[{"
	    "\"authorizationToken\":\"%s\",\"expiresAt\":%lld,"
	    "\"proxyEndpoint\":\"https://x\"}]}", b64,
	    (long long)time(NULL) + 3600);
	fake_reply(req, 200, body);
}

/* "Basic base64(AWS:ecr-pw-<gen>)" into buf. */
static void
ecr_basic(char *buf, size_t len)
{
	char	 plain[64];

	ck_assert_uint_ge(len, 128);
	snprintf(plain, sizeof(plain), "AWS:ecr-pw-%d", fk.fk_ecr_gen);
	strcpy(buf, "Basic ");
	EVP_EncodeBlock((unsigned char *)buf + 6,
	    (const unsigned char *)plain, strlen(plain));
}

/* ECR Public's token service: a token for the ECR token as Basic. */
static void
fake_ecr_public_token(struct evhttp_request *req, const char *auth)
{
	char	 good[128];

	fk.fk_token_requests++;
	ecr_basic(good, sizeof(good));
	if (auth != NULL && strcmp(auth, good) == 0)
		fake_reply(req, 200, "{\"token\":\"pub-tok\","
		    "\"expires_in\":300}");
	else
		fake_reply(req, 401, "no");
}

/* A registry behind Basic AWS:ecr-pw-<gen>; 403 while fk_ecr_403. */
static void
fake_ecr_registry(struct evhttp_request *req, const char *auth)
{
	struct evkeyvalq	*out = evhttp_request_get_output_headers(req);
	char			 good[128];

	ecr_basic(good, sizeof(good));
	if (auth != NULL && fk.fk_ecr_403 > 0) {
		fk.fk_ecr_403--;
		fake_reply(req, 403, "{\"errors\":[{\"code\":\"DENIED\","
		    "\"message\":\"Your authorization token has expired.\"}]}");
	} else if (auth != NULL && strcmp(auth, good) == 0)
		fake_reply(req, 200, "ecr-body");
	else {
		evhttp_add_header(out, "WWW-Authenticate",
		    "Basic realm=\"https://x\",service=\"ecr.amazonaws.com\"");
		fake_reply(req, 401, "Not Authorized");
	}
}

/* ---- the caller's side ---- */

static int
on_headers(struct upstream_call *call, long status, void *arg)
{
	struct result	*r = arg;
	const char	*v;

	ck_assert_ptr_eq(call, r->r_call);
	r->r_headers_calls++;
	r->r_status = status;
	ck_assert_int_eq(upstream_call_status(call), status);
	r->r_clen = upstream_call_content_length(call);
	v = upstream_call_header(call, "x-test");
	snprintf(r->r_xtest, sizeof(r->r_xtest), "%s", v != NULL ? v : "");
	if (r->r_cancel_in_headers) {
		upstream_call_cancel(call);
		upstream_call_cancel(call);
	}
	return (0);
}

static int
on_data(struct upstream_call *call, const void *buf, size_t len, void *arg)
{
	struct result	*r = arg;
	size_t		 n = len;

	(void)call;
	r->r_data_calls++;
	if (n > sizeof(r->r_body) - 1 - r->r_body_len)
		n = sizeof(r->r_body) - 1 - r->r_body_len;
	memcpy(r->r_body + r->r_body_len, buf, n);
	r->r_body_len += n;
	r->r_body[r->r_body_len] = '\0';
	return (0);
}

static void
on_done(struct upstream_call *call, enum upstream_result result,
    const char *errmsg, void *arg)
{
	struct result	*r = arg;

	ck_assert_ptr_eq(call, r->r_call);
	if (r->r_in_start)
		r->r_done_in_start++;
	r->r_done_calls++;
	r->r_result = result;
	r->r_errmsg_null = errmsg == NULL;
	snprintf(r->r_errmsg, sizeof(r->r_errmsg), "%s",
	    errmsg != NULL ? errmsg : "");
	r->r_status_at_done = upstream_call_status(call);
	/* A no-op on a call that is ending. */
	upstream_call_cancel(call);
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

static void
loop_for(long ms)
{
	int	 never = 0;

	loop_until(&never, 1, ms);
}

/* A custom upstream named key at the fake registry, anonymous. */
static void
upstream_init(struct config_upstream *up, const char *key)
{
	memset(up, 0, sizeof(*up));
	up->up_key = (char *)key;
	up->up_type = REPO_DOCKER;
	up->up_source = SOURCE_CUSTOM;
	up->up_url = fake_url;
	up->up_auth.cr_type = AUTH_ANONYMOUS;
	up->up_timeout = 5;
}

static struct upstream_call *
start(const struct config_upstream *up, const char *repo, const char *path,
    struct result *r)
{
	static const struct upstream_callbacks cb = { on_headers, on_data,
	    on_done };
	static const char *const headers[] = {
		"Accept: application/vnd.oci.image.manifest.v1+json"
	};
	struct upstream_request	 req;

	memset(&req, 0, sizeof(req));
	req.ur_upstream = up;
	req.ur_method = FETCH_GET;
	req.ur_repo = repo;
	req.ur_path = path;
	req.ur_headers = headers;
	req.ur_nheaders = 1;
	r->r_in_start = 1;
	r->r_call = upstream_call_start(fetcher, &req, &cb, r);
	r->r_in_start = 0;
	return (r->r_call);
}

/* One call, run to its end; 1 when it ended. */
static int
run(const struct config_upstream *up, const char *repo, const char *path,
    struct result *r)
{
	int	 done = 0;

	memset(r, 0, sizeof(*r));
	r->r_counter = &done;
	ck_assert_ptr_nonnull(start(up, repo, path, r));
	ck_assert_int_eq(r->r_done_calls, 0);
	loop_until(&done, 1, 60000);
	ck_assert_int_eq(r->r_done_in_start, 0);
	r->r_counter = NULL;
	return (done);
}

/*
 * A loopback port nobody listens on: bound, never listening, and kept open
 * until the test's process ends, so that connections to it are refused and
 * nothing else can take it meanwhile.
 */
static int
free_port(void)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	int			 s;

	s = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(s, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(s, (struct sockaddr *)&sin, &len), 0);
	return (ntohs(sin.sin_port));
}

static void
setup(void)
{
	unsetenv("http_proxy");
	unsetenv("https_proxy");
	unsetenv("HTTPS_PROXY");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	unsetenv("no_proxy");
	ck_assert_int_eq(upstream_state_init(), 0);
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	fetcher = fetcher_create(base);
	ck_assert_ptr_nonnull(fetcher);
	fake_start();
}

static void
teardown(void)
{
	/* Let cancelled calls and fetches be freed. */
	loop_for(50);
	fetcher_free(fetcher);
	fetcher = NULL;
	evhttp_free(fk.fk_http);
	event_base_free(base);
	base = NULL;
	upstream_state_close();
}

/* ---- tests ---- */

START_TEST(test_anonymous)
{
	struct config_upstream	 up;
	struct result		 r;

	upstream_init(&up, "fake");
	ck_assert(run(&up, "open/app", "manifests/latest", &r));
	ck_assert_int_eq(r.r_done_calls, 1);
	ck_assert_int_eq(r.r_result, UPSTREAM_OK);
	ck_assert(r.r_errmsg_null);
	ck_assert_int_eq(r.r_headers_calls, 1);
	ck_assert_int_eq(r.r_status, 200);
	ck_assert_int_eq(r.r_status_at_done, 200);
	ck_assert_str_eq(r.r_body, "manifest-body");
	ck_assert_int_eq(r.r_clen, strlen("manifest-body"));
	ck_assert_str_eq(r.r_xtest, "yes");
	ck_assert_str_eq(fk.fk_accept,
	    "application/vnd.oci.image.manifest.v1+json");
	ck_assert_str_eq(fk.fk_registry_auth, "");
	ck_assert_int_eq(fk.fk_registry_requests, 1);

	/* A 404 is an answer like any other. */
	ck_assert(run(&up, "open/gone", "manifests/latest", &r));
	ck_assert_int_eq(r.r_result, UPSTREAM_OK);
	ck_assert_int_eq(r.r_status, 404);
	ck_assert_int_eq(upstream_state_check("fake", time(NULL), NULL),
	    UPSTREAM_GO);
	ck_assert_uint_eq(fetcher_active(fetcher), 0);
}
END_TEST

START_TEST(test_bearer)
{
	struct config_upstream	 up;
	struct result		 r;
	char			 buf[64];

	upstream_init(&up, "fake");
	ck_assert(run(&up, "bearer/app", "manifests/latest", &r));
	ck_assert_msg(r.r_result == UPSTREAM_OK, "%s", r.r_errmsg);
	/* The 401 stays hidden. */
	ck_assert_int_eq(r.r_headers_calls, 1);
	ck_assert_int_eq(r.r_status, 200);
	ck_assert_str_eq(r.r_body, "secret-body");
	ck_assert_int_eq(fk.fk_registry_requests, 2);
	ck_assert_int_eq(fk.fk_token_requests, 1);
	ck_assert_msg(strstr(fk.fk_token_query, "service=fake-registry") !=
	    NULL, "%s", fk.fk_token_query);
	ck_assert_msg(strstr(fk.fk_token_query,
	    "scope=repository%3Abearer%2Fapp%3Apull") != NULL, "%s",
	    fk.fk_token_query);
	/* Anonymous: no credentials to the token service. */
	ck_assert_str_eq(fk.fk_token_auth, "");
	ck_assert_str_eq(fk.fk_registry_auth, "Bearer tok-1");
	ck_assert_int_eq(upstream_token_get("fake", SCOPE, time(NULL), buf,
	    sizeof(buf)), 1);
	ck_assert_str_eq(buf, "tok-1");

	/* The token is reused: one request, no token fetch. */
	ck_assert(run(&up, "bearer/app", "blobs/sha256:00", &r));
	ck_assert_int_eq(r.r_result, UPSTREAM_OK);
	ck_assert_int_eq(r.r_status, 200);
	ck_assert_int_eq(fk.fk_registry_requests, 3);
	ck_assert_int_eq(fk.fk_token_requests, 1);

	/* A cached token refused: dropped, replaced, request sent again. */
	fk.fk_token_gen = 2;
	ck_assert(run(&up, "bearer/app", "manifests/latest", &r));
	ck_assert_msg(r.r_result == UPSTREAM_OK, "%s", r.r_errmsg);
	ck_assert_int_eq(r.r_status, 200);
	ck_assert_int_eq(r.r_headers_calls, 1);
	ck_assert_int_eq(fk.fk_registry_requests, 5);
	ck_assert_int_eq(fk.fk_token_requests, 2);
	ck_assert_str_eq(fk.fk_registry_auth, "Bearer tok-2");
}
END_TEST

START_TEST(test_bearer_refused)
{
	struct config_upstream	 up;
	struct result		 r;
	char			 buf[64];

	/* Every token is refused: one retry, then EAUTH; token dropped. */
	upstream_init(&up, "fake");
	fk.fk_refuse_tokens = 1;
	ck_assert(run(&up, "bearer/app", "manifests/latest", &r));
	ck_assert_int_eq(r.r_result, UPSTREAM_EAUTH);
	ck_assert_int_eq(r.r_headers_calls, 0);
	ck_assert_int_eq(r.r_data_calls, 0);
	ck_assert_msg(strstr(r.r_errmsg, "fake: ") == r.r_errmsg, "%s",
	    r.r_errmsg);
	ck_assert_msg(strstr(r.r_errmsg, "HTTP 401") != NULL, "%s",
	    r.r_errmsg);
	ck_assert_ptr_null(strstr(r.r_errmsg, "tok-"));
	ck_assert_int_eq(fk.fk_registry_requests, 2);
	ck_assert_int_eq(fk.fk_token_requests, 1);
	ck_assert_int_eq(upstream_token_get("fake", SCOPE, time(NULL), buf,
	    sizeof(buf)), 0);
	/* 401s are answers: the breaker stays closed. */
	ck_assert_int_eq(upstream_state_check("fake", time(NULL), NULL),
	    UPSTREAM_GO);

	/* A token service answer that is not JSON. */
	fk.fk_refuse_tokens = 0;
	ck_assert(run(&up, "garbage/app", "manifests/latest", &r));
	ck_assert_int_eq(r.r_result, UPSTREAM_EAUTH);
	ck_assert_msg(strstr(r.r_errmsg, "unusable") != NULL, "%s",
	    r.r_errmsg);
	ck_assert_ptr_null(strstr(r.r_errmsg, "tok-secret"));

	/* A 401 without a challenge. */
	ck_assert(run(&up, "nochallenge/app", "manifests/latest", &r));
	ck_assert_int_eq(r.r_result, UPSTREAM_EAUTH);
	ck_assert_int_eq(r.r_headers_calls, 0);
}
END_TEST

START_TEST(test_bearer_userpass)
{
	struct config_upstream	 up;
	struct result		 r;

	/* Same host: the realm is trusted with the credentials. */
	upstream_init(&up, "fake");
	up.up_auth.cr_type = AUTH_USERPASS;
	up.up_auth.cr_username = USER;
	up.up_auth.cr_password = PASS;
	ck_assert(run(&up, "bearer/app", "manifests/latest", &r));
	ck_assert_msg(r.r_result == UPSTREAM_OK, "%s", r.r_errmsg);
	ck_assert_str_eq(fk.fk_token_auth, BASIC_GOOD);
	ck_assert_str_eq(fk.fk_registry_auth, "Bearer tok-1");

	/* Wrong password: the token service says no. */
	upstream_init(&up, "fake2");
	up.up_auth.cr_type = AUTH_USERPASS;
	up.up_auth.cr_username = USER;
	up.up_auth.cr_password = "wrong-secret";
	ck_assert(run(&up, "bearer/app", "manifests/latest", &r));
	ck_assert_int_eq(r.r_result, UPSTREAM_EAUTH);
	ck_assert_int_eq(r.r_headers_calls, 0);
	ck_assert_msg(strstr(r.r_errmsg, "401") != NULL, "%s", r.r_errmsg);
	ck_assert_ptr_null(strstr(r.r_errmsg, "wrong-secret"));
	ck_assert_int_eq(fk.fk_token_requests, 2);
}
END_TEST

START_TEST(test_basic)
{
	struct config_upstream	 up;
	struct result		 r;

	upstream_init(&up, "fake");
	up.up_auth.cr_type = AUTH_USERPASS;
	up.up_auth.cr_username = USER;
	up.up_auth.cr_password = PASS;
	ck_assert(run(&up, "basic/app", "manifests/latest", &r));
	ck_assert_msg(r.r_result == UPSTREAM_OK, "%s", r.r_errmsg);
	ck_assert_int_eq(r.r_headers_calls, 1);
	ck_assert_str_eq(r.r_body, "basic-body");
	ck_assert_int_eq(fk.fk_registry_requests, 2);
	ck_assert_int_eq(fk.fk_token_requests, 0);
	/* Now known to want Basic: sent up front. */
	ck_assert(run(&up, "basic/app", "manifests/latest", &r));
	ck_assert_int_eq(r.r_result, UPSTREAM_OK);
	ck_assert_int_eq(fk.fk_registry_requests, 3);
	ck_assert_str_eq(fk.fk_registry_auth, BASIC_GOOD);

	/* Wrong credentials: retried once, then EAUTH. */
	upstream_init(&up, "fake2");
	up.up_auth.cr_type = AUTH_USERPASS;
	up.up_auth.cr_username = USER;
	up.up_auth.cr_password = "wrong-secret";
	ck_assert(run(&up, "basic/app", "manifests/latest", &r));
	ck_assert_int_eq(r.r_result, UPSTREAM_EAUTH);
	ck_assert_int_eq(r.r_headers_calls, 0);
	ck_assert_str_eq(r.r_errmsg, "fake2: the upstream refused depot's "
	    "credentials (HTTP 401)");
	ck_assert_int_eq(fk.fk_registry_requests, 5);
	/* Up front the next time, refused at once. */
	ck_assert(run(&up, "basic/app", "manifests/latest", &r));
	ck_assert_int_eq(r.r_result, UPSTREAM_EAUTH);
	ck_assert_int_eq(fk.fk_registry_requests, 6);

	/* No credentials configured. */
	upstream_init(&up, "fake3");
	ck_assert(run(&up, "basic/app", "manifests/latest", &r));
	ck_assert_int_eq(r.r_result, UPSTREAM_EAUTH);
	ck_assert_msg(strstr(r.r_errmsg, "none are configured") != NULL, "%s",
	    r.r_errmsg);
	ck_assert_int_eq(fk.fk_registry_requests, 7);
}
END_TEST

START_TEST(test_untrusted_realm)
{
	struct config_upstream	 up;
	struct result		 r;
	char			 realm[64], *realms[1];

	/*
	 * The realm names another host: credentials stay home, and the
	 * realm is asked for an anonymous token instead.
	 */
	upstream_init(&up, "fake");
	up.up_auth.cr_type = AUTH_USERPASS;
	up.up_auth.cr_username = USER;
	up.up_auth.cr_password = PASS;
	ck_assert(run(&up, "untrusted/app", "manifests/latest", &r));
	ck_assert_msg(r.r_result == UPSTREAM_OK, "%s", r.r_errmsg);
	ck_assert_int_eq(fk.fk_token_requests, 1);
	ck_assert_str_eq(fk.fk_token_auth, "");
	ck_assert_int_eq(fk.fk_registry_requests, 2);

	/* The realm refuses anonymous tokens: the error says why. */
	upstream_init(&up, "fake-refused");
	up.up_auth.cr_type = AUTH_USERPASS;
	up.up_auth.cr_username = USER;
	up.up_auth.cr_password = PASS;
	fk.fk_refuse_tokens = 1;
	ck_assert(run(&up, "untrusted/app", "manifests/latest", &r));
	fk.fk_refuse_tokens = 0;
	ck_assert_int_eq(r.r_result, UPSTREAM_EAUTH);
	ck_assert_int_eq(r.r_headers_calls, 0);
	ck_assert_msg(strstr(r.r_errmsg, "not trusted") != NULL, "%s",
	    r.r_errmsg);
	ck_assert_msg(strstr(r.r_errmsg, "token_realms") != NULL, "%s",
	    r.r_errmsg);
	ck_assert_ptr_null(strstr(r.r_errmsg, PASS));

	/* Listed in token_realms: trusted. */
	snprintf(realm, sizeof(realm), "http://localhost:%d/token",
	    fk.fk_port);
	realms[0] = realm;
	up.up_token_realms.sl_items = realms;
	up.up_token_realms.sl_count = 1;
	ck_assert(run(&up, "untrusted/app", "manifests/latest", &r));
	ck_assert_msg(r.r_result == UPSTREAM_OK, "%s", r.r_errmsg);
	ck_assert_int_eq(fk.fk_token_requests, 3);
	ck_assert_str_eq(fk.fk_token_auth, BASIC_GOOD);

	/* Anonymous: any realm may hand out a token, without credentials. */
	upstream_init(&up, "fake-anon");
	ck_assert(run(&up, "untrusted/app", "manifests/latest", &r));
	ck_assert_msg(r.r_result == UPSTREAM_OK, "%s", r.r_errmsg);
	ck_assert_str_eq(r.r_body, "secret-body");
	ck_assert_int_eq(fk.fk_token_requests, 4);
	ck_assert_str_eq(fk.fk_token_auth, "");
}
END_TEST

START_TEST(test_retry_after)
{
	struct config_upstream	 up;
	struct result		 r;
	time_t			 until, now = time(NULL);

	upstream_init(&up, "fake");
	ck_assert(run(&up, "limited/app", "manifests/latest", &r));
	/* The 429 is the caller's answer ... */
	ck_assert_int_eq(r.r_result, UPSTREAM_OK);
	ck_assert_int_eq(r.r_status, 429);
	ck_assert_int_eq(upstream_state_check("fake", now, &until),
	    UPSTREAM_SKIP_RETRY_AFTER);
	ck_assert_int_ge(until, now + 120);
	ck_assert_int_le(until, now + 125);
	/* ... and the next call does not go out. */
	ck_assert(run(&up, "open/app", "manifests/latest", &r));
	ck_assert_int_eq(r.r_result, UPSTREAM_ESKIPPED);
	ck_assert_int_eq(r.r_headers_calls, 0);
	ck_assert_int_eq(r.r_status_at_done, 0);
	ck_assert_msg(strstr(r.r_errmsg, "fake: skipped") == r.r_errmsg &&
	    strstr(r.r_errmsg, "Retry-After") != NULL, "%s", r.r_errmsg);
	ck_assert_int_eq(fk.fk_registry_requests, 1);
	/* Another upstream is not concerned. */
	upstream_init(&up, "other");
	ck_assert(run(&up, "open/app", "manifests/latest", &r));
	ck_assert_int_eq(r.r_result, UPSTREAM_OK);
}
END_TEST

START_TEST(test_breaker)
{
	struct config_upstream	 up;
	struct result		 r;
	char			 url[64];
	int			 i;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d", free_port());
	upstream_init(&up, "down");
	up.up_url = url;
	for (i = 0; i < UPSTREAM_BREAKER_FAILURES; i++) {
		ck_assert(run(&up, "open/app", "manifests/latest", &r));
		ck_assert_int_eq(r.r_result, UPSTREAM_EFETCH);
		ck_assert_int_eq(r.r_headers_calls, 0);
		ck_assert_msg(strstr(r.r_errmsg, "down: ") == r.r_errmsg, "%s",
		    r.r_errmsg);
	}
	ck_assert(run(&up, "open/app", "manifests/latest", &r));
	ck_assert_int_eq(r.r_result, UPSTREAM_ESKIPPED);
	ck_assert_msg(strstr(r.r_errmsg, "circuit open") != NULL, "%s",
	    r.r_errmsg);

	/* 5xx answers count as failures too. */
	upstream_init(&up, "fake");
	for (i = 0; i < UPSTREAM_BREAKER_FAILURES; i++) {
		ck_assert(run(&up, "broken/app", "manifests/latest", &r));
		ck_assert_int_eq(r.r_result, UPSTREAM_OK);
		ck_assert_int_eq(r.r_status, 500);
		ck_assert_str_eq(r.r_body, "oops");
	}
	ck_assert(run(&up, "open/app", "manifests/latest", &r));
	ck_assert_int_eq(r.r_result, UPSTREAM_ESKIPPED);
	ck_assert_int_eq(fk.fk_registry_requests, UPSTREAM_BREAKER_FAILURES);
}
END_TEST

START_TEST(test_library)
{
	struct config_upstream	 up;
	struct result		 r;
	char			*s;

	upstream_init(&up, "hub");
	up.up_source = SOURCE_DOCKERHUB;
	s = upstream_remote_repo(&up, "alpine");
	ck_assert_str_eq(s, "library/alpine");
	free(s);
	s = upstream_remote_repo(&up, "team/app");
	ck_assert_str_eq(s, "team/app");
	free(s);
	ck_assert(run(&up, "library/alpine", "manifests/latest", &r));
	ck_assert_int_eq(r.r_result, UPSTREAM_OK);
	ck_assert_str_eq(r.r_body, "alpine-body");

	up.up_url = NULL;
	s = upstream_base_url(&up);
	ck_assert_str_eq(s, "https://registry-1.docker.io");
	free(s);
	up.up_source = SOURCE_CUSTOM;
	s = upstream_remote_repo(&up, "alpine");
	ck_assert_str_eq(s, "alpine");
	free(s);
	ck_assert_ptr_null(upstream_base_url(&up));
	up.up_url = "https://reg.example/mirror//";
	s = upstream_base_url(&up);
	ck_assert_str_eq(s, "https://reg.example/mirror");
	free(s);
}
END_TEST

/* An ECR upstream with static keys, its API and registry the fake's. */
static void
ecr_init(struct config_upstream *up)
{
	static char	 registry[64], api[80];
	char		*cause = NULL;

	upstream_init(up, "aws");
	up->up_source = SOURCE_ECR;
	up->up_url = "https://123456789012.dkr.ecr.us-east-1.amazonaws.com";
	ck_assert_int_eq(ecr_url_parse(up->up_url, &up->up_ecr, &cause), 0);
	snprintf(registry, sizeof(registry), "%s", fake_url);
	snprintf(api, sizeof(api), "%s/ecr-api", fake_url);
	up->up_registry_url = registry;
	up->up_api_url = api;
	up->up_auth.cr_type = AUTH_ACCESS_KEY;
	up->up_auth.cr_access_key_id = "AKIDEXAMPLE";
	up->up_auth.cr_secret_access_key = "ecr-secret-key";
}

/*
 * ECR: one token for every call, sent as Basic; a 401 or a 403 drops
 * it and gets a fresh one once; a failed refresh is a clear error for
 * every call that waited for it, and the next call asks AWS again; no
 * secret leaks.
 */
START_TEST(test_ecr)
{
	struct config_upstream	 up;
	struct result		 r, r1, r2;
	int			 done = 0;

	ecr_init(&up);
	fk.fk_ecr_gen = 1;
	ck_assert(run(&up, "ecrapp", "manifests/latest", &r));
	ck_assert_int_eq(r.r_result, UPSTREAM_OK);
	ck_assert_int_eq(r.r_status, 200);
	ck_assert_str_eq(r.r_body, "ecr-body");
	ck_assert_int_eq(fk.fk_ecr_calls, 1);
	ck_assert_str_eq(fk.fk_ecr_target, "AmazonEC2ContainerRegistry_"
	    "V20150921.GetAuthorizationToken");
	ck_assert_msg(strncmp(fk.fk_ecr_authz, "AWS4-HMAC-SHA256 Credential="
	    "AKIDEXAMPLE/", 40) == 0, "%s", fk.fk_ecr_authz);
	ck_assert_ptr_null(strstr(fk.fk_ecr_authz, "ecr-secret-key"));
	/* The token is shared: no second GetAuthorizationToken. */
	ck_assert(run(&up, "ecrapp", "manifests/latest", &r));
	ck_assert_int_eq(r.r_status, 200);
	ck_assert_int_eq(fk.fk_ecr_calls, 1);
	/* The registry stops taking it: 401, one refresh, success. */
	fk.fk_ecr_gen = 2;
	ck_assert(run(&up, "ecrapp", "manifests/latest", &r));
	ck_assert_int_eq(r.r_result, UPSTREAM_OK);
	ck_assert_int_eq(r.r_status, 200);
	ck_assert_int_eq(fk.fk_ecr_calls, 2);
	/* 403 "token expired": the same. */
	fk.fk_ecr_403 = 1;
	ck_assert(run(&up, "ecrapp", "manifests/latest", &r));
	ck_assert_int_eq(r.r_status, 200);
	ck_assert_int_eq(fk.fk_ecr_calls, 3);
	/* A refused token and a throttled refresh: a clear error. */
	fk.fk_ecr_gen = 3;
	fk.fk_ecr_throttle = 1;
	ck_assert(run(&up, "ecrapp", "manifests/latest", &r));
	ck_assert_int_eq(r.r_result, UPSTREAM_ETOKEN);
	ck_assert_int_eq(r.r_headers_calls, 0);
	ck_assert_msg(strstr(r.r_errmsg, "ThrottlingException") != NULL,
	    "%s", r.r_errmsg);
	ck_assert_ptr_null(strstr(r.r_errmsg, "ecr-secret-key"));
	ck_assert_ptr_null(strstr(r.r_errmsg, "ecr-pw"));
	ck_assert_int_eq(fk.fk_ecr_calls, 4);
	/* Calls waiting together share one failed refresh. */
	memset(&r1, 0, sizeof(r1));
	memset(&r2, 0, sizeof(r2));
	r1.r_counter = r2.r_counter = &done;
	ck_assert_ptr_nonnull(start(&up, "ecrapp", "manifests/latest", &r1));
	ck_assert_ptr_nonnull(start(&up, "ecrapp", "manifests/latest", &r2));
	loop_until(&done, 2, 60000);
	ck_assert_int_eq(r1.r_result, UPSTREAM_ETOKEN);
	ck_assert_int_eq(r2.r_result, UPSTREAM_ETOKEN);
	ck_assert_int_eq(fk.fk_ecr_calls, 5);
	/* Once AWS answers again, the next call succeeds. */
	fk.fk_ecr_throttle = 0;
	ck_assert(run(&up, "ecrapp", "manifests/latest", &r));
	ck_assert_int_eq(r.r_status, 200);
	ck_assert_int_eq(fk.fk_ecr_calls, 6);
	ecr_location_clear(&up.up_ecr);
}
END_TEST

/*
 * ECR Public with keys: ecr-public's GetAuthorizationToken (us-east-1),
 * its token as Basic credentials for the Bearer token service, and the
 * alias in front of the repository.
 */
START_TEST(test_ecr_public)
{
	struct config_upstream	 up;
	struct result		 r;
	char			*cause = NULL;

	ecr_init(&up);
	ecr_location_clear(&up.up_ecr);
	up.up_url = "https://public.ecr.aws/pubalias";
	ck_assert_int_eq(ecr_url_parse(up.up_url, &up.up_ecr, &cause), 0);
	fk.fk_ecr_gen = 7;
	r.r_call = NULL;
	ck_assert(run(&up, "pubalias/app", "manifests/latest", &r));
	ck_assert_int_eq(r.r_result, UPSTREAM_OK);
	ck_assert_str_eq(r.r_body, "public-body");
	ck_assert_int_eq(fk.fk_ecr_calls, 1);
	ck_assert_int_eq(fk.fk_token_requests, 1);
	ck_assert_str_eq(fk.fk_ecr_target,
	    "SpencerFrontendService.GetAuthorizationToken");
	ck_assert_ptr_nonnull(strstr(fk.fk_ecr_authz,
	    "/us-east-1/ecr-public/aws4_request"));
	cause = upstream_remote_repo(&up, "app");
	ck_assert_str_eq(cause, "pubalias/app");
	free(cause);
	ecr_location_clear(&up.up_ecr);
}
END_TEST

START_TEST(test_cancel)
{
	struct config_upstream	 up, ecr;
	struct result		 r1, r2, r3, r4, r5;

	upstream_init(&up, "fake");
	/* While the upstream sits on the request. */
	memset(&r1, 0, sizeof(r1));
	ck_assert_ptr_nonnull(start(&up, "held/app", "manifests/latest", &r1));
	loop_until(&fk.fk_registry_requests, 1, 60000);
	ck_assert_ptr_nonnull(fk.fk_held);
	upstream_call_cancel(r1.r_call);
	upstream_call_cancel(r1.r_call);

	/* While waiting for an ECR token. */
	ecr_init(&ecr);
	fk.fk_ecr_gen = 1;
	memset(&r2, 0, sizeof(r2));
	ck_assert_ptr_nonnull(start(&ecr, "team/app", "manifests/latest",
	    &r2));
	upstream_call_cancel(r2.r_call);

	/* From inside on_headers. */
	memset(&r3, 0, sizeof(r3));
	r3.r_cancel_in_headers = 1;
	ck_assert_ptr_nonnull(start(&up, "open/app", "manifests/latest", &r3));

	/* While the token service sits on the token request. */
	memset(&r4, 0, sizeof(r4));
	ck_assert_ptr_nonnull(start(&up, "heldtoken/app", "manifests/latest",
	    &r4));
	loop_until(&fk.fk_token_requests, 1, 60000);
	upstream_call_cancel(r4.r_call);

	loop_until(&r3.r_headers_calls, 1, 60000);
	loop_for(300);
	ck_assert_int_eq(r1.r_headers_calls + r1.r_done_calls, 0);
	ck_assert_int_eq(r2.r_headers_calls + r2.r_done_calls, 0);
	ck_assert_int_eq(r3.r_headers_calls, 1);
	ck_assert_int_eq(r3.r_data_calls + r3.r_done_calls, 0);
	ck_assert_int_eq(r4.r_headers_calls + r4.r_done_calls, 0);
	ck_assert_uint_eq(fetcher_active(fetcher), 0);

	/* Everything still works. */
	ck_assert(run(&up, "open/app", "manifests/latest", &r5));
	ck_assert_int_eq(r5.r_result, UPSTREAM_OK);
	ck_assert_str_eq(r5.r_body, "manifest-body");
	upstream_call_cancel(NULL);
	ecr_location_clear(&ecr.up_ecr);
}
END_TEST

START_TEST(test_bad_request)
{
	struct config_upstream	 up;
	struct result		 r;

	upstream_init(&up, "fake");
	memset(&r, 0, sizeof(r));
	ck_assert_ptr_null(start(&up, "", "manifests/latest", &r));
	ck_assert_ptr_null(start(&up, "open/app", "", &r));
	ck_assert_ptr_null(start(&up, "open app", "manifests/latest", &r));
	ck_assert_ptr_null(start(&up, "open/app", "manifests/a\r\nX: y", &r));
	ck_assert_ptr_null(start(&up, "open/../x", "manifests/latest", &r));
	ck_assert_ptr_null(start(&up, "open/app", "../../v1", &r));
	ck_assert_ptr_null(start(&up, "open/app", "manifests/x#y", &r));
	up.up_source = SOURCE_CUSTOM;
	up.up_url = NULL;
	ck_assert_ptr_null(start(&up, "open/app", "manifests/latest", &r));
	loop_for(100);
	ck_assert_int_eq(r.r_done_calls, 0);
	ck_assert_int_eq(fk.fk_registry_requests, 0);
}
END_TEST

static Suite *
upstream_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("upstream");
	tc = tcase_create("upstream");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_anonymous);
	tcase_add_test(tc, test_bearer);
	tcase_add_test(tc, test_bearer_refused);
	tcase_add_test(tc, test_bearer_userpass);
	tcase_add_test(tc, test_basic);
	tcase_add_test(tc, test_untrusted_realm);
	tcase_add_test(tc, test_retry_after);
	tcase_add_test(tc, test_breaker);
	tcase_add_test(tc, test_library);
	tcase_add_test(tc, test_ecr);
	tcase_add_test(tc, test_ecr_public);
	tcase_add_test(tc, test_cancel);
	tcase_add_test(tc, test_bad_request);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	int	 failed;

	log_init(1, NULL, LOG_ERR);
	if (fetch_global_init() == -1)
		return (EXIT_FAILURE);
	failed = check_run(upstream_suite()) != EXIT_SUCCESS;
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
