#!/bin/bash
# SPDX-License-Identifier: MIT
# gro = true without buffer_size (which then defaults to 69632), per backend and family: the
# start-up line says the 68 KiB buffers are resident a page each; a client sends UDP GSO
# super-datagrams (20 x 100 bytes
# per send) through veth to the relay, which receives them coalesced (UDP_GRO) and passes
# them on with UDP_SEGMENT; the upstream (a plain socket) must get every datagram separately,
# at its own size and byte-exact, and the client every echo. The counters count datagrams,
# not sends. Then the largest bursts GRO makes: 64 x 1023 bytes (65472, past what a 64 KiB
# buffer holds after the receive's header: that build dropped them all as truncated).
# Bursts whose segments the next link cannot carry (8 x 1400 bytes, a link of MTU 1280), as
# replies and as requests: the relay's GSO send is refused (or, to an upstream with io_uring,
# not tried), and each datagram must go alone (fragmented by the kernel) instead of the
# whole burst being lost (both backends dropped all 8 of every reply burst before).
# Then input GRO does not coalesce: a burst of small single datagrams (0-200 bytes, more than
# the relay has buffers), each in a 68 KiB buffer of its own. Every one the relay took in is
# relayed or counted as a drop, exactly (rx = tx + drops, both ways), and the upstream got
# each relayed one alone, at its own size.
# With io_uring (IPv4 only), icmp_case: an ICMP error pending on a session's socket fails a
# GRO burst's send, and a gathered GSO send's: the send goes again whole, nothing lost.
. "$(dirname "$0")/lib.sh"
lib_topology

SEGS=20 SIZE=100 ROUNDS=10 SMALL=3000
BIG_SEGS=64 BIG_SIZE=1023 BIG_ROUNDS=2 BIG=$((BIG_SEGS * BIG_ROUNDS))

# small_burst EP: SMALL single datagrams as fast as the socket takes them, then (after the
# relay has had time to drain) one more, so a socket overflow is noticed (SO_RXQ_OVFL comes
# with the next datagram). Prints how many datagrams of each size it sent: "SIZE COUNT".
small_burst()
{
	lib_nsx "$NS_C" "$PY" - "$1" "$SMALL" <<'EOF'
import collections, socket, sys, time
ep, n = sys.argv[1], int(sys.argv[2])
host, port = ep.rsplit(":", 1)
host = host.strip("[]")
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
sizes = [18, 1, 64, 200, 0, 100, 37]
count = collections.Counter()
for i in range(n + 1):
    if i == n:
        time.sleep(0.5)
    size = sizes[i % len(sizes)]
    s.sendto(bytes([i % 251]) * size, (host, int(port)))
    count[size] += 1
for size, c in sorted(count.items()):
    print(size, c)
EOF
}

# burst_client EP N SIZE [PORT]: N datagrams of SIZE bytes at once from PORT (default: any),
# then their echoes (3 s at most); prints how many came back at SIZE and how many at another
# size.
burst_client()
{
	lib_nsx "$NS_C" "$PY" - "$1" "$2" "$3" "${4:-0}" <<'EOF'
import socket, sys, time
ep, n, size, sport = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
host, port = ep.rsplit(":", 1)
host = host.strip("[]")
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("::" if ":" in host else "0.0.0.0", sport))
s.settimeout(0.2)
for i in range(n):
    s.sendto(bytes([i]) * size, (host, int(port)))
got = other = 0
end = time.monotonic() + 3
while time.monotonic() < end and got < n:
    try:
        d = s.recv(65536)
    except socket.timeout:
        continue
    got, other = (got + 1, other) if len(d) == size else (got, other + 1)
print(got, other)
EOF
}

# sum_fields LINE PREFIX: the sum of a stats line's counters whose names start with PREFIX.
sum_fields()
{
	echo "$1" | tr ' ' '\n' | awk -F= -v p="$2" 'index($1, p) == 1 { s += $2 } END { print s + 0 }'
}

