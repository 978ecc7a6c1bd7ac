/*
 * config.c: depot.conf and depot.d/NAME.conf (libconfig) into one struct
 * config. Owns the table of every key, the validation rules, the reading
 * of secret files and the error list: every problem becomes one
 * "file:line: message" line, and loading goes on to find the others
 * before it fails. Secrets never appear in a message. config_load_overlay
 * loads as if one depot.d file held other content (or were gone), so that
 * depotctl checks a change before it puts the file in place.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libconfig.h>

#include "conf/config.h"
#include "depot.h"
#include "lib/log.h"
#include "lib/ref.h"
#include "lib/xmalloc.h"

#define CONFIG_DROPIN_DIR	"depot.d"
#define CONFIG_DROPIN_SUFFIX	".conf"
#define CONFIG_SECRET_MAX	(64 * 1024)
#define CONFIG_QUOTE_MAX	80	/* longest value echoed in a message */
#define CONFIG_QUOTE_BUF	(CONFIG_QUOTE_MAX * 4 + 8)
#define CONFIG_WORKERS_MAX	256
#define CONFIG_SECONDS_MAX	86400	/* timeouts and token lifetimes */
#define CONFIG_LABEL_MAX	64
#define CONFIG_USER_MAX		64

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

enum key_kind {
	KEY_INT,
	KEY_BOOL,
	KEY_STRING,
	KEY_STRLIST,
	KEY_GROUP,
	KEY_OBJLIST
};

struct key_spec {
	const char	*k_name;
	enum key_kind	 k_kind;
};

/* The table of keys: every setting depot.conf(5) documents, by group. */
static const struct key_spec top_keys[] = {
	{ "server", KEY_GROUP },
	{ "upstreams", KEY_OBJLIST },
	{ "registries", KEY_OBJLIST },
	{ "auth", KEY_GROUP },
	{ NULL, KEY_INT }
}, dropin_keys[] = {
	{ "upstreams", KEY_OBJLIST },
	{ "registries", KEY_OBJLIST },
	{ NULL, KEY_INT }
}, server_keys[] = {
	{ "listen", KEY_STRLIST },
	{ "workers", KEY_INT },
	{ "user", KEY_STRING },
	{ "group", KEY_STRING },
	{ "pidfile", KEY_STRING },
	{ "data_dir", KEY_STRING },
	{ "public_url", KEY_STRING },
	{ "trusted_proxies", KEY_STRLIST },
	{ "mirror_registry", KEY_STRING },
	{ "log", KEY_GROUP },
	{ "request_timeout", KEY_INT },
	{ "shutdown_timeout", KEY_INT },
	{ "upload_expiry", KEY_INT },
	{ "gc_interval", KEY_INT },
	{ "gc_grace", KEY_INT },
	{ "max_body", KEY_INT },
	{ "max_chart_size", KEY_INT },
	{ "cache_max_bytes", KEY_INT },
	{ "min_free_bytes", KEY_INT },
	{ "max_connections", KEY_INT },
	{ "metrics_read", KEY_STRLIST },
	{ "ui_dir", KEY_STRING },
	{ NULL, KEY_INT }
}, log_keys[] = {
	{ "syslog", KEY_BOOL },
	{ "facility", KEY_STRING },
	{ "level", KEY_STRING },
	{ "access_log", KEY_STRING },
	{ NULL, KEY_INT }
}, upstream_keys[] = {
	{ "key", KEY_STRING },
	{ "type", KEY_STRING },
	{ "source", KEY_STRING },
	{ "url", KEY_STRING },
	{ "auth", KEY_GROUP },
	{ "tag_ttl", KEY_INT },
	{ "negative_ttl", KEY_INT },
	{ "timeout", KEY_INT },
	{ "min_speed", KEY_INT },
	{ "speed_window", KEY_INT },
	{ "max_cache_bytes", KEY_INT },
	{ "ca_file", KEY_STRING },
	{ "insecure_tls", KEY_BOOL },
	{ "token_realms", KEY_STRLIST },
	{ "registry_url", KEY_STRING },
	{ "api_url", KEY_STRING },
	{ "sts_url", KEY_STRING },
	{ "imds_url", KEY_STRING },
	{ "read", KEY_STRLIST },
	{ "write", KEY_STRLIST },
	{ NULL, KEY_INT }
}, creds_keys[] = {
	{ "type", KEY_STRING },
	{ "username", KEY_STRING },
	{ "password", KEY_STRING },
	{ "password_file", KEY_STRING },
	{ "access_key_id", KEY_STRING },
	{ "secret_access_key", KEY_STRING },
	{ "secret_access_key_file", KEY_STRING },
	{ "session_token", KEY_STRING },
	{ "session_token_file", KEY_STRING },
	{ NULL, KEY_INT }
}, registry_keys[] = {
	{ "name", KEY_STRING },
	{ "type", KEY_STRING },
	{ "description", KEY_STRING },
	{ "labels", KEY_STRLIST },
	{ "upstreams", KEY_STRLIST },
	{ "read_only", KEY_BOOL },
	{ "read", KEY_STRLIST },
	{ "write", KEY_STRLIST },
	{ NULL, KEY_INT }
}, access_keys[] = {
	{ "users_file", KEY_STRING },
	{ "token_key_file", KEY_STRING },
	{ "token_ttl", KEY_INT },
	{ "token_issuer", KEY_STRING },
	{ "token_cert_file", KEY_STRING },
	{ NULL, KEY_INT }
};

/* Every table of keys, for config_key_at(). */
static const struct key_spec *const all_keys[] = {
	top_keys, server_keys, log_keys, upstream_keys, creds_keys,
	registry_keys, access_keys
};

struct enum_name {
	const char	*e_name;
	int		 e_value;
};

static const struct enum_name repo_types[] = {
	{ "docker", REPO_DOCKER },
	{ "helm", REPO_HELM },
	{ NULL, 0 }
}, sources[] = {
	{ "dockerhub", SOURCE_DOCKERHUB },
	{ "custom", SOURCE_CUSTOM },
	{ "ecr", SOURCE_ECR },
	{ NULL, 0 }
}, auth_types[] = {
	{ "anonymous", AUTH_ANONYMOUS },
	{ "userpass", AUTH_USERPASS },
	{ "access_key", AUTH_ACCESS_KEY },
	{ "aws_default", AUTH_AWS_DEFAULT },
	{ NULL, 0 }
};

/* Which credential keys belong to which auth type. */
static const struct {
	const char	*ck_name;
	enum auth_type	 ck_type;
} creds_owner[] = {
	{ "username", AUTH_USERPASS },
	{ "password", AUTH_USERPASS },
	{ "password_file", AUTH_USERPASS },
	{ "access_key_id", AUTH_ACCESS_KEY },
	{ "secret_access_key", AUTH_ACCESS_KEY },
	{ "secret_access_key_file", AUTH_ACCESS_KEY },
	{ "session_token", AUTH_ACCESS_KEY },
	{ "session_token_file", AUTH_ACCESS_KEY },
};

static const char *const default_listen[] = { "127.0.0.1:5000", NULL };
static const char *const default_proxies[] = { "127.0.0.1", "::1", NULL };
/* Anonymous access is never the default: it must be named. */
static const char *const default_read[] = { "*", NULL };
static const char *const default_write[] = { "*", NULL };

/* One upstream or registry, in the order the files define them. */
struct ld_object {
	config_setting_t	*o_set;
	int			 o_registry;	/* else an upstream */
	size_t			 o_index;	/* in cf_upstreams/registries */
	int			 o_type_ok;	/* its type parsed */
};

/* One error, sorted by file (in reading order), line, then discovery. */
struct ld_error {
	size_t	 e_rank;
	int	 e_line;
	size_t	 e_seq;
	char	*e_text;	/* "file:line: message" */
};

/* The state of one config_load(). */
struct loader {
	struct config		*ld_cf;
	char			*ld_dir;	/* holds the main file */
	config_t		**ld_files;	/* parsed, main file first */
	size_t			 ld_nfiles;
	char			**ld_paths;	/* every file tried, in order */
	size_t			 ld_npaths;
	struct ld_object	*ld_objs;
	size_t			 ld_nobjs;
	config_setting_t	*ld_mirror;	/* server.mirror_registry */
	struct ld_error		*ld_errors;
	size_t			 ld_nerrors;
	const char		*ld_over_name;	/* depot.d entry replaced */
	const char		*ld_over_path;	/* its content; NULL: none */
	char			*ld_over_shown;	/* depot.d/ld_over_name */
	int			 ld_over_done;
};

typedef int (*item_check_fn)(const char *);

static void	 ld_error_at(struct loader *, const char *, int, const char *,
		    ...) PRINTFLIKE(4, 5);
static void	 ld_error(struct loader *, const config_setting_t *,
		    const char *, ...) PRINTFLIKE(3, 4);
