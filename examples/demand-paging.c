/* SPDX-License-Identifier: MIT */
/*
 * iopf-demand-paging: a demand-paging fault handler.
 *
 * A device does DMA into a window of guest memory that is populated on first
 * touch. Each fault inside the window "maps" the page (here: marks it in a
 * bitmap) and is answered SUCCESS, so the device retries and goes on; a fault
 * outside the window is answered INVALID, so the device gets an error.
 *
 *   iopf-demand-paging [--backend mock|kernel] [--engine uring|plain]
 *                      [--batch N] [--groups N] [--group N] [--burst N]
 *                      [--window PAGES] [--verbose]
 *
 * The faults come from a fault source (source.c): the library's mock kernel
 * by default. A VMM has its device fault by itself and keeps only the part
 * between iopf_engine_new() and iopf_engine_free(). Exit status: 0 when every
 * group was answered and the kernel took every answer, 1 on failure, 2 on a
 * usage error.
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
#include <time.h>

#include <libiopf.h>

#include "source.h"

#define PAGE_SHIFT 12
#define WINDOW_BASE 0x100000000ull

struct pager {
	uint64_t base, pages;
	uint8_t *mapped; /* one byte a page: populated */
	uint64_t maps, success, invalid, groups;
	/* what the kernel did with the answers (the answered callback) */
	uint64_t taken, refused;
	bool verbose;
};

/* Runs for each group: map every page it asks for, then answer once. */
static int handle(struct iopf_group *g, void *user)
{
	struct pager *p = user;
	uint32_t code = IOPF_RESP_SUCCESS;

	for (unsigned int i = 0; i < iopf_group_count(g); i++) {
		const struct iopf_fault *f = iopf_group_fault(g, i);
		uint64_t page = (f->addr - p->base) >> PAGE_SHIFT;
		bool inside = f->addr >= p->base && page < p->pages;

		if (p->verbose) {
			char line[160];

			example_fault_str(line, sizeof(line), f);
			printf("fault %s: %s\n", line,
			       inside ? "map" : "outside the window");
		}
		if (!inside) {
			/* One bad page fails the whole group. */
			code = IOPF_RESP_INVALID;
			continue;
		}
		if (!p->mapped[page]) {
			/* A VMM populates the page here (and maps it in the
			 * IOAS or the guest's stage 2) before answering. */
			p->mapped[page] = 1;
			p->maps++;
		}
	}
	p->groups++;
	if (code == IOPF_RESP_SUCCESS)
		p->success++;
	else
		p->invalid++;
	return iopf_group_respond(g, code);
}

