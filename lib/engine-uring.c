/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The io_uring engine: one ring for any number of queues.
 *
 * Per queue at most one READ, one POLL and one WRITE are in flight. Each run
 * queues, for every queue, the WRITE of its pending answers and its next READ,
 * and submits them all in one io_uring_enter: the plain engine's steps, with
 * the syscalls of all queues in one. As there, a queue whose last read gave
 * records is read again at once; only once a read found it empty is the READ
 * linked behind a one-shot POLL_ADD, so that a busy queue costs no poll and
 * an idle one is not read blind (a group left behind because it did not fit
 * stays EPOLLIN, iommufd_fault_fops_poll, and is found at once). The answers
 * a dispatch gives go out at once, without a READ behind them: the next wait
 * reads, unless the caller sleeps on the ring fd (then the READ, and its
 * POLL, are armed with the answers). The fault fd has O_NONBLOCK set (see
 * iopf_queue_new), which lets all of them run inline in the submitting task
 * rather than in io-wq.
 *
 * With IOPF_ENGINE_ASYNC (not the default), a run that has reads or writes
 * for two queues or more (a storm over several queues) sends them to io-wq
 * (IOSQE_ASYNC), whose workers run them on the other CPUs side by side, the
 * kernel's share of the work (records copied out, answers handed to the
 * IOMMU driver) with them, while this thread handles what the first
 * completions gave. With idle CPUs that is faster than a loop of read(2) and
 * write(2) can be, but it costs more CPU a fault, and with busy CPUs it can
 * be slower (tests/bench, 16queues; see libiopf(7)). A READ behind a POLL (a
 * queue found empty) and a lone queue's operations stay inline even then:
 * there the worker's wake-up would only add latency.
 *
 * A run with work for one queue only, of however many (one active PASID of a
 * guest's hundreds), treats it as a lone queue (solo_sync, lone_queue): its
 * answers go out with write(2) and its records come in with read(2) while
 * reads find them; the ring keeps the waiting, its idle queues' POLLs stay
 * armed. Measured (tests/bench, sparse rows): through the ring, a round trip
 * on one queue of 1024 cost 1.3x-2.3x that of a lone queue under qemu.
 *
 * Backends with hooks (the mock) must see each read before it happens, so
 * there the POLL is not linked: its completion lets the next run prepare and
 * submit the READ.
 */
#include <liburing.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"

enum {
	OP_POLL = 1,
	OP_READ = 2,
	OP_WRITE = 3,
	OP_WAKE = 4,
	OP_IGNORE = 5,
	OP_TIMER = 6,
	OP_MASK = 7,
};

struct uring {
	struct io_uring ring;
	struct iopf_engine *e;
	bool wake_armed;
	bool timer_armed;
	bool again; /* a completion left work that needs no waiting */
	bool async; /* this run's READs and WRITEs go to io-wq */
	unsigned int queued; /* SQEs prepared, not yet submitted */
};

static inline uint64_t ud(struct iopf_queue *q, unsigned int op)
{
	return (uint64_t)(uintptr_t)q | op;
}

static struct io_uring_sqe *get_sqe(struct uring *u)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

	if (!sqe) {
		/* The SQ is full: send what is there and take a fresh slot. */
		io_uring_submit(&u->ring);
		sqe = io_uring_get_sqe(&u->ring);
	}
	if (sqe)
		u->queued++;
	return sqe;
}

static int uring_init(struct iopf_engine *e, const struct iopf_engine_opts *o)
{
	struct io_uring_params p;
	struct uring *u = calloc(1, sizeof(*u));
	int rc;

	if (!u)
		return -ENOMEM;
	/* No COOP_TASKRUN or DEFER_TASKRUN: both hold completions back until
	 * the task enters io_uring again, and a caller that sleeps in its own
	 * epoll on the ring fd would never see them. No SINGLE_ISSUER: an
	 * engine may be run from one thread and later from another. */
	memset(&p, 0, sizeof(p));
	rc = io_uring_queue_init_params(e->ring_entries, &u->ring, &p);
	if (rc) {
		free(u);
		return rc;
	}
	u->e = e;
	e->priv = u;
	return 0;
}

