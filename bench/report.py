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
rtts = sorted({str(r.get("rtt", 0)) for r in rows})
if rtts != ["0"]:
    print(f"Round-trip time added by the proxy: {', '.join(rtts)}\n")
groups = defaultdict(list)
for r in rows:
    groups[(r["workload"], int(r["n"]), r["tool"])].append(r)


def med(rs, key):
    vals = [r[key] for r in rs if isinstance(r.get(key), (int, float))]
    return statistics.median(vals) if vals else float("nan")


# Which peer row each herd workload is compared with.
BASELINE = {
    "adhoc": [("adhoc", "openssh"), ("adhoc", "pyinfra"), ("adhoc", "ansible")],
    "playbook-cold": [("copy", "openssh"), ("playbook-cold", "pyinfra"), ("playbook-cold", "ansible")],
    "playbook-rerun": [("adhoc", "openssh"), ("playbook-rerun", "pyinfra"), ("playbook-rerun", "ansible"),
                       ("playbook-rerun", "herd-exec")],
    "ten-cold": [("ten-cold", "pyinfra"), ("ten-cold", "ansible")],
    "ten-free-rerun": [("adhoc", "openssh"), ("ten-rerun", "herd"), ("ten-rerun", "pyinfra"), ("ten-rerun", "ansible")],
    "ten-rerun": [("adhoc", "openssh"), ("adhoc", "herd"), ("ten-rerun", "herd-exec"), ("ten-rerun", "pyinfra"),
                  ("ten-rerun", "ansible")],
}

print("| workload | N | tool | runs | wall s | controller CPU ms/host | controller RSS MiB | ok hosts (min) | changed hosts (max) |")
print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
order = ["adhoc", "copy", "playbook-cold", "playbook-rerun", "ten-cold", "ten-rerun", "ten-free-rerun"]
for wl, n, tool in sorted(groups, key=lambda k: (k[1], order.index(k[0]) if k[0] in order else 9, k[2])):
    rs = groups[(wl, n, tool)]
    wall = med(rs, "wall_s")
    cpu_ms = med(rs, "client_cpu_s") * 1000 / n
    # herd is one process: its own peak RSS. Peers spawn one ssh per host:
    # report the whole process tree's peak.
    rss_key = "max_rss_kb" if tool == "herd" else "tree_peak_rss_kb"
    rss = med(rs, rss_key) / 1024
    ok = min(r.get("ok_hosts", 0) for r in rs)
    changed = max((r.get("changed_hosts", 0) or 0) for r in rs)
    print(f"| {wl} | {n} | {tool} | {len(rs)} | {wall:.2f} | {cpu_ms:.1f} | {rss:.0f} | {ok}/{n} | {changed} |")

print()
print("| N | herd workload | herd wall s | compared with | its wall s | herd / it |")
print("|---:|---|---:|---|---:|---:|")
for (wl, n, tool) in sorted(groups, key=lambda k: (k[1], k[0])):
    if tool != "herd" or wl not in BASELINE:
        continue
    for base_wl, base_tool in BASELINE[wl]:
        base = groups.get((base_wl, n, base_tool))
        if not base or (base_wl, base_tool) == (wl, tool):
            continue
        h, b = med(groups[(wl, n, tool)], "wall_s"), med(base, "wall_s")
        print(f"| {n} | {wl} | {h:.2f} | {base_tool} {base_wl} | {b:.2f} | {h / b:.2f}x |")

# Host CPU (bench/hostcpu.py: the fleet's sshd and everything they ran).
import os
cpu_file = os.path.join(os.path.dirname(sys.argv[1]), "hostcpu.jsonl")
if os.path.exists(cpu_file):
    cpu = defaultdict(list)
    for line in open(cpu_file):
        if line.strip():
            r = json.loads(line)
            cpu[(r["workload"], r["n"], r["tool"])].append(r["host_cpu_ms"] / r["n"] / r["tasks"])
    if cpu:
        print()
        print("| workload | N | tool | runs | host CPU ms per host per task (median) |")
        print("|---|---:|---|---:|---:|")
        for (wl, n, tool), vals in sorted(cpu.items(), key=lambda kv: (kv[0][1], kv[0][0], kv[0][2])):
            print(f"| {wl} | {n} | {tool} | {len(vals)} | {statistics.median(vals):.1f} |")

# Issue 18's latency aim: a ten-task rerun against connection setup + ten
# round trips. herd's adhoc is setup + one command (channel open + exec:
# two round trips), so the floor is adhoc + 8 x RTT.
for rtt in rtts:
    try:
        rtt_s = float(rtt.rstrip("ms")) / 1000 if rtt.endswith("ms") else float(rtt)
    except ValueError:
        continue
    if rtt_s <= 0:
        continue
    for n in sorted({k[1] for k in groups}):
        adhoc = groups.get(("adhoc", n, "herd"))
        for wl in ("ten-rerun", "ten-free-rerun"):
            ten = groups.get((wl, n, "herd"))
            if adhoc and ten:
                floor = med(adhoc, "wall_s") + 8 * rtt_s
                wall = med(ten, "wall_s")
                print(f"\nN={n}, RTT {rtt}: {wl} {wall:.2f} s against setup + 10 RTT "
                      f"{floor:.2f} s = {wall / floor:.2f}x (aim <= 1.3x)")