static const char *ld_file(struct loader *, const config_setting_t *);
static const char *ld_shown(struct loader *, const char *);
static int	 ld_error_compare(const void *, const void *);
static char	*ld_errors_join(struct loader *);
static const char *quote(const char *, char *, size_t);
static char	*path_absolute(const char *);
static char	*path_resolve(struct loader *, const char *);
static int	 kind_matches(const config_setting_t *, enum key_kind);
static const char *kind_error(enum key_kind);
static void	 ld_keys_check(struct loader *, config_setting_t *,
		    const struct key_spec *, const char *);
static config_setting_t *ld_member(config_setting_t *, const char *,
		    enum key_kind);
static long long ld_int(struct loader *, config_setting_t *, const char *,
		    long long, long long, long long);
static int	 ld_bool(config_setting_t *, const char *, int);
static const char *ld_string(config_setting_t *, const char *);
static const char *ld_nonempty(struct loader *, config_setting_t *,
		    const char *);
static char	*ld_path(struct loader *, config_setting_t *, const char *,
		    const char *);
static int	 ld_enum(struct loader *, config_setting_t *, const char *,
		    const struct enum_name *, int, int *);
static char	*ld_name(struct loader *, config_setting_t *, const char *,
		    const char *);
static void	 ld_strlist(struct loader *, config_setting_t *,
		    const char *, const char *const *, struct strlist *,
		    item_check_fn, const char *);
static void	 strlist_set(struct strlist *, const char *const *);
static void	 strlist_add(struct strlist *, const char *);
static void	 strlist_clear(struct strlist *);
static int	 strlist_has(const struct strlist *, const char *);
static int	 is_ip_address(const char *);
static int	 is_http_url(const char *);
static int	 is_user_entry(const char *);
static int	 is_label(const char *);
static char	*url_trimmed(const char *);
static int	 listen_parse(const char *, struct config_listen *,
		    const char **);
static void	 ld_listen(struct loader *, config_setting_t *);
static void	 ld_log(struct loader *, config_setting_t *);
static void	 ld_server(struct loader *, config_setting_t *);
static void	 ld_access(struct loader *, config_setting_t *);
static int	 secret_read(const char *, char **, char **);
static char	*ld_secret(struct loader *, config_setting_t *, const char *,
		    const char *, const char *);
static void	 ld_creds_keys(struct loader *, config_setting_t *,
		    enum auth_type);
static void	 ld_creds(struct loader *, config_setting_t *,
		    struct config_upstream *, int);
static void	 ld_upstream_ecr(struct loader *, config_setting_t *,
		    struct config_upstream *, int);
static void	 ld_upstream_url(struct loader *, config_setting_t *,
		    struct config_upstream *, int);
static int	 ld_upstream(struct loader *, config_setting_t *,
		    struct config_upstream *);
static int	 ld_registry(struct loader *, config_setting_t *,
		    struct config_registry *);
static int	 ld_read_file(struct loader *, const char *);
static int	 dropin_filter(const struct dirent *);
static int	 dropin_compare(const struct dirent **,
		    const struct dirent **);
static char	*ld_dropin_dir(struct loader *);
static void	 ld_read_dropin(struct loader *, const char *,
		    const char *);
static void	 ld_read_overlay(struct loader *);
static void	 ld_read_dropins(struct loader *);
static int	 ld_overlay_name_ok(const char *);
static void	 ld_collect(struct loader *);
static void	 ld_objects(struct loader *);
static const char *ld_object_name(struct loader *, const struct ld_object *);
static void	 ld_check_names(struct loader *);
static struct ld_object *ld_object_find(struct loader *, const char *);
static void	 ld_check_registry_refs(struct loader *,
		    const struct ld_object *);
static void	 ld_check_mirror(struct loader *);
static void	 ld_done(struct loader *);
static const char *enum_name(const struct enum_name *, int);
static void	 secret_free(char *);
static void	 upstream_clear(struct config_upstream *);
static void	 registry_clear(struct config_registry *);

/* Append one "file:line: message" line to the error list. */
static void
ld_error_at(struct loader *ld, const char *file, int line, const char *fmt,
    ...)
{
	struct ld_error	*e;
	va_list		 ap;
	char		*msg;
	size_t		 i;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	ld->ld_errors = xreallocarray(ld->ld_errors, ld->ld_nerrors + 1,
	    sizeof(*ld->ld_errors));
	e = &ld->ld_errors[ld->ld_nerrors];
	for (i = 0; i < ld->ld_npaths; i++)
		if (strcmp(ld->ld_paths[i], file) == 0)
			break;
	e->e_rank = i;
	e->e_line = line;
	e->e_seq = ld->ld_nerrors++;
	if (line > 0)
		xasprintf(&e->e_text, "%s:%d: %s", file, line, msg);
	else
		xasprintf(&e->e_text, "%s: %s", file, msg);
	free(msg);
}

static int
ld_error_compare(const void *a, const void *b)
{
	const struct ld_error	*ea = a, *eb = b;

	if (ea->e_rank != eb->e_rank)
		return (ea->e_rank < eb->e_rank ? -1 : 1);
	if (ea->e_line != eb->e_line)
		return (ea->e_line < eb->e_line ? -1 : 1);
	if (ea->e_seq != eb->e_seq)
		return (ea->e_seq < eb->e_seq ? -1 : 1);
	return (0);
}

/* Every error in file and line order, one per line. Caller frees. */
static char *
ld_errors_join(struct loader *ld)
{
	char	*out;
	size_t	 i, len = 0, n;

	qsort(ld->ld_errors, ld->ld_nerrors, sizeof(*ld->ld_errors),
	    ld_error_compare);
	for (i = 0; i < ld->ld_nerrors; i++)
		len += strlen(ld->ld_errors[i].e_text) + 1;
	out = xmalloc(len + 1);
	for (i = 0, len = 0; i < ld->ld_nerrors; i++) {
		n = strlen(ld->ld_errors[i].e_text);
		memcpy(out + len, ld->ld_errors[i].e_text, n);
		len += n;
		out[len++] = '\n';
	}
	/* No newline after the last message. */
	out[len > 0 ? len - 1 : 0] = '\0';
	return (out);
}

/* An error located at a setting. */
static void
ld_error(struct loader *ld, const config_setting_t *set, const char *fmt,
    ...)
{
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	ld_error_at(ld, ld_file(ld, set), config_setting_source_line(set),
	    "%s", msg);
	free(msg);
}

/* The file a setting came from (the main file when libconfig lost it). */
static const char *
ld_file(struct loader *ld, const config_setting_t *set)
{
	const char	*file;

	file = config_setting_source_file(set);
	return (file != NULL ? ld_shown(ld, file) : ld->ld_cf->cf_path);
}

/* The name a file is known by: an overlay's stand-in is shown as the
 * depot.d file it stands for. */
static const char *
ld_shown(struct loader *ld, const char *file)
{
	if (ld->ld_over_path != NULL && strcmp(file, ld->ld_over_path) == 0)
		return (ld->ld_over_shown);
	return (file);
}

/* A value made safe to echo in a one-line message: printable, bounded. */
static const char *
quote(const char *s, char *buf, size_t size)
{
	size_t	 i, o = 0;

	for (i = 0; s[i] != '\0' && o + 8 < size; i++) {
		if (i == CONFIG_QUOTE_MAX) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			o += snprintf(buf + o, size - o, "\\x%02x",
			    (unsigned char)s[i]);
		else
			buf[o++] = s[i];
	}
	buf[o] = '\0';
	return (buf);
}

/* path made absolute against the working directory. Caller frees. */
static char *
path_absolute(const char *path)
{
	char	 cwd[PATH_MAX];
	char	*abs;

	if (path[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL)
		return (xstrdup(path));
	if (strcmp(cwd, "/") == 0)
		xasprintf(&abs, "/%s", path);
	else
		xasprintf(&abs, "%s/%s", cwd, path);
	return (abs);
}

/* A path from the config, relative ones taken from the config's
 * directory. Caller frees. */
static char *
path_resolve(struct loader *ld, const char *path)
{
	char	*abs;

	if (path[0] == '/')
		return (xstrdup(path));
	if (strcmp(ld->ld_dir, "/") == 0)
		xasprintf(&abs, "/%s", path);
	else
		xasprintf(&abs, "%s/%s", ld->ld_dir, path);
	return (abs);
}

static int
kind_matches(const config_setting_t *set, enum key_kind kind)
{
	int	 i, type = config_setting_type(set);

	switch (kind) {
	case KEY_INT:
		return (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64);
	case KEY_BOOL:
		return (type == CONFIG_TYPE_BOOL);
	case KEY_STRING:
		return (type == CONFIG_TYPE_STRING);
	case KEY_GROUP:
		return (type == CONFIG_TYPE_GROUP);
	case KEY_STRLIST:
	case KEY_OBJLIST:
		if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST)
			return (0);
		for (i = 0; i < config_setting_length(set); i++) {
			type = config_setting_type(
			    config_setting_get_elem(set, i));
			if (type != (kind == KEY_STRLIST ?
			    CONFIG_TYPE_STRING : CONFIG_TYPE_GROUP))
				return (0);
		}
		return (1);
	}
	return (0);
}

