/*
 * manifest.c: OCI and Docker schema 2 manifests. Owns the decision of what
 * a pushed or fetched manifest body is (its effective media type), the
 * validation of every descriptor it holds, and the reading of the fields
 * the referrers API needs (subject, artifactType, annotations). Also the
 * matching of a client's Accept header against a manifest media type.
 * Nothing here recurses: the JSON tree is walked one known level at a time.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "depot.h"
#include "lib/digest.h"
#include "lib/manifest.h"
#include "lib/xmalloc.h"

/* Most descriptors one manifest may hold (config and layers, or entries). */
#define MANIFEST_REFS_MAX	10000
/* Longest media type accepted (RFC 6838: 127 for each of its two names). */
#define MANIFEST_TYPE_MAX	255
/* Longest piece of client input quoted back in an error message. */
#define MANIFEST_QUOTE_MAX	64
#define MANIFEST_WHERE_MAX	64

#define MT_DOCKER_SCHEMA1	"application/vnd.docker.distribution.manifest.v1+json"
#define MT_DOCKER_SCHEMA1_SIGNED \
	"application/vnd.docker.distribution.manifest.v1+prettyjws"
#define MT_JSON			"application/json"

/* How closely an Accept media range matches a type; higher is closer. */
enum manifest_match {
	MATCH_NONE,
	MATCH_ANY,		/* "*" "/" "*" */
	MATCH_SUBTYPE_ANY,	/* "application" "/" "*" */
	MATCH_EXACT
};

static const char *manifest_types[] = {
	MT_OCI_MANIFEST,
	MT_OCI_INDEX,
	MT_DOCKER_MANIFEST,
	MT_DOCKER_LIST,
};

#define MANIFEST_NTYPES	(sizeof(manifest_types) / sizeof(manifest_types[0]))

static int	manifest_fail(char **, const char *, ...) PRINTFLIKE(2, 3);
static void	manifest_quote(const char *, size_t, char *, size_t);
static int	manifest_type_valid(const char *);
static int	manifest_type_schema1(const char *);
static const char *manifest_type_canonical(const char *, size_t);
static int	manifest_load(const void *, size_t, json_t **, char **);
static int	manifest_schema_version(json_t *, char **);
static json_t	*manifest_optional(json_t *, const char *);
static int	manifest_string(json_t *, const char *, const char *,
		    const char **, char **);
static int	manifest_infer_type(json_t *, const char **, char **);
static size_t	manifest_content_type(const char *, const char **);
static int	manifest_unsupported(const char *, size_t, char **);
static int	manifest_resolve_type(json_t *, const char *, const char **,
		    char **);
static int	manifest_descriptor(json_t *, const char *,
		    struct manifest_ref *, char **);
static int	manifest_descriptors(json_t *, const char *, int,
		    struct manifest_info *, char **);
static int	manifest_parse_image(json_t *, struct manifest_info *, char **);
static int	manifest_parse_index(json_t *, struct manifest_info *, char **);
static int	manifest_parse_subject(json_t *, struct manifest_info *,
		    char **);
static int	manifest_parse_annotations(json_t *, struct manifest_info *,
		    char **);
static int	manifest_parse_artifact_type(json_t *, struct manifest_info *,
		    char **);
static void	manifest_trim(const char **, const char **);
static int	manifest_q_is_zero(const char *, const char *);
static enum manifest_match manifest_range_match(const char *, size_t,
		    const char *);

/* Set *cause (when wanted) and return -1. */
static int
manifest_fail(char **cause, const char *fmt, ...)
{
	va_list	 ap;

	if (cause == NULL)
		return (-1);
	va_start(ap, fmt);
	xvasprintf(cause, fmt, ap);
	va_end(ap);
	return (-1);
}

/* Copy at most max bytes of s into buf, printable ASCII only. */
static void
manifest_quote(const char *s, size_t max, char *buf, size_t len)
{
	size_t	 i;

	if (len == 0)
		return;
	for (i = 0; s[i] != '\0' && i < max && i + 4 < len; i++)
		buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (s[i] != '\0' && i + 4 <= len) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
}

/*
 * A media type as it may appear in a descriptor: "type/subtype" of
 * printable ASCII without spaces, short enough for a header.
 */
