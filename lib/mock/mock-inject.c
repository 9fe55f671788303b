/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Failure injection: rules that make the nth matching ioctl, read or write
 * from now fail the way a test asks. Every rule counts the matching
 * operations from the moment it is armed, fires once and is gone; several may
 * be armed at once, and when two fire on the same operation the one armed
 * first decides its result (both are used up). Rules live in fixed arrays:
 * arming one never allocates.
 */
#include <errno.h>
#include <string.h>

#include "mock-internal.h"

static void mock_rule_del(struct mock_rule *rules, unsigned int *n,
			  unsigned int i)
{
	memmove(&rules[i], &rules[i + 1], (*n - i - 1) * sizeof(rules[0]));
	(*n)--;
}

IOPF_EXPORT int iopf_mock_inject_ioctl(struct iopf_mock *m,
				       unsigned int cmd_nr, unsigned int nth,
				       int err)
{
	int rc = 0;

	/* cmd_nr is _IOC_NR() of the command (0x80 and up for iommufd),
	 * not the whole ioctl number. */
	if (!m || cmd_nr > 0xff || !nth || err <= 0 || err > MOCK_MAX_ERRNO)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	if (m->nioctl_rules == MOCK_IOCTL_RULES) {
		rc = -ENOSPC;
	} else {
		m->ioctl_rules[m->nioctl_rules++] = (struct mock_rule){
			.nr = cmd_nr,
			.left = nth,
			.arg = err,
		};
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

/* Counts one ioctl: 0, or the error an injected rule gives it. */
int mock_inject_ioctl(struct iopf_mock *m, unsigned int nr)
{
	unsigned int i = 0;
	int err = 0;

	while (i < m->nioctl_rules) {
		struct mock_rule *r = &m->ioctl_rules[i];

		if ((r->nr && r->nr != nr) || --r->left) {
			i++;
			continue;
		}
		if (!err)
			err = -r->arg;
		mock_rule_del(m->ioctl_rules, &m->nioctl_rules, i);
	}
	return err;
}

static bool mock_rule_matches(uint32_t kind, bool write)
{
	switch (kind) {
	case IOPF_MOCK_FD_CLOSED:
		return true;
	case IOPF_MOCK_WRITE_SHORT:
	case IOPF_MOCK_WRITE_ERRNO:
		return write;
	default:
		return !write;
	}
}

IOPF_EXPORT int iopf_mock_inject_fd(struct iopf_mock *m, uint32_t fault_id,
				    enum iopf_mock_fd_fault what,
				    unsigned int nth, int arg)
{
	struct mock_veventq *q = NULL;
	struct mock_fdinj *inj = NULL;
	struct mock_fault *f;
	int rc = 0;

	if (!m || !nth)
		return -EINVAL;
	switch (what) {
	case IOPF_MOCK_READ_ZERO:
	case IOPF_MOCK_FD_CLOSED:
		if (arg) /* takes no argument */
			return -EINVAL;
		break;
	case IOPF_MOCK_READ_ERRNO:
	case IOPF_MOCK_WRITE_ERRNO:
		if (arg <= 0 || arg > MOCK_MAX_ERRNO)
			return -EINVAL;
		break;
	case IOPF_MOCK_READ_SPLIT:
		if (arg < 1)
			return -EINVAL;
		break;
	case IOPF_MOCK_WRITE_SHORT:
		if (arg < 0)
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	pthread_mutex_lock(&m->lock);
	/* fault_id names a fault object or a vEVENTQ. */
	f = (struct mock_fault *)mock_obj_find(m, fault_id, MOCK_OBJ_FAULT);
	if (f) {
		inj = &f->inj;
	} else {
		q = mock_veventq_find(m, fault_id);
		if (q)
			inj = mock_veventq_inj(q);
	}
	if (!inj) {
		rc = -ENOENT;
	} else if (q && (what == IOPF_MOCK_WRITE_SHORT ||
			 what == IOPF_MOCK_WRITE_ERRNO)) {
		rc = -EOPNOTSUPP; /* a vEVENTQ fd has no write */
	} else if (inj->nrules == MOCK_FD_RULES) {
		rc = -ENOSPC;
	} else {
		inj->rules[inj->nrules++] = (struct mock_rule){
			.kind = what,
			.left = nth,
			.arg = arg,
		};
		/* A result due on the next read must be readable. */
		if (f)
			mock_fault_update_efd(f);
		else
			mock_veventq_update_efd(q);
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

/*
 * Counts one read or write of an fd with the rules inj. Returns the kind of the
 * rule that fires on it (0: none) with its argument in *arg. FD_CLOSED does not
 * return: it sets inj->closed, for this operation and every later one.
 */
uint32_t mock_inject_fd_op(struct mock_fdinj *inj, bool write, int *arg)
{
	uint32_t fired = 0;
	unsigned int i = 0;

	while (i < inj->nrules) {
		struct mock_rule *r = &inj->rules[i];

		if (!mock_rule_matches(r->kind, write) || --r->left) {
			i++;
			continue;
		}
		if (r->kind == IOPF_MOCK_FD_CLOSED) {
			inj->closed = true;
		} else if (!fired) {
			fired = r->kind;
			*arg = r->arg;
		}
		mock_rule_del(inj->rules, &inj->nrules, i);
	}
	return fired;
}

/* Will the next read get an injected result, groups pending or not? */
bool mock_inject_read_armed(const struct mock_fdinj *inj)
{
	for (unsigned int i = 0; i < inj->nrules; i++) {
		const struct mock_rule *r = &inj->rules[i];

		if (r->left == 1 && (r->kind == IOPF_MOCK_READ_ZERO ||
				     r->kind == IOPF_MOCK_READ_ERRNO ||
				     r->kind == IOPF_MOCK_FD_CLOSED))
			return true;
	}
	return false;
}