static void uring_fini(struct iopf_engine *e)
{
	struct uring *u = e->priv;

	io_uring_queue_exit(&u->ring);
	free(u);
}

static int uring_fd(struct iopf_engine *e)
{
	const struct uring *u = e->priv;

	return u->ring.ring_fd;
}

static int uring_add_queue(struct iopf_engine *e, struct iopf_queue *q)
{
	/* Nothing to register: the queue's first run reads it. */
	return 0;
}

/* Queues the WRITE of q's answers; returns its SQE, or NULL. Answers whose
 * cookie the kernel gave to a newer group are dropped first. */
static struct io_uring_sqe *prep_write(struct uring *u, struct iopf_queue *q)
{
	struct ans_buf *w = &q->inflight_ans;
	struct io_uring_sqe *sqe;
	uint32_t n;

	if (q->write_inflight || queue_take_answers(q) <= 0)
		return NULL;
	queue_filter_stale(q);
	if (w->off >= w->n)
		return NULL;
	n = w->n - w->off;
	if (n > MAX_WRITE_ANSWERS)
		n = MAX_WRITE_ANSWERS;
	sqe = get_sqe(u);
	if (!sqe)
		return NULL;
	io_uring_prep_write(sqe, q->fd, &w->rsp[w->off],
			    n * (unsigned)RESP_SIZE, 0);
	if (u->async && !q->hooks)
		sqe->flags |= IOSQE_ASYNC;
	io_uring_sqe_set_data64(sqe, ud(q, OP_WRITE));
	q->write_inflight = true;
	q->inflight++;
	u->e->nwrites++;
	return sqe;
}

/* Queues the next READ (and POLL) of q. A read the backend answers by itself
 * is consumed at once; at most a few, so one run stays bounded. */
/*
 * A read must not overtake the queue's write: the kernel gives a cookie to a
 * new group as soon as the old holder is answered, so an answer checked
 * against the cookies known now (queue_filter_stale) must reach the kernel
 * before the next read can hand those cookies out. The read is therefore
 * hard-linked behind a write submitted with it, skipped while an earlier
 * write is in flight, and, with backends whose hooks see every read as it
 * is prepared (the mock), issued only in the next round.
 */
static void prep_read_one(struct uring *u, struct iopf_queue *q,
			  struct io_uring_sqe *wsqe);

/* Arms q's next READ if it can be; a queue that could be read but was not
 * (its write is in flight, or the backend answered its reads itself) stays
 * on the list for the next pass. */
static void prep_read(struct uring *u, struct iopf_queue *q,
		      struct io_uring_sqe *wsqe)
{
	prep_read_one(u, q, wsqe);
	if (!q->read_inflight && !q->poll_inflight && queue_may_read(q))
		engine_want_read(u->e, q);
}

static void prep_read_one(struct uring *u, struct iopf_queue *q,
			  struct io_uring_sqe *wsqe)
{
	size_t len;
	ssize_t res;

