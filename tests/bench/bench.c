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
 *   libiopf-*     the library, one engine for all queues, a handler (or a pull
 *                 loop) that answers every group SUCCESS at once
 * Scenarios: storm, steady, pingpong, 16queues (see README.md).
 *
 * The producer (producer.h) is linked in: producer-mock.c on the host,
 * producer-kernel.c in the real-kernel tier, where this binary is run by the
 * VM without arguments and takes that tier's defaults.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include <libiopf.h>

#include "alloc.h"
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
_Static_assert(sizeof(struct rec) == 40, "struct iommu_hwpt_pgfault is 40 bytes");
_Static_assert(sizeof(struct resp) == 8, "struct iommu_hwpt_page_response is 8 bytes");
#define REC_LAST_PAGE (1u << 1)

#define MAX_SRC 16
#define QEMU_RECORDS 100
#define RAW_RECORDS 256
#define PULL_MAX 256

/* ---- configuration ---------------------------------------------------- */

enum scenario { SC_STORM, SC_STEADY, SC_PINGPONG, SC_16Q, SC_COUNT };
static const char *const scenario_names[SC_COUNT] = { "storm", "steady",
						       "pingpong", "16queues" };

enum ckind { C_PERFAULT, C_QEMU, C_RAW, C_LIB };
enum capi { API_DISPATCH, API_PULL };

struct contender {
	const char *name;
	enum ckind kind;
	int engine; /* C_LIB: enum iopf_engine_kind */
	enum capi api;
	uint32_t batch; /* C_LIB: records per read; 0: the library's default */
};

static const struct contender contenders[] = {
	{ "per-fault", C_PERFAULT, 0, 0, 0 },
	{ "qemu-style", C_QEMU, 0, 0, 0 },
	{ "raw-batched", C_RAW, 0, 0, 0 },
	{ "libiopf-plain", C_LIB, IOPF_ENGINE_PLAIN, API_DISPATCH, 0 },
	{ "libiopf-uring", C_LIB, IOPF_ENGINE_URING, API_DISPATCH, 0 },
	{ "libiopf-plain-pull", C_LIB, IOPF_ENGINE_PLAIN, API_PULL, 256 },
	{ "libiopf-uring-pull", C_LIB, IOPF_ENGINE_URING, API_PULL, 256 },
};
#define NCONT (sizeof(contenders) / sizeof(contenders[0]))
#define I_PERFAULT 0
#define I_RAW 2
#define I_PLAIN 3
#define I_URING 4

struct cfg {
	uint64_t faults;
	uint64_t pp_faults;
	unsigned int reps;
	unsigned int group;
	unsigned int steady_k;
	int timeout_ms;
	bool scen[SC_COUNT];
	bool cont[NCONT];
	const char *json;
	bool quick;
};

static struct cfg cfg;

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

static double median(double *v, unsigned int n)
{
	qsort(v, n, sizeof(*v), cmp_dbl);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- one run of one contender ------------------------------------------- */

struct run {
	const struct contender *c;
	enum scenario sc;
	struct prod_session *s;
	unsigned int nsrc;
	struct prod_src *src[MAX_SRC];
	struct prod_ep *ep[MAX_SRC];
	struct pollfd pfd[MAX_SRC];
	struct iopf_engine *e;
	struct iopf_queue *q[MAX_SRC];

	uint64_t seq; /* faults triggered */
	uint64_t groups; /* groups triggered */
	uint64_t received; /* groups handed to the consumer */
	uint64_t answered; /* answers the kernel took */
	uint64_t refused; /* answers the kernel refused */
	uint64_t trigger_allocs; /* the producer's, left out of the count */
	uint64_t reads, writes, polls; /* hand loops' syscalls */

	struct rec *buf;
	struct resp *ans;
	char err[256];
};

struct result {
	int rc;
	char err[256];
	uint64_t faults;
	uint64_t ns;
	uint64_t allocs;
	uint64_t allocs_cold, faults_cold; /* the warm-up pass */
	double reads_pf, writes_pf, polls_pf;
	double p50_us, p99_us;
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

static int trigger(struct run *r, unsigned int si)
{
	uint64_t a0 = bench_allocs();
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
		return fail(r, w < 0 ? (int)w : -EIO, "write of %u answers: %zd",
			    m, w);
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
			r->ans[0] = (struct resp){ .cookie = r->buf[0].cookie };
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
			for (ssize_t k = 0; k < n / (ssize_t)sizeof(struct rec); k++) {
				if (!(r->buf[k].flags & REC_LAST_PAGE))
					continue;
				r->ans[0] = (struct resp){ .cookie = r->buf[k].cookie };
				if ((rc = write_answers(r, i, 1)))
					return rc;
			}
		}
	}
	return 0;
}

