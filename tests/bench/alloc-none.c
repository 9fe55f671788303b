/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* No counting: for sanitizer builds, whose runtime owns malloc. */
#include "alloc.h"

const char bench_alloc_impl[] = "none";

uint64_t bench_allocs(void)
{
	return 0;
}

unsigned int bench_alloc_last(uint64_t *sizes, void **sites, unsigned int max)
{
	(void)sizes;
	(void)sites;
	(void)max;
	return 0;
}
