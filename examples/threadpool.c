/* SPDX-License-Identifier: MIT */
/*
 * iopf-threadpool: groups answered by a pool of worker threads.
 *
 * When handling a fault takes time (populating memory from a file or over the
 * network, asking a guest), the thread that runs the engine should only read:
 * it pulls groups with iopf_engine_pull() and hands them to worker threads
 * through a bounded queue; the workers "handle" them and answer with
 * iopf_group_respond(), which may be called from any thread. The answers
 * wake the engine through its eventfd and go out on its next run; the
 * answered callback, which runs on the engine's thread, counts what the
 * kernel did with each.
 *
 *   iopf-threadpool [--backend mock|kernel] [--engine uring|plain] [--batch N]
 *                   [--threads N] [--queue N] [--groups N] [--burst N]
 *                   [--group N] [--work-us N]
 *
 * The engine's thread also plays the device: it keeps --burst groups in
 * flight until --groups have been raised. Exit status: 0 when every group was
 * answered and the kernel took every answer, 1 on failure, 2 on a usage error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libiopf.h>

#include "source.h"

#define PAGE_SHIFT 12
#define RAM_BASE 0x40000000ull
#define RAM_PAGES 1024ull
#define HOLE_PAGES 128ull
#define MAX_THREADS 64
#define PULL_MAX 32
/* Without progress for this long, something is wrong: give up. */
#define STALL_MS 5000

/* A bounded queue of groups, from the engine's thread to the workers. When it
 * is full the engine's thread waits: back-pressure, the device waits longer. */
struct workq {
	pthread_mutex_t lock;
	pthread_cond_t not_empty, not_full;
	struct iopf_group **slots;
	unsigned int cap, head, len;
	bool closed;
};

struct pool {
	struct workq wq;
	unsigned int work_us;
	/* the workers' books, under stats_lock */
	pthread_mutex_t stats_lock;
	uint64_t handled, success, invalid, respond_errors;
	uint64_t per_thread[MAX_THREADS];
	/* the answered callback's: the engine's thread only */
	uint64_t taken_success, taken_invalid, refused;
};

struct worker {
	struct pool *p;
	unsigned int id;
	pthread_t thread;
};

static int workq_init(struct workq *q, unsigned int cap)
{
	q->slots = calloc(cap, sizeof(*q->slots));
	if (!q->slots)
		return -ENOMEM;
	q->cap = cap;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->not_empty, NULL);
	pthread_cond_init(&q->not_full, NULL);
	return 0;
}

static void workq_fini(struct workq *q)
{
	pthread_cond_destroy(&q->not_full);
	pthread_cond_destroy(&q->not_empty);
	pthread_mutex_destroy(&q->lock);
	free(q->slots);
}

/* Blocks while the queue is full. */
static void workq_push(struct workq *q, struct iopf_group *g)
{
	pthread_mutex_lock(&q->lock);
	while (q->len == q->cap)
		pthread_cond_wait(&q->not_full, &q->lock);
	q->slots[(q->head + q->len++) % q->cap] = g;
	pthread_cond_signal(&q->not_empty);
	pthread_mutex_unlock(&q->lock);
}

/* Blocks while the queue is empty; NULL once it is closed and empty. */
static struct iopf_group *workq_pop(struct workq *q)
{
	struct iopf_group *g = NULL;

	pthread_mutex_lock(&q->lock);
	while (!q->len && !q->closed)
		pthread_cond_wait(&q->not_empty, &q->lock);
	if (q->len) {
		g = q->slots[q->head];
		q->head = (q->head + 1) % q->cap;
		q->len--;
		pthread_cond_signal(&q->not_full);
	}
	pthread_mutex_unlock(&q->lock);
	return g;
}

static void workq_close(struct workq *q)
{
	pthread_mutex_lock(&q->lock);
	q->closed = true;
	pthread_cond_broadcast(&q->not_empty);
	pthread_mutex_unlock(&q->lock);
}

