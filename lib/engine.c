/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What both engines share: the ready list, the ways to consume it (wait, pull,
 * dispatch), deadlines, and the wake-up for answers from other threads.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "core.h"

IOPF_INLINE struct iopf_group *engine_pop_ready(struct iopf_engine *e)
{
	struct iopf_group *g = e->ready_head;

	if (!g)
		return NULL;
	e->ready_head = g->next;
	if (!e->ready_head)
		e->ready_tail = NULL;
	e->nready--;
	return g;
}

/*
 * An answer queued by a thread other than the one running the engine must
 * not wait for the next fault: poke the engine's eventfd, once per flush.
 */
__thread struct iopf_engine *iopf_tls_engine
	__attribute__((tls_model("initial-exec")));

void engine_wake_slow(struct iopf_engine *e)
{
	uint64_t one = 1;

	if (atomic_exchange(&e->wake_pending, true))
		return;
	if (write(e->wake_fd, &one, sizeof(one)) < 0) {
		/* The counter cannot overflow at one write per flush. */
	}
}

void engine_drain_wake(struct iopf_engine *e)
{
	uint64_t v;

	atomic_store(&e->wake_pending, false);
	if (read(e->wake_fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing to drain. */
	}
}

void engine_drain_timer(struct iopf_engine *e)
{
	uint64_t v;

	e->timer_armed = 0;
	if (read(e->timer_fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: it did not fire. */
	}
}

/* ---- the deadline heap: a binary min-heap of queues by key --------------- */

static void dheap_set(struct iopf_engine *e, uint32_t i, struct dheap_ent ent)
{
	e->dheap[i] = ent;
	ent.q->dheap_idx = i;
}

static void dheap_up(struct iopf_engine *e, uint32_t i)
{
	struct dheap_ent ent = e->dheap[i];

	while (i > 0) {
		uint32_t parent = (i - 1) / 2;

		if (e->dheap[parent].key <= ent.key)
			break;
		dheap_set(e, i, e->dheap[parent]);
		i = parent;
	}
	dheap_set(e, i, ent);
}

static void dheap_down(struct iopf_engine *e, uint32_t i)
{
	struct dheap_ent ent = e->dheap[i];

	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= e->ndheap)
			break;
		if (c + 1 < e->ndheap && e->dheap[c + 1].key < e->dheap[c].key)
			c++;
		if (ent.key <= e->dheap[c].key)
			break;
		dheap_set(e, i, e->dheap[c]);
		i = c;
	}
	dheap_set(e, i, ent);
}

/* Room for every queue with a deadline was reserved when it was added
 * (engine_reserve_deadline), so this cannot fail. */
void dheap_add(struct iopf_engine *e, struct iopf_queue *q, uint64_t key)
{
	uint32_t i = e->ndheap++;

	e->dheap[i] = (struct dheap_ent){.key = key, .q = q};
	q->dheap_idx = i;
	dheap_up(e, i);
}

void dheap_del(struct iopf_engine *e, struct iopf_queue *q)
{
	uint32_t i = q->dheap_idx, last;

	if (i == DHEAP_NONE)
		return;
	q->dheap_idx = DHEAP_NONE;
	last = --e->ndheap;
	if (i == last)
		return;
	dheap_set(e, i, e->dheap[last]);
	if (i > 0 && e->dheap[i].key < e->dheap[(i - 1) / 2].key)
		dheap_up(e, i);
	else
		dheap_down(e, i);
}

/* The heap's top, keyed again: its queue's oldest group now expires at t
 * (later than its key: groups were answered), or it has none (t < 0). */
static void dheap_rekey_top(struct iopf_engine *e, int64_t t)
{
	if (t < 0) {
		dheap_del(e, e->dheap[0].q);
		return;
	}
	e->dheap[0].key = (uint64_t)t;
	dheap_down(e, 0);
}

int engine_reserve_deadline(struct iopf_engine *e)
{
	struct dheap_ent *h;
	uint32_t cap;

	if (e->ndeadline < e->dheap_cap)
		return 0;
	cap = e->dheap_cap ? e->dheap_cap * 2 : 16;
	h = realloc(e->dheap, cap * sizeof(*h));
	if (!h)
		return -ENOMEM;
	e->dheap = h;
	e->dheap_cap = cap;
	return 0;
}

