/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The soak: a million faults through the mock kernel on each engine, as a VMM
 * that runs for months would see them.
 *
 * Two queues with two devices each. The engine's thread triggers groups of
 * random sizes (mostly 1 to 8 records, now and then up to 64, more than a
 * queue's first buffer holds) while keeping at most WINDOW groups unanswered,
 * and dispatches them. Its handler answers some at once and hands the others
 * to one of four answer threads with a random delay (0 to 500 us), which
 * answer them from there. Every group's code (SUCCESS or INVALID) is a
 * function of its sequence number, carried in its fault addresses. Every few
 * hundred groups a failure is injected at random: a read that returns 0 or
 * EAGAIN/EINTR with groups pending, a group split across two reads, a write
 * that takes only some answers, or none, or fails with EAGAIN/EINTR, an ioctl
 * that fails with ENOMEM. None of these may lose or repeat an answer.
 *
 * Beside the faults, a vEVENTQ on the same engine takes the events another
 * thread raises in bursts, one in eight larger than its depth: every event is
 * delivered or counted lost, exactly.
 *
 * Before it, a warm-up takes every pool to the workload's high-water mark
 * (WINDOW groups on each queue, of each size from 64 records down).
 *
 * Checked: every group triggered is handed out exactly once with its records
 * intact; the answered callback reports each answer once, taken (result 0);
 * in the mock's log every group is ANSWERED exactly once with the code its
 * answerer chose, and no answer was unknown, duplicate or malformed; and
 * memory is flat: the heap in use (the sanitizer allocator's count under
 * ASan/TSan, mallinfo2() otherwise, less the mock's per-group log, which
 * keeps 16 bytes per group by design), the RSS, and the open fds, measured at
 * 10% and at 100% of each engine's run (with nothing in flight), grow by
 * less than a small bound; and the heap by less than a smaller one from 50%.
 *
 * Usage: soak [FAULTS [uring|plain|both]]: FAULTS (default 1000000) through
 * each engine. SOAK_FAULTS in the environment overrides it, SOAK_SEED fixes
 * the random choices (the seed is printed).
 */
#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libiopf.h>
#include <libiopf/mock.h>

#include "mock/mock-internal.h" /* the mock's per-group log, to discount it */

#define NQUEUES	       2
#define DEVS_PER_QUEUE 2
#define NTHREADS       4
#define WINDOW	       1024 /* groups triggered and not answered yet */
#define RING	       4096 /* per answer thread; > WINDOW */
#define MAX_DELAY_US   500
#define MAX_SEQ	       (1u << 22) /* groups in one engine's run, at most */

/* Heap growth allowed from 10% to 100% of a run, after the warm-up took every
 * pool to its high-water mark: allocator noise, and the read buffer grown by
 * an injected "does not fit" read. From 50% to 100% a smaller bound: a leak of
 * a single byte per group shows there (90000 groups and more). */
#define HEAP_SLACK	(256 * 1024)
#define HEAP_SLACK_LATE (64 * 1024)
#define RSS_SLACK	(4 * 1024 * 1024)

#define DIE(...)                                                               \
	do {                                                                   \
		fprintf(stderr, "soak: " __VA_ARGS__);                         \
		fputc('\n', stderr);                                           \
		exit(1);                                                       \
	} while (0)

/* ---- memory ------------------------------------------------------------ */

size_t __sanitizer_get_current_allocated_bytes(void) __attribute__((weak));

static size_t heap_in_use(void)
{
	struct mallinfo2 mi;

	if (__sanitizer_get_current_allocated_bytes)
		return __sanitizer_get_current_allocated_bytes();
	mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}

static size_t rss_bytes(void)
{
	unsigned long size = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &rss) != 2)
		rss = 0;
	fclose(f);
	return rss * (size_t)sysconf(_SC_PAGESIZE);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		n++;
	closedir(d);
	return n;
}

