#!/usr/bin/env python3
"""`herd serve` over a big store: how long the fleet page, /metrics and the
other pages take, and whether memory stays flat over many requests.

    bench/serve.py [--hosts 1000] [--hours 24] [--requests 10000] [HERD]

Builds a store the way a day of `herd collect` every 5 minutes would leave
it (every host: 14 metrics per collection, a reach record per collection;
one host in 50 down for the last hour), plus 200 runs over every host and
an alert firing on the down hosts. The store is created (schema) by herd
itself, then filled with SQLite directly: real collections of 1,000 hosts
are a different benchmark (bench/collect.sh). HERD defaults to
target/release/herd. Prints a Markdown table for bench/RESULTS.md.
"""
import argparse
import http.client
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time

here = os.path.dirname(os.path.abspath(__file__))
repo = os.path.dirname(here)
ap = argparse.ArgumentParser()
ap.add_argument("--hosts", type=int, default=1000)
ap.add_argument("--hours", type=int, default=24)
ap.add_argument("--requests", type=int, default=10000)
ap.add_argument("--runs", type=int, default=200)
ap.add_argument("herd", nargs="?", default=os.path.join(repo, "target/release/herd"))
args = ap.parse_args()

work = tempfile.mkdtemp(prefix="herd-serve-bench-")
state = os.path.join(work, "state")
hosts = [f"host{i:04d}" for i in range(1, args.hosts + 1)]
half = len(hosts) // 2
with open(os.path.join(work, "hosts.ini"), "w") as f:
    f.write("[web]\n" + "\n".join(hosts[:half]) + "\n[db]\n" + "\n".join(hosts[half:]) + "\n")
env = dict(os.environ, HERD_STATE_DIR=state, NO_COLOR="1")
herd = [args.herd, "-i", os.path.join(work, "hosts.ini")]
subprocess.run(herd + ["status"], env=env, cwd=work, capture_output=True)

t0 = time.time()
db = sqlite3.connect(os.path.join(state, "herd.db"))
now = int(time.time())
interval = 300
collections = args.hours * 3600 // interval
down = set(hosts[::50])
metrics = ["load.1", "load.5", "load.15", "cpu.used_pct", "mem.used_pct", "mem.total_bytes",
           "mem.available_bytes", "swap.used_pct", "disk./.used_pct", "disk./var.used_pct",
           "net.rx_bytes", "net.tx_bytes", "uptime.seconds", "procs.count"]
rng = random.Random(1)
with db:
    for c in range(collections):
        ts = now - (collections - c) * interval
        cur = db.execute("INSERT INTO collections (started_at, finished_at, host_count) VALUES (?, ?, ?)",
                         (ts, ts + 20, len(hosts)))
        cid = cur.lastrowid
        reach, samples = [], []
        for h in hosts:
            up = not (h in down and c >= collections - 12)
            reach.append((cid, h, ts, int(up), None if up else "connection refused"))
            if up:
                samples.extend((h, m, ts, rng.random() * 100) for m in metrics)
        db.executemany("INSERT INTO host_reach VALUES (?, ?, ?, ?, ?)", reach)
        db.executemany("INSERT INTO samples VALUES (?, ?, ?, ?)", samples)
    for r in range(args.runs):
        started = (now - 86400 + r * 400) * 1000
        cur = db.execute(
            "INSERT INTO runs (kind, command, pattern, user, host_count, started_at, finished_at,"
            " duration_ms, outcome, pid) VALUES ('run', 'systemctl is-active nginx', 'all', 'bench', ?, ?, ?, 2300, 'ok', 1)",
            (len(hosts), started, started + 2300))
        db.executemany(
            "INSERT INTO host_results (run_id, host, status, exit_code, stdout, stderr, error, duration_ms,"
            " finished_at) VALUES (?, ?, 'ok', 0, ?, '', NULL, 120, ?)",
            [(cur.lastrowid, h, "active\n" if i % 7 else "inactive\n", started + 2000)
             for i, h in enumerate(hosts)])
    # What record_samples keeps as it goes (schema step 7).
    db.execute("""INSERT OR REPLACE INTO latest_samples (host, metric, ts, value)
        SELECT s.host, s.metric, s.ts, s.value FROM samples s
        JOIN (SELECT host, metric, MAX(ts) AS ts FROM samples GROUP BY host, metric) m
          ON s.host = m.host AND s.metric = m.metric AND s.ts = m.ts""")
    db.executemany(
        "INSERT INTO alert_state (alert, host, firing, since, value) VALUES ('host_down', ?, 1, ?, NULL)",
        [(h, now - 3600) for h in down])
