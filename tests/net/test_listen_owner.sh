#!/bin/bash
# SPDX-License-Identifier: MIT
# Listen-port ownership (issue 14), per family, in the relay's namespace:
#   - a second ringrelay (its own control socket) on the port of a running one is refused
#     with "address in use by pid N (ringrelay)" instead of joining its SO_REUSEPORT group;
#   - reloads of the first that keep its sockets, or swap its address for the wildcard on the
#     same port, are not refused: its own sockets are its own;
#   - with reuseport_shared = true in both, the second starts and both hold the port;
#   - a plain socket of another program (python3) on the port is named the same way, and for
#     IPv4 so is an IPv6 dual-stack wildcard socket;
#   - a socket that no process has open (the previous instance's, which io_uring releases after
#     the process exited; here one in flight in an SCM_RIGHTS message) is waited for at start:
#     gone after 1 s, the relay starts and says how long it waited; still there after the
#     wait, the relay is refused, saying it waited; a reload that adds an address so held
#     waits for it too;
#   - while a start (A) still sets up (its program's load held by strace), a second start (B)
#     on one of A's listen addresses and a reload of a running relay (C) that adds the other,
#     each with its own pid file and control socket, wait for A's listeners (the port claims A
#     holds from its check until they are bound), then are refused naming the address; A
#     alone holds the ports and relays (before the claims, both passed the check and joined
#     A's SO_REUSEPORT groups);
#   - a stop while a start or a reload waits for a claim ends the wait at once;
#   - a start with 1024 listen ports under a soft RLIMIT_NOFILE of 1024 raises it before it
#     claims them (a descriptor each) and relays.
. "$(dirname "$0")/lib.sh"
lib_topology
CTL=$BUILD/ringrelayctl
[ -x "$CTL" ] || lib_skip "$CTL not built"

# conf FILE CTLNAME PORT [shared] [wildcard]: one relay on RELAY_IP:PORT (or the family's
# wildcard) with its own control socket.
conf()
{
	local file=$1 ctl=$2 port=$3 shared=$4 wild=$5 listen
	listen=$(ep "$RELAY_IP" "$port")
	if [ "$wild" = wildcard ]; then
		[ "$FAM" = 4 ] && listen="0.0.0.0:$port" || listen="[::]:$port"
	fi
	lib_relay_conf "$file" listen="$listen" up="$(ep "$UP1_IP" 9000)"
	sed -i "s|/run/ctl.sock|/run/$ctl.sock|" "$file"
	[ "$shared" = shared ] && sed -i '/max_sessions/a reuseport_shared = true;' "$file"
	return 0
}

# refused CASE CONF PATTERN: a ringrelay on CONF exits 1 within 10 s, saying PATTERN.
refused()
{
	local c=$1 out rc
	out=$(timeout 10 ip netns exec "$NS_R" "$RINGRELAY" -f -c "$2" 2>&1)
	rc=$?
	if [ $rc -eq 1 ] && echo "$out" | grep -q -- "$3"; then
		lib_case_ok "$c refused: $(echo "$out" | grep -o 'relays\[0\].*' | head -n 1)"
	else
		lib_case_fail "$c want exit 1 and '$3', got exit $rc: $out"
	fi
}

