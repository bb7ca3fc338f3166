#!/bin/bash
# SPDX-License-Identifier: MIT
# Overload-mechanism study for issue 10 (results: perf/notes/overload-mechanisms.md). Runs
# perf/bench.sh once per configuration of the prototype relay (perf/busy_relay.c: receive
# loop, busy polling, XDP early drop) and placement, each run serialized with other
# benchmarks on the box through flock, then prints one markdown table. bench.sh runs with its
# default --rx-ring (a 1024-frame pfifo in front of d0 where it has NAPI, since round forty):
# tables made before 2026-12-06T14 had veth's 256 frames only.
#
#   perf/overload_study.sh [--out DIR] [--passes N] [--only NAME,NAME...] [--table DIR,...]
#
# Each pass runs every configuration once, so passes spread the box's other load over all of
# them; the table gives medians over the runs. --table DIR,... only prints the table of
# earlier studies' records. Needs root, like bench.sh.
set -euo pipefail

OUT=/tmp/rr-overload-study
PASSES=1
ONLY=""
TABLE=""
while [ $# -gt 0 ]; do
	case $1 in
	--out) OUT=$2; shift ;;
	--passes) PASSES=$2; shift ;;
	--only) ONLY=$2; shift ;;
	--table) TABLE=$2; shift ;;
	*) sed -n '8p' "$0" >&2; exit 2 ;;
	esac
	shift
done
DIR=$(dirname "$0")

# Per-NAPI values: Töpel's preferred-busy-polling setting (2 deferred interrupts, 200 us
# watchdog), and the IRQ suspension paper's (100, 20 us, and 20 ms suspension).
DEFER="defer_hard_irqs=2 gro_flush_timeout=200000"
DEFER100="defer_hard_irqs=100 gro_flush_timeout=20000"
SUSPEND="$DEFER100 irq_suspend_timeout=20000000"
SMALL="-R 212992"	# the default net.core.rmem_default instead of 8 MB

# name | placement | busy_relay options | NAPI_SET for d0 | what it tests
CONFIGS=(
	"a-rps-block|rps|-m block||baseline: RPS to the relay's CPU, recvmmsg loop"
	"a-rps-uring|rps|-m uring -D||baseline, io_uring multishot recvmsg"
	"b-napi-block|napi|-m block||threaded NAPI pinned to the relay's CPU"
	"b-napi-epoll|napi|-m epoll||epoll + recvmmsg, threaded NAPI"
	"b-napi-uring|napi|-m uring -D||io_uring multishot recvmsg, threaded NAPI"
	"c-uring-bp|napi|-m uring -D -n 50:0||io_uring NAPI busy poll 50 us"
	"c-uring-bp-prefer|napi|-m uring -D -n 50:1|$DEFER|+ prefer, defer 2, gro_flush_timeout 200 us"
	"c-uring-bp-prefer-d100|napi|-m uring -D -n 50:1|$DEFER100|+ prefer, defer 100, gro_flush_timeout 20 us"
	"c-uring-bp-prefer-coop|napi|-m uring -n 50:1|$DEFER|the same, COOP_TASKRUN instead of DEFER_TASKRUN"
	"c-uring-bp-prefer-static|napi|-m uring -D -n 50:1:static|$DEFER|static NAPI id tracking"
	"c-uring-bp-prefer-sender|sender|-m uring -D -n 50:1|$DEFER|busy poll with NAPI not threaded"
	"c-sock-bp-prefer|napi|-m block -s 50 -p -g 64|$DEFER|SO_BUSY_POLL 50 + SO_PREFER_BUSY_POLL + budget 64"
	"d-epoll-bp-prefer|napi|-m epoll -e 50:64:1|$DEFER|EPIOCSPARAMS 50 us, budget 64, prefer"
	"d-epoll-suspend|napi|-m epoll -e 50:64:1|$SUSPEND|+ irq_suspend_timeout 20 ms (defer 100, 20 us)"
	"d-epoll-smallbuf|napi|-m epoll $SMALL||epoll, 208 KiB receive buffer"
	"d-epoll-suspend-smallbuf|napi|-m epoll $SMALL -e 50:64:1|$SUSPEND|IRQ suspension, 208 KiB receive buffer"
	"e-rps-xdp-generic-pass|rps|-m block -X d0 -G -x 1000000||generic XDP lookup after RPS, never drops (its cost)"
	"e-rps-xdp-generic-shed|rps|-m block -X d0 -G||generic XDP drop when the socket is full"
	"e-rps-xdp-native-shed|rps|-m block -X d0||native XDP drop (on veth: on the generator's CPU)"
	"e-rps-uring-xdp-generic-shed|rps|-m uring -D -X d0 -G||io_uring relay, generic XDP drop after RPS"
	"e-napi-xdp-pass|napi|-m block -X d0 -x 1000000||native XDP lookup in the NAPI thread, never drops"
	"e-napi-xdp-shed|napi|-m block -X d0||native XDP drop in the NAPI thread"
	"e-napi-suspend-shed|napi|-m epoll $SMALL -e 50:64:1 -X d0|$SUSPEND|IRQ suspension + XDP drop"
)

