/*
 * upload.h: housekeeping of blob upload sessions (oci_upload.c), for the
 * master's timer.
 */
#ifndef DEPOT_UPLOAD_H
#define DEPOT_UPLOAD_H

#include <stdint.h>

struct index;
struct blobstore;

/*
 * Remove the upload sessions not updated since before (unix seconds) and
 * their data in tmp/, and upload data files older than that without a
 * session. A session a request is writing to right now is left alone.
 * Returns how many sessions were removed, or -1 on an index error.
 */
int	upload_expire(struct index *, struct blobstore *, int64_t before);

#endif /* DEPOT_UPLOAD_H */
