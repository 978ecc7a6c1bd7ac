/*
 * jwt.h: the token signing key (EC P-256), its self-signed certificate,
 * and compact JWS tokens signed and verified with ES256.
 */
#ifndef DEPOT_JWT_H
#define DEPOT_JWT_H

#include <stddef.h>

#include <jansson.h>

/* Tokens longer than this are refused without being parsed. */
#define JWT_TOKEN_MAX		(16 * 1024)
/* A libtrust key id: 12 groups of 4 base32 characters joined by ':'. */
#define JWT_KEY_ID_LEN		59

struct jwt_key;

/*
 * Load the EC P-256 private key (PEM) at path. When the file does not exist
 * and create is set, generate a key and write it with mode 0600 (temp file
 * in the same directory, then rename; no link is followed, and a dangling
 * symbolic link at path is refused, not replaced). A link to an existing
 * key is read through. Keys of another type or curve and encrypted keys
 * are refused with a message naming the file. Returns the key (free with
 * jwt_key_free) or NULL with *cause set (caller frees).
 */
struct jwt_key	*jwt_key_load(const char *path, int create, char **cause);
/* Free the key; NULL is fine. */
void		 jwt_key_free(struct jwt_key *);
/*
 * The libtrust key id: base32 (RFC 4648 alphabet, no padding) of the first
 * 30 bytes of SHA-256 over the DER SubjectPublicKeyInfo, in groups of 4
 * joined by ':'. Owned by the key.
 */
const char	*jwt_key_id(const struct jwt_key *);

/*
 * Make sure cert_path holds a self-signed X.509 certificate for the key
 * (CN = common_name, 10 years, ECDSA with SHA-256). A missing file is
 * written (0644, temp file + rename); an existing one must hold a PEM
 * certificate whose public key is this key. The certificate is then kept
 * for the x5c header of jwt_sign. Returns 0, or -1 with *cause set (caller
 * frees).
 */
int		 jwt_cert_ensure(struct jwt_key *, const char *cert_path,
		    const char *common_name, char **cause);

/*
 * Sign claims (a JSON object, serialized compactly in its own key order)
 * into a compact JWS with header {"typ":"JWT","alg":"ES256","kid":...,
 * "x5c":[...]} (x5c once jwt_cert_ensure succeeded). The signature is the
 * 64-byte r||s of RFC 7518. Returns NULL (logged) when claims is not an
 * object or signing fails. Caller frees.
 */
char		*jwt_sign(const struct jwt_key *, const json_t *claims);
/*
 * Verify a compact JWS signed by this key: three base64url parts, a header
 * object with alg "ES256" (anything else, "none" included, is refused), kid
 * (when present) equal to jwt_key_id, no "crit", a 64-byte r||s signature
 * valid for the key, and a claims object. Time and audience are not
 * checked: that is the caller's job. Returns the claims (caller
 * json_decref) or NULL with *cause set (caller frees; the cause never
 * quotes the token).
 */
json_t		*jwt_verify(const struct jwt_key *, const char *token,
		    char **cause);

/* base64url (RFC 4648 section 5) without padding. Caller frees. */
char		*jwt_b64url_encode(const void *buf, size_t len);
/*
 * Decode len characters of unpadded base64url. Padding, characters outside
 * the alphabet, impossible lengths and non-zero unused bits are refused.
 * Returns 0 with *out (NUL terminated for convenience, *outlen excludes the
 * NUL; caller frees) or -1.
 */
int		 jwt_b64url_decode(const char *s, size_t len, unsigned char **out,
		    size_t *outlen);

#endif /* DEPOT_JWT_H */