	if (q->write_inflight && (!wsqe || q->hooks)) {
		if (wsqe)
			u->again = true;
		return;
	}
	for (int i = 0; i < 4; i++) {
		struct io_uring_sqe *sqe;

		if (q->read_inflight || q->poll_inflight || !queue_may_read(q))
			return;
		len = queue_read_len(q);
		if (!q->readable && q->hooks) {
			sqe = get_sqe(u);
			if (!sqe)
				return;
			io_uring_prep_poll_add(sqe, q->poll_fd, POLLIN);
			io_uring_sqe_set_data64(sqe, ud(q, OP_POLL));
			q->poll_inflight = true;
			q->inflight++;
			return;
		}
		if (q_read_prepare(q, &res)) {
			queue_read_result(q, res);
			continue;
		}
		if (wsqe)
			wsqe->flags |= IOSQE_IO_HARDLINK;
		/* Behind a POLL once a read found the queue empty: a POLL
		 * with a group there costs little, and finds one that did not
		 * fit (still EPOLLIN) at once; but a POLL that has to wait
		 * costs more than a READ that finds a group. */
		if (!q->readable && !q->hooks) {
			sqe = get_sqe(u);
			if (!sqe)
				return;
			io_uring_prep_poll_add(sqe, q->poll_fd, POLLIN);
			io_uring_sqe_set_data64(sqe, ud(q, OP_POLL));
			sqe->flags |= IOSQE_IO_LINK;
			q->poll_inflight = true;
			q->inflight++;
			/* The READ runs only once the poll said readable. */
			q->polled = true;
		}
		sqe = get_sqe(u);
		if (!sqe)
			return;
		io_uring_prep_read(sqe, q->fd, q->buf, (unsigned)len, 0);
		if (u->async && q->readable && !q->hooks)
			sqe->flags |= IOSQE_ASYNC;
		io_uring_sqe_set_data64(sqe, ud(q, OP_READ));
		q->read_inflight = true;
		q->inflight++;
		return;
	}
}

/* The engine's own fds (answers from other threads, deadlines) are watched
 * with multishot polls, re-armed when the kernel ends one. */
static void arm_wake(struct iopf_engine *e, struct uring *u)
{
	struct io_uring_sqe *sqe;

	if (!u->wake_armed && (sqe = get_sqe(u))) {
		io_uring_prep_poll_multishot(sqe, e->wake_fd, POLLIN);
		io_uring_sqe_set_data64(sqe, OP_WAKE);
		u->wake_armed = true;
	}
	if (!u->timer_armed && (sqe = get_sqe(u))) {
		io_uring_prep_poll_multishot(sqe, e->timer_fd, POLLIN);
		io_uring_sqe_set_data64(sqe, OP_TIMER);
		u->timer_armed = true;
	}
}

static void complete(struct iopf_engine *e, struct uring *u,
		     struct io_uring_cqe *cqe)
{
	uint64_t data = io_uring_cqe_get_data64(cqe);
	struct iopf_queue *q =
		(struct iopf_queue *)(uintptr_t)(data & ~(uint64_t)OP_MASK);
	int res = cqe->res;

	switch (data & OP_MASK) {
	case OP_WAKE:
		if (!(cqe->flags & IORING_CQE_F_MORE))
			u->wake_armed = false;
		engine_drain_wake(e);
		return;
	case OP_TIMER:
		if (!(cqe->flags & IORING_CQE_F_MORE))
			u->timer_armed = false;
		engine_drain_timer(e);
		return;
	case OP_IGNORE:
		return;
	case OP_POLL:
		q->poll_inflight = false;
		q->inflight--;
		if (res > 0 && (res & POLLIN) && q->hooks) {
			/* The READ (not linked, for the hooks) can go now: a
			 * run that stopped here would leave the records for a
			 * wake-up that never comes to a caller sleeping in
			 * its own epoll on the ring fd. */
			q->readable = true;
			q->polled = true;
			u->again = true;
		}
		if (!q->read_inflight && !q->error)
			engine_want_read(e, q);
		return;
	case OP_READ:
		q->read_inflight = false;
		q->inflight--;
		if (res == -ECANCELED) {
			/* Its POLL failed or was cancelled: poll again. */
			q->polled = false;
			if (!q->error)
				engine_want_read(e, q);
			return;
		}
		queue_read_result(q, q_read_done(q, res));
		if (q->error)
			return;
		/* Its next READ, once what it gave is handed out. */
		if (queue_may_read(q))
			engine_want_read(e, q);
		/*
		 * Another round in this run: to read again at once after a
		 * full batch or a grown buffer (as far as the read-ahead bound
		 * lets it); and whenever the read left nothing in flight for
		 * a caller who sleeps in its own poll on the ring fd, since
		 * then only an armed POLL can wake it for the next fault. A
		 * READ sent without a POLL that found the queue empty is such
		 * a case for everyone.
		 */
		if ((q->full && queue_may_read(q)) ||
		    ((res == 0 || res == -EAGAIN) && !q->readable) ||
		    (e->fd_exported && !q->full && queue_may_read(q)))
			u->again = true;
		return;
	case OP_WRITE: {
		struct ans_buf *w = &q->inflight_ans;
		uint32_t n = w->n - w->off;

		if (n > MAX_WRITE_ANSWERS)
			n = MAX_WRITE_ANSWERS;
		q->write_inflight = false;
		q->inflight--;
		e->nwrites--;
		queue_answers_done(q, q_write_done(q, &w->rsp[w->off],
						   n * RESP_SIZE, res));
		/* The rest of this write, or answers queued while it was in
		 * flight: its queue was taken off the dirty stack. */
		if (queue_has_answers(q)) {
			queue_mark_dirty(q);
			u->again = true;
		}
		/* A READ waits for the write (see prep_read). */
		if (queue_may_read(q) && !q->read_inflight && !q->poll_inflight)
			engine_want_read(e, q);
		return;
	}
	}
}

