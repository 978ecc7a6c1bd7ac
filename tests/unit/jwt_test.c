/*
 * jwt_test.c: unit tests for jwt.c: the token key (creation, mode,
 * reloading, refusal of other key types), its libtrust key id computed
 * again here, the self-signed certificate, base64url, ES256 tokens signed
 * and verified (and the many ways a token must be refused), the RFC 7515
 * A.3 example, and signatures the openssl command line tool agrees with.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "access/jwt.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "check_main.h"

#define SIG_LEN		64
#define SIG_B64_LEN	86
#define KID_GROUPS	12
#define B64URL \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

/* RFC 7515 appendix A.3: an ES256 key and a token it signed. */
#define RFC_X		"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"
#define RFC_Y		"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
#define RFC_D		"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"
#define RFC_TOKEN \
	"eyJhbGciOiJFUzI1NiJ9" \
	".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt" \
	"cGxlLmNvbS9pc19yb290Ijp0cnVlfQ" \
	".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSA" \
	"pmWQxfKTUJqPP3-Kg6NU1Q"

static char	*tmpdir;

static void	 tmpdir_setup(void);
static void	 tmpdir_teardown(void);
static char	*tpath(const char *);
static void	 write_bytes(const char *, const void *, size_t, mode_t);
static void	 write_pkey(const char *, EVP_PKEY *, int);
static EVP_PKEY	*read_pkey(const char *);
static void	 expected_kid(EVP_PKEY *, char *);
static int	 kid_well_formed(const char *);
static size_t	 der_integer(unsigned char *, const unsigned char *);
static size_t	 raw_to_der(const unsigned char *, unsigned char *);
static void	 der_to_raw(const unsigned char *, size_t, unsigned char *);
static int	 verify_raw(EVP_PKEY *, const char *, size_t,
		    const unsigned char *);
static void	 sign_raw(EVP_PKEY *, const char *, size_t, unsigned char *);
static char	*forge(EVP_PKEY *, const char *, const char *);
static char	*assemble(const char *, const char *, const void *, size_t);
static json_t	*part_json(const char *, size_t);
static json_t	*token_header(const char *);
static void	 token_sig(const char *, unsigned char *);
static json_t	*sample_claims(void);
static void	 refused(const struct jwt_key *, const char *, const char *);
static void	 refused_for(const struct jwt_key *, const char *,
		    const char *);
static EVP_PKEY	*rfc_pkey(void);
static int	 have_openssl(void);
static int	 run(const char *);
static Suite	*jwt_suite(void);

static void
tmpdir_setup(void)
{
	const char	*base;

	if ((base = getenv("TMPDIR")) == NULL || *base == '\0')
		base = P_tmpdir;
	xasprintf(&tmpdir, "%s/jwt_test.XXXXXX", base);
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

/* Remove the test directory: plain files, links and empty directories. */
static void
tmpdir_teardown(void)
{
	DIR		*dir;
	struct dirent	*de;
	char		*path;

	ck_assert_ptr_nonnull(dir = opendir(tmpdir));
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		path = tpath(de->d_name);
		if (unlink(path) == -1)
			ck_assert_int_eq(rmdir(path), 0);
		free(path);
	}
	closedir(dir);
	ck_assert_int_eq(rmdir(tmpdir), 0);
	free(tmpdir);
	tmpdir = NULL;
}

/* A path in the test directory. Caller frees. */
static char *
tpath(const char *name)
{
	char	*path;

	xasprintf(&path, "%s/%s", tmpdir, name);
	return (path);
}

static void
write_bytes(const char *path, const void *buf, size_t len, mode_t mode)
{
	int	 fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write_all(fd, buf, len), 0);
	ck_assert_int_eq(close(fd), 0);
}

/* Write a private key as PEM, PKCS#8 or (traditional) the SEC1 form. */
static void
write_pkey(const char *path, EVP_PKEY *pkey, int traditional)
{
	FILE	*f;
	BIO	*bio;
	int	 fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_ptr_nonnull(f = fdopen(fd, "w"));
	ck_assert_ptr_nonnull(bio = BIO_new_fp(f, BIO_NOCLOSE));
	if (traditional)
		ck_assert_int_eq(PEM_write_bio_PrivateKey_traditional(bio,
		    pkey, NULL, NULL, 0, NULL, NULL), 1);
	else
		ck_assert_int_eq(PEM_write_bio_PrivateKey(bio, pkey, NULL,
		    NULL, 0, NULL, NULL), 1);
	BIO_free(bio);
	ck_assert_int_eq(fclose(f), 0);
}

static EVP_PKEY *
read_pkey(const char *path)
{
	EVP_PKEY	*pkey;
	FILE		*f;

	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	ck_assert_ptr_nonnull(pkey);
	return (pkey);
}

/*
 * The libtrust key id, worked out here on its own: SHA-256 of the DER
 * SubjectPublicKeyInfo, 240 bits of it in base32, 4 characters a group.
 */
static void
expected_kid(EVP_PKEY *pkey, char *out)
{
	static const char	 b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	unsigned char		*der = NULL, md[EVP_MAX_MD_SIZE];
	unsigned int		 mdlen;
	int			 len, bit, i, v;
	char			*p = out;

	len = i2d_PUBKEY(pkey, &der);
	ck_assert_int_gt(len, 0);
	ck_assert_int_eq(EVP_Digest(der, (size_t)len, md, &mdlen,
	    EVP_sha256(), NULL), 1);
	OPENSSL_free(der);
	ck_assert_uint_eq(mdlen, 32);
	/* 48 characters of 5 bits each, most significant bit first. */
	for (i = 0; i < 48; i++) {
		if (i > 0 && i % 4 == 0)
			*p++ = ':';
		v = 0;
		for (bit = i * 5; bit < i * 5 + 5; bit++)
			v = v << 1 | (md[bit / 8] >> (7 - bit % 8) & 1);
		*p++ = b32[v];
	}
	*p = '\0';
}

/* Twelve groups of four base32 characters joined by ':'. */
static int
kid_well_formed(const char *kid)
{
	size_t	 i;

	if (strlen(kid) != KID_GROUPS * 5 - 1)
		return (0);
	for (i = 0; kid[i] != '\0'; i++) {
		if (i % 5 == 4) {
			if (kid[i] != ':')
				return (0);
		} else if (!((kid[i] >= 'A' && kid[i] <= 'Z') ||
		    (kid[i] >= '2' && kid[i] <= '7')))
			return (0);
	}
	return (1);
}

/* One DER INTEGER of a 32-byte unsigned big-endian value. */
static size_t
der_integer(unsigned char *out, const unsigned char *v)
{
	size_t	 skip = 0, n = 0;

	while (skip < 31 && v[skip] == 0)
		skip++;
	out[n++] = 0x02;
	out[n++] = (unsigned char)(32 - skip + (v[skip] & 0x80 ? 1 : 0));
	if (v[skip] & 0x80)
		out[n++] = 0;
	memcpy(out + n, v + skip, 32 - skip);
	return (n + 32 - skip);
}

