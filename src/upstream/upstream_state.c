/*
 * upstream_state.c: the shared memory segment every depotd process
 * consults before it asks an upstream anything. It owns the segment's
 * layout and lock, the circuit breakers and Retry-After deadlines, the
 * bearer token cache, the negative cache, the flight claims, and the
 * parsers of the Retry-After and ratelimit header values.
 *
 * One process-shared robust mutex guards the whole segment; every
 * critical section is a short walk over a fixed table. When a process
 * dies holding the lock, the next one to take it cannot know which entry
 * was half written, so it forgets everything (the cost is a token fetch
 * and a few upstream lookups) and marks the mutex consistent again.
 *
 * The negative table keeps its hashes and deadlines in arrays of their
 * own, so a lookup scans a few dozen kilobytes and compares a key string
 * only where the hash matches.
 *
 * A flight claim names its holder by pid and a ticket unique across
 * processes (the segment's stamp); a holder that died is found with
 * kill(pid, 0), so a crashed worker never leaves a pull claimed.
 */
#include <sys/types.h>
#include <sys/mman.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "upstream/upstream_state.h"

#define US_TOKEN_MARGIN		10	/* seconds a token must still last */
#define US_FAILURES_CAP		1000000	/* consecutive failures counted */

struct us_health {
	char		 h_key[DEPOT_NAME_MAX + 1];	/* "": free */
	uint64_t	 h_stamp;	/* last use, for replacement */
	int		 h_failures;	/* consecutive */
	int		 h_backoff;	/* seconds of the last opening */
	time_t		 h_open_until;
	time_t		 h_retry_until;
};

struct us_token {
	time_t		 t_expires;	/* 0: free */
	char		 t_key[DEPOT_NAME_MAX + 1];
	char		 t_scope[UPSTREAM_SCOPE_MAX];
	char		 t_token[UPSTREAM_TOKEN_MAX];
};

struct us_flight {
	pid_t		 f_pid;		/* 0: free */
	uint64_t	 f_ticket;
	time_t		 f_started;
	uint32_t	 f_hash;
	char		 f_key[UPSTREAM_NEGATIVE_KEY_MAX];
};

struct us_ecr {
	char		 e_key[DEPOT_NAME_MAX + 1];	/* "": free */
	uint64_t	 e_fingerprint;
	uint64_t	 e_generation;
	time_t		 e_expires;	/* 0: no token */
	time_t		 e_refresh_at;
	char		 e_user[UPSTREAM_ECR_USER_MAX];
	char		 e_password[UPSTREAM_TOKEN_MAX];
	pid_t		 e_claim_pid;	/* 0: no refresh under way */
	time_t		 e_claim_started;
	uint64_t	 e_claim_ticket;
	time_t		 e_failed_until;
	uint64_t	 e_fail_seq;	/* failed refreshes */
	char		 e_error[UPSTREAM_ECR_ERROR_MAX];
};

struct us_shared {
	pthread_mutex_t	 ss_lock;
	uint64_t	 ss_stamp;
	struct us_health ss_health[UPSTREAM_HEALTH_SLOTS];
	struct us_token	 ss_token[UPSTREAM_TOKEN_SLOTS];
	uint32_t	 ss_neg_hash[UPSTREAM_NEGATIVE_SLOTS];
	time_t		 ss_neg_until[UPSTREAM_NEGATIVE_SLOTS];	/* 0: free */
	char		 ss_neg_key[UPSTREAM_NEGATIVE_SLOTS]
			    [UPSTREAM_NEGATIVE_KEY_MAX];
	struct us_flight ss_flight[UPSTREAM_FLIGHT_SLOTS];
	struct us_ecr	 ss_ecr[UPSTREAM_ECR_SLOTS];
};

static struct us_shared	*us_shm;

static int	 us_lock(void);
static void	 us_unlock(void);
static void	 us_forget(void);
static struct us_health *us_health_find(const char *, int);
static struct us_token *us_token_find(const char *, const char *);
static uint32_t	 us_hash(const char *);
static int	 us_negative_find(const char *, uint32_t);
static int	 us_flight_live(const struct us_flight *, time_t);
static struct us_flight *us_flight_find(const char *, uint32_t, time_t);
static int	 ra_delta(const char *, int *);
static int	 ra_date(const char *, time_t *);
static int	 ra_digits(const char **, int, int *);
static int	 ra_month(const char **, int *);
static int	 ra_day_name(const char **);
static int	 ra_time_of_day(const char **, struct tm *);
static int	 ra_literal(const char **, const char *);

