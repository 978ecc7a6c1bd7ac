/*
 * access.h: who may do what. Users come from the htpasswd file
 * (htpasswd.h), Bearer tokens are ES256 JWTs signed with depot's key
 * (jwt.h), and each registry or upstream key has read and write lists:
 * "anonymous" (anyone), "*" (any signed-in user) or user names. Pull
 * needs read; push and delete need write.
 *
 * The master loads one struct access per configuration generation
 * (before forking, so the workers inherit it) and frees it with that
 * generation. Without an auth group in the configuration there is none
 * (NULL) and everything is allowed to everyone.
 */
#ifndef DEPOT_ACCESS_H
#define DEPOT_ACCESS_H

#include <stddef.h>

#include "depot.h"

struct config;
struct access;

#define ACCESS_PULL	0x1
#define ACCESS_PUSH	0x2
#define ACCESS_DELETE	0x4
#define ACCESS_USER_MAX	64
#define ACCESS_SERVICE	"depot"

/*
 * Load the users file and the token key (created when missing, with its
 * certificate). NULL with *cause NULL when the configuration has no auth
 * group; NULL with *cause (caller frees) on error.
 */
struct access	*access_load(const struct config *, char **cause);
void		 access_free(struct access *);

/* Who sent a request, from its Authorization header. */
struct access_caller {
	int		 ca_signed_in;		/* a valid user */
	int		 ca_bearer;		/* identified by a token */
	int		 ca_bad;		/* credentials, but wrong */
	int		 ca_bad_password;	/* ... a wrong password */
	char		 ca_user[ACCESS_USER_MAX + 1];	/* "" anonymous */
	void		*ca_grants;		/* the token's access claim */
};

/* Identify the caller; a bad header sets ca_bad. Clear with _clear. */
void	access_identify(struct access *, const char *authorization,
	    struct access_caller *);
void	access_caller_clear(struct access_caller *);

/* What the lists of registry (or upstream key) allow user ("" anon). */
unsigned access_policy(const struct config *, const char *registry,
	    const char *user);
/*
 * What the caller may do on repository repo ("registry/image..."): the
 * policy for the caller, and for a token also only what it grants.
 * Everything when access is NULL.
 */
unsigned access_rights(struct access *, const struct config *,
	    const struct access_caller *, const char *repo);

/*
 * The token service's answer for user ("" anonymous) asking scopes
 * (the audience is always ACCESS_SERVICE; service is not used):
 * the JSON {"token", "access_token", "expires_in", "issued_at"} (and
 * "refresh_token" when with_refresh), the access claim being what is
 * asked and allowed. Caller frees.
 */
char	*access_token_answer(struct access *, const struct config *,
	    const char *user, const char *service, char *const *scopes,
	    size_t nscopes, int with_refresh);
/*
 * Check a refresh token; 0 with user (ACCESS_USER_MAX + 1 bytes) set,
 * or -1.
 */
int	access_refresh_user(struct access *, const char *token, char *user);
/* 1 when name may be a user name (and so be logged as it is). */
int	access_name_ok(const char *name);
/* Check a user's password. 1 good, 0 not. */
int	access_password_ok(struct access *, const char *user,
	    const char *password);

/*
 * Failed logins, per client address (this process): log and note one
 * (user may be NULL or not a valid name: logged as "?"), and how many
 * milliseconds to hold the next refusal for that address.
 */
void	access_login_failed(const char *addr, const char *user);
long	access_login_delay_ms(const char *addr);

#endif /* DEPOT_ACCESS_H */