/* r||s to a DER ECDSA-Sig-Value, by hand. Returns its length. */
static size_t
raw_to_der(const unsigned char *raw, unsigned char *der)
{
	size_t	 n;

	n = der_integer(der + 2, raw);
	n += der_integer(der + 2 + n, raw + 32);
	der[0] = 0x30;
	der[1] = (unsigned char)n;
	return (n + 2);
}

/* A DER ECDSA-Sig-Value (short form lengths) back to r||s, by hand. */
static void
der_to_raw(const unsigned char *der, size_t len, unsigned char *raw)
{
	size_t	 off = 2, n, i;

	ck_assert_uint_ge(len, 8);
	ck_assert_uint_eq(der[0], 0x30);
	ck_assert_uint_eq(der[1], len - 2);
	memset(raw, 0, SIG_LEN);
	for (i = 0; i < 2; i++) {
		ck_assert_uint_eq(der[off], 0x02);
		n = der[off + 1];
		off += 2;
		ck_assert_uint_le(off + n, len);
		while (n > 32) {
			ck_assert_uint_eq(der[off], 0);
			off++;
			n--;
		}
		memcpy(raw + i * 32 + 32 - n, der + off, n);
		off += n;
	}
	ck_assert_uint_eq(off, len);
}

/* Verify r||s over msg with OpenSSL and the hand-made DER. */
static int
verify_raw(EVP_PKEY *pkey, const char *msg, size_t len,
    const unsigned char *raw)
{
	unsigned char	 der[80];
	size_t		 derlen;
	EVP_MD_CTX	*ctx;
	int		 rv;

	derlen = raw_to_der(raw, der);
	ck_assert_ptr_nonnull(ctx = EVP_MD_CTX_new());
	ck_assert_int_eq(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL,
	    pkey), 1);
	rv = EVP_DigestVerify(ctx, der, derlen, (const unsigned char *)msg,
	    len);
	EVP_MD_CTX_free(ctx);
	return (rv == 1);
}

/* ES256 over msg into r||s, signed here (not by jwt.c). */
static void
sign_raw(EVP_PKEY *pkey, const char *msg, size_t len, unsigned char *raw)
{
	unsigned char	 der[80];
	size_t		 derlen = sizeof(der);
	EVP_MD_CTX	*ctx;

	ck_assert_ptr_nonnull(ctx = EVP_MD_CTX_new());
	ck_assert_int_eq(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL,
	    pkey), 1);
	ck_assert_int_eq(EVP_DigestSign(ctx, der, &derlen,
	    (const unsigned char *)msg, len), 1);
	EVP_MD_CTX_free(ctx);
	der_to_raw(der, derlen, raw);
}

/* "h.c.s" from parts already encoded and raw signature bytes. Caller frees. */
static char *
assemble(const char *h64, const char *c64, const void *sig, size_t siglen)
{
	char	*s64, *token;

	s64 = jwt_b64url_encode(sig, siglen);
	xasprintf(&token, "%s.%s.%s", h64, c64, s64);
	free(s64);
	return (token);
}

/* A token with any header and claims text, ES256-signed by pkey here. */
static char *
forge(EVP_PKEY *pkey, const char *header, const char *claims)
{
	unsigned char	 sig[SIG_LEN];
	char		*h64, *c64, *input, *token;

	h64 = jwt_b64url_encode(header, strlen(header));
	c64 = jwt_b64url_encode(claims, strlen(claims));
	xasprintf(&input, "%s.%s", h64, c64);
	sign_raw(pkey, input, strlen(input), sig);
	token = assemble(h64, c64, sig, sizeof(sig));
	free(h64);
	free(c64);
	free(input);
	return (token);
}

static json_t *
part_json(const char *s, size_t len)
{
	unsigned char	*buf;
	size_t		 buflen;
	json_t		*json;

	ck_assert_int_eq(jwt_b64url_decode(s, len, &buf, &buflen), 0);
	json = json_loadb((const char *)buf, buflen, 0, NULL);
	free(buf);
	ck_assert_ptr_nonnull(json);
	return (json);
}

static json_t *
token_header(const char *token)
{
	const char	*dot;

	ck_assert_ptr_nonnull(dot = strchr(token, '.'));
	return (part_json(token, (size_t)(dot - token)));
}

/* The raw signature of a token, which must be exactly 64 bytes. */
static void
token_sig(const char *token, unsigned char *sig)
{
	const char	*dot;
	unsigned char	*buf;
	size_t		 len;

	ck_assert_ptr_nonnull(dot = strrchr(token, '.'));
	ck_assert_uint_eq(strlen(dot + 1), SIG_B64_LEN);
	ck_assert_int_eq(jwt_b64url_decode(dot + 1, strlen(dot + 1), &buf,
	    &len), 0);
	ck_assert_uint_eq(len, SIG_LEN);
	memcpy(sig, buf, SIG_LEN);
	free(buf);
}

static json_t *
sample_claims(void)
{
	json_t	*claims;

	claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:[{s:s, "
	    "s:s, s:[s, s]}]}", "iss", "depot", "sub", "alice", "aud", "depot",
	    "exp", (json_int_t)2000000300, "nbf", (json_int_t)2000000000,
	    "iat", (json_int_t)2000000000, "jti", "j\xc3\xa9-1", "access",
	    "type", "repository", "name", "hub/library/alpine", "actions",
	    "pull", "push");
	ck_assert_ptr_nonnull(claims);
	return (claims);
}

/* key must refuse token, with a cause that quotes no part of it. */
static void
refused(const struct jwt_key *key, const char *token, const char *why)
{
	json_t		*claims;
	char		*cause = NULL, *copy, *part, *save = NULL;

	claims = jwt_verify(key, token, &cause);
	ck_assert_msg(claims == NULL, "accepted: %s", why);
	ck_assert_msg(cause != NULL && *cause != '\0', "no cause: %s", why);
	copy = xstrdup(token);
	for (part = strtok_r(copy, ".", &save); part != NULL;
	    part = strtok_r(NULL, ".", &save))
		if (strlen(part) >= 8)
			ck_assert_msg(strstr(cause, part) == NULL,
			    "cause quotes the token: %s", why);
	free(copy);
	free(cause);
	/* A NULL cause is fine too. */
	ck_assert_ptr_null(jwt_verify(key, token, NULL));
}

/* Refused, and the cause says so in words containing expect. */
static void
refused_for(const struct jwt_key *key, const char *token, const char *expect)
{
	char	*cause = NULL;

	refused(key, token, expect);
	ck_assert_ptr_null(jwt_verify(key, token, &cause));
	ck_assert_msg(strstr(cause, expect) != NULL, "cause \"%s\", not %s",
	    cause, expect);
	free(cause);
}

/* The RFC 7515 A.3 key, built from its JWK coordinates. */
static EVP_PKEY *
rfc_pkey(void)
{
	unsigned char	 point[65], *x, *y, *d;
	size_t		 xlen, ylen, dlen;
	OSSL_PARAM_BLD	*bld;
	OSSL_PARAM	*params;
	EVP_PKEY_CTX	*ctx;
	EVP_PKEY	*pkey = NULL;
	BIGNUM		*bn;

	ck_assert_int_eq(jwt_b64url_decode(RFC_X, strlen(RFC_X), &x, &xlen),
	    0);
	ck_assert_int_eq(jwt_b64url_decode(RFC_Y, strlen(RFC_Y), &y, &ylen),
	    0);
	ck_assert_int_eq(jwt_b64url_decode(RFC_D, strlen(RFC_D), &d, &dlen),
	    0);
	ck_assert(xlen == 32 && ylen == 32 && dlen == 32);
	point[0] = 0x04;
	memcpy(point + 1, x, 32);
	memcpy(point + 33, y, 32);
	ck_assert_ptr_nonnull(bn = BN_bin2bn(d, 32, NULL));
	ck_assert_ptr_nonnull(bld = OSSL_PARAM_BLD_new());
	ck_assert_int_eq(OSSL_PARAM_BLD_push_utf8_string(bld,
	    OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0), 1);
	ck_assert_int_eq(OSSL_PARAM_BLD_push_octet_string(bld,
	    OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point)), 1);
	ck_assert_int_eq(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY,
	    bn), 1);
	ck_assert_ptr_nonnull(params = OSSL_PARAM_BLD_to_param(bld));
	ck_assert_ptr_nonnull(ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC",
	    NULL));
	ck_assert_int_eq(EVP_PKEY_fromdata_init(ctx), 1);
	ck_assert_int_eq(EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_KEYPAIR,
	    params), 1);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	free(x);
	free(y);
	free(d);
	return (pkey);
}

