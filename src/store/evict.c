/*
 * evict.c: an eviction run (evict.h). It lists every link made by a
 * fill (links.db, in batches of snapshot reads), groups them into items
 * (one digest through one upstream), takes each item's recency from
 * access.db and its size from the blob store, plans (evict_plan.c) and
 * removes each victim: every link of the item in one short transaction
 * each (index_cache_evict: only while the link is still that upstream's
 * and was not touched since the run began; a manifest that a pushed tag
 * points at stays), then the file through gc_remove_digest, which keeps
 * it while anything else links it. Nothing is held across slow I/O.
 *
 * It also removes the blobs that fills committed while space was low
 * without linking them: each left a note tmp/<alg>-<hex>.uncached.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf/config.h"
#include "lib/digest.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "store/blobstore.h"
#include "store/evict.h"
#include "store/gc.h"
#include "store/index.h"

#define EVICT_BATCH		1024	/* links listed per snapshot */
#define EVICT_NOTE_SUFFIX	".uncached"
/* A note this young may still have clients opening its blob. */
#define EVICT_NOTE_GRACE	30

/* One cached link, before grouping. */
struct evict_link {
	char		 el_upstream[DEPOT_NAME_MAX + 1];
	struct digest	 el_digest;
	char		*el_repo;
	int64_t		 el_recency;
};

static int	evict_link_cmp(const void *, const void *);
static int	evict_collect(struct index *, struct evict_link **, size_t *);
static size_t	evict_group(struct blobstore *, struct evict_link *, size_t,
		    struct evict_item **);
static void	evict_items_free(struct evict_item *, size_t);
static void	evict_victim(struct index *, struct blobstore *,
		    struct evict_item *, int64_t, struct evict_result *);
static void	evict_publish(struct evict_totals *);
static int	evict_note_path(struct blobstore *, const struct digest *,
		    char *, size_t);
static void	evict_uncached(struct index *, struct blobstore *,
		    struct evict_result *);

static int
evict_link_cmp(const void *a, const void *b)
{
	const struct evict_link	*x = a, *y = b;
	int			 c;

	if ((c = strcmp(x->el_upstream, y->el_upstream)) != 0)
		return (c);
	if (x->el_digest.alg != y->el_digest.alg)
		return (x->el_digest.alg < y->el_digest.alg ? -1 : 1);
	return (strcmp(x->el_digest.hex, y->el_digest.hex));
}

/*
 * Every link with an upstream, and its recency: the last pull, else
 * when the link was written. Caller frees. 0 or -1.
 */
static int
evict_collect(struct index *ix, struct evict_link **out, size_t *count)
{
	struct index_link_entry	*batch = NULL, after;
	struct evict_link	*links = NULL, *el;
	size_t			 n = 0, cap = 0, got, i;
	int64_t			 pulled;
	int			 first = 1;

	for (;;) {
		if (index_link_list(ix, first ? NULL : &after, EVICT_BATCH,
		    &batch, &got) == -1)
			goto fail;
		first = 0;
		for (i = 0; i < got; i++) {
			if (batch[i].ile_info.ili_upstream[0] == '\0')
				continue;
			if (n == cap) {
				cap = cap == 0 ? 256 : cap * 2;
				links = xreallocarray(links, cap,
				    sizeof(*links));
			}
			el = &links[n++];
			memcpy(el->el_upstream,
			    batch[i].ile_info.ili_upstream,
			    sizeof(el->el_upstream));
			el->el_digest = batch[i].ile_digest;
			el->el_repo = xstrdup(batch[i].ile_repo);
			el->el_recency = batch[i].ile_info.ili_touched;
			if (index_access_get(ix, el->el_repo, &el->el_digest,
			    &pulled) == 1 && pulled > el->el_recency)
				el->el_recency = pulled;
		}
		if (got > 0)
			after = batch[got - 1];
		free(batch);
		batch = NULL;
		if (got < EVICT_BATCH)
			break;
	}
	*out = links;
	*count = n;
	return (0);

fail:
	for (i = 0; i < n; i++)
		free(links[i].el_repo);
	free(links);
	return (-1);
}

