/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * iopf-bench: libiopf's engines against the loops VMMs write by hand, side by
 * side in one run, on the same producer and the same fault stream.
 *
 * Contenders:
 *   per-fault     read one group (40 bytes), write one answer (8 bytes); poll
 *                 only when a read finds nothing (libvfn's example, the kernel
 *                 selftest)
 *   qemu-style    poll, read up to 100 records, one write per group, on an
 *                 O_NONBLOCK fd (QEMU's intel_iommu accel work)
 *   raw-batched   read 256 records, one write of all their answers; poll only
 *                 when a sweep of the queues found nothing: the practical limit
 *   raw-epoll     epoll_wait on every queue, read 256 records from each queue
 *                 it names, one write of their answers: the hand loop whose
 *                 cost follows the active queues, not all of them
 *   libiopf-*     the library, one engine for all queues, a handler (or a pull
 *                 loop) that answers every group SUCCESS at once
 * Scenarios: storm, steady, pingpong, 16queues, sparse-* (see README.md), each
 * on an idle host and on a loaded one (a busy-loop thread per CPU, in a
 * process of its own so that it is not counted as the bench's CPU time).
 *
 * The producer (producer.h) is linked in: producer-mock.c on the host,
 * producer-kernel.c in the real-kernel tier, where this binary is run by the
 * VM without arguments and takes that tier's defaults.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sched_setaffinity, CPU_SET (the kernel tier's cc) */
#endif
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/perf_event.h>

#include <libiopf.h>

#include "alloc.h"
#include "cg.h"
#include "producer.h"

/* The kernel's records and answers (include/uapi/linux/iommufd.h): the
 * hand-written loops use them raw, as a VMM without the library does. */
struct rec {
	uint32_t flags;
	uint32_t dev_id;
	uint32_t pasid;
	uint32_t grpid;
	uint32_t perm;
	uint32_t reserved;
	uint64_t addr;
	uint32_t length;
	uint32_t cookie;
};
struct resp {
	uint32_t cookie;
	uint32_t code;
};
_Static_assert(sizeof(struct rec) == 40,
	       "struct iommu_hwpt_pgfault is 40 bytes");
_Static_assert(sizeof(struct resp) == 8,
	       "struct iommu_hwpt_page_response is 8 bytes");
#define REC_LAST_PAGE (1u << 1)

#define MAX_QUEUES   8192
#define MAX_ACTIVE   64
#define MAX_REPS     63
#define MAX_ROWS     64
#define MAX_SIZES    8
#define QEMU_RECORDS 100
#define RAW_RECORDS  256
#define WARM_PASSES  6
#define MAX_PASSES   32
#define PULL_MAX     256
#define EPOLL_EVENTS 64

/* ---- configuration ---------------------------------------------------- */

/* What the producer does in a measured pass. */
enum skind { K_STORM, K_STEADY, K_PINGPONG };
/* Rows of one family run together: each rep runs every (row, contender)
 * cell of the family, in an order that alternates from rep to rep. */
enum family { F_STORM, F_STEADY, F_PINGPONG, F_16Q, F_SPARSE, F_COUNT };
static const char *const family_names[F_COUNT] = {"storm", "steady", "pingpong",
						  "16queues", "sparse"};

/* One table of the output: a scenario on nq queues, faults on nact. */
struct row {
	char name[40];
	enum family fam;
	enum skind kind;
	unsigned int nq, nact;
	bool on; /* selected */
};

enum ckind { C_PERFAULT, C_QEMU, C_RAW, C_EPOLL, C_LIB };
enum capi { API_DISPATCH, API_PULL };

struct contender {
	const char *name;
	enum ckind kind;
	int engine; /* C_LIB: enum iopf_engine_kind */
	enum capi api;
	uint32_t batch; /* C_LIB: records per read; 0: the library's default */
	uint32_t flags; /* C_LIB: iopf_engine_opts.flags */
};

static const struct contender contenders[] = {
	{"per-fault", C_PERFAULT, 0, 0, 0, 0},
	{"qemu-style", C_QEMU, 0, 0, 0, 0},
	{"raw-batched", C_RAW, 0, 0, 0, 0},
	{"raw-epoll", C_EPOLL, 0, 0, 0, 0},
	{"libiopf-plain", C_LIB, IOPF_ENGINE_PLAIN, API_DISPATCH, 0, 0},
	{"libiopf-uring", C_LIB, IOPF_ENGINE_URING, API_DISPATCH, 0, 0},
	{"libiopf-plain-pull", C_LIB, IOPF_ENGINE_PLAIN, API_PULL, 256, 0},
	{"libiopf-uring-pull", C_LIB, IOPF_ENGINE_URING, API_PULL, 256, 0},
	/* The io-wq policy, on request only (see libiopf(7)): measured
	 * against the default so that the default stays justified. */
	{"libiopf-uring-async", C_LIB, IOPF_ENGINE_URING, API_DISPATCH, 0,
	 IOPF_ENGINE_ASYNC},
};
#define I_URING_ASYNC 8
#define NCONT	      (sizeof(contenders) / sizeof(contenders[0]))
#define I_PERFAULT    0
#define I_RAW	      2
#define I_EPOLL	      3
#define I_PLAIN	      4
#define I_URING	      5

enum host { H_IDLE, H_LOADED, H_COUNT };
static const char *const host_names[H_COUNT] = {"idle", "loaded"};

struct cfg {
	uint64_t faults;
	uint64_t pp_faults;
	uint64_t loaded_storm_faults; /* the storm's on the loaded host */
	unsigned int reps;
	/* Reps of the storm and 16queues families, whose targets sit closest
	 * to their lines (--storm-reps), on each host; rep_slots: the most
	 * reps of any family (the results' stride). */
	unsigned int storm_reps[H_COUNT];
	unsigned int rep_slots;
	unsigned int group;
	unsigned int steady_k;
	int timeout_ms;
	bool cont[NCONT];
	bool host[H_COUNT];
	unsigned int load_threads; /* 0: one per online CPU */
	bool load_pin;
	unsigned int sizes[MAX_SIZES], nsizes;
	unsigned int actives[MAX_SIZES], nactives;
	unsigned int
		sweep_max; /* sweeping hand loops run up to this many queues */
	unsigned int
		sparse_full; /* larger sparse rows run in the first rep only */
	unsigned int pass_ms; /* a pass stops after this long (0: never) */
	unsigned int loaded_passes; /* loaded host: passes a rep, interleaved */
	unsigned int max_s; /* the whole run's time (0: no limit) */
	const char *json;
	bool quick;
	/* --fail-at STAGE:ROW:CONTENDER: that cell fails there (the smoke
	 * test's way to reach the bench's own error paths). */
	int fail_stage; /* -1: none */
	char fail_row[40];
	unsigned int fail_ci;
};

static struct cfg cfg;
static struct row rows[MAX_ROWS];
static unsigned int nrows;

/* ---- small things ------------------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The median, quartiles and range of n values. */
struct dist {
	unsigned int n;
	double med, q1, q3, min, max;
};

static double quantile(const double *v, unsigned int n, double q)
{
	double pos = q * (n - 1), f;
	unsigned int i = (unsigned int)pos;

	if (i + 1 >= n)
		return v[n - 1];
	f = pos - i;
	return v[i] * (1 - f) + v[i + 1] * f;
}

static bool dist_of(double *v, unsigned int n, struct dist *d)
{
	if (!n)
		return false;
	qsort(v, n, sizeof(*v), cmp_dbl);
	d->n = n;
	d->min = v[0];
	d->max = v[n - 1];
	d->med = quantile(v, n, 0.5);
	d->q1 = quantile(v, n, 0.25);
	d->q3 = quantile(v, n, 0.75);
	return true;
}

/* ---- measuring: wall, CPU of every thread, user-space instructions ----- */

/* perf_event_open(2) counting user-space instructions of this process and
 * the threads it makes later (inherit: io-wq workers, liburing's none; they
 * run no user code anyway). Opened after the load process was forked, so
 * that it is not counted. -1: not available, instr_na says why. */
static int instr_fd = -1;
static char instr_na[160] = "not tried";

static void instr_open(void)
{
	struct perf_event_attr a;
	long fd;

	if (RUNNING_ON_VALGRIND) {
		snprintf(instr_na, sizeof(instr_na),
			 "under valgrind: see the callgrind dumps");
		return;
	}
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.type = PERF_TYPE_HARDWARE;
	a.config = PERF_COUNT_HW_INSTRUCTIONS;
	a.exclude_kernel = 1;
	a.exclude_hv = 1;
	a.inherit = 1;
	fd = syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
	if (fd < 0) {
		int e = errno;

		snprintf(instr_na, sizeof(instr_na),
			 "perf_event_open(instructions, exclude_kernel): %s%s",
			 strerror(e),
			 e == ENOENT || e == EOPNOTSUPP
				 ? " (no hardware counter here; a VM without a "
				   "PMU?)"
			 : e == EACCES || e == EPERM
				 ? " (kernel.perf_event_paranoid or seccomp)"
			 : e == ENOSYS ? " (kernel without perf events)"
				       : "");
		return;
	}
	instr_fd = (int)fd;
	instr_na[0] = 0;
}

static int64_t instr_read(void)
{
	uint64_t v;

	if (instr_fd < 0 || read(instr_fd, &v, sizeof(v)) != sizeof(v))
		return -1;
	return (int64_t)v;
}

/* User plus system time of every thread of the process, live or gone (the
 * split between the two is sampled at ticks and means nothing over a short
 * stretch; their sum is the scheduler's exact runtime). */
static uint64_t cpu_ns(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return (uint64_t)ru.ru_stime.tv_sec * 1000000000ull +
	       (uint64_t)ru.ru_stime.tv_usec * 1000ull +
	       (uint64_t)ru.ru_utime.tv_sec * 1000000000ull +
	       (uint64_t)ru.ru_utime.tv_usec * 1000ull;
}

/* Sums of the measured stretches of one pass. */
struct meas {
	bool on; /* the measured pass (not the warm-up) */
	uint64_t cpu;
	int64_t instr;
	uint64_t c0;
	int64_t i0;
};

static void meas_begin(struct meas *m)
{
	if (!m->on)
		return;
	m->c0 = cpu_ns();
	m->i0 = instr_read();
	if (RUNNING_ON_VALGRIND)
		CALLGRIND_TOGGLE_COLLECT;
}

static void meas_end(struct meas *m)
{
	uint64_t c1;
	int64_t i1;

	if (!m->on)
		return;
	if (RUNNING_ON_VALGRIND)
		CALLGRIND_TOGGLE_COLLECT;
	i1 = instr_read();
	c1 = cpu_ns();
	m->cpu += c1 - m->c0;
	if (m->instr >= 0 && m->i0 >= 0 && i1 >= 0)
		m->instr += i1 - m->i0;
	else
		m->instr = -1;
}

/* ---- the loaded host: a busy-loop thread per CPU ----------------------- */

/* A process of its own (its CPU time is not the bench's, its instructions
 * not counted), forked before anything else, stopped while the host is
 * meant to be idle. */
static pid_t load_pid = -1;
static unsigned int load_n;

static void *spin(void *arg)
{
	volatile uint64_t x = 0;

	(void)arg;
	for (;;)
		x++;
	return NULL;
}

static void pin_self(unsigned int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	(void)sched_setaffinity(0, sizeof(set), &set);
}

static void *spin_pinned(void *arg)
{
	pin_self((unsigned int)(uintptr_t)arg);
	return spin(NULL);
}

static int load_start(void)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int st;

	load_n = cfg.load_threads ? cfg.load_threads
				  : (unsigned int)(ncpu > 0 ? ncpu : 1);
	load_pid = fork();
	if (load_pid < 0)
		return -errno;
	if (load_pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() == 1)
			_exit(0);
		for (unsigned int i = 1; i < load_n; i++) {
			pthread_t t;

			pthread_create(
				&t, NULL, cfg.load_pin ? spin_pinned : spin,
				(void *)(uintptr_t)(i % (unsigned int)ncpu));
		}
		if (cfg.load_pin)
			pin_self(0);
		spin(NULL);
		_exit(0);
	}
	kill(load_pid, SIGSTOP);
	if (waitpid(load_pid, &st, WUNTRACED) != load_pid || !WIFSTOPPED(st))
		return -ECHILD;
	return 0;
}

static void load_set(bool on)
{
	if (load_pid > 0)
		kill(load_pid, on ? SIGCONT : SIGSTOP);
	if (on) /* let the threads get going */
		usleep(50000);
}

static void load_stop(void)
{
	if (load_pid > 0) {
		kill(load_pid, SIGKILL);
		waitpid(load_pid, NULL, 0);
		load_pid = -1;
	}
}

/* ---- one run of one contender ------------------------------------------- */

struct run {
	const struct contender *c;
	const struct row *row; /* the row being measured */
	struct prod_session *s;
	unsigned int nsrc;
	struct prod_src **src;
	struct prod_ep **ep;
	struct pollfd *pfd;
	struct iopf_queue **q;
	struct iopf_engine *e;
	int epfd;
	unsigned int nact, act[MAX_ACTIVE]; /* the sources faults go to */
	unsigned int rr; /* round robin over act */
	struct meas m;
	uint64_t deadline; /* of the pass (0: none) */
	uint64_t done; /* groups the pass went through */
	uint64_t nlat; /* entries of the pass's lat[] */

	uint64_t seq; /* faults triggered */
	uint64_t groups; /* groups triggered */
	uint64_t received; /* groups handed to the consumer */
	uint64_t answered; /* answers the kernel took */
	uint64_t refused; /* answers the kernel refused */
	/* The library's counters are read on the active queues only: at a
	 * change of active queues, what was taken so far, and what the new
	 * ones had taken then. */
	uint64_t taken_base, taken_base_act, refused_base, refused_base_act;
	uint64_t trigger_allocs; /* the producer's, left out of the count */
	uint64_t reads, writes, polls; /* hand loops' syscalls */