/* Read 256 records from every queue, one write of all of a read's answers;
 * poll only when a sweep found nothing. */
static int drain_raw(struct run *r, uint64_t want)
{
	while (r->answered < want) {
		bool got = false;
		int rc;

		for (unsigned int i = 0; i < r->nsrc; i++) {
			ssize_t n = prod_read(r->ep[i], r->buf,
					      RAW_RECORDS * sizeof(struct rec));
			unsigned int m = 0;

			r->reads++;
			if ((rc = check_read(r, n)))
				return rc;
			if (n <= 0)
				continue;
			got = true;
			for (ssize_t k = 0; k < n / (ssize_t)sizeof(struct rec); k++)
				if (r->buf[k].flags & REC_LAST_PAGE)
					r->ans[m++] = (struct resp){
						.cookie = r->buf[k].cookie
					};
			if (m && (rc = write_answers(r, i, m)))
				return rc;
		}
		if (!got && (rc = wait_eps(r)))
			return rc;
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
 * queues' counters: the library contenders set no answered callback (a VMM
 * that only answers needs none, and a hand loop pays for nothing like it). */
static void lib_count(struct run *r)
{
	uint64_t taken = 0, refused = 0;

	for (unsigned int i = 0; i < r->nsrc; i++) {
		/* Only the answer counters: what a caller that needs no more
		 * asks for (the struct is sized, see iopf_queue_stats(3)). */
		struct iopf_stats st;

		st.size = offsetof(struct iopf_stats, reads);
		if (iopf_queue_stats(r->q[i], &st))
			continue;
		taken += st.answers_success + st.answers_invalid;
		refused +=
			st.answers_stale + st.answers_failed + st.answers_auto;
	}
	r->answered = taken;
	r->refused = refused;
}

/* Everything received and answered: flush until the kernel took it all
 * (io_uring's WRITE completes when its CQE is reaped). */
static int lib_flush(struct run *r, uint64_t want)
{
	uint64_t deadline = 0;

	/* A hand loop knows from write()'s return that the kernel took its
	 * answers; the library's caller reads the counters, and flushes only
	 * while they are short. A dispatch wrote its answers already (the
	 * plain engine's have been taken when it returns); answers given to
	 * pulled groups wait for the next run, so the pull loop flushes first. */
	if (r->c->api == API_DISPATCH)
		lib_count(r);
	for (unsigned int spins = 0; r->answered < want; spins++) {
		int rc = iopf_engine_flush(r->e);

		if (rc < 0)
			return fail(r, rc, "iopf_engine_flush: %s", strerror(-rc));
		lib_count(r);
		if (r->refused)
			return fail(r, -EIO, "%" PRIu64 " answers refused", r->refused);
		if ((spins & 1023) == 1023) {
			if (!deadline)
				deadline = now_ns() + (uint64_t)cfg.timeout_ms * 1000000ull;
			else if (now_ns() > deadline)
				return fail(r, -ETIMEDOUT, "answers not taken within %d ms",
					    cfg.timeout_ms);
		}
	}
	return 0;
}

static int drain_lib_dispatch(struct run *r, uint64_t want)
{
	while (r->received < want) {
		int rc = iopf_engine_dispatch(r->e, cfg.timeout_ms);

		if (rc < 0)
			return fail(r, rc, "iopf_engine_dispatch: %s", strerror(-rc));
		if (rc == 0)
			return fail(r, -ETIMEDOUT, "no group within %d ms",
				    cfg.timeout_ms);
	}
	return lib_flush(r, want);
}

/* Pull what is ready, answer it all, and wait only when nothing was: the
 * engine runs (reads, and writes the answers given since) only when its ready
 * list is empty. */
static int drain_lib_pull(struct run *r, uint64_t want)
{
	struct iopf_group *gs[PULL_MAX];

	while (r->received < want) {
		int n = iopf_engine_pull(r->e, gs, PULL_MAX);

		if (n < 0)
			return fail(r, n, "iopf_engine_pull: %s", strerror(-n));
		if (n == 0) {
			n = iopf_engine_wait(r->e, cfg.timeout_ms);
			if (n < 0)
				return fail(r, n, "iopf_engine_wait: %s", strerror(-n));
			if (n == 0)
				return fail(r, -ETIMEDOUT, "no group within %d ms",
					    cfg.timeout_ms);
			continue;
		}
		for (int i = 0; i < n; i++) {
			int rc = iopf_group_respond(gs[i], IOPF_RESP_SUCCESS);

			if (rc)
				return fail(r, rc, "iopf_group_respond: %s",
					    strerror(-rc));
		}
		r->received += (uint64_t)n;
	}
	return lib_flush(r, want);
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
	case C_LIB:
		break;
	}
	return r->c->api == API_PULL ? drain_lib_pull(r, want) :
				       drain_lib_dispatch(r, want);
}

