/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * White-box tests: orders of events that happen only between threads (an
 * answer given by another thread between the engine's flush and its next
 * read), made to happen on one thread by calling the engine's own steps
 * (lib/core.h) one by one, or from the mock's hooks (wrapped), on the mock
 * kernel; and the plain engine's epoll registration, with epoll_ctl(2)
 * interposed to fail on demand.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core.h"
#include "fixture.h"

/* EPOLL_CTL_ADD fails with this errno while it is not 0 (the library is
 * linked statically: its calls come here). */
static atomic_int epoll_add_errno;

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	int err = atomic_load(&epoll_add_errno);

	if (op == EPOLL_CTL_ADD && err) {
		errno = err;
		return -1;
	}
	return (int)syscall(SYS_epoll_ctl, epfd, op, fd, ev);
}

static void assert_answered(struct fx *f, uint64_t gid, uint32_t code)
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

/* What the plain engine does in a run after its flush: one read of q. */
static int read_now(struct iopf_queue *q)
{
	return queue_read_result(q, q_read(q));
}

/*
 * An answer waits to be written while the kernel gives its group's cookie to
 * a newer group, and the newer group is read before the write: the old
 * answer would answer the newer group. It must be dropped (-ESTALE), the
 * newer group answered once, by its own answer.
 */
static void stale_answer_pending_across_read(void **state)
{
	struct fx *f = *state;
	struct iopf_group *old, *young;
	struct iopf_queue *q;
	struct iopf_mock_stats ms;
	struct iopf_stats st;
	uint64_t gold, gyoung, tag_old, tag_young;
	uint32_t dev;

	fx_init_default(f);
	q = f->qs[0].q;
	dev = f->qs[0].dev;
	gold = fx_trigger(f, 0, 1, 1, 0x1000);
	assert_int_equal(fx_pull(f, &old, 1, 5000), 1);
	tag_old = iopf_group_tag(old);
	/* The kernel answers it itself on detach, and frees its cookie. */
	fx_detach(f, dev);
	fx_attach(f, dev, f->qs[0].hwpt);
	assert_int_equal(iopf_group_respond(old, IOPF_RESP_SUCCESS), 0);
	assert_false(q->stale_check);

	gyoung = fx_trigger(f, 0, 2, 1, 0x2000);
	assert_int_equal(read_now(q), 1);
	assert_true(q->stale_check);
	assert_int_equal(iopf_engine_pull(f->e, &young, 1), 1);
	assert_int_equal(iopf_group_cookie(young), iopf_group_cookie(old));
	tag_young = iopf_group_tag(young);

	/* The old answer is dropped before the write: nothing reaches the
	 * newer group. */
	assert_int_equal(iopf_engine_flush(f->e), 0);
	assert_non_null(fx_answer_for(f, tag_old));
	assert_int_equal(fx_answer_for(f, tag_old)->result, -ESTALE);
	assert_int_equal(fx_ginfo(f, gyoung).answers, 0);
	assert_int_equal(fx_ginfo(f, gold).answers, 0);
	assert_int_equal(fx_mstats(f).writes, 0);
	/* Every answer given before the cookie moved was checked. */
	assert_false(q->stale_check);

	assert_int_equal(iopf_group_respond(young, IOPF_RESP_INVALID), 0);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	assert_answered(f, gyoung, IOPF_RESP_INVALID);
	assert_int_equal(fx_answer_for(f, tag_young)->result, 0);
	ms = fx_mstats(f);
	assert_int_equal(ms.bad_duplicate, 0);
	assert_int_equal(ms.bad_unknown, 0);
	assert_int_equal(ms.outstanding, 0);
	st = fx_qstats(f, 0);
	assert_int_equal(st.answers_stale, 1);
	assert_int_equal(st.answers_invalid, 1);
	assert_int_equal(st.answers_success, 0);
}

/*
 * Cookies are reused all the time (the kernel gives the lowest free one):
 * with every answer written before the next read, nothing can be stale and
 * the answers are not checked one by one.
 */
