#!/usr/bin/env bash
# A hostile guest against virtio-blk, with the stock Debian kernel and no virtio driver loaded,
# inside the harness: tests/boot/hostile_blk.c (static, the guest's init script runs it) drives
# the device by hand through sysfs (PCI config, BAR 0 from resource0) with malformed rings:
# descriptor addresses outside RAM, loops, lengths near 4 GiB, next and head indices out of
# range, an indirect table longer than any chain, an avail index past the queue. Each must put
# the device in NEEDS_RESET, and a reset and a sane read of sector 0 must work afterwards. A read
# past the end of the disk gets IOERR; 100000 kicks with nothing queued change nothing. kvmm
# must still answer on its socket afterwards, quit cleanly, and have logged at most
# LOG_LIMIT_BURST (5) malformed-ring lines however many rings were bad.
#   tests/boot/hostile-guest.sh KVMM WORKDIR
source "$(dirname "$0")/lib.sh"
KVMM=${1:?usage: hostile-guest.sh KVMM WORKDIR} WORK=${2:?}

if [ "${KVMM_HOSTILE_INNER:-}" = 1 ]; then
	KERNEL=$3 INITRD=$4
	SOCK=$(mktemp -d /run/kvmm-hostile.XXXXXX)/api.sock LOG=$WORK/guest.log
	truncate -s 0 "$WORK/disk.img" && truncate -s 4M "$WORK/disk.img"
	printf 'KVMM-HOSTILE-SECTOR0\n' | dd of="$WORK/disk.img" conv=notrunc status=none
	"$KVMM" --kernel "$KERNEL" --initrd "$INITRD" --mem 256M --monitor none \
		--api-sock "$SOCK" --disk "$WORK/disk.img" --no-rng \
		--cmdline "panic=-1 loglevel=4" </dev/null >"$LOG" 2>&1 &
	pid=$!
	trap 'kill $pid 2>/dev/null || true' EXIT
	for _ in $(seq 600); do
		grep -q '^KVMM-HOSTILE-\(DONE\|ERROR\)' <(tr -d '\r' <"$LOG") && break
		kill -0 $pid 2>/dev/null || break
		sleep 0.5
	done
	tr -d '\r' <"$LOG" | grep -a '^KVMM-HOSTILE\|^kvmm:' || true
	kill -0 $pid 2>/dev/null || { tail -50 "$LOG"; fail "kvmm died under the hostile guest"; }
	grep -q '^KVMM-HOSTILE-DONE ok=11 failed=0$' <(tr -d '\r' <"$LOG") ||
		{ tail -50 "$LOG"; fail "the hostile guest's cases did not all pass"; }
	status=$("$KVMM" ctl --sock "$SOCK" info status) || fail "kvmm did not answer on its socket"
	[ "$status" = "running (booted)" ] || fail "info status: '$status'"
	n=$(grep -c 'malformed' "$LOG" || true)
	echo "hostile: kvmm still answers ($status); $n malformed-ring lines logged for 8 bad rings"
	[ "$n" -ge 1 ] && [ "$n" -le 5 ] || fail "$n malformed-ring log lines: want 1..5 (rate-limited)"
	"$KVMM" ctl --sock "$SOCK" quit >/dev/null || fail "quit failed"
	rc=0
	wait $pid || rc=$?
	trap - EXIT
	[ $rc -eq 0 ] || fail "kvmm exited $rc after quit"
	exit 0
fi

mkdir -p "$WORK"
distro_kernel
cc -static -O2 -Wall -Wextra -Werror -o "$WORK/hostile_blk" "$TOP/tests/boot/hostile_blk.c" ||
	fail "cannot build hostile_blk (static glibc: libc6-dev)"
printf '#!/bin/sh\n/hostile_blk\necho KVMM-HOSTILE-EXITED $?\nwhile true; do sleep 1; done\n' >"$WORK/init.sh"
"$TOP/images/initramfs.sh" "$WORK/guest.cpio" --script "$WORK/init.sh" \
	--file "$WORK/hostile_blk" /hostile_blk
start=$(now_ms)
(export KVMM_HOSTILE_INNER=1; in_harness "$WORK/harness.log" --timeout 600 --rw "$WORK" -- \
	bash "$0" "$KVMM" "$WORK" "$KERNEL" "$WORK/guest.cpio")
echo "hostile guest: passed ($(($(now_ms) - start)) ms wall)"
