/*
 * helm_list.c: the chart versions of a helm registry (or helm upstream
 * key) for the JSON API, a page at a time, as its index.yaml lists them.
 *
 * The upstream indexes are revalidated first exactly as for index.yaml
 * (helm_upstream_refresh). Then a thread reads the member files
 * (helm_member_page: the same merge as the render, from the start of
 * each file up to the page, one chart name at a time), takes appVersion,
 * description and created from each entry's YAML, and looks whether the
 * blob store holds each .tgz. A hosted member file older than the rows
 * of the index is written again first (helm_render_start), once.
 */
#include <sys/types.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/config.h"
#include "helm/helm.h"
#include "helm/helm_index.h"
#include "helm/helm_int.h"
#include "http/http.h"
#include "lib/digest.h"
#include "lib/log.h"
#include "lib/offload.h"
#include "lib/xmalloc.h"
#include "store/blobstore.h"
#include "store/index.h"
#include "store/index_helm.h"

struct helm_list_job {
	struct helm_request	 lj_h;		/* first: freed as one */
	char			 lj_members[HELM_UPSTREAMS_MAX + 1]
				    [HELM_PATH_MAX];
	char			*lj_sources[HELM_UPSTREAMS_MAX + 1];
	size_t			 lj_n;
	int			 lj_hosted;	/* members[0] is the hosted */
	int64_t			 lj_gen;	/* the rows' generation */
	int			 lj_stale;	/* the hosted file is older */
	int			 lj_rebuilt;
	struct blobstore	*lj_blobs;
	char			*lj_match;
	char			*lj_after_name;
	char			*lj_after_version;
	size_t			 lj_want;
	struct helm_chart_page	 lj_page;
	void			(*lj_done)(const struct helm_chart_page *,
				    void *);
	void			*lj_arg;
};

static void	helm_list_fresh(struct helm_request *);
static void	helm_list_work(void *);
static void	helm_list_done(void *);
static void	helm_list_rebuilt(int, void *);
static void	helm_list_end(struct helm_list_job *);

void
helm_charts_list(struct req *r, const char *name,
    const struct helm_chart_query *q,
    void (*done)(const struct helm_chart_page *, void *), void *arg)
{
	struct http_context	*ctx = http_context(r);
	struct config		*cf = ctx->ctx_config;
	struct config_registry	*reg;
	struct config_upstream	*up;
	struct helm_list_job	*lj;
	size_t			 i, n = 0;

	lj = xcalloc(1, sizeof(*lj));
	lj->lj_h.h_req = r;
	snprintf(lj->lj_h.h_name, sizeof(lj->lj_h.h_name), "%s", name);
	lj->lj_done = done;
	lj->lj_arg = arg;
	lj->lj_blobs = ctx->ctx_blobs;
	lj->lj_want = q->cq_want;
	lj->lj_match = q->cq_match != NULL ? xstrdup(q->cq_match) : NULL;
	lj->lj_after_name = q->cq_after_name != NULL ?
	    xstrdup(q->cq_after_name) : NULL;
	lj->lj_after_version = q->cq_after_version != NULL ?
	    xstrdup(q->cq_after_version) : NULL;
	lj->lj_n = helm_members(cf, name, lj->lj_members);
	/* the source of each member, in the order helm_members gives */
	reg = config_registry_find(cf, name);
	if (reg != NULL && reg->reg_type == REPO_HELM) {
		lj->lj_h.h_reg = reg;
		lj->lj_hosted = 1;
		lj->lj_sources[n++] = xstrdup("hosted");
		for (i = 0; i < reg->reg_upstreams.sl_count &&
		    n < lj->lj_n; i++) {
			up = config_upstream_find(cf,
			    reg->reg_upstreams.sl_items[i]);
			if (up != NULL && up->up_type == REPO_HELM)
				lj->lj_sources[n++] = xstrdup(up->up_key);
		}
	} else if ((up = config_upstream_find(cf, name)) != NULL) {
		lj->lj_h.h_up = up;
		if (lj->lj_n > 0)
			lj->lj_sources[n++] = xstrdup(up->up_key);
	}
	lj->lj_n = n < lj->lj_n ? n : lj->lj_n;
	helm_upstream_refresh(&lj->lj_h, helm_list_fresh);
}

