/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the library promises about lifetimes and about the questions users had
 * to guess: any teardown order of context, engine and queues is safe (with
 * groups held, ready and unread, answers queued); who destroys a fault object
 * a HWPT still used; how unseen groups' automatic answers are told apart;
 * max_group below batch; a handler's positive return; re-entering the engine;
 * a group after a refused code. Run under ASan in the sanitizer builds.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fixture.h"

/* ---- teardown orders ---------------------------------------------------- */

enum order {
	CTX_QUEUES_ENGINE, /* ctx, each queue, engine */
	CTX_ENGINE, /* ctx, engine (which frees the queues) */
	QUEUES_CTX_ENGINE,
	QUEUES_ENGINE_CTX, /* the documented order */
	ENGINE_CTX, /* engine (frees the queues), ctx */
	NORDERS,
};

static const char *const order_name[NORDERS] = {
	"ctx,queues,engine", "ctx,engine", "queues,ctx,engine",
	"queues,engine,ctx", "engine,ctx",
};

static void free_queues(struct fx *f)
{
	for (unsigned int i = 0; i < f->nq; i++) {
		iopf_queue_free(f->qs[i].q);
		f->qs[i].q = NULL;
	}
}

/* Frees ctx, engine and queues in the given order, then checks the mock's
 * books: every group read was answered exactly once (the queued answers as
 * given, the rest INVALID), nothing with a bad or reused cookie; the group
 * never read is answered by the detach (the kernel's auto-answer). */
static void one_order(int kind, enum order ord)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct iopf_group *g[4];
	uint64_t gid[7], held_tag, q1_tag;
	struct iopf_mock_stats st;
	unsigned int unseen = 0, seen = 0;

	assert_non_null(f);
	f->kind = kind;
	pthread_mutex_init(&f->alock, NULL);
	fx_init(f, NULL);
	fx_add_queue(f, NULL);
	fx_add_queue(f, NULL);

	/* Queue 1: one group held by the caller. */
	gid[6] = fx_trigger(f, 1, 60, 1, 0x60000);
	assert_int_equal(fx_pull(f, g + 3, 1, 5000), 1);
	q1_tag = iopf_group_tag(g[3]);
	/* Queue 0: three held, two read and never handed out, one unread. */
	for (unsigned int i = 0; i < 3; i++)
		gid[i] = fx_trigger(f, 0, i, 2, 0x10000 * (i + 1));
	assert_int_equal(fx_pull(f, g, 3, 5000), 3);
	held_tag = iopf_group_tag(g[1]);
	gid[3] = fx_trigger(f, 0, 3, 1, 0x40000);
	gid[4] = fx_trigger(f, 0, 4, 1, 0x50000);
	for (int i = 0; i < 100 && iopf_engine_process(f->e) < 2; i++)
		;
	assert_int_equal(iopf_engine_process(f->e), 2);
	gid[5] = fx_trigger(f, 0, 5, 1, 0x70000);
	/* Two answers queued, not written yet. */
	assert_int_equal(iopf_group_respond(g[0], IOPF_RESP_SUCCESS), 0);
	assert_int_equal(iopf_group_respond(g[2], IOPF_RESP_INVALID), 0);
	assert_int_equal(fx_mstats(f).answered_success, 0);

	switch (ord) {
	case CTX_QUEUES_ENGINE:
		iopf_ctx_free(f->ctx);
		free_queues(f);
		iopf_engine_free(f->e);
		break;
	case CTX_ENGINE:
		iopf_ctx_free(f->ctx);
		iopf_engine_free(f->e);
		break;
	case QUEUES_CTX_ENGINE:
		free_queues(f);
		iopf_ctx_free(f->ctx);
		iopf_engine_free(f->e);
		break;
	case QUEUES_ENGINE_CTX:
		free_queues(f);
		iopf_engine_free(f->e);
		iopf_ctx_free(f->ctx);
		break;
	case ENGINE_CTX:
		iopf_engine_free(f->e);
		iopf_ctx_free(f->ctx);
		break;
	default:
		fail();
	}
	f->ctx = NULL;
	f->e = NULL;

	st = fx_mstats(f);
	assert_int_equal(st.answered_success, 1);
	assert_int_equal(st.answered_invalid, 5); /* g[2], g[1], 2 ready, q1 */
	assert_int_equal(st.outstanding, 0);
	assert_int_equal(st.pending, 1);
	assert_int_equal(st.bad_unknown + st.bad_duplicate + st.bad_code, 0);
	for (unsigned int i = 0; i < f->ndev; i++)
		assert_int_equal(iopf_mock_dev_detach(f->m, f->devs[i].id), 0);
	for (unsigned int i = 0; i < 7; i++) {
		struct iopf_mock_group_info gi = fx_ginfo(f, gid[i]);

		if (i == 5) {
			assert_int_equal(gi.state, IOPF_MOCK_GROUP_AUTO_DETACH);
			assert_int_equal(gi.answers, 0);
			continue;
		}
		assert_int_equal(gi.state, IOPF_MOCK_GROUP_ANSWERED);
		assert_int_equal(gi.answers, 1);
		assert_int_equal(gi.code, i == 0 ? IOPF_RESP_SUCCESS :
						   IOPF_RESP_INVALID);
	}

	/* Each answer reported once; the two never handed out as unseen. */
	assert_int_equal(f->nanswers, 6);
	for (unsigned int i = 0; i < f->nanswers; i++) {
		assert_int_equal(f->answers[i].result, 0);
		if (f->answers[i].tag & IOPF_TAG_UNSEEN)
			unseen++;
		else
			seen++;
	}
	assert_int_equal(unseen, 2);
	assert_int_equal(seen, 4);
	assert_non_null(fx_answer_for(f, held_tag));
	assert_null(fx_answer_for(f, held_tag | IOPF_TAG_UNSEEN));
	(void)q1_tag;

	iopf_mock_free(f->m);
	f->m = NULL;
	f->inited = false;
	pthread_mutex_destroy(&f->alock);
	free(f);
}

