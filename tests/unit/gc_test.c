/*
 * gc_test.c: unit tests of the garbage collection on a real index and
 * blob directory: the links' touched/upstream fields and their reverse
 * table, the mark (tags, index children, referrers, charts, uploads,
 * untagged manifests) and the sweep (dry run, grace), and the race of a
 * manifest PUT with the sweep, decided both ways by the order of their
 * transactions.
 */
#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <check.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/digest.h"
#include "lib/log.h"
#include "lib/manifest.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "store/blobstore.h"
#include "store/gc.h"
#include "store/index.h"
#include "store/index_helm.h"
#include "check_main.h"

#define REPO	"reg/app"

/* Test hook of index_record.c. */
int	index_test_put_raw(struct index *, const char *, const void *,
	    size_t, const void *, size_t);
int	index_test_del_raw(struct index *, const char *, const void *,
	    size_t);

static char		 test_root[PATH_MAX];
static char		 test_dir[PATH_MAX];
static struct index	*ix;
static struct blobstore	*bs;

/* The store every mark/sweep test builds. */
struct world {
	struct digest	 c1, c2, l1, l2, l3;	/* configs, layers */
	struct digest	 ma, mb;	/* a = c1 l1, b = c2 l1 l2 */
	struct digest	 child, mi;	/* an index of child (c1 l3) */
	struct digest	 sig;		/* a referrer of ma */
	struct digest	 chart, up;	/* a chart's, an upload's */
	struct digest	 orphan;	/* linked nowhere */
};

static int	rm_cb(const char *, const struct stat *, int, struct FTW *);
static void	setup(void);
static void	teardown(void);
static void	blob(const char *, struct digest *);
static char	*desc(const char *, const struct digest *);
static void	manifest(const char *, struct digest *, const char *, ...);
static void	record(const char *, const struct digest *, const char *,
		    const struct digest *);
static void	build(struct world *);
static int	stored(const struct digest *);
static void	run(const struct gc_options *, struct gc_result *);

static int
rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	(void)remove(path);
	return (0);
}

static void
setup(void)
{
	static int	 n;
	char		 db[PATH_MAX], *cause = NULL;

	/* Tests may run in forked children: the pid tells them apart. */
	ck_assert_int_eq(path_fmt(test_dir, sizeof(test_dir), "%s/t%ld-%d",
	    test_root, (long)getpid(), n++), 0);
	ck_assert_int_eq(mkdir(test_dir, 0700), 0);
	ck_assert_int_eq(path_fmt(db, sizeof(db), "%s/db", test_dir), 0);
	ix = index_open(db, INDEX_MASTER, NULL, &cause);
	ck_assert_msg(ix != NULL, "index_open: %s", cause);
	bs = blobstore_open(test_dir, &cause);
	ck_assert_msg(bs != NULL, "blobstore_open: %s", cause);
}

static void
teardown(void)
{
	index_close(ix);
	blobstore_free(bs);
	ix = NULL;
	bs = NULL;
}

/* Store text as a blob. */
static void
blob(const char *text, struct digest *d)
{
	struct blob_writer	*w;
	char			*cause = NULL;

	w = blob_writer_create(bs, DIGEST_SHA256, &cause);
	ck_assert_ptr_nonnull(w);
	ck_assert_int_eq(blob_writer_write(w, text, strlen(text)), 0);
	ck_assert_int_eq(blob_writer_commit(w, NULL, d, &cause), 0);
}

/* A descriptor of d (stored) with media type mt. Caller frees. */
static char *
desc(const char *mt, const struct digest *d)
{
	char	 ds[DIGEST_STRING_MAX], *s;
	off_t	 size;

	ck_assert_int_eq(blobstore_stat(bs, d, &size), 1);
	digest_format(d, ds, sizeof(ds));
	xasprintf(&s, "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%lld}",
	    mt, ds, (long long)size);
	return (s);
}

/*
 * Store a manifest: kind "image" (config, then layers, NULL ended),
 * "index" (children, NULL ended) or "sig" (subject).
 */