run_case()
{
	local backend=$1 fam=$2 c conf to out line n
	lib_family "$fam"
	c="[$backend/ipv$fam]"
	conf=$TMPD/gro-$backend-$fam.conf
	to=$(ep "$RELAY_IP" 5000)
	lib_relay_conf "$conf" backend="$backend" buffer= buffers=256 listen="$to" \
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
	# The start-up line says what the buffers hold in memory and how GRO uses them.
	local line_re="io_uring.*256 buffers of 69632 B (1024 KiB resident: a page each"
	line_re+=".*GRO: a buffer per datagram or burst"
	if [ "$backend" = io_uring ] && ! lib_expect_backend "$line_re"; then
		lib_case_fail "$c the start-up line does not say how GRO uses its buffers"
	fi
	if out=$(lib_udp "$NS_C" client --to "$to" --count "$ROUNDS" --gso "$SEGS" --size "$SIZE" \
		--expect-echo --seconds 20); then
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
	if out=$(lib_udp "$NS_C" client --to "$to" --count "$BIG_ROUNDS" --gso "$BIG_SEGS" \
		--size "$BIG_SIZE" --expect-echo --seconds 20); then
		lib_case_ok "$c bursts of $BIG_SEGS x $BIG_SIZE bytes relayed and echoed: $out"
	else
		lib_case_fail "$c bursts of $BIG_SEGS x $BIG_SIZE bytes: $out"
	fi
	n=$(awk -v size="$BIG_SIZE" '$2 == size' "$TMPD/up-$backend-$fam.rec" | wc -l)
	[ "$n" -eq "$BIG" ] ||
		lib_case_fail "$c upstream got $n datagrams of $BIG_SIZE bytes, want $BIG"
	small_case "$c" "$to" "$TMPD/up-$backend-$fam.rec"
	lib_relay_stop || lib_case_fail "$c relay exit status $? after SIGTERM, want 0"
	lib_stop_pid "$echo_pid"
	mtu_case "$c" "$conf" "$to" "$([ "$backend/$fam" = mmsg/4 ] && echo refusals)"
	mirror_mtu_case "$c" "$backend" "$to"
	# (one family: the resends are the same code for both)
	if [ "$backend" = io_uring ] && [ "$fam" = 4 ]; then
		icmp_case "$c" "$conf" "$to"
	fi
}