static void teardown_orders(void **state)
{
	int kind = *(int *)*state;

	for (int o = 0; o < NORDERS; o++) {
		print_message("order %s\n", order_name[o]);
		one_order(kind, (enum order)o);
	}
}

/* ---- fault objects a HWPT still used ------------------------------------ */

static bool fault_exists(struct fx *f, uint32_t fault_id)
{
	/* A rule that cannot fire (nth far away): -ENOENT once it is gone. */
	int rc = iopf_mock_inject_fd(f->m, fault_id, IOPF_MOCK_READ_ZERO,
				     1000000, 0);

	assert_true(rc == 0 || rc == -ENOENT);
	return rc == 0;
}

/*
 * iopf_queue_free() cannot destroy the fault object while the nested HWPT
 * reports into it (EBUSY); the library destroys it once the caller destroys
 * that HWPT with iopf_destroy(), and the group the kernel still held is then
 * answered by the destruction.
 */
static void orphan_goes_with_hwpt(void **state)
{
	struct fx *f = *state;
	uint32_t fault_id;
	uint64_t gid;

	fx_init_default(f);
	fault_id = f->qs[0].fault_id;
	gid = fx_trigger(f, 0, 1, 1, 0x1000);
	fx_free_queue(f, 0);
	assert_true(fault_exists(f, fault_id));
	fx_detach(f, f->qs[0].dev);
	assert_int_equal(fx_ginfo(f, gid).state, IOPF_MOCK_GROUP_AUTO_DETACH);

	/* Something else destroyed: the fault object still has its HWPT. */
	assert_int_equal(iopf_destroy(f->ctx, 0x7777), -ENOENT);
	assert_true(fault_exists(f, fault_id));
	assert_int_equal(iopf_destroy(f->ctx, f->qs[0].hwpt), 0);
	assert_false(fault_exists(f, fault_id));
	assert_int_equal(iopf_destroy(f->ctx, fault_id), -ENOENT);
	/* The fixture's teardown destroys the HWPT again: it is gone. */
	f->qs[0].hwpt = 0;
	assert_int_equal(iopf_destroy(f->ctx, f->qs[0].parent), 0);
	f->qs[0].parent = 0;
	f->nq = 0;
}

