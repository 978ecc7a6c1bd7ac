/*
 * htpasswd_test.c: unit tests for htpasswd.c: reading the users file
 * (bcrypt only, names, duplicates, comments, line ends, file mode) and
 * checking passwords. Hashes are made here with crypt_r(3), and also
 * with the htpasswd tool of apache2-utils when it is installed.
 */
#include <sys/stat.h>

#include <check.h>
#include <crypt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access/htpasswd.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "check_main.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/* Settings for crypt_r: cost 05 and 04, canonical salts. */
#define SALT_A	"$2b$05$abcdefghijklmnopqrstuu"
#define SALT_B	"$2b$05$ABCDEFGHIJKLMNOPQRSTUe"
#define SALT_Y	"$2y$04$0123456789abcdefghijkO"
#define SALT_2A	"$2a$04$zyxwvutsrqponmlkjihgf."
/* Well formed, of the highest cost bcrypt allows: refused (too slow). */
#define HASH_31	"$2b$31$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyzABCD."
/* Well formed, of the highest cost depot accepts: never hashed here. */
#define HASH_14	"$2b$14$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyzABCD."

static char	 test_dir[PATH_MAX];

static char	*make_hash(const char *, const char *);
static char	*write_file(const char *, const char *, size_t, mode_t);
static char	*write_text(const char *, const char *);
static struct htpasswd *load_ok(const char *);
static char	*load_fails(const char *);
static void	 cause_is(char *, char *);
static int	 have_htpasswd_tool(void);
static char	*tool_line(const char *, const char *);
static void	 remove_dir(const char *);
static Suite	*htpasswd_suite(void);

/* crypt_r(password, setting) as a new string. */
static char *
make_hash(const char *password, const char *setting)
{
	struct crypt_data	*data;
	char			*out, *hash;

	data = xcalloc(1, sizeof(*data));
	out = crypt_r(password, setting, data);
	ck_assert_msg(out != NULL && out[0] != '*', "crypt_r %s failed",
	    setting);
	ck_assert_uint_eq(strlen(out), 60);
	hash = xstrdup(out);
	free(data);
	return (hash);
}

/* Write a file in the test directory with this mode. Caller frees. */
static char *
write_file(const char *name, const char *data, size_t len, mode_t mode)
{
	char	*path;
	FILE	*fp;

	xasprintf(&path, "%s/%s", test_dir, name);
	fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	ck_assert_uint_eq(fwrite(data, 1, len, fp), len);
	ck_assert_int_eq(fclose(fp), 0);
	ck_assert_int_eq(chmod(path, mode), 0);
	return (path);
}

static char *
write_text(const char *name, const char *text)
{
	return (write_file(name, text, strlen(text), 0600));
}

static struct htpasswd *
load_ok(const char *path)
{
	struct htpasswd	*h;
	char		*cause = NULL;

	h = htpasswd_load(path, &cause);
	ck_assert_msg(h != NULL, "%s refused: %s", path,
	    cause != NULL ? cause : "-");
	ck_assert_ptr_null(cause);
	return (h);
}

/* Load a file that must be refused; its cause. Caller frees. */
static char *
load_fails(const char *path)
{
	char	*cause = NULL;

	ck_assert_ptr_null(htpasswd_load(path, &cause));
	ck_assert_ptr_nonnull(cause);
	ck_assert_uint_gt(strlen(cause), 0);
	/* cause is optional */
	ck_assert_ptr_null(htpasswd_load(path, NULL));
	return (cause);
}

/* The cause must be want; both are freed. */
static void
cause_is(char *cause, char *want)
{
	ck_assert_str_eq(cause, want);
	free(cause);
	free(want);
}

static int
have_htpasswd_tool(void)
{
	return (system("command -v htpasswd >/dev/null 2>&1") == 0);
}

/* "user:hash" from htpasswd -Bbn. Caller frees. */
static char *
tool_line(const char *user, const char *password)
{
	char	*cmd, buf[256];
	FILE	*fp;

	xasprintf(&cmd, "htpasswd -Bbn '%s' '%s' 2>/dev/null", user,
	    password);
	fp = popen(cmd, "r");
	ck_assert_ptr_nonnull(fp);
	ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), fp));
	ck_assert_int_eq(pclose(fp), 0);
	free(cmd);
	buf[strcspn(buf, "\r\n")] = '\0';
	return (xstrdup(buf));
}

