/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libiopf/mock.h>

#include "plat.h"

const char plat_name[] = "mock";

/* The groups triggered, by device, for plat_resp(). */
#define PLAT_MAX_GROUPS 65536

struct plat {
	struct iopf_mock *mock;
	int kernel;
	bool stock; /* as a stock kernel: one-record groups, no counts */
	unsigned int ngroups;
	struct {
		uint32_t dev;
		uint64_t id;
	} groups[PLAT_MAX_GROUPS];
	struct iopf_ctx *ctx;
	uint32_t ioas;
	struct {
		uint32_t id, parent;
	} devs[PLAT_MAX_DEVS];
	/* Requests no HWPT took, by device: answered INVALID at once. */
	uint64_t core_invalid[PLAT_MAX_DEVS];
	unsigned int ndevs;
};

static const uint32_t stage1 = 0xbadbeef;

int plat_open(struct plat **out, int kernel, bool stock)
{
	struct iopf_mock_opts mo = { .size = sizeof(mo), .kernel = (uint32_t)kernel };
	struct plat *p = calloc(1, sizeof(*p));
	int rc;

	if (!p)
		return -ENOMEM;
	p->kernel = kernel ? kernel : IOPF_MOCK_KERNEL_6_12;
	p->stock = stock;
	rc = iopf_mock_new(&mo, &p->mock);
	if (!rc)
		rc = iopf_mock_ctx_new(p->mock, &p->ctx);
	if (!rc)
		rc = iopf_ioas_alloc(p->ctx, &p->ioas);
	if (rc) {
		plat_close(p);
		return rc;
	}
	*out = p;
	return 0;
}

void plat_close(struct plat *p)
{
	if (!p)
		return;
	iopf_ctx_free(p->ctx);
	iopf_mock_free(p->mock);
	free(p);
}

int plat_kernel(struct plat *p)
{
	return p->kernel;
}

bool plat_multi_record(struct plat *p)
{
	return !p->stock;
}

struct iopf_ctx *plat_ctx(struct plat *p)
{
	return p->ctx;
}

static int find(struct plat *p, uint32_t dev_id)
{
	for (unsigned int i = 0; i < p->ndevs; i++)
		if (p->devs[i].id == dev_id)
			return (int)i;
	return -ENOENT;
}

static int dev_new(struct plat *p, uint32_t *dev_id, bool pasid)
{
	struct iopf_hwpt_args a = { .size = sizeof(a) };
	unsigned int i = p->ndevs;
	int rc;

	if (i == PLAT_MAX_DEVS)
		return -ENOSPC;
	if (pasid)
		rc = iopf_mock_dev_new_pasid(p->mock, &p->devs[i].id);
	else
		rc = iopf_mock_dev_new(p->mock, &p->devs[i].id);
	if (rc)
		return rc;
	a.flags = IOPF_HWPT_ALLOC_NEST_PARENT | (pasid ? IOPF_HWPT_ALLOC_PASID : 0);
	a.dev_id = p->devs[i].id;
	a.pt_id = p->ioas;
	rc = iopf_hwpt_alloc(p->ctx, NULL, &a, &p->devs[i].parent);
	if (rc)
		return rc;
	rc = iopf_mock_dev_attach(p->mock, p->devs[i].id, p->devs[i].parent);
	if (rc)
		return rc;
	p->ndevs++;
	*dev_id = p->devs[i].id;
	return 0;
}

int plat_dev_new(struct plat *p, uint32_t *dev_id)
{
	return dev_new(p, dev_id, false);
}

uint32_t plat_ioas(struct plat *p, uint32_t dev_id)
{
	return p->ioas;
}

int plat_nested_args(struct plat *p, uint32_t dev_id, struct iopf_hwpt_args *a)
{
	int i = find(p, dev_id);

	if (i < 0)
		return i;
	a->dev_id = dev_id;
	a->pt_id = p->devs[i].parent;
	a->data_type = 0xdead;
	a->data_len = sizeof(stage1);
	a->data = &stage1;
	return 0;
}

int plat_attach(struct plat *p, uint32_t dev_id, uint32_t hwpt_id)
{
	return iopf_mock_dev_attach(p->mock, dev_id, hwpt_id);
}

int plat_detach(struct plat *p, uint32_t dev_id)
{
	int i = find(p, dev_id);

	if (i < 0)
		return i;
	return iopf_mock_dev_attach(p->mock, dev_id, p->devs[i].parent);
}

