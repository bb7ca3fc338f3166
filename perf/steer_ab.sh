#!/bin/bash
# SPDX-License-Identifier: MIT
# A/B of steering = "cpu" against "hash" (ringrelay.conf(5), steering): what relaying a
# datagram on another CPU than the one that received it costs.
#
#   perf/steer_ab.sh [--build DIR] [--rate PPS] [--seconds S] [--passes N] [--flows N] [--out DIR]
#
# Writes the table and the records to DIR/<date>-steer_ab.md and .jsonl (DIR: perf/results).
#
# Topology (namespaces unique per run, removed on exit), as in perf/bench.sh:
#
#   gen ns            dut ns                          sink ns
#   g0 198.18.0.1 <-> d0 198.18.0.2 | d1 198.18.1.1 <-> s0 198.18.1.2 (XDP sink)
#
# ringrelay runs two workers, on CPUs 0 and 1. d0 has no NAPI instance (GRO off, no XDP) and
# no RPS, so veth hands each frame to netif_rx and the receive softirq runs on the sending
# CPU. Two generators (raw frames, paced, half the rate each, each from its own source address
# and flows) run one on CPU 0 and one on CPU 1: each CPU receives its own flows, as a NIC's
# RSS gives each queue (and its CPU) its own. Steered by CPU, each datagram is relayed by the
# worker of the CPU that received it; by hash, about half of them by the other worker. Each
# CPU carries the same generator and receive work in both modes, below saturation, so the
# difference of the two cores' busy time per relayed datagram is the relay's locality. Modes
# alternate within each pass; the table gives medians. Needs root, like bench.sh.
set -euo pipefail

BUILD=build
RATE=100000
SECS=5
PASSES=3
FLOWS=64
OUT=perf/results
while [ $# -gt 0 ]; do
	case $1 in
	--build) BUILD=$2; shift ;;
	--rate) RATE=$2; shift ;;
	--seconds) SECS=$2; shift ;;
	--passes) PASSES=$2; shift ;;
	--flows) FLOWS=$2; shift ;;
	--out) OUT=$2; shift ;;
	*) sed -n '6p' "$0" | sed 's/^# *//' >&2; exit 2 ;;
	esac
	shift
done
[ "$(id -u)" = 0 ] || { echo "steer_ab: needs root (namespaces, XDP)" >&2; exit 77; }
[ "$(nproc)" -ge 2 ] || { echo "steer_ab: needs 2 CPUs" >&2; exit 77; }
for t in jq ip taskset; do
	command -v $t >/dev/null || { echo "steer_ab: missing $t" >&2; exit 1; }
done
make --no-print-directory BUILD="$BUILD" "$BUILD/ringrelay" "$BUILD/ringrelayctl" perf-tools >&2
PERF=$BUILD/perf

# shellcheck source=perf/lib.sh
. "$(dirname "$0")/lib.sh"
perf_init rrs

MAC_D0=02:52:52:00:00:0a MAC_D1=02:52:52:00:00:0b MAC_G0=02:52:52:00:00:0c
MAC_S0=02:52:52:00:00:0d
g="ip -n $NS_G" d="ip -n $NS_D" s="ip -n $NS_S"
for n in $NS_G $NS_D $NS_S; do ip netns add "$n"; ip -n "$n" link set lo up; done
$g link add g0 address $MAC_G0 type veth peer name d0 address $MAC_D0 netns $NS_D
$d link add d1 address $MAC_D1 type veth peer name s0 address $MAC_S0 netns $NS_S
$g addr add 198.18.0.1/24 dev g0
$d addr add 198.18.0.2/24 dev d0
$d addr add 198.18.1.1/24 dev d1
$s addr add 198.18.1.2/24 dev s0
$g link set g0 up
$d link set d0 up
$d link set d1 up
$s link set s0 up
$g neigh add 198.18.0.2 lladdr $MAC_D0 dev g0 nud permanent
$d neigh add 198.18.0.1 lladdr $MAC_G0 dev d0 nud permanent
$d neigh add 198.18.1.2 lladdr $MAC_S0 dev d1 nud permanent
$s neigh add 198.18.1.1 lladdr $MAC_D1 dev s0 nud permanent
ip netns exec $NS_G ethtool -K g0 tx off >/dev/null
ip netns exec $NS_S ethtool -K s0 tx off >/dev/null
ip netns exec $NS_D ethtool -K d0 gro off >/dev/null
ip netns exec $NS_D sh -c "echo 0 > /sys/class/net/d0/queues/rx-0/rps_cpus"

