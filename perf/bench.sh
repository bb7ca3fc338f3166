#!/bin/bash
# SPDX-License-Identifier: MIT
# Packet-rate benchmark of ringrelay against the kernel, DPDK testpmd and a plain mmsg loop,
# measured the way DPDK users measure (Mpps at 64 B, NDR/PDR, CPU per packet, cores used).
#
#   perf/bench.sh [--full] [--build DIR] [--duts a,b,...] [--sizes 64,imix,1400] [--family 4|6]
#                 [--placement rps,napi] [--out DIR] [--socket-gen] [--gen-gso SEGS]
#                 [--fixed PPS,PPS,... [--fixed-s S]] [--search-trials N] [--overload-gso SEGS]
#                 [--overload-xdp] [--rx-ring FRAMES]
#
# Topology (three namespaces, unique per run, removed on exit):
#
#   gen ns            dut ns                          sink ns
#   g0 198.18.0.1 <-> d0 198.18.0.2 | d1 198.18.1.1 <-> s0 198.18.1.2 (XDP sink, skb mode)
#   2001:2:0:1::1     2001:2:0:1::2 | 2001:2:0:2::1     2001:2:0:2::2
#
# CPU 0 runs the generator and the sink, CPU 1 runs the device under test. veth processes a
# packet on the CPU that sent it, so the DUT side's receive work is moved to CPU 1, in one of
# two placements (both by default, one after the other):
#   rps   RPS on d0 and d1 to CPU 1. The receive softirq after XDP runs there; XDP itself (an
#         af_xdp PMD's receive, ringrelay's shedding) still runs on the generator's CPU, where
#         veth copies every frame for it (perf/README.md, "Four runs in one hour").
#   napi  d0 and d1 with GRO on (so veth has a NAPI instance), NAPI threaded, each NAPI thread
#         pinned to CPU 1: all receive work, XDP included, is charged to the DUT's core. This
#         is the placement that compares devices fairly.
#   sender (experiments only) GRO on, NAPI not threaded, no RPS: the receive runs in the
#         generator's softirq on CPU 0, except what a busy-polling DUT polls itself.
#
# Devices not in the default matrix: ringrelay-mirror (mode = "mirror", a copy of every
# datagram to each of two members, the sink's ports 9000 and 9001; delivered = copies per
# member; RR_MIRROR_BACKEND=mmsg for the other backend) and busy-relay (below).
#
# Experiment hooks (perf/notes/overload-mechanisms.md): DUT busy-relay runs perf/busy_relay
# with $BUSY_RELAY_OPTS; NAPI_SET="defer_hard_irqs=N gro_flush_timeout=NS ..." is applied to
# d0's NAPI instances (netdev netlink, perf/napi.py) after the DUT has started; NAPI_NICE=N
# sets the pinned NAPI threads' nice value (napi placement) as ringrelay's napi.thread_nice
# does, for devices that do not set it themselves.
# RR_CONF_EXTRA / RR_RELAY_EXTRA: settings added to the ringrelay devices' config, top level
# and in the relay (e.g. RR_CONF_EXTRA='napi = { busy_poll_us = 0; };' RR_RELAY_EXTRA='shed =
# "off";'), to measure what each overload mechanism contributes. RR_BUFFERS replaces the
# socket devices' buffer settings (default 'buffer_size = 2048; buffers = 4096;', ringrelay's
# defaults; ringrelay-gro keeps its own). A ringrelay device's notes say which buffer_size
# and gro it ran with, and its peak resident memory (vm_hwm_kib).
# --search-trials N (odd, default 1): each step of the NDR/PDR searches runs up to N trials
# and passes when most of them do (MLRsearch's exceed ratio of 50 %, as FD.io CSIT runs it),
# so one stall of the box in one trial does not decide the step; 1 = one trial decides, as
# in every earlier result. On the development VM 3 did not steady the NDR (perf/README.md).
# --fixed: instead of the searches, TRIALS trials of --fixed-s seconds (default 5) at each
# paced rate given (0 = the generator's maximum): the loss, the ring drops (veth's, the
# pfifo's) and how far the generator fell behind its schedule, per trial. NDR is one
# zero-loss bit per step; at a fixed rate the drops of every trial show what a knob changes
# (perf/README.md, "What sets the zero-loss rate").
# --overload-gso SEGS: after the searches, TRIALS more max-load trials ("overload") from the UDP
# socket generator sending SEGS datagrams per system call, which g0 cuts into single frames
# (its UDP segmentation off) on the generator's CPU: the DUT receives the same one-datagram
# frames as from the raw generator, at up to several times the rate one core of raw sends
# reaches, so the overload column can reach 5x the NDR where the raw generator cannot (the
# rps placement). The searches still use the paced raw generator.
# --overload-xdp: the overload trials from the XDP generator instead (gen -X: the kernel's XDP
# test runner in live-frame mode redirects the raw generator's frame into g0, whose veth
# hands it to d0's XDP ring as an XDP frame: the generator builds no skb and makes no copy,
# and offered 3.2-6.9 Mpps in the napi placement here (3.2-4.2 against testpmd-af_xdp), where
# the GSO generator offered 1.2-1.4 and the raw one 0.4-0.9), the same one-datagram frames. veth's refusals (d0's ring
# full) are g0's xdp_xmit_errors, counted in the trial's ring_drops and, unlike the raw
# generator's, already in gen's sent (gen_sent_ok = sent). In the rps placement d0's NAPI,
# and so its XDP program and the skb veth builds, runs on the generator's CPU. It needs NAPI
# on d0 (GRO on, as the napi placement sets, or a native XDP program, as ringrelay's shedding
# attaches): where d0 has none (the rps placement's devices without XDP) that device's
# overload trials fall back to --overload-gso's generator if given, else its max-load trials
# stand, and a note says so; so they do where a 64-frame run of gen -X fails (an old kernel).
# --rx-ring FRAMES (default 1024 on Linux 6.17.10 and later, else 0: none; at most 4096): a
# receive ring of a NIC's depth in front of the DUT. veth's own ring holds 256 frames, 1-2 ms
# at the socket devices' rates here, so a stall of the DUT's vCPU that long, or a poll-mode
# DUT holding the core while the NAPI thread waits for its time slice, loses frames that a
# NIC's ring (512-4096 descriptors; mlx5's default is 1024) would hold (perf/README.md, "What
# sets the zero-loss rate", "Round forty"). This puts a pfifo of FRAMES frames on g0, and where
# d0 has NAPI (GRO on or an XDP program: every device in the napi placement, those that attach
# XDP in rps) the raw generator sends through it (gen -Q): since Linux 6.16 veth stops g0's
# queue while d0's ring is full and the frames wait in the pfifo, 256 + FRAMES frames in all;
# a frame the full pfifo drops is one gen was refused (ENOBUFS) and counts in ring_drops. (6.16
# to 6.17.9 could leave the queue stopped for good, CVE-2025-68232: hence the default.) Where
# d0 has no NAPI veth cannot push back (its receive backlog of 1000 frames drops), so the raw
# generator bypasses the pfifo there as before. veth wakes g0's queue at the end of each d0
# poll that found it stopped, and the pfifo's frames are then moved into d0's ring by whichever
# CPU runs g0's qdisc first: the generator's, or the DUT's, in the transmit softirq the wake
# raises in d0's NAPI thread (napi placement). That cost falls on the DUT's core in proportion
# to how long d0's ring is full: nothing below saturation, much of it at full load. The
# latency trials' UDP sockets pass the pfifo too: a stall queues their datagrams there (up to
# 1280 frames) where it lost them before, so RTT tails from round forty on are not comparable
# with earlier ones. The overload
# trials bypass it (gen -X) or run without it (--overload-gso: a super-datagram would
# otherwise be cut into frames on the DUT's CPU).
set -euo pipefail

COMMAND="$0 $*"
# The experiment hooks a run used go in front of its command, so the report re-runs it.
for v in RR_CONF_EXTRA RR_RELAY_EXTRA RR_BUFFERS RR_MIRROR_BACKEND NAPI_SET NAPI_NICE \
	BUSY_RELAY_OPTS SINK_MODE GEN_PAYLOAD; do
	if [ -n "${!v:-}" ]; then
		case ${!v} in
		*"'"*) COMMAND="$v=$(printf %q "${!v}") $COMMAND" ;;
		*) COMMAND="$v='${!v}' $COMMAND" ;;
		esac
	fi
