#!/usr/bin/env bash
# After `meson install --destdir D`, a program outside the tree builds with
# `pkg-config --cflags --libs libiopf` alone (shared, and --static), runs
# against the mock kernel, and the shared library exports only versioned
# iopf_* symbols.
#   check-install.sh <builddir> <cc>
set -euo pipefail
build=$1
cc=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

meson install -C "$build" --destdir "$tmp/dest" --no-rebuild --quiet >/dev/null
pc=$(find "$tmp/dest" -name libiopf.pc | head -1)
[ -n "$pc" ] || { echo "libiopf.pc not installed"; exit 1; }
export PKG_CONFIG_SYSROOT_DIR="$tmp/dest" PKG_CONFIG_PATH="$(dirname "$pc")"
so=$(find "$tmp/dest" -name 'libiopf.so.*.*' | head -1)

cp "$(dirname "$0")/installed-prog.c" "$tmp/prog.c"
# shellcheck disable=SC2046
"$cc" -o "$tmp/prog" "$tmp/prog.c" $(pkg-config --cflags --libs libiopf)
LD_LIBRARY_PATH="$(dirname "$so")" "$tmp/prog"
# shellcheck disable=SC2046
"$cc" -static -o "$tmp/prog-static" "$tmp/prog.c" $(pkg-config --static --cflags --libs libiopf)
"$tmp/prog-static"

bad=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVW]$/ { print $3 }' |
	grep -v -E '^iopf_[a-z0-9_]+@@LIBIOPF_0\.[0-9]+$' | grep -v -E '^LIBIOPF_0\.[0-9]+$' || true)
if [ -n "$bad" ]; then
	echo "exported but not versioned iopf_* symbols:"; echo "$bad"; exit 1
fi
n=$(nm -D --defined-only "$so" | grep -c '@@LIBIOPF_0\.')
echo "install: pkg-config builds shared and static; $n versioned iopf_* symbols, nothing else"
