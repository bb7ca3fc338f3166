#!/bin/bash
# SPDX-License-Identifier: MIT
# Reload under traffic, per backend and family: while clients exchange datagrams with an
# echo upstream through an unchanged listener, the relay is sent 10 SIGHUPs that cycle
# through configs which add and remove a listener, add and remove a relay, add an upstream,
# and one bad config. Asserts zero datagrams lost on the unchanged listener, that each change
# took effect (the added listener answers, the removed one does not, a new session may use the
# added upstream), and that the bad config was refused while the old one kept serving. Then a
# storm of overlapping reload requests (storm, per backend in one family), and (once, the admin
# thread's alone) a request that comes inside a running reload, which it must not be answered
# by (inside); per backend in IPv4, a reload that finds no room for a relay's sessions
# (no_room_case). Once: a reload that waits for the user database leaves status answering
# (accounts_case).
. "$(dirname "$0")/lib.sh"
lib_topology

RELOADS=10
INSIDE_RAN=

# write_conf FILE VARIANT: the config for one step of the cycle.
write_conf()
{
	local file=$1 variant=$2 listen up relay2=""
	listen="\"$(ep "$RELAY_IP" 5000)\""
	up="\"$(ep "$UP1_IP" 9000)\""
	case $variant in
	base) ;;
	listener) listen="$listen, \"$(ep "$RELAY_IP" 5001)\"" ;;
	upstream) up="$up, \"$(ep "$UP2_IP" 9000)\"" ;;
	relay)
		relay2=", { name = \"extra\"; listen = [ \"$(ep "$RELAY_IP" 5002)\" ];
		upstreams = [ \"$(ep "$UP2_IP" 9000)\" ]; }"
		;;
	bad)
		echo "relays = ( { name = \"t\"; listen = [ \"not-an-address\" ]; } );" >"$file"
		return
		;;
	esac
	cat >"$file" <<EOF
workers = 2;
io_backend = "$BACKEND";
buffers = 1024;
control_socket = "$TMPD/run/ctl.sock";
relays = (
	{ name = "t"; listen = [ $listen ]; upstreams = [ $up ]; session_timeout = 30.0; }$relay2
);
EOF
}

# reload VARIANT: write that config, SIGHUP, wait for the relay's verdict on it.
reload()
{
	local variant=$1 pattern="reload: .* applied"
	[ "$variant" = bad ] && pattern="reload failed"
	write_conf "$CONF" "$variant"
	if ! lib_relay_hup "$pattern"; then
		lib_case_fail "$C reload to '$variant' got no '$pattern' log line"
		return 1
	fi
	return 0
}

