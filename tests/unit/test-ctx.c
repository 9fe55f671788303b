/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Contexts, probing, error messages, IOAS and object destruction, HWPT
 * allocation, and every argument check of the constructors and accessors:
 * what a caller gets for a NULL, a badly sized struct, an old kernel, or an
 * ioctl that fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "fixture.h"

/* IOMMUFD_CMD_* numbers, as iopf_mock_inject_ioctl() takes them. */
#define NR_DESTROY	     0x80
#define NR_IOAS_ALLOC	     0x81
#define NR_HWPT_ALLOC	     0x89
#define NR_FAULT_QUEUE_ALLOC 0x8e
#define NR_VIOMMU_ALLOC	     0x90
#define NR_VDEVICE_ALLOC     0x91

static void assert_msg_has(const struct iopf_ctx *ctx, const char *what)
{
	const char *msg = iopf_ctx_errmsg(ctx);

	assert_non_null(msg);
	if (!strstr(msg, what))
		fail_msg("errmsg \"%s\" lacks \"%s\"", msg, what);
}

static void assert_msg_empty(const struct iopf_ctx *ctx)
{
	const char *msg = iopf_ctx_errmsg(ctx);

	assert_non_null(msg);
	if (msg[0])
		fail_msg("errmsg \"%s\" after a success", msg);
}

static bool fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* ---- contexts over a real path ------------------------------------------ */

static void ctx_open_enoent(void **state)
{
	struct iopf_ctx *ctx = (void *)0x1;

	assert_int_equal(iopf_ctx_open("/nonexistent/libiopf/iommu", &ctx),
			 -ENOENT);
	assert_null(ctx);
}

static void ctx_open_null_out(void **state)
{
	assert_int_equal(iopf_ctx_open("/dev/null", NULL), -EINVAL);
	assert_int_equal(iopf_ctx_open(NULL, NULL), -EINVAL);
}

/*
 * Any file opens; the kernel backend's ioctls then fail with ENOTTY. The
 * probe and the queue tell that the fd is not an iommufd (-ENOTTY), which an
 * old kernel's iommufd never answers to IOMMU_DESTROY; the other calls give
 * -ENOSYS with a message naming what is missing. The context owns and closes
 * the fd.
 */
static void ctx_open_not_iommufd(void **state)
{
	struct iopf_ctx *ctx = NULL;
	uint64_t feat = ~0ull;
	uint32_t id = 0x1234;
	int fd;

	assert_int_equal(iopf_ctx_open("/dev/null", &ctx), 0);
	assert_non_null(ctx);
	fd = iopf_ctx_fd(ctx);
	assert_true(fd >= 0);
	assert_true(fd_is_open(fd));
	assert_int_equal(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);

	assert_int_equal(iopf_ctx_probe(ctx, &feat), -ENOTTY);
	assert_int_equal(feat, 0);
	assert_msg_has(ctx, "not an iommufd");

	assert_int_equal(iopf_ioas_alloc(ctx, &id), -ENOSYS);
	assert_int_equal(id, 0x1234);
	assert_msg_has(ctx, "IOMMU_IOAS_ALLOC");

	/* /dev/null answers ENOTTY to every ioctl. */
	assert_int_equal(iopf_destroy(ctx, 1), -ENOTTY);
	assert_msg_has(ctx, "IOMMU_DESTROY");

	iopf_ctx_free(ctx);
	assert_false(fd_is_open(fd));
}

/* A pipe, an eventfd, a regular file: each is "not an iommufd" (-ENOTTY,
 * its own message), never an old kernel; a queue on it says the same. */
static void probe_not_iommufd_fds(void **state)
{
	char path[] = "/tmp/iopf-probe-XXXXXX";
	int pfd[2], fds[3];

	(void)state;
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	fds[0] = pfd[0];
	fds[1] = eventfd(0, EFD_CLOEXEC);
	fds[2] = mkstemp(path);
	assert_true(fds[1] >= 0 && fds[2] >= 0);
	unlink(path);
	for (int i = 0; i < 3; i++) {
		struct iopf_engine_opts eo = {.size = sizeof(eo),
					      .kind = IOPF_ENGINE_PLAIN};
		struct iopf_queue *q = (void *)1;
		struct iopf_engine *e = NULL;
		struct iopf_ctx *ctx = NULL;
		uint64_t feat = ~0ull;

		assert_int_equal(iopf_ctx_from_fd(fds[i], &ctx), 0);
		assert_int_equal(iopf_ctx_probe(ctx, &feat), -ENOTTY);
		assert_int_equal(feat, 0);
		assert_msg_has(ctx, "not an iommufd");
		assert_null(strstr(iopf_ctx_errmsg(ctx), "6.11"));

		assert_int_equal(iopf_engine_new(&eo, &e), 0);
		assert_int_equal(iopf_queue_new(ctx, e, NULL, &q), -ENOTTY);
		assert_null(q);
		assert_msg_has(ctx, "not an iommufd");
		iopf_engine_free(e);
		iopf_ctx_free(ctx);
		assert_true(fd_is_open(fds[i]));
	}
	close(pfd[0]);
	close(pfd[1]);
	close(fds[1]);
	close(fds[2]);
}

static void ctx_from_fd_keeps_fd(void **state)
{
	struct iopf_ctx *ctx = NULL;
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(iopf_ctx_from_fd(fd, &ctx), 0);
	assert_non_null(ctx);
	assert_int_equal(iopf_ctx_fd(ctx), fd);
	iopf_ctx_free(ctx);
	/* The caller's fd: still open, still usable. */
	assert_true(fd_is_open(fd));
	assert_int_equal(write(fd, "x", 1), 1);
	assert_int_equal(close(fd), 0);
}

