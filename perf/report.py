#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Turn perf/bench.sh trial records (JSON lines) into OUT.json, OUT.md and OUT.png.

Per placement, device under test and frame size: delivered Mpps (median, min, max over the
max-rate trials), CPU seconds per million delivered packets, NDR and PDR from the binary
searches, delivery under overload (offered >= 5x NDR) as a fraction of the NDR, and
round-trip latency percentiles at 10/50/90 % of PDR."""
import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def environment(ringrelay_version):
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "kernel": platform.release(),
        "cpu_model": cpu,
        "cpus_online": os.cpu_count(),
        "ringrelay": ringrelay_version or sh("git describe --always --dirty"),
        "dpdk": sh("dpkg-query -W -f='${Version}' dpdk"),
        "nic": "veth (three network namespaces)",
        "cores": {"generator_and_sink": 0, "device_under_test": 1},
    }


# What each placement means, for the report (perf/README.md, "Placement").
PLACEMENTS = {
    "rps": "RPS on d0/d1 to the DUT CPU: the receive softirq after XDP runs on the DUT core, "
           "XDP itself (testpmd-af_xdp's receive, the ringrelay devices' shedding, which on "
           "veth copies every frame) on the generator's core, uncharged",
    "napi": "d0/d1 GRO on, NAPI threaded, NAPI threads pinned to the DUT CPU: all receive "
            "work, XDP included, runs on the DUT core. This placement compares devices fairly",
}


def per_mpkt(secs, pkts):
    return round(secs / (pkts / 1e6), 4) if pkts > 0 else None


def median_per_mpkt(trials, key):
    """Median CPU seconds per million delivered packets over the trials that delivered any.

    A trial that delivered nothing has no cost per packet (unbounded, not 0): it is left out,
    and the median is None ("-") when no trial delivered."""
    v = [per_mpkt(r.get(key, 0), r["delivered"]) for r in trials]
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None


def summarize(records):
    keys = []
    for r in records:
        # Records from before placements existed were all "rps".
        k = (r.get("placement", "rps"), r["dut"], r["size"])
        if k not in keys:
            keys.append(k)
    rows = []
    for placement, dut, size in keys:
        rs = [r for r in records if r["dut"] == dut and r["size"] == size
              and r.get("placement", "rps") == placement]
        mx = [r for r in rs if r["phase"] == "max"]
        # --overload-xdp / --overload-gso: max-load trials from a generator that offers more
        ov = [r for r in rs if r["phase"] == "overload"]
        st = [r["status"] for r in rs if r["phase"] == "status"]
        se = [r for r in rs if r["phase"] == "search"]
        lat = [r for r in rs if r["phase"] == "latency"]
        ap = [r for r in rs if r["phase"] == "at_pdr"]
        pl = [r for r in rs if r["phase"] == "placement"]
        fx = [r for r in rs if r["phase"] == "fixed"]
        steps = [r for r in rs if r["phase"] == "search_step"]
        row = {"placement": placement, "dut": dut, "size": size,
               "status": st[-1] if st else "incomplete", "trials": len(mx)}
        if pl:
            row["napi"] = pl[-1].get("napi", [])
        if fx:
            # --fixed: every trial's figures per rate, in the order run
            rates = list(dict.fromkeys(r["rate"] for r in fx))
            row["fixed"] = [{"rate": rate, "trials": [
                {k: r.get(k, 0) for k in ("offered_mpps", "mpps", "loss", "ring_drops",
                                          "gen_max_lag_us", "gen_lags_1ms", "gen_skipped")}
                for r in fx if r["rate"] == rate]} for rate in rates]
        if mx:
            mpps = [r["mpps"] for r in mx]
            row.update({
                "mpps_median": round(statistics.median(mpps), 4),
                "mpps_min": round(min(mpps), 4),
                "mpps_max": round(max(mpps), 4),
                "offered_mpps_median": round(statistics.median(r["offered_mpps"] for r in mx), 4),
                "loss_median": round(statistics.median(r["loss"] for r in mx), 5),
                "proc_cpu_s_per_mpkt": median_per_mpkt(mx, "dut_proc_cpu_s"),
                "core_busy_s_per_mpkt": median_per_mpkt(mx, "dut_core_busy_s"),
                "core_softirq_s_per_mpkt": median_per_mpkt(mx, "dut_core_softirq_s"),
                # trials left out of the medians above: they delivered nothing
                "trials_nothing_delivered": sum(1 for r in mx if r["delivered"] <= 0),
                "core_busy_fraction": round(statistics.median(
                    r["dut_core_busy_fraction"] for r in mx), 3),
                "napi_thread_s_per_mpkt": median_per_mpkt(mx, "dut_napi_thread_s"),
                # Softirq on the generator's core: receive work done for the DUT off its
                # core (XDP under rps; RPS's IPIs) lands here, besides the box's own.
                "gen_core_softirq_fraction": round(statistics.median(
                    r.get("gen_core_softirq_fraction", 0) for r in mx), 3),
                # What veth dropped behind the DUT, on the sink's side (d1's tx_dropped).
                "sink_drops_mpps_median": round(statistics.median(
                    r.get("sink_drops", 0) / r["elapsed_s"] / 1e6 for r in mx), 4),
            })
        if ap:
            r = ap[-1]
            row.update({
                "at_pdr_mpps": round(r["mpps"], 4), "at_pdr_loss": round(r["loss"], 5),
                "at_pdr_core_s_per_mpkt": per_mpkt(r["dut_core_busy_s"], r["delivered"]),
                "at_pdr_softirq_s_per_mpkt": per_mpkt(r["dut_core_softirq_s"], r["delivered"]),
                "at_pdr_proc_s_per_mpkt": per_mpkt(r["dut_proc_cpu_s"], r["delivered"]),
                "at_pdr_core_busy_fraction": round(r["dut_core_busy_fraction"], 3),
                "at_pdr_napi_thread_s_per_mpkt": per_mpkt(r.get("dut_napi_thread_s", 0),
                                                          r["delivered"]),
            })
        if se:
            row["ndr_mpps"] = round(se[-1]["ndr_pps"] / 1e6, 4)
            row["pdr_mpps"] = round(se[-1]["pdr_pps"] / 1e6, 4)
        # Overload: the max-load trials, which offer the most the generator can (>= 5x NDR
        # when it can offer that); with --overload-xdp or --overload-gso, those of that
        # generator.
        over = ov or mx
        over_mpps = statistics.median(r["mpps"] for r in over) if over else None
        if over and se and se[-1]["ndr_pps"] > 0:
            ndr = se[-1]["ndr_pps"] / 1e6
            got = over_mpps
            offered = statistics.median(r["offered_mpps"] for r in over)
            row.update({
                "overload_mpps": round(got, 4),
                "overload_offered_mpps": round(offered, 4),
                "overload_multiple": round(offered / ndr, 2),
                "overload_of_ndr": round(got / ndr, 3),
                # The NDR is a zero-loss figure and moves with one scheduling gap; the share
                # of the PDR says the same with a steadier denominator.
                "overload_of_pdr": round(got / (se[-1]["pdr_pps"] / 1e6), 3),
            })
        notes = []
        # A search whose lowest failed step (the one that set its result) failed on trials the
        # generator under-offered, not on the DUT's loss: the result is the generator's limit.
        for name in ("ndr", "pdr"):
            failed = [s for s in steps if s["search"] == name and not s["passed"]]
            if not failed:
                continue
            bound = min(failed, key=lambda s: s["rate"])
            if bound.get("generator_capped"):
                row[f"{name}_capped_by_generator_at_mpps"] = round(bound["rate"] / 1e6, 4)
                under = sum(1 for r in rs if r["phase"] == name
                            and r.get("verdict") == "under_offered")
                notes.append(
                    f"{name.upper()} capped by the generator: its step at "
                    f"{bound['rate'] / 1e6:.3f} Mpps failed because the generator offered "
                    f"less than 99 % of the rate ({bound['trials_under_offered']} of its "
                    f"trials, after 3 tries each; {under} under-offered trials in this "
                    f"search), not on the DUT's loss: the DUT's {name.upper()} may be higher")
        # Each note on its own (one does not hide another), judged at the highest load offered:
        # the overload trials' (--overload-xdp, --overload-gso) when there are any, else the
        # max-load ones.
        # The thresholds are those perf/README.md gives ("Reading the numbers").
        if over and statistics.median(r["loss"] for r in over) < 0.001:
            notes.append("generator-limited: under 0.1 % loss at the highest offered load, "
                         "the DUT is faster than the generator")
        if "overload_multiple" in row and row["overload_multiple"] < 5:
            notes.append(f"overload at {row['overload_multiple']:.1f}x NDR only: 5x NDR is "
                         "beyond what the generator can offer")
        if over and se and over_mpps < 0.8 * se[-1]["pdr_pps"] / 1e6:
            notes.append("overload collapse: delivers under 80 % of its PDR at the highest "
                         "offered load (its receive work starves it on its core: receive "
                         "livelock)")
        if mx and row["trials_nothing_delivered"]:
            notes.append(f"{row['trials_nothing_delivered']} of {len(mx)} max-load trials "
                         "delivered nothing: CPU per packet @max is the median of the others "
                         "(- when none delivered)")
        # What veth dropped behind the DUT in each kind of full-load trial.
        # --overload-xdp: which generator the overload trials had, and why not the XDP one.
        og = [r for r in rs if r["phase"] == "overload_generator"]
        if og and og[-1].get("xdp_not_used"):
            notes.append(f"overload trials not from the XDP generator: {og[-1]['xdp_not_used']}"
                         + ("" if og[-1]["generator"] == "gso" else
                            "; the max-load trials stand for overload"))
        ov_gen = {"xdp": "XDP generator", "gso": "GSO generator"}.get(
            og[-1]["generator"] if og else "gso", "")
        for what, trials in (("full load", mx), (f"overload ({ov_gen})", ov)):
            if not trials:
                continue
            got = statistics.median(r["mpps"] for r in trials)
            lost = statistics.median(r.get("sink_drops", 0) / r["elapsed_s"] / 1e6
                                     for r in trials)
            if lost > 0.05 * max(got, 0.001):
                notes.append(f"drops behind the DUT at {what}: it sent out {got + lost:.3f} "
                             f"Mpps, of which veth dropped {lost:.3f} in front of the sink "
                             "(d1's tx_dropped; the native sink's NAPI runs on the DUT's CPU)")
        row["notes"] = notes
        if lat:
            row["latency_us"] = {str(r["pct_of_pdr"]): dict(
                r["rtt_us"], rate=r["rate"], sent=r["sent"], received=r["received"],
                # The tester (generator + reflector on one CPU) could not keep up: the
                # point measures queues in the tester, not the DUT.
                tester_limited=bool(r.get("achieved_pps", r["rate"]) < 0.95 * r["rate"]
                                    or r["received"] < 0.995 * r["sent"]))
                for r in lat}
        rows.append(row)
    return rows


def fmt(v, nd=3):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def overload_cell(r):
    """"x% @ N.Nx": delivered under overload as a share of the NDR, at the offered multiple."""
    if "overload_of_ndr" not in r:
        return "-"
    return (f"{100 * r['overload_of_ndr']:.0f}% @ {r['overload_multiple']:.1f}x "
            f"({100 * r['overload_of_pdr']:.0f}% of PDR)")


def markdown(meta, rows):
    placements = []
    for r in rows:
        if r["placement"] not in placements:
            placements.append(r["placement"])
    out = [f"# ringrelay benchmark, {meta['stamp']} ({meta['mode']} matrix)", "",
           f"Command: `{meta['command']}`  ",
           f"{meta['env']['ringrelay']}, dpdk {meta['env']['dpdk']}, "
           f"kernel {meta['env']['kernel']}, "
           f"{meta['env']['cpus_online']} CPUs ({meta['env']['cpu_model']}), "
           f"{meta['env']['nic']}; generator+sink on CPU 0, device under test on CPU 1; "
           f"IPv{meta['family']}, {meta['flows']} flows, generator: "
           f"{meta.get('generator', 'UDP sockets')}, {meta['trials']} trials of "
           f"{meta['trial_s']} s "
           f"{'at each fixed rate' if meta['mode'] == 'fixed' else 'at full offered load'}; "
           f"load average at start "
           f"{meta.get('loadavg', '?')}; wall time {meta['wall_s']} s.", ""]
    if "napi" in placements:
        out += ["Compare devices in the **napi** placement: there every device's receive work "
                "(socket receive, forwarding, an af_xdp PMD's XDP receive) is charged to the DUT "
                "core. In the rps placement testpmd-af_xdp's receive and the ringrelay devices' "
                "XDP shedding run on the generator's core (see *gen core softirq*): uncharged, "
                "but on veth they copy every frame there and slow the generator.", ""]
    fixed = [r for r in rows if r.get("fixed")]
    if fixed:
        out += ["## Fixed-rate trials", "",
                "Each trial at one paced rate (0 = the generator's maximum), in the order run: "
                "*loss* = 1 - delivered/offered, *ring drops* = frames veth refused in front "
                "of the DUT (g0's tx_dropped, and what --rx-ring's pfifo on g0 dropped), "
                "*generator lag* = the most the generator fell behind its schedule, "
                "*skipped* = the frames it did not send because it fell behind (it catches "
                "up by one batch at most: sending all it owes at once would be a burst the "
                "DUT is not to blame for; offered counts only what was sent).", "",
                "| DUT | placement | frame | rate pps | offered Mpps | delivered Mpps "
                "| loss per trial | ring drops per trial | generator lag ms per trial "
                "| skipped per trial |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        for r in fixed:
            for f in r["fixed"]:
                t = f["trials"]
                out.append(
                    f"| {r['dut']} | {r['placement']} | {r['size']} | {f['rate']} | "
                    f"{fmt(statistics.median(x['offered_mpps'] for x in t))} | "
                    f"{fmt(statistics.median(x['mpps'] for x in t))} | "
                    + ", ".join(f"{100 * x['loss']:.3f}%" for x in t) + " | "
                    + ", ".join(str(x["ring_drops"]) for x in t) + " | "
                    + ", ".join(f"{x['gen_max_lag_us'] / 1000:.1f}" for x in t) + " | "
                    + ", ".join(str(x["gen_skipped"]) for x in t) + " |")
        out.append("")
    for placement in placements:
        if not any("mpps_median" in r for r in rows if r["placement"] == placement):
            continue
        out += [f"## Placement {placement}", "",
                PLACEMENTS.get(placement, placement) + ".", "",
                "| DUT | frame | Mpps median (min-max) | offered Mpps | loss | NDR Mpps | PDR Mpps "
                "| overload: of NDR @ offered x NDR (of PDR) | core CPU s/Mpkt @PDR (softirq; NAPI thread) "
                "| process CPU s/Mpkt @PDR | core busy @PDR | core CPU s/Mpkt @max "
                "| gen core softirq @max | RTT p50/p99 us @50% PDR | status |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            if r["placement"] != placement:
                continue
            if "mpps_median" not in r:
                out.append(f"| {r['dut']} | {r['size']} |" + " - |" * 12 + f" {r['status']} |")
                continue
            lat = r.get("latency_us", {}).get("50")
            lat_s = f"{fmt(lat['p50'], 0)} / {fmt(lat['p99'], 0)}" if lat else "n/a"
            if lat and lat["tester_limited"]:
                lat_s += " (tester-limited)"
            status = r["status"].split(";")[0]
            napi = r.get("at_pdr_napi_thread_s_per_mpkt")
            proc = r.get("at_pdr_proc_s_per_mpkt")
            busy = r.get("at_pdr_core_busy_fraction")
            out.append(
                f"| {r['dut']} | {r['size']} | {fmt(r['mpps_median'])} ({fmt(r['mpps_min'])}-"
                f"{fmt(r['mpps_max'])}) | {fmt(r['offered_mpps_median'])} | "
                f"{fmt(100 * r['loss_median'], 1)}% | {fmt(r.get('ndr_mpps'))} | "
                f"{fmt(r.get('pdr_mpps'))} | {overload_cell(r)} | "
                f"{fmt(r.get('at_pdr_core_s_per_mpkt'), 2)} "
                f"({fmt(r.get('at_pdr_softirq_s_per_mpkt'), 2)}"
                f"{'; ' + fmt(napi, 2) if placement == 'napi' else ''}) | "
                f"{fmt(proc, 2) if proc else 'n/a'} | "
                f"{fmt(100 * busy, 0) + '%' if busy is not None else '-'} | "
                f"{fmt(r['core_busy_s_per_mpkt'], 2)} | "
                f"{fmt(100 * r['gen_core_softirq_fraction'], 0)}% | {lat_s} | {status} |")
        out.append("")
    n = str(meta.get("search_trials", "1"))
    step_rule = "its one trial" if n == "1" else f"the majority of up to {n} trials"
    step_rule += (" with loss within the bound and at least 99 % of the rate offered; a trial "
                  "that failed only on the latter, the generator's shortfall, is run up to 3 "
                  "times, and a search whose result such a step set is noted as capped by the "
                  "generator")
    out += ["Columns: *Mpps* = packets counted by the XDP sink per second of generator "
            "time; *loss* = 1 - delivered/sent at full offered load; *NDR*/*PDR* = highest "
            "paced rate with 0 % / <= 0.5 % loss (binary search, "
            f"{meta['search_steps']} steps of {meta['search_s']} s, each step passed by "
            f"{step_rule}); loss includes frames veth "
            "dropped in front of the DUT (g0's tx_dropped: its receive ring or backlog was "
            "full; what --rx-ring's pfifo on g0 dropped when full; for the XDP generator's "
            "trials g0's xdp_xmit_errors); *overload* = "
            "delivered Mpps at the generator's highest rate (the max-load trials, or with "
            "--overload-xdp the XDP generator's trials, whose frames enter d0's XDP ring "
            "without an skb, or with --overload-gso the GSO socket generator's trials, whose "
            "datagrams g0 cuts into single frames) as a share of the NDR, the multiple of the "
            "NDR offered (the target is "
            ">= 5x; below 5 the generator could not offer more), and the same as a share of "
            "the PDR, which moves less between runs than the zero-loss NDR; "
            "*core CPU* = all "
            "non-idle time of the DUT's CPU (/proc/stat user+nice+system+irq+softirq) per "
            "million delivered packets, measured in one trial at the PDR rate (@PDR) and at "
            "full load (@max, where an overloaded core is 100 % busy whatever it delivers); "
            "it includes the receive work the "
            "kernel does for the DUT and the XDP sink's veth hop, and is the only figure for "
            "kernel forwarding; *(softirq)* = the irq+softirq part; *NAPI thread* (napi "
            "placement) = utime+stime of the pinned NAPI threads, which the kernel counts as "
            "system time of the core, not softirq (it can include softirq work run when the "
            "thread re-enabled bottom halves, so it overlaps the softirq figure); "
            "*process CPU* = "
            "utime+stime of the DUT process (/proc/PID/stat), which may also contain softirq "
            "work that interrupted it, so the two are not added; *gen core softirq* = share "
            "of the generator's core spent in softirq during the max-load trials: receive "
            "work done for the DUT off its core shows up here (XDP under rps; under rps "
            "also the softirq that sends RPS's inter-processor interrupts), besides timers "
            "and anything else the box runs. A poll-mode DUT (testpmd) "
            "keeps its core 100 % busy at any rate. RTT is generator -> DUT -> reflector -> "
            "DUT -> generator at 50 % of PDR counted in DUT packets (both directions), with "
            "generator and reflector sharing CPU 0.", ""]
    out.append("Notes:")
    out.append("")
    for r in rows:
        who = f"{r['dut']} ({r['size']}, {r['placement']})"
        for n in r.get("notes", []):
            out.append(f"- {who}: {n}")
        if r["status"] != "ok":
            out.append(f"- {who}: {r['status']}")
        lat = r.get("latency_us")
        if lat:
            parts = [f"{k} %: p50 {fmt(v['p50'], 0)}, p90 {fmt(v['p90'], 0)}, p99 "
                     f"{fmt(v['p99'], 0)}, p99.9 {fmt(v['p99.9'], 0)} us "
                     f"({v['received']}/{v['sent']} back"
                     f"{', tester-limited' if v['tester_limited'] else ''})" for k, v in sorted(
                         lat.items(), key=lambda kv: int(kv[0]))]
            out.append(f"- {who} RTT at " + "; ".join(parts))
    out.append("")
    return "\n".join(out)


def chart(path, rows, title):
    if not shutil.which("gnuplot"):
        print("report: gnuplot missing, no chart", file=sys.stderr)
        return
    data = path + ".dat"
    if not any("mpps_median" in r for r in rows):
        return  # fixed-rate trials only: the tables say it
    with open(data, "w") as f:
        for r in rows:
            if "mpps_median" in r:
                f.write(f"\"{r['dut']}\\n{r['size']} {r['placement']}\" {r['mpps_median']} "
                        f"{r['mpps_min']} {r['mpps_max']} {r.get('ndr_mpps', 0)} "
                        f"{r.get('pdr_mpps', 0)}\n")
            else:
                f.write(f"\"{r['dut']}\\n{r['size']} {r['placement']}\\n(not run)\" "
                        "0 0 0 0 0\n")
    script = f"""