run_family()
{
	local c="[ipv$1]" a b out pid_b n
	lib_family "$1"
	a=$TMPD/a$FAM.conf
	b=$TMPD/b$FAM.conf

	conf "$a" a 5000
	conf "$b" b 5000
	lib_relay_start "$a" || { lib_case_fail "$c first relay did not start"; return; }
	refused "$c second relay on the same port" "$b" \
		"address in use by pid $RELAY_PID (ringrelay)"

	if out=$("$CTL" -s "$TMPD/run/a.sock" reload 2>&1); then
		lib_case_ok "$c reload of the first relay keeps its sockets and passes the check"
	else
		lib_case_fail "$c reload with unchanged listeners refused: $out"
	fi
	conf "$a" a 5000 "" wildcard
	if out=$("$CTL" -s "$TMPD/run/a.sock" reload 2>&1); then
		lib_case_ok "$c reload from $RELAY_IP to the wildcard on the same port passes"
	else
		lib_case_fail "$c reload to the wildcard refused (our own sockets counted): $out"
	fi
	lib_relay_stop || lib_case_fail "$c first relay exit status $?"

	conf "$a" a 5000 shared
	conf "$b" b 5000 shared
	lib_relay_start "$a" || { lib_case_fail "$c shared relay did not start"; return; }
	lib_bg "$NS_R" "$RINGRELAY" -f -c "$b" >"$TMPD/b$FAM.log" 2>&1
	pid_b=$BG_PID
	if lib_wait_for 10 grep -q ': ready' "$TMPD/b$FAM.log" && kill -0 "$pid_b" 2>/dev/null; then
		n=$(ip netns exec "$NS_R" ss -Huanp "sport = :5000" | grep -o 'pid=[0-9]*' |
			sort -u | wc -l)
		[ "$n" -eq 2 ] &&
			lib_case_ok "$c reuseport_shared on both: two relays share :5000" ||
			lib_case_fail "$c reuseport_shared: $n processes hold :5000, want 2"
	else
		lib_case_fail "$c second relay with reuseport_shared did not start:" \
			"$(cat "$TMPD/b$FAM.log")"
	fi
	lib_stop_pid "$pid_b"
	lib_relay_stop || lib_case_fail "$c shared relay exit status $?"

	# another program, no SO_REUSEPORT
	lib_udp_bg "$NS_R" "$TMPD/py$FAM.json" sink --bind "$(ep "$RELAY_IP" 5001)" --seconds 30 \
		--out "$TMPD/py$FAM.rec"
	conf "$b" b 5001
	refused "$c a python3 socket on the port" "$b" "address in use by pid $BG_PID (python3"
	lib_stop_pid "$BG_PID"

	if [ "$FAM" = 4 ]; then
		lib_bg "$NS_R" "$PY" -c '
import socket, time
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", 5002))
time.sleep(30)'
		lib_wait_for 10 lib__bound "$NS_R" "[::]:5002" "" ||
			lib_case_fail "$c dual-stack socket did not bind"
		conf "$b" b 5002
		refused "$c an IPv6 dual-stack wildcard on the port" "$b" \
			"address in use by pid $BG_PID (python3"
		lib_stop_pid "$BG_PID"
	fi
}

# How long an orphan the relay is to wait for lives after it is ready: within the relay's 3 s
# wait, and past the time a relay takes from its start to the owner check (under 1 s here; on
# an emulated CPU, NET_WAIT_SCALE > 1, that took more than 1 s once and the orphan was gone).
ORPHAN_HOLD=$(( WAIT_SCALE > 1 ? 2 : 1 ))

# orphan FAMILY PORT SECONDS: a socket bound to RELAY_IP:PORT whose only reference is in
# flight in an SCM_RIGHTS message for SECONDS (then the message goes, and the socket with it).
# Sets BG_PID; READY_FILE exists once the binding process has closed its own descriptor.
orphan()
{
	# Per family and port: the IPv4 pass's file must not let the IPv6 pass start early.
	READY_FILE=$TMPD/orphan$1-$2.ready
	rm -f "$READY_FILE"
	lib_bg "$NS_R" "$PY" -c '
import array, socket, sys, time
host, port, hold, ready = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
s.bind((host, port))
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
a.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [s.fileno()]))])
s.close()
open(ready, "w").close()
time.sleep(hold)
b.close()
a.close()
time.sleep(30)' "$RELAY_IP" "$2" "$3" "$READY_FILE"
}

# reload_orphan CASE CONF: a reload that adds a listen address held by a socket no process has
# (as a listener an earlier reload closed is, before Linux 6.13, until the worker's refresh let
# it go) waits for it and applies (before, it was refused at once as another program's: on
# 6.1 a reload that brought back a listener a reload had just removed failed).
reload_orphan()
{
	local c="$1 at a reload" out
	lib_stop_pid "$BG_PID"
	orphan 4 5005 "$ORPHAN_HOLD"
	lib_wait_for 10 test -e "$READY_FILE" || lib_case_fail "$c the orphan socket was not made"
	sed -i "s|listen = \[ \"$(ep "$RELAY_IP" 5003)\" \]|listen = [ \"$(ep "$RELAY_IP" 5003)\", \"$(ep "$RELAY_IP" 5005)\" ]|" "$2"
	grep -q ":5005" "$2" || lib_fail "$c no second listen address in $2"
	if out=$("$CTL" -s "$TMPD/run/a.sock" reload 2>&1) &&
		lib_relay_log_current | grep -q "5005 was held by a socket no process has open.*free after"
	then
		lib_case_ok "$c waited for, then applied: $(lib_relay_log_current |
			grep -o '5005 was held.*' | grep -o 'free after [0-9]* ms')"
	else
		lib_case_fail "$c want the reload applied after a wait: $out"
	fi
}

