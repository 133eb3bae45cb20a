#!/usr/bin/env bash
# `herd collect` over N local hosts (default 200): wall time, controller CPU
# per host, and store size per 1,000 samples.
#
#   bench/collect.sh [N]            env: BENCH_RUNS (3), HERD (herd binary)
#
# Starts a detached loopback fleet with examples/fleet.rs (one sshd per host
# on 127.0.0.2.., curve25519 kex, strict host key checking), runs `herd
# collect all` BENCH_RUNS times with forks = N under /usr/bin/time, then
# measures the store: the database is checkpointed and its used pages are
# divided by the samples it holds. The fleet is stopped at the end.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
N="${1:-200}"
RUNS="${BENCH_RUNS:-3}"
dir="$here/run/collect-$N"
mkdir -p "$here/run"

if [[ -z ${HERD:-} ]]; then
  (cd "$repo" && cargo build --release --quiet --locked --bin herd)
  HERD="$repo/target/release/herd"
fi
(cd "$repo" && cargo run --quiet --example fleet -- up "$N" "$dir")
trap '(cd "$repo" && cargo run --quiet --example fleet -- down "$dir")' EXIT
rm -f "$dir"/.herd/herd.db*
# A collector, a service and a probe beside the built-in metrics, as a real
# config would have.
cat >"$dir/collect.yml" <<'YAML'
services: [ssh]
collectors:
  - name: files
    command: ls / | wc -l
    parse: number
probes:
  - tcp: 127.0.0.1:22
YAML

printf '| run | hosts reached | samples | wall s | controller CPU ms/host | peak RSS MiB |\n|---:|---:|---:|---:|---:|---:|\n'
for run in $(seq "$RUNS"); do
  out="$dir/collect-$run.json"
  ( cd "$dir" && /usr/bin/time -f '%e %U %S %M' -o "$dir/time-$run" "$HERD" collect all --forks "$N" --format json >"$out" ) || true
  read -r wall user sys rss <"$dir/time-$run"
  python3 - "$out" "$wall" "$user" "$sys" "$rss" "$N" "$run" <<'PY'
import json, sys
out, wall, user, sys_, rss, n, run = sys.argv[1:]
s = json.load(open(out))
cpu_ms = (float(user) + float(sys_)) * 1000 / int(n)
print(f"| {run} | {s['reached']}/{s['hosts']} | {s['samples']} | {float(wall):.2f} | {cpu_ms:.1f} | {int(rss)/1024:.0f} |")
PY
  sleep 1
done

python3 - "$dir/.herd/herd.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
samples = db.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
page = db.execute("PRAGMA page_size").fetchone()[0]
used = (db.execute("PRAGMA page_count").fetchone()[0] - db.execute("PRAGMA freelist_count").fetchone()[0]) * page
print(f"\nstore: {samples} samples in {used/1024:.0f} KiB = {used/1024/(samples/1000):.1f} KiB per 1,000 samples")
PY
