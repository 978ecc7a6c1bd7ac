/*
 * fsck.c: the check and repair of a store, for `depotctl fsck`. It owns
 * what is checked, in this order, and how each problem is repaired:
 *
 *  1. the databases verify (index_fsck_verify: on a hot backup);
 *  2. every file in blobs/ has a blob's name and hashes to it (streamed,
 *     no lock held); a file that does not is moved to lost+found/;
 *  3. the index, table by table in short snapshot batches: tags, links
 *     (and the blobs each linked manifest references), manifest records,
 *     referrers, catalog rows, upload sessions, Helm chart versions each
 *     point at a stored file; an entry that does not (or that does not
 *     decode) is removed, under a write lock and only while it is still
 *     the entry that was read and its target still missing;
 *  4. tmp/: part, size and temp files and upload data older than the
 *     grace, by the rules of blobstore_sweep_parts and upload_expire,
 *     which the repair runs;
 *  5. orphans: blob files older than the grace that nothing links or
 *     references (nor the caller names: charts cached from Helm
 *     upstreams), removed with gc's primitive.
 *
 * The blob files are listed (2.) before the index is read (3.), so a blob
 * linked while the check runs is never taken for an orphan; and what is
 * found missing is looked for again just before it is repaired.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "depot.h"
#include "lib/digest.h"
#include "lib/log.h"
#include "lib/manifest.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "store/blobstore.h"
#include "store/fsck.h"
#include "store/gc.h"
#include "store/index.h"
#include "store/index_fsck.h"
#include "store/index_helm.h"
#include "store/upload.h"

#ifndef PATH_MAX
#define PATH_MAX		4096
#endif

#define FSCK_BATCH		256	/* index entries per snapshot read */
#define FSCK_SETTLE_SECS	60	/* an upload's file follows its entry */
#define FSCK_LOST_DIR		"lost+found"
#define FSCK_DIGEST_BIN		65	/* alg byte + up to 64 bytes */

/* A set of digests, in a compact binary form. */
struct fsck_set {
	unsigned char	(*ds_v)[FSCK_DIGEST_BIN];
	size_t		  ds_count;
	size_t		  ds_size;
	int		  ds_sorted;
};

/* A set of repository names. */
struct fsck_names {
	char		**nm_v;
	size_t		  nm_count;
};

struct fsck {
	struct index			*fk_index;
	struct blobstore		*fk_blobs;
	const struct fsck_options	*fk_opt;	/* &fk_options */
	struct fsck_options		 fk_options;
	struct fsck_names		 fk_damaged;	/* bad database files */
	struct fsck_stats		*fk_stats;
	time_t				 fk_cutoff;	/* now - grace */
	char				 fk_blobdir[PATH_MAX];
	struct fsck_set			 fk_old;	/* old blob files */
	struct fsck_set			 fk_used;	/* linked, referenced */
	struct fsck_set			 fk_pushed;	/* tagged by a push */
	struct fsck_names		 fk_linked;	/* repos with links */
	struct fsck_names		 fk_listed;	/* catalog rows */
	int				 fk_expired;	/* upload_expire ran */
};

struct fsck_tmp_item;

typedef void	(*fsck_entry_fn)(struct fsck *, struct index_entry *);

static void	fsck_set_add(struct fsck_set *, const struct digest *);
static void	fsck_set_sort(struct fsck_set *);
static int	fsck_set_has(struct fsck_set *, const struct digest *);
static void	fsck_set_free(struct fsck_set *);
static void	fsck_names_add(struct fsck_names *, const char *);
static int	fsck_names_has(const struct fsck_names *, const char *);
static void	fsck_names_free(struct fsck_names *);
static void	fsck_names_sort(struct fsck_names *);
static int	fsck_names_sort_cmp(const void *, const void *);
static void	fsck_report(struct fsck *, const char *, const char *,
		    const char *, const char *);
static void	fsck_reportf(struct fsck *, const char *, const char *,
		    const char *, const char *, ...) PRINTFLIKE(5, 6);
static int	fsck_stored(struct fsck *, const struct digest *);
static int	fsck_missing_cb(void *, const struct index_entry *);
static int	fsck_confirm(struct fsck *, const struct index_entry *,
		    index_fsck_still_fn);
static void	fsck_time(time_t, char *, size_t);
static void	fsck_db_report(void *, const char *, const char *);
static void	fsck_databases(struct fsck *);
static int	fsck_lost(struct fsck *, const char *, const char *, char *,
		    size_t);
static void	fsck_blob_file(struct fsck *, int, const char *,
		    enum digest_alg, const char *, const char *);
static void	fsck_blob_dir(struct fsck *, const char *, enum digest_alg,
		    const char *);
static int	fsck_blob_algs(struct fsck *, char **);
static int	fsck_blobs(struct fsck *, char **);
static int	fsck_table(struct fsck *, enum index_fsck_table,
		    fsck_entry_fn, char **);
static void	fsck_garbled(struct fsck *, struct index_entry *);
static void	fsck_tag(struct fsck *, struct index_entry *);
static void	fsck_link(struct fsck *, struct index_entry *);
static int	fsck_manifest_load(struct fsck *, const struct digest *,
		    const char *, struct manifest_info *);
static void	fsck_manifest_refs(struct fsck *, const char *,
		    const struct digest *, int);
static void	fsck_reverse(struct fsck *, struct index_entry *);
static void	fsck_manifest(struct fsck *, struct index_entry *);
static void	fsck_referrer(struct fsck *, struct index_entry *);
static void	fsck_repo(struct fsck *, struct index_entry *);
static void	fsck_repos_missing(struct fsck *);
static void	fsck_upload(struct fsck *, struct index_entry *);
static void	fsck_chart(struct fsck *, struct index_entry *);
static char	*fsck_tmp_what(struct fsck *, int, const char *);
static void	fsck_tmp_list(struct fsck *, struct fsck_tmp_item **,
		    size_t *);
static void	fsck_tmp_finish(struct fsck *, struct fsck_tmp_item *,
		    size_t);
