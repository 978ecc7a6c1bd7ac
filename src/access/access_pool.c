/*
 * access_pool.c: password checks in threads, so that a bcrypt hash (tens
 * of milliseconds to a second) never holds a worker's event loop. Jobs
 * wait in a queue under a mutex; a thread takes one, hashes without the
 * lock, moves it to the done list and writes a byte to a pipe. The loop
 * reads the pipe and runs the callbacks of the done jobs, outside the
 * lock. Threads block every signal: signals stay the loop's.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "access/access_pool.h"
#include "access/htpasswd.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

#define ACCESS_POOL_THREADS_MAX	16

struct access_job {
	TAILQ_ENTRY(access_job)	 aj_entry;
	char			*aj_password;
	char			*aj_hash;
	int			 aj_ok;
	access_pool_cb		 aj_cb;
	void			*aj_arg;
};
TAILQ_HEAD(access_jobs, access_job);

struct access_pool {
	pthread_mutex_t		 ap_lock;
	pthread_cond_t		 ap_wake;
	struct access_jobs	 ap_waiting;	/* for the threads */
	struct access_jobs	 ap_done;	/* for the loop */
	int			 ap_nwaiting;
	int			 ap_pending;	/* submitted, not reported */
	int			 ap_max_queued;
	int			 ap_stop;
	pthread_t		 ap_threads[ACCESS_POOL_THREADS_MAX];
	int			 ap_nthreads;
	int			 ap_pipe[2];
	struct event		*ap_ev;
};

static void	*access_pool_thread(void *);
static void	 access_pool_done_cb(evutil_socket_t, short, void *);
static void	 access_job_free(struct access_job *);

struct access_pool *
access_pool_create(struct event_base *base, int nthreads, int max_queued)
{
	struct access_pool	*ap;
	sigset_t		 all, old;
	int			 i, e;

	if (nthreads < 1)
		nthreads = 1;
	if (nthreads > ACCESS_POOL_THREADS_MAX)
		nthreads = ACCESS_POOL_THREADS_MAX;
	ap = xcalloc(1, sizeof(*ap));
	ap->ap_pipe[0] = ap->ap_pipe[1] = -1;
	TAILQ_INIT(&ap->ap_waiting);
	TAILQ_INIT(&ap->ap_done);
	ap->ap_max_queued = max_queued;
	if (pthread_mutex_init(&ap->ap_lock, NULL) != 0 ||
	    pthread_cond_init(&ap->ap_wake, NULL) != 0)
		fatalx("%s: pthread init", __func__);
	if (pipe2(ap->ap_pipe, O_NONBLOCK | O_CLOEXEC) == -1) {
		log_warn("%s: pipe2", __func__);
		goto fail;
	}
	if ((ap->ap_ev = event_new(base, ap->ap_pipe[0], EV_READ | EV_PERSIST,
	    access_pool_done_cb, ap)) == NULL || event_add(ap->ap_ev,
	    NULL) == -1) {
		log_warnx("%s: event_new", __func__);
		goto fail;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < nthreads; i++) {
		if ((e = pthread_create(&ap->ap_threads[i], NULL,
		    access_pool_thread, ap)) != 0) {
			errno = e;
			log_warn("%s: pthread_create", __func__);
			break;
		}
		ap->ap_nthreads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ap->ap_nthreads == 0)
		goto fail;
	return (ap);

fail:
	access_pool_free(ap);
	return (NULL);
}

void
access_pool_free(struct access_pool *ap)
{
	struct access_job	*aj;
	int			 i;

	if (ap == NULL)
		return;
	pthread_mutex_lock(&ap->ap_lock);
	ap->ap_stop = 1;
	pthread_cond_broadcast(&ap->ap_wake);
	pthread_mutex_unlock(&ap->ap_lock);
	for (i = 0; i < ap->ap_nthreads; i++)
		pthread_join(ap->ap_threads[i], NULL);
	while ((aj = TAILQ_FIRST(&ap->ap_waiting)) != NULL) {
		TAILQ_REMOVE(&ap->ap_waiting, aj, aj_entry);
		access_job_free(aj);
	}
	while ((aj = TAILQ_FIRST(&ap->ap_done)) != NULL) {
		TAILQ_REMOVE(&ap->ap_done, aj, aj_entry);
		access_job_free(aj);
	}
	if (ap->ap_ev != NULL)
		event_free(ap->ap_ev);
	if (ap->ap_pipe[0] != -1)
		close(ap->ap_pipe[0]);
	if (ap->ap_pipe[1] != -1)
		close(ap->ap_pipe[1]);
	pthread_cond_destroy(&ap->ap_wake);
	pthread_mutex_destroy(&ap->ap_lock);
	free(ap);
}

