#!/bin/bash
# SPDX-License-Identifier: MIT
# Overload: a flood at many times the relay's rate (perf/gen, socket mode, 16 flows of 64-byte
# frames, 78-byte with IPv6 so that they carry a payload, pinned to CPU 0; the relay's one worker on CPU 1) for FLOOD_SECONDS, while a probe
# client on its own flow sends a request every 100 ms and must get >= 90 % of the answers
# within its 1 s timeout. Early shedding must be on (shed = "auto" as root) and must have shed.
# Afterwards every datagram sent is accounted for, exactly:
#
#   generator sent + probe sent = relay's rx (ringrelayctl stats -j: read + socket overflow +
#                                 shed_full_socket) + dropped before the relay's socket
#
# where "before" is what veth counts on the way: veth-c's tx_dropped (what veth-c could not
# hand over: veth-rc's ring or the CPU's backlog full) and the drops of veth-rc's own receive
# queues (ethtool rx_queue_N_drops). Not veth-rc's rx_dropped, which repeats veth-c's
# backlog drops and refused XDP frames. Shed
# datagrams count as received and dropped (shed_full_socket, shed_heavy_flow), like the
# socket's own overflow. Shedding runs in tc here (veth without RPS). IPv4 and IPv6, io_uring
# (NET_BACKENDS to change). A start without the program and a reload that turns shedding on:
# status says it takes a restart.
#
# The same at line rate (run_case BACKEND FAMILY xdp): perf/gen -X, XDP frames redirected
# into veth-c (several Mpps from one core), which veth takes only into a NAPI instance on
# veth-rc: GRO on there, the relay's napi.threaded pinning that instance's thread to the
# worker's CPU, so the flood's receive work lands on the relay's core. The frames veth-rc's
# full ring refused are veth-c's xdp_xmit_errors, part of its tx_dropped.
# The flood's sources hold their ports (else each echoed reply the relay sends back would
# draw an ICMP port unreachable, on the relay's core). The probe's datagrams reach the relay
# through the backlog, not that ring, but share the relay's socket and core with a flood ten
# times the socket generator's: 80 % of its requests answered in time, not 90 %.
# napi.flood_nice there: the line of the NAPI thread moved to nice 10 under the flood, the
# line back after it, and the thread at nice 5 in status.
. "$(dirname "$0")/lib.sh"
lib_topology

CTL=${RINGRELAYCTL:-$BUILD/ringrelayctl}
GEN=${GEN:-$BUILD/perf/gen}
FLOOD_SECONDS=${FLOOD_SECONDS:-3}
[ -x "$CTL" ] || lib_fail "ringrelayctl not found at $CTL (make build/ringrelayctl)"
[ -x "$GEN" ] || lib_skip "perf generator not found at $GEN (make perf-tools)"
[ "$(nproc)" -ge 2 ] || lib_skip "needs 2 CPUs (generator and relay apart)"

# The probe: one socket, one request every 100 ms, answers matched by sequence number and
# counted when they arrive within the timeout. Prints a JSON summary; writes $2 at the first
# answer, so the flood starts once the path is known to work.
cat >"$TMPD/probe.py" <<'EOF'
import json, socket, sys, time
to, ready, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
host, port = to.rsplit(":", 1)
host = host.strip("[]")
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.connect((host, int(port)))
s.settimeout(0.01)
timeout, sent, answered, late, seq = 1.0, {}, 0, 0, 0
end = time.monotonic() + seconds
nxt = time.monotonic()
while time.monotonic() < end + timeout:
    now = time.monotonic()
    if now >= nxt and now < end:
        s.send(b"probe %08d" % seq)
        sent[seq] = now
        seq += 1
        nxt += 0.1
    try:
        d = s.recv(2048)
    except (socket.timeout, ConnectionRefusedError):
        continue
    if not d.startswith(b"probe "):
        continue
    n = int(d[6:14])
    if n in sent:
        if time.monotonic() - sent.pop(n) <= timeout:
            answered += 1
            if answered == 1:
                open(ready, "w").close()
        else:
            late += 1
print(json.dumps({"sent": seq, "answered": answered, "late": late}))
EOF

