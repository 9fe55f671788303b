/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Counting allocator for the kernel tier's static bench. Static glibc cannot
 * forward to __libc_malloc (its malloc.o defines malloc too: duplicate
 * symbols), but it lets a program replace malloc, calloc, realloc and free
 * (and the aligned variants) altogether. So this is a small allocator of its
 * own: power-of-two size classes with free lists, carved from 1 MiB mmap
 * chunks, and large blocks mapped one by one. It is only as fast as it needs
 * to be: in steady state the code under test should not call it at all.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "alloc.h"

void *malloc(size_t size);
void *calloc(size_t n, size_t size);
void *realloc(void *p, size_t size);
void free(void *p);
void *aligned_alloc(size_t align, size_t size);
void *memalign(size_t align, size_t size);
int posix_memalign(void **out, size_t align, size_t size);
size_t malloc_usable_size(void *p);

const char bench_alloc_impl[] = "own";

#define HDR 16u
#define MIN_SHIFT 4 /* 16 bytes */
#define MAX_SHIFT 20 /* 1 MiB: larger blocks are mapped alone */
#define NCLASSES (MAX_SHIFT + 1)
#define CHUNK (1u << 22)
#define BIG 0xffffffffu

struct hdr {
	uint32_t cls; /* size class, or BIG */
	uint32_t off; /* from the block's start to the user pointer */
	uint64_t size; /* usable bytes from the user pointer */
};

struct free_block {
	struct free_block *next;
};

static _Atomic uint64_t count;
/* The last allocations: size and caller, for a measured pass that
 * allocates to say where (bench_alloc_last). */
#define NLAST 16
static struct {
	uint64_t size;
	void *site;
} last[NLAST];
static _Atomic uint64_t nlast;

static void note(uint64_t size, void *site)
{
	uint64_t i = atomic_fetch_add_explicit(&nlast, 1, memory_order_relaxed);

	last[i % NLAST].size = size;
	last[i % NLAST].site = site;
}

unsigned int bench_alloc_last(uint64_t *sizes, void **sites, unsigned int max)
{
	uint64_t n = atomic_load_explicit(&nlast, memory_order_relaxed);
	unsigned int k = 0;

	for (uint64_t i = n > NLAST ? n - NLAST : 0; i < n && k < max; i++) {
		sizes[k] = last[i % NLAST].size;
		sites[k++] = last[i % NLAST].site;
	}
	return k;
}
static atomic_flag lock = ATOMIC_FLAG_INIT;
static struct free_block *freelist[NCLASSES];
static unsigned char *arena, *arena_end;

uint64_t bench_allocs(void)
{
	return atomic_load_explicit(&count, memory_order_relaxed);
}

static void lock_take(void)
{
	while (atomic_flag_test_and_set_explicit(&lock, memory_order_acquire))
		;
}

static void lock_give(void)
{
	atomic_flag_clear_explicit(&lock, memory_order_release);
}

static void *map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* A block of at least total bytes (header included); its class in *cls. */
static void *block_get(size_t total, uint32_t *cls)
{
	unsigned int c = MIN_SHIFT;
	void *b;

	while (c < MAX_SHIFT && ((size_t)1 << c) < total)
		c++;
	if (((size_t)1 << c) < total) {
		*cls = BIG;
		return map(total);
	}
	*cls = c;
	lock_take();
	if (freelist[c]) {
		b = freelist[c];
		freelist[c] = freelist[c]->next;
		lock_give();
		return b;
	}
	if (arena_end - arena < ((ptrdiff_t)1 << c)) {
		unsigned char *a = map(CHUNK);

		if (!a) {
			lock_give();
			return NULL;
		}
		arena = a;
		arena_end = a + CHUNK;
	}
	b = arena;
	arena += (size_t)1 << c;
	lock_give();
	return b;
}

static void *alloc(size_t align, size_t size)
{
	size_t total;
	uint32_t cls;
	unsigned char *b;
	uintptr_t u;
	struct hdr *h;

	if (align < HDR)
		align = HDR;
	if (size > ((size_t)1 << 48)) {
		errno = ENOMEM;
		return NULL;
	}
	total = size + HDR + (align > HDR ? align : 0);
	b = block_get(total, &cls);
	if (!b) {
		errno = ENOMEM;
		return NULL;
	}
	u = ((uintptr_t)b + HDR + align - 1) & ~(uintptr_t)(align - 1);
	h = (struct hdr *)(u - HDR);
	h->cls = cls;
	h->off = (uint32_t)(u - (uintptr_t)b);
	h->size = (cls == BIG ? total : ((size_t)1 << cls)) - h->off;
	atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
	return (void *)u;
}

void free(void *p)
{
	struct hdr *h;
	unsigned char *b;

	if (!p)
		return;
	h = (struct hdr *)((unsigned char *)p - HDR);
	b = (unsigned char *)p - h->off;
	if (h->cls == BIG) {
		munmap(b, h->size + h->off);
		return;
	}
	lock_take();
	((struct free_block *)b)->next = freelist[h->cls];
	freelist[h->cls] = (struct free_block *)b;
	lock_give();
}

void *malloc(size_t size)
{
	note(size, __builtin_return_address(0));
	return alloc(HDR, size);
}

void *calloc(size_t n, size_t size)
{
	void *p;

	if (size && n > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	note(n * size, __builtin_return_address(0));
	p = alloc(HDR, n * size);
	if (p)
		memset(p, 0, n * size);
	return p;
}

void *realloc(void *p, size_t size)
{
	struct hdr *h;
	void *q;

	note(size, __builtin_return_address(0));
	if (!p)
		return alloc(HDR, size);
	if (!size) {
		free(p);
		return NULL;
	}
	h = (struct hdr *)((unsigned char *)p - HDR);
	if (size <= h->size) {
		atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
		return p;
	}
	q = alloc(HDR, size);
	if (!q)
		return NULL;
	memcpy(q, p, h->size);
	free(p);
	return q;
}

size_t malloc_usable_size(void *p)
{
	return p ? ((struct hdr *)((unsigned char *)p - HDR))->size : 0;
}

void *memalign(size_t align, size_t size)
{
	if (!align || (align & (align - 1))) {
		errno = EINVAL;
		return NULL;
	}
	note(size, __builtin_return_address(0));
	return alloc(align, size);
}

void *aligned_alloc(size_t align, size_t size)
{
	return memalign(align, size);
}

int posix_memalign(void **out, size_t align, size_t size)
{
	void *p;

	if (align < sizeof(void *) || (align & (align - 1)))
		return EINVAL;
	note(size, __builtin_return_address(0));
	p = alloc(align, size);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}
