#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Boot the teaching kernel under QEMU (TCG) twice and check:
#   - QEMU's exit status is 1, i.e. the kernel wrote 0 to the exit port
#     (isa-debug-exit exits with (value << 1) | 1);
#   - the summary lines are present;
#   - the "summary:" lines are identical between the two runs and equal to
#     tests/expected-summary.txt (BLESS=1 rewrites that file).
# Lines starting with "timing:" (context switches...) depend on where QEMU's
# wall-clock-driven timer interrupts land and are not compared.
#
# usage: qemu-test.sh KERNEL OUTDIR EXPECTED
set -eu

kernel=$1
out=$2
expected=$3
qemu=${QEMU:-qemu-system-x86_64}

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

run() {
	log=$out/console-$1.log
	status=0
	timeout 60 "$qemu" -kernel "$kernel" -nographic -no-reboot \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
		-m 128M -cpu qemu64 -accel tcg </dev/null >"$log" 2>&1 || status=$?
	[ "$status" -eq 1 ] || fail "run $1: QEMU exit status $status, expected 1 (see $log)"
	tr -d '\r' <"$log" | grep -a 'summary:' | sed 's/^\[[ 0-9.]*\] //' >"$out/summary-$1.txt"
	for want in 'summary: net lo ifindex 1' 'summary: net eth0 ifindex 2' \
		    'summary: syscalls' 'summary: tasks' 'summary: demand-mapped pages'; do
		grep -q "^$want" "$out/summary-$1.txt" || fail "run $1: no '$want' line (see $log)"
	done
	grep -aq 'bpflab: exiting with code 0' "$log" || fail "run $1: no clean exit (see $log)"
	echo "run $1: ok, QEMU exit status 1 (guest exit code 0)"
}

mkdir -p "$out"
run 1
run 2
diff -u "$out/summary-1.txt" "$out/summary-2.txt" || fail "summaries differ between runs"
echo "runs 1 and 2: identical summaries"

if [ "${BLESS:-0}" = 1 ]; then
	cp "$out/summary-1.txt" "$expected"
	echo "blessed $expected"
fi
diff -u "$expected" "$out/summary-1.txt" || fail "summary differs from $expected (BLESS=1 to update)"
echo "summary matches $expected"
echo
cat "$out/summary-1.txt"
tr -d '\r' <"$out/console-1.log" | grep -a 'timing:' | sed 's/^\[[ 0-9.]*\] //'
echo "PASS"