done
FULL=0
SOCKET_GEN=0
GEN_GSO=0
OVERLOAD_GSO=0
OVERLOAD_XDP=0
XDP_GEN=0
BUILD=build
OUT=perf/results
SIZES=""
FAMILY=4
PLACEMENTS=rps,napi
FIXED=""
FIXED_S=5
SEARCH_TRIALS=1
RX_RING=1024
RX_RING_GIVEN=0
RING_ON=0
ALL_DUTS="ringrelay-offload,ringrelay-offload-tc,ringrelay-io_uring,ringrelay-gro,ringrelay-mmsg,kernel-forward,testpmd-af_xdp,testpmd-af_packet,mmsg-loop"
DUTS=$ALL_DUTS

usage() {
	sed -n '6,9p' "$0" | sed 's/^# \{0,1\}//'
	exit "${1:-0}"
}

while [ $# -gt 0 ]; do
	case $1 in
	--full) FULL=1 ;;
	--build) BUILD=$2; shift ;;
	--duts) DUTS=$2; shift ;;
	--sizes) SIZES=$2; shift ;;
	--family) FAMILY=$2; shift ;;
	--placement) PLACEMENTS=$2; shift ;;
	--out) OUT=$2; shift ;;
	--socket-gen) SOCKET_GEN=1 ;;
	--gen-gso) GEN_GSO=$2; SOCKET_GEN=1; shift ;;
	--fixed) FIXED=$2; shift ;;
	--fixed-s) FIXED_S=$2; shift ;;
	--search-trials) SEARCH_TRIALS=$2; shift ;;
	--overload-gso) OVERLOAD_GSO=$2; shift ;;
	--overload-xdp) OVERLOAD_XDP=1 ;;
	--rx-ring) RX_RING=$2; RX_RING_GIVEN=1; shift ;;
	-h|--help) usage 0 ;;
	*) usage 2 ;;
	esac
	shift
done
for p in ${PLACEMENTS//,/ }; do
	case $p in rps|napi|sender) ;; *) echo "bench: --placement: rps, napi or rps,napi" >&2; exit 2 ;; esac
done
case $OVERLOAD_GSO in
0) ;;
[1-9]|[1-5][0-9]|6[0-4])
	if [ "$GEN_GSO" != 0 ] || [ -n "$FIXED" ]; then
		echo "bench: --overload-gso goes with the raw generator's searches, not --gen-gso or --fixed" >&2
		exit 2
	fi ;;
*) echo "bench: --overload-gso: datagrams per send, 1 to 64" >&2; exit 2 ;;
esac
if [ "$OVERLOAD_XDP" = 1 ] &&
	{ [ "$GEN_GSO" != 0 ] || [ "$SOCKET_GEN" = 1 ] || [ -n "$FIXED" ]; }; then
	echo "bench: --overload-xdp goes with the raw generator's searches, not --socket-gen," \
		"--gen-gso or --fixed" >&2
	exit 2
fi
# GEN_PAYLOAD (below) goes into the overload trials' GSO sends too: UDP GSO cannot cut empty
# datagrams (a segment size of 0 is no segmentation), nor a send over 65507 bytes.
if [ -n "${GEN_PAYLOAD:-}" ] && [ "$OVERLOAD_GSO" != 0 ] &&
	{ [ "$GEN_PAYLOAD" -lt 1 ] || [ $((GEN_PAYLOAD * OVERLOAD_GSO)) -gt 65507 ]; } 2>/dev/null; then
	echo "bench: GEN_PAYLOAD=$GEN_PAYLOAD with --overload-gso $OVERLOAD_GSO:" \
		"1 to $((65507 / OVERLOAD_GSO)) bytes" >&2
	exit 2
fi
# (digits only: tc reads "0100" as octal, and "00" would be a pfifo of 0 frames)
if ! [[ $RX_RING =~ ^(0|[1-9][0-9]{0,3})$ ]] ||
	{ [ "$RX_RING" != 0 ] && { [ "$RX_RING" -lt 64 ] || [ "$RX_RING" -gt 4096 ]; }; }; then
	echo "bench: --rx-ring: frames of the pfifo in front of the DUT, 64 to 4096 (0: none)" >&2
	exit 2
fi
# A socket generator's super-datagrams would wait in the pfifo and be cut into frames on the
# DUT's CPU (above): the pfifo is the raw generator's.
if [ "$RX_RING" != 0 ] && { [ "$SOCKET_GEN" = 1 ] || [ "$GEN_GSO" != 0 ]; }; then
	if [ "$RX_RING_GIVEN" = 1 ]; then
		echo "bench: --rx-ring goes with the raw generator, not --socket-gen or --gen-gso" >&2
		exit 2
	fi
	RX_RING=0
fi
# veth pushes back into a qdisc since 6.16, and reliably since 6.18 (and 6.17.10).
# ("6.17.10+deb13-amd64": $3 + 0 keeps 10; "6.18-rc1": 0.)
KVER=$(uname -r | awk -F'[.-]' '{ p = $3 + 0
	printf "%d", $1 * 10000 + $2 * 100 + (p > 99 ? 99 : p) }')
if [ "$RX_RING" != 0 ] && [ "$KVER" -lt 61710 ]; then
	if [ "$RX_RING_GIVEN" = 1 ]; then
		echo "bench: --rx-ring needs Linux 6.17.10 or later (veth's push back into a qdisc);" \
			"this is $(uname -r)" >&2
		exit 2
	fi
	echo "bench: Linux $(uname -r): no receive ring in front of the DUT but veth's own" \
		"(--rx-ring needs 6.17.10)" >&2
	RX_RING=0
fi
case $SEARCH_TRIALS in
[13579]) ;;
*) echo "bench: --search-trials: an odd number from 1 to 9" >&2; exit 2 ;;
esac

[ "$(id -u)" = 0 ] || { echo "bench: needs root (namespaces, XDP)" >&2; exit 77; }
for t in jq python3 ip taskset ethtool; do
	command -v $t >/dev/null || { echo "bench: missing $t (run ./scripts/deps.sh bench)" >&2; exit 1; }
done

# The smallest frame: 64 B, and 78 B for IPv6 (RFC 5180), whose 62 B of headers and FCS
# would leave a 64 B frame an empty datagram, a different workload (perf/README.md).
MIN_FRAME=64
[ "$FAMILY" = 6 ] && MIN_FRAME=78
if [ $FULL = 1 ]; then
	MODE=full TRIALS=5 TRIAL_S=10 SEARCH_STEPS=8 SEARCH_S=5 LAT_S=5
	SIZES=${SIZES:-$MIN_FRAME,imix,1400}
else
	MODE=quick TRIALS=3 TRIAL_S=1 SEARCH_STEPS=5 SEARCH_S=0.5 LAT_S=0.5
	SIZES=${SIZES:-$MIN_FRAME}
