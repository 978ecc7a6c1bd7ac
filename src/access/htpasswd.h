/*
 * htpasswd.h: the users file of depot's access control. An Apache
 * htpasswd file holding bcrypt hashes only, read once, then asked
 * whether a user exists and whether a password is right.
 */
#ifndef DEPOT_HTPASSWD_H
#define DEPOT_HTPASSWD_H

#include <stddef.h>

#define HTPASSWD_NAME_MAX	64	/* longest user name */
/*
 * The highest bcrypt cost accepted: a check of cost 14 takes about a
 * second of CPU; above that, logins would queue behind each other.
 */
#define HTPASSWD_COST_LIMIT	14

struct htpasswd;

/*
 * Read an htpasswd file: lines "user:hash"; blank lines and lines that
 * start with '#' are ignored, CRLF line ends are tolerated. Only bcrypt
 * hashes ($2y$, $2b$, $2a$, cost 04..HTPASSWD_COST_LIMIT, 60 characters)
 * are accepted.
 * User names are 1..64 characters of [A-Za-z0-9._@-], each defined
 * once. The file must be a regular file that others may neither read
 * nor write (mode & 007 == 0). An empty file is allowed (no users).
 * NULL on any error, with every error found in *cause, one
 * "file:line: message" per line (caller frees; cause may be NULL).
 * Free the result with htpasswd_free.
 */
struct htpasswd	*htpasswd_load(const char *path, char **cause);
void		 htpasswd_free(struct htpasswd *);
size_t		 htpasswd_count(const struct htpasswd *);

/*
 * 1 when user exists and password matches its hash, 0 otherwise. An
 * unknown user costs about as much as a known one (a dummy hash of the
 * first user's cost is computed), so that timing does not tell which
 * users exist. Logs nothing.
 */
int		 htpasswd_check(const struct htpasswd *, const char *user,
		    const char *password);
/*
 * The stored hash of user, or for an unknown user the dummy hash of the
 * same cost; NULL only when h is NULL. Valid while h is. With
 * htpasswd_verify, the check of htpasswd_check in two steps, so that the
 * hashing can run in another thread on a copy of the hash.
 */
const char	*htpasswd_hash_of(const struct htpasswd *, const char *user);
/* 1 when password hashes to hash (compared in constant time), else 0.
 * Thread-safe. */
int		 htpasswd_verify(const char *password, const char *hash);
/* 1 when the user exists, 0 otherwise. */
int		 htpasswd_has_user(const struct htpasswd *, const char *user);

#endif /* DEPOT_HTPASSWD_H */
