/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A group the library cannot hold is answered INVALID at once, not dropped:
 * the device must never wait for an answer that will not come.
 *
 * calloc is interposed in this executable (forwarding to glibc) so that the
 * allocation of a chunk of group slots can be made to fail while a burst is
 * read: a queue that has seen a group has a chunk of SLOT_CHUNK (64) slots
 * (see warm_up), so the groups past the 64th of a burst need a new chunk. Only
 * that allocation fails (calloc(SLOT_CHUNK, sizeof(struct iopf_group)), from
 * lib/core.h), so cmocka, the mock and the rest of the library are untouched. A
 * test of its own, so that the interposition stays out of the other binaries.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "fixture.h"

/* ---- a slot chunk allocation that fails on demand ------------------------ */

extern void *__libc_calloc(size_t n, size_t size);

static atomic_bool fail_slots;
static atomic_uint slot_failures;

/* AddressSanitizer brings its own allocator: an executable's calloc would
 * hand it memory it did not allocate. Under ASan, as under valgrind, the
 * interposer is not there and the test skips (see interposed()); the plain
 * unit stage runs it. */
#ifndef __SANITIZE_ADDRESS__
void *calloc(size_t n, size_t size)
{
	if (n == SLOT_CHUNK && size == sizeof(struct iopf_group) &&
	    atomic_load(&fail_slots)) {
		atomic_fetch_add(&slot_failures, 1);
		errno = ENOMEM;
		return NULL;
	}
	return __libc_calloc(n, size);
}

/* Every realloc fails while fail_realloc is set: only the answer buffers'
 * growth runs then (see respond_batch_nomem). */
extern void *__libc_realloc(void *p, size_t size);

static atomic_bool fail_realloc;

void *realloc(void *p, size_t size)
{
	if (atomic_load(&fail_realloc)) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_realloc(p, size);
}
#endif

/* Whether the calls reach the calloc above (not under valgrind, which
 * replaces the executable's allocator with its own). */
static bool interposed(void)
{
	/* volatile: the compiler must not fold calloc/free away. */
	void *(*volatile alloc)(size_t, size_t) = calloc;
	void *p;

	atomic_store(&fail_slots, true);
	p = alloc(SLOT_CHUNK, sizeof(struct iopf_group));
	atomic_store(&fail_slots, false);
	free(p);
	return p == NULL;
}

/* ---- the test --------------------------------------------------------------
 */

/*
 * A queue gets its first chunk of slots with its first group, and its read
 * buffer doubles from 16 records while reads fill it (up to the batch): 60
 * groups of 4 records (reads of 16, 32, 64 and 128 records, 60 slots) give
 * queue 0 one chunk and a buffer of 256. Answered SUCCESS; the tests count
 * from there (*n0: the answered callback's entries).
 */
static struct iopf_mock_stats warm_up(struct fx *f, unsigned int *n0)
{
	static struct iopf_group *g[60];
	struct iopf_mock_fault rec[4];
	struct iopf_queue *q = f->qs[0].q;

	memset(rec, 0, sizeof(rec));
	for (unsigned int i = 0; i < 60; i++) {
		for (unsigned int j = 0; j < 4; j++)
			rec[j].addr = 0x10000000ull + 0x1000ull * (4 * i + j);
		assert_int_equal(iopf_mock_trigger(f->m, f->qs[0].dev, 5000 + i,
						   rec, 4, NULL),
				 0);
	}
	assert_int_equal(fx_pull(f, g, 60, 5000), 60);
	for (unsigned int i = 0; i < 60; i++)
		assert_int_equal(iopf_group_respond(g[i], IOPF_RESP_SUCCESS),
				 0);
	assert_int_equal(fx_flush_until(f, 60, 5000), 60);
	assert_int_equal(q->nchunks, 1);
	assert_int_equal(q->buf_records, 256);
	*n0 = f->nanswers;
	return fx_mstats(f);
}

#define HELD	SLOT_CHUNK /* groups that get the queue's first slots */
#define SINGLES 20 /* one-record groups past them */
#define TRIPLES 10 /* three-record groups past them */
#define BURST	(HELD + SINGLES + TRIPLES)

/*
 * 64 + 30 groups in one read (batch 256): the first 64 take the preallocated
 * slots, the other 30 find no slot, and each is answered INVALID at once
 * with write(2), the rest of a multi-record group skipped. The queue goes on:
 * its error stays 0, the 64 held groups are handed out and answered, and
 * once memory is back a new burst is held whole.
 */