fi
for SIZE in ${SIZES//,/ }; do
	[ "$SIZE" = imix ] || [ "$SIZE" -ge "$MIN_FRAME" ] 2>/dev/null || {
		echo "bench: --sizes $SIZE: the smallest frame for IPv$FAMILY is $MIN_FRAME B" >&2
		exit 2
	}
done
# --fixed: TRIALS trials of FIXED_S seconds at each rate, no searches
[ -n "$FIXED" ] && MODE=fixed TRIAL_S=$FIXED_S
# The sink has no limit on its total time, only on the time between two reads of its count
# (lib.sh, sink_start): far longer than a trial, a DUT's start or a latency phase.
SINK_IDLE_S=$(awk -v t="$TRIAL_S" 'BEGIN { i = 4 * t + 60; print int(i < 600 ? 600 : i) }')
FLOWS=16
# skb: generic XDP after RPS to the generator's CPU; native: veth XDP on the sender's CPU.
SINK_MODE=${SINK_MODE:-native}
SINK_OPT=$([ "$SINK_MODE" = native ] && echo -N || true)
GEN_CPU=0
DUT_CPU=1
PERF=$BUILD/perf
PERF_SRC=$(dirname "$0")
RINGRELAY=$BUILD/ringrelay

make --no-print-directory BUILD="$BUILD" perf-tools >&2

# ------------------------------------------------------------------ topology
# shellcheck source=perf/lib.sh
. "$(dirname "$0")/lib.sh"
ID=$$
CLEANUP_EXTRA="/var/run/dpdk/rrb$ID"	# testpmd's runtime files (--file-prefix)
perf_init rrb

MAC_D0=02:52:52:00:00:0a MAC_D1=02:52:52:00:00:0b
# s0 copies d0's MAC and g0 copies d1's, so frames forwarded unmodified by testpmd's io mode
# still arrive addressed to the host on the other side (needed by the latency return path).
MAC_S0=$MAC_D0 MAC_G0=$MAC_D1

topo_up() {
	local g="ip -n $NS_G" d="ip -n $NS_D" s="ip -n $NS_S"
	ip netns add $NS_G
	ip netns add $NS_D
	ip netns add $NS_S
	$g link add g0 address $MAC_G0 type veth peer name d0 address $MAC_D0 netns $NS_D
	$d link add d1 address $MAC_D1 type veth peer name s0 address $MAC_S0 netns $NS_S
	$g addr add 198.18.0.1/24 dev g0
	$g addr add 2001:2:0:1::1/64 dev g0 nodad
	$d addr add 198.18.0.2/24 dev d0
	$d addr add 2001:2:0:1::2/64 dev d0 nodad
	$d addr add 198.18.1.1/24 dev d1
	$d addr add 2001:2:0:2::1/64 dev d1 nodad
	$s addr add 198.18.1.2/24 dev s0
	$s addr add 2001:2:0:2::2/64 dev s0 nodad
	for n in $NS_G $NS_D $NS_S; do ip -n "$n" link set lo up; done
	$g link set g0 up
	$d link set d0 up
	$d link set d1 up
	$s link set s0 up
	$g route add 198.18.1.0/24 via 198.18.0.2
	$g -6 route add 2001:2:0:2::/64 via 2001:2:0:1::2
	$s route add 198.18.0.0/24 via 198.18.1.1
	$s -6 route add 2001:2:0:1::/64 via 2001:2:0:2::1
	# Static neighbours: no ARP/ND during a trial, and none needed when a PMD owns the link.
	$g neigh add 198.18.0.2 lladdr $MAC_D0 dev g0 nud permanent
	$g -6 neigh add 2001:2:0:1::2 lladdr $MAC_D0 dev g0 nud permanent
	$d neigh add 198.18.0.1 lladdr $MAC_G0 dev d0 nud permanent
	$d -6 neigh add 2001:2:0:1::1 lladdr $MAC_G0 dev d0 nud permanent
	$d neigh add 198.18.1.2 lladdr $MAC_S0 dev d1 nud permanent
	$d -6 neigh add 2001:2:0:2::2 lladdr $MAC_S0 dev d1 nud permanent
	$s neigh add 198.18.1.1 lladdr $MAC_D1 dev s0 nud permanent
	$s -6 neigh add 2001:2:0:2::1 lladdr $MAC_D1 dev s0 nud permanent
	# Where d0's and d1's receive work runs is set by placement_set.
	# Checksums in software at the endpoints: with veth's default offload a frame carries a
	# partial checksum, which a PMD forwarding raw bytes would pass on unfixed.
	# With --gen-gso, g0 keeps its offloads so GSO super-datagrams reach the DUT whole.
	[ "$GEN_GSO" = 0 ] && ip netns exec $NS_G ethtool -K g0 tx off >/dev/null
	ip netns exec $NS_S ethtool -K s0 tx off >/dev/null
	# A GSO send leaves d1 cut into datagrams (software segmentation on the DUT CPU, as on a
	# NIC without UDP segmentation offload), so the sink counts datagrams, not sends.
	ip netns exec $NS_D ethtool -K d1 tx-udp-segmentation off >/dev/null
	[ "$SINK_MODE" = skb ] &&
		ip netns exec $NS_S sh -c "echo $((1 << GEN_CPU)) > /sys/class/net/s0/queues/rx-0/rps_cpus"
	ip netns exec $NS_G sh -c "echo $((1 << GEN_CPU)) > /sys/class/net/g0/queues/rx-0/rps_cpus"
	rx_ring_set "$RX_RING"
}

# rx_ring_set FRAMES: --rx-ring's pfifo on g0, or none (veth's default, noqueue) for 0.
rx_ring_set() {
	if [ "$1" != 0 ]; then
		ip netns exec $NS_G tc qdisc replace dev g0 root pfifo limit "$1"
	else
		ip netns exec $NS_G tc qdisc del dev g0 root 2>/dev/null || true
	fi
}

# placement_set: where the DUT side's receive work runs, for every DUT of this placement.
placement_set() {
	local dev
	for dev in d0 d1; do
		if [ "$PLACEMENT" = napi ]; then
			# veth has NAPI only with GRO on or an XDP program attached; GRO on gives
			# every DUT one. A plain socket still gets one datagram per read: UDP GRO
			# coalesces only for sockets with UDP_GRO (ringrelay-gro), and only datagrams
			# with a UDP checksum (not the raw generator's IPv4 frames).
			ip netns exec $NS_D sh -c "echo 0 > /sys/class/net/$dev/queues/rx-0/rps_cpus"
			ip netns exec $NS_D ethtool -K $dev gro on
			ip netns exec $NS_D sh -c "echo 1 > /sys/class/net/$dev/threaded"
		elif [ "$PLACEMENT" = sender ]; then
			ip netns exec $NS_D sh -c "echo 0 > /sys/class/net/$dev/queues/rx-0/rps_cpus"
			ip netns exec $NS_D ethtool -K $dev gro on
			ip netns exec $NS_D sh -c "echo 0 > /sys/class/net/$dev/threaded"
		else
			# Writing 0 fails (EIO) when the device has no NAPI instance left.
			ip netns exec $NS_D sh -c "echo 0 > /sys/class/net/$dev/threaded" 2>/dev/null || true
			ip netns exec $NS_D ethtool -K $dev gro off
			ip netns exec $NS_D sh -c "echo $((1 << DUT_CPU)) > /sys/class/net/$dev/queues/rx-0/rps_cpus"
		fi
	done
	# veth bypasses the peer's NAPI for packets from a device with TSO on (they could not be
	# aggregated): with --gen-gso, g0 keeps UDP segmentation but not TSO under napi.
	if [ "$GEN_GSO" != 0 ]; then
		ip netns exec $NS_G ethtool -K g0 tso "$([ "$PLACEMENT" = rps ] && echo on || echo off)" \
			>/dev/null
	fi
}

# placement_pin: after a DUT has started (attaching XDP can replace a veth's NAPI instance and
# its thread), makes d0's and d1's NAPI threaded again and pins every NAPI thread to the DUT
# CPU. The threads are found through netdev netlink (perf/napi.py), not by name: a "napi/d0-*"
# thread may belong to another namespace's d0. Records what it found.
NAPI_PIDS=""
placement_pin() {
	local dev pids pid
	NAPI_PIDS=""
	if [ "$PLACEMENT" = napi ]; then
		for dev in d0 d1; do
			ip netns exec $NS_D sh -c "echo 1 > /sys/class/net/$dev/threaded"
			pids=$(ip netns exec $NS_D python3 "$PERF_SRC/napi.py" pids $dev)
			[ -n "$pids" ] || { echo "no NAPI thread on $dev"; return 1; }
			for pid in $pids; do
				taskset -p -c $DUT_CPU "$pid" >/dev/null
				[ -z "${NAPI_NICE:-}" ] || renice -n "$NAPI_NICE" -p "$pid" >/dev/null
				NAPI_PIDS="$NAPI_PIDS $pid"
			done
		done
	fi
	if [ -n "${NAPI_SET:-}" ]; then
		# shellcheck disable=SC2086
		ip netns exec $NS_D python3 "$PERF_SRC/napi.py" set d0 $NAPI_SET || return 1
	fi
	{
		for dev in d0 d1; do
			ip netns exec $NS_D python3 "$PERF_SRC/napi.py" show $dev || true
		done
	} | jq -s -c --arg dut "$DUT" --arg size "$SIZE" --arg placement "$PLACEMENT" \
		--arg rps "$(ip netns exec $NS_D cat /sys/class/net/d0/queues/rx-0/rps_cpus)" \
		--arg gro "$(ip netns exec $NS_D ethtool -k d0 | awk '/^generic-receive-offload/ { print $2 }')" \
		--arg pids "$NAPI_PIDS" --arg napi_set "${NAPI_SET:-}" \
		--arg cpus "$(for pid in $NAPI_PIDS; do
			awk '/^Cpus_allowed_list/ { printf "%s ", $2 }' /proc/$pid/status; done)" \
		--arg nices "$(for pid in $NAPI_PIDS; do ps -o nice= -p "$pid" | tr -d " "; done)" \
		--arg opts "$([ "$DUT" = busy-relay ] && echo "${BUSY_RELAY_OPTS:-}")" \
		'{dut: $dut, size: $size, placement: $placement, phase: "placement", d0_rps_cpus: $rps,
		  d0_gro: $gro, napi: ., napi_thread_pids: ($pids | split(" ") | map(select(. != "") | tonumber)),
		  napi_thread_cpus: ($cpus | split(" ") | map(select(. != ""))),
		  napi_thread_nice: ($nices | split("\n") | map(select(. != "") | tonumber)),
		  napi_set: $napi_set, dut_opts: $opts}' \
		>>"$RECORDS"
}

