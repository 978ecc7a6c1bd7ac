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

struct req;

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
