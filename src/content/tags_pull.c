/*
 * tags_pull.c: tags/list of a repository that pulls through upstreams:
 * the sorted union of its own tags and the lists of every upstream that
 * answers, asked in order. An upstream's list is kept in this process
 * for the upstream's tag_ttl, so listing often does not ask it each time.
 * Upstream pages (Link: rel="next") are followed up to a bound.
 *
 * An answer that is not a tag list (not JSON, "tags" not an array, an
 * entry that is not a string, more than TAGS_MAX tags) is a bad answer
 * of that upstream: it counts as failed with the reason logged and in
 * the client's error, like an upstream that could not be reached; the
 * other upstreams and the local tags are merged as usual. Strings that
 * are not valid tag names are left out (they could not be pulled).
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "conf/config.h"
#include "http/http.h"
#include "store/index.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "content/content.h"
#include "content/upstreams.h"
#include "lib/ref.h"
#include "upstream/upstream.h"
#include "lib/xmalloc.h"

#define TAGS_PAGE_SIZE		1000
#define TAGS_PAGES_MAX		50
#define TAGS_BODY_MAX		(8 * 1024 * 1024)
#define TAGS_CACHE_MAX		64	/* lists kept per process */
#define TAGS_MAX		100000	/* tags of one upstream list */

/* One upstream's list of one repository, as last fetched. */
struct tags_cached {
	TAILQ_ENTRY(tags_cached) tc_entry;
	char			*tc_key;	/* "<upstream key> <remote repo>" */
	time_t			 tc_fetched;
	char			**tc_tags;
	size_t			 tc_count;
};
TAILQ_HEAD(tags_cache, tags_cached);

static struct tags_cache tags_cache = TAILQ_HEAD_INITIALIZER(tags_cache);
static size_t		 tags_ncached;

struct tags_pull {
	struct content_request	 tp_cr;		/* path copied, request live */
	size_t			 tp_n;		/* tags asked for at most */
	char			*tp_last;	/* after this one, or NULL */
	struct config_upstream	*tp_ups[CONTENT_UPSTREAMS_MAX];
	size_t			 tp_nups;
	size_t			 tp_next;
	struct config_upstream	*tp_up;
	char			*tp_remote;
	int			 tp_pages;
	char			*tp_next_path;	/* next upstream page, or NULL */
	char			**tp_paths;	/* pages asked of tp_up */
	size_t			 tp_npaths;
	struct evbuffer		*tp_body;
	char			**tp_got;	/* this upstream's, so far */
	size_t			 tp_ngot;
	char			**tp_tags;	/* the union */
	size_t			 tp_count;
	int			 tp_known;	/* local or upstream has it */
	struct content_outcome	 tp_outcome;
};

static void	tags_pull_upstream(struct tags_pull *);
static void	tags_pull_page(struct tags_pull *, const char *);
static int	tags_pull_data_cb(struct upstream_call *, const void *, size_t,
		    void *);
static void	tags_pull_done_cb(struct upstream_call *, enum upstream_result,
		    const char *, void *);
static int	tags_pull_parse(struct tags_pull *, const char **);
static char	*tags_pull_link_next(const char *);
static int	tags_pull_seen(struct tags_pull *, const char *);
static void	tags_pull_paths_clear(struct tags_pull *);
static void	tags_pull_finish(struct tags_pull *);
static void	tags_pull_free(struct tags_pull *);
static void	tags_add(char ***, size_t *, char **, size_t);
static int	tags_cmp(const void *, const void *);
static struct tags_cached *tags_cache_find(const char *);
static void	tags_cache_put(const char *, char **, size_t);

static const struct upstream_callbacks tags_pull_cbs = {
	NULL,
	tags_pull_data_cb,
	tags_pull_done_cb
};

