#!/bin/bash
# SPDX-License-Identifier: MIT
# Upstream down, then up, per backend and family: with nothing listening upstream the
# upstream's ICMP port unreachable errors are counted (as notices when a receive reports one,
# as drop_upstream_unreachable when a send fails on one, as drop_send_error) and the relay
# keeps running without spinning (the ICMP errors queued on the session's socket by
# IP_RECVERR are read away: a relay that left them would see its socket readable forever);
# once the upstream starts, the same client (same port, same session) gets its replies.
# Then (IPv4, both backends) an ICMP port unreachable for the session, forged in the
# upstream's namespace while the relay is stopped and 40 datagrams of the session wait for
# it: the error it leaves pending fails the session's next send, which gathers the 40 into
# one UDP GSO send; it must cost at most one datagram, not all 40 (none when that send takes
# it: it goes again whole; one when the error's copy is gone). The same for 40 that arrive as 5
# GRO bursts of 8 (gro = true): the first burst's send fails.
# Then (IPv4, both backends) a datagram sent on its own that meets such an error goes again and
# arrives (alone_case), also a mirror's copy: the upstream's nftables rejects a datagram, whose
# ICMP error fails the next send; with mmsg also a forged one; a gathered UDP GSO send
# that takes it goes again whole; and two sends of one round on the session's socket that each
# take one (io_uring lost the second) both go again.
# Then (IPv4, both backends) bursts to the dead upstream leave no ICMP error in the session's
# socket once through (errqueue_case): of 50 B datagrams (gathered), and of 1600 B ones (over
# the path MTU: each sent alone and fragmented), of which few are lost to the errors: a send
# that goes again and takes the next error goes again once more (io_uring lost a quarter).
. "$(dirname "$0")/lib.sh"
lib_topology

# upstream_up_replies PORT_BASE: the echo upstream starts, and the client that used
# PORT_BASE while it was down (the same session) gets its replies.
upstream_up_replies()
{
	lib_case_echo
	if out=$(lib_udp "$NS_C" client --to "$to" --port-base "$1" --count 5 --size 50 \
		--expect-echo); then
		lib_case_ok "$c replies once the upstream is up: $out"
	else
		lib_case_fail "$c no replies after the upstream came up: $out"
	fi
}

# run_case BACKEND FAMILY: the whole test for one backend and one address family.
run_case()
{
	local backend=$1 fam=$2
	lib_case_begin down "$backend" "$fam"
	lib_case_start || return

	# Several datagrams: the error from the first ICMP shows up on a later operation.
	out=$(lib_udp "$NS_C" client --to "$to" --port-base 47000 --count 5 --size 50 \
		--expect-none --quiet 0.2) ||
		lib_case_fail "$c reply while no upstream runs: $out"
	errs=upstream_unreachable_notices+drop_upstream_unreachable+drop_send_error
	if lib_wait_stat $errs -ge 1 10; then
		lib_case_ok "$c unreachable/send errors counted: $LAST_STAT"
	else
		lib_case_fail "$c $errs=$LAST_STAT, want >= 1"
	fi
	lib_relay_alive || lib_case_fail "$c relay died with the upstream down"
	# CPU time of the idle relay over 1 s (a measurement interval, not a wait for a
	# condition): a loop that never sleeps takes most of a core, 5 times the 20 % allowed.
	t0=$(awk '{ print $14 + $15 }' "/proc/$RELAY_PID/stat")
	sleep 1
	t1=$(awk '{ print $14 + $15 }' "/proc/$RELAY_PID/stat")
	if [ $((t1 - t0)) -le $(($(getconf CLK_TCK) / 5)) ]; then
		lib_case_ok "$c idle with a dead upstream: $((t1 - t0)) CPU ticks in 1 s"
	else
		lib_case_fail "$c spins with a dead upstream: $((t1 - t0)) CPU ticks in 1 s," \
			"want <= $(($(getconf CLK_TCK) / 5))"
	fi

	upstream_up_replies 47000
	if line=$(lib_stats t); then
		v=$(lib_field sessions_created "$line")
		[ "$v" = 1 ] || lib_case_fail "$c sessions_created=$v, want 1 (the same session)"
		v=$(lib_field reply_tx_pkts "$line")
		[ "$v" = 5 ] || lib_case_fail "$c reply_tx_pkts=$v, want 5"
	else
		lib_case_fail "$c no stats line"
	fi
	lib_case_end
}

