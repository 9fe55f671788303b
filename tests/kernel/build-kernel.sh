#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# build-kernel.sh: build (or reuse) a test kernel of the real-kernel tier.
#
#   tests/kernel/build-kernel.sh [--cached-only] [VERSION]
#
# VERSION is 6.12 (the default) or 7.3. The kernel is Debian's linux-source-VERSION
# tarball configured as `make tinyconfig` plus kernel.config (beside this script: the
# part common to every version, iommufd with CONFIG_IOMMUFD_TEST, the kernel's own mock
# IOMMU which produces IO page faults on request) plus kernel-VERSION.config (the lines
# only that version has), with the test-only patches patches/VERSION/*.patch applied to
# the selftest driver (see README.md).
#
# Where the source comes from: 6.12 is bookworm-security's linux-source-6.12
# (/usr/src/linux-source-6.12.tar.xz, installed with apt-get when missing and root).
# 7.3 is linux-source-7.3 of the suite trixie-backports of the same Debian archive the
# machine uses (URI read from /etc/apt/sources.list.d/*.sources or sources.list). It is
# fetched WITHOUT touching the machine's apt configuration: a private sources file and
# private lists/cache under <cache root>/src/7.3/, `apt-get download`, then the tarball
# is taken out of the .deb with dpkg-deb. The .deb and tarball stay there for the next run.
#
# Output: on success, ONLY the cache directory is printed on stdout. It holds
#   bzImage            the kernel to boot
#   hdr/include/       the sanitized uapi headers of that kernel (as make headers_install),
#                      plus iommufd_test.h (IOMMU_TEST_CMD), for `cc -I<dir>/hdr/include`
#   .config            the final configuration
#   stamp              written last, atomically: the directory is valid only if it exists
# Everything else (progress, the build log's tail on failure) goes to stderr; during the
# build a progress line (elapsed time, objects built, last step of the log) is printed at
# least every 20 s. The full log of a build is <cache root>/<name>.log.
#
# Cache: ${IOPF_KERNEL_CACHE:-/var/cache/libiopf-kernel}/<kernelversion>-<hash>, where hash
# is the first 16 hex digits of sha256(VERSION, kernel.config, kernel-VERSION.config,
# patches/VERSION/*.patch, build-kernel.sh): editing any of them makes the next run
# rebuild. The build happens in a temporary tree under the cache root (never in /usr/src
# or the source checkout) and is removed afterwards. Concurrent runs serialize on
# <cache root>/.lock (flock).
#
# --cached-only: do not build, install, fetch or extract anything; print the cache
# directory and exit 0 if a valid cached kernel for this configuration exists, exit 1
# otherwise.
#
# Environment:
#   IOPF_KERNEL_CACHE     cache root (default /var/cache/libiopf-kernel)
#   IOPF_KERNEL_TARBALL   kernel source tarball for VERSION (default: see above);
#                         it must hold a single top directory named like the file
#   IOPF_KERNEL_VERBOSE=1 stream the build output to stderr as well as to the log
#   IOPF_KERNEL_KEEP_BUILD=1 keep the temporary build tree (for debugging)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
self=$here/build-kernel.sh
cache_root=${IOPF_KERNEL_CACHE:-/var/cache/libiopf-kernel}
verbose=${IOPF_KERNEL_VERBOSE:-0}
keep_build=${IOPF_KERNEL_KEEP_BUILD:-0}

usage() {
	echo "usage: $0 [--cached-only] [6.12|7.3]" >&2
	exit 2
}
cached_only=0
version=6.12
while (($#)); do
	case $1 in
	--cached-only) cached_only=1 ;;
	6.12 | 7.3) version=$1 ;;
	*) usage ;;
	esac
	shift
done

src_pkg=linux-source-$version
fragments=("$here/kernel.config" "$here/kernel-$version.config")
# Fetched sources (7.3) live here, outside any source tree.
fetch_dir=$cache_root/src/$version
if [[ -n ${IOPF_KERNEL_TARBALL:-} ]]; then
	tarball=$IOPF_KERNEL_TARBALL
