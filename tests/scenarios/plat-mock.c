/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libiopf/mock.h>

#include "plat.h"

const char plat_name[] = "mock";

struct plat {
	struct iopf_mock *mock;
	struct iopf_ctx *ctx;
	int kernel; /* IOPF_MOCK_KERNEL_*: 612, 613, 615 */
	uint32_t ioas;
	struct {
		uint32_t id, parent;
	} devs[PLAT_MAX_DEVS];
	unsigned int ndevs;
};

static const uint32_t stage1 = 0xbadbeef;

int plat_open(struct plat **out)
{
	struct plat *p = calloc(1, sizeof(*p));
	int rc;

	if (!p)
		return -ENOMEM;
	const char *k = getenv("IOPF_SCENARIO_KERNEL");
	struct iopf_mock_opts mo = { .size = sizeof(mo), .kernel = IOPF_MOCK_KERNEL_6_12 };

	if (k && !strcmp(k, "6.13"))
		mo.kernel = IOPF_MOCK_KERNEL_6_13;
	else if (k && !strcmp(k, "6.15"))
		mo.kernel = IOPF_MOCK_KERNEL_6_15;
	else if (k && strcmp(k, "6.12")) {
		free(p);
		return -EINVAL;
	}
	p->kernel = (int)mo.kernel;
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

int plat_dev_new(struct plat *p, uint32_t *dev_id)
{
	struct iopf_hwpt_args a = { .size = sizeof(a) };
	unsigned int i = p->ndevs;
	int rc;

	if (i == PLAT_MAX_DEVS)
		return -ENOSPC;
	rc = iopf_mock_dev_new(p->mock, &p->devs[i].id);
	if (rc)
		return rc;
	a.flags = IOPF_HWPT_ALLOC_NEST_PARENT;
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

	if (!n || n > 64)
		return -EINVAL;
	memset(f, 0, sizeof(f));
	for (unsigned int i = 0; i < n; i++) {
		f[i].addr = addr + 4096ull * i;
		f[i].perm = perm;
	}
	return iopf_mock_trigger(p->mock, dev_id, grpid, f, n, NULL);
}

bool plat_multi_record(struct plat *p)
{
	return true;
}

/* The mock delivers whole groups only (iopf_mock_trigger). */
int plat_partial(struct plat *p, uint32_t dev_id, uint32_t grpid, uint64_t addr,
		 uint32_t perm, unsigned int n)
{
	return -EOPNOTSUPP;
}

int plat_resp(struct plat *p, struct plat_resp *r)
{
	struct iopf_mock_stats st = { .size = sizeof(st) };
	int rc = iopf_mock_stats(p->mock, &st);

	if (rc)
		return rc;
	r->success = st.answered_success;
	r->invalid = st.answered_invalid + st.auto_detach + st.auto_teardown;
	r->other = 0;
	return 0;
}