static unsigned int reap(struct iopf_engine *e, struct uring *u)
{
	struct io_uring_cqe *cqe;
	unsigned int head, n = 0;

	io_uring_for_each_cqe (&u->ring, head, cqe) {
		complete(e, u, cqe);
		n++;
	}
	io_uring_cq_advance(&u->ring, n);
	return n;
}

/* Whether this run reads: not in a flush, and after a dispatch only for a
 * caller asleep on the ring fd (its READ must be armed). */
static bool run_reads(const struct iopf_engine *e)
{
	return !e->flush_only && !(e->answers_only && !e->fd_exported);
}

/*
 * An engine with one queue has nothing to batch: one io_uring_enter for one
 * WRITE or one READ costs more than write(2) or read(2) (under emulation a
 * third more a round trip). With nothing in flight, its answers are written
 * and its records read (while reads find them) as the plain engine does;
 * io_uring is left the waiting, a READ behind a POLL once a read found the
 * queue empty. The write comes first, as in a linked chain.
 */
static void solo_sync(struct iopf_engine *e, struct iopf_queue *q)
{
	if (q->inflight || q->error)
		return;
	if (queue_has_answers(q))
		queue_write_sync(q);
	if (!run_reads(e))
		return;
	for (int i = 0; i < 8 && q->readable && queue_may_read(q); i++) {
		if (queue_read_result(q, q_read(q)) < 0 || !q->full)
			break;
	}
}

/*
 * The only queue this run has work for (on the dirty stack, taken as dirty,
 * or on the list to read), if there is just one and it has nothing in
 * flight; else NULL. Idle queues with their POLL armed are not looked at:
 * with one fault queue of many active (a PASID of a guest using SVA), a round
 * trip costs what it costs a lone queue (a read(2) and a write(2), no
 * io_uring_enter), not the ring's extra work.
 */
static struct iopf_queue *lone_queue(struct iopf_engine *e,
				     struct iopf_queue *dirty)
{
	struct iopf_queue *q = dirty, *r = e->rhead.rnext;

	if (dirty && dirty->dnext)
		return NULL;
	if (r != &e->rhead) {
		if (r->rnext != &e->rhead || (q && q != r))
			return NULL;
		q = r;
	}
	if (!q || q->inflight || q->error)
		return NULL;
	return q;
}

/*
 * Whether q has a WRITE or a READ (not one behind a POLL) to submit now. Not
 * with a backend whose hooks do the work in user space (the mock: its fd is
 * a socket, whose reads cost nothing worth spreading).
 */
static bool queue_busy(struct iopf_engine *e, struct iopf_queue *q)
{
	if (q->hooks)
		return false;
	if (!q->write_inflight && queue_has_answers(q))
		return true;
	return run_reads(e) && q->readable && !q->read_inflight &&
	       !q->poll_inflight && queue_may_read(q);
}

/*
 * With IOPF_ENGINE_ASYNC, a run with work for two queues or more sends its
 * READs and WRITEs to io-wq. Only the queues on the run's lists are looked
 * at: dirty (already taken off the stack) and those to read.
 */
