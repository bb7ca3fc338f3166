#!/bin/bash
# SPDX-License-Identifier: MIT
# A filtered interface that disappears and comes back (a new ifindex, or the same one) gets
# the filter again:
# the relay sees the link event (libnl), logs it, re-attaches, and a denied client is dropped
# again while an allowed one is relayed; also after a reload that named another interface
# (a restart-only change). IPv4 and IPv6, XDP mode, io_uring backend.
. "$(dirname "$0")/lib.sh"
[ -x "$RINGRELAY" ] || lib_skip "relay binary $RINGRELAY not built"
lib_topology

# add_client_link [IFINDEX]: (re)creates the client <-> relay veth pair with its addresses;
# the relay's end as IFINDEX when given.
add_client_link()
{
	if [ -n "${1:-}" ]; then
		lib_nsx "$NS_R" ip link add "$IF_RC" index "$1" type veth peer name "$IF_C" &&
			lib_nsx "$NS_R" ip link set "$IF_C" netns "$NS_C" ||
			lib_fail "veth client<->relay as ifindex $1"
	else
		ip link add "$IF_C" netns "$NS_C" type veth peer name "$IF_RC" netns "$NS_R" ||
			lib_fail "veth client<->relay"
	fi
	lib_nsx "$NS_C" ip addr add 198.18.1.1/24 dev "$IF_C"
	lib_nsx "$NS_C" ip addr add 198.18.1.66/24 dev "$IF_C"
	lib_nsx "$NS_C" ip -6 addr add 2001:2:1::1/64 dev "$IF_C" nodad
	lib_nsx "$NS_C" ip -6 addr add 2001:2:1::66/64 dev "$IF_C" nodad
	lib_nsx "$NS_R" ip addr add 198.18.1.2/24 dev "$IF_RC"
	lib_nsx "$NS_R" ip -6 addr add 2001:2:1::2/64 dev "$IF_RC" nodad
	lib_nsx "$NS_C" ip link set "$IF_C" up
	lib_nsx "$NS_R" ip link set "$IF_RC" up
	lib_wait_for 5 lib__link_up "$NS_R" "$IF_RC" || lib_fail "$IF_RC not up"
	lib_wait_for 5 lib__link_up "$NS_C" "$IF_C" || lib_fail "$IF_C not up"
}

# Replace the client link lib_topology made with one that also has the denied addresses.
lib_nsx "$NS_R" ip link del "$IF_RC"
add_client_link

# relayed: one datagram from the allowed client comes back (the path is ready).
relayed()
{
	lib_udp "$NS_C" client --to "$(ep "$RELAY_IP" 5000)" --bind "$CLIENT_IP" --count 1 \
		--size 40 --expect-echo --seconds 1 >/dev/null
}

# check CASE: the allowed client is relayed, the denied one gets nothing back.
check()
{
	local c=$1 out
	# A re-created link needs a moment (neighbour discovery): wait until one datagram
	# makes it, then every one must.
	lib_wait_for 10 relayed || lib_case_fail "$c allowed client never relayed"
	out=$(lib_udp "$NS_C" client --to "$(ep "$RELAY_IP" 5000)" --bind "$CLIENT_IP" --count 5 \
		--size 40 --expect-echo --seconds 10) || lib_case_fail "$c allowed client: $out"
	out=$(lib_udp "$NS_C" client --to "$(ep "$RELAY_IP" 5000)" --bind "$DENIED_IP" --count 5 \
		--size 40 --expect-none --quiet 0.3) || lib_case_fail "$c denied client: $out"
}

run_case()
{
	local backend=$1 fam=$2 c conf
	lib_family "$fam"
	c="[$backend/ipv$fam]"
	DENIED_IP=198.18.1.66
	[ "$fam" = 6 ] && DENIED_IP=2001:2:1::66
	conf=$TMPD/relink-$backend-$fam.conf
	lib_relay_conf "$conf" backend="$backend" listen="$(ep "$RELAY_IP" 5000)" \
		up="$(ep "$UP1_IP" 9000)"
	cat >>"$conf" <<EOF
filter = { interfaces = [ "$IF_RC" ]; mode = "xdp";
	deny = [ "198.18.1.64/26", "2001:2:1::40/122" ]; };
EOF
	lib_udp_bg "$NS_U" "$TMPD/echo.json" echo --bind "$(ep "$UP1_IP" 9000)" --seconds 60
	local echo_pid=$BG_PID
	if ! lib_relay_start "$conf"; then
		lib_case_fail "$c relay did not start"
		lib_stop_pid "$echo_pid"
		return
	fi
	check "$c before the link goes"
	# A reload that moves the filter to another interface needs a restart: the relays take
	# the rest, and the program keeps filtering $IF_RC, which it must follow when the link
	# comes back (before, the link event looked at the reloaded config's interfaces).
	if [ "$fam" = 4 ]; then
		sed -i "s/interfaces = \[ \"$IF_RC\" \]/interfaces = [ \"$IF_RU\" ]/" "$conf"
		lib_relay_hup "reload applied to the relays, but: filter: interfaces changed" ||
			lib_case_fail "$c the reload to filter $IF_RU did not apply to the relays alone"
	fi
	local before
	before=$(lib_log_count "attaching the filter again")
	lib_nsx "$NS_R" ip link del "$IF_RC"
	add_client_link
	if lib_wait_for 10 lib_log_count_ge "attaching the filter again" $((before + 1)); then
		lib_case_ok "$c link event seen, filter re-attached"
	else
		lib_case_fail "$c no re-attach after the link came back"
	fi
	check "$c after the link came back"
	# The same ifindex again (a device made with index N, or moved out and back): the
	# filter forgets what ran on a link that went, so it attaches again; once with the
	# deletion reported on its own, once gone and back within one report (before, the
	# filter took the ifindex for attached, and the denied client was relayed).
	local gap idx
	for gap in 0.5 0; do
		[ "$fam" = 4 ] || break
		idx=$(lib_nsx "$NS_R" cat "/sys/class/net/$IF_RC/ifindex")
		before=$(lib_log_count "attaching the filter again")
		lib_nsx "$NS_R" ip link del "$IF_RC"
		sleep "$gap"
		add_client_link "$idx"
		if lib_wait_for 10 lib_log_count_ge "attaching the filter again" $((before + 1)); then
			lib_case_ok "$c back as ifindex $idx, ${gap} s after it went: filter re-attached"
		else
			lib_case_fail "$c no re-attach after the link came back as ifindex $idx" \
				"${gap} s after it went"
		fi
		check "$c after the link came back as ifindex $idx"
	done
	lib_relay_alive || lib_case_fail "$c relay died"
	lib_relay_stop || lib_case_fail "$c relay exit status $? after SIGTERM, want 0"
	lib_stop_pid "$echo_pid"
}

NET_BACKENDS=${NET_BACKENDS:-io_uring}
lib_each_case run_case