# ctl_json FILE: ringrelayctl stats -j into FILE.
ctl_stats() { "$CTL" -s "$TMPD/run/ctl.sock" -j stats >"$1" 2>/dev/null; }
# The relay's to_upstream total: "RX SHED_FULL SHED_HEAVY OVERFLOW".
relay_rx()
{
	ctl_stats "$TMPD/stats.json" || return 1
	"$PY" -c 'import json,sys; t=json.load(open(sys.argv[1]))["relays"][0]["total"]; d=t["drops"]
print(t["rx_pkts"], d.get("shed_full_socket", 0), d.get("shed_heavy_flow", 0),
      d["socket_receive_overflow"])' "$TMPD/stats.json"
}
# link_stat NS DEV FIELD: a counter of ip -s -j link (stats64.rx/tx.dropped ...).
link_stat()
{
	ip -n "$1" -s -j link show dev "$2" |
		"$PY" -c 'import json,sys; d=json.load(sys.stdin)[0]["stats64"]; a,b=sys.argv[1].split(".")
print(d[a][b])' "$3"
}
# What the relay counted stops moving (its socket drained, the overflow reported).
rx_settled()
{
	local now
	now=$(relay_rx) || return 1
	[ "$now" = "$LAST_RX" ] && return 0
	LAST_RX=$now
	return 1
}

# shed_reload_case SHED: after the flood (SHED: what relay t shed), a reload that would replace
# t with a relay on a port another process holds is refused: t's shed counts must not go down
# (the refused config took t's counter slot, and the rollback gave it back counting from 0);
# nor when a reload turns shedding off and the program is unloaded.
shed_reload_case()
{
	local shed0=$1 held holder_pid full heavy
	held=$(ep "$RELAY_IP" 5009)
	# (a holder the relay sees: refused at once, not after a 3 s wait for it to go)
	lib_hold_port "$NS_R" "$held" 30 "$TMPD/holder.json"
	holder_pid=$BG_PID
	cp "$conf" "$conf.keep"
	sed -i "s/name = \"t\";/name = \"u\";/; s|listen = \[ [^]]* \];|listen = [ \"$held\" ];|" \
		"$conf"
	if ! lib_relay_hup "reload failed"; then
		lib_case_fail "$c a reload onto a held port was not refused"
	else
		read -r _ full heavy _ < <(relay_rx)
		if [ $((full + heavy)) -ge "$shed0" ]; then
			lib_case_ok "$c a refused reload without relay t: its shed counts stay" \
				"($((full + heavy)))"
		else
			lib_case_fail "$c a refused reload without relay t: shed counts $shed0 ->" \
				"$((full + heavy))"
		fi
	fi
	cp "$conf.keep" "$conf"
	lib_stop_pid "$holder_pid"
	# shed = "off" on t, nothing else wanting the program: it is unloaded, and what it shed
	# stays in t's totals (before: rx_pkts and the shed drops fell by it, a counter reset
	# to Prometheus).
	local rx0 rx
	read -r rx0 full heavy _ < <(relay_rx)
	shed0=$((full + heavy))
	sed -i 's/name = "t";/name = "t"; shed = "off";/' "$conf"
	lib_relay_hup || lib_case_fail "$c the reload to shed = \"off\" did not apply"
	read -r rx full heavy _ < <(relay_rx)
	if [ "$rx" -ge "$rx0" ] && [ $((full + heavy)) -ge "$shed0" ]; then
		lib_case_ok "$c shed = \"off\" by a reload: t's rx ($rx) and shed counts" \
			"($((full + heavy))) stay"
	else
		lib_case_fail "$c shed = \"off\" by a reload: rx $rx0 -> $rx, shed $shed0 ->" \
			"$((full + heavy))"
	fi
	cp "$conf.keep" "$conf"
}

# veth_sum NS DEV STAT: a per-queue ethtool counter of veth DEV summed over its queues, e.g.
# drops (rx_queue_N_drops: its own receive dropped them) or xdp_xmit_errors
# (tx_queue_N_xdp_xmit_errors: XDP frames its peer's full ring refused).
veth_sum()
{
	lib_nsx "$1" ethtool -S "$2" | awk -v stat="$3" '
		{ name = $1; sub(/^[rt]x_queue_[0-9]+_/, "", name) }
		name == stat ":" { n += $2 } END { print n + 0 }'
}

