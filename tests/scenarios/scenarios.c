/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The same scenarios on the mock kernel and on the real one (plat.h), on both
 * engines, through the public API only. Each prints one line
 *   scenario <name> <engine>: PASS | FAIL <why> | N/A <why>
 * and the program exits non-zero if any failed. Where the two platforms must
 * differ, the scenario says so where it branches on plat_name.
 *
 *   scenarios [--engine uring|plain] [--only NAME] [--faults N] [--kernel 6.12|7.3]
 *             [--expect 6.12|7.3] [--stock]
 *
 * What a scenario expects comes from the kernel it runs on (plat_kernel(): the
 * mock's mode, or uname on the real kernel) and from iopf_ctx_probe(), never
 * from a fixed version. --kernel picks the mock's mode (on the real kernel it
 * only sets the expectation); --expect sets the expectation of another kernel
 * than the one running, and then the scenarios where the two differ fail (the
 * unit suite checks that they do). --stock (or the name scenarios-stock)
 * runs the list as on a kernel without libiopf's test patches: the path of
 * kt_patched() == 0, where multi-record groups are N/A.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plat.h"

struct env {
	struct plat *p;
	struct iopf_ctx *ctx;
	struct iopf_engine *e;
	int kind, kernel;
	unsigned long faults;
	char why[256];
};

/* What the answered callback saw. */
struct outcomes {
	struct iopf_group *chain; /* answered from the callback, once */
	unsigned int n, ok, stale, other, invalid_ok;
	int results[4096];
	uint64_t tags[4096];
};

static void answered(struct iopf_queue *q, uint64_t tag, uint32_t cookie,
		     uint32_t code, int result, void *user)
{
	struct outcomes *o = user;

	if (o->n < 4096) {
		o->results[o->n] = result;
		o->tags[o->n] = tag;
	}
	o->n++;
	if (o->chain) {
		struct iopf_group *g = o->chain;

		o->chain = NULL;
		iopf_group_respond(g, IOPF_RESP_SUCCESS);
	}
	if (result == 0) {
		o->ok++;
		if (code == IOPF_RESP_INVALID)
			o->invalid_ok++;
	} else if (result == -EINVAL) {
		o->stale++;
	} else {
		o->other++;
	}
}

static int fail(struct env *env, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(env->why, sizeof(env->why), fmt, ap);
	va_end(ap);
	return -1;
}

#define CHECK(env, cond, ...)                                                   \
	do {                                                                    \
		if (!(cond))                                                    \
			return fail(env, __VA_ARGS__);                          \
	} while (0)

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A queue with a nested HWPT on dev reporting into it, dev attached. */
struct qdev {
	struct iopf_queue *q;
	uint32_t dev, hwpt;
	struct outcomes *o;
};

static int qdev_new(struct env *env, struct qdev *d, const struct iopf_queue_opts *opts,
		    struct iopf_queue *share)
{
	struct iopf_queue_opts qo = { .size = sizeof(qo) };
	struct iopf_hwpt_args a = { .size = sizeof(a) };
	int rc;

	if (opts)
		qo = *opts;
	qo.answered = answered;
	qo.user = d->o;
	rc = plat_dev_new(env->p, &d->dev);
	CHECK(env, !rc, "plat_dev_new: %s", strerror(-rc));
	if (share) {
		d->q = share;
	} else {
		rc = iopf_queue_new(env->ctx, env->e, &qo, &d->q);
		CHECK(env, !rc, "iopf_queue_new: %s (%s)", strerror(-rc),
		      iopf_ctx_errmsg(env->ctx));
	}
	rc = plat_nested_args(env->p, d->dev, &a);
	CHECK(env, !rc, "plat_nested_args: %s", strerror(-rc));
	rc = iopf_hwpt_alloc(env->ctx, d->q, &a, &d->hwpt);
	CHECK(env, !rc, "iopf_hwpt_alloc: %s (%s)", strerror(-rc),
	      iopf_ctx_errmsg(env->ctx));
	rc = plat_attach(env->p, d->dev, d->hwpt);
	CHECK(env, !rc, "attach: %s", strerror(-rc));
	return 0;
}

/* Teardown in a VMM's order: detach, destroy the HWPT, free the queue. */
static int qdev_free(struct env *env, struct qdev *d, bool free_queue)
{
	int rc = 0, r;

	if (d->hwpt) {
		r = plat_detach(env->p, d->dev);
		if (r && !rc)
			rc = fail(env, "detach: %s", strerror(-r));
		r = iopf_destroy(env->ctx, d->hwpt);
		if (r && !rc)
			rc = fail(env, "destroy hwpt: %s", strerror(-r));
		d->hwpt = 0;
	}
	if (free_queue) {
		iopf_queue_free(d->q);
		d->q = NULL;
	}
	return rc;
}

static int get_stats(struct iopf_queue *q, struct iopf_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	return iopf_queue_stats(q, st);
}

/* Pulls until n groups arrived or 5 s passed. */
static int pull_n(struct env *env, struct iopf_group **gs, unsigned int n)
{
	unsigned int got = 0;
	uint64_t end = now_ms() + 5000;

	while (got < n && now_ms() < end) {
		int rc = iopf_engine_wait(env->e, 100);

		if (rc < 0)
			return fail(env, "iopf_engine_wait: %s", strerror(-rc));
		rc = iopf_engine_pull(env->e, gs + got, n - got);
		if (rc < 0)
			return fail(env, "iopf_engine_pull: %s", strerror(-rc));
		got += (unsigned int)rc;
	}
	if (got != n)
		return fail(env, "got %u groups of %u", got, n);
	return 0;
}

/* ---- scenarios --------------------------------------------------------- */

static int sc_probe(struct env *env)
{
	uint64_t feat = 0;
	int rc = iopf_ctx_probe(env->ctx, &feat);

	int k = env->kernel;
	bool veventq = k >= 615; /* IOMMU_VEVENTQ_ALLOC came in 6.15 */

	CHECK(env, rc == 0, "probe: %s (%s)", strerror(-rc), iopf_ctx_errmsg(env->ctx));
	CHECK(env, (feat & (IOPF_FEAT_FAULT_QUEUE | IOPF_FEAT_HWPT_FAULT_ID)) ==
			   (IOPF_FEAT_FAULT_QUEUE | IOPF_FEAT_HWPT_FAULT_ID),
	      "features 0x%llx", (unsigned long long)feat);
	CHECK(env, !!(feat & IOPF_FEAT_VEVENTQ) == veventq, "vEVENTQ %s, expecting %d.%d",
	      feat & IOPF_FEAT_VEVENTQ ? "reported" : "not reported", k / 100, k % 100);
	return 0;
}

/* The full flow: faults triggered in bursts, received, answered; the kernel
 * took every answer. */
static int sc_flow(struct env *env)
{
	struct outcomes o = { 0 };
	struct qdev d = { .o = &o };
	struct iopf_stats st;
	struct iopf_group *gs[256];
	unsigned long done = 0;
	int rc;

	if (qdev_new(env, &d, NULL, NULL))
		return -1;
	while (done < env->faults) {
		unsigned int burst = env->faults - done < 256 ? (unsigned int)(env->faults - done) : 256;

		for (unsigned int i = 0; i < burst; i++) {
			rc = plat_fault(env->p, d.dev, (uint32_t)((done + i) & 0x1ff),
					0x10000000ull + ((done + i) << 12),
					IOPF_PERM_READ | IOPF_PERM_WRITE, 1);
			CHECK(env, !rc, "fault: %s", strerror(-rc));
		}
		if (pull_n(env, gs, burst))
			return -1;
		for (unsigned int i = 0; i < burst; i++) {
			const struct iopf_fault *f = iopf_group_fault(gs[i], 0);

			CHECK(env, iopf_group_count(gs[i]) == 1, "count %u", iopf_group_count(gs[i]));
			CHECK(env, f->dev_id == d.dev, "dev_id %u, want %u", f->dev_id, d.dev);
			CHECK(env, f->addr == 0x10000000ull + ((done + i) << 12),
			      "addr 0x%llx", (unsigned long long)f->addr);
			CHECK(env, f->grpid == ((done + i) & 0x1ff), "grpid %u", f->grpid);
			CHECK(env, f->perm == (IOPF_PERM_READ | IOPF_PERM_WRITE), "perm 0x%x", f->perm);
			CHECK(env, f->flags & IOPF_FAULT_LAST_PAGE, "no LAST_PAGE");
			CHECK(env, f->cookie != 0 && f->cookie == iopf_group_cookie(gs[i]), "cookie");
			rc = iopf_group_respond(gs[i], IOPF_RESP_SUCCESS);
			CHECK(env, !rc, "respond: %s", strerror(-rc));
		}
		done += burst;
	}
	rc = iopf_engine_flush(env->e);
	CHECK(env, !rc, "flush: %s", strerror(-rc));
	get_stats(d.q, &st);
	CHECK(env, st.faults == env->faults && st.groups == env->faults,
	      "faults %llu groups %llu", (unsigned long long)st.faults,
	      (unsigned long long)st.groups);
	CHECK(env, st.answers_success == env->faults && o.ok == env->faults,
	      "taken %llu / callback %u of %lu", (unsigned long long)st.answers_success,
	      o.ok, env->faults);
	CHECK(env, !st.answers_stale && !st.answers_failed, "stale %llu failed %llu",
	      (unsigned long long)st.answers_stale, (unsigned long long)st.answers_failed);
	CHECK(env, st.writes <= st.reads + 1 + env->faults / 256,
	      "answers not coalesced: %llu writes for %llu reads",
	      (unsigned long long)st.writes, (unsigned long long)st.reads);
	return qdev_free(env, &d, true);
}