static const char *
kind_error(enum key_kind kind)
{
	switch (kind) {
	case KEY_INT:
		return ("must be an integer");
	case KEY_BOOL:
		return ("must be true or false");
	case KEY_STRING:
		return ("must be a string in double quotes");
	case KEY_STRLIST:
		return ("must be a list of strings, e.g. [ \"a\", \"b\" ]");
	case KEY_GROUP:
		return ("must be a group { ... }");
	case KEY_OBJLIST:
		return ("must be a list of groups ( { ... }, { ... } )");
	}
	return ("has the wrong type");
}

/* Refuse unknown keys and keys of the wrong type in one group. */
static void
ld_keys_check(struct loader *ld, config_setting_t *group,
    const struct key_spec *keys, const char *where)
{
	config_setting_t	*set;
	const char		*name;
	int			 i;
	size_t			 k;

	for (i = 0; i < config_setting_length(group); i++) {
		set = config_setting_get_elem(group, i);
		name = config_setting_name(set);
		for (k = 0; keys[k].k_name != NULL; k++)
			if (strcmp(keys[k].k_name, name) == 0)
				break;
		if (keys[k].k_name == NULL) {
			if (keys == dropin_keys)
				ld_error(ld, set, "'%s' is not allowed in a "
				    "%s file (only upstreams and "
				    "registries)", name, CONFIG_DROPIN_DIR);
			else
				ld_error(ld, set, "unknown setting '%s' in %s",
				    name, where);
		} else if (!kind_matches(set, keys[k].k_kind))
			ld_error(ld, set, "'%s' %s", name,
			    kind_error(keys[k].k_kind));
	}
}

/* A member of the right kind, or NULL (absent or already refused). */
static config_setting_t *
ld_member(config_setting_t *group, const char *name, enum key_kind kind)
{
	config_setting_t	*set;

	if (group == NULL)
		return (NULL);
	set = config_setting_get_member(group, name);
	if (set == NULL || !kind_matches(set, kind))
		return (NULL);
	return (set);
}

/* An integer in [min, max], def when absent or refused. */
static long long
ld_int(struct loader *ld, config_setting_t *group, const char *name,
    long long def, long long min, long long max)
{
	config_setting_t	*set;
	long long		 value;

	if ((set = ld_member(group, name, KEY_INT)) == NULL)
		return (def);
	value = config_setting_get_int64(set);
	if (value >= min && value <= max)
		return (value);
	if (max == LLONG_MAX || max == INT_MAX)
		ld_error(ld, set, "'%s' must be %s%lld", name,
		    min == 0 ? "0 or more, not " : "at least 1, not ", value);
	else
		ld_error(ld, set, "'%s' must be between %lld and %lld, not "
		    "%lld", name, min, max, value);
	return (def);
}

static int
ld_bool(config_setting_t *group, const char *name, int def)
{
	config_setting_t	*set;

	if ((set = ld_member(group, name, KEY_BOOL)) == NULL)
		return (def);
	return (config_setting_get_bool(set) != 0);
}

/* A string member, NULL when absent or refused. */
static const char *
ld_string(config_setting_t *group, const char *name)
{
	config_setting_t	*set;

	if ((set = ld_member(group, name, KEY_STRING)) == NULL)
		return (NULL);
	return (config_setting_get_string(set));
}

/* A string member that must not be empty when it is given. */
static const char *
ld_nonempty(struct loader *ld, config_setting_t *group, const char *name)
{
	const char	*s;

	if ((s = ld_string(group, name)) == NULL)
		return (NULL);
	if (*s == '\0') {
		ld_error(ld, config_setting_get_member(group, name),
		    "'%s' must not be empty", name);
		return (NULL);
	}
	return (s);
}

/* A path member resolved against the config's directory, def (which may
 * be NULL) when absent. Caller frees. */
static char *
ld_path(struct loader *ld, config_setting_t *group, const char *name,
    const char *def)
{
	const char	*s;

	if ((s = ld_nonempty(ld, group, name)) == NULL)
		return (def != NULL ? xstrdup(def) : NULL);
	return (path_resolve(ld, s));
}

/* One of the names in table; 0 with *out set, -1 when absent or bad. */
static int
ld_enum(struct loader *ld, config_setting_t *group, const char *name,
    const struct enum_name *table, int required, int *out)
{
	config_setting_t	*set;
	char			 q[CONFIG_QUOTE_BUF], list[128];
	const char		*s;
	size_t			 i, len;

	if ((set = ld_member(group, name, KEY_STRING)) == NULL) {
		if (required && config_setting_get_member(group, name) == NULL)
			ld_error(ld, group, "'%s' is required", name);
		return (-1);
	}
	s = config_setting_get_string(set);
	for (i = 0, len = 0; table[i].e_name != NULL; i++) {
		if (strcmp(table[i].e_name, s) == 0) {
			*out = table[i].e_value;
			return (0);
		}
		len += snprintf(list + len, sizeof(list) - len, "%s%s",
		    i > 0 ? ", " : "", table[i].e_name);
	}
	ld_error(ld, set, "'%s' must be one of %s, not '%s'", name, list,
	    quote(s, q, sizeof(q)));
	return (-1);
}

/* A registry name or upstream key, checked by the name rule. Caller
 * frees; NULL when missing or invalid. */
static char *
ld_name(struct loader *ld, config_setting_t *group, const char *name,
    const char *what)
{
	config_setting_t	*set;
	char			*cause, q[CONFIG_QUOTE_BUF];
	const char		*s;

	if ((set = ld_member(group, name, KEY_STRING)) == NULL) {
		if (config_setting_get_member(group, name) == NULL)
			ld_error(ld, group, "'%s' is required in %s", name,
			    what);
		return (NULL);
	}
	s = config_setting_get_string(set);
	if (ref_name_valid(s, &cause) == -1) {
		ld_error(ld, set, "invalid %s '%s': %s", what,
		    quote(s, q, sizeof(q)), REF_NAME_RULE);
		free(cause);
		return (NULL);
	}
	return (xstrdup(s));
}

/* A list of strings (def when absent), each item checked by check. */
static void
ld_strlist(struct loader *ld, config_setting_t *group, const char *name,
    const char *const *def, struct strlist *out, item_check_fn check,
    const char *rule)
{
	config_setting_t	*set, *item;
	char			 q[CONFIG_QUOTE_BUF];
	const char		*s;
	int			 i;

	if ((set = ld_member(group, name, KEY_STRLIST)) == NULL) {
		strlist_set(out, def);
		return;
	}
	for (i = 0; i < config_setting_length(set); i++) {
		item = config_setting_get_elem(set, i);
		s = config_setting_get_string(item);
		if (check != NULL && !check(s)) {
			ld_error(ld, item, "'%s' in '%s' is not %s",
			    quote(s, q, sizeof(q)), name, rule);
			continue;
		}
		strlist_add(out, s);
	}
}

static void
strlist_set(struct strlist *sl, const char *const *items)
{
	for (; items != NULL && *items != NULL; items++)
		strlist_add(sl, *items);
}

static void
strlist_add(struct strlist *sl, const char *s)
{
	sl->sl_items = xreallocarray(sl->sl_items, sl->sl_count + 1,
	    sizeof(*sl->sl_items));
	sl->sl_items[sl->sl_count++] = xstrdup(s);
}

static void
strlist_clear(struct strlist *sl)
{
	size_t	 i;

	for (i = 0; i < sl->sl_count; i++)
		free(sl->sl_items[i]);
	free(sl->sl_items);
	sl->sl_items = NULL;
	sl->sl_count = 0;
}

static int
strlist_has(const struct strlist *sl, const char *s)
{
	size_t	 i;

	for (i = 0; i < sl->sl_count; i++)
		if (strcmp(sl->sl_items[i], s) == 0)
			return (1);
	return (0);
}

static int
is_ip_address(const char *s)
{
	unsigned char	 buf[sizeof(struct in6_addr)];

	return (inet_pton(AF_INET, s, buf) == 1 ||
	    inet_pton(AF_INET6, s, buf) == 1);
}

