# SPDX-License-Identifier: MIT
# Shared helpers for the netns tests; source it from a bash test (tests/net/test_*.sh).
#
# Environment (set by run.sh, or by hand): RINGRELAY (abs path of the binary), BUILD, SRC.
# Exit codes: 0 pass, 1 fail, 77 skip. Everything this file creates (namespaces, processes,
# $TMPD) is removed by the EXIT trap, also when a test fails or is killed by run.sh's timeout.
#
# Topology made by lib_topology (all names unique per run, they contain $$):
#
#   NS_C (client)             NS_R (relay)                       NS_U (upstreams)
#   IF_C 198.18.1.1/24  <->  IF_RC 198.18.1.2/24
#        2001:2:0:1::1/64          2001:2:0:1::2/64
#                              IF_RU 198.18.2.1/24          <->  IF_U 198.18.2.2, 198.18.2.3 /24
#                                    2001:2:0:2::1/64                   2001:2:0:2::2, ::3 /64
#
# NS_C and NS_U route each other's network through NS_R, but NS_R does not forward unless a
# test calls lib_forwarding on: by default the relay is the only way across.

LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=${SRC:-$(cd "$LIB_DIR/../.." && pwd)}
BUILD=${BUILD:-$SRC/build}
RINGRELAY=${RINGRELAY:-$BUILD/ringrelay}
UDP_PY=$LIB_DIR/udp.py
LIB_NAME=${LIB_NAME:-$(basename "$0" .sh)}
# run.sh passes NET_NS_PREFIX so it can find what a killed test left behind.
LIB_PREFIX=${NET_NS_PREFIX:-rr}-$$

LIB_PIDS=()
CASE_PIDS=()
LIB_NETNS=()
RELAY_PID=
TMPD=
SAN_DIR=

lib_log() { echo "[$LIB_NAME] $*" >&2; }
lib_skip() { lib_log "SKIP: $*"; exit 77; }
# Every failure is said twice: where it happens, and again last of all (after the relay log
# the cleanup prints), so the tail of a failed run that CI shows names what failed.
LIB_FAIL_LINES=()
lib_fail()
{
	lib_log "FAIL: $*"
	LIB_FAIL_LINES+=("$*")
	exit 1
}

# The distribution's interpreter where there is one: the Python packages scripts/deps.sh
# installs are its, and it starts in half the time of a pyenv build (the tests start it
# hundreds of times). Else whatever python3 is, resolved once (a pyenv shim costs a fork+exec
# per call).
if [ -x /usr/bin/python3 ]; then
	PY=/usr/bin/python3
else
	PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || PY=
fi
lib_require()
{
	[ "$(id -u)" -eq 0 ] || lib_skip "needs root (network namespaces)"
	command -v ip >/dev/null || lib_skip "iproute2 'ip' not found"
	ip netns list >/dev/null 2>&1 || lib_skip "'ip netns' unavailable"
	[ -n "$PY" ] || lib_skip "python3 not found"
	command -v ss >/dev/null || lib_skip "'ss' not found"
}

# Quick steps first (signals, namespace names), bounded waits last, so even a cleanup cut
# short by run.sh's kill leaves nothing named behind.
lib_cleanup()
{
	local rc=$? pid ns line
	trap - EXIT INT TERM HUP
	# Our output may go to a closed pipe: a write must not kill the cleanup.
	trap '' PIPE
	[ -n "$RELAY_PID" ] && kill -TERM "$RELAY_PID" 2>/dev/null
	for pid in "${LIB_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	# A namespace whose name is gone lives on only until its last process exits.
	for ns in "${LIB_NETNS[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	for pid in $RELAY_PID "${LIB_PIDS[@]}"; do
		lib_wait_gone "$pid" 3 || kill -KILL "$pid" 2>/dev/null
	done
	# (after the relays are gone: a leak is reported at the exit)
	if lib_sanitizer_reports >&2; then
		LIB_FAIL_LINES+=("sanitizer report(s) above")
		[ "$rc" -eq 0 ] || [ "$rc" -eq 77 ] && rc=1
	fi
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -n "$TMPD" ] && [ -s "$TMPD/relay.log" ]; then
		lib_log "relay log (last 40 lines of $TMPD/relay.log):"
		tail -n 40 "$TMPD/relay.log" >&2
	fi
	for line in "${LIB_FAIL_LINES[@]}"; do
		lib_log "failed: $line"
	done
	# NET_KEEP_DIR (make check-kernel sets it): a failed test's files (relay log, configs,
	# client records) are kept there for a look afterwards.
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -n "$TMPD" ] && [ -n "${NET_KEEP_DIR:-}" ]; then
		mkdir -p "$NET_KEEP_DIR" && cp -r "$TMPD" "$NET_KEEP_DIR/" 2>/dev/null
		[ -n "$SAN_DIR" ] && cp -r "$SAN_DIR" "$NET_KEEP_DIR/" 2>/dev/null
	fi
	[ -n "$SAN_DIR" ] && rm -rf "$SAN_DIR"
	[ -n "$TMPD" ] && rm -rf "$TMPD"
	exit "$rc"
}
trap lib_cleanup EXIT
# SIGPIPE too: a test piped into "head" must still clean up.
trap 'exit 1' INT TERM HUP PIPE

