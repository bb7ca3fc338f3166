#!/bin/bash
# SPDX-License-Identifier: MIT
# Upstreams an operator can trust (issue 13), per address family:
#   eject:   an upstream with no listener is ejected after its ICMP unreachable errors and
#            new clients all get answers from the other (rr, hash, maglev); it returns once
#            it listens again and its ejection time is over;
#   check:   active health checks take an upstream down (fall) and back up (rise), one log
#            line each;
#   move:    a client that keeps its port and keeps sending leaves an upstream that died and
#            was ejected under it (upstream_down = "move", the default): its session ends
#            within a worker tick and its next datagram opens one on the other upstream;
#            with "keep" it stays, and loses everything (IPv4);
#   drain:   `upstream disable` sends no new sessions to it while an existing one goes on,
#            survives a reload, and `upstream enable` takes it back;
#   names:   an upstream name resolved through this namespace's hosts file (all addresses
#            become upstreams), re-resolved every resolve_interval; resolved again to an
#            address behind another interface, the fast path follows it; a failing lookup
#            keeps the addresses and shows in upstreams; a resolver that does not answer
#            holds neither the health checks, other relays, status or link events during a
#            reload, nor a stop;
#   sums:    per-upstream counters add up to the relay's (both backends);
#   host:    an upstream address no neighbour answers for: host unreachable counted as a
#            notice, not a session socket error (both backends);
#   noreply: replies too long for the buffers are no replies for reply_timeout (both);
#   source:  a transparent mirror's two members each see the client's address and port on
#            every datagram (the io_uring backend sent every copy to the last member before)
#            and count their copies,
#            and a transparent forward relay gets its replies through the documented policy
#            routes; clients sending from port 514 and from a wildcard listener's own port
#            are relayed too (mirror and forward also with mmsg, in IPv4);
#   replies: a transparent mirror with one member dead still sends every copy to the other
#            (the dead one's ICMP errors failed the shared socket's next sends), and reads
#            and drops what the members send back (both backends).
# Drain, sums and the checks' fwmark run in IPv4 only (see the main loop).
. "$(dirname "$0")/lib.sh"
lib_topology
CTL=$BUILD/ringrelayctl
[ -x "$CTL" ] || lib_skip "$CTL not built"
HOSTS_DIR=/etc/netns/$NS_R
trap 'rc=$?; rm -rf "$HOSTS_DIR"; (exit $rc); lib_cleanup' EXIT

ctl() { "$CTL" -s "$TMPD/run/ctl.sock" "$@"; }
# ctl_json EXPR COMMAND...: the Python expression EXPR of d, the answer of `ringrelayctl -j
# COMMAND...`
ctl_json()
{
	ctl -j "${@:2}" |
		"$PY" -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}
# up_field RELAY LABEL_OR_ADDRESS FIELD: one field of `upstreams -j` (first match).
up_field()
{
	ctl -j upstreams "$1" | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
for u in d["upstreams"]:
    if sys.argv[1] in (u["upstream"], u["address"]):
        print(u[sys.argv[2]]); break' "$2" "$3"
}
state_is() { [ "$(up_field t "$1" state)" = "$2" ]; }
# conf_extra FILE TEXT: append TEXT inside the (only) relay of a lib_relay_conf file.
conf_extra()
{
	"$PY" - "$1" "$2" <<'PYEOF'
import sys
p, extra = sys.argv[1], sys.argv[2]
s = open(p).read()
i = s.index("max_sessions")
j = s.index("\n", i)
open(p, "w").write(s[:j + 1] + "\t\t" + extra + "\n" + s[j + 1:])
PYEOF
}

# ---- eject: rr, hash, maglev
eject_case()
{
	local fam=$1 bal=$2 up1 up2 out
	lib_case_begin "eject-$bal" io_uring "$fam"
	c="[ipv$fam $bal eject]"
	up1=$(ep "$UP1_IP" 9000) up2=$(ep "$UP2_IP" 9000)
	lib_case_server "$TMPD/e1.json" echo --bind "$up1"
	lib_relay_conf "$conf" backend=io_uring listen="$to" up="$up1" up="$up2" balance="$bal"
	# The ejection outlasts the 30 clients below also on a slow machine (NET_WAIT_SCALE).
	conf_extra "$conf" "max_fails = 2; fail_timeout = $((15 * WAIT_SCALE / 10)).$((15 * WAIT_SCALE % 10));"
	if ! lib_relay_start "$conf"; then
		lib_case_fail "$c relay did not start"
		lib_case_stop_helpers
		return
	fi
	# Clients that land on the dead upstream draw ICMP port unreachable.
	lib_udp "$NS_C" client --to "$to" --clients 16 --count 3 --interval 0.01 \
		--port-base 41000 --round-wait 0.3 >/dev/null
	if lib_wait_for 5 state_is "$up2" ejected; then
		lib_case_ok "$c $up2 ejected"
	else
		lib_case_fail "$c $up2 state $(up_field t "$up2" state), want ejected"
	fi
	if out=$(lib_udp "$NS_C" client --to "$to" --clients 30 --count 2 --port-base 42000 \
		--expect-echo); then
		lib_case_ok "$c 30 new clients all answered while $up2 is ejected"
	else
		lib_case_fail "$c new clients while $up2 is ejected: $out"
	fi
	lib_case_server "$TMPD/e2.json" echo --bind "$up2" --out "$TMPD/e2-$bal-$fam.rec"
	if lib_wait_for 8 state_is "$up2" up; then
		lib_case_ok "$c $up2 back after its ejection time"
	else
		lib_case_fail "$c $up2 state $(up_field t "$up2" state), want up"
	fi
	out=$(lib_udp "$NS_C" client --to "$to" --clients 30 --count 2 --port-base 43000 \
		--expect-echo) || lib_case_fail "$c clients after the return: $out"
	if [ "$(lib_lines "$TMPD/e2-$bal-$fam.rec")" -gt 0 ]; then
		lib_case_ok "$c $up2 takes new sessions again"
	else
		lib_case_fail "$c $up2 got no new session after its return"
	fi
	lib_case_end
}

# ---- a member without a route (198.18.99.1): the connect of its sessions fails at once, which
# passive health counts as unreachable (before: a socket error of the relay alone, so the
# member was never ejected and the clients picked for it were lost for good)
noroute_case()
{
	local up1 up2=198.18.99.1:9000 out
	lib_case_begin noroute io_uring 4
	c="[ipv4 rr, a member without a route]"
	up1=$(ep "$UP1_IP" 9000)
	lib_case_server "$TMPD/nr.json" echo --bind "$up1"
	lib_relay_conf "$conf" backend=io_uring listen="$to" up="$up1" up="$up2"
	conf_extra "$conf" "max_fails = 2; fail_timeout = 30;"
	lib_case_start_conf || return
	lib_udp "$NS_C" client --to "$to" --clients 8 --count 1 --port-base 41500 \
		--round-wait 0.3 >/dev/null
	if lib_wait_for 5 state_is "$up2" ejected &&
		lib_wait_stat drop_upstream_unreachable -ge 2 2; then
		lib_case_ok "$c $up2 ejected, $LAST_STAT datagrams counted unreachable"
	else
		lib_case_fail "$c $up2 state $(up_field t "$up2" state), want ejected;" \
			"drop_upstream_unreachable=$(lib_stat drop_upstream_unreachable)"
	fi
	if out=$(lib_udp "$NS_C" client --to "$to" --clients 16 --count 2 --port-base 42500 \
		--expect-echo); then
		lib_case_ok "$c 16 new clients all answered while $up2 is ejected"
	else
		lib_case_fail "$c new clients while $up2 is ejected: $out"
	fi
	lib_case_end
}

