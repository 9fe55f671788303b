/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vEVENTQs through libiopf on the real kernel (issue #14), on both engines.
 * The selftest driver's setup, as a VMM does it: the mock device's vIOMMU on
 * its NEST_PARENT HWPT, its vDEVICE (virt_id VIRT_ID), a vEVENTQ of the
 * selftest type, a nested HWPT on the vIOMMU that reports faults into a fault
 * queue, the device attached; events raised with IOMMU_TEST_OP_TRIGGER_VEVENT
 * (payload: the virt_id).
 *   order     300 events arrive in order, numbered from 0, with their payload
 *   overflow  depth 4, 10 events before a read: 4 delivered, then the
 *             LOST_EVENTS record with the last lost number (9): 6 lost, exact;
 *             the next event (10) comes with none lost
 *   mixed     200 faults and 200 events interleaved on one engine, one
 *             dispatch loop: every group answered once (the patched driver's
 *             count), every event delivered
 *   teardown  the orders a VMM uses: the vIOMMU is busy while the queue is
 *             there; the queue freed with unread events; the engine freeing
 *             the queue it still has; the context freed before the queue
 * On a kernel without vEVENTQs (6.12) the program checks the clean refusal
 * (-ENOSYS naming the version) and passes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libiopf.h>

#include "kt-helper.h"

#define VIOMMU_TYPE_SELFTEST  0xdeadbeefu
#define VEVENTQ_TYPE_SELFTEST 0xbeefbeefu
#define VIRT_ID		      0x55u
#define MAXEV		      1024

struct rec {
	uint32_t flags, seq, lost, payload;
};

struct vt {
	const char *eng;
	int kind;
	struct iopf_ctx *ctx;
	struct iopf_engine *e;
	struct kt_mock m;
	uint32_t viommu, vdev, nested;
	struct iopf_queue *q;
	struct iopf_veventq *vq;
	unsigned int nrec, groups;
	struct rec rec[MAXEV];
	int failures;
};

static int on_events(struct iopf_veventq *vq, const struct iopf_vevent *evs,
		     unsigned int n, void *user)
{
	struct vt *t = user;

	(void)vq;
	for (unsigned int i = 0; i < n && t->nrec < MAXEV; i++) {
		struct rec *r = &t->rec[t->nrec++];

		r->flags = evs[i].flags;
		r->seq = evs[i].sequence;
		r->lost = evs[i].lost;
		r->payload = 0;
		if (evs[i].data && evs[i].len == 4)
			memcpy(&r->payload, evs[i].data, 4);
	}
	return 0;
}

static int on_group(struct iopf_group *g, void *user)
{
	struct vt *t = user;

	t->groups++;
	return iopf_group_respond(g, IOPF_RESP_SUCCESS);
}

#define EXPECT(t, cond, ...)                                                   \
	do {                                                                   \
		if (!(cond)) {                                                 \
			printf("vevent %s: FAIL: ", (t)->eng);                 \
			printf(__VA_ARGS__);                                   \
			printf("\n");                                          \
			(t)->failures++;                                       \
		}                                                              \
	} while (0)

static int vq_new(struct vt *t, uint32_t depth)
{
	struct iopf_veventq_opts o = {.size = sizeof(o),
				      .type = VEVENTQ_TYPE_SELFTEST,
				      .depth = depth,
				      .handler = on_events,
				      .user = t};

	t->nrec = 0;
	return iopf_veventq_new(t->ctx, t->e, t->viommu, &o, &t->vq);
}

static int setup(struct vt *t)
{
	struct iopf_engine_opts eo = {.size = sizeof(eo),
				      .kind = (uint32_t)t->kind};
	struct iopf_viommu_args va = {.size = sizeof(va),
				      .type = VIOMMU_TYPE_SELFTEST};
	struct iopf_queue_opts qo = {
		.size = sizeof(qo), .handler = on_group, .user = t};
	struct iopf_hwpt_args na = {.size = sizeof(na)};
	void *data;
	int rc;

	rc = iopf_ctx_open(NULL, &t->ctx);
	if (!rc)
		rc = kt_mock_setup(&t->m, iopf_ctx_fd(t->ctx));
	if (!rc)
		rc = iopf_engine_new(&eo, &t->e);
	if (!rc) {
		va.dev_id = t->m.idev_id;
		va.hwpt_id = t->m.parent_id;
		rc = iopf_viommu_alloc(t->ctx, &va, &t->viommu);
	}
	if (!rc)
		rc = iopf_vdevice_alloc(t->ctx, t->viommu, t->m.idev_id,
					VIRT_ID, &t->vdev);
	if (!rc)
		rc = vq_new(t, 1024);
	if (!rc)
		rc = iopf_queue_new(t->ctx, t->e, &qo, &t->q);
	if (!rc) {
		kt_nested_data(&data, &na.data_len, &na.data_type);
		na.data = data;
		na.dev_id = t->m.idev_id;
		na.pt_id = t->viommu;
		rc = iopf_hwpt_alloc(t->ctx, t->q, &na, &t->nested);
	}
	if (!rc)
		rc = kt_mock_domain_replace(t->m.fd, t->m.stdev_id, t->nested);
	if (rc)
		printf("vevent %s: setup: %d (%s)\n", t->eng, rc,
		       iopf_ctx_errmsg(t->ctx));
	return rc;
}

static void dispatch_until(struct vt *t, unsigned int nrec, unsigned int groups)
{
	for (int i = 0; i < 2000 && (t->nrec < nrec || t->groups < groups); i++)
		if (iopf_engine_dispatch(t->e, 10) < 0)
			break;
}

static void raise_n(struct vt *t, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		int rc = kt_trigger_vevent(t->m.fd, t->m.idev_id);

		EXPECT(t, rc == 0, "TRIGGER_VEVENT: %d", rc);
	}
}