if [ "$FAMILY" = 6 ]; then
	DUT_LISTEN="[2001:2:0:1::2]:5000" SINK_ADDR="[2001:2:0:2::2]:9000"
	GEN_SRC="[2001:2:0:1::1]:0"
else
	DUT_LISTEN="198.18.0.2:5000" SINK_ADDR="198.18.1.2:9000"
	GEN_SRC="198.18.0.1:0"
fi
# Throughput trials send raw frames (AF_PACKET, past g0's qdisc unless --rx-ring's pfifo is
# in use for this device: gen -Q, RING_ON): ~1.5x the packet rate of the UDP
# socket path on one core, so the generator stays ahead of kernel-path DUTs. --socket-gen
# uses UDP sockets instead. Latency always uses UDP sockets (it needs the replies).
GEN_MODE_OPTS="-i g0 -M $MAC_D0 -s $GEN_SRC"
[ "$SOCKET_GEN" = 1 ] && GEN_MODE_OPTS=""
# --gen-gso N: the generator sends UDP GSO super-datagrams of N segments, as batching senders
# (QUIC servers, tunnels) do. veth hands them to the DUT whole, which is the only way to feed
# a GRO receiver here: veth does not coalesce plain datagrams the way a NIC's GRO does.
[ "$GEN_GSO" != 0 ] && GEN_MODE_OPTS="-g $GEN_GSO"
# GEN_PAYLOAD=N: every datagram of the throughput trials (the overload trials' too, not the
# latency trials') carries N bytes whatever the frame size says (GEN_PAYLOAD=0: empty
# datagrams, which end an io_uring multishot receive). The report's command and generator
# say so.
[ -n "${GEN_PAYLOAD:-}" ] && GEN_MODE_OPTS="$GEN_MODE_OPTS -P $GEN_PAYLOAD"

# ------------------------------------------------------------------ measurement
# The functions below read what the edges of a trial's CPU window need with builtins only,
# and set variables instead of printing into a command substitution: a fork costs tens of ms
# on a busy 2-CPU box, and each one at an edge would stretch the window for every device
# (charged in full to one that polls when idle).

# now_us VAR: microseconds of the wall clock (EPOCHREALTIME's decimal separator follows the
# locale).
now_us() {
	printf -v "$1" %s "${EPOCHREALTIME/[.,]/}"
}

# sink_settled [cpu]: waits (bounded, about 2 s) until the sink's count has stopped moving
# (unchanged for 50 ms) and sets SETTLED to it. With "cpu", also SETTLED_CPU: the DUT's CPU
# figures (cpu_snap) read right after the first read of the sink that returned the final
# count: there the DUT had delivered its last datagram, and the 50 ms that confirm it are
# not part of the window (perf/README.md, Method). Reads are about 2 ms apart and take about
# as long. Fails when the sink does (lib.sh, sink_count).
sink_settled() {
	local first now
	SETTLED_CPU=""
	sink_count || return 1
	SETTLED=$SINK_COUNT
	[ "${1:-}" = cpu ] && cpu_snap SETTLED_CPU
	now_us first
	for _ in {1..500}; do
		psleep 0.002
		sink_count || return 1
		now_us now
		if [ "$SINK_COUNT" != "$SETTLED" ]; then
			SETTLED=$SINK_COUNT first=$now
			[ "${1:-}" = cpu ] && cpu_snap SETTLED_CPU
			continue
		fi
		[ $((now - first)) -ge 50000 ] && break
	done
	return 0
}

# cpu_snap VAR: the DUT's side of a trial's CPU window into VAR, one line each: its core
# (cpu_ticks), its process (proc_ticks), its NAPI threads (napi_ticks) and now_us.
cpu_snap() {
	local _c _t _n _w
	cpu_ticks $DUT_CPU _c
	proc_ticks _t
	napi_ticks _n
	now_us _w
	printf -v "$1" '%s\n%s\n%s\n%s' "$_c" "$_t" "$_n" "$_w"
}

# cpu_ticks CPU VAR: "busy system irq+softirq user total" ticks of CPU into VAR (steal is the
# hypervisor's).
cpu_ticks() {
	local _name _u _n _s _i _w _q _sq _st _rest
	while read -r _name _u _n _s _i _w _q _sq _st _rest; do
		[ "$_name" = "cpu$1" ] || continue
		printf -v "$2" '%s %s %s %s %s' $((_u + _n + _s + _q + _sq)) "$_s" $((_q + _sq)) \
			$((_u + _n)) $((_u + _n + _s + _i + _w + _q + _sq + _st))
		return 0
	done </proc/stat
	return 1
}

# task_ticks PID VAR: utime+stime ticks of PID into VAR, 0 when there is no such process.
task_ticks() {
	local _line _f
	if IFS= read -r _line 2>/dev/null <"/proc/$1/stat"; then
		read -ra _f <<<"${_line##*) }"
		printf -v "$2" %s $((_f[11] + _f[12]))
	else
		printf -v "$2" 0
	fi
}

# napi_ticks VAR: utime+stime ticks of the pinned NAPI threads (napi placement) into VAR, 0
# without any. A threaded NAPI poll runs with bottom halves disabled, not in softirq context,
# so /proc/stat counts it as system time of the CPU, not as softirq.
napi_ticks() {
	local _pid _sum=0 _t
	for _pid in $NAPI_PIDS; do
		task_ticks "$_pid" _t
		_sum=$((_sum + _t))
	done
	printf -v "$1" %s "$_sum"
}

# proc_ticks VAR: utime+stime ticks of the DUT process into VAR, 0 when there is none.
proc_ticks() {
	if [ -n "${DUT_PID:-}" ]; then
		task_ticks "$DUT_PID" "$1"
	else
		printf -v "$1" 0
	fi
}

HZ=$(getconf CLK_TCK)

# gen_ring: "ACCEPTED DROPPED" for the generator in use. The XDP generator's frames that g0's
# veth put into d0's XDP ring, and those it refused (the ring was full), summed over g0's
# queues: a frame neither counts (no NAPI on d0) vanished unseen, so trials record the sum
# beside what the generator sent. Else "0" and ring_drops (g0's tx_dropped and its pfifo's drops).
gen_ring() {
	if [ "$XDP_GEN" = 1 ]; then
		ip netns exec $NS_G ethtool -S g0 | awk '
			$1 ~ /^tx_queue_[0-9]+_xdp_xmit:$/ { a += $2 }
			$1 ~ /^tx_queue_[0-9]+_xdp_xmit_errors:$/ { e += $2 }
			END { print a + 0, e + 0 }'
	else
		echo "0 $(ring_drops)"
	fi
}

# Frames the DUT sent that veth dropped on their way into s0 (s0's ring was full), counted as
# d1's tx_dropped: lost behind the DUT. They count as loss like any other; the records keep
# them apart. With the native sink s0's NAPI runs on the CPU that sends on d1 (the DUT's), so
# they measure the DUT core's contention; SINK_MODE=skb puts the sink on the generator's CPU.
sink_drops() {
	ip netns exec $NS_D cat /sys/class/net/d1/statistics/tx_dropped
}

# ring_q VAR: "-Q" in VAR when the raw generator sends through --rx-ring's pfifo (RING_ON:
# this device's d0 has NAPI), else "". (Past the qdisc, a frame veth pushes back while the
# pfifo is on g0 would be dropped unseen.)
ring_q() {
	local rq=""
	[ "$RING_ON" = 1 ] && [ "$SOCKET_GEN" = 0 ] && [ "$XDP_GEN" = 0 ] && rq=-Q
	printf -v "$1" %s "$rq"
}

