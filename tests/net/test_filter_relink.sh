#!/bin/bash
# SPDX-License-Identifier: MIT
# A filtered interface that disappears and comes back (a new ifindex, or the same one) gets
# the filter again:
# the relay sees the link event (libnl), logs it, re-attaches, and a denied client is dropped
# again while an allowed one is relayed; also after a reload that named another interface
# (a restart-only change); a link renamed to the filtered name, a filtered link renamed away;
# two filtered links that swap names; the fast path on a link of its own that is renamed, also
# to a filtered name.
# IPv4 and IPv6, XDP mode, io_uring backend. An attach on the link
# that came back that fails (tc mode, a classic filter in the way) is tried again at the link's
# next change.
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
	client_link_up
}

# client_link_up: addresses on both ends of the client <-> relay pair, both ends up.
client_link_up()
{
	lib_nsx "$NS_C" ip addr add 198.18.1.1/24 dev "$IF_C"
	lib_nsx "$NS_C" ip addr add 198.18.1.66/24 dev "$IF_C"
	lib_nsx "$NS_C" ip -6 addr add 2001:2:0:1::1/64 dev "$IF_C" nodad
	lib_nsx "$NS_C" ip -6 addr add 2001:2:0:1::66/64 dev "$IF_C" nodad
	lib_nsx "$NS_R" ip addr add 198.18.1.2/24 dev "$IF_RC"
	lib_nsx "$NS_R" ip -6 addr add 2001:2:0:1::2/64 dev "$IF_RC" nodad
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

# tmp_link_up: a second client <-> relay pair, rrtmp-c <-> rrtmp-rc, with the addresses of the
# first, up for longer than the relay's 100 ms settle time, so that the relay has seen it
# under its temporary name.
tmp_link_up()
{
	ip link add rrtmp-c netns "$NS_C" type veth peer name rrtmp-rc netns "$NS_R" ||
		lib_fail "veth rrtmp-c <-> rrtmp-rc"
	IF_C=rrtmp-c IF_RC=rrtmp-rc client_link_up
	sleep 0.5
}

# rename_link NS OLD NEW: renames a link. Linux 6.2 and later rename a link that is up; before
# (Debian 12's 6.1) the kernel refuses with EBUSY, so there the link is taken down (keeping
# its IPv6 addresses), renamed and set up again, as a container's eth0 is made there.
rename_link()
{
	local out
	out=$(lib_nsx "$1" ip link set "$2" name "$3" 2>&1) && return 0
	case $out in
	*"Device or resource busy"*) ;;
	*) echo "$out" >&2; return 1 ;;
	esac
	lib_nsx "$1" sysctl -qw "net.ipv6.conf.$2.keep_addr_on_down=1" &&
		lib_nsx "$1" ip link set "$2" down &&
		lib_nsx "$1" ip link set "$2" name "$3" &&
		lib_nsx "$1" ip link set "$3" up
}

# rename_steps CASE: the filter follows the configured name through renames (Linux 6.2 and
# later rename a link while it is up, which changes none of its flags; rename_link):
#  - a link up under a temporary name becomes $IF_RC after the filtered one was deleted (how a
#    container's eth0 is made): the filter attaches there (before, the rename was no link event,
#    the new $IF_RC ran unfiltered, and nothing was logged);
#  - the filtered $IF_RC is renamed (a notice says the filter stays on it) and another link
#    takes the name: the filter moves there.
rename_steps()
{
	local c=$1 before
	tmp_link_up
	before=$(lib_log_count "attaching the filter again")
	lib_nsx "$NS_R" ip link del "$IF_RC"
	rename_link "$NS_R" rrtmp-rc "$IF_RC" && rename_link "$NS_C" rrtmp-c "$IF_C" ||
		lib_fail "rename to $IF_RC"
	if lib_wait_for 10 lib_log_count_ge "attaching the filter again" $((before + 1)); then
		lib_case_ok "$c a link renamed to $IF_RC after it went: filter attached"
	else
		lib_case_fail "$c no attach on the link renamed to $IF_RC"
	fi
	check "$c on the link renamed to $IF_RC"

	tmp_link_up
	before=$(lib_log_count "attaching the filter again")
	rename_link "$NS_R" "$IF_RC" rrold-rc && rename_link "$NS_C" "$IF_C" rrold-c &&
		rename_link "$NS_R" rrtmp-rc "$IF_RC" && rename_link "$NS_C" rrtmp-c "$IF_C" ||
		lib_fail "swap of names"
	if lib_wait_for 10 lib_log_count_ge "attaching the filter again" $((before + 1)); then
		lib_case_ok "$c names swapped: filter moved to the new $IF_RC"
	else
		lib_case_fail "$c names swapped: the filter did not move to the new $IF_RC"
	fi
	lib_log_count_ge "filter: link $IF_RC (ifindex [0-9]*) is named rrold-rc now" 1 ||
		lib_case_fail "$c no notice that the filtered link was renamed"
	lib_nsx "$NS_R" ip link del rrold-rc
	check "$c after the names were swapped"
}

