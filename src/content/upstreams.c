/*
 * upstreams.c: which upstreams a pull goes through, and what to tell the
 * client when none of them had what it asked for.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf/config.h"
#include "http/http.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "content/content.h"
#include "content/upstreams.h"
#include "upstream/upstream.h"
#include "upstream/upstream_state.h"
#include "lib/xmalloc.h"

static void	content_outcome_add(struct content_outcome *, const char *,
		    const char *);
static const char *content_result_metric(enum upstream_result, long);

size_t
content_upstreams(struct content_request *cr, struct config_upstream **out,
    size_t max)
{
	struct config		*cf = http_context(cr->cr_req)->ctx_config;
	struct config_registry	*reg = cr->cr_registry;
	struct config_upstream	*up;
	size_t			 i, n = 0;

	if (cr->cr_path.image == NULL || max == 0)
		return (0);
	if (cr->cr_upstream != NULL) {
		if (cr->cr_upstream->up_type != REPO_DOCKER)
			return (0);
		out[0] = cr->cr_upstream;
		return (1);
	}
	if (reg == NULL)
		return (0);
	for (i = 0; i < reg->reg_upstreams.sl_count && n < max; i++) {
		up = config_upstream_find(cf, reg->reg_upstreams.sl_items[i]);
		if (up != NULL && up->up_type == REPO_DOCKER)
			out[n++] = up;
	}
	return (n);
}

/* Append "key: why" to the outcome's message. */
static void
content_outcome_add(struct content_outcome *po, const char *key, const char *why)
{
	char	*joined;

	if (po->po_errors == NULL)
		xasprintf(&joined, "%s: %s", key, why);
	else
		xasprintf(&joined, "%s; %s: %s", po->po_errors, key, why);
	free(po->po_errors);
	po->po_errors = joined;
}

/* The metrics reason of a failed upstream call. */
static const char *
content_result_metric(enum upstream_result result, long status)
{
	switch (result) {
	case UPSTREAM_OK:
		if (status == 429)
			return ("ratelimited");
		return ("status");
	case UPSTREAM_ESKIPPED:
		return ("skipped");
	case UPSTREAM_EAUTH:
	case UPSTREAM_ETOKEN:
		return ("auth");
	case UPSTREAM_EFETCH:
		return (NULL);	/* counted by upstream.c, by cause */
	case UPSTREAM_EUNSUPPORTED:
		return ("protocol");
	}
	return ("other");
}

void
content_outcome_note(struct content_outcome *po, struct config_upstream *up,
    enum upstream_result result, long status, const char *errmsg)
{
	const char	*metric;
	char		 why[64];
	time_t		 until;

	if (result == UPSTREAM_OK && status == 404) {
		po->po_missing++;
		return;
	}
	if ((metric = content_result_metric(result, status)) != NULL)
		metrics_upstream_error(up->up_key, metric);
	if (result == UPSTREAM_ESKIPPED && errmsg != NULL &&
	    strstr(errmsg, "Retry-After") != NULL)
		po->po_limited++;
	else if (result == UPSTREAM_OK && status == 429)
		po->po_limited++;
	else
		po->po_failed++;
	if (result == UPSTREAM_ESKIPPED || status == 429) {
		if (upstream_state_check(up->up_key, time(NULL), &until) !=
		    UPSTREAM_GO && (po->po_retry_after == 0 ||
		    until < po->po_retry_after))
			po->po_retry_after = until;
	}
	/* An ECR token failure is logged once where it happened. */
	if (result == UPSTREAM_ETOKEN && errmsg != NULL) {
		content_outcome_add(po, up->up_key, errmsg);
		return;
	}
	/*
	 * The client is told what kind of failure it was; the details
	 * (addresses, curl's words) go to the log only.
	 */
	switch (result) {
	case UPSTREAM_OK:
		(void)snprintf(why, sizeof(why), "HTTP %ld", status);
		break;
	case UPSTREAM_ESKIPPED:
		(void)snprintf(why, sizeof(why), "%s", errmsg != NULL &&
		    strstr(errmsg, "Retry-After") != NULL ?
		    "rate limited (Retry-After)" : "skipped (circuit open)");
		break;
	case UPSTREAM_EFETCH:
		(void)snprintf(why, sizeof(why), "unreachable or cut off");
		break;
	case UPSTREAM_EAUTH:
	case UPSTREAM_ETOKEN:
		(void)snprintf(why, sizeof(why), "%s", errmsg == NULL ?
		    "authentication with the upstream failed" :
		    strstr(errmsg, "not trusted") != NULL ?
		    "the token realm is not trusted with depot's credentials" :
		    strstr(errmsg, "credentials") != NULL ?
		    "the upstream refused depot's credentials" :
		    "authentication with the upstream failed");
		break;
	case UPSTREAM_EUNSUPPORTED:
		(void)snprintf(why, sizeof(why), "not supported yet");
		break;
	}
	content_outcome_add(po, up->up_key, why);
	log_info("upstream %s: %s", up->up_key, errmsg != NULL ? errmsg : why);
}

