# SPDX-License-Identifier: LGPL-2.1-or-later
"""What the docs tests share: reading man pages and the public headers.

Only the small part of troff the pages use is understood: requests at the
start of a line, the font macros (.B .I .BI .BR ...), comments, and the
escapes listed in unescape(). That is enough to turn a SYNOPSIS or an
EXAMPLE back into the C text it shows.
"""
import os
import re

ALIAS_RE = re.compile(r'^\.so\s+(man[37])/([A-Za-z0-9_.-]+)\.([37])\s*$')


def read(path):
    with open(path, encoding='utf-8') as f:
        return f.read()


def map_symbols(path):
    syms, glob = [], False
    """The global symbols of a version script, every node."""
    for line in read(path).splitlines():
        s = line.strip()
        if s.startswith('global:'):
            glob = True
        elif s.startswith('local:'):
            glob = False
        elif glob:
            m = re.match(r'^(\w+);$', s)
            if m:
                syms.append(m.group(1))
    return syms


def alias_target(text):
    """'man3/foo.3' for a page that is a single .so line, else None."""
    lines = [l for l in text.splitlines() if l.strip() and not l.startswith('.\\"')]
    if len(lines) == 1:
        m = ALIAS_RE.match(lines[0])
        if m:
            return '%s/%s.%s' % (m.group(1), m.group(2), m.group(3))
    return None


def resolve(mandir, name):
    """Follows .so aliases from man/<name>; returns (path, text) of the real
    page, or raises ValueError naming what is wrong."""
    path = os.path.join(mandir, name)
    seen = set()
    while True:
        if path in seen:
            raise ValueError('%s: .so loop' % name)
        seen.add(path)
        if not os.path.exists(path):
            raise ValueError('%s: no such page' % os.path.basename(path))
        text = read(path)
        tgt = alias_target(text)
        if tgt is None:
            return path, text
        sect, base = tgt.split('/')
        if sect[3:] != base.rsplit('.', 1)[1]:
            raise ValueError('%s: .so %s names the wrong section directory' % (name, tgt))
        path = os.path.join(mandir, base)


_ESCAPES = [
    (r'\(aq', "'"), (r'\(dq', '"'), (r'\(lq', '"'), (r'\(rq', '"'),
    (r'\(ga', '`'), (r'\(ti', '~'), (r'\(ha', '^'), (r'\(em', '--'),
    (r'\(en', '-'), (r'\(bu', '*'), (r'\(co', '(C)'),
    (r'\fB', ''), (r'\fI', ''), (r'\fR', ''), (r'\fP', ''), (r'\f(CW', ''),
    (r'\f(CB', ''), (r'\&', ''), (r'\-', '-'), (r'\ ', ' '), (r'\e', '\\'),
    (r'\~', ' '), (r'\:', ''), (r'\%', ''), (r'\|', ''), (r'\^', ''),
    (r'\c', ''),
]


def unescape(s):
    """troff text to plain text, for the escapes the pages use. Unknown
    escapes raise ValueError, so that a page cannot show C code that differs
    from what it compiles."""
    out = []
    i = 0
    while i < len(s):
        if s[i] != '\\':
            out.append(s[i])
            i += 1
            continue
        if s.startswith('\\\\', i):
            out.append('\\')
            i += 2
            continue
        for esc, rep in _ESCAPES:
            if s.startswith(esc, i):
                out.append(rep)
                i += len(esc)
                break
        else:
            raise ValueError('unknown troff escape %r in %r' % (s[i:i + 3], s))
    return ''.join(out)


def macro_args(rest):
    """Splits a macro's arguments like troff: blanks separate, double quotes
    group, "" inside quotes is one quote."""
    args = []
    i, n = 0, len(rest)
    while i < n:
        while i < n and rest[i] in ' \t':
            i += 1
        if i >= n:
            break
        if rest[i] == '"':
            i += 1
            cur = []
            while i < n:
                if rest[i] == '"':
                    if i + 1 < n and rest[i + 1] == '"':
                        cur.append('"')
                        i += 2
                        continue
                    i += 1
                    break
                cur.append(rest[i])
                i += 1
            args.append(''.join(cur))
        else:
            j = i
            while j < n and rest[j] not in ' \t':
                j += 1
            args.append(rest[i:j])
            i = j
    return args


FONT_JOINED = {'BI', 'IB', 'BR', 'RB', 'IR', 'RI'}
FONT_SPACED = {'B', 'I', 'SM', 'SB'}
IGNORED = {'nf', 'fi', 'PP', 'P', 'LP', 'sp', 'br', 'in', 'RS', 'RE', 'ft',
           'EX', 'EE', 'ad', 'na', 'hy', 'nh', 'ne'}


def section(text, name):
    """The lines of section NAME (between .SH NAME and the next .SH)."""
    out, found = [], False
    for line in text.splitlines():
        if line.startswith('.SH'):
            if found:
                break
            found = ' '.join(macro_args(line[3:])) == name
            continue
        if found:
            out.append(line)
    return out if found else None