# ---- upstream_down: move (the default), keep
# move_case MODE: the client's session is on up1 (rr: the first one); up1's echo stops, and
# the client sends 16 more from the same port, 50 ms apart (each waiting up to 0.1 s for its
# echo): its first ones draw the ICMP errors that eject up1 (max_fails = 2, judged every
# 100 ms). "move": the worker's next tick (at most 1 s later) ends the session
# (sessions_moved) and the client's next datagram is answered by up2. "keep": none is.
# Before, the session stayed on up1 whatever the setting (review-balance finding 1).
move_case()
{
	local mode=$1 up1 up2 out got moved echo1 extra="max_fails = 2; fail_timeout = 30;"
	lib_case_begin "move-$mode" io_uring 4
	c="[ipv4 upstream_down $mode]"
	up1=$(ep "$UP1_IP" 9000) up2=$(ep "$UP2_IP" 9000)
	lib_case_server "$TMPD/m1.json" echo --bind "$up1"
	echo1=$BG_PID
	lib_case_server "$TMPD/m2.json" echo --bind "$up2"
	lib_relay_conf "$conf" backend=io_uring listen="$to" up="$up1" up="$up2"
	# ("move" as the default: not written)
	[ "$mode" = keep ] && extra="$extra upstream_down = \"keep\";"
	conf_extra "$conf" "$extra"
	lib_case_start_conf || return
	lib_udp "$NS_C" client --to "$to" --count 2 --port-base 47700 --expect-echo >/dev/null ||
		lib_case_fail "$c no echo before up1 stopped"
	lib_stop_pid "$echo1"
	out=$(lib_udp "$NS_C" client --to "$to" --count 16 --interval 0.05 --round-wait 0.1 \
		--port-base 47700 --expect-echo)
	got=$(echo "$out" | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["received"])')
	moved=$(lib_stat sessions_moved t)
	state_is "$up1" ejected || lib_case_fail "$c $up1 state $(up_field t "$up1" state), want ejected"
	if [ "$mode" = move ] && [ "${got:-0}" -ge 4 ] && [ "$moved" = 1 ]; then
		lib_case_ok "$c the client moved to $up2: $got of 16 answered (the first" \
			"$((16 - got)) lost, 0.15 s each), sessions_moved=$moved"
	elif [ "$mode" = keep ] && [ "$got" = 0 ] && [ "$moved" = 0 ]; then
		lib_case_ok "$c the client stayed on $up1: none of 16 answered, sessions_moved=0"
	else
		lib_case_fail "$c $got of 16 answered, sessions_moved='$moved' (want >= 4 and 1" \
			"with move, 0 and 0 with keep): $out"
	fi
	lib_case_end
}

# ---- active checks: fall, then rise
check_case()
{
	local fam=$1 up1 up2 n
	lib_case_begin check io_uring "$fam"
	c="[ipv$fam check]"
	up1=$(ep "$UP1_IP" 9000) up2=$(ep "$UP2_IP" 9000)
	lib_case_server "$TMPD/c1.json" echo --bind "$up1"
	lib_relay_conf "$conf" backend=io_uring listen="$to" up="$up1" up="$up2"
	conf_extra "$conf" 'health_check = { interval = 0.2; timeout = 0.15; rise = 2; fall = 2; send = "hex:70 69 6e 67"; expect = "ping"; };'
	lib_case_start_conf || return
	if lib_wait_for 5 state_is "$up2" down; then
		lib_case_ok "$c $up2 down after 2 failed checks"
	else
		lib_case_fail "$c $up2 state $(up_field t "$up2" state), want down"
	fi
	state_is "$up1" up || lib_case_fail "$c $up1 state $(up_field t "$up1" state), want up"
	# Checks turned off by a reload take their verdict with them; on again, they find it.
	cp "$conf" "$conf.checks"
	sed -i '/health_check = /d' "$conf"
	kill -HUP "$RELAY_PID"
	if lib_wait_for 5 state_is "$up2" up; then
		lib_case_ok "$c $up2 up once a reload turned the checks off"
	else
		lib_case_fail "$c $up2 state $(up_field t "$up2" state) with the checks off, want up"
	fi
	cp "$conf.checks" "$conf"
	kill -HUP "$RELAY_PID"
	lib_wait_for 5 state_is "$up2" down ||
		lib_case_fail "$c $up2 state $(up_field t "$up2" state) with the checks on again"
	lib_case_server "$TMPD/c2.json" echo --bind "$up2"
	local echo2=$BG_PID
	if lib_wait_for 5 state_is "$up2" up; then
		lib_case_ok "$c $up2 up after 2 good checks"
	else
		lib_case_fail "$c $up2 state $(up_field t "$up2" state), want up"
	fi
	# down, then (checks off and on again by reloads) down once more
	n=$(lib_relay_log_current | grep -F "upstream $up2 (" | grep -c "is down")
	[ "$n" = 2 ] || lib_case_fail "$c $n 'is down' log lines, want 2"
	n=$(lib_relay_log_current | grep -F "upstream $up2 (" | grep -c "is up again")
	[ "$n" = 1 ] || lib_case_fail "$c $n 'is up again' log lines, want 1"
	if [ "$fam" = 4 ]; then
		# an interval a reload shortens applies at once (the next check waited for the
		# old interval: an hour here, the member's verdict frozen that long)
		sed -i 's/interval = 0.2;/interval = 3600;/' "$conf"
		lib_relay_hup || lib_case_fail "$c the reload to interval = 3600 did not apply"
		sleep 0.6 # the check due goes out, and the next is an hour away
		lib_stop_pid "$echo2"
		sed -i 's/interval = 3600;/interval = 0.2;/' "$conf"
		lib_relay_hup || lib_case_fail "$c the reload to interval = 0.2 did not apply"
		if lib_wait_for 3 state_is "$up2" down; then
			lib_case_ok "$c down within 3 s of a reload from interval 3600 to 0.2"
		else
			lib_case_fail "$c $up2 state $(up_field t "$up2" state) 3 s after the" \
				"interval went from 3600 to 0.2, want down"
		fi
	fi
	lib_case_end
}

# ---- health checks take the relay's fwmark
# mark_routes add|del FAM: from NS_R, UP1 is reachable only through the policy routes of
# fwmark 7 (table 101); the main table has it unreachable.
mark_routes()
{
	local host=$UP1_IP/32
	[ "$2" = 6 ] && host=$UP1_IP/128
	lib_nsx "$NS_R" ip -"$2" rule "$1" fwmark 7 lookup 101 priority 101
	lib_nsx "$NS_R" ip -"$2" route "$1" "$host" dev "$IF_RU" table 101
	lib_nsx "$NS_R" ip -"$2" route "$1" unreachable "$host"
}

# The relay's probes carry its fwmark, so they take the routes its datagrams take: the
# upstream stays up (before: the probes went unmarked into the unreachable route, and the
# upstream its traffic reached was marked down within a second).
mark_check_case()
{
	local fam=$1 up1 out
	lib_case_begin check-mark io_uring "$fam"
	c="[ipv$fam check, fwmark]"
	up1=$(ep "$UP1_IP" 9000)
	lib_case_server "$TMPD/cm.json" echo --bind "$up1" --out "$TMPD/cm-$fam.rec"
	mark_routes add "$fam"
	lib_relay_conf "$conf" backend=io_uring listen="$to" up="$up1"
	conf_extra "$conf" 'fwmark = 7; health_check = { interval = 0.2; timeout = 0.15; rise = 2; fall = 2; send = "hex:70 69 6e 67"; expect = "ping"; };'
	if lib_case_start_conf; then
		# Six probes reach the upstream (a second of checks; unmarked, none would), and the
		# upstream is still up: two failed checks in a row would have taken it down.
		lib_wait_lines "$TMPD/cm-$fam.rec" 6 5 ||
			lib_case_fail "$c $(lib_lines "$TMPD/cm-$fam.rec") probes reached $up1 in 5 s, want 6"
		if state_is "$up1" up && ! lib_log_count_ge "is down" 1; then
			lib_case_ok "$c $up1 up after $(lib_lines "$TMPD/cm-$fam.rec") checks through the" \
				"policy routes"
		else
			lib_case_fail "$c $up1 $(up_field t "$up1" state) after" \
				"$(lib_lines "$TMPD/cm-$fam.rec") checks:" \
				"$(lib_relay_log_current | grep "is down" | head -n 1)"
		fi
		if out=$(lib_udp "$NS_C" client --to "$to" --clients 1 --count 3 \
			--port-base 48300 --expect-echo); then
			lib_case_ok "$c datagrams through the policy routes"
		else
			lib_case_fail "$c $out"
		fi
		lib_case_end
	fi
	mark_routes del "$fam"
}

lib_case_start_conf()
{
	if ! lib_relay_start "$conf"; then
		lib_case_fail "$c relay did not start"
		lib_case_stop_helpers
		return 1
	fi
}

