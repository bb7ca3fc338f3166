#!/bin/bash
# SPDX-License-Identifier: MIT
# The receive-path report (issue 10): in NS_R the relay listens on IF_RC (1 RX queue, an RPS
# mask with CPU 1, GRO off) and on a second veth with 4 RX queues, with 2 workers on CPUs 0
# and 1. `ringrelay -V` must describe both interfaces and warn about the RPS mask and the
# queues; the start must log those warnings; with ringrelay's filter attached (native XDP)
# and threaded NAPI turned on, `ringrelayctl -j status` must report the XDP mode and program,
# threaded NAPI with its thread (CPUs, nice), GRO, the RPS mask and no IRQ (virtual), and a
# changed RPS mask at once.
# Run for an IPv4 and an IPv6 listen address each. In a namespace whose loopback is down
# -V still finds multishot recvmsg.
. "$(dirname "$0")/lib.sh"
lib_topology

CTL=${RINGRELAYCTL:-$BUILD/ringrelayctl}
[ -x "$CTL" ] || lib_fail "ringrelayctl not found at $CTL (make build/ringrelayctl)"
command -v ethtool >/dev/null || lib_skip "ethtool not found"
[ "$(nproc)" -ge 2 ] || lib_skip "needs 2 CPUs (workers on CPUs 0 and 1)"

IF_Q=veth-q
IF_QP=veth-qp
lib_veth_queues "$IF_Q" "$IF_QP" 4 198.18.3.2 2001:2:0:3::2

SOCK=$TMPD/run/ctl.sock
ctl() { "$CTL" -s "$SOCK" "$@"; }
ctl_up() { ctl status >/dev/null 2>&1; }
rx_sys() { lib_nsx "$NS_R" sh -c "echo $2 > /sys/class/net/$IF_RC/$1"; }

# jget FILE EXPR: a python expression over the parsed JSON `j` and `rx` (the interface
# named IF_RC in receive_path), `q` (IF_Q's); a tuple prints its members space-separated.
jget()
{
	"$PY" - "$1" "$2" "$IF_RC" "$IF_Q" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
ifs = {i["name"]: i for i in j["receive_path"]["interfaces"]}
rx, q = ifs.get(sys.argv[3]), ifs.get(sys.argv[4])
v = eval(sys.argv[2])
print(" ".join(map(str, v)) if isinstance(v, tuple) else v)
EOF
}

# expect CASE FILE EXPR WANT
expect()
{
	local v
	v=$(jget "$2" "$3" 2>&1)
	[ "$v" = "$4" ] || lib_case_fail "$1 $3 = $v, want $4"
}

filter_attached() { lib_relay_log_current | grep -q "filter: attached on $IF_RC"; }

