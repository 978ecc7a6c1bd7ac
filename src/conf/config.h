/*
 * config.h: depot.conf (libconfig syntax) and depot.d/NAME.conf, parsed and
 * validated into one struct config. Every error names file, line and what
 * is wrong; unknown keys are refused. See depot.conf(5).
 */
#ifndef DEPOT_CONFIG_H
#define DEPOT_CONFIG_H

#include <stddef.h>

#include "conf/ecr_url.h"

/* Where the web console's files are installed (Makefile.am sets it). */
#ifndef DEPOT_UIDIR_DEFAULT
#define DEPOT_UIDIR_DEFAULT	"/usr/local/share/depot/ui"
#endif

enum repo_type {
	REPO_DOCKER,
	REPO_HELM
};

enum upstream_source {
	SOURCE_DOCKERHUB,
	SOURCE_CUSTOM,
	SOURCE_ECR
};

enum auth_type {
	AUTH_ANONYMOUS,
	AUTH_USERPASS,
	AUTH_ACCESS_KEY,
	AUTH_AWS_DEFAULT	/* the AWS SDKs' default credential chain */
};

struct strlist {
	char	**sl_items;
	size_t	  sl_count;
};

struct config_listen {
	char	*l_host;	/* "127.0.0.1", "::1", "0.0.0.0" ... */
	char	*l_port;
	char	*l_text;	/* as written: "[::1]:5000" */
};

struct config_log {
	int	 log_syslog;		/* default 1 */
	char	*log_facility;		/* default "daemon" */
	int	 log_level;		/* LOG_ERR .. LOG_DEBUG, default LOG_INFO */
	char	*log_access_log;	/* path or NULL */
};

struct config_server {
	struct config_listen	*srv_listen;
	size_t			 srv_nlisten;
	int			 srv_workers;		/* 0 = one per CPU */
	char			*srv_user;		/* NULL = do not drop */
	char			*srv_group;
	char			*srv_pidfile;
	char			*srv_data_dir;
	char			*srv_public_url;	/* NULL = from headers */
	struct strlist		 srv_trusted_proxies;
	char			*srv_mirror_registry;	/* NULL = none */
	struct config_log	 srv_log;
	int			 srv_request_timeout;	/* seconds, default 60 */
	int			 srv_shutdown_timeout;	/* seconds, default 30 */
	int			 srv_upload_expiry;	/* seconds, default 86400 */
	int			 srv_gc_interval;	/* seconds, 0 = off */
	int			 srv_gc_grace;		/* seconds, 2 days */
	long long		 srv_max_body;		/* bytes, 0 = no limit */
	long long		 srv_max_chart_size;	/* Helm upload, bytes */
	long long		 srv_cache_max_bytes;	/* all upstreams, 0 = none */
	long long		 srv_min_free_bytes;	/* low-space guard, 0 = off */
	int			 srv_max_connections;	/* per worker, 0 = auto */
	struct strlist		 srv_metrics_read;	/* who may GET /metrics */
	int			 srv_metrics_read_set;	/* else loopback, proxies */
	char			*srv_ui_dir;	/* the console's files */
};

struct config_auth_creds {
	enum auth_type	 cr_type;
	char		*cr_username;
	char		*cr_password;		/* secret: never log */
	char		*cr_access_key_id;
	char		*cr_secret_access_key;	/* secret: never log */
	char		*cr_session_token;	/* secret, or NULL */
};

struct config_upstream {
	char			*up_key;
	enum repo_type		 up_type;
	enum upstream_source	 up_source;
	char			*up_url;	/* NULL for dockerhub default */
	struct config_auth_creds up_auth;
	int			 up_tag_ttl;	/* default 300 */
	int			 up_negative_ttl; /* default 30 */
	int			 up_timeout;	/* default 30 */
	int			 up_min_speed;	/* bytes/s, default 10240 */
	int			 up_speed_window; /* seconds, default timeout */
	long long		 up_max_cache_bytes; /* 0 = no limit */
	char			*up_ca_file;
	int			 up_insecure_tls;
	struct strlist		 up_token_realms; /* extra trusted realms */
	/* source ecr: what up_url names, and the test/advanced overrides. */
	struct ecr_location	 up_ecr;
	char			*up_registry_url;	/* NULL: up_ecr's */
	char			*up_api_url;		/* NULL: up_ecr's */
	char			*up_sts_url;		/* NULL: the region's */
	char			*up_imds_url;		/* NULL: 169.254.169.254 */
	struct strlist		 up_read;	/* default [ "*" ] */
	struct strlist		 up_write;	/* default [ "*" ] */
	char			*up_file;	/* where it was defined */
	int			 up_line;
};

struct config_registry {
	char			*reg_name;
	enum repo_type		 reg_type;
	char			*reg_description;
	struct strlist		 reg_labels;
	struct strlist		 reg_upstreams;	/* keys, in query order */
	int			 reg_read_only;
	struct strlist		 reg_read;	/* default [ "*" ] */
	struct strlist		 reg_write;	/* default [ "*" ] */
	char			*reg_file;
	int			 reg_line;
};

struct config_access {
	char	*acc_users_file;
	char	*acc_token_key_file;
	int	 acc_token_ttl;		/* default 300 */
	char	*acc_token_issuer;	/* default "depot" */
	char	*acc_token_cert_file;
};

struct config {
	char			*cf_path;	/* the main file */
	struct config_server	 cf_server;
	struct config_upstream	*cf_upstreams;
	size_t			 cf_nupstreams;
	struct config_registry	*cf_registries;
	size_t			 cf_nregistries;
	int			 cf_has_access;	/* an auth group exists */
	struct config_access	 cf_access;
};

/*
 * Parse path, then every depot.d/NAME.conf beside it in name order, and
 * validate the whole. Secret files are read here. NULL on error, with
 * *cause (caller frees) holding every error, one "file:line: message"
 * per line.
 */
struct config		*config_load(const char *path, char **cause);
/* The i-th key name config.c accepts, NULL past the last (for tests). */
const char		*config_key_at(size_t);
/*
 * Like config_load, as if depot.d/name (e.g. "registry-x.conf") held the
 * content of candidate_path, or were absent when candidate_path is NULL:
 * a change is checked before it is put in place. Messages about the
 * candidate name depot.d/name, and so do up_file and reg_file.
 */
struct config		*config_load_overlay(const char *path, const char *name,
			    const char *candidate_path, char **cause);
void			 config_free(struct config *);

/* Lookups by name; NULL when absent. */
struct config_registry	*config_registry_find(struct config *, const char *);
struct config_upstream	*config_upstream_find(struct config *, const char *);
/*
 * What the first component of name (a repository name: up to its first
 * '/', or the whole of a name without one) names: a registry (*reg), or
 * else an upstream key (*up); the other is set to NULL. reg or up may be
 * NULL when not wanted. 1 when it names one of them, 0 when neither.
 */
int	config_name_find(struct config *, const char *name,
	    struct config_registry **reg, struct config_upstream **up);

const char		*config_repo_type_name(enum repo_type);
const char		*config_source_name(enum upstream_source);
const char		*config_auth_type_name(enum auth_type);

#endif /* DEPOT_CONFIG_H */
