/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The data path's objects: engines, queues, group slots, answer buffers.
 *
 * Threading: everything belongs to the thread that runs the engine, except
 * what iopf_group_respond() touches (a group's state, its queue's outstanding
 * list, free list and pending answers), which q->lock guards, so that groups
 * can be answered from any thread.
 */
#ifndef IOPF_CORE_H
#define IOPF_CORE_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <unistd.h>

#include "internal.h"
#include "uapi/iommufd.h"

#define FAULT_SIZE sizeof(struct iommu_hwpt_pgfault)
#define RESP_SIZE  sizeof(struct iommu_hwpt_page_response)

#define DEFAULT_BATCH	  256
#define INITIAL_RECORDS	  16 /* a queue's first read buffer, see queue_opts() */
#define DEFAULT_MAX_GROUP 4096
#define MAX_MAX_GROUP	  65536
#define INLINE_FAULTS	  4
#define SLOT_CHUNK	  64
/* At most this many answers go in one write: the mock's socket must hold a
 * whole write, and one write per this many answers costs nothing. */
#define MAX_WRITE_ANSWERS 2048

#define KNOWN_FAULT_FLAGS (IOPF_FAULT_PASID_VALID | IOPF_FAULT_LAST_PAGE)
#define KNOWN_PERM                                                             \
	(IOPF_PERM_READ | IOPF_PERM_WRITE | IOPF_PERM_EXEC | IOPF_PERM_PRIV)

enum group_state {
	G_FREE = 0,
	G_ASSEMBLING, /* records arriving, no LAST_PAGE yet */
	G_READY, /* complete, on the engine's ready list */
	G_HANDED, /* given to the caller */
	G_EXPIRED, /* answered INVALID by the deadline; caller still holds it */
	G_STALE, /* the kernel answered it and gave its cookie to a newer group
		  */
};

/* Who holds a cookie: the kernel reuses a cookie as soon as the group that
 * had it is answered, by user space or by the kernel itself on detach. */
struct cookie_owner {
	uint64_t tag; /* the newest group given this cookie */
	struct iopf_group *g; /* that group while read and not answered */
};
#define MAX_TRACKED_COOKIE (1u << 20)

/*
 * The queue lock. Its critical sections are a handful of stores (answer one
 * group, take the answers, ingest a batch), almost never contended: a test
 * and test-and-set lock costs a fraction of a pthread mutex per fault, and
 * yields the CPU if the holder was preempted.
 */
struct qlock {
	atomic_bool held;
};

/* Spins until l is free, then takes it (group.c): the contended case, out
 * of the callers' line. */
void qlock_lock_slow(struct qlock *l);

static inline void qlock_lock(struct qlock *l)
{
	if (unlikely(atomic_exchange_explicit(&l->held, true,
					      memory_order_acquire)))
		qlock_lock_slow(l);
}

static inline void qlock_unlock(struct qlock *l)
{
	atomic_store_explicit(&l->held, false, memory_order_release);
}

struct iopf_group {
	struct iopf_queue *q;
	struct iopf_group *next; /* free list, or the engine's ready list */
	struct iopf_group *oprev, *onext; /* the queue's outstanding list */
	uint64_t tag;
	uint64_t t_read;
	void *user;
	struct iopf_fault *faults;
	uint32_t count, cap;
	uint32_t cookie;
	_Atomic uint32_t state;
	struct iopf_fault inline_faults[INLINE_FAULTS];
};

/* Answers in the kernel's layout, ready to be written, with what the library
 * needs to report each one's outcome. */
#define ANS_AUTO (1ull << 63) /* tag bit: sent by the library itself */
_Static_assert(IOPF_TAG_UNSEEN != ANS_AUTO, "tag bits");
struct ans_buf {
	struct iommu_hwpt_page_response *rsp;
	uint64_t *tags;
	uint32_t n, off, cap;
	/* At least how many of [off, n) are not a caller's SUCCESS (INVALID,
	 * or the library's own): 0 lets report_taken() count without
	 * looking. Reset with n. */
	uint32_t special;
};

