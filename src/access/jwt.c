/*
 * jwt.c: the cryptography of depot's token service. Owns the EC P-256
 * signing key (loading, creating it 0600), its libtrust key id, its
 * self-signed certificate, base64url, and compact JWS tokens signed and
 * verified with ES256. Knows nothing of HTTP or of what the claims mean.
 * OpenSSL's DER signatures are turned into the raw r||s of RFC 7518 and
 * back here, and nowhere else.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "access/jwt.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/xmalloc.h"

#define JWT_FILE_MAX		(64 * 1024)	/* a PEM key or certificate */
#define JWT_KEY_MODE		0600
#define JWT_CERT_MODE		0644
#define JWT_CERT_DAYS		3650		/* 10 years */
#define JWT_CERT_BACKDATE	3600		/* seconds, for clock skew */
#define JWT_SERIAL_LEN		16
#define JWT_COORD_LEN		32		/* r and s on P-256 */
#define JWT_SIG_LEN		(2 * JWT_COORD_LEN)
#define JWT_DER_SIG_MAX		128		/* DER ECDSA-Sig-Value */
#define JWT_KID_BYTES		30
#define JWT_CURVE		SN_X9_62_prime256v1

struct jwt_key {
	EVP_PKEY	*jk_pkey;
	char		 jk_id[JWT_KEY_ID_LEN + 1];
	char		*jk_x5c;	/* base64 DER certificate, or NULL */
};

static const char jwt_b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char jwt_base32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

static void	 jwt_cause(char **, const char *, ...) PRINTFLIKE(2, 3);
static const char *jwt_ssl_error(void);
static int	 jwt_pem_nopass_cb(char *, int, int, void *);
static int	 jwt_read_file(const char *, unsigned char **, size_t *,
		    struct stat *, char **);
static int	 jwt_write_file(const char *, const void *, size_t, mode_t,
		    char **);
static int	 jwt_write_bio(const char *, BIO *, mode_t, char **);
static int	 jwt_key_read(const char *, EVP_PKEY **, char **);
static EVP_PKEY	*jwt_key_create(const char *, char **);
static int	 jwt_key_check(const char *, EVP_PKEY *, char **);
static int	 jwt_key_id_make(EVP_PKEY *, char *);
static int	 jwt_cert_read(const char *, X509 **, char **);
static X509	*jwt_cert_make(EVP_PKEY *, const char *, char **);
static int	 jwt_cert_names(X509 *, const char *);
static int	 jwt_cert_extend(X509 *);
static X509	*jwt_cert_create(EVP_PKEY *, const char *, const char *,
		    char **);
static int	 jwt_cert_match(const char *, const struct jwt_key *, X509 *,
		    char **);
static char	*jwt_cert_base64(X509 *);
static int	 jwt_es256_sign(EVP_PKEY *, const void *, size_t,
		    unsigned char *);
static int	 jwt_es256_verify(EVP_PKEY *, const void *, size_t,
		    const unsigned char *);
static int	 jwt_b64url_value(unsigned char);
static int	 jwt_split(const char *, size_t, size_t *, size_t *);
static json_t	*jwt_part_json(const char *, size_t, const char *, char **);
static int	 jwt_header_check(const struct jwt_key *, json_t *, char **);

static void
jwt_cause(char **cause, const char *fmt, ...)
{
	va_list	 ap;

	if (cause == NULL)
		return;
	va_start(ap, fmt);
	xvasprintf(cause, fmt, ap);
	va_end(ap);
}

/* The latest OpenSSL error as one line; empties the error queue. */
static const char *
jwt_ssl_error(void)
{
	static char	 buf[256];
	unsigned long	 e;
	const char	*lib, *reason;

	if ((e = ERR_peek_last_error()) == 0)
		return ("unknown OpenSSL error");
	lib = ERR_lib_error_string(e);
	reason = ERR_reason_error_string(e);
	if (lib != NULL && reason != NULL)
		(void)snprintf(buf, sizeof(buf), "%s: %s", lib, reason);
	else
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return (buf);
}

/* Never ask for a passphrase: encrypted keys are refused, not prompted for. */
static int
jwt_pem_nopass_cb(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)arg;
	return (-1);
}

/*
 * Read a small regular file whole. Returns 0 with *buf (caller frees) and
 * *sb, 1 when nothing is at path, -1 with *cause.
 */
