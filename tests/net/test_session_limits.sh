#!/bin/bash
# SPDX-License-Identifier: MIT
# max_sessions_per_source and session_full = "evict", per backend and family, with one worker
# (so a worker's share of the per-source limit is the whole limit):
#  - per source: max_sessions = 8 leaves the default of 2 sessions per client address; a
#    third port of the same address is dropped and counted (drop_source_session_limit), not
#    as session_table_full, and another address still gets sessions;
#  - evict: max_sessions = 4 (no per-source limit), all four sessions idle for 1 s, one of
#    them used again: each of two new clients ends one least recently used session
#    (sessions_evicted, and `ringrelayctl sessions` no longer lists it), however many
#    datagrams its burst has, and is served; while every session has had a datagram within
#    the last second, a new client is dropped instead;
#  - reuse: slots of ended sessions taken by new ones in the same round of completions
#    (reuse_case).
# (evict and reuse once per backend: see run_case)
. "$(dirname "$0")/lib.sh"
lib_topology

CTL=${RINGRELAYCTL:-$BUILD/ringrelayctl}
[ -x "$CTL" ] || lib_fail "ringrelayctl not found at $CTL (make build/ringrelayctl)"
# A second client address in the client namespace.
lib_nsx "$NS_C" ip addr add 198.18.1.9/24 dev "$IF_C"
lib_nsx "$NS_C" ip -6 addr add 2001:2:0:1::9/64 dev "$IF_C" nodad

ctl() { "$CTL" -s "$TMPD/run/ctl.sock" "$@"; }
# from ARGS...: udp.py client datagrams of 64 bytes from CLIENT_IP (explicitly: with two
# addresses on the link IPv6 would pick either) to the relay.
from() { lib_udp "$NS_C" client --to "$to" --bind "$CLIENT_IP" --size 64 "$@"; }

# sessions_idle_over MS: every session listed has been idle for more than MS ms.
sessions_idle_over()
{
	ctl -j sessions | "$PY" -c '
import json, sys
j = json.load(sys.stdin)
idle = [s["idle_seconds"] * 1000 for s in j["sessions"]]
sys.exit(0 if idle and min(idle) > int(sys.argv[1]) else 1)' "$1"
}

# session_ports: the client ports of the listed sessions, sorted, space-separated.
session_ports()
{
	ctl -j sessions | "$PY" -c '
import json, sys
print(" ".join(sorted(s["client"].rsplit(":", 1)[1] for s in json.load(sys.stdin)["sessions"])))'
}

per_source_case()
{
	local backend=$1 fam=$2 other line v
	lib_case_begin limits "$backend" "$fam"
	other=198.18.1.9
	[ "$fam" = 6 ] && other=2001:2:0:1::9
	lib_case_echo
	lib_case_start workers=1 max=8 || return

	out=$(from --clients 2 --port-base 51000 --count 2 --expect-echo) ||
		lib_case_fail "$c two ports of one address: $out"
	out=$(from --clients 1 --port-base 51002 --count 2 --expect-none --quiet 0.3) ||
		lib_case_fail "$c a third port of the same address got a reply: $out"
	out=$(lib_udp "$NS_C" client --to "$to" --bind "$other" --clients 2 --port-base 51000 \
		--count 2 --size 64 --expect-echo) ||
		lib_case_fail "$c another address was refused: $out"
	if line=$(lib_stats t); then
		v=$(lib_field drop_source_session_limit "$line")
		[ "$v" = 2 ] || lib_case_fail "$c drop_source_session_limit=$v, want 2"
		lib_expect_fields "$c" "$line" 0 drop_session_table_full sessions_evicted
		lib_expect_fields "$c" "$line" 4 sessions_active sessions_created
		lib_case_ok "$c per source: $(echo "$line" | grep -o 'drop_source[^ ]*')"
	else
		lib_case_fail "$c no stats line"
	fi
	lib_case_end
}