int
upstream_state_init(void)
{
	pthread_mutexattr_t	 attr;
	void			*p;
	int			 rc;

	if (us_shm != NULL)
		return (0);
	p = mmap(NULL, sizeof(*us_shm), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		log_warn("%s: mmap", __func__);
		return (-1);
	}
	/* Anonymous mappings are zero: every slot is free. */
	if ((rc = pthread_mutexattr_init(&attr)) != 0)
		goto fail;
	if ((rc = pthread_mutexattr_setpshared(&attr,
	    PTHREAD_PROCESS_SHARED)) != 0 ||
	    (rc = pthread_mutexattr_setrobust(&attr,
	    PTHREAD_MUTEX_ROBUST)) != 0 ||
	    (rc = pthread_mutex_init(&((struct us_shared *)p)->ss_lock,
	    &attr)) != 0) {
		pthread_mutexattr_destroy(&attr);
		goto fail;
	}
	pthread_mutexattr_destroy(&attr);
	us_shm = p;
	return (0);
fail:
	log_warnx("%s: process-shared mutex: %s", __func__, strerror(rc));
	munmap(p, sizeof(*us_shm));
	return (-1);
}

void
upstream_state_close(void)
{
	if (us_shm == NULL)
		return;
	if (munmap(us_shm, sizeof(*us_shm)) == -1)
		log_warn("%s: munmap", __func__);
	us_shm = NULL;
}

/* Take the segment's lock: 0, or -1 when there is no usable segment. */
static int
us_lock(void)
{
	int	 rc;

	if (us_shm == NULL)
		return (-1);
	rc = pthread_mutex_lock(&us_shm->ss_lock);
	if (rc == EOWNERDEAD) {
		log_warnx("upstream state: a process died while updating it; "
		    "starting afresh");
		us_forget();
		if ((rc = pthread_mutex_consistent(&us_shm->ss_lock)) != 0) {
			pthread_mutex_unlock(&us_shm->ss_lock);
			log_warnx("%s: pthread_mutex_consistent: %s", __func__,
			    strerror(rc));
			return (-1);
		}
		return (0);
	}
	if (rc != 0) {
		log_warnx("%s: pthread_mutex_lock: %s", __func__,
		    strerror(rc));
		return (-1);
	}
	return (0);
}

static void
us_unlock(void)
{
	pthread_mutex_unlock(&us_shm->ss_lock);
}

/* Clear every table (the lock is held). */
static void
us_forget(void)
{
	memset(us_shm->ss_health, 0, sizeof(us_shm->ss_health));
	memset(us_shm->ss_token, 0, sizeof(us_shm->ss_token));
	memset(us_shm->ss_neg_hash, 0, sizeof(us_shm->ss_neg_hash));
	memset(us_shm->ss_neg_until, 0, sizeof(us_shm->ss_neg_until));
	memset(us_shm->ss_neg_key, 0, sizeof(us_shm->ss_neg_key));
	memset(us_shm->ss_flight, 0, sizeof(us_shm->ss_flight));
	explicit_bzero(us_shm->ss_ecr, sizeof(us_shm->ss_ecr));
}

/* ---- health ---- */

/*
 * The entry of key; with create, a new one in a free or the least
 * recently used slot. NULL when absent (or key is too long).
 */
static struct us_health *
us_health_find(const char *key, int create)
{
	struct us_health	*h, *victim = NULL;
	size_t			 i;

	if (key == NULL || strlen(key) >= sizeof(h->h_key))
		return (NULL);
	for (i = 0; i < UPSTREAM_HEALTH_SLOTS; i++) {
		h = &us_shm->ss_health[i];
		if (h->h_key[0] != '\0' && strcmp(h->h_key, key) == 0) {
			h->h_stamp = ++us_shm->ss_stamp;
			return (h);
		}
		if (victim == NULL || h->h_stamp < victim->h_stamp)
			victim = h;
	}
	if (!create)
		return (NULL);
	memset(victim, 0, sizeof(*victim));
	(void)snprintf(victim->h_key, sizeof(victim->h_key), "%s", key);
	victim->h_stamp = ++us_shm->ss_stamp;
	return (victim);
}

