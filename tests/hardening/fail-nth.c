/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Failure at every step, as the kernel's iommufd_fail_nth selftest does: one
 * full queue lifecycle is run again and again, the N-th operation of one kind
 * failing in run N, for N = 1, 2, ... until a run completes without the
 * failure being reached. Kinds: allocation (malloc, calloc, realloc, fail with
 * ENOMEM), ioctl (ENOMEM, then ENOTTY as an old kernel says), read of the
 * fault fd (EIO, and 0 with groups pending) and write (EIO, EINVAL, and a
 * write that takes nothing), and the system calls that make and set up file
 * descriptors (eventfd, epoll_create1, epoll_ctl, timerfd_create, socketpair,
 * fcntl, io_uring setup: EMFILE/ENOMEM), each on both engines.
 *
 * The lifecycle: mock, context, probe, engine, IOAS, two devices, parent
 * HWPT, queue, nested HWPT with the queue, attach both devices, four groups
 * (one larger than the queue's first buffer) pulled, two answered, a burst of
 * 70 one-record groups (past the first slot chunk and answer buffer) pulled
 * and answered, two more groups dispatched to a handler that answers them,
 * flush, the second device detached, the held groups answered late, flush;
 * then a vIOMMU, vDEVICE and vEVENTQ (depth 4) on the mock's 7.3 rules, the
 * first device moved to a nested HWPT on the vIOMMU, six events raised and
 * dispatched (four and a LOST record: two lost); then everything freed.
 * When a call fails, the run stops there and frees what it has, in the
 * documented order, as a careful VMM would.
 *
 * Allocations and system calls are failed through the linker
 * (-Wl,--wrap=malloc,...): every call from the library's objects (lib/ and
 * lib/mock/, linked statically) goes through __wrap_malloc etc., which
 * forward to the real function (ASan's or valgrind's allocator when they run
 * it) or fail the N-th call. ioctls, reads and writes are failed through
 * iopf_mock_inject_ioctl() and iopf_mock_inject_fd(); a wrapper around the
 * context's backend counts the ioctls, the mock's stats the reads and writes,
 * to know whether the N-th was reached.
 *
 * After every run:
 *  - every call returned 0, a count, or a negative errno;
 *  - nothing leaked: every allocation made during the run was freed (counted
 *    here, per run; LeakSanitizer and valgrind check again at exit), and no
 *    file descriptor is left open;
 *  - the mock's log. "No group unanswered" means, precisely, looked at right
 *    after iopf_queue_free() and before the run's teardown detaches or
 *    destroys anything (which would make the mock answer what is left, and
 *    hide a group the library forgot):
 *      * no answer with a cookie never given out, none with a bad code;
 *      * no group got more than one answer from the library;
 *      * every group the library READ (the mock delivered it: it has a
 *        cookie) was answered by the library: ANSWERED with one answer, or
 *        AUTO_DETACH when its device left first (then the library's late
 *        answer, refused with EINVAL, is allowed: at most one, and it is
 *        the only kind of "duplicate" the mock may count). It may still be
 *        waiting (DELIVERED) only if the library's answer to it was lost to
 *        an injected write failure, which the answered callback must then
 *        have reported: no more such groups than such reports;
 *      * a group the library never read (the run failed before delivery, or
 *        the queue stopped reading after an injected read error) is not the
 *        library's to answer: it cannot know of it. The kernel answers it
 *        INVALID when the fault object is destroyed (AUTO_TEARDOWN), which
 *        the run's teardown must make happen: after the teardown no group is
 *        pending or outstanding;
 *  - and the run that reached no failure completed every step with the
 *    expected outcome: every group ANSWERED but the two AUTO_DETACH.
 *
 * Usage: fail-nth [uring|plain [CLASS|MODE [N]]]: a subset, or run N alone
 * with every step, the failing call's backtrace and the mock's log printed.
 * CLASS is alloc, ioctl, read, write or syscall; MODE one of modes[] below
 * (e.g. write-EINVAL).
 */
#include <dirent.h>
#include <errno.h>
#include <execinfo.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <liburing.h>
#include <sys/epoll.h>

#include <libiopf.h>
#include <libiopf/mock.h>

#include "internal.h" /* struct iopf_ctx: to count ioctls (see counting_ops) */

