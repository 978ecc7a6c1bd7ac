/*
 * oci.c: dispatch of /v2/ requests: the API version header, path parsing
 * and validation, registry lookup, method checks, then the handler for
 * the endpoint. Also the table of OCI error codes.
 */
#include <stdlib.h>
#include <string.h>

#include "access/access.h"
#include "http/http_auth.h"
#include "conf/config.h"
#include "content/content.h"
#include "http/http.h"
#include "lib/log.h"
#include "oci/oci.h"
#include "lib/ref.h"
#include "lib/xmalloc.h"
#include "store/space.h"

#define OCI_API_VERSION_HEADER	"Docker-Distribution-API-Version"
#define OCI_API_VERSION		"registry/2.0"

typedef void (*oci_handler)(struct oci_request *);

/* Which handler serves which endpoint and method; writes marked. */
static const struct {
	enum v2_kind		 rt_kind;
	enum evhttp_cmd_type	 rt_method;
	int			 rt_write;
	oci_handler		 rt_handler;
} oci_routes[] = {
	{ V2_MANIFEST,		EVHTTP_REQ_GET,		0, oci_manifest_get },
	{ V2_MANIFEST,		EVHTTP_REQ_HEAD,	0, oci_manifest_get },
	{ V2_MANIFEST,		EVHTTP_REQ_PUT,		1, oci_manifest_put },
	{ V2_MANIFEST,		EVHTTP_REQ_DELETE,	1, oci_manifest_delete },
	{ V2_BLOB,		EVHTTP_REQ_GET,		0, oci_blob_get },
	{ V2_BLOB,		EVHTTP_REQ_HEAD,	0, oci_blob_get },
	{ V2_BLOB,		EVHTTP_REQ_DELETE,	1, oci_blob_delete },
	{ V2_UPLOAD_START,	EVHTTP_REQ_POST,	1, oci_upload_start },
	{ V2_UPLOAD,		EVHTTP_REQ_PATCH,	1, oci_upload_patch },
	{ V2_UPLOAD,		EVHTTP_REQ_PUT,		1, oci_upload_finish },
	{ V2_UPLOAD,		EVHTTP_REQ_GET,		1, oci_upload_status },
	{ V2_UPLOAD,		EVHTTP_REQ_DELETE,	1, oci_upload_cancel },
	{ V2_TAGS,		EVHTTP_REQ_GET,		0, oci_tags_list },
	{ V2_TAGS,		EVHTTP_REQ_HEAD,	0, oci_tags_list },
	{ V2_REFERRERS,		EVHTTP_REQ_GET,		0, oci_referrers },
	{ V2_CATALOG,		EVHTTP_REQ_GET,		0, oci_catalog },
};

/* The distribution spec's error codes, with their status and message. */
static const struct {
	const char	*ec_code;
	int		 ec_status;
	const char	*ec_message;
} oci_errors[] = {
	{ "BLOB_UNKNOWN",	404, "blob unknown to registry" },
	{ "BLOB_UPLOAD_INVALID", 400, "blob upload invalid" },
	{ "BLOB_UPLOAD_UNKNOWN", 404, "blob upload unknown to registry" },
	{ "DIGEST_INVALID",	400, "provided digest did not match uploaded content" },
	{ "MANIFEST_BLOB_UNKNOWN", 400, "manifest references a manifest or blob unknown to registry" },
	{ "MANIFEST_INVALID",	400, "manifest invalid" },
	{ "MANIFEST_UNKNOWN",	404, "manifest unknown to registry" },
	{ "NAME_INVALID",	400, "invalid repository name" },
	{ "NAME_UNKNOWN",	404, "repository name not known to registry" },
	{ "SIZE_INVALID",	400, "provided length did not match content length" },
	{ "TAG_INVALID",	400, "manifest tag did not match URI" },
	{ "UNAUTHORIZED",	401, "authentication required" },
	{ "DENIED",		403, "requested access to the resource is denied" },
	{ "UNSUPPORTED",	405, "the operation is unsupported" },
	{ "TOOMANYREQUESTS",	429, "too many requests" },
	{ "RANGE_INVALID",	416, "requested range not satisfiable" },
	{ "PAYLOAD_TOO_LARGE",	413, "payload too large" },
};

static char	*oci_mirror_path(struct req *);
static void	oci_base(struct req *);
static void	oci_route(struct oci_request *);
static int	oci_space_low(struct oci_request *);
static void	oci_audit(struct oci_request *, enum evhttp_cmd_type);
static unsigned	oci_need(enum evhttp_cmd_type);
static int	oci_resolve(struct oci_request *);

