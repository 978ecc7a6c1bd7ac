/*
 * access.c: the access policy, the identification of callers (Basic
 * credentials or a Bearer token of ours), and the content of the tokens
 * the token service hands out. No secret (password, token, key) is ever
 * logged or put in a message.
 */
#include <sys/types.h>
#include <sys/mman.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "access/access.h"
#include "access/access_pool.h"
#include "conf/config.h"
#include "access/htpasswd.h"
#include "access/jwt.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/xmalloc.h"

#define ACCESS_REFRESH_TTL	(30 * 86400)	/* seconds */
#define ACCESS_CLOCK_SKEW	60		/* seconds of nbf leeway */
#define ACCESS_FAIL_SLOTS	256		/* users and addresses */
#define ACCESS_FAIL_KEY_MAX	80		/* "u:" or "a:" and the name */
#define ACCESS_FAIL_WINDOW_MS	(300 * 1000)	/* a failure counts so long */
#define ACCESS_DELAY_BASE_MS	250
#define ACCESS_DELAY_MAX_MS	4000
#define ACCESS_CHECK_GUARD_MS	(10 * 1000)	/* a failed key's check */
#define ACCESS_BACKOFF_SLACK_MS	50		/* a held refusal's timer */
#define ACCESS_GOOD_SLOTS	32		/* passwords checked lately */
#define ACCESS_GOOD_TTL		60		/* seconds one is trusted */
#define ACCESS_POOL_THREADS	2		/* bcrypt threads per worker */
#define ACCESS_POOL_QUEUED	64		/* checks waiting at most */

struct access {
	struct htpasswd	*ac_users;
	struct jwt_key	*ac_key;
	char		*ac_issuer;
	int		 ac_ttl;
};

/*
 * Recent failed logins of one user name ("u:NAME") or client address
 * ("a:ADDR"; not for trusted proxies, behind which every client has the
 * proxy's address), in a shared memory segment that the master maps
 * before it forks, so that every worker counts the same failures. While
 * now is before af_until_ms, a login for that key is refused without a
 * check: after a failure for the failure's delay, and while a check of
 * a key that failed before is running (ACCESS_CHECK_GUARD_MS at most).
 * Times are CLOCK_MONOTONIC milliseconds (the same in every process).
 */
struct access_fail {
	char		 af_key[ACCESS_FAIL_KEY_MAX];
	int		 af_count;
	long long	 af_last_ms;
	long long	 af_until_ms;
};

struct access_fails {
	pthread_mutex_t		af_lock;	/* process-shared, robust */
	struct access_fail	af_slot[ACCESS_FAIL_SLOTS];
};

static struct access_fails	*access_fails;

/* One password check in a thread (access_pool.h); owned by the loop. */
struct access_check {
	struct access		*ak_ac;
	const struct config	*ak_cf;
	struct access_caller	*ak_who;	/* the caller's, kept valid */
	char			 ak_user[ACCESS_USER_MAX + 1];
	char			 ak_addr[64];
	unsigned char		 ak_sha[32];
	access_done_cb		 ak_cb;
	void			*ak_arg;
};

static struct access_pool	*access_pool;
static pid_t			 access_pool_pid;

/*
 * Credentials bcrypt accepted lately, by SHA-256 of "user NUL password":
 * clients that send Basic credentials with every request cost one bcrypt
 * a minute, not one per request, and the event loop stays free.
 */
static struct {
	unsigned char	 ag_hash[32];
	time_t		 ag_until;
} access_good[ACCESS_GOOD_SLOTS];

static int	access_list_allows(const struct strlist *, const char *);
static int	access_basic(struct access *, const struct config *,
		    struct event_base *, const char *, const char *,
		    struct access_caller *, access_done_cb, void *);
static int	access_password_start(struct access *,
		    const struct config *, struct event_base *, const char *,
		    const char *, const char *, struct access_caller *,
		    access_done_cb, void *);
static void	access_check_done_cb(int, void *);
static void	access_sha(const char *, const char *, unsigned char *);
static int	access_good_find(struct access *, const char *,
		    const unsigned char *);
static void	access_good_add(const unsigned char *);
static void	access_fails_lock(void);
static void	access_fails_unlock(void);
static int	access_fail_keys(const struct config *, const char *,
		    const char *, char [2][ACCESS_FAIL_KEY_MAX]);
static struct access_fail *access_fail_find(const char *, int, long long);
static long	access_fail_delay(int);
static int	access_address_parse(const char *, struct in6_addr *);
static void	access_warn_anonymous(const struct config *);
static int	access_bearer(struct access *, const char *,
		    struct access_caller *);
