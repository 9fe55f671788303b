#!/usr/bin/env bash
# The README's second command, and what CI runs: install what is needed, build,
# and run every test tier. Ends with one line "N passed, N failed[, N skipped]"
# that counts every test of every tier.
#
#   ./tests/all.sh            everything
#   STAGES="unit docs" ./tests/all.sh     only some stages
#
# Stages: unit docs install kernel asan tsan valgrind fuzz analyze bench.
set -uo pipefail
cd "$(dirname "$0")/.."
src=$PWD
: "${STAGES:=unit docs install kernel asan tsan valgrind fuzz analyze bench}"
: "${BUILD_ROOT:=$src/build-tests}"

./tests/install-deps.sh test || { echo "install-deps failed"; echo "0 passed, 1 failed"; exit 1; }

passed=0 failed=0 skipped=0
failures=()
logdir=$BUILD_ROOT/logs
mkdir -p "$logdir"
summary=() # one "stage result count seconds" row per stage

# Adds the counts of a `meson test` run to the totals (read from its summary), or, for
# the kernel tier, the per-kernel lines "kernel V: N passed, N failed[, N skipped]"
# (one count per program on each kernel) that run-tier.sh prints.
count_log() {
	local name=$1 log=$2 ok fail skip to xf p=0 f=0 s=0
	if [ "$name" = kernel ] && grep -qE '^kernel [0-9.]+: [0-9]+ passed' "$log"; then
		while read -r a b c; do p=$((p + a)); f=$((f + b)); s=$((s + c)); done < <(
			sed -nE 's/^kernel [0-9.]+: ([0-9]+) passed, ([0-9]+) failed(, ([0-9]+) skipped)?$/\1 \2 \4/p' "$log" |
				awk '{print $1, $2, ($3 == "" ? 0 : $3)}')
	else
		ok=$(sed -n 's/^Ok: *\([0-9]*\).*/\1/p' "$log" | tail -1)
		fail=$(sed -n 's/^Fail: *\([0-9]*\).*/\1/p' "$log" | tail -1)
		to=$(sed -n 's/^Timeout: *\([0-9]*\).*/\1/p' "$log" | tail -1)
		skip=$(sed -n 's/^Skipped: *\([0-9]*\).*/\1/p' "$log" | tail -1)
		# An expected failure (meson's should_fail: a check shown to fail) passed.
		xf=$(sed -n 's/^Expected Fail: *\([0-9]*\).*/\1/p' "$log" | tail -1)
		p=$((${ok:-0} + ${xf:-0})) f=$((${fail:-0} + ${to:-0})) s=${skip:-0}
	fi
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
	stage_count="$p passed, $f failed"; [ "$s" -gt 0 ] && stage_count+=", $s skipped"
}

# run_meson NAME BUILDDIR "SETUP ARGS" "TEST ARGS": build output goes to
# $logdir/NAME-build.log (its tail is shown on failure), the tests' to $logdir/NAME.log.
run_meson() {
	local name=$1 dir=$2 setup=$3 targs=$4 log blog t0=$SECONDS rc
	log=$logdir/$name.log blog=$logdir/$name-build.log
	echo "=== $name (build log: $blog)"
	# shellcheck disable=SC2086
	if ! { { [ -d "$dir" ] || meson setup "$dir" $setup; } &&
		meson configure "$dir" $setup && ninja -C "$dir"; } >"$blog" 2>&1; then
		tail -n 40 "$blog"
		echo "=== $name: build FAILED (log: $blog)"
		failed=$((failed + 1)); failures+=("$name (build)")
		summary+=("$name FAILED build $((SECONDS - t0))")
		return
	fi
	# The terminal gets what is not a passing test's line: failures with their
	# error logs, and the counts; every line is in $log. The kernel stage
	# streams everything (-v): its VM's progress and per-program lines.
	echo "=== $name: every test's line in $log"
	# shellcheck disable=SC2086
	meson test -C "$dir" --no-rebuild --print-errorlogs $targs 2>&1 | tee "$log" |
		if [ "$name" = kernel ]; then cat; else
			grep -vE '^ *[0-9]+/[0-9]+ .* (OK|SKIP|EXPECTEDFAIL) +[0-9.]+s$|^(Expected Fail|Unexpected Pass|Timeout|Skipped): +0 *$|^Full log written to|^$'
		fi
	rc=${PIPESTATUS[0]}
	count_log "$name" "$log"
	if [ "$rc" -ne 0 ]; then failures+=("$name"); fi
	if ! grep -q '^Ok:' "$log"; then failed=$((failed + 1)); failures+=("$name (no summary)"); fi
	summary+=("$name $([ "$rc" -eq 0 ] && echo ok || echo FAILED) $(echo "$stage_count" | tr ' ' '_') $((SECONDS - t0))")
}

# run_step NAME COMMAND...: a stage that is one pass/fail check.
run_step() {
	local name=$1 t0=$SECONDS; shift
	echo "=== $name"
	if "$@"; then
		passed=$((passed + 1)); summary+=("$name ok 1_passed $((SECONDS - t0))")
	else
		failed=$((failed + 1)); failures+=("$name"); summary+=("$name FAILED 1_failed $((SECONDS - t0))")
	fi
}

base="-Dwerror=true -Dbuildtype=debugoptimized"
for stage in $STAGES; do
	case $stage in
	unit) run_meson unit "$BUILD_ROOT/main" "$base -Dkernel-tests=disabled" "--suite unit" ;;
	docs) run_meson docs "$BUILD_ROOT/main" "$base -Dkernel-tests=disabled" "--suite docs" ;;
	kernel)
		CI=${CI:-} run_meson kernel "$BUILD_ROOT/kernel" "$base -Dkernel-tests=enabled -Ddocs=false -Dbench=false" "--suite kernel -v" ;;
	# UBSan only prints and goes on unless told to halt: a report must fail the test.
	asan) UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
		run_meson asan "$BUILD_ROOT/asan" "$base -Db_sanitize=address,undefined -Db_lundef=false -Ddocs=false -Dbench=false -Dkernel-tests=disabled" "--suite unit" ;;
	tsan) run_meson tsan "$BUILD_ROOT/tsan" "$base -Db_sanitize=thread -Ddocs=false -Dbench=false -Dkernel-tests=disabled" "--suite threads" ;;
	valgrind) run_meson valgrind "$BUILD_ROOT/main" "$base -Dkernel-tests=disabled" "--suite unit --no-suite slow --wrap=$src/tests/valgrind.sh" ;;
	fuzz) [ -x tests/fuzz/run.sh ] && run_step fuzz tests/fuzz/run.sh "$BUILD_ROOT/fuzz" ;;
	analyze) [ -x tests/analyze.sh ] && run_step analyze tests/analyze.sh "$BUILD_ROOT/analyze" ;;
	install) run_step install tests/install-system.sh "$BUILD_ROOT/main" --check ;;
	bench) [ -x tests/bench/smoke.sh ] && run_step bench tests/bench/smoke.sh "$BUILD_ROOT/main" ;;
	*) echo "unknown stage $stage"; failed=$((failed + 1)); failures+=("$stage") ;;
	esac
done

echo
printf '%-10s %-7s %-34s %s\n' stage result count seconds
for row in "${summary[@]}"; do
	read -r n r c t <<<"$row"
	printf '%-10s %-7s %-34s %s\n' "$n" "$r" "${c//_/ }" "$t"
done
echo "logs: $logdir"
[ ${#failures[@]} -gt 0 ] && echo "failed stages: ${failures[*]}"
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ] && [ ${#failures[@]} -eq 0 ]
