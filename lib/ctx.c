/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The iommufd handle: open /dev/iommu or adopt a caller's fd; the backend. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "uapi/iommufd.h"

extern const struct iopf_backend_ops iopf_kernel_ops;

int ctx_fail(struct iopf_ctx *ctx, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	/* A message cut to the buffer is fine. */
	(void)vsnprintf(ctx->errmsg, sizeof(ctx->errmsg), fmt, ap);
	va_end(ap);
	return err;
}

void ctx_clear_error(struct iopf_ctx *ctx)
{
	ctx->errmsg[0] = '\0';
}

int copy_sized(void *dst, size_t dst_size, const void *src, size_t min_size)
{
	uint32_t size;
	const unsigned char *p = src;

	memcpy(&size, src, sizeof(size));
	if (size < min_size)
		return -EINVAL;
	memset(dst, 0, dst_size);
	if (size > dst_size) {
		for (size_t i = dst_size; i < size; i++)
			if (p[i])
				return -E2BIG;
		size = (uint32_t)dst_size;
	}
	memcpy(dst, src, size);
	return 0;
}

int fill_sized(void *dst, const void *src, size_t src_size)
{
	uint32_t size;

	memcpy(&size, dst, sizeof(size));
	if (size < 2 * sizeof(uint32_t))
		return -EINVAL;
	if (size > src_size)
		size = (uint32_t)src_size;
	memcpy((char *)dst + sizeof(uint32_t),
	       (const char *)src + sizeof(uint32_t), size - sizeof(uint32_t));
	return 0;
}

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int iopf_ctx_new_backend(const struct iopf_backend_ops *ops, void *be,
			 int ctx_fd, struct iopf_ctx **out)
{
	struct iopf_ctx *ctx;

	if (!ops || !ops->ioctl || ctx_fd < 0 || !out)
		return -EINVAL;
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	ctx->fd = ctx_fd;
	ctx->owns_fd = true;
	ctx->ops = ops;
	ctx->be = be;
	atomic_init(&ctx->refs, 1);
	pthread_mutex_init(&ctx->orphan_lock, NULL);
	*out = ctx;
	return 0;
}

void ctx_get(struct iopf_ctx *ctx)
{
	atomic_fetch_add_explicit(&ctx->refs, 1, memory_order_relaxed);
}

/* Tries to destroy every remembered fault object; forgets those destroyed,
 * and those already gone (ENOENT). Called with orphan_lock held. */
static void retry_orphans_locked(struct iopf_ctx *ctx)
{
	uint32_t to = 0;

	for (uint32_t i = 0; i < ctx->norphans; i++) {
		struct iommu_destroy d = { .size = sizeof(d),
					   .id = ctx->orphans[i] };
		int rc = ctx_ioctl(ctx, IOMMU_DESTROY, &d);

		if (rc == 0 || rc == -ENOENT)
			continue;
		ctx->orphans[to++] = ctx->orphans[i];
	}
	ctx->norphans = to;
}

/* After the caller destroyed id (rc: how that went): a fault object it was
 * the last user of can go now. An id the caller destroyed itself that was
 * remembered is forgotten, so that it is never destroyed twice (the kernel
 * may give the id to a new object). */
static void ctx_retry_orphans(struct iopf_ctx *ctx, uint32_t id, int rc)
{
	pthread_mutex_lock(&ctx->orphan_lock);
	if (ctx->norphans) {
		uint32_t to = 0;

		for (uint32_t i = 0; i < ctx->norphans; i++)
			if (ctx->orphans[i] != id || (rc && rc != -ENOENT))
				ctx->orphans[to++] = ctx->orphans[i];
		ctx->norphans = to;
		if (rc == 0)
			retry_orphans_locked(ctx);
	}
	pthread_mutex_unlock(&ctx->orphan_lock);
}

