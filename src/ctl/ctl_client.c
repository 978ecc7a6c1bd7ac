/*
 * ctl_client.c: depotctl setup-client: the lines a user copies to reach
 * one registry from docker, podman, skopeo, helm or curl, written for
 * this configuration (its public URL or first listen address, whether
 * users must sign in, whether plain http needs client settings, and
 * whether the Docker Hub mirror can work).
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "lib/xmalloc.h"

/* Where clients reach depot. */
struct client_site {
	char	*cs_base;	/* "http://127.0.0.1:5000", no trailing / */
	char	*cs_host;	/* "127.0.0.1:5000": for image references */
	int	 cs_plain;	/* http, not https */
	int	 cs_auth;	/* users must sign in */
	int	 cs_guessed;	/* host name put for a wildcard address */
};

static void	 client_site(struct config *, struct client_site *);
static void	 client_site_clear(struct client_site *);
static int	 client_has_dockerhub(struct config *,
		    struct config_registry *);
static void	 client_docker(struct config *, const struct client_site *,
		    const char *, struct config_registry *);
static void	 client_docker_push(const struct client_site *, const char *);
static void	 client_mirror(struct config *, const struct client_site *,
		    const char *);
static void	 client_helm(const struct client_site *, const char *, int);

/* server.public_url, else http:// and the first listen address. */
static void
client_site(struct config *cf, struct client_site *cs)
{
	struct config_listen	*l = &cf->cf_server.srv_listen[0];
	char			 host[HOST_NAME_MAX + 1];
	const char		*p;

	memset(cs, 0, sizeof(*cs));
	cs->cs_auth = cf->cf_has_access;
	if (cf->cf_server.srv_public_url != NULL)
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
client_docker(struct config *cf, const struct client_site *cs,
    const char *name, struct config_registry *reg)
{
	const char	*tls = cs->cs_plain ? " --tls-verify=false" : "";
	const char	*user = cs->cs_auth ? " -u USER" : "";

	printf("# Docker/OCI %s '%s' at %s\n"
	    "# Replace IMAGE and TAG (and USER) with yours.\n", reg != NULL ?
	    "registry" : "upstream proxy (read-only)", name, cs->cs_base);
	if (cs->cs_guessed)
		printf("# depotd listens on every address; %s is this "
		    "machine's name.\n", cs->cs_host);
	if (cs->cs_plain)
		printf("#\n# Plain http: docker needs this in "
		    "/etc/docker/daemon.json (then restart docker):\n"
		    "#   { \"insecure-registries\": [ \"%s\" ] }\n",
		    cs->cs_host);
	if (cs->cs_auth)
		printf("\n# Sign in\ndocker login %s\npodman login%s %s\n"
		    "skopeo login%s %s\n", cs->cs_host, tls, cs->cs_host, tls,
		    cs->cs_host);
	printf("\n# Pull\ndocker pull %s/%s/IMAGE:TAG\n"
	    "podman pull%s %s/%s/IMAGE:TAG\n"
	    "skopeo inspect%s docker://%s/%s/IMAGE:TAG\n"
	    "skopeo list-tags%s docker://%s/%s/IMAGE\n"
	    "curl%s %s/v2/%s/IMAGE/tags/list\n", cs->cs_host, name, tls,
	    cs->cs_host, name, tls, cs->cs_host, name, tls, cs->cs_host, name,
	    user, cs->cs_base, name);
	if (reg == NULL)
		return;
	if (reg->reg_read_only)
		printf("\n# Registry '%s' is read-only: no push.\n", name);
	else
		client_docker_push(cs, name);
	if (client_has_dockerhub(cf, reg))
		client_mirror(cf, cs, name);
}

static void
client_docker_push(const struct client_site *cs, const char *name)
{
	const char	*tls = cs->cs_plain ? " --tls-verify=false" : "";

	printf("\n# Tag and push\ndocker tag IMAGE:TAG %s/%s/IMAGE:TAG\n"
	    "docker push %s/%s/IMAGE:TAG\n"
	    "podman push%s IMAGE:TAG %s/%s/IMAGE:TAG\n"
	    "skopeo copy%s docker://docker.io/library/IMAGE:TAG "
	    "docker://%s/%s/IMAGE:TAG\n", cs->cs_host, name, cs->cs_host, name,
	    tls, cs->cs_host, name, cs->cs_plain ? " --dest-tls-verify=false" :
	    "", cs->cs_host, name);
	printf("\n# Helm charts as OCI artifacts\n"
	    "helm push CHART-VERSION.tgz oci://%s/%s%s\n", cs->cs_host, name,
	    cs->cs_plain ? " --plain-http" : "");
}

/* The daemon.json mirror setting, and whether depot.conf allows it. */
static void
client_mirror(struct config *cf, const struct client_site *cs,
    const char *name)
{
	const char	*mirror = cf->cf_server.srv_mirror_registry;

	printf("\n# Docker Hub mirror: plain 'docker pull IMAGE' through "
	    "depot, with this in\n# /etc/docker/daemon.json (then restart "
	    "docker):\n#   { \"registry-mirrors\": [ \"%s\" ] }\n",
	    cs->cs_base);
	if (mirror != NULL && strcmp(mirror, name) == 0)
		printf("# server.mirror_registry is '%s': this works as is.\n",
		    name);
	else
		printf("# This works only with server.mirror_registry = "
		    "\"%s\"; in depot.conf\n# (it is %s%s%s now).\n", name,
		    mirror != NULL ? "'" : "", mirror != NULL ? mirror :
		    "not set", mirror != NULL ? "'" : "");
}

/*
 * helm and curl lines for a helm registry; a read-only one (a helm
 * upstream key) has no upload and delete lines.
 */
static void
client_helm(const struct client_site *cs, const char *name, int read_only)
{
	printf("# Helm repository '%s' at %s/helm/%s\n"
	    "# Replace RELEASE, CHART and VERSION (and USER) with yours.\n",
	    name, cs->cs_base, name);
	if (cs->cs_guessed)
		printf("# depotd listens on every address; %s is this "
		    "machine's name.\n", cs->cs_host);
	printf("\n# Add the repository\nhelm repo add %s %s/helm/%s%s\n"
	    "helm repo update\nhelm search repo %s/\n", name, cs->cs_base,
	    name, cs->cs_auth ? " --username USER --password-stdin" : "", name);
	printf("\n# Install a chart\nhelm install RELEASE %s/CHART "
	    "--version VERSION\n", name);
	if (read_only) {
		printf("\n# '%s' is read-only: charts are uploaded into a "
		    "hosted helm registry.\n", name);
		return;
	}
	printf("\n# Upload a chart (409 when that version exists), delete "
	    "one\ncurl --fail%s --data-binary @CHART-VERSION.tgz "
	    "%s/helm/%s/api/charts\n"
	    "curl --fail%s -X DELETE %s/helm/%s/api/charts/CHART/VERSION\n",
	    cs->cs_auth ? " -u USER" : "", cs->cs_base, name,
	    cs->cs_auth ? " -u USER" : "", cs->cs_base, name);
}

int
ctl_setup_client(struct ctl *ctl, const struct ctl_command *cmd, int argc,
    char **argv)
{
	static const struct option	 opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct config_registry		*reg;
	struct config_upstream		*up;
	struct client_site		 cs;
	struct config			*cf;
	const char			*name;

	while (ctl_getopt(argc, argv, opts, cmd) != -1)
		;
	ctl_args_done(argc, argv, cmd, 1, 1);
	name = argv[optind];
	if (ctl_name_check(name, "registry name") != 0 ||
	    (cf = ctl_config(ctl)) == NULL)
		return (CTL_REFUSED);
	reg = config_registry_find(cf, name);
	up = config_upstream_find(cf, name);
	if (reg == NULL && up == NULL)
		return (ctl_refuse("registry '%s' is not defined", name));
	client_site(cf, &cs);
	if (reg != NULL && reg->reg_type == REPO_HELM)
		client_helm(&cs, name, reg->reg_read_only);
	else if (reg == NULL && up->up_type == REPO_HELM)
		client_helm(&cs, name, 1);
	else
		client_docker(cf, &cs, name, reg);
	client_site_clear(&cs);
	return (CTL_OK);
}
