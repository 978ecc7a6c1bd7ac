/*
 * upload.h: the files of blob upload sessions (upload.c), and their
 * housekeeping for the master's timer.
 */
#ifndef DEPOT_UPLOAD_H
#define DEPOT_UPLOAD_H

#include <stdint.h>

#include <stddef.h>

struct index;
struct blobstore;

#define UPLOAD_ID_MAX		64	/* as ref_parse_v2_path */
#define UPLOAD_FILE_PREFIX	"upload-"	/* tmp/upload-<id> */
#define UPLOAD_BLOB_TMP_PREFIX	"blob-"	/* blob_writer's temp files */

/* The path of session id's file into buf. 0, or -1 when too long. */
int	upload_path(struct blobstore *, const char *id, char *buf, size_t len);
/*
 * Take the write lock (an open file description lock) of an open
 * session file without waiting: 0, or -1 when another holds it.
 */
int	upload_lock(int fd);

/*
 * Remove the upload sessions not updated since before (unix seconds) and
 * their data in tmp/, and upload data files older than that without a
 * session. A session a request is writing to right now is left alone.
 * Returns how many sessions were removed, or -1 on an index error.
 */
int	upload_expire(struct index *, struct blobstore *, int64_t before);

#endif /* DEPOT_UPLOAD_H */
