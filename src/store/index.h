/*
 * index.h: depot's index, a Berkeley DB transactional environment under
 * <data_dir>/db shared by the master and every worker. The files
 * src/store/index*.c (one per table, see index_impl.h) are the only code
 * that speaks Berkeley DB; everything else uses this typed API.
 *
 * Life cycle across processes:
 *  - the master opens with INDEX_MASTER before forking: it runs recovery
 *    when needed and stays the watcher (index_failchk after a worker dies,
 *    index_checkpoint on a timer);
 *  - each worker opens its own handle after fork with INDEX_WORKER.
 */
#ifndef DEPOT_INDEX_H
#define DEPOT_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "depot.h"
#include "lib/digest.h"
#include "lib/manifest.h"

enum index_role {
	INDEX_MASTER,
	INDEX_WORKER
};

struct index;

/*
 * Open the environment in dir (created when missing). NULL with *cause
 * (caller frees) on failure. For INDEX_WORKER, a failure that needs
 * recovery sets *need_recovery (when not NULL) so the worker can exit with
 * a status that tells the master.
 */
struct index	*index_open(const char *dir, enum index_role role,
		    int *need_recovery, char **cause);
/* Close the handle. Accepts NULL. */
void		 index_close(struct index *);

/*
 * Master only: after a worker died abnormally, release what it held.
 * 0 when the environment is fine, 1 when recovery is needed (the caller
 * stops every worker, calls index_recover, then restarts them), -1 error.
 */
int		 index_failchk(struct index *);
/* Master only, with no worker running: close, run recovery, reopen. */
int		 index_recover(struct index *, char **cause);
/* Master only: checkpoint and drop log files no longer needed. */
int		 index_checkpoint(struct index *);

/* Health probe: a small read-write transaction. 0 ok, -1 failed. */
int		 index_health(struct index *);

/*
 * Add delta to each of the named counters in one transaction and return
 * the new values in out (which may be NULL). Used by tests of crash
 * consistency and by simple bookkeeping. 0 or -1.
 */
int		 index_counters_add(struct index *, const char **names,
		    int count, int64_t delta, int64_t *out);
/* Read one counter (0 when absent). 0 or -1. */
int		 index_counter_get(struct index *, const char *name,
		    int64_t *value);

/*
 * Registry content. Repository names are full OCI names
 * ("registry/image"); digests are parsed struct digest. Lookups return
 * 1 when found, 0 when absent, -1 on error; writers 0 or -1. Lists come
 * in lexical (byte) order and are freed with index_strings_free.
 */
struct index_tag {
	struct digest	 it_digest;
	char		 it_media_type[256];
	int64_t		 it_fetched_at;	/* unix seconds: pushed or cached */
	char		 it_upstream[DEPOT_NAME_MAX + 1]; /* "" = pushed here */
};

enum index_link_kind {
	INDEX_LINK_BLOB = 1,
	INDEX_LINK_MANIFEST = 2,
	INDEX_LINK_CHART = 3	/* a chart cached from a Helm upstream */
};

struct index_manifest {
	char		 im_media_type[256];
	int64_t		 im_size;
	char		 im_artifact_type[256];	/* "" when none */
	int		 im_has_subject;
	struct digest	 im_subject;
	char		*im_annotations;	/* JSON object or NULL */
};

struct index_upload {
	char		 iu_repo[DEPOT_REPO_MAX + 1];
	int64_t		 iu_offset;	/* bytes received so far */
	int64_t		 iu_started;	/* unix seconds */
	int64_t		 iu_updated;
};

void	index_strings_free(char **, size_t);

int	index_tag_get(struct index *, const char *repo, const char *tag,
	    struct index_tag *);
int	index_tag_put(struct index *, const char *repo, const char *tag,
	    const struct index_tag *);
/*
 * Compare and set: write t as repo:tag only while the tag is still the
 * one the caller read (expect: same digest, media type, time and
 * origin), or still absent when expect is NULL. 1 written, 0 the tag
 * changed meanwhile (nothing written), -1 error.
 */
