/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The mock's vIOMMUs, vDEVICEs and vEVENTQs, tested directly: commands
 * through ctx_ioctl() on the uapi structs, the vEVENTQ fd read with read(2)
 * between the backend's hooks (as an engine reads it), and the bytes parsed
 * with lib/vevent.c's vevent_parse() for exact lost counts. Each check is
 * something Linux 7.3 does (drivers/iommu/iommufd/viommu.c, eventq.c,
 * driver.c, selftest.c), or 6.12/6.13 where asked. Also the success paths of
 * iopf_viommu_alloc() and iopf_vdevice_alloc().
 *
 * malloc, calloc and realloc are interposed here (forwarding to glibc) so
 * that allocations can fail while a flag is set: an event's (the vEVENTQ
 * then reports the loss, as the kernel's GFP_NOWAIT failure does), an
 * object's, a read's staging buffer's.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>

#include <libiopf/mock.h>

#include "internal.h"
#include "uapi/iommufd.h"
#include "vevent.h"

#define NEST_PARENT	IOMMU_HWPT_ALLOC_NEST_PARENT
#define FAULT_ID_VALID	IOMMU_HWPT_FAULT_ID_VALID
#define VIOMMU_SELFTEST IOPF_MOCK_VIOMMU_TYPE_SELFTEST
#define VQ_SELFTEST	IOPF_MOCK_VEVENTQ_TYPE_SELFTEST
#define HDR		VEVENT_HDR_SIZE
#define LOST		IOMMU_VEVENTQ_FLAG_LOST_EVENTS

static const uint32_t selftest_data = 0xbadbeef; /* iommu_hwpt_selftest */

/* ---- malloc that fails on demand ---------------------------------------- */

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);

static atomic_bool fail_malloc;
static atomic_uint malloc_failures;

/* Not under a sanitizer (ASan and TSan bring their own allocator) nor
 * valgrind (which replaces this one): there the ENOMEM tests skip. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define MOCK_TEST_SANITIZED 1
#endif
#endif
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__) &&         \
	!defined(MOCK_TEST_SANITIZED)
void *malloc(size_t size)
{
	if (atomic_load(&fail_malloc)) {
		atomic_fetch_add(&malloc_failures, 1);
		errno = ENOMEM;
		return NULL;
	}
	return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
	if (atomic_load(&fail_malloc)) {
		atomic_fetch_add(&malloc_failures, 1);
		errno = ENOMEM;
		return NULL;
	}
	return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
	if (atomic_load(&fail_malloc)) {
		atomic_fetch_add(&malloc_failures, 1);
		errno = ENOMEM;
		return NULL;
	}
	return __libc_realloc(p, size);
}
#endif

static bool interposed(void)
{
	void *(*volatile alloc)(size_t) = malloc;
	void *p;

	atomic_store(&fail_malloc, true);
	p = alloc(64);
	atomic_store(&fail_malloc, false);
	free(p);
	return p == NULL;
}

/* ---- raw commands ------------------------------------------------------- */

static int ioas_alloc(struct iopf_ctx *ctx, uint32_t *id)
{
	struct iommu_ioas_alloc c = {.size = sizeof(c)};
	int rc = ctx_ioctl(ctx, IOMMU_IOAS_ALLOC, &c);

	*id = rc ? 0 : c.out_ioas_id;
	return rc;
}

static int destroy(struct iopf_ctx *ctx, uint32_t id)
{
	struct iommu_destroy c = {.size = sizeof(c), .id = id};

	return ctx_ioctl(ctx, IOMMU_DESTROY, &c);
}

static int hwpt(struct iopf_ctx *ctx, uint32_t flags, uint32_t dev, uint32_t pt,
		uint32_t fault, bool data, uint32_t *id)
{
	struct iommu_hwpt_alloc c = {
		.size = sizeof(c),
		.flags = flags,
		.dev_id = dev,
		.pt_id = pt,
		.fault_id = fault,
	};
	int rc;

	if (data) {
		c.data_type = IOMMU_HWPT_DATA_SELFTEST;
		c.data_len = sizeof(selftest_data);
		c.data_uptr = (uintptr_t)&selftest_data;
	}
	rc = ctx_ioctl(ctx, IOMMU_HWPT_ALLOC, &c);
	if (id)
		*id = rc ? 0 : c.out_hwpt_id;
	return rc;
}

static struct iommu_viommu_alloc va(uint32_t type, uint32_t dev,
				    uint32_t hwpt_id)
{
	return (struct iommu_viommu_alloc){
		.size = sizeof(struct iommu_viommu_alloc),
		.type = type,
		.dev_id = dev,
		.hwpt_id = hwpt_id,
	};
}

static int viommu(struct iopf_ctx *ctx, struct iommu_viommu_alloc c,
		  uint32_t *id)
{
	int rc = ctx_ioctl(ctx, IOMMU_VIOMMU_ALLOC, &c);

	if (id)
		*id = rc ? 0 : c.out_viommu_id;
	return rc;
}

static int vdevice(struct iopf_ctx *ctx, uint32_t viommu_id, uint32_t dev,
		   uint64_t virt_id, uint32_t *id)
{
	struct iommu_vdevice_alloc c = {
		.size = sizeof(c),
		.viommu_id = viommu_id,
		.dev_id = dev,
		.virt_id = virt_id,
	};
	int rc = ctx_ioctl(ctx, IOMMU_VDEVICE_ALLOC, &c);

	if (id)
		*id = rc ? 0 : c.out_vdevice_id;
	return rc;
}

static struct iommu_veventq_alloc vq(uint32_t viommu_id, uint32_t type,
				     uint32_t depth)
{
	return (struct iommu_veventq_alloc){
		.size = sizeof(struct iommu_veventq_alloc),
		.viommu_id = viommu_id,
		.type = type,
		.veventq_depth = depth,
	};
}

static int veventq(struct iopf_ctx *ctx, struct iommu_veventq_alloc c,
		   uint32_t *id, int *fd)
{
	int rc = ctx_ioctl(ctx, IOMMU_VEVENTQ_ALLOC, &c);

	if (id)
		*id = rc ? 0 : c.out_veventq_id;
	if (fd)
		*fd = rc ? -1 : (int)c.out_veventq_fd;
	return rc;
}

static struct iopf_mock *mock_new(uint32_t kernel)
{
	struct iopf_mock_opts o = {.size = sizeof(o), .kernel = kernel};
	struct iopf_mock *m = NULL;

	assert_int_equal(iopf_mock_new(&o, &m), 0);
	return m;
}

/* ---- the stack: ioas, dev, parent, vIOMMU, vDEVICE, vEVENTQ, nested ----- */

#define VIRT_ID 0x42u

struct fx {
	struct iopf_mock *m;
	struct iopf_ctx *ctx;
	const struct iopf_backend_ops *ops;
	void *be;
	uint32_t ioas, dev, parent, viommu, vdev, vq, nested;
	int fd; /* the vEVENTQ fd; -1 once closed */
};

/* Up to the vDEVICE. */
static void fx_base(struct fx *x, uint32_t kernel)
{
	memset(x, 0, sizeof(*x));
	x->fd = -1;
	x->m = mock_new(kernel);
	assert_int_equal(iopf_mock_ctx_new(x->m, &x->ctx), 0);
	x->ops = x->ctx->ops;
	x->be = x->ctx->be;
	assert_int_equal(ioas_alloc(x->ctx, &x->ioas), 0);
	assert_int_equal(iopf_mock_dev_new(x->m, &x->dev), 0);
	assert_int_equal(hwpt(x->ctx, NEST_PARENT, x->dev, x->ioas, 0, false,
			      &x->parent),
			 0);
	assert_int_equal(viommu(x->ctx, va(VIOMMU_SELFTEST, x->dev, x->parent),
				&x->viommu),
			 0);
	assert_int_equal(vdevice(x->ctx, x->viommu, x->dev, VIRT_ID, &x->vdev),
			 0);
}

