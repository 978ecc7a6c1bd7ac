/*
 * metrics.c: the shared memory segment behind GET /metrics. It owns the
 * segment's layout, the lock-free label table of the request counters,
 * the per-process in-flight slots, the walk of the blob store for its
 * gauges, and the Prometheus text rendering.
 *
 * Label table: open addressing over METRICS_LABEL_SLOTS entries that are
 * only ever added. An entry goes EMPTY -> BUSY (one process won the
 * compare-and-swap and writes the key) -> READY (the key is published and
 * never changes). A lookup that meets a BUSY entry does not wait for it
 * (its writer may have been killed) but probes on; two processes adding
 * the same key at once may so create two entries, which the rendering
 * adds up. Nothing is ever removed, so a key's entry is always reachable
 * from its hash without crossing an EMPTY entry.
 *
 * In-flight: each worker claims a slot (its pid) and counts there; the
 * master clears the slot of a worker it reaps, so a killed worker's
 * requests do not stay in flight forever.
 *
 * Upstream proxy series: a second table of the same kind, keyed by one
 * registry or upstream name, whose entry holds every series of that name
 * (cache results per kind, status codes, the duration histogram, errors
 * per reason, waits, rate limits, bytes). Status codes take slots of the
 * entry by a compare-and-swap of the code itself, so they need no BUSY
 * state. The histogram keeps one count per bucket (rendered cumulative)
 * and the sum in microseconds.
 */
#include <sys/types.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/ref.h"
#include "lib/util.h"
#include "lib/xmalloc.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION	"unknown"
#endif

#define METRICS_EMPTY	0
#define METRICS_BUSY	1
#define METRICS_READY	2

#define METRICS_WALK_DEPTH	2	/* blobs/<alg>/<2 hex>/<blob> */

#define METRICS_KINDS		6	/* manifest, blob, tags, index, chart, other */
#define METRICS_RESULTS		3	/* enum metrics_cache_result */
#define METRICS_BOUNDS		13	/* finite histogram buckets */
#define METRICS_BUCKETS		(METRICS_BOUNDS + 1)
#define METRICS_REASONS		11
#define METRICS_USECS_MAX	(1000000000ULL * 1000000)	/* 1e9 s */

/* Label values of the upstream series, in rendering order. */
static const char *const metrics_kinds[METRICS_KINDS] = {
	"manifest", "blob", "tags", "index", "chart", METRICS_OTHER
};
static const char *const metrics_reasons[METRICS_REASONS] = {
	"connect", "timeout", "tls", "network", "protocol", "auth", "digest",
	"status", "ratelimited", "skipped", "other"
};
static const uint64_t metrics_bound_usecs[METRICS_BOUNDS] = {
	5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000,
	5000000, 10000000, 30000000, 60000000
};
static const char *const metrics_bound_text[METRICS_BUCKETS] = {
	"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5",
	"5", "10", "30", "60", "+Inf"
};
static const char *const metrics_result_names[METRICS_RESULTS] = {
	"depot_upstream_cache_hits_total",
	"depot_upstream_cache_misses_total",
	"depot_upstream_cache_stale_total"
};
static const char *const metrics_result_help[METRICS_RESULTS] = {
	"Pulls answered from the cache, by registry and kind.",
	"Pulls fetched from an upstream, by registry and kind.",
	("Pulls served stale because no upstream answered, by registry and "
	    "kind.")
};

/* The series of one name that metrics_render_simple() renders. */
enum metrics_field {
	METRICS_FIELD_WAITS,
	METRICS_FIELD_LIMIT,
	METRICS_FIELD_REMAINING,
	METRICS_FIELD_BYTES,
	METRICS_FIELD_TOKEN_REFRESHES,
	METRICS_FIELD_TOKEN_FAILURES,
	METRICS_FIELD_CACHED_BYTES,
	METRICS_FIELD_EVICTIONS,
	METRICS_FIELD_EVICTED_BYTES
};

struct metrics_entry {
	_Atomic uint32_t	 me_state;
	uint16_t		 me_code;
	char			 me_method[METRICS_METHOD_MAX + 1];
	char			 me_registry[DEPOT_NAME_MAX + 1];
	_Atomic uint64_t	 me_requests;
	_Atomic uint64_t	 me_bytes;
};

struct metrics_worker {
	_Atomic pid_t		 mw_pid;	/* 0: free */
	_Atomic int64_t		 mw_inflight;
};

struct metrics_code {
	_Atomic uint32_t	 mc_code;	/* code + 1; 0: free */
	_Atomic uint64_t	 mc_count;
};

/* Every upstream series of one registry or upstream name. */
struct metrics_name {
	_Atomic uint32_t	 mn_state;
	char			 mn_name[DEPOT_NAME_MAX + 1];
	_Atomic uint64_t	 mn_cache[METRICS_KINDS][METRICS_RESULTS];
	_Atomic uint64_t	 mn_waits;
	struct metrics_code	 mn_code[METRICS_CODE_SLOTS];
	_Atomic uint64_t	 mn_code_other;
	_Atomic uint64_t	 mn_bucket[METRICS_BUCKETS]; /* per bucket */
	_Atomic uint64_t	 mn_sum_usecs;
	_Atomic uint64_t	 mn_errors[METRICS_REASONS];
	/* Rate-limit gauges: value + 1, 0 when unknown; seq orders updates. */
	_Atomic int64_t		 mn_limit;
	_Atomic int64_t		 mn_remaining;
	_Atomic uint64_t	 mn_ratelimit_seq;
	_Atomic uint64_t	 mn_bytes;
	_Atomic uint32_t	 mn_bytes_seen;
	_Atomic uint64_t	 mn_token_refreshes;
	_Atomic uint64_t	 mn_token_failures;
	/* Cache limits: bytes held (+ 1, 0 unknown), evictions. */
	_Atomic uint64_t	 mn_cached_bytes;
	_Atomic uint64_t	 mn_evictions;
	_Atomic uint64_t	 mn_evicted_bytes;
};

struct metrics_shared {
	_Atomic uint64_t	 ms_worker_restarts;
	_Atomic uint64_t	 ms_workers;
	_Atomic uint64_t	 ms_uploads_expired;
	_Atomic uint64_t	 ms_gc_runs;		/* from the index */
	_Atomic uint64_t	 ms_gc_bytes;
	_Atomic uint64_t	 ms_gc_blobs;
	_Atomic uint64_t	 ms_gc_msec;		/* of all runs */
	_Atomic uint64_t	 ms_gc_last_msec;
	_Atomic uint64_t	 ms_blob_bytes;
	_Atomic uint64_t	 ms_blob_count;
	_Atomic uint32_t	 ms_blob_known;	/* a walk has completed */
	_Atomic int64_t		 ms_inflight_unslotted;
	_Atomic uint64_t	 ms_cached_bytes;	/* + 1, 0 unknown */
	_Atomic uint32_t	 ms_low_space;	/* 1 low, 2 fine, 0 unknown */
	_Atomic uint32_t	 ms_evict_wanted;
	struct metrics_entry	 ms_other;	/* the table was full */
	struct metrics_worker	 ms_worker[METRICS_WORKER_SLOTS];
	struct metrics_entry	 ms_entry[METRICS_LABEL_SLOTS];
	_Atomic uint64_t	 ms_ratelimit_seq;
	struct metrics_name	 ms_name_other;	/* bad name or full */
	struct metrics_name	 ms_name[METRICS_NAME_SLOTS];
};

