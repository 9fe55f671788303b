#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# tests/bench/callgrind.sh <builddir> [iopf-bench options...]
#
# User-space instructions per fault on the mock tier, where perf_event_open
# cannot count them (no hardware counter, as in most VMs and containers): runs
# iopf-bench under valgrind's callgrind, which counts every instruction the
# process runs in user space, in all its threads. iopf-bench sees valgrind and
# counts only its timed stretches (CALLGRIND_TOGGLE_COLLECT around them), and
# dumps one profile per measured pass (CALLGRIND_DUMP_STATS_AT, named after the
# host, scenario, contender and fault count). This script then prints, for every
# pass, the instructions per fault and the difference to the scenario's
# reference hand loop (raw-batched, or raw-epoll where the sweeping loops do not
# run), and for every libiopf pass where those instructions go: the functions
# by their own (exclusive) instructions per fault. The mock's hooks
# (lib/mock/*: read_prepare, read_done, write_done) are paid by the hand loops
# too: the difference to the reference is the library's own cost.
#
# Default options: --host idle --reps 1 --faults 5000 --scenario
# storm,pingpong,16queues,sparse --sparse-sizes 1,1024 --sparse-active 1
# (timings under valgrind mean nothing: only the instruction counts are read).
# Environment: TOP (functions per pass, default 12), KEEP=1 keeps the dumps.
#
# tests/bench/callgrind.sh <builddir> --vevent [iopf-bench-vevent options...]
# does the same for the vEVENTQ storm (iopf-bench-vevent, default --events
# 20000 --reps 1): "per fault" then reads "per event", and the reference is
# raw-batched.
set -euo pipefail

builddir=${1:?usage: $0 <builddir> [--vevent] [iopf-bench options...]}
shift
bench=$builddir/tests/bench/iopf-bench
if [[ ${1:-} == --vevent ]]; then
	shift
	bench=$builddir/tests/bench/iopf-bench-vevent
	(($#)) || set -- --events 20000 --reps 1
fi
[[ -x $bench ]] || { echo "callgrind.sh: $bench not built" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind not installed" >&2; exit 77; }
command -v callgrind_annotate >/dev/null || { echo "callgrind.sh: callgrind_annotate not installed" >&2; exit 77; }
command -v python3 >/dev/null || { echo "callgrind.sh: python3 needed" >&2; exit 77; }

if (($# == 0)); then
	set -- --host idle --reps 1 --faults 5000 --scenario storm,pingpong,16queues,sparse \
		--sparse-sizes 1,1024 --sparse-active 1
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/iopf-bench-cg.XXXXXX")
[[ ${KEEP:-0} == 1 ]] || trap 'rm -rf "$tmp"' EXIT
echo "callgrind.sh: valgrind --tool=callgrind $bench $* (dumps in $tmp)" >&2
valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$tmp/cg.%p" \
	"$bench" "$@" >"$tmp/bench.out" 2>"$tmp/bench.err" || {
	tail -n 20 "$tmp/bench.err" >&2
	echo "callgrind.sh: iopf-bench under valgrind failed" >&2
	exit 1
}
for f in "$tmp"/cg.*.*; do
	callgrind_annotate --threshold=100 "$f" >"$f.txt" 2>/dev/null || true
done

TOP=${TOP:-12} python3 - "$tmp" <<'EOF'
import glob, os, re, sys
tmp = sys.argv[1]
top = int(os.environ.get("TOP", "12"))
runs = []
for f in sorted(glob.glob(tmp + "/cg.*.*"), key=lambda p: int(p.rsplit(".", 1)[-1]) if p[-1].isdigit() else 0):
    if f.endswith(".txt"):
        continue
    desc = total = None
    for line in open(f, errors="replace"):
        if line.startswith("desc: Trigger: Client Request: iopf-bench"):
            desc = dict(kv.split("=", 1) for kv in line.split("iopf-bench ", 1)[1].split())
        elif line.startswith("totals:") or line.startswith("summary:"):
            total = int(line.split()[1])
    if desc is None or total is None:
        continue
    funcs = []
    try:
        for line in open(f + ".txt", errors="replace"):
            m = re.match(r"\s*([\d,]+) \(\s*([\d.]+)%\)\s+(\S+?):(\S+)( \[(.*)\])?$", line)
            if not m or float(m.group(2)) >= 99.95 or "below main" in line:
                continue
            funcs.append((int(m.group(1).replace(",", "")), m.group(3), m.group(4)))
    except OSError:
        pass
    desc["total"] = total
    desc["funcs"] = funcs
    runs.append(desc)
if not runs:
    sys.exit("callgrind.sh: no iopf-bench dumps found")

def ref_of(scen, have):
    for r in ("raw-batched", "raw-epoll"):
        if (scen, r) in have:
            return r
    return None

have = {(r["scenario"], r["contender"]): r for r in runs}
print("user-space instructions per fault (callgrind, timed stretches only, all threads)")
print("  %-22s %-20s %10s %12s %s" % ("scenario", "contender", "instr/f", "over ref", "ref"))
for r in runs:
    f = int(r["faults"])
    ipf = r["total"] / f
    ref = ref_of(r["scenario"], have)
    over = ""
    if ref and ref != r["contender"]:
        over = "%+12.0f" % (ipf - have[(r["scenario"], ref)]["total"] / f)
    print("  %-22s %-20s %10.0f %12s %s" % (r["scenario"], r["contender"], ipf, over, ref or "-"))
for r in runs:
    if not r["contender"].startswith("libiopf"):
        continue
    f = int(r["faults"])
    print("\n%s, %s: where the instructions go (own instructions per fault, top %d)" % (r["scenario"], r["contender"], top))
    for ir, path, fn in sorted(r["funcs"], reverse=True)[:top]:
        where = "mock" if "/lib/mock/" in path else "lib" if "/lib/" in path else \
            "bench" if "/tests/bench/" in path else os.path.basename(path)
        print("  %8.1f  %-5s %s:%s" % (ir / f, where[:5], os.path.basename(path), fn.split("@@")[0]))
EOF
