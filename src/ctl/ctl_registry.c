/*
 * ctl_registry.c: depotctl registry create, list, show, delete, update
 * and set-upstreams. Changes are checked here for the usual mistakes
 * (with messages about the command line), then by ctl_commit against the
 * whole configuration exactly as depotd loads it.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

static int	 registry_type(const char *, enum repo_type *);
static int	 registry_upstreams_check(struct ctl *, const char *,
		    enum repo_type, const struct strlist *);
static struct config_registry *registry_find(struct ctl *, const char *);
static struct config_registry *registry_editable(struct ctl *,
		    const char *);
static json_t	*registry_json(struct ctl *, struct config_registry *, int);
static void	 registry_print(struct ctl *, struct config_registry *);
static int	 registry_rewrite(struct ctl *, struct config_registry *,
		    const char *, const struct strlist *,
		    const struct strlist *);

static int
registry_type(const char *s, enum repo_type *type)
{
	if (strcmp(s, "docker") == 0)
		*type = REPO_DOCKER;
	else if (strcmp(s, "helm") == 0)
		*type = REPO_HELM;
	else
		return (ctl_refuse("--type must be docker or helm, not "
		    "'%.80s'", s));
	return (0);
}

/*
 * The upstreams a registry lists: defined, upstreams (not registries),
 * of the registry's type, each once. 0 or CTL_REFUSED.
 */
static int
registry_upstreams_check(struct ctl *ctl, const char *name,
    enum repo_type type, const struct strlist *keys)
{
	struct config_upstream	*up;
	size_t			 i, j;

	for (i = 0; i < keys->sl_count; i++) {
		for (j = 0; j < i; j++)
			if (strcmp(keys->sl_items[i], keys->sl_items[j]) == 0)
				return (ctl_refuse("upstream '%.80s' is listed "
				    "twice", keys->sl_items[i]));
		up = config_upstream_find(ctl->ctl_cf, keys->sl_items[i]);
		if (up == NULL && config_registry_find(ctl->ctl_cf,
		    keys->sl_items[i]) != NULL)
			return (ctl_refuse("'%s' is a registry, not an "
			    "upstream", keys->sl_items[i]));
		if (up == NULL)
			return (ctl_refuse("upstream '%.80s' is not defined "
			    "(depotctl upstream list shows the upstreams)",
			    keys->sl_items[i]));
		if (up->up_type != type)
			return (ctl_refuse("upstream '%s' is of type %s, but "
			    "registry '%s' is of type %s: a registry lists "
			    "only upstreams of its own type", up->up_key,
			    config_repo_type_name(up->up_type), name,
			    config_repo_type_name(type)));
	}
	return (0);
}

/* The registry; NULL after saying it is not one. */
static struct config_registry *
registry_find(struct ctl *ctl, const char *name)
{
	if (ctl_object_defined(ctl, CTL_REGISTRY, name) != 0)
		return (NULL);
	return (config_registry_find(ctl->ctl_cf, name));
}

/* A registry depotctl may change, under the lock; NULL after saying why
 * not. */
static struct config_registry *
registry_editable(struct ctl *ctl, const char *name)
{
	struct config_registry	*reg;

	if (ctl_name_check(name, "registry name") != 0 || ctl_lock(ctl) != 0 ||
	    (reg = registry_find(ctl, name)) == NULL)
		return (NULL);
	if (ctl_managed(ctl, CTL_REGISTRY, name, reg->reg_file,
	    reg->reg_line) != 0)
		return (NULL);
	return (reg);
}