static unsigned	access_actions_parse(const char *);
static unsigned	access_token_grant(void *, const char *);
static json_t	*access_scopes_grant(const struct config *, const char *,
		    char *const *, size_t);
static char	*access_jti(void);
static void	access_time_str(time_t, char *, size_t);

struct access *
access_load(const struct config *cf, char **cause)
{
	const struct config_access	*acc = &cf->cf_access;
	struct access			*ac;
	char				*why = NULL;

	*cause = NULL;
	if (!cf->cf_has_access)
		return (NULL);
	if (access_fails_init() == -1) {
		xasprintf(cause, "cannot map the failed login counters");
		return (NULL);
	}
	ac = xcalloc(1, sizeof(*ac));
	if ((ac->ac_users = htpasswd_load(acc->acc_users_file, &why)) == NULL) {
		xasprintf(cause, "%s", why != NULL ? why : "users file");
		goto fail;
	}
	if ((ac->ac_key = jwt_key_load(acc->acc_token_key_file, 1,
	    &why)) == NULL) {
		xasprintf(cause, "%s", why != NULL ? why : "token key");
		goto fail;
	}
	if (acc->acc_token_cert_file != NULL && jwt_cert_ensure(ac->ac_key,
	    acc->acc_token_cert_file, acc->acc_token_issuer, &why) == -1) {
		xasprintf(cause, "%s", why != NULL ? why : "token cert");
		goto fail;
	}
	ac->ac_issuer = xstrdup(acc->acc_token_issuer);
	ac->ac_ttl = acc->acc_token_ttl;
	log_info("access control: %zu users, token key %s",
	    htpasswd_count(ac->ac_users), jwt_key_id(ac->ac_key));
	access_warn_anonymous(cf);
	return (ac);

fail:
	free(why);
	access_free(ac);
	return (NULL);
}

void
access_free(struct access *ac)
{
	if (ac == NULL)
		return;
	htpasswd_free(ac->ac_users);
	jwt_key_free(ac->ac_key);
	free(ac->ac_issuer);
	free(ac);
}

/* 1 when a read or write list lets user ("" anonymous) in. */
static int
access_list_allows(const struct strlist *list, const char *user)
{
	size_t	 i;

	for (i = 0; i < list->sl_count; i++) {
		if (strcmp(list->sl_items[i], "anonymous") == 0)
			return (1);
		if (*user == '\0')
			continue;
		if (strcmp(list->sl_items[i], "*") == 0 ||
		    strcmp(list->sl_items[i], user) == 0)
			return (1);
	}
	return (0);
}

unsigned
access_policy(const struct config *cf, const char *registry,
    const char *user)
{
	struct config_registry	*reg;
	struct config_upstream	*up;
	const struct strlist	*read, *write;
	unsigned		 rights = 0;

	if (!cf->cf_has_access)
		return (ACCESS_PULL | ACCESS_PUSH | ACCESS_DELETE);
	(void)config_name_find((struct config *)cf, registry, &reg, &up);
	if (reg != NULL) {
		read = &reg->reg_read;
		write = &reg->reg_write;
	} else if (up != NULL) {
		read = &up->up_read;
		write = &up->up_write;
	} else
		return (0);
	if (access_list_allows(read, user))
		rights |= ACCESS_PULL;
	if (access_list_allows(write, user))
		rights |= ACCESS_PUSH | ACCESS_DELETE;
	return (rights);
}

unsigned
access_rights(struct access *ac, const struct config *cf,
    const struct access_caller *who, const char *repo)
{
	size_t		 n;
	unsigned	 rights;

	if (ac == NULL)
		return (ACCESS_PULL | ACCESS_PUSH | ACCESS_DELETE);
	if (who->ca_bad)
		return (0);
	n = strcspn(repo, "/");
	if (n == 0 || n > DEPOT_NAME_MAX)
		return (0);
	rights = access_policy(cf, repo, who->ca_user);
	if (who->ca_bearer)
		rights &= access_token_grant(who->ca_grants, repo);
	return (rights);
}

