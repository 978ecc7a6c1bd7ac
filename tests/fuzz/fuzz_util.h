/*
 * fuzz_util.h: helpers the fuzz targets share: the input as a string,
 * splitting it into fields, a private temporary directory for parsers
 * that read files, and logging turned all the way up (every message is
 * formatted, so a bad format argument shows) while libFuzzer's
 * -close_fd_mask=2 keeps it quiet. Included by a target only.
 */
#ifndef DEPOT_FUZZ_UTIL_H
#define DEPOT_FUZZ_UTIL_H

#include <sys/stat.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "lib/log.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* data as a NUL-terminated string (the parser sees up to the first NUL). */
static inline char *
fuzz_string(const uint8_t *data, size_t size)
{
	char	*s;

	if ((s = malloc(size + 1)) == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return (s);
}

/*
 * The next field of *data: the bytes up to a 0xff byte (or the end) as a
 * string, consumed. NULL once nothing is left.
 */
static inline char *
fuzz_field(const uint8_t **data, size_t *size)
{
	const uint8_t	*end;
	char		*s;
	size_t		 n;

	if (*size == 0)
		return (NULL);
	end = memchr(*data, 0xff, *size);
	n = end != NULL ? (size_t)(end - *data) : *size;
	s = fuzz_string(*data, n);
	*data += n;
	*size -= n;
	if (*size > 0) {
		(*data)++;
		(*size)--;
	}
	return (s);
}

static inline char *
fuzz_dir_buf(void)
{
	static char	 dir[64];

	return (dir);
}

static inline void
fuzz_dir_remove(void)
{
	char	*fuzz_dir = fuzz_dir_buf(), cmd[128];

	if (fuzz_dir[0] != '\0' && strchr(fuzz_dir, '\'') == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fuzz_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", fuzz_dir);
	}
}

/* A private directory, made once, removed at exit. */
static inline const char *
fuzz_tmpdir(void)
{
	char		*fuzz_dir = fuzz_dir_buf();
	const char	*tmp;

	if (fuzz_dir[0] == '\0') {
		/* Memory when there is some: files are fsynced. */
		tmp = getenv("TMPDIR");
		if (tmp == NULL || strlen(tmp) > 40)
			tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" :
			    "/tmp";
		snprintf(fuzz_dir, 64, "%s/depot-fuzz.XXXXXX", tmp);
		if (mkdtemp(fuzz_dir) == NULL) {
			perror("mkdtemp");
			abort();
		}
		atexit(fuzz_dir_remove);
	}
	return (fuzz_dir);
}

/* Write size bytes of data to path (in fuzz_tmpdir()). */
static inline void
fuzz_write_file(const char *path, const void *data, size_t size)
{
	FILE	*f;

	if ((f = fopen(path, "wb")) == NULL) {
		perror(path);
		abort();
	}
	if (size > 0 && fwrite(data, 1, size, f) != size) {
		perror(path);
		abort();
	}
	if (fclose(f) != 0)
		abort();
}

static inline void
fuzz_init_log(void)
{
	static int	 done;

	if (!done) {
		log_setlevel(LOG_DEBUG);
		done = 1;
	}
}

#endif /* DEPOT_FUZZ_UTIL_H */
