#!/bin/bash
# SPDX-License-Identifier: MIT
# The XDP/tc filter end to end, for IPv4 and IPv6, in XDP mode and in tc mode: a client
# address inside a denied prefix is dropped by the filter (drop_prefix rises, the relay's
# rx_pkts does not), the allowed client is relayed, and flipping between two rule sets under
# traffic never lets a denied datagram through; a refused reload leaves the rules as they
# were, also after a reload whose mode change the program could not follow; a stale pin from
# an earlier run is replaced, a live instance's pins are not; a relay's old port stays in the
# filter's scope until every worker has left it; a listener kept by the reload that turns a
# filter on reports its sessions' interface (pktinfo_case); ringrelayctl filter's counters go on
# across a reload that unloads the program and one that loads it again (base_case). (Flips and
# the refused reload: see run_case.)
#
# Filter counters are read from the pinned maps (filter.pin = true), with bpftool:
#   bpftool map dump pinned /sys/fs/bpf/ringrelay/filter_counters   (index = enum filter_counter)
# The relay runs through a wrapper that mounts a bpffs inside the private mount namespace
# `ip netns exec` gives it, so pins never touch the host's /sys/fs/bpf and parallel runs do
# not share maps; bpftool then runs in the relay's mount namespace (nsenter -m -t PID).
#
# The swap is driven at the map level, the same protocol filter_update uses: fill the idle
# generation (settings, ports, prefixes; see bpf/filter_maps.h), then flip filter_active.
. "$(dirname "$0")/lib.sh"

[ -x "$RINGRELAY" ] || lib_skip "relay binary $RINGRELAY not built"
lib_topology

CNT_OUT_OF_SCOPE=2
CNT_ALLOW=5
CNT_DROP_PREFIX=6
N_OK=30
N_DENIED=30

lib_private_bpffs

# Second client addresses, inside the denied prefixes below.
lib_nsx "$NS_C" ip addr add 198.18.1.66/24 dev "$IF_C"
lib_nsx "$NS_C" ip -6 addr add 2001:2:0:1::66/64 dev "$IF_C" nodad

# rr_counter INDEX: filter counter summed over CPUs.
rr_counter()
{
	rr_bpftool -j map lookup pinned "$PIN/filter_counters" key "$1" 0 0 0 | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
vals = d.get("formatted", d)["values"]
tot = 0
for v in vals:
    x = v["value"]
    tot += x if isinstance(x, int) else int.from_bytes(bytes(int(b, 16) for b in x), "little")
print(tot)'
}

# le32 N: four hex bytes, little endian (bpftool's key/value syntax).
le32() { printf '0x%02x 0x%02x 0x%02x 0x%02x' $(($1 & 255)) $((($1 >> 8) & 255)) \
	$((($1 >> 16) & 255)) $((($1 >> 24) & 255)); }

# lpm_key GEN PREFIX: struct filter_lpm_key as hex bytes (v4 stored ::ffff:a.b.c.d).
lpm_key()
{
	"$PY" - "$1" "$2" <<'EOF'
import ipaddress, sys
gen, text = int(sys.argv[1]), sys.argv[2]
net = ipaddress.ip_network(text)
if net.version == 4:
    addr = ipaddress.IPv6Address("::ffff:" + str(net.network_address)).packed
    bits = 96 + net.prefixlen
else:
    addr, bits = net.network_address.packed, net.prefixlen
key = (8 + bits).to_bytes(4, "little") + bytes([gen]) + addr + bytes(3)
print(" ".join("0x%02x" % b for b in key))
EOF
}

# rr_fill_gen GEN PORT PREFIX...: make generation GEN hold "deny PREFIX..." for the relay on
# PORT, with the other generation's settings; filter_update's order: rules first, flip later.
rr_fill_gen()
{
	local gen=$1 port=$2 other settings p i=0
	shift 2
	other=$((gen ^ 1))
	settings=$(rr_bpftool -j map lookup pinned "$PIN/filter_settings" key $(le32 $other) |
		"$PY" -c 'import json,sys; print(" ".join(json.load(sys.stdin)["value"]))')
	rr_bpftool map update pinned "$PIN/filter_settings" key $(le32 "$gen") value $settings ||
		return 1
	rr_bpftool map update pinned "$PIN/filter_ports" key $(le32 $((gen * 65536 + port))) \
		value $(le32 1) || return 1
	for p in "$@"; do
		rr_bpftool map update pinned "$PIN/filter_prefixes" key $(lpm_key "$gen" "$p") \
			value $(le32 1) $(le32 $i) || return 1
		i=$((i + 1))
	done
}

rr_flip() { rr_bpftool map update pinned "$PIN/filter_active" key 0 0 0 0 value $(le32 "$1"); }

rr_attached() { lib_relay_log_current | grep -q "filter: attached on $IF_RC"; }

