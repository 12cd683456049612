#!/usr/bin/env bash
# Installs the build dependencies bpflab needs on Debian 12 (idempotent).
#   cmake, clang/libclang: build Unicorn (unicorn-engine crate, bindgen)
#   gcc, make, binutils:   build the teaching kernel (guest-images/teaching)
#   qemu-system-x86:       the teaching kernel's independent boot test (make -C guest-images/teaching test)
#   libbpf-dev:            bpf_helpers.h for the shared BPF C samples the loader and verifier tests compile
set -euo pipefail
need=()
for pkg in cmake clang libclang-dev llvm gcc make binutils qemu-system-x86 pkg-config libbpf-dev linux-libc-dev; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
command -v cargo >/dev/null || { echo "setup: cargo (Rust) is required: https://rustup.rs" >&2; exit 1; }
