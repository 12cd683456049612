#!/usr/bin/env bash
# Runs every test: the Rust workspace (unit, integration, conformance suites, boot tests).
set -euo pipefail
cd "$(dirname "$0")/.."
export UNICORN_NO_PKG_CONFIG=1
cargo test --workspace