/* The next deadline of any queue, or -1. The top's key is made exact first:
 * each step that is not exact moves a key later, for groups answered. */
static int64_t engine_next_expiry(struct iopf_engine *e)
{
	while (e->ndheap) {
		int64_t t = queue_next_expiry(e->dheap[0].q);

		if (t >= 0 && (uint64_t)t == e->dheap[0].key)
			return t;
		dheap_rekey_top(e, t);
	}
	return -1;
}

/* ---- errors and lists ---------------------------------------------------- */

void engine_queue_failed(struct iopf_engine *e, struct iopf_queue *q)
{
	if (q->on_elist)
		return;
	q->on_elist = true;
	q->errnext = e->ehead;
	e->ehead = q;
}

/* Takes q off the dirty stack. Only the engine's thread takes the stack, and
 * answers for this queue can no longer come (it is being freed), so the rest
 * is taken and put back. */
static void dirty_forget(struct iopf_engine *e, struct iopf_queue *q)
{
	struct iopf_queue *d = engine_take_dirty(e), *next;

	for (; d; d = next) {
		next = d->dnext;
		if (d == q)
			continue;
		qlock_lock(&d->lock);
		d->dirty = false;
		queue_mark_dirty_locked(d);
		qlock_unlock(&d->lock);
	}
	q->dirty = false;
}

void engine_forget_queue(struct iopf_engine *e, struct iopf_queue *q)
{
	engine_unwant_read(q);
	dheap_del(e, q);
	if (q->on_elist) {
		for (struct iopf_queue **p = &e->ehead; *p;
		     p = &(*p)->errnext) {
			if (*p == q) {
				*p = q->errnext;
				break;
			}
		}
		q->on_elist = false;
	}
	if (q->dirty)
		dirty_forget(e, q);
}

/* A caller that polls the engine fd in its own loop must be woken at the
 * next deadline too: the timerfd is part of what the engine fd watches. It
 * is re-armed only when the next deadline comes sooner than it would fire. */
