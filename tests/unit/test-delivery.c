/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The data path, on both engines: faults in, groups assembled, answers out,
 * as the mock kernel sees them. Every test runs once per engine (the names
 * end in /uring and /plain) and checks the mock's books at teardown.
 */
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "fixture.h"

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

#define MS 1000000ull

static struct iopf_mock_group_info ginfo(struct fx *f, uint64_t gid)
{
	return fx_ginfo(f, gid);
}

static void assert_answered(struct fx *f, uint64_t gid, uint32_t code)
{
	struct iopf_mock_group_info gi = ginfo(f, gid);

	if (gi.state != IOPF_MOCK_GROUP_ANSWERED || gi.code != code ||
	    gi.answers != 1)
		fail_msg("group %llu: state %u code %u answers %u, want "
			 "ANSWERED "
			 "code %u once",
			 (unsigned long long)gid, gi.state, gi.code, gi.answers,
			 code);
}

static void respond_all(struct iopf_group **gs, unsigned int n, uint32_t code)
{
	for (unsigned int i = 0; i < n; i++)
		assert_int_equal(iopf_group_respond(gs[i], code), 0);
}

/* A handler that answers every group at once, SUCCESS. */
static int handler_answer(struct iopf_group *g, void *user)
{
	return iopf_group_respond(g, IOPF_RESP_SUCCESS);
}

/* ---- receiving ---------------------------------------------------------- */

static void recv_single(void **state)
{
	struct fx *f = *state;
	struct iopf_mock_group_info gi;
	const struct iopf_fault *ft;
	struct iopf_group *g;
	uint64_t gid;

	fx_init_default(f);
	gid = fx_trigger(f, 0, 7, 1, 0x123000);
	gi = ginfo(f, gid);
	assert_int_equal(gi.state, IOPF_MOCK_GROUP_PENDING);

	assert_int_equal(fx_pull(f, &g, 1, 5000), 1);
	gi = ginfo(f, gid);
	assert_int_equal(gi.state, IOPF_MOCK_GROUP_DELIVERED);
	assert_int_equal(iopf_group_count(g), 1);
	assert_ptr_equal(iopf_group_queue(g), f->qs[0].q);
	assert_int_equal(iopf_group_cookie(g), gi.cookie);
	assert_int_not_equal(iopf_group_tag(g), 0);
	ft = iopf_group_fault(g, 0);
	assert_non_null(ft);
	assert_null(iopf_group_fault(g, 1));
	assert_int_equal(ft->addr, 0x123000);
	assert_int_equal(ft->grpid, 7);
	assert_int_equal(ft->dev_id, f->qs[0].dev);
	assert_int_equal(ft->flags, IOPF_FAULT_LAST_PAGE);
	assert_int_equal(ft->perm, IOPF_PERM_READ);
	assert_int_equal(ft->cookie, gi.cookie);

	/* The group's user pointer is the caller's. */
	assert_null(iopf_group_user(g));
	iopf_group_set_user(g, &gid);
	assert_ptr_equal(iopf_group_user(g), &gid);

	assert_int_equal(iopf_group_respond(g, IOPF_RESP_SUCCESS), 0);
	/* Queued, not written: the engine writes it. */
	assert_int_equal(ginfo(f, gid).state, IOPF_MOCK_GROUP_DELIVERED);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	assert_answered(f, gid, IOPF_RESP_SUCCESS);
}

static void recv_multi(void **state)
{
	struct fx *f = *state;
	struct iopf_group *gs[2];
	uint64_t gid[2];

	fx_init_default(f);
	gid[0] = fx_trigger(f, 0, 9, 5, 0x40000);
	gid[1] = fx_trigger(f, 0, 10, 3, 0x80000);
	assert_int_equal(fx_pull(f, gs, 2, 5000), 2);
	for (unsigned int k = 0; k < 2; k++) {
		unsigned int n = k ? 3 : 5;
		uint32_t cookie = ginfo(f, gid[k]).cookie;

		assert_int_equal(iopf_group_count(gs[k]), n);
		assert_int_equal(iopf_group_cookie(gs[k]), cookie);
		for (unsigned int i = 0; i < n; i++) {
			const struct iopf_fault *ft =
				iopf_group_fault(gs[k], i);

			assert_non_null(ft);
			assert_int_equal(ft->addr,
					 (k ? 0x80000 : 0x40000) + i * 4096);
			assert_int_equal(ft->grpid, k ? 10 : 9);
			assert_int_equal(ft->cookie, cookie);
			assert_int_equal(ft->flags,
					 i == n - 1 ? IOPF_FAULT_LAST_PAGE : 0);
		}
		assert_null(iopf_group_fault(gs[k], n));
	}
	assert_int_not_equal(iopf_group_cookie(gs[0]),
			     iopf_group_cookie(gs[1]));
	assert_true(iopf_group_tag(gs[1]) > iopf_group_tag(gs[0]));
	respond_all(gs, 2, IOPF_RESP_SUCCESS);
	assert_int_equal(fx_flush_until(f, 2, 5000), 2);
	assert_answered(f, gid[0], IOPF_RESP_SUCCESS);
	assert_answered(f, gid[1], IOPF_RESP_SUCCESS);
	assert_int_equal(fx_qstats(f, 0).faults, 8);
	assert_int_equal(fx_qstats(f, 0).groups, 2);
}

/* A group too large for a slot to keep its fault array: answered, the slot
 * gives the array back, and a read of the answered group (the caller's bug)
 * finds no record rather than one past the slot's inline records. */
static void answered_large_group(void **state)
{
	struct fx *f = *state;
	struct iopf_group *g;
	uint64_t gid;

	fx_init_default(f);
	gid = fx_trigger(f, 0, 3, 16, 0x100000);
	assert_int_equal(fx_pull(f, &g, 1, 5000), 1);
	assert_int_equal(iopf_group_count(g), 16);
	assert_non_null(iopf_group_fault(g, 15));
	assert_int_equal(iopf_group_respond(g, IOPF_RESP_SUCCESS), 0);
	assert_int_equal(fx_flush_until(f, 1, 5000), 1);
	assert_answered(f, gid, IOPF_RESP_SUCCESS);
	assert_int_equal(iopf_group_count(g), 0);
	assert_null(iopf_group_fault(g, 15));
	assert_null(iopf_group_fault(g, 4));
}

/* Flags and perm: known bits in flags/perm, everything in raw_*. */
static void fault_fields(void **state)
{
	struct fx *f = *state;
	struct iopf_mock_fault recs[2] = {
		{.flags = IOPF_FAULT_PASID_VALID | 0x100,
		 .pasid = 0x42,
		 .perm = IOPF_PERM_READ | IOPF_PERM_WRITE | 0x400,
		 .addr = 0xdead000},
		{.flags = 0x80000000u,
		 .pasid = 0,
		 .perm = IOPF_PERM_EXEC | IOPF_PERM_PRIV | 0x80000000u,
		 .addr = 0xffffffffffff000ull},
	};
	const struct iopf_fault *a, *b;
	struct iopf_group *g;
	uint64_t gid;

	fx_init_default(f);
	assert_int_equal(
		iopf_mock_trigger(f->m, f->qs[0].dev, 0x1ff, recs, 2, &gid), 0);
	assert_int_equal(fx_pull(f, &g, 1, 5000), 1);
	assert_int_equal(iopf_group_count(g), 2);
	a = iopf_group_fault(g, 0);
	b = iopf_group_fault(g, 1);

	assert_int_equal(a->flags, IOPF_FAULT_PASID_VALID);
	assert_int_equal(a->raw_flags, IOPF_FAULT_PASID_VALID | 0x100);
	assert_int_equal(a->perm, IOPF_PERM_READ | IOPF_PERM_WRITE);
	assert_int_equal(a->raw_perm, IOPF_PERM_READ | IOPF_PERM_WRITE | 0x400);
	assert_int_equal(a->pasid, 0x42);
	assert_int_equal(a->addr, 0xdead000);

	assert_int_equal(b->flags, IOPF_FAULT_LAST_PAGE);
	assert_int_equal(b->raw_flags, IOPF_FAULT_LAST_PAGE | 0x80000000u);
	assert_int_equal(b->perm, IOPF_PERM_EXEC | IOPF_PERM_PRIV);
	assert_int_equal(b->raw_perm,
			 IOPF_PERM_EXEC | IOPF_PERM_PRIV | 0x80000000u);
	assert_int_equal(b->pasid, 0);
	assert_int_equal(b->addr, 0xffffffffffff000ull);

	for (unsigned int i = 0; i < 2; i++) {
		const struct iopf_fault *ft = iopf_group_fault(g, i);

		assert_int_equal(ft->dev_id, f->qs[0].dev);
		assert_int_equal(ft->grpid, 0x1ff);
		assert_int_equal(ft->length, 0);
		assert_int_equal(ft->cookie, ginfo(f, gid).cookie);
		assert_int_equal(ft->__pad, 0);
	}
	assert_int_equal(iopf_group_respond(g, IOPF_RESP_INVALID), 0);
	assert_int_equal(fx_flush_until(f, 1, 5000), 1);
	assert_answered(f, gid, IOPF_RESP_INVALID);
}

/* The reads a burst of n one-record groups takes with a buffer of *size
 * records that doubles while reads fill it, up to batch; *max: the largest. */
static unsigned int ramp_reads(unsigned int n, uint32_t *size, uint32_t batch,
			       uint32_t *max)
{
	unsigned int reads = 0;

	while (n) {
		uint32_t took = n < *size ? n : *size;

		n -= took;
		reads++;
		if (took > *max)
			*max = took;
		if (took == *size && *size < batch)
			*size = *size * 2 < batch ? *size * 2 : batch;
	}
	return reads;
}

/*
 * Reads of a full buffer each, in the order triggered. A queue's buffer
 * starts at 16 records (or the batch, if smaller) and doubles while reads
 * fill it, up to the batch: the first burst ramps up, the second is read in
 * batches.
 */
static void batch_sizes(void **state)
{
	static const uint32_t batches[] = {1, 16, 64, 128, 0};
	struct fx *f = *state;
	struct iopf_group *gs[300];
	const unsigned int n = 300;
	uint64_t answered = 0;

	fx_init(f, NULL);
	for (unsigned int b = 0; b < sizeof(batches) / sizeof(batches[0]);
	     b++) {
		uint32_t batch =
			batches[b] ? batches[b] : 256; /* the default */
		unsigned int qi =
			fx_add_queue(f, &(struct fx_qcfg){.batch = batches[b]});
		uint32_t size = batch < 16 ? batch : 16, max = 0;

		for (int burst = 0; burst < 2; burst++) {
			uint64_t r0 = fx_qstats(f, qi).reads;
			unsigned int want = ramp_reads(n, &size, batch, &max);
			struct iopf_stats st;

			for (unsigned int i = 0; i < n; i++)
				fx_trigger(f, qi, i, 1,
					   0x1000000 + i * 4096ull);
			assert_int_equal(fx_pull(f, gs, n, 10000), n);
			for (unsigned int i = 0; i < n; i++) {
				assert_ptr_equal(iopf_group_queue(gs[i]),
						 f->qs[qi].q);
				assert_int_equal(
					iopf_group_fault(gs[i], 0)->grpid, i);
			}
			st = fx_qstats(f, qi);
			assert_int_equal(st.faults, (burst + 1) * n);
			assert_int_equal(st.groups, (burst + 1) * n);
			assert_int_equal(st.max_batch, max);
			assert_int_equal(st.grows, 0);
			assert_true(st.reads - r0 >= want);
			/* Not much more than needed either: one more for the
			 * tail. */
			assert_true(st.reads - r0 <= want + 2);
			respond_all(gs, n, IOPF_RESP_SUCCESS);
			answered += n;
			assert_int_equal(fx_flush_until(f, answered, 5000),
					 answered);
		}
		/* By the second burst the buffer reached the batch. */
		assert_int_equal(max, batch);
	}
}

/* A group larger than the buffer: the buffer grows (up to max_group) until it
 * fits, whichever way the kernel says "does not fit". */
static void grow_common(struct fx *f, uint32_t mock_flags)
{
	struct iopf_group *g[2];
	struct iopf_stats st;
	uint64_t gid[2];

	fx_init(f, &(struct fx_cfg){.mock_flags = mock_flags});
	fx_add_queue(f, &(struct fx_qcfg){.batch = 4});
	/* Let the first (empty) read happen, so that the group is met by a
	 * read that polled first, as a real loop does. */
	assert_int_equal(iopf_engine_process(f->e), 0);
	gid[0] = fx_trigger(f, 0, 1, 10, 0x10000);
	gid[1] = fx_trigger(f, 0, 2, 2, 0x90000);
	assert_int_equal(fx_pull(f, g, 2, 5000), 2);
	assert_int_equal(iopf_group_count(g[0]), 10);
	assert_int_equal(iopf_group_count(g[1]), 2);
	for (unsigned int i = 0; i < 10; i++)
		assert_int_equal(iopf_group_fault(g[0], i)->addr,
				 0x10000 + i * 4096);
	st = fx_qstats(f, 0);
	assert_int_equal(st.grows, 2); /* 4 -> 8 -> 16 */
	assert_int_equal(st.groups, 2);
	assert_int_equal(st.faults, 12);
	assert_int_equal(st.malformed, 0);
	respond_all(g, 2, IOPF_RESP_SUCCESS);
	assert_int_equal(fx_flush_until(f, 2, 5000), 2);
	assert_answered(f, gid[0], IOPF_RESP_SUCCESS);
	assert_answered(f, gid[1], IOPF_RESP_SUCCESS);
}

static void grow_einval(void **state)
{
	grow_common(*state, 0);
}

static void grow_nofit_zero(void **state)
{
	grow_common(*state, IOPF_MOCK_NOFIT_ZERO);
}

/* A group larger than max_group can never be read: -EMSGSIZE once, the
 * queue stops, the others go on, and nothing spins. */
