/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The plain engine: epoll for readiness, read(2) of a whole batch, one
 * write(2) of all of a queue's answers. What a careful hand-written loop does,
 * with groups, exactly-once answers and teardown on top.
 *
 * A fault fd joins the epoll set only when the engine first waits on it with
 * epoll, or when the caller takes the engine fd. Until then a lone queue is
 * waited for with poll(2), as a hand-written loop does: a fault fd in an epoll
 * set adds an epoll callback in the kernel to the report of every fault,
 * whether anyone waits or not (3% of a ping-pong round trip under qemu).
 */
#include <poll.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "core.h"

#define MAX_EVENTS 64
/* Reads of one queue in one run, so that a busy queue cannot starve the
 * others or the caller. */
#define MAX_READS_PER_RUN 8

struct plain {
	int epfd;
	bool all_watched; /* every queue not in error is in the epoll set */
};

/* epoll data of the engine's timer fd; the wake fd's is NULL. */
static char timer_tag;

static int plain_init(struct iopf_engine *e, const struct iopf_engine_opts *o)
{
	struct epoll_event tev = {.events = EPOLLIN, .data.ptr = &timer_tag};
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	struct plain *p = calloc(1, sizeof(*p));
	int rc;

	if (!p)
		return -ENOMEM;
	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (p->epfd < 0) {
		rc = -errno;
		free(p);
		return rc;
	}
	if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, e->wake_fd, &ev) < 0 ||
	    epoll_ctl(p->epfd, EPOLL_CTL_ADD, e->timer_fd, &tev) < 0) {
		rc = -errno;
		close(p->epfd);
		free(p);
		return rc;
	}
	e->priv = p;
	return 0;
}

static void plain_fini(struct iopf_engine *e)
{
	struct plain *p = e->priv;

	close(p->epfd);
	free(p);
}

/* Puts q's fd in the epoll set, once (not a queue in error, see read_queue). */
static int watch(struct plain *p, struct iopf_queue *q)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = q};

	if (q->watched || q->error)
		return 0;
	if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, q->poll_fd, &ev) < 0)
		return -errno;
	q->watched = true;
	return 0;
}

static void unwatch(struct plain *p, struct iopf_queue *q)
{
	if (!q->watched)
		return;
	epoll_ctl(p->epfd, EPOLL_CTL_DEL, q->poll_fd, NULL);
	q->watched = false;
}

/* Only the first queue of an engine is left out of the epoll set (see the
 * top of this file), so this walks the queues once, when the engine first
 * waits with epoll or the caller takes its fd. */
static int watch_all(struct iopf_engine *e)
{
	struct plain *p = e->priv;

	if (p->all_watched)
		return 0;
	for (struct iopf_queue *q = e->queues; q; q = q->enext) {
		int rc = watch(p, q);

		if (rc)
			return rc;
	}
	p->all_watched = true;
	return 0;
}

static int plain_add_queue(struct iopf_engine *e, struct iopf_queue *q)
{
	struct plain *p = e->priv;

	/* A caller polling the engine fd needs the queue watched now; so does
	 * any queue but the first, which epoll waits for from now on. */
	if (e->fd_exported || e->nqueues)
		return watch(p, q);
	p->all_watched = false;
	return 0;
}

static void plain_del_queue(struct iopf_engine *e, struct iopf_queue *q)
{
	unwatch(e->priv, q);
}

static int plain_fd(struct iopf_engine *e)
{
	struct plain *p = e->priv;
	int rc = watch_all(e);

	return rc ? rc : p->epfd;
}

static int read_queue(struct plain *p, struct iopf_queue *q)
{
	int got = 0, rc = 0;

	/* Reads go on while they fill the buffer; a partial one ends the run's
	 * reading but leaves the queue readable, so that the next run reads
	 * first and polls only once a read comes back empty. */
	for (int i = 0;
	     i < MAX_READS_PER_RUN && q->readable && queue_may_read(q); i++) {
		rc = queue_read_result(q, q_read(q));
		if (rc < 0)
			break;
		got += rc;
		if (!q->full)
			break;
	}
	/*
	 * A queue in error reads no more, but its fd can stay readable for
	 * good (the group too big to read is still pending; a dead fd polls
	 * readable): level-triggered epoll would then end every wait at once
	 * and the caller's loop would spin. Stop watching it; its answers
	 * still go out through flush_all().
	 */
	if (q->error)
		unwatch(p, q);
	/* More may be there: the next run reads it first (see plain_run). */
	else if (q->readable && queue_may_read(q))
		engine_want_read(q->e, q);
	return rc < 0 ? rc : got;
}

