/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * iopf-bench-vevent: a storm of vIOMMU events through libiopf's engines
 * against the loops VMMs write by hand, side by side in one process.
 *
 * Each rep, for each contender in turn (the order rotates every rep): a fresh
 * vEVENTQ with room for all of them, N events raised (not timed), then the
 * drain timed until the contender has consumed N: wall time, and CPU time of
 * every thread of the process (getrusage(RUSAGE_SELF): io-wq workers too).
 * Contenders:
 *   qemu-style     one event per read(2), as QEMU 11.1's SMMUv3-accel and
 *                  Tegra241 code reads its vEVENTQ
 *   openvmm-style  16 events per read(2), as OpenVMM
 *   raw-batched    BATCH events per read(2): the best a hand-written loop does
 *   libiopf-uring, libiopf-plain
 *                  iopf_veventq_new(batch BATCH) on an engine, handed out by
 *                  iopf_engine_dispatch() to a handler that counts them
 * Reported per contender: the median of ns per event (wall and CPU), its
 * spread over the reps (min-max), allocations per event, and paired ratios:
 * events/s against the qemu-style loop and against raw-batched, each the
 * median of the per-rep ratios. A targets block closes: best engine >= 10x
 * qemu-style and >= 0.95x raw-batched.
 *
 *   iopf-bench-vevent [--events N] [--reps R] [--quick]
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <libiopf.h>

#include "alloc.h"
#include "cg.h"
#include "vproducer.h"

#define BATCH	 256
#define HDR	 8u
#define MAX_REPS 64

enum { C_QEMU, C_OPENVMM, C_RAW, C_URING, C_PLAIN, NCONT };
static const char *const names[NCONT] = {"qemu-style", "openvmm-style",
					 "raw-batched", "libiopf-uring",
					 "libiopf-plain"};

