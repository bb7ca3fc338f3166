#!/bin/bash
# SPDX-License-Identifier: MIT
# The napi block on a listen interface, per backend, one family each: the relay's client-side veth
# gets a NAPI instance (GRO on; the client's veth without TSO, so datagrams go through it),
# which starts with defer_hard_irqs and gro_flush_timeout at 0; after the start the instance
# holds the configured values (read with perf/napi.py in the relay's namespace), the start-up
# log says so in one line per interface with the backend's busy polling, and traffic still
# relays. A reload applies new per-NAPI values, a reload back to the defaults puts the values
# from before the start back, and so does the relay's exit; the link going down and up (veth
# makes its NAPI instance anew, from the device's values) has the block applied again. Then
# once: threaded = true makes the NAPI instance threaded, its thread pinned to the worker's
# CPU (Cpus_allowed_list), where thread_nice (default 5) lowers its priority while the relay
# runs (a reload that moves the listen address to another interface puts both back at once);
# the relay's exit puts the old value and CPUs back and leaves the device threaded, as
# the operator set it; a threaded device of the same name in another namespace keeps its
# thread as it was. Once more where the device was not threaded: the relay turns it on and
# its exit off again. Once on a veth with GRO off, whose only NAPI instance is the one the
# relay's XDP filter makes: the exit switches threaded NAPI off before the program leaves.
# Twice with the relay switching to nobody after its start (its admin thread cannot open the
# sysfs files then): a reload to the defaults and one back to values still write the device's
# files (GRO off: no instance), and a listen address gone from the interface during a reload
# and back leaves it threaded, at the values. Once where switching threaded NAPI off fails
# when a reload leaves the interface (no NAPI instance then): the exit tries again, and the
# device is not left threaded. Once with more NAPI instances (1024) and threads (256) on other
# veths before it than ringrelay notes: the listen interface still gets the values and its
# thread the worker's CPU, with a warning that they will not be put back (Linux 6.13). Before
# Linux 6.9 only the first two threaded cases run.
. "$(dirname "$0")/lib.sh"
lib_topology
command -v ethtool >/dev/null || lib_skip "ethtool not found"
NAPI_PY=$SRC/perf/napi.py

# veth has a NAPI instance only with GRO on (or an XDP program); its NAPI path is taken only
# for frames from a peer without TSO.
lib_nsx "$NS_R" ethtool -K "$IF_RC" gro on >/dev/null 2>&1 || lib_skip "cannot switch GRO on"
lib_nsx "$NS_C" ethtool -K "$IF_C" tx off >/dev/null 2>&1 || lib_skip "cannot switch tx off"

# napi_show KEY: KEY of the NAPI instances of IF_RC, one value a line (napi.py show).
napi_show()
{
	lib_nsx "$NS_R" "$PY" "$NAPI_PY" show "$IF_RC" 2>/dev/null |
		"$PY" -c 'import json,sys
for l in sys.stdin:
    print(json.loads(l).get(sys.argv[1], ""))' "$1"
}
# Before Linux 6.9 (no NAPI_GET: Debian 12's 6.1) only the threaded case runs: the per-NAPI
# cases need the instance listed (their busy polling needs 6.9 too).
if lib_nsx "$NS_R" "$PY" "$NAPI_PY" show "$IF_RC" >/dev/null 2>&1; then
	NAPI_GET=1
	napi_show "id" | grep -q . || lib_skip "no NAPI instance on veth with GRO on"
else
	NAPI_GET=0
	lib_log "no netdev NAPI_GET (kernel $(uname -r)): the threaded case only"
fi
# Per-NAPI values need NAPI_SET (6.13): without it the test checks the sysfs fallback.
if lib_nsx "$NS_R" "$PY" "$NAPI_PY" set "$IF_RC" defer_hard_irqs=0 gro_flush_timeout=0 \
	>/dev/null 2>&1; then
	PER_NAPI=1
else
	PER_NAPI=0
fi

