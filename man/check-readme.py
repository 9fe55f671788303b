#!/usr/bin/env python3
"""The README's C snippets compile as written, with the project's warnings as errors.

Each ```c block of README.md is compiled on its own (-c: the functions it names as
the VMM's own, such as map_page(), are declared there and left to the VMM).
    check-readme.py --cc=CC [--cc=ARG...] --include DIR README.md
"""
import argparse, re, subprocess, sys, tempfile, os

ap = argparse.ArgumentParser()
ap.add_argument("--cc", action="append", required=True)
ap.add_argument("--include", required=True)
ap.add_argument("readme")
a = ap.parse_args()
blocks = re.findall(r"^```c\n(.*?)^```", open(a.readme).read(), re.S | re.M)
if not blocks:
    sys.exit("no ```c block in %s" % a.readme)
bad = 0
with tempfile.TemporaryDirectory() as d:
    for i, b in enumerate(blocks):
        src = os.path.join(d, "readme-%d.c" % i)
        open(src, "w").write(b)
        cmd = a.cc + ["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-I" + a.include,
                      "-c", src, "-o", src + ".o"]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode:
            bad += 1
            print("README.md block %d does not compile:\n%s" % (i + 1, r.stderr))
print("%d README C block(s), %d failed" % (len(blocks), bad))
sys.exit(1 if bad else 0)
