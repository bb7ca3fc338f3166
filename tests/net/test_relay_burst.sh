#!/bin/bash
# SPDX-License-Identifier: MIT
# Bursts from four clients taking turns datagram by datagram, per backend and family: 600
# datagrams sent back to back, in runs of equal sizes broken by shorter, longer and empty
# ones (the io_uring backend gathers a session's datagrams into UDP GSO sends, which have
# rules about segment sizes; the mmsg backend regroups an interleaved batch by session). The
# upstream must receive every datagram byte-exact and, per client, in the order sent, and the
# counters must count datagrams, not sends.
# Then empty datagrams queued while the relay is stopped (SIGSTOP): the kernel ends an
# io_uring multishot receive at each one; the worker must read the rest of the queue (in
# recvmmsg batches) instead of arming its receive again per datagram. Every one arrives.
# Once more through a wildcard listener to an echo upstream, sent to a second address of the
# relay's interface: every empty datagram must come back to the client's connected socket,
# so from that address and not the interface's first one (the worker takes it from the
# control data the batch read left where a completion has it).
# And empty replies: an upstream sends EMPTY empty datagrams to a session's socket while the
# relay is stopped; the session's receive is drained the same way, and every one reaches the
# client (once per backend, as full_replies).
. "$(dirname "$0")/lib.sh"
lib_topology

N=600

