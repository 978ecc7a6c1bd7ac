/*
 * ctl_upstream.c: depotctl upstream create, list, show and delete, and
 * the secrets that go with them. A secret is referenced by its file's
 * path, or read from standard input into secrets/upstream-KEY; it is
 * never printed: show and list say "(set)" or give the file's path.
 */
#include <sys/types.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "conf/ecr_url.h"
#include "ctl/ctl.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

#define UPSTREAM_SECRET_MAX	(64 * 1024)	/* as depotd reads them */
#define UPSTREAM_SECRET_SET	"(set)"

/* upstream create's command line. */
struct upstream_args {
	const char	*ua_type;
	const char	*ua_source;
	const char	*ua_url;
	const char	*ua_auth;
	const char	*ua_username;
	const char	*ua_password_file;
	const char	*ua_access_key_id;
	const char	*ua_secret_file;
};

static int	 upstream_args_check(const struct ctl_command *,
		    struct upstream_args *);
static int	 upstream_secret_stdin(const char *, char **);
static char	*upstream_path_absolute(const char *);
static void	 upstream_fill(config_setting_t *, const char *,
		    const struct upstream_args *, const char *);
static struct config_upstream *upstream_find(struct ctl *, const char *);
static void	 upstream_users(struct ctl *, const char *, struct strlist *);
static char	*upstream_secret_ref(struct ctl *, struct config_upstream *,
		    const char *, const char *);
static json_t	*upstream_json(struct ctl *, struct config_upstream *, int);
static void	 upstream_print(struct ctl *, struct config_upstream *);

/*
 * The options of upstream create that go together: fills in the auth
 * type when only its credentials are given. 0, or CTL_REFUSED.
 */
static int
upstream_args_check(const struct ctl_command *cmd, struct upstream_args *ua)
{
	int	 userpass = ua->ua_username != NULL ||
		    ua->ua_password_file != NULL;
	int	 access_key = ua->ua_access_key_id != NULL ||
		    ua->ua_secret_file != NULL;
	struct ecr_location	 loc;
	char			*cause = NULL;

	if (ua->ua_type == NULL)
		ctl_usage(cmd, "--type is required");
	if (ua->ua_source == NULL)
		ctl_usage(cmd, "--source is required");
	if (strcmp(ua->ua_type, "docker") != 0 &&
	    strcmp(ua->ua_type, "helm") != 0)
		return (ctl_refuse("--type must be docker or helm, not '%.80s'",
		    ua->ua_type));
	if (strcmp(ua->ua_source, "dockerhub") != 0 &&
	    strcmp(ua->ua_source, "custom") != 0 &&
	    strcmp(ua->ua_source, "ecr") != 0)
		return (ctl_refuse("--source must be dockerhub, custom or ecr, "
		    "not '%.80s'", ua->ua_source));
	if (strcmp(ua->ua_type, "helm") == 0 &&
	    strcmp(ua->ua_source, "custom") != 0)
		return (ctl_refuse("a helm upstream must have --source "
		    "custom"));
	if (ua->ua_url == NULL && strcmp(ua->ua_source, "dockerhub") != 0)
		return (ctl_refuse("--url is required with --source %s",
		    ua->ua_source));
	/* The validator depotd uses, for its message before anything. */
	if (strcmp(ua->ua_source, "ecr") == 0) {
		if (ecr_url_parse(ua->ua_url, &loc, &cause) == -1) {
			ctl_refuse("--url '%.200s': %s", ua->ua_url, cause);
			free(cause);
			return (CTL_REFUSED);
		}
		ecr_location_clear(&loc);
	}
	if (ua->ua_auth == NULL)
		ua->ua_auth = userpass ? "userpass" : access_key ?
		    "access_key" : "anonymous";
	if (strcmp(ua->ua_auth, "anonymous") == 0) {
		if (userpass || access_key)
			return (ctl_refuse("--auth anonymous takes no "
			    "credentials"));
	} else if (strcmp(ua->ua_auth, "userpass") == 0) {
		if (access_key)
			return (ctl_refuse("--access-key-id and --secret-file "
			    "go with --auth access_key"));
		if (ua->ua_username == NULL || ua->ua_password_file == NULL)
			return (ctl_refuse("--auth userpass needs --username "
			    "and --password-file"));
	} else if (strcmp(ua->ua_auth, "access_key") == 0) {
		if (userpass)
			return (ctl_refuse("--username and --password-file go "
			    "with --auth userpass"));
		if (strcmp(ua->ua_source, "ecr") != 0)
			return (ctl_refuse("--auth access_key is only for "
			    "--source ecr"));
		if (ua->ua_access_key_id == NULL || ua->ua_secret_file == NULL)
			return (ctl_refuse("--auth access_key needs "
			    "--access-key-id and --secret-file"));
	} else if (strcmp(ua->ua_auth, "aws_default") == 0) {
		if (userpass || access_key)
			return (ctl_refuse("--auth aws_default takes no "
			    "credentials: it finds them as the AWS SDKs do"));
		if (strcmp(ua->ua_source, "ecr") != 0)
			return (ctl_refuse("--auth aws_default is only for "
			    "--source ecr"));
	} else
		return (ctl_refuse("--auth must be anonymous, userpass, "
		    "access_key or aws_default, not '%.80s'", ua->ua_auth));
	return (0);
}

