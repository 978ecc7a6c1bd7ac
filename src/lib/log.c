/*
 * log.c: logging to syslog or stderr, in the OpenBSD vocabulary.
 * The process name ("master", "worker") prefixes every line.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"

static int		 log_to_stderr = 1;
static int		 log_level = LOG_INFO;
static const char	*log_name = "depotd";

static const struct {
	const char	*name;
	int		 value;
} log_facilities[] = {
	{ "daemon", LOG_DAEMON }, { "user", LOG_USER },
	{ "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 },
	{ "local2", LOG_LOCAL2 }, { "local3", LOG_LOCAL3 },
	{ "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
	{ "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
}, log_levels[] = {
	{ "error", LOG_ERR }, { "warning", LOG_WARNING },
	{ "notice", LOG_NOTICE }, { "info", LOG_INFO },
	{ "debug", LOG_DEBUG },
};

static void	log_vwrite(int, const char *, va_list, int)
		    __attribute__((__format__(__printf__, 2, 0)));

int
log_facility_parse(const char *name)
{
	size_t	 i;

	for (i = 0; i < sizeof(log_facilities) / sizeof(log_facilities[0]); i++)
		if (strcmp(log_facilities[i].name, name) == 0)
			return (log_facilities[i].value);
	return (-1);
}

int
log_level_parse(const char *name)
{
	size_t	 i;

	for (i = 0; i < sizeof(log_levels) / sizeof(log_levels[0]); i++)
		if (strcmp(log_levels[i].name, name) == 0)
			return (log_levels[i].value);
	return (-1);
}

void
log_init(int foreground, const char *facility, int level)
{
	int	 fac = LOG_DAEMON;

	if (facility != NULL && log_facility_parse(facility) != -1)
		fac = log_facility_parse(facility);
	log_to_stderr = foreground;
	log_level = level;
	if (!foreground)
		openlog("depotd", LOG_PID | LOG_NDELAY, fac);
	tzset();
}

void
log_setlevel(int level)
{
	log_level = level;
}

int
log_getlevel(void)
{
	return (log_level);
}

void
log_procname(const char *name)
{
	log_name = name;
}

/* Format one line; append strerror(saved errno) when with_errno is set. */
static void
log_vwrite(int pri, const char *fmt, va_list ap, int with_errno)
{
	char	 msg[2048];
	int	 saved_errno = errno;

	if (pri > log_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_to_stderr) {
		if (with_errno)
			fprintf(stderr, "depotd[%ld] %s: %s: %s\n",
			    (long)getpid(), log_name, msg,
			    strerror(saved_errno));
		else
			fprintf(stderr, "depotd[%ld] %s: %s\n",
			    (long)getpid(), log_name, msg);
		fflush(stderr);
	} else if (with_errno)
		syslog(pri, "%s: %s: %s", log_name, msg, strerror(saved_errno));
	else
		syslog(pri, "%s: %s", log_name, msg);
	errno = saved_errno;
}

void
log_warn(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(LOG_ERR, fmt, ap, 1);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(LOG_ERR, fmt, ap, 0);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(LOG_INFO, fmt, ap, 0);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(LOG_DEBUG, fmt, ap, 0);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(LOG_CRIT, fmt, ap, 1);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(LOG_CRIT, fmt, ap, 0);
	va_end(ap);
	exit(1);
}