static void too_big_common(struct fx *f, uint32_t mock_flags)
{
	struct iopf_group *g[2];
	unsigned int got = 0, emsgsize = 0;
	uint64_t end, cpu, t;

	fx_init(f, &(struct fx_cfg){.mock_flags = mock_flags});
	fx_add_queue(f, &(struct fx_qcfg){.batch = 4, .max_group = 8});
	fx_add_queue(f, NULL);
	assert_int_equal(iopf_engine_process(f->e), 0);
	fx_trigger(f, 0, 1, 9, 0x10000);
	fx_trigger(f, 1, 2, 1, 0x20000);
	end = fx_now_ms() + 5000;
	while (fx_now_ms() < end && (!got || !emsgsize)) {
		int rc = iopf_engine_wait(f->e, 100);

		if (rc == -EMSGSIZE) {
			emsgsize++;
			continue;
		}
		assert_true(rc >= 0);
		rc = iopf_engine_pull(f->e, g + got, 2 - got);
		if (rc == -EMSGSIZE) {
			emsgsize++;
			continue;
		}
		assert_true(rc >= 0);
		got += (unsigned int)rc;
	}
	assert_int_equal(emsgsize, 1);
	assert_int_equal(got, 1);
	assert_ptr_equal(iopf_group_queue(g[0]), f->qs[1].q);
	assert_int_equal(fx_qstats(f, 0).grows, 1);
	assert_int_equal(fx_qstats(f, 0).faults, 0);

	/* Reported once: the next waits time out quietly, without spinning
	 * on the group left in the kernel. */
	cpu = fx_cpu_ms();
	t = fx_now_ms();
	assert_int_equal(iopf_engine_wait(f->e, 300), 0);
	assert_true(fx_now_ms() - t >= 290);
	if (fx_cpu_ms() - cpu > 100)
		fail_msg("wait burnt %llu ms of CPU in 300 ms",
			 (unsigned long long)(fx_cpu_ms() - cpu));

	/* The other queue still works. */
	fx_trigger(f, 1, 3, 1, 0x30000);
	assert_int_equal(fx_pull(f, g + 1, 1, 5000), 1);
	assert_ptr_equal(iopf_group_queue(g[1]), f->qs[1].q);
	respond_all(g, 2, IOPF_RESP_SUCCESS);
	assert_int_equal(fx_flush_until(f, 2, 5000), 2);
	f->allow_pending = true; /* the 9-record group, never read */
}

static void group_too_big(void **state)
{
	too_big_common(*state, 0);
}

/* The same where the kernel says 0, not EINVAL: a read of 0 right after a
 * poll said readable, with the buffer at max_group, is that group. */
static void group_too_big_nofit_zero(void **state)
{
	too_big_common(*state, IOPF_MOCK_NOFIT_ZERO);
}

/* iopf_queue_error() names the queue that stopped. Two queues stop in the
 * same pass: each error is returned by a call of its own, none is lost, and
 * the working queue's error stays 0. */
static void queue_error(void **state)
{
	struct fx *f = *state;
	struct iopf_group *g;
	unsigned int emsgsize = 0, got = 0;
	bool both = false;
	uint64_t end;

	assert_int_equal(iopf_queue_error(NULL), -EINVAL);
	fx_init(f, NULL);
	fx_add_queue(f, &(struct fx_qcfg){.batch = 4, .max_group = 8});
	fx_add_queue(f, &(struct fx_qcfg){.batch = 4, .max_group = 8});
	fx_add_queue(f, NULL);
	assert_int_equal(iopf_engine_process(f->e), 0);
	for (unsigned int i = 0; i < 3; i++)
		assert_int_equal(iopf_queue_error(f->qs[i].q), 0);
	/* Nine records: more than max_group, on both small queues at once. */
	fx_trigger(f, 0, 1, 9, 0x10000);
	fx_trigger(f, 1, 2, 9, 0x20000);
	fx_trigger(f, 2, 3, 1, 0x30000);
	end = fx_now_ms() + 5000;
	while (fx_now_ms() < end && (emsgsize < 2 || !got)) {
		int rc = iopf_engine_wait(f->e, 100);

		if (rc == -EMSGSIZE) {
			if (!emsgsize++)
				both = iopf_queue_error(f->qs[0].q) &&
				       iopf_queue_error(f->qs[1].q);
			continue;
		}
		assert_true(rc >= 0);
		rc = iopf_engine_pull(f->e, &g, 1);
		if (rc == -EMSGSIZE) {
			if (!emsgsize++)
				both = iopf_queue_error(f->qs[0].q) &&
				       iopf_queue_error(f->qs[1].q);
			continue;
		}
		assert_true(rc >= 0);
		got += (unsigned int)rc;
	}
	assert_int_equal(emsgsize, 2);
	/* Both had failed when the first was reported: the second came from
	 * a call of its own, not lost with the first. */
	assert_true(both);
	assert_int_equal(got, 1);
	assert_ptr_equal(iopf_group_queue(g), f->qs[2].q);
	assert_int_equal(iopf_queue_error(f->qs[0].q), -EMSGSIZE);
	assert_int_equal(iopf_queue_error(f->qs[1].q), -EMSGSIZE);
	assert_int_equal(iopf_queue_error(f->qs[2].q), 0);

	/* Reported once each; the error itself stays readable. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(iopf_engine_wait(f->e, 20), 0);
	assert_int_equal(iopf_queue_error(f->qs[0].q), -EMSGSIZE);
	assert_int_equal(iopf_queue_error(f->qs[1].q), -EMSGSIZE);
	assert_int_equal(iopf_queue_error(f->qs[2].q), 0);
	assert_int_equal(iopf_group_respond(g, IOPF_RESP_SUCCESS), 0);
	assert_int_equal(fx_flush_until(f, 1, 5000), 1);
	assert_int_equal(iopf_queue_error(f->qs[2].q), 0);
	f->allow_pending = true; /* the two nine-record groups, never read */
}

/* IOPF_MOCK_READ_SPLIT: a group in two reads is assembled as one. */
static void read_split(void **state)
{
	struct fx *f = *state;
	struct iopf_group *g;
	struct iopf_stats st;
	uint64_t gid;

	fx_init_default(f);
	gid = fx_trigger(f, 0, 4, 6, 0x60000);
	assert_int_equal(iopf_mock_inject_fd(f->m, f->qs[0].fault_id,
					     IOPF_MOCK_READ_SPLIT, 1, 2),
			 0);
	assert_int_equal(fx_pull(f, &g, 1, 5000), 1);
	assert_int_equal(iopf_group_count(g), 6);
	for (unsigned int i = 0; i < 6; i++) {
		const struct iopf_fault *ft = iopf_group_fault(g, i);

		assert_int_equal(ft->addr, 0x60000 + i * 4096);
		assert_int_equal(ft->flags, i == 5 ? IOPF_FAULT_LAST_PAGE : 0);
		assert_int_equal(ft->cookie, ginfo(f, gid).cookie);
	}
	st = fx_qstats(f, 0);
	assert_int_equal(st.groups, 1);
	assert_int_equal(st.faults, 6);
	assert_int_equal(st.malformed, 0);
	assert_int_equal(st.max_batch, 4);
	assert_true(st.reads >= 2);
	assert_int_equal(iopf_group_respond(g, IOPF_RESP_SUCCESS), 0);
	assert_int_equal(fx_flush_until(f, 1, 5000), 1);
	assert_answered(f, gid, IOPF_RESP_SUCCESS);
}

/* A read that says 0 with a group pending: the group comes with a later
 * read, nothing is lost or reported. */
static void read_zero(void **state)
{
	struct fx *f = *state;
	struct iopf_group *g;
	uint64_t gid;

	fx_init_default(f);
	assert_int_equal(iopf_engine_process(f->e), 0);
	gid = fx_trigger(f, 0, 1, 2, 0x1000);
	assert_int_equal(iopf_mock_inject_fd(f->m, f->qs[0].fault_id,
					     IOPF_MOCK_READ_ZERO, 1, 0),
			 0);
	assert_int_equal(fx_pull(f, &g, 1, 5000), 1);
	assert_int_equal(iopf_group_count(g), 2);
	assert_int_equal(iopf_group_respond(g, IOPF_RESP_SUCCESS), 0);
	assert_int_equal(fx_flush_until(f, 1, 5000), 1);
	assert_answered(f, gid, IOPF_RESP_SUCCESS);
	assert_true(fx_qstats(f, 0).reads >= 2);
	assert_int_equal(fx_qstats(f, 0).groups, 1);
}

/* EAGAIN from a read is nothing; EIO stops that queue, reported once, and the
 * other queues go on. */
static void read_errno(void **state)
{
	struct fx *f = *state;
	struct iopf_group *g[3];
	unsigned int got = 0, eio = 0;
	uint64_t gid, end;

	fx_init(f, NULL);
	fx_add_queue(f, NULL);
	fx_add_queue(f, NULL);
	gid = fx_trigger(f, 0, 1, 1, 0x1000);
	assert_int_equal(iopf_mock_inject_fd(f->m, f->qs[0].fault_id,
					     IOPF_MOCK_READ_ERRNO, 1, EAGAIN),
			 0);
	assert_int_equal(fx_pull(f, g, 1, 5000), 1);
	assert_int_equal(iopf_group_respond(g[0], IOPF_RESP_SUCCESS), 0);
	assert_int_equal(fx_flush_until(f, 1, 5000), 1);
	assert_answered(f, gid, IOPF_RESP_SUCCESS);

	assert_int_equal(iopf_mock_inject_fd(f->m, f->qs[0].fault_id,
					     IOPF_MOCK_READ_ERRNO, 1, EIO),
			 0);
	fx_trigger(f, 0, 2, 1, 0x2000);
	fx_trigger(f, 1, 3, 1, 0x3000);
	end = fx_now_ms() + 3000;
	while (fx_now_ms() < end && got < 1) {
		int rc = iopf_engine_wait(f->e, 100);

		if (rc == -EIO) {
			eio++;
			continue;
		}
		assert_true(rc >= 0);
		rc = iopf_engine_pull(f->e, g + 1 + got, 2 - got);
		if (rc == -EIO) {
			eio++;
			continue;
		}
		assert_true(rc >= 0);
		got += (unsigned int)rc;
	}
	/* Once, and no more. */
	for (int i = 0; i < 3; i++)
		if (iopf_engine_wait(f->e, 20) == -EIO)
			eio++;
	assert_int_equal(eio, 1);
	assert_int_equal(got, 1);
	assert_ptr_equal(iopf_group_queue(g[1]), f->qs[1].q);
	assert_int_equal(iopf_group_respond(g[1], IOPF_RESP_SUCCESS), 0);
	assert_int_equal(fx_flush_until(f, 2, 5000), 2);
	f->allow_pending = true; /* queue 0's second group */
}

/* A lone queue is read without the engine's run (the solo path): a read that
 * fails there is reported at once, once, not after the wait's timeout; the
 * engine then waits quietly, and the answers given before still go out. */
static void solo_read_error(void **state)
{
	struct fx *f = *state;
	uint64_t gid, t;

	fx_init(f, NULL);
	fx_add_queue(f, &(struct fx_qcfg){.handler = handler_answer});
	/* A dispatch that reads a group leaves the queue to be read first
	 * next time, without a poll. */
	gid = fx_trigger(f, 0, 1, 1, 0x1000);
	assert_int_equal(iopf_engine_dispatch(f->e, 5000), 1);
	assert_answered(f, gid, IOPF_RESP_SUCCESS);

	assert_int_equal(iopf_mock_inject_fd(f->m, f->qs[0].fault_id,
					     IOPF_MOCK_READ_ERRNO, 1, EIO),
			 0);
	fx_trigger(f, 0, 2, 1, 0x2000);
	t = fx_now_ms();
	assert_int_equal(iopf_engine_dispatch(f->e, 4000), -EIO);
	assert_true(fx_now_ms() - t < 2000);
	/* Once: then the queue is out, and a wait times out. */
	assert_int_equal(iopf_engine_dispatch(f->e, 50), 0);
	assert_int_equal(iopf_engine_wait(f->e, 0), 0);
	assert_int_equal(fx_qstats(f, 0).answers_success, 1);
	f->allow_pending = true; /* the second group, never read */
}

/* ---- answering ---------------------------------------------------------- */

static void respond_once(void **state)
{
	struct fx *f = *state;
	struct iopf_group *g[2];
	struct iopf_mock_stats ms;
	uint64_t gid[2];

	fx_init_default(f);
	gid[0] = fx_trigger(f, 0, 1, 1, 0x1000);
	gid[1] = fx_trigger(f, 0, 2, 1, 0x2000);
	assert_int_equal(fx_pull(f, g, 2, 5000), 2);

	/* A bad code: refused, nothing queued, the group still open. */
	assert_int_equal(iopf_group_respond(g[0], 2), -EINVAL);
	assert_int_equal(iopf_group_respond(g[0], 0xffffffffu), -EINVAL);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	ms = fx_mstats(f);
	assert_int_equal(ms.writes, 0);
	assert_int_equal(ms.bad_code, 0);
	assert_int_equal(ginfo(f, gid[0]).state, IOPF_MOCK_GROUP_DELIVERED);

	assert_int_equal(iopf_group_respond(g[0], IOPF_RESP_SUCCESS), 0);
	assert_int_equal(iopf_group_respond(g[0], IOPF_RESP_SUCCESS),
			 -EALREADY);
	assert_int_equal(iopf_group_respond(g[0], IOPF_RESP_INVALID),
			 -EALREADY);
	assert_int_equal(iopf_group_respond(g[1], IOPF_RESP_INVALID), 0);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	ms = fx_mstats(f);
	assert_int_equal(ms.writes, 1);
	assert_int_equal(ms.answered_success, 1);
	assert_int_equal(ms.answered_invalid, 1);
	assert_int_equal(ms.bad_duplicate, 0);
	assert_answered(f, gid[0], IOPF_RESP_SUCCESS);
	assert_answered(f, gid[1], IOPF_RESP_INVALID);
	/* Still refused after the write, and nothing more written. */
	assert_int_equal(iopf_group_respond(g[0], IOPF_RESP_SUCCESS),
			 -EALREADY);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	assert_int_equal(fx_mstats(f).writes, 1);

	/* The answered callback saw both, taken. */
	assert_int_equal(f->nanswers, 2);
	for (unsigned int i = 0; i < 2; i++) {
		assert_int_equal(f->answers[i].result, 0);
		assert_ptr_equal(f->answers[i].q, f->qs[0].q);
		assert_int_equal(f->answers[i].cookie, ginfo(f, gid[i]).cookie);
		assert_int_equal(f->answers[i].code, i);
	}
}