/* The whole stack of 7.3's selftest order, the vEVENTQ of depth depth. */
static void fx_setup(struct fx *x, uint32_t depth)
{
	fx_base(x, IOPF_MOCK_KERNEL_7_3);
	assert_int_equal(veventq(x->ctx, vq(x->viommu, VQ_SELFTEST, depth),
				 &x->vq, &x->fd),
			 0);
	assert_true(x->fd >= 0);
	assert_int_equal(
		hwpt(x->ctx, 0, x->dev, x->viommu, 0, true, &x->nested), 0);
	assert_int_equal(iopf_mock_dev_attach(x->m, x->dev, x->nested), 0);
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

/* read(2) on the vEVENTQ fd between the hooks, as an engine reads it. */
static ssize_t vread(struct fx *x, void *buf, size_t len)
{
	ssize_t res = 12345;

	if (x->ops->read_prepare(x->be, x->fd, len, &res))
		return res;
	res = read(x->fd, buf, len);
	if (res < 0)
		res = -errno;
	return x->ops->read_done(x->be, x->fd, buf, len, res);
}

static int raise_st(struct fx *x, uint32_t *seq)
{
	return iopf_mock_vevent(x->m, x->dev, VQ_SELFTEST, NULL, 0, seq);
}

static void raise_n(struct fx *x, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		assert_int_equal(raise_st(x, NULL), 0);
}

static bool readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* One record's header at off. */
static struct iommufd_vevent_header hdr_at(const unsigned char *buf, size_t off)
{
	struct iommufd_vevent_header h;

	memcpy(&h, buf + off, sizeof(h));
	return h;
}

/* Reads everything (reads of len bytes, or what is left of store, until one
 * gives 0) into store and parses it with s: returns the events parsed into
 * ev (max n). */
static unsigned int drain(struct fx *x, struct vevent_seq *s, size_t len,
			  struct iopf_vevent *ev, unsigned int n,
			  unsigned char *store, size_t store_len)
{
	unsigned int got = 0;
	size_t at = 0;

	for (;;) {
		ssize_t r;
		size_t off = 0;
		int k;

		size_t want = len < store_len - at ? len : store_len - at;

		assert_true(want >= HDR + 4);
		r = vread(x, store + at, want);
		assert_true(r >= 0);
		if (!r)
			break;
		k = vevent_parse(s, VQ_SELFTEST, 4, store + at, (size_t)r, &off,
				 ev + got, n - got);
		assert_true(k > 0);
		assert_int_equal(off, (size_t)r);
		got += (unsigned int)k;
		at += (size_t)r;
	}
	return got;
}

/* ---- which kernels have what -------------------------------------------- */

static void test_modes(void **state)
{
	static const uint32_t kernels[] = {
		IOPF_MOCK_KERNEL_6_10, IOPF_MOCK_KERNEL_6_12,
		IOPF_MOCK_KERNEL_6_13, IOPF_MOCK_KERNEL_6_15,
		IOPF_MOCK_KERNEL_7_3,
	};
	(void)state;

	for (size_t i = 0; i < sizeof(kernels) / sizeof(kernels[0]); i++) {
		uint32_t k = kernels[i], ioas, dev, parent, v = 0, vd;
		struct iommu_veventq_alloc q;
		struct iopf_mock *m = mock_new(k);
		struct iopf_ctx *ctx;
		int rc, fd = -1;

		assert_int_equal(iopf_mock_ctx_new(m, &ctx), 0);
		assert_int_equal(ioas_alloc(ctx, &ioas), 0);
		assert_int_equal(iopf_mock_dev_new(m, &dev), 0);
		assert_int_equal(
			hwpt(ctx, NEST_PARENT, dev, ioas, 0, false, &parent),
			0);
		rc = viommu(ctx, va(VIOMMU_SELFTEST, dev, parent), &v);
		assert_int_equal(rc, k >= IOPF_MOCK_KERNEL_6_13 ? 0 : -ENOTTY);
		rc = vdevice(ctx, v, dev, 1, &vd);
		assert_int_equal(rc, k >= IOPF_MOCK_KERNEL_6_13 ? 0 : -ENOTTY);
		q = vq(v, VQ_SELFTEST, 4);
		rc = veventq(ctx, q, NULL, &fd);
		assert_int_equal(rc, k >= IOPF_MOCK_KERNEL_6_15 ? 0 : -ENOTTY);
		if (fd >= 0)
			ctx->ops->fault_close(ctx->be, fd);
		iopf_ctx_free(ctx);
		iopf_mock_free(m);
	}
}

/* ---- IOMMU_VIOMMU_ALLOC ------------------------------------------------- */

static void test_viommu_alloc(void **state)
{
	struct iommu_viommu_alloc c;
	uint32_t plain, fault_nest, id;
	struct fx x;
	(void)state;

	fx_base(&x, IOPF_MOCK_KERNEL_7_3);
	assert_int_equal(hwpt(x.ctx, 0, x.dev, x.ioas, 0, false, &plain), 0);

	c = va(VIOMMU_SELFTEST, x.dev, x.parent);
	c.flags = 1;
	assert_int_equal(viommu(x.ctx, c, &id), -EOPNOTSUPP);
	c = va(IOMMU_VIOMMU_TYPE_DEFAULT, x.dev, x.parent);
	assert_int_equal(viommu(x.ctx, c, &id), -EOPNOTSUPP);
	c = va(VIOMMU_SELFTEST, 999, x.parent);
	assert_int_equal(viommu(x.ctx, c, &id), -ENOENT);
	c = va(VIOMMU_SELFTEST, x.ioas, x.parent); /* not a device */
	assert_int_equal(viommu(x.ctx, c, &id), -ENOENT);
	/* A type the (selftest) driver has not. */
	c = va(IOMMU_VIOMMU_TYPE_ARM_SMMUV3, x.dev, x.parent);
	assert_int_equal(viommu(x.ctx, c, &id), -EOPNOTSUPP);
	c = va(VIOMMU_SELFTEST, x.dev, 999);
	assert_int_equal(viommu(x.ctx, c, &id), -ENOENT);
	c = va(VIOMMU_SELFTEST, x.dev, x.ioas); /* not a paging HWPT */
	assert_int_equal(viommu(x.ctx, c, &id), -ENOENT);
	c = va(VIOMMU_SELFTEST, x.dev, x.viommu);
	assert_int_equal(viommu(x.ctx, c, &id), -ENOENT);
	c = va(VIOMMU_SELFTEST, x.dev, plain); /* no NEST_PARENT */
	assert_int_equal(viommu(x.ctx, c, &id), -EINVAL);
	/* A nested HWPT is no paging HWPT either. */
	assert_int_equal(hwpt(x.ctx, 0, x.dev, x.parent, 0, true, &fault_nest),
			 0);
	c = va(VIOMMU_SELFTEST, x.dev, fault_nest);
	assert_int_equal(viommu(x.ctx, c, &id), -ENOENT);
	assert_int_equal(destroy(x.ctx, fault_nest), 0);
	/* The struct's size: up to out_viommu_id is required. */
	c = va(VIOMMU_SELFTEST, x.dev, x.parent);
	c.size = offsetof(struct iommu_viommu_alloc, out_viommu_id);
	assert_int_equal(viommu(x.ctx, c, &id), -EINVAL);
	c.size = offsetof(struct iommu_viommu_alloc, data_len);
	assert_int_equal(viommu(x.ctx, c, &id), 0);
	/* A second vIOMMU on one parent is fine; ids are the lowest free. */
	assert_int_equal(id, fault_nest);
	assert_int_equal(destroy(x.ctx, plain), 0);
	assert_int_equal(destroy(x.ctx, id), 0);

	/* The vIOMMU holds its parent; nothing holds a fresh vIOMMU. */
	assert_int_equal(
		viommu(x.ctx, va(VIOMMU_SELFTEST, x.dev, x.parent), &id), 0);
	assert_int_equal(destroy(x.ctx, x.parent), -EBUSY);
	assert_int_equal(destroy(x.ctx, id), 0);
	assert_int_equal(destroy(x.ctx, id), -ENOENT);
	fx_teardown(&x);
}

/* struct iommu_viommu_selftest through data_uptr: in_data comes back as
 * out_data; a length below out_data or above the struct is EINVAL. */
static void test_viommu_data(void **state)
{
	struct {
		uint32_t in_data, out_data;
		uint64_t off, len;
		uint64_t extra;
	} d;
	struct iommu_viommu_alloc c;
	uint32_t id;
	struct fx x;
	(void)state;

	fx_base(&x, IOPF_MOCK_KERNEL_7_3);
	c = va(VIOMMU_SELFTEST, x.dev, x.parent);
	c.data_uptr = (uintptr_t)&d;
	memset(&d, 0xff, sizeof(d));
	d.in_data = 0x1234;
	c.data_len = 4;
	assert_int_equal(viommu(x.ctx, c, &id), -EINVAL);
	c.data_len = 32;
	assert_int_equal(viommu(x.ctx, c, &id), -EINVAL);
	c.data_len = 8;
	c.data_uptr = 0;
	assert_int_equal(viommu(x.ctx, c, &id), -EFAULT);
	c.data_uptr = (uintptr_t)&d;
	assert_int_equal(viommu(x.ctx, c, &id), 0);
	assert_int_equal(d.out_data, 0x1234);
	assert_int_equal(d.off, UINT64_MAX); /* beyond data_len: untouched */
	assert_int_equal(destroy(x.ctx, id), 0);
	memset(&d, 0xff, sizeof(d));
	d.in_data = 0x5678;
	c.data_len = 24;
	assert_int_equal(viommu(x.ctx, c, &id), 0);
	assert_int_equal(d.out_data, 0x5678);
	assert_int_equal(d.off, 0); /* no mmap() in the mock */
	assert_int_equal(d.len, 0);
	assert_int_equal(d.extra, UINT64_MAX);
	assert_int_equal(destroy(x.ctx, id), 0);
	fx_teardown(&x);
}

/* ---- IOMMU_VDEVICE_ALLOC ------------------------------------------------ */

static void test_vdevice_alloc(void **state)
{
	uint32_t dev2, dev3, parent2, viommu2, id, id2;
	struct iommu_vdevice_alloc c = {.size = 16};
	struct fx x;
	(void)state;

	fx_base(&x, IOPF_MOCK_KERNEL_7_3);
	assert_int_equal(iopf_mock_dev_new(x.m, &dev2), 0);
	assert_int_equal(iopf_mock_dev_new(x.m, &dev3), 0);
	assert_int_equal(vdevice(x.ctx, 999, dev2, 1, &id), -ENOENT);
	assert_int_equal(vdevice(x.ctx, x.parent, dev2, 1, &id), -ENOENT);
	assert_int_equal(vdevice(x.ctx, x.viommu, 999, 1, &id), -ENOENT);
	assert_int_equal(vdevice(x.ctx, x.viommu, x.ioas, 1, &id), -ENOENT);
	/* virt_id is required: a struct that ends before it is EINVAL. */
	c.viommu_id = x.viommu;
	c.dev_id = dev2;
	assert_int_equal(ctx_ioctl(x.ctx, IOMMU_VDEVICE_ALLOC, &c), -EINVAL);
	/* One vDEVICE per device; one device per virt_id and vIOMMU. */
	assert_int_equal(vdevice(x.ctx, x.viommu, x.dev, VIRT_ID + 1, &id),
			 -EEXIST);
	assert_int_equal(vdevice(x.ctx, x.viommu, dev2, VIRT_ID, &id), -EEXIST);
	assert_int_equal(vdevice(x.ctx, x.viommu, dev2, UINT64_MAX, &id), 0);
	/* The same virt_id on another vIOMMU is another slot. */
	assert_int_equal(
		hwpt(x.ctx, NEST_PARENT, dev3, x.ioas, 0, false, &parent2), 0);
	assert_int_equal(
		viommu(x.ctx, va(VIOMMU_SELFTEST, dev3, parent2), &viommu2), 0);
	assert_int_equal(vdevice(x.ctx, viommu2, dev2, VIRT_ID, &id2), -EEXIST);
	assert_int_equal(vdevice(x.ctx, viommu2, dev3, VIRT_ID, &id2), 0);
	/* A vIOMMU is busy while a vDEVICE holds it. */
	assert_int_equal(destroy(x.ctx, x.viommu), -EBUSY);
	assert_int_equal(destroy(x.ctx, viommu2), -EBUSY);
	assert_int_equal(destroy(x.ctx, id2), 0);
	assert_int_equal(destroy(x.ctx, viommu2), 0);
	assert_int_equal(destroy(x.ctx, parent2), 0);
	/* A freed virt_id and device can be used again. */
	assert_int_equal(destroy(x.ctx, x.vdev), 0);
	assert_int_equal(vdevice(x.ctx, x.viommu, dev3, VIRT_ID, &id2), 0);
	assert_int_equal(vdevice(x.ctx, x.viommu, x.dev, 7, &x.vdev), 0);
	assert_int_equal(destroy(x.ctx, x.viommu), -EBUSY);
	assert_int_equal(destroy(x.ctx, id), 0);
	assert_int_equal(destroy(x.ctx, id2), 0);
	assert_int_equal(destroy(x.ctx, x.vdev), 0);
	assert_int_equal(destroy(x.ctx, x.viommu), 0);
	assert_int_equal(destroy(x.ctx, x.parent), 0);
	fx_teardown(&x);
}

/* ---- IOMMU_HWPT_ALLOC on a vIOMMU, and attaching to it ------------------- */

static void test_hwpt_on_viommu(void **state)
{
	struct iommu_hwpt_alloc c = {.size = sizeof(c)};
	struct iommu_fault_alloc fa = {.size = sizeof(fa)};
	uint32_t dev2, nested, nf, plain_nested;
	struct iommu_hwpt_pgfault rec;
	struct fx x;
	ssize_t res = 0;
	(void)state;

	fx_base(&x, IOPF_MOCK_KERNEL_7_3);
	assert_int_equal(
		hwpt(x.ctx, NEST_PARENT, x.dev, x.viommu, 0, true, &nested),
		-EOPNOTSUPP);
	assert_int_equal(hwpt(x.ctx, IOMMU_HWPT_ALLOC_DIRTY_TRACKING, x.dev,
			      x.viommu, 0, true, &nested),
			 -EOPNOTSUPP);
	/* No stage-1 data: EOPNOTSUPP, as for a nested HWPT on a parent. */
	assert_int_equal(hwpt(x.ctx, 0, x.dev, x.viommu, 0, false, &nested),
			 -EOPNOTSUPP);
	c.dev_id = x.dev;
	c.pt_id = x.viommu;
	c.data_type = IOMMU_HWPT_DATA_SELFTEST;
	c.data_len = 4;
	c.data_uptr = 0; /* the driver reads it */
	assert_int_equal(ctx_ioctl(x.ctx, IOMMU_HWPT_ALLOC, &c), -EFAULT);
	assert_int_equal(hwpt(x.ctx, FAULT_ID_VALID, x.dev, x.viommu, 999, true,
			      &nested),
			 -ENOENT);
	assert_int_equal(hwpt(x.ctx, IOMMU_HWPT_ALLOC_PASID, x.dev, x.viommu, 0,
			      true, &nested),
			 0);
	assert_int_equal(destroy(x.ctx, nested), 0);

	/* With a fault queue: faults of a device there are delivered. */
	assert_int_equal(ctx_ioctl(x.ctx, IOMMU_FAULT_QUEUE_ALLOC, &fa), 0);
	assert_int_equal(hwpt(x.ctx, FAULT_ID_VALID, x.dev, x.viommu,
			      fa.out_fault_id, true, &nf),
			 0);
	assert_int_equal(destroy(x.ctx, fa.out_fault_id), -EBUSY);
	/* The vIOMMU is held by its nested HWPT; its parent only by it. */
	assert_int_equal(destroy(x.ctx, x.vdev), 0);
	assert_int_equal(destroy(x.ctx, x.viommu), -EBUSY);
	/* Attach wants the device's vDEVICE on that vIOMMU. */
	assert_int_equal(iopf_mock_dev_attach(x.m, x.dev, nf), -ENOENT);
	assert_int_equal(vdevice(x.ctx, x.viommu, x.dev, VIRT_ID, &x.vdev), 0);
	assert_int_equal(iopf_mock_dev_attach(x.m, x.dev, nf), 0);
	assert_int_equal(
		iopf_mock_trigger(x.m, x.dev, 5,
				  &(struct iopf_mock_fault){.addr = 0x7000}, 1,
				  NULL),
		0);
	assert_int_equal(x.ops->read_prepare(x.be, (int)fa.out_fault_fd,
					     sizeof(rec), &res),
			 0);
	assert_int_equal(read((int)fa.out_fault_fd, &rec, sizeof(rec)),
			 sizeof(rec));
	assert_int_equal(rec.dev_id, x.dev);
	assert_int_equal(rec.grpid, 5);
	assert_int_equal(rec.addr, 0x7000);
	assert_int_equal(destroy(x.ctx, nf), -EBUSY); /* attached */

	/* A device whose vDEVICE is on another vIOMMU cannot attach. */
	{
		uint32_t parent2, viommu2, vd2, n2;

		assert_int_equal(iopf_mock_dev_new(x.m, &dev2), 0);
		assert_int_equal(hwpt(x.ctx, NEST_PARENT, dev2, x.ioas, 0,
				      false, &parent2),
				 0);
		assert_int_equal(viommu(x.ctx,
					va(VIOMMU_SELFTEST, dev2, parent2),
					&viommu2),
				 0);
		assert_int_equal(vdevice(x.ctx, viommu2, dev2, 1, &vd2), 0);
		assert_int_equal(iopf_mock_dev_attach(x.m, dev2, nf), -ENOENT);
		assert_int_equal(hwpt(x.ctx, 0, dev2, viommu2, 0, true, &n2),
				 0);
		assert_int_equal(iopf_mock_dev_attach(x.m, dev2, n2), 0);
		assert_int_equal(iopf_mock_dev_detach(x.m, dev2), 0);
		assert_int_equal(destroy(x.ctx, n2), 0);
		assert_int_equal(destroy(x.ctx, vd2), 0);
		assert_int_equal(destroy(x.ctx, viommu2), 0);
		assert_int_equal(destroy(x.ctx, parent2), 0);
	}

	/* Back on a nested HWPT of the parent: no vIOMMU rules there. */
	assert_int_equal(
		hwpt(x.ctx, 0, x.dev, x.parent, 0, true, &plain_nested), 0);
	assert_int_equal(iopf_mock_dev_attach(x.m, x.dev, plain_nested), 0);
	assert_int_equal(destroy(x.ctx, nf), 0);
	assert_int_equal(destroy(x.ctx, x.viommu), -EBUSY); /* the vDEVICE */
	assert_int_equal(destroy(x.ctx, x.vdev), 0);
	assert_int_equal(destroy(x.ctx, x.viommu), 0);
	assert_int_equal(destroy(x.ctx, x.parent), -EBUSY); /* plain_nested */
	assert_int_equal(iopf_mock_dev_detach(x.m, x.dev), 0);
	assert_int_equal(destroy(x.ctx, plain_nested), 0);
	assert_int_equal(destroy(x.ctx, x.parent), 0);
	x.ops->fault_close(x.be, (int)fa.out_fault_fd);
	assert_int_equal(destroy(x.ctx, fa.out_fault_id), 0);
	fx_teardown(&x);
}

/* 6.13 takes no ALLOC_PASID on a vIOMMU's nested HWPT. */
static void test_hwpt_on_viommu_613(void **state)
{
	uint32_t nested;
	struct fx x;
	(void)state;

	fx_base(&x, IOPF_MOCK_KERNEL_6_13);
	assert_int_equal(hwpt(x.ctx, IOMMU_HWPT_ALLOC_PASID, x.dev, x.viommu, 0,
			      true, &nested),
			 -EOPNOTSUPP);
	assert_int_equal(hwpt(x.ctx, 0, x.dev, x.viommu, 0, true, &nested), 0);
	assert_int_equal(iopf_mock_dev_attach(x.m, x.dev, nested), 0);
	/* No vEVENTQ in 6.13: nothing can take the event. */
	assert_int_equal(raise_st(&x, NULL), -EOPNOTSUPP);
	fx_teardown(&x);
}

/* ---- IOMMU_VEVENTQ_ALLOC ------------------------------------------------ */

static void test_veventq_alloc(void **state)
{
	struct iommu_veventq_alloc c;
	uint32_t id, id2;
	int fd, fd2;
	struct fx x;
	(void)state;

	fx_base(&x, IOPF_MOCK_KERNEL_7_3);
	c = vq(x.viommu, VQ_SELFTEST, 1);
	c.flags = 1;
	assert_int_equal(veventq(x.ctx, c, &id, &fd), -EOPNOTSUPP);
	c = vq(x.viommu, VQ_SELFTEST, 1);
	c.__reserved = 1;
	assert_int_equal(veventq(x.ctx, c, &id, &fd), -EOPNOTSUPP);
	c = vq(x.viommu, IOMMU_VEVENTQ_TYPE_DEFAULT, 1);
	assert_int_equal(veventq(x.ctx, c, &id, &fd), -EOPNOTSUPP);
	c = vq(x.viommu, VQ_SELFTEST, 0);
	assert_int_equal(veventq(x.ctx, c, &id, &fd), -EINVAL);
	c = vq(x.viommu, VQ_SELFTEST, (1u << 19) + 1);
	assert_int_equal(veventq(x.ctx, c, &id, &fd), -EINVAL);
	c = vq(999, VQ_SELFTEST, 1);
	assert_int_equal(veventq(x.ctx, c, &id, &fd), -ENOENT);
	c = vq(x.parent, VQ_SELFTEST, 1);
	assert_int_equal(veventq(x.ctx, c, &id, &fd), -ENOENT);
	c = vq(x.viommu, VQ_SELFTEST, 1u << 19);
	assert_int_equal(veventq(x.ctx, c, &id, &fd), 0);
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	/* One queue per type and vIOMMU; other types are other queues. */
	c = vq(x.viommu, VQ_SELFTEST, 8);
	assert_int_equal(veventq(x.ctx, c, &id2, &fd2), -EEXIST);
	c = vq(x.viommu, IOMMU_VEVENTQ_TYPE_ARM_SMMUV3, 8);
	assert_int_equal(veventq(x.ctx, c, &id2, &fd2), 0);
	assert_int_not_equal(fd2, fd);
	assert_int_not_equal(id2, id);
	/* The fd holds its queue, the queues their vIOMMU. */
	assert_int_equal(destroy(x.ctx, id), -EBUSY);
	assert_int_equal(destroy(x.ctx, x.vdev), 0);
	assert_int_equal(destroy(x.ctx, x.viommu), -EBUSY);
	x.ops->fault_close(x.be, fd);
	assert_int_equal(destroy(x.ctx, id), 0);
	/* Its type is free again. */
	c = vq(x.viommu, VQ_SELFTEST, 2);
	assert_int_equal(veventq(x.ctx, c, &id, &fd), 0);
	x.ops->fault_close(x.be, fd);
	assert_int_equal(destroy(x.ctx, id), 0);
	x.ops->fault_close(x.be, fd2);
	assert_int_equal(destroy(x.ctx, x.viommu), -EBUSY);
	assert_int_equal(destroy(x.ctx, id2), 0);
	assert_int_equal(destroy(x.ctx, x.viommu), 0);
	/* Required size: up to out_veventq_fd. */
	c = vq(1, VQ_SELFTEST, 1);
	c.size = offsetof(struct iommu_veventq_alloc, out_veventq_fd);
	assert_int_equal(veventq(x.ctx, c, &id, &fd), -EINVAL);
	fx_teardown(&x);
}

/* ---- raising events ------------------------------------------------------ */

static void test_vevent_errors(void **state)
{
	static const unsigned char big[IOPF_MOCK_VEVENT_MAX + 1];
	uint32_t dev2, plain_nested, seq = 77, v = 1;
	struct fx x;
	(void)state;

	fx_base(&x, IOPF_MOCK_KERNEL_7_3);
	assert_int_equal(
		iopf_mock_vevent(NULL, x.dev, VQ_SELFTEST, NULL, 0, &seq),
		-EINVAL);
	assert_int_equal(iopf_mock_vevent(x.m, 999, VQ_SELFTEST, NULL, 0, &seq),
			 -ENOENT);
	/* Not attached, or attached to a HWPT of no vIOMMU: ENOENT. */
	assert_int_equal(raise_st(&x, &seq), -ENOENT);
	assert_int_equal(
		hwpt(x.ctx, 0, x.dev, x.parent, 0, true, &plain_nested), 0);
	assert_int_equal(iopf_mock_dev_attach(x.m, x.dev, plain_nested), 0);
	assert_int_equal(raise_st(&x, &seq), -ENOENT);
	assert_int_equal(hwpt(x.ctx, 0, x.dev, x.viommu, 0, true, &x.nested),
			 0);
	assert_int_equal(iopf_mock_dev_attach(x.m, x.dev, x.nested), 0);
	/* Now the vIOMMU has no vEVENTQ of the type. */
	assert_int_equal(raise_st(&x, &seq), -EOPNOTSUPP);
	assert_int_equal(
		veventq(x.ctx, vq(x.viommu, VQ_SELFTEST, 4), &x.vq, &x.fd), 0);
	assert_int_equal(iopf_mock_vevent(x.m, x.dev,
					  IOMMU_VEVENTQ_TYPE_ARM_SMMUV3, big,
					  32, &seq),
			 -EOPNOTSUPP);
	/* No payload (but for the selftest's own), or too big. */
	assert_int_equal(
		iopf_mock_vevent(x.m, x.dev, VQ_SELFTEST, NULL, 4, &seq),
		-EINVAL);
	assert_int_equal(iopf_mock_vevent(x.m, x.dev, VQ_SELFTEST, &v, 0, &seq),
			 -EINVAL);
	assert_int_equal(iopf_mock_vevent(x.m, x.dev,
					  IOMMU_VEVENTQ_TYPE_ARM_SMMUV3, NULL,
					  0, &seq),
			 -EINVAL);
	assert_int_equal(iopf_mock_vevent(x.m, x.dev, VQ_SELFTEST, big,
					  sizeof(big), &seq),
			 -E2BIG);
	assert_int_equal(seq, 77); /* nothing raised so far */
	assert_false(readable(x.ops->poll_fd(x.be, x.fd)));
	assert_int_equal(iopf_mock_vevent(x.m, x.dev, VQ_SELFTEST, big,
					  IOPF_MOCK_VEVENT_MAX, &seq),
			 0);
	assert_int_equal(seq, 0);
	assert_true(readable(x.ops->poll_fd(x.be, x.fd)));
	/* Another device on the same vIOMMU without attaching: ENOENT. */
	assert_int_equal(iopf_mock_dev_new(x.m, &dev2), 0);
	assert_int_equal(
		iopf_mock_vevent(x.m, dev2, VQ_SELFTEST, NULL, 0, &seq),
		-ENOENT);
	/* Detached: ENOENT again. */
	assert_int_equal(iopf_mock_dev_detach(x.m, x.dev), 0);
	assert_int_equal(raise_st(&x, &seq), -ENOENT);
	assert_int_equal(seq, 0);
	fx_teardown(&x);
}

/* Payloads as given, or the selftest's virt_id; headers with 0 flags and
 * numbers from 0. */
static void test_vevent_payloads(void **state)
{
	const uint32_t mine = 0xabcdef01u;
	unsigned char buf[256];
	uint32_t seq = 99, got;
	struct fx x;
	(void)state;

	fx_setup(&x, 8);
	assert_false(readable(x.ops->poll_fd(x.be, x.fd)));
	assert_int_equal(raise_st(&x, &seq), 0);
	assert_int_equal(seq, 0);
	assert_true(readable(x.ops->poll_fd(x.be, x.fd)));
	assert_int_equal(iopf_mock_vevent(x.m, x.dev, VQ_SELFTEST, &mine,
					  sizeof(mine), &seq),
			 0);
	assert_int_equal(seq, 1);
	assert_int_equal(raise_st(&x, NULL), 0);
	assert_int_equal(vread(&x, buf, sizeof(buf)), 3 * (HDR + 4));
	for (unsigned int i = 0; i < 3; i++) {
		struct iommufd_vevent_header h = hdr_at(buf, i * (HDR + 4));

		assert_int_equal(h.flags, 0);
		assert_int_equal(h.sequence, i);
		memcpy(&got, buf + i * (HDR + 4) + HDR, 4);
		assert_int_equal(got, i == 1 ? mine : VIRT_ID);
	}
	assert_false(readable(x.ops->poll_fd(x.be, x.fd)));
	/* Empty: 0, as the kernel's read. */
	assert_int_equal(vread(&x, buf, sizeof(buf)), 0);
	/* The virt_id is the vDEVICE's at the attach. */
	assert_int_equal(iopf_mock_dev_detach(x.m, x.dev), 0);
	assert_int_equal(destroy(x.ctx, x.vdev), 0);
	assert_int_equal(vdevice(x.ctx, x.viommu, x.dev, 0x9999, &x.vdev), 0);
	assert_int_equal(iopf_mock_dev_attach(x.m, x.dev, x.nested), 0);
	assert_int_equal(raise_st(&x, &seq), 0);
	assert_int_equal(seq, 3);
	assert_int_equal(vread(&x, buf, sizeof(buf)), HDR + 4);
	memcpy(&got, buf + HDR, 4);
	assert_int_equal(got, 0x9999);
	fx_teardown(&x);
}

/* ---- the read rules ----------------------------------------------------- */

static void test_read_rules(void **state)
{
	unsigned char buf[64];
	struct fx x;
	(void)state;

	fx_setup(&x, 8);
	/* Shorter than a header: EINVAL, even with nothing queued. */
	assert_int_equal(vread(&x, buf, 0), -EINVAL);
	assert_int_equal(vread(&x, buf, HDR - 1), -EINVAL);
	assert_int_equal(vread(&x, buf, HDR), 0);
	raise_n(&x, 3);
	assert_int_equal(vread(&x, buf, HDR - 1), -EINVAL);
	/* The first event does not fit: EINVAL, nothing taken. */
	assert_int_equal(vread(&x, buf, HDR), -EINVAL);
	assert_int_equal(vread(&x, buf, HDR + 3), -EINVAL);
	/* Whole events only; what does not fit stays. */
	assert_int_equal(vread(&x, buf, HDR + 4), HDR + 4);
	assert_int_equal(hdr_at(buf, 0).sequence, 0);
	assert_int_equal(vread(&x, buf, 2 * (HDR + 4) - 1), HDR + 4);
	assert_int_equal(hdr_at(buf, 0).sequence, 1);
	assert_int_equal(vread(&x, buf, sizeof(buf)), HDR + 4);
	assert_int_equal(hdr_at(buf, 0).sequence, 2);
	assert_int_equal(vread(&x, buf, sizeof(buf)), 0);
	/* No write: EINVAL. */
	assert_int_equal(write(x.fd, buf, 8), 8); /* the socket takes it */
	assert_int_equal(x.ops->write_done(x.be, x.fd, buf, 8, 8), -EINVAL);
	fx_teardown(&x);
}

/* A LOST_EVENTS header needs only its own 8 bytes: it fits where an event
 * would not. */
static void test_lost_header_fits(void **state)
{
	unsigned char buf[64];
	struct fx x;
	(void)state;

	fx_setup(&x, 1);
	raise_n(&x, 2); /* 0 queued, 1 lost */
	assert_int_equal(vread(&x, buf, HDR + 4 + HDR - 1), HDR + 4);
	assert_int_equal(vread(&x, buf, HDR), HDR);
	assert_int_equal(hdr_at(buf, 0).flags, LOST);
	assert_int_equal(hdr_at(buf, 0).sequence, 1);
	assert_false(readable(x.ops->poll_fd(x.be, x.fd)));
	assert_int_equal(vread(&x, buf, sizeof(buf)), 0);
	fx_teardown(&x);
}

/* ---- overflow and the LOST_EVENTS header -------------------------------- */

/* 7.3.4, measured: depth 2, three triggers -> seq 0, seq 1, LOST seq 2. */
static void test_overflow_measured(void **state)
{
	struct vevent_seq s = {0};
	struct iopf_vevent ev[8];
	unsigned char buf[256];
	uint32_t seq;
	struct fx x;
	(void)state;

	fx_setup(&x, 2);
	assert_int_equal(raise_st(&x, &seq), 0);
	assert_int_equal(raise_st(&x, &seq), 0);
	assert_int_equal(raise_st(&x, &seq), 0); /* lost, but numbered */
	assert_int_equal(seq, 2);
	assert_int_equal(vread(&x, buf, sizeof(buf)), 2 * (HDR + 4) + HDR);
	assert_int_equal(hdr_at(buf, 0).sequence, 0);
	assert_int_equal(hdr_at(buf, HDR + 4).sequence, 1);
	assert_int_equal(hdr_at(buf, 2 * (HDR + 4)).flags, LOST);
	assert_int_equal(hdr_at(buf, 2 * (HDR + 4)).sequence, 2);
	{
		size_t off = 0;

		assert_int_equal(vevent_parse(&s, VQ_SELFTEST, 4, buf,
					      2 * (HDR + 4) + HDR, &off, ev, 8),
				 3);
	}
	assert_int_equal(ev[0].lost, 0);
	assert_int_equal(ev[1].lost, 0);
	assert_int_equal(ev[2].flags, IOPF_VEVENT_LOST);
	assert_int_equal(ev[2].lost, 1);
	assert_int_equal(s.lost, 1);
	/* The header was read: the stream goes on with no record of loss. */
	assert_int_equal(raise_st(&x, &seq), 0);
	assert_int_equal(seq, 3);
	assert_int_equal(drain(&x, &s, sizeof(buf), ev, 8, buf, sizeof(buf)),
			 1);
	assert_int_equal(ev[0].lost, 0);
	assert_int_equal(ev[0].sequence, 3);
	assert_int_equal(s.lost, 1);
	fx_teardown(&x);
}

/* The header moves to the tail with the number of the last event lost, and
 * leaves the tail when an event comes after it: then the gap tells. */
static void test_overflow_header_moves(void **state)
{
	static unsigned char store[4096];
	struct vevent_seq s = {0};
	struct iopf_vevent ev[32];
	unsigned char buf[64];
	unsigned int n;
	struct fx x;
	(void)state;

	fx_setup(&x, 3);
	raise_n(&x, 8); /* 0, 1, 2 queued; 3..7 lost: the header says 7 */
	n = drain(&x, &s, sizeof(store), ev, 32, store, sizeof(store));
	assert_int_equal(n, 4);
	assert_int_equal(ev[3].flags, IOPF_VEVENT_LOST);
	assert_int_equal(ev[3].sequence, 7);
	assert_int_equal(ev[3].lost, 5);

	raise_n(&x, 5); /* 8, 9, 10 queued; 11, 12 lost */
	/* Read one: a slot is free. */
	assert_int_equal(vread(&x, buf, HDR + 4), HDR + 4);
	assert_int_equal(hdr_at(buf, 0).sequence, 8);
	{
		size_t off = 0;

		assert_int_equal(vevent_parse(&s, VQ_SELFTEST, 4, buf, HDR + 4,
					      &off, ev, 1),
				 1);
	}
	/* 13 is queued: the header leaves the tail. */
	raise_n(&x, 1);
	n = drain(&x, &s, sizeof(store), ev, 32, store, sizeof(store));
	assert_int_equal(n, 3);
	assert_int_equal(ev[0].sequence, 9);
	assert_int_equal(ev[1].sequence, 10);
	assert_int_equal(ev[2].sequence, 13);
	assert_int_equal(ev[2].flags, 0);
	assert_int_equal(ev[2].lost, 2);
	assert_int_equal(s.lost, 7);
	assert_int_equal(s.lost_headers, 1);
	assert_int_equal(s.events, 3 + 1 + 3);
	fx_teardown(&x);
}

/* Exact counts across the wrap, one event at a time and in batches, with and
 * without the header at the wrap. */
static void test_wrap(void **state)
{
	static unsigned char store[8192];
	struct vevent_seq s;
	struct iopf_vevent ev[64];
	uint32_t seq;
	unsigned int n;
	struct fx x;
	(void)state;

	fx_setup(&x, 4);
	assert_int_equal(iopf_mock_veventq_set_sequence(NULL, x.vq, 1),
			 -EINVAL);
	assert_int_equal(iopf_mock_veventq_set_sequence(x.m, x.vq,
							(uint32_t)INT_MAX + 1),
			 -EINVAL);
	assert_int_equal(iopf_mock_veventq_set_sequence(x.m, 999, 1), -ENOENT);
	assert_int_equal(iopf_mock_veventq_set_sequence(x.m, x.viommu, 1),
			 -ENOENT);

	/* INT_MAX - 1, INT_MAX, 0: nothing lost. */
	assert_int_equal(iopf_mock_veventq_set_sequence(x.m, x.vq, INT_MAX - 1),
			 0);
	raise_n(&x, 3);
	s = (struct vevent_seq){.next = INT_MAX - 1};
	n = drain(&x, &s, HDR + 4, ev, 64, store, sizeof(store));
	assert_int_equal(n, 3);
	assert_int_equal(ev[0].sequence, INT_MAX - 1);
	assert_int_equal(ev[1].sequence, INT_MAX);
	assert_int_equal(ev[2].sequence, 0);
	assert_int_equal(s.lost, 0);

	/* Queued across the wrap, then lost: INT_MAX - 2 .. 0 queued
	 * (depth 4), 1..4 lost -> the header says 4. */
	assert_int_equal(iopf_mock_veventq_set_sequence(x.m, x.vq, INT_MAX - 2),
			 0);
	raise_n(&x, 8);
	s = (struct vevent_seq){.next = INT_MAX - 2};
	n = drain(&x, &s, sizeof(store), ev, 64, store, sizeof(store));
	assert_int_equal(n, 5);
	assert_int_equal(ev[2].sequence, INT_MAX);
	assert_int_equal(ev[3].sequence, 0);
	assert_int_equal(ev[3].lost, 0);
	assert_int_equal(ev[4].flags, IOPF_VEVENT_LOST);
	assert_int_equal(ev[4].sequence, 4);
	assert_int_equal(ev[4].lost, 4);
	assert_int_equal(s.lost, 4);

	/* Lost across the wrap: INT_MAX - 5 .. INT_MAX - 2 queued, INT_MAX - 1
	 * .. 1 lost (header 1), read in reads of two events; then the stream
	 * goes on from 2. */
	assert_int_equal(iopf_mock_veventq_set_sequence(x.m, x.vq, INT_MAX - 5),
			 0);
	raise_n(&x, 4); /* INT_MAX - 5 .. INT_MAX - 2 queued */
	raise_n(&x, 4); /* INT_MAX - 1 .. 1 lost */
	s = (struct vevent_seq){.next = INT_MAX - 5};
	n = drain(&x, &s, 2 * (HDR + 4), ev, 64, store, sizeof(store));
	assert_int_equal(n, 5);
	assert_int_equal(ev[4].flags, IOPF_VEVENT_LOST);
	assert_int_equal(ev[4].sequence, 1);
	assert_int_equal(ev[4].lost, 4);
	raise_n(&x, 1); /* 2: taken, no header */
	assert_int_equal(raise_st(&x, &seq), 0);
	assert_int_equal(seq, 3);
	n = drain(&x, &s, sizeof(store), ev, 64, store, sizeof(store));
	assert_int_equal(n, 2);
	assert_int_equal(ev[0].lost, 0);
	assert_int_equal(s.lost, 4);

	/* The header's own wrap: lost ones end at INT_MAX. */
	assert_int_equal(iopf_mock_veventq_set_sequence(x.m, x.vq, INT_MAX - 5),
			 0);
	raise_n(&x, 6); /* 4 queued, INT_MAX - 1 and INT_MAX lost */
	s = (struct vevent_seq){.next = INT_MAX - 5};
	n = drain(&x, &s, sizeof(store), ev, 64, store, sizeof(store));
	assert_int_equal(n, 5);
	assert_int_equal(ev[4].sequence, INT_MAX);
	assert_int_equal(ev[4].lost, 2);
	raise_n(&x, 1);
	n = drain(&x, &s, sizeof(store), ev, 64, store, sizeof(store));
	assert_int_equal(n, 1);
	assert_int_equal(ev[0].sequence, 0);
	assert_int_equal(ev[0].lost, 0);
	assert_int_equal(s.lost, 2);
	fx_teardown(&x);
}

/* A deep queue, read in chunks of odd sizes: every event once, in order,
 * nothing lost. */
static void test_deep_queue(void **state)
{
	static unsigned char store[1 << 20];
	static struct iopf_vevent ev[20001];
	struct vevent_seq s = {0};
	unsigned int n;
	struct fx x;
	(void)state;

	fx_setup(&x, 20000);
	raise_n(&x, 20000);
	n = drain(&x, &s, 1000, ev, 20000, store, sizeof(store));
	assert_int_equal(n, 20000);
	for (unsigned int i = 0; i < n; i++) {
		assert_int_equal(ev[i].sequence, i);
		assert_int_equal(ev[i].lost, 0);
	}
	raise_n(&x, 20001);
	n = drain(&x, &s, 4096, ev, 20001, store, sizeof(store));
	assert_int_equal(n, 20001); /* 20000 events and the header */
	assert_int_equal(ev[19999].sequence, 39999);
	assert_int_equal(ev[19999].lost, 0);
	assert_int_equal(ev[20000].flags, IOPF_VEVENT_LOST);
	assert_int_equal(ev[20000].sequence, 40000);
	assert_int_equal(ev[20000].lost, 1);
	assert_int_equal(s.lost, 1);
	fx_teardown(&x);
}

/* An event that finds no memory is lost and says so: -ENOMEM, and the
 * header carries its number. */
static void test_vevent_nomem(void **state)
{
	unsigned char buf[64];
	uint32_t seq = 0;
	struct fx x;
	int rc;
	(void)state;

	if (!interposed())
		skip();
	fx_setup(&x, 8);
	raise_n(&x, 1);
	/* A payload of a size no event of this queue had: a fresh
	 * allocation, which fails. */
	atomic_store(&malloc_failures, 0);
	atomic_store(&fail_malloc, true);
	rc = iopf_mock_vevent(x.m, x.dev, VQ_SELFTEST, buf, 64, &seq);
	atomic_store(&fail_malloc, false);
	assert_int_equal(rc, -ENOMEM);
	assert_int_equal(atomic_load(&malloc_failures), 1);
	assert_int_equal(seq, 1);
	assert_int_equal(vread(&x, buf, sizeof(buf)), HDR + 4 + HDR);
	assert_int_equal(hdr_at(buf, 0).sequence, 0);
	assert_int_equal(hdr_at(buf, HDR + 4).flags, LOST);
	assert_int_equal(hdr_at(buf, HDR + 4).sequence, 1);
	fx_teardown(&x);
}

/* Objects that find no memory are not made. */
static void test_alloc_nomem(void **state)
{
	struct iommu_viommu_alloc c;
	unsigned char buf[64];
	uint32_t id = 0, dev2;
	struct fx x;
	int rc, fd;
	(void)state;

	if (!interposed())
		skip();
	fx_setup(&x, 8);
	assert_int_equal(iopf_mock_dev_new(x.m, &dev2), 0);
	c = va(VIOMMU_SELFTEST, x.dev, x.parent);
	atomic_store(&fail_malloc, true);
	rc = viommu(x.ctx, c, &id);
	atomic_store(&fail_malloc, false);
	assert_int_equal(rc, -ENOMEM);
	atomic_store(&fail_malloc, true);
	rc = vdevice(x.ctx, x.viommu, dev2, 1, &id);
	atomic_store(&fail_malloc, false);
	assert_int_equal(rc, -ENOMEM);
	atomic_store(&fail_malloc, true);
	rc = veventq(x.ctx, vq(x.viommu, IOMMU_VEVENTQ_TYPE_ARM_SMMUV3, 1), &id,
		     &fd);
	atomic_store(&fail_malloc, false);
	assert_int_equal(rc, -ENOMEM);
	/* The first read grows the staging buffer: ENOMEM, nothing taken. */
	raise_n(&x, 1);
	atomic_store(&fail_malloc, true);
	rc = (int)vread(&x, buf, sizeof(buf));
	atomic_store(&fail_malloc, false);
	assert_int_equal(rc, -ENOMEM);
	assert_int_equal(vread(&x, buf, sizeof(buf)), HDR + 4);
	/* Nothing was left behind: the ids are free. */
	assert_int_equal(vdevice(x.ctx, x.viommu, dev2, 1, &id), 0);
	assert_int_equal(id, x.nested + 2);
	fx_teardown(&x);
}

/* The lowest free fd number, which is how many fds a process limited to it
 * cannot open any more. */
static rlim_t lowest_free_fd(void)
{
	int fd = dup(0);

	assert_true(fd >= 0);
	close(fd);
	return (rlim_t)fd;
}

/* No fd for the socket pair, or for the poll eventfd: the vEVENTQ is not
 * made and leaves nothing behind. */
static void test_veventq_no_fds(void **state)
{
	struct rlimit old, lim;
	uint32_t id = 0;
	struct fx x;
	int rc, fd = -1;
	(void)state;

	fx_base(&x, IOPF_MOCK_KERNEL_7_3);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	lim = old;
	lim.rlim_cur = lowest_free_fd();
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim), 0);
	rc = veventq(x.ctx, vq(x.viommu, VQ_SELFTEST, 1), &id, &fd);
	lim.rlim_cur += 2; /* the socket pair, not the eventfd */
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim), 0);
	assert_int_equal(rc, -EMFILE);
	rc = veventq(x.ctx, vq(x.viommu, VQ_SELFTEST, 1), &id, &fd);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(rc, -EMFILE);
	assert_int_equal(
		veventq(x.ctx, vq(x.viommu, VQ_SELFTEST, 1), &x.vq, &x.fd), 0);
	assert_int_equal(x.vq, x.vdev + 1); /* the failed ones' ids are free */
	fx_teardown(&x);
}