/* An empty queue: a wait times out, without spinning on reads. */
static int sc_empty(struct env *env)
{
	struct outcomes o = { 0 };
	struct qdev d = { .o = &o };
	struct iopf_stats st;
	uint64_t t0;
	int rc;

	if (qdev_new(env, &d, NULL, NULL))
		return -1;
	t0 = now_ms();
	rc = iopf_engine_wait(env->e, 200);
	CHECK(env, rc == 0, "wait on an empty queue: %d", rc);
	CHECK(env, now_ms() - t0 >= 190, "wait returned after %llu ms",
	      (unsigned long long)(now_ms() - t0));
	get_stats(d.q, &st);
	CHECK(env, st.reads <= 4, "%llu reads while empty", (unsigned long long)st.reads);
	return qdev_free(env, &d, true);
}

/*
 * Before 6.13 a fault id goes on nested HWPTs only: a paging one gets the
 * library's clear error. From 6.13 (7.3 measured) a paging HWPT reports into
 * the queue, end to end: the demand-paging case.
 */
static int sc_paging(struct env *env)
{
	struct outcomes o = { 0 };
	struct qdev d = { .o = &o };
	struct iopf_hwpt_args a = { .size = sizeof(a) };
	struct iopf_group *g;
	struct iopf_stats st;
	uint32_t hwpt = 0;
	int k = env->kernel, rc;

	if (qdev_new(env, &d, NULL, NULL))
		return -1;
	a.dev_id = d.dev;
	a.pt_id = plat_ioas(env->p, d.dev);
	rc = iopf_hwpt_alloc(env->ctx, d.q, &a, &hwpt);
	if (k < 613) {
		CHECK(env, rc == -EOPNOTSUPP, "paging HWPT with a fault id on %d.%d: %d",
		      k / 100, k % 100, rc);
		CHECK(env, strstr(iopf_ctx_errmsg(env->ctx), "6.13") != NULL, "message: %s",
		      iopf_ctx_errmsg(env->ctx));
		return qdev_free(env, &d, true);
	}
	CHECK(env, rc == 0, "paging HWPT with a fault id on %d.%d: %d (%s)", k / 100, k % 100,
	      rc, iopf_ctx_errmsg(env->ctx));
	rc = plat_attach(env->p, d.dev, hwpt);
	CHECK(env, !rc, "attach to the paging HWPT: %s", strerror(-rc));
	for (unsigned int i = 0; i < 16; i++) {
		rc = plat_fault(env->p, d.dev, i, 0x200000ull + (i << 12), IOPF_PERM_WRITE, 1);
		CHECK(env, !rc, "fault: %s", strerror(-rc));
		if (pull_n(env, &g, 1))
			return -1;
		CHECK(env, iopf_group_fault(g, 0)->addr == 0x200000ull + (i << 12) &&
				   iopf_group_fault(g, 0)->dev_id == d.dev,
		      "fault %u: addr 0x%llx", i,
		      (unsigned long long)iopf_group_fault(g, 0)->addr);
		CHECK(env, !iopf_group_respond(g, IOPF_RESP_SUCCESS), "respond");
	}
	CHECK(env, !iopf_engine_flush(env->e), "flush");
	get_stats(d.q, &st);
	CHECK(env, st.answers_success == 16 && o.ok == 16, "taken %llu, callback %u of 16",
	      (unsigned long long)st.answers_success, o.ok);
	rc = plat_detach(env->p, d.dev);
	CHECK(env, !rc, "detach: %s", strerror(-rc));
	CHECK(env, !iopf_destroy(env->ctx, hwpt), "destroy the paging HWPT");
	CHECK(env, !plat_attach(env->p, d.dev, d.hwpt), "attach back");
	return qdev_free(env, &d, true);
}

/*
 * Two devices on one queue. A detach makes the kernel answer INVALID for the
 * groups of the detached device; their answers then fail with EINVAL one by
 * one, and the other device's answers in the same batch are still taken.
 */
static int sc_stale(struct env *env)
{
	struct outcomes o = { 0 };
	struct qdev a = { .o = &o }, b = { .o = &o };
	struct iopf_group *gs[8];
	struct iopf_stats st;
	int rc;

	if (qdev_new(env, &a, NULL, NULL) || qdev_new(env, &b, NULL, a.q))
		return -1;
	for (unsigned int i = 0; i < 4; i++) {
		rc = plat_fault(env->p, a.dev, i, 0x1000ull * i, IOPF_PERM_READ, 1);
		CHECK(env, !rc, "fault a: %s", strerror(-rc));
		rc = plat_fault(env->p, b.dev, i, 0x1000ull * i, IOPF_PERM_READ, 1);
		CHECK(env, !rc, "fault b: %s", strerror(-rc));
	}
	if (pull_n(env, gs, 8))
		return -1;
	rc = plat_detach(env->p, a.dev);
	CHECK(env, !rc, "detach: %s", strerror(-rc));
	/* One call for the eight, a's and b's (two queues): each queued. */
	{
		int rcs[8];

		rc = iopf_group_respond_batch(gs, 8, IOPF_RESP_SUCCESS, rcs);
		CHECK(env, rc == 8, "respond_batch: %d", rc);
		for (unsigned int i = 0; i < 8; i++)
			CHECK(env, !rcs[i], "respond_batch [%u]: %s", i, strerror(-rcs[i]));
	}
	rc = iopf_engine_flush(env->e);
	CHECK(env, !rc, "flush: %s", strerror(-rc));
	get_stats(a.q, &st);
	CHECK(env, o.n == 8 && o.stale == 4 && o.ok == 4,
	      "outcomes: %u reported, %u stale, %u taken", o.n, o.stale, o.ok);
	CHECK(env, st.answers_stale == 4 && st.answers_success == 4,
	      "stats: stale %llu success %llu", (unsigned long long)st.answers_stale,
	      (unsigned long long)st.answers_success);
	/* The queue still works for b. */
	rc = plat_fault(env->p, b.dev, 9, 0x9000, IOPF_PERM_READ, 1);
	CHECK(env, !rc, "fault: %s", strerror(-rc));
	if (pull_n(env, gs, 1))
		return -1;
	CHECK(env, iopf_group_fault(gs[0], 0)->dev_id == b.dev, "dev_id");
	CHECK(env, !iopf_group_respond(gs[0], IOPF_RESP_SUCCESS), "respond");
	CHECK(env, !iopf_engine_flush(env->e), "flush");
	CHECK(env, o.ok == 5, "taken %u", o.ok);
	iopf_destroy(env->ctx, a.hwpt);
	a.hwpt = 0;
	return qdev_free(env, &b, true);
}

/* Freeing a queue answers INVALID every group it read and was not answered:
 * handed out or still waiting to be pulled. */
static int sc_teardown(struct env *env)
{
	struct outcomes o = { 0 };
	struct qdev d = { .o = &o };
	struct iopf_group *gs[3];
	int rc;

	if (qdev_new(env, &d, NULL, NULL))
		return -1;
	for (unsigned int i = 0; i < 6; i++) {
		rc = plat_fault(env->p, d.dev, i, 0x1000ull * i, IOPF_PERM_READ, 1);
		CHECK(env, !rc, "fault: %s", strerror(-rc));
	}
	if (pull_n(env, gs, 3))
		return -1;
	/* Make sure the other three were read too. */
	for (int i = 0; i < 50 && iopf_engine_process(env->e) < 3; i++)
		;
	CHECK(env, iopf_engine_process(env->e) == 3, "3 groups ready");
	CHECK(env, !iopf_group_respond(gs[0], IOPF_RESP_SUCCESS), "respond");
	/* The device stays attached: the kernel still holds the other five. */
	iopf_queue_free(d.q);
	d.q = NULL;
	CHECK(env, o.n == 6 && o.ok == 6 && o.invalid_ok == 5,
	      "teardown: %u answers, %u taken, %u INVALID", o.n, o.ok, o.invalid_ok);
	return qdev_free(env, &d, false);
}

/* A fault object still used by a HWPT cannot be destroyed; once the HWPT is
 * gone, freeing the queue destroys it. */
static int sc_busy(struct env *env)
{
	struct outcomes o = { 0 };
	struct qdev d = { .o = &o };
	uint32_t fault_id;
	int rc;

	if (qdev_new(env, &d, NULL, NULL))
		return -1;
	fault_id = iopf_queue_id(d.q);
	rc = iopf_destroy(env->ctx, fault_id);
	CHECK(env, rc == -EBUSY, "destroy of a fault object in use: %d", rc);
	if (qdev_free(env, &d, true))
		return -1;
	rc = iopf_destroy(env->ctx, fault_id);
	CHECK(env, rc == -ENOENT, "the fault object outlived its queue: %d", rc);
	return 0;
}

/* Groups left unanswered past the deadline are answered INVALID by the
 * library; a late answer gets ETIMEDOUT. */