/* N answers, one flush: one write. */
static void answers_coalesced(void **state)
{
	struct fx *f = *state;
	struct iopf_group *g[40];
	uint64_t gid[40], tags[40];

	fx_init_default(f);
	for (unsigned int i = 0; i < 40; i++)
		gid[i] = fx_trigger(f, 0, i, 1 + i % 3, 0x100000 * (i + 1));
	assert_int_equal(fx_pull(f, g, 40, 5000), 40);
	for (unsigned int i = 0; i < 40; i++) {
		tags[i] = iopf_group_tag(g[i]);
		assert_int_equal(iopf_group_respond(g[i], i & 1), 0);
	}
	assert_int_equal(fx_mstats(f).writes, 0);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	assert_int_equal(fx_mstats(f).writes, 1);
	assert_int_equal(fx_qstats(f, 0).writes, 1);
	for (unsigned int i = 0; i < 40; i++) {
		const struct fx_answer *a = fx_answer_for(f, tags[i]);

		assert_answered(f, gid[i], i & 1);
		assert_non_null(a);
		assert_int_equal(a->result, 0);
		assert_int_equal(a->code, i & 1);
	}
	assert_int_equal(fx_qstats(f, 0).answers_success, 20);
	assert_int_equal(fx_qstats(f, 0).answers_invalid, 20);
	/* Nothing left: another flush writes nothing. */
	assert_int_equal(iopf_engine_flush(f->e), 0);
	assert_int_equal(fx_mstats(f).writes, 1);
}

/* A short write: the rest goes in the next write, within the same flush. */
static void short_write(void **state)
{
	struct fx *f = *state;
	struct iopf_group *g[6];
	uint64_t gid[6];

	fx_init_default(f);
	for (unsigned int i = 0; i < 6; i++)
		gid[i] = fx_trigger(f, 0, i, 1, 0x1000 * (i + 1));
	assert_int_equal(fx_pull(f, g, 6, 5000), 6);
	respond_all(g, 6, IOPF_RESP_SUCCESS);
	assert_int_equal(iopf_mock_inject_fd(f->m, f->qs[0].fault_id,
					     IOPF_MOCK_WRITE_SHORT, 1, 2),
			 0);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	assert_int_equal(fx_mstats(f).answered_success, 6);
	assert_int_equal(fx_mstats(f).writes, 2);
	for (unsigned int i = 0; i < 6; i++)
		assert_answered(f, gid[i], IOPF_RESP_SUCCESS);
	assert_int_equal(f->nanswers, 6);
	for (unsigned int i = 0; i < 6; i++)
		assert_int_equal(f->answers[i].result, 0);
	assert_int_equal(fx_qstats(f, 0).answers_failed, 0);
}

/* Without an answered callback the answers are counted in one go (a write
 * that takes them all), or one by one when it does not: a short write is
 * resumed, a refused answer counted stale, a failed write counted failed. */
static void write_results_no_callback(void **state)
{
	struct fx *f = *state;
	struct iopf_group *g[9];
	uint64_t gid[9];
	struct iopf_stats st;
	uint32_t dev, devb;

	fx_init(f, NULL);
	fx_add_queue(f, &(struct fx_qcfg){.no_answered = true});
	dev = f->qs[0].dev;
	/* Three taken by one write, all at once. */
	for (unsigned int i = 0; i < 3; i++)
		gid[i] = fx_trigger(f, 0, i, 1, 0x1000 * (i + 1));
	assert_int_equal(fx_pull(f, g, 3, 5000), 3);
	respond_all(g, 2, IOPF_RESP_SUCCESS);
	assert_int_equal(iopf_group_respond(g[2], IOPF_RESP_INVALID), 0);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	assert_int_equal(fx_mstats(f).writes, 1);
	st = fx_qstats(f, 0);
	assert_int_equal(st.answers_success, 2);
	assert_int_equal(st.answers_invalid, 1);
	assert_int_equal(st.writes, 1);

	/* A short write: the rest goes in a second one. */
	for (unsigned int i = 3; i < 6; i++)
		gid[i] = fx_trigger(f, 0, i, 1, 0x1000 * (i + 1));
	assert_int_equal(fx_pull(f, g + 3, 3, 5000), 3);
	respond_all(g + 3, 3, IOPF_RESP_SUCCESS);
	assert_int_equal(iopf_mock_inject_fd(f->m, f->qs[0].fault_id,
					     IOPF_MOCK_WRITE_SHORT, 1, 1),
			 0);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	for (unsigned int i = 0; i < 6; i++)
		assert_answered(f, gid[i],
				i == 2 ? IOPF_RESP_INVALID : IOPF_RESP_SUCCESS);
	assert_int_equal(fx_mstats(f).writes, 3);
	assert_int_equal(fx_qstats(f, 0).answers_success, 5);

	/* The first answer refused (the kernel answered it on detach), the
	 * other taken; then a write that fails for good. */
	devb = fx_add_dev(f, 0);
	gid[6] = fx_trigger(f, 0, 6, 1, 0x7000);
	gid[7] = fx_trigger_dev(f, devb, 7, 1, 0x8000);
	assert_int_equal(fx_pull(f, g + 6, 2, 5000), 2);
	fx_detach(f, dev);
	respond_all(g + 6, 2, IOPF_RESP_SUCCESS);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	assert_answered(f, gid[7], IOPF_RESP_SUCCESS);
	st = fx_qstats(f, 0);
	assert_int_equal(st.answers_success, 6);
	assert_int_equal(st.answers_stale, 1);

	/* The mock counts the refused one as an answer to a group it had
	 * answered itself; the kernel refuses it the same way. */
	f->expect_bad_duplicate = 1;
	gid[8] = fx_trigger_dev(f, devb, 8, 1, 0x9000);
	assert_int_equal(fx_pull(f, g + 8, 1, 5000), 1);
	assert_int_equal(iopf_group_respond(g[8], IOPF_RESP_SUCCESS), 0);
	assert_int_equal(iopf_mock_inject_fd(f->m, f->qs[0].fault_id,
					     IOPF_MOCK_WRITE_ERRNO, 1, EIO),
			 0);
	assert_int_equal(iopf_engine_flush(f->e), -EIO);
	assert_int_equal(iopf_queue_error(f->qs[0].q), -EIO);
	st = fx_qstats(f, 0);
	assert_int_equal(st.answers_failed, 1);
	assert_int_equal(st.answers_success, 6);
	/* The mock took nothing of the failed write: the group is still
	 * waiting, and teardown does not answer it again (it was sent). */
	f->allow_outstanding = true;
}

/* Tags are unique within a queue: the callback's entries for (q, tag). */
static unsigned int answers_for(struct fx *f, struct iopf_queue *q,
				uint64_t tag, const struct fx_answer **first)
{
	unsigned int n = 0;

	*first = NULL;
	for (unsigned int i = 0; i < f->nanswers; i++) {
		if (f->answers[i].tag != tag || f->answers[i].q != q)
			continue;
		if (!n++)
			*first = &f->answers[i];
	}
	return n;
}

/*
 * A write that fails for good (not a refused answer, not a transient error):
 * its answers are reported failed once each, the queue fails (the engine says
 * so once, iopf_queue_error() tells which, it reads no more), the other queue
 * goes on; detaching the device then answers every one of its groups (the
 * kernel's auto-answer), none twice. Two queues: io_uring writes with SQEs.
 */
static void write_errno(void **state)
{
	struct fx *f = *state;
	struct iopf_group *g[6];
	uint64_t gid[7], tag[6];
	struct iopf_stats st;

	fx_init(f, NULL);
	fx_add_queue(f, NULL);
	fx_add_queue(f, NULL);
	/* Pulled queue by queue: g[i] is gid[i]'s group. */
	for (unsigned int i = 0; i < 3; i++)
		gid[i] = fx_trigger(f, 0, i, 1, 0x1000 * (i + 1));
	assert_int_equal(fx_pull(f, g, 3, 5000), 3);
	for (unsigned int i = 3; i < 5; i++)
		gid[i] = fx_trigger(f, 1, i, 1, 0x1000 * (i + 1));
	assert_int_equal(fx_pull(f, g + 3, 2, 5000), 2);
	for (unsigned int i = 0; i < 5; i++)
		tag[i] = iopf_group_tag(g[i]);
	assert_int_equal(iopf_mock_inject_fd(f->m, f->qs[0].fault_id,
					     IOPF_MOCK_WRITE_ERRNO, 1, EIO),
			 0);
	respond_all(g, 5, IOPF_RESP_SUCCESS);
	assert_int_equal(iopf_engine_flush(f->e), -EIO);
	assert_int_equal(iopf_engine_flush(f->e), 0); /* said once */
	assert_int_equal(iopf_queue_error(f->qs[0].q), -EIO);
	assert_int_equal(iopf_queue_error(f->qs[1].q), 0);

	assert_int_equal(f->nanswers, 5);
	for (unsigned int i = 0; i < 5; i++) {
		const struct fx_answer *a;

		assert_int_equal(
			answers_for(f, f->qs[i < 3 ? 0 : 1].q, tag[i], &a), 1);
		if (i < 3) {
			assert_int_equal(a->result, -EIO);
			assert_int_equal(ginfo(f, gid[i]).state,
					 IOPF_MOCK_GROUP_DELIVERED);
			assert_int_equal(ginfo(f, gid[i]).answers, 0);
		} else {
			assert_int_equal(a->result, 0);
			assert_answered(f, gid[i], IOPF_RESP_SUCCESS);
		}
	}
	st = fx_qstats(f, 0);
	assert_int_equal(st.answers_failed, 3);
	assert_int_equal(st.answers_success, 0);
	assert_int_equal(fx_qstats(f, 1).answers_success, 2);

	/* The failed queue reads no more. */
	gid[5] = fx_trigger(f, 0, 9, 1, 0x9000);
	for (int i = 0; i < 5; i++)
		assert_int_equal(iopf_engine_process(f->e), 0);
	assert_int_equal(ginfo(f, gid[5]).state, IOPF_MOCK_GROUP_PENDING);

	/* The VMM tears the device down: the kernel answers all four. */
	fx_detach(f, f->qs[0].dev);
	for (unsigned int i = 0; i < 3; i++) {
		assert_int_equal(ginfo(f, gid[i]).state,
				 IOPF_MOCK_GROUP_AUTO_DETACH);
		assert_int_equal(ginfo(f, gid[i]).answers, 0);
	}
	assert_int_equal(ginfo(f, gid[5]).state, IOPF_MOCK_GROUP_AUTO_DETACH);

	/* The other queue goes on. */
	gid[6] = fx_trigger(f, 1, 10, 1, 0xa000);
	assert_int_equal(fx_pull(f, g + 5, 1, 5000), 1);
	assert_int_equal(iopf_group_respond(g[5], IOPF_RESP_SUCCESS), 0);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	assert_answered(f, gid[6], IOPF_RESP_SUCCESS);
	assert_int_equal(fx_mstats(f).bad_duplicate, 0);
}

/* Transient write results (EAGAIN, EINTR, a short count) are retried: every
 * answer reaches the mock exactly once, reported once, nothing failed. */
static void write_transient(void **state)
{
	struct fx *f = *state;
	struct iopf_group *g[5];
	uint64_t gid[5], tag[5];

	fx_init(f, NULL);
	fx_add_queue(f, NULL);
	fx_add_queue(f, NULL);
	for (unsigned int i = 0; i < 4; i++)
		gid[i] = fx_trigger(f, 0, i, 1, 0x1000 * (i + 1));
	assert_int_equal(fx_pull(f, g, 4, 5000), 4);
	gid[4] = fx_trigger(f, 1, 4, 1, 0x5000);
	assert_int_equal(fx_pull(f, g + 4, 1, 5000), 1);
	for (unsigned int i = 0; i < 5; i++)
		tag[i] = iopf_group_tag(g[i]);
	assert_int_equal(iopf_mock_inject_fd(f->m, f->qs[0].fault_id,
					     IOPF_MOCK_WRITE_ERRNO, 1, EAGAIN),
			 0);
	assert_int_equal(iopf_mock_inject_fd(f->m, f->qs[0].fault_id,
					     IOPF_MOCK_WRITE_ERRNO, 2, EINTR),
			 0);
	assert_int_equal(iopf_mock_inject_fd(f->m, f->qs[0].fault_id,
					     IOPF_MOCK_WRITE_SHORT, 3, 1),
			 0);
	respond_all(g, 5, IOPF_RESP_SUCCESS);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	for (unsigned int i = 0; i < 5; i++) {
		const struct fx_answer *a;

		assert_answered(f, gid[i], IOPF_RESP_SUCCESS);
		assert_int_equal(
			answers_for(f, f->qs[i < 4 ? 0 : 1].q, tag[i], &a), 1);
		assert_int_equal(a->result, 0);
	}
	assert_int_equal(f->nanswers, 5);
	assert_true(fx_mstats(f).writes >= 5); /* 3 of q0 retried, q1 */
	assert_int_equal(fx_qstats(f, 0).answers_failed, 0);
	assert_int_equal(fx_qstats(f, 0).answers_success, 4);
	assert_int_equal(iopf_queue_error(f->qs[0].q), 0);
}

/* A device detached: the kernel answered its groups; the library's answer to
 * one of them fails alone, the rest of the batch is taken. */
