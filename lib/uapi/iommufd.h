/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The slice of the iommufd uAPI (include/uapi/linux/iommufd.h) that libiopf
 * uses, copied as the library's own definitions: Debian bookworm's
 * linux-libc-dev (6.1) has no linux/iommufd.h, and the library must build
 * anywhere. Layouts are those of Linux 6.12, and of 7.3 for what 6.12 lacks; every size and offset is pinned by
 * a static assertion below, and the real-kernel tier compares them with the
 * kernel's own header.
 */
#ifndef IOPF_UAPI_IOMMUFD_H
#define IOPF_UAPI_IOMMUFD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>

#define IOMMUFD_TYPE (';')

enum {
	IOMMUFD_CMD_BASE = 0x80,
	IOMMUFD_CMD_DESTROY = IOMMUFD_CMD_BASE,
	IOMMUFD_CMD_IOAS_ALLOC = 0x81,
	IOMMUFD_CMD_HWPT_ALLOC = 0x89,
	IOMMUFD_CMD_GET_HW_INFO = 0x8a,
	IOMMUFD_CMD_FAULT_QUEUE_ALLOC = 0x8e,
	IOMMUFD_CMD_VIOMMU_ALLOC = 0x90,
	IOMMUFD_CMD_VDEVICE_ALLOC = 0x91,
	IOMMUFD_CMD_VEVENTQ_ALLOC = 0x93,
};

#define IOMMU_DESTROY _IO(IOMMUFD_TYPE, IOMMUFD_CMD_DESTROY)
#define IOMMU_IOAS_ALLOC _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_ALLOC)
#define IOMMU_HWPT_ALLOC _IO(IOMMUFD_TYPE, IOMMUFD_CMD_HWPT_ALLOC)
#define IOMMU_GET_HW_INFO _IO(IOMMUFD_TYPE, IOMMUFD_CMD_GET_HW_INFO)
#define IOMMU_FAULT_QUEUE_ALLOC _IO(IOMMUFD_TYPE, IOMMUFD_CMD_FAULT_QUEUE_ALLOC)
#define IOMMU_VIOMMU_ALLOC _IO(IOMMUFD_TYPE, IOMMUFD_CMD_VIOMMU_ALLOC)
#define IOMMU_VDEVICE_ALLOC _IO(IOMMUFD_TYPE, IOMMUFD_CMD_VDEVICE_ALLOC)
#define IOMMU_VEVENTQ_ALLOC _IO(IOMMUFD_TYPE, IOMMUFD_CMD_VEVENTQ_ALLOC)

struct iommu_destroy {
	uint32_t size;
	uint32_t id;
};

struct iommu_ioas_alloc {
	uint32_t size;
	uint32_t flags;
	uint32_t out_ioas_id;
};

enum iommufd_hwpt_alloc_flags {
	IOMMU_HWPT_ALLOC_NEST_PARENT = 1 << 0,
	IOMMU_HWPT_ALLOC_DIRTY_TRACKING = 1 << 1,
	IOMMU_HWPT_FAULT_ID_VALID = 1 << 2,
	IOMMU_HWPT_ALLOC_PASID = 1 << 3,
};

enum iommu_hwpt_data_type {
	IOMMU_HWPT_DATA_NONE = 0,
	IOMMU_HWPT_DATA_VTD_S1 = 1,
	IOMMU_HWPT_DATA_ARM_SMMUV3 = 2,
	IOMMU_HWPT_DATA_SELFTEST = 0xdead,
};

struct iommu_hwpt_alloc {
	uint32_t size;
	uint32_t flags;
	uint32_t dev_id;
	uint32_t pt_id;
	uint32_t out_hwpt_id;
	uint32_t __reserved;
	uint32_t data_type;
	uint32_t data_len;
	uint64_t data_uptr __attribute__((aligned(8)));
	uint32_t fault_id;
	uint32_t __reserved2;
};
/* The struct ended at data_uptr before 6.11: the kernel's minimum size. */
#define IOMMU_HWPT_ALLOC_SIZE_V1 40
#define IOMMU_HWPT_ALLOC_MIN_SIZE 24 /* offsetofend(__reserved) */

struct iommu_hw_info {
	uint32_t size;
	uint32_t flags;
	uint32_t dev_id;
	uint32_t data_len;
	uint64_t data_uptr __attribute__((aligned(8)));
	uint32_t out_data_type;
	uint8_t out_max_pasid_log2;
	uint8_t __reserved[3];
	uint64_t out_capabilities __attribute__((aligned(8)));
};

