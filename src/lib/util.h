/*
 * util.h: small helpers for paths, directories and files.
 */
#ifndef DEPOT_UTIL_H
#define DEPOT_UTIL_H

#include <sys/types.h>

#include <stddef.h>

#include "depot.h"

/* snprintf that returns -1 (errno ENAMETOOLONG) on truncation. */
int	path_fmt(char *buf, size_t len, const char *fmt, ...) PRINTFLIKE(3, 4);
/* mkdir -p; existing directories are fine. */
int	mkdir_p(const char *path, mode_t mode);
/* fsync the directory that holds path (so a rename is durable). */
int	fsync_parent(const char *path);
/* Write len bytes, retrying on EINTR and short writes. */
int	write_all(int fd, const void *buf, size_t len);
/* Monotonic time in milliseconds. */
long long	now_ms(void);

#endif /* DEPOT_UTIL_H */