static void stale_after_detach(void **state)
{
	struct fx *f = *state;
	struct iopf_group *g[3];
	uint64_t gid[3], tags[3];
	uint32_t devb;
	struct iopf_stats st;

	fx_init_default(f);
	devb = fx_add_dev(f, 0);
	gid[0] = fx_trigger_dev(f, devb, 1, 1, 0x1000);
	gid[1] = fx_trigger(f, 0, 2, 2, 0x2000); /* device A */
	gid[2] = fx_trigger_dev(f, devb, 3, 1, 0x3000);
	assert_int_equal(fx_pull(f, g, 3, 5000), 3);
	for (unsigned int i = 0; i < 3; i++)
		tags[i] = iopf_group_tag(g[i]);
	assert_int_equal(iopf_group_fault(g[1], 0)->dev_id, f->qs[0].dev);

	fx_detach(f, f->qs[0].dev);
	assert_int_equal(ginfo(f, gid[1]).state, IOPF_MOCK_GROUP_AUTO_DETACH);
	assert_int_equal(fx_mstats(f).auto_detach, 1);

	respond_all(g, 3, IOPF_RESP_SUCCESS);
	assert_int_equal(fx_flush_until(f, 2, 5000), 2);
	assert_answered(f, gid[0], IOPF_RESP_SUCCESS);
	assert_answered(f, gid[2], IOPF_RESP_SUCCESS);
	assert_int_equal(ginfo(f, gid[1]).state, IOPF_MOCK_GROUP_AUTO_DETACH);

	assert_int_equal(f->nanswers, 3);
	assert_int_equal(fx_answer_for(f, tags[0])->result, 0);
	assert_int_equal(fx_answer_for(f, tags[1])->result, -EINVAL);
	assert_int_equal(fx_answer_for(f, tags[2])->result, 0);
	st = fx_qstats(f, 0);
	assert_int_equal(st.answers_stale, 1);
	assert_int_equal(st.answers_success, 2);
	assert_int_equal(st.answers_failed, 0);
	/* The stale answer was sent twice: the first write stopped at it and
	 * said so only by its short count (B1 taken), which for a write means
	 * "resume from here" (a short write must be resumed, see short_write);
	 * the second write, starting with it, got the EINVAL that marks it
	 * stale. The mock counts both as answers to a group it had answered
	 * itself; the kernel refuses both the same way. */
	assert_int_equal(ginfo(f, gid[1]).answers, 2);
	f->expect_bad_duplicate = 2;
}

/* iopf_group_respond_batch(): bad arguments answer nothing; each group is
 * answered as iopf_group_respond() would answer it, with its own result. */
static void respond_batch_args(void **state)
{
	struct fx *f = *state;
	struct iopf_group *g[2], *arr[4];
	struct iopf_mock_stats ms;
	uint64_t gid[2];
	int rcs[4];

	fx_init_default(f);
	gid[0] = fx_trigger(f, 0, 1, 1, 0x1000);
	gid[1] = fx_trigger(f, 0, 2, 1, 0x2000);
	assert_int_equal(fx_pull(f, g, 2, 5000), 2);

	/* Refused whole: nothing queued, the groups still open. */
	assert_int_equal(iopf_group_respond_batch(g, 2, 2, rcs), -EINVAL);
	assert_int_equal(
		iopf_group_respond_batch(NULL, 1, IOPF_RESP_SUCCESS, rcs),
		-EINVAL);
	assert_int_equal(iopf_group_respond_batch(g, (unsigned int)INT_MAX + 1u,
						  IOPF_RESP_SUCCESS, NULL),
			 -EINVAL);
	assert_int_equal(
		iopf_group_respond_batch(NULL, 0, IOPF_RESP_SUCCESS, NULL), 0);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	assert_int_equal(fx_mstats(f).writes, 0);
	assert_int_equal(ginfo(f, gid[0]).state, IOPF_MOCK_GROUP_DELIVERED);
	assert_int_equal(ginfo(f, gid[1]).state, IOPF_MOCK_GROUP_DELIVERED);

	/* A NULL entry and a group given twice fail alone. */
	arr[0] = g[0];
	arr[1] = NULL;
	arr[2] = g[1];
	arr[3] = g[0];
	assert_int_equal(
		iopf_group_respond_batch(arr, 4, IOPF_RESP_SUCCESS, rcs), 2);
	assert_int_equal(rcs[0], 0);
	assert_int_equal(rcs[1], -EINVAL);
	assert_int_equal(rcs[2], 0);
	assert_int_equal(rcs[3], -EALREADY);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	ms = fx_mstats(f);
	assert_int_equal(ms.writes, 1);
	assert_int_equal(ms.answered_success, 2);
	assert_int_equal(ms.bad_duplicate, 0);
	assert_answered(f, gid[0], IOPF_RESP_SUCCESS);
	assert_answered(f, gid[1], IOPF_RESP_SUCCESS);
	assert_int_equal(fx_qstats(f, 0).answers_success, 2);
	/* Answered already: nothing more is written. */
	assert_int_equal(iopf_group_respond_batch(g, 2, IOPF_RESP_INVALID, rcs),
			 0);
	assert_int_equal(rcs[0], -EALREADY);
	assert_int_equal(rcs[1], -EALREADY);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	assert_int_equal(fx_mstats(f).writes, 1);
	assert_int_equal(f->nanswers, 2);
}

/* A batch of one takes its own short path (iopf_group_respond()'s): the same
 * arguments refused, the same results, nothing answered twice. */
static void respond_batch_one(void **state)
{
	struct fx *f = *state;
	struct iopf_group *g[1], *none[1] = {NULL};
	uint64_t gid;
	int rc = 7;

	fx_init_default(f);
	gid = fx_trigger(f, 0, 1, 1, 0x1000);
	assert_int_equal(fx_pull(f, g, 1, 5000), 1);

	assert_int_equal(iopf_group_respond_batch(g, 1, 2, &rc), -EINVAL);
	assert_int_equal(rc, 7); /* refused whole: no result written */
	assert_int_equal(
		iopf_group_respond_batch(none, 1, IOPF_RESP_SUCCESS, &rc), 0);
	assert_int_equal(rc, -EINVAL);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	assert_int_equal(fx_mstats(f).writes, 0);
	assert_int_equal(ginfo(f, gid).state, IOPF_MOCK_GROUP_DELIVERED);

	assert_int_equal(iopf_group_respond_batch(g, 1, IOPF_RESP_INVALID, &rc),
			 1);
	assert_int_equal(rc, 0);
	assert_int_equal(
		iopf_group_respond_batch(g, 1, IOPF_RESP_SUCCESS, NULL), 0);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	assert_int_equal(fx_mstats(f).writes, 1);
	assert_answered(f, gid, IOPF_RESP_INVALID);
	assert_int_equal(fx_qstats(f, 0).answers_invalid, 1);
	assert_int_equal(f->nanswers, 1);
}

/* Groups of two queues, mixed in the array (a run of each at a time), with
 * INVALID and no results array; then a batch larger than the answer buffer
 * (16 answers to begin with), which grows it in the call; then the counters
 * of a queue without an answered callback. */
static void respond_batch_queues(void **state)
{
	struct fx *f = *state;
	struct iopf_group *g[40], *arr[6];
	uint64_t gid[40];
	struct iopf_stats st;
	unsigned int k = 0;

	fx_init_default(f);
	fx_add_queue(f, &(struct fx_qcfg){0});
	for (unsigned int i = 0; i < 3; i++) {
		gid[2 * i] = fx_trigger(f, 0, i + 1, 1, 0x1000 * (i + 1));
		gid[2 * i + 1] = fx_trigger(f, 1, i + 1, 1, 0x1000 * (i + 1));
	}
	assert_int_equal(fx_pull(f, g, 6, 5000), 6);
	/* q0 q0 q1 q1 q0 q1, whatever order they were pulled in. */
	for (unsigned int want = 0; want < 6; want++) {
		struct iopf_queue *q = f->qs[(0x2a >> want) & 1].q;

		for (unsigned int i = 0; i < 6; i++)
			if (g[i] && iopf_group_queue(g[i]) == q) {
				arr[k++] = g[i];
				g[i] = NULL;
				break;
			}
	}
	assert_int_equal(k, 6);
	assert_int_equal(
		iopf_group_respond_batch(arr, 6, IOPF_RESP_INVALID, NULL), 6);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	for (unsigned int i = 0; i < 6; i++)
		assert_answered(f, gid[i], IOPF_RESP_INVALID);
	for (unsigned int qi = 0; qi < 2; qi++) {
		st = fx_qstats(f, qi);
		assert_int_equal(st.answers_invalid, 3);
		assert_int_equal(st.answers_success, 0);
	}
	assert_int_equal(f->nanswers, 6);
	for (unsigned int i = 0; i < 6; i++) {
		assert_int_equal(f->answers[i].code, IOPF_RESP_INVALID);
		assert_int_equal(f->answers[i].result, 0);
	}

	for (unsigned int i = 0; i < 40; i++)
		gid[i] = fx_trigger(f, 1, 100 + i, 1, 0x100000 + 0x1000 * i);
	assert_int_equal(fx_pull(f, g, 40, 5000), 40);
	assert_int_equal(
		iopf_group_respond_batch(g, 40, IOPF_RESP_SUCCESS, NULL), 40);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	for (unsigned int i = 0; i < 40; i++)
		assert_answered(f, gid[i], IOPF_RESP_SUCCESS);
	assert_int_equal(fx_qstats(f, 1).answers_success, 40);
	assert_int_equal(fx_mstats(f).bad_duplicate, 0);

	/* Without an answered callback the queue counts what was taken by
	 * code: INVALID from a batch is not counted SUCCESS. */
	fx_add_queue(f, &(struct fx_qcfg){.no_answered = true});
	for (unsigned int i = 0; i < 3; i++)
		gid[i] = fx_trigger(f, 2, 200 + i, 1, 0x1000 * (i + 1));
	assert_int_equal(fx_pull(f, g, 3, 5000), 3);
	assert_int_equal(
		iopf_group_respond_batch(g, 2, IOPF_RESP_INVALID, NULL), 2);
	assert_int_equal(
		iopf_group_respond_batch(g + 2, 1, IOPF_RESP_SUCCESS, NULL), 1);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	st = fx_qstats(f, 2);
	assert_int_equal(st.answers_invalid, 2);
	assert_int_equal(st.answers_success, 1);
}

/* A stale group (its device detached, its cookie given to a newer group)
 * and an expired one (past the queue's deadline) fail alone, as with
 * iopf_group_respond(): -ESTALE, -ETIMEDOUT; the others are answered. */
static void respond_batch_stale_expired(void **state)
{
	struct fx *f = *state;
	struct iopf_group *old, *young, *late, *arr[3];
	uint64_t gold, gyoung, glate;
	uint32_t dev;
	int rcs[3];

	fx_init_default(f);
	fx_add_queue(f, &(struct fx_qcfg){.deadline_ns = 50 * MS});
	dev = f->qs[0].dev;
	gold = fx_trigger(f, 0, 1, 1, 0x1000);
	assert_int_equal(fx_pull(f, &old, 1, 5000), 1);
	fx_detach(f, dev);
	fx_attach(f, dev, f->qs[0].hwpt);
	gyoung = fx_trigger(f, 0, 2, 1, 0x2000);
	assert_int_equal(fx_pull(f, &young, 1, 5000), 1);
	assert_int_equal(iopf_group_cookie(young), iopf_group_cookie(old));
	glate = fx_trigger(f, 1, 3, 1, 0x3000);
	assert_int_equal(fx_pull(f, &late, 1, 5000), 1);
	usleep(120 * 1000);
	/* The engine answers the late group INVALID itself. */
	assert_int_equal(iopf_engine_flush(f->e), 0);
	assert_int_equal(iopf_engine_process(f->e), 0);
	assert_answered(f, glate, IOPF_RESP_INVALID);

	arr[0] = old;
	arr[1] = late;
	arr[2] = young;
	assert_int_equal(
		iopf_group_respond_batch(arr, 3, IOPF_RESP_SUCCESS, rcs), 1);
	assert_int_equal(rcs[0], -ESTALE);
	assert_int_equal(rcs[1], -ETIMEDOUT);
	assert_int_equal(rcs[2], 0);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	assert_answered(f, gyoung, IOPF_RESP_SUCCESS);
	assert_int_equal(ginfo(f, gold).answers, 0);
	assert_answered(f, glate, IOPF_RESP_INVALID);
}

/* The kernel answers a detached device's groups itself and gives their
 * cookies to the next groups it delivers. An answer to the old group must
 * never reach the newer one: given after the newer group was read it gets
 * -ESTALE at once and nothing is written; the newer group's own answer is
 * the one the kernel (the mock) takes, once. */
