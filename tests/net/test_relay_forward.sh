#!/bin/bash
# SPDX-License-Identifier: MIT
# Forward mode end to end, per backend and family: datagrams of several sizes (1 to 1400 bytes)
# arrive byte-exact at the upstream and back at the client; 50 concurrent clients x 20
# datagrams each get back exactly their own payloads; a zero-length datagram is forwarded and
# echoed; the counters add up and nothing is dropped. IPv6, a wildcard listener: a datagram
# to ff02::1 is relayed and echoed from a unicast source.
. "$(dirname "$0")/lib.sh"
lib_topology

# run_case BACKEND FAMILY: the whole test for one backend and one address family.
run_case()
{
	local backend=$1 fam=$2
	lib_case_begin forward "$backend" "$fam"
	rec=$TMPD/echo-$backend-$fam.rec
	lib_case_echo "$rec"
	lib_case_start || return

	# 1. Sizes, byte-exact both ways: the client checks the echoes, and the upstream's
	# record must hold exactly the payloads the client sent.
	sent=$TMPD/sent-$backend-$fam
	if out=$(lib_udp "$NS_C" client --to "$to" --clients 1 --port-base 45000 \
		--count 12 --sizes 1,2,64,512,1000,1400 --expect-echo --record "$sent"); then
		lib_case_ok "$c sizes 1..1400 echoed byte-exact: $out"
	else
		lib_case_fail "$c sizes 1..1400: $out"
	fi
	lib_wait_lines "$rec" 12 5
	if diff <(sort "$sent") <(cut -d' ' -f3 "$rec" | sort) >/dev/null; then
		lib_case_ok "$c upstream received exactly the sent payloads"
	else
		lib_case_fail "$c upstream payloads differ from sent ones:" \
			"$(diff <(sort "$sent") <(cut -d' ' -f3 "$rec" | sort) | head -n 4 |
				cut -c1-80)"
	fi

	# 2. Many concurrent clients: each must get back its own payloads, none foreign.
	if out=$(lib_udp "$NS_C" client --to "$to" --clients 50 --port-base 45100 \
		--count 20 --size 200 --expect-echo --seconds 60); then
		lib_case_ok "$c 50 clients x 20: $out"
	else
		lib_case_fail "$c 50 clients x 20: $out"
	fi

	# 3. Zero-length datagrams are valid and forwarded both ways.
	if out=$(lib_udp "$NS_C" client --to "$to" --clients 1 --port-base 45200 \
		--count 3 --size 0 --expect-echo); then
		lib_case_ok "$c zero-length echoed: $out"
	else
		lib_case_fail "$c zero-length: $out"
	fi
	zero=$(awk '$2 == 0' "$rec" | wc -l)
	[ "$zero" -eq 3 ] || lib_case_fail "$c upstream saw $zero zero-length datagrams, want 3"

	# 4. Counters: every datagram counted once each way, no drops, relay still up.
	total=$((12 + 50 * 20 + 3))
	if line=$(lib_stats t); then
		lib_expect_fields "$c" "$line" "$total" rx_pkts tx_pkts reply_rx_pkts reply_tx_pkts
		lib_expect_fields "$c (1+50+1 clients)" "$line" 52 sessions_created
		lib_expect_fields "$c" "$line" 0 \
			$(echo "$line" | tr ' ' '\n' | sed -n 's/^\(drop_[a-z_]*\)=.*/\1/p')
		lib_case_ok "$c counters checked: $line"
	else
		lib_case_fail "$c no stats line"
	fi
	lib_relay_alive || lib_case_fail "$c relay died"
	lib_case_end
}

# multicast_case BACKEND: IPv6, a listener on the wildcard address: a datagram to the
# all-nodes group ff02::1 is relayed, and the echo comes back to the client from a unicast
# address (the reply used to name the group as its source: EINVAL, a send error).
multicast_case()
{
	local out
	lib_case_begin multicast "$1" 6
	lib_case_echo
	lib_relay_conf "$conf" backend="$1" listen="[::]:5001" up="$(ep "$UP1_IP" 9000)"
	if ! lib_relay_start "$conf"; then
		lib_case_fail "$c relay did not start"
		lib_case_stop_helpers
		return
	fi
	out=$(lib_nsx "$NS_C" "$PY" - "$IF_C" <<'EOF'
import socket, sys
idx = socket.if_nametoindex(sys.argv[1])
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, idx)
s.settimeout(0.5)
got = None
for i in range(6):
    s.sendto(b"group-%d" % i, ("ff02::1", 5001, 0, idx))
    try:
        data, peer = s.recvfrom(2048)
        got = (data.decode(), peer[0])
        break
    except socket.timeout:
        pass
print("%s from %s" % got if got else "no reply")
EOF
)
	case $out in
	group-*" from "ff* | "no reply") lib_case_fail "$c a datagram to ff02::1: $out" ;;
	*) lib_case_ok "$c a datagram to ff02::1 is relayed and echoed: $out" ;;
	esac
	lib_case_end
}

for backend in $(lib_backends); do
	multicast_case "$backend"
done
lib_each_case run_case