static void cookie_reuse_without_pending_answers(void **state)
{
	struct fx *f = *state;
	struct iopf_group *g[4];
	struct iopf_queue *q;
	uint64_t gid[4];
	uint32_t cookie = 0;

	fx_init_default(f);
	q = f->qs[0].q;
	for (unsigned int round = 0; round < 3; round++) {
		for (unsigned int i = 0; i < 4; i++)
			gid[i] = fx_trigger(f, 0, round * 4 + i, 1,
					    0x1000 * (round * 4 + i + 1));
		assert_int_equal(fx_pull(f, g, 4, 5000), 4);
		if (round)
			assert_int_equal(iopf_group_cookie(g[0]), cookie);
		cookie = iopf_group_cookie(g[0]);
		assert_false(q->stale_check);
		for (unsigned int i = 0; i < 4; i++)
			assert_int_equal(
				iopf_group_respond(g[i], IOPF_RESP_SUCCESS), 0);
		assert_int_equal(iopf_engine_flush(f->e), 0);
		for (unsigned int i = 0; i < 4; i++)
			assert_answered(f, gid[i], IOPF_RESP_SUCCESS);
	}
	assert_int_equal(fx_qstats(f, 0).answers_stale, 0);
}

/*
 * An answer still pending when a read reuses a cookie turns the check on;
 * a second answer given after that read is not stale and goes out with it.
 * The check stays on while answers given before the read may wait in
 * pending, and goes off once they were all checked.
 */
static void stale_check_until_pending_drained(void **state)
{
	struct fx *f = *state;
	struct iopf_group *a, *b, *c;
	struct iopf_queue *q;
	uint64_t ga, gb, gc;

	fx_init_default(f);
	q = f->qs[0].q;
	ga = fx_trigger(f, 0, 1, 1, 0x1000);
	gb = fx_trigger(f, 0, 2, 1, 0x2000);
	assert_int_equal(fx_pull(f, &a, 1, 5000), 1);
	assert_int_equal(fx_pull(f, &b, 1, 5000), 1);
	/* a answered and written: its cookie is free again. */
	assert_int_equal(iopf_group_respond(a, IOPF_RESP_SUCCESS), 0);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	assert_answered(f, ga, IOPF_RESP_SUCCESS);
	/* b answered, not written; the next read gives a's cookie to c. */
	assert_int_equal(iopf_group_respond(b, IOPF_RESP_SUCCESS), 0);
	gc = fx_trigger(f, 0, 3, 1, 0x3000);
	assert_int_equal(read_now(q), 1);
	assert_true(q->stale_check);
	assert_int_equal(iopf_engine_pull(f->e, &c, 1), 1);
	assert_int_equal(iopf_group_respond(c, IOPF_RESP_INVALID), 0);
	/* Both are current: both are written, the check is off after. */
	assert_int_equal(iopf_engine_flush(f->e), 0);
	assert_false(q->stale_check);
	assert_answered(f, gb, IOPF_RESP_SUCCESS);
	assert_answered(f, gc, IOPF_RESP_INVALID);
	assert_int_equal(fx_qstats(f, 0).answers_stale, 0);
}

/* Records as a read of the fault fd gives them, straight into q's buffer,
 * then what the engine does with a read's result. */
static int ingest(struct iopf_queue *q, const struct iommu_hwpt_pgfault *recs,
		  unsigned int n)
{
	memcpy(q->buf, recs, n * sizeof(*recs));
	return queue_read_result(q, (ssize_t)(n * sizeof(*recs)));
}

/*
 * A group too large to hold is answered INVALID by the library, and a later
 * record of the same read reuses its cookie: the kernel answered that group
 * itself meanwhile (found by fuzz-records). The library's INVALID would
 * answer the newer group; it is dropped instead.
 */
