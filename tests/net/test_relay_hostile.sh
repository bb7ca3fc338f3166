#!/bin/bash
# SPDX-License-Identifier: MIT
# A hostile mix, per backend and family, and the counters' identity checked exactly.
#
# Two relays on two workers: "fwd" (forward, on the wildcard address, round robin over a
# live echo upstream and a dead one that answers ICMP port unreachable, 16 sessions, 1.5 s
# idle timeout) and "mir" (mirror to a live sink and a dead member). Rounds of traffic for
# HOSTILE_SECONDS (default 4) per case: 24 clients on fwd (more than the table holds) and 4 on mir, alternating two
# sets of client ports so sessions expire while replies may still be in flight, datagrams of
# 0, 64, 1,400 and 3,000 bytes (longer than buffer_size: truncated). Then, once the counters
# are still, every relay total and every worker of `ringrelayctl -j stats` must satisfy
#
#	rx_pkts + mirror_extra_copies = tx_pkts + sum(drops)	(client -> upstream)
#	reply_rx_pkts = reply_tx_pkts + sum(reply_drops)	(upstream -> client)
#
# exactly, and the mix must have hit what it aims at (truncated, session_table_full,
# upstream unreachable, mirror copies). The relay must make no sanitizer report (make soak
# runs this test longer, against an ASan + UBSan build).
. "$(dirname "$0")/lib.sh"
lib_topology

CTL=${RINGRELAYCTL:-$BUILD/ringrelayctl}
[ -x "$CTL" ] || lib_fail "ringrelayctl not found at $CTL (make build/ringrelayctl)"
SECS=${HOSTILE_SECONDS:-4}
# Every loop below is bounded: at most this many rounds per case, whatever SECS says.
MAX_ROUNDS=100000

# write_conf FILE BACKEND: the two relays for the current family. fwd listens on the
# family's wildcard address: every datagram then arrives with its destination (IP_PKTINFO)
# and every reply leaves with it, control data the sanitizer build must parse and write;
# buffer_size is not a multiple of 8, so the buffers' starts must be made aligned for it.
write_conf()
{
	local ANY='*'
	[ "$FAM" = 6 ] && ANY='[::]'

	cat >"$1" <<EOF
workers = 2;
io_backend = "$2";
buffer_size = 2044;
buffers = 256;
relays = (
	{
		name = "fwd";
		listen = [ "$ANY:5000" ];
		upstreams = [ "$(ep "$UP1_IP" 9000)", "$(ep "$UP2_IP" 9001)" ];
		mode = "forward";
		balance = "rr";
		session_timeout = 1.5;
		max_sessions = 16;
		# one client address overflows the table itself, not its per-source share
		max_sessions_per_source = 16;
	},
	{
		name = "mir";
		listen = [ "$(ep "$RELAY_IP" 5001)" ];
		upstreams = [ "$(ep "$UP1_IP" 9002)", "$(ep "$UP2_IP" 9003)" ];
		mode = "mirror";
	}
);
EOF
	mkdir -p "$TMPD/run" && chmod 1777 "$TMPD/run" && chmod o+x "$TMPD"
	echo "control_socket = \"$TMPD/run/ctl.sock\";" >>"$1"
}

stats_json() { "$CTL" -s "$TMPD/run/ctl.sock" -j stats; }

# quiesce: waits (at most 15 s) until two stats answers 0.5 s apart are equal.
quiesce()
{
	local a b i
	a=$(stats_json) || return 1
	for i in $(seq 30); do
		sleep 0.5
		b=$(stats_json) || return 1
		[ "$a" = "$b" ] && return 0
		a=$b
	done
	return 1
}

