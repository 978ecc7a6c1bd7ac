/*
 * digest_test.c: unit tests for digest.c: known hash vectors, incremental
 * against one-shot hashing, hashing files, and the strict digest syntax.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/digest.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "check_main.h"

#define SHA256_EMPTY \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA256_ABC \
	"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA256_448 \
	"248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
#define SHA256_MILLION_A \
	"cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
#define SHA512_EMPTY \
	"cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce" \
	"47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
#define SHA512_ABC \
	"ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a" \
	"2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
#define SHA512_MILLION_A \
	"e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973eb" \
	"de0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b"

#define HEX64 \
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

#define MILLION		1000000

static char	*tmpdir;

static void	 fill_pattern(unsigned char *, size_t);
static char	*write_temp(const char *, const void *, size_t);
static void	 tmpdir_setup(void);
static void	 tmpdir_teardown(void);
static Suite	*digest_suite(void);

/* Deterministic pseudo-random bytes (a small LCG). */
static void
fill_pattern(unsigned char *buf, size_t len)
{
	unsigned int	 x = 12345;
	size_t		 i;

	for (i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (unsigned char)(x >> 16);
	}
}

/* Write a file under the test directory. Caller frees the path. */
static char *
write_temp(const char *name, const void *buf, size_t len)
{
	char	*path;
	int	 fd;

	xasprintf(&path, "%s/%s", tmpdir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write_all(fd, buf, len), 0);
	ck_assert_int_eq(close(fd), 0);
	return (path);
}

static void
tmpdir_setup(void)
{
	const char	*base;

	if ((base = getenv("TMPDIR")) == NULL || *base == '\0')
		base = "/tmp";
	xasprintf(&tmpdir, "%s/digest_test.XXXXXX", base);
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

/* Remove the test directory; the tests only make plain files in it. */
static void
tmpdir_teardown(void)
{
	DIR		*dir;
	struct dirent	*de;
	char		*path;

	dir = opendir(tmpdir);
	ck_assert_ptr_nonnull(dir);
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		xasprintf(&path, "%s/%s", tmpdir, de->d_name);
		ck_assert_int_eq(unlink(path), 0);
		free(path);
	}
	closedir(dir);
	ck_assert_int_eq(rmdir(tmpdir), 0);
	free(tmpdir);
	tmpdir = NULL;
}

START_TEST(test_vectors_sha256)
{
	struct digest	 d;
	const char	*s448 =
	    "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

	digest_buffer(DIGEST_SHA256, "", 0, &d);
	ck_assert_int_eq(d.alg, DIGEST_SHA256);
	ck_assert_str_eq(d.hex, SHA256_EMPTY);
	digest_buffer(DIGEST_SHA256, "abc", 3, &d);
	ck_assert_str_eq(d.hex, SHA256_ABC);
	digest_buffer(DIGEST_SHA256, s448, strlen(s448), &d);
	ck_assert_str_eq(d.hex, SHA256_448);
}
END_TEST

START_TEST(test_vectors_sha512)
{
	struct digest	 d;

	digest_buffer(DIGEST_SHA512, "", 0, &d);
	ck_assert_int_eq(d.alg, DIGEST_SHA512);
	ck_assert_str_eq(d.hex, SHA512_EMPTY);
	digest_buffer(DIGEST_SHA512, "abc", 3, &d);
	ck_assert_str_eq(d.hex, SHA512_ABC);
	ck_assert_uint_eq(strlen(d.hex), 128);
}
END_TEST

START_TEST(test_incremental)
{
	static const size_t	 steps[] = { 1, 7, 63, 64, 65, 4096, 65537 };
	enum digest_alg		 alg = _i == 0 ? DIGEST_SHA256 : DIGEST_SHA512;
	struct digester		*dg;
	struct digest		 whole, part;
	unsigned char		*buf;
	size_t			 len = 300001, off, n, s;

	buf = xmalloc(len);
	fill_pattern(buf, len);
	digest_buffer(alg, buf, len, &whole);
	for (s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
		dg = digester_create(alg);
		for (off = 0; off < len; off += n) {
			n = steps[s] < len - off ? steps[s] : len - off;
			digester_update(dg, buf + off, n);
			digester_update(dg, buf, 0);
		}
		digester_final(dg, &part);
		digester_free(dg);
		ck_assert_int_eq(part.alg, alg);
		ck_assert_str_eq(part.hex, whole.hex);
		ck_assert(digest_equal(&part, &whole));
	}
	free(buf);
}
END_TEST

