#!/bin/bash
# SPDX-License-Identifier: MIT
# Where the DUT core's time goes per delivered datagram, by part of the path: perf/bench.sh's
# fixed-rate trials of one device at a time under `perf record -e cpu-clock -C <DUT CPU> -g`,
# the samples inside the trials' CPU windows (bench.sh's cpu_window_us: from the generator's
# start until the DUT delivered its last datagram, the window bench.sh's own CPU figures use)
# split by call chain into the parts below, each as ns per datagram delivered in the trials.
#
#   perf/core_split.sh [--build DIR] [--rate PPS] [--seconds S] [--freq HZ] [--out DIR]
#                      [--keep] DUT [DUT ...]
#
# bench.sh's trials run with its default --rx-ring (a 1024-frame pfifo in front of d0 since
# round forty, perf/README.md); splits made before 2026-12-06T14 had veth's 256 frames only.
#
# napi placement only (there the DUT side's receive runs in NAPI threads on the DUT core; in
# rps it is a softirq wherever an interrupt lands, which a call chain cannot place). Writes
# DIR/<date>-core_split.md (DIR: perf/results), with bench.sh's records and a report of the
# shedding program's samples by leaf beside it. perf adds its own cost (call chains at --freq):
# compare the devices of one run; the last row, bench.sh's busy time of the core per
# datagram in the same windows, shows how far perf's sum is from it. --keep also leaves each
# device's perf.data (DIR/<date>-core_split-DUT.data) and its windows (.win beside it: "start
# end" per trial), for `perf report -i` or a diff between two devices (not for git: large).
# The report's header names the build's version (ringrelay -V) beside the checkout's.
#
# Parts, first match in this order (a sample is one call chain on the DUT core):
#   idle                    the leaf is the idle loop: not counted
#   shedding program        ringrelay's BPF shedding stage and the helpers it calls
#   NAPI threads (d0, d1)   the rest of the threaded NAPI polls: skb, GRO, IP, UDP, the tc hook
#   sink receive            the sink's veth receive, run by the DUT's own send (veth runs its
#                           peer's receive on the sender's CPU: the harness's cost)
#   softirq                 other softirq work on the core (timers, RCU, a backlog)
#   send: GSO segmentation  UDP GSO sends cut at d1 (no UDP segmentation offload there)
#   send                    the rest of sendmsg/sendmmsg and io_uring's sends
#   receive: defer-free IPI udp_recvmsg handing skbs back to the CPU that allocated them
#   receive                 the rest of recvmsg/recvmmsg and io_uring's receives
#   process                 the device's own code (ringrelay, mmsg_relay, busy_relay, DPDK
#                           lcores), io_uring's submission, waiting and workers, switches
#   other                   other threads and interrupts on that core
# Needs root and perf.
set -euo pipefail

BUILD=build
RATE=150000
SECS=6
FREQ=2000
OUT=
DUTS=()
HERE=$(cd "$(dirname "$0")" && pwd)

while [ $# -gt 0 ]; do
	case $1 in
	--build) BUILD=$2; shift 2 ;;
	--rate) RATE=$2; shift 2 ;;
	--seconds) SECS=$2; shift 2 ;;
	--freq) FREQ=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	--out) OUT=$2; shift 2 ;;
	-h | --help) sed -n '3,36p' "$0"; exit 0 ;;
	-*) echo "core_split: unknown option $1" >&2; exit 2 ;;
	*)
		case " ${DUTS[*]-} " in *" $1 "*) ;; *) DUTS+=("$1") ;; esac
		shift
		;;
	esac
