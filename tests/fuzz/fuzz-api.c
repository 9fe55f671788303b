/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target: the public API's argument checks, on the mock kernel.
 *
 * The input is decoded into a sequence of calls of libiopf.h and
 * libiopf/mock.h with arbitrary, mostly invalid, arguments: NULL pointers,
 * sized structs whose size field says anything from 0 to past the struct
 * (backed by that many bytes, as the contract asks), unknown flags, ids that
 * name nothing or the wrong kind of object, out-of-range codes, counts and
 * timeouts, failures injected into the mock's ioctls and fault fds, and the
 * objects created, used and freed in any order the contract allows (queues
 * before their context; groups only while their queue lives).
 *
 * Nothing may crash, hang or leak memory (LeakSanitizer) or fds; and the
 * mock's books must never show an answer with a cookie the library was not
 * given or with a bad code, nor (while no device left its HWPT, which makes
 * later answers legitimately stale) a second answer to one group; nor a group
 * read and left unanswered once every queue is freed, unless an injected
 * write failure lost its answer.
 *
 * What the contract leaves to the caller is not fuzzed: pointers that point
 * at nothing (a struct shorter than its size field, a data pointer shorter
 * than data_len, handler pointers), use after free, and waits that block
 * forever (timeout -1).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libiopf.h>
#include <libiopf/mock.h>

#define MAX_CTX 3
#define MAX_ENG 2
#define MAX_Q 4
#define MAX_HELD 64
#define MAX_IDS 32

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "fuzz-api: %s:%d: %s: ", __FILE__,     \
				__LINE__, #cond);                              \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			abort();                                               \
		}                                                              \
	} while (0)

static int trace = -1;

/* FUZZ_TRACE=1: every call's result, to see what a seed does. */
#define TRACE(...)                                                             \
	do {                                                                   \
		if (trace < 0)                                                 \
			trace = getenv("FUZZ_TRACE") != NULL;                  \
		if (trace)                                                     \
			fprintf(stderr, __VA_ARGS__);                          \
	} while (0)

struct in {
	const uint8_t *p;
	size_t n, off;
};

static uint8_t u8(struct in *in)
{
	return in->off < in->n ? in->p[in->off++] : 0;
}

static uint32_t u32(struct in *in)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v |= (uint32_t)u8(in) << (8 * i);
	return v;
}

static void take(struct in *in, void *dst, size_t len)
{
	size_t have = in->n - in->off < len ? in->n - in->off : len;

	memset(dst, 0, len);
	memcpy(dst, in->p + in->off, have);
	in->off += have;
}

struct qent {
	struct iopf_queue *q;
	int ctx, eng;
};

struct hent {
	struct iopf_group *g;
	int qi;
};

struct st {
	struct in *in;
	struct iopf_mock *m; /* NULL once freed */
	struct iopf_ctx *ctx[MAX_CTX];
	bool ctx_kernel[MAX_CTX]; /* over /dev/null, not the mock */
	struct iopf_engine *eng[MAX_ENG];
	struct qent q[MAX_Q];
	struct hent held[MAX_HELD];
	unsigned int nheld;
	uint32_t ids[MAX_IDS]; /* every id an API call gave out */
	unsigned int nids;
	int devnull;
	bool lossy; /* a write failure was injected: answers may be lost */
	uint64_t answered_cbs;
};

static struct st *cur; /* for the handler */

static void add_id(struct st *s, uint32_t id)
{
	s->ids[s->nids++ % MAX_IDS] = id;
}

/* An id: one given out, or anything. */
static uint32_t pick_id(struct st *s)
{
	uint8_t b = u8(s->in);

	if (b < 200 && s->nids)
		return s->ids[b % (s->nids < MAX_IDS ? s->nids : MAX_IDS)];
	if (b < 240)
		return b - 200u;
	return u32(s->in);
}

static struct iopf_ctx *pick_ctx(struct st *s, int *idx)
{
	uint8_t b = u8(s->in) % (MAX_CTX + 1);

