/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The mock's PASIDs, following Linux 7.3: a device with PASID support (the
 * selftest's MOCK_FLAGS_DEVICE_PASID, MOCK_PASID_WIDTH bits), its PASIDs
 * attached, replaced and detached as IOMMU_TEST_OP_PASID_ATTACH / _REPLACE /
 * _DETACH do (drivers/iommu/iommufd/device.c: iommufd_hw_pagetable_attach(),
 * iommufd_device_do_replace(), iommufd_hw_pagetable_detach(), and
 * iommufd_hwpt_pasid_compat()), and the IOMMU core's routing of a fault with
 * a PASID (io-pgfault.c: find_fault_handler()). From IOPF_MOCK_KERNEL_6_15,
 * when IOMMU_HWPT_ALLOC_PASID came.
 *
 * Where it differs from the kernel, on purpose:
 *  - PASID 0 is refused (EINVAL): in the kernel it is IOMMU_NO_PASID, the
 *    RID, which iopf_mock_dev_attach() attaches;
 *  - at most MOCK_DEV_PASIDS PASIDs of a device are attached at once
 *    (ENOSPC beyond);
 *  - an IOAS id is refused (EINVAL), as the kernel refuses a PASID attach to
 *    an IOAS's automatic domain (which has no ALLOC_PASID); the mock never
 *    makes automatic domains;
 *  - the driver's reserved PASID (IOMMU_TEST_PASID_RESERVED, whose every
 *    other attach fails with ENOMEM) is not modelled;
 *  - a group's PASID is its first record's: the mock delivers whole groups.
 */
#include <errno.h>

#include "mock-internal.h"

#define MOCK_PASID_BITS 20 /* the selftest's MOCK_PASID_WIDTH */

static struct mock_pasid_att *att_find(struct mock_dev *dev, uint32_t pasid)
{
	for (unsigned int i = 0; i < dev->npasids; i++)
		if (dev->pasids[i].pasid == pasid)
			return &dev->pasids[i];
	return NULL;
}

struct mock_hwpt *mock_pasid_route(struct mock_dev *dev,
				   const struct iopf_mock_fault *first,
				   uint32_t *att)
{
	struct mock_pasid_att *a;

	*att = 0;
	if (!(first->flags & IOMMU_PGFAULT_FLAGS_PASID_VALID))
		return dev->hwpt;
	a = att_find(dev, first->pasid);
	if (a) {
		*att = a->pasid;
		return a->hwpt;
	}
	/* The selftest driver has a user-managed PASID table
	 * (user_pasid_table): a PASID without an attachment of its own goes
	 * to the RID's nested domain, and to nothing if the RID's is not. */
	if (dev->hwpt && dev->hwpt->obj.type == MOCK_OBJ_HWPT_NESTED)
		return dev->hwpt;
	return NULL;
}

int mock_pasid_rid_check(const struct mock_dev *dev,
			 const struct mock_hwpt *hwpt)
{
	return dev->npasids && !hwpt->pasid_compat ? -EINVAL : 0;
}

