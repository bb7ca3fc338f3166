#!/bin/bash
# SPDX-License-Identifier: MIT
# Datagrams around and above the path MTU, in bursts from one client, per link MTU (1500 and
# 9000 on every link), backend and family: 300 datagrams each of 1,400, 1,473, 1,600 and
# 8,000 bytes, sent back to back. Both backends gather a session's datagrams into
# UDP GSO sends, whose segments must fit the path MTU unfragmented: longer datagrams must
# leave singly (the kernel fragments them), never in a batch the kernel refuses with
# EMSGSIZE. The upstream must receive every datagram byte-exact and in order, and the relay
# must count no drop. Then the MTU shrinks under a running session (9000 -> 1500): the
# kernel refuses the session's next GSO batch with EMSGSIZE, and the relay must learn the
# path MTU again and send those datagrams singly instead of dropping them. A mirror's copies
# to each member are gathered the same way: the bursts at MTU 1500 and the shrink again with
# mode = "mirror" (one member: the same upstream).
. "$(dirname "$0")/lib.sh"
lib_topology

N=300
SIZES="1400 1473 1600 8000"

# burst EP SIZE [PORT]: sends N datagrams of SIZE bytes as fast as the socket takes them,
# from PORT (default: any); prints their hex, in order.
burst()
{
	lib_nsx "$NS_C" "$PY" - "$1" "$N" "$2" "${3:-0}" <<'EOF'
import socket, sys
ep, n, size, sport = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
host, port = ep.rsplit(":", 1)
host = host.strip("[]")
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", sport))
filler = bytes(range(256)) * (size // 256 + 1)
for i in range(n):
    p = (b"%d:%05d:" % (size, i) + filler)[:size]
    s.sendto(p, (host, int(port)))
    print(p.hex())
EOF
}

# set_mtu MTU: every veth of the topology carries MTU.
set_mtu()
{
	lib_nsx "$NS_C" ip link set "$IF_C" mtu "$1" &&
		lib_nsx "$NS_R" ip link set "$IF_RC" mtu "$1" &&
		lib_nsx "$NS_R" ip link set "$IF_RU" mtu "$1" &&
		lib_nsx "$NS_U" ip link set "$IF_U" mtu "$1"
}

# run_case BACKEND FAMILY [MODE]: the bursts at this MTU (MODE: forward, or mirror).
run_case()
{
	local backend=$1 fam=$2 mode=${3:-forward} size want=0 line drops
	lib_case_begin "mtu$MTU-$mode" "$backend" "$fam"
	c="[$backend/ipv$fam/mtu$MTU/$mode]"
	rec=$TMPD/sink-$MTU-$backend-$fam.rec
	sent=$TMPD/sent-$MTU-$backend-$fam.hex
	lib_case_server "$TMPD/sink.json" sink --bind "$(ep "$UP1_IP" 9000)" --seconds 120 \
		--out "$rec"
	# 8,000-byte datagrams need a buffer of more than 8 KiB.
	lib_case_start buffer=16384 mode="$mode" || return
	: >"$sent"
	for size in $SIZES; do
		burst "$to" "$size" >>"$sent"
		want=$((want + N))
		if ! lib_wait_lines "$rec" $want 10; then
			lib_case_fail "$c $size bytes: $(( $(lib_lines "$rec") - want + N )) of $N" \
				"arrived"
			want=$(lib_lines "$rec")
		fi
	done
	# Fields of a record: PEER LEN HEX KEY.
	awk '{ print $3 }' "$rec" >"$TMPD/got.hex"
	if cmp -s "$sent" "$TMPD/got.hex"; then
		lib_case_ok "$c $(lib_lines "$rec") datagrams of $SIZES bytes: byte-exact, in order"
	else
		lib_case_fail "$c datagrams differ, are missing or out of order (first difference:" \
			"$(cmp "$sent" "$TMPD/got.hex" 2>&1 | head -n 1))"
	fi
	if line=$(lib_stats t); then
		lib_expect_fields "$c" "$line" $((4 * N)) rx_pkts tx_pkts
		drops=$(echo "$line" | tr ' ' '\n' | grep '^drop_' | grep -v '=0$' | tr '\n' ' ')
		[ -z "$drops" ] || lib_case_fail "$c drops counted: $drops"
	else
		lib_case_fail "$c no stats line"
	fi
	lib_case_end
}

# shrink_case BACKEND FAMILY [MODE]: a session (a mirror's socket) opened over MTU 9000
# links keeps sending after they drop to 1500.
shrink_case()
{
	local backend=$1 fam=$2 mode=${3:-forward} line drops
	set_mtu 9000 || lib_fail "cannot set MTU 9000 on the veths"
	lib_case_begin "shrink-$mode" "$backend" "$fam"
	c="[$backend/ipv$fam/mtu9000->1500/$mode]"
	rec=$TMPD/sink-shrink-$backend-$fam.rec
	sent=$TMPD/sent-shrink-$backend-$fam.hex
	lib_case_server "$TMPD/sink.json" sink --bind "$(ep "$UP1_IP" 9000)" --seconds 120 \
		--out "$rec"
	lib_case_start buffer=16384 mode="$mode" || return
	burst "$to" 1600 47000 >"$sent"
	lib_wait_lines "$rec" $N 10 || lib_case_fail "$c over MTU 9000: $(lib_lines "$rec") of $N"
	set_mtu 1500 || lib_fail "cannot set MTU 1500 on the veths"
	# Queued while the relay is stopped, so that it reads them in full batches and gathers
	# them into GSO sends the kernel refuses (read one by one, nothing is gathered).
	lib_pause "$RELAY_PID" || lib_case_fail "$c the relay did not stop"
	burst "$to" 1600 47000 >>"$sent"
	lib_resume "$RELAY_PID"
	lib_wait_lines "$rec" $((2 * N)) 10 ||
		lib_case_fail "$c after the MTU shrank: $(($(lib_lines "$rec") - N)) of $N arrived"
	awk '{ print $3 }' "$rec" >"$TMPD/got.hex"
	# A refused batch goes again singly: complete and byte-exact, maybe not in order.
	if diff -q <(sort "$sent") <(sort "$TMPD/got.hex") >/dev/null; then
		lib_case_ok "$c $(lib_lines "$rec") datagrams of 1600 bytes: all, byte-exact"
	else
		lib_case_fail "$c datagrams differ or are missing"
	fi
	if line=$(lib_stats t); then
		lib_expect_fields "$c" "$line" $((2 * N)) rx_pkts tx_pkts
		drops=$(echo "$line" | tr ' ' '\n' | grep '^drop_' | grep -v '=0$' | tr '\n' ' ')
		[ -z "$drops" ] || lib_case_fail "$c drops counted: $drops"
	else
		lib_case_fail "$c no stats line"
	fi
	lib_case_end
}

for MTU in 1500 9000; do
	set_mtu $MTU || lib_fail "cannot set MTU $MTU on the veths"
	for backend in $(lib_backends); do
		for fam in 4 6; do
			run_case "$backend" "$fam"
		done
	done
	[ "$MTU" = 1500 ] || continue
	for backend in $(lib_backends); do
		for fam in 4 6; do
			run_case "$backend" "$fam" mirror
		done
	done
done
for backend in $(lib_backends); do
	for fam in 4 6; do
		shrink_case "$backend" "$fam"
	done
done
for backend in $(lib_backends); do
	for fam in 4 6; do
		shrink_case "$backend" "$fam" mirror
	done
done
lib_done
