/*
 * fuzz_helm_index.c: libFuzzer target for the streaming parse of an
 * upstream's index.yaml (helm_index_parse, helm/helm_index.c), with
 * files in a private temporary directory. An index accepted becomes a
 * member file that renders (helm_render) into an index.yaml which,
 * parsed again, keeps every entry (a version listed twice counts once);
 * a second round changes nothing. A refusal says why and leaves no
 * member file. Nothing is left allocated or open.
 */
#include <sys/types.h>

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helm/helm_index.h"
#include "fuzz_util.h"

#define FUZZ_INDEX_URL	"https://charts.example.com/stable/index.yaml"

static void	fuzz_copy(int, const char *);
static size_t	fuzz_cycle(const char *, const char *);

/* Copy the open file fd to path, and close fd. */
static void
fuzz_copy(int fd, const char *path)
{
	char	 buf[8192];
	FILE	*f;
	ssize_t	 n;

	if ((f = fopen(path, "wb")) == NULL)
		abort();
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (fwrite(buf, 1, (size_t)n, f) != (size_t)n)
			abort();
	if (n == -1 || fclose(f) != 0)
		abort();
	close(fd);
}

/*
 * Render the member file from, parse the index.yaml rendered into the
 * member file to: the number of entries; every one is kept.
 */
static size_t
fuzz_cycle(const char *from, const char *to)
{
	const char	*dir = fuzz_tmpdir(), *members[1];
	char		 render[128], again[128], name[128], *cause = NULL;
	size_t		 entries, skipped;
	int		 fd;

	snprintf(render, sizeof(render), "%s/render", dir);
	snprintf(again, sizeof(again), "%s/again.yaml", dir);
	(void)mkdir(render, 0700);
	members[0] = from;
	if (helm_render(render, members, 1, &cause) == -1) {
		fprintf(stderr, "render: %s\n", cause);
		abort();
	}
	if (helm_render_open(render, 0, name, sizeof(name), &fd) == -1)
		abort();
	fuzz_copy(fd, again);
	if (helm_index_parse(again, FUZZ_INDEX_URL, to, &entries, &skipped,
	    &cause) == -1 || skipped != 0) {
		fprintf(stderr, "rendered index.yaml (%s) refused: %s, "
		    "%zu skipped\n", again, cause != NULL ? cause : "-",
		    skipped);
		abort();
	}
	return (entries);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*dir = fuzz_tmpdir();
	char		 in[128], member[128], member2[128], *cause = NULL;
	size_t		 entries = 0, skipped = 0, entries2;
	int64_t		 gen;

	fuzz_init_log();
	snprintf(in, sizeof(in), "%s/index.yaml", dir);
	snprintf(member, sizeof(member), "%s/member", dir);
	snprintf(member2, sizeof(member2), "%s/member2", dir);
	(void)unlink(member);
	fuzz_write_file(in, data, size);

	if (helm_index_parse(in, FUZZ_INDEX_URL, member, &entries, &skipped,
	    &cause) == -1) {
		if (cause == NULL || *cause == '\0')
			abort();
		free(cause);
		if (access(member, F_OK) == 0)
			abort();
		return (0);
	}
	if (helm_member_gen(member, &gen) != 0)
		abort();
	/* Rendered and parsed again: versions listed twice are one. */
	entries2 = fuzz_cycle(member, member2);
	if (entries2 > entries || (entries2 == 0) != (entries == 0))
		abort();
	/* From there on, nothing changes. */
	if (fuzz_cycle(member2, member) != entries2)
		abort();
	return (0);
}

#include "fuzz_main.h"