struct iopf_queue {
	struct iopf_engine *e;
	struct iopf_ctx *ctx;
	struct iopf_queue *enext; /* the engine's list of queues */
	/* The engine's work lists (see struct iopf_engine): a run looks at the
	 * queues on them, never at all of its queues. */
	struct iopf_queue *dnext; /* answers to write: guarded by e->dirty */
	struct iopf_queue *rnext, *rprev; /* to read: the engine's thread */
	struct iopf_queue *errnext; /* failed, error not reported yet */
	uint32_t dheap_idx; /* in e->dheap, or DHEAP_NONE */
	bool dirty; /* on e->dirty; guarded by q->lock */
	bool on_rlist, on_elist;
	uint32_t rpass; /* e->rpass when it went on rhead */
	uint32_t fault_id; /* or the vEVENTQ's id */
	uint32_t kind; /* QK_FAULT, or QK_VEVENT: a struct iopf_veventq */
	uint32_t rec_size; /* bytes a record: the engines know no other */
	int fd; /* the fault fd: read records, write answers */
	int poll_fd; /* what to wait on: the fault fd, or the backend's */
	bool hooks; /* the backend stands behind the fd (the mock) */
	iopf_handler_fn handler;
	iopf_answered_fn answered;
	void *user;
	uint64_t deadline_ns;
	uint32_t max_group;

	/* read side: the engine's thread only */
	unsigned char *buf;
	uint32_t buf_records;
	uint32_t batch; /* what buf grows to while reads fill it */
	bool readable; /* read again without waiting first */
	bool full; /* the last read filled the buffer: more is likely */
	uint32_t nready; /* groups read and not handed out yet */
	bool polled; /* the last wait said readable: a 0 read means no fit */
	int error; /* fatal for this queue, reported once */
	bool error_reported;
	struct iopf_group *assembling;
	bool dropping; /* skipping the rest of a group we could not hold */
	/* A cookie was given to a new group while answers were waiting to be
	 * written: one of them may be for the group that had it before, and
	 * queue_filter_stale() must check them. Engine's thread only. */
	bool stale_check;
	uint32_t drop_cookie;

	/* engine-private state (in-flight operations; the plain engine's
	 * epoll registration) */
	unsigned int inflight;
	bool read_inflight, poll_inflight, write_inflight;
	bool watched;

	struct qlock lock; /* guards what follows */
	struct iopf_group *free_head, *free_tail;
	struct iopf_group outstanding; /* list head: READY and HANDED groups */
	struct ans_buf pending; /* answered, not yet given to an engine */
	atomic_uint npending; /* pending.n, readable without the lock */
	void **chunks;
	uint32_t nchunks;
	struct cookie_owner *owners; /* indexed by cookie */
	uint32_t nowners;
	/* respond() calls that got -ESTALE: counted under the lock, read
	 * without it by iopf_queue_stats() */
	_Atomic uint64_t stale_responds;
	uint64_t next_tag;
	uint32_t nexpired;

	struct ans_buf inflight_ans; /* being written: the engine's thread */
	struct iopf_stats stats;
};

struct engine_ops {
	int (*init)(struct iopf_engine *e, const struct iopf_engine_opts *o);
	void (*fini)(struct iopf_engine *e);
	int (*add_queue)(struct iopf_engine *e, struct iopf_queue *q);
	/* Stops every operation of q and waits until none is in flight. */
	void (*del_queue)(struct iopf_engine *e, struct iopf_queue *q);
	/* Writes pending answers, reads what is ready, and if nothing became
	 * ready waits at most timeout_ms (-1: forever) for something. */
	int (*run)(struct iopf_engine *e, int timeout_ms);
	/* Writes every queue's pending answers now with plain writes, and
	 * nothing else, if the engine can (*rc: 0 or -errno) and returns
	 * true; false: a run must do it (io_uring with operations in
	 * flight, or a READ to arm for a caller that polls the engine fd). */
	bool (*flush)(struct iopf_engine *e, int *rc);
	/* The engine fd, and from now on whatever it needs to watch. */
	int (*fd)(struct iopf_engine *e);
	/* Whether the engine fd watches the queues' fds themselves (epoll),
	 * so that a caller polling it needs nothing armed; io_uring's ring fd
	 * wakes only for an operation in flight. */
	bool fd_watches_queues;
};

/* A queue's entry in the engine's deadline heap: when its oldest outstanding
 * group expires, as it was when last looked at. Groups are answered in any
 * order, so the key may be early, never late: a queue whose key comes up is
 * expired and keyed again (engine_expire). */
#define DHEAP_NONE UINT32_MAX

