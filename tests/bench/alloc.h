/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Allocation counting for the bench: malloc, calloc and realloc are
 * interposed in the bench binary and counted (free is not: allocations per
 * fault is what the report shows). Two implementations, one per link:
 * alloc-libc.c forwards to glibc's __libc_malloc & co (the meson build, a
 * dynamic executable), alloc-own.c is a small allocator of its own for the
 * kernel tier's static executable (static glibc cannot be wrapped: its
 * malloc.o defines malloc and __libc_malloc together).
 */
#ifndef IOPF_BENCH_ALLOC_H
#define IOPF_BENCH_ALLOC_H

#include <stdint.h>

/* Calls of malloc, calloc, realloc (and the aligned variants) so far. */
uint64_t bench_allocs(void);
/* The last (at most max) allocations' sizes and callers, oldest first;
 * returns how many. Only the kernel tier's allocator records them (0
 * elsewhere): the sites are addresses in its static executable, for
 * addr2line. */
unsigned int bench_alloc_last(uint64_t *sizes, void **sites, unsigned int max);
/* Which implementation counts: "glibc" or "own". */
extern const char bench_alloc_impl[];

#endif
