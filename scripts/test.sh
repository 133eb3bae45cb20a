#!/usr/bin/env bash
# Runs herd's whole test suite: formatting, lints, unit tests and the
# integration tests against real sshd hosts on 127.0.0.x.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked
