/*
 * ctl_file.c: the files depotctl manages. One file per object in depot.d
 * beside depot.conf (registry-NAME.conf, upstream-KEY.conf), rendered by
 * libconfig's writer, checked with the whole configuration as depotd
 * would load it (config_load_overlay) and only then renamed into place;
 * secrets read from standard input in secrets/upstream-KEY; and the lock
 * that makes concurrent depotctl runs take turns. depot.conf itself is
 * never written. Also what the registry and upstream commands share:
 * their plain options, finding an object, saying where it is defined.
 */
#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "lib/log.h"
#include "lib/ref.h"
#include "lib/util.h"
#include "lib/xmalloc.h"

#define CTL_DROPIN_DIR		"depot.d"
#define CTL_SECRET_DIR		"secrets"
#define CTL_LOCK_FILE		".depotctl.lock"	/* ignored by depotd */
#define CTL_LOCK_WAIT_MS	30000
#define CTL_LOCK_PAUSE_US	20000
#define CTL_FILE_HEADER		"# Written by depotctl(8). Change it with " \
				"depotctl, then run depotctl reload.\n"

static mode_t	 ctl_file_mode(struct ctl *);
static char	*ctl_object_base(enum ctl_kind, const char *);
static const char *ctl_kind_article(enum ctl_kind);
static int	 ctl_object_exists(struct config *, enum ctl_kind,
		    const char *);
static void	 ctl_sync_folder(const char *);
static int	 ctl_write_temp(struct ctl *, config_t *, const char *,
		    char **);
static char	*ctl_secret_backup(struct ctl *, const char *);

void
ctl_setup(struct ctl *ctl, const char *path)
{
	memset(ctl, 0, sizeof(*ctl));
	ctl->ctl_path = xstrdup(path);
	ctl->ctl_lock_fd = -1;
}

void
ctl_cleanup(struct ctl *ctl)
{
	ctl_unlock(ctl);
	config_free(ctl->ctl_cf);
	free(ctl->ctl_path);
	free(ctl->ctl_conf);
	free(ctl->ctl_confdir);
	free(ctl->ctl_dropdir);
	memset(ctl, 0, sizeof(*ctl));
	ctl->ctl_lock_fd = -1;
}

/*
 * Resolve the configuration's path as depotd does (realpath), and the
 * folders beside it. 0, or CTL_REFUSED after saying why.
 */
int
ctl_paths(struct ctl *ctl)
{
	char	 resolved[PATH_MAX], *slash;

	if (ctl->ctl_conf != NULL)
		return (0);
	if (realpath(ctl->ctl_path, resolved) == NULL)
		return (ctl_refuse("%s: %s", ctl->ctl_path, strerror(errno)));
	ctl->ctl_conf = xstrdup(resolved);
	ctl->ctl_confdir = xstrdup(resolved);
	slash = strrchr(ctl->ctl_confdir, '/');
	slash[slash == ctl->ctl_confdir ? 1 : 0] = '\0';
	xasprintf(&ctl->ctl_dropdir, "%s%s%s", ctl->ctl_confdir,
	    strcmp(ctl->ctl_confdir, "/") == 0 ? "" : "/", CTL_DROPIN_DIR);
	return (0);
}

/* The configuration as depotd loads it; NULL after saying why. */
struct config *
ctl_config(struct ctl *ctl)
{
	char	*cause;

	if (ctl->ctl_cf != NULL)
		return (ctl->ctl_cf);
	if (ctl_paths(ctl) != 0)
		return (NULL);
	if ((ctl->ctl_cf = config_load(ctl->ctl_conf, &cause)) == NULL) {
		ctl_refuse("the configuration has errors; fix them first "
		    "(depotd -t -c %s checks it):\n%s", ctl->ctl_conf, cause);
		free(cause);
	}
	return (ctl->ctl_cf);
}

/*
 * Take the depot.d lock (created with depot.d when missing), so that
 * concurrent runs check and change the files one after the other. Waits
 * at most CTL_LOCK_WAIT_MS. 0, or CTL_REFUSED after saying why.
 */
