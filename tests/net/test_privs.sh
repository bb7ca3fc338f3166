#!/bin/bash
# SPDX-License-Identifier: MIT
# Who the relay runs as after set-up, and what each of its threads may still do (issue 12):
#  1. root start, no user 'ringrelay', a tc filter: it stays root with a warning that names
#     `user`; in /proc/PID/task/*/status the admin thread alone holds CapEff = CapPrm =
#     CAP_NET_ADMIN|CAP_BPF|CAP_PERFMON, every other thread (main, workers, control, access
#     log) none; a denied client is dropped, an allowed one relayed, and a reload through
#     `ringrelayctl` (run by the admin thread) swaps the rules;
#  2. the same with a user 'ringrelay' (uid 64990, in /etc/passwd and /etc/group of a private
#     mount namespace): every thread switches to it, the log says why, the admin thread keeps
#     the filter's three capabilities and the others none; the control socket's missing
#     directory is made 0750 and owned by it; traffic flows both families;
#  3. user = "root": it stays root on purpose, without the warning; no filter (and shed =
#     "off": no program at all), so no thread holds anything, the admin thread included;
#  4. a relay with a fwmark: workers keep CAP_NET_RAW (SO_MARK on each new session socket)
#     and CAP_NET_BIND_SERVICE, the upkeep thread CAP_NET_RAW
#     and so does the upkeep thread (on its health probes' sockets), nothing else; every
#     other thread holds nothing;
#  5. the same without CAP_NET_RAW in the bounding set (the shipped unit grants only
#     CAP_NET_ADMIN of the two): workers and the upkeep thread keep CAP_NET_ADMIN instead, and
#     the start logs once that it does, naming the drop-in that keeps CAP_NET_RAW.
. "$(dirname "$0")/lib.sh"
[ -x "$RINGRELAY" ] || lib_skip "relay binary $RINGRELAY not built"
command -v unshare >/dev/null || lib_skip "unshare (util-linux) not found"
lib_topology

lib_bins_for_others
FILTER_CAPS=$(( (1 << 12) | (1 << 38) | (1 << 39) )) # NET_ADMIN, PERFMON, BPF
DENIED_IP=198.18.1.66
lib_nsx "$NS_C" ip addr add "$DENIED_IP/24" dev "$IF_C"
lib_udp_bg "$NS_U" "$TMPD/echo4.json" echo --bind 198.18.2.2:9000
lib_udp_bg "$NS_U" "$TMPD/echo6.json" echo --bind "[2001:2:0:2::2]:9000"

# conf FILE SOCKET EXTRA: two listeners (v4, v6), a control socket, EXTRA lines.
conf()
{
	cat >"$1" <<EOF2
workers = 2;
control_socket = "$2";
relays = ( { name = "p"; listen = [ "198.18.1.2:5000", "[2001:2:0:1::2]:5000" ];
	upstreams = [ "198.18.2.2:9000", "[2001:2:0:2::2]:9000" ]; balance = "hash"; } );
$3
EOF2
	chmod 644 "$1"
}
filter_conf()
{
	echo "filter = { interfaces = [ \"$IF_RC\" ]; mode = \"tc\"; deny = [ \"$1\" ]; };"
}

# no_filter_left LABEL: the relay took its tc filter with it (only the admin thread may).
no_filter_left()
{
	local left
	left=$(lib_nsx "$NS_R" tc filter show dev "$IF_RC" ingress 2>/dev/null)
	[ -z "$left" ] && lib_case_ok "$1 the tc filter left with the relay" ||
		lib_case_fail "$1 a tc filter is left on $IF_RC: $left"
}

proc_caps() { printf '%d' "0x$(awk -v f="$2:" '$1 == f { print $2 }' "$1/status")"; }

