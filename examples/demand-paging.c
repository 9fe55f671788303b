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
 *                      [--batch N] [--faults N] [--group N] [--burst N]
 *                      [--window PAGES] [--verbose]
 *
 * The faults come from a fault source (source.c): the library's mock kernel
 * by default. A VMM has its device fault by itself and keeps only the part
 * between iopf_engine_new() and iopf_engine_free().
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libiopf.h>

#include "source.h"

#define PAGE_SHIFT 12
#define WINDOW_BASE 0x100000000ull

struct pager {
	uint64_t base, pages;
	uint8_t *mapped; /* one byte a page: populated */
	uint64_t maps, success, invalid, groups;
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

		if (f->addr < p->base || page >= p->pages) {
			code = IOPF_RESP_INVALID;
			continue;
		}
		if (!p->mapped[page]) {
			p->mapped[page] = 1;
			p->maps++;
		}
		if (p->verbose)
			printf("fault dev %u pasid %u grp %u addr 0x%" PRIx64
			       " perm 0x%x cookie %u\n",
			       f->dev_id, f->pasid, f->grpid, f->addr, f->perm,
			       f->cookie);
	}
	p->groups++;
	if (code == IOPF_RESP_SUCCESS)
		p->success++;
	else
		p->invalid++;
	return iopf_group_respond(g, code);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: iopf-demand-paging [--backend mock|kernel] [--engine uring|plain]\n"
		"       [--batch N] [--faults N] [--group N] [--burst N] [--window PAGES] [--verbose]\n");
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || !*s || *end || v > max)
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
		{ "faults", required_argument, NULL, 'f' },
		{ "group", required_argument, NULL, 'g' },
		{ "burst", required_argument, NULL, 'u' },
		{ "window", required_argument, NULL, 'w' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *backend = "mock";
	unsigned long batch = 0, faults = 1000, group = 1, burst = 64, window = 256;
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
		fprintf(stderr, "cannot open the %s fault source: %s\n", backend,
			strerror(-rc));
		goto out;
	}
	rc = iopf_engine_new(&eo, &e);
	if (rc) {
		fprintf(stderr, "iopf_engine_new: %s\n", strerror(-rc));
		goto out;
	}
	qo.batch = (uint32_t)batch;
	qo.handler = handle;
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
	rc = iopf_engine_flush(e);
	if (rc) {
		fprintf(stderr, "iopf_engine_flush: %s\n", strerror(-rc));
		goto out;
	}
	iopf_queue_stats(q, &st);
	printf("groups %" PRIu64 ": %" PRIu64 " SUCCESS, %" PRIu64 " INVALID; pages mapped %" PRIu64 "\n",
	       p.groups, p.success, p.invalid, p.maps);
	printf("library: faults %" PRIu64 " groups %" PRIu64 " answered %" PRIu64
	       " (stale %" PRIu64 ", failed %" PRIu64 ") reads %" PRIu64
	       " writes %" PRIu64 " largest batch %" PRIu64 "\n",
	       st.faults, st.groups, st.answers_success + st.answers_invalid,
	       st.answers_stale, st.answers_failed, st.reads, st.writes,
	       st.max_batch);
	if (st.answers_success + st.answers_invalid != p.groups ||
	    st.answers_success != p.success) {
		fprintf(stderr, "the kernel did not take every answer\n");
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
	usage(stderr);
	return 2;
}
