// SPDX-License-Identifier: LGPL-2.1-or-later
// The public headers compile alone as C++ (-pedantic-errors) and declare
// their functions extern "C": the calls below must link against the C library.
#include <libiopf.h>
#include <libiopf/mock.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>

static_assert(sizeof(iopf_fault) == 48, "iopf_fault");
static_assert(offsetof(iopf_fault, cookie) == 40, "iopf_fault.cookie");
static_assert(sizeof(iopf_engine_opts) == 16, "iopf_engine_opts");
static_assert(sizeof(iopf_mock_fault) == 24, "iopf_mock_fault");

int main()
{
	iopf_mock *m = nullptr;
	iopf_ctx *ctx = nullptr;
	iopf_engine *e = nullptr;
	iopf_engine_opts eo = {};
	int fails = 0;

	eo.size = sizeof(eo);
	eo.kind = IOPF_ENGINE_PLAIN;
	if (iopf_mock_new(nullptr, &m) != 0 || iopf_mock_ctx_new(m, &ctx) != 0)
		fails++;
	if (iopf_engine_new(&eo, &e) != 0 || iopf_engine_kind(e) != IOPF_ENGINE_PLAIN)
		fails++;
	if (iopf_group_respond(nullptr, IOPF_RESP_SUCCESS) != -EINVAL)
		fails++;
	iopf_engine_free(e);
	iopf_ctx_free(ctx);
	iopf_mock_free(m);
	if (fails)
		std::fprintf(stderr, "header-cxx: %d checks failed\n", fails);
	return fails ? 1 : 0;
}