elif [[ $version == 6.12 || -r /usr/src/$src_pkg.tar.xz ]]; then
	tarball=/usr/src/$src_pkg.tar.xz
else
	tarball=$fetch_dir/$src_pkg.tar.xz
fi
patches=()
if [[ -d $here/patches/$version ]]; then
	mapfile -t patches < <(find "$here/patches/$version" -maxdepth 1 -name '*.patch' | LC_ALL=C sort)
fi

log() { printf 'build-kernel: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

for f in "${fragments[@]}"; do
	[[ -r $f ]] || die "missing config fragment $f"
done

hash=$({
	printf 'version %s\n' "$version"
	for f in "${fragments[@]}" "${patches[@]}" "$self"; do
		printf '== %s\n' "$(basename "$f")"
		cat "$f"
	done
} | sha256sum | cut -c1-16)

# A cache directory is valid when its stamp exists (written last) and its bzImage too.
valid_cache() { [[ -f $1/stamp && -s $1/bzImage && -d $1/hdr/include ]]; }

# Kernel version (make kernelversion) read from the tarball's top Makefile without
# extracting the tree; --occurrence stops tar at the first match (under a second).
tarball_version() {
	local top makefile
	top=$(basename "$tarball")
	top=${top%.tar.*}
	makefile=$(tar -xJOf "$tarball" --occurrence=1 "$top/Makefile") ||
		die "cannot read $top/Makefile from $tarball"
	awk -F' *= *' '
		$1 == "VERSION" { v = $2 } $1 == "PATCHLEVEL" { p = $2 }
		$1 == "SUBLEVEL" { s = $2 } $1 == "EXTRAVERSION" { e = $2 }
		/^# *\*DOCUMENTATION\*/ { exit }
		END { if (v == "") exit 1; printf "%s.%s.%s%s\n", v, p, s, e }' <<<"$makefile" ||
		die "no kernel version in $top/Makefile of $tarball"
}

# Without the tarball (e.g. linux-source-6.12 removed after a build) a cached kernel for
# this configuration is still good: take the newest one with the same hash.
find_cached_any_version() {
	local d best=""
	for d in "$cache_root"/*-"$hash"; do
		valid_cache "$d" || continue
		if [[ -z $best || $d/stamp -nt $best/stamp ]]; then
			best=$d
		fi
	done
	[[ -n $best ]] && printf '%s\n' "$best"
}

if [[ -r $tarball ]]; then
	kver=$(tarball_version)
	cachedir=$cache_root/$kver-$hash
	if valid_cache "$cachedir"; then
		log "cache hit: $cachedir"
		printf '%s\n' "$cachedir"
		exit 0
	fi
elif cachedir=$(find_cached_any_version); then
	log "cache hit (no source tarball at $tarball): $cachedir"
	printf '%s\n' "$cachedir"
	exit 0
fi

if ((cached_only)); then
	log "no cached kernel for this configuration (hash $hash) under $cache_root"
	exit 1
fi

# ---- prerequisites ---------------------------------------------------------------
# command or file -> Debian package providing it
declare -A need=(
	[gcc]=build-essential [make]=build-essential [flex]=flex [bison]=bison [bc]=bc
	[perl]=perl [xz]=xz-utils [cpio]=cpio [flock]=util-linux
	[/usr/include/gelf.h]=libelf-dev [/usr/include/openssl/opensslv.h]=libssl-dev
)
missing_pkgs=()
for item in "${!need[@]}"; do
	if [[ $item == /* ]]; then
		[[ -e $item ]] && continue
	else
		command -v "$item" >/dev/null 2>&1 && continue
	fi
	missing_pkgs+=("${need[$item]}")
done
[[ -r $tarball || $version != 6.12 ]] || missing_pkgs+=("$src_pkg")
[[ -n ${IOPF_KERNEL_TARBALL:-} || $version == 6.12 ]] || command -v dpkg-deb >/dev/null 2>&1 ||
	missing_pkgs+=(dpkg)
if ((${#missing_pkgs[@]})); then
	mapfile -t missing_pkgs < <(printf '%s\n' "${missing_pkgs[@]}" | sort -u)
	if [[ $(id -u) -ne 0 ]]; then
		die "missing build prerequisites; as root run: apt-get install --no-install-recommends ${missing_pkgs[*]}"
	fi
	log "installing: ${missing_pkgs[*]}"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y --no-install-recommends "${missing_pkgs[@]}" >&2; then
		log "apt-get install failed; refreshing the package lists and retrying"
		apt-get update >&2
		apt-get install -y --no-install-recommends "${missing_pkgs[@]}" >&2
	fi
	if [[ $version == 6.12 ]]; then
		[[ -r $tarball ]] || die "$tarball still missing after installing $src_pkg"
		kver=$(tarball_version)
		cachedir=$cache_root/$kver-$hash
	fi
fi

# The archive URI the machine's own apt uses (first non-security deb entry).
archive_uri() {
	local f uri
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -r $f ]] || continue
		uri=$(awk '
			/^[ \t]*$/ { if (u != "" && s !~ /security/) { print u; exit } u = ""; s = ""; next }
			tolower($1) == "uris:" { u = $2 }
			tolower($1) == "suites:" { $1 = ""; s = $0 }
			END { if (u != "" && s !~ /security/) print u }' "$f" | head -n1)
		[[ -n $uri ]] && { printf '%s\n' "$uri"; return; }
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -r $f ]] || continue
		uri=$(awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
			if ($(i + 1) !~ /security/) { print $i; exit } }' "$f")
		[[ -n $uri ]] && { printf '%s\n' "$uri"; return; }
	done
	printf '%s\n' http://deb.debian.org/debian
}

# linux-source-7.3 from trixie-backports, with private apt state under $fetch_dir.
fetch_source() {
	local uri deb apt_opts
	mkdir -p "$fetch_dir/lists/partial" "$fetch_dir/cache/archives/partial" ||
		die "cannot create $fetch_dir"
	uri=$(archive_uri)
	printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s trixie-backports main\n' \
		"$uri" >"$fetch_dir/sources.list"
	apt_opts=(-o "Dir::Etc::sourcelist=$fetch_dir/sources.list" -o Dir::Etc::sourceparts=/dev/null
		-o "Dir::State::Lists=$fetch_dir/lists" -o "Dir::Cache=$fetch_dir/cache"
		-o Dir::State::status=/var/lib/dpkg/status -o APT::Sandbox::User=root)
	log "fetching $src_pkg from $uri trixie-backports (private apt state in $fetch_dir)"
	apt-get "${apt_opts[@]}" update >&2 || die "apt-get update of trixie-backports failed"
	rm -f "$fetch_dir"/*.deb
	(cd "$fetch_dir" && apt-get "${apt_opts[@]}" download "$src_pkg") >&2 ||
		die "apt-get download $src_pkg failed"
	deb=$(find "$fetch_dir" -maxdepth 1 -name "${src_pkg}_*.deb" | head -n1)
	[[ -n $deb ]] || die "no $src_pkg .deb in $fetch_dir after the download"
	rm -rf "$fetch_dir/x"
	dpkg-deb -x "$deb" "$fetch_dir/x" || die "dpkg-deb -x $deb failed"
	mv "$fetch_dir/x/usr/src/$src_pkg.tar.xz" "$tarball.tmp" || die "$deb has no usr/src/$src_pkg.tar.xz"
	mv "$tarball.tmp" "$tarball"
	rm -rf "$fetch_dir/x"
	log "fetched $(basename "$deb") -> $tarball"
}

# ---- lock, then look again: another run may have built it while we waited ---------
if ! mkdir -p "$cache_root" 2>/dev/null || [[ ! -w $cache_root ]]; then
	die "cache root $cache_root is not writable; run as root or set IOPF_KERNEL_CACHE to a writable directory"
fi
exec 9>"$cache_root/.lock"
if ! flock -n 9; then
	log "waiting for another build (lock $cache_root/.lock)"
	flock 9
fi
if [[ ! -r $tarball ]]; then
	[[ $tarball == "$fetch_dir/$src_pkg.tar.xz" ]] || die "kernel source tarball $tarball not readable"
	fetch_source
fi
kver=$(tarball_version)
cachedir=$cache_root/$kver-$hash
if valid_cache "$cachedir"; then
	log "cache hit (built by a concurrent run): $cachedir"
	printf '%s\n' "$cachedir"
	exit 0
fi

# Holding the lock, no other build runs: trees left by killed runs can go.
rm -rf "$cache_root"/build.*

name=$(basename "$cachedir")
logfile=$cache_root/$name.log
builddir=$(mktemp -d "$cache_root/build.XXXXXX")
cleanup() {
	if [[ $keep_build == 1 ]]; then
		log "keeping build tree $builddir"
	else
		rm -rf "$builddir"
	fi
}
trap cleanup EXIT

: >"$logfile"
# run <step description> <command...>: output to the log (and stderr if verbose); on
# failure show the log's tail and stop.
run() {
	local what=$1 rc=0
	shift
	log "$what"
	printf '\n### %s: %s\n' "$what" "$*" >>"$logfile"
	if [[ $verbose == 1 ]]; then
		"$@" 2>&1 | tee -a "$logfile" >&2 || rc=$?
	else
		"$@" >>"$logfile" 2>&1 || rc=$?
	fi
	if ((rc)); then
		tail -n 60 "$logfile" >&2
		die "$what failed (exit $rc); full log: $logfile"
	fi
}

start=$SECONDS
log "building Linux $kver with kernel.config + kernel-$version.config and ${#patches[@]} patch(es) (hash $hash) in $builddir; log: $logfile"
# Progress: a line at least every 20 s, so a terminal is never silent for minutes.
# (errexit and pipefail off in it: a find racing the build, or no match yet, must not end it)
ticker() {
	local last objs
	set +e +o pipefail
	while sleep 20; do
		objs=$(find "$builddir" -name '*.o' 2>/dev/null | wc -l)
		last=$(grep -E '^ +(CC|LD|AR|AS|GEN|HOSTCC|UPD|OBJCOPY)|^### ' "$logfile" 2>/dev/null | tail -n1 | tr -s ' ')
		log "  ... $((SECONDS - start))s, $objs objects built; last: ${last:-(starting)}"
	done
}
ticker &
ticker_pid=$!
trap 'kill "$ticker_pid" 2>/dev/null; cleanup' EXIT
run "extracting $(basename "$tarball")" tar -xJf "$tarball" -C "$builddir"
top=$(basename "$tarball")
ksrc=$builddir/${top%.tar.*}
[[ -f $ksrc/Makefile ]] || die "$tarball has no top directory ${top%.tar.*}"
cd "$ksrc"
for p in "${patches[@]}"; do
	run "applying patches/$version/$(basename "$p")" patch -p1 --forward --batch -i "$p"
done

run "make tinyconfig" make tinyconfig
run "merging kernel.config kernel-$version.config" scripts/kconfig/merge_config.sh -m .config "${fragments[@]}"
run "make olddefconfig" make olddefconfig

# Every option the fragment sets must have survived olddefconfig: Kconfig silently drops
# an option whose dependencies are not met.
bad=()
nopts=0
for fragment in "${fragments[@]}"; do
	while IFS= read -r line; do
		if [[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]]; then
			nopts=$((nopts + 1))
			grep -qxF -- "$line" .config || bad+=("$line (got: $(grep -E "^(# )?${BASH_REMATCH[1]}[= ]" .config || echo unset))")
		elif [[ $line =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set$ ]]; then
			if grep -qE "^${BASH_REMATCH[1]}=" .config; then
				bad+=("$line (got: $(grep -E "^${BASH_REMATCH[1]}=" .config))")
			fi
		fi
	done <"$fragment"
done
if ((${#bad[@]})); then
	log "options of kernel.config / kernel-$version.config not in the final .config:"
	printf '  %s\n' "${bad[@]}" >&2
	die "kernel configuration incomplete (missing dependency in the fragments?)"
fi
log "all $nopts options of kernel.config + kernel-$version.config are set"

run "make -j$(nproc) bzImage" make -j"$(nproc)" bzImage

out=$builddir/out
mkdir -p "$out"
# What `make headers_install INSTALL_HDR_PATH=$out/hdr` does, without its rsync:
# the sanitized headers are generated in usr/include by `make headers`.
run "make headers" make headers
mkdir -p "$out/hdr"
(cd usr && find include -name '*.h' -print0 | cpio -0 -pdm --quiet "$out/hdr") ||
	die "copying the uapi headers failed"
# iommufd_test.h is a uapi-style header kept next to selftest.c, not exported by
# headers_install; it only includes <linux/iommufd.h> and <linux/types.h>.
cp drivers/iommu/iommufd/iommufd_test.h "$out/hdr/include/iommufd_test.h"
cp arch/x86/boot/bzImage "$out/bzImage"
cp .config "$out/.config"

# The headers must be usable as test programs use them: with the C library's headers.
check_c=$builddir/hdrcheck.c
cat >"$check_c" <<'EOF'
#include <stddef.h>
#include <sys/ioctl.h>
#include <linux/iommufd.h>
#include <iommufd_test.h>
_Static_assert(sizeof(struct iommu_hwpt_pgfault) == 40, "iommu_hwpt_pgfault");
_Static_assert(sizeof(struct iommu_hwpt_page_response) == 8, "iommu_hwpt_page_response");
_Static_assert(sizeof(struct iommu_hwpt_alloc) == 48, "iommu_hwpt_alloc");
_Static_assert(offsetof(struct iommu_test_cmd, trigger_iopf.addr) == 32, "trigger_iopf.addr");
int main(void) { return (int)(IOMMU_TEST_CMD + IOMMU_FAULT_QUEUE_ALLOC + IOMMU_TEST_OP_TRIGGER_IOPF); }
EOF
if ((${#patches[@]})); then
	cat >>"$check_c" <<'EOF'
_Static_assert(IOMMU_TEST_OP_TRIGGER_IOPF_FLAGS == 0x101 && IOMMU_TEST_OP_IOPF_RESP_STATS == 0x102, "ops");
_Static_assert(offsetof(struct iommu_test_cmd, trigger_iopf_flags.flags) == 40, "trigger_iopf_flags.flags");
_Static_assert(sizeof(struct iommu_test_cmd) == 72, "iommu_test_cmd");
EOF
fi
run "checking the installed headers compile" gcc -Wall -Werror -fsyntax-only -I"$out/hdr/include" "$check_c"

# Publish: replace any incomplete directory of an interrupted run, then the stamp last.
rm -rf "$cachedir"
mv "$out" "$cachedir"
stamp_tmp=$(mktemp "$cachedir/.stamp.XXXXXX")
{
	printf 'kernel %s\n' "$kver"
	printf 'hash %s\n' "$hash"
	printf 'version %s\n' "$version"
	printf 'tarball %s\n' "$tarball"
	printf 'patches %s\n' "$(cd "$here" && for p in "${patches[@]}"; do basename "$p"; done | tr '\n' ' ')"
	printf 'built %s in %ss\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$((SECONDS - start))"
	printf 'bzImage-sha256 %s\n' "$(sha256sum "$cachedir/bzImage" | cut -d' ' -f1)"
} >"$stamp_tmp"
chmod 0644 "$stamp_tmp"
mv "$stamp_tmp" "$cachedir/stamp"

log "done in $((SECONDS - start))s: $cachedir"
printf '%s\n' "$cachedir"
