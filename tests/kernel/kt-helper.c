/* SPDX-License-Identifier: MIT */
/* kt-helper: raw iommufd / IOMMU_TEST_CMD calls for the real-kernel tier. See
 * kt-helper.h. */
#include "kt-helper.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/version.h>
#include <iommufd_test.h>

static int kt_ioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) ? -errno : 0;
}

int kt_open(void)
{
	int fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int kt_open_or_skip(const char *prog)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd), .op = 0, /* no such op: EOPNOTSUPP from a
						 kernel with IOMMUFD_TEST */
	};
	struct iommu_fault_alloc fa = {.size = sizeof(fa), .flags = ~0u};
	int fd = kt_open();
	int rc;

	if (fd < 0) {
		fprintf(stderr, "%s: SKIP: /dev/iommu: %s\n", prog,
			strerror(-fd));
		exit(KT_EXIT_SKIP);
	}
	/* Without CONFIG_IOMMUFD_TEST the command number is unknown: ENOTTY. */
	rc = kt_ioctl(fd, IOMMU_TEST_CMD, &cmd);
	if (rc == -ENOTTY) {
		fprintf(stderr,
			"%s: SKIP: kernel without CONFIG_IOMMUFD_TEST\n", prog);
		exit(KT_EXIT_SKIP);
	}
	/* Fault queues are 6.11+: older kernels answer ENOTTY; 6.11+ rejects
	 * flags. */
	rc = kt_ioctl(fd, IOMMU_FAULT_QUEUE_ALLOC, &fa);
	if (rc == -ENOTTY) {
		fprintf(stderr,
			"%s: SKIP: kernel without IOMMU_FAULT_QUEUE_ALLOC\n",
			prog);
		exit(KT_EXIT_SKIP);
	}
	return fd;
}

int kt_ioas_alloc(int fd, uint32_t *ioas_id)
{
	struct iommu_ioas_alloc cmd = {.size = sizeof(cmd)};
	int rc = kt_ioctl(fd, IOMMU_IOAS_ALLOC, &cmd);

	if (!rc)
		*ioas_id = cmd.out_ioas_id;
	return rc;
}

int kt_mock_domain(int fd, uint32_t ioas_id, uint32_t *stdev_id,
		   uint32_t *hwpt_id, uint32_t *idev_id)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_MOCK_DOMAIN,
		.id = ioas_id,
	};
	int rc = kt_ioctl(fd, IOMMU_TEST_CMD, &cmd);

	if (rc)
		return rc;
	if (stdev_id)
		*stdev_id = cmd.mock_domain.out_stdev_id;
	if (hwpt_id)
		*hwpt_id = cmd.mock_domain.out_hwpt_id;
	if (idev_id)
		*idev_id = cmd.mock_domain.out_idev_id;
	return 0;
}

int kt_mock_domain_flags(int fd, uint32_t ioas_id, uint32_t dev_flags, uint32_t *stdev_id,
			 uint32_t *hwpt_id, uint32_t *idev_id)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS,
		.id = ioas_id,
		.mock_domain_flags = { .dev_flags = dev_flags },
	};
	int rc = kt_ioctl(fd, IOMMU_TEST_CMD, &cmd);

	if (rc)
		return rc;
	if (stdev_id)
		*stdev_id = cmd.mock_domain_flags.out_stdev_id;
	if (hwpt_id)
		*hwpt_id = cmd.mock_domain_flags.out_hwpt_id;
	if (idev_id)
		*idev_id = cmd.mock_domain_flags.out_idev_id;
	return 0;
}

int kt_mock_domain_replace(int fd, uint32_t stdev_id, uint32_t pt_id)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE,
		.id = stdev_id,
		.mock_domain_replace = {.pt_id = pt_id},
	};

	return kt_ioctl(fd, IOMMU_TEST_CMD, &cmd);
}

