# Shared by the boot tests: find the distro kernel, build a test initramfs, run kvmm where
# /dev/kvm exists, and check what the guest said. Sourced, not run.
# shellcheck shell=bash
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck disable=SC2034 # used by the scripts that source this
HARNESS="$TOP/tests/harness/kvm-run"

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# Sets KERNEL and MODULES to the stock Debian kernel (fetched and unpacked once, cached).
distro_kernel() {
	local info
	info=$("$TOP/tests/harness/distro-kernel") || fail "cannot get the Debian kernel"
	KERNEL=$(sed -n 's/^vmlinuz=//p' <<<"$info")
	# shellcheck disable=SC2034
	MODULES=$(sed -n 's/^modules=//p' <<<"$info")
	[ -r "$KERNEL" ] || fail "no kernel at '$KERNEL'"
}

# image NAME SUBCOMMAND: the path `images/kvmm-images SUBCOMMAND` prints for NAME (it builds and
# caches the artifact on the first call).
image() {
	local out path
	out=$("$TOP/images/kvmm-images" "$2") || fail "images/kvmm-images $2 failed"
	path=$(sed -n "s/^$1=//p" <<<"$out")
	[ -r "$path" ] || fail "images/kvmm-images $2 gave no readable $1 ('$path')"
	echo "$path"
}

# test_initramfs OUT SCRIPT_TEXT: an initramfs whose init runs SCRIPT_TEXT.
test_initramfs() {
	local out=$1 text=$2 script
	script=$(mktemp)
	printf '#!/bin/sh\n%s\n' "$text" >"$script"
	"$TOP/images/initramfs.sh" "$out" --script "$script"
	rm -f "$script"
}

# Under the outer guest's emulated SVM the inner guest's CPU state now and then goes wrong: a
# double fault on the first instruction of its syscall entry (swapgs, with interrupts masked and
# the user stack still loaded: an exception where none can be, so the fault's own frame fails),
# or a silent reset mid-transfer (the console stops and kvmm exits 0, as it does on a triple
# fault, which kvmm -v names). Seen in about 1 of 8 64 MiB TCP runs, rarely elsewhere. No device
# model causes either, so those two signatures are retried, at most three times, and said so.
emulation_flake() {
	grep -qa 'RIP: 0010:entry_SYSCALL_64+0x0/' "$1" && grep -qa 'double fault:' "$1" ||
		grep -qa 'kvmm: debug: vCPU [0-9]*: triple fault' "$1"
}

# kvm-run gives up (status 125) after the outer guest itself hung or died twice in a row.
environment_hang() {
	[ "$1" -eq 125 ] && grep -qa '^kvm-run: environment hang, giving up' "$2"
}

# in_harness LOG ARGS...: runs kvm-run ARGS (stdin /dev/null), showing its output and keeping it
# in LOG; the test fails unless the command exits 0. Up to four attempts when the emulation,
# not the test, failed.
in_harness() {
	local log=$1 rc try why
	shift
	for try in 1 2 3 4; do
		set +e
		"$HARNESS" "$@" </dev/null 2>&1 | tee "$log"
		rc=${PIPESTATUS[0]}
		set -e
		[ "$try" -lt 4 ] || break
		# With panic=-1 such a guest reboots and kvmm exits 0, so look whatever the status.
		if emulation_flake "$log"; then
			why="the guest's CPU state broke under emulated SVM"
		elif environment_hang "$rc" "$log"; then
			why="the outer guest hung twice"
		else
			break
		fi
		echo "in_harness: $why (see $log.$try), retrying" >&2
		cp "$log" "$log.$try"
	done
	[ "$rc" -eq 0 ] || fail "exit status $rc through the harness, expected 0 (log: $log)"
}

# now_ms: monotonic-enough wall clock in milliseconds, for reporting boot times.
now_ms() {
	date +%s%3N
}
