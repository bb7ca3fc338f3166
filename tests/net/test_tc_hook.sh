#!/bin/bash
# SPDX-License-Identifier: MIT
# filter.tc_hook: how ringrelay attaches its tc ingress program (the filter in mode "tc",
# early shedding, the tc fast path), io_uring backend.
# - "clsact" (what kernels before 6.6, Debian 12's 6.1 among them, always get): a classic
#   filter with handle 0x5252, priority 1, on a clsact qdisc ringrelay creates; the filter
#   and shedding run in it (a denied client is dropped, IPv4 and IPv6; an allowed one is
#   relayed); on exit the filter goes, and the qdisc with it.
# - a clsact qdisc that holds someone else's filter (u32, UDP to port 5001 redirected to a
#   dead end): ours
#   filters beside it, theirs still sees and drops what ours passes (ours gives no verdict
#   then, in a clsact filter and in a tcx link), and on exit only ours goes (their filter and
#   the qdisc stay).
# - two daemons on one interface with filter.tc_priority 1 and 2: both filters stay, each
#   filters its own relay's port, B warns of A's filter, A's exit leaves B's.
# - kill -9 leaves our filter (a classic filter outlives its process); the next start
#   replaces it instead of failing or adding a second.
# - a second start of the same configuration is refused (listen ports held, the pid file, or
#   with reuseport_shared and no pid file the control socket answering) before it attaches
#   anything: the running relay keeps its filter; also (control socket) while the first one
#   still loads its program (held there by strace).
# - a reload that changes tc_hook or tc_priority is refused, with the old configuration
#   still in force.
# - "tcx": a BPF link, no qdisc, no classic filter; and shedding alone (filter mode "off")
#   with "clsact" attaches the same classic filter.
# - the tc fast path (offload = "tc") in clsact filters on both links relays a session.
. "$(dirname "$0")/lib.sh"
[ -x "$RINGRELAY" ] || lib_skip "relay binary $RINGRELAY not built"
CTL=$BUILD/ringrelayctl
[ -x "$CTL" ] || lib_skip "ringrelayctl not built"
command -v tc >/dev/null || lib_skip "tc not found"
lib_topology

# Denied sources next to the allowed client.
DENIED4=198.18.1.66
DENIED6=2001:2:0:1::66
lib_nsx "$NS_C" ip addr add $DENIED4/24 dev "$IF_C"
lib_nsx "$NS_C" ip -6 addr add $DENIED6/64 dev "$IF_C" nodad

ctl() { lib_nsx "$NS_R" "$CTL" -s "$TMPD/run/ctl.sock" "$@"; }
tc_filters() { lib_nsx "$NS_R" tc filter show dev "$IF_RC" ingress 2>/dev/null; }
ours() { tc_filters | grep -c 'handle 0x5252' || true; }
has_clsact() { lib_nsx "$NS_R" tc qdisc show dev "$IF_RC" | grep -q clsact; }
# Also when a case failed half-way: the next one starts from a bare interface.
bare() { lib_nsx "$NS_R" tc qdisc del dev "$IF_RC" clsact 2>/dev/null || true; }

# conf_with HOOK MODE: the relay on both families, upstream UP1 port 9000, with a filter in
# MODE ("tc" with the denied sources, or "off") attached by HOOK.
conf_with()
{
	local file=$TMPD/$1-$2.conf rules=""
	[ "$2" = tc ] && rules="interfaces = [ \"$IF_RC\" ]; deny = [ \"$DENIED4/32\", \"$DENIED6/128\" ];"
	lib_relay_conf "$file" listen="198.18.1.2:5000" listen="[2001:2:0:1::2]:5000" \
		up="198.18.2.2:9000"
	echo "filter = { mode = \"$2\"; tc_hook = \"$1\"; $rules };" >>"$file"
	echo "$file"
}