	struct rec *buf;
	struct resp *ans;
	char err[256];
};

struct result {
	bool ran; /* this rep ran this cell (not cut by the time limit) */
	int rc;
	char err[200];
	uint64_t faults;
	uint64_t ns;
	uint64_t cpu_ns;
	int64_t instr; /* -1: n/a */
	bool cut; /* stopped at the pass budget */
	uint64_t allocs;
	uint64_t allocs_cold, faults_cold; /* the first warm-up pass */
	unsigned int warm_passes; /* warm-up passes run (see measure_row) */
	double reads_pf, writes_pf, polls_pf;
	double p50_us, p99_us;
	/* median cost of a fault: the p50 round trip (ping-pong), the median
	 * over bursts of a burst's drain time per fault (bursts); 0: none */
	double med_ns;
};

static int fail(struct run *r, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct run *r, int rc, const char *fmt, ...)
{
	va_list ap;

	if (!r->err[0]) {
		va_start(ap, fmt);
		vsnprintf(r->err, sizeof(r->err), fmt, ap);
		va_end(ap);
	}
	return rc < 0 ? rc : -EIO;
}

enum stage { ST_SETUP, ST_PREPARE, ST_PASS, ST_FINISH, ST_BOOKS, ST_COUNT };
static const char *const stage_names[ST_COUNT] = {"setup", "prepare", "pass",
						  "finish", "books"};

/* The failure --fail-at asks for, if r (its row and contender) is the cell
 * and st the stage: -ECANCELED. */
static int injected(struct run *r, enum stage st)
{
	if (cfg.fail_stage != (int)st || !r->row ||
	    strcmp(r->row->name, cfg.fail_row) ||
	    r->c != &contenders[cfg.fail_ci])
		return 0;
	return fail(r, -ECANCELED, "injected failure (--fail-at %s:%s:%s)",
		    stage_names[st], cfg.fail_row, r->c->name);
}

/* One group on the next active source. */
static int trigger(struct run *r)
{
	uint64_t a0 = bench_allocs();
	unsigned int si = r->act[r->rr++ % r->nact];
	int rc = prod_trigger(r->src[si], r->seq, cfg.group);

	r->trigger_allocs += bench_allocs() - a0;
	if (rc)
		return fail(r, rc, "trigger: %s", strerror(-rc));
	r->seq += cfg.group;
	r->groups++;
	return 0;
}

/* -- the hand-written loops -- */

static int wait_eps(struct run *r)
{
	for (;;) {
		int n = poll(r->pfd, r->nsrc, cfg.timeout_ms);

		r->polls++;
		if (n > 0)
			return 0;
		if (n == 0)
			return fail(r, -ETIMEDOUT, "no fault within %d ms",
				    cfg.timeout_ms);
		if (errno != EINTR)
			return fail(r, -errno, "poll: %s", strerror(errno));
	}
}

static int check_read(struct run *r, ssize_t n)
{
	if (n < 0 && n != -EAGAIN)
		return fail(r, (int)n, "read: %s", strerror((int)-n));
	if (n > 0 && n % (ssize_t)sizeof(struct rec))
		return fail(r, -EIO, "read gave %zd bytes", n);
	return 0;
}

static int write_answers(struct run *r, unsigned int i, unsigned int m)
{
	ssize_t w = prod_write(r->ep[i], r->ans, m * sizeof(struct resp));

	r->writes++;
	if (w != (ssize_t)(m * sizeof(struct resp)))
		return fail(r, w < 0 ? (int)w : -EIO,
			    "write of %u answers: %zd", m, w);
	r->answered += m;
	return 0;
}

/* Read one group, answer it; poll only when a sweep found nothing. The read
 * is one group long (40 bytes with the default one-record groups): the
 * kernel gives whole groups only. */
static int drain_perfault(struct run *r, uint64_t want)
{
	size_t len = cfg.group * sizeof(struct rec);

	while (r->answered < want) {
		bool got = false;

		for (unsigned int i = 0; i < r->nsrc; i++) {
			ssize_t n = prod_read(r->ep[i], r->buf, len);
			int rc;

			r->reads++;
			if ((rc = check_read(r, n)))
				return rc;
			if (n <= 0)
				continue;
			got = true;
			r->ans[0] = (struct resp){.cookie = r->buf[0].cookie};
			if ((rc = write_answers(r, i, 1)))
				return rc;
		}
		if (!got) {
			int rc = wait_eps(r);

			if (rc)
				return rc;
		}
	}
	return 0;
}

/* QEMU: its main loop polls; on POLLIN, one read of up to 100 records, and
 * one write per group (at each LAST_PAGE record). */
static int drain_qemu(struct run *r, uint64_t want)
{
	while (r->answered < want) {
		int rc = wait_eps(r);

		if (rc)
			return rc;
		for (unsigned int i = 0; i < r->nsrc; i++) {
			ssize_t n;

			if (!(r->pfd[i].revents & POLLIN))
				continue;
			n = prod_read(r->ep[i], r->buf,
				      QEMU_RECORDS * sizeof(struct rec));
			r->reads++;
			if ((rc = check_read(r, n)))
				return rc;
			for (ssize_t k = 0; k < n / (ssize_t)sizeof(struct rec);
			     k++) {
				if (!(r->buf[k].flags & REC_LAST_PAGE))
					continue;
				r->ans[0] = (struct resp){
					.cookie = r->buf[k].cookie};
				if ((rc = write_answers(r, i, 1)))
					return rc;
			}
		}
	}
	return 0;
}

/* Read up to 256 records from queue i, one write of all their answers.
 * Returns records read or -errno. */
static int read_answer(struct run *r, unsigned int i)
{
	ssize_t n =
		prod_read(r->ep[i], r->buf, RAW_RECORDS * sizeof(struct rec));
	unsigned int m = 0;
	int rc;

	r->reads++;
	if ((rc = check_read(r, n)))
		return rc;
	if (n <= 0)
		return 0;
	for (ssize_t k = 0; k < n / (ssize_t)sizeof(struct rec); k++)
		if (r->buf[k].flags & REC_LAST_PAGE)
			r->ans[m++] = (struct resp){.cookie = r->buf[k].cookie};
	if (m && (rc = write_answers(r, i, m)))
		return rc;
	return (int)(n / (ssize_t)sizeof(struct rec));
}

/* Read 256 records from every queue, one write of all of a read's answers;
 * poll only when a sweep found nothing. */
static int drain_raw(struct run *r, uint64_t want)
{
	while (r->answered < want) {
		bool got = false;
		int rc;

		for (unsigned int i = 0; i < r->nsrc; i++) {
			rc = read_answer(r, i);
			if (rc < 0)
				return rc;
			if (rc > 0)
				got = true;
		}
		if (!got && (rc = wait_eps(r)))
			return rc;
	}
	return 0;
}

/* epoll_wait, then each queue it names as raw-batched does; level-triggered,
 * so a queue that still holds records is named again. */
static int drain_epoll(struct run *r, uint64_t want)
{
	struct epoll_event ev[EPOLL_EVENTS];

	while (r->answered < want) {
		int n = epoll_wait(r->epfd, ev, EPOLL_EVENTS, cfg.timeout_ms);

		r->polls++;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return fail(r, -errno, "epoll_wait: %s",
				    strerror(errno));
		}
		if (n == 0)
			return fail(r, -ETIMEDOUT, "no fault within %d ms",
				    cfg.timeout_ms);
		for (int k = 0; k < n; k++) {
			int rc = read_answer(r, ev[k].data.u32);

			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

/* -- libiopf -- */

static int lib_handler(struct iopf_group *g, void *user)
{
	struct run *r = user;

	r->received++;
	return iopf_group_respond(g, IOPF_RESP_SUCCESS);
}

/* What the kernel took and refused of the library's answers, from the
 * counters of the queues faults went to (the others have none to count):
 * the library contenders set no answered callback (a VMM that only answers
 * needs none, and a hand loop pays for nothing like it). */
static void lib_count_act(struct run *r, uint64_t *taken_out,
			  uint64_t *refused_out)
{
	uint64_t taken = 0, refused = 0;

	for (unsigned int k = 0; k < r->nact; k++) {
		/* Only the answer counters: what a caller that needs no more
		 * asks for (the struct is sized, see iopf_queue_stats(3)). */
		struct iopf_stats st;

		st.size = offsetof(struct iopf_stats, reads);
		if (iopf_queue_stats(r->q[r->act[k]], &st))
			continue;
		taken += st.answers_success + st.answers_invalid;
		refused +=
			st.answers_stale + st.answers_failed + st.answers_auto;
	}
	*taken_out = taken;
	*refused_out = refused;
}

static void lib_count(struct run *r)
{
	uint64_t taken, refused;

	lib_count_act(r, &taken, &refused);
	r->answered = r->taken_base + taken - r->taken_base_act;
	r->refused = r->refused_base + refused - r->refused_base_act;
}

/* Everything received and answered: flush until the kernel took it all
 * (io_uring's WRITE completes when its CQE is reaped). A flush that returns 0
 * has left no answer queued or in flight: each was taken, or refused (see
 * iopf_engine_flush(3)). Refusals are counted by the queues and checked once a
 * pass (lib_check), as a VMM would read its counters: not once a fault,
 * which a hand loop, knowing from write()'s return, does not pay for either.
 */
static int lib_flush(struct run *r)
{
	uint64_t deadline = 0;

	for (unsigned int spins = 0;; spins++) {
		int rc = iopf_engine_flush(r->e);

		if (!rc)
			break;
		if (rc != -EAGAIN)
			return fail(r, rc, "iopf_engine_flush: %s",
				    strerror(-rc));
		if ((spins & 1023) == 1023) {
			if (!deadline)
				deadline = now_ns() + (uint64_t)cfg.timeout_ms *
							      1000000ull;
			else if (now_ns() > deadline)
				return fail(r, -ETIMEDOUT,
					    "answers not taken within %d ms",
					    cfg.timeout_ms);
		}
	}
	r->answered = r->received;
	return 0;
}

/* At the end of a pass: the queues' counters say the kernel took every
 * answer the library's contender gave, none refused. */
static int lib_check(struct run *r)
{
	uint64_t received = r->received;

	lib_count(r);
	if (r->refused)
		return fail(r, -EIO, "%" PRIu64 " answers refused", r->refused);
	if (r->answered != received)
		return fail(r, -EIO,
			    "the kernel took %" PRIu64 " answers of %" PRIu64,
			    r->answered, received);
	return 0;
}

static int drain_lib_dispatch(struct run *r, uint64_t want)
{
	while (r->received < want) {
		int rc = iopf_engine_dispatch(r->e, cfg.timeout_ms);

		if (rc < 0)
			return fail(r, rc, "iopf_engine_dispatch: %s",
				    strerror(-rc));
		if (rc == 0)
			return fail(r, -ETIMEDOUT, "no group within %d ms",
				    cfg.timeout_ms);
	}
	return lib_flush(r);
}

/* Pull what is ready, answer it all, and wait only when nothing was: the
 * engine runs (reads, and writes the answers given since) only when its ready
 * list is empty. */
static int drain_lib_pull(struct run *r, uint64_t want)
{
	struct iopf_group *gs[PULL_MAX];

	while (r->received < want) {
		int n = iopf_engine_pull(r->e, gs, PULL_MAX), rc;

		if (n < 0)
			return fail(r, n, "iopf_engine_pull: %s", strerror(-n));
		if (n == 0) {
			n = iopf_engine_wait(r->e, cfg.timeout_ms);
			if (n < 0)
				return fail(r, n, "iopf_engine_wait: %s",
					    strerror(-n));
			if (n == 0)
				return fail(r, -ETIMEDOUT,
					    "no group within %d ms",
					    cfg.timeout_ms);
			continue;
		}
		rc = iopf_group_respond_batch(gs, (unsigned int)n,
					      IOPF_RESP_SUCCESS, NULL);
		if (rc != n)
			return fail(r, rc < 0 ? rc : -EIO,
				    "iopf_group_respond_batch: %d of %d", rc,
				    n);
		r->received += (uint64_t)n;
	}
	return lib_flush(r);
}

/* Consumes until the kernel took want answers in all (a running total). */
static int drain(struct run *r, uint64_t want)
{
	switch (r->c->kind) {
	case C_PERFAULT:
		return drain_perfault(r, want);
	case C_QEMU:
		return drain_qemu(r, want);
	case C_RAW:
		return drain_raw(r, want);
	case C_EPOLL:
		return drain_epoll(r, want);
	case C_LIB:
		break;
	}
	return r->c->api == API_PULL ? drain_lib_pull(r, want)
				     : drain_lib_dispatch(r, want);
}

/* -- scenarios: each returns the consumer's time in ns, or -errno; CPU time
 * and instructions are taken over the same stretches (r->m) -- */

/* N groups queued (round-robin over the active sources), then drained. */
static int64_t sc_storm(struct run *r, uint64_t groups)
{
	uint64_t want = r->answered + groups, t0, t1;
	int rc;

	for (uint64_t i = 0; i < groups; i++)
		if ((rc = trigger(r)))
			return rc;
	meas_begin(&r->m);
	t0 = now_ns();
	rc = drain(r, want);
	t1 = now_ns();
	meas_end(&r->m);
	return rc ? rc : (int64_t)(t1 - t0);
}

/* K groups triggered, then drained, again and again; only the draining is
 * timed (the producer's cost is the same for every contender). */
static int64_t sc_steady(struct run *r, uint64_t groups, uint64_t *lat)
{
	uint64_t total = 0;

	r->nlat = 0;
	for (uint64_t done = 0; done < groups;) {
		uint64_t k = groups - done < cfg.steady_k ? groups - done
							  : cfg.steady_k;
		uint64_t want = r->answered + k, t0, t1;
		int rc;

		for (uint64_t i = 0; i < k; i++)
			if ((rc = trigger(r)))
				return rc;
		meas_begin(&r->m);
		t0 = now_ns();
		rc = drain(r, want);
		t1 = now_ns();
		meas_end(&r->m);
		if (rc)
			return rc;
		total += t1 - t0;
		if (lat)
			lat[r->nlat++] = (t1 - t0) / k;
		done += k;
		r->done = done;
		if (r->deadline && done >= 64 && done < groups &&
		    now_ns() > r->deadline)
			break;
	}
	return (int64_t)total;
}

/* One group at a time: trigger -> received -> answered -> the kernel took
 * the answer (write returned). lat[] gets each round trip. CPU time and
 * instructions cover the whole loop (the trigger included, as the wall
 * time does). */
static int64_t sc_pingpong(struct run *r, uint64_t groups, uint64_t *lat)
{
	uint64_t total = 0;

	meas_begin(&r->m);
	for (uint64_t i = 0; i < groups; i++) {
		uint64_t t0 = now_ns(), dt;
		int rc = trigger(r);

		if (rc || (rc = drain(r, r->answered + 1))) {
			meas_end(&r->m);
			return rc;
		}
		dt = now_ns() - t0;
		if (lat)
			lat[i] = dt;
		total += dt;
		r->done = i + 1;
		if (r->deadline && i + 1 >= 64 && i + 1 < groups &&
		    t0 + dt > r->deadline)
			break;
	}
	meas_end(&r->m);
	return (int64_t)total;
}

static int64_t run_scenario_budget(struct run *r, uint64_t groups,
				   uint64_t *lat, unsigned int budget_ms)
{
	int64_t ns = -EINVAL;
	int rc;

	r->done = groups; /* unless the budget cuts the pass */
	r->deadline =
		budget_ms ? now_ns() + (uint64_t)budget_ms * 1000000ull : 0;
	switch (r->row->kind) {
	case K_STORM:
		ns = sc_storm(r, groups);
		break;
	case K_STEADY:
		ns = sc_steady(r, groups, lat);
		break;
	case K_PINGPONG:
		ns = sc_pingpong(r, groups, lat);
		break;
	}
	if (ns >= 0 && r->c->kind == C_LIB && (rc = lib_check(r)))
		return rc;
	return ns;
}

static int64_t run_scenario(struct run *r, uint64_t groups, uint64_t *lat)
{
	return run_scenario_budget(r, groups, lat, cfg.pass_ms);
}

static void run_teardown(struct run *r)
{
	for (unsigned int i = 0; i < r->nsrc; i++) {
		if (r->src)
			prod_src_free(r->src[i]);
		if (r->q)
			iopf_queue_free(r->q[i]);
	}
	iopf_engine_free(r->e);
	if (r->epfd >= 0)
		close(r->epfd);
	prod_session_free(r->s);
	free(r->src);
	free(r->ep);
	free(r->pfd);
	free(r->q);
	free(r->buf);
	free(r->ans);
}

static int run_setup(struct run *r, unsigned int nq)
{
	bool skip;
	int rc;

	r->epfd = -1;
	r->nsrc = 0;
	r->buf = calloc(RAW_RECORDS > cfg.group ? RAW_RECORDS : cfg.group,
			sizeof(*r->buf));
	r->ans = calloc(RAW_RECORDS, sizeof(*r->ans));
	r->src = calloc(nq, sizeof(*r->src));
	r->ep = calloc(nq, sizeof(*r->ep));
	r->pfd = calloc(nq, sizeof(*r->pfd));
	r->q = calloc(nq, sizeof(*r->q));
	if (!r->buf || !r->ans || !r->src || !r->ep || !r->pfd || !r->q)
		return fail(r, -ENOMEM, "out of memory");
	rc = prod_session_new(&r->s, &skip);
	if (rc)
		return fail(r, rc, "producer session: %s", strerror(-rc));
	if (r->c->kind == C_LIB) {
		struct iopf_engine_opts eo = {.size = sizeof(eo),
					      .kind = (uint32_t)r->c->engine,
					      .flags = r->c->flags};
		struct iopf_queue_opts qo = {
			.size = sizeof(qo),
			.batch = r->c->batch,
			.handler =
				r->c->api == API_DISPATCH ? lib_handler : NULL,
			.user = r,
		};

		rc = iopf_engine_new(&eo, &r->e);
		if (rc)
			return fail(r, rc, "iopf_engine_new: %s",
				    strerror(-rc));
		for (; r->nsrc < nq; r->nsrc++) {
			rc = prod_src_new_lib(r->s, r->e, &qo, &r->src[r->nsrc],
					      &r->q[r->nsrc]);
			if (rc)
				return fail(r, rc,
					    "libiopf source %u of %u: %s",
					    r->nsrc + 1, nq, strerror(-rc));
		}
		return 0;
	}
	if (r->c->kind == C_EPOLL) {
		r->epfd = epoll_create1(EPOLL_CLOEXEC);
		if (r->epfd < 0)
			return fail(r, -errno, "epoll_create1: %s",
				    strerror(errno));
	}
	for (; r->nsrc < nq; r->nsrc++) {
		unsigned int i = r->nsrc;

		rc = prod_src_new_raw(r->s, r->c->kind == C_QEMU, &r->src[i],
				      &r->ep[i]);
		if (rc)
			return fail(r, rc, "raw source %u of %u: %s", i + 1, nq,
				    strerror(-rc));
		r->pfd[i] = (struct pollfd){.fd = r->ep[i]->poll_fd,
					    .events = POLLIN};
		if (r->epfd >= 0) {
			struct epoll_event ev = {.events = EPOLLIN,
						 .data.u32 = i};

			if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->ep[i]->poll_fd,
				      &ev)) {
				r->nsrc++;
				return fail(r, -errno, "epoll_ctl: %s",
					    strerror(errno));
			}
		}
	}
	return 0;
}