static int
jwt_read_file(const char *path, unsigned char **buf, size_t *len,
    struct stat *sb, char **cause)
{
	unsigned char	*data = NULL;
	size_t		 have = 0;
	ssize_t		 n;
	int		 fd;

	*buf = NULL;
	*len = 0;
	if ((fd = open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC)) == -1) {
		if (errno != ENOENT)
			jwt_cause(cause, "%s: %s", path, strerror(errno));
		else if (lstat(path, sb) == -1 && errno == ENOENT)
			return (1);
		else
			jwt_cause(cause, "%s: dangling symbolic link", path);
		return (-1);
	}
	if (fstat(fd, sb) == -1) {
		jwt_cause(cause, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(sb->st_mode)) {
		jwt_cause(cause, "%s: not a regular file", path);
		goto fail;
	}
	data = xmalloc(JWT_FILE_MAX + 1);
	while (have <= JWT_FILE_MAX) {
		n = read(fd, data + have, JWT_FILE_MAX + 1 - have);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			jwt_cause(cause, "%s: %s", path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		have += (size_t)n;
	}
	if (have > JWT_FILE_MAX) {
		jwt_cause(cause, "%s: larger than %d bytes", path, JWT_FILE_MAX);
		goto fail;
	}
	(void)close(fd);
	*buf = data;
	*len = have;
	return (0);
fail:
	if (data != NULL) {
		OPENSSL_cleanse(data, JWT_FILE_MAX + 1);
		free(data);
	}
	(void)close(fd);
	return (-1);
}

/*
 * Write a file whole and durably: a fresh temp file next to path (created
 * exclusively, so no link is followed), mode set, fsync, rename over path.
 */
static int
jwt_write_file(const char *path, const void *buf, size_t len, mode_t mode,
    char **cause)
{
	char	 tmp[PATH_MAX];
	int	 fd, saved_errno;

	if (path_fmt(tmp, sizeof(tmp), "%s.XXXXXX", path) == -1) {
		jwt_cause(cause, "%s: path too long", path);
		return (-1);
	}
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		jwt_cause(cause, "%s: %s", tmp, strerror(errno));
		return (-1);
	}
	if (fchmod(fd, mode) == -1 || write_all(fd, buf, len) == -1 ||
	    fsync(fd) == -1) {
		saved_errno = errno;
		(void)close(fd);
		goto fail;
	}
	if (close(fd) == -1 || rename(tmp, path) == -1) {
		saved_errno = errno;
		goto fail;
	}
	if (fsync_parent(path) == -1)
		log_warn("%s: fsync directory of %s", __func__, path);
	return (0);
fail:
	(void)unlink(tmp);
	jwt_cause(cause, "%s: %s", path, strerror(saved_errno));
	return (-1);
}

/* Write what a memory BIO holds to path. */
static int
jwt_write_bio(const char *path, BIO *bio, mode_t mode, char **cause)
{
	char	*data;
	long	 len;

	if ((len = BIO_get_mem_data(bio, &data)) <= 0) {
		jwt_cause(cause, "%s: nothing to write", path);
		return (-1);
	}
	return (jwt_write_file(path, data, (size_t)len, mode, cause));
}

/* Read a PEM private key. 0, 1 when the file does not exist, or -1. */
static int
jwt_key_read(const char *path, EVP_PKEY **pkey, char **cause)
{
	unsigned char	*buf;
	size_t		 len;
	struct stat	 sb;
	BIO		*bio;
	int		 rv;

	*pkey = NULL;
	if ((rv = jwt_read_file(path, &buf, &len, &sb, cause)) != 0)
		return (rv);
	if ((sb.st_mode & S_IRWXO) != 0)
		log_warnx("%s: private key is accessible to others", path);
	if ((bio = BIO_new_mem_buf(buf, (int)len)) == NULL)
		fatalx("%s: out of memory", __func__);
	*pkey = PEM_read_bio_PrivateKey(bio, NULL, jwt_pem_nopass_cb, NULL);
	BIO_free(bio);
	OPENSSL_cleanse(buf, len);
	free(buf);
	if (*pkey == NULL) {
		jwt_cause(cause, "%s: no unencrypted PEM private key (%s)",
		    path, jwt_ssl_error());
		return (-1);
	}
	return (0);
}