void ctx_destroy_fault(struct iopf_ctx *ctx, uint32_t fault_id)
{
	struct iommu_destroy d = { .size = sizeof(d), .id = fault_id };

	int rc = ctx_ioctl(ctx, IOMMU_DESTROY, &d);

	/* Busy (a HWPT still reports into it), or a failure that may pass
	 * (no memory): tried again after the caller's next destroy and when
	 * the context goes. */
	if (rc == 0 || rc == -ENOENT)
		return;
	pthread_mutex_lock(&ctx->orphan_lock);
	if (ctx->norphans == ctx->orphans_cap) {
		uint32_t cap = ctx->orphans_cap ? 2 * ctx->orphans_cap : 8;
		uint32_t *o = realloc(ctx->orphans, cap * sizeof(*o));

		if (o) {
			ctx->orphans = o;
			ctx->orphans_cap = cap;
		}
	}
	/* Without memory it stays in the iommufd until that is closed. */
	if (ctx->norphans < ctx->orphans_cap)
		ctx->orphans[ctx->norphans++] = fault_id;
	pthread_mutex_unlock(&ctx->orphan_lock);
}

/* The last reference: fault objects still remembered get a last try (for
 * an iommufd the caller keeps open; an owned one destroys them anyway on
 * close), then the fd is closed and the backend released. */
void ctx_put(struct iopf_ctx *ctx)
{
	if (atomic_fetch_sub_explicit(&ctx->refs, 1, memory_order_acq_rel) != 1)
		return;
	retry_orphans_locked(ctx);
	free(ctx->orphans);
	pthread_mutex_destroy(&ctx->orphan_lock);
	if (ctx->owns_fd)
		close(ctx->fd);
	if (ctx->ops->release)
		ctx->ops->release(ctx->be);
	free(ctx);
}

/*
 * IOMMU_DESTROY of id 0 is ENOENT on every iommufd (no object has id 0:
 * iommufd_object_remove() finds nothing, 6.2 to 7.3) and destroys nothing;
 * on any other file an iommufd ioctl number is ENOTTY (the VFS's answer
 * for a file without the ioctl).
 */
int ctx_is_iommufd(struct iopf_ctx *ctx)
{
	struct iommu_destroy d = { .size = sizeof(d), .id = 0 };

	return ctx_ioctl(ctx, IOMMU_DESTROY, &d) != -ENOTTY;
}

