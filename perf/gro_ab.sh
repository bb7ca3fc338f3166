#!/bin/bash
# SPDX-License-Identifier: MIT
# gro = true against false on 64 B datagrams that arrive one by one (never coalesced: GRO off
# on the relay's interface), paced at a fixed rate both relays keep up with: the relay
# process's CPU time per datagram (perf stat task-clock), alternating the two ROUNDS times.
# A paced rate and the process's own time are less disturbed by other jobs on a shared box
# than bench.sh's searches. Needs root and perf; a benchmark, not a test.
#   [B=build] [RATE=50000] [T=5] [ROUNDS=3] perf/gro_ab.sh
# Namespaces rab-{g,d,s}-PID (198.18.0.0/15), removed on exit. perf/notes/gro-uncoalesced.md.
set -u
B=${B:-build}; RATE=${RATE:-50000}; T=${T:-5}; ROUNDS=${ROUNDS:-3}
[ "$(id -u)" = 0 ] || { echo "gro_ab: needs root (namespaces, XDP)" >&2; exit 77; }
make --no-print-directory BUILD="$B" all perf-tools >&2 || exit 1
ID=$$; G=rab-g-$ID; D=rab-d-$ID; S=rab-s-$ID; W=$(mktemp -d /tmp/rab.XXXX)
cleanup() { [ -n "${RP:-}" ] && kill $RP 2>/dev/null; [ -n "${SP:-}" ] && kill $SP 2>/dev/null; wait 2>/dev/null; for n in $G $D $S; do ip netns del $n 2>/dev/null; done; rm -rf $W; }
trap cleanup EXIT
for n in $G $D $S; do ip netns add $n; ip -n $n link set lo up; done
ip link add g0 netns $G type veth peer name d0 netns $D
ip link add d1 netns $D type veth peer name s0 netns $S
ip -n $G addr add 198.18.0.1/24 dev g0; ip -n $D addr add 198.18.0.2/24 dev d0
ip -n $D addr add 198.18.1.1/24 dev d1; ip -n $S addr add 198.18.1.2/24 dev s0
for x in "$G g0" "$D d0" "$D d1" "$S s0"; do set -- $x; ip -n $1 link set $2 up; done
# the receive softirq on the relay's CPU, as bench.sh's rps placement; GRO off on d0
ip netns exec $D sh -c 'echo 2 > /sys/class/net/d0/queues/rx-0/rps_cpus; ethtool -K d0 gro off' >/dev/null
ip netns exec $S $B/perf/sink -i s0 -N -t 3600 >$W/sink.out 2>&1 & SP=$!
sleep 1
for r in $(seq $ROUNDS); do
 for gro in false true; do
  if [ $gro = true ]; then bufs="buffer_size = 69632; buffers = 512; gro = true;"; else bufs="buffer_size = 2048; buffers = 4096;"; fi
  cat >$W/c.conf <<C
workers = 1; cpus = [1]; io_backend = "io_uring"; $bufs stats_interval = 3600.0;
control_socket = "$W/ctl.sock";
relays = ( { name = "ab"; listen = [ "198.18.0.2:5000" ]; upstreams = [ "198.18.1.2:9000" ]; max_sessions = 1000; } );
C
  ip netns exec $D taskset -c 1 $B/ringrelay -f -c $W/c.conf >$W/relay.log 2>&1 & RP=$!
  for i in $(seq 50); do grep -q "worker 0: backend" $W/relay.log && break; sleep 0.1; done
  ip netns exec $G $B/perf/gen -d 198.18.0.2:5000 -r $RATE -l 64 -t 1 -C 0 >/dev/null 2>&1   # warm-up
  c0=$(grep -c 'stats relay=ab' $W/relay.log); kill -USR1 $RP; while [ $(grep -c 'stats relay=ab' $W/relay.log) -le $c0 ]; do sleep 0.05; done
  rx0=$(grep 'stats relay=ab' $W/relay.log | tail -1 | grep -o ' rx_pkts=[0-9]*' | cut -d= -f2); ov0=$(grep 'stats relay=ab' $W/relay.log | tail -1 | grep -o ' drop_socket_receive_overflow=[0-9]*' | cut -d= -f2)
  perf stat -x, -e task-clock -p $RP -o $W/perf.csv -- sleep $T & PP=$!
  ip netns exec $G $B/perf/gen -d 198.18.0.2:5000 -r $RATE -l 64 -t $T -C 0 >$W/gen.json 2>&1
  wait $PP
  c0=$(grep -c 'stats relay=ab' $W/relay.log); kill -USR1 $RP; while [ $(grep -c 'stats relay=ab' $W/relay.log) -le $c0 ]; do sleep 0.05; done; l=$(grep 'stats relay=ab' $W/relay.log | tail -1)
  rx=$(echo "$l" | grep -o ' rx_pkts=[0-9]*' | cut -d= -f2); tx=$(echo "$l" | grep -o ' tx_pkts=[0-9]*' | cut -d= -f2)
  ov=$(( $(echo "$l" | grep -o ' drop_socket_receive_overflow=[0-9]*' | cut -d= -f2) - ov0 ))
  tc=$(awk -F, '$3 ~ /task-clock/ {print $1; exit}' $W/perf.csv)
  n=$((rx - rx0))
  [ "$n" -gt 0 ] || { echo "gro_ab: the relay received nothing:" >&2; tail -n 5 $W/relay.log >&2; exit 1; }
  echo "round=$r gro=$gro rate=$RATE rx=$n overflow=$ov cpu_us/pkt=$(echo "scale=2; $tc * 1000 / $n" | bc 2>/dev/null) load=$(cut -d' ' -f1 /proc/loadavg)"
  kill $RP; wait $RP 2>/dev/null; RP=
 done
done