static void ctx_from_fd_bad(void **state)
{
	struct iopf_ctx *ctx = (void *)0x1;
	int fd;

	assert_int_equal(iopf_ctx_from_fd(-1, &ctx), -EBADF);
	assert_null(ctx);
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	close(fd);
	ctx = (void *)0x1;
	assert_int_equal(iopf_ctx_from_fd(fd, &ctx), -EBADF);
	assert_null(ctx);
	assert_int_equal(iopf_ctx_from_fd(0, NULL), -EINVAL);
}

static void ctx_null_args(void **state)
{
	uint64_t feat;
	uint32_t id;
	const char *msg;

	iopf_ctx_free(NULL); /* accepted, like free(NULL) */
	assert_int_equal(iopf_ctx_fd(NULL), -EINVAL);
	msg = iopf_ctx_errmsg(NULL);
	assert_non_null(msg);
	assert_true(strlen(msg) > 0);
	assert_int_equal(iopf_ctx_probe(NULL, &feat), -EINVAL);
	assert_int_equal(iopf_ioas_alloc(NULL, &id), -EINVAL);
	assert_int_equal(iopf_destroy(NULL, 1), -EINVAL);
	assert_int_equal(iopf_hwpt_alloc(NULL, NULL, NULL, NULL), -EINVAL);
}

/* ---- probing, through the mock's kernel versions ------------------------ */

static struct iopf_ctx *mock_ctx(struct fx *f, uint32_t kernel)
{
	struct fx_cfg cfg = {.kernel = kernel};

	fx_init(f, &cfg);
	return f->ctx;
}

static void probe_null_features(void **state)
{
	struct fx *f = *state;
	struct iopf_ctx *ctx = mock_ctx(f, IOPF_MOCK_KERNEL_6_12);

	assert_int_equal(iopf_ctx_probe(ctx, NULL), -EINVAL);
}

static void probe_6_10(void **state)
{
	struct fx *f = *state;
	struct iopf_ctx *ctx = mock_ctx(f, IOPF_MOCK_KERNEL_6_10);
	uint64_t feat = ~0ull;

	assert_int_equal(iopf_ctx_probe(ctx, &feat), -ENOSYS);
	assert_int_equal(feat & IOPF_FEAT_FAULT_QUEUE, 0);
	assert_int_equal(feat & IOPF_FEAT_VEVENTQ, 0);
	assert_msg_has(ctx, "IOMMU_FAULT_QUEUE_ALLOC");
	assert_msg_has(ctx, "Linux 6.11");
}

static void probe_6_12(void **state)
{
	struct fx *f = *state;
	struct iopf_ctx *ctx = mock_ctx(f, IOPF_MOCK_KERNEL_6_12);
	uint64_t feat = 0;

	/* A stale message from an earlier failure is cleared by success. */
	assert_int_equal(iopf_destroy(ctx, 0x7777), -ENOENT);
	assert_true(strlen(iopf_ctx_errmsg(ctx)) > 0);
	assert_int_equal(iopf_ctx_probe(ctx, &feat), 0);
	assert_int_equal(feat, IOPF_FEAT_FAULT_QUEUE | IOPF_FEAT_HWPT_FAULT_ID);
	assert_msg_empty(ctx);
}

static void probe_6_13(void **state)
{
	struct fx *f = *state;
	struct iopf_ctx *ctx = mock_ctx(f, IOPF_MOCK_KERNEL_6_13);
	uint64_t feat = 0;

	assert_int_equal(iopf_ctx_probe(ctx, &feat), 0);
	assert_int_equal(feat, IOPF_FEAT_FAULT_QUEUE | IOPF_FEAT_HWPT_FAULT_ID);
}

static void probe_6_15(void **state)
{
	struct fx *f = *state;
	struct iopf_ctx *ctx = mock_ctx(f, IOPF_MOCK_KERNEL_6_15);
	uint64_t feat = 0;

	assert_int_equal(iopf_ctx_probe(ctx, &feat), 0);
	assert_int_equal(feat, IOPF_FEAT_FAULT_QUEUE | IOPF_FEAT_HWPT_FAULT_ID |
				       IOPF_FEAT_VEVENTQ);
}

/* The probe leaves nothing behind: ids are the lowest free ones (as the
 * kernel's xa_alloc), so an object left by the probe would take b's id. */
static void probe_leaves_nothing(void **state)
{
	struct fx *f = *state;
	struct iopf_ctx *ctx = mock_ctx(f, IOPF_MOCK_KERNEL_6_12);
	uint64_t feat;
	uint32_t a = 0, b = 0;

	assert_int_equal(iopf_ioas_alloc(ctx, &a), 0);
	assert_int_equal(iopf_ctx_probe(ctx, &feat), 0);
	assert_int_equal(iopf_ioas_alloc(ctx, &b), 0);
	assert_int_equal(b, a + 1);
	assert_int_equal(iopf_destroy(ctx, a), 0);
	assert_int_equal(iopf_destroy(ctx, b), 0);
}

/* An ENOTTY from the fault queue command alone (a 6.10 kernel's answer) is
 * the missing feature; any other error means the command exists. */
static void probe_injected(void **state)
{
	struct fx *f = *state;
	struct iopf_ctx *ctx = mock_ctx(f, IOPF_MOCK_KERNEL_6_12);
	uint64_t feat = 0;

	assert_int_equal(
		iopf_mock_inject_ioctl(f->m, NR_FAULT_QUEUE_ALLOC, 1, ENOTTY),
		0);
	assert_int_equal(iopf_ctx_probe(ctx, &feat), -ENOSYS);
	assert_int_equal(feat & IOPF_FEAT_FAULT_QUEUE, 0);
	assert_msg_has(ctx, "IOMMU_FAULT_QUEUE_ALLOC");

	assert_int_equal(
		iopf_mock_inject_ioctl(f->m, NR_FAULT_QUEUE_ALLOC, 1, ENOMEM),
		0);
	assert_int_equal(iopf_ctx_probe(ctx, &feat), 0);
	assert_true(feat & IOPF_FEAT_FAULT_QUEUE);

	/* A 6.10 HWPT_ALLOC: a 48-byte struct with a non-zero fault_id is
	 * E2BIG there. */
	assert_int_equal(iopf_mock_inject_ioctl(f->m, NR_HWPT_ALLOC, 1, E2BIG),
			 0);
	assert_int_equal(iopf_ctx_probe(ctx, &feat), -ENOSYS);
	assert_int_equal(feat, IOPF_FEAT_FAULT_QUEUE);
	assert_msg_has(ctx, "fault_id");
}

