#!/usr/bin/env bash
# Runs Ansible's own integration tests (the conformance suite kept outside
# the repo, in $repo/../shared/conformance/ansible; GPL-3.0 test data, read
# where it lies and never copied into the repo) with `herd play` against a
# loopback sshd fleet, and prints one line per target:
#
#   target  tasks ok changed failed skipped ignored rescued  asserts passed failed
#
# Each target is one play of the suite's site.yml, run on its own from a
# playbook of that play alone (written beside site.yml, so role paths
# resolve the same): herd loads a whole playbook before running it, so a
# target using something herd lacks must not stop the others. The suite
# writes into its own fixture tree while it runs, so it runs on a
# temporary copy.
#
# Usage: tests/conformance.sh [TARGET...]       (default: every target)
# Env:   HERD       herd binary (default: cargo build, target/debug/herd)
#        FLEET_DIR  a running fleet's directory (default: start one with
#                   `cargo run --example fleet -- up 2 DIR`, stopped at exit)
#        SUITE      the suite (default: $repo/../shared/conformance/ansible)
#        KEEP       keep the work directory (JSON events per target)
# Exit: 0 when every target has failed=0 and no failed assert, 1 otherwise.
#
# Only host1 runs the suite: the hosts of a loopback fleet share one
# filesystem, and the suite uses fixed paths (/tmp/ansible-test-abs-link,
# the controller's fixture tree), so two hosts would race.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
suite=${SUITE:-$repo/../shared/conformance/ansible}
if [[ ! -f $suite/site.yml ]]; then
    echo "conformance: suite not found at $suite; skipped"
    exit 0
fi
for tool in jq; do
    command -v "$tool" >/dev/null || { echo "conformance: needs $tool" >&2; exit 2; }
done

work=$(mktemp -d /tmp/herd-conformance.XXXXXX)
# The suite's own test account (setup_test_user.yml of find, slurp and
# unarchive): a run that stopped before its "delete test user" handler
# leaves it, with files in its home that make unarchive's next run find
# nothing to change. Start from no such account, as upstream's CI does.
if getent passwd ansibletest0 >/dev/null; then
    userdel --remove --force ansibletest0 2>/dev/null || true
fi
# Likewise file's accounts (its "remove users"/"remove groups" handlers)
# and its world-writable scratch directory: the check-mode tasks expect
# `nonexistent` and `test_uid` not to exist yet.
for user in nonexistent test_uid; do
    if getent passwd "$user" >/dev/null; then userdel --remove --force "$user" 2>/dev/null || true; fi
done
for group in nonexistent1 test_gid; do
    if getent group "$group" >/dev/null; then groupdel "$group" 2>/dev/null || true; fi
done
rm -rf /tmp/worldwritable
fleet_started=
# Some targets write relative paths, which land in the login directory (the
# ssh user's passwd home, outside the fleet): after the run, remove the ones
# that were not there before, so a second run starts clean.
login_dir=$(getent passwd "$(id -un)" | cut -d: -f6)
left_behind=()
for name in file.txt foo.txt subdir checkmode_subdir destdir_should_never_exist_because_of_check_mode; do
    [[ -e $login_dir/$name || -L $login_dir/$name ]] || left_behind+=("$login_dir/$name")
done
cleanup() {
    [[ ${#left_behind[@]} -gt 0 ]] && rm -rf -- "${left_behind[@]}"
    if [[ -n $fleet_started ]]; then
        (cd "$repo" && cargo run -q --example fleet -- down "$FLEET_DIR" >/dev/null 2>&1) || true
    fi
    if [[ -z ${KEEP:-} ]]; then rm -rf "$work"; else echo "conformance: kept $work" >&2; fi
}
trap cleanup EXIT

if [[ -z ${HERD:-} ]]; then
    (cd "$repo" && cargo build -q)
    HERD=$repo/target/debug/herd
fi
if [[ -z ${FLEET_DIR:-} ]]; then
    FLEET_DIR=$work/fleet
    (cd "$repo" && cargo run -q --example fleet -- up 2 "$FLEET_DIR")
    fleet_started=1
fi

cp -r "$suite" "$work/suite"
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    mapfile -t targets < <(sed -n 's/^- name: conformance target //p' "$work/suite/site.yml")
fi

printf '%-28s %5s %5s %7s %6s %7s %7s %7s  %7s %7s\n' \
    target tasks ok changed failed skipped ignored rescued asserts failed
status=0
# One playbook per target: the lines of its play in site.yml.
awk -v dir="$work/suite" '
    /^- name: conformance target / { out = dir "/play-" $5 ".yml" }
    out != "" { print > out }
' "$work/suite/site.yml"
for target in "${targets[@]}"; do
    events=$work/$target.json
    playbook=$work/suite/play-$target.yml
    if [[ ! -f $playbook ]]; then
        printf '%-28s did not run: no play "conformance target %s" in site.yml\n' "$target" "$target"
        status=1
        continue
    fi
    (cd "$FLEET_DIR" && "$HERD" play "$playbook" --tags "$target" \
        --limit host1 --format json -e "conformance_dir=$work/scratch") \
        >"$events" 2>"$work/$target.err" || true
    # The target's own tasks: task_done events inside its play.
    line=$(jq -rs --arg play "conformance target $target" '
        (reduce .[] as $e ({in: false, out: []};
            if $e.event == "play_start" then .in = ($e.name == $play)
            elif .in and $e.event == "task_start" then .module = $e.module
            elif .in and $e.event == "task_done" then
                .module as $m | .out += [$e.results[] | {status, module: $m}]
            else . end)) as $r
        | $r.out as $all
        | ([.[] | select(.event == "recap")] | last | .hosts.host1 // {}) as $recap
        | [($all | length),
           ($all | map(select(.status == "ok" or .status == "changed" or .status == "ignored")) | length),
           ($all | map(select(.status == "changed")) | length),
           ($recap.failed // 1),
           ($all | map(select(.status == "skipped")) | length),
           ($all | map(select(.status == "ignored")) | length),
           ($recap.rescued // 0),
           ($all | map(select(.module == "assert" and .status == "ok")) | length),
           ($all | map(select(.module == "assert" and (.status == "failed" or .status == "ignored"))) | length)]
        | @tsv' "$events" 2>/dev/null) || line=""
    if [[ -z $line ]]; then
        printf '%-28s did not run: %s\n' "$target" "$(tail -n 1 "$work/$target.err")"
        status=1
        continue
    fi
    read -r tasks ok changed failed skipped ignored rescued passed afailed <<<"$line"
    printf '%-28s %5s %5s %7s %6s %7s %7s %7s  %7s %7s\n' "$target" \
        "$tasks" "$ok" "$changed" "$failed" "$skipped" "$ignored" "$rescued" "$passed" "$afailed"
    if [[ $failed != 0 || $afailed != 0 ]]; then status=1; fi
done
exit $status
