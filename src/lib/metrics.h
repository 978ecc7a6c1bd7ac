/*
 * metrics.h: the counters and gauges of GET /metrics, shared by every
 * process of depotd, and their Prometheus text rendering.
 *
 * The master creates one shared memory segment (MAP_SHARED |
 * MAP_ANONYMOUS) before it forks the first worker and keeps it across
 * reloads, so workers of every generation inherit it. Updates are
 * lock-free C11 atomics; a scrape answered by any worker renders the sums
 * over all of them. The segment has a fixed size: label sets live in a
 * bounded hash table, and label values are only configured registry
 * names and upstream keys, HTTP method names, status codes and fixed
 * strings, never other client input.
 *
 * Series:
 *   depot_build_info{version}				gauge, 1
 *   depot_http_requests_total{registry,method,code}	counter
 *   depot_http_response_bytes_total{registry}		counter
 *   depot_http_requests_in_flight				gauge
 *   depot_workers						gauge
 *   depot_worker_restarts_total				counter
 *   depot_blob_store_bytes, depot_blob_store_blobs	gauges
 *   depot_upload_sessions_expired_total			counter
 *   depot_cache_bytes_total, depot_low_space		gauges, once known
 *   depot_gc_runs_total, depot_gc_freed_bytes_total,
 *   depot_gc_freed_blobs_total, depot_gc_duration_seconds_total	counter
 *   depot_gc_last_duration_seconds				gauge
 *
 * registry is "" for /v2/, /v2/_catalog and paths outside /v2/. When the
 * label table is full, new label sets are counted in the series whose
 * labels are all METRICS_OTHER (not a valid registry name).
 *
 * The upstream proxy's series, rendered only once touched:
 *   depot_upstream_cache_hits_total{registry,kind}	counter
 *   depot_upstream_cache_misses_total{registry,kind}	counter
 *   depot_upstream_cache_stale_total{registry,kind}	counter
 *   depot_upstream_requests_total{upstream,code}		counter
 *   depot_upstream_request_duration_seconds{upstream}	histogram
 *   depot_upstream_errors_total{upstream,reason}		counter
 *   depot_upstream_singleflight_waits_total{registry}	counter
 *   depot_upstream_ratelimit_limit{upstream}		gauge
 *   depot_upstream_ratelimit_remaining{upstream}		gauge
 *   depot_upstream_received_bytes_total{upstream}	counter
 *   depot_cache_bytes{upstream}				gauge
 *   depot_cache_evictions_total{upstream}		counter
 *   depot_cache_evicted_bytes_total{upstream}		counter
 *
 * Their registry and upstream labels are names that pass the name rule
 * of ref_name_valid(); kind is manifest, blob or tags; code is the
 * upstream's status (0: no answer), at most METRICS_CODE_SLOTS codes per
 * upstream; reason is one of the fixed strings below, or "other". A name
 * that breaks the rule, any other kind or code, and new names once
 * METRICS_NAME_SLOTS are taken are counted as METRICS_OTHER. The
 * duration buckets are 5, 10, 25, 50, 100, 250 and 500 ms, 1, 2.5, 5,
 * 10, 30 and 60 s; the rate-limit gauges have a sample only while the
 * value is known.
 */
#ifndef DEPOT_METRICS_H
#define DEPOT_METRICS_H

#include <sys/types.h>

#include <stdint.h>

#include "depot.h"

#define METRICS_LABEL_SLOTS	1024	/* label sets of the request series */
#define METRICS_NAME_SLOTS	256	/* registries and upstreams */
#define METRICS_CODE_SLOTS	16	/* status codes per upstream */
#define METRICS_WORKER_SLOTS	1024	/* processes counting in-flight */
#define METRICS_METHOD_MAX	7	/* "OPTIONS" */
#define METRICS_OTHER		"_other"
#define METRICS_WALK_SLOW_MS	200	/* a walk this long ... */
#define METRICS_WALK_PAUSE_SECS	300	/* ... is repeated this late */

/*
 * Create the shared segment; the master calls it once, before forking.
 * 0, or -1 after logging. Calling it again while it exists is a no-op.
 */
int	metrics_init(void);
/* Unmap the segment (tests; the master at exit). */
void	metrics_close(void);

/* A new worker claims its in-flight slot. */
void	metrics_worker_attach(void);
/* The master reaped pid: forget what it had in flight. */
void	metrics_worker_detach(pid_t);

