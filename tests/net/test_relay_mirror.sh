#!/bin/bash
# SPDX-License-Identifier: MIT
# Mirror mode, per backend and family: every datagram reaches every upstream byte-exact (two
# sinks each record all of them); with one upstream down (the first one listed, so a loop that
# stops at the first error would show) the other still gets everything; with that one back as
# a service that answers, its replies are read and dropped, counted, and never left queued.
# Then, per backend and family too, a forward relay made a mirror by a reload reads its
# session's last replies as they were received and counts a pending ICMP or ICMPv6 error as
# one notice (mode_change_case), a mirror counts what its sockets dropped (overflow_case), and
# a member without a route costs its copies, not the relay (unroutable_case;
# unroutable_only_case with io_uring alone).
. "$(dirname "$0")/lib.sh"
lib_topology

# same_payloads SENT REC [FROM]: the recorder's lines from line FROM on hold exactly the sent
# payloads (as multisets).
same_payloads() { diff <(sort "$1") <(tail -n +"${3:-1}" "$2" | cut -d' ' -f3 | sort) >/dev/null; }

# run_case BACKEND FAMILY: the whole test for one backend and one address family.
run_case()
{
	local backend=$1 fam=$2
	lib_case_begin mirror "$backend" "$fam"
	rec1=$TMPD/sink1-$backend-$fam.rec
	rec2=$TMPD/sink2-$backend-$fam.rec
	lib_case_server "$TMPD/s1.json" sink --bind "$(ep "$UP1_IP" 9000)" --out "$rec1"
	sink1=$BG_PID
	lib_case_server "$TMPD/s2.json" sink --bind "$(ep "$UP2_IP" 9000)" --out "$rec2"
	lib_case_start mode=mirror up="$(ep "$UP2_IP" 9000)" || return

	sent=$TMPD/sent-$backend-$fam
	out=$(lib_udp "$NS_C" client --to "$to" --clients 3 --port-base 48000 --count 20 \
		--sizes 0,1,100,1400 --record "$sent") || lib_case_fail "$c client: $out"
	n=$(lib_lines "$sent")
	lib_wait_lines "$rec1" "$n" 10
	lib_wait_lines "$rec2" "$n" 10
	for rec in "$rec1" "$rec2"; do
		if same_payloads "$sent" "$rec"; then
			lib_case_ok "$c ${rec##*/} got all $n datagrams byte-exact"
		else
			lib_case_fail "$c ${rec##*/} has $(lib_lines "$rec") datagrams, want the" \
				"$n sent ones byte-exact"
		fi
	done

	# Upstream 1 goes away: upstream 2 must still get every datagram.
	lib_stop_pid "$sink1"
	base=$(lib_lines "$rec2")
	sent=$TMPD/sent2-$backend-$fam
	out=$(lib_udp "$NS_C" client --to "$to" --clients 3 --port-base 48000 --count 20 \
		--sizes 0,1,100,1400 --record "$sent") || lib_case_fail "$c client: $out"
	lib_wait_lines "$rec2" $((base + n)) 10
	if same_payloads "$sent" "$rec2" $((base + 1)); then
		lib_case_ok "$c with upstream 1 down, upstream 2 got all $n datagrams"
	else
		lib_case_fail "$c with upstream 1 down, upstream 2 has" \
			"$(($(lib_lines "$rec2") - base)) new datagrams, want the $n sent ones"
	fi

	# Upstream 1 back as a service that answers every copy: the replies are read and dropped
	# (reply_drop_mirror_reply), and none stays queued in the relay's sockets (they piled up
	# there, up to each socket's receive buffer, in the host's UDP memory).
	lib_case_server "$TMPD/e1.json" echo --bind "$(ep "$UP1_IP" 9000)"
	base=$(lib_lines "$rec2")
	out=$(lib_udp "$NS_C" client --to "$to" --clients 3 --port-base 48000 --count 20 \
		--sizes 0,1,100,1400) || lib_case_fail "$c client: $out"
	lib_wait_lines "$rec2" $((base + n)) 10
	if lib_wait_stat reply_drop_mirror_reply -ge "$n" 10 &&
		[ "$(lib_stat reply_rx_pkts)" = "$n" ] && [ "$(lib_stat reply_tx_pkts)" = 0 ]; then
		lib_case_ok "$c an answering member's $n replies read and dropped"
	else
		lib_case_fail "$c an answering member: reply_drop_mirror_reply=$LAST_STAT," \
			"reply_rx_pkts=$(lib_stat reply_rx_pkts), want $n each"
	fi
	# Recv-Q of the relay's sockets to that member: replies and ICMP errors both count there.
	queued=$(lib_nsx "$NS_R" ss -Huan dst "$(ep "$UP1_IP" 9000)" |
		awk '{ q += $2 } END { print q + 0 }')
	[ "$queued" = 0 ] && lib_case_ok "$c nothing queued in the relay's sockets to that member" ||
		lib_case_fail "$c $queued bytes queued in the relay's sockets to that member"
	lib_relay_alive || lib_case_fail "$c relay died"
	lib_stats t >/dev/null || lib_case_fail "$c no stats line"
	lib_case_end
}

