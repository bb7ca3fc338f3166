#!/bin/bash
# SPDX-License-Identifier: MIT
# Reloads while one worker is stuck (its thread stopped alone with ptrace: thread_stop.py; the
# other threads run on), with the BPF program loaded for early shedding (shed = "auto", the
# default, on veth-rc):
#   - status answers at once, and sessions (which asks every worker) fails after its wait (W,
#     below) with an error that names the stuck worker;
#   - a reload to shed = "off" (no program wanted) reaches worker 0 only: the program stays
#     loaded for the stuck worker, which may still use it, but sheds nowhere, as status says
#     (before, its shedding hook stayed on veth-rc while status said off);
#   - a reload the relays refuse (a held port) that wants shedding again leaves the kept
#     program shedding nowhere: refused before shedding follows it, it attaches nothing
#     (before, the refused reload's hook stayed; later it was attached, then taken off);
#   - once the worker runs again, a reload reaches both workers and the program goes;
#     traffic is relayed at the start and at the end;
#   - a SIGTERM while a worker is stuck (a relay of its own, each backend, shedding in a
#     classic tc filter): the relay waits W for its loop, says so, removes the filter and
#     its pid file and exits with status 1 (before, it waited for the worker until systemd
#     killed it, which leaves both);
#   - the same (once, the first backend) with the worker stuck in the middle of a reload
#     (stopped as it binds the new listener): the reload gives up on it W after the SIGTERM
#     and the stop goes on as above (before, the admin thread waited for the reload's end,
#     and the stop for the admin thread, until the worker ran again);
#   - a worker whose loop ends on an error stops the process with status 1 (dead_worker).
# The reload cases follow shedding's tcx link (Linux 6.6); without one only the stop cases run.
# W: how long the relay waits for a worker before it counts as stuck, 5 s by default; 1.5 s
# here (RINGRELAY_WORKER_WAIT_MS, the shortest it takes; longer with NET_WAIT_SCALE).
. "$(dirname "$0")/lib.sh"
lib_topology

export RINGRELAY_WORKER_WAIT_MS=$((WAIT_SCALE > 3 ? 5000 : 1500 * WAIT_SCALE))
# wait_ms: W as the running relay took it (its start's log line), else the default (a relay
# that does not know the variable).
wait_ms()
{
	local ms
	ms=$(lib_relay_log_current | grep -o "workers: [0-9]* ms before one counts as stuck" |
		tail -n 1 | cut -d' ' -f2)
	echo "${ms:-5000}"
}


# shed_link: the BPF link of the last "shed: on veth-rc in ..." log line (bpftool 7.1 does
# not list tcx attachments by device); shed_hooked ID: that link still exists. shed_prog:
# the program's id, from the same line.
shed_line()
{
	lib_relay_log_current | grep -o "shed: on $IF_RC in [A-Za-z ]* (link [0-9]*, prog [0-9]*" |
		tail -n 1
}
shed_link() { shed_line | grep -o 'link [0-9]*' | cut -d' ' -f2; }
shed_prog() { shed_line | grep -o 'prog [0-9]*' | cut -d' ' -f2; }
shed_hooked() { bpftool link show id "$1" >/dev/null 2>&1; }
# shed_on: whether status says relay t sheds (configured: "True"/"False"; not: "-").
shed_on()
{
	"$BUILD/ringrelayctl" -s "$TMPD/run/ctl.sock" -j status | "$PY" -c '
import json, sys
r = json.load(sys.stdin)["relays"][0]
print(r["shed"]["on"] if "shed" in r else "-")'
}
# stop_worker1 OUT: worker 1 stopped for up to 60 s (lib_worker_stop); stop_pid resumes it.
stop_worker1()
{
	lib_worker_stop 1 60 "$1" || lib_fail "$c worker 1 was not stopped"
	stop_pid=$STOP_PID
}
set_shed() { sed -i "s/shed = \"[a-z]*\";/shed = \"$1\";/" "$conf"; }
relayed() { lib_expect_echo "$2" --clients 8 --port-base "$1" --count 5 --size 50; }

command -v bpftool >/dev/null || lib_skip "bpftool not found"
# case_skip WHY: this case cannot run here; the relay and helpers go, the other cases run.
case_skip()
{
	lib_log "SKIP $c: $*"
	lib_relay_stop
	lib_case_stop_helpers
}

