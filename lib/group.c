/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Records -> groups, cookie bookkeeping, exactly-once answers, left-over
 * answers. Nothing here allocates once a queue has seen its largest burst:
 * group slots and answer buffers grow geometrically and are reused.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"

/* The largest fault array a free group slot keeps (see slot_put). */
#define SLOT_KEEP_FAULTS 8

static void olist_init(struct iopf_group *head)
{
	head->onext = head->oprev = head;
}

static void olist_add_tail(struct iopf_group *head, struct iopf_group *g)
{
	g->oprev = head->oprev;
	g->onext = head;
	head->oprev->onext = g;
	head->oprev = g;
}

static void olist_del(struct iopf_group *g)
{
	g->oprev->onext = g->onext;
	g->onext->oprev = g->oprev;
	g->onext = g->oprev = g;
}

static int ans_reserve(struct ans_buf *a, uint32_t more)
{
	uint32_t cap = a->cap ? a->cap : 16;
	void *p;

	if (a->n + more <= a->cap)
		return 0;
	while (cap < a->n + more)
		cap *= 2;
	p = realloc(a->rsp, (size_t)cap * sizeof(*a->rsp));
	if (!p)
		return -ENOMEM;
	a->rsp = p;
	p = realloc(a->tags, (size_t)cap * sizeof(*a->tags));
	if (!p)
		return -ENOMEM;
	a->tags = p;
	a->cap = cap;
	return 0;
}

static void ans_free(struct ans_buf *a)
{
	free(a->rsp);
	free(a->tags);
	memset(a, 0, sizeof(*a));
}

IOPF_COLD void qlock_lock_slow(struct qlock *l)
{
	unsigned int spins = 0;

	do {
		while (atomic_load_explicit(&l->held, memory_order_relaxed)) {
			if (++spins > 100) {
				sched_yield();
				spins = 0;
			} else {
#if defined(__x86_64__) || defined(__i386__)
				__builtin_ia32_pause();
#elif defined(__aarch64__)
				__asm__ volatile("yield");
#endif
			}
		}
	} while (
		atomic_exchange_explicit(&l->held, true, memory_order_acquire));
}

static IOPF_COLD int ans_push_grow(struct ans_buf *a)
{
	return ans_reserve(a, 1);
}

/* Called with q->lock held. */
IOPF_INLINE int ans_push(struct iopf_queue *q, uint32_t cookie, uint32_t code,
			 uint64_t tag)
{
	struct ans_buf *a = &q->pending;
	uint32_t n = a->n;

	if (unlikely(n == a->cap)) {
		int rc = ans_push_grow(a);

		if (rc)
			return rc;
	}
	a->rsp[n].cookie = cookie;
	a->rsp[n].code = code;
	a->tags[n] = tag;
	a->n = n + 1;
	a->special += code != IOPF_RESP_SUCCESS || (tag & ANS_AUTO);
	atomic_store_explicit(&q->npending, n + 1, memory_order_release);
	queue_mark_dirty_locked(q);
	return 0;
}

/* Slots made free (slot_clear) and linked head to tail, to the free list's
 * tail. Called with q->lock held. Freed slots go to the tail and are taken
 * from the head, so a slot is reused as late as possible: a second answer to
 * a group finds it free (-EALREADY) rather than someone else's. */
IOPF_INLINE void slots_put(struct iopf_queue *q, struct iopf_group *head,
			   struct iopf_group *tail)
{
	if (!head)
		return;
	tail->next = NULL;
	if (q->free_tail)
		q->free_tail->next = head;
	else
		q->free_head = head;
	q->free_tail = tail;
}

static int slots_grow(struct iopf_queue *q)
{
	struct iopf_group *chunk;
	void **chunks;

	chunk = calloc(SLOT_CHUNK, sizeof(*chunk));
	if (!chunk)
		return -ENOMEM;
	chunks = realloc(q->chunks, (q->nchunks + 1) * sizeof(*chunks));
	if (!chunks) {
		free(chunk);
		return -ENOMEM;
	}
	q->chunks = chunks;
	q->chunks[q->nchunks++] = chunk;
	for (int i = 0; i < SLOT_CHUNK; i++) {
		struct iopf_group *g = &chunk[i];

		g->q = q;
		g->faults = g->inline_faults;
		g->cap = INLINE_FAULTS;
		g->onext = g->oprev = g;
		slots_put(q, g, g);
	}
	return 0;
}

/* A freed slot gives back a fault array too large to keep. Its count goes
 * with it: a free slot keeps its last count (slot_get() resets it), which
 * must never index past the array it has now, even for a caller that reads
 * a group after answering it. */
static IOPF_COLD void slot_shrink(struct iopf_group *g)
{
	free(g->faults);
	g->faults = g->inline_faults;
	g->cap = INLINE_FAULTS;
	g->count = 0;
}

/* A group's slot made free, not yet on the free list; owners and nowners are
 * its queue's cookie map. Called with the queue's lock held. */
IOPF_INLINE void slot_clear(struct cookie_owner *owners, uint32_t nowners,
			    struct iopf_group *g)
{
	if (g->cookie < nowners && owners[g->cookie].g == g)
		owners[g->cookie].g = NULL;
	gstate_set(g, G_FREE);
	g->user = NULL;
	/* Slots are reused FIFO, so in time every slot would keep a fault
	 * array as large as the largest group ever seen: memory that grows
	 * for months (found by tests/hardening/soak). Only small arrays stay;
	 * a larger group allocates its array and gives it back here. */
	if (unlikely(g->cap > SLOT_KEEP_FAULTS))
		slot_shrink(g);
}

/* Called with q->lock held. */
IOPF_INLINE void slot_put(struct iopf_queue *q, struct iopf_group *g)
{
	slot_clear(q->owners, q->nowners, g);
	slots_put(q, g, g);
}

/* The group whose next pointer link is. */
IOPF_INLINE struct iopf_group *group_of_link(struct iopf_group **link)
{
	return (struct iopf_group *)((char *)link -
				     offsetof(struct iopf_group, next));
}

