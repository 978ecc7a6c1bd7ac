/*
 * ctl_client.c: depotctl setup-client: prints the lines of setup.c for
 * one registry (or docker upstream key) as this configuration reaches it.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "conf/setup.h"
#include "ctl/ctl.h"

int
ctl_setup_client(struct ctl *ctl, const struct ctl_command *cmd, int argc,
    char **argv)
{
	static const struct option	 opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct config			*cf;
	struct setup			*st;
	const char			*name;
	char				*cause;
	size_t				 i;
	int				 rv;

	while (ctl_getopt(argc, argv, opts, cmd) != -1)
		;
	ctl_args_done(argc, argv, cmd, 1, 1);
	name = argv[optind];
	if (ctl_name_check(name, "registry name") != 0 ||
	    (cf = ctl_config(ctl)) == NULL)
		return (CTL_REFUSED);
	if ((st = setup_client(cf, name, NULL, &cause)) == NULL) {
		rv = ctl_refuse("%s", cause);
		free(cause);
		return (rv);
	}
	for (i = 0; i < st->st_count; i++)
		printf("%s\n", st->st_lines[i].sl_text);
	setup_free(st);
	return (CTL_OK);
}