enum { QK_FAULT = 0, QK_VEVENT = 1 };
struct dheap_ent {
	uint64_t key;
	struct iopf_queue *q;
};

struct iopf_engine {
	const struct engine_ops *ops;
	uint32_t kind;
	uint32_t ring_entries;
	uint32_t flags; /* IOPF_ENGINE_F_* */
	struct iopf_queue *queues;
	unsigned int nqueues;
	/*
	 * What a run looks at, so that its cost follows what happened, not the
	 * number of queues:
	 * - dirty: queues with answers to write, pushed by whoever queues the
	 *   first answer (any thread: a lock-free stack, taken whole by the
	 *   engine's thread), see queue_mark_dirty();
	 * - rhead: queues to read (plain) or to arm a READ for (io_uring): new
	 *   ones, those whose last read gave records, those whose groups were
	 *   all handed out again, those a wait named;
	 * - dheap: queues with groups under a deadline, by when the oldest
	 *   expires;
	 * - ehead: queues whose fatal error is not reported yet.
	 */
	_Atomic(struct iopf_queue *) dirty;
	struct iopf_queue rhead; /* list head; only rnext/rprev are used */
	struct dheap_ent *dheap;
	uint32_t ndheap, dheap_cap;
	struct iopf_queue *ehead;
	/* vEVENTQs with events read and not handed out yet, oldest first */
	struct iopf_veventq *vready_head, *vready_tail;
	unsigned int nvready;
	unsigned int ndeadline; /* queues with a deadline */
	unsigned int nhandlerless; /* queues without a handler */
	struct iopf_group *ready_head, *ready_tail;
	unsigned int nready; /* on the ready list, dead ones included */
	unsigned int ndead; /* expired or stale while on the ready list */
	bool fd_exported; /* the caller polls iopf_engine_fd() */
	bool in_dispatch;
	bool flush_only; /* iopf_engine_flush(): write answers, read nothing */
	bool answers_only; /* after a dispatch: a read there would find the
			      queue drained, unless the caller sleeps on
			      the engine fd and needs a read armed */
	unsigned int nwrites; /* io_uring WRITEs in flight */
	uint32_t rpass; /* the pass over rhead in progress, see rlist_next() */
	int timer_fd; /* deadlines, for callers polling the engine fd */
	uint64_t timer_armed; /* when timer_fd fires, 0: disarmed */
	int wake_fd; /* eventfd: another thread queued answers */
	/* Set by other threads, and kept apart from the plain fields: gcc may
	 * read neighbouring bools in one wider load (it did: flush_only and
	 * answers_only in plain_run), and TSan then sees that load race with
	 * these stores. */
	_Alignas(8) atomic_bool interrupt; /* iopf_engine_wake() was called */
	atomic_bool wake_pending;
	_Alignas(8) bool in_run;
	void *priv;
};

/* A group's state changes under its queue's lock, except when the engine's
 * thread hands a READY group out (nobody else can hold it yet, and the
 * caller's own hand-over to another thread orders the rest): relaxed
 * accesses under the lock, a release store there. */
static inline uint32_t gstate(const struct iopf_group *g)
{
	return atomic_load_explicit(&((struct iopf_group *)g)->state,
				    memory_order_relaxed);
}

static inline void gstate_set(struct iopf_group *g, uint32_t state)
{
	atomic_store_explicit(&g->state, state, memory_order_relaxed);
}

/* ---- the engine's work lists (see struct iopf_engine) ------------------- */

/* Puts q on the engine's dirty stack, unless it is there: called with q->lock
 * held whenever an answer is queued, from any thread. The engine takes the
 * whole stack at once (engine_take_dirty), so a push cannot meet a pop of
 * its own node (no ABA). */
IOPF_INLINE void queue_mark_dirty_locked(struct iopf_queue *q)
{
	struct iopf_engine *e = q->e;
	struct iopf_queue *head;

	if (q->dirty)
		return;
	q->dirty = true;
	head = atomic_load_explicit(&e->dirty, memory_order_relaxed);
	do {
		q->dnext = head;
	} while (!atomic_compare_exchange_weak_explicit(&e->dirty, &head, q,
							memory_order_release,
							memory_order_relaxed));
}

/* The dirty stack, taken whole (NULL if empty, without a locked op). Each
 * queue on it stays marked until queue_claim() unmarks it. */
