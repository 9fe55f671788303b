/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libiopf/mock.h>

#include "source.h"

/* The mock makes groups of any size; the examples need no more than this. */
#define MOCK_MAX_GROUP 64

struct source {
	struct iopf_ctx *ctx;
	struct iopf_mock *mock;
	struct kernel_source *k;
	uint32_t dev_id, ioas_id, parent_id, nested_id;
	uint32_t viommu_id, vdev_id;
};

/* <linux/iommufd.h>'s IOMMU_VEVENTQ_TYPE_ARM_SMMUV3, and the kernel selftest
 * driver's vIOMMU and vEVENTQ types (iommufd_test.h), which the mock follows.
 */
#define VEVENTQ_TYPE_ARM_SMMUV3 1u
#define VIOMMU_TYPE_SELFTEST	0xdeadbeefu
#define VEVENTQ_TYPE_SELFTEST	0xbeefbeefu

/* The driver data of a nested HWPT: for a real VMM, the guest's stage-1
 * table pointer in the format of the IOMMU (e.g. VT-d's). The mock accepts
 * any type with a payload. */
static const uint32_t mock_stage1 = 0xbadbeef;

int source_open(const char *backend, struct source **out)
{
	struct iopf_hwpt_args parent = {.size = sizeof(parent)};
	struct source *s;
	int rc;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	if (!strcmp(backend, "kernel")) {
		rc = kernel_source_open(&s->ctx, &s->k);
		if (rc) {
			free(s);
			return rc;
		}
		s->dev_id = kernel_source_dev_id(s->k);
		*out = s;
		return 0;
	}
	if (strcmp(backend, "mock")) {
		free(s);
		return -EINVAL;
	}
	/* Linux 7.3's rules: vIOMMUs and vEVENTQs too. */
	rc = iopf_mock_new(
		&(struct iopf_mock_opts){.size = sizeof(struct iopf_mock_opts),
					 .kernel = IOPF_MOCK_KERNEL_7_3},
		&s->mock);
	if (!rc)
		rc = iopf_mock_ctx_new(s->mock, &s->ctx);
	if (!rc)
		rc = iopf_mock_dev_new(s->mock, &s->dev_id);
	if (!rc)
		rc = iopf_ioas_alloc(s->ctx, &s->ioas_id);
	if (!rc) {
		parent.flags = IOPF_HWPT_ALLOC_NEST_PARENT;
		parent.dev_id = s->dev_id;
		parent.pt_id = s->ioas_id;
		rc = iopf_hwpt_alloc(s->ctx, NULL, &parent, &s->parent_id);
	}
	if (rc) {
		source_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

struct iopf_ctx *source_ctx(struct source *s)
{
	return s->ctx;
}

unsigned int source_max_group(const struct source *s)
{
	return s->k ? 1 : MOCK_MAX_GROUP;
}

uint32_t source_dev_id(struct source *s)
{
	return s->dev_id;
}

int source_attach(struct source *s, struct iopf_queue *q)
{
	struct iopf_hwpt_args a = {.size = sizeof(a)};
	int rc;

	if (s->k) {
		rc = kernel_source_nested_args(s->k, &a);
	} else {
		a.dev_id = s->dev_id;
		a.pt_id = s->parent_id;
		a.data_type = 0xdead;
		a.data_len = sizeof(mock_stage1);
		a.data = &mock_stage1;
		rc = 0;
	}
	if (!rc)
		rc = iopf_hwpt_alloc(s->ctx, q, &a, &s->nested_id);
	if (rc)
		return rc;
	rc = s->k ? kernel_source_attach(s->k, s->nested_id)
		  : iopf_mock_dev_attach(s->mock, s->dev_id, s->nested_id);
	if (rc) {
		iopf_destroy(s->ctx, s->nested_id);
		s->nested_id = 0;
	}
	return rc;
}

int source_fault(struct source *s, uint32_t grpid, uint64_t addr, uint32_t perm,
		 unsigned int nrec)
{
	struct iopf_mock_fault f[MOCK_MAX_GROUP];

	if (!nrec || nrec > source_max_group(s))
		return -EINVAL;
	if (s->k)
		return kernel_source_fault(s->k, grpid, addr, perm);
	memset(f, 0, sizeof(f));
	for (unsigned int i = 0; i < nrec; i++) {
		f[i].addr = addr + 4096ull * i;
		f[i].perm = perm;
	}
	return iopf_mock_trigger(s->mock, s->dev_id, grpid, f, nrec, NULL);
}

int source_detach(struct source *s)
{
	int rc;

	if (!s->nested_id)
		return 0;
	rc = s->k ? kernel_source_detach(s->k)
		  : iopf_mock_dev_detach(s->mock, s->dev_id);
	if (!rc)
		rc = iopf_destroy(s->ctx, s->nested_id);
	s->nested_id = 0;
	return rc;
}

int source_viommu(struct source *s, uint64_t virt_id, uint32_t *viommu_id)
{
	struct iopf_viommu_args va = {.size = sizeof(va),
				      .type = VIOMMU_TYPE_SELFTEST,
				      .dev_id = s->dev_id};
	int rc;

	va.hwpt_id = s->k ? kernel_source_parent_id(s->k) : s->parent_id;
	rc = iopf_viommu_alloc(s->ctx, &va, &s->viommu_id);
	if (rc)
		return rc;
	rc = iopf_vdevice_alloc(s->ctx, s->viommu_id, s->dev_id, virt_id,
				&s->vdev_id);
	if (rc) {
		iopf_destroy(s->ctx, s->viommu_id);
		s->viommu_id = 0;
		return rc;
	}
	*viommu_id = s->viommu_id;
	return 0;
}

int source_viommu_attach(struct source *s, struct iopf_queue *q)
{
	struct iopf_hwpt_args a = {.size = sizeof(a)};
	int rc = 0;

	if (s->k) {
		rc = kernel_source_nested_args(s->k, &a);
	} else {
		a.dev_id = s->dev_id;
		a.data_type = 0xdead;
		a.data_len = sizeof(mock_stage1);
		a.data = &mock_stage1;
	}
	a.pt_id = s->viommu_id;
	if (!rc)
		rc = iopf_hwpt_alloc(s->ctx, q, &a, &s->nested_id);
	if (rc)
		return rc;
	rc = s->k ? kernel_source_attach(s->k, s->nested_id)
		  : iopf_mock_dev_attach(s->mock, s->dev_id, s->nested_id);
	if (rc) {
		iopf_destroy(s->ctx, s->nested_id);
		s->nested_id = 0;
	}
	return rc;
}

uint32_t source_vevent_type(const struct source *s)
{
	return s->k ? VEVENTQ_TYPE_SELFTEST : VEVENTQ_TYPE_ARM_SMMUV3;
}

int source_vevent(struct source *s, const void *data, uint32_t len)
{
	if (s->k)
		return kernel_source_vevent(s->k);
	return iopf_mock_vevent(s->mock, s->dev_id, VEVENTQ_TYPE_ARM_SMMUV3,
				data, len, NULL);
}

void source_close(struct source *s)
{
	if (!s)
		return;
	source_detach(s);
	/* A VMM's order: vDEVICE, then vIOMMU (its vEVENTQ is the caller's,
	 * and must be freed before). */
	if (s->vdev_id)
		iopf_destroy(s->ctx, s->vdev_id);
	if (s->viommu_id)
		iopf_destroy(s->ctx, s->viommu_id);
	if (s->k) {
		kernel_source_close(s->k);
	} else {
		if (s->parent_id)
			iopf_destroy(s->ctx, s->parent_id);
		if (s->ioas_id)
			iopf_destroy(s->ctx, s->ioas_id);
		iopf_mock_free(s->mock);
	}
	iopf_ctx_free(s->ctx);
	free(s);
}

int example_fault_str(char *buf, size_t len, const struct iopf_fault *f)
{
	char pasid[16] = "-";

	if (f->flags & IOPF_FAULT_PASID_VALID)
		snprintf(pasid, sizeof(pasid), "%u", f->pasid);
	return snprintf(buf, len,
			"dev %u pasid %s grp %u addr 0x%016" PRIx64
			" perm %c%c%c%c cookie %u",
			f->dev_id, pasid, f->grpid, f->addr,
			f->perm & IOPF_PERM_READ ? 'r' : '-',
			f->perm & IOPF_PERM_WRITE ? 'w' : '-',
			f->perm & IOPF_PERM_EXEC ? 'x' : '-',
			f->perm & IOPF_PERM_PRIV ? 'p' : '-', f->cookie);
}

void example_bad_arg(const char *prog, const struct option *longopts, int opt,
		     const char *arg)
{
	if (opt == '?') /* getopt_long() said what it did not know */
		return;
	if (opt == -1) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", prog, arg);
		return;
	}
	for (const struct option *o = longopts; o->name; o++) {
		if (o->val == opt) {
			fprintf(stderr, "%s: bad value for --%s: '%s'\n", prog,
				o->name, arg ? arg : "");
			return;
		}
	}
	fprintf(stderr, "%s: bad argument\n", prog);
}