enum upstream_skip
upstream_state_check(const char *key, time_t now, time_t *until)
{
	struct us_health	*h;
	enum upstream_skip	 skip = UPSTREAM_GO;
	time_t			 t = 0;

	if (us_lock() == -1)
		return (UPSTREAM_GO);
	if ((h = us_health_find(key, 0)) != NULL) {
		if (h->h_failures >= UPSTREAM_BREAKER_FAILURES &&
		    h->h_open_until > now) {
			skip = UPSTREAM_SKIP_BREAKER;
			t = h->h_open_until;
		}
		if (h->h_retry_until > now && h->h_retry_until > t) {
			skip = UPSTREAM_SKIP_RETRY_AFTER;
			t = h->h_retry_until;
		}
	}
	us_unlock();
	if (until != NULL)
		*until = t;
	return (skip);
}

void
upstream_state_success(const char *key)
{
	struct us_health	*h;

	if (us_lock() == -1)
		return;
	if ((h = us_health_find(key, 0)) != NULL) {
		h->h_failures = 0;
		h->h_backoff = 0;
		h->h_open_until = 0;
	}
	us_unlock();
}

/*
 * Count a failure. The breaker opens at the threshold, and again at the
 * first failure after a back-off has passed, each time twice as long.
 * Failures of requests that were under way while it was open change
 * nothing.
 */
int
upstream_state_failure(const char *key, time_t now)
{
	struct us_health	*h;
	int			 opened = 0;

	if (us_lock() == -1)
		return (0);
	if ((h = us_health_find(key, 1)) != NULL) {
		if (h->h_failures < US_FAILURES_CAP)
			h->h_failures++;
		if (h->h_failures >= UPSTREAM_BREAKER_FAILURES &&
		    h->h_open_until <= now) {
			if (h->h_backoff == 0)
				h->h_backoff = UPSTREAM_BREAKER_MIN;
			else if (h->h_backoff < UPSTREAM_BREAKER_MAX / 2)
				h->h_backoff *= 2;
			else
				h->h_backoff = UPSTREAM_BREAKER_MAX;
			h->h_open_until = now + h->h_backoff;
			opened = 1;
		}
	}
	us_unlock();
	return (opened);
}

void
upstream_state_retry_after(const char *key, time_t until)
{
	struct us_health	*h;

	if (us_lock() == -1)
		return;
	if ((h = us_health_find(key, 1)) != NULL && until > h->h_retry_until)
		h->h_retry_until = until;
	us_unlock();
}

const char *
upstream_skip_str(enum upstream_skip skip)
{
	switch (skip) {
	case UPSTREAM_GO:
		return ("go");
	case UPSTREAM_SKIP_BREAKER:
		return ("circuit open");
	case UPSTREAM_SKIP_RETRY_AFTER:
		return ("Retry-After");
	}
	return ("unknown");
}

/* ---- header values ---- */

time_t
upstream_retry_after_parse(const char *value, time_t now, int dflt)
{
	time_t	 t;
	int	 secs;

	if (value != NULL && ra_delta(value, &secs) == 0)
		return (now + secs);
	if (value != NULL && ra_date(value, &t) == 0) {
		if (t < now)
			return (now);
		if (t - now > UPSTREAM_RETRY_AFTER_MAX)
			return (now + UPSTREAM_RETRY_AFTER_MAX);
		return (t);
	}
	if (dflt < 0)
		dflt = 0;
	if (dflt > UPSTREAM_RETRY_AFTER_MAX)
		dflt = UPSTREAM_RETRY_AFTER_MAX;
	return (now + dflt);
}

