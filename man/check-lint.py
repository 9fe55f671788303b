#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""docs test: every page lints clean and has the sections a reader expects.

usage: check-lint.py MANDIR

Each real (non-.so) page goes through two tools, and any diagnostic fails:
  - mandoc -Tlint -W warning: mandoc's parser, which knows the man(7)
    language and reports structural mistakes (a macro in the wrong place, an
    empty section, a bad .TH, a broken table, unknown escapes). Its STYLE
    level is left out: it wants upper-case titles and other things liburing's
    pages do not do.
  - groff -t -man -ww -z: the formatter man(1) itself runs, with all
    warnings on; it catches what mandoc tolerates (bad escapes and requests,
    characters the output device lacks). -t runs tbl for the tables in
    libiopf(7).
.so aliases are not given to the tools (they name paths under an installed
mandir); check-symbols.py checks them.
Section 3 pages must have NAME, SYNOPSIS, DESCRIPTION, RETURN VALUE and SEE
ALSO; section 7 pages NAME, DESCRIPTION and SEE ALSO. A page's lines may not
end in blanks (troff would print them).
A missing tool is reported; if both are missing the test is skipped (77).
"""
import os
import re
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import troff  # noqa: E402

REQUIRED = {
    '3': ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'RETURN VALUE', 'SEE ALSO'],
    '7': ['NAME', 'DESCRIPTION', 'SEE ALSO'],
}


def run(cmd, path):
    p = subprocess.run(cmd + [path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, env=dict(os.environ, LC_ALL='C.UTF-8'))
    out = (p.stdout + p.stderr).strip()
    if p.returncode != 0 and not out:
        out = '%s exited with %d' % (cmd[0], p.returncode)
    return out


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    mandir = sys.argv[1]
    mandoc = shutil.which('mandoc')
    groff = shutil.which('groff')
    if not mandoc and not groff:
        print('neither mandoc nor groff found: skipped')
        return 77
    tools = []
    if mandoc:
        tools.append([mandoc, '-Tlint', '-W', 'warning'])
    else:
        print('mandoc not found: linting with groff only')
    if groff:
        tools.append([groff, '-t', '-man', '-ww', '-z'])
    else:
        print('groff not found: linting with mandoc only')

    errors, n = [], 0
    for page in sorted(f for f in os.listdir(mandir) if re.search(r'\.[37]$', f)):
        path = os.path.join(mandir, page)
        text = troff.read(path)
        if troff.alias_target(text) is not None:
            continue
        n += 1
        for tool in tools:
            out = run(tool, path)
            if out:
                errors.append('%s: %s:\n    %s' % (page, ' '.join(os.path.basename(t) if i == 0 else t
                                                               for i, t in enumerate(tool)),
                                                    out.replace('\n', '\n    ')))
        titles = [' '.join(troff.macro_args(l[3:])) for l in text.splitlines()
                  if l.startswith('.SH')]
        for want in REQUIRED[page.rsplit('.', 1)[1]]:
            if want not in titles:
                errors.append('%s: no %s section' % (page, want))
        for no, line in enumerate(text.splitlines(), 1):
            if line != line.rstrip():
                errors.append('%s:%d: trailing blanks' % (page, no))

    for e in errors:
        print(e)
    if errors:
        print('%d problem(s)' % len(errors))
        return 1
    print('%d pages lint clean (%s)' % (n, ', '.join(os.path.basename(t[0]) for t in tools)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
