/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vEVENTQ records to the library's events, with exact lost counts (see
 * vevent.h for the kernel's rules this follows).
 */
#include <errno.h>
#include <stddef.h>
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

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/* Each record's header in one 8-byte load (flags low, sequence high);
	 * type|flags and len|__pad, the same for the whole run, in one 8-byte
	 * store each. */
	_Static_assert(
		offsetof(struct iommufd_vevent_header, flags) == 0 &&
			offsetof(struct iommufd_vevent_header, sequence) == 4,
		"the kernel's header");
	_Static_assert(offsetof(struct iopf_vevent, flags) == 4 &&
			       offsetof(struct iopf_vevent, sequence) == 8 &&
			       offsetof(struct iopf_vevent, lost) == 12 &&
			       offsetof(struct iopf_vevent, data) == 16 &&
			       offsetof(struct iopf_vevent, len) == 24 &&
			       offsetof(struct iopf_vevent, __pad) == 28,
		       "struct iopf_vevent");
	const uint64_t type_flags = type, len_pad = payload_len;
	const uint64_t not_plain =
		0xffffffffull | ((uint64_t)~VEVENT_SEQ_MASK << 32);
	struct iopf_vevent *const ev0 = ev, *const end = ev + nmax;
	/* The next sequence expected, masked once after the loop: the gap,
	 * masked, is the same either way (seq <= INT_MAX here). */
	uint32_t expect = next;

	for (; ev < end; p += rec, ev++) {
		uint64_t hdr;
		uint32_t seq, gap;

		memcpy(&hdr, p, sizeof(hdr));
		if (hdr & not_plain)
			break;
		seq = (uint32_t)(hdr >> 32);
		gap = (seq - expect) & VEVENT_SEQ_MASK;
		expect = seq + 1;
		lost += gap;
		memcpy(&ev->type, &type_flags, sizeof(type_flags));
		ev->sequence = seq;
		ev->lost = gap;
		ev->data = p + VEVENT_HDR_SIZE;
		memcpy(&ev->len, &len_pad, sizeof(len_pad));
	}
	i = (unsigned int)(ev - ev0);
	next = expect & VEVENT_SEQ_MASK;
#else
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
#endif
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