/* delta-seconds, capped at UPSTREAM_RETRY_AFTER_MAX: 0, or -1. */
static int
ra_delta(const char *s, int *secs)
{
	long	 n = 0;

	while (*s == ' ' || *s == '\t')
		s++;
	if (!isdigit((unsigned char)*s))
		return (-1);
	for (; isdigit((unsigned char)*s); s++) {
		n = n * 10 + (*s - '0');
		if (n > UPSTREAM_RETRY_AFTER_MAX)
			n = UPSTREAM_RETRY_AFTER_MAX;
	}
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s != '\0')
		return (-1);
	*secs = (int)n;
	return (0);
}

/*
 * An HTTP-date (RFC 9110 5.6.7) in any of its three forms:
 *	IMF-fixdate	Sun, 06 Nov 1994 08:49:37 GMT
 *	rfc850-date	Sunday, 06-Nov-94 08:49:37 GMT
 *	asctime-date	Sun Nov  6 08:49:37 1994
 * The day name is not checked against the date. 0, or -1.
 */
static int
ra_date(const char *s, time_t *t)
{
	struct tm	 tm;
	const char	*p;
	int		 year;

	memset(&tm, 0, sizeof(tm));
	while (*s == ' ' || *s == '\t')
		s++;
	if (ra_day_name(&s) == -1)
		return (-1);
	if (*s == ',') {
		p = s + 1;
		if (ra_literal(&p, " ") == -1 ||
		    ra_digits(&p, 2, &tm.tm_mday) == -1)
			return (-1);
		if (*p == ' ') {
			/* IMF-fixdate */
			p++;
			if (ra_month(&p, &tm.tm_mon) == -1 ||
			    ra_literal(&p, " ") == -1 ||
			    ra_digits(&p, 4, &year) == -1)
				return (-1);
		} else {
			/* rfc850-date: two-digit years, 1970 .. 2069 */
			if (ra_literal(&p, "-") == -1 ||
			    ra_month(&p, &tm.tm_mon) == -1 ||
			    ra_literal(&p, "-") == -1 ||
			    ra_digits(&p, 2, &year) == -1)
				return (-1);
			year += year < 70 ? 2000 : 1900;
		}
		if (ra_literal(&p, " ") == -1 ||
		    ra_time_of_day(&p, &tm) == -1 ||
		    ra_literal(&p, " GMT") == -1)
			return (-1);
	} else {
		/* asctime-date */
		p = s;
		if (ra_literal(&p, " ") == -1 ||
		    ra_month(&p, &tm.tm_mon) == -1 ||
		    ra_literal(&p, " ") == -1)
			return (-1);
		if (*p == ' ') {
			p++;
			if (ra_digits(&p, 1, &tm.tm_mday) == -1)
				return (-1);
		} else if (ra_digits(&p, 2, &tm.tm_mday) == -1)
			return (-1);
		if (ra_literal(&p, " ") == -1 ||
		    ra_time_of_day(&p, &tm) == -1 ||
		    ra_literal(&p, " ") == -1 ||
		    ra_digits(&p, 4, &year) == -1)
			return (-1);
	}
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p != '\0' || tm.tm_mday < 1 || tm.tm_mday > 31 || year < 1970)
		return (-1);
	tm.tm_year = year - 1900;
	if ((*t = timegm(&tm)) == (time_t)-1)
		return (-1);
	return (0);
}

/* Exactly n digits at *p. */
static int
ra_digits(const char **p, int n, int *out)
{
	int	 i, v = 0;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return (-1);
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return (0);
}