/* -- scenarios: each returns the consumer's time in ns, or -errno -- */

/* N groups queued (round-robin over the sources), then drained. */
static int64_t sc_storm(struct run *r, uint64_t groups)
{
	uint64_t want = r->answered + groups, t0;
	int rc;

	for (uint64_t i = 0; i < groups; i++)
		if ((rc = trigger(r, (unsigned int)(i % r->nsrc))))
			return rc;
	t0 = now_ns();
	rc = drain(r, want);
	return rc ? rc : (int64_t)(now_ns() - t0);
}

/* K groups triggered, then drained, again and again; only the draining is
 * timed (the producer's cost is the same for every contender). */
static int64_t sc_steady(struct run *r, uint64_t groups)
{
	uint64_t total = 0;

	for (uint64_t done = 0; done < groups;) {
		uint64_t k = groups - done < cfg.steady_k ? groups - done : cfg.steady_k;
		uint64_t want = r->answered + k, t0;
		int rc;

		for (uint64_t i = 0; i < k; i++)
			if ((rc = trigger(r, 0)))
				return rc;
		t0 = now_ns();
		if ((rc = drain(r, want)))
			return rc;
		total += now_ns() - t0;
		done += k;
	}
	return (int64_t)total;
}

/* One group at a time: trigger -> received -> answered -> the kernel took
 * the answer (write returned). lat[] gets each round trip. */
static int64_t sc_pingpong(struct run *r, uint64_t groups, uint64_t *lat)
{
	uint64_t total = 0;

	for (uint64_t i = 0; i < groups; i++) {
		uint64_t t0 = now_ns(), dt;
		int rc = trigger(r, 0);

		if (rc || (rc = drain(r, r->answered + 1)))
			return rc;
		dt = now_ns() - t0;
		if (lat)
			lat[i] = dt;
		total += dt;
	}
	return (int64_t)total;
}

static int64_t run_scenario(struct run *r, uint64_t groups, uint64_t *lat)
{
	switch (r->sc) {
	case SC_STORM:
	case SC_16Q:
		return sc_storm(r, groups);
	case SC_STEADY:
		return sc_steady(r, groups);
	case SC_PINGPONG:
		return sc_pingpong(r, groups, lat);
	default:
		return -EINVAL;
	}
}

static void run_teardown(struct run *r)
{
	for (unsigned int i = 0; i < r->nsrc; i++) {
		prod_src_free(r->src[i]);
		iopf_queue_free(r->q[i]);
	}
	iopf_engine_free(r->e);
	prod_session_free(r->s);
	free(r->buf);
	free(r->ans);
}

static int run_setup(struct run *r)
{
	bool skip;
	int rc;

	r->nsrc = r->sc == SC_16Q ? MAX_SRC : 1;
	r->buf = calloc(RAW_RECORDS > cfg.group ? RAW_RECORDS : cfg.group,
			sizeof(*r->buf));
	r->ans = calloc(RAW_RECORDS, sizeof(*r->ans));
	if (!r->buf || !r->ans)
		return fail(r, -ENOMEM, "out of memory");
	rc = prod_session_new(&r->s, &skip);
	if (rc)
		return fail(r, rc, "producer session: %s", strerror(-rc));
	if (r->c->kind == C_LIB) {
		struct iopf_engine_opts eo = { .size = sizeof(eo),
					       .kind = (uint32_t)r->c->engine };
		struct iopf_queue_opts qo = {
			.size = sizeof(qo),
			.batch = r->c->batch,
			.handler =
				r->c->api == API_DISPATCH ? lib_handler : NULL,
			.user = r,
		};

		rc = iopf_engine_new(&eo, &r->e);
		if (rc)
			return fail(r, rc, "iopf_engine_new: %s", strerror(-rc));
		for (unsigned int i = 0; i < r->nsrc; i++) {
			rc = prod_src_new_lib(r->s, r->e, &qo, &r->src[i], &r->q[i]);
			if (rc)
				return fail(r, rc, "libiopf source: %s", strerror(-rc));
		}
		return 0;
	}
	for (unsigned int i = 0; i < r->nsrc; i++) {
		rc = prod_src_new_raw(r->s, r->c->kind == C_QEMU, &r->src[i], &r->ep[i]);
		if (rc)
			return fail(r, rc, "raw source: %s", strerror(-rc));
		r->pfd[i] = (struct pollfd){ .fd = r->ep[i]->poll_fd, .events = POLLIN };
	}
	return 0;
}