# forge_unreach SPORT: an ICMP port unreachable from UP1_IP to RELAY_UP_IP for a datagram
# RELAY_UP_IP:SPORT -> UP1_IP:9000, sent from the upstream's namespace.
forge_unreach()
{
	lib_nsx "$NS_U" "$PY" - "$UP1_IP" "$RELAY_UP_IP" "$1" <<'EOF'
import socket, struct, sys
up, relay, sport = sys.argv[1], sys.argv[2], int(sys.argv[3])
def csum(b):
    b += b"\0" * (len(b) & 1)
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    return ~(s + (s >> 16)) & 0xffff
# the datagram that "drew" it: IPv4 header (no options) and the UDP header
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28 + 100, 1, 0, 64, 17, 0,
                 socket.inet_aton(relay), socket.inet_aton(up))
ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
quoted = ip + struct.pack("!HHHH", sport, 9000, 8 + 100, 0)
icmp = struct.pack("!BBHI", 3, 3, 0, 0) + quoted
icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.sendto(icmp, (relay, 0))
EOF
}

# pending_case BACKEND gathered|gro: the forged ICMP error against a gathered send, or
# against a GRO burst's (IPv4).
pending_case()
{
	local backend=$1 how=$2 rec sport lost got
	lib_case_begin "pending-$how" "$backend" 4
	c="[$backend/ipv4 pending ICMP error, $how]"
	rec=$TMPD/pending-$backend-$how.rec
	lib_case_server "$TMPD/pending.json" sink --bind "$(ep "$UP1_IP" 9000)" --out "$rec"
	if [ "$how" = gro ]; then
		lib_case_start gro=true buffer= || return
	else
		lib_case_start || return
	fi
	lib_udp "$NS_C" client --to "$to" --port-base 47300 --count 1 --size 100 >/dev/null
	lib_wait_lines "$rec" 1 5 || lib_case_fail "$c the session's first datagram did not arrive"
	# the session's socket: RELAY_UP_IP:SPORT connected to UP1_IP:9000
	sport=$(lib_nsx "$NS_R" ss -Hun dst "$UP1_IP:9000" | awk -v ip="$RELAY_UP_IP:" '
		{ for (i = 1; i <= NF; i++) if (index($i, ip) == 1) print substr($i, length(ip) + 1) }')
	lib_pause "$RELAY_PID" || lib_case_fail "$c the relay did not stop"
	if [ "$how" = gro ]; then
		lib_udp "$NS_C" client --to "$to" --port-base 47300 --count 5 --gso 8 --size 100 \
			>/dev/null
	else
		lib_udp "$NS_C" client --to "$to" --port-base 47300 --count 40 --size 100 >/dev/null
	fi
	forge_unreach "$sport"
	lib_resume "$RELAY_PID"
	lib_wait_lines "$rec" 40 5
	got=$(($(lib_lines "$rec") - 1))
	lost=$(lib_stat drop_upstream_unreachable)
	if [ "$got" -ge 39 ] && [ "$lost" -le 1 ] && [ $((got + lost)) = 40 ]; then
		lib_case_ok "$c $got of 40 arrived, $lost lost to the error ($(lib_stat rx_pkts)" \
			"received)"
	else
		lib_case_fail "$c $got of 40 arrived, drop_upstream_unreachable=$lost; want at" \
			"most 1 lost (session port '$sport')"
	fi
	lib_case_end
}

# session_port: the source port of the session's socket (RELAY_UP_IP:PORT connected to
# UP1_IP:9000).
session_port()
{
	lib_nsx "$NS_R" ss -Hun dst "$UP1_IP:9000" | awk -v ip="$RELAY_UP_IP:" '
		{ for (i = 1; i <= NF; i++) if (index($i, ip) == 1) print substr($i, length(ip) + 1) }'
}

# alone_send EP drawn|alone SEQ [N]: from client port 47500, a datagram of 37 bytes (drawn:
# the upstream's nftables rejects it) and then N (default 1) of 100 bytes keyed 47500:0:SEQ
# and on (several: the relay gathers them into one UDP GSO send). alone_send EP twice SEQ
# SIZE1 SIZE2: a rejected datagram of 1650 bytes (longer than the path MTU: sent alone), one
# of SIZE1 bytes keyed SEQ, another rejected one, one of SIZE2 keyed SEQ + 1.
alone_send()
{
	lib_nsx "$NS_C" "$PY" - "$1" "$2" "$3" "${4:-1}" "${5:-0}" <<'EOF'
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
kind, seq, n, size2 = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 47500))
to = (host, int(port))
if kind == "twice":
    for k, size in ((seq, n), (seq + 1, size2)):
        s.sendto(b"r" * 1650, to)  # rejected upstream, as a 37-byte one
        s.sendto((b"47500:0:%d|" % k).ljust(size, b"x"), to)
    sys.exit(0)