void
content_tags_pull(struct content_request *o, size_t n, const char *last)
{
	struct index		*ix = http_context(o->cr_req)->ctx_index;
	struct tags_pull	*tp;
	char			**local = NULL;
	size_t			  nlocal = 0;
	int			  known;

	if ((known = content_repo_known(ix, o->cr_path.name)) == -1 ||
	    index_tag_list(ix, o->cr_path.name, NULL, 0, &local,
	    &nlocal) == -1) {
		content_fail(o->cr_handler, o->cr_req, 500, "UNKNOWN",
		    "internal error", NULL);
		return;
	}
	tp = xcalloc(1, sizeof(*tp));
	tp->tp_cr = *o;
	v2_path_copy(&tp->tp_cr.cr_path, &o->cr_path);
	tp->tp_n = n;
	if (last != NULL)
		tp->tp_last = xstrdup(last);
	tp->tp_known = known;	/* a tag makes it known too */
	tags_add(&tp->tp_tags, &tp->tp_count, local, nlocal);
	index_strings_free(local, nlocal);
	if ((tp->tp_body = evbuffer_new()) == NULL)
		fatalx("%s: evbuffer_new", __func__);
	tp->tp_nups = content_upstreams(o, tp->tp_ups, CONTENT_UPSTREAMS_MAX);
	tags_pull_upstream(tp);
}

/* Take the next upstream's list from the cache or ask it; or finish. */
static void
tags_pull_upstream(struct tags_pull *tp)
{
	struct tags_cached	*tc;
	char			*key;

	while (tp->tp_next < tp->tp_nups) {
		tp->tp_up = tp->tp_ups[tp->tp_next++];
		free(tp->tp_remote);
		tp->tp_remote = upstream_remote_repo(tp->tp_up,
		    tp->tp_cr.cr_path.image);
		xasprintf(&key, "%s %s", tp->tp_up->up_key, tp->tp_remote);
		tc = tags_cache_find(key);
		free(key);
		if (tc != NULL && time(NULL) - tc->tc_fetched <
		    tp->tp_up->up_tag_ttl) {
			tags_add(&tp->tp_tags, &tp->tp_count, tc->tc_tags,
			    tc->tc_count);
			tp->tp_known = 1;
			metrics_cache(tp->tp_cr.cr_path.registry, "tags",
			    METRICS_CACHE_HIT);
			continue;
		}
		tp->tp_pages = 0;
		tags_pull_paths_clear(tp);
		tags_pull_page(tp, NULL);
		return;
	}
	tags_pull_finish(tp);
}

/* Ask the current upstream for one page (path NULL: the first). */
static void
tags_pull_page(struct tags_pull *tp, const char *path)
{
	struct http_context	*ctx = http_context(tp->tp_cr.cr_req);
	char			*first = NULL;

	if (path == NULL)
		xasprintf(&first, "tags/list?n=%d", TAGS_PAGE_SIZE);
	evbuffer_drain(tp->tp_body, evbuffer_get_length(tp->tp_body));
	tp->tp_pages++;
	tp->tp_paths = xreallocarray(tp->tp_paths, tp->tp_npaths + 1,
	    sizeof(*tp->tp_paths));
	tp->tp_paths[tp->tp_npaths++] = xstrdup(path != NULL ? path : first);
	if (content_call(ctx->ctx_fetcher, tp->tp_up, tp->tp_cr.cr_path.image,
	    FETCH_GET, path != NULL ? path : first, NULL, 0, &tags_pull_cbs,
	    tp, &tp->tp_outcome) == NULL) {
		index_strings_free(tp->tp_got, tp->tp_ngot);
		tp->tp_got = NULL;
		tp->tp_ngot = 0;
		free(first);
		tags_pull_upstream(tp);
		return;
	}
	free(first);
}

static int
tags_pull_data_cb(struct upstream_call *call, const void *buf, size_t len,
    void *arg)
{
	struct tags_pull	*tp = arg;

	(void)call;
	if (evbuffer_get_length(tp->tp_body) + len > TAGS_BODY_MAX)
		return (-1);
	if (evbuffer_add(tp->tp_body, buf, len) == -1)
		fatalx("%s: evbuffer_add", __func__);
	return (0);
}