/* Writes the answers of the queues on the dirty stack. A queue left with
 * answers (its writes made no progress) is marked again for the next run. A
 * lone queue is asked instead: it is the only one the stack can hold, and
 * leaving it marked spares its answers the push (see engine_has_answers). */
static int flush_all(struct iopf_engine *e)
{
	struct iopf_queue *q = e->queues;

	engine_clear_wake(e);
	if (e->nqueues == 1)
		return queue_has_answers(q) ? queue_write_sync(q) : 0;
	return queues_write_sync(engine_take_dirty(e), NULL);
}

/* The wait saw the wake-up eventfd: answers from other threads to write. */
static int woken(struct iopf_engine *e)
{
	engine_drain_wake(e);
	return flush_all(e);
}

/* The wait saw q readable (a 0-byte read now means a group that did not
 * fit, see queue_read_result). */
static void readable(struct plain *p, struct iopf_queue *q)
{
	q->readable = true;
	q->polled = true;
	read_queue(p, q);
}

/*
 * The wait of a lone queue whose caller does not poll the engine fd: poll(2)
 * on its fd and the wake-up eventfd (the timerfd is armed only for a caller
 * that polls the engine fd; the run's timeout covers deadlines).
 */
static int solo_wait(struct iopf_engine *e, struct iopf_queue *q,
		     int timeout_ms)
{
	struct pollfd pfd[2] = {
		{.fd = e->wake_fd, .events = POLLIN},
		{.fd = q->error ? -1 : q->poll_fd, .events = POLLIN},
	};
	int rc;

	if (poll(pfd, 2, timeout_ms) < 0)
		return errno == EINTR ? 0 : -errno;
	if (pfd[0].revents) {
		rc = woken(e);
		if (rc)
			return rc;
	}
	if (pfd[1].revents)
		readable(e->priv, q);
	return 0;
}

/*
 * One pass: write every queue's answers, read the queues known to be readable
 * (a full batch last time, or a new queue), and only if that gave nothing wait
 * on epoll (level-triggered: a queue whose next group did not fit stays
 * readable) and read what it names.
 */
static int plain_run(struct iopf_engine *e, int timeout_ms)
{
	struct plain *p = e->priv;
	struct epoll_event evs[MAX_EVENTS];
	unsigned int before = e->nready;
	int n, rc;

	rc = flush_all(e);
	/* A dispatch just drained what was read: a read now would be empty. */
	if (rc || e->flush_only || e->answers_only)
		return rc;
	rlist_begin(e);
	for (struct iopf_queue *q; (q = rlist_next(e));)
		read_queue(p, q);
	if (e->nready > before)
		return 0;
	if (e->nqueues == 1 && e->queues && !e->fd_exported)
		return solo_wait(e, e->queues, timeout_ms);
	rc = watch_all(e);
	if (rc)
		return rc;
	n = epoll_wait(p->epfd, evs, MAX_EVENTS, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		struct iopf_queue *q = evs[i].data.ptr;

		if ((void *)q == &timer_tag) {
			engine_drain_timer(e);
			continue;
		}
		if (!q) {
			rc = woken(e);
			if (rc)
				return rc;
			continue;
		}
		readable(p, q);
	}
	return 0;
}

static bool plain_flush(struct iopf_engine *e, int *rc)
{
	*rc = flush_all(e);
	return true;
}

const struct engine_ops iopf_engine_plain_ops = {
	.init = plain_init,
	.fini = plain_fini,
	.add_queue = plain_add_queue,
	.del_queue = plain_del_queue,
	.run = plain_run,
	.flush = plain_flush,
	.fd = plain_fd,
	.fd_watches_queues = true,
};