# icmp_case CASE CONF EP (io_uring): a session's send meets the ICMP error that the datagram
# before it drew, both sent in one submission: the upstream's nftables rejects the client's
# datagrams of 37 bytes (port unreachable), which the kernel takes in while it sends one, so
# the next send on the socket fails with ECONNREFUSED whatever it carries. The relay is
# stopped while the client sends one of those and then 4 datagrams of 100 bytes: as one GSO
# burst (received as one, GRO), then as 4 datagrams (gathered into one GSO send). The send
# that takes the error goes again whole, once (burst_again, batch_again: its copy is in the
# error queue), so all 4 must reach the upstream, in order, none counted lost, and the error
# counted once as a notice. (Before, the first of the 4 was lost, counted as
# drop_upstream_unreachable, and the other 3 went again; before that all 4 were lost.) The
# counters cannot tell the send that took the error from the session's receive meeting it
# first (a busy machine's softirqs left to ksoftirqd): both relay all 4 and count a notice.
icmp_case()
{
	local c=$1 conf=$2 to=$3 rec=$TMPD/icmp.rec kind what base=0 line got
	if ! command -v nft >/dev/null; then
		lib_log "SKIP: $c an ICMP error before a burst: nft (nftables) not found"
		return
	fi
	lib_nsx "$NS_U" nft "add table inet rrtest; add chain inet rrtest input" \
		"{ type filter hook input priority 0; }; add rule inet rrtest input" \
		"udp dport 9000 udp length 45 reject" || {
		lib_log "SKIP: $c an ICMP error before a burst: no nftables reject rule here"
		return
	}
	lib_udp_bg "$NS_U" "$TMPD/icmp.json" sink --bind "$(ep "$UP1_IP" 9000)" --out "$rec" \
		--seconds 60
	local sink_pid=$BG_PID
	if lib_relay_start "$conf"; then
		for kind in burst singles; do
			what="a GRO burst of 4"
			[ "$kind" = singles ] && what="4 datagrams gathered into a GSO send"
			base=$((base + 4))
			icmp_round "$to" "$kind" "$base" "$rec"
			got=$(awk -v b="$base" '{ split($4, k, ":"); s = k[3] - b }
				s >= 0 && s < 4 { printf "%s%d", sep, s; sep = " " }' "$rec")
			if [ "$DROPS" = 0 ] && [ "$got" = "0 1 2 3" ] && [ "$NOTICES" = 1 ]; then
				lib_case_ok "$c an ICMP error pending for $what: all 4 sent, the" \
					"error counted once as a notice"
			else
				lib_case_fail "$c an ICMP error pending for $what: $DROPS lost as" \
					"unreachable, $NOTICES notices, the upstream got '$got' of them," \
					"want 0, 1 and '0 1 2 3'"
			fi
		done
		if line=$(lib_stats t); then
			[ "$(lib_field rx_pkts "$line")" -eq $(($(lib_field tx_pkts "$line") + \
				$(lib_field drop_upstream_unreachable "$line"))) ] ||
				lib_case_fail "$c rx != tx + drop_upstream_unreachable: $line"
			lib_expect_fields "$c" "$line" 0 drop_send_error
		else
			lib_case_fail "$c no stats line"
		fi
		lib_relay_stop || lib_case_fail "$c relay exit status $? after SIGTERM, want 0"
	else
		lib_case_fail "$c relay did not start for the ICMP case"
	fi
	lib_stop_pid "$sink_pid"
	lib_nsx "$NS_U" nft delete table inet rrtest
}

# icmp_round EP KIND BASE REC: one round of icmp_case, its 4 datagrams keyed BASE to BASE + 3
# (REC: the upstream's record). Sets DROPS to the datagrams it lost to the error, NOTICES to
# the unreachable notices it counted.
icmp_round()
{
	local to=$1 kind=$2 base=$3 rec=$4 line rx drops notices lines
	line=$(lib_stats t) || return 1
	rx=$(lib_field rx_pkts "$line")
	drops=$(lib_field drop_upstream_unreachable "$line")
	notices=$(lib_field upstream_unreachable_notices "$line")
	lines=$(lib_lines "$rec")
	lib_pause "$RELAY_PID" || lib_case_fail "$c the relay did not stop"
	lib_nsx "$NS_C" "$PY" - "$to" "$kind" "$base" <<'EOF'
import socket, struct, sys
host, port = sys.argv[1].rsplit(":", 1)
host, kind, base = host.strip("[]"), sys.argv[2], int(sys.argv[3])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", 47400))
d = lambda seq: (b"47400:0:%d|" % seq).ljust(100, b"x")
to = (host, int(port))
s.sendto(b"r" * 37, to)  # rejected upstream: its ICMP error fails the next send
if kind == "burst":
    s.sendmsg([b"".join(d(base + q) for q in range(4))],
              [(socket.SOL_UDP, 103, struct.pack("H", 100))], 0, to)
else:
    for q in range(4):
        s.sendto(d(base + q), to)
EOF
	lib_resume "$RELAY_PID"
	# all 5 relayed or counted, and the upstream has the ones relayed (not the first)
	lib_wait_stat "tx_pkts+drop_upstream_unreachable" -ge $((rx + 5)) 5 ||
		lib_log "$c $kind: $LAST_STAT of $((rx + 5)) relayed or counted"
	line=$(lib_stats t) || return 1
	DROPS=$(($(lib_field drop_upstream_unreachable "$line") - drops))
	NOTICES=$(($(lib_field upstream_unreachable_notices "$line") - notices))
	lib_wait_lines "$rec" $((lines + 4 - DROPS)) 2
}

# mirror_mtu_case CASE BACKEND EP: a mirror of two members gets the client's bursts of
# 8 x 1400 bytes: one while the members' link takes them whole; two after that link shrank
# to MTU 1280 under the running relay, whose GSO copies the kernel refuses (they must go
# again in pieces: the io_uring backend lost them as send errors); one after a reload, which
# asks the members' MTU again (the io_uring backend then cuts the copies before sending).
# Each member gets every datagram, byte-exact, and none is counted as a send error.
mirror_mtu_case()
{
	local c=$1 backend=$2 to=$3 conf=$TMPD/mirror-gro.conf rec want=32 line n
	lib_relay_conf "$conf" backend="$backend" buffer= buffers=256 listen="$to" mode=mirror \
		up="$(ep "$UP1_IP" 9000)" up="$(ep "$UP2_IP" 9000)"
	echo "gro = true;" >>"$conf"
	lib_udp_bg "$NS_U" "$TMPD/m1.json" sink --bind "$(ep "$UP1_IP" 9000)" \
		--out "$TMPD/m1.rec" --seconds 30
	local s1=$BG_PID
	lib_udp_bg "$NS_U" "$TMPD/m2.json" sink --bind "$(ep "$UP2_IP" 9000)" \
		--out "$TMPD/m2.rec" --seconds 30
	local s2=$BG_PID
	if lib_relay_start "$conf"; then
		mirror_bursts "$to" 1 "$TMPD/m.sent1" 8
		lib_link_mtu 1280 "$NS_R" "$IF_RU" "$NS_U" "$IF_U"
		mirror_bursts "$to" 2 "$TMPD/m.sent2" 24
		lib_relay_hup || lib_case_fail "$c mirror relay: no reload line"
		mirror_bursts "$to" 1 "$TMPD/m.sent3" "$want"
		for rec in "$TMPD/m1.rec" "$TMPD/m2.rec"; do
			n=$(awk '$2 == 1400 { print $3 }' "$rec" | sort |
				comm -12 - <(cat "$TMPD"/m.sent? | sort) | wc -l)
			[ "$n" -eq "$want" ] && [ "$(lib_lines "$rec")" -eq "$want" ] &&
				lib_case_ok "$c mirror member $(basename "$rec" .rec), its MTU 1500, then" \
					"1280, then reloaded: $want of $want datagrams, byte-exact" ||
				lib_case_fail "$c mirror member $(basename "$rec" .rec), its MTU 1500, then" \
					"1280, then reloaded: $n of $want byte-exact, $(lib_lines "$rec") in all"
		done
		if line=$(lib_stats t); then
			lib_expect_fields "$c" "$line" $((2 * want)) tx_pkts
			lib_expect_fields "$c" "$line" 0 drop_send_error
		fi
		lib_relay_stop || lib_case_fail "$c relay exit status $? after SIGTERM, want 0"
	else
		lib_case_fail "$c mirror relay did not start"
	fi
	lib_stop_pid "$s1"
	lib_stop_pid "$s2"
	lib_link_mtu 1500 "$NS_R" "$IF_RU" "$NS_U" "$IF_U"
}

# mirror_bursts EP N SENT TOTAL: N bursts of 8 x 1400 bytes to the mirror at EP (payloads in
# SENT), then until each member has TOTAL datagrams (5 s at most).
mirror_bursts()
{
	lib_udp "$NS_C" client --to "$1" --count "$2" --gso 8 --size 1400 --record "$3" >/dev/null
	lib_wait_lines "$TMPD/m1.rec" "$4" 5
	lib_wait_lines "$TMPD/m2.rec" "$4" 5
}


# refusals_start FILE: strace follows the relay's sends (every thread) into FILE, from now.
# Returns 1, with a log line, when it could not attach (ptrace not allowed here).
refusals_start()
{
	lib_bg "$NS_R" strace -f -qq -e trace=sendmsg,sendmmsg -e status=failed -o "$1" \
		-p "$RELAY_PID"
	STRACE_PID=$BG_PID
	lib_wait_for 5 traced_or_gone "$RELAY_PID" "$STRACE_PID"
	traced "$RELAY_PID" && return 0
	lib_log "SKIP: $c refused sends not counted: strace could not attach (ptrace not allowed?)"
	lib_stop_pid "$STRACE_PID"
	return 1
}
traced()
{
	awk '/^TracerPid:/ { if ($2 == 0) bad = 1 } END { exit bad }' /proc/"$1"/task/*/status
}
traced_or_gone() { traced "$1" || lib__gone "$2"; }

# refusals_end FILE: strace detached; prints how many sends the kernel refused (EINVAL,
# EMSGSIZE, EIO: what it says to a UDP GSO send whose segments the path does not take).
refusals_end()
{
	lib_stop_pid "$STRACE_PID"
	grep -cE '= -1 (EINVAL|EMSGSIZE|EIO) ' "$1" || true
}

# held_bursts EP N PORT: with the relay stopped (lib_pause), N GSO bursts of 8 x 1400 bytes
# from PORT, then the relay goes on (SIGCONT: it reads them in one batch), then their echoes
# (5 s at most); prints how many came back at 1400 bytes and how many at another size.
held_bursts()
{
	lib_nsx "$NS_C" "$PY" - "$1" "$2" "$3" "$RELAY_PID" <<'EOF'
import os, signal, socket, struct, sys, time
ep, n, sport, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
host, port = ep.rsplit(":", 1)
host = host.strip("[]")
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", sport))
s.settimeout(0.2)
for i in range(n):
    s.sendmsg([bytes([i]) * (8 * 1400)], [(socket.SOL_UDP, 103, struct.pack("H", 1400))], 0,
              (host, int(port)))
os.kill(pid, signal.SIGCONT)
got = other = 0
end = time.monotonic() + 5
while time.monotonic() < end and got < 8 * n:
    try:
        d = s.recv(65536)
    except socket.timeout:
        continue
    got, other = (got + 1, other) if len(d) == 1400 else (got, other + 1)
print(got, other)
EOF
}

# mtu_case CASE CONF EP [refusals]: the case's relay again, with one link at MTU 1280 at a
# time and 1400-byte datagrams coalesced in the other direction. Replies: one client's
# rounds, the upstream echoes each 8 datagrams as one GSO burst, the client link is the
# narrow one. Requests: two clients' bursts of 8 interleaved (the mmsg backend sorts its
# sends by session: a resend must take its own datagrams), the upstream link is the narrow
# one. Every datagram must come back byte-exact and be counted once as sent, none as a send
# error. The 4 bursts after the upstream's MTU shrank under their session are read in one
# batch (the relay stopped while they are sent). With "refusals" (mmsg, one family; needs
# strace) the relay's refused sends are counted: a path that refused a burst gets the later
# ones cut before they are sent, also those of the same batch, so the 3 reply bursts, those
# 4 and the two clients' 6 (sessions opened on the narrow link) meet 2 refusals in all, one
# per path (the mmsg backend met 11 of 11 when every burst was tried whole, then 5 of 13 when
# the bursts of a batch after a refused one were).
mtu_case()
{
	local c=$1 conf=$2 to=$3 trace=${4:-} rounds=3 r got other sent=0 line out
	local st=$TMPD/refusals.strace
	if [ -n "$trace" ] && ! command -v strace >/dev/null; then
		lib_log "$c refused sends not counted: no strace"
		trace=
	fi
	lib_link_mtu 1280 "$NS_C" "$IF_C" "$NS_R" "$IF_RC"
	lib_udp_bg "$NS_U" "$TMPD/hold.json" echo --bind "$(ep "$UP1_IP" 9000)" --hold 8 \
		--seconds 30
	local echo_pid=$BG_PID
	if ! lib_relay_start "$conf"; then
		lib_case_fail "$c relay did not start again"
		lib_stop_pid "$echo_pid"
		lib_link_mtu 1500 "$NS_C" "$IF_C" "$NS_R" "$IF_RC"
		return
	fi
	if [ -n "$trace" ] && ! refusals_start "$st"; then
		trace=
	fi
	for r in $(seq "$rounds"); do
		read -r got other < <(burst_client "$to" 8 1400 47500)
		sent=$((sent + ${got:-0}))
		[ "${other:-1}" -eq 0 ] || lib_case_fail "$c burst $r: $other echoes cut or merged"
	done
	[ "$sent" -eq $((8 * rounds)) ] &&
		lib_case_ok "$c replies in GSO bursts of 1400-byte segments to an MTU of 1280:" \
			"$sent of $((8 * rounds)) echoed singly" ||
		lib_case_fail "$c replies in GSO bursts to an MTU of 1280: $sent of $((8 * rounds))" \
			"came back"
	lib_stop_pid "$echo_pid"
	lib_link_mtu 1500 "$NS_C" "$IF_C" "$NS_R" "$IF_RC"

	# A session opened while the upstream link takes 1400-byte datagrams whole, whose link then
	# shrinks to 1280: its next bursts are refused and must go again in pieces (the io_uring
	# backend lost them whole).
	lib_udp_bg "$NS_U" "$TMPD/echo2.json" echo --bind "$(ep "$UP1_IP" 9000)" --seconds 30
	echo_pid=$BG_PID
	lib_udp "$NS_C" client --to "$to" --count 1 --gso 8 --size 1400 --port-base 47200 \
		--expect-echo >/dev/null || lib_case_fail "$c a burst before the upstream MTU shrank"
	lib_link_mtu 1280 "$NS_R" "$IF_RU" "$NS_U" "$IF_U"
	lib_pause "$RELAY_PID" || lib_case_fail "$c the relay did not stop"
	read -r got other < <(held_bursts "$to" 4 47200)
	lib_resume "$RELAY_PID"
	[ "${got:-0}" = 32 ] && [ "${other:-1}" = 0 ] &&
		lib_case_ok "$c 4 bursts in one batch after the upstream MTU shrank under the" \
			"session: all echoed" ||
		lib_case_fail "$c 4 bursts in one batch after the upstream MTU shrank under the" \
			"session: $got of 32 echoed, $other cut or merged"
	if out=$(lib_udp "$NS_C" client --to "$to" --clients 2 --count "$rounds" --gso 8 \
		--size 1400 --port-base 47000 --expect-echo --seconds 20); then
		lib_case_ok "$c two clients' GSO bursts of 1400-byte segments to an upstream MTU of" \
			"1280: every datagram echoed byte-exact"
	else
		lib_case_fail "$c two clients' GSO bursts to an upstream MTU of 1280: $out"
	fi
	if [ -n "$trace" ]; then
		r=$(refusals_end "$st")
		[ "$r" -le 2 ] &&
			lib_case_ok "$c 13 bursts to narrow paths met $r refused sends (a path's" \
				"first burst at most)" ||
			lib_case_fail "$c 13 bursts to narrow paths met $r refused sends, want at" \
				"most 2 (one per path): $(head -n 3 "$st" | cut -c1-160)"
	fi
	if line=$(lib_stats t); then
		lib_expect_fields "$c" "$line" $((8 * rounds * 3 + 40)) rx_pkts tx_pkts reply_rx_pkts \
			reply_tx_pkts
		lib_expect_fields "$c" "$line" 0 drop_send_error reply_drop_send_error
	else
		lib_case_fail "$c no stats line"
	fi
	lib_stop_pid "$echo_pid"
	interleaved_case "$c" "$to" "$rounds"
	order_case "$c" "$to"
	lib_relay_stop || lib_case_fail "$c relay exit status $? after SIGTERM, want 0"
	lib_link_mtu 1500 "$NS_R" "$IF_RU" "$NS_U" "$IF_U"
}

# order_case CASE EP: one client's datagram, a GSO burst of 4 and another datagram, read in
# one batch (the relay stopped meanwhile), reach the upstream in the order sent (the io_uring
# backend sent the burst ahead of the datagram before it, still in the session's batch).
order_case()
{
	local c=$1 to=$2 rec=$TMPD/order.rec got
	lib_udp_bg "$NS_U" "$TMPD/order.json" sink --bind "$(ep "$UP1_IP" 9000)" --out "$rec" \
		--seconds 30
	local sink_pid=$BG_PID
	lib_pause "$RELAY_PID" || lib_case_fail "$c the relay did not stop"
	lib_nsx "$NS_C" "$PY" - "$to" <<'EOF'
import socket, struct, sys
host, port = sys.argv[1].rsplit(":", 1)
host = host.strip("[]")
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("::" if ":" in host else "0.0.0.0", 47300))
d = lambda seq: (b"47300:0:%d|" % seq).ljust(100, b"x")
s.sendto(d(0), (host, int(port)))
s.sendmsg([b"".join(d(q) for q in range(1, 5))], [(socket.SOL_UDP, 103, struct.pack("H", 100))],
           0, (host, int(port)))
s.sendto(d(5), (host, int(port)))
EOF
	lib_resume "$RELAY_PID"
	lib_wait_lines "$rec" 6 5
	got=$(awk '{ split($4, k, ":"); printf "%s%s", sep, k[3]; sep = " " }' "$rec")
	[ "$got" = "0 1 2 3 4 5" ] && lib_case_ok "$c a datagram, a burst, a datagram: in order" ||
		lib_case_fail "$c a datagram, a burst, a datagram reached the upstream as '$got'"
	lib_stop_pid "$sink_pid"
}

# interleaved_case CASE EP ROUNDS: the same bursts while the relay is stopped, so it reads
# them in one batch, the two clients' interleaved (A B A B ...); a sink records what each of
# the relay's sessions sent: every datagram once, each session only its own client's.
interleaved_case()
{
	local c=$1 to=$2 rounds=$3 rec=$TMPD/interleaved.rec want got
	want=$((2 * rounds * 8))
	lib_udp_bg "$NS_U" "$TMPD/sink.json" sink --bind "$(ep "$UP1_IP" 9000)" --out "$rec" \
		--seconds 30
	local sink_pid=$BG_PID
	lib_pause "$RELAY_PID" || lib_case_fail "$c the relay did not stop"
	lib_udp "$NS_C" client --to "$to" --clients 2 --count "$rounds" --gso 8 --size 1400 \
		--port-base 47100 >/dev/null
	lib_resume "$RELAY_PID"
	lib_wait_lines "$rec" "$want" 5
	# fields: session (the relay's address) length hex client-port:index:sequence
	got=$(awk '{ split($4, k, ":"); if (!($1 in of)) of[$1] = k[1]; else if (of[$1] != k[1]) mixed++
		seen[$4]++ } END { print NR, length(seen), mixed + 0 }' "$rec")
	[ "$got" = "$want $want 0" ] &&
		lib_case_ok "$c two clients' bursts read in one batch: $want datagrams, each once," \
			"each from its own client's session" ||
		lib_case_fail "$c two clients' bursts read in one batch: lines, distinct," \
			"mixed = $got, want $want $want 0"
	lib_stop_pid "$sink_pid"
}

# small_case CASE EP REC: the uncoalesced burst through the running relay (after the GSO
# rounds, whose datagrams are already in the counters and in REC).
small_case()
{
	local c=$1 to=$2 rec=$3 line rx tx drops rrx rtx rdrops up want
	local out="tx_pkts+drop_truncated+drop_session_table_full+drop_send_error"
	out+="+drop_upstream_unreachable+drop_socket_receive_overflow+drop_session_socket_error"
	out+="+drop_session_closed+drop_source_session_limit"
	small_burst "$to" >"$TMPD/small-sent" || lib_case_fail "$c small burst failed"
	want=$((SEGS * ROUNDS + BIG + SMALL + 1))
	# Some may be lost before the relay's socket (veth, backlog): not the relay's to count.
	lib_wait_stat "$out" -ge "$want" 5 ||
		lib_log "$c relayed or dropped $LAST_STAT of $want sent"
	line=$(lib_stats t) || { lib_case_fail "$c no stats line"; return; }
	rx=$(lib_field rx_pkts "$line")
	tx=$(lib_field tx_pkts "$line")
	drops=$(sum_fields "$line" drop_)
	rrx=$(lib_field reply_rx_pkts "$line")
	rtx=$(lib_field reply_tx_pkts "$line")
	rdrops=$(sum_fields "$line" reply_drop_)
	[ "$rx" -eq $((tx + drops)) ] ||
		lib_case_fail "$c small datagrams: rx_pkts $rx != tx_pkts $tx + drops $drops"
	[ "$rrx" -eq $((rtx + rdrops)) ] ||
		lib_case_fail "$c small datagrams: reply_rx_pkts $rrx != reply_tx_pkts $rtx +" \
			"drops $rdrops"
	[ "$rx" -le "$want" ] || lib_case_fail "$c rx_pkts $rx > $want sent"
	[ "$tx" -gt $((SEGS * ROUNDS + BIG)) ] || lib_case_fail "$c no small datagram relayed"
	# The upstream's record has one line per datagram: every one relayed arrived, alone.
	lib_wait_lines "$rec" "$tx" 5
	up=$(lib_lines "$rec")
	[ "$up" -eq "$tx" ] || lib_case_fail "$c upstream got $up datagrams, relay sent $tx"
	if awk -v big="$BIG_SIZE" '$2 > 200 && $2 != big' "$rec" | grep -q .; then
		lib_case_fail "$c upstream got a datagram longer than any sent:" \
			"$(awk -v big="$BIG_SIZE" '$2 > 200 && $2 != big' "$rec" | head -n 1)"
	fi
	lib_case_ok "$c small datagrams, not coalesced: rx $rx = tx $tx + drops $drops" \
		"(overflow $(lib_field drop_socket_receive_overflow "$line"), buffer ring empty" \
		"$(lib_field buffer_ring_empty "$line") times); replies $rrx = $rtx + $rdrops"
}

lib_each_case run_case
