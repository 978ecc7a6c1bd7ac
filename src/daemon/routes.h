/*
 * routes.h: what a worker serves: the table that wires its HTTP server
 * (http.h) to the request handlers.
 */
#ifndef DEPOT_ROUTES_H
#define DEPOT_ROUTES_H

struct http_server;

/* Give hs the routes of depot. */
void	routes_install(struct http_server *);

#endif /* DEPOT_ROUTES_H */
