/*
 * evict_test.c: unit tests for cache limits: the pull recency table
 * (access.db: a touch writes only past the granularity, reads back,
 * deletes, goes with a registry purge), the order of victims chosen by
 * evict_plan (least recently pulled first, per upstream and in total, a
 * digest held through two upstreams counted once), and the low-space
 * guard's threshold, and the removal of one cached link
 * (index_cache_evict: only the upstream's own and untouched links, never
 * a manifest a pushed tag points at, cached tags with it), and a whole
 * run (evict_run) on a small store: the least recent items go, a blob
 * also pushed stays, and a blob noted by a fill that did not cache is
 * removed once its note is old enough.
 */
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>

#include <check.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/digest.h"
#include "conf/config.h"
#include "lib/log.h"
#include "store/blobstore.h"
#include "store/evict.h"
#include "store/index.h"
#include "store/space.h"
#include "check_main.h"

static char	 tmpdir[4096];

static int	 rm_entry(const char *, const struct stat *, int,
		    struct FTW *);
static void	 tmpdir_setup(void);
static void	 tmpdir_teardown(void);
static void	 digest_of(const char *, struct digest *);
static void	 item(struct evict_item *, const char *, const char *,
		    int64_t, int64_t);
static int	 victim(struct evict_item *, size_t, const char *,
		    const char *);
static void	 blob_store(struct blobstore *, int, size_t, struct digest *);
static int	 has_tag(struct index *, const char *, const char *);
static void	 tag_put(struct index *, const char *, const char *,
		    const struct digest *, const char *);

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return (remove(path));
}

