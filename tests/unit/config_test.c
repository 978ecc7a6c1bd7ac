/*
 * config_test.c: unit tests for depot.conf loading: the CONTRACT example
 * with every field, defaults, each refusal with its file:line, several
 * errors at once, depot.d merging and duplicate names, loading with a
 * depot.d file added, replaced or removed (config_load_overlay), secret
 * files and their modes, secrets kept out of messages, and depot.conf(5)
 * naming every key.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "conf/config.h"
#include "depot.h"
#include "lib/ref.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "check_main.h"

#define TEST_MAN_MAX	(512 * 1024)

static char		 test_root[PATH_MAX];	/* removed by main() */
static char		 test_dir[PATH_MAX];	/* one per test, inside */
static char		 test_conf[PATH_MAX];	/* test_dir/depot.conf */

static void	 test_setup(void);
static int	 test_rm_cb(const char *, const struct stat *, int,
		    struct FTW *);
static void	 test_write(const char *, mode_t, const char *, ...)
		    PRINTFLIKE(3, 4);
static struct config *test_load(char **);
static void	 test_refused(const char *, const char *);
static int	 test_lines(const char *);
static void	 test_candidate(char *, size_t, const char *);
static Suite	*config_suite(void);

/* Each test gets a fresh directory under test_root for its files. */
static void
test_setup(void)
{
	ck_assert_int_eq(path_fmt(test_dir, sizeof(test_dir), "%s/XXXXXX",
	    test_root), 0);
	ck_assert_ptr_nonnull(mkdtemp(test_dir));
	ck_assert_int_eq(path_fmt(test_conf, sizeof(test_conf),
	    "%s/depot.conf", test_dir), 0);
}

static int
test_rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return (remove(path));
}

/* Write a file under test_dir (name may hold a subdirectory) at mode. */
static void
test_write(const char *name, mode_t mode, const char *fmt, ...)
{
	char	 path[PATH_MAX], *text;
	va_list	 ap;
	int	 fd;

	ck_assert_int_eq(path_fmt(path, sizeof(path), "%s/%s", test_dir,
	    name), 0);
	va_start(ap, fmt);
	xvasprintf(&text, fmt, ap);
	va_end(ap);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_msg(fd != -1, "open %s: %s", path, strerror(errno));
	ck_assert_int_eq(write_all(fd, text, strlen(text)), 0);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	ck_assert_int_eq(close(fd), 0);
	free(text);
}

static struct config *
test_load(char **cause)
{
	*cause = NULL;
	return (config_load(test_conf, cause));
}

/* depot.conf holding text must be refused with expect in the cause. */
static void
test_refused(const char *text, const char *expect)
{
	struct config	*cf;
	char		*cause;

	test_write("depot.conf", 0644, "%s", text);
	cf = test_load(&cause);
	ck_assert_msg(cf == NULL, "accepted:\n%s", text);
	ck_assert_ptr_nonnull(cause);
	ck_assert_msg(strstr(cause, expect) != NULL,
	    "expected \"%s\" in:\n%s\nfor:\n%s", expect, cause, text);
	free(cause);
}

static int
test_lines(const char *s)
{
	int	 n = 1;

	for (; *s != '\0'; s++)
		if (*s == '\n')
			n++;
	return (n);
}

/* The CONTRACT example, comments included, with an auth group. */
#define TEST_FULL_CONF \
"server = {\n"								\
"  listen   = [ \"127.0.0.1:5000\" ];   # host:port, [v6]:port\n"	\
"  workers  = 0;                      # 0 = one per CPU\n"		\
"  user     = \"depot\";\n"						\
"  group    = \"depot\";\n"						\
"  pidfile  = \"/run/depot/depotd.pid\";\n"				\
"  data_dir = \"/var/lib/depot\";\n"					\
"  public_url = \"\";\n"						\
"  trusted_proxies = [ \"127.0.0.1\" ];\n"				\
"  mirror_registry = \"\";\n"						\
"  log = { syslog = true; facility = \"daemon\"; level = \"info\"; "	\
"access_log = \"\"; };\n"						\
"};\n"									\
"\n"									\
"upstreams = (\n"							\
"  { key = \"dockerhub\"; type = \"docker\"; source = \"dockerhub\";\n"	\
"    auth = { type = \"anonymous\"; }; },\n"				\
"  { key = \"mirror\"; type = \"docker\"; source = \"custom\"; "	\
"url = \"https://mirror.example.com\";\n"				\
"    auth = { type = \"userpass\"; username = \"ci\"; "			\
"password_file = \"%s/secrets/mirror\"; }; },\n"			\
"  { key = \"ecr-prod\"; type = \"docker\"; source = \"ecr\";\n"	\
"    url = \"https://us-east-1.console.aws.amazon.com/ecr/repositories/"\
"private/123456789012/team/app?region=us-east-1\";\n"			\
"    auth = { type = \"access_key\"; access_key_id = \"AKIA...\";\n"	\
"             secret_access_key_file = \"%s/secrets/ecr-prod\"; }; },\n"\
"  { key = \"bitnami\"; type = \"helm\"; source = \"custom\"; "		\
"url = \"https://charts.example.com/stable\";\n"			\
"    auth = { type = \"anonymous\"; }; }\n"				\
");\n"									\
"\n"									\
"registries = (\n"							\
"  { name = \"docker-local\"; type = \"docker\"; "			\
"description = \"team images\";\n"					\
"    labels = [ \"team-a\", \"prod\" ]; "				\
"upstreams = [ \"mirror\", \"dockerhub\" ]; },\n"			\
"  { name = \"helm-local\"; type = \"helm\"; "				\
"upstreams = [ \"bitnami\" ]; }\n"					\
");\n"									\
"\n"									\
"auth = {\n"								\
"  users_file     = \"/etc/depot/htpasswd\";\n"				\
"  token_key_file = \"/etc/depot/token.key\";\n"			\
"  token_ttl      = 300;\n"						\
"  token_issuer   = \"depot\";\n"					\
"  token_cert_file = \"/etc/depot/token.crt\";\n"			\
"};\n"