# run_case BACKEND FAMILY [xdp]: the flood from UDP sockets, or with xdp from perf/gen -X.
run_case()
{
	local backend=$1 fam=$2 flood=${3:-socket} gen_out probe_out ready
	lib_case_begin "overload-$flood" "$backend" "$fam"
	[ "$flood" = xdp ] && c="${c}[xdp flood]"
	lib_bg "$NS_U" "$GEN" -E -d "$(ep "$UP1_IP" 9000)" -t $((FLOOD_SECONDS + 20))
	CASE_PIDS+=("$BG_PID")
	lib_wait_for 5 lib__bound "$NS_U" "$(ep "$UP1_IP" 9000)" "" ||
		{ lib_case_fail "$c reflector did not bind"; lib_case_stop_helpers; return; }
	lib_relay_conf "$conf" backend="$backend" listen="$to" up="$(ep "$UP1_IP" 9000)"
	echo "cpus = [ 1 ];" >>"$conf"
	[ "$flood" = xdp ] && echo "napi = { threaded = true; };" >>"$conf"
	if ! lib_relay_start "$conf"; then
		lib_case_fail "$c relay did not start"
		lib_case_stop_helpers
		return
	fi
	if ! lib_wait_for 5 grep -q "relay t: shed on" "$RELAY_LOG"; then
		if grep -q "relay t: shed off: .*did not load" "$RELAY_LOG"; then
			lib_relay_stop
			lib_case_stop_helpers
			lib_skip "the shedding program does not load here: $(grep -m1 'shed off' "$RELAY_LOG")"
		fi
		lib_case_fail "$c no 'relay t: shed on' line: $(grep -m1 'shed' "$RELAY_LOG")"
	fi

	# status says so too, with the hook: tc on a veth without RPS, where XDP would copy
	# every frame and turn off the peer's TSO and GSO (which must stay on).
	local st
	st=$("$CTL" -s "$TMPD/run/ctl.sock" -j status 2>&1 | "$PY" -c 'import json,sys
s=json.load(sys.stdin)["relays"][0]["shed"]; print(s["on"], s["why"])' 2>&1)
	case $st in
	"True auto on $IF_RC (tc)") lib_case_ok "$c status: shed $st" ;;
	*) lib_case_fail "$c status -j relays[0].shed: $st" ;;
	esac
	lib_nsx "$NS_C" ethtool -k "$IF_C" | grep -q "^tx-udp-segmentation: on" ||
		lib_case_fail "$c $IF_C lost UDP GSO: $(lib_nsx "$NS_C" ethtool -k "$IF_C" | grep udp-seg)"

	local c_drop0 rc_drop0 x_err0 flood_opts=()
	if [ "$flood" = xdp ]; then
		x_err0=$(veth_sum "$NS_C" "$IF_C" xdp_xmit_errors)
		flood_opts=(-i "$IF_C" -s "$(ep "$CLIENT_IP" 0)" -X -b 8192
			-M "$(lib_nsx "$NS_R" cat "/sys/class/net/$IF_RC/address")")
		# gen -X's 16 source ports (10000 + flow), held and never read.
		lib_bg "$NS_C" "$PY" -c 'import socket, sys, time
f = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = [socket.socket(f, socket.SOCK_DGRAM) for _ in range(16)]
for i, x in enumerate(s):
    x.bind((sys.argv[1], 10000 + i))