# mode_settled: every reply mode_replier.py sent is counted (read, or dropped by the socket
# and told by a later one's SO_RXQ_OVFL), or the 20 last ones as the closed session's.
mode_settled()
{
	[ "$(lib_stat reply_drop_session_closed)" -ge 20 ] ||
		[ "$(lib_stat reply_rx_pkts)" -ge 12020 ]
}

# replies_read: the relay's session socket has nothing queued (ss Recv-Q) and every reply read is
# relayed: worker 0 has read all mode_replier.py's first replies (it runs again after
# lib_resume), so nothing of the session's is left in its ring to run before the command.
replies_read()
{
	local q line
	q=$(lib_nsx "$NS_R" ss -Huan dst "$(ep "$UP1_IP" 9000)" | awk '{ q += $2 } END { print q + 0 }')
	line=$(lib_stats) || return 1
	[ "$q" = 0 ] && [ "$(lib_field reply_rx_pkts "$line")" -gt 0 ] &&
		[ "$(lib_field reply_tx_pkts "$line")" = "$(lib_field reply_rx_pkts "$line")" ]
}

# eventfd_counts: an eventfd of the relay counts a write no one has read.
eventfd_counts()
{
	cat /proc/"$RELAY_PID"/fdinfo/* 2>/dev/null | awk '/^eventfd-count:/ && $2 !~ /^0+$/ { f = 1 }
		END { exit !f }'
}

# cmd_queued: the reload's command waits for the stopped worker: an eventfd counts (the
# command's: the worker's ring reads it only when the worker runs) while the admin thread
# waits for the worker in a futex (worker_wait). An eventfd alone said so too soon: the
# reload's own (the ask, its load's end) count until the admin thread reads them, and the
# replies sent then were queued before the command (traced: their wake-up 4 ms before the
# command's; all 20 relayed as the session's).
cmd_queued()
{
	local tid nr
	case $(uname -m) in
	x86_64) nr=202 ;;
	aarch64) nr=98 ;;
	*) nr= ;;
	esac
	tid=$(grep -lx ringrelay-admin /proc/"$RELAY_PID"/task/*/comm 2>/dev/null | head -n 1 |
		cut -d/ -f5)
	eventfd_counts && [ -n "$tid" ] &&
		{ [ -z "$nr" ] || [ "$(cut -d' ' -f1 /proc/"$RELAY_PID"/task/"$tid"/syscall)" = "$nr" ]; }
}

# burst_stopped DIR N: with the relay stopped (SIGSTOP), mode_replier.py's Nth burst is sent
# (DIR/goN, then DIR/sentN); the relay runs again after. Fails when the burst was not sent.
burst_stopped()
{
	local ret=0
	lib_pause "$RELAY_PID"
	touch "$1/go$2"
	lib_wait_for 10 test -e "$1/sent$2" || ret=1
	lib_resume "$RELAY_PID"
	return $ret
}