# filtered C: the allowed client is relayed and the denied one gets nothing, both families.
filtered()
{
	local c=$1 fam out
	for fam in 4 6; do
		lib_family $fam
		local denied=$DENIED4
		[ $fam = 6 ] && denied=$DENIED6
		out=$(lib_udp "$NS_C" client --to "$(ep "$RELAY_IP" 5000)" --bind "$CLIENT_IP" \
			--count 5 --size 40 --expect-echo --seconds 10) ||
			lib_case_fail "$c ipv$fam allowed client: $out"
		out=$(lib_udp "$NS_C" client --to "$(ep "$RELAY_IP" 5000)" --bind "$denied" \
			--count 5 --size 40 --expect-none --quiet 0.3) ||
			lib_case_fail "$c ipv$fam denied client: $out"
	done
}

lib_udp_bg "$NS_U" "$TMPD/echo.json" echo --bind "198.18.2.2:9000" --seconds 120
ECHO_PID=$BG_PID

# case_begin: failures are counted from here (f0), on a bare interface.
case_begin()
{
	f0=$LIB_FAILS
	bare
}
# reload_refused C WHAT PATTERN: ringrelayctl reload fails, and its error matches PATTERN.
reload_refused()
{
	local out
	if out=$(ctl reload 2>&1); then
		lib_case_fail "$1 $2 was taken: $out"
	else
		echo "$out" | grep -q "$3" || lib_case_fail "$1 $2 refused without the reason: $out"
	fi
}
# start_with C HOOK MODE: the relay on conf_with HOOK MODE (sets conf); a relay that does not
# start fails case C, the interface is made bare again, and it returns 1.
start_with()
{
	conf=$(conf_with "$2" "$3")
	lib_relay_start "$conf" && return 0
	lib_case_fail "$1 relay did not start"
	bare
	return 1
}
# case_ok C WHAT: C passed unless it failed since f0 was taken; the interface made bare.
case_ok()
{
	[ "$LIB_FAILS" = "$f0" ] && lib_case_ok "$1 $2"
	bare
}

clsact_case()
{
	local c="[clsact]" conf n
	case_begin
	start_with "$c" clsact tc || return
	lib_relay_log_current | grep -q "filter: attached on $IF_RC (tc ingress, clsact filter)" ||
		lib_case_fail "$c no 'attached ... clsact filter' line"
	has_clsact || lib_case_fail "$c no clsact qdisc on $IF_RC"
	n=$(ours)
	[ "$n" = 1 ] || lib_case_fail "$c $n filters with handle 0x5252, want 1: $(tc_filters)"
	# shed_tc, or shed_tc_compat before Linux 6.3.
	lib_relay_log_current | grep -q "shed: on $IF_RC in tc (clsact filter)" ||
		lib_case_fail "$c shedding is not in the clsact filter"
	tc_filters | grep -q "pref 1 .*shed_tc" ||
		lib_case_fail "$c the filter is not shed_tc at priority 1: $(tc_filters)"
	filtered "$c"
	n=$(ctl -j stats | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["filter"]["drop_prefix"])')
	[ "$n" -ge 10 ] || lib_case_fail "$c drop_prefix=$n, want >= 10"
	lib_relay_stop || lib_case_fail "$c relay exit status $? after SIGTERM, want 0"
	has_clsact && lib_case_fail "$c the clsact qdisc it created stayed: $(tc_filters)"
	[ "$LIB_FAILS" = "$f0" ] && lib_case_ok "$c filter and shedding in a clsact filter; qdisc gone on exit"
}

# Someone else's filter, after ours (pref 49000): u32 sends IPv4 UDP to port 5001, where an
# echo listens in NS_R, to a veth whose peer is down (mirred: the one action every kernel
# here has), where it is dropped.
lib_nsx "$NS_R" ip link add rr-sink type veth peer name rr-sink-p
lib_nsx "$NS_R" ip link set rr-sink up
# theirs_sent: the packets their filter's action (mirred) has taken so far.
theirs_sent()
{
	lib_nsx "$NS_R" tc -s filter show dev "$IF_RC" ingress |
		awk '/mirred/ { m = 1 } m && /Sent/ { print $4; exit }'
}
# port_5001 C WHEN echo|none: the echo on port 5001 answers, or does not and their filter's
# action took the three datagrams.
port_5001()
{
	local out before
	before=$(theirs_sent)
	out=$(lib_udp "$NS_C" client --to "198.18.1.2:5001" --count 3 --size 40 \
		$([ "$3" = echo ] && echo --expect-echo || echo --expect-none --quiet 0.3) \
		--seconds 10) || lib_case_fail "$1 $2: port 5001 ($3 wanted): $out"
	[ "$3" = echo ] || [ "$(theirs_sent)" -ge $((${before:-0} + 3)) ] ||
		lib_case_fail "$1 $2: their filter took $(theirs_sent) packets (before: $before), want 3 more"
}