static void slot_alloc_fails(void **state)
{
	struct fx *f = *state;
	static struct iopf_group *g[BURST];
	uint64_t gid[BURST], end;
	struct iopf_mock_stats ms, ms0;
	struct iopf_stats st, st0;
	unsigned int got = 0, n0;

	if (!interposed()) {
		/* valgrind replaces the executable's calloc with its own. */
		print_message("skipped: calloc is not interposed here "
			      "(valgrind or AddressSanitizer)\n");
		skip();
	}
	fx_init(f, NULL);
	fx_add_queue(f, &(struct fx_qcfg){.batch = 256});
	assert_int_equal(iopf_engine_process(f->e), 0);
	ms0 = warm_up(f, &n0);
	st0 = fx_qstats(f, 0);
	for (unsigned int i = 0; i < BURST; i++)
		gid[i] = fx_trigger(f, 0, i, i < HELD + SINGLES ? 1 : 3,
				    0x100000ull * (i + 1));

	atomic_store(&slot_failures, 0);
	atomic_store(&fail_slots, true);
	end = fx_now_ms() + 5000;
	while (fx_now_ms() < end && fx_mstats(f).pending) {
		int rc = iopf_engine_wait(f->e, 10);

		if (rc < 0) {
			atomic_store(&fail_slots, false);
			fail_msg("iopf_engine_wait: %d", rc);
		}
	}
	atomic_store(&fail_slots, false);
	assert_true(atomic_load(&slot_failures) > 0);

	/* Everything was read; the 30 it could not hold were answered at
	 * once, INVALID, exactly once, and are not outstanding. */
	ms = fx_mstats(f);
	assert_int_equal(ms.pending, 0);
	assert_int_equal(ms.groups_delivered - ms0.groups_delivered, BURST);
	assert_int_equal(ms.answered_invalid, BURST - HELD);
	assert_int_equal(ms.answered_success, ms0.answered_success);
	assert_int_equal(ms.outstanding, HELD);
	assert_int_equal(ms.bad_duplicate, 0);
	assert_int_equal(ms.bad_unknown, 0);
	for (unsigned int i = HELD; i < BURST; i++) {
		struct iopf_mock_group_info gi = fx_ginfo(f, gid[i]);

		if (gi.state != IOPF_MOCK_GROUP_ANSWERED ||
		    gi.code != IOPF_RESP_INVALID || gi.answers != 1)
			fail_msg("group %u: state %u code %u answers %u, want "
				 "ANSWERED INVALID once",
				 i, gi.state, gi.code, gi.answers);
	}
	st = fx_qstats(f, 0);
	assert_int_equal(st.groups - st0.groups, HELD);
	assert_int_equal(st.faults - st0.faults, HELD);
	assert_int_equal(st.answers_auto, BURST - HELD);
	assert_int_equal(st.answers_failed, 0);
	assert_int_equal(iopf_queue_error(f->qs[0].q), 0);
	/* Never handed out, so not reported through the answered callback. */
	assert_int_equal(f->nanswers, n0);

	/* The groups it held are there, whole, and answered as usual. */
	got = fx_pull(f, g, HELD, 5000);
	assert_int_equal(got, HELD);
	assert_int_equal(iopf_engine_pull(f->e, g + HELD, 1), 0);
	for (unsigned int i = 0; i < HELD; i++) {
		assert_int_equal(iopf_group_fault(g[i], 0)->grpid, i);
		assert_int_equal(iopf_group_respond(g[i], IOPF_RESP_SUCCESS),
				 0);
	}
	assert_int_equal(fx_flush_until(f, 60 + BURST, 5000), 60 + BURST);
	for (unsigned int i = 0; i < HELD; i++) {
		struct iopf_mock_group_info gi = fx_ginfo(f, gid[i]);

		assert_int_equal(gi.state, IOPF_MOCK_GROUP_ANSWERED);
		assert_int_equal(gi.code, IOPF_RESP_SUCCESS);
		assert_int_equal(gi.answers, 1);
	}

	/* Memory is back: a burst larger than the slots is held whole. */
	for (unsigned int i = 0; i < BURST; i++)
		gid[i] = fx_trigger(f, 0, 1000 + i, i < HELD + SINGLES ? 1 : 3,
				    0x100000ull * (i + 1));
	got = fx_pull(f, g, BURST, 5000);
	assert_int_equal(got, BURST);
	for (unsigned int i = 0; i < BURST; i++) {
		assert_int_equal(iopf_group_count(g[i]),
				 i < HELD + SINGLES ? 1 : 3);
		assert_int_equal(iopf_group_respond(g[i], IOPF_RESP_SUCCESS),
				 0);
	}
	assert_int_equal(fx_flush_until(f, 60 + 2 * BURST, 5000),
			 60 + 2 * BURST);
	ms = fx_mstats(f);
	assert_int_equal(ms.answered_success, 60 + HELD + BURST);
	assert_int_equal(ms.answered_invalid, BURST - HELD);
	assert_int_equal(fx_qstats(f, 0).answers_auto, BURST - HELD);
}

/*
 * A group the library cannot hold is answered at once; when that write fails
 * for good, the answer is lost as any write's would be (see
 * iopf_group_respond(3)): counted failed, and the queue fails, so that the
 * VMM detaches the device, whose group the kernel then answers.
 */