/*
 * Group links (sorted here) into items: one per upstream and digest,
 * with its repositories (taken from the links) and its newest recency.
 * Caller frees *out with evict_items_free.
 */
static size_t
evict_group(struct blobstore *bs, struct evict_link *links, size_t n,
    struct evict_item **out)
{
	struct evict_item	*items, *it = NULL;
	size_t			 i, nitems = 0;
	off_t			 size;

	*out = NULL;
	if (n == 0)
		return (0);
	qsort(links, n, sizeof(*links), evict_link_cmp);
	items = xcalloc(n, sizeof(*items));
	for (i = 0; i < n; i++) {
		if (it == NULL || evict_link_cmp(&links[i - 1],
		    &links[i]) != 0) {
			it = &items[nitems++];
			memcpy(it->ei_upstream, links[i].el_upstream,
			    sizeof(it->ei_upstream));
			it->ei_digest = links[i].el_digest;
			if (blobstore_stat(bs, &it->ei_digest, &size) == 1)
				it->ei_size = (int64_t)size;
		}
		if (links[i].el_recency > it->ei_recency)
			it->ei_recency = links[i].el_recency;
		it->ei_repos = xreallocarray(it->ei_repos, it->ei_nrepos + 1,
		    sizeof(*it->ei_repos));
		it->ei_repos[it->ei_nrepos++] = links[i].el_repo;
		links[i].el_repo = NULL;
	}
	*out = items;
	return (nitems);
}

static void
evict_items_free(struct evict_item *items, size_t n)
{
	size_t	 i, j;

	for (i = 0; i < n; i++) {
		for (j = 0; j < items[i].ei_nrepos; j++)
			free(items[i].ei_repos[j]);
		free(items[i].ei_repos);
	}
	free(items);
}

/* Remove one victim's links, then its file unless still referenced. */
static void
evict_victim(struct index *ix, struct blobstore *bs, struct evict_item *it,
    int64_t cutoff, struct evict_result *res)
{
	char		 ds[DIGEST_STRING_MAX];
	size_t		 i, removed = 0, kept = 0;
	int64_t		 freed = 0;
	int		 rv;

	digest_format(&it->ei_digest, ds, sizeof(ds));
	for (i = 0; i < it->ei_nrepos; i++) {
		rv = index_cache_evict(ix, it->ei_repos[i], &it->ei_digest,
		    it->ei_upstream, cutoff);
		if (rv == 1)
			removed++;
		else
			kept++;
	}
	if (removed == 0)
		return;
	res->er_evicted++;
	metrics_cache_evicted(it->ei_upstream, 1, (uint64_t)it->ei_size);
	log_debug("%s: %s from %s: %zu link%s removed, %zu kept", __func__, ds,
	    it->ei_upstream, removed, removed == 1 ? "" : "s", kept);
	if (kept > 0)
		return;
	if ((rv = gc_remove_digest(ix, bs, &it->ei_digest, cutoff,
	    &freed)) == 1) {
		res->er_files++;
		res->er_freed += freed;
	}
}

/* The gauges of /metrics: what each upstream holds after the run. */
static void
evict_publish(struct evict_totals *t)
{
	size_t	 i;

	for (i = 0; i < t->et_nup; i++)
		metrics_cache_bytes_set(t->et_up[i].eu_key,
		    t->et_up[i].eu_after);
	metrics_cache_bytes_set(NULL, t->et_after);
}

int
evict_run(struct config *cf, struct index *ix, struct blobstore *bs,
    struct evict_result *res)
{
	struct evict_upstream	*ups;
	struct evict_totals	 t;
	struct evict_link	*links = NULL;
	struct evict_item	*items = NULL;
	size_t			 nlinks = 0, nitems, i;
	int64_t			 cutoff = (int64_t)time(NULL);