START_TEST(test_full_example)
{
	struct config		*cf;
	struct config_server	*srv;
	struct config_upstream	*up;
	struct config_registry	*reg;
	char			*cause, path[PATH_MAX];

	ck_assert_int_eq(path_fmt(path, sizeof(path), "%s/secrets", test_dir),
	    0);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	test_write("secrets/mirror", 0600, "mirror-pass\n");
	test_write("secrets/ecr-prod", 0600, "ecr-secret-key");
	test_write("depot.conf", 0644, TEST_FULL_CONF, test_dir, test_dir);
	cf = test_load(&cause);
	ck_assert_msg(cf != NULL, "refused: %s", cause);
	ck_assert_ptr_null(cause);
	ck_assert_str_eq(cf->cf_path, test_conf);

	srv = &cf->cf_server;
	ck_assert_uint_eq(srv->srv_nlisten, 1);
	ck_assert_str_eq(srv->srv_listen[0].l_host, "127.0.0.1");
	ck_assert_str_eq(srv->srv_listen[0].l_port, "5000");
	ck_assert_str_eq(srv->srv_listen[0].l_text, "127.0.0.1:5000");
	ck_assert_int_eq(srv->srv_workers, 0);
	ck_assert_str_eq(srv->srv_user, "depot");
	ck_assert_str_eq(srv->srv_group, "depot");
	ck_assert_str_eq(srv->srv_pidfile, "/run/depot/depotd.pid");
	ck_assert_str_eq(srv->srv_data_dir, "/var/lib/depot");
	ck_assert_ptr_null(srv->srv_public_url);
	ck_assert_uint_eq(srv->srv_trusted_proxies.sl_count, 1);
	ck_assert_str_eq(srv->srv_trusted_proxies.sl_items[0], "127.0.0.1");
	ck_assert_ptr_null(srv->srv_mirror_registry);
	ck_assert_int_eq(srv->srv_log.log_syslog, 1);
	ck_assert_str_eq(srv->srv_log.log_facility, "daemon");
	ck_assert_int_eq(srv->srv_log.log_level, LOG_INFO);
	ck_assert_ptr_null(srv->srv_log.log_access_log);
	ck_assert_int_eq(srv->srv_request_timeout, 60);
	ck_assert_int_eq(srv->srv_shutdown_timeout, 30);
	ck_assert_int_eq(srv->srv_upload_expiry, 86400);
	ck_assert_int_eq(srv->srv_gc_interval, 0);
	ck_assert_int_eq(srv->srv_gc_grace, 172800);
	ck_assert(srv->srv_max_body == 0);
	ck_assert_int_eq(srv->srv_max_connections, 0);

	ck_assert_uint_eq(cf->cf_nupstreams, 4);
	up = &cf->cf_upstreams[0];
	ck_assert_str_eq(up->up_key, "dockerhub");
	ck_assert_int_eq(up->up_type, REPO_DOCKER);
	ck_assert_int_eq(up->up_source, SOURCE_DOCKERHUB);
	ck_assert_ptr_null(up->up_url);
	ck_assert_int_eq(up->up_auth.cr_type, AUTH_ANONYMOUS);
	ck_assert_ptr_null(up->up_auth.cr_username);
	ck_assert_ptr_null(up->up_auth.cr_password);
	ck_assert_int_eq(up->up_tag_ttl, 300);
	ck_assert_int_eq(up->up_negative_ttl, 30);
	ck_assert_int_eq(up->up_timeout, 30);
	ck_assert_ptr_null(up->up_ca_file);
	ck_assert_int_eq(up->up_insecure_tls, 0);
	ck_assert_uint_eq(up->up_token_realms.sl_count, 0);
	ck_assert_uint_eq(up->up_read.sl_count, 1);
	/* Anonymous reading is never the default. */
	ck_assert_str_eq(up->up_read.sl_items[0], "*");
	ck_assert_uint_eq(up->up_write.sl_count, 1);
	ck_assert_str_eq(up->up_write.sl_items[0], "*");
	ck_assert_str_eq(up->up_file, test_conf);
	ck_assert_int_eq(up->up_line, 15);

	up = &cf->cf_upstreams[1];
	ck_assert_str_eq(up->up_key, "mirror");
	ck_assert_int_eq(up->up_source, SOURCE_CUSTOM);
	ck_assert_str_eq(up->up_url, "https://mirror.example.com");
	ck_assert_int_eq(up->up_auth.cr_type, AUTH_USERPASS);
	ck_assert_str_eq(up->up_auth.cr_username, "ci");
	ck_assert_str_eq(up->up_auth.cr_password, "mirror-pass");
	ck_assert_ptr_null(up->up_auth.cr_access_key_id);
	ck_assert_int_eq(up->up_line, 17);

	up = &cf->cf_upstreams[2];
	ck_assert_str_eq(up->up_key, "ecr-prod");
	ck_assert_int_eq(up->up_type, REPO_DOCKER);
	ck_assert_int_eq(up->up_source, SOURCE_ECR);
	ck_assert_str_eq(up->up_url, "https://us-east-1.console.aws.amazon."
	    "com/ecr/repositories/private/123456789012/team/app?region="
	    "us-east-1");
	ck_assert_int_eq(up->up_auth.cr_type, AUTH_ACCESS_KEY);
	ck_assert_str_eq(up->up_auth.cr_access_key_id, "AKIA...");
	ck_assert_str_eq(up->up_auth.cr_secret_access_key, "ecr-secret-key");
	ck_assert_ptr_null(up->up_auth.cr_password);
	ck_assert_int_eq(up->up_line, 19);

	up = &cf->cf_upstreams[3];
	ck_assert_str_eq(up->up_key, "bitnami");
	ck_assert_int_eq(up->up_type, REPO_HELM);
	ck_assert_int_eq(up->up_source, SOURCE_CUSTOM);
	ck_assert_str_eq(up->up_url, "https://charts.example.com/stable");
	ck_assert_int_eq(up->up_line, 23);

	ck_assert_uint_eq(cf->cf_nregistries, 2);
	reg = &cf->cf_registries[0];
	ck_assert_str_eq(reg->reg_name, "docker-local");
	ck_assert_int_eq(reg->reg_type, REPO_DOCKER);
	ck_assert_str_eq(reg->reg_description, "team images");
	ck_assert_uint_eq(reg->reg_labels.sl_count, 2);
	ck_assert_str_eq(reg->reg_labels.sl_items[0], "team-a");
	ck_assert_str_eq(reg->reg_labels.sl_items[1], "prod");
	ck_assert_uint_eq(reg->reg_upstreams.sl_count, 2);
	ck_assert_str_eq(reg->reg_upstreams.sl_items[0], "mirror");
	ck_assert_str_eq(reg->reg_upstreams.sl_items[1], "dockerhub");
	ck_assert_int_eq(reg->reg_read_only, 0);
	ck_assert_uint_eq(reg->reg_read.sl_count, 1);
	ck_assert_str_eq(reg->reg_read.sl_items[0], "*");
	ck_assert_uint_eq(reg->reg_write.sl_count, 1);
	ck_assert_str_eq(reg->reg_write.sl_items[0], "*");
	ck_assert_str_eq(reg->reg_file, test_conf);
	ck_assert_int_eq(reg->reg_line, 28);
	reg = &cf->cf_registries[1];
	ck_assert_str_eq(reg->reg_name, "helm-local");
	ck_assert_int_eq(reg->reg_type, REPO_HELM);
	ck_assert_ptr_null(reg->reg_description);
	ck_assert_uint_eq(reg->reg_labels.sl_count, 0);
	ck_assert_uint_eq(reg->reg_upstreams.sl_count, 1);
	ck_assert_str_eq(reg->reg_upstreams.sl_items[0], "bitnami");
	ck_assert_int_eq(reg->reg_line, 30);

	ck_assert_int_eq(cf->cf_has_access, 1);
	ck_assert_str_eq(cf->cf_access.acc_users_file, "/etc/depot/htpasswd");
	ck_assert_str_eq(cf->cf_access.acc_token_key_file,
	    "/etc/depot/token.key");
	ck_assert_int_eq(cf->cf_access.acc_token_ttl, 300);
	ck_assert_str_eq(cf->cf_access.acc_token_issuer, "depot");
	ck_assert_str_eq(cf->cf_access.acc_token_cert_file,
	    "/etc/depot/token.crt");

	ck_assert_ptr_eq(config_registry_find(cf, "helm-local"),
	    &cf->cf_registries[1]);
	ck_assert_ptr_null(config_registry_find(cf, "mirror"));
	ck_assert_ptr_eq(config_upstream_find(cf, "mirror"),
	    &cf->cf_upstreams[1]);
	ck_assert_ptr_null(config_upstream_find(cf, "docker-local"));
	ck_assert_ptr_null(config_upstream_find(cf, NULL));
	config_free(cf);
}
END_TEST

START_TEST(test_defaults)
{
	struct config		*cf;
	struct config_server	*srv;
	char			*cause;

	test_write("depot.conf", 0644, "# nothing but a comment\n");
	cf = test_load(&cause);
	ck_assert_msg(cf != NULL, "refused: %s", cause);
	srv = &cf->cf_server;
	ck_assert_uint_eq(srv->srv_nlisten, 1);
	ck_assert_str_eq(srv->srv_listen[0].l_host, "127.0.0.1");
	ck_assert_str_eq(srv->srv_listen[0].l_port, "5000");
	ck_assert_str_eq(srv->srv_listen[0].l_text, "127.0.0.1:5000");
	ck_assert_int_eq(srv->srv_workers, 0);
	ck_assert_ptr_null(srv->srv_user);
	ck_assert_ptr_null(srv->srv_group);
	ck_assert_str_eq(srv->srv_pidfile, DEPOT_PIDFILE_DEFAULT);
	ck_assert_str_eq(srv->srv_data_dir, DEPOT_DATADIR_DEFAULT);
	ck_assert_ptr_null(srv->srv_public_url);
	ck_assert_uint_eq(srv->srv_trusted_proxies.sl_count, 2);
	ck_assert_str_eq(srv->srv_trusted_proxies.sl_items[0], "127.0.0.1");
	ck_assert_str_eq(srv->srv_trusted_proxies.sl_items[1], "::1");
	ck_assert_ptr_null(srv->srv_mirror_registry);
	ck_assert_int_eq(srv->srv_log.log_syslog, 1);
	ck_assert_str_eq(srv->srv_log.log_facility, "daemon");
	ck_assert_int_eq(srv->srv_log.log_level, LOG_INFO);
	ck_assert_ptr_null(srv->srv_log.log_access_log);
	ck_assert_int_eq(srv->srv_request_timeout, 60);
	ck_assert_int_eq(srv->srv_shutdown_timeout, 30);
	ck_assert_int_eq(srv->srv_upload_expiry, 86400);
	ck_assert(srv->srv_max_body == 0);
	ck_assert_uint_eq(cf->cf_nupstreams, 0);
	ck_assert_uint_eq(cf->cf_nregistries, 0);
	ck_assert_int_eq(cf->cf_has_access, 0);
	ck_assert_ptr_null(cf->cf_access.acc_users_file);
	config_free(cf);
}
END_TEST

/* Omitted optional settings of objects and the auth group. */
START_TEST(test_object_defaults)
{
	struct config		*cf;
	struct config_upstream	*up;
	struct config_registry	*reg;
	char			*cause;

	test_write("depot.conf", 0644,
	    "upstreams = ( { key = \"hub\"; type = \"docker\"; "
	    "source = \"dockerhub\"; } );\n"
	    "registries = ( { name = \"r\"; type = \"docker\"; } );\n"
	    "auth = { users_file = \"users\"; token_key_file = \"k.pem\"; };\n");
	cf = test_load(&cause);
	ck_assert_msg(cf != NULL, "refused: %s", cause);
	up = &cf->cf_upstreams[0];
	ck_assert_ptr_null(up->up_url);
	ck_assert_int_eq(up->up_auth.cr_type, AUTH_ANONYMOUS);
	ck_assert_int_eq(up->up_tag_ttl, 300);
	ck_assert_int_eq(up->up_negative_ttl, 30);
	ck_assert_int_eq(up->up_timeout, 30);
	ck_assert_int_eq(up->up_insecure_tls, 0);
	/* Anonymous reading is never the default. */
	ck_assert_str_eq(up->up_read.sl_items[0], "*");
	ck_assert_str_eq(up->up_write.sl_items[0], "*");
	reg = &cf->cf_registries[0];
	ck_assert_ptr_null(reg->reg_description);
	ck_assert_uint_eq(reg->reg_labels.sl_count, 0);
	ck_assert_uint_eq(reg->reg_upstreams.sl_count, 0);
	ck_assert_int_eq(reg->reg_read_only, 0);
	ck_assert_uint_eq(reg->reg_read.sl_count, 1);
	ck_assert_str_eq(reg->reg_read.sl_items[0], "*");
	ck_assert_uint_eq(reg->reg_write.sl_count, 1);
	ck_assert_str_eq(reg->reg_write.sl_items[0], "*");
	ck_assert_int_eq(cf->cf_has_access, 1);
	ck_assert_int_eq(cf->cf_server.srv_metrics_read_set, 0);
	ck_assert_int_eq(cf->cf_access.acc_token_ttl, 300);
	ck_assert_str_eq(cf->cf_access.acc_token_issuer, "depot");
	ck_assert_ptr_null(cf->cf_access.acc_token_cert_file);
	/* Relative paths are taken from the config file's directory. */
	ck_assert(strncmp(cf->cf_access.acc_users_file, test_dir,
	    strlen(test_dir)) == 0);
	ck_assert_str_eq(cf->cf_access.acc_users_file + strlen(test_dir),
	    "/users");
	config_free(cf);
}
END_TEST