static void lib_io_counts(struct run *r, uint64_t *reads, uint64_t *writes,
			  uint64_t *grows)
{
	*reads = *writes = *grows = 0;
	for (unsigned int i = 0; i < r->nsrc; i++) {
		struct iopf_stats st = {.size = sizeof(st)};

		if (r->q[i] && !iopf_queue_stats(r->q[i], &st)) {
			*reads += st.reads;
			*writes += st.writes;
			*grows += st.grows;
		}
	}
}

/* The sources a row's faults go to: nact of the nq, spread out, the first
 * one the last queue made (a walk in creation order reaches it last). */
static void pick_active(struct run *r, const struct row *row)
{
	r->nact = row->nact;
	for (unsigned int k = 0; k < row->nact; k++)
		r->act[k] = row->nq - 1 -
			    (unsigned int)((uint64_t)k * row->nq / row->nact);
	r->rr = 0;
	if (r->c->kind == C_LIB) {
		r->taken_base = r->answered;
		r->refused_base = r->refused;
		lib_count_act(r, &r->taken_base_act, &r->refused_base_act);
	}
}

/* A row's faults a pass on host h. The storm on the loaded host has its
 * own count (--loaded-storm-faults): a short pass gets more than its share
 * of a vCPU that a busy thread also wants, and the fastest contender's is
 * the shortest (tests/bench/README.md, Hosts). */
static uint64_t row_faults(unsigned int h, const struct row *row)
{
	if (h == H_LOADED && row->fam == F_STORM)
		return cfg.loaded_storm_faults;
	return row->kind == K_PINGPONG ? cfg.pp_faults : cfg.faults;
}

/* A measured pass allocated (the target is none): say what and, where the
 * allocator records it (the kernel tier's), the last sizes and callers, for
 * addr2line on the static executable. The producer's own allocations may be
 * among them. */
static void report_allocs(struct run *r, const char *host, uint64_t n)
{
	uint64_t sizes[8];
	void *sites[8];
	unsigned int k = bench_alloc_last(sizes, sites, 8);

	fprintf(stderr,
		"iopf-bench: [%s] %s %s: %" PRIu64
		" allocation(s) in the measured pass; the last (size@caller):",
		host, r->row->name, r->c->name, n);
	for (unsigned int i = 0; i < k; i++)
		fprintf(stderr, " %" PRIu64 "@%p", sizes[i], sites[i]);
	fprintf(stderr, "%s\n", k ? "" : " not recorded here");
}

/* A row's measurement on one run, between its warm-up and its books: one
 * measured pass, or on the loaded host several, interleaved with the other
 * contenders' (run_rep_interleaved). */
struct mrow {
	uint64_t groups; /* all passes */
	uint64_t per_pass; /* groups a pass */
	uint64_t done; /* groups measured so far */
	uint64_t nlat; /* entries of lat[] so far */
	uint64_t *lat;
	uint64_t ns;
	uint64_t rd0, wr0, gr0;
	double pass_ns[MAX_PASSES]; /* wall ns per group of each pass */
	unsigned int npass;
	bool cut; /* a pass stopped at its budget */
};

/* Warm-up passes of the row (so that buffers and group slots have grown:
 * what is measured is the steady state; what the warm-up allocated is
 * reported apart, as the cold cost), then the counters the measured pass
 * starts from. A storm's warm-up is a whole storm of the size measured at
 * once (warm_groups): how far the library reads ahead depends on the depth
 * of the queue. */
static int row_prepare(unsigned int h, struct run *r, struct result *res,
		       struct mrow *mr, unsigned int passes, bool split)
{
	const struct row *row = r->row;
	uint64_t groups = row_faults(h, row) / cfg.group, warm, a0, ta0;
	int64_t ns;

	memset(res, 0, sizeof(*res));
	memset(mr, 0, sizeof(*mr));
	res->ran = true;
	r->err[0] = 0;
	if (injected(r, ST_PREPARE))
		return -ECANCELED;
	pick_active(r, row);
	if (!groups)
		groups = 1;
	/* Each pass the row's groups, or with split a share of them. */
	mr->groups = split ? groups : groups * passes;
	mr->per_pass = split ? (groups + passes - 1) / passes : groups;
	warm = groups / 10;
	if (warm < 2048 / cfg.group)
		warm = 2048 / cfg.group;
	if (row->kind == K_STORM)
		warm = groups;
	if (row->kind == K_PINGPONG && warm > 200)
		warm = 200;
	if (warm > groups)
		warm = groups;
	if (row->kind == K_PINGPONG &&
	    !(mr->lat = calloc(mr->groups, sizeof(*mr->lat))))
		return fail(r, -ENOMEM, "out of memory");
	if (row->kind == K_STEADY &&
	    !(mr->lat = calloc((groups / cfg.steady_k + 2) * passes,
			       sizeof(*mr->lat))))
		return fail(r, -ENOMEM, "out of memory");
	r->m = (struct meas){.on = false};
	/* Warm up until two passes in a row allocate nothing (at most
	 * WARM_PASSES): a queue's read buffer doubles when a read fills it,
	 * and the cookies in use (the kernel's and the library's tables), the
	 * group slots and the answer buffers follow how many groups are out at
	 * once, which timing decides: one pass of a storm over 16 queues can
	 * leave the last doubling to the next, and with io-wq on a loaded host
	 * a clean pass was followed by a measured one that still grew (6.12,
	 * 0.0022 allocations per fault). Growth to the working set is the
	 * design; the measured pass is the steady state. An allocation per
	 * fault shows in every pass, so it still shows in the measured one. */
	for (unsigned int pass = 0, clean = 0; pass < WARM_PASSES; pass++) {
		uint64_t got;

		ta0 = r->trigger_allocs;
		a0 = bench_allocs();
		ns = run_scenario(r, warm, NULL);
		got = bench_allocs() - a0 - (r->trigger_allocs - ta0);
		if (ns < 0)
			return (int)ns;
		if (pass == 0) {
			res->allocs_cold = got;
			res->faults_cold = r->done * cfg.group;
		}
		res->warm_passes = pass + 1;
		clean = got ? 0 : clean + 1;
		if (clean == 2)
			break;
	}

	if (r->c->kind == C_LIB)
		lib_io_counts(r, &mr->rd0, &mr->wr0, &mr->gr0);
	mr->rd0 += r->reads;
	mr->wr0 += r->writes;
	r->polls = 0;
	r->m = (struct meas){.on = true};
	return 0;
}

/* One measured pass of want groups (fewer if the budget cuts it). */
static int row_pass(struct run *r, const char *host, struct result *res,
		    struct mrow *mr, uint64_t want, unsigned int budget_ms)
{
	uint64_t ta0, a0;
	uint64_t *lat = NULL;
	int64_t ns;

	if (want > mr->groups - mr->done)
		want = mr->groups - mr->done;
	if (!want)
		return 0;
	if (injected(r, ST_PASS))
		return -ECANCELED;
	if (mr->lat)
		lat = r->row->kind == K_PINGPONG ? mr->lat + mr->done
						 : mr->lat + mr->nlat;
	ta0 = r->trigger_allocs;
	a0 = bench_allocs();
	ns = run_scenario_budget(r, want, lat, budget_ms);
	{
		uint64_t got = bench_allocs() - a0 - (r->trigger_allocs - ta0);

		res->allocs += got;
		if (got)
			report_allocs(r, host, got);
	}
	if (ns < 0)
		return (int)ns;
	mr->ns += (uint64_t)ns;
	if (r->row->kind == K_STEADY)
		mr->nlat += r->nlat;
	mr->done += r->done;
	if (r->done < want)
		mr->cut = true;
	if (mr->npass < MAX_PASSES && r->done)
		mr->pass_ns[mr->npass++] = (double)ns / (double)r->done;
	return 0;
}

