/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vEVENTQ records to the library's events, with exact lost counts (see
 * vevent.h for the kernel's rules this follows).
 */
#include <errno.h>
#include <string.h>

#include "uapi/iommufd.h"
#include "vevent.h"

/* The selftest driver's type and payload (iommufd_test.h, 7.3): a u32 virt_id.
 */
#define VEVENTQ_TYPE_SELFTEST 0xbeefbeefu

uint32_t vevent_type_payload(uint32_t type)
{
	switch (type) {
	case IOMMU_VEVENTQ_TYPE_ARM_SMMUV3:
		return sizeof(struct iommu_vevent_arm_smmuv3);
	case IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV:
		return sizeof(struct iommu_vevent_tegra241_cmdqv);
	case VEVENTQ_TYPE_SELFTEST:
		return 4;
	default:
		return 0;
	}
}

int vevent_parse(struct vevent_seq *s, uint32_t type, uint32_t payload_len,
		 const unsigned char *buf, size_t len, size_t *off,
		 struct iopf_vevent *out, unsigned int max)
{
	unsigned int n = 0;
	size_t at = *off;

	while (n < max && at < len) {
		struct iommufd_vevent_header h;
		struct iopf_vevent *ev = &out[n];
		uint32_t gap;

		if (len - at < VEVENT_HDR_SIZE)
			break;
		memcpy(&h, buf + at, sizeof(h));
		if ((h.flags & ~(uint32_t)IOMMU_VEVENTQ_FLAG_LOST_EVENTS) ||
		    h.sequence > VEVENT_SEQ_MASK)
			break;
		gap = (h.sequence - s->next) & VEVENT_SEQ_MASK;
		ev->type = type;
		ev->sequence = h.sequence;
		ev->__pad = 0;
		if (h.flags & IOMMU_VEVENTQ_FLAG_LOST_EVENTS) {
			/* The header carries the number of the last event
			 * lost: that one is lost too. */
			ev->flags = IOPF_VEVENT_LOST;
			ev->lost = gap + 1;
			ev->len = 0;
			ev->data = NULL;
			at += VEVENT_HDR_SIZE;
			s->lost_headers++;
		} else {
			if (len - at - VEVENT_HDR_SIZE < payload_len)
				break;
			ev->flags = 0;
			ev->lost = gap;
			ev->len = payload_len;
			ev->data = buf + at + VEVENT_HDR_SIZE;
			at += VEVENT_HDR_SIZE + payload_len;
			s->events++;
		}
		s->lost += ev->lost;
		s->next = (h.sequence + 1) & VEVENT_SEQ_MASK;
		n++;
	}
	*off = at;
	if (n || at >= len || n == max)
		return (int)n;
	return -EPROTO;
}
