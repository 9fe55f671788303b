/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The mock kernel itself, tested directly: commands through ctx_ioctl() on
 * the uapi structs, and the fault fd through the backend's hooks around real
 * read(2)/write(2), as an engine uses them. Each check is something the
 * kernel (drivers/iommu/iommufd/ of 6.12, or 6.10/6.13/6.15 where asked) does.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <libiopf/mock.h>

#include "internal.h"
#include "mock/mock-internal.h"
#include "uapi/iommufd.h"

#define REC sizeof(struct iommu_hwpt_pgfault)
#define RSP sizeof(struct iommu_hwpt_page_response)

#define NEST_PARENT IOMMU_HWPT_ALLOC_NEST_PARENT
#define FAULT_ID_VALID IOMMU_HWPT_FAULT_ID_VALID

static const uint32_t selftest_data = 0xbadbeef; /* iommu_hwpt_selftest */

/* ---- raw commands ------------------------------------------------------- */

static int ioas_alloc(struct iopf_ctx *ctx, uint32_t *id)
{
	struct iommu_ioas_alloc c = { .size = sizeof(c) };
	int rc = ctx_ioctl(ctx, IOMMU_IOAS_ALLOC, &c);

	if (id)
		*id = rc ? 0 : c.out_ioas_id;
	return rc;
}

static int destroy(struct iopf_ctx *ctx, uint32_t id)
{
	struct iommu_destroy c = { .size = sizeof(c), .id = id };

	return ctx_ioctl(ctx, IOMMU_DESTROY, &c);
}

static struct iommu_hwpt_alloc hw(uint32_t flags, uint32_t dev, uint32_t pt,
				  uint32_t fault, bool data)
{
	struct iommu_hwpt_alloc c = {
		.size = sizeof(c),
		.flags = flags,
		.dev_id = dev,
		.pt_id = pt,
		.fault_id = fault,
	};

	if (data) {
		c.data_type = IOMMU_HWPT_DATA_SELFTEST;
		c.data_len = sizeof(selftest_data);
		c.data_uptr = (uintptr_t)&selftest_data;
	}
	return c;
}

static int hwpt(struct iopf_ctx *ctx, struct iommu_hwpt_alloc c, uint32_t *id)
{
	int rc = ctx_ioctl(ctx, IOMMU_HWPT_ALLOC, &c);

	if (id)
		*id = rc ? 0 : c.out_hwpt_id;
	return rc;
}

static int fault_alloc(struct iopf_ctx *ctx, uint32_t *id, int *fd)
{
	struct iommu_fault_alloc c = { .size = sizeof(c) };
	int rc = ctx_ioctl(ctx, IOMMU_FAULT_QUEUE_ALLOC, &c);

	*id = rc ? 0 : c.out_fault_id;
	*fd = rc ? -1 : (int)c.out_fault_fd;
	return rc;
}

static struct iopf_mock *mock_new(uint32_t kernel, uint32_t flags,
				  uint32_t nofit_errno)
{
	struct iopf_mock_opts o = {
		.size = sizeof(o),
		.kernel = kernel,
		.flags = flags,
		.nofit_errno = nofit_errno,
	};
	struct iopf_mock *m = NULL;

	assert_int_equal(iopf_mock_new(&o, &m), 0);
	assert_non_null(m);
	return m;
}

/* ---- the usual stack: ioas 1, dev 2, parent 3, fault 4, nested 5 -------- */

struct fx {
	struct iopf_mock *m;
	struct iopf_ctx *ctx;
	uint32_t ioas, dev, parent, fault_id, nested;
	int fd; /* the fault fd */
	int efd; /* what to poll for it */
	/* The context's backend, kept apart so that the fd can outlive it. */
	const struct iopf_backend_ops *ops;
	void *be;
};

static void fx_setup_m(struct fx *x, struct iopf_mock *m)
{
	memset(x, 0, sizeof(*x));
	x->m = m;
	assert_int_equal(iopf_mock_ctx_new(x->m, &x->ctx), 0);
	assert_int_equal(ioas_alloc(x->ctx, &x->ioas), 0);
	assert_int_equal(iopf_mock_dev_new(x->m, &x->dev), 0);
	assert_int_equal(hwpt(x->ctx,
			      hw(NEST_PARENT, x->dev, x->ioas, 0, false),
			      &x->parent),
			 0);
	assert_int_equal(fault_alloc(x->ctx, &x->fault_id, &x->fd), 0);
	assert_int_equal(hwpt(x->ctx,
			      hw(FAULT_ID_VALID, x->dev, x->parent, x->fault_id,
				 true),
			      &x->nested),
			 0);
	assert_int_equal(iopf_mock_dev_attach(x->m, x->dev, x->nested), 0);
	x->ops = x->ctx->ops;
	x->be = x->ctx->be;
	x->efd = x->ops->poll_fd(x->be, x->fd);
	assert_true(x->efd >= 0);
	assert_int_not_equal(x->efd, x->fd);
}

static void fx_setup(struct fx *x)
{
	fx_setup_m(x, mock_new(0, 0, 0));
}

static void fx_close_fd(struct fx *x)
{
	x->ops->fault_close(x->be, x->fd);
	x->fd = -1;
}

static void fx_teardown(struct fx *x)
{
	if (x->fd >= 0)
		fx_close_fd(x);
	iopf_ctx_free(x->ctx);
	iopf_mock_free(x->m);
}

/* ---- the fault fd, as an engine uses it --------------------------------- */

static ssize_t eng_read(struct fx *x, void *buf, size_t len)
{
	ssize_t res = 12345;

	if (x->ops->read_prepare(x->be, x->fd, len, &res))
		return res;
	res = read(x->fd, buf, len);
	if (res < 0)
		res = -errno;
	return x->ops->read_done(x->be, x->fd, buf, len, res);
}

static ssize_t eng_write(struct fx *x, const void *buf, size_t len)
{
	ssize_t res = write(x->fd, buf, len);

	if (res < 0)
		res = -errno;
	return x->ops->write_done(x->be, x->fd, buf, len, res);
}

static ssize_t answer(struct fx *x, uint32_t cookie, uint32_t code)
{
	struct iommu_hwpt_page_response r = { .cookie = cookie, .code = code };

	return eng_write(x, &r, sizeof(r));
}

/* White box: the mock's own end of the fault fd's socket pair. */
static int mock_end(struct fx *x)
{
	struct mock_fault *f;

	f = (struct mock_fault *)mock_obj_find(x->m, x->fault_id,
					       MOCK_OBJ_FAULT);
	assert_non_null(f);
	return f->mock_fd;
}

static bool readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* n faults at 0x1000 * (i + 1), READ. */
static int trig(struct fx *x, uint32_t dev, uint32_t grpid, unsigned int n,
		uint64_t *gid)
{
	struct iopf_mock_fault f[16];

	assert_true(n <= 16);
	memset(f, 0, sizeof(f));
	for (unsigned int i = 0; i < n; i++) {
		f[i].perm = IOPF_PERM_READ;
		f[i].addr = 0x1000ull * (i + 1);
	}
	return iopf_mock_trigger(x->m, dev, grpid, f, n, gid);
}

static struct iopf_mock_stats stats(struct iopf_mock *m)
{
	struct iopf_mock_stats st = { .size = sizeof(st) };

	assert_int_equal(iopf_mock_stats(m, &st), 0);
	return st;
}

static struct iopf_mock_group_info ginfo(struct iopf_mock *m, uint64_t gid)
{
	struct iopf_mock_group_info gi = { .size = sizeof(gi) };

	assert_int_equal(iopf_mock_group_info(m, gid, &gi), 0);
	return gi;
}

/* ---- instance and context ----------------------------------------------- */

static void test_new_args(void **state)
{
	struct iopf_mock_opts o = { .size = sizeof(o) };
	unsigned char big[sizeof(o) + 8];
	struct iopf_mock *m = (struct iopf_mock *)&o;
	(void)state;

	assert_int_equal(iopf_mock_new(NULL, NULL), -EINVAL);
	assert_int_equal(iopf_mock_new(&o, NULL), -EINVAL);

	o.size = 8;
	assert_int_equal(iopf_mock_new(&o, &m), -EINVAL);
	assert_null(m);
	o.size = sizeof(o);
	o.flags = 1u << 1;
	assert_int_equal(iopf_mock_new(&o, &m), -EINVAL);
	o.flags = 0;
	o.kernel = 611;
	assert_int_equal(iopf_mock_new(&o, &m), -EINVAL);
	o.kernel = 614;
	assert_int_equal(iopf_mock_new(&o, &m), -EINVAL);
	o.kernel = 0;
	o.flags = IOPF_MOCK_NOFIT_ZERO;
	o.nofit_errno = EINVAL; /* two answers at once */
	assert_int_equal(iopf_mock_new(&o, &m), -EINVAL);
	o.flags = 0;
	o.nofit_errno = 4096;
	assert_int_equal(iopf_mock_new(&o, &m), -EINVAL);
	o.nofit_errno = 0;

	/* A newer caller's bigger struct: unknown bytes must be zero. */
	memset(big, 0, sizeof(big));
	memcpy(big, &o, sizeof(o));
	((struct iopf_mock_opts *)big)->size = sizeof(big);
	big[sizeof(o) + 5] = 1;
	assert_int_equal(iopf_mock_new((struct iopf_mock_opts *)big, &m),
			 -E2BIG);
	big[sizeof(o) + 5] = 0;
	assert_int_equal(iopf_mock_new((struct iopf_mock_opts *)big, &m), 0);
	iopf_mock_free(m);

	for (uint32_t k = 610; k <= 615; k++) {
		o.kernel = k;
		if (k == 611 || k == 614) {
			assert_int_equal(iopf_mock_new(&o, &m), -EINVAL);
			continue;
		}
		assert_int_equal(iopf_mock_new(&o, &m), 0);
		iopf_mock_free(m);
	}
	o.kernel = IOPF_MOCK_KERNEL_7_3;
	assert_int_equal(iopf_mock_new(&o, &m), 0);
	iopf_mock_free(m);
	o.kernel = 702;
	assert_int_equal(iopf_mock_new(&o, &m), -EINVAL);

	assert_int_equal(iopf_mock_new(NULL, &m), 0);
	iopf_mock_free(m);
	iopf_mock_free(NULL);
}