/* The books of the measured pass. */
static int row_finish(struct run *r, struct result *res, struct mrow *mr)
{
	const struct row *row = r->row;
	uint64_t rd1, wr1, gr1, groups = mr->done;
	uint64_t *lat = mr->lat;

	if (injected(r, ST_FINISH))
		return -ECANCELED;
	if (r->c->kind == C_LIB)
		lib_io_counts(r, &rd1, &wr1, &gr1);
	else
		rd1 = wr1 = gr1 = 0;
	/* A buffer the library grew in the measured pass means the warm-up
	 * did not reach the steady state: say so, it explains allocations. */
	if (gr1 > mr->gr0)
		printf("  note: %s grew its read buffers %llu times in the "
		       "measured pass of %s\n",
		       r->c->name, (unsigned long long)(gr1 - mr->gr0),
		       row->name);
	rd1 += r->reads;
	wr1 += r->writes;
	res->cut = mr->cut;
	res->ns = mr->ns;
	/* Several passes (the loaded host): the mean of the passes but the
	 * fastest and the slowest, by wall time a group. A pass that a
	 * stretch of the VM's host fell on is an outlier that says nothing of
	 * the contender; a cost the load puts on one contender (io-wq workers
	 * waiting for a CPU) is in every pass. The busy thread that shares
	 * the consumer's CPU takes its time slices at its own pace: a pass of
	 * a few slices holds one more or one less of them, and the median
	 * pass kept that step whole (per-rep ratios of 0.7 against 1.0); the
	 * mean of the rest averages it out. CPU time stays the sum. */
	if (mr->npass > 1) {
		double v[MAX_PASSES], sum = 0;
		unsigned int from = mr->npass >= 3, to = mr->npass - from;

		memcpy(v, mr->pass_ns, mr->npass * sizeof(*v));
		qsort(v, mr->npass, sizeof(*v), cmp_dbl);
		for (unsigned int i = from; i < to; i++)
			sum += v[i];
		res->ns =
			(uint64_t)(sum / (double)(to - from) * (double)groups);
	}
	res->cpu_ns = r->m.cpu;
	res->instr = r->m.instr;
	res->faults = groups * cfg.group;
	if (!groups)
		return fail(r, -EIO, "no group measured");
	res->reads_pf = (double)(rd1 - mr->rd0) / (double)res->faults;
	res->writes_pf = (double)(wr1 - mr->wr0) / (double)res->faults;
	res->polls_pf = r->c->kind == C_LIB
				? -1
				: (double)r->polls / (double)res->faults;
	if (lat && row->kind == K_PINGPONG) {
		qsort(lat, groups, sizeof(*lat), cmp_u64);
		res->p50_us = (double)lat[(groups - 1) / 2] / 1000.0;
		res->p99_us =
			(double)lat[(groups * 99 + 99) / 100 - 1] / 1000.0;
		res->med_ns = (double)lat[(groups - 1) / 2] / cfg.group;
	} else if (lat && mr->nlat) {
		qsort(lat, mr->nlat, sizeof(*lat), cmp_u64);
		res->med_ns = (double)lat[(mr->nlat - 1) / 2] / cfg.group;
	}
	if (r->answered != r->groups)
		return fail(r, -EPROTO,
			    "%" PRIu64 " groups triggered, %" PRIu64
			    " answers taken",
			    r->groups, r->answered);
	return 0;
}

/* The whole row on one run at once: warm-up, measured pass, books. */
static int measure_row(struct run *r, unsigned int h, struct result *res)
{
	const char *host = host_names[h];
	struct mrow mr;
	char label[200];
	int rc;

	rc = row_prepare(h, r, res, &mr, 1, false);
	if (rc)
		goto out;
	if (RUNNING_ON_VALGRIND)
		CALLGRIND_ZERO_STATS;
	rc = row_pass(r, host, res, &mr, mr.groups, cfg.pass_ms);
	if (RUNNING_ON_VALGRIND) {
		snprintf(label, sizeof(label),
			 "iopf-bench host=%s scenario=%s contender=%s "
			 "faults=%" PRIu64,
			 host, r->row->name, r->c->name, mr.done * cfg.group);
		CALLGRIND_DUMP_STATS_AT(label);
	}
	if (!rc)
		rc = row_finish(r, res, &mr);
out:
	free(mr.lat);
	return rc;
}

/* A cell's result when its run failed with rc: r's message, or rc's. */
static void result_failed(struct result *res, const struct run *r, int rc)
{
	res->ran = true;
	res->rc = rc;
	snprintf(res->err, sizeof(res->err), "%.*s", (int)sizeof(res->err) - 1,
		 r->err[0] ? r->err : strerror(-rc));
}

/* The producer's books of a run: every group it raised answered once. */
static int run_books(struct run *r)
{
	char msg[256];
	int rc = injected(r, ST_BOOKS);

	if (rc)
		return rc;
	rc = prod_session_check(r->s, r->groups, msg, sizeof(msg));
	if (rc)
		fail(r, rc, "%s", msg);
	return rc;
}

/*
 * One cell: set up nq sources for contender c, measure each of the rows
 * (they share nq and run one after the other on the same queues: a
 * set-up of thousands of queues costs more than the measurement), check the
 * producer's books, tear down. res[k] is rows[k]'s result.
 */
static void run_cell(const struct contender *c, unsigned int nq,
		     const unsigned int *rowi, unsigned int nr, unsigned int h,
		     struct result **res)
{
	struct run r = {.c = c, .epfd = -1};
	int rc;
	unsigned int k = 0;

	r.row = &rows[rowi[0]];
	rc = run_setup(&r, nq);
	if (!rc)
		rc = injected(&r, ST_SETUP);
	for (; !rc && k < nr; k++) {
		r.row = &rows[rowi[k]];
		rc = measure_row(&r, h, res[k]);
		if (rc)
			break;
	}
	if (!rc && (rc = run_books(&r)))
		k = nr - 1;
	if (rc) {
		/* The failing row and the ones it kept from running. */
		for (unsigned int j = k < nr ? k : nr - 1; j < nr; j++)
			result_failed(res[j], &r, rc);
	}
	run_teardown(&r);
}

/* ---- which contender runs where ---------------------------------------- */

/* The hand loops that sweep every queue (per read or per poll) measure the
 * sweep when thousands of queues are idle: they run up to cfg.sweep_max
 * queues; raw-epoll runs where there are several queues, or in the sparse
 * rows (its 1-queue row is its own baseline); libiopf everywhere. */
static bool eligible(const struct row *row, unsigned int ci)
{
	if (!cfg.cont[ci])
		return false;
	switch (contenders[ci].kind) {
	case C_PERFAULT:
	case C_QEMU:
	case C_RAW:
		return row->nq <= cfg.sweep_max;
	case C_EPOLL:
		return row->fam == F_SPARSE || row->fam == F_16Q;
	case C_LIB:
		/* Beyond --sparse-full (one rep, to show they work): the two
		 * engines through dispatch; the pull loops add set-ups, not
		 * coverage. */
		return row->fam != F_SPARSE || row->nq <= cfg.sparse_full ||
		       contenders[ci].api == API_DISPATCH;
	}
	return false;
}

/* The row's reference: raw-batched where it runs, else raw-epoll. */
static int row_ref(const struct row *row)
{
	if (eligible(row, I_RAW))
		return I_RAW;
	if (eligible(row, I_EPOLL))
		return I_EPOLL;
	return -1;
}

/* ---- results and reporting ---------------------------------------------- */

static struct result *results; /* [host][row][contender][rep] */
static bool cell_ran[H_COUNT][MAX_ROWS][NCONT];
static const char *tier;
/* The tier and on the kernel tier the kernel ("kernel 7.3.4"). */
static char tier_label[128];
static char load_label[96];

/* Reps of family fam on host h. */
static unsigned int family_reps(unsigned int h, enum family fam)
{
	if (fam == F_STORM || fam == F_16Q)
		return cfg.storm_reps[h];
	return cfg.reps;
}

static struct result *res_at(unsigned int h, unsigned int row, unsigned int c,
			     unsigned int rep)
{
	return &results[(((size_t)h * nrows + row) * NCONT + c) *
				cfg.rep_slots +
			rep];
}

enum metric {
	M_FPS,
	M_NSPF,
	M_CPUPF,
	M_CPUWALL,
	M_INSTRPF,
	M_P50,
	M_P99,
	M_READS,
	M_WRITES,
	M_POLLS,
	M_ALLOCS,
	M_ALLOCS_COLD,
	M_WARM,
	M_MED,
};

/* A rep's figure, < 0 where it has none. */
static double metric(const struct result *r, enum metric m)
{
	double f = (double)r->faults;

	switch (m) {
	case M_FPS:
		return r->ns ? f * 1e9 / (double)r->ns : -1;
	case M_NSPF:
		return (double)r->ns / f;
	case M_CPUPF:
		return (double)r->cpu_ns / f;
	case M_CPUWALL:
		return r->ns ? (double)r->cpu_ns / (double)r->ns : -1;
	case M_INSTRPF:
		return r->instr < 0 ? -1 : (double)r->instr / f;
	case M_P50:
		return r->p50_us;
	case M_P99:
		return r->p99_us;
	case M_READS:
		return r->reads_pf;
	case M_WRITES:
		return r->writes_pf;
	case M_POLLS:
		return r->polls_pf;
	case M_ALLOCS:
		return (double)r->allocs / f;
	case M_ALLOCS_COLD:
		return r->faults_cold
			       ? (double)r->allocs_cold / (double)r->faults_cold
			       : 0;
	case M_WARM:
		return r->warm_passes;
	case M_MED:
		return r->med_ns > 0 ? r->med_ns : -1;
	}
	return -1;
}

/* The cell's first failure, or NULL. */
static const struct result *cell_failed(unsigned int h, unsigned int row,
					unsigned int c)
{
	for (unsigned int rep = 0; rep < cfg.rep_slots; rep++)
		if (res_at(h, row, c, rep)->ran && res_at(h, row, c, rep)->rc)
			return res_at(h, row, c, rep);
	return NULL;
}

/* Reps that ran a cell; and the most of any cell of the row. */
static unsigned int cell_reps(unsigned int h, unsigned int row, unsigned int c)
{
	unsigned int n = 0;

	for (unsigned int rep = 0; rep < cfg.rep_slots; rep++)
		n += res_at(h, row, c, rep)->ran;
	return n;
}

static unsigned int row_reps(unsigned int h, unsigned int row)
{
	unsigned int n = 0;

	for (unsigned int c = 0; c < NCONT; c++)
		if (cell_reps(h, row, c) > n)
			n = cell_reps(h, row, c);
	return n;
}

/* Reps of the cell whose pass the budget cut, and their median faults. */
static unsigned int cell_cut(unsigned int h, unsigned int row, unsigned int c,
			     double *faults)
{
	double v[MAX_REPS];
	unsigned int n = 0, cut = 0;
	struct dist d;

	for (unsigned int rep = 0; rep < cfg.rep_slots; rep++) {
		const struct result *r = res_at(h, row, c, rep);

		if (!r->ran || r->rc)
			continue;
		cut += r->cut;
		v[n++] = (double)r->faults;
	}
	*faults = dist_of(v, n, &d) ? d.med : 0;
	return cut;
}

static bool cell_ok(unsigned int h, unsigned int row, unsigned int c)
{
	return cell_ran[h][row][c] && !cell_failed(h, row, c);
}

static bool cell_dist(unsigned int h, unsigned int row, unsigned int c,
		      enum metric m, struct dist *d)
{
	double v[MAX_REPS];
	unsigned int n = 0;

	if (!cell_ok(h, row, c))
		return false;
	for (unsigned int rep = 0; rep < cfg.rep_slots; rep++) {
		double x;

		if (!res_at(h, row, c, rep)->ran)
			continue;
		x = metric(res_at(h, row, c, rep), m);
		if (x < 0)
			return false;
		v[n++] = x;
	}
	return dist_of(v, n, d);
}

/*
 * a / b rep by rep: rep r of every cell of a family ran in the same round,
 * close in time, so a burst of load on the machine (the VM's host
 * especially) weighs on both sides of a pair, where the ratio of two medians
 * could take them from different rounds. The median and spread of those
 * ratios.
 */
static bool pair_dist(unsigned int h, unsigned int ra, unsigned int ca,
		      unsigned int rb, unsigned int cb, enum metric m,
		      struct dist *d)
{
	double v[MAX_REPS];
	unsigned int n = 0;

	if (!cell_ok(h, ra, ca) || !cell_ok(h, rb, cb))
		return false;
	for (unsigned int rep = 0; rep < cfg.rep_slots; rep++) {
		double x, y;

		if (!res_at(h, ra, ca, rep)->ran ||
		    !res_at(h, rb, cb, rep)->ran)
			continue;
		x = metric(res_at(h, ra, ca, rep), m);
		y = metric(res_at(h, rb, cb, rep), m);
		if (x < 0 || y <= 0)
			return false;
		v[n++] = x / y;
	}
	return dist_of(v, n, d);
}

static int find_row(const char *name)
{
	for (unsigned int i = 0; i < nrows; i++)
		if (!strcmp(rows[i].name, name))
			return (int)i;
	return -1;
}

/* The sparse row of the same kind with one queue (the x1q baseline). */
static int sparse_base(const struct row *row)
{
	char name[40];

	if (row->fam != F_SPARSE)
		return -1;
	snprintf(name, sizeof(name), "sparse-%s-1",
		 row->kind == K_PINGPONG ? "pp" : "burst");
	return find_row(name);
}

static void print_ratio(const struct dist *d, bool ok)
{
	if (ok)
		printf(" %5.2fx %4.2f-%-4.2f", d->med, d->min, d->max);
	else
		printf(" %16s", "-");
}

/* Whether a family's reps interleave their cells' passes
 * (run_rep_interleaved): on the loaded host, and not under callgrind, whose
 * profile is of one contender's pass. The sparse family interleaves one
 * contender's cells at a time (run_family). */
static bool family_interleaved(unsigned int h)
{
	return h == H_LOADED && cfg.loaded_passes > 1 && !RUNNING_ON_VALGRIND;
}

