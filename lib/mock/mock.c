/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The mock kernel: the instance, its object ids, devices and HWPTs, and the
 * ioctl dispatcher. It follows drivers/iommu/iommufd/main.c (the size rules of
 * iommufd_fops_ioctl()), hw_pagetable.c (iommufd_hwpt_alloc()) and device.c of
 * Linux 6.12, with the differences of 6.10, 6.13, 6.15 and 7.3 where a mock is
 * asked to be one of those. Fault objects live in mock-fault.c, failure
 * injection in mock-inject.c.
 *
 * Where it differs from the kernel, on purpose:
 *  - only the commands libiopf uses exist (IOMMU_DESTROY, IOAS_ALLOC,
 *    HWPT_ALLOC, GET_HW_INFO, FAULT_QUEUE_ALLOC, VIOMMU_ALLOC,
 *    VDEVICE_ALLOC, VEVENTQ_ALLOC: vIOMMUs and what hangs on them live in
 *    mock-vevent.c); any other,
 *    IOMMU_IOAS_MAP included, is ENOTTY, and the VFIO compatibility ioctls
 *    are not emulated either;
 *  - devices come from iopf_mock_dev_new() and attach to HWPTs only through
 *    iopf_mock_dev_attach() (VFIO's job in the kernel); attaching to an IOAS
 *    (an automatic domain) is not emulated;
 *  - the emulated IOMMU driver accepts any non-zero data_type for a nested
 *    HWPT (the kernel's selftest driver wants IOMMU_HWPT_DATA_SELFTEST, real
 *    ones their own type), so tests may pass whatever their VMM passes;
 *  - contexts made from one mock share its objects, as dup()s of one
 *    /dev/iommu fd would: freeing a context destroys nothing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "mock-internal.h"

#define mock_offsetofend(type, member)                                         \
	(offsetof(type, member) + sizeof(((type *)0)->member))

#define MOCK_HW_CAP_DIRTY_TRACKING (1ull << 0) /* IOMMU_HW_CAP_DIRTY_TRACKING  \
						*/

/* ---- user memory -------------------------------------------------------- */

/*
 * copy_from_user()/copy_to_user(). The uapi structs, and the buffers they
 * point to, are user memory which the kernel may find unmapped and answer
 * EFAULT for. process_vm_readv()/writev() on ourselves give that same answer
 * instead of a crash. Where they are refused (seccomp, no such syscall) the
 * pointer is trusted.
 */
static int mock_uaccess(void *local, void *remote, size_t len, bool to_user)
{
	struct iovec l = {.iov_base = local, .iov_len = len};
	struct iovec r = {.iov_base = remote, .iov_len = len};
	ssize_t n;

	if (!len)
		return 0;
	if (!remote)
		return -EFAULT;
	if (to_user)
		n = process_vm_writev(getpid(), &l, 1, &r, 1, 0);
	else
		n = process_vm_readv(getpid(), &l, 1, &r, 1, 0);
	if (n >= 0 && (size_t)n != len)
		return -EFAULT;
	if (n < 0 && errno == EFAULT)
		return -EFAULT;
	/* Copied (or unchecked): copy again by hand so that memory checkers
	 * see the bytes written, which they cannot follow through the
	 * syscall. */
	if (to_user)
		memcpy(remote, local, len);
	else if (n < 0)
		memcpy(local, remote, len);
	return 0;
}

int mock_copy_from_user(void *dst, const void *src, size_t len)
{
	return mock_uaccess(dst, (void *)src, len, false);
}

int mock_copy_to_user(void *dst, const void *src, size_t len)
{
	return mock_uaccess((void *)src, dst, len, true);
}

/* check_zeroed_user(): 1 if all zero, 0 if not, -EFAULT. */
static int mock_check_zeroed_user(const unsigned char *src, size_t len)
{
	unsigned char tmp[256];

	while (len) {
		size_t n = len < sizeof(tmp) ? len : sizeof(tmp);
		int rc = mock_copy_from_user(tmp, src, n);

		if (rc)
			return rc;
		for (size_t i = 0; i < n; i++)
			if (tmp[i])
				return 0;
		src += n;
		len -= n;
	}
	return 1;
}

/* copy_struct_from_user(): trailing bytes the kernel does not know must be
 * zero (E2BIG), missing ones read as zero. */
static int mock_copy_struct_from_user(void *dst, size_t ksize, const void *src,
				      size_t usize)
{
	size_t size = ksize < usize ? ksize : usize;

	if (usize > ksize) {
		int rc = mock_check_zeroed_user(
			(const unsigned char *)src + ksize, usize - ksize);

		if (rc <= 0)
			return rc ? rc : -E2BIG;
	}
	return mock_copy_from_user(dst, src, size);
}

/* A driver reading the data of IOMMU_HWPT_ALLOC (data_uptr, data_len). */
static int mock_read_user_data(uint64_t uptr, uint32_t len)
{
	const unsigned char *p = (const unsigned char *)(uintptr_t)uptr;
	unsigned char tmp[4096];

	while (len) {
		uint32_t n = len < sizeof(tmp) ? len : (uint32_t)sizeof(tmp);
		int rc = mock_copy_from_user(tmp, p, n);

		if (rc)
			return rc;
		p += n;
		len -= n;
	}
	return 0;
}

/* clear_user() */
static int mock_clear_user(uint64_t uptr, uint32_t len)
{
	static const unsigned char zero[4096];
	unsigned char *p = (unsigned char *)(uintptr_t)uptr;

	while (len) {
		uint32_t n = len < sizeof(zero) ? len : (uint32_t)sizeof(zero);
		int rc = mock_copy_to_user(p, zero, n);

		if (rc)
			return rc;
		p += n;
		len -= n;
	}
	return 0;
}

/* iommufd_ucmd_respond(): the whole struct goes back, cut to the user's
 * size, so outputs past a short user struct are simply not written. */
int mock_ucmd_respond(struct mock_ucmd *ucmd)
{
	size_t len =
		ucmd->user_size < ucmd->ksize ? ucmd->user_size : ucmd->ksize;

	return mock_copy_to_user(ucmd->ubuffer, ucmd->cmd, len);
}

/* ---- objects ------------------------------------------------------------ */

struct mock_obj *mock_obj_find(struct iopf_mock *m, uint32_t id, uint32_t type)
{
	struct mock_obj *obj;

	if (!id || id >= m->nobjs)
		return NULL;
	obj = m->objs[id];
	if (!obj || (type && obj->type != type))
		return NULL;
	return obj;
}

/*
 * _iommufd_object_alloc() takes its id with xa_alloc() on an XA_FLAGS_ALLOC1
 * xarray limited to 31 bits: the lowest free id from 1, so ids are reused
 * as soon as their object is destroyed.
 */
int mock_obj_insert(struct iopf_mock *m, struct mock_obj *obj, uint32_t type)
{
	uint32_t id;

	for (id = 1; id < m->nobjs && m->objs[id]; id++)
		;
	if (id > INT32_MAX)
		return -EBUSY; /* what xa_alloc() says when full */
	if (id >= m->nobjs) {
		uint32_t n = m->nobjs ? m->nobjs * 2 : 16;
		/* An array of pointers: sizeof(*p) is a pointer's size. */
		/* NOLINTNEXTLINE(bugprone-sizeof-expression) */
		struct mock_obj **p = realloc(m->objs, n * sizeof(*p));

		if (!p)
			return -ENOMEM;
		/* NOLINTNEXTLINE(bugprone-sizeof-expression) */
		memset(p + m->nobjs, 0, (n - m->nobjs) * sizeof(*p));
		m->objs = p;
		m->nobjs = n;
	}
	obj->id = id;
	obj->type = type;
	obj->users = 1;
	m->objs[id] = obj;
	return 0;
}

int mock_fd_bind(struct iopf_mock *m, int fd, struct mock_obj *obj)
{
	if (fd < 0)
		return -EBADF;
	if ((uint32_t)fd >= m->nfd_objs) {
		uint32_t n = m->nfd_objs ? m->nfd_objs : 64;
		struct mock_obj **p;

		while (n <= (uint32_t)fd)
			n *= 2;
		p = realloc(m->fd_objs, n * sizeof(*p));
		if (!p)
			return -ENOMEM;
		memset(p + m->nfd_objs, 0, (n - m->nfd_objs) * sizeof(*p));
		m->fd_objs = p;
		m->nfd_objs = n;
	}
	m->fd_objs[fd] = obj;
	return 0;
}

void mock_fd_unbind(struct iopf_mock *m, int fd)
{
	if (fd >= 0 && (uint32_t)fd < m->nfd_objs)
		m->fd_objs[fd] = NULL;
}

struct mock_obj *mock_fd_obj(struct iopf_mock *m, int fd, uint32_t type)
{
	struct mock_obj *obj;

	if (fd < 0 || (uint32_t)fd >= m->nfd_objs)
		return NULL;
	obj = m->fd_objs[fd];
	return obj && obj->type == type ? obj : NULL;
}

void mock_obj_remove(struct iopf_mock *m, struct mock_obj *obj)
{
	m->objs[obj->id] = NULL;
}

/* The object's ops->destroy(): drops what it holds. It is already out of the
 * table. */
static void mock_obj_destroy(struct iopf_mock *m, struct mock_obj *obj)
{
	struct mock_hwpt *hwpt;

	switch (obj->type) {
	case MOCK_OBJ_HWPT_PAGING:
	case MOCK_OBJ_HWPT_NESTED:
		/* iommufd_hwpt_{paging,nested}_destroy() */
		hwpt = (struct mock_hwpt *)obj;
		hwpt->pt->users--;
		if (hwpt->fault)
			hwpt->fault->obj.users--;
		free(hwpt);
		break;
	case MOCK_OBJ_FAULT:
		mock_fault_destroy(m, (struct mock_fault *)obj);
		break;
	case MOCK_OBJ_VIOMMU:
	case MOCK_OBJ_VDEVICE:
	case MOCK_OBJ_VEVENTQ:
		mock_vobj_destroy(m, obj);
		break;
	default:
		free(obj);
		break;
	}
}

/* ---- the instance -------------------------------------------------------- */

void mock_ref(struct iopf_mock *m)
{
	m->refs++;
}

/*
 * The last reference is gone: no context and no fault fd is left. Like
 * iommufd_fops_release(), destroy leaf objects (only the table holds them)
 * until none is left; devices go first, detached, as VFIO would unbind them.
 * Whatever groups are left are answered INVALID by the fault objects'
 * destruction (AUTO_TEARDOWN).
 */
static void mock_teardown(struct iopf_mock *m)
{
	bool progress = true;
	uint32_t id;

	for (id = 1; id < m->nobjs; id++) {
		struct mock_dev *dev = (struct mock_dev *)m->objs[id];

		if (!dev || dev->obj.type != MOCK_OBJ_DEVICE)
			continue;
		if (dev->hwpt)
			dev->hwpt->obj.users--;
		mock_obj_remove(m, &dev->obj);
		free(dev);
	}
	while (progress) {
		progress = false;
		for (id = 1; id < m->nobjs; id++) {
			struct mock_obj *obj = m->objs[id];

			if (!obj || obj->users != 1)
				continue;
			mock_obj_remove(m, obj);
			mock_obj_destroy(m, obj);
			progress = true;
		}
	}
	/* Nothing can be left (a fault fd holds the mock itself); free it
	 * anyway without following references. */
	for (id = 1; id < m->nobjs; id++) {
		struct mock_obj *obj = m->objs[id];

		if (!obj)
			continue;
		if (obj->type == MOCK_OBJ_FAULT)
			mock_fault_destroy(m, (struct mock_fault *)obj);
		else if (obj->type >= MOCK_OBJ_VIOMMU)
			mock_vobj_free(obj);
		else
			free(obj);
	}
	mock_groups_free(m);
	free(m->objs);
	free(m->fd_objs);
	free(m->ginfo);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

void mock_unref(struct iopf_mock *m)
{
	bool last;

	pthread_mutex_lock(&m->lock);
	last = --m->refs == 0;
	pthread_mutex_unlock(&m->lock);
	if (last)
		mock_teardown(m);
}

IOPF_EXPORT int iopf_mock_new(const struct iopf_mock_opts *opts,
			      struct iopf_mock **out)
{
	struct iopf_mock_opts o = {.size = sizeof(o)};
	struct iopf_mock *m;
	int nofit, rc;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (opts) {
		rc = copy_sized(&o, sizeof(o), opts, sizeof(o));
		if (rc)
			return rc;
	}
	if (o.flags & ~IOPF_MOCK_NOFIT_ZERO)
		return -EINVAL;
	switch (o.kernel) {
	case 0:
		o.kernel = IOPF_MOCK_KERNEL_6_12;
		break;
	case IOPF_MOCK_KERNEL_6_10:
	case IOPF_MOCK_KERNEL_6_12:
	case IOPF_MOCK_KERNEL_6_13:
	case IOPF_MOCK_KERNEL_6_15:
	case IOPF_MOCK_KERNEL_7_3:
		break;
	default:
		return -EINVAL;
	}
	if (o.flags & IOPF_MOCK_NOFIT_ZERO) {
		if (o.nofit_errno)
			return -EINVAL; /* two answers asked for */
		nofit = 0;
	} else if (o.nofit_errno > MOCK_MAX_ERRNO) {
		return -EINVAL;
	} else {
		nofit = -(int)(o.nofit_errno ? o.nofit_errno : EINVAL);
	}

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	rc = pthread_mutex_init(&m->lock, NULL);
	if (rc) {
		free(m);
		return -rc;
	}
	m->refs = 1;
	m->kernel = o.kernel;
	m->nofit_res = nofit;
	m->st.size = sizeof(m->st);
	*out = m;
	return 0;
}

IOPF_EXPORT void iopf_mock_free(struct iopf_mock *m)
{
	if (m)
		mock_unref(m);
}

/* ---- ioctl commands ----------------------------------------------------- */

/* iommufd_destroy() -> iommufd_object_remove() */
static int mock_destroy(struct iopf_mock *m, struct mock_ucmd *ucmd)
{
	struct iommu_destroy *cmd = ucmd->cmd;
	struct mock_obj *obj = mock_obj_find(m, cmd->id, 0);

	if (!obj)
		return -ENOENT;
	/* Something else holds it: a HWPT its IOAS or parent or fault object,
	 * an open fd its fault object, an attached device its HWPT. A device
	 * is held by its (emulated) VFIO binding, so it is always EBUSY. */
	if (obj->users != 1)
		return -EBUSY;
	mock_obj_remove(m, obj);
	mock_obj_destroy(m, obj);
	return 0;
}

/* iommufd_ioas_alloc_ioctl() */
static int mock_ioas_alloc(struct iopf_mock *m, struct mock_ucmd *ucmd)
{
	struct iommu_ioas_alloc *cmd = ucmd->cmd;
	struct mock_obj *ioas;
	int rc;

	if (cmd->flags)
		return -EOPNOTSUPP;
	ioas = calloc(1, sizeof(*ioas));
	if (!ioas)
		return -ENOMEM;
	rc = mock_obj_insert(m, ioas, MOCK_OBJ_IOAS);
	if (rc) {
		free(ioas);
		return rc;
	}
	cmd->out_ioas_id = ioas->id;
	rc = mock_ucmd_respond(ucmd);
	if (rc) {
		mock_obj_remove(m, ioas);
		free(ioas);
	}
	return rc;
}

/* The flags iommufd_hwpt_paging_alloc() takes (valid_flags). FAULT_ID_VALID
 * joined in 6.13, ALLOC_PASID in 6.15 (see tests/kernel/kt-abi.c for what
 * is known of that date). 7.3 takes the same flags (hw_pagetable.c). */
static uint32_t mock_paging_flags(const struct iopf_mock *m)
{
	uint32_t flags =
		IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING;

	if (m->kernel >= IOPF_MOCK_KERNEL_6_13)
		flags |= IOMMU_HWPT_FAULT_ID_VALID;
	if (m->kernel >= IOPF_MOCK_KERNEL_6_15)
		flags |= IOMMU_HWPT_ALLOC_PASID;
	return flags;
}

/* ... and iommufd_hwpt_nested_alloc(): none before fault queues (6.11). */
static uint32_t mock_nested_flags(const struct iopf_mock *m)
{
	uint32_t flags = 0;

	if (m->kernel >= IOPF_MOCK_KERNEL_6_12)
		flags |= IOMMU_HWPT_FAULT_ID_VALID;
	if (m->kernel >= IOPF_MOCK_KERNEL_6_15)
		flags |= IOMMU_HWPT_ALLOC_PASID;
	return flags;
}

/* iommufd_hwpt_alloc(), its checks in the kernel's order. */
static int mock_hwpt_alloc(struct iopf_mock *m, struct mock_ucmd *ucmd)
{
	struct iommu_hwpt_alloc *cmd = ucmd->cmd;
	struct mock_fault *fault = NULL;
	struct mock_hwpt *hwpt;
	struct mock_obj *pt;
	uint32_t type;
	int rc;

	if (cmd->__reserved)
		return -EOPNOTSUPP;
	if ((cmd->data_type == IOMMU_HWPT_DATA_NONE && cmd->data_len) ||
	    (cmd->data_type != IOMMU_HWPT_DATA_NONE && !cmd->data_len))
		return -EINVAL;
	if (!mock_obj_find(m, cmd->dev_id, MOCK_OBJ_DEVICE))
		return -ENOENT; /* iommufd_get_device() */
	/* A pt_id that names nothing is EINVAL, not ENOENT: the kernel
	 * replaces the lookup's error. */
	pt = mock_obj_find(m, cmd->pt_id, 0);
	if (!pt)
		return -EINVAL;

	if (pt->type == MOCK_OBJ_IOAS) {
		/* iommufd_hwpt_paging_alloc(). The mock device can do dirty
		 * tracking. */
		if (cmd->flags & ~mock_paging_flags(m))
			return -EOPNOTSUPP;
		/*
		 * "iommufd: Disallow allocating nested parent domain with
		 * fault ID" came in 6.15 and went back to 6.12.y and 6.14.y,
		 * but not to 6.13.y (no longer maintained): 6.13 hands
		 * NEST_PARENT | FAULT_ID_VALID to the driver, which takes it.
		 */
		if ((cmd->flags & IOMMU_HWPT_FAULT_ID_VALID) &&
		    (cmd->flags & IOMMU_HWPT_ALLOC_NEST_PARENT) &&
		    m->kernel != IOPF_MOCK_KERNEL_6_13)
			return -EOPNOTSUPP;
		/* The driver (as the selftest's mock_domain_alloc_user())
		 * takes no data for a paging domain. */
		if (cmd->data_len)
			return -EOPNOTSUPP;
		type = MOCK_OBJ_HWPT_PAGING;
	} else if (pt->type == MOCK_OBJ_HWPT_PAGING) {
		/* iommufd_hwpt_nested_alloc() */
		if ((cmd->flags & ~mock_nested_flags(m)) || !cmd->data_len)
			return -EOPNOTSUPP;
		if (!((struct mock_hwpt *)pt)->nest_parent)
			return -EINVAL;
		/* The driver reads the user's stage-1 description. */
		rc = mock_read_user_data(cmd->data_uptr, cmd->data_len);
		if (rc)
			return rc;
		type = MOCK_OBJ_HWPT_NESTED;
	} else if (pt->type == MOCK_OBJ_VIOMMU) {
		/* A nested HWPT on a vIOMMU (6.13+): it holds the vIOMMU,
		 * not the vIOMMU's parent HWPT (mock-vevent.c). */
		rc = mock_viommu_hwpt_check(m, cmd);
		if (rc)
			return rc;
		type = MOCK_OBJ_HWPT_NESTED;
	} else {
		return -EINVAL;
	}

	if (cmd->flags & IOMMU_HWPT_FAULT_ID_VALID) {
		/* iommufd_get_fault() */
		fault = (struct mock_fault *)mock_obj_find(m, cmd->fault_id,
							   MOCK_OBJ_FAULT);
		if (!fault)
			return -ENOENT;
	}

	hwpt = calloc(1, sizeof(*hwpt));
	if (!hwpt)
		return -ENOMEM;
	rc = mock_obj_insert(m, &hwpt->obj, type);
	if (rc) {
		free(hwpt);
		return rc;
	}
	hwpt->pt = pt;
	hwpt->fault = fault;
	hwpt->nest_parent = type == MOCK_OBJ_HWPT_PAGING &&
			    (cmd->flags & IOMMU_HWPT_ALLOC_NEST_PARENT);
	cmd->out_hwpt_id = hwpt->obj.id;
	rc = mock_ucmd_respond(ucmd);
	if (rc) {
		mock_obj_remove(m, &hwpt->obj);
		free(hwpt);
		return rc;
	}
	pt->users++;
	if (fault)
		fault->obj.users++;
	return 0;
}

/* iommufd_get_hw_info() for a device whose driver has no hw_info op. */
static int mock_get_hw_info(struct iopf_mock *m, struct mock_ucmd *ucmd)
{
	struct iommu_hw_info *cmd = ucmd->cmd;
	int rc;

	if (cmd->flags || cmd->__reserved[0] || cmd->__reserved[1] ||
	    cmd->__reserved[2])
		return -EOPNOTSUPP;
	if (!mock_obj_find(m, cmd->dev_id, MOCK_OBJ_DEVICE))
		return -ENOENT;
	cmd->out_data_type = 0; /* IOMMU_HW_INFO_TYPE_NONE */
	/* The user's buffer past the (empty) data is zeroed. */
	if (cmd->data_len) {
		rc = mock_clear_user(cmd->data_uptr, cmd->data_len);
		if (rc)
			return rc;
	}
	cmd->data_len = 0;
	cmd->out_capabilities = MOCK_HW_CAP_DIRTY_TRACKING;
	cmd->out_max_pasid_log2 = 0;
	return mock_ucmd_respond(ucmd);
}

/* ---- ioctl dispatch: iommufd_fops_ioctl() ------------------------------- */

union mock_ucmd_buffer {
	struct iommu_destroy destroy;
	struct iommu_fault_alloc fault;
	struct iommu_hw_info info;
	struct iommu_hwpt_alloc hwpt;
	struct iommu_ioas_alloc ioas;
	struct iommu_vdevice_alloc vdevice;
	struct iommu_veventq_alloc veventq;
	struct iommu_viommu_alloc viommu;
};

struct mock_ioctl_op {
	unsigned long cmd;
	uint32_t size; /* sizeof the struct */
	uint32_t min_size; /* offsetofend of its last required member */
	uint32_t since; /* the first emulated kernel that has it */
	int (*execute)(struct iopf_mock *m, struct mock_ucmd *ucmd);
};

/* IOCTL_OP() of main.c, with the same last members. */
#define MOCK_IOCTL_OP(_ioctl, _fn, _struct, _last, _since)                     \
	{                                                                      \
		.cmd = (_ioctl), .size = sizeof(_struct),                      \
		.min_size = mock_offsetofend(_struct, _last),                  \
		.since = (_since), .execute = (_fn),                           \
	}

static const struct mock_ioctl_op mock_ioctl_ops[] = {
	MOCK_IOCTL_OP(IOMMU_DESTROY, mock_destroy, struct iommu_destroy, id,
		      IOPF_MOCK_KERNEL_6_10),
	MOCK_IOCTL_OP(IOMMU_FAULT_QUEUE_ALLOC, mock_fault_alloc,
		      struct iommu_fault_alloc, out_fault_fd,
		      IOPF_MOCK_KERNEL_6_12),
	MOCK_IOCTL_OP(IOMMU_GET_HW_INFO, mock_get_hw_info, struct iommu_hw_info,
		      __reserved, IOPF_MOCK_KERNEL_6_10),
	MOCK_IOCTL_OP(IOMMU_HWPT_ALLOC, mock_hwpt_alloc,
		      struct iommu_hwpt_alloc, __reserved,
		      IOPF_MOCK_KERNEL_6_10),
	MOCK_IOCTL_OP(IOMMU_IOAS_ALLOC, mock_ioas_alloc,
		      struct iommu_ioas_alloc, out_ioas_id,
		      IOPF_MOCK_KERNEL_6_10),
	MOCK_IOCTL_OP(IOMMU_VDEVICE_ALLOC, mock_vdevice_alloc,
		      struct iommu_vdevice_alloc, virt_id,
		      IOPF_MOCK_KERNEL_6_13),
	MOCK_IOCTL_OP(IOMMU_VEVENTQ_ALLOC, mock_veventq_alloc,
		      struct iommu_veventq_alloc, out_veventq_fd,
		      IOPF_MOCK_KERNEL_6_15),
	MOCK_IOCTL_OP(IOMMU_VIOMMU_ALLOC, mock_viommu_alloc,
		      struct iommu_viommu_alloc, out_viommu_id,
		      IOPF_MOCK_KERNEL_6_13),
};

static const struct mock_ioctl_op *mock_ioctl_lookup(const struct iopf_mock *m,
						     unsigned long cmd)
{
	const size_t n = sizeof(mock_ioctl_ops) / sizeof(mock_ioctl_ops[0]);

	for (size_t i = 0; i < n; i++) {
		const struct mock_ioctl_op *op = &mock_ioctl_ops[i];

		if (op->cmd == cmd && m->kernel >= op->since)
			return op;
	}
	return NULL;
}

static int mock_ioctl(void *be, unsigned long cmd, void *arg)
{
	struct iopf_mock *m = be;
	const struct mock_ioctl_op *op;
	union mock_ucmd_buffer buf;
	struct mock_ucmd ucmd = {.ubuffer = arg, .cmd = &buf};
	int rc;

	if (!m)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	/* An injected failure comes before anything the kernel checks. */
	rc = mock_inject_ioctl(m, _IOC_NR(cmd));
	if (rc)
		goto out;
	/* Unknown to this kernel: the VFIO compat path's -ENOIOCTLCMD, which
	 * the VFS turns into ENOTTY. */
	op = mock_ioctl_lookup(m, cmd);
	if (!op) {
		rc = -ENOTTY;
		goto out;
	}
	rc = mock_copy_from_user(&ucmd.user_size, arg, sizeof(ucmd.user_size));
	if (rc)
		goto out;
	if (ucmd.user_size < op->min_size) {
		rc = -EINVAL;
		goto out;
	}
	/* IOMMU_HWPT_ALLOC grew fault_id in 6.11: 6.10 knows 40 bytes. */
	ucmd.ksize = op->size;
	if (op->cmd == IOMMU_HWPT_ALLOC && m->kernel < IOPF_MOCK_KERNEL_6_12)
		ucmd.ksize = IOMMU_HWPT_ALLOC_SIZE_V1;
	memset(&buf, 0, sizeof(buf));
	rc = mock_copy_struct_from_user(&buf, ucmd.ksize, arg, ucmd.user_size);
	if (rc)
		goto out;
	rc = op->execute(m, &ucmd);
out:
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static void mock_release(void *be)
{
	if (be)
		mock_unref(be);
}

static const struct iopf_backend_ops mock_ops = {
	.ioctl = mock_ioctl,
	.poll_fd = mock_poll_fd,
	.read_prepare = mock_read_prepare,
	.read_done = mock_read_done,
	.write_done = mock_write_done,
	.fault_close = mock_fault_close,
	.release = mock_release,
};

IOPF_EXPORT int iopf_mock_ctx_new(struct iopf_mock *m, struct iopf_ctx **out)
{
	int fd, rc;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!m)
		return -EINVAL;
	/* A real fd for iopf_ctx_fd(), owned by the context. */
	fd = eventfd(0, EFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	pthread_mutex_lock(&m->lock);
	mock_ref(m);
	pthread_mutex_unlock(&m->lock);
	rc = iopf_ctx_new_backend(&mock_ops, m, fd, out);
	if (rc) {
		close(fd);
		mock_unref(m);
	}
	return rc;
}

/* ---- devices ------------------------------------------------------------ */

IOPF_EXPORT int iopf_mock_dev_new(struct iopf_mock *m, uint32_t *out_dev_id)
{
	struct mock_dev *dev;
	int rc;

	if (!m || !out_dev_id)
		return -EINVAL;
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	pthread_mutex_lock(&m->lock);
	rc = mock_obj_insert(m, &dev->obj, MOCK_OBJ_DEVICE);
	if (!rc) {
		/* iommufd_device_bind(): the driver that bound it holds it. */
		dev->obj.users++;
		*out_dev_id = dev->obj.id;
	}
	pthread_mutex_unlock(&m->lock);
	if (rc)
		free(dev);
	return rc;
}

/* The device leaves old: as iommufd_fault_domain_{detach,replace}_dev(), the
 * groups it raised there and nobody answered are answered INVALID. */
static void mock_dev_leave(struct iopf_mock *m, struct mock_dev *dev,
			   struct mock_hwpt *old)
{
	old->obj.users--;
	if (old->fault)
		mock_fault_auto_answer(m, old->fault, dev,
				       IOPF_MOCK_GROUP_AUTO_DETACH);
}

IOPF_EXPORT int iopf_mock_dev_attach(struct iopf_mock *m, uint32_t dev_id,
				     uint32_t hwpt_id)
{
	struct mock_hwpt *hwpt, *old;
	struct mock_dev *dev;
	int rc = 0;

	if (!m)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	dev = (struct mock_dev *)mock_obj_find(m, dev_id, MOCK_OBJ_DEVICE);
	hwpt = (struct mock_hwpt *)mock_obj_find(m, hwpt_id, 0);
	if (!dev || !hwpt ||
	    (hwpt->obj.type != MOCK_OBJ_HWPT_PAGING &&
	     hwpt->obj.type != MOCK_OBJ_HWPT_NESTED)) {
		rc = -ENOENT;
		goto out;
	}
	old = dev->hwpt;
	/* iommufd_device_do_replace(): the same HWPT again changes nothing. */
	if (old == hwpt)
		goto out;
	/* A nested HWPT on a vIOMMU wants the device's vDEVICE there. */
	rc = mock_viommu_attach(m, dev, hwpt);
	if (rc)
		goto out;
	/* Enabling IOPF for a HWPT with a fault object always works here. */
	hwpt->obj.users++;
	dev->hwpt = hwpt;
	if (old)
		mock_dev_leave(m, dev, old);
out:
	pthread_mutex_unlock(&m->lock);
	return rc;
}

IOPF_EXPORT int iopf_mock_dev_detach(struct iopf_mock *m, uint32_t dev_id)
{
	struct mock_dev *dev;
	int rc = 0;

	if (!m)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	dev = (struct mock_dev *)mock_obj_find(m, dev_id, MOCK_OBJ_DEVICE);
	if (!dev)
		rc = -ENOENT;
	else if (!dev->hwpt)
		rc = -EINVAL; /* not attached */
	else {
		struct mock_hwpt *old = dev->hwpt;

		dev->hwpt = NULL;
		mock_dev_leave(m, dev, old);
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

/* ---- what tests look at ------------------------------------------------- */

/* Sized output structs: the caller's size must cover the first version. */
static int mock_out_size_ok(const void *out, size_t first)
{
	uint32_t size;

	memcpy(&size, out, sizeof(size));
	return size >= first;
}

IOPF_EXPORT int iopf_mock_stats(struct iopf_mock *m, struct iopf_mock_stats *st)
{
	struct iopf_mock_stats copy;

	if (!m || !st || !mock_out_size_ok(st, sizeof(copy)))
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	copy = m->st;
	pthread_mutex_unlock(&m->lock);
	return fill_sized(st, &copy, sizeof(copy));
}

IOPF_EXPORT int iopf_mock_group_info(struct iopf_mock *m, uint64_t group_id,
				     struct iopf_mock_group_info *info)
{
	struct iopf_mock_group_info out = {.size = sizeof(out)};
	struct mock_ginfo gi;

	if (!m || !info || !mock_out_size_ok(info, sizeof(out)))
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	if (!group_id || group_id > m->ngroups) {
		pthread_mutex_unlock(&m->lock);
		return -ENOENT;
	}
	gi = m->ginfo[group_id];
	pthread_mutex_unlock(&m->lock);
	out.state = gi.state;
	out.cookie = gi.cookie;
	out.code = gi.code;
	out.answers = gi.answers;
	out.dev_id = gi.dev_id;
	return fill_sized(info, &out, sizeof(out));
}
