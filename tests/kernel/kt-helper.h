/* SPDX-License-Identifier: MIT */
/*
 * kt-helper: raw iommufd and IOMMU_TEST_CMD calls for the real-kernel test tier.
 *
 * These programs run inside the test VM (tests/kernel/run-vm.sh) on a kernel built with
 * CONFIG_IOMMUFD_TEST (tests/kernel/build-kernel.sh). The helper drives the kernel's own
 * mock IOMMU (drivers/iommu/iommufd/selftest.c) so that a test can get an IOPF-capable
 * device and make it fault on demand; the code under test (libiopf) then allocates and
 * serves the fault queue.
 *
 * kt-helper.c deliberately uses the kernel's own headers, installed by build-kernel.sh in
 * <cachedir>/hdr/include (linux/iommufd.h as `make headers_install` gives it, plus
 * iommufd_test.h), never libiopf's private ABI copy: the tier checks one against the
 * other. This header itself needs only <stdint.h>, so a test can include it next to
 * libiopf's headers without two definitions of the same kernel structs meeting; a test
 * that wants the kernel's definitions includes <linux/iommufd.h> / <iommufd_test.h>
 * itself (run-tier.sh compiles with -I<cachedir>/hdr/include).
 *
 * Every function returns 0 or -errno (like libiopf), except where noted.
 *
 * Mock sequence (Linux 6.12): kt_ioas_alloc -> kt_mock_domain (gives idev_id, the
 * iommufd device id faults carry) -> kt_hwpt_alloc_parent (NEST_PARENT paging HWPT) ->
 * IOMMU_FAULT_QUEUE_ALLOC -> nested HWPT with IOMMU_HWPT_FAULT_ID_VALID and the selftest
 * payload of kt_nested_data() -> kt_mock_domain_replace(stdev_id, nested) ->
 * kt_trigger_iopf(idev_id, ...). Undo in reverse: replace back to the parent, destroy the
 * nested HWPT, close the fault fd, destroy the fault object, the parent, the stdev, the IOAS.
 */
#ifndef KT_HELPER_H
#define KT_HELPER_H

#include <stdint.h>

/* Exit status of a test program that cannot run here (meson/automake convention). */
#define KT_EXIT_SKIP 77

/* Open /dev/iommu (O_RDWR | O_CLOEXEC). Returns the fd or -errno. */
int kt_open(void);

/*
 * Exit with KT_EXIT_SKIP, after a message on stderr, unless this kernel has iommufd with
 * IOMMU_TEST_CMD and fault queues. Returns an open /dev/iommu fd otherwise. For test
 * programs that must also work outside the VM (they then skip).
 */
int kt_open_or_skip(const char *prog);

/* IOMMU_IOAS_ALLOC. */
int kt_ioas_alloc(int fd, uint32_t *ioas_id);

/*
 * IOMMU_TEST_OP_MOCK_DOMAIN: create a mock device bound to iommufd and attached to
 * @ioas_id. @stdev_id is the selftest object (for kt_mock_domain_replace and to destroy
 * the device), @hwpt_id the auto-allocated paging HWPT, @idev_id the iommufd device
 * object id (dev_id of IOMMU_HWPT_ALLOC and of the fault records). Any out pointer may
 * be NULL.
 */
int kt_mock_domain(int fd, uint32_t ioas_id, uint32_t *stdev_id, uint32_t *hwpt_id,
		   uint32_t *idev_id);

/* IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE: attach the mock device @stdev_id to HWPT/IOAS @pt_id. */
int kt_mock_domain_replace(int fd, uint32_t stdev_id, uint32_t pt_id);

/* IOMMU_HWPT_ALLOC with IOMMU_HWPT_ALLOC_NEST_PARENT on @ioas_id for device @idev_id. */
int kt_hwpt_alloc_parent(int fd, uint32_t idev_id, uint32_t ioas_id, uint32_t *out);

/*
 * IOMMU_HWPT_ALLOC of a mock nested HWPT over @parent_id. With @fault_id != 0 it is
 * allocated with IOMMU_HWPT_FAULT_ID_VALID, i.e. faults report into that fault object.
 */
int kt_hwpt_alloc_nested(int fd, uint32_t idev_id, uint32_t parent_id, uint32_t fault_id,
			 uint32_t *out);