time.sleep(float(sys.argv[2]))' "$CLIENT_IP" $((FLOOD_SECONDS + 15))
		CASE_PIDS+=("$BG_PID")
	fi
	c_drop0=$(link_stat "$NS_C" "$IF_C" tx.dropped)
	rc_drop0=$(veth_sum "$NS_R" "$IF_RC" drops)
	# Per backend and family, made anew: an earlier case's file must not pass the wait.
	ready=$TMPD/probe-ready-$backend-$fam
	probe_out=$TMPD/probe-$backend-$fam.json
	rm -f "$ready"
	lib_bg "$NS_C" "$PY" "$TMPD/probe.py" "$to" "$ready" $((FLOOD_SECONDS + 3)) >"$probe_out"
	local probe_pid=$BG_PID
	lib_wait_for 5 test -e "$ready" || lib_case_fail "$c the probe got no first answer"

	# The flood, on its own CPU; the relay's worker runs on CPU 1.
	gen_out=$(lib_nsx "$NS_C" "$GEN" -d "$to" -f 16 -l $((fam == 6 ? 78 : 64)) \
		-t "$FLOOD_SECONDS" -C 0 "${flood_opts[@]}") ||
		lib_case_fail "$c generator failed: $gen_out"
	lib_wait_gone "$probe_pid" $((FLOOD_SECONDS + 10)) || lib_case_fail "$c probe did not end"
	wait "$probe_pid" 2>/dev/null

	local sent probe_sent answered
	sent=$(echo "$gen_out" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["sent_pkts"])')
	read -r probe_sent answered < <("$PY" -c 'import json,sys; p=json.load(open(sys.argv[1]))
print(p["sent"], p["answered"])' "$probe_out")
	# (the XDP flood: 80 %, see the top of the file)
	local tenths=9
	[ "$flood" = xdp ] && tenths=8
	if [ -n "$answered" ] && [ $((answered * 10)) -ge $((probe_sent * tenths)) ]; then
		lib_case_ok "$c probe: $answered of $probe_sent answered within 1 s during the flood"
	else
		lib_case_fail "$c probe: $answered of $probe_sent answered within 1 s ($(cat "$probe_out"))"
	fi

	LAST_RX=
	lib_wait_for 10 rx_settled || lib_case_fail "$c the relay's counters did not settle"
	local rx full heavy shed ovf c_drop rc_drop before want xnote=""
	read -r rx full heavy ovf <<<"$LAST_RX"
	shed=$((full + heavy))
	c_drop=$(( $(link_stat "$NS_C" "$IF_C" tx.dropped) - c_drop0 ))
	rc_drop=$(( $(veth_sum "$NS_R" "$IF_RC" drops) - rc_drop0 ))
	# (the program's XDP_DROP is in neither: nothing counts twice)
	before=$((c_drop + rc_drop))
	[ "$flood" = xdp ] &&
		xnote=" (XDP frames refused: $(( $(veth_sum "$NS_C" "$IF_C" xdp_xmit_errors) - x_err0 )))"
	want=$((sent + probe_sent))
	lib_log "$c sent $sent (+$probe_sent probe) at $(echo "$gen_out" | sed -n 's/.*"pps":\([0-9]*\).*/\1/p') pps;" \
		"relay rx $rx, of which shed $full (full socket) + $heavy (heavy flows)," \
		"socket overflow $ovf; before the relay: $IF_C tx_dropped $c_drop$xnote," \
		"$IF_RC's receive queues $rc_drop"
	if [ "$want" -eq $((rx + before)) ]; then
		lib_case_ok "$c every datagram accounted for: $want = $rx + $before"
	else
		lib_case_fail "$c sent $want != relay rx $rx + dropped before $before" \
			"(differs by $((want - rx - before)))"
	fi
	[ "$shed" -gt 0 ] || lib_case_fail "$c nothing was shed: the flood did not overload the relay"
	# (the flood's 16 flows are heavy: they lose first, before the socket is full)
	[ "$heavy" -gt 0 ] || lib_case_fail "$c no heavy flow was shed: $full shed at a full socket"
	[ "$fam" = 4 ] && [ "$flood" = socket ] && shed_reload_case "$shed"
	[ "$flood" = xdp ] && flood_nice_check
	lib_relay_alive || lib_case_fail "$c relay died"
	lib_case_end
	return 0
}

# napi.flood_nice (default 10): while the stage drops, the NAPI thread that napi.thread_nice
# (default 5) put on the worker's CPU goes to nice 10, and back to 5 a second after the last
# drop. The flood has ended: the line of the move there, then the one back, and the thread's
# value in status.
flood_nice_back()
{
	lib_relay_log_current |
		grep -q "napi: early shedding has stopped dropping: 1 NAPI thread at nice 5"
}

