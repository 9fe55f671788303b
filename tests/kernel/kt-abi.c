/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The library's copy of the ABI (lib/uapi/iommufd.h) against the test
 * kernel's own headers, at compile time: if this file builds, every size,
 * offset and constant the two share is equal. The kernel's values are taken
 * first; then the library's names are renamed with macros, its header is
 * included, and each pair is compared with _Static_assert.
 *
 * Names the library has and 6.12 has not (IOMMU_HWPT_ALLOC_PASID,
 * IOMMU_HWPT_DATA_ARM_SMMUV3, the vIOMMU, vDEVICE and vEVENTQ structs and
 * constants) are compared only with a kernel whose header has them: the 7.3
 * build of this file (KT_HAS_VIOMMU, from the kernel's IOMMU_VIOMMU_ALLOC).
 *
 * When ALLOC_PASID arrived (this file said 6.14, the mock 6.15; both now say
 * 6.15). What the kernels at hand show: 6.12.118's uapi iommufd.h has no
 * IOMMU_HWPT_ALLOC_PASID; 7.3.4's has it (1 << 3), with PASID_ATTACH/REPLACE/
 * DETACH in its selftest. No git history is here, so the release between is
 * not shown by them. The iommufd PASID series ("iommufd: Allow allocating
 * PASID-compatible domain", with PASID attach/replace) was merged for 6.15,
 * as far as we know from upstream's release notes, not from a kernel here;
 * we found nothing here backing 6.14. The mock gates the flag at its 6.15
 * mode (lib/mock/mock.c, mock_paging_flags()); since it has no 6.14 mode, a
 * 6.14 truth would change nothing it emulates either.
 */
#include <stddef.h>
#include <stdio.h>

#include <linux/iommufd.h>
#include <iommufd_test.h>

#define K_STRUCT(s) enum { K_SIZE_##s = sizeof(struct s) }
#define K_OFF(s, m) enum { K_OFF_##s##_##m = offsetof(struct s, m) }
#define K_VAL(n) enum { K_##n = (n) }

K_STRUCT(iommu_destroy);
K_OFF(iommu_destroy, id);
K_STRUCT(iommu_ioas_alloc);
K_OFF(iommu_ioas_alloc, flags);
K_OFF(iommu_ioas_alloc, out_ioas_id);
K_STRUCT(iommu_hwpt_alloc);
K_OFF(iommu_hwpt_alloc, flags);
K_OFF(iommu_hwpt_alloc, dev_id);
K_OFF(iommu_hwpt_alloc, pt_id);
K_OFF(iommu_hwpt_alloc, out_hwpt_id);
K_OFF(iommu_hwpt_alloc, __reserved);
K_OFF(iommu_hwpt_alloc, data_type);
K_OFF(iommu_hwpt_alloc, data_len);
K_OFF(iommu_hwpt_alloc, data_uptr);
K_OFF(iommu_hwpt_alloc, fault_id);
K_OFF(iommu_hwpt_alloc, __reserved2);
K_STRUCT(iommu_hw_info);
K_OFF(iommu_hw_info, dev_id);
K_OFF(iommu_hw_info, data_len);
K_OFF(iommu_hw_info, data_uptr);
K_OFF(iommu_hw_info, out_data_type);
K_OFF(iommu_hw_info, out_max_pasid_log2);
K_OFF(iommu_hw_info, out_capabilities);
K_STRUCT(iommu_fault_alloc);
K_OFF(iommu_fault_alloc, flags);
K_OFF(iommu_fault_alloc, out_fault_id);
K_OFF(iommu_fault_alloc, out_fault_fd);
K_STRUCT(iommu_hwpt_pgfault);
K_OFF(iommu_hwpt_pgfault, flags);
K_OFF(iommu_hwpt_pgfault, dev_id);
K_OFF(iommu_hwpt_pgfault, pasid);
K_OFF(iommu_hwpt_pgfault, grpid);
K_OFF(iommu_hwpt_pgfault, perm);
K_OFF(iommu_hwpt_pgfault, addr);
K_OFF(iommu_hwpt_pgfault, length);
K_OFF(iommu_hwpt_pgfault, cookie);
K_STRUCT(iommu_hwpt_page_response);
K_OFF(iommu_hwpt_page_response, cookie);
K_OFF(iommu_hwpt_page_response, code);

K_VAL(IOMMUFD_TYPE);
K_VAL(IOMMUFD_CMD_BASE);
K_VAL(IOMMUFD_CMD_DESTROY);
K_VAL(IOMMUFD_CMD_IOAS_ALLOC);
K_VAL(IOMMUFD_CMD_HWPT_ALLOC);
K_VAL(IOMMUFD_CMD_GET_HW_INFO);
K_VAL(IOMMUFD_CMD_FAULT_QUEUE_ALLOC);
K_VAL(IOMMU_DESTROY);
K_VAL(IOMMU_IOAS_ALLOC);
K_VAL(IOMMU_HWPT_ALLOC);
K_VAL(IOMMU_GET_HW_INFO);
K_VAL(IOMMU_FAULT_QUEUE_ALLOC);
K_VAL(IOMMU_HWPT_ALLOC_NEST_PARENT);
K_VAL(IOMMU_HWPT_ALLOC_DIRTY_TRACKING);
K_VAL(IOMMU_HWPT_FAULT_ID_VALID);
K_VAL(IOMMU_HWPT_DATA_NONE);
K_VAL(IOMMU_HWPT_DATA_VTD_S1);
K_VAL(IOMMU_HWPT_DATA_SELFTEST);
K_VAL(IOMMU_PGFAULT_FLAGS_PASID_VALID);
K_VAL(IOMMU_PGFAULT_FLAGS_LAST_PAGE);
K_VAL(IOMMU_PGFAULT_PERM_READ);
K_VAL(IOMMU_PGFAULT_PERM_WRITE);
K_VAL(IOMMU_PGFAULT_PERM_EXEC);
K_VAL(IOMMU_PGFAULT_PERM_PRIV);
K_VAL(IOMMUFD_PAGE_RESP_SUCCESS);
K_VAL(IOMMUFD_PAGE_RESP_INVALID);

#ifdef IOMMU_VIOMMU_ALLOC
#define KT_HAS_VIOMMU 1
K_STRUCT(iommu_viommu_alloc);
K_STRUCT(iommu_vdevice_alloc);
K_STRUCT(iommufd_vevent_header);
K_STRUCT(iommu_vevent_arm_smmuv3);
K_STRUCT(iommu_vevent_tegra241_cmdqv);
K_STRUCT(iommu_veventq_alloc);
K_OFF(iommu_viommu_alloc, flags);
K_OFF(iommu_viommu_alloc, type);
K_OFF(iommu_viommu_alloc, dev_id);
K_OFF(iommu_viommu_alloc, hwpt_id);
K_OFF(iommu_viommu_alloc, out_viommu_id);
K_OFF(iommu_viommu_alloc, data_len);
K_OFF(iommu_viommu_alloc, data_uptr);
K_OFF(iommu_vdevice_alloc, viommu_id);
K_OFF(iommu_vdevice_alloc, dev_id);
K_OFF(iommu_vdevice_alloc, out_vdevice_id);
K_OFF(iommu_vdevice_alloc, virt_id);
K_OFF(iommufd_vevent_header, flags);
K_OFF(iommufd_vevent_header, sequence);
K_OFF(iommu_veventq_alloc, flags);
K_OFF(iommu_veventq_alloc, viommu_id);
K_OFF(iommu_veventq_alloc, type);
K_OFF(iommu_veventq_alloc, veventq_depth);
K_OFF(iommu_veventq_alloc, out_veventq_id);
K_OFF(iommu_veventq_alloc, out_veventq_fd);
K_VAL(IOMMUFD_CMD_VIOMMU_ALLOC);
K_VAL(IOMMUFD_CMD_VDEVICE_ALLOC);
K_VAL(IOMMUFD_CMD_VEVENTQ_ALLOC);
K_VAL(IOMMU_VIOMMU_ALLOC);
K_VAL(IOMMU_VDEVICE_ALLOC);
K_VAL(IOMMU_VEVENTQ_ALLOC);
K_VAL(IOMMU_HWPT_ALLOC_PASID);
K_VAL(IOMMU_HWPT_DATA_ARM_SMMUV3);
K_VAL(IOMMU_VIOMMU_TYPE_DEFAULT);
K_VAL(IOMMU_VIOMMU_TYPE_ARM_SMMUV3);
K_VAL(IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV);
K_VAL(IOMMU_VEVENTQ_FLAG_LOST_EVENTS);
K_VAL(IOMMU_VEVENTQ_TYPE_DEFAULT);
K_VAL(IOMMU_VEVENTQ_TYPE_ARM_SMMUV3);
K_VAL(IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV);
#endif

/* From here on the names mean the library's. */
#undef IOMMU_HWPT_DATA_SELFTEST
#define iommu_destroy lib_iommu_destroy
#define iommu_ioas_alloc lib_iommu_ioas_alloc
#define iommu_hwpt_alloc lib_iommu_hwpt_alloc
#define iommu_hw_info lib_iommu_hw_info
#define iommu_fault_alloc lib_iommu_fault_alloc
#define iommu_veventq_alloc lib_iommu_veventq_alloc
#define iommu_hwpt_pgfault lib_iommu_hwpt_pgfault
#define iommu_hwpt_page_response lib_iommu_hwpt_page_response
#define iommufd_hwpt_alloc_flags lib_iommufd_hwpt_alloc_flags
#define iommu_hwpt_data_type lib_iommu_hwpt_data_type
#define iommu_hwpt_pgfault_flags lib_iommu_hwpt_pgfault_flags
#define iommu_hwpt_pgfault_perm lib_iommu_hwpt_pgfault_perm
#define iommufd_page_response_code lib_iommufd_page_response_code
#define IOMMUFD_CMD_BASE LIB_IOMMUFD_CMD_BASE
#define IOMMUFD_CMD_DESTROY LIB_IOMMUFD_CMD_DESTROY
#define IOMMUFD_CMD_IOAS_ALLOC LIB_IOMMUFD_CMD_IOAS_ALLOC
#define IOMMUFD_CMD_HWPT_ALLOC LIB_IOMMUFD_CMD_HWPT_ALLOC
#define IOMMUFD_CMD_GET_HW_INFO LIB_IOMMUFD_CMD_GET_HW_INFO
#define IOMMUFD_CMD_FAULT_QUEUE_ALLOC LIB_IOMMUFD_CMD_FAULT_QUEUE_ALLOC
#define IOMMUFD_CMD_VEVENTQ_ALLOC LIB_IOMMUFD_CMD_VEVENTQ_ALLOC
#define IOMMU_HWPT_ALLOC_NEST_PARENT LIB_IOMMU_HWPT_ALLOC_NEST_PARENT
#define IOMMU_HWPT_ALLOC_DIRTY_TRACKING LIB_IOMMU_HWPT_ALLOC_DIRTY_TRACKING
#define IOMMU_HWPT_FAULT_ID_VALID LIB_IOMMU_HWPT_FAULT_ID_VALID
#define IOMMU_HWPT_ALLOC_PASID LIB_IOMMU_HWPT_ALLOC_PASID
#define IOMMU_HWPT_DATA_NONE LIB_IOMMU_HWPT_DATA_NONE
#define IOMMU_HWPT_DATA_VTD_S1 LIB_IOMMU_HWPT_DATA_VTD_S1
#define IOMMU_HWPT_DATA_ARM_SMMUV3 LIB_IOMMU_HWPT_DATA_ARM_SMMUV3
#define IOMMU_HWPT_DATA_SELFTEST LIB_IOMMU_HWPT_DATA_SELFTEST
#define IOMMU_PGFAULT_FLAGS_PASID_VALID LIB_IOMMU_PGFAULT_FLAGS_PASID_VALID
#define IOMMU_PGFAULT_FLAGS_LAST_PAGE LIB_IOMMU_PGFAULT_FLAGS_LAST_PAGE
#define IOMMU_PGFAULT_PERM_READ LIB_IOMMU_PGFAULT_PERM_READ
#define IOMMU_PGFAULT_PERM_WRITE LIB_IOMMU_PGFAULT_PERM_WRITE
#define IOMMU_PGFAULT_PERM_EXEC LIB_IOMMU_PGFAULT_PERM_EXEC
#define IOMMU_PGFAULT_PERM_PRIV LIB_IOMMU_PGFAULT_PERM_PRIV
#define IOMMUFD_PAGE_RESP_SUCCESS LIB_IOMMUFD_PAGE_RESP_SUCCESS
#define IOMMUFD_PAGE_RESP_INVALID LIB_IOMMUFD_PAGE_RESP_INVALID
#define iommu_viommu_alloc lib_iommu_viommu_alloc
#define iommu_vdevice_alloc lib_iommu_vdevice_alloc
#define iommufd_vevent_header lib_iommufd_vevent_header
#define iommu_vevent_arm_smmuv3 lib_iommu_vevent_arm_smmuv3
#define iommu_vevent_tegra241_cmdqv lib_iommu_vevent_tegra241_cmdqv
#define iommu_viommu_type lib_iommu_viommu_type
#define iommu_veventq_flag lib_iommu_veventq_flag
#define iommu_veventq_type lib_iommu_veventq_type
#define IOMMUFD_CMD_VIOMMU_ALLOC LIB_IOMMUFD_CMD_VIOMMU_ALLOC
#define IOMMUFD_CMD_VDEVICE_ALLOC LIB_IOMMUFD_CMD_VDEVICE_ALLOC
#define IOMMU_VIOMMU_TYPE_DEFAULT LIB_IOMMU_VIOMMU_TYPE_DEFAULT
#define IOMMU_VIOMMU_TYPE_ARM_SMMUV3 LIB_IOMMU_VIOMMU_TYPE_ARM_SMMUV3
#define IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV LIB_IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV
#define IOMMU_VEVENTQ_FLAG_LOST_EVENTS LIB_IOMMU_VEVENTQ_FLAG_LOST_EVENTS
#define IOMMU_VEVENTQ_TYPE_DEFAULT LIB_IOMMU_VEVENTQ_TYPE_DEFAULT
#define IOMMU_VEVENTQ_TYPE_ARM_SMMUV3 LIB_IOMMU_VEVENTQ_TYPE_ARM_SMMUV3
#define IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV LIB_IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV
/* The kernel's ioctl numbers are macros: the library's must not redefine
 * them (same values; compared below through the K_ copies). */
#undef IOMMU_VIOMMU_ALLOC
#undef IOMMU_VDEVICE_ALLOC
#undef IOMMU_VEVENTQ_ALLOC
/* The kernel's guard would hide nothing: the library's header has its own. */
#include "../../lib/uapi/iommufd.h"

#define SAME_STRUCT(s) _Static_assert(K_SIZE_##s == sizeof(struct s), "size of " #s)
#define SAME_OFF(s, m)                                                          \
	_Static_assert(K_OFF_##s##_##m == offsetof(struct s, m), #s "." #m)
#define SAME_VAL(n) _Static_assert((long long)K_##n == (long long)(n), #n)

SAME_STRUCT(iommu_destroy);
SAME_OFF(iommu_destroy, id);
SAME_STRUCT(iommu_ioas_alloc);
SAME_OFF(iommu_ioas_alloc, flags);
SAME_OFF(iommu_ioas_alloc, out_ioas_id);
SAME_STRUCT(iommu_hwpt_alloc);
SAME_OFF(iommu_hwpt_alloc, flags);
SAME_OFF(iommu_hwpt_alloc, dev_id);
SAME_OFF(iommu_hwpt_alloc, pt_id);
SAME_OFF(iommu_hwpt_alloc, out_hwpt_id);
SAME_OFF(iommu_hwpt_alloc, __reserved);
SAME_OFF(iommu_hwpt_alloc, data_type);
SAME_OFF(iommu_hwpt_alloc, data_len);
SAME_OFF(iommu_hwpt_alloc, data_uptr);
SAME_OFF(iommu_hwpt_alloc, fault_id);
SAME_OFF(iommu_hwpt_alloc, __reserved2);
SAME_STRUCT(iommu_hw_info);
SAME_OFF(iommu_hw_info, dev_id);
SAME_OFF(iommu_hw_info, data_len);
SAME_OFF(iommu_hw_info, data_uptr);
SAME_OFF(iommu_hw_info, out_data_type);
SAME_OFF(iommu_hw_info, out_max_pasid_log2);
SAME_OFF(iommu_hw_info, out_capabilities);
SAME_STRUCT(iommu_fault_alloc);
SAME_OFF(iommu_fault_alloc, flags);
SAME_OFF(iommu_fault_alloc, out_fault_id);
SAME_OFF(iommu_fault_alloc, out_fault_fd);
SAME_STRUCT(iommu_hwpt_pgfault);
SAME_OFF(iommu_hwpt_pgfault, flags);
SAME_OFF(iommu_hwpt_pgfault, dev_id);
SAME_OFF(iommu_hwpt_pgfault, pasid);
SAME_OFF(iommu_hwpt_pgfault, grpid);
SAME_OFF(iommu_hwpt_pgfault, perm);
SAME_OFF(iommu_hwpt_pgfault, addr);
SAME_OFF(iommu_hwpt_pgfault, length);
SAME_OFF(iommu_hwpt_pgfault, cookie);
SAME_STRUCT(iommu_hwpt_page_response);
SAME_OFF(iommu_hwpt_page_response, cookie);
SAME_OFF(iommu_hwpt_page_response, code);

SAME_VAL(IOMMUFD_TYPE);
SAME_VAL(IOMMUFD_CMD_BASE);
SAME_VAL(IOMMUFD_CMD_DESTROY);
SAME_VAL(IOMMUFD_CMD_IOAS_ALLOC);
SAME_VAL(IOMMUFD_CMD_HWPT_ALLOC);
SAME_VAL(IOMMUFD_CMD_GET_HW_INFO);
SAME_VAL(IOMMUFD_CMD_FAULT_QUEUE_ALLOC);
SAME_VAL(IOMMU_DESTROY);
SAME_VAL(IOMMU_IOAS_ALLOC);
SAME_VAL(IOMMU_HWPT_ALLOC);
SAME_VAL(IOMMU_GET_HW_INFO);
SAME_VAL(IOMMU_FAULT_QUEUE_ALLOC);
SAME_VAL(IOMMU_HWPT_ALLOC_NEST_PARENT);
SAME_VAL(IOMMU_HWPT_ALLOC_DIRTY_TRACKING);
SAME_VAL(IOMMU_HWPT_FAULT_ID_VALID);
SAME_VAL(IOMMU_HWPT_DATA_NONE);
SAME_VAL(IOMMU_HWPT_DATA_VTD_S1);
SAME_VAL(IOMMU_HWPT_DATA_SELFTEST);
SAME_VAL(IOMMU_PGFAULT_FLAGS_PASID_VALID);
SAME_VAL(IOMMU_PGFAULT_FLAGS_LAST_PAGE);
SAME_VAL(IOMMU_PGFAULT_PERM_READ);
SAME_VAL(IOMMU_PGFAULT_PERM_WRITE);
SAME_VAL(IOMMU_PGFAULT_PERM_EXEC);
SAME_VAL(IOMMU_PGFAULT_PERM_PRIV);
SAME_VAL(IOMMUFD_PAGE_RESP_SUCCESS);
SAME_VAL(IOMMUFD_PAGE_RESP_INVALID);

#ifdef KT_HAS_VIOMMU
SAME_STRUCT(iommu_viommu_alloc);
SAME_STRUCT(iommu_vdevice_alloc);
SAME_STRUCT(iommufd_vevent_header);
SAME_STRUCT(iommu_vevent_arm_smmuv3);
SAME_STRUCT(iommu_vevent_tegra241_cmdqv);
SAME_STRUCT(iommu_veventq_alloc);
SAME_OFF(iommu_viommu_alloc, flags);
SAME_OFF(iommu_viommu_alloc, type);
SAME_OFF(iommu_viommu_alloc, dev_id);
SAME_OFF(iommu_viommu_alloc, hwpt_id);
SAME_OFF(iommu_viommu_alloc, out_viommu_id);
SAME_OFF(iommu_viommu_alloc, data_len);
SAME_OFF(iommu_viommu_alloc, data_uptr);
SAME_OFF(iommu_vdevice_alloc, viommu_id);
SAME_OFF(iommu_vdevice_alloc, dev_id);
SAME_OFF(iommu_vdevice_alloc, out_vdevice_id);
SAME_OFF(iommu_vdevice_alloc, virt_id);
SAME_OFF(iommufd_vevent_header, flags);
SAME_OFF(iommufd_vevent_header, sequence);
SAME_OFF(iommu_veventq_alloc, flags);
SAME_OFF(iommu_veventq_alloc, viommu_id);
SAME_OFF(iommu_veventq_alloc, type);
SAME_OFF(iommu_veventq_alloc, veventq_depth);
SAME_OFF(iommu_veventq_alloc, out_veventq_id);
SAME_OFF(iommu_veventq_alloc, out_veventq_fd);
SAME_VAL(IOMMUFD_CMD_VIOMMU_ALLOC);
SAME_VAL(IOMMUFD_CMD_VDEVICE_ALLOC);
SAME_VAL(IOMMUFD_CMD_VEVENTQ_ALLOC);
SAME_VAL(IOMMU_VIOMMU_ALLOC);
SAME_VAL(IOMMU_VDEVICE_ALLOC);
SAME_VAL(IOMMU_VEVENTQ_ALLOC);
SAME_VAL(IOMMU_HWPT_ALLOC_PASID);
SAME_VAL(IOMMU_HWPT_DATA_ARM_SMMUV3);
SAME_VAL(IOMMU_VIOMMU_TYPE_DEFAULT);
SAME_VAL(IOMMU_VIOMMU_TYPE_ARM_SMMUV3);
SAME_VAL(IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV);
SAME_VAL(IOMMU_VEVENTQ_FLAG_LOST_EVENTS);
SAME_VAL(IOMMU_VEVENTQ_TYPE_DEFAULT);
SAME_VAL(IOMMU_VEVENTQ_TYPE_ARM_SMMUV3);
SAME_VAL(IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV);
#endif

int main(void)
{
#ifdef KT_HAS_VIOMMU
	puts("kt-abi: lib/uapi/iommufd.h matches the kernel's headers, vIOMMU, vDEVICE and vEVENTQ included (checked at compile time)");
#else
	puts("kt-abi: lib/uapi/iommufd.h matches the kernel's headers (checked at compile time; this kernel has no vIOMMU ABI to compare)");
#endif
	return 0;
}
