#!/usr/bin/env bash
# Lifecycle numbers, not pass/fail: pause and resume latency (command sent -> all vCPUs
# stopped / running again) and reset-to-marker time, each the median of ROUNDS, with the stock
# Debian kernel and a busybox initramfs; beside them, the same guest booted to the same marker
# by a fresh kvmm process (the peer an in-place reset replaces), in the same harness run; and
# kvmm's open fds and RSS before and after 100 resets back to back.
#   tests/bench/lifecycle.sh KVMM [ROUNDS]
source "$(dirname "$0")/../boot/lib.sh"
KVMM=$(realpath "${1:?usage: lifecycle.sh KVMM [ROUNDS]}") ROUNDS=${2:-10}
WORK=$(dirname "$KVMM")/bench-work/lifecycle

if [ "${KVMM_BENCH_INNER:-}" = 1 ]; then
	KERNEL=$3 INITRD=$4
	SOCK=$(mktemp -d /run/kvmm-bench.XXXXXX)/api.sock LOG=$WORK/guest.log
	# The peer: a new process each time, start to marker (kvmm exits at the guest's reboot).
	cold=()
	for _ in 1 2 3; do
		t0=$(date +%s%N)
		"$KVMM" --no-reboot --kernel "$KERNEL" --initrd "$INITRD" --mem 256M --monitor none \
			--cmdline "panic=-1 loglevel=4 kvmm.once" </dev/null >"$WORK/cold.log" 2>&1
		cold+=($((($(date +%s%N) - t0) / 1000000)))
	done
	"$KVMM" --kernel "$KERNEL" --initrd "$INITRD" --mem 256M --monitor none --api-sock "$SOCK" \
		--cmdline "panic=-1 loglevel=4" </dev/null >"$LOG" 2>&1 &
	pid=$!
	for _ in $(seq 600); do grep -q KVMM-BOOT "$LOG" 2>/dev/null && break; sleep 0.2; done
	out=$(python3 "$TOP/tests/bench/lifecycle_bench.py" "$SOCK" "$LOG" "$ROUNDS" "$pid") || {
		kill $pid
		fail "benchmark failed: $out"
	}
	"$KVMM" ctl --sock "$SOCK" quit >/dev/null
	wait $pid
	grep -v '^RESET_MS=' <<<"$out"
	reset=$(sed -n 's/^RESET_MS=//p' <<<"$out")
	cold_med=$(printf '%s\n' "${cold[@]}" | sort -n | sed -n 2p)
	echo "fresh kvmm start-to-marker and exit: median ${cold_med} ms of 3 (${cold[*]})"
	echo "reset in place / fresh process: $(awk -v a="$reset" -v b="$cold_med" 'BEGIN { printf "%.2f", a / b }')"
	exit 0
fi

mkdir -p "$WORK"
distro_kernel
# kvmm.once on the command line: print the marker and reboot (the fresh-process peer).
test_initramfs "$WORK/guest.cpio" 'echo KVMM-BOOT
grep -q kvmm.once /proc/cmdline && reboot -f
while true; do echo tick; sleep 1; done'
echo "== lifecycle benchmark (inside the harness's emulated SVM: compare the ratios)"
(export KVMM_BENCH_INNER=1; in_harness "$WORK/harness.log" --timeout 900 --rw "$WORK" -- \
	bash "$0" "$KVMM" "$ROUNDS" "$KERNEL" "$WORK/guest.cpio") | grep -v '^\[' || true