	*idx = b < MAX_CTX ? b : -1;
	return b < MAX_CTX ? s->ctx[b] : NULL;
}

static struct iopf_engine *pick_eng(struct st *s, int *idx)
{
	uint8_t b = u8(s->in) % (MAX_ENG + 1);

	*idx = b < MAX_ENG ? b : -1;
	return b < MAX_ENG ? s->eng[b] : NULL;
}

static int pick_q(struct st *s)
{
	return u8(s->in) % MAX_Q;
}

/* A sized struct as a caller might pass it: `size` is anything, and as many
 * bytes as it says are really there. Returns a buffer of at least `min`. */
static void *sized(struct st *s, size_t min, uint32_t *size_out)
{
	uint8_t b = u8(s->in);
	uint32_t size;
	unsigned char *p;

	switch (b & 3) {
	case 0:
		size = (uint32_t)min; /* right */
		break;
	case 1:
		size = b >> 2; /* short, or a little longer */
		break;
	default:
		size = (uint32_t)min + (b >> 2); /* longer: trailing bytes */
		break;
	}
	p = calloc(1, (size > min ? size : min) + 8);
	CHECK(p, "oom");
	if (b & 0x80)
		take(s->in, p, size > min ? size : min);
	memcpy(p, &size, sizeof(size));
	*size_out = size;
	return p;
}

static void forget_queue(struct st *s, int qi)
{
	for (unsigned int i = 0; i < s->nheld;) {
		if (s->held[i].qi == qi)
			s->held[i] = s->held[--s->nheld];
		else
			i++;
	}
	s->q[qi].q = NULL;
}

static void hold(struct st *s, struct iopf_group *g)
{
	struct iopf_queue *q = iopf_group_queue(g);
	int qi = -1;

	for (int i = 0; i < MAX_Q; i++)
		if (s->q[i].q && s->q[i].q == q)
			qi = i;
	CHECK(qi >= 0, "a group of no live queue");
	if (s->nheld == MAX_HELD) {
		int rc = iopf_group_respond(g, IOPF_RESP_SUCCESS);

		CHECK(rc == 0 || rc == -ETIMEDOUT || rc == -ESTALE,
		      "respond: %d", rc);
		return;
	}
	s->held[s->nheld++] = (struct hent){ g, qi };
}

static int handler(struct iopf_group *g, void *user)
{
	struct st *s = cur;
	uint8_t b = u8(s->in);

	(void)user;
	CHECK(iopf_group_count(g) > 0, "empty group");
	if (b & 1) {
		hold(s, g);
		return b & 2 ? -ECANCELED : 0;
	}
	(void)iopf_group_respond(g, b >> 1 & 1);
	return 0;
}

static void answered(struct iopf_queue *q, uint64_t tag, uint32_t cookie,
		     uint32_t code, int result, void *user)
{
	struct st *s = cur;

	(void)q;
	(void)tag;
	(void)cookie;
	(void)user;
	CHECK(code <= IOPF_RESP_INVALID, "answered with code %u", code);
	CHECK(result <= 0, "answered with result %d", result);
	s->answered_cbs++;
}

/* ---- operations ---------------------------------------------------------- */