static void
tags_pull_done_cb(struct upstream_call *call, enum upstream_result result,
    const char *errmsg, void *arg)
{
	struct tags_pull	*tp = arg;
	char			*next, *key, *why;
	const char		*bad;
	long			 status;

	status = result == UPSTREAM_OK ? upstream_call_status(call) : 0;
	if (status != 200) {
		content_outcome_note(&tp->tp_outcome, tp->tp_up, result, status,
		    errmsg);
		index_strings_free(tp->tp_got, tp->tp_ngot);
		tp->tp_got = NULL;
		tp->tp_ngot = 0;
		tags_pull_upstream(tp);
		return;
	}
	if (tags_pull_parse(tp, &bad) == -1) {
		xasprintf(&why, "bad tag list: %s", bad);
		content_outcome_fail(&tp->tp_outcome, tp->tp_up, why,
		    "protocol");
		free(why);
		index_strings_free(tp->tp_got, tp->tp_ngot);
		tp->tp_got = NULL;
		tp->tp_ngot = 0;
		tags_pull_upstream(tp);
		return;
	}
	next = tags_pull_link_next(upstream_call_header(call, "Link"));
	if (next != NULL && tags_pull_seen(tp, next)) {
		/* A loop: what was fetched so far is the whole list. */
		log_info("tags of %s from %s: next page %s was fetched "
		    "already, list ends here", tp->tp_remote,
		    tp->tp_up->up_key, next);
		free(next);
		next = NULL;
	}
	if (next != NULL && tp->tp_pages < TAGS_PAGES_MAX) {
		tags_pull_page(tp, next);
		free(next);
		return;
	}
	free(next);
	/* The whole list of this upstream: keep it and merge it. */
	xasprintf(&key, "%s %s", tp->tp_up->up_key, tp->tp_remote);
	tags_cache_put(key, tp->tp_got, tp->tp_ngot);
	free(key);
	tags_add(&tp->tp_tags, &tp->tp_count, tp->tp_got, tp->tp_ngot);
	index_strings_free(tp->tp_got, tp->tp_ngot);
	tp->tp_got = NULL;
	tp->tp_ngot = 0;
	tp->tp_known = 1;
	metrics_cache(tp->tp_cr.cr_path.registry, "tags", METRICS_CACHE_MISS);
	tags_pull_upstream(tp);
}

/*
 * Add the valid tags of the page in tp_body to tp_got. 0, or -1 with
 * *bad saying what is wrong with the answer.
 */
static int
tags_pull_parse(struct tags_pull *tp, const char **bad)
{
	json_t		*root, *list, *item;
	json_error_t	 err;
	const char	*tag;
	char		**page = NULL;
	size_t		 i, n = 0;

	root = json_loadb((const char *)evbuffer_pullup(tp->tp_body, -1),
	    evbuffer_get_length(tp->tp_body), 0, &err);
	if (root == NULL || !json_is_object(root)) {
		*bad = "not a JSON object";
		goto fail;
	}
	list = json_object_get(root, "tags");
	if (list != NULL && !json_is_null(list) && !json_is_array(list)) {
		*bad = "\"tags\" is not an array";
		goto fail;
	}
	if (tp->tp_ngot + json_array_size(list) > TAGS_MAX) {
		*bad = "more than 100000 tags";
		goto fail;
	}
	page = xcalloc(json_array_size(list) + 1, sizeof(*page));
	json_array_foreach(list, i, item) {
		if ((tag = json_string_value(item)) == NULL) {
			*bad = "an entry of \"tags\" is not a string";
			goto fail;
		}
		if (ref_tag_valid(tag, NULL) == -1)
			continue;
		page[n++] = (char *)tag;	/* borrowed from root */
	}
	tags_add(&tp->tp_got, &tp->tp_ngot, page, n);	/* copies */
	free(page);
	json_decref(root);
	return (0);

fail:
	free(page);
	json_decref(root);
	return (-1);
}

/*
 * The path of the next page from a Link header
 * (</v2/<repo>/tags/list?last=x&n=y>; rel="next"), as "tags/list?...",
 * or NULL. Caller frees.
 */
static char *
tags_pull_link_next(const char *link)
{
	const char	*start, *end, *query;
	char		*path;

	if (link == NULL || strstr(link, "rel=\"next\"") == NULL ||
	    (start = strchr(link, '<')) == NULL ||
	    (end = strchr(start, '>')) == NULL)
		return (NULL);
	query = memchr(start, '?', (size_t)(end - start));
	if (query == NULL || strcspn(query, " \t\r\n\"") < (size_t)(end - query))
		return (NULL);
	xasprintf(&path, "tags/list%.*s", (int)(end - query), query);
	return (path);
}