static void engine_arm_timer(struct iopf_engine *e)
{
	struct itimerspec its = {{0, 0}, {0, 0}};
	int64_t t;

	if (!e->fd_exported)
		return;
	t = engine_next_expiry(e);
	if (t < 0 || (e->timer_armed && e->timer_armed <= (uint64_t)t))
		return;
	if (t == 0)
		t = 1;
	its.it_value.tv_sec = t / 1000000000;
	its.it_value.tv_nsec = t % 1000000000;
	if (timerfd_settime(e->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
		e->timer_armed = (uint64_t)t;
}

/* Bounds a wait by the nearest deadline of any queue. */
int engine_timeout(struct iopf_engine *e, int timeout_ms)
{
	int64_t t = engine_next_expiry(e), now, ms;

	if (t < 0)
		return timeout_ms;
	now = (int64_t)now_ns();
	ms = t <= now ? 0 : (t - now + 999999) / 1000000;
	if (ms > INT32_MAX)
		ms = INT32_MAX;
	return timeout_ms < 0 || ms < timeout_ms ? (int)ms : timeout_ms;
}

/* Expires the groups whose deadline passed, queue by queue from the heap's
 * top: only queues whose key came up are looked at. */
static void engine_expire(struct iopf_engine *e)
{
	uint64_t now;

	if (!e->ndheap)
		return;
	now = now_ns();
	while (e->ndheap && e->dheap[0].key <= now) {
		struct iopf_queue *q = e->dheap[0].q;

		queue_expire(q, now);
		dheap_rekey_top(e, queue_next_expiry(q));
	}
}

/* Ready groups, less those that died on the list (expired, stale). */
static unsigned int live(const struct iopf_engine *e)
{
	return e->nready - e->ndead + e->nvready;
}

/* Called from a handler or an answered callback of this engine: its
 * ready list or its io_uring completions are being walked, and a nested
 * dispatch would call handlers from handlers. */
static bool engine_busy(const struct iopf_engine *e)
{
	return e->in_dispatch || e->in_run;
}

/* A queue's fatal error, once, one queue per call; otherwise rc. */
static int engine_report_error(struct iopf_engine *e, int rc)
{
	while (rc >= 0 && e->ehead) {
		struct iopf_queue *q = e->ehead;

		e->ehead = q->errnext;
		q->on_elist = false;
		if (q->error && !q->error_reported) {
			q->error_reported = true;
			return q->error;
		}
	}
	return rc;
}

/*
 * The lone queue of an engine that has nothing else to do, or NULL: no
 * deadline to check, no operation in flight, no error to report, and no
 * caller asleep on an io_uring fd that only an armed READ would wake. Such a
 * queue is read and written with read(2) and write(2) from here, without the
 * engine's run: with one queue there is nothing to batch, and in a round trip
 * of one fault the layers cost as much as the library's own work.
 */
IOPF_INLINE struct iopf_queue *engine_solo(struct iopf_engine *e)
{
	struct iopf_queue *q = e->queues;

	if (e->nqueues != 1 || e->ndeadline || e->ehead)
		return NULL;
	if (q->inflight || q->error ||
	    (e->fd_exported && !e->ops->fd_watches_queues))
		return NULL;
	return q;
}

/* Writes the lone queue's answers (see engine_solo). */
IOPF_INLINE int solo_flush(struct iopf_engine *e, struct iopf_queue *q)
{
	int rc;

	iopf_tls_engine = e;
	e->in_run = true;
	engine_clear_wake(e);
	rc = queue_write_sync(q);
	e->in_run = false;
	/* A write that failed for good failed the queue: say it now. */
	return engine_report_error(e, rc);
}

/*
 * A run of the lone queue (see engine_solo) while reads find records: its
 * answers written, then one read. Returns false when that read gave no group
 * (the queue is empty, or its buffer must grow, or it failed): the engine's
 * run then does the rest, waiting included.
 */
IOPF_INLINE bool solo_run(struct iopf_engine *e, struct iopf_queue *q, int *rc)
{
	if (!q->readable || q->nready || e->flush_only || e->answers_only)
		return false;
	iopf_tls_engine = e;
	if (queue_has_answers(q)) {
		*rc = solo_flush(e, q);
		if (*rc)
			return true;
	}
	queue_read_result(q, q_read(q));
	*rc = 0;
	return q->nready && !q->error;
}

static bool engine_flush_op_slow(struct iopf_engine *e, int *rc)
{
	bool done;

	iopf_tls_engine = e;
	e->in_run = true;
	done = e->ops->flush(e, rc);
	e->in_run = false;
	if (done)
		*rc = engine_report_error(e, *rc);
	return done;
}

/* The engine's flush op, as a run: answers written, nothing read. Returns
 * false if the engine needs a run for it. */
IOPF_INLINE bool engine_flush_op(struct iopf_engine *e, int *rc)
{
	struct iopf_queue *q = engine_solo(e);

	if (q) {
		*rc = solo_flush(e, q);
		return true;
	}
	return engine_flush_op_slow(e, rc);
}

/*
 * Deadlines are checked before the run, so that their INVALID answers go
 * out with it, and after, so that groups that expired while it waited are
 * answered by the next one. A queue's fatal error is reported once, one
 * queue per call.
 */
static int engine_run_slow(struct iopf_engine *e, int timeout_ms)
{
	int rc;

	iopf_tls_engine = e;
	if (e->ndeadline) {
		engine_expire(e);
		timeout_ms = engine_timeout(e, timeout_ms);
	}
	e->in_run = true;
	rc = e->ops->run(e, timeout_ms);
	e->in_run = false;
	if (e->ndeadline) {
		engine_expire(e);
		engine_arm_timer(e);
	}
	return engine_report_error(e, rc);
}

IOPF_INLINE int engine_run(struct iopf_engine *e, int timeout_ms)
{
	struct iopf_queue *q = engine_solo(e);
	int rc;

	if (q && solo_run(e, q, &rc))
		return rc;
	return engine_run_slow(e, timeout_ms);
}

static int engine_opts(struct iopf_engine *e, const struct iopf_engine_opts *in,
		       struct iopf_engine_opts *o)
{
	int rc;

	memset(o, 0, sizeof(*o));
	if (in) {
		rc = copy_sized(o, sizeof(*o), in,
				offsetof(struct iopf_engine_opts, flags));
		if (rc)
			return rc;
	}
	if (o->flags & ~IOPF_ENGINE_ASYNC)
		return -EINVAL;
	if ((o->flags & IOPF_ENGINE_ASYNC) && o->kind != IOPF_ENGINE_URING)
		return -EINVAL;
	if (o->ring_entries > 32768)
		return -EINVAL;
	switch (o->kind) {
	case IOPF_ENGINE_URING:
		e->ops = &iopf_engine_uring_ops;
		break;
	case IOPF_ENGINE_PLAIN:
		e->ops = &iopf_engine_plain_ops;
		break;
	default:
		return -EINVAL;
	}
	e->kind = o->kind;
	e->flags = o->flags;
	e->ring_entries = o->ring_entries ? o->ring_entries : 256;
	return 0;
}

IOPF_EXPORT int iopf_engine_new(const struct iopf_engine_opts *opts,
				struct iopf_engine **out)
{
	struct iopf_engine_opts o;
	struct iopf_engine *e;
	int rc;

	if (!out)
		return -EINVAL;
	*out = NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->rhead.rnext = e->rhead.rprev = &e->rhead;
	rc = engine_opts(e, opts, &o);
	if (rc)
		goto err;
	e->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (e->wake_fd < 0) {
		rc = -errno;
		goto err;
	}
	e->timer_fd =
		timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (e->timer_fd < 0) {
		rc = -errno;
		close(e->wake_fd);
		goto err;
	}
	rc = e->ops->init(e, &o);
	if (rc) {
		close(e->timer_fd);
		close(e->wake_fd);
		goto err;
	}
	*out = e;
	return 0;
err:
	free(e);
	return rc;
}

/* Frees the queues still attached too, answering what they hold. */
IOPF_EXPORT void iopf_engine_free(struct iopf_engine *e)
{
	if (!e)
		return;
	while (e->queues) {
		if (e->queues->kind == QK_VEVENT)
			iopf_veventq_free((struct iopf_veventq *)e->queues);
		else
			iopf_queue_free(e->queues);
	}
	e->ops->fini(e);
	close(e->timer_fd);
	close(e->wake_fd);
	free(e->dheap);
	free(e);
}

IOPF_EXPORT int iopf_engine_kind(const struct iopf_engine *e)
{
	return e ? (int)e->kind : -EINVAL;
}

IOPF_EXPORT int iopf_engine_fd(struct iopf_engine *e)
{
	if (!e)
		return -EINVAL;
	/* From now on answers and deadlines wake the caller's own loop. */
	e->fd_exported = true;
	engine_arm_timer(e);
	return e->ops->fd(e);
}

IOPF_EXPORT int iopf_engine_wake(struct iopf_engine *e)
{
	uint64_t one = 1;

	if (!e)
		return -EINVAL;
	atomic_store(&e->interrupt, true);
	if (!atomic_exchange(&e->wake_pending, true) &&
	    write(e->wake_fd, &one, sizeof(one)) < 0)
		return -errno;
	return 0;
}

IOPF_EXPORT int iopf_engine_process(struct iopf_engine *e)
{
	int rc;

	if (!e)
		return -EINVAL;
	if (engine_busy(e))
		return -EBUSY;
	rc = engine_run(e, 0);
	if (rc < 0)
		return rc;
	return (int)live(e);
}

IOPF_INLINE int engine_wait(struct iopf_engine *e, int timeout_ms)
{
	uint64_t end = 0;
	int rc;

	/* Answers go out and ready records come in even when groups are
	 * already waiting, so that a caller that only waits still flushes.
	 * The clock is read only if this found nothing. */
	rc = engine_run(e, 0);
	while (rc >= 0 && !live(e) && timeout_ms != 0) {
		if (atomic_load_explicit(&e->interrupt, memory_order_relaxed) &&
		    atomic_exchange(&e->interrupt, false))
			break;
		int left = timeout_ms;

		if (timeout_ms > 0) {
			uint64_t now = now_ns();

			if (!end)
				end = now + (uint64_t)timeout_ms * 1000000ull;
			if (now >= end)
				break;
			left = (int)((end - now + 999999) / 1000000);
		}
		rc = engine_run(e, left);
	}
	if (rc < 0)
		return rc;
	return (int)live(e);
}

IOPF_EXPORT int iopf_engine_wait(struct iopf_engine *e, int timeout_ms)
{
	if (!e || timeout_ms < -1)
		return -EINVAL;
	if (engine_busy(e))
		return -EBUSY;
	return engine_wait(e, timeout_ms);
}

/*
 * Groups left on the ready list when a pull or dispatch returns (more than it
 * took, read while its answers were written, or left by a handler's error)
 * are in no fd's readiness any more: a caller asleep on the engine fd would
 * not learn of them. Its wake-up eventfd announces them.
 */
IOPF_INLINE void engine_announce_left(struct iopf_engine *e)
{
	if (unlikely(e->fd_exported) && live(e))
		engine_wake_slow(e);
}

IOPF_INLINE void hand_out(struct iopf_group *g)
{
	queue_unready(g->q);
	atomic_store_explicit(&g->state, G_HANDED, memory_order_release);
}

/* Groups that died on the ready list were answered already (by the deadline,
 * or by the kernel on a detach): they are released, not handed out. */
IOPF_INLINE struct iopf_group *next_live(struct iopf_engine *e)
{
	struct iopf_group *g;

	while ((g = engine_pop_ready(e))) {
		uint32_t state = gstate(g);

		if (likely(state != G_EXPIRED && state != G_STALE))
			return g;
		e->ndead--;
		queue_unready(g->q);
		group_release(g);
	}
	return NULL;
}

/* The live groups at the head of the ready list, up to max, handed out as
 * next_live() and hand_out() would, with the list in locals and each queue's
 * count of ready groups lowered once for a run of its groups. Stops at the
 * first dead group: next_live() releases those. */
IOPF_INLINE unsigned int pull_live(struct iopf_engine *e,
				   struct iopf_group **groups, unsigned int max)
{
	struct iopf_group *g = e->ready_head;
	struct iopf_queue *rq = NULL;
	unsigned int n = 0;
	uint32_t run = 0;

	for (; n < max && g; n++) {
		uint32_t state = gstate(g);
		struct iopf_group *next = g->next;

		if (unlikely(state == G_EXPIRED || state == G_STALE))
			break;
		if (g->q != rq) {
			if (rq)
				queue_unready_n(rq, run);
			rq = g->q;
			run = 0;
		}
		run++;
		atomic_store_explicit(&g->state, G_HANDED,
				      memory_order_release);
		groups[n] = g;
		g = next;
	}
	if (!rq) /* nothing taken */
		return 0;
	queue_unready_n(rq, run);
	e->ready_head = g;
	if (!g)
		e->ready_tail = NULL;
	e->nready -= n;
	return n;
}

IOPF_EXPORT int iopf_engine_pull(struct iopf_engine *e,
				 struct iopf_group **groups, unsigned int max)
{
	unsigned int n = 0;
	struct iopf_group *g;
	int rc;

	if (!e || !groups || !max)
		return -EINVAL;
	if (engine_busy(e))
		return -EBUSY;
	if (!live(e)) {
		rc = engine_run(e, 0);
		if (rc < 0)
			return rc;
	}
	n = pull_live(e, groups, max);
	while (n < max && (g = next_live(e))) {
		hand_out(g);
		groups[n++] = g;
	}
	engine_announce_left(e);
	return (int)n;
}

/* Whether answers wait to be written, or are being written. A lone queue is
 * written without its dirty mark being taken (engine_solo): it is asked. */
IOPF_INLINE bool engine_has_answers(struct iopf_engine *e)
{
	struct iopf_queue *q = e->queues;

	if (e->nqueues == 1)
		return q->write_inflight || queue_has_answers(q);
	return e->nwrites || engine_any_dirty(e);
}

IOPF_EXPORT int iopf_engine_dispatch(struct iopf_engine *e, int timeout_ms)
{
	struct iopf_group *g;
	int rc, n = 0;

	if (!e || timeout_ms < -1)
		return -EINVAL;
	if (engine_busy(e))
		return -EBUSY;
	if (e->nhandlerless)
		for (struct iopf_group *r = e->ready_head; r; r = r->next)
			if (!r->q->handler)
				return -EINVAL;
	if (e->vready_head && !veventq_has_handler(e->vready_head))
		return -EINVAL;
	rc = engine_wait(e, timeout_ms);
	if (rc < 0)
		return rc;
	e->in_dispatch = true;
	while (e->ready_head) {
		if (!e->ready_head->q->handler) {
			rc = n ? n : -EINVAL;
			break;
		}
		g = next_live(e);
		if (!g)
			break;
		hand_out(g);
		rc = g->q->handler(g, g->q->user);
		n++;
		if (rc < 0)
			break;
		rc = n;
	}
	/* Then every vEVENTQ's batch, one handler call each: events read in
	 * the same run as the groups are handed out in the same dispatch. */
	while (rc >= 0 && e->vready_head) {
		if (!veventq_has_handler(e->vready_head)) {
			rc = n ? n : -EINVAL;
			break;
		}
		rc = veventq_dispatch(engine_pop_vready(e));
		n++;
		if (rc < 0)
			break;
		rc = n;
	}
	e->in_dispatch = false;
	/* What the handlers answered goes out now, so that a caller who
	 * sleeps next in its own loop leaves no device waiting. Nothing is
	 * read here: the queue was just drained, and the next wait reads
	 * (the io_uring engine arms its next READ with the answers only for
	 * a caller that sleeps on the ring fd). */
	if (n && engine_has_answers(e)) {
		int r;

		if (!engine_flush_op(e, &r)) {
			e->answers_only = true;
			r = engine_run(e, 0);
			e->answers_only = false;
		}
		if (r < 0 && rc >= 0)
			rc = r;
	}
	engine_announce_left(e);
	return rc;
}

/* Runs the engine until every queued answer was written, or refused, or
 * failed: a write the kernel took in part is resumed, and one still in flight
 * in io_uring is waited for. */
IOPF_EXPORT int iopf_engine_flush(struct iopf_engine *e)
{
	bool left = true;
	int rc;

	if (!e)
		return -EINVAL;
	/* A handler may flush (its dispatch walks only the ready list); an
	 * answered callback may not (the run is walking completions). */
	if (e->in_run)
		return -EBUSY;
	/* Nothing to write or wait for, no deadline to check, no error to
	 * report: what a flush after a dispatch finds (its handlers' answers
	 * went out with it). */
	if (!e->ndeadline && !e->ehead && !engine_has_answers(e))
		return 0;
	/* Nothing in flight to wait for, no deadline to check first: the
	 * engine's flush op writes everything (or says why not). Answers
	 * that other threads gave after its last write are left to the
	 * rounds below (they used to make it return -EAGAIN at once). */
	if (!e->ndeadline && engine_flush_op(e, &rc)) {
		if (rc < 0)
			return rc;
		if (!engine_has_answers(e))
			return 0;
	}
	e->flush_only = true;
	rc = 0;
	for (int i = 0; i < 1000 && rc >= 0; i++) {
		rc = engine_run(e, 0);
		if (rc < 0 || !(left = engine_has_answers(e)))
			break;
		/* Still in flight: give the completion a moment. */
		rc = engine_run(e, 1);
	}
	e->flush_only = false;
	if (rc < 0)
		return rc;
	/* Not asked again after a round that left nothing: an answer that
	 * another thread gave since is the next pass's, not a failure. */
	return left && engine_has_answers(e) ? -EAGAIN : 0;
}