	memset(res, 0, sizeof(*res));
	if (evict_collect(ix, &links, &nlinks) == -1)
		return (-1);
	nitems = evict_group(bs, links, nlinks, &items);
	free(links);
	ups = xcalloc(cf->cf_nupstreams + 1, sizeof(*ups));
	for (i = 0; i < cf->cf_nupstreams; i++) {
		ups[i].eu_key = cf->cf_upstreams[i].up_key;
		ups[i].eu_limit = cf->cf_upstreams[i].up_max_cache_bytes;
	}
	memset(&t, 0, sizeof(t));
	t.et_up = ups;
	t.et_nup = cf->cf_nupstreams;
	t.et_limit = cf->cf_server.srv_cache_max_bytes;
	res->er_items = nitems;
	if (evict_plan(items, nitems, &t) > 0)
		for (i = 0; i < nitems; i++)
			if (items[i].ei_victim)
				evict_victim(ix, bs, &items[i], cutoff, res);
	evict_publish(&t);
	evict_items_free(items, nitems);
	free(ups);
	evict_uncached(ix, bs, res);
	if (res->er_evicted > 0 || res->er_uncached > 0)
		log_info("cache: evicted %llu of %llu cached item%s, removed "
		    "%llu file%s and %llu uncached blob%s, %lld bytes freed",
		    (unsigned long long)res->er_evicted,
		    (unsigned long long)res->er_items, res->er_items == 1 ?
		    "" : "s", (unsigned long long)res->er_files,
		    res->er_files == 1 ? "" : "s",
		    (unsigned long long)res->er_uncached,
		    res->er_uncached == 1 ? "" : "s", (long long)res->er_freed);
	return (0);
}

/* tmp/<alg>-<hex>.uncached. 0 or -1. */
static int
evict_note_path(struct blobstore *bs, const struct digest *d, char *buf,
    size_t len)
{
	char	 ds[DIGEST_STRING_MAX], *colon;

	digest_format(d, ds, sizeof(ds));
	if ((colon = strchr(ds, ':')) != NULL)
		*colon = '-';
	return (path_fmt(buf, len, "%s/%s%s", blobstore_tmpdir(bs), ds,
	    EVICT_NOTE_SUFFIX));
}

void
evict_note_uncached(struct blobstore *bs, const struct digest *d)
{
	char	 path[4096];
	int	 fd;

	if (evict_note_path(bs, d, path, sizeof(path)) == -1)
		return;
	if ((fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0640)) == -1) {
		log_warn("%s: %s", __func__, path);
		return;
	}
	/* An older note is renewed, so that its grace starts again. */
	(void)futimens(fd, NULL);
	close(fd);
}

/* Remove the blobs of the notes older than their grace; then the notes. */
static void
evict_uncached(struct index *ix, struct blobstore *bs,
    struct evict_result *res)
{
	DIR		*dir;
	struct dirent	*de;
	struct digest	 d;
	struct stat	 st;
	char		 name[DIGEST_STRING_MAX + 16], path[4096], *dash;
	size_t		 len, slen = strlen(EVICT_NOTE_SUFFIX);
	int64_t		 now = (int64_t)time(NULL), freed;
	int		 rv;

	if ((dir = opendir(blobstore_tmpdir(bs))) == NULL)
		return;
	while ((de = readdir(dir)) != NULL) {
		len = strlen(de->d_name);
		if (len <= slen || len - slen >= sizeof(name) ||
		    strcmp(de->d_name + len - slen, EVICT_NOTE_SUFFIX) != 0)
			continue;
		memcpy(name, de->d_name, len - slen);
		name[len - slen] = '\0';
		if ((dash = strchr(name, '-')) == NULL)
			continue;
		*dash = ':';
		if (digest_parse(name, &d, NULL) == -1 ||
		    evict_note_path(bs, &d, path, sizeof(path)) == -1 ||
		    stat(path, &st) == -1 || st.st_mtime > now -
		    EVICT_NOTE_GRACE)
			continue;
		rv = gc_remove_digest(ix, bs, &d, now - EVICT_NOTE_GRACE,
		    &freed);
		if (rv == -1)
			continue;
		if (rv == 1) {
			res->er_uncached++;
			res->er_freed += freed;
		}
		(void)unlink(path);
	}
	closedir(dir);
}
