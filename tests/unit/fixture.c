/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The unit tests' common setup over the mock kernel: see fixture.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fixture.h"

int fx_kind_uring = IOPF_ENGINE_URING;
int fx_kind_plain = IOPF_ENGINE_PLAIN;

uint64_t fx_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t fx_cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int fx_setup(void **state)
{
	int kind = *(int *)*state;
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->kind = kind;
	pthread_mutex_init(&f->alock, NULL);
	*state = f;
	return 0;
}

int fx_teardown(void **state)
{
	struct fx *f = *state;

	fx_fini(f);
	pthread_mutex_destroy(&f->alock);
	free(f);
	return 0;
}

static void fx_answered(struct iopf_queue *q, uint64_t tag, uint32_t cookie,
			uint32_t code, int result, void *user)
{
	struct fx *f = user;

	pthread_mutex_lock(&f->alock);
	if (f->nanswers < FX_MAX_ANSWERS)
		f->answers[f->nanswers] = (struct fx_answer){
			.q = q, .tag = tag, .cookie = cookie, .code = code,
			.result = result,
		};
	f->nanswers++;
	pthread_mutex_unlock(&f->alock);
}

const struct fx_answer *fx_answer_for(struct fx *f, uint64_t tag)
{
	const struct fx_answer *a = NULL;

	pthread_mutex_lock(&f->alock);
	for (unsigned int i = 0; i < f->nanswers && i < FX_MAX_ANSWERS; i++)
		if (f->answers[i].tag == tag)
			a = &f->answers[i];
	pthread_mutex_unlock(&f->alock);
	return a;
}

void fx_init(struct fx *f, const struct fx_cfg *cfg)
{
	struct iopf_mock_opts mo = { .size = sizeof(mo) };
	struct iopf_engine_opts eo = { .size = sizeof(eo), .kind = (uint32_t)f->kind };

	if (cfg) {
		mo.kernel = cfg->kernel;
		mo.flags = cfg->mock_flags;
	}
	assert_int_equal(iopf_mock_new(&mo, &f->m), 0);
	assert_non_null(f->m);
	f->inited = true;
	assert_int_equal(iopf_mock_ctx_new(f->m, &f->ctx), 0);
	assert_non_null(f->ctx);
	assert_int_equal(iopf_engine_new(&eo, &f->e), 0);
	assert_non_null(f->e);
	assert_int_equal(iopf_engine_kind(f->e), f->kind);
	assert_int_equal(iopf_ioas_alloc(f->ctx, &f->ioas), 0);
	assert_int_not_equal(f->ioas, 0);
}

void fx_init_default(struct fx *f)
{
	fx_init(f, NULL);
	fx_add_queue(f, NULL);
}

static uint32_t fx_new_dev(struct fx *f)
{
	uint32_t id = 0;

	assert_true(f->ndev < FX_MAX_DEVS);
	assert_int_equal(iopf_mock_dev_new(f->m, &id), 0);
	assert_int_not_equal(id, 0);
	f->devs[f->ndev++] = (struct fx_dev){ .id = id };
	return id;
}

void fx_attach(struct fx *f, uint32_t dev, uint32_t hwpt)
{
	assert_int_equal(iopf_mock_dev_attach(f->m, dev, hwpt), 0);
	for (unsigned int i = 0; i < f->ndev; i++)
		if (f->devs[i].id == dev)
			f->devs[i].hwpt = hwpt;
}

