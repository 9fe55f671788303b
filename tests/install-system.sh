#!/usr/bin/env bash
# tests/install-system.sh <builddir> [--check]: installs the built library to its
# prefix (/usr/local by default) as a user would (meson install, ldconfig, mandb), so
# that `man libiopf` and programs built with pkg-config work. With --check it then
# proves that: a program built from `pkg-config --cflags --libs libiopf` alone runs
# with no LD_LIBRARY_PATH, and `man libiopf` / `man 3 iopf_queue_new` find the pages.
# Needs root (or sudo).
set -euo pipefail
build=$1
check=${2:-}
sudo=
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "install-system: needs root (or sudo)" >&2; exit 1; }
	sudo=sudo
fi
$sudo meson install -C "$build" --quiet --no-rebuild >/dev/null
$sudo ldconfig
# man-db's index: without it `man` still finds the pages, but apropos/whatis do not.
command -v mandb >/dev/null && $sudo mandb -q 2>/dev/null || true
[ "$check" = --check ] || exit 0

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$(dirname "$0")/unit/installed-prog.c" "$tmp/prog.c"
# shellcheck disable=SC2046
cc -Wall -Wextra -Werror -o "$tmp/prog" "$tmp/prog.c" $(pkg-config --cflags --libs libiopf)
env -u LD_LIBRARY_PATH "$tmp/prog"
for page in "libiopf" "3 iopf_queue_new"; do
	# shellcheck disable=SC2086
	w=$(man -w $page 2>&1) || { echo "install-system: man $page: $w" >&2; exit 1; }
	# shellcheck disable=SC2086
	MANPAGER=cat MANWIDTH=80 man $page 2>/dev/null | grep -q . ||
		{ echo "install-system: man $page prints nothing" >&2; exit 1; }
	echo "man $page: $w"
done
