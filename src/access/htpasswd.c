/*
 * htpasswd.c: depot's users file. Owns the reader of the htpasswd
 * format (bcrypt hashes only), the table of users it yields (sorted by
 * name), and the password check: crypt_r(3), a comparison in constant
 * time, and a dummy hash for unknown users so that the time an answer
 * takes does not tell which users exist.
 *
 * A bcrypt hash is "$2b$" (or $2y$, $2a$), two digits of cost, "$", 22
 * characters of salt and 31 of checksum, in bcrypt's base64 alphabet.
 * The last character of each holds padding bits that bcrypt always
 * writes as zero; a hash with other bits there could never match what
 * crypt_r computes, so it is refused when read.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access/htpasswd.h"
#include "lib/xmalloc.h"

#define HTPASSWD_HASH_LEN	60	/* "$2b$NN$" + 22 + 31 */
#define HTPASSWD_SETTING_LEN	7	/* "$2b$NN$" */
#define HTPASSWD_SALT_LEN	22
#define HTPASSWD_COST_MIN	4
#define HTPASSWD_COST_MAX	31	/* what bcrypt itself allows */
#define HTPASSWD_COST_DEFAULT	"05"	/* htpasswd -B's; when no users */
#define HTPASSWD_LINE_MAX	4096
#define HTPASSWD_ERRORS_MAX	100	/* more are counted, not kept */
#define HTPASSWD_SHOWN_MAX	(HTPASSWD_NAME_MAX * 4 + 8)
#define HTPASSWD_DUMMY_SALT	"depotdepotdepotdepotde"
#define HTPASSWD_DUMMY_SUM	"depotdepotdepotdepotdepotdepot."

/* Why a hash is refused, when it is not bcrypt at all. */
#define HTPASSWD_NOT_BCRYPT	"not bcrypt"

static const char htpasswd_b64[] =
    "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

struct htpasswd_user {
	char	hu_name[HTPASSWD_NAME_MAX + 1];
	char	hu_hash[HTPASSWD_HASH_LEN + 1];	/* "" when refused */
	size_t	hu_line;
};

struct htpasswd {
	struct htpasswd_user	*h_users;	/* sorted by name */
	size_t			 h_count;
	char			 h_dummy[HTPASSWD_HASH_LEN + 1];
};

/* One error found while loading. */
struct htpasswd_error {
	size_t	 he_line;	/* 0: the file as a whole */
	size_t	 he_seq;	/* order of discovery */
	char	*he_text;	/* "file:line: message" */
};

/* The state of one load. */
struct htpasswd_loader {
	const char		*hl_path;
	struct htpasswd		*hl_h;
	size_t			 hl_size;	/* users allocated */
	struct htpasswd_error	*hl_errors;
	size_t			 hl_nerrors;
	size_t			 hl_errors_size;
	size_t			 hl_dropped;	/* errors beyond the maximum */
};

static void	 htpasswd_error(struct htpasswd_loader *, size_t, const char *,
		    ...) PRINTFLIKE(3, 4);
static FILE	*htpasswd_open(struct htpasswd_loader *);
static void	 htpasswd_read(struct htpasswd_loader *, FILE *);
static void	 htpasswd_line(struct htpasswd_loader *, char *, size_t,
		    size_t);
static int	 htpasswd_name_ok(const char *, size_t);
static void	 htpasswd_shown(const char *, size_t, int, char *, size_t);
static int	 htpasswd_b64_index(int);
static const char *htpasswd_bcrypt_why(const char *);
static void	 htpasswd_add(struct htpasswd_loader *, const char *, size_t,
		    const char *, size_t);
static int	 htpasswd_user_cmp(const void *, const void *);
static int	 htpasswd_key_cmp(const void *, const void *);
static int	 htpasswd_error_cmp(const void *, const void *);
static void	 htpasswd_duplicates(struct htpasswd_loader *);
static void	 htpasswd_dummy(struct htpasswd_loader *);
static char	*htpasswd_cause(struct htpasswd_loader *);
static void	 htpasswd_more(struct htpasswd_loader *);
static void	 htpasswd_loader_clear(struct htpasswd_loader *);
static int	 htpasswd_matches(const char *, const char *);
static const struct htpasswd_user *htpasswd_find(const struct htpasswd *,
		    const char *);

