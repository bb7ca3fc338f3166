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
# mode = "mirror" (one member: the same upstream). Last (toobig_case), a hop beyond the
# upstream's namespace answers with ICMPv6 packet too big: the session's send that takes the
# error it leaves pending must read its copy from the socket's error queue, and a GRO burst
# whose send takes a packet too big a longer datagram drew goes again whole, GSO kept on
# (gso_pending_episode). And (prohibit_case)
# the hop behind a prohibit route: ICMPv6 administratively prohibited (EACCES) is an
# unreachable, counted and read away as one.
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

# The hop network behind NS_U (toobig_case), and the hop's address in it.
HOP_NET=2001:2:0:3::/64
HOP=2001:2:0:3::2

# hop_route: NS_R's route to the hop network, through NS_U, made again: the path MTU learnt
# for the hop goes with the old one (an exception of that route).
hop_route()
{
	lib_nsx "$NS_R" ip -6 route del "$HOP_NET" 2>/dev/null
	lib_nsx "$NS_R" ip -6 route add "$HOP_NET" via "$UP1_IP"
}

toobigs_sent() { lib_nsx "$NS_U" awk '$1 == "Icmp6OutPktTooBigs" { print $2 }' /proc/net/snmp6; }
toobigs_more() { [ "$(toobigs_sent)" -gt "$1" ]; }
# hop_rmem: the receive memory (ss's skmem r) of the relay's sockets to the hop, summed:
# queued datagrams and, with IP_RECVERR, ICMP errors waiting in their error queues.
hop_rmem()
{
	lib_nsx "$NS_R" ss -Huamn dst "[$HOP]:9000" |
		awk '{ if (match($0, /skmem:\(r[0-9]+/)) n += substr($0, RSTART + 8, RLENGTH - 8) }
			END { print n + 0 }'
}
hop_rmem_le() { [ "$(hop_rmem)" -le "$1" ]; }

# toobig_episode PORT WHAT N CLIENT_ARGS...: the session of client port PORT opens with one
# datagram; then the client's N more (udp.py client CLIENT_ARGS) wait for the stopped relay,
# so that its sends of them go in one submission (io_uring) or one sendmmsg. The first that
# reaches the hop draws a packet too big, which the veths carry back within that send: the
# next send takes the error (EMSGSIZE) it leaves pending, so no receive on the socket meets
# it, and the error's copy in the error queue is the sender's to read. Once through, the
# sockets to the hop must hold no more than before (nothing, unless an episode before failed).
toobig_episode()
{
	local port=$1 what=$2 n=$3 ptb rx base
	shift 3
	ptb=$(toobigs_sent)
	base=$(hop_rmem)
	rx=$(lib_stat rx_pkts)
	lib_udp "$NS_C" client --to "$to" --port-base "$port" --count 1 --size 100 >/dev/null
	lib_wait_stat rx_pkts -ge $((rx + 1)) 5 || lib_case_fail "$c $what: no session"
	lib_pause "$RELAY_PID" || lib_case_fail "$c the relay did not stop"
	lib_udp "$NS_C" client --to "$to" --port-base "$port" "$@" >/dev/null
	lib_resume "$RELAY_PID"
	lib_wait_stat rx_pkts -ge $((rx + 1 + n)) 5 ||
		lib_case_fail "$c $what: rx_pkts=$LAST_STAT, want $((rx + 1 + n))"
	if ! lib_wait_for 2 toobigs_more "$ptb"; then
		lib_case_fail "$c $what: the hop sent no packet too big (nothing tested)"
	elif lib_wait_for 2 hop_rmem_le "$base"; then
		lib_case_ok "$c $what: nothing left in the session's socket after a packet too big"
	else
		lib_case_fail "$c $what: $(($(hop_rmem) - base)) bytes left in the session's" \
			"socket (the packet too big's copy in its error queue)"
	fi
}

# ru_tx: the packets NS_R's link to NS_U sent (a UDP GSO send crosses the veth as one).
ru_tx() { lib_nsx "$NS_R" cat "/sys/class/net/$IF_RU/statistics/tx_packets"; }

