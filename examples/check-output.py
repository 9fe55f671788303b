#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Run an example program and check its exit status and its output.

  check-output.py [options] -- PROGRAM [ARG...]

Options:
  --exit N           expected exit status (default 0)
  --match RE         some line of stdout must match RE (re.search; repeatable)
  --no-match RE      no line of stdout may match RE (repeatable)
  --count RE N       exactly N lines of stdout match RE (repeatable)
  --stderr-match RE  some line of stderr must match RE (repeatable)
  --signal SIG       send SIG (e.g. SIGTERM) once the program has printed its
                     first line and --delay seconds more have passed
  --delay S          see --signal (default 0.3)
  --timeout S        kill the program after S seconds and fail (default 60)

On failure it says what was expected, and shows the exit status and both
streams. Exit status: 0 pass, 1 fail, 2 usage.
"""
import argparse
import re
import signal
import subprocess
import sys
import threading
import time


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="check-output.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--exit", type=int, default=0)
    ap.add_argument("--match", action="append", default=[])
    ap.add_argument("--no-match", action="append", default=[])
    ap.add_argument("--count", nargs=2, action="append", default=[], metavar=("RE", "N"))
    ap.add_argument("--stderr-match", action="append", default=[])
    ap.add_argument("--signal")
    ap.add_argument("--delay", type=float, default=0.3)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args(argv)
    if a.cmd and a.cmd[0] == "--":
        a.cmd = a.cmd[1:]
    if not a.cmd:
        ap.error("no program to run")
    if a.signal:
        name = a.signal.upper()
        if not name.startswith("SIG"):
            name = "SIG" + name
        if not hasattr(signal, name):
            ap.error(f"unknown signal {a.signal}")
        a.signal = getattr(signal, name)
    try:
        a.count = [(re.compile(r), int(n)) for r, n in a.count]
        a.match = [re.compile(r) for r in a.match]
        a.no_match = [re.compile(r) for r in a.no_match]
        a.stderr_match = [re.compile(r) for r in a.stderr_match]
    except (re.error, ValueError) as e:
        ap.error(str(e))
    return a


def run(a):
    """Returns (status, stdout, stderr, timed_out)."""
    p = subprocess.Popen(a.cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, errors="replace")
    out, err = [], []

    def pump(stream, sink, first=None):
        for line in stream:
            sink.append(line)
            if first is not None and not first.is_set():
                first.set()
        if first is not None:
            first.set()

    first = threading.Event()
    threads = [threading.Thread(target=pump, args=(p.stdout, out, first)),
               threading.Thread(target=pump, args=(p.stderr, err))]
    for t in threads:
        t.daemon = True
        t.start()
    deadline = time.monotonic() + a.timeout
    if a.signal is not None:
        if first.wait(a.timeout):
            time.sleep(a.delay)
            if p.poll() is None:
                p.send_signal(a.signal)
    timed_out = False
    try:
        p.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        timed_out = True
        p.kill()
        p.wait()
    for t in threads:
        t.join(5)
    return p.returncode, "".join(out), "".join(err), timed_out


def main(argv):
    a = parse_args(argv)
    try:
        status, out, err, timed_out = run(a)
    except OSError as e:
        print(f"check-output: cannot run {a.cmd[0]}: {e}", file=sys.stderr)
        return 1
    lines = out.splitlines()
    errs = err.splitlines()
    problems = []
    if timed_out:
        problems.append(f"did not finish within {a.timeout:g} s (killed)")
    elif status != a.exit:
        problems.append(f"exit status {status}, expected {a.exit}")
    for r in a.match:
        if not any(r.search(l) for l in lines):
            problems.append(f"no line of stdout matches /{r.pattern}/")
    for r in a.no_match:
        bad = [l for l in lines if r.search(l)]
        if bad:
            problems.append(f"{len(bad)} line(s) of stdout match /{r.pattern}/, "
                            f"expected none; first: {bad[0]!r}")
    for r, n in a.count:
        got = sum(1 for l in lines if r.search(l))
        if got != n:
            problems.append(f"{got} line(s) of stdout match /{r.pattern}/, expected {n}")
    for r in a.stderr_match:
        if not any(r.search(l) for l in errs):
            problems.append(f"no line of stderr matches /{r.pattern}/")

    cmd = " ".join(a.cmd)
    if not problems:
        print(f"PASS: {cmd}")
        for l in lines[-4:]:
            print(f"  | {l}")
        return 0
    print(f"FAIL: {cmd}")
    for pr in problems:
        print(f"  - {pr}")
    print(f"--- exit status {status}; stdout ({len(lines)} lines, last 40):")
    for l in lines[-40:]:
        print(f"  | {l}")
    print(f"--- stderr ({len(errs)} lines, last 40):")
    for l in errs[-40:]:
        print(f"  | {l}")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
