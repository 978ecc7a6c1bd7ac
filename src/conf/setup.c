/*
 * setup.c: the lines a user copies to reach one registry from docker,
 * podman, skopeo, helm or curl, written for this configuration (its
 * public URL or first listen address, whether users must sign in,
 * whether plain http needs client settings, and whether the Docker Hub
 * mirror can work). depotctl setup-client prints them; the JSON API
 * answers them. The lines hold no secret: USER stands for the user.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/config.h"
#include "conf/setup.h"
#include "depot.h"
#include "lib/xmalloc.h"

/* Where clients reach depot. */
struct client_site {
	char	*cs_base;	/* "http://127.0.0.1:5000", no trailing / */
	char	*cs_host;	/* "127.0.0.1:5000": for image references */
	int	 cs_plain;	/* http, not https */
	int	 cs_auth;	/* users must sign in */
	int	 cs_guessed;	/* host name put for a wildcard address */
};

static void	 client_site(struct config *, const char *, struct client_site *);
static void	 client_site_clear(struct client_site *);
static int	 client_has_dockerhub(struct config *,
		    struct config_registry *);
static void	 client_docker(struct setup *, struct config *,
		    const struct client_site *, const char *,
		    struct config_registry *);
static void	 client_docker_push(struct setup *, const struct client_site *,
		    const char *);
static void	 client_mirror(struct setup *, struct config *,
		    const struct client_site *, const char *);
static void	 client_helm(struct setup *, const struct client_site *,
		    const char *, int);
static void	 setup_addf(struct setup *, const char *, ...)
		    PRINTFLIKE(2, 3);
static void	 setup_split(struct setup *);

/* base, else server.public_url, else http:// and the first listen address. */
static void
client_site(struct config *cf, const char *base, struct client_site *cs)
{
	struct config_listen	*l = &cf->cf_server.srv_listen[0];
	char			 host[HOST_NAME_MAX + 1];
	const char		*p;

	memset(cs, 0, sizeof(*cs));
	cs->cs_auth = cf->cf_has_access;
	if (base != NULL)
		cs->cs_base = xstrdup(base);
	else if (cf->cf_server.srv_public_url != NULL)
		cs->cs_base = xstrdup(cf->cf_server.srv_public_url);
	else if (strcmp(l->l_host, "0.0.0.0") == 0 ||
	    strcmp(l->l_host, "::") == 0) {
		if (gethostname(host, sizeof(host)) == -1)
			(void)snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		xasprintf(&cs->cs_base, "http://%s:%s", host, l->l_port);
		cs->cs_guessed = 1;
	} else
		xasprintf(&cs->cs_base, "http://%s", l->l_text);
	cs->cs_plain = strncmp(cs->cs_base, "http://", 7) == 0;
	p = strstr(cs->cs_base, "://") + 3;
	cs->cs_host = xstrndup(p, strcspn(p, "/"));
}

static void
client_site_clear(struct client_site *cs)
{
	free(cs->cs_base);
	free(cs->cs_host);
}

/* Does the registry ask Docker Hub? */
static int
client_has_dockerhub(struct config *cf, struct config_registry *reg)
{
	struct config_upstream	*up;
	size_t			 i;

	for (i = 0; i < reg->reg_upstreams.sl_count; i++) {
		up = config_upstream_find(cf, reg->reg_upstreams.sl_items[i]);
		if (up != NULL && up->up_source == SOURCE_DOCKERHUB)
			return (1);
	}
	return (0);
}

/* docker, podman, skopeo and curl lines for a docker registry (reg) or
 * a docker upstream key, which is read-only (reg NULL). */
static void
client_docker(struct setup *st, struct config *cf,
    const struct client_site *cs, const char *name,
    struct config_registry *reg)
{
	const char	*tls = cs->cs_plain ? " --tls-verify=false" : "";
	const char	*user = cs->cs_auth ? " -u USER" : "";