/* Every optional setting given, with values other than the defaults. */
START_TEST(test_all_settings)
{
	struct config		*cf;
	struct config_server	*srv;
	struct config_upstream	*up;
	struct config_registry	*reg;
	char			*cause, want[PATH_MAX];

	test_write("depot.conf", 0644,
	    "server = {\n"
	    "  listen = [ \"[::1]:5000\", \"0.0.0.0:80\", "
	    "\"localhost:8080\" ];\n"
	    "  workers = 4; user = \"\"; pidfile = \"run/depotd.pid\";\n"
	    "  data_dir = \"data\"; public_url = \"https://r.example.com/\";\n"
	    "  trusted_proxies = [ \"10.0.0.1\", \"fd00::1\" ];\n"
	    "  mirror_registry = \"hub\";\n"
	    "  log = { syslog = false; facility = \"local3\"; "
	    "level = \"debug\"; access_log = \"/var/log/depot/access.log\"; };\n"
	    "  request_timeout = 5; shutdown_timeout = 0; "
	    "upload_expiry = 3600;\n"
	    "  gc_interval = 86400; gc_grace = 7200;\n"
	    "  max_body = 10737418240L; max_connections = 200;\n"
	    "};\n"
	    "upstreams = ( { key = \"hub\"; type = \"docker\"; "
	    "source = \"dockerhub\"; url = \"https://hub.example.com/\";\n"
	    "  tag_ttl = 0; negative_ttl = 0; timeout = 7; "
	    "ca_file = \"/etc/ssl/ca.pem\"; insecure_tls = true;\n"
	    "  token_realms = [ \"https://auth.example.com/token\" ];\n"
	    "  read = [ \"alice\", \"ci@example.com\" ]; write = [ ]; "
	    "auth = { type = \"userpass\"; username = \"u\"; "
	    "password = \"inline-pass\"; }; } );\n"
	    "registries = ( { name = \"r\"; type = \"docker\"; "
	    "read_only = true; read = [ \"*\" ]; write = [ \"bob\" ]; "
	    "labels = [ \"a_b.c-1\" ]; description = \"\"; } );\n");
	cf = test_load(&cause);
	ck_assert_msg(cf != NULL, "refused: %s", cause);
	srv = &cf->cf_server;
	ck_assert_uint_eq(srv->srv_nlisten, 3);
	ck_assert_str_eq(srv->srv_listen[0].l_host, "::1");
	ck_assert_str_eq(srv->srv_listen[0].l_port, "5000");
	ck_assert_str_eq(srv->srv_listen[0].l_text, "[::1]:5000");
	ck_assert_str_eq(srv->srv_listen[1].l_host, "0.0.0.0");
	ck_assert_str_eq(srv->srv_listen[1].l_port, "80");
	ck_assert_str_eq(srv->srv_listen[2].l_host, "localhost");
	ck_assert_int_eq(srv->srv_workers, 4);
	ck_assert_ptr_null(srv->srv_user);
	ck_assert_int_eq(path_fmt(want, sizeof(want), "%s/run/depotd.pid",
	    test_dir), 0);
	ck_assert_str_eq(srv->srv_pidfile, want);
	ck_assert_int_eq(path_fmt(want, sizeof(want), "%s/data", test_dir), 0);
	ck_assert_str_eq(srv->srv_data_dir, want);
	ck_assert_str_eq(srv->srv_public_url, "https://r.example.com");
	ck_assert_uint_eq(srv->srv_trusted_proxies.sl_count, 2);
	ck_assert_str_eq(srv->srv_trusted_proxies.sl_items[1], "fd00::1");
	ck_assert_str_eq(srv->srv_mirror_registry, "hub");
	ck_assert_int_eq(srv->srv_log.log_syslog, 0);
	ck_assert_str_eq(srv->srv_log.log_facility, "local3");
	ck_assert_int_eq(srv->srv_log.log_level, LOG_DEBUG);
	ck_assert_str_eq(srv->srv_log.log_access_log,
	    "/var/log/depot/access.log");
	ck_assert_int_eq(srv->srv_request_timeout, 5);
	ck_assert_int_eq(srv->srv_shutdown_timeout, 0);
	ck_assert_int_eq(srv->srv_upload_expiry, 3600);
	ck_assert_int_eq(srv->srv_gc_interval, 86400);
	ck_assert_int_eq(srv->srv_gc_grace, 7200);
	ck_assert(srv->srv_max_body == 10737418240LL);
	ck_assert_int_eq(srv->srv_max_connections, 200);

	up = &cf->cf_upstreams[0];
	ck_assert_str_eq(up->up_url, "https://hub.example.com");
	ck_assert_int_eq(up->up_tag_ttl, 0);
	ck_assert_int_eq(up->up_negative_ttl, 0);
	ck_assert_int_eq(up->up_timeout, 7);
	ck_assert_str_eq(up->up_ca_file, "/etc/ssl/ca.pem");
	ck_assert_int_eq(up->up_insecure_tls, 1);
	ck_assert_uint_eq(up->up_token_realms.sl_count, 1);
	ck_assert_str_eq(up->up_token_realms.sl_items[0],
	    "https://auth.example.com/token");
	ck_assert_uint_eq(up->up_read.sl_count, 2);
	ck_assert_str_eq(up->up_read.sl_items[1], "ci@example.com");
	ck_assert_uint_eq(up->up_write.sl_count, 0);
	ck_assert_str_eq(up->up_auth.cr_password, "inline-pass");

	reg = &cf->cf_registries[0];
	ck_assert_int_eq(reg->reg_read_only, 1);
	ck_assert_str_eq(reg->reg_read.sl_items[0], "*");
	ck_assert_str_eq(reg->reg_write.sl_items[0], "bob");
	ck_assert_str_eq(reg->reg_labels.sl_items[0], "a_b.c-1");
	ck_assert_str_eq(reg->reg_description, "");
	config_free(cf);
}
END_TEST