static void touch(void *p, size_t len)
{
	volatile unsigned char *c = p;

	for (size_t i = 0; i < len; i += 4096)
		c[i] = 0;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- random numbers: one generator per thread -------------------------- */

static uint32_t rnd(uint64_t *s)
{
	/* splitmix64 */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return (uint32_t)((z ^ (z >> 31)) >> 32);
}

/* The answer a group gets: a function of its sequence number. */
static uint32_t code_of(uint32_t seq)
{
	return (seq * 2654435761u) >> 31;
}

/* ---- answer threads ----------------------------------------------------- */

struct job {
	struct iopf_group *g;
	uint64_t due_us;
	uint32_t code;
};

struct answerer {
	pthread_t t;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job ring[RING];
	unsigned int head, tail; /* tail - head jobs */
	bool stop;
	struct soak *s;
};

struct soak {
	struct iopf_mock *m;
	struct iopf_ctx *ctx;
	struct iopf_engine *e;
	struct iopf_queue *q[NQUEUES];
	uint32_t fault_id[NQUEUES];
	uint32_t dev[NQUEUES * DEVS_PER_QUEUE];
	uint32_t hwpts[2 * NQUEUES];
	uint32_t ioas;
	uint64_t rng; /* the engine thread's */

	uint32_t nseq; /* groups triggered */
	uint64_t faults; /* records triggered */
	uint8_t *size; /* by sequence number: records */
	uint8_t *handed; /* by sequence number: times handed out */
	uint64_t *gid; /* by sequence number: the mock's group id */

	atomic_uint_fast64_t
		responded; /* iopf_group_respond() calls that took */
	uint64_t callbacks; /* answered callback (engine thread) */
	uint64_t injected;
	unsigned int zero_reads; /* READ_ZERO injected */
	struct answerer ans[NTHREADS];

	/* vIOMMU events beside the faults: a device behind a vIOMMU, its
	 * vEVENTQ on the same engine, and a thread raising bursts, some
	 * larger than the queue's depth (lost, counted exactly). */
	uint32_t vdev_dev, vparent, viommu, vdev, vnested;
	struct iopf_veventq *vq;
	pthread_t vthread;
	atomic_bool vstop;
	atomic_uint_fast64_t vraised;
	uint64_t vseed; /* the event thread's random seed, set before it runs */
	uint64_t vdelivered, vlost, vrecords; /* engine thread */
};

static void *answer_thread(void *arg)
{
	struct answerer *a = arg;
	struct soak *s = a->s;

	pthread_mutex_lock(&a->lock);
	for (;;) {
		struct job j;
		uint64_t now;
		int rc;

		while (a->head == a->tail && !a->stop)
			pthread_cond_wait(&a->cond, &a->lock);
		if (a->head == a->tail)
			break;
		j = a->ring[a->head % RING];
		now = now_us();
		if (j.due_us > now) {
			pthread_mutex_unlock(&a->lock);
			usleep((useconds_t)(j.due_us - now));
			pthread_mutex_lock(&a->lock);
		}
		a->head++;
		pthread_mutex_unlock(&a->lock);
		rc = iopf_group_respond(j.g, j.code);
		if (rc)
			DIE("respond from a thread: %d", rc);
		atomic_fetch_add(&s->responded, 1);
		pthread_mutex_lock(&a->lock);
	}
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

static void give(struct answerer *a, struct iopf_group *g, uint32_t code,
		 uint64_t due_us)
{
	pthread_mutex_lock(&a->lock);
	if (a->tail - a->head >= RING)
		DIE("answer ring full");
	a->ring[a->tail % RING] = (struct job){g, due_us, code};
	a->tail++;
	pthread_cond_signal(&a->cond);
	pthread_mutex_unlock(&a->lock);
}

/* ---- the engine's thread ------------------------------------------------ */

static void answered(struct iopf_queue *q, uint64_t tag, uint32_t cookie,
		     uint32_t code, int result, void *user)
{
	struct soak *s = user;

	if (result)
		DIE("answer (tag %llu cookie %u code %u) not taken: %d",
		    (unsigned long long)tag, cookie, code, result);
	s->callbacks++;
}

/* A group handed out: checks it against what was triggered, returns its
 * sequence number. */
static uint32_t check_group(struct soak *s, struct iopf_group *g)
{
	const struct iopf_fault *f0 = iopf_group_fault(g, 0);
	unsigned int n = iopf_group_count(g);
	uint32_t seq;

	if (!f0)
		DIE("a group with no records");
	seq = (uint32_t)(f0->addr >> 20);
	if (seq >= s->nseq)
		DIE("a group that was never triggered (seq %u)", seq);
	if (s->handed[seq]++)
		DIE("group %u handed out twice", seq);
	if (n != s->size[seq])
		DIE("group %u: %u records, %u triggered", seq, n, s->size[seq]);
	for (unsigned int i = 0; i < n; i++) {
		const struct iopf_fault *f = iopf_group_fault(g, i);

		if (f->addr != ((uint64_t)seq << 20 | (uint64_t)i << 12) ||
		    f->cookie != iopf_group_cookie(g) ||
		    !(f->flags & IOPF_FAULT_LAST_PAGE) != (i + 1 < n) ||
		    f->perm != (seq & 0xfu))
			DIE("group %u record %u is not what was triggered", seq,
			    i);
	}
	return seq;
}

static int handler(struct iopf_group *g, void *user)
{
	struct soak *s = user;
	uint32_t seq = check_group(s, g), r;

	r = rnd(&s->rng);
	if (r % 4 == 0) {
		if (iopf_group_respond(g, code_of(seq)))
			DIE("respond in the handler");
		atomic_fetch_add(&s->responded, 1);
	} else {
		give(&s->ans[r % NTHREADS], g, code_of(seq),
		     now_us() + (r >> 8) % (MAX_DELAY_US + 1));
	}
	return 0;
}

/* One group: of n records, or (n 0) of a random size; on a device of queue
 * qi, or (qi < 0) of any. */
static void trigger_one(struct soak *s, unsigned int n, int qi)
{
	struct iopf_mock_fault f[64];
	uint32_t r = rnd(&s->rng), seq = s->nseq;
	uint32_t dev = qi < 0 ? s->dev[(r >> 16) % (NQUEUES * DEVS_PER_QUEUE)]
			      : s->dev[qi * DEVS_PER_QUEUE +
				       (r >> 16) % DEVS_PER_QUEUE];
	int rc;

	if (!n)
		n = r % 64 == 0 ? 9 + (r >> 8) % 56 : 1 + (r >> 8) % 8;
	if (seq >= MAX_SEQ)
		DIE("too many groups");
	memset(f, 0, sizeof(f));
	for (unsigned int i = 0; i < n; i++) {
		f[i].addr = (uint64_t)seq << 20 | (uint64_t)i << 12;
		f[i].perm = seq & 0xfu;
	}
	rc = iopf_mock_trigger(s->m, dev, seq & 0xff, f, n, &s->gid[seq]);
	if (rc)
		DIE("trigger: %d", rc);
	s->size[seq] = (uint8_t)n;
	s->nseq++;
	s->faults += n;
}

/* One failure, at random; all of them are ones the library must ride out. */
static void inject(struct soak *s)
{
	uint32_t r = rnd(&s->rng);
	uint32_t fid = s->fault_id[(r >> 8) % NQUEUES];
	unsigned int nth = 1 + (r >> 12) % 3;
	int rc = 0;

	switch (r % 8) {
	case 0:
		/* A polled read of 0 is how an old kernel says "the group does
		 * not fit": the library grows its buffer, and at max_group
		 * gives up on the queue (-EMSGSIZE). So only a few. */
		if (s->zero_reads++ < 4)
			rc = iopf_mock_inject_fd(s->m, fid, IOPF_MOCK_READ_ZERO,
						 nth, 0);
		break;
	case 1:
		rc = iopf_mock_inject_fd(s->m, fid, IOPF_MOCK_READ_SPLIT, nth,
					 1 + (int)((r >> 16) % 3));
		break;
	case 2:
		rc = iopf_mock_inject_fd(s->m, fid, IOPF_MOCK_READ_ERRNO, nth,
					 r & 0x10000 ? EAGAIN : EINTR);
		break;
	case 3:
		rc = iopf_mock_inject_fd(s->m, fid, IOPF_MOCK_WRITE_SHORT, nth,
					 (int)((r >> 16) % 4));
		break;
	case 4:
		rc = iopf_mock_inject_fd(s->m, fid, IOPF_MOCK_WRITE_ERRNO, nth,
					 r & 0x10000 ? EAGAIN : EINTR);
		break;
	default: {
		/* An ioctl that fails: the caller sees it, nothing else. */
		uint32_t id = 0;

		rc = iopf_mock_inject_ioctl(s->m, 0x81 /* IOAS_ALLOC */, 1,
					    ENOMEM);
		if (!rc && iopf_ioas_alloc(s->ctx, &id) != -ENOMEM)
			DIE("injected ENOMEM not returned");
		if (!rc &&
		    (iopf_ioas_alloc(s->ctx, &id) || iopf_destroy(s->ctx, id)))
			DIE("IOAS after an injected failure");
		break;
	}
	}
	if (rc)
		DIE("inject: %d", rc);
	s->injected++;
}

static void drain(struct soak *s, const char *name)
{
	uint64_t t0 = now_us();

	while (s->callbacks < s->nseq) {
		int rc = iopf_engine_dispatch(s->e, 1);

		if (rc < 0)
			DIE("%s: dispatch: %d", name, rc);
		if (now_us() - t0 > 60u * 1000000)
			DIE("%s: a minute and %llu of %u answered", name,
			    (unsigned long long)s->callbacks, s->nseq);
	}
}

/*
 * Warm-up: every pool to the high-water mark the workload can reach (WINDOW
 * groups of the largest size on one queue, all held at once and then all
 * answered at once, then on the other queue, then of each smaller size: the
 * mock's group free lists, cookie tables and
 * staging buffers, the library's slots and their fault arrays, answer
 * buffers and read buffers), so that what grows afterwards is a leak and not
 * a pool meeting a new peak by chance.
 */
static void prime(struct soak *s, const char *name)
{
	static struct iopf_group *held[WINDOW];

	for (unsigned int k = 0; k < 7 * NQUEUES; k++) {
		unsigned int got = 0, n = 64u >> (k / NQUEUES);

		/* Each queue's own pools, one queue at a time. */
		for (unsigned int i = 0; i < WINDOW; i++)
			trigger_one(s, n, (int)(k % NQUEUES));
		/* All of them held at once, then all answered at once. */
		for (int i = 0; i < 10000 && got < WINDOW; i++) {
			int rc = iopf_engine_wait(s->e, 1);

			if (rc >= 0)
				rc = iopf_engine_pull(s->e, held + got,
						      WINDOW - got);
			if (rc < 0)
				DIE("%s: warm-up: %d", name, rc);
			got += (unsigned int)rc;
		}
		if (got < WINDOW)
			DIE("%s: warm-up: %u groups of %u", name, got, WINDOW);
		for (unsigned int i = 0; i < got; i++) {
			uint32_t seq = check_group(s, held[i]);

			if (iopf_group_respond(held[i], code_of(seq)))
				DIE("%s: warm-up: respond", name);
			atomic_fetch_add(&s->responded, 1);
		}
		drain(s, name);
	}
}

#define VQ_DEPTH 128

static int vhandler(struct iopf_veventq *vq, const struct iopf_vevent *evs,
		    unsigned int n, void *user)
{
	struct soak *s = user;

	(void)vq;
	for (unsigned int i = 0; i < n; i++) {
		s->vrecords++;
		s->vdelivered += !(evs[i].flags & IOPF_VEVENT_LOST);
		s->vlost += evs[i].lost;
	}
	return 0;
}

static void *vevent_thread(void *arg)
{
	struct soak *s = arg;
	uint64_t rng = s->vseed;

	while (!atomic_load(&s->vstop)) {
		/* Mostly small bursts; one in eight larger than the depth. */
		uint32_t burst = rnd(&rng) % 8
					 ? 1 + rnd(&rng) % 32
					 : VQ_DEPTH + rnd(&rng) % VQ_DEPTH;

		for (uint32_t i = 0; i < burst; i++) {
			int rc = iopf_mock_vevent(
				s->m, s->vdev_dev,
				IOPF_MOCK_VEVENTQ_TYPE_SELFTEST, NULL, 0, NULL);

			if (rc)
				DIE("vevent: %d", rc);
			atomic_fetch_add(&s->vraised, 1);
		}
		usleep(rnd(&rng) % 2000);
	}
	return NULL;
}

static void vsetup(struct soak *s)
{
	struct iopf_viommu_args va = {.size = sizeof(va),
				      .type = IOPF_MOCK_VIOMMU_TYPE_SELFTEST};
	struct iopf_hwpt_args pa = {.size = sizeof(pa),
				    .flags = IOPF_HWPT_ALLOC_NEST_PARENT};
	uint32_t payload = 0xbadbeef;
	struct iopf_hwpt_args na = {.size = sizeof(na),
				    .data_type = 0xdead,
				    .data_len = sizeof(payload),
				    .data = &payload};
	struct iopf_veventq_opts vo = {.size = sizeof(vo),
				       .type = IOPF_MOCK_VEVENTQ_TYPE_SELFTEST,
				       .depth = VQ_DEPTH,
				       .handler = vhandler,
				       .user = s};

	if (iopf_mock_dev_new(s->m, &s->vdev_dev))
		DIE("vEVENTQ device");
	pa.dev_id = na.dev_id = va.dev_id = s->vdev_dev;
	pa.pt_id = s->ioas;
	if (iopf_hwpt_alloc(s->ctx, NULL, &pa, &s->vparent))
		DIE("vEVENTQ parent");
	va.hwpt_id = s->vparent;
	if (iopf_viommu_alloc(s->ctx, &va, &s->viommu) ||
	    iopf_vdevice_alloc(s->ctx, s->viommu, s->vdev_dev, 9, &s->vdev) ||
	    iopf_veventq_new(s->ctx, s->e, s->viommu, &vo, &s->vq))
		DIE("vIOMMU, vDEVICE, vEVENTQ");
	na.pt_id = s->viommu;
	if (iopf_hwpt_alloc(s->ctx, NULL, &na, &s->vnested) ||
	    iopf_mock_dev_attach(s->m, s->vdev_dev, s->vnested))
		DIE("nested HWPT on the vIOMMU");
	s->vseed = 0x9e3779b97f4a7c15ull ^ s->rng;
	if (pthread_create(&s->vthread, NULL, vevent_thread, s))
		DIE("pthread_create");
}

/* Stops the event thread and reads until every event raised was delivered
 * or counted lost: exactly, or the soak fails. */
static void vfinish(struct soak *s, const char *name)
{
	uint64_t t0 = now_us(), raised;

	atomic_store(&s->vstop, true);
	pthread_join(s->vthread, NULL);
	raised = atomic_load(&s->vraised);
	while (s->vdelivered + s->vlost < raised && now_us() - t0 < 10000000)
		if (iopf_engine_dispatch(s->e, 1) < 0)
			break;
	if (s->vdelivered + s->vlost != raised)
		DIE("%s: vEVENTQ: %llu raised, %llu delivered + %llu lost",
		    name, (unsigned long long)raised,
		    (unsigned long long)s->vdelivered,
		    (unsigned long long)s->vlost);
	printf("soak: %s: vEVENTQ beside the faults: %llu events raised, %llu "
	       "delivered, %llu lost (counted exactly), %llu records\n",
	       name, (unsigned long long)raised,
	       (unsigned long long)s->vdelivered, (unsigned long long)s->vlost,
	       (unsigned long long)s->vrecords);
}

static void setup(struct soak *s, int kind)
{
	/* 7.3's rules: vIOMMUs and vEVENTQs too. */
	struct iopf_mock_opts mo = {.size = sizeof(mo),
				    .kernel = IOPF_MOCK_KERNEL_7_3};
	struct iopf_engine_opts eo = {.size = sizeof(eo),
				      .kind = (uint32_t)kind};
	uint32_t payload = 0xbadbeef;

	if (iopf_mock_new(&mo, &s->m) || iopf_mock_ctx_new(s->m, &s->ctx) ||
	    iopf_engine_new(&eo, &s->e) || iopf_ioas_alloc(s->ctx, &s->ioas))
		DIE("setup");
	for (int i = 0; i < NQUEUES; i++) {
		struct iopf_queue_opts qo = {
			.size = sizeof(qo),
			.batch = 16,
			.handler = handler,
			.answered = answered,
			.user = s,
		};
		uint32_t *dev = &s->dev[i * DEVS_PER_QUEUE];
		struct iopf_hwpt_args pa = {
			.size = sizeof(pa),
			.flags = IOPF_HWPT_ALLOC_NEST_PARENT};
		struct iopf_hwpt_args na = {.size = sizeof(na),
					    .data_type = 0xdead,
					    .data_len = sizeof(payload),
					    .data = &payload};

		for (int d = 0; d < DEVS_PER_QUEUE; d++)
			if (iopf_mock_dev_new(s->m, &dev[d]))
				DIE("dev");
		pa.dev_id = dev[0];
		pa.pt_id = s->ioas;
		na.dev_id = dev[0];
		if (iopf_hwpt_alloc(s->ctx, NULL, &pa, &s->hwpts[2 * i]) ||
		    iopf_queue_new(s->ctx, s->e, &qo, &s->q[i]))
			DIE("queue");
		na.pt_id = s->hwpts[2 * i];
		if (iopf_hwpt_alloc(s->ctx, s->q[i], &na, &s->hwpts[2 * i + 1]))
			DIE("nested HWPT");
		s->fault_id[i] = iopf_queue_id(s->q[i]);
		for (int d = 0; d < DEVS_PER_QUEUE; d++)
			if (iopf_mock_dev_attach(s->m, dev[d],
						 s->hwpts[2 * i + 1]))
				DIE("attach");
	}
	for (int t = 0; t < NTHREADS; t++) {
		struct answerer *a = &s->ans[t];

		a->s = s;
		pthread_mutex_init(&a->lock, NULL);
		pthread_cond_init(&a->cond, NULL);
		if (pthread_create(&a->t, NULL, answer_thread, a))
			DIE("pthread_create");
	}
}

struct mem {
	size_t heap, rss;
	int fds;
};

static struct mem measure(struct soak *s)
{
	struct mem m;
	size_t ginfo_cap, ginfo_used;

	/* The mock keeps 16 bytes of log per group for its lifetime, in one
	 * array that doubles: not the library's memory. Its capacity is heap,
	 * the part written so far is resident. */
	pthread_mutex_lock(&s->m->lock);
	ginfo_cap = (size_t)s->m->ginfo_cap * sizeof(*s->m->ginfo);
	ginfo_used = (size_t)(s->m->ngroups + 1) * sizeof(*s->m->ginfo);
	pthread_mutex_unlock(&s->m->lock);
	m.heap = heap_in_use() - ginfo_cap;
	m.rss = rss_bytes() - ginfo_used;
	m.fds = count_fds();
	return m;
}

static int run(int kind, uint64_t want_faults, uint64_t seed)
{
	struct soak *s = calloc(1, sizeof(*s));
	const char *name = kind == IOPF_ENGINE_URING ? "uring" : "plain";
	struct iopf_mock_stats st = {.size = sizeof(st)};
	uint64_t t0 = now_us(), next_inject = 300, next_trace = 10000, base;
	struct mem warm = {0}, mid = {0}, end;
	bool warmed = false, halfway = false;
	int rc;

	if (!s)
		DIE("oom");
	s->rng = seed;
	s->size = calloc(MAX_SEQ, 1);
	s->handed = calloc(MAX_SEQ, 1);
	s->gid = calloc(MAX_SEQ, sizeof(*s->gid));
	if (!s->size || !s->handed || !s->gid)
		DIE("oom");
	/* Resident from the start, so that the RSS measures the rest (a
	 * memset of calloc'd memory is optimised away). */
	touch(s->size, MAX_SEQ);
	touch(s->handed, MAX_SEQ);
	touch(s->gid, MAX_SEQ * sizeof(*s->gid));
	setup(s, kind);
	prime(s, name);
	vsetup(s);
	base = s->faults;

	while (s->faults - base < want_faults || s->callbacks < s->nseq ||
	       !warmed || !halfway) {
		uint64_t done = s->callbacks, f = s->faults - base;

		while (f < want_faults && s->nseq - done < WINDOW &&
		       (warmed || f < want_faults / 10) &&
		       (halfway || f < want_faults / 2)) {
			trigger_one(s, 0, -1);
			f = s->faults - base;
		}
		if (s->nseq >= next_inject && !getenv("SOAK_NO_INJECT")) {
			inject(s);
			next_inject = s->nseq + 100 + rnd(&s->rng) % 400;
		}
		rc = iopf_engine_dispatch(s->e, 1);
		if (rc < 0)
			DIE("%s: dispatch: %d", name, rc);
		if (getenv("SOAK_TRACE") && s->nseq >= next_trace) {
			struct mem m = measure(s);

			next_trace += 10000;
			printf("  %u groups: heap %zu rss %zu ginfo_cap %llu\n",
			       s->nseq, m.heap, m.rss,
			       (unsigned long long)s->m->ginfo_cap);
		}
		/* Measured when nothing is in flight, here and at the end, so
		 * that they are comparable. */
		if (!warmed && f >= want_faults / 10 &&
		    s->callbacks == s->nseq) {
			warm = measure(s);
			warmed = true;
		}
		if (!halfway && f >= want_faults / 2 &&
		    s->callbacks == s->nseq) {
			mid = measure(s);
			halfway = true;
		}
		if (now_us() - t0 > 20u * 60 * 1000000)
			DIE("%s: 20 minutes and not done: %llu of %u answered",
			    name, (unsigned long long)s->callbacks, s->nseq);
	}
	end = measure(s);
	vfinish(s, name);

	/* Every group once, every answer taken, the mock's books. */
	for (uint32_t i = 0; i < s->nseq; i++)
		if (s->handed[i] != 1)
			DIE("%s: group %u handed out %u times", name, i,
			    s->handed[i]);
	if (atomic_load(&s->responded) != s->nseq || s->callbacks != s->nseq)
		DIE("%s: %u groups, %llu answered, %llu reported", name,
		    s->nseq, (unsigned long long)atomic_load(&s->responded),
		    (unsigned long long)s->callbacks);
	if (iopf_mock_stats(s->m, &st))
		DIE("mock stats");
	if (st.groups_triggered != s->nseq || st.groups_delivered != s->nseq ||
	    st.answered_success + st.answered_invalid != s->nseq ||
	    st.bad_unknown || st.bad_duplicate || st.bad_code || st.pending ||
	    st.outstanding || st.auto_detach || st.auto_teardown)
		DIE("%s: mock: triggered %llu delivered %llu answered "
		    "%llu+%llu bad %llu/%llu/%llu pending %llu outstanding "
		    "%llu auto %llu/%llu",
		    name, (unsigned long long)st.groups_triggered,
		    (unsigned long long)st.groups_delivered,
		    (unsigned long long)st.answered_success,
		    (unsigned long long)st.answered_invalid,
		    (unsigned long long)st.bad_unknown,
		    (unsigned long long)st.bad_duplicate,
		    (unsigned long long)st.bad_code,
		    (unsigned long long)st.pending,
		    (unsigned long long)st.outstanding,
		    (unsigned long long)st.auto_detach,
		    (unsigned long long)st.auto_teardown);
	for (uint32_t i = 0; i < s->nseq; i++) {
		struct iopf_mock_group_info gi = {.size = sizeof(gi)};

		if (iopf_mock_group_info(s->m, s->gid[i], &gi) ||
		    gi.state != IOPF_MOCK_GROUP_ANSWERED || gi.answers != 1 ||
		    gi.code != code_of(i))
			DIE("%s: group %u: state %u, %u answers, code %u (want "
			    "%u)",
			    name, i, gi.state, gi.answers, gi.code, code_of(i));
	}

	printf("soak: %s: %llu faults in %u groups, %llu failures injected, "
	       "%.1f s; "
	       "heap %+lld bytes (%+lld from 50%%), rss %+lld KiB, fds %+d "
	       "from 10%% to 100%%\n",
	       name, (unsigned long long)s->faults, s->nseq,
	       (unsigned long long)s->injected, (double)(now_us() - t0) / 1e6,
	       (long long)end.heap - (long long)warm.heap,
	       (long long)end.heap - (long long)mid.heap,
	       ((long long)end.rss - (long long)warm.rss) / 1024,
	       end.fds - warm.fds);
	rc = 0;
	if ((long long)end.heap - (long long)warm.heap > HEAP_SLACK ||
	    (long long)end.heap - (long long)mid.heap > HEAP_SLACK_LATE) {
		printf("soak: %s: FAILED: the heap grew by %lld bytes from "
		       "10%%, %lld from 50%%\n",
		       name, (long long)end.heap - (long long)warm.heap,
		       (long long)end.heap - (long long)mid.heap);
		rc = 1;
	}
	/* Under ASan and TSan freed memory waits in a quarantine, resident:
	 * the allocator's own count above is what tells there. */
	if (!__sanitizer_get_current_allocated_bytes &&
	    (long long)end.rss - (long long)warm.rss > RSS_SLACK) {
		printf("soak: %s: FAILED: the RSS grew by %zu KiB\n", name,
		       (end.rss - warm.rss) / 1024);
		rc = 1;
	}
	if (end.fds != warm.fds) {
		printf("soak: %s: FAILED: %d fds more\n", name,
		       end.fds - warm.fds);
		rc = 1;
	}

	for (int t = 0; t < NTHREADS; t++) {
		struct answerer *a = &s->ans[t];

		pthread_mutex_lock(&a->lock);
		a->stop = true;
		pthread_cond_signal(&a->cond);
		pthread_mutex_unlock(&a->lock);
		pthread_join(a->t, NULL);
		pthread_cond_destroy(&a->cond);
		pthread_mutex_destroy(&a->lock);
	}
	iopf_mock_dev_detach(s->m, s->vdev_dev);
	if (iopf_destroy(s->ctx, s->vnested))
		DIE("destroy the nested HWPT on the vIOMMU");
	iopf_veventq_free(s->vq);
	if (iopf_destroy(s->ctx, s->vdev) || iopf_destroy(s->ctx, s->viommu) ||
	    iopf_destroy(s->ctx, s->vparent))
		DIE("destroy the vDEVICE, vIOMMU, parent");
	for (int i = 0; i < NQUEUES; i++)
		iopf_queue_free(s->q[i]);
	for (unsigned int i = 0; i < NQUEUES * DEVS_PER_QUEUE; i++)
		iopf_mock_dev_detach(s->m, s->dev[i]);
	for (int i = 2 * NQUEUES; i-- > 0;)
		if (iopf_destroy(s->ctx, s->hwpts[i]))
			DIE("destroy HWPT");
	/* The library destroyed each fault object when the last HWPT using it
	 * went (iopf_queue_free() could not: EBUSY). */
	for (int i = 0; i < NQUEUES; i++)
		if (iopf_destroy(s->ctx, s->fault_id[i]) != -ENOENT)
			DIE("a fault object outlived its queue and HWPTs");
	iopf_engine_free(s->e);
	iopf_ctx_free(s->ctx);
	iopf_mock_free(s->m);
	free(s->size);
	free(s->handed);
	free(s->gid);
	free(s);
	return rc;
}

int main(int argc, char **argv)
{
	uint64_t faults = argc > 1 ? strtoull(argv[1], NULL, 0) : 1000000;
	const char *which = argc > 2 ? argv[2] : "both";
	const char *env = getenv("SOAK_FAULTS");
	uint64_t seed = (uint64_t)time(NULL);
	int rc = 0;

	if (env && *env)
		faults = strtoull(env, NULL, 0);
	if (getenv("SOAK_SEED"))
		seed = strtoull(getenv("SOAK_SEED"), NULL, 0);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("soak: %llu faults, seed %llu (SOAK_SEED to repeat)\n",
	       (unsigned long long)faults, (unsigned long long)seed);
	if (!strcmp(which, "both")) {
		rc |= run(IOPF_ENGINE_URING, faults, seed);
		rc |= run(IOPF_ENGINE_PLAIN, faults, seed + 1);
	} else {
		rc |= run(strcmp(which, "plain") ? IOPF_ENGINE_URING
						 : IOPF_ENGINE_PLAIN,
			  faults, seed);
	}
	return rc;
}
