/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* iopf-bench-vevent's producer on libiopf's mock kernel (see vproducer.h). */
#include <errno.h>
#include <stdlib.h>

#include <libiopf/mock.h>

#include "internal.h"
#include "uapi/iommufd.h"

#include "vproducer.h"

const char vprod_note[] =
	"libiopf's mock kernel in its 7.3 mode (iopf_mock_vevent, ARM SMMUv3 "
	"records of 32 bytes); hand-written loops call the mock's read hooks "
	"around their read(2) exactly as the library does";
/* A rep of the raw loop lasts about 7 ms, not 1.7: at 100000 events and 15
 * reps three runs on one host gave the library 0.91x, 0.93x and 0.95x of it,
 * at 400000 and 25 0.93x, 0.92x and 0.93x (about 17 s, most of it the
 * one-event-per-read loop). */
const uint64_t vprod_default_events = 400000;
const unsigned int vprod_default_reps = 25;

struct vprod {
	struct iopf_mock *m;
	struct iopf_ctx *ctx;
	uint32_t dev, ioas, parent, viommu, vdev, nested;
};

static const uint32_t stage1 = 0xbadbeef;

int vprod_new(struct vprod **out, bool *skip)
{
	struct iopf_mock_opts mo = {.size = sizeof(mo),
				    .kernel = IOPF_MOCK_KERNEL_7_3};
	struct iopf_hwpt_args pa = {.size = sizeof(pa),
				    .flags = IOPF_HWPT_ALLOC_NEST_PARENT};
	struct iopf_hwpt_args na = {.size = sizeof(na),
				    .data_type = 0xdead,
				    .data_len = sizeof(stage1),
				    .data = &stage1};
	struct iopf_viommu_args va = {.size = sizeof(va),
				      .type = IOPF_MOCK_VIOMMU_TYPE_SELFTEST};
	struct vprod *p = calloc(1, sizeof(*p));
	int rc;

	*skip = false;
	if (!p)
		return -ENOMEM;
	rc = iopf_mock_new(&mo, &p->m);
	if (!rc)
		rc = iopf_mock_ctx_new(p->m, &p->ctx);
	if (!rc)
		rc = iopf_mock_dev_new(p->m, &p->dev);
	if (!rc)
		rc = iopf_ioas_alloc(p->ctx, &p->ioas);
	if (!rc) {
		pa.dev_id = va.dev_id = na.dev_id = p->dev;
		pa.pt_id = p->ioas;
		rc = iopf_hwpt_alloc(p->ctx, NULL, &pa, &p->parent);
	}
	if (!rc) {
		va.hwpt_id = p->parent;
		rc = iopf_viommu_alloc(p->ctx, &va, &p->viommu);
	}
	if (!rc)
		rc = iopf_vdevice_alloc(p->ctx, p->viommu, p->dev, 0x20,
					&p->vdev);
	if (!rc) {
		na.pt_id = p->viommu;
		rc = iopf_hwpt_alloc(p->ctx, NULL, &na, &p->nested);
	}
	if (!rc)
		rc = iopf_mock_dev_attach(p->m, p->dev, p->nested);
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
		iopf_mock_dev_detach(p->m, p->dev);
		iopf_destroy(p->ctx, p->nested);
	}
	if (p->vdev)
		iopf_destroy(p->ctx, p->vdev);
	if (p->viommu)
		iopf_destroy(p->ctx, p->viommu);
	if (p->parent)
		iopf_destroy(p->ctx, p->parent);
	if (p->ioas)
		iopf_destroy(p->ctx, p->ioas);
	iopf_ctx_free(p->ctx);
	iopf_mock_free(p->m);
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
	return IOMMU_VEVENTQ_TYPE_ARM_SMMUV3;
}

uint32_t vprod_payload(const struct vprod *p)
{
	(void)p;
	return sizeof(struct iommu_vevent_arm_smmuv3);
}

int vprod_raise(struct vprod *p, uint64_t n)
{
	struct iommu_vevent_arm_smmuv3 ev = {.evt = {0x10, 0, 0, 0}};

	for (uint64_t i = 0; i < n; i++) {
		int rc;

		ev.evt[2] = 0x100000000ull + (i << 12);
		rc = iopf_mock_vevent(p->m, p->dev,
				      IOMMU_VEVENTQ_TYPE_ARM_SMMUV3, &ev,
				      sizeof(ev), NULL);
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
		.type = IOMMU_VEVENTQ_TYPE_ARM_SMMUV3,
		.veventq_depth = depth,
	};
	int rc = ctx_ioctl(p->ctx, IOMMU_VEVENTQ_ALLOC, &cmd);

	if (rc)
		return rc;
	*id = cmd.out_veventq_id;
	ep->fd = (int)cmd.out_veventq_fd;
	ep->be = p->ctx;
	ep->poll_fd = p->ctx->ops->poll_fd(p->ctx->be, ep->fd);
	if (ep->poll_fd < 0) {
		rc = ep->poll_fd;
		vprod_raw_free(p, ep, *id);
		return rc;
	}
	return 0;
}

void vprod_raw_free(struct vprod *p, struct prod_ep *ep, uint32_t id)
{
	p->ctx->ops->fault_close(p->ctx->be, ep->fd);
	iopf_destroy(p->ctx, id);
}