done
[ ${#DUTS[@]} -gt 0 ] || { echo "core_split: name at least one DUT (bench.sh --duts)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "core_split: needs root (namespaces, perf -C)" >&2; exit 77; }
command -v perf >/dev/null || { echo "core_split: needs perf (./scripts/deps.sh bench)" >&2; exit 1; }
OUT=${OUT:-$HERE/results}
mkdir -p "$OUT"
STAMP=$(date -u +%Y-%m-%dT%H%M%SZ)
WORK=$(mktemp -d /tmp/core_split.XXXX)
BPID=
# bench.sh in the background ignores SIGINT: ended by PID here (its own trap removes the
# namespaces and what it started).
cleanup() {
	if [ -n "$BPID" ]; then
		kill -TERM "$BPID" 2>/dev/null || true
		wait "$BPID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
DUT_CPU=1 # bench.sh's

# windows JSON: "start end" lines (s, realtime) of the fixed trials' CPU windows.
windows() {
	jq -r '.records[] | select(.phase == "fixed") | .cpu_window_us |
		"\(.[0] / 1e6) \(.[1] / 1e6)"' "$1"
}

# split DATA WINDOWS DELIVERED: "ns part" lines, then the total.
split() {
	perf script -i "$1" -F comm,time,ip,sym 2>>"$WORK/perf.err" | awk -v del="$3" -v hz="$FREQ" \
		-v wf="$2" '
	BEGIN { while ((getline l < wf) > 0) { split(l, a, " "); ws[++nw] = a[1]; we[nw] = a[2] } }
	/^[^ \t]/ { if (n) tally(); n = 1; comm = $1; t = $2 + 0; st = ""; leaf = ""; next }
	/^$/ { if (n) tally(); n = 0; next }
	{ if (leaf == "") leaf = $2; st = st " " $2 }
	function inside(   i) { for (i = 1; i <= nw; i++) if (t >= ws[i] && t <= we[i]) return 1
		return 0 }
	function tally() {
		if (!inside() || leaf ~ /^(pv_native_safe_halt|default_idle|cpuidle_enter|intel_idle|acpi_idle|mwait_idle|poll_idle)/)
			return
		tot++
		if (st ~ /bpf_prog_[0-9a-f]+_shed/) c["shedding program"]++
		else if (st ~ /napi_threaded_poll/) c["NAPI threads (d0, d1)"]++
		else if (st ~ /veth_poll/ && st ~ /(sendmsg|sendmmsg)/) c["sink receive"]++
		else if (st ~ /(handle_softirqs|__do_softirq)/) c["softirq"]++
		else if (st ~ /(skb_segment|__skb_gso_segment)/) c["send: GSO segmentation"]++
		else if (st ~ /(io_sendmsg|__sys_sendmmsg|udp_sendmsg|__sys_sendmsg)/) c["send"]++
		else if (st ~ /smp_call_function_single_async/ && st ~ /(udp_recvmsg|skb_attempt_defer_free)/)
			c["receive: defer-free IPI"]++
		else if (st ~ /(io_recvmsg|recvmmsg|udp_recvmsg)/) c["receive"]++
		else if (comm ~ /^(ringrelay|mmsg_relay|busy_relay|testpmd|dpdk|lcore-worker|iou-)/)
			c["process"]++
		else c["other"]++
	}
	END {
		if (n) tally()
		for (k in c) printf "%.0f %s\n", c[k] / hz / del * 1e9, k
		printf "%.0f total\n", tot / hz / del * 1e9
	}'
}

PARTS=("shedding program" "NAPI threads (d0, d1)" "softirq" "receive: defer-free IPI" "receive" \
	"process" "send" "send: GSO segmentation" "sink receive" "other" "total")
{
	echo "# Where the DUT core goes per datagram ($STAMP)"
	echo
	echo "\`perf/core_split.sh --build $BUILD --rate $RATE --seconds $SECS --freq $FREQ ${DUTS[*]}\`"
	echo "(checkout: git $(git -C "$HERE" describe --always --dirty 2>/dev/null || echo unknown);"
	echo "build: $("$BUILD/ringrelay" -V 2>/dev/null | head -n 1 || echo unknown)); ns of the"
	echo "DUT core per delivered datagram, 64 B, napi placement, three trials of ${SECS} s at"
	echo "$RATE pps, samples (cpu-clock, $FREQ Hz) inside the trials' CPU windows."
	echo
	printf "| part |"; for d in "${DUTS[@]}"; do printf " %s |" "$d"; done; echo
	printf "|---|"; for d in "${DUTS[@]}"; do printf -- "---|"; done; echo
} >"$WORK/head.md"

: >"$WORK/notes.md"
for d in "${DUTS[@]}"; do
	"$HERE/bench.sh" --build "$BUILD" --duts "$d" --sizes 64 --placement napi \
		--fixed "$RATE" --fixed-s "$SECS" --out "$WORK/$d" >"$WORK/$d.log" 2>&1 &
	BPID=$!
	perf record -q -e cpu-clock -F "$FREQ" -g -C $DUT_CPU -k realtime -o "$WORK/$d.data" -- \
		sh -c "while kill -0 $BPID 2>/dev/null; do sleep 0.2; done" 2>>"$WORK/perf.err"
	if ! wait "$BPID"; then
		BPID=
		echo "core_split: bench.sh failed for $d:" >&2
		tail -5 "$WORK/$d.log" >&2
		exit 1
	fi
	BPID=
	json=$(find "$WORK/$d" -name '*.json' | head -n 1)
	[ -n "$json" ] || { echo "core_split: no records for $d" >&2; exit 1; }
	del=$(jq '[.records[] | select(.phase == "fixed") | .delivered] | add // 0' "$json")
	[ "$del" -gt 0 ] || { echo "core_split: $d delivered nothing" >&2; exit 1; }
	windows "$json" >"$WORK/$d.win"
	split "$WORK/$d.data" "$WORK/$d.win" "$del" >"$WORK/$d.split"
	busy=$(jq '[.records[] | select(.phase == "fixed")] |
		(map(.dut_core_busy_s) | add) / (map(.delivered) | add) * 1e9 | floor' "$json")
	echo "$busy bench.sh: busy" >>"$WORK/$d.split"
	loss=$(jq -r '[.records[] | select(.phase == "fixed") | .loss * 10000 | floor / 100] |
		map(tostring) | join(", ")' "$json")
	echo "$d: delivered $del, loss per trial $loss %" | tee -a "$WORK/notes.md"
	cp "$json" "$OUT/$STAMP-core_split-$d.json"
	if [ -n "${KEEP:-}" ]; then
		cp "$WORK/$d.data" "$OUT/$STAMP-core_split-$d.data"
		cp "$WORK/$d.win" "$OUT/$STAMP-core_split-$d.win"
	fi
	# What the shedding program's samples are, by leaf (for a device that runs it).
	if grep -q '^[1-9][0-9]* shedding program$' "$WORK/$d.split"; then
		perf report -i "$WORK/$d.data" --no-children --sort sym -q -g none \
			--parent 'bpf_prog_[0-9a-f]+_shed' -x 2>>"$WORK/perf.err" | head -n 30 \
			>"$OUT/$STAMP-core_split-$d-shed.txt" || true
	fi
done

{
	cat "$WORK/head.md"
	for p in "${PARTS[@]}" "bench.sh: busy"; do
		printf "| %s |" "$p"
		for d in "${DUTS[@]}"; do
			v=$(awk -v p="$p" '{ n = $1; $1 = ""; sub(/^ /, ""); if ($0 == p) print n }' \
				"$WORK/$d.split")
			printf " %s |" "${v:-0}"
		done
		echo
	done
	echo
	sed 's/^/- /' "$WORK/notes.md"
	if grep -qiE 'lost|throttl|lowering' "$WORK/perf.err"; then
		echo "- perf said: $(grep -iE 'lost|throttl|lowering' "$WORK/perf.err" | sort -u | head -n 3 | tr '\n' ' ')"
	fi
} >"$OUT/$STAMP-core_split.md"
cat "$OUT/$STAMP-core_split.md"