if kind == "drawn":
    s.sendto(b"r" * 37, to)  # rejected upstream: its ICMP error fails the next send
for k in range(seq, seq + n):
    s.sendto((b"47500:0:%d|" % k).ljust(100, b"x"), to)
EOF
}

# The drops of a stats line (client to upstream), summed.
drops_of() { echo "$1" | tr ' ' '\n' | awk -F= '$1 ~ /^drop_/ { n += $2 } END { print n + 0 }'; }
# The relay's counters add up: rx_pkts + mirror_extra_copies = tx_pkts + drops (sets LINE).
counts_add_up()
{
	LINE=$(lib_stats t) || return 1
	[ $(($(lib_field rx_pkts "$LINE") + $(lib_field mirror_extra_copies "$LINE"))) -eq \
		$(($(lib_field tx_pkts "$LINE") + $(drops_of "$LINE"))) ]
}

# alone_case BACKEND [mirror] (IPv4): a datagram sent on its own (not gathered: not a UDP GSO
# send) meets the ICMP error the datagram before it drew, left pending on the session's socket:
# the send fails whatever it carries, and takes the error with it, so the datagram must go again
# and reach the upstream. The upstream's nftables rejects the client's datagrams of 37 bytes
# (and of 1650, below; port unreachable), whose ICMP error comes back within the relay's send on
# veth; the relay is stopped while the client sends one of those and then one of 100 bytes
# (longer: never gathered with it), so both go out in one submission (one sendmmsg), the second
# after the error came. (An error forged while the relay is stopped, as pending_case's, reaches
# io_uring's receive first: both completions come from one run of task work.) Three rounds; with
# mmsg one more, a forged port unreachable before a lone datagram (epoll reports the listener
# first). Each 100-byte datagram arrives, none is lost, each ICMP error is counted once, as a
# notice, and the counters add up. Before, each was lost (drop_upstream_unreachable). With
# mirror, the same for a mirror's copies to its one member (its own connected socket), one
# round. Then a round whose rejected datagram is followed by three of 100 bytes, which the relay
# gathers into one UDP GSO send that takes the error: it goes again whole (before, its first
# datagram was lost). Last (forward), two rounds of a rejected datagram, one that takes its
# error, another rejected one and one that takes that error: four sends of one socket in one
# submission, the rejected ones of 1650 bytes (longer than the path MTU: sent alone), the others
# gathered (100 bytes) or alone (1600), in either order. The first failure's completion reads
# both errors' copies; the second failure must go again all the same (before, with io_uring it
# was lost: drop_upstream_unreachable).
alone_case()
{
	local backend=$1 mode=${2:-forward} rec k n=3 errs keys want notices lost sizes twice
	lib_case_begin "alone-$mode" "$backend" 4
	c="[$backend/ipv4 pending ICMP error, a datagram alone, $mode]"
	[ "$mode" = mirror ] && n=1
	if ! command -v nft >/dev/null; then
		lib_log "SKIP: $c nft (nftables) not found"
		return
	fi
	rec=$TMPD/alone-$backend-$mode.rec
	lib_case_server "$TMPD/alone.json" sink --bind "$(ep "$UP1_IP" 9000)" --out "$rec" \
		--seconds 60
	lib_case_start mode="$mode" || return
	if ! lib_nsx "$NS_U" nft "add table inet rralone; add chain inet rralone input" \
		"{ type filter hook input priority 0; }; add rule inet rralone input" \
		"udp dport 9000 udp length 45 reject; add rule inet rralone input udp dport 9000" \
		"udp length 1658 reject"; then
		lib_log "SKIP: $c no nftables reject rule here"
		lib_case_end
		return
	fi
	alone_send "$to" alone 0
	lib_wait_lines "$rec" 1 5 || lib_case_fail "$c the first datagram did not arrive"
	for k in $(seq 1 $n); do
		lib_pause "$RELAY_PID" || lib_case_fail "$c the relay did not stop"
		alone_send "$to" drawn "$k"
		lib_resume "$RELAY_PID"
		lib_wait_lines "$rec" $((k + 1)) 5
	done
	if [ "$backend" = mmsg ]; then
		n=$((n + 1))
		lib_pause "$RELAY_PID" || lib_case_fail "$c the relay did not stop"
		alone_send "$to" alone "$n"
		forge_unreach "$(session_port)"
		lib_resume "$RELAY_PID"
		lib_wait_lines "$rec" $((n + 1)) 5
	fi
	errs=$n
	lib_pause "$RELAY_PID" || lib_case_fail "$c the relay did not stop"
	alone_send "$to" drawn $((n + 1)) 3
	lib_resume "$RELAY_PID"
	n=$((n + 3)) errs=$((errs + 1))
	lib_wait_lines "$rec" $((n + 1)) 5
	twice=
	if [ "$mode" = forward ]; then
		# two sends of one socket that take an error in one round: one gathered, one
		# alone (longer than the path MTU), in either order
		twice="; 2 of one round's sends, twice"
		for sizes in "100 1600" "1600 100"; do
			lib_pause "$RELAY_PID" || lib_case_fail "$c the relay did not stop"
			alone_send "$to" twice $((n + 1)) $sizes
			lib_resume "$RELAY_PID"
			n=$((n + 2)) errs=$((errs + 2))
			lib_wait_lines "$rec" $((n + 1)) 5
		done
	fi
	keys=$(awk '{ printf "%s%s", sep, $4; sep = " " }' "$rec")
	want=$(for k in $(seq 0 $n); do printf "47500:0:%d " "$k"; done)
	lib_wait_for 5 counts_add_up || lib_case_fail "$c rx_pkts != tx_pkts + drops: $LINE"
	notices=$(lib_field upstream_unreachable_notices "$LINE")
	lost=$(drops_of "$LINE")
	if [ "$keys " = "$want" ] && [ "$lost" = 0 ] && [ "$notices" = "$errs" ]; then
		lib_case_ok "$c $n datagrams (3 in one GSO send$twice) that met a pending ICMP" \
			"error arrived; $notices notices, no drop"
	else
		lib_case_fail "$c the upstream got '$keys', want '$want'; $lost dropped" \
			"(drop_upstream_unreachable $(lib_field drop_upstream_unreachable "$LINE")," \
			"want 0), $notices notices (want $errs)"
	fi
	lib_nsx "$NS_U" nft delete table inet rralone
	lib_case_end
}

