#!/bin/bash
# SPDX-License-Identifier: MIT
# Steering (steer.h): two workers on CPUs 0 and 1 listen on IF_RC, a veth without NAPI, so a
# datagram is received in the sending client's softirq, on the client's CPU.
#  - steering = "cpu": 32 clients (32 flows) pinned to CPU 1 all reach worker 1, then 32
#    pinned to CPU 0 all reach worker 0, and every one is answered through the upstream;
#  - steering = "hash": 64 flows from CPU 1 spread over both workers (all on one: 2^-63);
#    then a reload to "cpu" marks the same listeners in place: 32 new flows from CPU 1 all
#    reach worker 1;
#  - steering = "auto" on that veth keeps the hash and says why (virtual device); on a veth
#    with 2 RX queues, GRO on (a NAPI instance per queue) and napi.threaded = true, whose
#    threads ringrelay pins one per worker CPU, it steers by CPU.
# For IPv4 and IPv6, with the io_uring and mmsg backends.
. "$(dirname "$0")/lib.sh"
lib_topology

CTL=${RINGRELAYCTL:-$BUILD/ringrelayctl}
[ -x "$CTL" ] || lib_fail "ringrelayctl not found at $CTL (make build/ringrelayctl)"
[ "$(nproc)" -ge 2 ] || lib_skip "needs 2 CPUs (workers on CPUs 0 and 1)"
command -v taskset >/dev/null || lib_skip "taskset not found"
command -v ethtool >/dev/null || lib_skip "ethtool not found"
"$RINGRELAY" -V 2>/dev/null | grep -q "^SO_REUSEPORT steering by CPU (SO_INCOMING_CPU): yes" ||
	lib_skip "this kernel does not steer by SO_INCOMING_CPU ($("$RINGRELAY" -V 2>&1 |
		grep "SO_REUSEPORT steering"))"

IF_Q=veth-q2
IF_QP=veth-q2p
lib_veth_queues "$IF_Q" "$IF_QP" 2 198.18.3.2 2001:2:0:3::2

SOCK=$TMPD/run/ctl.sock
ctl() { "$CTL" -s "$SOCK" "$@"; }

# steer_conf STEERING [MORE]: the case's config with 2 workers on CPUs 0 and 1.
steer_conf()
{
	lib_relay_conf "$conf" backend="$CASE_BACKEND" workers=2 listen="$to" \
		up="$(ep "$UP1_IP" 9000)"
	printf 'cpus = [ 0, 1 ];\nsteering = "%s";\n%s\n' "$1" "${2:-}" >>"$conf"
}

# per_worker: "rx of worker 0, rx of worker 1" from ringrelayctl -j stats.
per_worker()
{
	ctl -j stats | "$PY" -c '
import json, sys
r = json.load(sys.stdin)["relays"][0]
w = {x["worker"]: x["rx_pkts"] for x in r["workers"]}
print(w.get(0, 0), w.get(1, 0))'
}

# steering: "MODE|WHY" from ringrelayctl -j status.
steering()
{
	ctl -j status | "$PY" -c '
import json, sys
s = json.load(sys.stdin).get("steering", {})
print("%s|%s" % (s.get("mode"), s.get("why")))'
}

# send_from CPU N: N clients (one flow each) on CPU, each expecting its echo back.
send_from()
{
	local out
	out=$(lib_nsx "$NS_C" taskset -c "$1" "$PY" "$UDP_PY" client --to "$to" --clients "$2" \
		--count 1 --expect-echo --seconds 10)
	[ "$(lib_json_field received "$out")" = "$2" ] ||
		lib_case_fail "$c $2 clients on CPU $1: $out"
}

case_cpu()
{
	local v
	lib_case_begin steer "$1" "$2"
	lib_case_echo
	steer_conf cpu
	if ! lib_relay_start "$conf"; then
		lib_case_fail "$c relay did not start"
		lib_case_stop_helpers
		return
	fi
	lib_relay_log_current | grep -q "steering: each datagram goes to the worker on the CPU" ||
		lib_case_fail "$c no steering log line: $(lib_relay_log_current | grep steering)"
	v=$(steering)
	[ "$v" = 'cpu|steering = "cpu"' ] || lib_case_fail "$c status steering: $v"
	send_from 1 32
	v=$(per_worker)
	[ "$v" = "0 32" ] || lib_case_fail "$c 32 flows from CPU 1: per worker $v, want 0 32"
	send_from 0 32
	v=$(per_worker)
	[ "$v" = "32 32" ] || lib_case_fail "$c then 32 flows from CPU 0: per worker $v, want 32 32"
	[ "$LIB_FAILS" -ne 0 ] || lib_case_ok "$c steering = cpu: each flow to its CPU's worker"
	lib_case_end
}

