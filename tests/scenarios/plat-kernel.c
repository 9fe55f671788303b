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
	unsigned int ndevs;
};

int plat_open(struct plat **out, int kernel)
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
	*out = p;
	return 0;
}

void plat_close(struct plat *p)
{
	if (!p)
		return;
	for (unsigned int i = 0; i < p->ndevs; i++)
		kt_mock_teardown(&p->devs[i]);
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

int plat_dev_new(struct plat *p, uint32_t *dev_id)
{
	struct kt_mock *m;
	int rc;

	if (p->ndevs == PLAT_MAX_DEVS)
		return -ENOSPC;
	m = &p->devs[p->ndevs];
	rc = kt_mock_setup(m, iopf_ctx_fd(p->ctx));
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
	return 0;
}