# 0-3: reloads while worker 1 is stuck.
reload_cases()
{
	lib_case_begin stuck io_uring 4
	lib_case_echo
	lib_case_start workers=2 shed=auto || return
	if ! lib_relay_log_current | grep -q "relay t: shed on"; then
		case_skip "shedding is off here: $(lib_relay_log_current | grep 'relay t: shed')"
		return
	fi
	link=$(shed_link)
	prog=$(shed_prog)
	# Before Linux 6.6 tc programs sit in classic clsact filters, without a link to follow.
	if [ -z "$link" ]; then
		case_skip "no tcx link for shedding: $(lib_relay_log_current | grep 'shed: on')"
		return
	fi
	shed_hooked "$link" || lib_fail "$c shedding link $link on $IF_RC is not there"
	relayed 41000 "relayed at start"

	stop_worker1 "$TMPD/stop.out"

	# 0. The control socket still answers: status at once, sessions (which asks every worker)
	# with an error naming the stuck one, after its wait (W).
	out=$(timeout 3 "$BUILD/ringrelayctl" -s "$TMPD/run/ctl.sock" status 2>&1) ||
		lib_case_fail "$c status with worker 1 stopped: $out"
	if out=$(timeout 10 "$BUILD/ringrelayctl" -s "$TMPD/run/ctl.sock" sessions 2>&1); then
		lib_case_fail "$c sessions with worker 1 stopped succeeded: $out"
	elif echo "$out" | grep -q "worker 1 did not answer within $(wait_ms) ms"; then
		lib_case_ok "$c sessions with worker 1 stopped: $out"
	else
		lib_case_fail "$c sessions with worker 1 stopped: $out"
	fi

	# 1. Shedding off while worker 1 is stuck.
	set_shed off
	# (the line app_reload writes last, after the program's fate)
	if ! lib_relay_hup "reload applied to the relays, but: worker 1 did not take"; then
		lib_case_fail "$c a reload with worker 1 stopped did not say it was stuck"
	elif ! lib_relay_log_current | grep -q "BPF program stays loaded until every worker"; then
		lib_case_fail "$c the program was not kept for the stuck worker"
	elif shed_hooked "$link"; then
		lib_case_fail "$c shed = \"off\" applied, status says $(shed_on), but the kept program" \
			"still sheds on $IF_RC (link $link)"
	else
		lib_case_ok "$c shed = \"off\" with worker 1 stuck: program kept, no hook on $IF_RC"
	fi

	# 2. A refused reload back to shedding, still stuck: refused before shedding follows it,
	# it attaches nothing, not even for a moment.
	held=$(ep "$RELAY_IP" 5009)
	# (a holder the relay sees: refused at once, not after a 3 s wait for it to go)
	lib_hold_port "$NS_R" "$held" 60 "$TMPD/holder.json"
	holder_pid=$BG_PID
	set_shed auto
	sed -i "s/listen = \[ \"[^]]*\" \]/listen = [ \"$to\", \"$held\" ]/" "$conf"
	grep -qF "$held" "$conf" || lib_case_fail "$c could not add $held to $conf"
	local attached
	attached=$(lib_log_count "shed: on")
	if ! lib_relay_hup "reload failed"; then
		lib_case_fail "$c a reload onto a held port was not refused"
	elif [ "$(lib_log_count "shed: on")" != "$attached" ]; then
		lib_case_fail "$c the refused reload attached shedding: $(lib_relay_log_current |
			grep 'shed:' | tail -n 2)"
	elif shed_hooked "$(shed_link)"; then
		lib_case_fail "$c after the refused reload the kept program sheds on $IF_RC" \
			"(link $(shed_link))"
	else
		lib_case_ok "$c a refused reload that wanted shedding attached nothing on $IF_RC"
	fi
	lib_stop_pid "$holder_pid"

	# 3. Worker 1 runs again: the next reload reaches both, and the program goes.
	lib_stop_pid "$stop_pid"
	grep -q resumed "$TMPD/stop.out" || lib_case_fail "$c worker 1 was not resumed"
	sed -i "s/listen = \[ \"[^]]*\" \]/listen = [ \"$to\" ]/" "$conf"
	set_shed off
	# (counted: the lines before this reload's are case 1's, with its "did not take")
	local stuck
	stuck=$(lib_log_count "did not take")
	if ! lib_relay_hup "reload: .* applied"; then
		lib_case_fail "$c the reload after worker 1 came back did not apply"
	elif [ "$(lib_log_count "did not take")" != "$stuck" ]; then
		lib_case_fail "$c worker 1 is still stuck after it was resumed"
	else
		lib_case_ok "$c worker 1 back: the reload reached both workers"
	fi
	if bpftool prog show id "$prog" >/dev/null 2>&1; then
		lib_case_fail "$c the program (id $prog) is still loaded after a reload reached every worker"
	else
		lib_case_ok "$c the program (id $prog) is gone"
	fi
	relayed 42000 "relayed after the reloads"
	lib_relay_alive || lib_case_fail "$c relay died"
	lib_case_end
	RAN=$((RAN + 1))
}