# foreign_case HOOK: ours in HOOK beside their filter: both act (what ours passes goes on to
# theirs: no verdict, not TC_ACT_OK, which would end the chain), and on exit only ours goes.
foreign_case()
{
	local c="[$1, someone else's filter]" conf e5001
	if [ "$1" = tcx ] && ! lib_kernel_ge 6 6; then
		lib_log "skip: $c: no tcx before Linux 6.6"
		return
	fi
	case_begin
	lib_udp_bg "$NS_R" "$TMPD/echo5001.json" echo --bind "198.18.1.2:5001" --seconds 60
	e5001=$BG_PID
	lib_family 4
	port_5001 "$c" "before their filter" echo
	lib_nsx "$NS_R" tc qdisc add dev "$IF_RC" clsact
	lib_nsx "$NS_R" tc filter add dev "$IF_RC" ingress pref 49000 protocol ip u32 \
		match ip protocol 17 0xff match ip dport 5001 0xffff \
		action mirred egress redirect dev rr-sink ||
		lib_case_fail "$c could not add the other filter"
	port_5001 "$c" "their filter alone" none
	if start_with "$c" "$1" tc; then
		filtered "$c"
		port_5001 "$c" "with ours in $1 before it" none
		lib_relay_stop || lib_case_fail "$c relay exit status $? after SIGTERM, want 0"
	fi
	[ "$(ours)" = 0 ] || lib_case_fail "$c our filter stayed: $(tc_filters)"
	tc_filters | grep -q "pref 49000 u32" ||
		lib_case_fail "$c the other filter went: $(tc_filters)"
	lib_stop_pid "$e5001"
	case_ok "$c" "ours filters beside it, theirs still drops what ours passed, ours goes alone"
}

# Two daemons on one interface with classic filters, told apart by filter.tc_priority: A (1,
# the default) relays port 5000 and denies DENIED4; B (2) relays port 5002 and denies the
# allowed client. Each filters its own port, also what the other's filter passed on (no
# verdict) to it, and A's exit leaves B's filter working.
two_daemons_case()
{
	local c="[clsact, two daemons]" confb=$TMPD/b.conf b out n
	case_begin
	start_with "$c" clsact tc || return
	lib_family 4
	cat >"$confb" <<EOF
workers = 1;
io_backend = "io_uring";
control_socket = "$TMPD/run/ctl-b.sock";
relays = ( { name = "b"; listen = [ "198.18.1.2:5002" ]; upstreams = [ "198.18.2.2:9000" ]; } );
filter = { mode = "tc"; interfaces = [ "$IF_RC" ]; tc_hook = "clsact"; tc_priority = 2;
	deny = [ "$CLIENT_IP/32" ]; };
EOF
	lib_bg "$NS_R" sh -c "exec '$RINGRELAY' -f -c '$confb' >>'$TMPD/relay-b.log' 2>&1"
	b=$BG_PID
	lib_wait_for 10 grep -qs ': ready' "$TMPD/relay-b.log" ||
		lib_case_fail "$c B did not start: $(tail -n 5 "$TMPD/relay-b.log")"
	n=$(ours)
	[ "$n" = 2 ] || lib_case_fail "$c $n filters with handle 0x5252, want 2: $(tc_filters)"
	grep -q "filter: $IF_RC: a classic tc filter with ringrelay's handle 0x5252 at priority 1 sees what ours passes" \
		"$TMPD/relay-b.log" || lib_case_fail "$c B did not warn of A's filter at priority 1"
	tc_filters | grep -q "pref 2 .*handle 0x5252" ||
		lib_case_fail "$c no filter of B's at priority 2: $(tc_filters)"
	filtered "$c A:"
	lib_family 4
	out=$(lib_udp "$NS_C" client --to "198.18.1.2:5002" --bind "$CLIENT_IP" --count 5 \
		--size 40 --expect-none --quiet 0.3 --seconds 10) ||
		lib_case_fail "$c B: the client it denies was answered: $out"
	lib_relay_stop || lib_case_fail "$c A's exit status $? after SIGTERM, want 0"
	n=$(ours)
	[ "$n" = 1 ] || lib_case_fail "$c after A's exit $n filters with handle 0x5252, want B's"
	out=$(lib_udp "$NS_C" client --to "198.18.1.2:5002" --bind "$CLIENT_IP" --count 5 \
		--size 40 --expect-none --quiet 0.3 --seconds 10) ||
		lib_case_fail "$c B after A's exit: the client it denies was answered: $out"
	n=$("$CTL" -s "$TMPD/run/ctl-b.sock" -j stats |
		"$PY" -c 'import json,sys; print(json.load(sys.stdin)["filter"]["drop_prefix"])')
	[ "${n:-0}" -ge 10 ] || lib_case_fail "$c B's drop_prefix=$n, want >= 10"
	lib_stop_pid "$b"
	[ "$(ours)" = 0 ] || lib_case_fail "$c a filter stayed after both exits: $(tc_filters)"
	case_ok "$c" "priorities 1 and 2 on one interface: each filters its own, either exits alone"
}

