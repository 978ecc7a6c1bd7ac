/*
 * blobstore_test.c: unit tests for the blob directory: write, verify,
 * commit, concurrent commits from several processes, commit of an upload
 * file, and fetch claims across processes.
 */
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/blobstore.h"
#include "lib/digest.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "check_main.h"

#define TEST_CHILDREN		8
#define TEST_BIG		(1024 * 1024)
#define TEST_WAIT_MS		60000
#define TEST_SIGNAL_MS		30000

static char		 test_root[PATH_MAX];	/* removed by main() */
static char		 test_dir[PATH_MAX];	/* one per test, inside */
static struct blobstore	*test_bs;

static void	 test_setup(void);
static void	 test_teardown(void);
static int	 test_rm_cb(const char *, const struct stat *, int,
		    struct FTW *);
static int	 test_count(const char *);
static int	 test_blob_count(enum digest_alg, const struct digest *);
static void	 test_fill(unsigned char *, size_t, unsigned int);
static int	 test_blob_equals(const struct digest *, const void *, size_t);
static int	 test_send(int);
static int	 test_recv(int, int);
static int	 test_wait(pid_t *, int, int);
static void	 test_write_file(const char *, const void *, size_t);
static int	 test_child_commit(unsigned int, const unsigned char *, size_t,
		    const struct digest *, int);
static int	 test_child_claim(const struct digest *, off_t, int, int);
static int	 test_child_write_fail(void);
static Suite	*blobstore_suite(void);

/*
 * Each test gets a fresh data directory under test_root. A failed test
 * skips its teardown; main() removes test_root in the end anyway.
 */
static void
test_setup(void)
{
	char	*cause = NULL;

	ck_assert_int_eq(path_fmt(test_dir, sizeof(test_dir), "%s/XXXXXX",
	    test_root), 0);
	ck_assert_ptr_nonnull(mkdtemp(test_dir));
	test_bs = blobstore_open(test_dir, &cause);
	ck_assert_msg(test_bs != NULL, "blobstore_open: %s", cause);
}

static int
test_rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return (remove(path));
}

static void
test_teardown(void)
{
	blobstore_free(test_bs);
	test_bs = NULL;
	(void)nftw(test_dir, test_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Entries in a directory, -1 when it cannot be read. */
static int
test_count(const char *dir)
{
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	if ((d = opendir(dir)) == NULL)
		return (-1);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return (n);
}

/* Files in the blob directory that would hold d. */
static int
test_blob_count(enum digest_alg alg, const struct digest *d)
{
	char	 dir[PATH_MAX];

	ck_assert_int_eq(path_fmt(dir, sizeof(dir), "%s/blobs/%s/%.2s",
	    test_dir, digest_alg_name(alg), d->hex), 0);
	return (test_count(dir));
}

static void
test_fill(unsigned char *buf, size_t len, unsigned int seed)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		buf[i] = (unsigned char)(rand_r(&seed) >> 7);
}

/* True when the committed blob d holds exactly buf. */
static int
test_blob_equals(const struct digest *d, const void *buf, size_t len)
{
	unsigned char	*got;
	off_t		 size;
	ssize_t		 n;
	int		 fd, ok;

	if (blobstore_open_blob(test_bs, d, &fd, &size) == -1)
		return (0);
	if (size != (off_t)len) {
		close(fd);
		return (0);
	}
	got = xmalloc(len + 1);
	n = read(fd, got, len + 1);
	ok = (n == (ssize_t)len && memcmp(got, buf, len) == 0);
	free(got);
	close(fd);
	return (ok);
}

static int
test_send(int fd)
{
	return (write(fd, "x", 1) == 1 ? 0 : -1);
}

/* Wait (bounded) for one byte on fd. 0, or -1 on timeout, EOF or error. */
static int
test_recv(int fd, int timeout_ms)
{
	struct pollfd	 pfd;
	char		 c;

	pfd.fd = fd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, timeout_ms) != 1)
		return (-1);
	return (read(fd, &c, 1) == 1 ? 0 : -1);
}

/*
 * Reap n children within timeout_ms; kill whatever is left. Returns how
 * many exited with status 0.
 */
static int
test_wait(pid_t *pids, int n, int timeout_ms)
{
	long long	 deadline;
	struct timespec	 ts = { 0, 10 * 1000 * 1000 };
	int		 i, left = n, ok = 0, status;
	pid_t		 pid;

	deadline = now_ms() + timeout_ms;
	while (left > 0 && now_ms() < deadline) {
		pid = waitpid(-1, &status, WNOHANG);
		if (pid == 0) {
			nanosleep(&ts, NULL);
			continue;
		}
		if (pid == -1)
			break;
		for (i = 0; i < n; i++) {
			if (pids[i] != pid)
				continue;
			pids[i] = -1;
			left--;
			if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
				ok++;
		}
	}
	for (i = 0; i < n; i++) {
		if (pids[i] == -1)
			continue;
		kill(pids[i], SIGKILL);
		(void)waitpid(pids[i], &status, 0);
	}
	return (ok);
}

static void
test_write_file(const char *path, const void *buf, size_t len)
{
	int	 fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write_all(fd, buf, len), 0);
	ck_assert_int_eq(close(fd), 0);
}