static int
have_openssl(void)
{
	return (system("command -v openssl >/dev/null 2>&1") == 0);
}

/* Run a shell command quietly; its exit status, or -1. */
static int
run(const char *cmd)
{
	char	*full;
	int	 rv;

	xasprintf(&full, "%s >/dev/null 2>&1", cmd);
	rv = system(full);
	free(full);
	if (rv == -1 || !WIFEXITED(rv))
		return (-1);
	return (WEXITSTATUS(rv));
}

START_TEST(test_key_create_reload)
{
	struct jwt_key	*key, *again;
	struct stat	 sb;
	char		*path, *cause = NULL, kid[64];
	DIR		*dir;
	struct dirent	*de;
	int		 entries = 0;
	mode_t		 old;

	path = tpath("token.key");
	/* Missing and not to be created: an error naming the file. */
	ck_assert_ptr_null(jwt_key_load(path, 0, &cause));
	ck_assert_ptr_nonnull(strstr(cause, path));
	free(cause);
	cause = NULL;
	ck_assert_int_eq(stat(path, &sb), -1);

	/* Created 0600 whatever the umask. */
	old = umask(0);
	key = jwt_key_load(path, 1, &cause);
	umask(old);
	ck_assert_msg(key != NULL, "%s", cause);
	ck_assert_int_eq(lstat(path, &sb), 0);
	ck_assert(S_ISREG(sb.st_mode));
	ck_assert_uint_eq(sb.st_mode & 07777, 0600);
	ck_assert(kid_well_formed(jwt_key_id(key)));

	/* No temp file is left behind. */
	ck_assert_ptr_nonnull(dir = opendir(tmpdir));
	while ((de = readdir(dir)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			entries++;
	closedir(dir);
	ck_assert_int_eq(entries, 1);

	/* Reloaded, created or not: the same key. */
	again = jwt_key_load(path, 0, &cause);
	ck_assert_msg(again != NULL, "%s", cause);
	ck_assert_str_eq(jwt_key_id(again), jwt_key_id(key));
	jwt_key_free(again);
	again = jwt_key_load(path, 1, &cause);
	ck_assert_msg(again != NULL, "%s", cause);
	ck_assert_str_eq(jwt_key_id(again), jwt_key_id(key));
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 07777, 0600);

	/* The file is a PEM P-256 key OpenSSL reads by itself. */
	{
		EVP_PKEY	*pkey = read_pkey(path);
		char		 group[32];

		ck_assert_int_eq(EVP_PKEY_get_group_name(pkey, group,
		    sizeof(group), NULL), 1);
		ck_assert_str_eq(group, "prime256v1");
		expected_kid(pkey, kid);
		ck_assert_str_eq(jwt_key_id(key), kid);
		EVP_PKEY_free(pkey);
	}
	jwt_key_free(again);
	jwt_key_free(key);
	jwt_key_free(NULL);
	free(path);
}
END_TEST

START_TEST(test_key_id_independent)
{
	struct jwt_key	*key;
	EVP_PKEY	*pkey;
	char		*path, *cause = NULL, kid[64];
	int		 i;

	/* Keys written by OpenSSL, in both PEM forms, several times. */
	for (i = 0; i < 4; i++) {
		path = tpath(i % 2 ? "sec1.key" : "pkcs8.key");
		ck_assert_ptr_nonnull(pkey = EVP_EC_gen("P-256"));
		write_pkey(path, pkey, i % 2);
		key = jwt_key_load(path, 0, &cause);
		ck_assert_msg(key != NULL, "%s", cause);
		expected_kid(pkey, kid);
		ck_assert(kid_well_formed(kid));
		ck_assert_str_eq(jwt_key_id(key), kid);
		jwt_key_free(key);
		EVP_PKEY_free(pkey);
		free(path);
	}

	/* The RFC 7515 A.3 key. */
	path = tpath("rfc.key");
	pkey = rfc_pkey();
	write_pkey(path, pkey, 0);
	key = jwt_key_load(path, 0, &cause);
	ck_assert_msg(key != NULL, "%s", cause);
	expected_kid(pkey, kid);
	ck_assert_str_eq(jwt_key_id(key), kid);
	jwt_key_free(key);
	EVP_PKEY_free(pkey);
	free(path);
}
END_TEST

/* Key files jwt_key_load must refuse, with a cause that names the file. */
START_TEST(test_key_refused)
{
	static const char	 garbage[] = "not a key\n";
	EVP_PKEY		*pkey;
	struct stat		 sb;
	char			*path, *cause, *target, *pem;
	size_t			 i;
	FILE			*f;
	const char		*names[] = { "p384.key", "rsa.key", "ed25519.key",
				    "enc.key", "garbage.key", "pub.key",
				    "dir.key", "empty.key", "secp256k1.key" };

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		path = tpath(names[i]);
		pkey = NULL;
		switch (i) {
		case 0:
			pkey = EVP_EC_gen("P-384");
			write_pkey(path, pkey, 0);
			break;
		case 1:
			pkey = EVP_RSA_gen(2048);
			write_pkey(path, pkey, 0);
			break;
		case 2:
			pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
			write_pkey(path, pkey, 0);
			break;
		case 3:
			/* Encrypted: refused, never prompted for. */
			pkey = EVP_EC_gen("P-256");
			ck_assert_ptr_nonnull(f = fopen(path, "w"));
			ck_assert_int_eq(PEM_write_PrivateKey(f, pkey,
			    EVP_aes_128_cbc(), (unsigned char *)"secret", 6,
			    NULL, NULL), 1);
			fclose(f);
			break;
		case 4:
			write_bytes(path, garbage, strlen(garbage), 0600);
			break;
		case 5:
			pkey = EVP_EC_gen("P-256");
			ck_assert_ptr_nonnull(f = fopen(path, "w"));
			ck_assert_int_eq(PEM_write_PUBKEY(f, pkey), 1);
			fclose(f);
			break;
		case 6:
			ck_assert_int_eq(mkdir(path, 0700), 0);
			break;
		case 7:
			write_bytes(path, "", 0, 0600);
			break;
		case 8:
			pkey = EVP_EC_gen("secp256k1");
			write_pkey(path, pkey, 0);
			break;
		}
		if (i <= 2 || i == 8)
			ck_assert_ptr_nonnull(pkey);
		cause = NULL;
		ck_assert_ptr_null(jwt_key_load(path, 1, &cause));
		ck_assert_ptr_nonnull(cause);
		ck_assert_msg(strstr(cause, path) != NULL, "%s", cause);
		if (i <= 2 || i == 8)
			ck_assert_msg(strstr(cause, "P-256") != NULL, "%s",
			    cause);
		if (i == 0)
			ck_assert_msg(strstr(cause, "secp384r1") != NULL, "%s",
			    cause);
		if (i == 1)
			ck_assert_msg(strstr(cause, "RSA") != NULL, "%s", cause);
		free(cause);
		/* Refused files are left as they were. */
		ck_assert_int_eq(lstat(path, &sb), 0);
		EVP_PKEY_free(pkey);
		free(path);
	}

	/* A dangling symbolic link is not replaced by a new key. */
	path = tpath("link.key");
	target = tpath("nowhere.key");
	ck_assert_int_eq(symlink(target, path), 0);
	cause = NULL;
	ck_assert_ptr_null(jwt_key_load(path, 1, &cause));
	ck_assert_ptr_nonnull(cause);
	ck_assert_ptr_nonnull(strstr(cause, path));
	ck_assert_ptr_nonnull(strstr(cause, "dangling"));
	free(cause);
	ck_assert_int_eq(lstat(path, &sb), 0);
	ck_assert(S_ISLNK(sb.st_mode));
	ck_assert_int_eq(lstat(target, &sb), -1);
	free(target);
	free(path);

	/* A directory that does not exist. */
	xasprintf(&pem, "%s/missing/token.key", tmpdir);
	cause = NULL;
	ck_assert_ptr_null(jwt_key_load(pem, 1, &cause));
	ck_assert_ptr_nonnull(cause);
	free(cause);
	free(pem);
}
END_TEST