static void test_ctx_new(void **state)
{
	struct iopf_ctx *ctx = (struct iopf_ctx *)state, *ctx2;
	struct iopf_mock *m = mock_new(0, 0, 0);
	uint32_t id;
	struct stat sb;
	int fd;

	assert_int_equal(iopf_mock_ctx_new(NULL, &ctx), -EINVAL);
	assert_null(ctx);
	assert_int_equal(iopf_mock_ctx_new(m, NULL), -EINVAL);

	assert_int_equal(iopf_mock_ctx_new(m, &ctx), 0);
	fd = iopf_ctx_fd(ctx);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);

	/* Two contexts over one mock see one object space. */
	assert_int_equal(iopf_mock_ctx_new(m, &ctx2), 0);
	assert_int_equal(ioas_alloc(ctx, &id), 0);
	assert_int_equal(id, 1);
	assert_int_equal(destroy(ctx2, id), 0);
	assert_int_equal(destroy(ctx, id), -ENOENT);

	/* The creator's reference goes first: the contexts keep it alive. */
	iopf_mock_free(m);
	assert_int_equal(ioas_alloc(ctx2, &id), 0);
	iopf_ctx_free(ctx2);
	assert_int_equal(ioas_alloc(ctx, &id), 0);
	assert_int_equal(id, 2);
	iopf_ctx_free(ctx);
}

/* ---- iommufd_fops_ioctl() ------------------------------------------------ */

static void test_ioctl_dispatch(void **state)
{
	struct iopf_mock *m = mock_new(0, 0, 0);
	struct iommu_ioas_alloc a = { .size = sizeof(a) };
	struct iommu_destroy d = { .size = 4 };
	unsigned char buf[32];
	struct iopf_ctx *ctx;
	(void)state;

	assert_int_equal(iopf_mock_ctx_new(m, &ctx), 0);
	/* Commands the mock does not have, or not this way. */
	assert_int_equal(ctx_ioctl(ctx, _IO(IOMMUFD_TYPE, 0x85), &a), -ENOTTY);
	assert_int_equal(ctx_ioctl(ctx, _IO('x', 0x81), &a), -ENOTTY);
	assert_int_equal(ctx_ioctl(ctx, _IOW(IOMMUFD_TYPE, 0x81, int), &a),
			 -ENOTTY);
	assert_int_equal(ctx_ioctl(ctx, _IO(IOMMUFD_TYPE, 0xa0), &a), -ENOTTY);

	/* The struct cannot be read. */
	assert_int_equal(ctx_ioctl(ctx, IOMMU_IOAS_ALLOC, NULL), -EFAULT);
	assert_int_equal(ctx_ioctl(ctx, IOMMU_IOAS_ALLOC, (void *)8), -EFAULT);

	/* Shorter than the last required member. */
	a.size = 8;
	assert_int_equal(ctx_ioctl(ctx, IOMMU_IOAS_ALLOC, &a), -EINVAL);
	a.size = 0;
	assert_int_equal(ctx_ioctl(ctx, IOMMU_IOAS_ALLOC, &a), -EINVAL);
	assert_int_equal(ctx_ioctl(ctx, IOMMU_DESTROY, &d), -EINVAL);

	/* Longer: zeroes are fine, anything else is E2BIG. */
	memset(buf, 0, sizeof(buf));
	a.size = sizeof(buf);
	memcpy(buf, &a, sizeof(a));
	buf[sizeof(buf) - 1] = 0x80;
	assert_int_equal(ctx_ioctl(ctx, IOMMU_IOAS_ALLOC, buf), -E2BIG);
	buf[sizeof(a)] = 1;
	buf[sizeof(buf) - 1] = 0;
	assert_int_equal(ctx_ioctl(ctx, IOMMU_IOAS_ALLOC, buf), -E2BIG);
	buf[sizeof(a)] = 0;
	assert_int_equal(ctx_ioctl(ctx, IOMMU_IOAS_ALLOC, buf), 0);
	memcpy(&a, buf, sizeof(a));
	assert_int_equal(a.out_ioas_id, 1);

	/* Unknown flags. */
	a.size = sizeof(a);
	a.flags = 1;
	assert_int_equal(ctx_ioctl(ctx, IOMMU_IOAS_ALLOC, &a), -EOPNOTSUPP);

	iopf_ctx_free(ctx);
	iopf_mock_free(m);
}

/* Outputs go back cut to the caller's size. */
static void test_ioctl_respond_size(void **state)
{
	struct iommu_hw_info info;
	unsigned char data[16], big[48];
	struct fx x;
	uint32_t id;
	(void)state;

	fx_setup(&x);
	memset(&info, 0, sizeof(info));
	info.size = 32; /* up to __reserved: no out_capabilities */
	info.dev_id = x.dev;
	info.out_capabilities = 0xdead;
	info.out_data_type = 77;
	memset(data, 0xa5, sizeof(data));
	info.data_len = sizeof(data);
	info.data_uptr = (uintptr_t)data;
	assert_int_equal(ctx_ioctl(x.ctx, IOMMU_GET_HW_INFO, &info), 0);
	assert_int_equal(info.out_capabilities, 0xdead);
	assert_int_equal(info.out_data_type, 0);
	assert_int_equal(info.data_len, 0);
	for (size_t i = 0; i < sizeof(data); i++)
		assert_int_equal(data[i], 0);

	info.size = sizeof(info);
	info.data_len = 0;
	assert_int_equal(ctx_ioctl(x.ctx, IOMMU_GET_HW_INFO, &info), 0);
	assert_int_equal(info.out_capabilities, 1);

	/* 48 bytes to a kernel that knows 40. */
	memset(big, 0, sizeof(big));
	memcpy(big, &info, sizeof(info));
	((struct iommu_hw_info *)big)->size = sizeof(big);
	assert_int_equal(ctx_ioctl(x.ctx, IOMMU_GET_HW_INFO, big), 0);
	big[44] = 1;
	assert_int_equal(ctx_ioctl(x.ctx, IOMMU_GET_HW_INFO, big), -E2BIG);

	/* IOMMU_HWPT_ALLOC at its minimum size: fault_id and data read as 0. */
	struct iommu_hwpt_alloc h = hw(NEST_PARENT, x.dev, x.ioas, 0, false);

	h.size = IOMMU_HWPT_ALLOC_MIN_SIZE;
	h.fault_id = 99;
	assert_int_equal(hwpt(x.ctx, h, &id), 0);
	assert_int_equal(id, 6);
	h.size = IOMMU_HWPT_ALLOC_MIN_SIZE - 4;
	assert_int_equal(hwpt(x.ctx, h, &id), -EINVAL);

	fx_teardown(&x);
}

static void test_hw_info(void **state)
{
	struct iommu_hw_info info = { .size = sizeof(info) };
	struct fx x;
	(void)state;

	fx_setup(&x);
	info.dev_id = x.ioas;
	assert_int_equal(ctx_ioctl(x.ctx, IOMMU_GET_HW_INFO, &info), -ENOENT);
	info.dev_id = 99;
	assert_int_equal(ctx_ioctl(x.ctx, IOMMU_GET_HW_INFO, &info), -ENOENT);
	info.dev_id = x.dev;
	info.flags = 1;
	assert_int_equal(ctx_ioctl(x.ctx, IOMMU_GET_HW_INFO, &info),
			 -EOPNOTSUPP);
	info.flags = 0;
	info.__reserved[1] = 1;
	assert_int_equal(ctx_ioctl(x.ctx, IOMMU_GET_HW_INFO, &info),
			 -EOPNOTSUPP);
	info.__reserved[1] = 0;
	info.data_len = 8; /* and nowhere to write it */
	assert_int_equal(ctx_ioctl(x.ctx, IOMMU_GET_HW_INFO, &info), -EFAULT);
	info.data_len = 0;
	assert_int_equal(ctx_ioctl(x.ctx, IOMMU_GET_HW_INFO, &info), 0);
	assert_int_equal(info.out_data_type, 0);
	assert_int_equal(info.out_max_pasid_log2, 0);
	fx_teardown(&x);
}

/* ---- object ids and IOMMU_DESTROY --------------------------------------- */

static void test_ids(void **state)
{
	struct iopf_mock *m = mock_new(0, 0, 0);
	struct iopf_ctx *ctx;
	uint32_t id, dev;
	(void)state;

	assert_int_equal(iopf_mock_ctx_new(m, &ctx), 0);
	for (uint32_t i = 1; i <= 20; i++) {
		assert_int_equal(ioas_alloc(ctx, &id), 0);
		assert_int_equal(id, i);
	}
	/* xa_alloc(): the lowest free id, reused at once. */
	assert_int_equal(destroy(ctx, 7), 0);
	assert_int_equal(destroy(ctx, 3), 0);
	assert_int_equal(ioas_alloc(ctx, &id), 0);
	assert_int_equal(id, 3);
	assert_int_equal(iopf_mock_dev_new(m, &dev), 0);
	assert_int_equal(dev, 7);
	assert_int_equal(ioas_alloc(ctx, &id), 0);
	assert_int_equal(id, 21);
	assert_int_equal(destroy(ctx, 1), 0);
	assert_int_equal(ioas_alloc(ctx, &id), 0);
	assert_int_equal(id, 1);
	iopf_ctx_free(ctx);
	iopf_mock_free(m);
}

static void test_destroy(void **state)
{
	struct fx x;
	(void)state;

	fx_setup(&x);
	assert_int_equal(destroy(x.ctx, 0), -ENOENT);
	assert_int_equal(destroy(x.ctx, 99), -ENOENT);
	/* Held: the IOAS by the parent, the parent by the nested HWPT, the
	 * nested HWPT by the attached device, the fault object by its fd and
	 * by the nested HWPT; a device by its binding, always. */
	assert_int_equal(destroy(x.ctx, x.ioas), -EBUSY);
	assert_int_equal(destroy(x.ctx, x.parent), -EBUSY);
	assert_int_equal(destroy(x.ctx, x.nested), -EBUSY);
	assert_int_equal(destroy(x.ctx, x.fault_id), -EBUSY);
	assert_int_equal(destroy(x.ctx, x.dev), -EBUSY);

	fx_close_fd(&x);
	assert_int_equal(destroy(x.ctx, x.fault_id), -EBUSY);
	assert_int_equal(iopf_mock_dev_detach(x.m, x.dev), 0);
	assert_int_equal(destroy(x.ctx, x.parent), -EBUSY);
	assert_int_equal(destroy(x.ctx, x.nested), 0);
	assert_int_equal(destroy(x.ctx, x.nested), -ENOENT);
	assert_int_equal(destroy(x.ctx, x.fault_id), 0);
	assert_int_equal(destroy(x.ctx, x.ioas), -EBUSY);
	assert_int_equal(destroy(x.ctx, x.parent), 0);
	assert_int_equal(destroy(x.ctx, x.ioas), 0);
	assert_int_equal(destroy(x.ctx, x.dev), -EBUSY);
	fx_teardown(&x);
}

/* ---- IOMMU_HWPT_ALLOC ---------------------------------------------------- */

