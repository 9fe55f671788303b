/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The same scenarios on the mock kernel and on the real one (plat.h), on both
 * engines, through the public API only. Each prints one line
 *   scenario <name> <engine>: PASS | FAIL <why> | N/A <why>
 * and the program exits non-zero if any failed. Where the two platforms must
 * differ, the scenario says so where it branches on plat_name.
 *
 *   scenarios [--engine uring|plain] [--only NAME] [--faults N]
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
	int kind;
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
	int rc = iopf_ctx_probe(env->ctx, &feat), kv = plat_kernel(env->p);

	CHECK(env, rc == 0, "probe: %s (%s)", strerror(-rc), iopf_ctx_errmsg(env->ctx));
	CHECK(env, (feat & (IOPF_FEAT_FAULT_QUEUE | IOPF_FEAT_HWPT_FAULT_ID)) ==
			   (IOPF_FEAT_FAULT_QUEUE | IOPF_FEAT_HWPT_FAULT_ID),
	      "features 0x%llx", (unsigned long long)feat);
	/* IOMMU_VEVENTQ_ALLOC arrived in 6.15: present on 7.3, absent on 6.12. */
	CHECK(env, !!(feat & IOPF_FEAT_VEVENTQ) == (kv >= 615),
	      "veventq %s on %d.%d", feat & IOPF_FEAT_VEVENTQ ? "reported" : "missing",
	      kv / 100, kv % 100);
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
 * A fault id on a paging HWPT (IOAS as pt_id): 6.11 and 6.12 refuse it
 * (hw_pagetable.c: only nested HWPTs take FAULT_ID_VALID), which the library
 * turns into -EOPNOTSUPP and a message naming 6.13; from 6.13 the HWPT is made
 * and its faults are delivered end to end (demand paging without nesting).
 */