/* A link to a key (as an administrator might make) is read through. */
START_TEST(test_key_symlink_read)
{
	struct jwt_key	*key, *linked;
	char		*path, *link, *cause = NULL;

	path = tpath("real.key");
	link = tpath("link.key");
	ck_assert_ptr_nonnull(key = jwt_key_load(path, 1, &cause));
	ck_assert_int_eq(symlink(path, link), 0);
	linked = jwt_key_load(link, 0, &cause);
	ck_assert_msg(linked != NULL, "%s", cause);
	ck_assert_str_eq(jwt_key_id(linked), jwt_key_id(key));
	jwt_key_free(linked);
	jwt_key_free(key);
	free(link);
	free(path);
}
END_TEST

START_TEST(test_cert)
{
	struct jwt_key	*key, *again, *other;
	X509		*x;
	FILE		*f;
	EVP_PKEY	*pkey;
	BIGNUM		*serial;
	struct stat	 sb, sb2;
	char		*kpath, *opath, *cpath, *gpath, *cause = NULL;
	char		 cn[64];
	int		 days, secs;
	mode_t		 old;

	kpath = tpath("token.key");
	opath = tpath("other.key");
	cpath = tpath("token.crt");
	gpath = tpath("garbage.crt");
	ck_assert_ptr_nonnull(key = jwt_key_load(kpath, 1, &cause));

	old = umask(077);
	ck_assert_msg(jwt_cert_ensure(key, cpath, "depot token signer",
	    &cause) == 0, "%s", cause);
	umask(old);
	ck_assert_int_eq(lstat(cpath, &sb), 0);
	ck_assert(S_ISREG(sb.st_mode));
	ck_assert_uint_eq(sb.st_mode & 07777, 0644);

	/* What was written is a sound self-signed certificate for the key. */
	ck_assert_ptr_nonnull(f = fopen(cpath, "r"));
	ck_assert_ptr_nonnull(x = PEM_read_X509(f, NULL, NULL, NULL));
	fclose(f);
	pkey = read_pkey(kpath);
	ck_assert_int_eq(EVP_PKEY_eq(X509_get0_pubkey(x), pkey), 1);
	ck_assert_int_eq(X509_verify(x, pkey), 1);
	ck_assert_int_eq(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
	ck_assert_int_eq(X509_get_version(x), X509_VERSION_3);
	ck_assert_int_gt(X509_NAME_get_text_by_NID(X509_get_subject_name(x),
	    NID_commonName, cn, sizeof(cn)), 0);
	ck_assert_str_eq(cn, "depot token signer");
	ck_assert_int_eq(X509_NAME_cmp(X509_get_subject_name(x),
	    X509_get_issuer_name(x)), 0);
	ck_assert_int_eq(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x),
	    X509_get0_notAfter(x)), 1);
	ck_assert_int_ge(days, 3650);
	ck_assert_int_le(days, 3651);
	ck_assert_int_le(X509_cmp_current_time(X509_get0_notBefore(x)), 0);
	ck_assert_int_gt(X509_cmp_current_time(X509_get0_notAfter(x)), 0);
	/* A positive serial number of 16 random bytes. */
	ck_assert_ptr_nonnull(serial = ASN1_INTEGER_to_BN(
	    X509_get_serialNumber(x), NULL));
	ck_assert(!BN_is_negative(serial));
	ck_assert_int_gt(BN_num_bits(serial), 120);
	BN_free(serial);
	X509_free(x);
	EVP_PKEY_free(pkey);

	/* Again, and from a reloaded key: read, left as it is. */
	ck_assert_int_eq(jwt_cert_ensure(key, cpath, "ignored", &cause), 0);
	ck_assert_ptr_nonnull(again = jwt_key_load(kpath, 0, &cause));
	ck_assert_msg(jwt_cert_ensure(again, cpath, "ignored", &cause) == 0,
	    "%s", cause);
	ck_assert_int_eq(stat(cpath, &sb2), 0);
	ck_assert_int_eq(sb2.st_ino, sb.st_ino);
	ck_assert_int_eq(sb2.st_mtime, sb.st_mtime);

	/* Another key's certificate is refused and left in place. */
	ck_assert_ptr_nonnull(other = jwt_key_load(opath, 1, &cause));
	cause = NULL;
	ck_assert_int_eq(jwt_cert_ensure(other, cpath, "x", &cause), -1);
	ck_assert_ptr_nonnull(cause);
	ck_assert_ptr_nonnull(strstr(cause, cpath));
	free(cause);
	ck_assert_int_eq(stat(cpath, &sb2), 0);
	ck_assert_int_eq(sb2.st_ino, sb.st_ino);

	/* A file without a certificate is refused. */
	write_bytes(gpath, "garbage\n", 8, 0644);
	cause = NULL;
	ck_assert_int_eq(jwt_cert_ensure(key, gpath, "x", &cause), -1);
	ck_assert_ptr_nonnull(cause);
	ck_assert_ptr_nonnull(strstr(cause, gpath));
	free(cause);

	jwt_key_free(other);
	jwt_key_free(again);
	jwt_key_free(key);
	free(kpath);
	free(opath);
	free(cpath);
	free(gpath);
}
END_TEST