# The device's values before each start, set by the operator (the sysfs files set the device
# and every instance, and a re-made instance starts from them): each case sees its own work,
# and that the relay puts them back.
PRE="1 20000"
preset_values()
{
	lib_nsx "$NS_R" sh -c "echo ${PRE% *} >/sys/class/net/$IF_RC/napi_defer_hard_irqs &&
		echo ${PRE#* } >/sys/class/net/$IF_RC/gro_flush_timeout"
}

# values: "DEFER GRO" as the instance (or, without NAPI_SET, the device) holds them now.
values()
{
	if [ $PER_NAPI = 1 ]; then
		echo "$(napi_show defer_hard_irqs | head -n 1) $(napi_show gro_flush_timeout | head -n 1)"
	else
		echo "$(lib_nsx "$NS_R" cat /sys/class/net/$IF_RC/napi_defer_hard_irqs)" \
			"$(lib_nsx "$NS_R" cat /sys/class/net/$IF_RC/gro_flush_timeout)"
	fi
}
values_are() { [ "$(values)" = "$1" ]; }

# this_cpu: the last CPU this shell may run on (the worker's, for the cases that pin it).
this_cpu() { taskset -pc $$ | sed 's/.*: //; s/.*[,-]//'; }

# threaded_conf: this case's config asking for threaded NAPI (2 200000) with its worker on
# this_cpu (sets cpu).
threaded_conf()
{
	cpu=$(this_cpu)
	napi_conf 2 200000 true
	echo "cpus = [ $cpu ];" >>"$conf"
}

# start_unthreaded: IF_RC not threaded and at PRE (preset_values), then the relay on conf; a
# relay that does not start fails case c, stops its helpers, and it returns 1.
start_unthreaded()
{
	lib_nsx "$NS_R" sh -c "echo 0 > /sys/class/net/$IF_RC/threaded" && preset_values ||
		lib_case_fail "$c cannot make $IF_RC not threaded, at $PRE"
	lib_relay_start "$conf" && return 0
	lib_case_fail "$c relay did not start"
	lib_case_stop_helpers
	return 1
}

# napi_conf DEFER GRO [THREADED]: this case's config (conf) with a napi block, plus the
# settings in NAPI_EXTRA.
napi_conf()
{
	lib_relay_conf "$conf" backend="$CASE_BACKEND" listen="$to" up="$(ep "$UP1_IP" 9000)" \
		"${@:4}"
	echo "napi = { busy_poll_us = 50; defer_hard_irqs = $1; gro_flush_timeout = $2;" \
		"threaded = ${3:-false}; ${NAPI_EXTRA:-} };" >>"$conf"
}

relays()
{
	lib_expect_echo "traffic through the tuned NAPI" --clients 2 --port-base "$1" --count 20 \
		--size 100
}

run_case()
{
	local backend=$1 fam=$2 line want
	lib_case_begin napi "$backend" "$fam"
	lib_case_echo
	preset_values || lib_case_fail "$c cannot set the NAPI values before the start"
	values_are "$PRE" || lib_case_fail "$c values before the start: $(values), want $PRE"
	napi_conf 2 200000
	if ! lib_relay_start "$conf"; then
		lib_case_fail "$c relay did not start"
		lib_case_stop_helpers
		return
	fi
	lib_expect_backend "$backend" || lib_case_fail "$c no 'worker N: backend $backend' line"
	if values_are "2 200000"; then
		lib_case_ok "$c $IF_RC's NAPI holds defer_hard_irqs 2, gro_flush_timeout 200000"
	else
		lib_case_fail "$c $IF_RC's NAPI holds $(values), want 2 200000"
	fi
	line=$(lib_relay_log_current | grep "napi: $IF_RC: " | head -n 1)
	if [ $PER_NAPI = 1 ]; then
		want="busy poll 50 us prefer.*($backend), defer_hard_irqs 2, gro_flush_timeout 200000 ns on 1 NAPI instance, threaded off"
	else
		want="busy poll 50 us prefer.*($backend), defer_hard_irqs 2, gro_flush_timeout 200000 ns per device (sysfs), threaded off"
	fi
	if echo "$line" | grep -q "$want"; then
		lib_case_ok "$c log: ${line#* napi: }"
	else
		lib_case_fail "$c log line '$line', want /$want/"
	fi
	relays $((46000 + fam * 100))

	# A reload applies new per-NAPI values (the busy poll stays: restart-only).
	napi_conf 5 100000
	kill -HUP "$RELAY_PID"
	if lib_wait_for 5 values_are "5 100000"; then
		lib_case_ok "$c reload: defer_hard_irqs 5, gro_flush_timeout 100000"
	else
		lib_case_fail "$c after reload $IF_RC's NAPI holds $(values), want 5 100000"
	fi
	relays $((46050 + fam * 100))

	# A reload back to the defaults puts back what the device held before the start, and
	# says so; a reload to values again sets them again.
	napi_conf 0 0
	kill -HUP "$RELAY_PID"
	if lib_wait_for 5 values_are "$PRE"; then
		lib_case_ok "$c reload to the defaults: $IF_RC's NAPI back at $PRE"
	else
		lib_case_fail "$c after a reload to the defaults $IF_RC's NAPI holds $(values)," \
			"want $PRE (before the start)"
	fi
	want="napi: $IF_RC: .*, per-NAPI values put back (defer_hard_irqs ${PRE% *}, gro_flush_timeout ${PRE#* } ns"
	if lib_wait_for 5 lib_log_count_ge "$want" 1; then
		lib_case_ok "$c log: $(lib_relay_log_current | grep "$want" | sed 's/.* napi: //')"
	else
		lib_case_fail "$c no '$want' in the log after the reload to the defaults"
	fi
	napi_conf 5 100000
	kill -HUP "$RELAY_PID"
	lib_wait_for 5 values_are "5 100000" ||
		lib_case_fail "$c after a reload to 5 100000 again $IF_RC's NAPI holds $(values)"

	# The link goes down and up: veth makes its NAPI instance anew, from the device's values;
	# the link event applies the block again.
	if [ $PER_NAPI = 1 ]; then
		# (IPv6 drops a link's addresses when it goes down, unless told to keep them)
		lib_nsx "$NS_R" sysctl -qw "net.ipv6.conf.$IF_RC.keep_addr_on_down=1"
		lib_nsx "$NS_R" ip link set "$IF_RC" down
		lib_nsx "$NS_R" ip link set "$IF_RC" up
		lib_wait_for 5 lib__link_up "$NS_R" "$IF_RC"
		if lib_wait_for 5 values_are "5 100000"; then
			lib_case_ok "$c $IF_RC down and up: its new NAPI instance holds 5 100000"
		else
			lib_case_fail "$c after $IF_RC went down and up its NAPI holds $(values)," \
				"want 5 100000"
		fi
		relays $((46070 + fam * 100))
	fi
	lib_relay_alive || lib_case_fail "$c relay died"
	lib_case_end
	# The exit puts back what the device held before the start.
	put_back "put back defer_hard_irqs ${PRE% *}"
}

# put_back PATTERN: after the relay's exit IF_RC holds PRE again, and its log says so in a
# line 'napi: IF_RC: PATTERN'.
put_back()
{
	if values_are "$PRE"; then
		lib_case_ok "$c the relay's exit put $IF_RC's values back at $PRE"
	else
		lib_case_fail "$c after the exit $IF_RC holds $(values), want $PRE"
	fi
	exit_logged "$1"
}

# exit_logged PATTERN: the relay's log has a line 'napi: IF_RC: PATTERN' (the case passes
# with it, or fails naming the pattern).
exit_logged()
{
	local line
	line=$(lib_relay_log_current | grep "napi: $IF_RC: $1")
	if [ -n "$line" ]; then
		lib_case_ok "$c log: ${line#* napi: }"
	else
		lib_case_fail "$c no 'napi: $IF_RC: $1' at the exit"
	fi
}

# name_pids: the threads named napi/IF_RC-*, in every namespace (the name cut to 15 bytes).
name_pids()
{
	local p comm
	# (read, not cat: a process per entry of /proc made this take seconds on a busy host)
	for p in /proc/[0-9]*; do
		comm=
		read -r comm 2>/dev/null <"$p/comm"
		case $comm in "napi/$IF_RC-"*) echo "${p#/proc/}" ;; esac
	done
}

