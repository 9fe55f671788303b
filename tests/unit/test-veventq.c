/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vEVENTQs on the engines (issue #14), over the mock's 7.3 mode: the setup a
 * VMM does (vIOMMU on a NEST_PARENT HWPT, vDEVICE, vEVENTQ, a nested HWPT on
 * the vIOMMU that also reports faults into a fault queue, attach), events
 * raised with iopf_mock_vevent(), read by the library in batches, handed to
 * a handler or pulled, with the exact count of events lost before each one,
 * across the sequence's wrap and the LOST_EVENTS record. Both engines each.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixture.h"

#define VIOMMU_SELFTEST	 IOPF_MOCK_VIOMMU_TYPE_SELFTEST
#define VQ_SELFTEST	 IOPF_MOCK_VEVENTQ_TYPE_SELFTEST
#define VIRT_ID		 0x42u
#define NR_VEVENTQ_ALLOC 0x93
#define MAXEV		 4096

struct vs {
	struct fx *f;
	uint32_t dev, parent, viommu, vdev, nested;
	struct iopf_veventq *vq;
	/* what the handler saw */
	unsigned int nev, calls;
	struct iopf_vevent ev[MAXEV];
	uint32_t payload[MAXEV];
	int handler_rc;
	bool pull_in_handler;
};

static int on_events(struct iopf_veventq *vq, const struct iopf_vevent *evs,
		     unsigned int n, void *user)
{
	struct vs *s = user;

	assert_ptr_equal(vq, s->vq);
	assert_ptr_equal(iopf_veventq_user(vq), s);
	if (s->pull_in_handler) {
		struct iopf_vevent e;

		assert_int_equal(iopf_veventq_pull(vq, &e, 1), -EBUSY);
		assert_int_equal(iopf_engine_dispatch(s->f->e, 0), -EBUSY);
	}
	s->calls++;
	for (unsigned int i = 0; i < n && s->nev < MAXEV; i++) {
		s->ev[s->nev] = evs[i];
		if (evs[i].data && evs[i].len == 4)
			memcpy(&s->payload[s->nev], evs[i].data, 4);
		s->nev++;
	}
	return s->handler_rc;
}

/* The VMM's setup, through the library; the nested HWPT on the vIOMMU
 * reports faults into the fixture's queue 0. */
static void vs_init_q(struct vs *s, struct fx *f, uint32_t depth,
		      iopf_vevent_fn handler, const struct fx_qcfg *qc)
{
	struct iopf_viommu_args va = {.size = sizeof(va),
				      .type = VIOMMU_SELFTEST};
	struct iopf_hwpt_args pa = {.size = sizeof(pa),
				    .flags = IOPF_HWPT_ALLOC_NEST_PARENT};
	uint32_t payload = FX_PAYLOAD;
	struct iopf_hwpt_args na = {.size = sizeof(na),
				    .data_type = FX_DATA_SELFTEST,
				    .data_len = sizeof(payload),
				    .data = &payload};
	struct iopf_veventq_opts vo = {.size = sizeof(vo),
				       .type = VQ_SELFTEST,
				       .depth = depth,
				       .handler = handler,
				       .user = s};

	memset(s, 0, sizeof(*s));
	s->f = f;
	fx_init(f, &(struct fx_cfg){.kernel = IOPF_MOCK_KERNEL_7_3});
	fx_add_queue(f, qc);
	assert_int_equal(iopf_mock_dev_new(f->m, &s->dev), 0);
	pa.dev_id = s->dev;
	pa.pt_id = f->ioas;
	assert_int_equal(iopf_hwpt_alloc(f->ctx, NULL, &pa, &s->parent), 0);
	va.dev_id = s->dev;
	va.hwpt_id = s->parent;
	assert_int_equal(iopf_viommu_alloc(f->ctx, &va, &s->viommu), 0);
	assert_int_equal(iopf_vdevice_alloc(f->ctx, s->viommu, s->dev, VIRT_ID,
					    &s->vdev),
			 0);
	assert_int_equal(iopf_veventq_new(f->ctx, f->e, s->viommu, &vo, &s->vq),
			 0);
	assert_non_null(s->vq);
	assert_true(iopf_veventq_fd(s->vq) >= 0);
	assert_int_not_equal(iopf_veventq_id(s->vq), 0);
	na.dev_id = s->dev;
	na.pt_id = s->viommu;
	assert_int_equal(iopf_hwpt_alloc(f->ctx, f->qs[0].q, &na, &s->nested),
			 0);
	assert_int_equal(iopf_mock_dev_attach(f->m, s->dev, s->nested), 0);
}

static void vs_init(struct vs *s, struct fx *f, uint32_t depth,
		    iopf_vevent_fn handler)
{
	vs_init_q(s, f, depth, handler, NULL);
}

/* In the order a VMM tears down: device, HWPT, queue, vDEVICE, vIOMMU. */
static void vs_fini(struct vs *s)
{
	struct fx *f = s->f;

	assert_int_equal(iopf_mock_dev_detach(f->m, s->dev), 0);
	assert_int_equal(iopf_destroy(f->ctx, s->nested), 0);
	iopf_veventq_free(s->vq);
	s->vq = NULL;
	assert_int_equal(iopf_destroy(f->ctx, s->vdev), 0);
	assert_int_equal(iopf_destroy(f->ctx, s->viommu), 0);
	assert_int_equal(iopf_destroy(f->ctx, s->parent), 0);
}

static void raise_n(struct vs *s, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		assert_int_equal(iopf_mock_vevent(s->f->m, s->dev, VQ_SELFTEST,
						  NULL, 0, NULL),
				 0);
}

/* Dispatches until the handler saw want events (records, LOST ones too). */
static void dispatch_until(struct vs *s, unsigned int want)
{
	uint64_t end = fx_now_ms() + 10000;

	while (s->nev < want && fx_now_ms() < end)
		assert_true(iopf_engine_dispatch(s->f->e, 100) >= 0);
	assert_int_equal(s->nev, want);
}

static void assert_event(const struct vs *s, unsigned int i, uint32_t seq,
			 uint32_t lost)
{
	assert_int_equal(s->ev[i].flags, 0);
	assert_int_equal(s->ev[i].type, VQ_SELFTEST);
	assert_int_equal(s->ev[i].sequence, seq);
	assert_int_equal(s->ev[i].lost, lost);
	assert_int_equal(s->ev[i].len, 4);
	assert_int_equal(s->payload[i], VIRT_ID);
}

static void assert_lost_record(const struct vs *s, unsigned int i, uint32_t seq,
			       uint32_t lost)
{
	assert_int_equal(s->ev[i].flags, IOPF_VEVENT_LOST);
	assert_int_equal(s->ev[i].sequence, seq);
	assert_int_equal(s->ev[i].lost, lost);
	assert_null(s->ev[i].data);
	assert_int_equal(s->ev[i].len, 0);
}

static struct iopf_veventq_stats vstats(const struct vs *s)
{
	struct iopf_veventq_stats st = {.size = sizeof(st)};

	assert_int_equal(iopf_veventq_stats(s->vq, &st), 0);
	return st;
}

/* 300 events, dispatched: in order, with their payload, none lost, read in
 * batches of the default 64. */
static void events_in_order(void **state)
{
	struct fx *f = *state;
	struct iopf_veventq_stats st;
	struct vs s;

	vs_init(&s, f, 1024, on_events);
	raise_n(&s, 300);
	dispatch_until(&s, 300);
	for (unsigned int i = 0; i < 300; i++)
		assert_event(&s, i, i, 0);
	st = vstats(&s);
	assert_int_equal(st.events, 300);
	assert_int_equal(st.lost, 0);
	assert_int_equal(st.lost_records, 0);
	assert_int_equal(st.max_batch, 64);
	assert_true(s.calls >= 300 / 64);
	assert_true(st.reads >= 5);
	vs_fini(&s);
}

/*
 * Depth 4, ten events before a read: four delivered, six lost, and the
 * LOST_EVENTS record carries the last lost number (9): its count is 6. The
 * next event (10) follows with none lost.
 */
static void overflow_exact(void **state)
{
	struct fx *f = *state;
	struct iopf_veventq_stats st;
	struct vs s;

	vs_init(&s, f, 4, on_events);
	raise_n(&s, 10);
	dispatch_until(&s, 5);
	for (unsigned int i = 0; i < 4; i++)
		assert_event(&s, i, i, 0);
	assert_lost_record(&s, 4, 9, 6);
	raise_n(&s, 1);
	dispatch_until(&s, 6);
	assert_event(&s, 5, 10, 0);
	st = vstats(&s);
	assert_int_equal(st.events, 5);
	assert_int_equal(st.lost, 6);
	assert_int_equal(st.lost_records, 1);
	vs_fini(&s);
}

/*
 * Across the wrap: numbers from INT_MAX - 2, depth 2, six events before a
 * read: INT_MAX - 2 and INT_MAX - 1 delivered, INT_MAX, 0, 1, 2 lost (the
 * LOST record says 2). Then a lost event taken out by the next one: the gap
 * in numbers gives the count.
 */
static void overflow_across_wrap(void **state)
{
	struct fx *f = *state;
	struct vs s;

	vs_init(&s, f, 2, on_events);
	assert_int_equal(iopf_mock_veventq_set_sequence(
				 f->m, iopf_veventq_id(s.vq), INT_MAX - 2),
			 0);
	raise_n(&s, 6);
	dispatch_until(&s, 3);
	/* A queue's numbers start at 0 in the kernel: to the library, one
	 * that starts at INT_MAX - 2 lost that many first. */
	assert_event(&s, 0, INT_MAX - 2, INT_MAX - 2);
	assert_event(&s, 1, INT_MAX - 1, 0);
	assert_lost_record(&s, 2, 2, 4);
	/* Three more with room for two: 3 and 4 queued, 5 lost (LOST record
	 * at the tail), then, after a read of 3 and 4, 6 takes its place:
	 * 6 comes with one lost before it. */
	raise_n(&s, 3);
	dispatch_until(&s, 6);
	assert_event(&s, 3, 3, 0);
	assert_event(&s, 4, 4, 0);
	assert_lost_record(&s, 5, 5, 1);
	raise_n(&s, 1);
	dispatch_until(&s, 7);
	assert_event(&s, 6, 6, 0);
	assert_int_equal(vstats(&s).lost, (uint64_t)INT_MAX - 2 + 5);
	vs_fini(&s);
}

/* No handler: the caller pulls, at most max a time; the payload pointers
 * hold until the engine reads again. */
static void pull_events(void **state)
{
	struct fx *f = *state;
	struct iopf_vevent ev[7];
	unsigned int got = 0;
	uint64_t end;
	struct vs s;

	vs_init(&s, f, 1024, NULL);
	assert_int_equal(iopf_veventq_pull(s.vq, ev, 7), 0);
	raise_n(&s, 20);
	end = fx_now_ms() + 10000;
	while (got < 20 && fx_now_ms() < end) {
		int n = iopf_veventq_pull(s.vq, ev, 7);

		assert_true(n >= 0 && n <= 7);
		for (int i = 0; i < n; i++) {
			uint32_t v;

			assert_int_equal(ev[i].sequence, got + (unsigned int)i);
			assert_int_equal(ev[i].lost, 0);
			memcpy(&v, ev[i].data, 4);
			assert_int_equal(v, VIRT_ID);
		}
		got += (unsigned int)n;
		if (!n)
			assert_true(iopf_engine_wait(f->e, 100) >= 0);
	}
	assert_int_equal(got, 20);
	/* With events waiting and no handler, a dispatch refuses. */
	raise_n(&s, 1);
	assert_true(iopf_engine_wait(f->e, 5000) >= 1);
	assert_int_equal(iopf_engine_dispatch(f->e, 0), -EINVAL);
	assert_int_equal(iopf_veventq_pull(s.vq, ev, 7), 1);
	assert_int_equal(ev[0].sequence, 20);
	assert_int_equal(iopf_veventq_pull(NULL, ev, 1), -EINVAL);
	assert_int_equal(iopf_veventq_pull(s.vq, NULL, 1), -EINVAL);
	assert_int_equal(iopf_veventq_pull(s.vq, ev, 0), -EINVAL);
	vs_fini(&s);
}

/* A handler's error ends the dispatch with it; the batch was handed out and
 * is not handed out again. Nested calls from a handler: -EBUSY. */
static void handler_error(void **state)
{
	struct fx *f = *state;
	struct vs s;

	vs_init(&s, f, 1024, on_events);
	s.handler_rc = -EIO;
	s.pull_in_handler = true;
	raise_n(&s, 3);
	{
		uint64_t end = fx_now_ms() + 10000;
		int rc = 0;

		while (!s.nev && fx_now_ms() < end)
			rc = iopf_engine_dispatch(f->e, 100);
		assert_int_equal(rc, -EIO);
	}
	assert_int_equal(s.nev, 3);
	s.handler_rc = 0;
	assert_int_equal(iopf_engine_dispatch(f->e, 0), 0);
	assert_int_equal(s.nev, 3);
	vs_fini(&s);
}

/*
 * Faults and events on one engine at once: 200 fault groups from the device
 * behind the vIOMMU and 200 events, interleaved, every group answered by the
 * handler exactly once and every event delivered, in one dispatch loop.
 */
static int answer_group(struct iopf_group *g, void *user)
{
	struct fx *f = user;
	unsigned int *n = f->priv;

	(*n)++;
	return iopf_group_respond(g, IOPF_RESP_SUCCESS);
}

static void faults_and_events(void **state)
{
	struct fx *f = *state;
	struct iopf_mock_fault rec = {.addr = 0x1000};
	struct fx_qcfg qc = {.handler = answer_group};
	unsigned int groups = 0;
	uint64_t end;
	struct vs s;

	f->priv = &groups;
	vs_init_q(&s, f, 1024, on_events, &qc);
	for (unsigned int i = 0; i < 200; i++) {
		assert_int_equal(
			iopf_mock_trigger(f->m, s.dev, i, &rec, 1, NULL), 0);
		raise_n(&s, 1);
	}
	end = fx_now_ms() + 10000;
	while ((groups < 200 || s.nev < 200) && fx_now_ms() < end)
		assert_true(iopf_engine_dispatch(f->e, 100) >= 0);
	assert_int_equal(groups, 200);
	assert_int_equal(s.nev, 200);
	for (unsigned int i = 0; i < 200; i++)
		assert_event(&s, i, i, 0);
	assert_int_equal(iopf_engine_flush(f->e), 0);
	assert_int_equal(fx_mstats(f).answered_success, 200);
	vs_fini(&s);
}

/* A caller asleep on the engine fd is woken by an event. */
static void engine_fd_wakes(void **state)
{
	struct fx *f = *state;
	struct pollfd p = {.events = POLLIN};
	struct vs s;

	vs_init(&s, f, 1024, on_events);
	p.fd = iopf_engine_fd(f->e);
	assert_true(p.fd >= 0);
	assert_true(iopf_engine_dispatch(f->e, 0) >= 0);
	raise_n(&s, 2);
	assert_int_equal(poll(&p, 1, 5000), 1);
	dispatch_until(&s, 2);
	vs_fini(&s);
}

/* A read error fails the queue: reported by the engine once, told by
 * iopf_veventq_error(); the fault queues go on. */
static void read_error(void **state)
{
	struct fx *f = *state;
	uint64_t end;
	struct vs s;
	int rc = 0;

	vs_init(&s, f, 1024, on_events);
	assert_int_equal(iopf_veventq_error(s.vq), 0);
	assert_int_equal(iopf_mock_inject_fd(f->m, iopf_veventq_id(s.vq),
					     IOPF_MOCK_READ_ERRNO, 1, EIO),
			 0);
	raise_n(&s, 1);
	end = fx_now_ms() + 5000;
	while (rc >= 0 && fx_now_ms() < end)
		rc = iopf_engine_dispatch(f->e, 50);
	assert_int_equal(rc, -EIO);
	assert_int_equal(iopf_veventq_error(s.vq), -EIO);
	assert_true(iopf_engine_dispatch(f->e, 0) >= 0);
	fx_trigger(f, 0, 1, 1, 0x1000);
	{
		struct iopf_group *g;

		assert_int_equal(fx_pull(f, &g, 1, 5000), 1);
		assert_int_equal(iopf_group_respond(g, IOPF_RESP_SUCCESS), 0);
	}
	assert_int_equal(iopf_engine_flush(f->e), 0);
	assert_int_equal(iopf_veventq_error(NULL), -EINVAL);
	vs_fini(&s);
}

/* Bad arguments and the kernel's refusals: a clear error each, nothing
 * made, nothing leaked (ASan and valgrind runs see to the last). */
static void new_errors(void **state)
{
	struct fx *f = *state;
	struct iopf_veventq_opts o = {.size = sizeof(o), .type = VQ_SELFTEST};
	struct iopf_veventq *vq = (void *)1, *vq2;
	struct iopf_veventq_stats st = {.size = sizeof(st)};
	struct vs s;

	vs_init(&s, f, 16, on_events);
	assert_int_equal(iopf_veventq_new(f->ctx, f->e, s.viommu, &o, NULL),
			 -EINVAL);
	assert_int_equal(iopf_veventq_new(NULL, f->e, s.viommu, &o, &vq),
			 -EINVAL);
	assert_null(vq);
	assert_int_equal(iopf_veventq_new(f->ctx, NULL, s.viommu, &o, &vq),
			 -EINVAL);
	assert_int_equal(iopf_veventq_new(f->ctx, f->e, s.viommu, NULL, &vq),
			 -EINVAL);
	o.size = 8;
	assert_int_equal(iopf_veventq_new(f->ctx, f->e, s.viommu, &o, &vq),
			 -EINVAL);
	o.size = sizeof(o);
	o.flags = 1;
	assert_int_equal(iopf_veventq_new(f->ctx, f->e, s.viommu, &o, &vq),
			 -EINVAL);
	o.flags = 0;
	o.type = 0;
	assert_int_equal(iopf_veventq_new(f->ctx, f->e, s.viommu, &o, &vq),
			 -EINVAL);
	o.type = 0x7777; /* unknown to the library */
	assert_int_equal(iopf_veventq_new(f->ctx, f->e, s.viommu, &o, &vq),
			 -EINVAL);
	assert_non_null(strstr(iopf_ctx_errmsg(f->ctx), "payload_len"));
	o.type = VQ_SELFTEST;
	o.batch = 65537;
	assert_int_equal(iopf_veventq_new(f->ctx, f->e, s.viommu, &o, &vq),
			 -EINVAL);
	o.batch = 0;
	/* The kernel's: a second queue of the type, no such vIOMMU, a depth
	 * above 2^19, an injected failure. */
	assert_int_equal(iopf_veventq_new(f->ctx, f->e, s.viommu, &o, &vq),
			 -EEXIST);
	assert_non_null(strstr(iopf_ctx_errmsg(f->ctx), "already has"));
	assert_int_equal(iopf_veventq_new(f->ctx, f->e, 0x9999, &o, &vq),
			 -ENOENT);
	o.type = 0x7777;
	o.payload_len = 16;
	o.depth = (1u << 19) + 1;
	assert_int_equal(iopf_veventq_new(f->ctx, f->e, s.viommu, &o, &vq),
			 -EINVAL);
	assert_non_null(strstr(iopf_ctx_errmsg(f->ctx), "depth"));
	o.depth = 1u << 19;
	assert_int_equal(
		iopf_mock_inject_ioctl(f->m, NR_VEVENTQ_ALLOC, 1, EOPNOTSUPP),
		0);
	assert_int_equal(iopf_veventq_new(f->ctx, f->e, s.viommu, &o, &vq),
			 -EOPNOTSUPP);
	assert_int_equal(
		iopf_mock_inject_ioctl(f->m, NR_VEVENTQ_ALLOC, 1, ENOMEM), 0);
	assert_int_equal(iopf_veventq_new(f->ctx, f->e, s.viommu, &o, &vq),
			 -ENOMEM);
	assert_null(vq);
	/* A type of the caller's own, with its payload length: made. */
	assert_int_equal(iopf_veventq_new(f->ctx, f->e, s.viommu, &o, &vq2), 0);
	iopf_veventq_free(vq2);
	iopf_veventq_free(NULL);
	assert_int_equal(iopf_veventq_id(NULL), 0);
	assert_int_equal(iopf_veventq_fd(NULL), -EINVAL);
	assert_null(iopf_veventq_user(NULL));
	assert_int_equal(iopf_veventq_stats(NULL, &st), -EINVAL);
	assert_int_equal(iopf_veventq_stats(s.vq, NULL), -EINVAL);
	vs_fini(&s);
}

/* 6.12 has no vEVENTQ: -ENOSYS naming the version that has it. An fd that
 * is no iommufd: -ENOTTY. */
static void new_missing(void **state)
{
	struct fx *f = *state;
	struct iopf_veventq_opts o = {.size = sizeof(o), .type = VQ_SELFTEST};
	struct iopf_veventq *vq = (void *)1;
	struct iopf_ctx *nctx = NULL;
	int fd;

	fx_init(f, &(struct fx_cfg){.kernel = IOPF_MOCK_KERNEL_6_12});
	assert_int_equal(iopf_veventq_new(f->ctx, f->e, 1, &o, &vq), -ENOSYS);
	assert_null(vq);
	assert_non_null(strstr(iopf_ctx_errmsg(f->ctx), "6.15"));
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(iopf_ctx_from_fd(fd, &nctx), 0);
	assert_int_equal(iopf_veventq_new(nctx, f->e, 1, &o, &vq), -ENOTTY);
	assert_non_null(strstr(iopf_ctx_errmsg(nctx), "not an iommufd"));
	iopf_ctx_free(nctx);
	close(fd);
}

/* Teardown in the other orders a VMM uses: the vEVENTQ with events unread
 * (dropped), the engine with the vEVENTQ still on it (freed with it), the
 * context before the queue (the queue holds it). */
static void teardown_orders(void **state)
{
	struct fx *f = *state;
	struct iopf_veventq_opts o = {
		.size = sizeof(o), .type = VQ_SELFTEST, .handler = on_events};
	struct vs s;

	vs_init(&s, f, 1024, on_events);
	o.user = &s;
	raise_n(&s, 5);
	assert_true(iopf_engine_wait(f->e, 5000) >= 1);
	iopf_veventq_free(s.vq); /* 5 events read, not handed out */
	assert_int_equal(s.nev, 0);
	assert_int_equal(iopf_veventq_new(f->ctx, f->e, s.viommu, &o, &s.vq),
			 0);
	raise_n(&s, 3);
	dispatch_until(&s, 3);
	/* A new vEVENTQ numbers its events from 0 again, as the kernel's. */
	assert_int_equal(s.ev[0].sequence, 0);
	assert_int_equal(s.ev[0].lost, 0);
	/* The engine frees the queue with itself; its vIOMMU can go then. */
	assert_int_equal(iopf_mock_dev_detach(f->m, s.dev), 0);
	assert_int_equal(iopf_destroy(f->ctx, s.nested), 0);
	assert_int_equal(iopf_destroy(f->ctx, s.viommu), -EBUSY);
	for (unsigned int i = 0; i < f->nq; i++) {
		iopf_queue_free(f->qs[i].q);
		f->qs[i].q = NULL;
	}
	iopf_engine_free(f->e);
	f->e = NULL;
	assert_int_equal(iopf_destroy(f->ctx, s.vdev), 0);
	assert_int_equal(iopf_destroy(f->ctx, s.viommu), 0);
	assert_int_equal(iopf_destroy(f->ctx, s.parent), 0);
	{
		struct iopf_engine_opts eo = {.size = sizeof(eo),
					      .kind = (uint32_t)f->kind};

		assert_int_equal(iopf_engine_new(&eo, &f->e), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		FX_BOTH(events_in_order),      FX_BOTH(overflow_exact),
		FX_BOTH(overflow_across_wrap), FX_BOTH(pull_events),
		FX_BOTH(handler_error),	       FX_BOTH(faults_and_events),
		FX_BOTH(engine_fd_wakes),      FX_BOTH(read_error),
		FX_BOTH(new_errors),	       FX_BOTH(new_missing),
		FX_BOTH(teardown_orders),
	};

	if (getenv("IOPF_TEST_FILTER"))
		cmocka_set_test_filter(getenv("IOPF_TEST_FILTER"));
	return cmocka_run_group_tests_name("veventq", tests, NULL, NULL);
}
