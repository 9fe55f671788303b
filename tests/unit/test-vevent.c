/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * White-box tests of the vEVENTQ stream parser (lib/vevent.c): synthetic
 * reads in the kernel's layout, lost counts across gaps, the wrap from
 * INT_MAX to 0 and the LOST_EVENTS tail header, and every malformed record.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "uapi/iommufd.h"
#include "vevent.h"

#define SELFTEST_TYPE 0xbeefbeefu
#define LOST	      IOMMU_VEVENTQ_FLAG_LOST_EVENTS

struct stream {
	unsigned char b[4096];
	size_t len;
};

/* Appends a record: a header, and the payload unless it is a LOST header
 * (payload bytes are the sequence's low byte, to check the pointers). */
static void put(struct stream *st, uint32_t flags, uint32_t seq, uint32_t plen)
{
	struct iommufd_vevent_header h = {.flags = flags, .sequence = seq};

	memcpy(st->b + st->len, &h, sizeof(h));
	st->len += sizeof(h);
	if (flags & LOST)
		return;
	memset(st->b + st->len, (int)(seq & 0xff), plen);
	st->len += plen;
}

static void init_seq(struct vevent_seq *s, uint32_t next)
{
	memset(s, 0, sizeof(*s));
	s->next = next;
}

/* Parses all of st in one call; returns the count. */
static int parse_all(struct vevent_seq *s, struct stream *st, uint32_t plen,
		     struct iopf_vevent *ev, unsigned int max)
{
	size_t off = 0;
	int n = vevent_parse(s, SELFTEST_TYPE, plen, st->b, st->len, &off, ev,
			     max);

	if (n >= 0)
		assert_int_equal(off, st->len);
	return n;
}

static void test_in_order(void **state)
{
	struct stream st = {.len = 0};
	struct iopf_vevent ev[8];
	struct vevent_seq s;

	(void)state;
	init_seq(&s, 0);
	for (uint32_t i = 0; i < 3; i++)
		put(&st, 0, i, 4);
	assert_int_equal(parse_all(&s, &st, 4, ev, 8), 3);
	for (unsigned int i = 0; i < 3; i++) {
		assert_int_equal(ev[i].sequence, i);
		assert_int_equal(ev[i].lost, 0);
		assert_int_equal(ev[i].flags, 0);
		assert_int_equal(ev[i].len, 4);
		assert_int_equal(ev[i].type, SELFTEST_TYPE);
		assert_ptr_equal(ev[i].data, st.b + i * 12 + 8);
		assert_int_equal(((const unsigned char *)ev[i].data)[3], i);
	}
	assert_int_equal(s.next, 3);
	assert_int_equal(s.lost, 0);
	assert_int_equal(s.events, 3);
}

static void test_gap(void **state)
{
	struct stream st = {.len = 0};
	struct iopf_vevent ev[8];
	struct vevent_seq s;

	(void)state;
	init_seq(&s, 0);
	put(&st, 0, 0, 32);
	put(&st, 0, 3, 32);
	put(&st, 0, 4, 32);
	assert_int_equal(parse_all(&s, &st, 32, ev, 8), 3);
	assert_int_equal(ev[0].lost, 0);
	assert_int_equal(ev[1].lost, 2);
	assert_int_equal(ev[2].lost, 0);
	assert_int_equal(s.lost, 2);
	assert_int_equal(s.next, 5);
}

/* A new queue numbers from 0: a first event numbered 5 means 5 were lost. */
static void test_first_event(void **state)
{
	struct stream st = {.len = 0};
	struct iopf_vevent ev[2];
	struct vevent_seq s;

	(void)state;
	init_seq(&s, 0);
	put(&st, 0, 5, 4);
	assert_int_equal(parse_all(&s, &st, 4, ev, 2), 1);
	assert_int_equal(ev[0].lost, 5);
}

/* INT_MAX is followed by 0: no loss there (QEMU's unsigned
 * "sequence - last != 1" calls it one). */