static void sc_order(struct vt *t)
{
	struct iopf_veventq_stats st = {.size = sizeof(st)};
	unsigned int bad = 0;

	raise_n(t, 300);
	dispatch_until(t, 300, 0);
	EXPECT(t, t->nrec == 300, "order: %u of 300 events", t->nrec);
	for (unsigned int i = 0; i < t->nrec; i++)
		bad += t->rec[i].seq != i || t->rec[i].lost ||
		       t->rec[i].flags || t->rec[i].payload != VIRT_ID;
	EXPECT(t, !bad,
	       "order: %u events out of order, lost or with another payload",
	       bad);
	iopf_veventq_stats(t->vq, &st);
	printf("vevent %s: order: 300 raised, %u delivered in order, lost "
	       "%llu, reads %llu, max batch %llu\n",
	       t->eng, t->nrec - bad, (unsigned long long)st.lost,
	       (unsigned long long)st.reads, (unsigned long long)st.max_batch);
}

static void sc_overflow(struct vt *t)
{
	struct iopf_veventq_stats st = {.size = sizeof(st)};
	int rc;

	iopf_veventq_free(t->vq);
	t->vq = NULL;
	rc = vq_new(t, 4);
	EXPECT(t, rc == 0, "overflow: a vEVENTQ of depth 4: %d", rc);
	if (rc)
		return;
	raise_n(t, 10);
	dispatch_until(t, 5, 0);
	EXPECT(t, t->nrec == 5,
	       "overflow: %u records, want 4 events and a LOST record",
	       t->nrec);
	for (unsigned int i = 0; i < 4 && i < t->nrec; i++)
		EXPECT(t,
		       !t->rec[i].flags && t->rec[i].seq == i &&
			       !t->rec[i].lost,
		       "overflow: event %u: flags %u seq %u lost %u", i,
		       t->rec[i].flags, t->rec[i].seq, t->rec[i].lost);
	if (t->nrec >= 5)
		EXPECT(t,
		       t->rec[4].flags == IOPF_VEVENT_LOST &&
			       t->rec[4].seq == 9 && t->rec[4].lost == 6,
		       "overflow: record 4: flags %u seq %u lost %u, want LOST "
		       "9 6",
		       t->rec[4].flags, t->rec[4].seq, t->rec[4].lost);
	raise_n(t, 1);
	dispatch_until(t, 6, 0);
	EXPECT(t, t->nrec == 6 && t->rec[5].seq == 10 && !t->rec[5].lost,
	       "overflow: the next event: seq %u lost %u",
	       t->nrec == 6 ? t->rec[5].seq : 0,
	       t->nrec == 6 ? t->rec[5].lost : 0);
	iopf_veventq_stats(t->vq, &st);
	EXPECT(t, st.events == 5 && st.lost == 6 && st.lost_records == 1,
	       "overflow: stats events %llu lost %llu lost_records %llu",
	       (unsigned long long)st.events, (unsigned long long)st.lost,
	       (unsigned long long)st.lost_records);
	printf("vevent %s: overflow: depth 4, 10 raised before a read: 4 "
	       "delivered, LOST record seq %u lost %u; then seq %u lost %u; "
	       "stats events %llu lost %llu\n",
	       t->eng, t->nrec >= 5 ? t->rec[4].seq : 0,
	       t->nrec >= 5 ? t->rec[4].lost : 0,
	       t->nrec >= 6 ? t->rec[5].seq : 0,
	       t->nrec >= 6 ? t->rec[5].lost : 0, (unsigned long long)st.events,
	       (unsigned long long)st.lost);
}

