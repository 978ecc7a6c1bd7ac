/*
 * manifest_test.c: unit tests for manifest.c: OCI and Docker manifests and
 * indexes, artifacts with subject and artifactType, how the media type is
 * decided, every refusal, the descriptor limit and Accept matching.
 */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/digest.h"
#include "lib/manifest.h"
#include "lib/xmalloc.h"
#include "check_main.h"

#define HEX_CONFIG \
	"b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7"
#define HEX_LAYER1 \
	"c6a83fedfae6ed8a4f5f7cbb6a7b6f1c1ec3d86fea8cb9e5ba2e5e6673fde9f6"
#define HEX_LAYER2 \
	"4f4fb700ef54461cfa02571ae0db9a0dc1e0cdb5577484a6d75e68dc38e8acc1"
#define HEX_AMD64 \
	"1e9b5a86e4a3b1f7b3c3d1c1e6b7d2b0f1d29c0e53d1a4b9e0a0b7c1d2e3f405"
#define HEX_ARM64 \
	"9f3ab2f1d0c4e5b6a7980c1d2e3f405162738495a6b7c8d9e0f1a2b3c4d5e6f7"
#define HEX_EMPTY \
	"44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
#define HEX_SBOM \
	"2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"

#define MT_OCI_CONFIG	"application/vnd.oci.image.config.v1+json"
#define MT_OCI_LAYER	"application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define MT_DOCKER_LAYER	"application/vnd.docker.image.rootfs.diff.tar.gzip"
#define MT_SBOM		"application/spdx+json"

#define DESC(mt, hex, size) \
	"{\"mediaType\":\"" mt "\",\"digest\":\"sha256:" hex "\"," \
	"\"size\":" #size "}"

/* An OCI image manifest as skopeo or buildkit pushes it. */
#define OCI_MANIFEST \
	"{\n  \"schemaVersion\": 2,\n" \
	"  \"mediaType\": \"" MT_OCI_MANIFEST "\",\n" \
	"  \"config\": " DESC(MT_OCI_CONFIG, HEX_CONFIG, 1472) ",\n" \
	"  \"layers\": [\n    " DESC(MT_OCI_LAYER, HEX_LAYER1, 3623807) \
	",\n    " DESC(MT_OCI_LAYER, HEX_LAYER2, 32) "\n  ]\n}\n"

static const char *docker_manifest =
	"{\n"
	"   \"schemaVersion\": 2,\n"
	"   \"mediaType\": \"" MT_DOCKER_MANIFEST "\",\n"
	"   \"config\": {\n"
	"      \"mediaType\": \"" MT_DOCKER_CONFIG "\",\n"
	"      \"size\": 7023,\n"
	"      \"digest\": \"sha256:" HEX_CONFIG "\"\n"
	"   },\n"
	"   \"layers\": [\n"
	"      {\n"
	"         \"mediaType\": \"" MT_DOCKER_LAYER "\",\n"
	"         \"size\": 32654,\n"
	"         \"digest\": \"sha256:" HEX_LAYER1 "\"\n"
	"      }\n"
	"   ]\n"
	"}";

static const char *oci_index =
	"{\"schemaVersion\":2,"
	"\"mediaType\":\"" MT_OCI_INDEX "\","
	"\"manifests\":["
	"{\"mediaType\":\"" MT_OCI_MANIFEST "\","
	"\"digest\":\"sha256:" HEX_AMD64 "\",\"size\":1035,"
	"\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}},"
	"{\"mediaType\":\"" MT_OCI_MANIFEST "\","
	"\"digest\":\"sha256:" HEX_ARM64 "\",\"size\":1036,"
	"\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\","
	"\"variant\":\"v8\"}}],"
	"\"annotations\":{\"org.opencontainers.image.revision\":\"abc123\","
	"\"org.opencontainers.image.created\":\"2024-01-02T03:04:05Z\"}}";

static const char *docker_list =
	"{\"schemaVersion\":2,"
	"\"mediaType\":\"" MT_DOCKER_LIST "\","
	"\"manifests\":["
	"{\"mediaType\":\"" MT_DOCKER_MANIFEST "\","
	"\"size\":7143,\"digest\":\"sha256:" HEX_AMD64 "\","
	"\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}},"
	"{\"mediaType\":\"" MT_DOCKER_MANIFEST "\","
	"\"size\":7682,\"digest\":\"sha256:" HEX_ARM64 "\","
	"\"platform\":{\"architecture\":\"ppc64le\",\"os\":\"linux\"}},"
	"{\"mediaType\":\"" MT_DOCKER_MANIFEST "\","
	"\"size\":7100,\"digest\":\"sha256:" HEX_LAYER2 "\","
	"\"platform\":{\"architecture\":\"amd64\",\"os\":\"windows\","
	"\"os.version\":\"10.0.17763.1577\",\"features\":[\"sse4\"]}}]}";

/* An SBOM attached to an image, as oras attach pushes it (OCI 1.1). */
static const char *artifact_manifest =
	"{\"schemaVersion\":2,"
	"\"mediaType\":\"" MT_OCI_MANIFEST "\","
	"\"artifactType\":\"application/vnd.example.sbom.v1\","
	"\"config\":{\"mediaType\":\"" MT_OCI_EMPTY "\","
	"\"digest\":\"sha256:" HEX_EMPTY "\",\"size\":2,\"data\":\"e30=\"},"
	"\"layers\":[{\"mediaType\":\"" MT_SBOM "\","
	"\"digest\":\"sha256:" HEX_SBOM "\",\"size\":12345,"
	"\"annotations\":{\"org.opencontainers.image.title\":\"sbom.json\"}}],"
	"\"subject\":{\"mediaType\":\"" MT_OCI_MANIFEST "\","
	"\"digest\":\"sha256:" HEX_AMD64 "\",\"size\":1035},"
	"\"annotations\":{\"org.opencontainers.image.created\":"
	"\"2024-05-06T07:08:09Z\"}}";