static void lib_io_counts(struct run *r, uint64_t *reads, uint64_t *writes,
			  uint64_t *grows)
{
	*reads = *writes = *grows = 0;
	for (unsigned int i = 0; i < r->nsrc; i++) {
		/* Only the answer counters: what a caller that needs no more
		 * asks for (the struct is sized, see iopf_queue_stats(3)). */
		struct iopf_stats st = { .size = sizeof(st) };

		if (r->q[i] && !iopf_queue_stats(r->q[i], &st)) {
			*reads += st.reads;
			*writes += st.writes;
			*grows += st.grows;
		}
	}
}

/* Setup, a warm-up pass of the same scenario (so that buffers and group
 * slots have grown: what is measured is the steady state; what the warm-up
 * allocated is reported apart, as the cold cost), the measured pass, the
 * books, teardown. A storm's warm-up is a whole storm of the same size: how
 * far the library reads ahead depends on the depth of the queue. */
static void run_one(const struct contender *c, enum scenario sc,
		    struct result *res)
{
	struct run r = { .c = c, .sc = sc };
	uint64_t faults = sc == SC_PINGPONG ? cfg.pp_faults : cfg.faults;
	uint64_t groups = faults / cfg.group, warm, a0, ta0, rd0, wr0, rd1, wr1;
	uint64_t gr0, gr1;
	uint64_t *lat = NULL;
	int64_t ns;
	char msg[256];
	int rc;

	memset(res, 0, sizeof(*res));
	if (!groups)
		groups = 1;
	warm = groups / 10;
	if (warm < 2048 / cfg.group)
		warm = 2048 / cfg.group;
	if (sc == SC_STORM || sc == SC_16Q)
		warm = groups;
	if (sc == SC_PINGPONG && warm > 200)
		warm = 200;
	if (warm > groups)
		warm = groups;
	rc = run_setup(&r);
	if (rc)
		goto out;
	if (sc == SC_PINGPONG && !(lat = calloc(groups, sizeof(*lat)))) {
		rc = fail(&r, -ENOMEM, "out of memory");
		goto out;
	}
	ta0 = r.trigger_allocs;
	a0 = bench_allocs();
	ns = run_scenario(&r, warm, NULL);
	res->allocs_cold = bench_allocs() - a0 - (r.trigger_allocs - ta0);
	res->faults_cold = warm * cfg.group;
	if (ns < 0) {
		rc = (int)ns;
		goto out;
	}

	lib_io_counts(&r, &rd0, &wr0, &gr0);
	rd0 += r.reads;
	wr0 += r.writes;
	r.polls = 0;
	ta0 = r.trigger_allocs;
	a0 = bench_allocs();
	ns = run_scenario(&r, groups, lat);
	res->allocs = bench_allocs() - a0 - (r.trigger_allocs - ta0);
	if (ns < 0) {
		rc = (int)ns;
		goto out;
	}
	lib_io_counts(&r, &rd1, &wr1, &gr1);
	/* A buffer the library grew in the measured pass means the warm-up
	 * did not reach the steady state: say so, it explains allocations. */
	if (gr1 > gr0)
		printf("  note: %s grew its read buffers %llu times in the measured pass\n",
		       c->name, (unsigned long long)(gr1 - gr0));
	rd1 += r.reads;
	wr1 += r.writes;
	res->ns = (uint64_t)ns;
	res->faults = groups * cfg.group;
	res->reads_pf = (double)(rd1 - rd0) / (double)res->faults;
	res->writes_pf = (double)(wr1 - wr0) / (double)res->faults;
	res->polls_pf = c->kind == C_LIB ? -1 : (double)r.polls / (double)res->faults;
	if (lat) {
		qsort(lat, groups, sizeof(*lat), cmp_u64);
		res->p50_us = (double)lat[(groups - 1) / 2] / 1000.0;
		res->p99_us = (double)lat[(groups * 99 + 99) / 100 - 1] / 1000.0;
	}
	if (r.answered != r.groups) {
		rc = fail(&r, -EPROTO, "%" PRIu64 " groups triggered, %" PRIu64
			  " answers taken", r.groups, r.answered);
		goto out;
	}
	rc = prod_session_check(r.s, r.groups, msg, sizeof(msg));
	if (rc)
		fail(&r, rc, "%s", msg);
out:
	res->rc = rc;
	if (rc)
		snprintf(res->err, sizeof(res->err), "%s",
			 r.err[0] ? r.err : strerror(-rc));
	free(lat);
	run_teardown(&r);
}

