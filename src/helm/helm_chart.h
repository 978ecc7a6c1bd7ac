/*
 * helm_chart.h: what depot knows of a chart archive: its Chart.yaml,
 * read with libarchive and libyaml and checked as Helm checks it; the
 * chart name rule; SemVer 2 versions and their order; an index entry as
 * JSON and as YAML.
 */
#ifndef DEPOT_HELM_CHART_H
#define DEPOT_HELM_CHART_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

#define HELM_NAME_MAX		250
#define HELM_VERSION_MAX	128
#define HELM_CHART_YAML_MAX	(1024 * 1024)	/* bytes of Chart.yaml */
/* Bytes of all the files of a chart archive, unpacked. */
#define HELM_CHART_UNPACKED_MAX	(100LL * 1024 * 1024)

struct helm_chart {
	char	*hc_name;
	char	*hc_version;
	json_t	*hc_meta;	/* the Chart.yaml fields Helm keeps */
};

/*
 * Read and check the Chart.yaml of the chart archive (.tgz) at path:
 * 0, or -1 with *cause (caller frees) saying what is wrong, fit for the
 * client. Reads the whole archive, so a truncated or corrupt one is
 * refused. Takes milliseconds: call it off the event loop.
 */
int	helm_chart_read(const char *path, struct helm_chart *, char **cause);
/*
 * Check the Chart.yaml text yaml (len bytes) as helm_chart_read does:
 * 0, or -1 with *cause (caller frees). Pure.
 */
int	helm_chart_parse(const char *yaml, size_t len, struct helm_chart *,
	    char **cause);
void	helm_chart_clear(struct helm_chart *);

/* Helm's rule for chart names: ^[A-Za-z0-9._-]+$, not "." or "..". */
int	helm_name_ok(const char *);
/* 1 when s is a SemVer 2.0.0 version (no "v" prefix). */
int	helm_semver_ok(const char *);
/*
 * SemVer precedence: < 0 when a is older than b, > 0 newer, 0 equal.
 * Build metadata breaks ties bytewise so that the order is total; a
 * version that is no SemVer is older than any that is, and those compare
 * bytewise.
 */
int	helm_semver_cmp(const char *a, const char *b);

/*
 * The index entry of a hosted chart as a JSON object text: the kept
 * Chart.yaml fields, created (RFC 3339, UTC), digest (hex SHA-256 of the
 * .tgz) and urls ["charts/<name>-<version>.tgz"]. Caller frees.
 */
char	*helm_entry_json(const struct helm_chart *, const char *digest_hex,
	    time_t created);
/*
 * A JSON value rendered as a YAML block (a mapping's lines at column 0),
 * strings double-quoted. NULL on a bad JSON text. Caller frees.
 */
char	*helm_json_yaml(const char *json, size_t *len);
/* 1 when s may be a plain (unquoted) YAML key and still read as s. */
int	helm_yaml_key_plain(const char *s);
/* s as a YAML map key: plain when it may be, else quoted. Caller frees. */
char	*helm_yaml_quote(const char *s);
/* The file name of a chart: "<name>-<version>.tgz". Caller frees. */
char	*helm_chart_file(const char *name, const char *version);

#endif /* DEPOT_HELM_CHART_H */