int
ctl_lock(struct ctl *ctl)
{
	char		*path;
	long long	 deadline;
	int		 fd;

	if (ctl_paths(ctl) != 0)
		return (CTL_REFUSED);
	if (ctl->ctl_lock_fd != -1)
		return (0);
	if (mkdir(ctl->ctl_dropdir, 0755) == -1 && errno != EEXIST)
		return (ctl_refuse("cannot create %s: %s", ctl->ctl_dropdir,
		    strerror(errno)));
	xasprintf(&path, "%s/%s", ctl->ctl_dropdir, CTL_LOCK_FILE);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1) {
		ctl_refuse("cannot open %s: %s", path, strerror(errno));
		free(path);
		return (CTL_REFUSED);
	}
	deadline = now_ms() + CTL_LOCK_WAIT_MS;
	while (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if ((errno != EWOULDBLOCK && errno != EINTR) ||
		    now_ms() > deadline) {
			ctl_refuse("cannot lock %s: %s", path,
			    errno == EWOULDBLOCK ? "another depotctl holds it" :
			    strerror(errno));
			close(fd);
			free(path);
			return (CTL_REFUSED);
		}
		usleep(CTL_LOCK_PAUSE_US);
	}
	free(path);
	ctl->ctl_lock_fd = fd;
	return (0);
}

void
ctl_unlock(struct ctl *ctl)
{
	if (ctl->ctl_lock_fd == -1)
		return;
	close(ctl->ctl_lock_fd);
	ctl->ctl_lock_fd = -1;
}

const char *
ctl_kind_name(enum ctl_kind kind)
{
	return (kind == CTL_REGISTRY ? "registry" : "upstream");
}

/* The kind's name with its article: "a registry", "an upstream". */
static const char *
ctl_kind_article(enum ctl_kind kind)
{
	return (kind == CTL_REGISTRY ? "a registry" : "an upstream");
}

/* "registry-NAME.conf". Caller frees. */
static char *
ctl_object_base(enum ctl_kind kind, const char *name)
{
	char	*base;

	xasprintf(&base, "%s-%s.conf", ctl_kind_name(kind), name);
	return (base);
}

/* depot.d/<kind>-<name>.conf. Caller frees. */
char *
ctl_object_path(struct ctl *ctl, enum ctl_kind kind, const char *name)
{
	char	*path;

	if (ctl_paths(ctl) != 0)
		fatalx("%s: no configuration path", __func__);
	xasprintf(&path, "%s/%s-%s.conf", ctl->ctl_dropdir,
	    ctl_kind_name(kind), name);
	return (path);
}

/* The name rule, quoted in the refusal. 0 or CTL_REFUSED. */
int
ctl_name_check(const char *name, const char *what)
{
	char	*cause;

	if (ref_name_valid(name, &cause) == 0)
		return (0);
	free(cause);
	return (ctl_refuse("invalid %s '%.80s': %s", what, name,
	    REF_NAME_RULE));
}

/*
 * A new object's name must be free in the shared namespace, and its file
 * must not exist. 0 or CTL_REFUSED.
 */
int
ctl_name_free(struct ctl *ctl, enum ctl_kind kind, const char *name)
{
	struct config_registry	*reg;
	struct config_upstream	*up;
	struct stat		 st;
	char			*path;
	int			 rv = 0;

	reg = config_registry_find(ctl->ctl_cf, name);
	up = config_upstream_find(ctl->ctl_cf, name);
	if (reg != NULL)
		return (ctl_refuse("'%s' is already defined as a registry at "
		    "%s:%d (registry names and upstream keys share one "
		    "namespace)", name, reg->reg_file, reg->reg_line));
	if (up != NULL)
		return (ctl_refuse("'%s' is already defined as an upstream at "
		    "%s:%d (registry names and upstream keys share one "
		    "namespace)", name, up->up_file, up->up_line));
	path = ctl_object_path(ctl, kind, name);
	if (lstat(path, &st) == 0)
		rv = ctl_refuse("%s already exists but defines no %s '%s'; "
		    "move it away first", path, ctl_kind_name(kind), name);
	free(path);
	return (rv);
}

