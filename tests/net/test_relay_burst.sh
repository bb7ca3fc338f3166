#!/bin/bash
# SPDX-License-Identifier: MIT
# Bursts from one client, per backend and family: 600 datagrams sent back to back, in runs
# of equal sizes broken by shorter, longer and empty ones (the io_uring backend gathers a
# session's datagrams into UDP GSO sends, which have rules about segment sizes). The
# upstream must receive every datagram byte-exact and in the order sent, and the counters
# must count datagrams, not sends.
. "$(dirname "$0")/lib.sh"
lib_topology

N=600

# burst EP: sends N datagrams as fast as the socket takes them; prints their hex, in order.
burst()
{
	lib_nsx "$NS_C" "$PY" - "$1" "$N" <<'EOF'
import socket, sys
ep, n = sys.argv[1], int(sys.argv[2])
host, port = ep.rsplit(":", 1)
host = host.strip("[]")
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
sizes = [100] * 7 + [40] + [100] * 5 + [300] + [0] + [1] + [100] * 3
for i in range(n):
    size = sizes[i % len(sizes)]
    p = (b"%05d:" % i + bytes(range(256)) * 6)[:size] if size >= 6 else bytes([i % 256]) * size
    s.sendto(p, (host, int(port)))
    print(p.hex())
EOF
}

run_case()
{
	local backend=$1 fam=$2 c conf to rec line
	lib_family "$fam"
	c="[$backend/ipv$fam]"
	conf=$TMPD/burst-$backend-$fam.conf
	rec=$TMPD/sink-$backend-$fam.rec
	to=$(ep "$RELAY_IP" 5000)
	lib_relay_conf "$conf" backend="$backend" listen="$to" up="$(ep "$UP1_IP" 9000)"
	lib_udp_bg "$NS_U" "$TMPD/sink.json" sink --bind "$(ep "$UP1_IP" 9000)" --seconds 60 \
		--out "$rec"
	local sink_pid=$BG_PID
	if ! lib_relay_start "$conf"; then
		lib_case_fail "$c relay did not start"
		lib_stop_pid "$sink_pid"
		return
	fi
	burst "$to" >"$TMPD/sent-$backend-$fam.hex"
	if lib_wait_lines "$rec" $N 10; then
		lib_case_ok "$c $N datagrams arrived"
	else
		lib_case_fail "$c only $(lib_lines "$rec") of $N datagrams arrived"
	fi
	# Fields of a record: PEER LEN HEX KEY; an empty payload has an empty HEX field.
	awk '{ print ($2 == 0 ? "" : $3) }' "$rec" >"$TMPD/got-$backend-$fam.hex"
	if cmp -s "$TMPD/sent-$backend-$fam.hex" "$TMPD/got-$backend-$fam.hex"; then
		lib_case_ok "$c byte-exact and in order"
	else
		lib_case_fail "$c datagrams differ or are out of order (first difference:" \
			"$(cmp "$TMPD/sent-$backend-$fam.hex" "$TMPD/got-$backend-$fam.hex" | head -n 1))"
	fi
	if line=$(lib_stats t); then
		lib_expect_fields "$c" "$line" $N rx_pkts tx_pkts
	else
		lib_case_fail "$c no stats line"
	fi
	lib_relay_stop || lib_case_fail "$c relay exit status $? after SIGTERM, want 0"
	lib_stop_pid "$sink_pid"
}

lib_each_case run_case