static int sc_deadline(struct env *env)
{
	struct iopf_queue_opts qo = { .size = sizeof(qo), .deadline_ns = 50000000 };
	struct outcomes o = { 0 };
	struct qdev d = { .o = &o };
	struct iopf_group *gs[2];
	int rc;

	if (qdev_new(env, &d, &qo, NULL))
		return -1;
	for (unsigned int i = 0; i < 2; i++) {
		rc = plat_fault(env->p, d.dev, i, 0x1000ull * i, IOPF_PERM_READ, 1);
		CHECK(env, !rc, "fault: %s", strerror(-rc));
	}
	if (pull_n(env, gs, 2))
		return -1;
	iopf_engine_wait(env->e, 150);
	iopf_engine_flush(env->e);
	CHECK(env, o.n == 2 && o.invalid_ok == 2, "deadline answers: %u, INVALID taken %u",
	      o.n, o.invalid_ok);
	rc = iopf_group_respond(gs[0], IOPF_RESP_SUCCESS);
	CHECK(env, rc == -ETIMEDOUT, "late respond: %d", rc);
	rc = iopf_group_respond(gs[1], IOPF_RESP_SUCCESS);
	CHECK(env, rc == -ETIMEDOUT, "late respond: %d", rc);
	return qdev_free(env, &d, true);
}

/* The io_uring workers (io-wq) of this process: threads named iou-wrk-*. */
static int io_workers(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d))) {
		char path[300], comm[32] = "";
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) && !strncmp(comm, "iou-wrk-", 8))
			n++;
		fclose(f);
	}
	closedir(d);
	return n;
}

/*
 * Four queues on one engine, a device each. With io_uring the engine is made
 * with IOPF_ENGINE_ASYNC: on the real kernel, runs that have reads and writes
 * for several queues then hand them to io-wq (its workers run them side by
 * side): there must be workers. Not on the mock, whose reads are socket
 * copies kept inline (the engine never sends them to io-wq).
 */
static int queues_run(struct env *env);

static int sc_queues(struct env *env)
{
	struct iopf_engine_opts eo = { .size = sizeof(eo), .kind = IOPF_ENGINE_URING,
				       .flags = IOPF_ENGINE_ASYNC };
	struct iopf_engine *e = env->e, *async;
	int rc;

	if (env->kind != IOPF_ENGINE_URING)
		return queues_run(env);
	rc = iopf_engine_new(&eo, &async);
	CHECK(env, !rc, "engine with IOPF_ENGINE_ASYNC: %s", strerror(-rc));
	env->e = async;
	rc = queues_run(env);
	env->e = e;
	if (!rc)
		iopf_engine_free(async); /* (on a failure its queues may be left) */
	return rc;
}

static int queues_run(struct env *env)
{
	struct outcomes o = { 0 };
	struct qdev d[4];
	struct iopf_group *gs[64];
	unsigned long n = env->faults / 4, total = 0;
	int rc;

	memset(d, 0, sizeof(d));
	for (int i = 0; i < 4; i++) {
		d[i].o = &o;
		if (qdev_new(env, &d[i], NULL, NULL))
			return -1;
	}
	for (unsigned long k = 0; k < n; k += 16) {
		for (int i = 0; i < 4; i++)
			for (unsigned int j = 0; j < 16; j++) {
				rc = plat_fault(env->p, d[i].dev, j, (k + j) << 12, IOPF_PERM_READ, 1);
				CHECK(env, !rc, "fault: %s", strerror(-rc));
			}
		if (pull_n(env, gs, 64))
			return -1;
		/* Half one by one, half in one call (a run of groups per queue). */
		for (int i = 0; i < 32; i++)
			CHECK(env, !iopf_group_respond(gs[i], IOPF_RESP_SUCCESS), "respond");
		rc = iopf_group_respond_batch(gs + 32, 32, IOPF_RESP_SUCCESS, NULL);
		CHECK(env, rc == 32, "respond_batch: %d", rc);
		total += 64;
	}
	CHECK(env, !iopf_engine_flush(env->e), "flush");
	CHECK(env, o.ok == total && o.n == total, "taken %u of %lu", o.ok, total);
	/* (The plain engine's run may follow the io_uring one in this
	 * process, before its workers are gone: not counted there.) */
	rc = io_workers();
	if (env->kind == IOPF_ENGINE_URING && !strcmp(plat_name, "kernel"))
		CHECK(env, rc > 0, "no io-wq worker ran the queues' operations: %d", rc);
	else if (env->kind == IOPF_ENGINE_URING)
		CHECK(env, rc == 0, "%d io-wq workers", rc);
	for (int i = 0; i < 4; i++)
		if (qdev_free(env, &d[i], true))
			return -1;
	return 0;
}

/*
 * The kernel gives a cookie to the next group as soon as the group that had
 * it is answered, also when it answers that group itself on a detach. An
 * answer to the old group must then never reach the new one: answered
 * after the new group was read, it gets -ESTALE at once; queued before, it
 * is refused by the kernel or dropped by the library. Either way the new
 * group's own answer is taken.
 */
static int sc_reuse(struct env *env)
{
	struct outcomes o = { 0 };
	struct qdev d = { .o = &o };
	struct iopf_group *old, *young;
	struct iopf_stats st;
	int rc;

	if (qdev_new(env, &d, NULL, NULL))
		return -1;
	/* Answered after the cookie went to a new group. */
	CHECK(env, !plat_fault(env->p, d.dev, 1, 0x1000, IOPF_PERM_READ, 1), "fault");
	if (pull_n(env, &old, 1))
		return -1;
	CHECK(env, !plat_detach(env->p, d.dev) && !plat_attach(env->p, d.dev, d.hwpt),
	      "detach and attach again");
	CHECK(env, !plat_fault(env->p, d.dev, 2, 0x2000, IOPF_PERM_READ, 1), "fault");
	if (pull_n(env, &young, 1))
		return -1;
	CHECK(env, iopf_group_cookie(young) == iopf_group_cookie(old),
	      "the kernel did not reuse the cookie: %u then %u", iopf_group_cookie(old),
	      iopf_group_cookie(young));
	rc = iopf_group_respond(old, IOPF_RESP_INVALID);
	CHECK(env, rc == -ESTALE, "answer to the old group: %d", rc);
	CHECK(env, !iopf_group_respond(young, IOPF_RESP_SUCCESS), "respond");
	CHECK(env, !iopf_engine_flush(env->e), "flush");
	CHECK(env, o.n == 1 && o.ok == 1, "outcomes %u, taken %u", o.n, o.ok);

	/* Answered before the new group was read. */
	CHECK(env, !plat_fault(env->p, d.dev, 3, 0x3000, IOPF_PERM_READ, 1), "fault");
	if (pull_n(env, &old, 1))
		return -1;
	CHECK(env, !plat_detach(env->p, d.dev) && !plat_attach(env->p, d.dev, d.hwpt),
	      "detach and attach again");
	CHECK(env, !iopf_group_respond(old, IOPF_RESP_SUCCESS), "respond");
	CHECK(env, !plat_fault(env->p, d.dev, 4, 0x4000, IOPF_PERM_READ, 1), "fault");
	if (pull_n(env, &young, 1))
		return -1;
	CHECK(env, iopf_group_fault(young, 0)->grpid == 4, "grpid");
	CHECK(env, !iopf_group_respond(young, IOPF_RESP_SUCCESS), "respond");
	CHECK(env, !iopf_engine_flush(env->e), "flush");
	/* The old answer failed (refused or dropped), the young one taken. */
	CHECK(env, o.n == 3 && o.ok == 2 &&
			   (o.results[1] == -EINVAL || o.results[1] == -ESTALE) &&
			   o.results[2] == 0,
	      "outcomes %u: taken %u, refused %u, other %u (%d, %d)", o.n, o.ok, o.stale,
	      o.other, o.n > 1 ? o.results[1] : 0, o.n > 2 ? o.results[2] : 0);
	get_stats(d.q, &st);
	CHECK(env, st.answers_success == 2 && st.answers_stale == 2,
	      "stats: success %llu stale %llu", (unsigned long long)st.answers_success,
	      (unsigned long long)st.answers_stale);
	return qdev_free(env, &d, true);
}

/* An answer given inside the answered callback goes out in the same call:
 * a VMM that answers a guest's next request as it learns of the last one
 * must not wait for another fault. */
static int sc_callback(struct env *env)
{
	struct outcomes o = { 0 };
	struct qdev d = { .o = &o };
	struct iopf_group *gs[2];
	int rc;

	if (qdev_new(env, &d, NULL, NULL))
		return -1;
	for (unsigned int i = 0; i < 2; i++)
		CHECK(env, !plat_fault(env->p, d.dev, i, 0x1000ull * i, IOPF_PERM_READ, 1),
		      "fault");
	if (pull_n(env, gs, 2))
		return -1;
	o.chain = gs[1];
	CHECK(env, !iopf_group_respond(gs[0], IOPF_RESP_SUCCESS), "respond");
	rc = iopf_engine_process(env->e);
	CHECK(env, rc >= 0, "process: %d", rc);
	CHECK(env, o.n == 2 && o.ok == 2, "one process() wrote %u of the 2 answers", o.n);
	return qdev_free(env, &d, true);
}

/* Multi-record groups larger than the batch make the buffer grow. The
 * kernel's mock IOMMU only makes one-record groups: mock only. */
