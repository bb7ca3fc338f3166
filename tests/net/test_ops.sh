#!/bin/bash
# SPDX-License-Identifier: MIT
# Running ringrelay as an operator would (issue 14), in the relay's namespace:
#   1. the access log, per family: a start and an end line per session with upstream,
#      datagrams and bytes each way, duration and reason (idle, shutdown); as text, as JSON
#      (log_format) and through the daemon's own log (access_log = "-");
#   2. the daemon's log on a file is "time level message", one JSON object per line with
#      log_format = "json", and never carries "<6>" prefixes;
#   3. pid_file: written with the daemon's pid, a second daemon on it refused, removed at exit,
#      a stale one overwritten;
#   4. the default control socket as a normal user (nobody): the daemon falls back to
#      $XDG_RUNTIME_DIR/ringrelay/ringrelay.sock and ringrelayctl finds it there; without
#      XDG_RUNTIME_DIR the start fails naming control_socket;
#   5. under systemd (JOURNAL_STREAM names stderr) messages go to the journal with PRIORITY=
#      and RELAY=/CLIENT=/UPSTREAM=/WORKER= fields: journald's socket is played by
#      journal_rx.py in a private mount namespace (a tmpfs over /run/systemd there only).
. "$(dirname "$0")/lib.sh"
lib_topology
command -v setpriv >/dev/null || lib_skip "setpriv not found (util-linux)"
[ -x "$BUILD/ringrelayctl" ] || lib_skip "$BUILD/ringrelayctl not built"
# Copies a normal user may run (run.sh's private copy sits in a 0700 directory).
BIN=$TMPD/bin
mkdir -p "$BIN"
cp "$RINGRELAY" "$BUILD/ringrelayctl" "$BIN/"
chmod 755 "$BIN" "$BIN"/*
chmod o+x "$TMPD"

lines() { grep -c -- "$2" "$1" 2>/dev/null || true; }
lines_ge() { [ "$(lines "$1" "$2")" -ge "$3" ]; }

# ---------------------------------------------------------------- 1. and 2.
access_case()
{
	local fam=$1 fmt=$2 dest=$3 c="[ipv$1/$2/access_log=$3]" log out end
	lib_family "$fam"
	conf=$TMPD/access-$fam-$fmt.conf
	log=$TMPD/access-$fam-$fmt.log
	[ "$dest" = file ] && out=$log || out=-
	rm -f "$log"
	lib_udp_bg "$NS_U" "$TMPD/echo.json" echo --bind "$(ep "$UP1_IP" 9000)" --seconds 60
	lib_relay_conf "$conf" listen="$(ep "$RELAY_IP" 5000)" up="$(ep "$UP1_IP" 9000)" \
		timeout=1.0
	printf 'access_log = "%s";\nlog_format = "%s";\n' "$out" "$fmt" >>"$conf"
	[ "$dest" = file ] || log=$TMPD/relay.log
	lib_relay_start "$conf" || { lib_case_fail "$c relay did not start"; return; }
	lib_udp "$NS_C" client --to "$(ep "$RELAY_IP" 5000)" --clients 2 --count 3 --size 100 \
		--expect-echo --seconds 5 >/dev/null || lib_case_fail "$c traffic did not pass"
	if lib_wait_for 10 lines_ge "$log" "session end.*reason=idle" 2; then
		end=$(grep "session end" "$log" | tail -n 1)
		want="up_datagrams=3 up_bytes=300 down_datagrams=3 down_bytes=300 reason=idle"
		case $end in
		*"upstream=$(ep "$UP1_IP" 9000) "*"$want"*)
			lib_case_ok "$c two starts and two idle ends: ${end##*message\":\"}" ;;
		*) lib_case_fail "$c end line: $end" ;;
		esac
		[ "$(lines "$log" "session start relay=t client=")" -ge 2 ] ||
			lib_case_fail "$c fewer than 2 session start lines"
	else
		lib_case_fail "$c no 2 idle session ends in $log: $(grep session "$log")"
	fi
	# one more session, ended by the shutdown
	lib_udp "$NS_C" client --to "$(ep "$RELAY_IP" 5000)" --clients 1 --count 1 --size 10 \
		--expect-echo --seconds 5 >/dev/null
	lib_relay_stop || lib_case_fail "$c relay exit status $?"
	grep -q "session end .*reason=shutdown" "$log" &&
		lib_case_ok "$c a session open at the stop ends with reason=shutdown" ||
		lib_case_fail "$c no reason=shutdown line"
	if [ "$fmt" = json ]; then
		# every line of the file (and of the daemon's log, written to a file) is JSON
		if "$PY" -c 'import json, sys
for f in sys.argv[1:]:
    for l in open(f):
        if not l.startswith("==="):
            json.loads(l)' "$log" "$TMPD/relay.log" 2>"$TMPD/json.err"; then
			lib_case_ok "$c every line is one JSON object"
		else
			lib_case_fail "$c not JSON: $(cat "$TMPD/json.err")"
		fi
		grep -q '"event":"end","relay":"t",.*"up_datagrams":3,' "$log" ||
			lib_case_fail "$c JSON end lacks typed fields"
	elif grep -v '^===' "$TMPD/relay.log" | grep -qvE \
		'^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}\.[0-9]{3} (error|warning|notice|info|debug) '; then
		lib_case_fail "$c a log line is not 'time level message':" \
			"$(grep -v '^===' "$TMPD/relay.log" | head -n 3)"
	else
		lib_case_ok "$c the daemon's log lines are 'time level message'"
	fi
	grep -q '^<[0-9]>' "$TMPD/relay.log" && lib_case_fail "$c <N> prefixes in the log"
	lib_stop_pid "$BG_PID"
	: >"$TMPD/relay.log"
}

for fam in 4 6; do
	access_case "$fam" text file
	access_case "$fam" json file
done
access_case 4 text log

# ---------------------------------------------------------------- 3. pid_file
lib_family 4
pidf=$TMPD/run/ringrelay.pid
lib_relay_conf "$TMPD/pid-a.conf" listen="$(ep "$RELAY_IP" 5100)" up="$(ep "$UP1_IP" 9000)"
echo "pid_file = \"$pidf\";" >>"$TMPD/pid-a.conf"
lib_relay_conf "$TMPD/pid-b.conf" listen="$(ep "$RELAY_IP" 5101)" up="$(ep "$UP1_IP" 9000)"
sed -i "s|/run/ctl.sock|/run/ctl-b.sock|" "$TMPD/pid-b.conf"
echo "pid_file = \"$pidf\";" >>"$TMPD/pid-b.conf"
if lib_relay_start "$TMPD/pid-a.conf"; then
	[ "$(cat "$pidf" 2>/dev/null)" = "$RELAY_PID" ] && lib_case_ok "pid_file holds the pid" ||
		lib_case_fail "pid_file holds '$(cat "$pidf" 2>/dev/null)', want $RELAY_PID"
	out=$(timeout 10 ip netns exec "$NS_R" "$RINGRELAY" -f -c "$TMPD/pid-b.conf" 2>&1)
	rc=$?
	[ $rc -eq 1 ] && echo "$out" | grep -q "ringrelay is already running as pid $RELAY_PID" &&
		lib_case_ok "a second daemon on the pid_file is refused" ||
		lib_case_fail "second daemon on the pid_file: exit $rc: $out"
	[ "$(cat "$pidf")" = "$RELAY_PID" ] || lib_case_fail "the refused daemon changed pid_file"
	lib_relay_stop || lib_case_fail "pid_file relay exit status $?"
	[ -e "$pidf" ] && lib_case_fail "pid_file left behind at exit" ||
		lib_case_ok "pid_file removed at exit"
else
	lib_case_fail "pid_file relay did not start"
fi
echo 999999 >"$pidf" # no such process: a stale file from a crash
if lib_relay_start "$TMPD/pid-a.conf"; then
	[ "$(cat "$pidf")" = "$RELAY_PID" ] && lib_case_ok "a stale pid_file is overwritten" ||
		lib_case_fail "stale pid_file not overwritten"
	lib_relay_stop
else
	lib_case_fail "relay refused a stale pid_file"
fi

# ---------------------------------------------------------------- 4. a normal user
xdg=$TMPD/xdg
mkdir -p "$xdg"
chown nobody "$xdg"
chmod 700 "$xdg"
cat >"$TMPD/user.conf" <<EOF
relays = ( { name = "u"; listen = [ "$(ep "$RELAY_IP" 5200)" ];
	upstreams = [ "$(ep "$UP1_IP" 9000)" ]; } );
EOF
chmod 644 "$TMPD/user.conf"
as_nobody() { ip netns exec "$NS_R" setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
if [ -w /run/ringrelay ] && [ "$(stat -c %U /run/ringrelay 2>/dev/null)" = nobody ]; then
	lib_log "note: /run/ringrelay belongs to nobody here; the fallback is not exercised"
fi
lib_bg "$NS_R" env XDG_RUNTIME_DIR="$xdg" setpriv --reuid=nobody --regid=nogroup --clear-groups \
	"$BIN/ringrelay" -f -c "$TMPD/user.conf" >"$TMPD/user.log" 2>&1
upid=$BG_PID
if lib_wait_for 10 grep -q ': ready' "$TMPD/user.log"; then
	grep -q "using $xdg/ringrelay/ringrelay.sock (control_socket)" "$TMPD/user.log" &&
		lib_case_ok "as nobody: control socket falls back to \$XDG_RUNTIME_DIR" ||
		lib_case_fail "as nobody: no fallback notice: $(cat "$TMPD/user.log")"
	if out=$(XDG_RUNTIME_DIR=$xdg as_nobody "$BIN/ringrelayctl" status 2>&1) &&
		echo "$out" | grep -q "u "; then
		lib_case_ok "as nobody: ringrelayctl status finds the socket without -s"
	else
		lib_case_fail "as nobody: ringrelayctl status: $out"
	fi
	# The service's directory there but closed to this user (a root start made it 0750):
	# ringrelayctl still looks in $XDG_RUNTIME_DIR (it stopped at "permission denied").
	if out=$(ip netns exec "$NS_R" unshare -m sh -c 'mount -t tmpfs none /run &&
		mkdir -m 700 /run/ringrelay &&
		exec env XDG_RUNTIME_DIR="$1" setpriv --reuid=nobody --regid=nogroup \
			--clear-groups "$2" status' sh "$xdg" "$BIN/ringrelayctl" 2>&1) &&
		echo "$out" | grep -q "u "; then
		lib_case_ok "as nobody, /run/ringrelay closed to it: ringrelayctl finds the socket"
	else
		lib_case_fail "as nobody, /run/ringrelay closed to it: ringrelayctl status: $out"
	fi
else
	lib_case_fail "as nobody the default control socket did not work: $(cat "$TMPD/user.log")"
fi
lib_stop_pid "$upid"
out=$(timeout 10 ip netns exec "$NS_R" env -u XDG_RUNTIME_DIR setpriv --reuid=nobody \
	--regid=nogroup --clear-groups "$BIN/ringrelay" -f -c "$TMPD/user.conf" 2>&1)
rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "control_socket: cannot create .*set control_socket" &&
	lib_case_ok "without XDG_RUNTIME_DIR the error names control_socket" ||
	lib_case_fail "without XDG_RUNTIME_DIR: exit $rc: $out"

# ---------------------------------------------------------------- 5. the journal
lib_family 4
jconf=$TMPD/journal.conf
lib_relay_conf "$jconf" listen="$(ep "$RELAY_IP" 5300)" up="$(ep "$UP1_IP" 9000)"
echo 'access_log = "-";' >>"$jconf"
lib_udp_bg "$NS_U" "$TMPD/echo-j.json" echo --bind "$(ep "$UP1_IP" 9000)" --seconds 60
jecho=$BG_PID
# In the relay's namespace and a mount namespace of its own: journal_rx.py on the journal's
# socket path, then the relay with JOURNAL_STREAM naming its stderr file, a little traffic,
# and a stop (which ends the session: reason=shutdown).
journal_run()
{
	mount -t tmpfs tmpfs /run/systemd || return 1
	mkdir -p /run/systemd/journal
	"$PY" "$SRC/tests/net/journal_rx.py" /run/systemd/journal/socket "$TMPD/journal.json" \
		$((20 * WAIT_SCALE)) &
	local rx=$! relay i
	lib_wait_for 5 test -e "$TMPD/journal.json.ready" || return 1
	JOURNAL_STREAM=$(stat -c '%d:%i' "$TMPD/journal.stderr") "$RINGRELAY" -f -c "$jconf" \
		2>>"$TMPD/journal.stderr" &
	relay=$!
	lib_wait_for 10 grep -qs ': ready' "$TMPD/journal.json"
	ip netns exec "$NS_C" "$PY" "$UDP_PY" client --to "$(ep "$RELAY_IP" 5300)" --clients 1 \
		--count 2 --size 10 --expect-echo --seconds 5 >/dev/null
	kill -TERM "$relay"
	wait "$relay"
	lib_wait_for 5 grep -qs 'reason=shutdown' "$TMPD/journal.json"
	kill -TERM "$rx"
	wait "$rx"
	return 0
}
: >"$TMPD/journal.stderr"
export -f journal_run lib_wait_for ep
# (WAIT_SCALE too: unset, lib_wait_for in bash -c waited 1 s for the relay's ready line)
export TMPD PY SRC RINGRELAY jconf NS_C UDP_PY RELAY_IP WAIT_SCALE
if timeout $((40 * WAIT_SCALE)) ip netns exec "$NS_R" unshare -m --propagation private bash -c journal_run; then
	if out=$("$PY" - "$TMPD/journal.json" "$TMPD/journal.stderr" 2>&1 <<'EOF'
import json, sys
msgs = json.load(open(sys.argv[1]))
def has(**kv):
    return any(all(m.get(k) == v for k, v in kv.items()) for m in msgs)
ready = [m for m in msgs if m.get("MESSAGE", "").endswith(": ready")]
assert ready and ready[0].get("PRIORITY") == "6", "no ready message at PRIORITY=6"
assert ready[0].get("SYSLOG_IDENTIFIER") == "ringrelay", "no SYSLOG_IDENTIFIER"
assert has(WORKER="0"), "no WORKER= field"
assert has(RELAY="t", EVENT="start", UPSTREAM="198.18.2.2:9000", WORKER="0"), "no start"
assert has(RELAY="t", EVENT="end", REASON="shutdown", UP_DATAGRAMS="2",
           DOWN_BYTES="20"), "no end"
assert any(m.get("RELAY") == "t" and m.get("MESSAGE", "").startswith("stats relay=t")
           for m in msgs), "no stats with RELAY="
assert any(m.get("CLIENT", "").startswith("198.18.1.1:") for m in msgs), "no CLIENT="
err = open(sys.argv[2]).read().strip()
assert not err, "stderr got lines too: " + err
print("%d entries" % len(msgs))
EOF
	); then
		lib_case_ok "journal: $out with PRIORITY=, RELAY= CLIENT= UPSTREAM= WORKER=," \
			"none on stderr"
	else
		lib_case_fail "journal: $out: $(head -c 600 "$TMPD/journal.json")"
	fi
else
	lib_case_fail "journal case did not run: $(cat "$TMPD/journal.stderr")"
fi
lib_stop_pid "$jecho"

lib_done