/* Generate a P-256 key and write it (PKCS#8 PEM, 0600) at path. */
static EVP_PKEY *
jwt_key_create(const char *path, char **cause)
{
	EVP_PKEY	*pkey;
	BIO		*bio;
	int		 rv = -1;

	if ((pkey = EVP_EC_gen(JWT_CURVE)) == NULL) {
		jwt_cause(cause, "%s: generating a key: %s", path,
		    jwt_ssl_error());
		return (NULL);
	}
	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		fatalx("%s: out of memory", __func__);
	if (PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL,
	    NULL) != 1)
		jwt_cause(cause, "%s: encoding the key: %s", path,
		    jwt_ssl_error());
	else
		rv = jwt_write_bio(path, bio, JWT_KEY_MODE, cause);
	BIO_free(bio);
	if (rv == -1) {
		EVP_PKEY_free(pkey);
		return (NULL);
	}
	log_info("%s: created a new token signing key", path);
	return (pkey);
}

/* Only a consistent EC key on the P-256 curve is a token key. */
static int
jwt_key_check(const char *path, EVP_PKEY *pkey, char **cause)
{
	char		 group[80];
	const char	*type;
	EVP_PKEY_CTX	*ctx;
	int		 nid, ok;

	if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC) {
		if ((type = EVP_PKEY_get0_type_name(pkey)) == NULL)
			type = "unknown";
		jwt_cause(cause, "%s: %s key, not EC P-256", path, type);
		return (-1);
	}
	if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), NULL) != 1) {
		ERR_clear_error();
		jwt_cause(cause, "%s: EC key without a named curve, not P-256",
		    path);
		return (-1);
	}
	if ((nid = OBJ_sn2nid(group)) == NID_undef)
		nid = EC_curve_nist2nid(group);
	if (nid != NID_X9_62_prime256v1) {
		jwt_cause(cause, "%s: EC key on curve %s, not P-256", path,
		    group);
		return (-1);
	}
	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) == NULL)
		fatalx("%s: out of memory", __func__);
	ok = EVP_PKEY_check(ctx);
	EVP_PKEY_CTX_free(ctx);
	if (ok != 1) {
		jwt_cause(cause, "%s: invalid EC key (%s)", path,
		    jwt_ssl_error());
		return (-1);
	}
	return (0);
}

/* The libtrust key id of the public key into id (JWT_KEY_ID_LEN + 1). */
static int
jwt_key_id_make(EVP_PKEY *pkey, char *id)
{
	unsigned char	*der = NULL, md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen, acc = 0, bits = 0, n = 0;
	int		 len, i;
	char		*p = id;

	if ((len = i2d_PUBKEY(pkey, &der)) <= 0)
		return (-1);
	i = EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL);
	OPENSSL_free(der);
	if (i != 1 || mdlen < JWT_KID_BYTES)
		return (-1);
	for (i = 0; i < JWT_KID_BYTES; i++) {
		acc = (acc << 8 | md[i]) & 0xfff;
		for (bits += 8; bits >= 5; n++) {
			bits -= 5;
			if (n > 0 && n % 4 == 0)
				*p++ = ':';
			*p++ = jwt_base32_alphabet[(acc >> bits) & 31];
		}
	}
	*p = '\0';
	return (p - id == JWT_KEY_ID_LEN ? 0 : -1);
}

struct jwt_key *
jwt_key_load(const char *path, int create, char **cause)
{
	struct jwt_key	*key;
	EVP_PKEY	*pkey;
	int		 rv;

	ERR_clear_error();
	if ((rv = jwt_key_read(path, &pkey, cause)) == -1)
		return (NULL);
	if (rv == 1 && !create) {
		jwt_cause(cause, "%s: %s", path, strerror(ENOENT));
		return (NULL);
	}
	if (rv == 1 && (pkey = jwt_key_create(path, cause)) == NULL)
		return (NULL);
	if (jwt_key_check(path, pkey, cause) == -1)
		goto fail;
	key = xcalloc(1, sizeof(*key));
	key->jk_pkey = pkey;
	if (jwt_key_id_make(pkey, key->jk_id) == -1) {
		jwt_cause(cause, "%s: key id: %s", path, jwt_ssl_error());
		jwt_key_free(key);
		return (NULL);
	}
	return (key);
fail:
	EVP_PKEY_free(pkey);
	return (NULL);
}