# threads_check LABEL UID ADMIN_CAPS [WORKER_CAPS [UPKEEP_CAPS]]: every thread of the relay
# runs as UID; the admin thread has CapEff = CapPrm = ADMIN_CAPS, the workers WORKER_CAPS
# (default 0), the upkeep thread UPKEEP_CAPS (default WORKER_CAPS), every other one 0. (After
# lib_relay_start, which waits for "ready": main drops its capabilities just before it.)
threads_check()
{
	local label=$1 uid=$2 want_admin=$3 want_worker=${4:-0} want_upkeep=${5:-${4:-0}} t name eff
	local prm u want n=0 bad=0
	local admin=0
	for t in /proc/"$RELAY_PID"/task/*; do
		name=$(cat "$t/comm")
		eff=$(proc_caps "$t" CapEff)
		prm=$(proc_caps "$t" CapPrm)
		u=$(awk '$1 == "Uid:" { print $2 $3 $4 $5 }' "$t/status")
		want=0
		[ "$name" = ringrelay-admin ] && { want=$want_admin; admin=1; }
		# (the upkeep thread's health probes take the relay's fwmark, as sessions do)
		case $name in
		ringrelay-w*) want=$want_worker ;;
		ringrelay-upkp) want=$want_upkeep ;;
		esac
		n=$((n + 1))
		if [ "$eff" -ne "$want" ] || [ "$prm" -ne "$want" ] ||
			[ "$u" != "$uid$uid$uid$uid" ]; then
			bad=1
			lib_case_fail "$label thread ${t##*/} ($name): CapEff=$(printf %x "$eff")" \
				"CapPrm=$(printf %x "$prm") uids $u, want $(printf %x "$want") and $uid"
		fi
	done
	[ $admin -eq 1 ] || { bad=1; lib_case_fail "$label no ringrelay-admin thread"; }
	[ $bad -eq 0 ] && lib_case_ok "$label $n threads as uid $uid: admin" \
		"CapEff=CapPrm=$(printf %x "$want_admin"), workers and upkeep" \
		"$(printf %x "$want_worker")," \
		"the others 0"
}

# traffic LABEL: an allowed client of each family is relayed; the denied one (if a filter)
# is dropped.
traffic()
{
	local out
	out=$(lib_udp "$NS_C" client --to 198.18.1.2:5000 --bind 198.18.1.1 --count 3 --size 50 \
		--expect-echo) || lib_case_fail "$1 ipv4 client: $out"
	out=$(lib_udp "$NS_C" client --to "[2001:2:0:1::2]:5000" --count 3 --size 50 \
		--expect-echo) || lib_case_fail "$1 ipv6 client: $out"
	if [ -n "$2" ]; then
		out=$(lib_udp "$NS_C" client --to 198.18.1.2:5000 --bind "$DENIED_IP" --count 3 \
			--size 50 --expect-none --quiet 0.3) ||
			lib_case_fail "$1 the denied client got replies: $out"
	fi
	lib_case_ok "$1 traffic as configured"
}

# ---- 1. root, no user 'ringrelay', a filter
c="[root, filter]"
sock=$TMPD/run1/ctl.sock
conf "$TMPD/one.conf" "$sock" "$(filter_conf "$DENIED_IP/32")"
RINGRELAY=$BIN/ringrelay lib_relay_start "$TMPD/one.conf" || lib_fail "$c relay did not start"
grep -q "staying root after set-up: user is not set and there is no user 'ringrelay'" \
	"$RELAY_LOG" && lib_case_ok "$c warned that it stays root" ||
	lib_case_fail "$c no warning about staying root"
threads_check "$c" 0 $FILTER_CAPS
traffic "$c" denied
# The admin thread applies the reload: the new rules deny nothing.
conf "$TMPD/one.conf" "$sock" "$(filter_conf "198.18.9.0/24")"
if out=$("$BIN/ringrelayctl" -s "$sock" reload 2>&1); then
	out=$(lib_udp "$NS_C" client --to 198.18.1.2:5000 --bind "$DENIED_IP" --count 3 \
		--size 50 --expect-echo) && lib_case_ok "$c reload swapped the filter's rules" ||
		lib_case_fail "$c after the reload the once denied client: $out"
else
	lib_case_fail "$c reload: $out"
fi
threads_check "$c after a reload," 0 $FILTER_CAPS
lib_relay_stop || lib_case_fail "$c exit status $?"
no_filter_left "$c"

# ---- 2. a user 'ringrelay' in a mount namespace of the relay's own
c="[user ringrelay, filter]"
cp /etc/passwd "$TMPD/passwd"
cp /etc/group "$TMPD/group"
echo "ringrelay:x:64990:64990:ringrelay test:/nonexistent:/usr/sbin/nologin" >>"$TMPD/passwd"
echo "ringrelay:x:64990:" >>"$TMPD/group"
chmod 644 "$TMPD/passwd" "$TMPD/group"
cat >"$BIN/as-ringrelay" <<EOF2
#!/bin/sh
# ringrelay with a passwd and group that know 'ringrelay', in a private mount namespace
exec unshare -m --propagation private sh -c \\
	'mount --bind "\$0" /etc/passwd && mount --bind "\$1" /etc/group &&
	shift && exec "\$@"' \\
	"$TMPD/passwd" "$TMPD/group" "$BIN/ringrelay" "\$@"
