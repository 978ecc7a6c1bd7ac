/*
 * log.h: one logging vocabulary for every process (OpenBSD style).
 * Syslog by default, stderr when running in the foreground.
 */
#ifndef DEPOT_LOG_H
#define DEPOT_LOG_H

#include <stdarg.h>
#include <syslog.h>

#include "depot.h"

/* Start logging: to stderr when foreground is set, else to syslog. */
void	log_init(int foreground, const char *facility, int level);
void	log_setlevel(int level);		/* LOG_ERR .. LOG_DEBUG */
int	log_getlevel(void);
void	log_procname(const char *name);	/* "master", "worker" ... */
int	log_facility_parse(const char *name);	/* -1 when unknown */
int	log_level_parse(const char *name);	/* -1 when unknown */

void	log_warn(const char *, ...) PRINTFLIKE(1, 2);	/* + strerror(errno) */
void	log_warnx(const char *, ...) PRINTFLIKE(1, 2);
void	log_info(const char *, ...) PRINTFLIKE(1, 2);
void	log_debug(const char *, ...) PRINTFLIKE(1, 2);
__dead void fatal(const char *, ...) PRINTFLIKE(1, 2);	/* + strerror(errno) */
__dead void fatalx(const char *, ...) PRINTFLIKE(1, 2);

#endif /* DEPOT_LOG_H */