/* With the HWPT destroyed behind the context's back (another context on the
 * same iommufd), the context's last reference destroys the fault object. */
static void orphan_goes_at_last_ref(void **state)
{
	struct fx *f = *state;
	struct iopf_ctx *other = NULL;
	uint32_t fault_id;

	fx_init_default(f);
	fault_id = f->qs[0].fault_id;
	fx_free_queue(f, 0);
	fx_detach(f, f->qs[0].dev);
	assert_int_equal(iopf_mock_ctx_new(f->m, &other), 0);
	assert_int_equal(iopf_destroy(other, f->qs[0].hwpt), 0);
	assert_true(fault_exists(f, fault_id));
	iopf_ctx_free(f->ctx);
	assert_false(fault_exists(f, fault_id));
	assert_int_equal(iopf_destroy(other, f->qs[0].parent), 0);
	assert_int_equal(iopf_destroy(other, f->ioas), 0);
	iopf_engine_free(f->e);
	iopf_ctx_free(other);
	iopf_mock_free(f->m);
	f->m = NULL;
	f->e = NULL;
	f->ctx = NULL;
	f->inited = false;
}

/* The caller destroying a remembered fault object itself (after its HWPT):
 * the library forgets it and never destroys that id again, even once the
 * kernel has given the id to a new object. */
static void orphan_destroyed_by_caller(void **state)
{
	struct fx *f = *state;
	struct iopf_ctx *other = NULL;
	uint32_t fault_id, ioas2 = 0, ioas3 = 0;

	fx_init_default(f);
	fault_id = f->qs[0].fault_id;
	fx_free_queue(f, 0);
	fx_detach(f, f->qs[0].dev);
	assert_int_equal(iopf_mock_ctx_new(f->m, &other), 0);
	assert_int_equal(iopf_destroy(other, f->qs[0].hwpt), 0);
	f->qs[0].hwpt = 0;
	assert_int_equal(iopf_destroy(f->ctx, fault_id), 0);
	/* The id is free: the next object may get it. */
	assert_int_equal(iopf_ioas_alloc(f->ctx, &ioas2), 0);
	assert_int_equal(iopf_ioas_alloc(f->ctx, &ioas3), 0);
	assert_int_equal(ioas2, fault_id); /* lowest free id, as the kernel */
	/* A successful destroy would retry remembered ids: the new object
	 * must survive it. */
	assert_int_equal(iopf_destroy(f->ctx, ioas3), 0);
	assert_int_equal(iopf_destroy(f->ctx, ioas2), 0);
	iopf_ctx_free(other);
	assert_int_equal(iopf_destroy(f->ctx, f->qs[0].parent), 0);
	f->qs[0].parent = 0;
	f->nq = 0;
}

/* ---- unseen groups ------------------------------------------------------ */

/* Past the deadline: the held group's INVALID is reported under its tag,
 * the one never handed out with IOPF_TAG_UNSEEN. */
static void deadline_unseen_tag(void **state)
{
	struct fx *f = *state;
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	struct iopf_group *g;
	uint64_t tag;

	fx_init(f, NULL);
	fx_add_queue(f, &(struct fx_qcfg){ .deadline_ns = 5 * 1000 * 1000 });
	fx_trigger(f, 0, 1, 1, 0x1000);
	fx_trigger(f, 0, 2, 1, 0x2000);
	for (int i = 0; i < 100 && iopf_engine_process(f->e) < 2; i++)
		;
	assert_int_equal(iopf_engine_pull(f->e, &g, 1), 1);
	tag = iopf_group_tag(g);
	assert_int_equal(tag & IOPF_TAG_UNSEEN, 0);
	nanosleep(&ts, NULL);
	assert_int_equal(iopf_engine_process(f->e), 0);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	assert_int_equal(f->nanswers, 2);
	assert_non_null(fx_answer_for(f, tag));
	assert_non_null(fx_answer_for(f, (tag + 1) | IOPF_TAG_UNSEEN));
	assert_int_equal(fx_qstats(f, 0).answers_auto, 2);
	assert_int_equal(iopf_group_respond(g, IOPF_RESP_SUCCESS), -ETIMEDOUT);
}

/* ---- what users had to guess -------------------------------------------- */