# bad_bursts TO: denied traffic spread over the flips, a bounded loop of BURSTS short bursts
# of 25; a burst that gets any reply is noted in $TMPD/bad.fail.
BURSTS=20
bad_bursts()
{
	local i
	for i in $(seq $BURSTS); do
		lib_udp "$NS_C" client --to "$1" --bind "$BAD_IP" --count 25 --size 64 \
			--expect-none --quiet 0.02 --seconds 5 >>"$TMPD/bad.json" ||
			echo "burst $i" >>"$TMPD/bad.fail"
	done
}

# still_relayed TO PORT_BASE WHEN RX: N_OK datagrams of the allowed client (ports from
# PORT_BASE) come back, and the relay has then received RX in all.
still_relayed()
{
	local out rx
	if out=$(lib_udp "$NS_C" client --to "$1" --bind "$CLIENT_IP" --port-base "$2" \
		--count $N_OK --size 100 --expect-echo); then
		lib_case_ok "$c allowed client still relayed $3"
	else
		lib_case_fail "$c allowed client $3: $out"
	fi
	rx=$(lib_stat rx_pkts t)
	[ "$rx" = "$4" ] || lib_case_fail "$c $3: rx_pkts=$rx, want $4"
}

# flip_case TO DROPS_BEFORE: generation 1 denies the bad client through other rules (a
# sub-prefix of the old one plus an unrelated host). Both sets deny BAD_IP, so whichever set
# a packet meets it must be dropped; only a half-applied set could let one through.
flip_case()
{
	local to=$1 d1=$2 flips=0 bad_pid rx d2 out f0=$LIB_FAILS
	if ! rr_fill_gen 1 5000 "$DENY_B1" "$DENY_B2"; then
		lib_case_fail "$c could not fill generation 1 through the pinned maps"
		return
	fi
	: >"$TMPD/bad.fail"
	bad_bursts "$to" &
	bad_pid=$!
	LIB_PIDS+=("$bad_pid")
	while [ $flips -lt 400 ] && kill -0 "$bad_pid" 2>/dev/null; do
		rr_flip $(((flips + 1) & 1)) || break
		flips=$((flips + 1))
	done
	rr_flip 0
	lib_wait_gone "$bad_pid" 60 || lib_case_fail "$c denied bursts did not finish"
	[ -s "$TMPD/bad.fail" ] &&
		lib_case_fail "$c denied client got replies under flips:" \
			"$(head -c 300 "$TMPD/bad.json")"
	still_relayed "$to" 46000 "after $flips flips" $((2 * N_OK))
	rx=$(lib_stat rx_pkts t)
	d2=$(rr_counter $CNT_DROP_PREFIX)
	[ $((d2 - d1)) -ge $((BURSTS * 25)) ] ||
		lib_case_fail "$c drop_prefix rose by $((d2 - d1)) under flips, want >= $((BURSTS * 25))"
	[ "$LIB_FAILS" -eq "$f0" ] && lib_case_ok "$c $flips rule-set flips under traffic:" \
		"rx_pkts=$rx, drop_prefix +$((d2 - d1)), allow=$(rr_counter $CNT_ALLOW)"
}

held_bound() { lib_nsx "$NS_R" ss -Hlun "sport = :5009" | grep -q .; }
# hold_port: another process binds the relay's address, port 5009 (sets held, holder_pid);
# one the relay sees (lib_hold_port), so its refused reloads answer at once.
hold_port()
{
	held=$(ep "$RELAY_IP" 5009)
	lib_hold_port "$NS_R" "$held" 60 "$TMPD/holder.json"
	holder_pid=$BG_PID
	lib_wait_for 5 held_bound || lib_case_fail "$c the holder never bound $held"
}
reload_refused() { lib_relay_log_current | grep -q "reload failed"; }

# refused_reload_case TO CONF MODE: a reload that would lift the deny rule and add a listener on a
# port another process holds is refused; the previous configuration stays in force, its
# rules included: the denied client still gets nothing back, the allowed one is relayed.
refused_reload_case()
{
	local to=$1 conf=$2 mode=$3 held holder_pid rx0 rx out
	hold_port
	rr_rewrite "$conf" "$mode" "$DENY_B2" "$to\", \"$held"
	grep -qF "$DENY_B2" "$conf" && grep -qF "$held" "$conf" ||
		lib_case_fail "$c could not rewrite $conf for the refused reload"
	rx0=$(lib_stat rx_pkts t)
	kill -HUP "$RELAY_PID"
	if ! lib_wait_for 10 reload_refused; then
		lib_case_fail "$c a reload onto a held port was not refused"
	elif out=$(lib_udp "$NS_C" client --to "$to" --bind "$BAD_IP" --count $N_DENIED \
		--size 100 --expect-none); then
		lib_case_ok "$c refused reload: the old deny rule still drops: $out"
	else
		lib_case_fail "$c refused reload lifted the deny rule anyway: $out"
	fi
	still_relayed "$to" 47000 "after the refused reload" $((rx0 + N_OK))
	lib_stop_pid "$holder_pid"
}

