#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""docs test: every man3 page's SYNOPSIS shows the header's declarations.

usage: check-synopsis.py INCLUDE_DIR MAP MANDIR

For each real (non-.so) section 3 page in MANDIR:
  - the SYNOPSIS includes only <libiopf.h> and/or <libiopf/mock.h>;
  - every prototype, struct, enum, typedef and #define it shows is declared
    by an included header (<libiopf/mock.h> brings <libiopf.h>) and is the
    same declaration once comments are dropped and blanks normalised
    (troff.normalise): a changed type, name, '*' or field fails;
  - every function it shows is exported by MAP and named in the NAME line,
    and every name in the NAME line is a function it shows.
For each symbol exported by MAP, man/<symbol>.3, followed through .so
aliases, shows that symbol's prototype.
Prints every mismatch; exits 1 if there is any.
"""
import os
import re
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import troff  # noqa: E402

HEADERS = {'libiopf.h': [], 'libiopf/mock.h': ['libiopf.h']}


def name_line(text):
    lines = troff.section(text, 'NAME')
    if not lines:
        raise ValueError('no NAME section')
    s = ' '.join(l for l in lines if not l.startswith('.'))
    if '\\-' not in s:
        raise ValueError('NAME line has no "\\-": %r' % s)
    names = s.split('\\-', 1)[0]
    return [n.strip() for n in names.split(',') if n.strip()]


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    incdir, mapfile, mandir = sys.argv[1:]
    errors = []

    headers = {}
    for h in HEADERS:
        try:
            headers[h] = troff.parse_c(troff.read(os.path.join(incdir, h)), h)
        except ValueError as e:
            errors.append('%s: %s' % (h, e))
    if errors:
        print('\n'.join(errors))
        return 1
    exported = troff.map_symbols(mapfile)
    if not exported:
        print('%s: no global symbols found' % mapfile)
        return 1

    shown = {}  # page path -> functions its SYNOPSIS shows
    pages = sorted(f for f in os.listdir(mandir) if re.search(r'\.[37]$', f))
    for page in pages:
        path = os.path.join(mandir, page)
        text = troff.read(path)
        if troff.alias_target(text) is not None or page.endswith('.7'):
            continue
        try:
            includes, decls, defines = troff.parse_synopsis(text)
            names = name_line(text)
        except ValueError as e:
            errors.append('%s: %s' % (page, e))
            continue
        if not includes:
            errors.append('%s: SYNOPSIS includes no header' % page)
        avail_d, avail_def = {}, {}
        for inc in includes:
            if inc not in HEADERS:
                errors.append('%s: SYNOPSIS includes <%s>, not a libiopf header' % (page, inc))
                continue
            for h in [inc] + HEADERS[inc]:
                avail_d.update(headers[h][0])
                avail_def.update(headers[h][1])
        for key, text_page in decls.items():
            if key[0] == 'forward':
                continue
            want = avail_d.get(key)
            if want is None:
                errors.append('%s: SYNOPSIS shows %s %s, which %s do not declare'
                              % (page, key[0], key[1],
                                 ' '.join('<%s>' % i for i in includes) or 'no header'))
            elif want != text_page:
                errors.append('%s: %s %s differs from the header\n'
                              '    page:   %s\n    header: %s'
                              % (page, key[0], key[1], text_page, want))
        for name, text_page in defines.items():
            want = avail_def.get(name)
            if want is None:
                errors.append('%s: SYNOPSIS shows #define %s, which the header does not define'
                              % (page, name))
            elif want != text_page:
                errors.append('%s: #define %s differs from the header\n'
                              '    page:   %s\n    header: %s' % (page, name, text_page, want))
        funcs = [k[1] for k in decls if k[0] == 'function']
        shown[path] = set(funcs)
        for f in funcs:
            if f not in exported:
                errors.append('%s: SYNOPSIS shows %s, which %s does not export'
                              % (page, f, os.path.basename(mapfile)))
            if f not in names:
                errors.append('%s: %s is in the SYNOPSIS but not in the NAME line' % (page, f))
        for n in names:
            if n not in funcs:
                errors.append('%s: NAME names %s, which the SYNOPSIS does not show' % (page, n))

    for sym in exported:
        try:
            path, _ = troff.resolve(mandir, sym + '.3')
        except ValueError as e:
            errors.append('%s: %s' % (sym, e))
            continue
        if sym not in shown.get(path, set()):
            errors.append('%s.3 (-> %s) does not show the prototype of %s'
                          % (sym, os.path.basename(path), sym))

    for e in errors:
        print(e)
    if errors:
        print('%d problem(s)' % len(errors))
        return 1
    print('%d pages, %d exported symbols: synopses match the headers' % (len(pages), len(exported)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