/* Record an error: "path: message" for line 0, else "path:line: message". */
static void
htpasswd_error(struct htpasswd_loader *hl, size_t line, const char *fmt, ...)
{
	struct htpasswd_error	*e;
	va_list			 ap;
	char			*msg;

	if (hl->hl_nerrors == HTPASSWD_ERRORS_MAX) {
		hl->hl_dropped++;
		return;
	}
	if (hl->hl_nerrors == hl->hl_errors_size) {
		hl->hl_errors_size = hl->hl_errors_size == 0 ? 8 :
		    hl->hl_errors_size * 2;
		hl->hl_errors = xreallocarray(hl->hl_errors,
		    hl->hl_errors_size, sizeof(*hl->hl_errors));
	}
	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	e = &hl->hl_errors[hl->hl_nerrors];
	e->he_line = line;
	e->he_seq = hl->hl_nerrors++;
	if (line == 0)
		xasprintf(&e->he_text, "%s: %s", hl->hl_path, msg);
	else
		xasprintf(&e->he_text, "%s:%zu: %s", hl->hl_path, line, msg);
	free(msg);
}

/* Open the file, which must be regular and closed to others. */
static FILE *
htpasswd_open(struct htpasswd_loader *hl)
{
	struct stat	 st;
	FILE		*fp;
	int		 fd;

	fd = open(hl->hl_path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1) {
		htpasswd_error(hl, 0, "%s", strerror(errno));
		return (NULL);
	}
	if (fstat(fd, &st) == -1) {
		htpasswd_error(hl, 0, "fstat: %s", strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		htpasswd_error(hl, 0, "not a regular file");
		goto fail;
	}
	if ((st.st_mode & 007) != 0) {
		htpasswd_error(hl, 0, "mode %04o lets others read or write "
		    "the users file; chmod o-rwx it",
		    (unsigned int)(st.st_mode & 07777));
		goto fail;
	}
	if ((fp = fdopen(fd, "r")) == NULL) {
		htpasswd_error(hl, 0, "fdopen: %s", strerror(errno));
		goto fail;
	}
	return (fp);
fail:
	close(fd);
	return (NULL);
}

/* Read every line, collecting users and errors. */
static void
htpasswd_read(struct htpasswd_loader *hl, FILE *fp)
{
	char	*line = NULL;
	size_t	 size = 0, lineno = 0;
	ssize_t	 len;

	while ((len = getline(&line, &size, fp)) != -1)
		htpasswd_line(hl, line, (size_t)len, ++lineno);
	if (ferror(fp))
		htpasswd_error(hl, 0, "read: %s", strerror(errno));
	free(line);
}

/* Parse one line (len bytes, newline included when there is one). */
static void
htpasswd_line(struct htpasswd_loader *hl, char *line, size_t len,
    size_t lineno)
{
	char		 shown[HTPASSWD_SHOWN_MAX];
	const char	*colon, *hash, *why;
	size_t		 namelen;
	int		 name_ok;

	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' ||
	    line[len - 1] == ' ' || line[len - 1] == '\t'))
		line[--len] = '\0';
	if (len == 0 || line[0] == '#')
		return;
	if (memchr(line, '\0', len) != NULL) {
		htpasswd_error(hl, lineno, "NUL byte in the line");
		return;
	}
	if (len > HTPASSWD_LINE_MAX) {
		htpasswd_error(hl, lineno, "line too long");
		return;
	}
	/* The text of a line without a colon may be a password: not shown. */
	if ((colon = strchr(line, ':')) == NULL) {
		htpasswd_error(hl, lineno, "not a \"user:hash\" line");
		return;
	}
	namelen = colon - line;
	hash = colon + 1;
	name_ok = htpasswd_name_ok(line, namelen);
	htpasswd_shown(line, namelen, name_ok, shown, sizeof(shown));
	if (!name_ok)
		htpasswd_error(hl, lineno, "user name %s is not valid: 1 to %d "
		    "characters of A-Z a-z 0-9 . _ @ -", shown,
		    HTPASSWD_NAME_MAX);
	if ((why = htpasswd_bcrypt_why(hash)) == NULL &&
	    (hash[4] - '0') * 10 + (hash[5] - '0') > HTPASSWD_COST_LIMIT) {
		if (name_ok)
			htpasswd_add(hl, line, namelen, "", lineno);
		htpasswd_error(hl, lineno, "user %s: bcrypt cost %.2s is above "
		    "%d, the most depot accepts (every check would take "
		    "seconds); hash the password again with a lower cost "
		    "(htpasswd -B -C 10)", shown, hash + 4,
		    HTPASSWD_COST_LIMIT);
		return;
	}
	if (why == NULL) {
		if (name_ok)
			htpasswd_add(hl, line, namelen, hash, lineno);
		return;
	}
	if (name_ok)
		htpasswd_add(hl, line, namelen, "", lineno);
	if (strcmp(why, HTPASSWD_NOT_BCRYPT) == 0)
		htpasswd_error(hl, lineno, "user %s: only bcrypt hashes are "
		    "accepted (htpasswd -B)", shown);
	else
		htpasswd_error(hl, lineno, "user %s: malformed bcrypt hash: %s",
		    shown, why);
}

