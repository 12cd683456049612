#!/usr/bin/env bash
# Builds the Linux guest a second time, into an empty cache directory of its own, and checks
# that every file hashes the same as the image the tests ran on (the manifests must be equal).
# This is the one slow test of reproducibility (a full kernel build, about 6 minutes on 2
# cores); .ci/run runs it after the test suite.
#
#   scripts/check-reproducible.sh [IMAGE_DIR]     # default: $BPFLAB_LINUX_IMAGE_DIR, else build
set -euo pipefail
cd "$(dirname "$0")/.."
first=${1:-${BPFLAB_LINUX_IMAGE_DIR:-}}
if [ -z "$first" ]; then
	first=$(bash guest-images/linux/build.sh | tail -n 1)
fi
[ -f "$first/manifest" ] || { echo "check-reproducible: $first/manifest: no such file (build the image first)" >&2; exit 1; }
cache=$(mktemp -d "${TMPDIR:-/tmp}/bpflab-repro.XXXXXX")
trap 'rm -rf "$cache"' EXIT
echo "check-reproducible: building again in $cache" >&2
second=$(BPFLAB_CACHE=$cache bash guest-images/linux/build.sh | tail -n 1)
if ! diff -u "$first/manifest" "$second/manifest"; then
	echo "check-reproducible: the two builds differ (above: $first/manifest vs $second/manifest)" >&2
	exit 1
fi
echo "check-reproducible: two builds in two caches hash the same:" >&2
grep '  ' "$first/manifest" >&2
