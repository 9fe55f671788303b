/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a vEVENTQ needs first: a vIOMMU (IOMMU_VIOMMU_ALLOC, Linux 6.13+) and a
 * vDEVICE per device the guest sees behind it (IOMMU_VDEVICE_ALLOC). Both are
 * thin: the caller's type and data go to the kernel as they are.
 */
#include <string.h>

#include "internal.h"
#include "uapi/iommufd.h"

static int lacks(struct iopf_ctx *ctx, int rc, const char *cmd)
{
	if (!ctx_is_iommufd(ctx))
		return ctx_fail(ctx, rc, "fd %d is not an iommufd", ctx->fd);
	return ctx_fail(ctx, -ENOSYS, "kernel lacks %s (needs Linux 6.13+)",
			cmd);
}

IOPF_EXPORT int iopf_viommu_alloc(struct iopf_ctx *ctx,
				  const struct iopf_viommu_args *args,
				  uint32_t *out_viommu_id)
{
	struct iommu_viommu_alloc cmd = {.size = sizeof(cmd)};
	struct iopf_viommu_args a;
	int rc;

	if (!ctx || !args || !out_viommu_id)
		return -EINVAL;
	ctx_clear_error(ctx);
	rc = copy_sized(&a, sizeof(a), args, sizeof(a));
	if (rc)
		return ctx_fail(ctx, rc, "invalid iopf_viommu_args size");
	if ((a.data_len && !a.data) || (!a.data_len && a.data))
		return ctx_fail(ctx, -EINVAL,
				"data and data_len must come together");
	cmd.flags = a.flags;
	cmd.type = a.type;
	cmd.dev_id = a.dev_id;
	cmd.hwpt_id = a.hwpt_id;
	cmd.data_len = a.data_len;
	cmd.data_uptr = (uint64_t)(uintptr_t)a.data;
	rc = ctx_ioctl(ctx, IOMMU_VIOMMU_ALLOC, &cmd);
	if (rc == 0) {
		*out_viommu_id = cmd.out_viommu_id;
		return 0;
	}
	if (rc == -ENOTTY)
		return lacks(ctx, rc, "IOMMU_VIOMMU_ALLOC");
	if (rc == -EOPNOTSUPP)
		return ctx_fail(ctx, rc,
				"IOMMU_VIOMMU_ALLOC: the IOMMU driver of "
				"device %u has no vIOMMU of type 0x%x",
				a.dev_id, a.type);
	return ctx_fail(ctx, rc, "IOMMU_VIOMMU_ALLOC failed: %s",
			strerror(-rc));
}

IOPF_EXPORT int iopf_vdevice_alloc(struct iopf_ctx *ctx, uint32_t viommu_id,
				   uint32_t dev_id, uint64_t virt_id,
				   uint32_t *out_vdevice_id)
{
	struct iommu_vdevice_alloc cmd = {
		.size = sizeof(cmd),
		.viommu_id = viommu_id,
		.dev_id = dev_id,
		.virt_id = virt_id,
	};
	int rc;

	if (!ctx || !out_vdevice_id)
		return -EINVAL;
	ctx_clear_error(ctx);
	rc = ctx_ioctl(ctx, IOMMU_VDEVICE_ALLOC, &cmd);
	if (rc == 0) {
		*out_vdevice_id = cmd.out_vdevice_id;
		return 0;
	}
	if (rc == -ENOTTY)
		return lacks(ctx, rc, "IOMMU_VDEVICE_ALLOC");
	if (rc == -EEXIST)
		return ctx_fail(ctx, rc,
				"IOMMU_VDEVICE_ALLOC: device %u has a vDEVICE, "
				"or virt_id 0x%llx is taken on vIOMMU %u",
				dev_id, (unsigned long long)virt_id, viommu_id);
	return ctx_fail(ctx, rc, "IOMMU_VDEVICE_ALLOC failed: %s",
			strerror(-rc));
}