/* A free slot, its user NULL (slot_put, or calloc) and its count 0 (set
 * here: ingest_singles() sets it to 1 itself, so that slot_clear() need
 * not); its next pointer is set when it goes on a list. */
IOPF_INLINE struct iopf_group *slot_get(struct iopf_queue *q)
{
	struct iopf_group *g;

	if (unlikely(!q->free_head) && slots_grow(q))
		return NULL;
	g = q->free_head;
	q->free_head = g->next;
	if (!q->free_head)
		q->free_tail = NULL;
	g->count = 0;
	return g;
}

int queue_slots_init(struct iopf_queue *q)
{
	int rc;

	atomic_init(&q->lock.held, false);
	olist_init(&q->outstanding);
	/* Slots come with the first group (slot_get): an idle queue has
	 * none. */
	rc = ans_reserve(&q->pending, 16);
	if (!rc)
		rc = ans_reserve(&q->inflight_ans, 16);
	if (rc) {
		queue_slots_fini(q);
		return rc;
	}
	return 0;
}

void queue_slots_fini(struct iopf_queue *q)
{
	for (uint32_t c = 0; c < q->nchunks; c++) {
		struct iopf_group *chunk = q->chunks[c];

		for (int i = 0; i < SLOT_CHUNK; i++)
			if (chunk[i].faults != chunk[i].inline_faults)
				free(chunk[i].faults);
		free(chunk);
	}
	free(q->chunks);
	q->chunks = NULL;
	q->nchunks = 0;
	free(q->owners);
	q->owners = NULL;
	q->nowners = 0;
	ans_free(&q->pending);
	ans_free(&q->inflight_ans);
}

static IOPF_COLD int group_grow(struct iopf_group *g)
{
	uint32_t cap = g->cap * 2;
	struct iopf_fault *nf;

	if (g->faults == g->inline_faults) {
		nf = malloc(cap * sizeof(*nf));
		if (nf)
			memcpy(nf, g->faults, g->count * sizeof(*nf));
	} else {
		nf = realloc(g->faults, cap * sizeof(*nf));
	}
	if (!nf)
		return -ENOMEM;
	g->faults = nf;
	g->cap = cap;
	return 0;
}

/*
 * A record into the caller's layout: five 8-byte loads and six 8-byte
 * stores (fields two by two), instead of a load and a store for each field
 * (and, since f could alias rec as far as the compiler knows, reloads).
 */
IOPF_INLINE void fault_from_record(struct iopf_fault *f,
				   const struct iommu_hwpt_pgfault *rec)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	_Static_assert(sizeof(*rec) == 40 && sizeof(*f) == 48, "layouts");
	_Static_assert(
		offsetof(struct iommu_hwpt_pgfault, dev_id) == 4 &&
			offsetof(struct iommu_hwpt_pgfault, pasid) == 8 &&
			offsetof(struct iommu_hwpt_pgfault, grpid) == 12 &&
			offsetof(struct iommu_hwpt_pgfault, perm) == 16 &&
			offsetof(struct iommu_hwpt_pgfault, addr) == 24 &&
			offsetof(struct iommu_hwpt_pgfault, length) == 32 &&
			offsetof(struct iommu_hwpt_pgfault, cookie) == 36,
		"the kernel's record");
	_Static_assert(offsetof(struct iopf_fault, perm) == 4 &&
			       offsetof(struct iopf_fault, dev_id) == 8 &&
			       offsetof(struct iopf_fault, pasid) == 12 &&
			       offsetof(struct iopf_fault, grpid) == 16 &&
			       offsetof(struct iopf_fault, length) == 20 &&
			       offsetof(struct iopf_fault, addr) == 24 &&
			       offsetof(struct iopf_fault, raw_flags) == 32 &&
			       offsetof(struct iopf_fault, raw_perm) == 36 &&
			       offsetof(struct iopf_fault, cookie) == 40,
		       "struct iopf_fault");
	const unsigned char *in = (const void *)rec;
	unsigned char *out = (void *)f;
	uint64_t r0, r1, r2, r3, r4, o;

	/* r0 flags|dev_id, r1 pasid|grpid, r2 perm|reserved, r3 addr,
	 * r4 length|cookie */
	memcpy(&r0, in, 8);
	memcpy(&r1, in + 8, 8);
	memcpy(&r2, in + 16, 8);
	memcpy(&r3, in + 24, 8);
	memcpy(&r4, in + 32, 8);
	o = (r0 & KNOWN_FAULT_FLAGS) | ((r2 & KNOWN_PERM) << 32);
	memcpy(out, &o, 8); /* flags, perm */
	o = (r0 >> 32) | (r1 << 32);
	memcpy(out + 8, &o, 8); /* dev_id, pasid */
	o = (r1 >> 32) | (r4 << 32);
	memcpy(out + 16, &o, 8); /* grpid, length */
	memcpy(out + 24, &r3, 8); /* addr */
	o = (r0 & 0xffffffffu) | (r2 << 32);
	memcpy(out + 32, &o, 8); /* raw_flags, raw_perm */
	o = r4 >> 32;
	memcpy(out + 40, &o, 8); /* cookie, __pad */
#else
	f->raw_flags = rec->flags;
	f->raw_perm = rec->perm;
	f->flags = rec->flags & KNOWN_FAULT_FLAGS;
	f->perm = rec->perm & KNOWN_PERM;
	f->dev_id = rec->dev_id;
	f->pasid = rec->pasid;
	f->grpid = rec->grpid;
	f->length = rec->length;
	f->addr = rec->addr;
	f->cookie = rec->cookie;
	f->__pad = 0;
#endif
}

IOPF_INLINE int group_append(struct iopf_group *g,
			     const struct iommu_hwpt_pgfault *rec)
{
	struct iopf_fault *f;

	if (unlikely(g->count == g->cap) && group_grow(g))
		return -ENOMEM;
	f = &g->faults[g->count++];
	fault_from_record(f, rec);
	return 0;
}

