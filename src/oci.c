/*
 * oci.c: dispatch of /v2/ requests: the API version check, path parsing
 * and validation, registry lookup, then the handler for the endpoint.
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "http.h"
#include "log.h"
#include "oci.h"
#include "ref.h"

#define OCI_API_VERSION_HEADER	"Docker-Distribution-API-Version"
#define OCI_API_VERSION		"registry/2.0"

static void	oci_base(struct req *);
static int	oci_registry_known(struct config *, const char *);

void
oci_dispatch(struct req *r)
{
	struct v2_path	 p;
	const char	*code = "NAME_INVALID";
	char		*cause = NULL;

	http_header_add(r, OCI_API_VERSION_HEADER, OCI_API_VERSION);
	memset(&p, 0, sizeof(p));
	if (ref_parse_v2_path(r->req_path, &p, &code, &cause) == -1) {
		if (code != NULL && strcmp(code, "UNSUPPORTED") == 0)
			http_reply_oci_error(r, 404, code, "no such endpoint",
			    r->req_path);
		else
			http_reply_oci_error(r, 400, code, cause, NULL);
		free(cause);
		return;
	}
	if (p.kind == V2_BASE)
		oci_base(r);
	else if (p.kind == V2_CATALOG ||
	    oci_registry_known(http_context(r)->ctx_config, p.registry))
		http_reply_oci_error(r, 405, "UNSUPPORTED",
		    "this endpoint is not implemented yet", NULL);
	else
		http_reply_oci_error(r, 404, "NAME_UNKNOWN",
		    "repository name not known to registry", p.name);
	v2_path_clear(&p);
}

/* GET /v2/: the API version check clients make first. */
static void
oci_base(struct req *r)
{
	enum evhttp_cmd_type	 m = http_method(r);

	if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD) {
		http_reply_oci_error(r, 405, "UNSUPPORTED",
		    "method not allowed", NULL);
		return;
	}
	http_reply_json_text(r, 200, "{}");
}

/* A registry name or an upstream key (served read-only). */
static int
oci_registry_known(struct config *cf, const char *name)
{
	return (config_registry_find(cf, name) != NULL ||
	    config_upstream_find(cf, name) != NULL);
}
