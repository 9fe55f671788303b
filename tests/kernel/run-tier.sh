#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# run-tier.sh: the real-kernel test tier, as meson's `kernel` suite runs it.
#
#   tests/kernel/run-tier.sh [options] <vm_timeout_seconds> [prog...]
#
# One run is one kernel of the matrix (--kernel VERSION: 6.12, the default, or 7.3); meson
# has one test per kernel (kernel-6.12, kernel-7.3). IOPF_KERNELS (space or comma
# separated versions, default "6.12 7.3") picks a subset: a kernel not in it is a skip.
# The last line is the summary `kernel VERSION: N passed, N failed[, N skipped]`, one count
# per program (a skipped tier counts every program as skipped).
#
# 1. Checks the prerequisites. Outside CI (CI != "true") a missing one makes the tier a
#    skip (exit 77) with a message saying how to enable it; in CI, or with --require
#    (meson -Dkernel-tests=enabled), it is installed with apt-get when running as root,
#    and a failure (exit 1) otherwise, never a skip.
# 2. build-kernel.sh: the test kernel and its uapi headers (cached; minutes when cold).
# 3. Compiles the --kprog programs against those headers (they cannot be built by meson
#    at configure/build time: the headers only exist once the kernel is built).
# 4. run-vm.sh: boots the kernel under qemu and runs every program; its summary line and
#    exit status are the tier's.
#
# Programs, run in command-line order:
#   prog...                    static executables built elsewhere (meson), run as they are
#   --kprog NAME:SRC[,SRC...]  compiled here as
#                              $CC -static <CFLAGS> -I<cache>/hdr/include -I<this dir>
#                                  [-I<--include dirs>] -o <workdir>/NAME SRC... kt-helper.c
#                                  [--link args]
#                              i.e. with the kernel's own linux/iommufd.h and iommufd_test.h,
#                              and kt-helper.c always linked in.
# Options:
#   --workdir DIR   where --kprog programs are built (default ./kernel-tier)
#   --include DIR   extra include directory for --kprog programs (repeatable)
#   --link ARG      extra link argument for --kprog programs, after the sources
#                   (repeatable; e.g. /path/libiopf.a, -l:liburing.a)
#   --require       missing prerequisites fail instead of skipping (implied by CI=true)
#   --kernel VER    the kernel to build and boot: 6.12 (default) or 7.3
# Environment: CC (default cc), KT_CFLAGS (default: the project's flags, as meson.build
# passes them: "-std=gnu11 -O2 -g -pthread -Wall -Wextra -Wno-unused-parameter -Werror"),
# plus those of build-kernel.sh (IOPF_KERNEL_*) and run-vm.sh (IOPF_VM_*). The console
# log goes to <workdir>/console.log unless IOPF_VM_LOG says otherwise.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