# start_echo_relay CONF: the upstream's echo (echo_pid) and the relay on CONF; fails the
# case (c) when the relay does not start.
start_echo_relay()
{
	# (stopped at the case's end; an emulated CPU's IPv4 run_case outlasts 60 s)
	lib_udp_bg "$NS_U" "$TMPD/echo.json" echo --bind "$(ep "$UP1_IP" 9000)" \
		--seconds $((60 * WAIT_SCALE))
	echo_pid=$BG_PID
	lib_relay_start "$1" && return 0
	lib_case_fail "$c relay did not start"
	lib_stop_pid "$echo_pid"
	return 1
}

run_case()
{
	local backend=$1 fam=$2 c conf echo_pid
	lib_family "$fam"
	c="[$backend/ipv$fam]"
	DENIED_IP=198.18.1.66
	[ "$fam" = 6 ] && DENIED_IP=2001:2:0:1::66
	conf=$TMPD/relink-$backend-$fam.conf
	lib_relay_conf "$conf" backend="$backend" listen="$(ep "$RELAY_IP" 5000)" \
		up="$(ep "$UP1_IP" 9000)"
	cat >>"$conf" <<EOF
filter = { interfaces = [ "$IF_RC" ]; mode = "xdp";
	deny = [ "198.18.1.64/26", "2001:2:0:1::40/122" ]; };
EOF
	start_echo_relay "$conf" || return
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
	rename_steps "$c"
	lib_relay_alive || lib_case_fail "$c relay died"
	lib_relay_stop || lib_case_fail "$c relay exit status $? after SIGTERM, want 0"
	lib_stop_pid "$echo_pid"
}

# retry_case FAMILY: the filter's attach on a link that came back fails (a classic tc filter of
# someone else's holds the filter's priority with another protocol, so the kernel refuses ours);
# the next change of the link (an address) tries again and attaches. Before, the failed attach
# left the new ifindex recorded as attached: every later event skipped the link, which stayed
# unfiltered after one error line.
retry_case()
{
	local fam=$1 c conf echo_pid failed attached tmp=rrtmp-rc
	lib_family "$fam"
	c="[attach retried/ipv$fam]"
	DENIED_IP=198.18.1.66
	[ "$fam" = 6 ] && DENIED_IP=2001:2:0:1::66
	conf=$TMPD/retry-$fam.conf
	lib_relay_conf "$conf" listen="$(ep "$RELAY_IP" 5000)" up="$(ep "$UP1_IP" 9000)"
	cat >>"$conf" <<EOF
filter = { interfaces = [ "$IF_RC" ]; mode = "tc"; tc_hook = "clsact";
	deny = [ "198.18.1.64/26", "2001:2:0:1::40/122" ]; };
EOF
	start_echo_relay "$conf" || return
	check "$c before the link goes"
	failed=$(lib_log_count "filter: attach on $IF_RC: .* tries again")
	attached=$(lib_log_count "filter: attached on $IF_RC")
	lib_nsx "$NS_R" ip link del "$IF_RC"
	# Made under another name and renamed once the blocking filter is on it, so the relay
	# never sees an $IF_RC without it.
	ip link add "$tmp" netns "$NS_R" type veth peer name "$IF_C" netns "$NS_C" ||
		lib_fail "veth $tmp"
	lib_nsx "$NS_R" tc qdisc add dev "$tmp" clsact &&
		lib_nsx "$NS_R" tc filter add dev "$tmp" ingress pref 1 protocol ip \
			u32 match u32 0 0 classid 1:1 &&
		lib_nsx "$NS_R" ip link set "$tmp" name "$IF_RC" || lib_fail "blocking tc filter"
	client_link_up
	if lib_wait_for 10 lib_log_count_ge "filter: attach on $IF_RC: .* tries again" \
		$((failed + 1)); then
		lib_case_ok "$c $(lib_relay_log_current | grep "filter: attach on $IF_RC" | tail -n 1)"
	else
		lib_case_fail "$c no error line saying the attach on the new $IF_RC is tried again"
	fi
	lib_nsx "$NS_R" tc filter del dev "$IF_RC" ingress pref 1 || lib_fail "tc filter del"
	# One more change of the link: an address.
	lib_nsx "$NS_R" ip addr add 198.18.1.3/24 dev "$IF_RC"
	if lib_wait_for 10 lib_log_count_ge "filter: attached on $IF_RC" $((attached + 1)); then
		lib_case_ok "$c attached at the link's next change"
	else
		lib_case_fail "$c the filter was not attached at the link's next change"
	fi
	check "$c after the retry"
	lib_relay_alive || lib_case_fail "$c relay died"
	lib_relay_stop || lib_case_fail "$c relay exit status $? after SIGTERM, want 0"
	lib_stop_pid "$echo_pid"
}

