/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The bench's producer interface: what makes faults, and what gives each
 * contender its fault queue. One implementation per tier, linked into the
 * binary: producer-mock.c (libiopf's mock kernel, the host tier) and
 * producer-kernel.c (the kernel's own mock IOMMU via kt-helper, the VM tier).
 * bench.c only sees this header and the public libiopf API.
 *
 * A session is one iommufd (mock: one struct iopf_mock and its context). A
 * source is one device whose faults report into one fault queue: either a
 * libiopf queue on the caller's engine, or a raw fault fd for a hand-written
 * loop (its own queue, its own fd, as a VMM without the library would have).
 */
#ifndef IOPF_BENCH_PRODUCER_H
#define IOPF_BENCH_PRODUCER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <libiopf.h>

/* "mock" or "kernel": the tier this binary was linked for. */
extern const char bench_prod_tier[];
/* How the producer is made, for the output's header. */
extern const char bench_prod_note[];
/* Largest group the producer can make (kernel: 1, its mock sets LAST_PAGE on
 * every fault). */
extern const unsigned int bench_prod_max_group;
/* Defaults when run without arguments (the VM runs programs that way). */
extern const uint64_t bench_prod_default_faults;
extern const unsigned int bench_prod_default_reps;
/* Reps of the storm and 16queues families on the idle and the loaded host
 * (--storm-reps; 0: the same as every other family's). */
extern const unsigned int bench_prod_default_storm_reps[2];
/* The storm's faults a pass on the loaded host (--loaded-storm-faults; 0:
 * the same as every other row's). */
extern const uint64_t bench_prod_default_loaded_storm_faults;
/* Descriptors one fault queue holds (the bench raises RLIMIT_NOFILE for its
 * largest row: thousands of queues). */
extern const unsigned int bench_prod_fds_per_queue;
/* Default of --max-seconds (0: no limit). */
extern const unsigned int bench_prod_default_max_s;
/* Whether the loaded host's busy threads are pinned, one to each CPU, by
 * default (--load-pin, --load-unpinned). */
extern const bool bench_prod_default_load_pin;

struct prod_session;
struct prod_src;

/* A hand-written loop's fault queue. */
struct prod_ep {
	int fd; /* the fault fd: read records, write answers */
	int poll_fd; /* what to poll for POLLIN (mock: its eventfd) */
	void *be; /* the producer's, for prod_read/prod_write */
};

/* Returns 0 or -errno; *skip set when the tier cannot run here. */
int prod_session_new(struct prod_session **out, bool *skip);
void prod_session_free(struct prod_session *s);
/* The context libiopf queues are made on. */
struct iopf_ctx *prod_session_ctx(struct prod_session *s);

/* A source served by libiopf: a queue on engine e with opts, a device and a
 * HWPT reporting into it. *q is the library's queue. */
int prod_src_new_lib(struct prod_session *s, struct iopf_engine *e,
		     const struct iopf_queue_opts *opts, struct prod_src **out,
		     struct iopf_queue **q);
/* A source served by a hand-written loop: its own fault queue and fd, with
 * O_NONBLOCK set when nonblock (QEMU does; the kernel's fault read ignores
 * it, never blocking anyway). */
int prod_src_new_raw(struct prod_session *s, bool nonblock,
		     struct prod_src **out, struct prod_ep **ep);
/* Detaches, destroys what the source made (the libiopf queue excepted: the
 * caller frees it, after this). */
void prod_src_free(struct prod_src *src);

/* Triggers one group of n records (n <= bench_prod_max_group). seq numbers
 * the fault (addresses and group ids derive from it). */
int prod_trigger(struct prod_src *src, uint64_t seq, unsigned int n);

/* After a run: whatever the producer can tell about the books, e.g. the
 * mock's (every group answered SUCCESS exactly once, nothing pending or
 * outstanding, no bad answer). want_groups: groups triggered in the session.
 * Returns 0 or -EPROTO with a message in msg. */
int prod_session_check(struct prod_session *s, uint64_t want_groups, char *msg,
		       size_t msglen);

/* The I/O of hand-written loops, through the same backend hooks the library
 * uses on this tier (mock: read_prepare/read_done/write_done; kernel: none).
 * Return bytes or -errno. */
ssize_t prod_read(struct prod_ep *ep, void *buf, size_t len);
ssize_t prod_write(struct prod_ep *ep, const void *buf, size_t len);

#endif
