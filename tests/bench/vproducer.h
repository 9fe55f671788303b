/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * iopf-bench-vevent's producer: a device behind a vIOMMU (vDEVICE, nested
 * HWPT on the vIOMMU, attached) whose IOMMU raises vEVENTs on request, and
 * raw vEVENTQs for the hand-written loops. One implementation per tier:
 * vproducer-mock.c (libiopf's mock kernel, 7.3 rules, iopf_mock_vevent) and
 * vproducer-kernel.c (the kernel's mock IOMMU, IOMMU_TEST_OP_TRIGGER_VEVENT).
 * A raw loop reads its fd with prod_read() of producer.h (the mock's hooks on
 * the mock tier, read(2) on the kernel), as the library does.
 */
#ifndef IOPF_BENCH_VPRODUCER_H
#define IOPF_BENCH_VPRODUCER_H

#include <stdbool.h>
#include <stdint.h>

#include <libiopf.h>

#include "producer.h"

struct vprod;

extern const char vprod_note[];
extern const uint64_t vprod_default_events;
extern const unsigned int vprod_default_reps;

/* Returns 0 or -errno; *skip set when the tier has no vEVENTQs. */
int vprod_new(struct vprod **out, bool *skip);
void vprod_free(struct vprod *p);
struct iopf_ctx *vprod_ctx(struct vprod *p);
uint32_t vprod_viommu(const struct vprod *p);
/* The vEVENTQ type the IOMMU raises, and its payload bytes. */
uint32_t vprod_type(const struct vprod *p);
uint32_t vprod_payload(const struct vprod *p);
/* Raises n events (not timed by the bench). */
int vprod_raise(struct vprod *p, uint64_t n);
/* A vEVENTQ of the type, made without the library, for a hand-written loop:
 * ep's fd, poll_fd and be are set; *id is its object. */
int vprod_raw_new(struct vprod *p, uint32_t depth, struct prod_ep *ep,
		  uint32_t *id);
void vprod_raw_free(struct vprod *p, struct prod_ep *ep, uint32_t id);

#endif
