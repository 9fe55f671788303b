/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The mock kernel's private state, shared by its five files:
 *   mock.c        the instance, object ids, devices, HWPTs, ioctl dispatch
 *   mock-fault.c  fault objects, groups, delivery (read) and answers (write)
 *   mock-vevent.c vIOMMUs, vDEVICEs, vEVENTQs and their events
 *   mock-pasid.c  PASID attachments and where a group with a PASID goes
 *   mock-inject.c failure injection rules
 *
 * One struct iopf_mock is one emulated iommufd: one object id space, shared by
 * every context made from it (as if they held dup()s of one /dev/iommu fd).
 * All state is guarded by m->lock; every function here expects it held unless
 * its comment says otherwise.
 */
#ifndef IOPF_MOCK_INTERNAL_H
#define IOPF_MOCK_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <libiopf/mock.h>

#include "internal.h"
#include "uapi/iommufd.h"

#define MOCK_MAX_ERRNO 4095

/* The largest group iopf_mock_trigger() accepts: the library's own ceiling
 * (MAX_MAX_GROUP). A fault object may lower it, see mock_fault.stage_cap. */
#define MOCK_MAX_GROUP	  65536u
#define MOCK_GROUP_ORDERS 17 /* free lists for 1 << 0 .. 1 << 16 records */

#define MOCK_IOCTL_RULES 32
#define MOCK_FD_RULES	 64

enum mock_obj_type {
	MOCK_OBJ_IOAS = 1,
	MOCK_OBJ_DEVICE,
	MOCK_OBJ_HWPT_PAGING,
	MOCK_OBJ_HWPT_NESTED,
	MOCK_OBJ_FAULT,
	MOCK_OBJ_VIOMMU,
	MOCK_OBJ_VDEVICE,
	MOCK_OBJ_VEVENTQ,
};

/* struct iommufd_object, reduced to what the mock's rules need. */
struct mock_obj {
	uint32_t id;
	uint32_t type; /* enum mock_obj_type */
	/* As the kernel's obj->users: 1 is the object table's own reference;
	 * IOMMU_DESTROY succeeds only when nothing else holds one
	 * (iommufd_object_remove(): refcount_dec_if_one()). */
	uint32_t users;
};

struct mock_fault;

struct mock_hwpt {
	struct mock_obj obj; /* HWPT_PAGING or HWPT_NESTED */
	struct mock_obj *pt; /* paging: its IOAS; nested: its parent HWPT, or
				the vIOMMU it was allocated on */
	struct mock_fault *fault; /* NULL without FAULT_ID_VALID */
	bool nest_parent;
	bool pasid_compat; /* allocated with IOMMU_HWPT_ALLOC_PASID */
};

/* The PASIDs one device may have attached at once (the kernel: any). */
#define MOCK_DEV_PASIDS 16

/* One PASID's attachment (mock-pasid.c). */
struct mock_pasid_att {
	uint32_t pasid;
	struct mock_hwpt *hwpt;
};

struct mock_dev {
	struct mock_obj obj;
	struct mock_hwpt *hwpt; /* attached to, or NULL */
	bool pasid_cap; /* iopf_mock_dev_new_pasid() */
	unsigned int npasids;
	struct mock_pasid_att pasids[MOCK_DEV_PASIDS];
	/* While attached to a nested HWPT on a vIOMMU: the virt_id of its
	 * vDEVICE there, taken at the attach (the selftest driver's
	 * mdev->vdev_id). */
	uint64_t virt_id;
};

/* A group between trigger and answer (struct iopf_group in the kernel). Its
 * memory comes from m->free_groups[order] and goes back there. */
struct mock_group {
	struct mock_group *prev, *next; /* the fault's pending list; next
					   also links the free list */
	struct mock_dev *dev;
	uint32_t att; /* the attachment it came through: 0 the RID's, else
			 its PASID's (IOMMU_NO_PASID is 0) */
	uint64_t gid;
	uint32_t n; /* records */
	uint32_t order; /* recs has room for 1 << order */
	uint32_t grpid;
	uint32_t cookie; /* 0 until delivered */
	uint32_t sent; /* records staged so far (READ_SPLIT) */
	uint32_t __pad;
	struct iopf_mock_fault recs[];
};

