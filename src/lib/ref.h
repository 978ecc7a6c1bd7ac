/*
 * ref.h: names and references: depot's registry/upstream name rule, the
 * OCI repository, tag and reference grammar, and the split of /v2/ paths.
 */
#ifndef DEPOT_REF_H
#define DEPOT_REF_H

#include "lib/digest.h"

/* The name rule quoted in every refusal of a registry or upstream name. */
#define REF_NAME_RULE "a name starts with a lowercase letter and has only " \
	"a-z 0-9 _ . - (1 to 64 characters)"

/* Registry names and upstream keys. 0 ok, -1 with *cause (caller frees). */
int	ref_name_valid(const char *name, char **cause);
/* OCI repository name: path-component ("/" path-component)*. */
int	ref_repository_valid(const char *name, char **cause);
/* OCI tag: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}. */
int	ref_tag_valid(const char *tag, char **cause);

enum v2_kind {
	V2_BASE,		/* /v2/ */
	V2_CATALOG,		/* /v2/_catalog */
	V2_MANIFEST,		/* /v2/<name>/manifests/<reference> */
	V2_BLOB,		/* /v2/<name>/blobs/<digest> */
	V2_UPLOAD_START,	/* /v2/<name>/blobs/uploads/ */
	V2_UPLOAD,		/* /v2/<name>/blobs/uploads/<id> */
	V2_TAGS,		/* /v2/<name>/tags/list */
	V2_REFERRERS		/* /v2/<name>/referrers/<digest> */
};

struct v2_path {
	enum v2_kind	 kind;
	char		*name;		/* full repository name, registry incl. */
	char		*registry;	/* first component of name */
	char		*image;		/* name without the registry, or NULL */
	char		*reference;	/* tag, digest or upload id, or NULL */
	int		 ref_is_digest;
	struct digest	 digest;	/* when ref_is_digest */
};

/*
 * Split a /v2/ request path (no query string) from the right. Validates
 * every part: the registry with ref_name_valid, the image with the OCI
 * grammar, digests with digest_parse, tags with ref_tag_valid, upload ids
 * as [A-Za-z0-9-]{1,64}. Returns 0, or -1 with *cause set and *oci_code
 * (when not NULL) set to the OCI error code to answer with
 * ("NAME_INVALID", "DIGEST_INVALID", "TAG_INVALID", "MANIFEST_INVALID",
 * "NAME_UNKNOWN", ...). Fields of out are freed with v2_path_clear.
 */
int	ref_parse_v2_path(const char *path, struct v2_path *out,
	    const char **oci_code, char **cause);
void	v2_path_clear(struct v2_path *);
/* A deep copy of src into dst; free with v2_path_clear. */
void	v2_path_copy(struct v2_path *dst, const struct v2_path *src);

/*
 * 1 when path (len bytes, not decoded, no query) is a Helm chart upload,
 * POST /helm/<name>/api/charts, whose body is streamed to the handler.
 */
int	ref_helm_upload_path(const char *path, size_t len);

#endif /* DEPOT_REF_H */
