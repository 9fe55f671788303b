#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Static analysis of the library (lib/ and lib/mock/), three tools, each clean
# or the stage fails:
#   clang-tidy      with .clang-tidy, over meson's compile_commands.json
#   cppcheck        --enable=warning,performance,portability, with the
#                   justified suppressions of tests/cppcheck-suppressions.txt
#   gcc -fanalyzer  every file, warnings as errors, less the false positives
#                   listed (each with its reason) in
#                   tests/gcc-analyzer-suppressions.txt
#
#   tests/analyze.sh BUILDDIR        (a meson build dir of its own: created)
#   ANALYZE_TOOLS="tidy cppcheck gcc" tests/analyze.sh BUILDDIR   a subset
set -uo pipefail
cd "$(dirname "$0")/.."
src=$PWD
build=${1:?usage: $0 BUILDDIR}
mkdir -p "$build"
build=$(cd "$build" && pwd)
: "${ANALYZE_TOOLS:=tidy cppcheck gcc}"
jobs=$(nproc 2>/dev/null || echo 2)

files=(lib/*.c lib/mock/*.c)
fail=0
start=$(date +%s)

# ---- clang-tidy ---------------------------------------------------------------
run_tidy() {
	local db=$build/tidy rc=0
	command -v clang-tidy >/dev/null || { echo "analyze: clang-tidy not found"; return 1; }
	# The library alone, with the project's real flags.
	if [ ! -f "$build/build.ninja" ]; then
		meson setup "$build" -Dtests=false -Dexamples=false -Ddocs=false \
			-Dbench=false -Dkernel-tests=disabled >"$build/setup.log" 2>&1 ||
			{ cat "$build/setup.log"; return 1; }
	fi
	meson compile -C "$build" >/dev/null 2>&1 || ninja -C "$build" || return 1
	# One entry per file: meson compiles lib/ twice (shared and static),
	# and clang-tidy 14 given both reports a false valist.Uninitialized on
	# the second (its analyzer keeps state from the first).
	mkdir -p "$db"
	python3 - "$build/compile_commands.json" "$db/compile_commands.json" <<-'EOF' || return 1
		import json, os, sys
		seen, out = set(), []
		for e in json.load(open(sys.argv[1])):
		    f = os.path.normpath(os.path.join(e['directory'], e['file']))
		    if f not in seen:
		        seen.add(f)
		        out.append(e)
		json.dump(out, open(sys.argv[2], 'w'), indent=1)
	EOF
	echo "analyze: clang-tidy $(clang-tidy --version | sed -n 's/.*version \([0-9.]*\).*/\1/p' | head -1) on ${#files[@]} files"
	printf '%s\n' "${files[@]}" |
		xargs -P "$jobs" -n 1 clang-tidy -p "$db" --quiet >"$build/tidy.log" 2>&1 || rc=1
	if [ $rc -ne 0 ] || grep -qE '(warning|error):' "$build/tidy.log"; then
		grep -vE '^[0-9]+ warnings? (generated|treated as errors)\.?$' "$build/tidy.log"
		echo "analyze: clang-tidy FAILED"
		return 1
	fi
	echo "analyze: clang-tidy clean"
}

# ---- cppcheck -----------------------------------------------------------------
run_cppcheck() {
	command -v cppcheck >/dev/null || { echo "analyze: cppcheck not found"; return 1; }
	echo "analyze: $(cppcheck --version) on ${#files[@]} files"
	# --library=posix: open/close/socket as resources, for leak checks.
	# No system include paths: cppcheck reads its own library configs
	# for libc, and system headers only add noise and time.
	if ! cppcheck --enable=warning,performance,portability --std=c11 \
		--library=posix --inline-suppr --error-exitcode=1 --quiet \
		--suppressions-list=tests/cppcheck-suppressions.txt \
		-D_GNU_SOURCE -D__linux__ -D__x86_64__ -Ilib -Iinclude -j "$jobs" \
		--template='{file}:{line}: {severity}: {message} [{id}]' \
		"${files[@]}" >"$build/cppcheck.log" 2>&1; then
		cat "$build/cppcheck.log"
		echo "analyze: cppcheck FAILED"
		return 1
	fi
	if grep -q . "$build/cppcheck.log"; then
		cat "$build/cppcheck.log"
		echo "analyze: cppcheck FAILED"
		return 1
	fi
	echo "analyze: cppcheck clean"
}

# ---- gcc -fanalyzer -------------------------------------------------------------
run_gcc() {
	local cc=${ANALYZE_CC:-gcc} rc=0 f
	echo "analyze: $($cc --version | head -1) -fanalyzer on ${#files[@]} files"
	mkdir -p "$build/gcc"
	for f in "${files[@]}"; do
		local log=$build/gcc/$(echo "$f" | tr / _).log
		# shellcheck disable=SC2086
		LC_ALL=C $cc -std=gnu11 -O2 -fanalyzer -Wall -Wextra -Wno-unused-parameter \
			-D_GNU_SOURCE -Ilib -Iinclude $(pkg-config --cflags liburing 2>/dev/null) \
			-fdiagnostics-plain-output -c "$f" -o /dev/null >"$log" 2>&1 &
		while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
	done
	wait
	# Every warning, as "file function option", against the suppressions.
	python3 - "$build/gcc" tests/gcc-analyzer-suppressions.txt <<-'EOF' || rc=1
		import glob, re, sys
		sup = {}
		for line in open(sys.argv[2]):
		    line = line.split('#', 1)[0].split()
		    if line:
		        sup[tuple(line[:3])] = 0
		bad = 0
		for log in sorted(glob.glob(sys.argv[1] + '/*.log')):
		    func = None
		    for line in open(log):
		        m = re.match(r"^(\S+): In function '([^']+)':", line)
		        if m:
		            func = m.group(2)
		            continue
		        m = re.match(r'^(\S+?):\d+:\d+: (warning|error): (.*?)(?: \[(-W[^\]]+)\])?$', line.rstrip())
		        if not m:
		            continue
		        key = (m.group(1), func or '-', m.group(4) or m.group(2))
		        if key in sup:
		            sup[key] += 1
		            continue
		        bad += 1
		        print('%s (in %s)' % (line.rstrip(), func))
		for key, n in sup.items():
		    if not n:
		        print('analyze: suppression no longer needed: %s %s %s' % key)
		if bad:
		    print('analyze: gcc -fanalyzer: %d warnings' % bad)
		    sys.exit(1)
	EOF
	if [ $rc -ne 0 ]; then
		echo "analyze: gcc -fanalyzer FAILED (full paths: $build/gcc/*.log)"
		return 1
	fi
	echo "analyze: gcc -fanalyzer clean"
}

for t in $ANALYZE_TOOLS; do
	case $t in
	tidy) run_tidy || fail=1 ;;
	cppcheck) run_cppcheck || fail=1 ;;
	gcc) run_gcc || fail=1 ;;
	*) echo "analyze: unknown tool $t"; fail=1 ;;
	esac
done
echo "analyze: $(( $(date +%s) - start )) s"
exit $fail
