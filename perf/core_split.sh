#!/bin/bash
# SPDX-License-Identifier: MIT
# Where the DUT core's time goes per delivered datagram, by part of the path: perf/bench.sh's
# fixed-rate trials of one device under `perf record -C <DUT CPU> -g`, its samples split by
# call chain into the parts below, each as ns per datagram delivered in the trials.
#
#   perf/core_split.sh [--build DIR] [--rate PPS] [--seconds S] [--placement napi|rps]
#                      [--freq HZ] [--out DIR] DUT [DUT ...]
#
# Writes DIR/<date>-core_split.md (DIR: perf/results) and keeps bench.sh's records beside it.
# bench.sh makes and removes the namespaces; perf adds its own cost (call chains at --freq),
# so compare the devices of one run, not these totals with bench.sh's CPU figures.
#
# Parts, first match in this order (a sample is one call chain on the DUT core):
#   idle                    not counted
#   shedding program        ringrelay's BPF shedding stage and the helpers it calls
#   d0 receive (NAPI)       the rest of d0's NAPI thread (napi placement): skb, GRO, IP, UDP
#   sink receive            the sink's veth receive, run by the DUT's own send (veth runs its
#                           peer's receive on the sender's CPU: the harness's cost, not the DUT's)
#   send: GSO segmentation  UDP GSO sends cut at d1 (no UDP segmentation offload there)
#   send                    the rest of sendmsg/sendmmsg and io_uring's sends
#   receive: defer-free IPI udp_recvmsg handing the skb back to the CPU that made it
#   receive                 the rest of recvmsg/recvmmsg and io_uring's receives
#   process                 the device's own code, io_uring's submission and waiting, switches
#   other                   other threads and interrupts on that core
# Needs root and perf.
set -euo pipefail

BUILD=build
RATE=150000
SECS=6
PLACEMENT=napi
FREQ=2000
OUT=
DUTS=()
HERE=$(cd "$(dirname "$0")" && pwd)

while [ $# -gt 0 ]; do
	case $1 in
	--build) BUILD=$2; shift 2 ;;
	--rate) RATE=$2; shift 2 ;;
	--seconds) SECS=$2; shift 2 ;;
	--placement) PLACEMENT=$2; shift 2 ;;
	--freq) FREQ=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	-h | --help) sed -n '3,25p' "$0"; exit 0 ;;
	-*) echo "core_split: unknown option $1" >&2; exit 2 ;;
	*) DUTS+=("$1"); shift ;;
	esac
done
[ ${#DUTS[@]} -gt 0 ] || { echo "core_split: name at least one DUT (bench.sh --duts)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "core_split: needs root (namespaces, perf -C)" >&2; exit 77; }
command -v perf >/dev/null || { echo "core_split: needs perf (./scripts/deps.sh bench)" >&2; exit 1; }
OUT=${OUT:-$HERE/results}
mkdir -p "$OUT"
STAMP=$(date -u +%Y-%m-%dT%H%M%SZ)
WORK=$(mktemp -d /tmp/core_split.XXXX)
trap 'rm -rf "$WORK"' EXIT
DUT_CPU=1 # bench.sh's

# split DATA DELIVERED: "ns part" lines, then the total.
split() {
	perf script -i "$1" -F comm,ip,sym 2>/dev/null | awk -v del="$2" -v hz="$FREQ" '
	/^[^ \t]/ { if (n) tally(); n = 1; comm = $1; st = ""; next }
	/^$/ { if (n) tally(); n = 0; next }
	{ st = st " " $2 }
	function tally() {
		if (st ~ /pv_native_safe_halt|default_idle|cpuidle_enter/) return
		tot++
		if (st ~ /bpf_prog_[0-9a-f]+_shed/) c["shedding program"]++
		else if (st ~ /napi_threaded_poll/) c["d0 receive (NAPI)"]++
		else if (st ~ /veth_poll/ && st ~ /(sendmsg|sendmmsg)/) c["sink receive"]++
		else if (st ~ /(skb_segment|__skb_gso_segment)/) c["send: GSO segmentation"]++
		else if (st ~ /(io_sendmsg|__sys_sendmmsg|udp_sendmsg|__sys_sendmsg)/) c["send"]++
		else if (st ~ /smp_call_function_single_async/) c["receive: defer-free IPI"]++
		else if (st ~ /(io_recvmsg|recvmmsg|udp_recvmsg)/) c["receive"]++
		else if (comm ~ /ringrelay|mmsg_relay|testpmd|dpdk/) c["process"]++
		else c["other"]++
	}
	END {
		if (n) tally()
		for (k in c) printf "%.0f %s\n", c[k] / hz / del * 1e9, k
		printf "%.0f total\n", tot / hz / del * 1e9
	}'
}

PARTS=("shedding program" "d0 receive (NAPI)" "receive: defer-free IPI" "receive" "process" \
	"send" "send: GSO segmentation" "sink receive" "other" "total")
{
	echo "# Where the DUT core goes per datagram ($STAMP)"
	echo
	echo "\`perf/core_split.sh --build $BUILD --rate $RATE --seconds $SECS --placement $PLACEMENT --freq $FREQ ${DUTS[*]}\`"
	echo "(git $(git -C "$HERE" describe --always --dirty 2>/dev/null || echo unknown)); ns of the"
	echo "DUT core per delivered datagram, 64 B, three trials of ${SECS} s at $RATE pps."
	echo
	printf "| part |"; for d in "${DUTS[@]}"; do printf " %s |" "$d"; done; echo
	printf "|---|"; for d in "${DUTS[@]}"; do printf -- "---|"; done; echo
} >"$WORK/head.md"

for d in "${DUTS[@]}"; do
	"$HERE/bench.sh" --build "$BUILD" --duts "$d" --sizes 64 --placement "$PLACEMENT" \
		--fixed "$RATE" --fixed-s "$SECS" --out "$WORK/$d" >"$WORK/$d.log" 2>&1 &
	bpid=$!
	perf record -q -F "$FREQ" -g -C $DUT_CPU -o "$WORK/$d.data" -- \
		sh -c "while kill -0 $bpid 2>/dev/null; do sleep 0.2; done" 2>/dev/null
	wait $bpid || { echo "core_split: bench.sh failed for $d:" >&2; tail -5 "$WORK/$d.log" >&2; exit 1; }
	json=$(ls "$WORK/$d"/*.json)
	del=$(jq '[.records[] | select(.phase == "fixed") | .delivered] | add' "$json")
	loss=$(jq -r '[.records[] | select(.phase == "fixed") | .loss * 10000 | floor / 100] | map(tostring) | join(", ")' "$json")
	[ "${del:-0}" -gt 0 ] || { echo "core_split: $d delivered nothing" >&2; exit 1; }
	split "$WORK/$d.data" "$del" >"$WORK/$d.split"
	echo "$d: delivered $del, loss per trial ${loss} %" | tee -a "$WORK/notes.md"
	cp "$json" "$OUT/$STAMP-core_split-$d.json"
done

{
	cat "$WORK/head.md"
	for p in "${PARTS[@]}"; do
		printf "| %s |" "$p"
		for d in "${DUTS[@]}"; do
			v=$(awk -v p="$p" '{ n = $1; $1 = ""; sub(/^ /, ""); if ($0 == p) print n }' "$WORK/$d.split")
			printf " %s |" "${v:-0}"
		done
		echo
	done
	echo
	sed 's/^/- /' "$WORK/notes.md"
} >"$OUT/$STAMP-core_split.md"
cat "$OUT/$STAMP-core_split.md"