# trial PHASE RATE SECONDS [MAXLOSS ATTEMPT]: one generator run through the DUT; appends a
# JSON record. With MAXLOSS (a search's trial) the record also has the verdict the search
# acts on: "loss" (more than MAXLOSS lost), else "under_offered" (the generator offered less
# than 99 % of RATE: a paced generator that fell behind loses nothing at the lower rate it
# really offered), else "pass"; and ATTEMPT, the how-manieth try of the trial this is.
trial() {
	local phase=$1 rate=$2 secs=$3 maxloss=${4:-null} attempt=${5:-null} ropt="" g \
		p0 p1 c0 c1 t0 t1 n0 n1 q0 q1 x0 x1 e0 e1 s0 cg wg w0 w1 a0 a1 qopt ring=0
	[ "$rate" != 0 ] && ropt="-r $rate"
	ring_q qopt
	[ -n "$qopt" ] && ropt="$ropt $qopt" ring=$RX_RING
	sink_settled || return 1
	p0=$SETTLED
	read -r a0 x0 <<<"$(gen_ring)"
	e0=$(sink_drops)
	# The DUT's CPU window opens right before the generator starts (the DUT is idle: the
	# sink has settled) and closes when the DUT has delivered its last datagram, so that
	# delivered and CPU cover the same datagrams, those still queued in the DUT when the
	# generator stops included; a device that polls when idle (testpmd) is charged for the
	# drain and a read of the sink, not for the settling before and after (perf/README.md,
	# Method). The generator's core is read around the generator's run only.
	cpu_ticks $GEN_CPU q0
	cpu_snap s0
	# shellcheck disable=SC2086
	g=$(ip netns exec $NS_G "$PERF/gen" -d "$GEN_DST" -f $FLOWS -l "$SIZE" -t "$secs" \
		-C $GEN_CPU $ropt $GEN_MODE_OPTS)
	now_us wg
	cpu_ticks $GEN_CPU q1
	cpu_ticks $DUT_CPU cg
	sink_settled cpu || return 1
	p1=$SETTLED
	{ read -r c0; read -r t0; read -r n0; read -r w0; } <<<"$s0"
	{ read -r c1; read -r t1; read -r n1; read -r w1; } <<<"$SETTLED_CPU"
	read -r a1 x1 <<<"$(gen_ring)"
	e1=$(sink_drops)
	# Offered: past the qdisc, a frame veth dropped is one gen was refused and did not count
	# (in ring_drops: g0's tx_dropped); through the pfifo (-Q) veth pushes back instead, and
	# gen was refused only what the full pfifo dropped, so its refusals are added, not
	# ring_drops, whose veth part would then be frames gen counted as sent.
	jq -c -n --argjson g "$g" --arg dut "$DUT" --arg phase "$phase" --arg size "$SIZE" \
		--arg placement "$PLACEMENT" --argjson d "$(((p1 - p0) / DUT_COPIES))" --argjson hz "$HZ" \
		--argjson c "[$(echo "$c0 $c1" | awk '{ print $6-$1 "," $7-$2 "," $8-$3 "," $9-$4 "," $10-$5 }')]" \
		--argjson q "[$(echo "$q0 $q1" | awk '{ print $6-$1 "," $8-$3 "," $10-$5 }')]" \
		--argjson pt "$((t1 - t0))" --argjson nt "$((n1 - n0))" \
		--argjson cd "$(echo "$cg $c1" | awk '{ print $6 - $1 }')" \
		--argjson wd "$(((w1 - wg) / 1000))" --argjson ww "$(((w1 - w0) / 1000))" \
		--argjson w0 "$w0" --argjson w1 "$w1" \
		--argjson maxloss "$maxloss" --argjson attempt "$attempt" \
		--argjson rd "$((x1 - x0))" --argjson sd "$((e1 - e0))" --argjson xa "$((a1 - a0))" \
		--argjson raw "$([ "$SOCKET_GEN" = 0 ] && [ "$XDP_GEN" = 0 ] && echo 1 || echo 0)" \
		--argjson ring "$ring" '
		($g.sent_pkts + (if $ring > 0 then ($g.refused_pkts // 0) elif $raw == 1 then $rd
			else 0 end)) as $sent | {
		rx_ring: $ring,
		dut: $dut, size: $size, placement: $placement, phase: $phase, rate: $g.rate_pps,
		gen_mode: $g.mode,
		sent: $sent, gen_sent_ok: $g.sent_pkts, ring_drops: $rd, sink_drops: $sd, gen_refused: ($g.refused_pkts // 0),
		gen_max_lag_us: ($g.max_lag_us // 0), gen_lags_1ms: ($g.lags_1ms // 0),
		gen_skipped: ($g.skipped_pkts // 0), delivered: $d,
		elapsed_s: $g.elapsed_s,
		offered_mpps: ($sent / $g.elapsed_s / 1e6),
		mpps: ($d / $g.elapsed_s / 1e6),
		loss: (if $sent > 0 then 1 - $d / $sent else 0 end),
		dut_proc_cpu_s: ($pt / $hz), dut_core_busy_s: ($c[0] / $hz),
		dut_core_sys_s: ($c[1] / $hz), dut_core_softirq_s: ($c[2] / $hz),
		dut_core_user_s: ($c[3] / $hz), dut_napi_thread_s: ($nt / $hz),
		cpu_window_s: ($ww / 1000), cpu_drain_window_s: ($wd / 1000),
		cpu_window_us: [$w0, $w1],
		dut_core_busy_drain_s: ($cd / $hz),
		dut_core_busy_fraction: (if $c[4] > 0 then $c[0] / $c[4] else 0 end),
		gen_core_busy_s: ($q[0] / $hz), gen_core_softirq_s: ($q[1] / $hz),
		gen_core_softirq_fraction: (if $q[2] > 0 then $q[1] / $q[2] else 0 end)} |
		if $g.mode == "tx-xdp" then . + {gen_xdp_xmit_seen: ($xa + $rd)} else . end |
		if $maxloss == null then . else . + {max_loss: $maxloss, attempt: $attempt,
			verdict: (if .loss > $maxloss then "loss"
				elif .offered_mpps * 1e6 < 0.99 * .rate then "under_offered"
				else "pass" end)} end' |
		tee -a "$RECORDS"
}

# search NAME MAXLOSS HI [LO]: binary search of the highest rate with loss <= MAXLOSS in most
# of SEARCH_TRIALS trials per step; a step stops as soon as its majority is known. A trial
# passes only when the generator offered at least 99 % of the step's rate (trial's verdict):
# a paced generator that fell behind loses nothing and would otherwise report a rate it never
# offered. A trial that failed only that way ("under_offered": the generator's trouble, not
# the DUT's) is run again, up to 3 times in all, before it counts as failed. A trial without
# a result (the generator failed) fails. Each step is recorded (phase "search_step") with
# how its trials ended; generator_capped says it failed without a majority lost by the DUT.
search() {
	local name=$1 maxloss=$2 hi=$3 lo=${4:-0} mid r v try good bad nloss nunder nnone
	for _ in $(seq 1 "$SEARCH_STEPS"); do
		mid=$(((lo + hi) / 2))
		[ "$mid" -lt 1000 ] && break
		good=0 bad=0 nloss=0 nunder=0 nnone=0
		while [ $((2 * good)) -le "$SEARCH_TRIALS" ] && [ $((2 * bad)) -le "$SEARCH_TRIALS" ]; do
			for try in 1 2 3; do
				# A trial that failed because the sink is gone ends the search, and
				# the run (set -e where searches calls it), instead of failing every
				# step from here.
				r=$(trial "$name" "$mid" "$SEARCH_S" "$maxloss" "$try") ||
					sink_pkts >/dev/null || return 1
				v=$(echo "$r" | jq -r '.verdict // empty' 2>/dev/null) || v=""
				[ "$v" = under_offered ] || break
			done
			case $v in
			pass) good=$((good + 1)) ;;
			loss) bad=$((bad + 1)) nloss=$((nloss + 1)) ;;
			under_offered) bad=$((bad + 1)) nunder=$((nunder + 1)) ;;
			*) bad=$((bad + 1)) nnone=$((nnone + 1)) ;;
			esac
		done
		jq -c -n --arg dut "$DUT" --arg size "$SIZE" --arg placement "$PLACEMENT" \
			--arg search "$name" --argjson rate "$mid" --argjson maxloss "$maxloss" \
			--argjson good "$good" --argjson nloss "$nloss" --argjson nunder "$nunder" \
			--argjson nnone "$nnone" --argjson n "$SEARCH_TRIALS" \
			'{dut: $dut, size: $size, placement: $placement, phase: "search_step",
			search: $search, rate: $rate, max_loss: $maxloss, passed: ($good > $nloss + $nunder + $nnone),
			trials_pass: $good, trials_loss: $nloss, trials_under_offered: $nunder,
			trials_no_result: $nnone,
			generator_capped: ($good <= $nloss + $nunder + $nnone and 2 * $nloss <= $n and $nunder > 0)}' \
			>>"$RECORDS"
		if [ "$good" -gt "$bad" ]; then
			lo=$mid
		else
			hi=$mid
		fi
	done >&2
	echo "$lo"
}