static int sc_grow(struct env *env)
{
	struct iopf_queue_opts qo = { .size = sizeof(qo), .batch = 2 };
	struct outcomes o = { 0 };
	struct qdev d = { .o = &o };
	struct iopf_group *g;
	struct iopf_stats st;
	int rc;

	if (!plat_multi_record(env->p))
		return fail(env, "N/A: a stock kernel's mock IOMMU makes one-record groups only");
	if (qdev_new(env, &d, &qo, NULL))
		return -1;
	rc = plat_fault(env->p, d.dev, 7, 0x40000, IOPF_PERM_WRITE, 5);
	CHECK(env, !rc, "fault: %s", strerror(-rc));
	if (pull_n(env, &g, 1))
		return -1;
	CHECK(env, iopf_group_count(g) == 5, "count %u", iopf_group_count(g));
	for (unsigned int i = 0; i < 5; i++)
		CHECK(env, iopf_group_fault(g, i)->addr == 0x40000 + 4096ull * i, "addr %u", i);
	CHECK(env, !iopf_group_respond(g, IOPF_RESP_SUCCESS), "respond");
	CHECK(env, !iopf_engine_flush(env->e), "flush");
	get_stats(d.q, &st);
	CHECK(env, st.grows >= 1 && o.ok == 1, "grows %llu taken %u",
	      (unsigned long long)st.grows, o.ok);
	return qdev_free(env, &d, true);
}

/*
 * Groups of 1 to 64 records on two devices of one queue, their records
 * interleaved (on the patched kernel record by record, on the mock group by
 * group: it delivers whole groups only), each answered with a code the
 * handler picks; then partial groups at a detach, which the kernel drops
 * without delivering them. Every group triggered whole must be answered
 * exactly once with the chosen code, as the device saw it.
 */
static int sc_multi(struct env *env)
{
	struct outcomes o = { 0 };
	struct qdev d[2] = { { .o = &o }, { .o = &o } };
	struct plat_resp want[2], got;
	struct iopf_group *gs[16];
	bool partial;
	int rc;

	if (!plat_multi_record(env->p))
		return fail(env, "N/A: a stock kernel's mock IOMMU makes one-record groups only");
	memset(want, 0, sizeof(want));
	if (qdev_new(env, &d[0], NULL, NULL) || qdev_new(env, &d[1], NULL, d[0].q))
		return -1;
	partial = plat_fault_partial(env->p, d[0].dev, 500, 0x7000000, 0) == 0;
	for (unsigned int k0 = 1; k0 <= 64; k0 += 8) {
		for (unsigned int k = k0; k < k0 + 8; k++) {
			unsigned int n[2] = { k, 65 - k };
			uint64_t base[2] = { (uint64_t)k << 24, (0x100ull + k) << 24 };

			if (!partial) {
				for (int j = 0; j < 2; j++) {
					rc = plat_fault(env->p, d[j].dev, k, base[j], IOPF_PERM_READ,
							n[j]);
					CHECK(env, !rc, "fault: %s", strerror(-rc));
				}
				continue;
			}
			for (unsigned int i = 0; i < 64; i++)
				for (int j = 0; j < 2; j++) {
					if (i + 1 < n[j])
						rc = plat_fault_partial(env->p, d[j].dev, k,
									base[j] + 4096ull * i, 1);
					else if (i + 1 == n[j])
						rc = plat_fault(env->p, d[j].dev, k,
								base[j] + 4096ull * i, IOPF_PERM_READ, 1);
					else
						continue;
					CHECK(env, !rc, "record %u of %u: %s", i, n[j], strerror(-rc));
				}
		}
		if (pull_n(env, gs, 16))
			return -1;
		for (int i = 0; i < 16; i++) {
			const struct iopf_fault *f = iopf_group_fault(gs[i], 0);
			int j = f->dev_id == d[1].dev;
			unsigned int k = f->grpid, n = j ? 65 - k : k;
			uint32_t code = (k + (unsigned int)j) % 3 ? IOPF_RESP_SUCCESS : IOPF_RESP_INVALID;

			CHECK(env, k >= k0 && k < k0 + 8, "grpid %u", k);
			CHECK(env, iopf_group_count(gs[i]) == n, "dev %d group %u: %u records of %u", j,
			      k, iopf_group_count(gs[i]), n);
			for (unsigned int r = 0; r < n; r++)
				CHECK(env, iopf_group_fault(gs[i], r)->addr ==
						   (j ? (0x100ull + k) << 24 : (uint64_t)k << 24) + 4096ull * r,
				      "dev %d group %u record %u: addr 0x%llx", j, k, r,
				      (unsigned long long)iopf_group_fault(gs[i], r)->addr);
			CHECK(env, !!(iopf_group_fault(gs[i], n - 1)->flags & IOPF_FAULT_LAST_PAGE),
			      "no LAST_PAGE on the last record");
			CHECK(env, !iopf_group_respond(gs[i], code), "respond");
			if (code == IOPF_RESP_SUCCESS)
				want[j].success++;
			else
				want[j].invalid++;
			want[j].total++;
		}
		CHECK(env, !iopf_engine_flush(env->e), "flush");
	}
	if (partial) {
		/* Held: device 1's group completes later; device 0's never
		 * does and goes at the detach, never delivered or answered. */
		CHECK(env, !plat_fault_partial(env->p, d[0].dev, 200, 0x9000000, 3), "partial");
		CHECK(env, !plat_fault_partial(env->p, d[1].dev, 201, 0xa000000, 2), "partial");
		CHECK(env, iopf_engine_wait(env->e, 100) == 0 &&
				   iopf_engine_pull(env->e, gs, 16) == 0,
		      "a partial group was delivered");
		rc = plat_detach(env->p, d[0].dev);
		CHECK(env, !rc, "detach: %s", strerror(-rc));
		CHECK(env, !plat_fault(env->p, d[1].dev, 201, 0xa002000, IOPF_PERM_READ, 1), "last");
		if (pull_n(env, gs, 1))
			return -1;
		CHECK(env, iopf_group_count(gs[0]) == 3 && iopf_group_fault(gs[0], 0)->grpid == 201,
		      "held group: %u records, grpid %u", iopf_group_count(gs[0]),
		      iopf_group_fault(gs[0], 0)->grpid);
		CHECK(env, !iopf_group_respond(gs[0], IOPF_RESP_SUCCESS), "respond");
		want[1].success++;
		want[1].total++;
		CHECK(env, !iopf_engine_flush(env->e), "flush");
		CHECK(env, iopf_engine_wait(env->e, 100) == 0 &&
				   iopf_engine_pull(env->e, gs, 16) == 0,
		      "the dropped partial group was delivered");
		CHECK(env, !plat_attach(env->p, d[0].dev, d[0].hwpt), "attach again");
	}
	for (int j = 0; j < 2; j++) {
		rc = plat_resp(env->p, d[j].dev, &got);
		CHECK(env, !rc, "response counts: %s", strerror(-rc));
		CHECK(env, got.success == want[j].success && got.invalid == want[j].invalid &&
				   !got.other && got.total == want[j].total,
		      "dev %d saw %llu success %llu invalid %llu other (%llu), want %llu %llu 0 (%llu)",
		      j, (unsigned long long)got.success, (unsigned long long)got.invalid,
		      (unsigned long long)got.other, (unsigned long long)got.total,
		      (unsigned long long)want[j].success, (unsigned long long)want[j].invalid,
		      (unsigned long long)want[j].total);
	}
	CHECK(env, o.ok == want[0].total + want[1].total && o.n == o.ok, "callback: %u taken of %u",
	      o.ok, o.n);
	if (qdev_free(env, &d[0], false))
		return -1;
	return qdev_free(env, &d[1], true);
}

/* After an answer to (grpid, pasid, code) went out: the device saw it last.
 * Checked where the platform knows the last response (the patched kernel). */
static int check_last(struct env *env, uint32_t dev, uint32_t grpid, uint32_t pasid,
		      uint32_t code)
{
	struct plat_resp r;
	int rc = plat_resp(env->p, dev, &r);

	if (rc == -EOPNOTSUPP || (!rc && !r.last))
		return 0;
	CHECK(env, !rc, "response counts: %s", strerror(-rc));
	CHECK(env, r.total && r.last_grpid == grpid && r.last_pasid == pasid && r.last_code == code,
	      "the device's last response: grpid %u pasid %u code %u (of %llu), want %u %u %u",
	      r.last_grpid, r.last_pasid, r.last_code, (unsigned long long)r.total, grpid, pasid,
	      code);
	return 0;
}

/* The device's page responses equal want (where the platform counts them). */
static int check_resp(struct env *env, uint32_t dev, const struct plat_resp *want)
{
	struct plat_resp r;
	int rc = plat_resp(env->p, dev, &r);

	if (rc == -EOPNOTSUPP)
		return 0;
	CHECK(env, !rc, "response counts: %s", strerror(-rc));
	CHECK(env, r.success == want->success && r.invalid == want->invalid && !r.other &&
			   r.total == want->total,
	      "device %u saw %llu success %llu invalid %llu other, want %llu %llu 0", dev,
	      (unsigned long long)r.success, (unsigned long long)r.invalid,
	      (unsigned long long)r.other, (unsigned long long)want->success,
	      (unsigned long long)want->invalid);
	return 0;
}

static void count(struct plat_resp *want, uint32_t code)
{
	if (code == IOPF_RESP_SUCCESS)
		want->success++;
	else
		want->invalid++;
	want->total++;
}