static int kt_hwpt_alloc(int fd, struct iommu_hwpt_alloc *cmd, uint32_t *out)
{
	int rc = kt_ioctl(fd, IOMMU_HWPT_ALLOC, cmd);

	if (!rc)
		*out = cmd->out_hwpt_id;
	return rc;
}

int kt_hwpt_alloc_parent(int fd, uint32_t idev_id, uint32_t ioas_id,
			 uint32_t *out)
{
	return kt_hwpt_alloc_parent_flags(fd, idev_id, ioas_id, 0, out);
}

int kt_hwpt_alloc_parent_flags(int fd, uint32_t idev_id, uint32_t ioas_id, uint32_t flags,
			       uint32_t *out)
{
	struct iommu_hwpt_alloc cmd = {
		.size = sizeof(cmd),
		.flags = IOMMU_HWPT_ALLOC_NEST_PARENT | flags,
		.dev_id = idev_id,
		.pt_id = ioas_id,
		.data_type = IOMMU_HWPT_DATA_NONE,
	};

	return kt_hwpt_alloc(fd, &cmd, out);
}

int kt_hwpt_alloc_nested(int fd, uint32_t idev_id, uint32_t parent_id,
			 uint32_t fault_id, uint32_t *out)
{
	struct iommu_hwpt_alloc cmd = {
		.size = sizeof(cmd),
		.dev_id = idev_id,
		.pt_id = parent_id,
	};
	void *data;

	kt_nested_data(&data, &cmd.data_len, &cmd.data_type);
	cmd.data_uptr = (uintptr_t)data;
	if (fault_id) {
		cmd.flags |= IOMMU_HWPT_FAULT_ID_VALID;
		cmd.fault_id = fault_id;
	}
	return kt_hwpt_alloc(fd, &cmd, out);
}

int kt_fault_alloc(int fd, uint32_t *fault_id, int *fault_fd)
{
	struct iommu_fault_alloc cmd = {.size = sizeof(cmd)};
	int rc = kt_ioctl(fd, IOMMU_FAULT_QUEUE_ALLOC, &cmd);

	if (rc)
		return rc;
	*fault_id = cmd.out_fault_id;
	*fault_fd = (int)cmd.out_fault_fd;
	return 0;
}

int kt_trigger_iopf(int fd, uint32_t dev_id, uint32_t pasid, uint32_t grpid,
		    uint32_t perm, uint64_t addr)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_TRIGGER_IOPF,
		.trigger_iopf =
			{
				.dev_id = dev_id,
				.pasid = pasid,
				.grpid = grpid,
				.perm = perm,
				.addr = addr,
			},
	};

	return kt_ioctl(fd, IOMMU_TEST_CMD, &cmd);
}

int kt_trigger_vevent(int fd, uint32_t dev_id)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 15, 0)
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_TRIGGER_VEVENT,
		.trigger_vevent = {.dev_id = dev_id},
	};

	return kt_ioctl(fd, IOMMU_TEST_CMD, &cmd);
#else
	(void)fd;
	(void)dev_id;
	return -EOPNOTSUPP; /* the selftest op came with vEVENTQs (6.15) */
#endif
}

int kt_patched(int fd)
{
	/* dev_id 0 is never an object: the patched op looks it up (ENOENT), a
	 * stock kernel does not know the op (EOPNOTSUPP). */
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_IOPF_RESP_STATS,
	};
	int rc = kt_ioctl(fd, IOMMU_TEST_CMD, &cmd);

	if (rc == -ENOENT)
		return 1;
	if (rc == -EOPNOTSUPP)
		return 0;
	return rc ? rc : -EPROTO;
}

int kt_trigger_iopf_flags(int fd, uint32_t dev_id, uint32_t pasid,
			  uint32_t grpid, uint32_t perm, uint64_t addr,
			  int last)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_TRIGGER_IOPF_FLAGS,
		.trigger_iopf_flags =
			{
				.dev_id = dev_id,
				.pasid = pasid,
				.grpid = grpid,
				.perm = perm,
				.addr = addr,
				.flags = last ? IOMMU_TEST_IOPF_LAST_PAGE : 0,
			},
	};

	return kt_ioctl(fd, IOMMU_TEST_CMD, &cmd);
}