/* IOMMU_FAULT_QUEUE_ALLOC: @fault_fd is O_CLOEXEC, reads 0 when empty (never blocks). */
int kt_fault_alloc(int fd, uint32_t *fault_id, int *fault_fd);

/*
 * IOMMU_TEST_OP_TRIGGER_IOPF: make mock device @dev_id (an idev_id) report a page
 * request. The mock always sets IOMMU_PGFAULT_FLAGS_LAST_PAGE (one-record groups) and
 * sets PASID_VALID when @pasid != 0. @perm: IOMMU_PGFAULT_PERM_* (READ 1, WRITE 2,
 * EXEC 4, PRIV 8), passed through as is. The fault is queued synchronously: it is readable
 * from the fault fd when this returns, if the device's HWPT has a fault object.
 */
int kt_trigger_iopf(int fd, uint32_t dev_id, uint32_t pasid, uint32_t grpid, uint32_t perm,
		    uint64_t addr);

/*
 * The libiopf test-only patches of the selftest driver (tests/kernel/patches/<version>/,
 * see README.md). kt_patched() returns 1 if the running kernel has their two ops, 0 if
 * not (a stock kernel: EOPNOTSUPP), -errno on any other error.
 */
int kt_patched(int fd);

/* IOMMU_TEST_OP_TRIGGER_VEVENT (6.15+): the selftest driver reports one vEVENT of its
 * type (IOMMU_VEVENTQ_TYPE_SELFTEST, payload: the device's u32 virt_id) for dev_id, which
 * must be attached to a nested HWPT on a vIOMMU where it has a vDEVICE (ENOENT otherwise;
 * EOPNOTSUPP without a vEVENTQ of the type, and from kt-helper built for older kernels). */
int kt_trigger_vevent(int fd, uint32_t dev_id);

/*
 * IOMMU_TEST_OP_TRIGGER_IOPF_FLAGS: as kt_trigger_iopf(), but LAST_PAGE only when @last
 * is nonzero. A record without it is a non-last record of a partial group: the iopf core
 * holds it until the group's last record (same grpid) arrives, and drops it (no
 * response) when the device's IOPF is disabled, e.g. on a detach to a HWPT without a
 * fault object.
 */
int kt_trigger_iopf_flags(int fd, uint32_t dev_id, uint32_t pasid, uint32_t grpid, uint32_t perm,
			  uint64_t addr, int last);

/*
 * IOMMU_TEST_OP_IOPF_RESP_STATS: the page responses the iopf core handed the mock
 * driver of device @dev_id (an idev_id) since the device was created or last reset:
 * counts by code (success = IOMMU_PAGE_RESP_SUCCESS, invalid = IOMMU_PAGE_RESP_INVALID,
 * failure = any other code), total (their sum), and the last response's (grpid, pasid,
 * code), all 0 while total is 0. With @reset the counters are zeroed after
 * the read.
 */
struct kt_resp_stats {
	uint64_t success, invalid, failure, total;
	uint32_t last_grpid, last_pasid, last_code;
};
int kt_resp_stats(int fd, uint32_t dev_id, struct kt_resp_stats *st, int reset);

/*
 * The running kernel's version from uname(2), as major * 100 + minor: 612 for 6.12.x,
 * 703 for 7.3.x. -EINVAL if the release string does not parse.
 */
int kt_kernel_version(void);

/*
 * vIOMMUs (Linux 6.13+): *type = IOMMU_VIOMMU_TYPE_SELFTEST, the selftest driver's vIOMMU
 * type, from this kernel's iommufd_test.h; -EOPNOTSUPP when that header has none (6.12,
 * which has no IOMMU_VIOMMU_ALLOC either). A nested HWPT on such a vIOMMU attaches only
 * once the device has a vDEVICE on it (the driver looks its virtual id up).
 */
int kt_viommu_type(uint32_t *type);