static int
manifest_type_valid(const char *s)
{
	const char	*slash;
	size_t		 i;

	if (s[0] == '\0' || strlen(s) > MANIFEST_TYPE_MAX)
		return (0);
	for (i = 0; s[i] != '\0'; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f || s[i] == '"' ||
		    s[i] == ',' || s[i] == ';' || s[i] == '\\')
			return (0);
	if ((slash = strchr(s, '/')) == NULL || slash == s ||
	    slash[1] == '\0' || strchr(slash + 1, '/') != NULL)
		return (0);
	return (1);
}

static int
manifest_type_schema1(const char *s)
{
	return (strcasecmp(s, MT_DOCKER_SCHEMA1) == 0 ||
	    strcasecmp(s, MT_DOCKER_SCHEMA1_SIGNED) == 0);
}

/* The known media type spelled by s[0..len) in any case, else NULL. */
static const char *
manifest_type_canonical(const char *s, size_t len)
{
	size_t	 i;

	for (i = 0; i < MANIFEST_NTYPES; i++)
		if (strlen(manifest_types[i]) == len &&
		    strncasecmp(manifest_types[i], s, len) == 0)
			return (manifest_types[i]);
	return (NULL);
}

int
manifest_media_type_known(const char *media_type)
{
	size_t	 i;

	if (media_type == NULL)
		return (0);
	for (i = 0; i < MANIFEST_NTYPES; i++)
		if (strcmp(manifest_types[i], media_type) == 0)
			return (1);
	return (0);
}

/* Decode the body: one JSON object, no duplicate keys. */
static int
manifest_load(const void *body, size_t len, json_t **root, char **cause)
{
	json_error_t	 error;
	char		 text[sizeof(error.text)];

	*root = NULL;
	if (body == NULL || len == 0)
		return (manifest_fail(cause, "manifest is empty"));
	/* JSON never holds a raw NUL, and jansson skips some of them. */
	if (memchr(body, '\0', len) != NULL)
		return (manifest_fail(cause,
		    "manifest is not valid JSON: it holds a NUL byte"));
	*root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &error);
	if (*root == NULL) {
		manifest_quote(error.text, sizeof(text) - 1, text,
		    sizeof(text));
		return (manifest_fail(cause, "manifest is not valid JSON: "
		    "%s (line %d, column %d)", text, error.line,
		    error.column));
	}
	if (!json_is_object(*root)) {
		json_decref(*root);
		*root = NULL;
		return (manifest_fail(cause,
		    "manifest is not a JSON object"));
	}
	return (0);
}

/* schemaVersion must be the integer 2; schema 1 gets its own message. */
static int
manifest_schema_version(json_t *root, char **cause)
{
	json_t	*v;

	v = json_object_get(root, "schemaVersion");
	if (v == NULL)
		return (manifest_fail(cause, "manifest has no schemaVersion"));
	if (!json_is_integer(v))
		return (manifest_fail(cause,
		    "manifest schemaVersion is not an integer"));
	if (json_integer_value(v) == 1)
		return (manifest_fail(cause,
		    "Docker schema 1 manifests are not supported"));
	if (json_integer_value(v) != 2)
		return (manifest_fail(cause,
		    "manifest schemaVersion %lld is not supported",
		    (long long)json_integer_value(v)));
	return (0);
}

/* An optional member; null counts as absent. */
static json_t *
manifest_optional(json_t *obj, const char *key)
{
	json_t	*v;

	if ((v = json_object_get(obj, key)) != NULL && json_is_null(v))
		return (NULL);
	return (v);
}

/* An optional string member that must be a valid media type. */
static int
manifest_string(json_t *obj, const char *where, const char *key,
    const char **out, char **cause)
{
	json_t	*v;
	char	 quoted[MANIFEST_QUOTE_MAX + 4];

	*out = NULL;
	if ((v = manifest_optional(obj, key)) == NULL)
		return (0);
	if (!json_is_string(v))
		return (manifest_fail(cause, "%s %s is not a string", where,
		    key));
	if (!manifest_type_valid(json_string_value(v))) {
		manifest_quote(json_string_value(v), MANIFEST_QUOTE_MAX,
		    quoted, sizeof(quoted));
		return (manifest_fail(cause, "%s %s \"%s\" is not a valid "
		    "media type", where, key, quoted));
	}
	*out = json_string_value(v);
	return (0);
}

/* Without any media type, the shape of the body tells what it is. */
static int
manifest_infer_type(json_t *root, const char **type, char **cause)
{
	int	 is_index, is_image;

	is_index = json_is_array(json_object_get(root, "manifests"));
	is_image = json_object_get(root, "config") != NULL &&
	    json_object_get(root, "layers") != NULL;
	if (is_index == is_image)
		return (manifest_fail(cause, "cannot determine the manifest "
		    "media type: set mediaType or Content-Type"));
	*type = is_index ? MT_OCI_INDEX : MT_OCI_MANIFEST;
	return (0);
}

