/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libiopf: IO page faults from the Linux iommufd uAPI, delivered to user space.
 *
 * Objects: a context (an iommufd), engines (how records are fetched and
 * answers written: io_uring or plain poll/read/write), fault queues (a kernel
 * fault object and its fd, attached to one engine), and groups (the faults the
 * kernel delivered together under one cookie, answered exactly once).
 *
 * Every function returns 0, a count, or a negative errno value. The library
 * never prints, never exits, and starts no threads. See libiopf(7).
 */
#ifndef LIBIOPF_H
#define LIBIOPF_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IOPF_VERSION_MAJOR 0
#define IOPF_VERSION_MINOR 2

struct iopf_ctx;
struct iopf_engine;
struct iopf_queue;
struct iopf_group;

/* ---- context ------------------------------------------------------------ */

/* Features reported by iopf_ctx_probe(). */
#define IOPF_FEAT_FAULT_QUEUE (1ULL << 0) /* IOMMU_FAULT_QUEUE_ALLOC, 6.11+ */
#define IOPF_FEAT_HWPT_FAULT_ID (1ULL << 1) /* IOMMU_HWPT_ALLOC fault_id, 6.11+ */
#define IOPF_FEAT_VEVENTQ (1ULL << 2) /* IOMMU_VEVENTQ_ALLOC, 6.15+ */

int iopf_ctx_open(const char *path, struct iopf_ctx **out);
int iopf_ctx_from_fd(int iommufd, struct iopf_ctx **out);
void iopf_ctx_free(struct iopf_ctx *ctx);
int iopf_ctx_fd(const struct iopf_ctx *ctx);
int iopf_ctx_probe(struct iopf_ctx *ctx, uint64_t *features);
const char *iopf_ctx_errmsg(const struct iopf_ctx *ctx);

int iopf_ioas_alloc(struct iopf_ctx *ctx, uint32_t *out_ioas_id);
int iopf_destroy(struct iopf_ctx *ctx, uint32_t id);

/* ---- engines ------------------------------------------------------------ */

enum iopf_engine_kind {
	IOPF_ENGINE_URING = 0, /* io_uring: the default */
	IOPF_ENGINE_PLAIN = 1, /* epoll + read(2) + write(2) */
};

struct iopf_engine_opts {
	uint32_t size; /* sizeof(struct iopf_engine_opts) */
	uint32_t kind; /* enum iopf_engine_kind */
	uint32_t ring_entries; /* io_uring SQ size; 0: 256 */
	uint32_t flags; /* IOPF_ENGINE_* flags, or 0 */
};

/* io_uring only: a run with reads or writes for two queues or more sends them
 * to io-wq workers, which run them on other CPUs. Faster with idle CPUs,
 * slower and costlier when they are busy (see libiopf(7)); off by default. */
#define IOPF_ENGINE_ASYNC (1u << 0)

int iopf_engine_new(const struct iopf_engine_opts *opts,
		    struct iopf_engine **out);
void iopf_engine_free(struct iopf_engine *e);
int iopf_engine_kind(const struct iopf_engine *e);
int iopf_engine_fd(struct iopf_engine *e);
int iopf_engine_wake(struct iopf_engine *e);
int iopf_engine_process(struct iopf_engine *e);
int iopf_engine_wait(struct iopf_engine *e, int timeout_ms);
int iopf_engine_pull(struct iopf_engine *e, struct iopf_group **groups,
		     unsigned int max);
int iopf_engine_dispatch(struct iopf_engine *e, int timeout_ms);
int iopf_engine_flush(struct iopf_engine *e);

/* ---- fault queues ------------------------------------------------------- */

/* Runs for every group iopf_engine_dispatch() hands out. It answers the group
 * now with iopf_group_respond(), or keeps it and answers later (from any
 * thread). A negative return stops the dispatch call, which returns it. */
typedef int (*iopf_handler_fn)(struct iopf_group *g, void *user);

/* Tells the outcome of every answer once the kernel took or refused it:
 * result 0 (taken), -EINVAL (refused: the kernel had already answered the
 * group, e.g. on detach), -ESTALE (not written: the kernel had answered the
 * group and given its cookie to a newer one), or another -errno from
 * write(2), which also fails the queue (iopf_queue_error()). The answers the
 * library sends by itself (INVALID past the deadline or at teardown) are
 * reported too, with the group's tag, and with IOPF_TAG_UNSEEN set in it for
 * a group that was never handed out (its tag was never seen). */
typedef void (*iopf_answered_fn)(struct iopf_queue *q, uint64_t tag,
				 uint32_t cookie, uint32_t code, int result,
				 void *user);