/* The upstream members are fresh: read them off the loop. */
static void
helm_list_fresh(struct helm_request *h)
{
	struct helm_list_job	*lj = (struct helm_list_job *)h;
	struct http_context	*ctx = http_context(h->h_req);

	if (lj->lj_hosted && index_helm_gen(ctx->ctx_index, h->h_name,
	    &lj->lj_gen) == -1) {
		lj->lj_page.cp_ret = -1;
		lj->lj_page.cp_cause = xstrdup("the index cannot be read");
		helm_list_end(lj);
		return;
	}
	offload_run(ctx->ctx_base, helm_list_work, helm_list_done, lj);
}

/* In a thread: the page, from files only. */
static void
helm_list_work(void *arg)
{
	struct helm_list_job		*lj = arg;
	struct helm_chart_page		*p = &lj->lj_page;
	struct helm_chart_version	*cv;
	struct helm_listed		*list;
	struct helm_record		*rec;
	const char			*members[HELM_UPSTREAMS_MAX + 1];
	struct digest			 d;
	int64_t				 have;
	size_t				 i, count;

	if (lj->lj_hosted && !lj->lj_rebuilt) {
		if (helm_member_gen(lj->lj_members[0], &have) == -1)
			have = errno == ENOENT ? 0 : -1;
		if (have < lj->lj_gen) {
			lj->lj_stale = 1;
			return;
		}
	}
	for (i = 0; i < lj->lj_n; i++)
		members[i] = lj->lj_members[i];
	if (helm_member_page(members, lj->lj_n, lj->lj_match,
	    lj->lj_after_name, lj->lj_after_version, lj->lj_want, &list,
	    &count, &p->cp_more, &p->cp_cause) == -1) {
		p->cp_ret = -1;
		return;
	}
	p->cp_list = xcalloc(count ? count : 1, sizeof(*p->cp_list));
	p->cp_count = count;
	for (i = 0; i < count; i++) {
		rec = &list[i].hl_rec;
		cv = &p->cp_list[i];
		cv->cv_name = rec->hr_name;
		cv->cv_version = rec->hr_version;
		cv->cv_digest = rec->hr_digest;
		rec->hr_name = rec->hr_version = rec->hr_digest = NULL;
		cv->cv_app_version = helm_entry_scalar(rec->hr_yaml,
		    rec->hr_yaml_len, "appVersion");
		cv->cv_description = helm_entry_scalar(rec->hr_yaml,
		    rec->hr_yaml_len, "description");
		cv->cv_created = helm_entry_scalar(rec->hr_yaml,
		    rec->hr_yaml_len, "created");
		cv->cv_source = xstrdup(lj->lj_sources[list[i].hl_member]);
		cv->cv_hosted = lj->lj_hosted && list[i].hl_member == 0;
		if (helm_digest_ok(cv->cv_digest)) {
			d.alg = DIGEST_SHA256;
			snprintf(d.hex, sizeof(d.hex), "%s", cv->cv_digest);
			cv->cv_cached = blobstore_stat(lj->lj_blobs, &d,
			    NULL) == 1;
		}
	}
	helm_listed_free(list, count);
}

static void
helm_list_done(void *arg)
{
	struct helm_list_job	*lj = arg;

	if (lj->lj_stale) {
		/* once: write the hosted member file from the rows */
		lj->lj_stale = 0;
		lj->lj_rebuilt = 1;
		helm_render_start(lj->lj_h.h_req, lj->lj_h.h_name, NULL,
		    helm_list_rebuilt, lj);
		return;
	}
	helm_list_end(lj);
}

static void
helm_list_rebuilt(int ret, void *arg)
{
	struct helm_list_job	*lj = arg;

	if (ret == -1)
		log_warnx("%s: %s: the hosted charts could not be written "
		    "again; listing what is there", __func__, lj->lj_h.h_name);
	offload_run(http_context(lj->lj_h.h_req)->ctx_base, helm_list_work,
	    helm_list_done, lj);
}

/* Hand the page over, then free the job. */
static void
helm_list_end(struct helm_list_job *lj)
{
	struct helm_chart_page		*p = &lj->lj_page;
	struct helm_chart_version	*cv;
	size_t				 i;

	lj->lj_done(p, lj->lj_arg);
	for (i = 0; i < p->cp_count; i++) {
		cv = &p->cp_list[i];
		free(cv->cv_name);
		free(cv->cv_version);
		free(cv->cv_digest);
		free(cv->cv_app_version);
		free(cv->cv_description);
		free(cv->cv_created);
		free(cv->cv_source);
	}
	free(p->cp_list);
	free(p->cp_cause);
	for (i = 0; i <= HELM_UPSTREAMS_MAX; i++)
		free(lj->lj_sources[i]);
	free(lj->lj_match);
	free(lj->lj_after_name);
	free(lj->lj_after_version);
	free(lj);
}
