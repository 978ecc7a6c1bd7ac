/*
 * manifest.h: parsing of OCI and Docker image manifests and indexes:
 * media type, the descriptors they reference, subject and artifact type.
 */
#ifndef DEPOT_MANIFEST_H
#define DEPOT_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "lib/digest.h"

#define MT_OCI_MANIFEST	"application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX	"application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_MANIFEST \
	"application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST \
	"application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_OCI_EMPTY	"application/vnd.oci.empty.v1+json"

enum manifest_kind {
	MANIFEST_IMAGE,		/* OCI image manifest or Docker schema 2 */
	MANIFEST_INDEX		/* OCI index or Docker manifest list */
};

struct manifest_ref {
	struct digest	 mr_digest;
	char		*mr_media_type;	/* may be NULL */
	int64_t		 mr_size;
	int		 mr_is_manifest; /* an index entry, not a blob */
};

struct manifest_info {
	enum manifest_kind	 mi_kind;
	char			*mi_media_type;	/* the effective media type */
	struct manifest_ref	*mi_refs;	/* config and layers, or manifests */
	size_t			 mi_nrefs;
	int			 mi_has_subject;
	struct digest		 mi_subject;
	char			*mi_artifact_type; /* artifactType, else config
						    * mediaType (images); NULL */
	char			*mi_annotations; /* compact JSON object or NULL */
};

/*
 * Parse a manifest body. content_type is the request's Content-Type (may
 * be NULL); the body's own mediaType wins when both are present and they
 * must agree. Only the four media types above are accepted (schema 1 is
 * refused). Every descriptor digest is validated with digest_parse.
 * Returns 0, or -1 with *cause (caller frees). Clear out with
 * manifest_info_clear.
 */
int	manifest_parse(const void *body, size_t len, const char *content_type,
	    struct manifest_info *out, char **cause);
void	manifest_info_clear(struct manifest_info *);
/* 1 when media_type is one of the four manifest media types. */
int	manifest_media_type_known(const char *media_type);
/*
 * 1 when an Accept header value (comma separated, with optional ;q=
 * parameters; NULL or empty means anything) accepts media_type. A missing
 * Accept accepts Docker schema 2 and OCI manifests alike.
 */
int	manifest_accepts(const char *accept, const char *media_type);

#endif /* DEPOT_MANIFEST_H */
