/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target: the record-to-group path.
 *
 * The input is a script. Its first two bytes choose the queue's shape (engine,
 * batch, max_group, deadline, handler); the rest is a sequence of operations:
 * bytes that a read of the fault fd returns (whole records in the kernel's
 * layout with any flags and cookies, compact records that make repeated
 * cookies and missing LAST_PAGE likely, or raw bytes of any length), read
 * results (0, EINVAL: "does not fit", EAGAIN, EIO ...), write results (short,
 * EINVAL, EAGAIN, EIO), and the caller's side: process, wait, pull, dispatch,
 * respond (good and bad codes, twice; one by one and in batches), flush. At the
 * end the queue, the engine and the context are freed.
 *
 * The kernel here is a backend of the fuzzer's own (lib/backend.h): its fault
 * fd is /dev/zero, and its read_done/write_done hooks put the script's bytes
 * in the library's buffer and take every answer the library writes. The mock
 * kernel cannot serve: it only delivers groups it made itself, with cookies
 * it gave out, and this target is about what the library does with anything.
 *
 * Invariants checked (abort() on failure, which libFuzzer reports):
 *  - an oracle replays every record the library was given, in order with the
 *    answers it wrote, through the rules of lib/group.c (a group opens with a
 *    record when none is open; a new cookie closes an open group as
 *    malformed; LAST_PAGE ends it; past max_group it is answered INVALID and
 *    the rest of it skipped; what is open at teardown is answered INVALID),
 *    and predicts every group, its tag and its records;
 *  - every group handed out (pull or dispatch) is one of those, record for
 *    record, with its flags and perm masked as documented;
 *  - answers: a cookie given out again means the kernel answered its group
 *    (on detach), so each group gets at most one answer, written after it
 *    opened and before its cookie opened another group, and the last group
 *    of each cookie exactly one; its code is the caller's if the caller's
 *    iopf_group_respond() returned 0, INVALID otherwise. Write results that
 *    say "try again" or "short" must be retried; a refused or failed answer
 *    counts once;
 *  - the answered callback reports each written answer once, in order, with
 *    the tag of the group it was for, and -ESTALE only for groups whose
 *    cookie was given out again;
 *  - a second iopf_group_respond() on a group just answered is -EALREADY;
 *  - no fd is left open and (LeakSanitizer) no memory.
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
#include <sys/eventfd.h>
#include <unistd.h>

#include <libiopf.h>

#include "backend.h"
#include "core.h" /* MAX_TRACKED_COOKIE */
#include "uapi/iommufd.h"

#define REC sizeof(struct iommu_hwpt_pgfault)
#define RSP sizeof(struct iommu_hwpt_page_response)
#define FAKE_FAULT_ID 7u
#define MAX_HELD 512

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "fuzz-records: %s:%d: %s: ", __FILE__, \
				__LINE__, #cond);                              \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			abort();                                               \
		}                                                              \
	} while (0)

/* ---- growable arrays --------------------------------------------------- */

#define VEC(T)                                                                 \
	struct {                                                               \
		T *v;                                                          \
		size_t n, cap;                                                 \
	}

static void *vec_grow(void *v, size_t *cap, size_t need, size_t elem)
{
	size_t c = *cap ? *cap : 16;

	if (need <= *cap)
		return v;
	while (c < need)
		c *= 2;
	v = realloc(v, c * elem);
	CHECK(v, "out of memory");
	*cap = c;
	return v;
}

#define VEC_PUSH(a, x)                                                         \
	do {                                                                   \
		(a).v = vec_grow((a).v, &(a).cap, (a).n + 1, sizeof(*(a).v));  \
		(a).v[(a).n++] = (x);                                          \
	} while (0)

/* ---- the script -------------------------------------------------------- */

struct in {
	const uint8_t *p;
	size_t n, off;
};

static bool in_more(const struct in *in)
{
	return in->off < in->n;
}

static uint8_t u8(struct in *in)
{
	return in->off < in->n ? in->p[in->off++] : 0;
}

static void take(struct in *in, void *dst, size_t len)
{
	size_t have = in->n - in->off < len ? in->n - in->off : len;

	memset(dst, 0, len);
	memcpy(dst, in->p + in->off, have);
	in->off += have;
}

/* ---- the fuzzer's kernel ------------------------------------------------ */

enum chunk_kind { CH_RECORDS, CH_BYTES, CH_RESULT };