static int
ra_month(const char **p, int *mon)
{
	static const char	*months[] = { "Jan", "Feb", "Mar", "Apr",
	    "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	int			 i;

	for (i = 0; i < 12; i++) {
		if (strncmp(*p, months[i], 3) == 0) {
			*mon = i;
			*p += 3;
			return (0);
		}
	}
	return (-1);
}

/* Three to nine letters: "Sun", "Sunday". */
static int
ra_day_name(const char **p)
{
	size_t	 n = 0;

	while (isalpha((unsigned char)(*p)[n]))
		n++;
	if (n < 3 || n > 9)
		return (-1);
	*p += n;
	return (0);
}

/* HH:MM:SS */
static int
ra_time_of_day(const char **p, struct tm *tm)
{
	if (ra_digits(p, 2, &tm->tm_hour) == -1 ||
	    ra_literal(p, ":") == -1 ||
	    ra_digits(p, 2, &tm->tm_min) == -1 ||
	    ra_literal(p, ":") == -1 ||
	    ra_digits(p, 2, &tm->tm_sec) == -1)
		return (-1);
	/* 60: a leap second. */
	if (tm->tm_hour > 23 || tm->tm_min > 59 || tm->tm_sec > 60)
		return (-1);
	return (0);
}

static int
ra_literal(const char **p, const char *lit)
{
	size_t	 n = strlen(lit);

	if (strncmp(*p, lit, n) != 0)
		return (-1);
	*p += n;
	return (0);
}

long
upstream_ratelimit_parse(const char *value)
{
	long	 n = 0;

	if (value == NULL)
		return (-1);
	while (*value == ' ' || *value == '\t')
		value++;
	if (!isdigit((unsigned char)*value))
		return (-1);
	for (; isdigit((unsigned char)*value); value++) {
		if (n > (LONG_MAX - 9) / 10)
			return (-1);
		n = n * 10 + (*value - '0');
	}
	if (*value != '\0' && *value != ';' && *value != ',' &&
	    *value != ' ' && *value != '\t')
		return (-1);
	return (n);
}

/* ---- tokens ---- */

/* The slot of (key, scope), or NULL. */
static struct us_token *
us_token_find(const char *key, const char *scope)
{
	struct us_token	*t;
	size_t		 i;

	for (i = 0; i < UPSTREAM_TOKEN_SLOTS; i++) {
		t = &us_shm->ss_token[i];
		if (t->t_expires != 0 && strcmp(t->t_key, key) == 0 &&
		    strcmp(t->t_scope, scope) == 0)
			return (t);
	}
	return (NULL);
}

int
upstream_token_get(const char *key, const char *scope, time_t now,
    char *buf, size_t len)
{
	struct us_token	*t;
	int		 found = 0;

	if (key == NULL || scope == NULL || buf == NULL || len == 0 ||
	    us_lock() == -1)
		return (0);
	if ((t = us_token_find(key, scope)) != NULL) {
		if (t->t_expires <= now + US_TOKEN_MARGIN)
			memset(t, 0, sizeof(*t));
		else if (strlen(t->t_token) < len) {
			memcpy(buf, t->t_token, strlen(t->t_token) + 1);
			found = 1;
		}
	}
	us_unlock();
	return (found);
}

void
upstream_token_put(const char *key, const char *scope, const char *token,
    time_t expires)
{
	struct us_token	*t, *victim;
	size_t		 i;

	if (key == NULL || scope == NULL || token == NULL || expires <= 0 ||
	    strlen(key) >= sizeof(t->t_key) ||
	    strlen(scope) >= sizeof(t->t_scope) ||
	    strlen(token) >= sizeof(t->t_token))
		return;
	if (us_lock() == -1)
		return;
	/* The same slot, else a free one, else the closest to expiry. */
	if ((victim = us_token_find(key, scope)) == NULL) {
		victim = &us_shm->ss_token[0];
		for (i = 1; i < UPSTREAM_TOKEN_SLOTS; i++) {
			t = &us_shm->ss_token[i];
			if (t->t_expires < victim->t_expires)
				victim = t;
		}
	}
	memset(victim, 0, sizeof(*victim));
	(void)snprintf(victim->t_key, sizeof(victim->t_key), "%s", key);
	(void)snprintf(victim->t_scope, sizeof(victim->t_scope), "%s", scope);
	(void)snprintf(victim->t_token, sizeof(victim->t_token), "%s", token);
	victim->t_expires = expires;
	us_unlock();
}

void
upstream_token_drop(const char *key, const char *scope)
{
	struct us_token	*t;

	if (key == NULL || scope == NULL || us_lock() == -1)
		return;
	if ((t = us_token_find(key, scope)) != NULL)
		explicit_bzero(t, sizeof(*t));
	us_unlock();
}

/* ---- negative cache ---- */

/* FNV-1a. */
static uint32_t
us_hash(const char *s)
{
	uint32_t	 h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return (h);
}

/* The slot holding what, or -1. */
static int
us_negative_find(const char *what, uint32_t hash)
{
	int	 i;

	for (i = 0; i < UPSTREAM_NEGATIVE_SLOTS; i++)
		if (us_shm->ss_neg_hash[i] == hash &&
		    us_shm->ss_neg_until[i] != 0 &&
		    strcmp(us_shm->ss_neg_key[i], what) == 0)
			return (i);
	return (-1);
}

int
upstream_negative_get(const char *what, time_t now)
{
	int	 i, found = 0;

	if (what == NULL || strlen(what) >= UPSTREAM_NEGATIVE_KEY_MAX ||
	    us_lock() == -1)
		return (0);
	if ((i = us_negative_find(what, us_hash(what))) != -1) {
		if (us_shm->ss_neg_until[i] > now)
			found = 1;
		else
			us_shm->ss_neg_until[i] = 0;
	}
	us_unlock();
	return (found);
}

void
upstream_negative_put(const char *what, time_t until)
{
	uint32_t	 hash;
	int		 i, victim;

	if (what == NULL || until <= 0 ||
	    strlen(what) >= UPSTREAM_NEGATIVE_KEY_MAX)
		return;
	hash = us_hash(what);
	if (us_lock() == -1)
		return;
	/* Its slot, else a free one, else the closest to expiry. */
	if ((victim = us_negative_find(what, hash)) == -1) {
		victim = 0;
		for (i = 1; i < UPSTREAM_NEGATIVE_SLOTS &&
		    us_shm->ss_neg_until[victim] != 0; i++)
			if (us_shm->ss_neg_until[i] <
			    us_shm->ss_neg_until[victim])
				victim = i;
		(void)snprintf(us_shm->ss_neg_key[victim],
		    UPSTREAM_NEGATIVE_KEY_MAX, "%s", what);
		us_shm->ss_neg_hash[victim] = hash;
	}
	us_shm->ss_neg_until[victim] = until;
	us_unlock();
}

void
upstream_negative_drop(const char *what)
{
	int	 i;

	if (what == NULL || strlen(what) >= UPSTREAM_NEGATIVE_KEY_MAX ||
	    us_lock() == -1)
		return;
	if ((i = us_negative_find(what, us_hash(what))) != -1)
		us_shm->ss_neg_until[i] = 0;
	us_unlock();
}

/* ---- flights ---- */

/* 1 when the claim in f is held by a live process and not too old. */
static int
us_flight_live(const struct us_flight *f, time_t now)
{
	if (f->f_pid == 0 || now - f->f_started > UPSTREAM_FLIGHT_MAX_AGE)
		return (0);
	return (kill(f->f_pid, 0) == 0 || errno != ESRCH);
}

/* The live claim of what, or NULL; dead claims met on the way are freed. */
static struct us_flight *
us_flight_find(const char *what, uint32_t hash, time_t now)
{
	struct us_flight	*f;
	size_t			 i;

	for (i = 0; i < UPSTREAM_FLIGHT_SLOTS; i++) {
		f = &us_shm->ss_flight[i];
		if (f->f_pid == 0 || f->f_hash != hash ||
		    strcmp(f->f_key, what) != 0)
			continue;
		if (us_flight_live(f, now))
			return (f);
		f->f_pid = 0;
	}
	return (NULL);
}

int
upstream_flight_claim(const char *what, time_t now, uint64_t *ticket)
{
	struct us_flight	*f, *victim = NULL;
	uint32_t		 hash;
	size_t			 i;

	if (what == NULL || strlen(what) >= UPSTREAM_NEGATIVE_KEY_MAX)
		return (-1);
	hash = us_hash(what);
	if (us_lock() == -1)
		return (-1);
	if (us_flight_find(what, hash, now) != NULL) {
		us_unlock();
		return (0);
	}
	for (i = 0; i < UPSTREAM_FLIGHT_SLOTS && victim == NULL; i++) {
		f = &us_shm->ss_flight[i];
		if (!us_flight_live(f, now))
			victim = f;
	}
	if (victim == NULL) {
		us_unlock();
		return (-1);
	}
	memset(victim, 0, sizeof(*victim));
	(void)snprintf(victim->f_key, sizeof(victim->f_key), "%s", what);
	victim->f_hash = hash;
	victim->f_pid = getpid();
	victim->f_started = now;
	victim->f_ticket = ++us_shm->ss_stamp;
	*ticket = victim->f_ticket;
	us_unlock();
	return (1);
}

int
upstream_flight_held(const char *what, time_t now)
{
	int	 held;

	if (what == NULL || strlen(what) >= UPSTREAM_NEGATIVE_KEY_MAX ||
	    us_lock() == -1)
		return (0);
	held = us_flight_find(what, us_hash(what), now) != NULL;
	us_unlock();
	return (held);
}

void
upstream_flight_release(const char *what, uint64_t ticket)
{
	struct us_flight	*f;
	size_t			 i;

	if (what == NULL || us_lock() == -1)
		return;
	for (i = 0; i < UPSTREAM_FLIGHT_SLOTS; i++) {
		f = &us_shm->ss_flight[i];
		if (f->f_pid == getpid() && f->f_ticket == ticket &&
		    strcmp(f->f_key, what) == 0) {
			f->f_pid = 0;
			break;
		}
	}
	us_unlock();
}

void
upstream_flight_drop_pid(pid_t pid)
{
	size_t	 i;

	if (pid <= 0 || us_lock() == -1)
		return;
	for (i = 0; i < UPSTREAM_FLIGHT_SLOTS; i++)
		if (us_shm->ss_flight[i].f_pid == pid)
			us_shm->ss_flight[i].f_pid = 0;
	us_unlock();
}

/* ---- ECR tokens ---- */

/* The slot of key (made afresh for other settings), or NULL. */
static struct us_ecr *
us_ecr_find(const char *key, uint64_t fingerprint, int create)
{
	struct us_ecr	*e, *victim = NULL;
	size_t		 i;

	if (strlen(key) >= sizeof(victim->e_key))
		return (NULL);
	for (i = 0; i < UPSTREAM_ECR_SLOTS; i++) {
		e = &us_shm->ss_ecr[i];
		if (e->e_key[0] != '\0' && strcmp(e->e_key, key) == 0) {
			if (create && e->e_fingerprint != fingerprint) {
				explicit_bzero(e, sizeof(*e));
				(void)snprintf(e->e_key, sizeof(e->e_key),
				    "%s", key);
				e->e_fingerprint = fingerprint;
			}
			return (e);
		}
		if (victim == NULL && e->e_key[0] == '\0')
			victim = e;
	}
	if (!create)
		return (NULL);
	if (victim == NULL)
		victim = &us_shm->ss_ecr[0];
	explicit_bzero(victim, sizeof(*victim));
	(void)snprintf(victim->e_key, sizeof(victim->e_key), "%s", key);
	victim->e_fingerprint = fingerprint;
	return (victim);
}

/* A live refresh claim on e. */
static int
us_ecr_claimed(const struct us_ecr *e, time_t now)
{
	if (e->e_claim_pid == 0 ||
	    now - e->e_claim_started > UPSTREAM_ECR_CLAIM_MAX_AGE)
		return (0);
	return (kill(e->e_claim_pid, 0) == 0 || errno != ESRCH);
}

static void
us_ecr_claim(struct us_ecr *e, time_t now, struct upstream_ecr_view *v)
{
	e->e_claim_pid = getpid();
	e->e_claim_started = now;
	e->e_claim_ticket = ++us_shm->ss_stamp;
	v->ev_ticket = e->e_claim_ticket;
}

enum upstream_ecr_state
upstream_ecr_acquire(const char *key, uint64_t fingerprint, time_t now,
    const uint64_t *fail_seen, struct upstream_ecr_view *v)
{
	struct us_ecr		*e;
	enum upstream_ecr_state	 st;

	memset(v, 0, sizeof(*v));
	if (key == NULL || us_lock() == -1)
		return (UPSTREAM_ECR_REFRESH);
	if ((e = us_ecr_find(key, fingerprint, 1)) == NULL) {
		us_unlock();
		return (UPSTREAM_ECR_REFRESH);
	}
	v->ev_generation = e->e_generation;
	v->ev_fail_seq = e->e_fail_seq;
	if (e->e_expires != 0 &&
	    e->e_expires > now + UPSTREAM_ECR_EXPIRY_MARGIN) {
		v->ev_has_token = 1;
		v->ev_expires = e->e_expires;
		memcpy(v->ev_user, e->e_user, sizeof(v->ev_user));
		memcpy(v->ev_password, e->e_password, sizeof(v->ev_password));
		st = UPSTREAM_ECR_TOKEN;
		if (now >= e->e_refresh_at && now >= e->e_failed_until &&
		    !us_ecr_claimed(e, now)) {
			us_ecr_claim(e, now, v);
			st = UPSTREAM_ECR_REFRESH;
		}
	} else if (e->e_expires != 0) {
		/* Expired: never handed out again. */
		explicit_bzero(e->e_password, sizeof(e->e_password));
		e->e_expires = 0;
		st = UPSTREAM_ECR_WAIT;
	} else
		st = UPSTREAM_ECR_WAIT;
	if (st == UPSTREAM_ECR_WAIT) {
		if (us_ecr_claimed(e, now))
			st = UPSTREAM_ECR_WAIT;
		else if (now < e->e_failed_until || (fail_seen != NULL &&
		    *fail_seen != e->e_fail_seq)) {
			memcpy(v->ev_error, e->e_error, sizeof(v->ev_error));
			st = UPSTREAM_ECR_FAILED;
		} else {
			us_ecr_claim(e, now, v);
			st = UPSTREAM_ECR_REFRESH;
		}
	}
	us_unlock();
	return (st);
}

/* The slot whose claim is ticket, or NULL. */
static struct us_ecr *
us_ecr_claim_find(const char *key, uint64_t ticket)
{
	struct us_ecr	*e;
	size_t		 i;

	for (i = 0; i < UPSTREAM_ECR_SLOTS; i++) {
		e = &us_shm->ss_ecr[i];
		if (e->e_key[0] != '\0' && strcmp(e->e_key, key) == 0 &&
		    e->e_claim_ticket == ticket && e->e_claim_pid == getpid())
			return (e);
	}
	return (NULL);
}

uint64_t
upstream_ecr_store(const char *key, uint64_t ticket, const char *user,
    const char *password, time_t expires, time_t refresh_at)
{
	struct us_ecr	*e;
	uint64_t	 generation = 0;

	if (key == NULL || user == NULL || password == NULL ||
	    strlen(user) >= UPSTREAM_ECR_USER_MAX ||
	    strlen(password) >= UPSTREAM_TOKEN_MAX || us_lock() == -1)
		return (0);
	if ((e = us_ecr_claim_find(key, ticket)) != NULL) {
		explicit_bzero(e->e_password, sizeof(e->e_password));
		(void)snprintf(e->e_user, sizeof(e->e_user), "%s", user);
		(void)snprintf(e->e_password, sizeof(e->e_password), "%s",
		    password);
		e->e_expires = expires;
		e->e_refresh_at = refresh_at;
		generation = ++e->e_generation;
		e->e_failed_until = 0;
		e->e_error[0] = '\0';
		e->e_claim_pid = 0;
	}
	us_unlock();
	return (generation);
}

void
upstream_ecr_fail(const char *key, uint64_t ticket, const char *error,
    time_t until)
{
	struct us_ecr	*e;

	if (key == NULL || us_lock() == -1)
		return;
	if ((e = us_ecr_claim_find(key, ticket)) != NULL) {
		(void)snprintf(e->e_error, sizeof(e->e_error), "%s",
		    error != NULL ? error : "refresh failed");
		e->e_failed_until = until;
		e->e_fail_seq++;
		e->e_claim_pid = 0;
	}
	us_unlock();
}

void
upstream_ecr_drop(const char *key, uint64_t generation)
{
	struct us_ecr	*e;
	size_t		 i;

	if (key == NULL || us_lock() == -1)
		return;
	for (i = 0; i < UPSTREAM_ECR_SLOTS; i++) {
		e = &us_shm->ss_ecr[i];
		if (e->e_key[0] != '\0' && strcmp(e->e_key, key) == 0 &&
		    e->e_generation == generation && e->e_expires != 0) {
			explicit_bzero(e->e_password, sizeof(e->e_password));
			e->e_expires = 0;
		}
	}
	us_unlock();
}
