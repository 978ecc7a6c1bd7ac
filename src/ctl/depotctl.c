/*
 * depotctl.c: depotctl's command line: global options, the table of
 * commands, usage and help texts, option parsing for each command, and
 * the exit status (0 done, 1 refused, 2 usage error).
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "lib/log.h"

#define CTL_JSON_HELP	"  --json              print JSON instead of text\n"

static const struct ctl_command ctl_commands[] = {
	{ "registry", "create", "NAME --type docker|helm "
	    "[--description TEXT] [--label L]... [--upstream KEY]...",
	    "define a registry in depot.d/registry-NAME.conf",
	    "  --type TYPE         docker or helm (required)\n"
	    "  --description TEXT  free text shown by show and /api\n"
	    "  --label L           a label (a-z 0-9 _ . -); repeat for more\n"
	    "  --upstream KEY      an upstream of the same type, asked when a\n"
	    "                      pull misses; repeat, in query order\n",
	    ctl_registry_create },
	{ "registry", "list", "[--json]",
	    "list the registries with their upstreams and where they are "
	    "defined", CTL_JSON_HELP, ctl_registry_list },
	{ "registry", "show", "NAME [--json]",
	    "show one registry and its upstreams in query order",
	    CTL_JSON_HELP, ctl_registry_show },
	{ "registry", "delete", "NAME [--purge]",
	    "remove a registry's definition",
	    "  --purge             also remove what it stores from the index\n"
	    "                      (tags, links, uploads); the blobs are left\n"
	    "                      for garbage collection\n",
	    ctl_registry_delete },
	{ "registry", "update", "NAME [--description TEXT] [--label L]...",
	    "change a registry's description or labels",
	    "  --description TEXT  the new description (\"\" removes it)\n"
	    "  --label L           the labels given replace the old ones\n",
	    ctl_registry_update },
	{ "registry", "set-upstreams", "NAME [KEY]...",
	    "set the upstreams a registry asks, in query order (none: "
	    "no upstream)", NULL, ctl_registry_set_upstreams },
	{ "upstream", "create", "KEY --type docker|helm "
	    "--source dockerhub|custom|ecr [--url URL] "
	    "[--auth anonymous|userpass|access_key|aws_default] "
	    "[--username U --password-file F] "
	    "[--access-key-id ID --secret-file F]",
	    "define an upstream proxy in depot.d/upstream-KEY.conf",
	    "  --type TYPE         docker or helm (required)\n"
	    "  --source SOURCE     dockerhub, custom or ecr (required; helm:\n"
	    "                      custom)\n"
	    "  --url URL           the registry or Helm repository URL; for\n"
	    "                      ecr the AWS console URL of the repository\n"
	    "  --auth TYPE         anonymous (default), userpass or access_key\n"
	    "  --username U        the user name for userpass\n"
	    "  --password-file F   a file (mode 0600) holding the password;\n"
	    "                      '-' reads it from standard input into\n"
	    "                      secrets/upstream-KEY beside depot.conf\n"
	    "  --access-key-id ID  the AWS access key id for access_key\n"
	    "  --secret-file F     a file (mode 0600) holding the secret\n"
	    "                      access key; '-' as for --password-file\n",
	    ctl_upstream_create },
	{ "upstream", "list", "[--json]",
	    "list the upstream proxies", CTL_JSON_HELP, ctl_upstream_list },
	{ "upstream", "show", "KEY [--json]",
	    "show one upstream proxy (secrets are never shown)",
	    CTL_JSON_HELP, ctl_upstream_show },
	{ "upstream", "delete", "KEY",
	    "remove an upstream proxy no registry lists", NULL,
	    ctl_upstream_delete },
	{ NULL, "setup-client", "NAME",
	    "print docker, podman, skopeo or helm lines to use a registry",
	    NULL, ctl_setup_client },
	{ NULL, "reload", "",
	    "make the running depotd re-read its configuration and report "
	    "the outcome", NULL, ctl_reload },
	{ NULL, "gc", "[--dry-run] [--grace SECONDS] [--registry NAME] "
	    "[--untagged]",
	    "remove blobs and links nothing references, online",
	    "  --dry-run           count what would be freed, remove nothing\n"
	    "  --grace SECONDS     keep what was written, linked or used in\n"
	    "                      the last SECONDS (default: gc_grace)\n"
	    "  --registry NAME     only the repositories of NAME (a registry\n"
	    "                      or an upstream key)\n"
	    "  --untagged          untagged manifests are garbage too\n",
	    ctl_gc },
	{ NULL, "fsck", "[--repair]",
	    "check the store (blobs, index, temp files, databases), with or "
	    "without a running depotd", "  --repair            remove orphans "
	    "and dangling entries, move damaged\n"
	    "                      blobs to lost+found/, and say what was "
	    "done\n", ctl_fsck },
};

#define CTL_NCOMMANDS	(sizeof(ctl_commands) / sizeof(ctl_commands[0]))

static void			 ctl_synopsis(FILE *, const char *,
				    const struct ctl_command *);
static __dead void		 usage(int);
static __dead void		 ctl_help(const struct ctl_command *);
static __dead void		 ctl_group_help(const char *);
static int			 ctl_is_group(const char *);
static const struct ctl_command	*ctl_find(int, char **, int *);

int
ctl_refuse(const char *fmt, ...)
{
	va_list	 ap;

	fflush(stdout);
	fprintf(stderr, "depotctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	return (CTL_REFUSED);
}

/* The command's words and arguments, after prefix. */
static void
ctl_synopsis(FILE *f, const char *prefix, const struct ctl_command *cmd)
{
	fprintf(f, "%s%s%s%s%s%s\n", prefix,
	    cmd->cmd_group != NULL ? cmd->cmd_group : "",
	    cmd->cmd_group != NULL ? " " : "", cmd->cmd_name,
	    cmd->cmd_args[0] != '\0' ? " " : "", cmd->cmd_args);
}

