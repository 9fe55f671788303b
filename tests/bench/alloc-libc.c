/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Counting malloc interposer for a dynamically linked bench: every call of
 * the bench, libiopf (linked statically into it), liburing and glibc itself
 * (internal calls go through the PLT) lands here and is forwarded to glibc's
 * own implementation.
 */
#include <stdatomic.h>
#include <stddef.h>

#include "alloc.h"

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void *__libc_memalign(size_t align, size_t size);
extern void __libc_free(void *p);

void *malloc(size_t size);
void *calloc(size_t n, size_t size);
void *realloc(void *p, size_t size);
void free(void *p);
void *aligned_alloc(size_t align, size_t size);
void *memalign(size_t align, size_t size);
int posix_memalign(void **out, size_t align, size_t size);

const char bench_alloc_impl[] = "glibc";
static _Atomic uint64_t count;

uint64_t bench_allocs(void)
{
	return atomic_load_explicit(&count, memory_order_relaxed);
}

static inline void counted(void)
{
	atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
}

void *malloc(size_t size)
{
	counted();
	return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
	counted();
	return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
	counted();
	return __libc_realloc(p, size);
}

void free(void *p)
{
	__libc_free(p);
}

void *memalign(size_t align, size_t size)
{
	counted();
	return __libc_memalign(align, size);
}

void *aligned_alloc(size_t align, size_t size)
{
	counted();
	return __libc_memalign(align, size);
}

int posix_memalign(void **out, size_t align, size_t size)
{
	void *p;

	if (align < sizeof(void *) || (align & (align - 1)))
		return 22; /* EINVAL */
	counted();
	p = __libc_memalign(align, size);
	if (!p && size)
		return 12; /* ENOMEM */
	*out = p;
	return 0;
}

unsigned int bench_alloc_last(uint64_t *sizes, void **sites, unsigned int max)
{
	(void)sizes;
	(void)sites;
	(void)max;
	return 0;
}