/* A request starts (+1) or ends (-1) in this process. */
void	metrics_inflight_add(int);
/*
 * Count one answered request. registry must be a configured registry
 * name or upstream key, or ""; method one of the HTTP method names.
 * Anything that does not fit is counted under METRICS_OTHER.
 */
void	metrics_request(const char *registry, const char *method, int code,
	    uint64_t bytes);

enum metrics_cache_result {
	METRICS_CACHE_HIT,
	METRICS_CACHE_MISS,
	METRICS_CACHE_STALE
};

/*
 * A pull answered from the cache (hit), fetched from an upstream (miss),
 * or served stale because no upstream answered. registry: configured
 * registry or upstream key name; kind: "manifest", "blob" or "tags".
 */
void	metrics_cache(const char *registry, const char *kind,
	    enum metrics_cache_result);
/*
 * One finished HTTP exchange with an upstream: its status code (0 when
 * none arrived) and how long it took.
 */
void	metrics_upstream_request(const char *upstream, int code,
	    double seconds);
/*
 * An upstream failure, reason one of: "connect", "timeout", "tls",
 * "network", "protocol", "auth", "digest", "status" (5xx), "ratelimited"
 * (429), "skipped" (breaker open or Retry-After pending). Other reasons
 * count as "other".
 */
void	metrics_upstream_error(const char *upstream, const char *reason);
/*
 * A client that waited for (followed) a blob another request was
 * already fetching.
 */
void	metrics_singleflight_wait(const char *registry);
/*
 * Docker Hub's rate-limit headers as last seen: limit and remaining, -1
 * when unknown.
 */
void	metrics_upstream_ratelimit(const char *upstream, long limit,
	    long remaining);
/* A registry token refresh (ECR GetAuthorizationToken): ok, or failed. */
void	metrics_upstream_token(const char *upstream, int ok);
/* Bytes received from an upstream (bodies). */
void	metrics_upstream_bytes(const char *upstream, uint64_t bytes);

/* What the counters of one registry or upstream name say, summed. */
struct metrics_counts {
	uint64_t	 mc_hits;	/* cache results, every kind */
	uint64_t	 mc_misses;
	uint64_t	 mc_stale;
	uint64_t	 mc_requests;	/* exchanges with the upstream */
	uint64_t	 mc_errors;	/* failures, every reason */
	uint64_t	 mc_bytes;	/* received from the upstream */
};
/* Read the counters of name (zero when never touched); no entry is made. */
void	metrics_counts_get(const char *name, struct metrics_counts *);

/* Master-side updates. */
void	metrics_worker_restarted(void);
void	metrics_workers_set(int);
void	metrics_uploads_expired(uint64_t);
/*
 * The garbage collection's totals, which runs in depotctl and in the
 * master's children keep in the index (gc.h); the master copies them
 * here.
 */
struct metrics_gc {
	uint64_t	 mg_runs;
	uint64_t	 mg_bytes;
	uint64_t	 mg_blobs;
	uint64_t	 mg_msec;
	uint64_t	 mg_last_msec;
};
void	metrics_gc_set(const struct metrics_gc *);
void	metrics_blob_store_set(uint64_t bytes, uint64_t blobs);
/*
 * Walk data_dir/blobs and set the blob store gauges. A walk that took
 * more than METRICS_WALK_SLOW_MS is not repeated for
 * METRICS_WALK_PAUSE_SECS (calls in between return at once); force
 * walks anyway. 0, or -1 when blobs/ cannot be read.
 */
int	metrics_blob_store_update(const char *data_dir, int force);

/*
 * Cache limits. The bytes cached through upstream (NULL: through any,
 * each blob once), as counted by an eviction run; _add adds a fill's
 * bytes to that count and returns the new value (0 while nothing was
 * counted yet). An eviction run's evictions of upstream's content.
 */
void	metrics_cache_bytes_set(const char *upstream, uint64_t bytes);
uint64_t metrics_cache_bytes_add(const char *upstream, uint64_t bytes);
void	metrics_cache_evicted(const char *upstream, uint64_t count,
	    uint64_t bytes);
/* The low-space guard's state, as a process last saw it. */
void	metrics_low_space_set(int low);
/*
 * A worker asks the master for an eviction run (a fill took an upstream
 * over its limit); the master takes the request (1) or finds none (0).
 * The flag lives in this segment because every process maps it.
 */
void	metrics_evict_request(void);
int	metrics_evict_requested(void);

/*
 * The Prometheus text exposition (format 0.0.4) of every series, or NULL
 * when there is no segment. Caller frees.
 */
char	*metrics_render(void);

#endif /* DEPOT_METRICS_H */