static void op_ctx_new(struct st *s)
{
	int i = u8(s->in) % MAX_CTX;
	uint8_t how = u8(s->in);
	struct iopf_ctx *ctx = NULL;
	int rc;

	if (s->ctx[i])
		return;
	switch (how % 5) {
	case 0:
		rc = iopf_mock_ctx_new(s->m, how & 0x80 ? NULL : &ctx);
		break;
	case 1:
		rc = iopf_mock_ctx_new(NULL, &ctx);
		CHECK(rc == -EINVAL, "mock_ctx_new(NULL): %d", rc);
		break;
	case 2:
		/* Never /dev/iommu itself: the fuzzer must not touch a real
		 * kernel's objects. */
		rc = iopf_ctx_open("/nonexistent/iommu", how & 0x80 ? NULL : &ctx);
		CHECK(rc < 0, "ctx_open: %d", rc);
		break;
	case 3:
		rc = iopf_ctx_from_fd((how & 0x80) ? -1 : 1 << 20, &ctx);
		CHECK(rc < 0, "ctx_from_fd(bad): %d", rc);
		break;
	default:
		/* A real fd that is not an iommufd: every ioctl is ENOTTY. */
		rc = iopf_ctx_from_fd(s->devnull, &ctx);
		if (!rc)
			s->ctx_kernel[i] = true;
		break;
	}
	TRACE("ctx_new[%d] how %u: %d\n", i, how % 5, rc);
	CHECK(rc <= 0, "ctx constructor: %d", rc);
	CHECK((rc == 0) == (ctx != NULL), "ctx constructor: %d with %p", rc,
	      (void *)ctx);
	if (!s->m && how % 5 == 0)
		CHECK(rc == -EINVAL, "mock_ctx_new on no mock: %d", rc);
	s->ctx[i] = ctx;
}

static void op_ctx_free(struct st *s)
{
	int i = u8(s->in) % MAX_CTX;

	for (int qi = 0; qi < MAX_Q; qi++)
		if (s->q[qi].q && s->q[qi].ctx == i)
			return; /* the contract: queues go first */
	iopf_ctx_free(s->ctx[i]);
	s->ctx[i] = NULL;
	s->ctx_kernel[i] = false;
}

static void op_engine_new(struct st *s)
{
	int i = u8(s->in) % MAX_ENG;
	struct iopf_engine_opts *o;
	struct iopf_engine *e = (void *)1;
	uint8_t how = u8(s->in);
	uint32_t size;
	int rc;

	if (s->eng[i])
		return;
	o = sized(s, sizeof(*o), &size);
	if (size >= offsetof(struct iopf_engine_opts, ring_entries) + 4 &&
	    !(how & 1))
		/* Keep rings small, mostly: a big one is slow, not wrong. */
		o->ring_entries %= 64;
	rc = iopf_engine_new(how & 2 ? NULL : o, how & 4 ? NULL : &e);
	free(o);
	if (how & 4) {
		CHECK(rc == -EINVAL, "engine_new(out NULL): %d", rc);
		return;
	}
	TRACE("engine_new[%d]: %d\n", i, rc);
	CHECK(rc <= 0 && (rc == 0) == (e != NULL), "engine_new: %d", rc);
	s->eng[i] = e;
}

static void op_engine_free(struct st *s)
{
	int i = u8(s->in) % MAX_ENG;

	if (!s->eng[i])
		return;
	/* Frees its queues too. */
	for (int qi = 0; qi < MAX_Q; qi++)
		if (s->q[qi].q && s->q[qi].eng == i)
			forget_queue(s, qi);
	iopf_engine_free(s->eng[i]);
	s->eng[i] = NULL;
}

static void op_queue_new(struct st *s)
{
	int qi = pick_q(s), ci, ei;
	struct iopf_ctx *ctx = pick_ctx(s, &ci);
	struct iopf_engine *e = pick_eng(s, &ei);
	struct iopf_queue_opts *o;
	struct iopf_queue *q = (void *)1;
	uint8_t how = u8(s->in);
	uint32_t size;
	int rc;

	if (s->q[qi].q)
		return;
	o = sized(s, sizeof(*o), &size);
	/* The pointers in it must be real ones. A size that ends inside one
	 * gives the library its first bytes only (as it would the kernel's
	 * extensible structs): those are zeroed, or a handler would be half
	 * a pointer. */
	o->handler = size >= offsetof(struct iopf_queue_opts, handler) +
				     sizeof(void *) && how & 8 ?
			     handler :
			     NULL;
	o->answered = size >= offsetof(struct iopf_queue_opts, answered) +
				      sizeof(void *) && how & 16 ?
			      answered :
			      NULL;
	o->user = size >= offsetof(struct iopf_queue_opts, user) + sizeof(void *) ?
			  s :
			  NULL;
	/* A 65536-record buffer is fine but slow: mostly keep them small. */
	if (size >= offsetof(struct iopf_queue_opts, max_group) && !(how & 32))
		o->batch %= 300;
	rc = iopf_queue_new(ctx, e, how & 1 ? NULL : o, how & 2 ? NULL : &q);
	free(o);
	if (how & 2) {
		CHECK(rc == -EINVAL, "queue_new(out NULL): %d", rc);
		return;
	}
	TRACE("queue_new[%d] ctx %d eng %d: %d\n", qi, ci, ei, rc);
	CHECK(rc <= 0 && (rc == 0) == (q != NULL), "queue_new: %d", rc);
	if (rc == 0) {
		CHECK(ctx && e, "a queue without ctx or engine");
		s->q[qi] = (struct qent){ q, ci, ei };
		add_id(s, iopf_queue_id(q));
		CHECK(iopf_queue_fd(q) >= 0, "queue fd");
	} else if (ctx) {
		CHECK(iopf_ctx_errmsg(ctx) != NULL, "errmsg");
	}
}