/* A copy of one label set, for rendering. */
struct metrics_row {
	char		 mr_registry[DEPOT_NAME_MAX + 1];
	char		 mr_method[METRICS_METHOD_MAX + 1];
	unsigned int	 mr_code;
	uint64_t	 mr_requests;
	uint64_t	 mr_bytes;
};

/* A copy of one status code of a name. */
struct metrics_code_row {
	unsigned int	 cr_code;
	uint64_t	 cr_count;
};

/* A copy of one name's upstream series, for rendering. */
struct metrics_name_row {
	char			 nr_name[DEPOT_NAME_MAX + 1];
	uint64_t		 nr_cache[METRICS_KINDS][METRICS_RESULTS];
	uint64_t		 nr_waits;
	struct metrics_code_row	 nr_code[METRICS_CODE_SLOTS];
	size_t			 nr_ncode;
	uint64_t		 nr_code_other;
	uint64_t		 nr_bucket[METRICS_BUCKETS];
	uint64_t		 nr_sum_usecs;
	uint64_t		 nr_errors[METRICS_REASONS];
	int64_t			 nr_limit;
	int64_t			 nr_remaining;
	uint64_t		 nr_ratelimit_seq;
	uint64_t		 nr_bytes;
	int			 nr_bytes_seen;
	uint64_t		 nr_token_refreshes;
	uint64_t		 nr_token_failures;
	uint64_t		 nr_cached_bytes;
	uint64_t		 nr_evictions;
	uint64_t		 nr_evicted_bytes;
};

static struct metrics_shared	*metrics_shm;
static struct metrics_worker	*metrics_self;	/* this worker's slot */
static long long		 metrics_walk_next_ms;

static uint32_t	 metrics_fnv(uint32_t, const char *);
static uint32_t	 metrics_hash(const char *, const char *, unsigned int);
static int	 metrics_key_equal(struct metrics_entry *, const char *,
		    const char *, unsigned int);
static struct metrics_entry *metrics_lookup(const char *, const char *,
		    unsigned int);
static struct metrics_name *metrics_name_entry(const char *);
static struct metrics_name *metrics_name_lookup(const char *);
static size_t	 metrics_index(const char *const *, size_t, const char *,
		    size_t);
static void	 metrics_code_add(struct metrics_name *, int);
static uint64_t	 metrics_usecs(double);
static int64_t	 metrics_gauge_encode(long);
static int	 metrics_walk(int, int, uint64_t *, uint64_t *);
static int	 metrics_row_cmp(const void *, const void *);
static size_t	 metrics_rows(struct metrics_row **);
static void	 metrics_label(FILE *, const char *, const char *, int);
static void	 metrics_head(FILE *, const char *, const char *,
		    const char *);
static void	 metrics_render_requests(FILE *);
static void	 metrics_render_process(FILE *);
static void	 metrics_render_space(FILE *);
static void	 metrics_name_copy(struct metrics_name_row *,
		    struct metrics_name *);
static void	 metrics_name_merge(struct metrics_name_row *,
		    const struct metrics_name_row *);
static int	 metrics_name_row_cmp(const void *, const void *);
static int	 metrics_code_row_cmp(const void *, const void *);
static size_t	 metrics_name_rows(struct metrics_name_row **);
static void	 metrics_head_once(FILE *, int *, const char *, const char *,
		    const char *);
static void	 metrics_render_upstream(FILE *);
static void	 metrics_render_cache(FILE *, struct metrics_name_row *,
		    size_t);
static void	 metrics_render_codes(FILE *, struct metrics_name_row *,
		    size_t);
static void	 metrics_render_duration(FILE *, struct metrics_name_row *,
		    size_t);
static void	 metrics_render_errors(FILE *, struct metrics_name_row *,
		    size_t);
static int	 metrics_field(const struct metrics_name_row *,
		    enum metrics_field, uint64_t *);
static void	 metrics_render_simple(FILE *, struct metrics_name_row *,
		    size_t, enum metrics_field, const char *, const char *,
		    const char *, const char *);

int
metrics_init(void)
{
	_Atomic uint64_t	 u = 0;
	_Atomic int64_t		 i = 0;
	void			*p;

	if (metrics_shm != NULL)
		return (0);
	/* Atomics that take a lock would not work across processes. */
	if (!atomic_is_lock_free(&u) || !atomic_is_lock_free(&i)) {
		log_warnx("%s: 64-bit atomics are not lock-free here",
		    __func__);
		return (-1);
	}
	p = mmap(NULL, sizeof(*metrics_shm), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		log_warn("%s: mmap", __func__);
		return (-1);
	}
	/* Anonymous mappings are zero: every entry EMPTY, every slot free. */
	metrics_shm = p;
	metrics_self = NULL;
	metrics_walk_next_ms = 0;
	return (0);
}

void
metrics_close(void)
{
	if (metrics_shm == NULL)
		return;
	if (munmap(metrics_shm, sizeof(*metrics_shm)) == -1)
		log_warn("%s: munmap", __func__);
	metrics_shm = NULL;
	metrics_self = NULL;
}

void
metrics_worker_attach(void)
{
	struct metrics_worker	*w;
	pid_t			 pid = getpid(), expected;
	size_t			 i, start;

	metrics_self = NULL;
	if (metrics_shm == NULL)
		return;
	start = (size_t)pid % METRICS_WORKER_SLOTS;
	for (i = 0; i < METRICS_WORKER_SLOTS; i++) {
		w = &metrics_shm->ms_worker[(start + i) % METRICS_WORKER_SLOTS];
		expected = 0;
		if (atomic_compare_exchange_strong(&w->mw_pid, &expected,
		    pid)) {
			metrics_self = w;
			return;
		}
	}
	log_warnx("%s: no free slot; in-flight requests of this worker "
	    "are counted without one", __func__);
}

void
metrics_worker_detach(pid_t pid)
{
	struct metrics_worker	*w;
	size_t			 i;

	if (metrics_shm == NULL || pid <= 0)
		return;
	for (i = 0; i < METRICS_WORKER_SLOTS; i++) {
		w = &metrics_shm->ms_worker[i];
		if (atomic_load(&w->mw_pid) != pid)
			continue;
		/* Clear the count before the slot can be claimed again. */
		atomic_store(&w->mw_inflight, 0);
		atomic_store(&w->mw_pid, 0);
	}
}

void
metrics_inflight_add(int delta)
{
	if (metrics_shm == NULL)
		return;
	if (metrics_self != NULL)
		atomic_fetch_add_explicit(&metrics_self->mw_inflight, delta,
		    memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&metrics_shm->ms_inflight_unslotted,
		    delta, memory_order_relaxed);
}