static void sc_mixed(struct vt *t)
{
	struct kt_resp_stats rs0 = {0}, rs1 = {0};
	int patched = kt_patched(t->m.fd) == 1;
	unsigned int base;

	iopf_veventq_free(t->vq);
	t->vq = NULL;
	if (vq_new(t, 1024)) {
		EXPECT(t, 0, "mixed: vEVENTQ");
		return;
	}
	if (patched)
		kt_resp_stats(t->m.fd, t->m.idev_id, &rs0, 0);
	base = t->groups;
	for (unsigned int i = 0; i < 200; i++) {
		int rc = kt_trigger_iopf(t->m.fd, t->m.idev_id, 0, i & 255, 1,
					 0x100000ull + 4096ull * i);

		EXPECT(t, rc == 0, "mixed: TRIGGER_IOPF: %d", rc);
		raise_n(t, 1);
	}
	dispatch_until(t, 200, base + 200);
	iopf_engine_flush(t->e);
	EXPECT(t, t->groups - base == 200 && t->nrec == 200,
	       "mixed: %u groups, %u events of 200 each", t->groups - base,
	       t->nrec);
	if (patched) {
		kt_resp_stats(t->m.fd, t->m.idev_id, &rs1, 0);
		EXPECT(t,
		       rs1.success - rs0.success == 200 &&
			       rs1.total - rs0.total == 200,
		       "mixed: the device saw %llu answers (%llu SUCCESS), "
		       "want 200",
		       (unsigned long long)(rs1.total - rs0.total),
		       (unsigned long long)(rs1.success - rs0.success));
	}
	printf("vevent %s: mixed: 200 faults and 200 events on one engine: %u "
	       "groups answered%s, %u events delivered\n",
	       t->eng, t->groups - base,
	       patched ? " (the device counted each once)" : "", t->nrec);
}