static int
ctl_object_exists(struct config *cf, enum ctl_kind kind, const char *name)
{
	if (kind == CTL_REGISTRY)
		return (config_registry_find(cf, name) != NULL);
	return (config_upstream_find(cf, name) != NULL);
}

/*
 * Is name a valid name, defined as an object of this kind? Loads the
 * configuration. 0, or CTL_REFUSED after saying why not.
 */
int
ctl_object_defined(struct ctl *ctl, enum ctl_kind kind, const char *name)
{
	enum ctl_kind	 other;

	other = kind == CTL_REGISTRY ? CTL_UPSTREAM : CTL_REGISTRY;
	if (ctl_name_check(name, kind == CTL_REGISTRY ? "registry name" :
	    "upstream key") != 0 || ctl_config(ctl) == NULL)
		return (CTL_REFUSED);
	if (ctl_object_exists(ctl->ctl_cf, kind, name))
		return (0);
	if (ctl_object_exists(ctl->ctl_cf, other, name))
		return (ctl_refuse("'%s' is %s, not %s (see depotctl %s)", name,
		    ctl_kind_article(other), ctl_kind_article(kind),
		    ctl_kind_name(other)));
	return (ctl_refuse("%s '%s' is not defined", ctl_kind_name(kind),
	    name));
}

/* Was the object defined in its own depot.d/<kind>-<name>.conf? */
int
ctl_is_managed(struct ctl *ctl, enum ctl_kind kind, const char *name,
    const char *file)
{
	char	*path;
	int	 managed;

	path = ctl_object_path(ctl, kind, name);
	managed = file != NULL && strcmp(file, path) == 0;
	free(path);
	return (managed);
}

/*
 * depotctl changes only the objects it wrote, each in its own
 * depot.d/<kind>-<name>.conf. 0, or CTL_REFUSED saying where to edit.
 */
int
ctl_managed(struct ctl *ctl, enum ctl_kind kind, const char *name,
    const char *file, int line)
{
	if (ctl_is_managed(ctl, kind, name, file))
		return (0);
	return (ctl_refuse("%s '%s' is defined by hand at %s:%d: edit it "
	    "there, then run depotctl reload (depotctl changes only the "
	    "files it wrote in %s)", ctl_kind_name(kind), name,
	    file != NULL ? file : "?", line, ctl->ctl_dropdir));
}

/* show's "defined in" line, its label padded to width. */
void
ctl_print_defined(struct ctl *ctl, enum ctl_kind kind, const char *name,
    const char *file, int line, int width)
{
	char	*where;

	where = ctl_where(ctl, file, line);
	printf("%-*s%s%s\n", width, "defined in", where, ctl_is_managed(ctl,
	    kind, name, file) ? "" : " (by hand: depotctl does not change it)");
	free(where);
}

/* show --json's file, line and managed members. */
void
ctl_json_defined(struct ctl *ctl, json_t *obj, enum ctl_kind kind,
    const char *name, const char *file, int line)
{
	json_object_set_new(obj, "file", ctl_json_text(file));
	json_object_set_new(obj, "line", json_integer(line));
	json_object_set_new(obj, "managed", json_boolean(ctl_is_managed(ctl,
	    kind, name, file)));
}

/* A new file's one object: the group to fill in. */
config_setting_t *
ctl_object_new(config_t *cfg, enum ctl_kind kind)
{
	config_setting_t	*list;

	list = config_setting_add(config_root_setting(cfg),
	    kind == CTL_REGISTRY ? "registries" : "upstreams",
	    CONFIG_TYPE_LIST);
	if (list == NULL)
		fatalx("%s: config_setting_add", __func__);
	return (config_setting_add(list, NULL, CONFIG_TYPE_GROUP));
}

/*
 * Parse file into cfg (initialized here; the caller destroys it) and
 * find the object's group. NULL after saying why.
 */