static void print_table(unsigned int h, unsigned int ri)
{
	const struct row *row = &rows[ri];
	bool pp = row->kind == K_PINGPONG;
	int ref = row_ref(row), base = sparse_base(row);
	uint64_t faults = row_faults(h, row) / cfg.group * cfg.group;
	unsigned int nreps = row_reps(h, ri);
	bool any = false;
	char sl[96] = "";

	for (unsigned int ci = 0; ci < NCONT; ci++)
		any |= cell_ran[h][ri][ci];
	if (!any)
		return;
	if (family_interleaved(h) && row->fam == F_SPARSE &&
	    row->nq <= cfg.sparse_full)
		snprintf(sl, sizeof(sl),
			 " of %u passes of a share each (queue counts "
			 "interleaved)",
			 cfg.loaded_passes);
	else if (family_interleaved(h) && row->fam != F_SPARSE)
		snprintf(sl, sizeof(sl),
			 " of the mean of %u passes but the fastest and "
			 "the slowest (contenders interleaved)",
			 cfg.loaded_passes);
	printf("\n[%s, %s] %s: %" PRIu64 " faults, %u queue%s (faults on %u), "
	       "groups of %u%s, median of %u rep%s%s; x ref: over %s\n",
	       tier_label, host_names[h], row->name, faults, row->nq,
	       row->nq == 1 ? "" : "s", row->nact, cfg.group,
	       row->kind == K_STEADY ? ", bursts" : "", nreps,
	       nreps == 1 ? "" : "s", sl,
	       ref >= 0 ? contenders[ref].name : "-");
	printf("  %-19s %10s %6s %8s %8s %5s %7s %16s %16s %7s %7s %6s %6s %6s",
	       "contender", "faults/s", "spread", "ns/f", "cpu ns/f", "c/w",
	       "instr/f", "x ref [min-max]", "cpu x ref", "alloc/f", "cold a/f",
	       "read/f", "wr/f", "poll/f");
	if (pp)
		printf(" %8s %8s %16s", "p50 us", "p99 us", "p50 x pf");
	if (base >= 0 && (unsigned int)base != ri)
		printf(" %16s %16s", "ns/f x 1q", "med x 1q");
	printf("\n");
	for (unsigned int ci = 0; ci < NCONT; ci++) {
		const struct result *f;
		struct dist d, e;

		if (!cell_ran[h][ri][ci])
			continue;
		if ((f = cell_failed(h, ri, ci))) {
			printf("  %-19s FAILED: %s\n", contenders[ci].name,
			       f->err);
			continue;
		}
		cell_dist(h, ri, ci, M_FPS, &d);
		printf("  %-19s %10.0f %5.2fx", contenders[ci].name, d.med,
		       d.min > 0 ? d.max / d.min : 0);
		cell_dist(h, ri, ci, M_NSPF, &d);
		printf(" %8.1f", d.med);
		cell_dist(h, ri, ci, M_CPUPF, &d);
		printf(" %8.1f", d.med);
		if (cell_dist(h, ri, ci, M_CPUWALL, &d))
			printf(" %5.2f", d.med);
		else
			printf(" %5s", "-");
		if (cell_dist(h, ri, ci, M_INSTRPF, &d))
			printf(" %7.0f", d.med);
		else
			printf(" %7s", "n/a");
		print_ratio(&d, ref >= 0 && pair_dist(h, ri, ci, ri,
						      (unsigned int)ref, M_FPS,
						      &d));
		print_ratio(&e, ref >= 0 && pair_dist(h, ri, ci, ri,
						      (unsigned int)ref,
						      M_CPUPF, &e));
		if (strcmp(bench_alloc_impl, "none")) {
			cell_dist(h, ri, ci, M_ALLOCS, &d);
			cell_dist(h, ri, ci, M_ALLOCS_COLD, &e);
			printf(" %7.3f %7.3f", d.max, e.max);
		} else {
			printf(" %7s %7s", "-", "-");
		}
		cell_dist(h, ri, ci, M_READS, &d);
		cell_dist(h, ri, ci, M_WRITES, &e);
		printf(" %6.3f %6.3f", d.med, e.med);
		if (cell_dist(h, ri, ci, M_POLLS, &d))
			printf(" %6.3f", d.med);
		else
			printf(" %6s", "-");
		if (pp) {
			cell_dist(h, ri, ci, M_P50, &d);
			cell_dist(h, ri, ci, M_P99, &e);
			printf(" %8.2f %8.2f", d.med, e.med);
			print_ratio(&d, pair_dist(h, ri, ci, ri, I_PERFAULT,
						  M_P50, &d));
		}
		if (base >= 0 && (unsigned int)base != ri) {
			print_ratio(&d, pair_dist(h, ri, ci, (unsigned int)base,
						  ci, M_NSPF, &d));
			print_ratio(&d, pair_dist(h, ri, ci, (unsigned int)base,
						  ci, M_MED, &d));
		}
		printf("\n");
	}
	for (unsigned int ci = 0; ci < NCONT; ci++) {
		double fm;
		unsigned int cut;

		if (!cell_ok(h, ri, ci) || !(cut = cell_cut(h, ri, ci, &fm)))
			continue;
		printf("  note: %s: %u of %u passes stopped at the %u ms "
		       "budget "
		       "(median %.0f faults measured)\n",
		       contenders[ci].name, cut, cell_reps(h, ri, ci),
		       cfg.pass_ms, fm);
	}
	fflush(stdout);
}

static void json_dist(FILE *f, const char *key, const struct dist *d, bool ok)
{
	if (ok)
		fprintf(f,
			",\"%s\":%.6g,\"%s_q1\":%.6g,\"%s_q3\":%.6g,"
			"\"%s_min\":%.6g,\"%s_max\":%.6g",
			key, d->med, key, d->q1, key, d->q3, key, d->min, key,
			d->max);
	else
		fprintf(f, ",\"%s\":null", key);
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const char *p = s; *p; p++)
		fputc(*p == '"' || *p == '\\' ? '\'' : (*p < ' ' ? ' ' : *p),
		      f);
	fputc('"', f);
}

static void json_line(FILE *f, unsigned int h, unsigned int ri, unsigned int ci)
{
	const struct row *row = &rows[ri];
	const struct result *fl = cell_failed(h, ri, ci);
	int ref = row_ref(row), base = sparse_base(row);
	struct dist d;

	fprintf(f,
		"{\"kind\":\"result\",\"tier\":\"%s\",\"kernel\":\"%s\","
		"\"host\":\"%s\",\"scenario\":\"%s\",\"family\":\"%s\","
		"\"queues\":%u,\"active\":%u,\"contender\":\"%s\"",
		tier, tier_label, host_names[h], row->name,
		family_names[row->fam], row->nq, row->nact,
		contenders[ci].name);
	if (fl) {
		fprintf(f, ",\"status\":\"failed\",\"error\":");
		json_str(f, fl->err);
		fprintf(f, "}\n");
		return;
	}
	{
		double fm;
		unsigned int cut = cell_cut(h, ri, ci, &fm);

		fprintf(f,
			",\"status\":\"ok\",\"faults\":%.0f,\"cut_passes\":%u"
			",\"group\":%u,\"reps\":%u",
			fm, cut, cfg.group, cell_reps(h, ri, ci));
	}
	json_dist(f, "faults_per_s", &d, cell_dist(h, ri, ci, M_FPS, &d));
	json_dist(f, "ns_per_fault", &d, cell_dist(h, ri, ci, M_NSPF, &d));
	json_dist(f, "cpu_ns_per_fault", &d, cell_dist(h, ri, ci, M_CPUPF, &d));
	json_dist(f, "instr_per_fault", &d,
		  cell_dist(h, ri, ci, M_INSTRPF, &d));
	fprintf(f, ",\"ref\":");
	if (ref >= 0)
		json_str(f, contenders[ref].name);
	else
		fprintf(f, "null");
	json_dist(f, "ratio_ref", &d,
		  ref >= 0 && pair_dist(h, ri, ci, ri, (unsigned int)ref, M_FPS,
					&d));
	json_dist(f, "cpu_ratio_ref", &d,
		  ref >= 0 && pair_dist(h, ri, ci, ri, (unsigned int)ref,
					M_CPUPF, &d));
	if (!strcmp(bench_alloc_impl, "none")) {
		fprintf(f, ",\"allocs_per_fault\":null");
	} else {
		cell_dist(h, ri, ci, M_ALLOCS, &d);
		fprintf(f, ",\"allocs_per_fault\":%.6f", d.max);
		cell_dist(h, ri, ci, M_ALLOCS_COLD, &d);
		fprintf(f, ",\"allocs_per_fault_cold\":%.6f", d.max);
	}
	cell_dist(h, ri, ci, M_WARM, &d);
	fprintf(f, ",\"warm_passes\":%.0f", d.max);
	cell_dist(h, ri, ci, M_READS, &d);
	fprintf(f, ",\"reads_per_fault\":%.4f", d.med);
	cell_dist(h, ri, ci, M_WRITES, &d);
	fprintf(f, ",\"writes_per_fault\":%.4f", d.med);
	if (row->kind == K_PINGPONG) {
		cell_dist(h, ri, ci, M_P50, &d);
		fprintf(f, ",\"p50_us\":%.3f", d.med);
		cell_dist(h, ri, ci, M_P99, &d);
		fprintf(f, ",\"p99_us\":%.3f", d.med);
		json_dist(f, "ratio_p50_perfault", &d,
			  pair_dist(h, ri, ci, ri, I_PERFAULT, M_P50, &d));
	}
	if (base >= 0 && (unsigned int)base != ri) {
		json_dist(f, "ratio_1q", &d,
			  pair_dist(h, ri, ci, (unsigned int)base, ci, M_NSPF,
				    &d));
		json_dist(f, "ratio_1q_median", &d,
			  pair_dist(h, ri, ci, (unsigned int)base, ci, M_MED,
				    &d));
	}
	fprintf(f, "}\n");
}

/* ---- the targets of issue #13 ------------------------------------------- */

/* The target lines, kept for the JSON output at the end. */
static char *json_targets;
static size_t json_targets_len;
static unsigned int n_targets, n_pass, n_fail;

/* One target: its figure (median, IQR, min-max over the reps), the limit
 * and the verdict on the median. ok false: not measured (why). */
static void target(unsigned int h, const char *what, const struct dist *d,
		   bool ok, bool le, double limit, const char *unit,
		   const char *why)
{
	const char *verdict;

	n_targets++;
	if (!ok) {
		verdict = "n/a";
		printf("  %-58s n/a: %s\n", what, why);
	} else {
		bool pass = le ? d->med <= limit : d->med >= limit;

		verdict = pass ? "PASS" : "FAIL";
		pass ? n_pass++ : n_fail++;
		printf("  %-58s %7.2f%s (IQR %.2f-%.2f, min-max %.2f-%.2f, "
		       "%u rep%s) target %s %g: %s\n",
		       what, d->med, unit, d->q1, d->q3, d->min, d->max, d->n,
		       d->n == 1 ? "" : "s", le ? "<=" : ">=", limit, verdict);
	}
	{
		char *line = NULL;
		size_t len = 0;
		FILE *lf = open_memstream(&line, &len);

		if (!lf)
			return;
		fprintf(lf,
			"{\"kind\":\"target\",\"tier\":\"%s\",\"kernel\":\"%"
			"s\","
			"\"host\":\"%s\",\"load\":",
			tier, tier_label, host_names[h]);
		json_str(lf, h == H_LOADED ? load_label : "none");
		fprintf(lf, ",\"target\":");
		json_str(lf, what);
		fprintf(lf, ",\"op\":\"%s\",\"limit\":%g",
			le ? "<=" : ">=", limit);
		json_dist(lf, "value", d, ok);
		fprintf(lf, ",\"verdict\":\"%s\"", verdict);
		if (!ok) {
			fprintf(lf, ",\"why\":");
			json_str(lf, why);
		}
		fprintf(lf, "}\n");
		fclose(lf);
		{
			char *nt = realloc(json_targets,
					   json_targets_len + len + 1);

			if (nt) {
				memcpy(nt + json_targets_len, line, len + 1);
				json_targets = nt;
				json_targets_len += len;
			}
		}
		free(line);
	}
}

static bool any_ran(unsigned int h, int ri)
{
	if (ri < 0)
		return false;
	for (unsigned int ci = 0; ci < NCONT; ci++)
		if (cell_ran[h][ri][ci])
			return true;
	return false;
}