/* One slot of a fault object's cookie space (its response xarray). */
struct mock_cookie {
	struct mock_group *g; /* outstanding under this cookie, or NULL */
	uint64_t last_gid; /* the group it was last given to; 0: never */
};

/* A failure injection rule: fires on the left-th matching operation. */
struct mock_rule {
	uint32_t kind; /* enum iopf_mock_fd_fault; 0 for ioctl rules */
	uint32_t nr; /* ioctl rules: command number, 0 for any */
	uint32_t left;
	int arg;
};

/* The failure injection rules of one fd (a fault's or a vEVENTQ's). */
struct mock_fdinj {
	struct mock_rule rules[MOCK_FD_RULES];
	unsigned int nrules;
	bool closed; /* IOPF_MOCK_FD_CLOSED fired */
};

struct mock_fault {
	struct mock_obj obj;
	int lib_fd; /* the library's end of the socket pair; -1 once closed */
	int mock_fd; /* the mock's end */
	int efd; /* readable while a read would return something */
	bool efd_set;
	struct mock_group *head, *tail; /* pending, oldest first */
	struct mock_group *split; /* delivered in part (READ_SPLIT) */
	struct mock_cookie *cookies; /* indexed by cookie; [0] unused */
	uint32_t ncookies;
	uint32_t cookie_lo; /* no free cookie below this one */
	/* The most bytes one read may stage: the socket must take them in
	 * one send() (see mock_fault_alloc()). */
	size_t stage_cap;
	unsigned char *stage; /* staging buffer, grown up to stage_cap */
	size_t stage_size;
	struct mock_fdinj inj;
};

/* What iopf_mock_group_info() reports, kept for every group ever triggered:
 * 16 bytes per group, indexed by group id. */
struct mock_ginfo {
	uint8_t state; /* enum iopf_mock_group_state */
	uint8_t code;
	uint16_t __pad;
	uint32_t cookie;
	uint32_t answers;
	uint32_t dev_id;
};

struct iopf_mock {
	pthread_mutex_t lock;
	unsigned int refs; /* creator + contexts + open fault fds */
	uint32_t kernel; /* IOPF_MOCK_KERNEL_* */
	int nofit_res; /* read result when the first group does not fit */

	struct mock_obj **objs; /* indexed by id; [0] unused */
	uint32_t nobjs;

	struct mock_group *free_groups[MOCK_GROUP_ORDERS];
	struct mock_ginfo *ginfo; /* [0] unused */
	uint64_t ngroups; /* the last group id given out */
	uint64_t ginfo_cap;

	struct iopf_mock_stats st; /* pending and outstanding kept live */

	struct mock_rule ioctl_rules[MOCK_IOCTL_RULES];
	unsigned int nioctl_rules;

	/* The objects behind the fds the mock gave out, indexed by fd: every
	 * read and write looks its fd up. */
	struct mock_obj **fd_objs;
	uint32_t nfd_objs;
};

/* mock.c */
struct mock_obj *mock_obj_find(struct iopf_mock *m, uint32_t id, uint32_t type);
int mock_obj_insert(struct iopf_mock *m, struct mock_obj *obj, uint32_t type);
void mock_obj_remove(struct iopf_mock *m, struct mock_obj *obj);
/* The fd table: fd gives obj (0 or -ENOMEM), until unbound. */
int mock_fd_bind(struct iopf_mock *m, int fd, struct mock_obj *obj);
void mock_fd_unbind(struct iopf_mock *m, int fd);
struct mock_obj *mock_fd_obj(struct iopf_mock *m, int fd, uint32_t type);
void mock_ref(struct iopf_mock *m);
void mock_unref(struct iopf_mock *m); /* call without m->lock */
int mock_copy_from_user(void *dst, const void *src, size_t len);
int mock_copy_to_user(void *dst, const void *src, size_t len);

