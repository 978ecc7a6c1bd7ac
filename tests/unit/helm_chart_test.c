/*
 * helm_chart_test.c: Chart.yaml read from chart archives and checked
 * (good charts, bad archives, bad metadata), SemVer 2 precedence, the
 * YAML of an entry, member files and the merged index.yaml, a page of
 * that merge for the API, the streaming parse of an upstream index, and RFC 3986 URL resolution.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>

#include "helm/helm_chart.h"
#include "helm/helm_index.h"
#include "store/index.h"
#include "store/index_helm.h"
#include "check_main.h"

static char	test_dir[] = "/tmp/helm_chart_test.XXXXXX";

static void
test_setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(test_dir));
}

static void
test_teardown(void)
{
	char	 cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", test_dir);
	ck_assert_int_eq(system(cmd), 0);
	strcpy(test_dir, "/tmp/helm_chart_test.XXXXXX");
}

/* A .tgz holding the files name[i] with content text[i]. */
static void
make_tgz(const char *path, const char **names, const char **texts, int n)
{
	struct archive		*a = archive_write_new();
	struct archive_entry	*e;
	int			 i;

	ck_assert_int_eq(archive_write_add_filter_gzip(a), ARCHIVE_OK);
	ck_assert_int_eq(archive_write_set_format_pax_restricted(a),
	    ARCHIVE_OK);
	ck_assert_int_eq(archive_write_open_filename(a, path), ARCHIVE_OK);
	for (i = 0; i < n; i++) {
		e = archive_entry_new();
		archive_entry_set_pathname(e, names[i]);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, strlen(texts[i]));
		ck_assert_int_eq(archive_write_header(a, e), ARCHIVE_OK);
		ck_assert_int_eq(archive_write_data(a, texts[i],
		    strlen(texts[i])), (la_ssize_t)strlen(texts[i]));
		archive_entry_free(e);
	}
	ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

static char *
tpath(const char *name)
{
	static char	 buf[512];

	snprintf(buf, sizeof(buf), "%s/%s", test_dir, name);
	return (buf);
}

static const char *chart_yaml =
    "apiVersion: v2\n"
    "name: demo\n"
    "version: 1.2.3-rc.1+build.5\n"
    "appVersion: \"1.0\"\n"
    "description: A demo chart\n"
    "deprecated: false\n"
    "keywords: [a, b]\n"
    "maintainers:\n  - name: Ann\n    email: ann@example.com\n"
    "unknownField: dropped\n";

/* Read a chart with this Chart.yaml; the *cause when it is refused. */
static int
read_with(const char *yaml, struct helm_chart *c, char **cause)
{
	const char	*names[] = { "demo/Chart.yaml", "demo/values.yaml" };
	const char	*texts[] = { yaml, "a: 1\n" };

	make_tgz(tpath("c.tgz"), names, texts, 2);
	*cause = NULL;
	return (helm_chart_read(tpath("c.tgz"), c, cause));
}

START_TEST(test_chart_good)
{
	struct helm_chart	 c;
	char			*cause, *json;
	json_t			*e;

	ck_assert_int_eq(read_with(chart_yaml, &c, &cause), 0);
	ck_assert_str_eq(c.hc_name, "demo");
	ck_assert_str_eq(c.hc_version, "1.2.3-rc.1+build.5");
	ck_assert_ptr_null(json_object_get(c.hc_meta, "unknownField"));
	ck_assert(json_is_false(json_object_get(c.hc_meta, "deprecated")));
	json = helm_entry_json(&c, "ab12", 0);
	e = json_loads(json, 0, NULL);
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(json_string_value(json_object_get(e, "digest")),
	    "ab12");
	ck_assert_str_eq(json_string_value(json_object_get(e, "created")),
	    "1970-01-01T00:00:00Z");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(e,
	    "urls"), 0)), "charts/demo-1.2.3-rc.1+build.5.tgz");
	ck_assert_str_eq(json_string_value(json_object_get(e, "appVersion")),
	    "1.0");
	json_decref(e);
	free(json);
	helm_chart_clear(&c);
}
END_TEST

