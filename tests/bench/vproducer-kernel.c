/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* iopf-bench-vevent's producer on the kernel's mock IOMMU (see vproducer.h):
 * the selftest driver's vIOMMU, and IOMMU_TEST_OP_TRIGGER_VEVENT. */
#include <errno.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/version.h>
#include <iommufd_test.h>

#include "kt-helper.h"
#include "vproducer.h"

const char vprod_note[] =
	"the kernel's mock IOMMU (IOMMU_TEST_OP_TRIGGER_VEVENT via kt-helper, "
	"the selftest type's 4-byte payload); hand-written loops use plain "
	"read(2) on their own vEVENTQ fd. Under qemu TCG: absolute times mean "
	"nothing, ratios do";
const uint64_t vprod_default_events = 10000;
const unsigned int vprod_default_reps = 9;

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 15, 0)
struct vprod {
	struct iopf_ctx *ctx;
	struct kt_mock m;
	uint32_t viommu, vdev, nested;
};

int vprod_new(struct vprod **out, bool *skip)
{
	struct iopf_viommu_args va = {.size = sizeof(va),
				      .type = IOMMU_VIOMMU_TYPE_SELFTEST};
	struct iopf_hwpt_args na = {.size = sizeof(na)};
	struct vprod *p = calloc(1, sizeof(*p));
	uint64_t feat = 0;
	void *data;
	int rc;

	*skip = false;
	if (!p)
		return -ENOMEM;
	rc = iopf_ctx_open(NULL, &p->ctx);
	if (!rc)
		rc = iopf_ctx_probe(p->ctx, &feat);
	if (!rc && !(feat & IOPF_FEAT_VEVENTQ)) {
		*skip = true;
		rc = -ENOSYS;
	}
	if (!rc)
		rc = kt_mock_setup(&p->m, iopf_ctx_fd(p->ctx));
	if (!rc) {
		va.dev_id = p->m.idev_id;
		va.hwpt_id = p->m.parent_id;
		rc = iopf_viommu_alloc(p->ctx, &va, &p->viommu);
	}
	if (!rc)
		rc = iopf_vdevice_alloc(p->ctx, p->viommu, p->m.idev_id, 0x20,
					&p->vdev);
	if (!rc) {
		kt_nested_data(&data, &na.data_len, &na.data_type);
		na.data = data;
		na.dev_id = p->m.idev_id;
		na.pt_id = p->viommu;
		rc = iopf_hwpt_alloc(p->ctx, NULL, &na, &p->nested);
	}
	if (!rc)
		rc = kt_mock_domain_replace(p->m.fd, p->m.stdev_id, p->nested);
	if (rc) {
		vprod_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

void vprod_free(struct vprod *p)
{
	if (!p)
		return;
	if (p->nested) {
		kt_mock_domain_replace(p->m.fd, p->m.stdev_id, p->m.parent_id);
		iopf_destroy(p->ctx, p->nested);
	}
	if (p->vdev)
		iopf_destroy(p->ctx, p->vdev);
	if (p->viommu)
		iopf_destroy(p->ctx, p->viommu);
	if (p->m.fd > 0)
		kt_mock_teardown(&p->m);
	iopf_ctx_free(p->ctx);
	free(p);
}

struct iopf_ctx *vprod_ctx(struct vprod *p)
{
	return p->ctx;
}

uint32_t vprod_viommu(const struct vprod *p)
{
	return p->viommu;
}

uint32_t vprod_type(const struct vprod *p)
{
	(void)p;
	return IOMMU_VEVENTQ_TYPE_SELFTEST;
}

uint32_t vprod_payload(const struct vprod *p)
{
	(void)p;
	return sizeof(struct iommu_viommu_event_selftest);
}

int vprod_raise(struct vprod *p, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		int rc = kt_trigger_vevent(p->m.fd, p->m.idev_id);

		if (rc)
			return rc;
	}
	return 0;
}

int vprod_raw_new(struct vprod *p, uint32_t depth, struct prod_ep *ep,
		  uint32_t *id)
{
	struct iommu_veventq_alloc cmd = {
		.size = sizeof(cmd),
		.viommu_id = p->viommu,
		.type = IOMMU_VEVENTQ_TYPE_SELFTEST,
		.veventq_depth = depth,
	};

	if (ioctl(iopf_ctx_fd(p->ctx), IOMMU_VEVENTQ_ALLOC, &cmd))
		return -errno;
	*id = cmd.out_veventq_id;
	ep->fd = (int)cmd.out_veventq_fd;
	ep->poll_fd = ep->fd;
	ep->be = NULL;
	return 0;
}

void vprod_raw_free(struct vprod *p, struct prod_ep *ep, uint32_t id)
{
	close(ep->fd);
	iopf_destroy(p->ctx, id);
}
#else /* the headers of a kernel without vEVENTQs (6.12): the bench skips */
struct vprod {
	int none;
};

int vprod_new(struct vprod **out, bool *skip)
{
	*out = NULL;
	*skip = true;
	return -ENOSYS;
}

void vprod_free(struct vprod *p)
{
	(void)p;
}

struct iopf_ctx *vprod_ctx(struct vprod *p)
{
	(void)p;
	return NULL;
}

uint32_t vprod_viommu(const struct vprod *p)
{
	(void)p;
	return 0;
}

uint32_t vprod_type(const struct vprod *p)
{
	(void)p;
	return 0;
}

uint32_t vprod_payload(const struct vprod *p)
{
	(void)p;
	return 0;
}

int vprod_raise(struct vprod *p, uint64_t n)
{
	(void)p;
	(void)n;
	return -ENOSYS;
}

int vprod_raw_new(struct vprod *p, uint32_t depth, struct prod_ep *ep,
		  uint32_t *id)
{
	(void)p;
	(void)depth;
	(void)ep;
	(void)id;
	return -ENOSYS;
}

void vprod_raw_free(struct vprod *p, struct prod_ep *ep, uint32_t id)
{
	(void)p;
	(void)ep;
	(void)id;
}
#endif