/* Called with q->lock held: the group is complete. The caller counts it
 * (q->nready, the engine's nready, stats.groups) once per batch. */
IOPF_INLINE void group_close(struct iopf_queue *q, struct iopf_group *g,
			     uint64_t now)
{
	struct iopf_engine *e = q->e;

	gstate_set(g, G_READY);
	/* Only deadlines need the groups in the order they came, and when
	 * they came; teardown finds them by their state. */
	if (q->deadline_ns) {
		g->t_read = now;
		olist_add_tail(&q->outstanding, g);
		/* Its oldest group expires first: a queue already in the
		 * heap has a key no later than this one's. */
		if (q->dheap_idx == DHEAP_NONE)
			dheap_add(e, q, now + q->deadline_ns);
	}
	g->next = NULL;
	if (e->ready_tail)
		e->ready_tail->next = g;
	else
		e->ready_head = g;
	e->ready_tail = g;
}

/* Answers one group INVALID at once, with write(2): for when the library
 * cannot hold a group it read (no memory), so that the device does not wait
 * for an answer that would never come. */
static int queue_fail(struct iopf_queue *q, int err);

/* As for any write (see answers_failed): 0, EAGAIN and EINTR are tried
 * again; another error loses the answer and fails the queue. */
static void answer_now(struct iopf_queue *q, uint32_t cookie)
{
	struct iommu_hwpt_page_response r = {.cookie = cookie,
					     .code = IOPF_RESP_INVALID};
	ssize_t res;
	int tries = 0;

	do
		res = q_write(q, &r, sizeof(r));
	while ((res == 0 || res == -EAGAIN || res == -EINTR) && ++tries < 1000);
	if (res == (ssize_t)sizeof(r)) {
		q->stats.answers_auto++;
		return;
	}
	q->stats.answers_failed++;
	if (res < 0 && res != -EINVAL && !q->error)
		queue_fail(q, (int)res);
}

/* The library's own INVALID answer to g. A group never handed out (expired
 * on the ready list, too large, freed unread) is reported with
 * IOPF_TAG_UNSEEN set in its tag: no caller ever had that tag. */
static void answer_invalid(struct iopf_queue *q, struct iopf_group *g)
{
	uint64_t tag = g->tag | ANS_AUTO;

	if (gstate(g) != G_HANDED)
		tag |= IOPF_TAG_UNSEEN;
	if (ans_push(q, g->cookie, IOPF_RESP_INVALID, tag))
		answer_now(q, g->cookie);
}

/*
 * A new group has this cookie: the kernel answered the group that had it
 * before (itself, on a detach or replace) and reused it. That group, if the
 * library still holds it, is stale: its answer must never be written, or it
 * would answer the new group. Called with q->lock held.
 */
static IOPF_COLD bool cookie_map_grow(struct iopf_queue *q, uint32_t cookie)
{
	uint32_t n = q->nowners ? q->nowners : 64;
	struct cookie_owner *o;

	if (cookie >= MAX_TRACKED_COOKIE)
		return false;
	while (n <= cookie)
		n *= 2;
	o = realloc(q->owners, n * sizeof(*o));
	if (!o)
		return false; /* untracked: no worse than no map at all */
	memset(o + q->nowners, 0, (n - q->nowners) * sizeof(*o));
	q->owners = o;
	q->nowners = n;
	return true;
}

static IOPF_COLD void cookie_steal(struct iopf_queue *q, struct iopf_group *old)
{
	uint32_t state = gstate(old);

	olist_del(old);
	if (state == G_READY)
		q->e->ndead++;
	gstate_set(old, G_STALE);
}

/* unwritten: answers are waiting to be written (pending or in flight). */
IOPF_INLINE void cookie_take(struct iopf_queue *q, struct iopf_group *g,
			     bool unwritten)
{
	struct cookie_owner *o;

	if (unlikely(g->cookie >= q->nowners) && !cookie_map_grow(q, g->cookie))
		return;
	o = &q->owners[g->cookie];
	if (unlikely(o->g != NULL) && o->g != g)
		cookie_steal(q, o->g);
	/* The cookie had an owner before, whose answer may not have been
	 * written yet: that answer is now stale (see queue_filter_stale). */
	if (unwritten && o->tag)
		q->stale_check = true;
	o->tag = g->tag;
	o->g = g;
}

/* Whether an answer for cookie, sent for the group tagged tag, would still
 * reach that group. Called with q->lock held, or on the engine's thread. */
static bool cookie_current(struct iopf_queue *q, uint32_t cookie, uint64_t tag)
{
	tag &= ~(ANS_AUTO | IOPF_TAG_UNSEEN);
	if (!tag || cookie >= q->nowners)
		return true;
	/* Tag 0: no group with this cookie was tracked (the map could not
	 * grow when it came, see cookie_take), so none can be known stale. */
	return q->owners[cookie].tag == tag || !q->owners[cookie].tag;
}

/*
 * The common case first: groups of one record (LAST_PAGE on each), none open,
 * no deadline, a free slot and a tracked, unowned cookie for each. What
 * queue_ingest() does for them, with the queue's and the engine's fields in
 * locals (the stores to the groups could alias them as far as the compiler
 * knows). Returns the first record it did not take, for the general loop:
 * the first that is anything else. Called with q->lock held.
 *
 * The loop keeps few values live (a spill is a store and a load a fault):
 * the count comes from the tags, the last group from the link, and whether
 * answers are unwritten is a constant of each of the loop's two copies.
 */
