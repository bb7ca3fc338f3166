#!/bin/bash
# SPDX-License-Identifier: MIT
# The control socket's access and its pools (issue 12), the relay running as root with
# control_access.read_only_group = "nogroup":
#  - the socket's directory is made only when missing: 0750, owned by the daemon's user and
#    the read-only group; the socket 0660 with the same owner; an existing directory is left
#    as it is (a relay switching to nobody refuses one it may not write, changing nothing);
#    a symlink at the socket's path is refused, its target untouched;
#  - levels: nobody:nogroup (primary group, or nogroup as a supplementary group) gets
#    status, stats and filter, and "permission denied" for sessions and reload (which then
#    does not run); so does a peer whose 301st supplementary group is nogroup; a uid outside the group that can open the file anyway (CAP_DAC_OVERRIDE)
#    is refused at once;
#  - pools: 40 idle connections of nobody (kept open, reopened when the daemon closes them),
#    then 40 of each of three uids of the group (more than the unix pool holds below its
#    admin reserve), then an HTTP slowloris of 40 connections do not stop root's
#    `ringrelayctl status` and `reload` (5 of each, every one answered within 2 s); nobody's
#    5th connection and a fourth uid get "busy"; /metrics still answers a scrape.
#  - /metrics clients the pool must outlast: a request that came whole while the control
#    thread was busy (5 s in `sessions`, a worker stopped), a scraper accepted at once with 40
#    empty connections, a client that sends bytes after its request and reads slowly (the
#    close must not reset it), 20 clients that never read answers larger than the kernel
#    buffers: each scrape gets its whole answer. Out of descriptors, the control thread does
#    not spin and answers the client that waited once they are back. A stop finishes an
#    answer its client reads slowly.
. "$(dirname "$0")/lib.sh"
lib_topology

lib_bins_for_others
RINGRELAY=$BIN/ringrelay
SOCK=$TMPD/ctl/ctl.sock
CONF=$TMPD/access.conf
NOGROUP_GID=$(getent group nogroup | cut -d: -f3) || lib_skip "no group 'nogroup'"
id nobody >/dev/null 2>&1 || lib_skip "no user 'nobody'"

write_conf()
{
	cat >"$1" <<EOF2
workers = 1;
control_socket = "$2";
control_access = { read_only_group = "nogroup"; };
metrics = { listen = "127.0.0.1:9470"; };
$3
relays = ( { name = "a"; listen = [ "198.18.1.2:5000" ]; upstreams = [ "198.18.2.2:9000" ]; } );
EOF2
	chmod 644 "$1"
}

# as USER[:GROUP[:SUPPLEMENTARY]] CMD...: run CMD in the relay's namespace as that user.
as()
{
	local spec=$1 u g s groups=--clear-groups
	shift
	IFS=: read -r u g s <<<"$spec"
	[ -n "$s" ] && groups=--groups=$s
	ip netns exec "$NS_R" setpriv --reuid="$u" --regid="${g:-$u}" "$groups" "$@"
}
ctl() { "$BIN/ringrelayctl" -s "$SOCK" "$@"; }
ctl_up() { ctl status >/dev/null 2>&1; }
reloads_ok()
{
	ctl -j status |
		"$PY" -c 'import json,sys; print(json.load(sys.stdin)["reloads"]["success"])'
}

# ---- 1. the directory and the socket
write_conf "$CONF" "$SOCK"
lib_relay_start "$CONF" || lib_fail "relay did not start"
lib_wait_for 10 ctl_up || lib_fail "no answer on $SOCK"
got=$(stat -c '%a %U %G' "$TMPD/ctl")
[ "$got" = "750 root nogroup" ] && lib_case_ok "made the socket's directory: $got" ||
	lib_case_fail "socket directory is '$got', want '750 root nogroup'"
got=$(stat -c '%a %U %G %F' "$SOCK")
[ "$got" = "660 root nogroup socket" ] && lib_case_ok "socket: $got" ||
	lib_case_fail "socket is '$got', want '660 root nogroup socket'"
warn="staying root after set-up: user is not set and there is no user 'ringrelay'"
grep -q "$warn.*user = \"root\"" "$RELAY_LOG" &&
	lib_case_ok "root start without a ringrelay user: warned, naming user" ||
	lib_case_fail "no warning about staying root"