config_setting_t *
ctl_object_read(struct ctl *ctl, config_t *cfg, enum ctl_kind kind,
    const char *name, const char *file)
{
	config_setting_t	*list, *group;
	const char		*s;
	int			 i;

	config_init(cfg);
	config_set_include_dir(cfg, ctl->ctl_confdir);
	if (config_read_file(cfg, file) != CONFIG_TRUE) {
		ctl_refuse("cannot read %s: %s", file, config_error_text(cfg));
		return (NULL);
	}
	list = config_setting_get_member(config_root_setting(cfg),
	    kind == CTL_REGISTRY ? "registries" : "upstreams");
	for (i = 0; list != NULL && i < config_setting_length(list); i++) {
		group = config_setting_get_elem(list, i);
		if (config_setting_lookup_string(group, kind == CTL_REGISTRY ?
		    "name" : "key", &s) == CONFIG_TRUE && strcmp(s, name) == 0)
			return (group);
	}
	ctl_refuse("%s '%s' not found in %s", ctl_kind_name(kind), name, file);
	return (NULL);
}

/* Set a string member; NULL or "" removes it. */
void
ctl_set_string(config_setting_t *group, const char *key, const char *value)
{
	config_setting_t	*set;

	if (config_setting_get_member(group, key) != NULL)
		config_setting_remove(group, key);
	if (value == NULL || *value == '\0')
		return;
	if ((set = config_setting_add(group, key, CONFIG_TYPE_STRING)) == NULL ||
	    config_setting_set_string(set, value) != CONFIG_TRUE)
		fatalx("%s: cannot set %s", __func__, key);
}

/* Set a list of strings member; an empty list removes it. */
void
ctl_set_strlist(config_setting_t *group, const char *key,
    const struct strlist *sl)
{
	config_setting_t	*set;
	size_t			 i;

	if (config_setting_get_member(group, key) != NULL)
		config_setting_remove(group, key);
	if (sl->sl_count == 0)
		return;
	if ((set = config_setting_add(group, key, CONFIG_TYPE_ARRAY)) == NULL)
		fatalx("%s: cannot add %s", __func__, key);
	for (i = 0; i < sl->sl_count; i++)
		if (config_setting_set_string_elem(set, -1,
		    sl->sl_items[i]) == NULL)
			fatalx("%s: cannot add to %s", __func__, key);
}

/* New files get depot.conf's permissions, at most 0644. */
static mode_t
ctl_file_mode(struct ctl *ctl)
{
	struct stat	 st;

	if (stat(ctl->ctl_conf, &st) == -1)
		return (0644);
	return (st.st_mode & 0644);
}

/*
 * Write cfg to a new hidden file in depot.d (depotd reads no hidden
 * file), flushed to disk. 0 with *tmp (caller frees), or CTL_REFUSED.
 */
static int
ctl_write_temp(struct ctl *ctl, config_t *cfg, const char *base, char **tmp)
{
	FILE	*f = NULL;
	int	 fd, saved_errno;

	xasprintf(tmp, "%s/.%s.XXXXXX", ctl->ctl_dropdir, base);
	if ((fd = mkstemp(*tmp)) == -1) {
		ctl_refuse("cannot create a file in %s: %s", ctl->ctl_dropdir,
		    strerror(errno));
		free(*tmp);
		*tmp = NULL;
		return (CTL_REFUSED);
	}
	if ((f = fdopen(fd, "w")) == NULL)
		goto fail;
	fputs(CTL_FILE_HEADER, f);
	config_write(cfg, f);
	if (fflush(f) == EOF || fchmod(fd, ctl_file_mode(ctl)) == -1 ||
	    fsync(fd) == -1)
		goto fail;
	if (fclose(f) == EOF) {
		f = NULL;
		fd = -1;
		goto fail;
	}
	return (0);

fail:
	saved_errno = errno;
	if (f != NULL)
		(void)fclose(f);
	else if (fd != -1)
		close(fd);
	ctl_refuse("cannot write %s: %s", *tmp, strerror(saved_errno));
	unlink(*tmp);
	free(*tmp);
	*tmp = NULL;
	return (CTL_REFUSED);
}