IOPF_INLINE const struct iommu_hwpt_pgfault *
singles_loop(const struct iommu_hwpt_pgfault *rec,
	     const struct iommu_hwpt_pgfault *end, struct cookie_owner *owners,
	     uint32_t nowners, struct iopf_group **freep,
	     struct iopf_group ***linkp, uint64_t *tagp, bool *stale,
	     const bool unwritten)
{
	struct iopf_group *g = *freep, **link = *linkp;
	uint64_t tag = *tagp;
	bool stale_check = false;

	for (; rec < end; rec++) {
		uint32_t cookie = rec->cookie;
		struct cookie_owner *o;

		/* One branch for the three (bitwise, not short-circuit). */
		if (unlikely(!(rec->flags & IOMMU_PGFAULT_FLAGS_LAST_PAGE) |
			     !g | (cookie >= nowners)))
			break;
		o = &owners[cookie];
		if (unlikely(o->g != NULL))
			break;
		/* The cookie had an owner before, whose answer may not have
		 * been written yet (see cookie_take). */
		if (unwritten)
			stale_check |= o->tag != 0;
		o->tag = ++tag;
		o->g = g;
		g->cookie = cookie;
		g->tag = tag;
		fault_from_record(&g->faults[0], rec);
		g->count = 1;
		gstate_set(g, G_READY);
		*link = g;
		link = &g->next;
		g = g->next;
	}
	*freep = g;
	*linkp = link;
	*tagp = tag;
	*stale = stale_check;
	return rec;
}

IOPF_INLINE const struct iommu_hwpt_pgfault *
ingest_singles(struct iopf_queue *q, const struct iommu_hwpt_pgfault *rec,
	       const struct iommu_hwpt_pgfault *end, bool unwritten,
	       uint32_t *closed)
{
	struct iopf_engine *e = q->e;
	struct iopf_group *free = q->free_head, *last = e->ready_tail;
	struct iopf_group **link = last ? &last->next : &e->ready_head;
	uint64_t tag0 = q->next_tag, tag = tag0;
	bool stale_check;

	if (unwritten)
		rec = singles_loop(rec, end, q->owners, q->nowners, &free,
				   &link, &tag, &stale_check, true);
	else
		rec = singles_loop(rec, end, q->owners, q->nowners, &free,
				   &link, &tag, &stale_check, false);
	if (tag == tag0)
		return rec;
	last = group_of_link(link);
	last->next = NULL;
	e->ready_tail = last;
	q->free_head = free;
	if (!free)
		q->free_tail = NULL;
	q->next_tag = tag;
	if (stale_check)
		q->stale_check = true;
	*closed = (uint32_t)(tag - tag0);
	return rec;
}

/*
 * The kernel's read gives whole groups, every record of a group carrying the
 * group's cookie and the last one LAST_PAGE (iommufd_fault_fops_read, 6.11+).
 * A group still open at the end of a read is kept and completed by the next
 * read; a new cookie while a group is open closes the open one as malformed,
 * since its LAST_PAGE will never come.
 */
IOPF_INLINE int queue_ingest(struct iopf_queue *q, ssize_t res)
{
	const struct iommu_hwpt_pgfault *rec = (const void *)q->buf;
	const struct iommu_hwpt_pgfault *end = rec + (size_t)res / FAULT_SIZE;
	size_t n = (size_t)res / FAULT_SIZE;
	uint64_t now = q->deadline_ns ? now_ns() : 0;
	uint32_t closed = 0, faults = 0;
	bool unwritten;
	int rc = 0;

	qlock_lock(&q->lock);
	/* Other threads cannot add answers during the batch (the lock keeps
	 * them out); the loop's own (to a group it cannot hold) set it below.
	 */
	unwritten = q->pending.n || q->inflight_ans.off < q->inflight_ans.n;
	if (likely(!q->assembling && !q->dropping && !q->deadline_ns))
		rec = ingest_singles(q, rec, end, unwritten, &closed);
	faults = closed;
	for (; rec < end; rec++) {
		struct iopf_group *g = q->assembling;

		if (unlikely(q->dropping)) {
			if (rec->cookie == q->drop_cookie) {
				if (rec->flags & IOMMU_PGFAULT_FLAGS_LAST_PAGE)
					q->dropping = false;
				continue;
			}
			q->dropping = false;
		}
		if (unlikely(g != NULL) && g->cookie != rec->cookie) {
			q->stats.malformed++;
			q->assembling = NULL;
			group_close(q, g, now);
			closed++;
			g = NULL;
		}
		if (!g) {
			g = slot_get(q);
			if (unlikely(!g)) {
				/* Cannot hold it: answer it INVALID now so
				 * that the device is not left waiting. */
				answer_now(q, rec->cookie);
				if (!(rec->flags &
				      IOMMU_PGFAULT_FLAGS_LAST_PAGE)) {
					q->dropping = true;
					q->drop_cookie = rec->cookie;
				}
				rc = -ENOMEM;
				continue;
			}
			g->cookie = rec->cookie;
			g->tag = ++q->next_tag;
			gstate_set(g, G_ASSEMBLING);
			q->assembling = g;
			cookie_take(q, g, unwritten);
		}
		if (unlikely(g->count >= q->max_group) ||
		    group_append(g, rec)) {
			answer_invalid(q, g);
			/* A later record may reuse its cookie (the kernel
			 * answered it itself meanwhile): that must drop it. */
			unwritten = true;
			q->assembling = NULL;
			if (!(rec->flags & IOMMU_PGFAULT_FLAGS_LAST_PAGE)) {
				q->dropping = true;
				q->drop_cookie = g->cookie;
			}
			slot_put(q, g);
			rc = -ENOMEM;
			continue;
		}
		faults++;
		if (rec->flags & IOMMU_PGFAULT_FLAGS_LAST_PAGE) {
			q->assembling = NULL;
			group_close(q, g, now);
			closed++;
		}
	}
	q->nready += closed;
	q->e->nready += closed;
	q->stats.groups += closed;
	q->stats.faults += faults;
	qlock_unlock(&q->lock);
	if (n > q->stats.max_batch)
		q->stats.max_batch = n;
	return rc;
}

static int queue_grow(struct iopf_queue *q)
{
	uint32_t records = q->buf_records * 2;
	unsigned char *buf;

	if (records > q->max_group)
		records = q->max_group;
	buf = realloc(q->buf, (size_t)records * FAULT_SIZE);
	if (!buf)
		return -ENOMEM;
	/* Zeroed, as in iopf_queue_new(): io_uring writes it unseen. */
	memset(buf + (size_t)q->buf_records * FAULT_SIZE, 0,
	       (size_t)(records - q->buf_records) * FAULT_SIZE);
	q->buf = buf;
	q->buf_records = records;
	q->stats.grows++;
	return 0;
}

