/*
 * helm_index.h: Helm index files on disk. A member (the hosted charts
 * of a registry, or one upstream's index) is kept in a compact form, a
 * "member file": its entries sorted by name, then newest version first,
 * each with the entry's YAML already rendered (chart URLs rewritten to
 * charts/<name>-<version>.tgz). An upstream's index.yaml becomes one by
 * a streaming parse (libyaml events, never a tree); the index.yaml a
 * registry serves is rendered from its members by a merge that holds
 * one chart name's versions at a time.
 *
 * Everything here works on files only (no index, no event loop), so it
 * runs in offload threads.
 */
#ifndef DEPOT_HELM_INDEX_H
#define DEPOT_HELM_INDEX_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct helm_record {
	char	*hr_name;
	char	*hr_version;
	char	*hr_digest;	/* hex SHA-256 of the .tgz, "" when unknown */
	char	*hr_url;	/* where to fetch it (absolute), "" hosted */
	char	*hr_yaml;	/* the entry, a YAML block mapping */
	size_t	 hr_yaml_len;
};

void	helm_record_clear(struct helm_record *);

/*
 * Write the member file path (temp file, fsync, rename) from n records,
 * sorted here, marked with generation gen; when the file there has a
 * newer generation already, nothing is written (1). The records' strings
 * stay the caller's. 0 written, 1 skipped, -1 with *cause.
 */
int	helm_member_write(const char *path, int64_t gen,
	    struct helm_record *, size_t n, char **cause);
/*
 * Change one entry of the member file path for generation gen: rec
 * replaces (or adds) name+version, or with rec NULL the entry goes. Only
 * applies on top of generation gen - 1 (a missing file is generation 0):
 * 0 applied, 1 the file has gen or newer already (nothing to do), 2 it
 * is older than gen - 1 (a change is missing: write it whole with
 * helm_member_write), -1 with *cause.
 */
int	helm_member_apply(const char *path, int64_t gen, const char *name,
	    const char *version, const struct helm_record *rec, char **cause);
/* The generation of a member file: 0, or -1 (errno ENOENT when none). */
int	helm_member_gen(const char *path, int64_t *gen);
/*
 * The record of chart file "<name>-<version>.tgz" in a member file: 1
 * (rec filled: clear it), 0 not there (or no member file), -1 error.
 */
int	helm_member_find(const char *path, const char *file,
	    struct helm_record *rec);

/* A chart version of a merged listing and the member it comes from. */
struct helm_listed {
	struct helm_record	 hl_rec;
	size_t			 hl_member;	/* index into members */
};

/*
 * One page of the merge of n member files (in precedence order, as
 * helm_render merges them: by name, newest version first, the first
 * member with a name+version wins): the versions after after_name and
 * after_version (both NULL: from the start; after_version NULL: after
 * every version of after_name), of the names that hold match (any case;
 * NULL: all), at most want of them, into *out (free with
 * helm_listed_free); *more when there are more. Reads each member from
 * its start, one chart name's versions at a time. 0, or -1 with *cause.
 */
int	helm_member_page(const char *const *members, size_t n,
	    const char *match, const char *after_name,
	    const char *after_version, size_t want, struct helm_listed **out,
	    size_t *count, int *more, char **cause);
void	helm_listed_free(struct helm_listed *, size_t);
/*
 * The value of top-level key in an entry's YAML when it is a scalar
 * (appVersion, description, created). Caller frees; NULL when absent.
 */
char	*helm_entry_scalar(const char *yaml, size_t len, const char *key);

/*
 * Parse the upstream index.yaml at in_path, fetched from index_url,
 * into the member file out_path, streaming; chart URLs are resolved
 * against index_url. Entries whose name breaks Helm's rule, whose
 * version is not fit for a file name or that give name, version, digest
 * or urls twice are left out (counted in *skipped).
 * 0 with *entries, or -1 with *cause.
 */
int	helm_index_parse(const char *in_path, const char *index_url,
	    const char *out_path, size_t *entries, size_t *skipped,
	    char **cause);

/*
 * Render the index.yaml of n member files (in precedence order; a
 * missing one counts as empty) into dir: index-<sha256>.yaml and its
 * .gz, then the symlink "current" is switched to them by rename. The
 * lock file dir/lock is held meanwhile, so renders of one dir do not
 * overlap and the last one reads the newest members. 0 or -1, *cause.
 */
int	helm_render(const char *dir, const char *const *members, size_t n,
	    char **cause);
/*
 * The served index of dir: its file name (index-<sha256>.yaml, in name,
 * namelen bytes) and an open descriptor of it or, with gz, of its .gz.
 * 0, or -1 (errno ENOENT: nothing rendered yet).
 */
int	helm_render_open(const char *dir, int gz, char *name, size_t namelen,
	    int *fd);

/*
 * Resolve reference ref against base (RFC 3986, section 5.2), without
 * fragment. Caller frees *out. 0, or -1 when base is no absolute URL.
 */
int	helm_url_resolve(const char *base, const char *ref, char **out);
/* 1 when version is safe in a file name and a URL: [A-Za-z0-9.+_-]+. */
int	helm_version_safe(const char *version);
/* 1 when digest is a sha256 digest in hex (64 lower-case digits). */
int	helm_digest_ok(const char *digest);

/*
 * Call fn(arg, hex) with the hex SHA-256 of each chart a member file
 * lists (entries whose digest is not known are left out): the charts an
 * upstream's index names, for depotctl fsck. 0 (also when there is no
 * file), or -1 when it cannot be read.
 */
int	helm_member_digests(const char *path, void (*fn)(void *, const char *),
	    void *arg);

#endif /* DEPOT_HELM_INDEX_H */
