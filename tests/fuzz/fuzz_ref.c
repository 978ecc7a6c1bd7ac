/*
 * fuzz_ref.c: libFuzzer target for the name rules of ref.c: registry
 * names (ref_name_valid), OCI repository names (ref_repository_valid)
 * and tags (ref_tag_valid). Whatever is accepted is checked here against
 * the grammar written out again; whatever is refused must say why.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "depot.h"
#include "lib/ref.h"
#include "fuzz_util.h"

static int	fuzz_lower_alnum(int);
static void	fuzz_refused(int, char *);
static void	fuzz_component(const char *, size_t);

static int
fuzz_lower_alnum(int c)
{
	return ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'));
}

/* A result and its cause: a refusal has one, an acceptance none. */
static void
fuzz_refused(int rc, char *cause)
{
	if (rc == -1 && (cause == NULL || *cause == '\0'))
		abort();
	if (rc == 0 && cause != NULL)
		abort();
	if (rc != 0 && rc != -1)
		abort();
	free(cause);
}

/* [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)* */
static void
fuzz_component(const char *s, size_t n)
{
	size_t	 i = 0, sep;

	if (n == 0 || !fuzz_lower_alnum((unsigned char)s[0]) ||
	    !fuzz_lower_alnum((unsigned char)s[n - 1]))
		abort();
	while (i < n) {
		if (fuzz_lower_alnum((unsigned char)s[i])) {
			i++;
			continue;
		}
		sep = i;
		while (i < n && !fuzz_lower_alnum((unsigned char)s[i]))
			i++;
		if (strspn(s + sep, "-") >= i - sep)
			continue;
		if ((i - sep == 1 && (s[sep] == '.' || s[sep] == '_')) ||
		    (i - sep == 2 && s[sep] == '_' && s[sep + 1] == '_'))
			continue;
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		*s, *cause;
	const char	*p, *slash;
	size_t		 n, i;
	int		 rc;

	fuzz_init_log();
	s = fuzz_string(data, size);
	n = strlen(s);

	cause = NULL;
	rc = ref_name_valid(s, &cause);
	fuzz_refused(rc, cause);
	if (rc == 0) {
		if (n < 1 || n > 64 || s[0] < 'a' || s[0] > 'z')
			abort();
		for (i = 0; i < n; i++)
			if (!fuzz_lower_alnum((unsigned char)s[i]) &&
			    strchr("_.-", s[i]) == NULL)
				abort();
	}
	/* Without a cause pointer, the same answer. */
	if (ref_name_valid(s, NULL) != rc)
		abort();

	cause = NULL;
	rc = ref_repository_valid(s, &cause);
	fuzz_refused(rc, cause);
	if (rc == 0) {
		if (n > DEPOT_REPO_MAX)
			abort();
		for (p = s;; p = slash + 1) {
			slash = strchr(p, '/');
			fuzz_component(p, slash != NULL ? (size_t)(slash - p) :
			    strlen(p));
			if (slash == NULL)
				break;
		}
	}
	if (ref_repository_valid(s, NULL) != rc)
		abort();

	cause = NULL;
	rc = ref_tag_valid(s, &cause);
	fuzz_refused(rc, cause);
	if (rc == 0) {
		if (n < 1 || n > 128 || s[0] == '.' || s[0] == '-')
			abort();
		for (i = 0; i < n; i++)
			if (!((s[i] >= 'a' && s[i] <= 'z') ||
			    (s[i] >= 'A' && s[i] <= 'Z') ||
			    (s[i] >= '0' && s[i] <= '9') ||
			    strchr("_.-", s[i]) != NULL))
				abort();
	}
	if (ref_tag_valid(s, NULL) != rc)
		abort();

	/* Any bytes, NULs included, for the Helm upload path test. */
	rc = ref_helm_upload_path((const char *)data, size);
	if (rc != 0 && rc != 1)
		abort();

	free(s);
	return (0);
}

#include "fuzz_main.h"