START_TEST(test_round_trip)
{
	unsigned char		 buf[100000], back[100001];
	struct blob_writer	*w;
	struct digest		 want, got;
	struct stat		 sb;
	char			 path[PATH_MAX], expect[PATH_MAX];
	char			*cause = NULL;
	off_t			 size;
	int			 fd;

	test_fill(buf, sizeof(buf), 1);
	digest_buffer(DIGEST_SHA256, buf, sizeof(buf), &want);

	w = blob_writer_create(test_bs, DIGEST_SHA256, &cause);
	ck_assert_msg(w != NULL, "create: %s", cause);
	ck_assert_int_eq(blob_writer_write(w, buf, 10), 0);
	ck_assert_int_eq(blob_writer_write(w, buf + 10, 0), 0);
	ck_assert_int_eq(blob_writer_write(w, buf + 10, sizeof(buf) - 10), 0);
	ck_assert_int_eq(blob_writer_size(w), sizeof(buf));
	ck_assert_int_eq(test_count(blobstore_tmpdir(test_bs)), 1);
	ck_assert_int_eq(blobstore_stat(test_bs, &want, NULL), 0);
	ck_assert_msg(blob_writer_commit(w, &want, &got, &cause) == 0,
	    "commit: %s", cause);
	ck_assert(digest_equal(&want, &got));
	ck_assert_int_eq(test_count(blobstore_tmpdir(test_bs)), 0);

	ck_assert_int_eq(blobstore_path(test_bs, &want, path, sizeof(path)),
	    0);
	ck_assert_int_eq(path_fmt(expect, sizeof(expect),
	    "%s/blobs/sha256/%.2s/%s", test_dir, want.hex, want.hex), 0);
	ck_assert_str_eq(path, expect);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 07777, 0640);
	ck_assert_int_eq(blobstore_path(test_bs, &want, path, 20), -1);

	size = 0;
	ck_assert_int_eq(blobstore_stat(test_bs, &want, &size), 1);
	ck_assert_int_eq(size, sizeof(buf));
	ck_assert_int_eq(blobstore_open_blob(test_bs, &want, &fd, &size), 0);
	ck_assert_int_eq(size, sizeof(buf));
	ck_assert_int_eq(read(fd, back, sizeof(back)), sizeof(buf));
	ck_assert_int_eq(memcmp(back, buf, sizeof(buf)), 0);
	ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
	close(fd);

	ck_assert_int_eq(blobstore_delete(test_bs, &want), 0);
	ck_assert_int_eq(blobstore_stat(test_bs, &want, NULL), 0);
	ck_assert_int_eq(blobstore_delete(test_bs, &want), 0);
	errno = 0;
	ck_assert_int_eq(blobstore_open_blob(test_bs, &want, &fd, &size), -1);
	ck_assert_int_eq(errno, ENOENT);

	/* Without an expected digest the computed one is trusted. */
	w = blob_writer_create(test_bs, DIGEST_SHA256, &cause);
	ck_assert_ptr_nonnull(w);
	ck_assert_int_eq(blob_writer_write(w, buf, sizeof(buf)), 0);
	ck_assert_int_eq(blob_writer_commit(w, NULL, &got, &cause), 0);
	ck_assert(digest_equal(&want, &got));
	ck_assert(test_blob_equals(&want, buf, sizeof(buf)));

	/* The empty blob. */
	digest_buffer(DIGEST_SHA256, "", 0, &want);
	w = blob_writer_create(test_bs, DIGEST_SHA256, &cause);
	ck_assert_ptr_nonnull(w);
	ck_assert_int_eq(blob_writer_commit(w, &want, NULL, &cause), 0);
	ck_assert_int_eq(blobstore_stat(test_bs, &want, &size), 1);
	ck_assert_int_eq(size, 0);
}
END_TEST