START_TEST(test_sign_verify)
{
	struct jwt_key	*key;
	json_t		*claims, *got, *header;
	unsigned char	 sig[SIG_LEN];
	char		*path, *token, *token2, *cause = NULL, *expect, *dumped;
	const char	*dot1, *dot2;
	EVP_PKEY	*pkey;

	path = tpath("token.key");
	ck_assert_ptr_nonnull(key = jwt_key_load(path, 1, &cause));
	claims = sample_claims();
	ck_assert_ptr_nonnull(token = jwt_sign(key, claims));

	/* The header, exactly, in this order; no x5c without a certificate. */
	xasprintf(&expect, "{\"typ\":\"JWT\",\"alg\":\"ES256\",\"kid\":\"%s\"}",
	    jwt_key_id(key));
	header = token_header(token);
	dumped = json_dumps(header, JSON_COMPACT);
	ck_assert_str_eq(dumped, expect);
	free(dumped);
	free(expect);
	json_decref(header);

	/* Claims: the compact serialization, in the order given. */
	dot1 = strchr(token, '.');
	dot2 = strrchr(token, '.');
	{
		unsigned char	*buf;
		size_t		 len;

		ck_assert_int_eq(jwt_b64url_decode(dot1 + 1,
		    (size_t)(dot2 - dot1 - 1), &buf, &len), 0);
		dumped = json_dumps(claims, JSON_COMPACT);
		ck_assert_str_eq((char *)buf, dumped);
		ck_assert_uint_eq(len, strlen(dumped));
		ck_assert_ptr_nonnull(strstr(dumped, "{\"iss\":\"depot\","));
		free(dumped);
		free(buf);
	}

	/* A raw 64-byte r||s that OpenSSL verifies with the public key. */
	token_sig(token, sig);
	pkey = read_pkey(path);
	ck_assert(verify_raw(pkey, token, (size_t)(dot2 - token), sig));
	sig[10] ^= 1;
	ck_assert(!verify_raw(pkey, token, (size_t)(dot2 - token), sig));
	EVP_PKEY_free(pkey);

	/* Round trip. */
	got = jwt_verify(key, token, &cause);
	ck_assert_msg(got != NULL, "%s", cause);
	ck_assert(json_equal(got, claims));
	json_decref(got);

	/* ECDSA is randomized: another signature, just as good. */
	ck_assert_ptr_nonnull(token2 = jwt_sign(key, claims));
	ck_assert_str_ne(token, token2);
	ck_assert_ptr_nonnull(got = jwt_verify(key, token2, &cause));
	json_decref(got);

	/* Only objects are claims. */
	{
		json_t	*array = json_array();

		ck_assert_ptr_null(jwt_sign(key, array));
		json_decref(array);
	}

	free(token2);
	free(token);
	json_decref(claims);
	jwt_key_free(key);
	free(path);
}
END_TEST

START_TEST(test_x5c)
{
	struct jwt_key		*key;
	json_t			*claims, *header, *x5c, *got;
	unsigned char		 sig[SIG_LEN], *der;
	const unsigned char	*p;
	X509			*x, *file_x;
	FILE			*f;
	char			*kpath, *cpath, *token, *cause = NULL;
	const char		*b64;
	size_t			 b64len;
	int			 derlen;

	kpath = tpath("token.key");
	cpath = tpath("token.crt");
	ck_assert_ptr_nonnull(key = jwt_key_load(kpath, 1, &cause));
	ck_assert_int_eq(jwt_cert_ensure(key, cpath, "depot", &cause), 0);
	claims = sample_claims();
	ck_assert_ptr_nonnull(token = jwt_sign(key, claims));

	header = token_header(token);
	ck_assert_str_eq(json_string_value(json_object_get(header, "typ")),
	    "JWT");
	ck_assert_str_eq(json_string_value(json_object_get(header, "alg")),
	    "ES256");
	ck_assert_str_eq(json_string_value(json_object_get(header, "kid")),
	    jwt_key_id(key));
	ck_assert_uint_eq(json_object_size(header), 4);
	x5c = json_object_get(header, "x5c");
	ck_assert(json_is_array(x5c) && json_array_size(x5c) == 1);
	b64 = json_string_value(json_array_get(x5c, 0));
	ck_assert_ptr_nonnull(b64);

	/* Standard base64 (with padding) of the DER certificate. */
	b64len = strlen(b64);
	ck_assert_uint_eq(b64len % 4, 0);
	der = xmalloc(b64len / 4 * 3 + 1);
	derlen = EVP_DecodeBlock(der, (const unsigned char *)b64,
	    (int)b64len);
	ck_assert_int_gt(derlen, 0);
	derlen -= (b64[b64len - 1] == '=') + (b64[b64len - 2] == '=');
	p = der;
	ck_assert_ptr_nonnull(x = d2i_X509(NULL, &p, derlen));
	ck_assert_int_eq(p - der, derlen);

	/* The same certificate as the file; its key verifies the token. */
	ck_assert_ptr_nonnull(f = fopen(cpath, "r"));
	ck_assert_ptr_nonnull(file_x = PEM_read_X509(f, NULL, NULL, NULL));
	fclose(f);
	ck_assert_int_eq(X509_cmp(x, file_x), 0);
	token_sig(token, sig);
	ck_assert(verify_raw(X509_get0_pubkey(x), token,
	    (size_t)(strrchr(token, '.') - token), sig));

	ck_assert_ptr_nonnull(got = jwt_verify(key, token, &cause));
	json_decref(got);

	X509_free(file_x);
	X509_free(x);
	free(der);
	json_decref(header);
	free(token);
	json_decref(claims);
	jwt_key_free(key);
	free(kpath);
	free(cpath);
}
END_TEST