/* Set in the tag iopf_answered_fn reports for a group the library answered
 * before handing it out. Tags iopf_group_tag() returns never have it. */
#define IOPF_TAG_UNSEEN (1ull << 62)

struct iopf_queue_opts {
	uint32_t size; /* sizeof(struct iopf_queue_opts) */
	uint32_t flags; /* must be 0 */
	uint32_t batch; /* records per read; 0: 256 */
	uint32_t max_group; /* largest group in records; 0: 4096 */
	uint64_t deadline_ns; /* answer INVALID after this long; 0: never */
	iopf_handler_fn handler;
	iopf_answered_fn answered;
	void *user;
};

int iopf_queue_new(struct iopf_ctx *ctx, struct iopf_engine *e,
		   const struct iopf_queue_opts *opts, struct iopf_queue **out);
void iopf_queue_free(struct iopf_queue *q);
uint32_t iopf_queue_id(const struct iopf_queue *q);
int iopf_queue_fd(const struct iopf_queue *q);
void *iopf_queue_user(const struct iopf_queue *q);
int iopf_queue_error(const struct iopf_queue *q);

struct iopf_stats {
	uint32_t size; /* set by the caller: sizeof(struct iopf_stats) */
	uint32_t __pad;
	uint64_t faults; /* records received */
	uint64_t groups; /* groups assembled */
	uint64_t answers_success; /* SUCCESS answers the kernel took */
	uint64_t answers_invalid; /* INVALID answers the kernel took */
	uint64_t answers_auto; /* INVALID sent by the library: deadline, teardown */
	uint64_t answers_stale; /* answers refused: the kernel had answered */
	uint64_t answers_failed; /* answers lost to another write error */
	uint64_t reads; /* read operations completed */
	uint64_t empty_reads; /* reads that returned 0 */
	uint64_t writes; /* write operations completed */
	uint64_t max_batch; /* most records in one read */
	uint64_t grows; /* buffer grown for a group that did not fit */
	uint64_t malformed; /* groups closed without LAST_PAGE */
};

int iopf_queue_stats(const struct iopf_queue *q, struct iopf_stats *st);

/* ---- HWPTs with a fault queue ------------------------------------------- */

/* Flags passed through to IOMMU_HWPT_ALLOC. */
#define IOPF_HWPT_ALLOC_NEST_PARENT (1u << 0)
#define IOPF_HWPT_ALLOC_DIRTY_TRACKING (1u << 1)
#define IOPF_HWPT_ALLOC_PASID (1u << 3)

struct iopf_hwpt_args {
	uint32_t size; /* sizeof(struct iopf_hwpt_args) */
	uint32_t flags; /* IOPF_HWPT_ALLOC_* */
	uint32_t dev_id; /* iommufd device object */
	uint32_t pt_id; /* IOAS (paging) or parent HWPT (nested) */
	uint32_t data_type; /* driver data type; 0 for none */
	uint32_t data_len;
	const void *data; /* driver data, e.g. a guest's stage-1 table */
};

int iopf_hwpt_alloc(struct iopf_ctx *ctx, struct iopf_queue *q,
		    const struct iopf_hwpt_args *args, uint32_t *out_hwpt_id);

/* ---- groups and faults -------------------------------------------------- */

#define IOPF_FAULT_PASID_VALID (1u << 0)
#define IOPF_FAULT_LAST_PAGE (1u << 1)

#define IOPF_PERM_READ (1u << 0)
#define IOPF_PERM_WRITE (1u << 1)
#define IOPF_PERM_EXEC (1u << 2)
#define IOPF_PERM_PRIV (1u << 3)

/* One fault record, the library's own type. Read it through the pointer
 * iopf_group_fault() returns; the struct may grow at its end. */
struct iopf_fault {
	uint32_t flags; /* IOPF_FAULT_*, unknown bits masked */
	uint32_t perm; /* IOPF_PERM_*, unknown bits masked */
	uint32_t dev_id;
	uint32_t pasid; /* valid with IOPF_FAULT_PASID_VALID */
	uint32_t grpid;
	uint32_t length; /* 0 in every kernel so far */
	uint64_t addr;
	uint32_t raw_flags; /* flags as the kernel gave them */
	uint32_t raw_perm; /* perm as the kernel gave them */
	uint32_t cookie;
	uint32_t __pad;
};

enum iopf_resp_code {
	IOPF_RESP_SUCCESS = 0,
	IOPF_RESP_INVALID = 1,
};

unsigned int iopf_group_count(const struct iopf_group *g);
const struct iopf_fault *iopf_group_fault(const struct iopf_group *g,
					  unsigned int i);
