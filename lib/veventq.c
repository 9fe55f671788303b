/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vIOMMU event queues (IOMMU_VEVENTQ_ALLOC, Linux 6.15+) as one more kind of
 * queue on an engine. The engines see a struct iopf_queue whose records are
 * rec_size bytes (header + the type's payload) and read it as any other: the
 * same waits, lists, reads and teardown. Only what a read gave differs: it is
 * parsed into the queue's array of struct iopf_vevent (vevent.c, with exact
 * lost counts), and the queue goes on the engine's vready list until its
 * events are handed out; it is read again only then, so the payload pointers
 * into its buffer hold until the engine's next read. Nothing is answered.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"
#include "vevent.h"

#define VQ_DEFAULT_DEPTH 1024
#define VQ_DEFAULT_BATCH 64
#define VQ_MAX_BATCH	 65536

struct iopf_veventq {
	struct iopf_queue q; /* first: the engines see a queue */
	uint32_t viommu_id;
	uint32_t type;
	uint32_t payload_len;
	iopf_vevent_fn handler;
	void *user;
	struct vevent_seq seq;
	struct iopf_vevent *evs; /* what the last read gave */
	uint32_t nevs, evoff; /* parsed, and handed out of them */
	uint32_t evcap;
	struct iopf_veventq *vnext; /* e->vready */
	bool on_vready;
	struct iopf_veventq_stats stats;
};

static struct iopf_veventq *to_vq(struct iopf_queue *q)
{
	return (struct iopf_veventq *)q;
}

/* ---- the engine's side -----------------------------------------------------
 */

static void vready_add(struct iopf_engine *e, struct iopf_veventq *vq)
{
	vq->vnext = NULL;
	vq->on_vready = true;
	if (e->vready_tail)
		e->vready_tail->vnext = vq;
	else
		e->vready_head = vq;
	e->vready_tail = vq;
	e->nvready++;
}

struct iopf_veventq *engine_pop_vready(struct iopf_engine *e)
{
	struct iopf_veventq *vq = e->vready_head;

	if (!vq)
		return NULL;
	e->vready_head = vq->vnext;
	if (!e->vready_head)
		e->vready_tail = NULL;
	vq->on_vready = false;
	e->nvready--;
	return vq;
}

static void vready_del(struct iopf_engine *e, struct iopf_veventq *vq)
{
	struct iopf_veventq **p, *last = NULL;

	if (!vq->on_vready)
		return;
	for (p = &e->vready_head; *p; p = &(*p)->vnext) {
		if (*p == vq) {
			*p = vq->vnext;
			e->nvready--;
			break;
		}
		last = *p;
	}
	if (e->vready_tail == vq)
		e->vready_tail = last;
	vq->on_vready = false;
}

/* Every event was handed out: the queue may be read again. */
static void vq_consumed(struct iopf_veventq *vq)
{
	vq->nevs = vq->evoff = 0;
	if (vq->q.nready)
		queue_unready(&vq->q);
}

bool veventq_has_handler(const struct iopf_veventq *vq)
{
	return vq->handler != NULL;
}

int veventq_dispatch(struct iopf_veventq *vq)
{
	uint32_t off = vq->evoff, n = vq->nevs - vq->evoff;

	vq_consumed(vq);
	return vq->handler(vq, vq->evs + off, n, vq->user);
}

/*
 * A read's result. The kernel's read gives whole records, 0 when the queue
 * is empty, and EINVAL only when the first event does not fit the read, which
 * a buffer of whole records of the type's size never sees: the payload size
 * is then not what the library was told (-EMSGSIZE). Bytes that are not
 * records fail the queue (-EPROTO) once the events before them are out.
 */