static void test_hwpt_checks(void **state)
{
	struct iommu_hwpt_alloc h;
	struct fx x;
	uint32_t id, plain;
	(void)state;

	fx_setup(&x);
	/* In the order iommufd_hwpt_alloc() checks. */
	h = hw(0, x.dev, x.ioas, 0, false);
	h.__reserved = 1;
	assert_int_equal(hwpt(x.ctx, h, &id), -EOPNOTSUPP);
	h = hw(0, x.dev, x.ioas, 0, false);
	h.data_len = 4; /* no type */
	assert_int_equal(hwpt(x.ctx, h, &id), -EINVAL);
	h = hw(0, 99, 98, 0, true);
	h.data_len = 0; /* a type, no length */
	assert_int_equal(hwpt(x.ctx, h, &id), -EINVAL);
	assert_int_equal(hwpt(x.ctx, hw(0, x.ioas, x.ioas, 0, false), &id),
			 -ENOENT);
	assert_int_equal(hwpt(x.ctx, hw(0, 99, x.ioas, 0, false), &id),
			 -ENOENT);
	assert_int_equal(hwpt(x.ctx, hw(0, x.dev, 99, 0, false), &id), -EINVAL);
	assert_int_equal(hwpt(x.ctx, hw(0, x.dev, x.dev, 0, false), &id),
			 -EINVAL);
	assert_int_equal(hwpt(x.ctx, hw(0, x.dev, x.fault_id, 0, true), &id),
			 -EINVAL);
	assert_int_equal(hwpt(x.ctx, hw(0, x.dev, x.nested, 0, true), &id),
			 -EINVAL);

	/* Paging. */
	assert_int_equal(hwpt(x.ctx, hw(1u << 4, x.dev, x.ioas, 0, false), &id),
			 -EOPNOTSUPP);
	assert_int_equal(hwpt(x.ctx,
			      hw(IOMMU_HWPT_ALLOC_PASID, x.dev, x.ioas, 0,
				 false),
			      &id),
			 -EOPNOTSUPP);
	/* 6.12: fault_id only on nested HWPTs. */
	assert_int_equal(hwpt(x.ctx,
			      hw(FAULT_ID_VALID, x.dev, x.ioas, x.fault_id,
				 false),
			      &id),
			 -EOPNOTSUPP);
	assert_int_equal(hwpt(x.ctx, hw(0, x.dev, x.ioas, 0, true), &id),
			 -EOPNOTSUPP);
	assert_int_equal(hwpt(x.ctx,
			      hw(IOMMU_HWPT_ALLOC_DIRTY_TRACKING, x.dev, x.ioas,
				 0, false),
			      &plain),
			 0);
	assert_int_equal(plain, 6);

	/* Nested. */
	assert_int_equal(hwpt(x.ctx, hw(NEST_PARENT, x.dev, x.parent, 0, true),
			      &id),
			 -EOPNOTSUPP);
	assert_int_equal(hwpt(x.ctx, hw(0, x.dev, x.parent, 0, false), &id),
			 -EOPNOTSUPP);
	assert_int_equal(hwpt(x.ctx, hw(0, x.dev, plain, 0, true), &id),
			 -EINVAL); /* not a nest parent */
	h = hw(0, x.dev, x.parent, 0, true);
	h.data_uptr = 0;
	assert_int_equal(hwpt(x.ctx, h, &id), -EFAULT);
	assert_int_equal(hwpt(x.ctx,
			      hw(FAULT_ID_VALID, x.dev, x.parent, 99, true),
			      &id),
			 -ENOENT);
	assert_int_equal(hwpt(x.ctx,
			      hw(FAULT_ID_VALID, x.dev, x.parent, x.ioas, true),
			      &id),
			 -ENOENT);
	/* Without FAULT_ID_VALID, fault_id is not looked at. */
	assert_int_equal(hwpt(x.ctx, hw(0, x.dev, x.parent, 99, true), &id), 0);
	assert_int_equal(id, 7);
	/* Failed calls took no id. */
	assert_int_equal(hwpt(x.ctx,
			      hw(FAULT_ID_VALID, x.dev, x.parent, x.fault_id,
				 true),
			      &id),
			 0);
	assert_int_equal(id, 8);
	fx_teardown(&x);
}

static void test_hwpt_kernels(void **state)
{
	uint32_t id;
	struct fx x;
	(void)state;

	/* 6.13: a paging HWPT may report faults, even a nest parent (6.15
	 * and the stable 6.12.y and 6.14.y refuse that). */
	fx_setup_m(&x, mock_new(IOPF_MOCK_KERNEL_6_13, 0, 0));
	assert_int_equal(hwpt(x.ctx,
			      hw(FAULT_ID_VALID | NEST_PARENT, x.dev, x.ioas,
				 x.fault_id, false),
			      &id),
			 0);
	assert_int_equal(id, 6);
	assert_int_equal(hwpt(x.ctx,
			      hw(FAULT_ID_VALID, x.dev, x.ioas, 99, false),
			      &id),
			 -ENOENT);
	assert_int_equal(hwpt(x.ctx,
			      hw(FAULT_ID_VALID, x.dev, x.ioas, x.fault_id,
				 false),
			      &id),
			 0);
	assert_int_equal(iopf_mock_dev_attach(x.m, x.dev, id), 0);
	assert_int_equal(trig(&x, x.dev, 1, 1, NULL), 0);
	assert_int_equal(hwpt(x.ctx,
			      hw(IOMMU_HWPT_ALLOC_PASID, x.dev, x.ioas, 0,
				 false),
			      &id),
			 -EOPNOTSUPP);
	fx_teardown(&x);

	/* 6.15: and PASID-capable ones. */
	fx_setup_m(&x, mock_new(IOPF_MOCK_KERNEL_6_15, 0, 0));
	assert_int_equal(hwpt(x.ctx,
			      hw(IOMMU_HWPT_ALLOC_PASID | FAULT_ID_VALID, x.dev,
				 x.ioas, x.fault_id, false),
			      &id),
			 0);
	assert_int_equal(hwpt(x.ctx,
			      hw(IOMMU_HWPT_ALLOC_PASID | FAULT_ID_VALID, x.dev,
				 x.parent, x.fault_id, true),
			      &id),
			 0);
	assert_int_equal(hwpt(x.ctx,
			      hw(FAULT_ID_VALID | NEST_PARENT, x.dev, x.ioas,
				 x.fault_id, false),
			      &id),
			 -EOPNOTSUPP);
	fx_teardown(&x);

	/* 7.3 (measured on 7.3.4): a paging HWPT reports faults end to end,
	 * a fault id that names nothing is ENOENT (6.12: EOPNOTSUPP), a nest
	 * parent with a fault id is still EOPNOTSUPP. */
	fx_setup_m(&x, mock_new(IOPF_MOCK_KERNEL_7_3, 0, 0));
	assert_int_equal(hwpt(x.ctx,
			      hw(FAULT_ID_VALID, x.dev, x.ioas, 99, false),
			      &id),
			 -ENOENT);
	assert_int_equal(hwpt(x.ctx,
			      hw(FAULT_ID_VALID | NEST_PARENT, x.dev, x.ioas,
				 x.fault_id, false),
			      &id),
			 -EOPNOTSUPP);
	assert_int_equal(hwpt(x.ctx,
			      hw(IOMMU_HWPT_ALLOC_PASID | FAULT_ID_VALID, x.dev,
				 x.ioas, x.fault_id, false),
			      &id),
			 0);
	assert_int_equal(iopf_mock_dev_attach(x.m, x.dev, id), 0);
	assert_int_equal(trig(&x, x.dev, 1, 1, NULL), 0);
	fx_teardown(&x);
}

static void test_kernel_610(void **state)
{
	struct iopf_mock *m = mock_new(IOPF_MOCK_KERNEL_6_10, 0, 0);
	struct iommu_fault_alloc fa = { .size = sizeof(fa) };
	struct iommu_veventq_alloc va = { .size = sizeof(va) };
	struct iommu_hwpt_alloc h;
	uint32_t ioas, dev, parent, id;
	struct iopf_ctx *ctx;
	(void)state;

	assert_int_equal(iopf_mock_ctx_new(m, &ctx), 0);
	assert_int_equal(ctx_ioctl(ctx, IOMMU_FAULT_QUEUE_ALLOC, &fa), -ENOTTY);
	assert_int_equal(ctx_ioctl(ctx, IOMMU_VEVENTQ_ALLOC, &va), -ENOTTY);
	assert_int_equal(ioas_alloc(ctx, &ioas), 0);
	assert_int_equal(iopf_mock_dev_new(m, &dev), 0);

	/* The struct ended at data_uptr: a fault_id is an unknown byte. */
	h = hw(FAULT_ID_VALID, dev, ioas, 3, false);
	assert_int_equal(hwpt(ctx, h, &id), -E2BIG);
	h.fault_id = 0; /* zero trailing bytes: the flag is what is unknown */
	assert_int_equal(hwpt(ctx, h, &id), -EOPNOTSUPP);
	h = hw(NEST_PARENT, dev, ioas, 0, false);
	h.out_hwpt_id = 0;
	assert_int_equal(hwpt(ctx, h, &parent), 0);
	assert_int_equal(parent, 3);
	/* Nested HWPTs took no flags at all. */
	h = hw(FAULT_ID_VALID, dev, parent, 0, true);
	assert_int_equal(hwpt(ctx, h, &id), -EOPNOTSUPP);
	h.size = IOMMU_HWPT_ALLOC_SIZE_V1;
	assert_int_equal(hwpt(ctx, h, &id), -EOPNOTSUPP);
	h.flags = 0;
	assert_int_equal(hwpt(ctx, h, &id), 0);
	assert_int_equal(iopf_mock_dev_attach(m, dev, id), 0);
	assert_int_equal(iopf_mock_trigger(m, dev, 0,
					   &(struct iopf_mock_fault){ 0 }, 1,
					   NULL),
			 -ENODEV);
	iopf_ctx_free(ctx);
	iopf_mock_free(m);
}

