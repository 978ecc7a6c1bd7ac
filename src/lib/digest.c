/*
 * digest.c: OCI content digests. Owns the strict "alg:hex" syntax that
 * makes a digest safe to use as a file name, and hashing through OpenSSL
 * EVP (incremental, whole buffer, whole file).
 */
#include <sys/types.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "lib/digest.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

#define DIGEST_READ_CHUNK	(64 * 1024)
/* Longest algorithm name quoted back in an error message. */
#define DIGEST_ALG_QUOTE_MAX	32

struct digester {
	enum digest_alg	 dg_alg;
	EVP_MD_CTX	*dg_ctx;
};

static const struct {
	enum digest_alg	 alg;
	const char	*name;
	size_t		 hex_len;
} digest_algs[] = {
	{ DIGEST_SHA256, "sha256", 64 },
	{ DIGEST_SHA512, "sha512", 128 },
};

#define DIGEST_NALGS	(sizeof(digest_algs) / sizeof(digest_algs[0]))

static size_t		 digest_alg_index(enum digest_alg);
static const EVP_MD	*digest_evp_md(enum digest_alg);
static void		 digest_ssl_fatal(const char *);
static int		 digest_alg_token(const char *, size_t);
static int		 digest_parse_alg(const char *, size_t, enum digest_alg *,
			    char **);
static int		 digest_parse_hex(const char *, enum digest_alg,
			    char **);

/* Table slot of an algorithm; anything else is a broken invariant. */
static size_t
digest_alg_index(enum digest_alg alg)
{
	size_t	 i;

	for (i = 0; i < DIGEST_NALGS; i++)
		if (digest_algs[i].alg == alg)
			return (i);
	fatalx("%s: unknown digest algorithm %d", __func__, (int)alg);
}

const char *
digest_alg_name(enum digest_alg alg)
{
	return (digest_algs[digest_alg_index(alg)].name);
}

size_t
digest_hex_len(enum digest_alg alg)
{
	return (digest_algs[digest_alg_index(alg)].hex_len);
}

int
digest_equal(const struct digest *a, const struct digest *b)
{
	return (a->alg == b->alg && strcmp(a->hex, b->hex) == 0);
}

void
digest_format(const struct digest *d, char *buf, size_t len)
{
	if (len == 0)
		return;
	(void)snprintf(buf, len, "%s:%s", digest_alg_name(d->alg), d->hex);
}

/* True when an algorithm name is short and tame enough to quote back. */
static int
digest_alg_token(const char *s, size_t len)
{
	size_t	 i;

	if (len == 0 || len > DIGEST_ALG_QUOTE_MAX)
		return (0);
	for (i = 0; i < len; i++) {
		if ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9'))
			continue;
		if (s[i] != '+' && s[i] != '.' && s[i] != '_' && s[i] != '-')
			return (0);
	}
	return (1);
}

/* Match the part before the colon against the supported algorithms. */
static int
digest_parse_alg(const char *s, size_t len, enum digest_alg *alg,
    char **cause)
{
	size_t	 i;

	for (i = 0; i < DIGEST_NALGS; i++) {
		if (strlen(digest_algs[i].name) == len &&
		    memcmp(digest_algs[i].name, s, len) == 0) {
			*alg = digest_algs[i].alg;
			return (0);
		}
	}
	if (cause != NULL) {
		if (digest_alg_token(s, len))
			xasprintf(cause, "unsupported digest algorithm \"%.*s\" "
			    "(sha256 and sha512 are supported)", (int)len, s);
		else
			xasprintf(cause, "invalid digest algorithm "
			    "(sha256 and sha512 are supported)");
	}
	return (-1);
}

/* Check the encoded part: exact length, lowercase hex only. */
static int
digest_parse_hex(const char *hex, enum digest_alg alg, char **cause)
{
	size_t	 want, len, i;

	want = digest_hex_len(alg);
	len = strnlen(hex, want + 1);
	if (len != want) {
		if (cause != NULL)
			xasprintf(cause, "%s digest must have %zu hex digits",
			    digest_alg_name(alg), want);
		return (-1);
	}
	for (i = 0; i < len; i++) {
		if ((hex[i] >= '0' && hex[i] <= '9') ||
		    (hex[i] >= 'a' && hex[i] <= 'f'))
			continue;
		if (cause != NULL)
			xasprintf(cause, "%s digest must be lowercase "
			    "hexadecimal", digest_alg_name(alg));
		return (-1);
	}
	return (0);
}

