/* SPDX-License-Identifier: MIT */
/*
 * iopf-monitor: print every fault as it arrives, and the counters on exit.
 *
 * A tracing aid for bringing up a device: the loop waits in the engine
 * (iopf_engine_wait), takes the groups that are ready (iopf_engine_pull),
 * prints one line per fault and answers what it took with one call
 * (iopf_group_respond_batch). A monitor in a VMM must still answer, or the
 * device waits forever: it answers SUCCESS, or INVALID with --invalid (the
 * device then sees its access fail). The answered callback prints what the
 * kernel did with each answer; the queue's counters (iopf_queue_stats) are
 * printed when the monitor stops: after --groups groups, or on SIGINT or
 * SIGTERM.
 *
 *   iopf-monitor [--backend mock|kernel] [--engine uring|plain] [--batch N]
 *                [--groups N] [--burst N] [--group N] [--invalid]
 *
 * Output, one line per fault and one per answer:
 *   fault dev 1 pasid - grp 0 addr 0x0000000100000000 perm rw-- cookie 1 rec 1/1
 *   answer cookie 1 SUCCESS: taken
 * Exit status: 0 when every group was answered and the kernel took every
 * answer, 1 on failure, 2 on a usage error.
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
#include <time.h>

#include <libiopf.h>

#include "source.h"

#define PAGE_SHIFT 12
#define BASE 0x100000000ull
#define PULL_MAX 16
/* Without progress for this long, something is wrong: give up. */
#define STALL_MS 5000

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

struct monitor {
	uint64_t groups, faults, answers;
	uint64_t taken, refused;
};

static const char *code_name(uint32_t code)
{
	return code == IOPF_RESP_SUCCESS ? "SUCCESS" : "INVALID";
}

static void print_fault(const struct iopf_fault *f, unsigned int i,
			unsigned int n)
{
	char line[160];

	example_fault_str(line, sizeof(line), f);
	printf("fault %s rec %u/%u\n", line, i + 1, n);
}