START_TEST(test_mismatch)
{
	const char		 data[] = "some content", other[] = "other";
	struct blob_writer	*w;
	struct digest		 real, wrong, got;
	char			 rs[DIGEST_STRING_MAX], ws[DIGEST_STRING_MAX];
	char			 msg[2 * DIGEST_STRING_MAX + 64];
	char			*cause = NULL;

	digest_buffer(DIGEST_SHA256, data, strlen(data), &real);
	digest_buffer(DIGEST_SHA256, other, strlen(other), &wrong);
	digest_format(&real, rs, sizeof(rs));
	digest_format(&wrong, ws, sizeof(ws));

	w = blob_writer_create(test_bs, DIGEST_SHA256, &cause);
	ck_assert_ptr_nonnull(w);
	ck_assert_int_eq(blob_writer_write(w, data, strlen(data)), 0);
	ck_assert_int_eq(blob_writer_commit(w, &wrong, &got, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	snprintf(msg, sizeof(msg), "digest mismatch: expected %s, got %s",
	    ws, rs);
	ck_assert_str_eq(cause, msg);
	free(cause);
	cause = NULL;
	ck_assert(digest_equal(&got, &real));
	ck_assert_int_eq(blobstore_stat(test_bs, &real, NULL), 0);
	ck_assert_int_eq(blobstore_stat(test_bs, &wrong, NULL), 0);
	ck_assert_int_eq(test_count(blobstore_tmpdir(test_bs)), 0);
	ck_assert_int_le(test_blob_count(DIGEST_SHA256, &real), 0);

	/* Same bytes, other algorithm: still a mismatch. */
	digest_buffer(DIGEST_SHA512, data, strlen(data), &wrong);
	w = blob_writer_create(test_bs, DIGEST_SHA256, &cause);
	ck_assert_ptr_nonnull(w);
	ck_assert_int_eq(blob_writer_write(w, data, strlen(data)), 0);
	ck_assert_int_eq(blob_writer_commit(w, &wrong, NULL, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "digest mismatch"));
	free(cause);
	ck_assert_int_eq(blobstore_stat(test_bs, &real, NULL), 0);
	ck_assert_int_eq(blobstore_stat(test_bs, &wrong, NULL), 0);
	ck_assert_int_eq(test_count(blobstore_tmpdir(test_bs)), 0);
}
END_TEST

START_TEST(test_abort)
{
	const char		 data[] = "abandoned";
	struct blob_writer	*w;
	struct digest		 d;
	char			*cause = NULL;

	digest_buffer(DIGEST_SHA256, data, strlen(data), &d);
	w = blob_writer_create(test_bs, DIGEST_SHA256, &cause);
	ck_assert_ptr_nonnull(w);
	ck_assert_int_eq(blob_writer_write(w, data, strlen(data)), 0);
	ck_assert_int_eq(test_count(blobstore_tmpdir(test_bs)), 1);
	blob_writer_abort(w);
	blob_writer_abort(NULL);
	ck_assert_int_eq(test_count(blobstore_tmpdir(test_bs)), 0);
	ck_assert_int_eq(blobstore_stat(test_bs, &d, NULL), 0);
}
END_TEST

/*
 * In a child with a small file size limit: a write that fails part way
 * makes the writer refuse to commit, and the commit cleans up.
 */
static int
test_child_write_fail(void)
{
	unsigned char		 buf[8192];
	struct blob_writer	*w;
	struct rlimit		 rl;
	char			*cause = NULL;

	memset(buf, 'z', sizeof(buf));
	signal(SIGXFSZ, SIG_IGN);
	rl.rlim_cur = rl.rlim_max = 4096;
	if (setrlimit(RLIMIT_FSIZE, &rl) == -1)
		return (1);
	if ((w = blob_writer_create(test_bs, DIGEST_SHA256, &cause)) == NULL)
		return (2);
	if (blob_writer_write(w, buf, sizeof(buf)) != -1)
		return (3);
	if (blob_writer_write(w, buf, 1) != -1)
		return (4);
	if (blob_writer_commit(w, NULL, NULL, &cause) != -1 || cause == NULL)
		return (5);
	if (test_count(blobstore_tmpdir(test_bs)) != 0)
		return (6);
	return (0);
}

START_TEST(test_write_failure)
{
	pid_t	 pid;

	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0)
		_exit(test_child_write_fail());
	ck_assert_int_eq(test_wait(&pid, 1, TEST_WAIT_MS), 1);
	ck_assert_int_eq(test_count(blobstore_tmpdir(test_bs)), 0);
}
END_TEST

START_TEST(test_twice_interleaved)
{
	unsigned char		 buf[50000];
	struct blob_writer	*w1, *w2;
	struct digest		 d, got1, got2;
	char			*cause = NULL;
	size_t			 off, n;

	test_fill(buf, sizeof(buf), 2);
	digest_buffer(DIGEST_SHA256, buf, sizeof(buf), &d);
	w1 = blob_writer_create(test_bs, DIGEST_SHA256, &cause);
	w2 = blob_writer_create(test_bs, DIGEST_SHA256, &cause);
	ck_assert_ptr_nonnull(w1);
	ck_assert_ptr_nonnull(w2);
	ck_assert_int_eq(test_count(blobstore_tmpdir(test_bs)), 2);
	for (off = 0; off < sizeof(buf); off += n) {
		n = sizeof(buf) - off < 777 ? sizeof(buf) - off : 777;
		ck_assert_int_eq(blob_writer_write(w1, buf + off, n), 0);
		ck_assert_int_eq(blob_writer_write(w2, buf + off, n), 0);
	}
	ck_assert_msg(blob_writer_commit(w1, &d, &got1, &cause) == 0,
	    "first commit: %s", cause);
	ck_assert_msg(blob_writer_commit(w2, &d, &got2, &cause) == 0,
	    "second commit: %s", cause);
	ck_assert(digest_equal(&got1, &d));
	ck_assert(digest_equal(&got2, &d));
	ck_assert_int_eq(test_blob_count(DIGEST_SHA256, &d), 1);
	ck_assert_int_eq(test_count(blobstore_tmpdir(test_bs)), 0);
	ck_assert(test_blob_equals(&d, buf, sizeof(buf)));
}
END_TEST

/* One committing child: wait for the start signal, write, commit. */
static int
test_child_commit(unsigned int seed, const unsigned char *buf, size_t len,
    const struct digest *d, int start)
{
	struct blob_writer	*w;
	struct pollfd		 pfd;
	char			*cause = NULL;
	size_t			 off, n;

	/* EOF on the pipe (the parent closed it) is the start signal. */
	pfd.fd = start;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, TEST_SIGNAL_MS) != 1)
		return (4);
	if ((w = blob_writer_create(test_bs, DIGEST_SHA256, &cause)) == NULL)
		return (1);
	for (off = 0; off < len; off += n) {
		n = 1 + (size_t)rand_r(&seed) % 4096;
		if (n > len - off)
			n = len - off;
		if (blob_writer_write(w, buf + off, n) == -1) {
			blob_writer_abort(w);
			return (2);
		}
	}
	if (blob_writer_commit(w, d, NULL, &cause) == -1) {
		fprintf(stderr, "child commit: %s\n", cause);
		return (3);
	}
	return (0);
}