/* A registry as JSON; with detail, its upstreams in full. */
static json_t *
registry_json(struct ctl *ctl, struct config_registry *reg, int detail)
{
	struct config_upstream	*up;
	json_t			*obj, *ups;
	size_t			 i;

	obj = json_object();
	json_object_set_new(obj, "name", ctl_json_text(reg->reg_name));
	json_object_set_new(obj, "type", ctl_json_text(
	    config_repo_type_name(reg->reg_type)));
	json_object_set_new(obj, "description",
	    ctl_json_text(reg->reg_description));
	json_object_set_new(obj, "labels", ctl_json_strlist(&reg->reg_labels));
	json_object_set_new(obj, "read_only",
	    json_boolean(reg->reg_read_only));
	if (!detail)
		ups = ctl_json_strlist(&reg->reg_upstreams);
	else {
		ups = json_array();
		for (i = 0; i < reg->reg_upstreams.sl_count; i++) {
			up = config_upstream_find(ctl->ctl_cf,
			    reg->reg_upstreams.sl_items[i]);
			json_array_append_new(ups, ctl_upstream_summary(up));
		}
	}
	json_object_set_new(obj, "upstreams", ups);
	ctl_json_defined(ctl, obj, CTL_REGISTRY, reg->reg_name, reg->reg_file,
	    reg->reg_line);
	return (obj);
}

/* registry show, as text. */
static void
registry_print(struct ctl *ctl, struct config_registry *reg)
{
	struct config_upstream	*up;
	char			**cells = NULL, *s, num[32];
	size_t			  rows = 0, i;

	printf("registry     %s\n", reg->reg_name);
	printf("type         %s\n", config_repo_type_name(reg->reg_type));
	printf("description  %s\n", reg->reg_description != NULL ?
	    reg->reg_description : "-");
	s = ctl_join(reg->reg_labels.sl_items, reg->reg_labels.sl_count,
	    ", ");
	printf("labels       %s\n", *s != '\0' ? s : "-");
	free(s);
	printf("read-only    %s\n", reg->reg_read_only ? "yes" : "no");
	ctl_print_defined(ctl, CTL_REGISTRY, reg->reg_name, reg->reg_file,
	    reg->reg_line, 13);
	if (reg->reg_upstreams.sl_count == 0) {
		printf("upstreams    none\n");
		return;
	}
	printf("upstreams    in query order:\n");
	for (i = 0; i < reg->reg_upstreams.sl_count; i++) {
		up = config_upstream_find(ctl->ctl_cf,
		    reg->reg_upstreams.sl_items[i]);
		(void)snprintf(num, sizeof(num), "  %zu.", i + 1);
		ctl_table_row(&cells, &rows, 5, num, up->up_key,
		    config_source_name(up->up_source),
		    config_auth_type_name(up->up_auth.cr_type),
		    up->up_url != NULL ? up->up_url : "");
	}
	ctl_table_print(cells, rows, 5);
}