/* ---- IOAS and destroy --------------------------------------------------- */

static void ioas_alloc_args(void **state)
{
	struct fx *f = *state;
	struct iopf_ctx *ctx = mock_ctx(f, 0);
	uint32_t a = 0, b = 0;

	assert_int_equal(iopf_ioas_alloc(ctx, NULL), -EINVAL);
	assert_int_equal(iopf_ioas_alloc(ctx, &a), 0);
	assert_int_equal(iopf_ioas_alloc(ctx, &b), 0);
	assert_int_not_equal(a, 0);
	assert_int_not_equal(b, 0);
	assert_int_not_equal(a, b);
	assert_msg_empty(ctx);
	assert_int_equal(iopf_destroy(ctx, a), 0);
	assert_int_equal(iopf_destroy(ctx, b), 0);
}

static void ioas_alloc_injected(void **state)
{
	struct fx *f = *state;
	struct iopf_ctx *ctx = mock_ctx(f, 0);
	uint32_t id = 0x5555;

	assert_int_equal(iopf_mock_inject_ioctl(f->m, NR_IOAS_ALLOC, 1, ENOMEM),
			 0);
	assert_int_equal(iopf_ioas_alloc(ctx, &id), -ENOMEM);
	assert_int_equal(id, 0x5555);
	assert_msg_has(ctx, "IOMMU_IOAS_ALLOC");

	assert_int_equal(iopf_mock_inject_ioctl(f->m, NR_IOAS_ALLOC, 1, EFAULT),
			 0);
	assert_int_equal(iopf_ioas_alloc(ctx, &id), -EFAULT);
	assert_int_equal(id, 0x5555);

	/* The nth rule: the first call passes, the second fails. */
	assert_int_equal(iopf_mock_inject_ioctl(f->m, NR_IOAS_ALLOC, 2, ENOSPC),
			 0);
	assert_int_equal(iopf_ioas_alloc(ctx, &id), 0);
	assert_int_equal(iopf_destroy(ctx, id), 0);
	assert_int_equal(iopf_ioas_alloc(ctx, &id), -ENOSPC);

	assert_int_equal(iopf_mock_inject_ioctl(f->m, NR_IOAS_ALLOC, 1, ENOTTY),
			 0);
	assert_int_equal(iopf_ioas_alloc(ctx, &id), -ENOSYS);
	assert_msg_has(ctx, "IOMMU_IOAS_ALLOC");

	/* Rules are spent: it works again. */
	assert_int_equal(iopf_ioas_alloc(ctx, &id), 0);
	assert_msg_empty(ctx);
	assert_int_equal(iopf_destroy(ctx, id), 0);
}

static void destroy_paths(void **state)
{
	struct fx *f = *state;
	struct iopf_ctx *ctx;
	uint32_t ioas = 0;

	fx_init_default(f);
	ctx = f->ctx;

	assert_int_equal(iopf_destroy(ctx, 0xabcdef), -ENOENT);
	assert_msg_has(ctx, "IOMMU_DESTROY");

	/* In use by the parent HWPT. */
	assert_int_equal(iopf_destroy(ctx, f->ioas), -EBUSY);
	assert_msg_has(ctx, "in use");

	assert_int_equal(iopf_ioas_alloc(ctx, &ioas), 0);
	assert_int_equal(iopf_mock_inject_ioctl(f->m, NR_DESTROY, 1, EFAULT),
			 0);
	assert_int_equal(iopf_destroy(ctx, ioas), -EFAULT);
	assert_msg_has(ctx, "IOMMU_DESTROY");
	assert_int_equal(iopf_destroy(ctx, ioas), 0);
	assert_msg_empty(ctx);
	assert_int_equal(iopf_destroy(ctx, ioas), -ENOENT);
}

/* ---- engines and queues: argument checks -------------------------------- */

struct engine_opts_big {
	struct iopf_engine_opts o;
	uint32_t more[2];
};

