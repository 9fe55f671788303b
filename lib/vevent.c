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

/*
 * The common case, a run of events with their payload (after a gap or
 * not): at most nmax, which fit both out and buf, with one test a record.
 * Returns how many it turned; it stops at the first record that is anything
 * else.
 */
static unsigned int parse_run(uint32_t *nextp, uint64_t *lostp, uint32_t type,
			      uint32_t payload_len, const unsigned char *p,
			      unsigned int nmax, struct iopf_vevent *ev)
{
	const size_t rec = VEVENT_HDR_SIZE + (size_t)payload_len;
	uint32_t next = *nextp;
	uint64_t lost = *lostp;
	unsigned int i;

	for (i = 0; i < nmax; i++, p += rec, ev++) {
		uint32_t flags, seq, gap;

		memcpy(&flags, p, sizeof(flags));
		memcpy(&seq, p + sizeof(flags), sizeof(seq));
		if (flags | (seq & ~VEVENT_SEQ_MASK))
			break;
		gap = (seq - next) & VEVENT_SEQ_MASK;
		next = (seq + 1) & VEVENT_SEQ_MASK;
		lost += gap;
		ev->type = type;
		ev->flags = 0;
		ev->sequence = seq;
		ev->lost = gap;
		ev->data = p + VEVENT_HDR_SIZE;
		ev->len = payload_len;
		ev->__pad = 0;
	}
	*nextp = next;
	*lostp = lost;
	return i;
}

int vevent_parse(struct vevent_seq *s, uint32_t type, uint32_t payload_len,
		 const unsigned char *buf, size_t len, size_t *off,
		 struct iopf_vevent *out, unsigned int max)
{
	const size_t rec = VEVENT_HDR_SIZE + (size_t)payload_len;
	uint32_t next = s->next;
	uint64_t lost = s->lost;
	unsigned int n = 0, headers = 0;
	size_t at = *off;

	/* The stream's state stays in locals: the loops store the events
	 * only. */
	while (n < max && len - at >= VEVENT_HDR_SIZE) {
		size_t fit = (len - at) / rec;
		unsigned int run, nmax = max - n;
		uint32_t flags, seq, gap;

		if (fit < nmax)
			nmax = (unsigned int)fit;
		run = parse_run(&next, &lost, type, payload_len, buf + at, nmax,
				&out[n]);
		n += run;
		at += run * rec;
		if (run == nmax && (n == max || len - at < VEVENT_HDR_SIZE))
			break;
		/* What stopped the run: a LOST_EVENTS header, or a record
		 * the kernel does not make (other flags, a sequence above
		 * INT_MAX, a payload cut short). */
		memcpy(&flags, buf + at, sizeof(flags));
		memcpy(&seq, buf + at + sizeof(flags), sizeof(seq));
		if (seq > VEVENT_SEQ_MASK)
			break;
		gap = (seq - next) & VEVENT_SEQ_MASK;
		if (flags == IOMMU_VEVENTQ_FLAG_LOST_EVENTS) {
			/* The header carries the number of the last event
			 * lost: that one is lost too. */
			gap++;
			out[n] = (struct iopf_vevent){
				.type = type,
				.flags = IOPF_VEVENT_LOST,
				.sequence = seq,
				.lost = gap,
			};
			at += VEVENT_HDR_SIZE;
			headers++;
		} else {
			break;
		}
		lost += gap;
		next = (seq + 1) & VEVENT_SEQ_MASK;
		n++;
	}
	s->next = next;
	s->lost = lost;
	s->events += n - headers;
	s->lost_headers += headers;
	*off = at;
	if (n || at >= len || n == max)
		return (int)n;
	return -EPROTO;
}