static void stale_cookie_reused(void **state)
{
	struct fx *f = *state;
	struct iopf_group *old, *young, *g[2];
	struct iopf_mock_group_info gi;
	struct iopf_mock_stats ms;
	uint64_t gold, gyoung, tag_old, tag_young, end;
	unsigned int dups = 0, stale = 1;
	uint32_t dev;
	struct iopf_stats st;

	fx_init_default(f);
	dev = f->qs[0].dev;
	gold = fx_trigger(f, 0, 1, 1, 0x1000);
	assert_int_equal(fx_pull(f, &old, 1, 5000), 1);
	tag_old = iopf_group_tag(old);
	fx_detach(f, dev);
	assert_int_equal(ginfo(f, gold).state, IOPF_MOCK_GROUP_AUTO_DETACH);
	fx_attach(f, dev, f->qs[0].hwpt);
	gyoung = fx_trigger(f, 0, 2, 1, 0x2000);
	assert_int_equal(fx_pull(f, &young, 1, 5000), 1);
	tag_young = iopf_group_tag(young);
	/* The mock, as the kernel, gives the lowest free cookie: the same. */
	assert_int_equal(iopf_group_cookie(young), iopf_group_cookie(old));
	assert_int_equal(ginfo(f, gyoung).cookie, iopf_group_cookie(old));

	assert_int_equal(iopf_group_respond(old, IOPF_RESP_INVALID), -ESTALE);
	/* The slot went back with the -ESTALE: a second answer finds it free.
	 */
	assert_int_equal(iopf_group_respond(old, IOPF_RESP_INVALID), -EALREADY);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	/* Nothing was written for it: the newer group is still waiting. */
	assert_int_equal(fx_mstats(f).writes, 0);
	assert_int_equal(ginfo(f, gyoung).state, IOPF_MOCK_GROUP_DELIVERED);
	assert_int_equal(ginfo(f, gyoung).answers, 0);

	assert_int_equal(iopf_group_respond(young, IOPF_RESP_SUCCESS), 0);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	assert_answered(f, gyoung, IOPF_RESP_SUCCESS);
	gi = ginfo(f, gold);
	assert_int_equal(gi.state, IOPF_MOCK_GROUP_AUTO_DETACH);
	assert_int_equal(gi.answers, 0);
	ms = fx_mstats(f);
	assert_int_equal(ms.bad_duplicate, 0);
	assert_int_equal(ms.bad_unknown, 0);
	assert_int_equal(ms.answered_success, 1);
	assert_int_equal(ms.answered_invalid, 0);
	assert_int_equal(ms.auto_detach, 1);
	assert_int_equal(ms.outstanding, 0);
	/* Counted stale; reported only for the answer that was written. */
	st = fx_qstats(f, 0);
	assert_int_equal(st.answers_stale, 1);
	assert_int_equal(st.answers_success, 1);
	assert_int_equal(st.answers_invalid, 0);
	assert_int_equal(st.answers_failed, 0);
	assert_int_equal(f->nanswers, 1);
	assert_null(fx_answer_for(f, tag_old));
	assert_non_null(fx_answer_for(f, tag_young));
	assert_int_equal(fx_answer_for(f, tag_young)->result, 0);

	/* A group read and not taken yet when its cookie goes to a newer
	 * group. An engine that reads ahead learns that before handing it out
	 * and drops it; one that does not read the queue while a group of it
	 * waits hands it out first, and its answer is refused. Never is it
	 * handed out after the newer group, nor does its answer reach that. */
	gold = fx_trigger(f, 0, 3, 1, 0x3000);
	assert_int_equal(iopf_engine_wait(f->e, 5000), 1);
	fx_detach(f, dev);
	fx_attach(f, dev, f->qs[0].hwpt);
	gyoung = fx_trigger(f, 0, 4, 1, 0x4000);
	young = old = NULL;
	end = fx_now_ms() + 5000;
	while (!young && fx_now_ms() < end) {
		int rc = iopf_engine_wait(f->e, 100);

		assert_true(rc >= 0);
		while ((rc = iopf_engine_pull(f->e, g, 1)) == 1) {
			if (iopf_group_fault(g[0], 0)->grpid == 4) {
				young = g[0];
				continue;
			}
			assert_int_equal(iopf_group_fault(g[0], 0)->grpid, 3);
			if (young)
				fail_msg("a stale group was handed out after "
					 "the group that took its cookie");
			old = g[0];
			tag_old = iopf_group_tag(old);
			assert_int_equal(
				iopf_group_respond(old, IOPF_RESP_INVALID), 0);
		}
		assert_true(rc >= 0);
	}
	assert_non_null(young);
	assert_int_equal(ginfo(f, gyoung).cookie, ginfo(f, gold).cookie);
	assert_int_equal(iopf_engine_pull(f->e, g + 1, 1), 0);
	assert_int_equal(iopf_group_respond(young, IOPF_RESP_INVALID), 0);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	assert_answered(f, gyoung, IOPF_RESP_INVALID);
	if (old) {
		/* Written before the newer group was read: refused. */
		assert_non_null(fx_answer_for(f, tag_old));
		assert_int_equal(fx_answer_for(f, tag_old)->result, -EINVAL);
		assert_int_equal(ginfo(f, gold).answers, 1);
		dups++;
		stale++;
	} else {
		assert_int_equal(ginfo(f, gold).answers, 0);
	}
	assert_int_equal(fx_mstats(f).bad_duplicate, dups);

	/* Answered before the newer group was read: written first, refused
	 * by the kernel (or dropped before the write: -ESTALE); either way
	 * the newer group's answer is taken, once. */
	gold = fx_trigger(f, 0, 5, 1, 0x5000);
	assert_int_equal(fx_pull(f, &old, 1, 5000), 1);
	tag_old = iopf_group_tag(old);
	fx_detach(f, dev);
	fx_attach(f, dev, f->qs[0].hwpt);
	assert_int_equal(iopf_group_respond(old, IOPF_RESP_SUCCESS), 0);
	gyoung = fx_trigger(f, 0, 6, 1, 0x6000);
	assert_int_equal(fx_pull(f, &young, 1, 5000), 1);
	assert_int_equal(iopf_group_fault(young, 0)->grpid, 6);
	assert_int_equal(iopf_group_respond(young, IOPF_RESP_SUCCESS), 0);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	assert_answered(f, gyoung, IOPF_RESP_SUCCESS);
	assert_non_null(fx_answer_for(f, tag_old));
	if (fx_answer_for(f, tag_old)->result == -EINVAL) {
		assert_int_equal(ginfo(f, gold).answers, 1);
		dups++;
	} else {
		assert_int_equal(fx_answer_for(f, tag_old)->result, -ESTALE);
		assert_int_equal(ginfo(f, gold).answers, 0);
	}
	stale++;
	f->expect_bad_duplicate = dups;
	assert_int_equal(fx_mstats(f).bad_duplicate, dups);
	assert_int_equal(fx_mstats(f).bad_unknown, 0);
	st = fx_qstats(f, 0);
	assert_int_equal(st.answers_stale, stale);
	assert_int_equal(st.answers_success, 2);
	assert_int_equal(st.answers_invalid, 1);
}

/* ---- waiting ------------------------------------------------------------ */

static void wait_timeout(void **state)
{
	struct fx *f = *state;
	struct iopf_group *g;
	uint64_t t, cpu, r0, mr0;

	fx_init_default(f);
	assert_int_equal(iopf_engine_process(f->e), 0);
	assert_int_equal(iopf_engine_wait(f->e, 0), 0);
	r0 = fx_qstats(f, 0).reads;
	mr0 = fx_mstats(f).reads;
	t = fx_now_ms();
	cpu = fx_cpu_ms();
	assert_int_equal(iopf_engine_wait(f->e, 250), 0);
	assert_true(fx_now_ms() - t >= 245);
	assert_true(fx_now_ms() - t < 2000);
	if (fx_cpu_ms() - cpu > 50)
		fail_msg("wait burnt %llu ms of CPU in 250 ms",
			 (unsigned long long)(fx_cpu_ms() - cpu));
	/* It slept: no read while nothing was there. */
	assert_true(fx_qstats(f, 0).reads - r0 <= 1);
	assert_true(fx_mstats(f).reads - mr0 <= 1);

	/* Neither waits (timeout 0). The bound only catches a wait that is
	 * not there to be; a loaded host may stall the thread for a while,
	 * hence its margin: this is no speed test. */
	t = fx_now_ms();
	assert_int_equal(iopf_engine_pull(f->e, &g, 1), 0);
	assert_int_equal(iopf_engine_dispatch(f->e, 0), 0);
	assert_true(fx_now_ms() - t < 2000);
}

struct trigger_later {
	struct fx *f;
	unsigned int delay_ms;
	uint64_t gid;
};

static void *trigger_thread(void *arg)
{
	struct trigger_later *tl = arg;
	struct iopf_mock_fault rec = {.perm = IOPF_PERM_WRITE, .addr = 0x5000};

	usleep(tl->delay_ms * 1000);
	if (iopf_mock_trigger(tl->f->m, tl->f->qs[0].dev, 5, &rec, 1, &tl->gid))
		tl->gid = 0;
	return NULL;
}

/* A blocking wait wakes for a fault raised meanwhile. */
static void wait_wakes(void **state)
{
	struct fx *f = *state;
	struct trigger_later tl = {.f = f, .delay_ms = 100};
	struct iopf_group *g;
	pthread_t th;
	uint64_t t;
	int rc;

	/* valgrind (3.19) runs io_uring_enter() holding its big lock, so no
	 * other thread runs while the engine's thread waits in it: the fault
	 * would be raised only once the wait timed out (liburing issue #657).
	 */
	if (f->kind == IOPF_ENGINE_URING && RUNNING_ON_VALGRIND) {
		print_message("skipped under valgrind: io_uring_enter() blocks "
			      "every other thread there\n");
		skip();
	}
	fx_init_default(f);
	assert_int_equal(iopf_engine_process(f->e), 0);
	assert_int_equal(pthread_create(&th, NULL, trigger_thread, &tl), 0);
	t = fx_now_ms();
	rc = iopf_engine_wait(f->e, 5000);
	t = fx_now_ms() - t;
	pthread_join(th, NULL);
	if (rc != 1)
		fail_msg("wait: %d after %llu ms", rc, (unsigned long long)t);
	assert_true(t >= 90 && t < 2000);
	assert_int_not_equal(tl.gid, 0);
	assert_int_equal(iopf_engine_pull(f->e, &g, 1), 1);
	assert_int_equal(iopf_group_fault(g, 0)->perm, IOPF_PERM_WRITE);
	assert_int_equal(iopf_group_respond(g, IOPF_RESP_SUCCESS), 0);
	assert_int_equal(fx_flush_until(f, 1, 5000), 1);
	assert_answered(f, tl.gid, IOPF_RESP_SUCCESS);
}

struct waker {
	struct fx *f;
	unsigned int delay_ms;
	int rc;
	atomic_bool returned; /* the waiting call came back */
	bool rescued; /* it did not: a fault was raised to end it */
};

/* iopf_engine_wake() after delay_ms. If the wait does not end within 3 s,
 * a fault ends it, so that a missing wake-up fails the test, not hangs it. */
static void *waker_thread(void *arg)
{
	struct waker *w = arg;
	struct iopf_mock_fault rec = {.perm = IOPF_PERM_READ, .addr = 0x9000};

	usleep(w->delay_ms * 1000);
	w->rc = iopf_engine_wake(w->f->e);
	for (int i = 0; i < 300 && !atomic_load(&w->returned); i++)
		usleep(10 * 1000);
	if (!atomic_load(&w->returned)) {
		w->rescued = true;
		iopf_mock_trigger(w->f->m, w->f->qs[0].dev, 9, &rec, 1, NULL);
	}
	return NULL;
}

/* Runs call (wait or dispatch, both -1) while another thread wakes the
 * engine after 100 ms; returns what the call returned. */
static int woken_call(struct fx *f, bool dispatch)
{
	struct waker w = {.f = f, .delay_ms = 100, .rc = 1};
	pthread_t th;
	uint64_t t;
	int rc;

	atomic_init(&w.returned, false);
	assert_int_equal(pthread_create(&th, NULL, waker_thread, &w), 0);
	t = fx_now_ms();
	rc = dispatch ? iopf_engine_dispatch(f->e, -1)
		      : iopf_engine_wait(f->e, -1);
	t = fx_now_ms() - t;
	atomic_store(&w.returned, true);
	pthread_join(th, NULL);
	if (w.rescued)
		fail_msg("%s(-1) was not ended by iopf_engine_wake()",
			 dispatch ? "dispatch" : "wait");
	assert_int_equal(w.rc, 0);
	if (t < 90 || t >= 2000)
		fail_msg("%s(-1) returned after %llu ms",
			 dispatch ? "dispatch" : "wait", (unsigned long long)t);
	return rc;
}

/* iopf_engine_wake() from another thread ends a wait or a dispatch with no
 * time limit, on an empty queue: it returns 0, promptly. A wake-up given
 * while no call sleeps is kept for the next one. */
static void wake_ends_wait(void **state)
{
	struct fx *f = *state;
	struct iopf_group *g;
	uint64_t t, gid;

	assert_int_equal(iopf_engine_wake(NULL), -EINVAL);
	fx_init(f, NULL);
	fx_add_queue(f, &(struct fx_qcfg){.handler = handler_answer});
	assert_int_equal(iopf_engine_process(f->e), 0);

	/* Given before the call: the call makes its pass and returns.
	 * (Long timeouts stand for -1 here: a lost wake-up must fail the
	 * test, not hang it.) */
	assert_int_equal(iopf_engine_wake(f->e), 0);
	assert_int_equal(iopf_engine_wake(f->e), 0);
	t = fx_now_ms();
	assert_int_equal(iopf_engine_wait(f->e, 3000), 0);
	assert_true(fx_now_ms() - t < 1000);
	/* Taken by that call, however many wake-ups came: the next one
	 * sleeps until its timeout. */
	t = fx_now_ms();
	assert_int_equal(iopf_engine_wait(f->e, 100), 0);
	assert_true(fx_now_ms() - t >= 95);
	assert_int_equal(iopf_engine_wake(f->e), 0);
	t = fx_now_ms();
	assert_int_equal(iopf_engine_dispatch(f->e, 3000), 0);
	assert_true(fx_now_ms() - t < 1000);

	/* The engine still works after them. */
	gid = fx_trigger(f, 0, 1, 1, 0x1000);
	assert_int_equal(fx_pull(f, &g, 1, 5000), 1);
	assert_int_equal(iopf_group_respond(g, IOPF_RESP_SUCCESS), 0);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	assert_answered(f, gid, IOPF_RESP_SUCCESS);

	/* valgrind runs io_uring_enter() holding its big lock: no other
	 * thread runs while the engine sleeps in it (see wait_wakes). */
	if (f->kind == IOPF_ENGINE_URING && RUNNING_ON_VALGRIND) {
		print_message(
			"cross-thread part skipped under valgrind: "
			"io_uring_enter() blocks every other thread there\n");
		return;
	}
	assert_int_equal(woken_call(f, false), 0);
	assert_int_equal(woken_call(f, true), 0);
	/* Nothing was left pending by them. */
	t = fx_now_ms();
	assert_int_equal(iopf_engine_wait(f->e, 100), 0);
	assert_true(fx_now_ms() - t >= 95);
}

static void pull_and_process(void **state)
{
	struct fx *f = *state;
	struct iopf_group *g[8];
	uint64_t end;
	int rc = 0;

	fx_init_default(f);
	for (unsigned int i = 0; i < 5; i++)
		fx_trigger(f, 0, i, 1, 0x1000 * (i + 1));
	/* process() reads and says how many groups are ready. */
	end = fx_now_ms() + 5000;
	while (fx_now_ms() < end && (rc = iopf_engine_process(f->e)) < 5) {
		assert_true(rc >= 0);
		usleep(1000);
	}
	assert_int_equal(rc, 5);
	assert_int_equal(iopf_engine_wait(f->e, 0), 5);
	assert_int_equal(iopf_engine_pull(f->e, g, 3), 3);
	assert_int_equal(iopf_engine_process(f->e), 2);
	assert_int_equal(iopf_engine_pull(f->e, g + 3, 8), 2);
	assert_int_equal(iopf_engine_pull(f->e, g + 5, 8), 0);
	assert_int_equal(iopf_engine_process(f->e), 0);
	for (unsigned int i = 0; i < 5; i++) {
		assert_int_equal(iopf_group_fault(g[i], 0)->grpid, i);
		if (i)
			assert_true(iopf_group_tag(g[i]) >
				    iopf_group_tag(g[i - 1]));
	}
	respond_all(g, 5, IOPF_RESP_SUCCESS);
	assert_int_equal(fx_flush_until(f, 5, 5000), 5);
}