int	index_tag_put_if(struct index *, const char *repo, const char *tag,
	    const struct index_tag *t, const struct index_tag *expect);
/* 1 deleted, 0 absent, -1 error. */
int	index_tag_delete(struct index *, const char *repo, const char *tag);
/* Tags after last (NULL: from the first), at most n (0: all). */
int	index_tag_list(struct index *, const char *repo, const char *last,
	    size_t n, char ***tags, size_t *count);

/*
 * A blob or manifest belongs to a repository (the spec's "link"). Each
 * link records when it was last touched (written, mounted,
 * HEAD-confirmed, referenced by a manifest PUT) and the upstream key
 * whose fill made it ("" for pushes and mounts). Links written before
 * these were recorded read as touched 0 and upstream "".
 */
struct index_link_info {
	enum index_link_kind	 ili_kind;
	int64_t			 ili_touched;	/* unix seconds */
	char			 ili_upstream[DEPOT_NAME_MAX + 1];
};

/* One link, as listed by index_link_list. */
struct index_link_entry {
	char			 ile_repo[DEPOT_REPO_MAX + 1];
	struct digest		 ile_digest;
	struct index_link_info	 ile_info;
};

/*
 * Write the link with touched = now; upstream is the upstream key of a
 * fill, NULL or "" for a push or a mount.
 */
int	index_link_put(struct index *, const char *repo, const struct digest *,
	    enum index_link_kind, const char *upstream);
int	index_link_get(struct index *, const char *repo, const struct digest *,
	    enum index_link_kind *kind);
/* The whole link: 1 found (*info filled), 0 absent, -1 error. */
int	index_link_stat(struct index *, const char *repo,
	    const struct digest *, struct index_link_info *info);
/*
 * Set the link's touched to now when it is older than before (unix
 * seconds; so that frequent callers write rarely). 1 done or fresh
 * enough, 0 absent, -1 error.
 */
int	index_link_touch(struct index *, const char *repo,
	    const struct digest *, int64_t before);
/* Is d linked in any repository? 1 yes, 0 no, -1 error (snapshot). */
int	index_digest_linked(struct index *, const struct digest *);
/* The repositories that link d. Caller frees *repos. 0 or -1. */
int	index_digest_repos(struct index *, const struct digest *,
	    char ***repos, size_t *count);
/*
 * Every link in (repo, digest) key order after *after (NULL: from the
 * first), at most n, in one snapshot. Caller frees *out. 0 or -1.
 */
int	index_link_list(struct index *, const struct index_link_entry *after,
	    size_t n, struct index_link_entry **out, size_t *count);
/* 1 deleted, 0 absent, -1 error. */
int	index_link_delete(struct index *, const char *repo,
	    const struct digest *);

/*
 * Pull recency (access.db): when repo's link to d was last pulled (unix
 * seconds; 0 and 0 returned when never recorded). index_access_touch
 * writes now unless the stored time is newer than now - granularity,
 * without flushing the log: 1 written, 0 recent enough, -1 error.
 */
int	index_access_get(struct index *, const char *repo,
	    const struct digest *, int64_t *last_pull);
int	index_access_touch(struct index *, const char *repo,
	    const struct digest *, int64_t now, int64_t granularity);
/* 1 deleted, 0 absent, -1 error. */
int	index_access_delete(struct index *, const char *repo,
	    const struct digest *);

/*
 * Cache eviction (index_cache.c): in one transaction, remove repo's link
 * to d when its upstream is still upstream and it was not touched after
 * cutoff; for a manifest, only when no tag pushed here points at it, and
 * then with the cached tags of repo that point at it and its referrer
 * entry. Its pull record goes too. 1 removed, 0 kept or absent, -1.
 */
int	index_cache_evict(struct index *, const char *repo,
	    const struct digest *, const char *upstream, int64_t cutoff);

int	index_manifest_get(struct index *, const struct digest *,
	    struct index_manifest *);
void	index_manifest_clear(struct index_manifest *);

/*
 * Record a pushed (or cached) manifest in one transaction: the manifest
 * record, its link in repo, the tag (when tag is not NULL) and, when the
 * manifest has a subject, the referrer entry.
 */
