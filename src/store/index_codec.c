/*
 * index_codec.c: how the index writes keys and values, for every table.
 *
 * Keys are byte strings without a terminating NUL; the parts of a composite
 * key are separated by one NUL byte (names never hold NUL, so "a/b" NUL
 * sorts before "a/b/c" and "a/bc" and a prefix scan on "a/b" NUL finds the
 * entries of a/b alone): index_key_make. Every database is a btree with
 * the default (byte-wise) key order, which is the order of the lists.
 * Integers are stored big-endian (two's complement when signed), so they
 * read the same on every host and unsigned ones sort in numeric order.
 *
 * Values of registry content (every table but meta.db) start with one
 * version byte (INDEX_VALUE_VERSION), then their fields in order: int64 is
 * 8 bytes, u8 one byte, str a uint32 byte count then the bytes (no NUL
 * inside, none at the end), digest a str "alg:hex", flag a u8 0 or 1
 * (when 0, the field it governs is absent). A value that is short, long,
 * of another version or with a field out of range is refused (logged,
 * -1), never trusted: encoding and decoding keep the first error
 * (enc_bad, dec_bad), checked once at the end.
 *
 * Each table describes its value once, in a layout function that calls
 * index_code_* on the fields in order (index_tag_fields, say); like XDR,
 * index_encode, index_decode and index_layout_clear run that function to
 * write, read and free the value, so the two directions always agree.
 *
 * Limits checked on every key: repo 1..DEPOT_REPO_MAX bytes, tag
 * 1..DEPOT_TAG_MAX, upload id 1..INDEX_UPLOAD_ID_MAX (index_str_ok).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/index_impl.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

static void	index_enc_init(struct index_enc *);
static int	index_enc_end(struct index_enc *, enum index_table);
static void	index_enc_bytes(struct index_enc *, const void *, size_t);
static const unsigned char *index_dec_take(struct index_dec *, size_t);
static size_t	index_dec_len(struct index_dec *, size_t);
static void	index_enc_u8(struct index_enc *, unsigned int);
static void	index_enc_i64(struct index_enc *, int64_t);
static void	index_enc_str(struct index_enc *, const char *, size_t);
static void	index_enc_digest(struct index_enc *, const struct digest *);
static int	index_dec_flag(struct index_dec *);
static int64_t	index_dec_i64(struct index_dec *);
static void	index_dec_str(struct index_dec *, char *, size_t);
static char	*index_dec_strdup(struct index_dec *);
static void	index_dec_digest(struct index_dec *, struct digest *);
static void	index_code_bad(struct index_code *);

void
index_enc64(unsigned char *p, int64_t value)
{
	uint64_t	 u = (uint64_t)value;
	int		 i;

	for (i = 7; i >= 0; i--) {
		p[i] = (unsigned char)(u & 0xff);
		u >>= 8;
	}
}

int64_t
index_dec64(const unsigned char *p)
{
	uint64_t	 u = 0;
	int		 i;

	for (i = 0; i < 8; i++)
		u = (u << 8) | p[i];
	if (u <= INT64_MAX)
		return ((int64_t)u);
	return (-(int64_t)(~u) - 1);
}

/* A name of 1 to max bytes (a C string cannot hold the NUL separator). */
int
index_str_ok(const char *func, const char *what, const char *s, size_t max)
{
	size_t	 n;

	if (s == NULL || (n = strnlen(s, max + 1)) == 0 || n > max) {
		log_warnx("%s: bad %s", func, what);
		return (0);
	}
	return (1);
}

/* Check a parsed digest and format it into buf (DIGEST_STRING_MAX). */
int
index_digest_fmt(const char *func, const struct digest *d, char *buf)
{
	struct digest	 check;

	if (d == NULL || (d->alg != DIGEST_SHA256 && d->alg != DIGEST_SHA512) ||
	    strnlen(d->hex, sizeof(d->hex)) != digest_hex_len(d->alg))
		goto fail;
	digest_format(d, buf, DIGEST_STRING_MAX);
	if (digest_parse(buf, &check, NULL) == -1)
		goto fail;
	return (0);

fail:
	log_warnx("%s: bad digest", func);
	return (-1);
}

/* Key of parts a, b, c (b and c may be NULL) joined by NUL bytes. */
int
index_key_make(struct index_key *k, const char *a, const char *b,
    const char *c)
{
	const char	*parts[3];
	size_t		 len, i;

	parts[0] = a;
	parts[1] = b;
	parts[2] = b != NULL ? c : NULL;
	k->key_len = 0;
	for (i = 0; i < 3 && parts[i] != NULL; i++) {
		len = strlen(parts[i]);
		if (len + 1 > sizeof(k->key_buf) - k->key_len) {
			log_warnx("%s: key too long", __func__);
			k->key_len = 0;
			return (-1);
		}
		if (i > 0)
			k->key_buf[k->key_len++] = '\0';
		memcpy(k->key_buf + k->key_len, parts[i], len);
		k->key_len += len;
	}
	return (0);
}

