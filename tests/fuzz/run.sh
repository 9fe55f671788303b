#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Builds the libFuzzer targets with clang (meson's main build uses gcc) and runs
# each for a bounded time on a fresh copy of its checked-in seed corpus. Fails
# on any crash, hang, leak or sanitizer report (ASan, UBSan, LeakSanitizer).
#
#   tests/fuzz/run.sh BUILDDIR                 every target, FUZZ_SECONDS each
#   tests/fuzz/run.sh BUILDDIR fuzz-api FILE   replay one input (a crash file)
#
# Environment: FUZZ_SECONDS (default 60) per target, FUZZ_TARGETS (default all),
# FUZZ_JOBS (targets run side by side; default: the number of CPUs, at most 2),
# CC (default clang).
#
# Targets (tests/fuzz/fuzz-*.c): fuzz-records (bytes a fault fd read returns ->
# groups -> answers, with an oracle), fuzz-api (the public API's argument checks
# on the mock), fuzz-vevent (bytes a vEVENTQ read returns -> events and lost
# counts, with an oracle). Their seeds come from tests/fuzz/seeds.py.
set -uo pipefail
cd "$(dirname "$0")/../.."
src=$PWD
build=${1:?usage: $0 BUILDDIR [TARGET INPUT...]}
shift
mkdir -p "$build"
build=$(cd "$build" && pwd)

: "${FUZZ_SECONDS:=60}"
: "${CC:=clang}"
: "${FUZZ_TARGETS:=$(cd tests/fuzz && ls fuzz-*.c | sed 's/\.c$//' | tr '\n' ' ')}"
if [ -z "${FUZZ_JOBS:-}" ]; then
	FUZZ_JOBS=$(nproc 2>/dev/null || echo 1)
	[ "$FUZZ_JOBS" -gt 2 ] && FUZZ_JOBS=2
fi

if ! command -v "$CC" >/dev/null; then
	echo "fuzz: $CC not found (apt-get install clang libclang-rt-14-dev)" >&2
	exit 1
fi

uring_cflags=$(pkg-config --cflags liburing 2>/dev/null)
uring_libs=$(pkg-config --libs liburing 2>/dev/null || echo -luring)
cflags=(-std=gnu11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer
	-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
	-Wall -Wextra -Wno-unused-parameter
	-I"$src/lib" -I"$src/include")

# The library itself, every file of lib/ and lib/mock/, compiled once with
# coverage and the sanitizers, warnings as errors like everywhere else.
build_lib() {
	local f o objs=()
	mkdir -p "$build/obj"
	for f in "$src"/lib/*.c "$src"/lib/mock/*.c; do
		o=$build/obj/$(basename "$(dirname "$f")")-$(basename "$f" .c).o
		objs+=("$o")
		# shellcheck disable=SC2086
		"$CC" "${cflags[@]}" -Werror $uring_cflags -c "$f" -o "$o" &
	done
	wait_all || return 1
	libobjs=("${objs[@]}")
}

wait_all() {
	local rc=0 p
	for p in $(jobs -p); do wait "$p" || rc=1; done
	return $rc
}

build_target() {
	local t=$1
	echo "fuzz: building $t"
	# shellcheck disable=SC2086
	"$CC" "${cflags[@]}" -fsanitize=fuzzer -Werror $uring_cflags -o "$build/$t" \
		"$src/tests/fuzz/$t.c" "${libobjs[@]}" $uring_libs -lpthread
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

build_lib || { echo "fuzz: building the library FAILED"; exit 1; }

# Replay mode.
if [ $# -gt 0 ]; then
	t=$1
	shift
	build_target "$t" || exit 1
	exec "$build/$t" -runs=1 "$@"
fi

run_target() {
	local t=$1 corpus=$build/corpus/$t art=$build/artifacts/$t/ log=$build/$t.log
	rm -rf "$corpus" "$art"
	mkdir -p "$corpus" "$art"
	cp "$src/tests/fuzz/corpus/$t/"* "$corpus/" 2>/dev/null
	# -timeout: an input that runs 10 s is a hang. -max_len bounds a script.
	"$build/$t" -max_total_time="$FUZZ_SECONDS" -timeout=10 -max_len=4096 \
		-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$art" \
		"$corpus" >"$log" 2>&1
	local rc=$?
	if [ $rc -ne 0 ] || ls "$art" | grep -q .; then
		echo "fuzz: $t FAILED (exit $rc); the end of $log:"
		tail -60 "$log"
		for f in "$art"*; do
			[ -f "$f" ] && echo "fuzz: reproduce with: tests/fuzz/run.sh $build $t $f"
		done
		return 1
	fi
	echo "fuzz: $t passed: $(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}') inputs in ${FUZZ_SECONDS}s, $(ls "$corpus" | wc -l) in the corpus, $(grep -oE 'cov: [0-9]+' "$log" | tail -1)"
	return 0
}

start=$(date +%s)
for t in $FUZZ_TARGETS; do
	build_target "$t" || { echo "fuzz: building $t FAILED"; exit 1; }
done

fail=0
pids=()
names=()
for t in $FUZZ_TARGETS; do
	run_target "$t" &
	pids+=($!)
	names+=("$t")
	if [ ${#pids[@]} -ge "$FUZZ_JOBS" ]; then
		wait "${pids[0]}" || fail=1
		pids=("${pids[@]:1}")
	fi
done
for p in "${pids[@]}"; do
	wait "$p" || fail=1
done
echo "fuzz: $(( $(date +%s) - start )) s"
exit $fail