# ---- 2. levels
for who in nobody:nogroup nobody:daemon:nogroup; do
	bad=0
	for cmd in status stats filter; do
		out=$(as "$who" "$BIN/ringrelayctl" -s "$SOCK" $cmd 2>&1) ||
			{ bad=1; lib_case_fail "$who: $cmd: $out"; }
	done
	[ $bad -eq 0 ] && lib_case_ok "$who: status, stats and filter answered"
done
for cmd in sessions reload; do
	out=$(as nobody:nogroup "$BIN/ringrelayctl" -s "$SOCK" $cmd 2>&1)
	rc=$?
	if [ $rc -ne 0 ] && echo "$out" | grep -q "permission denied: $cmd needs admin access"; then
		lib_case_ok "nobody: $cmd: $out"
	else
		lib_case_fail "nobody: $cmd: exit $rc: $out"
	fi
done
[ "$(reloads_ok)" = 0 ] || lib_case_fail "a refused reload ran"
out=$(as daemon:daemon "$BIN/ringrelayctl" -s "$SOCK" status 2>&1) &&
	lib_case_fail "daemon (not in nogroup) got an answer: $out"
echo "$out" | grep -q "Permission denied" && lib_case_ok "daemon: the socket file refuses it" ||
	lib_case_fail "daemon: $out"
# CAP_DAC_OVERRIDE opens the file; the peer's credentials still say no.
out=$(ip netns exec "$NS_R" setpriv --reuid=daemon --regid=daemon --clear-groups \
	--inh-caps=+dac_override --ambient-caps=+dac_override "$BIN/ringrelayctl" -s "$SOCK" \
	status 2>&1)
want="permission denied: uid 1 is not root or the daemon's user (uid 0) and not in"
if echo "$out" | grep -q "$want control_access.read_only_group 'nogroup'"; then
	lib_case_ok "uid 1 past the file's mode: $out"
else
	lib_case_fail "uid 1 past the file's mode: $out"
fi

# A member of the group through its 301st supplementary group (more than the daemon's first
# SO_PEERGROUPS buffer of 256 holds: it was judged by its primary group alone and refused).
many=$(seq -s, 20001 20300),$NOGROUP_GID
out=$(as "60010:60010:$many" "$BIN/ringrelayctl" -s "$SOCK" status 2>&1) &&
	lib_case_ok "a peer in 301 groups, nogroup the last: answered" ||
	lib_case_fail "a peer in 301 groups, nogroup the last: $out"

# ---- 3. pools: idle unix connections, then an HTTP slowloris
# hold UID N HOW: a helper as UID (group nogroup) holding N connections open (unix: to the
# socket, sending nothing; http: sending one byte of a request head every 0.5 s) and opening
# new ones as the daemon closes them, for 30 s at most.
hold()
{
	lib_bg "$NS_R" setpriv --reuid="$1" --regid=nogroup --clear-groups "$PY" -c '
import socket, sys, time
n, how, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
socks = []
end = time.time() + 30
while time.time() < end:
    while len(socks) < n:
        try:
            if how == "unix":
                s = socket.socket(socket.AF_UNIX); s.connect(path)
            else:
                s = socket.create_connection(("127.0.0.1", 9470)); s.send(b"G")
            s.setblocking(False)
            socks.append(s)
        except OSError:
            time.sleep(0.05)
            break
    time.sleep(0.5)
    for s in list(socks):
        try:
            if how == "http":
                s.send(b"E")
            if s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
                raise OSError
        except BlockingIOError:
            pass
        except OSError:
            socks.remove(s); s.close()   # closed by the daemon: open another
' "$2" "$3" "$SOCK"
}

# root_answers LABEL: 5 x status and 5 x reload as root, each within 2 s.
root_answers()
{
	local i t0 ms bad=0 before
	before=$(reloads_ok)
	for i in 1 2 3 4 5; do
		for cmd in status reload; do
			t0=$(date +%s%N)
			if ! ctl $cmd >/dev/null 2>"$TMPD/err"; then
				bad=$((bad + 1))
				lib_log "$1: root $cmd: $(cat "$TMPD/err")"
			fi
			ms=$(( ($(date +%s%N) - t0) / 1000000 ))
			[ "$ms" -lt 2000 ] || { bad=$((bad + 1)); lib_log "$1: root $cmd took $ms ms"; }
		done
	done
	[ "$(reloads_ok)" = $((before + 5)) ] || bad=$((bad + 1))
	[ $bad -eq 0 ] && lib_case_ok "$1: root's 5 status and 5 reloads all answered in time" ||
		lib_case_fail "$1: $bad of root's 10 requests failed or were late"
}