/* A signed schema 1 manifest, trimmed. */
static const char *schema1_manifest =
	"{\"schemaVersion\":1,\"name\":\"library/hello\",\"tag\":\"latest\","
	"\"architecture\":\"amd64\",\"fsLayers\":[{\"blobSum\":\"sha256:"
	HEX_LAYER1 "\"}],\"history\":[{\"v1Compatibility\":\"{}\"}],"
	"\"signatures\":[{\"header\":{\"alg\":\"ES256\"},"
	"\"signature\":\"abc\",\"protected\":\"def\"}]}";

static int	 parse(const char *, const char *, struct manifest_info *,
		    char **);
static void	 assert_refused(const char *, const char *, const char *);
static void	 assert_ref(const struct manifest_ref *, const char *,
		    const char *, int64_t, int);
static char	*make_manifest(size_t, int);
static Suite	*manifest_suite(void);

static int
parse(const char *body, const char *content_type, struct manifest_info *mi,
    char **cause)
{
	return (manifest_parse(body, strlen(body), content_type, mi, cause));
}

/* The body is refused, with a cause holding want, and nothing is left. */
static void
assert_refused(const char *body, const char *content_type, const char *want)
{
	struct manifest_info	 mi;
	char			*cause = NULL;

	ck_assert_int_eq(parse(body, content_type, &mi, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	if (strstr(cause, want) == NULL)
		ck_abort_msg("cause \"%s\" lacks \"%s\"", cause, want);
	ck_assert_ptr_null(mi.mi_media_type);
	ck_assert_ptr_null(mi.mi_refs);
	ck_assert_uint_eq(mi.mi_nrefs, 0);
	ck_assert_ptr_null(mi.mi_artifact_type);
	ck_assert_ptr_null(mi.mi_annotations);
	ck_assert_int_eq(mi.mi_has_subject, 0);
	free(cause);
	/* Without a cause pointer the answer is the same. */
	ck_assert_int_eq(parse(body, content_type, &mi, NULL), -1);
}

static void
assert_ref(const struct manifest_ref *ref, const char *media_type,
    const char *hex, int64_t size, int is_manifest)
{
	if (media_type == NULL)
		ck_assert_ptr_null(ref->mr_media_type);
	else
		ck_assert_str_eq(ref->mr_media_type, media_type);
	ck_assert_int_eq(ref->mr_digest.alg, DIGEST_SHA256);
	ck_assert_str_eq(ref->mr_digest.hex, hex);
	ck_assert_int_eq(ref->mr_size, size);
	ck_assert_int_eq(ref->mr_is_manifest, is_manifest);
}

/*
 * An OCI image manifest with n layers, or an index with n entries.
 * Caller frees.
 */
static char *
make_manifest(size_t n, int index)
{
	char	*buf, *p;
	size_t	 i, len, each = 160;

	len = 512 + n * each;
	buf = xmalloc(len);
	p = buf;
	if (index)
		p += sprintf(p, "{\"schemaVersion\":2,\"mediaType\":\"%s\","
		    "\"manifests\":[", MT_OCI_INDEX);
	else
		p += sprintf(p, "{\"schemaVersion\":2,\"mediaType\":\"%s\","
		    "\"config\":%s,\"layers\":[", MT_OCI_MANIFEST,
		    DESC(MT_OCI_CONFIG, HEX_CONFIG, 1472));
	for (i = 0; i < n; i++)
		p += sprintf(p, "%s{\"mediaType\":\"%s\",\"digest\":"
		    "\"sha256:%064zx\",\"size\":%zu}", i > 0 ? "," : "",
		    index ? MT_OCI_MANIFEST : MT_OCI_LAYER, i, i);
	p += sprintf(p, "]}");
	ck_assert_uint_lt((size_t)(p - buf), len);
	return (buf);
}

START_TEST(test_oci_manifest)
{
	struct manifest_info	 mi;
	char			*cause = NULL;

	ck_assert_int_eq(parse(OCI_MANIFEST, MT_OCI_MANIFEST, &mi, &cause),
	    0);
	ck_assert_ptr_null(cause);
	ck_assert_int_eq(mi.mi_kind, MANIFEST_IMAGE);
	ck_assert_str_eq(mi.mi_media_type, MT_OCI_MANIFEST);
	ck_assert_uint_eq(mi.mi_nrefs, 3);
	assert_ref(&mi.mi_refs[0], MT_OCI_CONFIG, HEX_CONFIG, 1472, 0);
	assert_ref(&mi.mi_refs[1], MT_OCI_LAYER, HEX_LAYER1, 3623807, 0);
	assert_ref(&mi.mi_refs[2], MT_OCI_LAYER, HEX_LAYER2, 32, 0);
	ck_assert_int_eq(mi.mi_has_subject, 0);
	/* An image without artifactType is typed by its config. */
	ck_assert_str_eq(mi.mi_artifact_type, MT_OCI_CONFIG);
	ck_assert_ptr_null(mi.mi_annotations);
	manifest_info_clear(&mi);
	ck_assert_ptr_null(mi.mi_refs);
	ck_assert_ptr_null(mi.mi_media_type);
	ck_assert_uint_eq(mi.mi_nrefs, 0);
	manifest_info_clear(&mi);
	manifest_info_clear(NULL);

	/* The same body with no Content-Type at all. */
	ck_assert_int_eq(parse(OCI_MANIFEST, NULL, &mi, &cause), 0);
	ck_assert_str_eq(mi.mi_media_type, MT_OCI_MANIFEST);
	manifest_info_clear(&mi);
}
END_TEST

START_TEST(test_docker_manifest)
{
	struct manifest_info	 mi;
	char			*cause = NULL;

	ck_assert_int_eq(parse(docker_manifest, MT_DOCKER_MANIFEST, &mi,
	    &cause), 0);
	ck_assert_int_eq(mi.mi_kind, MANIFEST_IMAGE);
	ck_assert_str_eq(mi.mi_media_type, MT_DOCKER_MANIFEST);
	ck_assert_uint_eq(mi.mi_nrefs, 2);
	assert_ref(&mi.mi_refs[0], MT_DOCKER_CONFIG, HEX_CONFIG, 7023, 0);
	assert_ref(&mi.mi_refs[1], MT_DOCKER_LAYER, HEX_LAYER1, 32654, 0);
	ck_assert_str_eq(mi.mi_artifact_type, MT_DOCKER_CONFIG);
	ck_assert_int_eq(mi.mi_has_subject, 0);
	manifest_info_clear(&mi);
}
END_TEST

START_TEST(test_oci_index)
{
	struct manifest_info	 mi;
	char			*cause = NULL;

	ck_assert_int_eq(parse(oci_index, MT_OCI_INDEX, &mi, &cause), 0);
	ck_assert_int_eq(mi.mi_kind, MANIFEST_INDEX);
	ck_assert_str_eq(mi.mi_media_type, MT_OCI_INDEX);
	ck_assert_uint_eq(mi.mi_nrefs, 2);
	assert_ref(&mi.mi_refs[0], MT_OCI_MANIFEST, HEX_AMD64, 1035, 1);
	assert_ref(&mi.mi_refs[1], MT_OCI_MANIFEST, HEX_ARM64, 1036, 1);
	ck_assert_ptr_null(mi.mi_artifact_type);
	ck_assert_str_eq(mi.mi_annotations,
	    "{\"org.opencontainers.image.created\":\"2024-01-02T03:04:05Z\","
	    "\"org.opencontainers.image.revision\":\"abc123\"}");
	manifest_info_clear(&mi);

	/* An empty index is valid. */
	ck_assert_int_eq(parse("{\"schemaVersion\":2,\"mediaType\":\""
	    MT_OCI_INDEX "\",\"manifests\":[]}", NULL, &mi, &cause), 0);
	ck_assert_int_eq(mi.mi_kind, MANIFEST_INDEX);
	ck_assert_uint_eq(mi.mi_nrefs, 0);
	ck_assert_ptr_null(mi.mi_refs);
	manifest_info_clear(&mi);
}
END_TEST

START_TEST(test_docker_list)
{
	struct manifest_info	 mi;
	char			*cause = NULL;

	ck_assert_int_eq(parse(docker_list, MT_DOCKER_LIST, &mi, &cause), 0);
	ck_assert_int_eq(mi.mi_kind, MANIFEST_INDEX);
	ck_assert_str_eq(mi.mi_media_type, MT_DOCKER_LIST);
	ck_assert_uint_eq(mi.mi_nrefs, 3);
	assert_ref(&mi.mi_refs[0], MT_DOCKER_MANIFEST, HEX_AMD64, 7143, 1);
	assert_ref(&mi.mi_refs[1], MT_DOCKER_MANIFEST, HEX_ARM64, 7682, 1);
	assert_ref(&mi.mi_refs[2], MT_DOCKER_MANIFEST, HEX_LAYER2, 7100, 1);
	ck_assert_ptr_null(mi.mi_artifact_type);
	ck_assert_ptr_null(mi.mi_annotations);
	manifest_info_clear(&mi);
}
END_TEST

START_TEST(test_artifact)
{
	struct manifest_info	 mi;
	char			*cause = NULL;

	ck_assert_int_eq(parse(artifact_manifest, MT_OCI_MANIFEST, &mi,
	    &cause), 0);
	ck_assert_int_eq(mi.mi_kind, MANIFEST_IMAGE);
	ck_assert_uint_eq(mi.mi_nrefs, 2);
	assert_ref(&mi.mi_refs[0], MT_OCI_EMPTY, HEX_EMPTY, 2, 0);
	assert_ref(&mi.mi_refs[1], MT_SBOM, HEX_SBOM, 12345, 0);
	ck_assert_int_eq(mi.mi_has_subject, 1);
	ck_assert_int_eq(mi.mi_subject.alg, DIGEST_SHA256);
	ck_assert_str_eq(mi.mi_subject.hex, HEX_AMD64);
	ck_assert_str_eq(mi.mi_artifact_type,
	    "application/vnd.example.sbom.v1");
	ck_assert_str_eq(mi.mi_annotations, "{\"org.opencontainers.image."
	    "created\":\"2024-05-06T07:08:09Z\"}");
	manifest_info_clear(&mi);

	/* OCI 1.1: an artifact may have no layers at all. */
	ck_assert_int_eq(parse("{\"schemaVersion\":2,\"mediaType\":\""
	    MT_OCI_MANIFEST "\",\"artifactType\":\"application/vnd.ex.sig\","
	    "\"config\":" DESC(MT_OCI_EMPTY, HEX_EMPTY, 2) ",\"layers\":[]}",
	    NULL, &mi, &cause), 0);
	ck_assert_uint_eq(mi.mi_nrefs, 1);
	ck_assert_str_eq(mi.mi_artifact_type, "application/vnd.ex.sig");
	manifest_info_clear(&mi);

	/* A Helm chart is typed by its config media type. */
	ck_assert_int_eq(parse("{\"schemaVersion\":2,\"config\":"
	    DESC("application/vnd.cncf.helm.config.v1+json", HEX_CONFIG, 117)
	    ",\"layers\":[" DESC("application/vnd.cncf.helm.chart.content.v1."
	    "tar+gzip", HEX_LAYER1, 3400) "]}", MT_OCI_MANIFEST, &mi,
	    &cause), 0);
	ck_assert_str_eq(mi.mi_artifact_type,
	    "application/vnd.cncf.helm.config.v1+json");
	manifest_info_clear(&mi);

	/* An index may have a subject and an artifactType too. */
	ck_assert_int_eq(parse("{\"schemaVersion\":2,\"mediaType\":\""
	    MT_OCI_INDEX "\",\"artifactType\":\"application/vnd.ex.bundle\","
	    "\"manifests\":[" DESC(MT_OCI_MANIFEST, HEX_ARM64, 500) "],"
	    "\"subject\":" DESC(MT_OCI_INDEX, HEX_AMD64, 700) "}", NULL, &mi,
	    &cause), 0);
	ck_assert_int_eq(mi.mi_kind, MANIFEST_INDEX);
	ck_assert_int_eq(mi.mi_has_subject, 1);
	ck_assert_str_eq(mi.mi_subject.hex, HEX_AMD64);
	ck_assert_str_eq(mi.mi_artifact_type, "application/vnd.ex.bundle");
	manifest_info_clear(&mi);

	/* A null subject or annotations counts as absent. */
	ck_assert_int_eq(parse("{\"schemaVersion\":2,\"mediaType\":\""
	    MT_OCI_MANIFEST "\",\"config\":" DESC(MT_OCI_CONFIG, HEX_CONFIG, 9)
	    ",\"layers\":[],\"subject\":null,\"annotations\":null}", NULL, &mi,
	    &cause), 0);
	ck_assert_int_eq(mi.mi_has_subject, 0);
	ck_assert_ptr_null(mi.mi_annotations);
	manifest_info_clear(&mi);
}
END_TEST

START_TEST(test_bad_artifact_fields)
{
	assert_refused("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST
	    "\",\"config\":" DESC(MT_OCI_EMPTY, HEX_EMPTY, 2) ",\"layers\":[],"
	    "\"subject\":{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"size\":3}}",
	    NULL, "subject has no digest");
	assert_refused("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST
	    "\",\"config\":" DESC(MT_OCI_EMPTY, HEX_EMPTY, 2) ",\"layers\":[],"
	    "\"subject\":\"sha256:" HEX_AMD64 "\"}", NULL,
	    "subject is not an object");
	assert_refused("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST
	    "\",\"config\":" DESC(MT_OCI_EMPTY, HEX_EMPTY, 2) ",\"layers\":[],"
	    "\"artifactType\":7}", NULL, "artifactType is not a string");
	assert_refused("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST
	    "\",\"config\":" DESC(MT_OCI_EMPTY, HEX_EMPTY, 2) ",\"layers\":[],"
	    "\"artifactType\":\"text/plain\\r\\nX-Evil: 1\"}", NULL,
	    "not a valid media type");
	assert_refused("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST
	    "\",\"config\":" DESC(MT_OCI_EMPTY, HEX_EMPTY, 2) ",\"layers\":[],"
	    "\"artifactType\":\"\"}", NULL, "not a valid media type");
}
END_TEST

START_TEST(test_media_type_choice)
{
	struct manifest_info	 mi;
	char			*cause = NULL;
	const char		*bare_image, *bare_index;

	bare_image = "{\"schemaVersion\":2,\"config\":"
	    DESC(MT_DOCKER_CONFIG, HEX_CONFIG, 10) ",\"layers\":["
	    DESC(MT_DOCKER_LAYER, HEX_LAYER1, 20) "]}";
	bare_index = "{\"schemaVersion\":2,\"manifests\":["
	    DESC(MT_OCI_MANIFEST, HEX_AMD64, 30) "]}";

	/* No mediaType in the body: the Content-Type, parameters dropped. */
	ck_assert_int_eq(parse(bare_image, MT_DOCKER_MANIFEST
	    "; charset=utf-8", &mi, &cause), 0);
	ck_assert_str_eq(mi.mi_media_type, MT_DOCKER_MANIFEST);
	ck_assert_int_eq(mi.mi_kind, MANIFEST_IMAGE);
	manifest_info_clear(&mi);
	ck_assert_int_eq(parse(bare_index, "  " MT_DOCKER_LIST " ", &mi,
	    &cause), 0);
	ck_assert_str_eq(mi.mi_media_type, MT_DOCKER_LIST);
	ck_assert_int_eq(mi.mi_kind, MANIFEST_INDEX);
	manifest_info_clear(&mi);
	/* Media types are case-insensitive in headers. */
	ck_assert_int_eq(parse(bare_image,
	    "Application/VND.OCI.Image.Manifest.v1+JSON", &mi, &cause), 0);
	ck_assert_str_eq(mi.mi_media_type, MT_OCI_MANIFEST);
	manifest_info_clear(&mi);

	/* Neither: the shape tells (OCI allows mediaType to be absent). */
	ck_assert_int_eq(parse(bare_image, NULL, &mi, &cause), 0);
	ck_assert_str_eq(mi.mi_media_type, MT_OCI_MANIFEST);
	manifest_info_clear(&mi);
	ck_assert_int_eq(parse(bare_index, "", &mi, &cause), 0);
	ck_assert_str_eq(mi.mi_media_type, MT_OCI_INDEX);
	ck_assert_uint_eq(mi.mi_nrefs, 1);
	ck_assert_int_eq(mi.mi_refs[0].mr_is_manifest, 1);
	manifest_info_clear(&mi);
	/* A plain JSON Content-Type says nothing either way. */
	ck_assert_int_eq(parse(bare_index, "application/json", &mi, &cause),
	    0);
	ck_assert_str_eq(mi.mi_media_type, MT_OCI_INDEX);
	manifest_info_clear(&mi);
	ck_assert_int_eq(parse(OCI_MANIFEST, "application/json; charset=utf-8",
	    &mi, &cause), 0);
	ck_assert_str_eq(mi.mi_media_type, MT_OCI_MANIFEST);
	manifest_info_clear(&mi);
	ck_assert_int_eq(parse(OCI_MANIFEST, "Application/Vnd.Oci.Image."
	    "Manifest.V1+Json", &mi, &cause), 0);
	manifest_info_clear(&mi);

	/* Nothing to go by. */
	assert_refused("{\"schemaVersion\":2,\"config\":"
	    DESC(MT_OCI_CONFIG, HEX_CONFIG, 10) "}", "application/json",
	    "cannot determine");
	assert_refused("{\"schemaVersion\":2}", NULL, "cannot determine");
	/* Both shapes at once is ambiguous. */
	assert_refused("{\"schemaVersion\":2,\"config\":"
	    DESC(MT_OCI_CONFIG, HEX_CONFIG, 10) ",\"layers\":[],"
	    "\"manifests\":[]}", NULL, "cannot determine");
	/* A mediaType names the kind, and the kind's fields must be there. */
	assert_refused("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX
	    "\",\"config\":" DESC(MT_OCI_CONFIG, HEX_CONFIG, 10)
	    ",\"layers\":[]}", NULL, "no manifests");
	assert_refused(bare_index, MT_OCI_MANIFEST, "no config");

	/* Unknown types, in the body or the header. */
	assert_refused(bare_image, "application/octet-stream",
	    "unsupported manifest media type \"application/octet-stream\"");
	assert_refused(bare_image, "text/plain; charset=utf-8",
	    "unsupported manifest media type \"text/plain\"");
	assert_refused("{\"schemaVersion\":2,\"mediaType\":"
	    "\"application/vnd.oci.artifact.manifest.v1+json\","
	    "\"blobs\":[]}", NULL, "unsupported manifest media type");
	assert_refused("{\"schemaVersion\":2,\"mediaType\":\"application/json\""
	    ",\"config\":" DESC(MT_OCI_CONFIG, HEX_CONFIG, 10)
	    ",\"layers\":[]}", NULL, "unsupported manifest media type");
	/* The body's type is exact, as JSON is. */
	assert_refused("{\"schemaVersion\":2,\"mediaType\":"
	    "\"Application/vnd.oci.image.manifest.v1+json\",\"config\":"
	    DESC(MT_OCI_CONFIG, HEX_CONFIG, 10) ",\"layers\":[]}", NULL,
	    "unsupported manifest media type");
	assert_refused("{\"schemaVersion\":2,\"mediaType\":[],\"config\":"
	    DESC(MT_OCI_CONFIG, HEX_CONFIG, 10) ",\"layers\":[]}", NULL,
	    "mediaType is not a string");
}
END_TEST

START_TEST(test_media_type_mismatch)
{
	assert_refused(OCI_MANIFEST, MT_DOCKER_MANIFEST, "does not match");
	assert_refused(docker_manifest, MT_OCI_MANIFEST, "does not match");
	assert_refused(oci_index, MT_OCI_MANIFEST, "does not match");
	assert_refused(docker_list, MT_OCI_INDEX "; charset=utf-8",
	    "does not match");
	assert_refused(OCI_MANIFEST, "text/plain", "does not match");
}
END_TEST

START_TEST(test_schema1)
{
	assert_refused(schema1_manifest,
	    "application/vnd.docker.distribution.manifest.v1+prettyjws",
	    "schema 1 manifests are not supported");
	assert_refused(schema1_manifest, NULL, "schema 1");
	/* Named by its type, even behind a schemaVersion of 2. */
	assert_refused("{\"schemaVersion\":2,\"config\":"
	    DESC(MT_OCI_CONFIG, HEX_CONFIG, 10) ",\"layers\":[]}",
	    "application/vnd.docker.distribution.manifest.v1+prettyjws",
	    "schema 1");
	assert_refused("{\"schemaVersion\":2,\"mediaType\":\"application/vnd."
	    "docker.distribution.manifest.v1+json\",\"config\":"
	    DESC(MT_OCI_CONFIG, HEX_CONFIG, 10) ",\"layers\":[]}", NULL,
	    "schema 1");
	assert_refused("{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"config\":"
	    DESC(MT_OCI_CONFIG, HEX_CONFIG, 10) ",\"layers\":[]}", NULL,
	    "no schemaVersion");
	assert_refused("{\"schemaVersion\":3,\"mediaType\":\"" MT_OCI_MANIFEST
	    "\",\"config\":" DESC(MT_OCI_CONFIG, HEX_CONFIG, 10)
	    ",\"layers\":[]}", NULL, "schemaVersion 3 is not supported");
	assert_refused("{\"schemaVersion\":\"2\",\"mediaType\":\""
	    MT_OCI_MANIFEST "\",\"config\":" DESC(MT_OCI_CONFIG, HEX_CONFIG, 10)
	    ",\"layers\":[]}", NULL, "schemaVersion is not an integer");
	assert_refused("{\"schemaVersion\":2.0,\"mediaType\":\""
	    MT_OCI_MANIFEST "\",\"config\":" DESC(MT_OCI_CONFIG, HEX_CONFIG, 10)
	    ",\"layers\":[]}", NULL, "schemaVersion is not an integer");
}
END_TEST

START_TEST(test_invalid_json)
{
	struct manifest_info	 mi;
	char			*cause = NULL;
	/* jansson alone would read this as {"schemaVersion":2,"x":3}. */
	static const char	 nul_inside[] = "{\"schemaVersion\":2\0,\"x\":3}";
	char			*deep;
	size_t			 i, depth = 100000;

	assert_refused("", NULL, "empty");
	assert_refused("{", NULL, "not valid JSON");
	assert_refused("{\"schemaVersion\":2,}", NULL, "not valid JSON");
	assert_refused("{\"schemaVersion\":2} {}", NULL, "not valid JSON");
	assert_refused("{'schemaVersion':2}", NULL, "not valid JSON");
	assert_refused("{\"a\":\"\\u0000\"}", NULL, "not valid JSON");
	assert_refused("\xff\xfe{}", NULL, "not valid JSON");
	assert_refused("{\"schemaVersion\":2,\"mediaType\":\"\xc3\x28\"}",
	    NULL, "not valid JSON");
	assert_refused("[]", NULL, "not a JSON object");
	assert_refused("[{\"schemaVersion\":2}]", NULL, "not a JSON object");
	assert_refused("\"manifest\"", NULL, "not valid JSON");
	assert_refused("null", NULL, "not valid JSON");

	ck_assert_int_eq(manifest_parse(nul_inside, sizeof(nul_inside) - 1,
	    NULL, &mi, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "not valid JSON"));
	free(cause);
	ck_assert_int_eq(manifest_parse(NULL, 0, NULL, &mi, &cause), -1);
	free(cause);

	/* Deep nesting is refused, not followed down the stack. */
	deep = xmalloc(2 * depth + 40);
	strcpy(deep, "{\"schemaVersion\":2,\"x\":");
	i = strlen(deep);
	memset(deep + i, '[', depth);
	memset(deep + i + depth, ']', depth);
	strcpy(deep + i + 2 * depth, "}");
	ck_assert_int_eq(parse(deep, NULL, &mi, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	free(cause);
	free(deep);
}
END_TEST

START_TEST(test_duplicate_keys)
{
	assert_refused("{\"schemaVersion\":2,\"schemaVersion\":2,"
	    "\"mediaType\":\"" MT_OCI_MANIFEST "\",\"config\":"
	    DESC(MT_OCI_CONFIG, HEX_CONFIG, 10) ",\"layers\":[]}", NULL,
	    "duplicate");
	/* Two digests in one layer could make two readers disagree. */
	assert_refused("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST
	    "\",\"config\":" DESC(MT_OCI_CONFIG, HEX_CONFIG, 10) ",\"layers\":"
	    "[{\"mediaType\":\"" MT_OCI_LAYER "\",\"digest\":\"sha256:"
	    HEX_LAYER1 "\",\"size\":1,\"digest\":\"sha256:" HEX_LAYER2
	    "\"}]}", NULL, "duplicate");
	assert_refused("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST
	    "\",\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":[]}", NULL,
	    "duplicate");
}
END_TEST

START_TEST(test_bad_descriptors)
{
	struct manifest_info	 mi;
	char			*cause = NULL;

#define WITH_LAYER(layer) \
	"{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\"," \
	"\"config\":" DESC(MT_OCI_CONFIG, HEX_CONFIG, 10) ",\"layers\":[" \
	DESC(MT_OCI_LAYER, HEX_LAYER1, 5) "," layer "]}"

	assert_refused(WITH_LAYER("{\"mediaType\":\"" MT_OCI_LAYER "\","
	    "\"digest\":\"sha256:" "C6A83FEDFAE6ED8A4F5F7CBB6A7B6F1C1EC3D86FEA8C"
	    "B9E5BA2E5E6673FDE9F6\",\"size\":5}"), NULL, "layers[1] digest");
	assert_refused(WITH_LAYER("{\"mediaType\":\"" MT_OCI_LAYER "\","
	    "\"digest\":\"sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709\","
	    "\"size\":5}"), NULL, "layers[1] digest");
	assert_refused(WITH_LAYER("{\"mediaType\":\"" MT_OCI_LAYER "\","
	    "\"digest\":\"sha256:../../etc/passwd\",\"size\":5}"), NULL,
	    "layers[1] digest");
	assert_refused(WITH_LAYER("{\"mediaType\":\"" MT_OCI_LAYER "\","
	    "\"size\":5}"), NULL, "layers[1] has no digest");
	assert_refused(WITH_LAYER("{\"mediaType\":\"" MT_OCI_LAYER "\","
	    "\"digest\":42,\"size\":5}"), NULL, "layers[1] digest is not");
	assert_refused(WITH_LAYER("{\"mediaType\":\"" MT_OCI_LAYER "\","
	    "\"digest\":\"sha256:" HEX_LAYER2 "\",\"size\":-1}"), NULL,
	    "layers[1] size is negative");
	assert_refused(WITH_LAYER("{\"mediaType\":\"" MT_OCI_LAYER "\","
	    "\"digest\":\"sha256:" HEX_LAYER2 "\",\"size\":\"32\"}"), NULL,
	    "layers[1] size is not an integer");
	assert_refused(WITH_LAYER("{\"mediaType\":\"" MT_OCI_LAYER "\","
	    "\"digest\":\"sha256:" HEX_LAYER2 "\",\"size\":32.5}"), NULL,
	    "layers[1] size is not an integer");
	assert_refused(WITH_LAYER("{\"mediaType\":\"" MT_OCI_LAYER "\","
	    "\"digest\":\"sha256:" HEX_LAYER2 "\"}"), NULL,
	    "layers[1] has no size");
	assert_refused(WITH_LAYER("{\"mediaType\":\"" MT_OCI_LAYER "\","
	    "\"digest\":\"sha256:" HEX_LAYER2 "\",\"size\":"
	    "99999999999999999999}"), NULL, "not valid JSON");
	assert_refused(WITH_LAYER("{\"mediaType\":5,"
	    "\"digest\":\"sha256:" HEX_LAYER2 "\",\"size\":1}"), NULL,
	    "layers[1] mediaType is not a string");
	assert_refused(WITH_LAYER("{\"mediaType\":\"tar gz\","
	    "\"digest\":\"sha256:" HEX_LAYER2 "\",\"size\":1}"), NULL,
	    "layers[1] mediaType \"tar gz\" is not a valid media type");
	assert_refused(WITH_LAYER("\"sha256:" HEX_LAYER2 "\""), NULL,
	    "layers[1] is not an object");

	/* The config and the index entries are held to the same rules. */
	assert_refused("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST
	    "\",\"config\":{\"mediaType\":\"" MT_OCI_CONFIG "\",\"digest\":"
	    "\"sha256:" HEX_CONFIG "\",\"size\":-5},\"layers\":[]}", NULL,
	    "config size is negative");
	assert_refused("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX
	    "\",\"manifests\":[" DESC(MT_OCI_MANIFEST, HEX_AMD64, 1) ","
	    "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"sha256:abc\","
	    "\"size\":1}]}", NULL, "manifests[1] digest");

	/* Missing parts. */
	assert_refused("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST
	    "\",\"layers\":[" DESC(MT_OCI_LAYER, HEX_LAYER1, 5) "]}", NULL,
	    "manifest has no config");
	assert_refused("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST
	    "\",\"config\":null,\"layers\":[]}", NULL,
	    "config is not an object");
	assert_refused("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST
	    "\",\"config\":" DESC(MT_OCI_CONFIG, HEX_CONFIG, 10) "}", NULL,
	    "manifest has no layers");
	assert_refused("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST
	    "\",\"config\":" DESC(MT_OCI_CONFIG, HEX_CONFIG, 10) ",\"layers\":"
	    DESC(MT_OCI_LAYER, HEX_LAYER1, 5) "}", NULL,
	    "layers is not an array");
	assert_refused("{\"schemaVersion\":2,\"mediaType\":\"" MT_DOCKER_LIST
	    "\"}", NULL, "manifest has no manifests");
	assert_refused("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX
	    "\",\"manifests\":{}}", NULL, "manifests is not an array");

	/* A descriptor without mediaType is kept, with a NULL type. */
	ck_assert_int_eq(parse(WITH_LAYER("{\"digest\":\"sha256:" HEX_LAYER2
	    "\",\"size\":0}"), NULL, &mi, &cause), 0);
	ck_assert_uint_eq(mi.mi_nrefs, 3);
	assert_ref(&mi.mi_refs[2], NULL, HEX_LAYER2, 0, 0);
	manifest_info_clear(&mi);
	/* Neither is the config's, and then there is no artifact type. */
	ck_assert_int_eq(parse("{\"schemaVersion\":2,\"config\":{\"digest\":"
	    "\"sha256:" HEX_CONFIG "\",\"size\":3},\"layers\":[]}", NULL, &mi,
	    &cause), 0);
	assert_ref(&mi.mi_refs[0], NULL, HEX_CONFIG, 3, 0);
	ck_assert_ptr_null(mi.mi_artifact_type);
	manifest_info_clear(&mi);
	/* sha512 digests are as good as sha256 ones. */
	ck_assert_int_eq(parse(WITH_LAYER("{\"digest\":\"sha512:" HEX_LAYER1
	    HEX_LAYER2 "\",\"size\":9007199254740993}"), NULL, &mi, &cause),
	    0);
	ck_assert_int_eq(mi.mi_refs[2].mr_digest.alg, DIGEST_SHA512);
	ck_assert_str_eq(mi.mi_refs[2].mr_digest.hex, HEX_LAYER1 HEX_LAYER2);
	ck_assert_int_eq(mi.mi_refs[2].mr_size, 9007199254740993LL);
	manifest_info_clear(&mi);
#undef WITH_LAYER
}
END_TEST

START_TEST(test_limit)
{
	struct manifest_info	 mi;
	char			*body, *cause = NULL;

	/* The config and 9999 layers make 10000 descriptors: allowed. */
	body = make_manifest(9999, 0);
	ck_assert_int_eq(parse(body, NULL, &mi, &cause), 0);
	ck_assert_uint_eq(mi.mi_nrefs, 10000);
	ck_assert_uint_eq(mi.mi_refs[9999].mr_size, 9998);
	manifest_info_clear(&mi);
	free(body);

	body = make_manifest(10000, 0);
	assert_refused(body, NULL, "more than 10000 descriptors");
	free(body);

	body = make_manifest(10000, 1);
	ck_assert_int_eq(parse(body, NULL, &mi, &cause), 0);
	ck_assert_uint_eq(mi.mi_nrefs, 10000);
	ck_assert_int_eq(mi.mi_refs[9999].mr_is_manifest, 1);
	manifest_info_clear(&mi);
	free(body);

	body = make_manifest(50000, 1);
	assert_refused(body, NULL, "more than 10000 descriptors");
	free(body);
}
END_TEST

START_TEST(test_annotations)
{
	struct manifest_info	 mi;
	char			*cause = NULL;

	ck_assert_int_eq(parse("{\"schemaVersion\":2,\"mediaType\":\""
	    MT_OCI_MANIFEST "\",\"config\":" DESC(MT_OCI_CONFIG, HEX_CONFIG, 10)
	    ",\"layers\":[],\"annotations\":{\n  \"zeta\": \"last\",\n"
	    "  \"alpha\": \"first \\\"quoted\\\" \\u00e9\",\n"
	    "  \"org.opencontainers.image.source\": "
	    "\"https://example.org/app\"\n}}", NULL, &mi, &cause), 0);
	ck_assert_str_eq(mi.mi_annotations, "{\"alpha\":\"first \\\"quoted\\\" "
	    "\xc3\xa9\",\"org.opencontainers.image.source\":"
	    "\"https://example.org/app\",\"zeta\":\"last\"}");
	manifest_info_clear(&mi);

	ck_assert_int_eq(parse("{\"schemaVersion\":2,\"mediaType\":\""
	    MT_OCI_INDEX "\",\"manifests\":[],\"annotations\":{}}", NULL, &mi,
	    &cause), 0);
	ck_assert_str_eq(mi.mi_annotations, "{}");
	manifest_info_clear(&mi);

	assert_refused("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX
	    "\",\"manifests\":[],\"annotations\":[\"a\"]}", NULL,
	    "annotations is not an object");
	assert_refused("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX
	    "\",\"manifests\":[],\"annotations\":{\"n\":1}}", NULL,
	    "must be strings");
}
END_TEST

/* Every cut of a valid manifest is refused cleanly. */
START_TEST(test_truncated)
{
	struct manifest_info	 mi;
	char			*cause;
	size_t			 len, n;

	len = strlen(artifact_manifest);
	for (n = 0; n < len; n++) {
		cause = NULL;
		ck_assert_int_eq(manifest_parse(artifact_manifest, n, NULL, &mi,
		    &cause), -1);
		ck_assert_ptr_nonnull(cause);
		ck_assert_ptr_null(mi.mi_refs);
		free(cause);
	}
	ck_assert_int_eq(manifest_parse(artifact_manifest, len, NULL, &mi,
	    &cause), 0);
	manifest_info_clear(&mi);
}
END_TEST

START_TEST(test_media_type_known)
{
	ck_assert_int_eq(manifest_media_type_known(MT_OCI_MANIFEST), 1);
	ck_assert_int_eq(manifest_media_type_known(MT_OCI_INDEX), 1);
	ck_assert_int_eq(manifest_media_type_known(MT_DOCKER_MANIFEST), 1);
	ck_assert_int_eq(manifest_media_type_known(MT_DOCKER_LIST), 1);
	ck_assert_int_eq(manifest_media_type_known(MT_OCI_EMPTY), 0);
	ck_assert_int_eq(manifest_media_type_known(MT_OCI_CONFIG), 0);
	ck_assert_int_eq(manifest_media_type_known(
	    "application/vnd.docker.distribution.manifest.v1+prettyjws"), 0);
	ck_assert_int_eq(manifest_media_type_known(MT_OCI_MANIFEST " "), 0);
	ck_assert_int_eq(manifest_media_type_known(""), 0);
	ck_assert_int_eq(manifest_media_type_known(NULL), 0);
}
END_TEST

START_TEST(test_accepts)
{
	/* What docker pull sends. */
	const char	*docker = MT_DOCKER_MANIFEST ", " MT_DOCKER_LIST ", "
	    MT_OCI_MANIFEST ", " MT_OCI_INDEX ", "
	    "application/vnd.docker.distribution.manifest.v1+prettyjws, "
	    "application/json";
	/* What an old client that knows only Docker schema 2 sends. */
	const char	*old = MT_DOCKER_MANIFEST ";q=0.9,"
	    "application/vnd.docker.distribution.manifest.v1+prettyjws;q=0.5";

	ck_assert_int_eq(manifest_accepts(docker, MT_OCI_INDEX), 1);
	ck_assert_int_eq(manifest_accepts(docker, MT_DOCKER_LIST), 1);
	ck_assert_int_eq(manifest_accepts(docker, MT_OCI_MANIFEST), 1);
	ck_assert_int_eq(manifest_accepts(old, MT_DOCKER_MANIFEST), 1);
	ck_assert_int_eq(manifest_accepts(old, MT_OCI_MANIFEST), 0);
	ck_assert_int_eq(manifest_accepts(old, MT_DOCKER_LIST), 0);
	ck_assert_int_eq(manifest_accepts(MT_OCI_MANIFEST, MT_OCI_INDEX), 0);
	ck_assert_int_eq(manifest_accepts(MT_OCI_INDEX, MT_OCI_INDEX), 1);

	/* Missing or empty means anything. */
	ck_assert_int_eq(manifest_accepts(NULL, MT_DOCKER_MANIFEST), 1);
	ck_assert_int_eq(manifest_accepts(NULL, MT_OCI_INDEX), 1);
	ck_assert_int_eq(manifest_accepts("", MT_OCI_MANIFEST), 1);
	ck_assert_int_eq(manifest_accepts(" , ", MT_OCI_MANIFEST), 1);

	/* Wildcards. */
	ck_assert_int_eq(manifest_accepts("*/*", MT_OCI_MANIFEST), 1);
	ck_assert_int_eq(manifest_accepts("application/*", MT_DOCKER_LIST),
	    1);
	ck_assert_int_eq(manifest_accepts("text/*", MT_DOCKER_LIST), 0);
	ck_assert_int_eq(manifest_accepts("text/html, */*;q=0.8",
	    MT_OCI_INDEX), 1);
	ck_assert_int_eq(manifest_accepts("text/html", MT_OCI_INDEX), 0);
	ck_assert_int_eq(manifest_accepts("application/json", MT_OCI_INDEX),
	    0);

	/* q=0 refuses, and the closest range decides. */
	ck_assert_int_eq(manifest_accepts(MT_OCI_MANIFEST ";q=0",
	    MT_OCI_MANIFEST), 0);
	ck_assert_int_eq(manifest_accepts(MT_OCI_MANIFEST "; q=0.000",
	    MT_OCI_MANIFEST), 0);
	ck_assert_int_eq(manifest_accepts(MT_OCI_MANIFEST " ; Q = 0.0 ",
	    MT_OCI_MANIFEST), 0);
	ck_assert_int_eq(manifest_accepts(MT_OCI_MANIFEST ";q=0.001",
	    MT_OCI_MANIFEST), 1);
	ck_assert_int_eq(manifest_accepts(MT_OCI_MANIFEST ";level=1;q=0",
	    MT_OCI_MANIFEST), 0);
	ck_assert_int_eq(manifest_accepts(MT_OCI_MANIFEST ";qs=0",
	    MT_OCI_MANIFEST), 1);
	ck_assert_int_eq(manifest_accepts("*/*, " MT_DOCKER_MANIFEST ";q=0",
	    MT_DOCKER_MANIFEST), 0);
	ck_assert_int_eq(manifest_accepts("*/*, " MT_DOCKER_MANIFEST ";q=0",
	    MT_OCI_MANIFEST), 1);
	ck_assert_int_eq(manifest_accepts("*/*;q=0, " MT_OCI_INDEX,
	    MT_OCI_INDEX), 1);
	ck_assert_int_eq(manifest_accepts("*/*;q=0", MT_OCI_INDEX), 0);
	ck_assert_int_eq(manifest_accepts("application/*;q=0, */*",
	    MT_OCI_INDEX), 0);

	/* Spacing and case are not significant. */
	ck_assert_int_eq(manifest_accepts("  APPLICATION/VND.OCI.IMAGE.INDEX."
	    "V1+JSON  ,text/plain", MT_OCI_INDEX), 1);
	ck_assert_int_eq(manifest_accepts(MT_OCI_MANIFEST "x", MT_OCI_MANIFEST),
	    0);
	ck_assert_int_eq(manifest_accepts("application", MT_OCI_MANIFEST), 0);
	ck_assert_int_eq(manifest_accepts(MT_OCI_INDEX, NULL), 0);
}
END_TEST

static Suite *
manifest_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("manifest");

	tc = tcase_create("formats");
	tcase_add_test(tc, test_oci_manifest);
	tcase_add_test(tc, test_docker_manifest);
	tcase_add_test(tc, test_oci_index);
	tcase_add_test(tc, test_docker_list);
	tcase_add_test(tc, test_artifact);
	suite_add_tcase(s, tc);

	tc = tcase_create("media_type");
	tcase_add_test(tc, test_media_type_choice);
	tcase_add_test(tc, test_media_type_mismatch);
	tcase_add_test(tc, test_schema1);
	tcase_add_test(tc, test_media_type_known);
	suite_add_tcase(s, tc);

	tc = tcase_create("refusals");
	tcase_add_test(tc, test_invalid_json);
	tcase_add_test(tc, test_duplicate_keys);
	tcase_add_test(tc, test_bad_descriptors);
	tcase_add_test(tc, test_bad_artifact_fields);
	tcase_add_test(tc, test_annotations);
	tcase_add_test(tc, test_truncated);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_add_test(tc, test_limit);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);

	tc = tcase_create("accept");
	tcase_add_test(tc, test_accepts);
	suite_add_tcase(s, tc);

	return (s);
}

CHECK_MAIN(manifest_suite)
