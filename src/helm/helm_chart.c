/*
 * helm_chart.c: a chart archive's Chart.yaml (libarchive reads the tar
 * and gzip, libyaml the YAML), Helm's name rule, SemVer 2 versions and
 * their precedence, and an index entry as JSON (the hosted charts' rows)
 * and as YAML (the rendered index.yaml).
 *
 * Chart.yaml is small (at most HELM_CHART_YAML_MAX bytes), so it is read
 * into memory and turned into a jansson tree; index files never are (see
 * helm_index.c).
 */
#include <sys/types.h>

#include <ctype.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <yaml.h>

#include "helm/helm_chart.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

#define HELM_ARCHIVE_ENTRIES_MAX	100000
#define HELM_YAML_DEPTH_MAX		64

/* The Chart.yaml fields Helm keeps in an index entry (its Metadata). */
static const char *const helm_meta_keys[] = {
	"annotations", "apiVersion", "appVersion", "condition",
	"dependencies", "deprecated", "description", "home", "icon",
	"keywords", "kubeVersion", "maintainers", "name", "sources", "tags",
	"type", "version"
};

struct helm_buf {
	char	*b_data;
	size_t	 b_len;
	size_t	 b_size;
};

static int	helm_archive_find(const char *, char **, size_t *, char **);
static int	helm_yaml_tree(const char *, size_t, json_t **, char **);
static json_t	*helm_yaml_node(yaml_parser_t *, yaml_event_t *, int, char **);
static json_t	*helm_yaml_scalar(const yaml_event_t *);
static int	helm_meta_check(json_t *, struct helm_chart *, char **);
static int	helm_meta_key(const char *);
static int	helm_semver_split(const char *, size_t *, size_t *);
static int	helm_ident_ok(const char *, size_t, int);
static int	helm_num_cmp(const char *, size_t, const char *, size_t);
static int	helm_pre_cmp(const char *, size_t, const char *, size_t);
static int	helm_buf_write(void *, unsigned char *, size_t);
static int	helm_emit_scalar(yaml_emitter_t *, const char *, size_t, int);
static int	helm_emit_json(yaml_emitter_t *, json_t *);
static int	helm_strptr_cmp(const void *, const void *);
static int	helm_strings_ok(json_t *, const char *const *);
static int	helm_list_ok(json_t *);
static int	helm_meta_types(json_t *, char **);

void
helm_chart_clear(struct helm_chart *c)
{
	free(c->hc_name);
	free(c->hc_version);
	json_decref(c->hc_meta);
	memset(c, 0, sizeof(*c));
}

int
helm_chart_read(const char *path, struct helm_chart *c, char **cause)
{
	char	*yaml = NULL;
	size_t	 len = 0;
	int	 ret = -1;

	memset(c, 0, sizeof(*c));
	if (helm_archive_find(path, &yaml, &len, cause) == -1)
		goto fail;
	if (helm_chart_parse(yaml, len, c, cause) == -1)
		goto fail;
	ret = 0;
fail:
	free(yaml);
	return (ret);
}

int
helm_chart_parse(const char *yaml, size_t len, struct helm_chart *c,
    char **cause)
{
	json_t	*tree = NULL;
	int	 ret = -1;

	memset(c, 0, sizeof(*c));
	if (helm_yaml_tree(yaml, len, &tree, cause) == -1)
		goto fail;
	if (helm_meta_check(tree, c, cause) == -1)
		goto fail;
	ret = 0;
fail:
	json_decref(tree);
	if (ret == -1)
		helm_chart_clear(c);
	return (ret);
}

/*
 * Walk the whole archive; keep <top>/Chart.yaml, top being the first
 * component every entry shares. Caller frees *yaml.
 */
