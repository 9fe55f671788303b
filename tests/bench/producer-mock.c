/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The bench's producer on the host: libiopf's mock kernel.
 *
 * Faults come from iopf_mock_trigger(). The mock stands behind a real file
 * (its fault fd) through the backend hooks of lib/backend.h: before each read
 * it stages exactly the whole groups the kernel's read would return, and it
 * judges each write's answers as the kernel would. The library calls those
 * hooks around every read and write; so that the hand-written loops pay the
 * same mock cost, prod_read()/prod_write() call the very same hooks, reached
 * through the context (ctx->ops, ctx->be), around their own read(2)/write(2).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libiopf/mock.h>

#include "internal.h"
#include "uapi/iommufd.h"

#include "producer.h"

const char bench_prod_tier[] = "mock";
const char bench_prod_note[] =
	"libiopf's mock kernel (iopf_mock_trigger); hand-written loops call "
	"the "
	"mock's read_prepare/read_done/write_done hooks around their "
	"read(2)/write(2) "
	"exactly as the library does, so both sides pay the same mock cost";
const unsigned int bench_prod_max_group = 256;
const uint64_t bench_prod_default_faults = 100000;
/* Enough for the paired ratios to settle when the host is busy (its load
 * comes and goes; best and worst reps then differ by a third). 21: the
 * 16-queue engines differ by about 1% here (the syscall entries io_uring
 * saves; the mock's work is in hooks both engines call alike), which 11
 * reps left at 0.97x-1.03x and 31 at 1.01x-1.02x. */
const unsigned int bench_prod_default_reps = 21;
/* The mock's storm and 16queues reps: as every other family's (the bench
 * stage's time limit cuts them anyway). */
const unsigned int bench_prod_default_storm_reps[2] = {0, 0};
/* A mock storm's pass is already many time slices long. */
const uint64_t bench_prod_default_loaded_storm_faults = 0;
/* The mock's fault fd is one end of a socket pair; the other end and an
 * eventfd (what is polled) are the mock's. */
const unsigned int bench_prod_fds_per_queue = 3;
/* No limit on the whole run by default (--max-seconds). */
const unsigned int bench_prod_default_max_s = 0;
/* Not pinned: a mock storm's pass (100000 faults, 3-4 ms) is about one time
 * slice of the busy thread that a pinned load puts on the consumer's CPU,
 * so a pass held one slice of it or none by its length more than by chance:
 * the storm measured 0.58x pinned, 0.79x pinned with passes ten times as
 * long (the CPU ratio's figure), 0.78x unpinned (tests/bench/README.md,
 * Hosts). */
const bool bench_prod_default_load_pin = false;

#define DATA_SELFTEST  0xdeadu
#define SELFTEST_IOTLB 0xbadbeefu

struct prod_session {
	struct iopf_mock *m;
	struct iopf_ctx *ctx;
	uint32_t ioas;
};

struct prod_src {
	struct prod_session *s;
	uint32_t dev;
	uint32_t parent;
	uint32_t nested;
	uint32_t fault_id; /* raw sources: the fault object we made */
	bool raw;
	struct prod_ep ep;
};

static const uint32_t selftest_data = SELFTEST_IOTLB;

int prod_session_new(struct prod_session **out, bool *skip)
{
	struct iopf_mock_opts mo = {.size = sizeof(mo)};
	struct prod_session *s = calloc(1, sizeof(*s));
	int rc;

	*skip = false;
	if (!s)
		return -ENOMEM;
	rc = iopf_mock_new(&mo, &s->m);
	if (rc)
		goto err;
	rc = iopf_mock_ctx_new(s->m, &s->ctx);
	if (rc)
		goto err;
	rc = iopf_ioas_alloc(s->ctx, &s->ioas);
	if (rc)
		goto err;
	*out = s;
	return 0;
err:
	prod_session_free(s);
	return rc;
}

void prod_session_free(struct prod_session *s)
{
	if (!s)
		return;
	if (s->ioas)
		iopf_destroy(s->ctx, s->ioas);
	iopf_ctx_free(s->ctx);
	iopf_mock_free(s->m);
	free(s);
}