TMPD=$(mktemp -d "/tmp/ringrelay-net.$LIB_NAME.XXXXXX")

# Against the sanitizer build (ASAN_OPTIONS set: make soak, make net-test-san) every report of
# every process goes to a file of its own here, wherever the test sends the process's output
# (a start whose error it captures, a second daemon's log): the cleanup fails the test when
# there is one. Writable by all: a relay that switched to another user writes its report too.
if [ -n "${ASAN_OPTIONS:-}" ]; then
	SAN_DIR=$(mktemp -d "/tmp/ringrelay-san.$LIB_PREFIX.XXXXXX") # run.sh's sweep knows it
	# (others may add files, not list them; sticky: nor remove another's)
	chmod 1733 "$SAN_DIR"
	export ASAN_OPTIONS="$ASAN_OPTIONS:log_path=$SAN_DIR/report"
	export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$SAN_DIR/report"
fi
# lib_sanitizer_reports: prints the reports written so far (the first 40 lines of each) and
# succeeds, or fails when there is none.
lib_sanitizer_reports()
{
	local f found=1
	[ -n "$SAN_DIR" ] || return 1
	for f in "$SAN_DIR"/report.*; do
		[ -e "$f" ] || continue
		found=0
		lib_log "sanitizer report $f:"
		head -n 40 "$f"
	done
	return $found
}

# NET_WAIT_SCALE (a whole number, default 1) stretches every bounded wait of the tests: an
# emulated CPU (make check-kernel without KVM) starts a relay in 10-15 s, not in 1. The waits
# are polls, so a larger scale slows only the waits that time out. udp.py servers live that
# much longer too (their --seconds).
WAIT_SCALE=${NET_WAIT_SCALE:-1}

# lib_wait_for SECONDS CMD...: poll CMD every 50 ms until it succeeds; 1 on timeout.
lib_wait_for()
{
	local secs=$(( ${1%.*} * WAIT_SCALE )) soon=${LIB_WAIT_SOON:-}
	shift
	local end=$((SECONDS + secs + 1))
	local i=0 max=$(( (secs + 1) * 20 )) nap=0.05
	# (the sooner looks take 140 ms off the whole: four more make it up)
	[ -n "$soon" ] && max=$((max + 4))
	# (not for the waits CMD may make in turn)
	local LIB_WAIT_SOON=
	while [ $i -lt $max ] && [ $SECONDS -le $end ]; do
		"$@" && return 0
		if [ -n "$soon" ]; then
			case $i in
			0 | 1) nap=0.01 ;;
			2 | 3) nap=0.02 ;;
			*) nap=0.05 ;;
			esac
		fi
		sleep $nap
		i=$((i + 1))
	done
	"$@"
}

# lib__wait_soon SECONDS CMD...: lib_wait_for with its first looks sooner (10, 10, 20, 20 ms
# apart), for the library's waits on a process of the test's (it binds, logs, exits): they
# end within tens of ms, and the suite makes thousands. A timeout takes as long as ever.
lib__wait_soon() { LIB_WAIT_SOON=1 lib_wait_for "$@"; }

# lib_wait_gone PID SECONDS: wait for a process we started to exit.
lib_wait_gone() { lib__wait_soon "$2" lib__gone "$1"; }
lib__gone() { ! kill -0 "$1" 2>/dev/null; }

# lib_private_bpffs: the relay starts through a wrapper that mounts a bpffs private to its
# ip-netns-exec mount namespace (the host's /sys/fs/bpf is not touched); rr_bpftool ARGS runs
# bpftool in that namespace, where the relay's pins are (PIN).
lib_private_bpffs()
{
	command -v bpftool >/dev/null || lib_skip "bpftool not found"
	command -v nsenter >/dev/null || lib_skip "nsenter (util-linux) not found"
	PIN=/sys/fs/bpf/ringrelay
	REAL_RELAY=$RINGRELAY
	RINGRELAY=$TMPD/relay-wrap.sh
	cat >"$RINGRELAY" <<EOF
#!/bin/sh
mount -t bpf bpf /sys/fs/bpf || exit 1
exec "$REAL_RELAY" "\$@"
EOF
	chmod +x "$RINGRELAY"
}
rr_bpftool() { nsenter -m -t "$RELAY_PID" bpftool "$@"; }

