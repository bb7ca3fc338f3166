#!/bin/bash
# SPDX-License-Identifier: MIT
# Balance modes, per backend (io_uring in IPv4, mmsg in IPv6), with two sinks as upstreams and
# one session per client (one datagram each, so each sink line is one session):
#   rr with weights 1:3 over 200 clients splits about 50:150;
#   hash sends a client port to the same upstream again after its session expired;
#   maglev over two equal upstreams splits 200 clients within tolerance.
. "$(dirname "$0")/lib.sh"
lib_topology

# Per-upstream session counts come from the sinks' records, via the "PORT:CLIENT:SEQ" key.
start_sinks()
{
	rec1=$TMPD/$1-1.rec
	rec2=$TMPD/$1-2.rec
	rm -f "$rec1" "$rec2"
	lib_udp_bg "$NS_U" "$TMPD/s1.json" sink --bind "$(ep "$UP1_IP" 9000)" --out "$rec1"
	sink1=$BG_PID
	lib_udp_bg "$NS_U" "$TMPD/s2.json" sink --bind "$(ep "$UP2_IP" 9000)" --out "$rec2"
	sink2=$BG_PID
}
stop_all()
{
	lib_relay_stop || lib_case_fail "$c relay exit status $? after SIGTERM, want 0"
	lib_stop_pid "$sink1"
	lib_stop_pid "$sink2"
}
both_lines() { [ $(($(lib_lines "$rec1") + $(lib_lines "$rec2"))) -ge "$1" ]; }
# in_range V LO HI
in_range() { [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }

# run_case BACKEND FAMILY: the whole test for one backend and one address family.
run_case()
{
	local backend=$1 fam=$2
	lib_family "$fam"
	to=$(ep "$RELAY_IP" 5000)

	# rr, weights 1:3 -> expect 50:150 of 200 sessions.
	c="[$backend/ipv$fam rr]"
	conf=$TMPD/rr-$backend-$fam.conf
	lib_relay_conf "$conf" backend="$backend" balance=rr listen="$to" \
		up="$(ep "$UP1_IP" 9000)" up="$(ep "$UP2_IP" 9000) weight=3"
	start_sinks "rr-$backend-$fam"
	if lib_relay_start "$conf"; then
		lib_expect_backend "$backend" || lib_case_fail "$c no 'backend' log line"
		out=$(lib_udp "$NS_C" client --to "$to" --clients 200 --count 1 --size 32) ||
			lib_case_fail "$c client: $out"
		lib_wait_for 10 both_lines 200
		n1=$(lib_lines "$rec1") n2=$(lib_lines "$rec2")
		if [ $((n1 + n2)) -eq 200 ] && in_range "$n1" 35 65 && in_range "$n2" 135 165; then
			lib_case_ok "$c weights 1:3 -> $n1:$n2"
		else
			lib_case_fail "$c weights 1:3 -> $n1:$n2, want 200 in about 50:150 (+-15)"
		fi
	else
		lib_case_fail "$c relay did not start"
	fi
	stop_all

	# hash: the same client port lands on the same upstream after its session expired.
	c="[$backend/ipv$fam hash]"
	conf=$TMPD/hash-$backend-$fam.conf
	lib_relay_conf "$conf" backend="$backend" balance=hash timeout=1.0 listen="$to" \
		up="$(ep "$UP1_IP" 9000)" up="$(ep "$UP2_IP" 9000)"
	start_sinks "hash-$backend-$fam"
	if lib_relay_start "$conf"; then
		out=$(lib_udp "$NS_C" client --to "$to" --clients 40 --port-base 49000 \
			--count 1 --size 32) || lib_case_fail "$c round 1: $out"
		lib_wait_for 10 both_lines 40
		lib_wait_stat sessions_expired -ge 40 10 ||
			lib_case_fail "$c sessions_expired=$LAST_STAT after 1 s idle, want 40"
		out=$(lib_udp "$NS_C" client --to "$to" --clients 40 --port-base 49000 \
			--count 1 --size 32) || lib_case_fail "$c round 2: $out"
		lib_wait_for 10 both_lines 80
		# A port seen by both sinks moved between upstreams.
		moved=$(cat <(awk '{split($4, k, ":"); print k[1]}' "$rec1" | sort -u) \
			<(awk '{split($4, k, ":"); print k[1]}' "$rec2" | sort -u) |
			sort | uniq -d | wc -l)
		n1=$(lib_lines "$rec1") n2=$(lib_lines "$rec2")
		if [ "$moved" -eq 0 ] && [ $((n1 + n2)) -eq 80 ]; then
			lib_case_ok "$c 40 ports x 2 sessions, none moved (split $n1:$n2)"
		else
			lib_case_fail "$c $moved of 40 client ports moved upstream between" \
				"sessions; $((n1 + n2)) of 80 datagrams arrived (split $n1:$n2)"
		fi
	else
		lib_case_fail "$c relay did not start"
	fi
	stop_all

	# maglev over two equal upstreams: 200 sessions within 100 +- 40 each.
	c="[$backend/ipv$fam maglev]"
	conf=$TMPD/maglev-$backend-$fam.conf
	lib_relay_conf "$conf" backend="$backend" balance=maglev listen="$to" \
		up="$(ep "$UP1_IP" 9000)" up="$(ep "$UP2_IP" 9000)"
	start_sinks "maglev-$backend-$fam"
	if lib_relay_start "$conf"; then
		out=$(lib_udp "$NS_C" client --to "$to" --clients 200 --count 1 --size 32) ||
			lib_case_fail "$c client: $out"
		lib_wait_for 10 both_lines 200
		n1=$(lib_lines "$rec1") n2=$(lib_lines "$rec2")
		if [ $((n1 + n2)) -eq 200 ] && in_range "$n1" 60 140; then
			lib_case_ok "$c equal weights -> $n1:$n2"
		else
			lib_case_fail "$c equal weights -> $n1:$n2, want 200 within 100 +- 40 each"
		fi
	else
		lib_case_fail "$c relay did not start"
	fi
	stop_all
}

# Each backend once and each family once, io_uring in IPv4 and mmsg in IPv6: the balancers
# (balance.c) take the address as one 16-byte key, whatever its family.
for backend in $(lib_backends); do
	case $backend in
	io_uring) run_case "$backend" 4 ;;
	*) run_case "$backend" 6 ;;
	esac
done
lib_done