/* max_group below batch is raised to batch: a 32-record group fits a queue
 * with batch 64 and max_group 8. */
static void max_group_raised_to_batch(void **state)
{
	struct fx *f = *state;
	struct iopf_group *g;
	uint64_t gid;

	fx_init(f, NULL);
	fx_add_queue(f, &(struct fx_qcfg){ .batch = 64, .max_group = 8 });
	gid = fx_trigger(f, 0, 1, 32, 0x1000);
	assert_int_equal(fx_pull(f, &g, 1, 5000), 1);
	assert_int_equal(iopf_group_count(g), 32);
	assert_int_equal(iopf_group_respond(g, IOPF_RESP_SUCCESS), 0);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	assert_int_equal(fx_ginfo(f, gid).code, IOPF_RESP_SUCCESS);
	assert_int_equal(fx_qstats(f, 0).malformed, 0);
}

static int handler_positive(struct iopf_group *g, void *user)
{
	(void)user;
	assert_int_equal(iopf_group_respond(g, IOPF_RESP_SUCCESS), 0);
	return 5;
}

/* A positive return is taken as 0: the dispatch goes on, and returns the
 * number of groups handled. */
static void handler_positive_return(void **state)
{
	struct fx *f = *state;
	int n = 0;

	fx_init(f, NULL);
	fx_add_queue(f, &(struct fx_qcfg){ .handler = handler_positive });
	for (unsigned int i = 0; i < 3; i++)
		fx_trigger(f, 0, i, 1, 0x1000 * (i + 1));
	for (int i = 0; i < 100 && iopf_engine_process(f->e) < 3; i++)
		;
	n = iopf_engine_dispatch(f->e, 0);
	assert_int_equal(n, 3);
	assert_int_equal(fx_mstats(f).answered_success, 3);
}

struct reenter {
	struct iopf_engine *e;
	int rc[5];
	int calls;
};

static void try_all(struct reenter *r)
{
	struct iopf_group *g;

	r->rc[0] = iopf_engine_dispatch(r->e, 0);
	r->rc[1] = iopf_engine_pull(r->e, &g, 1);
	r->rc[2] = iopf_engine_process(r->e);
	r->rc[3] = iopf_engine_wait(r->e, 0);
	r->rc[4] = iopf_engine_flush(r->e);
	r->calls++;
}

static int handler_reenter(struct iopf_group *g, void *user)
{
	struct fx *f = user;

	try_all(f->priv);
	return iopf_group_respond(g, IOPF_RESP_SUCCESS);
}

/* The engine is not re-entered from its own handler: every call that
 * consumes groups is -EBUSY there (a flush is allowed), and the dispatch goes
 * on undisturbed. */
static void reenter_from_handler(void **state)
{
	struct fx *f = *state;
	struct reenter r = { 0 };

	fx_init(f, NULL);
	fx_add_queue(f, &(struct fx_qcfg){ .handler = handler_reenter });
	r.e = f->e;
	f->priv = &r;
	fx_trigger(f, 0, 1, 1, 0x1000);
	fx_trigger(f, 0, 2, 1, 0x2000);
	for (int i = 0; i < 100 && iopf_engine_process(f->e) < 2; i++)
		;
	assert_int_equal(iopf_engine_dispatch(f->e, 0), 2);
	assert_int_equal(r.calls, 2);
	for (int i = 0; i < 4; i++)
		assert_int_equal(r.rc[i], -EBUSY);
	assert_int_equal(r.rc[4], 0); /* a handler may flush */
	assert_int_equal(iopf_engine_flush(f->e), 0);
	assert_int_equal(fx_mstats(f).answered_success, 2);
	/* Outside a handler the calls work again. */
	assert_int_equal(iopf_engine_process(f->e), 0);
}

static struct reenter cb_reenter;

static void answered_reenter(struct iopf_queue *q, uint64_t tag, uint32_t cookie,
			     uint32_t code, int result, void *user)
{
	(void)q;
	(void)tag;
	(void)cookie;
	(void)code;
	(void)result;
	(void)user;
	try_all(&cb_reenter);
}

/* From an answered callback, which runs inside the engine's run, every one
 * of them is -EBUSY, flush included. */