/* A full read of a buffer below the batch: double it (up to the batch). If
 * there is no memory for it, the queue goes on with the buffer it has. */
static IOPF_COLD void queue_ramp(struct iopf_queue *q)
{
	uint32_t records = q->buf_records * 2;
	unsigned char *buf;

	if (records > q->batch)
		records = q->batch;
	buf = realloc(q->buf, (size_t)records * FAULT_SIZE);
	if (!buf)
		return;
	memset(buf + (size_t)q->buf_records * FAULT_SIZE, 0,
	       (size_t)(records - q->buf_records) * FAULT_SIZE);
	q->buf = buf;
	q->buf_records = records;
}

/* The queue cannot go on: the engine reports it once (engine_run). */
static int queue_fail(struct iopf_queue *q, int err)
{
	q->error = err;
	engine_queue_failed(q->e, q);
	return err;
}

/* A read that gave no whole records: see queue_read_result. */
static int read_result_other(struct iopf_queue *q, ssize_t res, bool polled)
{
	if (res > 0) {
		q->readable = false;
		return queue_fail(q, -EIO);
	}
	q->full = false;
	if (res == 0 && !polled) {
		q->stats.empty_reads++;
		q->readable = false;
		return 0;
	}
	if (res == 0 || res == -EINVAL) {
		/* At max_group a polled 0 is the same answer as EINVAL: the
		 * group can never be read. Taking it for an empty read would
		 * poll readable again at once, for ever, and never say why. */
		if (q->buf_records >= q->max_group) {
			q->readable = false;
			return queue_fail(q, -EMSGSIZE);
		}
		if (queue_grow(q)) {
			q->readable = false;
			return queue_fail(q, -ENOMEM);
		}
		q->readable = true;
		q->full = true;
		return 0;
	}
	if (res == -EAGAIN || res == -EINTR) {
		q->readable = false;
		return 0;
	}
	q->readable = false;
	return queue_fail(q, (int)res);
}

/*
 * What a read's result means. A group that does not fit the buffer is
 * answered EINVAL by 6.12's iommufd_fault_fops_read and 0 by older kernels;
 * both mean grow the buffer. A 0 after the fd polled readable is taken as the
 * latter, a 0 without a poll as an empty queue.
 * Returns the number of records, or -errno when the queue cannot go on.
 *
 * No SLP vectorising: it pairs the record copy's 8-byte words into SSE
 * registers, which costs more than it saves on a 48-byte copy (and far more
 * under emulation, where shuffles are helper calls).
 */
IOPF_OPTIMIZE("no-tree-slp-vectorize")
int queue_read_result(struct iopf_queue *q, ssize_t res)
{
	bool polled = q->polled;
	int rc;

	if (unlikely(q->kind != QK_FAULT))
		return veventq_read_result(q, res);
	q->polled = false;
	q->stats.reads++;
	if (unlikely(res <= 0 || res % (ssize_t)FAULT_SIZE))
		return read_result_other(q, res, polled);
	rc = queue_ingest(q, res);
	/* Read again first next time: with data flowing, a read is cheaper
	 * than a poll and then a read. */
	q->readable = true;
	q->full = (size_t)res == (size_t)q->buf_records * FAULT_SIZE;
	if (unlikely(q->full && q->buf_records < q->batch))
		queue_ramp(q);
	if (rc)
		return rc;
	return (int)(res / (ssize_t)FAULT_SIZE);
}

/* Called with q->lock held and the write buffer empty. */
IOPF_INLINE void swap_answers_locked(struct iopf_queue *q)
{
	struct ans_buf *w = &q->inflight_ans;

	if (q->pending.n) {
		struct ans_buf t = *w;

		*w = q->pending;
		q->pending = t;
		q->pending.n = q->pending.off = q->pending.special = 0;
		atomic_store_explicit(&q->npending, 0, memory_order_relaxed);
		/* Both buffers grow to the largest burst, so that the swap
		 * stops allocating once the queue has seen it. */
		if (q->pending.cap < w->cap)
			ans_reserve(&q->pending, w->cap);
	} else {
		w->n = w->special = 0;
	}
	w->off = 0;
}

/* Moves pending answers into the engine's write buffer, if it is empty.
 * Returns how many answers are waiting to be written. */
IOPF_INLINE int take_answers(struct iopf_queue *q)
{
	struct ans_buf *w = &q->inflight_ans;

	if (w->off < w->n)
		return (int)(w->n - w->off);
	if (!atomic_load_explicit(&q->npending, memory_order_acquire))
		return 0;
	qlock_lock(&q->lock);
	swap_answers_locked(q);
	qlock_unlock(&q->lock);
	return (int)w->n;
}

int queue_take_answers(struct iopf_queue *q)
{
	return take_answers(q);
}

void queue_claim(struct iopf_queue *q)
{
	qlock_lock(&q->lock);
	q->dirty = false;
	if (q->inflight_ans.off >= q->inflight_ans.n)
		swap_answers_locked(q);
	qlock_unlock(&q->lock);
}

void queue_mark_dirty(struct iopf_queue *q)
{
	qlock_lock(&q->lock);
	queue_mark_dirty_locked(q);
	qlock_unlock(&q->lock);
}

IOPF_INLINE void report(struct iopf_queue *q, uint32_t i, int result);

/*
 * Drops, from what is about to be written, every answer whose cookie the
 * kernel has since given to a newer group (see cookie_take): it is reported
 * -ESTALE instead. Runs on the engine's thread right before each write, and
 * the engines never read a queue while its write is in flight, so no cookie
 * can change hands between this check and the write.
 */