int
access_name_ok(const char *name)
{
	size_t	 len = strlen(name);

	return (len > 0 && len <= ACCESS_USER_MAX &&
	    strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789._@-") == len);
}

int
access_identify_start(struct access *ac, const struct config *cf,
    struct event_base *base, const char *authorization, const char *addr,
    struct access_caller *who, access_done_cb cb, void *arg)
{
	memset(who, 0, sizeof(*who));
	if (ac == NULL || authorization == NULL)
		return (0);
	if (strncasecmp(authorization, "Basic ", 6) == 0)
		return (access_basic(ac, cf, base, authorization + 6, addr, who,
		    cb, arg));
	if (strncasecmp(authorization, "Bearer ", 7) == 0)
		(void)access_bearer(ac, authorization + 7, who);
	else
		who->ca_bad = 1;
	return (0);
}

int
access_login_start(struct access *ac, const struct config *cf,
    struct event_base *base, const char *user, const char *password,
    const char *addr, struct access_caller *who, access_done_cb cb,
    void *arg)
{
	memset(who, 0, sizeof(*who));
	if (ac == NULL)
		return (0);
	return (access_password_start(ac, cf, base, user, password, addr, who,
	    cb, arg));
}

void
access_caller_clear(struct access_caller *who)
{
	json_decref(who->ca_grants);
	memset(who, 0, sizeof(*who));
}

/*
 * Basic credentials: base64 of "user:password". 0 when who is set now,
 * 1 when the password is being checked (cb(arg) follows).
 */
static int
access_basic(struct access *ac, const struct config *cf,
    struct event_base *base, const char *b64, const char *addr,
    struct access_caller *who, access_done_cb cb, void *arg)
{
	unsigned char	*buf;
	char		*colon;
	size_t		 len = strspn(b64, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "abcdefghijklmnopqrstuvwxyz0123456789+/=");
	int		 n, pad = 0, rv;

	if (len == 0 || len % 4 != 0 || b64[len] != '\0' || len > 1024) {
		who->ca_bad = 1;
		return (0);
	}
	buf = xmalloc(len);
	if ((n = EVP_DecodeBlock(buf, (const unsigned char *)b64,
	    (int)len)) < 0) {
		free(buf);
		who->ca_bad = 1;
		return (0);
	}
	if (b64[len - 1] == '=')
		pad++;
	if (b64[len - 2] == '=')
		pad++;
	n -= pad;	/* n <= 3 * len / 4 < len: room for the NUL */
	buf[n] = '\0';
	if (memchr(buf, '\0', (size_t)n) != NULL ||
	    (colon = strchr((char *)buf, ':')) == NULL ||
	    colon - (char *)buf > ACCESS_USER_MAX) {
		OPENSSL_cleanse(buf, len);
		free(buf);
		who->ca_bad = 1;
		return (0);
	}
	*colon = '\0';
	rv = access_password_start(ac, cf, base, (char *)buf, colon + 1, addr,
	    who, cb, arg);
	OPENSSL_cleanse(buf, len);
	free(buf);
	return (rv);
}

/*
 * Check user's password: at once when it was accepted lately, when the
 * name cannot be a user's (no hash, a failure) or while the user or the
 * address is in back-off (no hash, ca_backoff); else in a thread of the
 * pool. 0 when who is set now, 1 when cb(arg) follows on base's loop.
 */
static int
access_password_start(struct access *ac, const struct config *cf,
    struct event_base *base, const char *user, const char *password,
    const char *addr, struct access_caller *who, access_done_cb cb,
    void *arg)
{
	struct access_check	*ak;
	const char		*hash;

	if (user == NULL || password == NULL || !access_name_ok(user)) {
		who->ca_bad = who->ca_bad_password = 1;
		(void)snprintf(who->ca_user, sizeof(who->ca_user), "?");
		access_login_failed(cf, addr, NULL);
		return (0);
	}
	(void)snprintf(who->ca_user, sizeof(who->ca_user), "%s", user);
	ak = xcalloc(1, sizeof(*ak));
	access_sha(user, password, ak->ak_sha);
	if (access_good_find(ac, user, ak->ak_sha)) {
		who->ca_signed_in = 1;
		goto done;
	}
	if (access_login_backoff(cf, addr, user)) {
		log_debug("login for user %s from %s refused: back-off", user,
		    addr);
		who->ca_bad = who->ca_backoff = 1;
		goto done;
	}
	if (access_pool == NULL || access_pool_pid != getpid()) {
		access_pool = access_pool_create(base, ACCESS_POOL_THREADS,
		    ACCESS_POOL_QUEUED);
		access_pool_pid = getpid();
	}
	hash = htpasswd_hash_of(ac->ac_users, user);
	ak->ak_ac = ac;
	ak->ak_cf = cf;
	ak->ak_who = who;
	(void)snprintf(ak->ak_user, sizeof(ak->ak_user), "%s", user);
	(void)snprintf(ak->ak_addr, sizeof(ak->ak_addr), "%s", addr);
	ak->ak_cb = cb;
	ak->ak_arg = arg;
	if (access_pool == NULL || hash == NULL ||
	    access_pool_submit(access_pool, password, hash,
	    access_check_done_cb, ak) == -1) {
		log_warnx("login for user %s from %s refused: too many "
		    "logins are being checked", user, addr);
		who->ca_bad = who->ca_backoff = 1;
		goto done;
	}
	access_login_guard(cf, addr, user);
	return (1);

done:
	OPENSSL_cleanse(ak->ak_sha, sizeof(ak->ak_sha));
	free(ak);
	return (0);
}

/* On the loop: a password check finished. */
static void
access_check_done_cb(int ok, void *arg)
{
	struct access_check	*ak = arg;
	struct access_caller	*who = ak->ak_who;

	if (ok) {
		access_good_add(ak->ak_sha);
		who->ca_signed_in = 1;
		access_login_succeeded(ak->ak_cf, ak->ak_addr, ak->ak_user);
	} else {
		who->ca_bad = who->ca_bad_password = 1;
		access_login_failed(ak->ak_cf, ak->ak_addr, ak->ak_user);
	}
	ak->ak_cb(ak->ak_arg);
	OPENSSL_cleanse(ak->ak_sha, sizeof(ak->ak_sha));
	free(ak);
}

/*
 * A Bearer token: our signature, our issuer, audience "depot", within
 * its time, not a refresh token, and its subject (if any) still a user.
 * 0, or -1 (ca_bad set).
 */
static int
access_bearer(struct access *ac, const char *token, struct access_caller *who)
{
	json_t		*claims, *aud, *grants;
	const char	*sub, *iss;
	char		*cause = NULL;
	json_int_t	 exp, nbf;
	time_t		 now = time(NULL);
	int		 aud_ok = 0;
	size_t		 i;

	if ((claims = jwt_verify(ac->ac_key, token, &cause)) == NULL) {
		log_debug("bearer token refused: %s", cause);
		free(cause);
		who->ca_bad = 1;
		return (-1);
	}
	iss = json_string_value(json_object_get(claims, "iss"));
	sub = json_string_value(json_object_get(claims, "sub"));
	aud = json_object_get(claims, "aud");
	if (json_is_string(aud))
		aud_ok = strcmp(json_string_value(aud), ACCESS_SERVICE) == 0;
	else if (json_is_array(aud))
		for (i = 0; i < json_array_size(aud); i++)
			if (json_is_string(json_array_get(aud, i)) &&
			    strcmp(json_string_value(json_array_get(aud, i)),
			    ACCESS_SERVICE) == 0)
				aud_ok = 1;
	exp = json_integer_value(json_object_get(claims, "exp"));
	nbf = json_integer_value(json_object_get(claims, "nbf"));
	grants = json_object_get(claims, "access");
	if (iss == NULL || strcmp(iss, ac->ac_issuer) != 0 || !aud_ok ||
	    !json_is_integer(json_object_get(claims, "exp")) || exp <= now ||
	    nbf > now + ACCESS_CLOCK_SKEW || sub == NULL ||
	    strlen(sub) > ACCESS_USER_MAX ||
	    json_object_get(claims, "depot_refresh") != NULL ||
	    (grants != NULL && !json_is_array(grants)) ||
	    (*sub != '\0' && !htpasswd_has_user(ac->ac_users, sub))) {
		log_debug("bearer token refused: claims");
		json_decref(claims);
		who->ca_bad = 1;
		return (-1);
	}
	who->ca_bearer = 1;
	who->ca_signed_in = *sub != '\0';
	(void)snprintf(who->ca_user, sizeof(who->ca_user), "%s", sub);
	who->ca_grants = grants != NULL ? json_incref(grants) : json_array();
	json_decref(claims);
	return (0);
}

/* "pull,push,delete,*" to rights. */
static unsigned
access_actions_parse(const char *s)
{
	unsigned	 rights = 0;
	size_t		 n;

	while (*s != '\0') {
		n = strcspn(s, ",");
		if ((n == 4 && strncmp(s, "pull", 4) == 0))
			rights |= ACCESS_PULL;
		else if (n == 4 && strncmp(s, "push", 4) == 0)
			rights |= ACCESS_PUSH;
		else if (n == 6 && strncmp(s, "delete", 6) == 0)
			rights |= ACCESS_DELETE;
		else if (n == 1 && *s == '*')
			rights |= ACCESS_PULL | ACCESS_PUSH | ACCESS_DELETE;
		s += n;
		if (*s == ',')
			s++;
	}
	return (rights);
}

/* What a token's access claim grants on repo. */
static unsigned
access_token_grant(void *grants, const char *repo)
{
	json_t		*entry, *actions, *action;
	const char	*type, *name, *a;
	unsigned	 rights = 0;
	size_t		 i, j;

	json_array_foreach((json_t *)grants, i, entry) {
		type = json_string_value(json_object_get(entry, "type"));
		name = json_string_value(json_object_get(entry, "name"));
		actions = json_object_get(entry, "actions");
		if (type == NULL || name == NULL || !json_is_array(actions) ||
		    strcmp(type, "repository") != 0 || strcmp(name, repo) != 0)
			continue;
		json_array_foreach(actions, j, action)
			if ((a = json_string_value(action)) != NULL)
				rights |= access_actions_parse(a);
	}
	return (rights);
}

/*
 * The access claim for scopes ("repository:NAME:ACTIONS"; other types
 * are left out): for each repository, what was asked and is allowed.
 */
static json_t *
access_scopes_grant(const struct config *cf, const char *user,
    char *const *scopes, size_t n)
{
	json_t		*list, *actions;
	const char	*first, *last;
	char		*name;
	unsigned	 asked, allowed;
	size_t		 i, len;

	if ((list = json_array()) == NULL)
		fatalx("%s: json_array", __func__);
	for (i = 0; i < n; i++) {
		if (strncmp(scopes[i], "repository:", 11) != 0)
			continue;
		first = scopes[i] + 11;
		if ((last = strrchr(first, ':')) == NULL || last == first)
			continue;
		name = xstrndup(first, (size_t)(last - first));
		asked = access_actions_parse(last + 1);
		len = strcspn(name, "/");
		allowed = 0;
		if (len > 0 && len <= DEPOT_NAME_MAX && name[len] == '/')
			allowed = access_policy(cf, name, user);
		asked &= allowed;
		if ((actions = json_array()) == NULL)
			fatalx("%s: json_array", __func__);
		if (asked & ACCESS_PULL)
			json_array_append_new(actions, json_string("pull"));
		if (asked & ACCESS_PUSH)
			json_array_append_new(actions, json_string("push"));
		if (asked & ACCESS_DELETE)
			json_array_append_new(actions, json_string("delete"));
		if (json_array_size(actions) > 0)
			json_array_append_new(list, json_pack("{s:s, s:s, s:o}",
			    "type", "repository", "name", name, "actions",
			    actions));
		else
			json_decref(actions);
		free(name);
	}
	return (list);
}

/* A random token id. Caller frees. */
static char *
access_jti(void)
{
	unsigned char	 rnd[16];
	char		*s;
	size_t		 i;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		fatalx("%s: RAND_bytes", __func__);
	s = xmalloc(sizeof(rnd) * 2 + 1);
	for (i = 0; i < sizeof(rnd); i++)
		(void)snprintf(s + i * 2, 3, "%02x", rnd[i]);
	return (s);
}

static void
access_time_str(time_t t, char *buf, size_t len)
{
	struct tm	 tm;

	gmtime_r(&t, &tm);
	(void)strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

char *
access_token_answer(struct access *ac, const struct config *cf,
    const char *user, const char *service, char *const *scopes,
    size_t nscopes, int with_refresh)
{
	json_t		*claims, *answer;
	char		*token, *refresh = NULL, *jti, *text, when[32];
	time_t		 now = time(NULL);

	(void)service;
	jti = access_jti();
	claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:o}",
	    "iss", ac->ac_issuer, "sub", user, "aud", ACCESS_SERVICE,
	    "exp", (json_int_t)(now + ac->ac_ttl), "nbf", (json_int_t)now,
	    "iat", (json_int_t)now, "jti", jti,
	    "access", access_scopes_grant(cf, user, scopes, nscopes));
	free(jti);
	if (claims == NULL)
		fatalx("%s: json_pack", __func__);
	token = jwt_sign(ac->ac_key, claims);
	json_decref(claims);
	if (with_refresh && *user != '\0') {
		jti = access_jti();
		claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:b}",
		    "iss", ac->ac_issuer, "sub", user, "aud", ACCESS_SERVICE,
		    "exp", (json_int_t)(now + ACCESS_REFRESH_TTL),
		    "nbf", (json_int_t)now, "iat", (json_int_t)now,
		    "jti", jti, "depot_refresh", 1);
		free(jti);
		if (claims == NULL)
			fatalx("%s: json_pack", __func__);
		refresh = jwt_sign(ac->ac_key, claims);
		json_decref(claims);
	}
	access_time_str(now, when, sizeof(when));
	answer = json_pack("{s:s, s:s, s:i, s:s}", "token", token,
	    "access_token", token, "expires_in", ac->ac_ttl, "issued_at",
	    when);
	if (answer == NULL)
		fatalx("%s: json_pack", __func__);
	if (refresh != NULL)
		json_object_set_new(answer, "refresh_token",
		    json_string(refresh));
	if ((text = json_dumps(answer, JSON_COMPACT)) == NULL)
		fatalx("%s: json_dumps", __func__);
	json_decref(answer);
	OPENSSL_cleanse(token, strlen(token));
	free(token);
	if (refresh != NULL) {
		OPENSSL_cleanse(refresh, strlen(refresh));
		free(refresh);
	}
	return (text);
}