static void test_veventq(void **state)
{
	struct iommu_veventq_alloc va;
	struct iopf_mock *m;
	struct iopf_ctx *ctx;
	(void)state;

	m = mock_new(IOPF_MOCK_KERNEL_6_13, 0, 0);
	assert_int_equal(iopf_mock_ctx_new(m, &ctx), 0);
	va = (struct iommu_veventq_alloc){ .size = sizeof(va), .type = 1,
					   .veventq_depth = 8 };
	assert_int_equal(ctx_ioctl(ctx, IOMMU_VEVENTQ_ALLOC, &va), -ENOTTY);
	iopf_ctx_free(ctx);
	iopf_mock_free(m);

	m = mock_new(IOPF_MOCK_KERNEL_6_15, 0, 0);
	assert_int_equal(iopf_mock_ctx_new(m, &ctx), 0);
	va.size = 24; /* below out_veventq_fd */
	assert_int_equal(ctx_ioctl(ctx, IOMMU_VEVENTQ_ALLOC, &va), -EINVAL);
	va.size = 28;
	assert_int_equal(ctx_ioctl(ctx, IOMMU_VEVENTQ_ALLOC, &va), -ENOENT);
	va.size = sizeof(va);
	va.flags = 1u << 31;
	assert_int_equal(ctx_ioctl(ctx, IOMMU_VEVENTQ_ALLOC, &va), -EOPNOTSUPP);
	va.flags = 0;
	va.__reserved = 1;
	assert_int_equal(ctx_ioctl(ctx, IOMMU_VEVENTQ_ALLOC, &va), -EOPNOTSUPP);
	va.__reserved = 0;
	va.type = 0; /* IOMMU_VEVENTQ_TYPE_DEFAULT */
	assert_int_equal(ctx_ioctl(ctx, IOMMU_VEVENTQ_ALLOC, &va), -EOPNOTSUPP);
	va.type = 1;
	va.veventq_depth = 0;
	assert_int_equal(ctx_ioctl(ctx, IOMMU_VEVENTQ_ALLOC, &va), -EINVAL);
	va.veventq_depth = 8;
	assert_int_equal(ctx_ioctl(ctx, IOMMU_VEVENTQ_ALLOC, &va), -ENOENT);
	iopf_ctx_free(ctx);
	iopf_mock_free(m);
}

/* ---- fault objects ------------------------------------------------------ */

static void test_fault_alloc(void **state)
{
	struct iommu_fault_alloc fa = { .size = sizeof(fa), .flags = 1 };
	struct stat sb;
	uint32_t id;
	struct fx x;
	int fd;
	(void)state;

	fx_setup(&x);
	assert_int_equal(ctx_ioctl(x.ctx, IOMMU_FAULT_QUEUE_ALLOC, &fa),
			 -EOPNOTSUPP);
	fa.flags = 0;
	fa.size = 12;
	assert_int_equal(ctx_ioctl(x.ctx, IOMMU_FAULT_QUEUE_ALLOC, &fa),
			 -EINVAL);
	assert_int_equal(fstat(x.fd, &sb), 0);
	assert_true(S_ISSOCK(sb.st_mode));
	assert_true(fcntl(x.fd, F_GETFD) & FD_CLOEXEC);
	assert_false(readable(x.efd));
	assert_int_equal(x.ctx->ops->poll_fd(x.ctx->be, 12345), -EBADF);
	assert_int_equal(x.ctx->ops->poll_fd(x.ctx->be, x.efd), -EBADF);

	/* A second one: its own id, fd and poll fd; then closed unused. */
	assert_int_equal(fault_alloc(x.ctx, &id, &fd), 0);
	assert_int_equal(id, 6);
	assert_int_not_equal(fd, x.fd);
	assert_int_not_equal(x.ctx->ops->poll_fd(x.ctx->be, fd), x.efd);
	assert_int_equal(destroy(x.ctx, id), -EBUSY);
	x.ctx->ops->fault_close(x.ctx->be, fd);
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	assert_int_equal(destroy(x.ctx, id), 0);
	fx_teardown(&x);
}

/* ---- read: iommufd_fault_fops_read() ------------------------------------- */

static void test_read_records(void **state)
{
	struct iopf_mock_fault f[3] = {
		{ .flags = IOPF_FAULT_PASID_VALID | IOPF_FAULT_LAST_PAGE |
			   (1u << 7),
		  .pasid = 7,
		  .perm = IOPF_PERM_READ | (1u << 9),
		  .addr = 0x1000 },
		{ .perm = IOPF_PERM_WRITE, .addr = 0x2000 },
		{ .flags = IOPF_FAULT_PASID_VALID,
		  .pasid = 9,
		  .perm = IOPF_PERM_EXEC | IOPF_PERM_PRIV,
		  .addr = 0xfffff000ull << 20 },
	};
	struct iommu_hwpt_pgfault r[64];
	struct iopf_mock_group_info gi;
	struct iopf_mock_stats st;
	uint64_t gid = 0;
	struct fx x;
	(void)state;

	fx_setup(&x);
	assert_false(readable(x.efd));
	assert_int_equal(iopf_mock_trigger(x.m, x.dev, 42, f, 3, &gid), 0);
	assert_int_equal(gid, 1);
	assert_true(readable(x.efd));
	gi = ginfo(x.m, gid);
	assert_int_equal(gi.state, IOPF_MOCK_GROUP_PENDING);
	assert_int_equal(gi.cookie, 0);
	assert_int_equal(gi.dev_id, x.dev);
	st = stats(x.m);
	assert_int_equal(st.pending, 1);
	assert_int_equal(st.faults_triggered, 3);

	memset(r, 0xee, sizeof(r));
	assert_int_equal(eng_read(&x, r, sizeof(r)), 3 * REC);
	/* LAST_PAGE only on the last; other bits raw. */
	assert_int_equal(r[0].flags, IOPF_FAULT_PASID_VALID | (1u << 7));
	assert_int_equal(r[1].flags, 0);
	assert_int_equal(r[2].flags,
			 IOPF_FAULT_PASID_VALID | IOPF_FAULT_LAST_PAGE);
	assert_int_equal(r[0].perm, IOPF_PERM_READ | (1u << 9));
	assert_int_equal(r[2].perm, IOPF_PERM_EXEC | IOPF_PERM_PRIV);
	assert_int_equal(r[0].pasid, 7);
	assert_int_equal(r[2].pasid, 9);
	assert_int_equal(r[2].addr, 0xfffff000ull << 20);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(r[i].dev_id, x.dev);
		assert_int_equal(r[i].grpid, 42);
		assert_int_equal(r[i].__reserved, 0);
		assert_int_equal(r[i].length, 0);
		assert_int_equal(r[i].cookie, 1);
		assert_int_equal(r[i].addr, f[i].addr);
	}
	assert_int_equal(r[3].flags, 0xeeeeeeee); /* nothing more */
	assert_false(readable(x.efd));
	gi = ginfo(x.m, gid);
	assert_int_equal(gi.state, IOPF_MOCK_GROUP_DELIVERED);
	assert_int_equal(gi.cookie, 1);
	st = stats(x.m);
	assert_int_equal(st.pending, 0);
	assert_int_equal(st.outstanding, 1);
	assert_int_equal(st.groups_delivered, 1);
	assert_int_equal(st.reads, 1);

	/* Empty: 0, never EAGAIN, never a block. */
	assert_int_equal(eng_read(&x, r, sizeof(r)), 0);

	assert_int_equal(answer(&x, 1, IOPF_RESP_SUCCESS), RSP);
	gi = ginfo(x.m, gid);
	assert_int_equal(gi.state, IOPF_MOCK_GROUP_ANSWERED);
	assert_int_equal(gi.code, IOPF_RESP_SUCCESS);
	assert_int_equal(gi.answers, 1);
	st = stats(x.m);
	assert_int_equal(st.answered_success, 1);
	assert_int_equal(st.outstanding, 0);
	assert_int_equal(st.writes, 1);
	assert_int_equal(st.reads, 2);
	fx_teardown(&x);
}

static void test_read_whole_groups(void **state)
{
	struct iommu_hwpt_pgfault r[8];
	uint64_t g1, g2, g3;
	struct fx x;
	(void)state;

	fx_setup(&x);
	assert_int_equal(trig(&x, x.dev, 1, 2, &g1), 0);
	assert_int_equal(trig(&x, x.dev, 2, 3, &g2), 0);
	assert_int_equal(trig(&x, x.dev, 3, 1, &g3), 0);
	assert_int_equal(g3, 3);
	/* 4 records of room: the first group, not a part of the second. */
	assert_int_equal(eng_read(&x, r, 4 * REC), 2 * REC);
	assert_int_equal(r[0].grpid, 1);
	assert_int_equal(r[1].flags, IOPF_FAULT_LAST_PAGE);
	assert_int_equal(r[0].flags, 0);
	assert_int_equal(ginfo(x.m, g2).state, IOPF_MOCK_GROUP_PENDING);
	assert_true(readable(x.efd));
	/* Then both others: 3 + 1. */
	assert_int_equal(eng_read(&x, r, 4 * REC), 4 * REC);
	assert_int_equal(r[0].cookie, 2);
	assert_int_equal(r[2].cookie, 2);
	assert_int_equal(r[2].flags, IOPF_FAULT_LAST_PAGE);
	assert_int_equal(r[3].cookie, 3);
	assert_int_equal(r[3].grpid, 3);
	assert_int_equal(r[3].flags, IOPF_FAULT_LAST_PAGE);
	assert_false(readable(x.efd));
	assert_int_equal(stats(x.m).outstanding, 3);
	fx_teardown(&x);
}

static void test_read_nofit(void **state)
{
	struct iommu_hwpt_pgfault r[8];
	uint64_t gid;
	struct fx x;
	(void)state;

	fx_setup(&x);
	assert_int_equal(trig(&x, x.dev, 1, 3, &gid), 0);
	assert_int_equal(eng_read(&x, r, 2 * REC), -EINVAL);
	assert_int_equal(eng_read(&x, r, 0), -EINVAL);
	assert_int_equal(ginfo(x.m, gid).state, IOPF_MOCK_GROUP_PENDING);
	assert_true(readable(x.efd));
	assert_int_equal(stats(x.m).groups_delivered, 0);
	assert_int_equal(eng_read(&x, r, 3 * REC), 3 * REC);
	fx_teardown(&x);

	/* Older kernels: 0. */
	fx_setup_m(&x, mock_new(0, IOPF_MOCK_NOFIT_ZERO, 0));
	assert_int_equal(trig(&x, x.dev, 1, 3, &gid), 0);
	assert_int_equal(eng_read(&x, r, 2 * REC), 0);
	assert_int_equal(ginfo(x.m, gid).state, IOPF_MOCK_GROUP_PENDING);
	assert_int_equal(eng_read(&x, r, 8 * REC), 3 * REC);
	fx_teardown(&x);

	fx_setup_m(&x, mock_new(0, 0, ENOSPC));
	assert_int_equal(trig(&x, x.dev, 1, 3, &gid), 0);
	assert_int_equal(eng_read(&x, r, 2 * REC), -ENOSPC);
	fx_teardown(&x);
}

