#!/bin/bash
# SPDX-License-Identifier: MIT
# Command line and config errors, per family (and per backend where sockets are involved):
#   -t accepts a good config (exit 0) and -T prints it;
#   -t rejects bad configs with exit 1 and one "FILE:LINE: SETTING: why" message naming the
#   right line and setting (a listen address or a source the host lacks too); a missing
#   file is named;
#   a listen port already taken gives a clear error ("in use", the endpoint) and exit 1.
. "$(dirname "$0")/lib.sh"
lib_topology
[ -x "$RINGRELAY" ] || lib_fail "relay binary $RINGRELAY not found (make build/ringrelay)"

# The relay runs in NS_R so listen addresses exist as on a real host.
relay() { ip netns exec "$NS_R" timeout 10 "$RINGRELAY" "$@"; }

# bad_case NAME LINE SETTING SED: edit line LINE of the good config with SED; -t must fail
# with "FILE:LINE:" and SETTING in the message (SETTING empty for a syntax error).
bad_case()
{
	local name=$1 line=$2 setting=$3 edit=$4 bad=$TMPD/bad-$1-$fam.conf out rc msg
	sed "${line}${edit}" "$good" >"$bad"
	if cmp -s "$good" "$bad"; then
		lib_case_fail "$c $name: the edit did not change line $line (test bug)"
		return
	fi
	out=$(relay -t -c "$bad" 2>&1)
	rc=$?
	msg=$(echo "$out" | grep -F "$bad:$line: " | head -n 1)
	if [ $rc -ne 1 ]; then
		lib_case_fail "$c $name: -t exit $rc, want 1; output: $out"
	elif [ -z "$msg" ]; then
		lib_case_fail "$c $name: no '$bad:$line: ' message; output: $out"
	elif [ -n "$setting" ] && ! echo "${msg#*"$bad:$line: "}" | grep -q "$setting"; then
		lib_case_fail "$c $name: message does not name '$setting': $msg"
	else
		lib_case_ok "$c $name: $msg"
	fi
}