run_case()
{
	BACKEND=$1
	local fam=$2 i variant out ok=0
	lib_family "$fam"
	C="[$BACKEND/ipv$fam]"
	CONF=$TMPD/reload-$BACKEND-$fam.conf
	mkdir -p "$TMPD/run" && chmod 1777 "$TMPD/run"
	rm -f "$TMPD/up2-$BACKEND-$fam.rec"
	lib_udp_bg "$NS_U" "$TMPD/echo1.json" echo --bind "$(ep "$UP1_IP" 9000)" --seconds 120
	local echo1=$BG_PID
	lib_udp_bg "$NS_U" "$TMPD/echo2.json" echo --bind "$(ep "$UP2_IP" 9000)" --seconds 120 \
		--out "$TMPD/up2-$BACKEND-$fam.rec"
	local echo2=$BG_PID
	lib_wait_for 5 lib__bound "$NS_U" "$(ep "$UP2_IP" 9000)" "" || true
	write_conf "$CONF" base
	if ! lib_relay_start "$CONF"; then
		lib_case_fail "$C relay did not start"
		lib_stop_pid "$echo1"
		lib_stop_pid "$echo2"
		return
	fi
	lib_expect_backend "$BACKEND" || lib_case_fail "$C no 'backend $BACKEND' log line"

	# The steady traffic: 8 clients, one datagram each per round, every reply checked.
	lib_udp_bg "$NS_C" "$TMPD/steady.json" client --to "$(ep "$RELAY_IP" 5000)" \
		--clients 8 --count 250 --size 64 --expect-echo --interval 0.005 --seconds 90
	local steady=$BG_PID

	for i in $(seq 1 $RELOADS); do
		case $((i % 5)) in
		1) variant=listener ;;
		2) variant=base ;;
		3) variant=upstream ;;
		4) variant=relay ;;
		0) variant=bad ;;
		esac
		reload "$variant" || continue
		case $variant in
		listener)
			out=$(lib_udp "$NS_C" client --to "$(ep "$RELAY_IP" 5001)" --count 3 --size 20 \
				--expect-echo --seconds 10) ||
				lib_case_fail "$C added listener :5001 does not relay: $out"
			;;
		base)
			out=$(lib_udp "$NS_C" client --to "$(ep "$RELAY_IP" 5001)" --count 2 --size 20 \
				--expect-none --quiet 0.3) ||
				lib_case_fail "$C removed listener :5001 still answers: $out"
			;;
		upstream)
			# New sessions may now land on the added upstream (rr over two).
			out=$(lib_udp "$NS_C" client --to "$(ep "$RELAY_IP" 5000)" --clients 4 \
				--count 2 --size 20 --expect-echo --seconds 10) ||
				lib_case_fail "$C new clients after adding an upstream: $out"
			;;
		relay)
			out=$(lib_udp "$NS_C" client --to "$(ep "$RELAY_IP" 5002)" --count 3 --size 20 \
				--expect-echo --seconds 10) ||
				lib_case_fail "$C added relay on :5002 does not relay: $out"
			;;
		bad)
			lib_relay_alive || lib_case_fail "$C relay died on a bad config"
			;;
		esac
		ok=$((ok + 1))
	done
	[ "$ok" -eq "$RELOADS" ] && lib_case_ok "$C $RELOADS reloads under traffic answered"
	# (the storm per backend, io_uring in IPv4 and mmsg in IPv6: the admin thread's merging
	# of requests knows no family; each backend's workers apply what it ends with)
	case $BACKEND/$fam in io_uring/4 | mmsg/6) storm ;; esac
	# (in the first case only: which reload answers a request is the admin thread's doing,
	# the same for either backend and family)
	[ -z "$INSIDE_RAN" ] && INSIDE_RAN=1 && inside
	[ -s "$TMPD/up2-$BACKEND-$fam.rec" ] ||
		lib_case_fail "$C the added upstream never received a datagram"

	if wait "$steady"; then
		lib_case_ok "$C zero loss on the unchanged listener: $(cat "$TMPD/steady.json")"
	else
		lib_case_fail "$C steady traffic lost datagrams across reloads: $(cat "$TMPD/steady.json")"
	fi
	if line=$(lib_stats t); then
		lib_case_ok "$C counters after reloads: $(echo "$line" | cut -c1-160)"
	else
		lib_case_fail "$C no stats line"
	fi
	lib_relay_stop || lib_case_fail "$C relay exit status $? after SIGTERM, want 0"
	lib_stop_pid "$echo1"
	lib_stop_pid "$echo2"
	# (per backend, in one family: the session area and its sizing know no family)
	[ "$fam" = 4 ] && no_room_case
}

# storm: reload requests that overlap, under traffic, in three rounds: three ringrelayctl
# reloads and ten SIGHUPs back to back while the file changes under them, then one SIGHUP
# after the last write. Every ringrelayctl reload must answer with success, the file's last version
# must be the one in force (a request that came during a reload is served by another that
# reads the file after it), and the relay must live.
storm()
{
	local c="$C [storm]" i p pids failed round out
	for round in 1 2 3; do
		# Each version is written beside the file first and renamed over it in the
		# storm, as a careful operator (or a config manager) replaces a file: a reload
		# never reads half of one, and the last request lands while the reloads the
		# first ones started still run.
		write_conf "$TMPD/storm-base.conf" base
		write_conf "$TMPD/storm-relay.conf" relay
		write_conf "$CONF" listener
		pids="" failed=0
		for i in 1 2 3; do
			"$BUILD/ringrelayctl" -s "$TMPD/run/ctl.sock" reload \
				>"$TMPD/storm-ctl$i.out" 2>&1 &
			pids="$pids $!"
		done
		for i in $(seq 1 10); do
			kill -HUP "$RELAY_PID"
			[ "$i" = 5 ] && mv -f "$TMPD/storm-base.conf" "$CONF"
		done
		mv -f "$TMPD/storm-relay.conf" "$CONF"
		kill -HUP "$RELAY_PID"
		for p in $pids; do
			wait "$p" || failed=$((failed + 1))
		done
		if [ "$failed" -ne 0 ]; then
			lib_case_fail "$c round $round: $failed of 3 overlapping ringrelayctl reloads failed: $(cat "$TMPD"/storm-ctl*.out)"
			return
		fi
		# The last request came after the last write: extra's listener answers in the
		# end, and the listener only the first write had is gone.
		if ! lib_wait_for 10 lib_udp "$NS_C" client --to "$(ep "$RELAY_IP" 5002)" \
			--count 2 --size 20 --expect-echo --seconds 1 >/dev/null 2>&1; then
			lib_case_fail "$c round $round: the relay added by the last write does not answer"
			return
		fi
		out=$(lib_udp "$NS_C" client --to "$(ep "$RELAY_IP" 5001)" --count 2 --size 20 \
			--expect-none --quiet 0.3) || {
			lib_case_fail "$c round $round: a listener of an older version answers: $out"
			return
		}
	done
	lib_relay_alive || { lib_case_fail "$c the relay died in the storm"; return; }
	lib_case_ok "$c 3 rounds of 3 ringrelayctl reloads and 11 SIGHUPs: all answered, the last version in force ($(lib_log_count 'reload: .* applied') reloads applied in all)"
}