/* Every way a token must be refused. */
START_TEST(test_verify_refuses)
{
	struct jwt_key	*key, *other;
	EVP_PKEY	*pkey, *opkey;
	json_t		*claims;
	unsigned char	 sig[SIG_LEN], mac[EVP_MAX_MD_SIZE], *spki = NULL;
	unsigned int	 maclen;
	char		*kpath, *opath, *token, *t, *h, *c, *hdr, *claims_json;
	char		*dot1, *dot2, *big;
	const char	*p;
	size_t		 len;
	int		 spkilen;

	kpath = tpath("token.key");
	opath = tpath("other.key");
	ck_assert_ptr_nonnull(key = jwt_key_load(kpath, 1, NULL));
	ck_assert_ptr_nonnull(other = jwt_key_load(opath, 1, NULL));
	pkey = read_pkey(kpath);
	opkey = read_pkey(opath);
	claims = sample_claims();
	claims_json = json_dumps(claims, JSON_COMPACT);
	ck_assert_ptr_nonnull(token = jwt_sign(key, claims));
	dot1 = strchr(token, '.');
	dot2 = strrchr(token, '.');
	h = xstrndup(token, (size_t)(dot1 - token));
	c = xstrndup(dot1 + 1, (size_t)(dot2 - dot1 - 1));
	token_sig(token, sig);

	/* The forger in this file makes tokens jwt_verify accepts. */
	xasprintf(&hdr, "{\"alg\":\"ES256\",\"kid\":\"%s\"}", jwt_key_id(key));
	t = forge(pkey, hdr, claims_json);
	{
		json_t	*got = jwt_verify(key, t, NULL);

		ck_assert_ptr_nonnull(got);
		json_decref(got);
	}
	free(t);
	free(hdr);
	t = forge(pkey, "{\"alg\":\"ES256\"}", "{}");	/* no kid */
	{
		json_t	*got = jwt_verify(key, t, NULL);

		ck_assert_ptr_nonnull(got);
		json_decref(got);
	}
	free(t);

	/* Another key's token: by kid, and by signature alone. */
	refused(other, token, "another key's token");
	xasprintf(&hdr, "{\"alg\":\"ES256\",\"kid\":\"%s\"}", jwt_key_id(key));
	t = forge(opkey, hdr, claims_json);
	refused(key, t, "signed by another key, kid claimed");
	free(t);
	free(hdr);
	t = forge(opkey, "{\"alg\":\"ES256\"}", claims_json);
	refused(key, t, "signed by another key, no kid");
	free(t);

	/* Tampered claims, header, signature. */
	{
		char	*c2, *h2, *hj;

		c2 = jwt_b64url_encode("{\"sub\":\"root\"}", 14);
		t = assemble(h, c2, sig, sizeof(sig));
		refused(key, t, "tampered claims");
		free(t);
		free(c2);
		c2 = xstrdup(c);
		c2[5] = c2[5] == 'A' ? 'B' : 'A';
		t = assemble(h, c2, sig, sizeof(sig));
		refused(key, t, "one character of claims");
		free(t);
		free(c2);

		xasprintf(&hj, "{\"typ\":\"JWT\",\"alg\":\"ES256\",\"kid\":\"%s\","
		    "\"x\":1}", jwt_key_id(key));
		h2 = jwt_b64url_encode(hj, strlen(hj));
		t = assemble(h2, c, sig, sizeof(sig));
		refused(key, t, "tampered header");
		free(t);
		free(h2);
		free(hj);

		sig[SIG_LEN - 1] ^= 0x01;
		t = assemble(h, c, sig, sizeof(sig));
		refused(key, t, "flipped signature bit");
		free(t);
		sig[SIG_LEN - 1] ^= 0x01;
		t = assemble(h, c, sig, sizeof(sig) - 1);
		refused(key, t, "63-byte signature");
		free(t);
		{
			unsigned char	 longer[SIG_LEN + 1];

			memcpy(longer, sig, SIG_LEN);
			longer[SIG_LEN] = 0;
			t = assemble(h, c, longer, sizeof(longer));
			refused(key, t, "valid signature and one byte more");
			free(t);
		}
		memset(sig, 0, sizeof(sig));
		t = assemble(h, c, sig, sizeof(sig));
		refused(key, t, "zero signature");
		free(t);
		token_sig(token, sig);
	}

	/* alg none, empty signature, and with a valid ES256 signature. */
	{
		char	*h2 = jwt_b64url_encode("{\"alg\":\"none\"}", 14);

		t = assemble(h2, c, "", 0);
		refused(key, t, "alg none");
		free(t);
		free(h2);
	}
	t = forge(pkey, "{\"alg\":\"none\"}", claims_json);
	refused(key, t, "alg none, signed");
	free(t);
	xasprintf(&hdr, "{\"typ\":\"JWT\",\"alg\":\"none\",\"kid\":\"%s\"}",
	    jwt_key_id(key));
	{
		char	*h2 = jwt_b64url_encode(hdr, strlen(hdr)), *tt;

		xasprintf(&tt, "%s.%s.", h2, c);
		refused(key, tt, "alg none, kid, empty signature");
		free(tt);
		free(h2);
	}
	free(hdr);
	/* Other names of ES256 and other algorithms, validly signed. */
	{
		const char	*algs[] = { "{\"alg\":\"es256\"}",
				    "{\"alg\":\"ES384\"}", "{\"alg\":\"RS256\"}",
				    "{\"alg\":\"HS256\"}", "{\"alg\":[\"ES256\"]}",
				    "{\"alg\":\"ES256 \"}", "{}", "{\"typ\":\"JWT\"}",
				    "{\"alg\":\"ES256\",\"crit\":[\"b64\"],"
				    "\"b64\":false}",
				    "{\"alg\":\"ES256\",\"alg\":\"ES256\"}",
				    "{\"alg\":\"ES256\",\"kid\":7}",
				    "{\"alg\":\"ES256\",\"kid\":\"AAAA:BBBB\"}",
				    "[\"ES256\"]", "\"ES256\"", "" };
		size_t		 i;

		for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
			t = forge(pkey, algs[i], claims_json);
			refused(key, t, algs[i]);
			free(t);
		}
	}
	/* HS256 with the public key as the HMAC secret. */
	spkilen = i2d_PUBKEY(pkey, &spki);
	ck_assert_int_gt(spkilen, 0);
	xasprintf(&hdr, "{\"typ\":\"JWT\",\"alg\":\"HS256\",\"kid\":\"%s\"}",
	    jwt_key_id(key));
	{
		char	*h2 = jwt_b64url_encode(hdr, strlen(hdr)), *input;

		xasprintf(&input, "%s.%s", h2, c);
		ck_assert_ptr_nonnull(HMAC(EVP_sha256(), spki, spkilen,
		    (unsigned char *)input, strlen(input), mac, &maclen));
		t = assemble(h2, c, mac, maclen);
		refused(key, t, "HS256 keyed with the public key");
		free(t);
		free(input);
		free(h2);
	}
	OPENSSL_free(spki);
	free(hdr);

	/* Wrong kid with a valid signature. */
	t = forge(pkey, "{\"typ\":\"JWT\",\"alg\":\"ES256\",\"kid\":"
	    "\"AAAA:BBBB:CCCC:DDDD:EEEE:FFFF:GGGG:HHHH:IIII:JJJJ:KKKK:LLLL\"}",
	    claims_json);
	refused(key, t, "wrong kid");
	free(t);
	xasprintf(&hdr, "{\"alg\":\"ES256\",\"kid\":\"%s\"}", jwt_key_id(other));
	t = forge(pkey, hdr, claims_json);
	refused(key, t, "other key's kid");
	free(t);
	free(hdr);

	/* Claims that are not one JSON object, validly signed. */
	{
		const char	*bad[] = { "[1]", "\"x\"", "1", "", "{",
				    "{\"a\":1,\"a\":2}", "{\"a\":1} x" };
		size_t		 i;

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			t = forge(pkey, "{\"alg\":\"ES256\"}", bad[i]);
			refused(key, t, bad[i]);
			free(t);
		}
	}

	/* Not three parts. */
	xasprintf(&t, "%s.%s", h, c);
	refused_for(key, t, "three parts");
	free(t);
	xasprintf(&t, "%s.x", token);
	refused_for(key, t, "three parts");
	free(t);
	xasprintf(&t, "%s.", token);
	refused_for(key, t, "three parts");
	free(t);
	xasprintf(&t, ".%s", token);
	refused_for(key, t, "three parts");
	free(t);
	refused_for(key, "", "three parts");
	refused_for(key, h, "three parts");
	refused(key, "..", "empty parts");

	/* Bad base64url in each part. */
	{
		const char	*edits[] = { "+", "/", "=", " ", "\n", "*" };
		size_t		 i, part, at;
		char		*bad;

		for (i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
			for (part = 0; part < 3; part++) {
				bad = xstrdup(token);
				at = part == 0 ? 3 : part == 1 ?
				    (size_t)(dot1 - token) + 4 :
				    strlen(token) - 5;
				bad[at] = edits[i][0];
				refused(key, bad, "bad base64url");
				free(bad);
			}
		}
		xasprintf(&bad, "%s==", token);
		refused(key, bad, "padded signature");
		free(bad);
		/* Unused bits set in the last signature character. */
		bad = xstrdup(token);
		len = strlen(bad);
		p = strchr(B64URL, bad[len - 1]);
		ck_assert_ptr_nonnull(p);
		ck_assert_int_eq((p - B64URL) & 15, 0);
		bad[len - 1] = B64URL[(p - B64URL) | 1];
		refused(key, bad, "non-canonical signature");
		free(bad);
	}

	/* Oversized: over 16 KiB is refused even when validly signed. */
	{
		json_t	*bigc = json_deep_copy(claims);
		char	*pad, *bj;

		pad = xmalloc(JWT_TOKEN_MAX);
		memset(pad, 'a', JWT_TOKEN_MAX - 1);
		pad[JWT_TOKEN_MAX - 1] = '\0';
		json_object_set_new(bigc, "pad", json_string(pad));
		bj = json_dumps(bigc, JSON_COMPACT);
		big = forge(pkey, "{\"alg\":\"ES256\"}", bj);
		ck_assert_uint_gt(strlen(big), JWT_TOKEN_MAX);
		refused_for(key, big, "longer than 16384");
		/* jwt_sign will not make a token jwt_verify would refuse. */
		ck_assert_ptr_null(jwt_sign(key, bigc));
		free(big);
		/* Just under the limit is fine. */
		pad[JWT_TOKEN_MAX / 4 * 3 - 600] = '\0';
		json_object_set_new(bigc, "pad", json_string(pad));
		ck_assert_ptr_nonnull(big = jwt_sign(key, bigc));
		ck_assert_uint_le(strlen(big), JWT_TOKEN_MAX);
		ck_assert_uint_gt(strlen(big), JWT_TOKEN_MAX - 1000);
		{
			json_t	*got = jwt_verify(key, big, NULL);

			ck_assert_ptr_nonnull(got);
			json_decref(got);
		}
		free(big);
		free(bj);
		free(pad);
		json_decref(bigc);
	}

	/* The original is still good. */
	{
		json_t	*got = jwt_verify(key, token, NULL);

		ck_assert_ptr_nonnull(got);
		json_decref(got);
	}

	free(h);
	free(c);
	free(token);
	free(claims_json);
	json_decref(claims);
	EVP_PKEY_free(opkey);
	EVP_PKEY_free(pkey);
	jwt_key_free(other);
	jwt_key_free(key);
	free(kpath);
	free(opath);
}
END_TEST

