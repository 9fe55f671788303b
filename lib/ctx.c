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
	*out = ctx;
	return 0;
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

IOPF_EXPORT void iopf_ctx_free(struct iopf_ctx *ctx)
{
	if (!ctx)
		return;
	if (ctx->owns_fd)
		close(ctx->fd);
	if (ctx->ops->release)
		ctx->ops->release(ctx->be);
	free(ctx);
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
	if (rc == -EBUSY)
		return ctx_fail(ctx, rc, "object %u is still in use", id);
	if (rc)
		return ctx_fail(ctx, rc, "IOMMU_DESTROY %u failed: %s", id,
				strerror(-rc));
	return 0;
}