int kt_resp_stats(int fd, uint32_t dev_id, struct kt_resp_stats *st, int reset)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_IOPF_RESP_STATS,
		.iopf_resp_stats =
			{
				.dev_id = dev_id,
				.flags =
					reset ? IOMMU_TEST_IOPF_RESP_STATS_RESET
					      : 0,
			},
	};
	int rc = kt_ioctl(fd, IOMMU_TEST_CMD, &cmd);

	if (rc)
		return rc;
	st->success = cmd.iopf_resp_stats.out_success;
	st->invalid = cmd.iopf_resp_stats.out_invalid;
	st->failure = cmd.iopf_resp_stats.out_failure;
	st->total = st->success + st->invalid + st->failure;
	st->last_grpid = cmd.iopf_resp_stats.out_last_grpid;
	st->last_pasid = cmd.iopf_resp_stats.out_last_pasid;
	st->last_code = cmd.iopf_resp_stats.out_last_code;
	return 0;
}

int kt_kernel_version(void)
{
	struct utsname u;
	unsigned int major, minor;

	if (uname(&u))
		return -errno;
	if (sscanf(u.release, "%u.%u", &major, &minor) != 2 || minor > 99 ||
	    major > 99)
		return -EINVAL;
	return (int)(major * 100 + minor);
}

int kt_viommu_type(uint32_t *type)
{
#ifdef IOMMU_VIOMMU_TYPE_SELFTEST
	*type = IOMMU_VIOMMU_TYPE_SELFTEST;
	return 0;
#else
	*type = 0;
	return -EOPNOTSUPP;
#endif
}

/* 7.3's iommufd_test.h defines MOCK_PASID_WIDTH with the PASID ops (enums cannot be
 * tested by the preprocessor); 6.12's has neither. */
#ifdef MOCK_PASID_WIDTH
int kt_mock_flags_pasid(uint32_t *flags, uint32_t *reserved)
{
	*flags = MOCK_FLAGS_DEVICE_PASID;
	*reserved = IOMMU_TEST_PASID_RESERVED;
	return 0;
}

static int kt_pasid_op(int fd, uint32_t op, uint32_t stdev_id, uint32_t pasid, uint32_t pt_id)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = op,
		.id = stdev_id,
	};

	switch (op) {
	case IOMMU_TEST_OP_PASID_ATTACH:
		cmd.pasid_attach.pasid = pasid;
		cmd.pasid_attach.pt_id = pt_id;
		break;
	case IOMMU_TEST_OP_PASID_REPLACE:
		cmd.pasid_replace.pasid = pasid;
		cmd.pasid_replace.pt_id = pt_id;
		break;
	case IOMMU_TEST_OP_PASID_DETACH:
		cmd.pasid_detach.pasid = pasid;
		break;
	default:
		cmd.pasid_check.pasid = pasid;
		cmd.pasid_check.hwpt_id = pt_id;
		break;
	}
	return kt_ioctl(fd, IOMMU_TEST_CMD, &cmd);
}

int kt_pasid_attach(int fd, uint32_t stdev_id, uint32_t pasid, uint32_t pt_id)
{
	return kt_pasid_op(fd, IOMMU_TEST_OP_PASID_ATTACH, stdev_id, pasid, pt_id);
}

int kt_pasid_replace(int fd, uint32_t stdev_id, uint32_t pasid, uint32_t pt_id)
{
	return kt_pasid_op(fd, IOMMU_TEST_OP_PASID_REPLACE, stdev_id, pasid, pt_id);
}