case_hash()
{
	local v w0 w1
	lib_case_begin steer-hash "$1" "$2"
	lib_case_echo
	steer_conf hash
	if ! lib_relay_start "$conf"; then
		lib_case_fail "$c relay did not start"
		lib_case_stop_helpers
		return
	fi
	v=$(steering)
	[ "$v" = 'hash|steering = "hash"' ] || lib_case_fail "$c status steering: $v"
	send_from 1 64
	read -r w0 w1 <<<"$(per_worker)"
	if [ "$((w0 + w1))" != 64 ] || [ "$w0" = 0 ] || [ "$w1" = 0 ]; then
		lib_case_fail "$c 64 flows from CPU 1: per worker $w0 $w1, want both > 0"
	fi
	[ "$LIB_FAILS" -ne 0 ] || lib_case_ok "$c steering = hash: flows spread ($w0, $w1)"
	# a reload marks the same listeners in place: new flows go by CPU
	reload_to cpu
	v=$(steering)
	[ "$v" = 'cpu|steering = "cpu"' ] || lib_case_fail "$c status after the reload: $v"
	lib_relay_log_current | grep -q "steering: each datagram goes to the worker on the CPU" ||
		lib_case_fail "$c no steering log line after the reload"
	send_from 1 32
	v=$(per_worker)
	[ "$v" = "$w0 $((w1 + 32))" ] ||
		lib_case_fail "$c 32 new flows from CPU 1 after the reload: per worker $v, want $w0 $((w1 + 32))"
	[ "$LIB_FAILS" -ne 0 ] || lib_case_ok "$c a reload to steering = cpu marks the listeners in place"
	lib_case_end
}

# reload_to STEERING: rewrite the case's config with it, SIGHUP, wait for the verdict.
reload_to()
{
	steer_conf "$1"
	lib_relay_hup ||
		lib_case_fail "$c reload to steering = $1: no 'reload: ... applied' line"
}

case_auto()
{
	local v q
	lib_case_begin steer-auto "$1" "$2"
	steer_conf auto
	lib_relay_start "$conf" || { lib_case_fail "$c relay did not start"; return; }
	v=$(steering)
	[ "$v" = "hash|$IF_RC is virtual: its receive runs on the sending CPUs" ] ||
		lib_case_fail "$c auto on $IF_RC: $v"
	lib_case_end
	# 2 RX queues with a NAPI instance each, threaded by ringrelay on the workers' CPUs
	q=198.18.3.2:5000
	[ "$2" = 6 ] && q="[2001:2:0:3::2]:5000"
	lib_nsx "$NS_R" ethtool -K "$IF_Q" gro on >/dev/null || lib_fail "ethtool -K $IF_Q gro on"
	lib_relay_conf "$conf" backend="$CASE_BACKEND" workers=2 listen="$q" \
		up="$(ep "$UP1_IP" 9000)"
	printf 'cpus = [ 0, 1 ];\nnapi = { threaded = true; };\n' >>"$conf"
	lib_relay_start "$conf" || { lib_case_fail "$c relay did not start ($IF_Q)"; return; }
	v=$(steering)
	[ "$v" = "cpu|every worker's CPU runs receive work of the listen interface" ] ||
		lib_case_fail "$c auto on $IF_Q (threaded, 2 queues): $v"
	lib_case_end
	lib_nsx "$NS_R" sh -c "echo 0 > /sys/class/net/$IF_Q/threaded" 2>/dev/null
	lib_nsx "$NS_R" ethtool -K "$IF_Q" gro off >/dev/null
	[ "$LIB_FAILS" -ne 0 ] ||
		lib_case_ok "$c steering = auto: hash on a virtual device, cpu with threaded NAPI"
}

for backend in $(lib_backends); do
	for fam in 4 6; do
		case_cpu "$backend" "$fam"
		case_hash "$backend" "$fam"
	done
done
case_auto io_uring 4
case_auto io_uring 6
lib_done