/*
 * PASID attach (Linux 7.3's selftest ops; the kernel took IOMMU_HWPT_ALLOC_PASID in 6.15).
 * All return -EOPNOTSUPP when this kernel's iommufd_test.h has no PASID ops (6.12).
 *
 * kt_mock_flags_pasid: *flags = MOCK_FLAGS_DEVICE_PASID (a device with PASID support,
 * MOCK_PASID_WIDTH bits), for kt_mock_setup_flags(); *reserved = IOMMU_TEST_PASID_RESERVED,
 * the PASID the driver fails every other attach of on purpose (tests avoid it).
 * kt_pasid_attach / _replace / _detach: IOMMU_TEST_OP_PASID_ATTACH / _REPLACE / _DETACH of
 * mock device @stdev_id at @pasid (the iommufd core's iommufd_device_attach/replace/detach
 * with that pasid). The core's rules: a PASID attaches only to a HWPT allocated with
 * IOMMU_HWPT_ALLOC_PASID, and only while the RID's HWPT is one too (EINVAL); an attached
 * PASID takes no second attach (EBUSY); a replace needs an attached PASID (EINVAL); a
 * detach or replace answers INVALID the faults pending for that PASID's attachment only.
 * kt_pasid_check_hwpt: 0 if @pasid is attached to @hwpt_id (0: detached), EINVAL if not.
 */
int kt_mock_flags_pasid(uint32_t *flags, uint32_t *reserved);
int kt_pasid_attach(int fd, uint32_t stdev_id, uint32_t pasid, uint32_t pt_id);
int kt_pasid_replace(int fd, uint32_t stdev_id, uint32_t pasid, uint32_t pt_id);
int kt_pasid_detach(int fd, uint32_t stdev_id, uint32_t pasid);
int kt_pasid_check_hwpt(int fd, uint32_t stdev_id, uint32_t pasid, uint32_t hwpt_id);

/*
 * IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS: kt_mock_domain() with mock device flags (MOCK_FLAGS_*).
 */
int kt_mock_domain_flags(int fd, uint32_t ioas_id, uint32_t dev_flags, uint32_t *stdev_id,
			 uint32_t *hwpt_id, uint32_t *idev_id);

/* IOMMU_HWPT_ALLOC with IOMMU_HWPT_ALLOC_NEST_PARENT | @flags on @ioas_id. */
int kt_hwpt_alloc_parent_flags(int fd, uint32_t idev_id, uint32_t ioas_id, uint32_t flags,
			       uint32_t *out);

/* IOMMU_DESTROY. */
int kt_destroy(int fd, uint32_t id);

/*
 * The driver payload a mock nested HWPT needs: *type = IOMMU_HWPT_DATA_SELFTEST (0xdead),
 * *data points to a static struct iommu_hwpt_selftest { .iotlb = IOMMU_TEST_IOTLB_DEFAULT
 * (0xbadbeef) }, *len its size (4). For IOMMU_HWPT_ALLOC's data_type/data_uptr/data_len,
 * or for libiopf's own HWPT allocation. Always returns 0.
 */
int kt_nested_data(void **data, uint32_t *len, uint32_t *type);

/*
 * A mock device ready for a fault queue: IOAS, mock device, NEST_PARENT HWPT. The test
 * then allocates the fault queue and a nested HWPT on @parent_id (with kt_nested_data's
 * payload), and attaches it with kt_mock_domain_replace(stdev_id, hwpt).
 */
struct kt_mock {
	int fd;
	uint32_t ioas_id;
	uint32_t stdev_id;
	uint32_t hwpt_id; /* the paging HWPT MOCK_DOMAIN attached first */
	uint32_t idev_id;
	uint32_t parent_id;
};

/* Set up @m on iommufd @fd (not owned). On failure everything created is undone. */
int kt_mock_setup(struct kt_mock *m, int fd);

/*
 * kt_mock_setup with mock device flags @dev_flags (kt_mock_domain_flags) and extra HWPT
 * alloc flags @parent_flags for the parent (e.g. IOMMU_HWPT_ALLOC_PASID, which a PASID
 * attach needs on the RID's HWPT). kt_mock_setup(m, fd) is kt_mock_setup_flags(m, fd, 0, 0).
 */
int kt_mock_setup_flags(struct kt_mock *m, int fd, uint32_t dev_flags, uint32_t parent_flags);

/*
 * Undo kt_mock_setup: re-attach the device to the parent (the kernel then answers its
 * pending faults INVALID), destroy the mock device, the parent and the IOAS. Destroy the
 * nested HWPTs you allocated on the parent first (after kt_mock_domain_replace(stdev_id,
 * parent_id), or the nested HWPT is busy), or the parent is busy. Fault objects may go
 * before or after. Keeps going past errors; returns the first one.
 */
int kt_mock_teardown(struct kt_mock *m);

#endif
