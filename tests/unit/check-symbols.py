#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The version script against the headers and the built library.

Every iopf_* function declared in the public headers must be listed in the
version script, and every name listed there must be declared; the shared
library must export exactly those names, each with the version of the node
that lists it (LIBIOPF_0.1, LIBIOPF_0.2 inheriting it, ...), and nothing else
(no stray global symbol, no internal helper). A name listed in two nodes, or a
node that inherits from none of the earlier ones, is an error.

usage: check-symbols.py libiopf.h libiopf/mock.h libiopf.map libiopf.so
"""
import re
import subprocess
import sys

VERSION = "LIBIOPF_0.1"  # the first node; later ones inherit from it


def declared(path):
    """Function names declared in a header: iopf_x( outside comments."""
    text = open(path, encoding="utf-8").read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    # Drop preprocessor lines (a macro could look like a call).
    text = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#"))
    names = set()
    for m in re.finditer(r"\b(iopf_[A-Za-z0-9_]+)\s*\(", text):
        # `(*iopf_handler_fn)(`: a function pointer typedef, not a function.
        before = text[: m.start()].rstrip()
        if before.endswith("(*"):
            continue
        names.add(m.group(1))
    return names


def mapped(path):
    """Names in the version script's global: sections, by node."""
    text = open(path, encoding="utf-8").read()
    text = re.sub(r"#[^\n]*", " ", text)
    nodes = {}
    parents = {}
    for m in re.finditer(r"([\w.]+)\s*\{(.*?)\}\s*([\w.]*)\s*;", text, flags=re.S):
        node, body = m.group(1), m.group(2)
        parents[node] = m.group(3)
        glob = re.search(r"global:(.*?)(local:|$)", body, flags=re.S)
        names = set()
        if glob:
            names = {n.strip() for n in glob.group(1).split(";") if n.strip()}
        nodes[node] = names
    return nodes, parents


def exported(lib):
    out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True,
                         capture_output=True, text=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        kind, sym = parts[1], parts[2]
        name, _, ver = sym.partition("@")
        ver = ver.lstrip("@")
        syms[name] = (kind, ver)
    return syms


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    hdr, mock_hdr, mapfile, lib = sys.argv[1:]
    errors = []

    decl = declared(hdr) | declared(mock_hdr)
    if len(decl) < 10:
        errors.append(f"only {len(decl)} functions found in the headers: the parser is broken")
    nodes, parents = mapped(mapfile)
    if VERSION not in nodes:
        errors.append(f"{mapfile}: no {VERSION} node")
    order = list(nodes)
    for i, node in enumerate(order):
        if i == 0 and parents[node]:
            errors.append(f"{mapfile}: the first node {node} inherits from {parents[node]}")
        if i > 0 and parents[node] != order[i - 1]:
            errors.append(f"{mapfile}: {node} inherits from '{parents[node]}', not {order[i - 1]}")
    version_of = {}
    for node in order:
        for n in nodes[node]:
            if n in version_of:
                errors.append(f"{mapfile}: {n} is listed in {version_of[n]} and {node}")
            version_of.setdefault(n, node)
    listed = set(version_of)
    for n in sorted(listed):
        if not n.startswith("iopf_"):
            errors.append(f"{mapfile}: {n} is not an iopf_ name")

    for n in sorted(decl - listed):
        errors.append(f"declared but not in {mapfile}: {n}")
    for n in sorted(listed - decl):
        errors.append(f"in {mapfile} but declared in no public header: {n}")

    syms = exported(lib)
    for name, (kind, ver) in sorted(syms.items()):
        if kind == "A" and name in nodes:
            continue  # a version node itself
        if name not in listed:
            errors.append(f"{lib}: exports {name} ({kind}) that the map does not list")
        elif ver != version_of[name]:
            errors.append(f"{lib}: {name} has version '{ver}', not {version_of[name]}")
        elif kind not in ("T", "W", "i"):
            errors.append(f"{lib}: {name} is a {kind} symbol, not a function")
    for n in sorted(listed - set(syms)):
        errors.append(f"{lib}: {n} is listed in the map but not exported")
    for node in order:
        if node not in syms:
            errors.append(f"{lib}: no {node} version node")

    for e in errors:
        print(e)
    if not errors:
        per = ", ".join(f"{len(nodes[n])} as {n}" for n in order)
        print(f"{len(decl)} functions: declared, listed and exported ({per})")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