void
content_outcome_fail(struct content_outcome *po, struct config_upstream *up,
    const char *reason, const char *metric_reason)
{
	metrics_upstream_error(up->up_key, metric_reason);
	po->po_failed++;
	content_outcome_add(po, up->up_key, reason);
	log_warnx("upstream %s: %s", up->up_key, reason);
}

void
content_outcome_clear(struct content_outcome *po)
{
	free(po->po_errors);
	memset(po, 0, sizeof(*po));
}

int
content_outcome_all_missing(const struct content_outcome *po)
{
	return (po->po_missing > 0 && po->po_limited == 0 &&
	    po->po_failed == 0);
}

void
content_outcome_reply(const struct content_outcome *po,
    const struct content_handler *h, struct req *r,
    const char *not_found_code, const char *what)
{
	const char	*message = "manifest unknown to registry";
	char		*detail, retry[32];
	time_t		 now = time(NULL);

	if (po->po_failed == 0 && po->po_limited == 0) {
		if (strcmp(not_found_code, "BLOB_UNKNOWN") == 0)
			message = "blob unknown to registry";
		else if (strcmp(not_found_code, "NAME_UNKNOWN") == 0)
			message = "repository name not known to registry";
		content_fail(h, r, 404, not_found_code, message, what);
		return;
	}
	xasprintf(&detail, "%s: %s", what, po->po_errors != NULL ?
	    po->po_errors : "no upstream answered");
	if (po->po_failed == 0) {
		(void)snprintf(retry, sizeof(retry), "%lld",
		    (long long)(po->po_retry_after > now ?
		    po->po_retry_after - now : 1));
		http_header_add(r, "Retry-After", retry);
		content_fail(h, r, 429, "TOOMANYREQUESTS",
		    "too many requests", detail);
	} else
		content_fail(h, r, 503, "UNAVAILABLE",
		    "no upstream could provide it", detail);
	free(detail);
}

struct upstream_call *
content_call(struct fetcher *f, struct config_upstream *up, const char *image,
    enum fetch_method method, const char *path, const char *const *headers,
    size_t nheaders, const struct upstream_callbacks *cbs, void *arg,
    struct content_outcome *po)
{
	struct upstream_call	*call;
	char			*remote;

	remote = upstream_remote_repo(up, image);
	call = content_call_repo(f, up, remote, method, path, headers,
	    nheaders, cbs, arg, po);
	free(remote);
	return (call);
}

struct upstream_call *
content_call_repo(struct fetcher *f, struct config_upstream *up,
    const char *remote, enum fetch_method method, const char *path,
    const char *const *headers, size_t nheaders,
    const struct upstream_callbacks *cbs, void *arg,
    struct content_outcome *po)
{
	struct upstream_request	 ur;
	struct upstream_call	*call;

	memset(&ur, 0, sizeof(ur));
	ur.ur_upstream = up;
	ur.ur_method = method;
	ur.ur_repo = remote;
	ur.ur_path = path;
	ur.ur_headers = headers;
	ur.ur_nheaders = nheaders;
	call = upstream_call_start(f, &ur, cbs, arg);
	if (call == NULL)
		content_outcome_fail(po, up, "cannot start the request",
		    "protocol");
	return (call);
}

void
content_error(struct content_request *cr, const char *code,
    const char *detail)
{
	cr->cr_handler->ch_error(cr->cr_req, 0, code, NULL, detail);
}

void
content_fail(const struct content_handler *h, struct req *r, int status,
    const char *code, const char *message, const char *detail)
{
	h->ch_error(r, status, code, message, detail);
}

char *
content_negative_key(const char *repo, const char *reference)
{
	char	*key;

	xasprintf(&key, "%s%c%s", repo, strchr(reference, ':') != NULL ?
	    '@' : ':', reference);
	return (key);
}