/* Runs on this (the engine's) thread, inside the engine's runs. */
static void answered(struct iopf_queue *q, uint64_t tag, uint32_t cookie,
		     uint32_t code, int result, void *user)
{
	struct monitor *m = user;

	(void)q;
	(void)tag;
	if (result == 0) {
		m->taken++;
		printf("answer cookie %u %s: taken\n", cookie, code_name(code));
	} else {
		m->refused++;
		printf("answer cookie %u %s: refused (%s)\n", cookie,
		       code_name(code), strerror(-result));
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
		"usage: iopf-monitor [--backend mock|kernel] [--engine uring|plain] [--batch N]\n"
		"                    [--groups N] [--burst N] [--group N] [--invalid]\n"
		"  --backend   where faults come from (default: %s)\n"
		"  --engine    io_uring (default) or poll/read/write\n"
		"  --batch     records per read (default: the library's)\n"
		"  --groups    groups to raise before stopping (default 64)\n"
		"  --burst     groups raised at a time (default 8)\n"
		"  --group     records per group (default 1; the kernel backend makes 1)\n"
		"  --invalid   answer INVALID instead of SUCCESS\n",
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
		{ "group", required_argument, NULL, 'g' },
		{ "invalid", no_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *backend = source_default_backend();
	unsigned long batch = 0, faults = 64, burst = 8, group = 1;
	uint32_t code = IOPF_RESP_SUCCESS;
	struct iopf_engine_opts eo = { .size = sizeof(eo), .kind = IOPF_ENGINE_URING };
	struct iopf_queue_opts qo = { .size = sizeof(qo) };
	struct iopf_stats st = { .size = sizeof(st) };
	struct sigaction sa = { .sa_handler = on_signal };
	struct iopf_group *groups[PULL_MAX];
	struct monitor m = { 0 };
	struct iopf_engine *e = NULL;
	struct iopf_queue *q = NULL;
	struct source *src = NULL;
	uint64_t sent = 0, last_progress;
	int opt, rc, n, status = 1;

	while ((opt = getopt_long(argc, argv, "b:e:n:f:u:g:ih", longopts, NULL)) != -1) {
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
			if (parse_uint(optarg, 1, 100000000, &faults))
				goto bad;
			break;
		case 'u':
			if (parse_uint(optarg, 1, 4096, &burst))
				goto bad;
			break;
		case 'g':
			if (parse_uint(optarg, 1, 64, &group))
				goto bad;
			break;
		case 'i':
			code = IOPF_RESP_INVALID;
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

	/* No SA_RESTART: a signal cuts the engine's wait short (the library
	 * takes EINTR as "nothing yet") and the loop sees the flag. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

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
	qo.answered = answered;
	qo.user = &m;
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
	printf("monitoring fault queue %u on the %s engine, %s backend, device %u; answering %s\n",
	       iopf_queue_id(q), eo.kind == IOPF_ENGINE_URING ? "io_uring" : "plain",
	       backend, source_dev_id(src), code_name(code));

	/*
	 * Until every group raised has its answer taken: raise the next burst
	 * once the last one is answered, wait for groups, print and answer
	 * them. The answers go out on the next wait (or the flush below).
	 */
	last_progress = now_ms();
	while (!stop_signal && m.taken + m.refused < faults) {
		uint64_t before = m.groups + m.taken;

		if (sent < faults && m.groups == sent) {
			for (unsigned long i = 0; i < burst && sent < faults; i++, sent++) {
				rc = source_fault(src, (uint32_t)(sent & 0x1ff),
						  BASE + ((sent % 4096) << PAGE_SHIFT),
						  sent % 3 ? IOPF_PERM_READ | IOPF_PERM_WRITE
							   : IOPF_PERM_READ,
						  (unsigned int)group);
				if (rc) {
					fprintf(stderr, "cannot trigger a fault: %s\n",
						strerror(-rc));
					goto out;
				}
			}
		}
		rc = iopf_engine_wait(e, m.groups < sent ? 100 : 10);
		if (rc < 0) {
			fprintf(stderr, "iopf_engine_wait: %s\n", strerror(-rc));
			goto out;
		}
		while ((n = iopf_engine_pull(e, groups, PULL_MAX)) > 0) {
			int results[PULL_MAX];

			for (int i = 0; i < n; i++) {
				unsigned int cnt = iopf_group_count(groups[i]);

				for (unsigned int j = 0; j < cnt; j++)
					print_fault(iopf_group_fault(groups[i], j), j, cnt);
				m.groups++;
				m.faults += cnt;
			}
			/* The whole pull answered with one call; each group
			 * has its own result. */
			rc = iopf_group_respond_batch(groups, (unsigned int)n,
						      code, results);
			for (int i = 0; i < n; i++) {
				if (rc < 0 || results[i]) {
					fprintf(stderr,
						"iopf_group_respond_batch: %s\n",
						strerror(rc < 0 ? -rc
								: -results[i]));
					goto out;
				}
				m.answers++;
			}
		}
		if (n < 0) {
			fprintf(stderr, "iopf_engine_pull: %s\n", strerror(-n));
			goto out;
		}
		if (m.groups + m.taken != before)
			last_progress = now_ms();
		else if (now_ms() - last_progress > STALL_MS) {
			fprintf(stderr, "no progress for %d ms: %" PRIu64 " raised, %" PRIu64
				" seen, %" PRIu64 " answers taken\n", STALL_MS, sent,
				m.groups, m.taken);
			goto out;
		}
	}
	/* Stopped by a signal: the last answers given may still be unwritten
	 * (or written and not completed yet). */
	for (uint64_t end = now_ms() + 1000;
	     m.taken + m.refused < m.answers && now_ms() < end;) {
		struct timespec ms = { .tv_nsec = 1000000 };

		rc = iopf_engine_flush(e);
		if (rc < 0) {
			fprintf(stderr, "iopf_engine_flush: %s\n", strerror(-rc));
			goto out;
		}
		if (m.taken + m.refused < m.answers)
			nanosleep(&ms, NULL);
	}
	if (stop_signal)
		printf("stopped by %s\n", stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
	rc = iopf_queue_stats(q, &st);
	if (rc) {
		fprintf(stderr, "iopf_queue_stats: %s\n", strerror(-rc));
		goto out;
	}
	printf("seen %" PRIu64 " faults in %" PRIu64 " groups; answers taken %" PRIu64
	       ", refused %" PRIu64 "\n", m.faults, m.groups, m.taken, m.refused);
	printf("counters: faults %" PRIu64 " groups %" PRIu64 " success %" PRIu64
	       " invalid %" PRIu64 " auto %" PRIu64 " stale %" PRIu64
	       " failed %" PRIu64 " reads %" PRIu64 " empty %" PRIu64
	       " writes %" PRIu64 " max_batch %" PRIu64 " grows %" PRIu64
	       " malformed %" PRIu64 "\n",
	       st.faults, st.groups, st.answers_success, st.answers_invalid,
	       st.answers_auto, st.answers_stale, st.answers_failed, st.reads,
	       st.empty_reads, st.writes, st.max_batch, st.grows, st.malformed);
	/* The books: every group seen was answered once, and the kernel took
	 * every answer. After a signal, groups raised but not seen yet are
	 * answered INVALID at teardown (by the kernel or by the queue). */
	if (m.answers != m.groups || m.taken != m.answers || m.refused ||
	    (!stop_signal && st.faults != m.faults) ||
	    (code == IOPF_RESP_SUCCESS ? st.answers_success : st.answers_invalid) !=
		    m.taken) {
		fprintf(stderr, "the books do not balance\n");
		goto out;
	}
	status = 0;
out:
	/* Teardown, in the order a VMM follows: the device off the HWPT (the
	 * kernel answers INVALID what the device still waits for), the HWPT,
	 * the queue, the engine, the context. */
	if (src)
		source_detach(src);
	iopf_queue_free(q);
	iopf_engine_free(e);
	source_close(src);
	fflush(stdout);
	return status;
bad:
	example_bad_arg("iopf-monitor", longopts, opt, opt == -1 ? argv[optind] : optarg);
	usage(stderr);
	return 2;
}