# burst EP: sends N datagrams as fast as the sockets take them, from CLIENTS sockets in turn;
# prints "CLIENT HEX" per datagram, in order.
CLIENTS=4
burst()
{
	lib_nsx "$NS_C" "$PY" - "$1" "$N" "$CLIENTS" <<'EOF'
import socket, sys
ep, n, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
host, port = ep.rsplit(":", 1)
host = host.strip("[]")
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
socks = [socket.socket(fam, socket.SOCK_DGRAM) for _ in range(k)]
for s in socks:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
sizes = [100] * 7 + [40] + [100] * 5 + [300] + [0] + [1] + [100] * 3
for i in range(n):
    size = sizes[(i // k) % len(sizes)]
    p = (b"%05d:" % i + bytes(range(256)) * 6)[:size] if size >= 6 else bytes([i % 256]) * size
    socks[i % k].sendto(p, (host, int(port)))
    print(i % k, p.hex())
EOF
}

# per_client_order SENT REC: each upstream peer (one session, so one client) received exactly
# one client's datagrams, byte-exact and in the order sent. Prints what differs.
per_client_order()
{
	"$PY" - "$1" "$2" <<'EOF'
import sys
sent, got = {}, {}
for line in open(sys.argv[1]):
    c, _, h = line.rstrip("\n").partition(" ")
    sent.setdefault(c, []).append(h)
# Fields of a record: PEER LEN HEX KEY; an empty payload has an empty HEX field.
for line in open(sys.argv[2]):
    f = line.split(" ")
    got.setdefault(f[0], []).append("" if f[1] == "0" else f[2])
want = sorted(sent.values())
have = sorted(got.values())
if want != have:
    print("%d clients sent, %d sessions arrived; sizes sent %s, arrived %s" %
          (len(want), len(have), [len(v) for v in want], [len(v) for v in have]))
    sys.exit(1)
EOF
}

EMPTY=1000
FULL=8000

# rearms: the multishot receives the relay's workers armed again, over its life.
rearms()
{
	"$BUILD/ringrelayctl" -s "$TMPD/run/ctl.sock" -j status |
		"$PY" -c 'import json, sys; print(sum(w["rearms"] for w in json.load(sys.stdin)["workers"]))'
}

# empty_flood CASE EP REC: EMPTY empty datagrams from one client while the relay is stopped,
# after the N of the burst (in the counters and in REC already).
empty_flood()
{
	local c=$1 to=$2 rec=$3 before after line
	before=$(rearms) || { lib_case_fail "$c ringrelayctl status failed"; return; }
	lib_pause "$RELAY_PID" || lib_case_fail "$c the relay did not stop"
	lib_nsx "$NS_C" "$PY" - "$to" "$EMPTY" <<'EOF'
import socket, sys
ep, n = sys.argv[1], int(sys.argv[2])
host, port = ep.rsplit(":", 1)
host = host.strip("[]")
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(n):
    s.sendto(b"", (host, int(port)))
EOF
	lib_resume "$RELAY_PID"
	if ! lib_wait_lines "$rec" $((N + EMPTY)) 10; then
		lib_case_fail "$c $(($(lib_lines "$rec") - N)) of $EMPTY empty datagrams arrived"
		return
	fi
	after=$(rearms)
	# io_uring: a handful (the queue is read in batches); the mmsg backend never re-arms
	if [ $((after - before)) -gt $((EMPTY / 20)) ]; then
		lib_case_fail "$c $((after - before)) re-arms for $EMPTY queued empty datagrams"
		return
	fi
	line=$(lib_stats t) || { lib_case_fail "$c no stats line"; return; }
	lib_expect_fields "$c" "$line" $((N + EMPTY)) rx_pkts tx_pkts
	lib_case_ok "$c $EMPTY empty datagrams queued at once arrived, $((after - before)) re-arms"
}

# wildcard_echo CASE: a relay listening on the family's wildcard, port 5001, to an echo
# upstream; EMPTY empty datagrams from 200 connected clients to the relay's second address
# while the relay is stopped; every echo must come back.
wildcard_echo()
{
	local c="$1 wildcard" conf=$TMPD/burst-wild.conf any=0.0.0.0 out echo_pid
	local second=198.18.1.3 plen=24 nodad=""
	[ "$FAM" = 6 ] && any="[::]" second=2001:2:0:1::3 plen=64 nodad=nodad
	lib_nsx "$NS_R" ip addr add "$second/$plen" dev "$IF_RC" $nodad
	lib_relay_conf "$conf" backend="$BACKEND" listen="$any:5001" up="$(ep "$UP1_IP" 9001)"
	lib_udp_bg "$NS_U" "$TMPD/echo.json" echo --bind "$(ep "$UP1_IP" 9001)" --seconds 60
	echo_pid=$BG_PID
	if ! lib_relay_start "$conf"; then
		lib_case_fail "$c relay did not start"
		lib_stop_pid "$echo_pid"
		return
	fi
	lib_pause "$RELAY_PID" || lib_case_fail "$c the relay did not stop"
	if out=$(lib_nsx "$NS_C" "$PY" - "$(ep "$second" 5001)" "$EMPTY" "$RELAY_PID" <<'EOF'
import os, select, signal, socket, sys
ep, n, relay = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
host, port = ep.rsplit(":", 1)
host = host.strip("[]")
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
# 200 clients (200 sessions, each learning the address from its first datagram), connected:
# a reply from another address never reaches them; the relay is stopped (lib_pause) until
# all are sent
socks = [socket.socket(fam, socket.SOCK_DGRAM) for _ in range(200)]
for s in socks:
    s.connect((host, int(port)))
    s.setblocking(False)
try:
    for i in range(n):
        socks[i % len(socks)].send(b"")
finally:
    os.kill(relay, signal.SIGCONT)
got, poll = 0, select.poll()
for s in socks:
    poll.register(s, select.POLLIN)
by_fd = {s.fileno(): s for s in socks}
while got < n:
    ready = poll.poll(5000)
    if not ready:
        break
    for fd, _ in ready:
        try:
            while True:
                got += len(by_fd[fd].recv(16)) == 0
        except BlockingIOError:
            pass
print(got)
sys.exit(0 if got == n else 1)
EOF
	); then
		lib_case_ok "$c $EMPTY empty datagrams echoed back from the address sent to"
	else
		lib_case_fail "$c $out of $EMPTY empty datagrams echoed back"
	fi
	# IPv4 broadcast to the wildcard listener: replies leave from the interface's address
	# (IP_PKTINFO's ipi_spec_dst), never from the broadcast address, which no send may use.
	if [ "$FAM" = 4 ]; then
		if out=$(lib_nsx "$NS_C" "$PY" - 198.18.1.255 5001 <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.settimeout(2)
got = []
for i in range(5):
    s.sendto(b"bcast%d" % i, (sys.argv[1], int(sys.argv[2])))
    try:
        d, a = s.recvfrom(64)
        got.append(a[0])
    except socket.timeout:
        pass
print(len(got), " ".join(sorted(set(got))))
sys.exit(0 if len(got) == 5 else 1)
EOF
		); then
			lib_case_ok "$c broadcast datagrams answered from: ${out#* }"
		else
			lib_case_fail "$c broadcast datagrams answered: $out of 5"
		fi
	fi
	# One client port to both of the relay's addresses: two flows, each answered from the
	# address it was sent to (one session for both answered the second from the first).
	if out=$(lib_nsx "$NS_C" "$PY" - "$RELAY_IP" "$second" 5001 <<'EOF'
import socket, sys
a, b, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("::" if ":" in a else "0.0.0.0", 47500))
s.settimeout(2)
bad = 0
for i in range(6):
    to = (a, b)[i % 2]
    s.sendto(b"to " + to.encode(), (to, port))
    try:
        d, frm = s.recvfrom(64)
        bad += d != b"to " + frm[0].encode()
    except socket.timeout:
        bad += 1
print(bad)
sys.exit(0 if bad == 0 else 1)
EOF
	); then
		lib_case_ok "$c one client port to two addresses: each answered from its own"
	else
		lib_case_fail "$c one client port to two addresses: $out of 6 answered from another" \
			"address or not at all"
	fi
	lib_relay_stop || lib_case_fail "$c relay exit status $? after SIGTERM, want 0"
	lib_stop_pid "$echo_pid"
	lib_nsx "$NS_R" ip addr del "$second/$plen" dev "$IF_RC"
}

# full_replies CASE: with the relay stopped, the upstream sends FULL replies of 1400 bytes to
# the session's socket, more than its receive buffer holds (2 x net.core.rmem_max at most: the
# workers open session sockets without CAP_NET_ADMIN): the kernel drops the rest there.
# Every one counts as received from the upstream, those the socket dropped as
# reply_drop_socket_receive_overflow (SO_RXQ_OVFL, which the kernel reports with the next
# datagram the socket queues: one more reply follows once the burst is read):
# reply_rx_pkts = FULL + 1 = reply_tx_pkts + drops, and the client got no more than
# reply_tx_pkts.
full_replies()
{
	local c="$1 replies over the socket's buffer" conf=$TMPD/burst-full.conf to out got line
	local rx tx drops
	to=$(ep "$RELAY_IP" 5003)
	lib_relay_conf "$conf" backend="$BACKEND" listen="$to" up="$(ep "$UP1_IP" 9003)"
	if ! lib_relay_start "$conf"; then
		lib_case_fail "$c relay did not start"
		return
	fi
	out=$(lib_udp "$NS_U" queued --socket session --to "$to" --size 1400 --tail 1 \
		--upstream "$(ep "$UP1_IP" 9003)" --count "$FULL" --stop "$RELAY_PID" \
		--client-ns "$NS_C" --quiet 2)
	got=$(lib_json_field received "$out")
	if line=$(lib_stats t); then
		rx=$(lib_field reply_rx_pkts "$line")
		tx=$(lib_field reply_tx_pkts "$line")
		drops=$(lib_field reply_drop_socket_receive_overflow "$line")
		if [ "$rx" = $((FULL + 1)) ] && [ "$got" -le "$tx" ] && [ "$drops" -gt 0 ] &&
			[ $((tx + drops)) = $((FULL + 1)) ]; then
			lib_case_ok "$c $((FULL + 1)) sent: $tx relayed, $drops counted as dropped by" \
				"the full socket"
		else
			lib_case_fail "$c $((FULL + 1)) sent, client got $got: reply_rx_pkts=$rx" \
				"reply_tx_pkts=$tx reply_drop_socket_receive_overflow=$drops"
		fi
	else
		lib_case_fail "$c no stats line"
	fi
	lib_relay_stop || lib_case_fail "$c relay exit status $? after SIGTERM, want 0"
}

# empty_replies CASE: one client opens a session to an upstream this script owns (port
# 9002); with the relay stopped, the upstream sends EMPTY empty datagrams to the session's
# socket; every one must reach the client or be counted as dropped at that socket's full
# queue, in a handful of re-arms.
empty_replies()
{
	local c="$1 replies" conf=$TMPD/burst-replies.conf to before after out got line drops
	to=$(ep "$RELAY_IP" 5002)
	lib_relay_conf "$conf" backend="$BACKEND" listen="$to" up="$(ep "$UP1_IP" 9002)"
	if ! lib_relay_start "$conf"; then
		lib_case_fail "$c relay did not start"
		return
	fi
	before=$(rearms) || { lib_case_fail "$c ringrelayctl status failed"; return; }
	# One more reply once the burst is read: it reports what a full socket dropped. Where
	# net.core.rmem_max is the default (Debian's 208 KiB) a session socket holds about 550
	# empty datagrams; those it dropped must be counted, not lost.
	out=$(lib_udp "$NS_U" queued --socket session --to "$to" --tail 1 \
		--upstream "$(ep "$UP1_IP" 9002)" --count "$EMPTY" --stop "$RELAY_PID" \
		--client-ns "$NS_C")
	got=$(lib_json_field received "$out")
	after=$(rearms)
	line=$(lib_stats t) || lib_case_fail "$c no stats line"
	drops=$(lib_field reply_drop_socket_receive_overflow "$line")
	if [ -z "$got" ] || [ $((got + drops)) != $((EMPTY + 1)) ]; then
		lib_case_fail "$c empty replies neither reached the client nor counted: $out, $drops" \
			"counted as dropped at the full socket"
	elif [ $((after - before)) -gt $((EMPTY / 20)) ]; then
		# io_uring: a handful (the queue is read in batches); mmsg never re-arms
		lib_case_fail "$c $((after - before)) re-arms for $EMPTY queued empty replies"
	else
		lib_case_ok "$c $EMPTY empty replies queued at once: $got reached the client, $drops" \
			"dropped at the full socket and counted, $((after - before)) re-arms"
	fi
	lib_relay_stop || lib_case_fail "$c relay exit status $? after SIGTERM, want 0"
}

run_case()
{
	local backend=$1 fam=$2 c conf to rec line why
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
	if why=$(per_client_order "$TMPD/sent-$backend-$fam.hex" "$rec"); then
		lib_case_ok "$c byte-exact and, per client, in order"
	else
		lib_case_fail "$c datagrams differ or are out of order: $why"
	fi
	if line=$(lib_stats t); then
		lib_expect_fields "$c" "$line" $N rx_pkts tx_pkts
	else
		lib_case_fail "$c no stats line"
	fi
	empty_flood "$c" "$to" "$rec"
	lib_relay_stop || lib_case_fail "$c relay exit status $? after SIGTERM, want 0"
	lib_stop_pid "$sink_pid"
	BACKEND=$backend FAM=$fam wildcard_echo "$c"
	# A session socket's queue drained and its overflow counted: once per backend (io_uring
	# in IPv4, mmsg in IPv6), the session's reads know no family.
	case $backend/$fam in
	io_uring/4 | mmsg/6)
		BACKEND=$backend FAM=$fam empty_replies "$c"
		BACKEND=$backend FAM=$fam full_replies "$c"
		;;
	esac
}

lib_each_case run_case