# lib_bins_for_others: copies ringrelay and ringrelayctl into $TMPD/bin where other users
# (the daemon's user, nobody) may run them; BIN names the directory.
lib_bins_for_others()
{
	BIN=$TMPD/bin
	mkdir -p "$BIN"
	cp "$RINGRELAY" "$BUILD/ringrelayctl" "$BIN/"
	chmod 755 "$BIN" "$BIN"/*
	chmod o+x "$TMPD"
}

lib_nsx() { ip netns exec "$@"; }
# lib_link_mtu MTU NS IF NS IF: the MTU of both ends of a link.
lib_link_mtu()
{
	lib_nsx "$2" ip link set "$3" mtu "$1"
	lib_nsx "$4" ip link set "$5" mtu "$1"
}

# lib_unreach_sent NS: the ICMP destination unreachable errors namespace NS has sent, both
# families (what its rate limits let out). lib_unreach_in NS: those it has received, both
# families (ICMPv6's port unreachable among them).
lib_unreach_sent() { lib__unreach "$1" Out; }
lib_unreach_in() { lib__unreach "$1" In; }
lib__unreach()
{
	lib_nsx "$1" awk -v d="$2" '$1 == "Icmp:" && !($1 in h) { for (i = 2; i <= NF; i++)
				if ($i == d "DestUnreachs") c = i
			h[$1]; next }
		$1 == "Icmp:" { n += $c } $1 == "Icmp6" d "DestUnreachs" { n += $2 }
		END { print n + 0 }' /proc/net/snmp /proc/net/snmp6
}

lib_topology()
{
	lib_require
	NS_C=$LIB_PREFIX-c
	NS_R=$LIB_PREFIX-r
	NS_U=$LIB_PREFIX-u
	IF_C=veth-c
	IF_RC=veth-rc
	IF_RU=veth-ru
	IF_U=veth-u
	local ns
	for ns in "$NS_C" "$NS_R" "$NS_U"; do
		ip netns add "$ns" || lib_fail "ip netns add $ns"
		LIB_NETNS+=("$ns")
		lib_nsx "$ns" ip link set lo up
		# No duplicate address detection: IPv6 addresses work at once (nodad below too).
		lib_nsx "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
			net.ipv6.conf.default.accept_dad=0
		# ICMP errors (port unreachable) are test signals here: no rate limit may swallow
		# them when tests run back to back or in parallel. The rate masks, per namespace on
		# every kernel, exempt every type from both the per-peer and the host-wide limit
		# (the kernel checks them before either). icmp_msgs_per_sec and icmp_msgs_burst
		# (the host-wide limit: about 50 at once, then 1000 a second, shared by every
		# namespace) cannot be set here before Linux 6.12, where they are init_net's alone.
		lib_nsx "$ns" sysctl -qw net.ipv4.icmp_ratemask=0 net.ipv6.icmp.ratemask= \
			net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0
	done
	# Create each pair directly in its namespaces so names never touch the host.
	ip link add "$IF_C" netns "$NS_C" type veth peer name "$IF_RC" netns "$NS_R" ||
		lib_fail "veth client<->relay"
	ip link add "$IF_RU" netns "$NS_R" type veth peer name "$IF_U" netns "$NS_U" ||
		lib_fail "veth relay<->upstream"

	lib_nsx "$NS_C" ip addr add 198.18.1.1/24 dev "$IF_C"
	lib_nsx "$NS_C" ip -6 addr add 2001:2:0:1::1/64 dev "$IF_C" nodad
	lib_nsx "$NS_R" ip addr add 198.18.1.2/24 dev "$IF_RC"
	lib_nsx "$NS_R" ip -6 addr add 2001:2:0:1::2/64 dev "$IF_RC" nodad
	lib_nsx "$NS_R" ip addr add 198.18.2.1/24 dev "$IF_RU"
	lib_nsx "$NS_R" ip -6 addr add 2001:2:0:2::1/64 dev "$IF_RU" nodad
	lib_nsx "$NS_U" ip addr add 198.18.2.2/24 dev "$IF_U"
	lib_nsx "$NS_U" ip addr add 198.18.2.3/24 dev "$IF_U"
	lib_nsx "$NS_U" ip -6 addr add 2001:2:0:2::2/64 dev "$IF_U" nodad
	lib_nsx "$NS_U" ip -6 addr add 2001:2:0:2::3/64 dev "$IF_U" nodad
	lib_nsx "$NS_C" ip link set "$IF_C" up
	lib_nsx "$NS_R" ip link set "$IF_RC" up
	lib_nsx "$NS_R" ip link set "$IF_RU" up
	lib_nsx "$NS_U" ip link set "$IF_U" up
	lib_nsx "$NS_C" ip route add 198.18.2.0/24 via 198.18.1.2
	lib_nsx "$NS_C" ip -6 route add 2001:2:0:2::/64 via 2001:2:0:1::2
	lib_nsx "$NS_U" ip route add 198.18.1.0/24 via 198.18.2.1
	lib_nsx "$NS_U" ip -6 route add 2001:2:0:1::/64 via 2001:2:0:2::1
	lib_forwarding off
	# Links must be up (carrier) before traffic; bounded wait, no bare sleep.
	lib_wait_for 5 lib__link_up "$NS_C" "$IF_C" || lib_fail "$IF_C not up"
	lib_wait_for 5 lib__link_up "$NS_U" "$IF_U" || lib_fail "$IF_U not up"
	lib_wait_for 5 lib__link_up "$NS_R" "$IF_RC" || lib_fail "$IF_RC not up"
	lib_wait_for 5 lib__link_up "$NS_R" "$IF_RU" || lib_fail "$IF_RU not up"
}

# lib_veth_queues IF PEER N IP4 IP6: a second veth pair with N RX and TX queues, IF in NS_R
# with IP4/24 and IP6/64, PEER in NS_C, both up (gone with the namespaces).
lib_veth_queues()
{
	ip link add "$1" netns "$NS_R" numrxqueues "$3" numtxqueues "$3" type veth peer name "$2" \
		netns "$NS_C" numrxqueues "$3" numtxqueues "$3" || lib_fail "veth with $3 queues"
	lib_nsx "$NS_R" ip addr add "$4/24" dev "$1"
	lib_nsx "$NS_R" ip -6 addr add "$5/64" dev "$1" nodad
	lib_nsx "$NS_C" ip link set "$2" up
	lib_nsx "$NS_R" ip link set "$1" up
}

# lib_reply_routes add|del FAMILY: the policy routes ringrelay.conf(5) documents for source =
# "client": what comes from the upstream side to the client network is delivered locally in
# the relay's namespace, to the sockets bound to the clients' addresses.
lib_reply_routes()
{
	local net=198.18.1.0/24
	[ "$2" = 6 ] && net=2001:2:0:1::/64
	lib_nsx "$NS_R" ip -"$2" rule "$1" iif "$IF_RU" lookup 100 priority 100
	lib_nsx "$NS_R" ip -"$2" route "$1" local "$net" dev lo table 100
}

lib__link_up() { lib_nsx "$1" ip -o link show dev "$2" 2>/dev/null | grep -q 'state UP'; }

# lib_forwarding on|off: let NS_R route between the client and upstream networks.
lib_forwarding()
{
	local v=0
	[ "$1" = on ] && v=1
	lib_nsx "$NS_R" sysctl -qw net.ipv4.ip_forward=$v net.ipv6.conf.all.forwarding=$v
}

# lib_family 4|6: CLIENT_IP RELAY_IP UP1_IP UP2_IP RELAY_UP_IP for that family.
lib_family()
{
	FAM=$1
	if [ "$1" = 4 ]; then
		CLIENT_IP=198.18.1.1 RELAY_IP=198.18.1.2 RELAY_UP_IP=198.18.2.1
		UP1_IP=198.18.2.2 UP2_IP=198.18.2.3
	else
		CLIENT_IP=2001:2:0:1::1 RELAY_IP=2001:2:0:1::2 RELAY_UP_IP=2001:2:0:2::1
		UP1_IP=2001:2:0:2::2 UP2_IP=2001:2:0:2::3
	fi
}

# ep IP PORT: "IP:PORT" or "[IP]:PORT".
ep()
{
	case $1 in
	*:*) echo "[$1]:$2" ;;
	*) echo "$1:$2" ;;
	esac
}

# lib_bg NS CMD...: start a helper in a namespace, remembered for cleanup; sets BG_PID.
lib_bg()
{
	local ns=$1
	shift
	ip netns exec "$ns" "$@" &
	BG_PID=$!
	LIB_PIDS+=("$BG_PID")
}

# lib_udp NS ARGS...: run udp.py in the foreground in a namespace.
lib_udp() { local ns=$1; shift; ip netns exec "$ns" "$PY" "$UDP_PY" "$@"; }

# lib_udp_bg NS OUTFILE ARGS...: udp.py server in the background, its JSON summary in
# OUTFILE; waits (bounded) until its socket is bound.
lib_udp_bg()
{
	local ns=$1 out=$2
	shift 2
	local bind="" a prev=""
	for a in "$@"; do
		[ "$prev" = --bind ] && bind=$a
		prev=$a
	done
	case $1 in
	echo | sink) ;;
	*) bind= ;; # (a client's --bind is an address, with no port to wait for)
	esac
	if [ -z "$bind" ]; then
		lib_bg "$ns" "$PY" "$UDP_PY" "$@" >"$out"
		return 0
	fi
	lib__ready_file
	lib_bg "$ns" "$PY" "$UDP_PY" "$@" --ready "$LIB_READY" >"$out"
	lib__wait_ready_file "$BG_PID" ||
		lib_fail "udp.py $* did not bind $bind in $ns"
}

# A udp.py server started with --ready LIB_READY creates that file once its socket is bound:
# the start waits for it (a look costs a stat) rather than for ss to list the socket (each
# look an ss in the namespace: tens of ms, on the CPU the starting server needs).
# lib__ready_file: a fresh name in LIB_READY. lib__wait_ready_file PID: waits (bounded) for
# it while PID runs; succeeds when the file is there and PID still runs.
LIB_READY_N=0
lib__ready_file()
{
	LIB_READY_N=$((LIB_READY_N + 1))
	LIB_READY=$TMPD/ready.$LIB_READY_N
	rm -f "$LIB_READY"
}
lib__ready_or_gone() { [ -e "$2" ] || lib__gone "$1"; }
lib__wait_ready_file()
{
	lib__wait_soon 10 lib__ready_or_gone "$1" "$LIB_READY"
	[ -e "$LIB_READY" ] && ! lib__gone "$1"
}

# lib_hold_port NS EP SECONDS OUTFILE: a udp.py sink holding EP in NS for SECONDS (sets
# BG_PID), with no capabilities, so that a reload the relay refuses on EP is refused at once:
# the relay's reload thread holds none, so it may read the descriptors of a root process only
# if that one holds none either. A holder it cannot see counts as a socket of its own on the
# way out, waited for 3 s (ORPHAN_WAIT_MS) before the refusal (test_listen_owner tests that).
lib_hold_port()
{
	if ! command -v setpriv >/dev/null; then
		lib_udp_bg "$1" "$4" sink --bind "$2" --seconds "$3"
		return
	fi
	lib__ready_file
	lib_bg "$1" setpriv --inh-caps=-all --bounding-set=-all "$PY" "$UDP_PY" sink \
		--bind "$2" --seconds "$3" --ready "$LIB_READY" >"$4"
	lib__wait_ready_file "$BG_PID" ||
		lib_fail "udp.py sink (no capabilities) did not bind $2 in $1"
}

# lib_worker_stop N SECONDS OUT [SYSCALL]: stops the relay's worker N alone (its thread
# ringrelay-wN, with thread_stop.py: a wedged loop, the other threads running on) for up to
# SECONDS, the helper's output in OUT; STOP_PID is the helper's, whose end resumes the worker.
# With SYSCALL (bind, socket) the worker runs on until it enters that call and stops there (a
# worker stuck in the middle of its work): OUT then says "stopped TID in SYSCALL". Returns 1
# when there is no such thread or it was not stopped (traced, with SYSCALL) within 5 s.
lib_worker_stop() { lib_thread_stop "ringrelay-w$1" "${@:2}"; }

# lib_thread_stop NAME SECONDS OUT [SYSCALL]: the same for the relay's thread named NAME
# (ringrelay-ctl, ringrelay-admin, ...).
lib_thread_stop()
{
	local tid
	STOP_PID=
	tid=$(grep -lx "$1" /proc/"$RELAY_PID"/task/*/comm 2>/dev/null | head -n 1 |
		cut -d/ -f5)
	[ -n "$tid" ] || return 1
	lib_bg "$NS_R" "$PY" "$SRC/tests/net/thread_stop.py" "$tid" "$2" $4 >"$3"
	STOP_PID=$BG_PID
	lib__wait_soon 5 grep -qE "^(stopped|tracing)" "$3"
}