START_TEST(test_million_a)
{
	struct digester	*dg;
	struct digest	 d;
	char		 chunk[1000];
	int		 i;

	memset(chunk, 'a', sizeof(chunk));
	dg = digester_create(DIGEST_SHA256);
	for (i = 0; i < MILLION / 1000; i++)
		digester_update(dg, chunk, sizeof(chunk));
	digester_final(dg, &d);
	digester_free(dg);
	ck_assert_str_eq(d.hex, SHA256_MILLION_A);
}
END_TEST

START_TEST(test_digester_reuse)
{
	struct digester	*dg;
	struct digest	 d;

	dg = digester_create(DIGEST_SHA256);
	digester_update(dg, "xyz", 3);
	digester_final(dg, &d);
	/* After final the digester starts over from nothing. */
	digester_update(dg, "abc", 3);
	digester_final(dg, &d);
	ck_assert_str_eq(d.hex, SHA256_ABC);
	digester_final(dg, &d);
	ck_assert_str_eq(d.hex, SHA256_EMPTY);
	digester_free(dg);
	digester_free(NULL);
}
END_TEST

START_TEST(test_fd_file)
{
	struct digest	 d, b;
	char		*buf, *path;
	off_t		 pos;
	int		 fd;

	buf = xmalloc(MILLION);
	memset(buf, 'a', MILLION);
	path = write_temp("million", buf, MILLION);
	fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	/* From offset 0 whatever the file offset, and leaving it alone. */
	ck_assert_int_eq(lseek(fd, 12345, SEEK_SET), 12345);
	ck_assert_int_eq(digest_fd(DIGEST_SHA256, fd, &d), 0);
	ck_assert_str_eq(d.hex, SHA256_MILLION_A);
	pos = lseek(fd, 0, SEEK_CUR);
	ck_assert_int_eq(pos, 12345);
	ck_assert_int_eq(digest_fd(DIGEST_SHA512, fd, &d), 0);
	ck_assert_str_eq(d.hex, SHA512_MILLION_A);
	digest_buffer(DIGEST_SHA512, buf, MILLION, &b);
	ck_assert(digest_equal(&d, &b));
	close(fd);
	free(path);
	free(buf);
}
END_TEST

START_TEST(test_fd_sizes)
{
	static const size_t	 sizes[] = { 0, 1, 65535, 65536, 65537,
	    131072, 200003 };
	struct digest		 d, b;
	unsigned char		*buf;
	char			*path, name[32];
	size_t			 i;
	int			 fd;

	buf = xmalloc(200003);
	fill_pattern(buf, 200003);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		snprintf(name, sizeof(name), "f%zu", sizes[i]);
		path = write_temp(name, buf, sizes[i]);
		fd = open(path, O_RDONLY);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(digest_fd(DIGEST_SHA256, fd, &d), 0);
		digest_buffer(DIGEST_SHA256, buf, sizes[i], &b);
		ck_assert_str_eq(d.hex, b.hex);
		close(fd);
		free(path);
	}
	free(buf);
}
END_TEST

START_TEST(test_fd_pipe)
{
	struct digest	 d;
	int		 p[2];

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(write_all(p[1], "abc", 3), 0);
	close(p[1]);
	ck_assert_int_eq(digest_fd(DIGEST_SHA256, p[0], &d), 0);
	ck_assert_str_eq(d.hex, SHA256_ABC);
	close(p[0]);
}
END_TEST