/* One refused config per entry: the text and what the cause must hold. */
static const struct {
	const char	*text;
	const char	*expect;
} refusals[] = {
	{ "upstreams = (\n  { key = \"a\"; type = \"docker\";\n"
	  "    source = \"dockerhub\"; foo = 1; }\n);\n",
	  "depot.conf:3: unknown setting 'foo' in upstream" },
	{ "server = {\n  workers = \"4\";\n};\n",
	  "depot.conf:2: 'workers' must be an integer" },
	{ "server = {\n  workers = 257;\n};\n",
	  "depot.conf:2: 'workers' must be between 0 and 256" },
	{ "server = {\n  workers = 1.5;\n};\n",
	  "depot.conf:2: 'workers' must be an integer" },
	{ "server = {};\nfoo = 1;\n",
	  "depot.conf:2: unknown setting 'foo' in the top level" },
	{ "server = {\n  colour = \"red\";\n};\n",
	  "depot.conf:2: unknown setting 'colour' in server" },
	{ "server = 5;\n",
	  "depot.conf:1: 'server' must be a group" },
	{ "server = {\n  listen = [ \"127.0.0.1:0\" ];\n};\n",
	  "depot.conf:2: listen address '127.0.0.1:0' must end in a port" },
	{ "server = {\n  listen = [ \"127.0.0.1:65536\" ];\n};\n",
	  "depot.conf:2: listen address '127.0.0.1:65536'" },
	{ "server = {\n  listen = [ \"::1:5000\" ];\n};\n",
	  "depot.conf:2: listen address '::1:5000' must put an IPv6" },
	{ "server = {\n  listen = [ \"[::1]5000\" ];\n};\n",
	  "depot.conf:2: listen address '[::1]5000'" },
	{ "server = {\n  listen = [ \"[nope]:5000\" ];\n};\n",
	  "depot.conf:2: listen address '[nope]:5000'" },
	{ "server = {\n  listen = [ \"5000\" ];\n};\n",
	  "depot.conf:2: listen address '5000' must be host:port" },
	{ "server = {\n  listen = [ ];\n};\n",
	  "depot.conf:2: 'listen' must name at least one address" },
	{ "server = {\n  listen = \"127.0.0.1:5000\";\n};\n",
	  "depot.conf:2: 'listen' must be a list of strings" },
	{ "server = {\n  public_url = \"ftp://x.example.com\";\n};\n",
	  "depot.conf:2: 'public_url' must be an http:// or https:// URL" },
	{ "server = {\n  public_url = \"https://\";\n};\n",
	  "depot.conf:2: 'public_url' must be" },
	{ "server = {\n  trusted_proxies = [ \"10.0.0.300\" ];\n};\n",
	  "depot.conf:2: '10.0.0.300' in 'trusted_proxies' is not an IPv4" },
	{ "server = {\n  log = {\n    facility = \"kern\";\n  };\n};\n",
	  "depot.conf:3: 'facility' must be daemon, user or local0" },
	{ "server = {\n  log = {\n    level = \"verbose\";\n  };\n};\n",
	  "depot.conf:3: 'level' must be one of error, warning, notice, "
	  "info, debug" },
	{ "server = {\n  log = {\n    syslog = \"yes\";\n  };\n};\n",
	  "depot.conf:3: 'syslog' must be true or false" },
	{ "server = {\n  log = {\n    file = \"x\";\n  };\n};\n",
	  "depot.conf:3: unknown setting 'file' in log" },
	{ "server = {\n  request_timeout = 0;\n};\n",
	  "depot.conf:2: 'request_timeout' must be between 1 and 86400" },
	{ "server = {\n  shutdown_timeout = -1;\n};\n",
	  "depot.conf:2: 'shutdown_timeout' must be between 0 and 86400" },
	{ "server = {\n  upload_expiry = 0;\n};\n",
	  "depot.conf:2: 'upload_expiry' must be at least 1" },
	{ "server = {\n  gc_interval = -1;\n};\n",
	  "depot.conf:2: 'gc_interval' must be 0 or more" },
	{ "server = {\n  gc_grace = -5;\n};\n",
	  "depot.conf:2: 'gc_grace' must be 0 or more" },
	{ "server = {\n  max_body = -1;\n};\n",
	  "depot.conf:2: 'max_body' must be 0 or more" },
	{ "server = {\n  max_connections = -1;\n};\n",
	  "depot.conf:2: 'max_connections' must be 0 or more" },
	{ "server = {\n  data_dir = \"\";\n};\n",
	  "depot.conf:2: 'data_dir' must not be empty" },
	{ "server = {\n  pidfile = \"\";\n};\n",
	  "depot.conf:2: 'pidfile' must not be empty" },
	{ "server = {\n  mirror_registry = \"nope\";\n};\n",
	  "depot.conf:2: mirror_registry 'nope' is not a registry or upstream" },
	{ "server = {\n  mirror_registry = \"charts\";\n};\n"
	  "registries = ( { name = \"charts\"; type = \"helm\"; } );\n",
	  "depot.conf:2: mirror_registry 'charts' is of type helm" },
	{ "upstreams = (\n  { key = \"Bad_Key\"; type = \"docker\"; "
	  "source = \"dockerhub\"; }\n);\n",
	  "depot.conf:2: invalid upstream key 'Bad_Key': " REF_NAME_RULE },
	{ "registries = (\n  { name = \"9lives\"; type = \"docker\"; }\n);\n",
	  "depot.conf:2: invalid registry name '9lives': " REF_NAME_RULE },
	{ "registries = (\n  { type = \"docker\"; }\n);\n",
	  "depot.conf:2: 'name' is required in registry" },
	{ "registries = (\n  { name = \"r\"; }\n);\n",
	  "depot.conf:2: 'type' is required" },
	{ "registries = (\n  { name = \"r\"; type = \"docker\";\n"
	  "    colour = \"red\"; }\n);\n",
	  "depot.conf:3: unknown setting 'colour' in registry" },
	{ "registries = (\n  { name = \"r\"; type = \"docker\";\n"
	  "    description = 5; }\n);\n",
	  "depot.conf:3: 'description' must be a string" },
	{ "upstreams = (\n  { key = \"a\"; type = \"maven\"; "
	  "source = \"custom\"; url = \"https://x\"; }\n);\n",
	  "depot.conf:2: 'type' must be one of docker, helm, not 'maven'" },
	{ "upstreams = (\n  { key = \"a\"; type = \"docker\"; "
	  "source = \"quay\"; }\n);\n",
	  "depot.conf:2: 'source' must be one of dockerhub, custom, ecr" },
	{ "upstreams = (\n  { key = \"a\"; type = \"docker\"; }\n);\n",
	  "depot.conf:2: 'source' is required" },
	{ "upstreams = (\n  { key = \"a\"; type = \"helm\";\n"
	  "    source = \"dockerhub\"; }\n);\n",
	  "depot.conf:3: a helm upstream must have source 'custom'" },
	{ "upstreams = (\n  { key = \"a\"; type = \"docker\"; "
	  "source = \"custom\"; }\n);\n",
	  "depot.conf:2: 'url' is required for source 'custom'" },
	{ "upstreams = (\n  { key = \"a\"; type = \"docker\"; "
	  "source = \"ecr\"; }\n);\n",
	  "depot.conf:2: 'url' is required for source 'ecr'" },
	{ "upstreams = (\n  { key = \"a\"; type = \"docker\"; "
	  "source = \"custom\";\n    url = \"ftp://x.example.com\"; }\n);\n",
	  "depot.conf:3: 'url' must be an http:// or https:// URL" },
	{ "upstreams = (\n  { key = \"a\"; type = \"docker\"; "
	  "source = \"ecr\";\n    url = \"https://123456789012.dkr.ecr."
	  "us-east-1.amazonaws.org\"; }\n);\n",
	  "depot.conf:3: 'url' 'https://123456789012.dkr.ecr.us-east-1."
	  "amazonaws.org': '123456789012.dkr.ecr.us-east-1.amazonaws.org' is "
	  "not an ECR registry host" },
	{ "upstreams = (\n  { key = \"a\"; type = \"docker\"; "
	  "source = \"ecr\";\n    url = \"https://us-east-1.console.aws."
	  "amazon.com/ecr/repositories/private/123456789012/app?region="
	  "eu-west-1\"; }\n);\n",
	  "depot.conf:3: 'url' 'https://us-east-1.console" },
	{ "upstreams = (\n  { key = \"a\"; type = \"docker\"; "
	  "source = \"ecr\";\n    url = \"https://us-east-1.console.aws."
	  "amazon.com/ecr/repositories/private/12345/app?region="
	  "us-east-1\"; }\n);\n",
	  "depot.conf:3: 'url' 'https://us-east-1.console" },
	{ "upstreams = (\n  { key = \"a\"; type = \"docker\"; "
	  "source = \"dockerhub\";\n"
	  "    auth = { type = \"userpass\"; username = \"u\";\n"
	  "      password = \"p\"; password_file = \"/nonexistent\"; }; }\n);\n",
	  "depot.conf:4: give either 'password' or 'password_file', not both" },
	{ "upstreams = (\n  { key = \"a\"; type = \"docker\"; "
	  "source = \"dockerhub\";\n"
	  "    auth = { type = \"userpass\"; username = \"u\"; }; }\n);\n",
	  "depot.conf:3: auth type 'userpass' needs 'password' or "
	  "'password_file'" },
	{ "upstreams = (\n  { key = \"a\"; type = \"docker\"; "
	  "source = \"dockerhub\";\n"
	  "    auth = { type = \"userpass\"; password = \"p\"; }; }\n);\n",
	  "depot.conf:3: auth type 'userpass' needs 'username'" },
	{ "upstreams = (\n  { key = \"a\"; type = \"docker\"; "
	  "source = \"custom\"; url = \"https://x\";\n"
	  "    auth = { type = \"access_key\"; access_key_id = \"AKIA\";\n"
	  "             secret_access_key = \"s\"; }; }\n);\n",
	  "depot.conf:3: auth type 'access_key' is only for source 'ecr'" },
	{ "upstreams = (\n  { key = \"a\"; type = \"docker\"; "
	  "source = \"custom\"; url = \"https://x\";\n"
	  "    auth = { type = \"aws_default\"; }; }\n);\n",
	  "depot.conf:3: auth type 'aws_default' is only for source 'ecr'" },
	{ "upstreams = (\n  { key = \"a\"; type = \"docker\"; "
	  "source = \"custom\"; url = \"https://x\";\n"
	  "    api_url = \"https://y\"; }\n);\n",
	  "depot.conf:3: 'api_url' is only for source 'ecr'" },
	{ "upstreams = (\n  { key = \"a\"; type = \"docker\"; "
	  "source = \"ecr\";\n    url = \"https://123456789012.dkr.ecr."
	  "us-east-1.amazonaws.com\"; }\n);\n",
	  "depot.conf:2: a private ECR registry needs auth type 'access_key' "
	  "or 'aws_default'" },
	{ "upstreams = (\n  { key = \"a\"; type = \"docker\"; "
	  "source = \"ecr\";\n    url = \"https://public.ecr.aws/x1\";\n"
	  "    imds_url = \"ftp://x\"; }\n);\n",
	  "depot.conf:4: 'imds_url' must be an http:// or https:// URL" },
	{ "upstreams = (\n  { key = \"a\"; type = \"docker\"; "
	  "source = \"ecr\";\n    url = \"https://us-east-1.console.aws."
	  "amazon.com/ecr/repositories/private/123456789012/app?region="
	  "us-east-1\";\n    auth = { type = \"access_key\"; "
	  "access_key_id = \"AKIA\"; }; }\n);\n",
	  "depot.conf:4: auth type 'access_key' needs 'secret_access_key' or "
	  "'secret_access_key_file'" },
	{ "upstreams = (\n  { key = \"a\"; type = \"docker\"; "
	  "source = \"dockerhub\";\n"
	  "    auth = { type = \"anonymous\";\n      password = \"p\"; }; }\n"
	  ");\n",
	  "depot.conf:4: 'password' is not used with auth type 'anonymous'" },
	{ "upstreams = (\n  { key = \"a\"; type = \"docker\"; "
	  "source = \"dockerhub\";\n"
	  "    auth = { type = \"userpass\"; username = \"u\"; "
	  "password = \"p\";\n      access_key_id = \"AKIA\"; }; }\n);\n",
	  "depot.conf:4: 'access_key_id' is not used with auth type "
	  "'userpass'" },
	{ "upstreams = (\n  { key = \"a\"; type = \"docker\"; "
	  "source = \"dockerhub\";\n"
	  "    auth = { type = \"token\"; }; }\n);\n",
	  "depot.conf:3: 'type' must be one of anonymous, userpass, "
	  "access_key" },
	{ "upstreams = (\n  { key = \"a\"; type = \"docker\"; "
	  "source = \"dockerhub\";\n"
	  "    auth = { type = \"anonymous\";\n      realm = \"x\"; }; }\n"
	  ");\n",
	  "depot.conf:4: unknown setting 'realm' in upstream auth" },
	{ "upstreams = (\n  { key = \"a\"; type = \"docker\"; "
	  "source = \"dockerhub\";\n    tag_ttl = -1; }\n);\n",
	  "depot.conf:3: 'tag_ttl' must be 0 or more" },
	{ "upstreams = (\n  { key = \"a\"; type = \"docker\"; "
	  "source = \"dockerhub\";\n    negative_ttl = -5; }\n);\n",
	  "depot.conf:3: 'negative_ttl' must be 0 or more" },
	{ "upstreams = (\n  { key = \"a\"; type = \"docker\"; "
	  "source = \"dockerhub\";\n    timeout = 0; }\n);\n",
	  "depot.conf:3: 'timeout' must be between 1 and 86400" },
	{ "upstreams = (\n  { key = \"a\"; type = \"docker\"; "
	  "source = \"dockerhub\";\n    insecure_tls = \"yes\"; }\n);\n",
	  "depot.conf:3: 'insecure_tls' must be true or false" },
	{ "upstreams = (\n  { key = \"a\"; type = \"docker\"; "
	  "source = \"dockerhub\";\n    ca_file = 1; }\n);\n",
	  "depot.conf:3: 'ca_file' must be a string" },
	{ "upstreams = (\n  { key = \"a\"; type = \"docker\"; "
	  "source = \"dockerhub\";\n"
	  "    token_realms = [ \"auth.example.com\" ]; }\n);\n",
	  "depot.conf:3: 'auth.example.com' in 'token_realms' is not an http" },
	{ "server = {\n  metrics_read = [ \"alice\", \"bad user\" ];\n};\n",
	  "depot.conf:2: 'bad user' in 'metrics_read' is not \"anonymous\"" },
	{ "upstreams = (\n  { key = \"a\"; type = \"docker\"; "
	  "source = \"dockerhub\";\n    read = [ \"bad user\" ]; }\n);\n",
	  "depot.conf:3: 'bad user' in 'read' is not \"anonymous\"" },
	{ "registries = (\n  { name = \"r\"; type = \"docker\";\n"
	  "    write = [ \"ok\", \"no/slash\" ]; }\n);\n",
	  "depot.conf:3: 'no/slash' in 'write' is not \"anonymous\"" },
	{ "registries = (\n  { name = \"r\"; type = \"docker\";\n"
	  "    labels = [ \"Team\" ]; }\n);\n",
	  "depot.conf:3: 'Team' in 'labels' is not a label" },
	{ "registries = (\n  { name = \"r\"; type = \"docker\";\n"
	  "    labels = [ \"\" ]; }\n);\n",
	  "depot.conf:3: '' in 'labels' is not a label" },
	{ "registries = (\n  { name = \"r\"; type = \"docker\";\n"
	  "    labels = [ \"a12345678901234567890123456789012345678901234567"
	  "89012345678901234\" ]; }\n);\n",
	  "depot.conf:3: 'a123456789" },
	{ "registries = (\n  { name = \"r\"; type = \"docker\";\n"
	  "    read_only = 1; }\n);\n",
	  "depot.conf:3: 'read_only' must be true or false" },
	{ "registries = (\n  { name = \"r\"; type = \"docker\";\n"
	  "    upstreams = [ \"ghost\" ]; }\n);\n",
	  "depot.conf:3: upstream 'ghost' is not defined" },
	{ "upstreams = ( { key = \"hub\"; type = \"docker\"; "
	  "source = \"dockerhub\"; } );\n"
	  "registries = (\n  { name = \"charts\"; type = \"helm\";\n"
	  "    upstreams = [ \"hub\" ]; }\n);\n",
	  "depot.conf:4: upstream 'hub' is of type docker, but registry "
	  "'charts' is of type helm" },
	{ "upstreams = ( { key = \"hub\"; type = \"docker\"; "
	  "source = \"dockerhub\"; } );\n"
	  "registries = (\n  { name = \"r\"; type = \"docker\";\n"
	  "    upstreams = [ \"hub\",\n      \"hub\" ]; }\n);\n",
	  "depot.conf:5: upstream 'hub' is listed twice" },
	{ "registries = (\n  { name = \"other\"; type = \"docker\"; },\n"
	  "  { name = \"r\"; type = \"docker\";\n"
	  "    upstreams = [ \"other\" ]; }\n);\n",
	  "depot.conf:4: 'other' is a registry, not an upstream" },
	{ "upstreams = (\n  { key = \"x\"; type = \"docker\"; "
	  "source = \"dockerhub\"; },\n"
	  "  { key = \"x\"; type = \"docker\"; source = \"dockerhub\"; }\n);\n",
	  "depot.conf:3: upstream 'x' is already defined as an upstream at " },
	{ "upstreams = 5;\n",
	  "depot.conf:1: 'upstreams' must be a list of groups" },
	{ "registries = ( \"r\" );\n",
	  "depot.conf:1: 'registries' must be a list of groups" },
	{ "auth = {\n  token_key_file = \"/etc/depot/token.key\";\n};\n",
	  "depot.conf:1: 'users_file' is required in auth" },
	{ "auth = {\n  users_file = \"/etc/depot/htpasswd\";\n};\n",
	  "depot.conf:1: 'token_key_file' is required in auth" },
	{ "auth = {\n  users_file = \"u\"; token_key_file = \"k\";\n"
	  "  token_ttl = 0;\n};\n",
	  "depot.conf:3: 'token_ttl' must be between 1 and 86400" },
	{ "auth = {\n  users_file = \"u\"; token_key_file = \"k\";\n"
	  "  token_issuer = \"\";\n};\n",
	  "depot.conf:3: 'token_issuer' must not be empty" },
	{ "auth = {\n  users_file = \"u\"; token_key_file = \"k\";\n"
	  "  realm = \"x\";\n};\n",
	  "depot.conf:3: unknown setting 'realm' in auth" },
	{ "server = {\n  workers = ;\n};\n",
	  "depot.conf:2: syntax error" },
	{ "server = {\n  workers = 1;\n  workers = 2;\n};\n",
	  "depot.conf:3: duplicate setting name" },
};