/* 1..HTPASSWD_NAME_MAX characters of [A-Za-z0-9._@-]. */
static int
htpasswd_name_ok(const char *name, size_t len)
{
	size_t	 i;
	char	 c;

	if (len == 0 || len > HTPASSWD_NAME_MAX)
		return (0);
	for (i = 0; i < len; i++) {
		c = name[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || strchr("._@-", c) != NULL))
			return (0);
	}
	return (1);
}

/*
 * A user name as messages show it: as is when valid, else quoted, with
 * bytes outside printable ASCII escaped and the tail cut.
 */
static void
htpasswd_shown(const char *name, size_t len, int valid, char *buf,
    size_t size)
{
	size_t		 i, o = 0;
	unsigned char	 c;

	if (valid) {
		snprintf(buf, size, "%.*s", (int)len, name);
		return;
	}
	buf[o++] = '"';
	for (i = 0; i < len && i < HTPASSWD_NAME_MAX; i++) {
		c = (unsigned char)name[i];
		if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
			o += snprintf(buf + o, size - o, "\\x%02x", c);
		else
			buf[o++] = c;
	}
	snprintf(buf + o, size - o, "%s\"", i < len ? "..." : "");
}

/* Index of c in bcrypt's base64 alphabet, or -1. */
static int
htpasswd_b64_index(int c)
{
	const char	*p;

	if (c == '\0' || (p = strchr(htpasswd_b64, c)) == NULL)
		return (-1);
	return (p - htpasswd_b64);
}

/* NULL when hash is a usable bcrypt hash, else why not. */
static const char *
htpasswd_bcrypt_why(const char *hash)
{
	size_t	 i;
	int	 cost;

	if (hash[0] != '$' || hash[1] != '2' || hash[2] == '\0' ||
	    strchr("aby", hash[2]) == NULL || hash[3] != '$')
		return (HTPASSWD_NOT_BCRYPT);
	if (hash[4] < '0' || hash[4] > '9' || hash[5] < '0' ||
	    hash[5] > '9' || hash[6] != '$')
		return ("the cost must be two digits");
	cost = (hash[4] - '0') * 10 + (hash[5] - '0');
	if (cost < HTPASSWD_COST_MIN || cost > HTPASSWD_COST_MAX)
		return ("the cost must be 04 to 31");
	if (strlen(hash) != HTPASSWD_HASH_LEN)
		return ("it must be 60 characters long");
	for (i = HTPASSWD_SETTING_LEN; i < HTPASSWD_HASH_LEN; i++)
		if (htpasswd_b64_index(hash[i]) == -1)
			return ("only ./A-Za-z0-9 may follow the cost");
	if (htpasswd_b64_index(hash[HTPASSWD_SETTING_LEN +
	    HTPASSWD_SALT_LEN - 1]) % 16 != 0 ||
	    htpasswd_b64_index(hash[HTPASSWD_HASH_LEN - 1]) % 4 != 0)
		return ("its salt or checksum ends in a character bcrypt "
		    "never writes");
	return (NULL);
}

/* Append a user; hash is "" for one whose hash was refused. */
static void
htpasswd_add(struct htpasswd_loader *hl, const char *name, size_t namelen,
    const char *hash, size_t lineno)
{
	struct htpasswd		*h = hl->hl_h;
	struct htpasswd_user	*u;

	if (h->h_count == hl->hl_size) {
		hl->hl_size = hl->hl_size == 0 ? 16 : hl->hl_size * 2;
		h->h_users = xreallocarray(h->h_users, hl->hl_size,
		    sizeof(*h->h_users));
	}
	u = &h->h_users[h->h_count++];
	memcpy(u->hu_name, name, namelen);
	u->hu_name[namelen] = '\0';
	snprintf(u->hu_hash, sizeof(u->hu_hash), "%s", hash);
	u->hu_line = lineno;
}

