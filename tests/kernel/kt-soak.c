/* SPDX-License-Identifier: MIT */
/*
 * soak: libiopf on the real kernel, with exact accounting from the device's side.
 *
 *   soak [--faults N] [--seed S]       (default 200000 faults per engine, seed from the
 *                                       clock; the seed is printed to replay a run)
 *
 * For each engine (io_uring, plain): random multi-record groups (1 to 8 records,
 * IOMMU_TEST_OP_TRIGGER_IOPF_FLAGS, LAST_PAGE on the last record only) from the kernel's
 * mock device, received by libiopf and answered (SUCCESS or INVALID, at random) by 4
 * worker threads; at random points mid-stream the device is detached and reattached
 * (the kernel answers INVALID what is pending), sometimes with a partial group left
 * behind (the kernel must drop it unanswered), and the whole queue is torn down and made
 * anew. At the end the patched driver's response counts (IOMMU_TEST_OP_IOPF_RESP_STATS)
 * must show every triggered group answered exactly once:
 *   device total == groups triggered (no loss, no duplicate),
 *   device SUCCESS == SUCCESS answers the kernel took from libiopf,
 *   device INVALID == INVALID answers taken + groups the kernel answered itself,
 *   no group with two answers taken (per group, from libiopf's answered callback).
 *
 * Exit: 0 pass, 77 skip (no iommufd test support / unpatched kernel), 1 fail.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libiopf.h>

#include "kt-helper.h"
#include "kt-report.h"

#define PROG "soak"
#define NWORKERS 4
#define WQ_CAP 256
#define MAX_GROUP 8
#define INFLIGHT 256
#define TAGMAP 65536u



struct soak {
	/* work queue, engine thread -> workers */
	pthread_mutex_t lock;
	pthread_cond_t not_empty, not_full, idle;
	struct iopf_group *slots[WQ_CAP];
	unsigned int head, len, busy;
	bool closed;
	/* per run */
	uint64_t delivered; /* groups handed to the handler (engine thread) */
	uint64_t taken_success, taken_invalid, refused, other_err; /* answered callback */
	uint64_t stale_respond; /* iopf_group_respond() said -ESTALE (workers) */
	uint8_t *answers; /* per grpid: answers the kernel took */
	uint32_t tagmap[TAGMAP]; /* tag -> grpid, for the answered callback */
	uint32_t ngrp;
};

static unsigned int seed;
static __thread uint32_t dbg_grpid, dbg_cookie, dbg_count;
static __thread uint64_t dbg_tag;

static void *worker(void *arg)
{
	struct soak *s = arg;
	unsigned int r = seed * 7919u + (unsigned int)(uintptr_t)&r;

	for (;;) {
		struct iopf_group *g;
		uint32_t code;
		int rc;

		pthread_mutex_lock(&s->lock);
		while (!s->len && !s->closed)
			pthread_cond_wait(&s->not_empty, &s->lock);
		if (!s->len && s->closed) {
			pthread_mutex_unlock(&s->lock);
			return NULL;
		}
		g = s->slots[s->head];
		s->head = (s->head + 1) % WQ_CAP;
		s->len--;
		s->busy++;
		pthread_cond_signal(&s->not_full);
		pthread_mutex_unlock(&s->lock);

		code = rand_r(&r) % 10 ? IOPF_RESP_SUCCESS : IOPF_RESP_INVALID;
		{
			const struct iopf_fault *f0 = iopf_group_fault(g, 0);

			dbg_grpid = f0 ? f0->grpid : ~0u;
			dbg_cookie = iopf_group_cookie(g);
			dbg_tag = iopf_group_tag(g);
			dbg_count = iopf_group_count(g);
		}
		rc = iopf_group_respond(g, code);
		if (rc && rc != -ESTALE)
			printf(PROG ": respond %s on grpid %u cookie %u tag %" PRIu64 " count %u\n",
			       RC(rc), dbg_grpid, dbg_cookie, dbg_tag, dbg_count);
		/* -ESTALE: the kernel answered the group on a detach and gave its cookie to a
		 * newer group already read; the library refuses to answer that one by mistake */
		CHECK(!rc || rc == -ESTALE, "iopf_group_respond: %s", RC(rc));
		if (rc)
			__atomic_fetch_add(&s->stale_respond, 1, __ATOMIC_RELAXED);

		pthread_mutex_lock(&s->lock);
		if (!--s->busy && !s->len)
			pthread_cond_broadcast(&s->idle);
		pthread_mutex_unlock(&s->lock);
	}
}

