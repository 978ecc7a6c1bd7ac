/*
 * fsck_test.c: unit tests for the check of a store (src/store/fsck.c,
 * src/store/index_fsck.c): a clean store of pushed images is clean (the
 * databases verify on their hot backup); then each kind of damage is
 * found, one line each: a blob whose bytes changed, a file of blobs/ with
 * a bad name, a link to a blob that is not stored, a pushed manifest that
 * lost a layer, a garbled tag, a reverse entry without its link, a
 * catalog row without links, an old orphan blob, an old part file; the
 * repair fixes each, and a second run is clean. A manifest cached from an
 * upstream may lack its layers (they are fetched on demand): not damage.
 * A damaged database file is found on the backup. A blob the caller
 * names as used (a chart cached from a Helm upstream) is no orphan.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <check.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/digest.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "store/blobstore.h"
#include "store/fsck.h"
#include "store/index.h"
#include "check_main.h"

#define OLD_SECS	(3 * 86400)
#define GRACE_SECS	86400
#define MAX_LINES	64

int	index_test_put_raw(struct index *, const char *, const void *, size_t,
	    const void *, size_t);

static char		 datadir[4096];
static char		 dbdir[4096];
static struct index	*ix;
static struct blobstore	*bs;
static char		*lines[MAX_LINES];
static size_t		 nlines;

static void
report_cb(void *arg, const char *kind, const char *object, const char *what,
    const char *repaired)
{
	(void)arg;
	if (nlines < MAX_LINES)
		xasprintf(&lines[nlines++], "%s: %s: %s%s%s", kind, object,
		    what, repaired != NULL ? "; repaired: " : "",
		    repaired != NULL ? repaired : "");
}

static void
lines_clear(void)
{
	while (nlines > 0)
		free(lines[--nlines]);
}

/* How many lines start with kind and contain text. */
static int
lines_count(const char *kind, const char *text)
{
	size_t	 i, n = strlen(kind);
	int	 count = 0;

	for (i = 0; i < nlines; i++)
		if (strncmp(lines[i], kind, n) == 0 && lines[i][n] == ':' &&
		    strstr(lines[i], text) != NULL)
			count++;
	return (count);
}

static void
lines_dump(void)
{
	size_t	 i;

	for (i = 0; i < nlines; i++)
		fprintf(stderr, "# %s\n", lines[i]);
}

static const struct digest	*used;	/* fo_used of the next run */

static struct fsck_stats
run(int repair)
{
	struct fsck_options	 opt;
	struct fsck_stats	 st;
	char			*cause = NULL;

	lines_clear();
	memset(&opt, 0, sizeof(opt));
	opt.fo_data_dir = datadir;
	opt.fo_repair = repair;
	opt.fo_grace = GRACE_SECS;
	opt.fo_report = report_cb;
	opt.fo_used = used;
	opt.fo_nused = used != NULL ? 1 : 0;
	ck_assert_msg(fsck_run(ix, bs, &opt, &st, &cause) == 0, "fsck: %s",
	    cause != NULL ? cause : "?");
	ck_assert_uint_eq(st.fs_problems, nlines);
	return (st);
}

static void
store(const char *data, struct digest *d)
{
	struct blob_writer	*w;
	char			*cause = NULL;

	w = blob_writer_create(bs, DIGEST_SHA256, &cause);
	ck_assert_ptr_nonnull(w);
	ck_assert_int_eq(blob_writer_write(w, data, strlen(data)), 0);
	ck_assert_int_eq(blob_writer_commit(w, NULL, d, &cause), 0);
}

static void
blob_path(const struct digest *d, char *buf, size_t len)
{
	ck_assert_int_eq(blobstore_path(bs, d, buf, len), 0);
}

static void
age(const char *path)
{
	struct timespec	 ts[2];

	ts[0].tv_sec = ts[1].tv_sec = time(NULL) - OLD_SECS;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	ck_assert_int_eq(utimensat(AT_FDCWD, path, ts, 0), 0);
}

/*
 * An image of a config and a layer, pushed into repo:tag (upstream NULL)
 * or cached from upstream; *layer gets the layer's digest.
 */