IOPF_EXPORT int iopf_ctx_open(const char *path, struct iopf_ctx **out)
{
	struct iopf_ctx *ctx;
	int fd, rc;

	if (!out)
		return -EINVAL;
	*out = NULL;
	fd = open(path ? path : "/dev/iommu", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = iopf_ctx_new_backend(&iopf_kernel_ops, NULL, fd, &ctx);
	if (rc) {
		close(fd);
		return rc;
	}
	ctx->be = ctx;
	*out = ctx;
	return 0;
}

IOPF_EXPORT int iopf_ctx_from_fd(int iommufd, struct iopf_ctx **out)
{
	struct iopf_ctx *ctx;
	int rc;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (iommufd < 0 || fcntl(iommufd, F_GETFD) < 0)
		return -EBADF;
	rc = iopf_ctx_new_backend(&iopf_kernel_ops, NULL, iommufd, &ctx);
	if (rc)
		return rc;
	ctx->be = ctx;
	ctx->owns_fd = false;
	*out = ctx;
	return 0;
}

/* Gives back the caller's reference: the context lives on while queues of
 * it do (see ctx_put). */
IOPF_EXPORT void iopf_ctx_free(struct iopf_ctx *ctx)
{
	if (!ctx)
		return;
	ctx_put(ctx);
}

IOPF_EXPORT int iopf_ctx_fd(const struct iopf_ctx *ctx)
{
	return ctx ? ctx->fd : -EINVAL;
}

IOPF_EXPORT const char *iopf_ctx_errmsg(const struct iopf_ctx *ctx)
{
	return ctx ? ctx->errmsg : "invalid context (NULL)";
}

/*
 * Each probe sends a command the kernel must refuse, so nothing is created:
 * an unknown ioctl is ENOTTY (iommufd_fops_ioctl falls through to the VFIO
 * compat path, which gives -ENOIOCTLCMD), while a known one rejects our
 * deliberately bad flags or ids with another errno.
 */
IOPF_EXPORT int iopf_ctx_probe(struct iopf_ctx *ctx, uint64_t *features)
{
	struct iommu_fault_alloc fa = { .size = sizeof(fa), .flags = 1u << 31 };
	struct iommu_hwpt_alloc ha = {
		.size = sizeof(ha),
		.flags = IOMMU_HWPT_FAULT_ID_VALID,
		.dev_id = 0,
		.fault_id = UINT32_MAX, /* non-zero trailing byte before 6.11 */
	};
	struct iommu_veventq_alloc va = { .size = sizeof(va), .flags = 1u << 31 };
	uint64_t feat = 0;
	int rc;

	if (!ctx || !features)
		return -EINVAL;
	ctx_clear_error(ctx);
	*features = 0;
	if (!ctx_is_iommufd(ctx))
		return ctx_fail(ctx, -ENOTTY,
				"fd %d is not an iommufd (IOMMU_DESTROY is not a command of it)",
				ctx->fd);

	rc = ctx_ioctl(ctx, IOMMU_FAULT_QUEUE_ALLOC, &fa);
	if (rc == 0) {
		/* A kernel that ignored the flags: undo what it made. */
		struct iommu_destroy d = { .size = sizeof(d),
					   .id = fa.out_fault_id };
		if (ctx->ops->fault_close)
			ctx->ops->fault_close(ctx->be, (int)fa.out_fault_fd);
		else
			close((int)fa.out_fault_fd);
		ctx_ioctl(ctx, IOMMU_DESTROY, &d);
		feat |= IOPF_FEAT_FAULT_QUEUE;
	} else if (rc != -ENOTTY) {
		feat |= IOPF_FEAT_FAULT_QUEUE;
	}

	rc = ctx_ioctl(ctx, IOMMU_HWPT_ALLOC, &ha);
	if (rc != -ENOTTY && rc != -E2BIG)
		feat |= IOPF_FEAT_HWPT_FAULT_ID;

	rc = ctx_ioctl(ctx, IOMMU_VEVENTQ_ALLOC, &va);
	if (rc != -ENOTTY)
		feat |= IOPF_FEAT_VEVENTQ;

	*features = feat;
	if (!(feat & IOPF_FEAT_FAULT_QUEUE))
		return ctx_fail(ctx, -ENOSYS,
				"kernel lacks IOMMU_FAULT_QUEUE_ALLOC (needs Linux 6.11+)");
	if (!(feat & IOPF_FEAT_HWPT_FAULT_ID))
		return ctx_fail(ctx, -ENOSYS,
				"kernel lacks IOMMU_HWPT_ALLOC fault_id (needs Linux 6.11+)");
	return 0;
}

IOPF_EXPORT int iopf_ioas_alloc(struct iopf_ctx *ctx, uint32_t *out_ioas_id)
{
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };
	int rc;

	if (!ctx || !out_ioas_id)
		return -EINVAL;
	ctx_clear_error(ctx);
	rc = ctx_ioctl(ctx, IOMMU_IOAS_ALLOC, &cmd);
	if (rc == -ENOTTY)
		return ctx_fail(ctx, -ENOSYS, "kernel lacks iommufd IOMMU_IOAS_ALLOC");
	if (rc)
		return ctx_fail(ctx, rc, "IOMMU_IOAS_ALLOC failed: %s", strerror(-rc));
	*out_ioas_id = cmd.out_ioas_id;
	return 0;
}

IOPF_EXPORT int iopf_destroy(struct iopf_ctx *ctx, uint32_t id)
{
	struct iommu_destroy cmd = { .size = sizeof(cmd), .id = id };
	int rc;

	if (!ctx)
		return -EINVAL;
	ctx_clear_error(ctx);
	rc = ctx_ioctl(ctx, IOMMU_DESTROY, &cmd);
	ctx_retry_orphans(ctx, id, rc);
	if (rc == -EBUSY)
		return ctx_fail(ctx, rc, "object %u is still in use", id);
	if (rc)
		return ctx_fail(ctx, rc, "IOMMU_DESTROY %u failed: %s", id,
				strerror(-rc));
	return 0;
}