# partial_then_refused_case TO CONF MODE: a reload that changes the filter's mode applies to
# the relays while the program keeps running its rules (the mode needs a restart); a later
# reload back to the running mode with other rules is refused by the relays (a held port). The
# rules the program ran before that reload must come back: before, the refused reload's
# rules stayed, since putting back the configuration in force asked for the mode that needs a
# restart, and the denied client was relayed.
partial_then_refused_case()
{
	local to=$1 conf=$2 mode=$3 other=tc held holder_pid out
	[ "$mode" = tc ] && other=xdp
	hold_port
	rr_rewrite "$conf" "$other" "$DENY_B2" "$to"
	# and a restart-only setting: the partial reload's answer carries its warning too
	# (before: only a full success's did)
	sed -i 's/^buffers = [0-9]*;/buffers = 2048;/' "$conf"
	out=$("$BUILD/ringrelayctl" -s "$TMPD/run/ctl.sock" reload 2>&1)
	if ! echo "$out" | grep -q "reload applied to the relays, but: filter: mode"; then
		lib_case_fail "$c a reload to mode $other did not apply to the relays alone: $out"
	elif ! echo "$out" | grep -q "warning: buffers changed: it takes effect after a restart"; then
		lib_case_fail "$c the partial reload's answer lacks its warning: $out"
	elif ! out=$(lib_udp "$NS_C" client --to "$to" --bind "$BAD_IP" --count 10 --size 100 \
		--expect-none); then
		lib_case_fail "$c after the reload to mode $other: the running rules let $BAD_IP in: $out"
	fi
	# status shows what the program runs (it showed the reloaded config's mode and rules)
	out=$("$BUILD/ringrelayctl" -s "$TMPD/run/ctl.sock" -j status | "$PY" -c 'import json,sys
print(json.load(sys.stdin)["filter"]["mode"])' 2>&1)
	[ "$out" = "$mode" ] || lib_case_fail "$c status after the reload to mode $other: filter $out"
	out=$("$BUILD/ringrelayctl" -s "$TMPD/run/ctl.sock" filter 2>&1)
	echo "$out" | grep -qF "$DENY_A" && ! echo "$out" | grep -qF "$DENY_B2" ||
		lib_case_fail "$c the filter view after the reload to mode $other: $out"
	rr_rewrite "$conf" "$mode" "$DENY_B2" "$to\", \"$held"
	if ! lib_relay_hup "reload failed"; then
		lib_case_fail "$c a reload back to mode $mode onto a held port was not refused"
	elif out=$(lib_udp "$NS_C" client --to "$to" --bind "$BAD_IP" --count $N_DENIED \
		--size 100 --expect-none); then
		lib_case_ok "$c mode $other applied to the relays alone, then a refused reload:" \
			"the running rules still drop: $out"
	else
		lib_case_fail "$c the refused reload's rules stayed in the program: $out"
	fi
	lib_stop_pid "$holder_pid"
}

# rr_rewrite CONF MODE DENY LISTEN: sets the filter's mode, its one deny prefix and the
# relay's listen list (LISTEN goes between the brackets' quotes).
rr_rewrite()
{
	"$PY" - "$@" <<'EOF'
import re, sys
path, mode, deny, listen = sys.argv[1:5]
text = open(path).read()
text = re.sub(r'(filter = \{[^}]*mode = ")[a-z]+', r'\g<1>' + mode, text)
text = re.sub(r'deny = \[ "[^"]*" \];', 'deny = [ "%s" ];' % deny, text)
text = re.sub(r'listen = \[ ("[^"]*",? ?)* \];', 'listen = [ "%s" ];' % listen, text)
open(path, "w").write(text)
EOF
}

# run_case MODE FAMILY
run_case()
{
	local mode=$1 conf echo_pid to d0 d1 rx out
	lib_family "$2"
	c="[$mode/ipv$2]"
	if [ "$2" = 4 ]; then
		BAD_IP=198.18.1.66 DENY_A=198.18.1.64/26 DENY_B1=198.18.1.64/27
		DENY_B2=198.18.1.0/32
	else
		BAD_IP=2001:2:0:1::66 DENY_A=2001:2:0:1::40/122 DENY_B1=2001:2:0:1::60/123
		DENY_B2=2001:2:0:1::/128
	fi
	conf=$TMPD/filter-$mode-$2.conf
	lib_relay_conf "$conf" listen="$(ep "$RELAY_IP" 5000)" up="$(ep "$UP1_IP" 9000)"
	cat >>"$conf" <<EOF
filter = {
	interfaces = [ "$IF_RC" ];
	mode = "$mode";
	default = "allow";
	deny = [ "$DENY_A" ];
	pin = true;
};
EOF
	lib_udp_bg "$NS_U" "$TMPD/echo.json" echo --bind "$(ep "$UP1_IP" 9000)"
	echo_pid=$BG_PID
	if ! lib_relay_start "$conf"; then
		lib_stop_pid "$echo_pid"
		if lib_relay_log_current | grep -qi "filter" || [ "$LIB_FAILS" -ne 0 ]; then
			lib_case_fail "$c relay did not start"
			return
		fi
		lib_skip "$REAL_RELAY does not start with a filter section (not wired in)"
	fi
	if ! lib_wait_for 5 rr_attached; then
		[ "$LIB_FAILS" -eq 0 ] || lib_fail "$c relay runs without the filter"
		lib_relay_stop
		lib_stop_pid "$echo_pid"
		lib_skip "$REAL_RELAY runs but never logs 'filter: attached on $IF_RC':" \
			"filter_new is not wired into main.c yet"
	fi
	lib_case_ok "$c $(lib_relay_log_current | grep "filter: attached on" | tail -n 1)"
	to=$(ep "$RELAY_IP" 5000)

	# Allowed source relayed, denied source dropped by the filter before the relay.
	d0=$(rr_counter $CNT_DROP_PREFIX)
	if out=$(lib_udp "$NS_C" client --to "$to" --bind "$CLIENT_IP" --count $N_OK \
		--size 100 --expect-echo); then
		lib_case_ok "$c allowed client relayed: $out"
	else
		lib_case_fail "$c allowed client: $out"
	fi
	if out=$(lib_udp "$NS_C" client --to "$to" --bind "$BAD_IP" --count $N_DENIED \
		--size 100 --expect-none); then
		lib_case_ok "$c denied client got nothing back: $out"
	else
		lib_case_fail "$c denied client: $out"
	fi
	d1=$(rr_counter $CNT_DROP_PREFIX)
	[ $((d1 - d0)) -ge $N_DENIED ] ||
		lib_case_fail "$c drop_prefix rose by $((d1 - d0)), want >= $N_DENIED"
	rx=$(lib_stat rx_pkts t)
	[ "$rx" = $N_OK ] || lib_case_fail "$c relay rx_pkts=$rx, want $N_OK (denied got through)"

	# The flips and a refused reload once per mode each, in the other family each: the
	# generation a packet meets and its one trie of v4-mapped keys know no family.
	case $mode/$2 in
	xdp/4 | tc/6) flip_case "$to" "$d1" ;;
	*) refused_reload_case "$to" "$conf" "$mode" ;;
	esac
	[ "$2" = 4 ] && partial_then_refused_case "$to" "$conf" "$mode"

	lib_relay_stop || lib_case_fail "$c relay exit status $? after SIGTERM"
	lib_stop_pid "$echo_pid"
	# The filter dies with the process: nothing left on the interface.
	lib_nsx "$NS_R" ip link show dev "$IF_RC" | grep -q 'prog/xdp' &&
		lib_case_fail "$c XDP program still attached after exit"
	lib_nsx "$NS_R" tc filter show dev "$IF_RC" ingress 2>/dev/null | grep -q bpf &&
		lib_case_fail "$c tc filter still attached after exit"
	return 0
}