static int
helm_archive_find(const char *path, char **yaml, size_t *len, char **cause)
{
	struct archive		*a;
	struct archive_entry	*e;
	const char		*name, *slash;
	char			*top = NULL;
	size_t			 n, entries = 0;
	la_int64_t		 size, unpacked = 0;
	ssize_t			 got;
	int			 r, ret = -1;

	a = archive_read_new();
	archive_read_support_filter_gzip(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_filename(a, path, 64 * 1024) != ARCHIVE_OK) {
		xasprintf(cause, "not a chart archive (.tgz): %s",
		    archive_error_string(a));
		goto fail;
	}
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		if (++entries > HELM_ARCHIVE_ENTRIES_MAX) {
			xasprintf(cause, "chart archive has more than %d files",
			    HELM_ARCHIVE_ENTRIES_MAX);
			goto fail;
		}
		/* stop before unpacking more than the limit */
		size = archive_entry_size(e);
		if (size > 0)
			unpacked += size;
		if (size < 0 || unpacked > HELM_CHART_UNPACKED_MAX) {
			xasprintf(cause, "chart archive is larger than %lld "
			    "bytes unpacked", (long long)HELM_CHART_UNPACKED_MAX);
			goto fail;
		}
		name = archive_entry_pathname(e);
		if (name == NULL || *name == '\0' || *name == '/' ||
		    (slash = strchr(name, '/')) == NULL) {
			if (name != NULL && archive_entry_filetype(e) == AE_IFDIR)
				continue;
			xasprintf(cause, "chart archive entry \"%s\" is not "
			    "inside the chart's directory", name ? name : "");
			goto fail;
		}
		n = slash - name;
		if (top == NULL)
			top = xstrndup(name, n);
		else if (strlen(top) != n || strncmp(top, name, n) != 0) {
			xasprintf(cause, "chart archive holds more than one "
			    "top directory (%s and %.*s)", top, (int)n, name);
			goto fail;
		}
		if (strcmp(slash + 1, "Chart.yaml") != 0 || *yaml != NULL)
			continue;
		size = archive_entry_size(e);
		if (size > HELM_CHART_YAML_MAX) {
			xasprintf(cause, "Chart.yaml is larger than %d bytes",
			    HELM_CHART_YAML_MAX);
			goto fail;
		}
		*yaml = xmalloc((size_t)size + 1);
		got = archive_read_data(a, *yaml, (size_t)size + 1);
		if (got < 0 || got != size) {
			xasprintf(cause, "chart archive is corrupt: %s",
			    got < 0 ? archive_error_string(a) : "short Chart.yaml");
			goto fail;
		}
		(*yaml)[got] = '\0';
		*len = (size_t)got;
	}
	if (r != ARCHIVE_EOF) {
		xasprintf(cause, "chart archive is corrupt or truncated: %s",
		    archive_error_string(a));
		goto fail;
	}
	if (*yaml == NULL) {
		xasprintf(cause, "chart archive has no Chart.yaml in its "
		    "top directory");
		goto fail;
	}
	ret = 0;
fail:
	if (ret == -1) {
		free(*yaml);
		*yaml = NULL;
	}
	free(top);
	archive_read_free(a);
	return (ret);
}