void
metrics_request(const char *registry, const char *method, int code,
    uint64_t bytes)
{
	struct metrics_entry	*e = NULL;

	if (metrics_shm == NULL)
		return;
	if (registry != NULL && method != NULL &&
	    strlen(registry) <= DEPOT_NAME_MAX && *method != '\0' &&
	    strlen(method) <= METRICS_METHOD_MAX && code >= 100 && code <= 999)
		e = metrics_lookup(registry, method, (unsigned int)code);
	if (e == NULL)
		e = &metrics_shm->ms_other;
	atomic_fetch_add_explicit(&e->me_requests, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&e->me_bytes, bytes, memory_order_relaxed);
}

/* One string's steps of FNV-1a. */
static uint32_t
metrics_fnv(uint32_t h, const char *s)
{
	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return (h);
}

/* FNV-1a over the label values. */
static uint32_t
metrics_hash(const char *registry, const char *method, unsigned int code)
{
	uint32_t	 h;

	h = metrics_fnv(2166136261u, registry);
	h = (h ^ 0xff) * 16777619u;
	h = metrics_fnv(h, method);
	h = (h ^ (code & 0xff)) * 16777619u;
	h = (h ^ (code >> 8)) * 16777619u;
	return (h);
}

static int
metrics_key_equal(struct metrics_entry *e, const char *registry,
    const char *method, unsigned int code)
{
	return (e->me_code == code && strcmp(e->me_method, method) == 0 &&
	    strcmp(e->me_registry, registry) == 0);
}

/*
 * The state of a slot once no process is writing its key: another process
 * that has just claimed it (BUSY) writes a few bytes and publishes it, so
 * wait for that instead of passing on and claiming a second slot for the
 * same key. A writer that died in between is given up on after a while.
 */
static uint32_t
metrics_slot_settled(_Atomic uint32_t *state)
{
	uint32_t	 s;
	int		 spins;

	for (spins = 0; spins < 1000; spins++) {
		s = atomic_load_explicit(state, memory_order_acquire);
		if (s != METRICS_BUSY)
			return (s);
		sched_yield();
	}
	return (METRICS_BUSY);
}

/* The entry of a label set, added if new; NULL when the table is full. */
static struct metrics_entry *
metrics_lookup(const char *registry, const char *method, unsigned int code)
{
	struct metrics_entry	*e;
	uint32_t		 state;
	size_t			 i, start;

	start = metrics_hash(registry, method, code) % METRICS_LABEL_SLOTS;
	for (i = 0; i < METRICS_LABEL_SLOTS; i++) {
		e = &metrics_shm->ms_entry[(start + i) % METRICS_LABEL_SLOTS];
		state = metrics_slot_settled(&e->me_state);
		if (state == METRICS_EMPTY) {
			if (atomic_compare_exchange_strong(&e->me_state, &state,
			    METRICS_BUSY)) {
				e->me_code = (uint16_t)code;
				(void)snprintf(e->me_method,
				    sizeof(e->me_method), "%s", method);
				(void)snprintf(e->me_registry,
				    sizeof(e->me_registry), "%s", registry);
				atomic_store_explicit(&e->me_state,
				    METRICS_READY, memory_order_release);
				return (e);
			}
			/* Lost the race: wait for the winner's key. */
			state = metrics_slot_settled(&e->me_state);
		}
		if (state == METRICS_READY &&
		    metrics_key_equal(e, registry, method, code))
			return (e);
	}
	return (NULL);
}

void
metrics_cache(const char *registry, const char *kind,
    enum metrics_cache_result result)
{
	struct metrics_name	*e;
	size_t			 k;

	if ((unsigned int)result >= METRICS_RESULTS ||
	    (e = metrics_name_entry(registry)) == NULL)
		return;
	k = metrics_index(metrics_kinds, METRICS_KINDS - 1, kind,
	    METRICS_KINDS - 1);
	atomic_fetch_add_explicit(&e->mn_cache[k][result], 1,
	    memory_order_relaxed);
}

void
metrics_upstream_request(const char *upstream, int code, double seconds)
{
	struct metrics_name	*e;
	uint64_t		 usecs = metrics_usecs(seconds);
	size_t			 b;

	if ((e = metrics_name_entry(upstream)) == NULL)
		return;
	metrics_code_add(e, code);
	for (b = 0; b < METRICS_BOUNDS; b++)
		if (usecs <= metrics_bound_usecs[b])
			break;
	atomic_fetch_add_explicit(&e->mn_sum_usecs, usecs,
	    memory_order_relaxed);
	atomic_fetch_add_explicit(&e->mn_bucket[b], 1, memory_order_relaxed);
}

void
metrics_upstream_error(const char *upstream, const char *reason)
{
	struct metrics_name	*e;
	size_t			 r;

	if ((e = metrics_name_entry(upstream)) == NULL)
		return;
	r = metrics_index(metrics_reasons, METRICS_REASONS, reason,
	    METRICS_REASONS - 1);
	atomic_fetch_add_explicit(&e->mn_errors[r], 1, memory_order_relaxed);
}

void
metrics_upstream_token(const char *upstream, int ok)
{
	struct metrics_name	*e;

	if ((e = metrics_name_entry(upstream)) == NULL)
		return;
	if (ok)
		atomic_fetch_add_explicit(&e->mn_token_refreshes, 1,
		    memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&e->mn_token_failures, 1,
		    memory_order_relaxed);
}

void
metrics_singleflight_wait(const char *registry)
{
	struct metrics_name	*e;

	if ((e = metrics_name_entry(registry)) != NULL)
		atomic_fetch_add_explicit(&e->mn_waits, 1,
		    memory_order_relaxed);
}

void
metrics_upstream_ratelimit(const char *upstream, long limit, long remaining)
{
	struct metrics_name	*e;

	if ((e = metrics_name_entry(upstream)) == NULL)
		return;
	atomic_store(&e->mn_limit, metrics_gauge_encode(limit));
	atomic_store(&e->mn_remaining, metrics_gauge_encode(remaining));
	atomic_store(&e->mn_ratelimit_seq,
	    atomic_fetch_add(&metrics_shm->ms_ratelimit_seq, 1) + 1);
}

void
metrics_upstream_bytes(const char *upstream, uint64_t bytes)
{
	struct metrics_name	*e;

	if ((e = metrics_name_entry(upstream)) == NULL)
		return;
	atomic_fetch_add_explicit(&e->mn_bytes, bytes, memory_order_relaxed);
	atomic_store_explicit(&e->mn_bytes_seen, 1, memory_order_relaxed);
}

/*
 * The entry of a registry or upstream name, added if new; the overflow
 * entry for a name that breaks the name rule or when the table is full;
 * NULL when there is no segment.
 */
static struct metrics_name *
metrics_name_entry(const char *name)
{
	struct metrics_name	*e = NULL;

	if (metrics_shm == NULL)
		return (NULL);
	if (name != NULL && ref_name_valid(name, NULL) == 0)
		e = metrics_name_lookup(name);
	return (e != NULL ? e : &metrics_shm->ms_name_other);
}