static void
remove_dir(const char *dir)
{
	char	*cmd;

	xasprintf(&cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	free(cmd);
}

/* ---- passwords ---- */

START_TEST(test_check)
{
	struct htpasswd	*h;
	char		*a, *b, *y, *x, *text, *path;

	a = make_hash("secret", SALT_A);
	b = make_hash("", SALT_B);
	y = make_hash("p\xc3\xa4ss w:rd", SALT_Y);
	x = make_hash("old", SALT_2A);
	xasprintf(&text, "alice:%s\nbob:%s\ncarol.x@example-1_b:%s\nDave:%s\n",
	    a, b, y, x);
	path = write_text("check", text);
	h = load_ok(path);
	ck_assert_uint_eq(htpasswd_count(h), 4);

	ck_assert_int_eq(htpasswd_check(h, "alice", "secret"), 1);
	ck_assert_int_eq(htpasswd_check(h, "alice", "Secret"), 0);
	ck_assert_int_eq(htpasswd_check(h, "alice", "secret "), 0);
	ck_assert_int_eq(htpasswd_check(h, "alice", ""), 0);
	ck_assert_int_eq(htpasswd_check(h, "alice", NULL), 0);
	ck_assert_int_eq(htpasswd_check(h, "bob", ""), 1);
	ck_assert_int_eq(htpasswd_check(h, "bob", NULL), 1);
	ck_assert_int_eq(htpasswd_check(h, "bob", "x"), 0);
	ck_assert_int_eq(htpasswd_check(h, "carol.x@example-1_b",
	    "p\xc3\xa4ss w:rd"), 1);
	ck_assert_int_eq(htpasswd_check(h, "carol.x@example-1_b", "p"), 0);
	ck_assert_int_eq(htpasswd_check(h, "Dave", "old"), 1);
	/* Names are case sensitive; a password is not another's. */
	ck_assert_int_eq(htpasswd_check(h, "dave", "old"), 0);
	ck_assert_int_eq(htpasswd_check(h, "ALICE", "secret"), 0);
	ck_assert_int_eq(htpasswd_check(h, "bob", "secret"), 0);

	/* Unknown users. */
	ck_assert_int_eq(htpasswd_check(h, "mallory", "secret"), 0);
	ck_assert_int_eq(htpasswd_check(h, "", ""), 0);
	ck_assert_int_eq(htpasswd_check(h, NULL, "secret"), 0);
	ck_assert_int_eq(htpasswd_check(NULL, "alice", "secret"), 0);

	ck_assert_int_eq(htpasswd_has_user(h, "alice"), 1);
	ck_assert_int_eq(htpasswd_has_user(h, "Dave"), 1);
	ck_assert_int_eq(htpasswd_has_user(h, "carol.x@example-1_b"), 1);
	ck_assert_int_eq(htpasswd_has_user(h, "mallory"), 0);
	ck_assert_int_eq(htpasswd_has_user(h, "alic"), 0);
	ck_assert_int_eq(htpasswd_has_user(h, ""), 0);
	ck_assert_int_eq(htpasswd_has_user(h, NULL), 0);
	ck_assert_int_eq(htpasswd_has_user(NULL, "alice"), 0);
	htpasswd_free(h);
	htpasswd_free(NULL);
	ck_assert_uint_eq(htpasswd_count(NULL), 0);
	free(a);
	free(b);
	free(y);
	free(x);
	free(text);
	free(path);
}
END_TEST

/* Hashes from Apache's own tool (it writes $2y$). */
START_TEST(test_htpasswd_tool)
{
	struct htpasswd	*h;
	char		*l1, *l2, *text, *path;

	if (!have_htpasswd_tool()) {
		printf("# SKIP htpasswd tool cases: no htpasswd in PATH "
		    "(Debian package apache2-utils)\n");
		fflush(stdout);
		return;
	}
	l1 = tool_line("erin", "tool-pass.1");
	l2 = tool_line("frank@example.org", "another one");
	ck_assert_msg(strncmp(l1, "erin:$2y$", 9) == 0, "tool wrote %s", l1);
	xasprintf(&text, "# made by htpasswd -Bbn\n%s\n\n%s\n", l1, l2);
	path = write_text("tool", text);
	h = load_ok(path);
	ck_assert_uint_eq(htpasswd_count(h), 2);
	ck_assert_int_eq(htpasswd_check(h, "erin", "tool-pass.1"), 1);
	ck_assert_int_eq(htpasswd_check(h, "erin", "tool-pass.2"), 0);
	ck_assert_int_eq(htpasswd_check(h, "frank@example.org", "another one"),
	    1);
	ck_assert_int_eq(htpasswd_check(h, "frank@example.org", "another"), 0);
	ck_assert_int_eq(htpasswd_check(h, "frank", "another one"), 0);
	htpasswd_free(h);
	free(l1);
	free(l2);
	free(text);
	free(path);
}
END_TEST

/* ---- what is refused ---- */

START_TEST(test_other_hashes)
{
	char	*a, *text, *path, *cause, *want;

	a = make_hash("secret", SALT_A);
	xasprintf(&text,
	    "# users\n"
	    "alice:%s\n"
	    "bob:$apr1$UzLBKyu9$RXnJfEWTVCjVwOzU9VihW1\n"
	    "carol:{SHA}EfatjsUqKYSrqv18O1FlA3hcIHI=\n"
	    "dave:plaintext-password\n"
	    "erin:5aFLzDkdXdc4o\n"
	    "frank:\n"
	    "gina:$2x$05$abcdefghijklmnopqrstuu"
	    "abcdefghijklmnopqrstuvwxyzABCD.\n"
	    "hank:$5$rounds=5000$salt$hash\n"
	    "ivan: %s\n", a, a);
	path = write_text("other", text);
	cause = load_fails(path);
	ck_assert_ptr_null(strstr(cause, "plaintext-password"));
	ck_assert_ptr_null(strstr(cause, "UzLBKyu9"));
	ck_assert_ptr_null(strstr(cause, "EfatjsUq"));
	xasprintf(&want,
	    "%s:3: user bob: only bcrypt hashes are accepted (htpasswd -B)\n"
	    "%s:4: user carol: only bcrypt hashes are accepted (htpasswd -B)\n"
	    "%s:5: user dave: only bcrypt hashes are accepted (htpasswd -B)\n"
	    "%s:6: user erin: only bcrypt hashes are accepted (htpasswd -B)\n"
	    "%s:7: user frank: only bcrypt hashes are accepted (htpasswd -B)\n"
	    "%s:8: user gina: only bcrypt hashes are accepted (htpasswd -B)\n"
	    "%s:9: user hank: only bcrypt hashes are accepted (htpasswd -B)\n"
	    "%s:10: user ivan: only bcrypt hashes are accepted (htpasswd -B)",
	    path, path, path, path, path, path, path, path);
	cause_is(cause, want);
	free(a);
	free(text);
	free(path);
}
END_TEST

START_TEST(test_malformed_bcrypt)
{
	char	*text, *path, *cause, *want;

	text =
	    "u1:$2b$03$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyzABCD.\n"
	    "u2:$2b$32$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyzABCD.\n"
	    "u3:$2b$5$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyzABCD.\n"
	    "u4:$2b$05$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyzABC.\n"
	    "u5:$2b$05$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyzABCD.x\n"
	    "u6:$2b$05$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyzABC+.\n"
	    "u7:$2b$05$abcdefghijklmnopqrstuvabcdefghijklmnopqrstuvwxyzABCD.\n"
	    "u8:$2b$05$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyzABCD/\n"
	    "u9:$2b$05$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyzABCD.:x"
	    "\n"
	    "u10:$2b$3x$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyzABCD."
	    "\n";
	path = write_text("malformed", text);
	cause = load_fails(path);
	xasprintf(&want,
	    "%s:1: user u1: malformed bcrypt hash: the cost must be 04 to 31\n"
	    "%s:2: user u2: malformed bcrypt hash: the cost must be 04 to 31\n"
	    "%s:3: user u3: malformed bcrypt hash: the cost must be two "
	    "digits\n"
	    "%s:4: user u4: malformed bcrypt hash: it must be 60 characters "
	    "long\n"
	    "%s:5: user u5: malformed bcrypt hash: it must be 60 characters "
	    "long\n"
	    "%s:6: user u6: malformed bcrypt hash: only ./A-Za-z0-9 may "
	    "follow the cost\n"
	    "%s:7: user u7: malformed bcrypt hash: its salt or checksum ends "
	    "in a character bcrypt never writes\n"
	    "%s:8: user u8: malformed bcrypt hash: its salt or checksum ends "
	    "in a character bcrypt never writes\n"
	    "%s:9: user u9: malformed bcrypt hash: it must be 60 characters "
	    "long\n"
	    "%s:10: user u10: malformed bcrypt hash: the cost must be two "
	    "digits",
	    path, path, path, path, path, path, path, path, path, path);
	cause_is(cause, want);
	free(path);
}
END_TEST

/* A cost above the limit: refused at load, with file and line. */
START_TEST(test_cost_limit)
{
	char	*text, *path, *cause, *want;

	text =
	    "ok:" HASH_14 "\n"
	    "# a comment\n"
	    "slow:$2b$15$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyzABCD.\n"
	    "slowest:" HASH_31 "\n";
	path = write_text("costly", text);
	cause = load_fails(path);
	xasprintf(&want,
	    "%s:3: user slow: bcrypt cost 15 is above 14, the most depot "
	    "accepts (every check would take seconds); hash the password "
	    "again with a lower cost (htpasswd -B -C 10)\n"
	    "%s:4: user slowest: bcrypt cost 31 is above 14, the most depot "
	    "accepts (every check would take seconds); hash the password "
	    "again with a lower cost (htpasswd -B -C 10)", path, path);
	cause_is(cause, want);
	free(path);
}
END_TEST

/* The bounds of the cost and every prefix are accepted. */
START_TEST(test_bcrypt_variants)
{
	struct htpasswd	*h;
	char		*text, *path;

	text =
	    "low:$2b$04$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyzABCD.\n"
	    "high:" HASH_14 "\n"
	    "y:$2y$10$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyzABCD6\n"
	    "a:$2a$12$..........................................u.........u\n";
	path = write_text("variants", text);
	h = load_ok(path);
	ck_assert_uint_eq(htpasswd_count(h), 4);
	ck_assert_int_eq(htpasswd_has_user(h, "high"), 1);
	ck_assert_int_eq(htpasswd_has_user(h, "a"), 1);
	/* Cost 04 first: a wrong password is cheap to find wrong. */
	ck_assert_int_eq(htpasswd_check(h, "low", "x"), 0);
	ck_assert_int_eq(htpasswd_check(h, "nobody", "x"), 0);
	htpasswd_free(h);
	free(path);
}
END_TEST

START_TEST(test_duplicates)
{
	char	*a, *text, *path, *cause, *want;

	a = make_hash("secret", SALT_A);
	xasprintf(&text, "alice:%s\nbob:%s\nalice:%s\n# x\nAlice:%s\n"
	    "bob:{SHA}EfatjsUqKYSrqv18O1FlA3hcIHI=\nalice:%s\n",
	    a, a, a, a, a);
	path = write_text("dup", text);
	cause = load_fails(path);
	xasprintf(&want,
	    "%s:3: user alice defined twice (first on line 1)\n"
	    "%s:6: user bob: only bcrypt hashes are accepted (htpasswd -B)\n"
	    "%s:6: user bob defined twice (first on line 2)\n"
	    "%s:7: user alice defined twice (first on line 1)",
	    path, path, path, path);
	cause_is(cause, want);
	free(a);
	free(text);
	free(path);
}
END_TEST

START_TEST(test_names)
{
	struct htpasswd	*h;
	char		*a, *text, *path, *cause, *want, long_name[70];

	a = make_hash("secret", SALT_A);
	memset(long_name, 'n', 65);
	long_name[65] = '\0';
	xasprintf(&text,
	    ":%s\n"
	    "a b:%s\n"
	    "%s:%s\n"
	    "j\xc3\xbcrgen:%s\n"
	    "al/ice:%s\n"
	    " alice:%s\n"
	    "al\"i\\ce:%s\n"
	    "ok.name_1@x-y:%s\n",
	    a, a, long_name, a, a, a, a, a, a);
	path = write_text("names", text);
	cause = load_fails(path);
	xasprintf(&want,
	    "%s:1: user name \"\" is not valid: 1 to 64 characters of "
	    "A-Z a-z 0-9 . _ @ -\n"
	    "%s:2: user name \"a b\" is not valid: 1 to 64 characters of "
	    "A-Z a-z 0-9 . _ @ -\n"
	    "%s:3: user name \"%.64s...\" is not valid: 1 to 64 characters of "
	    "A-Z a-z 0-9 . _ @ -\n"
	    "%s:4: user name \"j\\xc3\\xbcrgen\" is not valid: 1 to 64 "
	    "characters of A-Z a-z 0-9 . _ @ -\n"
	    "%s:5: user name \"al/ice\" is not valid: 1 to 64 characters of "
	    "A-Z a-z 0-9 . _ @ -\n"
	    "%s:6: user name \" alice\" is not valid: 1 to 64 characters of "
	    "A-Z a-z 0-9 . _ @ -\n"
	    "%s:7: user name \"al\\x22i\\x5cce\" is not valid: 1 to 64 "
	    "characters of A-Z a-z 0-9 . _ @ -",
	    path, path, path, long_name, path, path, path, path);
	cause_is(cause, want);
	free(text);
	free(path);

	/* 64 characters is the most; a bad name and a bad hash both count. */
	long_name[64] = '\0';
	xasprintf(&text, "%s:%s\n", long_name, a);
	path = write_text("names64", text);
	h = load_ok(path);
	ck_assert_int_eq(htpasswd_has_user(h, long_name), 1);
	ck_assert_int_eq(htpasswd_check(h, long_name, "secret"), 1);
	htpasswd_free(h);
	free(text);
	free(path);
	path = write_text("names2", "a b:plain\n");
	cause = load_fails(path);
	xasprintf(&want,
	    "%s:1: user name \"a b\" is not valid: 1 to 64 characters of "
	    "A-Z a-z 0-9 . _ @ -\n"
	    "%s:1: user \"a b\": only bcrypt hashes are accepted (htpasswd -B)",
	    path, path);
	cause_is(cause, want);
	free(path);
	free(a);
}
END_TEST

/* Lines that are not "user:hash" are refused without being shown. */
START_TEST(test_bad_lines)
{
	char	*a, *text, *path, *cause, *want, *big;

	a = make_hash("secret", SALT_A);
	big = xmalloc(5000);
	memset(big, 'x', 4999);
	big[4999] = '\0';
	xasprintf(&text, "hunter2\nalice:%s\n%s\n", a, big);
	path = write_text("lines", text);
	cause = load_fails(path);
	ck_assert_ptr_null(strstr(cause, "hunter2"));
	xasprintf(&want, "%s:1: not a \"user:hash\" line\n"
	    "%s:3: line too long", path, path);
	cause_is(cause, want);
	free(text);
	free(path);

	/* A NUL byte, even at the end of a line. */
	xasprintf(&text, "alice:%s%c\nbob:%s\n", a, '\0', a);
	path = write_file("nul", text, strlen(a) * 2 + 13, 0600);
	cause = load_fails(path);
	xasprintf(&want, "%s:1: NUL byte in the line", path);
	cause_is(cause, want);
	free(text);
	free(path);
	free(big);
	free(a);
}
END_TEST

/* A file of nothing but errors is reported in part. */
START_TEST(test_many_errors)
{
	char	*text, *path, *cause, *p;
	size_t	 i, lines;

	text = xcalloc(1, 300 * 8 + 1);
	for (i = 0; i < 300; i++)
		memcpy(text + i * 8, "hunter2\n", 8);
	path = write_text("many", text);
	cause = load_fails(path);
	for (lines = 1, p = cause; (p = strchr(p, '\n')) != NULL; p++)
		lines++;
	ck_assert_uint_eq(lines, 101);
	ck_assert_ptr_nonnull(strstr(cause, ":1: not a \"user:hash\" line\n"));
	ck_assert_ptr_nonnull(strstr(cause,
	    ":100: not a \"user:hash\" line\n"));
	ck_assert_ptr_null(strstr(cause, ":101: "));
	ck_assert_ptr_nonnull(strstr(cause, ": 200 more errors not shown"));
	free(cause);
	free(text);
	free(path);
}
END_TEST

/* ---- what is tolerated ---- */

START_TEST(test_comments_crlf)
{
	struct htpasswd	*h;
	char		*a, *b, *text, *path;

	a = make_hash("secret", SALT_A);
	b = make_hash("two", SALT_B);
	xasprintf(&text,
	    "# depot users\r\n"
	    "\r\n"
	    "#bob:plain\n"
	    "   \t \n"
	    "alice:%s\r\n"
	    "\n"
	    "#\n"
	    "bob:%s \t", a, b);
	path = write_text("crlf", text);
	h = load_ok(path);
	ck_assert_uint_eq(htpasswd_count(h), 2);
	ck_assert_int_eq(htpasswd_check(h, "alice", "secret"), 1);
	ck_assert_int_eq(htpasswd_check(h, "bob", "two"), 1);
	ck_assert_int_eq(htpasswd_check(h, "bob", "two\r"), 0);
	ck_assert_int_eq(htpasswd_has_user(h, "#bob"), 0);
	htpasswd_free(h);
	free(text);
	free(path);
	free(a);
	free(b);
}
END_TEST

START_TEST(test_empty)
{
	struct htpasswd	*h;
	char		*path;

	path = write_text("empty", "");
	h = load_ok(path);
	ck_assert_uint_eq(htpasswd_count(h), 0);
	ck_assert_int_eq(htpasswd_check(h, "alice", "secret"), 0);
	ck_assert_int_eq(htpasswd_check(h, "", ""), 0);
	ck_assert_int_eq(htpasswd_has_user(h, "alice"), 0);
	htpasswd_free(h);
	free(path);

	path = write_text("comments", "# nobody yet\n\n");
	h = load_ok(path);
	ck_assert_uint_eq(htpasswd_count(h), 0);
	htpasswd_free(h);
	free(path);
}
END_TEST

/* ---- the file itself ---- */

START_TEST(test_mode)
{
	struct htpasswd	*h;
	char		*a, *text, *path, *cause, *want;
	static const struct {
		mode_t	mode;
		int	ok;
	} modes[] = {
		{ 0600, 1 }, { 0400, 1 }, { 0640, 1 }, { 0660, 1 },
		{ 0644, 0 }, { 0604, 0 }, { 0602, 0 }, { 0601, 0 },
		{ 0666, 0 },
	};
	size_t		 i;

	a = make_hash("secret", SALT_A);
	xasprintf(&text, "alice:%s\n", a);
	for (i = 0; i < NELEM(modes); i++) {
		path = write_file("mode", text, strlen(text), modes[i].mode);
		if (modes[i].ok) {
			h = load_ok(path);
			ck_assert_int_eq(htpasswd_check(h, "alice", "secret"),
			    1);
			htpasswd_free(h);
		} else {
			cause = load_fails(path);
			xasprintf(&want, "%s: mode %04o lets others read or "
			    "write the users file; chmod o-rwx it", path,
			    (unsigned int)modes[i].mode);
			cause_is(cause, want);
		}
		ck_assert_int_eq(unlink(path), 0);
		free(path);
	}
	free(text);
	free(a);
}
END_TEST

START_TEST(test_missing)
{
	char	*path, *cause, *want;

	xasprintf(&path, "%s/no-such-file", test_dir);
	cause = load_fails(path);
	xasprintf(&want, "%s: No such file or directory", path);
	cause_is(cause, want);
	free(path);

	cause = load_fails(test_dir);
	xasprintf(&want, "%s: not a regular file", test_dir);
	cause_is(cause, want);
}
END_TEST

static Suite *
htpasswd_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("htpasswd");
	tc = tcase_create("check");
	tcase_add_test(tc, test_check);
	tcase_add_test(tc, test_htpasswd_tool);
	suite_add_tcase(s, tc);
	tc = tcase_create("refused");
	tcase_add_test(tc, test_other_hashes);
	tcase_add_test(tc, test_malformed_bcrypt);
	tcase_add_test(tc, test_bcrypt_variants);
	tcase_add_test(tc, test_cost_limit);
	tcase_add_test(tc, test_duplicates);
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_bad_lines);
	tcase_add_test(tc, test_many_errors);
	suite_add_tcase(s, tc);
	tc = tcase_create("tolerated");
	tcase_add_test(tc, test_comments_crlf);
	tcase_add_test(tc, test_empty);
	suite_add_tcase(s, tc);
	tc = tcase_create("file");
	tcase_add_test(tc, test_mode);
	tcase_add_test(tc, test_missing);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	const char	*tmp;
	int		 failed;

	tmp = getenv("TMPDIR");
	if (path_fmt(test_dir, sizeof(test_dir), "%s/htpasswd.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp") == -1 ||
	    mkdtemp(test_dir) == NULL) {
		perror("mkdtemp");
		return (EXIT_FAILURE);
	}
	failed = check_run(htpasswd_suite()) != EXIT_SUCCESS;
	remove_dir(test_dir);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
