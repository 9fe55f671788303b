/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * 100k faults through each engine, in groups of 1 to 8 records (a seeded
 * PRNG, so every run is the same), answers interleaved with reads: some at
 * once, some held and given with the next round's reads, SUCCESS or INVALID.
 * At the end the mock's log must show every group answered exactly once with
 * the code given: nothing lost, nothing duplicated, nothing unknown.
 *
 * And nothing on the path allocates per fault: malloc and friends are
 * interposed in this executable (forwarding to glibc) and counted while the
 * 100k faults run, after a warm-up that takes every pool (the library's
 * group slots and their fault arrays, the mock's group free lists, cookie
 * table and staging buffer) to the high-water mark of the workload. The
 * count, library and mock together, must be zero.
 */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"

/* ---- allocation counting ------------------------------------------------- */

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void __libc_free(void *p);
extern void *__libc_memalign(size_t align, size_t size);

static int counting;
static unsigned long n_malloc, n_calloc, n_realloc, n_free, n_memalign;

#define COUNT(var)                                                             \
	do {                                                                   \
		if (__atomic_load_n(&counting, __ATOMIC_RELAXED))              \
			__atomic_add_fetch(&var, 1, __ATOMIC_RELAXED);         \
	} while (0)

void *malloc(size_t size)
{
	COUNT(n_malloc);
	return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
	COUNT(n_calloc);
	return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
	COUNT(n_realloc);
	return __libc_realloc(p, size);
}

void free(void *p)
{
	if (p)
		COUNT(n_free);
	__libc_free(p);
}

void *memalign(size_t align, size_t size)
{
	COUNT(n_memalign);
	return __libc_memalign(align, size);
}

void *aligned_alloc(size_t align, size_t size)
{
	COUNT(n_memalign);
	return __libc_memalign(align, size);
}