/* A usage error in a command: say what, show the synopsis, exit 2. */
void
ctl_usage(const struct ctl_command *cmd, const char *fmt, ...)
{
	va_list	 ap;

	fprintf(stderr, "depotctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	ctl_synopsis(stderr, "usage: depotctl [-c FILE] ", cmd);
	exit(CTL_USAGE);
}

/* The full help on standard output (status 0), or a hint on standard
 * error. */
static void
usage(int status)
{
	FILE	*f = stdout;
	size_t	 i;

	if (status != CTL_OK) {
		fprintf(stderr, "usage: depotctl [-c FILE] COMMAND "
		    "[ARGUMENTS]\n(depotctl --help lists the commands)\n");
		exit(status);
	}
	fprintf(f, "usage: depotctl [-c FILE] COMMAND [ARGUMENTS]\n\n"
	    "Manage depotd's registries and upstream proxies.\n\n"
	    "Commands:\n");
	for (i = 0; i < CTL_NCOMMANDS; i++)
		ctl_synopsis(f, "  ", &ctl_commands[i]);
	fprintf(f, "\nOptions:\n"
	    "  -c FILE     the configuration (default %s)\n"
	    "  -h, --help  this help; COMMAND --help describes a command\n"
	    "  -V          print the version\n\n"
	    "Exit status: 0 done, 1 refused (the reason is on standard "
	    "error), 2 usage error.\n", DEPOT_CONF_DEFAULT);
	exit(status);
}

static void
ctl_help(const struct ctl_command *cmd)
{
	ctl_synopsis(stdout, "usage: depotctl [-c FILE] ", cmd);
	printf("\n%c%s.\n", cmd->cmd_summary[0] - 'a' + 'A',
	    cmd->cmd_summary + 1);
	if (cmd->cmd_help != NULL)
		printf("\nOptions:\n%s", cmd->cmd_help);
	exit(CTL_OK);
}

static void
ctl_group_help(const char *group)
{
	size_t	 i;

	printf("usage:\n");
	for (i = 0; i < CTL_NCOMMANDS; i++) {
		if (ctl_commands[i].cmd_group == NULL ||
		    strcmp(ctl_commands[i].cmd_group, group) != 0)
			continue;
		ctl_synopsis(stdout, "  depotctl [-c FILE] ", &ctl_commands[i]);
		printf("      %s\n", ctl_commands[i].cmd_summary);
	}
	exit(CTL_OK);
}

/*
 * getopt_long over a command's arguments (argv[0] is the command's name),
 * with --help built in. Returns the option, or -1 when none is left; the
 * operands are then argv[optind..argc-1]. Exits on --help and on errors.
 */
int
ctl_getopt(int argc, char **argv, const struct option *opts,
    const struct ctl_command *cmd)
{
	int	 ch;

	opterr = 0;
	switch ((ch = getopt_long(argc, argv, ":h", opts, NULL))) {
	case 'h':
		ctl_help(cmd);
	case ':':
		ctl_usage(cmd, "option '%s' needs a value", argv[optind - 1]);
	case '?':
		if (optopt != 0 && optopt != '?')
			ctl_usage(cmd, "unknown option '-%c'", optopt);
		ctl_usage(cmd, "unknown option '%s'", argv[optind - 1]);
	}
	return (ch);
}

/* After the options: between min and max operands (max -1: any). */
void
ctl_args_done(int argc, char **argv, const struct ctl_command *cmd, int min,
    int max)
{
	int	 n = argc - optind;

	if (n < min)
		ctl_usage(cmd, "missing %.*s",
		    (int)strcspn(cmd->cmd_args, " "), cmd->cmd_args);
	if (max >= 0 && n > max)
		ctl_usage(cmd, "unexpected '%s'", argv[optind + max]);
}

static int
ctl_is_group(const char *word)
{
	return (strcmp(word, "registry") == 0 ||
	    strcmp(word, "upstream") == 0);
}

/* The command named by the first words of argv; *used says how many. */
static const struct ctl_command *
ctl_find(int argc, char **argv, int *used)
{
	const char	*group = NULL, *name = argv[0];
	size_t		 i;

	if (ctl_is_group(argv[0])) {
		if (argc < 2) {
			fprintf(stderr, "depotctl: %s: missing a command\n",
			    argv[0]);
			usage(CTL_USAGE);
		}
		if (strcmp(argv[1], "--help") == 0 ||
		    strcmp(argv[1], "-h") == 0)
			ctl_group_help(argv[0]);
		group = argv[0];
		name = argv[1];
	}
	*used = group != NULL ? 1 : 0;
	for (i = 0; i < CTL_NCOMMANDS; i++) {
		if (strcmp(ctl_commands[i].cmd_name, name) != 0)
			continue;
		if ((group == NULL) != (ctl_commands[i].cmd_group == NULL))
			continue;
		if (group == NULL ||
		    strcmp(group, ctl_commands[i].cmd_group) == 0)
			return (&ctl_commands[i]);
	}
	fprintf(stderr, "depotctl: unknown command '%s%s%s'\n",
	    group != NULL ? group : "", group != NULL ? " " : "", name);
	usage(CTL_USAGE);
}

int
main(int argc, char *argv[])
{
	static const struct option	 opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const struct ctl_command	*cmd;
	struct ctl			 ctl;
	const char			*path = DEPOT_CONF_DEFAULT;
	int				 ch, used, rv;

	log_init(1, NULL, LOG_WARNING);
	log_procname("depotctl");
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:c:hV", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'h':
			usage(CTL_OK);
		case 'V':
			printf("depotctl %s\n", PACKAGE_VERSION);
			return (CTL_OK);
		case ':':
			fprintf(stderr, "depotctl: option '%s' needs a value\n",
			    argv[optind - 1]);
			usage(CTL_USAGE);
		default:
			fprintf(stderr, "depotctl: unknown option '%s'\n",
			    argv[optind - 1]);
			usage(CTL_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		fprintf(stderr, "depotctl: missing a command\n");
		usage(CTL_USAGE);
	}
	cmd = ctl_find(argc, argv, &used);
	ctl_setup(&ctl, path);
	optind = 0;
	rv = cmd->cmd_run(&ctl, cmd, argc - used, argv + used);
	ctl_cleanup(&ctl);
	return (rv);
}