static int sc_paging(struct env *env)
{
	struct outcomes o = { 0 };
	struct qdev d = { .o = &o };
	struct iopf_hwpt_args a = { .size = sizeof(a) };
	struct iopf_group *g[1];
	struct iopf_stats st;
	uint32_t hwpt = 0;
	int rc, kv = plat_kernel(env->p);

	if (qdev_new(env, &d, NULL, NULL))
		return -1;
	a.dev_id = d.dev;
	a.pt_id = plat_ioas(env->p, d.dev);
	rc = iopf_hwpt_alloc(env->ctx, d.q, &a, &hwpt);
	if (kv < 613) {
		CHECK(env, rc == -EOPNOTSUPP, "paging HWPT with a fault id on %d.%d: %d",
		      kv / 100, kv % 100, rc);
		CHECK(env, strstr(iopf_ctx_errmsg(env->ctx), "6.13") != NULL,
		      "message: %s", iopf_ctx_errmsg(env->ctx));
		return qdev_free(env, &d, true);
	}
	CHECK(env, rc == 0, "paging HWPT with a fault id on %d.%d: %s (%s)", kv / 100,
	      kv % 100, strerror(-rc), iopf_ctx_errmsg(env->ctx));
	rc = plat_attach(env->p, d.dev, hwpt);
	CHECK(env, !rc, "attach to the paging HWPT: %s", strerror(-rc));
	rc = plat_fault(env->p, d.dev, 7, 0x20000000ull, IOPF_PERM_READ, 1);
	CHECK(env, !rc, "fault: %s", strerror(-rc));
	if (pull_n(env, g, 1))
		return -1;
	CHECK(env, iopf_group_fault(g[0], 0)->addr == 0x20000000ull &&
			   iopf_group_fault(g[0], 0)->grpid == 7,
	      "addr 0x%llx grpid %u", (unsigned long long)iopf_group_fault(g[0], 0)->addr,
	      iopf_group_fault(g[0], 0)->grpid);
	rc = iopf_group_respond(g[0], IOPF_RESP_SUCCESS);
	CHECK(env, !rc, "respond: %s", strerror(-rc));
	rc = iopf_engine_flush(env->e);
	CHECK(env, !rc, "flush: %s", strerror(-rc));
	get_stats(d.q, &st);
	CHECK(env, st.answers_success == 1 && o.ok == 1, "taken %llu, callback %u",
	      (unsigned long long)st.answers_success, o.ok);
	/* Back on the nested HWPT, so that qdev_free() tears down as usual. */
	rc = plat_attach(env->p, d.dev, d.hwpt);
	CHECK(env, !rc, "attach back: %s", strerror(-rc));
	rc = iopf_destroy(env->ctx, hwpt);
	CHECK(env, !rc, "destroy the paging HWPT: %s", strerror(-rc));
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
	for (unsigned int i = 0; i < 8; i++) {
		rc = iopf_group_respond(gs[i], IOPF_RESP_SUCCESS);
		CHECK(env, !rc, "respond: %s", strerror(-rc));
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
 * Four queues on one engine, a device each. With io_uring on the real kernel,
 * runs that have reads and writes for several queues hand them to io-wq (its
 * workers run them side by side): there must be workers. Not on the mock,
 * whose reads are socket copies kept inline.
 */
static int sc_queues(struct env *env)
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
		for (int i = 0; i < 64; i++)
			CHECK(env, !iopf_group_respond(gs[i], IOPF_RESP_SUCCESS), "respond");
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
		return fail(env, "N/A: the kernel's mock IOMMU makes one-record groups only");
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
 * Groups of 1 to 64 records from three devices on one queue, interleaved;
 * each answered once with the code the handler chose, and the devices saw
 * exactly those answers (the patched driver's page_response counts on the
 * kernel, the answer log on the mock). Where records can be sent one by one (the
 * patched kernel), a partial group is held back by the kernel, never delivered,
 * and dropped without an answer when its device detaches.
 */
#define MR_DEVS 3
#define MR_ROUNDS 40
static int sc_multi_record(struct env *env)
{
	struct outcomes o = { 0 };
	struct qdev d[MR_DEVS];
	struct plat_resp r0, r1, r2;
	struct iopf_stats st;
	static unsigned int size[MR_DEVS * MR_ROUNDS];
	struct iopf_group *gs[MR_DEVS * MR_ROUNDS];
	unsigned int ngroups = 0, want_ok = 0, want_inv = 0, got, x = 12345;
	unsigned long records = 0;
	int rc;

	if (!plat_multi_record(env->p))
		return fail(env, "N/A: this kernel's mock IOMMU sets LAST_PAGE on every record "
				 "(the tier's selftest patch is missing)");
	for (int k = 0; k < MR_DEVS; k++) {
		d[k] = (struct qdev){ .o = &o };
		if (qdev_new(env, &d[k], NULL, k ? d[0].q : NULL))
			return -1;
	}
	rc = plat_resp(env->p, &r0);
	CHECK(env, !rc, "plat_resp: %s", strerror(-rc));
	for (unsigned int r = 0; r < MR_ROUNDS; r++) {
		for (unsigned int k = 0; k < MR_DEVS; k++) {
			unsigned int grpid = ngroups; /* unique, below the partial's 0x1ff */

			x = x * 1103515245u + 12345u;
			size[grpid] = 1 + (x >> 16) % 64;
			rc = plat_fault(env->p, d[k].dev, grpid, 0x100000000ull + ((uint64_t)grpid << 20),
					IOPF_PERM_READ, size[grpid]);
			CHECK(env, !rc, "fault of %u records: %s", size[grpid], strerror(-rc));
			records += size[grpid];
			ngroups++;
		}
	}
	if (pull_n(env, gs, ngroups))
		return -1;
	for (unsigned int i = 0; i < ngroups; i++) {
		const struct iopf_fault *f = iopf_group_fault(gs[i], 0);
		unsigned int n = iopf_group_count(gs[i]);
		uint32_t code;

		CHECK(env, f->grpid < ngroups && n == size[f->grpid], "group %u: %u records, want %u",
		      f->grpid, n, f->grpid < ngroups ? size[f->grpid] : 0);
		for (unsigned int j = 0; j < n; j++) {
			const struct iopf_fault *fj = iopf_group_fault(gs[i], j);

			CHECK(env, fj->addr == 0x100000000ull + ((uint64_t)f->grpid << 20) + 4096ull * j &&
					   fj->dev_id == f->dev_id && fj->cookie == iopf_group_cookie(gs[i]) &&
					   !!(fj->flags & IOPF_FAULT_LAST_PAGE) == (j == n - 1),
			      "group %u record %u: addr 0x%llx dev %u flags 0x%x", f->grpid, j,
			      (unsigned long long)fj->addr, fj->dev_id, fj->flags);
		}
		code = f->grpid % 3 ? IOPF_RESP_SUCCESS : IOPF_RESP_INVALID;
		*(code == IOPF_RESP_SUCCESS ? &want_ok : &want_inv) += 1;
		rc = iopf_group_respond(gs[i], code);
		CHECK(env, !rc, "respond: %s", strerror(-rc));
	}
	rc = iopf_engine_flush(env->e);
	CHECK(env, !rc, "flush: %s", strerror(-rc));
	get_stats(d[0].q, &st);
	CHECK(env, st.groups == ngroups && st.faults == records, "groups %llu of %u, records %llu of %lu",
	      (unsigned long long)st.groups, ngroups, (unsigned long long)st.faults, records);
	CHECK(env, o.ok == ngroups && o.n == ngroups, "callback: %u taken of %u answers, %u groups",
	      o.ok, o.n, ngroups);
	rc = plat_resp(env->p, &r1);
	CHECK(env, !rc, "plat_resp: %s", strerror(-rc));
	CHECK(env, r1.success - r0.success == want_ok && r1.invalid - r0.invalid == want_inv &&
			   r1.other == r0.other,
	      "the devices saw %llu SUCCESS, %llu INVALID, %llu other; sent %u and %u",
	      (unsigned long long)(r1.success - r0.success),
	      (unsigned long long)(r1.invalid - r0.invalid),
	      (unsigned long long)(r1.other - r0.other), want_ok, want_inv);

	rc = plat_partial(env->p, d[1].dev, 0x1ff, 0x200000000ull, IOPF_PERM_WRITE, 5);
	if (rc != -EOPNOTSUPP) {
		CHECK(env, !rc, "partial group: %s", strerror(-rc));
		rc = iopf_engine_wait(env->e, 200);
		CHECK(env, rc >= 0, "wait: %s", strerror(-rc));
		got = 0;
		rc = iopf_engine_pull(env->e, gs, 1);
		CHECK(env, rc == 0, "a partial group was delivered (%d groups, %u records)", rc,
		      rc > 0 ? iopf_group_count(gs[0]) : got);
	}
	for (int k = MR_DEVS - 1; k >= 0; k--)
		if (qdev_free(env, &d[k], k == 0))
			return -1;
	rc = plat_resp(env->p, &r2);
	CHECK(env, !rc, "plat_resp: %s", strerror(-rc));
	/* Nothing was outstanding: the detaches answered nothing more, and the partial
	 * group went without an answer (io-pgfault.c frees partial records on removal). */
	CHECK(env, r2.success == r1.success && r2.invalid == r1.invalid && r2.other == r1.other,
	      "after detach the devices saw %llu more answers",
	      (unsigned long long)(r2.success + r2.invalid + r2.other - r1.success - r1.invalid -
				   r1.other));
	return 0;
}

/*
 * Each scenario with the outcome it must have on each line of kernels: the mock
 * in 6.12 mode and Linux 6.12 share the first column, the mock in 6.15 mode and
 * Linux 7.3 the second. A run whose outcome differs from its column fails, so a
 * mock that drifts from its kernel, or a kernel that changes, shows here
 * (tests/kernel/README.md has the table). "PASS" with a different check inside
 * (paging: refused on 6.12, end to end on 7.3) is the scenario's own branching.
 */
static const struct {
	const char *name;
	int (*fn)(struct env *env);
	const char *on612, *on7;
} scenarios[] = {
	{ "probe", sc_probe, "PASS", "PASS" },
	{ "flow", sc_flow, "PASS", "PASS" },
	{ "empty", sc_empty, "PASS", "PASS" },
	{ "paging", sc_paging, "PASS", "PASS" },
	{ "stale", sc_stale, "PASS", "PASS" },
	{ "teardown", sc_teardown, "PASS", "PASS" },
	{ "busy", sc_busy, "PASS", "PASS" },
	{ "deadline", sc_deadline, "PASS", "PASS" },
	{ "queues", sc_queues, "PASS", "PASS" },
	{ "reuse", sc_reuse, "PASS", "PASS" },
	{ "callback", sc_callback, "PASS", "PASS" },
	{ "grow", sc_grow, "PASS", "PASS" },
	{ "multi-record", sc_multi_record, "PASS", "PASS" },
};

static int run(int kind, const char *only, unsigned long faults)
{
	struct iopf_engine_opts eo = { .size = sizeof(eo), .kind = (uint32_t)kind };
	const char *ename = kind == IOPF_ENGINE_URING ? "uring" : "plain";
	int failed = 0;

	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		struct env env = { .kind = kind, .faults = faults };
		int rc;

		if (only && strcmp(only, scenarios[i].name))
			continue;
		rc = plat_open(&env.p);
		if (rc) {
			printf("scenario %s %s: FAIL platform: %s\n", scenarios[i].name, ename,
			       strerror(-rc));
			failed++;
			continue;
		}
		env.ctx = plat_ctx(env.p);
		rc = iopf_engine_new(&eo, &env.e);
		if (rc) {
			printf("scenario %s %s: FAIL engine: %s\n", scenarios[i].name, ename,
			       strerror(-rc));
			failed++;
			plat_close(env.p);
			continue;
		}
		rc = scenarios[i].fn(&env);
		{
			int kv = plat_kernel(env.p);
			const char *want = kv < 613 ? scenarios[i].on612 : scenarios[i].on7;
			const char *got = !rc ? "PASS" : !strncmp(env.why, "N/A", 3) ? "N/A" : "FAIL";

			if (!rc)
				printf("scenario %s %s on %s %d.%d: PASS", scenarios[i].name, ename,
				       plat_name, kv / 100, kv % 100);
			else
				printf("scenario %s %s on %s %d.%d: %s%s", scenarios[i].name, ename,
				       plat_name, kv / 100, kv % 100, strcmp(got, "N/A") ? "FAIL " : "",
				       env.why);
			if (strcmp(got, want)) {
				printf(" (expected %s on this kernel: FAIL)", want);
				failed++;
			}
			printf("\n");
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
		{ 0 },
	};
	const char *only = NULL;
	unsigned long faults = 10000;
	int kinds[2] = { IOPF_ENGINE_URING, IOPF_ENGINE_PLAIN }, nk = 2, opt, failed = 0;

	while ((opt = getopt_long(argc, argv, "e:o:f:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'e':
			nk = 1;
			kinds[0] = strcmp(optarg, "plain") ? IOPF_ENGINE_URING : IOPF_ENGINE_PLAIN;
			break;
		case 'o':
			only = optarg;
			break;
		case 'f':
			faults = strtoul(optarg, NULL, 0);
			if (faults < 64)
				faults = 64;
			break;
		default:
			fprintf(stderr, "usage: scenarios [--engine uring|plain] [--only NAME] [--faults N]\n");
			return 2;
		}
	}
	for (int i = 0; i < nk; i++)
		failed += run(kinds[i], only, faults);
	printf("scenarios on %s: %s\n", plat_name, failed ? "FAILED" : "all passed");
	return failed ? 1 : 0;
}