static void print_targets(unsigned int h)
{
	int storm = find_row("storm"), q16 = find_row("16queues");
	int pp = find_row("pingpong");
	char what[128];
	struct dist d;

	printf("\n[%s, %s] targets of issue #13 (host %s%s%s); verdict on the "
	       "median of paired ratios\n",
	       tier_label, host_names[h], host_names[h],
	       h == H_LOADED ? ": " : "", h == H_LOADED ? load_label : "");

	/* sparse: 1024 queues against 1, both engines, pp and bursts */
	for (unsigned int k = 0; k < 2; k++) {
		const char *mode = k ? "burst" : "pp";
		char n1[40], n1024[40];
		int r1, r1024;

		snprintf(n1, sizeof(n1), "sparse-%s-1", mode);
		snprintf(n1024, sizeof(n1024), "sparse-%s-1024", mode);
		r1 = find_row(n1);
		r1024 = find_row(n1024);
		if (!any_ran(h, r1) || !any_ran(h, r1024))
			continue;
		/* The median cost of a fault (the p50 round trip, the
		 * median burst), not the mean: on the loaded host the mean
		 * is mostly how long the load held the CPU in that pass. */
		for (unsigned int ci = I_PLAIN; ci <= I_URING; ci++) {
			bool ok = pair_dist(h, (unsigned int)r1024, ci,
					    (unsigned int)r1, ci, M_MED, &d);

			snprintf(what, sizeof(what),
				 "sparse-%s: %s median/f 1024 queues / 1", mode,
				 contenders[ci].name);
			target(h, what, &d, ok, true, 1.2, "x",
			       "not run or failed");
		}
	}
	{
		bool ran = false, ok = true;
		unsigned int n = 0;

		for (unsigned int ri = 0; ri < nrows; ri++) {
			if (rows[ri].fam != F_SPARSE || rows[ri].nq != 4096)
				continue;
			for (unsigned int ci = 0; ci < NCONT; ci++) {
				if (!cell_ran[h][ri][ci])
					continue;
				ran = true;
				if (cell_failed(h, ri, ci))
					ok = false;
			}
			if (row_reps(h, ri) > n)
				n = row_reps(h, ri);
		}
		if (ran) {
			d = (struct dist){.n = n,
					  .med = ok,
					  .q1 = ok,
					  .q3 = ok,
					  .min = ok,
					  .max = ok};
			target(h,
			       "sparse: 4096 queues work (1 = every contender "
			       "ok)",
			       &d, true, false, 1, "", NULL);
		}
	}

	/* storm: the best engine against the raw batched loop */
	if (any_ran(h, storm)) {
		int best = -1;
		struct dist bd = {0}, cd;

		for (unsigned int ci = 0; ci < NCONT; ci++) {
			if (contenders[ci].kind != C_LIB)
				continue;
			if (pair_dist(h, (unsigned int)storm, ci,
				      (unsigned int)storm, I_RAW, M_FPS, &d) &&
			    (best < 0 || d.med > bd.med)) {
				best = (int)ci;
				bd = d;
			}
		}
		snprintf(what, sizeof(what),
			 "storm: best engine (%s) faults/s x raw",
			 best >= 0 ? contenders[best].name : "-");
		target(h, what, &bd, best >= 0, false, 0.95, "x",
		       "not run or failed");
		snprintf(what, sizeof(what), "storm: %s cpu/f x raw",
			 best >= 0 ? contenders[best].name : "-");
		target(h, what, &cd,
		       best >= 0 && pair_dist(h, (unsigned int)storm,
					      (unsigned int)best,
					      (unsigned int)storm, I_RAW,
					      M_CPUPF, &cd),
		       true, 1.1, "x", "not run or failed");
	}

	/* 16 queues: io_uring against plain */
	if (any_ran(h, q16)) {
		bool ok = pair_dist(h, (unsigned int)q16, I_URING,
				    (unsigned int)q16, I_PLAIN, M_FPS, &d);

		target(h, "16queues: libiopf-uring faults/s x libiopf-plain",
		       &d, ok, false, h == H_IDLE ? 1.0 : 0.95, "x",
		       "not run or failed");
		ok = pair_dist(h, (unsigned int)q16, I_URING, (unsigned int)q16,
			       I_PLAIN, M_CPUPF, &d);
		target(h, "16queues: libiopf-uring cpu/f x libiopf-plain", &d,
		       ok, true, 1.2, "x", "not run or failed");
		/* Not a target: why IOPF_ENGINE_ASYNC is not the default. */
		for (int m = 0; m < 2; m++) {
			if (!pair_dist(h, (unsigned int)q16, I_URING_ASYNC,
				       (unsigned int)q16, I_URING,
				       m ? M_CPUPF : M_FPS, &d))
				continue;
			printf("  %-58s %7.2fx (IQR %.2f-%.2f, min-max %.2f-%.2f, %u reps) policy figure\n",
			       m ? "16queues: uring-async cpu/f x uring (default)"
				 : "16queues: uring-async faults/s x uring (default)",
			       d.med, d.q1, d.q3, d.min, d.max, d.n);
		}
	}

	/* ping-pong p50 against the per-fault loop */
	if (any_ran(h, pp)) {
		for (unsigned int ci = 0; ci < NCONT; ci++) {
			bool ok;

			/* The io-wq policy is not the default: its figures
			 * are the policy lines above, not a target. */
			if (contenders[ci].kind != C_LIB || !cfg.cont[ci] ||
			    ci == I_URING_ASYNC)
				continue;
			ok = pair_dist(h, (unsigned int)pp, ci,
				       (unsigned int)pp, I_PERFAULT, M_P50, &d);
			snprintf(what, sizeof(what),
				 "pingpong: %s p50 x per-fault",
				 contenders[ci].name);
			target(h, what, &d, ok, true, 1.15, "x",
			       "not run or failed");
		}
	}

	/* allocations per fault: the most of any library cell and rep */
	if (strcmp(bench_alloc_impl, "none")) {
		double worst = 0;
		bool any = false;
		unsigned int n = 0;

		for (unsigned int ri = 0; ri < nrows; ri++)
			for (unsigned int ci = 0; ci < NCONT; ci++) {
				if (contenders[ci].kind != C_LIB ||
				    !cell_dist(h, ri, ci, M_ALLOCS, &d))
					continue;
				any = true;
				if (d.max > worst)
					worst = d.max;
				if (d.n > n)
					n = d.n;
			}
		d = (struct dist){.n = n,
				  .med = worst,
				  .q1 = worst,
				  .q3 = worst,
				  .min = worst,
				  .max = worst};
		target(h, "allocations per fault, most of any libiopf cell", &d,
		       any, true, 0, "", "no libiopf cell ran");
	}

	/* user-space instructions per fault: the library's own, over the
	 * raw loop's (both pay the mock's hooks and the syscall stubs) */
	if (any_ran(h, storm)) {
		for (unsigned int ci = I_PLAIN; ci <= I_URING; ci++) {
			double v[MAX_REPS];
			unsigned int n = 0;
			bool ok = cell_ok(h, (unsigned int)storm, ci) &&
				  cell_ok(h, (unsigned int)storm, I_RAW) &&
				  instr_fd >= 0;

			for (unsigned int rep = 0; ok && rep < cfg.rep_slots;
			     rep++) {
				const struct result *ra =
					res_at(h, (unsigned int)storm, ci, rep);
				const struct result *rb = res_at(
					h, (unsigned int)storm, I_RAW, rep);
				double a = metric(ra, M_INSTRPF);
				double b = metric(rb, M_INSTRPF);

				if (!ra->ran || !rb->ran)
					continue;
				if (a < 0 || b < 0)
					ok = false;
				else
					v[n++] = a - b;
			}
			ok = ok && dist_of(v, n, &d);
			snprintf(what, sizeof(what),
				 "storm: %s user instr/f over raw-batched's "
				 "(aim)",
				 contenders[ci].name);
			target(h, what, &d, ok, true, 120, "",
			       instr_fd >= 0 ? "not run or failed" : instr_na);
		}
	}
	fflush(stdout);
}

/* ---- main --------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f, "usage: iopf-bench [--tier mock|kernel] [--faults N] "
		   "[--reps R]\n"
		   "                  [--scenario LIST|all] [--contenders "
		   "LIST|all]\n"
		   "                  [--host idle,loaded] [--load-threads N] "
		   "[--load-pin|--load-unpinned]\n"
		   "                  [--sparse-sizes 1,16,256,1024,4096] "
		   "[--sparse-active 1,4]\n"
		   "                  [--sweep-max N] [--sparse-full N] "
		   "[--pass-budget MS]\n"
		   "                  [--loaded-passes N] [--max-seconds S] "
		   "[--group G] "
		   "[--steady-k K]\n"
		   "                  [--pingpong-faults N] "
		   "[--loaded-storm-faults N] [--timeout MS]\n"
		   "                  [--storm-reps IDLE[,LOADED]]\n"
		   "                  [--json FILE] [--quick] "
		   "[--fail-at STAGE:ROW:CONTENDER]\n"
		   "scenarios: storm steady pingpong 16queues sparse (= "
		   "sparse-pp, "
		   "sparse-burst), or a row's name (sparse-pp-1024, "
		   "sparse-burst-16x4)\n"
		   "contenders:");
	for (unsigned int i = 0; i < NCONT; i++)
		fprintf(f, " %s", contenders[i].name);
	fprintf(f, "\nthis binary's tier: %s\n", bench_prod_tier);
}

/* --fail-at STAGE:ROW:CONTENDER (the row by name; checked against the
 * rows once they are made). */
static int parse_fail_at(const char *val)
{
	const char *c1 = strchr(val, ':');
	const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	size_t n;

	if (!c2)
		return -EINVAL;
	cfg.fail_stage = -1;
	for (unsigned int st = 0; st < ST_COUNT; st++)
		if (strlen(stage_names[st]) == (size_t)(c1 - val) &&
		    !strncmp(val, stage_names[st], (size_t)(c1 - val)))
			cfg.fail_stage = (int)st;
	n = (size_t)(c2 - c1 - 1);
	if (cfg.fail_stage < 0 || !n || n >= sizeof(cfg.fail_row))
		return -EINVAL;
	memcpy(cfg.fail_row, c1 + 1, n);
	cfg.fail_row[n] = 0;
	for (unsigned int ci = 0; ci < NCONT; ci++)
		if (!strcmp(c2 + 1, contenders[ci].name)) {
			cfg.fail_ci = ci;
			return 0;
		}
	cfg.fail_stage = -1;
	return -EINVAL;
}

static bool parse_u64(const char *s, uint64_t *v, uint64_t min, uint64_t max)
{
	char *end;
	unsigned long long x;

	errno = 0;
	x = strtoull(s, &end, 10);
	if (errno || end == s || *end || x < min || x > max)
		return false;
	*v = x;
	return true;
}