/* ---- dispatch ----------------------------------------------------------- */

struct handled {
	unsigned int calls;
	unsigned int fail_at; /* return an error from this call (1-based) */
	struct iopf_queue *q;
};

static int handler(struct iopf_group *g, void *user)
{
	struct fx *f = user;
	struct handled *h = f->priv;

	h->calls++;
	h->q = iopf_group_queue(g);
	if (iopf_group_respond(g, IOPF_RESP_SUCCESS))
		return -EPROTO;
	return h->calls == h->fail_at ? -ECANCELED : 0;
}

static void dispatch_handler(void **state)
{
	struct fx *f = *state;
	struct handled h = {0};
	uint64_t end;
	int n = 0;

	f->priv = &h;
	fx_init(f, NULL);
	fx_add_queue(f, &(struct fx_qcfg){.handler = handler});
	for (unsigned int i = 0; i < 4; i++)
		fx_trigger(f, 0, i, 2, 0x1000 * (i + 1));
	end = fx_now_ms() + 5000;
	while (n < 4 && fx_now_ms() < end) {
		int rc = iopf_engine_dispatch(f->e, 1000);

		assert_true(rc >= 0);
		n += rc;
	}
	assert_int_equal(n, 4);
	assert_int_equal(h.calls, 4);
	assert_ptr_equal(h.q, f->qs[0].q);
	assert_int_equal(fx_flush_until(f, 4, 5000), 4);
	/* Nothing more: a dispatch that times out says 0. */
	assert_int_equal(iopf_engine_dispatch(f->e, 50), 0);
}

/* A handler's error stops the dispatch; the next one goes on from there. */
static void dispatch_handler_error(void **state)
{
	struct fx *f = *state;
	struct handled h = {.fail_at = 2};
	uint64_t end;
	int rc = 0;

	f->priv = &h;
	fx_init(f, NULL);
	fx_add_queue(f, &(struct fx_qcfg){.handler = handler});
	for (unsigned int i = 0; i < 4; i++)
		fx_trigger(f, 0, i, 1, 0x1000 * (i + 1));
	end = fx_now_ms() + 5000;
	while (fx_now_ms() < end && (rc = iopf_engine_process(f->e)) < 4)
		usleep(1000);
	assert_int_equal(rc, 4);
	assert_int_equal(iopf_engine_dispatch(f->e, 0), -ECANCELED);
	assert_int_equal(h.calls, 2);
	assert_int_equal(iopf_engine_dispatch(f->e, 0), 2);
	assert_int_equal(h.calls, 4);
	assert_int_equal(fx_flush_until(f, 4, 5000), 4);
}

/* The answers the handlers gave are written before dispatch() returns: a
 * caller that sleeps next in its own loop leaves no device waiting. */
static void dispatch_writes_answers(void **state)
{
	struct fx *f = *state;
	uint64_t gid[3];
	int rc;

	fx_init(f, NULL);
	fx_add_queue(f, &(struct fx_qcfg){.handler = handler_answer});
	assert_int_equal(iopf_engine_process(f->e), 0);
	gid[0] = fx_trigger(f, 0, 1, 2, 0x1000);
	rc = iopf_engine_dispatch(f->e, 5000);
	assert_int_equal(rc, 1);
	/* No library call since: the mock has the answer. */
	assert_answered(f, gid[0], IOPF_RESP_SUCCESS);
	assert_int_equal(fx_mstats(f).writes, 1);
	assert_int_equal(f->nanswers, 1);
	assert_int_equal(f->answers[0].result, 0);

	/* Several groups in one call: one write, before it returns. */
	gid[1] = fx_trigger(f, 0, 2, 1, 0x2000);
	gid[2] = fx_trigger(f, 0, 3, 3, 0x3000);
	assert_int_equal(iopf_engine_process(f->e), 2);
	assert_int_equal(iopf_engine_dispatch(f->e, 0), 2);
	assert_answered(f, gid[1], IOPF_RESP_SUCCESS);
	assert_answered(f, gid[2], IOPF_RESP_SUCCESS);
	assert_int_equal(fx_mstats(f).writes, 2);
	assert_int_equal(fx_mstats(f).outstanding, 0);
}

/* dispatch() needs a handler on every queue it meets. */
static void dispatch_no_handler(void **state)
{
	struct fx *f = *state;
	struct iopf_group *g;
	uint64_t gid, end;
	int rc = 0;

	fx_init_default(f);
	gid = fx_trigger(f, 0, 1, 1, 0x1000);
	end = fx_now_ms() + 5000;
	while (fx_now_ms() < end && (rc = iopf_engine_process(f->e)) < 1)
		usleep(1000);
	assert_int_equal(rc, 1);
	assert_int_equal(iopf_engine_dispatch(f->e, 0), -EINVAL);
	assert_int_equal(iopf_engine_dispatch(f->e, 100), -EINVAL);
	/* The group is not lost. */
	assert_int_equal(iopf_engine_pull(f->e, &g, 1), 1);
	assert_int_equal(iopf_group_respond(g, IOPF_RESP_SUCCESS), 0);
	assert_int_equal(fx_flush_until(f, 1, 5000), 1);
	assert_answered(f, gid, IOPF_RESP_SUCCESS);
}

/* ---- the engine's fd in the caller's event loop ------------------------- */

static int epoll_on(int fd)
{
	struct epoll_event ev = {.events = EPOLLIN};
	int ep = epoll_create1(EPOLL_CLOEXEC);

	assert_true(ep >= 0);
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);
	return ep;
}

/* epoll_wait() as a caller's loop does it: EINTR is not an answer. It does
 * happen here: io_uring delivers a completion raised by another thread (the
 * wake-up eventfd's poll) as task work, which interrupts the engine thread's
 * epoll_wait() (TIF_NOTIFY_SIGNAL) before the CQE is posted. */
static int epoll_wait_retry(int ep, struct epoll_event *ev, int timeout_ms)
{
	int n;

	do
		n = epoll_wait(ep, ev, 1, timeout_ms);
	while (n < 0 && errno == EINTR);
	return n;
}

/* Sleeps in the caller's epoll on the engine fd until process() has groups;
 * at most `rounds` wake-ups. Returns the groups ready. */
static int epoll_then_process(struct fx *f, int ep, unsigned int rounds)
{
	struct epoll_event ev;
	int rc = 0;

	for (unsigned int i = 0; i < rounds && rc == 0; i++) {
		if (epoll_wait_retry(ep, &ev, 5000) != 1)
			fail_msg("the engine fd did not become readable (round "
				 "%u)",
				 i);
		rc = iopf_engine_process(f->e);
		assert_true(rc >= 0);
	}
	return rc;
}

static void engine_fd_readable(void **state)
{
	struct fx *f = *state;
	struct epoll_event ev;
	struct iopf_group *g;
	uint64_t gid;
	int ep;

	fx_init_default(f);
	assert_int_equal(iopf_engine_process(f->e), 0);
	ep = epoll_on(iopf_engine_fd(f->e));
	/* Nothing there: not readable (a caller's loop must not spin). */
	assert_int_equal(epoll_wait_retry(ep, &ev, 0), 0);

	gid = fx_trigger(f, 0, 1, 3, 0x1000);
	/* One wake-up, one process: the group is there. */
	assert_int_equal(epoll_then_process(f, ep, 1), 1);
	assert_int_equal(iopf_engine_pull(f->e, &g, 1), 1);
	assert_int_equal(iopf_group_count(g), 3);
	assert_int_equal(iopf_group_respond(g, IOPF_RESP_SUCCESS), 0);
	assert_int_equal(iopf_engine_process(f->e), 0);
	assert_answered(f, gid, IOPF_RESP_SUCCESS);

	/* And quiet again. */
	assert_int_equal(epoll_wait_retry(ep, &ev, 0), 0);
	gid = fx_trigger(f, 0, 2, 1, 0x2000);
	assert_int_equal(epoll_then_process(f, ep, 1), 1);
	assert_int_equal(iopf_engine_pull(f->e, &g, 1), 1);
	assert_int_equal(iopf_group_respond(g, IOPF_RESP_INVALID), 0);
	assert_int_equal(iopf_engine_process(f->e), 0);
	assert_answered(f, gid, IOPF_RESP_INVALID);
	close(ep);
}

/* A caller that sleeps in its own epoll on the engine fd and, when it wakes,
 * drains the engine with dispatch until it returns 0 (iopf_engine_fd(3)):
 * every group gets handled, also one the engine reads while it writes a
 * dispatch's answers (one record a read: the second group is still in the
 * kernel when the first is answered). */
/* The caller's loop: sleep on the engine fd, then dispatch until it returns
 * 0; until `want` groups were handled. Returns how many. */
static int sleep_and_drain(int ep, struct fx *f, int want)
{
	struct epoll_event ev;
	int handled = 0, rc;

	while (handled < want) {
		if (epoll_wait_retry(ep, &ev, 2000) != 1)
			fail_msg("the engine fd stayed quiet with %d of %d "
				 "groups handled",
				 handled, want);
		while ((rc = iopf_engine_dispatch(f->e, 0)) > 0)
			handled += rc;
		assert_int_equal(rc, 0);
	}
	return handled;
}

static void engine_fd_dispatch_loop(void **state)
{
	struct fx *f = *state;
	struct epoll_event ev;
	uint64_t gid[3];
	int ep, handled = 0;

	fx_init(f, NULL);
	fx_add_queue(f,
		     &(struct fx_qcfg){.batch = 1, .handler = handler_answer});
	assert_int_equal(iopf_engine_process(f->e), 0);
	ep = epoll_on(iopf_engine_fd(f->e));
	/* Two at once, then, once the loop drained them and sleeps again, a
	 * third: the fd must wake it for that one too. */
	gid[0] = fx_trigger(f, 0, 0, 1, 0x1000);
	gid[1] = fx_trigger(f, 0, 1, 1, 0x2000);
	handled += sleep_and_drain(ep, f, 2 - handled);
	assert_int_equal(epoll_wait_retry(ep, &ev, 0), 0);
	gid[2] = fx_trigger(f, 0, 2, 1, 0x3000);
	handled += sleep_and_drain(ep, f, 3 - handled);
	assert_int_equal(handled, 3);
	assert_int_equal(epoll_wait_retry(ep, &ev, 0), 0);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	for (unsigned int i = 0; i < 3; i++)
		assert_answered(f, gid[i], IOPF_RESP_SUCCESS);
	close(ep);
}

/* A caller whose loop runs one dispatch a wake-up, not until it returns 0:
 * the engine fd must still wake it for what is left in the kernel. (The
 * io_uring engine then keeps a READ armed, and leaves a lone queue's plain
 * read(2) and write(2) (the solo path) to callers of its own waits.) */
static void dispatch_once_per_wake(struct fx *f, unsigned int nq)
{
	struct epoll_event ev;
	uint64_t gid[3];
	int ep, handled = 0, wakes = 0;

	fx_init(f, NULL);
	for (unsigned int i = 0; i < nq; i++)
		fx_add_queue(f, &(struct fx_qcfg){.batch = 1,
						  .handler = handler_answer});
	assert_int_equal(iopf_engine_process(f->e), 0);
	ep = epoll_on(iopf_engine_fd(f->e));
	for (unsigned int i = 0; i < 3; i++)
		gid[i] = fx_trigger(f, 0, i, 1, 0x1000 * (i + 1));
	while (handled < 3) {
		int rc;

		if (epoll_wait_retry(ep, &ev, 2000) != 1)
			fail_msg("the engine fd stayed quiet with %d of 3 "
				 "groups handled",
				 handled);
		rc = iopf_engine_dispatch(f->e, 0);
		assert_true(rc >= 0);
		handled += rc;
		assert_true(++wakes < 100);
	}
	assert_int_equal(iopf_engine_flush(f->e), 0);
	for (unsigned int i = 0; i < 3; i++)
		assert_answered(f, gid[i], IOPF_RESP_SUCCESS);
	close(ep);
}

static void engine_fd_dispatch_once_per_wake(void **state)
{
	dispatch_once_per_wake(*state, 1);
}

static void engine_fd_dispatch_once_per_wake_2q(void **state)
{
	dispatch_once_per_wake(*state, 2);
}

/* The same with pull, one group a wake-up, answered later: the groups a read
 * gave beyond the first are in the engine, not in the kernel, and the engine
 * fd must say so. */
static void engine_fd_pull_one_per_wake(void **state)
{
	struct fx *f = *state;
	struct epoll_event ev;
	struct iopf_group *g[3];
	uint64_t gid[3];
	int ep, got = 0, wakes = 0;

	fx_init_default(f);
	assert_int_equal(iopf_engine_process(f->e), 0);
	ep = epoll_on(iopf_engine_fd(f->e));
	for (unsigned int i = 0; i < 3; i++)
		gid[i] = fx_trigger(f, 0, i, 1, 0x1000 * (i + 1));
	while (got < 3) {
		int rc;

		if (epoll_wait_retry(ep, &ev, 2000) != 1)
			fail_msg("the engine fd stayed quiet with %d of 3 "
				 "groups pulled",
				 got);
		/* Answered only at the end: an answer would wake the fd by
		 * itself. */
		rc = iopf_engine_pull(f->e, &g[got], 1);
		assert_true(rc >= 0);
		got += rc;
		assert_true(++wakes < 100);
	}
	for (unsigned int i = 0; i < 3; i++)
		assert_int_equal(iopf_group_respond(g[i], IOPF_RESP_SUCCESS),
				 0);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	for (unsigned int i = 0; i < 3; i++)
		assert_answered(f, gid[i], IOPF_RESP_SUCCESS);
	close(ep);
}

struct answer_later {
	struct iopf_group *g;
	int rc;
};