void
oci_dispatch(struct req *r)
{
	struct oci_request	 o;
	const char		*code = "NAME_INVALID";
	char			*cause = NULL, *mirrored;
	int			 rv;

	/*
	 * The request owns its caller (r->req_caller); r may be gone once
	 * answered. A password is checked off the loop: this runs again
	 * once it is.
	 */
	if (http_auth_identify(r, oci_dispatch) == -1)
		return;
	http_header_add(r, OCI_API_VERSION_HEADER, OCI_API_VERSION);
	memset(&o, 0, sizeof(o));
	o.or_req = r;
	mirrored = oci_mirror_path(r);
	rv = ref_parse_v2_path(mirrored != NULL ? mirrored : r->req_path,
	    &o.or_path, &code, &cause);
	free(mirrored);
	if (rv == -1) {
		if (code != NULL && strcmp(code, "UNSUPPORTED") == 0)
			http_reply_oci_error(r, 404, code, "no such endpoint",
			    r->req_path);
		else if (code != NULL && strcmp(code, "TAG_INVALID") == 0 &&
		    (http_method(r) == EVHTTP_REQ_GET ||
		    http_method(r) == EVHTTP_REQ_HEAD))
			/*
			 * No manifest has a tag that cannot be: a read
			 * finds nothing (the conformance suite asks for
			 * 404); only a push is told that the tag is bad.
			 */
			oci_error(&o, "MANIFEST_UNKNOWN", cause);
		else if (code != NULL && strcmp(code, "DIGEST_INVALID") == 0)
			oci_digest_malformed(&o, cause);
		else
			oci_error(&o, code != NULL ? code : "NAME_INVALID",
			    cause);
		free(cause);
		return;
	}
	if (o.or_path.kind == V2_BASE) {
		if (http_auth_check_base(r) == 0)
			oci_base(r);
	} else if (o.or_path.kind == V2_CATALOG) {
		if (http_auth_check_catalog(r) == 0)
			oci_route(&o);
	} else if (oci_resolve(&o) == -1) {
		if (http_auth_check_unknown(r, o.or_path.name,
		    oci_need(http_method(r))) == 0)
			oci_error(&o, "NAME_UNKNOWN", o.or_path.name);
	} else
		oci_route(&o);
	v2_path_clear(&o.or_path);
}

const struct content_handler oci_content_handler = {
	oci_reply_error,
	oci_manifest_serve,
	oci_tags_reply
};

void
oci_content(struct oci_request *o, struct content_request *cr)
{
	memset(cr, 0, sizeof(*cr));
	cr->cr_req = o->or_req;
	cr->cr_handler = &oci_content_handler;
	cr->cr_path = o->or_path;	/* shares its strings */
	cr->cr_registry = o->or_registry;
	cr->cr_upstream = o->or_upstream;
}

void
oci_error(struct oci_request *o, const char *code, const char *detail)
{
	oci_reply_error(o->or_req, 0, code, NULL, detail);
}

void
oci_reply_error(struct req *r, int status, const char *code,
    const char *message, const char *detail)
{
	size_t	 i;

	if (message != NULL) {
		http_reply_oci_error(r, status, code, message, detail);
		return;
	}
	for (i = 0; i < sizeof(oci_errors) / sizeof(oci_errors[0]); i++)
		if (strcmp(oci_errors[i].ec_code, code) == 0) {
			http_reply_oci_error(r, oci_errors[i].ec_status,
			    code, oci_errors[i].ec_message, detail);
			return;
		}
	log_warnx("oci_error: unknown error code %s", code);
	http_reply_oci_error(r, 500, "UNKNOWN", "internal error", detail);
}

void
oci_digest_malformed(struct oci_request *o, const char *detail)
{
	http_reply_oci_error(o->or_req, 400, "DIGEST_INVALID",
	    "provided digest is malformed", detail);
}

/*
 * With server.mirror_registry set, a /v2/ path whose first component
 * names no registry or upstream key (a Docker daemon's registry-mirrors
 * asks for /v2/library/alpine/...), or that carries containerd's ns
 * query parameter, is served by that registry: the path it is served as.
 * NULL when the path stays as it is. Caller frees.
 */