START_TEST(test_multi_process)
{
	unsigned char	*buf;
	struct digest	 d;
	pid_t		 pids[TEST_CHILDREN];
	int		 start[2], i;

	buf = xmalloc(TEST_BIG);
	test_fill(buf, TEST_BIG, 3);
	digest_buffer(DIGEST_SHA256, buf, TEST_BIG, &d);
	ck_assert_int_eq(pipe(start), 0);
	for (i = 0; i < TEST_CHILDREN; i++) {
		pids[i] = fork();
		ck_assert_int_ne(pids[i], -1);
		if (pids[i] == 0) {
			close(start[1]);
			_exit(test_child_commit(100 + (unsigned int)i, buf,
			    TEST_BIG, &d, start[0]));
		}
	}
	close(start[0]);
	/* Closing the write end releases every child at once. */
	close(start[1]);
	ck_assert_int_eq(test_wait(pids, TEST_CHILDREN, TEST_WAIT_MS),
	    TEST_CHILDREN);
	ck_assert_int_eq(test_blob_count(DIGEST_SHA256, &d), 1);
	ck_assert(test_blob_equals(&d, buf, TEST_BIG));
	ck_assert_int_eq(test_count(blobstore_tmpdir(test_bs)), 0);
	free(buf);
}
END_TEST