START_TEST(test_fd_errors)
{
	struct digest	 d;
	int		 fd;

	errno = 0;
	ck_assert_int_eq(digest_fd(DIGEST_SHA256, -1, &d), -1);
	ck_assert_int_eq(errno, EBADF);

	fd = open(tmpdir, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(fd, 0);
	errno = 0;
	ck_assert_int_eq(digest_fd(DIGEST_SHA256, fd, &d), -1);
	ck_assert_int_eq(errno, EISDIR);
	close(fd);
}
END_TEST

START_TEST(test_alg_names)
{
	ck_assert_str_eq(digest_alg_name(DIGEST_SHA256), "sha256");
	ck_assert_str_eq(digest_alg_name(DIGEST_SHA512), "sha512");
	ck_assert_uint_eq(digest_hex_len(DIGEST_SHA256), 64);
	ck_assert_uint_eq(digest_hex_len(DIGEST_SHA512), 128);
}
END_TEST

START_TEST(test_parse_valid)
{
	struct digest	 d;
	char		*cause = (char *)"untouched";

	ck_assert_int_eq(digest_parse("sha256:" SHA256_ABC, &d, &cause), 0);
	ck_assert_ptr_null(cause);
	ck_assert_int_eq(d.alg, DIGEST_SHA256);
	ck_assert_str_eq(d.hex, SHA256_ABC);

	ck_assert_int_eq(digest_parse("sha512:" SHA512_ABC, &d, NULL), 0);
	ck_assert_int_eq(d.alg, DIGEST_SHA512);
	ck_assert_str_eq(d.hex, SHA512_ABC);

	ck_assert_int_eq(digest_parse("sha256:" HEX64, &d, NULL), 0);
	ck_assert_str_eq(d.hex, HEX64);
}
END_TEST

START_TEST(test_round_trip)
{
	struct digest	 d, p;
	char		 buf[DIGEST_STRING_MAX], small[10];
	enum digest_alg	 alg = _i == 0 ? DIGEST_SHA256 : DIGEST_SHA512;

	digest_buffer(alg, "round trip", 10, &d);
	digest_format(&d, buf, sizeof(buf));
	ck_assert_uint_eq(strlen(buf),
	    strlen(digest_alg_name(alg)) + 1 + digest_hex_len(alg));
	ck_assert_int_eq(strncmp(buf, digest_alg_name(alg),
	    strlen(digest_alg_name(alg))), 0);
	ck_assert_int_eq(digest_parse(buf, &p, NULL), 0);
	ck_assert(digest_equal(&d, &p));

	/* A short buffer holds a truncated, terminated string. */
	memset(small, 'x', sizeof(small));
	digest_format(&d, small, sizeof(small));
	ck_assert_uint_eq(strlen(small), sizeof(small) - 1);
	ck_assert_int_eq(strncmp(small, buf, sizeof(small) - 1), 0);
	digest_format(&d, small, 0);
}
END_TEST

START_TEST(test_equal)
{
	struct digest	 a, b, c;

	digest_buffer(DIGEST_SHA256, "a", 1, &a);
	digest_buffer(DIGEST_SHA256, "a", 1, &b);
	ck_assert(digest_equal(&a, &b));
	digest_buffer(DIGEST_SHA256, "b", 1, &c);
	ck_assert(!digest_equal(&a, &c));
	digest_buffer(DIGEST_SHA512, "a", 1, &c);
	ck_assert(!digest_equal(&a, &c));
	/* Same hex under another algorithm is another digest. */
	b.alg = DIGEST_SHA512;
	ck_assert(!digest_equal(&a, &b));
}
END_TEST

/* Strings digest_parse must refuse, each with a cause. */
static const char *bad_digests[] = {
	"",
	":",
	"sha256",
	"sha256:",
	"sha512:",
	":" HEX64,
	"sha256" HEX64,
	"sha256::" HEX64,
	"sha256:" HEX64 ":",
	"sha256:" HEX64 "0",
	"sha256:" HEX64 "\n",
	"sha256:" HEX64 " ",
	"sha256: " HEX64,
	" sha256:" HEX64,
	"sha256 :" HEX64,
	"sha256:" "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde",
	"sha256:" "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
	"sha256:" "0123456789abcdeF0123456789abcdef0123456789abcdef0123456789abcdef",
	"sha256:" "0123456789abcdeg0123456789abcdef0123456789abcdef0123456789abcdef",
	"sha256:" "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd/f",
	"sha256:" "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abc..f",
	"SHA256:" HEX64,
	"Sha256:" HEX64,
	"sha512:" HEX64,
	"sha256:" HEX64 HEX64,
	"sha512:" HEX64 HEX64 "0",
	"sha512:" HEX64 "0123456789ABCDEF0123456789abcdef"
	    "0123456789abcdef0123456789abcdef",
	"sha384:" HEX64,
	"md5:d41d8cd98f00b204e9800998ecf8427e",
	"sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709",
	"sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564",
	"multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8",
	"sha256:../../../etc/passwd",
	"../sha256:" HEX64,
	"sha256/../" HEX64,
	"sha256:%2e%2e",
	"sha256:\t" HEX64,
	"\xff\xfe:" HEX64,
};

START_TEST(test_parse_invalid)
{
	struct digest	 d;
	const char	*s;
	char		*cause;
	size_t		 i;

	for (i = 0; i < sizeof(bad_digests) / sizeof(bad_digests[0]); i++) {
		s = bad_digests[i];
		cause = NULL;
		ck_assert_msg(digest_parse(s, &d, &cause) == -1,
		    "accepted \"%s\"", s);
		ck_assert_ptr_nonnull(cause);
		ck_assert_uint_gt(strlen(cause), 0);
		ck_assert_uint_lt(strlen(cause), 200);
		free(cause);
		ck_assert_int_eq(digest_parse(s, &d, NULL), -1);
	}
}
END_TEST

START_TEST(test_parse_null_and_long)
{
	struct digest	 d;
	char		*cause = NULL, *s;
	size_t		 len = 100000;

	ck_assert_int_eq(digest_parse(NULL, &d, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	free(cause);

	s = xmalloc(len + 1);
	memcpy(s, "sha256:", 7);
	memset(s + 7, 'a', len - 7);
	s[len] = '\0';
	ck_assert_int_eq(digest_parse(s, &d, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	free(cause);
	free(s);
}
END_TEST

START_TEST(test_parse_causes)
{
	struct digest	 d;
	char		*cause = NULL;

	ck_assert_int_eq(digest_parse("md5:d41d8cd98f00b204e9800998ecf8427e",
	    &d, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "unsupported digest algorithm"));
	ck_assert_ptr_nonnull(strstr(cause, "md5"));
	free(cause);

	ck_assert_int_eq(digest_parse("sha384:" HEX64, &d, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "unsupported"));
	ck_assert_ptr_nonnull(strstr(cause, "sha384"));
	free(cause);

	/* Junk in the algorithm is not echoed back. */
	ck_assert_int_eq(digest_parse("a\x1b[2Jb:" HEX64, &d, &cause), -1);
	ck_assert_ptr_null(strchr(cause, '\x1b'));
	free(cause);

	ck_assert_int_eq(digest_parse("sha256:abc", &d, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "64"));
	free(cause);

	ck_assert_int_eq(digest_parse("sha256:" "0123456789ABCDEF0123456789"
	    "abcdef0123456789abcdef0123456789abcdef", &d, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "lowercase"));
	free(cause);

	ck_assert_int_eq(digest_parse(HEX64, &d, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "algorithm"));
	free(cause);
}
END_TEST

START_TEST(test_parse_failure_keeps_output)
{
	struct digest	 d, keep;

	digest_buffer(DIGEST_SHA512, "abc", 3, &d);
	keep = d;
	ck_assert_int_eq(digest_parse("sha256:" HEX64 "0", &d, NULL), -1);
	ck_assert(digest_equal(&d, &keep));
}
END_TEST

static Suite *
digest_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("digest");

	tc = tcase_create("hash");
	tcase_add_test(tc, test_vectors_sha256);
	tcase_add_test(tc, test_vectors_sha512);
	tcase_add_loop_test(tc, test_incremental, 0, 2);
	tcase_add_test(tc, test_million_a);
	tcase_add_test(tc, test_digester_reuse);
	suite_add_tcase(s, tc);

	tc = tcase_create("fd");
	tcase_add_checked_fixture(tc, tmpdir_setup, tmpdir_teardown);
	tcase_add_test(tc, test_fd_file);
	tcase_add_test(tc, test_fd_sizes);
	tcase_add_test(tc, test_fd_pipe);
	tcase_add_test(tc, test_fd_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("syntax");
	tcase_add_test(tc, test_alg_names);
	tcase_add_test(tc, test_parse_valid);
	tcase_add_loop_test(tc, test_round_trip, 0, 2);
	tcase_add_test(tc, test_equal);
	tcase_add_test(tc, test_parse_invalid);
	tcase_add_test(tc, test_parse_null_and_long);
	tcase_add_test(tc, test_parse_causes);
	tcase_add_test(tc, test_parse_failure_keeps_output);
	suite_add_tcase(s, tc);

	return (s);
}

CHECK_MAIN(digest_suite)
