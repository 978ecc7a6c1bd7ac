/*
 * ref.c: names and references. Owns depot's registry name rule, the OCI
 * repository, tag and upload id grammars (hand-written scanners, no regex)
 * and the right-to-left split of /v2/ request paths into their parts.
 * Nothing leaves this file as valid unless it is safe in a key or a path.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "depot.h"
#include "lib/digest.h"
#include "lib/log.h"
#include "lib/ref.h"
#include "lib/xmalloc.h"

/* Longest piece of user input quoted back in an error message. */
#define REF_QUOTE_MAX		64
#define REF_UPLOAD_ID_MAX	64

/* OCI error codes handed back by ref_parse_v2_path. */
#define OCI_NAME_INVALID	"NAME_INVALID"
#define OCI_DIGEST_INVALID	"DIGEST_INVALID"
#define OCI_TAG_INVALID		"TAG_INVALID"
#define OCI_UPLOAD_UNKNOWN	"BLOB_UPLOAD_UNKNOWN"
#define OCI_UNSUPPORTED		"UNSUPPORTED"

/* The endpoint shapes, tried in order against the end of the path. */
static const struct v2_shape {
	const char	*suffix;	/* ends the path, or precedes the ref */
	enum v2_kind	 kind;
	int		 has_ref;	/* a non-empty last component follows */
} v2_shapes[] = {
	{ "/tags/list",		V2_TAGS,		0 },
	{ "/blobs/uploads/",	V2_UPLOAD_START,	0 },
	{ "/blobs/uploads",	V2_UPLOAD_START,	0 },
	{ "/blobs/uploads/",	V2_UPLOAD,		1 },
	{ "/blobs/",		V2_BLOB,		1 },
	{ "/manifests/",	V2_MANIFEST,		1 },
	{ "/referrers/",	V2_REFERRERS,		1 },
};

#define V2_NSHAPES	(sizeof(v2_shapes) / sizeof(v2_shapes[0]))

static int	ref_is_lower_alnum(char);
static void	ref_quote(const char *, size_t, char *, size_t);
static size_t	ref_scan_alnum(const char *, size_t);
static size_t	ref_scan_separator(const char *, size_t);
static int	ref_upload_id_valid(const char *, char **);
static int	ref_v2_match(const char *, size_t, size_t *, size_t *);
static int	ref_v2_name(struct v2_path *, const char *, size_t,
		    const char **, char **);
static int	ref_v2_reference(struct v2_path *, const char **, char **);
static int	ref_digest_like(const char *);

static int
ref_is_lower_alnum(char c)
{
	return ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'));
}

/*
 * Copy at most len bytes of s into buf for an error message: printable
 * ASCII only (others become '?'), quotes and backslashes replaced, and
 * long input cut short with "...".
 */