struct sample {
	double wall, cpu; /* ns per event */
	double allocs; /* per event */
};

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static uint64_t cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) *
		       1000000000ull +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) *
		       1000ull;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double med(const double *v, unsigned int n)
{
	double t[MAX_REPS];

	memcpy(t, v, n * sizeof(*t));
	qsort(t, n, sizeof(*t), cmp_dbl);
	return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

static uint64_t counted;

static int count_events(struct iopf_veventq *vq, const struct iopf_vevent *evs,
			unsigned int n, void *user)
{
	(void)vq;
	(void)user;
	for (unsigned int i = 0; i < n; i++)
		counted += !(evs[i].flags & IOPF_VEVENT_LOST);
	return 0;
}

/*
 * A hand-written loop: per events a read, until n are in; a read that finds
 * nothing is retried (all were raised before the clock started). Each record
 * is looked at as a correct VMM must: its header's flags (a LOST_EVENTS
 * record has no payload) and its sequence against the last (the events lost
 * between, modulo 2^31), its payload handed on (here: counted), as the
 * library's handler gets it.
 */
static int drain_raw(struct prod_ep *ep, unsigned char *buf, uint32_t rec,
		     uint32_t per, uint64_t n, uint64_t *lost)
{
	uint64_t got = 0;
	uint32_t next = 0;
	unsigned int idle = 0;

	while (got < n) {
		ssize_t r = prod_read(ep, buf, (size_t)per * rec);
		size_t off = 0;

		if (r < 0 && r != -EAGAIN)
			return (int)r;
		if (r <= 0) {
			if (++idle > 1000000)
				return -ETIMEDOUT;
			continue;
		}
		while (off + HDR <= (size_t)r) {
			uint32_t flags, seq;

			memcpy(&flags, buf + off, 4);
			memcpy(&seq, buf + off + 4, 4);
			*lost += (seq - next) & 0x7fffffffu;
			next = (seq + 1) & 0x7fffffffu;
			if (flags & 1u) { /* IOMMU_VEVENTQ_FLAG_LOST_EVENTS */
				(*lost)++;
				off += HDR;
				continue;
			}
			counted++;
			off += rec;
		}
		got = counted;
	}
	return 0;
}

static int run_one(struct vprod *p, int c, uint64_t n, struct sample *out)
{
	uint32_t rec = HDR + vprod_payload(p), id = 0;
	static unsigned char buf[BATCH * (HDR + 64)];
	struct iopf_engine *e = NULL;
	struct iopf_veventq *vq = NULL;
	struct prod_ep ep = {.fd = -1};
	uint64_t t0, c0, a0, lost = 0;
	int rc;

	counted = 0;
	if (c >= C_URING) {
		struct iopf_engine_opts eo = {
			.size = sizeof(eo),
			.kind = c == C_URING ? IOPF_ENGINE_URING
					     : IOPF_ENGINE_PLAIN};
		struct iopf_veventq_opts vo = {.size = sizeof(vo),
					       .type = vprod_type(p),
					       .depth = (uint32_t)n,
					       .batch = BATCH,
					       .handler = count_events};

		rc = iopf_engine_new(&eo, &e);
		if (!rc)
			rc = iopf_veventq_new(vprod_ctx(p), e, vprod_viommu(p),
					      &vo, &vq);
	} else {
		rc = vprod_raw_new(p, (uint32_t)n, &ep, &id);
	}
	if (!rc)
		rc = vprod_raise(p, n);
	if (rc)
		goto out;
	a0 = bench_allocs();
	c0 = cpu_ns();
	t0 = now_ns();
	/* Under callgrind (callgrind.sh --vevent): the drain only, a dump
	 * per contender and rep; an event counts as a "fault" there. */
	if (RUNNING_ON_VALGRIND)
		CALLGRIND_TOGGLE_COLLECT;
	if (c >= C_URING) {
		for (unsigned int spins = 0; counted < n && rc >= 0;)
			if ((rc = iopf_engine_dispatch(e, 0)) == 0 &&
			    ++spins > 1000000)
				rc = -ETIMEDOUT;
		if (rc > 0)
			rc = 0;
	} else {
		rc = drain_raw(&ep, buf, rec,
			       c == C_QEMU	? 1
			       : c == C_OPENVMM ? 16
						: BATCH,
			       n, &lost);
		if (!rc && lost)
			rc = -EPROTO; /* the queue had room for every event */
	}
	if (RUNNING_ON_VALGRIND) {
		char desc[96];

		CALLGRIND_TOGGLE_COLLECT;
		/* callgrind.sh reads the words after "iopf-bench". */
		snprintf(desc, sizeof(desc),
			 "iopf-bench scenario=vevent contender=%s "
			 "faults=%" PRIu64,
			 names[c], n);
		CALLGRIND_DUMP_STATS_AT(desc);
	}
	out->wall = (double)(now_ns() - t0) / (double)n;
	out->cpu = (double)(cpu_ns() - c0) / (double)n;
	out->allocs = (double)(bench_allocs() - a0) / (double)n;
out:
	if (c >= C_URING) {
		iopf_veventq_free(vq);
		iopf_engine_free(e);
	} else if (id) {
		vprod_raw_free(p, &ep, id);
	}
	return rc;
}

int main(int argc, char **argv)
{
	static struct sample s[NCONT][MAX_REPS];
	uint64_t n = vprod_default_events;
	unsigned int reps = vprod_default_reps;
	double best_q[MAX_REPS], best_r[MAX_REPS];
	struct vprod *p = NULL;
	bool skip = false;
	int rc, best = C_URING;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--events") && i + 1 < argc)
			n = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = (unsigned int)strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--quick"))
			n = 2000, reps = 3;
		else {
			fprintf(stderr, "usage: iopf-bench-vevent [--events N] "
					"[--reps R] [--quick]\n");
			return 2;
		}
	}
	if (!n || n > (1u << 19) || !reps || reps > MAX_REPS) {
		fprintf(stderr,
			"iopf-bench-vevent: events 1..524288, reps 1..%d\n",
			MAX_REPS);
		return 2;
	}
	rc = vprod_new(&p, &skip);
	if (rc) {
		printf("iopf-bench-vevent: %s: %s\n", skip ? "SKIP" : "FAIL",
		       strerror(-rc));
		return skip ? 77 : 1;
	}
	printf("vevent storm: %" PRIu64
	       " events a rep, %u reps (contenders alternated), "
	       "%u-byte records, batch %u; %s; allocator %s\n",
	       n, reps, HDR + vprod_payload(p), BATCH, vprod_note,
	       bench_alloc_impl);
	for (unsigned int r = 0; r < reps; r++) {
		for (int k = 0; k < NCONT; k++) {
			int c = (k + (int)r) % NCONT;

			rc = run_one(p, c, n, &s[c][r]);
			if (rc) {
				printf("iopf-bench-vevent: FAIL: %s rep %u: "
				       "%s\n",
				       names[c], r, strerror(-rc));
				vprod_free(p);
				return 1;
			}
		}
	}
	printf("%-14s %12s %19s %12s %10s %12s %12s\n", "contender", "ns/event",
	       "spread", "cpu ns/ev", "allocs/ev", "x qemu", "x raw");
	for (int c = 0; c < NCONT; c++) {
		double w[MAX_REPS], cp[MAX_REPS], xq[MAX_REPS], xr[MAX_REPS];
		double lo = 1e300, hi = 0, al = 0;

		for (unsigned int r = 0; r < reps; r++) {
			w[r] = s[c][r].wall;
			cp[r] = s[c][r].cpu;
			xq[r] = s[C_QEMU][r].wall / s[c][r].wall;
			xr[r] = s[C_RAW][r].wall / s[c][r].wall;
			lo = w[r] < lo ? w[r] : lo;
			hi = w[r] > hi ? w[r] : hi;
			al = s[c][r].allocs > al ? s[c][r].allocs : al;
		}
		printf("%-14s %12.1f %8.1f-%-10.1f %12.1f %10.4f %11.2fx "
		       "%11.2fx\n",
		       names[c], med(w, reps), lo, hi, med(cp, reps), al,
		       med(xq, reps), med(xr, reps));
	}
	/* The best engine: the lower median wall time. */
	{
		double wu[MAX_REPS], wp[MAX_REPS];

		for (unsigned int r = 0; r < reps; r++) {
			wu[r] = s[C_URING][r].wall;
			wp[r] = s[C_PLAIN][r].wall;
		}
		best = med(wu, reps) <= med(wp, reps) ? C_URING : C_PLAIN;
	}
	for (unsigned int r = 0; r < reps; r++) {
		best_q[r] = s[C_QEMU][r].wall / s[best][r].wall;
		best_r[r] = s[C_RAW][r].wall / s[best][r].wall;
	}
	{
		double q = med(best_q, reps), rr = med(best_r, reps);
		double qlo = 1e300, rlo = 1e300, qhi = 0, rhi = 0, al = 0;

		for (unsigned int r = 0; r < reps; r++) {
			qlo = best_q[r] < qlo ? best_q[r] : qlo;
			qhi = best_q[r] > qhi ? best_q[r] : qhi;
			rlo = best_r[r] < rlo ? best_r[r] : rlo;
			rhi = best_r[r] > rhi ? best_r[r] : rhi;
			/* The mock allocates for every new vEVENTQ's first
			 * read, for raw loops and the library alike: what the
			 * library allocates is what it adds. */
			for (int c = C_URING; c <= C_PLAIN; c++) {
				double d = s[c][r].allocs - s[C_RAW][r].allocs;

				al = d > al ? d : al;
			}
		}
		printf("targets (vevent storm, best engine %s):\n",
		       names[best]);
		printf("  >= 10x qemu-style events/s: %.2fx (spread %.2f-%.2f) "
		       "%s\n",
		       q, qlo, qhi, q >= 10 ? "PASS" : "FAIL");
		printf("  >= 0.95x raw-batched events/s: %.2fx (spread "
		       "%.2f-%.2f) %s\n",
		       rr, rlo, rhi, rr >= 0.95 ? "PASS" : "FAIL");
		printf("  0 allocations per event (both engines, beyond the "
		       "raw loop's): %.4f %s\n",
		       al, al == 0 ? "PASS" : "FAIL");
	}
	vprod_free(p);
	/* Figures, not a test: the verdicts are printed, the exit is 0. */
	return 0;
}