kill_case()
{
	local c="[clsact, kill -9]" conf n
	case_begin
	start_with "$c" clsact tc || return
	kill -KILL "$RELAY_PID"
	wait "$RELAY_PID" 2>/dev/null
	RELAY_PID=
	[ "$(ours)" = 1 ] || lib_case_fail "$c after kill -9: $(tc_filters), want our filter left"
	lib_relay_start "$conf" || { lib_case_fail "$c no restart over the left filter"; bare; return; }
	n=$(ours)
	[ "$n" = 1 ] || lib_case_fail "$c $n filters with handle 0x5252 after the restart, want 1"
	lib_relay_log_current | grep -q "with ringrelay's handle" &&
		lib_case_fail "$c the replaced filter was warned of as another's"
	filtered "$c"
	lib_relay_stop || lib_case_fail "$c relay exit status $? after SIGTERM, want 0"
	[ "$(ours)" = 0 ] || lib_case_fail "$c our filter stayed after the stop: $(tc_filters)"
	case_ok "$c" "the left filter is replaced, then removed"
}

# A second start of the running relay's configuration (an operator's `ringrelay -c` beside
# the service), once with a pid_file both name and once without (the listen ports held): it
# is refused before it touches the host, so A keeps its classic filter (B's would have
# replaced it, then gone with B's exit) and still drops the denied clients.
# second_refused LABEL CONF PATTERN WHAT: a second ringrelay on CONF (A runs) exits 1 with a
# refusal matching PATTERN (else "B's refusal WHAT"), attaches no filter, and A keeps its own.
second_refused()
{
	local out rc n
	out=$(timeout 20 ip netns exec "$NS_R" "$RINGRELAY" -f -c "$2" 2>&1)
	rc=$?
	[ $rc = 1 ] || lib_case_fail "$1 B's exit status $rc, want 1: $out"
	echo "$out" | grep -qE "$3" || lib_case_fail "$1 B's refusal $4: $out"
	echo "$out" | grep -q "filter: attached" &&
		lib_case_fail "$1 B attached its filter before it was refused"
	lib_relay_wait_ready || { lib_case_fail "$1 A is gone after B"; return; }
	n=$(ours)
	[ "$n" = 1 ] || lib_case_fail "$1 after B: $n filters of ours, want A's"
	filtered "$1 A after B:"
}

