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

/* Two u32 as they lie in memory one after the other, as one u64 (for one
 * load or store of both), whatever the byte order. */
static inline uint64_t pair32(uint32_t first, uint32_t second)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return first | (uint64_t)second << 32;
#else
	return (uint64_t)first << 32 | second;
#endif
}

/* The second u32 of such a pair. */
static inline uint32_t pair32_second(uint64_t pair)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return (uint32_t)(pair >> 32);
#else
	return (uint32_t)pair;
#endif
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
	uint64_t lost = *lostp;

	/* Each record's header in one 8-byte load; type|flags and len|__pad,
	 * the same for the whole run, in one 8-byte store each. */
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
	const uint64_t type_flags = pair32(type, 0);
	const uint64_t len_pad = pair32(payload_len, 0);
	const uint64_t not_plain = pair32(0xffffffffu, ~VEVENT_SEQ_MASK);
	struct iopf_vevent *const ev0 = ev, *const end = ev + nmax;
	/* The next sequence expected, masked once after the loop: the gap,
	 * masked, is the same either way (seq <= INT_MAX here). */
	uint32_t expect = *nextp;

	for (; ev < end; p += rec, ev++) {
		uint64_t hdr;
		uint32_t seq, gap;

		memcpy(&hdr, p, sizeof(hdr));
		if (hdr & not_plain)
			break;
		seq = pair32_second(hdr);
		gap = (seq - expect) & VEVENT_SEQ_MASK;
		expect = seq + 1;
		lost += gap;
		memcpy(&ev->type, &type_flags, sizeof(type_flags));
		ev->sequence = seq;
		ev->lost = gap;
		ev->data = p + VEVENT_HDR_SIZE;
		memcpy(&ev->len, &len_pad, sizeof(len_pad));
	}
	*nextp = expect & VEVENT_SEQ_MASK;
	*lostp = lost;
	return (unsigned int)(ev - ev0);
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
