/*
 * upstream.h: requests to one upstream registry (the Docker registry HTTP
 * API v2), with its authentication and its health taken care of. Built on
 * fetch.h (libcurl multi on the worker's event loop), upstream_auth.h and
 * upstream_state.h.
 *
 * One upstream_call is one logical request, which may take several HTTP
 * exchanges: the request, a 401 answered by fetching a Bearer token from
 * the realm the challenge names (with the configured credentials only
 * when upstream_auth_realm_trusted allows it) or by Basic credentials, and the
 * request again, once. The caller only sees the final exchange: its
 * headers, its body and its end. Tokens are cached per upstream key and
 * scope in the shared state, so every worker reuses them; a cached token
 * the upstream refuses is dropped and replaced, once per call. An
 * upstream that asked for Basic is sent the credentials up front
 * afterwards.
 *
 * ECR (source ecr with access_key or aws_default): the call first waits
 * for the upstream's shared ECR token (ecr_token.h), then sends it as
 * Basic credentials (private registries, without a round trip) or to
 * the Bearer token service (ECR Public). A 401, or a 403 to a token ECR
 * calls expired, drops that token and the call waits for a new one,
 * once. No token: on_done gets UPSTREAM_ETOKEN with a message fit for
 * the client, which ecr_token has already logged.
 *
 * Health: a call to an upstream whose breaker is open, or whose
 * Retry-After has not passed, does not go out: on_done reports
 * UPSTREAM_ESKIPPED. A final answer of 5xx, or a transfer failure, counts
 * as a failure of the upstream; a 429 (and a 503 carrying Retry-After)
 * records the Retry-After deadline (default 60 s when absent); any other
 * answer closes the breaker. Docker Hub's ratelimit-limit and
 * ratelimit-remaining headers are logged at debug level.
 *
 * Life of a call, as with fetch.h: upstream_call_start returns the call or
 * NULL (then no callback comes); on_headers once for the final response;
 * on_data for its body; on_done exactly once, from the event loop, after
 * which the call is freed. upstream_call_cancel stops it without further
 * callbacks; it is freed from the event loop, so cancel every call and
 * let the loop run once before fetcher_free. Getters are valid from
 * on_headers until on_done returns (before on_headers: 0, NULL, -1).
 *
 * A 401 never reaches the caller: it ends in a retry or in
 * UPSTREAM_EAUTH. Every other status (404, 429, 5xx ...) is a final
 * answer: UPSTREAM_OK, and the caller looks at the status. A failing
 * token service also counts against the upstream's breaker.
 *
 * Secrets (passwords, tokens) are never logged or put in errmsg.
 */
#ifndef DEPOT_UPSTREAM_H
#define DEPOT_UPSTREAM_H

#include <sys/types.h>

#include <stddef.h>

#include "upstream/fetch.h"

struct config_upstream;
struct upstream_call;

enum upstream_result {
	UPSTREAM_OK = 0,	/* a final HTTP answer: see the status */
	UPSTREAM_ESKIPPED,	/* breaker open or Retry-After pending */
	UPSTREAM_EAUTH,		/* credentials refused, token service failed,
				   untrusted realm, unsupported scheme */
	UPSTREAM_EFETCH,	/* connection, TLS, timeout, truncation */
	UPSTREAM_EUNSUPPORTED,	/* a source this build cannot reach */
	UPSTREAM_ETOKEN		/* no ECR token: errmsg (without the key)
				   is for the client, already logged */
};

struct upstream_request {
	/* Not copied: must outlive the call (the worker's config does). */
	const struct config_upstream *ur_upstream;
	enum fetch_method	 ur_method;
	/*
	 * The repository as the upstream names it (see upstream_remote_repo),
	 * and what follows "/v2/<repo>/": "manifests/latest",
	 * "blobs/sha256:...", "tags/list?n=1000". The scope asked of a token
	 * service is "repository:<repo>:pull".
	 */
	const char		*ur_repo;
	const char		*ur_path;
	/* Extra headers ("Accept: ..."), copied. */
	const char *const	*ur_headers;
	size_t			 ur_nheaders;
};

struct upstream_callbacks {
	/* 0 to go on, -1 to abort (on_done then gets UPSTREAM_EFETCH). */
	int	(*on_headers)(struct upstream_call *, long status, void *arg);
	/* As fetch.h: 0, FETCH_PAUSE (until upstream_call_resume), or -1. */
	int	(*on_data)(struct upstream_call *, const void *buf, size_t len,
		    void *arg);
	/* errmsg: NULL on UPSTREAM_OK, else a message fit for a client. */
	void	(*on_done)(struct upstream_call *, enum upstream_result,
		    const char *errmsg, void *arg);
};

/*
 * Start a call on the worker's fetcher. The request's strings are
 * copied (not ur_upstream). NULL on a bad request (logged): an empty
 * repository or path, one with blanks, control characters, '#' or a
 * ".." segment, or no URL to send it to; no callback follows then.
 */
struct upstream_call	*upstream_call_start(struct fetcher *,
			    const struct upstream_request *,
			    const struct upstream_callbacks *, void *arg);
void			 upstream_call_cancel(struct upstream_call *);
void			 upstream_call_resume(struct upstream_call *);

/* The final answer's status, header (case-insensitive), Content-Length. */
long			 upstream_call_status(struct upstream_call *);
const char		*upstream_call_header(struct upstream_call *,
			    const char *name);
off_t			 upstream_call_content_length(struct upstream_call *);

/*
 * The upstream's name for image, the repository path below the registry
 * or upstream key ("alpine", "team/app"): for a dockerhub source a name
 * of one component gets "library/" in front. Caller frees.
 */
char	*upstream_remote_repo(const struct config_upstream *,
	    const char *image);
/*
 * The upstream's base URL without a trailing slash: up_url, or
 * https://registry-1.docker.io for a dockerhub source without one. The
 * API lives under <base>/v2/ (a path in the URL is kept: a registry
 * served below a prefix). NULL for a custom or ecr source without
 * up_url. Caller frees.
 */
char	*upstream_base_url(const struct config_upstream *);

#endif /* DEPOT_UPSTREAM_H */
