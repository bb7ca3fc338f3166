#!/bin/bash
# SPDX-License-Identifier: MIT
# Session limits and expiry, per backend and family, with workers = 1, max_sessions = 4 and
# session_timeout = 1.0: a 5th client is dropped and counted while the first 4 keep working;
# once idle sessions expire (sessions_expired rises, also while `ringrelayctl sessions` runs
# more often than the worker's tick) a new client is accepted. All clients
# share one address, so max_sessions_per_source is lifted to max_sessions here (its own test
# is test_session_limits.sh).
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

lib_each_case run_case
