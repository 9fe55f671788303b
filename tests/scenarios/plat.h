/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One list of scenarios, two platforms: the library's mock kernel
 * (plat-mock.c, suite 'unit') and Linux 6.12 or 7.3 with the kernel's own mock IOMMU
 * (plat-kernel.c, the real-kernel tier). The scenarios use the public API
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
/* Groups of more than one record: always on the mock; on a real kernel only with
 * the tier's selftest patch (TRIGGER_IOPF_FLAGS), stock kernels set LAST_PAGE on
 * every record. */
bool plat_multi_record(struct plat *p);

int plat_open(struct plat **out);
/* The kernel whose rules apply, as major * 100 + minor (612, 703): the running
 * kernel on the kernel platform, the mock's mode (IOPF_SCENARIO_KERNEL=6.12,
 * 6.13 or 6.15; default 6.12) on the mock. */
int plat_kernel(struct plat *p);
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

/* What the devices saw, summed over the platform's devices: page responses by
 * code, the kernel's automatic INVALID answers at detach included (on the kernel:
 * the patched driver's counts; on the mock: its answer log). -EOPNOTSUPP where
 * they cannot be seen (a stock kernel). */
struct plat_resp {
	uint64_t success, invalid, other;
};
int plat_resp(struct plat *p, struct plat_resp *r);
/* n records of group grpid without the last one: a partial group the kernel
 * holds until its last record and drops when the device detaches. -EOPNOTSUPP
 * where records cannot be sent one by one (the mock, a stock kernel). */
int plat_partial(struct plat *p, uint32_t dev_id, uint32_t grpid, uint64_t addr,
		 uint32_t perm, unsigned int n);

#endif
