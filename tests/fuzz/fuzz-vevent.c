/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target: the vEVENTQ stream parser (lib/vevent.c), on any bytes.
 *
 * Input: byte 0 picks the payload length (4, 16, 32, or byte 1 itself, 0 to
 * 255); bytes 2..5 give the sequence the stream starts at (masked to
 * 0..INT_MAX); byte 6 the most events one call may return (1 to 16); the
 * rest are reads: a length byte, then that many bytes, as a read of the
 * vEVENTQ fd would return them.
 *
 * An oracle, written apart from the parser and with other arithmetic (signed
 * 64-bit distances), walks the same bytes and predicts every event (flags,
 * sequence, lost count, payload pointer and length) and where a read stops
 * being records the kernel makes. Checked, abort() on failure:
 *  - each event equals the oracle's, in order, and the parse of a read stops
 *    with -EPROTO exactly where the oracle finds the first bad record;
 *  - the counts add up: the sequence advanced (mod 2^31) by exactly the
 *    events and the lost counts reported, and the parser's totals equal the
 *    sums of what it returned.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "uapi/iommufd.h"
#include "vevent.h"

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c))                                                      \
			abort();                                               \
	} while (0)

struct oracle {
	int64_t next;
	uint64_t events, lost;
};

/* The oracle's view of one record at buf[at]: 1 and the event, 0 at the end
 * of the read, -1 for bytes the kernel never makes. */
static int oracle_step(struct oracle *o, const uint8_t *buf, size_t len,
		       size_t *at, uint32_t plen, struct iopf_vevent *ev)
{
	uint32_t flags, seq;
	int64_t d;

	if (*at == len)
		return 0;
	if (len - *at < 8)
		return -1;
	flags = (uint32_t)buf[*at] | (uint32_t)buf[*at + 1] << 8 |
		(uint32_t)buf[*at + 2] << 16 | (uint32_t)buf[*at + 3] << 24;
	seq = (uint32_t)buf[*at + 4] | (uint32_t)buf[*at + 5] << 8 |
	      (uint32_t)buf[*at + 6] << 16 | (uint32_t)buf[*at + 7] << 24;
	if (flags > 1 || seq > 2147483647u)
		return -1;
	d = (int64_t)seq - o->next;
	if (d < 0)
		d += 2147483648ll;
	memset(ev, 0, sizeof(*ev));
	ev->sequence = seq;
	if (flags == 1) {
		ev->flags = IOPF_VEVENT_LOST;
		ev->lost = (uint32_t)(d + 1);
		*at += 8;
	} else {
		if (len - *at - 8 < plen)
			return -1;
		ev->lost = (uint32_t)d;
		ev->len = plen;
		ev->data = buf + *at + 8;
		*at += 8 + plen;
		o->events++;
	}
	o->lost += ev->lost;
	o->next = seq + 1;
	if (o->next == 2147483648ll)
		o->next = 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t plens[] = {4, 16, 32};
	struct vevent_seq s;
	struct oracle o;
	uint32_t plen, start, sum_adv = 0;
	uint64_t sum_lost = 0, sum_events = 0;
	unsigned int max;
	size_t p = 7;

	if (size < 7)
		return 0;
	plen = (data[0] & 3) == 3 ? data[1] : plens[data[0] & 3];
	memcpy(&start, data + 2, 4);
	start &= VEVENT_SEQ_MASK;
	max = 1 + (data[6] & 15);
	memset(&s, 0, sizeof(s));
	s.next = start;
	o.next = start;
	o.events = o.lost = 0;

	while (p < size) {
		size_t len = data[p++], off = 0, oat = 0;
		const uint8_t *rd;
		struct iopf_vevent ev[16];
		int bad = 0;

		if (len > size - p)
			len = size - p;
		/* A copy of its own, so that reads past it are caught. */
		rd = len ? malloc(len) : NULL;
		if (len)
			memcpy((void *)rd, data + p, len);
		p += len;
		for (;;) {
			int n = vevent_parse(&s, 7, plen, rd, len, &off, ev,
					     max);

			if (n < 0) {
				struct iopf_vevent oev;

				CHECK(n == -EPROTO);
				CHECK(oracle_step(&o, rd, len, &oat, plen,
						  &oev) == -1);
				CHECK(off == oat);
				bad = 1;
				break;
			}
			if (n == 0) {
				struct iopf_vevent oev;

				CHECK(off == len);
				CHECK(oracle_step(&o, rd, len, &oat, plen,
						  &oev) == 0);
				break;
			}
			CHECK((unsigned int)n <= max);
			for (int i = 0; i < n; i++) {
				struct iopf_vevent oev;

				CHECK(oracle_step(&o, rd, len, &oat, plen,
						  &oev) == 1);
				CHECK(ev[i].type == 7);
				CHECK(ev[i].flags == oev.flags);
				CHECK(ev[i].sequence == oev.sequence);
				CHECK(ev[i].lost == oev.lost);
				CHECK(ev[i].len == oev.len);
				CHECK(ev[i].data == oev.data);
				sum_lost += ev[i].lost;
				sum_adv += ev[i].lost +
					   !(ev[i].flags & IOPF_VEVENT_LOST);
				sum_events += !(ev[i].flags & IOPF_VEVENT_LOST);
			}
			CHECK(off == oat);
		}
		(void)bad;
		free((void *)rd);
	}
	CHECK(s.lost == sum_lost && s.lost == o.lost);
	CHECK(s.events == sum_events && s.events == o.events);
	CHECK(((start + sum_adv) & VEVENT_SEQ_MASK) == s.next);
	CHECK((int64_t)s.next == o.next);
	return 0;
}