orphan_family()
{
	local c="[ipv$1, a socket no process has]" a=$TMPD/orphan$1.conf
	lib_family "$1"
	conf "$a" a 5003
	orphan "$1" 5003 "$ORPHAN_HOLD"
	lib_wait_for 10 test -e "$READY_FILE" || lib_case_fail "$c the orphan socket was not made"
	if lib_relay_start "$a"; then
		lib_relay_log_current | grep -q "held by a socket no process has open.*free after" &&
			lib_case_ok "$c waited for, then started: $(lib_relay_log_current |
				grep -o 'free after [0-9]* ms')" ||
			lib_case_fail "$c started without saying it waited"
		[ "$1" = 4 ] && reload_orphan "$c" "$a"
		lib_relay_stop || lib_case_fail "$c relay exit status $?"
	else
		lib_case_fail "$c the relay did not start once the socket was gone"
	fi
	lib_stop_pid "$BG_PID"
	orphan "$1" 5004 20
	lib_wait_for 10 test -e "$READY_FILE" || lib_case_fail "$c the orphan socket was not made"
	conf "$a" a 5004
	refused "$c one that stays" "$a" "its pid is not visible to us), still after waiting"
	lib_stop_pid "$BG_PID"
}

# settled PID LOG: the ringrelay PID has exited or logged ': ready' into LOG.
settled() { ! kill -0 "$1" 2>/dev/null || grep -q ': ready' "$2"; }

# A start and a reload during another start's set-up (see the top). IPv4 alone: the claim is
# by port, the family does not matter.
race_case()
{
	local c="[ipv4, a start setting up]" a=$TMPD/race-a.conf b=$TMPD/race-b.conf
	local cc=$TMPD/race-c.conf pid_b pid_c out rc n port echo_pid f0=$LIB_FAILS
	lib_family 4
	if ! command -v strace >/dev/null; then
		lib_log "skip: $c: no strace"
		return
	fi
	conf "$a" a 5006
	sed -i "s|\"$(ep "$RELAY_IP" 5006)\"|&, \"$(ep "$RELAY_IP" 5008)\"|" "$a"
	conf "$b" b 5006
	conf "$cc" c 5007
	# Only A loads the program (early shedding, "auto"), where strace holds it.
	sed -i '/max_sessions/a shed = "off";' "$b" "$cc"
	lib_udp_bg "$NS_U" "$TMPD/race-echo.json" echo --bind "$(ep "$UP1_IP" 9000)" --seconds 60
	echo_pid=$BG_PID
	lib_bg "$NS_R" "$RINGRELAY" -f -c "$cc" >"$TMPD/race-c.log" 2>&1
	pid_c=$BG_PID
	lib_wait_for 10 settled "$pid_c" "$TMPD/race-c.log" && kill -0 "$pid_c" 2>/dev/null ||
		lib_case_fail "$c C did not start: $(tail -n 5 "$TMPD/race-c.log")"
	sed -i "s|\"$(ep "$RELAY_IP" 5007)\"|&, \"$(ep "$RELAY_IP" 5008)\"|" "$cc"
	if ! lib_relay_start_held "$a"; then
		lib_case_fail "$c A's first bpf() was not held: $(cat "$TMPD/slow.strace")"
		lib_relay_stop
		lib_stop_pid "$pid_c"
		lib_stop_pid "$echo_pid"
		return
	fi
	lib_bg "$NS_R" "$RINGRELAY" -f -c "$b" >"$TMPD/race-b.log" 2>&1
	pid_b=$BG_PID
	out=$("$CTL" -s "$TMPD/run/c.sock" reload 2>&1) &&
		lib_case_fail "$c C's reload adding A's address was taken: $out"
	echo "$out" | grep -q "$(ep "$RELAY_IP" 5008): address in use by pid $RELAY_PID (ringrelay)" ||
		lib_case_fail "$c C's reload not refused naming A's address: $out"
	grep -q "udp port 5008: claimed by pid $RELAY_PID" "$TMPD/race-c.log" ||
		lib_case_fail "$c C's reload did not say it waited for A: $(tail -n 3 "$TMPD/race-c.log")"
	lib_wait_for 20 settled "$pid_b" "$TMPD/race-b.log"
	if kill -0 "$pid_b" 2>/dev/null; then
		lib_case_fail "$c B runs beside A: $(grep -c ': ready' "$TMPD/race-b.log") ready line(s)"
		lib_stop_pid "$pid_b"
	else
		wait "$pid_b"
		rc=$?
		out=$(cat "$TMPD/race-b.log")
		[ $rc = 1 ] && echo "$out" | grep -q "udp port 5006: claimed by pid $RELAY_PID" &&
			echo "$out" | grep -q \
				"$(ep "$RELAY_IP" 5006): address in use by pid $RELAY_PID (ringrelay)" ||
			lib_case_fail "$c B: want exit 1 after waiting for A, refused naming the address; got $rc: $out"
	fi
	if lib_relay_wait_ready; then
		for port in 5006 5008; do
			n=$(ip netns exec "$NS_R" ss -Huanp "sport = :$port" | grep -o 'pid=[0-9]*' |
				sort -u)
			[ "$n" = "pid=$RELAY_PID" ] ||
				lib_case_fail "$c :$port held by $(echo $n), want A's alone"
		done
		out=$(lib_udp "$NS_C" client --to "$(ep "$RELAY_IP" 5006)" --bind "$CLIENT_IP" \
			--count 5 --size 40 --expect-echo --seconds 10) ||
			lib_case_fail "$c A does not relay: $out"
		lib_relay_stop || lib_case_fail "$c A's exit status $?"
	else
		lib_case_fail "$c A did not start"
	fi
	lib_stop_pid "$pid_c"
	lib_stop_pid "$echo_pid"
	[ "$LIB_FAILS" = "$f0" ] &&
		lib_case_ok "$c B and C's reload waited for A's listeners, then were refused; A relays"
}