static void op_queue_free(struct st *s)
{
	int qi = pick_q(s);

	if (!s->q[qi].q)
		return;
	iopf_queue_free(s->q[qi].q);
	forget_queue(s, qi);
}

static void op_hwpt(struct st *s)
{
	int ci, qi = pick_q(s);
	struct iopf_ctx *ctx = pick_ctx(s, &ci);
	struct iopf_queue *q = u8(s->in) & 1 ? s->q[qi].q : NULL;
	struct iopf_hwpt_args *a;
	unsigned char data[64];
	uint8_t how = u8(s->in);
	uint32_t size, id = 0;
	int rc;

	a = sized(s, sizeof(*a), &size);
	take(s->in, data, sizeof(data));
	if (how & 1) {
		a->flags = how & 2 ? IOPF_HWPT_ALLOC_NEST_PARENT : 0;
		a->dev_id = pick_id(s);
		a->pt_id = pick_id(s);
		a->data_type = how & 4 ? 0xdead : 0;
		a->data_len = how & 4 ? 4 : 0;
	}
	if (a->data_len > sizeof(data))
		a->data_len %= sizeof(data) + 1;
	/* data must point at data_len bytes, or be NULL; how & 8 makes the
	 * two disagree. */
	if (size >= offsetof(struct iopf_hwpt_args, data) + sizeof(void *))
		a->data = !a->data_len == !(how & 8) ? NULL : data;
	rc = iopf_hwpt_alloc(ctx, q, a, how & 16 ? NULL : &id);
	free(a);
	TRACE("hwpt_alloc: %d id %u\n", rc, id);
	CHECK(rc <= 0, "hwpt_alloc: %d", rc);
	if (rc == 0)
		add_id(s, id);
}

static void op_ids(struct st *s)
{
	int ci;
	struct iopf_ctx *ctx = pick_ctx(s, &ci);
	uint8_t how = u8(s->in);
	uint32_t id = 0;
	uint64_t feat = 0;
	int rc;

	switch (how % 4) {
	case 0:
		rc = iopf_ioas_alloc(ctx, how & 4 ? NULL : &id);
		if (rc == 0)
			add_id(s, id);
		break;
	case 1:
		rc = iopf_destroy(ctx, pick_id(s));
		break;
	case 2:
		rc = iopf_ctx_probe(ctx, how & 4 ? NULL : &feat);
		break;
	default:
		rc = iopf_ctx_fd(ctx);
		CHECK(ctx ? rc >= 0 : rc == -EINVAL, "ctx_fd: %d", rc);
		rc = 0;
		break;
	}
	TRACE("ctx op %u: %d id %u\n", how % 4, rc, id);
	CHECK(rc <= 0, "ctx op %u: %d", how % 4, rc);
	CHECK(iopf_ctx_errmsg(ctx) != NULL, "errmsg");
	if (ctx)
		CHECK(strlen(iopf_ctx_errmsg(ctx)) < 1024, "errmsg length");
}