int kt_pasid_detach(int fd, uint32_t stdev_id, uint32_t pasid)
{
	return kt_pasid_op(fd, IOMMU_TEST_OP_PASID_DETACH, stdev_id, pasid, 0);
}

int kt_pasid_check_hwpt(int fd, uint32_t stdev_id, uint32_t pasid, uint32_t hwpt_id)
{
	return kt_pasid_op(fd, IOMMU_TEST_OP_PASID_CHECK_HWPT, stdev_id, pasid, hwpt_id);
}
#else
int kt_mock_flags_pasid(uint32_t *flags, uint32_t *reserved)
{
	*flags = 0;
	*reserved = 0;
	return -EOPNOTSUPP;
}

int kt_pasid_attach(int fd, uint32_t stdev_id, uint32_t pasid, uint32_t pt_id)
{
	return -EOPNOTSUPP;
}

int kt_pasid_replace(int fd, uint32_t stdev_id, uint32_t pasid, uint32_t pt_id)
{
	return -EOPNOTSUPP;
}

int kt_pasid_detach(int fd, uint32_t stdev_id, uint32_t pasid)
{
	return -EOPNOTSUPP;
}

int kt_pasid_check_hwpt(int fd, uint32_t stdev_id, uint32_t pasid, uint32_t hwpt_id)
{
	return -EOPNOTSUPP;
}
#endif

int kt_destroy(int fd, uint32_t id)
{
	struct iommu_destroy cmd = {.size = sizeof(cmd), .id = id};

	return kt_ioctl(fd, IOMMU_DESTROY, &cmd);
}

int kt_nested_data(void **data, uint32_t *len, uint32_t *type)
{
	/* Read-only for the kernel; static so the pointer stays valid for the
	 * caller. */
	static struct iommu_hwpt_selftest selftest = {
		.iotlb = IOMMU_TEST_IOTLB_DEFAULT};

	*data = &selftest;
	*len = sizeof(selftest);
	*type = IOMMU_HWPT_DATA_SELFTEST;
	return 0;
}

int kt_mock_setup(struct kt_mock *m, int fd)
{
	return kt_mock_setup_flags(m, fd, 0, 0);
}

int kt_mock_setup_flags(struct kt_mock *m, int fd, uint32_t dev_flags, uint32_t parent_flags)
{
	int rc;

	memset(m, 0, sizeof(*m));
	m->fd = fd;
	rc = kt_ioas_alloc(fd, &m->ioas_id);
	if (rc)
		return rc;
	if (dev_flags)
		rc = kt_mock_domain_flags(fd, m->ioas_id, dev_flags, &m->stdev_id, &m->hwpt_id,
					  &m->idev_id);
	else
		rc = kt_mock_domain(fd, m->ioas_id, &m->stdev_id, &m->hwpt_id, &m->idev_id);
	if (rc)
		goto err_ioas;
	rc = kt_hwpt_alloc_parent_flags(fd, m->idev_id, m->ioas_id, parent_flags, &m->parent_id);
	if (rc)
		goto err_stdev;
	return 0;

err_stdev:
	kt_destroy(fd, m->stdev_id);
err_ioas:
	kt_destroy(fd, m->ioas_id);
	memset(m, 0, sizeof(*m));
	return rc;
}

static void keep_first(int *first, int rc)
{
	if (rc && !*first)
		*first = rc;
}

int kt_mock_teardown(struct kt_mock *m)
{
	int first = 0;

	if (m->stdev_id) {
		keep_first(&first, kt_mock_domain_replace(m->fd, m->stdev_id,
							  m->parent_id));
		keep_first(&first, kt_destroy(m->fd, m->stdev_id));
	}
	if (m->parent_id)
		keep_first(&first, kt_destroy(m->fd, m->parent_id));
	if (m->ioas_id)
		keep_first(&first, kt_destroy(m->fd, m->ioas_id));
	memset(m, 0, sizeof(*m));
	m->fd = -1;
	return first;
}
