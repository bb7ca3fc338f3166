# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Shared by perf/bench.sh and perf/steer_ab.sh (sourced, not run): the three namespaces of a
# run and their cleanup, the processes a run starts, the XDP sink's counter and veth's drops
# in front of the DUT. The sink's count is read in a command substitution, whose errexit bash
# clears: callers check sink_pkts' status themselves (alone in an assignment, or with ||).
#
# perf_init PREFIX: NS_G, NS_D and NS_S named PREFIX-gen-$$ and so on, a WORK directory, and
# a trap that stops every process spawn started (by PID; SIGKILL after 5 s) and removes the
# namespaces and WORK (and the paths in CLEANUP_EXTRA) at exit, also on failure or a signal.

perf_init() {
	NS_G=$1-gen-$$
	NS_D=$1-dut-$$
	NS_S=$1-sink-$$
	WORK=$(mktemp -d "/tmp/$1.XXXXXX")
	SINK_OUT=$WORK/sink.out
	SINK_PID=""
	PIDS=()
	trap perf_cleanup EXIT
	trap 'exit 130' INT TERM
	# psleep's FIFO, open for reading and writing so a read waits for its timeout: a sleep
	# without a fork (sleep(1) costs tens of ms on a busy 2-CPU box).
	mkfifo "$WORK/psleep"
	exec {PSLEEP_FD}<>"$WORK/psleep"
}

# psleep SECONDS: sleeps (fractions allowed) with a builtin.
psleep() {
	read -rt "$1" -u "$PSLEEP_FD" _ || true
}

# Is PID $1 still a child of this shell? (A PID reused by someone else's process is not.)
ours() {
	[ "$(awk '{ sub(/^.*\) /, ""); print $2 }' "/proc/$1/stat" 2>/dev/null)" = "$$" ]
}

# Is PID $1 a child of this shell that has not exited yet (not a zombie waiting to be reaped)?
# Builtins only: sink_count asks it at the edge of a trial's CPU window.
running() {
	local line f
	IFS= read -r line 2>/dev/null <"/proc/$1/stat" || return 1
	read -ra f <<<"${line##*) }"
	[ "${f[1]}" = "$$" ] && [ "${f[0]}" != Z ] && [ "${f[0]}" != X ]
}

# stop_pid PID: SIGTERM to a process this shell started, up to 5 s for it to exit, then
# SIGKILL, then reaps it. A process that ignores or hangs in its SIGTERM handler cannot hold
# the run (or its cleanup) up. Only ever signals PID itself, and only while it is our child.
stop_pid() {
	if ours "$1"; then
		kill "$1" 2>/dev/null || true
	fi
	for _ in $(seq 1 50); do
		running "$1" || break
		sleep 0.1
	done
	if running "$1"; then
		echo "perf: PID $1 ($(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null |
			cut -c1-80)) still running 5 s after SIGTERM: SIGKILL" >&2
		kill -KILL "$1" 2>/dev/null || true
	fi
	wait "$1" 2>/dev/null || true
}

perf_cleanup() {
	local p n
	set +e
	for p in "${PIDS[@]}"; do
		stop_pid "$p"
	done
	for n in $NS_G $NS_D $NS_S; do
		ip netns del "$n" 2>/dev/null
	done
	# shellcheck disable=SC2086 # CLEANUP_EXTRA is a list of paths
	rm -rf "$WORK" ${CLEANUP_EXTRA:-}
}

# Starts "$@" in the background and remembers its PID for cleanup.
spawn() {
	"$@" &
	PIDS+=($!)
	LAST_PID=$!
}

# Stops one process we started, by PID (stop_pid: SIGTERM, then SIGKILL after 5 s), waits
# for it, and forgets it (its PID may be reused).
stop() {
	local p keep=()
	stop_pid "$1"
	for p in "${PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	PIDS=("${keep[@]}")
}

# Waits (bounded) until file $1 contains pattern $2.
wait_for() {
	for _ in $(seq 1 "${3:-100}"); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# sink_start [OPTS]: the XDP sink on s0 in NS_S (perf/sink.c), counting and dropping. It has
# no limit on its total time (a --full run with many devices takes hours), only an idle one:
# it exits SINK_IDLE_S seconds (default 600) after the last count it was asked for, so it
# lives as long as the harness reads it and stops by itself when the harness has died.
sink_start() {
	: >"$SINK_OUT"
	# shellcheck disable=SC2086 # OPTS: words for the sink
	# Appending, so sink_count can empty the file before each request.
	spawn ip netns exec "$NS_S" "$PERF/sink" -i s0 -t 0 -I "${SINK_IDLE_S:-600}" ${1:-} \
		>>"$SINK_OUT" 2>"$WORK/sink.err"
	SINK_PID=$LAST_PID
	wait_for "$WORK/sink.err" attached || { cat "$WORK/sink.err" >&2; return 1; }
}

sink_stop() {
	[ -n "$SINK_PID" ] && stop "$SINK_PID"
	SINK_PID=""
}

# sink_count: the sink's packet count into SINK_COUNT, asked for with SIGUSR1: the file its
# answers are appended to is emptied, and the answer is the first whole line in it. Fails
# (non-zero, and says why on stderr) when the sink is not running or does not answer within
# about 2 s: its last line would be a stale count, and every trial after it 100 % loss.
# Builtins only, and no subshell when called directly: bench.sh reads it at the end of a
# trial's CPU window, which a fork (tens of ms on a busy 2-CPU box) would stretch.
sink_count() {
	local line
	if [ -z "$SINK_PID" ] || ! running "$SINK_PID"; then
		echo "perf: the sink (PID ${SINK_PID:-none}) is not running:" \
			"$(tail -n 2 "$WORK/sink.err" 2>/dev/null | tr '\n' ' ')" >&2
		return 1
	fi
	: >"$SINK_OUT"
	kill -USR1 "$SINK_PID" 2>/dev/null || true
	for _ in {1..2000}; do
		# A line without its newline may still be being written.
		if IFS= read -r line <"$SINK_OUT" && [[ $line =~ \"pkts\":([0-9]+)[,}] ]]; then
			SINK_COUNT=${BASH_REMATCH[1]}
			return 0
		fi
		psleep 0.001
	done
	echo "perf: the sink (PID $SINK_PID) did not answer SIGUSR1 within 2 s" >&2
	return 1
}

# Prints the sink's packet count (sink_count).
sink_pkts() {
	sink_count || return 1
	echo "$SINK_COUNT"
}

# Frames veth dropped on their way into d0 (its receive ring or the backlog was full), counted
# as g0's tx_dropped, and those a pfifo on g0 (bench.sh --rx-ring) dropped when full. A raw
# generator's sendmmsg past the qdisc reports veth's as errors and does not count them as
# sent; through a qdisc it reports only the pfifo's, and veth's count as sent, as a UDP
# socket's send counts them. Either way they were offered to the DUT and lost in front of it,
# as a NIC's rx_missed would be.
ring_drops() {
	local q
	# bench.sh --rx-ring: what g0's full pfifo dropped, where veth pushed back instead.
	if ! q=$(ip netns exec "$NS_G" tc -s -j qdisc show dev g0 | jq '[.[].drops // 0] | add // 0') ||
		[ -z "$q" ]; then
		echo "ring_drops: cannot read g0's qdisc" >&2
		return 1
	fi
	echo $(($(ip netns exec "$NS_G" cat /sys/class/net/g0/statistics/tx_dropped) + q))
}
