/*
 * offload.c: run a function in a thread, call back on the event loop
 * (see offload.h).
 *
 * Each job has a thread and a pipe of its own: the thread runs the work
 * and writes one byte to the pipe; the loop's read event on the other end
 * joins the thread and calls done. Jobs are few and each takes
 * milliseconds, so a thread apiece costs little next to the work, and
 * jobs share nothing: no lock anywhere. Without a thread (pipe2 or
 * pthread_create failed) the work runs in the caller and done comes from
 * a zero timeout on the loop, so that callers see one order of events.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "lib/log.h"
#include "lib/offload.h"
#include "lib/xmalloc.h"

#define OFFLOAD_HOLD_MAX_MS	120000
/* offload_close: unlinked files smaller than this are closed at once. */
#define OFFLOAD_CLOSE_MIN	(1024 * 1024)

struct offload {
	struct event_base	*of_base;
	void			(*of_work)(void *);
	void			(*of_done)(void *);
	void			*of_arg;
	pthread_t		 of_thread;
	int			 of_pipe[2];
	struct event		*of_event;
};

static unsigned int	offload_count;

static int	offload_thread_start(struct offload *);
static void	*offload_thread(void *);
static void	offload_joined_cb(evutil_socket_t, short, void *);
static void	offload_inline_cb(evutil_socket_t, short, void *);
static void	offload_finish(struct offload *);
static void	offload_close_work(void *);
static void	offload_close_done(void *);

void
offload_run(struct event_base *base, void (*work)(void *),
    void (*done)(void *), void *arg)
{
	struct offload	*of;
	struct timeval	 now = { 0, 0 };

	of = xcalloc(1, sizeof(*of));
	of->of_base = base;
	of->of_work = work;
	of->of_done = done;
	of->of_arg = arg;
	of->of_pipe[0] = of->of_pipe[1] = -1;
	offload_count++;
	if (offload_thread_start(of) == 0)
		return;
	/* No thread to be had: work here, done from the loop all the same. */
	work(arg);
	if (event_base_once(base, -1, EV_TIMEOUT, offload_inline_cb, of,
	    &now) == -1)
		fatalx("%s: event_base_once", __func__);
}

void
offload_close(struct event_base *base, int fd)
{
	struct stat	 sb;
	int		*job;

	if (fd == -1)
		return;
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode) || sb.st_nlink > 0 ||
	    sb.st_size < OFFLOAD_CLOSE_MIN) {
		(void)close(fd);
		return;
	}
	job = xmalloc(sizeof(*job));
	*job = fd;
	offload_run(base, offload_close_work, offload_close_done, job);
}

/* In the thread: the last close, and with it the freeing of the blocks. */
static void
offload_close_work(void *arg)
{
	int	*job = arg;

	(void)close(*job);
}

static void
offload_close_done(void *arg)
{
	free(arg);
}

unsigned int
offload_pending(void)
{
	return (offload_count);
}

/* The pipe, its read event, the thread. 0, or -1 with all undone. */
static int
offload_thread_start(struct offload *of)
{
	int	 rc;

	if (pipe2(of->of_pipe, O_CLOEXEC | O_NONBLOCK) == -1) {
		log_warn("%s: pipe", __func__);
		goto fail;
	}
	if ((of->of_event = event_new(of->of_base, of->of_pipe[0], EV_READ,
	    offload_joined_cb, of)) == NULL || event_add(of->of_event,
	    NULL) == -1)
		fatalx("%s: event_new", __func__);
	if ((rc = pthread_create(&of->of_thread, NULL, offload_thread,
	    of)) != 0) {
		log_warnx("%s: pthread_create: %s", __func__, strerror(rc));
		goto fail;
	}
	return (0);

fail:
	if (of->of_event != NULL)
		event_free(of->of_event);
	of->of_event = NULL;
	if (of->of_pipe[0] != -1) {
		close(of->of_pipe[0]);
		close(of->of_pipe[1]);
	}
	of->of_pipe[0] = of->of_pipe[1] = -1;
	return (-1);
}

/* The thread: the work, then one byte to wake the loop. */
static void *
offload_thread(void *arg)
{
	struct offload	*of = arg;
	ssize_t		 n;

	of->of_work(of->of_arg);
	do {
		n = write(of->of_pipe[1], "", 1);
	} while (n == -1 && errno == EINTR);
	return (NULL);
}

/* On the loop: the thread has written its byte; join it. */
static void
offload_joined_cb(evutil_socket_t fd, short events, void *arg)
{
	struct offload	*of = arg;
	char		 b;
	int		 rc;

	(void)events;
	if (read(fd, &b, 1) == -1 && errno == EAGAIN) {
		/* Not yet (a spurious wakeup): wait on. */
		if (event_add(of->of_event, NULL) == -1)
			fatalx("%s: event_add", __func__);
		return;
	}
	if ((rc = pthread_join(of->of_thread, NULL)) != 0)
		fatalx("%s: pthread_join: %s", __func__, strerror(rc));
	event_free(of->of_event);
	close(of->of_pipe[0]);
	close(of->of_pipe[1]);
	offload_finish(of);
}

static void
offload_inline_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	offload_finish(arg);
}

/* Free the job, then tell its owner. */
static void
offload_finish(struct offload *of)
{
	void	(*done)(void *) = of->of_done;
	void	*arg = of->of_arg;

	free(of);
	offload_count--;
	done(arg);
}

void
offload_test_hold(void)
{
	offload_test_hold_env(OFFLOAD_HOLD_ENV);
}

void
offload_test_hold_env(const char *env)
{
	struct timespec	 ts = { 0, 10 * 1000 * 1000 };
	const char	*path;
	int		 waited = 0;

	if ((path = getenv(env)) == NULL || *path == '\0')
		return;
	while (access(path, F_OK) == 0 && waited < OFFLOAD_HOLD_MAX_MS) {
		(void)nanosleep(&ts, NULL);
		waited += 10;
	}
}