unreach_in_gt() { [ "$(lib_unreach_in "$1")" -gt "$2" ]; }

# mode_change_case BACKEND FAMILY: a forward relay whose session's replies carry a control
# message (its socket dropped some: SO_RXQ_OVFL) is made a mirror by a reload while replies of
# 0xff bytes wait: worker 0 is stopped alone (ptrace) while the reload's command and those
# replies queue for it, so that it reads them in that order, the session closed by then. They
# must be read as the session's receive laid them out; read as the mirror's receive lays out
# a buffer, payload bytes became a control message whose length wrapped, and the worker spun
# in it for good (before: no reload applied, the stop found the worker stuck, exit 1).
# The worker must have read the first replies before it is stopped (replies_read), and the
# command must be queued (its eventfd counted: cmd_queued) before the worker runs: on an
# emulated CPU the reload took longer than the 1 s this case slept, the replies were queued
# first and relayed, none dropped as the closed session's. On Linux 6.1 (make check-kernel)
# the worker read the replies before the command whichever was queued first (two runs; not
# traced: io_uring ran deferred completions newest first before 6.5): the order this case
# needs cannot be made there, so it checks what it can (the reload applied, the replies
# relayed as the session's, none lost uncounted) and says so.
# With mmsg the worker runs the command first too (epoll reports the command's eventfd, ready
# first, first), and the command closes the session with the 20 replies still queued in its
# socket, unread, and the drops no SO_RXQ_OVFL told yet: the close counts both
# (worker_count_unread; before: reply_rx_pkts=3640 of 12020, the 8380 others uncounted).
# Behind the 20 replies an ICMP port unreachable from the upstream (icmp_too_big.py; over IPv6
# ICMPv6's destination unreachable, code 4) is the socket's pending error, which fails a read
# before the queue: it must count as one notice and the replies behind it still be read. With
# mmsg the close's drain meets it (a drain that ended at it left the 20 replies uncounted,
# closed=0; one that did not count it, notices=0); with io_uring the receive the replies woke
# meets it first, and its completion comes after the close, stale (before: not counted,
# notices=0).
mode_change_case()
{
	local backend=$1 fam=$2 d=$TMPD/mode-$1-$2 st line applied closed ovfl rx tx pip pport icmp
	local notices
	lib_case_begin mode "$backend" "$fam"
	c="[$backend/ipv$fam forward made a mirror]"
	mkdir -p "$d"
	lib_bg "$NS_U" "$PY" "$SRC/tests/net/mode_replier.py" "$(ep "$UP1_IP" 9000)" "$d"
	CASE_PIDS+=("$BG_PID")
	lib_case_start workers=1 || return
	lib_udp "$NS_C" client --to "$to" --count 1 --port-base 48400 >/dev/null
	lib_wait_for 5 test -e "$d/peer" || lib_case_fail "$c the upstream got no datagram"
	burst_stopped "$d" 1 || lib_case_fail "$c the upstream did not send"
	# Worker 0 is stopped only once it has read and relayed all of them. Stopped at once, it
	# had some still queued and its socket's receive due before the command: the rest and the
	# last replies were relayed as the session's (reply_drop_session_closed=0), or the command
	# closed the session with them and the last replies unread in its socket, the overflow
	# never told (reply_drop_session_closed=33, overflow 0, 4.3 MB left unread in the socket).
	lib_wait_for 10 replies_read || lib_case_fail "$c the relay did not read the first replies"
	lib_worker_stop 0 20 "$d/stop.out" || lib_case_fail "$c worker 0 was not stopped"
	lib_relay_conf "$conf" backend="$backend" listen="$to" up="$(ep "$UP1_IP" 9000)" \
		workers=1 mode=mirror
	# (the reload's command waits for the stopped worker, 5 s at most)
	eventfd_counts && lib_case_fail "$c an eventfd of the relay counts before the reload"
	kill -HUP "$RELAY_PID"
	lib_wait_for 3 cmd_queued || lib_case_fail "$c no command queued for the worker"
	touch "$d/go2"
	lib_wait_for 10 test -e "$d/sent2" || lib_case_fail "$c the upstream did not send again"
	# Behind them, an ICMP port unreachable from the upstream about a datagram of the
	# session's: the socket's pending error (IP_RECVERR, IPV6_RECVERR), which fails a read
	# before its queue.
	read -r pip pport <"$d/peer"
	icmp=$(lib_unreach_in "$NS_R")
	lib_nsx "$NS_U" "$PY" "$SRC/tests/net/icmp_too_big.py" --src "$UP1_IP" --dst "$pip" \
		--inner-src "$(ep "$pip" "$pport")" --inner-dst "$(ep "$UP1_IP" 9000)" \
		--port-unreachable || lib_case_fail "$c icmp_too_big.py failed"
	lib_wait_for 5 unreach_in_gt "$NS_R" "$icmp" || lib_case_fail "$c the relay got no ICMP"
	sleep 0.3
	lib_stop_pid "$STOP_PID" # worker 0 runs again: the command, then the replies
	# (the drops come with the next datagram's SO_RXQ_OVFL: the last replies')
	lib_wait_for 10 lib_log_count_ge "reload: .* applied" 1 && lib_wait_for 5 mode_settled
	applied=$(lib_log_count "reload: .* applied")
	line=$(lib_stats)
	closed=$(lib_field reply_drop_session_closed "$line")
	ovfl=$(lib_field reply_drop_socket_receive_overflow "$line")
	rx=$(lib_field reply_rx_pkts "$line")
	tx=$(lib_field reply_tx_pkts "$line")
	st="reload applied: $applied, reply_drop_session_closed=$closed"
	st="$st, reply_drop_socket_receive_overflow=$ovfl, reply_rx_pkts=$rx reply_tx_pkts=$tx"
	st="$st, reply_rx_bytes=$(lib_field reply_rx_bytes "$line")"
	st="$st reply_tx_bytes=$(lib_field reply_tx_bytes "$line")"
	notices=$(lib_field upstream_unreachable_notices "$line")
	st="$st, upstream_unreachable_notices=$notices"
	# Every one of the 12020 replies sent counted once: relayed, dropped by the socket, or
	# dropped as the closed session's.
	if [ "$applied" -ge 1 ] && [ "$closed" = 20 ] && [ "$ovfl" -gt 0 ] &&
		[ "$rx" = 12020 ] && [ $((tx + ovfl + closed)) = 12020 ] && [ "$notices" = 1 ]; then
		lib_case_ok "$c the reload applied, the session's last 20 replies counted as" \
			"dropped, and the $ovfl its socket had dropped before them, $tx relayed," \
			"the pending ICMP error one notice"
	elif [ "$backend" = io_uring ] && ! lib_kernel_ge 6 5 && [ "$applied" -ge 1 ] &&
		[ "$closed" = 0 ] && [ "$notices" = 1 ] &&
		[ "$rx" = 12020 ] && [ $((tx + ovfl)) = 12020 ]; then
		lib_case_ok "$c (before Linux 6.5 the replies were read before the command: not" \
			"the order this case needs) the reload applied, the replies relayed as the" \
			"session's, every one counted: $st"
	else
		lib_case_fail "$c $st"
	fi
	lib_case_end
}

