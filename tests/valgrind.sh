#!/bin/sh
# meson test --wrap: memcheck with zero errors and zero leaks, or fail.
exec valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible "$@"