void
jwt_key_free(struct jwt_key *key)
{
	if (key == NULL)
		return;
	EVP_PKEY_free(key->jk_pkey);
	free(key->jk_x5c);
	free(key);
}

const char *
jwt_key_id(const struct jwt_key *key)
{
	return (key->jk_id);
}

/* Read the first PEM certificate of a file. 0, 1 when missing, or -1. */
static int
jwt_cert_read(const char *path, X509 **x, char **cause)
{
	unsigned char	*buf;
	size_t		 len;
	struct stat	 sb;
	BIO		*bio;
	int		 rv;

	*x = NULL;
	if ((rv = jwt_read_file(path, &buf, &len, &sb, cause)) != 0)
		return (rv);
	if ((bio = BIO_new_mem_buf(buf, (int)len)) == NULL)
		fatalx("%s: out of memory", __func__);
	*x = PEM_read_bio_X509(bio, NULL, jwt_pem_nopass_cb, NULL);
	BIO_free(bio);
	free(buf);
	if (*x == NULL) {
		jwt_cause(cause, "%s: no PEM certificate (%s)", path,
		    jwt_ssl_error());
		return (-1);
	}
	return (0);
}

/* Subject and issuer: CN = cn. */
static int
jwt_cert_names(X509 *x, const char *cn)
{
	X509_NAME	*name;

	if ((name = X509_get_subject_name(x)) == NULL ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, name) != 1)
		return (-1);
	return (0);
}

/* The extensions of a self-signed CA: basic constraints, usage, key id. */
static int
jwt_cert_extend(X509 *x)
{
	static const struct {
		int		 nid;
		const char	*value;
	} exts[] = {
		{ NID_basic_constraints, "critical,CA:TRUE" },
		{ NID_key_usage, "critical,digitalSignature,keyCertSign" },
		{ NID_subject_key_identifier, "hash" },
	};
	X509V3_CTX	 ctx;
	X509_EXTENSION	*ext;
	size_t		 i;
	int		 ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	for (i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		ext = X509V3_EXT_conf_nid(NULL, &ctx, exts[i].nid,
		    exts[i].value);
		if (ext == NULL)
			return (-1);
		ok = X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
		if (ok != 1)
			return (-1);
	}
	return (0);
}

/* A self-signed certificate for pkey, valid for 10 years from now. */
static X509 *
jwt_cert_make(EVP_PKEY *pkey, const char *cn, char **cause)
{
	unsigned char	 serial[JWT_SERIAL_LEN];
	BIGNUM		*bn = NULL;
	X509		*x;

	if (cn == NULL || *cn == '\0') {
		jwt_cause(cause, "certificate common name is empty");
		return (NULL);
	}
	if ((x = X509_new()) == NULL)
		fatalx("%s: out of memory", __func__);
	if (RAND_bytes(serial, sizeof(serial)) != 1)
		goto fail;
	serial[0] = (serial[0] & 0x7f) | 0x40;	/* positive, full length */
	if ((bn = BN_bin2bn(serial, sizeof(serial), NULL)) == NULL ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL ||
	    X509_set_version(x, X509_VERSION_3) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -JWT_CERT_BACKDATE) ==
	    NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), JWT_CERT_DAYS, 0,
	    NULL) == NULL ||
	    X509_set_pubkey(x, pkey) != 1 || jwt_cert_names(x, cn) == -1 ||
	    jwt_cert_extend(x) == -1 || X509_sign(x, pkey, EVP_sha256()) <= 0)
		goto fail;
	BN_free(bn);
	return (x);
fail:
	jwt_cause(cause, "making the certificate: %s", jwt_ssl_error());
	BN_free(bn);
	X509_free(x);
	return (NULL);
}

/* An existing certificate must be for this key; warn when it expired. */
static int
jwt_cert_match(const char *path, const struct jwt_key *key, X509 *x,
    char **cause)
{
	EVP_PKEY	*pub;

	if ((pub = X509_get0_pubkey(x)) == NULL ||
	    EVP_PKEY_eq(pub, key->jk_pkey) != 1) {
		ERR_clear_error();
		jwt_cause(cause, "%s: certificate is not for the token key %s",
		    path, key->jk_id);
		return (-1);
	}
	if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
		log_warnx("%s: certificate has expired (remove it to have a "
		    "new one written)", path);
	return (0);
}