/* Outputs the mock cannot write back (a read-only struct): EFAULT, and the
 * object is not made. */
static void test_respond_efault(void **state)
{
	long page = sysconf(_SC_PAGESIZE);
	struct iommu_viommu_alloc *c;
	struct iommu_vdevice_alloc *d;
	struct iommu_veventq_alloc *q;
	uint32_t dev2, id;
	unsigned char *p;
	struct fx x;
	(void)state;

	fx_base(&x, IOPF_MOCK_KERNEL_7_3);
	assert_int_equal(iopf_mock_dev_new(x.m, &dev2), 0);
	p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	c = (struct iommu_viommu_alloc *)p;
	d = (struct iommu_vdevice_alloc *)(p + 256);
	q = (struct iommu_veventq_alloc *)(p + 512);
	*c = va(VIOMMU_SELFTEST, x.dev, x.parent);
	*d = (struct iommu_vdevice_alloc){.size = sizeof(*d),
					  .viommu_id = x.viommu,
					  .dev_id = dev2,
					  .virt_id = 3};
	*q = vq(x.viommu, VQ_SELFTEST, 1);
	assert_int_equal(mprotect(p, (size_t)page, PROT_READ), 0);
	assert_int_equal(ctx_ioctl(x.ctx, IOMMU_VIOMMU_ALLOC, c), -EFAULT);
	assert_int_equal(ctx_ioctl(x.ctx, IOMMU_VDEVICE_ALLOC, d), -EFAULT);
	assert_int_equal(ctx_ioctl(x.ctx, IOMMU_VEVENTQ_ALLOC, q), -EFAULT);
	/* Nothing holds the vIOMMU; the device, virt_id and type are free. */
	assert_int_equal(vdevice(x.ctx, x.viommu, dev2, 3, &id), 0);
	assert_int_equal(id, dev2 + 1);
	assert_int_equal(destroy(x.ctx, id), 0);
	assert_int_equal(destroy(x.ctx, x.vdev), 0);
	assert_int_equal(destroy(x.ctx, x.viommu), 0);
	munmap(p, (size_t)page);
	fx_teardown(&x);
}