# stale_pin_case: a pin left under /sys/fs/bpf/ringrelay by a run that did not exit cleanly
# (here a map of another type and size under one of the filter's names) is replaced, not
# reused: the relay starts, says so, and relays (the build before refused to load).
stale_pin_case()
{
	local conf=$TMPD/filter-stale.conf echo_pid out wrap=$TMPD/relay-stale.sh keep=$RINGRELAY
	lib_family 4
	c="[stale pin]"
	cat >"$wrap" <<EOF
#!/bin/sh
mount -t bpf bpf /sys/fs/bpf && mkdir -p $PIN || exit 1
bpftool map create $PIN/offload_sessions type array key 4 value 4 entries 8 \
	name offload_sessions || exit 1
exec "$REAL_RELAY" "\$@"
EOF
	chmod +x "$wrap"
	lib_relay_conf "$conf" listen="$(ep "$RELAY_IP" 5000)" up="$(ep "$UP1_IP" 9000)"
	printf 'filter = { interfaces = [ "%s" ]; mode = "xdp"; pin = true; };\n' "$IF_RC" >>"$conf"
	lib_udp_bg "$NS_U" "$TMPD/echo.json" echo --bind "$(ep "$UP1_IP" 9000)"
	echo_pid=$BG_PID
	RINGRELAY=$wrap
	if lib_relay_start "$conf"; then
		if lib_relay_log_current | grep -q "replaced 1 pinned maps"; then
			lib_case_ok "$c $(lib_relay_log_current | grep -o 'filter: replaced.*')"
		else
			lib_case_fail "$c no 'replaced 1 pinned maps' log line"
		fi
		if out=$(lib_udp "$NS_C" client --to "$(ep "$RELAY_IP" 5000)" --bind "$CLIENT_IP" \
			--count $N_OK --size 100 --expect-echo); then
			lib_case_ok "$c relayed: $out"
		else
			lib_case_fail "$c not relayed: $out"
		fi
		lib_relay_stop || lib_case_fail "$c relay exit status $? after SIGTERM"
	else
		lib_case_fail "$c relay did not start over a stale pin"
	fi
	RINGRELAY=$keep
	lib_stop_pid "$echo_pid"
}

