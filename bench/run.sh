#!/usr/bin/env bash
# herd beside the tools admins would otherwise use, on the same loopback
# fleet, in the same session:
#   adhoc     `herd run all -- uname -a` vs parallel OpenSSH (fresh connections)
#   playbook  the harness's ansible/playbook.yml run unmodified by `herd play`
#             (template + 5 MiB copy + command), cold then rerun, vs the raw
#             OpenSSH copy of the file (cold) and `ssh true`-like adhoc (rerun)
# With BENCH_PEERS=pyinfra (or "pyinfra,ansible"), those tools too, on the same
# workloads (pyinfra: the harness's deploy.py and bench/deploy10.py; Ansible:
# the same playbooks, pipelining + ControlPersist); their venv is installed on
# first use.
# With BENCH_RTT=50ms every tool reaches every host through herd's fault
# proxy (`cargo run --example fleet -- proxy`, tests/it/fleet/proxy.rs) adding
# that round-trip time (half each way): the hosts' sshd moves to port 2223,
# the proxies listen on 127.0.0.x:2222 where the inventories point.
#
#   bench/run.sh [N ...]          default: 50 100
#   BENCH_RTT=50ms bench/run.sh 50 100
#
# Uses ../shared/peer-bench where it lies: its hosts.sh starts the fleet
# (127.0.0.2.. port 2222, one sshd per host, curve25519 kex) and its
# lib/measure.py times every command identically (/usr/bin/time -v wall,
# controller CPU, process-tree peak RSS). Prints a table with ratios to the
# OpenSSH floor. Env: BENCH_RUNS (3), BENCH_PEERS ("", "pyinfra", "pyinfra,ansible"),
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
mkdir -p "$here/run" "$RUN"
: >"$BENCH_RESULTS"
: >"$here/run/hostcpu.jsonl"

# BENCH_NO_BUILD=1 with HERD=path (and FLEET=path for BENCH_RTT): use those builds.
[[ ${BENCH_NO_BUILD:-} == 1 ]] || (cd "$repo" && cargo build --release --quiet --locked --bin herd)
ensure_payload
HERD="${HERD:-$repo/target/release/herd}"
peers="${BENCH_PEERS:-}"
[[ $peers == *pyinfra* || $peers == *ansible* ]] && ensure_venv
RTT="${BENCH_RTT:-}"
PROXY_PID=
if [[ -n $RTT ]]; then
  [[ ${BENCH_NO_BUILD:-} == 1 ]] || (cd "$repo" && cargo build --release --quiet --locked --example fleet)
  FLEET="${FLEET:-$repo/target/release/examples/fleet}"
fi
stop_proxy() {
  if [[ -n $PROXY_PID ]]; then
    kill "$PROXY_PID" 2>/dev/null || true
    wait "$PROXY_PID" 2>/dev/null || true
  fi
  PROXY_PID=
}
trap stop_proxy EXIT

# The harness's hosts with sshd on 2223 and a proxy adding $RTT on 2222:
# the generated inventory, hosts.json and known_hosts keep naming 2222.
hosts_behind_proxy() { # $1 = N
  local n=$1 i routes=()
  stop_proxy
  BENCH_PORT=2223 "$PEER_BENCH/hosts.sh" up "$n"
  rm -f "$RUN/up_count" # never reused by a run without the proxy
  sed -i 's/\]:2223 /]:2222 /' "$RUN/known_hosts"
  sed -i 's/ansible_port: 2223/ansible_port: 2222/' "$RUN/inventory.yml"
  sed -i 's/"port": 2223/"port": 2222/' "$RUN/hosts.json"
  for ((i = 1; i <= n; i++)); do routes+=("127.0.0.$((i + 1)):2222=127.0.0.$((i + 1)):2223"); done
  "$FLEET" proxy --rtt "$RTT" "${routes[@]}" 2>"$RUN/proxy.log" &
  PROXY_PID=$!
  for ((i = 1; i <= n; i++)); do
    for _ in $(seq 100); do
      (exec 3<>"/dev/tcp/127.0.0.$((i + 1))/2222") 2>/dev/null && break
      sleep 0.05
    done
  done
}

