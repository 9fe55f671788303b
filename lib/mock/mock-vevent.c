/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The mock's vIOMMUs, vDEVICEs and vEVENTQs, following Linux 7.3:
 * drivers/iommu/iommufd/viommu.c (IOMMU_VIOMMU_ALLOC, IOMMU_VDEVICE_ALLOC),
 * eventq.c (IOMMU_VEVENTQ_ALLOC and the vEVENTQ file's read),
 * driver.c (iommufd_viommu_report_event()) and the selftest driver
 * (selftest.c: the vIOMMU type IOPF_MOCK_VIOMMU_TYPE_SELFTEST, its attach to
 * a nested domain on a vIOMMU and IOMMU_TEST_OP_TRIGGER_VEVENT, which
 * iopf_mock_vevent() stands for). vIOMMUs and vDEVICEs exist from 6.13,
 * vEVENTQs from 6.15; the rules are 7.3's for all of them.
 *
 * A vEVENTQ fd is one end of a socket pair, as a fault fd is (mock-fault.c):
 * before each read the backend hook read_prepare() puts into the socket
 * exactly the records the kernel's read of that length returns, or says what
 * the read returns instead. The mock's queue is the kernel's: a FIFO of at
 * most depth events, and the LOST_EVENTS header, which only ever sits at the
 * tail (iommufd_vevent_handler() takes it out when an event comes after it,
 * and moves it to the tail with the new number when another is lost).
 *
 * Where it differs from the kernel, on purpose:
 *  - the vIOMMU's selftest data (struct iommu_viommu_selftest) comes back with
 *    out_data = in_data but out_mmap_offset and out_mmap_length 0: the mock
 *    has no page to mmap();
 *  - iopf_mock_vevent() refuses (E2BIG) payloads over IOPF_MOCK_VEVENT_MAX
 *    bytes (the kernel takes what a driver gives; drivers give 4 to 32);
 *  - it accepts any payload length for any type (a driver gives its type's
 *    length), and raises for a vDEVICE whose virt_id is 0, which the
 *    selftest's TRIGGER_VEVENT refuses (ENOENT: it takes 0 for "none");
 *  - a read stages at most stage_cap bytes (half the socket's send buffer),
 *    so a very large read may get fewer records than the kernel would give;
 *  - the fd is a socket opened O_NONBLOCK; poll() on the stand-in eventfd
 *    reports EPOLLOUT, which the vEVENTQ file never does; a write() reaches
 *    the socket, and its hook answers EINVAL (the file has no write op).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mock-internal.h"

#define HDR_SIZE	   sizeof(struct iommufd_vevent_header)
#define VEVENTQ_MAX_DEPTH  (1u << 19) /* eventq.c */
#define MOCK_SNDBUF	   (8 << 20)
#define MOCK_VEVENT_ORDERS 13 /* payload room 1 << 0 .. 1 << 12 */

_Static_assert(IOPF_MOCK_VEVENT_MAX == 1u << (MOCK_VEVENT_ORDERS - 1),
	       "one free list per power of two up to the largest payload");

/* struct iommu_viommu_selftest (iommufd_test.h) */
struct mock_viommu_selftest {
	uint32_t in_data;
	uint32_t out_data;
	uint64_t out_mmap_offset;
	uint64_t out_mmap_length;
};

struct mock_veventq;

struct mock_viommu {
	struct mock_obj obj;
	struct mock_hwpt *parent; /* the NEST_PARENT HWPT it holds */
	uint32_t type;
	struct mock_veventq *qs; /* its vEVENTQs (viommu->veventqs) */
};

struct mock_vdevice {
	struct mock_obj obj;
	struct mock_viommu *viommu;
	struct mock_dev *dev; /* not followed once the mock tears down */
	uint64_t virt_id;
};

/* One queued event (struct iommufd_vevent). */
struct mock_vevent {
	struct mock_vevent *next;
	uint32_t seq;
	uint32_t len;
	uint32_t order; /* data has room for 1 << order bytes */
	uint32_t __pad;
	unsigned char data[];
};

struct mock_veventq {
	struct mock_obj obj;
	struct mock_viommu *viommu;
	struct mock_veventq *next; /* in viommu->qs */
	uint32_t type;
	uint32_t depth;
	uint32_t num_events; /* normal events queued */
	uint32_t sequence; /* the next event's number */
	bool lost; /* the LOST_EVENTS header is queued (at the tail) */
	uint32_t lost_seq; /* its number */
	struct mock_vevent *head, *tail;
	struct mock_vevent *free[MOCK_VEVENT_ORDERS];
	int lib_fd; /* the library's end; -1 once closed */
	int mock_fd;
	int efd;
	bool efd_set;
	size_t stage_cap;
	unsigned char *stage;
	size_t stage_size;
	struct mock_fdinj inj;
};

/* ---- lookups ------------------------------------------------------------ */

struct mock_veventq *mock_veventq_find(struct iopf_mock *m, uint32_t id)
{
	return (struct mock_veventq *)mock_obj_find(m, id, MOCK_OBJ_VEVENTQ);
}

struct mock_veventq *mock_veventq_by_fd(struct iopf_mock *m, int fd)
{
	return (struct mock_veventq *)mock_fd_obj(m, fd, MOCK_OBJ_VEVENTQ);
}

struct mock_fdinj *mock_veventq_inj(struct mock_veventq *q)
{
	return &q->inj;
}

/* The vDEVICE of dev (idev->vdev), on any vIOMMU. */
static struct mock_vdevice *mock_vdevice_of(struct iopf_mock *m,
					    const struct mock_dev *dev)
{
	for (uint32_t id = 1; id < m->nobjs; id++) {
		struct mock_obj *obj = m->objs[id];

		if (obj && obj->type == MOCK_OBJ_VDEVICE &&
		    ((struct mock_vdevice *)obj)->dev == dev)
			return (struct mock_vdevice *)obj;
	}
	return NULL;
}

/* xa_load(&viommu->vdevs, virt_id) */
static struct mock_vdevice *mock_vdevice_at(struct iopf_mock *m,
					    const struct mock_viommu *v,
					    uint64_t virt_id)
{
	for (uint32_t id = 1; id < m->nobjs; id++) {
		struct mock_obj *obj = m->objs[id];
		struct mock_vdevice *vd = (struct mock_vdevice *)obj;

		if (obj && obj->type == MOCK_OBJ_VDEVICE && vd->viommu == v &&
		    vd->virt_id == virt_id)
			return vd;
	}
	return NULL;
}

/* iommufd_viommu_find_veventq() */
static struct mock_veventq *mock_viommu_veventq(const struct mock_viommu *v,
						uint32_t type)
{
	for (struct mock_veventq *q = v->qs; q; q = q->next)
		if (q->type == type)
			return q;
	return NULL;
}

/* ---- IOMMU_VIOMMU_ALLOC -------------------------------------------------- */

/* The selftest driver's mock_viommu_init() on the user's data: in and out
 * through iommu_copy_struct_{from,to}_user(), min_last out_data. */
static int mock_viommu_init_data(const struct iommu_viommu_alloc *cmd)
{
	const size_t min = offsetof(struct mock_viommu_selftest, out_data) +
			   sizeof(uint32_t);
	struct mock_viommu_selftest d = {0};
	void *uptr = (void *)(uintptr_t)cmd->data_uptr;
	int rc;

	if (cmd->data_len < min || cmd->data_len > sizeof(d))
		return -EINVAL;
	rc = mock_copy_from_user(&d, uptr, cmd->data_len);
	if (rc)
		return rc;
	d.out_data = d.in_data;
	d.out_mmap_offset = 0; /* no mmap() here: see the top of the file */
	d.out_mmap_length = 0;
	return mock_copy_to_user(uptr, &d, cmd->data_len);
}

/* iommufd_viommu_alloc_ioctl(), its checks in the kernel's order */
int mock_viommu_alloc(struct iopf_mock *m, struct mock_ucmd *ucmd)
{
	struct iommu_viommu_alloc *cmd = ucmd->cmd;
	struct mock_hwpt *parent;
	struct mock_viommu *v;
	int rc;

	if (cmd->flags || cmd->type == IOMMU_VIOMMU_TYPE_DEFAULT)
		return -EOPNOTSUPP;
	if (!mock_obj_find(m, cmd->dev_id, MOCK_OBJ_DEVICE))
		return -ENOENT; /* iommufd_get_device() */
	/* The driver's get_viommu_size(): 0 for a type it has not. */
	if (cmd->type != IOPF_MOCK_VIOMMU_TYPE_SELFTEST)
		return -EOPNOTSUPP;
	parent = (struct mock_hwpt *)mock_obj_find(m, cmd->hwpt_id,
						   MOCK_OBJ_HWPT_PAGING);
	if (!parent)
		return -ENOENT; /* iommufd_get_hwpt_paging() */
	if (!parent->nest_parent)
		return -EINVAL;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	rc = mock_obj_insert(m, &v->obj, MOCK_OBJ_VIOMMU);
	if (rc) {
		free(v);
		return rc;
	}
	v->parent = parent;
	v->type = cmd->type;
	/* ops->viommu_init() with user_data only when data_len is set */
	rc = cmd->data_len ? mock_viommu_init_data(cmd) : 0;
	if (!rc) {
		cmd->out_viommu_id = v->obj.id;
		rc = mock_ucmd_respond(ucmd);
	}
	if (rc) {
		mock_obj_remove(m, &v->obj);
		free(v);
		return rc;
	}
	parent->obj.users++;
	return 0;
}

/* ---- IOMMU_VDEVICE_ALLOC ------------------------------------------------ */

/* iommufd_vdevice_alloc_ioctl() */
int mock_vdevice_alloc(struct iopf_mock *m, struct mock_ucmd *ucmd)
{
	struct iommu_vdevice_alloc *cmd = ucmd->cmd;
	struct mock_vdevice *vd;
	struct mock_viommu *v;
	struct mock_dev *dev;
	int rc;

#if ULONG_MAX < UINT64_MAX
	/* "virt_id indexes an xarray": only a 32-bit kernel refuses some. */
	if (cmd->virt_id > ULONG_MAX)
		return -EINVAL;
#endif
	v = (struct mock_viommu *)mock_obj_find(m, cmd->viommu_id,
						MOCK_OBJ_VIOMMU);
	if (!v)
		return -ENOENT;
	dev = (struct mock_dev *)mock_obj_find(m, cmd->dev_id, MOCK_OBJ_DEVICE);
	if (!dev)
		return -ENOENT;
	/* (Every mock device sits behind the one mock IOMMU: the EINVAL for
	 * a vIOMMU of another IOMMU cannot happen.) */
	if (mock_vdevice_of(m, dev))
		return -EEXIST; /* idev->vdev */
	if (mock_vdevice_at(m, v, cmd->virt_id))
		return -EEXIST; /* xa_insert(): -EBUSY, turned into -EEXIST */
	vd = calloc(1, sizeof(*vd));
	if (!vd)
		return -ENOMEM;
	rc = mock_obj_insert(m, &vd->obj, MOCK_OBJ_VDEVICE);
	if (rc) {
		free(vd);
		return rc;
	}
	vd->viommu = v;
	vd->dev = dev;
	vd->virt_id = cmd->virt_id;
	cmd->out_vdevice_id = vd->obj.id;
	rc = mock_ucmd_respond(ucmd);
	if (rc) {
		mock_obj_remove(m, &vd->obj);
		free(vd);
		return rc;
	}
	v->obj.users++;
	return 0;
}

/* ---- nested HWPTs on a vIOMMU, and attaching to them ----------------------
 */

int mock_viommu_hwpt_check(struct iopf_mock *m,
			   const struct iommu_hwpt_alloc *cmd)
{
	uint32_t flags = IOMMU_HWPT_FAULT_ID_VALID;

	/* iommufd_viommu_alloc_hwpt_nested(); ALLOC_PASID from 6.15 */
	if (m->kernel >= IOPF_MOCK_KERNEL_6_15)
		flags |= IOMMU_HWPT_ALLOC_PASID;
	if (cmd->flags & ~flags)
		return -EOPNOTSUPP;
	if (!cmd->data_len)
		return -EOPNOTSUPP;
	/* The driver's alloc_domain_nested() reads the stage-1 data (any
	 * data_type, as for a nested HWPT on a parent: see mock.c). */
	for (uint32_t at = 0; at < cmd->data_len;) {
		unsigned char tmp[4096];
		uint32_t n = cmd->data_len - at;
		int rc;

		if (n > sizeof(tmp))
			n = sizeof(tmp);
		rc = mock_copy_from_user(
			tmp, (const void *)(uintptr_t)(cmd->data_uptr + at), n);
		if (rc)
			return rc;
		at += n;
	}
	return 0;
}

int mock_viommu_attach(struct iopf_mock *m, struct mock_dev *dev,
		       struct mock_hwpt *hwpt)
{
	struct mock_vdevice *vd;

	if (hwpt->obj.type != MOCK_OBJ_HWPT_NESTED ||
	    hwpt->pt->type != MOCK_OBJ_VIOMMU)
		return 0;
	/* mock_domain_nop_attach(): iommufd_viommu_get_vdev_id() */
	vd = mock_vdevice_of(m, dev);
	if (!vd || &vd->viommu->obj != hwpt->pt)
		return -ENOENT;
	dev->virt_id = vd->virt_id;
	return 0;
}

/* ---- vEVENTQ: events -------------------------------------------------- */

static unsigned int mock_vevent_order(uint32_t len)
{
	unsigned int o = 0;

	while ((1u << o) < len)
		o++;
	return o;
}

static struct mock_vevent *mock_vevent_get(struct mock_veventq *q, uint32_t len)
{
	unsigned int o = mock_vevent_order(len);
	struct mock_vevent *ev = q->free[o];

	if (ev) {
		q->free[o] = ev->next;
		return ev;
	}
	ev = malloc(sizeof(*ev) + ((size_t)1 << o));
	if (ev)
		ev->order = o;
	return ev;
}

static void mock_vevent_put(struct mock_veventq *q, struct mock_vevent *ev)
{
	ev->next = q->free[ev->order];
	q->free[ev->order] = ev;
}

/* Readable while a read would return something: a queued event or the
 * LOST_EVENTS header (iommufd_eventq_fops_poll()), a closed fd, or an
 * injected read result that is due. */
void mock_veventq_update_efd(struct mock_veventq *q)
{
	bool want = q->head || q->lost || q->inj.closed ||
		    mock_inject_read_armed(&q->inj);
	uint64_t v = 1;

	if (q->efd < 0)
		return;
	if (want && !q->efd_set) {
		if (write(q->efd, &v, sizeof(v)) == sizeof(v))
			q->efd_set = true;
	} else if (!want && q->efd_set) {
		if (read(q->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			return;
		q->efd_set = false;
	}
}

/* iommufd_vevent_handler(): ev, or the LOST_EVENTS header (ev NULL), to the
 * tail, taking the next number. */
static uint32_t mock_vevent_queue(struct mock_veventq *q,
				  struct mock_vevent *ev)
{
	uint32_t seq = q->sequence;

	/* The header leaves the tail whatever comes next. */
	q->lost = false;
	if (ev) {
		ev->seq = seq;
		ev->next = NULL;
		if (q->tail)
			q->tail->next = ev;
		else
			q->head = ev;
		q->tail = ev;
	} else {
		q->lost = true;
		q->lost_seq = seq;
	}
	q->sequence = (seq + 1) & INT_MAX;
	return seq;
}

IOPF_EXPORT int iopf_mock_vevent(struct iopf_mock *m, uint32_t dev_id,
				 uint32_t type, const void *data, uint32_t len,
				 uint32_t *out_sequence)
{
	struct mock_vevent *ev = NULL;
	struct mock_veventq *q;
	struct mock_viommu *v;
	struct mock_dev *dev;
	uint32_t selftest, seq;
	int rc = 0;

	if (!m)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	/* IOMMU_TEST_OP_TRIGGER_VEVENT: the device, then its vIOMMU (set
	 * while it sits on a nested HWPT of one, with a vDEVICE there). */
	dev = (struct mock_dev *)mock_obj_find(m, dev_id, MOCK_OBJ_DEVICE);
	if (!dev || !dev->hwpt || dev->hwpt->obj.type != MOCK_OBJ_HWPT_NESTED ||
	    dev->hwpt->pt->type != MOCK_OBJ_VIOMMU) {
		rc = -ENOENT;
		goto out;
	}
	v = (struct mock_viommu *)dev->hwpt->pt;
	/* The selftest's own payload when none is given. */
	if (!data && !len && type == IOPF_MOCK_VEVENTQ_TYPE_SELFTEST) {
		selftest = (uint32_t)dev->virt_id;
		data = &selftest;
		len = sizeof(selftest);
	}
	/* iommufd_viommu_report_event() */
	if (!data || !len) {
		rc = -EINVAL;
		goto out;
	}
	if (len > IOPF_MOCK_VEVENT_MAX) {
		rc = -E2BIG;
		goto out;
	}
	q = mock_viommu_veventq(v, type);
	if (!q) {
		rc = -EOPNOTSUPP;
		goto out;
	}
	ev = mock_vevent_get(q, len);
	if (!ev) {
		/* The event is lost, and says so. */
		rc = -ENOMEM;
	} else if (q->num_events == q->depth) {
		mock_vevent_put(q, ev);
		ev = NULL;
	} else {
		ev->len = len;
		memcpy(ev->data, data, len);
		q->num_events++;
	}
	seq = mock_vevent_queue(q, ev);
	if (out_sequence)
		*out_sequence = seq;
	mock_veventq_update_efd(q);
out:
	pthread_mutex_unlock(&m->lock);
	return rc;
}

IOPF_EXPORT int iopf_mock_veventq_set_sequence(struct iopf_mock *m,
					       uint32_t veventq_id,
					       uint32_t sequence)
{
	struct mock_veventq *q;
	int rc = 0;

	if (!m || sequence > INT_MAX)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	q = mock_veventq_find(m, veventq_id);
	if (q)
		q->sequence = sequence;
	else
		rc = -ENOENT;
	pthread_mutex_unlock(&m->lock);
	return rc;
}

/* ---- IOMMU_VEVENTQ_ALLOC ------------------------------------------------ */

static void mock_veventq_free_mem(struct mock_veventq *q)
{
	struct mock_vevent *ev, *next;

	for (ev = q->head; ev; ev = next) {
		next = ev->next;
		free(ev);
	}
	for (unsigned int o = 0; o < MOCK_VEVENT_ORDERS; o++) {
		for (ev = q->free[o]; ev; ev = next) {
			next = ev->next;
			free(ev);
		}
	}
	if (q->lib_fd >= 0)
		close(q->lib_fd);
	if (q->mock_fd >= 0)
		close(q->mock_fd);
	if (q->efd >= 0)
		close(q->efd);
	free(q->stage);
	free(q);
}

/* iommufd_veventq_alloc(), its checks in the kernel's order */
int mock_veventq_alloc(struct iopf_mock *m, struct mock_ucmd *ucmd)
{
	struct iommu_veventq_alloc *cmd = ucmd->cmd;
	socklen_t sl = sizeof(int);
	struct mock_veventq *q;
	struct mock_viommu *v;
	int sv[2], sndbuf, rc;

	if (cmd->flags || cmd->__reserved ||
	    cmd->type == IOMMU_VEVENTQ_TYPE_DEFAULT)
		return -EOPNOTSUPP;
	if (!cmd->veventq_depth || cmd->veventq_depth > VEVENTQ_MAX_DEPTH)
		return -EINVAL;
	v = (struct mock_viommu *)mock_obj_find(m, cmd->viommu_id,
						MOCK_OBJ_VIOMMU);
	if (!v)
		return -ENOENT; /* iommufd_get_viommu() */
	if (mock_viommu_veventq(v, cmd->type))
		return -EEXIST;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->lib_fd = q->mock_fd = q->efd = -1;
	rc = mock_obj_insert(m, &q->obj, MOCK_OBJ_VEVENTQ);
	if (rc) {
		free(q);
		return rc;
	}
	/* The kernel's vEVENTQ fd is O_CLOEXEC. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
		       sv) < 0) {
		rc = -errno;
		goto abort;
	}
	q->lib_fd = sv[0];
	q->mock_fd = sv[1];
	q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->efd < 0) {
		rc = -errno;
		goto abort;
	}
	/* One send() of a read's records into the empty socket must take
	 * them all: half the send buffer always does (see mock-fault.c). */
	sndbuf = MOCK_SNDBUF;
	(void)setsockopt(q->mock_fd, SOL_SOCKET, SO_SNDBUF, &sndbuf,
			 sizeof(sndbuf));
	if (getsockopt(q->mock_fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &sl) < 0 ||
	    sndbuf <= 0)
		sndbuf = 212992;
	q->stage_cap = (size_t)sndbuf / 2;
	q->viommu = v;
	q->type = cmd->type;
	q->depth = cmd->veventq_depth;
	cmd->out_veventq_id = q->obj.id;
	cmd->out_veventq_fd = (uint32_t)q->lib_fd;
	rc = mock_fd_bind(m, q->lib_fd, &q->obj);
	if (rc)
		goto abort;
	rc = mock_ucmd_respond(ucmd);
	if (rc)
		goto abort;
	q->next = v->qs;
	v->qs = q;
	v->obj.users++;
	/* The open fd holds the object and the mock (the iommufd context). */
	q->obj.users++;
	mock_ref(m);
	return 0;

abort:
	mock_obj_remove(m, &q->obj);
	if (q->lib_fd >= 0)
		mock_fd_unbind(m, q->lib_fd);
	mock_veventq_free_mem(q);
	return rc;
}

/* ---- destruction --------------------------------------------------------- */

void mock_vobj_destroy(struct iopf_mock *m, struct mock_obj *obj)
{
	struct mock_veventq *q, **pp;
	struct mock_vdevice *vd;
	struct mock_viommu *v;

	(void)m;
	switch (obj->type) {
	case MOCK_OBJ_VIOMMU: /* iommufd_viommu_destroy() */
		v = (struct mock_viommu *)obj;
		v->parent->obj.users--;
		free(v);
		break;
	case MOCK_OBJ_VDEVICE: /* iommufd_vdevice_destroy() */
		vd = (struct mock_vdevice *)obj;
		vd->viommu->obj.users--;
		free(vd);
		break;
	case MOCK_OBJ_VEVENTQ: /* iommufd_veventq_destroy(): queued events
				  go with it */
		q = (struct mock_veventq *)obj;
		for (pp = &q->viommu->qs; *pp; pp = &(*pp)->next) {
			if (*pp == q) {
				*pp = q->next;
				break;
			}
		}
		q->viommu->obj.users--;
		mock_veventq_free_mem(q);
		break;
	default:
		free(obj);
		break;
	}
}

void mock_vobj_free(struct mock_obj *obj)
{
	if (obj->type == MOCK_OBJ_VEVENTQ)
		mock_veventq_free_mem((struct mock_veventq *)obj);
	else
		free(obj);
}

/* ---- the vEVENTQ fd --------------------------------------------------- */

static int mock_veventq_stage_reserve(struct mock_veventq *q, size_t need)
{
	unsigned char *p;
	size_t size;

	if (need <= q->stage_size)
		return 0;
	size = q->stage_size ? q->stage_size : 4096;
	while (size < need)
		size *= 2;
	if (size > q->stage_cap)
		size = q->stage_cap;
	p = realloc(q->stage, size);
	if (!p)
		return -ENOMEM;
	q->stage = p;
	q->stage_size = size;
	return 0;
}

static void mock_veventq_put_hdr(struct mock_veventq *q, size_t at,
				 uint32_t flags, uint32_t seq)
{
	struct iommufd_vevent_header h = {.flags = flags, .sequence = seq};

	memcpy(q->stage + at, &h, sizeof(h));
}

/*
 * The loop of iommufd_veventq_fops_read(): records, oldest first, while
 * they fit in len: a normal event needs its header and payload, the
 * LOST_EVENTS header only itself. max (READ_SPLIT) caps the records. Returns
 * true with the records in the socket, or false with what the read returns
 * instead in *res.
 */
static bool mock_veventq_stage(struct mock_veventq *q, size_t len,
			       unsigned int max, ssize_t *res)
{
	size_t room = len < q->stage_cap ? len : q->stage_cap;
	size_t done = 0;
	unsigned int n = 0;
	ssize_t sent;

	*res = 0;
	while (!max || n < max) {
		struct mock_vevent *ev = q->head;
		size_t need;

		if (!ev && !q->lost)
			break;
		if (HDR_SIZE > room - done)
			break;
		need = HDR_SIZE + (ev ? ev->len : 0);
		if (need > room - done) {
			/* "Read count doesn't fit a single normal vEVENT" */
			if (!done)
				*res = -EINVAL;
			break;
		}
		if (mock_veventq_stage_reserve(q, done + need)) {
			if (!done)
				*res = -ENOMEM;
			break;
		}
		if (ev) {
			mock_veventq_put_hdr(q, done, 0, ev->seq);
			memcpy(q->stage + done + HDR_SIZE, ev->data, ev->len);
			q->head = ev->next;
			if (!q->head)
				q->tail = NULL;
			q->num_events--;
			mock_vevent_put(q, ev);
		} else {
			mock_veventq_put_hdr(q, done,
					     IOMMU_VEVENTQ_FLAG_LOST_EVENTS,
					     q->lost_seq);
			q->lost = false;
		}
		done += need;
		n++;
	}
	if (!done)
		return false;
	sent = send(q->mock_fd, q->stage, done, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (sent > 0)
		return true;
	*res = sent < 0 ? -errno : -EIO;
	return false;
}

int mock_veventq_read_prepare(struct iopf_mock *m, struct mock_veventq *q,
			      size_t len, ssize_t *res)
{
	unsigned int max = 0;
	int arg = 0, avail = 0, skip = 1;
	uint32_t kind;

	(void)m;
	kind = mock_inject_fd_op(&q->inj, false, &arg);
	if (q->inj.closed) {
		*res = -EBADF;
		goto out;
	}
	switch (kind) {
	case IOPF_MOCK_READ_ZERO:
		*res = 0;
		goto out;
	case IOPF_MOCK_READ_ERRNO:
		*res = -arg;
		goto out;
	case IOPF_MOCK_READ_SPLIT:
		max = (unsigned int)arg;
		break;
	default:
		break;
	}
	/* "Minimum read count is a vEVENT header" */
	if (len < HDR_SIZE) {
		*res = -EINVAL;
		goto out;
	}
	/* Records staged for a read that never happened: this one takes
	 * them. */
	if (ioctl(q->lib_fd, FIONREAD, &avail) == 0 && avail > 0) {
		skip = 0;
		goto out;
	}
	if (mock_veventq_stage(q, len, max, res))
		skip = 0;
out:
	mock_veventq_update_efd(q);
	return skip;
}

/* What was written sits in the mock's end: take it out. */
static void mock_veventq_drain(struct mock_veventq *q, size_t n)
{
	unsigned char tmp[4096];

	while (n) {
		size_t want = n < sizeof(tmp) ? n : sizeof(tmp);
		ssize_t r = recv(q->mock_fd, tmp, want, MSG_DONTWAIT);

		if (r <= 0)
			break;
		n -= (size_t)r;
	}
}

ssize_t mock_veventq_write_done(struct iopf_mock *m, struct mock_veventq *q,
				ssize_t res)
{
	int arg = 0;

	(void)m;
	if (res > 0)
		mock_veventq_drain(q, (size_t)res);
	(void)mock_inject_fd_op(&q->inj, true, &arg);
	mock_veventq_update_efd(q);
	/* vfs_write() on a file without a write op */
	return q->inj.closed ? -EBADF : -EINVAL;
}

int mock_veventq_poll_fd(struct mock_veventq *q)
{
	return q->efd;
}

/* iommufd_eventq_fops_release(): the fd's reference on the object goes (the
 * caller drops the one on the mock). Queued events stay until destroy. */
void mock_veventq_close(struct iopf_mock *m, struct mock_veventq *q)
{
	mock_fd_unbind(m, q->lib_fd);
	close(q->lib_fd);
	q->lib_fd = -1;
	q->obj.users--;
}