void queue_filter_stale_slow(struct iopf_queue *q)
{
	struct ans_buf *w = &q->inflight_ans;
	uint32_t to = w->off;

	/* No lock: only this thread writes owners[].tag or moves the map
	 * (cookie_take, on the engine's thread); other threads touch only
	 * owners[].g, a different object. */
	if (!q->nowners || !q->stale_check)
		return;
	for (uint32_t i = w->off; i < w->n; i++) {
		if (!cookie_current(q, w->rsp[i].cookie, w->tags[i])) {
			report(q, i, -ESTALE);
			continue;
		}
		if (to != i) {
			w->rsp[to] = w->rsp[i];
			w->tags[to] = w->tags[i];
		}
		to++;
	}
	w->n = to;
	if (w->off >= w->n)
		w->n = w->off = w->special = 0;
	/*
	 * Every answer given before the cookie changed hands was in pending or
	 * here when it did; an answer given since cannot be stale (its group
	 * would be G_STALE, and refused). With pending empty, all of them
	 * were just checked.
	 */
	if (!atomic_load_explicit(&q->npending, memory_order_acquire))
		q->stale_check = false;
}

IOPF_INLINE void report(struct iopf_queue *q, uint32_t i, int result)
{
	struct ans_buf *w = &q->inflight_ans;
	uint64_t tag = w->tags[i];
	uint32_t code = w->rsp[i].code;

	if (result == 0) {
		if (tag & ANS_AUTO)
			q->stats.answers_auto++;
		else if (code == IOPF_RESP_SUCCESS)
			q->stats.answers_success++;
		else
			q->stats.answers_invalid++;
	} else if (result == -EINVAL || result == -ESTALE) {
		q->stats.answers_stale++;
	} else {
		q->stats.answers_failed++;
	}
	/* The library's own INVALID answers (deadline, teardown) are reported
	 * too: a VMM that forwarded the group to a guest must learn of them. */
	if (q->answered)
		q->answered(q, tag & ~ANS_AUTO, w->rsp[i].cookie, code, result,
			    q->user);
}

/* Answers [w->off, end) were taken, and there is a callback: each answer
 * is counted before its callback runs, as report() does, so that the
 * callback sees them. */
static IOPF_COLD void report_taken_cb(struct iopf_queue *q, uint32_t end)
{
	struct ans_buf *w = &q->inflight_ans;

	for (uint32_t i = w->off; i < end; i++)
		report(q, i, 0);
}

/* Answers [w->off, w->off + taken) were taken. Without a callback the
 * counters are kept in registers. */
IOPF_INLINE void report_taken(struct iopf_queue *q, uint32_t taken)
{
	struct ans_buf *w = &q->inflight_ans;
	uint64_t ok = 0, invalid = 0, autos = 0;
	uint32_t i = w->off, end = w->off + taken;

	if (end > w->n)
		end = w->n;
	if (q->answered) {
		report_taken_cb(q, end);
		w->off = end;
		return;
	}
	if (likely(!w->special)) {
		q->stats.answers_success += end - i;
		w->off = end;
		return;
	}
	for (; i < end; i++) {
		if (unlikely(w->tags[i] & ANS_AUTO))
			autos++;
		else if (likely(w->rsp[i].code == IOPF_RESP_SUCCESS))
			ok++;
		else
			invalid++;
	}
	q->stats.answers_success += ok;
	if (unlikely(invalid))
		q->stats.answers_invalid += invalid;
	if (unlikely(autos))
		q->stats.answers_auto += autos;
	w->off = end;
}

/*
 * A write's result. The kernel takes answers in order and stops at the first
 * it refuses (iommufd_fault_fops_write): a short count means everything
 * before the refused one was taken, and -EINVAL that the first one was
 * refused, typically because the kernel answered that group itself when the
 * device was detached. That answer alone fails; the rest is written again.
 *
 * Nothing taken and nothing refused (0, EAGAIN, EINTR: the kernel's write
 * never says these, the mock's socket and signals may) is tried again. Any
 * other error is not the kernel judging an answer: its write fails that way
 * only when the memory or the count it was given is bad (EFAULT, ESPIPE) or
 * the fd is (EBADF), and the same bytes would fail again, as would an
 * INVALID answer in their place. Those groups are then answered only by the
 * kernel, when the device is detached or the fault object destroyed: each
 * answer is reported with the error, and the queue fails (its reads stop,
 * the engine returns the error once, iopf_queue_error() tells it) so that
 * the VMM tears it down instead of leaving the device waiting.
 */
static IOPF_COLD void answers_failed(struct iopf_queue *q, ssize_t res)
{
	struct ans_buf *w = &q->inflight_ans;

	if (res == -EINVAL) {
		report(q, w->off++, -EINVAL);
	} else if (res == 0 || res == -EAGAIN || res == -EINTR) {
		/* Nothing taken, nothing refused: try again. */
	} else {
		while (w->off < w->n)
			report(q, w->off++, (int)res);
		if (!q->error)
			queue_fail(q, (int)res);
	}
}

IOPF_INLINE void answers_done(struct iopf_queue *q, ssize_t res)
{
	struct ans_buf *w = &q->inflight_ans;

	q->stats.writes++;
	if (likely(res > 0))
		report_taken(q, (uint32_t)((size_t)res / RESP_SIZE));
	else
		answers_failed(q, res);
	if (w->off >= w->n)
		w->n = w->off = w->special = 0;
}

IOPF_OPTIMIZE("no-tree-vectorize")
void queue_answers_done(struct iopf_queue *q, ssize_t res)
{
	answers_done(q, res);
}

/* Writes every pending answer with write(2): the plain engine's flush, and
 * the teardown path of both engines. (Not vectorised: report_taken's loop
 * counts a handful of answers, SSE costs more there.) */
IOPF_OPTIMIZE("no-tree-vectorize") int queue_write_sync(struct iopf_queue *q)
{
	int spins = 0;

	while (take_answers(q) > 0) {
		struct ans_buf *w = &q->inflight_ans;
		uint32_t n;
		ssize_t res;

		queue_filter_stale(q);
		if (w->off >= w->n)
			continue;
		n = w->n - w->off;
		if (n > MAX_WRITE_ANSWERS)
			n = MAX_WRITE_ANSWERS;
		res = q_write(q, &w->rsp[w->off], n * RESP_SIZE);
		if (unlikely(res == 0 || res == -EAGAIN || res == -EINTR)) {
			if (++spins > 1000)
				return -EAGAIN;
		}
		answers_done(q, res);
	}
	return 0;
}