static void oversize_answer_stale_within_one_read(void **state)
{
	struct fx *f = *state;
	struct iopf_group *g;
	struct iopf_queue *q;
	struct iommu_hwpt_pgfault r[4];
	struct iopf_stats st;

	fx_init(f, NULL);
	fx_add_queue(f, &(struct fx_qcfg){.batch = 4, .max_group = 4});
	q = f->qs[0].q;
	memset(r, 0, sizeof(r));
	for (unsigned int i = 0; i < 4; i++) {
		r[i].dev_id = f->qs[0].dev;
		r[i].cookie = 7;
		r[i].addr = 0x1000 * (i + 1);
	}
	/* Cookie 7: four records, no LAST_PAGE yet (tag 1). */
	assert_int_equal(ingest(q, r, 4), 4);
	assert_false(q->stale_check);
	/* The fifth is past max_group: the group is answered INVALID. Then
	 * the kernel gives cookie 7 to a new one-record group (tag 2). */
	r[0].flags = IOMMU_PGFAULT_FLAGS_LAST_PAGE;
	r[1].flags = IOMMU_PGFAULT_FLAGS_LAST_PAGE;
	r[1].addr = 0x9000;
	r[1].grpid = 9;
	/* -ENOMEM: a group could not be held (the engines go on). */
	assert_int_equal(ingest(q, r, 2), -ENOMEM);
	assert_true(q->stale_check);
	assert_int_equal(iopf_engine_pull(f->e, &g, 1), 1);
	assert_int_equal(iopf_group_cookie(g), 7);
	assert_int_equal(iopf_group_fault(g, 0)->grpid, 9);
	assert_int_equal(iopf_group_tag(g), 2);

	/* The INVALID for tag 1 is dropped: nothing is written for it. It
	 * was never handed out: reported as unseen. */
	assert_int_equal(iopf_engine_flush(f->e), 0);
	assert_null(fx_answer_for(f, 1));
	assert_non_null(fx_answer_for(f, 1 | IOPF_TAG_UNSEEN));
	assert_int_equal(fx_answer_for(f, 1 | IOPF_TAG_UNSEEN)->result,
			 -ESTALE);
	assert_int_equal(fx_mstats(f).writes, 0);
	assert_false(q->stale_check);

	/* The new group's own answer goes out (the mock never made the
	 * group: it refuses the unknown cookie, and counts it). */
	assert_int_equal(iopf_group_respond(g, IOPF_RESP_SUCCESS), 0);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	assert_int_equal(fx_mstats(f).writes, 1);
	assert_int_equal(fx_answer_for(f, 2)->result, -EINVAL);
	st = fx_qstats(f, 0);
	assert_int_equal(st.groups, 1);
	assert_int_equal(st.answers_stale, 2);
	f->expect_bad_unknown = 1;
}

/* Every field of a record reaches the caller's struct iopf_fault, in its
 * place, with flags and perm masked and raw (distinct values in every
 * field, the kernel's reserved one too, which must not leak anywhere). */
static void record_fields(void **state)
{
	struct fx *f = *state;
	struct iommu_hwpt_pgfault r;
	const struct iopf_fault *fa;
	struct iopf_group *g;
	struct iopf_queue *q;

	fx_init_default(f);
	q = f->qs[0].q;
	memset(&r, 0, sizeof(r));
	r.flags = IOMMU_PGFAULT_FLAGS_LAST_PAGE |
		  IOMMU_PGFAULT_FLAGS_PASID_VALID | 0x80000000u;
	r.dev_id = 0x11111111;
	r.pasid = 0x22222222;
	r.grpid = 0x33333333;
	r.perm = IOPF_PERM_READ | IOPF_PERM_EXEC | 0x40000000u;
	r.__reserved = 0x55555555;
	r.addr = 0x6666666677777000ull;
	r.length = 0x88888888;
	r.cookie = 0x99;
	assert_int_equal(ingest(q, &r, 1), 1);
	assert_int_equal(iopf_engine_pull(f->e, &g, 1), 1);
	assert_int_equal(iopf_group_count(g), 1);
	fa = iopf_group_fault(g, 0);
	assert_int_equal(fa->flags,
			 IOPF_FAULT_LAST_PAGE | IOPF_FAULT_PASID_VALID);
	assert_int_equal(fa->raw_flags, r.flags);
	assert_int_equal(fa->perm, IOPF_PERM_READ | IOPF_PERM_EXEC);
	assert_int_equal(fa->raw_perm, r.perm);
	assert_int_equal(fa->dev_id, 0x11111111);
	assert_int_equal(fa->pasid, 0x22222222);
	assert_int_equal(fa->grpid, 0x33333333);
	assert_int_equal(fa->length, 0x88888888);
	assert_int_equal(fa->addr, 0x6666666677777000ull);
	assert_int_equal(fa->cookie, 0x99);
	assert_int_equal(fa->__pad, 0);
	assert_int_equal(iopf_group_cookie(g), 0x99);
	/* The mock never made this group: it refuses the answer, and says so.
	 */
	assert_int_equal(iopf_group_respond(g, IOPF_RESP_SUCCESS), 0);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	f->expect_bad_unknown = 1;
}

/* A lone queue's fault fd stays out of the plain engine's epoll set (every
 * fault would pay an epoll callback in the kernel) while its waits use
 * poll(2); it joins when the engine first waits with epoll (a second queue
 * came), or when the caller takes the engine fd. */