second_case()
{
	local c="[clsact, second start]" conf2
	case_begin
	start_with "$c" clsact tc || return
	conf2=$TMPD/second.conf
	sed "s|control_socket = \"[^\"]*\"|control_socket = \"$TMPD/run/ctl-2.sock\"|" "$conf" >"$conf2"
	for pidf in none shared; do
		if [ $pidf = shared ]; then
			lib_relay_stop || lib_case_fail "$c A's exit status $?"
			echo "pid_file = \"$TMPD/run/rr.pid\";" >>"$conf"
			echo "pid_file = \"$TMPD/run/rr.pid\";" >>"$conf2"
			lib_relay_start "$conf" || { lib_case_fail "$c A with a pid_file did not start"; bare; return; }
		fi
		second_refused "$c ($pidf pid_file)" "$conf2" \
			"already running as pid $RELAY_PID|in use by pid $RELAY_PID" "does not name A"
	done
	[ -f "$TMPD/run/rr.pid" ] || lib_case_fail "$c B removed A's pid file"
	lib_relay_stop || lib_case_fail "$c A's exit status $?"
	# No pid file, and listeners both may share (reuseport_shared): only A's control socket,
	# which answers, tells. Before, B attached its filter over A's and took it on its way out.
	conf=$(conf_with clsact tc)
	sed -i '/max_sessions/a reuseport_shared = true;' "$conf"
	lib_relay_start "$conf" ||
		{ lib_case_fail "$c A with reuseport_shared did not start"; bare; return; }
	second_refused "$c (reuseport_shared)" "$conf" \
		"control socket .*: another ringrelay is running" "does not name the control socket"
	lib_relay_stop || lib_case_fail "$c A's exit status $?"
	# The same while A still sets up (its program's load held). Before, A made its control
	# socket after attaching: B found none, attached its filter and ran; A then replaced B's
	# filter, was refused on B's control socket, and took the filter with it.
	if ! command -v strace >/dev/null; then
		lib_log "$c: no strace: a second start during A's set-up not tried"
	elif lib_relay_start_held "$conf"; then
		second_refused "$c (reuseport_shared, A setting up)" "$conf" \
			"control socket .*: another ringrelay is running" \
			"does not name the control socket"
		lib_relay_stop || lib_case_fail "$c A's exit status $?"
	else
		lib_case_fail "$c A's first bpf() was not held: $(cat "$TMPD/slow.strace")"
		lib_relay_stop
	fi
	case_ok "$c" "refused before attaching (ports, pid file, control socket, also mid-start)"
}

reload_case()
{
	local c="[clsact, reload to tcx, to another priority]" conf
	case_begin
	start_with "$c" clsact tc || return
	sed -i 's/tc_hook = "clsact"/tc_hook = "tcx"/' "$conf"
	reload_refused "$c" "a reload to tcx" 'tc_hook changed from "clsact" to "tcx"; restart to apply'
	sed -i 's/tc_hook = "tcx"/tc_hook = "clsact"; tc_priority = 3/' "$conf"
	reload_refused "$c" "a reload to priority 3" \
		'tc_priority changed from 1 to 3; restart to apply'
	[ "$(ours)" = 1 ] || lib_case_fail "$c the clsact filter went: $(tc_filters)"
	filtered "$c"
	lib_relay_stop || lib_case_fail "$c relay exit status $? after SIGTERM, want 0"
	case_ok "$c" "refused; the old configuration filters on"
}

tcx_case()
{
	local c="[tcx; shedding alone in clsact]" conf
	if ! lib_kernel_ge 6 6; then
		lib_log "skip: $c: no tcx before Linux 6.6"
		return
	fi
	case_begin
	start_with "$c" tcx tc || return
	lib_relay_log_current | grep -q "filter: attached on $IF_RC (tc ingress, link [0-9]*, prog" ||
		lib_case_fail "$c no tcx link in the log"
	has_clsact && lib_case_fail "$c tcx made a clsact qdisc"
	[ -z "$(tc_filters)" ] || lib_case_fail "$c a classic filter with tcx: $(tc_filters)"
	filtered "$c"
	lib_relay_stop || lib_case_fail "$c relay exit status $? after SIGTERM, want 0"
	conf=$(conf_with clsact off)
	lib_relay_start "$conf" || { lib_case_fail "$c relay did not start (shedding only)"; return; }
	lib_wait_for 5 lib_log_count_ge "shed: on $IF_RC in tc (clsact filter)" 1 ||
		lib_case_fail "$c shedding alone did not take the clsact filter"
	[ "$(ours)" = 1 ] || lib_case_fail "$c shedding alone: $(tc_filters)"
	lib_relay_stop || lib_case_fail "$c relay exit status $? after SIGTERM, want 0"
	has_clsact && lib_case_fail "$c the qdisc stayed after shedding alone"
	case_ok "$c" "a tcx link and no qdisc; shedding alone takes a clsact filter"
}