static void sc_teardown(struct vt *t)
{
	int rc;

	/* The vIOMMU is busy while its vEVENTQ and vDEVICE are there. */
	rc = iopf_destroy(t->ctx, t->viommu);
	EXPECT(t, rc == -EBUSY, "teardown: destroy of a vIOMMU in use: %d", rc);
	/* Unread events go with their queue. */
	raise_n(t, 5);
	iopf_engine_process(t->e);
	iopf_veventq_free(t->vq);
	t->vq = NULL;
	/* A new queue of the type, on the same vIOMMU, starts from 0. */
	rc = vq_new(t, 16);
	EXPECT(t, rc == 0,
	       "teardown: a second queue after the first was freed: %d", rc);
	raise_n(t, 2);
	dispatch_until(t, 2, 0);
	EXPECT(t, t->nrec == 2 && t->rec[0].seq == 0,
	       "teardown: the new queue's events: %u, first seq %u", t->nrec,
	       t->nrec ? t->rec[0].seq : 0);
	/* Device off the vIOMMU: no more events (ENOENT), faults neither. */
	rc = kt_mock_domain_replace(t->m.fd, t->m.stdev_id, t->m.parent_id);
	EXPECT(t, rc == 0, "teardown: replace to the parent: %d", rc);
	rc = kt_trigger_vevent(t->m.fd, t->m.idev_id);
	EXPECT(t, rc == -ENOENT,
	       "teardown: TRIGGER_VEVENT off the vIOMMU: %d, want -ENOENT", rc);
	rc = iopf_destroy(t->ctx, t->nested);
	EXPECT(t, rc == 0, "teardown: destroy the nested HWPT: %d", rc);
	t->nested = 0;
	/* The context before the queue, and the engine freeing the queue it
	 * still has: the queue holds the context (and its fd) until then,
	 * when closing the iommufd destroys the rest (vDEVICE, vIOMMU, the
	 * mock device). */
	iopf_ctx_free(t->ctx);
	t->ctx = NULL;
	iopf_engine_free(t->e);
	t->e = NULL;
	t->vq = NULL;
}

static int run(int kind, const char *eng)
{
	struct vt *t = calloc(1, sizeof(*t));
	int failures;

	if (!t)
		return 1;
	t->kind = kind;
	t->eng = eng;
	if (setup(t)) {
		free(t);
		return 1;
	}
	sc_order(t);
	sc_overflow(t);
	sc_mixed(t);
	iopf_queue_free(t->q);
	t->q = NULL;
	sc_teardown(t);
	failures = t->failures;
	free(t);
	return failures;
}

int main(void)
{
	struct iopf_veventq_opts o = {.size = sizeof(o),
				      .type = VEVENTQ_TYPE_SELFTEST};
	struct iopf_veventq *vq = NULL;
	struct iopf_engine *e = NULL;
	struct iopf_ctx *ctx = NULL;
	uint64_t feat = 0;
	int fd, rc, failures;

	fd = kt_open_or_skip("vevent");
	if (fd < 0)
		return 77;
	close(fd);
	rc = iopf_ctx_open(NULL, &ctx);
	if (rc || iopf_ctx_probe(ctx, &feat) || iopf_engine_new(NULL, &e)) {
		printf("vevent: cannot open /dev/iommu through the library: "
		       "%d\n",
		       rc);
		return 1;
	}
	if (!(feat & IOPF_FEAT_VEVENTQ)) {
		rc = iopf_veventq_new(ctx, e, 1, &o, &vq);
		failures =
			rc != -ENOSYS || !strstr(iopf_ctx_errmsg(ctx), "6.15");
		printf("vevent: kernel %d has no vEVENTQ: iopf_veventq_new "
		       "says %d (%s)%s\n",
		       kt_kernel_version(), rc, iopf_ctx_errmsg(ctx),
		       failures ? ": FAIL, want -ENOSYS naming 6.15"
				: ", as it should");
		iopf_engine_free(e);
		iopf_ctx_free(ctx);
		return failures ? 1 : 0;
	}
	iopf_engine_free(e);
	iopf_ctx_free(ctx);
	failures = run(IOPF_ENGINE_URING, "uring") +
		   run(IOPF_ENGINE_PLAIN, "plain");
	printf("vevent: %s (%d failures)\n", failures ? "FAIL" : "PASS",
	       failures);
	return failures ? 1 : 0;
}