static void
manifest(const char *kind, struct digest *out, const char *extra, ...)
{
	va_list			 ap;
	const struct digest	*d;
	char			*body, *list = xstrdup(""), *one, *grown;
	char			*config = NULL;
	int			 first = 1;

	va_start(ap, extra);
	while ((d = va_arg(ap, const struct digest *)) != NULL) {
		if (strcmp(kind, "index") == 0)
			one = desc(MT_OCI_MANIFEST, d);
		else if (config == NULL) {
			config = desc(
			    "application/vnd.oci.image.config.v1+json", d);
			continue;
		} else
			one = desc("application/vnd.oci.image.layer.v1.tar", d);
		xasprintf(&grown, "%s%s%s", list, first ? "" : ",", one);
		free(one);
		free(list);
		list = grown;
		first = 0;
	}
	va_end(ap);
	if (strcmp(kind, "index") == 0)
		xasprintf(&body, "{\"schemaVersion\":2,\"mediaType\":\"%s\","
		    "\"manifests\":[%s]}", MT_OCI_INDEX, list);
	else
		xasprintf(&body, "{\"schemaVersion\":2,\"mediaType\":\"%s\","
		    "\"config\":%s,\"layers\":[%s]%s}", MT_OCI_MANIFEST,
		    config, list, extra != NULL ? extra : "");
	blob(body, out);
	free(body);
	free(list);
	free(config);
}

/* Link d's references and record it in REPO (tag may be NULL). */
static void
record(const char *repo, const struct digest *d, const char *tag,
    const struct digest *subject)
{
	struct index_manifest	 im;
	struct index_tag	 t;
	struct manifest_info	 mi;
	char			 path[PATH_MAX], *cause = NULL, *buf;
	FILE			*f;
	long			 len;
	size_t			 i;

	ck_assert_int_eq(blobstore_path(bs, d, path, sizeof(path)), 0);
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	buf = xmalloc((size_t)len);
	ck_assert_int_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	ck_assert_int_eq(manifest_parse(buf, (size_t)len, NULL, &mi, &cause),
	    0);
	free(buf);
	for (i = 0; i < mi.mi_nrefs; i++)
		if (!mi.mi_refs[i].mr_is_manifest)
			ck_assert_int_eq(index_link_put(ix, repo,
			    &mi.mi_refs[i].mr_digest, INDEX_LINK_BLOB, NULL),
			    0);
	memset(&im, 0, sizeof(im));
	snprintf(im.im_media_type, sizeof(im.im_media_type), "%s",
	    mi.mi_media_type);
	im.im_size = len;
	if (subject != NULL) {
		im.im_has_subject = 1;
		im.im_subject = *subject;
	}
	memset(&t, 0, sizeof(t));
	t.it_fetched_at = time(NULL);
	ck_assert_int_eq(index_manifest_commit_refs(ix, repo, d, &im, tag,
	    tag != NULL ? &t : NULL, NULL, mi.mi_refs, mi.mi_nrefs, NULL), 1);
	manifest_info_clear(&mi);
}

static void
build(struct world *w)
{
	struct index_helm_chart	 c, old;
	struct index_upload	 u;
	char			 sig[256], ds[DIGEST_STRING_MAX];
	int64_t			 gen;

	blob("config one", &w->c1);
	blob("config two", &w->c2);
	blob("layer one, shared", &w->l1);
	blob("layer two, of b alone", &w->l2);
	blob("layer three, of the child", &w->l3);
	manifest("image", &w->ma, NULL, &w->c1, &w->l1, NULL);
	manifest("image", &w->mb, NULL, &w->c2, &w->l1, &w->l2, NULL);
	manifest("image", &w->child, NULL, &w->c1, &w->l3, NULL);
	record(REPO, &w->ma, "a", NULL);
	record(REPO, &w->mb, "b", NULL);
	record(REPO, &w->child, NULL, NULL);
	manifest("index", &w->mi, NULL, &w->child, NULL);
	record(REPO, &w->mi, "multi", NULL);
	digest_format(&w->ma, ds, sizeof(ds));
	snprintf(sig, sizeof(sig), ",\"subject\":{\"mediaType\":\"%s\","
	    "\"digest\":\"%s\",\"size\":1}", MT_OCI_MANIFEST, ds);
	manifest("image", &w->sig, sig, &w->c2, NULL);
	record(REPO, &w->sig, NULL, &w->ma);

	/* A hosted chart: its blob has no link. */
	blob("a chart archive", &w->chart);
	memset(&c, 0, sizeof(c));
	snprintf(c.ihc_name, sizeof(c.ihc_name), "mychart");
	snprintf(c.ihc_version, sizeof(c.ihc_version), "1.0.0");
	memcpy(c.ihc_digest, w->chart.hex, sizeof(c.ihc_digest) - 1);
	c.ihc_size = 15;
	c.ihc_entry = (char *)"{}";
	c.ihc_yaml = (char *)"name: mychart\n";
	ck_assert_int_eq(index_helm_put(ix, "charts", &c, 0, &old, &gen), 1);
	index_helm_chart_clear(&old);

	/* A push in progress into reg/up: its first blob is linked. */
	blob("a blob of a push in progress", &w->up);
	ck_assert_int_eq(index_link_put(ix, "reg/up", &w->up, INDEX_LINK_BLOB,
	    NULL), 0);
	memset(&u, 0, sizeof(u));
	snprintf(u.iu_repo, sizeof(u.iu_repo), "reg/up");
	u.iu_started = u.iu_updated = time(NULL);
	ck_assert_int_eq(index_upload_put(ix, "u1", &u), 0);

	blob("nobody's", &w->orphan);
}

