/*
 * routes.c: the route table of a worker. The HTTP server (http/http.c)
 * knows no handler: the worker wires it here to the handlers of each
 * family of paths, which sit above it (oci/ for /v2, helm/ for /helm)
 * or beside it (the token service, /metrics and /healthz of http/).
 * Exact paths, then prefixes; the first match wins.
 */
#include <stddef.h>

#include "daemon/routes.h"
#include "http/http.h"
#include "helm/helm.h"
#include "http/http_auth.h"
#include "oci/oci.h"

static const struct http_route routes[] = {
	{ "/healthz",	0, http_healthz },
	{ "/metrics",	0, http_metrics },
	{ "/token",	0, http_auth_token_service },
	{ "/v2",	0, oci_dispatch },
	{ "/v2/",	1, oci_dispatch },
	{ HELM_PREFIX,	1, helm_dispatch },
};

void
routes_install(struct http_server *hs)
{
	http_routes_set(hs, routes, sizeof(routes) / sizeof(routes[0]));
}