# threaded_on NS IF: makes IF's NAPI threaded in NS; prints the thread made for it, found as
# the new one of that name (the name is cut to 15 bytes and another namespace may have one
# of the same: only the moment it appeared tells it, on every kernel).
threaded_on()
{
	local old p
	old=$(name_pids)
	lib_nsx "$1" sh -c "echo 1 > /sys/class/net/$2/threaded" || return 1
	for p in $(name_pids); do
		echo "$old" | grep -qx "$p" || echo "$p"
	done | head -n 1
}

allowed_cpus() { sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' "/proc/$1/status"; }
threaded() { lib_nsx "$NS_R" cat "/sys/class/net/$IF_RC/threaded"; }

# thread_nice PID: the nice value of thread PID.
thread_nice() { ps -o nice= -p "$1" | tr -d ' '; }
nice_is() { [ "$(thread_nice "$1")" = "$2" ]; }

# reload_nice VALUE WANT: reloads run_threaded's relay with napi.thread_nice = VALUE; the
# NAPI thread $pid must then be at nice WANT.
reload_nice()
{
	NAPI_EXTRA="thread_nice = $1;" napi_conf 2 200000 true
	echo "cpus = [ $cpu ];" >>"$conf"
	kill -HUP "$RELAY_PID"
	if lib_wait_for 5 nice_is "$pid" "$2"; then
		lib_case_ok "$c reload to thread_nice = $1: NAPI thread $pid at nice $2"
	else
		lib_case_fail "$c reload to thread_nice = $1: NAPI thread $pid at nice" \
			"'$(thread_nice "$pid")', want $2"
	fi
}

# Once: threaded = true, the worker on the last allowed CPU; the NAPI thread must follow it.
run_threaded()
{
	local pid cpu allowed before decoy decoy_cpus pid_cpus
	lib_case_begin napi-threaded io_uring 4
	lib_case_echo
	threaded_conf
	# A decoy first: a device of the same name in another namespace (the upstream's), with a
	# threaded NAPI instance too. Its thread has our thread's name; before 6.9 only
	# ringrelay's BPF task iterator tells them apart. It must keep its CPUs and nice value.
	lib_nsx "$NS_U" ip link add "$IF_RC" type veth peer name "$IF_RC-d" &&
		lib_nsx "$NS_U" ip link set "$IF_RC" up && lib_nsx "$NS_U" ip link set "$IF_RC-d" up &&
		lib_nsx "$NS_U" ethtool -K "$IF_RC" gro on >/dev/null &&
		decoy=$(threaded_on "$NS_U" "$IF_RC") && [ -n "$decoy" ] ||
		lib_case_fail "$c cannot make a threaded $IF_RC in $NS_U"
	[ -n "$decoy" ] && decoy_cpus=$(allowed_cpus "$decoy")
	# The thread as threaded = true will find it (made now, kept by the device setting),
	# at a value of its own, so the test sees ringrelay's change and its undoing.
	pid=$(threaded_on "$NS_R" "$IF_RC") && [ -n "$pid" ] ||
		lib_case_fail "$c cannot make $IF_RC's NAPI threaded"
	before=2
	[ -n "$pid" ] && renice -n $before -p "$pid" >/dev/null && pid_cpus=$(allowed_cpus "$pid")
	if ! lib_relay_start "$conf"; then
		lib_case_fail "$c relay did not start"
		lib_case_stop_helpers
		return
	fi
	if [ -n "$pid" ] && [ -r "/proc/$pid/status" ]; then
		allowed=$(allowed_cpus "$pid")
		if [ "$allowed" = "$cpu" ]; then
			lib_case_ok "$c NAPI thread $pid ($(cat /proc/$pid/comm)) on CPU $allowed"
		else
			lib_case_fail "$c NAPI thread $pid allowed on CPUs '$allowed', want $cpu"
		fi
	else
		lib_case_fail "$c no NAPI thread for $IF_RC (threaded = true)"
	fi
	lib_relay_log_current | grep -q "napi: $IF_RC: .*threaded on (napi/.* on CPU $cpu)" ||
		lib_case_fail "$c no 'threaded on (napi/... on CPU $cpu)' in the log line"
	# ringrelayctl status lists that thread (before 6.9 the one the napi block found: the
	# control thread holds no CAP_BPF to look again), and not the decoy
	local st
	st=$("${RINGRELAYCTL:-$BUILD/ringrelayctl}" -s "$TMPD/run/ctl.sock" -j status | "$PY" -c 'import json,sys
j = json.load(sys.stdin)
rx = [i for i in j["receive_path"]["interfaces"] if i["name"] == sys.argv[1]][0]
print(" ".join("%d@%s" % (t["pid"], ",".join(map(str, t["cpus"]))) for t in rx["napi_threads"]))' \
		"$IF_RC" 2>&1)
	if [ "$st" = "$pid@$cpu" ]; then
		lib_case_ok "$c status lists NAPI thread $pid on CPU $cpu"
	else
		lib_case_fail "$c status lists NAPI threads '$st', want '$pid@$cpu'"
	fi
	if [ -n "$decoy" ]; then
		if [ "$(allowed_cpus "$decoy")" = "$decoy_cpus" ] && nice_is "$decoy" 0; then
			lib_case_ok "$c $NS_U's $IF_RC thread $decoy left alone (CPUs $decoy_cpus, nice 0)"
		else
			lib_case_fail "$c $NS_U's $IF_RC thread $decoy changed: CPUs" \
				"'$(allowed_cpus "$decoy")' (was $decoy_cpus), nice '$(thread_nice "$decoy")'"
		fi
	fi
	relays 46900
	if [ -n "$pid" ]; then
		if [ "$(thread_nice "$pid")" = 5 ]; then
			lib_case_ok "$c NAPI thread $pid at nice 5 (thread_nice's default)"
		else
			lib_case_fail "$c NAPI thread $pid at nice '$(thread_nice "$pid")', want 5"
		fi
		lib_relay_log_current | grep -q "napi: $IF_RC: .*, 1 NAPI thread on worker CPUs at nice 5" ||
			lib_case_fail "$c no '1 NAPI thread on worker CPUs at nice 5' in the log line"
		# A reload applies a new value, 0 puts the old one back, and a value again after
		# that still remembers the thread's own (what the exit below puts back).
		reload_nice 7 7
		reload_nice 0 "$before"
		reload_nice 5 5
		# A reload that moves the listen address to IF_RU: IF_RC is no longer a listen
		# interface, and its thread gets its own nice value and CPUs back at once.
		to=$(ep "$RELAY_UP_IP" 5000) napi_conf 2 200000 true
		echo "cpus = [ $cpu ];" >>"$conf"
		lib_relay_hup || lib_case_fail "$c no reload to a listen address on $IF_RU"
		if nice_is "$pid" "$before" && [ "$(allowed_cpus "$pid")" = "$pid_cpus" ]; then
			lib_case_ok "$c $IF_RC no longer a listen interface: NAPI thread $pid back at" \
				"nice $before, CPUs $pid_cpus"
		else
			lib_case_fail "$c $IF_RC no longer a listen interface: NAPI thread $pid at" \
				"nice '$(thread_nice "$pid")', CPUs '$(allowed_cpus "$pid")', want" \
				"$before and $pid_cpus"
		fi
	fi
	lib_case_end
	if [ -n "$pid" ]; then
		if [ "$(thread_nice "$pid")" = "$before" ]; then
			lib_case_ok "$c the relay's exit put NAPI thread $pid back at nice $before"
		else
			lib_case_fail "$c after the exit NAPI thread $pid is at nice" \
				"'$(thread_nice "$pid")', want $before"
		fi
		if [ "$(allowed_cpus "$pid")" = "$pid_cpus" ]; then
			lib_case_ok "$c the relay's exit put NAPI thread $pid back on CPUs $pid_cpus"
		else
			lib_case_fail "$c after the exit NAPI thread $pid is allowed on CPUs" \
				"'$(allowed_cpus "$pid")', want $pid_cpus"
		fi
	fi
	# The operator made the device threaded: it stays so.
	if [ "$(threaded)" = 1 ]; then
		lib_case_ok "$c the relay's exit left $IF_RC threaded, as it found it"
	else
		lib_case_fail "$c after the exit $IF_RC's threaded is '$(threaded)', want 1"
	fi
}

# Once: threaded = true on a device that is not threaded: the relay turns it on, and its exit
# off again, with the per-NAPI values back as they were.
run_threaded_by_relay()
{
	local cpu
	lib_case_begin napi-threaded-on io_uring 4
	lib_case_echo
	threaded_conf
	start_unthreaded || return
	if [ "$(threaded)" = 1 ] &&
		lib_relay_log_current | grep -q "napi: $IF_RC: .*threaded on (napi/.* on CPU $cpu)"; then
		lib_case_ok "$c the relay made $IF_RC threaded, its thread on CPU $cpu"
	else
		lib_case_fail "$c $IF_RC's threaded is '$(threaded)' after the start, want 1 and" \
			"'threaded on (napi/... on CPU $cpu)' in the log"
	fi
	relays 46950
	lib_case_end
	if [ "$(threaded)" = 0 ]; then
		lib_case_ok "$c the relay's exit switched $IF_RC's threaded NAPI off again"
	else
		lib_case_fail "$c after the exit $IF_RC's threaded is '$(threaded)', want 0"
	fi
	put_back "put back .*threaded off"
}

# Once: a device whose only NAPI instance is the one ringrelay's XDP program makes (veth with
# GRO off). threaded = true switches it on; the exit puts it back before the program leaves,
# while the instance is still there to take the write (after it, the kernel refuses the
# write: the device would stay threaded).
run_xdp_only()
{
	local cpu
	lib_case_begin napi-xdp-only io_uring 4
	lib_case_echo
	threaded_conf
	echo "filter = { interfaces = [ \"$IF_RC\" ]; mode = \"xdp\"; };" >>"$conf"
	lib_nsx "$NS_R" sh -c "echo 0 > /sys/class/net/$IF_RC/threaded" &&
		lib_nsx "$NS_R" ethtool -K "$IF_RC" gro off >/dev/null &&
		[ -z "$(napi_show id)" ] ||
		lib_case_fail "$c cannot leave $IF_RC without a NAPI instance, not threaded"
	if ! lib_relay_start "$conf"; then
		lib_case_fail "$c relay did not start"
		lib_case_stop_helpers
		return
	fi
	if [ "$(threaded)" = 1 ] && [ -n "$(napi_show id)" ]; then
		lib_case_ok "$c the relay's XDP program made a NAPI instance, which it made threaded"
	else
		lib_case_fail "$c after the start $IF_RC's threaded is '$(threaded)', NAPI" \
			"instances '$(napi_show id)', want 1 and one"
	fi
	relays 46980
	lib_case_end
	if [ "$(threaded)" = 0 ]; then
		lib_case_ok "$c the relay's exit switched $IF_RC's threaded NAPI off before the" \
			"XDP program left"
	else
		lib_case_fail "$c after the exit $IF_RC's threaded is '$(threaded)', want 0"
	fi
	exit_logged "put back .*threaded off"
	lib_nsx "$NS_R" ethtool -K "$IF_RC" gro on >/dev/null
}

# nobody_conf DEFER GRO THREADED: napi_conf for a relay that switches to nobody after its
# start (its reloads read the file as nobody).
nobody_conf()
{
	napi_conf "$@"
	echo 'user = "nobody";' >>"$conf"
	chmod 644 "$conf"
}

# Once: the relay switches IF_RC to threaded NAPI; its NAPI instance goes away (GRO off; the
# device stays threaded), and a reload moves the listen address to IF_RU: IF_RC is no longer a
# listen interface, and switching its threaded NAPI off fails (no instance). That is kept and
# tried again at the exit, when the instance is back (GRO on): the device is not left
# threaded.
run_put_back_failed()
{
	local cpu
	lib_case_begin napi-put-back-failed io_uring 4
	lib_case_echo
	threaded_conf
	start_unthreaded || return
	[ "$(threaded)" = 1 ] ||
		lib_case_fail "$c after the start $IF_RC's threaded is '$(threaded)', want 1"
	lib_nsx "$NS_R" ethtool -K "$IF_RC" gro off >/dev/null
	to=$(ep "$RELAY_UP_IP" 5000) napi_conf 2 200000 true
	echo "cpus = [ $cpu ];" >>"$conf"
	lib_relay_hup || lib_case_fail "$c no reload to a listen address on $IF_RU"
	if lib_relay_log_current | grep -q "napi: $IF_RC: .*threaded back to 0: "; then
		lib_case_ok "$c $IF_RC without a NAPI instance: threaded NAPI could not go off"
	else
		lib_case_fail "$c no 'napi: $IF_RC: ... threaded back to 0: ...' after the reload"
	fi
	lib_nsx "$NS_R" ethtool -K "$IF_RC" gro on >/dev/null
	lib_case_end
	if [ "$(threaded)" = 0 ]; then
		lib_case_ok "$c the relay's exit switched $IF_RC's threaded NAPI off, which a" \
			"reload could not"
	else
		lib_case_fail "$c after the exit $IF_RC's threaded is '$(threaded)', want 0"
	fi
}

# big_veths Q...: a veth big1, big2, ... in NS_R (their peers in NS_C) for each Q, with Q queues,
# GRO on (a NAPI instance per queue), big K at 198.18.(10+K).2/24. (Fewer than 200 threaded
# or 240 not: ringrelay reads the kernel's first 16 KiB answer of a NAPI listing only.)
big_veths()
{
	local k=0 q
	for q in "$@"; do
		k=$((k + 1))
		ip link add "big$k" netns "$NS_R" numrxqueues "$q" numtxqueues "$q" type veth peer \
			name "pbig$k" netns "$NS_C" numrxqueues "$q" numtxqueues "$q" &&
			lib_nsx "$NS_R" ip addr add "198.18.$((10 + k)).2/24" dev "big$k" &&
			lib_nsx "$NS_R" ip link set "big$k" up && lib_nsx "$NS_C" ip link set "pbig$k" up &&
			lib_nsx "$NS_R" ethtool -K "big$k" gro on >/dev/null || return 1
	done
}

# full_conf N DEFER GRO THREADED: a config that listens on big1..bigN first, then on IF_RC.
full_conf()
{
	local k listens=()
	for k in $(seq "$1"); do
		listens+=("listen=198.18.$((10 + k)).2:5000")
	done
	lib_relay_conf "$conf" backend="$CASE_BACKEND" "${listens[@]}" listen="$to" \
		up="$(ep "$UP1_IP" 9000)"
	echo "napi = { defer_hard_irqs = $2; gro_flush_timeout = $3; threaded = $4; };" >>"$conf"
	echo "cpus = [ $cpu ];" >>"$conf"
}

# Once: more NAPI instances than ringrelay notes (1024 on five veths, three of 256 queues, whose
# listing takes more than one read of the kernel's dump, then IF_RC) and more NAPI
# threads than it notes the CPUs of (256 on two of them, then IF_RC). IF_RC, last, still gets
# the values and its thread the worker's CPU, with one warning each that they will not be put
# back.
run_full_tables()
{
	local cpu tid
	lib_case_begin napi-full io_uring 4
	lib_case_echo
	cpu=$(this_cpu)
	lib_nsx "$NS_R" sh -c "echo 0 > /sys/class/net/$IF_RC/threaded" && preset_values &&
		big_veths 128 128 256 256 256 || lib_case_fail "$c cannot make veths of 1024 queues"
	full_conf 5 2 200000 false
	if ! lib_relay_start "$conf"; then
		lib_case_fail "$c relay did not start"
		lib_case_stop_helpers
		return
	fi
	if lib_wait_for 5 values_are "2 200000"; then
		lib_case_ok "$c the 1025th NAPI instance ($IF_RC's) holds 2 200000"
	else
		lib_case_fail "$c with 1024 instances noted before it, $IF_RC's holds $(values)," \
			"want 2 200000"
	fi
	lib_relay_log_current |
		grep -q "napi: $IF_RC: per-NAPI values set on 1 NAPI instance that will not be put back" ||
		lib_case_fail "$c no 'per-NAPI values set on 1 NAPI instance that will not be put" \
			"back' for $IF_RC"
	lib_relay_stop || lib_case_fail "$c relay exit status $?"

	full_conf 2 0 0 true
	if ! lib_relay_start "$conf"; then
		lib_case_fail "$c relay did not start"
		lib_case_stop_helpers
		return
	fi
	tid=$(lib_nsx "$NS_R" "$PY" "$NAPI_PY" pids "$IF_RC" 2>/dev/null | head -n 1)
	if [ -n "$tid" ] && [ "$(allowed_cpus "$tid")" = "$cpu" ]; then
		lib_case_ok "$c the 257th NAPI thread ($IF_RC's, $tid) on CPU $cpu"
	else
		lib_case_fail "$c with 256 threads pinned before it, $IF_RC's thread '$tid' is" \
			"allowed on CPUs '$(allowed_cpus "$tid" 2>/dev/null)', want $cpu"
	fi
	lib_relay_log_current |
		grep -q "napi: $IF_RC: 1 NAPI thread pinned that will not get their CPUs back" ||
		lib_case_fail "$c no '1 NAPI thread pinned that will not get their CPUs back' for" \
			"$IF_RC"
	lib_case_end
	lib_nsx "$NS_R" sh -c 'for k in 1 2 3 4 5 6; do ip link del "big$k"; done'
}

# sysfs_values: "DEFER GRO" as IF_RC's sysfs files hold them.
sysfs_values()
{
	echo "$(lib_nsx "$NS_R" cat /sys/class/net/$IF_RC/napi_defer_hard_irqs)" \
		"$(lib_nsx "$NS_R" cat /sys/class/net/$IF_RC/gro_flush_timeout)"
}
sysfs_values_are() { [ "$(sysfs_values)" = "$1" ]; }

# Once, the relay switching to nobody after its start, so that its admin thread can no longer
# open the sysfs files (root's): a veth with GRO off has no NAPI instance, and the values go to
# the device's files. A reload back to the defaults puts them back; a reload to values again
# must still write them, through the files the start opened.
run_nobody_sysfs()
{
	lib_case_begin napi-nobody-sysfs io_uring 4
	lib_case_echo
	nobody_conf 2 200000 false
	lib_nsx "$NS_R" ethtool -K "$IF_RC" gro off >/dev/null && [ -z "$(napi_show id)" ] &&
		preset_values ||
		lib_case_fail "$c cannot leave $IF_RC without a NAPI instance, at $PRE"
	if ! lib_relay_start "$conf"; then
		lib_case_fail "$c relay did not start"
		lib_case_stop_helpers
		return
	fi
	sysfs_values_are "2 200000" ||
		lib_case_fail "$c after the start $IF_RC's sysfs values are $(sysfs_values)"
	nobody_conf 0 0 false
	lib_relay_hup || lib_case_fail "$c no reload to the defaults"
	sysfs_values_are "$PRE" ||
		lib_case_fail "$c after a reload to the defaults $IF_RC's sysfs values are" \
			"$(sysfs_values), want $PRE"
	nobody_conf 5 100000 false
	lib_relay_hup || lib_case_fail "$c no reload to values again"
	if sysfs_values_are "5 100000"; then
		lib_case_ok "$c as nobody, a reload to values after one to the defaults: $IF_RC's" \
			"sysfs values 5 100000"
	else
		lib_case_fail "$c as nobody, after a reload to the defaults and one to 5 100000" \
			"$IF_RC's sysfs values are $(sysfs_values)"
	fi
	lib_case_end
	lib_nsx "$NS_R" ethtool -K "$IF_RC" gro on >/dev/null
}

# Once, the relay switching to nobody: its listen address leaves the interface for a moment
# (a moving address) while a reload runs, and comes back. The interface stays tuned (its
# settings are not put back for a moment and then found closed to nobody): threaded NAPI and
# the values are still in force after the address is back and a reload ran.
run_nobody_addr_gone()
{
	local cpu
	lib_case_begin napi-nobody-addr io_uring 4
	lib_case_echo
	cpu=$(this_cpu)
	nobody_conf 2 200000 true
	echo "cpus = [ $cpu ];" >>"$conf"
	start_unthreaded || return
	[ "$(threaded)" = 1 ] && values_are "2 200000" ||
		lib_case_fail "$c after the start $IF_RC's threaded is '$(threaded)', values" \
			"$(values), want 1 and 2 200000"
	lib_nsx "$NS_R" ip addr del "$RELAY_IP/24" dev "$IF_RC"
	lib_relay_hup || lib_case_fail "$c no reload while the address is gone"
	lib_relay_log_current | grep -q "napi: $IF_RC keeps its napi settings: a listen address" ||
		lib_case_fail "$c no 'napi: $IF_RC keeps its napi settings' after the reload"
	lib_nsx "$NS_R" ip addr add "$RELAY_IP/24" dev "$IF_RC"
	lib_relay_hup || lib_case_fail "$c no reload once the address is back"
	if [ "$(threaded)" = 1 ] && values_are "2 200000"; then
		lib_case_ok "$c as nobody, $RELAY_IP gone from $IF_RC during a reload and back:" \
			"threaded 1, values 2 200000"
	else
		lib_case_fail "$c as nobody, after $RELAY_IP left $IF_RC during a reload and came" \
			"back, threaded is '$(threaded)', values $(values), want 1 and 2 200000"
	fi
	relays 46990
	lib_case_end
	put_back "put back .*threaded off"
}

# Each backend once and each family once (io_uring in IPv4, mmsg in IPv6): the family only
# decides which interface the listen address is on, the backend only the busy polling.
if [ $NAPI_GET = 1 ]; then
	fam=4
	for backend in $(lib_backends); do
		run_case "$backend" "$fam"
		fam=$((10 - fam))
	done
fi
run_threaded
run_threaded_by_relay
if [ $NAPI_GET = 1 ]; then
	run_xdp_only
	run_put_back_failed
	[ $PER_NAPI = 1 ] && run_full_tables
fi
if ! id -u nobody >/dev/null 2>&1; then
	lib_log "no user 'nobody': the cases as nobody do not run"
elif [ $NAPI_GET = 1 ]; then
	run_nobody_sysfs
	run_nobody_addr_gone
fi
lib_done