static void	fsck_bin(const struct digest *, unsigned char *);
static void	fsck_unbin(const unsigned char *, struct digest *);
static int	fsck_bin_cmp(const void *, const void *);
static int	fsck_name_cmp(const void *, const void *);
static int	fsck_upload_missing_cb(void *, const struct index_entry *);
static int	fsck_orphan_remove(struct fsck *, const struct digest *);
static void	fsck_orphans(struct fsck *);

/* The compact form: alg, then the hex as bytes. */
static void
fsck_bin(const struct digest *d, unsigned char *out)
{
	size_t	 i, n = digest_hex_len(d->alg) / 2;
	int	 hi, lo;

	memset(out, 0, FSCK_DIGEST_BIN);
	out[0] = (unsigned char)(d->alg + 1);
	for (i = 0; i < n && i + 1 < FSCK_DIGEST_BIN; i++) {
		hi = d->hex[2 * i] <= '9' ? d->hex[2 * i] - '0' :
		    d->hex[2 * i] - 'a' + 10;
		lo = d->hex[2 * i + 1] <= '9' ? d->hex[2 * i + 1] - '0' :
		    d->hex[2 * i + 1] - 'a' + 10;
		out[i + 1] = (unsigned char)((hi << 4) | lo);
	}
}

static void
fsck_set_add(struct fsck_set *s, const struct digest *d)
{
	if (s->ds_count == s->ds_size) {
		s->ds_size = s->ds_size == 0 ? 1024 : s->ds_size * 2;
		s->ds_v = xreallocarray(s->ds_v, s->ds_size,
		    sizeof(*s->ds_v));
	}
	fsck_bin(d, s->ds_v[s->ds_count++]);
	s->ds_sorted = 0;
}

static int
fsck_bin_cmp(const void *a, const void *b)
{
	return (memcmp(a, b, FSCK_DIGEST_BIN));
}

/* Sort and drop duplicates. */
static void
fsck_set_sort(struct fsck_set *s)
{
	size_t	 i, o = 0;

	if (s->ds_sorted)
		return;
	if (s->ds_count > 0)
		qsort(s->ds_v, s->ds_count, sizeof(*s->ds_v), fsck_bin_cmp);
	for (i = 0; i < s->ds_count; i++)
		if (o == 0 || memcmp(s->ds_v[o - 1], s->ds_v[i],
		    FSCK_DIGEST_BIN) != 0)
			memmove(s->ds_v[o++], s->ds_v[i], FSCK_DIGEST_BIN);
	s->ds_count = o;
	s->ds_sorted = 1;
}

static int
fsck_set_has(struct fsck_set *s, const struct digest *d)
{
	unsigned char	 key[FSCK_DIGEST_BIN];

	fsck_set_sort(s);
	fsck_bin(d, key);
	return (s->ds_count > 0 && bsearch(key, s->ds_v, s->ds_count,
	    sizeof(*s->ds_v), fsck_bin_cmp) != NULL);
}

static void
fsck_set_free(struct fsck_set *s)
{
	free(s->ds_v);
	memset(s, 0, sizeof(*s));
}

/* Names come in byte order from the index: append when new. */
static void
fsck_names_add(struct fsck_names *nm, const char *name)
{
	if (nm->nm_count > 0 &&
	    strcmp(nm->nm_v[nm->nm_count - 1], name) == 0)
		return;
	nm->nm_v = xreallocarray(nm->nm_v, nm->nm_count + 1,
	    sizeof(*nm->nm_v));
	nm->nm_v[nm->nm_count++] = xstrdup(name);
}

static int
fsck_name_cmp(const void *a, const void *b)
{
	return (strcmp(a, *(char *const *)b));
}

static int
fsck_names_sort_cmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

/* For names that do not come in order. */
static void
fsck_names_sort(struct fsck_names *nm)
{
	if (nm->nm_count > 1)
		qsort(nm->nm_v, nm->nm_count, sizeof(*nm->nm_v),
		    fsck_names_sort_cmp);
}

static int
fsck_names_has(const struct fsck_names *nm, const char *name)
{
	return (nm->nm_count > 0 && bsearch(name, nm->nm_v, nm->nm_count,
	    sizeof(*nm->nm_v), fsck_name_cmp) != NULL);
}

static void
fsck_names_free(struct fsck_names *nm)
{
	size_t	 i;

	for (i = 0; i < nm->nm_count; i++)
		free(nm->nm_v[i]);
	free(nm->nm_v);
	memset(nm, 0, sizeof(*nm));
}

/* One problem, and what the repair did (NULL: nothing). */
static void
fsck_report(struct fsck *fk, const char *kind, const char *object,
    const char *what, const char *repaired)
{
	fk->fk_stats->fs_problems++;
	if (repaired != NULL)
		fk->fk_stats->fs_repaired++;
	if (fk->fk_opt->fo_report != NULL)
		fk->fk_opt->fo_report(fk->fk_opt->fo_arg, kind, object, what,
		    fk->fk_opt->fo_repair ? repaired : NULL);
}

static void
fsck_reportf(struct fsck *fk, const char *kind, const char *object,
    const char *repaired, const char *fmt, ...)
{
	va_list	 ap;
	char	*what;

	va_start(ap, fmt);
	xvasprintf(&what, fmt, ap);
	va_end(ap);
	fsck_report(fk, kind, object, what, repaired);
	free(what);
}

/* 1 when the blob file of d is there, 0 when not, -1 when unknown. */
static int
fsck_stored(struct fsck *fk, const struct digest *d)
{
	return (blobstore_stat(fk->fk_blobs, d, NULL));
}

/* For index_fsck_remove: is the entry's target still missing? */
static int
fsck_missing_cb(void *arg, const struct index_entry *e)
{
	return (fsck_stored(arg, &e->ie_digest) == 0);
}

/*
 * Is a problem seen in a snapshot still there: the entry unchanged in a
 * fresh read and still(fk, e) (may be NULL) after it? Writers store a
 * file before the entries that point at it, and gc removes the entries
 * before the file, so an entry read again after its target was found
 * missing is dangling for sure; one that changed or went meanwhile was
 * not damage but a change in flight.
 */
