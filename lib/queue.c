/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fault queue objects, HWPT allocation with a fault id, teardown. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"

/* ---- I/O on the fault fd, through the backend's hooks ------------------ */

int q_read_prepare(struct iopf_queue *q, ssize_t *res)
{
	const struct iopf_backend_ops *ops = q->ctx->ops;

	if (!ops->read_prepare)
		return 0;
	return ops->read_prepare(q->ctx->be, q->fd, queue_read_len(q), res);
}

ssize_t q_read_done(struct iopf_queue *q, ssize_t res)
{
	const struct iopf_backend_ops *ops = q->ctx->ops;

	if (!ops->read_done)
		return res;
	return ops->read_done(q->ctx->be, q->fd, q->buf, queue_read_len(q),
			      res);
}

ssize_t q_write_done(struct iopf_queue *q, const void *buf, size_t len,
		     ssize_t res)
{
	const struct iopf_backend_ops *ops = q->ctx->ops;

	if (!ops->write_done)
		return res;
	return ops->write_done(q->ctx->be, q->fd, buf, len, res);
}

ssize_t q_read_hooked(struct iopf_queue *q)
{
	size_t len = queue_read_len(q);
	ssize_t res;

	if (q_read_prepare(q, &res))
		return res;
	res = read(q->fd, q->buf, len);
	if (res < 0)
		res = -errno;
	return q_read_done(q, res);
}

ssize_t q_write_hooked(struct iopf_queue *q, const void *buf, size_t len)
{
	ssize_t res = write(q->fd, buf, len);

	if (res < 0)
		res = -errno;
	return q_write_done(q, buf, len, res);
}

/* ---- queues ------------------------------------------------------------ */

void queue_fd_close(struct iopf_ctx *ctx, int fd)
{
	if (ctx->ops->fault_close)
		ctx->ops->fault_close(ctx->be, fd);
	else
		close(fd);
}

/*
 * A queue whose fd was just made (a fault fd, or a vEVENTQ's, `what` says)
 * joins its engine: O_NONBLOCK on the fd, the fd to wait on, room in the
 * deadline heap, the engine's own registration, and the engine's lists.
 * Returns 0, or -errno with the context's message set.
 */