run_one() {
	local name=$1 placement=$2 opts=$3 napi_set=$4 pass=$5
	mkdir -p "$OUT/$name"
	echo "study: $name (pass $pass): placement $placement, busy_relay $opts, NAPI_SET '$napi_set'" >&2
	BUSY_RELAY_OPTS="$opts" NAPI_SET="$napi_set" flock /tmp/rr-bench.lock \
		"$DIR/bench.sh" --duts busy-relay --placement "$placement" --out "$OUT/$name" \
		>"$OUT/$name/pass$pass.log" 2>&1 ||
		echo "study: $name failed, see $OUT/$name/pass$pass.log" >&2
}

if [ -z "$TABLE" ]; then
	[ "$(id -u)" = 0 ] || { echo "study: needs root" >&2; exit 77; }
	make --no-print-directory perf-tools >&2
	for pass in $(seq 1 "$PASSES"); do
		for c in "${CONFIGS[@]}"; do
			IFS="|" read -r name placement opts napi_set _ <<<"$c"
			if [ -n "$ONLY" ] && ! echo ",$ONLY," | grep -q ",$name,"; then
				continue
			fi
			run_one "$name" "$placement" "$opts" "$napi_set" "$pass"
		done
	done
	TABLE=$OUT
fi

STUDY_CONFIGS=$(printf '%s\n' "${CONFIGS[@]}") python3 - "$TABLE" <<'EOF'
import glob, json, os, statistics, sys

# Every run of a configuration is one bench.sh JSON in ROOT/NAME/ (or ROOT/*/NAME/ for
# several study directories): the table gives the median over the runs and, for the main
# figures, the range.
roots = sys.argv[1].split(",")


def med(v):
    return statistics.median(v) if v else 0


def rng(v, fmt="{:.3f}"):
    if not v:
        return "-"
    s = fmt.format(med(v))
    return s if len(v) == 1 else f"{s} ({fmt.format(min(v))}-{fmt.format(max(v))})"


print("| config | placement | runs | delivered @max Mpps (range) | offered @max Mpps "
      "| PDR Mpps (range) | NDR Mpps | overload: of PDR (range) | of NDR @ x NDR "
      "| DUT core s/Mpkt @PDR | @max, share of a core: DUT softirq / NAPI thread / gen softirq "
      "| busy-polled | XDP shed | what |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for line in os.environ["STUDY_CONFIGS"].splitlines():
    name, placement, opts, napi_set, what = line.split("|")
    files = []
    for root in roots:
        files += sorted(glob.glob(os.path.join(root, name, "*.json")))
        files += sorted(glob.glob(os.path.join(root, "*", name, "*.json")))
    runs = []
    for f in files:
        with open(f) as fh:
            d = json.load(fh)
        row = next((r for r in d["summary"] if r["dut"] == "busy-relay"), None)
        if row and "mpps_median" in row:
            runs.append((row, [r for r in d["records"] if r["phase"] == "max"]))
    if not runs:
        print(f"| {name} | {placement} | 0 |" + " - |" * 10 + f" {what} |")
        continue

    def share(mx, key):
        v = []
        for r in mx:
            frac = r["dut_core_busy_fraction"]
            total = r["dut_core_busy_s"] / frac if frac else 0
            v.append(r.get(key, 0) / total if total else 0)
        return 100 * med(v)

    def relay(row):
        parts = row["status"].split("; ", 1)
        try:
            return json.loads(parts[1]) if len(parts) > 1 else {}
        except ValueError:
            return {}

    rows = [r for r, _ in runs]
    rel = [relay(r) for r in rows]
    polled = [100 * x.get("busy_poll_rx_pkts", 0) / x["rx_pkts"] for x in rel if x.get("rx_pkts")]
    shed = [100 * x.get("xdp_shed", 0) / (x.get("xdp_shed", 0) + x["rx_pkts"])
            for x in rel if x.get("rx_pkts")]
    ov_pdr = [100 * r["overload_of_pdr"] for r in rows if "overload_of_pdr" in r]
    ov_ndr = [100 * r["overload_of_ndr"] for r in rows if "overload_of_ndr" in r]
    mult = [r["overload_multiple"] for r in rows if "overload_multiple" in r]
    where = " / ".join(f"{med([share(mx, k) for _, mx in runs]):.0f}%"
                       for k in ("dut_core_softirq_s", "dut_napi_thread_s"))
    gen = med([100 * med([r.get("gen_core_softirq_fraction", 0) for r in mx]) for _, mx in runs])
    print(f"| {name} | {placement} | {len(runs)} | "
          f"{rng([r['mpps_median'] for r in rows])} | "
          f"{med([r['offered_mpps_median'] for r in rows]):.3f} | "
          f"{rng([r.get('pdr_mpps', 0) for r in rows])} | "
          f"{med([r.get('ndr_mpps', 0) for r in rows]):.3f} | "
          f"{rng(ov_pdr, '{:.0f}%')} | "
          f"{med(ov_ndr):.0f}% @ {med(mult):.1f}x | "
          f"{med([r.get('at_pdr_core_s_per_mpkt') or 0 for r in rows]):.2f} | "
          f"{where} / {gen:.0f}% | "
          f"{med(polled):.0f}% | {med(shed):.0f}% | {what} |")
EOF