/* As metrics_lookup(), for the table of names. */
static struct metrics_name *
metrics_name_lookup(const char *name)
{
	struct metrics_name	*e;
	uint32_t		 state;
	size_t			 i, start;

	start = metrics_fnv(2166136261u, name) % METRICS_NAME_SLOTS;
	for (i = 0; i < METRICS_NAME_SLOTS; i++) {
		e = &metrics_shm->ms_name[(start + i) % METRICS_NAME_SLOTS];
		state = metrics_slot_settled(&e->mn_state);
		if (state == METRICS_EMPTY) {
			if (atomic_compare_exchange_strong(&e->mn_state, &state,
			    METRICS_BUSY)) {
				(void)snprintf(e->mn_name, sizeof(e->mn_name),
				    "%s", name);
				atomic_store_explicit(&e->mn_state,
				    METRICS_READY, memory_order_release);
				return (e);
			}
			state = metrics_slot_settled(&e->mn_state);
		}
		if (state == METRICS_READY && strcmp(e->mn_name, name) == 0)
			return (e);
	}
	return (NULL);
}

/* The index of value among the first n of table, or dflt. */
static size_t
metrics_index(const char *const *table, size_t n, const char *value,
    size_t dflt)
{
	size_t	 i;

	if (value == NULL)
		return (dflt);
	for (i = 0; i < n; i++)
		if (strcmp(table[i], value) == 0)
			return (i);
	return (dflt);
}

/* Count a status code in its slot of e, claiming one if new. */
static void
metrics_code_add(struct metrics_name *e, int code)
{
	struct metrics_code	*c;
	uint32_t		 key, seen;
	size_t			 i;

	if (code == 0 || (code >= 100 && code <= 999)) {
		key = (uint32_t)code + 1;
		for (i = 0; i < METRICS_CODE_SLOTS; i++) {
			c = &e->mn_code[i];
			seen = atomic_load(&c->mc_code);
			if (seen == 0 && atomic_compare_exchange_strong(
			    &c->mc_code, &seen, key))
				seen = key;
			if (seen == key) {
				atomic_fetch_add_explicit(&c->mc_count, 1,
				    memory_order_relaxed);
				return;
			}
		}
	}
	atomic_fetch_add_explicit(&e->mn_code_other, 1, memory_order_relaxed);
}

/* Seconds as whole microseconds; 0 for negative or NaN, capped. */
static uint64_t
metrics_usecs(double seconds)
{
	if (!(seconds > 0))
		return (0);
	if (seconds >= (double)METRICS_USECS_MAX / 1e6)
		return (METRICS_USECS_MAX);
	return ((uint64_t)(seconds * 1e6 + 0.5));
}

/* A gauge value as stored: value + 1, or 0 when unknown (negative). */
static int64_t
metrics_gauge_encode(long v)
{
	if (v < 0)
		return (0);
	if (v > INT64_MAX - 1)
		return (INT64_MAX);
	return ((int64_t)v + 1);
}

void
metrics_worker_restarted(void)
{
	if (metrics_shm != NULL)
		atomic_fetch_add(&metrics_shm->ms_worker_restarts, 1);
}

void
metrics_workers_set(int n)
{
	if (metrics_shm != NULL)
		atomic_store(&metrics_shm->ms_workers,
		    (uint64_t)(n < 0 ? 0 : n));
}

void
metrics_uploads_expired(uint64_t n)
{
	if (metrics_shm != NULL)
		atomic_fetch_add(&metrics_shm->ms_uploads_expired, n);
}

void
metrics_gc_set(const struct metrics_gc *g)
{
	if (metrics_shm == NULL)
		return;
	atomic_store(&metrics_shm->ms_gc_runs, g->mg_runs);
	atomic_store(&metrics_shm->ms_gc_bytes, g->mg_bytes);
	atomic_store(&metrics_shm->ms_gc_blobs, g->mg_blobs);
	atomic_store(&metrics_shm->ms_gc_msec, g->mg_msec);
	atomic_store(&metrics_shm->ms_gc_last_msec, g->mg_last_msec);
}

void
metrics_blob_store_set(uint64_t bytes, uint64_t blobs)
{
	if (metrics_shm == NULL)
		return;
	atomic_store(&metrics_shm->ms_blob_bytes, bytes);
	atomic_store(&metrics_shm->ms_blob_count, blobs);
	atomic_store(&metrics_shm->ms_blob_known, 1);
}

int
metrics_blob_store_update(const char *data_dir, int force)
{
	char		 path[4096];
	uint64_t	 bytes = 0, blobs = 0;
	long long	 start = now_ms(), took;
	int		 fd;

	if (!force && start < metrics_walk_next_ms)
		return (0);
	if (path_fmt(path, sizeof(path), "%s/blobs", data_dir) == -1) {
		log_warnx("%s: %s: path too long", __func__, data_dir);
		return (-1);
	}
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		log_warn("%s: %s", __func__, path);
		return (-1);
	}
	if (metrics_walk(fd, 0, &bytes, &blobs) == -1) {
		log_warn("%s: %s", __func__, path);
		return (-1);
	}
	metrics_blob_store_set(bytes, blobs);
	took = now_ms() - start;
	metrics_walk_next_ms = 0;
	if (took > METRICS_WALK_SLOW_MS) {
		metrics_walk_next_ms = now_ms() +
		    METRICS_WALK_PAUSE_SECS * 1000LL;
		log_debug("%s: walk took %lld ms; next in %d s", __func__, took,
		    METRICS_WALK_PAUSE_SECS);
	}
	return (0);
}

/*
 * Add up the regular files METRICS_WALK_DEPTH directories below the
 * directory fd (which this closes). Entries that vanish meanwhile are
 * skipped; -1 only when fd itself cannot be read.
 */
static int
metrics_walk(int fd, int depth, uint64_t *bytes, uint64_t *blobs)
{
	DIR		*d;
	struct dirent	*de;
	struct stat	 st;
	int		 sub, saved_errno;

	if ((d = fdopendir(fd)) == NULL) {
		saved_errno = errno;
		close(fd);
		errno = saved_errno;
		return (-1);
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) ==
		    -1)
			continue;
		if (depth == METRICS_WALK_DEPTH) {
			if (S_ISREG(st.st_mode)) {
				*bytes += (uint64_t)st.st_size;
				(*blobs)++;
			}
			continue;
		}
		if (!S_ISDIR(st.st_mode))
			continue;
		sub = openat(dirfd(d), de->d_name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub != -1)
			(void)metrics_walk(sub, depth + 1, bytes, blobs);
	}
	closedir(d);
	return (0);
}

char *
metrics_render(void)
{
	FILE	*f;
	char	*text = NULL;
	size_t	 len = 0;

	if (metrics_shm == NULL)
		return (NULL);
	if ((f = open_memstream(&text, &len)) == NULL)
		fatal("%s: open_memstream", __func__);
	metrics_head(f, "depot_build_info",
	    "Build information; the value is always 1.", "gauge");
	fputs("depot_build_info{", f);
	metrics_label(f, "version", PACKAGE_VERSION, 1);
	fputs("} 1\n", f);
	metrics_render_requests(f);
	metrics_render_process(f);
	metrics_render_upstream(f);
	if (ferror(f) || fclose(f) == EOF)
		fatal("%s: writing to memory", __func__);
	return (text);
}

