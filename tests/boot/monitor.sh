#!/usr/bin/env bash
# The monitor prompt on a pseudo-terminal: Ctrl-A c shows "(kvmm) ", `info status`, Ctrl-C,
# Ctrl-\ and Ctrl-D (none may end the VM or block the prompt), `pause`,
# `info status`, `resume` (typed with tab completion), an unknown command's one-line error,
# Ctrl-A c back to the guest, whose shell answers again; Ctrl-A x quits with status 0 and the
# terminal is cooked again.
#   tests/boot/monitor.sh KVMM PTY_CHAT WORKDIR
source "$(dirname "$0")/lib.sh"
KVMM=$1 PTY_CHAT=$2 WORK=$3
mkdir -p "$WORK"
distro_kernel
test_initramfs "$WORK/monitor.cpio" '
echo KVMM-READY
exec setsid cttyhack sh -i'

start=$(now_ms)
in_harness "$WORK/monitor.log" --timeout 400 -- "$PTY_CHAT" -t 300 \
	-e KVMM-READY \
	-s 'echo $((6*7))-first\r' -e '42-first' \
	-s '\x01c' -e '(kvmm) ' \
	-s 'info status\r' -e 'running (booted)' \
	-s '\x03\x1c\x04' -s 'info version\r' -e 'KVM API' \
	-s 'pause\r' -e 'paused (user)' \
	-s 'info status\r' -e 'paused (user)' \
	-s 'info cpus\r' -e 'CPU 0: ' \
	-s 'frobnicate\r' -e "error: unknown command 'frobnicate'" \
	-s 'resu\x09\r' -e 'running (unpaused)' \
	-s 'info sta\x09\r' -e 'running (unpaused)' \
	-s '\x01c' \
	-s 'echo $((6*8))-again\r' -e '48-again' \
	-s '\x01x' \
	--status 0 --cooked \
	-- "$KVMM" --no-reboot --kernel "$KERNEL" --initrd "$WORK/monitor.cpio" --mem 256M \
	--cmdline "panic=-1 loglevel=4"
grep -q 'pty_chat: all checks passed' "$WORK/monitor.log" ||
	fail "pty_chat did not report success"
echo "monitor: prompt, pause/resume, completion and the way back to the guest all work ($(($(now_ms) - start)) ms wall)"
