/* SPDX-License-Identifier: MIT */
/*
 * iopf-epoll: fault handling inside a VMM's own event loop.
 *
 * A VMM already has an epoll loop serving its fds; the fault engine joins it
 * through iopf_engine_fd(). This loop serves three fds:
 *   - the engine's fd: faults to read, answers to write; the handler answers
 *     each group at once (SUCCESS inside the guest's RAM, INVALID outside);
 *   - a timerfd: on every tick the "device" raises a burst of faults (a real
 *     VMM would do its periodic work here);
 *   - a signalfd: SIGINT or SIGTERM ends the loop cleanly, with every group
 *     taken from the engine answered and the device detached.
 *
 *   iopf-epoll [--backend mock|kernel] [--engine uring|plain] [--batch N]
 *              [--groups N] [--burst N] [--interval MS] [--group N] [--verbose]
 *
 * --groups N stops after N groups (default 200); --groups 0 runs until a
 * signal. Exit status: 0 when every group was answered and the kernel took
 * every answer, 1 on failure, 2 on a usage error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <libiopf.h>

#include "source.h"

#define PAGE_SHIFT 12
#define RAM_BASE 0x80000000ull
#define RAM_PAGES 512ull
/* The device also touches this many pages past the end of RAM. */
#define HOLE_PAGES 64ull
/* Without progress for this long, something is wrong: give up. */
#define STALL_MS 5000

enum { FD_ENGINE = 1, FD_TIMER, FD_SIGNAL };

struct loop {
	/* the handler's books */
	uint64_t groups, faults, success, invalid;
	/* the answered callback's: what the kernel did with the answers */
	uint64_t taken, refused;
	bool verbose;
};

/* The engine calls this for every group, from iopf_engine_dispatch(). */
static int handle(struct iopf_group *g, void *user)
{
	struct loop *l = user;
	uint32_t code = IOPF_RESP_SUCCESS;

	for (unsigned int i = 0; i < iopf_group_count(g); i++) {
		const struct iopf_fault *f = iopf_group_fault(g, i);

		if (f->addr < RAM_BASE ||
		    f->addr >= RAM_BASE + (RAM_PAGES << PAGE_SHIFT))
			code = IOPF_RESP_INVALID;
		if (l->verbose) {
			char line[160];

			example_fault_str(line, sizeof(line), f);
			printf("fault %s\n", line);
		}
	}
	l->groups++;
	l->faults += iopf_group_count(g);
	if (code == IOPF_RESP_SUCCESS)
		l->success++;
	else
		l->invalid++;
	return iopf_group_respond(g, code);
}

/* The engine calls this, from its runs, once the kernel took or refused an
 * answer. */
static void answered(struct iopf_queue *q, uint64_t tag, uint32_t cookie,
		     uint32_t code, int result, void *user)
{
	struct loop *l = user;

	(void)q;
	(void)tag;
	(void)code;
	if (result == 0) {
		l->taken++;
	} else {
		l->refused++;
		fprintf(stderr, "answer for cookie %u refused: %s\n", cookie,
			strerror(-result));
	}
}

/*
 * Runs the engine until a pass hands out nothing: every group that was ready
 * went through the handler, and the pass that found nothing also wrote the
 * answers the handler gave (answers given on the loop's own thread do not
 * wake the engine's fd, see iopf_engine_fd(3)). Returns groups handled or
 * -errno.
 */
static int drain(struct iopf_engine *e)
{
	int rc, total = 0;

	while ((rc = iopf_engine_dispatch(e, 0)) > 0)
		total += rc;
	return rc < 0 ? rc : total;
}

/* The "device": a burst of groups, most inside RAM, some in the hole past
 * it. grpid is 9 bits wide in PCIe page requests. */
