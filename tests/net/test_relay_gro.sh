#!/bin/bash
# SPDX-License-Identifier: MIT
# gro = true, per backend and family: a client sends UDP GSO super-datagrams (20 x 100 bytes
# per send) through veth to the relay, which receives them coalesced (UDP_GRO) and passes
# them on with UDP_SEGMENT; the upstream (a plain socket) must get every datagram separately,
# at its own size and byte-exact, and the client every echo. The counters count datagrams,
# not sends.
. "$(dirname "$0")/lib.sh"
lib_topology

SEGS=20 SIZE=100 ROUNDS=10

# gso_client EP: sends ROUNDS GSO sends of SEGS x SIZE bytes, reads the echoes, checks them.
gso_client()
{
	lib_nsx "$NS_C" "$PY" - "$1" "$SEGS" "$SIZE" "$ROUNDS" <<'EOF'
import socket, struct, sys
ep, segs, size, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
host, port = ep.rsplit(":", 1)
host = host.strip("[]")
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.settimeout(2)
UDP_SEGMENT = 103
want, got, bad = [], [], 0
for r in range(rounds):
    parts = [bytes([(r * segs + i) % 251]) * size for i in range(segs)]
    want += parts
    s.sendmsg([b"".join(parts)], [(socket.SOL_UDP, UDP_SEGMENT, struct.pack("H", size))], 0,
               (host, int(port)))
    for _ in range(segs):
        try:
            got.append(s.recv(65535))
        except socket.timeout:
            break
ok = sorted(want) == sorted(got)
print('{"sent": %d, "received": %d, "ok": %s}' % (len(want), len(got), "true" if ok else "false"))
sys.exit(0 if ok else 1)
EOF
}

run_case()
{
	local backend=$1 fam=$2 c conf to out line n
	lib_family "$fam"
	c="[$backend/ipv$fam]"
	conf=$TMPD/gro-$backend-$fam.conf
	to=$(ep "$RELAY_IP" 5000)
	lib_relay_conf "$conf" backend="$backend" buffer=65536 buffers=256 listen="$to" \
		up="$(ep "$UP1_IP" 9000)"
	echo "gro = true;" >>"$conf"
	lib_udp_bg "$NS_U" "$TMPD/echo.json" echo --bind "$(ep "$UP1_IP" 9000)" \
		--out "$TMPD/up-$backend-$fam.rec" --seconds 60
	local echo_pid=$BG_PID
	if ! lib_relay_start "$conf"; then
		lib_case_fail "$c relay did not start"
		lib_stop_pid "$echo_pid"
		return
	fi
	if out=$(gso_client "$to"); then
		lib_case_ok "$c every segment relayed and echoed: $out"
	else
		lib_case_fail "$c segments lost or changed: $out"
	fi
	n=$(awk -v size="$SIZE" '$2 == size' "$TMPD/up-$backend-$fam.rec" | wc -l)
	[ "$n" -eq $((SEGS * ROUNDS)) ] ||
		lib_case_fail "$c upstream got $n datagrams of $SIZE bytes, want $((SEGS * ROUNDS))"
	if line=$(lib_stats t); then
		lib_expect_fields "$c" "$line" $((SEGS * ROUNDS)) rx_pkts tx_pkts reply_rx_pkts \
			reply_tx_pkts
	else
		lib_case_fail "$c no stats line"
	fi
	lib_relay_stop || lib_case_fail "$c relay exit status $? after SIGTERM, want 0"
	lib_stop_pid "$echo_pid"
}

lib_each_case run_case