/* http:// or https:// with a host, and nothing unprintable or blank. */
static int
is_http_url(const char *s)
{
	const char	*p;

	if (strncmp(s, "http://", 7) == 0)
		p = s + 7;
	else if (strncmp(s, "https://", 8) == 0)
		p = s + 8;
	else
		return (0);
	if (*p == '\0' || *p == '/' || *p == '?' || *p == '#')
		return (0);
	for (; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return (0);
	return (1);
}

/* "anonymous", "*" or a user name [A-Za-z0-9_.@-]{1,64}. */
static int
is_user_entry(const char *s)
{
	size_t	 i;

	if (strcmp(s, "anonymous") == 0 || strcmp(s, "*") == 0)
		return (1);
	for (i = 0; s[i] != '\0'; i++) {
		if (i == CONFIG_USER_MAX)
			return (0);
		if (!(s[i] >= 'a' && s[i] <= 'z') &&
		    !(s[i] >= 'A' && s[i] <= 'Z') &&
		    !(s[i] >= '0' && s[i] <= '9') &&
		    strchr("_.@-", s[i]) == NULL)
			return (0);
	}
	return (i > 0);
}

/* [a-z0-9_.-]{1,64} */
static int
is_label(const char *s)
{
	size_t	 i;

	for (i = 0; s[i] != '\0'; i++) {
		if (i == CONFIG_LABEL_MAX)
			return (0);
		if (!(s[i] >= 'a' && s[i] <= 'z') &&
		    !(s[i] >= '0' && s[i] <= '9') &&
		    strchr("_.-", s[i]) == NULL)
			return (0);
	}
	return (i > 0);
}

/* A URL without its trailing slashes. Caller frees. */
static char *
url_trimmed(const char *s)
{
	size_t	 len = strlen(s);

	while (len > 0 && s[len - 1] == '/')
		len--;
	return (xstrndup(s, len));
}

/* Split "host:port" or "[v6]:port"; *why says what is wrong on -1. */
static int
listen_parse(const char *text, struct config_listen *l, const char **why)
{
	unsigned char	 buf[sizeof(struct in6_addr)];
	const char	*colon, *p;
	char		*host;
	long		 port = 0;

	if (text[0] == '[') {
		if ((p = strchr(text, ']')) == NULL || p[1] != ':') {
			*why = "must be [address]:port for IPv6";
			return (-1);
		}
		host = xstrndup(text + 1, p - text - 1);
		colon = p + 1;
		if (inet_pton(AF_INET6, host, buf) != 1) {
			*why = "has no valid IPv6 address in brackets";
			goto fail;
		}
	} else {
		if ((colon = strrchr(text, ':')) == NULL) {
			*why = "must be host:port";
			return (-1);
		}
		host = xstrndup(text, colon - text);
		if (strchr(host, ':') != NULL) {
			*why = "must put an IPv6 address in brackets, e.g. "
			    "[::1]:5000";
			goto fail;
		}
		if (*host == '\0' ||
		    strspn(host, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != strlen(host)) {
			*why = "has no valid host (an address or a host name)";
			goto fail;
		}
	}
	for (p = colon + 1; *p >= '0' && *p <= '9' && port <= 65535; p++)
		port = port * 10 + (*p - '0');
	if (p == colon + 1 || *p != '\0' || port < 1 || port > 65535) {
		*why = "must end in a port from 1 to 65535";
		goto fail;
	}
	l->l_host = host;
	xasprintf(&l->l_port, "%ld", port);
	l->l_text = xstrdup(text);
	return (0);

fail:
	free(host);
	return (-1);
}

/* server.listen: at least one address, none twice. */
static void
ld_listen(struct loader *ld, config_setting_t *server)
{
	struct config_server	*srv = &ld->ld_cf->cf_server;
	config_setting_t	*set, *item;
	struct config_listen	 l;
	char			 q[CONFIG_QUOTE_BUF];
	const char		*why, *text;
	size_t			 j;
	int			 i, n;

	if ((set = ld_member(server, "listen", KEY_STRLIST)) == NULL) {
		if (server == NULL ||
		    config_setting_get_member(server, "listen") == NULL) {
			srv->srv_listen = xcalloc(1, sizeof(*srv->srv_listen));
			if (listen_parse(default_listen[0], &srv->srv_listen[0],
			    &why) == -1)
				fatalx("%s: bad default", __func__);
			srv->srv_nlisten = 1;
		}
		return;
	}
	if ((n = config_setting_length(set)) == 0) {
		ld_error(ld, set, "'listen' must name at least one address");
		return;
	}
	srv->srv_listen = xcalloc(n, sizeof(*srv->srv_listen));
	for (i = 0; i < n; i++) {
		item = config_setting_get_elem(set, i);
		text = config_setting_get_string(item);
		if (listen_parse(text, &l, &why) == -1) {
			ld_error(ld, item, "listen address '%s' %s",
			    quote(text, q, sizeof(q)), why);
			continue;
		}
		for (j = 0; j < srv->srv_nlisten; j++)
			if (strcmp(srv->srv_listen[j].l_host, l.l_host) == 0 &&
			    strcmp(srv->srv_listen[j].l_port, l.l_port) == 0)
				break;
		if (j < srv->srv_nlisten) {
			ld_error(ld, item, "listen address '%s' is listed "
			    "twice", quote(text, q, sizeof(q)));
			free(l.l_host);
			free(l.l_port);
			free(l.l_text);
			continue;
		}
		srv->srv_listen[srv->srv_nlisten++] = l;
	}
}

/* server.log */
static void
ld_log(struct loader *ld, config_setting_t *group)
{
	struct config_log	*lg = &ld->ld_cf->cf_server.srv_log;
	char			 q[CONFIG_QUOTE_BUF];
	const char		*s;

	lg->log_syslog = 1;
	lg->log_facility = xstrdup("daemon");
	lg->log_level = LOG_INFO;
	if (group == NULL)
		return;
	ld_keys_check(ld, group, log_keys, "log");
	lg->log_syslog = ld_bool(group, "syslog", 1);
	if ((s = ld_string(group, "facility")) != NULL) {
		if (log_facility_parse(s) == -1)
			ld_error(ld, config_setting_get_member(group,
			    "facility"), "'facility' must be daemon, user or "
			    "local0 to local7, not '%s'", quote(s, q,
			    sizeof(q)));
		else {
			free(lg->log_facility);
			lg->log_facility = xstrdup(s);
		}
	}
	if ((s = ld_string(group, "level")) != NULL) {
		if (log_level_parse(s) == -1)
			ld_error(ld, config_setting_get_member(group, "level"),
			    "'level' must be one of error, warning, notice, "
			    "info, debug, not '%s'", quote(s, q, sizeof(q)));
		else
			lg->log_level = log_level_parse(s);
	}
	/* An empty access_log means none. */
	if ((s = ld_string(group, "access_log")) != NULL && *s != '\0')
		lg->log_access_log = path_resolve(ld, s);
}

/* The server group (group is NULL when absent: all defaults). */
static void
ld_server(struct loader *ld, config_setting_t *group)
{
	struct config_server	*srv = &ld->ld_cf->cf_server;
	config_setting_t	*set;
	char			 q[CONFIG_QUOTE_BUF];
	const char		*s;

	if (group != NULL)
		ld_keys_check(ld, group, server_keys, "server");
	ld_listen(ld, group);
	srv->srv_workers = ld_int(ld, group, "workers", 0, 0,
	    CONFIG_WORKERS_MAX);
	if ((s = ld_string(group, "user")) != NULL && *s != '\0')
		srv->srv_user = xstrdup(s);
	if ((s = ld_string(group, "group")) != NULL && *s != '\0')
		srv->srv_group = xstrdup(s);
	srv->srv_pidfile = ld_path(ld, group, "pidfile",
	    DEPOT_PIDFILE_DEFAULT);
	srv->srv_data_dir = ld_path(ld, group, "data_dir",
	    DEPOT_DATADIR_DEFAULT);
	if ((s = ld_string(group, "public_url")) != NULL && *s != '\0') {
		set = config_setting_get_member(group, "public_url");
		if (!is_http_url(s) || strpbrk(s, "?#") != NULL)
			ld_error(ld, set, "'public_url' must be an http:// or "
			    "https:// URL without query, not '%s'",
			    quote(s, q, sizeof(q)));
		else
			srv->srv_public_url = url_trimmed(s);
	}
	ld_strlist(ld, group, "trusted_proxies", default_proxies,
	    &srv->srv_trusted_proxies, is_ip_address,
	    "an IPv4 or IPv6 address");
	if ((s = ld_string(group, "mirror_registry")) != NULL && *s != '\0') {
		srv->srv_mirror_registry = xstrdup(s);
		ld->ld_mirror = config_setting_get_member(group,
		    "mirror_registry");
	}
	ld_log(ld, ld_member(group, "log", KEY_GROUP));
	srv->srv_request_timeout = ld_int(ld, group, "request_timeout", 60,
	    1, CONFIG_SECONDS_MAX);
	srv->srv_shutdown_timeout = ld_int(ld, group, "shutdown_timeout", 30,
	    0, CONFIG_SECONDS_MAX);
	srv->srv_upload_expiry = ld_int(ld, group, "upload_expiry", 86400,
	    1, INT_MAX);
	srv->srv_gc_interval = ld_int(ld, group, "gc_interval", 0, 0,
	    INT_MAX);
	srv->srv_gc_grace = ld_int(ld, group, "gc_grace", 2 * 86400,
	    0, INT_MAX);
	srv->srv_max_body = ld_int(ld, group, "max_body", 0, 0, LLONG_MAX);
	srv->srv_max_chart_size = ld_int(ld, group, "max_chart_size",
	    20LL * 1024 * 1024, 1, LLONG_MAX);
	srv->srv_cache_max_bytes = ld_int(ld, group, "cache_max_bytes", 0, 0,
	    LLONG_MAX);
	srv->srv_min_free_bytes = ld_int(ld, group, "min_free_bytes", 0, 0,
	    LLONG_MAX);
	srv->srv_max_connections = ld_int(ld, group, "max_connections", 0, 0,
	    INT_MAX);
	srv->srv_metrics_read_set = ld_member(group, "metrics_read",
	    KEY_STRLIST) != NULL;
	ld_strlist(ld, group, "metrics_read", NULL, &srv->srv_metrics_read,
	    is_user_entry, "\"anonymous\", \"*\" or a user name "
	    "(1 to 64 of A-Z a-z 0-9 _ . @ -)");
	srv->srv_ui_dir = ld_path(ld, group, "ui_dir", DEPOT_UIDIR_DEFAULT);
}

/* The auth group: users and tokens. */
static void
ld_access(struct loader *ld, config_setting_t *group)
{
	struct config_access	*acc = &ld->ld_cf->cf_access;
	const char		*s;

	ld->ld_cf->cf_has_access = 1;
	ld_keys_check(ld, group, access_keys, "auth");
	acc->acc_users_file = ld_path(ld, group, "users_file", NULL);
	if (acc->acc_users_file == NULL &&
	    config_setting_get_member(group, "users_file") == NULL)
		ld_error(ld, group, "'users_file' is required in auth");
	acc->acc_token_key_file = ld_path(ld, group, "token_key_file", NULL);
	if (acc->acc_token_key_file == NULL &&
	    config_setting_get_member(group, "token_key_file") == NULL)
		ld_error(ld, group, "'token_key_file' is required in auth");
	acc->acc_token_ttl = ld_int(ld, group, "token_ttl", 300, 1,
	    CONFIG_SECONDS_MAX);
	s = ld_nonempty(ld, group, "token_issuer");
	acc->acc_token_issuer = xstrdup(s != NULL ? s : "depot");
	acc->acc_token_cert_file = ld_path(ld, group, "token_cert_file",
	    NULL);
}

/*
 * Read a secret file: a regular file nobody but its owner may access,
 * one trailing newline dropped. 0 with *secret set, or -1 with *why
 * (both caller frees). The secret never goes into *why.
 */
static int
secret_read(const char *path, char **secret, char **why)
{
	struct stat	 st;
	char		*buf = NULL;
	size_t		 len = 0;
	ssize_t		 n;
	int		 fd, saved_errno;

	*secret = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		xasprintf(why, "cannot read secret file '%s': %s", path,
		    strerror(errno));
		return (-1);
	}
	if (fstat(fd, &st) == -1) {
		xasprintf(why, "cannot stat secret file '%s': %s", path,
		    strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		xasprintf(why, "secret file '%s' is not a regular file", path);
		goto fail;
	}
	if ((st.st_mode & 077) != 0) {
		xasprintf(why, "secret file '%s' has mode %04o: it must not be "
		    "accessible by group or others (chmod 600)", path,
		    (unsigned int)(st.st_mode & 07777));
		goto fail;
	}
	buf = xmalloc(CONFIG_SECRET_MAX + 1);
	while (len <= CONFIG_SECRET_MAX) {
		n = read(fd, buf + len, CONFIG_SECRET_MAX + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			saved_errno = errno;
			xasprintf(why, "cannot read secret file '%s': %s",
			    path, strerror(saved_errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += n;
	}
	if (len > CONFIG_SECRET_MAX) {
		xasprintf(why, "secret file '%s' is larger than %d bytes",
		    path, CONFIG_SECRET_MAX);
		goto fail;
	}
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	if (len == 0 || memchr(buf, '\0', len) != NULL) {
		xasprintf(why, "secret file '%s' is %s", path,
		    len == 0 ? "empty" : "binary (holds a NUL byte)");
		goto fail;
	}
	close(fd);
	*secret = xstrdup(buf);
	explicit_bzero(buf, len);
	free(buf);
	return (0);

fail:
	if (buf != NULL) {
		explicit_bzero(buf, CONFIG_SECRET_MAX + 1);
		free(buf);
	}
	close(fd);
	return (-1);
}

/*
 * A secret given inline (key) or in a file (file_key): exactly one of
 * the two. Caller frees; NULL when refused.
 */
static char *
ld_secret(struct loader *ld, config_setting_t *group, const char *key,
    const char *file_key, const char *type)
{
	config_setting_t	*inline_set, *file_set;
	char			*path, *secret, *why;

	inline_set = ld_member(group, key, KEY_STRING);
	file_set = ld_member(group, file_key, KEY_STRING);
	if (inline_set != NULL && file_set != NULL) {
		ld_error(ld, file_set, "give either '%s' or '%s', not both",
		    key, file_key);
		return (NULL);
	}
	if (inline_set != NULL) {
		if (*config_setting_get_string(inline_set) == '\0') {
			ld_error(ld, inline_set, "'%s' must not be empty", key);
			return (NULL);
		}
		return (xstrdup(config_setting_get_string(inline_set)));
	}
	if (file_set == NULL) {
		if (config_setting_get_member(group, key) == NULL &&
		    config_setting_get_member(group, file_key) == NULL)
			ld_error(ld, group, "auth type '%s' needs '%s' or '%s'",
			    type, key, file_key);
		return (NULL);
	}
	if ((path = ld_path(ld, group, file_key, NULL)) == NULL)
		return (NULL);
	if (secret_read(path, &secret, &why) == -1) {
		ld_error(ld, file_set, "%s", why);
		free(why);
		secret = NULL;
	}
	free(path);
	return (secret);
}

/* Refuse credential keys that the chosen auth type does not use. */
static void
ld_creds_keys(struct loader *ld, config_setting_t *group, enum auth_type type)
{
	config_setting_t	*set;
	size_t			 i;

	for (i = 0; i < NITEMS(creds_owner); i++) {
		if (creds_owner[i].ck_type == type)
			continue;
		set = config_setting_get_member(group, creds_owner[i].ck_name);
		if (set != NULL)
			ld_error(ld, set, "'%s' is not used with auth type "
			    "'%s'", creds_owner[i].ck_name,
			    enum_name(auth_types, type));
	}
}

/* An upstream's auth group (absent: anonymous). */
static void
ld_creds(struct loader *ld, config_setting_t *upstream,
    struct config_upstream *up, int source_ok)
{
	struct config_auth_creds	*cr = &up->up_auth;
	config_setting_t		*group;
	const char			*s;
	int				 type = AUTH_ANONYMOUS;

	cr->cr_type = AUTH_ANONYMOUS;
	if ((group = ld_member(upstream, "auth", KEY_GROUP)) == NULL)
		return;
	ld_keys_check(ld, group, creds_keys, "upstream auth");
	if (config_setting_get_member(group, "type") != NULL &&
	    ld_enum(ld, group, "type", auth_types, 1, &type) == -1)
		return;
	cr->cr_type = type;
	ld_creds_keys(ld, group, cr->cr_type);
	switch (cr->cr_type) {
	case AUTH_ANONYMOUS:
		break;
	case AUTH_USERPASS:
		if ((s = ld_nonempty(ld, group, "username")) != NULL)
			cr->cr_username = xstrdup(s);
		else if (config_setting_get_member(group, "username") == NULL)
			ld_error(ld, group, "auth type 'userpass' needs "
			    "'username'");
		cr->cr_password = ld_secret(ld, group, "password",
		    "password_file", "userpass");
		break;
	case AUTH_ACCESS_KEY:
		if (source_ok && up->up_source != SOURCE_ECR)
			ld_error(ld, config_setting_get_member(group, "type"),
			    "auth type 'access_key' is only for source 'ecr'");
		if ((s = ld_nonempty(ld, group, "access_key_id")) != NULL)
			cr->cr_access_key_id = xstrdup(s);
		else if (config_setting_get_member(group,
		    "access_key_id") == NULL)
			ld_error(ld, group, "auth type 'access_key' needs "
			    "'access_key_id'");
		cr->cr_secret_access_key = ld_secret(ld, group,
		    "secret_access_key", "secret_access_key_file",
		    "access_key");
		if (config_setting_get_member(group, "session_token") != NULL ||
		    config_setting_get_member(group, "session_token_file") !=
		    NULL)
			cr->cr_session_token = ld_secret(ld, group,
			    "session_token", "session_token_file",
			    "access_key");
		break;
	case AUTH_AWS_DEFAULT:
		if (source_ok && up->up_source != SOURCE_ECR)
			ld_error(ld, config_setting_get_member(group, "type"),
			    "auth type 'aws_default' is only for source 'ecr'");
		break;
	}
}

/*
 * What an ECR upstream needs beyond its url: credentials fit for ECR,
 * and the test/advanced endpoint overrides, which only ECR takes.
 */
static void
ld_upstream_ecr(struct loader *ld, config_setting_t *group,
    struct config_upstream *up, int source_ok)
{
	static const char *const urls[] = {
		"registry_url", "api_url", "sts_url", "imds_url"
	};
	char			**dst[] = {
		&up->up_registry_url, &up->up_api_url, &up->up_sts_url,
		&up->up_imds_url
	};
	config_setting_t	*set;
	char			 q[CONFIG_QUOTE_BUF];
	const char		*s;
	size_t			 i;

	for (i = 0; i < NITEMS(urls); i++) {
		if ((set = ld_member(group, urls[i], KEY_STRING)) == NULL)
			continue;
		s = config_setting_get_string(set);
		if (source_ok && up->up_source != SOURCE_ECR)
			ld_error(ld, set, "'%s' is only for source 'ecr'",
			    urls[i]);
		else if (!is_http_url(s))
			ld_error(ld, set, "'%s' must be an http:// or https:// "
			    "URL, not '%s'", urls[i], quote(s, q, sizeof(q)));
		else
			*dst[i] = url_trimmed(s);
	}
	if (!source_ok || up->up_source != SOURCE_ECR || up->up_url == NULL)
		return;
	switch (up->up_auth.cr_type) {
	case AUTH_ANONYMOUS:
		if (up->up_ecr.el_kind == ECR_PRIVATE)
			ld_error(ld, group, "a private ECR registry needs auth "
			    "type 'access_key' or 'aws_default'");
		break;
	case AUTH_USERPASS:
		ld_error(ld, group, "an ECR upstream takes auth type "
		    "'access_key', 'aws_default' or (ECR Public) 'anonymous', "
		    "not 'userpass'");
		break;
	default:
		break;
	}
}

/* An upstream's url, checked against its source. */
static void
ld_upstream_url(struct loader *ld, config_setting_t *group,
    struct config_upstream *up, int source_ok)
{
	config_setting_t	*set;
	char			 q[CONFIG_QUOTE_BUF], *cause = NULL;
	const char		*s;

	if ((set = ld_member(group, "url", KEY_STRING)) == NULL) {
		if (source_ok && up->up_source != SOURCE_DOCKERHUB &&
		    config_setting_get_member(group, "url") == NULL)
			ld_error(ld, group, "'url' is required for source "
			    "'%s'", enum_name(sources, up->up_source));
		return;
	}
	s = config_setting_get_string(set);
	if (source_ok && up->up_source == SOURCE_ECR) {
		if (ecr_url_parse(s, &up->up_ecr, &cause) == -1) {
			ld_error(ld, set, "'url' '%s': %s",
			    quote(s, q, sizeof(q)), cause);
			free(cause);
		} else
			up->up_url = xstrdup(s);
		return;
	}
	if (!is_http_url(s))
		ld_error(ld, set, "'url' must be an http:// or https:// URL, "
		    "not '%s'", quote(s, q, sizeof(q)));
	else
		up->up_url = url_trimmed(s);
}

/* One upstream group; 0 when its type parsed (for later checks). */
static int
ld_upstream(struct loader *ld, config_setting_t *group,
    struct config_upstream *up)
{
	int	 type_ok, source_ok, value;

	ld_keys_check(ld, group, upstream_keys, "upstream");
	up->up_file = xstrdup(ld_file(ld, group));
	up->up_line = config_setting_source_line(group);
	up->up_key = ld_name(ld, group, "key", "upstream key");
	type_ok = ld_enum(ld, group, "type", repo_types, 1, &value) == 0;
	if (type_ok)
		up->up_type = value;
	source_ok = ld_enum(ld, group, "source", sources, 1, &value) == 0;
	if (source_ok) {
		up->up_source = value;
		if (type_ok && up->up_type == REPO_HELM &&
		    up->up_source != SOURCE_CUSTOM)
			ld_error(ld, config_setting_get_member(group,
			    "source"), "a helm upstream must have source "
			    "'custom'");
	}
	ld_upstream_url(ld, group, up, source_ok);
	ld_creds(ld, group, up, source_ok);
	ld_upstream_ecr(ld, group, up, source_ok);
	up->up_tag_ttl = ld_int(ld, group, "tag_ttl", 300, 0, INT_MAX);
	up->up_negative_ttl = ld_int(ld, group, "negative_ttl", 30, 0,
	    INT_MAX);
	up->up_timeout = ld_int(ld, group, "timeout", 30, 1,
	    CONFIG_SECONDS_MAX);
	up->up_min_speed = ld_int(ld, group, "min_speed", 10240, 1, INT_MAX);
	up->up_speed_window = ld_int(ld, group, "speed_window",
	    up->up_timeout, 1, CONFIG_SECONDS_MAX);
	up->up_max_cache_bytes = ld_int(ld, group, "max_cache_bytes", 0, 0,
	    LLONG_MAX);
	up->up_ca_file = ld_path(ld, group, "ca_file", NULL);
	up->up_insecure_tls = ld_bool(group, "insecure_tls", 0);
	ld_strlist(ld, group, "token_realms", NULL, &up->up_token_realms,
	    is_http_url, "an http:// or https:// URL");
	ld_strlist(ld, group, "read", default_read, &up->up_read,
	    is_user_entry, "\"anonymous\", \"*\" or a user name "
	    "(1 to 64 of A-Z a-z 0-9 _ . @ -)");
	ld_strlist(ld, group, "write", default_write, &up->up_write,
	    is_user_entry, "\"anonymous\", \"*\" or a user name "
	    "(1 to 64 of A-Z a-z 0-9 _ . @ -)");
	return (type_ok ? 0 : -1);
}

/* One registry group; 0 when its type parsed. Upstream references are
 * checked once every file is read. */
static int
ld_registry(struct loader *ld, config_setting_t *group,
    struct config_registry *reg)
{
	const char	*s;
	int		 type_ok, value;

	ld_keys_check(ld, group, registry_keys, "registry");
	reg->reg_file = xstrdup(ld_file(ld, group));
	reg->reg_line = config_setting_source_line(group);
	reg->reg_name = ld_name(ld, group, "name", "registry name");
	type_ok = ld_enum(ld, group, "type", repo_types, 1, &value) == 0;
	if (type_ok)
		reg->reg_type = value;
	if ((s = ld_string(group, "description")) != NULL)
		reg->reg_description = xstrdup(s);
	ld_strlist(ld, group, "labels", NULL, &reg->reg_labels, is_label,
	    "a label (1 to 64 of a-z 0-9 _ . -)");
	ld_strlist(ld, group, "upstreams", NULL, &reg->reg_upstreams, NULL,
	    NULL);
	reg->reg_read_only = ld_bool(group, "read_only", 0);
	ld_strlist(ld, group, "read", default_read, &reg->reg_read,
	    is_user_entry, "\"anonymous\", \"*\" or a user name "
	    "(1 to 64 of A-Z a-z 0-9 _ . @ -)");
	ld_strlist(ld, group, "write", default_write, &reg->reg_write,
	    is_user_entry, "\"anonymous\", \"*\" or a user name "
	    "(1 to 64 of A-Z a-z 0-9 _ . @ -)");
	return (type_ok ? 0 : -1);
}

/* Parse one file into ld_files; -1 (error recorded) when unreadable. */
static int
ld_read_file(struct loader *ld, const char *path)
{
	config_t	*cfg;
	FILE		*f;

	ld->ld_paths = xreallocarray(ld->ld_paths, ld->ld_npaths + 1,
	    sizeof(*ld->ld_paths));
	ld->ld_paths[ld->ld_npaths++] = xstrdup(ld_shown(ld, path));
	if ((f = fopen(path, "r")) == NULL) {
		ld_error_at(ld, ld_shown(ld, path), 0, "cannot open: %s",
		    strerror(errno));
		return (-1);
	}
	fclose(f);
	cfg = xmalloc(sizeof(*cfg));
	config_init(cfg);
	config_set_include_dir(cfg, ld->ld_dir);
	if (config_read_file(cfg, path) != CONFIG_TRUE) {
		if (config_error_type(cfg) == CONFIG_ERR_FILE_IO ||
		    config_error_file(cfg) == NULL)
			ld_error_at(ld, ld_shown(ld, path), 0,
			    "cannot read: %s", config_error_text(cfg));
		else
			ld_error_at(ld, ld_shown(ld, config_error_file(cfg)),
			    config_error_line(cfg), "%s",
			    config_error_text(cfg));
		config_destroy(cfg);
		free(cfg);
		return (-1);
	}
	ld->ld_files = xreallocarray(ld->ld_files, ld->ld_nfiles + 1,
	    sizeof(*ld->ld_files));
	ld->ld_files[ld->ld_nfiles++] = cfg;
	return (0);
}

/* depot.d entries worth a look: "*.conf", not hidden. */
static int
dropin_filter(const struct dirent *de)
{
	size_t	 len = strlen(de->d_name);
	size_t	 slen = strlen(CONFIG_DROPIN_SUFFIX);

	return (de->d_name[0] != '.' && len > slen &&
	    strcmp(de->d_name + len - slen, CONFIG_DROPIN_SUFFIX) == 0);
}

/* Name order, byte by byte, whatever the locale. */
static int
dropin_compare(const struct dirent **a, const struct dirent **b)
{
	return (strcmp((*a)->d_name, (*b)->d_name));
}

/* The depot.d folder beside the main file. Caller frees. */
static char *
ld_dropin_dir(struct loader *ld)
{
	char	*dir;

	if (strcmp(ld->ld_dir, "/") == 0)
		xasprintf(&dir, "/%s", CONFIG_DROPIN_DIR);
	else
		xasprintf(&dir, "%s/%s", ld->ld_dir, CONFIG_DROPIN_DIR);
	return (dir);
}

/* Read one depot.d entry when it is a regular file. */
static void
ld_read_dropin(struct loader *ld, const char *dir, const char *name)
{
	struct stat	 st;
	char		*path;

	xasprintf(&path, "%s/%s", dir, name);
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
		ld_read_file(ld, path);
	else
		log_debug("%s: %s: not a regular file, ignored", __func__,
		    path);
	free(path);
}

/* The overlay's stand-in, read once, where its name sorts. */
static void
ld_read_overlay(struct loader *ld)
{
	ld->ld_over_done = 1;
	if (ld->ld_over_path != NULL)
		ld_read_file(ld, ld->ld_over_path);
}

/*
 * Read depot.d/NAME.conf files beside the main file, in name order. With
 * an overlay, its entry is read from the stand-in (or skipped when the
 * stand-in is NULL), whether or not the entry exists.
 */
static void
ld_read_dropins(struct loader *ld)
{
	struct dirent	**names = NULL;
	char		 *dir;
	int		  i, n, cmp;

	dir = ld_dropin_dir(ld);
	if ((n = scandir(dir, &names, dropin_filter, dropin_compare)) == -1) {
		if (errno != ENOENT) {
			ld_error_at(ld, dir, 0, "cannot read directory: %s",
			    strerror(errno));
			free(dir);
			return;
		}
		n = 0;
		names = NULL;
	}
	for (i = 0; i < n; i++) {
		cmp = 1;
		if (ld->ld_over_name != NULL && !ld->ld_over_done &&
		    (cmp = strcmp(ld->ld_over_name, names[i]->d_name)) <= 0)
			ld_read_overlay(ld);
		if (cmp != 0)
			ld_read_dropin(ld, dir, names[i]->d_name);
		free(names[i]);
	}
	if (ld->ld_over_name != NULL && !ld->ld_over_done)
		ld_read_overlay(ld);
	free(names);
	free(dir);
}

/* An overlay names a file config_load would read: NAME.conf, no dot
 * first, no slash. */
static int
ld_overlay_name_ok(const char *name)
{
	size_t	 len = strlen(name);
	size_t	 slen = strlen(CONFIG_DROPIN_SUFFIX);

	return (name[0] != '.' && strchr(name, '/') == NULL && len > slen &&
	    strcmp(name + len - slen, CONFIG_DROPIN_SUFFIX) == 0);
}

/* Check each file's top level and list its objects in definition order. */
static void
ld_collect(struct loader *ld)
{
	config_setting_t	*root, *list, *item;
	struct ld_object	*o;
	size_t			 f;
	int			 i, j;

	for (f = 0; f < ld->ld_nfiles; f++) {
		root = config_root_setting(ld->ld_files[f]);
		ld_keys_check(ld, root, f == 0 ? top_keys : dropin_keys,
		    "the top level (only server, upstreams, registries, "
		    "auth)");
		for (i = 0; i < config_setting_length(root); i++) {
			list = config_setting_get_elem(root, i);
			if (config_setting_type(list) != CONFIG_TYPE_LIST &&
			    config_setting_type(list) != CONFIG_TYPE_ARRAY)
				continue;
			if (strcmp(config_setting_name(list), "upstreams") &&
			    strcmp(config_setting_name(list), "registries"))
				continue;
			for (j = 0; j < config_setting_length(list); j++) {
				item = config_setting_get_elem(list, j);
				if (!config_setting_is_group(item))
					continue;
				ld->ld_objs = xreallocarray(ld->ld_objs,
				    ld->ld_nobjs + 1, sizeof(*ld->ld_objs));
				o = &ld->ld_objs[ld->ld_nobjs++];
				memset(o, 0, sizeof(*o));
				o->o_set = item;
				o->o_registry = strcmp(config_setting_name(
				    list), "registries") == 0;
			}
		}
	}
}

/* Parse every upstream and registry into the config's arrays. */
static void
ld_objects(struct loader *ld)
{
	struct config		*cf = ld->ld_cf;
	struct ld_object	*o;
	size_t			 i, nup = 0, nreg = 0;

	for (i = 0; i < ld->ld_nobjs; i++) {
		if (ld->ld_objs[i].o_registry)
			nreg++;
		else
			nup++;
	}
	cf->cf_upstreams = xcalloc(nup + 1, sizeof(*cf->cf_upstreams));
	cf->cf_registries = xcalloc(nreg + 1, sizeof(*cf->cf_registries));
	for (i = 0; i < ld->ld_nobjs; i++) {
		o = &ld->ld_objs[i];
		if (o->o_registry) {
			o->o_index = cf->cf_nregistries++;
			o->o_type_ok = ld_registry(ld, o->o_set,
			    &cf->cf_registries[o->o_index]) == 0;
		} else {
			o->o_index = cf->cf_nupstreams++;
			o->o_type_ok = ld_upstream(ld, o->o_set,
			    &cf->cf_upstreams[o->o_index]) == 0;
		}
	}
}

static const char *
ld_object_name(struct loader *ld, const struct ld_object *o)
{
	if (o->o_registry)
		return (ld->ld_cf->cf_registries[o->o_index].reg_name);
	return (ld->ld_cf->cf_upstreams[o->o_index].up_key);
}

/* Registry names and upstream keys share one namespace. */
static void
ld_check_names(struct loader *ld)
{
	const struct ld_object	*o, *prev;
	const char		*name;
	size_t			 i, j;

	for (i = 0; i < ld->ld_nobjs; i++) {
		o = &ld->ld_objs[i];
		if ((name = ld_object_name(ld, o)) == NULL)
			continue;
		for (j = 0; j < i; j++) {
			prev = &ld->ld_objs[j];
			if (ld_object_name(ld, prev) == NULL ||
			    strcmp(ld_object_name(ld, prev), name) != 0)
				continue;
			ld_error(ld, o->o_set, "%s '%s' is already defined as "
			    "%s at %s:%d (registry names and upstream keys "
			    "share one namespace)", o->o_registry ?
			    "registry" : "upstream", name, prev->o_registry ?
			    "a registry" : "an upstream",
			    ld_file(ld, prev->o_set),
			    config_setting_source_line(prev->o_set));
			break;
		}
	}
}

/* The first object with that name. */
static struct ld_object *
ld_object_find(struct loader *ld, const char *name)
{
	const char	*s;
	size_t		 i;

	for (i = 0; i < ld->ld_nobjs; i++) {
		s = ld_object_name(ld, &ld->ld_objs[i]);
		if (s != NULL && strcmp(s, name) == 0)
			return (&ld->ld_objs[i]);
	}
	return (NULL);
}

/* A registry's upstreams: defined, upstreams (not registries), of the
 * registry's type, each once. */
static void
ld_check_registry_refs(struct loader *ld, const struct ld_object *o)
{
	struct config_registry	*reg;
	struct config_upstream	*up;
	config_setting_t	*list, *item;
	struct ld_object	*ref;
	struct strlist		 seen;
	char			 q[CONFIG_QUOTE_BUF];
	const char		*key;
	int			 i;

	reg = &ld->ld_cf->cf_registries[o->o_index];
	if ((list = ld_member(o->o_set, "upstreams", KEY_STRLIST)) == NULL)
		return;
	memset(&seen, 0, sizeof(seen));
	for (i = 0; i < config_setting_length(list); i++) {
		item = config_setting_get_elem(list, i);
		key = config_setting_get_string(item);
		quote(key, q, sizeof(q));
		if (strlist_has(&seen, key)) {
			ld_error(ld, item, "upstream '%s' is listed twice", q);
			continue;
		}
		strlist_add(&seen, key);
		if ((ref = ld_object_find(ld, key)) == NULL)
			ld_error(ld, item, "upstream '%s' is not defined", q);
		else if (ref->o_registry)
			ld_error(ld, item, "'%s' is a registry, not an "
			    "upstream", q);
		else {
			up = &ld->ld_cf->cf_upstreams[ref->o_index];
			if (o->o_type_ok && ref->o_type_ok &&
			    up->up_type != reg->reg_type)
				ld_error(ld, item, "upstream '%s' is of type "
				    "%s, but registry '%s' is of type %s", q,
				    config_repo_type_name(up->up_type),
				    reg->reg_name != NULL ? reg->reg_name : "",
				    config_repo_type_name(reg->reg_type));
		}
	}
	strlist_clear(&seen);
}

/* server.mirror_registry names a docker registry or upstream. */
static void
ld_check_mirror(struct loader *ld)
{
	const char		*name = ld->ld_cf->cf_server.srv_mirror_registry;
	struct ld_object	*o;
	char			 q[CONFIG_QUOTE_BUF];
	enum repo_type		 type;

	if (ld->ld_mirror == NULL)
		return;
	quote(name, q, sizeof(q));
	if ((o = ld_object_find(ld, name)) == NULL) {
		ld_error(ld, ld->ld_mirror, "mirror_registry '%s' is not a "
		    "registry or upstream defined anywhere", q);
		return;
	}
	if (!o->o_type_ok)
		return;
	type = o->o_registry ? ld->ld_cf->cf_registries[o->o_index].reg_type :
	    ld->ld_cf->cf_upstreams[o->o_index].up_type;
	if (type != REPO_DOCKER)
		ld_error(ld, ld->ld_mirror, "mirror_registry '%s' is of type "
		    "%s; it must be of type docker", q,
		    config_repo_type_name(type));
}

static void
ld_done(struct loader *ld)
{
	size_t	 i;

	for (i = 0; i < ld->ld_nfiles; i++) {
		config_destroy(ld->ld_files[i]);
		free(ld->ld_files[i]);
	}
	free(ld->ld_files);
	free(ld->ld_objs);
	free(ld->ld_dir);
	for (i = 0; i < ld->ld_npaths; i++)
		free(ld->ld_paths[i]);
	free(ld->ld_paths);
	for (i = 0; i < ld->ld_nerrors; i++)
		free(ld->ld_errors[i].e_text);
	free(ld->ld_errors);
	free(ld->ld_over_shown);
}

struct config *
config_load(const char *path, char **cause)
{
	return (config_load_overlay(path, NULL, NULL, cause));
}

struct config *
config_load_overlay(const char *path, const char *name,
    const char *candidate_path, char **cause)
{
	struct loader	 ld;
	struct config	*cf;
	char		*slash, *dir;
	size_t		 i;

	*cause = NULL;
	if (name != NULL && !ld_overlay_name_ok(name)) {
		xasprintf(cause, "%s: not a name read from %s (NAME%s)", name,
		    CONFIG_DROPIN_DIR, CONFIG_DROPIN_SUFFIX);
		return (NULL);
	}
	memset(&ld, 0, sizeof(ld));
	cf = ld.ld_cf = xcalloc(1, sizeof(*cf));
	cf->cf_path = path_absolute(path);
	ld.ld_dir = xstrdup(cf->cf_path);
	slash = strrchr(ld.ld_dir, '/');
	slash[slash == ld.ld_dir ? 1 : 0] = '\0';
	if (name != NULL) {
		ld.ld_over_name = name;
		ld.ld_over_path = candidate_path;
		dir = ld_dropin_dir(&ld);
		xasprintf(&ld.ld_over_shown, "%s/%s", dir, name);
		free(dir);
	}

	if (ld_read_file(&ld, path) == -1)
		goto fail;
	ld_read_dropins(&ld);
	ld_collect(&ld);
	ld_server(&ld, ld_member(config_root_setting(ld.ld_files[0]),
	    "server", KEY_GROUP));
	if (ld_member(config_root_setting(ld.ld_files[0]), "auth",
	    KEY_GROUP) != NULL)
		ld_access(&ld, ld_member(config_root_setting(ld.ld_files[0]),
		    "auth", KEY_GROUP));
	ld_objects(&ld);
	ld_check_names(&ld);
	for (i = 0; i < ld.ld_nobjs; i++)
		if (ld.ld_objs[i].o_registry)
			ld_check_registry_refs(&ld, &ld.ld_objs[i]);
	ld_check_mirror(&ld);
	if (ld.ld_nerrors > 0)
		goto fail;
	ld_done(&ld);
	return (cf);

fail:
	*cause = ld_errors_join(&ld);
	ld_done(&ld);
	config_free(cf);
	return (NULL);
}

static void
secret_free(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

static void
upstream_clear(struct config_upstream *up)
{
	free(up->up_key);
	free(up->up_url);
	free(up->up_auth.cr_username);
	secret_free(up->up_auth.cr_password);
	free(up->up_auth.cr_access_key_id);
	secret_free(up->up_auth.cr_secret_access_key);
	secret_free(up->up_auth.cr_session_token);
	ecr_location_clear(&up->up_ecr);
	free(up->up_registry_url);
	free(up->up_api_url);
	free(up->up_sts_url);
	free(up->up_imds_url);
	free(up->up_ca_file);
	strlist_clear(&up->up_token_realms);
	strlist_clear(&up->up_read);
	strlist_clear(&up->up_write);
	free(up->up_file);
}

static void
registry_clear(struct config_registry *reg)
{
	free(reg->reg_name);
	free(reg->reg_description);
	strlist_clear(&reg->reg_labels);
	strlist_clear(&reg->reg_upstreams);
	strlist_clear(&reg->reg_read);
	strlist_clear(&reg->reg_write);
	free(reg->reg_file);
}

void
config_free(struct config *cf)
{
	struct config_server	*srv;
	size_t			 i;

	if (cf == NULL)
		return;
	srv = &cf->cf_server;
	for (i = 0; i < srv->srv_nlisten; i++) {
		free(srv->srv_listen[i].l_host);
		free(srv->srv_listen[i].l_port);
		free(srv->srv_listen[i].l_text);
	}
	free(srv->srv_listen);
	free(srv->srv_user);
	free(srv->srv_group);
	free(srv->srv_pidfile);
	free(srv->srv_data_dir);
	free(srv->srv_public_url);
	strlist_clear(&srv->srv_trusted_proxies);
	strlist_clear(&srv->srv_metrics_read);
	free(srv->srv_mirror_registry);
	free(srv->srv_ui_dir);
	free(srv->srv_log.log_facility);
	free(srv->srv_log.log_access_log);
	for (i = 0; i < cf->cf_nupstreams; i++)
		upstream_clear(&cf->cf_upstreams[i]);
	free(cf->cf_upstreams);
	for (i = 0; i < cf->cf_nregistries; i++)
		registry_clear(&cf->cf_registries[i]);
	free(cf->cf_registries);
	free(cf->cf_access.acc_users_file);
	free(cf->cf_access.acc_token_key_file);
	free(cf->cf_access.acc_token_issuer);
	free(cf->cf_access.acc_token_cert_file);
	free(cf->cf_path);
	free(cf);
}

struct config_registry *
config_registry_find(struct config *cf, const char *name)
{
	size_t	 i;

	if (cf == NULL || name == NULL)
		return (NULL);
	for (i = 0; i < cf->cf_nregistries; i++)
		if (cf->cf_registries[i].reg_name != NULL &&
		    strcmp(cf->cf_registries[i].reg_name, name) == 0)
			return (&cf->cf_registries[i]);
	return (NULL);
}

struct config_upstream *
config_upstream_find(struct config *cf, const char *key)
{
	size_t	 i;

	if (cf == NULL || key == NULL)
		return (NULL);
	for (i = 0; i < cf->cf_nupstreams; i++)
		if (cf->cf_upstreams[i].up_key != NULL &&
		    strcmp(cf->cf_upstreams[i].up_key, key) == 0)
			return (&cf->cf_upstreams[i]);
	return (NULL);
}

int
config_name_find(struct config *cf, const char *name,
    struct config_registry **regp, struct config_upstream **upp)
{
	struct config_registry	*reg = NULL;
	struct config_upstream	*up = NULL;
	size_t			 i, len;

	if (regp != NULL)
		*regp = NULL;
	if (upp != NULL)
		*upp = NULL;
	if (cf == NULL || name == NULL)
		return (0);
	len = strcspn(name, "/");
	for (i = 0; i < cf->cf_nregistries && reg == NULL; i++)
		if (cf->cf_registries[i].reg_name != NULL &&
		    strlen(cf->cf_registries[i].reg_name) == len &&
		    strncmp(cf->cf_registries[i].reg_name, name, len) == 0)
			reg = &cf->cf_registries[i];
	for (i = 0; i < cf->cf_nupstreams && reg == NULL && up == NULL; i++)
		if (cf->cf_upstreams[i].up_key != NULL &&
		    strlen(cf->cf_upstreams[i].up_key) == len &&
		    strncmp(cf->cf_upstreams[i].up_key, name, len) == 0)
			up = &cf->cf_upstreams[i];
	if (regp != NULL)
		*regp = reg;
	if (upp != NULL)
		*upp = up;
	return (reg != NULL || up != NULL);
}

static const char *
enum_name(const struct enum_name *table, int value)
{
	size_t	 i;

	for (i = 0; table[i].e_name != NULL; i++)
		if (table[i].e_value == value)
			return (table[i].e_name);
	return ("unknown");
}

const char *
config_repo_type_name(enum repo_type type)
{
	return (enum_name(repo_types, type));
}

const char *
config_source_name(enum upstream_source source)
{
	return (enum_name(sources, source));
}

const char *
config_auth_type_name(enum auth_type type)
{
	return (enum_name(auth_types, type));
}

/*
 * The name of the i-th key the configuration accepts, counting through
 * every group (a name may come more than once), or NULL past the last.
 */
const char *
config_key_at(size_t i)
{
	const struct key_spec	*k;
	size_t			 t;

	for (t = 0; t < sizeof(all_keys) / sizeof(all_keys[0]); t++)
		for (k = all_keys[t]; k->k_name != NULL; k++)
			if (i-- == 0)
				return (k->k_name);
	return (NULL);
}
