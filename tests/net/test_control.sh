#!/bin/bash
# SPDX-License-Identifier: MIT
# Control socket, ringrelayctl and /metrics against the real daemon in NS_R, with two relays
# (t4 over IPv4, t6 over IPv6) and two workers: after known traffic (3 clients x 5 datagrams
# per family) the tables and the -j JSON (python3 -m json.tool) must show it, sessions must
# list the clients, /metrics must pass `promtool check metrics` or tests/tools/promlint.py
# (lint warnings fail too) and
# agree with the traffic; a client that never sends must not block the control thread; a
# second daemon on the same socket must refuse to start, at once also when the first one's
# control thread is stopped with its backlog full; reload must succeed with a good
# config and exit 1 with FILE:LINE with a bad one; ringrelayctl must say clearly when the
# daemon is not running.
. "$(dirname "$0")/lib.sh"
lib_topology

CTL=${RINGRELAYCTL:-$BUILD/ringrelayctl}
[ -x "$CTL" ] || lib_fail "ringrelayctl not found at $CTL (make build/ringrelayctl)"
# promtool when the prometheus package is there, else its lint rules on python3-prometheus-
# client's parser (tests/tools/promlint.py; scripts/deps.sh check installs that, not prometheus).
if command -v promtool >/dev/null; then
	check_metrics() { promtool check metrics; }
elif "$SRC/tests/tools/promlint.py" </dev/null >/dev/null 2>&1; then
	check_metrics() { "$SRC/tests/tools/promlint.py"; }
else
	lib_skip "neither promtool nor python3-prometheus-client (scripts/deps.sh check)"
fi

# The socket's directory does not exist yet: the daemon must create it.
SOCK=$TMPD/run/ctl.sock
CONF=$TMPD/control.conf
METRICS_URL=http://127.0.0.1:9470/metrics
# The sessions must outlive the checks that count them: 30 s, stretched like the waits (on an
# emulated CPU the metrics were read more than 30 s after the traffic, and found 0 sessions).
SESSION_TIMEOUT=$((30 * WAIT_SCALE)).0
# The control plane does not depend on the backend: the first one of the run is enough.
BACKEND=$(lib_backends | awk '{print $1}')

# write_conf FILE TIMEOUT [EXTRA_LINE]: two relays, control socket and metrics.
write_conf()
{
	cat >"$1" <<EOF
# written by $LIB_NAME
workers = 2;
io_backend = "$BACKEND";
buffer_size = 2048;
buffers = 1024;
control_socket = "$SOCK";
metrics = { listen = "127.0.0.1:9470"; };
relays = (
	{
		name = "t4";
		listen = [ "198.18.1.2:5000" ];
		upstreams = [ "198.18.2.2:9000" ];
		session_timeout = $2;
	},
	{
		name = "t6";
		listen = [ "[2001:2:0:1::2]:5000" ];
		upstreams = [ "[2001:2:0:2::2]:9000" ];
		session_timeout = $2;
	}
);
$3
EOF
}

ctl() { "$CTL" -s "$SOCK" "$@"; }
ctl_up() { ctl status >/dev/null 2>&1; }