int	index_manifest_commit(struct index *, const char *repo,
	    const struct digest *, const struct index_manifest *,
	    const char *tag, const struct index_tag *);
/*
 * index_manifest_commit, with the manifest link's upstream (the upstream
 * key it was cached from; NULL or "" when pushed) and, for a pushed
 * manifest, its references: in the same transaction, the link in repo of
 * each of the nrefs references is re-read (with locks) and touched (one
 * with mr_is_manifest must be a manifest link). 1 committed, 0 a
 * reference is not linked (*missing, when not NULL, is its position;
 * nothing written), -1 error.
 */
int	index_manifest_commit_refs(struct index *, const char *repo,
	    const struct digest *, const struct index_manifest *,
	    const char *tag, const struct index_tag *, const char *upstream,
	    const struct manifest_ref *refs, size_t nrefs, size_t *missing);
/*
 * Remove a manifest from repo in one transaction: its link, every tag of
 * repo that points at it, and its referrer entry. The global manifest
 * record stays (other repositories may link it). 1 deleted, 0 absent, -1.
 */
int	index_manifest_unlink(struct index *, const char *repo,
	    const struct digest *);

/* Manifests in repo whose subject is subject. Caller frees *out. */
int	index_referrer_list(struct index *, const char *repo,
	    const struct digest *subject, struct digest **out, size_t *count);

/* Repositories with at least one link, for the catalog. */
int	index_repo_list(struct index *, const char *last, size_t n,
	    char ***repos, size_t *count);

int	index_upload_put(struct index *, const char *id,
	    const struct index_upload *);
int	index_upload_get(struct index *, const char *id, struct index_upload *);
/* 1 deleted, 0 absent, -1 error. */
int	index_upload_delete(struct index *, const char *id);
/*
 * Move an upload's offset from expect to next (and iu_updated to now) if
 * it is still at expect: 0 done, 1 absent or at another offset, -1 error.
 */
int	index_upload_advance(struct index *, const char *id, int64_t expect,
	    int64_t next);
/* Ids of uploads not updated since before (unix seconds), at most n. */
int	index_upload_expired(struct index *, int64_t before, size_t n,
	    char ***ids, size_t *count);

/*
 * For the garbage collection (index_gc.c): listings in key order in one
 * snapshot each, after *after (NULL: from the first), at most n; caller
 * frees *out. 0 or -1.
 */
struct index_tag_entry {
	char		 ite_repo[DEPOT_REPO_MAX + 1];
	char		 ite_tag[DEPOT_TAG_MAX + 1];
	struct digest	 ite_digest;
};
int	index_tag_list_all(struct index *, const struct index_tag_entry *after,
	    size_t n, struct index_tag_entry **out, size_t *count);
/* The repositories of the upload sessions (repeats possible). */
int	index_upload_repos(struct index *, char ***repos, size_t *count);
/* The blobs (.tgz and .prov) of every hosted Helm chart version. */
int	index_helm_blobs(struct index *, struct digest **out, size_t *count);
/*
 * One transaction with locks: remove the link (repo, d) unless it was
 * touched after cutoff, or (a manifest link) a tag of repo points at d;
 * a manifest link's referrer entry goes with it. 1 removed, 0 kept or
 * absent, -1 error.
 */
int	index_link_expire(struct index *, const char *repo,
	    const struct digest *, int64_t cutoff);
/*
 * One transaction with locks: when no repository links d and no hosted
 * chart names it, drop its manifest record and return 1 (the caller
 * then removes the file); 0 when it is referenced, -1 error.
 */
int	index_digest_release(struct index *, const struct digest *);

/*
 * Delete what the index holds for registry (no "/"): the tags, links,
 * referrer entries and catalog rows of every repository "registry/...",
 * and the uploads into them, in bounded transactions. Manifest records
 * stay, and the blobs become garbage for a later collection. Returns the
 * number of repositories removed, or -1.
 */
int	index_registry_purge(struct index *, const char *registry);

#endif /* DEPOT_INDEX_H */
