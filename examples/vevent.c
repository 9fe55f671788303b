/* SPDX-License-Identifier: MIT */
/*
 * iopf-vevent: forward a vIOMMU's events to a guest, and tell it when some
 * were lost.
 *
 * What a VMM's virtual SMMUv3 does with a hardware-accelerated vIOMMU: the
 * physical SMMU reports a guest device's faults (translation, permission) as
 * 32-byte event records through a vEVENTQ; the VMM copies each into the
 * guest's own event queue and, when events were lost (the vEVENTQ was full,
 * or the guest's queue is), raises the queue's overflow flag (EVTQ_PROD.OVFLG
 * on a real SMMUv3) so that the guest driver knows to rescan.
 *
 * Here the "guest" is a ring of 32-byte entries drained now and then, and the
 * events are raised in bursts on the library's mock kernel (iopf_mock_vevent):
 * a burst larger than --depth makes the kernel lose events, which the library
 * counts exactly from their sequence numbers.
 *
 *   iopf-vevent [--engine uring|plain] [--events N] [--burst N] [--depth N]
 *               [--guest-slots N]
 *
 * Output: what was raised, delivered and lost, and how often the guest saw
 * its overflow flag raised. Exit status: 0 when every event raised was either
 * delivered or counted lost, exactly; 1 on failure; 2 on a usage error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libiopf.h>
#include <libiopf/mock.h>

#include "source.h"

/* <linux/iommufd.h>: IOMMU_VEVENTQ_TYPE_ARM_SMMUV3 and its record. */
#define VEVENTQ_TYPE_ARM_SMMUV3 1
struct smmu_event {
	uint64_t evt[4];
};
#define EVT_F_TRANSLATION 0x10u /* SMMUv3 event id: translation fault */
#define VIRT_SID	  0x20u /* the device's virtual stream id (its vDEVICE) */

/* The guest's event queue: a ring with an overflow flag. */
struct guest_evtq {
	struct smmu_event *ring;
	uint32_t slots, prod, cons;
	bool ovflg;
	uint64_t written, overflows, dropped;
};

struct vm {
	struct guest_evtq q;
	uint64_t delivered, lost, lost_records, calls;
	int error;
};

static void guest_overflow(struct guest_evtq *q)
{
	/* EVTQ_PROD.OVFLG toggles: the guest compares it with its own copy. */
	q->ovflg = !q->ovflg;
	q->overflows++;
}

static void guest_push(struct guest_evtq *q, const struct smmu_event *ev)
{
	if (q->prod - q->cons == q->slots) {
		q->dropped++;
		guest_overflow(q);
		return;
	}
	q->ring[q->prod % q->slots] = *ev;
	q->prod++;
	q->written++;
}

/* The guest driver reads what is there. */
static void guest_drain(struct guest_evtq *q)
{
	q->cons = q->prod;
}

/* The handler: one call per read, with every event it gave, in order. */
static int forward(struct iopf_veventq *vq, const struct iopf_vevent *evs,
		   unsigned int n, void *user)
{
	struct vm *vm = user;

	(void)vq;
	vm->calls++;
	for (unsigned int i = 0; i < n; i++) {
		const struct iopf_vevent *e = &evs[i];

		if (e->lost) {
			vm->lost += e->lost;
			guest_overflow(&vm->q);
		}
		if (e->flags & IOPF_VEVENT_LOST) {
			vm->lost_records++;
			continue;
		}
		if (e->len != sizeof(struct smmu_event)) {
			vm->error = -EPROTO;
			return -EPROTO;
		}
		guest_push(&vm->q, e->data);
		vm->delivered++;
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: iopf-vevent [--engine uring|plain] [--events N] "
		   "[--burst N] [--depth N] [--guest-slots N]\n");
}

