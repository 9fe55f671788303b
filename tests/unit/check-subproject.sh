#!/usr/bin/env bash
# As a meson subproject, libiopf builds the library and nothing of its tests,
# examples or benchmark: a parent project with dependency('libiopf') gets a
# handful of targets, not dozens.
#   check-subproject.sh <source dir>
set -euo pipefail
src=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/parent/subprojects"
ln -s "$src" "$tmp/parent/subprojects/libiopf"
cat >"$tmp/parent/meson.build" <<'M'
project('parent', 'c')
dep = dependency('libiopf', fallback: ['libiopf', 'libiopf_dep'])
executable('vmm', 'vmm.c', dependencies: dep)
M
printf '#include <libiopf.h>\nint main(void) { iopf_ctx_free(0); return 0; }\n' >"$tmp/parent/vmm.c"
meson setup "$tmp/build" "$tmp/parent" >"$tmp/setup.log" 2>&1 || { cat "$tmp/setup.log"; exit 1; }
n=$(ninja -C "$tmp/build" -t targets all | grep -cE '^[^ ]+: (c_LINKER|c_STATIC_LINKER|cpp_LINKER)' || true)
ninja -C "$tmp/build" >/dev/null
echo "subproject: $n linked targets in the parent's build"
[ "$n" -le 4 ] || { ninja -C "$tmp/build" -t targets all | grep LINKER; exit 1; }
