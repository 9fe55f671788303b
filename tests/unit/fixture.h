/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The unit tests' common setup over the mock kernel: a mock, a context, an
 * engine of a given kind, an IOAS, and per fault queue one device, its parent
 * HWPT, the queue, a nested HWPT that reports into it (data type 0xdead with a
 * 4-byte payload, as the kernel's selftest does) and the attach. Teardown
 * frees everything in a clean order and asserts the mock's books: no answer
 * with an unknown cookie, no duplicate, no bad code, and nothing read left
 * unanswered, unless the test said to expect it.
 *
 * Every helper asserts with cmocka, so it is meant to be called from a test
 * or a setup/teardown function.
 */
#ifndef IOPF_TEST_FIXTURE_H
#define IOPF_TEST_FIXTURE_H

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <libiopf.h>
#include <libiopf/mock.h>

#define FX_MAX_QUEUES 256
#define FX_MAX_DEVS 272
#define FX_MAX_ANSWERS 8192
#define FX_PAYLOAD 0xbadbeefu /* struct iommu_hwpt_selftest.iotlb */
#define FX_DATA_SELFTEST 0xdeadu /* IOMMU_HWPT_DATA_SELFTEST */

/* What the answered callback saw, in order. */
struct fx_answer {
	struct iopf_queue *q;
	uint64_t tag;
	uint32_t cookie;
	uint32_t code;
	int result;
};

struct fx_queue {
	struct iopf_queue *q; /* NULL once freed */
	uint32_t fault_id;
	uint32_t dev; /* the queue's first device */
	uint32_t parent; /* NEST_PARENT HWPT over the IOAS */
	uint32_t hwpt; /* nested HWPT with the fault queue */
};

struct fx_dev {
	uint32_t id;
	uint32_t hwpt; /* attached to; 0: detached */
};

/* Queue options the tests vary; the fixture fills size, user and answered. */
struct fx_qcfg {
	uint32_t batch;
	uint32_t max_group;
	uint64_t deadline_ns;
	iopf_handler_fn handler;
	bool no_answered; /* leave the answered callback unset */
};

struct fx_cfg {
	uint32_t kernel; /* IOPF_MOCK_KERNEL_*; 0: the mock's default */
	uint32_t mock_flags; /* IOPF_MOCK_NOFIT_ZERO */
};

struct fx {
	int kind; /* enum iopf_engine_kind */
	struct iopf_mock *m;
	struct iopf_ctx *ctx;
	struct iopf_engine *e; /* NULL once freed */
	uint32_t ioas;
	unsigned int nq;
	struct fx_queue qs[FX_MAX_QUEUES];
	unsigned int ndev;
	struct fx_dev devs[FX_MAX_DEVS];

	pthread_mutex_t alock;
	unsigned int nanswers;
	struct fx_answer answers[FX_MAX_ANSWERS];

	void *priv; /* the test's own, for handlers */

	/* What the teardown accepts in the mock's books. */
	uint64_t expect_bad_unknown;
	uint64_t expect_bad_duplicate;
	uint64_t expect_bad_code;
	bool allow_outstanding; /* read groups not answered when the
				   queues are gone (a lost write) */
	bool allow_pending; /* groups never read (a dead queue) */
	bool inited;
};

/* For cmocka_unit_test_prestate_setup_teardown(): the prestate is a pointer
 * to an int, the engine kind. setup allocates a struct fx (not initialised:
 * the test calls fx_init()), teardown finishes and frees it. */
int fx_setup(void **state);
int fx_teardown(void **state);

extern int fx_kind_uring, fx_kind_plain;

/* A test run on both engines, named "<test>/uring" and "<test>/plain". */
#define FX_BOTH(f)                                                             \
	{ #f "/uring", f, fx_setup, fx_teardown, &fx_kind_uring },             \
	{                                                                      \
		#f "/plain", f, fx_setup, fx_teardown, &fx_kind_plain          \
	}

/* The mock, context, engine and IOAS (cfg may be NULL). */
void fx_init(struct fx *f, const struct fx_cfg *cfg);
/* fx_init() and one queue with default options. */
void fx_init_default(struct fx *f);
/* One more queue with its device and HWPTs; returns its index. */
unsigned int fx_add_queue(struct fx *f, const struct fx_qcfg *qc);
/* One more device attached to queue qi's nested HWPT; returns its id. */
uint32_t fx_add_dev(struct fx *f, unsigned int qi);
void fx_detach(struct fx *f, uint32_t dev_id);
/* Attaches dev (again) to hwpt, e.g. a queue's nested HWPT after fx_detach. */
void fx_attach(struct fx *f, uint32_t dev_id, uint32_t hwpt);
/* Frees queue qi now (iopf_queue_free) and forgets it. */
void fx_free_queue(struct fx *f, unsigned int qi);
/* Everything, asserting the mock's books. Safe to call twice. */
void fx_fini(struct fx *f);

/* Triggers a group of n records on dev: record i has address
 * addr + i * 4096, pasid 0 and perm READ; returns the mock's group id. */
uint64_t fx_trigger_dev(struct fx *f, uint32_t dev, uint32_t grpid,
			unsigned int n, uint64_t addr);
/* The same on queue qi's first device. */
uint64_t fx_trigger(struct fx *f, unsigned int qi, uint32_t grpid,
		    unsigned int n, uint64_t addr);

/* Waits and pulls until want groups are held in gs[] or timeout_ms passed;
 * returns how many it got. Fails the test on an engine error. */
unsigned int fx_pull(struct fx *f, struct iopf_group **gs, unsigned int want,
		     int timeout_ms);
/* Processes until the mock saw `answered` answers in all (success + invalid
 * + auto), or timeout_ms passed; returns that total. */
uint64_t fx_flush_until(struct fx *f, uint64_t answered, int timeout_ms);

struct iopf_mock_stats fx_mstats(struct fx *f);
struct iopf_stats fx_qstats(struct fx *f, unsigned int qi);
struct iopf_mock_group_info fx_ginfo(struct fx *f, uint64_t gid);
/* The answered callback's entry for tag, or NULL. */
const struct fx_answer *fx_answer_for(struct fx *f, uint64_t tag);

uint64_t fx_now_ms(void);
/* CPU time of the calling thread, in ms. */
uint64_t fx_cpu_ms(void);

#endif
