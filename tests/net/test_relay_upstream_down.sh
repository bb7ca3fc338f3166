#!/bin/bash
# SPDX-License-Identifier: MIT
# Upstream down, then up, per backend and family: with nothing listening upstream the
# upstream's ICMP port unreachable errors are counted (as notices when a receive reports one,
# as drop_upstream_unreachable when a send fails on one, as drop_send_error) and the relay
# keeps running without spinning (the ICMP errors queued on the session's socket by
# IP_RECVERR are read away: a relay that left them would see its socket readable forever);
# once the upstream starts, the same client (same port, same session) gets its replies.
. "$(dirname "$0")/lib.sh"
lib_topology

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
	# CPU time of the idle relay over 2 s (a measurement interval, not a wait for a
	# condition): a loop that never sleeps takes most of a core.
	t0=$(awk '{ print $14 + $15 }' "/proc/$RELAY_PID/stat")
	sleep 2
	t1=$(awk '{ print $14 + $15 }' "/proc/$RELAY_PID/stat")
	if [ $((t1 - t0)) -le $((2 * $(getconf CLK_TCK) / 5)) ]; then
		lib_case_ok "$c idle with a dead upstream: $((t1 - t0)) CPU ticks in 2 s"
	else
		lib_case_fail "$c spins with a dead upstream: $((t1 - t0)) CPU ticks in 2 s," \
			"want <= $((2 * $(getconf CLK_TCK) / 5))"
	fi

	lib_case_echo
	if out=$(lib_udp "$NS_C" client --to "$to" --port-base 47000 --count 5 --size 50 \
		--expect-echo); then
		lib_case_ok "$c replies once the upstream is up: $out"
	else
		lib_case_fail "$c no replies after the upstream came up: $out"
	fi
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

lib_each_case run_case
