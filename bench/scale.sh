#!/usr/bin/env bash
# herd at 1,000 / 5,000 / 10,000 hosts, on the simulated fleet
# (examples/simfleet.rs, tests/it/fleet/sim.rs: one process answering SSH for
# N virtual hosts on N loopback addresses, real key exchange, a host key
# per host, strict known_hosts for every tool):
#   run      `herd run all -- true`      vs OpenSSH (xargs -P) and pyinfra exec
#   play3    a 3-task `herd play`        vs pyinfra (the same 3 commands)
#   collect  `herd collect all` (built-in metrics)
#
#   bench/scale.sh [N ...]              default: 1000 5000 10000
#   BENCH_PEERS="openssh pyinfra" BENCH_PEER_MAX=1000 bench/scale.sh 1000 5000
#
# Every tool runs with parallelism N except OpenSSH: `xargs -P` with
# BENCH_SSH_P (default 500) processes at once, since 10,000 ssh processes
# at once would not fit in memory. Peers run only up to BENCH_PEER_MAX hosts
# (default: all sizes); every command is timeboxed to BENCH_TIMEBOX seconds
# (default 600) and a timed-out run is recorded with rc 124.
# Uses ../shared/peer-bench's lib/measure.py (wall, CPU, peak RSS via
# /usr/bin/time -v) and its venv for pyinfra. The simulator's own CPU is
# not counted in any tool's figures. Results: bench/run/scale.jsonl, a
# table from bench/scale_report.py.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
PEER_BENCH="${PEER_BENCH:-$repo/../shared/peer-bench}"
[[ -d $PEER_BENCH ]] || PEER_BENCH="$repo/../../shared/peer-bench" # from a worktree
export BENCH_QUIET_WAIT="${BENCH_QUIET_WAIT:-5}"
export BENCH_RESULTS="${BENCH_RESULTS:-$here/run/scale.jsonl}"
# shellcheck source=/dev/null
source "$PEER_BENCH/lib/common.sh"
PY=python3
RUNS="${BENCH_RUNS:-1}"
TIMEBOX="${BENCH_TIMEBOX:-600}"
PEERS="${BENCH_PEERS-openssh pyinfra}"
PEER_MAX="${BENCH_PEER_MAX:-100000}"
SSH_P="${BENCH_SSH_P:-500}"
mkdir -p "$here/run"

# BENCH_NO_BUILD=1: use the release binaries as they are.
[[ -n ${BENCH_NO_BUILD:-} ]] || (cd "$repo" && cargo build --release --quiet --locked --bin herd --example simfleet)
HERD="$repo/target/release/herd"
SIM="$repo/target/release/examples/simfleet"
[[ $PEERS == *pyinfra* ]] && ensure_venv

SIM_PID=
stop_sim() {
  if [[ -n $SIM_PID ]]; then
    kill "$SIM_PID" 2>/dev/null || true
    wait "$SIM_PID" 2>/dev/null || true
  fi
  SIM_PID=
}
trap stop_sim EXIT

start_sim() { # $1 = N, $2 = dir
  local n=$1 dir=$2
  stop_sim
  rm -rf "$dir"
  mkdir -p "$dir"
  "$SIM" --hosts "$n" --dir "$dir" >"$dir.ready" 2>"$dir.log" &
  SIM_PID=$!
  for _ in $(seq 600); do
    grep -q '^ready' "$dir.ready" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "bench: simfleet did not start" >&2
  cat "$dir.log" >&2
  exit 1
}

sizes=("$@")
((${#sizes[@]})) || sizes=(1000 5000 10000)
for N in "${sizes[@]}"; do
  dir="$here/run/sim-$N"
  start_sim "$N" "$dir"
  cat >"$dir/play3.yml" <<'YAML'
- hosts: all
  gather_facts: false
  tasks:
    - command: "true"
    - command: echo hello
    - shell: uname -a
YAML
  cat >"$dir/deploy3.py" <<'PY'
from pyinfra.operations import server

server.shell(name="true", commands=["true"])
server.shell(name="echo hello", commands=["echo hello"])
server.shell(name="uname -a", commands=["uname -a"])
PY
  T="timeout -s KILL $TIMEBOX"
  for rep in $(seq "$RUNS"); do
    L="n=$N,run=$rep,forks=$N"
    measure "tool=herd,$L,workload=run" "scale-herd-run-n$N-r$rep" \
      --extract 'ok_hosts=^(\d+) ok, 0 failed, 0 unreachable' -- \
      bash -c "cd '$dir' && $T '$HERD' run all -- true"
    measure "tool=herd,$L,workload=play3" "scale-herd-play3-n$N-r$rep" \
      --count 'ok_hosts=ok=3 +changed=\d+ +unreachable=0 +failed=0' -- \
      bash -c "cd '$dir' && $T '$HERD' play play3.yml --format json | python3 '$here/recap.py'"
    measure "tool=herd,$L,workload=collect" "scale-herd-collect-n$N-r$rep" \
      --extract 'ok_hosts=from (\d+) of \d+ hosts' -- \
      bash -c "cd '$dir' && $T '$HERD' collect all"
    measure "tool=herd,$L,workload=runs-show" "scale-herd-runs-show-n$N-r$rep" \
      --extract 'ok_hosts=^(\d+) ok, 0 failed, 0 unreachable' -- \
      bash -c "cd '$dir' && $T '$HERD' runs show last"
    ((N <= PEER_MAX)) || continue
    if [[ $PEERS == *openssh* ]]; then
      P=$((N < SSH_P ? N : SSH_P))
      measure "tool=openssh,n=$N,run=$rep,forks=$P,workload=run" "scale-openssh-run-n$N-r$rep" \
        --count 'ok_hosts=^ok$' -- \
        bash -c "$T xargs -P $P -I{} sh -c 'ssh $(cat "$dir/ssh_options") {} true && echo ok' < '$dir/addresses.txt'"
    fi
    if [[ $PEERS == *pyinfra* ]]; then
      PYI="cd '$dir' && $T $VENV/bin/pyinfra -y --parallel $N inventory.py"
      measure "tool=pyinfra,$L,workload=run" "scale-pyinfra-run-n$N-r$rep" \
        --count 'ok_hosts=^\s+\[host\d+\]\s+Success' -- bash -c "$PYI exec -- true"
      measure "tool=pyinfra,$L,workload=play3" "scale-pyinfra-play3-n$N-r$rep" \
        --extract 'ok_hosts=uname -a\s+\d+\s+(\d+)' -- bash -c "$PYI deploy3.py"
    fi
  done
  stop_sim
done
python3 "$here/scale_report.py" "$BENCH_RESULTS"
