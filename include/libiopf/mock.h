/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libiopf's mock kernel: an in-process iommufd that the library's backend talks
 * to instead of /dev/iommu, for unit tests that need no kernel support and no
 * root (the library's own tests, and VMMs' tests of their fault handlers).
 *
 * It validates every command as the kernel does, hands out real file
 * descriptors for fault queues (so both engines, io_uring included, really read
 * and write them), delivers whole groups and assigns cookies like the kernel,
 * checks every answer, and can be told to fail anywhere. It has no threads of
 * its own; all of its functions may be called from any thread.
 * See iopf_mock(3).
 */
#ifndef LIBIOPF_MOCK_H
#define LIBIOPF_MOCK_H

#include <stdint.h>

#include <libiopf.h>

#ifdef __cplusplus
extern "C" {
#endif

struct iopf_mock;

/* The kernel whose rules the mock follows. */
#define IOPF_MOCK_KERNEL_6_10 610 /* no fault queues: ENOTTY */
#define IOPF_MOCK_KERNEL_6_12 612 /* fault_id on nested HWPTs only */
#define IOPF_MOCK_KERNEL_6_13 613 /* fault_id on paging HWPTs too */
#define IOPF_MOCK_KERNEL_6_15 615 /* and IOMMU_VEVENTQ_ALLOC exists */
#define IOPF_MOCK_KERNEL_7_3  703 /* as 6.15 in what the mock models (7.3.4) */
/* vIOMMUs and vDEVICEs exist from 6.13, vEVENTQs from 6.15; they follow 7.3
 * in every mode that has them. */

struct iopf_mock_opts {
	uint32_t size; /* sizeof(struct iopf_mock_opts) */
	uint32_t kernel; /* IOPF_MOCK_KERNEL_*; 0: 6.12 */
	uint32_t nofit_errno; /* read result when the first group does not
				 fit: EINVAL (6.12, the default) or 0 (older,
				 set IOPF_MOCK_NOFIT_ZERO) */
	uint32_t flags;
};
#define IOPF_MOCK_NOFIT_ZERO (1u << 0) /* flags: answer 0, not EINVAL */

int iopf_mock_new(const struct iopf_mock_opts *opts, struct iopf_mock **out);
void iopf_mock_free(struct iopf_mock *m);
int iopf_mock_ctx_new(struct iopf_mock *m, struct iopf_ctx **out);

/* Devices: an iommufd device object that can be attached to a HWPT. */
int iopf_mock_dev_new(struct iopf_mock *m, uint32_t *out_dev_id);
int iopf_mock_dev_attach(struct iopf_mock *m, uint32_t dev_id,
			 uint32_t hwpt_id);
int iopf_mock_dev_detach(struct iopf_mock *m, uint32_t dev_id);

/* One fault of a group to trigger. */
struct iopf_mock_fault {
	uint32_t flags; /* IOPF_FAULT_PASID_VALID; LAST_PAGE is set by the mock
			   on the group's last record. Other bits pass raw. */
	uint32_t pasid;
	uint32_t perm; /* raw: unknown bits are delivered as given */
	uint32_t __pad;
	uint64_t addr;
};

/* Queues one group of n records from a device attached to a HWPT with a fault
 * queue. *out_group_id (may be NULL) names the group in the mock's log. */
int iopf_mock_trigger(struct iopf_mock *m, uint32_t dev_id, uint32_t grpid,
		      const struct iopf_mock_fault *faults, unsigned int n,
		      uint64_t *out_group_id);

/* What happened to every group, for tests to assert on. */
struct iopf_mock_stats {
	uint32_t size; /* set by the caller */
	uint32_t __pad;
	uint64_t groups_triggered;
	uint64_t faults_triggered;
	uint64_t groups_delivered; /* read by user space */
	uint64_t answered_success; /* answered once, by user space */
	uint64_t answered_invalid;
	uint64_t auto_detach; /* answered INVALID by the mock on detach */
	uint64_t auto_teardown; /* left for the fault object's destruction */
	uint64_t bad_unknown; /* answers with a cookie never given out */
	uint64_t bad_duplicate; /* answers to a group already answered */
	uint64_t bad_code; /* answers with a code other than 0 or 1 */
	uint64_t pending; /* triggered, not read yet */
	uint64_t outstanding; /* read, not answered yet */
	uint64_t reads;
	uint64_t writes;
};

int iopf_mock_stats(struct iopf_mock *m, struct iopf_mock_stats *st);

/* The life of one group. */
enum iopf_mock_group_state {
	IOPF_MOCK_GROUP_PENDING = 1,
	IOPF_MOCK_GROUP_DELIVERED,
	IOPF_MOCK_GROUP_ANSWERED,
	IOPF_MOCK_GROUP_AUTO_DETACH,
	IOPF_MOCK_GROUP_AUTO_TEARDOWN,
};

struct iopf_mock_group_info {
	uint32_t size; /* set by the caller */
	uint32_t state; /* enum iopf_mock_group_state */
	uint32_t cookie; /* 0 until delivered */
	uint32_t code; /* the answer, once answered */
	uint32_t answers; /* answers user space sent for it (1 is right) */
	uint32_t dev_id;
};

int iopf_mock_group_info(struct iopf_mock *m, uint64_t group_id,
			 struct iopf_mock_group_info *info);

/* Failure injection. Each rule fires on the nth matching operation counted
 * from now (1: the next one) and then is gone. */
int iopf_mock_inject_ioctl(struct iopf_mock *m, unsigned int cmd_nr,
			   unsigned int nth, int err);

enum iopf_mock_fd_fault {
	IOPF_MOCK_READ_ZERO = 1, /* read returns 0 with groups pending */
	IOPF_MOCK_READ_ERRNO, /* read fails with -arg */
	IOPF_MOCK_READ_SPLIT, /* read returns only the first arg records of a
				 group (the rest on the next read) */
	IOPF_MOCK_WRITE_SHORT, /* write takes only arg answers */
	IOPF_MOCK_WRITE_ERRNO, /* write fails with -arg, takes nothing */
	IOPF_MOCK_FD_CLOSED, /* from now on reads and writes fail: EBADF */
};

/* fault_id: a fault object, or a vEVENTQ (no WRITE_* rules; READ_SPLIT: a
 * read returns at most arg records). */
int iopf_mock_inject_fd(struct iopf_mock *m, uint32_t fault_id,
			enum iopf_mock_fd_fault what, unsigned int nth,
			int arg);

/* vIOMMUs, vDEVICEs and vEVENTQs. The emulated IOMMU driver is the kernel's
 * selftest driver: IOMMU_VIOMMU_TYPE_SELFTEST, and its event type (a u32
 * virt_id). IOPF_MOCK_VEVENT_MAX: the largest payload iopf_mock_vevent()
 * takes. */
#define IOPF_MOCK_VIOMMU_TYPE_SELFTEST	0xdeadbeefu
#define IOPF_MOCK_VEVENTQ_TYPE_SELFTEST 0xbeefbeefu
#define IOPF_MOCK_VEVENT_MAX		4096u

/* Raises one vIOMMU event of a vEVENTQ type for a device attached to a nested
 * HWPT on a vIOMMU (as the selftest's TRIGGER_VEVENT, then
 * iommufd_viommu_report_event()). data NULL and len 0 with
 * IOPF_MOCK_VEVENTQ_TYPE_SELFTEST: the selftest's payload, the device's
 * virt_id. *out_sequence (may be NULL): the number the event took, delivered
 * or lost. */
int iopf_mock_vevent(struct iopf_mock *m, uint32_t dev_id, uint32_t type,
		     const void *data, uint32_t len, uint32_t *out_sequence);
/* The number the vEVENTQ gives its next event: 0..INT_MAX. */
int iopf_mock_veventq_set_sequence(struct iopf_mock *m, uint32_t veventq_id,
				   uint32_t sequence);

#ifdef __cplusplus
}
#endif

#endif
