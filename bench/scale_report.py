#!/usr/bin/env python3
"""Table of bench/scale.sh results: medians per (workload, N, tool).

    bench/scale_report.py bench/run/scale.jsonl
"""
import json
import statistics
import sys
from collections import defaultdict

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
groups = defaultdict(list)
for r in rows:
    groups[(r["workload"], int(r["n"]), r["tool"])].append(r)


def med(rs, key):
    vals = [r[key] for r in rs if isinstance(r.get(key), (int, float))]
    return statistics.median(vals) if vals else float("nan")


print("| workload | N | tool | parallel | wall s | controller CPU ms/host | peak RSS MiB | RSS KiB/host | ok hosts | rc |")
print("|---|---:|---|---:|---:|---:|---:|---:|---:|---|")
order = ["run", "play3", "collect", "runs-show"]
for wl, n, tool in sorted(groups, key=lambda k: (k[1], order.index(k[0]) if k[0] in order else 9, k[2])):
    rs = groups[(wl, n, tool)]
    cpu_ms = med(rs, "client_cpu_s") * 1000 / n
    # herd is one process: its own peak. Peers: the process tree's peak.
    rss_kb = med(rs, "max_rss_kb" if tool == "herd" else "tree_peak_rss_kb")
    ok = min(int(r.get("ok_hosts", 0) or 0) for r in rs)
    rcs = ",".join(sorted({str(r.get("rc")) for r in rs}))
    par = rs[0].get("forks", "")
    print(f"| {wl} | {n} | {tool} | {par} | {med(rs, 'wall_s'):.2f} | {cpu_ms:.2f} | "
          f"{rss_kb / 1024:.0f} | {rss_kb / n:.0f} | {ok}/{n} | {rcs} |")