# Line numbers follow lib_relay_conf's layout: 2 workers, 3 io_backend, 4 buffer_size,
# 5 buffers, 8 name, 9 listen, 10 upstreams, 11 mode, 12 balance, 13 session_timeout,
# 14 max_sessions.
for fam in 4 6; do
	lib_family "$fam"
	c="[ipv$fam]"
	to=$(ep "$RELAY_IP" 5000)
	good=$TMPD/good-$fam.conf
	lib_relay_conf "$good" listen="$to" up="$(ep "$UP1_IP" 9000)" \
		up="$(ep "$UP2_IP" 9000) weight=3"
	[ "$(sed -n 14p "$good")" = "		max_sessions = 4096;" ] ||
		lib_fail "lib_relay_conf layout changed (test bug)"

	if out=$(relay -t -c "$good" 2>&1); then
		lib_case_ok "$c -t on a good config: exit 0"
	else
		lib_case_fail "$c -t on a good config: exit $?: $out"
	fi
	out=$(relay -T -c "$good" 2>/dev/null)
	rc=$?
	if [ $rc -eq 0 ] && echo "$out" | grep -qF "$RELAY_IP" &&
		echo "$out" | grep -qF "$UP2_IP"; then
		lib_case_ok "$c -T prints the effective config"
	else
		lib_case_fail "$c -T exit $rc, want 0 and the listen/upstream addresses;" \
			"output: $out"
	fi

	bad_case workers-type 2 workers 's/= 1;/= "two";/'
	bad_case io_backend 3 io_backend 's/"io_uring"/"turbo"/'
	bad_case unknown-setting 5 bufers 's/buffers/bufers/'
	bad_case listen-port 9 listen 's/:5000"/:99999"/'
	bad_case weight-zero 10 upstreams 's/weight=3/weight=0/'
	bad_case mode 11 mode 's/"forward"/"sideways"/'
	bad_case balance 12 balance 's/"rr"/"random"/'
	bad_case timeout 13 session_timeout 's/30.0/-1.0/'
	bad_case syntax 14 "" 's/= 4096;/= ;/'
	# a setting given twice: named with its line (before: "syntax error: duplicate setting
	# name")
	[ "$fam" = 4 ] && bad_case duplicate 2 'workers: duplicate setting' 's/;$/; workers = 2;/'
	# a CPU the host lacks, from the plan, with its line like a parse error (before: none)
	[ "$fam" = 4 ] && bad_case cpus-absent 4 'cpus\[0\]: CPU 255 is not available' \
		's/;$/; cpus = [ 255 ];/'
	# an address no interface of NS_R has: -t refused it as the start would (before: -t
	# passed, and the start failed in the workers with no file or line)
	foreign=198.18.77.1
	[ "$fam" = 6 ] && foreign=2001:2:0:77::1
	bad_case listen-foreign 9 'relays\[0\]\.listen\[0\]: .*no interface of this host' \
		"s/$RELAY_IP/$foreign/"
	# a source no interface has: every session's bind would fail (before: -t and the start
	# passed, and each session was dropped as session_socket_error); one it has passes
	bad_case source-foreign 12 \
		"relays\[0\]\.source: $foreign: .*no interface of this host.*ipv$fam.ip_nonlocal_bind" \
		"s/\"rr\";/\"rr\"; source = \"$foreign\";/"
	sed "12s/\"rr\";/\"rr\"; source = \"$RELAY_IP\";/" "$good" >"$TMPD/source-$fam.conf"
	out=$(relay -t -c "$TMPD/source-$fam.conf" 2>&1) &&
		lib_case_ok "$c -t on a source the host has: exit 0" ||
		lib_case_fail "$c -t on a source the host has: exit $?: $out"

	out=$(relay -t -c "$TMPD/does-not-exist.conf" 2>&1)
	rc=$?
	if [ $rc -eq 1 ] && echo "$out" | grep -qF "does-not-exist.conf"; then
		lib_case_ok "$c missing config file: exit 1, named"
	else
		lib_case_fail "$c missing config file: exit $rc, want 1 naming the file;" \
			"output: $out"
	fi

	# Port in use: a plain socket (no SO_REUSEPORT) holds the listen endpoint.
	lib_udp_bg "$NS_R" "$TMPD/holder.json" sink --bind "$to" --seconds 60
	holder=$BG_PID
	for backend in $(lib_backends); do
		conf=$TMPD/inuse-$backend-$fam.conf
		lib_relay_conf "$conf" backend="$backend" listen="$to" up="$(ep "$UP1_IP" 9000)"
		out=$(relay -f -c "$conf" 2>&1)
		rc=$?
		if [ $rc -eq 1 ] && echo "$out" | grep -qi "in use" &&
			echo "$out" | grep -qF "$to"; then
			lib_case_ok "$c [$backend] port in use: exit 1:" \
				"$(echo "$out" | grep -i 'in use')"
		else
			lib_case_fail "$c [$backend] port in use: exit $rc (124: still running" \
				"after 10 s), want 1 with 'in use' and $to; output: $out"
		fi
	done
	lib_stop_pid "$holder"
done

# A start without CAP_NET_BIND_SERVICE on a port below 1024 (root with it out of its
# bounding set, so not in the relay's permitted set): the advice is a start's (root, or
# grant the capability), not a reload's "needs a restart", with the listen entry's
# FILE:LINE. One family and backend: the advice does not depend on them.
lib_family 4
conf=$TMPD/lowport.conf
lib_relay_conf "$conf" listen="$(ep "$RELAY_IP" 53)" up="$(ep "$UP1_IP" 9000)"
out=$(ip netns exec "$NS_R" timeout 10 setpriv --bounding-set=-net_bind_service \
	"$RINGRELAY" -f -c "$conf" 2>&1)
rc=$?
msg=$(echo "$out" | grep -F "$conf:9: relays[0].listen[0]: $RELAY_IP:53: Permission denied")
if [ $rc -eq 1 ] && echo "$msg" | grep -q "start ringrelay as root, or grant it" &&
	! echo "$msg" | grep -q "restart"; then
	lib_case_ok "[ipv4] low port at start without CAP_NET_BIND_SERVICE: $msg"
else
	lib_case_fail "[ipv4] low port at start: exit $rc, want 1 with the start's advice;" \
		"output: $out"
fi