struct chunk {
	enum chunk_kind kind;
	ssize_t res; /* CH_RESULT */
	unsigned char *bytes;
	size_t len, off;
};

enum wres { W_SHORT = 1, W_EINVAL, W_EAGAIN, W_ZERO, W_EIO };

struct wrule {
	enum wres what;
	uint32_t arg;
};

struct answer {
	uint32_t cookie, code;
	uint64_t tag; /* accepted: the group's; else unused (0) */
	uint64_t seq; /* written: when */
};

/* A record as delivered, and when. */
struct drec {
	struct iommu_hwpt_pgfault r;
	uint64_t seq;
};

struct held {
	struct iopf_group *g;
	uint64_t tag;
	uint32_t cookie;
};

/* A group as handed out, kept for the final comparison with the oracle. */
struct seen {
	uint64_t tag;
	uint32_t count;
	size_t first; /* into seen_faults */
};

struct cb {
	uint64_t tag;
	uint32_t cookie, code;
	int result;
};

struct fk {
	int efd; /* poll_fd: readable while a chunk waits */
	bool efd_set;
	int fault_fd; /* /dev/zero, -1 once closed */
	bool closed;

	VEC(struct chunk) chunks;
	size_t chunk_head;
	VEC(struct wrule) wrules;
	size_t wrule_head;

	uint64_t seq; /* orders deliveries and answers */
	VEC(struct drec) delivered; /* every record ingested */
	VEC(struct answer) written; /* every answer resolved by a write */

	struct in *in;
	struct iopf_queue *q;
	uint32_t max_group; /* as the library computes it */
	VEC(struct held) held;
	VEC(struct answer) accepted; /* the caller's answers taken (rc 0) */
	VEC(struct seen) seen;
	VEC(struct iopf_fault) seen_faults;
	VEC(struct cb) cbs;
	uint64_t last_tag;
};

static void fk_update_efd(struct fk *k)
{
	bool want = k->chunk_head < k->chunks.n;
	uint64_t v = 1;

	if (want && !k->efd_set) {
		CHECK(write(k->efd, &v, sizeof(v)) == sizeof(v), "eventfd");
		k->efd_set = true;
	} else if (!want && k->efd_set) {
		CHECK(read(k->efd, &v, sizeof(v)) == sizeof(v), "eventfd");
		k->efd_set = false;
	}
}