static int
metrics_row_cmp(const void *a, const void *b)
{
	const struct metrics_row	*x = a, *y = b;
	int				 c;

	if ((c = strcmp(x->mr_registry, y->mr_registry)) != 0)
		return (c);
	if ((c = strcmp(x->mr_method, y->mr_method)) != 0)
		return (c);
	return (x->mr_code < y->mr_code ? -1 : x->mr_code > y->mr_code);
}

/*
 * Copy the published label sets, sorted, with duplicate entries added
 * up, and the overflow set last. Caller frees *out.
 */
static size_t
metrics_rows(struct metrics_row **out)
{
	struct metrics_row	*rows, *r;
	struct metrics_entry	*e;
	size_t			 i, n = 0, m;

	rows = xcalloc(METRICS_LABEL_SLOTS + 1, sizeof(*rows));
	for (i = 0; i < METRICS_LABEL_SLOTS; i++) {
		e = &metrics_shm->ms_entry[i];
		if (atomic_load_explicit(&e->me_state, memory_order_acquire) !=
		    METRICS_READY)
			continue;
		r = &rows[n++];
		(void)snprintf(r->mr_registry, sizeof(r->mr_registry), "%s",
		    e->me_registry);
		(void)snprintf(r->mr_method, sizeof(r->mr_method), "%s",
		    e->me_method);
		r->mr_code = e->me_code;
		r->mr_requests = atomic_load(&e->me_requests);
		r->mr_bytes = atomic_load(&e->me_bytes);
	}
	qsort(rows, n, sizeof(*rows), metrics_row_cmp);
	for (i = 0, m = 0; i < n; i++) {
		if (m > 0 && metrics_row_cmp(&rows[m - 1], &rows[i]) == 0) {
			rows[m - 1].mr_requests += rows[i].mr_requests;
			rows[m - 1].mr_bytes += rows[i].mr_bytes;
		} else
			rows[m++] = rows[i];
	}
	e = &metrics_shm->ms_other;
	if (atomic_load(&e->me_requests) > 0) {
		r = &rows[m++];
		(void)snprintf(r->mr_registry, sizeof(r->mr_registry), "%s",
		    METRICS_OTHER);
		(void)snprintf(r->mr_method, sizeof(r->mr_method), "%s",
		    METRICS_OTHER);
		r->mr_code = 0;
		r->mr_requests = atomic_load(&e->me_requests);
		r->mr_bytes = atomic_load(&e->me_bytes);
	}
	*out = rows;
	return (m);
}

