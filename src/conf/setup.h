/*
 * setup.h: the client set-up instructions for one registry or docker
 * upstream key (docker, podman, skopeo, helm and curl lines), as data:
 * depotctl setup-client prints them and GET /api/v1/registries/NAME/setup
 * answers them as JSON, from the one producer here.
 */
#ifndef DEPOT_SETUP_H
#define DEPOT_SETUP_H

#include <stddef.h>

struct config;

enum setup_kind {
	SETUP_BLANK,		/* an empty line between sections */
	SETUP_COMMENT,		/* "# ..." */
	SETUP_COMMAND		/* a line to run */
};

struct setup_line {
	enum setup_kind	 sl_kind;
	char		*sl_text;	/* the line as printed, no newline */
	size_t		 sl_section;	/* index in st_sections */
};

struct setup {
	char			*st_name;
	char			*st_type;	/* "docker" or "helm" */
	int			 st_upstream;	/* a read-only upstream key */
	char			*st_base;	/* "http://host:port", no / */
	char			*st_host;	/* "host:port" */
	int			 st_auth;	/* users must sign in */
	struct setup_line	*st_lines;
	size_t			 st_count;
	/*
	 * Section titles: a comment line at the start or after a blank
	 * line opens a section ("Pull", "Sign in"); the first holds the
	 * heading. Lines before any title are in section 0.
	 */
	char			**st_sections;
	size_t			 st_nsections;
	char			*st_text;	/* every line, as printed */
};

/*
 * The instructions for name, a registry or a docker upstream key, as
 * clients reach depot at base ("https://registry.example.com", no
 * trailing /), or when base is NULL at server.public_url, else http://
 * and the first listen address. NULL with *cause (caller frees) when
 * name is neither, or a helm upstream key.
 */
struct setup	*setup_client(struct config *, const char *name,
		    const char *base, char **cause);
void		 setup_free(struct setup *);

#endif /* DEPOT_SETUP_H */
