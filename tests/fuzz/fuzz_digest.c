/*
 * fuzz_digest.c: libFuzzer target for digest.c. Every string digest_parse
 * accepts must format back to itself and be safe in a file name; every
 * refusal must come with a cause; incremental hashing must agree with
 * one-shot hashing however the input is split.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/digest.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	fuzz_parse(const char *);
static void	fuzz_hash(enum digest_alg, const uint8_t *, size_t);

static void
fuzz_parse(const char *s)
{
	struct digest	 d, again;
	char		 buf[DIGEST_STRING_MAX], *cause = NULL;
	size_t		 i;

	if (digest_parse(s, &d, &cause) == -1) {
		if (cause == NULL || *cause == '\0')
			abort();
		free(cause);
		return;
	}
	if (cause != NULL)
		abort();
	if (strlen(d.hex) != digest_hex_len(d.alg))
		abort();
	for (i = 0; d.hex[i] != '\0'; i++)
		if (!((d.hex[i] >= '0' && d.hex[i] <= '9') ||
		    (d.hex[i] >= 'a' && d.hex[i] <= 'f')))
			abort();
	/* Only the canonical spelling is accepted. */
	digest_format(&d, buf, sizeof(buf));
	if (strcmp(buf, s) != 0)
		abort();
	if (digest_parse(buf, &again, NULL) != 0 || !digest_equal(&d, &again))
		abort();
}

static void
fuzz_hash(enum digest_alg alg, const uint8_t *data, size_t size)
{
	struct digester	*dg;
	struct digest	 whole, parts;
	size_t		 cut;

	digest_buffer(alg, data, size, &whole);
	cut = size > 0 ? data[0] % (size + 1) : 0;
	dg = digester_create(alg);
	digester_update(dg, data, cut);
	digester_update(dg, data + cut, size - cut);
	digester_final(dg, &parts);
	digester_free(dg);
	if (!digest_equal(&whole, &parts))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*s;

	/* Inputs may hold NULs: the parser sees what precedes the first. */
	if ((s = malloc(size + 1)) == NULL)
		return (0);
	memcpy(s, data, size);
	s[size] = '\0';
	fuzz_parse(s);
	free(s);

	fuzz_hash(DIGEST_SHA256, data, size);
	fuzz_hash(DIGEST_SHA512, data, size);
	return (0);
}

#include "fuzz_main.h"