# swap_case: two filtered links that swap names (IPv4, tc mode in classic clsact filters):
# IF_RC and a second pair rrsw-rc <-> rrsw-c (198.18.5.0/24), both in the filter's
# interfaces. After the swap each record follows its name to the other link, and both links
# must stay filtered. Before, the record that moved first replaced the classic filter the
# other record still had there (same handle and priority), and the other's detach, as it moved
# on, took it: one link was left unfiltered for good. (In XDP mode the busy link made the
# first record fall back to tc beside the other's XDP link, which hid it.)
swap_case()
{
	local c="[names swapped between two filtered links]" conf=$TMPD/swap.conf echo_pid before
	local f0=$LIB_FAILS
	lib_family 4
	DENIED_IP=198.18.1.66
	ip link add rrsw-c netns "$NS_C" type veth peer name rrsw-rc netns "$NS_R" ||
		lib_fail "veth rrsw-c <-> rrsw-rc"
	lib_nsx "$NS_C" ip addr add 198.18.5.1/24 dev rrsw-c
	lib_nsx "$NS_C" ip addr add 198.18.5.66/24 dev rrsw-c
	lib_nsx "$NS_R" ip addr add 198.18.5.2/24 dev rrsw-rc
	lib_nsx "$NS_C" ip link set rrsw-c up
	lib_nsx "$NS_R" ip link set rrsw-rc up
	lib_wait_for 5 lib__link_up "$NS_R" rrsw-rc || lib_fail "rrsw-rc not up"
	lib_relay_conf "$conf" listen="198.18.1.2:5000" listen="198.18.5.2:5000" \
		up="$(ep "$UP1_IP" 9000)"
	cat >>"$conf" <<EOF
filter = { interfaces = [ "$IF_RC", "rrsw-rc" ]; mode = "tc"; tc_hook = "clsact";
	deny = [ "198.18.1.64/26", "198.18.5.64/26" ]; };
EOF
	start_echo_relay "$conf" || return
	check "$c $IF_RC before the swap"
	RELAY_IP=198.18.5.2 CLIENT_IP=198.18.5.1 DENIED_IP=198.18.5.66 \
		check "$c rrsw-rc before the swap"
	before=$(lib_log_count "attaching the filter again")
	rename_link "$NS_R" "$IF_RC" rrsw-tmp && rename_link "$NS_R" rrsw-rc "$IF_RC" &&
		rename_link "$NS_R" rrsw-tmp rrsw-rc || lib_fail "swap of names"
	lib_wait_for 10 lib_log_count_ge "attaching the filter again" $((before + 2)) ||
		lib_case_fail "$c $(($(lib_log_count "attaching the filter again") - before)) of 2" \
			"links said the filter attaches again"
	# (198.18.1.0/24 is on rrsw-rc now, 198.18.5.0/24 on $IF_RC)
	check "$c the link named rrsw-rc now"
	RELAY_IP=198.18.5.2 CLIENT_IP=198.18.5.1 DENIED_IP=198.18.5.66 \
		check "$c the link named $IF_RC now"
	lib_relay_alive || lib_case_fail "$c relay died"
	lib_relay_stop || lib_case_fail "$c relay exit status $? after SIGTERM, want 0"
	lib_stop_pid "$echo_pid"
	lib_nsx "$NS_R" ip link del rrsw-rc
	[ "$LIB_FAILS" = "$f0" ] && lib_case_ok "$c both links filtered after the swap"
}