/* name="value", escaped as the text format wants; a comma unless first. */
static void
metrics_label(FILE *f, const char *name, const char *value, int first)
{
	const char	*p;

	fprintf(f, "%s%s=\"", first ? "" : ",", name);
	for (p = value; *p != '\0'; p++) {
		if (*p == '\\')
			fputs("\\\\", f);
		else if (*p == '"')
			fputs("\\\"", f);
		else if (*p == '\n')
			fputs("\\n", f);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static void
metrics_head(FILE *f, const char *name, const char *help, const char *type)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
metrics_render_requests(FILE *f)
{
	struct metrics_row	*rows;
	size_t			 i, n;
	uint64_t		 bytes;
	char			 code[16];

	n = metrics_rows(&rows);
	metrics_head(f, "depot_http_requests_total",
	    "HTTP requests answered, by registry, method and status code.",
	    "counter");
	for (i = 0; i < n; i++) {
		if (rows[i].mr_code == 0)
			(void)snprintf(code, sizeof(code), "%s",
			    METRICS_OTHER);
		else
			snprintf(code, sizeof(code), "%u", rows[i].mr_code);
		fputs("depot_http_requests_total{", f);
		metrics_label(f, "registry", rows[i].mr_registry, 1);
		metrics_label(f, "method", rows[i].mr_method, 0);
		metrics_label(f, "code", code, 0);
		fprintf(f, "} %" PRIu64 "\n", rows[i].mr_requests);
	}
	metrics_head(f, "depot_http_response_bytes_total",
	    "Bytes of HTTP response bodies sent, by registry.", "counter");
	for (i = 0; i < n; i++) {
		bytes = rows[i].mr_bytes;
		/* Rows are sorted by registry: add up each run. */
		while (i + 1 < n && strcmp(rows[i].mr_registry,
		    rows[i + 1].mr_registry) == 0)
			bytes += rows[++i].mr_bytes;
		fputs("depot_http_response_bytes_total{", f);
		metrics_label(f, "registry", rows[i].mr_registry, 1);
		fprintf(f, "} %" PRIu64 "\n", bytes);
	}
	free(rows);
}

static void
metrics_render_process(FILE *f)
{
	struct metrics_shared	*s = metrics_shm;
	int64_t			 inflight;
	size_t			 i;

	inflight = atomic_load(&s->ms_inflight_unslotted);
	for (i = 0; i < METRICS_WORKER_SLOTS; i++)
		if (atomic_load(&s->ms_worker[i].mw_pid) != 0)
			inflight += atomic_load(&s->ms_worker[i].mw_inflight);
	metrics_head(f, "depot_http_requests_in_flight",
	    "HTTP requests being answered, over all workers.", "gauge");
	fprintf(f, "depot_http_requests_in_flight %" PRId64 "\n",
	    inflight < 0 ? 0 : inflight);
	metrics_head(f, "depot_workers",
	    "Live workers of the current generation.", "gauge");
	fprintf(f, "depot_workers %" PRIu64 "\n", atomic_load(&s->ms_workers));
	metrics_head(f, "depot_worker_restarts_total",
	    "Workers that died abnormally and were replaced.", "counter");
	fprintf(f, "depot_worker_restarts_total %" PRIu64 "\n",
	    atomic_load(&s->ms_worker_restarts));
	/* No sample before the first walk of the blob store completed. */
	metrics_head(f, "depot_blob_store_bytes",
	    "Bytes of committed blobs, as of the last walk of the blob store.",
	    "gauge");
	if (atomic_load(&s->ms_blob_known))
		fprintf(f, "depot_blob_store_bytes %" PRIu64 "\n",
		    atomic_load(&s->ms_blob_bytes));
	metrics_head(f, "depot_blob_store_blobs",
	    "Committed blobs, as of the last walk of the blob store.", "gauge");
	if (atomic_load(&s->ms_blob_known))
		fprintf(f, "depot_blob_store_blobs %" PRIu64 "\n",
		    atomic_load(&s->ms_blob_count));
	metrics_head(f, "depot_upload_sessions_expired_total",
	    "Abandoned upload sessions removed by the master.", "counter");
	fprintf(f, "depot_upload_sessions_expired_total %" PRIu64 "\n",
	    atomic_load(&s->ms_uploads_expired));
	metrics_head(f, "depot_gc_runs_total",
	    "Garbage collections completed (depotctl gc and periodic).",
	    "counter");
	fprintf(f, "depot_gc_runs_total %" PRIu64 "\n",
	    atomic_load(&s->ms_gc_runs));
	metrics_head(f, "depot_gc_freed_bytes_total",
	    "Bytes of blobs removed by garbage collections.", "counter");
	fprintf(f, "depot_gc_freed_bytes_total %" PRIu64 "\n",
	    atomic_load(&s->ms_gc_bytes));
	metrics_head(f, "depot_gc_freed_blobs_total",
	    "Blobs removed by garbage collections.", "counter");
	fprintf(f, "depot_gc_freed_blobs_total %" PRIu64 "\n",
	    atomic_load(&s->ms_gc_blobs));
	metrics_head(f, "depot_gc_duration_seconds_total",
	    "Time spent in garbage collections.", "counter");
	fprintf(f, "depot_gc_duration_seconds_total %.3f\n",
	    (double)atomic_load(&s->ms_gc_msec) / 1000.0);
	metrics_head(f, "depot_gc_last_duration_seconds",
	    "Duration of the last garbage collection.", "gauge");
	fprintf(f, "depot_gc_last_duration_seconds %.3f\n",
	    (double)atomic_load(&s->ms_gc_last_msec) / 1000.0);
	metrics_render_space(f);
}

/* The cache's total and the low-space guard, once known. */
static void
metrics_render_space(FILE *f)
{
	struct metrics_shared	*s = metrics_shm;
	uint64_t		 bytes = atomic_load(&s->ms_cached_bytes);
	uint32_t		 low = atomic_load(&s->ms_low_space);

	metrics_head(f, "depot_cache_bytes_total",
	    "Bytes of blobs and manifests cached through any upstream, each "
	    "counted once, as of the last count.", "gauge");
	if (bytes > 0)
		fprintf(f, "depot_cache_bytes_total %" PRIu64 "\n", bytes - 1);
	metrics_head(f, "depot_low_space",
	    "1 while the data directory has less than min_free_bytes free.",
	    "gauge");
	if (low != 0)
		fprintf(f, "depot_low_space %d\n", low == 1);
}

void
metrics_cache_bytes_set(const char *upstream, uint64_t bytes)
{
	struct metrics_name	*e;

	if (metrics_shm == NULL)
		return;
	if (upstream == NULL) {
		atomic_store(&metrics_shm->ms_cached_bytes, bytes + 1);
		return;
	}
	if ((e = metrics_name_entry(upstream)) != NULL)
		atomic_store(&e->mn_cached_bytes, bytes + 1);
}

uint64_t
metrics_cache_bytes_add(const char *upstream, uint64_t bytes)
{
	_Atomic uint64_t	*v;
	struct metrics_name	*e;
	uint64_t		 old;

	if (metrics_shm == NULL)
		return (0);
	if (upstream == NULL)
		v = &metrics_shm->ms_cached_bytes;
	else if ((e = metrics_name_entry(upstream)) != NULL)
		v = &e->mn_cached_bytes;
	else
		return (0);
	old = atomic_load(v);
	do {
		if (old == 0)	/* not counted yet: the next count tells */
			return (0);
	} while (!atomic_compare_exchange_weak(v, &old, old + bytes));
	return (old + bytes - 1);
}

void
metrics_cache_evicted(const char *upstream, uint64_t count, uint64_t bytes)
{
	struct metrics_name	*e;

	if ((e = metrics_name_entry(upstream)) == NULL)
		return;
	atomic_fetch_add(&e->mn_evictions, count);
	atomic_fetch_add(&e->mn_evicted_bytes, bytes);
}

void
metrics_low_space_set(int low)
{
	if (metrics_shm != NULL)
		atomic_store(&metrics_shm->ms_low_space, low ? 1 : 2);
}

void
metrics_evict_request(void)
{
	if (metrics_shm != NULL)
		atomic_store(&metrics_shm->ms_evict_wanted, 1);
}

int
metrics_evict_requested(void)
{
	if (metrics_shm == NULL)
		return (0);
	return (atomic_exchange(&metrics_shm->ms_evict_wanted, 0) != 0);
}

void
metrics_counts_get(const char *name, struct metrics_counts *mc)
{
	struct metrics_name	*e;
	size_t			 i, k;

	memset(mc, 0, sizeof(*mc));
	if (metrics_shm == NULL)
		return;
	for (i = 0; i < METRICS_NAME_SLOTS; i++) {
		e = &metrics_shm->ms_name[i];
		if (atomic_load_explicit(&e->mn_state, memory_order_acquire) !=
		    METRICS_READY || strcmp(e->mn_name, name) != 0)
			continue;
		for (k = 0; k < METRICS_KINDS; k++) {
			mc->mc_hits += atomic_load(
			    &e->mn_cache[k][METRICS_CACHE_HIT]);
			mc->mc_misses += atomic_load(
			    &e->mn_cache[k][METRICS_CACHE_MISS]);
			mc->mc_stale += atomic_load(
			    &e->mn_cache[k][METRICS_CACHE_STALE]);
		}
		for (k = 0; k < METRICS_CODE_SLOTS; k++)
			mc->mc_requests += atomic_load(
			    &e->mn_code[k].mc_count);
		mc->mc_requests += atomic_load(&e->mn_code_other);
		for (k = 0; k < METRICS_REASONS; k++)
			mc->mc_errors += atomic_load(&e->mn_errors[k]);
		mc->mc_bytes += atomic_load(&e->mn_bytes);
	}
}

/* Copy the counters of e into r (which is zeroed). */
static void
metrics_name_copy(struct metrics_name_row *r, struct metrics_name *e)
{
	uint32_t	 key;
	size_t		 i, k;

	(void)snprintf(r->nr_name, sizeof(r->nr_name), "%s", e->mn_name);
	for (k = 0; k < METRICS_KINDS; k++)
		for (i = 0; i < METRICS_RESULTS; i++)
			r->nr_cache[k][i] = atomic_load(&e->mn_cache[k][i]);
	r->nr_waits = atomic_load(&e->mn_waits);
	for (i = 0; i < METRICS_CODE_SLOTS; i++) {
		if ((key = atomic_load(&e->mn_code[i].mc_code)) == 0)
			continue;
		r->nr_code[r->nr_ncode].cr_code = key - 1;
		r->nr_code[r->nr_ncode++].cr_count =
		    atomic_load(&e->mn_code[i].mc_count);
	}
	r->nr_code_other = atomic_load(&e->mn_code_other);
	for (i = 0; i < METRICS_BUCKETS; i++)
		r->nr_bucket[i] = atomic_load(&e->mn_bucket[i]);
	r->nr_sum_usecs = atomic_load(&e->mn_sum_usecs);
	for (i = 0; i < METRICS_REASONS; i++)
		r->nr_errors[i] = atomic_load(&e->mn_errors[i]);
	r->nr_ratelimit_seq = atomic_load(&e->mn_ratelimit_seq);
	r->nr_limit = atomic_load(&e->mn_limit);
	r->nr_remaining = atomic_load(&e->mn_remaining);
	r->nr_bytes = atomic_load(&e->mn_bytes);
	r->nr_bytes_seen = atomic_load(&e->mn_bytes_seen) != 0;
	r->nr_token_refreshes = atomic_load(&e->mn_token_refreshes);
	r->nr_token_failures = atomic_load(&e->mn_token_failures);
	r->nr_cached_bytes = atomic_load(&e->mn_cached_bytes);
	r->nr_evictions = atomic_load(&e->mn_evictions);
	r->nr_evicted_bytes = atomic_load(&e->mn_evicted_bytes);
}

/* Add the counters of from (a second entry of the same name) to into. */
static void
metrics_name_merge(struct metrics_name_row *into,
    const struct metrics_name_row *from)
{
	size_t	 i, j, k;

	for (k = 0; k < METRICS_KINDS; k++)
		for (i = 0; i < METRICS_RESULTS; i++)
			into->nr_cache[k][i] += from->nr_cache[k][i];
	into->nr_waits += from->nr_waits;
	into->nr_code_other += from->nr_code_other;
	for (i = 0; i < from->nr_ncode; i++) {
		for (j = 0; j < into->nr_ncode; j++)
			if (into->nr_code[j].cr_code ==
			    from->nr_code[i].cr_code)
				break;
		if (j < into->nr_ncode)
			into->nr_code[j].cr_count += from->nr_code[i].cr_count;
		else if (into->nr_ncode < METRICS_CODE_SLOTS)
			into->nr_code[into->nr_ncode++] = from->nr_code[i];
		else
			into->nr_code_other += from->nr_code[i].cr_count;
	}
	for (i = 0; i < METRICS_BUCKETS; i++)
		into->nr_bucket[i] += from->nr_bucket[i];
	into->nr_sum_usecs += from->nr_sum_usecs;
	for (i = 0; i < METRICS_REASONS; i++)
		into->nr_errors[i] += from->nr_errors[i];
	if (from->nr_ratelimit_seq > into->nr_ratelimit_seq) {
		into->nr_ratelimit_seq = from->nr_ratelimit_seq;
		into->nr_limit = from->nr_limit;
		into->nr_remaining = from->nr_remaining;
	}
	into->nr_bytes += from->nr_bytes;
	into->nr_bytes_seen |= from->nr_bytes_seen;
	into->nr_token_refreshes += from->nr_token_refreshes;
	into->nr_token_failures += from->nr_token_failures;
	if (from->nr_cached_bytes > into->nr_cached_bytes)
		into->nr_cached_bytes = from->nr_cached_bytes;
	into->nr_evictions += from->nr_evictions;
	into->nr_evicted_bytes += from->nr_evicted_bytes;
}

static int
metrics_name_row_cmp(const void *a, const void *b)
{
	const struct metrics_name_row	*x = a, *y = b;

	return (strcmp(x->nr_name, y->nr_name));
}

static int
metrics_code_row_cmp(const void *a, const void *b)
{
	const struct metrics_code_row	*x = a, *y = b;

	return (x->cr_code < y->cr_code ? -1 : x->cr_code > y->cr_code);
}

/*
 * Copy the published names, sorted, with duplicate entries added up and
 * their codes sorted, and the overflow entry last. Caller frees *out.
 */
static size_t
metrics_name_rows(struct metrics_name_row **out)
{
	struct metrics_name_row	*rows;
	struct metrics_name	*e;
	size_t			 i, n = 0, m;

	rows = xcalloc(METRICS_NAME_SLOTS + 1, sizeof(*rows));
	for (i = 0; i < METRICS_NAME_SLOTS; i++) {
		e = &metrics_shm->ms_name[i];
		if (atomic_load_explicit(&e->mn_state, memory_order_acquire) ==
		    METRICS_READY)
			metrics_name_copy(&rows[n++], e);
	}
	qsort(rows, n, sizeof(*rows), metrics_name_row_cmp);
	for (i = 0, m = 0; i < n; i++) {
		if (m > 0 && metrics_name_row_cmp(&rows[m - 1], &rows[i]) == 0)
			metrics_name_merge(&rows[m - 1], &rows[i]);
		else if (m++ != i)
			rows[m - 1] = rows[i];
	}
	metrics_name_copy(&rows[m], &metrics_shm->ms_name_other);
	(void)snprintf(rows[m].nr_name, sizeof(rows[m].nr_name), "%s",
	    METRICS_OTHER);
	m++;
	for (i = 0; i < m; i++)
		qsort(rows[i].nr_code, rows[i].nr_ncode,
		    sizeof(rows[i].nr_code[0]), metrics_code_row_cmp);
	*out = rows;
	return (m);
}

/* The HELP and TYPE lines of a series before its first sample. */
static void
metrics_head_once(FILE *f, int *done, const char *name, const char *help,
    const char *type)
{
	if (!*done)
		metrics_head(f, name, help, type);
	*done = 1;
}

/* The upstream proxy's series that have been touched. */
static void
metrics_render_upstream(FILE *f)
{
	struct metrics_name_row	*rows;
	size_t			 n;

	n = metrics_name_rows(&rows);
	metrics_render_cache(f, rows, n);
	metrics_render_codes(f, rows, n);
	metrics_render_duration(f, rows, n);
	metrics_render_errors(f, rows, n);
	metrics_render_simple(f, rows, n, METRICS_FIELD_WAITS,
	    "depot_upstream_singleflight_waits_total",
	    "Clients that waited for a blob another request was fetching.",
	    "counter", "registry");
	metrics_render_simple(f, rows, n, METRICS_FIELD_LIMIT,
	    "depot_upstream_ratelimit_limit",
	    "The upstream's pull rate limit, as last announced.", "gauge",
	    "upstream");
	metrics_render_simple(f, rows, n, METRICS_FIELD_REMAINING,
	    "depot_upstream_ratelimit_remaining",
	    "Pulls the upstream's rate limit has left, as last announced.",
	    "gauge", "upstream");
	metrics_render_simple(f, rows, n, METRICS_FIELD_BYTES,
	    "depot_upstream_received_bytes_total",
	    "Bytes of bodies received from the upstream.", "counter",
	    "upstream");
	metrics_render_simple(f, rows, n, METRICS_FIELD_TOKEN_REFRESHES,
	    "depot_upstream_token_refreshes_total",
	    "Registry tokens (ECR) fetched from the upstream's token API.",
	    "counter", "upstream");
	metrics_render_simple(f, rows, n, METRICS_FIELD_TOKEN_FAILURES,
	    "depot_upstream_token_refresh_failures_total",
	    "Registry token (ECR) refreshes that failed.", "counter",
	    "upstream");
	metrics_render_simple(f, rows, n, METRICS_FIELD_CACHED_BYTES,
	    "depot_cache_bytes",
	    "Bytes of blobs and manifests cached through the upstream, as of "
	    "the last count.", "gauge", "upstream");
	metrics_render_simple(f, rows, n, METRICS_FIELD_EVICTIONS,
	    "depot_cache_evictions_total",
	    "Blobs and manifests evicted from the upstream's cache.",
	    "counter", "upstream");
	metrics_render_simple(f, rows, n, METRICS_FIELD_EVICTED_BYTES,
	    "depot_cache_evicted_bytes_total",
	    "Bytes of the blobs and manifests evicted from the upstream's "
	    "cache.", "counter", "upstream");
	free(rows);
}

static void
metrics_render_cache(FILE *f, struct metrics_name_row *rows, size_t n)
{
	const char	*name;
	size_t		 res, i, k;
	int		 done;

	for (res = 0; res < METRICS_RESULTS; res++) {
		name = metrics_result_names[res];
		done = 0;
		for (i = 0; i < n; i++) {
			for (k = 0; k < METRICS_KINDS; k++) {
				if (rows[i].nr_cache[k][res] == 0)
					continue;
				metrics_head_once(f, &done, name,
				    metrics_result_help[res], "counter");
				fprintf(f, "%s{", name);
				metrics_label(f, "registry", rows[i].nr_name,
				    1);
				metrics_label(f, "kind", metrics_kinds[k], 0);
				fprintf(f, "} %" PRIu64 "\n",
				    rows[i].nr_cache[k][res]);
			}
		}
	}
}

static void
metrics_render_codes(FILE *f, struct metrics_name_row *rows, size_t n)
{
	const char	*name = "depot_upstream_requests_total";
	char		 code[16];
	size_t		 i, c;
	int		 done = 0;

	for (i = 0; i < n; i++) {
		/* The slot after the last is the overflow code. */
		for (c = 0; c <= rows[i].nr_ncode; c++) {
			if (c < rows[i].nr_ncode) {
				if (rows[i].nr_code[c].cr_count == 0)
					continue;
				(void)snprintf(code, sizeof(code), "%u",
				    rows[i].nr_code[c].cr_code);
			} else if (rows[i].nr_code_other > 0)
				(void)snprintf(code, sizeof(code), "%s",
				    METRICS_OTHER);
			else
				continue;
			metrics_head_once(f, &done, name, "HTTP exchanges "
			    "with an upstream, by status code (0: none).",
			    "counter");
			fprintf(f, "%s{", name);
			metrics_label(f, "upstream", rows[i].nr_name, 1);
			metrics_label(f, "code", code, 0);
			fprintf(f, "} %" PRIu64 "\n", c < rows[i].nr_ncode ?
			    rows[i].nr_code[c].cr_count :
			    rows[i].nr_code_other);
		}
	}
}

static void
metrics_render_duration(FILE *f, struct metrics_name_row *rows, size_t n)
{
	const char	*name = "depot_upstream_request_duration_seconds";
	uint64_t	 count;
	size_t		 i, b;
	int		 done = 0;

	for (i = 0; i < n; i++) {
		for (b = 0, count = 0; b < METRICS_BUCKETS; b++)
			count += rows[i].nr_bucket[b];
		if (count == 0)
			continue;
		metrics_head_once(f, &done, name,
		    "How long HTTP exchanges with an upstream took.",
		    "histogram");
		for (b = 0, count = 0; b < METRICS_BUCKETS; b++) {
			count += rows[i].nr_bucket[b];
			fprintf(f, "%s_bucket{", name);
			metrics_label(f, "upstream", rows[i].nr_name, 1);
			metrics_label(f, "le", metrics_bound_text[b], 0);
			fprintf(f, "} %" PRIu64 "\n", count);
		}
		fprintf(f, "%s_sum{", name);
		metrics_label(f, "upstream", rows[i].nr_name, 1);
		fprintf(f, "} %" PRIu64 ".%06" PRIu64 "\n",
		    rows[i].nr_sum_usecs / 1000000,
		    rows[i].nr_sum_usecs % 1000000);
		fprintf(f, "%s_count{", name);
		metrics_label(f, "upstream", rows[i].nr_name, 1);
		fprintf(f, "} %" PRIu64 "\n", count);
	}
}

static void
metrics_render_errors(FILE *f, struct metrics_name_row *rows, size_t n)
{
	const char	*name = "depot_upstream_errors_total";
	size_t		 i, r;
	int		 done = 0;

	for (i = 0; i < n; i++) {
		for (r = 0; r < METRICS_REASONS; r++) {
			if (rows[i].nr_errors[r] == 0)
				continue;
			metrics_head_once(f, &done, name,
			    "Failures of upstream requests, by reason.",
			    "counter");
			fprintf(f, "%s{", name);
			metrics_label(f, "upstream", rows[i].nr_name, 1);
			metrics_label(f, "reason", metrics_reasons[r], 0);
			fprintf(f, "} %" PRIu64 "\n", rows[i].nr_errors[r]);
		}
	}
}

/* The value of a one-sample series of r; 0 when it has no sample. */
static int
metrics_field(const struct metrics_name_row *r, enum metrics_field field,
    uint64_t *value)
{
	switch (field) {
	case METRICS_FIELD_WAITS:
		*value = r->nr_waits;
		return (r->nr_waits > 0);
	case METRICS_FIELD_LIMIT:
		*value = (uint64_t)r->nr_limit - 1;
		return (r->nr_limit > 0);
	case METRICS_FIELD_REMAINING:
		*value = (uint64_t)r->nr_remaining - 1;
		return (r->nr_remaining > 0);
	case METRICS_FIELD_BYTES:
		*value = r->nr_bytes;
		return (r->nr_bytes_seen);
	case METRICS_FIELD_TOKEN_REFRESHES:
		*value = r->nr_token_refreshes;
		return (r->nr_token_refreshes > 0 || r->nr_token_failures > 0);
	case METRICS_FIELD_TOKEN_FAILURES:
		*value = r->nr_token_failures;
		return (r->nr_token_refreshes > 0 || r->nr_token_failures > 0);
	case METRICS_FIELD_CACHED_BYTES:
		*value = r->nr_cached_bytes - 1;
		return (r->nr_cached_bytes > 0);
	case METRICS_FIELD_EVICTIONS:
		*value = r->nr_evictions;
		return (r->nr_cached_bytes > 0 || r->nr_evictions > 0);
	case METRICS_FIELD_EVICTED_BYTES:
		*value = r->nr_evicted_bytes;
		return (r->nr_cached_bytes > 0 || r->nr_evictions > 0);
	}
	return (0);
}

/* A series with one sample per name, labelled label. */
static void
metrics_render_simple(FILE *f, struct metrics_name_row *rows, size_t n,
    enum metrics_field field, const char *name, const char *help,
    const char *type, const char *label)
{
	uint64_t	 value;
	size_t		 i;
	int		 done = 0;

	for (i = 0; i < n; i++) {
		if (!metrics_field(&rows[i], field, &value))
			continue;
		metrics_head_once(f, &done, name, help, type);
		fprintf(f, "%s{", name);
		metrics_label(f, label, rows[i].nr_name, 1);
		fprintf(f, "} %" PRIu64 "\n", value);
	}
}