def render(lines):
    """Section lines to the plain text troff would print (in no-fill mode)."""
    out = []
    for line in lines:
        if line.startswith('.\\"') or line.startswith("'\\\""):
            continue
        if line.startswith('.') or line.startswith("'"):
            m = re.match(r"^[.'](\S+)\s*(.*)$", line)
            if not m:
                continue
            req, rest = m.group(1), m.group(2)
            if req in FONT_JOINED:
                out.append(unescape(''.join(macro_args(rest))))
            elif req in FONT_SPACED:
                out.append(unescape(' '.join(macro_args(rest))))
            elif req in IGNORED:
                out.append('')
            else:
                raise ValueError('unexpected request .%s in %r' % (req, line))
            continue
        out.append(unescape(line))
    return '\n'.join(out)


def examples(text):
    """The .EX ... .EE blocks of a page as (line number, C text, mode). The
    mode comes from a comment on the line before .EX, `.\\" example: MODE`:
    "run" (compile, link and run: must exit 0, or 77 to skip), or "" when
    there is none (compile and link only)."""
    blocks, cur, start, mode, prev = [], None, 0, '', ''
    for no, line in enumerate(text.splitlines(), 1):
        if line.startswith('.EX'):
            m = re.match(r'^\.\\"\s*example:\s*(\w+)\s*$', prev)
            cur, start, mode = [], no + 1, m.group(1) if m else ''
            continue
        prev = line
        if line.startswith('.EE'):
            if cur is not None:
                blocks.append((start, '\n'.join(cur) + '\n', mode))
            cur = None
            continue
        if cur is None:
            continue
        if line.startswith('.\\"'):
            continue
        if line.startswith('.') or line.startswith("'"):
            raise ValueError('line %d: troff request inside .EX: %r' % (no, line))
        cur.append(unescape(line))
    return blocks


# ---- C declarations ------------------------------------------------------

def strip_comments(src):
    src = re.sub(r'/\*.*?\*/', ' ', src, flags=re.S)
    return re.sub(r'//[^\n]*', ' ', src)


def normalise(decl):
    """One line, single blanks, no blanks next to ( ) [ ] { } , ; — so that a
    prototype wrapped and tab-aligned in the header equals the same prototype
    on one line in a page, while any change of a type, a name or a '*' does
    not."""
    s = re.sub(r'\s+', ' ', decl).strip()
    s = re.sub(r'\s*([()\[\]{},;])\s*', r'\1', s)
    return s.replace(',', ', ')


def split_decls(src):
    """C text (comments already stripped, no preprocessor lines) to top-level
    declarations, each ending with ';'."""
    decls, cur, depth = [], [], 0
    for ch in src:
        cur.append(ch)
        if ch == '{':
            depth += 1
        elif ch == '}':
            depth -= 1
        elif ch == ';' and depth == 0:
            d = ''.join(cur).strip()
            if d != ';':
                decls.append(d)
            cur = []
    rest = ''.join(cur).strip()
    if rest:
        raise ValueError('text after the last declaration: %r' % rest[:60])
    return decls


def decl_key(norm):
    """What a normalised declaration declares: ('function', name),
    ('struct', name), ('enum', name), ('typedef', name) or ('forward', name)."""
    m = re.match(r'^typedef\b.*\(\*(\w+)\)', norm) or re.match(r'^typedef\b.*\b(\w+);$', norm)
    if norm.startswith('typedef'):
        if not m:
            raise ValueError('cannot parse typedef %r' % norm)
        return ('typedef', m.group(1))
    m = re.match(r'^(struct|enum|union) (\w+)\{', norm)
    if m:
        return (m.group(1), m.group(2))
    m = re.match(r'^(struct|enum|union) (\w+);$', norm)
    if m:
        return ('forward', m.group(2))
    m = re.match(r'^[^(]*?\b(\w+)\(', norm)
    if m:
        return ('function', m.group(1))
    raise ValueError('cannot tell what %r declares' % norm)


def parse_c(src, what):
    """Declarations and #defines of C text: {key: normalised text}."""
    decls, defines, body = {}, {}, []
    skip = 0
    for line in strip_comments(src).splitlines():
        s = line.strip()
        if s.startswith('#'):
            d = re.sub(r'\s+', ' ', s[1:].strip())
            if d.startswith('ifdef __cplusplus'):
                skip += 1
            elif skip and d.startswith('endif'):
                skip -= 1
            elif d.startswith('define ') and not skip:
                m = re.match(r'define (\w+)(?: (.*))?$', d)
                if m.group(2) is not None:
                    defines[m.group(1)] = '#define %s %s' % (m.group(1), m.group(2).strip())
            elif d.startswith('include'):
                pass
            continue
        if not skip:
            body.append(line)
    for d in split_decls('\n'.join(body)):
        n = normalise(d)
        k = decl_key(n)
        if k in decls and k[0] != 'forward':
            raise ValueError('%s: %s %s declared twice' % (what, k[0], k[1]))
        decls[k] = n
    return decls, defines


def parse_synopsis(text):
    """The SYNOPSIS of a page: (includes, declarations {key: text},
    defines {name: text})."""
    lines = section(text, 'SYNOPSIS')
    if lines is None:
        raise ValueError('no SYNOPSIS section')
    plain = render(lines)
    includes, rest = [], []
    for line in plain.splitlines():
        s = line.strip()
        if s.startswith('#include'):
            m = re.match(r'^#include <([^>]+)>$', s)
            if not m:
                raise ValueError('bad include line %r' % s)
            includes.append(m.group(1))
            rest.append('')
        else:
            rest.append(line)
    decls, defines = parse_c('\n'.join(rest), 'SYNOPSIS')
    return includes, decls, defines
