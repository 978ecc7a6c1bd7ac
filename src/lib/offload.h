/*
 * offload.h: run a function in a thread of its own, then a callback on
 * the worker's event loop once it returned.
 *
 * For the few steps that take milliseconds and cannot be cut into small
 * ones: an fsync, the hash of a whole file, writing back a part file.
 * The work runs in a new thread and must touch nothing the loop uses
 * (no libevent, no index, no request): only what its argument owns. The
 * done callback runs later on the loop, never inside offload_run, and
 * may use everything again.
 */
#ifndef DEPOT_OFFLOAD_H
#define DEPOT_OFFLOAD_H

struct event_base;

/* For tests: commit jobs wait while the file this names exists. */
#define OFFLOAD_HOLD_ENV	"DEPOT_TEST_COMMIT_HOLD"

/*
 * Run work(arg) in a thread, then done(arg) on base's loop. When no
 * thread can be had (out of descriptors or threads; logged) work runs at
 * once in the caller, and done still follows from the loop. done is
 * called exactly once either way.
 */
void	offload_run(struct event_base *base, void (*work)(void *),
	    void (*done)(void *), void *arg);

/*
 * Close fd, in a thread when that close may take long: the last close of
 * a large file whose names are all gone frees its blocks, which on a
 * filesystem mounted with discard waits for the device (150 ms for a
 * 400 MB upload seen here). Other descriptors are closed at once.
 */
void	offload_close(struct event_base *base, int fd);

/* Jobs started and not yet done (their done callback has not run). */
unsigned int	offload_pending(void);

/*
 * For tests, called in a commit job's thread: wait (at most two minutes)
 * while the file named by $DEPOT_TEST_COMMIT_HOLD exists.
 */
void	offload_test_hold(void);
/* The same, for the file named by the environment variable env. */
void	offload_test_hold_env(const char *env);

#endif /* DEPOT_OFFLOAD_H */