/* Chart.yaml as a tree: one document, a mapping at the top. */
static int
helm_yaml_tree(const char *yaml, size_t len, json_t **out, char **cause)
{
	yaml_parser_t	 p;
	yaml_event_t	 ev;
	json_t		*root = NULL;
	int		 ret = -1, type;

	yaml_parser_initialize(&p);
	yaml_parser_set_input_string(&p, (const unsigned char *)yaml, len);
	for (;;) {
		if (!yaml_parser_parse(&p, &ev)) {
			xasprintf(cause, "Chart.yaml is not valid YAML: %s "
			    "(line %zu)", p.problem ? p.problem : "error",
			    p.problem_mark.line + 1);
			goto fail;
		}
		type = ev.type;
		if (type == YAML_STREAM_END_EVENT ||
		    type == YAML_DOCUMENT_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		if (type == YAML_STREAM_START_EVENT ||
		    type == YAML_DOCUMENT_START_EVENT) {
			yaml_event_delete(&ev);
			continue;
		}
		root = helm_yaml_node(&p, &ev, 0, cause);
		if (root == NULL)
			goto fail;
	}
	if (root == NULL || !json_is_object(root)) {
		xasprintf(cause, "Chart.yaml is not a mapping");
		goto fail;
	}
	*out = root;
	root = NULL;
	ret = 0;
fail:
	json_decref(root);
	yaml_parser_delete(&p);
	return (ret);
}

/* The node that ev starts (ev is consumed). NULL and *cause on error. */
static json_t *
helm_yaml_node(yaml_parser_t *p, yaml_event_t *ev, int depth, char **cause)
{
	yaml_event_t	 next;
	json_t		*node = NULL, *key = NULL, *value;
	int		 type = ev->type;

	if (depth > HELM_YAML_DEPTH_MAX) {
		xasprintf(cause, "Chart.yaml nests too deep");
		yaml_event_delete(ev);
		return (NULL);
	}
	if (type == YAML_SCALAR_EVENT) {
		if (memchr(ev->data.scalar.value, '\0',
		    ev->data.scalar.length) != NULL) {
			xasprintf(cause, "Chart.yaml: a value holds a NUL "
			    "byte");
			yaml_event_delete(ev);
			return (NULL);
		}
		node = helm_yaml_scalar(ev);
		yaml_event_delete(ev);
		return (node);
	}
	if (type == YAML_ALIAS_EVENT) {
		yaml_event_delete(ev);
		return (json_null());
	}
	yaml_event_delete(ev);
	if (type != YAML_MAPPING_START_EVENT &&
	    type != YAML_SEQUENCE_START_EVENT) {
		xasprintf(cause, "Chart.yaml: unexpected YAML event");
		return (NULL);
	}
	node = type == YAML_MAPPING_START_EVENT ? json_object() : json_array();
	for (;;) {
		if (!yaml_parser_parse(p, &next)) {
			xasprintf(cause, "Chart.yaml is not valid YAML: %s "
			    "(line %zu)", p->problem ? p->problem : "error",
			    p->problem_mark.line + 1);
			goto fail;
		}
		if (next.type == YAML_MAPPING_END_EVENT ||
		    next.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&next);
			break;
		}
		if ((value = helm_yaml_node(p, &next, depth + 1, cause)) ==
		    NULL)
			goto fail;
		if (json_is_array(node)) {
			json_array_append_new(node, value);
			continue;
		}
		if (key == NULL) {
			if (!json_is_string(key = value)) {
				xasprintf(cause, "Chart.yaml: a mapping key is "
				    "not a string");
				goto fail;
			}
			continue;
		}
		json_object_set_new(node, json_string_value(key), value);
		json_decref(key);
		key = NULL;
	}
	json_decref(key);
	return (node);
fail:
	json_decref(key);
	json_decref(node);
	return (NULL);
}

/* A plain true/false is a boolean, null/~/empty is null; else a string. */
static json_t *
helm_yaml_scalar(const yaml_event_t *ev)
{
	const char	*v = (const char *)ev->data.scalar.value;
	size_t		 n = ev->data.scalar.length;
	json_t		*s;

	if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    ev->data.scalar.tag == NULL) {
		if (strcmp(v, "true") == 0 || strcmp(v, "True") == 0)
			return (json_true());
		if (strcmp(v, "false") == 0 || strcmp(v, "False") == 0)
			return (json_false());
		if (n == 0 || strcmp(v, "null") == 0 || strcmp(v, "~") == 0)
			return (json_null());
	}
	if ((s = json_stringn(v, n)) == NULL)	/* not UTF-8 */
		s = json_string("");
	return (s);
}

static int
helm_meta_key(const char *key)
{
	size_t	 i;

	for (i = 0; i < sizeof(helm_meta_keys) / sizeof(helm_meta_keys[0]);
	    i++)
		if (strcmp(key, helm_meta_keys[i]) == 0)
			return (1);
	return (0);
}

/* Whether v is null or an object whose fields named in keys are strings. */
static int
helm_strings_ok(json_t *v, const char *const *keys)
{
	const char	*key;
	json_t		*f;
	size_t		 i;

	if (!json_is_object(v))
		return (0);
	json_object_foreach(v, key, f)
		for (i = 0; keys[i] != NULL; i++)
			if (strcmp(key, keys[i]) == 0 && !json_is_null(f) &&
			    !json_is_string(f))
				return (0);
	return (1);
}