# lib_stop_pid PID: SIGTERM a helper we started and wait (bounded) for it. Once reaped, its
# PID is forgotten, so no later cleanup signals a process that reuses the number.
lib_stop_pid()
{
	kill -TERM "$1" 2>/dev/null
	lib_wait_gone "$1" 5 || { kill -KILL "$1" 2>/dev/null; lib_wait_gone "$1" 2; }
	wait "$1" 2>/dev/null
	lib__forget "$1"
	return 0
}

lib__forget()
{
	local p keep=() case_keep=()
	for p in "${LIB_PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	for p in "${CASE_PIDS[@]}"; do
		[ "$p" = "$1" ] || case_keep+=("$p")
	done
	LIB_PIDS=("${keep[@]}")
	CASE_PIDS=("${case_keep[@]}")
}

# lib__bound NS EP [PID]: a UDP socket (optionally of PID) is bound to EP in NS; a wildcard
# bind on the same port and family also counts.
lib__bound()
{
	local ns=$1 want=$2 pid=$3 port host
	port=${want##*:}
	host=${want%:*}
	ip netns exec "$ns" ss -Huln${pid:+p} 2>/dev/null |
		awk -v pid="$pid" -v host="$host" -v port="$port" '
		pid != "" && index($0, "pid=" pid ",") == 0 { next }
		{
			n = split($4, a, ":")
			p = a[n]
			h = substr($4, 1, length($4) - length(p) - 1)
			sub(/%.*$/, "", h)
			if (p != port) next
			if (h == host) { found = 1 }
			v6 = (host ~ /^\[/)
			if (!v6 && (h == "0.0.0.0" || h == "*")) found = 1
			if (v6 && (h == "[::]" || h == "*")) found = 1
		}
		END { exit !found }'
}

# lib_relay_start CONF [ARGS...]: run "$RINGRELAY -f -c CONF ARGS" in NS_R, log to
# $TMPD/relay.log, wait (bounded) until this start logs ': ready' (which it does once every
# worker listens, the filter is attached and the control socket is up); sets RELAY_PID.
# Returns 1 (after printing the log) when the relay exits or is not ready in time. (A bound
# port says less: a socket of the relay before, closing or kept open by its io_uring before
# Linux 6.13, may still hold it while this one loads its filter, seconds on an emulated CPU.)
lib_relay_start() { lib_relay_start_bg "$@" && lib_relay_wait_ready; }

# lib_relay_start_bg CONF [ARGS...]: the start alone, for a test that acts while the relay
# sets up; lib_relay_wait_ready then waits for it as lib_relay_start does.
lib_relay_start_bg()
{
	local conf=$1
	shift
	[ -x "$RINGRELAY" ] || lib_fail "relay binary $RINGRELAY not found (make build/ringrelay)"
	RELAY_LOG=$TMPD/relay.log
	# Each relay gets its own control socket, so tests never meet each other (or a real
	# daemon) at the default path; the directory lets a relay running as nobody bind it.
	if ! grep -q '^[[:space:]]*control_socket' "$conf"; then
		mkdir -p "$TMPD/run" && chmod 1777 "$TMPD/run" && chmod o+x "$TMPD"
		echo "control_socket = \"$TMPD/run/ctl.sock\";" >>"$conf"
	fi
	echo "=== start $(date +%T.%N) $RINGRELAY -f -c $conf $*" >>"$RELAY_LOG"
	LIB_START_AT=$(stat -c %s "$RELAY_LOG")
	ip netns exec "$NS_R" "$RINGRELAY" -f -c "$conf" "$@" >>"$RELAY_LOG" 2>&1 &
	RELAY_PID=$!
}

lib_relay_wait_ready()
{
	lib__wait_soon 10 lib__relay_ready_or_dead
	lib__relay_ready && return 0
	lib_log "relay did not log ': ready' (pid $RELAY_PID)"
	if ! kill -0 "$RELAY_PID" 2>/dev/null; then
		wait "$RELAY_PID"
		lib_log "relay exited with status $?"
	fi
	tail -n 30 "$RELAY_LOG" >&2
	# Do not leave a half-started relay to confuse the next case.
	lib_relay_stop
	return 1
}

# lib_relay_start_held CONF: lib_relay_start_bg CONF with the relay's first bpf() call, where
# loading the program begins (after the instance checks and the port claims), held for
# WAIT_SCALE seconds by strace (tracing the main thread alone: the threads it starts later are
# not slowed; -D keeps RELAY_PID the relay's); returns once it is held there, 1 when it is not
# within 10 s ($TMPD/slow.strace says what strace saw). Needs strace and a config that loads
# the program (a filter, offload, or shed other than "off" as root). A sanitizer build's leak
# check is off for it: LeakSanitizer cannot run under ptrace, and fails the exit.
lib_relay_start_held()
{
	local wrap=$TMPD/slow-relay.sh st=$TMPD/slow.strace
	rm -f "$st"
	printf '#!/bin/sh\nexport ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
exec strace -D -o %s -e trace=bpf %s %s "$@"\n' "$st" \
		"-e inject=bpf:delay_exit=${WAIT_SCALE}s:when=1" "$RINGRELAY" >"$wrap"
	chmod +x "$wrap"
	RINGRELAY=$wrap lib_relay_start_bg "$1"
	lib_wait_for 10 grep -qs 'bpf(' "$st"
}

# lib__relay_ready: the relay runs and has logged ': ready' since the last lib_relay_start
# (read from that start's offset: the log grows by many starts in some tests).
lib__relay_ready()
{
	lib_relay_alive && tail -c +$((LIB_START_AT + 1)) "$RELAY_LOG" | grep -q ': ready'
}
lib__relay_ready_or_dead() { ! lib_relay_alive || lib__relay_ready; }

# lib_relay_stop: SIGTERM, bounded wait; returns the relay's exit status (1 if it had to be
# killed). The exit-time stats line stays in the log (lib_stat_last reads it).
lib_relay_stop()
{
	local rc=0
	[ -n "$RELAY_PID" ] || return 0
	kill -TERM "$RELAY_PID" 2>/dev/null
	if ! lib_wait_gone "$RELAY_PID" 10; then
		lib_log "relay $RELAY_PID ignored SIGTERM for 10 s, killing it"
		kill -KILL "$RELAY_PID" 2>/dev/null
		rc=1
	fi
	wait "$RELAY_PID" 2>/dev/null
	local st=$?
	[ $rc -eq 0 ] && rc=$st
	RELAY_PID=
	return $rc
}

# lib_relay_log_current: the relay log since the last lib_relay_start.
lib_relay_log_current()
{
	awk '/^=== start /{buf=""} {buf = buf $0 "\n"} END {printf "%s", buf}' "$RELAY_LOG"
}
# lib_log_count PATTERN: lines of the relay log since the last start that match PATTERN.
lib_log_count() { lib_relay_log_current | grep -c "$1" || true; }
lib_log_count_ge() { [ "$(lib_log_count "$1")" -ge "$2" ]; }
# lib_relay_hup [PATTERN]: SIGHUP the relay, then wait (10 s at most) for one more log line
# matching PATTERN (default: a reload applied). Fails when none comes.
lib_relay_hup()
{
	local pattern=${1:-"reload: .* applied"} before
	before=$(lib_log_count "$pattern")
	kill -HUP "$RELAY_PID"
	lib__wait_soon 10 lib_log_count_ge "$pattern" $((before + 1))
}
lib__has_backend() { lib_relay_log_current | grep -q "worker [0-9]*: backend $1"; }
# lib_expect_backend NAME: the running relay's workers said they use backend NAME.
lib_expect_backend() { lib__wait_soon 5 lib__has_backend "$1"; }

# lib_pause PID: SIGSTOP, then wait until every thread of PID has stopped: the signal takes
# effect when each thread next runs, and until then a worker may still read what a test
# sends to be queued. lib_resume PID: SIGCONT.
# lib_kernel_ge MAJOR MINOR: the running kernel is that version or later.
lib_kernel_ge()
{
	local maj min
	IFS=. read -r maj min _ <<<"$(uname -r)"
	min=${min%%[!0-9]*}
	[ "$maj" -gt "$1" ] || { [ "$maj" -eq "$1" ] && [ "$min" -ge "$2" ]; }
}
lib_pause() { kill -STOP "$1" && lib__wait_soon 5 lib__stopped "$1"; }
lib__stopped()
{
	awk '{ sub(/^.*\) /, ""); if ($1 != "T" && $1 != "t") bad = 1 } END { exit bad }' \
		/proc/"$1"/task/*/stat 2>/dev/null
}
lib_resume() { kill -CONT "$1"; }
lib_relay_alive() { [ -n "$RELAY_PID" ] && kill -0 "$RELAY_PID" 2>/dev/null; }

lib__stats_count() { grep -c 'stats relay=' "$RELAY_LOG" 2>/dev/null || true; }
lib__stats_more() { [ "$(lib__stats_count)" -gt "$1" ]; }

# lib_stats [RELAY]: SIGUSR1 the relay, wait (bounded) for a fresh stats line, print it.
lib_stats()
{
	local before
	lib_relay_alive || { lib_log "relay not running"; return 1; }
	before=$(lib__stats_count)
	kill -USR1 "$RELAY_PID"
	if ! lib__wait_soon 5 lib__stats_more "$before"; then
		lib_log "no stats line within 5 s of SIGUSR1"
		return 1
	fi
	lib_stats_last "$@"
}

# lib_stats_last [RELAY]: the newest stats line in the log (e.g. the one printed at exit).
lib_stats_last()
{
	if [ -n "$1" ]; then
		grep "stats relay=$1 " "$RELAY_LOG" | tail -n 1
	else
		grep 'stats relay=' "$RELAY_LOG" | tail -n 1
	fi
}

# lib_field NAME LINE: the value of NAME=N in a stats line (empty if absent; the first when
# there are several). No process: the tests read counters thousands of times.
lib_field()
{
	local rest=" ${2//$'\n'/ } "
	case $rest in
	*" $1="*)
		rest=${rest#*" $1="}
		echo "${rest%% *}"
		;;
	esac
}

# lib_stat NAME [RELAY]: current value of one counter (fresh stats line).
lib_stat()
{
	local line
	line=$(lib_stats "$2") || return 1
	lib_field "$1" "$line"
}

# lib_stat_sum "NAME1 NAME2..." [RELAY]: sum of counters from one fresh stats line.
lib_stat_sum()
{
	local line n v sum=0
	line=$(lib_stats "$2") || return 1
	for n in $1; do
		v=$(lib_field "$n" "$line")
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}

# lib_wait_stat NAME OP VALUE [SECONDS]: poll until counter NAME OP VALUE (OP: -gt -ge -eq..).
# NAME may be "a+b" to sum counters.
# Gives up at once when the relay is gone (LAST_STAT says so).
lib_wait_stat()
{
	local end=$((SECONDS + ${4:-10} * WAIT_SCALE)) v
	while :; do
		if ! lib_relay_alive; then
			LAST_STAT="(relay not running)"
			return 1
		fi
		v=$(lib_stat_sum "${1//+/ }") && LAST_STAT=$v && test "$v" "$2" "$3" && return 0
		[ $SECONDS -lt $end ] || return 1
		sleep 0.05
	done
}

# lib_json_field NAME JSONLINE: one field of udp.py's summary.
lib_json_field()
{
	"$PY" -c 'import json,sys; print(json.loads(sys.argv[2]).get(sys.argv[1], ""))' "$1" "$2"
}

# lib_lines FILE: number of lines (0 if missing).
lib_lines() { [ -f "$1" ] && wc -l <"$1" || echo 0; }
lib__lines_ge() { [ "$(lib_lines "$1")" -ge "$2" ]; }
# lib_wait_lines FILE N [SECONDS]: wait until a recorder file has at least N datagrams.
lib_wait_lines() { lib_wait_for "${3:-10}" lib__lines_ge "$1" "$2"; }

# lib_relay_conf FILE KEY=VALUE...: write a one-relay config. Keys (defaults): workers (1),
# backend (io_uring), buffer (2048; empty: left out, the daemon's default), buffers (1024),
# name (t), listen (repeatable), up
# (repeatable, may carry " weight=N"), mode (forward), balance (rr), timeout (30.0), max (4096),
# per_source (max_sessions_per_source; unset: the daemon's default), full (session_full), shed,
# gro (true: received bursts stay coalesced; with buffer= for GRO's default buffer size).
lib_relay_conf()
{
	local file=$1 kv k v
	shift
	local workers=1 backend=io_uring buffer=2048 buffers=1024 name=t mode=forward balance=rr
	local timeout=30.0 max=4096 listen="" up="" more="" top=""
	for kv in "$@"; do
		k=${kv%%=*}
		v=${kv#*=}
		case $k in
		workers) workers=$v ;;
		backend) backend=$v ;;
		buffer) buffer=$v ;;
		buffers) buffers=$v ;;
		name) name=$v ;;
		mode) mode=$v ;;
		balance) balance=$v ;;
		timeout) timeout=$v ;;
		max) max=$v ;;
		per_source) more="$more max_sessions_per_source = $v;" ;;
		full) more="$more session_full = \"$v\";" ;;
		shed) more="$more shed = \"$v\";" ;;
		gro) top="gro = $v;" ;;
		listen) listen="$listen${listen:+, }\"$v\"" ;;
		up) up="$up${up:+, }\"$v\"" ;;
		*) lib_fail "lib_relay_conf: unknown key $k" ;;
		esac
	done
	cat >"$file" <<EOF
# written by $LIB_NAME
workers = $workers;
io_backend = "$backend";${top:+ $top}
${buffer:+buffer_size = $buffer;}
buffers = $buffers;
relays = (
	{
		name = "$name";
		listen = [ $listen ];
		upstreams = [ $up ];
		mode = "$mode";
		balance = "$balance";
		session_timeout = $timeout;
		max_sessions = $max;$more
	}
);
EOF
	# Last, so the line numbers above stay put: a control socket of the test's own, never
	# the host's /run/ringrelay.
	mkdir -p "$TMPD/run" && chmod 1777 "$TMPD/run" && chmod o+x "$TMPD"
	echo "control_socket = \"$TMPD/run/ctl.sock\";" >>"$file"
}

# One relay case (a backend and an address family), the way the relay tests begin and end:
#	lib_case_begin NAME "$backend" "$fam"
#	lib_case_echo "$rec"			# upstream helpers, stopped by lib_case_end
#	lib_case_start max=4 || return		# the relay, on this case's config
#	... the checks ...
#	lib_case_end
# They set globals the test reads: c (the label of every message), conf, to.

# lib_case_begin NAME BACKEND FAMILY: the family's addresses (lib_family), c =
# "[BACKEND/ipvFAMILY]", conf = $TMPD/NAME-BACKEND-FAMILY.conf, to = the relay's listen
# endpoint (RELAY_IP port 5000).
lib_case_begin()
{
	CASE_BACKEND=$2
	CASE_PIDS=()
	lib_family "$3"
	c="[$2/ipv$3]"
	conf=$TMPD/$1-$2-$3.conf
	to=$(ep "$RELAY_IP" 5000)
}

# lib_case_server OUTFILE ARGS...: a udp.py server in NS_U for this case (lib_udp_bg); sets
# BG_PID.
lib_case_server()
{
	lib_udp_bg "$NS_U" "$@"
	CASE_PIDS+=("$BG_PID")
}

# lib_expect_echo MSG CLIENT_ARGS...: a udp.py client in NS_C to $to that wants every echo
# back; the case passes with MSG and the client's summary, or fails with them.
lib_expect_echo()
{
	local msg=$1 out
	shift
	if out=$(lib_udp "$NS_C" client --to "$to" "$@" --expect-echo); then
		lib_case_ok "$c $msg: $out"
	else
		lib_case_fail "$c $msg: $out"
	fi
}

# lib_case_echo [RECORD]: an echo upstream on UP1_IP port 9000, recording into RECORD.
lib_case_echo() { lib_case_server "$TMPD/echo.json" echo --bind "$(ep "$UP1_IP" 9000)" ${1:+--out "$1"}; }

# lib_case_start [KEY=VALUE...]: writes conf (lib_relay_conf: this case's backend, listen to,
# upstream UP1_IP port 9000, then the KEYs: listen= and up= add, the others override), starts
# the relay and checks that it logs this backend. A relay that does not start fails the case
# and stops its helpers: returns 1.
lib_case_start()
{
	lib_relay_conf "$conf" backend="$CASE_BACKEND" listen="$to" up="$(ep "$UP1_IP" 9000)" "$@"
	if ! lib_relay_start "$conf"; then
		lib_case_fail "$c relay did not start"
		lib_case_stop_helpers
		return 1
	fi
	lib_expect_backend "$CASE_BACKEND" ||
		lib_case_fail "$c no 'worker N: backend $CASE_BACKEND' log line"
}

lib_case_stop_helpers()
{
	local pid
	for pid in "${CASE_PIDS[@]}"; do
		lib_stop_pid "$pid"
	done
}

# lib_case_end: SIGTERM the relay, which must exit 0, then stop the case's helpers.
lib_case_end()
{
	lib_relay_stop || lib_case_fail "$c relay exit status $? after SIGTERM, want 0"
	lib_case_stop_helpers
}

# lib_backends: io_backend values every relay test loops over (override: NET_BACKENDS).
lib_backends() { echo "${NET_BACKENDS:-io_uring mmsg}"; }

# lib_each_case FN: runs FN BACKEND FAMILY for every backend and both families, then reports.
lib_each_case()
{
	local backend fam
	for backend in $(lib_backends); do
		for fam in 4 6; do
			"$1" "$backend" "$fam"
		done
	done
	lib_done
}

# lib_expect_fields CASE LINE VALUE FIELD...: every FIELD of a stats LINE equals VALUE.
lib_expect_fields()
{
	local c=$1 line=$2 want=$3 f v
	shift 3
	for f in "$@"; do
		v=$(lib_field "$f" "$line")
		[ "$v" = "$want" ] || lib_case_fail "$c $f=$v, want $want"
	done
}

# Per-test result bookkeeping: a test runs many cases and reports all failures at the end.
LIB_FAILS=0
lib_case_fail()
{
	lib_log "FAIL: $*"
	LIB_FAIL_LINES+=("$*")
	LIB_FAILS=$((LIB_FAILS + 1))
}
lib_case_ok() { lib_log "ok: $*"; }
lib_done()
{
	if [ "$LIB_FAILS" -ne 0 ]; then
		lib_log "$LIB_FAILS case(s) failed"
		exit 1
	fi
	exit 0
}