static int
fsck_confirm(struct fsck *fk, const struct index_entry *e,
    index_fsck_still_fn still)
{
	if (index_fsck_current(fk->fk_index, e) != 1)
		return (0);
	return (still == NULL || still(fk, e));
}

static void
fsck_time(time_t t, char *buf, size_t len)
{
	struct tm	 tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		(void)snprintf(buf, len, "%lld", (long long)t);
}

/*
 * A damaged database: its table is not read (Berkeley DB may loop on a
 * damaged page), and nothing is repaired while one is damaged.
 */
static void
fsck_db_report(void *arg, const char *file, const char *msg)
{
	struct fsck	*fk = arg;

	fsck_names_add(&fk->fk_damaged, file);
	fsck_reportf(fk, "db", file, NULL, "%s; its entries are not checked%s",
	    msg, fk->fk_opt->fo_repair ? ", and nothing is repaired while a "
	    "database is damaged" : "");
}

static void
fsck_databases(struct fsck *fk)
{
	char	*cause = NULL;

	if (fk->fk_opt->fo_skip_db)
		return;
	if (index_fsck_verify(fk->fk_index, blobstore_tmpdir(fk->fk_blobs),
	    fsck_db_report, fk, &cause) == -1) {
		fsck_report(fk, "db", "environment", cause, NULL);
		free(cause);
	}
}

/*
 * Move path into data_dir/lost+found under name (with .1, .2, ... when
 * taken); where gets the new place, relative to data_dir. 0 or -1.
 */
static int
fsck_lost(struct fsck *fk, const char *path, const char *name, char *where,
    size_t len)
{
	char		 dir[PATH_MAX], dst[PATH_MAX];
	struct stat	 sb;
	int		 i;

	if (path_fmt(dir, sizeof(dir), "%s/" FSCK_LOST_DIR,
	    fk->fk_opt->fo_data_dir) == -1 || mkdir_p(dir, 0750) == -1)
		return (-1);
	for (i = 0; i < 1000; i++) {
		if ((i == 0 ? path_fmt(dst, sizeof(dst), "%s/%s", dir, name) :
		    path_fmt(dst, sizeof(dst), "%s/%s.%d", dir, name, i)) == -1)
			return (-1);
		if (lstat(dst, &sb) == -1 && errno == ENOENT)
			break;
	}
	if (i == 1000 || rename(path, dst) == -1)
		return (-1);
	(void)fsync_parent(dst);
	(void)snprintf(where, len, "moved to " FSCK_LOST_DIR "/%s",
	    dst + strlen(dir) + 1);
	return (0);
}

/* Hash one file of blobs/<alg>/<xx>/ and check its name. */
static void
fsck_blob_file(struct fsck *fk, int dfd, const char *dirpath,
    enum digest_alg alg, const char *prefix, const char *name)
{
	char		 path[PATH_MAX], rel[PATH_MAX];
	char		 ds[DIGEST_STRING_MAX + NAME_MAX + 1];
	char		 got[DIGEST_STRING_MAX], lost[NAME_MAX + 16];
	char		 how[PATH_MAX + 32];
	const char	*repaired = NULL;
	struct digest	 d, h;
	struct stat	 sb;
	int		 fd;