/* Flush the folder of a file just renamed or removed; only warn on error. */
static void
ctl_sync_folder(const char *path)
{
	if (fsync_parent(path) == -1)
		fprintf(stderr, "depotctl: warning: %s: cannot sync its "
		    "folder: %s\n", path, strerror(errno));
}

/*
 * Put cfg in place as depot.d/<kind>-<name>.conf: write a hidden temp
 * file, load the whole configuration as if it were in place, and rename
 * it only when depotd would accept it. 0 or CTL_REFUSED; nothing is left
 * behind on refusal. The caller holds the lock.
 */
int
ctl_commit(struct ctl *ctl, enum ctl_kind kind, const char *name,
    config_t *cfg)
{
	struct config	*cf;
	char		*base, *tmp, *dest, *cause;
	int		 rv = CTL_REFUSED;

	base = ctl_object_base(kind, name);
	dest = ctl_object_path(ctl, kind, name);
	if (ctl_write_temp(ctl, cfg, base, &tmp) != 0)
		goto fail;
	if ((cf = config_load_overlay(ctl->ctl_conf, base, tmp,
	    &cause)) == NULL) {
		unlink(tmp);
		ctl_refuse("depotd would refuse this change; nothing was "
		    "changed:\n%s", cause);
		free(cause);
		goto fail;
	}
	config_free(cf);
	if (rename(tmp, dest) == -1) {
		ctl_refuse("cannot rename %s to %s: %s", tmp, dest,
		    strerror(errno));
		unlink(tmp);
		goto fail;
	}
	ctl_sync_folder(dest);
	rv = CTL_OK;

fail:
	free(tmp);
	free(dest);
	free(base);
	return (rv);
}

/*
 * Remove depot.d/<kind>-<name>.conf once the configuration without it
 * loads. 0 or CTL_REFUSED. The caller holds the lock.
 */
int
ctl_remove(struct ctl *ctl, enum ctl_kind kind, const char *name)
{
	struct config	*cf;
	char		*base, *dest, *cause;
	int		 rv = CTL_REFUSED;

	base = ctl_object_base(kind, name);
	dest = ctl_object_path(ctl, kind, name);
	if ((cf = config_load_overlay(ctl->ctl_conf, base, NULL,
	    &cause)) == NULL) {
		ctl_refuse("depotd would refuse the configuration without "
		    "%s; nothing was changed:\n%s", dest, cause);
		free(cause);
		goto fail;
	}
	config_free(cf);
	if (unlink(dest) == -1) {
		ctl_refuse("cannot remove %s: %s", dest, strerror(errno));
		goto fail;
	}
	ctl_sync_folder(dest);
	rv = CTL_OK;

fail:
	free(dest);
	free(base);
	return (rv);
}

/* ctl_commit of a new object, then say where it went. 0 or CTL_REFUSED. */
int
ctl_create(struct ctl *ctl, enum ctl_kind kind, const char *name,
    config_t *cfg)
{
	char	*path;

	if (ctl_commit(ctl, kind, name, cfg) != CTL_OK)
		return (CTL_REFUSED);
	path = ctl_object_path(ctl, kind, name);
	printf("%s '%s' created in %s\n", ctl_kind_name(kind), name, path);
	free(path);
	return (CTL_OK);
}

/* ctl_remove, then say which file went. 0 or CTL_REFUSED. */
int
ctl_delete(struct ctl *ctl, enum ctl_kind kind, const char *name)
{
	char	*path;

	if (ctl_remove(ctl, kind, name) != CTL_OK)
		return (CTL_REFUSED);
	path = ctl_object_path(ctl, kind, name);
	printf("%s '%s' deleted (%s removed)\n", ctl_kind_name(kind), name,
	    path);
	free(path);
	return (CTL_OK);
}