static void op_mock_dev(struct st *s)
{
	uint8_t how = u8(s->in);
	uint32_t id = 0;
	int rc;

	if (!s->m)
		return;
	switch (how % 3) {
	case 0:
		rc = iopf_mock_dev_new(how & 4 ? NULL : s->m, &id);
		if (rc == 0)
			add_id(s, id);
		break;
	case 1:
		id = pick_id(s);
		rc = iopf_mock_dev_attach(s->m, id, pick_id(s));
		break;
	default:
		rc = iopf_mock_dev_detach(s->m, pick_id(s));
		break;
	}
	TRACE("mock dev op %u: %d id %u\n", how % 3, rc, id);
	CHECK(rc <= 0, "mock dev op: %d", rc);
}

static void op_trigger(struct st *s)
{
	struct iopf_mock_fault f[8];
	uint8_t how = u8(s->in);
	unsigned int n = how % 9;
	uint32_t dev, grpid;
	uint64_t gid = 0;
	int rc;

	if (!s->m)
		return;
	take(s->in, f, sizeof(f));
	dev = pick_id(s);
	grpid = u8(s->in);
	rc = iopf_mock_trigger(s->m, dev, grpid, how & 0x80 ? NULL : f, n,
			       how & 0x40 ? NULL : &gid);
	TRACE("trigger dev %u n %u: %d\n", dev, n, rc);
	CHECK(rc <= 0, "trigger: %d", rc);
}

static void op_inject(struct st *s)
{
	static const unsigned int nrs[] = { 0, 0x80, 0x81, 0x89, 0x8a, 0x8e,
					    0x93, 0x100 };
	uint8_t how = u8(s->in);
	int rc, arg = (int8_t)u8(s->in);

	if (!s->m)
		return;
	if (how & 1) {
		rc = iopf_mock_inject_ioctl(s->m, nrs[(how >> 1) % 8],
					    (how >> 4) % 5, arg);
	} else {
		int what = (how >> 1) % 8;

		rc = iopf_mock_inject_fd(s->m, pick_id(s),
					 (enum iopf_mock_fd_fault)what,
					 (how >> 4) % 4, arg);
		if (rc == 0 && (what == IOPF_MOCK_WRITE_ERRNO ||
				what == IOPF_MOCK_FD_CLOSED ||
				what == IOPF_MOCK_WRITE_SHORT))
			s->lossy = true;
	}
	TRACE("inject %u: %d\n", how, rc);
	CHECK(rc <= 0, "inject: %d", rc);
}

static void op_run(struct st *s)
{
	int ei;
	struct iopf_engine *e = pick_eng(s, &ei);
	struct iopf_group *gs[16];
	uint8_t how = u8(s->in);
	int rc;

	switch (how % 6) {
	case 0:
		rc = iopf_engine_process(e);
		break;
	case 1:
		/* Never -1: nothing would come. */
		rc = iopf_engine_wait(e, how & 8 ? -2 - (how >> 4) : 0);
		if (how & 8)
			CHECK(rc == -EINVAL, "wait(<-1): %d", rc);
		break;
	case 2:
		rc = iopf_engine_flush(e);
		break;
	case 3:
		rc = iopf_engine_dispatch(e, how & 8 ? -5 : 0);
		break;
	case 4: {
		unsigned int max = (how >> 3) % 17;

		rc = iopf_engine_pull(e, how & 0x80 ? NULL : gs, max);
		if (!e || !max || (how & 0x80))
			CHECK(rc == -EINVAL, "pull: %d", rc);
		for (int i = 0; i < rc; i++)
			hold(s, gs[i]);
		break;
	}
	default:
		rc = iopf_engine_fd(e);
		CHECK(e ? rc >= 0 : rc == -EINVAL, "engine_fd: %d", rc);
		rc = iopf_engine_kind(e);
		CHECK(e ? (rc == IOPF_ENGINE_URING || rc == IOPF_ENGINE_PLAIN) :
			  rc == -EINVAL,
		      "engine_kind: %d", rc);
		break;
	}
	TRACE("run %u: %d\n", how % 6, rc);
	(void)rc; /* engine errors are what the mock was told to cause */
}

