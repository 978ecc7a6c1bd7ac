/*
 * upstream_auth.h: the client side of registry authentication.
 * Parse an upstream's WWW-Authenticate challenge (RFC 7235), decide
 * whether its token realm may be sent credentials, build the token
 * request URL, and parse the token service's JSON answer (Docker's
 * token authentication specification).
 */
#ifndef DEPOT_UPSTREAM_AUTH_H
#define DEPOT_UPSTREAM_AUTH_H

#include <stddef.h>
#include <time.h>

enum upstream_auth_scheme {
	AUTH_SCHEME_OTHER = 0,	/* Digest, Negotiate, ...: not supported */
	AUTH_SCHEME_BASIC,
	AUTH_SCHEME_BEARER
};

/* One challenge; the string members are NULL when absent. */
struct upstream_challenge {
	enum upstream_auth_scheme	 ac_scheme;
	char			*ac_scheme_name;	/* as sent */
	char			*ac_realm;
	char			*ac_service;
	char			*ac_scope;
	char			*ac_error;
};

/* The token service's answer. */
struct upstream_token {
	char		*at_token;
	long long	 at_expires_in;	/* seconds, 60 .. 86400 */
	time_t		 at_issued_at;	/* 0 when absent or unreadable */
};

#define AUTH_TOKEN_MIN_TTL	60	/* seconds; also the default */

/*
 * Parse a WWW-Authenticate value (one or several challenges) into an
 * array of *n challenges. 0, or -1 with *cause set (when cause is not
 * NULL; caller frees). Free the array with upstream_auth_challenge_free_all.
 */
int	upstream_auth_challenge_parse_all(const char *value,
	    struct upstream_challenge **list, size_t *n, char **cause);
void	upstream_auth_challenge_free_all(struct upstream_challenge *, size_t);

/*
 * The challenge to answer: the first Bearer one, else the first Basic
 * one. A Bearer challenge must name a realm. 0, or -1 with *cause set
 * (caller frees) when there is none or the value is malformed.
 * Free with upstream_auth_challenge_clear.
 */
int	upstream_auth_challenge_parse(const char *value, struct upstream_challenge *ch,
	    char **cause);
void	upstream_auth_challenge_clear(struct upstream_challenge *);

/*
 * 1 when the URLs a and b have the same origin: scheme, host (case and a
 * trailing dot aside) and port, a missing port being the scheme's default
 * (http 80, https 443). 0 when they differ or one is not http(s).
 */
int	upstream_auth_same_origin(const char *a, const char *b);

/*
 * 1 when credentials for upstream_url may be sent to realm_url: the realm
 * has no user info and either has the upstream's origin
 * (upstream_auth_same_origin), or matches one of extra_realms (an upstream's
 * token_realms: the same origin as the entry, and below the entry's path
 * when it has one), or is the known token service of a well-known
 * registry (registry-1.docker.io: auth.docker.io; registry.gitlab.com:
 * gitlab.com). 0 otherwise.
 */
int	upstream_auth_realm_trusted(const char *realm_url, const char *upstream_url,
	    const char *const *extra_realms, size_t n);

/*
 * realm?service=..&scope=..&scope=.. with every value percent-encoded
 * (a realm with a query of its own gets &). service may be NULL.
 * NULL when realm is unusable (not visible ASCII). Caller frees.
 */
char	*upstream_auth_token_url(const char *realm, const char *service,
	    const char *const *scopes, size_t nscopes);

/*
 * Parse the token JSON: "token" (or "access_token"), "expires_in"
 * (default and minimum 60 s, at most a day), "issued_at" (RFC 3339,
 * optional). The token must be visible ASCII (it goes into a header). 0, or -1
 * with *cause set (caller frees). Free with upstream_auth_token_clear. Compute the
 * expiry from the local time the answer arrived plus at_expires_in.
 */
int	upstream_auth_token_parse(const char *json, size_t len, struct upstream_token *,
	    char **cause);
void	upstream_auth_token_clear(struct upstream_token *);

#endif /* DEPOT_UPSTREAM_AUTH_H */