int
access_refresh_user(struct access *ac, const char *token, char *user)
{
	json_t		*claims;
	const char	*sub, *iss, *aud;
	char		*cause = NULL;
	int		 rv = -1;

	if ((claims = jwt_verify(ac->ac_key, token, &cause)) == NULL) {
		free(cause);
		return (-1);
	}
	iss = json_string_value(json_object_get(claims, "iss"));
	sub = json_string_value(json_object_get(claims, "sub"));
	aud = json_string_value(json_object_get(claims, "aud"));
	if (iss != NULL && strcmp(iss, ac->ac_issuer) == 0 && aud != NULL &&
	    strcmp(aud, ACCESS_SERVICE) == 0 && sub != NULL && *sub != '\0' &&
	    strlen(sub) <= ACCESS_USER_MAX &&
	    json_is_true(json_object_get(claims, "depot_refresh")) &&
	    json_integer_value(json_object_get(claims, "exp")) > time(NULL) &&
	    htpasswd_has_user(ac->ac_users, sub)) {
		(void)snprintf(user, ACCESS_USER_MAX + 1, "%s", sub);
		rv = 0;
	}
	json_decref(claims);
	return (rv);
}

/* SHA-256 of "user NUL password", the key of the good credentials. */
static void
access_sha(const char *user, const char *password, unsigned char *hash)
{
	EVP_MD_CTX	*md;
	unsigned int	 len = 32;

	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, user, strlen(user) + 1) != 1 ||
	    EVP_DigestUpdate(md, password, strlen(password)) != 1 ||
	    EVP_DigestFinal_ex(md, hash, &len) != 1)
		fatalx("%s: sha256", __func__);
	EVP_MD_CTX_free(md);
}