# gso_pending_episode PORT: a session's datagram of 1400 bytes draws a packet too big (the
# path MTU falls to 1280), and its next send, a GRO burst of 8 x 1200 (sent whole: segments
# that fit the new MTU too), takes the EMSGSIZE it left pending: the burst must go again
# whole, once (its copy is in the error queue, the segments fit the MTU asked again), and not
# be taken for a refusal of GSO: the worker must not turn UDP GSO off (io_uring: "UDP GSO send
# refused ... sending datagrams singly"), nor lower the session's seg_max below 1200 (mmsg):
# a GRO burst of 8 x 1200 after it must leave as one GSO send (at most 2 packets on the link,
# where 8 single sends make 8). Before, io_uring turned GSO off and mmsg cut the session's
# 1200-byte bursts for its life.
gso_pending_episode()
{
	local port=$1 ptb rx t0 tx0 tx
	ptb=$(toobigs_sent)
	rx=$(lib_stat rx_pkts)
	t0=$(lib_stat tx_pkts)
	lib_udp "$NS_C" client --to "$to" --port-base "$port" --count 1 --size 100 >/dev/null
	lib_wait_stat rx_pkts -ge $((rx + 1)) 5 || lib_case_fail "$c GSO after too big: no session"
	lib_pause "$RELAY_PID" || lib_case_fail "$c the relay did not stop"
	lib_udp "$NS_C" client --to "$to" --port-base "$port" --count 1 --size 1400 >/dev/null
	lib_udp "$NS_C" client --to "$to" --port-base "$port" --count 1 --gso 8 --size 1200 \
		>/dev/null
	lib_resume "$RELAY_PID"
	lib_wait_stat tx_pkts -ge $((t0 + 10)) 5 ||
		lib_case_fail "$c GSO after too big: tx_pkts=$LAST_STAT, want $((t0 + 10))"
	lib_wait_for 2 toobigs_more "$ptb" ||
		lib_case_fail "$c GSO after too big: the hop sent no packet too big (nothing tested)"
	tx0=$(ru_tx)
	lib_udp "$NS_C" client --to "$to" --port-base "$port" --count 1 --gso 8 --size 1200 \
		>/dev/null
	lib_wait_stat tx_pkts -ge $((t0 + 18)) 5 ||
		lib_case_fail "$c GSO after too big: tx_pkts=$LAST_STAT, want $((t0 + 18))"
	tx=$(($(ru_tx) - tx0))
	if lib_relay_log_current | grep -q "UDP GSO send refused"; then
		lib_case_fail "$c GSO after too big: the worker turned UDP GSO off:" \
			"$(lib_relay_log_current | grep "UDP GSO send refused")"
	elif [ "$tx" -gt 2 ]; then
		lib_case_fail "$c GSO after too big: a later burst of 8 x 1200 left in $tx packets" \
			"(cut: seg_max lowered), want one GSO send"
	else
		lib_case_ok "$c GSO after too big: the burst that took it went again whole, GSO" \
			"stays on ($tx packets for a later burst)"
	fi
}

# toobig_case BACKEND: the path MTU shrinks beyond the upstream's namespace: NS_U routes the
# hop network over a link of MTU 1280 and answers the relay's larger packets with packet too
# big (hop1 drops what fits: it is not for its address). A neighbour entry stands in for the
# hop: the address unreachable a failed resolution sends 3 s later would reach a receive,
# which reads the error queue. The io_uring backend read it after a send took an unreachable
# only, and left the copy of each packet too big a send took charged to the socket's receive
# buffer for the session's life. One relay (gro = true), two sessions: 40 datagrams of 1300
# to 1339 bytes (each its own send: none fits the GSO send of another's size), and after the
# path MTU is forgotten 5 GRO bursts of 8 x 1400 bytes (a burst's GSO send takes the error as
# a refusal, and its datagrams go again in pieces). No datagram is lost: the single one whose
# send took the error goes again too (before, it was lost). IPv6: an IPv4 GSO send leaves
# without DF (it is longer than the MTU), so no router answers it with "fragmentation needed".
toobig_case()
{
	local backend=$1 line lost
	lib_case_begin toobig "$backend" 6
	c="[$backend/ipv6 packet too big]"
	lib_nsx "$NS_U" sysctl -qw net.ipv6.conf.all.forwarding=1
	lib_nsx "$NS_U" ip link add hop0 mtu 1280 type veth peer name hop1 &&
		lib_nsx "$NS_U" ip link set hop1 up && lib_nsx "$NS_U" ip link set hop0 up &&
		lib_nsx "$NS_U" ip -6 route add "$HOP_NET" dev hop0 &&
		lib_nsx "$NS_U" ip -6 neigh add "$HOP" lladdr 02:00:00:00:00:01 dev hop0 \
			nud permanent && hop_route ||
		lib_fail "cannot route $HOP_NET through $NS_U"
	lib_relay_conf "$conf" backend="$backend" listen="$to" up="[$HOP]:9000" gro=true buffer=
	if lib_relay_start "$conf"; then
		toobig_episode 47600 "single datagrams" 40 --count 40 --sizes "$(seq -s, 1300 1339)"
		hop_route
		toobig_episode 47601 "GRO bursts" 40 --count 5 --gso 8 --size 1400
		hop_route
		gso_pending_episode 47602
		# The single datagram whose send took the error goes again (before, it was lost),
		# and so does a burst.
		line=$(lib_stats t) || lib_case_fail "$c no stats line"
		lost=$(($(lib_field rx_pkts "$line") - $(lib_field tx_pkts "$line")))
		[ "$lost" = 0 ] || lib_case_fail "$c $lost datagrams not sent, want 0"
		lib_relay_stop || lib_case_fail "$c relay exit status $? after SIGTERM, want 0"
	else
		lib_case_fail "$c relay did not start"
	fi
	lib_nsx "$NS_R" ip -6 route del "$HOP_NET"
	lib_nsx "$NS_U" ip link del hop0
	lib_nsx "$NS_U" sysctl -qw net.ipv6.conf.all.forwarding=0
}