# inside: a request that comes while a reload runs is answered only by a reload of its own,
# which reads the file after it. The config path is made a FIFO, so that a reload (SIGHUP)
# blocks in its read until the test writes the file: the ringrelayctl reload sent meanwhile
# lands inside it for certain. Once the first reload has applied what it read, the request
# must still wait (a reload it did not see begin cannot answer it), the next reload must
# open the file again, and the request is answered after that one, with its version in force.
inside()
{
	local c="$C [inside a reload]" w1 q
	local f0=$LIB_FAILS
	write_conf "$TMPD/inside-listener.conf" listener
	write_conf "$TMPD/inside-relay.conf" relay
	rm -f "$TMPD/inside.fifo" "$TMPD/inside-open" "$TMPD/inside-go"
	mkfifo "$TMPD/inside.fifo" && mv -f "$TMPD/inside.fifo" "$CONF" ||
		{ lib_case_fail "$c no FIFO"; return; }
	# The first reload's writer: the open waits for the reload's, then the go.
	(
		exec 3>"$CONF"
		: >"$TMPD/inside-open"
		lib_wait_for 10 test -e "$TMPD/inside-go"
		cat "$TMPD/inside-listener.conf" >&3
	) &
	w1=$!
	local applied
	applied=$(lib_log_count "reload: .* applied")
	kill -HUP "$RELAY_PID"
	if ! lib_wait_for 10 test -e "$TMPD/inside-open"; then
		lib_case_fail "$c the reload never opened the file"
		kill "$w1" 2>/dev/null
		rm -f "$CONF"
		write_conf "$CONF" relay
		return
	fi
	"$BUILD/ringrelayctl" -s "$TMPD/run/ctl.sock" reload >"$TMPD/inside-ctl.out" 2>&1 &
	q=$!
	# The control thread counts the request as it reads it; nothing shows that moment.
	sleep 0.3
	: >"$TMPD/inside-go"
	wait "$w1"
	lib_wait_for 10 lib_log_count_ge "reload: .* applied" $((applied + 1)) ||
		lib_case_fail "$c the first reload did not apply what it read"
	# (answered by it, ringrelayctl would exit within milliseconds of that apply)
	if lib_wait_gone "$q" 1; then
		lib_case_fail "$c the request was answered by the reload it came during: $(cat "$TMPD/inside-ctl.out")"
	fi
	if ! timeout 10 bash -c 'cat "$1" >"$2"' _ "$TMPD/inside-relay.conf" "$CONF"; then
		lib_case_fail "$c no reload read the file after the request"
	fi
	wait "$q" || lib_case_fail "$c the request failed: $(cat "$TMPD/inside-ctl.out")"
	# A regular file again (writing into the FIFO with no reader would wait for ever).
	rm -f "$CONF"
	write_conf "$CONF" relay
	lib_wait_for 10 lib_udp "$NS_C" client --to "$(ep "$RELAY_IP" 5002)" --count 2 --size 20 \
		--expect-echo --seconds 1 >/dev/null 2>&1 ||
		lib_case_fail "$c the version written after the request is not in force"
	lib_udp "$NS_C" client --to "$(ep "$RELAY_IP" 5001)" --count 2 --size 20 --expect-none \
		--quiet 0.3 >/dev/null || lib_case_fail "$c the first reload's version is still in force"
	[ "$LIB_FAILS" = "$f0" ] &&
		lib_case_ok "$c a request during a running reload waits for one of its own"
}