# The same capability missing for a session: a transparent forward relay's session socket for
# a client on port 514 cannot bind it. The worker's one warning names the drop counter as
# ringrelayctl stats and the metrics do (before: "socket_error", which is no counter), and
# the bind's EACCES is no failure of the member (before: counted upstream_unreachable, as a
# prohibit route's connect is, and passive health ejected the healthy member).
c="[ipv4 transparent forward, client port 514 without CAP_NET_BIND_SERVICE]"
conf=$TMPD/lowclient.conf
lib_relay_conf "$conf" listen="$(ep "$RELAY_IP" 5000)" up="$(ep "$UP1_IP" 9000)" \
	up="$(ep "$UP2_IP" 9000)" balance=hash
sed -i '12s/"hash";/"hash"; source = "client"; max_fails = 2;/' "$conf"
printf '#!/bin/sh\nexec setpriv --bounding-set=-net_bind_service "%s" "$@"\n' "$RINGRELAY" \
	>"$TMPD/no-bind-service"
chmod 755 "$TMPD/no-bind-service"
if RINGRELAY=$TMPD/no-bind-service lib_relay_start "$conf"; then
	lib_udp "$NS_C" client --to "$(ep "$RELAY_IP" 5000)" --count 3 --port-base 514 \
		--expect-none --quiet 0.2 >/dev/null
	want="no session socket for client $CLIENT_IP:514: Permission denied; its datagrams are counted session_socket_error"
	lib_wait_for 5 lib_log_count_ge "$want" 1 &&
		lib_case_ok "$c $(lib_relay_log_current | grep -o 'no session socket.*')" ||
		lib_case_fail "$c log: $(lib_relay_log_current | grep 'no session socket')"
	lib_wait_stat drop_session_socket_error -ge 3 2
	line=$(lib_stats t)
	[ "$(lib_field drop_session_socket_error "$line")" = 3 ] &&
		[ "$(lib_field drop_upstream_unreachable "$line")" = 0 ] &&
		lib_case_ok "$c 3 datagrams counted session_socket_error, none upstream_unreachable" ||
		lib_case_fail "$c want 3 session_socket_error and 0 upstream_unreachable: $line"
	# the upkeep thread judges every 100 ms: an ejection would be logged well within 1 s
	if lib_wait_for 1 lib_log_count_ge "ejected for" 1; then
		lib_case_fail "$c a member was ejected: $(lib_relay_log_current | grep 'ejected for')"
	else
		lib_case_ok "$c both members stay up (max_fails = 2)"
	fi
	lib_relay_stop || lib_case_fail "$c exit status $?"
else
	lib_case_fail "$c relay did not start"
fi

# The descriptors the plan needs against RLIMIT_NOFILE: 4096 sessions on one worker need
# 9545 (one of them the claim of its listen port), which a hard limit of 4000 without
# CAP_SYS_RESOURCE cannot give. The start refuses naming max_sessions; -t (run by hand, under
# other limits than the unit's LimitNOFILE=) says so as a warning naming the hard limit it
# judged under and exits 0 (before: exit 1).
nofile_run() {
	ip netns exec "$NS_R" timeout 10 prlimit --nofile=4000:4000 \
		setpriv --bounding-set=-sys_resource "$RINGRELAY" "$@" 2>&1
}
need="$conf:14: relays\[0\]\.max_sessions: 4096 sessions .* need 9545 file descriptors .*RLIMIT_NOFILE is 4000"
out=$(nofile_run -t -c "$conf")
rc=$?
if [ $rc -eq 0 ] && echo "$out" | grep -q "warning $need" &&
	echo "$out" | grep -q "judged under this process's limits, hard RLIMIT_NOFILE 4000"; then
	lib_case_ok "[ipv4] -t under a hard RLIMIT_NOFILE of 4000: exit 0, $out"
else
	lib_case_fail "[ipv4] -t under a hard RLIMIT_NOFILE of 4000: exit $rc, want 0 with a" \
		"warning naming max_sessions, 9545 descriptors and the hard 4000; output: $out"
fi
out=$(nofile_run -f -c "$conf")
rc=$?
if [ $rc -eq 1 ] && echo "$out" | grep -q "^$need" && ! echo "$out" | grep -q "warning"; then
	lib_case_ok "[ipv4] start under a hard RLIMIT_NOFILE of 4000: exit 1, $out"