int queue_join_engine(struct iopf_queue *q, const char *what)
{
	struct iopf_ctx *ctx = q->ctx;
	struct iopf_engine *e = q->e;
	int rc, fl;

	/*
	 * The fault file ignores O_NONBLOCK in its own read (it never blocks),
	 * and so does the vEVENTQ file, but io_uring looks at it: with the
	 * flag, io_file_get_flags() (6.12 io_uring/rw.c) treats the file as
	 * nowait-capable and runs READ and WRITE inline instead of handing
	 * every one to an io-wq worker.
	 */
	fl = fcntl(q->fd, F_GETFL);
	if (fl < 0 || fcntl(q->fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return ctx_fail(ctx, -errno,
				"cannot set O_NONBLOCK on the %s fd", what);
	q->poll_fd = q->fd;
	if (ctx->ops->poll_fd) {
		q->poll_fd = ctx->ops->poll_fd(ctx->be, q->fd);
		if (q->poll_fd < 0)
			return q->poll_fd;
	}
	q->readable = true;
	q->dheap_idx = DHEAP_NONE;
	rc = q->deadline_ns ? engine_reserve_deadline(e) : 0;
	if (!rc)
		rc = e->ops->add_queue(e, q);
	if (rc)
		return ctx_fail(ctx, rc,
				"cannot add the %s queue to the engine: %s",
				what, strerror(-rc));
	q->enext = e->queues;
	e->queues = q;
	e->nqueues++;
	e->ndeadline += q->deadline_ns != 0;
	e->nhandlerless += q->kind == QK_FAULT && !q->handler;
	/* Its first run reads it (plain) or arms its first READ (io_uring). */
	engine_want_read(e, q);
	ctx_get(ctx);
	return 0;
}

static int queue_opts(struct iopf_queue *q, const struct iopf_queue_opts *in)
{
	struct iopf_queue_opts o;
	int rc;

	memset(&o, 0, sizeof(o));
	if (in) {
		rc = copy_sized(&o, sizeof(o), in,
				offsetof(struct iopf_queue_opts, handler));
		if (rc)
			return rc;
	}
	if (o.flags)
		return -EINVAL;
	if (o.max_group > MAX_MAX_GROUP)
		return -EINVAL;
	q->batch = o.batch ? o.batch : DEFAULT_BATCH;
	q->max_group = o.max_group ? o.max_group : DEFAULT_MAX_GROUP;
	if (q->batch > MAX_MAX_GROUP)
		return -EINVAL;
	if (q->max_group < q->batch)
		q->max_group = q->batch;
	/* The buffer starts small and doubles while reads fill it, up to
	 * the batch: an idle queue holds INITIAL_RECORDS records of memory,
	 * and a busy one reaches the batch within a few reads. */
	q->buf_records =
		q->batch < INITIAL_RECORDS ? q->batch : INITIAL_RECORDS;
	q->deadline_ns = o.deadline_ns;
	q->handler = o.handler;
	q->answered = o.answered;
	q->user = o.user;
	return 0;
}

IOPF_EXPORT int iopf_queue_new(struct iopf_ctx *ctx, struct iopf_engine *e,
			       const struct iopf_queue_opts *opts,
			       struct iopf_queue **out)
{
	struct iommu_fault_alloc cmd = {.size = sizeof(cmd)};
	struct iommu_destroy d = {.size = sizeof(d)};
	struct iopf_queue *q;
	int rc;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!ctx || !e)
		return -EINVAL;
	ctx_clear_error(ctx);
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->fd = -1;
	rc = queue_opts(q, opts);
	if (rc) {
		free(q);
		return ctx_fail(ctx, rc, "invalid queue options");
	}
	q->ctx = ctx;
	q->e = e;
	q->kind = QK_FAULT;
	q->rec_size = FAULT_SIZE;
	q->hooks = ctx->ops->read_prepare != NULL;
	/* Zeroed: io_uring fills it behind the back of memory checkers
	 * (valgrind sees no write), which would otherwise take every record
	 * read for uninitialised. */
	q->buf = calloc(q->buf_records, FAULT_SIZE);
	if (!q->buf) {
		free(q);
		return -ENOMEM;
	}
	rc = queue_slots_init(q);
	if (rc) {
		free(q->buf);
		free(q);
		return rc;
	}

	rc = ctx_ioctl(ctx, IOMMU_FAULT_QUEUE_ALLOC, &cmd);
	if (rc) {
		if (rc == -ENOTTY && !ctx_is_iommufd(ctx))
			ctx_fail(ctx, rc, "fd %d is not an iommufd", ctx->fd);
		else if (rc == -ENOTTY)
			ctx_fail(ctx, rc = -ENOSYS,
				 "kernel lacks IOMMU_FAULT_QUEUE_ALLOC (needs "
				 "Linux 6.11+)");
		else
			ctx_fail(ctx, rc, "IOMMU_FAULT_QUEUE_ALLOC failed: %s",
				 strerror(-rc));
		goto err_slots;
	}
	q->fault_id = cmd.out_fault_id;
	q->fd = (int)cmd.out_fault_fd;

	rc = queue_join_engine(q, "fault");
	if (rc)
		goto err_fault;
	*out = q;
	return 0;

err_fault:
	queue_fd_close(ctx, q->fd);
	d.id = q->fault_id;
	ctx_ioctl(ctx, IOMMU_DESTROY, &d);
err_slots:
	queue_slots_fini(q);
	free(q->buf);
	free(q);
	return rc;
}

void engine_unlink_queue(struct iopf_engine *e, struct iopf_queue *q)
{
	struct iopf_queue **pq;
	struct iopf_group **pg, *last = NULL;

	for (pq = &e->queues; *pq; pq = &(*pq)->enext) {
		if (*pq == q) {
			*pq = q->enext;
			e->nqueues--;
			e->ndeadline -= q->deadline_ns != 0;
			e->nhandlerless -= q->kind == QK_FAULT && !q->handler;
			break;
		}
	}
	for (pg = &e->ready_head; *pg;) {
		if ((*pg)->q == q) {
			uint32_t state = gstate((*pg));

			if (state == G_EXPIRED || state == G_STALE)
				e->ndead--;
			q->nready--;
			*pg = (*pg)->next;
			e->nready--;
		} else {
			last = *pg;
			pg = &(*pg)->next;
		}
	}
	e->ready_tail = last;
}

/*
 * Nothing is left hanging: every group read from the kernel and not answered
 * is answered INVALID here, then the fd is closed and the fault object
 * destroyed. Closing the fd alone would answer nothing (the fault file's
 * release only drops its reference); destroying the object answers what the
 * kernel still holds (iommufd_fault_destroy), which the IOMMU_DESTROY does
 * once no HWPT uses the object any more.
 */
IOPF_EXPORT void iopf_queue_free(struct iopf_queue *q)
{
	struct iopf_engine *e;

	if (!q)
		return;
	e = q->e;
	e->ops->del_queue(e, q);
	engine_unlink_queue(e, q);
	queue_answer_all_invalid(q);
	queue_write_sync(q);
	engine_forget_queue(e, q);
	queue_fd_close(q->ctx, q->fd);
	ctx_destroy_fault(q->ctx, q->fault_id);
	queue_slots_fini(q);
	free(q->buf);
	ctx_put(q->ctx);
	free(q);
}

IOPF_EXPORT uint32_t iopf_queue_id(const struct iopf_queue *q)
{
	return q ? q->fault_id : 0;
}

IOPF_EXPORT int iopf_queue_fd(const struct iopf_queue *q)
{
	return q ? q->fd : -EINVAL;
}

IOPF_EXPORT void *iopf_queue_user(const struct iopf_queue *q)
{
	return q ? q->user : NULL;
}

/* The error that stopped the queue (-EMSGSIZE, -ENOMEM, -EIO, the read's
 * errno, or that of a write that lost its answers), 0 while it works: tells
 * which queue an engine error came from. */
IOPF_EXPORT int iopf_queue_error(const struct iopf_queue *q)
{
	if (!q)
		return -EINVAL;
	return q->error == -ECANCELED ? 0 : q->error;
}

IOPF_EXPORT int iopf_queue_stats(const struct iopf_queue *q,
				 struct iopf_stats *st)
{
	struct iopf_stats s;

	if (!q || !st)
		return -EINVAL;
	s = q->stats;
	s.size = sizeof(s);
	s.answers_stale +=
		atomic_load_explicit(&((struct iopf_queue *)q)->stale_responds,
				     memory_order_relaxed);
	return fill_sized(st, &s, sizeof(s));
}

/* ---- HWPTs ------------------------------------------------------------- */

IOPF_EXPORT int iopf_hwpt_alloc(struct iopf_ctx *ctx, struct iopf_queue *q,
				const struct iopf_hwpt_args *args,
				uint32_t *out_hwpt_id)
{
	const uint32_t known = IOPF_HWPT_ALLOC_NEST_PARENT |
			       IOPF_HWPT_ALLOC_DIRTY_TRACKING |
			       IOPF_HWPT_ALLOC_PASID;
	struct iommu_hwpt_alloc cmd = {.size = sizeof(cmd)};
	struct iopf_hwpt_args a;
	int rc;

	if (!ctx || !args || !out_hwpt_id)
		return -EINVAL;
	ctx_clear_error(ctx);
	rc = copy_sized(&a, sizeof(a), args, sizeof(a));
	if (rc)
		return ctx_fail(ctx, rc, "invalid iopf_hwpt_args size");
	if (a.flags & ~known)
		return ctx_fail(ctx, -EINVAL, "unknown HWPT flags 0x%x",
				a.flags & ~known);
	if ((a.data_len && !a.data) || (!a.data_len && a.data) ||
	    (!a.data_type != !a.data_len))
		return ctx_fail(
			ctx, -EINVAL,
			"data, data_len and data_type must come together");
	if (q && q->ctx != ctx)
		return ctx_fail(ctx, -EINVAL,
				"the queue belongs to another context");

	cmd.flags = a.flags;
	cmd.dev_id = a.dev_id;
	cmd.pt_id = a.pt_id;
	cmd.data_type = a.data_type;
	cmd.data_len = a.data_len;
	cmd.data_uptr = (uint64_t)(uintptr_t)a.data;
	if (q) {
		cmd.flags |= IOMMU_HWPT_FAULT_ID_VALID;
		cmd.fault_id = q->fault_id;
	}
	rc = ctx_ioctl(ctx, IOMMU_HWPT_ALLOC, &cmd);
	if (rc == 0) {
		*out_hwpt_id = cmd.out_hwpt_id;
		return 0;
	}
	if (rc == -ENOTTY)
		return ctx_fail(
			ctx, -ENOSYS,
			"kernel lacks IOMMU_HWPT_ALLOC (needs Linux 6.6+)");
	if (q && rc == -E2BIG)
		return ctx_fail(ctx, -ENOSYS,
				"kernel lacks IOMMU_HWPT_ALLOC fault_id (needs "
				"Linux 6.11+)");
	/* 6.11 and 6.12 take a fault id on nested HWPTs only
	 * (iommufd_hwpt_paging_alloc refuses the flag); 6.13 on paging too. */
	if (q && rc == -EOPNOTSUPP && !a.data_type)
		return ctx_fail(ctx, rc,
				"kernel takes a fault queue on nested HWPTs "
				"only (paging needs Linux 6.13+), and never on "
				"a NEST_PARENT HWPT");
	/* IOMMU_HWPT_ALLOC_PASID came in 6.15: before, any HWPT kind refuses
	 * it (6.12: hw_pagetable.c's flag checks). */
	if (rc == -EOPNOTSUPP && (a.flags & IOPF_HWPT_ALLOC_PASID))
		return ctx_fail(ctx, rc,
				"IOMMU_HWPT_ALLOC refused: the kernel or its "
				"IOMMU driver takes no IOPF_HWPT_ALLOC_PASID "
				"(needs Linux 6.15+), or another flag");
	return ctx_fail(ctx, rc, "IOMMU_HWPT_ALLOC failed: %s", strerror(-rc));
}