# pin_map_id: the id of the map pinned as filter_counters (empty when there is none).
pin_map_id()
{
	rr_bpftool -j map show pinned "$PIN/filter_counters" 2>/dev/null |
		"$PY" -c 'import json, sys; print(json.load(sys.stdin)["id"])' 2>/dev/null
}

# echo_and_relay WHAT: an echo upstream (sets echo_pid) and the relay on conf; when the relay
# does not start, case c fails naming WHAT, the echo stops, and it returns 1.
echo_and_relay()
{
	lib_udp_bg "$NS_U" "$TMPD/echo.json" echo --bind "$(ep "$UP1_IP" 9000)"
	echo_pid=$BG_PID
	lib_relay_start "$conf" && return 0
	lib_case_fail "$c $1 did not start"
	lib_stop_pid "$echo_pid"
	return 1
}

# pin_owner_case: a second ringrelay with pin = true on the same bpffs (started in the first
# one's mount and network namespaces) refuses to start, naming the first by its pid and saying
# what to do; the first keeps its pins. Before, the second removed the first's pins as "left by
# an earlier run", pinned its own, and removed those at its exit: the first had none left.
pin_owner_case()
{
	local conf=$TMPD/filter-owner.conf conf2=$TMPD/filter-owner2.conf echo_pid id0 id1 rc
	lib_family 4
	c="[pins of a live instance]"
	lib_relay_conf "$conf" listen="$(ep "$RELAY_IP" 5000)" up="$(ep "$UP1_IP" 9000)"
	printf 'filter = { interfaces = [ "%s" ]; mode = "xdp"; pin = true; };\n' "$IF_RC" >>"$conf"
	lib_relay_conf "$conf2" name=t2 listen="$(ep "$RELAY_IP" 5001)" up="$(ep "$UP1_IP" 9000)"
	printf 'filter = { interfaces = [ "%s" ]; mode = "tc"; pin = true; };\n' "$IF_RC" >>"$conf2"
	echo_and_relay "first relay" || return
	sed -i "s|/run/ctl.sock|/run/ctl2.sock|" "$conf2"
	id0=$(pin_map_id)
	[ -n "$id0" ] || lib_case_fail "$c the first relay pinned no filter_counters"
	# (bounded: the build before ran the second until the timeout's SIGTERM)
	timeout -k 2 5 nsenter -m -n -t "$RELAY_PID" "$REAL_RELAY" -f -c "$conf2" \
		>"$TMPD/second.log" 2>&1
	rc=$?
	case $rc in
	0 | 124 | 137) lib_case_fail "$c the second relay ran (exit status $rc)" ;;
	*)
		if grep -q "belong to another running ringrelay (pid $RELAY_PID); stop it" \
			"$TMPD/second.log"; then
			lib_case_ok "$c second refused:" \
				"$(grep -o 'error filter: pin.*' "$TMPD/second.log" | head -n 1)"
		else
			lib_case_fail "$c the second relay exited $rc without naming the first:" \
				"$(tail -n 3 "$TMPD/second.log")"
		fi
		;;
	esac
	id1=$(pin_map_id)
	[ "$id1" = "$id0" ] ||
		lib_case_fail "$c filter_counters pinned: map ${id0:-none} before, ${id1:-none} after"
	lib_relay_stop || lib_case_fail "$c relay exit status $? after SIGTERM"
	lib_stop_pid "$echo_pid"
}