else
	lib_case_fail "[ipv4] start under a hard RLIMIT_NOFILE of 4000: exit $rc (124: still" \
		"running after 10 s), want 1 naming max_sessions and 9545; output: $out"
fi

# A listen address in IPv6 duplicate address detection fails its bind with EADDRNOTAVAIL.
# Before, -t and the start said "no interface of this host has this address" (false) and the
# start failed at once, so a boot racing DAD failed. A veth of its own in NS_R with DAD on
# (the topology turns it off) and its peer in NS_C down: no carrier, so ::2 stays tentative
# for -t; once the peer is up, the start waits for ::2's DAD instead of failing, and ::3
# (which the peer has too, without DAD) fails its DAD.
lib_family 6
ip link add rrdad0 netns "$NS_R" type veth peer name rrdad1 netns "$NS_C" ||
	lib_fail "veth rrdad0"
lib_nsx "$NS_R" sysctl -qw net.ipv6.conf.rrdad0.accept_dad=1
lib_nsx "$NS_R" ip link set rrdad0 up
lib_nsx "$NS_R" ip -6 addr add 2001:2:0:5::2/64 dev rrdad0
lib_nsx "$NS_R" ip -6 addr add 2001:2:0:5::3/64 dev rrdad0
lib_nsx "$NS_C" ip -6 addr add 2001:2:0:5::3/64 dev rrdad1 nodad
dadconf=$TMPD/dad.conf
lib_relay_conf "$dadconf" listen="$(ep 2001:2:0:5::2 5000)" up="$(ep "$UP1_IP" 9000)"
out=$(relay -t -c "$dadconf" 2>&1)
rc=$?
if [ $rc -eq 1 ] && echo "$out" | grep -q "2001:2:0:5::2.*the address is tentative: IPv6 duplicate address detection" &&
	! echo "$out" | grep -q "no interface"; then
	lib_case_ok "[ipv6] -t on a tentative listen address: $out"
else
	lib_case_fail "[ipv6] -t on a tentative listen address: exit $rc, want 1 saying" \
		"tentative; output: $out"
fi
lib_nsx "$NS_C" ip link set rrdad1 up
tentative=$(lib_nsx "$NS_R" ip -6 addr show dev rrdad0 tentative | grep -c "2001:2:0:5::2/")
if lib_relay_start "$dadconf"; then
	lib_case_ok "[ipv6] the start waits for its listen address's DAD (tentative at the" \
		"start: $tentative)"
	lib_relay_stop
else
	lib_case_fail "[ipv6] the start did not wait for its listen address's DAD:" \
		"$(lib_relay_log_current | tail -n 3)"
fi
dad_failed() { lib_nsx "$NS_R" ip -6 addr show dev rrdad0 dadfailed | grep -q "2001:2:0:5::3/"; }
lib_wait_for 5 dad_failed || lib_fail "2001:2:0:5::3 did not fail its DAD (test bug)"
lib_relay_conf "$dadconf" listen="$(ep 2001:2:0:5::3 5000)" up="$(ep "$UP1_IP" 9000)"
out=$(relay -t -c "$dadconf" 2>&1)
rc=$?
if [ $rc -eq 1 ] && echo "$out" | grep -q "2001:2:0:5::3.*duplicate address detection failed"; then
	lib_case_ok "[ipv6] -t on a listen address whose DAD failed: $out"
else
	lib_case_fail "[ipv6] -t on a listen address whose DAD failed: exit $rc, want 1" \
		"saying so; output: $out"
fi