static bool run_async(struct iopf_engine *e, struct iopf_queue *dirty)
{
	unsigned int busy = 0;

	if (!(e->flags & IOPF_ENGINE_ASYNC) || e->nqueues < 2)
		return false;
	for (struct iopf_queue *q = dirty; q; q = q->dnext)
		if (queue_busy(e, q) && ++busy == 2)
			return true;
	for (struct iopf_queue *q = e->rhead.rnext; q != &e->rhead;
	     q = q->rnext)
		if (!q->dirty && queue_busy(e, q) && ++busy == 2)
			return true;
	return false;
}

/* Queues a WRITE for each queue on the dirty stack and, behind it, the READ
 * of a queue that is also on the list to read; then a READ for each other
 * queue on that list. */
static void prep_all(struct iopf_engine *e, struct uring *u,
		     struct iopf_queue *dirty)
{
	bool reads = run_reads(e);
	struct iopf_queue *q, *next;

	for (q = dirty; q; q = next) {
		struct io_uring_sqe *wsqe;

		next = q->dnext;
		/* A queue's write and read chain must not be split across
		 * two submissions. */
		if (io_uring_sq_space_left(&u->ring) < 4) {
			io_uring_submit(&u->ring);
			u->queued = 0;
		}
		queue_claim(q);
		wsqe = prep_write(u, q);
		/* No SQE for it (the ring is full even after a submit): the
		 * next round tries again. */
		if (!q->write_inflight && queue_has_answers(q)) {
			queue_mark_dirty(q);
			u->again = true;
		}
		if (reads && q->on_rlist) {
			engine_unwant_read(q);
			prep_read(u, q, wsqe);
		}
	}
	if (!reads)
		return;
	rlist_begin(e);
	while ((q = rlist_next(e))) {
		if (io_uring_sq_space_left(&u->ring) < 4) {
			io_uring_submit(&u->ring);
			u->queued = 0;
		}
		prep_read(u, q, NULL);
	}
}

/* Whether answers were queued that no write in flight will take. */
static bool answers_waiting(struct iopf_engine *e)
{
	struct iopf_queue *q = e->queues;

	if (e->nqueues == 1)
		return !q->write_inflight &&
		       atomic_load_explicit(&q->npending, memory_order_acquire);
	return engine_any_dirty(e);
}

/*
 * One run: submit every queue's answers and next read together, reap, and go
 * round again only while a completion left work that needs no waiting: the
 * rest of a partly taken write, or a read to redo with a grown buffer. Only
 * the first round may wait.
 */
static int uring_run(struct iopf_engine *e, int timeout_ms)
{
	struct uring *u = e->priv;
	unsigned int before = e->nready;
	int rc;

	for (int round = 0; round < 16; round++) {
		struct io_uring_cqe *cqe = NULL;
		struct __kernel_timespec ts;
		unsigned int wait_nr = 0;

		/* Reads that completed since the last reap may have given
		 * out cookies: learn them before answers are checked and
		 * written (queue_filter_stale). What they call for is done in
		 * this round. */
		if (io_uring_cq_ready(&u->ring))
			reap(e, u);
		u->again = false;
		engine_clear_wake(e);
		arm_wake(e, u);
		if (e->nqueues == 1) {
			/* The lone queue is written without taking its dirty
			 * mark (see flush_all of the plain engine). */
			struct iopf_queue *q = e->queues;
			struct io_uring_sqe *wsqe;

			solo_sync(e, q);
			u->async = false;
			wsqe = prep_write(u, q);
			if (run_reads(e)) {
				engine_unwant_read(q);
				prep_read(u, q, wsqe);
			}
		} else {
			struct iopf_queue *dirty = engine_take_dirty(e);
			struct iopf_queue *q = lone_queue(e, dirty);

			/* One queue with work and nothing in flight: as a
			 * lone queue (solo_sync), whatever idle queues wait
			 * in the ring. */
			if (q && !dirty) {
				solo_sync(e, q);
			} else if (q) {
				queue_claim(q);
				solo_sync(e, q);
				if (queue_has_answers(q))
					queue_mark_dirty(q);
				dirty = engine_take_dirty(e);
			}
			u->async = run_async(e, dirty);
			prep_all(e, u, dirty);
		}
		if (round == 0 && timeout_ms != 0 && e->nready == before)
			wait_nr = 1;
		/* Nothing to submit or wait for, but completions may be
		 * there already (posted while the caller slept in its own
		 * epoll on the ring fd): those are what the run is for. */
		if (!u->queued && !wait_nr && !io_uring_cq_ready(&u->ring))
			break;
		u->queued = 0;
		if (wait_nr && timeout_ms > 0) {
			ts.tv_sec = timeout_ms / 1000;
			ts.tv_nsec = (long long)(timeout_ms % 1000) * 1000000;
			rc = io_uring_submit_and_wait_timeout(
				&u->ring, &cqe, wait_nr, &ts, NULL);
		} else {
			rc = io_uring_submit_and_wait(&u->ring, wait_nr);
		}
		if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN &&
		    rc != -EBUSY)
			return rc;
		reap(e, u);
		/* Answers queued meanwhile (in an answered callback, or by
		 * another thread) go out in this run too. */
		if (!u->again && answers_waiting(e))
			u->again = true;
		if (!u->again)
			break;
	}
	return 0;
}