# prohibit_case BACKEND: NS_U routes the hop to a prohibit route and answers each datagram
# for it with ICMPv6 destination unreachable, administratively prohibited: EACCES at the
# relay. As in toobig_episode, a session's 8 datagrams (each its own send: sizes 101 to 108)
# wait for the stopped relay, so that the error each draws fails the next send. Such a
# datagram goes again (its error then counts as a notice), or counts as upstream_unreachable
# when it cannot (its last send allowed, WORKER_SEND_AGAIN_MAX, met the next error, or, with
# io_uring, the error's copy was read away for a send before it): never as send_error (as they were before EACCES counted as
# an unreachable). Every error counts once, as the upstream's, every datagram is sent or
# counted, and no copy may stay in the session's error queue (io_uring left the copies of the
# errors its sends took there).
prohibit_case()
{
	local backend=$1 n=8 line icmp lost
	lib_case_begin prohibit "$backend" 6
	c="[$backend/ipv6 admin-prohibited]"
	lib_nsx "$NS_U" sysctl -qw net.ipv6.conf.all.forwarding=1
	lib_nsx "$NS_U" ip -6 route add prohibit "$HOP/128" && hop_route ||
		lib_fail "cannot route $HOP to a prohibit route in $NS_U"
	lib_relay_conf "$conf" backend="$backend" listen="$to" up="[$HOP]:9000"
	if lib_relay_start "$conf"; then
		icmp=$(lib_unreach_sent "$NS_U")
		lib_udp "$NS_C" client --to "$to" --port-base 47700 --count 1 --size 100 >/dev/null
		lib_wait_stat rx_pkts -ge 1 5 || lib_case_fail "$c no session"
		lib_pause "$RELAY_PID" || lib_case_fail "$c the relay did not stop"
		lib_udp "$NS_C" client --to "$to" --port-base 47700 --count $n \
			--sizes "$(seq -s, 101 $((100 + n)))" --quiet 0 >/dev/null
		lib_resume "$RELAY_PID"
		lib_wait_stat "tx_pkts+drop_upstream_unreachable+drop_send_error" -ge $((1 + n)) 5 ||
			lib_case_fail "$c $LAST_STAT of $((1 + n)) datagrams sent or dropped"
		# Each error is taken by the next send (a drop) or by a receive (a notice).
		icmp=$(($(lib_unreach_sent "$NS_U") - icmp))
		lib_wait_stat "drop_upstream_unreachable+upstream_unreachable_notices" -ge "$icmp" 2
		line=$(lib_stats t) || lib_case_fail "$c no stats line"
		lost=$(lib_field drop_upstream_unreachable "$line")
		if [ "$icmp" -lt 2 ]; then
			lib_case_fail "$c $NS_U sent $icmp ICMPv6 unreachables (nothing tested)"
		elif [ "$(lib_field drop_send_error "$line")" = 0 ] &&
			[ "$((lost + $(lib_field upstream_unreachable_notices "$line")))" = "$icmp" ] &&
			[ "$(lib_field rx_pkts "$line")" = "$(($(lib_field tx_pkts "$line") + lost))" ]; then
			lib_case_ok "$c $icmp errors: $lost datagrams upstream_unreachable," \
				"$(lib_field upstream_unreachable_notices "$line") notices," \
				"$(lib_field tx_pkts "$line") of $((1 + n)) sent"
		else
			lib_case_fail "$c $icmp errors, want each an unreachable (drop or notice): $line"
		fi
		if lib_wait_for 2 hop_rmem_le 0; then
			lib_case_ok "$c nothing left in the session's socket"
		else
			lib_case_fail "$c $(hop_rmem) bytes left in the session's socket (error copies)"
		fi
		lib_relay_stop || lib_case_fail "$c relay exit status $? after SIGTERM, want 0"
	else
		lib_case_fail "$c relay did not start"
	fi
	lib_nsx "$NS_R" ip -6 route del "$HOP_NET"
	lib_nsx "$NS_U" ip -6 route del prohibit "$HOP/128"
	lib_nsx "$NS_U" sysctl -qw net.ipv6.conf.all.forwarding=0
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
for backend in $(lib_backends); do
	toobig_case "$backend"
	prohibit_case "$backend"
done
lib_done