static void test_wrap(void **state)
{
	struct stream st = {.len = 0};
	struct iopf_vevent ev[8];
	struct vevent_seq s;

	(void)state;
	init_seq(&s, INT_MAX - 1);
	put(&st, 0, INT_MAX - 1, 4);
	put(&st, 0, INT_MAX, 4);
	put(&st, 0, 0, 4);
	put(&st, 0, 1, 4);
	assert_int_equal(parse_all(&s, &st, 4, ev, 8), 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(ev[i].lost, 0);
	assert_int_equal(s.next, 2);

	/* A gap across the wrap: INT_MAX and 0 lost. */
	st.len = 0;
	init_seq(&s, INT_MAX - 1);
	put(&st, 0, INT_MAX - 1, 4);
	put(&st, 0, 1, 4);
	assert_int_equal(parse_all(&s, &st, 4, ev, 8), 2);
	assert_int_equal(ev[1].lost, 2);
	assert_int_equal(s.lost, 2);
}

/* As measured on 7.3.4: depth 2, three events raised, nothing read in
 * between: seq 0, seq 1, and a LOST_EVENTS header with seq 2. */
static void test_lost_tail(void **state)
{
	struct stream st = {.len = 0};
	struct iopf_vevent ev[8];
	struct vevent_seq s;

	(void)state;
	init_seq(&s, 0);
	put(&st, 0, 0, 4);
	put(&st, 0, 1, 4);
	put(&st, LOST, 2, 4);
	assert_int_equal(parse_all(&s, &st, 4, ev, 8), 3);
	assert_int_equal(ev[2].flags, IOPF_VEVENT_LOST);
	assert_int_equal(ev[2].lost, 1);
	assert_int_equal(ev[2].len, 0);
	assert_null(ev[2].data);
	assert_int_equal(s.lost_headers, 1);
	assert_int_equal(s.events, 2);

	/* Five raised on a full queue of two: the header moved to seq 6
	 * (2..6 lost); the next event read is 7, with nothing lost before. */
	st.len = 0;
	init_seq(&s, 0);
	put(&st, 0, 0, 4);
	put(&st, 0, 1, 4);
	put(&st, LOST, 6, 4);
	assert_int_equal(parse_all(&s, &st, 4, ev, 8), 3);
	assert_int_equal(ev[2].lost, 5);
	st.len = 0;
	put(&st, 0, 7, 4);
	assert_int_equal(parse_all(&s, &st, 4, ev, 8), 1);
	assert_int_equal(ev[0].lost, 0);
	assert_int_equal(s.lost, 5);

	/* The header can be followed by events in one read (an event raised
	 * while the read copied the header), and can sit across the wrap. */
	st.len = 0;
	init_seq(&s, INT_MAX);
	put(&st, LOST, 0, 4);
	put(&st, 0, 1, 4);
	assert_int_equal(parse_all(&s, &st, 4, ev, 8), 2);
	assert_int_equal(ev[0].lost, 2);
	assert_int_equal(ev[1].lost, 0);
	assert_int_equal(s.next, 2);
}

/* Fewer slots than records: the parse resumes where it stopped. */
static void test_resume(void **state)
{
	struct stream st = {.len = 0};
	struct iopf_vevent ev[2];
	struct vevent_seq s;
	size_t off = 0;

	(void)state;
	init_seq(&s, 0);
	for (uint32_t i = 0; i < 5; i++)
		put(&st, 0, i * 2, 16);
	assert_int_equal(vevent_parse(&s, 2, 16, st.b, st.len, &off, ev, 2), 2);
	assert_int_equal(off, 48);
	assert_int_equal(ev[1].lost, 1);
	assert_int_equal(vevent_parse(&s, 2, 16, st.b, st.len, &off, ev, 2), 2);
	assert_int_equal(vevent_parse(&s, 2, 16, st.b, st.len, &off, ev, 2), 1);
	assert_int_equal(ev[0].sequence, 8);
	assert_int_equal(vevent_parse(&s, 2, 16, st.b, st.len, &off, ev, 2), 0);
	assert_int_equal(vevent_parse(&s, 2, 16, st.b, st.len, &off, ev, 0), 0);
	assert_int_equal(s.lost, 4);
	assert_int_equal(s.events, 5);
}

/* Records the kernel never makes: -EPROTO, after the good ones before. */
static void expect_bad(struct stream *st, uint32_t plen, int good)
{
	struct iopf_vevent ev[8];
	struct vevent_seq s;
	size_t off = 0, at;

	init_seq(&s, 0);
	if (good) {
		assert_int_equal(
			vevent_parse(&s, 1, plen, st->b, st->len, &off, ev, 8),
			good);
	}
	at = off;
	assert_int_equal(vevent_parse(&s, 1, plen, st->b, st->len, &off, ev, 8),
			 -EPROTO);
	assert_int_equal(off, at);
	assert_int_equal(s.events + s.lost_headers, (uint64_t)good);
}

static void test_malformed(void **state)
{
	struct stream st = {.len = 0};

	(void)state;
	put(&st, 2, 0, 4); /* unknown flag */
	expect_bad(&st, 4, 0);
	st.len = 0;
	put(&st, 0, 0, 4);
	put(&st, LOST | 4, 1, 4);
	expect_bad(&st, 4, 1);
	st.len = 0;
	put(&st, 0, 0x80000000u, 4); /* above INT_MAX */
	expect_bad(&st, 4, 0);
	st.len = 0;
	put(&st, 0, 0, 4);
	put(&st, 0, 1, 4);
	st.len -= 1; /* payload cut short */
	expect_bad(&st, 4, 1);
	st.len = 0;
	put(&st, 0, 0, 4);
	st.len += 3; /* a piece of a header */
	expect_bad(&st, 4, 1);
}

static void test_type_payload(void **state)
{
	(void)state;
	assert_int_equal(vevent_type_payload(IOMMU_VEVENTQ_TYPE_ARM_SMMUV3),
			 32);
	assert_int_equal(vevent_type_payload(IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV),
			 16);
	assert_int_equal(vevent_type_payload(SELFTEST_TYPE), 4);
	assert_int_equal(vevent_type_payload(IOMMU_VEVENTQ_TYPE_DEFAULT), 0);
	assert_int_equal(vevent_type_payload(77), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_in_order),
		cmocka_unit_test(test_gap),
		cmocka_unit_test(test_first_event),
		cmocka_unit_test(test_wrap),
		cmocka_unit_test(test_lost_tail),
		cmocka_unit_test(test_resume),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_type_payload),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