/* Records staged for a read that never came (an io_uring READ cancelled)
 * go to the next read, as that read would have had them. */
static void test_staged_left_over(void **state)
{
	unsigned char buf[64];
	ssize_t res = 0;
	struct fx x;
	(void)state;

	fx_setup(&x, 8);
	raise_n(&x, 2);
	assert_int_equal(x.ops->read_prepare(x.be, x.fd, HDR + 4, &res), 0);
	assert_int_equal(vread(&x, buf, sizeof(buf)), HDR + 4);
	assert_int_equal(hdr_at(buf, 0).sequence, 0);
	assert_int_equal(vread(&x, buf, sizeof(buf)), HDR + 4);
	assert_int_equal(hdr_at(buf, 0).sequence, 1);
	fx_teardown(&x);
}

/* ---- failure injection on the vEVENTQ fd -------------------------------- */

static void test_inject(void **state)
{
	unsigned char buf[256];
	int efd;
	struct fx x;
	(void)state;

	fx_setup(&x, 8);
	efd = x.ops->poll_fd(x.be, x.fd);
	assert_true(efd >= 0);
	assert_int_not_equal(efd, x.fd);
	assert_int_equal(
		iopf_mock_inject_fd(x.m, x.vq, IOPF_MOCK_WRITE_SHORT, 1, 0),
		-EOPNOTSUPP);
	assert_int_equal(
		iopf_mock_inject_fd(x.m, x.vq, IOPF_MOCK_WRITE_ERRNO, 1, EIO),
		-EOPNOTSUPP);
	assert_int_equal(
		iopf_mock_inject_fd(x.m, x.viommu, IOPF_MOCK_READ_ZERO, 1, 0),
		-ENOENT);
	/* READ_ZERO with events queued: 0, and they stay. */
	raise_n(&x, 3);
	assert_int_equal(
		iopf_mock_inject_fd(x.m, x.vq, IOPF_MOCK_READ_ZERO, 1, 0), 0);
	assert_int_equal(vread(&x, buf, sizeof(buf)), 0);
	assert_true(readable(efd));
	/* READ_ERRNO on the second read from now. */
	assert_int_equal(
		iopf_mock_inject_fd(x.m, x.vq, IOPF_MOCK_READ_ERRNO, 2, EIO),
		0);
	/* READ_SPLIT: at most arg records. */
	assert_int_equal(
		iopf_mock_inject_fd(x.m, x.vq, IOPF_MOCK_READ_SPLIT, 1, 1), 0);
	assert_int_equal(vread(&x, buf, sizeof(buf)), HDR + 4);
	assert_int_equal(hdr_at(buf, 0).sequence, 0);
	assert_int_equal(vread(&x, buf, sizeof(buf)), -EIO);
	assert_int_equal(vread(&x, buf, sizeof(buf)), 2 * (HDR + 4));
	assert_int_equal(hdr_at(buf, 0).sequence, 1);
	assert_false(readable(efd));
	/* A read result due makes the fd readable with nothing queued. */
	assert_int_equal(
		iopf_mock_inject_fd(x.m, x.vq, IOPF_MOCK_READ_ERRNO, 1, ENOSPC),
		0);
	assert_true(readable(efd));
	assert_int_equal(vread(&x, buf, sizeof(buf)), -ENOSPC);
	assert_false(readable(efd));
	/* FD_CLOSED: every read and write from now on is EBADF. */
	assert_int_equal(
		iopf_mock_inject_fd(x.m, x.vq, IOPF_MOCK_FD_CLOSED, 1, 0), 0);
	raise_n(&x, 1);
	assert_int_equal(vread(&x, buf, sizeof(buf)), -EBADF);
	assert_int_equal(vread(&x, buf, sizeof(buf)), -EBADF);
	assert_int_equal(x.ops->write_done(x.be, x.fd, buf, 8, -EINVAL),
			 -EBADF);
	assert_true(readable(efd));
	fx_teardown(&x);
}

