/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The kernel backend: ioctl(2) on the iommufd; the fault fd needs no hooks. */
#include <sys/ioctl.h>

#include "internal.h"

static int kernel_ioctl(void *be, unsigned long cmd, void *arg)
{
	struct iopf_ctx *ctx = be;

	if (ioctl(ctx->fd, cmd, arg) < 0)
		return -errno;
	return 0;
}

const struct iopf_backend_ops iopf_kernel_ops = {
	.ioctl = kernel_ioctl,
};