uint32_t iopf_group_cookie(const struct iopf_group *g);
uint64_t iopf_group_tag(const struct iopf_group *g);
struct iopf_queue *iopf_group_queue(const struct iopf_group *g);
void iopf_group_set_user(struct iopf_group *g, void *user);
void *iopf_group_user(const struct iopf_group *g);
int iopf_group_respond(struct iopf_group *g, uint32_t code);
int iopf_group_respond_batch(struct iopf_group *const *groups, unsigned int n,
			     uint32_t code, int *results);

/* ---- vIOMMUs and vDEVICEs (Linux 6.13+) -------------------------------- */

struct iopf_viommu_args {
	uint32_t size; /* sizeof(struct iopf_viommu_args) */
	uint32_t flags; /* passed through; 0 in every kernel so far */
	uint32_t type; /* IOMMU_VIOMMU_TYPE_* of <linux/iommufd.h> */
	uint32_t dev_id; /* a device behind the physical IOMMU to slice */
	uint32_t hwpt_id; /* a HWPT allocated with IOPF_HWPT_ALLOC_NEST_PARENT */
	uint32_t data_len;
	void *data; /* the type's data, in and out; NULL for none */
};

int iopf_viommu_alloc(struct iopf_ctx *ctx, const struct iopf_viommu_args *args,
		      uint32_t *out_viommu_id);
int iopf_vdevice_alloc(struct iopf_ctx *ctx, uint32_t viommu_id,
		       uint32_t dev_id, uint64_t virt_id,
		       uint32_t *out_vdevice_id);

/* ---- vIOMMU events (vEVENTQ, Linux 6.15+) -------------------------------- */

/* The kernel's LOST_EVENTS record: no payload, only losses to report. */
#define IOPF_VEVENT_LOST (1u << 0)

/* One vIOMMU event, the library's own type; the struct may grow at its end. */
struct iopf_vevent {
	uint32_t type; /* the queue's vEVENTQ type (IOMMU_VEVENTQ_TYPE_*) */
	uint32_t flags; /* IOPF_VEVENT_* */
	uint32_t sequence; /* the kernel's number, 0..INT_MAX, then 0 again */
	uint32_t lost; /* events lost just before this one */
	const void *data; /* the type's payload (NULL with IOPF_VEVENT_LOST) */
	uint32_t len; /* payload bytes */
	uint32_t __pad;
};

/*
 * A vEVENTQ: one more kind of queue on an engine, beside fault queues. Its
 * events are read in batches by the engine that reads the fault queues, and
 * handed to a handler (iopf_engine_dispatch) or pulled (iopf_veventq_pull).
 * They are never answered. The payload pointers stay valid until the engine
 * next reads (the next wait, process, dispatch or pull on it).
 */
struct iopf_veventq;

typedef int (*iopf_vevent_fn)(struct iopf_veventq *vq,
			      const struct iopf_vevent *evs, unsigned int n,
			      void *user);

struct iopf_veventq_opts {
	uint32_t size; /* sizeof(struct iopf_veventq_opts) */
	uint32_t flags; /* must be 0 */
	uint32_t type; /* IOMMU_VEVENTQ_TYPE_* */
	uint32_t depth; /* the kernel's queue depth; 0: 1024 */
	uint32_t batch; /* events one read takes at most; 0: 64 */
	uint32_t payload_len; /* 0: the type's, if the library knows it */
	iopf_vevent_fn handler; /* may be NULL: pull instead */
	void *user;
};

struct iopf_veventq_stats {
	uint32_t size; /* set by the caller: sizeof(struct iopf_veventq_stats) */
	uint32_t __pad;
	uint64_t events; /* events read (LOST_EVENTS records not counted) */
	uint64_t lost; /* events the kernel lost, from the sequence numbers */
	uint64_t lost_records; /* LOST_EVENTS records read */
	uint64_t reads; /* read operations completed */
	uint64_t empty_reads; /* reads that returned 0 */
	uint64_t max_batch; /* most events in one read */
};

int iopf_veventq_new(struct iopf_ctx *ctx, struct iopf_engine *e,
		     uint32_t viommu_id, const struct iopf_veventq_opts *opts,
		     struct iopf_veventq **out);
void iopf_veventq_free(struct iopf_veventq *vq);
uint32_t iopf_veventq_id(const struct iopf_veventq *vq);
int iopf_veventq_fd(const struct iopf_veventq *vq);
void *iopf_veventq_user(const struct iopf_veventq *vq);
int iopf_veventq_error(const struct iopf_veventq *vq);
int iopf_veventq_stats(const struct iopf_veventq *vq,
		       struct iopf_veventq_stats *st);
int iopf_veventq_pull(struct iopf_veventq *vq, struct iopf_vevent *evs,
		      unsigned int max);

#ifdef __cplusplus
}
#endif

#endif