/* A device raising from another thread while the fd is read: every event
 * is either read or counted lost, exactly. */
#define STORM 20000u

static void *storm(void *arg)
{
	struct fx *x = arg;

	for (unsigned int i = 0; i < STORM; i++)
		if (raise_st(x, NULL))
			return (void *)1;
	return NULL;
}

static void test_storm_thread(void **state)
{
	static unsigned char buf[64 * 12];
	static struct iopf_vevent ev[64 + 1];
	struct vevent_seq s = {0};
	pthread_t t;
	void *ret;
	struct fx x;
	(void)state;

	fx_setup(&x, 64);
	assert_int_equal(pthread_create(&t, NULL, storm, &x), 0);
	for (;;) {
		struct pollfd p = {.fd = x.ops->poll_fd(x.be, x.fd),
				   .events = POLLIN};
		size_t off = 0;
		ssize_t r;

		/* Waits, then reads; a timeout only means "look again". */
		(void)poll(&p, 1, 10);
		r = vread(&x, buf, sizeof(buf));
		assert_true(r >= 0);
		if (r > 0)
			assert_true(vevent_parse(&s, VQ_SELFTEST, 4, buf,
						 (size_t)r, &off, ev,
						 64 + 1) > 0);
		if (!r && s.next == STORM)
			break;
	}
	assert_int_equal(pthread_join(t, &ret), 0);
	assert_null(ret);
	assert_int_equal(s.events + s.lost, STORM);
	assert_int_equal(vread(&x, buf, sizeof(buf)), 0);
	fx_teardown(&x);
}

