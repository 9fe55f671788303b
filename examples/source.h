/* SPDX-License-Identifier: MIT */
/*
 * Where the examples' faults come from. A VMM has a real device behind VFIO;
 * the examples need something that faults on request:
 *   "mock":   libiopf's built-in mock kernel (no kernel support, no root);
 *   "kernel": /dev/iommu with the kernel's own mock IOMMU (CONFIG_IOMMUFD_TEST),
 *             available when the example is built by the real-kernel tier.
 * Everything a VMM would do itself is done here through the public API: the
 * fault queue's HWPT is allocated with iopf_hwpt_alloc().
 */
#ifndef EXAMPLE_SOURCE_H
#define EXAMPLE_SOURCE_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>

#include <libiopf.h>

struct source;

/* The backend an example uses when not told: "kernel" when built with the
 * kernel backend (source-kernel.c: the real-kernel tier runs the examples
 * without arguments), "mock" otherwise (source-kernel-none.c). */
const char *source_default_backend(void);
/* Opens "mock" or "kernel"; -EINVAL for another name, -ENOTSUP for "kernel"
 * in a build without the kernel backend. */
int source_open(const char *backend, struct source **out);
/* The largest group source_fault() can make: the kernel's mock IOMMU reports
 * one-record groups only (IOMMU_TEST_OP_TRIGGER_IOPF always sets LAST_PAGE). */
unsigned int source_max_group(const struct source *s);
struct iopf_ctx *source_ctx(struct source *s);
uint32_t source_dev_id(struct source *s);
/* Allocates a nested HWPT reporting into q and attaches the device to it. */
int source_attach(struct source *s, struct iopf_queue *q);
/* Makes the device fault: one group of nrec records at addr, addr + 4K, ... */
int source_fault(struct source *s, uint32_t grpid, uint64_t addr, uint32_t perm,
		 unsigned int nrec);
/* Detaches the device and destroys what source_attach made. */
int source_detach(struct source *s);

/* vIOMMU events. source_viommu() makes a vIOMMU on the device's nesting
 * parent and the device's vDEVICE with virt_id; source_viommu_attach() a
 * nested HWPT on that vIOMMU (faults into q, if not NULL) with the device
 * attached; source_vevent() makes the IOMMU report one event of
 * source_vevent_type() for the device: on the mock, an ARM SMMUv3 record of
 * len bytes (at most 32) from data; on the kernel, the selftest driver's
 * event, whose payload is the device's u32 virt_id (data is not used).
 * source_detach() then detaches the device; source_close() destroys the
 * rest. */
int source_viommu(struct source *s, uint64_t virt_id, uint32_t *viommu_id);
int source_viommu_attach(struct source *s, struct iopf_queue *q);
uint32_t source_vevent_type(const struct source *s);
int source_vevent(struct source *s, const void *data, uint32_t len);
void source_close(struct source *s);

/* The kernel backend's half (source-kernel.c, or source-kernel-none.c when
 * the example is built without the kernel's selftest headers). */
struct kernel_source;
int kernel_source_open(struct iopf_ctx **ctx, struct kernel_source **out);
uint32_t kernel_source_dev_id(struct kernel_source *k);
int kernel_source_nested_args(struct kernel_source *k, struct iopf_hwpt_args *a);
int kernel_source_attach(struct kernel_source *k, uint32_t hwpt_id);
int kernel_source_fault(struct kernel_source *k, uint32_t grpid, uint64_t addr,
			uint32_t perm);
int kernel_source_detach(struct kernel_source *k);
uint32_t kernel_source_parent_id(struct kernel_source *k);
int kernel_source_vevent(struct kernel_source *k);
void kernel_source_close(struct kernel_source *k);

/* What the examples share besides the fault source. */

/* One fault in the examples' one verbose format, with no newline:
 *   dev 1 pasid - grp 0 addr 0x0000000100000000 perm rw-- cookie 1
 * pasid "-" when the fault has none (IOPF_FAULT_PASID_VALID clear); perm is
 * r, w, x, p (privileged) or "-" each. Returns what snprintf(3) returns. */
int example_fault_str(char *buf, size_t len, const struct iopf_fault *f);
/* Says on stderr which argument getopt_long() stopped at, before the usage:
 * opt is what it returned (a long option's val, '?' when it already said why,
 * -1 for a word that is no option), arg the value or the word. */
void example_bad_arg(const char *prog, const struct option *longopts, int opt,
		     const char *arg);

#endif