/* Make the certificate and write it (PEM, 0644) at path. */
static X509 *
jwt_cert_create(EVP_PKEY *pkey, const char *path, const char *cn,
    char **cause)
{
	X509	*x;
	BIO	*bio;
	int	 rv = -1;

	if ((x = jwt_cert_make(pkey, cn, cause)) == NULL)
		return (NULL);
	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		fatalx("%s: out of memory", __func__);
	if (PEM_write_bio_X509(bio, x) != 1)
		jwt_cause(cause, "%s: encoding the certificate: %s", path,
		    jwt_ssl_error());
	else
		rv = jwt_write_bio(path, bio, JWT_CERT_MODE, cause);
	BIO_free(bio);
	if (rv == -1) {
		X509_free(x);
		return (NULL);
	}
	log_info("%s: wrote a self-signed token certificate", path);
	return (x);
}

/* Standard base64 of the DER certificate, as x5c wants it. Caller frees. */
static char *
jwt_cert_base64(X509 *x)
{
	unsigned char	*der = NULL;
	char		*out;
	int		 len;

	if ((len = i2d_X509(x, &der)) <= 0)
		return (NULL);
	out = xmalloc(((size_t)len + 2) / 3 * 4 + 1);
	(void)EVP_EncodeBlock((unsigned char *)out, der, len);
	OPENSSL_free(der);
	return (out);
}

int
jwt_cert_ensure(struct jwt_key *key, const char *cert_path,
    const char *common_name, char **cause)
{
	X509	*x;
	char	*x5c;
	int	 rv;

	ERR_clear_error();
	if ((rv = jwt_cert_read(cert_path, &x, cause)) == -1)
		return (-1);
	if (rv == 1)
		x = jwt_cert_create(key->jk_pkey, cert_path, common_name,
		    cause);
	else if (jwt_cert_match(cert_path, key, x, cause) == -1) {
		X509_free(x);
		x = NULL;
	}
	if (x == NULL)
		return (-1);
	if ((x5c = jwt_cert_base64(x)) == NULL) {
		jwt_cause(cause, "%s: %s", cert_path, jwt_ssl_error());
		X509_free(x);
		return (-1);
	}
	free(key->jk_x5c);
	key->jk_x5c = x5c;
	X509_free(x);
	return (0);
}

/* ES256 over msg into sig (JWT_SIG_LEN bytes, r||s). */
static int
jwt_es256_sign(EVP_PKEY *pkey, const void *msg, size_t len,
    unsigned char *sig)
{
	unsigned char		 der[JWT_DER_SIG_MAX];
	const unsigned char	*p = der;
	size_t			 derlen = sizeof(der);
	EVP_MD_CTX		*ctx;
	ECDSA_SIG		*es = NULL;
	const BIGNUM		*r, *s;
	int			 rv = -1;

	if ((ctx = EVP_MD_CTX_new()) == NULL)
		fatalx("%s: out of memory", __func__);
	if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey) != 1 ||
	    EVP_DigestSign(ctx, der, &derlen, msg, len) != 1 ||
	    (es = d2i_ECDSA_SIG(NULL, &p, (long)derlen)) == NULL)
		goto done;
	ECDSA_SIG_get0(es, &r, &s);
	if (BN_bn2binpad(r, sig, JWT_COORD_LEN) == JWT_COORD_LEN &&
	    BN_bn2binpad(s, sig + JWT_COORD_LEN, JWT_COORD_LEN) ==
	    JWT_COORD_LEN)
		rv = 0;
done:
	if (rv == -1)
		log_warnx("%s: %s", __func__, jwt_ssl_error());
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(ctx);
	return (rv);
}

