#!/bin/bash
# SPDX-License-Identifier: MIT
# The filter bypasses of issue 12, sent through a real veth to a relay that attached the filter
# itself, in each mode (xdp = native XDP on veth, xdp-generic, tc) and for IPv4 and IPv6, with
# MTU 9000 on the client link:
#
#   - a denied source wrapped in 3, 4 and 8 VID-0 VLAN tags (the stack strips any number of
#     them): dropped, drop_prefix; the same 3-tag wrap from an allowed source reaches the relay,
#     which shows such frames do get through the stack;
#   - 9 tags, deeper than the filter walks: dropped as unparsed (drop_unparsed), any source;
#   - 5,000-byte datagrams as raw frames with only the Ethernet header linear (non-linear skbs
#     in tc, XDP frags), and from a UDP socket: denied ones dropped, allowed ones relayed;
#   - 20,000-byte datagrams fragmented by the sender's own stack: allowed ones relayed and
#     echoed (the first fragment carries the whole datagram's UDP length), denied ones dropped;
#   - hand-made later fragments from the denied source (IPv6: the fragment header names TCP),
#     whose first fragment the filter has not seen: dropped, drop_fragment;
#   - 20,000-byte datagrams from the denied source to a port no relay listens on (out of
#     scope): the later fragments follow their first fragment's pass, so they reassemble and
#     are echoed (before: the later ones were dropped, drop_fragment).
#
# "Reached the relay" is the relay's rx_pkts. Filter counters come from the pinned maps in a
# bpffs private to the relay's mount namespace (the same wrapper as test_filter.sh).
. "$(dirname "$0")/lib.sh"

[ -x "$RINGRELAY" ] || lib_skip "relay binary $RINGRELAY not built"
lib_topology

FRAMES_PY=$LIB_DIR/filter_frames.py
# enum filter_counter (bpf/filter_maps.h)
CNT_DROP_PREFIX=6
CNT_DROP_FRAGMENT=12
CNT_DROP_UNPARSED=15
N=10

lib_private_bpffs

# Jumbo frames on the client link; a second client address inside the denied prefixes.
lib_nsx "$NS_C" ip link set dev "$IF_C" mtu 9000
lib_nsx "$NS_R" ip link set dev "$IF_RC" mtu 9000
lib_nsx "$NS_C" ip addr add 198.18.1.66/24 dev "$IF_C"
lib_nsx "$NS_C" ip -6 addr add 2001:2:0:1::66/64 dev "$IF_C" nodad
RC_MAC=$(lib_nsx "$NS_R" cat "/sys/class/net/$IF_RC/address")

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
rr__counter_ge() { [ "$(rr_counter "$1")" -ge "$2" ]; }

# frames SRC ARGS...: raw frames from the client namespace to the relay's listen port.
frames()
{
	local src=$1
	shift
	lib_nsx "$NS_C" "$PY" "$FRAMES_PY" --ifname "$IF_C" --dst-mac "$RC_MAC" --src "$src" \
		--dst "$RELAY_IP" --dport 5000 --count $N "$@" >/dev/null
}

# expect_dropped WHAT COUNTER RX SRC FRAME-ARGS...: N frames rise COUNTER by N and the
# relay's rx_pkts stays at RX.
expect_dropped()
{
	local what=$1 idx=$2 rx=$3 src=$4 c0 now
	shift 4
	c0=$(rr_counter "$idx")
	if ! frames "$src" "$@"; then
		lib_case_fail "$c $what: sending the frames failed"
		return
	fi
	if ! lib_wait_for 5 rr__counter_ge "$idx" $((c0 + N)); then
		lib_case_fail "$c $what: counter $idx rose by $(($(rr_counter "$idx") - c0)), want $N"
		return
	fi
	now=$(lib_stat rx_pkts t)
	if [ "$now" = "$rx" ]; then
		lib_case_ok "$c $what: $N dropped by the filter, none reached the relay"
	else
		lib_case_fail "$c $what: relay rx_pkts $rx -> $now, the filter let them through"
	fi
}