/* By name, then by line. */
static int
htpasswd_user_cmp(const void *a, const void *b)
{
	const struct htpasswd_user	*ua = a, *ub = b;
	int				 c;

	if ((c = strcmp(ua->hu_name, ub->hu_name)) != 0)
		return (c);
	return (ua->hu_line < ub->hu_line ? -1 : ua->hu_line > ub->hu_line);
}

static int
htpasswd_key_cmp(const void *key, const void *elem)
{
	const struct htpasswd_user	*u = elem;

	return (strcmp(key, u->hu_name));
}

/* By line, then in the order found. */
static int
htpasswd_error_cmp(const void *a, const void *b)
{
	const struct htpasswd_error	*ea = a, *eb = b;

	if (ea->he_line != eb->he_line)
		return (ea->he_line < eb->he_line ? -1 : 1);
	return (ea->he_seq < eb->he_seq ? -1 : ea->he_seq > eb->he_seq);
}

/* Sort the users and report each one defined more than once. */
static void
htpasswd_duplicates(struct htpasswd_loader *hl)
{
	struct htpasswd_user	*users = hl->hl_h->h_users;
	size_t			 i, first = 0;

	if (hl->hl_h->h_count == 0)
		return;
	qsort(users, hl->hl_h->h_count, sizeof(*users), htpasswd_user_cmp);
	for (i = 1; i < hl->hl_h->h_count; i++) {
		if (strcmp(users[i].hu_name, users[first].hu_name) != 0) {
			first = i;
			continue;
		}
		htpasswd_error(hl, users[i].hu_line, "user %s defined twice "
		    "(first on line %zu)", users[i].hu_name,
		    users[first].hu_line);
	}
}

/*
 * Make the dummy hash that unknown users are checked against, of the
 * first user's cost (call before sorting), and make sure crypt(3)
 * computes bcrypt at all, at the lowest cost.
 */
static void
htpasswd_dummy(struct htpasswd_loader *hl)
{
	struct htpasswd	*h = hl->hl_h;
	const char	*probe;
	const char	*cost = HTPASSWD_COST_DEFAULT;

	if (h->h_count > 0 && h->h_users[0].hu_hash[0] != '\0')
		cost = h->h_users[0].hu_hash + 4;
	snprintf(h->h_dummy, sizeof(h->h_dummy), "$2b$%.2s$%s%s", cost,
	    HTPASSWD_DUMMY_SALT, HTPASSWD_DUMMY_SUM);
	/* Where bcrypt is not supported, crypt_r fails (-1) on this. */
	probe = "$2b$04$" HTPASSWD_DUMMY_SALT HTPASSWD_DUMMY_SUM;
	if (htpasswd_matches("", probe) == -1)
		htpasswd_error(hl, 0, "crypt(3) on this system does not "
		    "compute bcrypt hashes");
}

/* Every error, one per line, in line order. Caller frees. */
static char *
htpasswd_cause(struct htpasswd_loader *hl)
{
	char	*cause, *line;
	size_t	 i, len = 0, o = 0, n;

	qsort(hl->hl_errors, hl->hl_nerrors, sizeof(*hl->hl_errors),
	    htpasswd_error_cmp);
	if (hl->hl_dropped > 0)
		htpasswd_more(hl);
	for (i = 0; i < hl->hl_nerrors; i++)
		len += strlen(hl->hl_errors[i].he_text) + 1;
	cause = xmalloc(len);
	for (i = 0; i < hl->hl_nerrors; i++) {
		line = hl->hl_errors[i].he_text;
		n = strlen(line);
		memcpy(cause + o, line, n);
		o += n;
		cause[o++] = '\n';
	}
	cause[o - 1] = '\0';
	return (cause);
}