flood_nice_check()
{
	local v
	if ! lib_relay_log_current |
		grep -q "napi: early shedding drops datagrams: 1 NAPI thread at nice 10"; then
		lib_case_fail "$c no line of the NAPI thread moved to nice 10 under the flood:" \
			"$(lib_relay_log_current | grep 'napi:' | tail -n 3 | tr '\n' ' ')"
		return
	fi
	if ! lib_wait_for 5 flood_nice_back; then
		lib_case_fail "$c the NAPI thread not moved back to nice 5 after the flood"
		return
	fi
	v=$("$CTL" -s "$TMPD/run/ctl.sock" -j status 2>&1 | "$PY" -c 'import json,sys
j = json.load(sys.stdin)
rx = {i["name"]: i for i in j["receive_path"]["interfaces"]}[sys.argv[1]]
print(" ".join(str(t["nice"]) for t in rx["napi_threads"]))' "$IF_RC" 2>&1)
	if [ "$v" = 5 ]; then
		lib_case_ok "$c napi.flood_nice: the NAPI thread at nice 10 while shedding, 5 after"
	else
		lib_case_fail "$c the NAPI thread's nice after the flood: $v, want 5"
	fi
}

# A start without the program (shed = "off", nothing else wants it) keeps no capability to
# load it: a reload that turns shedding on says it takes a restart (it said the process
# lacked capabilities it has).
shed_later_case()
{
	local st
	lib_case_begin shed-later io_uring 4
	lib_relay_conf "$conf" listen="$to" up="$(ep "$UP1_IP" 9000)"
	sed -i 's/name = "t";/name = "t"; shed = "off";/' "$conf"
	lib_relay_start "$conf" || { lib_case_fail "$c relay did not start"; return; }
	sed -i 's/ shed = "off";//' "$conf"
	lib_relay_hup || lib_case_fail "$c the reload was not applied"
	st=$("$CTL" -s "$TMPD/run/ctl.sock" -j status 2>&1 | "$PY" -c 'import json,sys
s=json.load(sys.stdin)["relays"][0]["shed"]; print(s["on"], s["why"])' 2>&1)
	case $st in
	"False the BPF program loads only at start"*"restart to apply")
		lib_case_ok "$c shed turned on by a reload: $st" ;;
	*) lib_case_fail "$c shed turned on by a reload: status says '$st'" ;;
	esac
	lib_case_end
}

# A stop in the middle of a flood: the exit's stats line (the workers' own counters) still
# adds up, rx = tx + drops each way. Before, the io_uring worker left its last round's
# sends unreaped: sent, but counted nowhere (up to a round of datagrams).
stop_case()
{
	local backend=$1 gen_pid line out
	lib_case_begin stop "$backend" 4
	lib_bg "$NS_U" "$GEN" -E -d "$(ep "$UP1_IP" 9000)" -t 20
	CASE_PIDS+=("$BG_PID")
	lib_wait_for 5 lib__bound "$NS_U" "$(ep "$UP1_IP" 9000)" "" ||
		{ lib_case_fail "$c reflector did not bind"; lib_case_stop_helpers; return; }
	lib_relay_conf "$conf" backend="$backend" listen="$to" up="$(ep "$UP1_IP" 9000)"
	echo "cpus = [ 1 ];" >>"$conf"
	lib_relay_start "$conf" || { lib_case_fail "$c relay did not start"; lib_case_stop_helpers; return; }
	lib_bg "$NS_C" "$GEN" -d "$to" -f 16 -l 64 -t 3 -C 0
	gen_pid=$BG_PID
	sleep 1
	lib_relay_stop || lib_case_fail "$c the relay did not stop cleanly"
	lib_wait_gone "$gen_pid" 10
	wait "$gen_pid" 2>/dev/null
	line=$(grep "stats relay=t " "$RELAY_LOG" | tail -n 1)
	if out=$("$PY" -c 'import sys
kv = dict(f.split("=", 1) for f in sys.argv[1].split() if "=" in f)
n = lambda k: int(kv[k])
fwd = n("rx_pkts") - n("tx_pkts") - sum(int(v) for k, v in kv.items() if k.startswith("drop_"))
rep = n("reply_rx_pkts") - n("reply_tx_pkts") - sum(int(v) for k, v in kv.items()
                                                    if k.startswith("reply_drop_"))
print(n("rx_pkts"), n("reply_rx_pkts"), fwd, rep)
sys.exit(0 if fwd == 0 and rep == 0 and n("rx_pkts") > 0 else 1)' "$line"); then
		lib_case_ok "$c stopped under a flood, the exit's counters add up (rx, reply rx," \
			"unaccounted each way): $out"
	else
		lib_case_fail "$c stopped under a flood, the exit's counters do not add up" \
			"(rx, reply rx, unaccounted each way): $out; ${line:-no stats line}"
	fi
	lib_case_end
}

for backend in ${NET_BACKENDS:-io_uring}; do
	for fam in 4 6; do
		run_case "$backend" "$fam"
		# (GRO on gives veth-rc the NAPI instance XDP frames need, for this case only)
		lib_nsx "$NS_R" ethtool -K "$IF_RC" gro on >/dev/null
		run_case "$backend" "$fam" xdp
		lib_nsx "$NS_R" ethtool -K "$IF_RC" gro off >/dev/null
	done
	stop_case "$backend"
done
shed_later_case
lib_done