static int
stored(const struct digest *d)
{
	return (blobstore_stat(bs, d, NULL));
}

static void
run(const struct gc_options *o, struct gc_result *r)
{
	char	*cause = NULL;

	ck_assert_msg(gc_run(ix, bs, o, r, &cause) == 0, "gc_run: %s",
	    cause);
}

START_TEST(test_link_fields)
{
	struct index_link_info	 li;
	struct digest		 d;
	char			**repos, key[128], ds[DIGEST_STRING_MAX];
	const unsigned char	 old[] = { 1, INDEX_LINK_BLOB };
	size_t			 n;
	int64_t			 now = time(NULL);

	blob("some bytes", &d);
	ck_assert_int_eq(index_digest_linked(ix, &d), 0);
	ck_assert_int_eq(index_link_put(ix, "up/img", &d, INDEX_LINK_BLOB,
	    "dockerhub"), 0);
	ck_assert_int_eq(index_link_put(ix, "reg/img", &d, INDEX_LINK_BLOB,
	    NULL), 0);
	ck_assert_int_eq(index_link_stat(ix, "up/img", &d, &li), 1);
	ck_assert_int_eq(li.ili_kind, INDEX_LINK_BLOB);
	ck_assert_str_eq(li.ili_upstream, "dockerhub");
	ck_assert(li.ili_touched >= now && li.ili_touched <= now + 60);
	ck_assert_int_eq(index_link_stat(ix, "reg/img", &d, &li), 1);
	ck_assert_str_eq(li.ili_upstream, "");
	ck_assert_int_eq(index_digest_linked(ix, &d), 1);
	ck_assert_int_eq(index_digest_repos(ix, &d, &repos, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(repos[0], "reg/img");
	ck_assert_str_eq(repos[1], "up/img");
	index_strings_free(repos, n);

	/* A value of the first version reads as old and pushed. */
	digest_format(&d, ds, sizeof(ds));
	n = (size_t)snprintf(key, sizeof(key), "reg/img%c%s", '\0', ds);
	ck_assert_int_eq(index_test_put_raw(ix, "links.db", key, n, old,
	    sizeof(old)), 0);
	ck_assert_int_eq(index_link_stat(ix, "reg/img", &d, &li), 1);
	ck_assert_int_eq(li.ili_touched, 0);
	ck_assert_str_eq(li.ili_upstream, "");
	ck_assert_int_eq(index_link_touch(ix, "reg/img", &d, now), 1);
	ck_assert_int_eq(index_link_stat(ix, "reg/img", &d, &li), 1);
	ck_assert(li.ili_touched >= now);

	/* Deletes take the reverse entries with them. */
	ck_assert_int_eq(index_link_delete(ix, "reg/img", &d), 1);
	ck_assert_int_eq(index_digest_linked(ix, &d), 1);
	ck_assert_int_eq(index_registry_purge(ix, "up"), 1);
	ck_assert_int_eq(index_digest_linked(ix, &d), 0);
	ck_assert_int_eq(gc_remove_digest(ix, bs, &d, now + 60, NULL), 1);
	ck_assert_int_eq(stored(&d), 0);
}
END_TEST

/*
 * A store of schema 1 (links without touched, no digests.db) is
 * upgraded when the master opens it: the reverse table is built.
 */
START_TEST(test_upgrade)
{
	struct index_link_info	 li;
	struct digest		 d;
	const unsigned char	 v1[] = { 0, 0, 0, 1 };
	const unsigned char	 old[] = { 1, INDEX_LINK_BLOB };
	char			 key[128], ds[DIGEST_STRING_MAX];
	char			 db[PATH_MAX], *cause = NULL;
	size_t			 n;

	blob("stored by an older depot", &d);
	digest_format(&d, ds, sizeof(ds));
	n = (size_t)snprintf(key, sizeof(key), "old/img%c%s", '\0', ds);
	ck_assert_int_eq(index_test_put_raw(ix, "links.db", key, n, old,
	    sizeof(old)), 0);
	ck_assert_int_eq(index_test_put_raw(ix, "meta.db", "schema", 6, v1,
	    sizeof(v1)), 0);
	ck_assert_int_eq(index_test_del_raw(ix, "meta.db", "digests.db",
	    10), 1);
	ck_assert_int_eq(index_digest_linked(ix, &d), 0);
	index_close(ix);

	ck_assert_int_eq(path_fmt(db, sizeof(db), "%s/db", test_dir), 0);
	ix = index_open(db, INDEX_MASTER, NULL, &cause);
	ck_assert_msg(ix != NULL, "index_open: %s", cause);
	ck_assert_int_eq(index_digest_linked(ix, &d), 1);
	ck_assert_int_eq(index_link_stat(ix, "old/img", &d, &li), 1);
	ck_assert_int_eq(li.ili_touched, 0);
	ck_assert_int_eq(gc_remove_digest(ix, bs, &d, time(NULL) + 60, NULL),
	    0);
	ck_assert_int_eq(stored(&d), 1);
}
END_TEST

START_TEST(test_mark_sweep)
{
	struct world		 w;
	struct gc_options	 o;
	struct gc_result	 r, dry;
	struct index_manifest	 im;

	build(&w);
	memset(&o, 0, sizeof(o));

	/* Within the grace, nothing goes. */
	o.go_grace = 3600;
	run(&o, &r);
	ck_assert_uint_eq(r.gr_links + r.gr_blobs, 0);
	ck_assert_int_eq(stored(&w.orphan), 1);

	/* Tag b goes: b is still kept, untagged, by default. */
	ck_assert_int_eq(index_tag_delete(ix, REPO, "b"), 1);
	o.go_grace = 0;
	run(&o, &r);
	ck_assert_uint_eq(r.gr_links, 0);
	ck_assert_uint_eq(r.gr_blobs, 1);	/* the orphan alone */
	ck_assert_int_eq(stored(&w.orphan), 0);
	ck_assert_int_eq(stored(&w.mb), 1);
	ck_assert_int_eq(stored(&w.l2), 1);

	/* --untagged --dry-run counts and frees nothing. */
	o.go_untagged = 1;
	o.go_dry_run = 1;
	run(&o, &dry);
	ck_assert_uint_eq(dry.gr_manifests, 1);	/* mb */
	ck_assert_uint_eq(dry.gr_links, 2);	/* mb, l2 (c2: sig keeps) */
	ck_assert_uint_eq(dry.gr_blobs, 2);	/* mb, l2 */
	ck_assert_int_eq(stored(&w.mb), 1);
	ck_assert_int_eq(index_link_get(ix, REPO, &w.l2, NULL), 1);

	o.go_dry_run = 0;
	run(&o, &r);
	ck_assert_uint_eq(r.gr_links, dry.gr_links);
	ck_assert_uint_eq(r.gr_blobs, dry.gr_blobs);
	ck_assert_int_eq(r.gr_bytes, dry.gr_bytes);
	ck_assert(r.gr_bytes > 0);
	ck_assert_int_eq(stored(&w.mb), 0);
	ck_assert_int_eq(stored(&w.l2), 0);
	ck_assert_int_eq(index_link_get(ix, REPO, &w.l2, NULL), 0);
	ck_assert_int_eq(index_link_get(ix, REPO, &w.mb, NULL), 0);
	/* Shared and reachable content stays: */
	ck_assert_int_eq(stored(&w.l1), 1);		/* shared with a */
	ck_assert_int_eq(stored(&w.ma), 1);
	ck_assert_int_eq(stored(&w.child), 1);		/* index child */
	ck_assert_int_eq(stored(&w.l3), 1);
	ck_assert_int_eq(index_link_get(ix, REPO, &w.child, NULL), 1);
	ck_assert_int_eq(stored(&w.sig), 1);		/* referrer of a */
	ck_assert_int_eq(stored(&w.c2), 1);		/* the sig's */
	ck_assert_int_eq(stored(&w.chart), 1);		/* hosted chart */
	ck_assert_int_eq(stored(&w.up), 1);		/* an upload's */

	/* The subject goes: its referrer follows. */
	ck_assert_int_eq(index_tag_delete(ix, REPO, "a"), 1);
	run(&o, &r);
	ck_assert_int_eq(stored(&w.ma), 0);
	ck_assert_int_eq(stored(&w.sig), 0);
	ck_assert_int_eq(stored(&w.c2), 0);
	ck_assert_int_eq(stored(&w.l1), 0);
	ck_assert_int_eq(stored(&w.c1), 1);		/* the child's */
	ck_assert_int_eq(index_manifest_get(ix, &w.ma, &im), 0);
}
END_TEST

START_TEST(test_registry_scope)
{
	struct world		 w;
	struct gc_options	 o;
	struct gc_result	 r;

	build(&w);
	ck_assert_int_eq(index_link_put(ix, "other/x", &w.l2, INDEX_LINK_BLOB,
	    NULL), 0);
	ck_assert_int_eq(index_tag_delete(ix, REPO, "b"), 1);
	memset(&o, 0, sizeof(o));
	o.go_untagged = 1;
	o.go_registry = "other";
	run(&o, &r);
	/* other/x's link goes, l2 stays (b links it); reg is untouched. */
	ck_assert_uint_eq(r.gr_links, 1);
	ck_assert_uint_eq(r.gr_blobs, 0);
	ck_assert_int_eq(stored(&w.orphan), 1);
	ck_assert_int_eq(stored(&w.mb), 1);
	ck_assert_int_eq(stored(&w.l2), 1);
}
END_TEST

/*
 * A manifest PUT racing the sweep of a blob it references, decided by
 * which transaction commits first. The sweep first: the PUT finds no
 * link and answers MANIFEST_BLOB_UNKNOWN, nothing is recorded.
 */
START_TEST(test_race_sweep_first)
{
	struct index_manifest	 im;
	struct manifest_ref	 ref;
	struct digest		 l, m;
	size_t			 missing = 99;
	int64_t			 cutoff = time(NULL);

	blob("an old layer", &l);
	blob("a manifest body (not parsed here)", &m);
	ck_assert_int_eq(index_link_put(ix, REPO, &l, INDEX_LINK_BLOB, NULL),
	    0);
	/* The PUT's check outside its transaction saw l: */
	ck_assert_int_eq(index_link_get(ix, REPO, &l, NULL), 1);
	/* then the sweep's transactions commit: */
	ck_assert_int_eq(gc_unlink(ix, REPO, &l, cutoff), 1);
	ck_assert_int_eq(gc_remove_digest(ix, bs, &l, cutoff, NULL), 1);
	/* then the PUT's commit: */
	memset(&im, 0, sizeof(im));
	snprintf(im.im_media_type, sizeof(im.im_media_type), MT_OCI_MANIFEST);
	memset(&ref, 0, sizeof(ref));
	ref.mr_digest = l;
	ck_assert_int_eq(index_manifest_commit_refs(ix, REPO, &m, &im, NULL,
	    NULL, NULL, &ref, 1, &missing), 0);
	ck_assert_uint_eq(missing, 0);
	ck_assert_int_eq(index_link_get(ix, REPO, &m, NULL), 0);
	ck_assert_int_eq(index_manifest_get(ix, &m, &im), 0);
}
END_TEST

/*
 * The PUT first: its commit touches the link, and the sweep's re-check
 * (a mark from before) keeps the link and the blob.
 */
START_TEST(test_race_put_first)
{
	struct index_manifest	 im;
	struct manifest_ref	 ref;
	struct digest		 l, m;
	struct timespec		 ts[2];
	char			 key[128], ds[DIGEST_STRING_MAX];
	char			 path[PATH_MAX];
	const unsigned char	 old[] = { 1, INDEX_LINK_BLOB };
	size_t			 n;
	int64_t			 cutoff = time(NULL) - 1;

	blob("an old layer", &l);
	blob("a manifest body (not parsed here)", &m);
	/* An old link (touched 0) and an old file. */
	digest_format(&l, ds, sizeof(ds));
	n = (size_t)snprintf(key, sizeof(key), "%s%c%s", REPO, '\0', ds);
	ck_assert_int_eq(index_link_put(ix, REPO, &l, INDEX_LINK_BLOB, NULL),
	    0);
	ck_assert_int_eq(index_test_put_raw(ix, "links.db", key, n, old,
	    sizeof(old)), 0);
	ck_assert_int_eq(blobstore_path(bs, &l, path, sizeof(path)), 0);
	ts[0].tv_sec = ts[1].tv_sec = 1000;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	ck_assert_int_eq(utimensat(AT_FDCWD, path, ts, 0), 0);

	memset(&im, 0, sizeof(im));
	snprintf(im.im_media_type, sizeof(im.im_media_type), MT_OCI_MANIFEST);
	memset(&ref, 0, sizeof(ref));
	ref.mr_digest = l;
	ck_assert_int_eq(index_manifest_commit_refs(ix, REPO, &m, &im, NULL,
	    NULL, NULL, &ref, 1, NULL), 1);
	/* The sweep, with a mark that did not see the manifest: */
	ck_assert_int_eq(gc_unlink(ix, REPO, &l, cutoff), 0);
	ck_assert_int_eq(gc_remove_digest(ix, bs, &l, cutoff, NULL), 0);
	ck_assert_int_eq(stored(&l), 1);
	ck_assert_int_eq(index_link_get(ix, REPO, &l, NULL), 1);
}
END_TEST

/*
 * A layer a fill linked (cache content of an upstream) that a pushed
 * manifest of the same repository references is pushed content from
 * then on: the cache's eviction must not take it.
 */
START_TEST(test_push_adopts_cached)
{
	struct index_manifest	 im;
	struct index_link_info	 li;
	struct manifest_ref	 ref;
	struct digest		 l, m;

	blob("a layer first pulled through an upstream", &l);
	blob("a pushed manifest that references it", &m);
	ck_assert_int_eq(index_link_put(ix, REPO, &l, INDEX_LINK_BLOB,
	    "dockerhub"), 0);
	ck_assert_int_eq(index_link_stat(ix, REPO, &l, &li), 1);
	ck_assert_str_eq(li.ili_upstream, "dockerhub");
	memset(&im, 0, sizeof(im));
	snprintf(im.im_media_type, sizeof(im.im_media_type), MT_OCI_MANIFEST);
	memset(&ref, 0, sizeof(ref));
	ref.mr_digest = l;
	ck_assert_int_eq(index_manifest_commit_refs(ix, REPO, &m, &im, NULL,
	    NULL, NULL, &ref, 1, NULL), 1);
	ck_assert_int_eq(index_link_stat(ix, REPO, &l, &li), 1);
	ck_assert_str_eq(li.ili_upstream, "");
	ck_assert_int_eq(index_link_stat(ix, REPO, &m, &li), 1);
	ck_assert_str_eq(li.ili_upstream, "");
}
END_TEST

/*
 * A chart cached from a Helm upstream is a root: a collection with no
 * grace keeps it (an unreferenced cached layer goes); eviction removes it.
 */
START_TEST(test_chart_links)
{
	struct gc_options	 o;
	struct gc_result	 r;
	struct digest		 c, l;
	int64_t			 freed = 0;

	blob("a chart cached from a helm upstream", &c);
	blob("a layer cached with no manifest", &l);
	ck_assert_int_eq(index_link_put(ix, "charts-up/mychart", &c,
	    INDEX_LINK_CHART, "charts-up"), 0);
	ck_assert_int_eq(index_link_put(ix, "hub/img", &l, INDEX_LINK_BLOB,
	    "hub"), 0);
	memset(&o, 0, sizeof(o));
	o.go_grace = 0;
	run(&o, &r);
	ck_assert_int_eq(index_link_get(ix, "charts-up/mychart", &c, NULL), 1);
	ck_assert_int_eq(stored(&c), 1);
	ck_assert_int_eq(index_link_get(ix, "hub/img", &l, NULL), 0);
	ck_assert_int_eq(stored(&l), 0);
	ck_assert_int_eq(index_cache_evict(ix, "charts-up/mychart", &c,
	    "charts-up", time(NULL)), 1);
	ck_assert_int_eq(gc_remove_digest(ix, bs, &c, time(NULL), &freed), 1);
	ck_assert_int_eq(stored(&c), 0);
}
END_TEST

/* One collection at a time; a dry run does not wait for another. */
START_TEST(test_one_at_a_time)
{
	struct gc_options	 o;
	struct gc_result	 r;
	char			 path[PATH_MAX], *cause = NULL;
	int			 fd;

	ck_assert_int_eq(path_fmt(path, sizeof(path), "%s/gc.lock",
	    blobstore_tmpdir(bs)), 0);
	ck_assert_int_ne(fd = open(path, O_RDWR | O_CREAT, 0600), -1);
	ck_assert_int_eq(flock(fd, LOCK_EX), 0);
	memset(&o, 0, sizeof(o));
	ck_assert_int_eq(gc_run(ix, bs, &o, &r, &cause), -1);
	ck_assert_str_eq(cause, "another garbage collection is running");
	free(cause);
	o.go_dry_run = 1;
	run(&o, &r);
	close(fd);
	o.go_dry_run = 0;
	run(&o, &r);
}
END_TEST

/* A writer that finds the blob stored holds it: its age restarts. */
START_TEST(test_hold)
{
	struct digest		 d;
	struct timespec		 ts[2];
	char			 path[PATH_MAX];
	int			 fd;
	int64_t			 cutoff = time(NULL) - 1;

	blob("stored long ago", &d);
	ck_assert_int_eq(blobstore_path(bs, &d, path, sizeof(path)), 0);
	ts[0].tv_sec = ts[1].tv_sec = 1000;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	ck_assert_int_eq(utimensat(AT_FDCWD, path, ts, 0), 0);
	ck_assert_int_eq(gc_hold(bs, &d, &fd), 1);
	gc_release(fd);
	ck_assert_int_eq(gc_remove_digest(ix, bs, &d, cutoff, NULL), 0);
	ck_assert_int_eq(stored(&d), 1);

	/* Swept: the writer learns that it is gone, and links nothing. */
	ck_assert_int_eq(gc_remove_digest(ix, bs, &d, cutoff + 3600, NULL),
	    1);
	ck_assert_int_eq(gc_hold(bs, &d, &fd), 0);
	ck_assert_int_eq(gc_link_stored(ix, bs, REPO, &d, INDEX_LINK_BLOB,
	    NULL), 0);
	ck_assert_int_eq(index_link_get(ix, REPO, &d, NULL), 0);
}
END_TEST

static Suite *
gc_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("gc");
	tc = tcase_create("gc");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_link_fields);
	tcase_add_test(tc, test_upgrade);
	tcase_add_test(tc, test_mark_sweep);
	tcase_add_test(tc, test_registry_scope);
	tcase_add_test(tc, test_race_sweep_first);
	tcase_add_test(tc, test_race_put_first);
	tcase_add_test(tc, test_push_adopts_cached);
	tcase_add_test(tc, test_chart_links);
	tcase_add_test(tc, test_hold);
	tcase_add_test(tc, test_one_at_a_time);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	const char	*base;
	int		 failed;

	if ((base = getenv("TMPDIR")) == NULL || *base == '\0')
		base = "/tmp";
	if (path_fmt(test_root, sizeof(test_root), "%s/gc_test.XXXXXX",
	    base) == -1 || mkdtemp(test_root) == NULL) {
		perror("mkdtemp");
		return (EXIT_FAILURE);
	}
	log_init(1, NULL, getenv("GC_TEST_VERBOSE") != NULL ? LOG_DEBUG :
	    LOG_CRIT);
	log_procname("test");
	failed = check_run(gc_suite()) != EXIT_SUCCESS;
	(void)nftw(test_root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