/*
 * A nested HWPT whose parent is a vIOMMU (pt_id = the vIOMMU's id, 6.13+)
 * reports into a fault queue like one on a NEST_PARENT HWPT. The selftest
 * driver attaches a device to it only once the device has a vDEVICE on that
 * vIOMMU (ENOENT before). Faults answered end to end, and the ones pending
 * at a detach answered INVALID by the kernel, as the device saw them.
 */
static int sc_viommu(struct env *env)
{
	struct outcomes o = { 0 };
	struct qdev d = { .o = &o };
	struct iopf_viommu_args va = { .size = sizeof(va) };
	struct iopf_hwpt_args a = { .size = sizeof(a) };
	struct plat_resp want = { 0 };
	struct iopf_group *gs[2];
	uint32_t viommu = 0, vdev = 0, hwpt = 0;
	int k = env->kernel, typed, rc;
	char why[200];

	if (qdev_new(env, &d, NULL, NULL))
		return -1;
	typed = plat_viommu_args(env->p, d.dev, &va);
	rc = iopf_viommu_alloc(env->ctx, &va, &viommu);
	snprintf(why, sizeof(why), "iopf_viommu_alloc: %s (%s)", strerror(-rc),
		 iopf_ctx_errmsg(env->ctx));
	if (k < 613) {
		CHECK(env, rc == -ENOSYS && strstr(iopf_ctx_errmsg(env->ctx), "6.13"),
		      "vIOMMU on %d.%d: %d (%s)", k / 100, k % 100, rc, iopf_ctx_errmsg(env->ctx));
		if (qdev_free(env, &d, true))
			return -1;
		return fail(env, "N/A: %d.%d has no vIOMMU (IOMMU_VIOMMU_ALLOC came in 6.13): %s",
			    k / 100, k % 100, why);
	}
	CHECK(env, !typed, "vIOMMU type: %s", strerror(-typed));
	CHECK(env, !rc, "%s", why);
	CHECK(env, !plat_nested_args(env->p, d.dev, &a), "nested args");
	a.pt_id = viommu;
	rc = iopf_hwpt_alloc(env->ctx, d.q, &a, &hwpt);
	CHECK(env, !rc, "nested HWPT on the vIOMMU with a fault queue: %s (%s)", strerror(-rc),
	      iopf_ctx_errmsg(env->ctx));
	rc = plat_attach(env->p, d.dev, hwpt);
	CHECK(env, rc == -ENOENT, "attach before the device has a vDEVICE: %d", rc);
	rc = iopf_vdevice_alloc(env->ctx, viommu, d.dev, 0x100 + d.dev, &vdev);
	CHECK(env, !rc, "iopf_vdevice_alloc: %s (%s)", strerror(-rc), iopf_ctx_errmsg(env->ctx));
	rc = plat_attach(env->p, d.dev, hwpt);
	CHECK(env, !rc, "attach: %s", strerror(-rc));
	for (unsigned int i = 0; i < 8; i++) {
		uint32_t code = i % 3 ? IOPF_RESP_SUCCESS : IOPF_RESP_INVALID;

		CHECK(env, !plat_fault(env->p, d.dev, i, 0x300000ull + (i << 12), IOPF_PERM_READ, 1),
		      "fault");
		if (pull_n(env, gs, 1))
			return -1;
		CHECK(env, iopf_group_fault(gs[0], 0)->addr == 0x300000ull + (i << 12) &&
				   iopf_group_fault(gs[0], 0)->dev_id == d.dev &&
				   iopf_group_fault(gs[0], 0)->grpid == i,
		      "fault %u: addr 0x%llx", i,
		      (unsigned long long)iopf_group_fault(gs[0], 0)->addr);
		CHECK(env, !iopf_group_respond(gs[0], code), "respond");
		count(&want, code);
	}
	CHECK(env, !iopf_engine_flush(env->e), "flush");
	CHECK(env, o.ok == 8 && o.n == 8, "taken %u of 8", o.ok);
	/* Pending at a detach: the kernel answers them, the late answers are
	 * refused. */
	for (unsigned int i = 0; i < 2; i++)
		CHECK(env, !plat_fault(env->p, d.dev, 20 + i, 0x400000ull + (i << 12),
				       IOPF_PERM_WRITE, 1),
		      "fault");
	if (pull_n(env, gs, 2))
		return -1;
	CHECK(env, !plat_detach(env->p, d.dev), "detach");
	want.invalid += 2;
	want.total += 2;
	for (unsigned int i = 0; i < 2; i++)
		CHECK(env, !iopf_group_respond(gs[i], IOPF_RESP_SUCCESS), "respond");
	CHECK(env, !iopf_engine_flush(env->e), "flush");
	CHECK(env, o.n == 10 && o.stale == 2, "after the detach: %u answers, %u refused", o.n,
	      o.stale);
	if (check_resp(env, d.dev, &want))
		return -1;
	CHECK(env, !iopf_destroy(env->ctx, hwpt), "destroy the nested HWPT");
	CHECK(env, !iopf_destroy(env->ctx, vdev), "destroy the vDEVICE");
	CHECK(env, !iopf_destroy(env->ctx, viommu), "destroy the vIOMMU");
	CHECK(env, !plat_attach(env->p, d.dev, d.hwpt), "attach back");
	return qdev_free(env, &d, true);
}

/* Pulls vEVENTQ records until n came (or 5 s passed). */
static int vpull_n(struct env *env, struct iopf_veventq *vq, struct iopf_vevent *ev,
		   unsigned int n)
{
	unsigned int got = 0;
	uint64_t end = now_ms() + 5000;

	while (got < n && now_ms() < end) {
		int rc = iopf_veventq_pull(vq, ev + got, n - got);

		if (rc < 0)
			return fail(env, "iopf_veventq_pull: %s", strerror(-rc));
		got += (unsigned int)rc;
		if (!rc && iopf_engine_wait(env->e, 50) < 0)
			return fail(env, "iopf_engine_wait");
	}
	CHECK(env, got == n, "%u of %u vEVENTQ records", got, n);
	return 0;
}

/*
 * vIOMMU events (6.15+): a vEVENTQ of depth 4 on the device's vIOMMU, the
 * device on a nested HWPT on the vIOMMU that also reports its faults into the
 * queue's engine. Ten events before a read: the first four delivered in order
 * with the device's virt_id as payload, then the LOST_EVENTS record with the
 * number of the last lost event (9): six lost. The next event (10) comes with
 * none lost. Then faults and events interleaved on the one engine, all
 * delivered; teardown in a VMM's order.
 */
static int sc_vevent(struct env *env)
{
	struct outcomes o = { 0 };
	struct qdev d = { .o = &o };
	struct iopf_viommu_args va = { .size = sizeof(va) };
	struct iopf_veventq_opts vo = { .size = sizeof(vo), .depth = 4 };
	struct iopf_hwpt_args a = { .size = sizeof(a) };
	struct iopf_veventq *vq = NULL;
	struct iopf_vevent ev[8];
	struct iopf_group *gs[3];
	uint32_t viommu = 0, vdev = 0, hwpt = 0, virt, v;
	int k = env->kernel, rc;

	if (qdev_new(env, &d, NULL, NULL))
		return -1;
	virt = 0x200 + d.dev;
	plat_viommu_args(env->p, d.dev, &va);
	rc = iopf_viommu_alloc(env->ctx, &va, &viommu);
	if (!rc)
		rc = iopf_vdevice_alloc(env->ctx, viommu, d.dev, virt, &vdev);
	vo.type = plat_vevent_type(env->p);
	if (!rc)
		rc = iopf_veventq_new(env->ctx, env->e, viommu, &vo, &vq);
	if (k < 615) {
		char why[200];

		snprintf(why, sizeof(why), "%s (%s)", strerror(-rc), iopf_ctx_errmsg(env->ctx));
		CHECK(env, rc == -ENOSYS, "vEVENTQ setup on %d.%d: %s", k / 100, k % 100, why);
		if (vdev)
			iopf_destroy(env->ctx, vdev);
		if (viommu)
			iopf_destroy(env->ctx, viommu);
		if (qdev_free(env, &d, true))
			return -1;
		return fail(env, "N/A: %d.%d has no vEVENTQ (6.15): %s", k / 100, k % 100, why);
	}
	CHECK(env, !rc, "vIOMMU, vDEVICE, vEVENTQ: %s (%s)", strerror(-rc),
	      iopf_ctx_errmsg(env->ctx));
	CHECK(env, !plat_nested_args(env->p, d.dev, &a), "nested args");
	a.pt_id = viommu;
	CHECK(env, !iopf_hwpt_alloc(env->ctx, d.q, &a, &hwpt), "nested HWPT on the vIOMMU");
	CHECK(env, !plat_attach(env->p, d.dev, hwpt), "attach");

	for (unsigned int i = 0; i < 10; i++)
		CHECK(env, !plat_vevent(env->p, d.dev), "raise event %u", i);
	if (vpull_n(env, vq, ev, 5))
		return -1;
	for (unsigned int i = 0; i < 4; i++) {
		memcpy(&v, ev[i].data, 4);
		CHECK(env, !ev[i].flags && ev[i].sequence == i && !ev[i].lost && ev[i].len == 4 &&
				   v == virt,
		      "event %u: flags %u seq %u lost %u len %u payload 0x%x", i, ev[i].flags,
		      ev[i].sequence, ev[i].lost, ev[i].len, v);
	}
	CHECK(env, ev[4].flags == IOPF_VEVENT_LOST && ev[4].sequence == 9 && ev[4].lost == 6,
	      "record 4: flags %u seq %u lost %u, want LOST seq 9, 6 lost", ev[4].flags,
	      ev[4].sequence, ev[4].lost);
	CHECK(env, !plat_vevent(env->p, d.dev), "raise");
	if (vpull_n(env, vq, ev, 1))
		return -1;
	CHECK(env, ev[0].sequence == 10 && !ev[0].lost, "event after the loss: seq %u lost %u",
	      ev[0].sequence, ev[0].lost);

	/* Faults and events together on the one engine. */
	for (unsigned int i = 0; i < 3; i++) {
		CHECK(env, !plat_fault(env->p, d.dev, 40 + i, 0x500000ull + (i << 12),
				       IOPF_PERM_READ, 1),
		      "fault");
		CHECK(env, !plat_vevent(env->p, d.dev), "raise");
	}
	if (pull_n(env, gs, 3) || vpull_n(env, vq, ev, 3))
		return -1;
	for (unsigned int i = 0; i < 3; i++) {
		CHECK(env, ev[i].sequence == 11 + i && !ev[i].lost, "mixed event %u: seq %u",
		      i, ev[i].sequence);
		CHECK(env, !iopf_group_respond(gs[i], IOPF_RESP_SUCCESS), "respond");
	}
	CHECK(env, !iopf_engine_flush(env->e), "flush");
	CHECK(env, o.ok == 3, "answers taken: %u of 3", o.ok);

	/* The vIOMMU is busy while its queue and vDEVICE are there. */
	CHECK(env, iopf_destroy(env->ctx, viommu) == -EBUSY, "a busy vIOMMU destroyed");
	CHECK(env, !plat_detach(env->p, d.dev), "detach");
	CHECK(env, plat_vevent(env->p, d.dev) == -ENOENT, "an event off the vIOMMU");
	CHECK(env, !iopf_destroy(env->ctx, hwpt), "destroy the nested HWPT");
	iopf_veventq_free(vq);
	CHECK(env, !iopf_destroy(env->ctx, vdev), "destroy the vDEVICE");
	CHECK(env, !iopf_destroy(env->ctx, viommu), "destroy the vIOMMU");
	CHECK(env, !plat_attach(env->p, d.dev, d.hwpt), "attach back");
	return qdev_free(env, &d, true);
}

