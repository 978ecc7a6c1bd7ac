/*
 * digest.h: OCI content digests ("sha256:<hex>", "sha512:<hex>"):
 * parsing, formatting and incremental hashing with OpenSSL EVP.
 */
#ifndef DEPOT_DIGEST_H
#define DEPOT_DIGEST_H

#include <stddef.h>

enum digest_alg {
	DIGEST_SHA256,
	DIGEST_SHA512
};

#define DIGEST_HEX_MAX		128
#define DIGEST_STRING_MAX	(7 + DIGEST_HEX_MAX + 1)	/* "sha512:" hex NUL */

struct digest {
	enum digest_alg	alg;
	char		hex[DIGEST_HEX_MAX + 1];	/* lowercase, NUL ended */
};

/*
 * Parse "alg:hex". Only sha256 (64 lowercase hex) and sha512 (128 lowercase
 * hex) are accepted. Returns 0, or -1 with *cause set (caller frees) when
 * cause is not NULL. A parsed digest is safe to use in a file path.
 */
int		 digest_parse(const char *s, struct digest *d, char **cause);
/* "alg:hex" into buf (DIGEST_STRING_MAX is always enough). */
void		 digest_format(const struct digest *d, char *buf, size_t len);
const char	*digest_alg_name(enum digest_alg alg);
size_t		 digest_hex_len(enum digest_alg alg);
int		 digest_equal(const struct digest *a, const struct digest *b);

/* Incremental hashing. */
struct digester;
struct digester	*digester_create(enum digest_alg alg);
void		 digester_update(struct digester *, const void *buf, size_t len);
void		 digester_final(struct digester *, struct digest *out);
void		 digester_free(struct digester *);
/* Hash a whole buffer. */
void		 digest_buffer(enum digest_alg, const void *buf, size_t len,
		    struct digest *out);
/* Hash an open file from offset 0 to EOF. Returns 0 or -1 (errno). */
int		 digest_fd(enum digest_alg, int fd, struct digest *out);

#endif /* DEPOT_DIGEST_H */