START_TEST(test_chart_bad_metadata)
{
	static const struct {
		const char	*yaml;
		const char	*want;
	} cases[] = {
		{ "apiVersion: v2\nversion: 1.0.0\n", "chart name" },
		{ "apiVersion: v2\nname: a/b\nversion: 1.0.0\n", "chart name" },
		{ "apiVersion: v2\nname: ..\nversion: 1.0.0\n", "chart name" },
		{ "apiVersion: v2\nname: 'a b'\nversion: 1.0.0\n",
		    "chart name" },
		{ "apiVersion: v2\nname: a\nversion: 1.0\n", "SemVer" },
		{ "apiVersion: v2\nname: a\nversion: v1.0.0\n", "SemVer" },
		{ "apiVersion: v2\nname: a\nversion: 01.0.0\n", "SemVer" },
		{ "apiVersion: v2\nname: a\nversion: 1.0.0-01\n", "SemVer" },
		{ "apiVersion: v2\nname: a\n", "SemVer" },
		{ "apiVersion: v3\nname: a\nversion: 1.0.0\n", "apiVersion" },
		{ "name: a\nversion: 1.0.0\n", "apiVersion" },
		{ "apiVersion: v2\nname: a\nversion: 1.0.0\ntype: other\n",
		    "type" },
		{ "- a\n- b\n", "not a mapping" },
		{ "apiVersion: [v2\n", "not valid YAML" },
#define V2	"apiVersion: v2\nname: a\nversion: 1.0.0\n"
		{ V2 "description: [ a, b ]\n", "field description must be" },
		{ V2 "appVersion: { x: 1 }\n", "field appVersion must be" },
		{ V2 "description: !!python/object/apply:os.system [ id ]\n",
		    "field description must be" },
		{ V2 "kubeVersion: true\n", "field kubeVersion must be" },
		{ V2 "deprecated: yes\n", "field deprecated must be" },
		{ V2 "keywords: x\n", "field keywords must be" },
		{ V2 "keywords: [ [ x ] ]\n", "field keywords must be" },
		{ V2 "sources: { a: b }\n", "field sources must be" },
		{ V2 "maintainers: 5\n", "field maintainers must be" },
		{ V2 "maintainers: [ x ]\n", "field maintainers must be" },
		{ V2 "maintainers: [ { name: [ x ] } ]\n",
		    "field maintainers must be" },
		{ V2 "dependencies: [ x ]\n", "field dependencies must be" },
		{ V2 "dependencies: [ { name: a, tags: t } ]\n",
		    "field dependencies must be" },
		{ V2 "annotations: [ a ]\n", "field annotations must be" },
		{ V2 "description: \"a\\0b\"\n", "NUL byte" },
#undef V2
		{ "", "not a mapping" },
	};
	struct helm_chart	 c;
	char			*cause;
	size_t			 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_int_eq(read_with(cases[i].yaml, &c, &cause), -1);
		ck_assert_msg(cause != NULL && strstr(cause, cases[i].want),
		    "case %zu: %s", i, cause ? cause : "(null)");
		free(cause);
	}
}
END_TEST

