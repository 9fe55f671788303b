#!/usr/bin/env bash
# Installs what libiopf needs on Debian bookworm: `build` (library, demo),
# `test` (every test tier). Runs apt-get only for what is missing, so a second
# run is quick. Needs root, or sudo.
set -euo pipefail

what=${1:-test}
pkgs=(build-essential meson ninja-build pkg-config liburing-dev man-db)
if [ "$what" = test ]; then
	pkgs+=(libcmocka-dev python3 mandoc groff-base valgrind g++
	       clang libclang-rt-14-dev clang-tidy cppcheck
	       linux-source-6.12 qemu-system-x86 busybox-static
	       bc flex bison libelf-dev libssl-dev cpio xz-utils kmod)
fi

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "install-deps: need root to install: ${missing[*]}" >&2; exit 1; }
	sudo=sudo
fi
echo "install-deps: installing ${missing[*]}" >&2
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