# rmem_of_session: the receive memory of the session's socket to UP1_IP:9000 (ss's skmem r:
# queued datagrams and, with IP_RECVERR, ICMP errors waiting in its error queue).
rmem_of_session()
{
	lib_nsx "$NS_R" ss -Huamn dst "$UP1_IP:9000" | grep -o 'skmem:(r[0-9]*' | head -n 1 |
		sed 's/.*(r//'
}
rmem_zero() { [ "$(rmem_of_session)" = 0 ]; }

# errqueue_case BACKEND SIZE: bursts to an upstream that is down, queued while the relay is
# stopped, so that the session's sends (gathered) take the ICMP errors its earlier datagrams
# drew. Each error's copy in the socket's error queue must be read away once the burst is
# through: a send that takes an error does not say where its copies are, and they stay
# charged to the socket's receive buffer until a receive meets an error. The io_uring
# backend left some after 4 of 8 bursts (growing by one each time), and with SIZE 1600 (each
# datagram its own send, whose completion named no session) 64000 bytes after the first;
# then the upstream starts and the same session gets its replies. With SIZE 1600 each
# datagram's error fails the send after it (the ICMP comes back within the send on veth):
# about every other send fails, its datagram goes again, and again while that send meets the
# next error (WORKER_SEND_AGAIN_MAX times: lost after that), and each error must be counted,
# also one in the middle of a sendmmsg, which says only how many it sent. So (nearly) every
# port unreachable the upstream's namespace sent is counted, with a datagram lost or as a
# notice: at least 90 % of them, whatever a rate limit let out (the mmsg backend counted 13 of
# some 300, io_uring some 300), and no more than were sent (none counted twice). And few datagrams are lost to send errors (drops
# upstream_unreachable and send_error): at most 1 % of the 603. mmsg sends again at once,
# which then goes out (0 lost); io_uring's sends of a round all run first, so half of what
# goes again fails again: going again once it lost some 144 of 458, up to 3 times 30 of 603,
# up to 7 times 0.
errqueue_case()
{
	local backend=$1 size=$2 k n=3 rmem errs icmp lost
	lib_case_begin "errqueue-$size" "$backend" 4
	c="[$backend/ipv4 error queue, $size B]"
	icmp=$(lib_unreach_sent "$NS_U")
	lib_case_start || return
	lib_udp "$NS_C" client --to "$to" --port-base 47400 --count 3 --size 50 --expect-none \
		--quiet 0.2 >/dev/null
	for k in 1 2 3 4 5 6; do
		lib_pause "$RELAY_PID" || lib_case_fail "$c the relay did not stop"
		lib_udp "$NS_C" client --to "$to" --port-base 47400 --count 100 --size "$size" \
			--expect-none --quiet 0.05 >/dev/null
		lib_resume "$RELAY_PID"
		n=$((n + 100))
		lib_wait_stat rx_pkts -ge $n 10 || lib_case_fail "$c burst $k: rx_pkts=$LAST_STAT"
		if ! lib_wait_for 2 rmem_zero; then
			rmem=$(rmem_of_session)
			lib_case_fail "$c burst $k: $rmem bytes left in the session's socket"
			break
		fi
	done
	[ "$k" = 6 ] && rmem_zero &&
		lib_case_ok "$c 6 bursts of 100 to a dead upstream: nothing left in the socket ($(lib_stat drop_upstream_unreachable) lost to errors, $(lib_stat upstream_unreachable_notices) notices)"
	errs=$(lib_stat_sum "drop_upstream_unreachable upstream_unreachable_notices")
	icmp=$(($(lib_unreach_sent "$NS_U") - icmp))
	if [ "$size" != 1600 ]; then
		:
	elif [ "$icmp" -lt 100 ] || [ $((${errs:-0} * 10)) -lt $((icmp * 9)) ]; then
		lib_case_fail "$c $errs ICMP errors counted (lost or notices) of the $icmp port" \
			"unreachables the upstream sent for 603 datagrams, want >= 90 % (and >= 100 sent)"
	elif [ "${errs:-0}" -gt "$icmp" ]; then
		# (no route errors here: each count took one of those ICMP errors, none twice)
		lib_case_fail "$c $errs ICMP errors counted (lost or notices) of the $icmp port" \
			"unreachables the upstream sent: more than were sent, some counted twice"
	else
		lib_case_ok "$c $errs ICMP errors counted (lost or notices) of the $icmp port" \
			"unreachables the upstream sent"
	fi
	lost=$(lib_stat_sum "drop_upstream_unreachable drop_send_error")
	if [ "$size" != 1600 ]; then
		:
	elif [ -z "$lost" ] || [ $((lost * 100)) -gt "$n" ]; then
		lib_case_fail "$c ${lost:-?} of $n datagrams lost to send errors, want <= 1 %" \
			"($(lib_stat upstream_unreachable_notices) notices)"
	else
		lib_case_ok "$c $lost of $n datagrams lost to send errors (<= 1 %)"
	fi
	upstream_up_replies 47400
	lib_case_end
}