int plat_fault(struct plat *p, uint32_t dev_id, uint32_t grpid, uint64_t addr,
	       uint32_t perm, unsigned int n)
{
	struct iopf_mock_fault f[64];
	int rc;

	if (!n || n > 64)
		return -EINVAL;
	if (n > 1 && p->stock)
		return -EOPNOTSUPP;
	memset(f, 0, sizeof(f));
	for (unsigned int i = 0; i < n; i++) {
		f[i].addr = addr + 4096ull * i;
		f[i].perm = perm;
	}
	if (p->ngroups == PLAT_MAX_GROUPS)
		return -ENOSPC;
	rc = iopf_mock_trigger(p->mock, dev_id, grpid, f, n, &p->groups[p->ngroups].id);
	if (rc)
		return rc;
	p->groups[p->ngroups++].dev = dev_id;
	return 0;
}

int plat_fault_pasid(struct plat *p, uint32_t dev_id, uint32_t pasid, uint32_t grpid,
		     uint64_t addr, uint32_t perm)
{
	struct iopf_mock_fault f = {
		.flags = IOPF_FAULT_PASID_VALID,
		.pasid = pasid,
		.perm = perm,
		.addr = addr,
	};
	int rc;

	if (p->ngroups == PLAT_MAX_GROUPS)
		return -ENOSPC;
	rc = iopf_mock_trigger(p->mock, dev_id, grpid, &f, 1, &p->groups[p->ngroups].id);
	/* ENODEV: no HWPT with a fault object for it, the group goes
	 * nowhere; the kernel's iommu core answers such a request INVALID
	 * at once (iopf_error_response()), which the device counts. */
	if (rc == -ENODEV) {
		p->core_invalid[find(p, dev_id) < 0 ? 0 : find(p, dev_id)]++;
		return 0;
	}
	if (rc)
		return rc;
	p->groups[p->ngroups++].dev = dev_id;
	return 0;
}

/* The mock's vIOMMU type is the kernel's selftest type. */
int plat_viommu_args(struct plat *p, uint32_t dev_id, struct iopf_viommu_args *a)
{
	int i = find(p, dev_id);

	if (i < 0)
		return i;
	a->dev_id = dev_id;
	a->hwpt_id = p->devs[i].parent;
	a->type = IOPF_MOCK_VIOMMU_TYPE_SELFTEST;
	return 0;
}

uint32_t plat_vevent_type(struct plat *p)
{
	(void)p;
	return IOPF_MOCK_VEVENTQ_TYPE_SELFTEST;
}

int plat_vevent(struct plat *p, uint32_t dev_id)
{
	return iopf_mock_vevent(p->mock, dev_id, IOPF_MOCK_VEVENTQ_TYPE_SELFTEST, NULL, 0, NULL);
}

/* The mock has no reserved PASID (the selftest's IOMMU_TEST_PASID_RESERVED
 * is not modelled). */
int plat_dev_new_pasid(struct plat *p, uint32_t *dev_id, uint32_t *reserved)
{
	*reserved = 0;
	return dev_new(p, dev_id, true);
}

int plat_pasid_attach(struct plat *p, uint32_t dev_id, uint32_t pasid, uint32_t hwpt_id)
{
	return iopf_mock_pasid_attach(p->mock, dev_id, pasid, hwpt_id);
}

int plat_pasid_replace(struct plat *p, uint32_t dev_id, uint32_t pasid, uint32_t hwpt_id)
{
	return iopf_mock_pasid_replace(p->mock, dev_id, pasid, hwpt_id);
}

int plat_pasid_detach(struct plat *p, uint32_t dev_id, uint32_t pasid)
{
	return iopf_mock_pasid_detach(p->mock, dev_id, pasid);
}

/* The mock delivers whole groups only: it has no partial ones. */
int plat_fault_partial(struct plat *p, uint32_t dev_id, uint32_t grpid, uint64_t addr,
		       unsigned int n)
{
	return -EOPNOTSUPP;
}

int plat_resp(struct plat *p, uint32_t dev_id, struct plat_resp *r)
{
	memset(r, 0, sizeof(*r));
	if (p->stock)
		return -EOPNOTSUPP;
	if (find(p, dev_id) >= 0) {
		r->invalid = r->total = p->core_invalid[find(p, dev_id)];
	}
	for (unsigned int i = 0; i < p->ngroups; i++) {
		struct iopf_mock_group_info gi = { .size = sizeof(gi) };
		int rc;

		if (p->groups[i].dev != dev_id)
			continue;
		rc = iopf_mock_group_info(p->mock, p->groups[i].id, &gi);
		if (rc)
			return rc;
		if (gi.state == IOPF_MOCK_GROUP_ANSWERED) {
			if (gi.code == IOPF_RESP_SUCCESS)
				r->success++;
			else if (gi.code == IOPF_RESP_INVALID)
				r->invalid++;
			else
				r->other++;
		} else if (gi.state == IOPF_MOCK_GROUP_AUTO_DETACH ||
			   gi.state == IOPF_MOCK_GROUP_AUTO_TEARDOWN) {
			r->invalid++;
		} else {
			continue;
		}
		r->total++;
	}
	return 0;
}