static void
image(const char *repo, const char *tag, const char *seed,
    const char *upstream, struct digest *layer, struct digest *md)
{
	struct index_manifest	 im;
	struct index_tag	 t;
	struct digest		 cfg;
	char			 c[64], l[64], cs[DIGEST_STRING_MAX];
	char			 ls[DIGEST_STRING_MAX], *m;

	(void)snprintf(c, sizeof(c), "{\"config\":\"%s\"}", seed);
	(void)snprintf(l, sizeof(l), "layer bytes of %s", seed);
	store(c, &cfg);
	store(l, layer);
	digest_format(&cfg, cs, sizeof(cs));
	digest_format(layer, ls, sizeof(ls));
	xasprintf(&m, "{\"schemaVersion\":2,\"mediaType\":"
	    "\"application/vnd.oci.image.manifest.v1+json\",\"config\":"
	    "{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
	    "\"digest\":\"%s\",\"size\":%zu},\"layers\":[{\"mediaType\":"
	    "\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"%s\","
	    "\"size\":%zu}]}", cs, strlen(c), ls, strlen(l));
	store(m, md);
	ck_assert_int_eq(index_link_put(ix, repo, &cfg, INDEX_LINK_BLOB,
	    upstream), 0);
	ck_assert_int_eq(index_link_put(ix, repo, layer, INDEX_LINK_BLOB,
	    upstream), 0);
	memset(&im, 0, sizeof(im));
	(void)snprintf(im.im_media_type, sizeof(im.im_media_type),
	    "application/vnd.oci.image.manifest.v1+json");
	im.im_size = (int64_t)strlen(m);
	memset(&t, 0, sizeof(t));
	(void)snprintf(t.it_media_type, sizeof(t.it_media_type), "%s",
	    im.im_media_type);
	t.it_fetched_at = time(NULL);
	(void)snprintf(t.it_upstream, sizeof(t.it_upstream), "%s",
	    upstream != NULL ? upstream : "");
	ck_assert_int_eq(index_manifest_commit_refs(ix, repo, md, &im, tag, &t,
	    upstream, NULL, 0, NULL), 1);
	free(m);
}

static int
rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return (remove(path));
}