# ---- drain
drain_case()
{
	local fam=$1 up1 up2 before out
	lib_case_begin drain io_uring "$fam"
	c="[ipv$fam drain]"
	up1=$(ep "$UP1_IP" 9000) up2=$(ep "$UP2_IP" 9000)
	lib_case_server "$TMPD/d1.json" echo --bind "$up1" --out "$TMPD/d1-$fam.rec"
	lib_case_server "$TMPD/d2.json" echo --bind "$up2" --out "$TMPD/d2-$fam.rec"
	lib_relay_conf "$conf" backend=io_uring listen="$to" up="$up1" up="$up2"
	lib_case_start_conf || return
	# One session per upstream (rr): the second one (port 44001) is on up2.
	lib_udp "$NS_C" client --to "$to" --clients 2 --count 1 --port-base 44000 \
		--expect-echo >/dev/null || lib_case_fail "$c first sessions"
	out=$(ctl upstream disable t "$up2") || lib_case_fail "$c disable: $out"
	state_is "$up2" disabled || lib_case_fail "$c state $(up_field t "$up2" state)"
	before=$(lib_lines "$TMPD/d2-$fam.rec")
	out=$(lib_udp "$NS_C" client --to "$to" --clients 20 --count 1 --port-base 45000 \
		--expect-echo) || lib_case_fail "$c new clients while drained: $out"
	[ "$(lib_lines "$TMPD/d2-$fam.rec")" = "$before" ] ||
		lib_case_fail "$c a new session went to the drained $up2"
	# The existing sessions go on, wherever they are.
	out=$(lib_udp "$NS_C" client --to "$to" --clients 2 --count 1 --port-base 44000 \
		--expect-echo) || lib_case_fail "$c existing sessions: $out"
	[ "$(lib_lines "$TMPD/d2-$fam.rec")" -gt "$before" ] ||
		lib_case_fail "$c the existing session on $up2 ended"
	ctl reload >/dev/null || lib_case_fail "$c reload failed"
	state_is "$up2" disabled || lib_case_fail "$c after reload: $(up_field t "$up2" state)"
	ctl upstream enable t "$up2" >/dev/null || lib_case_fail "$c enable failed"
	state_is "$up2" up || lib_case_fail "$c after enable: $(up_field t "$up2" state)"
	before=$(lib_lines "$TMPD/d2-$fam.rec")
	lib_udp "$NS_C" client --to "$to" --clients 20 --count 1 --port-base 46000 \
		--expect-echo >/dev/null || lib_case_fail "$c clients after enable"
	if [ "$(lib_lines "$TMPD/d2-$fam.rec")" -gt "$before" ]; then
		lib_case_ok "$c drained, kept across a reload, enabled again"
	else
		lib_case_fail "$c $up2 gets no new sessions after enable"
	fi
	lib_case_end
}

# hosts_dir: the relay namespace's own /etc/hosts and /etc/resolv.conf (ip netns exec mounts
# them): a name the hosts file lacks fails at once, never asking the host's DNS.
hosts_dir()
{
	mkdir -p "$HOSTS_DIR"
	printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$HOSTS_DIR/resolv.conf"
	# names from these files alone, whatever the host's nsswitch says (nss-resolve
	# would ask the host's resolver, out of the namespace)
	printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n' \
		>"$HOSTS_DIR/nsswitch.conf"
}