static int fk_ioctl(void *be, unsigned long cmd, void *arg)
{
	struct fk *k = be;

	if (cmd == IOMMU_FAULT_QUEUE_ALLOC) {
		struct iommu_fault_alloc *a = arg;
		int fd;

		CHECK(a->size >= sizeof(*a) && !a->flags, "bad fault alloc");
		CHECK(k->fault_fd < 0 && !k->closed, "second fault queue");
		fd = open("/dev/zero", O_RDWR | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		k->fault_fd = fd;
		a->out_fault_id = FAKE_FAULT_ID;
		a->out_fault_fd = (uint32_t)fd;
		return 0;
	}
	if (cmd == IOMMU_DESTROY) {
		const struct iommu_destroy *d = arg;

		CHECK(d->id == FAKE_FAULT_ID, "destroy of %u", d->id);
		return 0;
	}
	return -ENOTTY;
}

static int fk_poll_fd(void *be, int fault_fd)
{
	struct fk *k = be;

	CHECK(fault_fd == k->fault_fd, "poll_fd of %d", fault_fd);
	return k->efd;
}

static struct chunk *fk_chunk(struct fk *k)
{
	return k->chunk_head < k->chunks.n ? &k->chunks.v[k->chunk_head] : NULL;
}

static void fk_chunk_pop(struct fk *k)
{
	free(k->chunks.v[k->chunk_head].bytes);
	k->chunks.v[k->chunk_head].bytes = NULL;
	k->chunk_head++;
	fk_update_efd(k);
}

static int fk_read_prepare(void *be, int fault_fd, size_t len, ssize_t *res)
{
	struct fk *k = be;
	struct chunk *c = fk_chunk(k);

	CHECK(fault_fd == k->fault_fd, "read of %d", fault_fd);
	CHECK(len >= REC && len % REC == 0, "read of %zu bytes", len);
	if (!c) {
		*res = 0; /* empty: the fault fd reads 0 */
		return 1;
	}
	if (c->kind == CH_RESULT) {
		*res = c->res;
		fk_chunk_pop(k);
		return 1;
	}
	return 0; /* the read happens; read_done() gives it the chunk */
}

static ssize_t fk_read_done(void *be, int fault_fd, void *buf, size_t len,
			    ssize_t res)
{
	struct fk *k = be;
	struct chunk *c = fk_chunk(k);
	size_t n;

	CHECK(fault_fd == k->fault_fd, "read of %d", fault_fd);
	if (res < 0)
		return res; /* /dev/zero refused: nothing to hand */
	CHECK(c && c->kind != CH_RESULT, "read without a prepared chunk");
	n = c->len - c->off;
	if (n > len)
		n = len;
	/* A read gives whole records, however long the script's chunk: the
	 * rest comes with the next read. Raw bytes are given as they are. */
	if (c->kind == CH_RECORDS)
		n -= n % REC;
	memcpy(buf, c->bytes + c->off, n);
	c->off += n;
	if (n && n % REC == 0) {
		const struct iommu_hwpt_pgfault *r = buf;

		for (size_t i = 0; i < n / REC; i++) {
			struct iommu_hwpt_pgfault rec;

			memcpy(&rec, &r[i], sizeof(rec));
			VEC_PUSH(k->delivered, ((struct drec){ rec, ++k->seq }));
		}
	}
	if (c->off >= c->len)
		fk_chunk_pop(k);
	return (ssize_t)n;
}

static void fk_resolve(struct fk *k, const void *buf, size_t n)
{
	const unsigned char *p = buf;

	for (size_t i = 0; i < n; i++) {
		struct iommu_hwpt_page_response r;

		memcpy(&r, p + i * RSP, sizeof(r));
		VEC_PUSH(k->written,
			 ((struct answer){ r.cookie, r.code, 0, ++k->seq }));
	}
}

static ssize_t fk_write_done(void *be, int fault_fd, const void *buf,
			     size_t len, ssize_t res)
{
	struct fk *k = be;
	size_t n = len / RSP;
	struct wrule w = { 0, 0 };

	CHECK(fault_fd == k->fault_fd, "write of %d", fault_fd);
	CHECK(len % RSP == 0 && n > 0, "write of %zu bytes", len);
	CHECK(res == (ssize_t)len, "/dev/zero took %zd of %zu", res, len);
	if (k->wrule_head < k->wrules.n)
		w = k->wrules.v[k->wrule_head++];
	switch (w.what) {
	case W_SHORT:
		if (w.arg > n)
			w.arg = (uint32_t)n;
		fk_resolve(k, buf, w.arg);
		return (ssize_t)(w.arg * RSP);
	case W_EINVAL: /* the first is refused, the kernel takes nothing */
		fk_resolve(k, buf, 1);
		return -EINVAL;
	case W_EAGAIN:
		return -EAGAIN;
	case W_ZERO:
		return 0;
	case W_EIO: /* all of them fail, for good */
		fk_resolve(k, buf, n);
		return -EIO;
	default:
		fk_resolve(k, buf, n);
		return (ssize_t)len;
	}
}

static void fk_fault_close(void *be, int fault_fd)
{
	struct fk *k = be;

	CHECK(fault_fd == k->fault_fd && !k->closed, "close of %d", fault_fd);
	close(fault_fd);
	k->fault_fd = -1;
	k->closed = true;
}

static const struct iopf_backend_ops fk_ops = {
	.ioctl = fk_ioctl,
	.poll_fd = fk_poll_fd,
	.read_prepare = fk_read_prepare,
	.read_done = fk_read_done,
	.write_done = fk_write_done,
	.fault_close = fk_fault_close,
};

/* ---- the caller's side -------------------------------------------------- */

static void answered(struct iopf_queue *q, uint64_t tag, uint32_t cookie,
		     uint32_t code, int result, void *user)
{
	struct fk *k = user;

	CHECK(q == k->q, "answered callback for another queue");
	VEC_PUSH(k->cbs, ((struct cb){ tag, cookie, code, result }));
}

/* A group just handed out: check it and keep a copy of what it holds. */
static void got_group(struct fk *k, struct iopf_group *g)
{
	unsigned int n = iopf_group_count(g);
	uint32_t cookie = iopf_group_cookie(g);
	uint64_t tag = iopf_group_tag(g);
	struct seen s = { tag, n, k->seen_faults.n };

	CHECK(iopf_group_queue(g) == k->q, "group of another queue");
	CHECK(n >= 1 && n <= k->max_group, "group of %u records", n);
	CHECK(tag > k->last_tag, "tag %llu after %llu", (unsigned long long)tag,
	      (unsigned long long)k->last_tag);
	k->last_tag = tag;
	CHECK(iopf_group_fault(g, n) == NULL, "fault past the end");
	CHECK(iopf_group_user(g) == NULL, "stale user pointer");
	for (unsigned int i = 0; i < n; i++) {
		const struct iopf_fault *f = iopf_group_fault(g, i);

		CHECK(f && f->cookie == cookie, "record %u of cookie %u", i,
		      f ? f->cookie : 0);
		CHECK(f->flags == (f->raw_flags & (IOPF_FAULT_PASID_VALID |
						   IOPF_FAULT_LAST_PAGE)),
		      "flags 0x%x from raw 0x%x", f->flags, f->raw_flags);
		CHECK(f->perm == (f->raw_perm & 0xfu), "perm 0x%x from 0x%x",
		      f->perm, f->raw_perm);
		VEC_PUSH(k->seen_faults, *f);
	}
	VEC_PUSH(k->seen, s);
	iopf_group_set_user(g, k);
}

static void respond(struct fk *k, struct iopf_group *g, uint32_t code,
		    bool twice)
{
	uint32_t cookie = iopf_group_cookie(g);
	uint64_t tag = iopf_group_tag(g);
	int rc = iopf_group_respond(g, code);

	if (code > IOPF_RESP_INVALID) {
		CHECK(rc == -EINVAL, "respond with code %u: %d", code, rc);
		/* Still the caller's: answer it properly. */
		code = IOPF_RESP_SUCCESS;
		rc = iopf_group_respond(g, code);
	}
	/* -ETIMEDOUT: the deadline answered it INVALID already; -ESTALE: its
	 * cookie came again with a newer group, so the kernel answered it. */
	CHECK(rc == 0 || rc == -ETIMEDOUT || rc == -ESTALE, "respond: %d", rc);
	if (rc == 0)
		VEC_PUSH(k->accepted, ((struct answer){ cookie, code, tag, 0 }));
	if (twice) {
		rc = iopf_group_respond(g, IOPF_RESP_SUCCESS);
		CHECK(rc == -EALREADY, "second respond: %d", rc);
	}
}

static void hold(struct fk *k, struct iopf_group *g)
{
	if (k->held.n >= MAX_HELD) {
		respond(k, g, IOPF_RESP_SUCCESS, false);
		return;
	}
	VEC_PUSH(k->held, ((struct held){ g, iopf_group_tag(g),
					  iopf_group_cookie(g) }));
}

static void respond_held(struct fk *k, size_t i, uint32_t code, bool twice)
{
	struct iopf_group *g = k->held.v[i].g;

	CHECK(iopf_group_tag(g) == k->held.v[i].tag, "held group changed");
	k->held.v[i] = k->held.v[--k->held.n];
	respond(k, g, code, twice);
}

/* Up to cnt held groups (input-chosen), then perhaps the first again and a
 * NULL, answered with one iopf_group_respond_batch() call: each entry gets
 * what iopf_group_respond() would have given it, and the count is of those
 * queued. A bad code refuses the whole call, and they are answered again. */
static void respond_held_batch(struct fk *k, struct in *in, unsigned int cnt,
			       uint32_t code, bool dup, bool null)
{
	struct iopf_group *gs[8];
	uint32_t cookies[8];
	uint64_t tags[8];
	int rcs[8], rc, queued = 0;
	unsigned int n = 0, nheld;

	while (n < cnt && k->held.n) {
		size_t i = u8(in) % k->held.n;
		struct iopf_group *g = k->held.v[i].g;

		CHECK(iopf_group_tag(g) == k->held.v[i].tag,
		      "held group changed");
		k->held.v[i] = k->held.v[--k->held.n];
		cookies[n] = iopf_group_cookie(g);
		tags[n] = iopf_group_tag(g);
		gs[n++] = g;
	}
	nheld = n;
	if (dup && nheld)
		gs[n++] = gs[0];
	if (null)
		gs[n++] = NULL;
	rc = iopf_group_respond_batch(gs, n, code, rcs);
	if (code > IOPF_RESP_INVALID) {
		CHECK(rc == -EINVAL, "respond_batch with code %u: %d", code,
		      rc);
		code = IOPF_RESP_SUCCESS;
		rc = iopf_group_respond_batch(gs, n, code, rcs);
	}
	for (unsigned int i = 0; i < n; i++) {
		if (i >= nheld) {
			/* The first again (answered or released by now),
			 * or NULL. */
			CHECK(rcs[i] == (gs[i] ? -EALREADY : -EINVAL),
			      "respond_batch [%u] (%s): %d", i,
			      gs[i] ? "again" : "NULL", rcs[i]);
			continue;
		}
		CHECK(rcs[i] == 0 || rcs[i] == -ETIMEDOUT ||
			      rcs[i] == -ESTALE,
		      "respond_batch [%u]: %d", i, rcs[i]);
		if (rcs[i] == 0) {
			VEC_PUSH(k->accepted,
				 ((struct answer){ cookies[i], code, tags[i],
						   0 }));
			queued++;
		}
	}
	CHECK(rc == queued, "respond_batch: %d, %d queued", rc, queued);
}

static int handler(struct iopf_group *g, void *user)
{
	struct fk *k = user;
	uint8_t b = u8(k->in);

	got_group(k, g);
	switch (b % 4) {
	case 0:
		respond(k, g, IOPF_RESP_SUCCESS, b & 4);
		return 0;
	case 1:
		respond(k, g, IOPF_RESP_INVALID, b & 4);
		return 0;
	case 2:
		hold(k, g);
		return 0;
	default:
		/* Stops the dispatch; the group is still the caller's. */
		hold(k, g);
		return -ECANCELED;
	}
}

/* ---- the oracle --------------------------------------------------------- */

struct ogroup {
	uint32_t cookie;
	uint64_t tag; /* tags count groups as they open, from 1 */
	uint64_t open_seq; /* when its first record came */
	uint64_t until_seq; /* when the next group with its cookie opened;
			       UINT64_MAX: none did */
	size_t first, count; /* into delivered: the records it holds */
	unsigned int written; /* answers written for it */
	int accepted; /* the caller's code, taken by respond(); -1: none */
	bool stale_cb; /* reported -ESTALE */
};

/*
 * What lib/group.c promises, written out independently: a group opens with a
 * record when none is open (a new cookie closes an open one as malformed),
 * ends at LAST_PAGE, and past max_group records is answered INVALID and the
 * rest of it skipped; what is open at teardown is answered INVALID. A cookie
 * the kernel gives out again was answered by the kernel (on detach) unless the
 * library answered it: so an answer must be written for a group after it
 * opened and before its cookie opens another group, at most once, and for
 * the last group of each cookie exactly once.
 */
static void oracle(const struct fk *k, struct ogroup **out, size_t *nout)
{
	VEC(struct ogroup) gs = { 0 };
	bool open = false, dropping = false;
	struct ogroup *cur = NULL;
	uint32_t drop_cookie = 0;
	uint64_t tag;

	for (size_t i = 0; i < k->delivered.n; i++) {
		const struct iommu_hwpt_pgfault *r = &k->delivered.v[i].r;
		bool last = r->flags & IOMMU_PGFAULT_FLAGS_LAST_PAGE;

		if (dropping) {
			if (r->cookie == drop_cookie) {
				if (last)
					dropping = false;
				continue;
			}
			dropping = false;
		}
		if (open && cur->cookie != r->cookie)
			open = false; /* malformed, closed */
		if (!open) {
			for (size_t j = gs.n; j-- > 0;) {
				if (gs.v[j].cookie == r->cookie) {
					gs.v[j].until_seq = k->delivered.v[i].seq;
					break;
				}
			}
			tag = gs.n + 1;
			VEC_PUSH(gs, ((struct ogroup){
					     .cookie = r->cookie,
					     .tag = tag,
					     .open_seq = k->delivered.v[i].seq,
					     .until_seq = UINT64_MAX,
					     .first = i,
					     .accepted = -1,
				     }));
			cur = &gs.v[gs.n - 1];
			open = true;
		}
		if (cur->count >= k->max_group) {
			open = false; /* answered INVALID at once */
			if (!last) {
				dropping = true;
				drop_cookie = cur->cookie;
			}
			continue;
		}
		cur->count++;
		if (last)
			open = false;
	}
	*out = gs.v;
	*nout = gs.n;
}

static struct ogroup *by_tag(struct ogroup *og, size_t nog, uint64_t tag)
{
	return tag >= 1 && tag <= nog ? &og[tag - 1] : NULL;
}

static void verify(struct fk *k)
{
	struct ogroup *og;
	size_t nog, w = 0;

	oracle(k, &og, &nog);
	if (getenv("FUZZ_VERBOSE")) {
		for (size_t i = 0; i < nog; i++)
			fprintf(stderr, "  group cookie %u tag %llu records %zu\n",
				og[i].cookie, (unsigned long long)og[i].tag,
				og[i].count);
		for (size_t i = 0; i < k->written.n; i++)
			fprintf(stderr, "  written cookie %u code %u\n",
				k->written.v[i].cookie, k->written.v[i].code);
		for (size_t i = 0; i < k->cbs.n; i++)
			fprintf(stderr, "  callback tag %llu cookie %u code %u result %d\n",
				(unsigned long long)k->cbs.v[i].tag,
				k->cbs.v[i].cookie, k->cbs.v[i].code,
				k->cbs.v[i].result);
	}

	/* Every group handed out is the oracle's group of that tag. */
	for (size_t i = 0; i < k->seen.n; i++) {
		const struct seen *s = &k->seen.v[i];
		const struct ogroup *g = by_tag(og, nog, s->tag);

		CHECK(g, "group with tag %llu was never formed",
		      (unsigned long long)s->tag);
		CHECK(g->count == s->count, "tag %llu: %u records, not %zu",
		      (unsigned long long)s->tag, s->count, g->count);
		for (uint32_t j = 0; j < s->count; j++) {
			const struct iommu_hwpt_pgfault *r =
				&k->delivered.v[g->first + j].r;
			const struct iopf_fault *f = &k->seen_faults.v[s->first + j];

			CHECK(f->raw_flags == r->flags && f->raw_perm == r->perm &&
				      f->dev_id == r->dev_id &&
				      f->pasid == r->pasid &&
				      f->grpid == r->grpid && f->addr == r->addr &&
				      f->length == r->length &&
				      f->cookie == r->cookie,
			      "tag %llu record %u differs",
			      (unsigned long long)s->tag, j);
		}
	}
	for (size_t i = 0; i < k->accepted.n; i++) {
		struct ogroup *g = by_tag(og, nog, k->accepted.v[i].tag);

		CHECK(g && g->accepted < 0, "caller's answer to tag %llu",
		      (unsigned long long)k->accepted.v[i].tag);
		g->accepted = (int)k->accepted.v[i].code;
	}

	/* The callbacks, in order, tell which group each written answer was
	 * for; -ESTALE ones were not written. */
	for (size_t i = 0; i < k->cbs.n; i++) {
		const struct cb *c = &k->cbs.v[i];
		uint64_t tag = c->tag & ~IOPF_TAG_UNSEEN;
		struct ogroup *g = by_tag(og, nog, tag);
		const struct answer *a;
		bool seen = false;

		/* IOPF_TAG_UNSEEN marks exactly the groups never handed out. */
		for (size_t j = 0; j < k->seen.n && !seen; j++)
			seen = k->seen.v[j].tag == tag;
		CHECK(seen == !(c->tag & IOPF_TAG_UNSEEN),
		      "tag %llu: IOPF_TAG_UNSEEN %s, group %s handed out",
		      (unsigned long long)tag,
		      c->tag & IOPF_TAG_UNSEEN ? "set" : "clear",
		      seen ? "was" : "never");

		CHECK(g && g->cookie == c->cookie,
		      "callback for tag %llu cookie %u: no such group",
		      (unsigned long long)c->tag, c->cookie);
		if (c->result == -ESTALE) {
			CHECK(g->until_seq != UINT64_MAX,
			      "tag %llu reported stale, its cookie %u was not reused",
			      (unsigned long long)c->tag, c->cookie);
			g->stale_cb = true;
			continue;
		}
		CHECK(c->result == 0 || c->result == -EINVAL ||
			      c->result == -EIO,
		      "callback result %d", c->result);
		CHECK(w < k->written.n, "callback %zu for no answer", i);
		a = &k->written.v[w++];
		CHECK(a->cookie == c->cookie && a->code == c->code,
		      "callback (cookie %u code %u) for answer (%u %u)",
		      c->cookie, c->code, a->cookie, a->code);
		/* The library follows cookies below MAX_TRACKED_COOKIE only:
		 * the kernel's are small (the lowest free id, lib/core.h). */
		CHECK(a->seq > g->open_seq &&
			      (a->seq < g->until_seq ||
			       g->cookie >= MAX_TRACKED_COOKIE),
		      "answer for tag %llu (cookie %u) written outside its life",
		      (unsigned long long)g->tag, g->cookie);
		g->written++;
		CHECK(g->written == 1, "tag %llu (cookie %u) answered twice",
		      (unsigned long long)g->tag, g->cookie);
		CHECK(a->code == (g->accepted >= 0 ? (uint32_t)g->accepted :
						     IOPF_RESP_INVALID),
		      "tag %llu answered %u, caller said %d",
		      (unsigned long long)g->tag, a->code, g->accepted);
	}
	CHECK(w == k->written.n, "%zu answers written, %zu reported",
	      k->written.n, w);
	for (size_t i = 0; i < nog; i++) {
		const struct ogroup *g = &og[i];

		CHECK(g->written || g->until_seq != UINT64_MAX,
		      "tag %llu (cookie %u) never answered",
		      (unsigned long long)g->tag, g->cookie);
		CHECK(!(g->written && g->stale_cb),
		      "tag %llu answered and reported stale",
		      (unsigned long long)g->tag);
	}
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr,
			"fuzz-records: %zu records, %zu groups, %zu handed out, %zu answers (%zu by the caller)\n",
			k->delivered.n, nog, k->seen.n, k->written.n,
			k->accepted.n);
	free(og);
}

