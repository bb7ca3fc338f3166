#!/bin/bash
# SPDX-License-Identifier: MIT
# What empty (zero-length) datagrams cost the io_uring worker, whose multishot receive the
# kernel ends at each one: COUNT of them queued at once (the relay stopped with SIGSTOP while
# they are sent) on a listener's socket, and as replies from the upstream on a session's
# socket. Per build, family and socket: the worker threads' CPU time per datagram (their
# schedstat run time, from before the queue is sent until every datagram has left) and the
# re-arms the workers counted, medians over the passes; builds alternate within each pass.
#
#   perf/empty_queue.sh [--count N] [--passes N] [--out DIR] BUILD_DIR [BUILD_DIR ...]
#
# Writes the table to DIR/<date>-empty_queue.md (DIR: perf/results). Topology: the network
# tests' (tests/net/lib.sh: client, relay and upstream namespaces, 198.18.0.0/15 and
# 2001:2::/48, removed on exit, also on failure). Needs root, like bench.sh.
set -uo pipefail

COUNT=5000 # a session's and a listener's 4 MiB receive buffer hold them all
PASSES=5
OUT=perf/results
BUILDS=()
while [ $# -gt 0 ]; do
	case $1 in
	--count) COUNT=$2; shift ;;
	--passes) PASSES=$2; shift ;;
	--out) OUT=$2; shift ;;
	-*) sed -n '10p' "$0" | sed 's/^# *//' >&2; exit 2 ;;
	*) BUILDS+=("$(cd "$1" && pwd)") ;;
	esac
	shift
done
[ ${#BUILDS[@]} -gt 0 ] || { sed -n '10p' "$0" | sed 's/^# *//' >&2; exit 2; }
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILDS[0]}
export SRC BUILD
. "$SRC/tests/net/lib.sh"
lib_topology
mkdir -p "$OUT"
REC=$TMPD/records

# Run time of the relay's worker threads, ns.
worker_ns()
{
	local t s=0
	for t in /proc/"$RELAY_PID"/task/*; do
		grep -q '^ringrelay-w' "$t/comm" 2>/dev/null || continue
		s=$((s + $(cut -d' ' -f1 "$t/schedstat")))
	done
	echo "$s"
}

rearms()
{
	"$BUILD/ringrelayctl" -s "$TMPD/run/ctl.sock" -j status |
		"$PY" -c 'import json, sys; print(sum(w["rearms"] for w in json.load(sys.stdin)["workers"]))'
}

# queue MODE: COUNT empty datagrams queued on the listener's socket (MODE listener: the
# client sends them) or on the session's (MODE session: the upstream sends them to the
# session the client opened) while the relay is stopped; prints how many got through.
queue()
{
	local j
	# udp.py fails when some did not arrive: the count says how many did
	j=$(lib_udp "$NS_U" queued --socket "$1" --to "$(ep "$RELAY_IP" 5002)" \
		--upstream "$(ep "$UP1_IP" 9002)" --count "$COUNT" --stop "$RELAY_PID" \
		--client-ns "$NS_C" --quiet 2) || true
	"$PY" -c 'import json, sys; print(json.load(sys.stdin)["received"])' <<<"$j"
}

run_build()
{
	local b=$1 pass=$2 fam mode conf before ns0 got
	RINGRELAY=$b/ringrelay BUILD=$b
	for fam in 4 6; do
		lib_family "$fam"
		conf=$TMPD/empty-$fam.conf
		lib_relay_conf "$conf" backend=io_uring listen="$(ep "$RELAY_IP" 5002)" \
			up="$(ep "$UP1_IP" 9002)"
		lib_relay_start "$conf" || lib_fail "$b: relay did not start"
		for mode in listener session; do
			before=$(rearms) ns0=$(worker_ns)
			got=$(queue "$mode") || got=0
			echo "$b $fam $mode $pass $got $(($(worker_ns) - ns0)) $(($(rearms) - before))" |
				tee -a "$REC" >&2
		done
		lib_relay_stop || lib_fail "$b: relay exit status $?"
	done
}

for pass in $(seq 1 "$PASSES"); do
	for b in "${BUILDS[@]}"; do
		run_build "$b" "$pass"
	done
done

md=$OUT/$(date -u +%Y-%m-%dT%H%M%SZ)-empty_queue.md
"$PY" - "$REC" "$COUNT" >"$md" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    b, fam, mode, _, got, ns, rearms = line.split()
    rows.setdefault((b, fam, mode), []).append((int(got), int(ns), int(rearms)))
n = int(sys.argv[2])
print("# Empty datagrams queued at once: %d per pass, io_uring worker\n" % n)
print("| build | family | socket | worker CPU per datagram, us (median, range) | re-arms (median) | arrived (min) |")
print("|---|---|---|---|---|---|")
for (b, fam, mode), v in rows.items():
    us = [ns / 1000 / n for _, ns, _ in v]
    print("| %s | IPv%s | %s | %.2f (%.2f-%.2f) | %d | %d |" % (
        b, fam, mode, statistics.median(us), min(us), max(us),
        statistics.median(r for _, _, r in v), min(g for g, _, _ in v)))
EOF
{
	echo
	for b in "${BUILDS[@]}"; do
		echo "- $b: $("$b/ringrelay" -V 2>/dev/null | head -n 1)"
	done
	echo
	echo "Command: perf/empty_queue.sh --count $COUNT --passes $PASSES ${BUILDS[*]}"
} >>"$md"
cat "$md"
echo "empty_queue: wrote $md" >&2