static void test_espipe_empty(void **state)
{
	struct iommu_hwpt_page_response rsp[2] = { { 0 } };
	struct iommu_hwpt_pgfault r[4];
	struct fx x;
	(void)state;

	fx_setup(&x);
	assert_int_equal(eng_read(&x, r, sizeof(r)), 0);
	assert_int_equal(eng_read(&x, r, REC + 1), -ESPIPE);
	assert_int_equal(trig(&x, x.dev, 1, 1, NULL), 0);
	assert_int_equal(eng_read(&x, r, 2 * REC - 8), -ESPIPE);
	assert_int_equal(stats(x.m).pending, 1);
	assert_int_equal(eng_read(&x, r, sizeof(r)), REC);

	assert_int_equal(eng_write(&x, rsp, RSP + 4), -ESPIPE);
	assert_int_equal(eng_write(&x, rsp, 0), 0);
	assert_int_equal(stats(x.m).outstanding, 1);
	/* The socket was drained of what the bad write put in it. */
	assert_int_equal(answer(&x, 1, 0), RSP);
	assert_false(readable(mock_end(&x)));
	fx_teardown(&x);
}

/* ---- cookies ------------------------------------------------------------ */

/* Reads one single-record group: its cookie. */
static uint32_t read_one(struct fx *x)
{
	struct iommu_hwpt_pgfault r;

	assert_int_equal(eng_read(x, &r, sizeof(r)), REC);
	return r.cookie;
}

static void test_cookies(void **state)
{
	struct iommu_hwpt_pgfault r[4];
	uint64_t gid;
	struct fx x;
	(void)state;

	fx_setup(&x);
	for (int i = 0; i < 3; i++)
		assert_int_equal(trig(&x, x.dev, i, 1, NULL), 0);
	/* Given at read time, not at trigger time. */
	assert_int_equal(trig(&x, x.dev, 9, 1, &gid), 0);
	assert_int_equal(ginfo(x.m, gid).cookie, 0);
	assert_int_equal(eng_read(&x, r, 3 * REC), 3 * REC);
	assert_int_equal(r[0].cookie, 1);
	assert_int_equal(r[1].cookie, 2);
	assert_int_equal(r[2].cookie, 3);
	assert_int_equal(read_one(&x), 4);
	assert_int_equal(ginfo(x.m, gid).cookie, 4);

	/* xa_alloc(): the lowest free one, reused once answered. */
	assert_int_equal(answer(&x, 2, 0), RSP);
	assert_int_equal(trig(&x, x.dev, 1, 1, NULL), 0);
	assert_int_equal(read_one(&x), 2);
	assert_int_equal(trig(&x, x.dev, 1, 1, NULL), 0);
	assert_int_equal(read_one(&x), 5);
	assert_int_equal(answer(&x, 3, 0), RSP);
	assert_int_equal(answer(&x, 1, 1), RSP);
	assert_int_equal(trig(&x, x.dev, 1, 1, NULL), 0);
	assert_int_equal(trig(&x, x.dev, 1, 1, NULL), 0);
	assert_int_equal(trig(&x, x.dev, 1, 1, NULL), 0);
	assert_int_equal(eng_read(&x, r, 3 * REC), 3 * REC);
	assert_int_equal(r[0].cookie, 1);
	assert_int_equal(r[1].cookie, 3);
	assert_int_equal(r[2].cookie, 6);
	fx_teardown(&x);
}

/* ---- write: iommufd_fault_fops_write() ----------------------------------- */

static void test_answers(void **state)
{
	struct iommu_hwpt_page_response rsp[3];
	struct iopf_mock_stats st;
	uint64_t g1, g2, g3;
	struct fx x;
	(void)state;

	fx_setup(&x);
	assert_int_equal(trig(&x, x.dev, 1, 1, &g1), 0);
	assert_int_equal(trig(&x, x.dev, 2, 2, &g2), 0);
	assert_int_equal(trig(&x, x.dev, 3, 1, &g3), 0);
	{
		struct iommu_hwpt_pgfault r[4];

		assert_int_equal(eng_read(&x, r, sizeof(r)), 4 * REC);
	}

	/* Never given out. */
	assert_int_equal(answer(&x, 99, 0), -EINVAL);
	assert_int_equal(answer(&x, 0, 0), -EINVAL);
	st = stats(x.m);
	assert_int_equal(st.bad_unknown, 2);

	/* Taken in order until one is refused: a short count. */
	rsp[0] = (struct iommu_hwpt_page_response){ .cookie = 1, .code = 0 };
	rsp[1] = (struct iommu_hwpt_page_response){ .cookie = 1, .code = 1 };
	rsp[2] = (struct iommu_hwpt_page_response){ .cookie = 2, .code = 0 };
	assert_int_equal(eng_write(&x, rsp, sizeof(rsp)), RSP);
	st = stats(x.m);
	assert_int_equal(st.bad_duplicate, 1);
	assert_int_equal(st.answered_success, 1);
	assert_int_equal(ginfo(x.m, g1).answers, 2);
	assert_int_equal(ginfo(x.m, g1).state, IOPF_MOCK_GROUP_ANSWERED);
	assert_int_equal(ginfo(x.m, g1).code, 0);
	assert_int_equal(ginfo(x.m, g2).state, IOPF_MOCK_GROUP_DELIVERED);
	assert_int_equal(ginfo(x.m, g2).answers, 0);

	/* A bad code stops it too, before the cookie is looked at. */
	assert_int_equal(answer(&x, 2, 2), -EINVAL);
	assert_int_equal(answer(&x, 99, 7), -EINVAL);
	st = stats(x.m);
	assert_int_equal(st.bad_code, 2);
	assert_int_equal(st.bad_unknown, 2);
	assert_int_equal(ginfo(x.m, g2).answers, 1);
	assert_int_equal(ginfo(x.m, g2).state, IOPF_MOCK_GROUP_DELIVERED);

	rsp[0] = (struct iommu_hwpt_page_response){ .cookie = 2, .code = 1 };
	rsp[1] = (struct iommu_hwpt_page_response){ .cookie = 3, .code = 0 };
	assert_int_equal(eng_write(&x, rsp, 2 * RSP), 2 * RSP);
	assert_int_equal(ginfo(x.m, g2).state, IOPF_MOCK_GROUP_ANSWERED);
	assert_int_equal(ginfo(x.m, g2).code, 1);
	assert_int_equal(ginfo(x.m, g2).answers, 2);
	assert_int_equal(ginfo(x.m, g3).code, 0);

	/* Once more, long after. */
	assert_int_equal(answer(&x, 3, 0), -EINVAL);
	st = stats(x.m);
	assert_int_equal(st.bad_duplicate, 2);
	assert_int_equal(st.answered_success, 2);
	assert_int_equal(st.answered_invalid, 1);
	assert_int_equal(st.outstanding, 0);
	assert_int_equal(st.writes, 7);
	assert_int_equal(ginfo(x.m, g3).answers, 2);
	fx_teardown(&x);
}

/* ---- answers the mock gives ---------------------------------------------- */

static void test_detach_answers(void **state)
{
	struct iopf_mock_stats st;
	uint64_t g1, g2, g3, g4;
	uint32_t dev2;
	struct fx x;
	(void)state;

	fx_setup(&x);
	assert_int_equal(iopf_mock_dev_new(x.m, &dev2), 0);
	assert_int_equal(iopf_mock_dev_attach(x.m, dev2, x.nested), 0);
	assert_int_equal(trig(&x, x.dev, 1, 1, &g1), 0);
	assert_int_equal(trig(&x, dev2, 2, 1, &g2), 0);
	assert_int_equal(trig(&x, x.dev, 3, 1, &g3), 0);
	assert_int_equal(read_one(&x), 1);
	assert_int_equal(read_one(&x), 2);
	assert_int_equal(trig(&x, dev2, 4, 1, &g4), 0);

	/* The device's groups, read or not; not the other device's. */
	assert_int_equal(iopf_mock_dev_detach(x.m, x.dev), 0);
	assert_int_equal(ginfo(x.m, g1).state, IOPF_MOCK_GROUP_AUTO_DETACH);
	assert_int_equal(ginfo(x.m, g1).code, IOPF_RESP_INVALID);
	assert_int_equal(ginfo(x.m, g3).state, IOPF_MOCK_GROUP_AUTO_DETACH);
	assert_int_equal(ginfo(x.m, g2).state, IOPF_MOCK_GROUP_DELIVERED);
	assert_int_equal(ginfo(x.m, g4).state, IOPF_MOCK_GROUP_PENDING);
	st = stats(x.m);
	assert_int_equal(st.auto_detach, 2);
	assert_int_equal(st.pending, 1);
	assert_int_equal(st.outstanding, 1);
	assert_true(readable(x.efd));

	/* Its cookie is stale now, and free for the next group. */
	assert_int_equal(answer(&x, 1, 0), -EINVAL);
	assert_int_equal(stats(x.m).bad_duplicate, 1);
	assert_int_equal(ginfo(x.m, g1).answers, 1);
	assert_int_equal(answer(&x, 2, 0), RSP);
	assert_int_equal(read_one(&x), 1);
	assert_false(readable(x.efd));
	assert_int_equal(answer(&x, 1, 0), RSP);
	assert_int_equal(ginfo(x.m, g4).state, IOPF_MOCK_GROUP_ANSWERED);
	assert_int_equal(ginfo(x.m, g1).answers, 1);

	assert_int_equal(trig(&x, x.dev, 1, 1, NULL), -ENODEV);
	assert_int_equal(iopf_mock_dev_detach(x.m, x.dev), -EINVAL);
	assert_int_equal(destroy(x.ctx, x.nested), -EBUSY);
	assert_int_equal(iopf_mock_dev_detach(x.m, dev2), 0);
	assert_int_equal(destroy(x.ctx, x.nested), 0);
	assert_int_equal(stats(x.m).auto_detach, 2);
	fx_teardown(&x);
}

static void test_replace_answers(void **state)
{
	uint64_t g1, g2, g3;
	uint32_t n2;
	struct fx x;
	(void)state;

	fx_setup(&x);
	assert_int_equal(hwpt(x.ctx,
			      hw(FAULT_ID_VALID, x.dev, x.parent, x.fault_id,
				 true),
			      &n2),
			 0);
	assert_int_equal(trig(&x, x.dev, 1, 1, &g1), 0);
	assert_int_equal(read_one(&x), 1);
	assert_int_equal(trig(&x, x.dev, 2, 1, &g2), 0);

	/* The same HWPT again: nothing happens. */
	assert_int_equal(iopf_mock_dev_attach(x.m, x.dev, x.nested), 0);
	assert_int_equal(ginfo(x.m, g1).state, IOPF_MOCK_GROUP_DELIVERED);
	assert_int_equal(ginfo(x.m, g2).state, IOPF_MOCK_GROUP_PENDING);

	/* Another one, even on the same fault object: the old attachment's
	 * groups are answered. */
	assert_int_equal(iopf_mock_dev_attach(x.m, x.dev, n2), 0);
	assert_int_equal(ginfo(x.m, g1).state, IOPF_MOCK_GROUP_AUTO_DETACH);
	assert_int_equal(ginfo(x.m, g2).state, IOPF_MOCK_GROUP_AUTO_DETACH);
	assert_int_equal(destroy(x.ctx, x.nested), 0);
	assert_int_equal(trig(&x, x.dev, 3, 1, &g3), 0);
	assert_int_equal(read_one(&x), 1);

	/* To a HWPT without a fault object: no more faults. */
	assert_int_equal(iopf_mock_dev_attach(x.m, x.dev, x.parent), 0);
	assert_int_equal(ginfo(x.m, g3).state, IOPF_MOCK_GROUP_AUTO_DETACH);
	assert_int_equal(trig(&x, x.dev, 4, 1, NULL), -ENODEV);
	assert_int_equal(stats(x.m).auto_detach, 3);
	assert_int_equal(destroy(x.ctx, n2), 0);
	assert_int_equal(destroy(x.ctx, x.parent), -EBUSY);
	fx_teardown(&x);
}