/* Whether v is a list of strings. */
static int
helm_list_ok(json_t *v)
{
	json_t	*e;
	size_t	 i;

	if (!json_is_array(v))
		return (0);
	json_array_foreach(v, i, e)
		if (!json_is_string(e))
			return (0);
	return (1);
}

/*
 * The fields have the types Helm gives them (or it could not read the
 * index they go into). 0, or -1 and *cause naming the field.
 */
static int
helm_meta_types(json_t *tree, char **cause)
{
	static const char *const strs[] = { "apiVersion", "appVersion",
	    "condition", "description", "home", "icon", "kubeVersion",
	    "name", "tags", "type", "version", NULL };
	static const char *const maint[] = { "name", "email", "url", NULL };
	static const char *const dep[] = { "name", "version", "repository",
	    "condition", "alias", NULL };
	const char	*key, *why = NULL;
	json_t		*v, *e;
	size_t		 i;

	json_object_foreach(tree, key, v) {
		if (json_is_null(v))
			continue;
		for (i = 0; strs[i] != NULL; i++)
			if (strcmp(key, strs[i]) == 0 && !json_is_string(v))
				why = "a string";
		if (strcmp(key, "deprecated") == 0 && !json_is_boolean(v))
			why = "true or false";
		if ((strcmp(key, "keywords") == 0 ||
		    strcmp(key, "sources") == 0) && !helm_list_ok(v))
			why = "a list of strings";
		if (strcmp(key, "maintainers") == 0) {
			if (!json_is_array(v))
				why = "a list of name, email and url mappings";
			else
				json_array_foreach(v, i, e)
					if (!helm_strings_ok(e, maint))
						why = "a list of name, email "
						    "and url mappings";
		}
		if (strcmp(key, "dependencies") == 0) {
			if (!json_is_array(v))
				why = "a list of mappings";
			else
				json_array_foreach(v, i, e)
					if (!helm_strings_ok(e, dep) ||
					    (json_object_get(e, "tags") !=
					    NULL && !json_is_null(json_object_get(
					    e, "tags")) && !helm_list_ok(
					    json_object_get(e, "tags"))))
						why = "a list of mappings";
		}
		if (strcmp(key, "annotations") == 0) {
			if (!json_is_object(v))
				why = "a mapping of strings";
			else {
				const char	*k;

				json_object_foreach(v, k, e)
					if (!json_is_string(e))
						why = "a mapping of strings";
			}
		}
		if (why != NULL) {
			xasprintf(cause, "Chart.yaml: field %s must be %s",
			    key, why);
			return (-1);
		}
	}
	return (0);
}

/* Helm's checks of the metadata; keep the fields it keeps. */
static int
helm_meta_check(json_t *tree, struct helm_chart *c, char **cause)
{
	const char	*key, *api, *name, *version, *type;
	json_t		*value;

	api = json_string_value(json_object_get(tree, "apiVersion"));
	name = json_string_value(json_object_get(tree, "name"));
	version = json_string_value(json_object_get(tree, "version"));
	type = json_string_value(json_object_get(tree, "type"));
	if (api == NULL || (strcmp(api, "v1") != 0 && strcmp(api, "v2") != 0)) {
		xasprintf(cause, "Chart.yaml: apiVersion must be v1 or v2");
		return (-1);
	}
	if (name == NULL || !helm_name_ok(name)) {
		xasprintf(cause, "Chart.yaml: chart name \"%s\" is invalid: "
		    "it must match ^[A-Za-z0-9._-]+$ (at most %d characters, "
		    "not \".\" or \"..\")", name ? name : "", HELM_NAME_MAX);
		return (-1);
	}
	if (version == NULL || !helm_semver_ok(version)) {
		xasprintf(cause, "Chart.yaml: version \"%s\" is not a "
		    "SemVer 2 version (MAJOR.MINOR.PATCH[-PRE][+BUILD])",
		    version ? version : "");
		return (-1);
	}
	if (type != NULL && strcmp(type, "application") != 0 &&
	    strcmp(type, "library") != 0) {
		xasprintf(cause, "Chart.yaml: type must be application or "
		    "library");
		return (-1);
	}
	if (helm_meta_types(tree, cause) == -1)
		return (-1);
	c->hc_name = xstrdup(name);
	c->hc_version = xstrdup(version);
	c->hc_meta = json_object();
	json_object_foreach(tree, key, value)
		if (helm_meta_key(key) && !json_is_null(value))
			json_object_set(c->hc_meta, key, value);
	return (0);
}