/* What a worker does with a group: here, decide and pretend to work. */
static uint32_t handle(const struct iopf_group *g, unsigned int work_us)
{
	uint32_t code = IOPF_RESP_SUCCESS;

	for (unsigned int i = 0; i < iopf_group_count(g); i++) {
		const struct iopf_fault *f = iopf_group_fault(g, i);

		if (f->addr < RAM_BASE ||
		    f->addr >= RAM_BASE + (RAM_PAGES << PAGE_SHIFT))
			code = IOPF_RESP_INVALID;
	}
	if (work_us) {
		struct timespec ts = { .tv_nsec = (long)work_us * 1000 };

		nanosleep(&ts, NULL);
	}
	return code;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct pool *p = w->p;
	struct iopf_group *g;

	while ((g = workq_pop(&p->wq))) {
		uint32_t code = handle(g, p->work_us);
		/* From this thread: the group goes back to the library, which
		 * wakes the engine's thread to write the answer. */
		int rc = iopf_group_respond(g, code);

		pthread_mutex_lock(&p->stats_lock);
		if (rc) {
			p->respond_errors++;
		} else {
			p->handled++;
			p->per_thread[w->id]++;
			if (code == IOPF_RESP_SUCCESS)
				p->success++;
			else
				p->invalid++;
		}
		pthread_mutex_unlock(&p->stats_lock);
		if (rc)
			fprintf(stderr, "worker %u: iopf_group_respond: %s\n", w->id,
				strerror(-rc));
	}
	return NULL;
}

/* On the engine's thread, during its runs: what the kernel did with each
 * answer the workers gave. */
static void answered(struct iopf_queue *q, uint64_t tag, uint32_t cookie,
		     uint32_t code, int result, void *user)
{
	struct pool *p = user;

	(void)q;
	(void)tag;
	if (result) {
		p->refused++;
		fprintf(stderr, "answer for cookie %u refused: %s\n", cookie,
			strerror(-result));
	} else if (code == IOPF_RESP_SUCCESS) {
		p->taken_success++;
	} else {
		p->taken_invalid++;
	}
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: iopf-threadpool [--backend mock|kernel] [--engine uring|plain] [--batch N]\n"
		"                       [--threads N] [--queue N] [--groups N] [--burst N]\n"
		"                       [--group N] [--work-us N]\n"
		"  --backend   where faults come from (default: %s)\n"
		"  --engine    io_uring (default) or poll/read/write\n"
		"  --batch     records per read (default: the library's)\n"
		"  --threads   worker threads, 1 to %d (default 4)\n"
		"  --queue     groups waiting for a worker, at most (default 16)\n"
		"  --groups    groups to raise (default 400)\n"
		"  --burst     groups in flight at most (default 64)\n"
		"  --group     records per group (default 1; the kernel backend makes 1)\n"
		"  --work-us   time a worker spends on a group (default 0)\n",
		source_default_backend(), MAX_THREADS);
}

