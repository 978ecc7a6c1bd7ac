/*
 * http_auth.h: the HTTP side of access control (access.h): the Docker
 * token service at /token, and the checks a request passes before its
 * handler runs. The checks know no API: a handler gives the repository
 * (its first component names the registry or upstream key whose read
 * and write lists count) and the rights it needs (ACCESS_*), so /v2 and
 * other handlers share the same Basic and Bearer callers and lists.
 */
#ifndef DEPOT_HTTP_AUTH_H
#define DEPOT_HTTP_AUTH_H

#include <sys/queue.h>

#include <stddef.h>

#include <event2/keyvalq_struct.h>

#define AUTH_SCOPES_MAX		16

struct req;

/* A POST /token form (application/x-www-form-urlencoded), parsed. */
struct http_auth_form {
	struct evkeyvalq	 af_fields;	/* every field, decoded */
	/* The fields used, in af_fields; NULL when absent. */
	const char		*af_grant;	/* grant_type */
	const char		*af_user;	/* username */
	const char		*af_password;
	const char		*af_refresh;	/* refresh_token */
	const char		*af_service;
	int			 af_offline;	/* access_type=offline */
	char			*af_scopes[AUTH_SCOPES_MAX]; /* scope, split */
	size_t			 af_nscopes;
};

/*
 * Parse the form body (NUL terminated): 0, or -1 with *why (a static
 * message for the client). Free f with http_auth_form_clear either way,
 * which wipes the values. Pure: no request, no event loop.
 */
int	http_auth_form_parse(const char *body, struct http_auth_form *f,
	    const char **why);
void	http_auth_form_clear(struct http_auth_form *);

/*
 * Identify the caller of r (r->req_caller, freed with r): 0 when known;
 * -1 while its password is checked off the loop: again(r) is called
 * then, and the handler must leave r alone until it is.
 */
int	http_auth_identify(struct req *, void (*again)(struct req *));

/*
 * GET /metrics: 0 when the caller may read it (access_metrics_allowed);
 * -1 when answered (401 with a Basic challenge when server.metrics_read
 * names users and the caller has no good credentials, else 403) or
 * waiting for a password check (again(r) follows).
 */
int	http_auth_check_metrics(struct req *, void (*again)(struct req *));

/* GET and POST /token. */
void	http_auth_token_service(struct req *);

/*
 * May the request's caller (r->req_caller) do need (ACCESS_* bits) on
 * repo (a repository name, its registry first)? 0 when it may; -1 when the request has been
 * answered: 401 with a Bearer challenge (no or bad credentials, or a
 * token without the scope), 403 DENIED (signed in, may read but not
 * this), or 404 NAME_UNKNOWN (signed in, may not read: nothing tells
 * that the repository exists).
 */
int	http_auth_check(struct req *, const char *repo, unsigned need);
/* GET /v2/: 0 when the caller may go on, -1 when answered with 401. */
int	http_auth_check_base(struct req *);
/* /v2/_catalog: bad credentials are refused (the list is filtered). */
int	http_auth_check_catalog(struct req *);
/*
 * A name that is no registry: 401 (with the challenge for need, as for
 * a registry one may not read) unless signed in; 0 to answer 404.
 */
int	http_auth_check_unknown(struct req *, const char *repo,
	    unsigned need);

#endif /* DEPOT_HTTP_AUTH_H */