static void
index_enc_init(struct index_enc *e)
{
	memset(e, 0, sizeof(*e));
	index_enc_u8(e, INDEX_VALUE_VERSION);
}

/* Finish encoding a value of table: 0, or -1 (logged, e freed) when bad. */
static int
index_enc_end(struct index_enc *e, enum index_table table)
{
	if (!e->enc_bad)
		return (0);
	log_warnx("%s: %s: bad value", __func__, index_files[table]);
	index_enc_free(e);
	return (-1);
}

static void
index_enc_bytes(struct index_enc *e, const void *p, size_t n)
{
	size_t	 size;

	if (e->enc_size - e->enc_len < n) {
		size = e->enc_size == 0 ? 64 : e->enc_size;
		while (size - e->enc_len < n)
			size *= 2;
		e->enc_data = xreallocarray(e->enc_data, 1, size);
		e->enc_size = size;
	}
	if (n > 0)
		memcpy(e->enc_data + e->enc_len, p, n);
	e->enc_len += n;
}

static void
index_enc_u8(struct index_enc *e, unsigned int v)
{
	unsigned char	 c = (unsigned char)v;

	index_enc_bytes(e, &c, 1);
}

static void
index_enc_i64(struct index_enc *e, int64_t v)
{
	unsigned char	 buf[8];

	index_enc64(buf, v);
	index_enc_bytes(e, buf, sizeof(buf));
}

/* A uint32 byte count, then the bytes; longer than max sets enc_bad. */
static void
index_enc_str(struct index_enc *e, const char *s, size_t max)
{
	unsigned char	 buf[4];
	size_t		 n;

	if (s == NULL || (n = strnlen(s, max + 1)) > max) {
		e->enc_bad = 1;
		return;
	}
	buf[0] = (unsigned char)(n >> 24);
	buf[1] = (unsigned char)(n >> 16);
	buf[2] = (unsigned char)(n >> 8);
	buf[3] = (unsigned char)n;
	index_enc_bytes(e, buf, sizeof(buf));
	index_enc_bytes(e, s, n);
}

static void
index_enc_digest(struct index_enc *e, const struct digest *d)
{
	char	 buf[DIGEST_STRING_MAX];

	if (index_digest_fmt(__func__, d, buf) == -1) {
		e->enc_bad = 1;
		return;
	}
	index_enc_str(e, buf, DIGEST_STRING_MAX - 1);
}

void
index_enc_free(struct index_enc *e)
{
	free(e->enc_data);
	memset(e, 0, sizeof(*e));
}

/*
 * Start decoding a value, which must begin with our version byte, into
 * out (size bytes, cleared here; NULL when the caller has no struct).
 */
void
index_dec_init(struct index_dec *d, const void *data, size_t size,
    void *out, size_t out_size)
{
	const unsigned char	*p = data;

	if (out != NULL)
		memset(out, 0, out_size);
	d->dec_bad = size < 1 || p == NULL || p[0] != INDEX_VALUE_VERSION;
	d->dec_p = d->dec_bad ? NULL : p + 1;
	d->dec_left = d->dec_bad ? 0 : size - 1;
}

/* The next n bytes, or NULL (and dec_bad) when fewer are left. */
static const unsigned char *
index_dec_take(struct index_dec *d, size_t n)
{
	const unsigned char	*p;

	if (d->dec_bad || d->dec_left < n) {
		d->dec_bad = 1;
		return (NULL);
	}
	p = d->dec_p;
	d->dec_p += n;
	d->dec_left -= n;
	return (p);
}

unsigned int
index_dec_u8(struct index_dec *d)
{
	const unsigned char	*p;

	if ((p = index_dec_take(d, 1)) == NULL)
		return (0);
	return (p[0]);
}

/* A u8 that must be 0 or 1. */
static int
index_dec_flag(struct index_dec *d)
{
	unsigned int	 v;

	if ((v = index_dec_u8(d)) > 1)
		d->dec_bad = 1;
	return (v == 1);
}

static int64_t
index_dec_i64(struct index_dec *d)
{
	const unsigned char	*p;

	if ((p = index_dec_take(d, 8)) == NULL)
		return (0);
	return (index_dec64(p));
}

/* The byte count of a str field: at most max and what is left. */
static size_t
index_dec_len(struct index_dec *d, size_t max)
{
	const unsigned char	*p;
	size_t			 n;

	if ((p = index_dec_take(d, 4)) == NULL)
		return (0);
	n = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 |
	    (size_t)p[3];
	if (n > max || n > d->dec_left) {
		d->dec_bad = 1;
		return (0);
	}
	return (n);
}

/* A str field into buf of size bytes, NUL ended; "" when bad. */
static void
index_dec_str(struct index_dec *d, char *buf, size_t size)
{
	const unsigned char	*p;
	size_t			 n;

	buf[0] = '\0';
	n = index_dec_len(d, size - 1);
	if ((p = index_dec_take(d, n)) == NULL || memchr(p, '\0', n) != NULL) {
		d->dec_bad = 1;
		return;
	}
	memcpy(buf, p, n);
	buf[n] = '\0';
}

