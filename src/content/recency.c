/*
 * recency.c: pull recency. Each GET that serves a blob or a manifest of
 * a repository (hosted or cached) records when that link was last
 * pulled (index_access_touch), the order in which cache eviction
 * (store/evict.c) gives content up. The event loop must not wait for
 * that: a worker remembers, in a small table of its own, which links it
 * recorded in the last RECENCY_GRANULARITY seconds and skips them; the
 * rest is a snapshot read (no lock) and, when the stored time is older
 * than the granularity, one short transaction that writes it and commits
 * without flushing the log.
 */
#include <sys/types.h>

#include <event2/http.h>

#include <stdint.h>
#include <string.h>
#include <time.h>

#include "content/content.h"
#include "http/http.h"
#include "lib/digest.h"
#include "store/index.h"

#define RECENCY_SLOTS	1024	/* per worker; a collision costs a read */

struct recency_slot {
	uint64_t	 rs_hash;
	int64_t		 rs_when;
};

static struct recency_slot recency_slots[RECENCY_SLOTS];

static uint64_t	recency_hash(const char *, const struct digest *);

/* FNV-1a of the repository and the digest's bytes. */
static uint64_t
recency_hash(const char *repo, const struct digest *d)
{
	uint64_t	 h = 14695981039346656037ULL;
	const unsigned char *p;
	size_t		 i;

	for (p = (const unsigned char *)repo; *p != '\0'; p++)
		h = (h ^ *p) * 1099511628211ULL;
	h = (h ^ (unsigned int)d->alg) * 1099511628211ULL;
	p = (const unsigned char *)d->hex;
	for (i = 0; i < sizeof(d->hex) && p[i] != '\0'; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return (h == 0 ? 1 : h);
}

void
content_pull_record(struct index *ix, const char *repo,
    const struct digest *d)
{
	struct recency_slot	*rs;
	uint64_t		 h;
	int64_t			 now = (int64_t)time(NULL), stored;

	h = recency_hash(repo, d);
	rs = &recency_slots[h % RECENCY_SLOTS];
	if (rs->rs_hash == h && rs->rs_when > now - RECENCY_GRANULARITY &&
	    rs->rs_when <= now)
		return;
	/*
	 * Another worker may have written it: a snapshot read takes no
	 * lock, so only a write that is due can meet a conflict. Errors
	 * are logged by the index; a lost touch only ages the entry.
	 */
	if (index_access_get(ix, repo, d, &stored) == -1 ||
	    (stored <= now - RECENCY_GRANULARITY &&
	    index_access_touch(ix, repo, d, now, RECENCY_GRANULARITY) == -1))
		return;
	rs->rs_hash = h;
	rs->rs_when = now;
}

void
content_pulled(struct req *r, const char *repo, const struct digest *d)
{
	if (http_method(r) != EVHTTP_REQ_GET)
		return;
	content_pull_record(http_context(r)->ctx_index, repo, d);
}