/*
 * The bare media type of a Content-Type value, parameters and spaces
 * left out: its length, with *start pointing at it. 0 when there is none.
 */
static size_t
manifest_content_type(const char *content_type, const char **start)
{
	const char	*end;

	if (content_type == NULL)
		return (0);
	*start = content_type;
	if ((end = strchr(*start, ';')) == NULL)
		end = *start + strlen(*start);
	manifest_trim(start, &end);
	return (end - *start);
}

/* Refuse a media type that names no manifest depot stores. */
static int
manifest_unsupported(const char *type, size_t len, char **cause)
{
	char	*bare, quoted[MANIFEST_QUOTE_MAX + 4];
	int	 rc;

	bare = xstrndup(type, len);
	if (manifest_type_schema1(bare))
		rc = manifest_fail(cause,
		    "Docker schema 1 manifests are not supported");
	else {
		manifest_quote(bare, MANIFEST_QUOTE_MAX, quoted,
		    sizeof(quoted));
		rc = manifest_fail(cause, "unsupported manifest media type "
		    "\"%s\"", quoted);
	}
	free(bare);
	return (rc);
}

/*
 * The effective media type: the body's mediaType, which a Content-Type
 * must then agree with; else the Content-Type; else the shape of the
 * body. A plain "application/json" Content-Type says nothing either way.
 * *type points to a constant or into the tree.
 */
static int
manifest_resolve_type(json_t *root, const char *content_type,
    const char **type, char **cause)
{
	const char	*body_type = NULL, *header = NULL, *header_type;
	json_t		*v;
	size_t		 len;

	if ((v = manifest_optional(root, "mediaType")) != NULL) {
		if (!json_is_string(v))
			return (manifest_fail(cause,
			    "manifest mediaType is not a string"));
		body_type = json_string_value(v);
		if (!manifest_media_type_known(body_type))
			return (manifest_unsupported(body_type,
			    strlen(body_type), cause));
	}
	len = manifest_content_type(content_type, &header);
	if (len == strlen(MT_JSON) && strncasecmp(header, MT_JSON, len) == 0)
		len = 0;
	header_type = len > 0 ? manifest_type_canonical(header, len) : NULL;
	if (body_type != NULL) {
		if (len > 0 && (header_type == NULL ||
		    strcmp(header_type, body_type) != 0))
			return (manifest_fail(cause, "Content-Type does not "
			    "match the manifest mediaType %s", body_type));
		*type = body_type;
		return (0);
	}
	if (header_type != NULL) {
		*type = header_type;
		return (0);
	}
	if (len > 0)
		return (manifest_unsupported(header, len, cause));
	return (manifest_infer_type(root, type, cause));
}

/* One content descriptor: digest, size, optional mediaType. */
static int
manifest_descriptor(json_t *d, const char *where, struct manifest_ref *ref,
    char **cause)
{
	json_t		*v;
	const char	*media_type;
	char		*why = NULL;
	int		 rc;

	if (!json_is_object(d))
		return (manifest_fail(cause, "%s is not an object", where));
	v = json_object_get(d, "digest");
	if (v == NULL)
		return (manifest_fail(cause, "%s has no digest", where));
	if (!json_is_string(v))
		return (manifest_fail(cause, "%s digest is not a string",
		    where));
	if (digest_parse(json_string_value(v), &ref->mr_digest, &why) == -1) {
		rc = manifest_fail(cause, "%s digest: %s", where,
		    why != NULL ? why : "invalid");
		free(why);
		return (rc);
	}
	v = json_object_get(d, "size");
	if (v == NULL)
		return (manifest_fail(cause, "%s has no size", where));
	if (!json_is_integer(v))
		return (manifest_fail(cause, "%s size is not an integer",
		    where));
	if (json_integer_value(v) < 0)
		return (manifest_fail(cause, "%s size is negative", where));
	ref->mr_size = (int64_t)json_integer_value(v);
	if (manifest_string(d, where, "mediaType", &media_type, cause) == -1)
		return (-1);
	ref->mr_media_type = media_type != NULL ? xstrdup(media_type) : NULL;
	return (0);
}

/* Append every descriptor of the array under key to out->mi_refs. */
static int
manifest_descriptors(json_t *root, const char *key, int is_manifest,
    struct manifest_info *out, char **cause)
{
	json_t	*array;
	char	 where[MANIFEST_WHERE_MAX];
	size_t	 i;