static void op_group(struct st *s)
{
	uint8_t how = u8(s->in);
	struct iopf_group *g;
	unsigned int i;
	int rc;

	if (!s->nheld || (how & 0x80)) {
		/* NULL everywhere. */
		CHECK(iopf_group_count(NULL) == 0 && !iopf_group_fault(NULL, 0) &&
			      !iopf_group_cookie(NULL) && !iopf_group_tag(NULL) &&
			      !iopf_group_queue(NULL) && !iopf_group_user(NULL),
		      "NULL group");
		iopf_group_set_user(NULL, s);
		CHECK(iopf_group_respond(NULL, 0) == -EINVAL, "respond NULL");
		return;
	}
	i = u8(s->in) % s->nheld;
	g = s->held[i].g;
	switch (how % 3) {
	case 0: {
		uint32_t code = how & 8 ? u32(s->in) : (how >> 4) & 1;

		rc = iopf_group_respond(g, code);
		if (code > IOPF_RESP_INVALID) {
			CHECK(rc == -EINVAL, "respond(code %u): %d", code, rc);
			break;
		}
		CHECK(rc == 0 || rc == -ETIMEDOUT || rc == -ESTALE ||
			      rc == -ENOMEM,
		      "respond: %d", rc);
		if (rc != -ENOMEM)
			s->held[i] = s->held[--s->nheld];
		break;
	}
	case 1: {
		unsigned int n = iopf_group_count(g), j = u8(s->in);
		const struct iopf_fault *f = iopf_group_fault(g, j);

		CHECK(n > 0, "empty group");
		CHECK((j < n) == (f != NULL), "fault %u of %u", j, n);
		if (f)
			CHECK(f->cookie == iopf_group_cookie(g), "cookie");
		break;
	}
	default:
		iopf_group_set_user(g, s);
		CHECK(iopf_group_user(g) == s, "user");
		CHECK(iopf_group_queue(g) == s->q[s->held[i].qi].q, "queue");
		break;
	}
}

static void op_stats(struct st *s)
{
	uint8_t how = u8(s->in);
	uint32_t size;
	void *p;
	int rc;

	switch (how % 3) {
	case 0: {
		struct iopf_queue *q = s->q[pick_q(s)].q;

		p = sized(s, sizeof(struct iopf_stats), &size);
		rc = iopf_queue_stats(how & 4 ? NULL : q, how & 8 ? NULL : p);
		CHECK(rc <= 0, "queue_stats: %d", rc);
		if (q) {
			CHECK(iopf_queue_user(q) == s || iopf_queue_user(q) == NULL,
			      "queue user");
			CHECK(iopf_queue_id(q) != 0, "queue id");
		}
		break;
	}
	case 1:
		p = sized(s, sizeof(struct iopf_mock_stats), &size);
		rc = iopf_mock_stats(how & 4 ? NULL : s->m, how & 8 ? NULL : p);
		CHECK(rc <= 0, "mock_stats: %d", rc);
		break;
	default:
		p = sized(s, sizeof(struct iopf_mock_group_info), &size);
		rc = iopf_mock_group_info(how & 4 ? NULL : s->m, u8(s->in),
					  how & 8 ? NULL : p);
		CHECK(rc <= 0, "group_info: %d", rc);
		break;
	}
	CHECK(iopf_queue_fd(NULL) == -EINVAL && iopf_queue_id(NULL) == 0 &&
		      iopf_queue_user(NULL) == NULL,
	      "NULL queue");
	free(p);
}

/* ---- the run ------------------------------------------------------------- */