static int parse_u32(const char *s, uint32_t min, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || !*s || s[0] == '-' || v < min || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"engine", required_argument, NULL, 'e'},
		{"events", required_argument, NULL, 'n'},
		{"burst", required_argument, NULL, 'b'},
		{"depth", required_argument, NULL, 'd'},
		{"guest-slots", required_argument, NULL, 'g'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	uint32_t events = 1000, burst = 16, depth = 64, slots = 256;
	struct iopf_engine_opts eo = {.size = sizeof(eo),
				      .kind = IOPF_ENGINE_URING};
	struct iopf_viommu_args va = {.size = sizeof(va),
				      .type = IOPF_MOCK_VIOMMU_TYPE_SELFTEST};
	struct iopf_hwpt_args pa = {.size = sizeof(pa),
				    .flags = IOPF_HWPT_ALLOC_NEST_PARENT};
	static const uint32_t stage1 = 0xbadbeef;
	struct iopf_hwpt_args na = {.size = sizeof(na),
				    .data_type = 0xdead,
				    .data_len = sizeof(stage1),
				    .data = &stage1};
	struct iopf_veventq_opts vo = {.size = sizeof(vo),
				       .type = VEVENTQ_TYPE_ARM_SMMUV3};
	uint32_t ioas = 0, dev = 0, parent = 0, viommu = 0, vdev = 0,
		 nested = 0;
	struct iopf_veventq_stats st = {.size = sizeof(st)};
	/* vEVENTQs came with Linux 6.15: the mock follows 7.3. */
	struct iopf_mock_opts mo = {.size = sizeof(mo),
				    .kernel = IOPF_MOCK_KERNEL_7_3};
	struct iopf_veventq *vq = NULL;
	struct iopf_engine *e = NULL;
	struct iopf_ctx *ctx = NULL;
	struct iopf_mock *m = NULL;
	struct vm vm;
	uint64_t raised = 0;
	int opt, rc;
	bool ok = true;

	memset(&vm, 0, sizeof(vm));
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'e':
			if (!strcmp(optarg, "uring"))
				eo.kind = IOPF_ENGINE_URING;
			else if (!strcmp(optarg, "plain"))
				eo.kind = IOPF_ENGINE_PLAIN;
			else
				goto bad;
			break;
		case 'n':
			if (parse_u32(optarg, 1, &events))
				goto bad;
			break;
		case 'b':
			if (parse_u32(optarg, 1, &burst))
				goto bad;
			break;
		case 'd':
			if (parse_u32(optarg, 1, &depth))
				goto bad;
			break;
		case 'g':
			if (parse_u32(optarg, 1, &slots))
				goto bad;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (optind < argc) {
		opt = -1;
		optarg = argv[optind];
		goto bad;
	}
	vm.q.slots = slots;
	vm.q.ring = calloc(slots, sizeof(*vm.q.ring));
	if (!vm.q.ring)
		return 1;

	/* The VMM's setup: the vIOMMU on the device's nesting parent, the
	 * guest's id for the device (vDEVICE), the vEVENTQ, and the guest's
	 * stage-1 HWPT on the vIOMMU with the device attached. */
	rc = iopf_mock_new(&mo, &m);
	if (!rc)
		rc = iopf_mock_ctx_new(m, &ctx);
	if (!rc)
		rc = iopf_engine_new(&eo, &e);
	if (!rc)
		rc = iopf_mock_dev_new(m, &dev);
	if (!rc)
		rc = iopf_ioas_alloc(ctx, &ioas);
	if (!rc) {
		pa.dev_id = dev;
		pa.pt_id = ioas;
		rc = iopf_hwpt_alloc(ctx, NULL, &pa, &parent);
	}
	if (!rc) {
		va.dev_id = dev;
		va.hwpt_id = parent;
		rc = iopf_viommu_alloc(ctx, &va, &viommu);
	}
	if (!rc)
		rc = iopf_vdevice_alloc(ctx, viommu, dev, VIRT_SID, &vdev);
	if (!rc) {
		vo.depth = depth;
		vo.handler = forward;
		vo.user = &vm;
		rc = iopf_veventq_new(ctx, e, viommu, &vo, &vq);
	}
	if (!rc) {
		na.dev_id = dev;
		na.pt_id = viommu;
		rc = iopf_hwpt_alloc(ctx, NULL, &na, &nested);
	}
	if (!rc)
		rc = iopf_mock_dev_attach(m, dev, nested);
	if (rc) {
		fprintf(stderr, "setup: %s (%s)\n", strerror(-rc),
			ctx ? iopf_ctx_errmsg(ctx) : "");
		ok = false;
		goto out;
	}
	printf("vEVENTQ %u (fd %d) on vIOMMU %u, depth %u, %s engine\n",
	       iopf_veventq_id(vq), iopf_veventq_fd(vq), viommu, depth,
	       eo.kind == IOPF_ENGINE_URING ? "io_uring" : "plain");

	/* The "hardware" raises bursts; the VMM dispatches between them. */
	while (raised < events && !vm.error) {
		for (uint32_t i = 0; i < burst && raised < events; i++) {
			struct smmu_event ev = {
				.evt = {EVT_F_TRANSLATION |
						((uint64_t)VIRT_SID << 32),
					0, 0x100000000ull + 4096 * raised, 0},
			};

			rc = iopf_mock_vevent(m, dev, VEVENTQ_TYPE_ARM_SMMUV3,
					      &ev, sizeof(ev), NULL);
			if (rc) {
				fprintf(stderr, "raise: %s\n", strerror(-rc));
				ok = false;
				goto out;
			}
			raised++;
		}
		do {
			rc = iopf_engine_dispatch(e, 0);
			if (rc < 0) {
				fprintf(stderr, "dispatch: %s\n",
					strerror(-rc));
				ok = false;
				goto out;
			}
		} while (rc > 0);
		guest_drain(&vm.q);
	}
	/* What the last burst left: read until all is accounted for. */
	for (int i = 0; i < 1000 && vm.delivered + vm.lost < raised; i++)
		if (iopf_engine_dispatch(e, 10) < 0)
			break;
	rc = iopf_veventq_stats(vq, &st);

	printf("events raised %" PRIu64 ": delivered %" PRIu64 ", lost %" PRIu64
	       " (%" PRIu64 " LOST_EVENTS records), in %" PRIu64
	       " handler calls\n",
	       raised, vm.delivered, vm.lost, vm.lost_records, vm.calls);
	printf("guest: %" PRIu64 " events written, %" PRIu64
	       " dropped (its queue full), overflow flag raised %" PRIu64
	       " times\n",
	       vm.q.written, vm.q.dropped, vm.q.overflows);
	printf("counters: events %" PRIu64 " lost %" PRIu64
	       " lost_records %" PRIu64 " reads %" PRIu64 " max_batch %" PRIu64
	       "\n",
	       st.events, st.lost, st.lost_records, st.reads, st.max_batch);
	ok = !rc && !vm.error && vm.delivered + vm.lost == raised &&
	     st.events == vm.delivered && st.lost == vm.lost &&
	     (vm.lost == 0) == (vm.q.overflows == vm.q.dropped);

	if (!ok)
		fprintf(stderr, "the books do not balance\n");
out:
	/* Teardown in a VMM's order: device, HWPT, queue, vDEVICE, vIOMMU
	 * (whatever the setup got to). */
	if (nested) {
		iopf_mock_dev_detach(m, dev);
		iopf_destroy(ctx, nested);
	}
	iopf_veventq_free(vq);
	if (vdev)
		iopf_destroy(ctx, vdev);
	if (viommu)
		iopf_destroy(ctx, viommu);
	if (parent)
		iopf_destroy(ctx, parent);
	if (ioas)
		iopf_destroy(ctx, ioas);
	iopf_engine_free(e);
	iopf_ctx_free(ctx);
	iopf_mock_free(m);
	free(vm.q.ring);
	return ok ? 0 : 1;
bad:
	example_bad_arg("iopf-vevent", longopts, opt, optarg);
	usage(stderr);
	return 2;
}