static int raise_burst(struct source *src, uint64_t *sent, uint64_t limit,
		       unsigned int burst, unsigned int group)
{
	for (unsigned int i = 0; i < burst && (!limit || *sent < limit); i++) {
		uint64_t page = (*sent * 37) % (RAM_PAGES + HOLE_PAGES);
		int rc = source_fault(src, (uint32_t)(*sent & 0x1ff),
				      RAM_BASE + (page << PAGE_SHIFT),
				      IOPF_PERM_READ | IOPF_PERM_WRITE, group);

		if (rc)
			return rc;
		(*sent)++;
	}
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int epoll_add(int ep, int fd, uint64_t what)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = what };

	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: iopf-epoll [--backend mock|kernel] [--engine uring|plain] [--batch N]\n"
		"                  [--groups N] [--burst N] [--interval MS] [--group N] [--verbose]\n"
		"  --backend   where faults come from (default: %s)\n"
		"  --engine    io_uring (default) or poll/read/write\n"
		"  --batch     records per read (default: the library's)\n"
		"  --groups    stop after N groups; 0: run until SIGINT/SIGTERM (default 200)\n"
		"  --burst     groups the device raises per timer tick (default 16)\n"
		"  --interval  timer period in milliseconds (default 5)\n"
		"  --group     records per group (default 1; the kernel backend makes 1)\n"
		"  --verbose   print every fault\n",
		source_default_backend());
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
		{ "groups", required_argument, NULL, 'f' },
		{ "faults", required_argument, NULL, 'f' }, /* the old name of --groups */
		{ "burst", required_argument, NULL, 'u' },
		{ "interval", required_argument, NULL, 'i' },
		{ "group", required_argument, NULL, 'g' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *backend = source_default_backend();
	unsigned long batch = 0, faults = 200, burst = 16, interval = 5, group = 1;
	struct iopf_engine_opts eo = { .size = sizeof(eo), .kind = IOPF_ENGINE_URING };
	struct iopf_queue_opts qo = { .size = sizeof(qo) };
	struct iopf_stats st = { .size = sizeof(st) };
	struct itimerspec its = { 0 };
	struct loop l = { 0 };
	struct iopf_engine *e = NULL;
	struct iopf_queue *q = NULL;
	struct source *src = NULL;
	int ep = -1, tfd = -1, sfd = -1;
	uint64_t sent = 0, ticks = 0, last_progress;
	const char *stopped_by = NULL;
	sigset_t sigs, old_sigs;
	int opt, rc, status = 1;

	while ((opt = getopt_long(argc, argv, "b:e:n:f:u:i:g:vh", longopts, NULL)) != -1) {
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
		case 'f':
			if (parse_uint(optarg, 0, 100000000, &faults))
				goto bad;
			break;
		case 'u':
			if (parse_uint(optarg, 1, 4096, &burst))
				goto bad;
			break;
		case 'i':
			if (parse_uint(optarg, 1, 60000, &interval))
				goto bad;
			break;
		case 'g':
			if (parse_uint(optarg, 1, 64, &group))
				goto bad;
			break;
		case 'v':
			l.verbose = true;
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

	/* Signals become readable on the signalfd instead of interrupting:
	 * block them first, in every thread (the engine starts none). */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &sigs, &old_sigs) < 0) {
		perror("sigprocmask");
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
	qo.user = &l;
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

	/* The loop's fds. */
	ep = epoll_create1(EPOLL_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	sfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	if (ep < 0 || tfd < 0 || sfd < 0) {
		perror("epoll_create1/timerfd_create/signalfd");
		goto out;
	}
	its.it_interval.tv_sec = (time_t)(interval / 1000);
	its.it_interval.tv_nsec = (long)(interval % 1000) * 1000000;
	its.it_value = its.it_interval;
	if (timerfd_settime(tfd, 0, &its, NULL) < 0) {
		perror("timerfd_settime");
		goto out;
	}
	rc = epoll_add(ep, iopf_engine_fd(e), FD_ENGINE);
	if (!rc)
		rc = epoll_add(ep, tfd, FD_TIMER);
	if (!rc)
		rc = epoll_add(ep, sfd, FD_SIGNAL);
	if (rc) {
		fprintf(stderr, "epoll_ctl: %s\n", strerror(-rc));
		goto out;
	}
	printf("fault queue %u on the %s engine, %s backend, device %u; a burst of %lu every %lu ms\n",
	       iopf_queue_id(q), eo.kind == IOPF_ENGINE_URING ? "io_uring" : "plain",
	       backend, source_dev_id(src), burst, interval);
	fflush(stdout);

	/* One pass before the first wait: it arms the engine's reads. */
	rc = drain(e);
	if (rc < 0) {
		fprintf(stderr, "iopf_engine_dispatch: %s\n", strerror(-rc));
		goto out;
	}
	last_progress = now_ms();
	while (!stopped_by && (!faults || l.groups < faults)) {
		struct epoll_event evs[8];
		int n = epoll_wait(ep, evs, 8, 1000);

		if (n < 0 && errno != EINTR) {
			perror("epoll_wait");
			goto out;
		}
		for (int i = 0; i < n; i++) {
			switch (evs[i].data.u64) {
			case FD_ENGINE:
				rc = drain(e);
				if (rc < 0) {
					fprintf(stderr, "iopf_engine_dispatch: %s\n",
						strerror(-rc));
					goto out;
				}
				if (rc > 0)
					last_progress = now_ms();
				break;
			case FD_TIMER: {
				uint64_t expired;

				if (read(tfd, &expired, sizeof(expired)) != sizeof(expired))
					break;
				ticks++;
				rc = raise_burst(src, &sent, faults, (unsigned int)burst,
						 (unsigned int)group);
				if (rc) {
					fprintf(stderr, "cannot trigger a fault: %s\n",
						strerror(-rc));
					goto out;
				}
				break;
			}
			case FD_SIGNAL: {
				struct signalfd_siginfo si;

				if (read(sfd, &si, sizeof(si)) != sizeof(si))
					break;
				stopped_by = si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM";
				break;
			}
			}
		}
		if (sent > l.groups && now_ms() - last_progress > STALL_MS) {
			fprintf(stderr, "no fault arrived for %d ms (%" PRIu64
				" raised, %" PRIu64 " handled)\n",
				STALL_MS, sent, l.groups);
			goto out;
		}
		if (sent == l.groups)
			last_progress = now_ms();
	}

	/* Stopping: the device raises nothing more. Handle what it raised
	 * already, and wait for the kernel's verdict on every answer (each
	 * dispatch writes the answers of the one before), for a second at
	 * most: what is left then is answered INVALID at teardown. */
	for (uint64_t end = now_ms() + 1000;
	     (l.groups < sent || l.taken + l.refused < l.groups) && now_ms() < end;) {
		rc = iopf_engine_dispatch(e, 10);
		if (rc < 0) {
			fprintf(stderr, "iopf_engine_dispatch: %s\n", strerror(-rc));
			goto out;
		}
	}
	if (stopped_by)
		printf("stopped by %s\n", stopped_by);
	rc = iopf_queue_stats(q, &st);
	if (rc) {
		fprintf(stderr, "iopf_queue_stats: %s\n", strerror(-rc));
		goto out;
	}
	printf("ticks %" PRIu64 ", groups raised %" PRIu64 "\n", ticks, sent);
	printf("groups %" PRIu64 ": %" PRIu64 " SUCCESS, %" PRIu64
	       " INVALID; answers taken %" PRIu64 ", refused %" PRIu64 "\n",
	       l.groups, l.success, l.invalid, l.taken, l.refused);
	printf("counters: faults %" PRIu64 " groups %" PRIu64 " success %" PRIu64
	       " invalid %" PRIu64 " auto %" PRIu64 " stale %" PRIu64
	       " failed %" PRIu64 " reads %" PRIu64 " empty %" PRIu64
	       " writes %" PRIu64 " max_batch %" PRIu64 " grows %" PRIu64
	       " malformed %" PRIu64 "\n",
	       st.faults, st.groups, st.answers_success, st.answers_invalid,
	       st.answers_auto, st.answers_stale, st.answers_failed, st.reads,
	       st.empty_reads, st.writes, st.max_batch, st.grows, st.malformed);
	/* The books: every group the device raised reached the handler once,
	 * and the kernel took every answer as given. */
	if (l.groups != sent || st.groups != l.groups || l.taken != l.groups ||
	    l.refused ||
	    st.answers_success != l.success || st.answers_invalid != l.invalid) {
		fprintf(stderr, "the books do not balance: %" PRIu64 " groups raised, "
			"%" PRIu64 " assembled, %" PRIu64 " handled, %" PRIu64
			" answers taken\n", sent, st.groups, l.groups, l.taken);
		goto out;
	}
	status = 0;
out:
	/* Teardown, in the order a VMM follows: the device off the HWPT (the
	 * kernel answers INVALID what the device still waits for), the HWPT,
	 * the queue (it answers what it handed out and was not answered), the
	 * engine, then the context. */
	if (src)
		source_detach(src);
	iopf_queue_free(q);
	iopf_engine_free(e);
	source_close(src);
	if (sfd >= 0)
		close(sfd);
	if (tfd >= 0)
		close(tfd);
	if (ep >= 0)
		close(ep);
	sigprocmask(SIG_SETMASK, &old_sigs, NULL);
	return status;
bad:
	example_bad_arg("iopf-epoll", longopts, opt, opt == -1 ? argv[optind] : optarg);
	usage(stderr);
	return 2;
}
