#!/usr/bin/env bash
# The README's first command: install, build, and run the demo fault handler on
# the library's built-in mock kernel (no kernel support, no root needed to run).
set -euo pipefail
cd "$(dirname "$0")/.."
./tests/install-deps.sh build
[ -d build-demo ] || meson setup build-demo -Dtests=false -Ddocs=false -Dbench=false -Dkernel-tests=disabled
ninja -C build-demo
./build-demo/examples/iopf-demand-paging --faults 1000 "$@"