IOPF_EXPORT int iopf_mock_dev_new_pasid(struct iopf_mock *m,
					uint32_t *out_dev_id)
{
	struct mock_dev *dev;
	int rc;

	if (!m || !out_dev_id)
		return -EINVAL;
	if (m->kernel < IOPF_MOCK_KERNEL_6_15)
		return -EOPNOTSUPP;
	rc = iopf_mock_dev_new(m, out_dev_id);
	if (rc)
		return rc;
	pthread_mutex_lock(&m->lock);
	dev = (struct mock_dev *)mock_obj_find(m, *out_dev_id, MOCK_OBJ_DEVICE);
	dev->pasid_cap = true;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

/* The device, the HWPT and the PASID of an attach or a replace, checked in
 * the kernel's order as far as the mock has them. */
static int pasid_args(struct iopf_mock *m, uint32_t dev_id, uint32_t pasid,
		      uint32_t hwpt_id, struct mock_dev **dev,
		      struct mock_hwpt **hwpt)
{
	struct mock_obj *pt;

	if (m->kernel < IOPF_MOCK_KERNEL_6_15)
		return -EOPNOTSUPP; /* no PASID ops in the selftest */
	*dev = (struct mock_dev *)mock_obj_find(m, dev_id, MOCK_OBJ_DEVICE);
	if (!*dev)
		return -ENOENT;
	pt = mock_obj_find(m, hwpt_id, 0);
	if (!pt)
		return -ENOENT;
	if (pt->type != MOCK_OBJ_HWPT_PAGING &&
	    pt->type != MOCK_OBJ_HWPT_NESTED)
		return -EINVAL;
	*hwpt = (struct mock_hwpt *)pt;
	if (!pasid)
		return -EINVAL;
	return 0;
}

/* iommufd_hwpt_pasid_compat() for a PASID, then the IOMMU core's
 * iommu_attach_device_pasid() checks. */
static int pasid_compat(const struct mock_dev *dev,
			const struct mock_hwpt *hwpt, uint32_t pasid)
{
	if (!hwpt->pasid_compat)
		return -EINVAL;
	if (dev->hwpt && !dev->hwpt->pasid_compat)
		return -EINVAL;
	if (!dev->pasid_cap || pasid >= 1u << MOCK_PASID_BITS)
		return -EINVAL;
	return 0;
}

IOPF_EXPORT int iopf_mock_pasid_attach(struct iopf_mock *m, uint32_t dev_id,
				       uint32_t pasid, uint32_t hwpt_id)
{
	struct mock_hwpt *hwpt;
	struct mock_dev *dev;
	int rc;

	if (!m)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	rc = pasid_args(m, dev_id, pasid, hwpt_id, &dev, &hwpt);
	if (rc)
		goto out;
	/* An attached PASID takes no second attach: REPLACE is for that. */
	if (att_find(dev, pasid)) {
		rc = -EBUSY;
		goto out;
	}
	rc = pasid_compat(dev, hwpt, pasid);
	if (rc)
		goto out;
	if (dev->npasids == MOCK_DEV_PASIDS) {
		rc = -ENOSPC;
		goto out;
	}
	dev->pasids[dev->npasids++] =
		(struct mock_pasid_att){.pasid = pasid, .hwpt = hwpt};
	hwpt->obj.users++;
out:
	pthread_mutex_unlock(&m->lock);
	return rc;
}

/* The groups pending under the attachment that ends, answered INVALID
 * (iommufd_auto_response_faults() with that attachment's handle). */
static void att_leave(struct iopf_mock *m, struct mock_dev *dev,
		      struct mock_hwpt *old, uint32_t pasid)
{
	old->obj.users--;
	if (old->fault)
		mock_fault_auto_answer(m, old->fault, dev, pasid,
				       IOPF_MOCK_GROUP_AUTO_DETACH);
}

IOPF_EXPORT int iopf_mock_pasid_replace(struct iopf_mock *m, uint32_t dev_id,
					uint32_t pasid, uint32_t hwpt_id)
{
	struct mock_pasid_att *a;
	struct mock_hwpt *hwpt, *old;
	struct mock_dev *dev;
	int rc;

	if (!m)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	rc = pasid_args(m, dev_id, pasid, hwpt_id, &dev, &hwpt);
	if (rc)
		goto out;
	a = att_find(dev, pasid);
	if (!a) {
		rc = -EINVAL; /* nothing to replace */
		goto out;
	}
	if (a->hwpt == hwpt)
		goto out; /* the same HWPT again changes nothing */
	rc = pasid_compat(dev, hwpt, pasid);
	if (rc)
		goto out;
	old = a->hwpt;
	a->hwpt = hwpt;
	hwpt->obj.users++;
	att_leave(m, dev, old, pasid);
out:
	pthread_mutex_unlock(&m->lock);
	return rc;
}

IOPF_EXPORT int iopf_mock_pasid_detach(struct iopf_mock *m, uint32_t dev_id,
				       uint32_t pasid)
{
	struct mock_pasid_att *a;
	struct mock_hwpt *old;
	struct mock_dev *dev;
	int rc = 0;

	if (!m)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	if (m->kernel < IOPF_MOCK_KERNEL_6_15) {
		rc = -EOPNOTSUPP;
		goto out;
	}
	dev = (struct mock_dev *)mock_obj_find(m, dev_id, MOCK_OBJ_DEVICE);
	if (!dev) {
		rc = -ENOENT;
		goto out;
	}
	/* A PASID that is not attached: nothing happens, and no error. */
	a = att_find(dev, pasid);
	if (!a)
		goto out;
	old = a->hwpt;
	*a = dev->pasids[--dev->npasids];
	att_leave(m, dev, old, pasid);
out:
	pthread_mutex_unlock(&m->lock);
	return rc;
}
