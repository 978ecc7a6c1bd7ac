/*
 * access.c: the access policy, the identification of callers (Basic
 * credentials or a Bearer token of ours), and the content of the tokens
 * the token service hands out. No secret (password, token, key) is ever
 * logged or put in a message.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "access.h"
#include "config.h"
#include "htpasswd.h"
#include "jwt.h"
#include "log.h"
#include "xmalloc.h"

#define ACCESS_REFRESH_TTL	(30 * 86400)	/* seconds */
#define ACCESS_CLOCK_SKEW	60		/* seconds of nbf leeway */
#define ACCESS_FAIL_SLOTS	64		/* addresses remembered */
#define ACCESS_FAIL_WINDOW	300		/* seconds a failure counts */
#define ACCESS_DELAY_BASE_MS	250
#define ACCESS_DELAY_MAX_MS	4000
#define ACCESS_GOOD_SLOTS	32		/* passwords checked lately */
#define ACCESS_GOOD_TTL		60		/* seconds one is trusted */

struct access {
	struct htpasswd	*ac_users;
	struct jwt_key	*ac_key;
	char		*ac_issuer;
	int		 ac_ttl;
};

/* Recent failed logins of one client address. */
static struct {
	char	 af_addr[64];
	int	 af_count;
	time_t	 af_last;
} access_fails[ACCESS_FAIL_SLOTS];

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
static int	access_password_check(struct access *, const char *,
		    const char *);
static int	access_basic(struct access *, const char *,
		    struct access_caller *);
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
	if ((reg = config_registry_find((struct config *)cf, registry)) != NULL) {
		read = &reg->reg_read;
		write = &reg->reg_write;
	} else if ((up = config_upstream_find((struct config *)cf,
	    registry)) != NULL) {
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
	char		 registry[DEPOT_NAME_MAX + 1];
	size_t		 n;
	unsigned	 rights;

	if (ac == NULL)
		return (ACCESS_PULL | ACCESS_PUSH | ACCESS_DELETE);
	if (who->ca_bad)
		return (0);
	n = strcspn(repo, "/");
	if (n == 0 || n >= sizeof(registry))
		return (0);
	memcpy(registry, repo, n);
	registry[n] = '\0';
	rights = access_policy(cf, registry, who->ca_user);
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

void
access_identify(struct access *ac, const char *authorization,
    struct access_caller *who)
{
	memset(who, 0, sizeof(*who));
	if (ac == NULL || authorization == NULL)
		return;
	if (strncasecmp(authorization, "Basic ", 6) == 0)
		(void)access_basic(ac, authorization + 6, who);
	else if (strncasecmp(authorization, "Bearer ", 7) == 0)
		(void)access_bearer(ac, authorization + 7, who);
	else
		who->ca_bad = 1;
}

void
access_caller_clear(struct access_caller *who)
{
	json_decref(who->ca_grants);
	memset(who, 0, sizeof(*who));
}

/* Basic credentials: base64 of "user:password". 0, or -1 (ca_bad set). */
static int
access_basic(struct access *ac, const char *b64, struct access_caller *who)
{
	unsigned char	*buf;
	char		*colon;
	size_t		 len = strspn(b64, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "abcdefghijklmnopqrstuvwxyz0123456789+/=");
	int		 n, pad = 0, ok;

	if (len == 0 || len % 4 != 0 || b64[len] != '\0' || len > 1024) {
		who->ca_bad = 1;
		return (-1);
	}
	buf = xmalloc(len);
	if ((n = EVP_DecodeBlock(buf, (const unsigned char *)b64,
	    (int)len)) < 0) {
		free(buf);
		who->ca_bad = 1;
		return (-1);
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
		return (-1);
	}
	*colon = '\0';
	/* A name no user can have is not worth a hash, nor a log line. */
	ok = access_name_ok((char *)buf) &&
	    access_password_check(ac, (char *)buf, colon + 1);
	if (ok) {
		who->ca_signed_in = 1;
		(void)snprintf(who->ca_user, sizeof(who->ca_user), "%s",
		    (char *)buf);
	} else {
		who->ca_bad = 1;
		who->ca_bad_password = 1;
		(void)snprintf(who->ca_user, sizeof(who->ca_user), "%s",
		    access_name_ok((char *)buf) ? (char *)buf : "?");
	}
	OPENSSL_cleanse(buf, len);
	free(buf);
	return (ok ? 0 : -1);
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
	char		*name, registry[DEPOT_NAME_MAX + 1];
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
		if (len > 0 && len < sizeof(registry) && name[len] == '/') {
			memcpy(registry, name, len);
			registry[len] = '\0';
			allowed = access_policy(cf, registry, user);
		}
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

int
access_password_ok(struct access *ac, const char *user, const char *password)
{
	return (access_password_check(ac, user, password));
}

/* htpasswd_check, remembering what it accepted for ACCESS_GOOD_TTL. */
static int
access_password_check(struct access *ac, const char *user,
    const char *password)
{
	EVP_MD_CTX	*md;
	unsigned char	 hash[32];
	unsigned int	 len = sizeof(hash);
	time_t		 now = time(NULL);
	size_t		 i, pick = 0;
	int		 ok;

	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, user, strlen(user) + 1) != 1 ||
	    EVP_DigestUpdate(md, password, strlen(password)) != 1 ||
	    EVP_DigestFinal_ex(md, hash, &len) != 1)
		fatalx("%s: sha256", __func__);
	EVP_MD_CTX_free(md);
	for (i = 0; i < ACCESS_GOOD_SLOTS; i++) {
		if (access_good[i].ag_until > now &&
		    CRYPTO_memcmp(access_good[i].ag_hash, hash,
		    sizeof(hash)) == 0 && htpasswd_has_user(ac->ac_users, user))
			return (1);
		if (access_good[i].ag_until < access_good[pick].ag_until)
			pick = i;
	}
	if ((ok = htpasswd_check(ac->ac_users, user, password))) {
		memcpy(access_good[pick].ag_hash, hash, sizeof(hash));
		access_good[pick].ag_until = now + ACCESS_GOOD_TTL;
	}
	OPENSSL_cleanse(hash, sizeof(hash));
	return (ok);
}