int veventq_read_result(struct iopf_queue *q, ssize_t res)
{
	struct iopf_veventq *vq = to_vq(q);
	size_t off = 0;
	int n;

	q->polled = false;
	q->stats.reads++;
	vq->stats.reads++;
	q->full = false;
	if (res <= 0) {
		q->readable = false;
		if (res == 0) {
			vq->stats.empty_reads++;
			return 0;
		}
		if (res == -EAGAIN || res == -EINTR)
			return 0;
		q->error = res == -EINVAL ? -EMSGSIZE : (int)res;
		engine_queue_failed(q->e, q);
		return q->error;
	}
	n = vevent_parse(&vq->seq, vq->type, vq->payload_len, q->buf,
			 (size_t)res, &off, vq->evs, vq->evcap);
	if (n < 0)
		n = 0;
	vq->stats.events = vq->seq.events;
	vq->stats.lost = vq->seq.lost;
	vq->stats.lost_records = vq->seq.lost_headers;
	if ((uint64_t)n > vq->stats.max_batch)
		vq->stats.max_batch = (uint64_t)n;
	q->readable = true;
	/* Another record would not have fitted: more is likely there. */
	q->full = (size_t)res + q->rec_size > queue_read_len(q);
	if (n) {
		vq->nevs = (uint32_t)n;
		vq->evoff = 0;
		q->nready = 1;
		vready_add(q->e, vq);
	}
	if (off < (size_t)res) {
		q->readable = false;
		q->error = -EPROTO;
		engine_queue_failed(q->e, q);
		return -EPROTO;
	}
	return n;
}

/* ---- the public API -------------------------------------------------------
 */

static int vq_opts(struct iopf_veventq_opts *o,
		   const struct iopf_veventq_opts *in)
{
	int rc = copy_sized(o, sizeof(*o), in,
			    offsetof(struct iopf_veventq_opts, handler));

	if (rc)
		return rc;
	if (o->flags || !o->type || o->batch > VQ_MAX_BATCH ||
	    o->payload_len > 65536)
		return -EINVAL;
	if (!o->depth)
		o->depth = VQ_DEFAULT_DEPTH;
	if (!o->batch)
		o->batch = VQ_DEFAULT_BATCH;
	if (!o->payload_len)
		o->payload_len = vevent_type_payload(o->type);
	return 0;
}

static int vq_alloc_failed(struct iopf_ctx *ctx, int rc, uint32_t viommu_id,
			   const struct iopf_veventq_opts *o)
{
	if (rc == -ENOTTY) {
		if (!ctx_is_iommufd(ctx))
			return ctx_fail(ctx, rc, "fd %d is not an iommufd",
					ctx->fd);
		return ctx_fail(
			ctx, -ENOSYS,
			"kernel lacks IOMMU_VEVENTQ_ALLOC (needs Linux 6.15+)");
	}
	if (rc == -EEXIST)
		return ctx_fail(ctx, rc,
				"vIOMMU %u already has a vEVENTQ of type 0x%x",
				viommu_id, o->type);
	if (rc == -ENOENT)
		return ctx_fail(ctx, rc, "IOMMU_VEVENTQ_ALLOC: no vIOMMU %u",
				viommu_id);
	if (rc == -EINVAL)
		return ctx_fail(ctx, rc,
				"IOMMU_VEVENTQ_ALLOC: depth %u refused (1 to "
				"524288 on Linux 7.3)",
				o->depth);
	if (rc == -EOPNOTSUPP)
		return ctx_fail(ctx, rc,
				"IOMMU_VEVENTQ_ALLOC: type 0x%x not supported",
				o->type);
	return ctx_fail(ctx, rc, "IOMMU_VEVENTQ_ALLOC failed: %s",
			strerror(-rc));
}

static void vq_mem_free(struct iopf_veventq *vq)
{
	free(vq->evs);
	free(vq->q.buf);
	free(vq);
}