# move_case FAMILY: a reload moves the relay from port 5000 to 5001 while its one worker is
# stuck, so the old listener stays open: the filter goes on judging datagrams to 5000 (a
# denied source's are dropped, drop_prefix). Before, the reload made 5000 no relay's port at
# once: they passed out of scope to the old socket (with the worker running, for the
# milliseconds it takes to move). Once the worker runs again, the next reload reaches it and
# 5000 leaves the scope (pass_out_of_scope). The relay gives up on the stuck worker's reload
# after 1.5 s (RINGRELAY_WORKER_WAIT_MS; 5 s by default).
move_case()
{
	local conf=$TMPD/filter-move-$1.conf echo_pid d0 d1 o0 o1 out
	lib_family "$1"
	c="[relay moved/ipv$1]"
	BAD_IP=198.18.1.66
	[ "$1" = 6 ] && BAD_IP=2001:2:0:1::66
	lib_relay_conf "$conf" listen="$(ep "$RELAY_IP" 5000)" up="$(ep "$UP1_IP" 9000)"
	cat >>"$conf" <<EOF
filter = { interfaces = [ "$IF_RC" ]; mode = "xdp"; pin = true;
	deny = [ "198.18.1.64/26", "2001:2:0:1::40/122" ]; };
EOF
	RINGRELAY_WORKER_WAIT_MS=$((WAIT_SCALE > 3 ? 5000 : 1500 * WAIT_SCALE)) \
		echo_and_relay relay || return
	lib_worker_stop 0 60 "$TMPD/stop-move.out" || lib_fail "$c worker 0 was not stopped"
	sed -i "s/:5000\"/:5001\"/" "$conf"
	lib_relay_hup "reload applied to the relays, but: worker 0 did not take" ||
		lib_case_fail "$c the reload with worker 0 stopped did not say it was stuck"
	d0=$(rr_counter $CNT_DROP_PREFIX) o0=$(rr_counter $CNT_OUT_OF_SCOPE)
	out=$(lib_udp "$NS_C" client --to "$(ep "$RELAY_IP" 5000)" --bind "$BAD_IP" \
		--count $N_DENIED --size 100 --expect-none --quiet 0.3)
	d1=$(rr_counter $CNT_DROP_PREFIX) o1=$(rr_counter $CNT_OUT_OF_SCOPE)
	if [ $((d1 - d0)) -ge $N_DENIED ] && [ "$o1" = "$o0" ]; then
		lib_case_ok "$c old port, worker stuck: drop_prefix +$((d1 - d0))"
	else
		lib_case_fail "$c denied source to the old port with the worker stuck:" \
			"drop_prefix +$((d1 - d0)), pass_out_of_scope +$((o1 - o0)) ($out)"
	fi
	lib_stop_pid "$STOP_PID" # the worker runs again
	lib_relay_hup || lib_case_fail "$c the reload after the worker came back did not apply"
	d0=$(rr_counter $CNT_DROP_PREFIX) o0=$(rr_counter $CNT_OUT_OF_SCOPE)
	lib_udp "$NS_C" client --to "$(ep "$RELAY_IP" 5000)" --bind "$BAD_IP" \
		--count $N_DENIED --size 100 --expect-none --quiet 0.3 >/dev/null
	lib_udp "$NS_C" client --to "$(ep "$RELAY_IP" 5001)" --bind "$BAD_IP" \
		--count $N_DENIED --size 100 --expect-none --quiet 0.3 >/dev/null
	d1=$(rr_counter $CNT_DROP_PREFIX) o1=$(rr_counter $CNT_OUT_OF_SCOPE)
	if [ $((o1 - o0)) -ge $N_DENIED ] && [ $((d1 - d0)) -ge $N_DENIED ]; then
		lib_case_ok "$c every worker moved: 5000 out of scope, 5001 judged"
	else
		lib_case_fail "$c after every worker moved: pass_out_of_scope +$((o1 - o0))" \
			"(5000), drop_prefix +$((d1 - d0)) (5001), want >= $N_DENIED each"
	fi
	lib_relay_stop || lib_case_fail "$c relay exit status $? after SIGTERM"
	lib_stop_pid "$echo_pid"
}

# load_fails_case: a relay started with no program (shed and offload off, no filter) keeps no
# capability to load one; a reload that adds a filter and shed = "auto" cannot load it. The
# relays take the reload, the error says to restart, status says why the relay does not shed:
# that error (before, the previous config's 'shed = "off"' stayed, and the error was the
# kernel's EPERM with a hint to run as root), and counts the reload as partial (before: a
# failure).
load_fails_case()
{
	local conf=$TMPD/filter-fails.conf echo_pid out to
	lib_family 4
	c="[load fails at a reload]"
	to=$(ep "$RELAY_IP" 5000)
	lib_relay_conf "$conf" listen="$to" up="$(ep "$UP1_IP" 9000)" shed=off
	lib_udp_bg "$NS_U" "$TMPD/echo.json" echo --bind "$(ep "$UP1_IP" 9000)"
	echo_pid=$BG_PID
	if lib_relay_start "$conf"; then
		sed -i 's/shed = "off";/shed = "auto";/' "$conf"
		printf 'filter = { interfaces = [ "%s" ]; mode = "xdp"; };\n' "$IF_RC" >>"$conf"
		lib_relay_hup "reload applied to the relays, but: filter: .*restart" ||
			lib_case_fail "$c no 'applied to the relays, but: filter: ... restart' line"
		out=$("$BUILD/ringrelayctl" -s "$TMPD/run/ctl.sock" -j status |
			"$PY" -c 'import json,sys; s = json.load(sys.stdin); r, n = s["relays"][0], s["reloads"]
print(n["last_result"], n["partial"], n["failure"], s["filter"]["mode"], r["shed"]["on"],
      r["shed"]["why"])' 2>&1)
		case $out in
		"partial 1 0 off False filter: "*restart*) lib_case_ok "$c status: $out" ;;
		*) lib_case_fail "$c status after the failed load: $out" ;;
		esac
		lib_expect_echo "still relayed after the reload" --bind "$CLIENT_IP" \
			--count $N_OK --size 100
		lib_relay_stop || lib_case_fail "$c relay exit status $? after SIGTERM"
	else
		lib_case_fail "$c relay did not start without a program"
	fi
	lib_stop_pid "$echo_pid"
}