set terminal pngcairo size {max(1200, 130 * len(rows))},600 font ",10"
set output "{path}.png"
set termoption noenhanced
set bmargin 4
set title "{title}"
set ylabel "Mpps delivered (64 B frames unless noted)"
set style data histograms
set style histogram errorbars gap 2 lw 1
set style fill solid 0.7 border -1
set boxwidth 0.9
set grid ytics
set yrange [0:*]
set key below
plot "{data}" using 2:3:4:xtic(1) title "max offered load: median (min-max)", \\
     "" using 5:5:5 title "NDR (0 % loss)", \\
     "" using 6:6:6 title "PDR (<= 0.5 % loss)"
"""
    try:
        subprocess.run(["gnuplot"], input=script, text=True, check=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        print(f"report: gnuplot failed: {e}", file=sys.stderr)
    finally:
        os.unlink(data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--mode", default="quick")
    ap.add_argument("--trials", type=int, default=0)
    ap.add_argument("--trial-s", default="")
    ap.add_argument("--search-steps", default="")
    ap.add_argument("--search-s", default="")
    ap.add_argument("--search-trials", default="1")
    ap.add_argument("--flows", default="")
    ap.add_argument("--family", default="4")
    ap.add_argument("--wall-s", default="")
    ap.add_argument("--command", default="make bench")
    ap.add_argument("--ringrelay-version", default="")
    ap.add_argument("--generator", default="UDP sockets")
    ap.add_argument("--placements", default="rps")
    ap.add_argument("--loadavg", default="")
    a = ap.parse_args()
    with open(a.records) as f:
        records = [json.loads(line) for line in f if line.strip()]
    rows = summarize(records)
    meta = {"stamp": os.path.basename(a.out), "mode": a.mode, "trials": a.trials,
            "trial_s": a.trial_s, "search_steps": a.search_steps, "search_s": a.search_s,
            "search_trials": a.search_trials,
            "flows": a.flows, "generator": a.generator,
            "placements": {p: PLACEMENTS.get(p, p) for p in a.placements.split(",")},
            "loadavg": a.loadavg, "family": a.family, "wall_s": a.wall_s, "command": a.command,
            "env": environment(a.ringrelay_version)}
    with open(a.out + ".json", "w") as f:
        json.dump({"meta": meta, "summary": rows, "records": records}, f, indent=1)
        f.write("\n")
    with open(a.out + ".md", "w") as f:
        f.write(markdown(meta, rows))
    chart(a.out, rows, f"ringrelay perf/ {a.mode} matrix {meta['stamp']}, "
          f"kernel {meta['env']['kernel']}, veth, DUT on 1 core")


if __name__ == "__main__":
    main()
