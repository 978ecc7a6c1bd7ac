/*
 * fuzz_chart_yaml.c: libFuzzer target for the Chart.yaml check of an
 * uploaded Helm chart (helm_chart_parse, helm/helm_chart.c) and the
 * SemVer order. The input is fields split at 0xff bytes: Chart.yaml,
 * then two versions.
 * - A chart accepted has a valid name and SemVer version; its index
 *   entry, rendered as YAML (helm_json_yaml), reads back as the same
 *   chart with the same kept fields. A refusal says why.
 * - helm_semver_cmp is a total order: antisymmetric, and 0 only for
 *   equal strings.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "helm/helm_chart.h"
#include "fuzz_util.h"

static int	fuzz_sign(int);
static void	fuzz_chart(const char *, size_t);
static void	fuzz_order(const char *, const char *);

static int
fuzz_sign(int v)
{
	return ((v > 0) - (v < 0));
}

static void
fuzz_chart(const char *yaml, size_t len)
{
	struct helm_chart	 c, again;
	char			*cause = NULL, *entry, *out;
	size_t			 outlen;

	if (helm_chart_parse(yaml, len, &c, &cause) == -1) {
		if (cause == NULL || *cause == '\0' || c.hc_name != NULL ||
		    c.hc_version != NULL || c.hc_meta != NULL)
			abort();
		free(cause);
		return;
	}
	if (cause != NULL || !helm_name_ok(c.hc_name) ||
	    !helm_semver_ok(c.hc_version) || !json_is_object(c.hc_meta) ||
	    helm_semver_cmp(c.hc_version, c.hc_version) != 0)
		abort();
	entry = helm_entry_json(&c, "0123456789abcdef0123456789abcdef"
	    "0123456789abcdef0123456789abcdef", 1700000000);
	if ((out = helm_json_yaml(entry, &outlen)) == NULL)
		abort();
	if (helm_chart_parse(out, outlen, &again, &cause) == -1) {
		abort();
	}
	if (strcmp(again.hc_name, c.hc_name) != 0 ||
	    strcmp(again.hc_version, c.hc_version) != 0 ||
	    !json_equal(again.hc_meta, c.hc_meta))
		abort();
	helm_chart_clear(&again);
	free(out);
	free(entry);
	helm_chart_clear(&c);
}

static void
fuzz_order(const char *a, const char *b)
{
	int	 ab = fuzz_sign(helm_semver_cmp(a, b));

	if (ab != -fuzz_sign(helm_semver_cmp(b, a)))
		abort();
	if ((ab == 0) != (strcmp(a, b) == 0))
		abort();
	if (helm_semver_cmp(a, a) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t	*end;
	char		*a, *b;
	size_t		 ylen;

	fuzz_init_log();
	/* Chart.yaml may hold any byte but 0xff (not UTF-8 anyway). */
	end = memchr(data, 0xff, size);
	ylen = end != NULL ? (size_t)(end - data) : size;
	fuzz_chart((const char *)data, ylen);
	data += ylen;
	size -= ylen;
	if (size > 0) {
		data++;
		size--;
	}
	if ((a = fuzz_field(&data, &size)) == NULL)
		return (0);
	if ((b = fuzz_field(&data, &size)) == NULL)
		b = fuzz_string(data, 0);
	fuzz_order(a, b);
	free(a);
	free(b);
	return (0);
}

#include "fuzz_main.h"