struct iommu_fault_alloc {
	uint32_t size;
	uint32_t flags;
	uint32_t out_fault_id;
	uint32_t out_fault_fd;
};

/* vIOMMU (6.13+), vDEVICE (6.13+), vEVENTQ (6.15+): layouts of Linux 7.3. */
enum iommu_viommu_type {
	IOMMU_VIOMMU_TYPE_DEFAULT = 0,
	IOMMU_VIOMMU_TYPE_ARM_SMMUV3 = 1,
	IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV = 2,
};

struct iommu_viommu_alloc {
	uint32_t size;
	uint32_t flags;
	uint32_t type;
	uint32_t dev_id;
	uint32_t hwpt_id;
	uint32_t out_viommu_id;
	uint32_t data_len;
	uint32_t __reserved;
	uint64_t data_uptr __attribute__((aligned(8)));
};

struct iommu_vdevice_alloc {
	uint32_t size;
	uint32_t viommu_id;
	uint32_t dev_id;
	uint32_t out_vdevice_id;
	uint64_t virt_id __attribute__((aligned(8)));
};

enum iommu_veventq_flag {
	IOMMU_VEVENTQ_FLAG_LOST_EVENTS = 1u << 0,
};

/* Before every vEVENT's payload; sequence runs 0..INT_MAX, then 0 again. A
 * header with LOST_EVENTS and no payload may end a read. */
struct iommufd_vevent_header {
	uint32_t flags;
	uint32_t sequence;
};

enum iommu_veventq_type {
	IOMMU_VEVENTQ_TYPE_DEFAULT = 0,
	IOMMU_VEVENTQ_TYPE_ARM_SMMUV3 = 1,
	IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV = 2,
};

struct iommu_vevent_arm_smmuv3 {
	uint64_t evt[4]; /* little-endian */
};

struct iommu_vevent_tegra241_cmdqv {
	uint64_t lvcmdq_err_map[2]; /* little-endian */
};

struct iommu_veventq_alloc {
	uint32_t size;
	uint32_t flags;
	uint32_t viommu_id;
	uint32_t type;
	uint32_t veventq_depth;
	uint32_t out_veventq_id;
	uint32_t out_veventq_fd;
	uint32_t __reserved;
};

enum iommu_hwpt_pgfault_flags {
	IOMMU_PGFAULT_FLAGS_PASID_VALID = 1 << 0,
	IOMMU_PGFAULT_FLAGS_LAST_PAGE = 1 << 1,
};

enum iommu_hwpt_pgfault_perm {
	IOMMU_PGFAULT_PERM_READ = 1 << 0,
	IOMMU_PGFAULT_PERM_WRITE = 1 << 1,
	IOMMU_PGFAULT_PERM_EXEC = 1 << 2,
	IOMMU_PGFAULT_PERM_PRIV = 1 << 3,
};

struct iommu_hwpt_pgfault {
	uint32_t flags;
	uint32_t dev_id;
	uint32_t pasid;
	uint32_t grpid;
	uint32_t perm;
	uint32_t __reserved;
	uint64_t addr __attribute__((aligned(8)));
	uint32_t length;
	uint32_t cookie;
};

enum iommufd_page_response_code {
	IOMMUFD_PAGE_RESP_SUCCESS = 0,
	IOMMUFD_PAGE_RESP_INVALID = 1,
};

struct iommu_hwpt_page_response {
	uint32_t cookie;
	uint32_t code;
};