static int on_group(struct iopf_group *g, void *user)
{
	struct soak *s = user;
	const struct iopf_fault *f = iopf_group_fault(g, 0);

	CHECK(f, "a group without records");
	CHECK(f->grpid < s->ngrp, "grpid %u out of range", f->grpid);
	s->tagmap[iopf_group_tag(g) % TAGMAP] = f->grpid;
	s->delivered++;
	pthread_mutex_lock(&s->lock);
	while (s->len == WQ_CAP)
		pthread_cond_wait(&s->not_full, &s->lock);
	s->slots[(s->head + s->len) % WQ_CAP] = g;
	s->len++;
	pthread_cond_signal(&s->not_empty);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static void on_answered(struct iopf_queue *q, uint64_t tag, uint32_t cookie, uint32_t code,
			int result, void *user)
{
	struct soak *s = user;
	uint32_t grpid = s->tagmap[(tag & ~(1ull << 63)) % TAGMAP];

	if (result == 0) {
		if (code == IOPF_RESP_SUCCESS)
			s->taken_success++;
		else
			s->taken_invalid++;
		if (s->answers[grpid] < 255)
			s->answers[grpid]++;
	} else if (result == -EINVAL || result == -ESTALE) {
		s->refused++;
	} else {
		s->other_err++;
	}
}

/* Wait until the workers hold no group and the engine has nothing more to hand out or
 * to write, running the engine meanwhile (it may hand out more groups while we wait). */
static void drain(struct soak *s, struct iopf_engine *e)
{
	int rc;

	for (;;) {
		bool idle;

		rc = iopf_engine_dispatch(e, 1);
		CHECK(rc >= 0, "iopf_engine_dispatch: %s", RC(rc));
		pthread_mutex_lock(&s->lock);
		idle = !s->len && !s->busy;
		pthread_mutex_unlock(&s->lock);
		if (!idle || rc > 0)
			continue;
		rc = iopf_engine_flush(e);
		CHECK(rc >= 0, "iopf_engine_flush: %s", RC(rc));
		rc = iopf_engine_dispatch(e, 0);
		CHECK(rc >= 0, "iopf_engine_dispatch: %s", RC(rc));
		pthread_mutex_lock(&s->lock);
		idle = !s->len && !s->busy;
		pthread_mutex_unlock(&s->lock);
		if (!rc && idle)
			return;
	}
}

static int run(uint32_t kind, uint64_t target)
{
	static struct soak s;
	struct iopf_engine_opts eo = { .size = sizeof(eo), .kind = kind };
	struct iopf_queue_opts qo = {
		.size = sizeof(qo),
		.max_group = MAX_GROUP,
		.handler = on_group,
		.answered = on_answered,
		.user = &s,
	};
	struct iopf_hwpt_args ha = { .size = sizeof(ha) };
	struct kt_resp_stats st;
	struct iopf_engine *e;
	struct iopf_queue *q;
	struct iopf_ctx *ctx;
	struct kt_mock m;
	pthread_t th[NWORKERS];
	uint64_t faults = 0, groups = 0, partials = 0, detaches = 0, teardowns = 0;
	uint64_t twice = 0, lost, dup, once;
	/* groups the kernel answered itself on a detach are never delivered: count what is
	 * in flight from the last detach on */
	uint64_t base_groups = 0, base_delivered = 0;
	uint32_t hwpt_id, grpid = 0;
	unsigned int r = seed;
	struct timespec t0, t1;
	double secs;
	void *data;
	int rc, i;

	memset(&s, 0, sizeof(s));
	pthread_mutex_init(&s.lock, NULL);
	pthread_cond_init(&s.not_empty, NULL);
	pthread_cond_init(&s.not_full, NULL);
	pthread_cond_init(&s.idle, NULL);
	s.ngrp = (uint32_t)(target + 1024);
	s.answers = calloc(s.ngrp, 1);
	CHECK(s.answers, "out of memory");

	rc = iopf_ctx_open(NULL, &ctx);
	CHECK(!rc, "iopf_ctx_open: %s", RC(rc));
	rc = kt_mock_setup(&m, iopf_ctx_fd(ctx));
	CHECK(!rc, "kt_mock_setup: %s", RC(rc));
	rc = kt_resp_stats(m.fd, m.idev_id, &st, 1);
	CHECK(!rc, "kt_resp_stats: %s", RC(rc));
	rc = iopf_engine_new(&eo, &e);
	CHECK(!rc, "iopf_engine_new: %s", RC(rc));
	for (i = 0; i < NWORKERS; i++)
		CHECK(!pthread_create(&th[i], NULL, worker, &s), "pthread_create");
	ha.dev_id = m.idev_id;
	ha.pt_id = m.parent_id;
	kt_nested_data(&data, &ha.data_len, &ha.data_type);
	ha.data = data;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (faults < target) {
		/* a new queue and HWPT; the device moves onto it */
		uint64_t epoch_groups = 200 + rand_r(&r) % 3000, g;

		rc = iopf_queue_new(ctx, e, &qo, &q);
		CHECK(!rc, "iopf_queue_new: %s", RC(rc));
		rc = iopf_hwpt_alloc(ctx, q, &ha, &hwpt_id);
		CHECK(!rc, "iopf_hwpt_alloc: %s", RC(rc));
		rc = kt_mock_domain_replace(m.fd, m.stdev_id, hwpt_id);
		CHECK(!rc, "attach: %s", RC(rc));

		for (g = 0; g < epoch_groups && faults < target; g++) {
			unsigned int n = 1 + rand_r(&r) % MAX_GROUP, k;

			for (k = 0; k < n; k++) {
				rc = kt_trigger_iopf_flags(m.fd, m.idev_id, 0, grpid,
							   IOPF_PERM_READ,
							   0x100000ull + ((uint64_t)k << 12), k == n - 1);
				CHECK(!rc, "trigger: %s", RC(rc));
			}
			grpid++;
			groups++;
			faults += n;
			/* keep up: at most INFLIGHT groups not yet delivered */
			while ((int64_t)(groups - base_groups) - (int64_t)(s.delivered - base_delivered) >
			       (int64_t)(INFLIGHT - rand_r(&r) % 64)) {
				rc = iopf_engine_dispatch(e, 1);
				CHECK(rc >= 0, "iopf_engine_dispatch: %s", RC(rc));
			}
			if (rand_r(&r) % 8 == 0) {
				rc = iopf_engine_dispatch(e, 0);
				CHECK(rc >= 0, "iopf_engine_dispatch: %s", RC(rc));
			}
			if (rand_r(&r) % 300 == 0) {
				/* detach mid-stream, maybe with a partial group, then reattach */
				if (rand_r(&r) % 2) {
					unsigned int np = 1 + rand_r(&r) % 3;

					for (k = 0; k < np; k++) {
						rc = kt_trigger_iopf_flags(m.fd, m.idev_id, 0, grpid,
									   IOPF_PERM_WRITE,
									   0x200000ull + ((uint64_t)k << 12),
									   0);
						CHECK(!rc, "trigger partial: %s", RC(rc));
					}
					grpid++; /* never completed: must get no answer */
					partials++;
				}
				rc = kt_mock_domain_replace(m.fd, m.stdev_id, m.parent_id);
				CHECK(!rc, "detach: %s", RC(rc));
				rc = kt_mock_domain_replace(m.fd, m.stdev_id, hwpt_id);
				CHECK(!rc, "reattach: %s", RC(rc));
				detaches++;
				base_groups = groups;
				base_delivered = s.delivered;
			}
		}
		/* queue teardown mid-stream: groups still pending in the kernel and with the
		 * workers; the kernel answers what is pending on the detach */
		if (rand_r(&r) % 2) {
			rc = kt_trigger_iopf_flags(m.fd, m.idev_id, 0, grpid, IOPF_PERM_READ, 0x300000, 0);
			CHECK(!rc, "trigger partial: %s", RC(rc));
			grpid++;
			partials++;
		}
		rc = kt_mock_domain_replace(m.fd, m.stdev_id, m.parent_id);
		CHECK(!rc, "detach for teardown: %s", RC(rc));
		drain(&s, e);
		iopf_queue_free(q);
		base_groups = groups;
		base_delivered = s.delivered;
		rc = kt_destroy(m.fd, hwpt_id);
		CHECK(!rc, "destroy hwpt: %s", RC(rc));
		teardowns++;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

	pthread_mutex_lock(&s.lock);
	s.closed = true;
	pthread_cond_broadcast(&s.not_empty);
	pthread_mutex_unlock(&s.lock);
	for (i = 0; i < NWORKERS; i++)
		pthread_join(th[i], NULL);

	rc = kt_resp_stats(m.fd, m.idev_id, &st, 0);
	CHECK(!rc, "kt_resp_stats: %s", RC(rc));
	for (uint32_t gi = 0; gi < grpid; gi++)
		if (s.answers[gi] > 1)
			twice++;
	lost = st.total < groups ? groups - st.total : 0;
	dup = st.total > groups ? st.total - groups : 0;
	once = groups - lost - (dup + twice < groups ? dup + twice : groups);
	printf(PROG ": [kernel %d.%d] engine %s: %" PRIu64 " faults, %" PRIu64
	       " groups triggered (+%" PRIu64 " partial, dropped), %" PRIu64 " detaches, %" PRIu64
	       " queue teardowns, %.1f s (%.0f faults/s)\n",
	       kt_kernel_version() / 100, kt_kernel_version() % 100,
	       kind == IOPF_ENGINE_URING ? "uring" : "plain", faults, groups, partials, detaches,
	       teardowns, secs, (double)faults / secs);
	printf(PROG ":   device saw: %" PRIu64 " answers (success %" PRIu64 ", invalid %" PRIu64
	       ", failure %" PRIu64 "); libiopf: delivered %" PRIu64 ", taken success %" PRIu64
	       ", taken invalid %" PRIu64 ", refused or stale (kernel had answered) %" PRIu64
	       " + %" PRIu64 " at respond\n",
	       st.total, st.success, st.invalid, st.failure, s.delivered, s.taken_success,
	       s.taken_invalid, s.refused, s.stale_respond);
	printf(PROG ":   groups: triggered %" PRIu64 ", answered once %" PRIu64 ", lost %" PRIu64
	       ", answered twice %" PRIu64 "\n",
	       groups, once, lost, dup + twice);
	fflush(stdout);

	CHECK(lost == 0 && dup == 0 && twice == 0, "groups lost or answered twice");
	CHECK(st.failure == 0 && s.other_err == 0, "unexpected answer codes or write errors");
	CHECK(st.success == s.taken_success, "device SUCCESS %" PRIu64 " != taken %" PRIu64,
	      st.success, s.taken_success);
	CHECK(st.invalid == groups - s.taken_success,
	      "device INVALID %" PRIu64 " != taken INVALID + kernel's own %" PRIu64, st.invalid,
	      groups - s.taken_success);
	CHECK(s.taken_success + s.taken_invalid <= groups, "more answers taken than groups");

	iopf_engine_free(e);
	rc = kt_mock_teardown(&m);
	CHECK(!rc, "teardown: %s", RC(rc));
	iopf_ctx_free(ctx);
	free(s.answers);
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t target = 200000;
	int fd, rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--faults") && i + 1 < argc)
			target = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = (unsigned int)strtoul(argv[++i], NULL, 0);
		else {
			fprintf(stderr, "usage: soak [--faults N] [--seed S]\n");
			return 2;
		}
	}
	CHECK(target > 0, "--faults must be > 0");
	if (!seed)
		seed = (unsigned int)time(NULL) | 1u;
	fd = kt_open_or_skip(PROG);
	rc = kt_patched(fd);
	if (rc != 1) {
		printf(PROG ": SKIP: the kernel lacks the libiopf selftest patches (%d)\n", rc);
		return KT_EXIT_SKIP;
	}
	close(fd);
	printf(PROG ": %" PRIu64 " faults per engine, seed %u\n", target, seed);
	run(IOPF_ENGINE_URING, target);
	run(IOPF_ENGINE_PLAIN, target);
	printf(PROG ": PASS\n");
	return 0;
}