START_TEST(test_commit_file)
{
	const char	 data[] = "uploaded in pieces";
	struct digest	 d, wrong;
	char		 path[PATH_MAX], outside[PATH_MAX], bad[PATH_MAX];
	char		*cause = NULL;

	digest_buffer(DIGEST_SHA256, data, strlen(data), &d);
	digest_buffer(DIGEST_SHA256, "x", 1, &wrong);
	ck_assert_int_eq(path_fmt(path, sizeof(path), "%s/upload-1",
	    blobstore_tmpdir(test_bs)), 0);

	/* Mismatch: nothing stored, the file is left for the caller. */
	test_write_file(path, data, strlen(data));
	ck_assert_int_eq(blobstore_commit_file(test_bs, path, &wrong, &cause),
	    -1);
	ck_assert_ptr_nonnull(strstr(cause, "digest mismatch"));
	free(cause);
	cause = NULL;
	ck_assert_int_eq(access(path, F_OK), 0);
	ck_assert_int_eq(blobstore_stat(test_bs, &d, NULL), 0);
	ck_assert_int_eq(blobstore_stat(test_bs, &wrong, NULL), 0);

	/* Success: stored, the temp file is gone. */
	ck_assert_msg(blobstore_commit_file(test_bs, path, &d, &cause) == 0,
	    "commit_file: %s", cause);
	ck_assert_int_eq(access(path, F_OK), -1);
	ck_assert(test_blob_equals(&d, data, strlen(data)));
	ck_assert_int_eq(test_count(blobstore_tmpdir(test_bs)), 0);

	/* Again with the blob already present. */
	test_write_file(path, data, strlen(data));
	ck_assert_int_eq(blobstore_commit_file(test_bs, path, &d, &cause), 0);
	ck_assert_int_eq(test_count(blobstore_tmpdir(test_bs)), 0);
	ck_assert_int_eq(test_blob_count(DIGEST_SHA256, &d), 1);
	ck_assert_int_eq(blobstore_delete(test_bs, &d), 0);

	/* Paths outside tmp/ are refused and left alone. */
	ck_assert_int_eq(path_fmt(outside, sizeof(outside), "%s/outside",
	    test_dir), 0);
	test_write_file(outside, data, strlen(data));
	ck_assert_int_eq(blobstore_commit_file(test_bs, outside, &d, &cause),
	    -1);
	free(cause);
	cause = NULL;
	ck_assert_int_eq(path_fmt(bad, sizeof(bad), "%s/../outside",
	    blobstore_tmpdir(test_bs)), 0);
	ck_assert_int_eq(blobstore_commit_file(test_bs, bad, &d, NULL), -1);
	ck_assert_int_eq(path_fmt(bad, sizeof(bad), "%s/..",
	    blobstore_tmpdir(test_bs)), 0);
	ck_assert_int_eq(blobstore_commit_file(test_bs, bad, &d, NULL), -1);
	ck_assert_int_eq(path_fmt(bad, sizeof(bad), "%s/",
	    blobstore_tmpdir(test_bs)), 0);
	ck_assert_int_eq(blobstore_commit_file(test_bs, bad, &d, NULL), -1);
	ck_assert_int_eq(path_fmt(bad, sizeof(bad), "%sx/upload",
	    blobstore_tmpdir(test_bs)), 0);
	ck_assert_int_eq(blobstore_commit_file(test_bs, bad, &d, NULL), -1);
	ck_assert_int_eq(blobstore_commit_file(test_bs, "upload-1", &d, NULL),
	    -1);
	/* A symlink in tmp/ pointing outside is refused too. */
	ck_assert_int_eq(path_fmt(bad, sizeof(bad), "%s/link",
	    blobstore_tmpdir(test_bs)), 0);
	ck_assert_int_eq(symlink(outside, bad), 0);
	ck_assert_int_eq(blobstore_commit_file(test_bs, bad, &d, NULL), -1);
	ck_assert_int_eq(blobstore_stat(test_bs, &d, NULL), 0);
	ck_assert_int_eq(access(outside, F_OK), 0);
	/* A missing file is an error. */
	ck_assert_int_eq(blobstore_commit_file(test_bs, path, &d, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	free(cause);
}
END_TEST

START_TEST(test_commit_hashed)
{
	const char	 data[] = "hashed as it arrived";
	struct digest	 d;
	char		 path[PATH_MAX], outside[PATH_MAX], bad[PATH_MAX];
	char		*cause = NULL;

	digest_buffer(DIGEST_SHA256, data, strlen(data), &d);
	ck_assert_int_eq(path_fmt(path, sizeof(path), "%s/upload-2",
	    blobstore_tmpdir(test_bs)), 0);

	/* Stored under the caller's digest, the temp file is gone. */
	test_write_file(path, data, strlen(data));
	ck_assert_msg(blobstore_commit_hashed(test_bs, path, &d, &cause) == 0,
	    "commit_hashed: %s", cause);
	ck_assert_int_eq(access(path, F_OK), -1);
	ck_assert(test_blob_equals(&d, data, strlen(data)));
	ck_assert_int_eq(test_count(blobstore_tmpdir(test_bs)), 0);

	/* Again with the blob already present. */
	test_write_file(path, data, strlen(data));
	ck_assert_int_eq(blobstore_commit_hashed(test_bs, path, &d, NULL), 0);
	ck_assert_int_eq(test_count(blobstore_tmpdir(test_bs)), 0);
	ck_assert_int_eq(test_blob_count(DIGEST_SHA256, &d), 1);
	ck_assert_int_eq(blobstore_delete(test_bs, &d), 0);

	/* Outside tmp/, symlinks and missing files are refused. */
	ck_assert_int_eq(path_fmt(outside, sizeof(outside), "%s/outside2",
	    test_dir), 0);
	test_write_file(outside, data, strlen(data));
	ck_assert_int_eq(blobstore_commit_hashed(test_bs, outside, &d, NULL),
	    -1);
	ck_assert_int_eq(path_fmt(bad, sizeof(bad), "%s/link2",
	    blobstore_tmpdir(test_bs)), 0);
	ck_assert_int_eq(symlink(outside, bad), 0);
	ck_assert_int_eq(blobstore_commit_hashed(test_bs, bad, &d, NULL), -1);
	ck_assert_int_eq(blobstore_commit_hashed(test_bs, path, &d, &cause),
	    -1);
	ck_assert_ptr_nonnull(cause);
	free(cause);
	ck_assert_int_eq(blobstore_stat(test_bs, &d, NULL), 0);
	ck_assert_int_eq(unlink(bad), 0);
}
END_TEST

/*
 * The other process: once the parent holds the claim and wrote half, it
 * must lose the claim and see the fetch running; once the parent has
 * committed, it must see the blob and no fetch. Exit code names the step.
 */
static int
test_child_claim(const struct digest *d, off_t half, int in, int out)
{
	struct blob_writer	*w = NULL;
	struct stat		 sb;
	char			*cause = NULL;
	int			 fd;

	if (test_recv(in, TEST_SIGNAL_MS) == -1)
		return (10);
	if (blobstore_claim_fetch(test_bs, d, &w, &cause) != 0 || w != NULL)
		return (11);
	if (blobstore_fetch_active(test_bs, d) != 1)
		return (12);
	if (blobstore_part_open(test_bs, d, &fd) == -1)
		return (13);
	if (fstat(fd, &sb) == -1 || sb.st_size != half)
		return (14);
	close(fd);
	if (blobstore_fetch_active(test_bs, d) != 1)
		return (15);
	if (blobstore_stat(test_bs, d, NULL) != 0)
		return (16);
	if (test_send(out) == -1)
		return (17);

	if (test_recv(in, TEST_SIGNAL_MS) == -1)
		return (20);
	if (blobstore_stat(test_bs, d, NULL) != 1)
		return (21);
	if (blobstore_fetch_active(test_bs, d) != 0)
		return (22);
	if (blobstore_part_open(test_bs, d, &fd) != -1 || errno != ENOENT)
		return (23);
	/* The blob is there: nothing to claim, no part file left behind. */
	if (blobstore_claim_fetch(test_bs, d, &w, &cause) != 0 || w != NULL)
		return (24);
	if (blobstore_part_open(test_bs, d, &fd) != -1)
		return (25);
	return (0);
}

START_TEST(test_claim_fetch)
{
	unsigned char		 buf[200000];
	struct blob_writer	*w = NULL;
	struct digest		 d, got;
	char			*cause = NULL;
	pid_t			 pid;
	int			 p2c[2], c2p[2], fd;
	off_t			 half = sizeof(buf) / 2;

	test_fill(buf, sizeof(buf), 4);
	digest_buffer(DIGEST_SHA256, buf, sizeof(buf), &d);
	ck_assert_int_eq(blobstore_fetch_active(test_bs, &d), 0);
	ck_assert_int_eq(pipe(p2c), 0);
	ck_assert_int_eq(pipe(c2p), 0);
	/* Fork before claiming: the child must not share our descriptors. */
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		close(p2c[1]);
		close(c2p[0]);
		_exit(test_child_claim(&d, half, p2c[0], c2p[1]));
	}
	close(p2c[0]);
	close(c2p[1]);

	ck_assert_msg(blobstore_claim_fetch(test_bs, &d, &w, &cause) == 1,
	    "claim: %s", cause);
	ck_assert_ptr_nonnull(w);
	ck_assert_int_eq(blob_writer_write(w, buf, (size_t)half), 0);
#ifdef F_OFD_SETLK
	/* Open file description locks also exclude this process. */
	ck_assert_int_eq(blobstore_fetch_active(test_bs, &d), 1);
	{
		struct blob_writer	*w2 = NULL;

		ck_assert_int_eq(blobstore_claim_fetch(test_bs, &d, &w2,
		    &cause), 0);
		ck_assert_ptr_null(w2);
	}
	ck_assert_int_eq(blobstore_part_open(test_bs, &d, &fd), 0);
	close(fd);
	ck_assert_int_eq(blobstore_fetch_active(test_bs, &d), 1);
#endif
	ck_assert_int_eq(test_send(p2c[1]), 0);
	ck_assert_int_eq(test_recv(c2p[0], TEST_SIGNAL_MS), 0);

	ck_assert_int_eq(blob_writer_write(w, buf + half,
	    sizeof(buf) - (size_t)half), 0);
	ck_assert_msg(blob_writer_commit(w, NULL, &got, &cause) == 0,
	    "commit: %s", cause);
	ck_assert(digest_equal(&got, &d));
	ck_assert_int_eq(blobstore_part_open(test_bs, &d, &fd), -1);
	ck_assert_int_eq(test_send(p2c[1]), 0);
	ck_assert_int_eq(test_wait(&pid, 1, TEST_WAIT_MS), 1);

	ck_assert(test_blob_equals(&d, buf, sizeof(buf)));
	ck_assert_int_eq(blobstore_fetch_active(test_bs, &d), 0);
	ck_assert_int_eq(test_count(blobstore_tmpdir(test_bs)), 0);
	close(p2c[1]);
	close(c2p[0]);
}
END_TEST

START_TEST(test_claim_abort)
{
	const char		 data[] = "fetched from upstream";
	struct blob_writer	*w = NULL;
	struct digest		 d;
	struct stat		 sb;
	char			 part[PATH_MAX];
	char			*cause = NULL;
	int			 fd;

	digest_buffer(DIGEST_SHA256, data, strlen(data), &d);

	/* Abort: no part file, no lock, no blob. */
	ck_assert_int_eq(blobstore_claim_fetch(test_bs, &d, &w, &cause), 1);
	ck_assert_int_eq(blob_writer_write(w, data, 5), 0);
	blob_writer_abort(w);
	ck_assert_int_eq(blobstore_fetch_active(test_bs, &d), 0);
	ck_assert_int_eq(blobstore_part_open(test_bs, &d, &fd), -1);
	ck_assert_int_eq(blobstore_stat(test_bs, &d, NULL), 0);
	ck_assert_int_eq(test_count(blobstore_tmpdir(test_bs)), 0);

	/* Wrong bytes: the commit fails against the claimed digest. */
	ck_assert_int_eq(blobstore_claim_fetch(test_bs, &d, &w, &cause), 1);
	ck_assert_int_eq(blob_writer_write(w, "garbage", 7), 0);
	ck_assert_int_eq(blob_writer_commit(w, NULL, NULL, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "digest mismatch"));
	free(cause);
	cause = NULL;
	ck_assert_int_eq(blobstore_fetch_active(test_bs, &d), 0);
	ck_assert_int_eq(blobstore_stat(test_bs, &d, NULL), 0);
	ck_assert_int_eq(test_count(blobstore_tmpdir(test_bs)), 0);

	/* A stale part file left by a dead fetcher is taken over and emptied. */
	ck_assert_int_eq(path_fmt(part, sizeof(part), "%s/sha256-%s.part",
	    blobstore_tmpdir(test_bs), d.hex), 0);
	test_write_file(part, "stale bytes", 11);
	ck_assert_int_eq(blobstore_fetch_active(test_bs, &d), 0);
	ck_assert_int_eq(blobstore_claim_fetch(test_bs, &d, &w, &cause), 1);
	ck_assert_int_eq(stat(part, &sb), 0);
	ck_assert_int_eq(sb.st_size, 0);
	ck_assert_int_eq(blob_writer_write(w, data, strlen(data)), 0);
	ck_assert_int_eq(blob_writer_commit(w, &d, NULL, &cause), 0);
	ck_assert(test_blob_equals(&d, data, strlen(data)));
	ck_assert_int_eq(access(part, F_OK), -1);

	/* Committed: nothing left to claim. */
	ck_assert_int_eq(blobstore_claim_fetch(test_bs, &d, &w, &cause), 0);
	ck_assert_ptr_null(w);
	ck_assert_int_eq(test_count(blobstore_tmpdir(test_bs)), 0);
}
END_TEST

/*
 * A fetch that takes over a stale part file starts on a new file: a
 * reader of the old one keeps its bytes and sees it unlinked, so it can
 * never send an old prefix followed by the new fetch's tail.
 */
START_TEST(test_claim_stale_reader)
{
	const char		 data[] = "fetched from upstream";
	struct blob_writer	*w = NULL;
	struct digest		 d;
	struct stat		 rsb, psb;
	char			 part[PATH_MAX], size[PATH_MAX];
	char			 owner[BLOBSTORE_OWNER_MAX + 1];
	char			*cause = NULL;
	off_t			 len;
	int			 reader;

	digest_buffer(DIGEST_SHA256, data, strlen(data), &d);
	ck_assert_int_eq(path_fmt(part, sizeof(part), "%s/sha256-%s.part",
	    blobstore_tmpdir(test_bs), d.hex), 0);
	ck_assert_int_eq(path_fmt(size, sizeof(size), "%s/sha256-%s.size",
	    blobstore_tmpdir(test_bs), d.hex), 0);
	test_write_file(part, "stale bytes", 11);
	test_write_file(size, "11\nother/repo\n", 14);
	ck_assert_int_eq(blobstore_part_open(test_bs, &d, &reader), 0);

	ck_assert_int_eq(blobstore_claim_fetch(test_bs, &d, &w, &cause), 1);
	/* The stale side file is gone with the stale part. */
	ck_assert_int_eq(blobstore_part_size_get(test_bs, &d, &len, NULL, 0),
	    0);
	ck_assert_int_eq(fstat(reader, &rsb), 0);
	ck_assert_int_eq(rsb.st_size, 11);
	ck_assert_int_eq(rsb.st_nlink, 0);
	ck_assert_int_eq(stat(part, &psb), 0);
	ck_assert_int_eq(psb.st_size, 0);
	ck_assert(psb.st_ino != rsb.st_ino);
	ck_assert_int_eq(blobstore_same_file(test_bs, &d, reader, 1), 0);
	ck_assert_int_eq(blobstore_fetch_active(test_bs, &d), 1);

	/* Size and owner go to readers together. */
	ck_assert_int_eq(blobstore_part_size_set(w, (off_t)strlen(data),
	    "reg/team/app"), 0);
	ck_assert_int_eq(blobstore_part_size_get(test_bs, &d, &len, owner,
	    sizeof(owner)), 1);
	ck_assert_int_eq(len, (off_t)strlen(data));
	ck_assert_str_eq(owner, "reg/team/app");
	ck_assert_int_eq(blobstore_part_size_get(test_bs, &d, &len, owner, 4),
	    -1);

	ck_assert_int_eq(blob_writer_write(w, data, strlen(data)), 0);
	ck_assert_int_eq(blob_writer_commit(w, &d, NULL, &cause), 0);
	/* The old reader's file is not the committed blob. */
	ck_assert_int_eq(blobstore_same_file(test_bs, &d, reader, 0), 0);
	ck_assert_int_eq(fstat(reader, &rsb), 0);
	ck_assert_int_eq(rsb.st_size, 11);
	close(reader);
	ck_assert(test_blob_equals(&d, data, strlen(data)));
	ck_assert_int_eq(test_count(blobstore_tmpdir(test_bs)), 0);
}
END_TEST

/*
 * Flush jobs of a claimed part file: only past min, up to an aligned end,
 * never twice for the same bytes; run and freed, they leave the claim
 * held, and one outliving an abort neither fails nor keeps the claim.
 */
START_TEST(test_claim_flush)
{
	struct blob_writer	*w;
	struct blob_flush	*f;
	struct digest		 d;
	unsigned char		*buf;
	char			*cause = NULL;
	size_t			 len = 5 * 1024 * 1024;

	buf = malloc(len);
	ck_assert_ptr_nonnull(buf);
	test_fill(buf, len, 7);
	digest_buffer(DIGEST_SHA256, buf, len, &d);
	ck_assert_int_eq(blobstore_claim_fetch(test_bs, &d, &w, &cause), 1);
	ck_assert_int_eq(blob_writer_write(w, buf, 100000), 0);
	ck_assert_ptr_null(blob_writer_flush_prepare(w, 4 * 1024 * 1024));
	ck_assert_int_eq(blob_writer_write(w, buf + 100000, len - 100000), 0);
	f = blob_writer_flush_prepare(w, 4 * 1024 * 1024);
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_null(blob_writer_flush_prepare(w, 0));
	blob_flush_run(f);
	blob_flush_free(f);
	blob_flush_free(NULL);
	ck_assert_int_eq(blobstore_fetch_active(test_bs, &d), 1);
	ck_assert_int_eq(blob_writer_write(w, buf, 100000), 0);
	f = blob_writer_flush_prepare(w, 0);
	ck_assert_ptr_nonnull(f);
	blob_writer_abort(w);
	ck_assert_int_eq(blobstore_fetch_active(test_bs, &d), 0);
	blob_flush_run(f);
	blob_flush_free(f);
	ck_assert_int_eq(blobstore_stat(test_bs, &d, NULL), 0);
	/* Flushed, then committed: whole and verified. */
	ck_assert_int_eq(blobstore_claim_fetch(test_bs, &d, &w, &cause), 1);
	ck_assert_int_eq(blob_writer_write(w, buf, len), 0);
	f = blob_writer_flush_prepare(w, 0);
	ck_assert_ptr_nonnull(f);
	blob_flush_run(f);
	ck_assert_int_eq(blob_writer_commit(w, &d, NULL, &cause), 0);
	blob_flush_free(f);
	ck_assert(test_blob_equals(&d, buf, len));
	free(buf);
}
END_TEST

START_TEST(test_sha512)
{
	unsigned char		 buf[70000];
	struct blob_writer	*w = NULL;
	struct digest		 d, got;
	char			 path[PATH_MAX], expect[PATH_MAX];
	char			*cause = NULL;

	test_fill(buf, sizeof(buf), 5);
	digest_buffer(DIGEST_SHA512, buf, sizeof(buf), &d);
	w = blob_writer_create(test_bs, DIGEST_SHA512, &cause);
	ck_assert_ptr_nonnull(w);
	ck_assert_int_eq(blob_writer_write(w, buf, sizeof(buf)), 0);
	ck_assert_int_eq(blob_writer_commit(w, &d, &got, &cause), 0);
	ck_assert_int_eq(got.alg, DIGEST_SHA512);
	ck_assert_int_eq(strlen(got.hex), 128);
	ck_assert_int_eq(blobstore_path(test_bs, &d, path, sizeof(path)), 0);
	ck_assert_int_eq(path_fmt(expect, sizeof(expect),
	    "%s/blobs/sha512/%.2s/%s", test_dir, d.hex, d.hex), 0);
	ck_assert_str_eq(path, expect);
	ck_assert(test_blob_equals(&d, buf, sizeof(buf)));
	ck_assert_int_eq(blobstore_delete(test_bs, &d), 0);

	/* Claimed fetch of a sha512 blob. */
	ck_assert_int_eq(blobstore_claim_fetch(test_bs, &d, &w, &cause), 1);
#ifdef F_OFD_SETLK
	ck_assert_int_eq(blobstore_fetch_active(test_bs, &d), 1);
#endif
	ck_assert_int_eq(blob_writer_write(w, buf, sizeof(buf)), 0);
	ck_assert_int_eq(blob_writer_commit(w, NULL, NULL, &cause), 0);
	ck_assert(test_blob_equals(&d, buf, sizeof(buf)));
	ck_assert_int_eq(blobstore_delete(test_bs, &d), 0);

	/* An upload file committed as sha512. */
	ck_assert_int_eq(path_fmt(path, sizeof(path), "%s/upload-512",
	    blobstore_tmpdir(test_bs)), 0);
	test_write_file(path, buf, sizeof(buf));
	ck_assert_int_eq(blobstore_commit_file(test_bs, path, &d, &cause), 0);
	ck_assert(test_blob_equals(&d, buf, sizeof(buf)));
	ck_assert_int_eq(test_count(blobstore_tmpdir(test_bs)), 0);
}
END_TEST

START_TEST(test_bad_input)
{
	struct blob_writer	*w = NULL;
	struct digest		 d;
	char			 path[PATH_MAX], *longdir, *cause = NULL;
	int			 fd;

	/* A digest that was never parsed never becomes a path. */
	memset(&d, 0, sizeof(d));
	d.alg = DIGEST_SHA256;
	snprintf(d.hex, sizeof(d.hex), "../../../../etc/passwd");
	ck_assert_int_eq(blobstore_path(test_bs, &d, path, sizeof(path)), -1);
	ck_assert_int_eq(blobstore_stat(test_bs, &d, NULL), -1);
	ck_assert_int_eq(blobstore_open_blob(test_bs, &d, &fd, NULL), -1);
	ck_assert_int_eq(blobstore_delete(test_bs, &d), -1);
	ck_assert_int_eq(blobstore_claim_fetch(test_bs, &d, &w, &cause), -1);
	free(cause);
	cause = NULL;
	ck_assert_int_eq(blobstore_fetch_active(test_bs, &d), 0);
	memset(d.hex, 'A', 64);
	d.hex[64] = '\0';
	ck_assert_int_eq(blobstore_path(test_bs, &d, path, sizeof(path)), -1);

	/* A data directory whose paths cannot fit. */
	longdir = xmalloc(PATH_MAX);
	memset(longdir, 'a', PATH_MAX - 3);
	longdir[0] = '/';
	longdir[PATH_MAX - 3] = '\0';
	ck_assert_ptr_null(blobstore_open(longdir, &cause));
	ck_assert_ptr_nonnull(cause);
	free(cause);
	cause = NULL;
	free(longdir);

	/* A data directory that is a file. */
	ck_assert_int_eq(path_fmt(path, sizeof(path), "%s/file", test_dir),
	    0);
	test_write_file(path, "x", 1);
	ck_assert_ptr_null(blobstore_open(path, &cause));
	ck_assert_ptr_nonnull(cause);
	free(cause);
}
END_TEST

static Suite *
blobstore_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("blobstore");

	tc = tcase_create("writer");
	tcase_add_checked_fixture(tc, test_setup, test_teardown);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_mismatch);
	tcase_add_test(tc, test_abort);
	tcase_add_test(tc, test_write_failure);
	tcase_add_test(tc, test_twice_interleaved);
	tcase_add_test(tc, test_sha512);
	tcase_add_test(tc, test_bad_input);
	suite_add_tcase(s, tc);

	tc = tcase_create("concurrency");
	tcase_add_checked_fixture(tc, test_setup, test_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_multi_process);
	suite_add_tcase(s, tc);

	tc = tcase_create("commit_file");
	tcase_add_checked_fixture(tc, test_setup, test_teardown);
	tcase_add_test(tc, test_commit_file);
	tcase_add_test(tc, test_commit_hashed);
	suite_add_tcase(s, tc);

	tc = tcase_create("claims");
	tcase_add_checked_fixture(tc, test_setup, test_teardown);
	tcase_set_timeout(tc, 15);
	tcase_add_test(tc, test_claim_fetch);
	tcase_add_test(tc, test_claim_abort);
	tcase_add_test(tc, test_claim_stale_reader);
	tcase_add_test(tc, test_claim_flush);
	suite_add_tcase(s, tc);

	return (s);
}

int
main(void)
{
	const char	*base;
	int		 failed;

	if ((base = getenv("TMPDIR")) == NULL || *base == '\0')
		base = "/tmp";
	if (path_fmt(test_root, sizeof(test_root), "%s/blobstore_test.XXXXXX",
	    base) == -1 || mkdtemp(test_root) == NULL) {
		perror("mkdtemp");
		return (EXIT_FAILURE);
	}
	failed = check_run(blobstore_suite()) != EXIT_SUCCESS;
	(void)nftw(test_root, test_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
