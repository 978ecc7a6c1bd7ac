/*
 * upload.c: the files of blob upload sessions in the blob store's tmp/
 * (tmp/upload-<id>, with the session's record in the index), the lock a
 * request writing to one holds, and the expiry of abandoned sessions for
 * the master's timer (upload.h). The handlers of the upload endpoints
 * (oci/oci_upload.c) use these.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"
#include "store/blobstore.h"
#include "store/index.h"
#include "store/upload.h"

#define UPLOAD_EXPIRE_BATCH	256

static int	upload_expire_one(struct index *, struct blobstore *,
		    const char *);
static void	upload_expire_orphans(struct index *, struct blobstore *,
		    int64_t);

int
upload_path(struct blobstore *bs, const char *id, char *buf, size_t len)
{
	return (path_fmt(buf, len, "%s/" UPLOAD_FILE_PREFIX "%s",
	    blobstore_tmpdir(bs), id));
}

int
upload_lock(int fd)
{
	struct flock	 fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
#ifdef F_OFD_SETLK
	return (fcntl(fd, F_OFD_SETLK, &fl));
#else
	return (fcntl(fd, F_SETLK, &fl));
#endif
}

int
upload_expire(struct index *ix, struct blobstore *bs, int64_t before)
{
	char	**ids;
	size_t	  count, i;
	int	  removed = 0, progress;

	do {
		if (index_upload_expired(ix, before, UPLOAD_EXPIRE_BATCH, &ids,
		    &count) == -1)
			return (-1);
		progress = 0;
		for (i = 0; i < count; i++)
			if (upload_expire_one(ix, bs, ids[i]) == 1) {
				removed++;
				progress = 1;
			}
		index_strings_free(ids, count);
	} while (count == UPLOAD_EXPIRE_BATCH && progress);
	upload_expire_orphans(ix, bs, before);
	if (removed > 0)
		log_info("expired %d abandoned upload%s", removed,
		    removed == 1 ? "" : "s");
	return (removed);
}

/* Remove one session unless a request holds it. 1 removed, else 0. */
static int
upload_expire_one(struct index *ix, struct blobstore *bs, const char *id)
{
	char	 path[PATH_MAX];
	int	 fd;

	if (upload_path(bs, id, path, sizeof(path)) == -1)
		return (0);
	fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd != -1 && upload_lock(fd) == -1) {
		close(fd);
		return (0);	/* being written right now */
	}
	if (index_upload_delete(ix, id) == -1) {
		if (fd != -1)
			close(fd);
		return (0);
	}
	if (unlink(path) == -1 && errno != ENOENT)
		log_warn("%s: unlink %s", __func__, path);
	if (fd != -1)
		close(fd);
	return (1);
}

/* Upload data files no session knows (a crash between two steps). */
static void
upload_expire_orphans(struct index *ix, struct blobstore *bs, int64_t before)
{
	struct index_upload	 u;
	struct dirent		*de;
	struct stat		 sb;
	const char		*id;
	size_t			 plen = strlen(UPLOAD_FILE_PREFIX);
	DIR			*dir;
	int			 dfd;

	if ((dir = opendir(blobstore_tmpdir(bs))) == NULL) {
		log_warn("%s: %s", __func__, blobstore_tmpdir(bs));
		return;
	}
	dfd = dirfd(dir);
	while ((de = readdir(dir)) != NULL) {
		/*
		 * Temp files of single-request writes (monolithic uploads,
		 * manifests) left by a worker that died: nothing writes to
		 * them once they are this old.
		 */
		if (strncmp(de->d_name, UPLOAD_BLOB_TMP_PREFIX,
		    strlen(UPLOAD_BLOB_TMP_PREFIX)) == 0) {
			if (fstatat(dfd, de->d_name, &sb,
			    AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode) &&
			    (int64_t)sb.st_mtime < before &&
			    unlinkat(dfd, de->d_name, 0) == 0)
				log_info("removed stale temp file %s",
				    de->d_name);
			continue;
		}
		if (strncmp(de->d_name, UPLOAD_FILE_PREFIX, plen) != 0)
			continue;
		id = de->d_name + plen;
		if (*id == '\0' || strlen(id) > UPLOAD_ID_MAX ||
		    fstatat(dfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == -1 ||
		    (int64_t)sb.st_mtime >= before)
			continue;
		if (index_upload_get(ix, id, &u) == 0)
			(void)upload_expire_one(ix, bs, id);
	}
	closedir(dir);
}