static void slot_alloc_fails_write_fails(void **state)
{
	struct fx *f = *state;
	static struct iopf_group *g[HELD];
	uint64_t gid[HELD + 2], end;
	struct iopf_mock_stats ms0;
	struct iopf_stats st;
	unsigned int n0;
	int rc = 0;

	if (!interposed()) {
		print_message("skipped: calloc is not interposed here "
			      "(valgrind or AddressSanitizer)\n");
		skip();
	}
	fx_init(f, NULL);
	fx_add_queue(f, &(struct fx_qcfg){.batch = 256});
	ms0 = warm_up(f, &n0);
	for (unsigned int i = 0; i < HELD + 2; i++)
		gid[i] = fx_trigger(f, 0, i, 1, 0x100000ull * (i + 1));
	/* The first write is retried (EAGAIN), the second fails for good. */
	assert_int_equal(iopf_mock_inject_fd(f->m, f->qs[0].fault_id,
					     IOPF_MOCK_WRITE_ERRNO, 1, EAGAIN),
			 0);
	assert_int_equal(iopf_mock_inject_fd(f->m, f->qs[0].fault_id,
					     IOPF_MOCK_WRITE_ERRNO, 2, EIO),
			 0);
	atomic_store(&fail_slots, true);
	end = fx_now_ms() + 5000;
	while (fx_now_ms() < end && fx_mstats(f).pending && rc >= 0)
		rc = iopf_engine_wait(f->e, 10);
	atomic_store(&fail_slots, false);
	assert_int_equal(rc, -EIO);
	assert_int_equal(iopf_queue_error(f->qs[0].q), -EIO);
	st = fx_qstats(f, 0);
	assert_int_equal(st.answers_failed, 1);
	assert_int_equal(st.answers_auto, 1);
	assert_int_equal(fx_ginfo(f, gid[HELD]).state,
			 IOPF_MOCK_GROUP_DELIVERED);
	assert_int_equal(fx_ginfo(f, gid[HELD]).answers, 0);
	assert_int_equal(fx_ginfo(f, gid[HELD + 1]).state,
			 IOPF_MOCK_GROUP_ANSWERED);
	assert_int_equal(fx_mstats(f).writes - ms0.writes, 3);

	/* The held groups are answered as usual; the detach answers the one
	 * whose answer was lost, once. */
	assert_int_equal(iopf_engine_pull(f->e, g, HELD), HELD);
	for (unsigned int i = 0; i < HELD; i++)
		assert_int_equal(iopf_group_respond(g[i], IOPF_RESP_SUCCESS),
				 0);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	assert_int_equal(fx_mstats(f).answered_success - ms0.answered_success,
			 HELD);
	fx_detach(f, f->qs[0].dev);
	assert_int_equal(fx_ginfo(f, gid[HELD]).state,
			 IOPF_MOCK_GROUP_AUTO_DETACH);
	assert_int_equal(fx_ginfo(f, gid[HELD]).answers, 0);
}

/*
 * iopf_group_respond_batch() when the answer buffer cannot grow: the answers
 * that fit (16, the buffer of a new queue) are queued, each of the others
 * fails alone with -ENOMEM and its group stays the caller's, to be answered
 * again once memory is back. Every group is answered once.
 */
static void respond_batch_nomem(void **state)
{
#ifndef __SANITIZE_ADDRESS__
	struct fx *f = *state;
	struct iopf_group *g[20];
	uint64_t gid[20];
	int rcs[20], n;

	if (!interposed())
		skip();
	fx_init_default(f);
	for (unsigned int i = 0; i < 20; i++)
		gid[i] = fx_trigger(f, 0, i + 1, 1, 0x1000ull * (i + 1));
	assert_int_equal(fx_pull(f, g, 20, 5000), 20);
	atomic_store(&fail_realloc, true);
	n = iopf_group_respond_batch(g, 20, IOPF_RESP_SUCCESS, rcs);
	atomic_store(&fail_realloc, false);
	assert_int_equal(n, 16);
	for (unsigned int i = 0; i < 20; i++)
		assert_int_equal(rcs[i], i < 16 ? 0 : -ENOMEM);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	for (unsigned int i = 0; i < 20; i++)
		assert_int_equal(fx_ginfo(f, gid[i]).state,
				 i < 16 ? IOPF_MOCK_GROUP_ANSWERED
					: IOPF_MOCK_GROUP_DELIVERED);
	assert_int_equal(
		iopf_group_respond_batch(g + 16, 4, IOPF_RESP_SUCCESS, rcs), 4);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	for (unsigned int i = 0; i < 20; i++) {
		assert_int_equal(fx_ginfo(f, gid[i]).state,
				 IOPF_MOCK_GROUP_ANSWERED);
		assert_int_equal(fx_ginfo(f, gid[i]).answers, 1);
	}
	assert_int_equal(fx_qstats(f, 0).answers_success, 20);
#else
	(void)state;
	skip();
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		FX_BOTH(slot_alloc_fails),
		FX_BOTH(slot_alloc_fails_write_fails),
		FX_BOTH(respond_batch_nomem),
	};

	if (getenv("IOPF_TEST_FILTER"))
		cmocka_set_test_filter(getenv("IOPF_TEST_FILTER"));
	return cmocka_run_group_tests_name("nomem", tests, NULL, NULL);
}