static bool parse_names(const char *arg, const char *const *names,
			unsigned int n, size_t stride, bool *on)
{
	char buf[512], *save = NULL;

	if (strlen(arg) >= sizeof(buf))
		return false;
	strcpy(buf, arg);
	memset(on, 0, n * sizeof(*on));
	for (char *t = strtok_r(buf, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		bool found = false;

		if (!strcmp(t, "all")) {
			for (unsigned int i = 0; i < n; i++)
				on[i] = true;
			continue;
		}
		for (unsigned int i = 0; i < n; i++) {
			const char *name =
				*(const char *const
					  *)(const void *)((const char *)names +
							   i * stride);

			if (!strcmp(t, name)) {
				on[i] = found = true;
				break;
			}
		}
		if (!found) {
			fprintf(stderr, "iopf-bench: unknown name '%s'\n", t);
			return false;
		}
	}
	return true;
}

static bool parse_nums(const char *arg, unsigned int *v, unsigned int *n,
		       unsigned int max)
{
	char buf[256], *save = NULL;

	if (strlen(arg) >= sizeof(buf))
		return false;
	strcpy(buf, arg);
	*n = 0;
	for (char *t = strtok_r(buf, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		uint64_t x;

		if (*n == MAX_SIZES || !parse_u64(t, &x, 1, max))
			return false;
		v[(*n)++] = (unsigned int)x;
	}
	return *n > 0;
}

static void add_row(const char *name, enum family fam, enum skind kind,
		    unsigned int nq, unsigned int nact)
{
	struct row *r = &rows[nrows++];

	snprintf(r->name, sizeof(r->name), "%s", name);
	r->fam = fam;
	r->kind = kind;
	r->nq = nq;
	r->nact = nact;
	r->on = true;
}

/* The rows: the four classic scenarios, then sparse-{pp,burst}-N[xA] for
 * every size and number of active queues (A < N; A = 1 unnamed). */
static void make_rows(void)
{
	nrows = 0;
	add_row("storm", F_STORM, K_STORM, 1, 1);
	add_row("steady", F_STEADY, K_STEADY, 1, 1);
	add_row("pingpong", F_PINGPONG, K_PINGPONG, 1, 1);
	add_row("16queues", F_16Q, K_STORM, 16, 16);
	for (unsigned int k = 0; k < 2; k++)
		for (unsigned int a = 0; a < cfg.nactives; a++)
			for (unsigned int s = 0; s < cfg.nsizes; s++) {
				unsigned int nq = cfg.sizes[s];
				unsigned int na = cfg.actives[a];
				char name[40];

				if (na > nq || (na > 1 && na == nq) ||
				    nrows == MAX_ROWS)
					continue;
				if (na == 1)
					snprintf(name, sizeof(name),
						 "sparse-%s-%u",
						 k ? "burst" : "pp", nq);
				else
					snprintf(name, sizeof(name),
						 "sparse-%s-%ux%u",
						 k ? "burst" : "pp", nq, na);
				add_row(name, F_SPARSE,
					k ? K_STEADY : K_PINGPONG, nq, na);
			}
}

/* --scenario: families (storm, ..., sparse), sparse-pp / sparse-burst, or
 * rows by name. */
static bool select_rows(const char *arg)
{
	char buf[512], *save = NULL;

	if (strlen(arg) >= sizeof(buf))
		return false;
	strcpy(buf, arg);
	for (unsigned int i = 0; i < nrows; i++)
		rows[i].on = false;
	for (char *t = strtok_r(buf, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		bool found = false;

		for (unsigned int i = 0; i < nrows; i++) {
			struct row *r = &rows[i];
			bool m =
				!strcmp(t, "all") || !strcmp(t, r->name) ||
				!strcmp(t, family_names[r->fam]) ||
				(!strcmp(t, "sparse-pp") &&
				 r->fam == F_SPARSE && r->kind == K_PINGPONG) ||
				(!strcmp(t, "sparse-burst") &&
				 r->fam == F_SPARSE && r->kind == K_STEADY);

			if (m)
				r->on = found = true;
		}
		if (!found) {
			fprintf(stderr, "iopf-bench: unknown scenario '%s'\n",
				t);
			return false;
		}
	}
	return true;
}

static int parse_args(int argc, char **argv)
{
	uint64_t v;
	bool faults_set = false, reps_set = false, pp_set = false;
	bool storm_reps_set = false;
	bool sizes_set = false, budget_set = false;
	const char *scen = NULL;

	cfg.faults = bench_prod_default_faults;
	cfg.reps = bench_prod_default_reps;
	cfg.group = 1;
	cfg.steady_k = 64;
	cfg.timeout_ms = 10000;
	cfg.fail_stage = -1;
	cfg.sweep_max = 16;
	cfg.sparse_full = 1024;
	cfg.pass_ms = 1000;
	cfg.loaded_passes = 5;
	cfg.load_pin = bench_prod_default_load_pin;
	cfg.max_s = bench_prod_default_max_s;
	for (unsigned int i = 0; i < NCONT; i++)
		cfg.cont[i] = true;
	cfg.host[H_IDLE] = cfg.host[H_LOADED] = true;
	parse_nums("1,16,256,1024,4096", cfg.sizes, &cfg.nsizes, MAX_QUEUES);
	parse_nums("1,4", cfg.actives, &cfg.nactives, MAX_ACTIVE);

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i],
			   *val = i + 1 < argc ? argv[i + 1] : NULL;

#define NEED_VAL                                                               \
	do {                                                                   \
		if (!val) {                                                    \
			fprintf(stderr, "iopf-bench: %s needs a value\n", a);  \
			return 2;                                              \
		}                                                              \
		i++;                                                           \
	} while (0)
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			exit(0);
		} else if (!strcmp(a, "--tier")) {
			NEED_VAL;
			if (strcmp(val, bench_prod_tier)) {
				fprintf(stderr,
					"iopf-bench: this binary was built for "
					"the %s tier, not '%s'%s\n",
					bench_prod_tier, val,
					!strcmp(val, "kernel")
						? " (the kernel tier's bench "
						  "is built and run by "
						  "`meson test --suite kernel`)"
						: "");
				return 2;
			}
		} else if (!strcmp(a, "--faults")) {
			NEED_VAL;
			if (!parse_u64(val, &v, 1, 100000000))
				goto bad;
			cfg.faults = v;
			faults_set = true;
		} else if (!strcmp(a, "--reps")) {
			NEED_VAL;
			if (!parse_u64(val, &v, 1, MAX_REPS))
				goto bad;
			cfg.reps = (unsigned int)v;
			reps_set = true;
		} else if (!strcmp(a, "--storm-reps")) {
			char idle[24];
			const char *comma;
			uint64_t y;

			NEED_VAL;
			/* IDLE[,LOADED], each as --reps takes it. */
			comma = strchr(val, ',');
			if (snprintf(idle, sizeof(idle), "%.*s",
				     comma ? (int)(comma - val)
					   : (int)sizeof(idle),
				     val) >= (int)sizeof(idle) ||
			    !parse_u64(idle, &v, 1, MAX_REPS) ||
			    !parse_u64(comma ? comma + 1 : idle, &y, 1,
				       MAX_REPS))
				goto bad;
			cfg.storm_reps[H_IDLE] = (unsigned int)v;
			cfg.storm_reps[H_LOADED] = (unsigned int)y;
			storm_reps_set = true;
		} else if (!strcmp(a, "--loaded-storm-faults")) {
			NEED_VAL;
			if (!parse_u64(val, &v, 1, 100000000))
				goto bad;
			cfg.loaded_storm_faults = v;
		} else if (!strcmp(a, "--pingpong-faults")) {
			NEED_VAL;
			if (!parse_u64(val, &v, 1, 10000000))
				goto bad;
			cfg.pp_faults = v;
			pp_set = true;
		} else if (!strcmp(a, "--group")) {
			NEED_VAL;
			if (!parse_u64(val, &v, 1, bench_prod_max_group))
				goto bad;
			cfg.group = (unsigned int)v;
		} else if (!strcmp(a, "--steady-k")) {
			NEED_VAL;
			if (!parse_u64(val, &v, 1, 100000))
				goto bad;
			cfg.steady_k = (unsigned int)v;
		} else if (!strcmp(a, "--timeout")) {
			NEED_VAL;
			if (!parse_u64(val, &v, 1, 3600000))
				goto bad;
			cfg.timeout_ms = (int)v;
		} else if (!strcmp(a, "--json")) {
			NEED_VAL;
			cfg.json = val;
		} else if (!strcmp(a, "--scenario") ||
			   !strcmp(a, "--scenarios")) {
			NEED_VAL;
			scen = val;
		} else if (!strcmp(a, "--contenders") ||
			   !strcmp(a, "--contender")) {
			NEED_VAL;
			if (!parse_names(val, &contenders[0].name, NCONT,
					 sizeof(contenders[0]), cfg.cont))
				goto bad;
		} else if (!strcmp(a, "--host")) {
			NEED_VAL;
			if (!parse_names(val, host_names, H_COUNT,
					 sizeof(host_names[0]), cfg.host))
				goto bad;
		} else if (!strcmp(a, "--load-threads")) {
			NEED_VAL;
			if (!parse_u64(val, &v, 1, 1024))
				goto bad;
			cfg.load_threads = (unsigned int)v;
		} else if (!strcmp(a, "--load-pin")) {
			cfg.load_pin = true;
		} else if (!strcmp(a, "--load-unpinned")) {
			cfg.load_pin = false;
		} else if (!strcmp(a, "--sparse-sizes")) {
			NEED_VAL;
			if (!parse_nums(val, cfg.sizes, &cfg.nsizes,
					MAX_QUEUES))
				goto bad;
			sizes_set = true;
		} else if (!strcmp(a, "--sparse-active")) {
			NEED_VAL;
			if (!parse_nums(val, cfg.actives, &cfg.nactives,
					MAX_ACTIVE))
				goto bad;
		} else if (!strcmp(a, "--sweep-max")) {
			NEED_VAL;
			if (!parse_u64(val, &v, 1, MAX_QUEUES))
				goto bad;
			cfg.sweep_max = (unsigned int)v;
		} else if (!strcmp(a, "--sparse-full")) {
			NEED_VAL;
			if (!parse_u64(val, &v, 1, MAX_QUEUES))
				goto bad;
			cfg.sparse_full = (unsigned int)v;
		} else if (!strcmp(a, "--pass-budget")) {
			NEED_VAL;
			if (!parse_u64(val, &v, 0, 3600000))
				goto bad;
			cfg.pass_ms = (unsigned int)v;
			budget_set = true;
		} else if (!strcmp(a, "--loaded-passes")) {
			NEED_VAL;
			if (!parse_u64(val, &v, 1, MAX_PASSES))
				goto bad;
			cfg.loaded_passes = (unsigned int)v;
		} else if (!strcmp(a, "--max-seconds")) {
			NEED_VAL;
			if (!parse_u64(val, &v, 0, 86400))
				goto bad;
			cfg.max_s = (unsigned int)v;
		} else if (!strcmp(a, "--quick")) {
			cfg.quick = true;
		} else if (!strcmp(a, "--fail-at")) {
			NEED_VAL;
			if (parse_fail_at(val))
				goto bad;
		} else {
			fprintf(stderr, "iopf-bench: unknown argument '%s'\n",
				a);
			usage(stderr);
			return 2;
		}
		continue;
	bad:
		fprintf(stderr, "iopf-bench: bad value '%s' for %s\n", val, a);
		return 2;
#undef NEED_VAL
	}
	if (cfg.quick) {
		if (!faults_set)
			cfg.faults = 3000;
		if (!reps_set)
			cfg.reps = 1;
		if (!sizes_set)
			parse_nums("1,1024,4096", cfg.sizes, &cfg.nsizes,
				   MAX_QUEUES);
		if (!budget_set)
			cfg.pass_ms = 200;
	}
	/* The storm and 16queues families: the tier's own reps unless the
	 * reps were set (or --quick), then those. */
	for (unsigned int h = 0; h < H_COUNT && !storm_reps_set; h++) {
		cfg.storm_reps[h] = bench_prod_default_storm_reps[h];
		if (reps_set || cfg.quick || !cfg.storm_reps[h])
			cfg.storm_reps[h] = cfg.reps;
	}
	cfg.rep_slots = cfg.reps;
	for (unsigned int h = 0; h < H_COUNT; h++)
		if (cfg.storm_reps[h] > cfg.rep_slots)
			cfg.rep_slots = cfg.storm_reps[h];
	if (!pp_set) {
		cfg.pp_faults = cfg.faults / 5;
		if (cfg.pp_faults > 20000)
			cfg.pp_faults = 20000;
		if (cfg.pp_faults < 100)
			cfg.pp_faults = cfg.faults < 100 ? cfg.faults : 100;
	}
	if (cfg.faults < 16 * cfg.group)
		cfg.faults = 16 * cfg.group;
	/* The tier's own count unless the faults were set (or --quick). */
	if (!cfg.loaded_storm_faults)
		cfg.loaded_storm_faults =
			faults_set || cfg.quick ||
					!bench_prod_default_loaded_storm_faults
				? cfg.faults
				: bench_prod_default_loaded_storm_faults;
	if (cfg.loaded_storm_faults < 16 * cfg.group)
		cfg.loaded_storm_faults = 16 * cfg.group;
	make_rows();
	if (scen && !select_rows(scen)) {
		fprintf(stderr, "iopf-bench: bad value '%s' for --scenario\n",
			scen);
		return 2;
	}
	if (cfg.fail_stage >= 0 && find_row(cfg.fail_row) < 0) {
		fprintf(stderr, "iopf-bench: --fail-at: no row '%s'\n",
			cfg.fail_row);
		return 2;
	}
	return 0;
}

/* Enough descriptors for the largest row (the VM's default is 1024). */
static void raise_nofile(void)
{
	unsigned int most = 0;
	struct rlimit rl;
	rlim_t need;

	for (unsigned int i = 0; i < nrows; i++)
		if (rows[i].on && rows[i].nq > most)
			most = rows[i].nq;
	/* The loaded host sets up a contender's sparse sizes up to
	 * --sparse-full at once (run_family). */
	if (cfg.host[H_LOADED]) {
		unsigned int sum = 0;

		for (unsigned int i = 0; i < cfg.nsizes; i++)
			if (cfg.sizes[i] <= cfg.sparse_full)
				sum += cfg.sizes[i];
		if (sum > most)
			most = sum;
	}
	need = (rlim_t)most * bench_prod_fds_per_queue + 64;
	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_cur < need) {
		struct rlimit want = rl;

		want.rlim_cur = need;
		if (want.rlim_max < need)
			want.rlim_max = need; /* root may raise it */
		if (setrlimit(RLIMIT_NOFILE, &want)) {
			want.rlim_max = rl.rlim_max;
			want.rlim_cur = rl.rlim_max;
			(void)setrlimit(RLIMIT_NOFILE, &want);
		}
	}
	getrlimit(RLIMIT_NOFILE, &rl);
	printf("descriptors: %llu wanted for %u queues, RLIMIT_NOFILE %llu%s\n",
	       (unsigned long long)need, most, (unsigned long long)rl.rlim_cur,
	       rl.rlim_cur < need ? " (too few: the largest rows will fail)"
				  : "");
}

/* Weights of the families' reps in the time limit: a sparse rep costs several
 * times another family's (thousands of queues to set up); storm and
 * 16queues reps cost more than steady and pingpong ones and carry the
 * noisiest targets; the storm's on the loaded host may have longer passes
 * (--loaded-storm-faults). */
static unsigned int family_rep_weight(unsigned int h, enum family fam)
{
	switch (fam) {
	case F_SPARSE:
		return 4;
	case F_STORM:
		if (h == H_LOADED && cfg.loaded_storm_faults > cfg.faults)
			return 4;
		return 2;
	case F_16Q:
		return 2;
	default:
		return 1;
	}
}

/* A family's weight: a rep's, times its reps. */
static unsigned int family_weight(unsigned int h, enum family fam)
{
	return family_rep_weight(h, fam) * family_reps(h, fam);
}

static bool family_on(enum family fam)
{
	for (unsigned int ri = 0; ri < nrows; ri++)
		if (rows[ri].fam == fam && rows[ri].on)
			return true;
	return false;
}

/* This family's share of the time left (--max-seconds): its weight over
 * the weights of the (host, family) units still to run; a unit that ends
 * early leaves its time to the next. 0: no limit. */
static uint64_t family_cap(unsigned int h, enum family fam, uint64_t t_start)
{
	uint64_t limit = (uint64_t)cfg.max_s * 1000000000ull, spent;
	unsigned int w = 0;

	if (!cfg.max_s || !family_on(fam))
		return 0;
	spent = now_ns() - t_start;
	if (spent >= limit)
		return 1;
	for (unsigned int hh = h; hh < H_COUNT; hh++)
		for (unsigned int f = hh == h ? fam : 0; f < F_COUNT; f++)
			if (cfg.host[hh] && family_on((enum family)f))
				w += family_weight(hh, (enum family)f);
	return (limit - spent) * family_weight(h, fam) / w;
}

struct cellspec {
	unsigned int ci, nq, nr, rowi[MAX_ROWS];
};

/* Cell c failed with rc at its row from: that row and the ones after it,
 * which it kept from running. */
static void cell_failed_from(unsigned int h, unsigned int rep,
			     const struct cellspec *c, const struct run *r,
			     unsigned int from, int rc)
{
	for (unsigned int j = from; j < c->nr; j++) {
		struct result *res = res_at(h, c->rowi[j], c->ci, rep);

		result_failed(res, r, rc);
		fprintf(stderr, "iopf-bench: %s %s %s rep %u: %s\n",
			host_names[h], rows[c->rowi[j]].name,
			contenders[c->ci].name, rep, res->err);
	}
}

/*
 * One rep of some of a family's cells at once, on the loaded host: every
 * cell set up; then row after row (the cells' rows that share a set-up),
 * every cell warmed up, then cfg.loaded_passes measured passes each, cell
 * after cell (the order reversed every other round), so that all of them
 * see the same stretch of the load. Two passes run one after the other saw
 * different shares of the CPUs: per-rep ratios of 0.4 to 3.0, verdicts that
 * flipped between runs. Each cell's wall figure is the mean of its passes
 * but the fastest and the slowest (row_finish); a median of samples
 * (ping-pong, bursts) is over the samples of all its passes.
 * A pass runs the row's faults whole, or with split (the sparse family,
 * whose figures are such medians) a share of them: the rep then measures
 * as many faults as on the idle host and costs about as long.
 */