# latency: round trips through the DUT and back, at 10/50/90 % of the PDR rate. A round trip
# is two packets for the DUT, so the generator sends at half of that rate.
latency() {
	local pdr=$1 pct rate out
	sink_stop
	spawn ip netns exec $NS_S "$PERF/gen" -E -d "$SINK_ADDR" -t 60 -C $GEN_CPU \
		>"$WORK/echo.out"
	local echo_pid=$LAST_PID
	sleep 0.2
	for pct in 10 50 90; do
		rate=$((pdr * pct / 200))
		[ "$rate" -lt 100 ] && continue
		out=$(ip netns exec $NS_G "$PERF/gen" -L -d "$GEN_DST" -l "$SIZE" -t "$LAT_S" \
			-C $GEN_CPU -r "$rate")
		jq -c -n --argjson g "$out" --arg dut "$DUT" --arg size "$SIZE" --argjson pct $pct \
			--arg placement "$PLACEMENT" \
			'{dut: $dut, size: $size, placement: $placement, phase: "latency", pct_of_pdr: $pct,
			  rate: $g.rate_pps, achieved_pps: $g.pps, dut_pps: (2 * $g.rate_pps), sent: $g.sent_pkts, received: $g.rx_pkts,
			  rtt_us: $g.rtt_us}' | tee -a "$RECORDS" >&2
	done
	stop "$echo_pid"
	sink_start "$SINK_OPT"
}

# status DUT TEXT: records why a DUT did not produce numbers (or that it did).
status() {
	jq -c -n --arg dut "$DUT" --arg size "$SIZE" --arg placement "$PLACEMENT" --arg s "$1" \
		'{dut: $dut, size: $size, placement: $placement, phase: "status", status: $s}' >>"$RECORDS"
	echo "bench: $DUT ($SIZE B, $PLACEMENT): $1" >&2
}

# ------------------------------------------------------------------ devices under test
DUT_PID=""

dut_start() {
	DUT_PID=""
	DUT_COPIES=1
	GEN_DST=$DUT_LISTEN
	case $DUT in
	ringrelay-io_uring|ringrelay-mmsg|ringrelay-gro|ringrelay-offload|ringrelay-offload-tc|ringrelay-mirror)
		[ -x "$RINGRELAY" ] || { echo "$RINGRELAY not built"; return 1; }
		local up="\"$SINK_ADDR\"" backend=${DUT#ringrelay-} buffers=${RR_BUFFERS:-"buffer_size = 2048; buffers = 4096;"}
		local offload="off" mode='mode = "forward"; balance = "rr";'
		# ringrelay-mirror: the io_uring backend in mirror mode, a copy of every datagram
		# to each of two members, the sink on two ports; the sink counts both copies, and a
		# trial's delivered packets are the copies per member (DUT_COPIES).
		if [ "$DUT" = ringrelay-mirror ]; then
			backend=${RR_MIRROR_BACKEND:-io_uring}
			up="$up, \"${SINK_ADDR%:*}:9001\""
			mode='mode = "mirror";'
			DUT_COPIES=2
		fi
		# ringrelay-gro: the io_uring backend with UDP GRO in and GSO out; it pays off
		# when what arrives is coalesced (see --gen-gso).
		if [ "$DUT" = ringrelay-gro ]; then
			backend=io_uring
			buffers="buffer_size = 69632; buffers = 4096; gro = true;"
		fi
		# ringrelay-offload: the io_uring relay with the session fast path (docs/offload.md).
		# XDP_REDIRECT into a veth needs NAPI on its peer: GRO on g0 and s0 (the XDP sink
		# gives s0 one too, but the latency phase replaces the sink with a socket
		# reflector, and replies go back into g0). bpf_fib_lookup needs forwarding on d0
		# and d1; the generator sends to the relay's own address, so nothing is routed by
		# the kernel. offload = "xdp" so a missing capability shows as pass_* counters in
		# the stats line instead of a silent fall back to tc; ringrelay-offload-tc is the
		# same relay with offload = "tc" (tcx link, bpf_redirect_neigh).
		if [ "${DUT#ringrelay-offload}" != "$DUT" ]; then
			backend=io_uring
			offload=xdp
			[ "$DUT" = ringrelay-offload-tc ] && offload=tc
			ip netns exec $NS_G ethtool -K g0 gro on >/dev/null
			ip netns exec $NS_S ethtool -K s0 gro on >/dev/null
			ip netns exec $NS_D sysctl -qw net.ipv4.conf.d0.forwarding=1 \
				net.ipv4.conf.d1.forwarding=1 net.ipv6.conf.d0.forwarding=1 \
				net.ipv6.conf.d1.forwarding=1
		fi
		cat >"$WORK/rr.conf" <<-EOF
		workers = 1;
		io_backend = "$backend";
		cpus = [ $DUT_CPU ];
		$buffers
		control_socket = "$WORK/ctl.sock";
		${RR_CONF_EXTRA:-}
		relays = ( { name = "bench"; listen = [ "$DUT_LISTEN" ];
			upstreams = [ $up ]; $mode
			session_timeout = 30.0; max_sessions = 4096; offload = "$offload";
			${RR_RELAY_EXTRA:-} } );
		EOF
		spawn ip netns exec $NS_D taskset -c $DUT_CPU "$RINGRELAY" -f -c "$WORK/rr.conf" \
			>"$WORK/dut.log" 2>&1
		DUT_PID=$LAST_PID
		wait_for "$WORK/dut.log" "backend [a-z_]*[,:].*ready" 100 ||
			{ tail -n 5 "$WORK/dut.log"; return 1; }
		grep -q "backend $backend" "$WORK/dut.log" ||
			{ grep "backend" "$WORK/dut.log"; return 1; }
		;;
	mmsg-loop)
		spawn ip netns exec $NS_D taskset -c $DUT_CPU "$PERF/mmsg_relay" -l "$DUT_LISTEN" \
			-u "$SINK_ADDR" -C $DUT_CPU -t 3600 >"$WORK/dut.out" 2>"$WORK/dut.log"
		DUT_PID=$LAST_PID
		wait_for "$WORK/dut.log" ready || { cat "$WORK/dut.log"; return 1; }
		;;
	busy-relay)
		# shellcheck disable=SC2086
		spawn ip netns exec $NS_D taskset -c $DUT_CPU "$PERF/busy_relay" -l "$DUT_LISTEN" \
			-u "$SINK_ADDR" -C $DUT_CPU -t 3600 ${BUSY_RELAY_OPTS:-} >"$WORK/dut.out" \
			2>"$WORK/dut.log"
		DUT_PID=$LAST_PID
		wait_for "$WORK/dut.log" ready || { cat "$WORK/dut.log"; return 1; }
		;;
	kernel-forward)
		GEN_DST=$SINK_ADDR
		ip netns exec $NS_D sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
		;;
	testpmd-af_xdp|testpmd-af_packet)
		command -v dpdk-testpmd >/dev/null || { echo "dpdk-testpmd not installed"; return 1; }
		local pmd=net_${DUT#testpmd-} extra=""
		[ "$pmd" = net_af_packet ] && extra=",qpairs=1"
		GEN_DST=$SINK_ADDR
		# Main lcore on the generator's CPU (it only prints), forwarding lcore on the DUT CPU.
		# No hugepages: veth PMDs copy anyway and a test box rarely has them reserved.
		spawn ip netns exec $NS_D dpdk-testpmd -l $GEN_CPU,$DUT_CPU --main-lcore $GEN_CPU \
			--no-huge -m 512 --no-pci --file-prefix "rrb$ID" --log-level=pmd.net,6 \
			--vdev "${pmd}0,iface=d0$extra" --vdev "${pmd}1,iface=d1$extra" -- \
			--forward-mode=io --nb-cores=1 --auto-start --stats-period 1 \
			--txd=1024 --rxd=1024 --burst=64 --total-num-mbufs=16384 </dev/null >"$WORK/dut.log" 2>&1
		DUT_PID=$LAST_PID
		if ! wait_for "$WORK/dut.log" "Port statistics" 200; then
			grep -iE "error|fail|cannot|invalid" "$WORK/dut.log" | head -n 5
			return 1
		fi
		;;
	*) echo "unknown DUT"; return 1 ;;
	esac
}