static void run(const uint8_t *data, size_t size)
{
	struct in in = { data, size, 0 };
	struct iopf_mock_opts *mo;
	struct st s;
	uint32_t msize;
	int rc;

	memset(&s, 0, sizeof(s));
	s.in = &in;
	cur = &s;
	s.devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	CHECK(s.devnull >= 0, "/dev/null");

	mo = sized(&s, sizeof(*mo), &msize);
	rc = iopf_mock_new(u8(&in) & 1 ? NULL : mo, &s.m);
	free(mo);
	CHECK(rc <= 0 && (rc == 0) == (s.m != NULL), "mock_new: %d", rc);
	if (rc)
		CHECK(iopf_mock_new(NULL, &s.m) == 0, "mock_new(NULL)");
	CHECK(iopf_mock_new(NULL, NULL) == -EINVAL, "mock_new out NULL");

	while (in.off < in.n) {
		uint8_t op = u8(&in);

		switch (op % 18) {
		case 0:
			op_ctx_new(&s);
			break;
		case 1:
			op_ctx_free(&s);
			break;
		case 2:
			op_engine_new(&s);
			break;
		case 3:
			op_engine_free(&s);
			break;
		case 4:
			op_queue_new(&s);
			break;
		case 5:
			op_queue_free(&s);
			break;
		case 6:
			op_hwpt(&s);
			break;
		case 7:
			op_ids(&s);
			break;
		case 8:
			op_mock_dev(&s);
			break;
		case 9:
		case 10:
			op_trigger(&s);
			break;
		case 11:
			op_inject(&s);
			break;
		case 12:
		case 13:
			op_run(&s);
			break;
		case 14:
		case 15:
			op_group(&s);
			break;
		case 16:
			op_stats(&s);
			break;
		default:
			/* The creator's reference goes; contexts and fds
			 * keep the mock alive. */
			if (op & 0x80 && s.m) {
				iopf_mock_free(s.m);
				s.m = NULL;
			}
			break;
		}
	}

	/* Teardown in an order the contract allows. */
	for (int qi = 0; qi < MAX_Q; qi++)
		if (s.q[qi].q) {
			iopf_queue_free(s.q[qi].q);
			forget_queue(&s, qi);
		}
	if (s.m) {
		struct iopf_mock_stats st = { .size = sizeof(st) };

		CHECK(iopf_mock_stats(s.m, &st) == 0, "mock_stats");
		CHECK(st.bad_unknown == 0, "%llu answers with unknown cookies",
		      (unsigned long long)st.bad_unknown);
		CHECK(st.bad_code == 0, "%llu answers with bad codes",
		      (unsigned long long)st.bad_code);
		if (!st.auto_detach)
			CHECK(st.bad_duplicate == 0, "%llu duplicate answers",
			      (unsigned long long)st.bad_duplicate);
		if (getenv("FUZZ_VERBOSE"))
			fprintf(stderr,
				"fuzz-api: triggered %llu delivered %llu success %llu invalid %llu detach %llu outstanding %llu pending %llu\n",
				(unsigned long long)st.groups_triggered,
				(unsigned long long)st.groups_delivered,
				(unsigned long long)st.answered_success,
				(unsigned long long)st.answered_invalid,
				(unsigned long long)st.auto_detach,
				(unsigned long long)st.outstanding,
				(unsigned long long)st.pending);
		if (!s.lossy)
			CHECK(st.outstanding == 0,
			      "%llu groups read and not answered",
			      (unsigned long long)st.outstanding);
	}
	for (int i = 0; i < MAX_ENG; i++)
		iopf_engine_free(s.eng[i]);
	for (int i = 0; i < MAX_CTX; i++)
		iopf_ctx_free(s.ctx[i]);
	iopf_mock_free(s.m);
	iopf_engine_free(NULL);
	iopf_ctx_free(NULL);
	iopf_queue_free(NULL);
	iopf_mock_free(NULL);
	close(s.devnull);
	cur = NULL;
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int before = count_fds();

	run(data, size);
	CHECK(count_fds() == before, "fd leak: %d open, %d before",
	      count_fds(), before);
	return 0;
}
