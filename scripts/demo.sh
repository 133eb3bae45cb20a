#!/usr/bin/env bash
# The README demo: starts 10 real sshd hosts on 127.0.0.2-11 (a detached
# loopback fleet in demo/run) and runs herd's main job against them.
# Pass --keep to leave the fleet running afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh
cargo build --locked --quiet --bin herd --example fleet
herd="$PWD/target/debug/herd"
run_dir="$PWD/demo/run"
target/debug/examples/fleet up 10 "$run_dir"
keep=${1:-}
[[ $keep == --keep ]] || trap 'target/debug/examples/fleet down "$run_dir"' EXIT

cd "$run_dir"    # the fleet's herd.toml makes this a herd project
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
step herd inventory graph
"$herd" inventory graph
step herd run all -- uname -sr
"$herd" run all -- uname -sr
step "herd run web -- 'echo \$HOME'"
"$herd" run web -- 'echo $HOME'
step "herd run all -- 'test \$(hostname) || exit 3'"
"$herd" run 'db:&host[7:9]' -- 'ls /nonexistent' || true
step herd runs
"$herd" runs
[[ $keep == --keep ]] && echo "fleet left running: cd demo/run && $herd run all -- uptime; stop it with target/debug/examples/fleet down demo/run"