# mirror_sockets_read SS_FILTER...: the relay's sockets ss selects by SS_FILTER (at least one)
# hold nothing (Recv-Q), and two stats lines in a row show as many member replies read: the
# worker has counted all it read.
mirror_sockets_read()
{
	local q a b
	q=$(lib_nsx "$NS_R" ss -Huan "$@" | awk '{ q += $2 } END { print NR ? q : "none" }')
	[ "$q" = 0 ] || return 1
	a=$(lib_stat reply_drop_mirror_reply) && b=$(lib_stat reply_drop_mirror_reply) &&
		[ "$a" -gt 0 ] && [ "$a" = "$b" ]
}

# member_rx: the relay's member's rx_pkts (ringrelayctl stats).
member_rx()
{
	"$BUILD/ringrelayctl" -s "$TMPD/run/ctl.sock" -j stats | "$PY" -c '
import json, sys
print(json.load(sys.stdin)["relays"][0]["upstreams"][0]["rx_pkts"])'
}

# reply_fields LINE: the reply direction's rx, mirror_reply, socket_receive_overflow and tx of
# stats line LINE into the caller's rx, mr, ovfl and tx.
reply_fields()
{
	rx=$(lib_field reply_rx_pkts "$1")
	mr=$(lib_field reply_drop_mirror_reply "$1")
	ovfl=$(lib_field reply_drop_socket_receive_overflow "$1")
	tx=$(lib_field reply_tx_pkts "$1")
}

