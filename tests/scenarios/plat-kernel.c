/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Linux with CONFIG_IOMMUFD_TEST: the kernel's mock IOMMU, through kt-helper
 * (built against the test kernel's own iommufd_test.h). */
#include <errno.h>
#include <stdlib.h>

#include "kt-helper.h"
#include "plat.h"

const char plat_name[] = "kernel";

struct plat {
	struct iopf_ctx *ctx;
	int kernel, patched;
	struct kt_mock devs[PLAT_MAX_DEVS];
	/* The PASIDs attached per device, detached before its teardown. */
	struct {
		uint32_t pasid[8];
		unsigned int n;
	} pasids[PLAT_MAX_DEVS];
	unsigned int ndevs;
};

int plat_open(struct plat **out, int kernel, bool stock)
{
	struct plat *p = calloc(1, sizeof(*p));
	int rc;

	if (!p)
		return -ENOMEM;
	rc = iopf_ctx_open(NULL, &p->ctx);
	if (rc) {
		free(p);
		return rc;
	}
	p->kernel = kernel ? kernel : kt_kernel_version();
	p->patched = kt_patched(iopf_ctx_fd(p->ctx));
	if (p->kernel < 0 || p->patched < 0) {
		rc = p->kernel < 0 ? p->kernel : p->patched;
		plat_close(p);
		return rc;
	}
	if (stock)
		p->patched = 0; /* the stock kernel's path: TRIGGER_IOPF only */
	*out = p;
	return 0;
}

void plat_close(struct plat *p)
{
	if (!p)
		return;
	for (unsigned int i = 0; i < p->ndevs; i++) {
		for (unsigned int j = 0; j < p->pasids[i].n; j++)
			kt_pasid_detach(p->devs[i].fd, p->devs[i].stdev_id, p->pasids[i].pasid[j]);
		kt_mock_teardown(&p->devs[i]);
	}
	iopf_ctx_free(p->ctx);
	free(p);
}

int plat_kernel(struct plat *p)
{
	return p->kernel;
}

bool plat_multi_record(struct plat *p)
{
	return p->patched == 1;
}

struct iopf_ctx *plat_ctx(struct plat *p)
{
	return p->ctx;
}

static struct kt_mock *find(struct plat *p, uint32_t dev_id)
{
	for (unsigned int i = 0; i < p->ndevs; i++)
		if (p->devs[i].idev_id == dev_id)
			return &p->devs[i];
	return NULL;
}

static int dev_new(struct plat *p, uint32_t *dev_id, uint32_t dev_flags, uint32_t parent_flags)
{
	struct kt_mock *m;
	int rc;

	if (p->ndevs == PLAT_MAX_DEVS)
		return -ENOSPC;
	m = &p->devs[p->ndevs];
	p->pasids[p->ndevs].n = 0;
	rc = kt_mock_setup_flags(m, iopf_ctx_fd(p->ctx), dev_flags, parent_flags);
	if (rc)
		return rc;
	rc = kt_mock_domain_replace(m->fd, m->stdev_id, m->parent_id);
	if (rc) {
		kt_mock_teardown(m);
		return rc;
	}
	p->ndevs++;
	*dev_id = m->idev_id;
	return 0;
}

int plat_dev_new(struct plat *p, uint32_t *dev_id)
{
	return dev_new(p, dev_id, 0, 0);
}

/* The selftest device with PASID support; its parent is PASID-compatible
 * (IOMMU_HWPT_ALLOC_PASID, the kernel's flag of the same value), which the RID's
 * HWPT must be while a PASID is attached. */
int plat_dev_new_pasid(struct plat *p, uint32_t *dev_id, uint32_t *reserved)
{
	uint32_t flags;
	int rc = kt_mock_flags_pasid(&flags, reserved);

	if (rc)
		return rc;
	return dev_new(p, dev_id, flags, IOPF_HWPT_ALLOC_PASID);
}

static int dev_index(struct plat *p, uint32_t dev_id)
{
	struct kt_mock *m = find(p, dev_id);

	return m ? (int)(m - p->devs) : -ENOENT;
}

int plat_pasid_attach(struct plat *p, uint32_t dev_id, uint32_t pasid, uint32_t hwpt_id)
{
	int i = dev_index(p, dev_id), rc;

	if (i < 0)
		return i;
	if (p->pasids[i].n == sizeof(p->pasids[i].pasid) / sizeof(p->pasids[i].pasid[0]))
		return -ENOSPC;
	rc = kt_pasid_attach(p->devs[i].fd, p->devs[i].stdev_id, pasid, hwpt_id);
	if (!rc)
		p->pasids[i].pasid[p->pasids[i].n++] = pasid;
	return rc;
}

int plat_pasid_replace(struct plat *p, uint32_t dev_id, uint32_t pasid, uint32_t hwpt_id)
{
	int i = dev_index(p, dev_id);

	if (i < 0)
		return i;
	return kt_pasid_replace(p->devs[i].fd, p->devs[i].stdev_id, pasid, hwpt_id);
}

int plat_pasid_detach(struct plat *p, uint32_t dev_id, uint32_t pasid)
{
	int i = dev_index(p, dev_id), rc;

	if (i < 0)
		return i;
	rc = kt_pasid_detach(p->devs[i].fd, p->devs[i].stdev_id, pasid);
	for (unsigned int j = 0; !rc && j < p->pasids[i].n; j++)
		if (p->pasids[i].pasid[j] == pasid)
			p->pasids[i].pasid[j--] = p->pasids[i].pasid[--p->pasids[i].n];
	return rc;
}

int plat_viommu_args(struct plat *p, uint32_t dev_id, struct iopf_viommu_args *a)
{
	struct kt_mock *m = find(p, dev_id);

	if (!m)
		return -ENOENT;
	a->dev_id = dev_id;
	a->hwpt_id = m->parent_id;
	return kt_viommu_type(&a->type);
}

uint32_t plat_vevent_type(struct plat *p)
{
	(void)p;
	return 0xbeefbeefu; /* IOMMU_VEVENTQ_TYPE_SELFTEST of iommufd_test.h (6.15+) */
}

int plat_vevent(struct plat *p, uint32_t dev_id)
{
	return kt_trigger_vevent(iopf_ctx_fd(p->ctx), dev_id);
}

int plat_fault_pasid(struct plat *p, uint32_t dev_id, uint32_t pasid, uint32_t grpid,
		     uint64_t addr, uint32_t perm)
{
	int fd = iopf_ctx_fd(p->ctx);

	if (!p->patched)
		return kt_trigger_iopf(fd, dev_id, pasid, grpid, perm, addr);
	return kt_trigger_iopf_flags(fd, dev_id, pasid, grpid, perm, addr, 1);
}

uint32_t plat_ioas(struct plat *p, uint32_t dev_id)
{
	struct kt_mock *m = find(p, dev_id);

	return m ? m->ioas_id : 0;
}

int plat_nested_args(struct plat *p, uint32_t dev_id, struct iopf_hwpt_args *a)
{
	struct kt_mock *m = find(p, dev_id);
	void *data;

	if (!m)
		return -ENOENT;
	kt_nested_data(&data, &a->data_len, &a->data_type);
	a->data = data;
	a->dev_id = dev_id;
	a->pt_id = m->parent_id;
	return 0;
}

int plat_attach(struct plat *p, uint32_t dev_id, uint32_t hwpt_id)
{
	struct kt_mock *m = find(p, dev_id);

	return m ? kt_mock_domain_replace(m->fd, m->stdev_id, hwpt_id) : -ENOENT;
}

int plat_detach(struct plat *p, uint32_t dev_id)
{
	struct kt_mock *m = find(p, dev_id);

	return m ? kt_mock_domain_replace(m->fd, m->stdev_id, m->parent_id) : -ENOENT;
}

int plat_fault(struct plat *p, uint32_t dev_id, uint32_t grpid, uint64_t addr,
	       uint32_t perm, unsigned int n)
{
	int fd = iopf_ctx_fd(p->ctx), rc = 0;

	if (n == 1 && !p->patched)
		return kt_trigger_iopf(fd, dev_id, 0, grpid, perm, addr);
	if (!p->patched)
		return -EOPNOTSUPP;
	for (unsigned int i = 0; i < n && !rc; i++)
		rc = kt_trigger_iopf_flags(fd, dev_id, 0, grpid, perm, addr + 4096ull * i,
					   i + 1 == n);
	return rc;
}

int plat_fault_partial(struct plat *p, uint32_t dev_id, uint32_t grpid, uint64_t addr,
		       unsigned int n)
{
	int rc = 0;

	if (!p->patched)
		return -EOPNOTSUPP;
	for (unsigned int i = 0; i < n && !rc; i++)
		rc = kt_trigger_iopf_flags(iopf_ctx_fd(p->ctx), dev_id, 0, grpid,
					   IOPF_PERM_READ, addr + 4096ull * i, 0);
	return rc;
}

int plat_resp(struct plat *p, uint32_t dev_id, struct plat_resp *r)
{
	struct kt_resp_stats st;
	int rc;

	if (!p->patched)
		return -EOPNOTSUPP;
	rc = kt_resp_stats(iopf_ctx_fd(p->ctx), dev_id, &st, 0);
	if (rc)
		return rc;
	r->success = st.success;
	r->invalid = st.invalid;
	r->other = st.failure;
	r->total = st.total;
	r->last = true;
	r->last_grpid = st.last_grpid;
	r->last_pasid = st.last_pasid;
	r->last_code = st.last_code;
	return 0;
}
