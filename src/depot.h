/*
 * depot.h: the few constants and types every module shares.
 */
#ifndef DEPOT_H
#define DEPOT_H

#define DEPOT_NAME_MAX		64	/* registry names and upstream keys */
#define DEPOT_REPO_MAX		255	/* OCI repository name, registry included */
#define DEPOT_TAG_MAX		128
#define DEPOT_MANIFEST_MAX	(4 * 1024 * 1024)

#define DEPOT_CONF_DEFAULT	"/etc/depot/depot.conf"
#define DEPOT_PIDFILE_DEFAULT	"/run/depot/depotd.pid"
#define DEPOT_DATADIR_DEFAULT	"/var/lib/depot"

#ifndef __dead
#define __dead		__attribute__((__noreturn__))
#endif
#define PRINTFLIKE(a, b) __attribute__((__format__(__printf__, a, b)))

#endif /* DEPOT_H */