# probe_spin_case: a health-checked upstream with no host behind its address (198.18.2.99: no
# neighbour answers), so each check ends in a host unreachable once address resolution gives
# up: 0.3 s after its send, with resolution tries 100 ms apart on IF_RU for this case (3 s
# at the default 1 s). Its error-queue copy kept the upkeep thread's poll awake until the
# next check (a spin of about 0.7 s of every 1 s interval; 1.7 s of 2 s with the interval
# this case had first), and the check failed as "no reply in time" at its 0.8 s timeout. From
# the first failed check, which names the error, over 1.5 s the thread now takes under 0.1 s
# of CPU.
probe_spin_case()
{
	local c="[health check, host unreachable]" conf=$TMPD/spin.conf tid t0 spent retrans
	local knob=net.ipv4.neigh.$IF_RU.retrans_time_ms
	retrans=$(lib_nsx "$NS_R" sysctl -n "$knob")
	lib_nsx "$NS_R" sysctl -qw "$knob=100"
	lib_relay_conf "$conf" listen="198.18.1.2:5000" up="198.18.2.99:9000"
	sed -i 's|max_sessions = 4096;|max_sessions = 4096; health_check = { interval = 1.0; timeout = 0.8; fall = 1; send = "ping"; };|' \
		"$conf"
	if ! lib_relay_start "$conf"; then
		lib_case_fail "$c relay did not start"
		lib_nsx "$NS_R" sysctl -qw "$knob=$retrans"
		return
	fi
	tid=$(grep -lx ringrelay-upkp /proc/"$RELAY_PID"/task/*/comm | head -n 1 | cut -d/ -f5)
	ticks() { awk '{print $14 + $15}' /proc/"$RELAY_PID"/task/"$tid"/stat; }
	# (the first check goes out at the start: its error comes 0.3 s later)
	if ! lib_wait_for 5 lib_log_count_ge "health check: No route to host" 1; then
		lib_case_fail "$c no 'health check: No route to host' within 5 s of the start"
	fi
	t0=$(ticks)
	sleep 1.5
	spent=$(( $(ticks) - t0 ))
	if [ "$spent" -le 10 ]; then
		lib_case_ok "$c the upkeep thread took $spent ticks in 1.5 s; 'No route to host' logged"
	else
		lib_case_fail "$c the upkeep thread took $spent ticks in 1.5 s (a spin is ~100 a" \
			"second)"
	fi
	lib_relay_stop || lib_case_fail "$c relay exit status $? after SIGTERM"
	lib_nsx "$NS_R" sysctl -qw "$knob=$retrans"
}

# probe_source_case: a reload that moves the relay's source address moves its health
# checks' too (the probe socket stayed bound to the old one while its sends worked). The
# upstream answers 0.15 s late, so reloads come while probes are out: such a probe must not
# fail (its reply comes to the closed socket) nor hold the next one back; with fall = 1 one
# failure would mark the upstream down.
probe_source_case()
{
	local c="[health check, source moved]" conf=$TMPD/psrc.conf got i from=1 to=5
	lib_nsx "$NS_R" ip addr add 198.18.2.5/24 dev "$IF_RU" 2>/dev/null
	lib_bg "$NS_U" "$PY" -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.18.2.2", 9000))
s.settimeout(1.0)
end = time.time() + 40
while time.time() < end:
    try:
        data, peer = s.recvfrom(2048)
    except socket.timeout:
        continue
    time.sleep(0.15)
    s.sendto(data, peer)'
	local echo_pid=$BG_PID
	# bound before the first probe: with fall = 1 one port unreachable marks it down
	lib_wait_for 5 lib__bound "$NS_U" 198.18.2.2:9000 "" ||
		lib_case_fail "$c the echo did not bind 198.18.2.2:9000"
	lib_relay_conf "$conf" listen="198.18.1.2:5000" up="198.18.2.2:9000"
	sed -i 's|max_sessions = 4096;|max_sessions = 4096; source = "198.18.2.1"; health_check = { interval = 0.5; timeout = 0.4; rise = 1; fall = 1; send = "ping"; };|' \
		"$conf"
	lib_relay_start "$conf" || { lib_case_fail "$c relay did not start"; return; }
	probe_from() { lib_nsx "$NS_R" ss -Hunp state established dst 198.18.2.2:9000 |
		grep ringrelay | awk '{print $3}' | sort -u | tr '\n' ' '; }
	lib_wait_for 5 test -n "$(probe_from)"
	got=$(probe_from)
	for i in 1 2 3 4 5 6; do
		sed -i "s|source = \"198.18.2.$from\";|source = \"198.18.2.$to\";|" "$conf"
		lib_relay_hup "reload: .* applied" || lib_case_fail "$c reload $i did not apply"
		probe_moved() { probe_from | grep -q "^198.18.2.$to:"; }
		lib_wait_for 3 probe_moved ||
			lib_case_fail "$c reload $i: probes still from $(probe_from)"
		sleep 0.$((3 + i))
		from=$to
		to=$((to == 5 ? 1 : 5))
	done
	if [ "$(lib_log_count "is down")" = 0 ]; then
		lib_case_ok "$c probes from $got, then after each of 6 reloads from the new source;" \
			"the upstream never down"
	else
		lib_case_fail "$c the upstream went down: $(lib_relay_log_current | grep "is down" |
			head -n 1)"
	fi
	lib_relay_stop || lib_case_fail "$c relay exit status $? after SIGTERM"
	lib_stop_pid "$echo_pid"
	lib_nsx "$NS_R" ip addr del 198.18.2.5/24 dev "$IF_RU" 2>/dev/null
}

probe_spin_case
probe_source_case
for backend in $(lib_backends); do
	pending_case "$backend" gathered
	alone_case "$backend"
	alone_case "$backend" mirror
	# io_uring's receive on the session's socket takes the error before the burst's send
	# is made (both completions come from one run of task work), so only mmsg's is reached.
	[ "$backend" = mmsg ] && pending_case "$backend" gro
	errqueue_case "$backend" 50
	errqueue_case "$backend" 1600
done
lib_each_case run_case