dut_stop() {
	case $DUT in
	kernel-forward)
		ip netns exec $NS_D sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0
		;;
	ringrelay-offload|ringrelay-offload-tc)
		if [ -n "$DUT_PID" ]; then
			ip netns exec $NS_D "$(dirname "$RINGRELAY")/ringrelayctl" -s "$WORK/ctl.sock" \
				stats >"$WORK/dut.fast" 2>&1 || true
			stop "$DUT_PID"
			grep -h "stats relay=" "$WORK/dut.log" | tail -n 1 >"$WORK/dut.stats" || true
			# The fast path's outcome counters: why anything went up the stack.
			awk '/^fast path/ { f = 1; next } f && /^[a-z_]+ +[0-9]+$/ && $2 > 0 {
				printf " fast_path_%s=%s", $1, $2 }' "$WORK/dut.fast" >>"$WORK/dut.stats"
		fi
		ip netns exec $NS_G ethtool -K g0 gro off >/dev/null
		ip netns exec $NS_S ethtool -K s0 gro off >/dev/null
		ip netns exec $NS_D sysctl -qw net.ipv4.conf.d0.forwarding=0 \
			net.ipv4.conf.d1.forwarding=0 net.ipv6.conf.d0.forwarding=0 \
			net.ipv6.conf.d1.forwarding=0
		;;
	*)
		if [ -n "$DUT_PID" ] && [ "${DUT#ringrelay}" != "$DUT" ]; then
			# The worker's batching over the whole run: completions per loop turn, and
			# how often its multishot receives ended (an empty datagram ends one:
			# perf/README.md); then its peak resident memory, buffers included.
			ip netns exec $NS_D "$(dirname "$RINGRELAY")/ringrelayctl" -s "$WORK/ctl.sock" \
				-j status 2>/dev/null | jq -r '.workers[0] | select(.loops > 0) |
				" worker_loops=\(.loops) worker_completions=\(.completions) per_loop=\(.completions * 10 / .loops | floor / 10) worker_rearms=\(.rearms)"' \
				>"$WORK/dut.batch" 2>/dev/null || true
			awk '/^VmHWM:/ { printf " vm_hwm_kib=%s", $2 }' "/proc/$DUT_PID/status" \
				>>"$WORK/dut.batch" 2>/dev/null || true
		fi
		[ -n "$DUT_PID" ] && stop "$DUT_PID"
		if [ -n "$DUT_PID" ] && [ "${DUT#ringrelay}" != "$DUT" ]; then
			grep -h "stats relay=" "$WORK/dut.log" | tail -n 1 | tr -d '\n' >"$WORK/dut.stats" || true
			tr -d '\n' <"$WORK/dut.batch" >>"$WORK/dut.stats" 2>/dev/null || true
			# How many buffers the io_uring worker's ring held in the end, if it grew.
			sed -n 's/.*buffer ring empty.* it holds \([0-9]*\) from now on.*/ buffer_ring_fill=\1/p' \
				"$WORK/dut.log" | tail -n 1 | tr -d '\n' >>"$WORK/dut.stats" || true
			# The buffers and GRO it ran with (the effective config, defaults included).
			ip netns exec $NS_D "$RINGRELAY" -T -c "$WORK/rr.conf" 2>/dev/null |
				sed -n 's/^\(buffer_size\|gro\) = \([a-z0-9]*\);$/ \1=\2/p' |
				tr -d '\n' >>"$WORK/dut.stats" || true
		elif [ -n "$DUT_PID" ] && [ "$DUT" = busy-relay ]; then
			tail -n 1 "$WORK/dut.out" >"$WORK/dut.stats" || true
		fi
		;;
	esac
	DUT_PID=""
}

# ------------------------------------------------------------------ run
mkdir -p "$OUT"
STAMP=$(date -u +%Y-%m-%dT%H%M%SZ)
RECORDS=$OUT/$STAMP.tmp
: >"$RECORDS"
T_START=$(date +%s)
# Other work on the box shows in every figure: the report states the load at the start.
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)

# A private copy: a rebuild in the work tree during the run must not swap the binary.
RR_VERSION="not built"
if [ -x "$RINGRELAY" ]; then
	cp "$RINGRELAY" "$WORK/ringrelay"
	[ -x "$(dirname "$RINGRELAY")/ringrelayctl" ] &&
		cp "$(dirname "$RINGRELAY")/ringrelayctl" "$WORK/ringrelayctl"
	RINGRELAY=$WORK/ringrelay
	RR_VERSION=$("$RINGRELAY" -V 2>/dev/null | head -n 1) || true
fi

# fixed_trials: --fixed, TRIALS trials at each rate given.
fixed_trials() {
	local rate
	for rate in ${FIXED//,/ }; do
		for _ in $(seq 1 "$TRIALS"); do
			trial fixed "$rate" "$FIXED_S" >/dev/null
		done
	done
}

# warm_up: 0.2 s of the current generator's flows (sessions, neighbour state), not recorded.
warm_up() {
	local qopt
	ring_q qopt
	# shellcheck disable=SC2086
	ip netns exec $NS_G "$PERF/gen" -d "$GEN_DST" -f $FLOWS -l "$SIZE" -t 0.2 -C $GEN_CPU \
		$GEN_MODE_OPTS $qopt >/dev/null
}

# overload_trials: --overload-xdp / --overload-gso, the max-load trials once more from a
# generator that offers more than the raw one: the XDP generator where d0 can take its frames
# (and the frame size is fixed), else the GSO socket generator if asked for. Records which
# one ran, and why the XDP generator did not.
overload_trials() {
	local why=""
	if [ "$OVERLOAD_XDP" = 1 ]; then
		if [ "$SIZE" = imix ]; then
			why="imix (the XDP generator sends one frame size)"
		elif ! d0_napi; then
			why="d0 has no NAPI (neither GRO nor a native XDP program)"
		# 64 frames first, so a kernel or box where gen -X cannot run falls back here
		# instead of ending the run (set -e) in a trial.
		elif ! ip netns exec $NS_G "$PERF/gen" -d "$GEN_DST" -f $FLOWS -l "$SIZE" -t 1 -n 64 \
			-b 64 -C $GEN_CPU $GEN_MODE_OPTS -X >/dev/null 2>"$WORK/xgen.err"; then
			why="gen -X failed: $({ grep -m 1 '^gen:' "$WORK/xgen.err" ||
				head -n 1 "$WORK/xgen.err"; } | cut -c1-160)"
		fi
	fi
	jq -c -n --arg dut "$DUT" --arg size "$SIZE" --arg placement "$PLACEMENT" \
		--arg gen "$(if [ "$OVERLOAD_XDP" = 1 ] && [ -z "$why" ]; then echo xdp
			elif [ "$OVERLOAD_GSO" != 0 ]; then echo gso; else echo none; fi)" --arg why "$why" \
		'{dut: $dut, size: $size, placement: $placement, phase: "overload_generator",
		  generator: $gen, xdp_not_used: $why}' >>"$RECORDS"
	if [ "$OVERLOAD_XDP" = 1 ] && [ -z "$why" ]; then
		overload_xdp_trials
	elif [ "$OVERLOAD_GSO" != 0 ]; then
		overload_gso_trials
	fi
}

# d0_napi: d0 has a NAPI instance, without which veth refuses XDP frames for it (uncounted):
# GRO on, or a native XDP program.
d0_napi() {
	ip netns exec $NS_D ethtool -k d0 | grep -q '^generic-receive-offload: on' ||
		ip -n $NS_D link show d0 | grep -qE ' (xdp|xdpmulti) '
}