static void run_rep_interleaved(unsigned int h, unsigned int rep,
				const struct cellspec *const *cells,
				unsigned int ncells, bool split)
{
	struct run *runs = calloc(ncells, sizeof(*runs));
	struct mrow *mrs = calloc(ncells, sizeof(*mrs));
	struct result **res = calloc(ncells, sizeof(*res));
	bool *dead = calloc(ncells, sizeof(*dead));
	unsigned int passes = cfg.loaded_passes, most = 0;
	int rc;

	if (!runs || !mrs || !res || !dead) {
		fprintf(stderr, "iopf-bench: out of memory\n");
		exit(1);
	}
	for (unsigned int j = 0; j < ncells; j++) {
		unsigned int k = rep % 2 ? ncells - 1 - j : j;
		const struct cellspec *c = cells[k];

		runs[k] = (struct run){.c = &contenders[c->ci],
				       .row = &rows[c->rowi[0]],
				       .epfd = -1};
		rc = run_setup(&runs[k], c->nq);
		if (!rc)
			rc = injected(&runs[k], ST_SETUP);
		if (rc) {
			cell_failed_from(h, rep, c, &runs[k], 0, rc);
			dead[k] = true;
		}
		if (c->nr > most)
			most = c->nr;
	}
	for (unsigned int i = 0; i < most; i++) {
		for (unsigned int j = 0; j < ncells; j++) {
			unsigned int k = rep % 2 ? ncells - 1 - j : j;
			const struct cellspec *c = cells[k];

			if (dead[k] || i >= c->nr)
				continue;
			runs[k].row = &rows[c->rowi[i]];
			res[k] = res_at(h, c->rowi[i], c->ci, rep);
			rc = row_prepare(h, &runs[k], res[k], &mrs[k], passes,
					 split);
			if (rc) {
				cell_failed_from(h, rep, c, &runs[k], i, rc);
				dead[k] = true;
			}
		}
		for (unsigned int p = 0; p < passes; p++)
			for (unsigned int j = 0; j < ncells; j++) {
				unsigned int k =
					(p + rep) % 2 ? ncells - 1 - j : j;

				if (dead[k] || i >= cells[k]->nr)
					continue;
				rc = row_pass(&runs[k], host_names[h], res[k],
					      &mrs[k], mrs[k].per_pass,
					      cfg.pass_ms);
				if (rc) {
					cell_failed_from(h, rep, cells[k],
							 &runs[k], i, rc);
					dead[k] = true;
				}
			}
		for (unsigned int k = 0; k < ncells; k++) {
			if (!dead[k] && i < cells[k]->nr) {
				rc = row_finish(&runs[k], res[k], &mrs[k]);
				if (rc) {
					cell_failed_from(h, rep, cells[k],
							 &runs[k], i, rc);
					dead[k] = true;
				}
			}
			free(mrs[k].lat);
			mrs[k].lat = NULL;
		}
	}
	for (unsigned int k = 0; k < ncells; k++) {
		if (!dead[k]) {
			rc = run_books(&runs[k]);
			if (rc)
				cell_failed_from(h, rep, cells[k], &runs[k],
						 cells[k]->nr - 1, rc);
		}
		run_teardown(&runs[k]);
	}
	free(runs);
	free(mrs);
	free(res);
	free(dead);
}

/* Every (row, contender) cell of family fam on host h, rep after rep,
 * the order reversed every other rep (ABC CBA ...). Rows of one family
 * with the same number of queues share a set-up. */
static void run_family(unsigned int h, enum family fam, uint64_t t_start,
		       uint64_t cap_ns)
{
	uint64_t f_start = now_ns();
	struct cellspec *cells = NULL;
	unsigned int ncells = 0;
	const struct cellspec **sel = NULL;
	bool inter = family_interleaved(h);
	const unsigned int reps = family_reps(h, fam);

	for (unsigned int ri = 0; ri < nrows; ri++) {
		if (rows[ri].fam != fam || !rows[ri].on)
			continue;
		for (unsigned int ci = 0; ci < NCONT; ci++) {
			unsigned int k;

			if (!eligible(&rows[ri], ci))
				continue;
			for (k = 0; k < ncells; k++)
				if (cells[k].ci == ci &&
				    cells[k].nq == rows[ri].nq)
					break;
			if (k == ncells) {
				void *n = realloc(
					cells, (ncells + 1) * sizeof(*cells));

				if (!n) {
					fprintf(stderr,
						"iopf-bench: out of memory\n");
					exit(1);
				}
				cells = n;
				cells[ncells++] = (struct cellspec){
					.ci = ci, .nq = rows[ri].nq};
			}
			cells[k].rowi[cells[k].nr++] = ri;
			cell_ran[h][ri][ci] = true;
		}
	}
	if (!ncells)
		return;
	sel = calloc(ncells, sizeof(*sel));
	if (!sel) {
		fprintf(stderr, "iopf-bench: out of memory\n");
		exit(1);
	}
	for (unsigned int rep = 0; rep < reps; rep++) {
		uint64_t spent = now_ns() - f_start;

		/* The time limit: no rep that would end past the family's
		 * share (the first one always runs). */
		if (rep && cap_ns && spent + spent / rep > cap_ns) {
			printf("\n[%s, %s] %s: stopped after %u of %u reps "
			       "(time limit: %.0f s for this family)\n",
			       tier_label, host_names[h], family_names[fam],
			       rep, reps, (double)cap_ns / 1e9);
			break;
		}
		if (fam == F_SPARSE || rep % 5 == 0)
			fprintf(stderr,
				"iopf-bench: [%s] %s rep %u/%u (%u cells), "
				"%.0f s so far\n",
				host_names[h], family_names[fam], rep + 1, reps,
				ncells, (double)(now_ns() - t_start) / 1e9);
		if (inter && fam != F_SPARSE) {
			for (unsigned int k = 0; k < ncells; k++)
				sel[k] = &cells[k];
			run_rep_interleaved(h, rep, sel, ncells, false);
			continue;
		}
		/* The sparse family on the loaded host: one contender at a
		 * time, its cells up to --sparse-full queues at once (the
		 * targets are a contender's 1024 queues against its one);
		 * the larger ones after, one by one, as on the idle host. */
		for (unsigned int g = 0; inter && g < NCONT; g++) {
			unsigned int ci = rep % 2 ? NCONT - 1 - g : g, n = 0;

			for (unsigned int k = 0; k < ncells; k++)
				if (cells[k].ci == ci &&
				    cells[k].nq <= cfg.sparse_full)
					sel[n++] = &cells[k];
			if (n)
				run_rep_interleaved(h, rep, sel, n, true);
		}
		for (unsigned int k = 0; k < ncells; k++) {
			const struct cellspec *c =
				&cells[rep % 2 ? ncells - 1 - k : k];
			struct result *res[MAX_ROWS];

			if (inter && c->nq <= cfg.sparse_full)
				continue;
			/* The largest sparse rows: the first rep only (their
			 * set-up dominates; the targets are at 1024). */
			if (rep && c->nq > cfg.sparse_full)
				continue;

			for (unsigned int j = 0; j < c->nr; j++)
				res[j] = res_at(h, c->rowi[j], c->ci, rep);
			run_cell(&contenders[c->ci], c->nq, c->rowi, c->nr, h,
				 res);
			for (unsigned int j = 0; j < c->nr; j++)
				if (res[j]->rc)
					fprintf(stderr,
						"iopf-bench: %s %s %s rep %u: "
						"%s\n",
						host_names[h],
						rows[c->rowi[j]].name,
						contenders[c->ci].name, rep,
						res[j]->err);
		}
	}
	free(sel);
	free(cells);
}

int main(int argc, char **argv)
{
	FILE *jf = stdout;
	bool any_failed = false;
	uint64_t t_start = now_ns();
	int rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	rc = parse_args(argc, argv);
	if (rc)
		return rc;
	tier = bench_prod_tier;
	snprintf(tier_label, sizeof(tier_label), "%s", tier);
	if (!strcmp(tier, "kernel")) {
		struct utsname u;

		if (!uname(&u))
			snprintf(tier_label, sizeof(tier_label), "kernel %s",
				 u.release);
	}

	/* Can this tier run here at all? */
	{
		struct prod_session *s;
		bool skip;

		rc = prod_session_new(&s, &skip);
		if (rc) {
			fprintf(stderr,
				"iopf-bench: the %s tier cannot run here: %s\n",
				tier, strerror(-rc));
			return skip ? 77 : 1;
		}
		prod_session_free(s);
	}
	/* The load first (a child that must not inherit the counter), then
	 * the counter. */
	if (cfg.host[H_LOADED]) {
		rc = load_start();
		if (rc) {
			fprintf(stderr,
				"iopf-bench: cannot start the load: %s\n",
				strerror(-rc));
			return 1;
		}
		snprintf(load_label, sizeof(load_label),
			 "%u busy-loop thread%s in another process, %s", load_n,
			 load_n == 1 ? "" : "s",
			 cfg.load_pin ? "one pinned to each CPU"
				      : "not pinned");
	}
	instr_open();
	raise_nofile();
	results = calloc((size_t)H_COUNT * nrows * NCONT * cfg.rep_slots,
			 sizeof(*results));
	if (!results) {
		fprintf(stderr, "iopf-bench: out of memory\n");
		return 1;
	}

	printf("iopf-bench: tier %s, %" PRIu64
	       " faults per run (ping-pong %" PRIu64 ", storm on the loaded "
	       "host %" PRIu64 "), groups of %u, bursts of %u, %u rep%s "
	       "(median; order alternates; storm and 16queues: %u idle, %u "
	       "loaded), allocation counter: %s\n",
	       tier_label, cfg.faults, cfg.pp_faults, cfg.loaded_storm_faults,
	       cfg.group, cfg.steady_k, cfg.reps, cfg.reps == 1 ? "" : "s",
	       cfg.storm_reps[H_IDLE], cfg.storm_reps[H_LOADED],
	       bench_alloc_impl);
	printf("producer: %s\n", bench_prod_note);
	printf("hosts: %s%s%s%s%s\n", cfg.host[H_IDLE] ? "idle" : "",
	       cfg.host[H_IDLE] && cfg.host[H_LOADED] ? ", " : "",
	       cfg.host[H_LOADED] ? "loaded (" : "",
	       cfg.host[H_LOADED] ? load_label : "",
	       cfg.host[H_LOADED] ? ")" : "");
	printf("cpu ns/f: CPU time of every thread of the process "
	       "(getrusage RUSAGE_SELF, io-wq workers included) per fault, "
	       "over "
	       "the timed stretches; instr/f: user-space instructions per "
	       "fault, "
	       "%s%s\n",
	       instr_fd >= 0 ? "perf_event_open (exclude_kernel, inherit)"
			     : "n/a: ",
	       instr_fd >= 0 ? "" : instr_na);
	printf("ratios (x ref, cpu x ref, p50 x pf, x 1q, targets): median "
	       "[min-max] over the reps of the ratio within each rep\n");
	printf("limits: a pass stops after %u ms (0: never) and 64 groups at "
	       "least; sparse rows above %u queues run in the first rep only; "
	       "%s%u%s\n",
	       cfg.pass_ms, cfg.sparse_full,
	       cfg.max_s ? "the run's reps stop within " : "no time limit (",
	       cfg.max_s, cfg.max_s ? " s (--max-seconds)" : ")");
	printf("hand loops: own fault queue and fd each (qemu-style sets "
	       "O_NONBLOCK, as QEMU does); per-fault, qemu-style and "
	       "raw-batched only up to %u queues\n",
	       cfg.sweep_max);

	for (unsigned int h = 0; h < H_COUNT; h++) {
		if (!cfg.host[h])
			continue;
		load_set(h == H_LOADED);
		for (unsigned int fam = 0; fam < F_COUNT; fam++) {
			run_family(h, (enum family)fam, t_start,
				   family_cap(h, (enum family)fam, t_start));
			for (unsigned int ri = 0; ri < nrows; ri++)
				if (rows[ri].fam == fam)
					print_table(h, ri);
		}
		load_set(false);
		print_targets(h);
	}
	load_stop();

	for (unsigned int h = 0; h < H_COUNT; h++)
		for (unsigned int ri = 0; ri < nrows; ri++)
			for (unsigned int ci = 0; ci < NCONT; ci++)
				if (cell_ran[h][ri][ci] &&
				    cell_failed(h, ri, ci))
					any_failed = true;
	if (cfg.json) {
		jf = fopen(cfg.json, "w");
		if (!jf) {
			fprintf(stderr, "iopf-bench: %s: %s\n", cfg.json,
				strerror(errno));
			return 1;
		}
	} else {
		printf("\n");
	}
	for (unsigned int h = 0; h < H_COUNT; h++)
		for (unsigned int ri = 0; ri < nrows; ri++)
			for (unsigned int ci = 0; ci < NCONT; ci++)
				if (cell_ran[h][ri][ci])
					json_line(jf, h, ri, ci);
	if (json_targets)
		fputs(json_targets, jf);
	if (jf != stdout && fclose(jf)) {
		fprintf(stderr, "iopf-bench: %s: %s\n", cfg.json,
			strerror(errno));
		return 1;
	}
	printf("\niopf-bench: %s in %.1f s; targets: %u PASS, %u FAIL, %u n/a "
	       "(information: timing never fails the run)\n",
	       any_failed ? "FAILED" : "done",
	       (double)(now_ns() - t_start) / 1e9, n_pass, n_fail,
	       n_targets - n_pass - n_fail);
	return any_failed ? 1 : 0;
}