int
helm_name_ok(const char *s)
{
	size_t	 n = strlen(s), i;

	if (n == 0 || n > HELM_NAME_MAX || strcmp(s, ".") == 0 ||
	    strcmp(s, "..") == 0)
		return (0);
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' &&
		    s[i] != '_' && s[i] != '-')
			return (0);
	return (1);
}

/* Dot-separated identifiers of s[0..n): numeric ones without leading 0. */
static int
helm_ident_ok(const char *s, size_t n, int numeric_only)
{
	size_t	 i, start = 0;
	int	 digits = 1;

	for (i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			if (i == start)
				return (0);
			if (digits && numeric_only == 1 &&
			    s[start] == '0' && i - start > 1)
				return (0);
			if (numeric_only == 2 && !digits)
				return (0);
			start = i + 1;
			digits = 1;
			continue;
		}
		if (isdigit((unsigned char)s[i]))
			continue;
		if (!isalpha((unsigned char)s[i]) && s[i] != '-')
			return (0);
		digits = 0;
	}
	return (1);
}

/*
 * Split a SemVer: *core bytes of MAJOR.MINOR.PATCH, *pre the end of the
 * pre-release (== *core when none). 0, or -1 when s is no SemVer 2.
 */
static int
helm_semver_split(const char *s, size_t *core, size_t *pre)
{
	size_t	 n = strlen(s), i, dots = 0, build;

	if (n == 0 || n > HELM_VERSION_MAX)
		return (-1);
	for (i = 0; i < n && (isdigit((unsigned char)s[i]) || s[i] == '.');
	    i++)
		if (s[i] == '.')
			dots++;
	if (dots != 2 || !helm_ident_ok(s, i, 2) || !helm_ident_ok(s, i, 1))
		return (-1);
	*core = i;
	build = n;
	if (strchr(s + i, '+') != NULL)
		build = strchr(s + i, '+') - s;
	if (i < build) {
		if (s[i] != '-' || !helm_ident_ok(s + i + 1, build - i - 1, 1))
			return (-1);
	}
	*pre = build;
	if (build < n && !helm_ident_ok(s + build + 1, n - build - 1, 0))
		return (-1);
	return (0);
}

int
helm_semver_ok(const char *s)
{
	size_t	 core, pre;

	return (helm_semver_split(s, &core, &pre) == 0);
}

/* Numbers of digits only, no leading zeros: longer is bigger. */
static int
helm_num_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	int	 c;

	if (an != bn)
		return (an < bn ? -1 : 1);
	c = memcmp(a, b, an);
	return (c < 0 ? -1 : c > 0);
}

/* Pre-release precedence of two identifier lists (SemVer 11.4). */
static int
helm_pre_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	size_t	 ai = 0, bi = 0, ae, be;
	int	 anum, bnum, c;

	while (ai < an && bi < bn) {
		for (ae = ai; ae < an && a[ae] != '.'; ae++)
			;
		for (be = bi; be < bn && b[be] != '.'; be++)
			;
		anum = strspn(a + ai, "0123456789") >= ae - ai;
		bnum = strspn(b + bi, "0123456789") >= be - bi;
		if (anum && bnum)
			c = helm_num_cmp(a + ai, ae - ai, b + bi, be - bi);
		else if (anum || bnum)
			c = anum ? -1 : 1;
		else {
			c = memcmp(a + ai, b + bi,
			    ae - ai < be - bi ? ae - ai : be - bi);
			if (c == 0 && ae - ai != be - bi)
				c = ae - ai < be - bi ? -1 : 1;
		}
		if (c != 0)
			return (c < 0 ? -1 : 1);
		ai = ae + 1;
		bi = be + 1;
	}
	if (ai < an)
		return (1);
	if (bi < bn)
		return (-1);
	return (0);
}