static void
ref_quote(const char *s, size_t len, char *buf, size_t size)
{
	size_t	 i, n = 0;

	if (size < 4)
		fatalx("%s: buffer too small", __func__);
	for (i = 0; i < len && s[i] != '\0' && n + 4 < size; i++) {
		if (s[i] < 0x20 || s[i] > 0x7e || s[i] == '"' || s[i] == '\\')
			buf[n++] = '?';
		else
			buf[n++] = s[i];
	}
	if (i < len && s[i] != '\0') {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
}

int
ref_name_valid(const char *name, char **cause)
{
	char	 q[REF_QUOTE_MAX + 4];
	size_t	 i, len;

	if (cause != NULL)
		*cause = NULL;
	if (name == NULL)
		name = "";
	len = strnlen(name, DEPOT_NAME_MAX + 1);
	if (len == 0 || len > DEPOT_NAME_MAX || !(name[0] >= 'a' &&
	    name[0] <= 'z'))
		goto fail;
	for (i = 1; i < len; i++) {
		if (!ref_is_lower_alnum(name[i]) && name[i] != '_' &&
		    name[i] != '.' && name[i] != '-')
			goto fail;
	}
	return (0);

fail:
	if (cause != NULL) {
		ref_quote(name, len, q, sizeof(q));
		xasprintf(cause, "invalid name \"%s\": %s", q, REF_NAME_RULE);
	}
	return (-1);
}

/* Length of the run of [a-z0-9] at s (at most len). */
static size_t
ref_scan_alnum(const char *s, size_t len)
{
	size_t	 i;

	for (i = 0; i < len && ref_is_lower_alnum(s[i]); i++)
		;
	return (i);
}

/* Length of one OCI separator at s: ".", "_", "__" or "-"+; 0 if none. */
static size_t
ref_scan_separator(const char *s, size_t len)
{
	size_t	 i;

	if (len == 0)
		return (0);
	if (s[0] == '.')
		return (1);
	if (s[0] == '_')
		return (len > 1 && s[1] == '_' ? 2 : 1);
	for (i = 0; i < len && s[i] == '-'; i++)
		;
	return (i);
}

/*
 * OCI distribution repository name:
 *   [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
 * Each component is a run of alphanumerics, then any number of
 * separator + alphanumerics; components are joined by single slashes.
 */
int
ref_repository_valid(const char *name, char **cause)
{
	char	 q[REF_QUOTE_MAX + 4];
	size_t	 i = 0, n, len;

	if (cause != NULL)
		*cause = NULL;
	if (name == NULL || *name == '\0') {
		if (cause != NULL)
			xasprintf(cause, "empty repository name");
		return (-1);
	}
	len = strnlen(name, DEPOT_REPO_MAX + 1);
	if (len > DEPOT_REPO_MAX) {
		if (cause != NULL)
			xasprintf(cause, "repository name longer than %d "
			    "characters", DEPOT_REPO_MAX);
		return (-1);
	}
	for (;;) {
		/* Here a component, or a part after a separator, begins. */
		if ((n = ref_scan_alnum(name + i, len - i)) == 0)
			goto fail;
		i += n;
		if (i == len)
			return (0);
		if (name[i] == '/') {
			i++;
			continue;
		}
		if ((n = ref_scan_separator(name + i, len - i)) == 0)
			goto fail;
		i += n;
	}

fail:
	if (cause != NULL) {
		ref_quote(name, len, q, sizeof(q));
		xasprintf(cause, "invalid repository name \"%s\": path "
		    "components are lowercase letters and digits, joined by "
		    "'.', '_', '__' or dashes, and separated by single '/'", q);
	}
	return (-1);
}

int
ref_tag_valid(const char *tag, char **cause)
{
	char	 q[REF_QUOTE_MAX + 4];
	size_t	 i, len;
	char	 c;

	if (cause != NULL)
		*cause = NULL;
	if (tag == NULL)
		tag = "";
	len = strnlen(tag, DEPOT_TAG_MAX + 1);
	if (len == 0 || len > DEPOT_TAG_MAX)
		goto fail;
	for (i = 0; i < len; i++) {
		c = tag[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_')
			continue;
		if (i > 0 && (c == '.' || c == '-'))
			continue;
		goto fail;
	}
	return (0);

fail:
	if (cause != NULL) {
		ref_quote(tag, len, q, sizeof(q));
		xasprintf(cause, "invalid tag \"%s\": a tag starts with a "
		    "letter, digit or '_' and has only letters, digits, "
		    "'_', '.' and '-' (1 to %d characters)", q, DEPOT_TAG_MAX);
	}
	return (-1);
}

/* Upload session ids: [A-Za-z0-9-]{1,64}. */
static int
ref_upload_id_valid(const char *id, char **cause)
{
	size_t	 i, len;
	char	 c;

	len = strnlen(id, REF_UPLOAD_ID_MAX + 1);
	if (len == 0 || len > REF_UPLOAD_ID_MAX)
		goto fail;
	for (i = 0; i < len; i++) {
		c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-'))
			goto fail;
	}
	return (0);

fail:
	if (cause != NULL)
		xasprintf(cause, "invalid upload id");
	return (-1);
}

/*
 * Find which endpoint shape ends path. On a match, *name_end is where the
 * repository name stops and *ref_start where the reference begins (0 when
 * the shape has none); returns the index in v2_shapes, or -1.
 */
static int
ref_v2_match(const char *path, size_t len, size_t *name_end,
    size_t *ref_start)
{
	const struct v2_shape	*sh;
	const char		*slash;
	size_t			 slen, end, i;

	slash = strrchr(path, '/');
	for (i = 0; i < V2_NSHAPES; i++) {
		sh = &v2_shapes[i];
		slen = strlen(sh->suffix);
		if (sh->has_ref) {
			/* The reference is the last, non-empty component. */
			if (slash[1] == '\0')
				continue;
			end = (size_t)(slash - path) + 1;
			*ref_start = end;
		} else {
			end = len;
			*ref_start = 0;
		}
		if (end < slen || memcmp(path + end - slen, sh->suffix,
		    slen) != 0)
			continue;
		*name_end = end - slen;
		return ((int)i);
	}
	return (-1);
}

/* Check and store the repository name path[4 .. end). */
static int
ref_v2_name(struct v2_path *out, const char *path, size_t end,
    const char **code, char **cause)
{
	const char	*name, *slash;
	size_t		 len;

	*code = OCI_NAME_INVALID;
	/* The suffix may start at the slash of "/v2/": an empty name. */
	len = end > 4 ? end - 4 : 0;
	name = path + 4;
	if (len == 0) {
		xasprintf(cause, "empty repository name");
		return (-1);
	}
	if (len > DEPOT_REPO_MAX) {
		xasprintf(cause, "repository name longer than %d characters",
		    DEPOT_REPO_MAX);
		return (-1);
	}
	out->name = xstrndup(name, len);
	if ((slash = strchr(out->name, '/')) == NULL) {
		xasprintf(cause, "repository name must be <registry>/<image>");
		return (-1);
	}
	out->registry = xstrndup(out->name, (size_t)(slash - out->name));
	out->image = xstrdup(slash + 1);
	if (ref_name_valid(out->registry, cause) == -1)
		return (-1);
	if (ref_repository_valid(out->image, cause) == -1)
		return (-1);
	return (0);
}

/* Check the reference of a manifest, blob, upload or referrers path. */
static int
ref_v2_reference(struct v2_path *out, const char **code, char **cause)
{
	const char	*ref = out->reference;

	if (out->kind == V2_UPLOAD) {
		*code = OCI_UPLOAD_UNKNOWN;
		return (ref_upload_id_valid(ref, cause));
	}
	/*
	 * A manifest reference is a digest when it looks like one; anything
	 * else, a colon or not, is judged as a tag.
	 */
	if (out->kind == V2_MANIFEST && !ref_digest_like(ref)) {
		*code = OCI_TAG_INVALID;
		return (ref_tag_valid(ref, cause));
	}
	*code = OCI_DIGEST_INVALID;
	if (digest_parse(ref, &out->digest, cause) == -1)
		return (-1);
	out->ref_is_digest = 1;
	return (0);
}

/*
 * Does a manifest reference look like a digest: a known algorithm and a
 * colon, or "<algorithm>:<hex>" in the OCI grammar (algorithm components
 * [a-z0-9]+ joined by one of "+._-"), so that a malformed or unsupported
 * digest is told as one and not as a bad tag.
 */
static int
ref_digest_like(const char *ref)
{
	const char	*colon, *p;
	size_t		 alen;

	if ((colon = strchr(ref, ':')) == NULL)
		return (0);
	alen = (size_t)(colon - ref);
	if ((alen == 6 && strncmp(ref, "sha256", 6) == 0) ||
	    (alen == 6 && strncmp(ref, "sha512", 6) == 0))
		return (1);
	for (p = ref; p < colon; p++) {
		if (ref_is_lower_alnum(*p))
			continue;
		/* A separator between two alphanumerics. */
		if ((*p == '+' || *p == '.' || *p == '_' || *p == '-') &&
		    p > ref && ref_is_lower_alnum(p[-1]) && p + 1 < colon &&
		    ref_is_lower_alnum(p[1]))
			continue;
		return (0);
	}
	if (alen == 0 || colon[1] == '\0')
		return (0);
	for (p = colon + 1; *p != '\0'; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
		    (*p >= 'A' && *p <= 'F')))
			return (0);
	return (1);
}

/*
 * Split a decoded /v2/ path from the right: the shape that ends it decides
 * the kind, everything between "/v2/" and that shape is the name.
 */
int
ref_parse_v2_path(const char *path, struct v2_path *out,
    const char **oci_code, char **cause)
{
	const char	*code = OCI_UNSUPPORTED;
	char		*why = NULL, q[REF_QUOTE_MAX + 4];
	size_t		 len, name_end, ref_start;
	int		 shape;

	memset(out, 0, sizeof(*out));
	if (cause != NULL)
		*cause = NULL;
	if (path == NULL)
		path = "";
	if (strcmp(path, "/v2") == 0 || strcmp(path, "/v2/") == 0) {
		out->kind = V2_BASE;
		return (0);
	}
	if (strcmp(path, "/v2/_catalog") == 0) {
		out->kind = V2_CATALOG;
		return (0);
	}
	len = strlen(path);
	if (strncmp(path, "/v2/", 4) != 0 ||
	    (shape = ref_v2_match(path, len, &name_end, &ref_start)) == -1) {
		ref_quote(path, len, q, sizeof(q));
		xasprintf(&why, "unsupported path \"%s\"", q);
		goto fail;
	}
	out->kind = v2_shapes[shape].kind;
	if (ref_v2_name(out, path, name_end, &code, &why) == -1)
		goto fail;
	if (v2_shapes[shape].has_ref) {
		out->reference = xstrdup(path + ref_start);
		if (ref_v2_reference(out, &code, &why) == -1)
			goto fail;
	}
	return (0);

fail:
	v2_path_clear(out);
	if (oci_code != NULL)
		*oci_code = code;
	if (cause != NULL)
		*cause = why;
	else
		free(why);
	return (-1);
}

void
v2_path_clear(struct v2_path *p)
{
	if (p == NULL)
		return;
	free(p->name);
	free(p->registry);
	free(p->image);
	free(p->reference);
	memset(p, 0, sizeof(*p));
}

void
v2_path_copy(struct v2_path *dst, const struct v2_path *src)
{
	*dst = *src;
	dst->name = src->name != NULL ? xstrdup(src->name) : NULL;
	dst->registry = src->registry != NULL ? xstrdup(src->registry) : NULL;
	dst->image = src->image != NULL ? xstrdup(src->image) : NULL;
	dst->reference = src->reference != NULL ? xstrdup(src->reference) :
	    NULL;
}

int
ref_helm_upload_path(const char *path, size_t len)
{
	static const char	 prefix[] = "/helm/", tail[] = "/api/charts";
	size_t			 pl = sizeof(prefix) - 1, tl = sizeof(tail) - 1;

	if (len <= pl + tl || strncmp(path, prefix, pl) != 0 ||
	    memcmp(path + len - tl, tail, tl) != 0)
		return (0);
	/* one path component, the registry, between them */
	return (memchr(path + pl, '/', len - pl - tl) == NULL);
}
