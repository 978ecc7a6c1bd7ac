/*
 * api.h: the read-only JSON API under /api/v1 (registries, upstreams,
 * repositories with their tags, set-up instructions) and the web console
 * under /ui/, whose static files it serves. What a caller is shown is
 * filtered by what it may read, as on /v2/. See depotd(8) and
 * docs/api.md.
 */
#ifndef DEPOT_API_H
#define DEPOT_API_H

struct req;

/* /api/v1 and every path below it. */
void	api_dispatch(struct req *);
/* /ui and every path below it: the console's files. */
void	api_ui(struct req *);

#endif /* DEPOT_API_H */