/* 1 when sig (r||s, JWT_SIG_LEN bytes) is pkey's ES256 over msg, else 0. */
static int
jwt_es256_verify(EVP_PKEY *pkey, const void *msg, size_t len,
    const unsigned char *sig)
{
	unsigned char	*der = NULL;
	EVP_MD_CTX	*ctx;
	ECDSA_SIG	*es;
	BIGNUM		*r, *s;
	int		 derlen, ok = 0;

	r = BN_bin2bn(sig, JWT_COORD_LEN, NULL);
	s = BN_bin2bn(sig + JWT_COORD_LEN, JWT_COORD_LEN, NULL);
	if ((es = ECDSA_SIG_new()) == NULL || r == NULL || s == NULL)
		fatalx("%s: out of memory", __func__);
	if (ECDSA_SIG_set0(es, r, s) != 1)
		fatalx("%s: ECDSA_SIG_set0", __func__);
	if ((derlen = i2d_ECDSA_SIG(es, &der)) <= 0)
		goto done;
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		fatalx("%s: out of memory", __func__);
	if (EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pkey) == 1 &&
	    EVP_DigestVerify(ctx, der, (size_t)derlen, msg, len) == 1)
		ok = 1;
	EVP_MD_CTX_free(ctx);
done:
	ERR_clear_error();
	OPENSSL_free(der);
	ECDSA_SIG_free(es);
	return (ok);
}

char *
jwt_sign(const struct jwt_key *key, const json_t *claims)
{
	unsigned char	 sig[JWT_SIG_LEN];
	json_t		*header;
	char		*hjson = NULL, *cjson = NULL, *h64, *c64, *s64;
	char		*input = NULL, *token = NULL;

	if (!json_is_object(claims)) {
		log_warnx("%s: claims are not a JSON object", __func__);
		return (NULL);
	}
	header = json_pack("{s:s, s:s, s:s}", "typ", "JWT", "alg", "ES256",
	    "kid", key->jk_id);
	if (header != NULL && key->jk_x5c != NULL)
		(void)json_object_set_new(header, "x5c",
		    json_pack("[s]", key->jk_x5c));
	if (header == NULL || (hjson = json_dumps(header, JSON_COMPACT)) ==
	    NULL || (cjson = json_dumps(claims, JSON_COMPACT)) == NULL) {
		log_warnx("%s: cannot serialize the token", __func__);
		goto done;
	}
	h64 = jwt_b64url_encode(hjson, strlen(hjson));
	c64 = jwt_b64url_encode(cjson, strlen(cjson));
	xasprintf(&input, "%s.%s", h64, c64);
	free(h64);
	free(c64);
	if (jwt_es256_sign(key->jk_pkey, input, strlen(input), sig) == -1)
		goto done;
	s64 = jwt_b64url_encode(sig, sizeof(sig));
	xasprintf(&token, "%s.%s", input, s64);
	free(s64);
	if (strlen(token) > JWT_TOKEN_MAX) {
		log_warnx("%s: token of %zu bytes is over the limit of %d",
		    __func__, strlen(token), JWT_TOKEN_MAX);
		free(token);
		token = NULL;
	}
done:
	json_decref(header);
	free(hjson);
	free(cjson);
	free(input);
	return (token);
}

/* Find the two dots of a compact JWS; -1 unless there are exactly two. */
static int
jwt_split(const char *token, size_t len, size_t *dot1, size_t *dot2)
{
	const char	*p, *q;

	if ((p = memchr(token, '.', len)) == NULL)
		return (-1);
	q = memchr(p + 1, '.', len - (size_t)(p + 1 - token));
	if (q == NULL || memchr(q + 1, '.', len - (size_t)(q + 1 - token)))
		return (-1);
	*dot1 = (size_t)(p - token);
	*dot2 = (size_t)(q - token);
	return (0);
}

/* Decode one base64url part holding a JSON object. Caller json_decrefs. */
static json_t *
jwt_part_json(const char *s, size_t len, const char *what, char **cause)
{
	unsigned char	*buf;
	size_t		 buflen;
	json_t		*json;
	json_error_t	 error;

	if (jwt_b64url_decode(s, len, &buf, &buflen) == -1) {
		jwt_cause(cause, "token %s is not base64url", what);
		return (NULL);
	}
	json = json_loadb((const char *)buf, buflen, JSON_REJECT_DUPLICATES,
	    &error);
	free(buf);
	if (!json_is_object(json)) {
		json_decref(json);
		jwt_cause(cause, "token %s is not a JSON object", what);
		return (NULL);
	}
	return (json);
}