# json_get FILE EXPR: evaluate a python expression over the parsed JSON `j`.
json_get()
{
	"$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# check_json NAME ARGS...: ringrelayctl -j ARGS is valid JSON; leaves it in $TMPD/NAME.json.
check_json()
{
	local name=$1
	shift
	if ! ctl -j "$@" >"$TMPD/$name.json" 2>"$TMPD/$name.err"; then
		lib_case_fail "ringrelayctl -j $*: exit $?: $(cat "$TMPD/$name.err")"
		return 1
	fi
	if ! "$PY" -m json.tool "$TMPD/$name.json" >/dev/null 2>"$TMPD/$name.err"; then
		lib_case_fail "ringrelayctl -j $* is not JSON: $(cat "$TMPD/$name.err")"
		head -c 2000 "$TMPD/$name.json" >&2
		return 1
	fi
	return 0
}

# expect NAME GOT WANT
expect()
{
	if [ "$2" = "$3" ]; then
		lib_case_ok "$1 = $2"
	else
		lib_case_fail "$1 = '$2', want '$3'"
	fi
}

fetch_metrics()
{
	lib_nsx "$NS_R" "$PY" - "$METRICS_URL" "$1" <<'EOF'
import sys, urllib.request, urllib.error
url, path = sys.argv[1], sys.argv[2]
try:
    r = urllib.request.urlopen(url + path if path else url, timeout=5)
    code, ctype, body = r.status, r.headers.get("Content-Type", ""), r.read()
except urllib.error.HTTPError as e:
    code, ctype, body = e.code, e.headers.get("Content-Type", ""), e.read()
sys.stderr.write("%d %s\n" % (code, ctype))
sys.stdout.buffer.write(body)
EOF
}

# metric_sum FILE NAME LABEL_SUBSTRING: sum of the samples of NAME whose labels contain it.
metric_sum()
{
	awk -v n="$2" -v m="$3" 'index($0, n "{") == 1 && index($0, m) { s += $NF }
		END { print s + 0 }' "$1"
}

write_conf "$CONF" "$SESSION_TIMEOUT"
lib_udp_bg "$NS_U" "$TMPD/echo4.json" echo --bind 198.18.2.2:9000
lib_udp_bg "$NS_U" "$TMPD/echo6.json" echo --bind "[2001:2:0:2::2]:9000"
lib_relay_start "$CONF" || lib_fail "relay did not start"
lib_wait_for 10 ctl_up || lib_fail "no answer on the control socket $SOCK"

# ---- the socket itself
mode=$(stat -c %a "$SOCK")
expect "control socket mode" "$mode" 660
expect "socket directory mode" "$(stat -c %a "$TMPD/run")" 750

# ---- known traffic: 3 clients x 5 datagrams of 100 bytes per family
for fam in 4 6; do
	lib_family $fam
	if out=$(lib_udp "$NS_C" client --to "$(ep "$RELAY_IP" 5000)" --clients 3 --count 5 \
		--size 100 --port-base 41000 --expect-echo); then
		lib_case_ok "ipv$fam traffic echoed"
	else
		lib_case_fail "ipv$fam traffic through the relay: $out"
	fi
done

# ---- status
if out=$(ctl status); then
	for want in "pid *$RELAY_PID" "config *$CONF" "t4 *forward *rr *198.18.1.2:5000 *198.18.2.2:9000" \
		"t6 *forward *rr *\[2001:2:0:1::2\]:5000" "WORKER *CPU *HEARTBEAT_AGE" "filter *off"; do
		echo "$out" | grep -q "$want" || lib_case_fail "status table lacks /$want/"
	done
	lib_case_ok "status table"
else
	lib_case_fail "ringrelayctl status: exit $?"
fi
# Every worker's loop has turned: the flows (hashed to workers) may all have gone to one
# worker, and an idle one turns on its 1 s tick, so this may take a second after the start.
loops_turned()
{
	ctl -j status >"$TMPD/loops.json" 2>/dev/null &&
		[ "$(json_get "$TMPD/loops.json" 'all(w["loops"] > 0 for w in j["workers"])')" = True ]
}
lib_wait_for 3 loops_turned || lib_case_fail "a worker's loop has not turned 3 s after the traffic"
if check_json status status; then
	expect "status.pid" "$(json_get "$TMPD/status.json" 'j["pid"]')" "$RELAY_PID"
	expect "status.workers" "$(json_get "$TMPD/status.json" 'len(j["workers"])')" 2
	# the loops turned; with io_uring a completion for each of the 60 datagrams received (15
	# each way, two relays) at least, with mmsg a ready socket for some
	expect "status.workers loops and completions" "$(json_get "$TMPD/status.json" \
		'all(w["loops"] > 0 for w in j["workers"]) and sum(w["completions"] for w in j["workers"]) >= (60 if j["backend"] == "io_uring" else 1)')" True
	expect "status.relays" \
		"$(json_get "$TMPD/status.json" '",".join(r["name"] for r in j["relays"])')" "t4,t6"
	expect "status.t6.listen" "$(json_get "$TMPD/status.json" 'j["relays"][1]["listen"][0]')" \
		"[2001:2:0:1::2]:5000"
	expect "status.filter" "$(json_get "$TMPD/status.json" 'j["filter"]["mode"]')" off
	expect "status.reloads" "$(json_get "$TMPD/status.json" 'j["reloads"]["last_result"]')" none
fi

# ---- stats
if out=$(ctl stats); then
	echo "$out" | grep -Eq '^t4 +all +15 +1500 +15 +1500 +15 +1500 +15 +1500 +3 +3 +0 +0 +0$' ||
		lib_case_fail "stats table: no 't4 all 15 1500 ...' row in:"$'\n'"$out"
	echo "$out" | grep -q 'TRUNCATED' || lib_case_fail "stats table lacks the drops table"
	lib_case_ok "stats table"
else
	lib_case_fail "ringrelayctl stats: exit $?"
fi
if check_json stats stats; then
	for i in 0 1; do
		r="j[\"relays\"][$i]"
		expect "stats.relays[$i].rx_pkts" "$(json_get "$TMPD/stats.json" "$r[\"total\"][\"rx_pkts\"]")" 15
		expect "stats.relays[$i].reply_tx_bytes" \
			"$(json_get "$TMPD/stats.json" "$r[\"total\"][\"reply_tx_bytes\"]")" 1500
		expect "stats.relays[$i] worker sum" \
			"$(json_get "$TMPD/stats.json" "sum(w[\"rx_pkts\"] for w in $r[\"workers\"])")" 15
		expect "stats.relays[$i].sessions_active" \
			"$(json_get "$TMPD/stats.json" "$r[\"total\"][\"sessions_active\"]")" 3
	done
	expect "stats.filter" "$(json_get "$TMPD/stats.json" 'j["filter"]')" None
fi

# ---- sessions
if out=$(ctl sessions); then
	echo "$out" | grep -q '^6 sessions$' || lib_case_fail "sessions table: no '6 sessions' line"
	row='^t6 +\[2001:2:0:1::1\]:4100[0-2] +\[2001:2:0:1::2\]:5000 +\[2001:2:0:2::2\]:9000 '
	echo "$out" | grep -Eq "$row" ||
		lib_case_fail "sessions table lacks a t6 client row:"$'\n'"$out"
	lib_case_ok "sessions table"
else
	lib_case_fail "ringrelayctl sessions: exit $?"
fi
if check_json sessions sessions t4; then
	expect "sessions t4 total" "$(json_get "$TMPD/sessions.json" 'j["total"]')" 3
	expect "sessions t4 clients" \
		"$(json_get "$TMPD/sessions.json" '" ".join(sorted(s["client"] for s in j["sessions"]))')" \
		"198.18.1.1:41000 198.18.1.1:41001 198.18.1.1:41002"
	expect "sessions t4 upstream" \
		"$(json_get "$TMPD/sessions.json" '{s["upstream"] for s in j["sessions"]}')" \
		"{'198.18.2.2:9000'}"
fi
if ctl sessions nosuchrelay >/dev/null 2>"$TMPD/err"; then
	lib_case_fail "sessions of an unknown relay exited 0"
else
	grep -q "no relay named 'nosuchrelay'" "$TMPD/err" && lib_case_ok "unknown relay refused" ||
		lib_case_fail "unknown relay message: $(cat "$TMPD/err")"
fi

# ---- filter (off in this config)
out=$(ctl filter) && [ "$out" = "filter: off" ] && lib_case_ok "filter table (off)" ||
	lib_case_fail "ringrelayctl filter: '$out'"
check_json filter filter &&
	expect "filter.mode" "$(json_get "$TMPD/filter.json" 'j["mode"]')" off

# ---- /metrics
if fetch_metrics "" >"$TMPD/metrics.txt" 2>"$TMPD/metrics.hdr"; then
	grep -q '^200 text/plain; version=0.0.4' "$TMPD/metrics.hdr" ||
		lib_case_fail "metrics status/type: $(cat "$TMPD/metrics.hdr")"
	if check_metrics <"$TMPD/metrics.txt" >"$TMPD/promtool.out" 2>&1; then
		lib_case_ok "promtool check metrics"
	else
		lib_case_fail "promtool check metrics: $(cat "$TMPD/promtool.out")"
	fi
	for r in t4 t6; do
		for d in client_in upstream_out upstream_in client_out; do
			v=$(awk -v r="$r" -v d="$d" 'index($0, "ringrelay_datagrams_total{relay=\"" r "\"") == 1 &&
				index($0, "direction=\"" d "\"") { s += $NF } END { print s + 0 }' "$TMPD/metrics.txt")
			expect "metrics $r $d datagrams" "$v" 15
		done
		v=$(metric_sum "$TMPD/metrics.txt" ringrelay_sessions_active "relay=\"$r\"")
		expect "metrics $r sessions_active" "$v" 3
	done
	grep -q '^ringrelay_build_info{version="[^"]*"} 1$' "$TMPD/metrics.txt" ||
		lib_case_fail "no build_info sample"
	grep -q '^ringrelay_worker_heartbeat_age_seconds{worker="1"} [0-9.]*$' "$TMPD/metrics.txt" ||
		lib_case_fail "no heartbeat age for worker 1"
	v=$(awk '/^ringrelay_worker_completions_total\{/ { s += $NF } END { print (s > 0) ? "yes" : s + 0 }' \
		"$TMPD/metrics.txt")
	expect "metrics worker completions > 0" "$v" yes
	grep -Eq '198\.18\.1\.1|2001:2:0:1::1' "$TMPD/metrics.txt" &&
		lib_case_fail "a client address leaked into the metrics labels"
else
	lib_case_fail "GET /metrics failed: $(cat "$TMPD/metrics.hdr")"
fi
fetch_metrics_404() { lib_nsx "$NS_R" "$PY" -c '
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen("http://127.0.0.1:9470/", timeout=5); print(200)
except urllib.error.HTTPError as e:
    print(e.code)'; }
expect "GET / status" "$(fetch_metrics_404)" 404
# a NUL byte in a header hid the request's end until its 2 s deadline closed it unanswered
nul_status() { lib_nsx "$NS_R" "$PY" -c '
import socket, time
s = socket.create_connection(("127.0.0.1", 9470), timeout=5)
t0 = time.time()
s.sendall(b"GET /metrics HTTP/1.0\r\nX-A: a\0b\r\n\r\n")
head = s.recv(64).split(b"\r\n")[0].decode()
print("%s in %.1f s" % (head or "closed", time.time() - t0))'; }
out=$(nul_status)
case $out in
"HTTP/1.0 "*" in 0."*) lib_case_ok "a request with a NUL byte answered: $out" ;;
*) lib_case_fail "a request with a NUL byte: $out" ;;
esac
# an error answer to HEAD has no body either (RFC 9110; the 404's was sent)
head_404() { lib_nsx "$NS_R" "$PY" -c '
import socket
s = socket.create_connection(("127.0.0.1", 9470), timeout=5)
s.sendall(b"HEAD / HTTP/1.0\r\n\r\n")
a = b""
while True:
    d = s.recv(4096)
    if not d:
        break
    a += d
head, _, body = a.partition(b"\r\n\r\n")
print(head.split(b"\r\n")[0].decode(), len(body))'; }
expect "HEAD / status and body bytes" "$(head_404)" "HTTP/1.0 404 Not Found 0"
# what scrapers and proxies send: an empty line first (RFC 9112 2.2), an absolute-form
# target, another query key beside per_worker (its worker label must come back)
edge_requests() { lib_nsx "$NS_R" "$PY" -c '
import socket
def ask(req):
    s = socket.create_connection(("127.0.0.1", 9470), timeout=5)
    s.sendall(req)
    a = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        a += d
    head, _, body = a.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0].split(b" ")[1].decode() + \
        ("w" if b",worker=\"" in body else "")
print(ask(b"\r\nGET /metrics HTTP/1.1\r\n\r\n"),
      ask(b"GET http://127.0.0.1:9470/metrics HTTP/1.1\r\n\r\n"),
      ask(b"GET /metrics?per_worker=1&foo=bar HTTP/1.1\r\n\r\n"))'; }
expect "empty line first, absolute-form, per_worker=1&foo=bar" "$(edge_requests)" "200 200 200w"
# headers over 8 KiB get their 431 while the client still sends (the close with the rest
# unread reset the connection: "Connection reset by peer")
big_headers() { lib_nsx "$NS_R" "$PY" -c '
import socket, time
s = socket.create_connection(("127.0.0.1", 9470), timeout=5)
try:
    # as a client that is still sending its headers when the answer comes
    s.sendall(b"GET /metrics HTTP/1.0\r\nX-Big: " + b"a" * 9000)
    time.sleep(0.3)
    s.sendall(b"a" * 1000 + b"\r\n\r\n")
    print(s.recv(64).split(b"\r\n")[0].decode() or "closed")
except OSError as e:
    print(e.strerror)'; }
expect "10 KB of headers" "$(big_headers)" "HTTP/1.0 431 Request Header Fields Too Large"

# ---- a stuck client (connects, never sends) must not block anybody else (the bound and the
# stall stretched alike on a slow machine: NET_WAIT_SCALE)
lib_bg "$NS_C" "$PY" -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); time.sleep(8 * int(sys.argv[2]))' \
	"$SOCK" "$WAIT_SCALE"
stuck=$BG_PID
lib_bg "$NS_R" "$PY" -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", 9470)); s.send(b"GET /metr")
time.sleep(8 * int(sys.argv[1]))' "$WAIT_SCALE"
stuck_http=$BG_PID
lib_wait_for 5 ctl_up >/dev/null  # both helpers have had time to connect
t0=$(date +%s%N)
ctl status >/dev/null && fetch_metrics "" >/dev/null 2>&1
ok=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
if [ $ok -eq 0 ] && [ $ms -lt $((2000 * WAIT_SCALE)) ]; then
	lib_case_ok "control and metrics answer in $ms ms while two clients stall"
else
	lib_case_fail "with stalled clients: exit $ok after $ms ms"
fi
lib_stop_pid "$stuck"
lib_stop_pid "$stuck_http"

# ---- a second daemon must not steal the socket
conf2=$TMPD/second.conf
cat >"$conf2" <<EOF
control_socket = "$SOCK";
relays = ( { name = "x"; listen = [ "198.18.1.2:5100" ]; upstreams = [ "198.18.2.2:9000" ]; } );
EOF
timeout 10 ip netns exec "$NS_R" "$RINGRELAY" -f -c "$conf2" >"$TMPD/second.log" 2>&1
rc=$?
if [ $rc -ne 0 ] && grep -q "another ringrelay is running" "$TMPD/second.log"; then
	lib_case_ok "second daemon refused (exit $rc)"
else
	lib_case_fail "second daemon: exit $rc: $(tail -n 3 "$TMPD/second.log")"
fi
ctl_up || lib_case_fail "the first daemon's control socket is gone after the second start"
# ... nor wait on the first one when its control thread does not accept and its backlog is
# full (a blocking connect waited there until the thread accepted again)
lib_thread_stop ringrelay-ctl 20 "$TMPD/stop_ctl" || lib_case_fail "control thread not stopped"
lib_bg "$NS_R" "$PY" -c '
import socket, sys, time
socks = []
for _ in range(80):
    s = socket.socket(socket.AF_UNIX); s.setblocking(False)
    try:
        s.connect(sys.argv[1]); socks.append(s)
    except BlockingIOError:
        s.close()
print("queued %d" % len(socks), flush=True)
time.sleep(15)' "$SOCK" >"$TMPD/backlog"
filler=$BG_PID
lib_wait_for 5 grep -q queued "$TMPD/backlog"
t0=$(date +%s%N)
timeout 10 ip netns exec "$NS_R" "$RINGRELAY" -f -c "$conf2" >"$TMPD/second.log" 2>&1
rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "another ringrelay is running" "$TMPD/second.log"
then
	lib_case_ok "second daemon refused in $ms ms while the first's backlog is full" \
		"($(cat "$TMPD/backlog"), control thread stopped)"
else
	lib_case_fail "second daemon with the first's backlog full: exit $rc after $ms ms:" \
		"$(tail -n 2 "$TMPD/second.log")"
fi
# ringrelayctl gives up within its -T as well (it waited in connect for good)
t0=$(date +%s%N)
timeout 10 "$CTL" -s "$SOCK" -T 1 status >/dev/null 2>"$TMPD/err"
rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
if [ $rc = 1 ] && grep -q "took no connection in 1000 ms" "$TMPD/err"; then
	lib_case_ok "ringrelayctl -T 1 gave up in $ms ms: $(cat "$TMPD/err")"
else
	lib_case_fail "ringrelayctl -T 1 with the backlog full: exit $rc after $ms ms: $(cat "$TMPD/err")"
fi
lib_stop_pid "$filler"
lib_stop_pid "$STOP_PID"
lib_wait_for 5 ctl_up || lib_case_fail "the first daemon does not answer after its thread resumed"

# ---- reload
if ctl reload >"$TMPD/reload.out" 2>&1; then
	lib_case_ok "reload with an unchanged config: $(cat "$TMPD/reload.out")"
	write_conf "$CONF" 20.0
	ctl reload >/dev/null 2>"$TMPD/reload.err" && lib_case_ok "reload with a changed config" ||
		lib_case_fail "reload with a good config: $(cat "$TMPD/reload.err")"
	# Line 3 of the file is made invalid: the error must name FILE:3.
	write_conf "$CONF" 20.0
	sed -i '3s/.*/io_backend = "bogus";/' "$CONF"
	if ctl reload >/dev/null 2>"$TMPD/reload.err"; then
		lib_case_fail "reload with a bad config exited 0"
	elif grep -q "$CONF:3" "$TMPD/reload.err"; then
		lib_case_ok "bad reload: $(cat "$TMPD/reload.err")"
	else
		lib_case_fail "bad reload message lacks $CONF:3: $(cat "$TMPD/reload.err")"
	fi
	if check_json status2 status; then
		expect "reloads.success" "$(json_get "$TMPD/status2.json" 'j["reloads"]["success"]')" 2
		expect "reloads.failure" "$(json_get "$TMPD/status2.json" 'j["reloads"]["failure"]')" 1
		expect "reloads.last_result" \
			"$(json_get "$TMPD/status2.json" 'j["reloads"]["last_result"]')" failure
	fi
	fetch_metrics "" >"$TMPD/metrics2.txt" 2>/dev/null
	grep -q '^ringrelay_config_reloads_total{result="failure"} 1$' "$TMPD/metrics2.txt" ||
		lib_case_fail "metrics do not count the failed reload"
	out=$(lib_udp "$NS_C" client --to 198.18.1.2:5000 --clients 1 --count 3 --size 50 \
		--port-base 42000 --expect-echo) && lib_case_ok "old config still serves" ||
		lib_case_fail "traffic after the failed reload: $out"
elif grep -q "not available" "$TMPD/reload.out"; then
	lib_log "SKIP reload cases: this daemon has no app_reload wired to the control socket"
else
	lib_case_fail "reload with the config it runs: $(cat "$TMPD/reload.out")"
fi

# ---- the daemon stops: the socket goes, ringrelayctl says why it cannot answer
lib_relay_stop || lib_case_fail "relay exit status $? after SIGTERM, want 0"
[ -e "$SOCK" ] && lib_case_fail "control socket left behind after exit"
if ctl status >/dev/null 2>"$TMPD/err"; then
	lib_case_fail "ringrelayctl status exited 0 with no daemon"
else
	grep -q "not running" "$TMPD/err" && lib_case_ok "no daemon: $(cat "$TMPD/err")" ||
		lib_case_fail "no-daemon message: $(cat "$TMPD/err")"
fi

# ---- an answer cut short (a stand-in daemon on the socket path says "ok 100" and sends 10
# bytes): ringrelayctl prints nothing of it and fails, instead of passing it on as whole
lib_bg "$NS_R" "$PY" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1); s.settimeout(10)
print("ready", flush=True)
c, _ = s.accept(); c.recv(600); c.sendall(b"ok 100\nversion  1"); c.close()' "$SOCK" \
	>"$TMPD/standin"
cut=$BG_PID
lib_wait_for 5 grep -q ready "$TMPD/standin"
if ctl status >"$TMPD/cut.out" 2>"$TMPD/err"; then
	lib_case_fail "ringrelayctl passed a cut answer on: $(cat "$TMPD/cut.out")"
elif grep -q "cut short (10 of 100 bytes)" "$TMPD/err" && [ ! -s "$TMPD/cut.out" ]; then
	lib_case_ok "cut answer refused: $(cat "$TMPD/err")"
else
	lib_case_fail "cut answer: stdout '$(cat "$TMPD/cut.out")', stderr $(cat "$TMPD/err")"
fi
lib_stop_pid "$cut"
rm -f "$SOCK"

# ---- with the filter on (tc on the relay's client side): a second client address inside a
# denied prefix is dropped, and ringrelayctl filter / stats / metrics show the rule's hits.
lib_nsx "$NS_C" ip addr add 198.18.1.9/24 dev "$IF_C"
write_conf "$CONF" "$SESSION_TIMEOUT" "filter = { interfaces = [ \"$IF_RC\" ]; mode = \"tc\";
	deny = [ \"198.18.1.8/29\", \"2001:2:0:9::/64\" ]; };"
lib_relay_start "$CONF" || lib_fail "relay with a filter did not start"
lib_wait_for 10 ctl_up || lib_fail "no answer on the control socket with the filter on"
if [ "$(ctl filter)" = "filter: off" ]; then
	lib_log "SKIP filter cases: this daemon does not load the filter (not wired in main yet)"
else
	lib_udp "$NS_C" client --to 198.18.1.2:5000 --bind 198.18.1.9 --clients 1 --count 4 \
		--size 60 --expect-none --quiet 0.3 >/dev/null ||
		lib_case_fail "a denied client got an answer"
	lib_udp "$NS_C" client --to 198.18.1.2:5000 --clients 1 --count 2 --size 60 \
		--port-base 43000 --expect-echo >/dev/null || lib_case_fail "allowed client, filter on"
	if out=$(ctl filter); then
		echo "$out" | grep -Eq '^deny +198\.18\.1\.8/29 +[0-9]+ +4$' &&
			lib_case_ok "filter table shows 4 hits on 198.18.1.8/29" ||
			lib_case_fail "filter table rule hits:"$'\n'"$out"
	else
		lib_case_fail "ringrelayctl filter: exit $?"
	fi
	if check_json filter2 filter; then
		expect "filter.mode" "$(json_get "$TMPD/filter2.json" 'j["mode"]')" tc
		expect "filter.deny[0].hits" "$(json_get "$TMPD/filter2.json" 'j["deny"][0]["hits"]')" 4
		expect "filter.counters.drop_prefix" \
			"$(json_get "$TMPD/filter2.json" 'j["counters"]["drop_prefix"]')" 4
		expect "filter.rules.deny" "$(json_get "$TMPD/filter2.json" 'j["rules"]["deny"]')" 2
	fi
	check_json stats2 stats &&
		expect "stats.filter.drop_prefix" \
			"$(json_get "$TMPD/stats2.json" 'j["filter"]["drop_prefix"]')" 4
	fetch_metrics "" >"$TMPD/metrics3.txt" 2>/dev/null
	check_metrics <"$TMPD/metrics3.txt" >"$TMPD/promtool.out" 2>&1 &&
		lib_case_ok "promtool check metrics with the filter on" ||
		lib_case_fail "promtool with the filter on: $(cat "$TMPD/promtool.out")"
	grep -q '^ringrelay_filter_packets_total{verdict="drop",reason="prefix"} 4$' "$TMPD/metrics3.txt" &&
		lib_case_ok "metrics: filter drop_prefix 4" ||
		lib_case_fail "metrics: no filter drop_prefix 4 sample"
fi
lib_relay_stop || lib_case_fail "relay with the filter: exit status $? after SIGTERM"
lib_done