static char *
oci_mirror_path(struct req *r)
{
	struct config	*cf = http_context(r)->ctx_config;
	const char	*mirror = cf->cf_server.srv_mirror_registry;
	const char	*rest;
	char		*path;
	int		 known;

	/* Mirrors serve pulls; a push names its registry itself. */
	if (mirror == NULL || strncmp(r->req_path, "/v2/", 4) != 0 ||
	    (http_method(r) != EVHTTP_REQ_GET &&
	    http_method(r) != EVHTTP_REQ_HEAD))
		return (NULL);
	rest = r->req_path + 4;
	if (*rest == '\0' || strcmp(rest, "_catalog") == 0 ||
	    strchr(rest, '/') == NULL)
		return (NULL);
	known = config_name_find(cf, rest, NULL, NULL);
	if (known && http_query_get(r, "ns") == NULL)
		return (NULL);
	xasprintf(&path, "/v2/%s/%s", mirror, rest);
	return (path);
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

/* Find the registry or upstream key named by the path's first component. */
static int
oci_resolve(struct oci_request *o)
{
	struct config	*cf = http_context(o->or_req)->ctx_config;

	(void)config_name_find(cf, o->or_path.registry, &o->or_registry,
	    &o->or_upstream);
	if (o->or_registry != NULL) {
		if (o->or_registry->reg_type != REPO_DOCKER)
			return (-1);
		o->or_read_only = o->or_registry->reg_read_only;
		return (0);
	}
	if (o->or_upstream != NULL && o->or_upstream->up_type == REPO_DOCKER) {
		o->or_read_only = 1;
		return (0);
	}
	return (-1);
}

static void
oci_route(struct oci_request *o)
{
	enum evhttp_cmd_type	 m = http_method(o->or_req);
	size_t			 i;
	unsigned		 need;
	int			 kind_known = 0;

	for (i = 0; i < sizeof(oci_routes) / sizeof(oci_routes[0]); i++) {
		if (oci_routes[i].rt_kind != o->or_path.kind)
			continue;
		kind_known = 1;
		if (oci_routes[i].rt_method != m)
			continue;
		need = oci_need(m);
		if (o->or_path.kind != V2_CATALOG &&
		    http_auth_check(o->or_req, o->or_path.name, need) == -1)
			return;
		if (oci_routes[i].rt_write && o->or_read_only) {
			oci_error(o, "UNSUPPORTED", o->or_upstream != NULL ?
			    "an upstream proxy is read-only" :
			    "this registry is read-only");
			return;
		}
		if (oci_routes[i].rt_write && m != EVHTTP_REQ_DELETE &&
		    oci_space_low(o))
			return;
		if (oci_routes[i].rt_write)
			oci_audit(o, m);
		oci_routes[i].rt_handler(o);
		return;
	}
	/* Nothing about a repository one may not read, not even this. */
	if (o->or_path.kind != V2_CATALOG &&
	    http_auth_check(o->or_req, o->or_path.name, oci_need(m)) == -1)
		return;
	http_reply_oci_error(o->or_req, kind_known ? 405 : 404, "UNSUPPORTED",
	    "method not allowed for this endpoint", NULL);
}

/*
 * The low-space guard (min_free_bytes): an upload or a manifest push
 * while the data directory is nearly full is answered 507 with DENIED,
 * the spec's code for a refused operation; 1 when answered.
 */
static int
oci_space_low(struct oci_request *o)
{
	struct config_server	*srv = &http_context(o->or_req)->ctx_config->
				    cf_server;

	if (!space_low(srv->srv_data_dir, srv->srv_min_free_bytes))
		return (0);
	http_reply_oci_error(o->or_req, 507, "DENIED", "insufficient storage",
	    "the registry is low on disk space; try again later");
	return (1);
}

/* The audit trail of changes: who asked for what, from where. */
static void
oci_audit(struct oci_request *o, enum evhttp_cmd_type m)
{
	const struct access_caller	*who = o->or_req->req_caller;
	const char			*user = "anonymous";

	/* Upload chunks are many; the manifest push and deletes tell. */
	if (o->or_path.kind != V2_MANIFEST && m != EVHTTP_REQ_DELETE)
		return;
	if (who != NULL && who->ca_user[0] != '\0' && !who->ca_bad)
		user = who->ca_user;
	log_info("audit: %s %s %s%s%s from %s", user,
	    m == EVHTTP_REQ_DELETE ? "deletes" : "pushes", o->or_path.name,
	    o->or_path.reference != NULL ? (o->or_path.ref_is_digest ? "@" :
	    ":") : "", o->or_path.reference != NULL ? o->or_path.reference :
	    "", o->or_req->req_client);
}

/* What a method needs: pull for reads, push for writes, delete. */
static unsigned
oci_need(enum evhttp_cmd_type m)
{
	switch (m) {
	case EVHTTP_REQ_GET:
	case EVHTTP_REQ_HEAD:
		return (ACCESS_PULL);
	case EVHTTP_REQ_DELETE:
		return (ACCESS_DELETE);
	default:
		return (ACCESS_PUSH);
	}
}