int
helm_semver_cmp(const char *a, const char *b)
{
	size_t	 ac, ap, bc, bp, ai, bi, ae, be;
	int	 av, bv, c, part;

	av = helm_semver_split(a, &ac, &ap) == 0;
	bv = helm_semver_split(b, &bc, &bp) == 0;
	if (!av || !bv) {
		if (av != bv)
			return (av ? 1 : -1);
		c = strcmp(a, b);
		return (c < 0 ? -1 : c > 0);
	}
	for (ai = bi = 0, part = 0; part < 3; part++, ai = ae + 1,
	    bi = be + 1) {
		for (ae = ai; ae < ac && a[ae] != '.'; ae++)
			;
		for (be = bi; be < bc && b[be] != '.'; be++)
			;
		if ((c = helm_num_cmp(a + ai, ae - ai, b + bi, be - bi)) != 0)
			return (c);
	}
	/* A version without pre-release is newer than one with. */
	if ((ap == ac) != (bp == bc))
		return (ap == ac ? 1 : -1);
	if (ap > ac && (c = helm_pre_cmp(a + ac + 1, ap - ac - 1,
	    b + bc + 1, bp - bc - 1)) != 0)
		return (c);
	c = strcmp(a + ap, b + bp);
	return (c < 0 ? -1 : c > 0);
}

char *
helm_chart_file(const char *name, const char *version)
{
	char	*s;

	xasprintf(&s, "%s-%s.tgz", name, version);
	return (s);
}

char *
helm_entry_json(const struct helm_chart *c, const char *digest_hex,
    time_t created)
{
	json_t		*e;
	struct tm	 tm;
	char		 when[32], *file, *url, *s;

	gmtime_r(&created, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	file = helm_chart_file(c->hc_name, c->hc_version);
	xasprintf(&url, "charts/%s", file);
	e = json_deep_copy(c->hc_meta);
	json_object_set_new(e, "created", json_string(when));
	json_object_set_new(e, "digest", json_string(digest_hex));
	json_object_set_new(e, "urls", json_pack("[s]", url));
	if ((s = json_dumps(e, JSON_SORT_KEYS | JSON_COMPACT)) == NULL)
		fatalx("%s: json_dumps", __func__);
	json_decref(e);
	free(file);
	free(url);
	return (s);
}

static int
helm_buf_write(void *arg, unsigned char *data, size_t size)
{
	struct helm_buf	*b = arg;

	if (b->b_len + size + 1 > b->b_size) {
		b->b_size = (b->b_len + size + 1) * 2;
		b->b_data = xreallocarray(b->b_data, 1, b->b_size);
	}
	memcpy(b->b_data + b->b_len, data, size);
	b->b_len += size;
	b->b_data[b->b_len] = '\0';
	return (1);
}

static int
helm_strptr_cmp(const void *a, const void *b)
{
	return (strcmp(*(const char *const *)a, *(const char *const *)b));
}

/* 1 when key may go unquoted: a word that YAML reads as a string. */
int
helm_yaml_key_plain(const char *s)
{
	static const char *const words[] = {
		"y", "n", "yes", "no", "true", "false", "on", "off", "null"
	};
	size_t			 i, n = strlen(s);

	if (n == 0 || !isalpha((unsigned char)s[0]) || strspn(s,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._/-") != n)
		return (0);
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcasecmp(s, words[i]) == 0)
			return (0);
	return (1);
}

static int
helm_emit_scalar(yaml_emitter_t *em, const char *s, size_t n, int plain)
{
	yaml_event_t	 ev;

	yaml_scalar_event_initialize(&ev, NULL, NULL,
	    (yaml_char_t *)(uintptr_t)s, (int)n, plain, !plain,
	    plain ? YAML_PLAIN_SCALAR_STYLE : YAML_DOUBLE_QUOTED_SCALAR_STYLE);
	return (yaml_emitter_emit(em, &ev) ? 0 : -1);
}

/* Emit v as YAML events: keys sorted, strings double-quoted. */
static int
helm_emit_json(yaml_emitter_t *em, json_t *v)
{
	yaml_event_t	 ev;
	const char	*key, **keys;
	json_t		*item;
	size_t		 i, n;
	char		 num[64];

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
		    YAML_BLOCK_MAPPING_STYLE);
		if (!yaml_emitter_emit(em, &ev))
			return (-1);
		n = json_object_size(v);
		keys = xcalloc(n ? n : 1, sizeof(*keys));
		i = 0;
		json_object_foreach(v, key, item)
			keys[i++] = key;
		qsort(keys, n, sizeof(*keys), helm_strptr_cmp);
		for (i = 0; i < n; i++)
			if (helm_emit_scalar(em, keys[i], strlen(keys[i]),
			    helm_yaml_key_plain(keys[i])) == -1 ||
			    helm_emit_json(em,
			    json_object_get(v, keys[i])) == -1) {
				free(keys);
				return (-1);
			}
		free(keys);
		yaml_mapping_end_event_initialize(&ev);
		return (yaml_emitter_emit(em, &ev) ? 0 : -1);
	case JSON_ARRAY:
		yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
		    YAML_BLOCK_SEQUENCE_STYLE);
		if (!yaml_emitter_emit(em, &ev))
			return (-1);
		json_array_foreach(v, i, item)
			if (helm_emit_json(em, item) == -1)
				return (-1);
		yaml_sequence_end_event_initialize(&ev);
		return (yaml_emitter_emit(em, &ev) ? 0 : -1);
	case JSON_STRING:
		return (helm_emit_scalar(em, json_string_value(v),
		    json_string_length(v), 0));
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		return (helm_emit_scalar(em, num, strlen(num), 1));
	case JSON_REAL:
		snprintf(num, sizeof(num), "%.17g", json_real_value(v));
		return (helm_emit_scalar(em, num, strlen(num), 1));
	case JSON_TRUE:
		return (helm_emit_scalar(em, "true", 4, 1));
	case JSON_FALSE:
		return (helm_emit_scalar(em, "false", 5, 1));
	default:
		return (helm_emit_scalar(em, "null", 4, 1));
	}
}

