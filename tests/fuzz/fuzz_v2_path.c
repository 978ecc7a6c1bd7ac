/*
 * fuzz_v2_path.c: libFuzzer target for ref_parse_v2_path. The input is
 * tried as a whole path and behind "/v2/". Whatever is accepted must be
 * made only of validated parts that put together give the path back;
 * whatever is refused must leave nothing allocated and say why.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "depot.h"
#include "lib/digest.h"
#include "lib/ref.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	fuzz_check_name(const struct v2_path *, const char *);
static void	fuzz_check_reference(const struct v2_path *, const char *);
static void	fuzz_one(const char *);

/* The name is "/v2/" + registry + "/" + image, each part valid. */
static void
fuzz_check_name(const struct v2_path *p, const char *path)
{
	size_t	 rlen, nlen;

	if (p->name == NULL || p->registry == NULL || p->image == NULL)
		abort();
	rlen = strlen(p->registry);
	nlen = strlen(p->name);
	if (nlen > DEPOT_REPO_MAX || strncmp(path, "/v2/", 4) != 0 ||
	    strncmp(path + 4, p->name, nlen) != 0 || path[4 + nlen] != '/')
		abort();
	if (strncmp(p->name, p->registry, rlen) != 0 || p->name[rlen] != '/' ||
	    strcmp(p->name + rlen + 1, p->image) != 0)
		abort();
	if (ref_name_valid(p->registry, NULL) != 0 ||
	    ref_repository_valid(p->image, NULL) != 0)
		abort();
	/* A registry name may hold "..", an image never. */
	if (strstr(p->image, "..") != NULL || strchr(p->image, '%') != NULL)
		abort();
	if (strstr(p->name, "//") != NULL || strchr(p->name, '%') != NULL)
		abort();
}

/* The reference ends the path and is a valid tag, digest or upload id. */
static void
fuzz_check_reference(const struct v2_path *p, const char *path)
{
	char	 buf[DIGEST_STRING_MAX];
	size_t	 len, plen;

	if (p->kind == V2_TAGS || p->kind == V2_UPLOAD_START) {
		if (p->reference != NULL || p->ref_is_digest)
			abort();
		return;
	}
	if (p->reference == NULL)
		abort();
	len = strlen(p->reference);
	plen = strlen(path);
	if (len == 0 || len >= plen || strcmp(path + plen - len,
	    p->reference) != 0 || path[plen - len - 1] != '/' ||
	    strchr(p->reference, '/') != NULL)
		abort();
	if (p->ref_is_digest) {
		digest_format(&p->digest, buf, sizeof(buf));
		if (strcmp(buf, p->reference) != 0 || p->kind == V2_UPLOAD)
			abort();
	} else if (p->kind == V2_MANIFEST) {
		if (ref_tag_valid(p->reference, NULL) != 0)
			abort();
	} else if (p->kind != V2_UPLOAD)
		abort();
}

static void
fuzz_one(const char *path)
{
	struct v2_path	 p;
	const char	*code = NULL;
	char		*cause = NULL;

	if (ref_parse_v2_path(path, &p, &code, &cause) == -1) {
		if (code == NULL || cause == NULL || p.name != NULL ||
		    p.registry != NULL || p.image != NULL ||
		    p.reference != NULL)
			abort();
		free(cause);
		v2_path_clear(&p);
		return;
	}
	if (cause != NULL)
		abort();
	switch (p.kind) {
	case V2_BASE:
	case V2_CATALOG:
		if (p.name != NULL || p.registry != NULL || p.image != NULL ||
		    p.reference != NULL)
			abort();
		break;
	default:
		fuzz_check_name(&p, path);
		fuzz_check_reference(&p, path);
		break;
	}
	v2_path_clear(&p);
	v2_path_clear(&p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*s;

	if ((s = malloc(size + 5)) == NULL)
		return (0);
	memcpy(s, data, size);
	s[size] = '\0';
	fuzz_one(s);
	memcpy(s, "/v2/", 4);
	memcpy(s + 4, data, size);
	s[size + 4] = '\0';
	fuzz_one(s);
	free(s);
	return (0);
}

#include "fuzz_main.h"