static void plain_watch_lazily(void **state)
{
	struct fx *f = *state;
	struct iopf_group *g;
	struct iopf_queue *q0, *q1;

	fx_init_default(f);
	q0 = f->qs[0].q;
	/* Waited for (poll), woken by the fault, read. */
	assert_int_equal(iopf_engine_wait(f->e, 0), 0);
	fx_trigger(f, 0, 1, 1, 0x1000);
	assert_int_equal(iopf_engine_wait(f->e, 5000), 1);
	assert_int_equal(iopf_engine_pull(f->e, &g, 1), 1);
	assert_int_equal(iopf_group_respond(g, IOPF_RESP_SUCCESS), 0);
	assert_int_equal(iopf_engine_wait(f->e, 20), 0);
	assert_false(q0->watched);

	/* A second queue is watched as it comes (the engine waits with epoll
	 * from now on); the first joins at the first such wait. */
	fx_add_queue(f, NULL);
	q1 = f->qs[1].q;
	assert_true(q1->watched);
	assert_false(q0->watched);
	assert_int_equal(iopf_engine_wait(f->e, 0), 0);
	fx_trigger(f, 1, 2, 1, 0x2000);
	assert_int_equal(iopf_engine_wait(f->e, 5000), 1);
	assert_true(q0->watched && q1->watched);
	assert_int_equal(iopf_engine_pull(f->e, &g, 1), 1);
	assert_int_equal(iopf_group_respond(g, IOPF_RESP_SUCCESS), 0);

	/* Back to one queue: its fd stays watched (harmless), and the
	 * engine fd, once taken, watches it. */
	fx_free_queue(f, 1);
	assert_true(iopf_engine_fd(f->e) >= 0);
	assert_true(q0->watched);
	assert_int_equal(fx_flush_until(f, 2, 5000), 2);
}

/* The epoll registration fails (no memory, max_user_watches): the call that
 * needed it says so, nothing is lost, and the next call retries. */
static void plain_watch_fails(void **state)
{
	struct fx *f = *state;
	struct iopf_queue_opts qo = {.size = sizeof(qo)};
	struct iopf_group *g[2];
	struct iopf_queue *q = (void *)1;
	uint64_t gid[2];

	fx_init_default(f);
	fx_add_queue(f, NULL);
	gid[0] = fx_trigger(f, 0, 1, 1, 0x1000);
	gid[1] = fx_trigger(f, 1, 2, 1, 0x2000);
	/* Both read without a wait: no registration needed yet. */
	assert_int_equal(iopf_engine_wait(f->e, 0), 2);
	assert_int_equal(iopf_engine_pull(f->e, g, 2), 2);
	for (int i = 0; i < 2; i++)
		assert_int_equal(iopf_group_respond(g[i], IOPF_RESP_SUCCESS),
				 0);

	/* A wait on two queues needs epoll: it fails, after the answers went
	 * out. */
	atomic_store(&epoll_add_errno, ENOMEM);
	assert_int_equal(iopf_engine_wait(f->e, 1000), -ENOMEM);
	assert_answered(f, gid[0], IOPF_RESP_SUCCESS);
	assert_answered(f, gid[1], IOPF_RESP_SUCCESS);
	assert_int_equal(iopf_engine_fd(f->e), -ENOMEM);
	/* With the engine fd taken, a new queue is watched at once. */
	assert_int_equal(iopf_queue_new(f->ctx, f->e, &qo, &q), -ENOMEM);
	assert_null(q);

	atomic_store(&epoll_add_errno, 0);
	assert_true(iopf_engine_fd(f->e) >= 0);
	gid[0] = fx_trigger(f, 1, 3, 1, 0x3000);
	assert_int_equal(iopf_engine_wait(f->e, 5000), 1);
	assert_int_equal(iopf_engine_pull(f->e, g, 1), 1);
	assert_int_equal(iopf_group_respond(g[0], IOPF_RESP_SUCCESS), 0);
	assert_int_equal(fx_flush_until(f, 3, 5000), 3);
	assert_answered(f, gid[0], IOPF_RESP_SUCCESS);
}

/*
 * iopf_engine_flush() with two queues: while the flush writes queue 1's
 * answer, another thread answers queue 0's group (here: the mock's
 * write_done hook, wrapped, answers it right after the write, on the flush's
 * thread). Queue 0 had nothing to write when the flush began, so its answer
 * comes after the flush op passed it. It is written by the same flush, and
 * is no error: before 3e3debe the flush returned -EAGAIN with it unwritten.
 */
static const struct iopf_backend_ops *hook_orig;
static struct iopf_group *hook_group; /* answered in the next write_done */
static int hook_rc;

