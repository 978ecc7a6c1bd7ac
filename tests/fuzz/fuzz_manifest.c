/*
 * fuzz_manifest.c: libFuzzer target for manifest_parse. The first byte
 * picks the Content-Type the body arrives with; the rest is the body.
 * An accepted manifest must be of a known media type, its kind must
 * agree with that type, and every descriptor must hold a canonical digest
 * and a size that is not negative; a refused one must say why and leave
 * nothing allocated. Clearing twice must be harmless.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/digest.h"
#include "lib/manifest.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	fuzz_check_digest(const struct digest *);
static void	fuzz_check_info(const struct manifest_info *);

static const char *content_types[] = {
	NULL,
	"",
	"application/json",
	MT_OCI_MANIFEST,
	MT_OCI_INDEX,
	MT_DOCKER_MANIFEST,
	MT_DOCKER_LIST "; charset=utf-8",
	"application/vnd.docker.distribution.manifest.v1+prettyjws",
};

#define FUZZ_NTYPES	(sizeof(content_types) / sizeof(content_types[0]))

static void
fuzz_check_digest(const struct digest *d)
{
	struct digest	 again;
	char		 buf[DIGEST_STRING_MAX];

	digest_format(d, buf, sizeof(buf));
	if (digest_parse(buf, &again, NULL) != 0 || !digest_equal(d, &again))
		abort();
}

static void
fuzz_check_info(const struct manifest_info *mi)
{
	size_t	 i;
	int	 index;

	if (!manifest_media_type_known(mi->mi_media_type))
		abort();
	index = strcmp(mi->mi_media_type, MT_OCI_INDEX) == 0 ||
	    strcmp(mi->mi_media_type, MT_DOCKER_LIST) == 0;
	if (index != (mi->mi_kind == MANIFEST_INDEX))
		abort();
	/* An image has its config first; an index may be empty. */
	if (!index && mi->mi_nrefs == 0)
		abort();
	if (mi->mi_nrefs > 10000 || (mi->mi_nrefs > 0) != (mi->mi_refs != NULL))
		abort();
	for (i = 0; i < mi->mi_nrefs; i++) {
		fuzz_check_digest(&mi->mi_refs[i].mr_digest);
		if (mi->mi_refs[i].mr_size < 0 ||
		    mi->mi_refs[i].mr_is_manifest != index)
			abort();
		if (mi->mi_refs[i].mr_media_type != NULL &&
		    (mi->mi_refs[i].mr_media_type[0] == '\0' ||
		    strpbrk(mi->mi_refs[i].mr_media_type, " \r\n") != NULL))
			abort();
	}
	if (mi->mi_has_subject)
		fuzz_check_digest(&mi->mi_subject);
	if (mi->mi_annotations != NULL && mi->mi_annotations[0] != '{')
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct manifest_info	 mi;
	const char		*content_type = NULL;
	char			*cause = NULL;

	if (size > 0) {
		content_type = content_types[data[0] % FUZZ_NTYPES];
		data++;
		size--;
	}
	if (manifest_parse(data, size, content_type, &mi, &cause) == -1) {
		if (cause == NULL || *cause == '\0' || mi.mi_refs != NULL ||
		    mi.mi_nrefs != 0 || mi.mi_media_type != NULL ||
		    mi.mi_artifact_type != NULL || mi.mi_annotations != NULL ||
		    mi.mi_has_subject)
			abort();
		free(cause);
		manifest_info_clear(&mi);
		return (0);
	}
	if (cause != NULL)
		abort();
	fuzz_check_info(&mi);
	manifest_info_clear(&mi);
	manifest_info_clear(&mi);
	return (0);
}

#define FUZZ_REPLAY_MAX	(4 * 1024 * 1024 + 1)
#include "fuzz_main.h"