static void test_destroy_answers(void **state)
{
	struct iopf_mock_stats st;
	struct mock_dev *dev;
	uint64_t g1, g2;
	struct fx x;
	(void)state;

	fx_setup(&x);
	assert_int_equal(trig(&x, x.dev, 1, 2, &g1), 0);
	{
		struct iommu_hwpt_pgfault r[2];

		assert_int_equal(eng_read(&x, r, sizeof(r)), 2 * REC);
	}
	assert_int_equal(trig(&x, x.dev, 2, 1, &g2), 0);

	/* Closing the fd answers nothing. */
	fx_close_fd(&x);
	assert_int_equal(ginfo(x.m, g1).state, IOPF_MOCK_GROUP_DELIVERED);
	assert_int_equal(ginfo(x.m, g2).state, IOPF_MOCK_GROUP_PENDING);
	/* Faults still queue with nobody to read them. */
	assert_int_equal(trig(&x, x.dev, 3, 1, NULL), 0);
	st = stats(x.m);
	assert_int_equal(st.pending, 2);
	assert_int_equal(st.auto_teardown + st.auto_detach, 0);
	assert_int_equal(destroy(x.ctx, x.fault_id), -EBUSY);

	/*
	 * Detaching answers a device's groups, so iommufd_fault_destroy()'s own
	 * answers are for what no device can take back. Reach them by
	 * unhooking the device by hand (white box).
	 */
	pthread_mutex_lock(&x.m->lock);
	dev = (struct mock_dev *)mock_obj_find(x.m, x.dev, MOCK_OBJ_DEVICE);
	dev->hwpt->obj.users--;
	dev->hwpt = NULL;
	pthread_mutex_unlock(&x.m->lock);
	assert_int_equal(destroy(x.ctx, x.nested), 0);
	assert_int_equal(destroy(x.ctx, x.fault_id), 0);
	assert_int_equal(ginfo(x.m, g1).state, IOPF_MOCK_GROUP_AUTO_TEARDOWN);
	assert_int_equal(ginfo(x.m, g1).code, IOPF_RESP_INVALID);
	assert_int_equal(ginfo(x.m, g2).state, IOPF_MOCK_GROUP_AUTO_TEARDOWN);
	st = stats(x.m);
	assert_int_equal(st.auto_teardown, 3);
	assert_int_equal(st.auto_detach, 0);
	assert_int_equal(st.pending, 0);
	assert_int_equal(st.outstanding, 0);
	fx_teardown(&x);
}

/* Objects, groups and fds left behind when everything is freed, in either
 * order: valgrind checks nothing leaks. */
static void test_free_live(void **state)
{
	struct fx x;
	(void)state;

	fx_setup(&x);
	assert_int_equal(trig(&x, x.dev, 1, 3, NULL), 0);
	assert_int_equal(trig(&x, x.dev, 2, 1, NULL), 0);
	{
		struct iommu_hwpt_pgfault r[3];

		assert_int_equal(eng_read(&x, r, sizeof(r)), sizeof(r));
	}
	fx_teardown(&x);

	fx_setup(&x);
	assert_int_equal(trig(&x, x.dev, 1, 1, NULL), 0);
	assert_int_equal(read_one(&x), 1);
	assert_int_equal(trig(&x, x.dev, 1, 1, NULL), 0);
	iopf_mock_free(x.m);
	iopf_ctx_free(x.ctx);
	/* The open fault fd holds the mock. */
	assert_true(readable(x.efd));
	assert_int_equal(trig(&x, x.dev, 1, 1, NULL), 0);
	assert_int_equal(read_one(&x), 2);
	/* The last reference: everything goes. */
	x.ops->fault_close(x.be, x.fd);
	assert_int_equal(fcntl(x.efd, F_GETFD), -1);
}

/* ---- argument checks ---------------------------------------------------- */

static void test_trigger_args(void **state)
{
	struct iopf_mock_fault f = { .addr = 0x1000 };
	struct fx x;
	uint32_t dev2, plain;
	(void)state;

	fx_setup(&x);
	assert_int_equal(iopf_mock_trigger(NULL, x.dev, 0, &f, 1, NULL),
			 -EINVAL);
	assert_int_equal(iopf_mock_trigger(x.m, x.dev, 0, NULL, 1, NULL),
			 -EINVAL);
	assert_int_equal(iopf_mock_trigger(x.m, x.dev, 0, &f, 0, NULL),
			 -EINVAL);
	assert_int_equal(iopf_mock_trigger(x.m, x.dev, 0, &f, 65537, NULL),
			 -E2BIG);
	assert_int_equal(iopf_mock_trigger(x.m, 99, 0, &f, 1, NULL), -ENOENT);
	assert_int_equal(iopf_mock_trigger(x.m, x.ioas, 0, &f, 1, NULL),
			 -ENOENT);
	assert_int_equal(iopf_mock_dev_new(x.m, &dev2), 0);
	assert_int_equal(iopf_mock_trigger(x.m, dev2, 0, &f, 1, NULL), -ENODEV);
	assert_int_equal(hwpt(x.ctx, hw(0, x.dev, x.ioas, 0, false), &plain),
			 0);
	assert_int_equal(iopf_mock_dev_attach(x.m, dev2, plain), 0);
	assert_int_equal(iopf_mock_trigger(x.m, dev2, 0, &f, 1, NULL), -ENODEV);
	assert_int_equal(stats(x.m).groups_triggered, 0);
	/* No group id asked for. */
	assert_int_equal(iopf_mock_trigger(x.m, x.dev, 0, &f, 1, NULL), 0);
	assert_int_equal(ginfo(x.m, 1).state, IOPF_MOCK_GROUP_PENDING);
	fx_teardown(&x);
}

static void test_info_stats_args(void **state)
{
	struct iopf_mock_group_info gi = { .size = sizeof(gi) };
	struct iopf_mock_stats st = { .size = sizeof(st) };
	unsigned char big[sizeof(st) + 16];
	uint64_t gid;
	struct fx x;
	(void)state;

	fx_setup(&x);
	assert_int_equal(iopf_mock_stats(NULL, &st), -EINVAL);
	assert_int_equal(iopf_mock_stats(x.m, NULL), -EINVAL);
	st.size = 8;
	assert_int_equal(iopf_mock_stats(x.m, &st), -EINVAL);
	st.size = sizeof(st) - 8;
	assert_int_equal(iopf_mock_stats(x.m, &st), -EINVAL);
	/* A newer caller's bigger struct gets what the mock knows. */
	assert_int_equal(trig(&x, x.dev, 0, 2, &gid), 0);
	memset(big, 0x5a, sizeof(big));
	((struct iopf_mock_stats *)big)->size = sizeof(big);
	assert_int_equal(iopf_mock_stats(x.m, (struct iopf_mock_stats *)big),
			 0);
	assert_int_equal(((struct iopf_mock_stats *)big)->size, sizeof(big));
	assert_int_equal(((struct iopf_mock_stats *)big)->faults_triggered, 2);

	assert_int_equal(iopf_mock_group_info(NULL, gid, &gi), -EINVAL);
	assert_int_equal(iopf_mock_group_info(x.m, gid, NULL), -EINVAL);
	assert_int_equal(iopf_mock_group_info(x.m, 0, &gi), -ENOENT);
	assert_int_equal(iopf_mock_group_info(x.m, gid + 1, &gi), -ENOENT);
	assert_int_equal(iopf_mock_group_info(x.m, UINT64_MAX, &gi), -ENOENT);
	gi.size = 4;
	assert_int_equal(iopf_mock_group_info(x.m, gid, &gi), -EINVAL);
	gi.size = sizeof(gi);
	assert_int_equal(iopf_mock_group_info(x.m, gid, &gi), 0);
	assert_int_equal(gi.dev_id, x.dev);
	fx_teardown(&x);
}

static void test_dev_args(void **state)
{
	uint32_t id;
	struct fx x;
	(void)state;

	fx_setup(&x);
	assert_int_equal(iopf_mock_dev_new(NULL, &id), -EINVAL);
	assert_int_equal(iopf_mock_dev_new(x.m, NULL), -EINVAL);
	assert_int_equal(iopf_mock_dev_attach(NULL, x.dev, x.nested), -EINVAL);
	assert_int_equal(iopf_mock_dev_attach(x.m, 99, x.nested), -ENOENT);
	assert_int_equal(iopf_mock_dev_attach(x.m, x.ioas, x.nested), -ENOENT);
	assert_int_equal(iopf_mock_dev_attach(x.m, x.dev, 99), -ENOENT);
	assert_int_equal(iopf_mock_dev_attach(x.m, x.dev, x.ioas), -ENOENT);
	assert_int_equal(iopf_mock_dev_attach(x.m, x.dev, x.fault_id), -ENOENT);
	assert_int_equal(iopf_mock_dev_attach(x.m, x.dev, x.dev), -ENOENT);
	assert_int_equal(iopf_mock_dev_detach(NULL, x.dev), -EINVAL);
	assert_int_equal(iopf_mock_dev_detach(x.m, 99), -ENOENT);
	assert_int_equal(iopf_mock_dev_detach(x.m, x.parent), -ENOENT);
	assert_int_equal(iopf_mock_dev_new(x.m, &id), 0);
	assert_int_equal(iopf_mock_dev_detach(x.m, id), -EINVAL);
	fx_teardown(&x);
}

/* ---- failure injection ------------------------------------------------- */