/* The command being run, as struct iommufd_ucmd. */
struct mock_ucmd {
	void *ubuffer;
	uint32_t user_size;
	uint32_t ksize; /* the struct the emulated kernel knows */
	void *cmd; /* the kernel's copy */
};
int mock_ucmd_respond(struct mock_ucmd *ucmd);

/* mock-fault.c */
int mock_fault_alloc(struct iopf_mock *m, struct mock_ucmd *ucmd);
void mock_fault_destroy(struct iopf_mock *m, struct mock_fault *f);
void mock_fault_auto_answer(struct iopf_mock *m, struct mock_fault *f,
			    struct mock_dev *dev, uint32_t att, uint8_t state);

/* mock-pasid.c */
/* The HWPT a group of dev with these records reports to, and *att its
 * attachment (find_fault_handler()); NULL: none, the core answers it. */
struct mock_hwpt *mock_pasid_route(struct mock_dev *dev,
				   const struct iopf_mock_fault *first,
				   uint32_t *att);
/* iommufd_hwpt_pasid_compat() for a RID attach of dev to hwpt. */
int mock_pasid_rid_check(const struct mock_dev *dev,
			 const struct mock_hwpt *hwpt);
void mock_fault_update_efd(struct mock_fault *f);
void mock_groups_free(struct iopf_mock *m);

int mock_poll_fd(void *be, int fault_fd);
int mock_read_prepare(void *be, int fault_fd, size_t len, ssize_t *res);
ssize_t mock_read_done(void *be, int fault_fd, void *buf, size_t len,
		       ssize_t res);
ssize_t mock_write_done(void *be, int fault_fd, const void *buf, size_t len,
			ssize_t res);
void mock_fault_close(void *be, int fault_fd);

/* mock-vevent.c: vIOMMUs (6.13+), vDEVICEs (6.13+), vEVENTQs (6.15+) */
int mock_viommu_alloc(struct iopf_mock *m, struct mock_ucmd *ucmd);
int mock_vdevice_alloc(struct iopf_mock *m, struct mock_ucmd *ucmd);
int mock_veventq_alloc(struct iopf_mock *m, struct mock_ucmd *ucmd);
/* IOMMU_HWPT_ALLOC with pt_id a vIOMMU: the checks of
 * iommufd_viommu_alloc_hwpt_nested() and the driver's, before the HWPT is
 * made. */
int mock_viommu_hwpt_check(struct iopf_mock *m,
			   const struct iommu_hwpt_alloc *cmd);
/* iopf_mock_dev_attach() to hwpt: the driver's check and bookkeeping for a
 * nested HWPT on a vIOMMU (ENOENT without a vDEVICE there). */
int mock_viommu_attach(struct iopf_mock *m, struct mock_dev *dev,
		       struct mock_hwpt *hwpt);
/* The ops->destroy() of the three kinds; the object is out of the table. */
void mock_vobj_destroy(struct iopf_mock *m, struct mock_obj *obj);
/* At the mock's teardown: free without following references. */
void mock_vobj_free(struct mock_obj *obj);

struct mock_veventq;
struct mock_veventq *mock_veventq_by_fd(struct iopf_mock *m, int fd);
struct mock_veventq *mock_veventq_find(struct iopf_mock *m, uint32_t id);
struct mock_fdinj *mock_veventq_inj(struct mock_veventq *q);
void mock_veventq_update_efd(struct mock_veventq *q);
/* The backend hooks on a vEVENTQ fd (mock-fault.c's hooks hand over to
 * these when the fd is not a fault fd); all with m->lock held. */
int mock_veventq_read_prepare(struct iopf_mock *m, struct mock_veventq *q,
			      size_t len, ssize_t *res);
ssize_t mock_veventq_write_done(struct iopf_mock *m, struct mock_veventq *q,
				ssize_t res);
int mock_veventq_poll_fd(struct mock_veventq *q);
void mock_veventq_close(struct iopf_mock *m, struct mock_veventq *q);

/* mock-inject.c */
int mock_inject_ioctl(struct iopf_mock *m, unsigned int nr);
uint32_t mock_inject_fd_op(struct mock_fdinj *inj, bool write, int *arg);
bool mock_inject_read_armed(const struct mock_fdinj *inj);

#endif