log() { printf 'run-tier: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}
usage() {
	echo "usage: $0 [--workdir DIR] [--include DIR]... [--link ARG]... [--require]" \
		"<vm_timeout_seconds> [--kprog NAME:SRC[,SRC...] | prog]..." >&2
	exit 2
}

workdir=$PWD/kernel-tier
version=6.12
require=0
[[ ${CI:-} == true ]] && require=1
includes=()
links=()
kprogs=()  # NAME:SRC,... in order
entries=() # k:<index into kprogs> or p:<path>, in command-line order
timeout=""
while (($#)); do
	case $1 in
	--workdir)
		(($# >= 2)) || usage
		workdir=$2
		shift 2
		;;
	--include)
		(($# >= 2)) || usage
		includes+=("-I$2")
		shift 2
		;;
	--link)
		(($# >= 2)) || usage
		links+=("$2")
		shift 2
		;;
	--kprog)
		(($# >= 2)) || usage
		[[ $2 =~ ^[A-Za-z0-9._+-]+:.+$ ]] || die "--kprog wants NAME:SRC[,SRC...], got '$2'"
		entries+=("k:${#kprogs[@]}")
		kprogs+=("$2")
		shift 2
		;;
	--require)
		require=1
		shift
		;;
	--kernel)
		(($# >= 2)) || usage
		[[ $2 == 6.12 || $2 == 7.3 ]] || die "--kernel wants 6.12 or 7.3, got '$2'"
		version=$2
		shift 2
		;;
	-h | --help) usage ;;
	-*) die "unknown option $1" ;;
	*)
		if [[ -z $timeout ]]; then
			[[ $1 =~ ^[1-9][0-9]*$ ]] || die "timeout must be a number of seconds, got '$1'"
			timeout=$1
		else
			entries+=("p:$1")
		fi
		shift
		;;
	esac
done
[[ -n $timeout ]] || usage
((${#entries[@]})) || die "no test programs given"

# A skip of the whole tier: every program counts as skipped on this kernel.
skip_tier() {
	echo "SKIP: kernel $version: $1"
	echo "kernel $version: 0 passed, 0 failed, ${#entries[@]} skipped"
	exit 77
}

selected=0
for k in ${IOPF_KERNELS:-6.12 7.3}; do
	k=${k//,/ }
	for kk in $k; do [[ $kk == "$version" ]] && selected=1; done
done
((selected)) || skip_tier "not in IOPF_KERNELS (${IOPF_KERNELS:-})"

tarball=${IOPF_KERNEL_TARBALL:-/usr/src/linux-source-$version.tar.xz}

# ---- prerequisites: skip (77) outside CI, fail in CI ---------------------------------
have_cached_kernel=0
if "$here/build-kernel.sh" --cached-only "$version" >/dev/null 2>&1; then
	have_cached_kernel=1
fi
missing=()
pkgs=()
if ! command -v qemu-system-x86_64 >/dev/null; then
	missing+=("qemu-system-x86_64")
	pkgs+=(qemu-system-x86)
fi
if ! { [[ -x /bin/busybox ]] && ! LC_ALL=C readelf -l /bin/busybox 2>/dev/null | grep -q 'program interpreter'; }; then
	missing+=("a static busybox (/bin/busybox)")
	pkgs+=(busybox-static)
fi
cache_root=${IOPF_KERNEL_CACHE:-/var/cache/libiopf-kernel}
if ((!have_cached_kernel)) && [[ ! -r $tarball ]]; then
	if [[ $version == 6.12 ]]; then
		missing+=("the kernel source $tarball (and no cached test kernel)")
		pkgs+=(linux-source-6.12)
	elif [[ -z ${IOPF_KERNEL_TARBALL:-} && -r $cache_root/src/$version/linux-source-$version.tar.xz ]]; then
		: # fetched by an earlier build-kernel.sh run
	elif [[ -n ${IOPF_KERNEL_TARBALL:-} ]]; then
		missing+=("the kernel source $tarball (IOPF_KERNEL_TARBALL)")
	elif ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
		# build-kernel.sh fetches linux-source-7.3 itself, with apt-get download.
		missing+=("apt-get and dpkg-deb, to fetch linux-source-$version (and no cached test kernel)")
	fi
fi
if ((!have_cached_kernel)) && ((require == 0)) && [[ $(id -u) -ne 0 ]]; then
	if ! { mkdir -p "$cache_root" 2>/dev/null && [[ -w $cache_root ]]; }; then
		missing+=("a writable kernel cache ($cache_root; set IOPF_KERNEL_CACHE)")
	fi
fi
# Where the tier is required and we are root, install what is missing, as build-kernel.sh
# does for its own tools (Debian package names; apt only).
if ((${#missing[@]} && require)) && [[ $(id -u) -eq 0 && ${#pkgs[@]} -eq ${#missing[@]} ]] &&
	command -v apt-get >/dev/null; then
	log "installing ${pkgs[*]}"
	export DEBIAN_FRONTEND=noninteractive
	if { apt-get install -y --no-install-recommends "${pkgs[@]}" ||
		{ apt-get update && apt-get install -y --no-install-recommends "${pkgs[@]}"; }; } >&2; then
		missing=()
	fi
fi
if ((${#missing[@]})); then
	log "the real-kernel tier needs:"
	printf '  - %s\n' "${missing[@]}" >&2
	hint="to enable it:"
	if ((${#pkgs[@]})); then
		hint+=" as root, apt-get install --no-install-recommends ${pkgs[*]}"
		hint+=" build-essential flex bison bc libelf-dev libssl-dev cpio;"
	else
		hint+=" run once as root (the kernel build caches in /var/cache/libiopf-kernel) or set IOPF_KERNEL_CACHE;"
	fi
	hint+=" or run the whole CI locally with: bash .ci/run"
	if ((require)); then
		log "$hint"
		log "error: prerequisites missing and the tier is required (CI=true or -Dkernel-tests=enabled)"
		echo "kernel $version: 0 passed, ${#entries[@]} failed"
		exit 1
	fi
	log "$hint"
	skip_tier "kernel tier prerequisites missing"
fi

# ---- the kernel ----------------------------------------------------------------------
start=$SECONDS
fail_tier() {
	log "error: $*"
	echo "kernel $version: 0 passed, ${#entries[@]} failed"
	exit 1
}
cachedir=$("$here/build-kernel.sh" "$version") || fail_tier "build-kernel.sh $version failed"
[[ -s $cachedir/bzImage && -d $cachedir/hdr/include ]] || die "build-kernel.sh gave no usable cache directory ('$cachedir')"
log "kernel ready in $((SECONDS - start))s: $cachedir"

# ---- programs that need the kernel's headers --------------------------------------------
mkdir -p "$workdir"
read -r -a cc <<<"${CC:-cc}"
read -r -a cflags <<<"${KT_CFLAGS:--std=gnu11 -O2 -g -pthread -Wall -Wextra -Wno-unused-parameter -Werror}"
progs=()
for entry in "${entries[@]}"; do
	if [[ $entry == p:* ]]; then
		progs+=("${entry#p:}")
		continue
	fi
	spec=${kprogs[${entry#k:}]}
	name=${spec%%:*}
	IFS=, read -r -a srcs <<<"${spec#*:}"
	objs=()
	for s in "${srcs[@]}"; do
		[[ -f $s ]] || die "--kprog $name: no source $s"
		[[ $(basename "$s") == kt-helper.c ]] || objs+=("$s")
	done
	out=$workdir/$name
	log "compiling $name"
	"${cc[@]}" -static "${cflags[@]}" -I"$cachedir/hdr/include" -I"$here" "${includes[@]}" \
		-o "$out" "${objs[@]}" "$here/kt-helper.c" "${links[@]}" ||
		fail_tier "compiling $name for $version failed"
	progs+=("$out")
done

# ---- the VM ---------------------------------------------------------------------------
export IOPF_VM_LOG=${IOPF_VM_LOG:-$workdir/console.log}
export IOPF_VM_KERNEL=$version
exec "$here/run-vm.sh" "$cachedir/bzImage" "$timeout" "${progs[@]}"
