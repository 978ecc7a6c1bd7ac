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
struct event_base;

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
	int		 ca_backoff;	/* not checked: in back-off */
	char		 ca_user[ACCESS_USER_MAX + 1];	/* "" anonymous */
	void		*ca_grants;		/* the token's access claim */
};

typedef void (*access_done_cb)(void *arg);

/*
 * Identify the caller from its Authorization header, coming from client
 * address addr; a bad header sets ca_bad. Returns 0 when who is set, or
 * 1 when a password is being checked off the loop (access_pool.h): then
 * cb(arg) runs later on base's loop with who set, and who and arg must
 * stay valid until it has. A password is checked at once (no hash) when
 * bcrypt accepted it lately; a name no user can have, or a user or an
 * address in back-off after failed logins, is refused at once (the
 * latter with ca_backoff). Wrong passwords are counted and logged here.
 * Clear who with access_caller_clear.
 */
int	access_identify_start(struct access *, const struct config *,
	    struct event_base *, const char *authorization, const char *addr,
	    struct access_caller *who, access_done_cb cb, void *arg);
/* The same for a user name and password given otherwise (POST /token). */
int	access_login_start(struct access *, const struct config *,
	    struct event_base *, const char *user, const char *password,
	    const char *addr, struct access_caller *who, access_done_cb cb,
	    void *arg);
void	access_caller_clear(struct access_caller *);

/*
 * What the lists of registry (or upstream key) allow user ("" anon);
 * registry may be a repository name: its first component counts.
 */
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
/*
 * Failed logins, counted per user name and per client address (not for
 * a trusted proxy's address, behind which every client has the same
 * one), shared by every worker: a segment mapped once, before the
 * workers fork (access_load does it). After n failures within five
 * minutes, the refusal of a wrong password is held for 250 ms * 2^(n-1)
 * (at most 4 s), and until that time has passed, and while the password
 * of a key that failed before is being checked, logins for the user or
 * from the address are refused without a check.
 */
int	access_fails_init(void);
/* Log and count a failure (user NULL or no valid name: logged as "?"). */
void	access_login_failed(const struct config *, const char *addr,
	    const char *user);
/* A check of user's password starts / succeeded. */
void	access_login_guard(const struct config *, const char *addr,
	    const char *user);
void	access_login_succeeded(const struct config *, const char *addr,
	    const char *user);
/* 1 while the user or the address is in back-off. */
int	access_login_backoff(const struct config *, const char *addr,
	    const char *user);
/* How many milliseconds to hold the refusal of a wrong password. */
long	access_login_delay_ms(const struct config *, const char *addr,
	    const char *user);

/* 1 when addr is one of server.trusted_proxies. */
int	access_address_trusted(const struct config *, const char *addr);
/* 1 when addr is a loopback address (127.0.0.0/8, ::1). */
int	access_address_loopback(const char *addr);
/*
 * May user ("" anonymous) from client address addr read /metrics?
 * server.metrics_read decides when set (as a read list: "anonymous",
 * "*", user names); unset, only loopback and trusted proxy addresses may,
 * without credentials.
 */
int	access_metrics_allowed(const struct config *, const char *addr,
	    const char *user);

#endif /* DEPOT_ACCESS_H */