/* ---- the script's operations -------------------------------------------- */

static void add_chunk(struct fk *k, struct chunk c)
{
	VEC_PUSH(k->chunks, c);
	fk_update_efd(k);
}

/* Compact records: two bytes each. The first gives the flags (bit 0
 * PASID_VALID, bit 1 LAST_PAGE, bit 7 an unknown bit) and perm (bits 2-6),
 * the second the cookie, so that repeats and gaps are likely. */
static void op_compact(struct fk *k, struct in *in)
{
	unsigned int n = u8(in) % 33;
	struct chunk c = { CH_RECORDS, 0, NULL, n * REC, 0 };
	struct iommu_hwpt_pgfault *r;

	if (!n)
		return;
	r = calloc(n, REC);
	CHECK(r, "oom");
	for (unsigned int i = 0; i < n; i++) {
		uint8_t a = u8(in), b = u8(in);

		r[i].flags = (a & 3u) | ((a & 0x80u) << 24);
		r[i].perm = (a >> 2) & 0x1fu;
		r[i].dev_id = 1;
		r[i].pasid = a & 1u ? b : 0;
		r[i].grpid = b >> 4;
		r[i].addr = 0x1000ull * (k->delivered.n + i);
		r[i].cookie = b;
	}
	c.bytes = (unsigned char *)r;
	add_chunk(k, c);
}

