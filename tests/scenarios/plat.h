/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One list of scenarios, two platforms: the library's mock kernel
 * (plat-mock.c, suite 'unit', in its 6.12 or 7.3 mode) and Linux 6.12 or 7.3
 * with the kernel's own mock IOMMU (plat-kernel.c, the real-kernel tier). The scenarios use the public API
 * only; the platform only makes devices, attaches them and makes them fault,
 * which a VMM's real device and VFIO would do.
 */
#ifndef SCENARIO_PLAT_H
#define SCENARIO_PLAT_H

#include <stdbool.h>
#include <stdint.h>

#include <libiopf.h>

#define PLAT_MAX_DEVS 16

struct plat;

extern const char plat_name[]; /* "mock" or "kernel" */

/*
 * @kernel: the kernel whose behaviour the scenarios expect, as major * 100 +
 * minor (612, 703), 0 for the default: on the mock, the mode it emulates (0:
 * 6.12); on the kernel, 0 is the running kernel's version (uname), and any
 * other value is taken as given, so that an expectation set for another
 * kernel fails there.
 * @stock: behave as on a stock kernel, whose selftest driver has none of
 * libiopf's test patches (kt_patched() == 0): one-record groups only, no
 * partial groups, no response counts. The patched kernel's ops are then not
 * used (on the kernel) or not offered (on the mock).
 */
int plat_open(struct plat **out, int kernel, bool stock);
/* The version the scenarios derive their expectations from. */
int plat_kernel(struct plat *p);
/* Multi-record groups, partial groups and response counts: the mock, and
 * the kernel with libiopf's test patches (kt_patched()). */
bool plat_multi_record(struct plat *p);
void plat_close(struct plat *p);
struct iopf_ctx *plat_ctx(struct plat *p);
/* A device with an IOAS and a NEST_PARENT HWPT of its own. */
int plat_dev_new(struct plat *p, uint32_t *dev_id);
uint32_t plat_ioas(struct plat *p, uint32_t dev_id);
/* The nested HWPT arguments for dev (parent and driver data). */
int plat_nested_args(struct plat *p, uint32_t dev_id, struct iopf_hwpt_args *a);
/* Attach dev to hwpt; detach puts it back on its parent, which makes the
 * kernel answer INVALID what is pending for it. */
int plat_attach(struct plat *p, uint32_t dev_id, uint32_t hwpt_id);
int plat_detach(struct plat *p, uint32_t dev_id);
/* One group of n records (n > 1 only where plat_multi_record). */
int plat_fault(struct plat *p, uint32_t dev_id, uint32_t grpid, uint64_t addr,
	       uint32_t perm, unsigned int n);
/* n records of a group whose last record never comes (the kernel holds them
 * and drops them at detach, unanswered): the patched kernel only. */
int plat_fault_partial(struct plat *p, uint32_t dev_id, uint32_t grpid,
		       uint64_t addr, unsigned int n);

/* One record of PASID @pasid (PASID_VALID, LAST_PAGE): a one-record group. */
int plat_fault_pasid(struct plat *p, uint32_t dev_id, uint32_t pasid, uint32_t grpid,
		     uint64_t addr, uint32_t perm);

/*
 * vIOMMU arguments for dev: its NEST_PARENT HWPT and the platform's vIOMMU
 * type (the kernel's selftest type). -EOPNOTSUPP: the kernel's headers have
 * no vIOMMU type (6.12); dev_id and hwpt_id are filled anyway, the type is 0.
 */
int plat_viommu_args(struct plat *p, uint32_t dev_id, struct iopf_viommu_args *a);

/*
 * vIOMMU events: the platform's vEVENTQ type (the kernel selftest driver's,
 * whose payload is the device's u32 virt_id) and one event of it raised for
 * dev, which must sit on a nested HWPT on a vIOMMU where it has a vDEVICE
 * (the mock: iopf_mock_vevent; the kernel: IOMMU_TEST_OP_TRIGGER_VEVENT).
 */
uint32_t plat_vevent_type(struct plat *p);
int plat_vevent(struct plat *p, uint32_t dev_id);

/*
 * PASIDs. plat_dev_new_pasid: a device with PASID support whose own HWPT (its
 * parent, where plat_detach puts it) is PASID-compatible; *reserved is a
 * PASID the platform fails on purpose (to avoid), 0 if none. The other three
 * attach, replace and detach one PASID of it. -EOPNOTSUPP where the platform
 * cannot (the kernel's headers have no PASID ops, the mock attaches RIDs only).
 */
int plat_dev_new_pasid(struct plat *p, uint32_t *dev_id, uint32_t *reserved);
int plat_pasid_attach(struct plat *p, uint32_t dev_id, uint32_t pasid, uint32_t hwpt_id);
int plat_pasid_replace(struct plat *p, uint32_t dev_id, uint32_t pasid, uint32_t hwpt_id);
int plat_pasid_detach(struct plat *p, uint32_t dev_id, uint32_t pasid);

/* The page responses device dev_id saw (the kernel's counts, or on the mock
 * the sum over the groups it was triggered with); last: the last response's
 * grpid, pasid and code are known (the kernel's), valid once total > 0. */
struct plat_resp {
	uint64_t success, invalid, other, total;
	bool last;
	uint32_t last_grpid, last_pasid, last_code;
};
int plat_resp(struct plat *p, uint32_t dev_id, struct plat_resp *r);

#endif
