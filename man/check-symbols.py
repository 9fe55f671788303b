#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""docs test: every exported symbol has a page, and every page is installed.

usage: check-symbols.py MAP MANDIR [INSTALLED_PAGE...]

  - each global symbol of MAP has MANDIR/<symbol>.3 (a page or a .so alias);
  - each .so alias is one line, `.so manN/<name>.N`, naming a page that
    exists in MANDIR;
  - each page's .TH names the page itself (title and section as the file);
  - every iopf_* man3 page documents an exported symbol or aliases a
    section 7 overview (no page survives its function);
  - the pages in MANDIR are exactly the INSTALLED_PAGEs meson installs
    (when given): a page added to man/ but not to man/meson.build fails.
Prints every problem; exits 1 if there is any.
"""
import os
import re
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import troff  # noqa: E402

map_symbols = troff.map_symbols


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    mapfile, mandir = sys.argv[1], sys.argv[2]
    installed = [os.path.basename(p) for p in sys.argv[3:]]
    errors = []

    exported = map_symbols(mapfile)
    if not exported:
        errors.append('%s: no global symbols found' % mapfile)
    pages = sorted(f for f in os.listdir(mandir) if re.search(r'\.[37]$', f))

    for sym in exported:
        if sym + '.3' not in pages:
            errors.append('%s is exported but man/%s.3 does not exist' % (sym, sym))

    for page in pages:
        text = troff.read(os.path.join(mandir, page))
        name, sect = page.rsplit('.', 1)
        if text.lstrip().startswith('.so'):
            tgt = troff.alias_target(text)
            if tgt is None:
                errors.append('%s: a .so alias must be exactly one line ".so manN/<page>.N"' % page)
                continue
            try:
                real, _ = troff.resolve(mandir, page)
            except ValueError as e:
                errors.append('%s: %s' % (page, e))
                continue
            if name.startswith('iopf_') and name not in exported and not real.endswith('.7'):
                errors.append('%s: aliases %s, but %s is not exported' % (page, tgt, name))
            continue
        m = re.search(r'^\.TH\s+(\S+)\s+(\S+)', text, re.M)
        if not m:
            errors.append('%s: no .TH line' % page)
        elif (m.group(1), m.group(2)) != (name, sect):
            errors.append('%s: .TH says %s(%s)' % (page, m.group(1), m.group(2)))
        if sect == '3' and name.startswith('iopf_') and name not in exported:
            errors.append('%s: documents %s, which is not exported' % (page, name))

    if installed:
        for p in sorted(set(pages) - set(installed)):
            errors.append('%s is in man/ but man/meson.build does not install it' % p)
        for p in sorted(set(installed) - set(pages)):
            errors.append('man/meson.build installs %s, which does not exist' % p)

    for e in errors:
        print(e)
    if errors:
        print('%d problem(s)' % len(errors))
        return 1
    print('%d exported symbols, %d pages: all documented and installed' % (len(exported), len(pages)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