/* <confdir>/secrets/upstream-KEY. Caller frees. */
char *
ctl_secret_path(struct ctl *ctl, const char *key)
{
	char	*path;

	if (ctl_paths(ctl) != 0)
		fatalx("%s: no configuration path", __func__);
	xasprintf(&path, "%s%s%s/upstream-%s", ctl->ctl_confdir,
	    strcmp(ctl->ctl_confdir, "/") == 0 ? "" : "/", CTL_SECRET_DIR,
	    key);
	return (path);
}

/* Where the secret file a store replaced waits. Caller frees. */
static char *
ctl_secret_backup(struct ctl *ctl, const char *key)
{
	char	*path, *backup, *slash;

	path = ctl_secret_path(ctl, key);
	slash = strrchr(path, '/');
	*slash = '\0';
	xasprintf(&backup, "%s/.upstream-%s.previous", path, key);
	free(path);
	return (backup);
}

/*
 * Store a secret in <confdir>/secrets/upstream-KEY (folder 0700, file
 * 0600), written to a temp file, flushed and renamed. A file already
 * there is kept aside until ctl_secret_settle. 0 with *pathp (caller
 * frees), or CTL_REFUSED. The secret never appears in a message.
 */
int
ctl_secret_store(struct ctl *ctl, const char *key, const char *secret,
    char **pathp)
{
	char	*path, *dir, *tmp, *backup;
	int	 fd, rv = CTL_REFUSED;

	path = ctl_secret_path(ctl, key);
	backup = ctl_secret_backup(ctl, key);
	dir = xstrdup(path);
	*strrchr(dir, '/') = '\0';
	xasprintf(&tmp, "%s/.upstream-%s.XXXXXX", dir, key);
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		ctl_refuse("cannot create %s: %s", dir, strerror(errno));
		goto fail;
	}
	if ((fd = mkstemp(tmp)) == -1) {
		ctl_refuse("cannot create a file in %s: %s", dir,
		    strerror(errno));
		goto fail;
	}
	if (fchmod(fd, 0600) == -1 ||
	    write_all(fd, secret, strlen(secret)) == -1 || fsync(fd) == -1) {
		ctl_refuse("cannot write %s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		goto fail;
	}
	close(fd);
	(void)unlink(backup);
	if ((rename(path, backup) == -1 && errno != ENOENT) ||
	    rename(tmp, path) == -1) {
		ctl_refuse("cannot put %s in place: %s", path,
		    strerror(errno));
		(void)rename(backup, path);
		unlink(tmp);
		goto fail;
	}
	(void)fsync_parent(path);
	*pathp = path;
	path = NULL;
	rv = CTL_OK;

fail:
	free(path);
	free(dir);
	free(tmp);
	free(backup);
	return (rv);
}

/* After ctl_secret_store: keep the new secret, or put the old one back. */
void
ctl_secret_settle(struct ctl *ctl, const char *key, int keep)
{
	char	*path, *backup;

	path = ctl_secret_path(ctl, key);
	backup = ctl_secret_backup(ctl, key);
	if (keep)
		(void)unlink(backup);
	else if (rename(backup, path) == -1)
		(void)unlink(path);
	(void)fsync_parent(path);
	free(path);
	free(backup);
}

/*
 * The options of list and show: --json (and --help), then nargs
 * operands. 1 with --json, else 0.
 */
int
ctl_args_json(int argc, char **argv, const struct ctl_command *cmd,
    int nargs)
{
	static const struct option	 opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int				 json = 0;

	while (ctl_getopt(argc, argv, opts, cmd) != -1)
		json = 1;
	ctl_args_done(argc, argv, cmd, nargs, nargs);
	return (json);
}

/* A command with no option but --help: between min and max operands. */
void
ctl_args_only(int argc, char **argv, const struct ctl_command *cmd, int min,
    int max)
{
	static const struct option	 opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};

	while (ctl_getopt(argc, argv, opts, cmd) != -1)
		;
	ctl_args_done(argc, argv, cmd, min, max);
}