# ---- names from the namespace's hosts file
names_case()
{
	local out n
	lib_case_begin names io_uring 4
	c="[names]"
	hosts_dir
	printf '127.0.0.1 localhost\n198.18.2.2 up.test\n2001:2:0:2::2 up.test\n%s relay.test\n' \
		"$RELAY_IP" >"$HOSTS_DIR/hosts"
	lib_case_server "$TMPD/n4.json" echo --bind "$(ep 198.18.2.2 9000)"
	lib_case_server "$TMPD/n6.json" echo --bind "$(ep 2001:2:0:2::2 9000)"
	lib_relay_conf "$conf" backend=io_uring listen="$to" up="up.test:9000"
	conf_extra "$conf" "resolve_interval = 0.2; offload = \"tc\";"
	lib_case_start_conf || return
	n=$(ctl_json 'len(d["upstreams"])' upstreams t)
	[ "$n" = 2 ] && lib_case_ok "$c up.test:9000 -> 2 upstreams" ||
		lib_case_fail "$c up.test:9000 -> $n upstreams, want 2 (both families)"
	# A drain by the name ends when one of its addresses is enabled (before: "enabled" was
	# answered and both stayed drained, the name's record untouched).
	ctl upstream disable t up.test:9000 >/dev/null || lib_case_fail "$c disable up.test:9000"
	state_is 198.18.2.2:9000 disabled ||
		lib_case_fail "$c after disable: $(up_field t 198.18.2.2:9000 state)"
	ctl upstream enable t 198.18.2.2:9000 >/dev/null || lib_case_fail "$c enable an address"
	if state_is 198.18.2.2:9000 up && state_is "[2001:2:0:2::2]:9000" up; then
		lib_case_ok "$c a drain by name ended by enabling one of its addresses"
	else
		lib_case_fail "$c after enabling 198.18.2.2:9000: $(up_field t 198.18.2.2:9000 state)" \
			"$(up_field t "[2001:2:0:2::2]:9000" state), want up up"
	fi
	# The fast path routes to the name's addresses, not to an entry with none (which took
	# loopback's route and turned it off): the upstream side's interface is in its set.
	out=$(ctl -j status | "$PY" -c '
import json, sys
r = json.load(sys.stdin)["relays"][0]
print(r["offload"]["mode"], r["upstreams"][0]["address"], "|", r["offload"]["why"])')
	case $out in
	"tc up.test:9000 |"*"$IF_RU"*) lib_case_ok "$c fast path and status with a name: $out" ;;
	*) lib_case_fail "$c fast path and status with a name: $out" ;;
	esac
	# -V judges names by their addresses too: the upstream's for the fast path, a listen
	# name's for shedding (both were judged as loopback).
	sed "s/\"$to\"/\"relay.test:5000\"/" "$conf" >"$TMPD/names-v.conf"
	out=$(lib_nsx "$NS_R" "$RINGRELAY" -V -c "$TMPD/names-v.conf" 2>&1)
	# what each name resolves to, sorted: IPv4 first
	local want_up="  relay t: upstream up.test:9000 -> 198.18.2.2:9000, \[2001:2:0:2::2\]:9000"
	if echo "$out" | grep -qx "  relay t: listen relay.test:5000 -> $RELAY_IP:5000" &&
		echo "$out" | grep -qx "$want_up"; then
		lib_case_ok "$c -V names:" \
			"$(echo "$out" | grep -E "^  relay t: (listen|upstream) " | tr -s ' \n' ' ')"
	else
		lib_case_fail "$c -V names: $(echo "$out" | grep -A3 "^names")"
	fi
	out=$(echo "$out" | grep -E "^  relay t: (offload|shed) ")
	if echo "$out" | grep -q "offload = \"tc\" -> tc: .*$IF_RU" &&
		echo "$out" | grep -q "shed = \"auto\" -> on: .*$IF_RC"; then
		lib_case_ok "$c -V with names: $(echo $out)"
	else
		lib_case_fail "$c -V with names: $(echo $out)"
	fi
	out=$(lib_udp "$NS_C" client --to "$to" --clients 10 --count 2 --expect-echo) ||
		lib_case_fail "$c clients: $out"
	# The same inode (a bind mount follows it): the name loses its IPv6 address.
	printf '127.0.0.1 localhost\n198.18.2.2 up.test\n' >"$HOSTS_DIR/hosts"
	if lib_wait_for 5 names_one; then
		lib_case_ok "$c re-resolved: 1 upstream"
	else
		lib_case_fail "$c not re-resolved to 1 upstream"
	fi
	out=$(lib_udp "$NS_C" client --to "$to" --clients 10 --count 2 --port-base 47000 \
		--expect-echo) || lib_case_fail "$c clients after re-resolution: $out"
	# The entry written as the address instead: its sessions stay, counted by the member's
	# new slot (before: 0 there, while the freed slot went on counting them).
	sed -i 's|"up.test:9000"|"198.18.2.2:9000"|' "$conf"
	lib_relay_hup || lib_case_fail "$c reload to the literal address"
	n=$(ctl_json 'd["total"]' sessions t)
	out=$(up_field t 198.18.2.2:9000 sessions_active)
	if [ "$n" -gt 0 ] && [ "$out" = "$n" ]; then
		lib_case_ok "$c the entry rewritten as its address: its $n sessions counted there"
	else
		lib_case_fail "$c the entry rewritten as its address: sessions_active $out, want $n"
	fi
	lib_case_end
	rm -rf "$HOSTS_DIR"
}
names_one() { [ "$(ctl_json 'len(d["upstreams"])' upstreams t)" = 1 ]; }
# thread_caps COMM: "CapPrm CapEff" of each of the relay's threads called COMM, a line each.
thread_caps()
{
	local t
	for t in /proc/"$RELAY_PID"/task/*; do
		[ "$(cat "$t/comm" 2>/dev/null)" = "$1" ] &&
			awk '/^CapPrm/ { p = $2 } /^CapEff/ { e = $2 } END { print p, e }' "$t/status"
	done
}
s_at() { [ "$(ctl_json '" ".join(u["address"] for u in d["upstreams"])' upstreams s)" = "$1" ]; }

# ---- a name behind a resolver that never answers (a sink on the relay namespace's
# 127.0.0.1:53, resolv.conf's timeout 20 s): the background lookup runs off the upkeep
# thread, so the health checks go on meanwhile (an upstream that stops answering is down
# within its fall); a reload's lookup runs without the app lock and off the admin thread, so
# status answers, the checks go on (the upstream up again) and so do link events; a SIGTERM
# waits for neither. The build before looked names up on the upkeep thread and under the
# reload's lock: no check ran and status hung while a lookup was out, and the stop waited
# for their end.
names_slow_case()
{
	local up echo_pid t0 ms st n out reload_pid
	lib_case_begin names-slow io_uring 4
	c="[names, a resolver that does not answer]"
	up=$(ep "$UP1_IP" 9000)
	hosts_dir
	printf '127.0.0.1 localhost\n%s up.test\n%s also.test\n' "$UP1_IP" "$UP1_IP" \
		>"$HOSTS_DIR/hosts"
	printf 'nameserver 127.0.0.1\noptions timeout:20 attempts:1\n' >"$HOSTS_DIR/resolv.conf"
	lib_udp_bg "$NS_R" "$TMPD/dns.json" sink --bind 127.0.0.1:53 --out "$TMPD/dns.rec" \
		--seconds 60
	CASE_PIDS+=("$BG_PID")
	lib_case_server "$TMPD/s1.json" echo --bind "$up"
	echo_pid=$BG_PID
	lib_relay_conf "$conf" backend=io_uring listen="$to" up="up.test:9000"
	conf_extra "$conf" 'resolve_interval = 0.5; offload = "tc"; health_check = { interval = 0.3; timeout = 0.2; rise = 2; fall = 2; send = "hex:70 69 6e 67"; expect = "ping"; };'
	# a second relay, s, whose name stays in the hosts file
	"$PY" - "$conf" "$(ep "$RELAY_IP" 5001)" <<'PYEOF2'
import sys
p, listen = sys.argv[1], sys.argv[2]
s = open(p).read()
i = s.index("\n);")
s = s[:i] + (',\n\t{ name = "s"; listen = [ "%s" ]; upstreams = [ "also.test:9000" ]; '
             'resolve_interval = 0.5; }' % listen) + s[i:]
open(p, "w").write(s)
PYEOF2
	lib_case_start_conf || return
	lib_wait_for 5 state_is "$up" up || lib_case_fail "$c $up at start: $(up_field t "$up" state)"
	# t's name leaves the hosts file: its next lookup asks the resolver. s's moves to
	# UP2_IP: s takes it at its next lookup, whatever t's does (the first form of this
	# change, one lookup at a time, left s waiting for t's 20 s).
	printf '127.0.0.1 localhost\n%s also.test\n' "$UP2_IP" >"$HOSTS_DIR/hosts"
	lib_wait_lines "$TMPD/dns.rec" 1 5 || lib_case_fail "$c no query reached the resolver"
	if lib_wait_for 3 s_at "$(ep "$UP2_IP" 9000)"; then
		lib_case_ok "$c relay s re-resolved while t's lookup is out"
	else
		lib_case_fail "$c relay s at $(ctl_json '" ".join(u["address"] for u in d["upstreams"])' upstreams s)" \
			"3 s after its name moved, want $(ep "$UP2_IP" 9000)"
	fi
	t0=$(date +%s%N)
	lib_stop_pid "$echo_pid"
	if lib_wait_for 3 state_is "$up" down; then
		lib_case_ok "$c $up down $((($(date +%s%N) - t0) / 1000000)) ms after it stopped" \
			"answering, the lookup still out"
	else
		lib_case_fail "$c $up $(up_field t "$up" state) 3 s after it stopped answering," \
			"want down (checks held by the lookup?)"
	fi
	# A reload looks the name up too: status answers and the checks go on meanwhile (the
	# build before held the app lock across the reload's lookups).
	n=$(lib_lines "$TMPD/dns.rec")
	kill -HUP "$RELAY_PID"
	lib_wait_for 5 lib__lines_ge "$TMPD/dns.rec" $((n + 1)) ||
		lib_case_fail "$c the reload's query did not reach the resolver"
	if out=$(timeout 3 "$CTL" -s "$TMPD/run/ctl.sock" status 2>&1); then
		lib_case_ok "$c status answers while the reload's lookup is out"
	else
		lib_case_fail "$c status during the reload's lookup: $out"
	fi
	# The reload reads the file and looks names up on a thread of its own, ringrelay-load,
	# which holds no capability (nor do the lookups' ringrelay-dns threads), while the admin
	# thread keeps its own (offload = "tc": the program, so it watches links).
	out=$(thread_caps ringrelay-load)
	if [ "$out" = "0000000000000000 0000000000000000" ] &&
		[ "$(thread_caps ringrelay-dns | sort -u)" = "$out" ] &&
		[ "$(thread_caps ringrelay-admin | cut -d' ' -f2)" != 0000000000000000 ]; then
		lib_case_ok "$c ringrelay-load and ringrelay-dns hold no capability (CapPrm CapEff)"
	else
		lib_case_fail "$c capabilities (CapPrm CapEff): load '$out', dns" \
			"'$(thread_caps ringrelay-dns | tr '\n' ';')', admin" \
			"'$(thread_caps ringrelay-admin)'"
	fi
	# Link events go on meanwhile (the build before read the file and looked names up on
	# the admin thread, which acts on them): a new link has every relay's fast path judged
	# again, which offload_apply logs.
	n=$(lib_log_count "relay t: offload ")
	ip -n "$NS_R" link add veth-sx type veth peer name veth-sy ||
		lib_case_fail "$c ip link add veth-sx"
	if lib_wait_for 3 lib_log_count_ge "relay t: offload " $((n + 1)); then
		lib_case_ok "$c a link event is acted on while the reload's lookup is out"
	else
		lib_case_fail "$c no fast path verdict 3 s after a link came, the reload's lookup out"
	fi
	ip -n "$NS_R" link del veth-sx
	lib_case_server "$TMPD/s2.json" echo --bind "$up"
	if lib_wait_for 3 state_is "$up" up; then
		lib_case_ok "$c $up up again while the reload's lookup is out"
	else
		lib_case_fail "$c $up $(up_field t "$up" state) 3 s after it answered again, want up"
	fi
	# A `ringrelayctl reload` (after the one running) waits on its connection while the
	# control thread answers the others: the build before answered no one meanwhile.
	ctl reload >"$TMPD/reload.out" 2>&1 &
	reload_pid=$!
	sleep 0.3
	if out=$(timeout 3 "$CTL" -s "$TMPD/run/ctl.sock" status 2>&1); then
		lib_case_ok "$c status answers while a ringrelayctl reload waits"
	else
		lib_case_fail "$c status while a ringrelayctl reload waits: $out"
	fi
	# The stop waits for neither lookup; the reload is given up, saying so, and the waiting
	# ringrelayctl is told.
	t0=$(date +%s%N)
	kill -TERM "$RELAY_PID"
	lib_wait_gone "$RELAY_PID" 25
	ms=$((($(date +%s%N) - t0) / 1000000))
	wait "$RELAY_PID"
	st=$?
	RELAY_PID=
	if [ "$st" -eq 0 ] && [ "$ms" -lt 3000 ]; then
		lib_case_ok "$c SIGTERM with both lookups out: exit 0 after $ms ms"
	else
		lib_case_fail "$c SIGTERM with both lookups out: exit $st after $ms ms, want 0 within 3 s"
	fi
	lib_log_count_ge "reload: given up as the process stops" 1 ||
		lib_case_fail "$c no reload given up at the stop: $(lib_relay_log_current | grep reload)"
	lib_wait_gone "$reload_pid" 5
	wait "$reload_pid"
	st=$?
	if [ "$st" -ne 0 ] && grep -q "the process is stopping: the reload may not have run" \
		"$TMPD/reload.out"; then
		lib_case_ok "$c the waiting ringrelayctl reload: $(cat "$TMPD/reload.out")"
	else
		lib_case_fail "$c the waiting ringrelayctl reload: exit $st: $(cat "$TMPD/reload.out")"
	fi
	lib_case_end
	rm -rf "$HOSTS_DIR"
}

# ---- a name that resolves again to its addresses in another order: the same set; to an
# address behind another interface: the fast path takes that interface (the replies arrive
# there), and a link event then judges the new addresses (the build before kept judging the
# first ones: their link going away turned the fast path off). Two links of the case's own
# to the upstream namespace: veth-ra to 198.18.3.2 and .3 (the name's first addresses),
# veth-rb to 198.18.4.2 (its last).
move_link()
{
	ip link add "veth-r$1" netns "$NS_R" type veth peer name "veth-u$1" netns "$NS_U" &&
		lib_nsx "$NS_R" ip addr add "$2.1/24" dev "veth-r$1" &&
		lib_nsx "$NS_U" ip addr add "$2.2/24" dev "veth-u$1" &&
		lib_nsx "$NS_R" ip link set "veth-r$1" up &&
		lib_nsx "$NS_U" ip link set "veth-u$1" up &&
		lib_wait_for 5 lib__link_up "$NS_R" "veth-r$1"
}
names_move_case()
{
	local out n
	lib_case_begin names-move io_uring 4
	c="[names move]"
	move_link a 198.18.3 && move_link b 198.18.4 || { lib_case_fail "$c links"; return; }
	hosts_dir
	printf '127.0.0.1 localhost\n198.18.3.2 up.test\n198.18.3.3 up.test\n' >"$HOSTS_DIR/hosts"
	lib_case_server "$TMPD/m1.json" echo --bind "$(ep 198.18.3.2 9000)"
	lib_case_server "$TMPD/m2.json" echo --bind "$(ep 198.18.4.2 9000)"
	lib_relay_conf "$conf" backend=io_uring listen="$to" up="up.test:9000"
	conf_extra "$conf" "resolve_interval = 0.2; offload = \"tc\";"
	lib_case_start_conf || return
	out=$(offload_why)
	[ "$out" = "tc: tc as configured on $IF_RC, veth-ra" ] || lib_case_fail "$c at start: $out"
	# The resolver gives the same set in another order (as a DNS server that rotates its
	# answers): no new set, for three lookups (counted as they end: the first of four may
	# have read the file before).
	n=$(lookups_made)
	printf '127.0.0.1 localhost\n198.18.3.3 up.test\n198.18.3.2 up.test\n' >"$HOSTS_DIR/hosts"
	lib_wait_for 5 lookups_made_ge $((n + 4)) ||
		lib_case_fail "$c $(($(lookups_made) - n)) lookups ended in 5 s, want 4"
	if lib_relay_log_current | grep -q "resolved to a new set"; then
		lib_case_fail "$c the same addresses in another order: $(lib_relay_log_current |
			grep "resolved to a new set" | head -n 1)"
	else
		lib_case_ok "$c the same addresses in another order are the same set"
	fi
	name_to_rb "follows the new address"
	# New sessions to 198.18.4.2: their replies come in on veth-rb, in the program there.
	fast_replies "from the new address"
	# The old address's link goes away: no route to 198.18.3.2, which is no upstream now.
	n=$(lib_log_count "relay t: offload ")
	ip -n "$NS_R" link del veth-ra
	lib_wait_for 5 lib_log_count_ge "relay t: offload " $((n + 1)) ||
		lib_case_fail "$c no fast path verdict after veth-ra went away"
	if lib_relay_log_current | grep -q "fast path off after"; then
		lib_case_fail "$c $(lib_relay_log_current | grep "fast path off after")"
	else
		lib_case_ok "$c veth-ra gone: still $(offload_why)"
	fi
	# The name stops resolving: it keeps its address, and upstreams says so.
	printf '127.0.0.1 localhost\n' >"$HOSTS_DIR/hosts"
	if lib_wait_for 5 lookups_are "1 True"; then
		lib_case_ok "$c a failing lookup shows: $(lookups)"
		ctl upstreams t |
			grep -q "^relay t: names looked up .*, 1 failing now (last addresses kept): up.test:9000$" ||
			lib_case_fail "$c upstreams' table: $(ctl upstreams t | tail -n 1)"
	else
		lib_case_fail "$c a failing lookup: $(lookups), want 1 failing, the upstream marked"
	fi
	out=$(lookups)
	[ "${out%% *}" -ge 1 ] || lib_case_fail "$c lookups: $out, want at least 1 new address set"
	# A reload that cannot look the name up either keeps its addresses and says it fails
	# (no background lookup for 30 s after it: what shows is the reload's).
	sed -i 's/resolve_interval = 0.2;/resolve_interval = 30;/' "$conf"
	if ! out=$(ctl reload 2>&1); then
		lib_case_fail "$c reload with the name failing: $out"
	elif lookups_are "1 True"; then
		lib_case_ok "$c after a reload the name still fails: $(lookups)"
	else
		lib_case_fail "$c after a reload: $(lookups), want the name still failing"
	fi
	lib_case_end
	rm -rf "$HOSTS_DIR"
	ip -n "$NS_R" link del veth-rb
}
# lookups: new address sets, names failing, and the first upstream's lookup_failing, from
# `upstreams -j`
lookups()
{
	ctl_json '" ".join(str(v) for v in (d["relays"][0]["lookups"]["new_sets"],
		d["relays"][0]["lookups"]["failing"], d["upstreams"][0]["lookup_failing"], "made",
		d["relays"][0]["lookups"]["made"], "failed", d["relays"][0]["lookups"]["failed"]))' \
		upstreams t
}
lookups_are() { case "$(lookups)" in *" $1 made"*) return 0 ;; esac; return 1; }
lookups_made() { ctl_json 'd["relays"][0]["lookups"]["made"]' upstreams t; }
lookups_made_ge() { [ "$(lookups_made)" -ge "$1" ]; }
# ---- the same with offload = "auto": the name moves from behind veth-ra (its peer has GRO:
# it takes XDP_REDIRECT) to behind veth-rb (it does not), so the fast path goes from XDP to
# tc on every interface, the listen interface included; shedding, which joins the fast
# path's hook there, moves to tc with it, and the napi block is applied again (XDP's detach
# re-makes veth-rc's NAPI instances)
names_move_auto_case()
{
	local out
	c="[names move, auto]"
	if ! lib_kernel_ge 6 3; then
		lib_log "skip: $c: auto takes no XDP fast path before Linux 6.3 (xdp-features)"
		return
	fi
	lib_case_begin names-auto io_uring 4
	move_link a 198.18.3 && move_link b 198.18.4 || { lib_case_fail "$c links"; return; }
	lib_nsx "$NS_C" ethtool -K "$IF_C" gro on >/dev/null
	lib_nsx "$NS_U" ethtool -K veth-ua gro on >/dev/null
	lib_nsx "$NS_U" ethtool -K veth-ub gro off >/dev/null
	lib_nsx "$NS_R" sysctl -qw net.ipv4.conf.$IF_RC.forwarding=1 \
		net.ipv4.conf.veth-ra.forwarding=1 net.ipv4.conf.veth-rb.forwarding=1
	hosts_dir
	printf '127.0.0.1 localhost\n198.18.3.2 up.test\n' >"$HOSTS_DIR/hosts"
	lib_case_server "$TMPD/m1.json" echo --bind "$(ep 198.18.3.2 9000)"
	lib_case_server "$TMPD/m2.json" echo --bind "$(ep 198.18.4.2 9000)"
	lib_relay_conf "$conf" backend=io_uring listen="$to" up="up.test:9000"
	conf_extra "$conf" "resolve_interval = 0.2; offload = \"auto\";"
	lib_case_start_conf || return
	out="$(offload_why) | $(shed_why)"
	case $out in
	"xdp: "*"| auto on $IF_RC (XDP)") ;;
	*) lib_case_fail "$c at start: $out" ;;
	esac
	printf '127.0.0.1 localhost\n198.18.4.2 up.test\n' >"$HOSTS_DIR/hosts"
	lib_wait_for 5 names_at 198.18.4.2:9000 || lib_case_fail "$c not re-resolved to 198.18.4.2"
	lib_wait_for 5 offload_mode_is tc || lib_case_fail "$c the fast path stays: $(offload_why)"
	out="$(offload_why) | $(shed_why)"
	case $out in
	"tc: "*"| auto on $IF_RC (tc)") lib_case_ok "$c xdp to tc, shedding with it: $out" ;;
	*) lib_case_fail "$c after the move: $out" ;;
	esac
	# XDP left veth-rc, which re-makes its NAPI instances: the napi block is applied again.
	lib_relay_log_current | grep -q "napi: applying the napi settings again" ||
		lib_case_fail "$c the napi block was not applied again after XDP left $IF_RC"
	lib_expect_echo "relayed after the move" --clients 4 --count 5 --port-base 49000
	lib_case_end
	rm -rf "$HOSTS_DIR"
	ip -n "$NS_R" link del veth-ra
	ip -n "$NS_R" link del veth-rb
	lib_nsx "$NS_C" ethtool -K "$IF_C" gro off >/dev/null
	lib_nsx "$NS_R" sysctl -qw net.ipv4.conf.$IF_RC.forwarding=0
}
# ---- a name with no route at start (the fast path off, "no route to upstream") resolves
# to an address behind veth-rb: the fast path comes on and new sessions' replies take it
# (the build before left it off until a reload: the workers install entries only for relays
# the start or a reload put on the fast path)
names_on_case()
{
	local out
	lib_case_begin names-on io_uring 4
	c="[names, fast path on later]"
	ip -n "$NS_R" link del veth-rb 2>/dev/null # a failed case's
	move_link b 198.18.4 || { lib_case_fail "$c link"; return; }
	hosts_dir
	printf '127.0.0.1 localhost\n198.18.5.2 up.test\n' >"$HOSTS_DIR/hosts"
	lib_case_server "$TMPD/o1.json" echo --bind "$(ep 198.18.4.2 9000)"
	lib_relay_conf "$conf" backend=io_uring listen="$to" up="up.test:9000"
	conf_extra "$conf" "resolve_interval = 0.2; offload = \"tc\";"
	lib_case_start_conf || return
	out=$(offload_why)
	case $out in
	"off: no route to upstream 198.18.5.2:9000"*) ;;
	*) lib_case_fail "$c at start: $out, want no route" ;;
	esac
	name_to_rb "comes on"
	fast_replies "after re-resolution"
	# The name moves to loopback: the fast path goes off, and new sessions install no
	# entries (the build before kept installing them, unused, until a reload).
	lib_udp_bg "$NS_R" "$TMPD/o2.json" echo --bind 127.0.0.1:9000
	CASE_PIDS+=("$BG_PID")
	printf '127.0.0.1 localhost\n127.0.0.1 up.test\n' >"$HOSTS_DIR/hosts"
	if lib_wait_for 5 offload_mode_is off; then
		lib_case_ok "$c the name on loopback: $(offload_why)"
	else
		lib_case_fail "$c the fast path with the name on loopback: $(offload_why)"
	fi
	out=$(lib_udp "$NS_C" client --to "$to" --clients 1 --count 5 --port-base 49000 \
		--expect-echo) || lib_case_fail "$c client with the name on loopback: $out"
	out=$(session_path ":49000")
	if [ "$out" = socket ]; then
		lib_case_ok "$c a new session with the fast path off takes no entries: $out"
	else
		lib_case_fail "$c a new session with the fast path off: path '$out', want socket"
	fi
	lib_case_end
	rm -rf "$HOSTS_DIR"
	ip -n "$NS_R" link del veth-rb
}
# session_path CLIENT_SUFFIX: the path (fast, socket) of the session whose client ends so.
session_path()
{
	ctl -j sessions t | "$PY" -c '
import json, sys
print(" ".join(x["path"] for x in json.load(sys.stdin)["sessions"]
               if x["client"].endswith(sys.argv[1])))' "$1"
}
# ---- the same through link events: the upstream's link gets its address while down (no
# route yet), then goes up; later it goes down and up again, then loses its address and gets it
# back: the fast path goes off (no route) and on again each time. The build before reported
# links appearing and going only (a link's first going up showed as IPv6's own link message,
# new to libnl's cache): the second down and up, and the address, changed no verdict.
link_on_case()
{
	local out n
	lib_case_begin link-on io_uring 4
	c="[link, fast path on later]"
	ip -n "$NS_R" link del veth-rb 2>/dev/null # a failed case's
	lib_relay_conf "$conf" backend=io_uring listen="$to" up="$(ep 198.18.4.2 9000)"
	conf_extra "$conf" "offload = \"tc\";"
	lib_case_start_conf || return
	# (no IPv6 on veth-rb: its link-local address coming and going would be link events of
	# their own, and the down and up below would pass on those)
	if ! ip link add veth-rb netns "$NS_R" type veth peer name veth-ub netns "$NS_U" ||
		! lib_nsx "$NS_R" sysctl -qw net.ipv6.conf.veth-rb.disable_ipv6=1 ||
		! lib_nsx "$NS_U" ip addr add 198.18.4.2/24 dev veth-ub ||
		! lib_nsx "$NS_U" ip link set veth-ub up ||
		! lib_nsx "$NS_R" ip addr add 198.18.4.1/24 dev veth-rb; then
		lib_case_fail "$c link"
		lib_case_end
		return
	fi
	lib_case_server "$TMPD/l1.json" echo --bind "$(ep 198.18.4.2 9000)"
	sleep 0.5
	out=$(offload_why)
	case $out in
	"off: no route to upstream 198.18.4.2:9000"*) ;;
	*) lib_case_fail "$c with veth-rb down: $out, want no route" ;;
	esac
	lib_nsx "$NS_R" ip link set veth-rb up
	if lib_wait_for 5 offload_is "tc: tc as configured on $IF_RC, veth-rb"; then
		lib_case_ok "$c veth-rb up: the fast path comes on: $(offload_why)"
	else
		lib_case_fail "$c the fast path after veth-rb went up: $(offload_why)"
	fi
	fast_replies "after the link came up"
	lib_nsx "$NS_R" ip link set veth-rb down
	if lib_wait_for 5 offload_mode_is off; then
		lib_case_ok "$c veth-rb down: $(offload_why)"
	else
		lib_case_fail "$c the fast path after veth-rb went down: $(offload_why)"
	fi
	lib_nsx "$NS_R" ip link set veth-rb up
	lib_wait_for 5 offload_is "tc: tc as configured on $IF_RC, veth-rb" ||
		lib_case_fail "$c the fast path after veth-rb went up again: $(offload_why)"
	# The sessions kept their entries across the flap, and use them again.
	out=$(session_path "")
	if [ "$out" = "fast fast fast fast" ]; then
		lib_case_ok "$c after the flap the 4 sessions are still on the fast path"
	else
		lib_case_fail "$c after the flap the sessions' paths: '$out', want 4 x fast"
	fi
	n=$(reply_fast)
	out=$(lib_udp "$NS_C" client --to "$to" --clients 4 --count 20 --port-base 48000 \
		--expect-echo) || lib_case_fail "$c the 4 clients after the flap: $out"
	lib_wait_for 5 reply_fast_ge $((n + 60)) ||
		lib_case_fail "$c reply_fast_pkts $(reply_fast) after 4 x 20 echoes past the flap," \
			"want >= $((n + 60))"
	lib_nsx "$NS_R" ip addr del 198.18.4.1/24 dev veth-rb
	if lib_wait_for 5 offload_mode_is off; then
		lib_case_ok "$c address gone: $(offload_why)"
	else
		lib_case_fail "$c the fast path after veth-rb lost its address: $(offload_why)"
	fi
	# A reload while it is off takes the kept entries away (it may deny their clients; the
	# build before left them on the fast path once a link event had turned it off).
	ctl reload >/dev/null || lib_case_fail "$c reload with the fast path off"
	out=$(session_path "")
	if [ "$out" = "socket socket socket socket" ]; then
		lib_case_ok "$c a reload with the fast path off takes the sessions off it"
	else
		lib_case_fail "$c after a reload with the fast path off the paths: '$out', want" \
			"4 x socket"
	fi
	lib_nsx "$NS_R" ip addr add 198.18.4.1/24 dev veth-rb
	if lib_wait_for 5 offload_is "tc: tc as configured on $IF_RC, veth-rb"; then
		lib_case_ok "$c address back: $(offload_why)"
	else
		lib_case_fail "$c the fast path after veth-rb got its address back: $(offload_why)"
	fi
	lib_case_end
	ip -n "$NS_R" link del veth-rb
}
shed_why() { ctl_json 'd["relays"][0]["shed"]["why"]' status; }
offload_mode_is() { [ "$(ctl_json 'd["relays"][0]["offload"]["mode"]' status)" = "$1" ]; }
offload_why() { ctl_json '"%(mode)s: %(why)s" % d["relays"][0]["offload"]' status; }
offload_is() { [ "$(offload_why)" = "$1" ]; }
reply_fast() { ctl_json 'd["relays"][0]["total"]["reply_fast_pkts"]' stats; }
reply_fast_ge() { [ "$(reply_fast)" -ge "$1" ]; }
# name_to_rb WHAT: up.test resolves to 198.18.4.2 alone, behind veth-rb: the relay resolves
# it again and its fast path takes veth-rb (WHAT: what the fast path does, for the log).
name_to_rb()
{
	printf '127.0.0.1 localhost\n198.18.4.2 up.test\n' >"$HOSTS_DIR/hosts"
	lib_wait_for 5 names_at 198.18.4.2:9000 || lib_case_fail "$c not re-resolved to 198.18.4.2"
	if lib_wait_for 5 offload_is "tc: tc as configured on $IF_RC, veth-rb"; then
		lib_case_ok "$c the fast path $1: $(offload_why)"
	else
		lib_case_fail "$c the fast path after re-resolution: $(offload_why)"
	fi
}
# fast_replies WHEN: 4 new clients x 20 echoes through the relay; their replies must take the
# fast path (the relay's reply_fast_pkts, from 0, reach 60).
fast_replies()
{
	local out
	out=$(lib_udp "$NS_C" client --to "$to" --clients 4 --count 20 --port-base 48000 \
		--expect-echo) || lib_case_fail "$c clients $1: $out"
	if lib_wait_for 5 reply_fast_ge 60; then
		lib_case_ok "$c replies $1 on the fast path: $(reply_fast)"
	else
		lib_case_fail "$c reply_fast_pkts=$(reply_fast) after 4 x 20 echoes $1, want >= 60"
	fi
}
names_at()
{
	[ "$(ctl_json '" ".join(u["address"] for u in d["upstreams"])' upstreams t)" = "$1" ]
}

# ---- per-upstream counters add up to the relay's
sums_case()
{
	local backend=$1 fam=$2 out
	lib_case_begin sums "$backend" "$fam"
	c="[$backend/ipv$fam sums]"
	lib_case_server "$TMPD/s1.json" echo --bind "$(ep "$UP1_IP" 9000)"
	lib_case_server "$TMPD/s2.json" echo --bind "$(ep "$UP2_IP" 9000)"
	lib_relay_conf "$conf" backend="$backend" listen="$to" up="$(ep "$UP1_IP" 9000)" \
		up="$(ep "$UP2_IP" 9000) weight=2"
	lib_case_start_conf || return
	lib_udp "$NS_C" client --to "$to" --clients 24 --count 3 --size 100 --expect-echo \
		>/dev/null || lib_case_fail "$c clients"
	out=$(ctl -j stats | "$PY" -c '
import json, sys
r = json.load(sys.stdin)["relays"][0]
t, ups = r["total"], r["upstreams"]
def s(k): return sum(u[k] for u in ups)
checks = [("tx_pkts", s("tx_pkts"), t["tx_pkts"]), ("tx_bytes", s("tx_bytes"), t["tx_bytes"]),
          ("rx_pkts", s("rx_pkts"), t["reply_rx_pkts"]),
          ("rx_bytes", s("rx_bytes"), t["reply_rx_bytes"]),
          ("sessions_created", s("sessions_created"), t["sessions_created"]),
          ("sessions_active", s("sessions_active"), t["sessions_active"])]
bad = [c for c in checks if c[1] != c[2]]
print(("bad " if bad or t["tx_pkts"] != 72 or min(u["tx_pkts"] for u in ups) == 0 else "ok ")
      + " ".join("%s=%d/%d" % c for c in checks))')
	case $out in
	ok*) lib_case_ok "$c $out" ;;
	*) lib_case_fail "$c $out" ;;
	esac
	lib_case_end
}

# ---- an upstream address nobody answers for: the neighbour lookup fails and the kernel
# reports the host unreachable on the session's socket, a notice like a port unreachable
# (both backends), not a socket error that costs the session's datagrams.
host_case()
{
	local backend=$1 fam=$2 line nowhere=198.18.2.9
	[ "$fam" = 6 ] && nowhere=2001:2:0:2::9
	lib_case_begin host "$backend" "$fam"
	c="[$backend/ipv$fam host unreachable]"
	lib_relay_conf "$conf" backend="$backend" listen="$to" up="$(ep "$nowhere" 9000)"
	# Neighbour probes 0.1 s apart rather than 1 s: the lookup fails within 0.3 s, so a
	# short run of datagrams (0.7 s: more go after the failure) sees it (the kernel's
	# default takes 3 s).
	lib_nsx "$NS_R" sysctl -qw "net.ipv$fam.neigh.$IF_RU.retrans_time_ms=100"
	lib_case_start_conf || return
	lib_udp "$NS_C" client --to "$to" --count 12 --interval 0.06 --size 64 >/dev/null
	lib_wait_stat upstream_unreachable_notices -ge 1 5
	if ! line=$(lib_stats t); then
		lib_case_fail "$c no stats line"
	elif [ "$(lib_field upstream_unreachable_notices "$line")" -ge 1 ] &&
		[ "$(lib_field drop_session_socket_error "$line")" -eq 0 ] &&
		[ "$(lib_field rx_pkts "$line")" -eq 12 ] && [ "$(lib_field tx_pkts "$line")" -eq 12 ]; then
		lib_case_ok "$c $(lib_field upstream_unreachable_notices "$line") notice(s), 12 sent"
	else
		lib_case_fail "$c $line"
	fi
	lib_case_end
}

# ---- reply_timeout: an upstream that answers only with replies too long for the relay's
# buffers gives no reply the relay could pass on: its session counts as unanswered (noreply)
# in both backends, and one that echoes does not (the mmsg backend took cut replies for
# replies before).
noreply_case()
{
	local backend=$1 fam=$2 out
	lib_case_begin noreply "$backend" "$fam"
	c="[$backend/ipv$fam noreply]"
	lib_case_server "$TMPD/n1.json" echo --bind "$(ep "$UP1_IP" 9000)" --reply-size 1000
	lib_case_server "$TMPD/n2.json" echo --bind "$(ep "$UP2_IP" 9000)"
	lib_relay_conf "$conf" backend="$backend" buffer=512 balance=hash listen="$to" \
		up="$(ep "$UP1_IP" 9000)" up="$(ep "$UP2_IP" 9000)"
	conf_extra "$conf" 'reply_timeout = 0.3;'
	lib_case_start_conf || return
	lib_udp "$NS_C" client --to "$to" --clients 16 --count 1 --size 64 >/dev/null
	noreply_of()
	{
		ctl -j stats | "$PY" -c '
import json, sys
r = json.load(sys.stdin)["relays"][0]
ups = {u["upstream"]: u for u in r["upstreams"]}
print(" ".join("%d/%d" % (u["noreply"], u["sessions_created"]) for _, u in sorted(ups.items())),
      r["total"]["reply_drops"]["truncated"])'
	}
	# Until the cut one's sessions are all judged (a fixed 1.5 s before): the echoing one's,
	# made with them, are judged by then too.
	noreply_judged()
	{
		local cut
		read -r cut _ <<<"$(noreply_of)"
		[ "${cut%/*}" != 0 ] && [ "${cut%/*}" = "${cut#*/}" ]
	}
	lib_wait_for 5 noreply_judged
	out=$(noreply_of)
	# per upstream noreply/sessions (the cut one first: 198.18.2.2 < .3, 2001:2:0:2::2 < ::3),
	# then the relay's truncated replies
	case $out in
	"0/0 "*|*" 0/0 "*) lib_case_fail "$c the clients did not reach both upstreams: $out" ;;
	*)
		read -r cut whole trunc <<<"$out"
		if [ "${cut%/*}" = "${cut#*/}" ] && [ "${whole%/*}" = 0 ] && [ "$trunc" = "${cut#*/}" ]; then
			lib_case_ok "$c cut replies: noreply $cut, echoes: $whole, truncated $trunc"
		else
			lib_case_fail "$c noreply/sessions of the cut and the echoing upstream," \
				"truncated: $out"
		fi ;;
	esac
	lib_case_end
}

