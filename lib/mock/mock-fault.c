/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The mock's fault objects: IOMMU_FAULT_QUEUE_ALLOC, fault groups from
 * iopf_mock_trigger(), their delivery by read() and their answers by write(),
 * following drivers/iommu/iommufd/fault.c of Linux 6.12.
 *
 * The library gets one end of a socket pair as its fault fd and really reads
 * and writes it (read(2), write(2) or io_uring). Around each read the backend
 * hooks let the mock act as the kernel's read would: read_prepare() puts
 * exactly the whole groups that read returns into the socket (or says what
 * the read returns instead), and write_done() judges the answers written, as
 * the kernel's write would, and says how many it took. An eventfd stands in
 * for the fault file's poll(): readable while a group is pending.
 *
 * Where it differs from the kernel, on purpose:
 *  - a read stages at most stage_cap bytes (half the socket's send buffer,
 *    212992 bytes with Linux's default net.core.wmem_max, up to 2.5 MiB), so
 *    a large read may get fewer whole groups than the kernel would give, and
 *    iopf_mock_trigger() refuses (E2BIG) a group larger than that (over 5324
 *    records with the default wmem_max; 65536 at most in any case);
 *  - the fault fd is a socket opened O_NONBLOCK; the kernel's file has no
 *    O_NONBLOCK but never blocks either;
 *  - IOPF_MOCK_READ_SPLIT hands out part of a group, which the kernel never
 *    does: it exists to test the library's reassembly.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mock-internal.h"

#define REC_SIZE sizeof(struct iommu_hwpt_pgfault)
#define RSP_SIZE sizeof(struct iommu_hwpt_page_response)

/* Asked of both ends of the socket pair; Linux grants at most twice
 * net.core.wmem_max. */
#define MOCK_SNDBUF (8 << 20)

/* ---- group records: free lists, no allocation in steady state ----------- */

static unsigned int mock_order(uint32_t n)
{
	unsigned int o = 0;

	while ((1u << o) < n)
		o++;
	return o;
}

/* A record for n faults, from the free list of its power-of-two size. */
static struct mock_group *mock_group_get(struct iopf_mock *m, uint32_t n)
{
	unsigned int o = mock_order(n);
	struct mock_group *g = m->free_groups[o];

	if (g) {
		m->free_groups[o] = g->next;
		return g;
	}
	g = malloc(sizeof(*g) + (sizeof(g->recs[0]) << o));
	if (g)
		g->order = o;
	return g;
}

static void mock_group_put(struct iopf_mock *m, struct mock_group *g)
{
	g->next = m->free_groups[g->order];
	m->free_groups[g->order] = g;
}

void mock_groups_free(struct iopf_mock *m)
{
	for (unsigned int o = 0; o < MOCK_GROUP_ORDERS; o++) {
		struct mock_group *g, *next;

		for (g = m->free_groups[o]; g; g = next) {
			next = g->next;
			free(g);
		}
		m->free_groups[o] = NULL;
	}
}

/*
 * Room for one more group's info. The array doubles, starting with room for
 * 64Ki groups, so its cost is amortised: two reallocations for the first
 * 100k groups, none at all while it has room. 16 bytes a group stay for the
 * mock's lifetime, so that any group id ever returned can be asked about.
 */
static int mock_ginfo_reserve(struct iopf_mock *m)
{
	struct mock_ginfo *p;
	uint64_t cap;

	if (m->ngroups + 1 < m->ginfo_cap)
		return 0;
	cap = m->ginfo_cap ? m->ginfo_cap * 2 : 65536;
	if (cap > SIZE_MAX / sizeof(*p))
		return -ENOMEM;
	p = realloc(m->ginfo, (size_t)cap * sizeof(*p));
	if (!p)
		return -ENOMEM;
	m->ginfo = p;
	m->ginfo_cap = cap;
	return 0;
}

/* ---- the pending list (fault->deliver) ---------------------------------- */

static void mock_pending_add(struct mock_fault *f, struct mock_group *g)
{
	g->next = NULL;
	g->prev = f->tail;
	if (f->tail)
		f->tail->next = g;
	else
		f->head = g;
	f->tail = g;
}

static void mock_pending_del(struct mock_fault *f, struct mock_group *g)
{
	if (g->prev)
		g->prev->next = g->next;
	else
		f->head = g->next;
	if (g->next)
		g->next->prev = g->prev;
	else
		f->tail = g->prev;
}

/* ---- cookies (fault->response) ----------------------------------------- */

/*
 * xa_alloc() on the response xarray (XA_FLAGS_ALLOC1, xa_limit_32b) when a
 * group is read: the lowest free cookie from 1, so a cookie comes back as
 * soon as its group is answered. The table only grows, to the most groups
 * ever outstanding at once.
 */
static int mock_cookie_alloc(struct mock_fault *f, struct mock_group *g)
{
	uint32_t c = f->cookie_lo ? f->cookie_lo : 1;

	while (c < f->ncookies && f->cookies[c].g)
		c++;
	if (c >= f->ncookies) {
		uint32_t n = f->ncookies ? f->ncookies * 2 : 64;
		struct mock_cookie *p;

		if (n <= f->ncookies)
			return -EBUSY; /* 32 bits of cookies in use */
		p = realloc(f->cookies, (size_t)n * sizeof(*p));
		if (!p)
			return -ENOMEM;
		memset(p + f->ncookies, 0,
		       (size_t)(n - f->ncookies) * sizeof(*p));
		f->cookies = p;
		f->ncookies = n;
	}
	f->cookies[c].g = g;
	f->cookies[c].last_gid = g->gid;
	f->cookie_lo = c + 1;
	g->cookie = c;
	return 0;
}

static void mock_cookie_free(struct mock_fault *f, uint32_t c)
{
	f->cookies[c].g = NULL;
	if (c < f->cookie_lo)
		f->cookie_lo = c;
}

/* The group is answered (by user space or by the mock): record how, and
 * recycle it. */
static void mock_group_retire(struct iopf_mock *m, struct mock_fault *f,
			      struct mock_group *g, uint8_t state, uint8_t code)
{
	struct mock_ginfo *gi = &m->ginfo[g->gid];

	gi->state = state;
	gi->code = code;
	if (f->split == g)
		f->split = NULL;
	mock_group_put(m, g);
}

/* ---- poll --------------------------------------------------------------- */

/*
 * iommufd_fault_fops_poll(): EPOLLIN while a group is pending. Also while the
 * rest of a split group waits, and while an injected read result is due, so
 * that an engine which reads only when told to meets it.
 */
void mock_fault_update_efd(struct mock_fault *f)
{
	bool want = f->head || f->split || f->inj.closed ||
		    mock_inject_read_armed(&f->inj);
	uint64_t v = 1;

	if (f->efd < 0)
		return;
	if (want && !f->efd_set) {
		if (write(f->efd, &v, sizeof(v)) == sizeof(v))
			f->efd_set = true;
	} else if (!want && f->efd_set) {
		/* Reading resets the counter; EAGAIN means it was 0. */
		if (read(f->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			return;
		f->efd_set = false;
	}
}

/* ---- fault objects ------------------------------------------------------ */

static struct mock_fault *mock_fault_by_fd(struct iopf_mock *m, int fd)
{
	return (struct mock_fault *)mock_fd_obj(m, fd, MOCK_OBJ_FAULT);
}

/* iommufd_fault_alloc() */
int mock_fault_alloc(struct iopf_mock *m, struct mock_ucmd *ucmd)
{
	struct iommu_fault_alloc *cmd = ucmd->cmd;
	socklen_t sl = sizeof(int);
	struct mock_fault *f;
	int sv[2], sndbuf, rc;

	if (cmd->flags)
		return -EOPNOTSUPP;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->lib_fd = f->mock_fd = f->efd = -1;
	rc = mock_obj_insert(m, &f->obj, MOCK_OBJ_FAULT);
	if (rc) {
		free(f);
		return rc;
	}
	/* The kernel's fault fd is O_CLOEXEC. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
		       sv) < 0) {
		rc = -errno;
		goto abort;
	}
	f->lib_fd = sv[0];
	f->mock_fd = sv[1];
	f->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (f->efd < 0) {
		rc = -errno;
		goto abort;
	}
	/*
	 * A read's groups go into the (then empty) socket with one send(),
	 * which must take them all: a nonblocking unix stream socket takes
	 * data while what is queued is below its send buffer, so half of it
	 * is always safe.
	 */
	sndbuf = MOCK_SNDBUF;
	(void)setsockopt(f->mock_fd, SOL_SOCKET, SO_SNDBUF, &sndbuf,
			 sizeof(sndbuf));
	(void)setsockopt(f->lib_fd, SOL_SOCKET, SO_SNDBUF, &sndbuf,
			 sizeof(sndbuf));
	if (getsockopt(f->mock_fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &sl) < 0 ||
	    sndbuf <= 0)
		sndbuf = 212992;
	f->stage_cap = (size_t)sndbuf / 2;
	if (f->stage_cap > MOCK_MAX_GROUP * REC_SIZE)
		f->stage_cap = MOCK_MAX_GROUP * REC_SIZE;

	cmd->out_fault_id = f->obj.id;
	cmd->out_fault_fd = (uint32_t)f->lib_fd;
	rc = mock_fd_bind(m, f->lib_fd, &f->obj);
	if (rc)
		goto abort;
	rc = mock_ucmd_respond(ucmd);
	if (rc)
		goto abort;
	/* The open fd holds the object, and (as the fault file holds the
	 * iommufd context) the mock. */
	f->obj.users++;
	mock_ref(m);
	return 0;

abort:
	mock_obj_remove(m, &f->obj);
	if (f->lib_fd >= 0) {
		mock_fd_unbind(m, f->lib_fd);
		close(f->lib_fd);
	}
	if (f->mock_fd >= 0)
		close(f->mock_fd);
	if (f->efd >= 0)
		close(f->efd);
	free(f);
	return rc;
}

/*
 * Answers INVALID what nobody answered: the pending groups first, then the
 * delivered ones, as iommufd_auto_response_faults() (dev: the groups one
 * device raised under the attachment it leaves) and iommufd_fault_destroy()
 * (dev NULL: all of them). Their cookies are free again, so a later answer
 * to them fails with EINVAL.
 */
void mock_fault_auto_answer(struct iopf_mock *m, struct mock_fault *f,
			    struct mock_dev *dev, uint8_t state)
{
	uint64_t *count = state == IOPF_MOCK_GROUP_AUTO_DETACH
				  ? &m->st.auto_detach
				  : &m->st.auto_teardown;
	struct mock_group *g, *next;

	for (g = f->head; g; g = next) {
		next = g->next;
		if (dev && g->dev != dev)
			continue;
		mock_pending_del(f, g);
		m->st.pending--;
		(*count)++;
		mock_group_retire(m, f, g, state, IOMMUFD_PAGE_RESP_INVALID);
	}
	for (uint32_t c = 1; c < f->ncookies; c++) {
		g = f->cookies[c].g;
		if (!g || (dev && g->dev != dev))
			continue;
		mock_cookie_free(f, c);
		m->st.outstanding--;
		(*count)++;
		mock_group_retire(m, f, g, state, IOMMUFD_PAGE_RESP_INVALID);
	}
	mock_fault_update_efd(f);
}

/* The object's destroy: nothing holds it any more (no HWPT, no open fd). */
void mock_fault_destroy(struct iopf_mock *m, struct mock_fault *f)
{
	mock_fault_auto_answer(m, f, NULL, IOPF_MOCK_GROUP_AUTO_TEARDOWN);
	if (f->mock_fd >= 0)
		close(f->mock_fd);
	if (f->efd >= 0)
		close(f->efd);
	free(f->cookies);
	free(f->stage);
	free(f);
}

/* ---- faults in ---------------------------------------------------------- */

IOPF_EXPORT int iopf_mock_trigger(struct iopf_mock *m, uint32_t dev_id,
				  uint32_t grpid,
				  const struct iopf_mock_fault *faults,
				  unsigned int n, uint64_t *out_group_id)
{
	struct mock_group *g;
	struct mock_fault *f;
	struct mock_dev *dev;
	int rc = 0;

	if (!m || !faults || !n)
		return -EINVAL;
	if (n > MOCK_MAX_GROUP)
		return -E2BIG;
	pthread_mutex_lock(&m->lock);
	dev = (struct mock_dev *)mock_obj_find(m, dev_id, MOCK_OBJ_DEVICE);
	if (!dev) {
		rc = -ENOENT;
		goto out;
	}
	/*
	 * IOPF is enabled only while the device is attached to a HWPT with a
	 * fault object (iommufd_fault_iopf_enable()); the IOMMU core reports
	 * nothing for any other device.
	 */
	if (!dev->hwpt || !dev->hwpt->fault) {
		rc = -ENODEV;
		goto out;
	}
	f = dev->hwpt->fault;
	if ((size_t)n * REC_SIZE > f->stage_cap) {
		rc = -E2BIG;
		goto out;
	}
	rc = mock_ginfo_reserve(m);
	if (rc)
		goto out;
	g = mock_group_get(m, n);
	if (!g) {
		rc = -ENOMEM;
		goto out;
	}
	g->dev = dev;
	g->gid = ++m->ngroups;
	g->n = n;
	g->grpid = grpid;
	g->cookie = 0;
	g->sent = 0;
	memcpy(g->recs, faults, (size_t)n * sizeof(*faults));
	m->ginfo[g->gid] = (struct mock_ginfo){
		.state = IOPF_MOCK_GROUP_PENDING,
		.dev_id = dev->obj.id,
	};
	/* iommufd_fault_iopf_handler(): to the tail of fault->deliver. */
	mock_pending_add(f, g);
	m->st.groups_triggered++;
	m->st.faults_triggered += n;
	m->st.pending++;
	mock_fault_update_efd(f);
	if (out_group_id)
		*out_group_id = g->gid;
out:
	pthread_mutex_unlock(&m->lock);
	return rc;
}

/* ---- read --------------------------------------------------------------- */

/* iommufd_compose_fault_message() */
static void mock_compose(unsigned char *dst, const struct mock_group *g,
			 uint32_t i)
{
	const uint32_t last = IOMMU_PGFAULT_FLAGS_LAST_PAGE;
	const struct iopf_mock_fault *in = &g->recs[i];
	struct iommu_hwpt_pgfault rec = {
		/* Flags and perm come raw from the driver; only the last
		 * record of a group carries LAST_PAGE. */
		.flags = (in->flags & ~last) | (i == g->n - 1 ? last : 0),
		.dev_id = g->dev->obj.id,
		.pasid = in->pasid,
		.grpid = g->grpid,
		.perm = in->perm,
		.addr = in->addr,
		.length = 0,
		.cookie = g->cookie,
	};

	memcpy(dst, &rec, sizeof(rec));
}

static int mock_stage_reserve(struct mock_fault *f, size_t need)
{
	unsigned char *p;
	size_t size;

	if (need <= f->stage_size)
		return 0;
	size = f->stage_size ? f->stage_size : 4096;
	while (size < need)
		size *= 2;
	if (size > f->stage_cap)
		size = f->stage_cap;
	p = realloc(f->stage, size);
	if (!p)
		return -ENOMEM;
	f->stage = p;
	f->stage_size = size;
	return 0;
}

/*
 * The loop of iommufd_fault_fops_read(): whole groups, oldest first, while
 * they fit in len; each gets its cookie now. split (READ_SPLIT) cuts the
 * first group after that many records. Returns true with the records in the
 * socket, or false with what the read returns instead in *res.
 */
static bool mock_stage(struct iopf_mock *m, struct mock_fault *f, size_t len,
		       unsigned int split, ssize_t *res)
{
	size_t room = len < f->stage_cap ? len : f->stage_cap;
	size_t done = 0;
	ssize_t sent;

	*res = 0;
	for (;;) {
		struct mock_group *g = f->split ? f->split : f->head;
		uint32_t from, count;

		if (!g)
			break;
		from = g->sent;
		count = g->n - from;
		if (!done && split && count > split)
			count = split;
		if ((size_t)count * REC_SIZE > room - done) {
			/* "Read count doesn't fit the first fault group" */
			if (!done)
				*res = m->nofit_res;
			break;
		}
		if (mock_stage_reserve(f, done + (size_t)count * REC_SIZE)) {
			if (!done)
				*res = -ENOMEM;
			break;
		}
		if (!from) {
			int rc = mock_cookie_alloc(f, g);

			if (rc) {
				if (!done)
					*res = rc;
				break;
			}
			mock_pending_del(f, g);
			m->st.pending--;
			m->st.outstanding++;
			m->st.groups_delivered++;
			m->ginfo[g->gid].state = IOPF_MOCK_GROUP_DELIVERED;
			m->ginfo[g->gid].cookie = g->cookie;
		}
		for (uint32_t i = 0; i < count; i++)
			mock_compose(f->stage + done + (size_t)i * REC_SIZE, g,
				     from + i);
		done += (size_t)count * REC_SIZE;
		g->sent = from + count;
		if (g->sent < g->n) {
			/* The rest comes with the next read. */
			f->split = g;
			break;
		}
		f->split = NULL;
	}
	if (!done)
		return false;
	sent = send(f->mock_fd, f->stage, done, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (sent > 0)
		return true; /* short only if the socket lied about its room */
	*res = sent < 0 ? -errno : -EIO;
	return false;
}

int mock_read_prepare(void *be, int fault_fd, size_t len, ssize_t *res)
{
	struct iopf_mock *m = be;
	unsigned int split = 0;
	struct mock_fault *f;
	int arg = 0, avail = 0, skip = 1;
	uint32_t kind;

	if (!res)
		return 1;
	*res = -EBADF;
	if (!m)
		return 1;
	pthread_mutex_lock(&m->lock);
	f = mock_fault_by_fd(m, fault_fd);
	if (!f) {
		struct mock_veventq *q = mock_veventq_by_fd(m, fault_fd);

		if (q)
			skip = mock_veventq_read_prepare(m, q, len, res);
		goto out;
	}
	m->st.reads++;
	kind = mock_inject_fd_op(&f->inj, false, &arg);
	if (f->inj.closed) {
		*res = -EBADF;
		goto out_efd;
	}
	switch (kind) {
	case IOPF_MOCK_READ_ZERO:
		*res = 0;
		goto out_efd;
	case IOPF_MOCK_READ_ERRNO:
		*res = -arg;
		goto out_efd;
	case IOPF_MOCK_READ_SPLIT:
		split = (unsigned int)arg;
		break;
	default:
		break;
	}
	/* iommufd_fault_fops_read() */
	if (len % REC_SIZE) {
		*res = -ESPIPE;
		goto out_efd;
	}
	/* Records staged for a read that never happened (an io_uring READ
	 * cancelled): this read takes them, as that one would have. */
	if (ioctl(f->lib_fd, FIONREAD, &avail) == 0 && avail > 0) {
		skip = 0;
		goto out_efd;
	}
	if (mock_stage(m, f, len, split, res))
		skip = 0;
out_efd:
	mock_fault_update_efd(f);
out:
	pthread_mutex_unlock(&m->lock);
	return skip;
}

ssize_t mock_read_done(void *be, int fault_fd, void *buf, size_t len,
		       ssize_t res)
{
	(void)be;
	(void)fault_fd;
	(void)buf;
	(void)len;
	/* The fault file's read never blocks and never says EAGAIN: an empty
	 * queue reads 0. (The socket says EAGAIN when another read took the
	 * staged records first.) */
	if (res == -EAGAIN)
		return 0;
	return res;
}

/* ---- write -------------------------------------------------------------- */

/* What the library wrote sits in the mock's end: take it out. */
static void mock_drain(struct mock_fault *f, size_t n)
{
	unsigned char tmp[4096];

	while (n) {
		size_t want = n < sizeof(tmp) ? n : sizeof(tmp);
		ssize_t r = recv(f->mock_fd, tmp, want, MSG_DONTWAIT);

		if (r <= 0)
			break;
		n -= (size_t)r;
	}
}

/* The loop of iommufd_fault_fops_write(): answers in order, until one is
 * refused. */
static ssize_t mock_judge(struct iopf_mock *m, struct mock_fault *f,
			  const unsigned char *buf, size_t n)
{
	ssize_t done = 0, rc = 0;

	for (size_t i = 0; i < n; i++) {
		struct iommu_hwpt_page_response r;
		struct mock_group *g = NULL;
		uint64_t last = 0;

		memcpy(&r, buf + i * RSP_SIZE, sizeof(r));
		if (r.cookie && r.cookie < f->ncookies) {
			g = f->cookies[r.cookie].g;
			last = f->cookies[r.cookie].last_gid;
		}
		/* Every answer sent for a group counts, good or bad. */
		if (last)
			m->ginfo[last].answers++;
		if (r.code != IOMMUFD_PAGE_RESP_SUCCESS &&
		    r.code != IOMMUFD_PAGE_RESP_INVALID) {
			m->st.bad_code++;
			rc = -EINVAL;
			break;
		}
		if (!g) {
			/* Not outstanding: answered (or answered by the mock)
			 * since it was last given out, or never given out. */
			if (last)
				m->st.bad_duplicate++;
			else
				m->st.bad_unknown++;
			rc = -EINVAL;
			break;
		}
		mock_cookie_free(f, r.cookie);
		m->st.outstanding--;
		if (r.code == IOMMUFD_PAGE_RESP_SUCCESS)
			m->st.answered_success++;
		else
			m->st.answered_invalid++;
		mock_group_retire(m, f, g, IOPF_MOCK_GROUP_ANSWERED,
				  (uint8_t)r.code);
		done += (ssize_t)RSP_SIZE;
	}
	return done ? done : rc;
}

ssize_t mock_write_done(void *be, int fault_fd, const void *buf, size_t len,
			ssize_t res)
{
	struct iopf_mock *m = be;
	struct mock_fault *f;
	ssize_t rc;
	uint32_t kind;
	size_t n;
	int arg = 0;

	if (!m)
		return res < 0 ? res : -EBADF;
	pthread_mutex_lock(&m->lock);
	f = mock_fault_by_fd(m, fault_fd);
	if (!f) {
		struct mock_veventq *q = mock_veventq_by_fd(m, fault_fd);

		if (q)
			rc = mock_veventq_write_done(m, q, res);
		else
			rc = res < 0 ? res : -EBADF;
		goto out;
	}
	m->st.writes++;
	if (res > 0)
		mock_drain(f, (size_t)res);
	kind = mock_inject_fd_op(&f->inj, true, &arg);
	if (f->inj.closed) {
		rc = -EBADF;
	} else if (kind == IOPF_MOCK_WRITE_ERRNO) {
		rc = -arg;
	} else if (res < 0) {
		rc = res;
	} else if (len % RSP_SIZE) {
		rc = -ESPIPE; /* iommufd_fault_fops_write() */
	} else {
		/* Only what really went through the socket is judged. */
		n = ((size_t)res < len ? (size_t)res : len) / RSP_SIZE;
		if (kind == IOPF_MOCK_WRITE_SHORT && (size_t)arg < n)
			n = (size_t)arg;
		rc = n && !buf ? -EFAULT : mock_judge(m, f, buf, n);
	}
	mock_fault_update_efd(f);
out:
	pthread_mutex_unlock(&m->lock);
	return rc;
}

/* ---- the rest of the fd's life ------------------------------------------ */

int mock_poll_fd(void *be, int fault_fd)
{
	struct iopf_mock *m = be;
	struct mock_fault *f;
	int fd;

	if (!m)
		return -EBADF;
	pthread_mutex_lock(&m->lock);
	f = mock_fault_by_fd(m, fault_fd);
	if (f) {
		fd = f->efd;
	} else {
		struct mock_veventq *q = mock_veventq_by_fd(m, fault_fd);

		fd = q ? mock_veventq_poll_fd(q) : -EBADF;
	}
	pthread_mutex_unlock(&m->lock);
	return fd;
}

/* iommufd_fault_fops_release(): closing answers nothing; the fd's references
 * (on the object and on the mock) go. A vEVENTQ fd goes the same way. */
void mock_fault_close(void *be, int fault_fd)
{
	struct iopf_mock *m = be;
	struct mock_veventq *q = NULL;
	struct mock_fault *f = NULL;

	if (m) {
		pthread_mutex_lock(&m->lock);
		f = mock_fault_by_fd(m, fault_fd);
		if (f) {
			mock_fd_unbind(m, f->lib_fd);
			close(f->lib_fd);
			f->lib_fd = -1;
			f->obj.users--;
		} else {
			/* A vEVENTQ fd: the same, in mock-vevent.c. */
			q = mock_veventq_by_fd(m, fault_fd);
			if (q)
				mock_veventq_close(m, q);
		}
		pthread_mutex_unlock(&m->lock);
	}
	if (!f && !q) {
		/* Not one of ours: still the caller's to close. */
		if (fault_fd >= 0)
			close(fault_fd);
		return;
	}
	mock_unref(m);
}