# push_upstream PORT SECONDS: the upstream at UP1_IP:PORT (in the background, BG_PID): once a
# session's first datagram came, one datagram to it every 50 ms for SECONDS.
push_upstream()
{
	lib_bg "$NS_U" "$PY" -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(15)
_, peer = s.recvfrom(64)
end = time.monotonic() + float(sys.argv[3])
while time.monotonic() < end:
    s.sendto(b"push", peer)
    time.sleep(0.05)' "$UP1_IP" "$1" "$2"
}

# push_client TIMES SECONDS ENDFILE: the client 198.18.1.66 (in the background, BG_PID): one
# datagram to the relay, then the times the pushes reach it, into TIMES, for SECONDS or until
# the time ENDFILE holds once it exists.
push_client()
{
	lib_bg "$NS_C" "$PY" -c '
import os, socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.18.1.66", 0))
s.sendto(b"hello", (host, int(port)))
end = time.time() + float(sys.argv[3])
with open(sys.argv[2], "w") as f:
    while time.time() < end:
        if os.path.exists(sys.argv[4]):
            end = min(end, float(open(sys.argv[4]).read() or end))
        s.settimeout(0.1)
        try:
            s.recv(64)
            print("%.3f" % time.time(), file=f, flush=True)
        except socket.timeout:
            pass' "$(ep "$RELAY_IP" 5000)" "$1" "$2" "$3"
}

# push_counts TIMES T AFTER: how many pushes in TIMES came before T, and how many more than
# AFTER seconds after it.
push_counts()
{
	"$PY" - "$1" "$2" "$3" <<'EOF'
import sys
t = [float(x) for x in open(sys.argv[1])]
r = float(sys.argv[2])
print(len([x for x in t if x < r]), len([x for x in t if x > r + float(sys.argv[3])]))
EOF
}

# push_case: a filter without any fast path (offload "off", the default). A client's session
# gets the upstream's datagrams every 50 ms; a reload denies the client: its session must
# expire at its idle timeout (1.5 s) though the upstream goes on sending, and the client get
# nothing more. Before, only a relay with the fast path judged sessions after a change: the
# replies kept the session, and the denied client got them, until the upstream stopped.
push_case()
{
	local c="[tc/ipv4 push, no fast path]" conf=$TMPD/push.conf push client out t_reload
	lib_family 4
	lib_relay_conf "$conf" listen="$(ep "$RELAY_IP" 5000)" up="$(ep "$UP1_IP" 9001)" timeout=1.5
	printf 'filter = { interfaces = [ "%s" ]; mode = "tc"; deny = [ "198.19.255.0/24" ]; };\n' \
		"$IF_RC" >>"$conf"
	push_upstream 9001 8
	push=$BG_PID
	if ! lib_relay_start "$conf"; then
		lib_case_fail "$c relay did not start"
		lib_stop_pid "$push"
		return
	fi
	push_client "$TMPD/push.times" 6 "$TMPD/push.end"
	client=$BG_PID
	sleep 1
	sed -i 's|deny = \[ "198.19.255.0/24" \]|deny = [ "198.18.1.64/26" ]|' "$conf"
	t_reload=$(date +%s.%N)
	lib_relay_hup "reload" || lib_case_fail "$c reload"
	lib_wait_gone "$client" 15 || lib_case_fail "$c client did not finish"
	out=$(push_counts "$TMPD/push.times" "$t_reload" 2.5)
	case $out in
	"0 "*) lib_case_fail "$c no push reached the client before the reload ($out)" ;;
	*" 0") lib_case_ok "$c pushes before the reload, none 2.5 s after it: $out" ;;
	*) lib_case_fail "$c pushes before the reload, after it (2.5 s on): $out" ;;
	esac
	lib_relay_stop || lib_case_fail "$c relay exit status $? after SIGTERM"
	lib_stop_pid "$push"
}

