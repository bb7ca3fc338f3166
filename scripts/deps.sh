#!/bin/sh
# SPDX-License-Identifier: MIT
# Install the Debian 12 packages of the named groups that are missing (as root; otherwise
# say which are missing and how to install them).
#
#   scripts/deps.sh [GROUP...]      default: build run
#
#   build  compile ringrelay and ringrelayctl (make)
#   run    run it and try the README's demo (make run)
#   check  the test suite's tools (make check)
#   deb    build and lint the Debian package (make deb, and the package test in make check)
#   bench  perf/'s tools (make bench)
#   kernel qemu and what boots Debian's stock kernel for the tests (make check-kernel)
#
# promtool: the tests check /metrics with python3-prometheus-client's parser plus the
# promlint rules (tests/tools/promlint.py), not with the 96 MB `prometheus` server, the
# only Debian 12 package that ships promtool. When promtool is installed anyway, the tests
# use it too.
set -eu

group_build="gcc make pkg-config clang llvm bpftool libbpf-dev liburing-dev libnl-3-dev
libnl-route-3-dev libnl-genl-3-dev libconfig-dev libsystemd-dev libcap-ng-dev bash-completion"
group_run="iproute2 procps socat"
group_check="libcmocka-dev libclang-rt-14-dev python3 python3-prometheus-client ethtool systemd
util-linux gdb strace nftables"
group_deb="build-essential dpkg-dev debhelper fakeroot lintian"
group_bench="dpdk dpdk-dev ethtool gnuplot-nox jq linux-perf"
group_kernel="qemu-system-x86 busybox-static cpio kmod"

[ $# -eq 0 ] && set -- build run
PKGS=""
for g in "$@"; do
	case $g in
	build) PKGS="$PKGS $group_build" ;;
	run) PKGS="$PKGS $group_run" ;;
	check) PKGS="$PKGS $group_check" ;;
	deb) PKGS="$PKGS $group_deb" ;;
	bench) PKGS="$PKGS $group_bench" ;;
	kernel) PKGS="$PKGS $group_kernel" ;;
	*)
		echo "deps: unknown group '$g' (build, run, check, deb, bench, kernel)" >&2
		exit 2
		;;
	esac
done

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "deps: missing Debian packages:$missing" >&2
	echo "deps: run 'sudo make deps' (or: sudo apt-get install$missing)" >&2
	exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
