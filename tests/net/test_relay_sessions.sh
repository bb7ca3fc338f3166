#!/bin/bash
# SPDX-License-Identifier: MIT
# Session limits and expiry, per backend and family, with workers = 1, max_sessions = 4 and
# session_timeout = 1.0: a 5th client is dropped and counted while the first 4 keep working;
# once idle sessions expire (sessions_expired rises, also while `ringrelayctl sessions` runs
# more often than the worker's tick) a new client is accepted. All clients
# share one address, so max_sessions_per_source is lifted to max_sessions here (its own test
# is test_session_limits.sh).
# With io_uring, refresh_case runs the relay with RINGRELAY_RSRC_REFRESH=1: receives armed
# before a session closed are cancelled and armed again (what kernels before 6.13 need to
# let go of the closed sockets), while traffic flows; and at once after a reload removed a
# listener.
. "$(dirname "$0")/lib.sh"
lib_topology

# run_case BACKEND FAMILY: the whole test for one backend and one address family.
run_case()
{
	local backend=$1 fam=$2
	lib_case_begin sessions "$backend" "$fam"
	lib_case_echo
	lib_case_start workers=1 max=4 per_source=4 timeout=1.0 || return

	# Four clients fill the table and keep talking (a round every 50 ms for about 2 s, so
	# they never sit idle for the 1 s timeout); while they do, a fifth client is refused.
	lib_bg "$NS_C" "$PY" "$UDP_PY" client --to "$to" --clients 4 --port-base 50000 \
		--count 40 --interval 0.05 --size 64 --expect-echo --seconds 30 >"$TMPD/four.json"
	four=$BG_PID
	lib_wait_stat sessions_active -eq 4 10 ||
		lib_case_fail "$c sessions_active=$LAST_STAT while 4 clients talk, want 4"
	out5=$(lib_udp "$NS_C" client --to "$to" --clients 1 --port-base 50100 --count 1 \
		--size 64 --expect-none --quiet 0.2) ||
		lib_case_fail "$c 5th client got a reply over max_sessions=4: $out5"
	lib_wait_gone "$four" 40 || lib_case_fail "$c the 4 clients did not finish within 40 s"
	wait "$four" ||
		lib_case_fail "$c the first 4 clients lost replies while the 5th was refused:" \
			"$(cat "$TMPD/four.json")"
	if lib_relay_alive; then
		lib_case_ok "$c 4 clients kept working: $(cat "$TMPD/four.json")"
	fi
	if line=$(lib_stats t); then
		v=$(lib_field drop_session_table_full "$line")
		[ "${v:-0}" -ge 1 ] || lib_case_fail "$c drop_session_table_full=$v, want >= 1"
		v=$(lib_field sessions_created "$line")
		[ "$v" = 4 ] || lib_case_fail "$c sessions_created=$v, want 4"
		lib_case_ok "$c table full: $line"
	else
		lib_case_fail "$c no stats line"
	fi

	# Idle expiry frees the table: all 4 expire, then the 5th client is served. Meanwhile
	# `ringrelayctl sessions` every 0.2 s, more often than the worker's tick (a quarter of
	# the timeout): a command reset the mmsg backend's timer, so no tick ever ran and no
	# session expired.
	lib_bg "$NS_R" bash -c 'for i in $(seq 60); do "$1" -s "$2" sessions >/dev/null 2>&1
		sleep 0.2; done' _ "$BUILD/ringrelayctl" "$TMPD/run/ctl.sock"
	local poller=$BG_PID
	if lib_wait_stat sessions_expired -ge 4 10; then
		lib_case_ok "$c sessions_expired=$LAST_STAT after 1 s idle, sessions asked for every 0.2 s"
	else
		lib_case_fail "$c sessions_expired=$LAST_STAT 10 s after the last datagram, want 4" \
			"(sessions asked for every 0.2 s)"
	fi
	lib_stop_pid "$poller"
	lib_wait_stat sessions_active -eq 0 5 ||
		lib_case_fail "$c sessions_active=$LAST_STAT after expiry, want 0"
	if out=$(lib_udp "$NS_C" client --to "$to" --clients 1 --port-base 50100 --count 2 \
		--size 64 --expect-echo); then
		lib_case_ok "$c new client accepted after expiry"
	else
		lib_case_fail "$c new client refused after expiry: $out"
	fi
	lib_relay_alive || lib_case_fail "$c relay died"
	lib_case_end
}

# refreshes: the receives the relay's workers cancelled and armed again, over its life (read
# without a python start-up: listener_refresh times them).
refreshes()
{
	"$BUILD/ringrelayctl" -s "$TMPD/run/ctl.sock" -j status |
		grep -o '"refreshes": *[0-9]*' | awk -F: '{ n += $2 } END { print n + 0 }'
}