/*
 * PASID-tagged faults through the RID's nested HWPT. The selftest driver has
 * a user-managed PASID table (user_pasid_table): the iommu core sends the
 * faults of a PASID that has no attachment of its own to the nested domain of
 * the RID, on 6.12 as on 7.3. Each reaches the library tagged, and its answer
 * reaches the device with that PASID.
 */
static int sc_pasid(struct env *env)
{
	static const uint32_t pasids[] = { 1, 7, 100, 0x1234, 0xfffff };
	const unsigned int np = sizeof(pasids) / sizeof(pasids[0]);
	struct outcomes o = { 0 };
	struct qdev d = { .o = &o };
	struct plat_resp want = { 0 };
	struct iopf_group *gs[8];
	const struct iopf_fault *f;

	if (qdev_new(env, &d, NULL, NULL))
		return -1;
	for (unsigned int i = 0; i < np; i++) {
		uint32_t code = i % 2 ? IOPF_RESP_INVALID : IOPF_RESP_SUCCESS;

		CHECK(env, !plat_fault_pasid(env->p, d.dev, pasids[i], i + 1, 0x500000ull + (i << 12),
					     IOPF_PERM_READ),
		      "fault");
		if (pull_n(env, gs, 1))
			return -1;
		f = iopf_group_fault(gs[0], 0);
		CHECK(env, (f->flags & IOPF_FAULT_PASID_VALID) && f->pasid == pasids[i] &&
				   f->grpid == i + 1 && f->dev_id == d.dev &&
				   (f->flags & IOPF_FAULT_LAST_PAGE),
		      "fault %u: flags 0x%x pasid 0x%x grpid %u", i, f->flags, f->pasid, f->grpid);
		CHECK(env, !iopf_group_respond(gs[0], code), "respond");
		CHECK(env, !iopf_engine_flush(env->e), "flush");
		count(&want, code);
		if (check_last(env, d.dev, i + 1, pasids[i], code))
			return -1;
	}
	/* Without a PASID: untagged, answered with PASID 0. */
	CHECK(env, !plat_fault(env->p, d.dev, 9, 0x600000, IOPF_PERM_READ, 1), "fault");
	if (pull_n(env, gs, 1))
		return -1;
	f = iopf_group_fault(gs[0], 0);
	CHECK(env, !(f->flags & IOPF_FAULT_PASID_VALID), "untagged fault: flags 0x%x", f->flags);
	CHECK(env, !iopf_group_respond(gs[0], IOPF_RESP_SUCCESS), "respond");
	CHECK(env, !iopf_engine_flush(env->e), "flush");
	count(&want, IOPF_RESP_SUCCESS);
	if (check_last(env, d.dev, 9, 0, IOPF_RESP_SUCCESS))
		return -1;
	/* One attachment (the RID's) for all of them: its detach answers
	 * every PASID's pending groups. */
	for (unsigned int i = 0; i < 3; i++)
		CHECK(env, !plat_fault_pasid(env->p, d.dev, pasids[i], 30 + i, 0x700000ull + (i << 12),
					     IOPF_PERM_WRITE),
		      "fault");
	if (pull_n(env, gs, 3))
		return -1;
	CHECK(env, !plat_detach(env->p, d.dev), "detach");
	want.invalid += 3;
	want.total += 3;
	for (unsigned int i = 0; i < 3; i++)
		CHECK(env, !iopf_group_respond(gs[i], IOPF_RESP_SUCCESS), "respond");
	CHECK(env, !iopf_engine_flush(env->e), "flush");
	CHECK(env, o.n == np + 4 && o.stale == 3 && o.ok == np + 1,
	      "outcomes: %u answers, %u taken, %u refused", o.n, o.ok, o.stale);
	if (check_resp(env, d.dev, &want))
		return -1;
	CHECK(env, !plat_attach(env->p, d.dev, d.hwpt), "attach back");
	return qdev_free(env, &d, true);
}

/* Pulls what arrives within 100 ms (at most max). */
static int pull_rest(struct env *env, struct iopf_group **gs, unsigned int max)
{
	unsigned int got = 0;
	int rc;

	do {
		rc = iopf_engine_wait(env->e, 100);
		if (rc < 0)
			return rc;
		rc = iopf_engine_pull(env->e, gs + got, max - got);
		if (rc < 0)
			return rc;
		got += (unsigned int)rc;
	} while (rc > 0 && got < max);
	return (int)got;
}

/*
 * PASID attach (7.3; IOMMU_HWPT_ALLOC_PASID came in 6.15): HWPTs allocated
 * with IOPF_HWPT_ALLOC_PASID, attached to PASIDs of a PASID-capable device
 * whose RID is on a PASID-compatible HWPT. The kernel's rules (device.c:
 * iommufd_hwpt_pasid_compat, do_attach, do_replace), the faults of each PASID
 * tagged and their answers reaching that PASID, and a detach (or replace) of
 * one PASID answering only that PASID's groups, even where two PASIDs share
 * one HWPT (each attachment has its own handle, eventq.c:
 * iommufd_auto_response_faults).
 */
