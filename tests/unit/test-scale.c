/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The engine's bookkeeping with many queues (issue #13): a run looks only at
 * the queues on its lists (answers to write, queues to read, the deadline
 * heap, errors), so each test here is built to fail if a queue falls off one:
 * - a queue with answers is written exactly once per flush, and a queue
 *   without answers not at all;
 * - a queue with records the kernel still holds is read again once what it
 *   gave was handed out, however many queues sit idle beside it;
 * - every group past its queue's deadline is answered INVALID, on queues with
 *   different deadlines whose oldest groups were answered out of order (the
 *   heap's keys then run early), and no group before its deadline.
 * Both engines each.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixture.h"

#define NQ 200
#define MS 1000000ull

static void assert_answered_once(struct fx *f, uint64_t gid, uint32_t code)
{
	struct iopf_mock_group_info gi = fx_ginfo(f, gid);

	if (gi.state != IOPF_MOCK_GROUP_ANSWERED || gi.code != code ||
	    gi.answers != 1)
		fail_msg("group %llu: state %u code %u answers %u, want "
			 "ANSWERED "
			 "code %u once",
			 (unsigned long long)gid, gi.state, gi.code, gi.answers,
			 code);
}

static unsigned int queue_index(struct fx *f, const struct iopf_queue *q)
{
	for (unsigned int i = 0; i < f->nq; i++)
		if (f->qs[i].q == q)
			return i;
	fail_msg("a group of an unknown queue");
	return 0;
}

static void add_queues(struct fx *f, unsigned int n, const struct fx_qcfg *qc)
{
	for (unsigned int i = 0; i < n; i++) {
		unsigned int qi = fx_add_queue(f, qc);

		assert_int_equal(qi, f->nq - 1);
	}
}

/* Answers on every seventh of 200 queues: one flush writes each of those
 * queues once (all its answers in one write) and no other queue. */
static void answers_flushed_once(void **state)
{
	struct fx *f = *state;
	struct iopf_group *g[3 * NQ];
	uint64_t gid[3 * NQ], writes[NQ];
	unsigned int n = 0;

	fx_init(f, NULL);
	add_queues(f, NQ, NULL);
	for (unsigned int i = 0; i < NQ; i += 7)
		for (unsigned int j = 0; j < 3; j++)
			gid[n++] = fx_trigger(f, i, j, 1, 0x1000 * (j + 1));
	assert_int_equal(fx_pull(f, g, n, 10000), n);
	for (unsigned int i = 0; i < NQ; i++)
		writes[i] = fx_qstats(f, i).writes;
	for (unsigned int k = 0; k < n; k++)
		assert_int_equal(iopf_group_respond(g[k], IOPF_RESP_SUCCESS),
				 0);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	for (unsigned int i = 0; i < NQ; i++) {
		struct iopf_stats st = fx_qstats(f, i);

		assert_int_equal(st.writes - writes[i], i % 7 == 0 ? 1 : 0);
		assert_int_equal(st.answers_success, i % 7 == 0 ? 3 : 0);
	}
	for (unsigned int k = 0; k < n; k++)
		assert_answered_once(f, gid[k], IOPF_RESP_SUCCESS);
	/* Nothing left to write: another flush writes nothing. */
	assert_int_equal(iopf_engine_flush(f->e), 0);
	for (unsigned int i = 0; i < NQ; i++)
		assert_int_equal(fx_qstats(f, i).writes - writes[i],
				 i % 7 == 0 ? 1 : 0);
}

/* Answers from another thread mark their queue too: the engine, asleep in a
 * wait, is woken and writes them. */
struct answer_job {
	struct iopf_group **g;
	unsigned int n;
};

static void *answer_thread(void *arg)
{
	struct answer_job *j = arg;

	for (unsigned int k = 0; k < j->n; k++)
		if (iopf_group_respond(j->g[k], IOPF_RESP_INVALID))
			return (void *)1;
	return NULL;
}

static void answers_other_thread(void **state)
{
	struct fx *f = *state;
	struct iopf_group *g[NQ];
	uint64_t gid[NQ];
	struct answer_job job = {.g = g};
	pthread_t t;
	void *res;

	fx_init(f, NULL);
	add_queues(f, NQ, NULL);
	for (unsigned int i = 0; i < NQ; i += 3)
		gid[job.n++] = fx_trigger(f, i, 1, 2, 0x1000);
	assert_int_equal(fx_pull(f, g, job.n, 10000), job.n);
	assert_int_equal(pthread_create(&t, NULL, answer_thread, &job), 0);
	assert_int_equal(pthread_join(t, &res), 0);
	assert_null(res);
	assert_int_equal(fx_flush_until(f, job.n, 10000), job.n);
	for (unsigned int k = 0; k < job.n; k++)
		assert_answered_once(f, gid[k], IOPF_RESP_INVALID);
}

/* A queue freed while its answers (and those of other queues) wait on the
 * dirty stack: its own go out with the teardown, the others' with the next
 * flush, each once. */
static void free_queue_while_dirty(void **state)
{
	struct fx *f = *state;
	struct iopf_group *g[8];
	uint64_t gid[8];

	fx_init(f, NULL);
	add_queues(f, 8, NULL);
	for (unsigned int i = 0; i < 8; i++)
		gid[i] = fx_trigger(f, i, i, 1, 0x1000);
	assert_int_equal(fx_pull(f, g, 8, 10000), 8);
	for (unsigned int k = 0; k < 8; k++)
		assert_int_equal(iopf_group_respond(g[k], IOPF_RESP_SUCCESS),
				 0);
	/* The stack holds all eight; free queues at its top, middle, bottom. */
	fx_free_queue(f, 0);
	fx_free_queue(f, 4);
	fx_free_queue(f, 7);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	for (unsigned int k = 0; k < 8; k++)
		assert_answered_once(f, gid[k], IOPF_RESP_SUCCESS);
}

/*
 * Records on 50 of 200 queues, more than a batch each (batch 4, groups of 1),
 * and the caller takes at most 3 groups a time: queues keep records in the
 * kernel while groups of theirs wait to be taken, when the engine does not
 * read them. Each must be read again once its groups are taken, or the
 * groups it still has are never delivered. The groups are answered only at
 * the end, so that no write of the queue's answers can wake it instead.
 * (The plain engine would find such a queue anyway: epoll is level-triggered
 * and the queue stays in its set; io_uring has only the READ it arms.)
 */
static void readable_never_forgotten(void **state)
{
	struct fx *f = *state;
	enum { PERQ = 10, ACTIVE = 50 };
	struct fx_qcfg qc = {.batch = 4};
	unsigned int got = 0, per[NQ] = {0}, want[NQ] = {0};
	struct iopf_group *held[PERQ * ACTIVE + 3];
	uint64_t end;

	fx_init(f, NULL);
	add_queues(f, NQ, &qc);
	for (unsigned int j = 0; j < PERQ; j++)
		for (unsigned int a = 0; a < ACTIVE; a++)
			fx_trigger(f, (a * 37) % NQ, j, 1, 0x1000 * (j + 1));
	end = fx_now_ms() + 20000;
	while (got < PERQ * ACTIVE && fx_now_ms() < end) {
		int n;

		/* Pull without waiting half the time: a run that only
		 * processes must find the queues too. */
		if (got % 2)
			assert_true(iopf_engine_wait(f->e, 100) >= 0);
		else
			assert_true(iopf_engine_process(f->e) >= 0);
		n = iopf_engine_pull(f->e, held + got, 3);
		assert_true(n >= 0);
		for (int k = 0; k < n; k++)
			per[queue_index(f, iopf_group_queue(held[got + k]))]++;
		got += (unsigned int)n;
	}
	/* Held until now: no answer (and no write) wakes a queue up. */
	for (unsigned int k = 0; k < got; k++)
		assert_int_equal(iopf_group_respond(held[k], IOPF_RESP_SUCCESS),
				 0);
	assert_int_equal(got, PERQ * ACTIVE);
	for (unsigned int a = 0; a < ACTIVE; a++)
		want[(a * 37) % NQ] = PERQ;
	for (unsigned int i = 0; i < NQ; i++)
		assert_int_equal(per[i], want[i]);
	assert_int_equal(fx_flush_until(f, got, 10000), got);
	assert_int_equal(fx_mstats(f).pending, 0);
}

/* A fault on one queue of 200, again and again, each after the last was
 * answered: found each time, whichever queue it is. */
static void one_active_among_many(void **state)
{
	struct fx *f = *state;

	fx_init(f, NULL);
	add_queues(f, NQ, NULL);
	for (unsigned int r = 0; r < 3 * NQ; r++) {
		unsigned int qi = (r * 53) % NQ;
		uint64_t gid = fx_trigger(f, qi, r, 1 + r % 3, 0x1000);
		struct iopf_group *g;

		assert_int_equal(fx_pull(f, &g, 1, 5000), 1);
		assert_ptr_equal(iopf_group_queue(g), f->qs[qi].q);
		assert_int_equal(iopf_group_count(g), 1 + r % 3);
		assert_int_equal(iopf_group_respond(g, IOPF_RESP_SUCCESS), 0);
		assert_int_equal(iopf_engine_flush(f->e), 0);
		assert_answered_once(f, gid, IOPF_RESP_SUCCESS);
	}
}

/*
 * The io_uring engine treats a run with work for one queue of many as a lone
 * queue's (read(2), write(2), see lone_queue in engine-uring.c); the plain
 * engine reads such a queue first. Each phase here must leave every group
 * answered exactly once, the idle queues' waits armed:
 * 1. one queue active round after round;
 * 2. two at once (both marked: the ring writes them);
 * 3. one answered and not flushed while a group comes on another (one queue
 *    to write, another to read: not lone);
 * 4. two answers on one queue whose write takes one (the rest stays marked
 *    and goes with the next flush);
 * 5. an answer from another thread beside the engine's own (two queues
 *    marked from two threads);
 * 6. after all that, a fault on a queue idle from the start is found.
 */
/* Flushes until the mock saw *total + n answers, and checks that the n
 * groups of gid[] were each answered SUCCESS once. */
static void flush_answered(struct fx *f, uint64_t *total, const uint64_t *gid,
			   unsigned int n)
{
	*total += n;
	assert_int_equal(fx_flush_until(f, *total, 5000), *total);
	for (unsigned int i = 0; i < n; i++)
		assert_answered_once(f, gid[i], IOPF_RESP_SUCCESS);
}

static void lone_among_many(void **state)
{
	struct fx *f = *state;
	struct iopf_group *g[4];
	uint64_t gid[4], total = 0;
	struct answer_job job = {.g = g + 1, .n = 1};
	pthread_t t;
	void *res;

	fx_init(f, NULL);
	add_queues(f, NQ, NULL);
	for (unsigned int r = 0; r < 40; r++) {
		gid[0] = fx_trigger(f, 7, r, 1, 0x1000);
		assert_int_equal(fx_pull(f, g, 1, 5000), 1);
		assert_int_equal(iopf_group_respond(g[0], IOPF_RESP_SUCCESS), 0);
		assert_int_equal(iopf_engine_flush(f->e), 0);
		assert_answered_once(f, gid[0], IOPF_RESP_SUCCESS);
		total++;
	}
	for (unsigned int r = 0; r < 10; r++) {
		gid[0] = fx_trigger(f, 7, 100 + r, 1, 0x1000);
		gid[1] = fx_trigger(f, 150, 100 + r, 2, 0x2000);
		assert_int_equal(fx_pull(f, g, 2, 5000), 2);
		assert_int_equal(iopf_group_respond(g[0], IOPF_RESP_SUCCESS), 0);
		assert_int_equal(iopf_group_respond(g[1], IOPF_RESP_SUCCESS), 0);
		flush_answered(f, &total, gid, 2);
	}
	for (unsigned int r = 0; r < 10; r++) {
		gid[0] = fx_trigger(f, 7, 200 + r, 1, 0x1000);
		assert_int_equal(fx_pull(f, g, 1, 5000), 1);
		assert_int_equal(iopf_group_respond(g[0], IOPF_RESP_SUCCESS), 0);
		gid[1] = fx_trigger(f, 150, 200 + r, 1, 0x2000);
		assert_int_equal(fx_pull(f, g + 1, 1, 5000), 1);
		assert_ptr_equal(iopf_group_queue(g[1]), f->qs[150].q);
		assert_int_equal(iopf_group_respond(g[1], IOPF_RESP_SUCCESS), 0);
		flush_answered(f, &total, gid, 2);
	}
	gid[0] = fx_trigger(f, 7, 300, 1, 0x1000);
	gid[1] = fx_trigger(f, 7, 301, 1, 0x3000);
	assert_int_equal(fx_pull(f, g, 2, 5000), 2);
	assert_int_equal(iopf_mock_inject_fd(f->m, f->qs[7].fault_id,
					     IOPF_MOCK_WRITE_SHORT, 1, 1),
			 0);
	assert_int_equal(iopf_group_respond(g[0], IOPF_RESP_SUCCESS), 0);
	assert_int_equal(iopf_group_respond(g[1], IOPF_RESP_SUCCESS), 0);
	flush_answered(f, &total, gid, 2);

	gid[0] = fx_trigger(f, 7, 400, 1, 0x1000);
	gid[1] = fx_trigger(f, 99, 400, 1, 0x1000);
	assert_int_equal(fx_pull(f, g, 2, 5000), 2);
	if (iopf_group_queue(g[0]) != f->qs[7].q) {
		struct iopf_group *x = g[0];
		uint64_t y = gid[0];

		g[0] = g[1];
		g[1] = x;
		gid[0] = gid[1];
		gid[1] = y;
	}
	assert_int_equal(pthread_create(&t, NULL, answer_thread, &job), 0);
	assert_int_equal(iopf_group_respond(g[0], IOPF_RESP_SUCCESS), 0);
	assert_int_equal(pthread_join(t, &res), 0);
	assert_null(res);
	total += 2;
	assert_int_equal(fx_flush_until(f, total, 5000), total);
	assert_answered_once(f, gid[0], IOPF_RESP_SUCCESS);
	assert_answered_once(f, gid[1], IOPF_RESP_INVALID);

	gid[2] = fx_trigger(f, NQ - 1, 500, 3, 0x1000);
	assert_int_equal(fx_pull(f, g + 2, 1, 5000), 1);
	assert_ptr_equal(iopf_group_queue(g[2]), f->qs[NQ - 1].q);
	assert_int_equal(iopf_group_respond(g[2], IOPF_RESP_SUCCESS), 0);
	flush_answered(f, &total, gid + 2, 1);
	assert_int_equal(fx_mstats(f).pending, 0);
	assert_int_equal(fx_mstats(f).outstanding, 0);
}

/*
 * 100 queues with deadlines of 20 to 110 ms, two groups each, pulled. The
 * oldest group of every other queue is answered at once, so that queue's key
 * in the heap is early; the rest are left. Every left group is answered
 * INVALID by the library once its deadline passed; no group is answered
 * before (a respond before the deadline is taken), none twice.
 */
static void deadlines_many_queues(void **state)
{
	struct fx *f = *state;
	enum { DQ = 100 };
	struct iopf_group *g[2 * DQ];
	uint64_t gid[DQ][2], t0, end;
	unsigned int nleft = 0, expired = 0;

	fx_init(f, NULL);
	for (unsigned int i = 0; i < DQ; i++) {
		struct fx_qcfg qc = {.deadline_ns = (20 + 10 * (i % 10)) * MS};

		assert_int_equal(fx_add_queue(f, &qc), i);
	}
	t0 = fx_now_ms();
	for (unsigned int i = 0; i < DQ; i++)
		for (unsigned int j = 0; j < 2; j++)
			gid[i][j] = fx_trigger(f, i, j, 1, 0x1000 * (j + 1));
	assert_int_equal(fx_pull(f, g, 2 * DQ, 10000), 2 * DQ);
	for (unsigned int k = 0; k < 2 * DQ; k++) {
		unsigned int i = queue_index(f, iopf_group_queue(g[k]));
		const struct iopf_fault *ft = iopf_group_fault(g[k], 0);

		if (i % 2 == 0 && ft->grpid == 0 && fx_now_ms() - t0 < 20) {
			assert_int_equal(
				iopf_group_respond(g[k], IOPF_RESP_SUCCESS), 0);
			g[k] = NULL;
		} else {
			nleft++;
		}
	}
	/* If the machine was too slow to answer within 20 ms, fewer were
	 * answered; what follows holds either way. */
	end = fx_now_ms() + 20000;
	while (fx_now_ms() < end) {
		uint64_t autos = 0;

		assert_true(iopf_engine_wait(f->e, 50) >= 0);
		for (unsigned int i = 0; i < DQ; i++)
			autos += fx_qstats(f, i).answers_auto;
		if (autos == nleft)
			break;
	}
	for (unsigned int k = 0; k < 2 * DQ; k++) {
		if (!g[k])
			continue;
		assert_int_equal(iopf_group_respond(g[k], IOPF_RESP_SUCCESS),
				 -ETIMEDOUT);
		expired++;
	}
	assert_int_equal(expired, nleft);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	for (unsigned int i = 0; i < DQ; i++)
		for (unsigned int j = 0; j < 2; j++) {
			struct iopf_mock_group_info gi = fx_ginfo(f, gid[i][j]);

			assert_int_equal(gi.state, IOPF_MOCK_GROUP_ANSWERED);
			assert_int_equal(gi.answers, 1);
		}
	assert_int_equal(fx_mstats(f).answered_invalid, nleft);
	assert_int_equal(fx_mstats(f).answered_success, 2 * DQ - nleft);
}

/* Groups under a deadline that nobody pulled expire on the ready list, on
 * many queues, and a caller that only polls the engine fd is woken for them
 * (the timer follows the heap's top). */
static void deadlines_on_ready_list(void **state)
{
	struct fx *f = *state;
	enum { DQ = 64 };
	struct iopf_group *g;
	uint64_t end, autos = 0;

	fx_init(f, NULL);
	for (unsigned int i = 0; i < DQ; i++) {
		struct fx_qcfg qc = {.deadline_ns = (10 + i % 5 * 10) * MS};

		assert_int_equal(fx_add_queue(f, &qc), i);
	}
	assert_true(iopf_engine_fd(f->e) >= 0);
	for (unsigned int i = 0; i < DQ; i++)
		fx_trigger(f, i, 1, 1, 0x1000);
	assert_true(iopf_engine_process(f->e) >= 0);
	end = fx_now_ms() + 20000;
	while (autos < DQ && fx_now_ms() < end) {
		assert_true(iopf_engine_wait(f->e, 50) >= 0);
		autos = 0;
		for (unsigned int i = 0; i < DQ; i++)
			autos += fx_qstats(f, i).answers_auto;
	}
	assert_int_equal(autos, DQ);
	assert_int_equal(iopf_engine_pull(f->e, &g, 1), 0);
	assert_int_equal(fx_mstats(f).answered_invalid, DQ);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		FX_BOTH(answers_flushed_once),
		FX_BOTH(answers_other_thread),
		FX_BOTH(free_queue_while_dirty),
		FX_BOTH(readable_never_forgotten),
		FX_BOTH(one_active_among_many),
		FX_BOTH(lone_among_many),
		FX_BOTH(deadlines_many_queues),
		FX_BOTH(deadlines_on_ready_list),
	};

	if (getenv("IOPF_TEST_FILTER"))
		cmocka_set_test_filter(getenv("IOPF_TEST_FILTER"));
	return cmocka_run_group_tests_name("scale", tests, NULL, NULL);
}