unsigned int fx_add_queue(struct fx *f, const struct fx_qcfg *qc)
{
	struct iopf_queue_opts qo = { .size = sizeof(qo), .user = f };
	uint32_t payload = FX_PAYLOAD;
	struct fx_queue *fq;
	unsigned int qi;
	int rc;

	assert_true(f->nq < FX_MAX_QUEUES);
	qi = f->nq;
	fq = &f->qs[qi];
	if (qc) {
		qo.batch = qc->batch;
		qo.max_group = qc->max_group;
		qo.deadline_ns = qc->deadline_ns;
		qo.handler = qc->handler;
	}
	if (!qc || !qc->no_answered)
		qo.answered = fx_answered;

	fq->dev = fx_new_dev(f);
	struct iopf_hwpt_args parent = {
		.size = sizeof(parent),
		.flags = IOPF_HWPT_ALLOC_NEST_PARENT,
		.dev_id = fq->dev,
		.pt_id = f->ioas,
	};
	rc = iopf_hwpt_alloc(f->ctx, NULL, &parent, &fq->parent);
	if (rc)
		print_error("parent HWPT: %d %s\n", rc, iopf_ctx_errmsg(f->ctx));
	assert_int_equal(rc, 0);

	rc = iopf_queue_new(f->ctx, f->e, &qo, &fq->q);
	if (rc)
		print_error("queue: %d %s\n", rc, iopf_ctx_errmsg(f->ctx));
	assert_int_equal(rc, 0);
	assert_non_null(fq->q);
	fq->fault_id = iopf_queue_id(fq->q);
	assert_int_not_equal(fq->fault_id, 0);
	assert_ptr_equal(iopf_queue_user(fq->q), f);
	f->nq++;

	struct iopf_hwpt_args nested = {
		.size = sizeof(nested),
		.dev_id = fq->dev,
		.pt_id = fq->parent,
		.data_type = FX_DATA_SELFTEST,
		.data_len = sizeof(payload),
		.data = &payload,
	};
	rc = iopf_hwpt_alloc(f->ctx, fq->q, &nested, &fq->hwpt);
	if (rc)
		print_error("nested HWPT: %d %s\n", rc, iopf_ctx_errmsg(f->ctx));
	assert_int_equal(rc, 0);
	fx_attach(f, fq->dev, fq->hwpt);
	return qi;
}

uint32_t fx_add_dev(struct fx *f, unsigned int qi)
{
	uint32_t dev;

	assert_true(qi < f->nq);
	dev = fx_new_dev(f);
	fx_attach(f, dev, f->qs[qi].hwpt);
	return dev;
}

void fx_detach(struct fx *f, uint32_t dev_id)
{
	for (unsigned int i = 0; i < f->ndev; i++) {
		if (f->devs[i].id == dev_id) {
			assert_int_equal(iopf_mock_dev_detach(f->m, dev_id), 0);
			f->devs[i].hwpt = 0;
			return;
		}
	}
	fail_msg("unknown device %u", dev_id);
}

void fx_free_queue(struct fx *f, unsigned int qi)
{
	assert_true(qi < f->nq);
	iopf_queue_free(f->qs[qi].q);
	f->qs[qi].q = NULL;
}

struct iopf_mock_stats fx_mstats(struct fx *f)
{
	struct iopf_mock_stats st = { .size = sizeof(st) };

	assert_int_equal(iopf_mock_stats(f->m, &st), 0);
	return st;
}

struct iopf_stats fx_qstats(struct fx *f, unsigned int qi)
{
	struct iopf_stats st = { .size = sizeof(st) };

	assert_true(qi < f->nq);
	assert_int_equal(iopf_queue_stats(f->qs[qi].q, &st), 0);
	return st;
}

struct iopf_mock_group_info fx_ginfo(struct fx *f, uint64_t gid)
{
	struct iopf_mock_group_info gi = { .size = sizeof(gi) };

	assert_int_equal(iopf_mock_group_info(f->m, gid, &gi), 0);
	return gi;
}

uint64_t fx_trigger_dev(struct fx *f, uint32_t dev, uint32_t grpid,
			unsigned int n, uint64_t addr)
{
	struct iopf_mock_fault recs[64];
	uint64_t gid = 0;

	assert_true(n > 0 && n <= 64);
	memset(recs, 0, sizeof(recs));
	for (unsigned int i = 0; i < n; i++) {
		recs[i].perm = IOPF_PERM_READ;
		recs[i].addr = addr + (uint64_t)i * 4096;
	}
	assert_int_equal(iopf_mock_trigger(f->m, dev, grpid, recs, n, &gid), 0);
	assert_int_not_equal(gid, 0);
	return gid;
}