static int sc_pasid_attach(struct env *env)
{
	struct iopf_queue_opts qo = { .size = sizeof(qo) };
	struct outcomes o = { 0 };
	struct qdev d = { .o = &o };
	struct iopf_hwpt_args a = { .size = sizeof(a) };
	struct plat_resp want = { 0 }, r;
	struct iopf_group *gs[16], *mine[3][2];
	struct iopf_queue *q2 = NULL;
	uint32_t dp, reserved, h = 0, ha = 0, hb = 0, hc = 0, hn = 0, pas[3];
	int k = env->kernel, rc, late;
	char why[200];

	if (qdev_new(env, &d, NULL, NULL))
		return -1;
	CHECK(env, !plat_nested_args(env->p, d.dev, &a), "nested args");
	a.flags = IOPF_HWPT_ALLOC_PASID;
	rc = iopf_hwpt_alloc(env->ctx, d.q, &a, &h);
	snprintf(why, sizeof(why), "iopf_hwpt_alloc: %s", rc ? iopf_ctx_errmsg(env->ctx) : "0");
	if (k < 615) {
		CHECK(env, rc == -EOPNOTSUPP && strstr(iopf_ctx_errmsg(env->ctx), "6.15"),
		      "ALLOC_PASID on %d.%d: %d (%s)", k / 100, k % 100, rc,
		      iopf_ctx_errmsg(env->ctx));
		if (qdev_free(env, &d, true))
			return -1;
		return fail(env, "N/A: %d.%d has no PASID HWPTs: %s", k / 100, k % 100, why);
	}
	CHECK(env, !rc, "%s", why);
	CHECK(env, !iopf_destroy(env->ctx, h), "destroy");
	rc = plat_dev_new_pasid(env->p, &dp, &reserved);
	if (rc == -EOPNOTSUPP) {
		if (qdev_free(env, &d, true))
			return -1;
		return fail(env, "N/A: this kernel's iommufd_test.h has no PASID attach ops");
	}
	CHECK(env, !rc, "PASID-capable device: %s", strerror(-rc));
	pas[0] = 100;
	pas[1] = 200;
	pas[2] = 300;
	for (int i = 0; i < 3; i++)
		CHECK(env, pas[i] != reserved, "PASID %u is the driver's reserved one", pas[i]);
	qo.answered = answered;
	qo.user = &o;
	rc = iopf_queue_new(env->ctx, env->e, &qo, &q2);
	CHECK(env, !rc, "iopf_queue_new: %s", strerror(-rc));
	CHECK(env, !plat_nested_args(env->p, dp, &a), "nested args");
	a.flags = IOPF_HWPT_ALLOC_PASID;
	CHECK(env, !iopf_hwpt_alloc(env->ctx, d.q, &a, &ha), "HWPT A: %s", iopf_ctx_errmsg(env->ctx));
	CHECK(env, !iopf_hwpt_alloc(env->ctx, d.q, &a, &hb), "HWPT B: %s", iopf_ctx_errmsg(env->ctx));
	CHECK(env, !iopf_hwpt_alloc(env->ctx, q2, &a, &hc), "HWPT C: %s", iopf_ctx_errmsg(env->ctx));
	a.flags = 0;
	CHECK(env, !iopf_hwpt_alloc(env->ctx, d.q, &a, &hn), "HWPT N: %s", iopf_ctx_errmsg(env->ctx));

	/* The attach rules. */
	rc = plat_pasid_attach(env->p, dp, pas[0], hn);
	CHECK(env, rc == -EINVAL, "PASID attach to a HWPT without ALLOC_PASID: %d", rc);
	rc = plat_pasid_replace(env->p, dp, pas[0], ha);
	CHECK(env, rc == -EINVAL, "replace of a PASID not attached: %d", rc);
	CHECK(env, !plat_pasid_attach(env->p, dp, pas[0], ha), "attach PASID %u", pas[0]);
	CHECK(env, !plat_pasid_attach(env->p, dp, pas[1], ha), "attach PASID %u", pas[1]);
	CHECK(env, !plat_pasid_attach(env->p, dp, pas[2], hb), "attach PASID %u", pas[2]);
	rc = plat_pasid_attach(env->p, dp, pas[0], hb);
	CHECK(env, rc == -EBUSY, "second attach of a PASID: %d", rc);
	rc = plat_attach(env->p, dp, hn);
	CHECK(env, rc == -EINVAL, "RID to a HWPT without ALLOC_PASID while PASIDs are attached: %d",
	      rc);

	/* Tagged faults, two per PASID; the first of each answered alone,
	 * and the device saw that PASID's answer. */
	for (int j = 0; j < 2; j++)
		for (int i = 0; i < 3; i++)
			CHECK(env, !plat_fault_pasid(env->p, dp, pas[i], 10 * i + j,
						     0x800000ull + ((10ull * i + j) << 12),
						     IOPF_PERM_READ),
			      "fault");
	if (pull_n(env, gs, 6))
		return -1;
	memset(mine, 0, sizeof(mine));
	for (int n = 0; n < 6; n++) {
		const struct iopf_fault *f = iopf_group_fault(gs[n], 0);
		int i = f->pasid == pas[0] ? 0 : f->pasid == pas[1] ? 1 : f->pasid == pas[2] ? 2 : -1;

		CHECK(env, i >= 0 && (f->flags & IOPF_FAULT_PASID_VALID) && f->dev_id == dp &&
				   f->grpid / 10 == (uint32_t)i && iopf_group_queue(gs[n]) == d.q,
		      "fault: flags 0x%x pasid %u grpid %u dev %u", f->flags, f->pasid, f->grpid,
		      f->dev_id);
		CHECK(env, !mine[i][f->grpid % 10], "PASID %u group %u twice", f->pasid, f->grpid);
		mine[i][f->grpid % 10] = gs[n];
	}
	for (int i = 0; i < 3; i++) {
		uint32_t code = i == 1 ? IOPF_RESP_INVALID : IOPF_RESP_SUCCESS;

		CHECK(env, !iopf_group_respond(mine[i][0], code), "respond");
		CHECK(env, !iopf_engine_flush(env->e), "flush");
		count(&want, code);
		if (check_last(env, dp, 10 * i, pas[i], code))
			return -1;
	}

	/* Two more for pas[0] and one for pas[1], left unread; then pas[0]'s
	 * detach answers its three pending groups and nothing of the other
	 * PASIDs, one of which shares its HWPT. */
	for (int j = 2; j < 4; j++)
		CHECK(env, !plat_fault_pasid(env->p, dp, pas[0], j, 0x900000ull + (j << 12),
					     IOPF_PERM_READ),
		      "fault");
	CHECK(env, !plat_fault_pasid(env->p, dp, pas[1], 19, 0x910000, IOPF_PERM_READ), "fault");
	CHECK(env, !plat_pasid_detach(env->p, dp, pas[0]), "detach PASID %u", pas[0]);
	want.invalid += 3;
	want.total += 3;
	if (check_resp(env, dp, &want))
		return -1;
	rc = plat_resp(env->p, dp, &r);
	CHECK(env, rc == -EOPNOTSUPP || !r.last || (r.last_pasid == pas[0] && r.last_code == IOPF_RESP_INVALID),
	      "the detach's last answer: PASID %u code %u, want PASID %u INVALID", r.last_pasid,
	      r.last_code, pas[0]);
	for (int i = 1; i < 3; i++) {
		CHECK(env, !iopf_group_respond(mine[i][1], IOPF_RESP_SUCCESS), "respond");
		count(&want, IOPF_RESP_SUCCESS);
	}
	CHECK(env, !iopf_group_respond(mine[0][1], IOPF_RESP_SUCCESS), "respond");
	CHECK(env, !iopf_engine_flush(env->e), "flush");
	CHECK(env, o.n == 6 && o.ok == 5 && o.stale == 1,
	      "after the detach: %u answers, %u taken, %u refused", o.n, o.ok, o.stale);
	/* The unread ones: pas[1]'s comes and is taken; pas[0]'s two come
	 * only if the engine had read them before the detach, and are then
	 * refused. */
	rc = pull_rest(env, gs, 16);
	CHECK(env, rc >= 1 && rc <= 3, "after the detach: %d groups", rc);
	late = 0;
	for (int n = 0; n < rc; n++) {
		const struct iopf_fault *f = iopf_group_fault(gs[n], 0);

		CHECK(env, f->pasid == pas[0] || (f->pasid == pas[1] && f->grpid == 19),
		      "late group of PASID %u grpid %u", f->pasid, f->grpid);
		late += f->pasid == pas[0];
		CHECK(env, !iopf_group_respond(gs[n], IOPF_RESP_SUCCESS), "respond");
	}
	CHECK(env, rc == late + 1, "PASID %u's pending group: %d of 1", pas[1], rc - late);
	count(&want, IOPF_RESP_SUCCESS);
	CHECK(env, !iopf_engine_flush(env->e), "flush");
	CHECK(env, o.stale == 1 + (unsigned int)late && o.ok == 6,
	      "late answers: %u refused, %u taken", o.stale, o.ok);
	if (check_last(env, dp, 19, pas[1], IOPF_RESP_SUCCESS))
		return -1;
	/* A fault of the detached PASID: no attachment and the RID's HWPT is
	 * a paging one: the iommu core answers it INVALID itself, unseen. */
	CHECK(env, !plat_fault_pasid(env->p, dp, pas[0], 5, 0xa00000, IOPF_PERM_READ), "fault");
	count(&want, IOPF_RESP_INVALID);
	CHECK(env, pull_rest(env, gs, 16) == 0, "a fault of a detached PASID was delivered");
	if (check_resp(env, dp, &want) || check_last(env, dp, 5, pas[0], IOPF_RESP_INVALID))
		return -1;

	/* Replace pas[2] (HWPT B, queue 1) by HWPT C (queue 2): its pending
	 * group is answered, its faults go to queue 2 from then on. */
	CHECK(env, !plat_fault_pasid(env->p, dp, pas[2], 40, 0xb00000, IOPF_PERM_READ), "fault");
	if (pull_n(env, gs, 1))
		return -1;
	CHECK(env, !plat_pasid_replace(env->p, dp, pas[2], hc), "replace PASID %u", pas[2]);
	count(&want, IOPF_RESP_INVALID);
	if (check_resp(env, dp, &want) || check_last(env, dp, 40, pas[2], IOPF_RESP_INVALID))
		return -1;
	CHECK(env, iopf_group_respond(gs[0], IOPF_RESP_SUCCESS) == 0, "respond");
	CHECK(env, !plat_fault_pasid(env->p, dp, pas[2], 41, 0xb01000, IOPF_PERM_READ), "fault");
	CHECK(env, !plat_fault_pasid(env->p, dp, pas[1], 42, 0xb02000, IOPF_PERM_READ), "fault");
	if (pull_n(env, gs + 1, 2))
		return -1;
	for (int n = 1; n < 3; n++) {
		const struct iopf_fault *f = iopf_group_fault(gs[n], 0);

		CHECK(env, f->pasid == (f->grpid == 41 ? pas[2] : pas[1]) &&
				   iopf_group_queue(gs[n]) == (f->grpid == 41 ? q2 : d.q),
		      "after the replace: PASID %u grpid %u on queue %d", f->pasid, f->grpid,
		      iopf_group_queue(gs[n]) == q2 ? 2 : 1);
		CHECK(env, !iopf_group_respond(gs[n], IOPF_RESP_SUCCESS), "respond");
		CHECK(env, !iopf_engine_flush(env->e), "flush");
		count(&want, IOPF_RESP_SUCCESS);
		if (check_last(env, dp, f->grpid, f->pasid, IOPF_RESP_SUCCESS))
			return -1;
	}
	CHECK(env, o.stale == 2 + (unsigned int)late && o.ok == 8,
	      "after the replace: %u taken, %u refused", o.ok, o.stale);
	if (check_resp(env, dp, &want))
		return -1;
	CHECK(env, !plat_pasid_detach(env->p, dp, pas[1]), "detach");
	CHECK(env, !plat_pasid_detach(env->p, dp, pas[2]), "detach");
	CHECK(env, !plat_attach(env->p, dp, hn), "RID to a HWPT without ALLOC_PASID, no PASID left");
	CHECK(env, !plat_detach(env->p, dp), "detach");
	CHECK(env, !iopf_destroy(env->ctx, ha) && !iopf_destroy(env->ctx, hb) &&
			   !iopf_destroy(env->ctx, hc) && !iopf_destroy(env->ctx, hn),
	      "destroy the HWPTs");
	iopf_queue_free(q2);
	return qdev_free(env, &d, true);
}

