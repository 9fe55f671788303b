#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""docs test: the programs in the pages compile, link, and (some) run.

usage: check-examples.py --include DIR [--lib LIBRARY] [--cc CC]... MANDIR

Every .EX ... .EE block of a real page that defines main() is turned back
into C (troff escapes undone: \\e, \\-, \\(aq, \\& ...) and built with
    CC -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Werror -I DIR
linked with LIBRARY (the shared libiopf meson built: this also proves that
the example uses only exported symbols) and -pthread. Without --lib the
blocks are compiled only (-c).
A block whose preceding line is the comment `.\\" example: run` is then run
(with a 30 s limit) and must exit 0; 77 counts as skipped. Those are the
examples that need no kernel support: the ones on the mock kernel.
Blocks without main() are fragments and are not built.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import troff  # noqa: E402

CFLAGS = ['-std=gnu11', '-Wall', '-Wextra', '-Wno-unused-parameter', '-Werror']


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--include', required=True)
    ap.add_argument('--lib')
    ap.add_argument('--cc', action='append')
    ap.add_argument('mandir')
    a = ap.parse_args()
    cc = a.cc or [os.environ.get('CC', 'cc')]

    errors, built, ran, skipped, fragments = [], 0, 0, 0, 0
    with tempfile.TemporaryDirectory(prefix='iopf-man-examples-') as tmp:
        for page in sorted(f for f in os.listdir(a.mandir) if re.search(r'\.[37]$', f)):
            text = troff.read(os.path.join(a.mandir, page))
            if troff.alias_target(text) is not None:
                continue
            try:
                blocks = troff.examples(text)
            except ValueError as e:
                errors.append('%s: %s' % (page, e))
                continue
            for line, code, mode in blocks:
                if not re.search(r'^int\s+main\s*\(', code, re.M):
                    fragments += 1
                    continue
                name = '%s-%d' % (page.replace('.', '_'), line)
                src = os.path.join(tmp, name + '.c')
                exe = os.path.join(tmp, name)
                with open(src, 'w') as f:
                    f.write(code)
                cmd = cc + CFLAGS + ['-I', a.include, src]
                if a.lib:
                    cmd += ['-o', exe, a.lib, '-pthread',
                            '-Wl,-rpath,' + os.path.dirname(os.path.abspath(a.lib))]
                else:
                    cmd += ['-c', '-o', exe + '.o']
                p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   universal_newlines=True)
                if p.returncode:
                    numbered = '\n'.join('%4d  %s' % (i, l) for i, l in
                                         enumerate(code.splitlines(), 1))
                    errors.append('%s: example at line %d does not build:\n%s\n%s\n%s'
                                  % (page, line, ' '.join(cmd), p.stdout.rstrip(), numbered))
                    continue
                built += 1
                if mode == 'run':
                    if not a.lib:
                        skipped += 1
                        continue
                    try:
                        r = subprocess.run([exe], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                           universal_newlines=True, timeout=30)
                    except subprocess.TimeoutExpired:
                        errors.append('%s: example at line %d timed out' % (page, line))
                        continue
                    if r.returncode == 77:
                        skipped += 1
                    elif r.returncode:
                        errors.append('%s: example at line %d exited with %d:\n%s'
                                      % (page, line, r.returncode, r.stdout.rstrip()))
                    else:
                        ran += 1
                elif mode:
                    errors.append('%s: example at line %d: unknown mode %r' % (page, line, mode))

    for e in errors:
        print(e)
    print('%d examples built%s, %d run, %d skipped, %d fragments not built'
          % (built, ' and linked' if a.lib else '', ran, skipped, fragments))
    if errors:
        print('%d problem(s)' % len(errors))
        return 1
    if not built:
        print('no example found')
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