/*
 * Read a secret from standard input: all of it, or one line from a
 * terminal (not echoed). One trailing newline is dropped, as depotd
 * does. 0 with *secret (caller clears and frees), or CTL_REFUSED.
 */
static int
upstream_secret_stdin(const char *what, char **secret)
{
	struct termios	 saved, quiet;
	char		*buf;
	size_t		 len = 0;
	ssize_t		 n = 0;
	int		 tty, rv = CTL_REFUSED;

	buf = xmalloc(UPSTREAM_SECRET_MAX + 2);
	if ((tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO,
	    &saved) == 0)) {
		fprintf(stderr, "%s: ", what);
		quiet = saved;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	while (len <= UPSTREAM_SECRET_MAX) {
		n = read(STDIN_FILENO, buf + len, UPSTREAM_SECRET_MAX + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (tty && buf[len - 1] == '\n')
			break;
	}
	if (tty) {
		(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
		fprintf(stderr, "\n");
	}
	if (n == -1)
		ctl_refuse("cannot read the %s: %s", what, strerror(errno));
	else if (len > UPSTREAM_SECRET_MAX)
		ctl_refuse("the %s is longer than %d bytes", what,
		    UPSTREAM_SECRET_MAX);
	else {
		if (len > 0 && buf[len - 1] == '\n')
			len--;
		if (len > 0 && buf[len - 1] == '\r')
			len--;
		if (len == 0 || memchr(buf, '\0', len) != NULL ||
		    memchr(buf, '\n', len) != NULL)
			ctl_refuse("the %s on standard input is %s", what,
			    len == 0 ? "empty" : "more than one line of text");
		else {
			*secret = xstrndup(buf, len);
			rv = CTL_OK;
		}
	}
	explicit_bzero(buf, UPSTREAM_SECRET_MAX + 2);
	free(buf);
	return (rv);
}

/* A path given on the command line, made absolute. Caller frees. */
static char *
upstream_path_absolute(const char *path)
{
	char	*cwd, *abs;

	if (path[0] == '/' || (cwd = getcwd(NULL, 0)) == NULL)
		return (xstrdup(path));
	xasprintf(&abs, "%s/%s", cwd, path);
	free(cwd);
	return (abs);
}

/* The new upstream's group; secret_path is the secret file's, if any. */
static void
upstream_fill(config_setting_t *group, const char *key,
    const struct upstream_args *ua, const char *secret_path)
{
	config_setting_t	*auth;

	ctl_set_string(group, "key", key);
	ctl_set_string(group, "type", ua->ua_type);
	ctl_set_string(group, "source", ua->ua_source);
	ctl_set_string(group, "url", ua->ua_url);
	if ((auth = config_setting_add(group, "auth",
	    CONFIG_TYPE_GROUP)) == NULL)
		fatalx("%s: config_setting_add", __func__);
	ctl_set_string(auth, "type", ua->ua_auth);
	if (strcmp(ua->ua_auth, "userpass") == 0) {
		ctl_set_string(auth, "username", ua->ua_username);
		ctl_set_string(auth, "password_file", secret_path);
	} else if (strcmp(ua->ua_auth, "access_key") == 0) {
		ctl_set_string(auth, "access_key_id", ua->ua_access_key_id);
		ctl_set_string(auth, "secret_access_key_file", secret_path);
	}
}

int
ctl_upstream_create(struct ctl *ctl, const struct ctl_command *cmd,
    int argc, char **argv)
{
	static const struct option	 opts[] = {
		{ "type", required_argument, NULL, 't' },
		{ "source", required_argument, NULL, 's' },
		{ "url", required_argument, NULL, 'u' },
		{ "auth", required_argument, NULL, 'a' },
		{ "username", required_argument, NULL, 'U' },
		{ "password-file", required_argument, NULL, 'P' },
		{ "access-key-id", required_argument, NULL, 'K' },
		{ "secret-file", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct upstream_args		 ua;
	config_setting_t		*group;
	config_t			 cfg;
	const char			*key, *file;
	char				*secret = NULL, *secret_path = NULL;
	int				 ch, stored = 0, rv = CTL_REFUSED;

	memset(&ua, 0, sizeof(ua));
	while ((ch = ctl_getopt(argc, argv, opts, cmd)) != -1) {
		switch (ch) {
		case 't':
			ua.ua_type = optarg;
			break;
		case 's':
			ua.ua_source = optarg;
			break;
		case 'u':
			ua.ua_url = optarg;
			break;
		case 'a':
			ua.ua_auth = optarg;
			break;
		case 'U':
			ua.ua_username = optarg;
			break;
		case 'P':
			ua.ua_password_file = optarg;
			break;
		case 'K':
			ua.ua_access_key_id = optarg;
			break;
		default:
			ua.ua_secret_file = optarg;
			break;
		}
	}
	ctl_args_done(argc, argv, cmd, 1, 1);
	key = argv[optind];
	if (ctl_name_check(key, "upstream key") != 0 ||
	    upstream_args_check(cmd, &ua) != 0)
		return (CTL_REFUSED);
	file = ua.ua_password_file != NULL ? ua.ua_password_file :
	    ua.ua_secret_file;
	/* Read standard input before taking the lock others wait for. */
	if (file != NULL && strcmp(file, "-") == 0) {
		if (upstream_secret_stdin(ua.ua_password_file != NULL ?
		    "password" : "secret access key", &secret) != 0)
			return (CTL_REFUSED);
	} else if (file != NULL)
		secret_path = upstream_path_absolute(file);
	if (ctl_lock(ctl) != 0 || ctl_config(ctl) == NULL ||
	    ctl_name_free(ctl, CTL_UPSTREAM, key) != 0)
		goto fail;
	if (secret != NULL) {
		if (ctl_secret_store(ctl, key, secret, &secret_path) != 0)
			goto fail;
		stored = 1;
	}
	config_init(&cfg);
	group = ctl_object_new(&cfg, CTL_UPSTREAM);
	upstream_fill(group, key, &ua, secret_path);
	rv = ctl_create(ctl, CTL_UPSTREAM, key, &cfg);
	config_destroy(&cfg);
	if (stored)
		ctl_secret_settle(ctl, key, rv == CTL_OK);
	if (rv == CTL_OK) {
		if (stored)
			printf("its secret is in %s (mode 0600)\n",
			    secret_path);
		printf("depotd uses it after: depotctl reload\n");
	}

fail:
	if (secret != NULL) {
		explicit_bzero(secret, strlen(secret));
		free(secret);
	}
	free(secret_path);
	return (rv);
}

/* The upstream; NULL after saying it is not one. */
static struct config_upstream *
upstream_find(struct ctl *ctl, const char *key)
{
	if (ctl_object_defined(ctl, CTL_UPSTREAM, key) != 0)
		return (NULL);
	return (config_upstream_find(ctl->ctl_cf, key));
}

/* The registries that list key. */
static void
upstream_users(struct ctl *ctl, const char *key, struct strlist *users)
{
	struct config_registry	*reg;
	size_t			 i, j;

	for (i = 0; i < ctl->ctl_cf->cf_nregistries; i++) {
		reg = &ctl->ctl_cf->cf_registries[i];
		for (j = 0; j < reg->reg_upstreams.sl_count; j++)
			if (strcmp(reg->reg_upstreams.sl_items[j], key) == 0)
				ctl_list_add(users, reg->reg_name);
	}
}

/*
 * How the upstream's secret is given: the file's path when file_key is
 * set in its definition, else UPSTREAM_SECRET_SET (inline). NULL when
 * it has none. Caller frees.
 */
static char *
upstream_secret_ref(struct ctl *ctl, struct config_upstream *up,
    const char *key, const char *file_key)
{
	config_setting_t	*group, *auth;
	config_t		 cfg;
	const char		*s;
	char			*ref = NULL;

	if ((group = ctl_object_read(ctl, &cfg, CTL_UPSTREAM, up->up_key,
	    up->up_file)) != NULL &&
	    (auth = config_setting_get_member(group, "auth")) != NULL) {
		if (config_setting_lookup_string(auth, file_key, &s) ==
		    CONFIG_TRUE && *s != '\0') {
			if (s[0] == '/')
				ref = xstrdup(s);
			else
				xasprintf(&ref, "%s/%s", ctl->ctl_confdir, s);
		} else if (config_setting_get_member(auth, key) != NULL)
			ref = xstrdup(UPSTREAM_SECRET_SET);
	}
	config_destroy(&cfg);
	return (ref);
}

/* key, type, source, url, auth: also what registry show --json lists. */
json_t *
ctl_upstream_summary(struct config_upstream *up)
{
	json_t	*obj;

	obj = json_object();
	json_object_set_new(obj, "key", ctl_json_text(up->up_key));
	json_object_set_new(obj, "type",
	    ctl_json_text(config_repo_type_name(up->up_type)));
	json_object_set_new(obj, "source",
	    ctl_json_text(config_source_name(up->up_source)));
	json_object_set_new(obj, "url", ctl_json_text(up->up_url));
	json_object_set_new(obj, "auth",
	    ctl_json_text(config_auth_type_name(up->up_auth.cr_type)));
	return (obj);
}

/* An upstream as JSON; with detail, its settings and credentials (the
 * secrets only as "(set)" or their file). */
static json_t *
upstream_json(struct ctl *ctl, struct config_upstream *up, int detail)
{
	struct config_auth_creds	*cr = &up->up_auth;
	struct strlist			 users;
	json_t				*obj, *creds;
	char				*ref;

	obj = ctl_upstream_summary(up);
	if (detail) {
		creds = json_object();
		if (cr->cr_username != NULL)
			json_object_set_new(creds, "username",
			    ctl_json_text(cr->cr_username));
		if (cr->cr_access_key_id != NULL)
			json_object_set_new(creds, "access_key_id",
			    ctl_json_text(cr->cr_access_key_id));
		if (cr->cr_type == AUTH_USERPASS &&
		    (ref = upstream_secret_ref(ctl, up, "password",
		    "password_file")) != NULL) {
			json_object_set_new(creds, strcmp(ref,
			    UPSTREAM_SECRET_SET) == 0 ? "password" :
			    "password_file", ctl_json_text(ref));
			free(ref);
		}
		if (cr->cr_type == AUTH_ACCESS_KEY &&
		    (ref = upstream_secret_ref(ctl, up, "secret_access_key",
		    "secret_access_key_file")) != NULL) {
			json_object_set_new(creds, strcmp(ref,
			    UPSTREAM_SECRET_SET) == 0 ? "secret_access_key" :
			    "secret_access_key_file", ctl_json_text(ref));
			free(ref);
		}
		if (cr->cr_type == AUTH_ACCESS_KEY &&
		    (ref = upstream_secret_ref(ctl, up, "session_token",
		    "session_token_file")) != NULL) {
			json_object_set_new(creds, strcmp(ref,
			    UPSTREAM_SECRET_SET) == 0 ? "session_token" :
			    "session_token_file", ctl_json_text(ref));
			free(ref);
		}
		json_object_set_new(obj, "credentials", creds);
		if (up->up_source == SOURCE_ECR &&
		    up->up_ecr.el_registry_url != NULL) {
			json_object_set_new(obj, "registry", ctl_json_text(
			    up->up_registry_url != NULL ? up->up_registry_url :
			    up->up_ecr.el_registry_url));
			json_object_set_new(obj, "region",
			    ctl_json_text(up->up_ecr.el_region));
		}
		json_object_set_new(obj, "tag_ttl",
		    json_integer(up->up_tag_ttl));
		json_object_set_new(obj, "negative_ttl",
		    json_integer(up->up_negative_ttl));
		json_object_set_new(obj, "timeout",
		    json_integer(up->up_timeout));
		json_object_set_new(obj, "ca_file",
		    ctl_json_text(up->up_ca_file));
		json_object_set_new(obj, "insecure_tls",
		    json_boolean(up->up_insecure_tls));
	}
	ctl_json_defined(ctl, obj, CTL_UPSTREAM, up->up_key, up->up_file,
	    up->up_line);
	memset(&users, 0, sizeof(users));
	upstream_users(ctl, up->up_key, &users);
	json_object_set_new(obj, "used_by", ctl_json_strlist(&users));
	ctl_list_clear(&users);
	return (obj);
}

/* upstream show, as text. */
static void
upstream_print(struct ctl *ctl, struct config_upstream *up)
{
	struct config_auth_creds	*cr = &up->up_auth;
	struct strlist			 users;
	char				*s;

	printf("upstream       %s\n", up->up_key);
	printf("type           %s\n", config_repo_type_name(up->up_type));
	printf("source         %s\n", config_source_name(up->up_source));
	printf("url            %s\n", up->up_url != NULL ? up->up_url :
	    "(Docker Hub)");
	if (up->up_source == SOURCE_ECR && up->up_ecr.el_registry_url != NULL) {
		printf("registry       %s\n", up->up_registry_url != NULL ?
		    up->up_registry_url : up->up_ecr.el_registry_url);
		printf("region         %s\n", up->up_ecr.el_region);
		if (up->up_ecr.el_alias != NULL)
			printf("alias          %s\n", up->up_ecr.el_alias);
	}
	printf("auth           %s\n", config_auth_type_name(cr->cr_type));
	if (cr->cr_username != NULL)
		printf("username       %s\n", cr->cr_username);
	if (cr->cr_type == AUTH_USERPASS && (s = upstream_secret_ref(ctl, up,
	    "password", "password_file")) != NULL) {
		printf("password       %s\n", s);
		free(s);
	}
	if (cr->cr_access_key_id != NULL)
		printf("access key id  %s\n", cr->cr_access_key_id);
	if (cr->cr_type == AUTH_ACCESS_KEY && (s = upstream_secret_ref(ctl,
	    up, "secret_access_key", "secret_access_key_file")) != NULL) {
		printf("secret key     %s\n", s);
		free(s);
	}
	if (cr->cr_type == AUTH_ACCESS_KEY && (s = upstream_secret_ref(ctl,
	    up, "session_token", "session_token_file")) != NULL) {
		printf("session token  %s\n", s);
		free(s);
	}
	printf("tag ttl        %d s\n", up->up_tag_ttl);
	printf("timeout        %d s\n", up->up_timeout);
	if (up->up_ca_file != NULL)
		printf("ca file        %s\n", up->up_ca_file);
	if (up->up_insecure_tls)
		printf("insecure tls   yes\n");
	ctl_print_defined(ctl, CTL_UPSTREAM, up->up_key, up->up_file,
	    up->up_line, 15);
	memset(&users, 0, sizeof(users));
	upstream_users(ctl, up->up_key, &users);
	s = ctl_join(users.sl_items, users.sl_count, ", ");
	printf("used by        %s\n", *s != '\0' ? s : "-");
	free(s);
	ctl_list_clear(&users);
}

int
ctl_upstream_list(struct ctl *ctl, const struct ctl_command *cmd, int argc,
    char **argv)
{
	struct config_upstream	*up;
	struct config		*cf;
	json_t			*array;
	char			**cells = NULL, *where;
	size_t			  rows = 0, i;
	int			  json;

	json = ctl_args_json(argc, argv, cmd, 0);
	if ((cf = ctl_config(ctl)) == NULL)
		return (CTL_REFUSED);
	if (json) {
		array = json_array();
		for (i = 0; i < cf->cf_nupstreams; i++)
			json_array_append_new(array, upstream_json(ctl,
			    &cf->cf_upstreams[i], 0));
		return (ctl_json_print(array));
	}
	ctl_table_row(&cells, &rows, 5, "KEY", "TYPE", "SOURCE", "AUTH",
	    "DEFINED IN");
	for (i = 0; i < cf->cf_nupstreams; i++) {
		up = &cf->cf_upstreams[i];
		where = ctl_where(ctl, up->up_file, up->up_line);
		ctl_table_row(&cells, &rows, 5, up->up_key,
		    config_repo_type_name(up->up_type),
		    config_source_name(up->up_source),
		    config_auth_type_name(up->up_auth.cr_type), where);
		free(where);
	}
	ctl_table_print(cells, rows, 5);
	return (CTL_OK);
}

int
ctl_upstream_show(struct ctl *ctl, const struct ctl_command *cmd, int argc,
    char **argv)
{
	struct config_upstream	*up;
	int			 json;

	json = ctl_args_json(argc, argv, cmd, 1);
	if ((up = upstream_find(ctl, argv[optind])) == NULL)
		return (CTL_REFUSED);
	if (json)
		return (ctl_json_print(upstream_json(ctl, up, 1)));
	upstream_print(ctl, up);
	return (CTL_OK);
}

/*
 * Refused while a registry lists the upstream. The secret file depotctl
 * stored for it goes too.
 */
int
ctl_upstream_delete(struct ctl *ctl, const struct ctl_command *cmd,
    int argc, char **argv)
{
	struct config_upstream	*up;
	struct strlist		 users;
	const char		*key;
	char			*ref = NULL, *secret, *s;
	int			 rv = CTL_REFUSED;

	ctl_args_only(argc, argv, cmd, 1, 1);
	key = argv[optind];
	memset(&users, 0, sizeof(users));
	if (ctl_name_check(key, "upstream key") != 0 || ctl_lock(ctl) != 0 ||
	    (up = upstream_find(ctl, key)) == NULL)
		return (CTL_REFUSED);
	upstream_users(ctl, key, &users);
	if (users.sl_count > 0) {
		s = ctl_join(users.sl_items, users.sl_count, ", ");
		ctl_refuse("upstream '%s' is still listed by registr%s %s; take "
		    "it out first (depotctl registry set-upstreams)", key,
		    users.sl_count == 1 ? "y" : "ies", s);
		free(s);
		goto fail;
	}
	if (ctl_managed(ctl, CTL_UPSTREAM, key, up->up_file,
	    up->up_line) != 0)
		goto fail;
	if (up->up_auth.cr_type != AUTH_ANONYMOUS)
		ref = upstream_secret_ref(ctl, up, "", up->up_auth.cr_type ==
		    AUTH_USERPASS ? "password_file" : "secret_access_key_file");
	if (ctl_delete(ctl, CTL_UPSTREAM, key) != 0)
		goto fail;
	secret = ctl_secret_path(ctl, key);
	if (ref != NULL && strcmp(ref, secret) == 0 && unlink(secret) == 0)
		printf("its secret file %s is removed\n", secret);
	free(secret);
	printf("depotd stops using it after: depotctl reload\n");
	rv = CTL_OK;

fail:
	free(ref);
	ctl_list_clear(&users);
	return (rv);
}