static void
setup(void)
{
	char	*cause = NULL;

	if (getenv("FSCK_TEST_VERBOSE") == NULL)
		log_init(1, NULL, LOG_CRIT);
	(void)snprintf(datadir, sizeof(datadir), "%s/fsck-test.XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(datadir));
	ck_assert_int_eq(path_fmt(dbdir, sizeof(dbdir), "%s/db", datadir), 0);
	ix = index_open(dbdir, INDEX_MASTER, NULL, &cause);
	ck_assert_msg(ix != NULL, "index_open: %s", cause);
	bs = blobstore_open(datadir, &cause);
	ck_assert_msg(bs != NULL, "blobstore_open: %s", cause);
}

static void
teardown(void)
{
	lines_clear();
	index_close(ix);
	blobstore_free(bs);
	ix = NULL;
	bs = NULL;
	(void)nftw(datadir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

START_TEST(test_clean)
{
	struct fsck_stats	 st;
	struct digest		 layer, md;

	image("docker-local/app", "v1", "a", NULL, &layer, &md);
	image("docker-local/other", "v2", "b", NULL, &layer, &md);
	st = run(0);
	lines_dump();
	ck_assert_uint_eq(st.fs_problems, 0);
	ck_assert_uint_eq(st.fs_blobs, 6);
	ck_assert_uint_gt(st.fs_entries, 10);
}
END_TEST

START_TEST(test_damage_repair)
{
	struct index_tag	 tag;
	struct fsck_stats	 st;
	struct digest		 layer, md, layer2, md2, orphan, nowhere;
	char			 path[4096], key[256];
	int			 fd;

	image("docker-local/app", "v1", "a", NULL, &layer, &md);
	image("docker-local/keep", "v1", "k", NULL, &layer2, &md2);
	/* a layer whose bytes changed */
	blob_path(&layer, path, sizeof(path));
	fd = open(path, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, "X", 1, 2), 1);
	close(fd);
	/* a file with a bad name in blobs/ */
	ck_assert_int_eq(path_fmt(path, sizeof(path),
	    "%s/blobs/sha256/%.2s/junk", datadir, layer2.hex), 0);
	fd = open(path, O_WRONLY | O_CREAT, 0640);
	ck_assert_int_ge(fd, 0);
	close(fd);
	/* a link to a blob never stored */
	digest_buffer(DIGEST_SHA256, "nowhere", 7, &nowhere);
	ck_assert_int_eq(index_link_put(ix, "docker-local/keep", &nowhere,
	    INDEX_LINK_BLOB, NULL), 0);
	/* a garbled tag, a reverse entry without link, a lone catalog row */
	ck_assert_int_eq(index_test_put_raw(ix, "tags.db",
	    "docker-local/keep\0bad", 21, "junk", 4), 0);
	(void)snprintf(key, sizeof(key), "sha256:%s", layer2.hex);
	memcpy(key + 71, "\0docker-local/ghost", 19);
	ck_assert_int_eq(index_test_put_raw(ix, "digests.db", key, 90, "",
	    0), 0);
	ck_assert_int_eq(index_test_put_raw(ix, "repos.db",
	    "docker-local/lonely", 19, "", 0), 0);
	/* an old orphan blob and an old part file */
	store("nobody's bytes", &orphan);
	blob_path(&orphan, path, sizeof(path));
	age(path);
	ck_assert_int_eq(path_fmt(path, sizeof(path), "%s/tmp/sha256-%s.part",
	    datadir, nowhere.hex), 0);
	fd = open(path, O_WRONLY | O_CREAT, 0640);
	ck_assert_int_ge(fd, 0);
	close(fd);
	age(path);

	st = run(0);
	lines_dump();
	ck_assert_int_eq(lines_count("blob", "does not match"), 1);
	ck_assert_int_eq(lines_count("blob", "/junk: not a blob's file name"),
	    1);
	ck_assert_int_eq(lines_count("link", "the blob is not stored"), 1);
	ck_assert_int_eq(lines_count("tag", "garbled"), 1);
	ck_assert_int_eq(lines_count("link", "without its link"), 1);
	ck_assert_int_eq(lines_count("repository", "docker-local/lonely"), 1);
	ck_assert_int_eq(lines_count("orphan", orphan.hex), 1);
	ck_assert_int_eq(lines_count("tmp", ".part"), 1);
	ck_assert_uint_eq(st.fs_problems, 8);
	ck_assert_uint_eq(st.fs_repaired, 0);

	st = run(1);
	lines_dump();
	/* the changed layer cascades: its link and its image go too */
	ck_assert_int_eq(lines_count("blob", "lost+found/sha256-"), 1);
	ck_assert_int_eq(lines_count("manifest", "unlinked"), 1);
	ck_assert_uint_eq(st.fs_repaired, st.fs_problems);
	ck_assert_int_eq(index_tag_get(ix, "docker-local/app", "v1", &tag),
	    0);
	ck_assert_int_eq(blobstore_stat(bs, &orphan, NULL), 0);

	st = run(0);
	lines_dump();
	ck_assert_uint_eq(st.fs_problems, 0);
	/* the intact image is untouched */
	ck_assert_int_eq(blobstore_stat(bs, &layer2, NULL), 1);
	ck_assert_int_eq(blobstore_stat(bs, &md2, NULL), 1);
	ck_assert_int_eq(index_link_get(ix, "docker-local/keep", &md2, NULL),
	    1);
}
END_TEST

START_TEST(test_cached_lazy)
{
	struct fsck_stats	 st;
	struct digest		 layer, md, layer2, md2;

	image("docker-local/cached", "v1", "c", "up", &layer, &md);
	image("docker-local/pushed", "v1", "p", NULL, &layer2, &md2);
	ck_assert_int_eq(blobstore_delete(bs, &layer), 0);
	ck_assert_int_eq(index_link_delete(ix, "docker-local/cached", &layer),
	    1);
	ck_assert_int_eq(blobstore_delete(bs, &layer2), 0);
	ck_assert_int_eq(index_link_delete(ix, "docker-local/pushed", &layer2),
	    1);
	st = run(0);
	lines_dump();
	ck_assert_uint_eq(st.fs_problems, 1);
	ck_assert_int_eq(lines_count("manifest", "docker-local/pushed@"), 1);
}
END_TEST

START_TEST(test_db_damage)
{
	struct fsck_stats	 st;
	struct digest		 layer, md;
	char			 path[4096], junk[4096];
	int			 fd;

	image("docker-local/app", "v1", "a", NULL, &layer, &md);
	index_close(ix);
	ix = NULL;
	ck_assert_int_eq(path_fmt(path, sizeof(path), "%s/referrers.db",
	    dbdir), 0);
	fd = open(path, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	memset(junk, 0xff, sizeof(junk));
	ck_assert_int_eq(pwrite(fd, junk, sizeof(junk), 4096),
	    (ssize_t)sizeof(junk));
	close(fd);
	ix = index_open(dbdir, INDEX_MASTER, NULL, NULL);
	ck_assert_ptr_nonnull(ix);
	st = run(0);
	lines_dump();
	ck_assert_int_eq(lines_count("db", "referrers.db: does not verify"),
	    1);
	ck_assert_uint_eq(st.fs_problems, 1);
}
END_TEST

/* A blob the caller says is in use (a cached chart) is no orphan. */
START_TEST(test_used)
{
	struct fsck_stats	 st;
	struct digest		 chart;
	char			 path[4096];

	store("a cached chart", &chart);
	blob_path(&chart, path, sizeof(path));
	age(path);
	used = &chart;
	st = run(1);
	used = NULL;
	lines_dump();
	ck_assert_uint_eq(st.fs_problems, 0);
	ck_assert_int_eq(blobstore_stat(bs, &chart, NULL), 1);
	st = run(0);
	ck_assert_int_eq(lines_count("orphan", chart.hex), 1);
}
END_TEST

static Suite *
fsck_suite(void)
{
	Suite	*s = suite_create("fsck");
	TCase	*tc = tcase_create("fsck");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_clean);
	tcase_add_test(tc, test_damage_repair);
	tcase_add_test(tc, test_cached_lazy);
	tcase_add_test(tc, test_db_damage);
	tcase_add_test(tc, test_used);
	suite_add_tcase(s, tc);
	return (s);
}

CHECK_MAIN(fsck_suite)