/* ---- reporting ---------------------------------------------------------- */

struct summary {
	bool ran, failed;
	char err[256];
	double fps; /* median faults/s */
	double fps_best, spread; /* the best rep's; best / worst */
	unsigned int nreps;
	double rep_fps[64], rep_p50[64]; /* per rep, in run order */
	double allocs_pf; /* the most of any rep */
	double allocs_cold_pf; /* the warm-up pass, the most of any rep */
	double p50_us, p99_us; /* medians of the reps' */
	double reads_pf, writes_pf, polls_pf; /* medians */
	uint64_t faults;
};

static struct summary sum[SC_COUNT][NCONT];
static const char *tier;
/* What the tables name: the tier, and on the kernel tier the kernel ("kernel 7.3.4"). */
static char tier_label[128];

static void summarise(enum scenario sc, unsigned int ci, struct result *rs,
		      unsigned int n)
{
	struct summary *s = &sum[sc][ci];
	double v[64];

	s->ran = true;
	for (unsigned int i = 0; i < n; i++) {
		if (rs[i].rc) {
			s->failed = true;
			snprintf(s->err, sizeof(s->err), "%s", rs[i].err);
			return;
		}
	}
	s->faults = rs[0].faults;
	s->nreps = n;
	for (unsigned int i = 0; i < n; i++) {
		s->rep_fps[i] = (double)rs[i].faults * 1e9 / (double)rs[i].ns;
		s->rep_p50[i] = rs[i].p50_us;
	}
	for (unsigned int i = 0; i < n; i++)
		v[i] = s->rep_fps[i];
	s->fps = median(v, n);
	s->fps_best = v[n - 1]; /* median() sorted v */
	s->spread = v[0] > 0 ? v[n - 1] / v[0] : 0;
	s->allocs_pf = s->allocs_cold_pf = 0;
	for (unsigned int i = 0; i < n; i++) {
		double a = (double)rs[i].allocs / (double)rs[i].faults;
		double ac = (double)rs[i].allocs_cold / (double)rs[i].faults_cold;

		if (a > s->allocs_pf)
			s->allocs_pf = a;
		if (ac > s->allocs_cold_pf)
			s->allocs_cold_pf = ac;
	}
	for (unsigned int i = 0; i < n; i++)
		v[i] = rs[i].p50_us;
	s->p50_us = median(v, n);
	for (unsigned int i = 0; i < n; i++)
		v[i] = rs[i].p99_us;
	s->p99_us = median(v, n);
	for (unsigned int i = 0; i < n; i++)
		v[i] = rs[i].reads_pf;
	s->reads_pf = median(v, n);
	for (unsigned int i = 0; i < n; i++)
		v[i] = rs[i].writes_pf;
	s->writes_pf = median(v, n);
	for (unsigned int i = 0; i < n; i++)
		v[i] = rs[i].polls_pf;
	s->polls_pf = median(v, n);
}

/*
 * a / b as the median of the reps' paired ratios: rep r of every contender
 * ran in the same round, close in time, so a burst of load on the machine
 * (the VM's host especially) weighs on both sides of a pair, where the
 * ratio of two medians could take them from different rounds.
 */
static double paired(enum scenario sc, unsigned int a, unsigned int b, bool p50)
{
	const struct summary *x = &sum[sc][a], *y = &sum[sc][b];
	double v[64];
	unsigned int n = 0;

	if (!x->ran || !y->ran || x->failed || y->failed || x->nreps != y->nreps)
		return -1;
	for (unsigned int r = 0; r < x->nreps; r++) {
		double num = p50 ? x->rep_p50[r] : x->rep_fps[r];
		double den = p50 ? y->rep_p50[r] : y->rep_fps[r];

		if (den <= 0)
			return -1;
		v[n++] = num / den;
	}
	return n ? median(v, n) : -1;
}

static double ratio_raw(enum scenario sc, unsigned int ci)
{
	return paired(sc, ci, I_RAW, false);
}

static double ratio_p50(enum scenario sc, unsigned int ci)
{
	return sc == SC_PINGPONG ? paired(sc, ci, I_PERFAULT, true) : -1;
}

