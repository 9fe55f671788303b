/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What both engines share: the ready list, the ways to consume it (wait, pull,
 * dispatch), deadlines, and the wake-up for answers from other threads.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core.h"

void engine_push_ready(struct iopf_engine *e, struct iopf_group *g)
{
	g->next = NULL;
	if (e->ready_tail)
		e->ready_tail->next = g;
	else
		e->ready_head = g;
	e->ready_tail = g;
	e->nready++;
}

static struct iopf_group *engine_pop_ready(struct iopf_engine *e)
{
	struct iopf_group *g = e->ready_head;

	if (!g)
		return NULL;
	e->ready_head = g->next;
	if (!e->ready_head)
		e->ready_tail = NULL;
	e->nready--;
	g->next = NULL;
	return g;
}

/*
 * An answer queued by a thread other than the one running the engine must
 * not wait for the next fault: poke the engine's eventfd, once per flush.
 */
void engine_wake(struct iopf_engine *e)
{
	uint64_t one = 1;

	/* The engine's own thread flushes on its next run anyway. */
	if (e->owner_set && pthread_equal(e->owner, pthread_self()))
		return;
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

/* Bounds a wait by the nearest deadline of any queue. */
int engine_timeout(struct iopf_engine *e, int timeout_ms)
{
	uint64_t now = 0;

	for (struct iopf_queue *q = e->queues; q; q = q->enext) {
		int64_t t = queue_next_expiry(q);
		int64_t ms;

		if (t < 0)
			continue;
		if (!now)
			now = now_ns();
		ms = t <= (int64_t)now ? 0 : (t - (int64_t)now + 999999) / 1000000;
		if (ms > INT32_MAX)
			ms = INT32_MAX;
		if (timeout_ms < 0 || ms < timeout_ms)
			timeout_ms = (int)ms;
	}
	return timeout_ms;
}

static int engine_run(struct iopf_engine *e, int timeout_ms)
{
	int rc;
	uint64_t now;

	e->owner = pthread_self();
	e->owner_set = true;
	e->in_run = true;
	rc = e->ops->run(e, engine_timeout(e, timeout_ms));
	e->in_run = false;
	now = 0;
	for (struct iopf_queue *q = e->queues; q; q = q->enext) {
		if (q->deadline_ns) {
			if (!now)
				now = now_ns();
			queue_expire(q, now);
		}
		if (q->error && !q->error_reported) {
			q->error_reported = true;
			if (rc >= 0)
				rc = q->error;
		}
	}
	return rc;
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
	if (o->flags)
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
	rc = engine_opts(e, opts, &o);
	if (rc)
		goto err;
	e->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (e->wake_fd < 0) {
		rc = -errno;
		goto err;
	}
	rc = e->ops->init(e, &o);
	if (rc) {
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
	while (e->queues)
		iopf_queue_free(e->queues);
	e->ops->fini(e);
	close(e->wake_fd);
	free(e);
}

IOPF_EXPORT int iopf_engine_kind(const struct iopf_engine *e)
{
	return e ? (int)e->kind : -EINVAL;
}

IOPF_EXPORT int iopf_engine_fd(const struct iopf_engine *e)
{
	return e ? e->ops->fd(e) : -EINVAL;
}

IOPF_EXPORT int iopf_engine_process(struct iopf_engine *e)
{
	int rc;

	if (!e)
		return -EINVAL;
	rc = engine_run(e, 0);
	if (rc < 0)
		return rc;
	return (int)e->nready;
}

IOPF_EXPORT int iopf_engine_wait(struct iopf_engine *e, int timeout_ms)
{
	uint64_t end = 0;
	int rc;

	if (!e || timeout_ms < -1)
		return -EINVAL;
	if (timeout_ms > 0)
		end = now_ns() + (uint64_t)timeout_ms * 1000000ull;
	/* Answers go out and ready records come in even when groups are
	 * already waiting, so that a caller that only waits still flushes. */
	rc = engine_run(e, 0);
	while (rc >= 0 && !e->nready && timeout_ms != 0) {
		int left = timeout_ms;

		if (timeout_ms > 0) {
			uint64_t now = now_ns();

			if (now >= end)
				break;
			left = (int)((end - now + 999999) / 1000000);
		}
		rc = engine_run(e, left);
	}
	if (rc < 0)
		return rc;
	return (int)e->nready;
}

static void hand_out(struct iopf_group *g)
{
	struct iopf_queue *q = g->q;

	pthread_mutex_lock(&q->lock);
	atomic_store(&g->state, G_HANDED);
	pthread_mutex_unlock(&q->lock);
}

/* Groups whose deadline passed while still on the ready list were answered
 * already: they are released here instead of being handed out. */
static struct iopf_group *next_live(struct iopf_engine *e)
{
	struct iopf_group *g;

	while ((g = engine_pop_ready(e))) {
		if (atomic_load(&g->state) != G_EXPIRED)
			return g;
		/* Releases the slot; the INVALID answer went out already. */
		iopf_group_respond(g, IOPF_RESP_INVALID);
	}
	return NULL;
}

IOPF_EXPORT int iopf_engine_pull(struct iopf_engine *e,
				 struct iopf_group **groups, unsigned int max)
{
	unsigned int n = 0;
	struct iopf_group *g;
	int rc;

	if (!e || !groups || !max)
		return -EINVAL;
	if (!e->nready) {
		rc = engine_run(e, 0);
		if (rc < 0)
			return rc;
	}
	while (n < max && (g = next_live(e))) {
		hand_out(g);
		groups[n++] = g;
	}
	return (int)n;
}

IOPF_EXPORT int iopf_engine_dispatch(struct iopf_engine *e, int timeout_ms)
{
	struct iopf_group *g;
	int rc, n = 0;

	if (!e || timeout_ms < -1)
		return -EINVAL;
	for (struct iopf_group *r = e->ready_head; r; r = r->next)
		if (!r->q->handler)
			return -EINVAL;
	rc = iopf_engine_wait(e, timeout_ms);
	if (rc < 0)
		return rc;
	while (e->ready_head) {
		if (!e->ready_head->q->handler)
			return n ? n : -EINVAL;
		g = next_live(e);
		if (!g)
			break;
		hand_out(g);
		rc = g->q->handler(g, g->q->user);
		n++;
		if (rc < 0)
			return rc;
	}
	return n;
}

static bool engine_has_answers(struct iopf_engine *e)
{
	for (struct iopf_queue *q = e->queues; q; q = q->enext)
		if (q->write_inflight || queue_has_answers(q))
			return true;
	return false;
}

/* Runs the engine until every queued answer was written, or refused, or
 * failed: a write the kernel took in part is resumed, and one still in flight
 * in io_uring is waited for. */
IOPF_EXPORT int iopf_engine_flush(struct iopf_engine *e)
{
	int rc;

	if (!e)
		return -EINVAL;
	for (int i = 0; i < 1000; i++) {
		rc = engine_run(e, 0);
		if (rc < 0)
			return rc;
		if (!engine_has_answers(e))
			return 0;
		/* Still in flight: give the completion a moment. */
		rc = engine_run(e, 1);
		if (rc < 0)
			return rc;
	}
	return engine_has_answers(e) ? -EAGAIN : 0;
}