# udp_case WHAT SRC EXPECT SIZE: N datagrams from a UDP socket; EXPECT echo|none.
udp_case()
{
	local what=$1 src=$2 expect=$3 size=$4 out
	if out=$(lib_udp "$NS_C" client --to "$(ep "$RELAY_IP" 5000)" --bind "$src" --count $N \
		--size "$size" --expect-"$expect"); then
		lib_case_ok "$c $what: $out"
	else
		lib_case_fail "$c $what: $out"
	fi
}

attach_kind()
{
	case $1 in
	xdp) echo "native XDP" ;;
	xdp-generic) echo "generic XDP" ;;
	tc) echo "tc ingress" ;;
	esac
}
rr_attached() { lib_relay_log_current | grep -q "filter: attached on $IF_RC"; }

# run_case MODE FAMILY
run_case()
{
	local mode=$1 conf echo_pid oos_pid rx bad deny d0 line out
	lib_family "$2"
	c="[$mode/ipv$2]"
	if [ "$2" = 4 ]; then
		bad=198.18.1.66 deny=198.18.1.64/26
	else
		bad=2001:2:0:1::66 deny=2001:2:0:1::40/122
	fi
	conf=$TMPD/bypass-$mode-$2.conf
	lib_relay_conf "$conf" buffer=65536 buffers=64 listen="$(ep "$RELAY_IP" 5000)" \
		up="$(ep "$UP1_IP" 9000)"
	cat >>"$conf" <<EOF
filter = {
	interfaces = [ "$IF_RC" ];
	mode = "$mode";
	default = "allow";
	deny = [ "$deny" ];
	pin = true;
};
EOF
	lib_udp_bg "$NS_U" "$TMPD/echo.json" echo --bind "$(ep "$UP1_IP" 9000)"
	echo_pid=$BG_PID
	if ! lib_relay_start "$conf"; then
		lib_stop_pid "$echo_pid"
		lib_case_fail "$c relay did not start"
		return
	fi
	if ! lib_wait_for 5 rr_attached; then
		lib_case_fail "$c the relay never logged 'filter: attached on $IF_RC'"
		lib_relay_stop
		lib_stop_pid "$echo_pid"
		return
	fi
	line=$(lib_relay_log_current | grep "filter: attached on $IF_RC" | tail -n 1)
	# The mode itself, no fallback: xdp must be native XDP on the MTU-9000 veth (xdp.frags).
	if echo "$line" | grep -q "($(attach_kind "$mode")[,)]"; then
		lib_case_ok "$c $line"
	else
		lib_case_fail "$c attached another way than $(attach_kind "$mode"): $line"
	fi

	# VLAN stacks. The allowed 3-tag wrap must arrive: the stack does strip VID-0 tags.
	rx=$(lib_stat rx_pkts t)
	if frames "$CLIENT_IP" --tags 3 && lib_wait_stat rx_pkts -ge $((rx + N)) 5; then
		lib_case_ok "$c allowed source in 3 VID-0 tags reached the relay ($N)"
	else
		lib_case_fail "$c allowed source in 3 VID-0 tags: rx_pkts $rx -> ${LAST_STAT:-?}"
	fi
	rx=$(lib_stat rx_pkts t)
	expect_dropped "denied source in 3 VID-0 tags" $CNT_DROP_PREFIX "$rx" "$bad" --tags 3
	expect_dropped "denied source in 4 VID-0 tags" $CNT_DROP_PREFIX "$rx" "$bad" --tags 4
	expect_dropped "denied source in 8 VID-0 tags" $CNT_DROP_PREFIX "$rx" "$bad" --tags 8
	expect_dropped "allowed source in 9 tags (unparsed)" $CNT_DROP_UNPARSED "$rx" \
		"$CLIENT_IP" --tags 9
	expect_dropped "denied source in 9 tags (unparsed)" $CNT_DROP_UNPARSED "$rx" "$bad" \
		--tags 9

	# 5,000-byte datagrams. As raw frames over a page, AF_PACKET puts only the Ethernet
	# header in the linear area: tc gets a non-linear skb, XDP frags. From a UDP socket
	# (linear here, but the real path) the allowed ones must come back.
	rx=$(lib_stat rx_pkts t)
	expect_dropped "denied 5000-byte datagrams, non-linear" $CNT_DROP_PREFIX "$rx" "$bad" \
		--size 5000
	if frames "$CLIENT_IP" --size 5000 && lib_wait_stat rx_pkts -ge $((rx + N)) 5; then
		lib_case_ok "$c allowed 5000-byte datagrams, non-linear, reached the relay ($N)"
	else
		lib_case_fail "$c allowed 5000-byte non-linear datagrams: rx_pkts $rx -> ${LAST_STAT:-?}"
	fi
	d0=$(rr_counter $CNT_DROP_PREFIX)
	udp_case "denied 5000-byte datagrams" "$bad" none 5000
	lib_wait_for 5 rr__counter_ge $CNT_DROP_PREFIX $((d0 + N)) ||
		lib_case_fail "$c drop_prefix rose by $(($(rr_counter $CNT_DROP_PREFIX) - d0))" \
			"for the 5000-byte datagrams, want $N"
	udp_case "allowed 5000-byte datagrams" "$CLIENT_IP" echo 5000

	# Later fragments whose first fragment the filter has not seen (before the 20,000-byte
	# datagrams below, whose first fragments' IDs the filter remembers).
	rx=$(lib_stat rx_pkts t)
	expect_dropped "denied later fragments" $CNT_DROP_FRAGMENT "$rx" "$bad" \
		--kind later-fragment --size 600
	[ "$2" = 6 ] && expect_dropped "denied later fragments naming TCP" $CNT_DROP_FRAGMENT \
		"$rx" "$bad" --kind later-fragment --size 600 --next-header 6

	# 20,000-byte datagrams: three fragments each at MTU 9000.
	d0=$(rr_counter $CNT_DROP_PREFIX)
	udp_case "allowed 20000-byte datagrams in fragments" "$CLIENT_IP" echo 20000
	udp_case "denied 20000-byte datagrams in fragments" "$bad" none 20000
	lib_wait_for 5 rr__counter_ge $CNT_DROP_PREFIX $((d0 + N)) ||
		lib_case_fail "$c drop_prefix rose by $(($(rr_counter $CNT_DROP_PREFIX) - d0))" \
			"for the denied first fragments, want $N"
	lib_udp_bg "$NS_R" "$TMPD/echo-oos.json" echo --bind "$(ep "$RELAY_IP" 7000)"
	oos_pid=$BG_PID
	if out=$(lib_udp "$NS_C" client --to "$(ep "$RELAY_IP" 7000)" --bind "$bad" --count $N \
		--size 20000 --expect-echo); then
		lib_case_ok "$c denied 20000-byte datagrams in fragments, out of scope: $out"
	else
		lib_case_fail "$c denied 20000-byte datagrams in fragments, out of scope: $out"
	fi
	lib_stop_pid "$oos_pid"
	# Read after the out-of-scope case, so what the relay received during it counts too.
	rx=$(lib_stat rx_pkts t)
	[ "$rx" = $((4 * N)) ] ||
		lib_case_fail "$c relay rx_pkts=$rx, want $((4 * N)) (the allowed: 3 tags, 5000 B raw" \
			"and from a socket, 20000 B)"

	lib_relay_stop || lib_case_fail "$c relay exit status $? after SIGTERM"
	lib_stop_pid "$echo_pid"
	return 0
}

for mode in xdp xdp-generic tc; do
	for fam in 4 6; do
		run_case $mode $fam
	done
done
lib_done