static void engine_new_args(void **state)
{
	struct iopf_engine *e = (void *)0x1;
	struct iopf_engine_opts o = {.size = sizeof(o)};
	struct engine_opts_big big = {.o = {.size = sizeof(big)}};

	assert_int_equal(iopf_engine_new(&o, NULL), -EINVAL);

	o.kind = 7;
	assert_int_equal(iopf_engine_new(&o, &e), -EINVAL);
	assert_null(e);
	o.kind = IOPF_ENGINE_PLAIN;
	o.flags = IOPF_ENGINE_ASYNC; /* io_uring's */
	assert_int_equal(iopf_engine_new(&o, &e), -EINVAL);
	assert_null(e);
	o.kind = IOPF_ENGINE_URING;
	o.flags = 1u << 1;
	assert_int_equal(iopf_engine_new(&o, &e), -EINVAL);
	assert_null(e);
	o.flags = IOPF_ENGINE_ASYNC;
	assert_int_equal(iopf_engine_new(&o, &e), 0);
	assert_int_equal(iopf_engine_kind(e), IOPF_ENGINE_URING);
	iopf_engine_free(e);
	o.kind = IOPF_ENGINE_PLAIN;
	o.flags = 0;
	o.ring_entries = 32769;
	assert_int_equal(iopf_engine_new(&o, &e), -EINVAL);
	o.ring_entries = 0;
	o.size = 4;
	assert_int_equal(iopf_engine_new(&o, &e), -EINVAL);

	/* A newer caller's bigger struct: fine while the tail is zero. */
	big.o.kind = IOPF_ENGINE_PLAIN;
	assert_int_equal(iopf_engine_new(&big.o, &e), 0);
	assert_int_equal(iopf_engine_kind(e), IOPF_ENGINE_PLAIN);
	iopf_engine_free(e);
	big.more[1] = 1;
	e = (void *)0x1;
	assert_int_equal(iopf_engine_new(&big.o, &e), -E2BIG);
	assert_null(e);

	/* An older caller's struct, without flags: the rest defaults. */
	o.size = offsetof(struct iopf_engine_opts, flags);
	o.kind = IOPF_ENGINE_PLAIN;
	o.flags = 1; /* beyond the given size: not read */
	assert_int_equal(iopf_engine_new(&o, &e), 0);
	assert_int_equal(iopf_engine_kind(e), IOPF_ENGINE_PLAIN);
	iopf_engine_free(e);

	/* No options: io_uring. */
	assert_int_equal(iopf_engine_new(NULL, &e), 0);
	assert_int_equal(iopf_engine_kind(e), IOPF_ENGINE_URING);
	assert_true(iopf_engine_fd(e) >= 0);
	iopf_engine_free(e);
}

static void engine_null_args(void **state)
{
	uint64_t t;
	struct iopf_group *gs[1];
	struct iopf_engine *e = NULL;
	struct iopf_engine_opts o = {.size = sizeof(o),
				     .kind = IOPF_ENGINE_PLAIN};

	iopf_engine_free(NULL);
	assert_int_equal(iopf_engine_kind(NULL), -EINVAL);
	assert_int_equal(iopf_engine_fd(NULL), -EINVAL);
	assert_int_equal(iopf_engine_process(NULL), -EINVAL);
	assert_int_equal(iopf_engine_wait(NULL, 0), -EINVAL);
	assert_int_equal(iopf_engine_pull(NULL, gs, 1), -EINVAL);
	assert_int_equal(iopf_engine_dispatch(NULL, 0), -EINVAL);
	assert_int_equal(iopf_engine_flush(NULL), -EINVAL);
	assert_int_equal(iopf_engine_wake(NULL), -EINVAL);

	assert_int_equal(iopf_engine_new(&o, &e), 0);
	assert_int_equal(iopf_engine_wait(e, -2), -EINVAL);
	assert_int_equal(iopf_engine_dispatch(e, -2), -EINVAL);
	assert_int_equal(iopf_engine_pull(e, NULL, 1), -EINVAL);
	assert_int_equal(iopf_engine_pull(e, gs, 0), -EINVAL);
	/* An engine without queues: nothing to do, nothing ready. */
	assert_int_equal(iopf_engine_process(e), 0);
	assert_int_equal(iopf_engine_wait(e, 0), 0);
	assert_int_equal(iopf_engine_pull(e, gs, 1), 0);
	assert_int_equal(iopf_engine_flush(e), 0);
	/* A wake-up with no wait in progress is kept for the next wait, which
	 * makes its pass and returns 0 instead of sleeping. */
	assert_int_equal(iopf_engine_wake(e), 0);
	t = fx_now_ms();
	assert_int_equal(iopf_engine_wait(e, 3000), 0);
	assert_true(fx_now_ms() - t < 1000);
	iopf_engine_free(e);
}

struct queue_opts_big {
	struct iopf_queue_opts o;
	uint64_t more;
};

