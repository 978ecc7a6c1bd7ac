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
 */
#include <sys/types.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "util.h"
#include "xmalloc.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION	"unknown"
#endif

#define METRICS_EMPTY	0
#define METRICS_BUSY	1
#define METRICS_READY	2

#define METRICS_WALK_DEPTH	2	/* blobs/<alg>/<2 hex>/<blob> */

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

struct metrics_shared {
	_Atomic uint64_t	 ms_worker_restarts;
	_Atomic uint64_t	 ms_workers;
	_Atomic uint64_t	 ms_uploads_expired;
	_Atomic uint64_t	 ms_blob_bytes;
	_Atomic uint64_t	 ms_blob_count;
	_Atomic uint32_t	 ms_blob_known;	/* a walk has completed */
	_Atomic int64_t		 ms_inflight_unslotted;
	struct metrics_entry	 ms_other;	/* the table was full */
	struct metrics_worker	 ms_worker[METRICS_WORKER_SLOTS];
	struct metrics_entry	 ms_entry[METRICS_LABEL_SLOTS];
};

/* A copy of one label set, for rendering. */
struct metrics_row {
	char		 mr_registry[DEPOT_NAME_MAX + 1];
	char		 mr_method[METRICS_METHOD_MAX + 1];
	unsigned int	 mr_code;
	uint64_t	 mr_requests;
	uint64_t	 mr_bytes;
};

static struct metrics_shared	*metrics_shm;
static struct metrics_worker	*metrics_self;	/* this worker's slot */
static long long		 metrics_walk_next_ms;

static uint32_t	 metrics_hash(const char *, const char *, unsigned int);
static int	 metrics_key_equal(struct metrics_entry *, const char *,
		    const char *, unsigned int);
static struct metrics_entry *metrics_lookup(const char *, const char *,
		    unsigned int);
static int	 metrics_walk(int, int, uint64_t *, uint64_t *);
static int	 metrics_row_cmp(const void *, const void *);
static size_t	 metrics_rows(struct metrics_row **);
static void	 metrics_label(FILE *, const char *, const char *, int);
static void	 metrics_head(FILE *, const char *, const char *,
		    const char *);
static void	 metrics_render_requests(FILE *);
static void	 metrics_render_process(FILE *);

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

/* FNV-1a over the label values. */
static uint32_t
metrics_hash(const char *registry, const char *method, unsigned int code)
{
	uint32_t	 h = 2166136261u;
	const char	*p;

	for (p = registry; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	h = (h ^ 0xff) * 16777619u;
	for (p = method; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
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
		state = atomic_load_explicit(&e->me_state,
		    memory_order_acquire);
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
			/* Lost the race: state now holds the winner's. */
		}
		if (state == METRICS_READY &&
		    metrics_key_equal(e, registry, method, code))
			return (e);
	}
	return (NULL);
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
}