db.close()
count = lambda table: sqlite3.connect(os.path.join(state, "herd.db")).execute(f"SELECT count(*) FROM {table}").fetchone()[0]
print(f"store: {len(hosts)} hosts, {count('samples')} samples, {count('host_reach')} reach rows, "
      f"{count('host_results')} host results, {os.path.getsize(os.path.join(state, 'herd.db')) >> 20} MiB "
      f"(filled in {time.time() - t0:.0f}s)", file=sys.stderr)

server = subprocess.Popen(herd + ["serve", "--listen", "127.0.0.1:0"], env=env, cwd=work,
                          stderr=subprocess.PIPE, text=True)
line = server.stderr.readline()
port = int(line.strip().rstrip("/").rsplit(":", 1)[1])
threading.Thread(target=server.stderr.read, daemon=True).start()


def get(path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    start = time.perf_counter()
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read()
    took = time.perf_counter() - start
    conn.close()
    assert resp.status == 200, (path, resp.status, body[:200])
    return took, len(body)


def rss_mib():
    with open(f"/proc/{server.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024


last_run = args.runs
endpoints = ["/", "/?pattern=web", "/metrics", "/api/hosts", "/hosts/host0001",
             "/hosts/host0001?range=7d", "/runs", f"/runs/{last_run}", f"/api/runs/{last_run}", "/alerts"]
print("| endpoint | median ms | p95 ms | size KiB |")
print("|---|---:|---:|---:|")
for path in endpoints:
    for _ in range(3):
        get(path)
    times, size = [], 0
    for _ in range(20):
        t, size = get(path)
        times.append(t * 1000)
    times.sort()
    print(f"| `{path}` | {statistics.median(times):.0f} | {times[int(len(times) * 0.95) - 1]:.0f} | {size >> 10} |")
    sys.stdout.flush()

# Memory over many requests: every page kind, hosts and runs varied.
mix = ["/", "/metrics", "/api/hosts", "/runs", "/alerts", "/api/alerts"]
def path_for(i):
    k = i % 10
    if k < len(mix):
        return mix[k]
    if k == 6:
        return f"/hosts/{hosts[i % len(hosts)]}?range=1h"
    if k == 7:
        return f"/runs/{1 + i % last_run}"
    if k == 8:
        return f"/api/hosts/{hosts[i % len(hosts)]}/history?metric=load.1&range=24h"
    return "/nosuch?x=1"  # 404s too

samples = [(0, rss_mib())]
lock = threading.Lock()
done = [0]
start = time.time()
def worker(offset):
    i = offset
    while i < args.requests:
        p = path_for(i)
        try:
            get(p)
        except AssertionError as e:
            if "/nosuch" not in p:
                raise
        with lock:
            done[0] += 1
            if done[0] % 1000 == 0:
                samples.append((done[0], rss_mib()))
        i += 2
threads = [threading.Thread(target=worker, args=(o,)) for o in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
elapsed = time.time() - start
print()
print(f"RSS over {args.requests} requests (2 clients, {elapsed:.0f}s): "
      + ", ".join(f"{n}: {m:.1f} MiB" for n, m in samples))
server.terminate()
server.wait()
shutil.rmtree(work)
