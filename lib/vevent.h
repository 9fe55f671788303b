/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vIOMMU event streams (vEVENTQ, Linux 6.15+): the bytes a read of a vEVENTQ
 * fd returns, turned into the library's events with exact lost counts.
 *
 * What a read gives (drivers/iommu/iommufd/eventq.c, 7.3): records of an
 * 8-byte struct iommufd_vevent_header {flags, sequence} and, unless flags is
 * IOMMU_VEVENTQ_FLAG_LOST_EVENTS, the queue type's payload, whose length the
 * header does not carry (4 bytes for the selftest type, 32 for ARM SMMUv3,
 * 16 for Tegra241 CMDQV). The kernel numbers every event, delivered or
 * lost, from 0; after INT_MAX comes 0. An event the queue had no room for
 * (or no memory) still takes its number, and moves a header-only LOST_EVENTS
 * record to the tail of the queue, with the number of the last event lost:
 * that record ends the stream until a new event takes its place. So the
 * events lost just before a record are
 *   a normal event with sequence s:  (s - next) mod 2^31
 *   a LOST_EVENTS header with s:     (s - next) mod 2^31 + 1
 * where next is the number after the last record read (0 for a new queue),
 * and next becomes s + 1 in both cases. The count is exact as long as fewer
 * than 2^31 events are lost between two records read, and only if one
 * reader reads the fd (the kernel's read takes no lock).
 *
 * This file has no I/O: the engines read, vevent_parse() turns bytes into
 * events. The fuzz target tests/fuzz/fuzz-vevent.c holds it to an oracle.
 */
#ifndef IOPF_VEVENT_H
#define IOPF_VEVENT_H

#include <stddef.h>
#include <stdint.h>

#include <libiopf.h>

#define VEVENT_SEQ_MASK 0x7fffffffu /* INT_MAX: the sequence wraps after it */
#define VEVENT_HDR_SIZE 8u

/* Where a stream stands: the sequence its next record should have. */
struct vevent_seq {
	uint32_t next;
	uint64_t lost; /* lost events so far */
	uint64_t events; /* normal events so far */
	uint64_t lost_headers; /* LOST_EVENTS records so far */
};

/* The payload bytes of one event of a vEVENTQ type the library knows (the
 * selftest's, ARM SMMUv3, Tegra241 CMDQV), or 0 for a type it does not. */
uint32_t vevent_type_payload(uint32_t type);

/*
 * Turns the records of buf[*off, len) into at most max events in out, in
 * order, each with the count of events lost just before it, and advances
 * *off past what it turned. The payload pointers point into buf.
 *
 * Returns the number of events written (0 once buf is used up, or max is 0),
 * or -EPROTO when the bytes at *off are not a record the kernel makes: fewer
 * than a header left, a header with flags other than 0 or LOST_EVENTS, a
 * sequence above INT_MAX, or fewer payload bytes than the type has. Events
 * written before a bad record are returned first (the call returns their
 * count); the next call returns -EPROTO with *off still at the bad record.
 */
int vevent_parse(struct vevent_seq *s, uint32_t type, uint32_t payload_len,
		 const unsigned char *buf, size_t len, size_t *off,
		 struct iopf_vevent *out, unsigned int max);

#endif
