/* SPDX-License-Identifier: MIT */
/* Built without the kernel's selftest headers: the "kernel" source is not
 * available (the real-kernel tier builds the examples with source-kernel.c). */
#include <errno.h>

#include "source.h"

const char *source_default_backend(void)
{
	return "mock";
}

int kernel_source_open(struct iopf_ctx **ctx, struct kernel_source **out)
{
	return -ENOTSUP;
}

uint32_t kernel_source_dev_id(struct kernel_source *k)
{
	return 0;
}

int kernel_source_nested_args(struct kernel_source *k, struct iopf_hwpt_args *a)
{
	return -ENOTSUP;
}

int kernel_source_attach(struct kernel_source *k, uint32_t hwpt_id)
{
	return -ENOTSUP;
}

int kernel_source_fault(struct kernel_source *k, uint32_t grpid, uint64_t addr,
			uint32_t perm)
{
	return -ENOTSUP;
}

int kernel_source_detach(struct kernel_source *k)
{
	return -ENOTSUP;
}

uint32_t kernel_source_parent_id(struct kernel_source *k)
{
	return 0;
}

int kernel_source_vevent(struct kernel_source *k)
{
	return -ENOTSUP;
}

void kernel_source_close(struct kernel_source *k)
{
}