int
ctl_registry_create(struct ctl *ctl, const struct ctl_command *cmd,
    int argc, char **argv)
{
	static const struct option	 opts[] = {
		{ "type", required_argument, NULL, 't' },
		{ "description", required_argument, NULL, 'd' },
		{ "label", required_argument, NULL, 'l' },
		{ "upstream", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct strlist			 labels, ups;
	config_setting_t		*group;
	config_t			 cfg;
	enum repo_type			 type = REPO_DOCKER;
	const char			*type_arg = NULL, *desc = NULL;
	const char			*name;
	int				 ch, rv = CTL_REFUSED;

	memset(&labels, 0, sizeof(labels));
	memset(&ups, 0, sizeof(ups));
	while ((ch = ctl_getopt(argc, argv, opts, cmd)) != -1) {
		if (ch == 't')
			type_arg = optarg;
		else if (ch == 'd')
			desc = optarg;
		else if (ch == 'l')
			ctl_list_add(&labels, optarg);
		else
			ctl_list_add(&ups, optarg);
	}
	ctl_args_done(argc, argv, cmd, 1, 1);
	if (type_arg == NULL)
		ctl_usage(cmd, "--type is required");
	name = argv[optind];
	if (ctl_name_check(name, "registry name") != 0 ||
	    registry_type(type_arg, &type) != 0 || ctl_lock(ctl) != 0 ||
	    ctl_config(ctl) == NULL ||
	    ctl_name_free(ctl, CTL_REGISTRY, name) != 0 ||
	    registry_upstreams_check(ctl, name, type, &ups) != 0)
		goto fail;
	config_init(&cfg);
	group = ctl_object_new(&cfg, CTL_REGISTRY);
	ctl_set_string(group, "name", name);
	ctl_set_string(group, "type", type_arg);
	ctl_set_string(group, "description", desc);
	if (labels.sl_count > 0)
		ctl_set_strlist(group, "labels", &labels);
	if (ups.sl_count > 0)
		ctl_set_strlist(group, "upstreams", &ups);
	rv = ctl_create(ctl, CTL_REGISTRY, name, &cfg);
	config_destroy(&cfg);
	if (rv == CTL_OK)
		printf("depotd serves it after: depotctl reload\n");

fail:
	ctl_list_clear(&labels);
	ctl_list_clear(&ups);
	return (rv);
}

int
ctl_registry_list(struct ctl *ctl, const struct ctl_command *cmd, int argc,
    char **argv)
{
	struct config_registry	*reg;
	struct config		*cf;
	json_t			*array;
	char			**cells = NULL, *ups, *where;
	size_t			  rows = 0, i;
	int			  json;

	json = ctl_args_json(argc, argv, cmd, 0);
	if ((cf = ctl_config(ctl)) == NULL)
		return (CTL_REFUSED);
	if (json) {
		array = json_array();
		for (i = 0; i < cf->cf_nregistries; i++)
			json_array_append_new(array, registry_json(ctl,
			    &cf->cf_registries[i], 0));
		return (ctl_json_print(array));
	}
	ctl_table_row(&cells, &rows, 4, "NAME", "TYPE", "UPSTREAMS",
	    "DEFINED IN");
	for (i = 0; i < cf->cf_nregistries; i++) {
		reg = &cf->cf_registries[i];
		ups = ctl_join(reg->reg_upstreams.sl_items,
		    reg->reg_upstreams.sl_count, ",");
		where = ctl_where(ctl, reg->reg_file, reg->reg_line);
		ctl_table_row(&cells, &rows, 4, reg->reg_name,
		    config_repo_type_name(reg->reg_type), ups, where);
		free(ups);
		free(where);
	}
	ctl_table_print(cells, rows, 4);
	return (CTL_OK);
}

int
ctl_registry_show(struct ctl *ctl, const struct ctl_command *cmd, int argc,
    char **argv)
{
	struct config_registry	*reg;
	int			 json;

	json = ctl_args_json(argc, argv, cmd, 1);
	if ((reg = registry_find(ctl, argv[optind])) == NULL)
		return (CTL_REFUSED);
	if (json)
		return (ctl_json_print(registry_json(ctl, reg, 1)));
	registry_print(ctl, reg);
	return (CTL_OK);
}

/*
 * With --purge the index entries go too; a registry whose definition is
 * already gone can still be purged, unless the name is an upstream's.
 */
int
ctl_registry_delete(struct ctl *ctl, const struct ctl_command *cmd,
    int argc, char **argv)
{
	static const struct option	 opts[] = {
		{ "purge", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct config_registry		*reg;
	const char			*name;
	int				 purge = 0, repos;

	while (ctl_getopt(argc, argv, opts, cmd) != -1)
		purge = 1;
	ctl_args_done(argc, argv, cmd, 1, 1);
	name = argv[optind];
	if (ctl_name_check(name, "registry name") != 0 || ctl_lock(ctl) != 0 ||
	    ctl_config(ctl) == NULL)
		return (CTL_REFUSED);
	reg = config_registry_find(ctl->ctl_cf, name);
	if (reg == NULL && (!purge ||
	    config_upstream_find(ctl->ctl_cf, name) != NULL))
		return (registry_find(ctl, name) == NULL ? CTL_REFUSED :
		    ctl_refuse("registry '%s' is not defined", name));
	if (reg != NULL) {
		if (ctl_managed(ctl, CTL_REGISTRY, name, reg->reg_file,
		    reg->reg_line) != 0 ||
		    ctl_delete(ctl, CTL_REGISTRY, name) != 0)
			return (CTL_REFUSED);
	} else
		printf("registry '%s' is not defined; purging what is left "
		    "of it\n", name);
	if (purge) {
		if (ctl_purge(ctl, name, &repos) != 0)
			return (CTL_REFUSED);
		printf("purged %d repositor%s of '%s' from the index; their "
		    "blobs are left for garbage collection\n", repos,
		    repos == 1 ? "y" : "ies", name);
	}
	if (reg != NULL)
		printf("depotd stops serving it after: depotctl reload\n");
	return (CTL_OK);
}

/*
 * Rewrite a registry's file with a new description (when desc is not
 * NULL), labels or upstreams (when not NULL). 0 or CTL_REFUSED.
 */
static int
registry_rewrite(struct ctl *ctl, struct config_registry *reg,
    const char *desc, const struct strlist *labels,
    const struct strlist *ups)
{
	config_setting_t	*group;
	config_t		 cfg;
	int			 rv = CTL_REFUSED;

	group = ctl_object_read(ctl, &cfg, CTL_REGISTRY, reg->reg_name,
	    reg->reg_file);
	if (group != NULL) {
		if (desc != NULL)
			ctl_set_string(group, "description", desc);
		if (labels != NULL)
			ctl_set_strlist(group, "labels", labels);
		if (ups != NULL)
			ctl_set_strlist(group, "upstreams", ups);
		rv = ctl_commit(ctl, CTL_REGISTRY, reg->reg_name, &cfg);
	}
	config_destroy(&cfg);
	return (rv);
}

int
ctl_registry_update(struct ctl *ctl, const struct ctl_command *cmd,
    int argc, char **argv)
{
	static const struct option	 opts[] = {
		{ "description", required_argument, NULL, 'd' },
		{ "label", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct config_registry		*reg;
	struct strlist			 labels;
	const char			*desc = NULL, *name;
	int				 ch, rv = CTL_REFUSED;

	memset(&labels, 0, sizeof(labels));
	while ((ch = ctl_getopt(argc, argv, opts, cmd)) != -1) {
		if (ch == 'd')
			desc = optarg;
		else
			ctl_list_add(&labels, optarg);
	}
	ctl_args_done(argc, argv, cmd, 1, 1);
	if (desc == NULL && labels.sl_count == 0)
		ctl_usage(cmd, "nothing to change: give --description or "
		    "--label");
	name = argv[optind];
	if ((reg = registry_editable(ctl, name)) != NULL &&
	    (rv = registry_rewrite(ctl, reg, desc, labels.sl_count > 0 ?
	    &labels : NULL, NULL)) == CTL_OK)
		printf("registry '%s' updated\n"
		    "depotd uses it after: depotctl reload\n", name);
	ctl_list_clear(&labels);
	return (rv);
}

int
ctl_registry_set_upstreams(struct ctl *ctl, const struct ctl_command *cmd,
    int argc, char **argv)
{
	struct config_registry	*reg;
	struct strlist		 ups;
	const char		*name;
	char			*joined;
	int			 i, rv = CTL_REFUSED;

	ctl_args_only(argc, argv, cmd, 1, -1);
	name = argv[optind];
	memset(&ups, 0, sizeof(ups));
	for (i = optind + 1; i < argc; i++)
		ctl_list_add(&ups, argv[i]);
	if ((reg = registry_editable(ctl, name)) != NULL &&
	    registry_upstreams_check(ctl, name, reg->reg_type, &ups) == 0 &&
	    (rv = registry_rewrite(ctl, reg, NULL, NULL, &ups)) == CTL_OK) {
		joined = ctl_join(ups.sl_items, ups.sl_count, ", ");
		if (ups.sl_count == 0)
			printf("registry '%s' has no upstream now\n", name);
		else
			printf("registry '%s' asks, in this order: %s\n", name,
			    joined);
		printf("depotd uses it after: depotctl reload\n");
		free(joined);
	}
	ctl_list_clear(&ups);
	return (rv);
}
