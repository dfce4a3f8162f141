#!/usr/bin/env bash
# A person at the keyboard: kvmm runs on a pseudo-terminal, and what is typed reaches the guest
# shell intact, including a line longer than the UART's 16-byte FIFO typed while the guest is
# busy printing. Ctrl-A h lists the keys, Ctrl-A x quits with status 0, and the terminal is back
# in cooked mode afterwards.
#   tests/boot/console-input.sh KVMM PTY_CHAT WORKDIR
source "$(dirname "$0")/lib.sh"
KVMM=$1 PTY_CHAT=$2 WORK=$3
mkdir -p "$WORK"
distro_kernel
test_initramfs "$WORK/console.cpio" '
echo KVMM-READY
exec setsid cttyhack sh -i'

long=$(printf 'k%.0s' $(seq 1 300))
start=$(now_ms)
in_harness "$WORK/console.log" --timeout 400 -- "$PTY_CHAT" -t 300 \
	-e KVMM-READY \
	-s 'for i in 1 2 3 4 5 6 7 8; do echo noise-$i; done; echo $((6*7))-typed\r' \
	-e '42-typed' \
	-s "printf %s $long | wc -c\\r" \
	-e '300' \
	-s '\x01h' -e 'Ctrl-A x' \
	-s '\x01x' \
	--status 0 --cooked \
	-- "$KVMM" --no-reboot --kernel "$KERNEL" --initrd "$WORK/console.cpio" --mem 256M \
	--cmdline "panic=-1 loglevel=4"
grep -q 'pty_chat: all checks passed' "$WORK/console.log" ||
	fail "pty_chat did not report success"
echo "console-input: typed input arrived intact, Ctrl-A x quit cleanly ($(($(now_ms) - start)) ms wall)"