/* ---- teardown ---------------------------------------------------------- */

/* The fd holds the mock: freeing context and mock first leaves the queue
 * readable; closing it frees everything (ASan/valgrind check the rest). */
static void test_fd_outlives_mock(void **state)
{
	unsigned char buf[64];
	struct fx x;
	(void)state;

	fx_setup(&x, 4);
	raise_n(&x, 2);
	iopf_ctx_free(x.ctx);
	iopf_mock_free(x.m);
	x.ctx = NULL;
	x.m = NULL;
	assert_int_equal(vread(&x, buf, sizeof(buf)), 2 * (HDR + 4));
	x.ops->fault_close(x.be, x.fd);
}

/* Everything left standing, events queued, fd closed: the mock's teardown
 * takes it all down. */
static void test_teardown_all(void **state)
{
	struct fx x;
	(void)state;

	fx_setup(&x, 4);
	raise_n(&x, 6);
	fx_teardown(&x);
}

/* ---- the library's helpers on the mock --------------------------------- */

static void test_lib_helpers(void **state)
{
	struct {
		uint32_t in_data, out_data;
		uint64_t off, len;
	} d = {.in_data = 0x77};
	struct iopf_viommu_args a = {.size = sizeof(a),
				     .type = VIOMMU_SELFTEST};
	uint32_t v = 0, vd = 0, vd2 = 0x4242, dev2;
	struct fx x;
	(void)state;

	fx_base(&x, IOPF_MOCK_KERNEL_7_3);
	a.dev_id = x.dev;
	a.hwpt_id = x.parent;
	assert_int_equal(iopf_viommu_alloc(x.ctx, &a, &v), 0);
	assert_int_equal(v, x.vdev + 1);
	assert_string_equal(iopf_ctx_errmsg(x.ctx), "");
	a.data = &d;
	a.data_len = sizeof(d);
	assert_int_equal(iopf_viommu_alloc(x.ctx, &a, &v), 0);
	assert_int_equal(d.out_data, 0x77);
	/* The kernel's errors come through with a message. */
	a.type = IOMMU_VIOMMU_TYPE_ARM_SMMUV3;
	assert_int_equal(iopf_viommu_alloc(x.ctx, &a, &v), -EOPNOTSUPP);
	assert_non_null(strstr(iopf_ctx_errmsg(x.ctx), "no vIOMMU of type"));
	a.type = VIOMMU_SELFTEST;
	a.hwpt_id = x.ioas;
	assert_int_equal(iopf_viommu_alloc(x.ctx, &a, &v), -ENOENT);
	assert_non_null(strstr(iopf_ctx_errmsg(x.ctx), "IOMMU_VIOMMU_ALLOC"));

	assert_int_equal(iopf_mock_dev_new(x.m, &dev2), 0);
	assert_int_equal(iopf_vdevice_alloc(x.ctx, v, dev2, 1ull << 40, &vd),
			 0);
	assert_true(vd > v);
	assert_int_equal(iopf_vdevice_alloc(x.ctx, v, dev2, 2, &vd2), -EEXIST);
	assert_non_null(strstr(iopf_ctx_errmsg(x.ctx), "has a vDEVICE"));
	assert_int_equal(vd2, 0x4242);
	assert_int_equal(iopf_vdevice_alloc(x.ctx, 999, dev2, 2, &vd2),
			 -ENOENT);
	assert_int_equal(iopf_destroy(x.ctx, v), -EBUSY);
	assert_int_equal(iopf_destroy(x.ctx, vd), 0);
	assert_int_equal(iopf_destroy(x.ctx, v), 0);
	fx_teardown(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_modes),
		cmocka_unit_test(test_viommu_alloc),
		cmocka_unit_test(test_viommu_data),
		cmocka_unit_test(test_vdevice_alloc),
		cmocka_unit_test(test_hwpt_on_viommu),
		cmocka_unit_test(test_hwpt_on_viommu_613),
		cmocka_unit_test(test_veventq_alloc),
		cmocka_unit_test(test_vevent_errors),
		cmocka_unit_test(test_vevent_payloads),
		cmocka_unit_test(test_read_rules),
		cmocka_unit_test(test_lost_header_fits),
		cmocka_unit_test(test_overflow_measured),
		cmocka_unit_test(test_overflow_header_moves),
		cmocka_unit_test(test_wrap),
		cmocka_unit_test(test_deep_queue),
		cmocka_unit_test(test_vevent_nomem),
		cmocka_unit_test(test_alloc_nomem),
		cmocka_unit_test(test_veventq_no_fds),
		cmocka_unit_test(test_respond_efault),
		cmocka_unit_test(test_staged_left_over),
		cmocka_unit_test(test_inject),
		cmocka_unit_test(test_storm_thread),
		cmocka_unit_test(test_fd_outlives_mock),
		cmocka_unit_test(test_teardown_all),
		cmocka_unit_test(test_lib_helpers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