# fp_names: the names of the fast path's interfaces (ringrelayctl stats), sorted, on one line.
fp_names()
{
	"$BUILD/ringrelayctl" -s "$TMPD/run/ctl.sock" -j stats 2>/dev/null |
		"$PY" -c 'import json,sys
print(" ".join(sorted(i["name"] for i in json.load(sys.stdin)["fast_path"]["interfaces"])))'
}
# fp_names_are NAME...: whether those are the fast path's interfaces, in any order.
fp_names_are()
{
	fp_names | "$PY" -c 'import sys
sys.exit(sys.stdin.read().split() != sorted(sys.argv[1:]))' "$@"
}

# fastpath_rename_case: the fast path (offload = "tc") runs on $IF_RU on its own (not one of
# the filter's interfaces), which is renamed rrfp-ru, then (after the filtered rrfp-f was
# deleted) rrfp-f: the fast path shows it by its name each time, and once, in the filter's
# entry; the filter attaches there, and the filter's entry takes the fast path's tc hook
# over (the fast path attaches nothing again). Before, it showed $IF_RU for good, and after
# the second rename twice (the fast path's entry beside the filter's of the same ifindex,
# whose transmits an unload counted twice), and the filter's tcx attach there was refused
# (EEXIST), which left rrfp-f unfiltered while the names looked right; then (review-ifrename
# R1) the fast path's hook went with its entry and came back at the link event's apply.
fastpath_rename_case()
{
	local c="[fast path on a renamed link]" conf=$TMPD/fprename.conf echo_pid attached fp
	lib_family 4
	ip link add rrfp-f netns "$NS_R" type veth peer name rrfp-p netns "$NS_C" ||
		lib_fail "veth rrfp-f <-> rrfp-p"
	lib_relay_conf "$conf" listen="$(ep "$RELAY_IP" 5000)" up="$(ep "$UP1_IP" 9000)"
	sed -i 's/max_sessions = 4096;/max_sessions = 4096; offload = "tc";/' "$conf"
	cat >>"$conf" <<EOF
filter = { interfaces = [ "$IF_RC", "rrfp-f" ]; mode = "tc"; deny = [ "198.18.1.64/26" ]; };
EOF
	start_echo_relay "$conf" || return
	lib_wait_for 5 fp_names_are "$IF_RC" "$IF_RU" ||
		lib_case_fail "$c at the start: the fast path shows $(fp_names)"
	rename_link "$NS_R" "$IF_RU" rrfp-ru || lib_fail "rename $IF_RU rrfp-ru"
	if lib_wait_for 5 fp_names_are "$IF_RC" rrfp-ru; then
		lib_case_ok "$c $IF_RU renamed rrfp-ru: shown so"
	else
		lib_case_fail "$c $IF_RU renamed rrfp-ru: the fast path shows $(fp_names)"
	fi
	attached=$(lib_log_count "filter: attached on rrfp-f (")
	fp=$(lib_log_count "offload: fast path on rrfp-f in")
	lib_nsx "$NS_R" ip link del rrfp-f
	rename_link "$NS_R" rrfp-ru rrfp-f || lib_fail "rename rrfp-ru rrfp-f"
	if lib_wait_for 5 fp_names_are "$IF_RC" rrfp-f; then
		lib_case_ok "$c renamed to the filtered rrfp-f: shown once"
	else
		lib_case_fail "$c renamed to the filtered rrfp-f: the fast path shows $(fp_names)"
	fi
	if lib_wait_for 5 lib_log_count_ge "filter: attached on rrfp-f (" $((attached + 1)); then
		lib_case_ok "$c renamed to the filtered rrfp-f: the filter attached there"
	else
		lib_case_fail "$c renamed to the filtered rrfp-f: the filter did not attach there:" \
			"$(lib_relay_log_current | grep "filter: attach on rrfp-f" | tail -n 1)"
	fi
	lib_wait_for 10 relayed || lib_case_fail "$c nothing relayed after the renames"
	# (after a datagram went through: the link event's apply, which would attach it, is done)
	[ "$(lib_log_count "offload: fast path on rrfp-f in")" = "$fp" ] ||
		lib_case_fail "$c the fast path attached again on rrfp-f: the filter's entry did" \
			"not take its hook over"
	lib_relay_alive || lib_case_fail "$c relay died"
	lib_relay_stop || lib_case_fail "$c relay exit status $? after SIGTERM, want 0"
	lib_stop_pid "$echo_pid"
	rename_link "$NS_R" rrfp-f "$IF_RU" || lib_fail "rename rrfp-f $IF_RU"
}

NET_BACKENDS=${NET_BACKENDS:-io_uring}
for backend in $(lib_backends); do
	for fam in 4 6; do
		run_case "$backend" "$fam"
	done
done
retry_case 4
fastpath_rename_case
swap_case
lib_done