IOPF_INLINE struct iopf_queue *engine_take_dirty(struct iopf_engine *e)
{
	if (!atomic_load_explicit(&e->dirty, memory_order_relaxed))
		return NULL;
	return atomic_exchange_explicit(&e->dirty, NULL, memory_order_acquire);
}

/* Whether any queue is on the dirty stack. */
IOPF_INLINE bool engine_any_dirty(struct iopf_engine *e)
{
	return atomic_load_explicit(&e->dirty, memory_order_acquire) != NULL;
}

/* The engine's thread will look at q's read side in its next pass. */
IOPF_INLINE void engine_want_read(struct iopf_engine *e, struct iopf_queue *q)
{
	if (q->on_rlist)
		return;
	q->on_rlist = true;
	q->rpass = e->rpass;
	q->rnext = &e->rhead;
	q->rprev = e->rhead.rprev;
	e->rhead.rprev->rnext = q;
	e->rhead.rprev = q;
}

IOPF_INLINE void engine_unwant_read(struct iopf_queue *q)
{
	if (!q->on_rlist)
		return;
	q->rprev->rnext = q->rnext;
	q->rnext->rprev = q->rprev;
	q->on_rlist = false;
}

/* Starts a pass over the queues to read: queues put there during the pass
 * wait for the next one. */
IOPF_INLINE void rlist_begin(struct iopf_engine *e)
{
	e->rpass++;
}

/* The next queue of the pass, taken off the list, or NULL. */
IOPF_INLINE struct iopf_queue *rlist_next(struct iopf_engine *e)
{
	struct iopf_queue *q = e->rhead.rnext;

	if (q == &e->rhead || q->rpass == e->rpass)
		return NULL;
	engine_unwant_read(q);
	return q;
}

/* The bytes a read of q asks for. The engines know nothing else of the
 * records: their size and meaning stay in group.c (queue_read_result), so
 * that another record stream (the vIOMMU event queue) can use the engines. */
static inline size_t queue_read_len(const struct iopf_queue *q)
{
	return (size_t)q->buf_records * q->rec_size;
}

extern const struct engine_ops iopf_engine_plain_ops;
extern const struct engine_ops iopf_engine_uring_ops;

/* group.c */
int queue_slots_init(struct iopf_queue *q);
void queue_slots_fini(struct iopf_queue *q);
int queue_read_result(struct iopf_queue *q, ssize_t res);
/* Whether q has answers to write: pending, or left of the last write. */
static inline bool queue_has_answers(struct iopf_queue *q)
{
	return q->inflight_ans.off < q->inflight_ans.n ||
	       atomic_load_explicit(&q->npending, memory_order_acquire) > 0;
}
/* A queue is read again only once what was read from it has been handed
 * out: memory stays bounded by one batch a queue, and the kernel keeps the
 * rest (its queue is the device's backpressure). */
static inline bool queue_may_read(const struct iopf_queue *q)
{
	return !q->nready && !q->error;
}
void queue_filter_stale_slow(struct iopf_queue *q);

/* Before each write: drops answers that would reach a newer group (see
 * queue_filter_stale_slow), when a cookie changed hands meanwhile. */
static inline void queue_filter_stale(struct iopf_queue *q)
{
	if (q->stale_check)
		queue_filter_stale_slow(q);
}
int queue_take_answers(struct iopf_queue *q);
/* Takes q off the dirty mark (it was taken off the dirty stack) and moves its
 * pending answers to the write buffer if that is empty; an answer queued from
 * now on marks it again. */
void queue_claim(struct iopf_queue *q);
/* Marks q dirty again from the engine's thread: answers left unwritten. */
void queue_mark_dirty(struct iopf_queue *q);
void queue_answers_done(struct iopf_queue *q, ssize_t res);
int queue_write_sync(struct iopf_queue *q);
/* Writes with write(2) the answers of every queue of a dirty stack taken
 * whole (engine_take_dirty) that has nothing in flight; a queue left with
 * answers is marked again. Returns the first error; *busy (may be NULL) is
 * set when a queue left marked has an operation in flight. */
int queues_write_sync(struct iopf_queue *stack, bool *busy);
void queue_expire(struct iopf_queue *q, uint64_t now);
int64_t queue_next_expiry(struct iopf_queue *q);
void queue_answer_all_invalid(struct iopf_queue *q);
void group_release(struct iopf_group *g);