static void print_table(enum scenario sc)
{
	bool pp = sc == SC_PINGPONG;
	uint64_t faults = 0;

	for (unsigned int ci = 0; ci < NCONT; ci++)
		if (sum[sc][ci].ran && !sum[sc][ci].failed)
			faults = sum[sc][ci].faults;
	printf("\n[%s] %s: %" PRIu64 " faults%s, groups of %u, median of %u run%s\n",
	       tier_label, scenario_names[sc], faults,
	       sc == SC_16Q ? " over 16 queues" :
	       sc == SC_STEADY ? " in bursts" : "",
	       cfg.group, cfg.reps, cfg.reps == 1 ? "" : "s");
	printf("  %-20s %12s %6s %8s %8s %8s %7s %7s %7s", "contender", "faults/s",
	       "spread", "x raw", "alloc/f", "cold a/f", "read/f", "write/f", "poll/f");
	if (pp)
		printf(" %9s %9s %9s", "p50 us", "p99 us", "p50 x pf");
	printf("\n");
	for (unsigned int ci = 0; ci < NCONT; ci++) {
		const struct summary *s = &sum[sc][ci];
		double rr = ratio_raw(sc, ci);

		if (!s->ran)
			continue;
		if (s->failed) {
			printf("  %-20s FAILED: %s\n", contenders[ci].name, s->err);
			continue;
		}
		printf("  %-20s %12.0f %5.2fx ", contenders[ci].name, s->fps, s->spread);
		if (rr >= 0)
			printf("%7.2fx", rr);
		else
			printf("%8s", "-");
		if (strcmp(bench_alloc_impl, "none"))
			printf(" %8.3f %8.3f", s->allocs_pf, s->allocs_cold_pf);
		else
			printf(" %8s %8s", "-", "-");
		printf(" %7.3f %7.3f ", s->reads_pf, s->writes_pf);
		if (s->polls_pf >= 0)
			printf("%7.3f", s->polls_pf);
		else
			printf("%7s", "-");
		if (pp) {
			double rp = ratio_p50(sc, ci);

			printf(" %9.2f %9.2f ", s->p50_us, s->p99_us);
			if (rp >= 0)
				printf("%8.2fx", rp);
			else
				printf("%9s", "-");
		}
		printf("\n");
	}
	fflush(stdout);
}

static void json_line(FILE *f, enum scenario sc, unsigned int ci)
{
	const struct summary *s = &sum[sc][ci];
	double rr = ratio_raw(sc, ci), rp = ratio_p50(sc, ci);

	fprintf(f, "{\"tier\":\"%s\",\"scenario\":\"%s\",\"contender\":\"%s\"",
		tier, scenario_names[sc], contenders[ci].name);
	if (s->failed) {
		fprintf(f, ",\"status\":\"failed\",\"error\":\"");
		for (const char *p = s->err; *p; p++)
			fputc(*p == '"' || *p == '\\' ? '\'' : (*p < ' ' ? ' ' : *p), f);
		fprintf(f, "\"}\n");
		return;
	}
	fprintf(f, ",\"status\":\"ok\",\"faults\":%" PRIu64 ",\"group\":%u,\"reps\":%u",
		s->faults, cfg.group, cfg.reps);
	fprintf(f, ",\"faults_per_s\":%.0f,\"faults_per_s_best\":%.0f,\"spread\":%.3f",
		s->fps, s->fps_best, s->spread);
	if (rr >= 0)
		fprintf(f, ",\"ratio_raw\":%.4f", rr);
	else
		fprintf(f, ",\"ratio_raw\":null");
	if (!strcmp(bench_alloc_impl, "none"))
		fprintf(f, ",\"allocs_per_fault\":null");
	else
		fprintf(f, ",\"allocs_per_fault\":%.6f,\"allocs_per_fault_cold\":%.6f",
			s->allocs_pf, s->allocs_cold_pf);
	fprintf(f, ",\"reads_per_fault\":%.4f,\"writes_per_fault\":%.4f",
		s->reads_pf, s->writes_pf);
	if (sc == SC_PINGPONG) {
		fprintf(f, ",\"p50_us\":%.3f,\"p99_us\":%.3f", s->p50_us, s->p99_us);
		if (rp >= 0)
			fprintf(f, ",\"ratio_p50_perfault\":%.4f", rp);
		else
			fprintf(f, ",\"ratio_p50_perfault\":null");
	}
	fprintf(f, "}\n");
}

/* The targets, as this run measured them: information, not a
 * verdict on the exit status (timing is not asserted). */