#define IOPF_UAPI_CHECK(type, member, off)                                     \
	_Static_assert(offsetof(struct type, member) == (off),                 \
		       #type "." #member " offset")

_Static_assert(sizeof(struct iommu_destroy) == 8, "iommu_destroy");
IOPF_UAPI_CHECK(iommu_destroy, id, 4);
_Static_assert(sizeof(struct iommu_ioas_alloc) == 12, "iommu_ioas_alloc");
IOPF_UAPI_CHECK(iommu_ioas_alloc, out_ioas_id, 8);
_Static_assert(sizeof(struct iommu_hwpt_alloc) == 48, "iommu_hwpt_alloc");
IOPF_UAPI_CHECK(iommu_hwpt_alloc, flags, 4);
IOPF_UAPI_CHECK(iommu_hwpt_alloc, dev_id, 8);
IOPF_UAPI_CHECK(iommu_hwpt_alloc, pt_id, 12);
IOPF_UAPI_CHECK(iommu_hwpt_alloc, out_hwpt_id, 16);
IOPF_UAPI_CHECK(iommu_hwpt_alloc, __reserved, 20);
IOPF_UAPI_CHECK(iommu_hwpt_alloc, data_type, 24);
IOPF_UAPI_CHECK(iommu_hwpt_alloc, data_len, 28);
IOPF_UAPI_CHECK(iommu_hwpt_alloc, data_uptr, 32);
IOPF_UAPI_CHECK(iommu_hwpt_alloc, fault_id, 40);
IOPF_UAPI_CHECK(iommu_hwpt_alloc, __reserved2, 44);
_Static_assert(sizeof(struct iommu_hw_info) == 40, "iommu_hw_info");
IOPF_UAPI_CHECK(iommu_hw_info, data_uptr, 16);
IOPF_UAPI_CHECK(iommu_hw_info, out_data_type, 24);
IOPF_UAPI_CHECK(iommu_hw_info, out_max_pasid_log2, 28);
IOPF_UAPI_CHECK(iommu_hw_info, out_capabilities, 32);
_Static_assert(sizeof(struct iommu_fault_alloc) == 16, "iommu_fault_alloc");
IOPF_UAPI_CHECK(iommu_fault_alloc, flags, 4);
IOPF_UAPI_CHECK(iommu_fault_alloc, out_fault_id, 8);
IOPF_UAPI_CHECK(iommu_fault_alloc, out_fault_fd, 12);
_Static_assert(sizeof(struct iommu_viommu_alloc) == 40, "iommu_viommu_alloc");
IOPF_UAPI_CHECK(iommu_viommu_alloc, type, 8);
IOPF_UAPI_CHECK(iommu_viommu_alloc, dev_id, 12);
IOPF_UAPI_CHECK(iommu_viommu_alloc, hwpt_id, 16);
IOPF_UAPI_CHECK(iommu_viommu_alloc, out_viommu_id, 20);
IOPF_UAPI_CHECK(iommu_viommu_alloc, data_len, 24);
IOPF_UAPI_CHECK(iommu_viommu_alloc, data_uptr, 32);
_Static_assert(sizeof(struct iommu_vdevice_alloc) == 24, "iommu_vdevice_alloc");
IOPF_UAPI_CHECK(iommu_vdevice_alloc, viommu_id, 4);
IOPF_UAPI_CHECK(iommu_vdevice_alloc, dev_id, 8);
IOPF_UAPI_CHECK(iommu_vdevice_alloc, out_vdevice_id, 12);
IOPF_UAPI_CHECK(iommu_vdevice_alloc, virt_id, 16);
_Static_assert(sizeof(struct iommufd_vevent_header) == 8, "iommufd_vevent_header");
IOPF_UAPI_CHECK(iommufd_vevent_header, sequence, 4);
_Static_assert(sizeof(struct iommu_vevent_arm_smmuv3) == 32, "iommu_vevent_arm_smmuv3");
_Static_assert(sizeof(struct iommu_vevent_tegra241_cmdqv) == 16,
	       "iommu_vevent_tegra241_cmdqv");
_Static_assert(sizeof(struct iommu_veventq_alloc) == 32, "iommu_veventq_alloc");
IOPF_UAPI_CHECK(iommu_veventq_alloc, viommu_id, 8);
IOPF_UAPI_CHECK(iommu_veventq_alloc, type, 12);
IOPF_UAPI_CHECK(iommu_veventq_alloc, veventq_depth, 16);
IOPF_UAPI_CHECK(iommu_veventq_alloc, out_veventq_id, 20);
IOPF_UAPI_CHECK(iommu_veventq_alloc, out_veventq_fd, 24);
_Static_assert(sizeof(struct iommu_hwpt_pgfault) == 40, "iommu_hwpt_pgfault");
IOPF_UAPI_CHECK(iommu_hwpt_pgfault, flags, 0);
IOPF_UAPI_CHECK(iommu_hwpt_pgfault, dev_id, 4);
IOPF_UAPI_CHECK(iommu_hwpt_pgfault, pasid, 8);
IOPF_UAPI_CHECK(iommu_hwpt_pgfault, grpid, 12);
IOPF_UAPI_CHECK(iommu_hwpt_pgfault, perm, 16);
IOPF_UAPI_CHECK(iommu_hwpt_pgfault, __reserved, 20);
IOPF_UAPI_CHECK(iommu_hwpt_pgfault, addr, 24);
IOPF_UAPI_CHECK(iommu_hwpt_pgfault, length, 32);
IOPF_UAPI_CHECK(iommu_hwpt_pgfault, cookie, 36);
_Static_assert(sizeof(struct iommu_hwpt_page_response) == 8,
	       "iommu_hwpt_page_response");
IOPF_UAPI_CHECK(iommu_hwpt_page_response, code, 4);

#endif