static void *answer_thread(void *arg)
{
	struct answer_later *al = arg;

	usleep(50 * 1000);
	al->rc = iopf_group_respond(al->g, IOPF_RESP_SUCCESS);
	return NULL;
}

/* An answer from another thread while the engine's thread sleeps in its own
 * epoll on the engine fd: the fd wakes it, and its process() writes it. */
static void engine_fd_cross_thread_answer(void **state)
{
	struct fx *f = *state;
	struct answer_later al = {.rc = -1};
	struct epoll_event ev;
	pthread_t th;
	uint64_t gid;
	int ep;

	fx_init_default(f);
	gid = fx_trigger(f, 0, 1, 1, 0x1000);
	assert_int_equal(fx_pull(f, &al.g, 1, 5000), 1);
	assert_int_equal(iopf_engine_process(f->e), 0);
	ep = epoll_on(iopf_engine_fd(f->e));
	assert_int_equal(epoll_wait_retry(ep, &ev, 0), 0);

	assert_int_equal(pthread_create(&th, NULL, answer_thread, &al), 0);
	assert_int_equal(epoll_wait_retry(ep, &ev, 5000), 1);
	pthread_join(th, NULL);
	assert_int_equal(al.rc, 0);
	assert_int_equal(ginfo(f, gid).state, IOPF_MOCK_GROUP_DELIVERED);
	assert_int_equal(iopf_engine_process(f->e), 0);
	assert_answered(f, gid, IOPF_RESP_SUCCESS);
	assert_int_equal(fx_mstats(f).writes, 1);
	/* Drained: the fd is quiet again. */
	assert_int_equal(iopf_engine_process(f->e), 0);
	assert_int_equal(epoll_wait_retry(ep, &ev, 0), 0);
	close(ep);
}

/* A deadline, with the caller asleep in its own epoll on the engine fd: the
 * fd becomes readable when the deadline passes, and process() writes the
 * INVALID answer. */
static void engine_fd_deadline(void **state)
{
	struct fx *f = *state;
	const struct fx_answer *a;
	struct epoll_event ev;
	struct iopf_group *g;
	uint64_t gid, t0, t, tag;
	unsigned int rounds = 0;
	int ep;

	fx_init(f, NULL);
	fx_add_queue(f, &(struct fx_qcfg){.deadline_ns = 50 * MS});
	assert_int_equal(iopf_engine_process(f->e), 0);
	t0 = fx_now_ms();
	gid = fx_trigger(f, 0, 1, 1, 0x1000);
	assert_int_equal(fx_pull(f, &g, 1, 5000), 1);
	tag = iopf_group_tag(g);
	ep = epoll_on(iopf_engine_fd(f->e));
	assert_int_equal(iopf_engine_process(f->e), 0);

	/* The caller's loop: sleep on the fd, run the engine when it wakes. */
	while (ginfo(f, gid).state != IOPF_MOCK_GROUP_ANSWERED) {
		if (++rounds > 5)
			fail_msg("the engine fd woke %u times before the "
				 "deadline "
				 "answer",
				 rounds - 1);
		if (epoll_wait_retry(ep, &ev, 5000) != 1)
			fail_msg("the engine fd did not become readable at the "
				 "deadline (%llu ms after the fault)",
				 (unsigned long long)(fx_now_ms() - t0));
		assert_int_equal(iopf_engine_process(f->e), 0);
	}
	t = fx_now_ms() - t0;
	if (t < 48 || t >= 2000)
		fail_msg("deadline answer after %llu ms, want 50 ms",
			 (unsigned long long)t);
	assert_answered(f, gid, IOPF_RESP_INVALID);
	a = fx_answer_for(f, tag);
	assert_non_null(a);
	assert_int_equal(a->code, IOPF_RESP_INVALID);
	assert_int_equal(a->result, 0);
	assert_int_equal(fx_qstats(f, 0).answers_auto, 1);
	assert_int_equal(iopf_group_respond(g, IOPF_RESP_SUCCESS), -ETIMEDOUT);
	/* Nothing left to wake for. */
	assert_int_equal(iopf_engine_process(f->e), 0);
	assert_int_equal(epoll_wait_retry(ep, &ev, 100), 0);
	close(ep);
}

/* Once the caller polls the engine fd, an answer given on the engine's own
 * thread (between library calls, as a loop that answers when the guest's
 * answer arrives on another fd does) wakes that loop too. */
static void engine_fd_own_thread_answer(void **state)
{
	struct fx *f = *state;
	struct epoll_event ev;
	struct iopf_group *g[2];
	uint64_t gid[2];
	int ep;

	fx_init_default(f);
	gid[0] = fx_trigger(f, 0, 1, 1, 0x1000);
	gid[1] = fx_trigger(f, 0, 2, 2, 0x2000);
	assert_int_equal(fx_pull(f, g, 2, 5000), 2);
	ep = epoll_on(iopf_engine_fd(f->e));
	assert_int_equal(iopf_engine_process(f->e), 0);
	assert_int_equal(epoll_wait_retry(ep, &ev, 0), 0);

	for (unsigned int i = 0; i < 2; i++) {
		assert_int_equal(
			iopf_group_respond(g[i], i ? IOPF_RESP_INVALID
						   : IOPF_RESP_SUCCESS),
			0);
		if (epoll_wait_retry(ep, &ev, 2000) != 1)
			fail_msg(
				"an answer on the engine's thread did not make "
				"the engine fd readable");
		assert_int_equal(ginfo(f, gid[i]).state,
				 IOPF_MOCK_GROUP_DELIVERED);
		assert_int_equal(iopf_engine_process(f->e), 0);
		assert_answered(f, gid[i], i);
		assert_int_equal(epoll_wait_retry(ep, &ev, 0), 0);
	}
	assert_int_equal(fx_mstats(f).writes, 2);
	close(ep);
}

/* ---- many queues --------------------------------------------------------- */

static void sixteen_queues(void **state)
{
	struct fx *f = *state;
	struct iopf_group *g[64];
	unsigned int total = 0, per[16] = {0};

	fx_init(f, NULL);
	for (unsigned int i = 0; i < 16; i++)
		assert_int_equal(fx_add_queue(f, &(struct fx_qcfg){.batch = 8}),
				 i);
	for (unsigned int i = 0; i < 16; i++)
		for (unsigned int j = 0; j < 1 + i % 3; j++, total++)
			fx_trigger(f, i, i * 16 + j, 1 + j,
				   0x100000 * i + 0x1000 * j);
	assert_int_equal(fx_pull(f, g, total, 10000), total);
	for (unsigned int k = 0; k < total; k++) {
		const struct iopf_fault *ft = iopf_group_fault(g[k], 0);
		unsigned int qi = ft->grpid / 16, j = ft->grpid % 16;

		assert_true(qi < 16);
		assert_ptr_equal(iopf_group_queue(g[k]), f->qs[qi].q);
		assert_int_equal(ft->dev_id, f->qs[qi].dev);
		assert_int_equal(iopf_group_count(g[k]), 1 + j);
		per[qi]++;
	}
	for (unsigned int i = 0; i < 16; i++) {
		assert_int_equal(per[i], 1 + i % 3);
		assert_int_equal(fx_qstats(f, i).groups, 1 + i % 3);
	}
	respond_all(g, total, IOPF_RESP_SUCCESS);
	assert_int_equal(fx_flush_until(f, total, 5000), total);
	assert_int_equal(fx_mstats(f).answered_success, total);
}

/* ---- deadlines ---------------------------------------------------------- */

static void deadline(void **state)
{
	struct fx *f = *state;
	struct iopf_group *g[4];
	uint64_t gid[4], tags[4], t, cpu;
	struct iopf_stats st;

	fx_init(f, NULL);
	fx_add_queue(f, &(struct fx_qcfg){.deadline_ns = 50 * MS});
	for (unsigned int i = 0; i < 3; i++)
		gid[i] = fx_trigger(f, 0, i, 1, 0x1000 * (i + 1));
	/* Two held by the caller, one left on the ready list. */
	assert_int_equal(fx_pull(f, g, 2, 5000), 2);
	tags[0] = iopf_group_tag(g[0]);
	tags[1] = iopf_group_tag(g[1]);
	usleep(120 * 1000);
	iopf_engine_process(f->e);
	assert_int_equal(fx_flush_until(f, 3, 2000), 3);
	for (unsigned int i = 0; i < 3; i++)
		assert_answered(f, gid[i], IOPF_RESP_INVALID);
	/* The expired group on the ready list is not handed out. */
	assert_int_equal(iopf_engine_pull(f->e, g + 2, 1), 0);
	/* Late answers: told so, nothing written. */
	assert_int_equal(iopf_group_respond(g[0], IOPF_RESP_SUCCESS),
			 -ETIMEDOUT);
	assert_int_equal(iopf_group_respond(g[1], IOPF_RESP_INVALID),
			 -ETIMEDOUT);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	st = fx_qstats(f, 0);
	assert_int_equal(st.answers_auto, 3);
	assert_int_equal(st.answers_success, 0);
	assert_int_equal(st.answers_invalid, 0);
	assert_int_equal(fx_mstats(f).answered_invalid, 3);
	/* The library's own answers are reported too, with the group's tag:
	 * a VMM that forwarded a group must learn that it was answered. */
	assert_int_equal(f->nanswers, 3);
	for (unsigned int i = 0; i < 3; i++) {
		assert_int_equal(f->answers[i].code, IOPF_RESP_INVALID);
		assert_int_equal(f->answers[i].result, 0);
		assert_int_equal(f->answers[i].cookie, ginfo(f, gid[i]).cookie);
	}
	assert_non_null(fx_answer_for(f, tags[0]));
	assert_non_null(fx_answer_for(f, tags[1]));

	/* A caller that only waits: the wait wakes for the deadline and the
	 * answer goes out within it, without spinning. */
	gid[3] = fx_trigger(f, 0, 3, 1, 0x4000);
	assert_int_equal(fx_pull(f, g + 3, 1, 5000), 1);
	t = fx_now_ms();
	cpu = fx_cpu_ms();
	assert_int_equal(iopf_engine_wait(f->e, 300), 0);
	assert_true(fx_now_ms() - t >= 295);
	assert_true(fx_cpu_ms() - cpu < 60);
	assert_answered(f, gid[3], IOPF_RESP_INVALID);
	assert_int_equal(f->nanswers, 4);
	assert_int_equal(f->answers[3].tag, iopf_group_tag(g[3]));
	assert_int_equal(iopf_group_respond(g[3], IOPF_RESP_SUCCESS),
			 -ETIMEDOUT);
	assert_int_equal(fx_qstats(f, 0).answers_auto, 4);

	/* Answered in time: no deadline answer. */
	gid[0] = fx_trigger(f, 0, 4, 1, 0x5000);
	assert_int_equal(fx_pull(f, g, 1, 5000), 1);
	assert_int_equal(iopf_group_respond(g[0], IOPF_RESP_SUCCESS), 0);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	assert_int_equal(iopf_engine_wait(f->e, 100), 0);
	assert_answered(f, gid[0], IOPF_RESP_SUCCESS);
	assert_int_equal(fx_qstats(f, 0).answers_auto, 4);
}

/* ---- teardown ----------------------------------------------------------- */

/* Freeing a queue answers INVALID every group it read and nobody answered:
 * held by the caller, ready and not pulled (queue 0), half-assembled (queue
 * 1: an engine need not read a queue while groups of it wait to be taken,
 * so the half group is read on a queue with none waiting). */
static void teardown_answers(void **state)
{
	struct fx *f = *state;
	struct iopf_group *g[2];
	struct iopf_mock_stats ms;
	uint64_t gid[5], tags[2], end;

	fx_init(f, NULL);
	fx_add_queue(f, NULL);
	fx_add_queue(f, NULL);
	for (unsigned int i = 0; i < 4; i++)
		gid[i] = fx_trigger(f, 0, i, 1 + i, 0x10000 * (i + 1));
	assert_int_equal(fx_pull(f, g, 2, 5000), 2);
	tags[0] = iopf_group_tag(g[0]);
	tags[1] = iopf_group_tag(g[1]);
	assert_int_equal(fx_qstats(f, 0).groups, 4);
	assert_int_equal(fx_qstats(f, 0).faults, 10);

	/* Queue 1: two records of a five-record group. The reads after the
	 * split one find nothing (EAGAIN), so that the rest stays in the
	 * kernel whatever the engine's read-ahead: more of them than one
	 * process call makes (the mock's fd polls readable, so the io_uring
	 * engine's run reads again in each of its 16 rounds). */
	gid[4] = fx_trigger(f, 1, 4, 5, 0x100000);
	assert_int_equal(iopf_mock_inject_fd(f->m, f->qs[1].fault_id,
					     IOPF_MOCK_READ_SPLIT, 1, 2),
			 0);
	for (unsigned int n = 2; n <= 40; n++)
		assert_int_equal(iopf_mock_inject_fd(f->m, f->qs[1].fault_id,
						     IOPF_MOCK_READ_ERRNO, n,
						     EAGAIN),
				 0);
	end = fx_now_ms() + 5000;
	while (fx_now_ms() < end && fx_qstats(f, 1).faults < 2)
		assert_true(iopf_engine_process(f->e) >= 0);
	assert_int_equal(fx_qstats(f, 1).faults, 2);
	assert_int_equal(fx_qstats(f, 1).groups, 0);
	assert_int_equal(ginfo(f, gid[4]).state, IOPF_MOCK_GROUP_DELIVERED);
	assert_int_equal(fx_mstats(f).outstanding, 5);

	fx_free_queue(f, 0);
	ms = fx_mstats(f);
	assert_int_equal(ms.outstanding, 1);
	assert_int_equal(ms.auto_teardown, 0);
	assert_int_equal(ms.answered_invalid, 4);
	for (unsigned int i = 0; i < 4; i++)
		assert_answered(f, gid[i], IOPF_RESP_INVALID);
	/* And the caller is told, the held groups under their tags. */
	assert_int_equal(f->nanswers, 4);
	for (unsigned int i = 0; i < 4; i++) {
		assert_int_equal(f->answers[i].code, IOPF_RESP_INVALID);
		assert_int_equal(f->answers[i].result, 0);
	}
	assert_non_null(fx_answer_for(f, tags[0]));
	assert_non_null(fx_answer_for(f, tags[1]));

	fx_free_queue(f, 1);
	ms = fx_mstats(f);
	assert_int_equal(ms.outstanding, 0);
	assert_int_equal(ms.auto_teardown, 0);
	assert_int_equal(ms.answered_invalid, 5);
	assert_answered(f, gid[4], IOPF_RESP_INVALID);
	assert_int_equal(f->nanswers, 5);
	assert_int_equal(f->answers[4].code, IOPF_RESP_INVALID);
	assert_int_equal(f->answers[4].result, 0);
}