START_TEST(test_refusal)
{
	test_refused(refusals[_i].text, refusals[_i].expect);
}
END_TEST

/* Every error of the file is reported, in line order. */
START_TEST(test_many_errors)
{
	struct config	*cf;
	char		*cause;
	const char	*a, *b, *c, *d;

	test_write("depot.conf", 0644,
	    "server = {\n"
	    "  workers = \"two\";\n"
	    "};\n"
	    "upstreams = (\n"
	    "  { key = \"a\"; type = \"docker\"; source = \"custom\"; }\n"
	    ");\n"
	    "registries = (\n"
	    "  { name = \"R\"; type = \"docker\"; upstreams = [ \"zz\" ]; }\n"
	    ");\n"
	    "bogus = 1;\n");
	cf = test_load(&cause);
	ck_assert_ptr_null(cf);
	ck_assert_ptr_nonnull(cause);
	a = strstr(cause, "depot.conf:2: 'workers' must be an integer");
	b = strstr(cause, "depot.conf:5: 'url' is required");
	c = strstr(cause, "depot.conf:8: invalid registry name 'R'");
	d = strstr(cause, "depot.conf:10: unknown setting 'bogus'");
	ck_assert_msg(a != NULL && b != NULL && c != NULL && d != NULL,
	    "missing errors in:\n%s", cause);
	ck_assert_msg(strstr(cause, "depot.conf:8: upstream 'zz' is not "
	    "defined") != NULL, "missing reference error in:\n%s", cause);
	ck_assert_msg(a < b && b < c && c < d, "not in line order:\n%s",
	    cause);
	ck_assert_int_eq(test_lines(cause), 5);
	ck_assert(cause[strlen(cause) - 1] != '\n');
	free(cause);
}
END_TEST

START_TEST(test_missing_file)
{
	struct config	*cf;
	char		*cause;

	cf = test_load(&cause);
	ck_assert_ptr_null(cf);
	ck_assert_ptr_nonnull(cause);
	ck_assert_msg(strstr(cause, test_conf) != NULL &&
	    strstr(cause, strerror(ENOENT)) != NULL, "cause: %s", cause);
	free(cause);
}
END_TEST