struct iopf_ctx *prod_session_ctx(struct prod_session *s)
{
	return s->ctx;
}

static int src_base(struct prod_session *s, struct prod_src **out)
{
	struct prod_src *src = calloc(1, sizeof(*src));
	struct iopf_hwpt_args parent = {
		.size = sizeof(parent),
		.flags = IOPF_HWPT_ALLOC_NEST_PARENT,
		.pt_id = s->ioas,
	};
	int rc;

	if (!src)
		return -ENOMEM;
	src->s = s;
	src->ep.fd = -1;
	rc = iopf_mock_dev_new(s->m, &src->dev);
	if (rc)
		goto err;
	parent.dev_id = src->dev;
	rc = iopf_hwpt_alloc(s->ctx, NULL, &parent, &src->parent);
	if (rc)
		goto err;
	*out = src;
	return 0;
err:
	free(src);
	return rc;
}

int prod_src_new_lib(struct prod_session *s, struct iopf_engine *e,
		     const struct iopf_queue_opts *opts, struct prod_src **out,
		     struct iopf_queue **q)
{
	struct iopf_hwpt_args nested = {
		.size = sizeof(nested),
		.data_type = DATA_SELFTEST,
		.data_len = sizeof(selftest_data),
		.data = &selftest_data,
	};
	struct prod_src *src;
	int rc;

	*q = NULL;
	rc = src_base(s, &src);
	if (rc)
		return rc;
	rc = iopf_queue_new(s->ctx, e, opts, q);
	if (rc)
		goto err;
	nested.dev_id = src->dev;
	nested.pt_id = src->parent;
	rc = iopf_hwpt_alloc(s->ctx, *q, &nested, &src->nested);
	if (rc)
		goto err;
	rc = iopf_mock_dev_attach(s->m, src->dev, src->nested);
	if (rc)
		goto err;
	*out = src;
	return 0;
err:
	fprintf(stderr, "mock producer: libiopf source: %s (%s)\n",
		strerror(-rc), iopf_ctx_errmsg(s->ctx));
	prod_src_free(src);
	iopf_queue_free(*q);
	*q = NULL;
	return rc;
}

/* The hand-written loop's queue: the same two ioctls a VMM makes itself,
 * sent to the mock through the context's backend. */
int prod_src_new_raw(struct prod_session *s, bool nonblock,
		     struct prod_src **out, struct prod_ep **ep)
{
	struct iommu_fault_alloc fa = {.size = sizeof(fa)};
	struct iommu_hwpt_alloc ha = {.size = sizeof(ha)};
	struct iopf_ctx *ctx = s->ctx;
	struct prod_src *src;
	int rc, fl;

	rc = src_base(s, &src);
	if (rc)
		return rc;
	src->raw = true;
	rc = ctx_ioctl(ctx, IOMMU_FAULT_QUEUE_ALLOC, &fa);
	if (rc)
		goto err;
	src->fault_id = fa.out_fault_id;
	src->ep.fd = (int)fa.out_fault_fd;
	src->ep.be = ctx;
	src->ep.poll_fd = src->ep.fd;
	if (ctx->ops->poll_fd) {
		src->ep.poll_fd = ctx->ops->poll_fd(ctx->be, src->ep.fd);
		if (src->ep.poll_fd < 0) {
			rc = src->ep.poll_fd;
			goto err;
		}
	}
	if (nonblock) {
		fl = fcntl(src->ep.fd, F_GETFL);
		if (fl < 0 || fcntl(src->ep.fd, F_SETFL, fl | O_NONBLOCK) < 0) {
			rc = -errno;
			goto err;
		}
	}
	ha.flags = IOMMU_HWPT_FAULT_ID_VALID;
	ha.dev_id = src->dev;
	ha.pt_id = src->parent;
	ha.data_type = DATA_SELFTEST;
	ha.data_len = sizeof(selftest_data);
	ha.data_uptr = (uint64_t)(uintptr_t)&selftest_data;
	ha.fault_id = src->fault_id;
	rc = ctx_ioctl(ctx, IOMMU_HWPT_ALLOC, &ha);
	if (rc)
		goto err;
	src->nested = ha.out_hwpt_id;
	rc = iopf_mock_dev_attach(s->m, src->dev, src->nested);
	if (rc)
		goto err;
	*out = src;
	*ep = &src->ep;
	return 0;
err:
	fprintf(stderr, "mock producer: raw source: %s\n", strerror(-rc));
	prod_src_free(src);
	return rc;
}