# held: the daemon's end of connections on the socket; held_ge N: at least N of them.
held() { ip netns exec "$NS_R" ss -Hx state connected src "$SOCK" 2>/dev/null | wc -l; }
held_ge() { [ "$(held)" -ge "$1" ]; }
hold nobody 40 unix
idle=$BG_PID
lib_wait_for 5 held_ge 4 || lib_case_fail "nobody's connections never arrived"
lib_case_ok "nobody opens 40 connections, the daemon holds $(held) (4 a uid)"
root_answers "40 idle unix connections of nobody"
out=$(as nobody:nogroup "$BIN/ringrelayctl" -s "$SOCK" status 2>&1) &&
	lib_case_fail "nobody's 5th connection was served" ||
	{ echo "$out" | grep -q "busy: uid 65534 has 4 control connections open" &&
		lib_case_ok "nobody's 5th connection: $out" ||
		lib_case_fail "nobody's 5th connection: $out"; }
# Two more uids of the group: 12 read-only connections fill the pool up to its admin reserve.
hold 60001 40 unix
idle2=$BG_PID
hold 60002 40 unix
idle3=$BG_PID
lib_wait_for 5 held_ge 12 || lib_case_fail "only $(held) connections held, want 12"
root_answers "12 read-only connections of 3 uids holding the pool"
out=$(as 60003:nogroup "$BIN/ringrelayctl" -s "$SOCK" status 2>&1) &&
	lib_case_fail "a 4th uid was served with the pool full" ||
	{ echo "$out" | grep -q "busy: every control connection slot is taken" &&
		lib_case_ok "a 4th uid with the pool full: $out" ||
		lib_case_fail "a 4th uid with the pool full: $out"; }
lib_stop_pid "$idle"
lib_stop_pid "$idle2"
lib_stop_pid "$idle3"

