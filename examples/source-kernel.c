/* SPDX-License-Identifier: MIT */
/* The "kernel" source: /dev/iommu with the kernel's mock IOMMU
 * (CONFIG_IOMMUFD_TEST), driven by the real-kernel tier's kt-helper. */
#include <errno.h>
#include <stdlib.h>

#include "kt-helper.h"
#include "source.h"

/* Built for the real-kernel tier, which runs the examples without arguments:
 * there they must use the kernel. */
const char *source_default_backend(void)
{
	return "kernel";
}

struct kernel_source {
	struct kt_mock m;
};

int kernel_source_open(struct iopf_ctx **ctx, struct kernel_source **out)
{
	struct kernel_source *k = calloc(1, sizeof(*k));
	int rc;

	if (!k)
		return -ENOMEM;
	rc = iopf_ctx_open(NULL, ctx);
	if (!rc) {
		rc = kt_mock_setup(&k->m, iopf_ctx_fd(*ctx));
		if (rc) {
			iopf_ctx_free(*ctx);
			*ctx = NULL;
		}
	}
	if (rc) {
		free(k);
		return rc;
	}
	*out = k;
	return 0;
}

uint32_t kernel_source_dev_id(struct kernel_source *k)
{
	return k->m.idev_id;
}

int kernel_source_nested_args(struct kernel_source *k, struct iopf_hwpt_args *a)
{
	void *data;

	kt_nested_data(&data, &a->data_len, &a->data_type);
	a->data = data;
	a->dev_id = k->m.idev_id;
	a->pt_id = k->m.parent_id;
	return 0;
}

int kernel_source_attach(struct kernel_source *k, uint32_t hwpt_id)
{
	return kt_mock_domain_replace(k->m.fd, k->m.stdev_id, hwpt_id);
}

int kernel_source_fault(struct kernel_source *k, uint32_t grpid, uint64_t addr,
			uint32_t perm)
{
	return kt_trigger_iopf(k->m.fd, k->m.idev_id, 0, grpid, perm, addr);
}

uint32_t kernel_source_parent_id(struct kernel_source *k)
{
	return k->m.parent_id;
}

int kernel_source_vevent(struct kernel_source *k)
{
	return kt_trigger_vevent(k->m.fd, k->m.idev_id);
}

int kernel_source_detach(struct kernel_source *k)
{
	/* Back to the parent: the kernel answers INVALID what is pending. */
	return kt_mock_domain_replace(k->m.fd, k->m.stdev_id, k->m.parent_id);
}

void kernel_source_close(struct kernel_source *k)
{
	kt_mock_teardown(&k->m);
	free(k);
}