/* The header must name ES256 and, if it names a key, this one. */
static int
jwt_header_check(const struct jwt_key *key, json_t *header, char **cause)
{
	json_t	*alg, *kid;

	alg = json_object_get(header, "alg");
	if (!json_is_string(alg) || strcmp(json_string_value(alg),
	    "ES256") != 0) {
		jwt_cause(cause, "token algorithm is not ES256");
		return (-1);
	}
	kid = json_object_get(header, "kid");
	if (kid != NULL && (!json_is_string(kid) ||
	    strcmp(json_string_value(kid), key->jk_id) != 0)) {
		jwt_cause(cause, "token key id is not the token key's");
		return (-1);
	}
	if (json_object_get(header, "crit") != NULL) {
		jwt_cause(cause, "token has critical header parameters");
		return (-1);
	}
	return (0);
}

json_t *
jwt_verify(const struct jwt_key *key, const char *token, char **cause)
{
	unsigned char	*sig = NULL;
	size_t		 len, dot1, dot2, siglen;
	json_t		*header, *claims = NULL;

	if ((len = strnlen(token, JWT_TOKEN_MAX + 1)) > JWT_TOKEN_MAX) {
		jwt_cause(cause, "token longer than %d bytes", JWT_TOKEN_MAX);
		return (NULL);
	}
	if (jwt_split(token, len, &dot1, &dot2) == -1) {
		jwt_cause(cause, "token is not three parts joined by dots");
		return (NULL);
	}
	if ((header = jwt_part_json(token, dot1, "header", cause)) == NULL)
		return (NULL);
	if (jwt_header_check(key, header, cause) == -1)
		goto done;
	if (jwt_b64url_decode(token + dot2 + 1, len - dot2 - 1, &sig,
	    &siglen) == -1 || siglen != JWT_SIG_LEN) {
		jwt_cause(cause, "token signature is not %d base64url bytes",
		    JWT_SIG_LEN);
		goto done;
	}
	if (!jwt_es256_verify(key->jk_pkey, token, dot2, sig)) {
		jwt_cause(cause, "token signature does not verify");
		goto done;
	}
	claims = jwt_part_json(token + dot1 + 1, dot2 - dot1 - 1, "claims",
	    cause);
done:
	free(sig);
	json_decref(header);
	return (claims);
}

char *
jwt_b64url_encode(const void *buf, size_t len)
{
	const unsigned char	*in = buf;
	const char		*a = jwt_b64url_alphabet;
	char			*out, *p;
	unsigned long		 v;
	size_t			 i;

	if (len > SIZE_MAX / 2)
		fatalx("%s: %zu bytes is too much", __func__, len);
	p = out = xmalloc(len / 3 * 4 + 5);
	for (i = 0; i + 3 <= len; i += 3) {
		v = (unsigned long)in[i] << 16 | (unsigned long)in[i + 1] << 8 |
		    in[i + 2];
		*p++ = a[v >> 18 & 63];
		*p++ = a[v >> 12 & 63];
		*p++ = a[v >> 6 & 63];
		*p++ = a[v & 63];
	}
	if (len - i > 0) {
		v = (unsigned long)in[i] << 16;
		if (len - i > 1)
			v |= (unsigned long)in[i + 1] << 8;
		*p++ = a[v >> 18 & 63];
		*p++ = a[v >> 12 & 63];
		if (len - i > 1)
			*p++ = a[v >> 6 & 63];
	}
	*p = '\0';
	return (out);
}

/* The 6-bit value of a base64url character, or -1. */
static int
jwt_b64url_value(unsigned char c)
{
	const char	*p;

	if (c == '\0' || (p = strchr(jwt_b64url_alphabet, c)) == NULL)
		return (-1);
	return ((int)(p - jwt_b64url_alphabet));
}

int
jwt_b64url_decode(const char *s, size_t len, unsigned char **out,
    size_t *outlen)
{
	unsigned char	*buf;
	unsigned int	 acc = 0, bits = 0;
	size_t		 i, n = 0;
	int		 v;

	*out = NULL;
	*outlen = 0;
	if (len % 4 == 1 || len > SIZE_MAX / 2)
		return (-1);
	buf = xmalloc(len / 4 * 3 + 3);
	for (i = 0; i < len; i++) {
		if ((v = jwt_b64url_value((unsigned char)s[i])) == -1)
			goto fail;
		acc = (acc << 6 | (unsigned int)v) & 0xfff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[n++] = (unsigned char)(acc >> bits);
		}
	}
	if ((acc & ((1u << bits) - 1)) != 0)
		goto fail;	/* not the canonical encoding */
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	return (0);
fail:
	free(buf);
	return (-1);
}