int queues_write_sync(struct iopf_queue *stack, bool *busy)
{
	struct iopf_queue *q, *next;
	int rc = 0;

	for (q = stack; q; q = next) {
		next = q->dnext;
		queue_claim(q);
		if (!q->inflight && queue_has_answers(q)) {
			int r = queue_write_sync(q);

			if (r && !rc)
				rc = r;
		}
		if (queue_has_answers(q)) {
			queue_mark_dirty(q);
			if (busy && q->inflight)
				*busy = true;
		}
	}
	return rc;
}

int64_t queue_next_expiry(struct iopf_queue *q)
{
	int64_t t = -1;

	if (!q->deadline_ns)
		return -1;
	qlock_lock(&q->lock);
	if (q->outstanding.onext != &q->outstanding)
		t = (int64_t)(q->outstanding.onext->t_read + q->deadline_ns);
	qlock_unlock(&q->lock);
	return t;
}

/* Answers INVALID for groups older than the deadline. They stay off the free
 * list until their holder answers (-ETIMEDOUT) or the queue is freed, so a
 * late answer can never land on another group. */
void queue_expire(struct iopf_queue *q, uint64_t now)
{
	struct iopf_group *g;

	if (!q->deadline_ns)
		return;
	qlock_lock(&q->lock);
	while ((g = q->outstanding.onext) != &q->outstanding &&
	       now - g->t_read >= q->deadline_ns) {
		answer_invalid(q, g);
		olist_del(g);
		if (gstate(g) == G_READY)
			q->e->ndead++;
		if (g->cookie < q->nowners && q->owners[g->cookie].g == g)
			q->owners[g->cookie].g = NULL;
		gstate_set(g, G_EXPIRED);
		q->nexpired++;
	}
	qlock_unlock(&q->lock);
}

/* Teardown: every group read from the kernel and not answered is answered
 * INVALID, including one still being assembled. */
void queue_answer_all_invalid(struct iopf_queue *q)
{
	struct iopf_group *g;

	qlock_lock(&q->lock);
	for (uint32_t c = 0; c < q->nchunks; c++) {
		struct iopf_group *chunk = q->chunks[c];

		for (int i = 0; i < SLOT_CHUNK; i++) {
			g = &chunk[i];
			if (gstate(g) != G_READY && gstate(g) != G_HANDED)
				continue;
			olist_del(g);
			answer_invalid(q, g);
			slot_put(q, g);
		}
	}
	if (q->assembling) {
		answer_invalid(q, q->assembling);
		slot_put(q, q->assembling);
		q->assembling = NULL;
	}
	qlock_unlock(&q->lock);
}

/* Frees the slot of a group that died on the ready list (expired, stale). */
void group_release(struct iopf_group *g)
{
	struct iopf_queue *q = g->q;

	qlock_lock(&q->lock);
	if (gstate(g) == G_EXPIRED)
		q->nexpired--;
	olist_del(g);
	slot_put(q, g);
	qlock_unlock(&q->lock);
}

/* ---- the public group API ---------------------------------------------- */

IOPF_EXPORT unsigned int iopf_group_count(const struct iopf_group *g)
{
	return g ? g->count : 0;
}

IOPF_EXPORT const struct iopf_fault *
iopf_group_fault(const struct iopf_group *g, unsigned int i)
{
	if (!g || i >= g->count)
		return NULL;
	return &g->faults[i];
}

IOPF_EXPORT uint32_t iopf_group_cookie(const struct iopf_group *g)
{
	return g ? g->cookie : 0;
}

IOPF_EXPORT uint64_t iopf_group_tag(const struct iopf_group *g)
{
	return g ? g->tag : 0;
}

IOPF_EXPORT struct iopf_queue *iopf_group_queue(const struct iopf_group *g)
{
	return g ? g->q : NULL;
}

IOPF_EXPORT void iopf_group_set_user(struct iopf_group *g, void *user)
{
	if (g)
		g->user = user;
}

IOPF_EXPORT void *iopf_group_user(const struct iopf_group *g)
{
	return g ? g->user : NULL;
}

/* Every answer but the ordinary one: refused, late, stale, or no memory.
 * Called with q->lock held, which it keeps. */
static IOPF_COLD int respond_locked_slow(struct iopf_queue *q,
					 struct iopf_group *g, uint32_t state,
					 uint32_t code)
{
	int rc;

	if (state == G_EXPIRED) {
		olist_del(g);
		q->nexpired--;
		slot_put(q, g);
		return -ETIMEDOUT;
	}
	if (state == G_STALE) {
		atomic_fetch_add_explicit(&q->stale_responds, 1,
					  memory_order_relaxed);
		slot_put(q, g);
		return -ESTALE;
	}
	if (state != G_HANDED)
		return state == G_READY ? -EINVAL : -EALREADY;
	rc = ans_push(q, g->cookie, code, g->tag);
	if (rc)
		return rc;
	olist_del(g);
	slot_put(q, g);
	return 0;
}

static IOPF_COLD int respond_slow(struct iopf_queue *q, struct iopf_group *g,
				  uint32_t state, uint32_t code)
{
	int rc = respond_locked_slow(q, g, state, code);

	qlock_unlock(&q->lock);
	if (!rc)
		engine_wake(q->e);
	return rc;
}

/* iopf_group_respond() once code is known to be valid. */
IOPF_INLINE int respond_one(struct iopf_group *g, uint32_t code)
{
	struct iopf_queue *q;
	struct ans_buf *a;
	uint32_t state, n;

	if (unlikely(!g || !g->q))
		return -EINVAL;
	q = g->q;
	qlock_lock(&q->lock);
	state = gstate(g);
	a = &q->pending;
	n = a->n;
	if (unlikely(state != G_HANDED || n == a->cap))
		return respond_slow(q, g, state, code);
	a->rsp[n].cookie = g->cookie;
	a->rsp[n].code = code;
	a->tags[n] = g->tag;
	a->n = n + 1;
	a->special += code != IOPF_RESP_SUCCESS;
	atomic_store_explicit(&q->npending, n + 1, memory_order_release);
	queue_mark_dirty_locked(q);
	/* On the outstanding list only with a deadline. */
	if (g->onext != g)
		olist_del(g);
	slot_put(q, g);
	qlock_unlock(&q->lock);
	engine_wake(q->e);
	return 0;
}