/* 1 when bcrypt accepted these credentials within ACCESS_GOOD_TTL. */
static int
access_good_find(struct access *ac, const char *user,
    const unsigned char *hash)
{
	time_t	 now = time(NULL);
	size_t	 i;

	for (i = 0; i < ACCESS_GOOD_SLOTS; i++)
		if (access_good[i].ag_until > now &&
		    CRYPTO_memcmp(access_good[i].ag_hash, hash, 32) == 0)
			return (htpasswd_has_user(ac->ac_users, user));
	return (0);
}

static void
access_good_add(const unsigned char *hash)
{
	size_t	 i, pick = 0;

	for (i = 0; i < ACCESS_GOOD_SLOTS; i++)
		if (access_good[i].ag_until < access_good[pick].ag_until)
			pick = i;
	memcpy(access_good[pick].ag_hash, hash, 32);
	access_good[pick].ag_until = time(NULL) + ACCESS_GOOD_TTL;
}

int
access_fails_init(void)
{
	pthread_mutexattr_t	 attr;
	void			*p;

	if (access_fails != NULL)
		return (0);
	p = mmap(NULL, sizeof(*access_fails), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		log_warn("%s: mmap", __func__);
		return (-1);
	}
	access_fails = p;
	if (pthread_mutexattr_init(&attr) != 0 ||
	    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED) != 0 ||
	    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST) != 0 ||
	    pthread_mutex_init(&access_fails->af_lock, &attr) != 0)
		fatalx("%s: cannot make a process-shared mutex", __func__);
	pthread_mutexattr_destroy(&attr);
	return (0);
}