/* Runs inside the engine's runs once the kernel took or refused an answer. */
static void answered(struct iopf_queue *q, uint64_t tag, uint32_t cookie,
		     uint32_t code, int result, void *user)
{
	struct pager *p = user;

	(void)q;
	(void)tag;
	(void)code;
	if (result == 0) {
		p->taken++;
	} else {
		p->refused++;
		fprintf(stderr, "answer for cookie %u refused: %s\n", cookie,
			strerror(-result));
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
		"usage: iopf-demand-paging [--backend mock|kernel] [--engine uring|plain]\n"
		"       [--batch N] [--groups N] [--group N] [--burst N] [--window PAGES] [--verbose]\n"
		"  --backend   where faults come from (default: %s)\n"
		"  --engine    io_uring (default) or poll/read/write\n"
		"  --batch     records per read (default: the library's)\n"
		"  --groups    groups to raise (default 500)\n"
		"  --group     records per group (default 1; the kernel backend makes 1)\n"
		"  --burst     groups in flight at most (default 64)\n"
		"  --window    pages of the populated-on-demand window (default 256)\n"
		"  --verbose   print every fault\n",
		source_default_backend());
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || !*s || *end || *s == '-' || v > max)
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
		{ "groups", required_argument, NULL, 'f' },
		{ "faults", required_argument, NULL, 'f' }, /* the old name of --groups */
		{ "group", required_argument, NULL, 'g' },
		{ "burst", required_argument, NULL, 'u' },
		{ "window", required_argument, NULL, 'w' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *backend = source_default_backend();
	unsigned long batch = 0, faults = 500, group = 1, burst = 64, window = 256;
	struct iopf_engine_opts eo = { .size = sizeof(eo), .kind = IOPF_ENGINE_URING };
	struct iopf_queue_opts qo = { .size = sizeof(qo) };
	struct iopf_stats st = { .size = sizeof(st) };
	struct pager p = { .base = WINDOW_BASE };
	struct iopf_engine *e = NULL;
	struct iopf_queue *q = NULL;
	struct source *src = NULL;
	unsigned long sent = 0, v;
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	int opt, rc, status = 1;

	while ((opt = getopt_long(argc, argv, "b:e:n:f:g:u:w:vh", longopts, NULL)) != -1) {
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
			if (parse_uint(optarg, 65536, &batch))
				goto bad;
			break;
		case 'f':
			if (parse_uint(optarg, 100000000, &faults))
				goto bad;
			break;
		case 'g':
			if (parse_uint(optarg, 64, &v) || !v)
				goto bad;
			group = v;
			break;
		case 'u':
			if (parse_uint(optarg, 4096, &v) || !v)
				goto bad;
			burst = v;
			break;
		case 'w':
			if (parse_uint(optarg, 1ul << 24, &v) || !v)
				goto bad;
			window = v;
			break;
		case 'v':
			p.verbose = true;
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

	p.pages = window;
	p.mapped = calloc(window, 1);
	if (!p.mapped) {
		fprintf(stderr, "out of memory\n");
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
	qo.batch = (uint32_t)batch;
	qo.handler = handle;
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
	printf("fault queue %u (fd %d) on the %s engine, %s backend, device %u\n",
	       iopf_queue_id(q), iopf_queue_fd(q),
	       eo.kind == IOPF_ENGINE_URING ? "io_uring" : "plain", backend,
	       source_dev_id(src));

	/* The device faults in bursts; the handler runs from dispatch. One
	 * address in eight falls outside the window. */
	while (p.groups < faults) {
		while (sent < faults && sent - p.groups < burst) {
			uint64_t page;

			rng ^= rng << 13;
			rng ^= rng >> 7;
			rng ^= rng << 17;
			page = rng % (window + window / 8 + 1);
			rc = source_fault(src, (uint32_t)(sent & 0x1ff),
					  WINDOW_BASE + (page << PAGE_SHIFT),
					  IOPF_PERM_READ | IOPF_PERM_WRITE,
					  (unsigned int)group);
			if (rc) {
				fprintf(stderr, "cannot trigger a fault: %s\n", strerror(-rc));
				goto out;
			}
			sent++;
		}
		rc = iopf_engine_dispatch(e, 1000);
		if (rc < 0) {
			fprintf(stderr, "iopf_engine_dispatch: %s\n", strerror(-rc));
			goto out;
		}
		if (rc == 0) {
			fprintf(stderr, "no fault arrived within 1 s\n");
			goto out;
		}
	}
	/* The handler's last answers go out with the next run of the engine:
	 * flush until the kernel has taken (or refused) every one. */
	for (uint64_t end = now_ms() + 1000;
	     p.taken + p.refused < p.groups && now_ms() < end;) {
		struct timespec ms = { .tv_nsec = 1000000 };

		rc = iopf_engine_flush(e);
		if (rc) {
			fprintf(stderr, "iopf_engine_flush: %s\n", strerror(-rc));
			goto out;
		}
		if (p.taken + p.refused < p.groups)
			nanosleep(&ms, NULL);
	}
	rc = iopf_queue_stats(q, &st);
	if (rc) {
		fprintf(stderr, "iopf_queue_stats: %s\n", strerror(-rc));
		goto out;
	}
	printf("groups %" PRIu64 ": %" PRIu64 " SUCCESS, %" PRIu64 " INVALID; pages mapped %" PRIu64
	       "; answers taken %" PRIu64 ", refused %" PRIu64 "\n",
	       p.groups, p.success, p.invalid, p.maps, p.taken, p.refused);
	if (p.invalid)
		printf("the INVALID answers are meant: the device is made to fault outside the "
		       "%lu-page window about once in nine, and those faults are refused\n",
		       window);
	printf("counters: faults %" PRIu64 " groups %" PRIu64 " success %" PRIu64
	       " invalid %" PRIu64 " auto %" PRIu64 " stale %" PRIu64
	       " failed %" PRIu64 " reads %" PRIu64 " empty %" PRIu64
	       " writes %" PRIu64 " max_batch %" PRIu64 " grows %" PRIu64
	       " malformed %" PRIu64 "\n",
	       st.faults, st.groups, st.answers_success, st.answers_invalid,
	       st.answers_auto, st.answers_stale, st.answers_failed, st.reads,
	       st.empty_reads, st.writes, st.max_batch, st.grows, st.malformed);
	/* The books: every group raised reached the handler once, and the
	 * kernel took every answer as given. */
	if (p.groups != sent || st.groups != p.groups || p.taken != p.groups ||
	    p.refused || st.answers_success != p.success ||
	    st.answers_invalid != p.invalid) {
		fprintf(stderr, "the books do not balance: %lu groups raised, %" PRIu64
			" assembled, %" PRIu64 " handled, %" PRIu64 " answers taken\n",
			sent, st.groups, p.groups, p.taken);
		goto out;
	}
	status = 0;
out:
	/* The order a VMM tears down in: the device off the HWPT (the kernel
	 * answers what it still holds), the HWPT, then the queue, which answers
	 * whatever it handed out and frees the fault object no HWPT uses now. */
	if (src)
		source_detach(src);
	iopf_queue_free(q);
	iopf_engine_free(e);
	source_close(src);
	free(p.mapped);
	return status;
bad:
	example_bad_arg("iopf-demand-paging", longopts, opt, opt == -1 ? argv[optind] : optarg);
	usage(stderr);
	return 2;
}
