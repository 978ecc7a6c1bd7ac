/*
 * main.c: depotd's command line: options, usage, configuration test,
 * then the hand-off to the master.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/config.h"
#include "access/htpasswd.h"
#include "lib/log.h"
#include "daemon/master.h"

static __dead void	usage(void);

static __dead void
usage(void)
{
	fprintf(stderr, "usage: depotd [-dftV] [-c file]\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	struct config	*cf;
	const char	*path = DEPOT_CONF_DEFAULT;
	char		*cause = NULL, resolved[PATH_MAX];
	struct htpasswd	*users = NULL;
	int		 ch, foreground = 0, test = 0, debug = 0;

	while ((ch = getopt(argc, argv, "c:dftVh")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'd':
			debug = 1;
			break;
		case 'f':
			foreground = 1;
			break;
		case 't':
			test = 1;
			break;
		case 'V':
			printf("depotd %s\n", PACKAGE_VERSION);
			return (0);
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

	log_init(1, NULL, debug ? LOG_DEBUG : LOG_INFO);
	/* Relative paths in the file resolve against its directory. */
	if (realpath(path, resolved) == NULL) {
		fprintf(stderr, "depotd: %s: %s\n", path, strerror(errno));
		return (1);
	}
	if ((cf = config_load(resolved, &cause)) == NULL) {
		fprintf(stderr, "%s\n", cause);
		free(cause);
		return (1);
	}
	if (test && cf->cf_has_access && (users = htpasswd_load(
	    cf->cf_access.acc_users_file, &cause)) == NULL) {
		fprintf(stderr, "%s\n", cause);
		free(cause);
		config_free(cf);
		return (1);
	}
	htpasswd_free(users);
	if (test) {
		printf("configuration OK\n");
		config_free(cf);
		return (0);
	}
	if (!debug)
		log_setlevel(cf->cf_server.srv_log.log_level);
	if (!foreground && !cf->cf_server.srv_log.log_syslog)
		log_warnx("log.syslog is off: the daemon logs nothing but "
		    "its access log");
	return (master_run(cf, resolved, foreground, debug));
}
