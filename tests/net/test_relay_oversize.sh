#!/bin/bash
# SPDX-License-Identifier: MIT
# Oversize datagrams, per backend and family: with buffer_size = 512 a 1000-byte datagram is
# dropped and counted (drop_truncated), never forwarded truncated; the same client's next
# normal datagrams still go through and come back byte-exact, up to 400 bytes (the longest
# that fits: 401 is dropped too).
. "$(dirname "$0")/lib.sh"
lib_topology

# run_case BACKEND FAMILY: the whole test for one backend and one address family.
run_case()
{
	local backend=$1 fam=$2
	lib_case_begin oversize "$backend" "$fam"
	rec=$TMPD/echo-$backend-$fam.rec
	lib_case_echo "$rec"
	lib_case_start buffer=512 || return

	# A normal datagram first, so the drop below hits an existing session too.
	out=$(lib_udp "$NS_C" client --to "$to" --port-base 46000 --count 1 --size 100 \
		--expect-echo) || lib_case_fail "$c 100 bytes before the oversize one: $out"

	# --expect-none fails on any reply (whole or truncated) within 0.3 s.
	out=$(lib_udp "$NS_C" client --to "$to" --port-base 46000 --count 3 --size 1000 \
		--expect-none --quiet 0.3) ||
		lib_case_fail "$c client got a reply to an oversize datagram: $out"
	if lib_wait_stat drop_truncated -ge 3 10; then
		lib_case_ok "$c drop_truncated=$LAST_STAT after 3 x 1000 bytes"
	else
		lib_case_fail "$c drop_truncated=$LAST_STAT after 3 x 1000 bytes, want 3"
	fi

	# The relay keeps working for the same client, at sizes that fit the buffer.
	if out=$(lib_udp "$NS_C" client --to "$to" --port-base 46000 --count 4 \
		--sizes 0,1,100,400 --expect-echo); then
		lib_case_ok "$c normal datagrams after the oversize ones: $out"
	else
		lib_case_fail "$c normal datagrams after the oversize ones: $out"
	fi
	# 400 = 512 - 112 (ringrelay.conf(5)) is the longest: one byte more is truncated too.
	out=$(lib_udp "$NS_C" client --to "$to" --port-base 46000 --count 1 --size 401 \
		--expect-none --quiet 0.3) || lib_case_fail "$c a reply to 401 bytes: $out"
	lib_wait_stat drop_truncated -ge 4 10 ||
		lib_case_fail "$c drop_truncated=$LAST_STAT after 401 bytes, want 4"
	# Nothing truncated (or whole) of the oversize datagrams reached the upstream.
	bad=$(awk '$2 != 0 && $2 != 1 && $2 != 100 && $2 != 400' "$rec" | wc -l)
	[ "$bad" -eq 0 ] || lib_case_fail "$c upstream got $bad datagram(s) of other sizes:" \
		"$(awk '{print $2}' "$rec" | sort -n | uniq -c | tr '\n' ' ')"
	lib_relay_alive || lib_case_fail "$c relay died"
	lib_case_end
}

lib_each_case run_case
