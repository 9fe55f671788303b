#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# run-vm.sh: boot the test kernel under qemu and run static test programs in it.
#
#   tests/kernel/run-vm.sh <bzImage> <timeout_seconds> <prog> [prog...]
#
# Builds a gzip cpio initramfs (static busybox + its applet links, the programs in
# /tests/, and an /init script), boots it with qemu-system-x86_64 (q35, -cpu max, TCG),
# and runs the programs one after the other inside the VM, each in /tmp (a tmpfs) as
# root. The console is streamed to stdout and saved to a log file.
#
# Each program is a pass on exit 0, a skip on exit 77, a failure otherwise. A program
# that does not report (hang, kernel crash, VM timeout) is a failure; so is a kernel
# Oops/BUG/WARNING seen on the console while the tests ran. The last line is the
# summary "kernel LABEL: N passed, N failed[, N skipped]" (LABEL: $IOPF_VM_KERNEL, else the
# release the VM printed). Exit status: 0 if nothing failed, else 1.
#
# Programs must be static executables (there is no C library in the VM) or scripts for
# busybox sh. Their basenames must differ: they name the results.
#
# Environment:
#   IOPF_VM_LOG           console log file (default ./kernel-vm-console.log)
#   IOPF_VM_PROG_TIMEOUT  seconds one program may run (default: the VM timeout minus 30)
#   IOPF_VM_APPEND        extra kernel command line arguments
#   IOPF_VM_QEMU_ARGS     extra qemu arguments (word-split)
#   IOPF_VM_ARGS          arguments passed to every program (word-split)
#   IOPF_VM_KERNEL        the kernel's name in the summary line (run-tier.sh: 6.12 or 7.3)
set -euo pipefail