# noreply_shorter_case: sessions waiting for a first reply under reply_timeout = 60 are judged
# by a reload's 0.3 (before: their dues stayed 60 s away, and new sessions'
# shorter ones queued behind them)
noreply_total() { ctl -j stats | "$PY" -c '
import json, sys
print(sum(u["noreply"] for u in json.load(sys.stdin)["relays"][0]["upstreams"]))'; }
noreply_shorter_case()
{
	lib_case_begin noreply-shorter io_uring 4
	c="[io_uring/ipv4 noreply, reply_timeout shortened]"
	lib_case_server "$TMPD/ns.json" sink --bind "$(ep "$UP1_IP" 9000)"
	lib_relay_conf "$conf" backend=io_uring listen="$to" up="$(ep "$UP1_IP" 9000)"
	conf_extra "$conf" 'reply_timeout = 60;'
	lib_case_start_conf || return
	lib_udp "$NS_C" client --to "$to" --clients 4 --count 1 --expect-none --quiet 0.1 \
		>/dev/null
	sed -i 's/reply_timeout = 60;/reply_timeout = 0.3;/' "$conf"
	lib_relay_hup || lib_case_fail "$c the reload did not apply"
	noreply_is_4() { [ "$(noreply_total)" = 4 ]; }
	if lib_wait_for 3 noreply_is_4; then
		lib_case_ok "$c the 4 waiting sessions counted noreply within 3 s of the reload"
	else
		lib_case_fail "$c noreply $(noreply_total) 3 s after the reload to 0.3, want 4"
	fi
	lib_case_end
}

# ---- source = "client"
source_case()
{
	local backend=$1 fam=$2 peer want out rec n
	lib_case_begin source "$backend" "$fam"
	c="[$backend/ipv$fam transparent mirror]"
	lib_case_server "$TMPD/t1.json" sink --bind "$(ep "$UP1_IP" 9000)" \
		--out "$TMPD/t-$backend-$fam.rec"
	lib_case_server "$TMPD/t2.json" sink --bind "$(ep "$UP2_IP" 9000)" \
		--out "$TMPD/t2-$backend-$fam.rec"
	lib_relay_conf "$conf" backend="$backend" buffer= buffers=256 listen="$to" \
		up="$(ep "$UP1_IP" 9000)" up="$(ep "$UP2_IP" 9000)" mode=mirror
	conf_extra "$conf" 'source = "client";'
	echo "gro = true;" >>"$conf"
	lib_case_start_conf || return
	lib_udp "$NS_C" client --to "$to" --clients 1 --count 3 --port-base 48000 >/dev/null
	want=$(ep "$CLIENT_IP" 48000)
	for rec in "$TMPD/t-$backend-$fam.rec" "$TMPD/t2-$backend-$fam.rec"; do
		lib_wait_lines "$rec" 3 5
		peer=$(awk '{print $1}' "$rec" | sort -u)
		n=$(lib_lines "$rec")
		[ "$peer" = "$want" ] && [ "$n" -eq 3 ] &&
			lib_case_ok "$c $(basename "$rec" ".rec"): 3 datagrams from $peer" ||
			lib_case_fail "$c $(basename "$rec" ".rec"): $n datagrams from '$peer'," \
				"want 3 from $want"
	done
	# Each member's counters count its copies (they stayed 0 before), and add up.
	out=$(ctl -j stats | "$PY" -c '
import json, sys
r = json.load(sys.stdin)["relays"][0]
print(" ".join(str(u["tx_pkts"]) for u in r["upstreams"]), r["total"]["tx_pkts"])')
	[ "$out" = "3 3 6" ] && lib_case_ok "$c per-upstream tx_pkts 3 3, relay 6" ||
		lib_case_fail "$c per-upstream tx_pkts and the relay's: '$out', want '3 3 6'"
	# A GSO burst of 8 x 1400 bytes (coalesced: gro = true) to members behind a link of MTU
	# 1280: the kernel refuses each copy's segments, and each copy must go again in pieces
	# (they were lost as send errors).
	lib_link_mtu 1280 "$NS_R" "$IF_RU" "$NS_U" "$IF_U"
	lib_udp "$NS_C" client --to "$to" --count 1 --gso 8 --size 1400 --port-base 48000 \
		--record "$TMPD/t-burst-$backend.sent" >/dev/null
	for rec in "$TMPD/t-$backend-$fam.rec" "$TMPD/t2-$backend-$fam.rec"; do
		lib_wait_lines "$rec" 11 5
		n=$(awk '$2 == 1400 { print $3 }' "$rec" | sort |
			comm -12 - <(sort "$TMPD/t-burst-$backend.sent") | wc -l)
		[ "$n" -eq 8 ] && lib_case_ok "$c $(basename "$rec" ".rec") behind MTU 1280: the" \
			"burst's 8 datagrams, byte-exact" ||
			lib_case_fail "$c $(basename "$rec" ".rec") behind MTU 1280: $n of the burst's 8"
	done
	lib_link_mtu 1500 "$NS_R" "$IF_RU" "$NS_U" "$IF_U"
	lib_case_end

	# Forward: replies to the client's address come back to the relay's namespace (the
	# upstream routes the client network through it) and are delivered locally there.
	lib_case_begin source-fwd "$backend" "$fam"
	c="[$backend/ipv$fam transparent forward]"
	lib_reply_routes add "$fam"
	lib_case_server "$TMPD/t2.json" echo --bind "$(ep "$UP1_IP" 9000)" \
		--out "$TMPD/tf-$backend-$fam.rec"
	lib_relay_conf "$conf" backend="$backend" listen="$to" up="$(ep "$UP1_IP" 9000)"
	conf_extra "$conf" 'source = "client"; fwmark = 7;'
	lib_case_start_conf || return
	if out=$(lib_udp "$NS_C" client --to "$to" --clients 1 --count 3 --port-base 48100 \
		--expect-echo); then
		lib_case_ok "$c replies through the policy routes"
	else
		lib_case_fail "$c $out"
	fi
	peer=$(awk '{print $1}' "$TMPD/tf-$backend-$fam.rec" | sort -u)
	[ "$peer" = "$(ep "$CLIENT_IP" 48100)" ] || lib_case_fail "$c upstream saw '$peer'"
	lib_case_end
	lib_reply_routes del "$fam"
}

# ---- source = "client" for clients that send from a port below 1024 (the workers keep
# CAP_NET_BIND_SERVICE for their session sockets' binds) and from the port of a wildcard
# listener (514 -> 514: the session socket's bind must not conflict with the listener's).
source_ports_case()
{
	local fam=$1 any=0.0.0.0 port n want rec=$TMPD/p-$1.rec
	[ "$fam" = 6 ] && any=::
	lib_case_begin source-ports io_uring "$fam"
	c="[ipv$fam transparent mirror, wildcard listener]"
	lib_case_server "$TMPD/p1.json" sink --bind "$(ep "$UP1_IP" 9000)" --out "$rec"
	lib_relay_conf "$conf" backend=io_uring listen="$(ep "$any" 5000)" \
		up="$(ep "$UP1_IP" 9000)" mode=mirror
	conf_extra "$conf" 'source = "client";'
	lib_case_start_conf || return
	for port in 514 5000; do
		lib_udp "$NS_C" client --to "$to" --clients 1 --count 3 --port-base $port >/dev/null
	done
	lib_wait_lines "$rec" 6 5
	for port in 514 5000; do
		want=$(ep "$CLIENT_IP" $port)
		n=$(awk -v w="$want" '$1 == w' "$rec" | wc -l)
		[ "$n" = 3 ] && lib_case_ok "$c 3 datagrams from $want" ||
			lib_case_fail "$c $n datagrams from $want, want 3: $(lib_relay_log_current |
				grep 'no session socket')"
	done
	lib_case_end
}

# ---- a transparent mirror's sockets to the members, with one member dead, then answering
mirror_replies_case()
{
	local backend=$1 fam=$2 net n=60 out queued
	lib_case_begin source-replies "$backend" "$fam"
	c="[$backend/ipv$fam transparent mirror, replies]"
	# The members' replies to the clients' addresses come back into the relay's namespace
	# and are delivered there, to the sockets that sent the copies (as source-fwd).
	lib_reply_routes add "$fam"
	lib_case_server "$TMPD/r1.json" echo --bind "$(ep "$UP1_IP" 9000)" --out "$TMPD/r1-$fam.rec"
	lib_relay_conf "$conf" backend="$backend" listen="$to" up="$(ep "$UP1_IP" 9000)" \
		up="$(ep "$UP2_IP" 9000)" mode=mirror
	conf_extra "$conf" 'source = "client";'
	lib_case_start_conf || return
	# Member 2 has no socket: every copy to it draws an ICMP port unreachable to the client's
	# socket in the relay, which sends member 1's copies too. Member 1 must still get every
	# datagram (the pending error failed the socket's next send, to either member, before).
	lib_udp "$NS_C" client --to "$to" --clients 3 --count 20 --interval 0.002 \
		--port-base 48200 >/dev/null
	lib_wait_lines "$TMPD/r1-$fam.rec" "$n" 5
	out=$(lib_lines "$TMPD/r1-$fam.rec")
	[ "$out" = "$n" ] && lib_case_ok "$c with member 2 dead, member 1 got all $n" ||
		lib_case_fail "$c with member 2 dead, member 1 got $out of $n"
	# Both answer now: every reply is read and dropped (mirror_reply), counted to the member
	# that sent it; nothing stays queued in the sockets bound to the clients' addresses.
	lib_case_server "$TMPD/r2.json" echo --bind "$(ep "$UP2_IP" 9000)"
	lib_udp "$NS_C" client --to "$to" --clients 3 --count 20 --interval 0.002 \
		--port-base 48200 >/dev/null
	lib_wait_lines "$TMPD/r1-$fam.rec" $((2 * n)) 5
	lib_wait_stat reply_drop_mirror_reply -ge $((3 * n)) 5
	out=$(ctl -j stats | "$PY" -c '
import json, sys
r = json.load(sys.stdin)["relays"][0]
print(" ".join(str(u["rx_pkts"]) for u in r["upstreams"]), r["total"]["reply_drops"]["mirror_reply"],
      r["total"]["reply_tx_pkts"])')
	[ "$out" = "$((2 * n)) $n $((3 * n)) 0" ] &&
		lib_case_ok "$c replies read and dropped: per member $((2 * n)) $n, mirror_reply $((3 * n))" ||
		lib_case_fail "$c per-member rx_pkts, mirror_reply, reply tx: '$out'," \
			"want '$((2 * n)) $n $((3 * n)) 0'"
	if [ "$fam" = 4 ]; then net=$CLIENT_IP/32; else net=$CLIENT_IP/128; fi
	queued=$(lib_nsx "$NS_R" ss -Huan src "$net" | awk '{ q += $2 } END { print q + 0 }')
	[ "$queued" = 0 ] && lib_case_ok "$c nothing queued in the clients' sockets" ||
		lib_case_fail "$c $queued bytes queued in the relay's sockets of the clients"
	lib_case_end
	lib_reply_routes del "$fam"
}

for fam in 4 6; do
	# (each balancer once; the family changes none of their choices)
	bals="rr hash maglev"
	[ "$fam" = 6 ] && bals=maglev
	for bal in $bals; do
		eject_case "$fam" "$bal"
	done
	[ "$fam" = 4 ] && noroute_case
	check_case "$fam"
	# (in IPv4 only: the probes' mark, a drained member and the per-upstream sums know no
	# family)
	if [ "$fam" = 4 ]; then
		mark_check_case "$fam"
		move_case move
		move_case keep
		drain_case "$fam"
		sums_case io_uring "$fam"
	fi
	source_case io_uring "$fam"
	source_ports_case "$fam"
	mirror_replies_case io_uring "$fam"
	host_case io_uring "$fam"
done
sums_case mmsg 4
source_case mmsg 4
mirror_replies_case mmsg 4
host_case mmsg 4
noreply_case io_uring 4
noreply_case mmsg 4
noreply_shorter_case
names_case
names_slow_case
names_move_case
names_move_auto_case
names_on_case
link_on_case
lib_done