# no_room_case: a reload that removes relay "a" (1000 sessions) and adds "b" (2000) while
# "c" stays: b finds no room for its sessions (the session area is sized at start and a's
# part frees only once it has drained), so the reload is applied with an error. Then b is
# not served, a's port is closed, c goes on, and the relay lives (the build before left a's
# listener open on a relay it had ended and kept the freed config in use: a datagram to a
# crashed it). Then a reload adding source = "client" (a capability the workers dropped at
# start) is refused.
no_room_case()
{
	local c="$C [no room]" conf=$TMPD/noroom.conf out
	relays_conf()
	{
		cat >"$conf" <<EOF
workers = 1;
io_backend = "$BACKEND";
buffers = 1024;
control_socket = "$TMPD/run/ctl.sock";
relays = (
$1
	{ name = "c"; listen = [ "$(ep "$RELAY_IP" 5001)" ]; upstreams = [ "$(ep "$UP1_IP" 9000)" ];
	  max_sessions = 100; }
);
EOF
	}
	relays_conf "{ name = \"a\"; listen = [ \"$(ep "$RELAY_IP" 5000)\" ];
	  upstreams = [ \"$(ep "$UP1_IP" 9000)\" ]; max_sessions = 1000; },"
	lib_udp_bg "$NS_U" "$TMPD/echo-noroom.json" echo --bind "$(ep "$UP1_IP" 9000)" --seconds 60
	local echo_pid=$BG_PID
	if ! lib_relay_start "$conf"; then
		lib_case_fail "$c relay did not start"
		lib_stop_pid "$echo_pid"
		return
	fi
	lib_udp "$NS_C" client --to "$(ep "$RELAY_IP" 5001)" --count 10 --size 64 --expect-echo \
		>/dev/null || lib_case_fail "$c relay c before the reload"
	# reload_to RELAY PATTERN: the config with RELAY before c, SIGHUP, PATTERN in the log.
	reload_to()
	{
		relays_conf "$1"
		kill -HUP "$RELAY_PID"
		lib_wait_for 10 lib_log_count_ge "$2" 1
	}
	if reload_to "{ name = \"b\"; listen = [ \"$(ep "$RELAY_IP" 5002)\" ];
	  upstreams = [ \"$(ep "$UP1_IP" 9000)\" ]; max_sessions = 2000; }," "no room for"; then
		lib_case_ok "$c $(lib_relay_log_current | grep -o 'reload.*no room.*' | head -n 1)"
	else
		lib_case_fail "$c the reload did not report b's missing room"
	fi
	lib_udp "$NS_C" client --to "$(ep "$RELAY_IP" 5000)" --count 5 --size 64 --expect-none \
		>/dev/null || lib_case_fail "$c the removed relay a still answers"
	lib_udp "$NS_C" client --to "$(ep "$RELAY_IP" 5002)" --count 5 --size 64 --expect-none \
		>/dev/null || lib_case_fail "$c relay b answers though it had no room"
	if out=$(lib_udp "$NS_C" client --to "$(ep "$RELAY_IP" 5001)" --count 20 --size 64 \
		--expect-echo); then
		lib_case_ok "$c relay c still relays: $out"
	else
		lib_case_fail "$c relay c: $out"
	fi
	# c's counters went on across the apply that ended b (they start over only for another
	# relay in c's slot)
	if out=$(lib_stats c); then
		local f0=$LIB_FAILS
		lib_expect_fields "$c relay c's counters:" "$out" 30 rx_pkts tx_pkts reply_tx_pkts
		[ "$LIB_FAILS" -eq "$f0" ] && lib_case_ok "$c relay c's counters went on: 30 each way"
	else
		lib_case_fail "$c no stats line for relay c"
	fi
	lib_relay_alive || lib_case_fail "$c the relay died"
	# A reload asking for a capability the workers dropped at start is refused whole.
	if reload_to "{ name = \"d\"; listen = [ \"$(ep "$RELAY_IP" 5003)\" ];
	  upstreams = [ \"$(ep "$UP1_IP" 9000)\" ]; source = \"client\"; }," \
		"reload failed.*needs a restart"; then
		lib_case_ok "$c source = \"client\" by a reload: refused, needs a restart"
	else
		lib_case_fail "$c a reload adding source = \"client\" was not refused"
	fi
	lib_udp "$NS_C" client --to "$(ep "$RELAY_IP" 5001)" --count 5 --size 64 --expect-echo \
		>/dev/null || lib_case_fail "$c relay c stopped relaying after the refused reload"
	# A reload that changes a restart-only setting is applied and says so in its answer,
	# which ringrelayctl prints (before: "reloaded FILE" alone; the warning only in the log)
	# (filter.pin too: before, a reload ignored it without a word)
	relays_conf ""
	sed -i 's/^workers = 1;/workers = 2;/' "$conf"
	echo 'filter = { mode = "off"; pin = true; };' >>"$conf"
	if out=$(timeout 20 "$BUILD/ringrelayctl" -s "$TMPD/run/ctl.sock" reload 2>&1) &&
		echo "$out" | grep -qx "warning: workers changed: it takes effect after a restart" &&
		echo "$out" | grep -qx "warning: filter.pin changed: it takes effect after a restart"
	then
		lib_case_ok "$c ringrelayctl reload of workers = 2, filter.pin = true:" \
			"$(echo "$out" | tr '\n' ' ')"
	else
		lib_case_fail "$c ringrelayctl reload of workers = 2, filter.pin = true: want" \
			"exit 0 and two restart warnings; got: $out"
	fi
	lib_relay_stop || lib_case_fail "$c relay exit status $? after SIGTERM, want 0"
	lib_stop_pid "$echo_pid"
}

# accounts_case: a reload looks up `user` and control_access's group on its load thread, off
# the app lock. /etc/passwd in the relay's mount namespace is made a FIFO (nsenter, bind
# mount), so the reload's getpwnam blocks until the test writes it: meanwhile status is
# answered at once (it waited for the lock the reload held), and then the reload applies.
accounts_case()
{
	local c="[user lookup]" conf=$TMPD/accounts.conf out t0 ms applied
	cat >"$conf" <<EOF
workers = 1;
user = "root";
control_access = { read_only_group = "nogroup"; };
control_socket = "$TMPD/run/ctl.sock";
relays = ( { name = "t"; listen = [ "198.18.1.2:5000" ]; upstreams = [ "198.18.2.2:9000" ]; } );
EOF
	lib_relay_start "$conf" || { lib_case_fail "$c relay did not start"; return; }
	mkfifo "$TMPD/passwd.fifo"
	if ! nsenter -t "$RELAY_PID" -m mount --bind "$TMPD/passwd.fifo" /etc/passwd; then
		lib_case_fail "$c cannot put a FIFO on the relay's /etc/passwd"
		lib_relay_stop
		return
	fi
	applied=$(lib_log_count "reload: .* applied")
	kill -HUP "$RELAY_PID"
	# the load thread blocks opening the FIFO
	blocked() { grep -qs wait_for_partner /proc/"$RELAY_PID"/task/*/wchan; }
	lib_wait_for 5 blocked || lib_case_fail "$c the reload never opened /etc/passwd"
	t0=$(date +%s%N)
	out=$(timeout 10 "$BUILD/ringrelayctl" -s "$TMPD/run/ctl.sock" status 2>&1 | head -n 1)
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	# (the reader closes once it has its line: cat may then end on SIGPIPE)
	timeout 10 bash -c 'cat /etc/passwd >"$1"; :' _ "$TMPD/passwd.fifo" ||
		lib_case_fail "$c the reload never read /etc/passwd"
	nsenter -t "$RELAY_PID" -m umount /etc/passwd
	if [ "$ms" -lt 1000 ] && lib_wait_for 10 lib_log_count_ge "reload: .* applied" \
		$((applied + 1)); then
		lib_case_ok "$c status answered in $ms ms while the reload waited for the user" \
			"database, the reload applied after"
	else
		lib_case_fail "$c status took $ms ms ($out) while the reload waited for the user" \
			"database; applied: $(lib_log_count "reload: .* applied") (before: $applied)"
	fi
	# A stop while a reload's load is blocked: given up, not waited for (before: the stop
	# hung until the FIFO was written).
	nsenter -t "$RELAY_PID" -m mount --bind "$TMPD/passwd.fifo" /etc/passwd
	kill -HUP "$RELAY_PID"
	lib_wait_for 5 blocked || lib_case_fail "$c the second reload never opened /etc/passwd"
	local pid=$RELAY_PID rc
	t0=$(date +%s%N)
	kill -TERM "$pid"
	if lib_wait_gone "$pid" 5; then
		wait "$pid"
		rc=$?
		ms=$(( ($(date +%s%N) - t0) / 1000000 ))
		[ "$rc" -eq 0 ] &&
			lib_case_ok "$c SIGTERM while a reload waits for the user database: exit 0" \
				"in $ms ms, the reload given up" ||
			lib_case_fail "$c SIGTERM while a reload waits for the user database: exit $rc"
	else
		lib_case_fail "$c SIGTERM while a reload waits for the user database: still" \
			"running after 5 s"
		timeout 5 bash -c 'cat /etc/passwd >"$1"; :' _ "$TMPD/passwd.fifo"
		lib_relay_stop
	fi
	RELAY_PID=
}

accounts_case
lib_each_case run_case
