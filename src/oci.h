/*
 * oci.h: the OCI distribution API under /v2/.
 */
#ifndef DEPOT_OCI_H
#define DEPOT_OCI_H

struct req;

/* Entry point for every /v2 path. */
void	oci_dispatch(struct req *);

#endif /* DEPOT_OCI_H */