static void queue_new_args(void **state)
{
	struct fx *f = *state;
	struct iopf_queue *q = (void *)0x1;
	struct iopf_queue_opts o = {.size = sizeof(o)};
	struct queue_opts_big big = {.o = {.size = sizeof(big)}};
	struct iopf_stats st;

	fx_init(f, NULL);

	assert_int_equal(iopf_queue_new(f->ctx, f->e, &o, NULL), -EINVAL);
	assert_int_equal(iopf_queue_new(NULL, f->e, &o, &q), -EINVAL);
	assert_null(q);
	q = (void *)0x1;
	assert_int_equal(iopf_queue_new(f->ctx, NULL, &o, &q), -EINVAL);
	assert_null(q);

	o.flags = 1;
	assert_int_equal(iopf_queue_new(f->ctx, f->e, &o, &q), -EINVAL);
	assert_null(q);
	assert_true(strlen(iopf_ctx_errmsg(f->ctx)) > 0);
	o.flags = 0;
	o.batch = 65537;
	assert_int_equal(iopf_queue_new(f->ctx, f->e, &o, &q), -EINVAL);
	o.batch = 0;
	o.max_group = 65537;
	assert_int_equal(iopf_queue_new(f->ctx, f->e, &o, &q), -EINVAL);
	o.max_group = 0;
	o.size = 4;
	assert_int_equal(iopf_queue_new(f->ctx, f->e, &o, &q), -EINVAL);

	big.more = 1;
	assert_int_equal(iopf_queue_new(f->ctx, f->e, &big.o, &q), -E2BIG);
	assert_null(q);
	big.more = 0;
	assert_int_equal(iopf_queue_new(f->ctx, f->e, &big.o, &q), 0);
	assert_non_null(q);
	assert_int_not_equal(iopf_queue_id(q), 0);
	assert_true(iopf_queue_fd(q) >= 0);
	assert_null(iopf_queue_user(q));
	assert_int_equal(iopf_queue_error(q), 0);
	/* The fault fd is non-blocking (see iopf_queue_new) and close-on-exec
	 * (as the kernel makes it). */
	assert_true(fcntl(iopf_queue_fd(q), F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(iopf_queue_fd(q), F_GETFD) & FD_CLOEXEC);
	st = (struct iopf_stats){.size = sizeof(st)};
	assert_int_equal(iopf_queue_stats(q, &st), 0);
	assert_int_equal(st.size, sizeof(st));
	assert_int_equal(st.faults, 0);
	iopf_queue_free(q);

	/* NULL options: defaults. */
	q = NULL;
	assert_int_equal(iopf_queue_new(f->ctx, f->e, NULL, &q), 0);
	assert_non_null(q);
	iopf_queue_free(q);
	iopf_queue_free(NULL);
}

static void queue_null_accessors(void **state)
{
	struct iopf_stats st = {.size = sizeof(st)};

	assert_int_equal(iopf_queue_id(NULL), 0);
	assert_int_equal(iopf_queue_fd(NULL), -EINVAL);
	assert_null(iopf_queue_user(NULL));
	assert_int_equal(iopf_queue_error(NULL), -EINVAL);
	assert_int_equal(iopf_queue_stats(NULL, &st), -EINVAL);
}

/* A caller's stats struct of another size: only what fits is written. */
static void queue_stats_sizes(void **state)
{
	struct fx *f = *state;
	struct {
		struct iopf_stats st;
		uint64_t canary;
	} big;
	struct iopf_stats st;
	struct iopf_group *g;

	fx_init_default(f);
	assert_int_equal(iopf_queue_stats(f->qs[0].q, NULL), -EINVAL);
	st.size = 4;
	assert_int_equal(iopf_queue_stats(f->qs[0].q, &st), -EINVAL);

	fx_trigger(f, 0, 1, 3, 0x10000);
	assert_int_equal(fx_pull(f, &g, 1, 5000), 1);
	assert_int_equal(iopf_group_respond(g, IOPF_RESP_SUCCESS), 0);

	/* Old caller: {size, __pad, faults, groups}. */
	memset(&st, 0xa5, sizeof(st));
	st.size = offsetof(struct iopf_stats, answers_success);
	assert_int_equal(iopf_queue_stats(f->qs[0].q, &st), 0);
	assert_int_equal(st.size, offsetof(struct iopf_stats, answers_success));
	assert_int_equal(st.faults, 3);
	assert_int_equal(st.groups, 1);
	assert_int_equal(st.answers_success, 0xa5a5a5a5a5a5a5a5ull);

	/* A size that ends inside a counter gets that much of it. */
	memset(&st, 0xa5, sizeof(st));
	st.size = offsetof(struct iopf_stats, answers_stale) + 4;
	assert_int_equal(iopf_queue_stats(f->qs[0].q, &st), 0);
	assert_int_equal(st.answers_auto, 0);
	assert_int_equal(st.answers_stale, 0xa5a5a5a500000000ull);
	assert_int_equal(st.answers_failed, 0xa5a5a5a5a5a5a5a5ull);

	/* Newer caller: the tail is left alone. */
	memset(&big, 0xa5, sizeof(big));
	big.st.size = sizeof(big);
	assert_int_equal(iopf_queue_stats(f->qs[0].q, &big.st), 0);
	assert_int_equal(big.st.faults, 3);
	assert_int_equal(big.canary, 0xa5a5a5a5a5a5a5a5ull);
}

static void queue_new_6_10(void **state)
{
	struct fx *f = *state;
	struct iopf_queue *q = (void *)0x1;

	mock_ctx(f, IOPF_MOCK_KERNEL_6_10);
	assert_int_equal(iopf_queue_new(f->ctx, f->e, NULL, &q), -ENOSYS);
	assert_null(q);
	assert_msg_has(f->ctx, "IOMMU_FAULT_QUEUE_ALLOC");
	assert_msg_has(f->ctx, "6.11");
}

static void queue_new_injected(void **state)
{
	struct fx *f = *state;
	struct iopf_queue *q = (void *)0x1;
	static const int errs[] = {ENOMEM, EFAULT, EMFILE};

	fx_init(f, NULL);
	for (unsigned int i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		assert_int_equal(iopf_mock_inject_ioctl(f->m,
							NR_FAULT_QUEUE_ALLOC, 1,
							errs[i]),
				 0);
		assert_int_equal(iopf_queue_new(f->ctx, f->e, NULL, &q),
				 -errs[i]);
		assert_null(q);
		assert_msg_has(f->ctx, "IOMMU_FAULT_QUEUE_ALLOC");
		assert_msg_has(f->ctx, strerror(errs[i]));
	}
	assert_int_equal(
		iopf_mock_inject_ioctl(f->m, NR_FAULT_QUEUE_ALLOC, 1, ENOTTY),
		0);
	assert_int_equal(iopf_queue_new(f->ctx, f->e, NULL, &q), -ENOSYS);
	assert_msg_has(f->ctx, "6.11");
	/* And then it works, and the failures left no object behind that
	 * would now refuse to go. */
	assert_int_equal(iopf_queue_new(f->ctx, f->e, NULL, &q), 0);
	assert_msg_empty(f->ctx);
	iopf_queue_free(q);
}

static void group_null_accessors(void **state)
{
	assert_int_equal(iopf_group_count(NULL), 0);
	assert_null(iopf_group_fault(NULL, 0));
	assert_int_equal(iopf_group_cookie(NULL), 0);
	assert_int_equal(iopf_group_tag(NULL), 0);
	assert_null(iopf_group_queue(NULL));
	assert_null(iopf_group_user(NULL));
	iopf_group_set_user(NULL, (void *)0x1);
	assert_int_equal(iopf_group_respond(NULL, IOPF_RESP_SUCCESS), -EINVAL);
}

/* ---- HWPT allocation ---------------------------------------------------- */

struct hwpt_args_big {
	struct iopf_hwpt_args a;
	uint64_t more;
};

static void hwpt_alloc_args(void **state)
{
	struct fx *f = *state;
	uint32_t payload = FX_PAYLOAD, out = 0x4242, dev, parent;
	struct iopf_hwpt_args a;
	struct hwpt_args_big big;
	struct iopf_ctx *ctx, *ctx2 = NULL;

	fx_init_default(f);
	ctx = f->ctx;
	dev = f->qs[0].dev;
	parent = f->qs[0].parent;
	a = (struct iopf_hwpt_args){.size = sizeof(a),
				    .dev_id = dev,
				    .pt_id = parent,
				    .data_type = FX_DATA_SELFTEST,
				    .data_len = sizeof(payload),
				    .data = &payload};

	assert_int_equal(iopf_hwpt_alloc(ctx, NULL, NULL, &out), -EINVAL);
	assert_int_equal(iopf_hwpt_alloc(ctx, NULL, &a, NULL), -EINVAL);

	a.size = sizeof(a) - 8;
	assert_int_equal(iopf_hwpt_alloc(ctx, f->qs[0].q, &a, &out), -EINVAL);
	assert_msg_has(ctx, "size");
	a.size = sizeof(a);

	big = (struct hwpt_args_big){.a = a, .more = 1};
	big.a.size = sizeof(big);
	assert_int_equal(iopf_hwpt_alloc(ctx, f->qs[0].q, &big.a, &out),
			 -E2BIG);

	/* FAULT_ID_VALID (1 << 2) is the library's to set, not the caller's. */
	a.flags = 1u << 2;
	assert_int_equal(iopf_hwpt_alloc(ctx, f->qs[0].q, &a, &out), -EINVAL);
	assert_msg_has(ctx, "flags");
	a.flags = 1u << 20;
	assert_int_equal(iopf_hwpt_alloc(ctx, f->qs[0].q, &a, &out), -EINVAL);
	a.flags = 0;

	a.data = NULL;
	assert_int_equal(iopf_hwpt_alloc(ctx, f->qs[0].q, &a, &out), -EINVAL);
	a.data = &payload;
	a.data_len = 0;
	assert_int_equal(iopf_hwpt_alloc(ctx, f->qs[0].q, &a, &out), -EINVAL);
	a.data_len = sizeof(payload);
	a.data_type = 0;
	assert_int_equal(iopf_hwpt_alloc(ctx, f->qs[0].q, &a, &out), -EINVAL);
	assert_msg_has(ctx, "data");
	a.data_type = FX_DATA_SELFTEST;
	assert_int_equal(out, 0x4242);

	/* A queue of another context, even one over the same iommufd. */
	assert_int_equal(iopf_mock_ctx_new(f->m, &ctx2), 0);
	assert_int_equal(iopf_hwpt_alloc(ctx2, f->qs[0].q, &a, &out), -EINVAL);
	assert_msg_has(ctx2, "context");
	iopf_ctx_free(ctx2);
	assert_int_equal(out, 0x4242);

	/* Bigger struct with a zero tail: fine. */
	big.more = 0;
	big.a = a;
	big.a.size = sizeof(big);
	assert_int_equal(iopf_hwpt_alloc(ctx, f->qs[0].q, &big.a, &out), 0);
	assert_int_not_equal(out, 0x4242);
	assert_int_not_equal(out, 0);
	assert_msg_empty(ctx);
	assert_int_equal(iopf_destroy(ctx, out), 0);

	/* Unknown objects: the kernel's errors (a device ENOENT, a pt_id
	 * EINVAL), with a message. */
	out = 0x4242;
	a.dev_id = 0x99999;
	assert_int_equal(iopf_hwpt_alloc(ctx, f->qs[0].q, &a, &out), -ENOENT);
	assert_msg_has(ctx, "IOMMU_HWPT_ALLOC");
	a.dev_id = dev;
	a.pt_id = 0x99999;
	assert_int_equal(iopf_hwpt_alloc(ctx, f->qs[0].q, &a, &out), -EINVAL);
	assert_msg_has(ctx, "IOMMU_HWPT_ALLOC");
	assert_int_equal(out, 0x4242);
	a.pt_id = parent;
}

/* 6.12 takes a fault queue on nested HWPTs only. */
static void hwpt_alloc_paging_6_12(void **state)
{
	struct fx *f = *state;
	struct iopf_hwpt_args a;
	uint32_t out = 0x4242;

	fx_init(f, &(struct fx_cfg){.kernel = IOPF_MOCK_KERNEL_6_12});
	fx_add_queue(f, NULL);
	a = (struct iopf_hwpt_args){
		.size = sizeof(a), .dev_id = f->qs[0].dev, .pt_id = f->ioas};
	assert_int_equal(iopf_hwpt_alloc(f->ctx, f->qs[0].q, &a, &out),
			 -EOPNOTSUPP);
	assert_int_equal(out, 0x4242);
	assert_msg_has(f->ctx, "nested");
	assert_msg_has(f->ctx, "6.13");

	/* Without a queue the same paging HWPT is fine. */
	assert_int_equal(iopf_hwpt_alloc(f->ctx, NULL, &a, &out), 0);
	assert_msg_empty(f->ctx);
	assert_int_equal(iopf_destroy(f->ctx, out), 0);
}

/* 6.13 takes it on paging HWPTs too, and the faults arrive. */
static void hwpt_alloc_paging_6_13(void **state)
{
	struct fx *f = *state;
	struct iopf_hwpt_args a;
	struct iopf_group *g;
	uint32_t out = 0, dev;

	fx_init(f, &(struct fx_cfg){.kernel = IOPF_MOCK_KERNEL_6_13});
	fx_add_queue(f, NULL);
	assert_int_equal(iopf_mock_dev_new(f->m, &dev), 0);
	a = (struct iopf_hwpt_args){
		.size = sizeof(a), .dev_id = dev, .pt_id = f->ioas};
	assert_int_equal(iopf_hwpt_alloc(f->ctx, f->qs[0].q, &a, &out), 0);
	assert_int_not_equal(out, 0);
	assert_int_equal(iopf_mock_dev_attach(f->m, dev, out), 0);
	fx_trigger_dev(f, dev, 3, 1, 0x7000);
	assert_int_equal(fx_pull(f, &g, 1, 5000), 1);
	assert_int_equal(iopf_group_fault(g, 0)->dev_id, dev);
	assert_int_equal(iopf_group_respond(g, IOPF_RESP_SUCCESS), 0);
	assert_int_equal(fx_flush_until(f, 1, 5000), 1);
	assert_int_equal(iopf_mock_dev_detach(f->m, dev), 0);
	assert_int_equal(iopf_destroy(f->ctx, out), 0);
}

static void hwpt_alloc_injected(void **state)
{
	struct fx *f = *state;
	uint32_t payload = FX_PAYLOAD, out = 0x4242;
	struct iopf_hwpt_args a;

	fx_init_default(f);
	a = (struct iopf_hwpt_args){.size = sizeof(a),
				    .dev_id = f->qs[0].dev,
				    .pt_id = f->qs[0].parent,
				    .data_type = FX_DATA_SELFTEST,
				    .data_len = sizeof(payload),
				    .data = &payload};

	assert_int_equal(iopf_mock_inject_ioctl(f->m, NR_HWPT_ALLOC, 1, ENOMEM),
			 0);
	assert_int_equal(iopf_hwpt_alloc(f->ctx, f->qs[0].q, &a, &out),
			 -ENOMEM);
	assert_msg_has(f->ctx, "IOMMU_HWPT_ALLOC");
	assert_msg_has(f->ctx, strerror(ENOMEM));

	assert_int_equal(iopf_mock_inject_ioctl(f->m, NR_HWPT_ALLOC, 1, EFAULT),
			 0);
	assert_int_equal(iopf_hwpt_alloc(f->ctx, f->qs[0].q, &a, &out),
			 -EFAULT);

	/* A kernel without the command at all (before 6.7). */
	assert_int_equal(iopf_mock_inject_ioctl(f->m, NR_HWPT_ALLOC, 1, ENOTTY),
			 0);
	assert_int_equal(iopf_hwpt_alloc(f->ctx, f->qs[0].q, &a, &out),
			 -ENOSYS);
	assert_msg_has(f->ctx, "IOMMU_HWPT_ALLOC");

	/* A kernel whose struct ends before fault_id (before 6.11). */
	assert_int_equal(iopf_mock_inject_ioctl(f->m, NR_HWPT_ALLOC, 1, E2BIG),
			 0);
	assert_int_equal(iopf_hwpt_alloc(f->ctx, f->qs[0].q, &a, &out),
			 -ENOSYS);
	assert_msg_has(f->ctx, "fault_id");
	/* ... but without a queue E2BIG is just E2BIG. */
	assert_int_equal(iopf_mock_inject_ioctl(f->m, NR_HWPT_ALLOC, 1, E2BIG),
			 0);
	assert_int_equal(iopf_hwpt_alloc(f->ctx, NULL, &a, &out), -E2BIG);
	assert_int_equal(out, 0x4242);

	/* EOPNOTSUPP on a nested HWPT is not the paging message. */
	assert_int_equal(
		iopf_mock_inject_ioctl(f->m, NR_HWPT_ALLOC, 1, EOPNOTSUPP), 0);
	assert_int_equal(iopf_hwpt_alloc(f->ctx, f->qs[0].q, &a, &out),
			 -EOPNOTSUPP);
	assert_null(strstr(iopf_ctx_errmsg(f->ctx), "6.13"));
	assert_int_equal(out, 0x4242);
}

/* ---- vIOMMU and vDEVICE helpers ----------------------------------------- */

struct viommu_args_big {
	struct iopf_viommu_args a;
	uint64_t more;
};

/* Bad arguments: -EINVAL (or -E2BIG for a non-zero tail), nothing sent to
 * the kernel, the out id untouched. */
static void viommu_alloc_args(void **state)
{
	struct fx *f = *state;
	struct iopf_ctx *ctx = mock_ctx(f, IOPF_MOCK_KERNEL_6_12);
	uint32_t data = 1, out = 0x4242;
	struct iopf_viommu_args a = {.size = sizeof(a),
				     .type = 0xdeadbeef,
				     .dev_id = 1,
				     .hwpt_id = 2};
	struct viommu_args_big big = {.a = a, .more = 1};

	assert_int_equal(iopf_viommu_alloc(NULL, &a, &out), -EINVAL);
	assert_int_equal(iopf_viommu_alloc(ctx, NULL, &out), -EINVAL);
	assert_int_equal(iopf_viommu_alloc(ctx, &a, NULL), -EINVAL);
	a.size = sizeof(a) - 8;
	assert_int_equal(iopf_viommu_alloc(ctx, &a, &out), -EINVAL);
	assert_msg_has(ctx, "size");
	a.size = sizeof(a);
	big.a.size = sizeof(big);
	assert_int_equal(iopf_viommu_alloc(ctx, &big.a, &out), -E2BIG);
	a.data = &data;
	assert_int_equal(iopf_viommu_alloc(ctx, &a, &out), -EINVAL);
	assert_msg_has(ctx, "data");
	a.data = NULL;
	a.data_len = sizeof(data);
	assert_int_equal(iopf_viommu_alloc(ctx, &a, &out), -EINVAL);
	assert_msg_has(ctx, "data");
	assert_int_equal(iopf_vdevice_alloc(NULL, 1, 1, 0, &out), -EINVAL);
	assert_int_equal(iopf_vdevice_alloc(ctx, 1, 1, 0, NULL), -EINVAL);
	assert_int_equal(out, 0x4242);
}

/* A kernel without the commands (6.12): -ENOSYS naming the command and the
 * version that has it; an fd that is no iommufd at all: -ENOTTY. */
static void viommu_alloc_missing(void **state)
{
	struct fx *f = *state;
	struct iopf_ctx *ctx = mock_ctx(f, IOPF_MOCK_KERNEL_6_12), *nctx = NULL;
	struct iopf_viommu_args a = {.size = sizeof(a),
				     .type = 0xdeadbeef,
				     .dev_id = f->qs[0].dev,
				     .hwpt_id = f->qs[0].parent};
	uint32_t out = 0x4242;
	int fd;

	assert_int_equal(iopf_viommu_alloc(ctx, &a, &out), -ENOSYS);
	assert_msg_has(ctx, "IOMMU_VIOMMU_ALLOC");
	assert_msg_has(ctx, "6.13");
	assert_int_equal(iopf_vdevice_alloc(ctx, 1, f->qs[0].dev, 7, &out),
			 -ENOSYS);
	assert_msg_has(ctx, "IOMMU_VDEVICE_ALLOC");
	assert_int_equal(out, 0x4242);

	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(iopf_ctx_from_fd(fd, &nctx), 0);
	assert_int_equal(iopf_viommu_alloc(nctx, &a, &out), -ENOTTY);
	assert_msg_has(nctx, "not an iommufd");
	assert_int_equal(iopf_vdevice_alloc(nctx, 1, 1, 7, &out), -ENOTTY);
	assert_msg_has(nctx, "not an iommufd");
	iopf_ctx_free(nctx);
	close(fd);
	assert_int_equal(out, 0x4242);
}

/* The kernel's own failures come back as they are, each with a message that
 * says what it means for that command. */
static void viommu_alloc_injected(void **state)
{
	struct fx *f = *state;
	struct iopf_ctx *ctx = mock_ctx(f, IOPF_MOCK_KERNEL_7_3);
	struct iopf_viommu_args a = {.size = sizeof(a),
				     .type = 0x77,
				     .dev_id = f->qs[0].dev,
				     .hwpt_id = f->qs[0].parent};
	uint32_t out = 0x4242;

	assert_int_equal(
		iopf_mock_inject_ioctl(f->m, NR_VIOMMU_ALLOC, 1, EOPNOTSUPP),
		0);
	assert_int_equal(iopf_viommu_alloc(ctx, &a, &out), -EOPNOTSUPP);
	assert_msg_has(ctx, "no vIOMMU of type 0x77");
	assert_int_equal(
		iopf_mock_inject_ioctl(f->m, NR_VIOMMU_ALLOC, 1, ENOMEM), 0);
	assert_int_equal(iopf_viommu_alloc(ctx, &a, &out), -ENOMEM);
	assert_msg_has(ctx, "IOMMU_VIOMMU_ALLOC failed");
	assert_int_equal(
		iopf_mock_inject_ioctl(f->m, NR_VDEVICE_ALLOC, 1, EEXIST), 0);
	assert_int_equal(iopf_vdevice_alloc(ctx, 5, f->qs[0].dev, 0x1234, &out),
			 -EEXIST);
	assert_msg_has(ctx, "virt_id 0x1234");
	assert_int_equal(
		iopf_mock_inject_ioctl(f->m, NR_VDEVICE_ALLOC, 1, ENOENT), 0);
	assert_int_equal(iopf_vdevice_alloc(ctx, 5, f->qs[0].dev, 0x1234, &out),
			 -ENOENT);
	assert_msg_has(ctx, "IOMMU_VDEVICE_ALLOC failed");
	assert_int_equal(out, 0x4242);
}

#define MOCKED(f)                                                              \
	cmocka_unit_test_prestate_setup_teardown(f, fx_setup, fx_teardown,     \
						 &fx_kind_plain)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ctx_open_enoent),
		cmocka_unit_test(ctx_open_null_out),
		cmocka_unit_test(ctx_open_not_iommufd),
		cmocka_unit_test(probe_not_iommufd_fds),
		cmocka_unit_test(ctx_from_fd_keeps_fd),
		cmocka_unit_test(ctx_from_fd_bad),
		cmocka_unit_test(ctx_null_args),
		MOCKED(probe_null_features),
		MOCKED(probe_6_10),
		MOCKED(probe_6_12),
		MOCKED(probe_6_13),
		MOCKED(probe_6_15),
		MOCKED(probe_leaves_nothing),
		MOCKED(probe_injected),
		MOCKED(ioas_alloc_args),
		MOCKED(ioas_alloc_injected),
		MOCKED(destroy_paths),
		cmocka_unit_test(engine_new_args),
		cmocka_unit_test(engine_null_args),
		MOCKED(queue_new_args),
		cmocka_unit_test(queue_null_accessors),
		MOCKED(queue_stats_sizes),
		MOCKED(queue_new_6_10),
		MOCKED(queue_new_injected),
		cmocka_unit_test(group_null_accessors),
		MOCKED(hwpt_alloc_args),
		MOCKED(hwpt_alloc_paging_6_12),
		MOCKED(hwpt_alloc_paging_6_13),
		MOCKED(hwpt_alloc_injected),
		MOCKED(viommu_alloc_args),
		MOCKED(viommu_alloc_missing),
		MOCKED(viommu_alloc_injected),
	};

	/* IOPF_TEST_FILTER="deadline*" runs only the matching tests. */
	if (getenv("IOPF_TEST_FILTER"))
		cmocka_set_test_filter(getenv("IOPF_TEST_FILTER"));
	return cmocka_run_group_tests_name("ctx", tests, NULL, NULL);
}
