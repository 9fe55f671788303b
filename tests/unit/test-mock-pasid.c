/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The mock's PASIDs (lib/mock/mock-pasid.c) against Linux 7.3's rules
 * (drivers/iommu/iommufd/device.c, io-pgfault.c find_fault_handler(), the
 * selftest's PASID ops): every error of iopf_mock_dev_new_pasid(),
 * iopf_mock_pasid_attach(), _replace() and _detach(), the RID rule of
 * iopf_mock_dev_attach(), where a group with a PASID goes, and which groups a
 * detach or replace answers.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "mock/mock-internal.h"

/* ---- a device allocation that fails on demand ---------------------------- */

extern void *__libc_calloc(size_t n, size_t size);

static atomic_bool fail_dev;

/* Not under ASan (its own allocator) nor valgrind (which replaces this one):
 * there the ENOMEM test skips, see interposed(). */
#ifndef __SANITIZE_ADDRESS__
void *calloc(size_t n, size_t size)
{
	if (n == 1 && size == sizeof(struct mock_dev) &&
	    atomic_load(&fail_dev)) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_calloc(n, size);
}
#endif

static bool interposed(void)
{
	void *(*volatile alloc)(size_t, size_t) = calloc;
	void *p;

	atomic_store(&fail_dev, true);
	p = alloc(1, sizeof(struct mock_dev));
	atomic_store(&fail_dev, false);
	free(p);
	return p == NULL;
}

/* A PASID-capable device on a NEST_PARENT HWPT with ALLOC_PASID (parent). */
struct pdev {
	uint32_t dev, parent;
};

static uint32_t payload = FX_PAYLOAD;

static uint32_t hwpt_on(struct fx *f, uint32_t dev, uint32_t pt,
			unsigned int qi, uint32_t flags, bool nested)
{
	struct iopf_hwpt_args a = {
		.size = sizeof(a), .flags = flags, .dev_id = dev, .pt_id = pt};
	uint32_t out = 0;

	if (nested) {
		a.data_type = FX_DATA_SELFTEST;
		a.data_len = sizeof(payload);
		a.data = &payload;
	}
	assert_int_equal(iopf_hwpt_alloc(f->ctx,
					 qi < f->nq ? f->qs[qi].q : NULL, &a,
					 &out),
			 0);
	return out;
}

static void pdev_new(struct fx *f, struct pdev *p)
{
	assert_int_equal(iopf_mock_dev_new_pasid(f->m, &p->dev), 0);
	p->parent = hwpt_on(f, p->dev, f->ioas, ~0u,
			    IOPF_HWPT_ALLOC_NEST_PARENT | IOPF_HWPT_ALLOC_PASID,
			    false);
	assert_int_equal(iopf_mock_dev_attach(f->m, p->dev, p->parent), 0);
}

static void pdev_free(struct fx *f, struct pdev *p)
{
	assert_int_equal(iopf_mock_dev_detach(f->m, p->dev), 0);
	assert_int_equal(iopf_destroy(f->ctx, p->parent), 0);
}

static uint64_t trigger_pasid(struct fx *f, uint32_t dev, uint32_t pasid,
			      uint32_t grpid, int want)
{
	struct iopf_mock_fault rec = {.flags = IOPF_FAULT_PASID_VALID,
				      .pasid = pasid,
				      .perm = IOPF_PERM_READ,
				      .addr = 0x1000ull * grpid};
	uint64_t gid = 0;

	assert_int_equal(iopf_mock_trigger(f->m, dev, grpid, &rec, 1, &gid),
			 want);
	return gid;
}

static int state_of(struct fx *f, uint64_t gid)
{
	return (int)fx_ginfo(f, gid).state;
}

/* Before 6.15 there are no PASID HWPTs: every call says so. */
static void pasid_modes(void **state)
{
	struct fx *f = *state;
	uint32_t dev = 0;

	fx_init(f, &(struct fx_cfg){.kernel = IOPF_MOCK_KERNEL_6_13});
	fx_add_queue(f, NULL);
	assert_int_equal(iopf_mock_dev_new_pasid(f->m, &dev), -EOPNOTSUPP);
	assert_int_equal(dev, 0);
	assert_int_equal(
		iopf_mock_pasid_attach(f->m, f->qs[0].dev, 1, f->qs[0].hwpt),
		-EOPNOTSUPP);
	assert_int_equal(
		iopf_mock_pasid_replace(f->m, f->qs[0].dev, 1, f->qs[0].hwpt),
		-EOPNOTSUPP);
	assert_int_equal(iopf_mock_pasid_detach(f->m, f->qs[0].dev, 1),
			 -EOPNOTSUPP);
}

static void pasid_bad_args(void **state)
{
	struct fx *f = *state;
	struct pdev p;
	uint32_t h, plain;

	fx_init(f, &(struct fx_cfg){.kernel = IOPF_MOCK_KERNEL_7_3});
	fx_add_queue(f, NULL);
	assert_int_equal(iopf_mock_dev_new_pasid(NULL, &p.dev), -EINVAL);
	assert_int_equal(iopf_mock_dev_new_pasid(f->m, NULL), -EINVAL);
	pdev_new(f, &p);
	h = hwpt_on(f, p.dev, p.parent, 0, IOPF_HWPT_ALLOC_PASID, true);

	assert_int_equal(iopf_mock_pasid_attach(NULL, p.dev, 1, h), -EINVAL);
	assert_int_equal(iopf_mock_pasid_replace(NULL, p.dev, 1, h), -EINVAL);
	assert_int_equal(iopf_mock_pasid_detach(NULL, p.dev, 1), -EINVAL);
	assert_int_equal(iopf_mock_pasid_attach(f->m, 0x99999, 1, h), -ENOENT);
	assert_int_equal(iopf_mock_pasid_attach(f->m, p.dev, 1, 0x99999),
			 -ENOENT);
	assert_int_equal(iopf_mock_pasid_replace(f->m, p.dev, 1, 0x99999),
			 -ENOENT);
	assert_int_equal(iopf_mock_pasid_detach(f->m, 0x99999, 1), -ENOENT);
	/* An IOAS (the kernel's automatic domain has no ALLOC_PASID), a
	 * fault object: not a HWPT. */
	assert_int_equal(iopf_mock_pasid_attach(f->m, p.dev, 1, f->ioas),
			 -EINVAL);
	assert_int_equal(
		iopf_mock_pasid_attach(f->m, p.dev, 1, f->qs[0].fault_id),
		-EINVAL);
	/* PASID 0 is the RID; 20 bits at most. */
	assert_int_equal(iopf_mock_pasid_attach(f->m, p.dev, 0, h), -EINVAL);
	assert_int_equal(iopf_mock_pasid_attach(f->m, p.dev, 1u << 20, h),
			 -EINVAL);
	assert_int_equal(iopf_mock_pasid_attach(f->m, p.dev, (1u << 20) - 1, h),
			 0);
	assert_int_equal(iopf_mock_pasid_detach(f->m, p.dev, (1u << 20) - 1),
			 0);

	/* A HWPT without ALLOC_PASID takes no PASID. */
	plain = hwpt_on(f, p.dev, p.parent, 0, 0, true);
	assert_int_equal(iopf_mock_pasid_attach(f->m, p.dev, 1, plain),
			 -EINVAL);
	/* A device without PASID support neither. */
	assert_int_equal(iopf_mock_pasid_attach(f->m, f->qs[0].dev, 1, h),
			 -EINVAL);
	assert_int_equal(iopf_destroy(f->ctx, plain), 0);
	assert_int_equal(iopf_destroy(f->ctx, h), 0);
	pdev_free(f, &p);
}

/* The RID and its PASIDs: each side refuses the other's HWPT without
 * ALLOC_PASID; attach twice is EBUSY, replace wants an attached PASID. */
static void pasid_rules(void **state)
{
	struct fx *f = *state;
	struct pdev p;
	uint32_t h, h2, plain, ids[17];

	fx_init(f, &(struct fx_cfg){.kernel = IOPF_MOCK_KERNEL_7_3});
	fx_add_queue(f, NULL);
	pdev_new(f, &p);
	h = hwpt_on(f, p.dev, p.parent, 0, IOPF_HWPT_ALLOC_PASID, true);
	h2 = hwpt_on(f, p.dev, p.parent, 0, IOPF_HWPT_ALLOC_PASID, true);
	plain = hwpt_on(f, p.dev, p.parent, 0, 0, true);

	/* The RID on a HWPT without ALLOC_PASID: no PASID attaches. */
	assert_int_equal(iopf_mock_dev_attach(f->m, p.dev, plain), 0);
	assert_int_equal(iopf_mock_pasid_attach(f->m, p.dev, 5, h), -EINVAL);
	assert_int_equal(iopf_mock_dev_attach(f->m, p.dev, p.parent), 0);
	/* A RID not attached at all does not stand in the way. */
	assert_int_equal(iopf_mock_dev_detach(f->m, p.dev), 0);
	assert_int_equal(iopf_mock_pasid_attach(f->m, p.dev, 5, h), 0);
	assert_int_equal(iopf_mock_pasid_attach(f->m, p.dev, 5, h), -EBUSY);
	assert_int_equal(iopf_mock_pasid_attach(f->m, p.dev, 5, h2), -EBUSY);
	/* ... but then the RID takes only a HWPT with ALLOC_PASID. */
	assert_int_equal(iopf_mock_dev_attach(f->m, p.dev, plain), -EINVAL);
	assert_int_equal(iopf_mock_dev_attach(f->m, p.dev, p.parent), 0);
	/* An attached PASID holds its HWPT. */
	assert_int_equal(iopf_destroy(f->ctx, h), -EBUSY);

	assert_int_equal(iopf_mock_pasid_replace(f->m, p.dev, 6, h2), -EINVAL);
	assert_int_equal(iopf_mock_pasid_replace(f->m, p.dev, 5, plain),
			 -EINVAL);
	assert_int_equal(iopf_mock_pasid_replace(f->m, p.dev, 5, h), 0);
	assert_int_equal(iopf_mock_pasid_replace(f->m, p.dev, 5, h2), 0);
	assert_int_equal(iopf_destroy(f->ctx, h2), -EBUSY);
	assert_int_equal(iopf_destroy(f->ctx, h), 0);

	/* Detaching a PASID not attached: nothing, no error. */
	assert_int_equal(iopf_mock_pasid_detach(f->m, p.dev, 6), 0);
	assert_int_equal(iopf_mock_pasid_detach(f->m, p.dev, 5), 0);
	assert_int_equal(iopf_mock_pasid_detach(f->m, p.dev, 5), 0);
	assert_int_equal(iopf_mock_dev_attach(f->m, p.dev, plain), 0);
	assert_int_equal(iopf_mock_dev_attach(f->m, p.dev, p.parent), 0);

	/* Sixteen at once, the mock's limit. */
	for (uint32_t i = 0; i < 17; i++) {
		ids[i] = 100 + i;
		assert_int_equal(
			iopf_mock_pasid_attach(f->m, p.dev, ids[i], h2),
			i < 16 ? 0 : -ENOSPC);
	}
	for (uint32_t i = 0; i < 16; i++)
		assert_int_equal(iopf_mock_pasid_detach(f->m, p.dev, ids[i]),
				 0);
	assert_int_equal(iopf_destroy(f->ctx, h2), 0);
	assert_int_equal(iopf_destroy(f->ctx, plain), 0);
	pdev_free(f, &p);
}

/*
 * Where a group with a PASID goes: its PASID's HWPT; without an attachment
 * of its own, the RID's nested HWPT; nowhere when the RID's is a paging
 * one or the HWPT has no fault queue. A detach or a replace of one PASID
 * answers that PASID's groups only, also when two PASIDs share a HWPT.
 */
static void pasid_routes(void **state)
{
	struct fx *f = *state;
	struct iopf_group *gs[8];
	struct pdev p;
	uint32_t ha, hb, hnf, rid;
	uint64_t g1, g2, g3, g4, g5, stale = 0;

	fx_init(f, &(struct fx_cfg){.kernel = IOPF_MOCK_KERNEL_7_3});
	fx_add_queue(f, NULL);
	fx_add_queue(f, NULL);
	pdev_new(f, &p);
	ha = hwpt_on(f, p.dev, p.parent, 0, IOPF_HWPT_ALLOC_PASID, true);
	hb = hwpt_on(f, p.dev, p.parent, 1, IOPF_HWPT_ALLOC_PASID, true);
	hnf = hwpt_on(f, p.dev, p.parent, ~0u, IOPF_HWPT_ALLOC_PASID, true);
	rid = hwpt_on(f, p.dev, p.parent, 1, IOPF_HWPT_ALLOC_PASID, true);

	/* The RID on a paging HWPT: a PASID without attachment goes nowhere;
	 * nor does one on a HWPT without a fault queue. */
	trigger_pasid(f, p.dev, 7, 1, -ENODEV);
	assert_int_equal(iopf_mock_pasid_attach(f->m, p.dev, 9, hnf), 0);
	trigger_pasid(f, p.dev, 9, 1, -ENODEV);
	assert_int_equal(iopf_mock_pasid_detach(f->m, p.dev, 9), 0);

	assert_int_equal(iopf_mock_pasid_attach(f->m, p.dev, 1, ha), 0);
	assert_int_equal(iopf_mock_pasid_attach(f->m, p.dev, 2, ha), 0);
	assert_int_equal(iopf_mock_pasid_attach(f->m, p.dev, 3, hb), 0);
	g1 = trigger_pasid(f, p.dev, 1, 11, 0);
	g2 = trigger_pasid(f, p.dev, 2, 12, 0);
	g3 = trigger_pasid(f, p.dev, 3, 13, 0);
	assert_int_equal(fx_pull(f, gs, 3, 5000), 3);
	for (int i = 0; i < 3; i++) {
		const struct iopf_fault *r = iopf_group_fault(gs[i], 0);

		assert_true(r->flags & IOPF_FAULT_PASID_VALID);
		assert_int_equal(r->grpid, 10 + r->pasid);
		assert_ptr_equal(iopf_group_queue(gs[i]),
				 f->qs[r->pasid == 3 ? 1 : 0].q);
	}
	/* One more pending (unread) on each PASID of HWPT A. */
	g4 = trigger_pasid(f, p.dev, 1, 21, 0);
	g5 = trigger_pasid(f, p.dev, 2, 22, 0);
	assert_int_equal(iopf_mock_pasid_detach(f->m, p.dev, 1), 0);
	assert_int_equal(state_of(f, g1), IOPF_MOCK_GROUP_AUTO_DETACH);
	assert_int_equal(state_of(f, g4), IOPF_MOCK_GROUP_AUTO_DETACH);
	assert_int_equal(state_of(f, g2), IOPF_MOCK_GROUP_DELIVERED);
	assert_int_equal(state_of(f, g5), IOPF_MOCK_GROUP_PENDING);
	assert_int_equal(state_of(f, g3), IOPF_MOCK_GROUP_DELIVERED);
	/* A replace answers its PASID's groups (on the old HWPT). */
	assert_int_equal(iopf_mock_pasid_replace(f->m, p.dev, 3, ha), 0);
	assert_int_equal(state_of(f, g3), IOPF_MOCK_GROUP_AUTO_DETACH);
	assert_int_equal(state_of(f, g2), IOPF_MOCK_GROUP_DELIVERED);
	/* ... and its next group goes to the new one. */
	trigger_pasid(f, p.dev, 3, 14, 0);

	/* The RID on a nested HWPT: a PASID without attachment goes there
	 * (a user-managed PASID table), and the RID's detach answers it and
	 * nothing of the PASIDs'. */
	assert_int_equal(iopf_mock_dev_attach(f->m, p.dev, rid), 0);
	g1 = trigger_pasid(f, p.dev, 7, 15, 0);
	assert_int_equal(iopf_mock_dev_attach(f->m, p.dev, p.parent), 0);
	assert_int_equal(state_of(f, g1), IOPF_MOCK_GROUP_AUTO_DETACH);
	assert_int_equal(state_of(f, g5), IOPF_MOCK_GROUP_PENDING);

	/* The rest read and answered. The two old answers are refused: by
	 * the mock (EINVAL), or by the library at once (ESTALE) where the
	 * group's cookie went to one of the new groups already. */
	assert_int_equal(fx_pull(f, gs + 3, 2, 5000), 2);
	for (int i = 0, rc; i < 5; i++) {
		rc = iopf_group_respond(gs[i], IOPF_RESP_SUCCESS);
		assert_true(rc == 0 || rc == -ESTALE);
		stale += rc == -ESTALE;
	}
	assert_true(stale <= 2);
	assert_int_equal(fx_flush_until(f, 3, 5000), 3);
	/* The mock's books: the refused ones it saw were answered already. */
	f->expect_bad_duplicate = 2 - stale;
	assert_int_equal(state_of(f, g2), IOPF_MOCK_GROUP_ANSWERED);
	assert_int_equal(state_of(f, g5), IOPF_MOCK_GROUP_ANSWERED);
	assert_int_equal(state_of(f, g3), IOPF_MOCK_GROUP_AUTO_DETACH);
	assert_int_equal(iopf_mock_pasid_detach(f->m, p.dev, 2), 0);
	assert_int_equal(iopf_mock_pasid_detach(f->m, p.dev, 3), 0);
	assert_int_equal(iopf_destroy(f->ctx, ha), 0);
	assert_int_equal(iopf_destroy(f->ctx, hb), 0);
	assert_int_equal(iopf_destroy(f->ctx, hnf), 0);
	assert_int_equal(iopf_destroy(f->ctx, rid), 0);
	pdev_free(f, &p);
}

/* The device's allocation fails: nothing is made. */
static void pasid_dev_nomem(void **state)
{
	struct fx *f = *state;
	uint32_t dev = 0x4242;
	int rc;

	if (!interposed())
		skip();
	fx_init(f, &(struct fx_cfg){.kernel = IOPF_MOCK_KERNEL_7_3});
	atomic_store(&fail_dev, true);
	rc = iopf_mock_dev_new_pasid(f->m, &dev);
	atomic_store(&fail_dev, false);
	assert_int_equal(rc, -ENOMEM);
	assert_int_equal(dev, 0x4242);
	assert_int_equal(iopf_mock_dev_new_pasid(f->m, &dev), 0);
	assert_int_not_equal(dev, 0x4242);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		FX_BOTH(pasid_modes),	  FX_BOTH(pasid_bad_args),
		FX_BOTH(pasid_rules),	  FX_BOTH(pasid_routes),
		FX_BOTH(pasid_dev_nomem),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