/* Lock the counters; a worker that died holding the lock is forgiven. */
static void
access_fails_lock(void)
{
	int	 rv;

	if (access_fails == NULL && access_fails_init() == -1)
		fatalx("%s: no failed login counters", __func__);
	rv = pthread_mutex_lock(&access_fails->af_lock);
	if (rv == EOWNERDEAD)
		pthread_mutex_consistent(&access_fails->af_lock);
	else if (rv != 0)
		fatalx("%s: pthread_mutex_lock: %s", __func__, strerror(rv));
}

static void
access_fails_unlock(void)
{
	pthread_mutex_unlock(&access_fails->af_lock);
}

/*
 * The counter keys of a login: the user's (when user is a valid name)
 * and the address's (unless it is a trusted proxy's). How many.
 */
static int
access_fail_keys(const struct config *cf, const char *addr, const char *user,
    char keys[2][ACCESS_FAIL_KEY_MAX])
{
	int	 n = 0;

	if (user != NULL && access_name_ok(user))
		(void)snprintf(keys[n++], ACCESS_FAIL_KEY_MAX, "u:%s", user);
	if (addr != NULL && !access_address_trusted(cf, addr))
		(void)snprintf(keys[n++], ACCESS_FAIL_KEY_MAX, "a:%s", addr);
	return (n);
}