sizes=("$@")
((${#sizes[@]})) || sizes=(50 100)
for N in "${sizes[@]}"; do
  if [[ -n $RTT ]]; then hosts_behind_proxy "$N"; else ensure_hosts "$N"; fi
  project="$here/run/project-$N"
  mkdir -p "$project"
  # herd reads the harness's Ansible inventory unmodified (its
  # ansible_ssh_common_args carry the known_hosts file and strict checking).
  printf 'inventory = "%s"\nforks = %d\n' "$RUN/inventory.yml" "$N" >"$project/herd.toml"
  OPTS=$(ssh_opts)
  for rep in $(seq "$RUNS"); do
    measure "tool=herd,profile=default,n=$N,run=$rep,forks=$N,workload=adhoc,rtt=${RTT:-0}" "herd-adhoc-n$N-r$rep" \
      --count 'ok_hosts=Linux' -- bash -c "cd '$project' && '$HERD' run all --per-host -- uname -a"
    measure "tool=openssh,profile=cold,n=$N,run=$rep,forks=$N,workload=adhoc,rtt=${RTT:-0}" "floor-cold-n$N-r$rep" \
      --count 'ok_hosts=^Linux' -- bash -c "cut -d' ' -f1 $RUN/addresses.txt | xargs -P $N -I{} ssh $OPTS {} 'uname -a'"
    COPY_ONE="ssh $OPTS \"\$0\" \"mkdir -p \$1 && cat > \$1/payload.bin && sha256sum \$1/payload.bin\" < $RUN/payload.bin"
    reset_root_dirs
    measure "tool=openssh,profile=cold,n=$N,run=$rep,forks=$N,workload=copy,rtt=${RTT:-0}" "floor-copy-n$N-r$rep" \
      --count 'ok_hosts=payload\.bin$' -- bash -c "xargs -P $N -L1 bash -c '$COPY_ONE' < $RUN/addresses.txt"
    reset_root_dirs
    for phase in cold rerun; do
      measure "tool=herd,profile=default,n=$N,run=$rep,forks=$N,workload=playbook-$phase,rtt=${RTT:-0}" "herd-pb-$phase-n$N-r$rep" \
        --count 'ok_hosts=ok=4 +changed=\d+ +unreachable=0 +failed=0' --count 'changed_hosts=changed=[1-9]' -- \
        bash -c "cd '$project' && '$HERD' play $PEER_BENCH/ansible/playbook.yml --format json | python3 $here/recap.py"
    done
    # The ten-task playbook (bench/playbook10.yml) cold then rerun, with the
    # host CPU of each run (bench/hostcpu.py); BENCH_HERD_AB=1 also runs herd
    # with exec channels only (HERD_SSH_SHELL=0) as "herd-exec".
    variants=(1)
    [[ ${BENCH_HERD_AB:-} == 1 ]] && variants=(1 0)
    for shell in "${variants[@]}"; do
      tool=herd
      [[ $shell == 0 ]] && tool=herd-exec && reset_root_dirs
      for phase in cold rerun; do
        before=$(python3 "$here/hostcpu.py" "$RUN")
        measure "tool=$tool,profile=default,n=$N,run=$rep,forks=$N,workload=ten-$phase,rtt=${RTT:-0}" "$tool-ten-$phase-n$N-r$rep" \
          --count 'ok_hosts=ok=10 +changed=\d+ +unreachable=0 +failed=0' --count 'changed_hosts=changed=[1-9]' -- \
          bash -c "cd '$project' && HERD_SSH_SHELL=$shell '$HERD' play $here/playbook10.yml --format json | python3 $here/recap.py"
        sleep 1 # sessions end and are reaped after the run
        after=$(python3 "$here/hostcpu.py" "$RUN")
        printf '{"tool":"%s","workload":"ten-%s","n":%d,"tasks":10,"host_cpu_ms":%d}\n' "$tool" "$phase" "$N" $((after - before)) >>"$here/run/hostcpu.jsonl"
      done
      if [[ $shell == 0 ]]; then
        for phase in cold rerun; do
          measure "tool=herd-exec,profile=default,n=$N,run=$rep,forks=$N,workload=playbook-$phase,rtt=${RTT:-0}" "herd-exec-pb-$phase-n$N-r$rep" \
            --count 'ok_hosts=ok=4 +changed=\d+ +unreachable=0 +failed=0' --count 'changed_hosts=changed=[1-9]' -- \
            bash -c "cd '$project' && HERD_SSH_SHELL=0 '$HERD' play $PEER_BENCH/ansible/playbook.yml --format json | python3 $here/recap.py"
        done
      fi
    done
    # The same ten tasks with `strategy: free` (each host at its own pace),
    # a rerun: no host waits for the slowest at every task.
    sed 's/^  hosts: all$/  hosts: all\n  strategy: free/' "$here/playbook10.yml" >"$here/run/playbook10-free.yml"
    measure "tool=herd,profile=default,n=$N,run=$rep,forks=$N,workload=ten-free-rerun,rtt=${RTT:-0}" "herd-ten-free-rerun-n$N-r$rep" \
      --count 'ok_hosts=ok=10 +changed=0 +unreachable=0 +failed=0' --count 'changed_hosts=changed=[1-9]' -- \
      bash -c "cd '$project' && '$HERD' play $here/run/playbook10-free.yml --format json | python3 $here/recap.py"
    if [[ $peers == *pyinfra* ]]; then
      PYI="cd $PEER_BENCH/pyinfra && $VENV/bin/pyinfra -y --parallel $N inventory.py"
      L="tool=pyinfra,profile=default,n=$N,run=$rep,forks=$N,rtt=${RTT:-0}"
      measure "$L,workload=adhoc" "pyinfra-adhoc-n$N-r$rep" \
        --count 'ok_hosts=^\s+\[host\d+\]\s+Success' -- bash -c "$PYI exec -- uname -a"
      reset_root_dirs
      for phase in cold rerun; do
        measure "$L,workload=playbook-$phase" "pyinfra-pb-$phase-n$N-r$rep" \
          --extract 'ok_hosts=run a command\s+\d+\s+(\S+)' \
          --extract 'changed_hosts=copy 5 MiB payload\s+\d+\s+(\S+)' -- bash -c "$PYI deploy.py"
      done
      for phase in cold rerun; do
        measure "$L,workload=ten-$phase" "pyinfra-ten-$phase-n$N-r$rep" \
          --extract 'ok_hosts=a third file\s+(\d+)' --extract 'errors=Grand total\s+\d+\s+\S+\s+(\S+)' -- \
          bash -c "$PYI $here/deploy10.py"
      done
    fi
    if [[ $peers == *ansible* ]]; then
      # As Ansible users who care about speed configure it: pipelining and
      # ControlPersist (the harness's "pipelining" profile), forks = N.
      # Every measured run starts without live ControlPersist masters.
      export ANSIBLE_CONFIG=$PEER_BENCH/ansible/ansible-pipelining.cfg
      export ANSIBLE_HOME=$RUN/ansible-home ANSIBLE_SSH_CONTROL_PATH_DIR=$RUN/ansible-cp ANSIBLE_NOCOLOR=1
      POST="bash -c 'source $PEER_BENCH/lib/common.sh; close_masters $RUN/ansible-cp'"
      eval "$POST"
      L="tool=ansible,profile=pipelining,n=$N,run=$rep,forks=$N,rtt=${RTT:-0}"
      AP="$VENV/bin/ansible-playbook -i $RUN/inventory.yml -f $N"
      measure "$L,workload=adhoc" "ansible-adhoc-n$N-r$rep" --post "$POST" \
        --count 'ok_hosts=\| CHANGED \| rc=0' -- "$VENV/bin/ansible" all -i "$RUN/inventory.yml" -f "$N" -m command -a 'uname -a'
      reset_root_dirs
      for phase in cold rerun; do
        measure "$L,workload=playbook-$phase" "ansible-pb-$phase-n$N-r$rep" --post "$POST" \
          --count 'ok_hosts=ok=4 +changed=\d+ +unreachable=0 +failed=0' --count 'changed_hosts=changed=[1-9]' -- \
          bash -c "$AP $PEER_BENCH/ansible/playbook.yml"
      done
      for phase in cold rerun; do
        measure "$L,workload=ten-$phase" "ansible-ten-$phase-n$N-r$rep" --post "$POST" \
          --count 'ok_hosts=ok=10 +changed=\d+ +unreachable=0 +failed=0' --count 'changed_hosts=changed=[1-9]' -- \
          bash -c "$AP $here/playbook10.yml"
      done
    fi
  done
done
stop_proxy
"$PEER_BENCH/hosts.sh" down
python3 "$here/report.py" "$BENCH_RESULTS"
