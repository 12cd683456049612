#!/usr/bin/env python3
"""bpflab's Linux guest against QEMU TCG on the same files, interleaved.

    python3 scripts/bench-linux-qemu.py [--runs 5] [--image-dir DIR] [--bpflab target/release/bpflab]

Each round runs, in turn:
  - bpflab  `bpflab boot --image linux` (the workload, to power-off)
  - qemu    `qemu-system-x86_64 -accel tcg -icount shift=0,sleep=off` on the image's bzImage and
            initramfs with the same command line (QEMU does not exit when the guest halts: it is
            stopped when the console says "reboot: System halted")
  - the same two booted to the shell (`console=ttyS0`), stopped at the shell's first prompt.
For each run: host wall time to the end marker, peak RSS (VmHWM, read from /proc just before
the end), and for bpflab the guest instructions it reports. Prints medians and spread (min-max)
and the ratio of medians, as a Markdown table for BENCHMARKS.md.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import time

HALTED = b"reboot: System halted"
SHELL = b"/ # "


def hwm_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_until(cmd, marker, timeout=120, stdin=None, wait=False):
    """Starts cmd, reads its merged output until `marker` (then kills it, or with `wait` reads
    on until it exits); returns (seconds to the marker, peak KiB, output)."""
    t0 = time.monotonic()
    p = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
    )
    if stdin is not None:
        p.stdin.write(stdin)
        p.stdin.flush()
    out = b""
    peak = 0
    elapsed = None
    fd = p.stdout.fileno()
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        out += chunk
        peak = max(peak, hwm_kib(p.pid))
        if marker in out[-len(chunk) - len(marker):] and elapsed is None:
            elapsed = time.monotonic() - t0
            peak = max(peak, hwm_kib(p.pid))
            if not wait:
                break
        if time.monotonic() - t0 > timeout:
            break
    p.kill()
    rest, _ = p.communicate()
    out += rest or b""
    if elapsed is None:
        sys.exit(f"no {marker!r} within {timeout} s from {cmd[0]}:\n{out[-2000:].decode(errors='replace')}")
    return elapsed, peak, out


def summary(xs, fmt="{:.2f}"):
    return f"{fmt.format(statistics.median(xs))} ({fmt.format(min(xs))}-{fmt.format(max(xs))})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--image-dir", default=os.environ.get("BPFLAB_LINUX_IMAGE_DIR"))
    ap.add_argument("--bpflab", default="target/release/bpflab")
    ap.add_argument("--mem", default="64M")
    a = ap.parse_args()
    d = a.image_dir or os.path.expanduser("~/.cache/bpflab/linux-latest")
    cmdline = open(os.path.join(d, "cmdline")).read().strip()
    env_note = f"image {os.path.realpath(d)}"

    def bpflab(append):
        return [a.bpflab, "boot", "--image", "linux", "--mem", a.mem, "--max-time", "60s",
                "--append", append]

    def qemu(append):
        return ["qemu-system-x86_64", "-accel", "tcg", "-cpu", "qemu64,-apic",
                "-icount", "shift=0,sleep=off", "-m", a.mem.rstrip("M"), "-nographic",
                "-no-reboot", "-kernel", os.path.join(d, "bzImage"),
                "-initrd", os.path.join(d, "initramfs.cpio.gz"), "-append", append]

    res = {k: {"t": [], "rss": []} for k in ("bpflab", "qemu", "bpflab-shell", "qemu-shell")}
    insns = []
    for i in range(a.runs):
        for name, cmd, marker in (
            ("bpflab", bpflab(cmdline), HALTED),
            ("qemu", qemu(cmdline), HALTED),
            ("bpflab-shell", bpflab("console=ttyS0"), SHELL),
            ("qemu-shell", qemu("console=ttyS0"), SHELL),
        ):
            t, rss, out = run_until(cmd, marker, wait=(name == "bpflab"))
            res[name]["t"].append(t)
            res[name]["rss"].append(rss / 1024)
            if name == "bpflab":
                m = re.search(rb"guest instructions ([0-9_,]+)", out)
                if m:
                    insns.append(int(m.group(1).replace(b"_", b"").replace(b",", b"")))
        print(f"round {i + 1}/{a.runs} done", file=sys.stderr)

    b, q = res["bpflab"]["t"], res["qemu"]["t"]
    bs, qs = res["bpflab-shell"]["t"], res["qemu-shell"]["t"]
    print(f"<!-- {env_note}, {a.runs} interleaved rounds, {a.mem} guest -->")
    print("| run | bpflab | QEMU TCG icount | ratio of medians |")
    print("|---|---|---|---|")
    print(f"| boot + workload to power-off, wall s | {summary(b)} | {summary(q)} | "
          f"{statistics.median(b) / statistics.median(q):.2f}x |")
    print(f"| boot to the shell's prompt, wall s | {summary(bs)} | {summary(qs)} | "
          f"{statistics.median(bs) / statistics.median(qs):.2f}x |")
    print(f"| peak RSS, MiB (workload run) | {summary(res['bpflab']['rss'], '{:.0f}')} | "
          f"{summary(res['qemu']['rss'], '{:.0f}')} | "
          f"{statistics.median(res['bpflab']['rss']) / statistics.median(res['qemu']['rss']):.2f}x |")
    if insns:
        mips = [n / t / 1e6 for n, t in zip(insns, b)]
        print(f"\nbpflab: {insns[0]:,} guest instructions to power-off (same every run: "
              f"{len(set(insns)) == 1}), {summary(mips, '{:.0f}')} guest MIPS")


if __name__ == "__main__":
    main()