/* veventq.c: a read's result on a vEVENTQ (see queue_read_result). */
int veventq_read_result(struct iopf_queue *q, ssize_t res);
/* The next vEVENTQ with events, taken off the engine's list, or NULL. */
struct iopf_veventq *engine_pop_vready(struct iopf_engine *e);
/* Calls vq's handler with all its events; they are handed out. */
int veventq_dispatch(struct iopf_veventq *vq);
/* Whether vq has a handler. */
bool veventq_has_handler(const struct iopf_veventq *vq);
/* queue.c */
void engine_unlink_queue(struct iopf_engine *e, struct iopf_queue *q);
int queue_join_engine(struct iopf_queue *q, const char *what);
/* Closes a queue's fd through the backend (the mock's hook), or close(2). */
void queue_fd_close(struct iopf_ctx *ctx, int fd);

/* engine.c */
/* The deadline heap (engine's thread): q's oldest group expires at key. */
void dheap_add(struct iopf_engine *e, struct iopf_queue *q, uint64_t key);
void dheap_del(struct iopf_engine *e, struct iopf_queue *q);
/* Room in the heap for e->ndeadline + 1 queues: before adding one. */
int engine_reserve_deadline(struct iopf_engine *e);
/* q failed: its error is reported by the engine once. */
void engine_queue_failed(struct iopf_engine *e, struct iopf_queue *q);
/* Takes q off every list of the engine (its queue is being freed). */
void engine_forget_queue(struct iopf_engine *e, struct iopf_queue *q);
/* n groups of q left the ready list: once none is left, q may be read. */
IOPF_INLINE void queue_unready_n(struct iopf_queue *q, uint32_t n)
{
	/* Plain: read it if its last read gave records (epoll names it
	 * otherwise). io_uring: arm its next READ, whatever it is. */
	q->nready -= n;
	if (q->nready == 0 && !q->error &&
	    (q->readable || !q->e->ops->fd_watches_queues))
		engine_want_read(q->e, q);
}

IOPF_INLINE void queue_unready(struct iopf_queue *q)
{
	queue_unready_n(q, 1);
}
/* The engine this thread last ran (initial-exec: no __tls_get_addr call on
 * every answer). */
extern __thread struct iopf_engine *iopf_tls_engine
	__attribute__((tls_model("initial-exec")));
void engine_wake_slow(struct iopf_engine *e);

/*
 * After an answer is queued. On the engine's own thread it goes out before
 * the current run or dispatch returns, or with the next call of a caller that
 * uses the library's waits. A caller that sleeps in its own poll on the
 * engine fd, or another thread, must wake the engine: once per flush.
 */
static inline void engine_wake(struct iopf_engine *e)
{
	if (iopf_tls_engine == e &&
	    (e->in_run || e->in_dispatch || !e->fd_exported))
		return;
	engine_wake_slow(e);
}
void engine_drain_wake(struct iopf_engine *e);

/* Before a flush: answers queued from now on must wake the engine again.
 * Tested first: a locked store on every run costs more than the run. */
static inline void engine_clear_wake(struct iopf_engine *e)
{
	if (atomic_load_explicit(&e->wake_pending, memory_order_acquire))
		atomic_store(&e->wake_pending, false);
}
void engine_drain_timer(struct iopf_engine *e);
int engine_timeout(struct iopf_engine *e, int timeout_ms);

/* I/O through the backend's hooks, for the plain engine and teardown. */
ssize_t q_read_hooked(struct iopf_queue *q);
ssize_t q_write_hooked(struct iopf_queue *q, const void *buf, size_t len);

static inline ssize_t q_read(struct iopf_queue *q)
{
	ssize_t res;

	if (q->hooks)
		return q_read_hooked(q);
	res = read(q->fd, q->buf, queue_read_len(q));
	return res < 0 ? -errno : res;
}

static inline ssize_t q_write(struct iopf_queue *q, const void *buf, size_t len)
{
	ssize_t res;

	if (q->hooks)
		return q_write_hooked(q, buf, len);
	res = write(q->fd, buf, len);
	return res < 0 ? -errno : res;
}
int q_read_prepare(struct iopf_queue *q, ssize_t *res);
ssize_t q_read_done(struct iopf_queue *q, ssize_t res);
ssize_t q_write_done(struct iopf_queue *q, const void *buf, size_t len,
		     ssize_t res);

#endif