START_TEST(test_chart_bad_archive)
{
	const char		*n1[] = { "demo/values.yaml" };
	const char		*n2[] = { "a/Chart.yaml", "b/values.yaml" };
	const char		*n3[] = { "Chart.yaml" };
	const char		*n4[] = { "demo/sub/Chart.yaml" };
	const char		*t[] = { "apiVersion: v2\nname: a\n"
				    "version: 1.0.0\n", "x" };
	struct helm_chart	 c;
	struct stat		 st;
	char			*cause = NULL;
	int			 fd;

	make_tgz(tpath("1.tgz"), n1, t + 1, 1);
	ck_assert_int_eq(helm_chart_read(tpath("1.tgz"), &c, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "no Chart.yaml"));
	free(cause);
	make_tgz(tpath("2.tgz"), n2, t, 2);
	ck_assert_int_eq(helm_chart_read(tpath("2.tgz"), &c, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "more than one top"));
	free(cause);
	make_tgz(tpath("3.tgz"), n3, t, 1);
	ck_assert_int_eq(helm_chart_read(tpath("3.tgz"), &c, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "not inside"));
	free(cause);
	make_tgz(tpath("4.tgz"), n4, t, 1);
	ck_assert_int_eq(helm_chart_read(tpath("4.tgz"), &c, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "no Chart.yaml"));
	free(cause);
	/* not an archive at all */
	fd = open(tpath("5.tgz"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, "hello, world\n", 13), 13);
	close(fd);
	ck_assert_int_eq(helm_chart_read(tpath("5.tgz"), &c, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	free(cause);
	/* a small .tgz that unpacks to more than the limit */
	{
		struct archive		*a = archive_write_new();
		struct archive_entry	*e;
		char			*zero = calloc(1, 1024 * 1024);
		long long		 left = HELM_CHART_UNPACKED_MAX + 1;
		static const char	*meta = "apiVersion: v2\nname: a\n"
		    "version: 1.0.0\n";

		ck_assert_ptr_nonnull(zero);
		archive_write_add_filter_gzip(a);
		archive_write_set_format_pax_restricted(a);
		ck_assert_int_eq(archive_write_open_filename(a,
		    tpath("big.tgz")), ARCHIVE_OK);
		e = archive_entry_new();
		archive_entry_set_pathname(e, "a/Chart.yaml");
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, strlen(meta));
		archive_write_header(a, e);
		archive_write_data(a, meta, strlen(meta));
		archive_entry_clear(e);
		archive_entry_set_pathname(e, "a/big");
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, left);
		archive_write_header(a, e);
		while (left > 0) {
			size_t	 n = left > 1024 * 1024 ? 1024 * 1024 :
			    (size_t)left;

			archive_write_data(a, zero, n);
			left -= (long long)n;
		}
		archive_entry_free(e);
		archive_write_close(a);
		archive_write_free(a);
		free(zero);
		ck_assert_int_eq(stat(tpath("big.tgz"), &st), 0);
		ck_assert_int_lt(st.st_size, 1024 * 1024);
		ck_assert_int_eq(helm_chart_read(tpath("big.tgz"), &c,
		    &cause), -1);
		ck_assert_msg(strstr(cause, "bytes unpacked") != NULL, "%s",
		    cause);
		free(cause);
	}
	/* a good archive, truncated */
	ck_assert_int_eq(read_with(chart_yaml, &c, &cause), 0);
	helm_chart_clear(&c);
	ck_assert_int_eq(stat(tpath("c.tgz"), &st), 0);
	ck_assert_int_eq(truncate(tpath("c.tgz"), st.st_size / 2), 0);
	ck_assert_int_eq(helm_chart_read(tpath("c.tgz"), &c, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	free(cause);
	/* empty */
	ck_assert_int_eq(truncate(tpath("c.tgz"), 0), 0);
	ck_assert_int_eq(helm_chart_read(tpath("c.tgz"), &c, &cause), -1);
	free(cause);
}
END_TEST

START_TEST(test_semver)
{
	/* SemVer 2.0.0, section 11, in increasing precedence */
	static const char *const order[] = {
		"0.9.9", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta",
		"1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1",
		"1.0.0", "1.2.0", "1.9.0", "1.10.0", "1.11.0", "2.0.0",
		"10.0.0"
	};
	size_t	 i, j;
	int	 c;

	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		ck_assert_msg(helm_semver_ok(order[i]), "%s", order[i]);
		for (j = 0; j < sizeof(order) / sizeof(order[0]); j++) {
			c = helm_semver_cmp(order[i], order[j]);
			ck_assert_msg(i < j ? c < 0 : i > j ? c > 0 : c == 0,
			    "%s vs %s: %d", order[i], order[j], c);
		}
	}
	ck_assert(helm_semver_ok("1.0.0+build.1"));
	ck_assert(helm_semver_ok("1.0.0-x-y.0"));
	ck_assert(!helm_semver_ok("1.0"));
	ck_assert(!helm_semver_ok("1.0.0-"));
	ck_assert(!helm_semver_ok("1.0.0+"));
	ck_assert(!helm_semver_ok("1.0.0-a..b"));
	ck_assert(!helm_semver_ok("1.0.0.0"));
	ck_assert(!helm_semver_ok("v1.0.0"));
	ck_assert(!helm_semver_ok(""));
	/* build metadata only breaks ties; no SemVer is oldest */
	ck_assert_int_eq(helm_semver_cmp("1.0.0+a", "1.0.0+a"), 0);
	ck_assert_int_lt(helm_semver_cmp("latest", "0.0.1"), 0);
	ck_assert_int_gt(helm_semver_cmp("0.0.1", "latest"), 0);
	ck_assert(helm_name_ok("my-chart_1.x"));
	ck_assert(!helm_name_ok("my/chart"));
	ck_assert(!helm_name_ok(""));
	ck_assert(!helm_name_ok("."));
}
END_TEST

START_TEST(test_entry_yaml)
{
	char	*y;
	size_t	 len;

	y = helm_json_yaml("{\"version\":\"1.0\",\"name\":\"x\","
	    "\"true\":true,\"urls\":[\"charts/x-1.0.tgz\"]}", &len);
	ck_assert_ptr_nonnull(y);
	ck_assert_str_eq(y, "name: \"x\"\n\"true\": true\nurls:\n"
	    "- \"charts/x-1.0.tgz\"\nversion: \"1.0\"\n");
	free(y);
	y = helm_yaml_quote("a\"b");
	ck_assert_str_eq(y, "\"a\\\"b\"");
	free(y);
}
END_TEST

static void
rec(struct helm_record *r, const char *name, const char *version,
    const char *tag)
{
	memset(r, 0, sizeof(*r));
	r->hr_name = (char *)name;
	r->hr_version = (char *)version;
	r->hr_digest = (char *)"";
	r->hr_url = (char *)"";
	r->hr_yaml = (char *)tag;
	r->hr_yaml_len = strlen(tag);
}

static char *
slurp(const char *path)
{
	FILE	*f = fopen(path, "r");
	char	*buf = calloc(1, 1 << 20);
	size_t	 n;

	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return (buf);
}

START_TEST(test_render_merge)
{
	struct helm_record	 a[2], b[3];
	const char		*members[3];
	char			 m1[512], m2[512], dir[512], name[128], p[700];
	char			*cause = NULL, *text, *x1, *x2, *x3, *y;
	int64_t			 gen;
	int			 fd;

	snprintf(m1, sizeof(m1), "%s/hosted.member", test_dir);
	snprintf(m2, sizeof(m2), "%s/up.member", test_dir);
	snprintf(dir, sizeof(dir), "%s/render", test_dir);
	rec(&a[0], "x", "1.0.0", "tag: a-x-1\n");
	rec(&a[1], "x", "0.5.0", "tag: a-x-05\n");
	rec(&b[0], "y", "1.0.0", "tag: b-y-1\n");
	rec(&b[1], "x", "1.0.0", "tag: b-x-1\n");
	rec(&b[2], "x", "1.10.0", "tag: b-x-110\n");
	ck_assert_int_eq(helm_member_write(m1, 7, a, 2, &cause), 0);
	ck_assert_int_eq(helm_member_write(m2, 0, b, 3, &cause), 0);
	/* an older generation does not replace a newer one */
	ck_assert_int_eq(helm_member_write(m1, 6, a, 1, &cause), 1);
	ck_assert_int_eq(helm_member_gen(m1, &gen), 0);
	ck_assert_int_eq(gen, 7);
	members[0] = m1;
	members[1] = m2;
	snprintf(p, sizeof(p), "%s/missing.member", test_dir);
	members[2] = p;
	ck_assert_int_eq(helm_render(dir, members, 3, &cause), 0);
	ck_assert_int_eq(helm_render_open(dir, 0, name, sizeof(name), &fd), 0);
	close(fd);
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	text = slurp(p);
	/* x: 1.10.0 (b), 1.0.0 (a wins), 0.5.0 (a); then y */
	x1 = strstr(text, "a-x-1\n");
	x2 = strstr(text, "b-x-110");
	x3 = strstr(text, "a-x-05");
	y = strstr(text, "  \"y\":\n  - tag: b-y-1\n");	/* y: a bool */
	ck_assert_ptr_nonnull(x1);
	ck_assert_ptr_nonnull(x2);
	ck_assert_ptr_nonnull(x3);
	ck_assert_ptr_nonnull(y);
	ck_assert_ptr_null(strstr(text, "b-x-1\n"));
	ck_assert(x2 < x1 && x1 < x3 && x3 < y);
	ck_assert_ptr_eq(strstr(text, "apiVersion: v1\nentries:\n  x:\n"),
	    text);
	ck_assert_ptr_nonnull(strstr(text, "\ngenerated: \""));
	free(text);
	ck_assert_int_eq(helm_render_open(dir, 1, name, sizeof(name), &fd), 0);
	close(fd);
	/* nothing at all: an empty index */
	members[0] = p;
	snprintf(dir, sizeof(dir), "%s/empty", test_dir);
	ck_assert_int_eq(helm_render(dir, members, 0, &cause), 0);
	ck_assert_int_eq(helm_render_open(dir, 0, name, sizeof(name), &fd), 0);
	close(fd);
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	text = slurp(p);
	ck_assert_ptr_eq(strstr(text, "apiVersion: v1\nentries: {}\n"), text);
	free(text);
}
END_TEST

START_TEST(test_member_apply)
{
	struct helm_record	 a[2], r, got;
	char			 m[512], *cause = NULL;
	int64_t			 gen;

	snprintf(m, sizeof(m), "%s/h.member", test_dir);
	rec(&r, "x", "2.0.0", "tag: x2\n");
	/* no file is generation 0: generation 1 applies, 3 does not */
	ck_assert_int_eq(helm_member_apply(m, 3, "x", "2.0.0", &r, &cause), 2);
	ck_assert_int_eq(helm_member_apply(m, 1, "x", "2.0.0", &r, &cause), 0);
	ck_assert_int_eq(helm_member_apply(m, 1, "x", "2.0.0", &r, &cause), 1);
	rec(&a[0], "x", "1.0.0", "tag: x1\n");
	rec(&a[1], "a", "1.0.0", "tag: a1\n");
	ck_assert_int_eq(helm_member_apply(m, 2, "x", "1.0.0", &a[0], &cause),
	    0);
	ck_assert_int_eq(helm_member_apply(m, 3, "a", "1.0.0", &a[1], &cause),
	    0);
	rec(&r, "x", "2.0.0", "tag: x2-forced\n");
	ck_assert_int_eq(helm_member_apply(m, 4, "x", "2.0.0", &r, &cause), 0);
	ck_assert_int_eq(helm_member_find(m, "x-2.0.0.tgz", &got), 1);
	ck_assert_str_eq(got.hr_yaml, "tag: x2-forced\n");
	helm_record_clear(&got);
	ck_assert_int_eq(helm_member_apply(m, 5, "x", "1.0.0", NULL, &cause),
	    0);
	ck_assert_int_eq(helm_member_find(m, "x-1.0.0.tgz", &got), 0);
	ck_assert_int_eq(helm_member_find(m, "a-1.0.0.tgz", &got), 1);
	helm_record_clear(&got);
	ck_assert_int_eq(helm_member_gen(m, &gen), 0);
	ck_assert_int_eq(gen, 5);
}
END_TEST

#define DG0	"    digest: "\
    "0000000000000000000000000000000000000000000000000000000000000000\n"
#define DG1	"    digest: "\
    "1111111111111111111111111111111111111111111111111111111111111111\n"

static const char *upstream_index =
    "apiVersion: v1\n"
    "entries:\n"
    "  zeta:\n"
    "  - name: zeta\n"
    "    version: 1.0.0\n"
    DG0
    "    urls: [ \"https://cdn.example.net/releases/zeta-1.0.0.tgz\" ]\n"
    "  alpha:\n"
    "  - apiVersion: v2\n"
    "    name: alpha\n"
    "    version: 1.0.0\n"
    DG1
    "    appVersion: 1.0\n"
    "    description: |\n      two\n      lines\n"
    "    urls:\n    - alpha-1.0.0.tgz\n"
    "  - name: alpha\n"
    "    version: 2.0.0\n"
    DG1
    "    urls:\n    - charts/alpha-2.0.0.tgz\n"
    "  - name: alpha\n"
    "    version: 3.0.0\n"
    DG1
    "    urls:\n    - /root/alpha-3.0.0.tgz\n"
    "  - name: alpha\n"
    "    version: 4.0.0\n"
    DG1
    "    urls:\n    - http://up.example:8080/other/alpha-4.0.0.tgz\n"
    "  - name: alpha\n"
    "    version: ../../etc\n"
    "    urls: [ x.tgz ]\n"
    "  bad/name:\n"
    "  - name: bad\n    version: 1.0.0\n    urls: [ x.tgz ]\n"
    "generated: 2024-01-01T00:00:00Z\n"
    "serverInfo: {}\n";

START_TEST(test_index_parse)
{
	struct helm_record	 r;
	const char		*members[1];
	char			 in[512], out[512], dir[512], name[128], p[700];
	char			*cause = NULL, *text;
	size_t			 entries, skipped;
	FILE			*f;
	int			 fd;

	snprintf(in, sizeof(in), "%s/index.yaml", test_dir);
	snprintf(out, sizeof(out), "%s/up.member", test_dir);
	f = fopen(in, "w");
	fputs(upstream_index, f);
	fclose(f);
	ck_assert_msg(helm_index_parse(in, "http://up.example:8080/sub/"
	    "index.yaml", out, &entries, &skipped, &cause) == 0, "%s", cause);
	ck_assert_uint_eq(entries, 5);
	ck_assert_uint_eq(skipped, 2);
	ck_assert_int_eq(helm_member_find(out, "alpha-1.0.0.tgz", &r), 1);
	ck_assert_str_eq(r.hr_url, "http://up.example:8080/sub/alpha-1.0.0.tgz");
	ck_assert_int_eq(helm_digest_ok(r.hr_digest), 1);
	helm_record_clear(&r);
	ck_assert_int_eq(helm_member_find(out, "alpha-2.0.0.tgz", &r), 1);
	ck_assert_str_eq(r.hr_url,
	    "http://up.example:8080/sub/charts/alpha-2.0.0.tgz");
	helm_record_clear(&r);
	ck_assert_int_eq(helm_member_find(out, "alpha-3.0.0.tgz", &r), 1);
	ck_assert_str_eq(r.hr_url, "http://up.example:8080/root/alpha-3.0.0.tgz");
	helm_record_clear(&r);
	ck_assert_int_eq(helm_member_find(out, "alpha-4.0.0.tgz", &r), 1);
	ck_assert_str_eq(r.hr_url,
	    "http://up.example:8080/other/alpha-4.0.0.tgz");
	helm_record_clear(&r);
	ck_assert_int_eq(helm_member_find(out, "zeta-1.0.0.tgz", &r), 1);
	ck_assert_str_eq(r.hr_url,
	    "https://cdn.example.net/releases/zeta-1.0.0.tgz");
	ck_assert_int_eq(strspn(r.hr_digest, "0"), 64);
	helm_record_clear(&r);
	ck_assert_int_eq(helm_member_find(out, "alpha-9.0.0.tgz", &r), 0);
	/* rendered: URLs point back at depot, relative to the index */
	snprintf(dir, sizeof(dir), "%s/render", test_dir);
	members[0] = out;
	ck_assert_int_eq(helm_render(dir, members, 1, &cause), 0);
	ck_assert_int_eq(helm_render_open(dir, 0, name, sizeof(name), &fd), 0);
	close(fd);
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	text = slurp(p);
	ck_assert_ptr_nonnull(strstr(text, "- \"charts/alpha-3.0.0.tgz\""));
	ck_assert_ptr_nonnull(strstr(text, "- \"charts/zeta-1.0.0.tgz\""));
	ck_assert_ptr_null(strstr(text, "cdn.example.net"));
	ck_assert_ptr_null(strstr(text, "/root/"));
	ck_assert_ptr_null(strstr(text, "serverInfo"));
	ck_assert_ptr_nonnull(strstr(text, "appVersion: 1.0\n"));
	ck_assert(strstr(text, "alpha-4.0.0") < strstr(text, "alpha-1.0.0"));
	ck_assert(strstr(text, "  alpha:") < strstr(text, "  zeta:"));
	free(text);
	/* broken YAML is refused and leaves the member as it was */
	f = fopen(in, "w");
	fputs("apiVersion: v1\nentries:\n  a: [ {\n", f);
	fclose(f);
	ck_assert_int_eq(helm_index_parse(in, "http://x/index.yaml", out,
	    &entries, &skipped, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	free(cause);
	ck_assert_int_eq(helm_member_find(out, "zeta-1.0.0.tgz", &r), 1);
	helm_record_clear(&r);
}
END_TEST

/* Upstream entries Helm could not read, or depot could not check. */
START_TEST(test_index_parse_hostile)
{
	static const char *bad[] = {
		"  - name: h\n    version: 1.0.0\n"
		"    urls: [ \"http://127.0.0.1:1/creds\" ]\n",
		"  - name: h\n    version: 1.0.1\n    digest: 0123\n"
		"    urls: [ h.tgz ]\n",
		"  - name: h\n    version: 1.0.2\n" DG1
		"    description: [ a, b ]\n    urls: [ h.tgz ]\n",
		"  - name: h\n    version: 1.0.3\n" DG1
		"    appVersion: { x: 1 }\n    urls: [ h.tgz ]\n",
		"  - name: h\n    version: 1.0.4\n" DG1
		"    description: !!python/object/apply:os.system [ id ]\n"
		"    urls: [ h.tgz ]\n",
		"  - name: h\n    version: 1.0.5\n" DG1
		"    keywords: x\n    urls: [ h.tgz ]\n",
		"  - name: h\n    version: 1.0.6\n" DG1
		"    maintainers: 5\n    urls: [ h.tgz ]\n",
		"  - name: h\n    version: 1.0.7\n" DG1
		"    maintainers: [ { name: [ a ] } ]\n    urls: [ h.tgz ]\n",
		"  - name: other\n    version: 1.0.8\n" DG1
		"    urls: [ h.tgz ]\n",
		"  - version: 1.0.9\n" DG1 "    urls: [ h.tgz ]\n",
		"  - name: h\n    version: 1.0.10\n" DG1
		"    description: \"a\\0b\"\n    urls: [ h.tgz ]\n",
		"  - name: h\n    version: 1.0.11\n" DG1
		"    urls: [ [ h.tgz ] ]\n",
	};
	struct helm_record	 r;
	char			 in[512], out[512], *cause = NULL;
	size_t			 entries, skipped, i;
	FILE			*f;

	snprintf(in, sizeof(in), "%s/index.yaml", test_dir);
	snprintf(out, sizeof(out), "%s/up.member", test_dir);
	f = fopen(in, "w");
	fputs("apiVersion: v1\nentries:\n  h:\n", f);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		fputs(bad[i], f);
	fputs("  - name: h\n    version: 2.0.0\n" DG1
	    "    description: \"", f);
	for (i = 0; i < 1000; i++)
		fputc('[', f);
	fputs("\"\n    keywords: [ a ]\n    maintainers: [ { name: a } ]\n"
	    "    dependencies: [ { name: d, tags: [ t ] } ]\n"
	    "    deprecated: false\n    urls: [ h.tgz ]\n", f);
	/* nesting deeper than an entry may be */
	fputs("  - name: h\n    version: 3.0.0\n" DG1 "    x: ", f);
	for (i = 0; i < 1000; i++)
		fputc('[', f);
	for (i = 0; i < 1000; i++)
		fputc(']', f);
	fputs("\n    urls: [ h.tgz ]\n  \"bad name\":\n  - name: bad name\n"
	    "    version: 1.0.0\n" DG1 "    urls: [ h.tgz ]\n", f);
	fclose(f);
	ck_assert_msg(helm_index_parse(in, "http://up.example/index.yaml", out,
	    &entries, &skipped, &cause) == 0, "%s", cause);
	ck_assert_uint_eq(entries, 1);
	ck_assert_uint_eq(skipped, sizeof(bad) / sizeof(bad[0]) + 2);
	ck_assert_int_eq(helm_member_find(out, "h-2.0.0.tgz", &r), 1);
	helm_record_clear(&r);
	ck_assert_int_eq(helm_member_find(out, "h-1.0.0.tgz", &r), 0);
	ck_assert_int_eq(helm_digest_ok("0123"), 0);
	ck_assert_int_eq(helm_digest_ok(NULL), 0);
}
END_TEST

START_TEST(test_url_resolve)
{
	/* RFC 3986, section 5.4 */
	static const char *const cases[][2] = {
		{ "g", "http://a/b/c/g" },
		{ "./g", "http://a/b/c/g" },
		{ "g/", "http://a/b/c/g/" },
		{ "/g", "http://a/g" },
		{ "//g", "http://g" },
		{ "?y", "http://a/b/c/d;p?y" },
		{ "g?y", "http://a/b/c/g?y" },
		{ "#s", "http://a/b/c/d;p?q" },
		{ "g#s", "http://a/b/c/g" },
		{ ";x", "http://a/b/c/;x" },
		{ "", "http://a/b/c/d;p?q" },
		{ ".", "http://a/b/c/" },
		{ "./", "http://a/b/c/" },
		{ "..", "http://a/b/" },
		{ "../", "http://a/b/" },
		{ "../g", "http://a/b/g" },
		{ "../..", "http://a/" },
		{ "../../g", "http://a/g" },
		{ "../../../g", "http://a/g" },
		{ "/./g", "http://a/g" },
		{ "/../g", "http://a/g" },
		{ "g.", "http://a/b/c/g." },
		{ "..g", "http://a/b/c/..g" },
		{ "./../g", "http://a/b/g" },
		{ "g/./h", "http://a/b/c/g/h" },
		{ "g/../h", "http://a/b/c/h" },
		{ "g;x=1/../y", "http://a/b/c/y" },
		{ "https://other.example/x/../y.tgz?sig=1",
		    "https://other.example/y.tgz?sig=1" },
	};
	char	*out;
	size_t	 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_int_eq(helm_url_resolve("http://a/b/c/d;p?q",
		    cases[i][0], &out), 0);
		ck_assert_msg(strcmp(out, cases[i][1]) == 0, "%s: %s, not %s",
		    cases[i][0], out, cases[i][1]);
		free(out);
	}
	ck_assert_int_eq(helm_url_resolve("not a url", "g", &out), -1);
	ck_assert(helm_version_safe("1.0.0+b_1"));
	ck_assert(!helm_version_safe("../x"));
	ck_assert(!helm_version_safe("1 0"));
}
END_TEST

static void
chart_row(struct index_helm_chart *c, const char *name, const char *version)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->ihc_name, sizeof(c->ihc_name), "%s", name);
	snprintf(c->ihc_version, sizeof(c->ihc_version), "%s", version);
	memset(c->ihc_digest, 'a', 64);
	c->ihc_size = 10;
	c->ihc_entry = (char *)"{}";
	c->ihc_yaml = (char *)"a: 1\n";
}