# A layer 3 device (a tun here; WireGuard, ipip/gre/sit and ppp alike): its packets start at
# the IP header in XDP and tc, and the BPF program reads an Ethernet header first. Before, the
# filter attached there and read the IPv4 source as the ethertype: nearly everything passed
# as not IP. Now -t (and the start) refuse it by FILE:LINE, and shedding leaves such a listen
# interface alone with a line saying so (before: it attached there), once: not again on each
# link event (before: a line per event).
lib_family 4
if lib_nsx "$NS_R" ip tuntap add mode tun name rrl3t0 2>/dev/null; then
	lib_nsx "$NS_R" ip addr add 198.18.93.1/24 dev rrl3t0
	lib_nsx "$NS_R" ip link set rrl3t0 up
	l3conf=$TMPD/l3.conf
	lib_relay_conf "$l3conf" listen="198.18.93.1:5000" up="$(ep "$UP1_IP" 9000)"
	printf 'filter = {\n\tinterfaces = [ "%s",\n\t\t"rrl3t0" ];\n};\n' "$IF_RC" >>"$l3conf"
	line=$(grep -n '"rrl3t0" \];' "$l3conf" | cut -d: -f1)
	out=$(relay -t -c "$l3conf" 2>&1)
	rc=$?
	if [ $rc -eq 1 ] && echo "$out" | grep -qF "$l3conf:$line: filter.interfaces[1]: 'rrl3t0' is a layer 3 device" &&
		echo "$out" | grep -q "name the Ethernet interface"; then
		lib_case_ok "[ipv4] -t on a tun in filter.interfaces: $out"
	else
		lib_case_fail "[ipv4] -t on a tun in filter.interfaces: exit $rc, want 1 with" \
			"$l3conf:$line naming it a layer 3 device; output: $out"
	fi
	lib_relay_conf "$l3conf" listen="198.18.93.1:5000" up="$(ep "$UP1_IP" 9000)"
	if lib_relay_start "$l3conf"; then
		l3line="relay t: shed off: .*; not on rrl3t0, a layer 3 device"
		if lib_log_count_ge "$l3line" 1; then
			lib_case_ok "[ipv4] shedding leaves a tun listen interface alone, saying so"
		else
			lib_case_fail "[ipv4] shed on a tun listen address: no 'not on rrl3t0' line:" \
				"$(lib_relay_log_current | grep -i shed | tail -n 3)"
		fi
		# two link events, each of which resolves shedding again: no new line (nothing
		# logs that an event was seen, so this waits out the time a line would take)
		lib_nsx "$NS_R" ip link add rrl3v0 type veth peer name rrl3v1
		lib_nsx "$NS_R" ip link del rrl3v0
		lib_wait_for 1 lib_log_count_ge "not on rrl3t0" 2
		n=$(lib_log_count "not on rrl3t0")
		[ "$n" = 1 ] && lib_case_ok "[ipv4] after two link events, still one line about rrl3t0" ||
			lib_case_fail "[ipv4] after two link events, $n lines about rrl3t0, want 1"
		lib_relay_stop
	else
		lib_case_fail "[ipv4] a relay on a tun address did not start:" \
			"$(lib_relay_log_current | tail -n 3)"
	fi
	lib_nsx "$NS_R" ip link del rrl3t0
else
	lib_log "no tun device here (/dev/net/tun): layer 3 interface cases skipped"
fi

# Each shipped example passes -t as root once filter.interfaces names a link of the host
# (they say eth0; NS_R has none of that name). Before: dns-lb set a user this host lacks,
# game-relay named eth1 and pinned CPUs 2 and 3 (this host has two), syslog-fanout listened
# on 198.18.1.2 (NS_R has it; a fresh host does not). Their max_sessions are lowered: dns-lb
# needs 526929 descriptors, more than a hard RLIMIT_NOFILE such as this sandbox's 20000 (with
# no CAP_SYS_RESOURCE, even for root) gives, which the start refuses (checked above).
for f in "$SRC"/config/examples/*.conf; do
	sed -e "s/\"eth0\"/\"$IF_RC\"/" -e 's/max_sessions = [0-9]*;/max_sessions = 1024;/' \
		"$f" >"$TMPD/example.conf"
	if out=$(relay -t -c "$TMPD/example.conf" 2>&1); then
		lib_case_ok "example ${f##*/} passes -t"
	else
		lib_case_fail "example ${f##*/}: -t exit $?: $out"
	fi
done

# -h names every signal the relay acts on: HUP (reload) was missing
out=$("$RINGRELAY" -h 2>&1)
if [ $? -eq 0 ] && echo "$out" | grep -q "^Signals:.*HUP reloads"; then
	lib_case_ok "-h: $(echo "$out" | grep '^Signals:')"
else
	lib_case_fail "-h does not name HUP: $(echo "$out" | grep '^Signals:')"
fi
lib_done