EOF2
chmod 755 "$BIN/as-ringrelay"
# The socket's directory is made as the user: its parent must let it (sticky, like /tmp).
mkdir -m 1777 "$TMPD/pub"
sock=$TMPD/pub/run2/ctl.sock
conf "$TMPD/two.conf" "$sock" "$(filter_conf "$DENIED_IP/32")"
RINGRELAY=$BIN/as-ringrelay lib_relay_start "$TMPD/two.conf" ||
	lib_fail "$c relay did not start"
grep -q "switching to 'ringrelay' (uid 64990) after set-up, the default for a start as root" \
	"$RELAY_LOG" && lib_case_ok "$c says it switches to the default user" ||
	lib_case_fail "$c no notice of the switch"
threads_check "$c" 64990 $FILTER_CAPS
got=$(stat -c '%a %u %g' "$TMPD/pub/run2")
[ "$got" = "750 64990 64990" ] && lib_case_ok "$c made the socket's directory $got" ||
	lib_case_fail "$c socket directory '$got', want '750 64990 64990'"
got=$(stat -c '%a %u %g' "$sock")
[ "$got" = "660 64990 64990" ] && lib_case_ok "$c socket $got" ||
	lib_case_fail "$c socket '$got', want '660 64990 64990'"
traffic "$c" denied
"$BIN/ringrelayctl" -s "$sock" reload >/dev/null 2>&1 &&
	lib_case_ok "$c root's reload works" || lib_case_fail "$c root's reload failed"
lib_relay_stop || lib_case_fail "$c exit status $?"
no_filter_left "$c"
[ -e "$sock" ] && lib_case_fail "$c the socket was left behind"

# ---- 3. user = "root", no filter
c="[user = root]"
sock=$TMPD/run3/ctl.sock
conf "$TMPD/three.conf" "$sock" 'user = "root";'
# No program at all: shedding (on by default as root) would load it, and the admin thread
# keeps the filter's capabilities for it like for a filter (cases 1 and 2).
sed -i 's/balance = "hash"; }/balance = "hash"; shed = "off"; }/' "$TMPD/three.conf"
RINGRELAY=$BIN/ringrelay lib_relay_start "$TMPD/three.conf" ||
	lib_fail "$c relay did not start"
if grep -q 'staying root (user = "root")' "$RELAY_LOG" &&
	! lib_relay_log_current | grep -q "warning user:"; then
	lib_case_ok "$c stays root on purpose, no warning"
else
	lib_case_fail "$c log: $(lib_relay_log_current | grep 'user:')"
fi
threads_check "$c" 0 0
traffic "$c"
lib_relay_stop || lib_case_fail "$c exit status $?"

# ---- 4. fwmark: the one capability a worker may keep
c="[fwmark]"
sock=$TMPD/run4/ctl.sock
conf "$TMPD/four.conf" "$sock" 'user = "root";'
sed -i 's/balance = "hash"; }/balance = "hash"; fwmark = 7; shed = "off"; }/' "$TMPD/four.conf"
RINGRELAY=$BIN/ringrelay lib_relay_start "$TMPD/four.conf" ||
	lib_fail "$c relay did not start"
# workers: CAP_NET_RAW and CAP_NET_BIND_SERVICE (a reload may add source = "client", whose
# sessions bind clients' low ports); the upkeep thread: CAP_NET_RAW
threads_check "$c" 0 0 $(((1 << 13) | (1 << 10))) $((1 << 13))
traffic "$c"
lib_relay_stop || lib_case_fail "$c exit status $?"

# ---- 5. fwmark without CAP_NET_RAW (as under the shipped unit): workers keep CAP_NET_ADMIN,
# and the start says so once, naming the drop-in that keeps CAP_NET_RAW instead
c="[fwmark, no CAP_NET_RAW]"
cat >"$BIN/no-net-raw" <<EOF2
#!/bin/sh
exec setpriv --bounding-set=-net_raw "$BIN/ringrelay" "\$@"
EOF2
chmod 755 "$BIN/no-net-raw"
RINGRELAY=$BIN/no-net-raw lib_relay_start "$TMPD/four.conf" || lib_fail "$c relay did not start"
threads_check "$c" 0 0 $(((1 << 12) | (1 << 10))) $((1 << 12))
n=$(lib_relay_log_current | grep -c 'workers keep CAP_NET_ADMIN for fwmark and source = "client".*AmbientCapabilities=CAP_NET_RAW and CapabilityBoundingSet=CAP_NET_RAW')
[ "$n" = 1 ] && lib_case_ok "$c the start said once why workers keep CAP_NET_ADMIN" ||
	lib_case_fail "$c $n lines about keeping CAP_NET_ADMIN, want 1"
lib_relay_stop || lib_case_fail "$c exit status $?"
lib_done