static ssize_t answer_in_write_done(void *be, int fd, const void *buf,
				    size_t len, ssize_t res)
{
	struct iopf_group *g = hook_group;

	res = hook_orig->write_done(be, fd, buf, len, res);
	if (g) {
		hook_group = NULL;
		hook_rc = iopf_group_respond(g, IOPF_RESP_SUCCESS);
	}
	return res;
}

/* Answers first, flushes, with answer_in_write answered right after the
 * flush's first write; then both groups (gid) must be answered once, in two
 * writes, nothing left outstanding or to write. */
static void flush_with_answer_in_write(struct fx *f, struct iopf_group *first,
				       struct iopf_group *answer_in_write,
				       const uint64_t gid[2])
{
	static struct iopf_backend_ops ops;
	struct iopf_mock_stats ms;

	hook_orig = f->ctx->ops;
	assert_non_null(hook_orig->write_done);
	ops = *hook_orig;
	ops.write_done = answer_in_write_done;
	f->ctx->ops = &ops;
	hook_group = answer_in_write;
	hook_rc = 1;
	assert_int_equal(iopf_group_respond(first, IOPF_RESP_SUCCESS), 0);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	f->ctx->ops = hook_orig;

	/* The hook ran, its answer was taken, and both went out, once. */
	assert_null(hook_group);
	assert_int_equal(hook_rc, 0);
	assert_answered(f, gid[0], IOPF_RESP_SUCCESS);
	assert_answered(f, gid[1], IOPF_RESP_SUCCESS);
	ms = fx_mstats(f);
	assert_int_equal(ms.writes, 2);
	assert_int_equal(ms.outstanding, 0);
	assert_int_equal(ms.bad_duplicate, 0);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	assert_int_equal(fx_mstats(f).writes, 2);
}

static void flush_answer_during_write(void **state)
{
	struct fx *f = *state;
	struct iopf_group *g[2], *g0, *g1;
	uint64_t gid[2];

	fx_init_default(f);
	fx_add_queue(f, NULL);
	gid[0] = fx_trigger(f, 0, 1, 1, 0x1000);
	gid[1] = fx_trigger(f, 1, 2, 1, 0x2000);
	assert_int_equal(fx_pull(f, g, 2, 5000), 2);
	g0 = iopf_group_queue(g[0]) == f->qs[0].q ? g[0] : g[1];
	g1 = g0 == g[0] ? g[1] : g[0];
	assert_ptr_equal(iopf_group_queue(g1), f->qs[1].q);
	/* Queue 1's answer is written; queue 0's comes during that write. */
	flush_with_answer_in_write(f, g1, g0, gid);
}

/*
 * The same on a lone queue: its flush (queue_write_sync) takes the queue's
 * answers again after each write, so the answer given during the first write
 * goes out in a second write of the same flush, with or without 3e3debe.
 */
static void flush_answer_during_write_solo(void **state)
{
	struct fx *f = *state;
	struct iopf_group *g[2];
	uint64_t gid[2];

	fx_init_default(f);
	gid[0] = fx_trigger(f, 0, 1, 1, 0x1000);
	gid[1] = fx_trigger(f, 0, 2, 1, 0x2000);
	assert_int_equal(fx_pull(f, g, 2, 5000), 2);
	flush_with_answer_in_write(f, g[0], g[1], gid);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		{"stale_answer_pending_across_read",
		 stale_answer_pending_across_read, fx_setup, fx_teardown,
		 &fx_kind_plain},
		{"cookie_reuse_without_pending_answers",
		 cookie_reuse_without_pending_answers, fx_setup, fx_teardown,
		 &fx_kind_plain},
		{"stale_check_until_pending_drained",
		 stale_check_until_pending_drained, fx_setup, fx_teardown,
		 &fx_kind_plain},
		{"oversize_answer_stale_within_one_read",
		 oversize_answer_stale_within_one_read, fx_setup, fx_teardown,
		 &fx_kind_plain},
		{"record_fields", record_fields, fx_setup, fx_teardown,
		 &fx_kind_plain},
		{"plain_watch_lazily", plain_watch_lazily, fx_setup,
		 fx_teardown, &fx_kind_plain},
		{"plain_watch_fails", plain_watch_fails, fx_setup, fx_teardown,
		 &fx_kind_plain},
		FX_BOTH(flush_answer_during_write),
		FX_BOTH(flush_answer_during_write_solo),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