/*
 * The live entry of key (locked), or with create a new one (replacing
 * the oldest), or NULL.
 */
static struct access_fail *
access_fail_find(const char *key, int create, long long now)
{
	struct access_fail	*f, *pick = NULL;
	size_t			 i;

	for (i = 0; i < ACCESS_FAIL_SLOTS; i++) {
		f = &access_fails->af_slot[i];
		if (strcmp(f->af_key, key) == 0) {
			if (now - f->af_last_ms <= ACCESS_FAIL_WINDOW_MS ||
			    now < f->af_until_ms)
				return (f);
			pick = f;
			break;
		}
		if (pick == NULL || f->af_last_ms < pick->af_last_ms)
			pick = f;
	}
	if (!create)
		return (NULL);
	memset(pick, 0, sizeof(*pick));
	(void)snprintf(pick->af_key, sizeof(pick->af_key), "%s", key);
	return (pick);
}

/* How long a refusal is held, and the back-off lasts, after n failures. */
static long
access_fail_delay(int n)
{
	long	 delay = ACCESS_DELAY_BASE_MS;
	int	 k;

	for (k = 1; k < n && delay < ACCESS_DELAY_MAX_MS; k++)
		delay *= 2;
	return (delay > ACCESS_DELAY_MAX_MS ? ACCESS_DELAY_MAX_MS : delay);
}

void
access_login_failed(const struct config *cf, const char *addr,
    const char *user)
{
	char			 keys[2][ACCESS_FAIL_KEY_MAX];
	struct access_fail	*f;
	long long		 now = now_ms();
	int			 i, n, most = 0;

	n = access_fail_keys(cf, addr, user, keys);
	access_fails_lock();
	for (i = 0; i < n; i++) {
		f = access_fail_find(keys[i], 1, now);
		f->af_count++;
		f->af_last_ms = now;
		f->af_until_ms = now + access_fail_delay(f->af_count);
		if (f->af_count > most)
			most = f->af_count;
	}
	access_fails_unlock();
	log_warnx("failed login for user %s from %s (%d in a row)",
	    user != NULL && access_name_ok(user) ? user : "?",
	    addr != NULL ? addr : "?", most > 0 ? most : 1);
}

void
access_login_guard(const struct config *cf, const char *addr,
    const char *user)
{
	char			 keys[2][ACCESS_FAIL_KEY_MAX];
	struct access_fail	*f;
	long long		 now = now_ms();
	int			 i, n;

	n = access_fail_keys(cf, addr, user, keys);
	access_fails_lock();
	for (i = 0; i < n; i++)
		if ((f = access_fail_find(keys[i], 0, now)) != NULL &&
		    f->af_count > 0 &&
		    f->af_until_ms < now + ACCESS_CHECK_GUARD_MS)
			f->af_until_ms = now + ACCESS_CHECK_GUARD_MS;
	access_fails_unlock();
}

void
access_login_succeeded(const struct config *cf, const char *addr,
    const char *user)
{
	char			 keys[2][ACCESS_FAIL_KEY_MAX];
	struct access_fail	*f;
	long long		 now = now_ms();
	int			 i, n;

	n = access_fail_keys(cf, addr, user, keys);
	access_fails_lock();
	for (i = 0; i < n; i++) {
		if ((f = access_fail_find(keys[i], 0, now)) == NULL)
			continue;
		/* The user proved the password; the address did not. */
		if (keys[i][0] == 'u')
			memset(f, 0, sizeof(*f));
		else
			f->af_until_ms = f->af_last_ms +
			    access_fail_delay(f->af_count);
	}
	access_fails_unlock();
}