/*
 * r and s keep their leading zero bytes: sign until both a short r and a
 * short s have come up (1 in 256 each), every signature checked.
 */
START_TEST(test_short_coordinates)
{
	struct jwt_key	*key;
	EVP_PKEY	*pkey;
	json_t		*claims, *got;
	unsigned char	 sig[SIG_LEN];
	char		*path, *token;
	int		 i, short_r = 0, short_s = 0;

	path = tpath("token.key");
	ck_assert_ptr_nonnull(key = jwt_key_load(path, 1, NULL));
	pkey = read_pkey(path);
	claims = json_pack("{s:i}", "n", 0);
	for (i = 0; i < 8192 && (short_r == 0 || short_s == 0); i++) {
		json_object_set_new(claims, "n", json_integer(i));
		ck_assert_ptr_nonnull(token = jwt_sign(key, claims));
		token_sig(token, sig);
		short_r += sig[0] == 0;
		short_s += sig[32] == 0;
		ck_assert(verify_raw(pkey, token,
		    (size_t)(strrchr(token, '.') - token), sig));
		ck_assert_ptr_nonnull(got = jwt_verify(key, token, NULL));
		json_decref(got);
		free(token);
	}
	ck_assert_int_gt(short_r, 0);
	ck_assert_int_gt(short_s, 0);
	json_decref(claims);
	EVP_PKEY_free(pkey);
	jwt_key_free(key);
	free(path);
}
END_TEST

/* RFC 7515 A.3: a token made elsewhere verifies; altered, it does not. */
START_TEST(test_rfc7515)
{
	struct jwt_key	*key;
	EVP_PKEY	*pkey;
	json_t		*claims;
	char		*path, *cause = NULL, *bad;
	size_t		 len;

	path = tpath("rfc.key");
	pkey = rfc_pkey();
	write_pkey(path, pkey, 1);
	key = jwt_key_load(path, 0, &cause);
	ck_assert_msg(key != NULL, "%s", cause);
	claims = jwt_verify(key, RFC_TOKEN, &cause);
	ck_assert_msg(claims != NULL, "%s", cause);
	ck_assert_str_eq(json_string_value(json_object_get(claims, "iss")),
	    "joe");
	ck_assert_int_eq(json_integer_value(json_object_get(claims, "exp")),
	    1300819380);
	ck_assert(json_is_true(json_object_get(claims,
	    "http://example.com/is_root")));
	json_decref(claims);

	bad = xstrdup(RFC_TOKEN);
	len = strlen(bad);
	bad[len - 2] = bad[len - 2] == 'U' ? 'V' : 'U';
	refused(key, bad, "altered RFC 7515 token");
	free(bad);

	jwt_key_free(key);
	EVP_PKEY_free(pkey);
	free(path);
}
END_TEST

