/*
 * space.h: the low-space guard (min_free_bytes). While the file system
 * of the data directory has less free space than the threshold, fills
 * stream without caching and uploads are refused with 507; both resume
 * by themselves once space is free again. The answer is cached per
 * process and statvfs asked at most once a second, so it is cheap on
 * every request.
 */
#ifndef DEPOT_SPACE_H
#define DEPOT_SPACE_H

#include <stdint.h>

/*
 * 1 when the file system of data_dir has fewer than min_free bytes
 * available to unprivileged users, 0 when not, or when min_free is 0 or
 * statvfs fails (logged once per failure streak).
 */
int	space_low(const char *data_dir, long long min_free);
/* Bytes available as last seen by space_low (-1 unknown). */
long long space_free_bytes(void);
/*
 * This process logs the changes of the state and publishes it in
 * /metrics (depot_low_space); the master calls it once.
 */
void	space_announce(void);
/* Forget the cached answer: the next space_low asks statvfs (tests). */
void	space_forget(void);

#endif /* DEPOT_SPACE_H */
