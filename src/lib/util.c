/*
 * util.c: checked path formatting, directories, durable writes, clocks.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/util.h"

int
path_fmt(char *buf, size_t len, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	return (0);
}

int
mkdir_p(const char *path, mode_t mode)
{
	char	 tmp[4096], *p;

	if (path_fmt(tmp, sizeof(tmp), "%s", path) == -1)
		return (-1);
	for (p = tmp + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) == -1 && errno != EEXIST)
			return (-1);
		*p = '/';
	}
	if (mkdir(tmp, mode) == -1 && errno != EEXIST)
		return (-1);
	return (0);
}

int
fsync_parent(const char *path)
{
	char	 tmp[4096];
	int	 fd, rv, saved_errno;

	if (path_fmt(tmp, sizeof(tmp), "%s", path) == -1)
		return (-1);
	if ((fd = open(dirname(tmp), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return (-1);
	rv = fsync(fd);
	saved_errno = errno;
	close(fd);
	errno = saved_errno;
	return (rv);
}

int
write_all(int fd, const void *buf, size_t len)
{
	const char	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		p += n;
		len -= (size_t)n;
	}
	return (0);
}

long long
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}