# A stop while a start waits for a claim ends it at once (the event loop that reads signals
# does not run yet): a claim held by root (a Python socket on the claim's name) makes B wait;
# SIGTERM ends it within 2 s, exit 1, saying so (before: it waited the whole 30 s).
held_5009() { ip netns exec "$NS_R" ss -Hxl | grep -q '@ringrelay/claim/udp/5009'; }
held_5011() { ip netns exec "$NS_R" ss -Hxl | grep -q '@ringrelay/claim/udp/5011'; }
claim_stop_case()
{
	local c="[ipv4, stopped while waiting for a claim]" b=$TMPD/stop-b.conf holder pid_b rc
	lib_family 4
	conf "$b" b 5009
	sed -i '/max_sessions/a shed = "off";' "$b"
	lib_bg "$NS_R" "$PY" -c 'import socket, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind("\0ringrelay/claim/udp/5009"); s.listen(8); time.sleep(60)'
	holder=$BG_PID
	lib_wait_for 5 held_5009 || lib_case_fail "$c the claim's name was not bound"
	lib_bg "$NS_R" "$RINGRELAY" -f -c "$b" >"$TMPD/stop-b.log" 2>&1
	pid_b=$BG_PID
	lib_wait_for 10 grep -q "udp port 5009: claimed by pid" "$TMPD/stop-b.log" ||
		lib_case_fail "$c B did not wait: $(tail -n 3 "$TMPD/stop-b.log")"
	kill -TERM "$pid_b"
	if lib_wait_gone "$pid_b" 2; then
		wait "$pid_b"
		rc=$?
		[ $rc = 1 ] && grep -q "stopped by a signal while waiting for udp port 5009" \
			"$TMPD/stop-b.log" &&
			lib_case_ok "$c B ended at once, exit 1, saying why" ||
			lib_case_fail "$c B: exit $rc: $(tail -n 2 "$TMPD/stop-b.log")"
	else
		lib_case_fail "$c B still runs 2 s after SIGTERM"
		lib_stop_pid "$pid_b"
	fi
	lib_stop_pid "$holder"
}