/* Was path asked of the current upstream in this listing already? */
static int
tags_pull_seen(struct tags_pull *tp, const char *path)
{
	size_t	 i;

	for (i = 0; i < tp->tp_npaths; i++)
		if (strcmp(tp->tp_paths[i], path) == 0)
			return (1);
	return (0);
}

static void
tags_pull_paths_clear(struct tags_pull *tp)
{
	size_t	 i;

	for (i = 0; i < tp->tp_npaths; i++)
		free(tp->tp_paths[i]);
	free(tp->tp_paths);
	tp->tp_paths = NULL;
	tp->tp_npaths = 0;
}

/* Every upstream asked: answer with the union, or why there is none. */
static void
tags_pull_finish(struct tags_pull *tp)
{
	if (!tp->tp_known) {
		content_outcome_reply(&tp->tp_outcome, tp->tp_cr.cr_handler,
		    tp->tp_cr.cr_req, "NAME_UNKNOWN", tp->tp_cr.cr_path.name);
	} else {
		if (tp->tp_outcome.po_errors != NULL)
			log_info("tags of %s without some upstreams: %s",
			    tp->tp_cr.cr_path.name, tp->tp_outcome.po_errors);
		tp->tp_cr.cr_handler->ch_tags(&tp->tp_cr, tp->tp_n,
		    tp->tp_last, tp->tp_tags, tp->tp_count);
	}
	tags_pull_free(tp);
}

static void
tags_pull_free(struct tags_pull *tp)
{
	v2_path_clear(&tp->tp_cr.cr_path);
	if (tp->tp_body != NULL)
		evbuffer_free(tp->tp_body);
	index_strings_free(tp->tp_got, tp->tp_ngot);
	index_strings_free(tp->tp_tags, tp->tp_count);
	content_outcome_clear(&tp->tp_outcome);
	free(tp->tp_remote);
	free(tp->tp_last);
	tags_pull_paths_clear(tp);
	free(tp);
}

/* Merge add (n strings, copied) into the sorted unique list *v of *count. */
static void
tags_add(char ***v, size_t *count, char **add, size_t n)
{
	size_t	 i, j, total;

	if (n == 0)
		return;
	total = *count + n;
	*v = xreallocarray(*v, total, sizeof(**v));
	for (i = 0; i < n; i++)
		(*v)[*count + i] = xstrdup(add[i]);
	qsort(*v, total, sizeof(**v), tags_cmp);
	for (i = 0, j = 0; i < total; i++) {
		if (j > 0 && strcmp((*v)[j - 1], (*v)[i]) == 0) {
			free((*v)[i]);
			continue;
		}
		(*v)[j++] = (*v)[i];
	}
	*count = j;
}

static int
tags_cmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

static struct tags_cached *
tags_cache_find(const char *key)
{
	struct tags_cached	*tc;

	TAILQ_FOREACH(tc, &tags_cache, tc_entry)
		if (strcmp(tc->tc_key, key) == 0)
			return (tc);
	return (NULL);
}

/* Keep a copy of an upstream's list; the oldest goes when full. */
static void
tags_cache_put(const char *key, char **tags, size_t count)
{
	struct tags_cached	*tc;

	if ((tc = tags_cache_find(key)) != NULL) {
		TAILQ_REMOVE(&tags_cache, tc, tc_entry);
		tags_ncached--;
	} else if (tags_ncached >= TAGS_CACHE_MAX) {
		tc = TAILQ_LAST(&tags_cache, tags_cache);
		TAILQ_REMOVE(&tags_cache, tc, tc_entry);
		tags_ncached--;
		free(tc->tc_key);
		tc->tc_key = NULL;
	} else
		tc = xcalloc(1, sizeof(*tc));
	if (tc->tc_key == NULL)
		tc->tc_key = xstrdup(key);
	index_strings_free(tc->tc_tags, tc->tc_count);
	tc->tc_tags = NULL;
	tc->tc_count = 0;
	tags_add(&tc->tc_tags, &tc->tc_count, tags, count);
	tc->tc_fetched = time(NULL);
	TAILQ_INSERT_HEAD(&tags_cache, tc, tc_entry);
	tags_ncached++;
}