IOPF_EXPORT int iopf_veventq_new(struct iopf_ctx *ctx, struct iopf_engine *e,
				 uint32_t viommu_id,
				 const struct iopf_veventq_opts *opts,
				 struct iopf_veventq **out)
{
	struct iommu_veventq_alloc cmd = {.size = sizeof(cmd)};
	struct iommu_destroy d = {.size = sizeof(d)};
	struct iopf_veventq_opts o;
	struct iopf_veventq *vq;
	struct iopf_queue *q;
	int rc;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!ctx || !e || !opts)
		return -EINVAL;
	ctx_clear_error(ctx);
	rc = vq_opts(&o, opts);
	if (rc)
		return ctx_fail(ctx, rc, "invalid vEVENTQ options");
	if (!o.payload_len)
		return ctx_fail(ctx, -EINVAL,
				"vEVENTQ type 0x%x is unknown to the library: "
				"give its payload_len",
				o.type);
	vq = calloc(1, sizeof(*vq));
	if (!vq)
		return -ENOMEM;
	q = &vq->q;
	q->fd = -1;
	q->ctx = ctx;
	q->e = e;
	q->kind = QK_VEVENT;
	q->rec_size = VEVENT_HDR_SIZE + o.payload_len;
	q->buf_records = q->batch = o.batch;
	q->max_group = o.batch;
	q->hooks = ctx->ops->read_prepare != NULL;
	q->dheap_idx = DHEAP_NONE;
	vq->viommu_id = viommu_id;
	vq->type = o.type;
	vq->payload_len = o.payload_len;
	vq->handler = o.handler;
	vq->user = o.user;
	/* A read of batch records gives at most batch events, and one
	 * LOST_EVENTS header (8 bytes) in place of an event or at the end. */
	vq->evcap = o.batch + 1;
	vq->evs = calloc(vq->evcap, sizeof(*vq->evs));
	/* Zeroed: io_uring fills it unseen by memory checkers. */
	q->buf = calloc(1, queue_read_len(q));
	if (!vq->evs || !q->buf) {
		vq_mem_free(vq);
		return -ENOMEM;
	}
	atomic_init(&q->lock.held, false);
	cmd.viommu_id = viommu_id;
	cmd.type = o.type;
	cmd.veventq_depth = o.depth;
	rc = ctx_ioctl(ctx, IOMMU_VEVENTQ_ALLOC, &cmd);
	if (rc) {
		vq_mem_free(vq);
		return vq_alloc_failed(ctx, rc, viommu_id, &o);
	}
	q->fault_id = cmd.out_veventq_id;
	q->fd = (int)cmd.out_veventq_fd;
	rc = queue_join_engine(q, "vEVENTQ");
	if (rc)
		goto err;
	*out = vq;
	return 0;
err:
	queue_fd_close(ctx, q->fd);
	d.id = q->fault_id;
	ctx_ioctl(ctx, IOMMU_DESTROY, &d);
	vq_mem_free(vq);
	return rc;
}

/* Events not handed out are dropped with the queue (nobody answers them);
 * the fd is closed, then the object destroyed: the kernel frees what it
 * still holds. */
IOPF_EXPORT void iopf_veventq_free(struct iopf_veventq *vq)
{
	struct iommu_destroy d = {.size = sizeof(d)};
	struct iopf_engine *e;
	struct iopf_queue *q;

	if (!vq)
		return;
	q = &vq->q;
	e = q->e;
	e->ops->del_queue(e, q);
	engine_unlink_queue(e, q);
	vready_del(e, vq);
	engine_forget_queue(e, q);
	queue_fd_close(q->ctx, q->fd);
	ctx_destroy_fault(q->ctx, q->fault_id);
	ctx_put(q->ctx);
	vq_mem_free(vq);
}

IOPF_EXPORT uint32_t iopf_veventq_id(const struct iopf_veventq *vq)
{
	return vq ? vq->q.fault_id : 0;
}

IOPF_EXPORT int iopf_veventq_fd(const struct iopf_veventq *vq)
{
	return vq ? vq->q.fd : -EINVAL;
}

IOPF_EXPORT void *iopf_veventq_user(const struct iopf_veventq *vq)
{
	return vq ? vq->user : NULL;
}

IOPF_EXPORT int iopf_veventq_error(const struct iopf_veventq *vq)
{
	if (!vq)
		return -EINVAL;
	return vq->q.error == -ECANCELED ? 0 : vq->q.error;
}

IOPF_EXPORT int iopf_veventq_stats(const struct iopf_veventq *vq,
				   struct iopf_veventq_stats *st)
{
	struct iopf_veventq_stats s;

	if (!vq || !st)
		return -EINVAL;
	s = vq->stats;
	s.size = sizeof(s);
	return fill_sized(st, &s, sizeof(s));
}

IOPF_EXPORT int iopf_veventq_pull(struct iopf_veventq *vq,
				  struct iopf_vevent *evs, unsigned int max)
{
	struct iopf_engine *e;
	uint32_t n;

	if (!vq || !evs || !max)
		return -EINVAL;
	e = vq->q.e;
	if (e->in_dispatch || e->in_run)
		return -EBUSY;
	if (vq->evoff >= vq->nevs) {
		int rc = iopf_engine_process(e);

		if (rc < 0)
			return rc;
	}
	n = vq->nevs - vq->evoff;
	if (n > max)
		n = max;
	memcpy(evs, vq->evs + vq->evoff, (size_t)n * sizeof(*evs));
	vq->evoff += n;
	if (vq->nevs && vq->evoff >= vq->nevs) {
		vready_del(e, vq);
		vq_consumed(vq);
	}
	return (int)n;
}