/* depot.d files are read in name order after depot.conf and merged. */
START_TEST(test_dropin_merge)
{
	struct config		*cf;
	struct config_upstream	*up;
	char			*cause, path[PATH_MAX];

	ck_assert_int_eq(path_fmt(path, sizeof(path), "%s/depot.d", test_dir),
	    0);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	ck_assert_int_eq(path_fmt(path, sizeof(path), "%s/depot.d/sub.conf",
	    test_dir), 0);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	test_write("depot.conf", 0644,
	    "upstreams = ( { key = \"hub\"; type = \"docker\"; "
	    "source = \"dockerhub\"; } );\n"
	    "registries = ( { name = \"main\"; type = \"docker\"; "
	    "upstreams = [ \"late\", \"hub\" ]; } );\n");
	test_write("depot.d/b-upstream.conf", 0644,
	    "# written by depotctl\n"
	    "upstreams = ( { key = \"late\"; type = \"docker\"; "
	    "source = \"custom\"; url = \"https://late.example.com\"; } );\n");
	test_write("depot.d/a-registry.conf", 0644,
	    "registries = ( { name = \"early\"; type = \"docker\"; "
	    "upstreams = [ \"late\" ]; } );\n");
	test_write("depot.d/c.conf", 0644,
	    "registries = ( { name = \"c1\"; type = \"helm\"; },\n"
	    "  { name = \"c2\"; type = \"helm\"; } );\n"
	    "upstreams = ( { key = \"c3\"; type = \"helm\"; "
	    "source = \"custom\"; url = \"https://c.example.com\"; } );\n");
	/* Not *.conf, hidden, or not a regular file: ignored. */
	test_write("depot.d/notes.txt", 0644, "this is not libconfig {\n");
	test_write("depot.d/.hidden.conf", 0644, "server = {};\n");
	test_write("depot.d/x.conf~", 0644, "garbage (\n");
	cf = test_load(&cause);
	ck_assert_msg(cf != NULL, "refused: %s", cause);
	ck_assert_uint_eq(cf->cf_nupstreams, 3);
	ck_assert_str_eq(cf->cf_upstreams[0].up_key, "hub");
	ck_assert_str_eq(cf->cf_upstreams[1].up_key, "late");
	ck_assert_str_eq(cf->cf_upstreams[2].up_key, "c3");
	ck_assert_uint_eq(cf->cf_nregistries, 4);
	ck_assert_str_eq(cf->cf_registries[0].reg_name, "main");
	ck_assert_str_eq(cf->cf_registries[1].reg_name, "early");
	ck_assert_str_eq(cf->cf_registries[2].reg_name, "c1");
	ck_assert_str_eq(cf->cf_registries[3].reg_name, "c2");
	ck_assert_int_eq(cf->cf_registries[3].reg_line, 2);
	up = config_upstream_find(cf, "late");
	ck_assert_ptr_nonnull(up);
	ck_assert_int_eq(path_fmt(path, sizeof(path),
	    "%s/depot.d/b-upstream.conf", test_dir), 0);
	ck_assert_str_eq(up->up_file, path);
	ck_assert_int_eq(up->up_line, 2);
	ck_assert_str_eq(cf->cf_registries[0].reg_upstreams.sl_items[0],
	    "late");
	config_free(cf);
}
END_TEST

/* A name defined in depot.conf and again in depot.d: both places named. */
START_TEST(test_dropin_duplicate)
{
	struct config	*cf;
	char		*cause, want[PATH_MAX * 2];

	ck_assert_int_eq(path_fmt(want, sizeof(want), "%s/depot.d", test_dir),
	    0);
	ck_assert_int_eq(mkdir(want, 0755), 0);
	test_write("depot.conf", 0644,
	    "# line 1\n"
	    "upstreams = ( { key = \"x\"; type = \"docker\"; "
	    "source = \"dockerhub\"; } );\n");
	test_write("depot.d/registry-x.conf", 0644,
	    "\n"
	    "registries = ( { name = \"x\"; type = \"docker\"; } );\n");
	test_write("depot.d/y1.conf", 0644,
	    "registries = ( { name = \"y\"; type = \"docker\"; } );\n");
	test_write("depot.d/y2.conf", 0644,
	    "\n\n"
	    "registries = ( { name = \"y\"; type = \"helm\"; } );\n");
	cf = test_load(&cause);
	ck_assert_ptr_null(cf);
	ck_assert_ptr_nonnull(cause);
	ck_assert_int_eq(path_fmt(want, sizeof(want),
	    "%s/depot.d/registry-x.conf:2: registry 'x' is already defined as "
	    "an upstream at %s:2 ", test_dir, test_conf), 0);
	ck_assert_msg(strstr(cause, want) != NULL, "want %s in:\n%s", want,
	    cause);
	ck_assert_int_eq(path_fmt(want, sizeof(want),
	    "%s/depot.d/y2.conf:3: registry 'y' is already defined as "
	    "a registry at %s/depot.d/y1.conf:1 ", test_dir, test_dir), 0);
	ck_assert_msg(strstr(cause, want) != NULL, "want %s in:\n%s", want,
	    cause);
	ck_assert_int_eq(test_lines(cause), 2);
	free(cause);
}
END_TEST

/* depot.d files hold upstreams and registries only; their syntax errors
 * are reported alongside the other errors. */
START_TEST(test_dropin_refused)
{
	struct config	*cf;
	char		*cause, want[PATH_MAX];

	ck_assert_int_eq(path_fmt(want, sizeof(want), "%s/depot.d", test_dir),
	    0);
	ck_assert_int_eq(mkdir(want, 0755), 0);
	test_write("depot.conf", 0644, "server = {\n  workers = -1;\n};\n");
	test_write("depot.d/srv.conf", 0644,
	    "server = { workers = 2; };\n"
	    "auth = { users_file = \"u\"; token_key_file = \"k\"; };\n");
	test_write("depot.d/syntax.conf", 0644,
	    "upstreams = (\n  { key = \"a\" type }\n);\n");
	cf = test_load(&cause);
	ck_assert_ptr_null(cf);
	ck_assert_msg(strstr(cause, "depot.conf:2: 'workers' must be") != NULL,
	    "cause: %s", cause);
	ck_assert_int_eq(path_fmt(want, sizeof(want), "%s/depot.d/srv.conf:1: "
	    "'server' is not allowed in a depot.d file", test_dir), 0);
	ck_assert_msg(strstr(cause, want) != NULL, "want %s in:\n%s", want,
	    cause);
	ck_assert_int_eq(path_fmt(want, sizeof(want), "%s/depot.d/srv.conf:2: "
	    "'auth' is not allowed in a depot.d file", test_dir), 0);
	ck_assert_msg(strstr(cause, want) != NULL, "want %s in:\n%s", want,
	    cause);
	ck_assert_int_eq(path_fmt(want, sizeof(want),
	    "%s/depot.d/syntax.conf:2: syntax error", test_dir), 0);
	ck_assert_msg(strstr(cause, want) != NULL, "want %s in:\n%s", want,
	    cause);
	free(cause);
}
END_TEST

/* A candidate file outside depot.d (the overlay's stand-in). */
static void
test_candidate(char *path, size_t size, const char *text)
{
	test_write("candidate.tmp", 0644, "%s", text);
	ck_assert_int_eq(path_fmt(path, size, "%s/candidate.tmp", test_dir),
	    0);
}

/* An overlay adds a file in name order, even without a depot.d. */
START_TEST(test_overlay_add)
{
	struct config		*cf;
	struct config_registry	*reg;
	char			*cause, cand[PATH_MAX], want[PATH_MAX];

	test_write("depot.conf", 0644,
	    "upstreams = ( { key = \"hub\"; type = \"docker\"; "
	    "source = \"dockerhub\"; } );\n");
	test_candidate(cand, sizeof(cand),
	    "# written by depotctl\n"
	    "registries = ( { name = \"new\"; type = \"docker\"; "
	    "upstreams = [ \"hub\" ]; } );\n");
	cf = config_load_overlay(test_conf, "registry-new.conf", cand,
	    &cause);
	ck_assert_msg(cf != NULL, "refused: %s", cause);
	ck_assert_uint_eq(cf->cf_nregistries, 1);
	ck_assert_int_eq(path_fmt(want, sizeof(want),
	    "%s/depot.d/registry-new.conf", test_dir), 0);
	ck_assert_str_eq(cf->cf_registries[0].reg_file, want);
	ck_assert_int_eq(cf->cf_registries[0].reg_line, 2);
	config_free(cf);

	/* Between the files that sort before and after it. */
	ck_assert_int_eq(path_fmt(want, sizeof(want), "%s/depot.d", test_dir),
	    0);
	ck_assert_int_eq(mkdir(want, 0755), 0);
	test_write("depot.d/a.conf", 0644,
	    "registries = ( { name = \"a\"; type = \"docker\"; } );\n");
	test_write("depot.d/z.conf", 0644,
	    "registries = ( { name = \"z\"; type = \"docker\"; } );\n");
	cf = config_load_overlay(test_conf, "registry-new.conf", cand,
	    &cause);
	ck_assert_msg(cf != NULL, "refused: %s", cause);
	ck_assert_uint_eq(cf->cf_nregistries, 3);
	ck_assert_str_eq(cf->cf_registries[0].reg_name, "a");
	ck_assert_str_eq(cf->cf_registries[1].reg_name, "new");
	ck_assert_str_eq(cf->cf_registries[2].reg_name, "z");
	reg = config_registry_find(cf, "new");
	ck_assert_ptr_nonnull(reg);
	ck_assert_str_eq(reg->reg_upstreams.sl_items[0], "hub");
	config_free(cf);

	/* Without the overlay the candidate is not read. */
	cf = test_load(&cause);
	ck_assert_msg(cf != NULL, "refused: %s", cause);
	ck_assert_uint_eq(cf->cf_nregistries, 2);
	config_free(cf);
}
END_TEST

