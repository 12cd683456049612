#!/usr/bin/env bash
# Sets up the machine and runs the main job: boot the default guest (the teaching kernel) with
# the seed's example filter attached to dst_discard.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export UNICORN_NO_PKG_CONFIG=1
cargo run --release -q -p repl --bin bpflab -- trace --attach 'dst_discard=examples/dst_discard.bpf.c'