int
access_pool_submit(struct access_pool *ap, const char *password,
    const char *hash, access_pool_cb cb, void *arg)
{
	struct access_job	*aj;

	pthread_mutex_lock(&ap->ap_lock);
	if (ap->ap_nwaiting >= ap->ap_max_queued) {
		pthread_mutex_unlock(&ap->ap_lock);
		return (-1);
	}
	pthread_mutex_unlock(&ap->ap_lock);
	aj = xcalloc(1, sizeof(*aj));
	aj->aj_password = xstrdup(password);
	aj->aj_hash = xstrdup(hash);
	aj->aj_cb = cb;
	aj->aj_arg = arg;
	pthread_mutex_lock(&ap->ap_lock);
	TAILQ_INSERT_TAIL(&ap->ap_waiting, aj, aj_entry);
	ap->ap_nwaiting++;
	ap->ap_pending++;
	pthread_cond_signal(&ap->ap_wake);
	pthread_mutex_unlock(&ap->ap_lock);
	return (0);
}

int
access_pool_pending(const struct access_pool *ap)
{
	return (ap != NULL ? ap->ap_pending : 0);
}

/* A hashing thread: touches only the jobs, under the lock to move them. */
static void *
access_pool_thread(void *arg)
{
	struct access_pool	*ap = arg;
	struct access_job	*aj;
	char			 byte = 0;

	pthread_mutex_lock(&ap->ap_lock);
	for (;;) {
		while (!ap->ap_stop && TAILQ_EMPTY(&ap->ap_waiting))
			pthread_cond_wait(&ap->ap_wake, &ap->ap_lock);
		if (ap->ap_stop)
			break;
		aj = TAILQ_FIRST(&ap->ap_waiting);
		TAILQ_REMOVE(&ap->ap_waiting, aj, aj_entry);
		ap->ap_nwaiting--;
		pthread_mutex_unlock(&ap->ap_lock);

		aj->aj_ok = htpasswd_verify(aj->aj_password, aj->aj_hash);
		OPENSSL_cleanse(aj->aj_password, strlen(aj->aj_password));

		pthread_mutex_lock(&ap->ap_lock);
		TAILQ_INSERT_TAIL(&ap->ap_done, aj, aj_entry);
		/* Full pipe: a byte is already there to wake the loop. */
		(void)write(ap->ap_pipe[1], &byte, 1);
	}
	pthread_mutex_unlock(&ap->ap_lock);
	return (NULL);
}

/* On the loop: report every finished check. */
static void
access_pool_done_cb(evutil_socket_t fd, short events, void *arg)
{
	struct access_pool	*ap = arg;
	struct access_jobs	 done;
	struct access_job	*aj;
	char			 buf[64];

	(void)events;
	while (read(fd, buf, sizeof(buf)) > 0)
		continue;
	TAILQ_INIT(&done);
	pthread_mutex_lock(&ap->ap_lock);
	TAILQ_CONCAT(&done, &ap->ap_done, aj_entry);
	pthread_mutex_unlock(&ap->ap_lock);
	while ((aj = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, aj, aj_entry);
		ap->ap_pending--;
		aj->aj_cb(aj->aj_ok, aj->aj_arg);
		access_job_free(aj);
	}
}

static void
access_job_free(struct access_job *aj)
{
	if (aj->aj_password != NULL) {
		OPENSSL_cleanse(aj->aj_password, strlen(aj->aj_password));
		free(aj->aj_password);
	}
	free(aj->aj_hash);
	free(aj);
}