uint64_t fx_trigger(struct fx *f, unsigned int qi, uint32_t grpid,
		    unsigned int n, uint64_t addr)
{
	assert_true(qi < f->nq);
	return fx_trigger_dev(f, f->qs[qi].dev, grpid, n, addr);
}

unsigned int fx_pull(struct fx *f, struct iopf_group **gs, unsigned int want,
		     int timeout_ms)
{
	uint64_t end = fx_now_ms() + (uint64_t)timeout_ms;
	unsigned int got = 0;

	while (got < want) {
		uint64_t now = fx_now_ms();
		int rc;

		if (now >= end)
			break;
		rc = iopf_engine_wait(f->e, (int)(end - now));
		if (rc < 0)
			fail_msg("iopf_engine_wait: %d", rc);
		rc = iopf_engine_pull(f->e, gs + got, want - got);
		if (rc < 0)
			fail_msg("iopf_engine_pull: %d", rc);
		got += (unsigned int)rc;
	}
	return got;
}

uint64_t fx_flush_until(struct fx *f, uint64_t answered, int timeout_ms)
{
	uint64_t end = fx_now_ms() + (uint64_t)timeout_ms;
	uint64_t n;

	for (;;) {
		struct iopf_mock_stats st;
		int rc = iopf_engine_flush(f->e);

		if (rc < 0)
			fail_msg("iopf_engine_flush: %d", rc);
		st = fx_mstats(f);
		n = st.answered_success + st.answered_invalid;
		if (n >= answered || fx_now_ms() >= end)
			break;
		/* Let io_uring's completions or another thread catch up. */
		rc = iopf_engine_wait(f->e, 10);
		if (rc < 0)
			fail_msg("iopf_engine_wait: %d", rc);
	}
	return n;
}

/*
 * Queues first (so that the library answers what it read while the devices
 * still wait), then what the mock holds for them: devices detached, HWPTs and
 * the fault objects destroyed, then the engine, the context, the mock.
 */
void fx_fini(struct fx *f)
{
	struct iopf_mock_stats st;

	if (!f->inited)
		return;
	f->inited = false;
	for (unsigned int i = 0; i < f->nq; i++) {
		if (f->qs[i].q)
			iopf_queue_free(f->qs[i].q);
		f->qs[i].q = NULL;
	}
	/* Whatever the library read it answered: the books before the mock
	 * answers anything itself. */
	st = fx_mstats(f);
	if (!f->allow_outstanding)
		assert_int_equal(st.outstanding, 0);
	if (!f->allow_pending)
		assert_int_equal(st.pending, 0);
	assert_int_equal(st.bad_unknown, f->expect_bad_unknown);
	assert_int_equal(st.bad_duplicate, f->expect_bad_duplicate);
	assert_int_equal(st.bad_code, f->expect_bad_code);

	for (unsigned int i = 0; i < f->ndev; i++)
		if (f->devs[i].hwpt)
			fx_detach(f, f->devs[i].id);
	for (unsigned int i = 0; i < f->nq; i++) {
		int rc;

		assert_int_equal(iopf_destroy(f->ctx, f->qs[i].hwpt), 0);
		assert_int_equal(iopf_destroy(f->ctx, f->qs[i].parent), 0);
		/* iopf_queue_free() could not destroy the fault object while
		 * the nested HWPT used it (EBUSY, as the kernel): the library
		 * did when that HWPT was destroyed, so it is gone. */
		rc = iopf_destroy(f->ctx, f->qs[i].fault_id);
		assert_int_equal(rc, -ENOENT);
	}
	assert_int_equal(iopf_destroy(f->ctx, f->ioas), 0);
	iopf_engine_free(f->e);
	f->e = NULL;
	iopf_ctx_free(f->ctx);
	f->ctx = NULL;

	st = fx_mstats(f);
	assert_int_equal(st.bad_unknown, f->expect_bad_unknown);
	assert_int_equal(st.bad_duplicate, f->expect_bad_duplicate);
	assert_int_equal(st.bad_code, f->expect_bad_code);
	iopf_mock_free(f->m);
	f->m = NULL;
}
