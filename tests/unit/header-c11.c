/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The public headers compile alone as strict ISO C11 (-std=c11
 * -pedantic-errors -Werror, no _GNU_SOURCE): built once with libiopf.h alone
 * (IOPF_HEADER_BASE) and once with libiopf/mock.h alone, each first in its
 * translation unit. The layouts are what the ABI promises, and the calls
 * check that the declarations link.
 */
#ifdef IOPF_HEADER_BASE
#include <libiopf.h>
#else
#include <libiopf/mock.h>
#endif

#include <errno.h>
#include <stddef.h>
#include <stdio.h>

#define LAYOUT(type, member, off)                                              \
	_Static_assert(offsetof(struct type, member) == (off),                 \
		       #type "." #member)

_Static_assert(sizeof(struct iopf_engine_opts) == 16, "iopf_engine_opts");
_Static_assert(sizeof(struct iopf_fault) == 48, "iopf_fault");
LAYOUT(iopf_fault, addr, 24);
LAYOUT(iopf_fault, cookie, 40);
_Static_assert(sizeof(struct iopf_stats) == 8 + 13 * 8, "iopf_stats");
LAYOUT(iopf_queue_opts, deadline_ns, 16);
LAYOUT(iopf_hwpt_args, data, 24);
_Static_assert(IOPF_RESP_SUCCESS == 0 && IOPF_RESP_INVALID == 1, "codes");
#ifndef IOPF_HEADER_BASE
_Static_assert(sizeof(struct iopf_mock_fault) == 24, "iopf_mock_fault");
_Static_assert(sizeof(struct iopf_mock_stats) == 8 + 14 * 8, "iopf_mock_stats");
#endif

int main(void)
{
	struct iopf_engine_opts eo = { sizeof(eo), IOPF_ENGINE_PLAIN, 0, 0 };
	struct iopf_engine *e = NULL;
	int fails = 0;

	if (iopf_ctx_open("/dev/null", NULL) != -EINVAL)
		fails++;
	if (iopf_engine_new(&eo, &e) != 0 ||
	    iopf_engine_kind(e) != IOPF_ENGINE_PLAIN)
		fails++;
	iopf_engine_free(e);
#ifndef IOPF_HEADER_BASE
	{
		struct iopf_ctx *ctx = NULL;
		struct iopf_mock *m = NULL;

		if (iopf_mock_new(NULL, &m) != 0 || !m)
			fails++;
		if (m && (iopf_mock_ctx_new(m, &ctx) != 0 || iopf_ctx_fd(ctx) < 0))
			fails++;
		iopf_ctx_free(ctx);
		iopf_mock_free(m);
	}
#endif
	if (fails)
		fprintf(stderr, "header-c11: %d checks failed\n", fails);
	return fails ? 1 : 0;
}