usage() {
	echo "usage: $0 <bzImage> <timeout_seconds> <prog> [prog...]" >&2
	exit 2
}
(($# >= 3)) || usage
bzimage=$1
vm_timeout=$2
shift 2
if ! [[ $vm_timeout =~ ^[1-9][0-9]*$ ]]; then
	usage
fi

log() { printf 'run-vm: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

[[ -r $bzimage ]] || die "no kernel image $bzimage"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found (apt-get install qemu-system-x86)"
command -v cpio >/dev/null || die "cpio not found (apt-get install cpio)"

console_log=${IOPF_VM_LOG:-./kernel-vm-console.log}
prog_timeout=${IOPF_VM_PROG_TIMEOUT:-$((vm_timeout > 40 ? vm_timeout - 30 : 10))}
[[ $prog_timeout =~ ^[0-9]+$ ]] || die "IOPF_VM_PROG_TIMEOUT must be a number of seconds"

# A static busybox: Debian's busybox-static installs it as /bin/busybox.
busybox=""
for b in /bin/busybox /usr/bin/busybox; do
	if [[ -x $b ]] && ! LC_ALL=C readelf -l "$b" 2>/dev/null | grep -q 'program interpreter'; then
		busybox=$b
		break
	fi
done
[[ -n $busybox ]] || die "no static busybox (apt-get install busybox-static)"

is_static_or_script() {
	local magic
	magic=$(head -c 2 "$1" | od -An -c | tr -d ' ')
	[[ $magic == '#!' ]] && return 0
	LC_ALL=C readelf -h "$1" >/dev/null 2>&1 || return 1
	! LC_ALL=C readelf -l "$1" 2>/dev/null | grep -q 'program interpreter'
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/iopf-vm.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
mkdir -p "$root"/{bin,dev,proc,sys,tmp,tests}

install -m 0755 "$busybox" "$root/bin/busybox"
while IFS= read -r applet; do
	[[ -n $applet && $applet != busybox && ! -e $root/bin/$applet ]] || continue
	ln -s busybox "$root/bin/$applet"
done < <("$busybox" --list)
ln -s bin "$root/sbin"

names=()
for prog in "$@"; do
	[[ -f $prog && -x $prog ]] || die "not an executable file: $prog"
	is_static_or_script "$prog" || die "$prog is not a static executable (link it with -static)"
	name=$(basename "$prog")
	[[ $name =~ ^[A-Za-z0-9._+-]+$ ]] || die "unsupported program name: $name"
	[[ ! -e $root/tests/$name ]] || die "two programs named $name"
	install -m 0755 "$prog" "$root/tests/$name"
	names+=("$name")
done
printf '%s\n' "${names[@]}" >"$root/tests/ORDER"
printf '%s\n' "${IOPF_VM_ARGS:-}" >"$root/tests/ARGS"
printf '%s\n' "$prog_timeout" >"$root/tests/TIMEOUT"

cat >"$root/init" <<'EOF'
#!/bin/sh
# /init of the libiopf kernel-test initramfs (written by tests/kernel/run-vm.sh).
export PATH=/bin HOME=/tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
# CONFIG_DEVTMPFS_MOUNT does not apply to an initramfs root: mount it here.
mount -t devtmpfs devtmpfs /dev 2>/dev/null || grep -q ' /dev devtmpfs' /proc/mounts
mount -t tmpfs tmpfs /tmp
echo "IOPF-VM: Linux $(uname -r), $(grep -c ^processor /proc/cpuinfo) cpus, $(sed -n 's/^MemTotal: *//p' /proc/meminfo)"
if [ ! -c /dev/iommu ]; then
	echo "IOPF-VM-ERROR: /dev/iommu missing (kernel without CONFIG_IOMMUFD?)"
	poweroff -f
fi
t=$(cat /tests/TIMEOUT)
args=$(cat /tests/ARGS)
while read -r name; do
	cd /tmp || exit 1
	echo "IOPF-RUN $name"
	# shellcheck disable=SC2086 # $args is a list of words on purpose
	timeout -k 5 "$t" "/tests/$name" $args </dev/null
	rc=$?
	echo "IOPF-RESULT $name $rc"
done </tests/ORDER
echo "IOPF-DONE"
poweroff -f
EOF
chmod 0755 "$root/init"

initrd=$tmp/initramfs.cpio.gz
(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --quiet) | gzip -1 >"$initrd"

append="console=ttyS0 panic=-1 quiet loglevel=5 ${IOPF_VM_APPEND:-}"
qemu=(qemu-system-x86_64 -machine q35 -accel tcg -cpu max -smp 2 -m 1024
	-nographic -nic none -no-reboot -kernel "$bzimage" -initrd "$initrd" -append "$append")
if [[ -n ${IOPF_VM_QEMU_ARGS:-} ]]; then
	read -r -a extra <<<"$IOPF_VM_QEMU_ARGS"
	qemu+=("${extra[@]}")
fi

log "booting $(basename "$bzimage") with ${#names[@]} program(s), timeout ${vm_timeout}s (${prog_timeout}s per program); console log: $console_log"
start=$SECONDS
qemu_rc=0
# The console goes through tee so that test output is visible while it runs; \r from
# the serial line and the firmware's terminal escapes are dropped (sed -u: unbuffered).
# -k: qemu gets SIGKILL if SIGTERM does not end it.
# --foreground keeps qemu in our process group, so that whoever kills us (meson's own
# test timeout, ^C) kills qemu too.
timeout --foreground -k 10 "$vm_timeout" "${qemu[@]}" </dev/null 2>&1 |
	sed -u -e 's/\r//g' -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1bc//g' | tee "$console_log" ||
	qemu_rc=$?
elapsed=$((SECONDS - start))

# ---- results ---------------------------------------------------------------------
# `timeout` exits 124 when it had to stop qemu; PIPESTATUS is lost after ||, so tell by
# time and by the missing IOPF-DONE.
passed=0 failed=0 skipped=0
report=()
done_seen=0
grep -qE '(^|[^A-Z-])IOPF-DONE$' "$console_log" && done_seen=1
for name in "${names[@]}"; do
	# The marker may follow output of the program that lacked a final newline.
	rc=$(awk -v n="$name" 'match($0, /IOPF-RESULT [^ ]+ [0-9]+$/) {
		split(substr($0, RSTART), f, " ")
		if (f[2] == n)
			r = f[3]
	} END { print r }' "$console_log")
	if [[ -z $rc ]]; then
		failed=$((failed + 1))
		report+=("FAIL $name (no result: VM hung, crashed or timed out)")
		continue
	fi
	case $rc in
	0)
		passed=$((passed + 1))
		report+=("PASS $name")
		;;
	77)
		skipped=$((skipped + 1))
		report+=("SKIP $name")
		;;
	*)
		failed=$((failed + 1))
		if ((rc == 124 || rc == 143 || rc == 137)); then
			report+=("FAIL $name (exit $rc: killed after ${prog_timeout}s)")
		else
			report+=("FAIL $name (exit $rc)")
		fi
		;;
	esac
done

problems=()
if grep -q '^IOPF-VM-ERROR' "$console_log"; then
	problems+=("$(grep '^IOPF-VM-ERROR' "$console_log" | head -n 1)")
fi
if ((!done_seen)); then
	if ((elapsed >= vm_timeout)); then
		problems+=("VM timed out after ${vm_timeout}s without finishing (IOPF-DONE missing)")
	else
		problems+=("VM stopped after ${elapsed}s without finishing (IOPF-DONE missing; qemu/pipe status $qemu_rc): kernel panic or crash?")
	fi
fi
# Kernel problems printed while the tests ran count as a failure even if every program
# passed: libiopf must not be able to make the kernel complain.
# Patterns as the kernel prints them (WARN: "WARNING: CPU: n PID: n at ...").
kproblems=$(grep -nE '(^|\] )(Oops: |BUG: |WARNING: CPU: |Kernel panic|general protection fault|RIP: [0-9a-f]{4}:)' "$console_log" || true)
if [[ -n $kproblems ]]; then
	problems+=("kernel reported problems:")
	while IFS= read -r l; do problems+=("  $l"); done <<<"$kproblems"
fi

if ((${#problems[@]} && failed == 0)); then
	failed=1
	report+=("FAIL vm (see ERROR below)")
fi

echo
echo "=== kernel tier results ($(basename "$bzimage"), ${elapsed}s) ==="
printf '%s\n' "${report[@]}"
((${#problems[@]} == 0)) || printf 'ERROR: %s\n' "${problems[@]}"
label=${IOPF_VM_KERNEL:-$(sed -n 's/^IOPF-VM: Linux \([^ ,]*\).*/\1/p' "$console_log" | head -n1)}
summary="kernel ${label:-unknown}: $passed passed, $failed failed"
((skipped == 0)) || summary+=", $skipped skipped"
echo "$summary"

((failed == 0))