/* ---- allocation failure ------------------------------------------------- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);

static long alloc_nth; /* fail the alloc_nth-th call; 0: none */
static long alloc_calls; /* calls since the run started */
static long alloc_live; /* allocations not freed yet */
static bool alloc_counting;

static bool alloc_verbose;

static bool alloc_fail(void)
{
	if (!alloc_counting || ++alloc_calls != alloc_nth)
		return false;
	if (alloc_verbose) {
		void *bt[16];
		int n = backtrace(bt, 16);

		printf("    allocation %ld fails, from:\n", alloc_calls);
		fflush(stdout);
		backtrace_symbols_fd(bt, n, 1);
	}
	return true;
}

void *__wrap_malloc(size_t n)
{
	void *p;

	if (alloc_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	p = __real_malloc(n);
	if (p)
		alloc_live++;
	return p;
}

void *__wrap_calloc(size_t n, size_t size)
{
	void *p;

	if (alloc_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	p = __real_calloc(n, size);
	if (p)
		alloc_live++;
	return p;
}

void *__wrap_realloc(void *p, size_t n)
{
	void *r;

	if (!n) {
		/* Not used by the library; keep its meaning simple. */
		__wrap_free(p);
		return NULL;
	}
	if (alloc_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	r = __real_realloc(p, n);
	if (r && !p)
		alloc_live++;
	return r;
}

void __wrap_free(void *p)
{
	if (p)
		alloc_live--;
	__real_free(p);
}

/* ---- system call failure ------------------------------------------------- */

/* The calls that make or configure the library's and the mock's file
 * descriptors, failed through the linker too: EMFILE (or ENOMEM from
 * io_uring_setup), as a process out of descriptors or locked memory sees. */
int __real_eventfd(unsigned int count, int flags);
int __real_epoll_create1(int flags);
int __real_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
int __real_timerfd_create(int clockid, int flags);
int __real_socketpair(int domain, int type, int protocol, int sv[2]);
int __real_fcntl(int fd, int cmd, ...);
int __real_fcntl64(int fd, int cmd, ...);
int __real_io_uring_queue_init_params(unsigned int entries, struct io_uring *ring,
				      struct io_uring_params *p);
int __wrap_eventfd(unsigned int count, int flags);
int __wrap_epoll_create1(int flags);
int __wrap_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
int __wrap_timerfd_create(int clockid, int flags);
int __wrap_socketpair(int domain, int type, int protocol, int sv[2]);
int __wrap_fcntl(int fd, int cmd, ...);
int __wrap_fcntl64(int fd, int cmd, ...);
int __wrap_io_uring_queue_init_params(unsigned int entries, struct io_uring *ring,
				      struct io_uring_params *p);

static long sys_nth, sys_calls;
static bool sys_counting;

static bool sys_fail(const char *what)
{
	if (!sys_counting || ++sys_calls != sys_nth)
		return false;
	if (alloc_verbose)
		printf("    %s fails (call %ld)\n", what, sys_calls);
	errno = EMFILE;
	return true;
}

int __wrap_eventfd(unsigned int count, int flags)
{
	return sys_fail("eventfd") ? -1 : __real_eventfd(count, flags);
}

int __wrap_epoll_create1(int flags)
{
	return sys_fail("epoll_create1") ? -1 : __real_epoll_create1(flags);
}

int __wrap_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	/* EPOLL_CTL_DEL is teardown: it cannot fail in a way that matters. */
	if (op != EPOLL_CTL_DEL && sys_fail("epoll_ctl")) {
		errno = ENOMEM;
		return -1;
	}
	return __real_epoll_ctl(epfd, op, fd, ev);
}

int __wrap_timerfd_create(int clockid, int flags)
{
	return sys_fail("timerfd_create") ? -1 : __real_timerfd_create(clockid, flags);
}

int __wrap_socketpair(int domain, int type, int protocol, int sv[2])
{
	return sys_fail("socketpair") ? -1 :
					__real_socketpair(domain, type, protocol, sv);
}

int __wrap_fcntl(int fd, int cmd, ...)
{
	va_list ap;
	long arg;

	va_start(ap, cmd);
	arg = va_arg(ap, long);
	va_end(ap);
	if (sys_fail("fcntl")) {
		errno = EBADF;
		return -1;
	}
	return __real_fcntl(fd, cmd, arg);
}

/* What fcntl() is called with -D_FILE_OFFSET_BITS=64, as meson builds. */
int __wrap_fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	long arg;

	va_start(ap, cmd);
	arg = va_arg(ap, long);
	va_end(ap);
	if (sys_fail("fcntl")) {
		errno = EBADF;
		return -1;
	}
	return __real_fcntl64(fd, cmd, arg);
}

int __wrap_io_uring_queue_init_params(unsigned int entries, struct io_uring *ring,
				      struct io_uring_params *p)
{
	if (sys_fail("io_uring_queue_init_params"))
		return -ENOMEM;
	return __real_io_uring_queue_init_params(entries, ring, p);
}

/* ---- ioctl counting ------------------------------------------------------ */

/* The mock's rules say nothing about whether they fired; the library's
 * context is wrapped to count the ioctls it makes. */
static struct iopf_backend_ops counting_ops;
static const struct iopf_backend_ops *real_ops;
static long ioctl_calls;

static int counting_ioctl(void *be, unsigned long cmd, void *arg)
{
	ioctl_calls++;
	return real_ops->ioctl(be, cmd, arg);
}

static void count_ioctls(struct iopf_ctx *ctx)
{
	real_ops = ctx->ops;
	counting_ops = *ctx->ops;
	counting_ops.ioctl = counting_ioctl;
	ctx->ops = &counting_ops;
}

/* ---- the failures --------------------------------------------------------- */

enum fclass { F_ALLOC, F_IOCTL, F_READ, F_WRITE, F_SYSCALL };

struct fmode {
	enum fclass cls;
	const char *name;
	int what; /* enum iopf_mock_fd_fault for reads and writes */
	int arg; /* errno, or what the fd rule takes */
};

static const struct fmode modes[] = {
	{ F_ALLOC, "alloc", 0, ENOMEM },
	{ F_IOCTL, "ioctl-ENOMEM", 0, ENOMEM },
	{ F_IOCTL, "ioctl-ENOTTY", 0, ENOTTY },
	{ F_READ, "read-EIO", IOPF_MOCK_READ_ERRNO, EIO },
	{ F_READ, "read-zero", IOPF_MOCK_READ_ZERO, 0 },
	{ F_WRITE, "write-EIO", IOPF_MOCK_WRITE_ERRNO, EIO },
	{ F_WRITE, "write-EINVAL", IOPF_MOCK_WRITE_ERRNO, EINVAL },
	{ F_WRITE, "write-none", IOPF_MOCK_WRITE_SHORT, 0 },
	{ F_SYSCALL, "syscall", 0, EMFILE },
};

static const char *const class_names[] = { "alloc", "ioctl", "read", "write",
					    "syscall" };

/* ---- one run ------------------------------------------------------------- */

#define BURST 70 /* more than a slot chunk (64) and the first answer buffer */
#define NGROUPS (6 + BURST)
#define MAX_CB 256

struct run {
	int kind;
	const struct fmode *mode;
	long nth;
	bool verbose;

	struct iopf_mock *m;
	struct iopf_ctx *ctx;
	struct iopf_engine *e;
	struct iopf_queue *q;
	uint32_t ioas, dev[2], parent, nested, fault_id;
	bool attached[2];
	uint64_t gid[NGROUPS];
	unsigned int ngid;
	struct iopf_group *held[NGROUPS];
	unsigned int nheld;
	unsigned int handled;

	int cb_result[MAX_CB];
	unsigned int ncb;
	unsigned int lost; /* answers reported lost to a write error */

	const char *failed_at; /* the step that returned an error */
	int failed_rc;
	bool completed;
	uint64_t reads0, writes0; /* mock stats when the fd rule was armed */
	bool fd_armed;
	uint64_t answered_total, auto_detach; /* the mock's, at the end */
	/* the vEVENTQ part */
	uint32_t viommu, vdev, vnested;
	struct iopf_veventq *vq;
	unsigned int vrecords, vevents;
	uint64_t vlost;
	char why[512]; /* the first broken invariant */
};

static void broke(struct run *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void broke(struct run *r, const char *fmt, ...)
{
	va_list ap;

	if (r->why[0])
		return;
	va_start(ap, fmt);
	vsnprintf(r->why, sizeof(r->why), fmt, ap);
	va_end(ap);
}

/* A call's result: 0 or a count goes on, a negative errno stops the run,
 * anything else is a broken contract. */
static bool step(struct run *r, const char *what, int rc)
{
	if (r->verbose)
		printf("    %-28s %d\n", what, rc);
	if (rc < -4095)
		broke(r, "%s returned %d", what, rc);
	if (rc >= 0)
		return true;
	if (!r->failed_at) {
		r->failed_at = what;
		r->failed_rc = rc;
	}
	return false;
}

static void answered(struct iopf_queue *q, uint64_t tag, uint32_t cookie,
		     uint32_t code, int result, void *user)
{
	struct run *r = user;

	if (code > IOPF_RESP_INVALID)
		broke(r, "answered callback with code %u", code);
	if (r->ncb < MAX_CB)
		r->cb_result[r->ncb] = result;
	r->ncb++;
	/* Lost: the kernel neither took it nor had answered it. An injected
	 * EINVAL says "already answered" for a group that was not. */
	if (result && result != -ESTALE &&
	    (result != -EINVAL ||
	     (r->mode->cls == F_WRITE && r->mode->arg == EINVAL)))
		r->lost++;
}

static int handler(struct iopf_group *g, void *user)
{
	struct run *r = user;
	int rc = iopf_group_respond(g, IOPF_RESP_SUCCESS);

	r->handled++;
	/* ENOMEM: the group is still the caller's; keep it for teardown. */
	if (rc == -ENOMEM && r->nheld < NGROUPS)
		r->held[r->nheld++] = g;
	else if (rc && rc != -ETIMEDOUT && rc != -ESTALE)
		broke(r, "respond in the handler: %d", rc);
	return 0;
}

static int vhandler(struct iopf_veventq *vq, const struct iopf_vevent *evs,
		    unsigned int n, void *user)
{
	struct run *r = user;

	(void)vq;
	for (unsigned int i = 0; i < n; i++) {
		r->vrecords++;
		r->vevents += !(evs[i].flags & IOPF_VEVENT_LOST);
		r->vlost += evs[i].lost;
	}
	return 0;
}

/* The vEVENTQ part: a vIOMMU on the parent, the first device's vDEVICE, a
 * vEVENTQ of depth 4, the device moved to a nested HWPT on the vIOMMU, six
 * events (four kept, two lost: a LOST record), dispatched. */
static bool vevents(struct run *r)
{
	struct iopf_viommu_args va = { .size = sizeof(va),
				       .type = IOPF_MOCK_VIOMMU_TYPE_SELFTEST,
				       .dev_id = r->dev[0],
				       .hwpt_id = r->parent };
	struct iopf_veventq_opts vo = { .size = sizeof(vo),
					.type = IOPF_MOCK_VEVENTQ_TYPE_SELFTEST,
					.depth = 4,
					.handler = vhandler,
					.user = r };
	uint32_t payload = 0xbadbeef;
	struct iopf_hwpt_args na = { .size = sizeof(na),
				     .dev_id = r->dev[0],
				     .data_type = 0xdead,
				     .data_len = sizeof(payload),
				     .data = &payload };

	if (!step(r, "iopf_viommu_alloc", iopf_viommu_alloc(r->ctx, &va, &r->viommu)))
		return false;
	if (!step(r, "iopf_vdevice_alloc",
		  iopf_vdevice_alloc(r->ctx, r->viommu, r->dev[0], 7, &r->vdev)))
		return false;
	if (!step(r, "iopf_veventq_new",
		  iopf_veventq_new(r->ctx, r->e, r->viommu, &vo, &r->vq)))
		return false;
	na.pt_id = r->viommu;
	if (!step(r, "iopf_hwpt_alloc(vIOMMU)",
		  iopf_hwpt_alloc(r->ctx, r->q, &na, &r->vnested)))
		return false;
	if (!step(r, "iopf_mock_dev_attach(vIOMMU)",
		  iopf_mock_dev_attach(r->m, r->dev[0], r->vnested)))
		return false;
	for (int i = 0; i < 6; i++)
		if (!step(r, "iopf_mock_vevent",
			  iopf_mock_vevent(r->m, r->dev[0],
					   IOPF_MOCK_VEVENTQ_TYPE_SELFTEST, NULL,
					   0, NULL)))
			return false;
	for (int i = 0; i < 50 && r->vrecords < 5; i++)
		if (!step(r, "iopf_engine_dispatch(vEVENTQ)",
			  iopf_engine_dispatch(r->e, 5)))
			return false;
	if (r->vrecords < 5) {
		r->failed_at = "dispatch: fewer than 5 vEVENTQ records";
		return false;
	}
	return true;
}

static bool trigger(struct run *r, unsigned int dev, unsigned int n)
{
	struct iopf_mock_fault f[8];
	uint64_t gid = 0;
	int rc;

	memset(f, 0, sizeof(f));
	for (unsigned int i = 0; i < n; i++) {
		f[i].perm = IOPF_PERM_READ | IOPF_PERM_WRITE;
		f[i].addr = 0x100000ull * (r->ngid + 1) + 0x1000ull * i;
	}
	rc = iopf_mock_trigger(r->m, r->dev[dev], r->ngid, f, n, &gid);
	if (!step(r, "iopf_mock_trigger", rc))
		return false;
	r->gid[r->ngid++] = gid;
	return true;
}

/* Waits and pulls until `want` groups are held, in bounded time. */
static bool pull(struct run *r, unsigned int want)
{
	for (int i = 0; i < 50 && r->nheld < want; i++) {
		struct iopf_group *gs[NGROUPS];
		int n;

		if (!step(r, "iopf_engine_wait", iopf_engine_wait(r->e, 5)))
			return false;
		n = iopf_engine_pull(r->e, gs, want - r->nheld);
		if (!step(r, "iopf_engine_pull", n))
			return false;
		for (int j = 0; j < n; j++)
			r->held[r->nheld++] = gs[j];
	}
	return r->nheld >= want;
}

static bool respond(struct run *r, unsigned int i, uint32_t code)
{
	int rc = iopf_group_respond(r->held[i], code);

	if (!step(r, "iopf_group_respond", rc))
		return false;
	r->held[i] = r->held[--r->nheld];
	return true;
}

static bool flush(struct run *r)
{
	return step(r, "iopf_engine_flush", iopf_engine_flush(r->e));
}

static void arm_fd_rule(struct run *r)
{
	struct iopf_mock_stats st = { .size = sizeof(st) };
	const struct fmode *m = r->mode;

	if (m->cls != F_READ && m->cls != F_WRITE)
		return;
	if (iopf_mock_stats(r->m, &st) ||
	    iopf_mock_inject_fd(r->m, r->fault_id,
				(enum iopf_mock_fd_fault)m->what, (unsigned)r->nth,
				m->arg)) {
		broke(r, "cannot arm the fd rule");
		return;
	}
	r->reads0 = st.reads;
	r->writes0 = st.writes;
	r->fd_armed = true;
}

/* The steps; false when one failed. */
static bool lifecycle(struct run *r)
{
	/* 7.3: vIOMMUs and vEVENTQs too. */
	struct iopf_mock_opts mo = { .size = sizeof(mo),
				     .kernel = IOPF_MOCK_KERNEL_7_3 };
	struct iopf_engine_opts eo = { .size = sizeof(eo), .kind = (uint32_t)r->kind };
	struct iopf_queue_opts qo = {
		.size = sizeof(qo),
		.batch = 4, /* the third group (5 records) must grow it */
		.handler = handler,
		.answered = answered,
		.user = r,
	};
	uint32_t payload = 0xbadbeef;
	struct iopf_hwpt_args pa = { .size = sizeof(pa),
				     .flags = IOPF_HWPT_ALLOC_NEST_PARENT };
	struct iopf_hwpt_args na = { .size = sizeof(na),
				     .data_type = 0xdead,
				     .data_len = sizeof(payload),
				     .data = &payload };
	uint64_t feat = 0;

	if (!step(r, "iopf_mock_new", iopf_mock_new(&mo, &r->m)))
		return false;
	if (r->mode->cls == F_IOCTL &&
	    iopf_mock_inject_ioctl(r->m, 0, (unsigned)r->nth, r->mode->arg)) {
		broke(r, "cannot arm the ioctl rule");
		return false;
	}
	if (!step(r, "iopf_mock_ctx_new", iopf_mock_ctx_new(r->m, &r->ctx)))
		return false;
	count_ioctls(r->ctx);
	if (!step(r, "iopf_ctx_probe", iopf_ctx_probe(r->ctx, &feat)))
		return false;
	if (!step(r, "iopf_engine_new", iopf_engine_new(&eo, &r->e)))
		return false;
	if (!step(r, "iopf_ioas_alloc", iopf_ioas_alloc(r->ctx, &r->ioas)))
		return false;
	for (int i = 0; i < 2; i++)
		if (!step(r, "iopf_mock_dev_new", iopf_mock_dev_new(r->m, &r->dev[i])))
			return false;
	pa.dev_id = r->dev[0];
	pa.pt_id = r->ioas;
	if (!step(r, "iopf_hwpt_alloc(parent)",
		  iopf_hwpt_alloc(r->ctx, NULL, &pa, &r->parent)))
		return false;
	if (!step(r, "iopf_queue_new", iopf_queue_new(r->ctx, r->e, &qo, &r->q)))
		return false;
	r->fault_id = iopf_queue_id(r->q);
	arm_fd_rule(r);
	na.dev_id = r->dev[0];
	na.pt_id = r->parent;
	if (!step(r, "iopf_hwpt_alloc(nested)",
		  iopf_hwpt_alloc(r->ctx, r->q, &na, &r->nested)))
		return false;
	for (int i = 0; i < 2; i++) {
		if (!step(r, "iopf_mock_dev_attach",
			  iopf_mock_dev_attach(r->m, r->dev[i], r->nested)))
			return false;
		r->attached[i] = true;
	}

	/* Four groups; the third does not fit the first buffer. */
	if (!trigger(r, 0, 1) || !trigger(r, 0, 3) || !trigger(r, 1, 5) ||
	    !trigger(r, 1, 2))
		return false;
	/* Fewer groups is right after a failure: a group the library cannot
	 * hold (no memory) is answered INVALID at once, and a queue whose read
	 * failed reads no more. A run that reached no failure must get all. */
	if (!pull(r, 4)) {
		if (!r->failed_at)
			r->failed_at = "pull: fewer than 4 groups";
		return false;
	}
	/* Two answered now; the second device's two stay held. */
	for (unsigned int i = 0; i < r->nheld;) {
		const struct iopf_fault *f = iopf_group_fault(r->held[i], 0);

		if (f && f->dev_id == r->dev[0]) {
			if (!respond(r, i, f->addr >> 20 == 1 ? IOPF_RESP_SUCCESS :
								IOPF_RESP_INVALID))
				return false;
		} else {
			i++;
		}
	}

	/* A burst: more groups at once than the library's first slots and
	 * answer buffers hold, and cookies past the first 64. */
	for (unsigned int i = 0; i < BURST; i++)
		if (!trigger(r, 0, 1))
			return false;
	if (!pull(r, 2 + BURST)) {
		if (!r->failed_at)
			r->failed_at = "pull: fewer than the burst";
		return false;
	}
	for (unsigned int i = 0; i < r->nheld;) {
		const struct iopf_fault *f = iopf_group_fault(r->held[i], 0);

		if (f && f->dev_id == r->dev[0]) {
			if (!respond(r, i, IOPF_RESP_SUCCESS))
				return false;
		} else {
			i++;
		}
	}
	if (!flush(r))
		return false;

	/* Two more, to the handler. */
	if (!trigger(r, 0, 1) || !trigger(r, 0, 2))
		return false;
	for (int i = 0; i < 50 && r->handled < 2; i++)
		if (!step(r, "iopf_engine_dispatch", iopf_engine_dispatch(r->e, 5)))
			return false;
	if (r->handled < 2) {
		r->failed_at = "dispatch: fewer than 2 groups";
		return false;
	}
	if (!flush(r))
		return false;

	/* The second device leaves: the kernel answers its two groups. The
	 * late answers are refused (EINVAL, reported through the callback). */
	if (!step(r, "iopf_mock_dev_detach", iopf_mock_dev_detach(r->m, r->dev[1])))
		return false;
	r->attached[1] = false;
	while (r->nheld)
		if (!respond(r, r->nheld - 1, IOPF_RESP_SUCCESS))
			return false;
	if (!flush(r))
		return false;
	return vevents(r);
}

/* IOMMU_DESTROY in the run's teardown: an injected failure (the rule fires
 * once) is retried, so that the teardown always completes. */
static void destroy(struct run *r, uint32_t id)
{
	int rc;

	if (!id)
		return;
	rc = iopf_destroy(r->ctx, id);
	if (rc == -r->mode->arg && r->mode->cls == F_IOCTL)
		rc = iopf_destroy(r->ctx, id);
	if (rc && rc != -ENOENT)
		broke(r, "IOMMU_DESTROY %u in teardown: %d", id, rc);
}

/*
 * The mock's log right after iopf_queue_free(), before the run's teardown
 * detaches or destroys anything (which would answer what is left and hide a
 * group the library forgot): every group the library read was answered by
 * it, or by the kernel when its device left, or its answer was lost.
 */
static void check_after_queue_free(struct run *r)
{
	unsigned int detached_answers = 0, unanswered = 0;
	struct iopf_mock_stats st = { .size = sizeof(st) };

	if (iopf_mock_stats(r->m, &st)) {
		broke(r, "iopf_mock_stats");
		return;
	}
	for (unsigned int i = 0; i < r->ngid; i++) {
		struct iopf_mock_group_info gi = { .size = sizeof(gi) };

		if (iopf_mock_group_info(r->m, r->gid[i], &gi)) {
			broke(r, "group_info %llu", (unsigned long long)r->gid[i]);
			continue;
		}
		if (r->verbose)
			printf("    group %u: state %u cookie %u answers %u code %u\n",
			       i, gi.state, gi.cookie, gi.answers, gi.code);
		if (gi.answers > 1)
			broke(r, "group %u answered %u times", i, gi.answers);
		switch (gi.state) {
		case IOPF_MOCK_GROUP_PENDING:
			break; /* never read: the kernel's to answer */
		case IOPF_MOCK_GROUP_DELIVERED:
			unanswered++; /* read, and no answer reached it */
			break;
		case IOPF_MOCK_GROUP_ANSWERED:
			if (gi.answers != 1)
				broke(r, "group %u ANSWERED with %u answers", i,
				      gi.answers);
			break;
		case IOPF_MOCK_GROUP_AUTO_DETACH:
			detached_answers += gi.answers;
			break;
		default:
			broke(r, "group %u in state %u", i, gi.state);
			break;
		}
	}
	if (unanswered > r->lost)
		broke(r, "%u groups read and never answered (%u answers reported lost)",
		      unanswered, r->lost);
	if (st.bad_unknown || st.bad_code)
		broke(r, "answers with unknown cookies (%llu) or bad codes (%llu)",
		      (unsigned long long)st.bad_unknown,
		      (unsigned long long)st.bad_code);
	if (st.bad_duplicate != detached_answers)
		broke(r, "%llu answers to answered groups, %u of them late answers after detach",
		      (unsigned long long)st.bad_duplicate, detached_answers);
	r->answered_total = st.answered_success + st.answered_invalid;
	r->auto_detach = st.auto_detach;
	if (r->fd_armed && (r->mode->cls == F_READ ? st.reads - r->reads0 :
						     st.writes - r->writes0) <
				   (uint64_t)r->nth)
		r->fd_armed = false; /* never reached */
}

static void teardown(struct run *r)
{
	struct iopf_mock_stats st = { .size = sizeof(st) };

	/* The queue first, while the devices still wait: the library answers
	 * what it holds. */
	iopf_queue_free(r->q);
	r->q = NULL;
	r->nheld = 0;
	if (!r->m)
		return;
	check_after_queue_free(r);
	if (r->ctx) {
		for (int i = 0; i < 2; i++)
			if (r->attached[i] &&
			    iopf_mock_dev_detach(r->m, r->dev[i]))
				broke(r, "detach in teardown");
		/* The vEVENTQ part, in a VMM's order: HWPT, queue, vDEVICE,
		 * vIOMMU, before the parent the vIOMMU holds. */
		destroy(r, r->vnested);
		iopf_veventq_free(r->vq);
		r->vq = NULL;
		destroy(r, r->vdev);
		destroy(r, r->viommu);
		destroy(r, r->nested);
		destroy(r, r->parent);
		/* iopf_queue_free() could not destroy the fault object while
		 * the nested HWPT used it: now it can (or it is gone). */
		destroy(r, r->fault_id);
		destroy(r, r->ioas);
	}
	iopf_engine_free(r->e);
	r->e = NULL;
	iopf_ctx_free(r->ctx);
	r->ctx = NULL;

	/* Once every object of the run is gone, nothing waits any more. */
	if (iopf_mock_stats(r->m, &st))
		broke(r, "iopf_mock_stats");
	else if (st.pending || st.outstanding)
		broke(r, "after teardown %llu groups pending, %llu outstanding",
		      (unsigned long long)st.pending,
		      (unsigned long long)st.outstanding);
	iopf_mock_free(r->m);
	r->m = NULL;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		n++;
	closedir(d);
	return n;
}

/* One run; returns whether the failure was reached. */
static bool run_one(int kind, const struct fmode *mode, long nth, bool verbose,
		    bool *ok)
{
	struct run *r = __real_calloc(1, sizeof(*r));
	long live0 = alloc_live;
	int fds0 = count_fds();
	bool reached;

	if (!r) {
		*ok = false;
		return false;
	}
	r->kind = kind;
	r->mode = mode;
	r->nth = nth;
	r->verbose = verbose;
	ioctl_calls = 0;
	alloc_calls = 0;
	alloc_nth = mode->cls == F_ALLOC ? nth : 0;
	alloc_verbose = verbose;
	alloc_counting = true;
	sys_calls = 0;
	sys_nth = mode->cls == F_SYSCALL ? nth : 0;
	sys_counting = true;

	r->completed = lifecycle(r);
	teardown(r);

	alloc_counting = false;
	sys_counting = false;
	switch (mode->cls) {
	case F_ALLOC:
		reached = alloc_calls >= nth;
		break;
	case F_IOCTL:
		reached = ioctl_calls >= nth;
		break;
	case F_SYSCALL:
		reached = sys_calls >= nth;
		break;
	default:
		reached = r->fd_armed;
		break;
	}
	if (alloc_live != live0)
		broke(r, "%ld allocations leaked", alloc_live - live0);
	if (count_fds() != fds0)
		broke(r, "%d fds leaked", count_fds() - fds0);
	if (!reached && !r->completed)
		broke(r, "with no failure injected, the run stopped at %s: %d",
		      r->failed_at ? r->failed_at : "?", r->failed_rc);
	if (!reached && (r->vevents != 4 || r->vrecords != 5 || r->vlost != 2))
		broke(r, "a clean run saw %u vEVENTQ records, %u events, %llu lost (want 5, 4, 2)",
		      r->vrecords, r->vevents, (unsigned long long)r->vlost);
	if (!reached && (r->answered_total != NGROUPS - 2 || r->auto_detach != 2))
		broke(r, "a clean run ended with %llu answered, %llu auto-detached",
		      (unsigned long long)r->answered_total,
		      (unsigned long long)r->auto_detach);
	*ok = !r->why[0];
	if (!*ok || verbose)
		printf("  %s %s N=%ld: %s%s%s (stopped at %s %d, %u callbacks, %u lost)\n",
		       kind == IOPF_ENGINE_URING ? "uring" : "plain", mode->name,
		       nth, *ok ? "ok" : "FAILED: ", r->why,
		       reached ? "" : " [not reached]",
		       r->failed_at ? r->failed_at : "-", r->failed_rc, r->ncb,
		       r->lost);
	__real_free(r);
	return reached;
}

int main(int argc, char **argv)
{
	const char *only_kind = argc > 1 ? argv[1] : NULL;
	const char *only_class = argc > 2 ? argv[2] : NULL;
	long only_n = argc > 3 ? atol(argv[3]) : 0;
	int failed = 0, runs = 0;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int k = 0; k < 2; k++) {
		int kind = k ? IOPF_ENGINE_PLAIN : IOPF_ENGINE_URING;
		const char *kname = k ? "plain" : "uring";

		if (only_kind && strcmp(only_kind, kname))
			continue;
		for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
			const struct fmode *mode = &modes[m];
			long n, fails = 0;
			bool ok = true;

			if (only_class && strcmp(only_class, class_names[mode->cls]) &&
			    strcmp(only_class, mode->name))
				continue;
			if (only_n) {
				run_one(kind, mode, only_n, true, &ok);
				failed += !ok;
				runs++;
				continue;
			}
			/* Until a run no longer reaches the failure. */
			for (n = 1; n < 100000; n++) {
				bool reached = run_one(kind, mode, n, false, &ok);

				runs++;
				if (!ok) {
					fails++;
					failed++;
				}
				if (!reached)
					break;
			}
			printf("fail-nth: %s %-13s %3ld runs: %s\n", kname,
			       mode->name, n, fails ? "FAILED" : "ok");
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("fail-nth: %d runs, %d failed, %.1f s\n", runs, failed,
	       (double)(t1.tv_sec - t0.tv_sec) +
		       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return failed ? 1 : 0;
}
