/*
 * ctl.h: depotctl, the administration command. The state one run shares,
 * and what each ctl_*.c file offers the others: depotctl.c (command line),
 * ctl_file.c (the depot.d files), ctl_output.c (tables, JSON, places),
 * ctl_registry.c, ctl_upstream.c, ctl_client.c (setup-client) and
 * ctl_daemon.c (the running depotd: reload, the index), ctl_gc.c
 * (garbage collection) and ctl_fsck.c (the check of the store).
 */
#ifndef DEPOT_CTL_H
#define DEPOT_CTL_H

#include <sys/types.h>

#include <stddef.h>

#include <jansson.h>
#include <libconfig.h>

#include "conf/config.h"
#include "depot.h"

/* Exit status. */
#define CTL_OK		0
#define CTL_REFUSED	1
#define CTL_USAGE	2

enum ctl_kind {
	CTL_REGISTRY,
	CTL_UPSTREAM
};

struct ctl {
	char		*ctl_path;	/* -c FILE, as given */
	char		*ctl_conf;	/* that file, absolute, resolved */
	char		*ctl_confdir;	/* the folder that holds it */
	char		*ctl_dropdir;	/* <confdir>/depot.d */
	struct config	*ctl_cf;	/* loaded by ctl_config */
	int		 ctl_lock_fd;	/* depot.d lock, -1 when not held */
};

struct ctl_command;
struct option;

typedef int	(*ctl_run_fn)(struct ctl *, const struct ctl_command *, int,
		    char **);

/* One command: depotctl [-c FILE] GROUP NAME ARGS... */
struct ctl_command {
	const char	*cmd_group;	/* "registry", "upstream" or NULL */
	const char	*cmd_name;
	const char	*cmd_args;	/* usage after the command words */
	const char	*cmd_summary;	/* one line */
	const char	*cmd_help;	/* options, one per line, or NULL */
	ctl_run_fn	 cmd_run;
};

/* depotctl.c */
int		 ctl_refuse(const char *, ...) PRINTFLIKE(1, 2);
__dead void	 ctl_usage(const struct ctl_command *, const char *, ...)
		    PRINTFLIKE(2, 3);
int		 ctl_getopt(int, char **, const struct option *,
		    const struct ctl_command *);
void		 ctl_args_done(int, char **, const struct ctl_command *,
		    int, int);

/* ctl_file.c */
void		 ctl_setup(struct ctl *, const char *);
void		 ctl_cleanup(struct ctl *);
int		 ctl_paths(struct ctl *);
struct config	*ctl_config(struct ctl *);
int		 ctl_lock(struct ctl *);
void		 ctl_unlock(struct ctl *);
const char	*ctl_kind_name(enum ctl_kind);
char		*ctl_object_path(struct ctl *, enum ctl_kind, const char *);
int		 ctl_name_check(const char *, const char *);
int		 ctl_name_free(struct ctl *, enum ctl_kind, const char *);
int		 ctl_object_defined(struct ctl *, enum ctl_kind, const char *);
int		 ctl_is_managed(struct ctl *, enum ctl_kind, const char *,
		    const char *);
int		 ctl_managed(struct ctl *, enum ctl_kind, const char *,
		    const char *, int);
void		 ctl_print_defined(struct ctl *, enum ctl_kind, const char *,
		    const char *, int, int);
void		 ctl_json_defined(struct ctl *, json_t *, enum ctl_kind,
		    const char *, const char *, int);
config_setting_t *ctl_object_new(config_t *, enum ctl_kind);
config_setting_t *ctl_object_read(struct ctl *, config_t *, enum ctl_kind,
		    const char *, const char *);
void		 ctl_set_string(config_setting_t *, const char *,
		    const char *);
void		 ctl_set_strlist(config_setting_t *, const char *,
		    const struct strlist *);
int		 ctl_commit(struct ctl *, enum ctl_kind, const char *,
		    config_t *);
int		 ctl_remove(struct ctl *, enum ctl_kind, const char *);
int		 ctl_create(struct ctl *, enum ctl_kind, const char *,
		    config_t *);
int		 ctl_delete(struct ctl *, enum ctl_kind, const char *);
char		*ctl_secret_path(struct ctl *, const char *);
int		 ctl_secret_store(struct ctl *, const char *, const char *,
		    char **);
void		 ctl_secret_settle(struct ctl *, const char *, int);
int		 ctl_args_json(int, char **, const struct ctl_command *, int);
void		 ctl_args_only(int, char **, const struct ctl_command *, int,
		    int);

/* ctl_output.c */
char		*ctl_where(struct ctl *, const char *, int);
char		*ctl_join(char *const *, size_t, const char *);
void		 ctl_list_add(struct strlist *, const char *);
void		 ctl_list_clear(struct strlist *);
void		 ctl_table_row(char ***, size_t *, size_t, ...);
void		 ctl_table_print(char **, size_t, size_t);
int		 ctl_json_print(json_t *);
json_t		*ctl_json_text(const char *);
json_t		*ctl_json_strlist(const struct strlist *);

/* ctl_upstream.c */
json_t		*ctl_upstream_summary(struct config_upstream *);

/* ctl_daemon.c */
struct index;
int		 ctl_daemon_pid(const char *, pid_t *);
struct index	*ctl_index_open(const char *, int);
int		 ctl_purge(struct ctl *, const char *, int *);

/* The commands. */
int	ctl_registry_create(struct ctl *, const struct ctl_command *, int,
	    char **);
int	ctl_registry_list(struct ctl *, const struct ctl_command *, int,
	    char **);
int	ctl_registry_show(struct ctl *, const struct ctl_command *, int,
	    char **);
int	ctl_registry_delete(struct ctl *, const struct ctl_command *, int,
	    char **);
int	ctl_registry_update(struct ctl *, const struct ctl_command *, int,
	    char **);
int	ctl_registry_set_upstreams(struct ctl *, const struct ctl_command *,
	    int, char **);
int	ctl_upstream_create(struct ctl *, const struct ctl_command *, int,
	    char **);
int	ctl_upstream_list(struct ctl *, const struct ctl_command *, int,
	    char **);
int	ctl_upstream_show(struct ctl *, const struct ctl_command *, int,
	    char **);
int	ctl_upstream_delete(struct ctl *, const struct ctl_command *, int,
	    char **);
int	ctl_setup_client(struct ctl *, const struct ctl_command *, int,
	    char **);
int	ctl_reload(struct ctl *, const struct ctl_command *, int, char **);
int	ctl_gc(struct ctl *, const struct ctl_command *, int, char **);
int	ctl_fsck(struct ctl *, const struct ctl_command *, int, char **);

#endif /* DEPOT_CTL_H */
