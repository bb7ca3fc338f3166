#!/bin/bash
# SPDX-License-Identifier: MIT
# A small RLIMIT_MEMLOCK, per family, the relay running as nobody (root's CAP_IPC_LOCK would
# exempt it): io_uring memory is charged to the limit.
#  - 64 KiB: the probe's small ring fits, the workers' rings do not. io_backend = "io_uring"
#    exits 1 naming RLIMIT_MEMLOCK, LimitMEMLOCK and the size the rings need;
#    io_backend = "auto" starts on the mmsg backend, says why in the log, and relays, its
#    access log writing session lines.
#  - 0: not even the probe's ring fits. "io_uring" exits 1 naming RLIMIT_MEMLOCK; "auto" runs
#    mmsg with the cause in the log.
# A kernel that charges none of it to the limit (Debian 12's 6.1: the probe's ring starts at 0)
# must let io_backend = "io_uring" start and relay at both limits instead.
. "$(dirname "$0")/lib.sh"
lib_require
command -v setpriv >/dev/null || lib_skip "setpriv not found (util-linux)"
command -v prlimit >/dev/null || lib_skip "prlimit not found (util-linux)"
NOBODY_UID=$(id -u nobody) || lib_skip "no user 'nobody'"
NOBODY_GID=$(id -g nobody)
[ -x "$RINGRELAY" ] || lib_fail "relay binary $RINGRELAY not found (make build/ringrelay)"
lib_topology

# nobody must reach the binary, the configs and the control socket's directory.
mkdir -p "$TMPD/bin"
cp "$RINGRELAY" "$TMPD/bin/ringrelay"
chmod 755 "$TMPD" "$TMPD/bin" "$TMPD/bin/ringrelay"

# wrapper LIMIT: a script that runs the relay as nobody with RLIMIT_MEMLOCK = LIMIT bytes.
wrapper()
{
	local w=$TMPD/as-nobody-$1.sh
	cat >"$w" <<EOF
#!/bin/sh
exec prlimit --memlock=$1:$1 setpriv --reuid=$NOBODY_UID --regid=$NOBODY_GID --clear-groups \\
	$TMPD/bin/ringrelay "\$@"
EOF
	chmod 755 "$w"
	echo "$w"
}

# must_refuse LIMIT WHAT...: io_backend = "io_uring" under LIMIT exits 1 and its message
# holds every WHAT.
must_refuse()
{
	local limit=$1 out rc w
	shift
	lib_relay_conf "$conf" backend=io_uring listen="$to" up="$(ep "$UP1_IP" 9000)"
	chmod 644 "$conf"
	w=$(wrapper "$limit")
	out=$(timeout 20 ip netns exec "$NS_R" "$w" -f -c "$conf" 2>&1)
	rc=$?
	if [ $rc -ne 1 ]; then
		lib_case_fail "$c io_uring at $limit bytes: exit $rc, want 1: $out"
		return
	fi
	for what in "$@"; do
		echo "$out" | grep -qE "$what" ||
			lib_case_fail "$c io_uring at $limit bytes: no '$what' in: $out"
	done
	lib_case_ok "$c io_uring at $limit bytes refused: $(echo "$out" | tail -n 1)"
}

# must_fall_back LIMIT WHAT: io_backend = "auto" under LIMIT runs mmsg, logs WHAT, relays.
must_fall_back()
{
	local limit=$1 what=$2
	lib_relay_conf "$conf" backend=auto listen="$to" up="$(ep "$UP1_IP" 9000)"
	# The access log's rings are handed to the workers before the fallback rebuilds them.
	echo 'access_log = "-";' >>"$conf"
	chmod 644 "$conf"
	if ! RINGRELAY=$(wrapper "$limit") lib_relay_start "$conf"; then
		lib_case_fail "$c auto at $limit bytes did not start"
		return
	fi
	CASE_BACKEND=mmsg
	if lib_expect_backend mmsg; then
		lib_case_ok "$c auto at $limit bytes runs mmsg"
	else
		lib_case_fail "$c auto at $limit bytes: no 'worker N: backend mmsg' line"
	fi
	if lib_relay_log_current | grep -qE "$what"; then
		lib_case_ok "$c the cause is logged: $(lib_relay_log_current | grep -m1 -E "$what")"
	else
		lib_case_fail "$c auto at $limit bytes: no '$what' in the log"
	fi
	relays_then_stops "relays on mmsg" "no echo through the fallback"
	if lib_log_count_ge "session start relay=" 2; then
		lib_case_ok "$c the access log writes through the fallback"
	else
		lib_case_fail "$c no 2 access log session starts after the fallback"
	fi
}

# relays_then_stops OK FAIL: two clients' datagrams echo through the relay (the case passes
# with OK, fails with FAIL), then the relay stops cleanly.
relays_then_stops()
{
	local out
	if out=$(lib_udp "$NS_C" client --to "$to" --clients 2 --port-base 45000 --count 10 \
		--sizes 0,100,1400 --expect-echo); then
		lib_case_ok "$c $1: $out"
	else
		lib_case_fail "$c $2: $out"
	fi
	lib_relay_stop || lib_case_fail "$c exit status after SIGTERM was not 0"
}

# must_run LIMIT: io_backend = "io_uring" under LIMIT starts on io_uring and relays.
must_run()
{
	local limit=$1
	lib_relay_conf "$conf" backend=io_uring listen="$to" up="$(ep "$UP1_IP" 9000)"
	chmod 644 "$conf"
	if ! RINGRELAY=$(wrapper "$limit") lib_relay_start "$conf"; then
		lib_case_fail "$c io_uring at $limit bytes did not start on a kernel that does not charge"
		return
	fi
	lib_expect_backend io_uring || lib_case_fail "$c io_uring at $limit bytes: no io_uring worker"
	relays_then_stops "io_uring at $limit bytes, not charged by this kernel, relays" \
		"io_uring at $limit bytes: no echo"
}

run_case()
{
	local fam=$1
	lib_case_begin memlock mmsg "$fam"
	c="[memlock/ipv$fam]"
	lib_case_echo
	if ip netns exec "$NS_R" "$(wrapper 0)" -V 2>&1 | grep -q "^io_uring: available"; then
		must_run 65536
		must_run 0
		lib_case_stop_helpers
		return
	fi
	must_refuse 65536 'RLIMIT_MEMLOCK' 'LimitMEMLOCK' 'need about [0-9]+ KiB'
	must_fall_back 65536 'RLIMIT_MEMLOCK.*io_backend = "auto": using the mmsg backend'
	must_refuse 0 'RLIMIT_MEMLOCK' 'LimitMEMLOCK'
	must_fall_back 0 'io_uring fast path unavailable: .*RLIMIT_MEMLOCK'
	lib_case_stop_helpers
}

for fam in 4 6; do
	run_case "$fam"
done
lib_done