void
access_login_failed(const char *addr, const char *user)
{
	time_t	 now = time(NULL);
	size_t	 i, pick = 0;

	log_warnx("failed login for user %s from %s",
	    user != NULL && access_name_ok(user) ? user : "?", addr);

	for (i = 0; i < ACCESS_FAIL_SLOTS; i++) {
		if (strcmp(access_fails[i].af_addr, addr) == 0) {
			pick = i;
			break;
		}
		if (access_fails[i].af_last < access_fails[pick].af_last)
			pick = i;
	}
	if (strcmp(access_fails[pick].af_addr, addr) != 0 ||
	    now - access_fails[pick].af_last > ACCESS_FAIL_WINDOW) {
		(void)snprintf(access_fails[pick].af_addr,
		    sizeof(access_fails[pick].af_addr), "%s", addr);
		access_fails[pick].af_count = 0;
	}
	access_fails[pick].af_count++;
	access_fails[pick].af_last = now;
}

long
access_login_delay_ms(const char *addr)
{
	time_t	 now = time(NULL);
	long	 delay;
	size_t	 i;
	int	 k;

	for (i = 0; i < ACCESS_FAIL_SLOTS; i++) {
		if (strcmp(access_fails[i].af_addr, addr) != 0 ||
		    now - access_fails[i].af_last > ACCESS_FAIL_WINDOW)
			continue;
		delay = ACCESS_DELAY_BASE_MS;
		for (k = 1; k < access_fails[i].af_count &&
		    delay < ACCESS_DELAY_MAX_MS; k++)
			delay *= 2;
		return (delay > ACCESS_DELAY_MAX_MS ? ACCESS_DELAY_MAX_MS :
		    delay);
	}
	return (0);
}