	setup_addf(st, "# Docker/OCI %s '%s' at %s\n"
	    "# Replace IMAGE and TAG (and USER) with yours.\n", reg != NULL ?
	    "registry" : "upstream proxy (read-only)", name, cs->cs_base);
	if (cs->cs_guessed)
		setup_addf(st, "# depotd listens on every address; %s is this "
		    "machine's name.\n", cs->cs_host);
	if (cs->cs_plain)
		setup_addf(st, "#\n# Plain http: docker needs this in "
		    "/etc/docker/daemon.json (then restart docker):\n"
		    "#   { \"insecure-registries\": [ \"%s\" ] }\n",
		    cs->cs_host);
	if (cs->cs_auth)
		setup_addf(st, "\n# Sign in\ndocker login %s\npodman login%s %s\n"
		    "skopeo login%s %s\n", cs->cs_host, tls, cs->cs_host, tls,
		    cs->cs_host);
	setup_addf(st, "\n# Pull\ndocker pull %s/%s/IMAGE:TAG\n"
	    "podman pull%s %s/%s/IMAGE:TAG\n"
	    "skopeo inspect%s docker://%s/%s/IMAGE:TAG\n"
	    "skopeo list-tags%s docker://%s/%s/IMAGE\n"
	    "curl%s %s/v2/%s/IMAGE/tags/list\n", cs->cs_host, name, tls,
	    cs->cs_host, name, tls, cs->cs_host, name, tls, cs->cs_host, name,
	    user, cs->cs_base, name);
	if (reg == NULL)
		return;
	if (reg->reg_read_only)
		setup_addf(st, "\n# Registry '%s' is read-only: no push.\n", name);
	else
		client_docker_push(st, cs, name);
	if (client_has_dockerhub(cf, reg))
		client_mirror(st, cf, cs, name);
}

static void
client_docker_push(struct setup *st, const struct client_site *cs,
    const char *name)
{
	const char	*tls = cs->cs_plain ? " --tls-verify=false" : "";

	setup_addf(st, "\n# Tag and push\ndocker tag IMAGE:TAG %s/%s/IMAGE:TAG\n"
	    "docker push %s/%s/IMAGE:TAG\n"
	    "podman push%s IMAGE:TAG %s/%s/IMAGE:TAG\n"
	    "skopeo copy%s docker://docker.io/library/IMAGE:TAG "
	    "docker://%s/%s/IMAGE:TAG\n", cs->cs_host, name, cs->cs_host, name,
	    tls, cs->cs_host, name, cs->cs_plain ? " --dest-tls-verify=false" :
	    "", cs->cs_host, name);
	setup_addf(st, "\n# Helm charts as OCI artifacts\n"
	    "helm push CHART-VERSION.tgz oci://%s/%s%s\n", cs->cs_host, name,
	    cs->cs_plain ? " --plain-http" : "");
}

/* The daemon.json mirror setting, and whether depot.conf allows it. */
static void
client_mirror(struct setup *st, struct config *cf,
    const struct client_site *cs, const char *name)
{
	const char	*mirror = cf->cf_server.srv_mirror_registry;

	setup_addf(st, "\n# Docker Hub mirror: plain 'docker pull IMAGE' through "
	    "depot, with this in\n# /etc/docker/daemon.json (then restart "
	    "docker):\n#   { \"registry-mirrors\": [ \"%s\" ] }\n",
	    cs->cs_base);
	if (mirror != NULL && strcmp(mirror, name) == 0)
		setup_addf(st, "# server.mirror_registry is '%s': this works as is.\n",
		    name);
	else
		setup_addf(st, "# This works only with server.mirror_registry = "
		    "\"%s\"; in depot.conf\n# (it is %s%s%s now).\n", name,
		    mirror != NULL ? "'" : "", mirror != NULL ? mirror :
		    "not set", mirror != NULL ? "'" : "");
}

/*
 * helm and curl lines for a helm registry; a read-only one (a helm
 * upstream key) has no upload and delete lines.
 */
