#!/usr/bin/env bash
# The README demo: starts 10 real sshd hosts on 127.0.0.2-11 (a detached
# loopback fleet in demo/run, a herd project) and runs herd's main job
# against them. Pass --keep to leave the fleet running afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh
cargo build --locked --quiet --bin herd --example fleet
herd="$PWD/target/debug/herd"
fleet="$PWD/target/debug/examples/fleet"
run_dir="$PWD/demo/run"
rm -rf "$run_dir/.herd"
"$fleet" up 10 "$run_dir"
keep=${1:-}
[[ $keep == --keep ]] || trap '"$fleet" down "$run_dir"' EXIT

cd "$run_dir"    # the fleet's herd.toml makes this a herd project
# Give the hosts something to differ on: a release file, two versions.
for i in $(seq 1 10); do
  v=1.4.2; ((i > 7)) && v=1.4.1
  echo "$v" >"hosts/host$i/root/VERSION"
done
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
step herd inventory graph
"$herd" inventory graph
step "herd run all -- uname -sr"
"$herd" run all -- uname -sr
step "herd run all -- cat '\$HOME/../root/VERSION'"
"$herd" run all -- cat '$HOME/../root/VERSION'
step "herd run all -- 'grep -q 1.4.2 \$HOME/../root/VERSION'   # fails on host8-10"
"$herd" run all -- 'grep -q 1.4.2 $HOME/../root/VERSION' || echo "(exit code $?: some hosts failed)"
for i in 8 9 10; do echo 1.4.2 >"hosts/host$i/root/VERSION"; done
step "herd run --rerun-failed    # after fixing host8-10"
"$herd" run --rerun-failed
step "herd play ../../playbooks/site.yml -e version=1.5.0 --diff   # then again: nothing changes"
"$herd" play ../../playbooks/site.yml -e version=1.5.0 --diff | tail -25
"$herd" play ../../playbooks/site.yml -e version=1.5.0 | tail -4
step "herd collect && herd status    # metrics from every host in one round trip each"
"$herd" collect
"$herd" status | head -6
step "herd audit all    # sshd settings, reboot, ports per host"
"$herd" audit all | tail -4 || true
step "herd runs"
"$herd" runs
if [[ $keep == --keep ]]; then
  echo
  echo "fleet left running: cd demo/run && $herd run all -- uptime"
  echo "stop it with: $fleet down demo/run"
fi
