/*
 * fuzz_jwt.c: libFuzzer target for jwt.c, the verification of the
 * tokens depot issues (ES256 compact JWS), with a key made at start in
 * a temporary directory. The first input byte picks what the rest is:
 *   0  a token as a client sends it;
 *   1  a header, claims and a signature (fields split at 0xff bytes),
 *      each base64url-encoded here into a token, to reach past the
 *      framing;
 *   2  claims (JSON): signed, they verify to the same claims, and the
 *      token with any one character changed does not verify;
 *   3  bytes: base64url encoding and decoding give them back.
 * A refusal always says why; nothing is left allocated.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "access/jwt.h"
#include "fuzz_util.h"

static struct jwt_key	*fuzz_key;

static void	fuzz_verify(const char *, json_t *);
static char	*fuzz_part(const char *);
static void	fuzz_sign(const char *);
static void	fuzz_b64(const uint8_t *, size_t);

/* Verify token; when expect is set, the claims must equal it. */
static void
fuzz_verify(const char *token, json_t *expect)
{
	json_t	*claims;
	char	*cause = NULL;

	claims = jwt_verify(fuzz_key, token, &cause);
	if (claims == NULL) {
		if (cause == NULL || *cause == '\0' || expect != NULL)
			abort();
		free(cause);
		return;
	}
	if (cause != NULL || !json_is_object(claims))
		abort();
	if (expect != NULL && !json_equal(claims, expect))
		abort();
	json_decref(claims);
}

static char *
fuzz_part(const char *s)
{
	return (jwt_b64url_encode(s, strlen(s)));
}

static void
fuzz_sign(const char *text)
{
	json_t		*claims;
	json_error_t	 err;
	char		*token, *cause = NULL, saved;
	size_t		 len, i;

	if ((claims = json_loads(text, 0, &err)) == NULL)
		return;
	if ((token = jwt_sign(fuzz_key, claims)) == NULL) {
		if (json_is_object(claims))
			abort();
		json_decref(claims);
		return;
	}
	len = strlen(token);
	if (len <= JWT_TOKEN_MAX) {
		fuzz_verify(token, claims);
		/* One character changed: refused. */
		i = len > 0 ? strlen(text) % len : 0;
		saved = token[i];
		token[i] = saved == 'A' ? 'B' : saved == '.' ? 'x' : 'A';
		if (jwt_verify(fuzz_key, token, &cause) != NULL)
			abort();
		free(cause);
		token[i] = saved;
	}
	free(token);
	json_decref(claims);
}

static void
fuzz_b64(const uint8_t *data, size_t size)
{
	unsigned char	*out;
	char		*enc;
	size_t		 outlen;

	enc = jwt_b64url_encode(data, size);
	if (jwt_b64url_decode(enc, strlen(enc), &out, &outlen) != 0 ||
	    outlen != size || memcmp(out, data, size) != 0 ||
	    out[outlen] != '\0')
		abort();
	free(out);
	free(enc);
	/* The bytes as text: decoded, they encode back to themselves. */
	if (jwt_b64url_decode((const char *)data, size, &out, &outlen) == 0) {
		enc = jwt_b64url_encode(out, outlen);
		if (strlen(enc) != size || memcmp(enc, data, size) != 0)
			abort();
		free(enc);
		free(out);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*s, *f[3], *p[3], *token, path[128], *cause = NULL;
	size_t	 i, n;
	int	 mode;

	fuzz_init_log();
	if (fuzz_key == NULL) {
		snprintf(path, sizeof(path), "%s/token.key", fuzz_tmpdir());
		if ((fuzz_key = jwt_key_load(path, 1, &cause)) == NULL) {
			fprintf(stderr, "%s\n", cause);
			abort();
		}
	}
	if (size == 0)
		return (0);
	mode = data[0] & 3;
	data++;
	size--;
	switch (mode) {
	case 0:
		s = fuzz_string(data, size);
		fuzz_verify(s, NULL);
		free(s);
		break;
	case 1:
		for (i = 0; i < 3; i++) {
			if ((f[i] = fuzz_field(&data, &size)) == NULL)
				f[i] = fuzz_string(data, 0);
			p[i] = fuzz_part(f[i]);
		}
		n = strlen(p[0]) + strlen(p[1]) + strlen(p[2]) + 3;
		if ((token = malloc(n)) == NULL)
			abort();
		snprintf(token, n, "%s.%s.%s", p[0], p[1], p[2]);
		fuzz_verify(token, NULL);
		free(token);
		for (i = 0; i < 3; i++) {
			free(f[i]);
			free(p[i]);
		}
		break;
	case 2:
		s = fuzz_string(data, size);
		fuzz_sign(s);
		free(s);
		break;
	default:
		fuzz_b64(data, size);
		break;
	}
	return (0);
}

#include "fuzz_main.h"