/* Cancels what q has in flight and reaps until none is left; completions of
 * other queues meanwhile are handled as usual. Records read meanwhile are
 * ingested, so that teardown answers them. */
static void uring_del_queue(struct iopf_engine *e, struct iopf_queue *q)
{
	struct uring *u = e->priv;
	struct io_uring_sqe *sqe;

	if (!q->error) {
		q->error = -ECANCELED;
		engine_queue_failed(e, q);
	}
	if (q->poll_inflight && (sqe = get_sqe(u))) {
		io_uring_prep_cancel64(sqe, ud(q, OP_POLL), 0);
		io_uring_sqe_set_data64(sqe, OP_IGNORE);
	}
	if (q->read_inflight && (sqe = get_sqe(u))) {
		io_uring_prep_cancel64(sqe, ud(q, OP_READ), 0);
		io_uring_sqe_set_data64(sqe, OP_IGNORE);
	}
	/* The queue's buffers are freed next: nothing may stay in flight, so
	 * transient errors are retried. */
	for (int tries = 0; q->inflight && tries < 10000; tries++) {
		int rc;

		u->queued = 0;
		rc = io_uring_submit_and_wait(&u->ring, 1);
		if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY &&
		    rc != -ETIME)
			break;
		reap(e, u);
	}
	u->queued = 0;
	io_uring_submit(&u->ring);
	reap(e, u);
}

/* A lone queue with nothing in flight writes its answers with write(2)
 * (see solo_sync), and so does the only queue of many with answers (see
 * lone_queue), unless the caller polls the ring fd: a dispatch then arms the
 * next READ with them. */
static bool uring_flush(struct iopf_engine *e, int *rc)
{
	struct iopf_queue *q = e->queues;
	bool busy = false;

	if (e->fd_exported)
		return false;
	if (e->nqueues == 1) {
		if (q->inflight)
			return false;
		*rc = queue_write_sync(q);
		return true;
	}
	/* Likewise the only queue with answers, if nothing of it is in
	 * flight (see lone_queue); with more, the ring writes them all. A
	 * queue another thread marked meanwhile is written the same way, or,
	 * with something in flight, left marked for the ring. */
	q = atomic_load_explicit(&e->dirty, memory_order_acquire);
	if (!q || q->dnext || q->inflight)
		return false;
	*rc = queues_write_sync(engine_take_dirty(e), &busy);
	return !busy;
}

const struct engine_ops iopf_engine_uring_ops = {
	.init = uring_init,
	.fini = uring_fini,
	.add_queue = uring_add_queue,
	.del_queue = uring_del_queue,
	.run = uring_run,
	.flush = uring_flush,
	.fd = uring_fd,
	.fd_watches_queues = false,
};