int
digest_parse(const char *s, struct digest *d, char **cause)
{
	const char	*colon;
	enum digest_alg	 alg;

	if (cause != NULL)
		*cause = NULL;
	if (s == NULL || *s == '\0') {
		if (cause != NULL)
			xasprintf(cause, "empty digest");
		return (-1);
	}
	if (strnlen(s, DIGEST_STRING_MAX) >= DIGEST_STRING_MAX) {
		if (cause != NULL)
			xasprintf(cause, "digest too long");
		return (-1);
	}
	if ((colon = strchr(s, ':')) == NULL) {
		if (cause != NULL)
			xasprintf(cause, "digest has no algorithm "
			    "(expected \"sha256:<hex>\")");
		return (-1);
	}
	if (digest_parse_alg(s, (size_t)(colon - s), &alg, cause) == -1)
		return (-1);
	if (digest_parse_hex(colon + 1, alg, cause) == -1)
		return (-1);

	memset(d, 0, sizeof(*d));
	d->alg = alg;
	memcpy(d->hex, colon + 1, digest_hex_len(alg));
	d->hex[digest_hex_len(alg)] = '\0';
	return (0);
}

static const EVP_MD *
digest_evp_md(enum digest_alg alg)
{
	switch (alg) {
	case DIGEST_SHA256:
		return (EVP_sha256());
	case DIGEST_SHA512:
		return (EVP_sha512());
	}
	fatalx("%s: unknown digest algorithm %d", __func__, (int)alg);
}

/* Hashing in memory cannot fail short of a broken library: give up. */
static void
digest_ssl_fatal(const char *what)
{
	unsigned long	 e;
	char		 buf[256];

	e = ERR_get_error();
	if (e == 0)
		fatalx("%s failed", what);
	ERR_error_string_n(e, buf, sizeof(buf));
	fatalx("%s: %s", what, buf);
}

/* Start a hash. Caller frees with digester_free. */
struct digester *
digester_create(enum digest_alg alg)
{
	struct digester	*dg;

	dg = xcalloc(1, sizeof(*dg));
	dg->dg_alg = alg;
	if ((dg->dg_ctx = EVP_MD_CTX_new()) == NULL)
		digest_ssl_fatal("EVP_MD_CTX_new");
	if (EVP_DigestInit_ex(dg->dg_ctx, digest_evp_md(alg), NULL) != 1)
		digest_ssl_fatal("EVP_DigestInit_ex");
	return (dg);
}

void
digester_update(struct digester *dg, const void *buf, size_t len)
{
	if (len == 0)
		return;
	if (EVP_DigestUpdate(dg->dg_ctx, buf, len) != 1)
		digest_ssl_fatal("EVP_DigestUpdate");
}

/* Finish the hash into out; the digester starts over and may be reused. */
void
digester_final(struct digester *dg, struct digest *out)
{
	static const char	 hexdigits[] = "0123456789abcdef";
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 mdlen, i;

	if (EVP_DigestFinal_ex(dg->dg_ctx, md, &mdlen) != 1)
		digest_ssl_fatal("EVP_DigestFinal_ex");
	if ((size_t)mdlen * 2 != digest_hex_len(dg->dg_alg))
		fatalx("%s: unexpected hash length %u", __func__, mdlen);

	memset(out, 0, sizeof(*out));
	out->alg = dg->dg_alg;
	for (i = 0; i < mdlen; i++) {
		out->hex[2 * i] = hexdigits[md[i] >> 4];
		out->hex[2 * i + 1] = hexdigits[md[i] & 0x0f];
	}
	out->hex[2 * mdlen] = '\0';

	if (EVP_DigestInit_ex(dg->dg_ctx, digest_evp_md(dg->dg_alg), NULL) != 1)
		digest_ssl_fatal("EVP_DigestInit_ex");
}

void
digester_free(struct digester *dg)
{
	if (dg == NULL)
		return;
	EVP_MD_CTX_free(dg->dg_ctx);
	free(dg);
}

void
digest_buffer(enum digest_alg alg, const void *buf, size_t len,
    struct digest *out)
{
	struct digester	*dg;

	dg = digester_create(alg);
	digester_update(dg, buf, len);
	digester_final(dg, out);
	digester_free(dg);
}

/*
 * Hash a file from offset 0 to EOF in 64 KiB chunks. pread leaves the file
 * offset alone; a pipe or socket (ESPIPE) is read from where it stands.
 */
int
digest_fd(enum digest_alg alg, int fd, struct digest *out)
{
	struct digester	*dg;
	char		*buf;
	off_t		 off = 0;
	ssize_t		 n;
	int		 use_read = 0, saved_errno;

	buf = xmalloc(DIGEST_READ_CHUNK);
	dg = digester_create(alg);
	for (;;) {
		if (use_read)
			n = read(fd, buf, DIGEST_READ_CHUNK);
		else
			n = pread(fd, buf, DIGEST_READ_CHUNK, off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == ESPIPE && !use_read && off == 0) {
			use_read = 1;
			continue;
		}
		if (n == -1)
			goto fail;
		if (n == 0)
			break;
		digester_update(dg, buf, (size_t)n);
		off += n;
	}
	digester_final(dg, out);
	digester_free(dg);
	free(buf);
	return (0);

fail:
	saved_errno = errno;
	digester_free(dg);
	free(buf);
	errno = saved_errno;
	return (-1);
}