# The fast path in tc (offload = "tc") on the client and upstream links, in clsact filters:
# an established session's datagrams are relayed by the program.
forwarded() { ctl stats | awk '$1 == "forwarded" { print $2 }'; }
# still_fast C: 20 more datagrams of the session, and the program forwarded more.
still_fast()
{
	local before out
	before=$(forwarded)
	out=$(lib_udp "$NS_C" client --to "198.18.1.2:5000" --bind "$CLIENT_IP" --count 20 \
		--size 40 --expect-echo --seconds 10) || lib_case_fail "$1: client: $out"
	[ "$(forwarded)" -gt "${before:-0}" ] ||
		lib_case_fail "$1: the fast path forwarded nothing more ($before): $(ctl status | grep -i offload)"
}
offload_case()
{
	local c="[clsact, tc fast path]" conf=$TMPD/offload.conf out fwd q
	case_begin
	lib_forwarding on
	lib_family 4
	cat >"$conf" <<EOF
workers = 1;
io_backend = "io_uring";
control_socket = "$TMPD/run/ctl.sock";
relays = ( { name = "t"; listen = [ "198.18.1.2:5000" ]; upstreams = [ "198.18.2.2:9000" ];
	offload = "tc"; } );
filter = { mode = "off"; tc_hook = "clsact"; };
EOF
	lib_relay_start "$conf" || { lib_case_fail "$c relay did not start"; lib_forwarding off; return; }
	out=$(lib_udp "$NS_C" client --to "198.18.1.2:5000" --bind "$CLIENT_IP" --count 40 \
		--size 40 --expect-echo --seconds 10) || lib_case_fail "$c client: $out"
	fwd=$(forwarded)
	[ "${fwd:-0}" -gt 0 ] || lib_case_fail "$c the fast path forwarded nothing: $(ctl stats)"
	# Reloads the program cannot follow leave the fast path on: one that changes tc_hook
	# (refused whole), one that turns the filter on (a restart-only change: the relays
	# take the rest, the fast path stays on the running program).
	sed -i 's/tc_hook = "clsact"/tc_hook = "tcx"/' "$conf"
	reload_refused "$c" "a reload to tcx" 'tc_hook changed from "clsact" to "tcx"'
	still_fast "$c after the refused tc_hook change"
	sed -i "s/mode = \"off\"; tc_hook = \"tcx\"/mode = \"tc\"; interfaces = [ \"$IF_RC\" ]; tc_hook = \"clsact\"/" "$conf"
	reload_refused "$c" "a reload that turns the filter on" \
		"applied to the relays, but: filter: mode or interfaces changed; restart to apply"
	still_fast "$c after the filter-mode change"
	fwd=$(forwarded)
	for q in "$IF_RC" "$IF_RU"; do
		lib_nsx "$NS_R" tc filter show dev "$q" ingress | grep -q 'handle 0x5252' ||
			lib_case_fail "$c no clsact filter on $q"
	done
	lib_relay_stop || lib_case_fail "$c relay exit status $? after SIGTERM, want 0"
	for q in "$IF_RC" "$IF_RU"; do
		lib_nsx "$NS_R" tc qdisc show dev "$q" | grep -q clsact &&
			lib_case_fail "$c the clsact qdisc stayed on $q"
	done
	lib_forwarding off
	case_ok "$c" "$fwd datagrams forwarded by the program"
}

clsact_case
foreign_case clsact
foreign_case tcx
two_daemons_case
kill_case
second_case
reload_case
tcx_case
offload_case
lib_stop_pid "$ECHO_PID"
lib_done