# pktinfo_case: a listener opened while no filter ran (shed = "auto" alone) is kept by the
# reloads that drop the program (shed "off") and turn a filter on, on veth-ru only: on veth-rc,
# the listener's, the new program sheds alone. A session opened after, whose client comes by
# veth-rc, is left alone by a rules change that denies its client (the filter does not run where
# its datagrams come by): the upstream's pushes keep reaching it past its idle timeout (1 s).
# Before, the kept listener never reported pktinfo: the session had no rx_iif, was judged
# denied, and expired though the program let its client through.
pktinfo_case()
{
	local c="[tc/ipv4 pktinfo on at a reload]" conf=$TMPD/pktinfo.conf push client out t_reload
	lib_family 4
	lib_relay_conf "$conf" listen="$(ep "$RELAY_IP" 5000)" up="$(ep "$UP1_IP" 9002)" \
		timeout=1.0 shed=auto
	push_upstream 9002 6
	push=$BG_PID
	if ! lib_relay_start "$conf"; then
		lib_case_fail "$c relay did not start"
		lib_stop_pid "$push"
		return
	fi
	sed -i 's/shed = "auto";/shed = "off";/' "$conf"
	lib_relay_hup || lib_case_fail "$c reload to shed off"
	sed -i 's/shed = "off";/shed = "auto";/' "$conf"
	printf 'filter = { interfaces = [ "%s" ]; mode = "tc"; deny = [ "198.19.255.0/24" ]; };\n' \
		"$IF_RU" >>"$conf"
	lib_relay_hup || lib_case_fail "$c reload turning the filter on"
	# (until the time in pktinfo.end, 10 s at most)
	push_client "$TMPD/pktinfo.times" 10 "$TMPD/pktinfo.end"
	client=$BG_PID
	lib_wait_lines "$TMPD/pktinfo.times" 1 5 || lib_case_fail "$c no push before the denial"
	sed -i 's|deny = \[ "198.19.255.0/24" \]|deny = [ "198.18.1.64/26" ]|' "$conf"
	t_reload=$(date +%s.%N)
	lib_relay_hup || lib_case_fail "$c reload denying the client"
	"$PY" -c 'import sys; print(float(sys.argv[1]) + 2.5)' "$t_reload" >"$TMPD/pktinfo.end.tmp"
	mv "$TMPD/pktinfo.end.tmp" "$TMPD/pktinfo.end"
	lib_wait_gone "$client" 10 || lib_case_fail "$c client did not finish"
	out=$(push_counts "$TMPD/pktinfo.times" "$t_reload" 2)
	case $out in
	"0 "*) lib_case_fail "$c no push reached the client before the denial ($out)" ;;
	*" 0") lib_case_fail "$c the session was judged: no push 2 s after the denial: $out" ;;
	*) lib_case_ok "$c left alone where only shedding runs: pushes 2 s after the denial: $out" ;;
	esac
	lib_relay_stop || lib_case_fail "$c relay exit status $? after SIGTERM"
	lib_stop_pid "$push"
}

# filter_drops WHAT: drop_prefix as ringrelayctl WHAT (filter or stats) shows it in JSON.
filter_drops()
{
	"$BUILD/ringrelayctl" -s "$TMPD/run/ctl.sock" -j "$1" | "$PY" -c 'import json, sys
d = json.load(sys.stdin)
print((d["counters"] if sys.argv[1] == "filter" else d["filter"])["drop_prefix"])' "$1"
}

# base_case: a reload without the filter unloads the program (no fast path, no shedding), and
# the next one, with it, loads a new one: ringrelayctl filter goes on from the counts before,
# as stats and /metrics do. Before, it showed the new program's own counts: 0.
base_case()
{
	local c="[filter counters across a new program]" conf=$TMPD/filter-base.conf echo_pid
	local line d0 d1 s1 mode
	lib_family 4
	lib_relay_conf "$conf" listen="$(ep "$RELAY_IP" 5000)" up="$(ep "$UP1_IP" 9000)" shed=off
	line="filter = { interfaces = [ \"$IF_RC\" ]; mode = \"tc\";"
	line="$line deny = [ \"198.18.1.64/26\" ]; };"
	echo "$line" >>"$conf"
	echo_and_relay relay || return
	lib_udp "$NS_C" client --to "$(ep "$RELAY_IP" 5000)" --bind 198.18.1.66 --count 10 \
		--size 40 --expect-none --quiet 0.2 >/dev/null ||
		lib_case_fail "$c the denied client got replies"
	d0=$(filter_drops filter)
	sed -i '/^filter = /d' "$conf"
	lib_relay_hup || lib_case_fail "$c the reload without the filter was not applied"
	mode=$("$BUILD/ringrelayctl" -s "$TMPD/run/ctl.sock" -j status |
		"$PY" -c 'import json,sys; print(json.load(sys.stdin)["filter"]["mode"])')
	[ "$mode" = off ] || lib_case_fail "$c the program stayed loaded: filter mode $mode"
	echo "$line" >>"$conf"
	lib_relay_hup || lib_case_fail "$c the reload with the filter again was not applied"
	d1=$(filter_drops filter) s1=$(filter_drops stats)
	if [ "${d0:-0}" -ge 10 ] && [ "$d1" = "$d0" ] && [ "$s1" = "$d0" ]; then
		lib_case_ok "$c drop_prefix $d0, then $d1 in filter and $s1 in stats"
	else
		lib_case_fail "$c drop_prefix ${d0:-none}, then ${d1:-none} in filter and" \
			"${s1:-none} in stats"
	fi
	lib_relay_stop || lib_case_fail "$c relay exit status $? after SIGTERM"
	lib_stop_pid "$echo_pid"
}

for mode in xdp tc; do
	for fam in 4 6; do
		run_case $mode $fam
	done
done
stale_pin_case
pin_owner_case
move_case 6
load_fails_case
base_case
push_case
pktinfo_case
lib_done