# upstream_sockets: UDP sockets in the relay's namespace connected to the upstream (the
# sessions' sockets the kernel still has, closed or not).
upstream_sockets()
{
	lib_nsx "$NS_R" ss -Huan | awk -v p="$(ep "$UP1_IP" 9000)" '$5 == p' | wc -l
}
upstream_sockets_le() { [ "$(upstream_sockets)" -le "$1" ]; }

# refresh_case BACKEND FAMILY (io_uring): refreshes forced on. A steady client keeps one
# session and the listener busy (a datagram every 50 ms for 5 s) while CHURN rounds of
# 4 new clients each open sessions that expire (session_timeout = 1.0, a tick every 0.25 s),
# each round once the last one's expired: every close is a removal from the ring's fixed
# files, after which the tick refreshes the steady session's and the listener's receives.
# Every datagram is answered and counted exactly (no refresh loses one or leaves a buffer
# out), refreshes happen only after closes, and the sockets of closed sessions are gone from
# the kernel once their session is. That last check passes on kernels from 6.13 (this
# machine's) without refreshes too, where the kernel puts a removed file once its own
# requests end: it guards against a refresh that leaks sockets itself, not the kernel's leak.
# Then listener_refresh. The relay has three more listeners (ports 5001 to 5003), which
# nothing uses.
CHURN=2
refresh_case()
{
	local backend=$1 fam=$2 steady round n line want v
	lib_case_begin refresh "$backend" "$fam"
	lib_case_echo
	RINGRELAY_RSRC_REFRESH=1 lib_case_start workers=1 max=64 per_source=64 timeout=1.0 \
		listen="$(ep "$RELAY_IP" 5001)" listen="$(ep "$RELAY_IP" 5002)" \
		listen="$(ep "$RELAY_IP" 5003)" || return
	lib_relay_log_current | grep -q "forced on by RINGRELAY_RSRC_REFRESH=1" ||
		lib_case_fail "$c no log line saying refreshes are forced on"

	lib_bg "$NS_C" "$PY" "$UDP_PY" client --to "$to" --clients 1 --port-base 52000 \
		--count 100 --interval 0.05 --size 64 --expect-echo --seconds 60 >"$TMPD/steady.json"
	steady=$BG_PID
	lib_wait_stat reply_tx_pkts -ge 10 10 ||
		lib_case_fail "$c the steady client got no replies: $LAST_STAT"
	# No session closed yet: nothing to refresh.
	v=$(refreshes)
	[ "$v" = 0 ] || lib_case_fail "$c refreshes=$v before any session closed, want 0"

	for round in $(seq "$CHURN"); do
		out=$(lib_udp "$NS_C" client --to "$to" --clients 4 \
			--port-base $((52100 + 10 * round)) --count 3 --interval 0.05 --size 64 \
			--expect-echo) || lib_case_fail "$c churn round $round lost replies: $out"
		lib_wait_stat sessions_expired -ge $((4 * round)) 10 ||
			lib_case_fail "$c sessions_expired=$LAST_STAT after round $round," \
				"want $((4 * round))"
	done
	kill -0 "$steady" 2>/dev/null ||
		lib_log "note: $c the steady client ended before the churn did"
	# Only the steady session is left: the churned sessions' sockets go with them.
	lib_wait_for 5 upstream_sockets_le 1 ||
		lib_case_fail "$c $(upstream_sockets) sockets to the upstream with 1 session left"
	v=$(refreshes)
	[ "${v:-0}" -gt 0 ] || lib_case_fail "$c refreshes=$v after $((4 * CHURN)) closes, want > 0"

	lib_wait_gone "$steady" 40 || lib_case_fail "$c the steady client did not finish in 40 s"
	wait "$steady" ||
		lib_case_fail "$c the steady client lost replies: $(cat "$TMPD/steady.json")"
	lib_wait_stat sessions_active -eq 0 10 ||
		lib_case_fail "$c sessions_active=$LAST_STAT after the steady client, want 0"
	lib_wait_for 5 upstream_sockets_le 0 ||
		lib_case_fail "$c $(upstream_sockets) sockets to the upstream with no session left"

	want=$((100 + 4 * CHURN * 3))
	if line=$(lib_stats t); then
		lib_expect_fields "$c" "$line" "$want" rx_pkts tx_pkts reply_rx_pkts reply_tx_pkts
		lib_expect_fields "$c" "$line" $((1 + 4 * CHURN)) sessions_created sessions_expired
		lib_expect_fields "$c" "$line" 0 \
			$(echo "$line" | tr ' ' '\n' | sed -n 's/^\([a-z_]*drop_[a-z_]*\)=.*/\1/p')
		lib_case_ok "$c steady client and $((4 * CHURN)) churned sessions, $(refreshes)" \
			"refreshes: $line"
	else
		lib_case_fail "$c no stats line"
	fi
	listener_refresh
	lib_relay_alive || lib_case_fail "$c relay died"
	lib_case_end
}

