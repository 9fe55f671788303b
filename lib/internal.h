/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef IOPF_INTERNAL_H
#define IOPF_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <libiopf.h>

#include "backend.h"

#define IOPF_EXPORT __attribute__((visibility("default")))

/* The per-fault path is a handful of stores a fault: function calls there
 * cost more than the work (under qemu's TCG every return is a table lookup),
 * so its helpers are forced inline and their rare branches kept out of line. */
#define IOPF_INLINE static inline __attribute__((always_inline))
#define IOPF_COLD   __attribute__((cold, noinline))
/* gcc's per-function optimisation switches (clang has no such attribute,
 * and warns about it; its vectoriser does not do what these turn off). */
#if defined(__GNUC__) && !defined(__clang__)
#define IOPF_OPTIMIZE(o) __attribute__((optimize(o)))
#else
#define IOPF_OPTIMIZE(o)
#endif
#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define IOPF_ERRMSG_MAX 192

struct iopf_ctx {
	int fd; /* the iommufd, or the mock's stand-in */
	bool owns_fd;
	const struct iopf_backend_ops *ops;
	void *be;
	/* The caller's reference (until iopf_ctx_free) and one per queue:
	 * the fd stays open and the backend alive until the last goes. */
	atomic_uint refs;
	/* Fault objects a freed queue could not destroy (EBUSY: a HWPT still
	 * reports into them): destroyed by the library once they can be,
	 * see ctx_retry_orphans(). Guarded by orphan_lock. */
	pthread_mutex_t orphan_lock;
	uint32_t *orphans;
	uint32_t norphans, orphans_cap;
	char errmsg[IOPF_ERRMSG_MAX];
};

/* A queue's reference on its context, taken by iopf_queue_new() and given
 * back by iopf_queue_free(): the last one frees the context. */
void ctx_get(struct iopf_ctx *ctx);
void ctx_put(struct iopf_ctx *ctx);
/* Destroys the fault object (or vEVENTQ) fault_id now, or, if that fails
 * (EBUSY: a HWPT still uses it; or ENOMEM), remembers it to destroy later. */
void ctx_destroy_fault(struct iopf_ctx *ctx, uint32_t fault_id);
/* Whether the context's fd answers an ioctl every iommufd has: 1 yes,
 * 0 no (ENOTTY: not an iommufd at all). */
int ctx_is_iommufd(struct iopf_ctx *ctx);

/* Runs one iommufd command through the context's backend: 0 or -errno. */
static inline int ctx_ioctl(struct iopf_ctx *ctx, unsigned long cmd, void *arg)
{
	return ctx->ops->ioctl(ctx->be, cmd, arg);
}

/* Records a message for iopf_ctx_errmsg() and returns err (negative). */
int ctx_fail(struct iopf_ctx *ctx, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void ctx_clear_error(struct iopf_ctx *ctx);

/* Sized caller structs: copies min(given size, sizeof) bytes into a zeroed
 * dst; fails with -EINVAL if the given size is below min_size, or -E2BIG if
 * bytes past what the library knows are not zero. */
int copy_sized(void *dst, size_t dst_size, const void *src, size_t min_size);

/* Fills a sized output struct: copies min(user size, ours), keeps its size. */
int fill_sized(void *dst, const void *src, size_t src_size);

uint64_t now_ns(void);

#endif