static void
tmpdir_setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "%s/evict_test.XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void
tmpdir_teardown(void)
{
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A digest made from a short name, so tests read well. */
static void
digest_of(const char *name, struct digest *d)
{
	digest_buffer(DIGEST_SHA256, name, strlen(name), d);
}

static void
item(struct evict_item *it, const char *up, const char *name, int64_t size,
    int64_t recency)
{
	memset(it, 0, sizeof(*it));
	snprintf(it->ei_upstream, sizeof(it->ei_upstream), "%s", up);
	digest_of(name, &it->ei_digest);
	it->ei_size = size;
	it->ei_recency = recency;
}

/* Is the item (up, name) a victim? */
static int
victim(struct evict_item *items, size_t n, const char *up, const char *name)
{
	struct digest	 d;
	size_t		 i;

	digest_of(name, &d);
	for (i = 0; i < n; i++)
		if (strcmp(items[i].ei_upstream, up) == 0 &&
		    digest_equal(&items[i].ei_digest, &d))
			return (items[i].ei_victim);
	ck_abort_msg("no item %s %s", up, name);
	return (-1);
}

START_TEST(test_plan_lru)
{
	struct evict_item	 items[3];
	struct evict_upstream	 up[1] = { { "hub", 25, 0, 0, 0, 0 } };
	struct evict_totals	 t = { up, 1, 0, 0, 0 };

	/* Given in another order than their recency. */
	item(&items[0], "hub", "b", 10, 200);
	item(&items[1], "hub", "c", 10, 300);
	item(&items[2], "hub", "a", 10, 100);
	ck_assert_uint_eq(evict_plan(items, 3, &t), 1);
	ck_assert_int_eq(victim(items, 3, "hub", "a"), 1);
	ck_assert_int_eq(victim(items, 3, "hub", "b"), 0);
	ck_assert_int_eq(victim(items, 3, "hub", "c"), 0);
	ck_assert_uint_eq(up[0].eu_bytes, 30);
	ck_assert_uint_eq(up[0].eu_after, 20);
	ck_assert_uint_eq(up[0].eu_victims, 1);
	ck_assert_uint_eq(up[0].eu_victim_bytes, 10);

	/* A pull of a makes b the least recent. */
	item(&items[0], "hub", "a", 10, 400);
	item(&items[1], "hub", "b", 10, 200);
	item(&items[2], "hub", "c", 10, 300);
	ck_assert_uint_eq(evict_plan(items, 3, &t), 1);
	ck_assert_int_eq(victim(items, 3, "hub", "b"), 1);
	ck_assert_int_eq(victim(items, 3, "hub", "a"), 0);

	/* Under the limit, or without one: nothing. */
	up[0].eu_limit = 30;
	ck_assert_uint_eq(evict_plan(items, 3, &t), 0);
	up[0].eu_limit = 0;
	ck_assert_uint_eq(evict_plan(items, 3, &t), 0);
	ck_assert_uint_eq(evict_plan(items, 0, &t), 0);
}
END_TEST

START_TEST(test_plan_per_upstream)
{
	struct evict_item	 items[4];
	struct evict_upstream	 up[2] = { { "hub", 15, 0, 0, 0, 0 },
	    { "quay", 0, 0, 0, 0, 0 } };
	struct evict_totals	 t = { up, 2, 0, 0, 0 };

	/* Only hub is limited: quay's older items stay. */
	item(&items[0], "quay", "q1", 10, 10);
	item(&items[1], "quay", "q2", 10, 20);
	item(&items[2], "hub", "h1", 10, 30);
	item(&items[3], "hub", "h2", 10, 40);
	ck_assert_uint_eq(evict_plan(items, 4, &t), 1);
	ck_assert_int_eq(victim(items, 4, "hub", "h1"), 1);
	ck_assert_int_eq(victim(items, 4, "quay", "q1"), 0);
	ck_assert_uint_eq(t.et_bytes, 40);
	ck_assert_uint_eq(t.et_after, 30);
}
END_TEST

START_TEST(test_plan_shared_digest)
{
	struct evict_item	 items[3];
	struct evict_upstream	 up[2] = { { "hub", 0, 0, 0, 0, 0 },
	    { "quay", 0, 0, 0, 0, 0 } };
	struct evict_totals	 t = { up, 2, 15, 0, 0 };

	/* "s" through both upstreams counts once in the total. */
	item(&items[0], "hub", "s", 10, 10);
	item(&items[1], "quay", "s", 10, 50);
	item(&items[2], "hub", "x", 10, 30);
	ck_assert_uint_eq(evict_plan(items, 3, &t), 2);
	ck_assert_uint_eq(t.et_bytes, 20);
	ck_assert_uint_eq(up[0].eu_bytes, 20);
	ck_assert_uint_eq(up[1].eu_bytes, 10);
	/*
	 * hub's "s" goes first but frees nothing while quay keeps it; then
	 * "x" goes, and the total is under the limit.
	 */
	ck_assert_int_eq(victim(items, 3, "hub", "s"), 1);
	ck_assert_int_eq(victim(items, 3, "hub", "x"), 1);
	ck_assert_int_eq(victim(items, 3, "quay", "s"), 0);
	ck_assert_uint_eq(t.et_after, 10);
}
END_TEST

START_TEST(test_access_table)
{
	struct index	*ix;
	struct digest	 d, e;
	char		 dbdir[4200], *cause = NULL;
	int64_t		 when;

	tmpdir_setup();
	snprintf(dbdir, sizeof(dbdir), "%s/db", tmpdir);
	ix = index_open(dbdir, INDEX_MASTER, NULL, &cause);
	ck_assert_msg(ix != NULL, "%s", cause != NULL ? cause : "");
	digest_of("layer", &d);
	digest_of("other", &e);

	ck_assert_int_eq(index_access_get(ix, "hub/app", &d, &when), 0);
	ck_assert_int_eq(when, 0);
	ck_assert_int_eq(index_access_touch(ix, "hub/app", &d, 1000, 60), 1);
	ck_assert_int_eq(index_access_get(ix, "hub/app", &d, &when), 1);
	ck_assert_int_eq(when, 1000);
	/* Within the granularity: not written again. */
	ck_assert_int_eq(index_access_touch(ix, "hub/app", &d, 1059, 60), 0);
	ck_assert_int_eq(index_access_get(ix, "hub/app", &d, &when), 1);
	ck_assert_int_eq(when, 1000);
	ck_assert_int_eq(index_access_touch(ix, "hub/app", &d, 1060, 60), 1);
	ck_assert_int_eq(index_access_get(ix, "hub/app", &d, &when), 1);
	ck_assert_int_eq(when, 1060);
	/* Per repository and digest. */
	ck_assert_int_eq(index_access_get(ix, "hub/other", &d, NULL), 0);
	ck_assert_int_eq(index_access_get(ix, "hub/app", &e, NULL), 0);
	/* Bad input is refused, not stored. */
	ck_assert_int_eq(index_access_touch(ix, "", &d, 1, 60), -1);

	ck_assert_int_eq(index_access_delete(ix, "hub/app", &d), 1);
	ck_assert_int_eq(index_access_delete(ix, "hub/app", &d), 0);
	ck_assert_int_eq(index_access_get(ix, "hub/app", &d, NULL), 0);

	/* A registry purge takes the records of its repositories. */
	ck_assert_int_eq(index_access_touch(ix, "hub/app", &d, 5, 60), 1);
	ck_assert_int_eq(index_access_touch(ix, "quay/app", &d, 5, 60), 1);
	ck_assert_int_ge(index_registry_purge(ix, "hub"), 0);
	ck_assert_int_eq(index_access_get(ix, "hub/app", &d, NULL), 0);
	ck_assert_int_eq(index_access_get(ix, "quay/app", &d, NULL), 1);

	/* Kept across a reopen. */
	index_close(ix);
	ix = index_open(dbdir, INDEX_MASTER, NULL, &cause);
	ck_assert_ptr_nonnull(ix);
	ck_assert_int_eq(index_access_get(ix, "quay/app", &d, &when), 1);
	ck_assert_int_eq(when, 5);
	index_close(ix);
	tmpdir_teardown();
}
END_TEST

/* A tag of repo pointing at d, cached through upstream ("" pushed). */
static void
tag_put(struct index *ix, const char *repo, const char *tag,
    const struct digest *d, const char *upstream)
{
	struct index_tag	 t;

	memset(&t, 0, sizeof(t));
	t.it_digest = *d;
	snprintf(t.it_media_type, sizeof(t.it_media_type), "%s",
	    "application/vnd.oci.image.manifest.v1+json");
	t.it_fetched_at = 1;
	snprintf(t.it_upstream, sizeof(t.it_upstream), "%s", upstream);
	ck_assert_int_eq(index_tag_put(ix, repo, tag, &t), 0);
}

/* 1 when repo has the tag. */
static int
has_tag(struct index *ix, const char *repo, const char *tag)
{
	struct index_tag	 t;

	return (index_tag_get(ix, repo, tag, &t));
}

START_TEST(test_cache_evict)
{
	struct index	*ix;
	struct digest	 blob, man, pushed;
	char		 dbdir[4200], *cause = NULL;
	int64_t		 future = (int64_t)time(NULL) + 3600;

	tmpdir_setup();
	snprintf(dbdir, sizeof(dbdir), "%s/db", tmpdir);
	ix = index_open(dbdir, INDEX_MASTER, NULL, &cause);
	ck_assert_msg(ix != NULL, "%s", cause != NULL ? cause : "");
	digest_of("blob", &blob);
	digest_of("manifest", &man);
	digest_of("pushed", &pushed);

	/* A blob cached through hub. */
	ck_assert_int_eq(index_link_put(ix, "p/app", &blob, INDEX_LINK_BLOB,
	    "hub"), 0);
	ck_assert_int_eq(index_access_touch(ix, "p/app", &blob, 5, 60), 1);
	/* Not hub's, or touched after the cutoff: kept. */
	ck_assert_int_eq(index_cache_evict(ix, "p/app", &blob, "quay",
	    future), 0);
	ck_assert_int_eq(index_cache_evict(ix, "p/app", &blob, "hub", 0), 0);
	ck_assert_int_eq(index_link_get(ix, "p/app", &blob, NULL), 1);
	/* Pushed content is never evicted. */
	ck_assert_int_eq(index_cache_evict(ix, "p/app", &blob, "", future),
	    -1);
	ck_assert_int_eq(index_cache_evict(ix, "p/app", &blob, "hub",
	    future), 1);
	ck_assert_int_eq(index_link_get(ix, "p/app", &blob, NULL), 0);
	ck_assert_int_eq(index_access_get(ix, "p/app", &blob, NULL), 0);
	ck_assert_int_eq(index_cache_evict(ix, "p/app", &blob, "hub",
	    future), 0);

	/* A cached manifest goes with its cached tags. */
	ck_assert_int_eq(index_link_put(ix, "p/app", &man,
	    INDEX_LINK_MANIFEST, "hub"), 0);
	tag_put(ix, "p/app", "1", &man, "hub");
	tag_put(ix, "p/app", "latest", &man, "hub");
	tag_put(ix, "p/app", "other", &pushed, "hub");
	ck_assert_int_eq(index_cache_evict(ix, "p/app", &man, "hub",
	    future), 1);
	ck_assert_int_eq(has_tag(ix, "p/app", "1"), 0);
	ck_assert_int_eq(has_tag(ix, "p/app", "latest"), 0);
	ck_assert_int_eq(has_tag(ix, "p/app", "other"), 1);

	/* One a pushed tag points at stays, and so do its tags. */
	ck_assert_int_eq(index_link_put(ix, "p/app", &man,
	    INDEX_LINK_MANIFEST, "hub"), 0);
	tag_put(ix, "p/app", "1", &man, "hub");
	tag_put(ix, "p/app", "mine", &man, "");
	ck_assert_int_eq(index_cache_evict(ix, "p/app", &man, "hub",
	    future), 0);
	ck_assert_int_eq(index_link_get(ix, "p/app", &man, NULL), 1);
	ck_assert_int_eq(has_tag(ix, "p/app", "1"), 1);

	index_close(ix);
	tmpdir_teardown();
}
END_TEST

/* Store size bytes of c as a blob, a day old; its digest in *d. */
static void
blob_store(struct blobstore *bs, int c, size_t size, struct digest *d)
{
	struct blob_writer	*w;
	struct timeval		 old[2];
	char			 buf[4096], path[4096], *cause = NULL;

	ck_assert_uint_le(size, sizeof(buf));
	memset(buf, c, size);
	ck_assert_ptr_nonnull(w = blob_writer_create(bs, DIGEST_SHA256,
	    &cause));
	ck_assert_int_eq(blob_writer_write(w, buf, size), 0);
	ck_assert_int_eq(blob_writer_commit(w, NULL, d, &cause), 0);
	ck_assert_int_eq(blobstore_path(bs, d, path, sizeof(path)), 0);
	old[0].tv_sec = old[1].tv_sec = time(NULL) - 86400;
	old[0].tv_usec = old[1].tv_usec = 0;
	ck_assert_int_eq(utimes(path, old), 0);
}

START_TEST(test_evict_run)
{
	struct config		 cf;
	struct config_upstream	 up;
	struct evict_result	 res;
	struct index		*ix;
	struct blobstore	*bs;
	struct digest		 a, b, c, sh, un;
	struct timeval		 old[2];
	char			 dbdir[4200], note[4200], *cause = NULL;
	int64_t			 now = (int64_t)time(NULL);

	tmpdir_setup();
	snprintf(dbdir, sizeof(dbdir), "%s/db", tmpdir);
	ix = index_open(dbdir, INDEX_MASTER, NULL, &cause);
	ck_assert_msg(ix != NULL, "%s", cause != NULL ? cause : "");
	bs = blobstore_open(tmpdir, &cause);
	ck_assert_msg(bs != NULL, "%s", cause != NULL ? cause : "");
	blob_store(bs, 'a', 1000, &a);
	blob_store(bs, 'b', 1000, &b);
	blob_store(bs, 'c', 1000, &c);
	blob_store(bs, 's', 1000, &sh);
	blob_store(bs, 'u', 1000, &un);
	/* Cached through hub: a and sh pulled first, then b, then c. */
	ck_assert_int_eq(index_link_put(ix, "p/a", &a, INDEX_LINK_BLOB,
	    "hub"), 0);
	ck_assert_int_eq(index_link_put(ix, "p/a", &sh, INDEX_LINK_BLOB,
	    "hub"), 0);
	ck_assert_int_eq(index_link_put(ix, "p/b", &b, INDEX_LINK_BLOB,
	    "hub"), 0);
	ck_assert_int_eq(index_link_put(ix, "p/c", &c, INDEX_LINK_BLOB,
	    "hub"), 0);
	/* Later than the links' own times, so that the pulls decide. */
	ck_assert_int_eq(index_access_touch(ix, "p/a", &a, now + 100, 60), 1);
	ck_assert_int_eq(index_access_touch(ix, "p/a", &sh, now + 100, 60),
	    1);
	ck_assert_int_eq(index_access_touch(ix, "p/b", &b, now + 200, 60), 1);
	ck_assert_int_eq(index_access_touch(ix, "p/c", &c, now + 300, 60), 1);
	/* sh is pushed too. */
	ck_assert_int_eq(index_link_put(ix, "local/x", &sh, INDEX_LINK_BLOB,
	    NULL), 0);

	memset(&cf, 0, sizeof(cf));
	memset(&up, 0, sizeof(up));
	up.up_key = "hub";
	up.up_max_cache_bytes = 2000;
	cf.cf_upstreams = &up;
	cf.cf_nupstreams = 1;
	ck_assert_int_eq(evict_run(&cf, ix, bs, &res), 0);
	ck_assert_uint_eq(res.er_items, 4);
	ck_assert_uint_eq(res.er_evicted, 2);
	ck_assert_uint_eq(res.er_files, 1);
	ck_assert_int_eq(res.er_freed, 1000);
	ck_assert_int_eq(blobstore_stat(bs, &a, NULL), 0);
	ck_assert_int_eq(index_link_get(ix, "p/a", &a, NULL), 0);
	ck_assert_int_eq(blobstore_stat(bs, &sh, NULL), 1);
	ck_assert_int_eq(index_link_get(ix, "p/a", &sh, NULL), 0);
	ck_assert_int_eq(index_link_get(ix, "local/x", &sh, NULL), 1);
	ck_assert_int_eq(blobstore_stat(bs, &b, NULL), 1);
	ck_assert_int_eq(blobstore_stat(bs, &c, NULL), 1);
	/* Under the limit now: a second run evicts nothing. */
	ck_assert_int_eq(evict_run(&cf, ix, bs, &res), 0);
	ck_assert_uint_eq(res.er_evicted, 0);

	/* A blob a fill did not cache: kept while its note is young. */
	evict_note_uncached(bs, &un);
	ck_assert_int_eq(evict_run(&cf, ix, bs, &res), 0);
	ck_assert_uint_eq(res.er_uncached, 0);
	ck_assert_int_eq(blobstore_stat(bs, &un, NULL), 1);
	snprintf(note, sizeof(note), "%s/sha256-%s.uncached",
	    blobstore_tmpdir(bs), un.hex);
	old[0].tv_sec = old[1].tv_sec = time(NULL) - 3600;
	old[0].tv_usec = old[1].tv_usec = 0;
	ck_assert_int_eq(utimes(note, old), 0);
	ck_assert_int_eq(evict_run(&cf, ix, bs, &res), 0);
	ck_assert_uint_eq(res.er_uncached, 1);
	ck_assert_int_eq(blobstore_stat(bs, &un, NULL), 0);
	ck_assert_int_eq(access(note, F_OK), -1);

	blobstore_free(bs);
	index_close(ix);
	tmpdir_teardown();
}
END_TEST

START_TEST(test_space_low)
{
	ck_assert_int_eq(space_low("/", 0), 0);
	space_forget();
	ck_assert_int_eq(space_low("/", LLONG_MAX), 1);
	ck_assert_int_ge(space_free_bytes(), 0);
	space_forget();
	ck_assert_int_eq(space_low("/", 1), 0);
	/* A directory that cannot be read is not "low". */
	space_forget();
	ck_assert_int_eq(space_low("/nonexistent/depot", LLONG_MAX), 0);
}
END_TEST

static Suite *
evict_suite(void)
{
	Suite	*s = suite_create("evict");
	TCase	*tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_plan_lru);
	tcase_add_test(tc, test_plan_per_upstream);
	tcase_add_test(tc, test_plan_shared_digest);
	tcase_add_test(tc, test_access_table);
	tcase_add_test(tc, test_cache_evict);
	tcase_add_test(tc, test_evict_run);
	tcase_add_test(tc, test_space_low);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	log_init(1, NULL, getenv("EVICT_TEST_VERBOSE") != NULL ?
	    LOG_DEBUG : LOG_CRIT);
	log_procname("test");
	return (check_run(evict_suite()));
}