	if (path_fmt(path, sizeof(path), "%s/%s", dirpath, name) == -1)
		return;
	(void)snprintf(rel, sizeof(rel), "blobs/%s/%s/%s",
	    digest_alg_name(alg), prefix, name);
	(void)snprintf(ds, sizeof(ds), "%s:%s", digest_alg_name(alg), name);
	if (strncmp(name, prefix, 2) != 0 || digest_parse(ds, &d, NULL) == -1) {
		(void)snprintf(lost, sizeof(lost), "badname-%s-%s",
		    digest_alg_name(alg), name);
		if (fk->fk_opt->fo_repair && fsck_lost(fk, path, lost, how,
		    sizeof(how)) == 0)
			repaired = how;
		fsck_report(fk, "blob", rel, "not a blob's file name",
		    repaired);
		return;
	}
	if ((fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return;		/* removed meanwhile (gc) */
		fsck_reportf(fk, "blob", ds, NULL, "cannot be read: %s",
		    strerror(errno));
		return;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		close(fd);
		fsck_report(fk, "blob", rel, "not a regular file", NULL);
		return;
	}
	if (digest_fd(alg, fd, &h) == -1) {
		fsck_reportf(fk, "blob", ds, NULL, "cannot be read: %s",
		    strerror(errno));
		close(fd);
		return;
	}
	close(fd);
	fk->fk_stats->fs_blobs++;
	fk->fk_stats->fs_bytes += (uint64_t)sb.st_size;
	if (!digest_equal(&d, &h)) {
		digest_format(&h, got, sizeof(got));
		(void)snprintf(lost, sizeof(lost), "%s-%s",
		    digest_alg_name(alg), name);
		if (fk->fk_opt->fo_repair && fsck_lost(fk, path, lost, how,
		    sizeof(how)) == 0)
			repaired = how;
		fsck_reportf(fk, "blob", ds, repaired, "content does not match "
		    "its digest (it hashes to %s)", got);
		return;
	}
	if (sb.st_mtime < fk->fk_cutoff)
		fsck_set_add(&fk->fk_old, &d);
}

/* blobs/<alg>/<xx>/: every file in it. */
static void
fsck_blob_dir(struct fsck *fk, const char *path, enum digest_alg alg,
    const char *prefix)
{
	DIR		*dir;
	struct dirent	*de;

	if ((dir = opendir(path)) == NULL) {
		if (errno != ENOENT)
			fsck_reportf(fk, "blob", path, NULL, "cannot be read: "
			    "%s", strerror(errno));
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		fsck_blob_file(fk, dirfd(dir), path, alg, prefix, de->d_name);
	}
	closedir(dir);
}

static const enum digest_alg	 fsck_algs[] = { DIGEST_SHA256, DIGEST_SHA512 };
#define FSCK_NALGS	(sizeof(fsck_algs) / sizeof(fsck_algs[0]))

/* blobs/ holds one folder per digest algorithm. 0, or -1 with *cause. */
static int
fsck_blob_algs(struct fsck *fk, char **cause)
{
	char		 rel[PATH_MAX];
	DIR		*top;
	struct dirent	*de;
	size_t		 i;
	int		 known;

	if ((top = opendir(fk->fk_blobdir)) == NULL) {
		xasprintf(cause, "%s: %s", fk->fk_blobdir, strerror(errno));
		return (-1);
	}
	while ((de = readdir(top)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		for (known = 0, i = 0; i < FSCK_NALGS; i++)
			if (strcmp(de->d_name,
			    digest_alg_name(fsck_algs[i])) == 0)
				known = 1;
		if (known)
			continue;
		(void)snprintf(rel, sizeof(rel), "blobs/%s", de->d_name);
		fsck_report(fk, "blob", rel, "not a digest algorithm's folder "
		    "(left alone)", NULL);
	}
	closedir(top);
	return (0);
}

/* Every file under blobs/. 0, or -1 when blobs/ cannot be read. */
static int
fsck_blobs(struct fsck *fk, char **cause)
{
	char		 path[PATH_MAX], sub[PATH_MAX], rel[PATH_MAX];
	const char	*alg;
	DIR		*dir;
	struct dirent	*de;
	size_t		 i;

	if (fsck_blob_algs(fk, cause) == -1)
		return (-1);
	for (i = 0; i < FSCK_NALGS; i++) {
		alg = digest_alg_name(fsck_algs[i]);
		if (path_fmt(path, sizeof(path), "%s/%s", fk->fk_blobdir,
		    alg) == -1 || (dir = opendir(path)) == NULL)
			continue;
		while ((de = readdir(dir)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			if (strlen(de->d_name) != 2 ||
			    strspn(de->d_name, "0123456789abcdef") != 2) {
				(void)snprintf(rel, sizeof(rel),
				    "blobs/%s/%s", alg, de->d_name);
				fsck_report(fk, "blob", rel, "not a blob "
				    "folder's name (left alone)", NULL);
				continue;
			}
			if (path_fmt(sub, sizeof(sub), "%s/%s", path,
			    de->d_name) == 0)
				fsck_blob_dir(fk, sub, fsck_algs[i],
				    de->d_name);
		}
		closedir(dir);
	}
	return (0);
}

/* Read a table in batches and check each entry. 0, or -1 with *cause. */
static int
fsck_table(struct fsck *fk, enum index_fsck_table table, fsck_entry_fn fn,
    char **cause)
{
	struct index_fsck_pos	 pos;
	struct index_entry	*v;
	size_t			 n, i;

	for (i = 0; i < fk->fk_damaged.nm_count; i++)
		if (strcmp(fk->fk_damaged.nm_v[i], index_fsck_file(table)) == 0)
			return (0);
	memset(&pos, 0, sizeof(pos));
	while (!pos.fp_done) {
		if (index_fsck_read(fk->fk_index, table, &pos, FSCK_BATCH, &v,
		    &n) == -1) {
			xasprintf(cause, "cannot read the index");
			return (-1);
		}
		for (i = 0; i < n; i++) {
			fk->fk_stats->fs_entries++;
			if (v[i].ie_garbled)
				fsck_garbled(fk, &v[i]);
			else
				fn(fk, &v[i]);
		}
		index_entries_free(v, n);
	}
	return (0);
}

static void
fsck_garbled(struct fsck *fk, struct index_entry *e)
{
	static const char *const kinds[] = {
		[INDEX_FSCK_LINKS] = "link", [INDEX_FSCK_TAGS] = "tag",
		[INDEX_FSCK_MANIFESTS] = "manifest",
		[INDEX_FSCK_REFERRERS] = "referrer",
		[INDEX_FSCK_REPOS] = "repository",
		[INDEX_FSCK_UPLOADS] = "upload", [INDEX_FSCK_HELM] = "chart",
		[INDEX_FSCK_DIGESTS] = "link"
	};
	char		 name[INDEX_FSCK_KEY_MAX * 2];
	const char	*repaired = NULL;

	if (!fsck_confirm(fk, e, NULL))
		return;
	index_entry_name(e, name, sizeof(name));
	if (fk->fk_opt->fo_repair &&
	    index_fsck_remove(fk->fk_index, e, NULL, NULL) == 1)
		repaired = "entry removed";
	fsck_report(fk, kinds[e->ie_table], name, "a garbled entry (its key "
	    "or value does not decode)", repaired);
}

/* A tag points at a stored manifest. */
static void
fsck_tag(struct fsck *fk, struct index_entry *e)
{
	char		 obj[DEPOT_REPO_MAX + 256 + 2], ds[DIGEST_STRING_MAX];
	const char	*repaired = NULL;

	if (e->ie_upstream[0] == '\0')
		fsck_set_add(&fk->fk_pushed, &e->ie_digest);
	if (fsck_stored(fk, &e->ie_digest) != 0 ||
	    !fsck_confirm(fk, e, fsck_missing_cb)) {
		fsck_set_add(&fk->fk_used, &e->ie_digest);
		return;
	}
	(void)snprintf(obj, sizeof(obj), "%s:%s", e->ie_repo, e->ie_name);
	digest_format(&e->ie_digest, ds, sizeof(ds));
	if (fk->fk_opt->fo_repair && index_fsck_remove(fk->fk_index, e,
	    fsck_missing_cb, fk) == 1)
		repaired = "tag removed";
	fsck_reportf(fk, "tag", obj, repaired, "points at %s, which is not "
	    "stored", ds);
}

/* A link points at a stored blob; a manifest's references are checked. */
static void
fsck_link(struct fsck *fk, struct index_entry *e)
{
	char		 obj[DEPOT_REPO_MAX + DIGEST_STRING_MAX + 2];
	char		 ds[DIGEST_STRING_MAX];
	const char	*repaired = NULL;
	int		 manifest = e->ie_kind == INDEX_LINK_MANIFEST;

	digest_format(&e->ie_digest, ds, sizeof(ds));
	(void)snprintf(obj, sizeof(obj), "%s@%s", e->ie_repo, ds);
	if (fsck_stored(fk, &e->ie_digest) != 0 ||
	    !fsck_confirm(fk, e, fsck_missing_cb)) {
		fsck_set_add(&fk->fk_used, &e->ie_digest);
		fsck_names_add(&fk->fk_linked, e->ie_repo);
		if (e->ie_unmatched && fsck_confirm(fk, e, NULL)) {
			if (fk->fk_opt->fo_repair &&
			    index_fsck_reindex(fk->fk_index, e) == 1)
				repaired = "reverse entry written";
			fsck_report(fk, "link", obj, "missing from digests.db "
			    "(the reverse table of links), so that the blob "
			    "looks unused", repaired);
		}
		/* pushed: written by a push (touched, no upstream) */
		if (manifest)
			fsck_manifest_refs(fk, e->ie_repo, &e->ie_digest,
			    e->ie_upstream[0] == '\0' && e->ie_time != 0);
		return;
	}
	if (fk->fk_opt->fo_repair && index_fsck_remove(fk->fk_index, e,
	    fsck_missing_cb, fk) == 1)
		repaired = "link removed";
	else
		fsck_names_add(&fk->fk_linked, e->ie_repo);
	fsck_report(fk, "link", obj, manifest ? "the manifest is not stored" :
	    "the blob is not stored", repaired);
}

/*
 * Read and parse the stored manifest md (obj names it in reports) into
 * *mi (clear it). 0, or -1 when it is gone or reported as unreadable.
 */
static int
fsck_manifest_load(struct fsck *fk, const struct digest *md, const char *obj,
    struct manifest_info *mi)
{
	struct index_manifest	 im;
	char			*cause = NULL, *buf;
	const char		*ctype = NULL;
	off_t			 size;
	ssize_t			 n;
	int			 fd, found, rv = 0;

	memset(mi, 0, sizeof(*mi));
	if (blobstore_open_blob(fk->fk_blobs, md, &fd, &size) == -1)
		return (-1);		/* removed meanwhile */
	if (size > DEPOT_MANIFEST_MAX) {
		close(fd);
		fsck_reportf(fk, "manifest", obj, NULL, "larger than a "
		    "manifest may be (%lld bytes)", (long long)size);
		return (-1);
	}
	buf = xmalloc((size_t)size + 1);
	n = pread(fd, buf, (size_t)size, 0);
	close(fd);
	found = index_manifest_get(fk->fk_index, md, &im);
	if (found == 1 && im.im_media_type[0] != '\0')
		ctype = im.im_media_type;
	if (n != (ssize_t)size || manifest_parse(buf, (size_t)size, ctype, mi,
	    &cause) == -1) {
		fsck_reportf(fk, "manifest", obj, NULL, "the stored manifest "
		    "does not parse: %s", cause != NULL ? cause : "short read");
		rv = -1;
	}
	if (found == 1)
		index_manifest_clear(&im);
	free(cause);
	free(buf);
	return (rv);
}

/*
 * The blobs (config, layers) and manifests (of an index) that a linked
 * manifest references: each is in use; and when the manifest was pushed
 * (not filled from an upstream, which fetches what is missing on demand),
 * each must be stored. Pushed is: its link says so (written with no
 * upstream; links from before links recorded it say nothing), a tag
 * written by a push points at it, or its registry has no upstream. A
 * pushed manifest that lost one is unlinked from its repository, with
 * its tags and its referrer entry: the image can no longer be pulled,
 * and a new push restores it.
 */
static void
fsck_manifest_refs(struct fsck *fk, const char *repo, const struct digest *md,
    int pushed)
{
	struct manifest_info	 mi;
	struct digest		 lost;
	char			 obj[DEPOT_REPO_MAX + DIGEST_STRING_MAX + 2];
	char			 ds[DIGEST_STRING_MAX];
	char			 first[DIGEST_STRING_MAX];
	const char		*repaired = NULL;
	size_t			 i, missing = 0;

	digest_format(md, ds, sizeof(ds));
	(void)snprintf(obj, sizeof(obj), "%s@%s", repo, ds);
	if (fsck_manifest_load(fk, md, obj, &mi) == -1)
		goto done;
	for (i = 0; i < mi.mi_nrefs; i++) {
		fsck_set_add(&fk->fk_used, &mi.mi_refs[i].mr_digest);
		if (fsck_stored(fk, &mi.mi_refs[i].mr_digest) == 0 &&
		    missing++ == 0)
			lost = mi.mi_refs[i].mr_digest;
	}
	pushed = pushed || fsck_set_has(&fk->fk_pushed, md) ||
	    (fk->fk_opt->fo_hosted != NULL &&
	    fk->fk_opt->fo_hosted(fk->fk_opt->fo_arg, repo));
	/* still linked, and the first still missing (a change in flight) */
	if (missing == 0 || !pushed ||
	    index_link_get(fk->fk_index, repo, md, NULL) != 1 ||
	    fsck_stored(fk, &lost) != 0)
		goto done;
	digest_format(&lost, first, sizeof(first));
	if (fk->fk_opt->fo_repair &&
	    index_manifest_unlink(fk->fk_index, repo, md) == 1)
		repaired = "manifest unlinked from the repository with its "
		    "tags (push the image again to restore it)";
	if (missing == 1)
		fsck_reportf(fk, "manifest", obj, repaired, "references %s, "
		    "which is not stored", first);
	else
		fsck_reportf(fk, "manifest", obj, repaired, "references %zu "
		    "blobs or manifests that are not stored (%s, ...)",
		    missing, first);

done:
	manifest_info_clear(&mi);
}

/* A reverse entry (digests.db) has its link. */
static void
fsck_reverse(struct fsck *fk, struct index_entry *e)
{
	char		 obj[DEPOT_REPO_MAX + DIGEST_STRING_MAX + 2];
	char		 ds[DIGEST_STRING_MAX];
	const char	*repaired = NULL;

	if (!e->ie_unmatched || !fsck_confirm(fk, e, NULL))
		return;
	digest_format(&e->ie_digest, ds, sizeof(ds));
	(void)snprintf(obj, sizeof(obj), "%s@%s", e->ie_repo, ds);
	if (fk->fk_opt->fo_repair &&
	    index_fsck_remove(fk->fk_index, e, NULL, NULL) == 1)
		repaired = "entry removed";
	fsck_report(fk, "link", obj, "an entry of digests.db (the reverse "
	    "table of links) without its link", repaired);
}

/* A manifest record is of a stored manifest. */
static void
fsck_manifest(struct fsck *fk, struct index_entry *e)
{
	char		 ds[DIGEST_STRING_MAX];
	const char	*repaired = NULL;

	if (fsck_stored(fk, &e->ie_digest) != 0 ||
	    !fsck_confirm(fk, e, fsck_missing_cb))
		return;
	digest_format(&e->ie_digest, ds, sizeof(ds));
	if (fk->fk_opt->fo_repair && index_fsck_remove(fk->fk_index, e,
	    fsck_missing_cb, fk) == 1)
		repaired = "record removed";
	fsck_report(fk, "manifest", ds, "a record of a manifest that is not "
	    "stored", repaired);
}

/* A referrer entry names a stored manifest. */
static void
fsck_referrer(struct fsck *fk, struct index_entry *e)
{
	char		 obj[DEPOT_REPO_MAX + 2 * DIGEST_STRING_MAX + 8];
	char		 ds[DIGEST_STRING_MAX], subject[DIGEST_STRING_MAX];
	const char	*repaired = NULL;

	if (fsck_stored(fk, &e->ie_digest) != 0 ||
	    !fsck_confirm(fk, e, fsck_missing_cb)) {
		fsck_set_add(&fk->fk_used, &e->ie_digest);
		return;
	}
	digest_format(&e->ie_digest, ds, sizeof(ds));
	digest_format(&e->ie_subject, subject, sizeof(subject));
	(void)snprintf(obj, sizeof(obj), "%s@%s", e->ie_repo, subject);
	if (fk->fk_opt->fo_repair && index_fsck_remove(fk->fk_index, e,
	    fsck_missing_cb, fk) == 1)
		repaired = "entry removed";
	fsck_reportf(fk, "referrer", obj, repaired, "the referring manifest "
	    "%s is not stored", ds);
}

/* A catalog row is of a repository with links. */
static void
fsck_repo(struct fsck *fk, struct index_entry *e)
{
	const char	*repaired = NULL;

	fsck_names_add(&fk->fk_listed, e->ie_repo);
	/* linked then, or since */
	if (fsck_names_has(&fk->fk_linked, e->ie_repo) ||
	    index_fsck_repo_linked(fk->fk_index, e->ie_repo) != 0 ||
	    !fsck_confirm(fk, e, NULL))
		return;
	if (fk->fk_opt->fo_repair &&
	    index_fsck_remove(fk->fk_index, e, NULL, NULL) == 1)
		repaired = "removed from the catalog";
	fsck_report(fk, "repository", e->ie_repo, "in the catalog without a "
	    "link", repaired);
}

/* Repositories with links but no catalog row. */
static void
fsck_repos_missing(struct fsck *fk)
{
	struct index_entry	 row;
	const char		*repaired;
	size_t			 i;

	for (i = 0; i < fk->fk_linked.nm_count; i++) {
		/* listed, or unlinked since (the row went with the link) */
		if (fsck_names_has(&fk->fk_listed, fk->fk_linked.nm_v[i]) ||
		    index_fsck_repo_linked(fk->fk_index,
		    fk->fk_linked.nm_v[i]) != 1)
			continue;
		/* or listed again since */
		memset(&row, 0, sizeof(row));
		row.ie_table = INDEX_FSCK_REPOS;
		row.ie_keylen = strlen(fk->fk_linked.nm_v[i]);
		memcpy(row.ie_key, fk->fk_linked.nm_v[i], row.ie_keylen);
		if (index_fsck_current(fk->fk_index, &row) != 0)
			continue;
		repaired = NULL;
		if (fk->fk_opt->fo_repair && index_fsck_repo_add(fk->fk_index,
		    fk->fk_linked.nm_v[i]) == 0)
			repaired = "added to the catalog";
		fsck_report(fk, "repository", fk->fk_linked.nm_v[i],
		    "has links but is missing from the catalog", repaired);
	}
}

/* For index_fsck_remove: is an upload's data file still missing? */
static int
fsck_upload_missing_cb(void *arg, const struct index_entry *e)
{
	struct fsck	*fk = arg;
	char		 path[PATH_MAX];
	struct stat	 sb;

	return (upload_path(fk->fk_blobs, e->ie_name, path,
	    sizeof(path)) == 0 && lstat(path, &sb) == -1 && errno == ENOENT);
}

/* An upload session is alive and has its data file. */
static void
fsck_upload(struct fsck *fk, struct index_entry *e)
{
	struct index_upload	 u;
	char			 when[32];
	const char		*repaired = NULL;

	fsck_time((time_t)e->ie_time, when, sizeof(when));
	if (e->ie_time < (int64_t)fk->fk_cutoff) {
		if (!fsck_confirm(fk, e, NULL))
			return;		/* expired by depotd meanwhile */
		if (fk->fk_opt->fo_repair) {
			/* the expiry of depotd's master, once for them all */
			if (!fk->fk_expired)
				(void)upload_expire(fk->fk_index, fk->fk_blobs,
				    (int64_t)fk->fk_cutoff);
			fk->fk_expired = 1;
			if (index_upload_get(fk->fk_index, e->ie_name,
			    &u) == 0)
				repaired = "session and its data removed";
		}
		fsck_reportf(fk, "upload", e->ie_name, repaired, "abandoned "
		    "(into %s, last written %s)", e->ie_repo, when);
		return;
	}
	if (e->ie_time >= (int64_t)time(NULL) - FSCK_SETTLE_SECS ||
	    !fsck_upload_missing_cb(fk, e) ||
	    !fsck_confirm(fk, e, fsck_upload_missing_cb))
		return;
	if (fk->fk_opt->fo_repair && index_fsck_remove(fk->fk_index, e,
	    fsck_upload_missing_cb, fk) == 1)
		repaired = "session removed";
	fsck_reportf(fk, "upload", e->ie_name, repaired, "its data file "
	    "tmp/" UPLOAD_FILE_PREFIX "%s is missing", e->ie_name);
}

/* A hosted Helm chart version has its .tgz (and .prov) stored. */
static void
fsck_chart(struct fsck *fk, struct index_entry *e)
{
	struct index_helm_chart	 old;
	char			 obj[DEPOT_REPO_MAX + 256 + 129 + 8];
	char			 ds[DIGEST_STRING_MAX];
	const struct digest	*lost = NULL;
	const char		*repaired = NULL;
	int64_t			 gen;

	fsck_set_add(&fk->fk_used, &e->ie_digest);
	if (e->ie_has_subject)
		fsck_set_add(&fk->fk_used, &e->ie_subject);
	if (fsck_stored(fk, &e->ie_digest) == 0)
		lost = &e->ie_digest;
	else if (e->ie_has_subject && fsck_stored(fk, &e->ie_subject) == 0)
		lost = &e->ie_subject;
	if (lost == NULL || !fsck_confirm(fk, e, NULL) ||
	    fsck_stored(fk, lost) != 0)
		return;
	(void)snprintf(obj, sizeof(obj), "%s/%s-%s", e->ie_repo, e->ie_name,
	    e->ie_version);
	digest_format(lost, ds, sizeof(ds));
	if (fk->fk_opt->fo_repair && fsck_stored(fk, lost) == 0 &&
	    index_helm_delete(fk->fk_index, e->ie_repo, e->ie_name,
	    e->ie_version, &old, &gen) == 1) {
		index_helm_chart_clear(&old);
		repaired = "chart version removed";
	}
	fsck_reportf(fk, "chart", obj, repaired, "its %s file %s is not stored",
	    lost == &e->ie_digest ? "chart" : "provenance", ds);
}

/* What the tmp/ check found, to report once the sweeps ran. */
struct fsck_tmp_item {
	char	 ti_name[NAME_MAX + 1];
	char	*ti_what;
};

/*
 * Classify one file of tmp/ by the sweeps' rules; NULL when it is not
 * garbage (yet). Caller frees.
 */
static char *
fsck_tmp_what(struct fsck *fk, int dfd, const char *name)
{
	struct index_upload	 u;
	struct digest		 d;
	struct stat		 sb;
	char			 ds[DIGEST_STRING_MAX], when[32], *what = NULL;
	const char		*dot, *size;
	size_t			 len = strlen(name), plen;

	if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) == -1 ||
	    !S_ISREG(sb.st_mode) || sb.st_mtime >= fk->fk_cutoff)
		return (NULL);
	fsck_time(sb.st_mtime, when, sizeof(when));
	if (len > 5 && strcmp(name + len - 5, ".part") == 0) {
		if ((dot = strchr(name, '-')) == NULL ||
		    (size_t)(dot - name) + 1 + 5 > len ||
		    snprintf(ds, sizeof(ds), "%.*s:%.*s", (int)(dot - name),
		    name, (int)(len - 5 - (size_t)(dot - name) - 1),
		    dot + 1) >= (int)sizeof(ds) ||
		    digest_parse(ds, &d, NULL) == -1 ||
		    blobstore_fetch_active(fk->fk_blobs, &d))
			return (NULL);
		xasprintf(&what, "part file of an upstream fetch that ended "
		    "unfinished (last written %s)", when);
	} else if ((size = strstr(name, ".size")) != NULL) {
		plen = (size_t)(size - name);
		if (plen + 5 == len) {	/* stem.size: only without its part */
			(void)snprintf(ds, sizeof(ds), "%.*s.part", (int)plen,
			    name);
			if (fstatat(dfd, ds, &sb, AT_SYMLINK_NOFOLLOW) == 0)
				return (NULL);
		} else if (size[5] != '.')
			return (NULL);
		xasprintf(&what, "size file of an upstream fetch that is gone "
		    "(last written %s)", when);
	} else if (strncmp(name, UPLOAD_BLOB_TMP_PREFIX,
	    strlen(UPLOAD_BLOB_TMP_PREFIX)) == 0) {
		xasprintf(&what, "temp file of a write that never finished "
		    "(last written %s)", when);
	} else if (strncmp(name, UPLOAD_FILE_PREFIX,
	    strlen(UPLOAD_FILE_PREFIX)) == 0) {
		plen = strlen(UPLOAD_FILE_PREFIX);
		if (len == plen || len - plen > UPLOAD_ID_MAX ||
		    index_upload_get(fk->fk_index, name + plen, &u) != 0)
			return (NULL);
		xasprintf(&what, "data of no upload session (last written "
		    "%s)", when);
	}
	return (what);
}

/* List what in tmp/ is older than the grace and belongs to nobody. */
static void
fsck_tmp_list(struct fsck *fk, struct fsck_tmp_item **items, size_t *n)
{
	DIR		*dir;
	struct dirent	*de;
	char		*what;

	*items = NULL;
	*n = 0;
	if ((dir = opendir(blobstore_tmpdir(fk->fk_blobs))) == NULL) {
		fsck_reportf(fk, "tmp", "tmp", NULL, "cannot be read: %s",
		    strerror(errno));
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		if (strlen(de->d_name) >= sizeof((*items)->ti_name) ||
		    (what = fsck_tmp_what(fk, dirfd(dir), de->d_name)) == NULL)
			continue;
		*items = xreallocarray(*items, *n + 1, sizeof(**items));
		(void)snprintf((*items)[*n].ti_name,
		    sizeof((*items)[*n].ti_name), "%s", de->d_name);
		(*items)[(*n)++].ti_what = what;
	}
	closedir(dir);
}

/* Run the sweeps (repair) and report each item listed. */
static void
fsck_tmp_finish(struct fsck *fk, struct fsck_tmp_item *items, size_t n)
{
	char		 path[PATH_MAX], obj[NAME_MAX + 8];
	struct stat	 sb;
	const char	*repaired;
	size_t		 i;

	if (fk->fk_opt->fo_repair && n > 0) {
		(void)blobstore_sweep_parts(fk->fk_blobs, fk->fk_cutoff);
		(void)upload_expire(fk->fk_index, fk->fk_blobs,
		    (int64_t)fk->fk_cutoff);
	}
	for (i = 0; i < n; i++) {
		repaired = NULL;
		if (path_fmt(path, sizeof(path), "%s/%s",
		    blobstore_tmpdir(fk->fk_blobs), items[i].ti_name) == 0 &&
		    lstat(path, &sb) == -1 && errno == ENOENT) {
			/* swept by depotd meanwhile, unless by the repair */
			if (!fk->fk_opt->fo_repair) {
				free(items[i].ti_what);
				continue;
			}
			repaired = "removed";
		}
		(void)snprintf(obj, sizeof(obj), "tmp/%s", items[i].ti_name);
		fsck_report(fk, "tmp", obj, items[i].ti_what, repaired);
		free(items[i].ti_what);
	}
	free(items);
}

/* The digest of a compact form. */
static void
fsck_unbin(const unsigned char *bin, struct digest *d)
{
	static const char	 hex[] = "0123456789abcdef";
	size_t			 i, n;

	memset(d, 0, sizeof(*d));
	d->alg = (enum digest_alg)(bin[0] - 1);
	n = digest_hex_len(d->alg) / 2;
	for (i = 0; i < n; i++) {
		d->hex[2 * i] = hex[bin[i + 1] >> 4];
		d->hex[2 * i + 1] = hex[bin[i + 1] & 0xf];
	}
}

/* Remove an orphan with gc's primitive. 1 removed, 0 kept, -1 error. */
static int
fsck_orphan_remove(struct fsck *fk, const struct digest *d)
{
	return (gc_remove_digest(fk->fk_index, fk->fk_blobs, d,
	    (int64_t)fk->fk_cutoff, NULL));
}

/* Old blob files that nothing links or references. */
static void
fsck_orphans(struct fsck *fk)
{
	struct digest	 d;
	char		 ds[DIGEST_STRING_MAX];
	const char	*repaired;
	off_t		 size;
	size_t		 i;

	for (i = 0; i < fk->fk_opt->fo_nused; i++)
		fsck_set_add(&fk->fk_used, &fk->fk_opt->fo_used[i]);
	fsck_set_sort(&fk->fk_old);
	for (i = 0; i < fk->fk_old.ds_count; i++) {
		fsck_unbin(fk->fk_old.ds_v[i], &d);
		if (fsck_set_has(&fk->fk_used, &d) ||
		    blobstore_stat(fk->fk_blobs, &d, &size) != 1)
			continue;
		digest_format(&d, ds, sizeof(ds));
		repaired = NULL;
		if (fk->fk_opt->fo_repair && fsck_orphan_remove(fk, &d) == 1)
			repaired = "removed";
		fsck_reportf(fk, "orphan", ds, repaired, "nothing links or "
		    "references it (%lld bytes)", (long long)size);
	}
}

int
fsck_run(struct index *ix, struct blobstore *bs,
    const struct fsck_options *opt, struct fsck_stats *st, char **cause)
{
	static const struct {
		enum index_fsck_table	 table;
		fsck_entry_fn		 fn;
	} passes[] = {
		{ INDEX_FSCK_TAGS, fsck_tag },
		{ INDEX_FSCK_LINKS, fsck_link },
		{ INDEX_FSCK_MANIFESTS, fsck_manifest },
		{ INDEX_FSCK_REFERRERS, fsck_referrer },
		{ INDEX_FSCK_REPOS, fsck_repo },
		{ INDEX_FSCK_UPLOADS, fsck_upload },
		{ INDEX_FSCK_HELM, fsck_chart },
		{ INDEX_FSCK_DIGESTS, fsck_reverse }
	};
	struct fsck		 fk;
	struct fsck_tmp_item	*items = NULL;
	size_t			 i, nitems = 0;
	int			 rv = -1;

	memset(st, 0, sizeof(*st));
	memset(&fk, 0, sizeof(fk));
	fk.fk_index = ix;
	fk.fk_blobs = bs;
	fk.fk_options = *opt;
	fk.fk_opt = &fk.fk_options;
	fk.fk_stats = st;
	fk.fk_cutoff = time(NULL) - (time_t)opt->fo_grace;
	if (path_fmt(fk.fk_blobdir, sizeof(fk.fk_blobdir), "%s/blobs",
	    opt->fo_data_dir) == -1) {
		xasprintf(cause, "%s: path too long", opt->fo_data_dir);
		return (-1);
	}
	fsck_databases(&fk);
	if (fk.fk_damaged.nm_count > 0) {
		fk.fk_options.fo_repair = 0;
		fsck_names_sort(&fk.fk_damaged);
	}
	/* The files first: a blob linked after this is never an orphan. */
	if (fsck_blobs(&fk, cause) == -1)
		goto done;
	fsck_tmp_list(&fk, &items, &nitems);
	for (i = 0; i < sizeof(passes) / sizeof(passes[0]); i++) {
		/* the catalog is checked against the links */
		if (passes[i].table == INDEX_FSCK_REPOS &&
		    fk.fk_damaged.nm_count > 0)
			continue;
		if (fsck_table(&fk, passes[i].table, passes[i].fn, cause) == -1)
			goto done;
		if (passes[i].table == INDEX_FSCK_REPOS)
			fsck_repos_missing(&fk);
	}
	fsck_tmp_finish(&fk, items, nitems);
	items = NULL;
	nitems = 0;
	/* with a damaged database, what is in use is not known */
	if (fk.fk_damaged.nm_count == 0)
		fsck_orphans(&fk);
	rv = 0;

done:
	for (i = 0; i < nitems; i++)
		free(items[i].ti_what);
	free(items);
	fsck_set_free(&fk.fk_old);
	fsck_set_free(&fk.fk_used);
	fsck_set_free(&fk.fk_pushed);
	fsck_names_free(&fk.fk_linked);
	fsck_names_free(&fk.fk_listed);
	fsck_names_free(&fk.fk_damaged);
	return (rv);
}