# The sink: native XDP on s0, counting and dropping what the relay sends; it exits when not
# asked for a count for SINK_IDLE_S seconds (lib.sh): longer than any pass's gap between reads.
SINK_IDLE_S=$(awk -v t="$SECS" 'BEGIN { i = 4 * t + 60; print int(i < 600 ? 600 : i) }')
sink_start -N
# busy and total ticks of CPUs 0 and 1 together
cpu_ticks() {
	awk '$1 == "cpu0" || $1 == "cpu1" { b += $2+$3+$4+$7+$8; t += $2+$3+$4+$5+$6+$7+$8+$9 }
		END { print b, t }' /proc/stat
}
# rescheduling and function-call IPIs, all CPUs
ipis() { awk '$1 == "RES:" || $1 == "CAL:" { for (i = 2; i <= 3; i++) n += $i } END { print n }' /proc/interrupts; }
ctxt() { awk '$1 == "ctxt" { print $2 }' /proc/stat; }
HZ=$(getconf CLK_TCK)
RECORDS=$WORK/records.jsonl

# gens SECONDS: a generator on each CPU, half the rate each, from 198.18.0.1 and .3; prints
# what they sent together as one gen record.
gens() {
	ip netns exec $NS_G "$PERF/gen" -d 198.18.0.2:5000 -f $((FLOWS / 2)) -l 64 -t "$1" -C 1 \
		-r $((RATE / 2)) -i g0 -M $MAC_D0 -s 198.18.0.3:0 >"$WORK/gen1.json" &
	local g1=$!
	ip netns exec $NS_G "$PERF/gen" -d 198.18.0.2:5000 -f $((FLOWS / 2)) -l 64 -t "$1" -C 0 \
		-r $((RATE / 2)) -i g0 -M $MAC_D0 -s 198.18.0.1:0 >"$WORK/gen0.json"
	wait "$g1"
	jq -s -c '{sent_pkts: (map(.sent_pkts) | add), elapsed_s: (map(.elapsed_s) | max)}' \
		"$WORK/gen0.json" "$WORK/gen1.json"
}