START_TEST(test_index_helm)
{
	struct index		*ix;
	struct index_helm_stats	 st;
	struct index_helm_chart	 c, old, *rows;
	char			*cause = NULL;
	size_t			 n;
	int64_t			 gen;

	ix = index_open(tpath("db"), INDEX_MASTER, NULL, &cause);
	ck_assert_msg(ix != NULL, "%s", cause);
	chart_row(&c, "x", "1.0.0");
	ck_assert_int_eq(index_helm_put(ix, "r", &c, 0, &old, &gen), 1);
	ck_assert_int_eq(gen, 1);
	ck_assert_int_eq(index_helm_put(ix, "r", &c, 0, &old, &gen), 0);
	ck_assert_int_eq(index_helm_put(ix, "r", &c, 1, &old, &gen), 1);
	ck_assert_int_eq(gen, 2);
	ck_assert_str_eq(old.ihc_version, "");	/* not filled by put */
	index_helm_chart_clear(&old);
	chart_row(&c, "x", "2.0.0");
	ck_assert_int_eq(index_helm_put(ix, "r", &c, 0, &old, &gen), 1);
	chart_row(&c, "y", "1.0.0");
	ck_assert_int_eq(index_helm_put(ix, "r2", &c, 0, &old, &gen), 1);
	ck_assert_int_eq(index_helm_get(ix, "r", "x", "2.0.0", &c), 1);
	ck_assert_str_eq(c.ihc_yaml, "a: 1\n");
	index_helm_chart_clear(&c);
	ck_assert_int_eq(index_helm_get(ix, "r", "y", "1.0.0", &c), 0);
	ck_assert_int_eq(index_helm_list(ix, "r", NULL, &rows, &n, &gen), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(gen, 3);
	index_helm_charts_free(rows, n);
	ck_assert_int_eq(index_helm_list(ix, "r", "x", &rows, &n, NULL), 0);
	ck_assert_uint_eq(n, 2);
	index_helm_charts_free(rows, n);
	/* counts, and a cap that stops them */
	ck_assert_int_eq(index_helm_stats(ix, "r", 100, &st), 0);
	ck_assert_uint_eq(st.ihs_charts, 1);
	ck_assert_uint_eq(st.ihs_versions, 2);
	ck_assert_int_eq(st.ihs_bytes, 20);
	ck_assert_int_eq(st.ihs_complete, 1);
	ck_assert_int_eq(index_helm_stats(ix, "r", 1, &st), 0);
	ck_assert_uint_eq(st.ihs_versions, 1);
	ck_assert_int_eq(st.ihs_complete, 0);
	ck_assert_int_eq(index_helm_stats(ix, "none", 100, &st), 0);
	ck_assert_uint_eq(st.ihs_versions, 0);
	ck_assert_int_eq(index_helm_delete(ix, "r", "x", "1.0.0", &old, &gen),
	    1);
	index_helm_chart_clear(&old);
	ck_assert_int_eq(gen, 4);
	ck_assert_int_eq(index_helm_delete(ix, "r", "x", "1.0.0", &old, &gen),
	    0);
	ck_assert_int_eq(index_helm_purge(ix, "r"), 1);
	ck_assert_int_eq(index_helm_gen(ix, "r", &gen), 0);
	ck_assert_int_eq(gen, 6);	/* a purge jumps by two */
	ck_assert_int_eq(index_helm_list(ix, "r", NULL, &rows, &n, NULL), 0);
	ck_assert_uint_eq(n, 0);
	free(rows);
	ck_assert_int_eq(index_helm_get(ix, "r2", "y", "1.0.0", &c), 1);
	index_helm_chart_clear(&c);
	index_close(ix);
}
END_TEST

/* "name version member" of each listed entry, joined by ",". */
static void
page_str(struct helm_listed *l, size_t n, char *buf, size_t len)
{
	size_t	 i;

	buf[0] = '\0';
	for (i = 0; i < n; i++)
		snprintf(buf + strlen(buf), len - strlen(buf), "%s%s %s %zu",
		    i ? "," : "", l[i].hl_rec.hr_name, l[i].hl_rec.hr_version,
		    l[i].hl_member);
}

START_TEST(test_member_page)
{
	struct helm_record	 a[3], b[4];
	struct helm_listed	*l;
	const char		*m[3];
	char			 pa[512], pb[512], buf[1024], *cause = NULL, *v;
	size_t			 n;
	int			 more;

	snprintf(pa, sizeof(pa), "%s/a.member", test_dir);
	snprintf(pb, sizeof(pb), "%s/b.member", test_dir);
	rec(&a[0], "x", "1.0.0", "name: x\nappVersion: \"a1\"\n");
	rec(&a[1], "Zed", "1.0.0", "name: Zed\n");
	rec(&a[2], "x", "1.10.0", "name: x\n");
	rec(&b[0], "x", "1.0.0", "name: x\nappVersion: b1\n");
	rec(&b[1], "x", "1.9.0", "name: x\n");
	rec(&b[2], "y", "0.1.0", "name: y\n");
	rec(&b[3], "x", "2.0.0-rc.1", "name: x\n");
	ck_assert_int_eq(helm_member_write(pa, 1, a, 3, &cause), 0);
	ck_assert_int_eq(helm_member_write(pb, 1, b, 4, &cause), 0);
	m[0] = pa;
	m[1] = pb;
	m[2] = "/nonexistent/member";	/* a missing member is empty */
	/* everything: by name (bytes), newest first; a's x 1.0.0 wins */
	ck_assert_int_eq(helm_member_page(m, 3, NULL, NULL, NULL, 100, &l, &n,
	    &more, &cause), 0);
	page_str(l, n, buf, sizeof(buf));
	ck_assert_str_eq(buf, "Zed 1.0.0 0,x 2.0.0-rc.1 1,x 1.10.0 0,"
	    "x 1.9.0 1,x 1.0.0 0,y 0.1.0 1");
	ck_assert_int_eq(more, 0);
	v = helm_entry_scalar(l[4].hl_rec.hr_yaml, l[4].hl_rec.hr_yaml_len,
	    "appVersion");
	ck_assert_str_eq(v, "a1");
	free(v);
	ck_assert_ptr_null(helm_entry_scalar(l[3].hl_rec.hr_yaml,
	    l[3].hl_rec.hr_yaml_len, "appVersion"));
	helm_listed_free(l, n);
	/* pages of two, each after the last of the one before */
	ck_assert_int_eq(helm_member_page(m, 3, NULL, NULL, NULL, 2, &l, &n,
	    &more, &cause), 0);
	page_str(l, n, buf, sizeof(buf));
	ck_assert_str_eq(buf, "Zed 1.0.0 0,x 2.0.0-rc.1 1");
	ck_assert_int_eq(more, 1);
	helm_listed_free(l, n);
	ck_assert_int_eq(helm_member_page(m, 3, NULL, "x", "2.0.0-rc.1", 2,
	    &l, &n, &more, &cause), 0);
	page_str(l, n, buf, sizeof(buf));
	ck_assert_str_eq(buf, "x 1.10.0 0,x 1.9.0 1");
	ck_assert_int_eq(more, 1);
	helm_listed_free(l, n);
	ck_assert_int_eq(helm_member_page(m, 3, NULL, "x", "1.9.0", 2, &l, &n,
	    &more, &cause), 0);
	page_str(l, n, buf, sizeof(buf));
	ck_assert_str_eq(buf, "x 1.0.0 0,y 0.1.0 1");
	ck_assert_int_eq(more, 0);
	helm_listed_free(l, n);
	/* a version gone meanwhile: its place in the order */
	ck_assert_int_eq(helm_member_page(m, 3, NULL, "x", "1.5.0", 10, &l,
	    &n, &more, &cause), 0);
	page_str(l, n, buf, sizeof(buf));
	ck_assert_str_eq(buf, "x 1.0.0 0,y 0.1.0 1");
	helm_listed_free(l, n);
	/* after a name: its versions are all left out */
	ck_assert_int_eq(helm_member_page(m, 3, NULL, "x", NULL, 10, &l, &n,
	    &more, &cause), 0);
	page_str(l, n, buf, sizeof(buf));
	ck_assert_str_eq(buf, "y 0.1.0 1");
	helm_listed_free(l, n);
	/* a search, in any case */
	ck_assert_int_eq(helm_member_page(m, 3, "zE", NULL, NULL, 10, &l, &n,
	    &more, &cause), 0);
	page_str(l, n, buf, sizeof(buf));
	ck_assert_str_eq(buf, "Zed 1.0.0 0");
	helm_listed_free(l, n);
	ck_assert_int_eq(helm_member_page(m, 3, "nothing", NULL, NULL, 10, &l,
	    &n, &more, &cause), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(more, 0);
	helm_listed_free(l, n);
	/* a damaged member is an error */
	ck_assert_int_eq(truncate(pb, 20), 0);
	ck_assert_int_eq(helm_member_page(m, 3, NULL, NULL, NULL, 10, &l, &n,
	    &more, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	free(cause);
}
END_TEST

static Suite *
helm_chart_suite(void)
{
	Suite	*s = suite_create("helm_chart");
	TCase	*tc = tcase_create("helm_chart");

	tcase_add_checked_fixture(tc, test_setup, test_teardown);
	tcase_add_test(tc, test_chart_good);
	tcase_add_test(tc, test_chart_bad_metadata);
	tcase_add_test(tc, test_chart_bad_archive);
	tcase_add_test(tc, test_semver);
	tcase_add_test(tc, test_entry_yaml);
	tcase_add_test(tc, test_render_merge);
	tcase_add_test(tc, test_member_apply);
	tcase_add_test(tc, test_member_page);
	tcase_add_test(tc, test_index_parse);
	tcase_add_test(tc, test_index_parse_hostile);
	tcase_add_test(tc, test_url_resolve);
	tcase_add_test(tc, test_index_helm);
	suite_add_tcase(s, tc);
	return (s);
}

CHECK_MAIN(helm_chart_suite)