# overflow_case BACKEND KIND FAMILY: a mirror socket that its member's replies overflow, twice,
# the relay stopped (SIGSTOP) while each flood of 12000 arrives (mode_replier.py): the drops of
# the first are told by the second's first reply (SO_RXQ_OVFL) and count as received and
# dropped (socket_receive_overflow). KIND transparent: a transparent mirror's client socket
# (source = "client"), whose drops are the relay's only (their senders unknown), and whose
# close at the relay's stop counts the second flood's (SO_MEMINFO): every one of the 24000
# replies is read (mirror_reply) or dropped so. KIND member: a plain mirror's socket to its
# member, whose drops are the member's too (its rx_pkts = the relay's reply_rx_pkts), and
# whose close by a reload to forward mode counts the second flood's (before, they were freed
# with the socket uncounted: reply_rx_pkts below 24000). Before, neither socket's drops were
# counted (reply_rx_pkts = mirror_reply, the rest missing).
overflow_case()
{
	local backend=$1 kind=$2 fam=$3 d=$TMPD/ovfl-$1-$2-$3 line read1 rx mr ovfl tx up want
	local sel
	lib_case_begin "ovfl-$kind" "$backend" "$fam"
	sel=(dst "$(ep "$UP1_IP" 9000)")
	c="[$backend/ipv$fam mirror, its $kind socket overflowed]"
	mkdir -p "$d"
	lib_bg "$NS_U" "$PY" "$SRC/tests/net/mode_replier.py" "$(ep "$UP1_IP" 9000)" "$d" 12000 1000
	CASE_PIDS+=("$BG_PID")
	# (max=64: a forward relay's sessions the spare session slots take, for the reload
	# below; max_sessions takes effect at a start only)
	lib_relay_conf "$conf" backend="$backend" listen="$to" up="$(ep "$UP1_IP" 9000)" \
		mode=mirror max=64
	if [ "$kind" = transparent ]; then
		lib_reply_routes add "$fam"
		# (a host prefix: ss reads an IPv6 address's last ":1" as a port without one)
		sel=(src "$CLIENT_IP/$((fam == 4 ? 32 : 128))")
		sed -i 's/^\t\tmax_sessions = .*$/&\n\t\tsource = "client";/' "$conf"
	fi
	if ! lib_relay_start "$conf"; then
		lib_case_fail "$c relay did not start"
	else
		lib_udp "$NS_C" client --to "$to" --count 1 --port-base 48700 >/dev/null
		lib_wait_for 5 test -e "$d/peer" || lib_case_fail "$c the member got no copy"
		burst_stopped "$d" 1 || lib_case_fail "$c the member did not send"
		lib_wait_for 10 mirror_sockets_read "${sel[@]}" ||
			lib_case_fail "$c the first replies were not read"
		read1=$(lib_stat reply_drop_mirror_reply)
		burst_stopped "$d" 2 || lib_case_fail "$c the member did not send again"
		lib_wait_for 10 mirror_sockets_read "${sel[@]}" ||
			lib_case_fail "$c the second replies were not read"
		line=$(lib_stats)
		rx=$(lib_field reply_rx_pkts "$line")
		mr=$(lib_field reply_drop_mirror_reply "$line")
		ovfl=$(lib_field reply_drop_socket_receive_overflow "$line")
		up=$(member_rx)
		# (the member's: all the relay received from that socket, or all that was read)
		want=$rx
		[ "$kind" = transparent ] && want=$mr
		if [ "$ovfl" = $((12000 - read1)) ] && [ "$rx" = $((mr + ovfl)) ] &&
			[ "$up" = "$want" ]; then
			lib_case_ok "$c the first flood's $ovfl drops told by the next reply," \
				"the member's rx_pkts $up"
		else
			lib_case_fail "$c after the second flood socket_receive_overflow=$ovfl" \
				"reply_rx_pkts=$rx mirror_reply=$mr, member rx_pkts=$up; want the" \
				"first's $((12000 - read1)) drops ($read1 of 12000 read), rx = read +" \
				"dropped, member rx_pkts $want"
		fi
	fi
	if [ "$kind" = member ] && lib_relay_alive; then
		# A reload that makes the relay a forward one (the same upstream, whose counters
		# stay) closes the member's socket (close_mirrors): that close counts the second
		# flood's drops and anything still queued, at the member too.
		lib_relay_conf "$conf" backend="$backend" listen="$to" \
			up="$(ep "$UP1_IP" 9000)" mode=forward max=64
		lib_relay_hup || lib_case_fail "$c the reload to forward mode did not apply"
		reply_fields "$(lib_stats)"
		up=$(member_rx)
		if [ "$rx" = 24000 ] && [ $((mr + ovfl)) = 24000 ] && [ "$tx" = 0 ] &&
			[ "$up" = 24000 ] && [ "$ovfl" -gt $((12000 - read1)) ]; then
			lib_case_ok "$c at its socket's close all 24000 replies counted:" \
				"$mr read, $ovfl dropped, the member's rx_pkts $up"
		else
			lib_case_fail "$c at its socket's close reply_rx_pkts=$rx" \
				"reply_drop_mirror_reply=$mr" \
				"reply_drop_socket_receive_overflow=$ovfl reply_tx_pkts=$tx," \
				"member rx_pkts=$up, want 24000 = read + dropped (more than" \
				"the first flood's $((12000 - read1))) each"
		fi
	fi
	if [ "$kind" = transparent ] && lib_relay_alive; then
		lib_relay_stop || lib_case_fail "$c relay exit status $? after SIGTERM, want 0"
		reply_fields "$(lib_stats_last)"
		if [ "$rx" = 24000 ] && [ $((mr + ovfl)) = 24000 ] && [ "$tx" = 0 ] &&
			[ "$ovfl" -gt $((12000 - read1)) ]; then
			lib_case_ok "$c at the stop all 24000 replies counted: $mr read, $ovfl dropped"
		else
			lib_case_fail "$c at the stop reply_rx_pkts=$rx reply_drop_mirror_reply=$mr" \
				"reply_drop_socket_receive_overflow=$ovfl reply_tx_pkts=$tx, want" \
				"24000 = read + dropped (more than the first flood's $((12000 - read1)))"
		fi
	fi
	lib_case_end
	[ "$kind" = transparent ] && lib_reply_routes del "$fam"
}