run() {
	local mode=$1 pass=$2 rr pid s0 s1 c0 c1 i0 i1 x0 x1 r0 r1 g per
	cat >"$WORK/rr.conf" <<-EOF
	workers = 2;
	cpus = [ 0, 1 ];
	steering = "$mode";
	buffer_size = 2048;
	buffers = 4096;
	control_socket = "$WORK/ctl.sock";
	relays = ( { name = "ab"; listen = [ "198.18.0.2:5000" ]; upstreams = [ "198.18.1.2:9000" ];
		mode = "forward"; session_timeout = 30.0; max_sessions = 4096; shed = "off"; } );
	EOF
	spawn ip netns exec "$NS_D" "$BUILD/ringrelay" -f -c "$WORK/rr.conf" >"$WORK/rr.log" 2>&1
	pid=$LAST_PID
	wait_for "$WORK/rr.log" ready || { tail -n 5 "$WORK/rr.log" >&2; exit 1; }
	rr=$(grep -o "steering: .*" "$WORK/rr.log")
	gens 0.3 >/dev/null
	sleep 0.3
	# sink_pkts alone in its assignment, so set -e stops the run when the sink is gone.
	s0=$(sink_pkts)
	c0=$(cpu_ticks) i0=$(ipis) x0=$(ctxt) r0=$(ring_drops)
	g=$(gens "$SECS")
	sleep 0.3
	s1=$(sink_pkts)
	c1=$(cpu_ticks) i1=$(ipis) x1=$(ctxt) r1=$(ring_drops)
	per=$("$BUILD/ringrelayctl" -s "$WORK/ctl.sock" -j stats |
		jq -c '[.relays[0].workers[] | .rx_pkts]')
	stop "$pid"
	jq -c -n --arg mode "$mode" --argjson pass "$pass" --argjson g "$g" --arg rr "$rr" \
		--argjson d "$((s1 - s0))" --argjson rd "$((r1 - r0))" --argjson hz "$HZ" \
		--argjson c "[$(echo "$c0 $c1" | awk '{ print $3-$1 "," $4-$2 }')]" \
		--argjson ipi "$((i1 - i0))" --argjson cs "$((x1 - x0))" --argjson per "$per" '
		($g.sent_pkts + $rd) as $sent | {
		mode: $mode, pass: $pass, steering_log: $rr, offered: $sent, delivered: $d,
		loss: (if $sent > 0 then 1 - $d / $sent else 0 end),
		mpps: ($d / $g.elapsed_s / 1e6),
		busy_core_s: ($c[0] / $hz), busy_of_two_cores: ($c[0] / $c[1]),
		ns_per_pkt: (if $d > 0 then $c[0] / $hz / $d * 1e9 else null end),
		ipis_per_1k: (if $d > 0 then $ipi / $d * 1000 else null end),
		ctxt_per_1k: (if $d > 0 then $cs / $d * 1000 else null end),
		worker_rx_total: $per}' | tee -a "$RECORDS" >&2
}

STAMP=$(date -u +%Y-%m-%dT%H%M%SZ)
mkdir -p "$OUT"
for p in $(seq 1 "$PASSES"); do
	for mode in cpu hash; do
		run $mode "$p"
	done
done
{
echo "steering A/B, $STAMP: $FLOWS flows, 64 B, $RATE pps offered for $SECS s by a generator on"
echo "each CPU (each CPU receives its own flows), two workers on CPUs 0 and 1; medians of $PASSES"
echo "passes (busy: both cores, generators included)"
echo "command: $0 --build $BUILD --rate $RATE --seconds $SECS --passes $PASSES --flows $FLOWS (code $(git describe --always --dirty 2>/dev/null || echo unknown))"
echo
jq -s -r '
	def med: sort | if length == 0 then null else .[(length - 1) / 2 | floor] end;
	def r(n): if . == null then "-" else (. * pow(10; n) | round) / pow(10; n) | tostring end;
	group_by(.mode) | map({mode: .[0].mode, n: length,
		mpps: (map(.mpps) | med), loss: (map(.loss) | med), ns: (map(.ns_per_pkt) | med),
		busy: (map(.busy_of_two_cores) | med), ipi: (map(.ipis_per_1k) | med),
		cs: (map(.ctxt_per_1k) | med)}) as $rows |
	"| steering | runs | delivered Mpps | loss | busy ns per datagram (2 cores) | busy share of 2 cores | IPIs per 1k datagrams | context switches per 1k |",
	"|---|---|---|---|---|---|---|---|",
	($rows[] | "| \(.mode) | \(.n) | \(.mpps | r(3)) | \(.loss | r(4)) | \(.ns | r(0)) | \(.busy | r(3)) | \(.ipi | r(1)) | \(.cs | r(1)) |"),
	(($rows | map({(.mode): .}) | add) as $m |
	 if $m.cpu.ns and $m.hash.ns then "\nhash / cpu, busy time per datagram: \($m.hash.ns / $m.cpu.ns | r(2))" else "" end)
' "$RECORDS"
} | tee "$OUT/$STAMP-steer_ab.md"
cp "$RECORDS" "$OUT/$STAMP-steer_ab.jsonl"
echo "steer_ab: wrote $OUT/$STAMP-steer_ab.md and .jsonl" >&2