# check_identity JSONFILE LABEL: the identities, the coverage of the mix; prints failures.
check_identity()
{
	"$PY" - "$1" "$2" <<'EOF'
import json, sys
stats = json.load(open(sys.argv[1]))
label = sys.argv[2]
bad = []
for r in stats["relays"]:
    for who, c in [("total", r["total"])] + [("worker %d" % w["worker"], w)
                                             for w in r["workers"]]:
        up_in = c["rx_pkts"] + c["mirror_extra_copies"]
        up_out = c["tx_pkts"] + sum(c["drops"].values())
        down_in = c["reply_rx_pkts"]
        down_out = c["reply_tx_pkts"] + sum(c["reply_drops"].values())
        if up_in != up_out:
            bad.append("%s %s: rx_pkts %d + mirror_extra_copies %d != tx_pkts %d + drops %s"
                       % (r["name"], who, c["rx_pkts"], c["mirror_extra_copies"],
                          c["tx_pkts"], c["drops"]))
        if down_in != down_out:
            bad.append("%s %s: reply_rx_pkts %d != reply_tx_pkts %d + reply_drops %s"
                       % (r["name"], who, down_in, c["reply_tx_pkts"], c["reply_drops"]))
t = {r["name"]: r["total"] for r in stats["relays"]}
need = [
    ("fwd truncated", t["fwd"]["drops"]["truncated"]),
    ("fwd session_table_full", t["fwd"]["drops"]["session_table_full"]),
    ("fwd unreachable (drops + notices)",
     t["fwd"]["drops"]["upstream_unreachable"] + t["fwd"]["upstream_unreachable_notices"]),
    ("fwd replies", t["fwd"]["reply_tx_pkts"]),
    ("mir extra copies", t["mir"]["mirror_extra_copies"]),
    # a copy whose send takes the member's ICMP error is lost; one whose receive meets it
    # first is a notice (on an emulated CPU, IPv6: every one of them)
    ("mir copies to the dead member lost or noticed",
     t["mir"]["drops"]["upstream_unreachable"] + t["mir"]["drops"]["send_error"] +
     t["mir"]["upstream_unreachable_notices"]),
]
for name, v in need:
    if v <= 0:
        bad.append("the mix did not reach: " + name)
for b in bad:
    print(b)
f, m = t["fwd"], t["mir"]
print("%s fwd: in %d = out %d + drops %d; replies in %d = out %d + drops %d; notices %d; "
      "mir: in %d + copies %d = out %d + drops %d" %
      (label, f["rx_pkts"], f["tx_pkts"], sum(f["drops"].values()), f["reply_rx_pkts"],
       f["reply_tx_pkts"], sum(f["reply_drops"].values()), f["upstream_unreachable_notices"],
       m["rx_pkts"], m["mirror_extra_copies"], m["tx_pkts"], sum(m["drops"].values())),
      file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
}

# san_check: the reports the relay made so far fail this case (and are said once).
san_check()
{
	if lib_sanitizer_reports >&2; then
		lib_case_fail "$c sanitizer report(s) above"
		rm -f "$SAN_DIR"/report.*
	fi
}

run_case()
{
	local backend=$1 fam=$2 end round=0 base out
	lib_case_begin hostile "$backend" "$fam"
	lib_case_server "$TMPD/echo.json" echo --bind "$(ep "$UP1_IP" 9000)" --seconds 3600
	lib_case_server "$TMPD/sink.json" sink --bind "$(ep "$UP1_IP" 9002)" --seconds 3600 \
		--out /dev/null
	write_conf "$conf" "$backend"
	if ! lib_relay_start "$conf"; then
		lib_case_fail "$c relay did not start"
		lib_case_stop_helpers
		san_check
		return
	fi
	lib_expect_backend "$backend" || lib_case_fail "$c no 'worker N: backend $backend' line"
	end=$((SECONDS + SECS))
	while [ $SECONDS -lt $end ] && [ $round -lt $MAX_ROUNDS ]; do
		base=$((40000 + (round % 2) * 1000))
		lib_udp "$NS_C" client --to "$(ep "$RELAY_IP" 5000)" --clients 24 \
			--port-base $base --count 20 --sizes 0,64,1400,3000 --seconds 10 \
			>/dev/null &
		local fwd=$!
		lib_udp "$NS_C" client --to "$(ep "$RELAY_IP" 5001)" --clients 4 \
			--port-base $((base + 500)) --count 20 --sizes 0,100,1400,3000 --seconds 10 \
			>/dev/null
		wait $fwd
		round=$((round + 1))
		lib_relay_alive || break
	done
	if ! lib_relay_alive; then
		lib_case_fail "$c relay died after $round rounds"
		RELAY_PID=
		lib_case_stop_helpers
		san_check
		return
	fi
	quiesce || lib_case_fail "$c counters still moving 15 s after the traffic stopped"
	stats_json >"$TMPD/stats.json" || lib_case_fail "$c ringrelayctl -j stats failed"
	if out=$(check_identity "$TMPD/stats.json" "$c $round rounds:"); then
		lib_case_ok "$c identities hold exactly for every relay and worker ($round rounds)"
	else
		lib_case_fail "$c $out"
	fi
	lib_case_end
	san_check
}

lib_each_case run_case
