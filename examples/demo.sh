#!/usr/bin/env bash
# The README's first command: install, build, and run the demo fault handler on
# the library's built-in mock kernel (no kernel support, no root needed to run).
set -euo pipefail
cd "$(dirname "$0")/.."
./tests/install-deps.sh build
[ -d build-demo ] || meson setup build-demo -Dtests=false -Ddocs=true -Dbench=false -Dkernel-tests=disabled
ninja -C build-demo
# Installed to /usr/local (meson install, ldconfig, mandb): `man libiopf` works next,
# and so does a program built with `pkg-config --cflags --libs libiopf`.
./tests/install-system.sh build-demo
./build-demo/examples/iopf-demand-paging --groups 1000 "$@"