static const struct {
	const char *name;
	int (*fn)(struct env *env);
} scenarios[] = {
	{ "probe", sc_probe },	     { "flow", sc_flow },	  { "empty", sc_empty },
	{ "paging", sc_paging },     { "stale", sc_stale },	  { "teardown", sc_teardown },
	{ "busy", sc_busy },	     { "deadline", sc_deadline }, { "queues", sc_queues },
	{ "reuse", sc_reuse },	     { "callback", sc_callback },
	{ "grow", sc_grow },	     { "multi-record", sc_multi },
	{ "viommu", sc_viommu },     { "pasid", sc_pasid },
	{ "pasid-attach", sc_pasid_attach }, { "vevent", sc_vevent },
};

/*
 * The outcome each scenario must have on each kernel of the tier, on the mock
 * in that kernel's mode and on the real kernel (patched, see
 * tests/kernel/README.md) alike: the fidelity table of that README is this
 * one. A scenario whose outcome differs fails, so that the mock and the
 * kernel cannot drift apart silently. mock_703: where the mock in its 7.3
 * mode is known to differ from 7.3 (NULL: it does not), for the reason its
 * line gives; the mock must then show exactly that outcome.
 */
static const struct {
	const char *name;
	const char *on_612, *on_703;
	const char *mock_703;
	const char *stock; /* on a stock kernel (--stock), where it differs */
} expected[] = {
	{ "probe", "PASS", "PASS", NULL, NULL },
	{ "flow", "PASS", "PASS", NULL, NULL },
	{ "empty", "PASS", "PASS", NULL, NULL },
	{ "paging", "PASS", "PASS", NULL, NULL },
	{ "stale", "PASS", "PASS", NULL, NULL },
	{ "teardown", "PASS", "PASS", NULL, NULL },
	{ "busy", "PASS", "PASS", NULL, NULL },
	{ "deadline", "PASS", "PASS", NULL, NULL },
	{ "queues", "PASS", "PASS", NULL, NULL },
	{ "reuse", "PASS", "PASS", NULL, NULL },
	{ "callback", "PASS", "PASS", NULL, NULL },
	/* Multi-record groups need the patched driver. */
	{ "grow", "PASS", "PASS", NULL, "N/A" },
	{ "multi-record", "PASS", "PASS", NULL, "N/A" },
	/* 6.12: no IOMMU_VIOMMU_ALLOC. */
	{ "viommu", "N/A", "PASS", NULL, NULL },
	{ "pasid", "PASS", "PASS", NULL, NULL },
	/* 6.12: no IOMMU_HWPT_ALLOC_PASID. */
	{ "pasid-attach", "N/A", "PASS", NULL, NULL },
	{ "vevent", "N/A", "PASS", NULL, NULL },
};

static const char *expected_outcome(const char *name, int kernel, bool stock)
{
	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
		if (strcmp(expected[i].name, name))
			continue;
		if (stock && expected[i].stock && (kernel == 612 || kernel == 703))
			return expected[i].stock;
		if (kernel == 703 && expected[i].mock_703 && !strcmp(plat_name, "mock"))
			return expected[i].mock_703;
		return kernel == 612 ? expected[i].on_612 :
		       kernel == 703 ? expected[i].on_703 : NULL;
	}
	return NULL;
}

static int run(int kind, const char *only, unsigned long faults, int kernel, int expect,
	       bool stock)
{
	struct iopf_engine_opts eo = { .size = sizeof(eo), .kind = (uint32_t)kind };
	const char *ename = kind == IOPF_ENGINE_URING ? "uring" : "plain";
	int failed = 0;

	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		struct env env = { .kind = kind, .faults = faults };
		const char *outcome, *want;
		char on[64];
		int rc, k, pk;

		if (only && strcmp(only, scenarios[i].name))
			continue;
		rc = plat_open(&env.p, kernel, stock);
		if (rc) {
			printf("scenario %s %s: FAIL platform: %s\n", scenarios[i].name, ename,
			       strerror(-rc));
			failed++;
			continue;
		}
		env.ctx = plat_ctx(env.p);
		env.kernel = expect ? expect : plat_kernel(env.p);
		rc = iopf_engine_new(&eo, &env.e);
		if (rc) {
			printf("scenario %s %s: FAIL engine: %s\n", scenarios[i].name, ename,
			       strerror(-rc));
			failed++;
			plat_close(env.p);
			continue;
		}
		rc = scenarios[i].fn(&env);
		k = env.kernel;
		outcome = !rc ? "PASS" : !strncmp(env.why, "N/A", 3) ? "N/A" : "FAIL";
		want = expected_outcome(scenarios[i].name, k, stock);
		pk = plat_kernel(env.p);
		if (pk != k)
			snprintf(on, sizeof(on), "%s %d.%d%s expecting %d.%d", plat_name, pk / 100,
				 pk % 100, stock ? " stock" : "", k / 100, k % 100);
		else
			snprintf(on, sizeof(on), "%s %d.%d%s", plat_name, k / 100, k % 100,
				 stock ? " stock" : "");
		printf("scenario %s %s on %s: %s%s\n", scenarios[i].name, ename, on,
		       outcome[0] == 'F' ? "FAIL " : "", rc ? env.why : "PASS");
		if (!strcmp(outcome, "FAIL")) {
			failed++;
		} else if (!want && (k == 612 || k == 703)) {
			printf("scenario %s %s on %s: FAIL %s, and the expected-outcomes table has no line for it\n",
			       scenarios[i].name, ename, on, outcome);
			failed++;
		} else if (want && strcmp(want, outcome)) {
			printf("scenario %s %s on %s: FAIL %s, the expected-outcomes table says %s\n",
			       scenarios[i].name, ename, on, outcome, want);
			failed++;
		}
		fflush(stdout);
		iopf_engine_free(env.e);
		plat_close(env.p);
	}
	return failed;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "engine", required_argument, NULL, 'e' },
		{ "only", required_argument, NULL, 'o' },
		{ "faults", required_argument, NULL, 'f' },
		{ "kernel", required_argument, NULL, 'k' },
		{ "expect", required_argument, NULL, 'x' },
		{ "stock", no_argument, NULL, 's' },
		{ 0 },
	};
	const char *only = NULL, *base;
	bool stock = false;
	unsigned long faults = 10000;
	unsigned int major, minor;
	int kernel = 0, expect = 0, *v;
	int kinds[2] = { IOPF_ENGINE_URING, IOPF_ENGINE_PLAIN }, nk = 2, opt, failed = 0;

	/* The kernel tier runs programs without arguments: its copy named
	 * scenarios-stock is the --stock run. */
	base = strrchr(argv[0], '/');
	stock = !strcmp(base ? base + 1 : argv[0], "scenarios-stock");
	while ((opt = getopt_long(argc, argv, "e:o:f:k:x:s", longopts, NULL)) != -1) {
		switch (opt) {
		case 'e':
			nk = 1;
			kinds[0] = strcmp(optarg, "plain") ? IOPF_ENGINE_URING : IOPF_ENGINE_PLAIN;
			break;
		case 'o':
			only = optarg;
			break;
		case 's':
			stock = true;
			break;
		case 'f':
			faults = strtoul(optarg, NULL, 0);
			if (faults < 64)
				faults = 64;
			break;
		case 'k':
		case 'x':
			v = opt == 'k' ? &kernel : &expect;
			if (sscanf(optarg, "%u.%u", &major, &minor) != 2 || minor > 99 || major > 99) {
				fprintf(stderr, "scenarios: %s: want e.g. 6.12 or 7.3\n", optarg);
				return 2;
			}
			*v = (int)(major * 100 + minor);
			break;
		default:
			fprintf(stderr, "usage: scenarios [--engine uring|plain] [--only NAME] [--faults N] [--kernel 6.12|7.3] [--expect 6.12|7.3] [--stock]\n");
			return 2;
		}
	}
	for (int i = 0; i < nk; i++)
		failed += run(kinds[i], only, faults, kernel, expect, stock);
	printf("scenarios on %s: %s\n", plat_name, failed ? "FAILED" : "all passed");
	return failed ? 1 : 0;
}