run_case()
{
	local fam=$1 c="[ipv$1]" conf=$TMPD/rxpath-$1.conf l1 l2 v
	if [ "$fam" = 4 ]; then
		l1=198.18.1.2:5000 l2=198.18.3.2:5000
	else
		l1="[2001:2:0:1::2]:5000" l2="[2001:2:0:3::2]:5000"
	fi
	cat >"$conf" <<EOF
# written by $LIB_NAME
workers = 2;
cpus = [ 0, 1 ];
buffer_size = 2048;
buffers = 256;
control_socket = "$SOCK";
# unprotected on purpose, so that the warnings show: no busy polling, no shedding
napi = { busy_poll_us = 0; };
relays = ( { name = "t"; listen = [ "$l1", "$l2" ]; upstreams = [ "198.18.2.2:9000" ];
	     shed = "off"; } );
EOF
	# the interface as the test sets it: RPS to CPU 1, GRO off, no XDP yet
	rx_sys queues/rx-0/rps_cpus 2
	lib_nsx "$NS_R" ethtool -K "$IF_RC" gro off || lib_fail "ethtool -K $IF_RC gro off"

	# -V: a line per interface and per queue, and the warnings
	lib_nsx "$NS_R" "$RINGRELAY" -V -c "$conf" >"$TMPD/v.txt" 2>&1 ||
		lib_case_fail "$c ringrelay -V exit $?"
	grep -Eq "^$IF_RC +1 +off +off +off +none$" "$TMPD/v.txt" ||
		lib_case_fail "$c -V: no line '$IF_RC 1 off off off none': $(cat "$TMPD/v.txt")"
	grep -Eq "^$IF_Q +4 " "$TMPD/v.txt" || lib_case_fail "$c -V: $IF_Q has not 4 queues"
	grep -Eq "^$IF_RC +0 +no IRQ \(virtual\) +- +1$" "$TMPD/v.txt" ||
		lib_case_fail "$c -V: no queue line '$IF_RC 0 no IRQ (virtual) - 1'"
	[ "$(grep -Ec "^$IF_Q +[0-3] +no IRQ" "$TMPD/v.txt")" -eq 4 ] ||
		lib_case_fail "$c -V: not 4 queue lines for $IF_Q"
	grep -q "^warning: $IF_RC: RPS steers RX queue 0 to CPU 1, a worker's CPU" "$TMPD/v.txt" ||
		lib_case_fail "$c -V: no RPS warning"
	grep -q "^warning: $IF_Q: 4 RX queues, 2 workers: queues 2-3 are served by softirq" \
		"$TMPD/v.txt" || lib_case_fail "$c -V: no queue-count warning"
	lib_case_ok "$c -V describes $IF_RC and $IF_Q and warns"

	# the start logs each warning once; the filter puts native XDP on IF_RC
	cat >>"$conf" <<EOF
filter = { interfaces = [ "$IF_RC" ]; mode = "xdp"; default = "allow"; };
EOF
	if ! lib_relay_start "$conf"; then
		lib_case_fail "$c relay did not start"
		return
	fi
	lib_wait_for 5 ctl_up || lib_case_fail "$c control socket not answering"
	lib_wait_for 5 filter_attached || lib_case_fail "$c filter not attached on $IF_RC"
	v=$(lib_relay_log_current | grep -c "receive path: $IF_RC: RPS steers RX queue 0 to CPU 1")
	[ "$v" = 1 ] || lib_case_fail "$c start logged the RPS warning $v times, want 1"
	v=$(lib_relay_log_current | grep -c "receive path: $IF_Q: 4 RX queues, 2 workers")
	[ "$v" = 1 ] || lib_case_fail "$c start logged the queue warning $v times, want 1"

	# veth has a NAPI instance now (XDP): it may be threaded
	rx_sys threaded 1 || lib_case_fail "$c cannot set threaded NAPI on $IF_RC"
	ctl -j status >"$TMPD/s.json" || lib_case_fail "$c ringrelayctl -j status: exit $?"
	expect "$c" "$TMPD/s.json" 'rx["rx_queues"], rx["virtual"], rx["gro"]' "1 True False"
	expect "$c" "$TMPD/s.json" 'rx["threaded_napi"], rx["busy_poll_us"]' "True 0"
	# its thread, made after the start (so left at nice 0), with the CPUs it may run on;
	# before Linux 6.9 (no netdev NAPI_GET, which the start logs) only the threads the napi
	# block found are listed (the control thread holds no CAP_BPF for the task iterator):
	# none here, threaded NAPI came after the start (test_napi checks those it found)
	local listed=1
	lib_relay_log_current | grep -q "cannot list NAPI instances" && listed=0
	if [ $listed = 1 ]; then
		expect "$c" "$TMPD/s.json" \
			'len(rx["napi_threads"]), rx["napi_threads_total"], rx["napi_threads"][0]["nice"]' \
			"1 1 0"
		expect "$c" "$TMPD/s.json" \
			'open("/proc/%d/comm" % rx["napi_threads"][0]["pid"]).read().startswith("napi/"), len(rx["napi_threads"][0]["cpus"]) > 0' \
			"True True"
	else
		expect "$c" "$TMPD/s.json" 'len(rx["napi_threads"]), rx["napi_threads_total"]' "0 0"
	fi
	expect "$c" "$TMPD/s.json" 'rx["xdp_mode"], rx["xdp_prog_id"] > 0' "native True"
	expect "$c" "$TMPD/s.json" 'rx["queues"]' \
		"[{'queue': 0, 'irqs': [], 'irq_cpus': [], 'rps_cpus': [1]}]"
	expect "$c" "$TMPD/s.json" 'q["rx_queues"], len(q["queues"]), q["xdp_mode"]' "4 4 none"
	expect "$c" "$TMPD/s.json" 'j["receive_path"]["any_address"]' "False"
	expect "$c" "$TMPD/s.json" \
		'sum("RPS steers" in w for w in j["receive_path"]["warnings"])' "1"
	# the report is read when asked: a new mask and GRO on show at once
	rx_sys queues/rx-0/rps_cpus 0
	lib_nsx "$NS_R" ethtool -K "$IF_RC" gro on
	ctl -j status >"$TMPD/s2.json" || lib_case_fail "$c ringrelayctl -j status: exit $?"
	expect "$c" "$TMPD/s2.json" 'rx["queues"][0]["rps_cpus"], rx["gro"]' "[] True"
	expect "$c" "$TMPD/s2.json" \
		'sum("RPS steers" in w for w in j["receive_path"]["warnings"])' "0"
	ctl status >"$TMPD/s.txt" || lib_case_fail "$c ringrelayctl status: exit $?"
	grep -q "^receive path$" "$TMPD/s.txt" || lib_case_fail "$c status: no receive path"
	grep -Eq "^$IF_RC +1 +on +off +on +native \(prog [0-9]+\)$" "$TMPD/s.txt" ||
		lib_case_fail "$c status: no line '$IF_RC 1 on off on native (prog N)'"
	grep -Eq "^$IF_RC +[0-9]+ +[0-9]+ +[0-9,-]+ +0$" "$TMPD/s.txt" || [ $listed = 0 ] ||
		lib_case_fail "$c status: no NAPI thread line for $IF_RC: $(cat "$TMPD/s.txt")"
	[ "$LIB_FAILS" -ne 0 ] || lib_case_ok "$c status reports XDP, threaded NAPI, GRO, RPS"
	lib_relay_stop || lib_case_fail "$c relay exit status $? after SIGTERM, want 0"
	rx_sys threaded 0 2>/dev/null
}

# In a namespace whose loopback is down, -V still finds multishot recvmsg (its probe used a
# loopback UDP socket and called that an old kernel: "no multishot recvmsg (kernel 6.0+):
# Network is unreachable", which refused io_backend = "io_uring" and fell back for "auto").
lo_down_case()
{
	local ns=$LIB_PREFIX-lo out
	ip netns add "$ns" || { lib_case_fail "[lo down] ip netns add $ns"; return; }
	LIB_NETNS+=("$ns")
	out=$(timeout 10 ip netns exec "$ns" "$RINGRELAY" -V 2>&1)
	if echo "$out" | grep -q "^  multishot recvmsg: yes"; then
		lib_case_ok "[lo down] -V: multishot recvmsg: yes"
	else
		lib_case_fail "[lo down] -V: $(echo "$out" | grep -E 'multishot|missing')"
	fi
	ip netns del "$ns"
}

run_case 4
run_case 6
lo_down_case
lib_done