static void reenter_from_answered(void **state)
{
	struct fx *f = *state;
	struct iopf_queue_opts qo = { .size = sizeof(qo),
				      .answered = answered_reenter };
	uint32_t payload = FX_PAYLOAD, dev = 0, parent = 0, hwpt = 0;
	struct iopf_hwpt_args pa = { .size = sizeof(pa),
				     .flags = IOPF_HWPT_ALLOC_NEST_PARENT };
	struct iopf_hwpt_args na = {
		.size = sizeof(na),
		.data_type = FX_DATA_SELFTEST,
		.data_len = sizeof(payload),
		.data = &payload,
	};
	struct iopf_queue *q = NULL;
	struct iopf_group *g;
	uint64_t gid;

	fx_init(f, NULL);
	assert_int_equal(iopf_mock_dev_new(f->m, &dev), 0);
	pa.dev_id = dev;
	pa.pt_id = f->ioas;
	assert_int_equal(iopf_hwpt_alloc(f->ctx, NULL, &pa, &parent), 0);
	assert_int_equal(iopf_queue_new(f->ctx, f->e, &qo, &q), 0);
	na.dev_id = dev;
	na.pt_id = parent;
	assert_int_equal(iopf_hwpt_alloc(f->ctx, q, &na, &hwpt), 0);
	assert_int_equal(iopf_mock_dev_attach(f->m, dev, hwpt), 0);

	cb_reenter = (struct reenter){ .e = f->e };
	gid = fx_trigger_dev(f, dev, 1, 1, 0x1000);
	assert_int_equal(fx_pull(f, &g, 1, 5000), 1);
	assert_int_equal(iopf_group_respond(g, IOPF_RESP_SUCCESS), 0);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	assert_int_equal(cb_reenter.calls, 1);
	for (int i = 0; i < 5; i++)
		assert_int_equal(cb_reenter.rc[i], -EBUSY);
	assert_int_equal(fx_ginfo(f, gid).answers, 1);
	assert_int_equal(fx_ginfo(f, gid).state, IOPF_MOCK_GROUP_ANSWERED);

	iopf_queue_free(q);
	assert_int_equal(iopf_mock_dev_detach(f->m, dev), 0);
	assert_int_equal(iopf_destroy(f->ctx, hwpt), 0);
	assert_int_equal(iopf_destroy(f->ctx, parent), 0);
}

/* A refused code leaves the group the caller's: a valid answer then goes
 * out, exactly once. */
static void bad_code_keeps_group(void **state)
{
	struct fx *f = *state;
	struct iopf_group *g;
	uint64_t gid;

	fx_init_default(f);
	gid = fx_trigger(f, 0, 1, 1, 0x1000);
	assert_int_equal(fx_pull(f, &g, 1, 5000), 1);
	assert_int_equal(iopf_group_respond(g, 7), -EINVAL);
	assert_int_equal(iopf_group_respond(g, 2), -EINVAL);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	assert_int_equal(fx_ginfo(f, gid).answers, 0);
	assert_int_equal(fx_ginfo(f, gid).state, IOPF_MOCK_GROUP_DELIVERED);
	assert_int_equal(iopf_group_respond(g, IOPF_RESP_SUCCESS), 0);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	assert_int_equal(fx_ginfo(f, gid).answers, 1);
	assert_int_equal(fx_ginfo(f, gid).state, IOPF_MOCK_GROUP_ANSWERED);
	assert_int_equal(fx_ginfo(f, gid).code, IOPF_RESP_SUCCESS);
	assert_int_equal(fx_mstats(f).bad_code, 0);
	assert_int_equal(f->nanswers, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		FX_BOTH(teardown_orders),
		FX_BOTH(orphan_goes_with_hwpt),
		FX_BOTH(orphan_goes_at_last_ref),
		FX_BOTH(orphan_destroyed_by_caller),
		FX_BOTH(deadline_unseen_tag),
		FX_BOTH(max_group_raised_to_batch),
		FX_BOTH(handler_positive_return),
		FX_BOTH(reenter_from_handler),
		FX_BOTH(reenter_from_answered),
		FX_BOTH(bad_code_keeps_group),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