int posix_memalign(void **out, size_t align, size_t size)
{
	void *p;

	COUNT(n_memalign);
	if (align < sizeof(void *) || (align & (align - 1)))
		return EINVAL;
	p = __libc_memalign(align, size);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

static unsigned long allocs(void)
{
	return n_malloc + n_calloc + n_realloc + n_free + n_memalign;
}

static void allocs_reset(void)
{
	n_malloc = n_calloc = n_realloc = n_free = n_memalign = 0;
}

/* Whether the allocator calls reach the counting functions above: not under
 * valgrind, which replaces the executable's allocator with its own. */
static bool interposed(void)
{
	void *(*volatile alloc)(size_t) = malloc;
	void *p;

	allocs_reset();
	__atomic_store_n(&counting, 1, __ATOMIC_SEQ_CST);
	p = alloc(16);
	__atomic_store_n(&counting, 0, __ATOMIC_SEQ_CST);
	free(p);
	return n_malloc == 1;
}

/* The interposition sees the library's and the mock's calls: an engine and a
 * mock made and freed while counting must count. */
static void counting_works(void)
{
	struct iopf_engine *e = NULL;
	struct iopf_mock *m = NULL;

	allocs_reset();
	__atomic_store_n(&counting, 1, __ATOMIC_SEQ_CST);
	assert_int_equal(iopf_engine_new(NULL, &e), 0);
	iopf_engine_free(e);
	assert_int_equal(iopf_mock_new(NULL, &m), 0);
	iopf_mock_free(m);
	__atomic_store_n(&counting, 0, __ATOMIC_SEQ_CST);
	assert_true(n_calloc >= 2);
	assert_true(n_free >= 2);
	allocs_reset();
}

/* ---- the workload --------------------------------------------------------- */

#define SOAK_FAULTS 100000u
#define WARM_FAULTS 5000u
#define MAX_ROUND 16u /* new groups per round */
#define BURST 48u /* > the most groups a round keeps alive (2 x MAX_ROUND),
		     < one chunk of the library's group slots (64) */
#define MAX_GROUPS 40000u
#define ADDR_SHIFT 20 /* addr = seq << 20 | record << 12 */

struct soak {
	struct fx *f;
	uint64_t rng;
	uint64_t *gid; /* by seq */
	uint8_t *code; /* by seq: the answer given */
	uint8_t *len; /* by seq: records */
	uint32_t nseq;
	struct iopf_group *held[2 * MAX_ROUND + BURST];
	unsigned int nheld;
	uint64_t faults;
	unsigned int errors; /* checked outside the counted window */
};

static uint32_t rnd(struct soak *s)
{
	/* xorshift64* */
	s->rng ^= s->rng >> 12;
	s->rng ^= s->rng << 25;
	s->rng ^= s->rng >> 27;
	return (uint32_t)((s->rng * 2685821657736338717ull) >> 32);
}

static void trigger(struct soak *s, unsigned int n)
{
	struct iopf_mock_fault recs[8];
	uint32_t seq = s->nseq++;

	if (seq >= MAX_GROUPS) {
		s->errors++;
		return;
	}
	memset(recs, 0, sizeof(recs));
	for (unsigned int i = 0; i < n; i++) {
		recs[i].perm = IOPF_PERM_READ | (i & 1 ? IOPF_PERM_WRITE : 0);
		recs[i].addr = (uint64_t)seq << ADDR_SHIFT | (uint64_t)i << 12;
	}
	s->len[seq] = (uint8_t)n;
	s->code[seq] = (uint8_t)(rnd(s) & 1);
	if (iopf_mock_trigger(s->f->m, s->f->qs[0].dev, seq, recs, n,
			      &s->gid[seq]))
		s->errors++;
	s->faults += n;
}

static uint32_t seq_of(const struct iopf_group *g)
{
	return (uint32_t)(iopf_group_fault(g, 0)->addr >> ADDR_SHIFT);
}

/* A received group, checked: the records it was triggered with. */
static void check(struct soak *s, const struct iopf_group *g)
{
	uint32_t seq = seq_of(g);
	unsigned int n = iopf_group_count(g);

	if (seq >= s->nseq || n != s->len[seq]) {
		s->errors++;
		return;
	}
	for (unsigned int i = 0; i < n; i++) {
		const struct iopf_fault *ft = iopf_group_fault(g, i);

		if (ft->addr != ((uint64_t)seq << ADDR_SHIFT | (uint64_t)i << 12) ||
		    ft->grpid != seq ||
		    ft->flags != (i == n - 1 ? IOPF_FAULT_LAST_PAGE : 0u) ||
		    ft->cookie != iopf_group_cookie(g))
			s->errors++;
	}
}

static void answer(struct soak *s, struct iopf_group *g)
{
	if (iopf_group_respond(g, s->code[seq_of(g)]))
		s->errors++;
}

static void answer_held(struct soak *s)
{
	for (unsigned int i = 0; i < s->nheld; i++)
		answer(s, s->held[i]);
	s->nheld = 0;
}

/* Receives want groups; answers each at once or holds it for the next round
 * (hold: -1 random, 0 never, 1 always). */
static void receive(struct soak *s, unsigned int want, int hold)
{
	struct iopf_group *g[64];
	unsigned int got = 0, idle = 0;

	while (got < want && idle < 50) {
		int rc = iopf_engine_wait(s->f->e, 100);

		if (rc < 0) {
			s->errors++;
			return;
		}
		rc = iopf_engine_pull(s->f->e, g, 64);
		if (rc < 0) {
			s->errors++;
			return;
		}
		idle = rc ? 0 : idle + 1;
		for (int i = 0; i < rc; i++) {
			bool keep = hold < 0 ? (rnd(s) & 1) != 0 : hold != 0;

			check(s, g[i]);
			if (keep && s->nheld < sizeof(s->held) / sizeof(s->held[0]))
				s->held[s->nheld++] = g[i];
			else
				answer(s, g[i]);
		}
		got += (unsigned int)rc;
	}
	if (got != want)
		s->errors++;
}

/* Rounds of 1..MAX_ROUND groups of 1..8 records until `faults` more faults
 * went through. The previous round's held groups are answered after this
 * round's faults are raised, so their write goes with this round's reads. */
static void rounds(struct soak *s, uint64_t faults)
{
	uint64_t end = s->faults + faults;

	while (s->faults < end && !s->errors) {
		unsigned int r = 1 + rnd(s) % MAX_ROUND;

		for (unsigned int i = 0; i < r; i++)
			trigger(s, 1 + rnd(s) % 8);
		answer_held(s);
		receive(s, r, -1);
	}
}

/* BURST groups of n records alive at once. */
static void burst(struct soak *s, unsigned int n)
{
	for (unsigned int i = 0; i < BURST; i++)
		trigger(s, n);
	receive(s, BURST, 1);
	answer_held(s);
	if (iopf_engine_flush(s->f->e))
		s->errors++;
}

static void soak(void **state)
{
	struct fx *f = *state;
	struct soak s = { .f = f, .rng = 0x9e3779b97f4a7c15ull };
	struct iopf_mock_stats ms;
	struct iopf_stats st;
	unsigned long counted;
	bool count;
	uint64_t steady;

	s.gid = calloc(MAX_GROUPS, sizeof(*s.gid));
	s.code = calloc(MAX_GROUPS, 1);
	s.len = calloc(MAX_GROUPS, 1);
	assert_non_null(s.gid);
	assert_non_null(s.code);
	assert_non_null(s.len);
	fx_init(f, NULL);
	fx_add_queue(f, &(struct fx_qcfg){ .no_answered = true });

	/* Warm-up: every group size at the workload's peak number of groups
	 * alive (size 8 twice, so that the library's free list has cycled
	 * through all its slots), then a few thousand faults at random. */
	for (unsigned int n = 1; n <= 8; n++)
		burst(&s, n);
	burst(&s, 8);
	rounds(&s, WARM_FAULTS);
	answer_held(&s);
	assert_int_equal(s.errors, 0);

	count = interposed();
	if (count)
		counting_works();
	else
		print_message("allocations not counted: malloc is not "
			      "interposed here (valgrind?)\n");
	steady = s.faults;
	__atomic_store_n(&counting, 1, __ATOMIC_SEQ_CST);
	rounds(&s, SOAK_FAULTS);
	answer_held(&s);
	iopf_engine_flush(f->e);
	__atomic_store_n(&counting, 0, __ATOMIC_SEQ_CST);
	counted = allocs();
	steady = s.faults - steady;

	assert_int_equal(s.errors, 0);
	assert_true(steady >= SOAK_FAULTS);
	if (count && counted)
		fail_msg("%lu allocator calls during %llu steady-state faults: "
			 "malloc %lu calloc %lu realloc %lu free %lu memalign %lu",
			 counted, (unsigned long long)steady, n_malloc, n_calloc,
			 n_realloc, n_free, n_memalign);

	/* The mock's log: every group answered once, with its code. */
	assert_int_equal(fx_flush_until(f, s.nseq, 10000), s.nseq);
	ms = fx_mstats(f);
	assert_int_equal(ms.groups_triggered, s.nseq);
	assert_int_equal(ms.faults_triggered, s.faults);
	assert_int_equal(ms.answered_success + ms.answered_invalid, s.nseq);
	assert_int_equal(ms.bad_unknown, 0);
	assert_int_equal(ms.bad_duplicate, 0);
	assert_int_equal(ms.bad_code, 0);
	assert_int_equal(ms.pending, 0);
	assert_int_equal(ms.outstanding, 0);
	for (uint32_t seq = 0; seq < s.nseq; seq++) {
		struct iopf_mock_group_info gi = fx_ginfo(f, s.gid[seq]);

		if (gi.state != IOPF_MOCK_GROUP_ANSWERED || gi.answers != 1 ||
		    gi.code != s.code[seq])
			fail_msg("group %u: state %u answers %u code %u, want "
				 "ANSWERED once with %u",
				 seq, gi.state, gi.answers, gi.code, s.code[seq]);
	}
	st = fx_qstats(f, 0);
	assert_int_equal(st.faults, s.faults);
	assert_int_equal(st.groups, s.nseq);
	assert_int_equal(st.answers_success + st.answers_invalid, s.nseq);
	assert_int_equal(st.answers_auto + st.answers_stale + st.answers_failed, 0);
	assert_int_equal(st.malformed, 0);
	print_message("%s: %u groups, %llu faults (%llu counted), %llu reads, "
		      "%llu writes, 0 allocations\n",
		      iopf_engine_kind(f->e) == IOPF_ENGINE_URING ? "uring" : "plain",
		      s.nseq, (unsigned long long)s.faults,
		      (unsigned long long)steady, (unsigned long long)st.reads,
		      (unsigned long long)st.writes);
	free(s.gid);
	free(s.code);
	free(s.len);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		FX_BOTH(soak),
	};

	/* IOPF_TEST_FILTER="deadline*" runs only the matching tests. */
	if (getenv("IOPF_TEST_FILTER"))
		cmocka_set_test_filter(getenv("IOPF_TEST_FILTER"));
	return cmocka_run_group_tests_name("soak", tests, NULL, NULL);
}