	array = json_object_get(root, key);
	if (array == NULL)
		return (manifest_fail(cause, "manifest has no %s", key));
	if (!json_is_array(array))
		return (manifest_fail(cause, "manifest %s is not an array",
		    key));
	if (json_array_size(array) > MANIFEST_REFS_MAX - out->mi_nrefs)
		return (manifest_fail(cause, "manifest has more than %d "
		    "descriptors", MANIFEST_REFS_MAX));
	if (json_array_size(array) > 0)
		out->mi_refs = xreallocarray(out->mi_refs, out->mi_nrefs +
		    json_array_size(array), sizeof(*out->mi_refs));
	for (i = 0; i < json_array_size(array); i++) {
		(void)snprintf(where, sizeof(where), "%s[%zu]", key, i);
		memset(&out->mi_refs[out->mi_nrefs], 0,
		    sizeof(out->mi_refs[0]));
		if (manifest_descriptor(json_array_get(array, i), where,
		    &out->mi_refs[out->mi_nrefs], cause) == -1)
			return (-1);
		out->mi_refs[out->mi_nrefs++].mr_is_manifest = is_manifest;
	}
	return (0);
}

/* An image manifest: the config, then the layers (possibly none). */
static int
manifest_parse_image(json_t *root, struct manifest_info *out, char **cause)
{
	json_t	*config;

	if ((config = json_object_get(root, "config")) == NULL)
		return (manifest_fail(cause, "manifest has no config"));
	out->mi_refs = xcalloc(1, sizeof(*out->mi_refs));
	if (manifest_descriptor(config, "config", &out->mi_refs[0],
	    cause) == -1)
		return (-1);
	out->mi_nrefs = 1;
	return (manifest_descriptors(root, "layers", 0, out, cause));
}

static int
manifest_parse_index(json_t *root, struct manifest_info *out, char **cause)
{
	return (manifest_descriptors(root, "manifests", 1, out, cause));
}

static int
manifest_parse_subject(json_t *root, struct manifest_info *out, char **cause)
{
	struct manifest_ref	 subject;
	json_t			*v;

	if ((v = manifest_optional(root, "subject")) == NULL)
		return (0);
	memset(&subject, 0, sizeof(subject));
	if (manifest_descriptor(v, "subject", &subject, cause) == -1)
		return (-1);
	free(subject.mr_media_type);
	out->mi_has_subject = 1;
	out->mi_subject = subject.mr_digest;
	return (0);
}

/* Annotations are a string to string map, kept as compact JSON. */
static int
manifest_parse_annotations(json_t *root, struct manifest_info *out,
    char **cause)
{
	json_t		*v, *value;
	const char	*key;

	if ((v = manifest_optional(root, "annotations")) == NULL)
		return (0);
	if (!json_is_object(v))
		return (manifest_fail(cause,
		    "manifest annotations is not an object"));
	json_object_foreach(v, key, value) {
		if (!json_is_string(value))
			return (manifest_fail(cause, "manifest annotation "
			    "values must be strings"));
	}
	out->mi_annotations = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
	if (out->mi_annotations == NULL)
		return (manifest_fail(cause,
		    "manifest annotations cannot be encoded"));
	return (0);
}

/*
 * artifactType when set; an image manifest without one takes its config's
 * mediaType, as the referrers API reports it.
 */
static int
manifest_parse_artifact_type(json_t *root, struct manifest_info *out,
    char **cause)
{
	const char	*type;

	if (manifest_string(root, "manifest", "artifactType", &type,
	    cause) == -1)
		return (-1);
	if (type != NULL)
		out->mi_artifact_type = xstrdup(type);
	else if (out->mi_kind == MANIFEST_IMAGE &&
	    out->mi_refs[0].mr_media_type != NULL)
		out->mi_artifact_type = xstrdup(out->mi_refs[0].mr_media_type);
	return (0);
}

int
manifest_parse(const void *body, size_t len, const char *content_type,
    struct manifest_info *out, char **cause)
{
	json_t		*root = NULL;
	const char	*type = NULL;