static void print_targets(void)
{
	int best = -1;

	printf("\n[%s] targets (measured on this tier; the storm target is "
	       "stated for the real kernel)\n", tier_label);
	if (sum[SC_STORM][I_RAW].ran && !sum[SC_STORM][I_RAW].failed) {
		for (unsigned int ci = 0; ci < NCONT; ci++) {
			const struct summary *s = &sum[SC_STORM][ci];

			if (contenders[ci].kind == C_LIB && s->ran && !s->failed &&
			    (best < 0 || ratio_raw(SC_STORM, ci) >
						 ratio_raw(SC_STORM, (unsigned int)best)))
				best = (int)ci;
		}
	}
	if (best >= 0) {
		double rr = ratio_raw(SC_STORM, (unsigned int)best);
		double rpf = paired(SC_STORM, (unsigned int)best, I_PERFAULT, false);

		printf("  storm: best libiopf (%s) %.2fx raw-batched (target >= 0.90): %s\n",
		       contenders[best].name, rr, rr >= 0.9 ? "met" : "NOT met");
		if (rpf >= 0)
			printf("  storm: best libiopf %.2fx per-fault (target >= 2.00): %s\n",
			       rpf, rpf >= 2.0 ? "met" : "NOT met");
	}
	{
		double up = paired(SC_16Q, I_URING, I_PLAIN, false);

		if (up >= 0)
			printf("  16queues: libiopf-uring %.2fx libiopf-plain (target >= 1.00): %s\n",
			       up, up >= 1.0 ? "met" : "NOT met");
	}
	for (unsigned int ci = 0; ci < NCONT; ci++) {
		double rp = ratio_p50(SC_PINGPONG, ci);

		if (contenders[ci].kind == C_LIB && rp >= 0)
			printf("  pingpong: %s p50 %.2fx per-fault's (target <= 1.20): %s\n",
			       contenders[ci].name, rp, rp <= 1.2 ? "met" : "NOT met");
	}
	if (strcmp(bench_alloc_impl, "none")) {
		double worst = 0;
		int any = 0;

		for (unsigned int sc = 0; sc < SC_COUNT; sc++)
			for (unsigned int ci = 0; ci < NCONT; ci++) {
				const struct summary *s = &sum[sc][ci];

				if (contenders[ci].kind != C_LIB || !s->ran || s->failed)
					continue;
				any = 1;
				if (s->allocs_pf > worst)
					worst = s->allocs_pf;
			}
		if (any)
			printf("  allocations per fault, every libiopf contender and scenario: "
			       "at most %.4f (target 0): %s\n",
			       worst, worst == 0 ? "met" : "NOT met");
	}
}

