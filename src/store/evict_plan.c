/*
 * evict_plan.c: which cached items to give up (evict.h). No I/O: the
 * items come with their sizes and recency, and the plan only marks them.
 * A digest held through several upstreams is one item per upstream; it
 * counts once in the total, and the total shrinks only when its last
 * item goes.
 */
#include <sys/types.h>

#include <stdlib.h>
#include <string.h>

#include "store/evict.h"
#include "lib/xmalloc.h"

static int	evict_digest_cmp(const void *, const void *);
static int	evict_recency_cmp(const void *, const void *);
static struct evict_upstream *evict_up(struct evict_totals *,
		    const char *);
static int	evict_over(const struct evict_totals *,
		    const struct evict_upstream *);

/* By digest, then upstream: the items of one digest are neighbours. */
static int
evict_digest_cmp(const void *a, const void *b)
{
	const struct evict_item	*x = a, *y = b;
	int			 c;

	if (x->ei_digest.alg != y->ei_digest.alg)
		return (x->ei_digest.alg < y->ei_digest.alg ? -1 : 1);
	if ((c = strcmp(x->ei_digest.hex, y->ei_digest.hex)) != 0)
		return (c);
	return (strcmp(x->ei_upstream, y->ei_upstream));
}

/* Least recent first; ties by upstream and digest, so plans repeat. */
static int
evict_recency_cmp(const void *a, const void *b)
{
	const struct evict_item	*x = *(struct evict_item *const *)a;
	const struct evict_item	*y = *(struct evict_item *const *)b;
	int			 c;

	if (x->ei_recency != y->ei_recency)
		return (x->ei_recency < y->ei_recency ? -1 : 1);
	if ((c = strcmp(x->ei_upstream, y->ei_upstream)) != 0)
		return (c);
	return (strcmp(x->ei_digest.hex, y->ei_digest.hex));
}

static struct evict_upstream *
evict_up(struct evict_totals *t, const char *key)
{
	size_t	 i;

	for (i = 0; i < t->et_nup; i++)
		if (strcmp(t->et_up[i].eu_key, key) == 0)
			return (&t->et_up[i]);
	return (NULL);
}

/* Is the item's upstream, or the whole cache, over its limit? */
static int
evict_over(const struct evict_totals *t, const struct evict_upstream *eu)
{
	if (eu != NULL && eu->eu_limit > 0 &&
	    eu->eu_after > (uint64_t)eu->eu_limit)
		return (1);
	return (t->et_limit > 0 && t->et_after > (uint64_t)t->et_limit);
}

size_t
evict_plan(struct evict_item *items, size_t n, struct evict_totals *t)
{
	struct evict_item	**order, *it;
	struct evict_upstream	*eu;
	size_t			*refs, *group, ngroups = 0, i, g, victims = 0;

	for (i = 0; i < t->et_nup; i++) {
		t->et_up[i].eu_bytes = t->et_up[i].eu_after = 0;
		t->et_up[i].eu_victims = t->et_up[i].eu_victim_bytes = 0;
	}
	t->et_bytes = t->et_after = 0;
	if (n == 0)
		return (0);
	qsort(items, n, sizeof(*items), evict_digest_cmp);
	refs = xcalloc(n, sizeof(*refs));
	group = xcalloc(n, sizeof(*group));
	order = xcalloc(n, sizeof(*order));
	for (i = 0; i < n; i++) {
		items[i].ei_victim = 0;
		if (i == 0 || !digest_equal(&items[i - 1].ei_digest,
		    &items[i].ei_digest)) {
			ngroups++;
			t->et_bytes += (uint64_t)items[i].ei_size;
		}
		group[i] = ngroups - 1;
		refs[ngroups - 1]++;
		if ((eu = evict_up(t, items[i].ei_upstream)) != NULL)
			eu->eu_bytes += (uint64_t)items[i].ei_size;
		order[i] = &items[i];
	}
	for (i = 0; i < t->et_nup; i++)
		t->et_up[i].eu_after = t->et_up[i].eu_bytes;
	t->et_after = t->et_bytes;
	qsort(order, n, sizeof(*order), evict_recency_cmp);
	for (i = 0; i < n; i++) {
		it = order[i];
		g = group[it - items];
		eu = evict_up(t, it->ei_upstream);
		if (!evict_over(t, eu))
			continue;
		it->ei_victim = 1;
		victims++;
		if (eu != NULL) {
			eu->eu_after -= (uint64_t)it->ei_size;
			eu->eu_victims++;
			eu->eu_victim_bytes += (uint64_t)it->ei_size;
		}
		if (--refs[g] == 0)
			t->et_after -= (uint64_t)it->ei_size;
	}
	free(order);
	free(group);
	free(refs);
	return (victims);
}