/* Add, after the errors kept, how many were not. */
static void
htpasswd_more(struct htpasswd_loader *hl)
{
	struct htpasswd_error	*e;

	hl->hl_errors = xreallocarray(hl->hl_errors, hl->hl_nerrors + 1,
	    sizeof(*hl->hl_errors));
	e = &hl->hl_errors[hl->hl_nerrors++];
	e->he_line = 0;
	e->he_seq = 0;
	xasprintf(&e->he_text, "%s: %zu more errors not shown", hl->hl_path,
	    hl->hl_dropped);
}

static void
htpasswd_loader_clear(struct htpasswd_loader *hl)
{
	size_t	 i;

	for (i = 0; i < hl->hl_nerrors; i++)
		free(hl->hl_errors[i].he_text);
	free(hl->hl_errors);
	hl->hl_errors = NULL;
	hl->hl_nerrors = 0;
}

struct htpasswd *
htpasswd_load(const char *path, char **cause)
{
	struct htpasswd_loader	 hl;
	struct htpasswd		*h;
	FILE			*fp;

	if (cause != NULL)
		*cause = NULL;
	memset(&hl, 0, sizeof(hl));
	hl.hl_path = path;
	h = hl.hl_h = xcalloc(1, sizeof(*h));
	if ((fp = htpasswd_open(&hl)) != NULL) {
		htpasswd_read(&hl, fp);
		fclose(fp);
		htpasswd_dummy(&hl);
		htpasswd_duplicates(&hl);
	}
	if (hl.hl_nerrors > 0) {
		if (cause != NULL)
			*cause = htpasswd_cause(&hl);
		htpasswd_free(h);
		h = NULL;
	}
	htpasswd_loader_clear(&hl);
	return (h);
}

void
htpasswd_free(struct htpasswd *h)
{
	if (h == NULL)
		return;
	if (h->h_users != NULL)
		explicit_bzero(h->h_users, h->h_count * sizeof(*h->h_users));
	free(h->h_users);
	free(h);
}

size_t
htpasswd_count(const struct htpasswd *h)
{
	return (h != NULL ? h->h_count : 0);
}

static const struct htpasswd_user *
htpasswd_find(const struct htpasswd *h, const char *user)
{
	if (h == NULL || user == NULL || h->h_count == 0)
		return (NULL);
	return (bsearch(user, h->h_users, h->h_count, sizeof(*h->h_users),
	    htpasswd_key_cmp));
}

/*
 * Hash password with the setting of hash and compare the result with
 * hash in constant time: 1 when equal, 0 when not, -1 when crypt_r
 * failed.
 */
static int
htpasswd_matches(const char *password, const char *hash)
{
	struct crypt_data	*data;
	const char		*out;
	char			 got[HTPASSWD_HASH_LEN];
	size_t			 i, len;
	unsigned char		 diff;
	int			 failed;

	data = xcalloc(1, sizeof(*data));
	out = crypt_r(password, hash, data);
	failed = (out == NULL || out[0] == '*');
	len = failed ? 0 : strnlen(out, HTPASSWD_HASH_LEN + 1);
	diff = (len != HTPASSWD_HASH_LEN);
	memset(got, 0, sizeof(got));
	if (len > 0)
		memcpy(got, out, len < sizeof(got) ? len : sizeof(got));
	for (i = 0; i < HTPASSWD_HASH_LEN; i++)
		diff |= (unsigned char)got[i] ^ (unsigned char)hash[i];
	explicit_bzero(data, sizeof(*data));
	explicit_bzero(got, sizeof(got));
	free(data);
	if (failed)
		return (-1);
	return (diff == 0);
}

int
htpasswd_check(const struct htpasswd *h, const char *user,
    const char *password)
{
	const struct htpasswd_user	*u;
	int				 same;

	if (h == NULL)
		return (0);
	u = htpasswd_find(h, user);
	same = htpasswd_matches(password != NULL ? password : "",
	    u != NULL ? u->hu_hash : h->h_dummy);
	return (u != NULL && same == 1);
}

const char *
htpasswd_hash_of(const struct htpasswd *h, const char *user)
{
	const struct htpasswd_user	*u;

	if (h == NULL)
		return (NULL);
	if ((u = htpasswd_find(h, user)) != NULL)
		return (u->hu_hash);
	return (h->h_dummy);
}

int
htpasswd_verify(const char *password, const char *hash)
{
	return (htpasswd_matches(password != NULL ? password : "", hash) == 1);
}

int
htpasswd_has_user(const struct htpasswd *h, const char *user)
{
	return (htpasswd_find(h, user) != NULL);
}