static void op_raw_records(struct fk *k, struct in *in)
{
	unsigned int n = u8(in) % 9;
	struct chunk c = { CH_RECORDS, 0, NULL, n * REC, 0 };

	if (!n)
		return;
	c.bytes = malloc(c.len);
	CHECK(c.bytes, "oom");
	take(in, c.bytes, c.len);
	add_chunk(k, c);
}

static void op_bytes(struct fk *k, struct in *in)
{
	size_t n = u8(in) + 1u;
	struct chunk c = { CH_BYTES, 0, NULL, n, 0 };

	c.bytes = malloc(n);
	CHECK(c.bytes, "oom");
	take(in, c.bytes, n);
	add_chunk(k, c);
}

static void op_result(struct fk *k, struct in *in)
{
	static const ssize_t res[] = { 0,	-EINVAL, -EAGAIN, -EINTR,
				       -EIO,   -ESPIPE, -ENOMEM, -EBADF };
	struct chunk c = { CH_RESULT, res[u8(in) % 8], NULL, 0, 0 };

	add_chunk(k, c);
}

static void op_wrule(struct fk *k, struct in *in)
{
	uint8_t b = u8(in);
	struct wrule w = { (enum wres)((b & 7) % 5 + 1), (uint32_t)(b >> 3) };

	VEC_PUSH(k->wrules, w);
}

