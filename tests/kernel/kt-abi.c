/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The library's copy of the ABI (lib/uapi/iommufd.h) against the test
 * kernel's own headers, at compile time: if this file builds, every size,
 * offset and constant the two share is equal. The kernel's values are taken
 * first; then the library's names are renamed with macros, its header is
 * included, and each pair is compared with _Static_assert.
 *
 * Names the library has and 6.12 has not are left out, each for its reason:
 * IOMMU_HWPT_ALLOC_PASID, IOMMU_HWPT_DATA_ARM_SMMUV3 (6.14), IOMMU_VEVENTQ_ALLOC
 * and its struct (6.15).
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

int main(void)
{
	puts("kt-abi: lib/uapi/iommufd.h matches the kernel's headers (checked at compile time)");
	return 0;
}