# A stop while a reload waits for a claim (a root-held name again, on a port the reload adds)
# gives the reload up and ends its wait at once: its load thread (ringrelay-load) lets its
# claims go and ends while the stop still waits for the workers (worker 0 held stopped for
# that), then A exits 0, one line for the reload (before: the load went on waiting, holding
# the claims it had, until the process exited under it).
a_waits_5011() { lib_relay_log_current | grep -q "udp port 5011: claimed by pid"; }
loading() { grep -qx ringrelay-load /proc/"$1"/task/*/comm 2>/dev/null; }
claims_5010() { ip netns exec "$NS_R" ss -Hxl | grep -q '@ringrelay/claim/udp/5010 '; }
load_ended() { ! loading "$1" && ! claims_5010; }
reload_stop_case()
{
	local c="[ipv4, stopped while a reload waits for a claim]" a=$TMPD/rstop.conf holder
	local pid rc
	lib_family 4
	conf "$a" a 5010
	sed -i '/max_sessions/a shed = "off";' "$a"
	lib_relay_start "$a" || { lib_case_fail "$c A did not start"; return; }
	pid=$RELAY_PID
	lib_bg "$NS_R" "$PY" -c 'import socket, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind("\0ringrelay/claim/udp/5011"); s.listen(8); time.sleep(60)'
	holder=$BG_PID
	lib_wait_for 5 held_5011 || lib_case_fail "$c the claim's name was not bound"
	sed -i "s|\"$(ep "$RELAY_IP" 5010)\"|&, \"$(ep "$RELAY_IP" 5011)\"|" "$a"
	kill -HUP "$pid"
	lib_wait_for 10 a_waits_5011 && loading "$pid" && claims_5010 ||
		lib_case_fail "$c A's reload does not wait holding :5010's claim:" \
			"$(lib_relay_log_current | tail -n 2)"
	lib_worker_stop 0 10 "$TMPD/rstop-w0.out" || lib_case_fail "$c worker 0 was not stopped"
	kill -TERM "$pid"
	lib_wait_for 1 load_ended "$pid" ||
		lib_case_fail "$c the reload's load still waits for :5011 after SIGTERM (thread:" \
			"$(loading "$pid" && echo yes || echo no), :5010 claimed:" \
			"$(claims_5010 && echo yes || echo no))"
	lib_stop_pid "$STOP_PID"
	if lib_wait_gone "$pid" 5; then
		lib_relay_stop
		rc=$?
		[ $rc = 0 ] && [ "$(lib_log_count "reload: given up as the process stops")" = 1 ] &&
			lib_case_ok "$c the reload's wait ended at once, A exited 0" ||
			lib_case_fail "$c A: exit $rc: $(lib_relay_log_current | tail -n 4)"
	else
		lib_case_fail "$c A still runs 5 s after its worker resumed"
		lib_relay_stop
	fi
	lib_stop_pid "$holder"
}

# many_conf FILE: 64 relays of 16 listen addresses each, ports 6000-7023 on RELAY_IP (IPv4:
# the most a configuration has, 1024 claims), a few sessions each, no BPF program.
many_conf()
{
	local r p ports sep=,
	{
		echo "workers = 1;"
		echo "relays = ("
		for ((r = 0; r < 64; r++)); do
			ports=
			for ((p = 6000 + r * 16; p < 6016 + r * 16; p++)); do
				ports="$ports${ports:+, }\"$RELAY_IP:$p\""
			done
			[ $r = 63 ] && sep=
			echo "{ name = \"p$r\"; listen = [ $ports ]; upstreams = [ \"$UP1_IP:9000\" ];"
			echo "  max_sessions = 8; shed = \"off\"; }$sep"
		done
		echo ");"
	} >"$1"
}

# A start under a soft RLIMIT_NOFILE of 1024 (systemd's default, with a hard 524288; here the
# test's hard limit) with 1024 listen ports: the soft limit goes up to what the plan needs
# before the ports are claimed, a descriptor each; A starts and relays on its last port
# (before, the claims ran out of descriptors: "claim the listen ports: Too many open files").
many_ports_case()
{
	local c="[ipv4, 1024 listen ports under a soft limit of 1024]" a=$TMPD/many.conf out
	local real=$RINGRELAY wrap=$TMPD/nofile-relay.sh echo_pid
	lib_family 4
	if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt 8192 ]; then
		lib_log "skip: $c: the hard RLIMIT_NOFILE is $(ulimit -Hn), below what it needs"
		return
	fi
	many_conf "$a"
	printf '#!/bin/sh\nulimit -Sn 1024 && exec %s "$@"\n' "$real" >"$wrap"
	chmod +x "$wrap"
	lib_udp_bg "$NS_U" "$TMPD/many-echo.json" echo --bind "$(ep "$UP1_IP" 9000)" --seconds 30
	echo_pid=$BG_PID
	if RINGRELAY=$wrap lib_relay_start "$a"; then
		out=$(lib_udp "$NS_C" client --to "$(ep "$RELAY_IP" 7023)" --bind "$CLIENT_IP" \
			--count 5 --size 40 --expect-echo --seconds 10) &&
			lib_case_ok "$c started and relays on :7023" ||
			lib_case_fail "$c A does not relay on :7023: $out"
		lib_relay_stop || lib_case_fail "$c exit status $?"
	else
		lib_case_fail "$c A did not start: $(lib_relay_log_current | tail -n 2)"
		lib_relay_stop
	fi
	lib_stop_pid "$echo_pid"
}

run_family 4
run_family 6
orphan_family 4
orphan_family 6
race_case
claim_stop_case
reload_stop_case
many_ports_case
lib_done