static int run_script(const uint8_t *data, size_t size)
{
	struct in in = { data, size, 0 };
	static const uint32_t batches[] = { 1, 2, 3, 4, 5, 8, 16, 128 };
	static const uint32_t maxg[] = { 0, 1, 2, 3, 4, 8, 16, 64 };
	struct iopf_engine_opts eo = { .size = sizeof(eo) };
	struct iopf_queue_opts qo = { .size = sizeof(qo) };
	struct iopf_engine *e = NULL;
	struct iopf_ctx *ctx = NULL;
	struct fk k;
	uint8_t c0, c1;
	int rc;

	memset(&k, 0, sizeof(k));
	k.fault_fd = -1;
	k.in = &in;
	c0 = u8(&in);
	c1 = u8(&in);
	eo.kind = c0 & 1 ? IOPF_ENGINE_URING : IOPF_ENGINE_PLAIN;
	qo.batch = batches[(c0 >> 1) & 7];
	qo.max_group = maxg[c1 & 7];
	qo.deadline_ns = c0 & 0x10 ? 1 : 0;
	qo.handler = c0 & 0x20 ? handler : NULL;
	qo.answered = answered;
	qo.user = &k;
	k.max_group = qo.max_group ? qo.max_group : 4096;
	if (k.max_group < qo.batch)
		k.max_group = qo.batch;

	k.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	CHECK(k.efd >= 0, "eventfd");
	/* The context owns (and closes) a fd of its own. */
	rc = iopf_ctx_new_backend(&fk_ops, &k, eventfd(0, EFD_CLOEXEC), &ctx);
	CHECK(rc == 0, "ctx: %d", rc);
	rc = iopf_engine_new(&eo, &e);
	CHECK(rc == 0, "engine: %d", rc);
	rc = iopf_queue_new(ctx, e, &qo, &k.q);
	CHECK(rc == 0, "queue: %d %s", rc, iopf_ctx_errmsg(ctx));

	while (in_more(&in)) {
		uint8_t op = u8(&in);

		switch (op % 12) {
		case 0:
		case 1:
			op_compact(&k, &in);
			break;
		case 2:
			op_raw_records(&k, &in);
			break;
		case 3:
			if (op & 0x80)
				op_bytes(&k, &in);
			else
				op_result(&k, &in);
			break;
		case 4:
			op_wrule(&k, &in);
			break;
		case 5:
			/* Errors are the queue's (EIO, EMSGSIZE ...): it
			 * stops reading and teardown still answers. */
			(void)iopf_engine_process(e);
			break;
		case 6: {
			struct iopf_group *gs[16];
			int n = iopf_engine_pull(e, gs, op % 16 + 1);

			for (int i = 0; i < n; i++) {
				got_group(&k, gs[i]);
				hold(&k, gs[i]);
			}
			break;
		}
		case 7:
			if (k.held.n && (op & 0x40))
				respond_held_batch(&k, &in, (op >> 4) % 4 + 1,
						   (op >> 4) % 3, op & 0x80,
						   op & 0x20);
			else if (k.held.n)
				respond_held(&k, u8(&in) % k.held.n,
					     (op >> 4) % 3, op & 0x80);
			break;
		case 8:
			(void)iopf_engine_flush(e);
			break;
		case 9:
			rc = iopf_engine_dispatch(e, 0);
			if (!qo.handler)
				CHECK(rc <= 0, "dispatch without handler: %d",
				      rc);
			break;
		case 10:
			(void)iopf_engine_wait(e, 0);
			break;
		default:
			while (k.held.n)
				respond_held(&k, k.held.n - 1, (op >> 4) & 1,
					     false);
			if (op & 0x80) {
				struct iopf_group *g = NULL;

				CHECK(iopf_engine_pull(e, &g, 0) == -EINVAL &&
					      !g,
				      "pull of 0 groups");
			}
			break;
		}
	}

	iopf_queue_free(k.q);
	iopf_engine_free(e);
	iopf_ctx_free(ctx);
	CHECK(k.closed, "the fault fd was not closed");
	verify(&k);

	close(k.efd);
	for (size_t i = k.chunk_head; i < k.chunks.n; i++)
		free(k.chunks.v[i].bytes);
	free(k.chunks.v);
	free(k.wrules.v);
	free(k.delivered.v);
	free(k.written.v);
	free(k.held.v);
	free(k.accepted.v);
	free(k.seen.v);
	free(k.seen_faults.v);
	free(k.cbs.v);
	return 0;
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

	run_script(data, size);
	CHECK(count_fds() == before, "fd leak: %d open, %d before",
	      count_fds(), before);
	return 0;
}