evict_case()
{
	local backend=$1 fam=$2 line t0 ms ports ev0 p
	lib_case_begin evict "$backend" "$fam"
	lib_case_echo
	lib_case_start workers=1 max=4 per_source=4 full=evict || return

	# While all four are fresh, a fifth client is dropped: nobody has been idle for 1 s.
	t0=$(date +%s%N)
	out=$(from --clients 4 --port-base 52000 --count 1 --expect-echo) ||
		lib_case_fail "$c four clients: $out"
	from --clients 1 --port-base 52009 --count 1 --expect-none --quiet 0.1 >/dev/null
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	line=$(lib_stats t)
	if [ "$ms" -lt 900 ]; then
		lib_expect_fields "$c" "$line" 1 drop_session_table_full
		lib_expect_fields "$c" "$line" 0 sessions_evicted
		lib_case_ok "$c table full of sessions busy within 1 s: new client dropped"
	else
		lib_log "$c note: the busy-table check took $ms ms (>= 900): not judged"
	fi

	# All idle for over a second; 52000 and 52003 talk again, so 52001 and 52002 are the
	# least recently used. (Which of those two is older depends on the order their echoes'
	# completions ran: before Linux 6.5 io_uring ran deferred ones newest first, so 52003's
	# echo came first and 52003 was the oldest when only 52000 talked again.)
	lib_wait_for 5 sessions_idle_over 1100 || lib_case_fail "$c sessions never idle for 1.1 s"
	for p in 52000 52003; do
		out=$(from --clients 1 --port-base $p --count 1 --expect-echo) ||
			lib_case_fail "$c client $p again: $out"
	done
	# The first datagram of each new client ends one session (52001, then 52002); with
	# io_uring its slot frees when the ring has emptied its file slot, so the client may need
	# its next datagram. Two new clients' bursts of three, interleaved and queued while the
	# relay is stopped, end two sessions, not one per datagram (with io_uring each found the
	# table still full and evicted again).
	# The two new clients' evictions count from here: where the check above was not judged
	# (a slow machine), the fifth client may have found the four idle for 1 s and evicted one.
	ev0=$(lib_field sessions_evicted "$(lib_stats t)")
	lib_pause "$RELAY_PID" || lib_case_fail "$c the relay did not stop"
	from --clients 2 --port-base 52004 --count 3 --expect-none --quiet 0.1 >/dev/null
	lib_resume "$RELAY_PID"
	lib_wait_stat sessions_evicted -ge $((ev0 + 2)) 5 && sleep 0.2
	lib_wait_stat sessions_evicted -eq $((ev0 + 2)) 1 ||
		lib_case_fail "$c sessions_evicted=$LAST_STAT after two new clients, want $((ev0 + 2))"
	out=$(from --clients 2 --port-base 52004 --count 2 --expect-echo) ||
		lib_case_fail "$c the new clients are not served: $out"
	ports=$(session_ports)
	if [ "$ports" = "52000 52003 52004 52005" ]; then
		lib_case_ok "$c 52001 and 52002 (least recently used) evicted; sessions: $ports"
	else
		lib_case_fail "$c sessions after the evictions: '$ports', want 52000 52003 52004 52005"
	fi
	line=$(lib_stats t)
	lib_expect_fields "$c" "$line" $((ev0 + 2)) sessions_evicted
	lib_expect_fields "$c" "$line" 4 sessions_active
	lib_case_end
}

rearms()
{
	ctl -j status | "$PY" -c 'import json, sys; print(sum(w["rearms"] for w in json.load(sys.stdin)["workers"]))'
}