	memset(out, 0, sizeof(*out));
	if (cause != NULL)
		*cause = NULL;
	if (manifest_load(body, len, &root, cause) == -1)
		goto fail;
	if (manifest_schema_version(root, cause) == -1)
		goto fail;
	if (manifest_resolve_type(root, content_type, &type, cause) == -1)
		goto fail;
	out->mi_media_type = xstrdup(type);
	if (strcmp(type, MT_OCI_INDEX) == 0 || strcmp(type, MT_DOCKER_LIST) == 0)
		out->mi_kind = MANIFEST_INDEX;
	else
		out->mi_kind = MANIFEST_IMAGE;
	if (out->mi_kind == MANIFEST_INDEX) {
		if (manifest_parse_index(root, out, cause) == -1)
			goto fail;
	} else if (manifest_parse_image(root, out, cause) == -1)
		goto fail;
	if (manifest_parse_subject(root, out, cause) == -1 ||
	    manifest_parse_artifact_type(root, out, cause) == -1 ||
	    manifest_parse_annotations(root, out, cause) == -1)
		goto fail;
	json_decref(root);
	return (0);

fail:
	json_decref(root);
	manifest_info_clear(out);
	return (-1);
}

void
manifest_info_clear(struct manifest_info *mi)
{
	size_t	 i;

	if (mi == NULL)
		return;
	for (i = 0; i < mi->mi_nrefs; i++)
		free(mi->mi_refs[i].mr_media_type);
	free(mi->mi_refs);
	free(mi->mi_media_type);
	free(mi->mi_artifact_type);
	free(mi->mi_annotations);
	memset(mi, 0, sizeof(*mi));
}

/* Move [*start, *end) inward past spaces and tabs. */
static void
manifest_trim(const char **start, const char **end)
{
	while (*start < *end && (**start == ' ' || **start == '\t'))
		(*start)++;
	while (*end > *start && ((*end)[-1] == ' ' || (*end)[-1] == '\t'))
		(*end)--;
}

/* Whether the parameters in [p, end) hold a q of zero ("q=0", "q=0.00"). */
static int
manifest_q_is_zero(const char *p, const char *end)
{
	const char	*next, *s, *e;

	for (; p < end; p = next + 1) {
		if ((next = memchr(p, ';', end - p)) == NULL)
			next = end;
		s = p;
		e = next;
		manifest_trim(&s, &e);
		if (e - s < 2 || (s[0] != 'q' && s[0] != 'Q'))
			continue;
		for (s++; s < e && (*s == ' ' || *s == '\t'); s++)
			;
		if (s == e || *s != '=')
			continue;
		for (s++; s < e && (*s == ' ' || *s == '\t'); s++)
			;
		if (s == e || *s != '0')
			return (0);
		for (s++; s < e && (*s == '0' || *s == '.'); s++)
			;
		return (s == e);
	}
	return (0);
}

/* How the media range [range, range + len) matches type. */
static enum manifest_match
manifest_range_match(const char *range, size_t len, const char *type)
{
	const char	*slash;
	size_t		 tlen;

	if ((len == 3 && memcmp(range, "*/*", 3) == 0) ||
	    (len == 1 && range[0] == '*'))
		return (MATCH_ANY);
	if (len == strlen(type) && strncasecmp(range, type, len) == 0)
		return (MATCH_EXACT);
	if (len < 3 || range[len - 1] != '*' || range[len - 2] != '/')
		return (MATCH_NONE);
	if ((slash = strchr(type, '/')) == NULL)
		return (MATCH_NONE);
	tlen = slash - type;
	if (tlen == len - 2 && strncasecmp(range, type, tlen) == 0)
		return (MATCH_SUBTYPE_ANY);
	return (MATCH_NONE);
}

/*
 * The closest matching media range decides, as in RFC 9110: a type
 * refused with q=0 stays refused even when a wildcard would take it.
 */
int
manifest_accepts(const char *accept, const char *media_type)
{
	const char		*p, *next, *s, *e, *params;
	enum manifest_match	 best = MATCH_NONE, m;
	int			 seen = 0, ok = 0, zero;

	if (media_type == NULL)
		return (0);
	if (accept == NULL)
		return (1);
	for (p = accept; *p != '\0'; p = *next == '\0' ? next : next + 1) {
		if ((next = strchr(p, ',')) == NULL)
			next = p + strlen(p);
		s = p;
		if ((params = memchr(p, ';', next - p)) == NULL)
			params = next;
		e = params;
		manifest_trim(&s, &e);
		if (s == e)
			continue;
		seen = 1;
		if ((m = manifest_range_match(s, e - s, media_type)) ==
		    MATCH_NONE || m < best)
			continue;
		zero = params < next && manifest_q_is_zero(params + 1, next);
		if (m > best) {
			best = m;
			ok = 0;
		}
		if (!zero)
			ok = 1;
	}
	return (seen ? ok : 1);
}