/* The openssl tool verifies jwt.c's signatures, and signs ones it accepts. */
START_TEST(test_openssl_cli)
{
	struct jwt_key	*key;
	EVP_PKEY	*pkey;
	json_t		*claims, *got;
	unsigned char	 sig[SIG_LEN], der[80], buf[128];
	char		*kpath, *pub, *in, *sigf, *cmd, *token, *h64, *c64;
	const char	*dot2;
	size_t		 derlen;
	ssize_t		 n;
	FILE		*f;
	int		 fd;

	if (!have_openssl()) {
		fprintf(stderr, "# skip: no openssl command to check "
		    "interoperability with\n");
		return;
	}
	kpath = tpath("token.key");
	pub = tpath("pub.pem");
	in = tpath("input");
	sigf = tpath("sig.der");
	ck_assert_ptr_nonnull(key = jwt_key_load(kpath, 1, NULL));
	pkey = read_pkey(kpath);
	ck_assert_ptr_nonnull(f = fopen(pub, "w"));
	ck_assert_int_eq(PEM_write_PUBKEY(f, pkey), 1);
	fclose(f);

	/* jwt.c signs; openssl verifies the signature turned into DER. */
	claims = sample_claims();
	ck_assert_ptr_nonnull(token = jwt_sign(key, claims));
	dot2 = strrchr(token, '.');
	write_bytes(in, token, (size_t)(dot2 - token), 0600);
	token_sig(token, sig);
	derlen = raw_to_der(sig, der);
	write_bytes(sigf, der, derlen, 0600);
	xasprintf(&cmd, "openssl dgst -sha256 -verify '%s' -signature '%s' "
	    "'%s'", pub, sigf, in);
	ck_assert_int_eq(run(cmd), 0);
	write_bytes(in, token, (size_t)(dot2 - token) - 1, 0600);
	ck_assert_int_eq(run(cmd), 1);
	free(cmd);
	free(token);

	/* openssl signs; jwt.c verifies the DER turned into r||s. */
	h64 = jwt_b64url_encode("{\"alg\":\"ES256\"}", 15);
	c64 = jwt_b64url_encode("{\"sub\":\"cli\"}", 13);
	xasprintf(&token, "%s.%s", h64, c64);
	write_bytes(in, token, strlen(token), 0600);
	free(token);
	xasprintf(&cmd, "openssl dgst -sha256 -sign '%s' -out '%s' '%s'",
	    kpath, sigf, in);
	ck_assert_int_eq(run(cmd), 0);
	free(cmd);
	ck_assert_int_ge(fd = open(sigf, O_RDONLY), 0);
	ck_assert_int_gt(n = read(fd, buf, sizeof(buf)), 0);
	close(fd);
	der_to_raw(buf, (size_t)n, sig);
	token = assemble(h64, c64, sig, sizeof(sig));
	got = jwt_verify(key, token, NULL);
	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(json_string_value(json_object_get(got, "sub")),
	    "cli");
	json_decref(got);
	free(token);

	free(h64);
	free(c64);
	json_decref(claims);
	EVP_PKEY_free(pkey);
	jwt_key_free(key);
	free(kpath);
	free(pub);
	free(in);
	free(sigf);
}
END_TEST

/* RFC 4648 test vectors, and every length against OpenSSL's base64. */
START_TEST(test_b64url)
{
	static const struct {
		const char	*plain;
		const char	*encoded;
	} vectors[] = {
		{ "", "" }, { "f", "Zg" }, { "fo", "Zm8" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" },
		{ "foobar", "Zm9vYmFy" }, { "\xfb\xff\xbf", "-_-_" },
		{ "\xff\xef", "_-8" },
	};
	static const char	*bad[] = { "Z", "Zg=", "Zg==", "Zm9v=", "Zm 9",
				    "Zm+v", "Zm/v", "Zh", "Zm9", "Z\x80" "a",
				    "Zm9vY", "Zm9vA", "Zm9v.", "Zm9v\n" };
	unsigned char		 in[64], std[128], *out;
	char			*enc, *p;
	size_t			 i, len, outlen;
	int			 n;

	for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		enc = jwt_b64url_encode(vectors[i].plain,
		    strlen(vectors[i].plain));
		ck_assert_str_eq(enc, vectors[i].encoded);
		free(enc);
		ck_assert_int_eq(jwt_b64url_decode(vectors[i].encoded,
		    strlen(vectors[i].encoded), &out, &len), 0);
		ck_assert_uint_eq(len, strlen(vectors[i].plain));
		ck_assert_mem_eq(out, vectors[i].plain, len);
		ck_assert_uint_eq(out[len], 0);
		free(out);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		out = (unsigned char *)"x";
		ck_assert_msg(jwt_b64url_decode(bad[i], strlen(bad[i]), &out,
		    &len) == -1, "accepted %s", bad[i]);
		ck_assert_ptr_null(out);
	}
	/* An embedded NUL is not part of the alphabet. */
	ck_assert_int_eq(jwt_b64url_decode("Zm\0v", 4, &out, &len), -1);

	for (i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 37 + 251);
	for (len = 0; len <= sizeof(in); len++) {
		n = EVP_EncodeBlock(std, in, (int)len);
		for (p = (char *)std; *p != '\0'; p++)
			if (*p == '+')
				*p = '-';
			else if (*p == '/')
				*p = '_';
		if ((p = strchr((char *)std, '=')) != NULL)
			*p = '\0';
		enc = jwt_b64url_encode(in, len);
		ck_assert_str_eq(enc, (char *)std);
		ck_assert_int_ge(n, 0);
		ck_assert_int_eq(jwt_b64url_decode(enc, strlen(enc), &out,
		    &outlen), 0);
		ck_assert_uint_eq(outlen, len);
		ck_assert_mem_eq(out, in, len);
		free(out);
		free(enc);
	}
}
END_TEST

static Suite *
jwt_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("jwt");

	tc = tcase_create("key");
	tcase_add_checked_fixture(tc, tmpdir_setup, tmpdir_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_key_create_reload);
	tcase_add_test(tc, test_key_id_independent);
	tcase_add_test(tc, test_key_refused);
	tcase_add_test(tc, test_key_symlink_read);
	tcase_add_test(tc, test_cert);
	suite_add_tcase(s, tc);

	tc = tcase_create("token");
	tcase_add_checked_fixture(tc, tmpdir_setup, tmpdir_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_sign_verify);
	tcase_add_test(tc, test_x5c);
	tcase_add_test(tc, test_verify_refuses);
	tcase_add_test(tc, test_short_coordinates);
	tcase_add_test(tc, test_rfc7515);
	tcase_add_test(tc, test_openssl_cli);
	suite_add_tcase(s, tc);

	tc = tcase_create("base64url");
	tcase_add_test(tc, test_b64url);
	suite_add_tcase(s, tc);

	return (s);
}

CHECK_MAIN(jwt_suite)
