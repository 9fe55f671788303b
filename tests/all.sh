#!/usr/bin/env bash
# The README's second command, and what CI runs: install what is needed, build,
# and run every test tier. Ends with one line "N passed, N failed[, N skipped]"
# that counts every test of every tier.
#
#   ./tests/all.sh            everything
#   STAGES="unit docs" ./tests/all.sh     only some stages
#
# Stages: unit docs kernel asan tsan valgrind fuzz analyze bench.
set -uo pipefail
cd "$(dirname "$0")/.."
src=$PWD
: "${STAGES:=unit docs kernel asan tsan valgrind fuzz analyze bench}"
: "${BUILD_ROOT:=$src/build-tests}"

./tests/install-deps.sh test || { echo "install-deps failed"; echo "0 passed, 1 failed"; exit 1; }

passed=0 failed=0 skipped=0
failures=()

# Adds the counts of a `meson test` run to the totals (read from its summary).
count_meson() {
	local log=$1 ok fail skip to
	ok=$(sed -n 's/^Ok: *\([0-9]*\).*/\1/p' "$log" | tail -1)
	fail=$(sed -n 's/^Fail: *\([0-9]*\).*/\1/p' "$log" | tail -1)
	to=$(sed -n 's/^Timeout: *\([0-9]*\).*/\1/p' "$log" | tail -1)
	skip=$(sed -n 's/^Skipped: *\([0-9]*\).*/\1/p' "$log" | tail -1)
	passed=$((passed + ${ok:-0}))
	failed=$((failed + ${fail:-0} + ${to:-0}))
	skipped=$((skipped + ${skip:-0}))
}

# run_meson NAME BUILDDIR "SETUP ARGS" "TEST ARGS"
run_meson() {
	local name=$1 dir=$2 setup=$3 targs=$4 log
	log=$(mktemp)
	echo "=== $name"
	if ! { [ -d "$dir" ] || meson setup "$dir" $setup; } ||
	   ! meson configure "$dir" $setup >/dev/null ||
	   ! ninja -C "$dir"; then
		echo "=== $name: build FAILED"
		failed=$((failed + 1)); failures+=("$name (build)")
		return
	fi
	# shellcheck disable=SC2086
	meson test -C "$dir" --print-errorlogs $targs 2>&1 | tee "$log"
	local rc=${PIPESTATUS[0]}
	count_meson "$log"
	if [ "$rc" -ne 0 ]; then failures+=("$name"); fi
	if ! grep -q '^Ok:' "$log"; then failed=$((failed + 1)); failures+=("$name (no summary)"); fi
	rm -f "$log"
}

# run_step NAME COMMAND...: a stage that is one pass/fail check.
run_step() {
	local name=$1; shift
	echo "=== $name"
	if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$name"); fi
}

base="-Dwerror=true -Dbuildtype=debugoptimized"
for stage in $STAGES; do
	case $stage in
	unit) run_meson unit "$BUILD_ROOT/main" "$base -Dkernel-tests=disabled" "--suite unit" ;;
	docs) run_meson docs "$BUILD_ROOT/main" "$base -Dkernel-tests=disabled" "--suite docs" ;;
	kernel)
		CI=${CI:-} run_meson kernel "$BUILD_ROOT/kernel" "$base -Dkernel-tests=enabled -Ddocs=false -Dbench=false" "--suite kernel" ;;
	# UBSan only prints and goes on unless told to halt: a report must fail the test.
	asan) UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
		run_meson asan "$BUILD_ROOT/asan" "$base -Db_sanitize=address,undefined -Db_lundef=false -Ddocs=false -Dbench=false -Dkernel-tests=disabled" "--suite unit" ;;
	tsan) run_meson tsan "$BUILD_ROOT/tsan" "$base -Db_sanitize=thread -Ddocs=false -Dbench=false -Dkernel-tests=disabled" "--suite threads" ;;
	valgrind) run_meson valgrind "$BUILD_ROOT/main" "$base -Dkernel-tests=disabled" "--suite unit --no-suite slow --wrap=$src/tests/valgrind.sh" ;;
	fuzz) [ -x tests/fuzz/run.sh ] && run_step fuzz tests/fuzz/run.sh "$BUILD_ROOT/fuzz" ;;
	analyze) [ -x tests/analyze.sh ] && run_step analyze tests/analyze.sh "$BUILD_ROOT/analyze" ;;
	bench) [ -x tests/bench/smoke.sh ] && run_step bench tests/bench/smoke.sh "$BUILD_ROOT/main" ;;
	*) echo "unknown stage $stage"; failed=$((failed + 1)); failures+=("$stage") ;;
	esac
done

echo
[ ${#failures[@]} -gt 0 ] && echo "failed stages: ${failures[*]}"
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ] && [ ${#failures[@]} -eq 0 ]
