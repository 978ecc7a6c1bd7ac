/*
 * space.c: the low-space guard: statvfs of the data directory, cached
 * for SPACE_CHECK_MS, compared with min_free_bytes. The state is also
 * published in /metrics (depot_low_space) and changes are logged by the
 * one process that announces them (the master, every second), not by
 * each worker.
 */
#include <sys/types.h>
#include <sys/statvfs.h>

#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "store/space.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/util.h"

#define SPACE_CHECK_MS	1000

static long long	 space_checked_ms = -SPACE_CHECK_MS;
static long long	 space_free = -1;
static int		 space_was_low = -1;	/* unknown */
static int		 space_failed;
static pid_t		 space_announcer;	/* logs and publishes changes */

int
space_low(const char *data_dir, long long min_free)
{
	struct statvfs	 sv;
	long long	 now;
	int		 low;

	now = now_ms();
	if (min_free <= 0 || data_dir == NULL)
		min_free = 0;	/* off: only the state goes back to fine */
	else if (now - space_checked_ms >= SPACE_CHECK_MS ||
	    now < space_checked_ms) {
		space_checked_ms = now;
		if (statvfs(data_dir, &sv) == -1) {
			if (!space_failed)
				log_warn("%s: statvfs %s", __func__, data_dir);
			space_failed = 1;
			space_free = -1;
		} else {
			space_failed = 0;
			space_free = (long long)sv.f_bavail *
			    (long long)sv.f_frsize;
		}
	}
	low = min_free > 0 && space_free >= 0 && space_free < min_free;
	if (low != space_was_low && space_announcer == getpid()) {
		if (low)
			log_warnx("low on space: %lld bytes free in %s, "
			    "min_free_bytes %lld: not caching, refusing "
			    "uploads", space_free, data_dir, min_free);
		else if (space_was_low == 1)
			log_info("space is free again in %s: caching and "
			    "uploads resume", data_dir);
		metrics_low_space_set(low);
	}
	space_was_low = low;
	return (low);
}

long long
space_free_bytes(void)
{
	return (space_free);
}

/*
 * This process (the master) logs and publishes the changes; the workers
 * and runs it forks later do not, though they inherit the call.
 */
void
space_announce(void)
{
	space_announcer = getpid();
}

void
space_forget(void)
{
	space_checked_ms = now_ms() - SPACE_CHECK_MS;
}