static int parse_uint(const char *s, unsigned long min, unsigned long max,
		      unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || !*s || *end || *s == '-' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "backend", required_argument, NULL, 'b' },
		{ "engine", required_argument, NULL, 'e' },
		{ "batch", required_argument, NULL, 'n' },
		{ "threads", required_argument, NULL, 't' },
		{ "queue", required_argument, NULL, 'q' },
		{ "groups", required_argument, NULL, 'f' },
		{ "faults", required_argument, NULL, 'f' }, /* the old name of --groups */
		{ "burst", required_argument, NULL, 'u' },
		{ "group", required_argument, NULL, 'g' },
		{ "work-us", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *backend = source_default_backend();
	unsigned long batch = 0, threads = 4, qcap = 16, faults = 400, burst = 64;
	unsigned long group = 1, work_us = 0;
	struct iopf_engine_opts eo = { .size = sizeof(eo), .kind = IOPF_ENGINE_URING };
	struct iopf_queue_opts qo = { .size = sizeof(qo) };
	struct iopf_stats st = { .size = sizeof(st) };
	struct worker workers[MAX_THREADS];
	struct iopf_group *groups[PULL_MAX];
	struct iopf_engine *e = NULL;
	struct iopf_queue *q = NULL;
	struct source *src = NULL;
	struct pool p = { 0 };
	unsigned int started = 0;
	uint64_t sent = 0, pulled = 0, last_progress;
	int opt, rc, status = 1;

	while ((opt = getopt_long(argc, argv, "b:e:n:t:q:f:u:g:w:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'b':
			if (strcmp(optarg, "mock") && strcmp(optarg, "kernel"))
				goto bad;
			backend = optarg;
			break;
		case 'e':
			if (!strcmp(optarg, "uring"))
				eo.kind = IOPF_ENGINE_URING;
			else if (!strcmp(optarg, "plain"))
				eo.kind = IOPF_ENGINE_PLAIN;
			else
				goto bad;
			break;
		case 'n':
			if (parse_uint(optarg, 0, 65536, &batch))
				goto bad;
			break;
		case 't':
			if (parse_uint(optarg, 1, MAX_THREADS, &threads))
				goto bad;
			break;
		case 'q':
			if (parse_uint(optarg, 1, 65536, &qcap))
				goto bad;
			break;
		case 'f':
			if (parse_uint(optarg, 1, 100000000, &faults))
				goto bad;
			break;
		case 'u':
			if (parse_uint(optarg, 1, 65536, &burst))
				goto bad;
			break;
		case 'g':
			if (parse_uint(optarg, 1, 64, &group))
				goto bad;
			break;
		case 'w':
			if (parse_uint(optarg, 0, 1000000, &work_us))
				goto bad;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (optind != argc)
		goto bad;

	p.work_us = (unsigned int)work_us;
	pthread_mutex_init(&p.stats_lock, NULL);
	if (workq_init(&p.wq, (unsigned int)qcap)) {
		fprintf(stderr, "out of memory\n");
		pthread_mutex_destroy(&p.stats_lock);
		return 1;
	}

	rc = source_open(backend, &src);
	if (rc) {
		fprintf(stderr, "cannot open the %s fault source: %s%s\n", backend,
			strerror(-rc),
			rc == -ENOTSUP ? " (this build has no kernel backend: the "
					 "real-kernel tier builds one)" : "");
		goto out;
	}
	if (group > source_max_group(src)) {
		fprintf(stderr, "the %s backend makes groups of at most %u records\n",
			backend, source_max_group(src));
		status = 2;
		goto out;
	}
	rc = iopf_engine_new(&eo, &e);
	if (rc) {
		fprintf(stderr, "iopf_engine_new: %s\n", strerror(-rc));
		goto out;
	}
	/* No handler: this engine is pulled from. */
	qo.batch = (uint32_t)batch;
	qo.answered = answered;
	qo.user = &p;
	rc = iopf_queue_new(source_ctx(src), e, &qo, &q);
	if (rc) {
		fprintf(stderr, "iopf_queue_new: %s (%s)\n", strerror(-rc),
			iopf_ctx_errmsg(source_ctx(src)));
		goto out;
	}
	rc = source_attach(src, q);
	if (rc) {
		fprintf(stderr, "cannot attach the device to a HWPT with the fault queue: %s (%s)\n",
			strerror(-rc), iopf_ctx_errmsg(source_ctx(src)));
		goto out;
	}
	for (; started < threads; started++) {
		workers[started].p = &p;
		workers[started].id = started;
		rc = pthread_create(&workers[started].thread, NULL, worker_main,
				    &workers[started]);
		if (rc) {
			fprintf(stderr, "pthread_create: %s\n", strerror(rc));
			goto out;
		}
	}
	printf("fault queue %u on the %s engine, %s backend, device %u; %lu workers, queue of %lu\n",
	       iopf_queue_id(q), eo.kind == IOPF_ENGINE_URING ? "io_uring" : "plain",
	       backend, source_dev_id(src), threads, qcap);
	fflush(stdout);

	/*
	 * The engine's thread: raise faults, read groups, hand them out. It
	 * ends when the kernel has taken (or refused) an answer for every group
	 * raised; waiting in the engine is what writes the workers' answers.
	 */
	last_progress = now_ms();
	while (p.taken_success + p.taken_invalid + p.refused < faults) {
		uint64_t before = pulled + p.taken_success + p.taken_invalid;
		int n;

		while (sent < faults && sent - pulled < burst) {
			uint64_t page = (sent * 53) % (RAM_PAGES + HOLE_PAGES);

			rc = source_fault(src, (uint32_t)(sent & 0x1ff),
					  RAM_BASE + (page << PAGE_SHIFT),
					  IOPF_PERM_READ, (unsigned int)group);
			if (rc) {
				fprintf(stderr, "cannot trigger a fault: %s\n", strerror(-rc));
				goto out;
			}
			sent++;
		}
		/* Sleeps in the engine until groups are ready; answers from
		 * the workers wake it and are written meanwhile. With nothing
		 * left to read, wake up often to see whether all were taken. */
		rc = iopf_engine_wait(e, sent > pulled ? 1000 : 10);
		if (rc < 0) {
			fprintf(stderr, "iopf_engine_wait: %s\n", strerror(-rc));
			goto out;
		}
		while ((n = iopf_engine_pull(e, groups, PULL_MAX)) > 0) {
			for (int i = 0; i < n; i++)
				workq_push(&p.wq, groups[i]);
			pulled += (uint64_t)n;
		}
		if (n < 0) {
			fprintf(stderr, "iopf_engine_pull: %s\n", strerror(-n));
			goto out;
		}
		if (pulled + p.taken_success + p.taken_invalid != before)
			last_progress = now_ms();
		else if (now_ms() - last_progress > STALL_MS) {
			fprintf(stderr, "no progress for %d ms: %" PRIu64 " raised, %" PRIu64
				" pulled, %" PRIu64 " answers taken\n", STALL_MS, sent,
				pulled, p.taken_success + p.taken_invalid);
			goto out;
		}
	}
	status = 0;
out:
	/* The workers finish what is queued, then stop. */
	workq_close(&p.wq);
	for (unsigned int i = 0; i < started; i++)
		pthread_join(workers[i].thread, NULL);
	if (e)
		iopf_engine_flush(e);
	if (q && !iopf_queue_stats(q, &st)) {
		printf("groups %" PRIu64 " pulled, %" PRIu64 " answered by the workers: %" PRIu64
		       " SUCCESS, %" PRIu64 " INVALID\n",
		       pulled, p.handled, p.success, p.invalid);
		printf("per worker:");
		for (unsigned int i = 0; i < started; i++)
			printf(" %" PRIu64, p.per_thread[i]);
		printf("\n");
		printf("answers taken %" PRIu64 " (SUCCESS %" PRIu64 ", INVALID %" PRIu64
		       "), refused %" PRIu64 "\n",
		       p.taken_success + p.taken_invalid, p.taken_success,
		       p.taken_invalid, p.refused);
		printf("counters: faults %" PRIu64 " groups %" PRIu64 " success %" PRIu64
		       " invalid %" PRIu64 " auto %" PRIu64 " stale %" PRIu64
		       " failed %" PRIu64 " reads %" PRIu64 " empty %" PRIu64
		       " writes %" PRIu64 " max_batch %" PRIu64 " grows %" PRIu64
		       " malformed %" PRIu64 "\n",
		       st.faults, st.groups, st.answers_success, st.answers_invalid,
		       st.answers_auto, st.answers_stale, st.answers_failed, st.reads,
		       st.empty_reads, st.writes, st.max_batch, st.grows, st.malformed);
		/* The books: every group raised was pulled once and answered
		 * once by a worker, and the kernel took every answer as
		 * given. */
		if (status == 0 &&
		    (pulled != sent || p.handled != pulled || p.respond_errors ||
		     p.refused || st.groups != pulled ||
		     p.taken_success != p.success || p.taken_invalid != p.invalid ||
		     st.answers_success != p.success ||
		     st.answers_invalid != p.invalid)) {
			fprintf(stderr, "the books do not balance\n");
			status = 1;
		}
	}
	/* Teardown, in the order a VMM follows: the device off the HWPT, the
	 * HWPT, the queue (it answers INVALID whatever it handed out and was
	 * not answered), the engine, the context. */
	if (src)
		source_detach(src);
	iopf_queue_free(q);
	iopf_engine_free(e);
	source_close(src);
	workq_fini(&p.wq);
	pthread_mutex_destroy(&p.stats_lock);
	return status;
bad:
	example_bad_arg("iopf-threadpool", longopts, opt, opt == -1 ? argv[optind] : optarg);
	usage(stderr);
	return 2;
}