# overload_xdp_trials: the max-load trials from gen -X. Its flows are the raw generator's
# source ports, whose sessions the searches made. 8192 frames a test run: the run's own set-up
# (~0.25 ms) stays a few per cent of the generator's time. (Loading and attaching its program
# falls inside the trial's CPU window, a few ms of the DUT's; these trials' delivered rate
# is what the report uses, per second of the generator's sending.)
overload_xdp_trials() {
	local raw_opts=$GEN_MODE_OPTS
	GEN_MODE_OPTS="$raw_opts -X -b 8192" XDP_GEN=1
	for _ in $(seq 1 "$TRIALS"); do
		trial overload 0 "$TRIAL_S" >/dev/null
	done
	GEN_MODE_OPTS=$raw_opts XDP_GEN=0
}

# overload_gso_trials: --overload-gso, the max-load trials once more from the socket generator
# with UDP GSO, cut into frames on g0. g0's checksum offload goes on for them (the frames
# carry a partial checksum, as a socket's do on veth, instead of g0 summing every segment in
# software), TSO stays off (veth would bypass d0's NAPI) and so does UDP segmentation (so the
# DUT gets single frames). The sessions the generator's new source ports open are made by a
# warm-up first, as for the raw generator's flows.
overload_gso_trials() {
	local raw_opts=$GEN_MODE_OPTS raw_socket_gen=$SOCKET_GEN feats
	# What was asked for, to give back ("off [requested on]": on, held off by a dependency).
	feats=$(ip netns exec $NS_G ethtool -k g0 | awk '$2 ~ /^(on|off)$/ &&
		$1 ~ /^(tx-checksumming|tx-tcp-segmentation|tx-tcp6-segmentation|tx-udp-segmentation):$/ {
		v = $3 == "[requested" ? substr($4, 1, length($4) - 1) : $2
		sub(/:$/, "", $1); sub(/^tx-checksumming$/, "tx", $1); printf "%s %s ", $1, v }')
	ip netns exec $NS_G ethtool -K g0 tx on tso off tx-udp-segmentation off >/dev/null
	rx_ring_set 0
	GEN_MODE_OPTS="-g $OVERLOAD_GSO${GEN_PAYLOAD:+ -P $GEN_PAYLOAD}" SOCKET_GEN=1
	warm_up
	for _ in $(seq 1 "$TRIALS"); do
		trial overload 0 "$TRIAL_S" >/dev/null
	done
	# Back to what the searches used: with --socket-gen that is a socket generator too, whose
	# sends count g0's tx_dropped already (trial adds them only for the raw generator, or its
	# refusals through the pfifo).
	GEN_MODE_OPTS=$raw_opts SOCKET_GEN=$raw_socket_gen
	rx_ring_set "$RX_RING"
	# shellcheck disable=SC2086
	ip netns exec $NS_G ethtool -K g0 $feats >/dev/null
}

# searches: the max-load trials, the NDR and PDR searches, CPU at the PDR and the latency.
# When nothing reached the sink it records why and sets NOTHING_DELIVERED instead. (Not
# called as a condition, so that set -e still stops the run on an error inside.)
searches() {
	local max=0 r o ndr pdr
	NOTHING_DELIVERED=""
	for _ in $(seq 1 "$TRIALS"); do
		r=$(trial max 0 "$TRIAL_S")
		o=$(echo "$r" | jq '.offered_mpps * 1e6 | floor')
		[ "$o" -gt "$max" ] && max=$o
	done
	if [ "$(echo "$r" | jq .delivered)" = 0 ]; then
		status "failed: nothing delivered at the sink ($(tail -n 2 "$WORK/dut.log" 2>/dev/null | tr '\n' ' ' | cut -c1-200))"
		NOTHING_DELIVERED=1
		return 0
	fi
	ndr=$(search ndr 0 "$max")
	# PDR >= NDR by definition, so the PDR search starts above the NDR.
	pdr=$(search pdr 0.005 "$max" "$ndr")
	# CPU per packet below saturation: at full load an overloaded DUT's core is 100 %
	# busy whatever it delivers, so its cost per packet is read at the PDR rate too.
	[ "$pdr" -gt 0 ] && trial at_pdr "$pdr" "$TRIAL_S" >/dev/null
	# Overload (offered >= 5x NDR) needs no trials of its own: the max-load trials above
	# offer the most the generator can, and the report gives the multiple of the NDR they
	# reached (below 5 when the generator cannot offer 5x NDR).
	{ [ "$OVERLOAD_GSO" != 0 ] || [ "$OVERLOAD_XDP" = 1 ]; } && overload_trials
	jq -c -n --arg dut "$DUT" --arg size "$SIZE" --argjson ndr "$ndr" --argjson pdr "$pdr" \
		--arg placement "$PLACEMENT" --argjson max "$max" \
		'{dut: $dut, size: $size, placement: $placement, phase: "search",
		ndr_pps: $ndr, pdr_pps: $pdr, offered_max_pps: $max}' | tee -a "$RECORDS" >&2
	# One-way devices: a mirror passes no reply back.
	if [ "$DUT" != mmsg-loop ] && [ "$DUT" != busy-relay ] && [ "$DUT" != ringrelay-mirror ]; then
		latency "$pdr"
	fi
}

topo_up
sink_start "$SINK_OPT"

for PLACEMENT in ${PLACEMENTS//,/ }; do
placement_set
for SIZE in ${SIZES//,/ }; do
	for DUT in ${DUTS//,/ }; do
		echo "bench: --- $DUT, $SIZE B, $MODE, placement $PLACEMENT" >&2
		if ! dut_start >"$WORK/why" 2>&1 || ! placement_pin >>"$WORK/why" 2>&1; then
			status "not run: $(tr '\n' ' ' <"$WORK/why" | cut -c1-300)"
			dut_stop
			continue
		fi
		RING_ON=0
		[ "$RX_RING" != 0 ] && d0_napi && RING_ON=1
		sleep 0.2
		warm_up
		if [ -n "$FIXED" ]; then
			fixed_trials
		else
			searches
			if [ -n "$NOTHING_DELIVERED" ]; then
				dut_stop
				continue
			fi
		fi
		if [ -n "$DUT_PID" ] && ! kill -0 "$DUT_PID" 2>/dev/null; then
			status "failed: exited during the run ($(tail -n 2 "$WORK/dut.log" | tr '\n' ' '))"
			dut_stop
			continue
		fi
		dut_stop
		if [ -s "$WORK/dut.stats" ]; then
			status "ok; $(cat "$WORK/dut.stats")"
			rm -f "$WORK/dut.stats"
		else
			status ok
		fi
	done
done
done
sink_stop

python3 "$(dirname "$0")/report.py" --records "$RECORDS" --out "$OUT/$STAMP" --mode $MODE \
	--trials "$TRIALS" --trial-s "$TRIAL_S" --search-steps "$SEARCH_STEPS" \
	--search-s "$SEARCH_S" --search-trials "$SEARCH_TRIALS" --flows "$FLOWS" --family "$FAMILY" --placements "$PLACEMENTS" \
	--loadavg "$LOADAVG" \
	--wall-s "$(($(date +%s) - T_START))" --command "$COMMAND" \
	--ringrelay-version "$RR_VERSION" \
	--generator "$(if [ "$GEN_GSO" != 0 ]; then echo "UDP sockets, GSO $GEN_GSO segments"; elif [ "$SOCKET_GEN" = 1 ]; then echo "UDP sockets"; else echo "raw AF_PACKET frames$([ "$RX_RING" = 0 ] || echo " through a pfifo of $RX_RING frames on g0 where d0 has NAPI, past it where not (--rx-ring: 256 + $RX_RING frames in front of a d0 with NAPI, veth's backlog of 1000 in front of one without)")"; fi)$([ -z "${GEN_PAYLOAD:-}" ] || echo ", $GEN_PAYLOAD B of payload in every datagram whatever the frame size (GEN_PAYLOAD; not in the latency trials)")$([ "$OVERLOAD_XDP" = 0 ] || echo "; overload trials: the XDP generator (gen -X: XDP live frames redirected into g0)$([ "$OVERLOAD_GSO" = 0 ] || echo ", else (d0 without NAPI, imix):")")$([ "$OVERLOAD_GSO" = 0 ] || echo "$([ "$OVERLOAD_XDP" = 0 ] && echo "; overload trials:") UDP sockets, GSO $OVERLOAD_GSO datagrams per send cut into frames on g0")"
rm -f "$RECORDS"
echo "bench: wrote $OUT/$STAMP.json $OUT/$STAMP.md $OUT/$STAMP.png" >&2
