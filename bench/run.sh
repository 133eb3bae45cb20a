#!/usr/bin/env bash
# herd beside the tools admins would otherwise use, on the same loopback
# fleet, in the same session: `herd run all -- uname -a` against parallel
# OpenSSH (fresh connections, the floor) and, with BENCH_PEERS=pyinfra, pyinfra.
#
#   bench/run.sh [N ...]          default: 50 100
#
# Uses ../shared/peer-bench where it lies: its hosts.sh starts the fleet
# (127.0.0.2.. port 2222, one sshd per host, curve25519 kex) and its
# lib/measure.py times every command identically (/usr/bin/time -v wall,
# controller CPU, process-tree peak RSS). Prints a table with ratios to the
# OpenSSH floor. Env: BENCH_RUNS (3), BENCH_PEERS ("" or "pyinfra"),
# PEER_BENCH (path to the harness).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
PEER_BENCH="${PEER_BENCH:-$repo/../shared/peer-bench}"
[[ -x $PEER_BENCH/hosts.sh ]] || { echo "bench: peer-bench harness not found at $PEER_BENCH" >&2; exit 1; }
export BENCH_QUIET_WAIT="${BENCH_QUIET_WAIT:-5}"
export BENCH_RESULTS="$here/run/results.jsonl"
# shellcheck source=/dev/null
source "$PEER_BENCH/lib/common.sh"
PY=python3   # measure.py needs only the standard library
mkdir -p "$here/run"
: >"$BENCH_RESULTS"

(cd "$repo" && cargo build --release --quiet --locked --bin herd)
HERD="$repo/target/release/herd"
peers="${BENCH_PEERS:-}"
[[ $peers == *pyinfra* ]] && ensure_venv

sizes=("$@")
((${#sizes[@]})) || sizes=(50 100)
for N in "${sizes[@]}"; do
  ensure_hosts "$N"
  project="$here/run/project-$N"
  mkdir -p "$project"
  # herd reads the harness's Ansible inventory unmodified (its
  # ansible_ssh_common_args carry the known_hosts file and strict checking).
  printf 'inventory = "%s"\nforks = %d\n' "$RUN/inventory.yml" "$N" >"$project/herd.toml"
  OPTS=$(ssh_opts)
  for rep in $(seq "$RUNS"); do
    measure "tool=herd,profile=default,n=$N,run=$rep,forks=$N,workload=adhoc" "herd-adhoc-n$N-r$rep" \
      --count 'ok_hosts=Linux' -- bash -c "cd '$project' && '$HERD' run all --per-host -- uname -a"
    measure "tool=openssh,profile=cold,n=$N,run=$rep,forks=$N,workload=adhoc" "floor-cold-n$N-r$rep" \
      --count 'ok_hosts=^Linux' -- bash -c "cut -d' ' -f1 $RUN/addresses.txt | xargs -P $N -I{} ssh $OPTS {} 'uname -a'"
    if [[ $peers == *pyinfra* ]]; then
      measure "tool=pyinfra,profile=default,n=$N,run=$rep,forks=$N,workload=adhoc" "pyinfra-adhoc-n$N-r$rep" \
        --count 'ok_hosts=Linux' -- bash -c "cd $PEER_BENCH/pyinfra && $VENV/bin/pyinfra -y --parallel $N inventory.py exec -- uname -a"
    fi
  done
done
"$PEER_BENCH/hosts.sh" down
python3 "$here/report.py" "$BENCH_RESULTS"