# refresh_after N SECONDS: polls the refreshes (10 ms apart), SECONDS at most, until there
# are more than N (REFRESHES). SWEPT_AFTER: when (us) the last poll that found N or fewer
# began, left as it was when the first finds more (a sweep counted since began after it, and
# so the next regular one, a second later at the earliest); SEEN_AT: when the poll that found
# more ended.
refresh_after()
{
	local end=$((SECONDS + $2 * WAIT_SCALE + 1)) t
	while :; do
		t=${EPOCHREALTIME/./}
		REFRESHES=$(refreshes)
		if [ "${REFRESHES:-0}" -gt "$1" ]; then
			SEEN_AT=${EPOCHREALTIME/./}
			return 0
		fi
		SWEPT_AFTER=$t
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.01
	done
}
# listener_sockets PORT: UDP sockets bound to the relay's address and PORT in its namespace.
listener_sockets()
{
	lib_nsx "$NS_R" ss -Huan | awk -v p="$(ep "$RELAY_IP" "$1")" '$4 == p' | wc -l
}
listener_sockets_le() { [ "$(listener_sockets "$1")" -le "$2" ]; }

# listener_refresh (refresh_case's relay, nothing flowing): a session expires, so a refresh
# sweep begins (one a second at most, and a regular one only after a removal: a session's
# or a listener's close), and at once a reload removes the listener on port 5001: the
# receives armed before it are refreshed as the reload is applied, not at the next sweep a
# second after the last (before, the removed socket kept its share of its SO_REUSEPORT
# group's flows until then, on kernels before 6.13). A refresh seen within 0.8 s of the
# start of the last poll before the sweep (its SWEPT_AFTER) cannot be that regular sweep.
# One seen later (a busy machine, or a regular sweep) proves nothing: a reload removes the
# next listener (5002, then 5003), each time against the last sweep seen; three such fail.
# The removed listeners' sockets are gone, and the remaining listener answers.
listener_refresh()
{
	local r since port p ms listens removed=""
	# each reload's configuration written before, not in the time measured
	for port in 5001 5002 5003; do
		removed="$removed $port"
		listens=()
		for p in 5001 5002 5003; do
			case " $removed " in
			*" $p "*) ;;
			*) listens+=("listen=$(ep "$RELAY_IP" "$p")") ;;
			esac
		done
		lib_relay_conf "$TMPD/without-$port.conf" backend="$CASE_BACKEND" listen="$to" \
			"${listens[@]}" up="$(ep "$UP1_IP" 9000)" workers=1 max=64 per_source=64 \
			timeout=1.0
	done
	removed=""
	lib_udp "$NS_C" client --to "$to" --port-base 52900 --count 1 --size 64 --expect-echo \
		>/dev/null || lib_case_fail "$c a client before the listeners' removal got no echo"
	# the session expires a second after its datagram at the earliest; a sweep an earlier
	# close left pending may come first
	SWEPT_AFTER=${EPOCHREALTIME/./}
	r=$(refreshes)
	refresh_after "$r" 5 ||
		lib_case_fail "$c no refresh after the session expired ($REFRESHES refreshes)"
	for port in 5001 5002 5003; do
		since=$SWEPT_AFTER
		r=$REFRESHES
		removed="$removed $port"
		cp "$TMPD/without-$port.conf" "$conf"
		"$BUILD/ringrelayctl" -s "$TMPD/run/ctl.sock" reload >/dev/null ||
			lib_case_fail "$c the reload removing :$port failed"
		if ! refresh_after "$r" 3; then
			lib_case_fail "$c a listener removed: no refresh within 3 s ($r, then" \
				"$REFRESHES)"
			break
		fi
		ms=$(((SEEN_AT - since) / 1000))
		if [ "$ms" -lt 800 ]; then
			lib_case_ok "$c a listener removed right after a sweep: receives" \
				"refreshed at once ($r, then $REFRESHES, $ms ms after the sweep at most)"
			break
		fi
		lib_log "note: $c the refresh after :$port's removal was seen $ms ms after the" \
			"last sweep: maybe the next regular one"
		[ "$port" = 5003 ] &&
			lib_case_fail "$c three listeners removed right after a sweep: each" \
				"refresh seen 0.8 s or more after the last sweep, as a regular" \
				"sweep comes, not as the reload was applied"
	done
	for port in $removed; do
		lib_wait_for 2 listener_sockets_le "$port" 0 ||
			lib_case_fail "$c $(listener_sockets "$port") sockets left on the removed" \
				"listener's port $port"
	done
	lib_expect_echo "the remaining listener after the reload" --port-base 52910 --count 2 \
		--size 64
}

# each_case BACKEND FAMILY
each_case()
{
	run_case "$1" "$2"
	# (one family: the refresh is the same code for both, within make check's time)
	if [ "$1" = io_uring ] && [ "$2" = 4 ]; then
		refresh_case "$1" "$2"
	fi
}

lib_each_case each_case