void prod_src_free(struct prod_src *src)
{
	struct iopf_ctx *ctx;

	if (!src)
		return;
	ctx = src->s->ctx;
	iopf_mock_dev_detach(src->s->m, src->dev);
	if (src->nested)
		iopf_destroy(ctx, src->nested);
	if (src->raw && src->ep.fd >= 0) {
		if (ctx->ops->fault_close)
			ctx->ops->fault_close(ctx->be, src->ep.fd);
		else
			close(src->ep.fd);
	}
	if (src->fault_id)
		iopf_destroy(ctx, src->fault_id);
	if (src->parent)
		iopf_destroy(ctx, src->parent);
	free(src);
}

int prod_trigger(struct prod_src *src, uint64_t seq, unsigned int n)
{
	struct iopf_mock_fault recs[256];

	if (n == 0 || n > bench_prod_max_group)
		return -EINVAL;
	for (unsigned int i = 0; i < n; i++) {
		recs[i] = (struct iopf_mock_fault){
			.perm = IOPF_PERM_READ | IOPF_PERM_WRITE,
			.addr = ((seq + i) & 0xfffffffull) << 12,
		};
	}
	return iopf_mock_trigger(src->s->m, src->dev, (uint32_t)(seq & 0x1ff),
				 recs, n, NULL);
}

int prod_session_check(struct prod_session *s, uint64_t want_groups, char *msg,
		       size_t msglen)
{
	struct iopf_mock_stats st = {.size = sizeof(st)};
	int rc = iopf_mock_stats(s->m, &st);

	if (rc) {
		snprintf(msg, msglen, "iopf_mock_stats: %s", strerror(-rc));
		return -EPROTO;
	}
	if (st.groups_triggered != want_groups ||
	    st.answered_success != want_groups || st.answered_invalid ||
	    st.bad_unknown || st.bad_duplicate || st.bad_code || st.pending ||
	    st.outstanding) {
		snprintf(
			msg, msglen,
			"mock books: triggered %llu (want %llu), success %llu, "
			"invalid %llu, bad unknown/duplicate/code "
			"%llu/%llu/%llu, "
			"pending %llu, outstanding %llu",
			(unsigned long long)st.groups_triggered,
			(unsigned long long)want_groups,
			(unsigned long long)st.answered_success,
			(unsigned long long)st.answered_invalid,
			(unsigned long long)st.bad_unknown,
			(unsigned long long)st.bad_duplicate,
			(unsigned long long)st.bad_code,
			(unsigned long long)st.pending,
			(unsigned long long)st.outstanding);
		return -EPROTO;
	}
	return 0;
}

/* As lib/queue.c's q_read()/q_write(), hook for hook. */
ssize_t prod_read(struct prod_ep *ep, void *buf, size_t len)
{
	struct iopf_ctx *ctx = ep->be;
	const struct iopf_backend_ops *ops = ctx->ops;
	ssize_t res;

	if (ops->read_prepare && ops->read_prepare(ctx->be, ep->fd, len, &res))
		return res;
	res = read(ep->fd, buf, len);
	if (res < 0)
		res = -errno;
	if (ops->read_done)
		res = ops->read_done(ctx->be, ep->fd, buf, len, res);
	return res;
}

ssize_t prod_write(struct prod_ep *ep, const void *buf, size_t len)
{
	struct iopf_ctx *ctx = ep->be;
	const struct iopf_backend_ops *ops = ctx->ops;
	ssize_t res = write(ep->fd, buf, len);

	if (res < 0)
		res = -errno;
	if (ops->write_done)
		res = ops->write_done(ctx->be, ep->fd, buf, len, res);
	return res;
}