# reuse_case: slots of ended sessions taken by new ones within one round of completions.
# REUSE sessions (max_sessions = REUSE, evict) idle for over a second; with the relay stopped,
# REUSE new clients send to its two listeners in turn while the upstream sends every old
# session an empty reply. On resume one round of completions ends old sessions (eviction),
# takes their last completions and opens new sessions in their slots. Then every new client
# must be served, and the workers must not re-arm receives in a loop: a new session whose
# socket the old one's slot-emptying (still queued) removed failed every receive and send
# (the build before: 100 % CPU, tens of thousands of re-arms a second, clients unserved).
REUSE=40
reuse_case()
{
	local backend=$1 fam=$2 conf out before after
	lib_family "$fam"
	c="[reuse/$backend/ipv$fam]"
	conf=$TMPD/reuse.conf
	to=$(ep "$RELAY_IP" 5003)
	lib_relay_conf "$conf" backend="$backend" workers=1 listen="$to" \
		listen="$(ep "$RELAY_IP" 5004)" up="$(ep "$UP1_IP" 9003)" max=$REUSE \
		per_source=$REUSE full=evict
	lib_relay_start "$conf" || { lib_case_fail "$c relay did not start"; return; }
	before=$(rearms) || { lib_case_fail "$c ringrelayctl status failed"; return; }
	# The upstream's socket in NS_U, the clients' in NS_C (setns in between).
	if out=$(lib_nsx "$NS_U" "$PY" - "$to" "$(ep "$RELAY_IP" 5004)" "$(ep "$UP1_IP" 9003)" \
		"$RELAY_PID" "$NS_C" "$REUSE" <<'EOF'
import ctypes, os, signal, socket, sys, time
to1, to2, up_ep, relay, ns_c, n = sys.argv[1:7]
relay, n = int(relay), int(n)
def parse(ep):
    host, port = ep.rsplit(":", 1)
    return host.strip("[]"), int(port)
fam = socket.AF_INET6 if ":" in parse(to1)[0] else socket.AF_INET
up = socket.socket(fam, socket.SOCK_DGRAM)
up.bind(parse(up_ep))
libc = ctypes.CDLL(None, use_errno=True)
if libc.setns(os.open("/run/netns/" + ns_c, os.O_RDONLY), 0x40000000) != 0:
    raise OSError(ctypes.get_errno(), "setns " + ns_c)
def echo(seconds):
    end = time.time() + seconds
    up.settimeout(0.05)
    while time.time() < end:
        try:
            d, a = up.recvfrom(64)
            if d:
                up.sendto(d, a)
        except socket.timeout:
            pass
old = [socket.socket(fam, socket.SOCK_DGRAM) for _ in range(n)]
for s in old:
    s.connect(parse(to1))
    s.send(b"a")
up.settimeout(5)
sessions = [up.recvfrom(64)[1] for _ in range(n)]
time.sleep(1.2)  # idle for over a second: evictable
new = [socket.socket(fam, socket.SOCK_DGRAM) for _ in range(n)]
os.kill(relay, signal.SIGSTOP)
try:
    for i, s in enumerate(new):
        s.connect(parse(to2 if i % 2 else to1))
        s.send(b"x")  # may be dropped: the table frees a slot a round later
        up.sendto(b"", sessions[i])
finally:
    os.kill(relay, signal.SIGCONT)
echo(1.3)  # the old sessions' replies touched them: idle again past 1 s after this
served, rounds = set(), []
for s in new:
    s.setblocking(False)
def take():
    for i, s in enumerate(new):
        try:
            while True:
                if s.recv(16) == b"y":
                    served.add(i)
        except BlockingIOError:
            pass
    rounds.append(len(served))
# Rounds until all are served. A datagram that makes room by eviction may itself be dropped,
# and with io_uring the slot frees a ring round later for whichever datagram without a
# session comes first: often another new client's, later in the same burst, which leaves
# the evicting one to evict again next round (it lost three rounds in a row at times). Each
# round serves more, but only rounds begun within 0.9 s of the first count: a served
# session cannot be evicted before it has been idle for 1 s, so a slot lost for good (neither
# free nor a session) is not made up for by taking a served client's.
first = time.time()
while len(served) < n and (not rounds or time.time() - first < 0.9):
    for i, s in enumerate(new):
        if i not in served:
            s.send(b"y")
    echo(0.1)
    take()
if len(served) < n:  # replies late on a loaded machine (nothing sent)
    echo(0.4)
    take()
print(len(served), ",".join(map(str, rounds)))
if len(served) != n:  # (for the failure's diagnostics)
    print("served after each round:", rounds, "unserved:",
          [new[i].getsockname()[1] for i in range(n) if i not in served], file=sys.stderr)
sys.exit(0 if len(served) == n else 1)
EOF
	); then
		lib_case_ok "$c $REUSE new clients in slots of ended sessions served (after each round: ${out#* })"
	else
		[ -n "$out" ] || out=?
		lib_case_fail "$c ${out%% *} of $REUSE new clients served after taking ended sessions' slots"
		ctl stats >&2 || true
		ctl sessions >&2 || true
		lib_nsx "$NS_R" nstat -a 2>&1 | grep -E "Udp" >&2
		lib_nsx "$NS_U" nstat -a 2>&1 | grep -E "Udp" >&2
		lib_nsx "$NS_C" nstat -a 2>&1 | grep -E "Udp" >&2
	fi
	after=$(rearms)
	if [ $((after - before)) -gt $((10 * REUSE)) ]; then
		lib_case_fail "$c $((after - before)) re-arms in 3 s (a receive failing in a loop)"
	else
		lib_case_ok "$c $((after - before)) re-arms in 3 s"
	fi
	lib_relay_stop || lib_case_fail "$c relay exit status $? after SIGTERM, want 0"
}

# Eviction and slot reuse once per backend, io_uring in IPv4 and mmsg in IPv6: the session
# table's LRU order and slots know no family (the per-source limit keys on the address: both).
run_case()
{
	per_source_case "$@"
	case $1/$2 in
	io_uring/4 | mmsg/6)
		evict_case "$@"
		reuse_case "$@"
		;;
	esac
}

lib_each_case run_case