hold nobody 40 http
loris=$BG_PID
http_held_ge() { [ "$(ip netns exec "$NS_R" ss -Htn state established '( sport = :9470 )' |
	wc -l)" -ge "$1" ]; }
lib_wait_for 5 http_held_ge 16 || lib_case_fail "the slowloris never held the 16 HTTP slots"
root_answers "HTTP slowloris of 40 connections"
scrape() { lib_nsx "$NS_R" "$PY" -c '
import urllib.request
print(urllib.request.urlopen("http://127.0.0.1:9470/metrics", timeout=5).status)' 2>&1; }
out=$(scrape)
[ "$out" = 200 ] && lib_case_ok "a scrape during the slowloris: 200" ||
	lib_case_fail "a scrape during the slowloris: $out"
lib_stop_pid "$loris"

# ---- 5. /metrics clients the pool must outlast (http_client.py)
HC=$SRC/tests/net/http_client.py
EP=127.0.0.1:9470
# hc_result FILE LABEL: the client's last word must be "complete".
hc_result()
{
	local got
	got=$(tail -n 1 "$1")
	[ "$got" = complete ] && lib_case_ok "$2: the whole answer" ||
		lib_case_fail "$2: $got"
}
# 5a. The control thread busy for 5 s (`sessions` waits that long for a stopped worker):
# scraper A, accepted before, sends its request meanwhile (it was closed at its 2 s deadline
# without being read); scraper B connects and sends meanwhile, behind it 40 connections that
# send nothing (once the pool was full each pushed out the oldest unread connection: A and B).
lib_worker_stop 0 15 "$TMPD/stop_w0" || lib_case_fail "worker 0 was not stopped"
lib_bg "$NS_R" "$PY" "$HC" scrape "$EP" --send-when "$TMPD/a_go" >"$TMPD/late_a"
late_a=$BG_PID
lib_wait_for 5 grep -q connected "$TMPD/late_a" || lib_case_fail "scraper A did not connect"
http_conns() { lib_nsx "$NS_R" ss -Htn state established '( sport = :9470 )' | wc -l; }
lib_wait_for 5 test "$(http_conns)" -ge 1
sleep 0.2 # (accepted: the daemon's end is established at once, the accept comes after)
lib_bg "$NS_R" "$BIN/ringrelayctl" -s "$SOCK" sessions >/dev/null 2>&1
busy=$BG_PID
# The control thread waits for worker 0 (a futex): A sends now.
ctl_tid=$(grep -lx ringrelay-ctl /proc/"$RELAY_PID"/task/*/comm | head -n 1 | cut -d/ -f5)
ctl_waits() { grep -q futex /proc/"$RELAY_PID"/task/"$ctl_tid"/wchan; }
lib_wait_for 5 ctl_waits || lib_case_fail "the control thread never waited for the worker"
: >"$TMPD/a_go"
sleep 0.3
lib_bg "$NS_R" "$PY" "$HC" scrape "$EP" >"$TMPD/late_b"
late_b=$BG_PID
lib_wait_for 5 grep -q connected "$TMPD/late_b" || lib_case_fail "scraper B did not connect"
lib_bg "$NS_R" "$PY" "$HC" flood "$EP" 40 10 >"$TMPD/flood"
flood=$BG_PID
lib_wait_gone "$late_a" 25
lib_wait_gone "$late_b" 5
hc_result "$TMPD/late_a" "a request that came whole while the control thread was busy"
hc_result "$TMPD/late_b" "a scraper ahead of 40 empty connections, all accepted at once"
lib_stop_pid "$flood"
lib_stop_pid "$busy"
lib_stop_pid "$STOP_PID"
# 5a'. The same busy thread, 24 scrapers that connect in order and send at once: when it
# accepts them in one batch, the first 16 fill the pool and are answered, the 8 after find
# every slot sending an answer that moves and get a whole 503 (no answer taken for stalled: an
# answer begun after the batch's clock reading looked stalled and its client was cut off).
lib_worker_stop 0 15 "$TMPD/stop_w0b" || lib_case_fail "worker 0 was not stopped again"
rm -f "$TMPD/many_go"
lib_bg "$NS_R" "$PY" "$HC" many "$EP" 24 --send-when "$TMPD/many_go" >"$TMPD/many"
many=$BG_PID
lib_bg "$NS_R" "$BIN/ringrelayctl" -s "$SOCK" sessions >/dev/null 2>&1
busy=$BG_PID
lib_wait_for 5 ctl_waits || lib_case_fail "the control thread never waited for the worker"
: >"$TMPD/many_go"
lib_wait_gone "$many" 25
got=$(cat "$TMPD/many")
[ "$got" = CCCCCCCCCCCCCCCCUUUUUUUU ] &&
	lib_case_ok "24 scrapers accepted at once: the first 16 answered whole, the rest 503 ($got)" ||
	lib_case_fail "24 scrapers accepted at once: '$got', want 16 C (whole answers), 8 U (503)"
lib_stop_pid "$busy"
lib_stop_pid "$STOP_PID"
# 5b. A client that sends 100 more bytes after its request and reads slowly through a small
# receive buffer: closing with those bytes unread reset the connection and cut the answer.
lib_bg "$NS_R" "$PY" "$HC" scrape "$EP" --junk --rcvbuf 4096 --read-after 0.5 >"$TMPD/junk"
lib_wait_gone "$BG_PID" 20
hc_result "$TMPD/junk" "bytes after the request, read slowly"
# 5c. 20 clients that send a request and never read, with answers larger than what the
# kernel buffers (the namespace's TCP send buffers cut to 4 KiB): a scrape 1.5 s later is
# answered (every slot was sending an answer, so it was closed at once).
wmem=$(lib_nsx "$NS_R" sysctl -n net.ipv4.tcp_wmem)
lib_nsx "$NS_R" sysctl -qw net.ipv4.tcp_wmem="4096 4096 4096"
lib_bg "$NS_R" "$PY" "$HC" stall "$EP" 20 8 --rcvbuf 2048 >"$TMPD/stall"
stall=$BG_PID
lib_wait_for 5 grep -q "^sent" "$TMPD/stall" || lib_case_fail "the stalling clients never sent"
stalled() { [ "$(lib_nsx "$NS_R" ss -Htn state established '( sport = :9470 )' |
	awk '$2 > 0' | wc -l)" -ge 16 ]; }
lib_wait_for 5 stalled || lib_case_fail "no 16 answers stalled: $(cat "$TMPD/stall")"
sleep 1.5
lib_bg "$NS_R" "$PY" "$HC" scrape "$EP" >"$TMPD/past_stall"
lib_wait_gone "$BG_PID" 20
hc_result "$TMPD/past_stall" "a scrape while 20 clients do not read theirs ($(cat "$TMPD/stall"))"
lib_stop_pid "$stall"
lib_nsx "$NS_R" sysctl -qw net.ipv4.tcp_wmem="$wmem"
# 5d. Out of descriptors: the control thread rests instead of spinning on a listener that
# stays readable, says so once, and answers the waiting client when descriptors are back.
ctl_tid=$(grep -lx ringrelay-ctl /proc/"$RELAY_PID"/task/*/comm | head -n 1 | cut -d/ -f5)
ticks() { awk '{print $14 + $15}' /proc/"$RELAY_PID"/task/"$ctl_tid"/stat; }
# The limit bounds descriptor numbers: set it to the lowest free one. (The soft limit only:
# raising a hard limit again needs CAP_SYS_RESOURCE, which a container may not give.)
read -r soft hard < <(awk '/Max open files/ {print $4, $5}' /proc/"$RELAY_PID"/limits)
free_fd=$(ls /proc/"$RELAY_PID"/fd | sort -n | awk '$1 != NR - 1 {print NR - 1; f = 1; exit}
	END {if (!f) print NR}')
prlimit --pid "$RELAY_PID" --nofile="$free_fd:$hard"
lib_bg "$NS_R" "$BIN/ringrelayctl" -s "$SOCK" status >"$TMPD/emfile_status" 2>&1
waiting=$BG_PID
sleep 0.3
t0=$(ticks)
sleep 1
spent=$(( $(ticks) - t0 ))
prlimit --pid "$RELAY_PID" --nofile="$soft:$hard"
lib_wait_gone "$waiting" 10
wait "$waiting"
rc=$?
if [ "$spent" -le 10 ] && [ $rc -eq 0 ] &&
	lib_log_count_ge "cannot accept on the control socket: Too many open files" 1; then
	lib_case_ok "out of descriptors: $spent ticks in 1 s, one warning, answered once back"
else
	lib_case_fail "out of descriptors: $spent ticks in 1 s (a spin is ~100), status exit $rc," \
		"$(lib_log_count "cannot accept on the control socket") warnings"
fi
# 5e. A stop while an answer waits for a client that reads it slowly after 0.3 s (the TCP
# send buffers cut to 4 KiB again): the answer is finished (it was cut after what the socket
# took at once, and the client could not tell).
lib_nsx "$NS_R" sysctl -qw net.ipv4.tcp_wmem="4096 4096 4096"
lib_bg "$NS_R" "$PY" "$HC" scrape "$EP" --rcvbuf 2048 --read-after 0.3 --slow >"$TMPD/at_stop"
at_stop=$BG_PID
lib_wait_for 5 grep -q connected "$TMPD/at_stop" || lib_case_fail "the last scraper did not connect"
# its answer waits in the daemon's send queue: stop now
queued() { lib_nsx "$NS_R" ss -Htn state established '( sport = :9470 )' | awk '$2 > 0' |
	grep -q .; }
lib_wait_for 5 queued || lib_case_fail "the last scraper's answer was never queued"
lib_relay_stop || lib_case_fail "relay exit status $? after SIGTERM"
lib_wait_gone "$at_stop" 20
lib_nsx "$NS_R" sysctl -qw net.ipv4.tcp_wmem="$wmem"
hc_result "$TMPD/at_stop" "an answer on its way when the daemon stops"

# ---- 4. an existing directory is never changed; a symlink is no socket
mkdir -m 755 "$TMPD/exist"
write_conf "$TMPD/exist.conf" "$TMPD/exist/ctl.sock" 'user = "nobody";'
out=$(timeout 10 ip netns exec "$NS_R" "$RINGRELAY" -f -c "$TMPD/exist.conf" 2>&1)
rc=$?
got=$(stat -c '%a %U %G' "$TMPD/exist")
if [ $rc -eq 1 ] && [ "$got" = "755 root root" ] &&
	echo "$out" | grep -q "user 'nobody' may not write there, and the daemon changes no"; then
	lib_case_ok "an existing root directory is refused for nobody and left $got"
else
	lib_case_fail "existing directory: exit $rc, now '$got': $(echo "$out" | tail -n 2)"
fi
echo secret >"$TMPD/victim"
chmod 600 "$TMPD/victim"
mkdir -m 755 "$TMPD/link"
ln -s "$TMPD/victim" "$TMPD/link/ctl.sock"
write_conf "$TMPD/link.conf" "$TMPD/link/ctl.sock"
out=$(timeout 10 ip netns exec "$NS_R" "$RINGRELAY" -f -c "$TMPD/link.conf" 2>&1)
rc=$?
got=$(stat -c '%a %U %G' "$TMPD/victim")
if [ $rc -eq 1 ] && [ "$got" = "600 root root" ] &&
	echo "$out" | grep -q "exists and is not a socket"; then
	lib_case_ok "a symlink at the socket's path: refused, its target left $got"
else
	lib_case_fail "symlink: exit $rc, target '$got': $(echo "$out" | tail -n 2)"
fi

# ---- 6. a start that is not root: the directory it makes gets the read-only group too
# (nobody, primary group users, nogroup supplementary: mkdir gives it users)
mkdir -m 777 "$TMPD/nr"
write_conf "$TMPD/nr.conf" "$TMPD/nr/ctl/ctl.sock"
lib_bg "$NS_R" setpriv --reuid=nobody --regid=users --groups=nogroup \
	"$BIN/ringrelay" -f -c "$TMPD/nr.conf" >"$TMPD/nr.log" 2>&1
nonroot=$BG_PID
nr_up() { as 60005:nogroup "$BIN/ringrelayctl" -s "$TMPD/nr/ctl/ctl.sock" status >/dev/null 2>&1; }
nr_owner() { as nobody:users "$BIN/ringrelayctl" -s "$TMPD/nr/ctl/ctl.sock" status >/dev/null 2>&1; }
lib_wait_for 10 nr_owner
got="$(stat -c '%a %U %G' "$TMPD/nr/ctl" 2>&1), $(stat -c '%a %U %G' "$TMPD/nr/ctl/ctl.sock" 2>&1)"
if [ "$got" = "750 nobody nogroup, 660 nobody nogroup" ] && nr_up; then
	lib_case_ok "not root: directory and socket $got, a member of the group is answered"
else
	lib_case_fail "not root: $got, want 750/660 nobody nogroup: $(tail -n 3 "$TMPD/nr.log")"
fi
# No thread for a reload's load (RLIMIT_NPROC of 1 for the daemon, which is not root): the
# reload fails and is counted as failed (it was answered, but status kept no trace of it).
# prlimit runs as the daemon's user and group: a container may not give root CAP_SYS_RESOURCE.
read -r soft hard < <(awk '/Max processes/ {print $3, $4}' /proc/"$nonroot"/limits)
as nobody:users prlimit --pid "$nonroot" --nproc="1:$hard"
out=$(as nobody:users "$BIN/ringrelayctl" -s "$TMPD/nr/ctl/ctl.sock" reload 2>&1)
as nobody:users prlimit --pid "$nonroot" --nproc="$soft:$hard"
failed=$(as nobody:users "$BIN/ringrelayctl" -s "$TMPD/nr/ctl/ctl.sock" -j status |
	"$PY" -c 'import json,sys; r = json.load(sys.stdin)["reloads"]
print(r["failure"], r["last_result"], r["last_error"])')
if echo "$out" | grep -q "no thread to read the configuration" &&
	[ "${failed%% *}" = 1 ] && echo "$failed" | grep -q "^1 failure no thread"; then
	lib_case_ok "a reload with no thread for its load: $out; status: $failed"
else
	lib_case_fail "a reload with no thread for its load: '$out'; status: $failed"
fi
lib_stop_pid "$nonroot"
lib_done