char *
helm_json_yaml(const char *json, size_t *len)
{
	yaml_emitter_t	 em;
	yaml_event_t	 ev;
	struct helm_buf	 b;
	json_t		*v;
	int		 ok = 0;

	if ((v = json_loads(json, JSON_DECODE_ANY, NULL)) == NULL)
		return (NULL);
	memset(&b, 0, sizeof(b));
	yaml_emitter_initialize(&em);
	yaml_emitter_set_output(&em, helm_buf_write, &b);
	yaml_emitter_set_unicode(&em, 1);
	yaml_emitter_set_width(&em, -1);
	yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
	if (!yaml_emitter_emit(&em, &ev))
		goto fail;
	yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
	if (!yaml_emitter_emit(&em, &ev) || helm_emit_json(&em, v) == -1)
		goto fail;
	yaml_document_end_event_initialize(&ev, 1);
	if (!yaml_emitter_emit(&em, &ev))
		goto fail;
	yaml_stream_end_event_initialize(&ev);
	if (!yaml_emitter_emit(&em, &ev) || !yaml_emitter_flush(&em))
		goto fail;
	ok = 1;
fail:
	yaml_emitter_delete(&em);
	json_decref(v);
	if (!ok) {
		free(b.b_data);
		return (NULL);
	}
	*len = b.b_len;
	return (b.b_data);
}

char *
helm_yaml_quote(const char *s)
{
	struct helm_buf	 b;
	char		 esc[8];
	const char	*p;

	memset(&b, 0, sizeof(b));
	if (helm_yaml_key_plain(s)) {
		helm_buf_write(&b, (unsigned char *)(uintptr_t)s, strlen(s));
		return (b.b_data);
	}
	helm_buf_write(&b, (unsigned char *)"\"", 1);
	for (p = s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = *p;
			helm_buf_write(&b, (unsigned char *)esc, 2);
		} else if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			snprintf(esc, sizeof(esc), "\\x%02x",
			    (unsigned char)*p);
			helm_buf_write(&b, (unsigned char *)esc, 4);
		} else
			helm_buf_write(&b, (unsigned char *)(uintptr_t)p, 1);
	}
	helm_buf_write(&b, (unsigned char *)"\"", 1);
	return (b.b_data);
}