static void test_inject_ioctl(void **state)
{
	struct iommu_ioas_alloc a = { .size = 0 };
	struct iopf_mock *m = mock_new(0, 0, 0);
	struct iopf_ctx *ctx;
	uint32_t id, fid;
	int fd;
	(void)state;

	assert_int_equal(iopf_mock_ctx_new(m, &ctx), 0);
	assert_int_equal(iopf_mock_inject_ioctl(NULL, 0, 1, EIO), -EINVAL);
	assert_int_equal(iopf_mock_inject_ioctl(m, 0x100, 1, EIO), -EINVAL);
	assert_int_equal(iopf_mock_inject_ioctl(m, IOMMU_IOAS_ALLOC, 1, EIO),
			 -EINVAL);
	assert_int_equal(iopf_mock_inject_ioctl(m, 0, 0, EIO), -EINVAL);
	assert_int_equal(iopf_mock_inject_ioctl(m, 0, 1, 0), -EINVAL);
	assert_int_equal(iopf_mock_inject_ioctl(m, 0, 1, -EIO), -EINVAL);
	assert_int_equal(iopf_mock_inject_ioctl(m, 0, 1, 4096), -EINVAL);

	/* The nth matching command from now, once. */
	assert_int_equal(iopf_mock_inject_ioctl(m, 0x81, 2, ENOMEM), 0);
	assert_int_equal(ioas_alloc(ctx, &id), 0);
	assert_int_equal(destroy(ctx, 1), 0); /* not matching */
	assert_int_equal(ioas_alloc(ctx, &id), -ENOMEM);
	assert_int_equal(ioas_alloc(ctx, &id), 0);
	assert_int_equal(id, 1); /* the failed one took nothing */

	/* Before anything else: size checks, unknown commands. */
	assert_int_equal(iopf_mock_inject_ioctl(m, 0x81, 1, EAGAIN), 0);
	assert_int_equal(ctx_ioctl(ctx, IOMMU_IOAS_ALLOC, &a), -EAGAIN);
	assert_int_equal(ctx_ioctl(ctx, IOMMU_IOAS_ALLOC, &a), -EINVAL);
	assert_int_equal(iopf_mock_inject_ioctl(m, 0, 2, EPERM), 0);
	assert_int_equal(ctx_ioctl(ctx, _IO('x', 1), &a), -ENOTTY);
	assert_int_equal(destroy(ctx, 1), -EPERM);
	assert_int_equal(destroy(ctx, 1), 0);

	/* Two firing together: the first armed decides; both are used. */
	assert_int_equal(iopf_mock_inject_ioctl(m, 0x81, 1, EIO), 0);
	assert_int_equal(iopf_mock_inject_ioctl(m, 0, 1, ENOSPC), 0);
	assert_int_equal(ioas_alloc(ctx, &id), -EIO);
	assert_int_equal(ioas_alloc(ctx, &id), 0);

	/* An old kernel, as far as fault queues go. */
	assert_int_equal(iopf_mock_inject_ioctl(m, 0x8e, 1, ENOTTY), 0);
	assert_int_equal(fault_alloc(ctx, &fid, &fd), -ENOTTY);
	assert_int_equal(fault_alloc(ctx, &fid, &fd), 0);
	ctx->ops->fault_close(ctx->be, fd);

	for (int i = 0; i < MOCK_IOCTL_RULES; i++)
		assert_int_equal(iopf_mock_inject_ioctl(m, 0x90, 1000, EIO), 0);
	assert_int_equal(iopf_mock_inject_ioctl(m, 0x90, 1000, EIO), -ENOSPC);
	iopf_ctx_free(ctx);
	iopf_mock_free(m);
}

static void test_inject_fd_args(void **state)
{
	struct fx x;
	(void)state;

	fx_setup(&x);
	assert_int_equal(iopf_mock_inject_fd(NULL, x.fault_id,
					     IOPF_MOCK_READ_ZERO, 1, 0),
			 -EINVAL);
	assert_int_equal(iopf_mock_inject_fd(x.m, x.fault_id, 0, 1, 0),
			 -EINVAL);
	assert_int_equal(iopf_mock_inject_fd(x.m, x.fault_id,
					     (enum iopf_mock_fd_fault)7, 1, 0),
			 -EINVAL);
	assert_int_equal(iopf_mock_inject_fd(x.m, x.fault_id,
					     IOPF_MOCK_READ_ZERO, 0, 0),
			 -EINVAL);
	assert_int_equal(iopf_mock_inject_fd(x.m, x.fault_id,
					     IOPF_MOCK_READ_ZERO, 1, 1),
			 -EINVAL);
	assert_int_equal(iopf_mock_inject_fd(x.m, x.fault_id,
					     IOPF_MOCK_FD_CLOSED, 1, EBADF),
			 -EINVAL);
	assert_int_equal(iopf_mock_inject_fd(x.m, x.fault_id,
					     IOPF_MOCK_READ_ERRNO, 1, 0),
			 -EINVAL);
	assert_int_equal(iopf_mock_inject_fd(x.m, x.fault_id,
					     IOPF_MOCK_READ_ERRNO, 1, -EIO),
			 -EINVAL);
	assert_int_equal(iopf_mock_inject_fd(x.m, x.fault_id,
					     IOPF_MOCK_WRITE_ERRNO, 1, 4096),
			 -EINVAL);
	assert_int_equal(iopf_mock_inject_fd(x.m, x.fault_id,
					     IOPF_MOCK_READ_SPLIT, 1, 0),
			 -EINVAL);
	assert_int_equal(iopf_mock_inject_fd(x.m, x.fault_id,
					     IOPF_MOCK_WRITE_SHORT, 1, -1),
			 -EINVAL);
	assert_int_equal(iopf_mock_inject_fd(x.m, 99, IOPF_MOCK_READ_ZERO, 1,
					     0),
			 -ENOENT);
	assert_int_equal(iopf_mock_inject_fd(x.m, x.nested, IOPF_MOCK_READ_ZERO,
					     1, 0),
			 -ENOENT);
	for (int i = 0; i < MOCK_FD_RULES; i++)
		assert_int_equal(iopf_mock_inject_fd(x.m, x.fault_id,
						     IOPF_MOCK_WRITE_SHORT,
						     1000, 0),
				 0);
	assert_int_equal(iopf_mock_inject_fd(x.m, x.fault_id,
					     IOPF_MOCK_WRITE_SHORT, 1000, 0),
			 -ENOSPC);
	fx_teardown(&x);
}

static void test_inject_read(void **state)
{
	struct iommu_hwpt_pgfault r[8];
	uint64_t gid;
	struct fx x;
	(void)state;

	fx_setup(&x);
	/* READ_ZERO: 0 with a group pending; the group stays. */
	assert_int_equal(iopf_mock_inject_fd(x.m, x.fault_id,
					     IOPF_MOCK_READ_ZERO, 1, 0),
			 0);
	assert_int_equal(trig(&x, x.dev, 1, 1, &gid), 0);
	assert_int_equal(eng_read(&x, r, sizeof(r)), 0);
	assert_int_equal(ginfo(x.m, gid).state, IOPF_MOCK_GROUP_PENDING);
	assert_true(readable(x.efd));
	assert_int_equal(eng_read(&x, r, sizeof(r)), REC);

	/* READ_ERRNO: due on the next read, so readable with nothing
	 * pending. */
	assert_false(readable(x.efd));
	assert_int_equal(iopf_mock_inject_fd(x.m, x.fault_id,
					     IOPF_MOCK_READ_ERRNO, 2, EIO),
			 0);
	assert_false(readable(x.efd));
	assert_int_equal(trig(&x, x.dev, 1, 1, NULL), 0);
	assert_int_equal(eng_read(&x, r, sizeof(r)), REC);
	assert_true(readable(x.efd));
	assert_int_equal(eng_read(&x, r, sizeof(r)), -EIO);
	assert_false(readable(x.efd));
	assert_int_equal(eng_read(&x, r, sizeof(r)), 0);

	/* READ_SPLIT: the first 2 records, the other 3 next time, with the
	 * group's one cookie and LAST_PAGE only at its end. */
	assert_int_equal(iopf_mock_inject_fd(x.m, x.fault_id,
					     IOPF_MOCK_READ_SPLIT, 1, 2),
			 0);
	assert_int_equal(trig(&x, x.dev, 5, 5, &gid), 0);
	assert_int_equal(eng_read(&x, r, sizeof(r)), 2 * REC);
	assert_int_equal(r[0].cookie, 3);
	assert_int_equal(r[1].cookie, 3);
	assert_int_equal(r[1].flags, 0);
	assert_int_equal(r[1].addr, 0x2000);
	assert_int_equal(ginfo(x.m, gid).state, IOPF_MOCK_GROUP_DELIVERED);
	assert_true(readable(x.efd));
	/* The rest must fit too. */
	assert_int_equal(eng_read(&x, r, 2 * REC), -EINVAL);
	assert_int_equal(eng_read(&x, r, sizeof(r)), 3 * REC);
	assert_int_equal(r[0].addr, 0x3000);
	assert_int_equal(r[0].cookie, 3);
	assert_int_equal(r[2].cookie, 3);
	assert_int_equal(r[2].flags, IOPF_FAULT_LAST_PAGE);
	assert_false(readable(x.efd));
	assert_int_equal(stats(x.m).groups_delivered, 3);
	assert_int_equal(answer(&x, 3, 0), RSP);

	/* After the rest, whole groups follow in the same read. */
	assert_int_equal(iopf_mock_inject_fd(x.m, x.fault_id,
					     IOPF_MOCK_READ_SPLIT, 1, 1),
			 0);
	assert_int_equal(trig(&x, x.dev, 6, 2, NULL), 0);
	assert_int_equal(trig(&x, x.dev, 7, 1, NULL), 0);
	assert_int_equal(eng_read(&x, r, sizeof(r)), REC);
	assert_int_equal(eng_read(&x, r, sizeof(r)), 2 * REC);
	assert_int_equal(r[0].grpid, 6);
	assert_int_equal(r[0].flags, IOPF_FAULT_LAST_PAGE);
	assert_int_equal(r[1].grpid, 7);
	assert_int_equal(r[1].cookie, 4);

	/* Answered before its rest was read: the rest is dropped. */
	assert_int_equal(iopf_mock_inject_fd(x.m, x.fault_id,
					     IOPF_MOCK_READ_SPLIT, 1, 1),
			 0);
	assert_int_equal(trig(&x, x.dev, 8, 3, &gid), 0);
	assert_int_equal(eng_read(&x, r, sizeof(r)), REC);
	assert_int_equal(answer(&x, r[0].cookie, 1), RSP);
	assert_false(readable(x.efd));
	assert_int_equal(eng_read(&x, r, sizeof(r)), 0);
	assert_int_equal(ginfo(x.m, gid).code, 1);

	/* A first group no bigger than the split is read whole, and so are
	 * the groups after it. */
	assert_int_equal(iopf_mock_inject_fd(x.m, x.fault_id,
					     IOPF_MOCK_READ_SPLIT, 1, 2),
			 0);
	assert_int_equal(trig(&x, x.dev, 9, 2, NULL), 0);
	assert_int_equal(trig(&x, x.dev, 10, 3, NULL), 0);
	assert_int_equal(eng_read(&x, r, sizeof(r)), 5 * REC);
	assert_int_equal(r[1].flags, IOPF_FAULT_LAST_PAGE);
	assert_int_equal(r[4].flags, IOPF_FAULT_LAST_PAGE);
	assert_int_equal(r[4].grpid, 10);
	fx_teardown(&x);
}