# unroutable_member FAMILY: UNR_IP, a member address with no route in the relay's namespace
# (inside the test's ranges), UNR_NET, its network for the route the case adds, and UNR_EP,
# its endpoint as the relay's log writes it, as a grep pattern.
unroutable_member()
{
	if [ "$1" = 4 ]; then
		UNR_IP=198.18.99.1 UNR_NET=198.18.99.0/24
	else
		UNR_IP=2001:2:0:99::1 UNR_NET=2001:2:0:99::/64
	fi
	UNR_EP=$(ep "$UNR_IP" 9000)
	UNR_EP=${UNR_EP//\[/\\[}
}

# unroutable_case BACKEND FAMILY: a member with no route to it (unroutable_member) when the
# relay starts: the relay runs and the other member gets every copy, the dead member's are
# counted lost, and once a route appears the member gets a socket within the second's retry
# (before: the relay refused to start; a re-resolution or reload that brought such a member
# shut the relay down).
unroutable_case()
{
	local backend=$1 fam=$2 rec n
	lib_case_begin unroutable "$backend" "$fam"
	unroutable_member "$fam"
	c="[$backend/ipv$fam mirror, a member without a route]"
	rec=$TMPD/unroutable-$backend-$fam.rec
	lib_case_server "$TMPD/u1.json" sink --bind "$(ep "$UP1_IP" 9000)" --out "$rec"
	lib_case_start mode=mirror up="$(ep "$UNR_IP" 9000)" || return
	lib_udp "$NS_C" client --to "$to" --port-base 48500 --count 20 --size 100 >/dev/null
	lib_wait_lines "$rec" 20 5
	n=$(lib_lines "$rec")
	if [ "$n" = 20 ] && lib_wait_stat drop_send_error -eq 20 5 &&
		lib_log_count_ge "$UNR_EP: Network is unreachable; its copies are lost" 1
	then
		lib_case_ok "$c 20 of 20 copies to the other member, $LAST_STAT counted lost"
	else
		lib_case_fail "$c $n of 20 copies to the other member," \
			"drop_send_error=$(lib_stat drop_send_error), want 20"
	fi
	lib_nsx "$NS_R" ip route add "$UNR_NET" dev "$IF_RU"
	if lib_wait_for 3 lib_log_count_ge "$UNR_EP: socket open" 1; then
		lib_case_ok "$c a socket once the route is there"
	else
		lib_case_fail "$c no socket to the member 3 s after its route appeared"
	fi
	lib_nsx "$NS_R" ip route del "$UNR_NET" dev "$IF_RU"
	lib_case_end
}

# unroutable_only_case FAMILY: io_uring, a mirror whose one member has no route: no copy is
# sent, and the receive buffer goes back to the pool (it leaked, one per datagram, until the
# listener had none left and received nothing more: 64 buffers here).
unroutable_only_case()
{
	local fam=$1 rx
	lib_case_begin unroutable-only io_uring "$fam"
	unroutable_member "$fam"
	c="[io_uring/ipv$fam mirror, its one member without a route]"
	lib_relay_conf "$conf" backend=io_uring listen="$to" up="$(ep "$UNR_IP" 9000)" \
		mode=mirror buffers=64
	lib_relay_start "$conf" || { lib_case_fail "$c relay did not start"; return; }
	# (lib_relay_start may take the previous relay's listener, which an emulated CPU's
	# kernel lets go late, for this one's: the datagrams went there, rx_pkts=0)
	lib_wait_for 10 lib_log_count_ge ": ready" 1 || lib_case_fail "$c relay never ready"
	lib_udp "$NS_C" client --to "$to" --port-base 48600 --count 200 --size 100 \
		--expect-none --quiet 0.1 >/dev/null
	if lib_wait_stat rx_pkts -eq 200 5 && lib_wait_stat drop_send_error -eq 200 2; then
		lib_case_ok "$c 200 datagrams received through 64 buffers, 200 copies counted lost"
	else
		rx=$(lib_stat rx_pkts)
		lib_case_fail "$c rx_pkts=$rx drop_send_error=$(lib_stat drop_send_error), want 200"
	fi
	lib_case_end
}

for backend in $(lib_backends); do
	for fam in 4 6; do
		mode_change_case "$backend" "$fam"
		overflow_case "$backend" transparent "$fam"
		overflow_case "$backend" member "$fam"
		unroutable_case "$backend" "$fam"
	done
done
for fam in 4 6; do
	unroutable_only_case "$fam"
done
lib_each_case run_case
