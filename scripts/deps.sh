#!/bin/sh
# SPDX-License-Identifier: MIT
# Install the Debian 12 packages ringrelay needs to build, test and run, and only those that
# are missing. Extra groups: `deps.sh bench` adds what perf/ needs.
set -eu

PKGS="gcc make pkg-config clang llvm bpftool libbpf-dev liburing-dev libnl-3-dev
libnl-route-3-dev libnl-genl-3-dev libconfig-dev libsystemd-dev libcmocka-dev libcap-ng-dev libclang-rt-14-dev
iproute2 socat procps
python3 ethtool prometheus systemd"
[ "${1:-}" = bench ] && PKGS="$PKGS dpdk dpdk-dev gnuplot-nox jq linux-perf"

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
