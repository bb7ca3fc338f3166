#!/bin/bash
# SPDX-License-Identifier: MIT
# Network-namespace test runner: tests/net/run.sh BUILD_DIR
# Runs every executable tests/net/test_*.sh with RINGRELAY, BUILD and SRC set, each under a
# timeout (NET_TEST_TIMEOUT, default 180 s); exit 77 counts as skipped. Prints one line per
# test and "net: N passed, N failed, N skipped"; exits non-zero when anything failed.
# NET_TESTS="forward oversize" limits the run to matching test names, NET_SKIP="hostile"
# leaves matching ones out; NET_RINGRELAY names another daemon binary (make soak: the
# sanitizer build).
here=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$here/../.." && pwd)
BUILD=$(cd "${1:-$SRC/build}" 2>/dev/null && pwd) || BUILD=${1:-$SRC/build}
RINGRELAY=${NET_RINGRELAY:-$BUILD/ringrelay}
# Run a private copy: a rebuild in $BUILD during the run (parallel work, make -j) would
# otherwise replace the binary under running relays (SIGBUS) and fail tests at random.
snap=$(mktemp -d /tmp/ringrelay-net-run.XXXXXX) || exit 1
current=
# Interrupted (Ctrl-C, SIGPIPE from "| head", a CI timeout): remove what the running test
# made, then the copy.
trap 'trap "" PIPE; [ -n "$current" ] && sweep "$current" >/dev/null 2>&1; rm -rf "$snap"' EXIT
trap 'exit 1' INT TERM HUP PIPE
if [ -x "$RINGRELAY" ] && cp "$RINGRELAY" "$snap/ringrelay"; then
	RINGRELAY=$snap/ringrelay
	echo "net: testing ${NET_RINGRELAY:-$BUILD/ringrelay} (run from a private copy)"
fi
export SRC BUILD RINGRELAY
timeout_s=${NET_TEST_TIMEOUT:-180}

tests=()
for t in "$here"/test_*.sh; do
	[ -x "$t" ] || continue
	if [ -n "$NET_TESTS" ]; then
		match=0
		for w in $NET_TESTS; do
			case ${t##*/} in *"$w"*) match=1 ;; esac
		done
		[ $match -eq 1 ] || continue
	fi
	skip_it=0
	for w in $NET_SKIP; do
		case ${t##*/} in *"$w"*) skip_it=1 ;; esac
	done
	[ $skip_it -eq 0 ] || continue
	tests+=("$t")
done

reason=
if [ "$(id -u)" -ne 0 ]; then
	reason="not root: network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN"
elif ! command -v ip >/dev/null || ! ip netns list >/dev/null 2>&1; then
	reason="'ip netns' is unavailable (install iproute2)"
elif ! command -v timeout >/dev/null; then
	reason="'timeout' (coreutils) not found"
fi

pass=0 fail=0 skip=0
if [ -n "$reason" ]; then
	for t in "${tests[@]}"; do
		echo "SKIP: ${t##*/} ($reason)"
		skip=$((skip + 1))
	done
	echo "net: $pass passed, $fail failed, $skip skipped"
	exit 0
fi

# A test killed by the timeout may leave namespaces (and processes in them) and its sanitizer
# report directory behind: each test gets its own name prefix, so exactly its leftovers can be
# found and removed.
sweep()
{
	local prefix=$1 ns pid
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
		case $ns in "$prefix"-*) ;; *) continue ;; esac
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null
		done
		ip netns del "$ns" 2>/dev/null && echo "  removed leftover namespace $ns"
	done
	# lib.sh's SAN_DIR: the reports of a test killed before its cleanup said them (kept
	# whole in NET_KEEP_DIR when set)
	for f in /tmp/ringrelay-san."$prefix"-*/report.*; do
		[ -e "$f" ] && { echo "  sanitizer report $f:"; head -n 40 "$f"; }
		[ -e "$f" ] && [ -n "${NET_KEEP_DIR:-}" ] && mkdir -p "$NET_KEEP_DIR" &&
			cp "$f" "$NET_KEEP_DIR/"
	done
	rm -rf /tmp/ringrelay-san."$prefix"-*
}

i=0
for t in "${tests[@]}"; do
	i=$((i + 1))
	name=${t##*/}
	prefix=rrn$$x$i
	start=$SECONDS
	current=$prefix
	NET_NS_PREFIX=$prefix timeout -k 10 "$timeout_s" "$t"
	rc=$?
	dur=$((SECONDS - start))
	sweep "$prefix"
	current=
	case $rc in
	0) pass=$((pass + 1)); echo "PASS: $name (${dur}s)" ;;
	77) skip=$((skip + 1)); echo "SKIP: $name" ;;
	124 | 137) fail=$((fail + 1)); echo "FAIL: $name (timeout after ${timeout_s}s)" ;;
	*) fail=$((fail + 1)); echo "FAIL: $name (exit $rc, ${dur}s)" ;;
	esac
done
echo "net: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