# 4. A stop while worker 1 is stuck, in a relay of its own whose shedding sits in a classic
# tc filter (which outlives a killed process, unlike a tcx link): the relay waits W for
# the loop, says so, removes the filter and its pid file, and exits with status 1.
# stop_stuck BACKEND [midway]: midway, worker 1 is stuck in the middle of a reload (it stops
# as it binds the reload's new listener) when the SIGTERM comes: the reload's wait ends W
# after it, and the stop's wait for the loops W/2 later.
# classic_filter: ringrelay's classic filter (handle 0x5252) on IF_RC's ingress, if any.
classic_filter() { lib_nsx "$NS_R" tc filter show dev "$IF_RC" ingress | grep -i "handle 0x5252"; }
stop_stuck()
{
	local t0 t1 ms st stop_pid pidf=$TMPD/run/ringrelay.pid want out
	out=$TMPD/stop-$1${2:+-$2}.out
	lib_case_begin "stop${2:+-$2}" "$1" 4
	lib_case_echo
	lib_relay_conf "$conf" backend="$CASE_BACKEND" listen="$to" up="$(ep "$UP1_IP" 9000)" \
		workers=2 shed=auto
	printf '%s\n' "pid_file = \"$pidf\";" 'shed_hook = "tc";' \
		'filter = { mode = "off"; tc_hook = "clsact"; };' >>"$conf"
	lib_relay_start "$conf" || lib_fail "$c relay did not start"
	lib_expect_backend "$CASE_BACKEND" ||
		lib_case_fail "$c no 'worker N: backend $CASE_BACKEND' log line"
	if ! classic_filter >/dev/null; then
		case_skip "no classic filter on $IF_RC for shedding: $(lib_relay_log_current |
			grep 'shed:')"
		return
	fi
	[ -s "$pidf" ] || lib_case_fail "$c no pid file $pidf"
	relayed 43000 "relayed before the stop"
	want=$(wait_ms)
	if [ "$2" = midway ]; then
		want=$((want * 3 / 2))
		lib_worker_stop 1 60 "$out" bind || lib_fail "$c worker 1 was not traced"
		stop_pid=$STOP_PID
		sed -i "s/listen = \[ \"[^]]*\" \]/listen = [ \"$to\", \"$(ep "$RELAY_IP" 5011)\" ]/" \
			"$conf"
		kill -HUP "$RELAY_PID"
		lib_wait_for 10 grep -q "stopped .* in bind" "$out" ||
			lib_fail "$c worker 1 did not stop in the reload's bind: $(cat "$out")"
	else
		stop_worker1 "$out"
	fi
	t0=${EPOCHREALTIME/./}
	kill -TERM "$RELAY_PID"
	if lib_wait_for 20 lib_log_count_ge "exiting with 1 stuck worker" 1; then
		t1=${EPOCHREALTIME/./}
		ms=$(((t1 - t0) / 1000))
		lib_log_count_ge "worker 1 did not stop within [0-9]* ms" 1 ||
			lib_case_fail "$c the exit did not name worker 1"
		[ "$2" != midway ] || lib_log_count_ge "worker 1 had not finished applying the \
configuration when the process stopped" 1 || lib_case_fail "$c the reload did not name worker 1"
		# (not before the wait, nor 5 s after it: seen up to 50 ms late)
		if [ "$ms" -lt $((want - 100)) ] || [ "$ms" -gt $((want + 5000)) ]; then
			lib_case_fail "$c gave up on worker 1 after $ms ms, want about $want"
		else
			lib_case_ok "$c SIGTERM with worker 1 stuck${2:+ $2}: gave up on it after" \
				"$ms ms (W $(wait_ms) ms)"
		fi
	else
		lib_case_fail "$c no 'exiting with 1 stuck worker' line within 20 s of SIGTERM"
	fi
	# (A traced thread's exit waits for its tracer: the process is gone once the helper is.)
	lib_stop_pid "$stop_pid"
	if ! lib_wait_gone "$RELAY_PID" 5; then
		lib_case_fail "$c the relay did not exit once worker 1 was released"
		kill -KILL "$RELAY_PID"
	fi
	wait "$RELAY_PID"
	st=$?
	RELAY_PID=
	[ "$st" -eq 1 ] || lib_case_fail "$c exit status $st with worker 1 stuck, want 1"
	if classic_filter; then
		lib_case_fail "$c the classic filter is still on $IF_RC"
		lib_nsx "$NS_R" tc qdisc del dev "$IF_RC" clsact
	else
		lib_case_ok "$c no classic filter left on $IF_RC"
	fi
	[ -e "$pidf" ] && lib_case_fail "$c the pid file is still there"
	lib_case_stop_helpers
	RAN=$((RAN + 1))
}

