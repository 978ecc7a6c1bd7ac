/*
 * api_ui.c: GET /ui/...: the web console's static files (HTML, CSS,
 * JavaScript) from server.ui_dir, with validators (ETag, Last-Modified:
 * 304 when unchanged), Cache-Control and a strict Content-Security-Policy
 * (only this origin's scripts, styles and fetches; no inline code). The
 * console is one page; its views are addressed by the URL's fragment,
 * so only plain file names are served, never a path with a '/'.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/http.h>

#include "api/api.h"
#include "conf/config.h"
#include "http/http.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

#define UI_PREFIX	"/ui/"
#define UI_NAME_MAX	64
#define UI_CSP		"default-src 'none'; script-src 'self'; " \
			"style-src 'self'; img-src 'self' data:; " \
			"connect-src 'self'; base-uri 'none'; " \
			"form-action 'none'; frame-ancestors 'none'"

static const struct {
	const char	*ut_ext;
	const char	*ut_type;
} ui_types[] = {
	{ ".html",	"text/html; charset=utf-8" },
	{ ".css",	"text/css; charset=utf-8" },
	{ ".js",	"text/javascript; charset=utf-8" },
	{ ".svg",	"image/svg+xml" },
	{ ".png",	"image/png" },
	{ ".ico",	"image/x-icon" },
	{ ".txt",	"text/plain; charset=utf-8" },
};

static const char	*ui_type(const char *);
static int		 ui_name_ok(const char *);
static void		 ui_not_found(struct req *);
static int		 ui_unchanged_since(const char *, time_t);

void
api_ui(struct req *r)
{
	struct config	*cf = http_context(r)->ctx_config;
	struct stat	 st;
	const char	*name, *type, *inm, *ims;
	char		*path, etag[64], modified[64];
	struct tm	 tm;
	int		 fd;

	if (http_method(r) != EVHTTP_REQ_GET &&
	    http_method(r) != EVHTTP_REQ_HEAD) {
		http_header_add(r, "Allow", "GET, HEAD");
		http_reply_text(r, 405, "method not allowed\n");
		return;
	}
	if (strcmp(r->req_path, "/ui") == 0) {
		/* Relative: right behind a proxy that maps a prefix too. */
		http_header_add(r, "Location", "ui/");
		http_reply_text(r, 301, "see /ui/\n");
		return;
	}
	if (strncmp(r->req_path, UI_PREFIX, strlen(UI_PREFIX)) != 0) {
		ui_not_found(r);
		return;
	}
	name = r->req_path + strlen(UI_PREFIX);
	if (*name == '\0')
		name = "index.html";
	if (!ui_name_ok(name) || (type = ui_type(name)) == NULL ||
	    cf->cf_server.srv_ui_dir == NULL) {
		ui_not_found(r);
		return;
	}
	xasprintf(&path, "%s/%s", cf->cf_server.srv_ui_dir, name);
	/* Only the files themselves: a symbolic link is not followed. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
	if (fd == -1) {
		if (errno != ENOENT && errno != ELOOP)
			log_warn("%s: %s", __func__, path);
		free(path);
		ui_not_found(r);
		return;
	}
	free(path);
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		ui_not_found(r);
		return;
	}
	(void)snprintf(etag, sizeof(etag), "\"%llx-%llx-%lx\"",
	    (unsigned long long)st.st_size, (unsigned long long)st.st_mtime,
	    (long)st.st_mtim.tv_nsec);
	gmtime_r(&st.st_mtime, &tm);
	strftime(modified, sizeof(modified), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	http_header_add(r, "ETag", etag);
	http_header_add(r, "Last-Modified", modified);
	/* Kept, but asked again each time: a new version shows at once. */
	http_header_add(r, "Cache-Control", "no-cache");
	http_header_add(r, "Content-Security-Policy", UI_CSP);
	http_header_add(r, "X-Content-Type-Options", "nosniff");
	http_header_add(r, "X-Frame-Options", "DENY");
	http_header_add(r, "Referrer-Policy", "no-referrer");
	inm = http_header_get(r, "If-None-Match");
	ims = http_header_get(r, "If-Modified-Since");
	if ((inm != NULL && strstr(inm, etag) != NULL) ||
	    (inm == NULL && ims != NULL && ui_unchanged_since(ims,
	    st.st_mtime))) {
		close(fd);
		http_reply(r, 304, NULL, NULL);
		return;
	}
	http_reply_file(r, 200, type, fd, 0, st.st_size);
}

/* A plain file name: [A-Za-z0-9_.-], not starting with '.'. */
static int
ui_name_ok(const char *name)
{
	size_t	 len = strlen(name);

	return (len > 0 && len <= UI_NAME_MAX && name[0] != '.' &&
	    strspn(name, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == len);
}

/* 1 when the HTTP date since is not before mtime. */
static int
ui_unchanged_since(const char *since, time_t mtime)
{
	struct tm	 tm;
	const char	*end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(since, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	return (end != NULL && *end == '\0' && timegm(&tm) >= mtime);
}

static const char *
ui_type(const char *name)
{
	const char	*dot = strrchr(name, '.');
	size_t		 i;

	if (dot == NULL)
		return (NULL);
	for (i = 0; i < sizeof(ui_types) / sizeof(ui_types[0]); i++)
		if (strcasecmp(dot, ui_types[i].ut_ext) == 0)
			return (ui_types[i].ut_type);
	return (NULL);
}

static void
ui_not_found(struct req *r)
{
	http_header_add(r, "Content-Security-Policy", UI_CSP);
	http_header_add(r, "X-Content-Type-Options", "nosniff");
	http_reply_text(r, 404, "no such file\n");
}