static void
client_helm(struct setup *st, const struct client_site *cs,
    const char *name, int read_only)
{
	setup_addf(st, "# Helm repository '%s' at %s/helm/%s\n"
	    "# Replace RELEASE, CHART and VERSION (and USER) with yours.\n",
	    name, cs->cs_base, name);
	if (cs->cs_guessed)
		setup_addf(st, "# depotd listens on every address; %s is this "
		    "machine's name.\n", cs->cs_host);
	setup_addf(st, "\n# Add the repository\nhelm repo add %s %s/helm/%s%s\n"
	    "helm repo update\nhelm search repo %s/\n", name, cs->cs_base,
	    name, cs->cs_auth ? " --username USER --password-stdin" : "", name);
	setup_addf(st, "\n# Install a chart\nhelm install RELEASE %s/CHART "
	    "--version VERSION\n", name);
	if (read_only) {
		setup_addf(st, "\n# '%s' is read-only: charts are uploaded "
		    "into a hosted helm registry.\n", name);
		return;
	}
	setup_addf(st, "\n# Upload a chart (409 when that version exists), delete "
	    "one\ncurl --fail%s --data-binary @CHART-VERSION.tgz "
	    "%s/helm/%s/api/charts\n"
	    "curl --fail%s -X DELETE %s/helm/%s/api/charts/CHART/VERSION\n",
	    cs->cs_auth ? " -u USER" : "", cs->cs_base, name,
	    cs->cs_auth ? " -u USER" : "", cs->cs_base, name);
}

struct setup *
setup_client(struct config *cf, const char *name, const char *base,
    char **cause)
{
	struct config_registry	*reg;
	struct config_upstream	*up;
	struct client_site	 cs;
	struct setup		*st;

	*cause = NULL;
	reg = config_registry_find(cf, name);
	up = config_upstream_find(cf, name);
	if (reg == NULL && up == NULL) {
		xasprintf(cause, "registry '%s' is not defined", name);
		return (NULL);
	}
	st = xcalloc(1, sizeof(*st));
	st->st_name = xstrdup(name);
	st->st_upstream = reg == NULL;
	st->st_type = xstrdup((reg != NULL ? reg->reg_type : up->up_type) ==
	    REPO_HELM ? "helm" : "docker");
	st->st_text = xstrdup("");
	client_site(cf, base, &cs);
	st->st_base = xstrdup(cs.cs_base);
	st->st_host = xstrdup(cs.cs_host);
	st->st_auth = cs.cs_auth;
	if (reg != NULL && reg->reg_type == REPO_HELM)
		client_helm(st, &cs, name, reg->reg_read_only);
	else if (reg == NULL && up->up_type == REPO_HELM)
		client_helm(st, &cs, name, 1);
	else
		client_docker(st, cf, &cs, name, reg);
	client_site_clear(&cs);
	setup_split(st);
	return (st);
}

void
setup_free(struct setup *st)
{
	size_t	 i;

	if (st == NULL)
		return;
	for (i = 0; i < st->st_count; i++)
		free(st->st_lines[i].sl_text);
	free(st->st_lines);
	for (i = 0; i < st->st_nsections; i++)
		free(st->st_sections[i]);
	free(st->st_sections);
	free(st->st_text);
	free(st->st_name);
	free(st->st_type);
	free(st->st_base);
	free(st->st_host);
	free(st);
}

/* Append formatted text (whole lines) to st's text. */
static void
setup_addf(struct setup *st, const char *fmt, ...)
{
	va_list	 ap;
	char	*s, *all;

	va_start(ap, fmt);
	xvasprintf(&s, fmt, ap);
	va_end(ap);
	xasprintf(&all, "%s%s", st->st_text, s);
	free(st->st_text);
	free(s);
	st->st_text = all;
}

/* Cut st's text into lines and sections. */
static void
setup_split(struct setup *st)
{
	struct setup_line	*sl;
	const char		*p = st->st_text;
	size_t			 n;
	int			 opens = 1;

	while (*p != '\0') {
		n = strcspn(p, "\n");
		st->st_lines = xreallocarray(st->st_lines, st->st_count + 1,
		    sizeof(*st->st_lines));
		sl = &st->st_lines[st->st_count++];
		sl->sl_text = xstrndup(p, n);
		sl->sl_kind = n == 0 ? SETUP_BLANK : *p == '#' ?
		    SETUP_COMMENT : SETUP_COMMAND;
		if (sl->sl_kind == SETUP_COMMENT && opens) {
			st->st_sections = xreallocarray(st->st_sections,
			    st->st_nsections + 1, sizeof(*st->st_sections));
			st->st_sections[st->st_nsections++] =
			    xstrdup(sl->sl_text + strspn(sl->sl_text, "# "));
		}
		opens = sl->sl_kind == SETUP_BLANK;
		sl->sl_section = st->st_nsections > 0 ?
		    st->st_nsections - 1 : 0;
		p += n + (p[n] == '\n');
	}
}