/* A str field, allocated; NULL when bad. Caller frees. */
static char *
index_dec_strdup(struct index_dec *d)
{
	const unsigned char	*p;
	size_t			 n;

	n = index_dec_len(d, INDEX_STR_MAX);
	if ((p = index_dec_take(d, n)) == NULL || memchr(p, '\0', n) != NULL) {
		d->dec_bad = 1;
		return (NULL);
	}
	return (xstrndup((const char *)p, n));
}

static void
index_dec_digest(struct index_dec *d, struct digest *out)
{
	char	 buf[DIGEST_STRING_MAX];

	index_dec_str(d, buf, sizeof(buf));
	if (!d->dec_bad && digest_parse(buf, out, NULL) == -1)
		d->dec_bad = 1;
}

/* Finish decoding: every byte used, nothing bad. 0 or EINVAL (logged). */
int
index_dec_end(struct index_dec *d, enum index_table table)
{
	if (d->dec_bad || d->dec_left != 0) {
		log_warnx("%s: %s: garbled value", __func__,
		    index_files[table]);
		return (EINVAL);
	}
	return (0);
}

/*
 * Encode value by its table's layout: 0, or -1 (logged, e freed) when
 * value is NULL or a field is out of range. Encoding only reads value.
 */
int
index_encode(struct index_enc *e, const struct index_layout *lo,
    const void *value)
{
	struct index_code	 c;

	index_enc_init(e);
	if (value == NULL)
		e->enc_bad = 1;
	else {
		c.co_enc = e;
		c.co_dec = NULL;
		lo->lo_fn(&c, (void *)value);
	}
	return (index_enc_end(e, lo->lo_table));
}

/*
 * Decode a value of lo's table into out (a struct of lo_size bytes): 0,
 * or EINVAL (logged) with out cleared and holding nothing to free.
 */
int
index_decode(const struct index_layout *lo, const void *data, size_t size,
    void *out)
{
	struct index_dec	 d;
	struct index_code	 c;

	index_dec_init(&d, data, size, out, lo->lo_size);
	c.co_enc = NULL;
	c.co_dec = &d;
	lo->lo_fn(&c, out);
	if (index_dec_end(&d, lo->lo_table) == 0)
		return (0);
	index_layout_clear(lo, out);
	return (EINVAL);
}

/* Free what a decoded value holds (its text fields) and clear it. */
void
index_layout_clear(const struct index_layout *lo, void *value)
{
	struct index_code	 c;

	c.co_enc = NULL;
	c.co_dec = NULL;
	lo->lo_fn(&c, value);
	memset(value, 0, lo->lo_size);
}

/* Mark the value being encoded or decoded as bad. */
static void
index_code_bad(struct index_code *c)
{
	if (c->co_enc != NULL)
		c->co_enc->enc_bad = 1;
	if (c->co_dec != NULL)
		c->co_dec->dec_bad = 1;
}

void
index_code_i64(struct index_code *c, int64_t *v)
{
	if (c->co_enc != NULL)
		index_enc_i64(c->co_enc, *v);
	else if (c->co_dec != NULL)
		*v = index_dec_i64(c->co_dec);
}

/* An int64 that must not be negative (a size or an offset). */
void
index_code_size(struct index_code *c, int64_t *v)
{
	index_code_i64(c, v);
	if (*v < 0)
		index_code_bad(c);
}

/* A str of at most size - 1 bytes in the char array buf. */
void
index_code_str(struct index_code *c, char *buf, size_t size)
{
	if (c->co_enc != NULL)
		index_enc_str(c->co_enc, buf, size - 1);
	else if (c->co_dec != NULL)
		index_dec_str(c->co_dec, buf, size);
}

/* Like index_code_str, and not empty. */
void
index_code_name(struct index_code *c, char *buf, size_t size)
{
	index_code_str(c, buf, size);
	if (buf[0] == '\0')
		index_code_bad(c);
}

void
index_code_digest(struct index_code *c, struct digest *d)
{
	if (c->co_enc != NULL)
		index_enc_digest(c->co_enc, d);
	else if (c->co_dec != NULL)
		index_dec_digest(c->co_dec, d);
}

/* A u8 0 or 1 for the int *v; returns it, so the caller can skip fields. */
int
index_code_flag(struct index_code *c, int *v)
{
	if (c->co_enc != NULL)
		index_enc_u8(c->co_enc, *v != 0);
	else if (c->co_dec != NULL)
		*v = index_dec_flag(c->co_dec);
	return (*v != 0);
}

/*
 * Optional text of at most INDEX_STR_MAX bytes (JSON, say) in *p, NULL
 * when absent: a u8 0 or 1, then the str. Decoded text is allocated.
 */
void
index_code_text(struct index_code *c, char **p)
{
	int	 has = *p != NULL;

	if (c->co_enc == NULL && c->co_dec == NULL) {
		free(*p);
		*p = NULL;
	} else if (index_code_flag(c, &has)) {
		if (c->co_enc != NULL)
			index_enc_str(c->co_enc, *p, INDEX_STR_MAX);
		else
			*p = index_dec_strdup(c->co_dec);
	}
}
