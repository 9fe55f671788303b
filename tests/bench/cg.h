/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * valgrind's callgrind client requests where valgrind's headers are
 * installed, and no-ops where they are not (the kernel tier's VM build has
 * them, but never runs under valgrind): the benches toggle collection around
 * what they time and dump a profile per measured pass (see callgrind.sh).
 */
#ifndef IOPF_BENCH_CG_H
#define IOPF_BENCH_CG_H

#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define HAVE_CALLGRIND 1
#endif
#endif
#ifndef HAVE_CALLGRIND
#define RUNNING_ON_VALGRIND 0
#define CALLGRIND_TOGGLE_COLLECT
#define CALLGRIND_DUMP_STATS_AT(s) ((void)(s))
#define CALLGRIND_ZERO_STATS
#endif

#endif