/* An overlay replaces a file; its errors name the file it stands for. */
START_TEST(test_overlay_replace)
{
	struct config	*cf;
	char		*cause, cand[PATH_MAX], want[PATH_MAX * 2];

	ck_assert_int_eq(path_fmt(want, sizeof(want), "%s/depot.d", test_dir),
	    0);
	ck_assert_int_eq(mkdir(want, 0755), 0);
	test_write("depot.conf", 0644,
	    "upstreams = ( { key = \"hub\"; type = \"docker\"; "
	    "source = \"dockerhub\"; } );\n");
	test_write("depot.d/registry-x.conf", 0644,
	    "registries = ( { name = \"x\"; type = \"docker\"; } );\n");
	test_candidate(cand, sizeof(cand),
	    "registries = ( { name = \"x\"; type = \"helm\"; "
	    "description = \"new\"; } );\n");
	cf = config_load_overlay(test_conf, "registry-x.conf", cand, &cause);
	ck_assert_msg(cf != NULL, "refused: %s", cause);
	ck_assert_uint_eq(cf->cf_nregistries, 1);
	ck_assert_int_eq(cf->cf_registries[0].reg_type, REPO_HELM);
	ck_assert_str_eq(cf->cf_registries[0].reg_description, "new");
	config_free(cf);

	/* A helm registry cannot list a docker upstream. */
	test_candidate(cand, sizeof(cand),
	    "\n"
	    "registries = ( { name = \"x\"; type = \"helm\";\n"
	    "  upstreams = [ \"hub\" ]; } );\n");
	cf = config_load_overlay(test_conf, "registry-x.conf", cand, &cause);
	ck_assert_ptr_null(cf);
	ck_assert_int_eq(path_fmt(want, sizeof(want),
	    "%s/depot.d/registry-x.conf:3: upstream 'hub' is of type docker, "
	    "but registry 'x' is of type helm", test_dir), 0);
	ck_assert_msg(strstr(cause, want) != NULL, "want %s in:\n%s", want,
	    cause);
	ck_assert_msg(strstr(cause, "candidate.tmp") == NULL, "cause: %s",
	    cause);
	free(cause);

	/* A syntax error too. */
	test_candidate(cand, sizeof(cand), "registries = ( { name = ; } );\n");
	cf = config_load_overlay(test_conf, "registry-x.conf", cand, &cause);
	ck_assert_ptr_null(cf);
	ck_assert_int_eq(path_fmt(want, sizeof(want),
	    "%s/depot.d/registry-x.conf:1: ", test_dir), 0);
	ck_assert_msg(strncmp(cause, want, strlen(want)) == 0, "cause: %s",
	    cause);
	free(cause);

	/* A duplicate name: the other definition is named. */
	test_candidate(cand, sizeof(cand),
	    "registries = ( { name = \"hub\"; type = \"docker\"; } );\n");
	cf = config_load_overlay(test_conf, "registry-x.conf", cand, &cause);
	ck_assert_ptr_null(cf);
	ck_assert_int_eq(path_fmt(want, sizeof(want),
	    "%s/depot.d/registry-x.conf:1: registry 'hub' is already defined "
	    "as an upstream at %s:1 ", test_dir, test_conf), 0);
	ck_assert_msg(strstr(cause, want) != NULL, "want %s in:\n%s", want,
	    cause);
	free(cause);

	/* A stand-in that cannot be read. */
	ck_assert_int_eq(path_fmt(cand, sizeof(cand), "%s/absent", test_dir),
	    0);
	cf = config_load_overlay(test_conf, "registry-x.conf", cand, &cause);
	ck_assert_ptr_null(cf);
	ck_assert_int_eq(path_fmt(want, sizeof(want),
	    "%s/depot.d/registry-x.conf: cannot open", test_dir), 0);
	ck_assert_msg(strstr(cause, want) != NULL, "want %s in:\n%s", want,
	    cause);
	free(cause);
}
END_TEST

/* A NULL candidate: loaded as if the file were gone. */
START_TEST(test_overlay_remove)
{
	struct config	*cf;
	char		*cause, want[PATH_MAX * 2];

	ck_assert_int_eq(path_fmt(want, sizeof(want), "%s/depot.d", test_dir),
	    0);
	ck_assert_int_eq(mkdir(want, 0755), 0);
	test_write("depot.conf", 0644,
	    "registries = ( { name = \"main\"; type = \"docker\";\n"
	    "  upstreams = [ \"u\" ]; } );\n");
	test_write("depot.d/registry-x.conf", 0644,
	    "registries = ( { name = \"x\"; type = \"docker\"; } );\n");
	test_write("depot.d/upstream-u.conf", 0644,
	    "upstreams = ( { key = \"u\"; type = \"docker\"; "
	    "source = \"dockerhub\"; } );\n");
	cf = config_load_overlay(test_conf, "registry-x.conf", NULL, &cause);
	ck_assert_msg(cf != NULL, "refused: %s", cause);
	ck_assert_ptr_null(config_registry_find(cf, "x"));
	ck_assert_ptr_nonnull(config_registry_find(cf, "main"));
	config_free(cf);
	/* Removing a file nobody has is the plain load. */
	cf = config_load_overlay(test_conf, "registry-y.conf", NULL, &cause);
	ck_assert_msg(cf != NULL, "refused: %s", cause);
	ck_assert_uint_eq(cf->cf_nregistries, 2);
	config_free(cf);
	/* An upstream still listed cannot go. */
	cf = config_load_overlay(test_conf, "upstream-u.conf", NULL, &cause);
	ck_assert_ptr_null(cf);
	ck_assert_int_eq(path_fmt(want, sizeof(want),
	    "%s:2: upstream 'u' is not defined", test_conf), 0);
	ck_assert_msg(strstr(cause, want) != NULL, "want %s in:\n%s", want,
	    cause);
	free(cause);
	/* Names config_load would not read are refused. */
	cf = config_load_overlay(test_conf, "x.txt", NULL, &cause);
	ck_assert_ptr_null(cf);
	ck_assert_ptr_nonnull(cause);
	free(cause);
	cf = config_load_overlay(test_conf, ".registry-x.conf", NULL, &cause);
	ck_assert_ptr_null(cf);
	free(cause);
	cf = config_load_overlay(test_conf, "sub/x.conf", NULL, &cause);
	ck_assert_ptr_null(cf);
	free(cause);
}
END_TEST

#define TEST_SECRET_CONF \
"upstreams = (\n"							\
"  { key = \"a\"; type = \"docker\"; source = \"dockerhub\";\n"		\
"    auth = { type = \"userpass\"; username = \"u\";\n"			\
"      password_file = \"%s\"; }; }\n"					\
");\n"

/* A secret file others may read is refused; its content stays secret. */
START_TEST(test_secret_mode)
{
	struct config	*cf;
	char		*cause, want[PATH_MAX * 2];

	test_write("pw", 0644, "topsecret-0644\n");
	test_write("depot.conf", 0644, TEST_SECRET_CONF, "pw");
	cf = test_load(&cause);
	ck_assert_ptr_null(cf);
	ck_assert_int_eq(path_fmt(want, sizeof(want), "depot.conf:4: secret "
	    "file '%s/pw' has mode 0644", test_dir), 0);
	ck_assert_msg(strstr(cause, want) != NULL, "want %s in:\n%s", want,
	    cause);
	ck_assert_msg(strstr(cause, "topsecret") == NULL, "leak: %s", cause);
	free(cause);

	/* Group access alone is refused too. */
	test_write("pw", 0640, "topsecret-0640\n");
	cf = test_load(&cause);
	ck_assert_ptr_null(cf);
	ck_assert_msg(strstr(cause, "has mode 0640") != NULL, "%s", cause);
	free(cause);

	/* At 0600 it loads, with one trailing newline dropped. */
	test_write("pw", 0600, "line\n\n");
	cf = test_load(&cause);
	ck_assert_msg(cf != NULL, "refused: %s", cause);
	ck_assert_str_eq(cf->cf_upstreams[0].up_auth.cr_password, "line\n");
	config_free(cf);
	test_write("pw", 0400, "no-newline");
	cf = test_load(&cause);
	ck_assert_msg(cf != NULL, "refused: %s", cause);
	ck_assert_str_eq(cf->cf_upstreams[0].up_auth.cr_password,
	    "no-newline");
	config_free(cf);
}
END_TEST

START_TEST(test_secret_missing)
{
	struct config	*cf;
	char		*cause, want[PATH_MAX * 2];

	test_write("depot.conf", 0644, TEST_SECRET_CONF, "/nonexistent/pw");
	cf = test_load(&cause);
	ck_assert_ptr_null(cf);
	ck_assert_int_eq(path_fmt(want, sizeof(want), "depot.conf:4: cannot "
	    "read secret file '/nonexistent/pw': %s", strerror(ENOENT)), 0);
	ck_assert_msg(strstr(cause, want) != NULL, "want %s in:\n%s", want,
	    cause);
	free(cause);

	test_write("empty", 0600, "\n");
	test_write("depot.conf", 0644, TEST_SECRET_CONF, "empty");
	cf = test_load(&cause);
	ck_assert_ptr_null(cf);
	ck_assert_msg(strstr(cause, "depot.conf:4: secret file") != NULL &&
	    strstr(cause, "is empty") != NULL, "%s", cause);
	free(cause);
}
END_TEST

/* No refusal ever quotes a password or a secret key. */
START_TEST(test_secret_not_echoed)
{
	struct config	*cf;
	char		*cause;

	test_write("ak", 0666, "file-secret-key-XYZ");
	test_write("depot.conf", 0644,
	    "upstreams = (\n"
	    "  { key = \"a\"; type = \"docker\"; source = \"dockerhub\";\n"
	    "    auth = { type = \"anonymous\"; password = \"hunter2-pw\";\n"
	    "      secret_access_key = \"inline-secret-key-ABC\"; }; },\n"
	    "  { key = \"b\"; type = \"docker\"; source = \"custom\";\n"
	    "    url = \"https://x\";\n"
	    "    auth = { type = \"access_key\"; access_key_id = \"AKIA\";\n"
	    "      secret_access_key = \"second-secret-DEF\";\n"
	    "      secret_access_key_file = \"ak\"; }; },\n"
	    "  { key = \"c\"; type = \"docker\"; source = \"ecr\";\n"
	    "    url = \"https://x\";\n"
	    "    auth = { type = \"access_key\"; access_key_id = \"AKIA\";\n"
	    "      secret_access_key_file = \"ak\"; }; },\n"
	    "  { key = \"d\"; type = \"docker\"; source = \"dockerhub\";\n"
	    "    auth = { type = \"userpass\"; username = \"u\";\n"
	    "      password = 12345678; }; }\n"
	    ");\n");
	cf = test_load(&cause);
	ck_assert_ptr_null(cf);
	ck_assert_ptr_nonnull(cause);
	ck_assert_msg(test_lines(cause) >= 6, "too few errors:\n%s", cause);
	ck_assert_msg(strstr(cause, "hunter2") == NULL &&
	    strstr(cause, "inline-secret") == NULL &&
	    strstr(cause, "second-secret") == NULL &&
	    strstr(cause, "file-secret") == NULL &&
	    strstr(cause, "12345678") == NULL, "secret in:\n%s", cause);
	ck_assert_msg(strstr(cause, "depot.conf:16: 'password' must be a "
	    "string") != NULL, "%s", cause);
	free(cause);
}
END_TEST