static void test_inject_write(void **state)
{
	struct iommu_hwpt_page_response rsp[3];
	struct iommu_hwpt_pgfault r[3];
	uint64_t g1, g2, g3;
	struct fx x;
	(void)state;

	fx_setup(&x);
	assert_int_equal(trig(&x, x.dev, 1, 1, &g1), 0);
	assert_int_equal(trig(&x, x.dev, 2, 1, &g2), 0);
	assert_int_equal(trig(&x, x.dev, 3, 1, &g3), 0);
	/* Reads do not count for write rules. */
	assert_int_equal(iopf_mock_inject_fd(x.m, x.fault_id,
					     IOPF_MOCK_WRITE_SHORT, 1, 1),
			 0);
	assert_int_equal(eng_read(&x, r, sizeof(r)), 3 * REC);
	for (int i = 0; i < 3; i++)
		rsp[i] = (struct iommu_hwpt_page_response){
			.cookie = r[i].cookie,
		};

	assert_int_equal(eng_write(&x, rsp, sizeof(rsp)), RSP);
	assert_int_equal(ginfo(x.m, g1).state, IOPF_MOCK_GROUP_ANSWERED);
	assert_int_equal(ginfo(x.m, g2).state, IOPF_MOCK_GROUP_DELIVERED);
	assert_int_equal(ginfo(x.m, g2).answers, 0);

	assert_int_equal(iopf_mock_inject_fd(x.m, x.fault_id,
					     IOPF_MOCK_WRITE_ERRNO, 1, EAGAIN),
			 0);
	assert_int_equal(eng_write(&x, &rsp[1], 2 * RSP), -EAGAIN);
	assert_int_equal(ginfo(x.m, g2).state, IOPF_MOCK_GROUP_DELIVERED);

	assert_int_equal(iopf_mock_inject_fd(x.m, x.fault_id,
					     IOPF_MOCK_WRITE_SHORT, 1, 0),
			 0);
	assert_int_equal(eng_write(&x, &rsp[1], 2 * RSP), 0);
	assert_int_equal(stats(x.m).outstanding, 2);

	/* A short count past the end of the buffer is the whole buffer. */
	assert_int_equal(iopf_mock_inject_fd(x.m, x.fault_id,
					     IOPF_MOCK_WRITE_SHORT, 1, 5),
			 0);
	assert_int_equal(eng_write(&x, &rsp[1], 2 * RSP), 2 * RSP);
	assert_int_equal(stats(x.m).outstanding, 0);
	assert_false(readable(mock_end(&x)));
	fx_teardown(&x);
}

static void test_inject_fd_closed(void **state)
{
	struct iommu_hwpt_pgfault r[2];
	uint64_t gid;
	struct fx x;
	(void)state;

	fx_setup(&x);
	assert_int_equal(iopf_mock_inject_fd(x.m, x.fault_id,
					     IOPF_MOCK_FD_CLOSED, 3, 0),
			 0);
	assert_int_equal(trig(&x, x.dev, 1, 1, &gid), 0);
	assert_int_equal(eng_read(&x, r, sizeof(r)), REC);	/* 1 */
	assert_int_equal(answer(&x, 99, 0), -EINVAL);		/* 2 */
	assert_true(readable(x.efd)); /* due on the next operation */
	assert_int_equal(answer(&x, 1, 0), -EBADF);		/* 3 */
	assert_int_equal(ginfo(x.m, gid).state, IOPF_MOCK_GROUP_DELIVERED);
	assert_int_equal(trig(&x, x.dev, 1, 1, NULL), 0);
	assert_true(readable(x.efd));
	assert_int_equal(eng_read(&x, r, sizeof(r)), -EBADF);
	assert_int_equal(eng_read(&x, r, sizeof(r)), -EBADF);
	assert_int_equal(answer(&x, 1, 0), -EBADF);
	assert_int_equal(stats(x.m).pending, 1);
	assert_int_equal(stats(x.m).outstanding, 1);
	assert_int_equal(stats(x.m).answered_success, 0);
	fx_teardown(&x);
}

/* ---- engines' corner cases ----------------------------------------------- */

/* An io_uring READ prepared and then cancelled leaves its records staged:
 * the next read gets them, and nothing else. */
static void test_cancelled_read(void **state)
{
	struct iommu_hwpt_pgfault r[4];
	ssize_t res;
	struct fx x;
	(void)state;

	fx_setup(&x);
	assert_int_equal(trig(&x, x.dev, 1, 1, NULL), 0);
	assert_int_equal(x.ops->read_prepare(x.be, x.fd, sizeof(r), &res), 0);
	assert_int_equal(trig(&x, x.dev, 2, 1, NULL), 0);
	assert_int_equal(eng_read(&x, r, sizeof(r)), REC);
	assert_int_equal(r[0].grpid, 1);
	assert_int_equal(eng_read(&x, r, sizeof(r)), REC);
	assert_int_equal(r[0].grpid, 2);
	assert_int_equal(r[0].cookie, 2);
	/* A read that finds the socket empty is an empty read. */
	assert_int_equal(x.ops->read_done(x.be, x.fd, r, sizeof(r), -EAGAIN),
			 0);
	assert_int_equal(x.ops->read_done(x.be, x.fd, r, sizeof(r), -EIO),
			 -EIO);
	/* Unknown fds. */
	assert_int_equal(x.ops->read_prepare(x.be, 12345, sizeof(r), &res), 1);
	assert_int_equal(res, -EBADF);
	assert_int_equal(x.ops->write_done(x.be, 12345, r, 8, 8), -EBADF);
	fx_teardown(&x);
}

/* SUCCESS for every group whose last record is among the got bytes of r. */
static unsigned int collect(struct iommu_hwpt_page_response *rsp,
			    const struct iommu_hwpt_pgfault *r, ssize_t got)
{
	unsigned int n = 0;

	for (size_t i = 0; got > 0 && i < (size_t)got / REC; i++)
		if (r[i].flags & IOPF_FAULT_LAST_PAGE)
			rsp[n++] = (struct iommu_hwpt_page_response){
				.cookie = r[i].cookie,
			};
	return n;
}

/* A steady state of trigger, read, answer allocates nothing. */
static void test_steady_state(void **state)
{
	struct iommu_hwpt_page_response rsp[16];
	struct iommu_hwpt_pgfault r[64];
	size_t before, after;
	bool ok = true;
	struct fx x;
	(void)state;

	fx_setup(&x);
	for (int round = 0; round < 2100; round++) {
		unsigned int n = 0;
		ssize_t got;

		if (round == 100)
			before = mallinfo2().uordblks;
		for (unsigned int g = 0; g < 8; g++)
			ok &= !trig(&x, x.dev, g, 1 + (g + round) % 8, NULL);
		while ((got = eng_read(&x, r, sizeof(r))) > 0)
			n += collect(&rsp[n], r, got);
		ok &= got == 0 && n == 8;
		ok &= eng_write(&x, rsp, n * RSP) == (ssize_t)(n * RSP);
	}
	after = mallinfo2().uordblks;
	assert_true(ok);
	assert_int_equal(after, before);
	assert_int_equal(stats(x.m).answered_success, 2100 * 8);
	assert_int_equal(stats(x.m).outstanding, 0);
	fx_teardown(&x);
}

struct producer {
	struct fx *x;
	unsigned int n;
	int failed;
};

static void *produce(void *arg)
{
	struct producer *p = arg;

	for (unsigned int i = 0; i < p->n; i++)
		if (trig(p->x, p->x->dev, i, 1 + i % 3, NULL))
			p->failed++;
	return NULL;
}

/* Faults triggered on one thread while another reads and answers. */
static void test_threads(void **state)
{
	struct iommu_hwpt_page_response rsp[64];
	struct iommu_hwpt_pgfault r[64];
	struct producer p;
	unsigned int answered = 0, polls = 0;
	pthread_t t;
	struct fx x;
	(void)state;

	fx_setup(&x);
	p = (struct producer){ .x = &x, .n = 3000 };
	assert_int_equal(pthread_create(&t, NULL, produce, &p), 0);
	while (answered < p.n && polls < 100000) {
		struct pollfd pfd = { .fd = x.efd, .events = POLLIN };
		unsigned int n = 0;
		ssize_t got;

		polls++;
		if (poll(&pfd, 1, 1000) != 1)
			break;
		got = eng_read(&x, r, sizeof(r));
		if (got < 0)
			break;
		n = collect(rsp, r, got);
		if (n && eng_write(&x, rsp, n * RSP) != (ssize_t)(n * RSP))
			break;
		answered += n;
	}
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(p.failed, 0);
	assert_int_equal(answered, p.n);
	assert_int_equal(stats(x.m).answered_success, p.n);
	assert_int_equal(stats(x.m).faults_triggered, 1000 * (1 + 2 + 3));
	assert_false(readable(x.efd));
	fx_teardown(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_args),
		cmocka_unit_test(test_ctx_new),
		cmocka_unit_test(test_ioctl_dispatch),
		cmocka_unit_test(test_ioctl_respond_size),
		cmocka_unit_test(test_hw_info),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_destroy),
		cmocka_unit_test(test_hwpt_checks),
		cmocka_unit_test(test_hwpt_kernels),
		cmocka_unit_test(test_kernel_610),
		cmocka_unit_test(test_veventq),
		cmocka_unit_test(test_fault_alloc),
		cmocka_unit_test(test_read_records),
		cmocka_unit_test(test_read_whole_groups),
		cmocka_unit_test(test_read_nofit),
		cmocka_unit_test(test_espipe_empty),
		cmocka_unit_test(test_cookies),
		cmocka_unit_test(test_answers),
		cmocka_unit_test(test_detach_answers),
		cmocka_unit_test(test_replace_answers),
		cmocka_unit_test(test_destroy_answers),
		cmocka_unit_test(test_free_live),
		cmocka_unit_test(test_trigger_args),
		cmocka_unit_test(test_info_stats_args),
		cmocka_unit_test(test_dev_args),
		cmocka_unit_test(test_inject_ioctl),
		cmocka_unit_test(test_inject_fd_args),
		cmocka_unit_test(test_inject_read),
		cmocka_unit_test(test_inject_write),
		cmocka_unit_test(test_inject_fd_closed),
		cmocka_unit_test(test_cancelled_read),
		cmocka_unit_test(test_steady_state),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
