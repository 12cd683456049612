#!/usr/bin/env bash
# Runs every test: the Rust workspace (unit, integration, conformance suites, boot tests on both
# guests). Builds the Linux guest first when the cache lacks it (about 6 minutes on 2 cores; the
# cache is BPFLAB_CACHE, default ~/.cache/bpflab). No test skips: missing data or tools fail.
set -euo pipefail
cd "$(dirname "$0")/.."
export UNICORN_NO_PKG_CONFIG=1
if [ -z "${BPFLAB_LINUX_IMAGE_DIR:-}" ]; then
	BPFLAB_LINUX_IMAGE_DIR=$(bash guest-images/linux/build.sh | tail -n 1)
	export BPFLAB_LINUX_IMAGE_DIR
fi
cargo test --workspace --no-fail-fast