int
access_login_backoff(const struct config *cf, const char *addr,
    const char *user)
{
	char			 keys[2][ACCESS_FAIL_KEY_MAX];
	struct access_fail	*f;
	long long		 now = now_ms();
	int			 i, n, in = 0;

	n = access_fail_keys(cf, addr, user, keys);
	access_fails_lock();
	for (i = 0; i < n; i++)
		if ((f = access_fail_find(keys[i], 0, now)) != NULL &&
		    now + ACCESS_BACKOFF_SLACK_MS < f->af_until_ms)
			in = 1;
	access_fails_unlock();
	return (in);
}

long
access_login_delay_ms(const struct config *cf, const char *addr,
    const char *user)
{
	char			 keys[2][ACCESS_FAIL_KEY_MAX];
	struct access_fail	*f;
	long long		 now = now_ms();
	long			 delay = 0, d;
	int			 i, n;

	n = access_fail_keys(cf, addr, user, keys);
	access_fails_lock();
	for (i = 0; i < n; i++)
		if ((f = access_fail_find(keys[i], 0, now)) != NULL &&
		    f->af_count > 0 &&
		    (d = access_fail_delay(f->af_count)) > delay)
			delay = d;
	access_fails_unlock();
	return (delay);
}

/* An IPv4 or IPv6 address, IPv4 as IPv4-mapped IPv6. 0 or -1. */
static int
access_address_parse(const char *s, struct in6_addr *out)
{
	struct in_addr	 v4;

	if (inet_pton(AF_INET6, s, out) == 1)
		return (0);
	if (inet_pton(AF_INET, s, &v4) != 1)
		return (-1);
	memset(out, 0, sizeof(*out));
	out->s6_addr[10] = 0xff;
	out->s6_addr[11] = 0xff;
	memcpy(&out->s6_addr[12], &v4, sizeof(v4));
	return (0);
}

int
access_address_trusted(const struct config *cf, const char *addr)
{
	const struct strlist	*tp = &cf->cf_server.srv_trusted_proxies;
	struct in6_addr		 peer, a;
	size_t			 i;

	if (addr == NULL || access_address_parse(addr, &peer) == -1)
		return (0);
	for (i = 0; i < tp->sl_count; i++)
		if (access_address_parse(tp->sl_items[i], &a) == 0 &&
		    memcmp(&a, &peer, sizeof(a)) == 0)
			return (1);
	return (0);
}

int
access_address_loopback(const char *addr)
{
	struct in6_addr	 a;

	if (addr == NULL || access_address_parse(addr, &a) == -1)
		return (0);
	if (IN6_IS_ADDR_LOOPBACK(&a))
		return (1);
	/* 127.0.0.0/8, as IPv4 or IPv4-mapped. */
	return (IN6_IS_ADDR_V4MAPPED(&a) && a.s6_addr[12] == 127);
}

int
access_metrics_allowed(const struct config *cf, const char *addr,
    const char *user)
{
	const struct strlist	*list = &cf->cf_server.srv_metrics_read;

	if (!cf->cf_server.srv_metrics_read_set)
		return (access_address_loopback(addr) ||
		    access_address_trusted(cf, addr));
	return (access_list_allows(list, user != NULL ? user : ""));
}

/*
 * With access control, a registry or upstream key that anonymous callers
 * may read and that reaches an upstream with depot's credentials hands
 * that upstream's content to anyone: say so at start.
 */
static void
access_warn_anonymous(const struct config *cf)
{
	const struct config_upstream	*up;
	const struct config_registry	*reg;
	size_t				 i, j;

	for (i = 0; i < cf->cf_nupstreams; i++) {
		up = &cf->cf_upstreams[i];
		if (up->up_auth.cr_type != AUTH_ANONYMOUS &&
		    access_list_allows(&up->up_read, ""))
			log_warnx("upstream %s holds credentials and anonymous "
			    "callers may read it (read = [ \"anonymous\" ]): "
			    "anyone can pull its content", up->up_key);
	}
	for (i = 0; i < cf->cf_nregistries; i++) {
		reg = &cf->cf_registries[i];
		if (!access_list_allows(&reg->reg_read, ""))
			continue;
		for (j = 0; j < reg->reg_upstreams.sl_count; j++) {
			up = config_upstream_find((struct config *)cf,
			    reg->reg_upstreams.sl_items[j]);
			if (up != NULL && up->up_auth.cr_type != AUTH_ANONYMOUS)
				log_warnx("registry %s reaches upstream %s "
				    "with its credentials and anonymous "
				    "callers may read it (read = "
				    "[ \"anonymous\" ]): anyone can pull "
				    "that upstream's content", reg->reg_name,
				    up->up_key);
		}
	}
}