/* iopf_engine_free() frees the queues still attached, answering the same. */
static void engine_free_frees_queues(void **state)
{
	struct fx *f = *state;
	struct iopf_group *g[4];
	uint64_t gid[4];

	fx_init(f, NULL);
	fx_add_queue(f, NULL);
	fx_add_queue(f, NULL);
	for (unsigned int i = 0; i < 4; i++)
		gid[i] = fx_trigger(f, i & 1, i, 1, 0x1000 * (i + 1));
	assert_int_equal(fx_pull(f, g, 3, 5000), 3);
	iopf_engine_free(f->e);
	f->e = NULL;
	f->qs[0].q = f->qs[1].q = NULL;
	assert_int_equal(fx_mstats(f).outstanding, 0);
	/* Each queue read its groups in one go: all four were read. */
	assert_int_equal(fx_mstats(f).pending, 0);
	for (unsigned int i = 0; i < 4; i++)
		assert_answered(f, gid[i], IOPF_RESP_INVALID);
	assert_int_equal(f->nanswers, 4);
}

/* ---- counters ----------------------------------------------------------- */

static void counters(void **state)
{
	struct fx *f = *state;
	struct iopf_group *g[3];
	struct iopf_stats st0, st;

	fx_init_default(f);
	/* The first read of a new queue finds nothing. */
	assert_int_equal(iopf_engine_process(f->e), 0);
	st0 = fx_qstats(f, 0);
	assert_int_equal(st0.reads, 1);
	assert_int_equal(st0.empty_reads, 1);
	assert_int_equal(st0.faults, 0);

	for (unsigned int i = 0; i < 3; i++)
		fx_trigger(f, 0, i, 1 + i, 0x10000 * (i + 1));
	assert_int_equal(fx_pull(f, g, 3, 5000), 3);
	assert_int_equal(iopf_group_respond(g[0], IOPF_RESP_SUCCESS), 0);
	assert_int_equal(iopf_group_respond(g[1], IOPF_RESP_INVALID), 0);
	assert_int_equal(iopf_group_respond(g[2], IOPF_RESP_SUCCESS), 0);
	assert_int_equal(iopf_engine_flush(f->e), 0);

	st = fx_qstats(f, 0);
	assert_int_equal(st.faults, 6);
	assert_int_equal(st.groups, 3);
	assert_int_equal(st.answers_success, 2);
	assert_int_equal(st.answers_invalid, 1);
	assert_int_equal(st.answers_auto, 0);
	assert_int_equal(st.answers_stale, 0);
	assert_int_equal(st.answers_failed, 0);
	assert_int_equal(st.reads, 2); /* one read took all six records */
	assert_int_equal(st.empty_reads, 1);
	assert_int_equal(st.writes, 1);
	assert_int_equal(st.max_batch, 6);
	assert_int_equal(st.grows, 0);
	assert_int_equal(st.malformed, 0);
	assert_int_equal(fx_mstats(f).reads, st.reads);
	assert_int_equal(fx_mstats(f).writes, st.writes);
}

/* ---- answers from other threads ----------------------------------------- */

#define NWORKERS 4
#define NCONC	 400

struct workq {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct iopf_group *items[NCONC];
	unsigned int head, tail;
	bool stop;
	unsigned int done, failed;
	pthread_t th;
};

/* Addresses are 0x1000 * (i + 1): odd i says INVALID. */
static uint32_t conc_code(const struct iopf_fault *ft)
{
	return (uint32_t)(((ft->addr >> 12) - 1) & 1);
}

static void *worker(void *arg)
{
	struct workq *w = arg;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct iopf_group *gs[2][8];
		unsigned int n = 0, nc[2] = {0, 0}, bad = 0;

		while (w->head == w->tail && !w->stop)
			pthread_cond_wait(&w->cond, &w->lock);
		if (w->head == w->tail)
			break;
		/* One group alone, or what is waiting (up to 8), answered
		 * with one call per code. */
		while (w->head != w->tail && n < 8) {
			struct iopf_group *g = w->items[w->head++];
			/* A group handed to this thread alone: it must be
			 * whole. */
			const struct iopf_fault *ft = iopf_group_fault(g, 0);
			uint32_t code;

			n++;
			if (!ft) {
				bad++;
				continue;
			}
			code = conc_code(ft);
			gs[code][nc[code]++] = g;
		}
		pthread_mutex_unlock(&w->lock);
		if (n == 1 && nc[0] + nc[1] == 1) {
			uint32_t code = nc[1];

			bad += iopf_group_respond(gs[code][0], code) != 0;
		} else {
			for (uint32_t code = 0; code < 2; code++)
				bad += nc[code] -
				       (unsigned int)iopf_group_respond_batch(
					       gs[code], nc[code], code, NULL);
		}
		pthread_mutex_lock(&w->lock);
		w->failed += bad;
		w->done += n;
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* The engine's thread reads and hands each group to one of four threads in
 * turn; they answer concurrently (SUCCESS or INVALID by the group), while
 * faults keep coming. No cmocka assertion runs while they live: a failure
 * must not free the queue under them. */
static void concurrent_answers(void **state)
{
	struct fx *f = *state;
	static struct workq w[NWORKERS];
	struct iopf_group *g[64];
	uint64_t gid[NCONC], end, answered = 0;
	unsigned int got = 0, rr = 0, done = 0, failed = 0;
	struct iopf_mock_stats ms;
	const char *what = "the reading loop";
	int err = 0;

	fx_init_default(f);
	for (unsigned int i = 0; i < NCONC; i++)
		gid[i] = 0;
	memset(w, 0, sizeof(w));
	for (unsigned int i = 0; i < NWORKERS; i++) {
		pthread_mutex_init(&w[i].lock, NULL);
		pthread_cond_init(&w[i].cond, NULL);
		assert_int_equal(pthread_create(&w[i].th, NULL, worker, &w[i]),
				 0);
	}
	end = fx_now_ms() + 30000;
	for (unsigned int i = 0; !err && (i < NCONC || got < NCONC);) {
		struct iopf_mock_fault rec[4] = {{0}};
		int rc;

		if (fx_now_ms() >= end) {
			err = -ETIMEDOUT;
			break;
		}
		for (unsigned int k = 0; k < 25 && i < NCONC; k++, i++) {
			for (unsigned int r = 0; r < 4; r++)
				rec[r].addr = 0x1000ull * (i + 1) +
					      0x100000000ull * r;
			rc = iopf_mock_trigger(f->m, f->qs[0].dev, i, rec,
					       1 + i % 4, &gid[i]);
			if (rc)
				err = rc;
		}
		rc = iopf_engine_wait(f->e, 100);
		if (rc >= 0)
			rc = iopf_engine_pull(f->e, g, 64);
		if (rc < 0) {
			err = rc;
			break;
		}
		for (int k = 0; k < rc; k++, got++) {
			struct workq *wq = &w[rr++ % NWORKERS];

			pthread_mutex_lock(&wq->lock);
			wq->items[wq->tail++] = g[k];
			pthread_cond_signal(&wq->cond);
			pthread_mutex_unlock(&wq->lock);
		}
	}
	/* The engine's thread keeps running the engine (flush, wait: the
	 * workers' wake-ups) until the mock has every answer. */
	while (!err && answered < NCONC && fx_now_ms() < end) {
		ms = (struct iopf_mock_stats){.size = sizeof(ms)};
		/* Which call failed, and how: this once failed under TSan
		 * (plain engine) as a bare -EIO. */
		if ((err = iopf_engine_flush(f->e)) < 0)
			what = "iopf_engine_flush";
		else if ((err = iopf_engine_wait(f->e, 10)) < 0)
			what = "iopf_engine_wait";
		else if ((err = iopf_mock_stats(f->m, &ms)))
			what = "iopf_mock_stats";
		answered = ms.answered_success + ms.answered_invalid;
	}
	for (unsigned int i = 0; i < NWORKERS; i++) {
		pthread_mutex_lock(&w[i].lock);
		w[i].stop = true;
		pthread_cond_signal(&w[i].cond);
		pthread_mutex_unlock(&w[i].lock);
		pthread_join(w[i].th, NULL);
		failed += w[i].failed;
		done += w[i].done;
		pthread_cond_destroy(&w[i].cond);
		pthread_mutex_destroy(&w[i].lock);
	}
	/* Whatever the workers answered after the loop gave up goes out now. */
	iopf_engine_flush(f->e);
	if (err)
		fail_msg("engine thread: %s: %d after %u groups read, %llu "
			 "answered",
			 what, err, got, (unsigned long long)answered);
	assert_int_equal(failed, 0);
	assert_int_equal(done, NCONC);
	ms = fx_mstats(f);
	assert_int_equal(ms.answered_success + ms.answered_invalid, NCONC);
	assert_int_equal(ms.answered_invalid, NCONC / 2);
	assert_int_equal(ms.bad_duplicate, 0);
	assert_int_equal(ms.bad_unknown, 0);
	assert_int_equal(ms.outstanding, 0);
	for (unsigned int i = 0; i < NCONC; i++)
		assert_answered(f, gid[i], i & 1);
	assert_int_equal(f->nanswers, NCONC);
}

/* ---- a fault fd gone bad ------------------------------------------------ */

static void fd_closed(void **state)
{
	struct fx *f = *state;
	struct iopf_group *g[3];
	unsigned int got = 0, ebadf = 0;
	uint64_t end, t, cpu, tag;

	fx_init(f, NULL);
	fx_add_queue(f, NULL);
	fx_add_queue(f, NULL);
	fx_trigger(f, 0, 1, 1, 0x1000);
	assert_int_equal(fx_pull(f, g, 1, 5000), 1);
	tag = iopf_group_tag(g[0]);

	assert_int_equal(iopf_mock_inject_fd(f->m, f->qs[0].fault_id,
					     IOPF_MOCK_FD_CLOSED, 1, 0),
			 0);
	assert_int_equal(iopf_group_respond(g[0], IOPF_RESP_SUCCESS), 0);
	fx_trigger(f, 0, 2, 1, 0x2000);
	fx_trigger(f, 1, 3, 1, 0x3000);
	end = fx_now_ms() + 3000;
	while (fx_now_ms() < end && got < 1) {
		int rc = iopf_engine_wait(f->e, 100);

		if (rc == -EBADF) {
			ebadf++;
			continue;
		}
		assert_true(rc >= 0);
		rc = iopf_engine_pull(f->e, g + 1, 2);
		assert_true(rc >= 0);
		got += (unsigned int)rc;
	}
	assert_int_equal(got, 1);
	assert_ptr_equal(iopf_group_queue(g[1]), f->qs[1].q);

	/* Reported once, through the answer's outcome and the engine's
	 * return; then the engine idles without spinning on the dead fd. */
	cpu = fx_cpu_ms();
	t = fx_now_ms();
	for (int i = 0; i < 3; i++)
		if (iopf_engine_wait(f->e, 100) == -EBADF)
			ebadf++;
	assert_true(fx_now_ms() - t >= 295);
	if (fx_cpu_ms() - cpu > 60)
		fail_msg("wait burnt %llu ms of CPU in 300 ms",
			 (unsigned long long)(fx_cpu_ms() - cpu));
	assert_int_equal(ebadf, 1);
	assert_non_null(fx_answer_for(f, tag));
	assert_int_equal(fx_answer_for(f, tag)->result, -EBADF);
	assert_int_equal(fx_qstats(f, 0).answers_failed, 1);

	assert_int_equal(iopf_group_respond(g[1], IOPF_RESP_SUCCESS), 0);
	assert_int_equal(fx_flush_until(f, 1, 5000), 1);
	f->allow_pending = true; /* queue 0's second group */
	f->allow_outstanding = true; /* queue 0's first, its answer lost */
}

#define T(f) FX_BOTH(f)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(recv_single),
		T(recv_multi),
		T(answered_large_group),
		T(fault_fields),
		T(batch_sizes),
		T(grow_einval),
		T(grow_nofit_zero),
		T(group_too_big),
		T(group_too_big_nofit_zero),
		T(queue_error),
		T(read_split),
		T(read_zero),
		T(read_errno),
		T(solo_read_error),
		T(respond_once),
		T(respond_batch_args),
		T(respond_batch_one),
		T(respond_batch_queues),
		T(respond_batch_stale_expired),
		T(answers_coalesced),
		T(short_write),
		T(write_results_no_callback),
		T(write_errno),
		T(write_transient),
		T(stale_after_detach),
		T(stale_cookie_reused),
		T(wait_timeout),
		T(wait_wakes),
		T(wake_ends_wait),
		T(pull_and_process),
		T(dispatch_handler),
		T(dispatch_handler_error),
		T(dispatch_writes_answers),
		T(dispatch_no_handler),
		T(engine_fd_readable),
		T(engine_fd_dispatch_loop),
		T(engine_fd_dispatch_once_per_wake),
		T(engine_fd_dispatch_once_per_wake_2q),
		T(engine_fd_pull_one_per_wake),
		T(engine_fd_cross_thread_answer),
		T(engine_fd_deadline),
		T(engine_fd_own_thread_answer),
		T(sixteen_queues),
		T(deadline),
		T(teardown_answers),
		T(engine_free_frees_queues),
		T(counters),
		T(concurrent_answers),
		T(fd_closed),
	};

	/* IOPF_TEST_FILTER="deadline*" runs only the matching tests. */
	if (getenv("IOPF_TEST_FILTER"))
		cmocka_set_test_filter(getenv("IOPF_TEST_FILTER"));
	return cmocka_run_group_tests_name("delivery", tests, NULL, NULL);
}