IOPF_EXPORT int iopf_group_respond(struct iopf_group *g, uint32_t code)
{
	if (unlikely(code != IOPF_RESP_SUCCESS && code != IOPF_RESP_INVALID))
		return -EINVAL;
	return respond_one(g, code);
}

/*
 * The ordinary answers of a run of q's groups from groups[i]: each answer
 * appended to q's pending buffer and each slot cleared and linked at *linkp,
 * up to the first group that is not one (NULL, another queue's, not handed
 * out, or the buffer full). Returns that group's index. The buffer's fields
 * are in locals (the stores of slot_clear() could alias them as far as the
 * compiler knows), and dl (q has a deadline, so its groups are on the
 * outstanding list) is a constant of each copy of the loop. Called with
 * q->lock held.
 */
IOPF_INLINE unsigned int respond_run(struct iopf_queue *q,
				     struct iopf_group *const *groups,
				     unsigned int i, unsigned int n,
				     uint32_t code, struct iopf_group ***linkp,
				     const bool dl)
{
	struct ans_buf *a = &q->pending;
	struct iommu_hwpt_page_response *rsp = a->rsp;
	struct cookie_owner *owners = q->owners;
	struct iopf_group **link = *linkp;
	uint64_t *tags = a->tags;
	uint32_t k = a->n, cap = a->cap, nowners = q->nowners;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/* The answer in one 8-byte store (cookie, then code), not two, nor
	 * the vector shuffle the compiler would make of them. */
	const uint64_t hi = (uint64_t)code << 32;

	_Static_assert(
		sizeof(*rsp) == 8 &&
			offsetof(struct iommu_hwpt_page_response, code) == 4,
		"the kernel's answer");
#endif

	for (; i < n; i++) {
		struct iopf_group *g = groups[i];

		if (unlikely(!g) || g->q != q ||
		    unlikely(gstate(g) != G_HANDED || k == cap))
			break;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		{
			uint64_t v = hi | g->cookie;

			memcpy(&rsp[k], &v, 8);
		}
#else
		rsp[k].cookie = g->cookie;
		rsp[k].code = code;
#endif
		tags[k] = g->tag;
		k++;
		if (dl)
			olist_del(g);
		/* slot_put(), the slot kept on a list of this call's (in
		 * order). */
		slot_clear(owners, nowners, g);
		*link = g;
		link = &g->next;
	}
	a->n = k;
	*linkp = link;
	return i;
}

/*
 * Many answers at once: each group as iopf_group_respond() would answer it,
 * the groups of one queue that follow each other in the array under one hold
 * of its lock, one wake of its engine.
 */
static __attribute__((noinline)) int
respond_many(struct iopf_group *const *groups, unsigned int n, uint32_t code,
	     int *results)
{
	unsigned int i = 0, queued = 0;

	while (i < n) {
		struct iopf_group *g = groups[i], *fhead = NULL;
		struct iopf_group **link = &fhead;
		unsigned int before = queued;
		struct iopf_queue *q;
		struct ans_buf *a;
		uint32_t k0;

		if (unlikely(!g || !g->q)) {
			if (results)
				results[i] = -EINVAL;
			i++;
			continue;
		}
		q = g->q;
		a = &q->pending;
		qlock_lock(&q->lock);
		k0 = a->n;
		for (;;) {
			unsigned int start = i;
			int rc;

			if (q->deadline_ns)
				i = respond_run(q, groups, i, n, code, &link,
						true);
			else
				i = respond_run(q, groups, i, n, code, &link,
						false);
			queued += i - start;
			if (results)
				for (; start < i; start++)
					results[start] = 0;
			if (i == n)
				break;
			g = groups[i];
			if (!g || g->q != q)
				break;
			/* Not handed out, or the buffer is full: as
			 * iopf_group_respond(), a full buffer doubles in
			 * ans_push(), or the answer fails with ENOMEM and the
			 * group stays the caller's. The slots cleared so far
			 * go first, in order. */
			if (code != IOPF_RESP_SUCCESS)
				a->special += a->n - k0;
			if (fhead)
				slots_put(q, fhead, group_of_link(link));
			fhead = NULL;
			link = &fhead;
			rc = respond_locked_slow(q, g, gstate(g), code);
			k0 = a->n;
			if (results)
				results[i] = rc;
			queued += !rc;
			i++;
		}
		if (code != IOPF_RESP_SUCCESS)
			a->special += a->n - k0;
		if (fhead)
			slots_put(q, fhead, group_of_link(link));
		if (queued != before) {
			atomic_store_explicit(&q->npending, a->n,
					      memory_order_release);
			queue_mark_dirty_locked(q);
		}
		qlock_unlock(&q->lock);
		if (queued != before)
			engine_wake(q->e);
	}
	return (int)queued;
}

IOPF_EXPORT int iopf_group_respond_batch(struct iopf_group *const *groups,
					 unsigned int n, uint32_t code,
					 int *results)
{
	if (unlikely((n && !groups) || n > INT_MAX))
		return -EINVAL;
	if (unlikely(code != IOPF_RESP_SUCCESS && code != IOPF_RESP_INVALID))
		return -EINVAL;
	/* A batch of one (a pull that found one group: a ping-pong) costs
	 * what iopf_group_respond() costs, not the loop's set-up (its own
	 * function, so that the loop's register saves are not paid here). */
	if (n == 1) {
		int rc = respond_one(groups[0], code);

		if (results)
			results[0] = rc;
		return !rc;
	}
	return respond_many(groups, n, code, results);
}