/* ---- main --------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: iopf-bench [--tier mock|kernel] [--faults N] [--reps R]\n"
		"                  [--scenario storm,steady,pingpong,16queues|all]\n"
		"                  [--contenders NAME,...] [--group G] [--steady-k K]\n"
		"                  [--pingpong-faults N] [--timeout MS] [--json FILE]\n"
		"                  [--quick]\n"
		"contenders:");
	for (unsigned int i = 0; i < NCONT; i++)
		fprintf(f, " %s", contenders[i].name);
	fprintf(f, "\nthis binary's tier: %s\n", bench_prod_tier);
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

static bool parse_list(const char *arg, const char *const *names,
		       unsigned int n, size_t stride, bool *on)
{
	char buf[512], *save = NULL;

	if (strlen(arg) >= sizeof(buf))
		return false;
	strcpy(buf, arg);
	memset(on, 0, n * sizeof(*on));
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		bool found = false;

		if (!strcmp(t, "all")) {
			for (unsigned int i = 0; i < n; i++)
				on[i] = true;
			continue;
		}
		for (unsigned int i = 0; i < n; i++) {
			const char *name = *(const char *const *)(const void *)
				((const char *)names + i * stride);

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

static int parse_args(int argc, char **argv)
{
	uint64_t v;
	bool faults_set = false, reps_set = false, pp_set = false;

	cfg.faults = bench_prod_default_faults;
	cfg.reps = bench_prod_default_reps;
	cfg.group = 1;
	cfg.steady_k = 64;
	cfg.timeout_ms = 10000;
	for (unsigned int i = 0; i < SC_COUNT; i++)
		cfg.scen[i] = true;
	for (unsigned int i = 0; i < NCONT; i++)
		cfg.cont[i] = true;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

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
					"iopf-bench: this binary was built for the %s tier, not '%s'%s\n",
					bench_prod_tier, val,
					!strcmp(val, "kernel") ?
						" (the kernel tier's bench is built and run by "
						"`meson test --suite kernel`)" : "");
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
			if (!parse_u64(val, &v, 1, 63))
				goto bad;
			cfg.reps = (unsigned int)v;
			reps_set = true;
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
		} else if (!strcmp(a, "--scenario") || !strcmp(a, "--scenarios")) {
			NEED_VAL;
			if (!parse_list(val, scenario_names, SC_COUNT,
					sizeof(scenario_names[0]), cfg.scen))
				goto bad;
		} else if (!strcmp(a, "--contenders") || !strcmp(a, "--contender")) {
			NEED_VAL;
			if (!parse_list(val, &contenders[0].name, NCONT,
					sizeof(contenders[0]), cfg.cont))
				goto bad;
		} else if (!strcmp(a, "--quick")) {
			cfg.quick = true;
		} else {
			fprintf(stderr, "iopf-bench: unknown argument '%s'\n", a);
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
	}
	if (!pp_set) {
		cfg.pp_faults = cfg.faults / 5;
		if (cfg.pp_faults > 20000)
			cfg.pp_faults = 20000;
		if (cfg.pp_faults < 100)
			cfg.pp_faults = cfg.faults < 100 ? cfg.faults : 100;
	}
	if (cfg.faults < MAX_SRC * cfg.group)
		cfg.faults = MAX_SRC * cfg.group;
	return 0;
}

int main(int argc, char **argv)
{
	struct result rs[64];
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
			snprintf(tier_label, sizeof(tier_label), "kernel %s", u.release);
	}

	/* Can this tier run here at all? */
	{
		struct prod_session *s;
		bool skip;

		rc = prod_session_new(&s, &skip);
		if (rc) {
			fprintf(stderr, "iopf-bench: the %s tier cannot run here: %s\n",
				tier, strerror(-rc));
			return skip ? 77 : 1;
		}
		prod_session_free(s);
	}

	printf("iopf-bench: tier %s, %" PRIu64 " faults per run (ping-pong %" PRIu64
	       "), groups of %u, steady bursts of %u, %u rep%s (median; order "
	       "alternates), allocation counter: %s\n",
	       tier, cfg.faults, cfg.pp_faults, cfg.group, cfg.steady_k, cfg.reps,
	       cfg.reps == 1 ? "" : "s", bench_alloc_impl);
	printf("producer: %s\n", bench_prod_note);
	printf("ratios (x raw, p50 x pf, targets): median over the reps of the "
	       "ratio within each rep\n");
	printf("hand loops: own fault queue and fd each (qemu-style sets O_NONBLOCK, "
	       "as QEMU does); libiopf sets O_NONBLOCK on its queues\n");

	for (unsigned int sc = 0; sc < SC_COUNT; sc++) {
		unsigned int order[NCONT], n = 0;

		if (!cfg.scen[sc])
			continue;
		for (unsigned int ci = 0; ci < NCONT; ci++)
			if (cfg.cont[ci])
				order[n++] = ci;
		{
			static struct result all[NCONT][64];

			for (unsigned int rep = 0; rep < cfg.reps; rep++) {
				for (unsigned int k = 0; k < n; k++) {
					unsigned int ci = rep % 2 ? order[n - 1 - k] : order[k];

					run_one(&contenders[ci], (enum scenario)sc,
						&all[ci][rep]);
					if (all[ci][rep].rc)
						fprintf(stderr, "iopf-bench: %s %s rep %u: %s\n",
							scenario_names[sc], contenders[ci].name,
							rep, all[ci][rep].err);
				}
			}
			for (unsigned int k = 0; k < n; k++) {
				memcpy(rs, all[order[k]], cfg.reps * sizeof(rs[0]));
				summarise((enum scenario)sc, order[k], rs, cfg.reps);
				if (sum[sc][order[k]].failed)
					any_failed = true;
			}
		}
		print_table((enum scenario)sc);
	}
	print_targets();

	if (cfg.json) {
		jf = fopen(cfg.json, "w");
		if (!jf) {
			fprintf(stderr, "iopf-bench: %s: %s\n", cfg.json, strerror(errno));
			return 1;
		}
	} else {
		printf("\n");
	}
	for (unsigned int sc = 0; sc < SC_COUNT; sc++)
		for (unsigned int ci = 0; ci < NCONT; ci++)
			if (sum[sc][ci].ran)
				json_line(jf, (enum scenario)sc, ci);
	if (jf != stdout && fclose(jf)) {
		fprintf(stderr, "iopf-bench: %s: %s\n", cfg.json, strerror(errno));
		return 1;
	}
	printf("\niopf-bench: %s in %.1f s\n", any_failed ? "FAILED" : "done",
	       (double)(now_ns() - t_start) / 1e9);
	return any_failed ? 1 : 0;
}
