#!/usr/bin/env python3
"""herd beside its peers: medians per (tool, N) from one bench/run.sh session,
with herd's ratio to each peer measured in the same session.

    bench/report.py bench/run/results.jsonl
"""
import json
import statistics
import sys
from collections import defaultdict

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
groups = defaultdict(list)
for r in rows:
    groups[(int(r["n"]), r["tool"])].append(r)


def med(rs, key):
    vals = [r[key] for r in rs if isinstance(r.get(key), (int, float))]
    return statistics.median(vals) if vals else float("nan")


print("| N | tool | runs | wall s | controller CPU ms/host | controller RSS MiB | ok hosts (min) | wall vs herd |")
print("|---:|---|---:|---:|---:|---:|---:|---:|")
for n in sorted({k[0] for k in groups}):
    herd_wall = med(groups.get((n, "herd"), []), "wall_s")
    for tool in ("herd", "openssh", "pyinfra"):
        rs = groups.get((n, tool))
        if not rs:
            continue
        wall = med(rs, "wall_s")
        cpu_ms = med(rs, "client_cpu_s") * 1000 / n
        # herd is one process: its own peak RSS. Peers spawn one ssh per host:
        # report the whole process tree's peak.
        rss_key = "max_rss_kb" if tool == "herd" else "tree_peak_rss_kb"
        rss = med(rs, rss_key) / 1024
        ok = min(r.get("ok_hosts", 0) for r in rs)
        ratio = wall / herd_wall if herd_wall == herd_wall and herd_wall > 0 else float("nan")
        print(f"| {n} | {tool} | {len(rs)} | {wall:.2f} | {cpu_ms:.1f} | {rss:.0f} | {ok}/{n} | {ratio:.2f}x |")