# dead_worker: a worker whose loop ends on an error (its epoll descriptor closed under it
# with gdb: epoll_wait fails with EBADF, or EINVAL once a new socket took the number) stops
# the process with status 1 and a line that names it, so that systemd (Restart=on-failure) starts the relay again whole; before, the
# other worker went on and the dead one's sockets, sessions and timers were gone unsaid.
dead_worker()
{
	local epfd st
	lib_case_begin dead mmsg 4
	if ! command -v gdb >/dev/null; then
		case_skip "no gdb to close a worker's epoll descriptor"
		return
	fi
	lib_case_echo
	lib_relay_conf "$conf" backend=mmsg listen="$to" up="$(ep "$UP1_IP" 9000)" workers=2
	lib_relay_start "$conf" || lib_fail "$c relay did not start"
	relayed 43100 "relayed before a worker's loop failed"
	epfd=$(find /proc/"$RELAY_PID"/fd -lname 'anon_inode:\[eventpoll\]' -printf '%f\n' |
		sort -n | head -n 1)
	if [ -z "$epfd" ] || ! timeout 30 gdb -p "$RELAY_PID" -batch \
		-ex "call (int)close($epfd)" >"$TMPD/gdb.out" 2>&1; then
		lib_case_fail "$c cannot close the worker's epoll descriptor '$epfd':" \
			"$(tail -n 3 "$TMPD/gdb.out")"
	fi
	lib_udp "$NS_C" client --to "$to" --clients 8 --count 2 --port-base 43200 >/dev/null
	if lib_wait_gone "$RELAY_PID" 10; then
		wait "$RELAY_PID"
		st=$?
		[ "$st" -eq 1 ] &&
			lib_log_count_ge "worker [01]: epoll_wait: .*: the worker's loop ended" 1 &&
			lib_log_count_ge "stopping (exit status 1)" 1 &&
			lib_case_ok "$c a worker's loop failed: the relay stopped with status 1," \
				"naming it" ||
			lib_case_fail "$c a worker's loop failed: exit $st, log:" \
				"$(lib_relay_log_current | grep -i "worker [01]: epoll" | head -n 2)"
	else
		lib_case_fail "$c a worker's loop failed: the relay still runs after 10 s"
		kill -KILL "$RELAY_PID"
		wait "$RELAY_PID"
	fi
	RELAY_PID=
	lib_case_stop_helpers
	RAN=$((RAN + 1))
}

RAN=0
dead_worker
reload_cases
# Midway with the first backend only: both run a command through worker_run_cmd, and what
# the case checks (the reload's wait given up, the stop going on) is runtime's, not the loop's.
midway=midway
for backend in $(lib_backends); do
	stop_stuck "$backend"
	[ -n "$midway" ] && stop_stuck "$backend" midway
	midway=
done
[ "$RAN" -gt 0 ] || lib_skip "no case could run here"
lib_done