START_TEST(test_names)
{
	ck_assert_str_eq(config_repo_type_name(REPO_DOCKER), "docker");
	ck_assert_str_eq(config_repo_type_name(REPO_HELM), "helm");
	ck_assert_str_eq(config_source_name(SOURCE_DOCKERHUB), "dockerhub");
	ck_assert_str_eq(config_source_name(SOURCE_CUSTOM), "custom");
	ck_assert_str_eq(config_source_name(SOURCE_ECR), "ecr");
	ck_assert_str_eq(config_auth_type_name(AUTH_ANONYMOUS), "anonymous");
	ck_assert_str_eq(config_auth_type_name(AUTH_USERPASS), "userpass");
	ck_assert_str_eq(config_auth_type_name(AUTH_ACCESS_KEY),
	    "access_key");
	ck_assert_ptr_null(config_registry_find(NULL, "x"));
	ck_assert_ptr_null(config_upstream_find(NULL, "x"));
	config_free(NULL);
}
END_TEST

/* The first component of a name names a registry, else an upstream key. */
START_TEST(test_name_find)
{
	struct config		 cf;
	struct config_registry	 regs[1], *reg;
	struct config_upstream	 ups[1], *up;

	memset(&cf, 0, sizeof(cf));
	memset(regs, 0, sizeof(regs));
	memset(ups, 0, sizeof(ups));
	regs[0].reg_name = "docker-local";
	ups[0].up_key = "hub";
	cf.cf_registries = regs;
	cf.cf_nregistries = 1;
	cf.cf_upstreams = ups;
	cf.cf_nupstreams = 1;
	ck_assert_int_eq(config_name_find(&cf, "docker-local/app/x", &reg,
	    &up), 1);
	ck_assert_ptr_eq(reg, &regs[0]);
	ck_assert_ptr_null(up);
	ck_assert_int_eq(config_name_find(&cf, "hub/library/alpine", &reg,
	    &up), 1);
	ck_assert_ptr_null(reg);
	ck_assert_ptr_eq(up, &ups[0]);
	ck_assert_int_eq(config_name_find(&cf, "hub", NULL, &up), 1);
	ck_assert_ptr_eq(up, &ups[0]);
	/* A prefix, a longer name, nothing: no match. */
	ck_assert_int_eq(config_name_find(&cf, "docker/app", &reg, &up), 0);
	ck_assert_ptr_null(reg);
	ck_assert_ptr_null(up);
	ck_assert_int_eq(config_name_find(&cf, "hubs/x", NULL, NULL), 0);
	ck_assert_int_eq(config_name_find(&cf, "", NULL, NULL), 0);
	ck_assert_int_eq(config_name_find(&cf, "/x", NULL, NULL), 0);
	ck_assert_int_eq(config_name_find(NULL, "hub", &reg, &up), 0);
}
END_TEST

/*
 * ECR URLs: ECR Public (anonymous), a private console URL in any region
 * with a nested repository (the AWS default chain), what they resolve
 * to, and the test/advanced endpoint settings.
 */
START_TEST(test_ecr_urls)
{
	struct config	*cf;
	char		*cause;

	test_write("depot.conf", 0644,
	    "upstreams = (\n"
	    "  { key = \"pub\"; type = \"docker\"; source = \"ecr\";\n"
	    "    url = \"https://public.ecr.aws/tools-alias/tools\"; },\n"
	    "  { key = \"gov\"; type = \"docker\"; source = \"ecr\";\n"
	    "    url = \"https://us-gov-west-1.console.aws.amazon.com/ecr/"
	    "repositories/private/000000000000/a/b/c_d.e-f?region=us-gov-west-1"
	    "&tab=images\";\n"
	    "    api_url = \"http://127.0.0.1:9/\"; sts_url = \"http://s\";\n"
	    "    auth = { type = \"aws_default\"; }; }\n"
	    ");\n");
	cf = test_load(&cause);
	ck_assert_msg(cf != NULL, "refused: %s", cause);
	ck_assert_uint_eq(cf->cf_nupstreams, 2);
	ck_assert_str_eq(cf->cf_upstreams[0].up_ecr.el_alias, "tools-alias");
	ck_assert_str_eq(cf->cf_upstreams[0].up_ecr.el_registry_url,
	    "https://public.ecr.aws");
	ck_assert(strstr(cf->cf_upstreams[1].up_url, "&tab=images") != NULL);
	ck_assert_int_eq(cf->cf_upstreams[1].up_auth.cr_type,
	    AUTH_AWS_DEFAULT);
	ck_assert_str_eq(cf->cf_upstreams[1].up_ecr.el_region,
	    "us-gov-west-1");
	ck_assert_str_eq(cf->cf_upstreams[1].up_ecr.el_registry_url,
	    "https://000000000000.dkr.ecr.us-gov-west-1.amazonaws.com");
	ck_assert_str_eq(cf->cf_upstreams[1].up_api_url, "http://127.0.0.1:9");
	ck_assert_str_eq(cf->cf_upstreams[1].up_sts_url, "http://s");
	ck_assert_ptr_null(cf->cf_upstreams[1].up_registry_url);
	config_free(cf);
}
END_TEST

/* The path of man/depot.conf.5 in the source tree. */
static int
test_man_path(char *buf, size_t len)
{
	const char	*src, *end;

	if ((src = getenv("DEPOT_SRCDIR")) != NULL && *src != '\0')
		return (path_fmt(buf, len, "%s/man/depot.conf.5", src));
	end = strstr(__FILE__, "tests/unit/config_test.c");
	if (end == NULL)
		return (-1);
	return (path_fmt(buf, len, "%.*sman/depot.conf.5",
	    (int)(end - __FILE__), __FILE__));
}

/* depot.conf(5) has an entry for every key config.c accepts. */
START_TEST(test_man_page)
{
	char		 path[PATH_MAX], entry[128], *text;
	const char	*key;
	ssize_t		 n;
	size_t		 i, len = 0;
	int		 fd;

	ck_assert_int_eq(test_man_path(path, sizeof(path)), 0);
	fd = open(path, O_RDONLY);
	ck_assert_msg(fd != -1, "open %s: %s (set DEPOT_SRCDIR)", path,
	    strerror(errno));
	text = xmalloc(TEST_MAN_MAX + 1);
	while ((n = read(fd, text + len, TEST_MAN_MAX - len)) > 0)
		len += n;
	close(fd);
	text[len] = '\0';
	ck_assert_ptr_nonnull(config_key_at(0));
	for (i = 0; (key = config_key_at(i)) != NULL; i++) {
		ck_assert_int_eq(path_fmt(entry, sizeof(entry), "\n.It Ic %s",
		    key), 0);
		ck_assert_msg(strstr(text, entry) != NULL,
		    "depot.conf(5) has no \".It Ic %s\" entry", key);
	}
	free(text);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("config");

	tc = tcase_create("load");
	tcase_add_checked_fixture(tc, test_setup, NULL);
	tcase_add_test(tc, test_full_example);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_object_defaults);
	tcase_add_test(tc, test_all_settings);
	tcase_add_test(tc, test_ecr_urls);
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_name_find);
	suite_add_tcase(s, tc);

	tc = tcase_create("refusals");
	tcase_add_checked_fixture(tc, test_setup, NULL);
	tcase_add_loop_test(tc, test_refusal, 0,
	    sizeof(refusals) / sizeof(refusals[0]));
	tcase_add_test(tc, test_many_errors);
	tcase_add_test(tc, test_missing_file);
	suite_add_tcase(s, tc);

	tc = tcase_create("dropin");
	tcase_add_checked_fixture(tc, test_setup, NULL);
	tcase_add_test(tc, test_dropin_merge);
	tcase_add_test(tc, test_dropin_duplicate);
	tcase_add_test(tc, test_dropin_refused);
	tcase_add_test(tc, test_overlay_add);
	tcase_add_test(tc, test_overlay_replace);
	tcase_add_test(tc, test_overlay_remove);
	suite_add_tcase(s, tc);

	tc = tcase_create("secrets");
	tcase_add_checked_fixture(tc, test_setup, NULL);
	tcase_add_test(tc, test_secret_mode);
	tcase_add_test(tc, test_secret_missing);
	tcase_add_test(tc, test_secret_not_echoed);
	suite_add_tcase(s, tc);

	tc = tcase_create("man");
	tcase_add_test(tc, test_man_page);
	suite_add_tcase(s, tc);

	return (s);
}

int
main(void)
{
	const char	*base;
	int		 failed;

	if ((base = getenv("TMPDIR")) == NULL || *base == '\0')
		base = "/tmp";
	if (path_fmt(test_root, sizeof(test_root), "%s/config_test.XXXXXX",
	    base) == -1 || mkdtemp(test_root) == NULL) {
		perror("mkdtemp");
		return (EXIT_FAILURE);
	}
	failed = check_run(config_suite()) != EXIT_SUCCESS;
	(void)nftw(test_root, test_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
