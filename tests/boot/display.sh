#!/usr/bin/env bash
# The graphical console with the stock Debian kernel, in the harness under Xvfb: kvmm's
# framebuffer reaches the guest as vesafb with fbcon on it, and its keyboard as virtio-input.
#  - fbcon's text is on the screen (a screendump has lit pixels in its top rows);
#  - `sendkey` of a word reaches a program reading the guest's keyboard (its echo on serial),
#    and so do key presses xdotool sends to the window;
#  - tests/boot/fbtest.c's pattern on /dev/fb0 is in a screendump exactly, every pixel;
#  - `info display` counts the frames the window showed;
#  - a reset boots again in the same window (same X window id), the pattern gone, text back;
#  - the thread filters stay on (seccomp is the default) throughout; kvmm quits with 0.
# The PNGs are checked here, after the harness, by tests/boot/png_check.py.
#   tests/boot/display.sh KVMM WORKDIR
source "$(dirname "$0")/lib.sh"
KVMM=${1:?usage: display.sh KVMM WORKDIR} WORK=${2:?}

# ----------------------------------------------------------------- inside the outer guest
if [ "${KVMM_DISPLAY_INNER:-}" = 1 ]; then
	KERNEL=$3 INITRD=$4
	SOCK=$(mktemp -d /run/kvmm-display.XXXXXX)/api.sock LOG=$WORK/guest.log
	ctl() { "$KVMM" ctl --sock "$SOCK" "$@"; }
	# wait_for PATTERN [COUNT]: the COUNTth console line matching PATTERN (1 by default).
	wait_for() {
		for _ in $(seq 1200); do
			[ "$(grep -c "$1" <(tr -d '\r' <"$LOG"))" -ge "${2:-1}" ] && return 0
			kill -0 "$pid" 2>/dev/null || { tail -40 "$LOG"; fail "kvmm died waiting for '$1'"; }
			sleep 0.25
		done
		tail -40 "$LOG"
		fail "no '$1' on the console within 300 s"
	}
	# Xvfb compiles its keymap into /var/lib/xkb, read-only here, and listens on a socket in
	# /tmp/.X11-unix, which 9p (the shared /tmp) cannot hold.
	[ -w /var/lib/xkb ] || mount -t tmpfs tmpfs /var/lib/xkb
	mkdir -p /tmp/.X11-unix && mount -t tmpfs tmpfs /tmp/.X11-unix
	export DISPLAY=:77
	Xvfb "$DISPLAY" -screen 0 1280x1024x24 -nolisten tcp -nolock >"$WORK/xvfb.log" 2>&1 &
	xvfb=$!
	for _ in $(seq 100); do xdotool getdisplaygeometry >/dev/null 2>&1 && break; sleep 0.2; done
	xdotool getdisplaygeometry >/dev/null || { cat "$WORK/xvfb.log"; fail "Xvfb did not start"; }
	"$KVMM" --kernel "$KERNEL" --initrd "$INITRD" --mem 256M --monitor none --no-rng \
		--display sdl --api-sock "$SOCK" --cmdline "panic=-1" </dev/null >"$LOG" 2>&1 &
	pid=$!
	trap 'kill $pid $xvfb 2>/dev/null || true' EXIT
	wait_for '^KVMM-FB '
	tr -d '\r' <"$LOG" | grep -a '^KVMM-FB '
	sleep 2 # fbcon's echo of the banner, then a frame or two
	ctl screendump "$WORK/boot.png" || fail "screendump failed"
	wid=$(xdotool search --name '^kvmm') || fail "no window named kvmm on the X display"
	echo "display: window $wid"
	for k in h i ret; do ctl sendkey "$k" >/dev/null || fail "sendkey $k failed"; done
	wait_for '^KVMM-GOT:hi$'
	echo "display: sendkey reached the guest's keyboard: $(grep -a '^KVMM-GOT:' "$LOG" | tr -d '\r')"
	xdotool windowfocus --sync "$wid"
	xdotool type --delay 100 ok && xdotool key Return
	wait_for '^KVMM-GOT2:ok$'
	echo "display: xdotool's key presses reached the guest: $(grep -a '^KVMM-GOT2:' "$LOG" | tr -d '\r')"
	wait_for '^PATTERN-DONE '
	sleep 1
	ctl screendump "$WORK/pattern.png" || fail "screendump failed"
	ctl info display | tee "$WORK/info-display.txt"
	# Paused, nothing changes on the screen: the window keeps the last frame, and shows none.
	frames() { ctl --json info display | python3 -c 'import json, sys; print(json.load(sys.stdin)["result"]["frames"])'; }
	ctl pause >/dev/null || fail "pause failed"
	sleep 1
	f0=$(frames)
	sleep 2
	f1=$(frames)
	ctl resume >/dev/null || fail "resume failed"
	[ "$f0" = "$f1" ] || fail "the window redrew while the VM was paused ($f0 -> $f1 frames)"
	echo "display: paused, the window showed no new frame in 2 s ($f1 frames in all)"
	ctl reset >/dev/null || fail "reset failed"
	wait_for '^KVMM-FB ' 2
	sleep 2
	ctl screendump "$WORK/reset.png" || fail "screendump after the reset failed"
	wid2=$(xdotool search --name '^kvmm') || fail "no kvmm window after the reset"
	[ "$wid2" = "$wid" ] || fail "after the reset the window is $wid2, was $wid"
	echo "display: after the reset, the same window $wid2"
	ctl quit >/dev/null || fail "quit failed"
	rc=0
	wait $pid || rc=$?
	trap - EXIT
	kill $xvfb 2>/dev/null || true
	grep -a 'seccomp' "$LOG" && fail "a thread's filter stopped kvmm"
	[ $rc -eq 0 ] || { tail -20 "$LOG"; fail "kvmm exited $rc after quit"; }
	exit 0
fi

# ------------------------------------------------------------------------------ the host
mkdir -p "$WORK"
rm -f "$WORK"/*.png
command -v Xvfb >/dev/null && command -v xdotool >/dev/null || fail "Xvfb or xdotool missing (.ci/install-deps)"
distro_kernel
cc -static -O2 -Wall -Wextra -Werror -o "$WORK/fbtest" "$TOP/tests/boot/fbtest.c" ||
	fail "cannot build fbtest (static glibc: libc6-dev)"
cat >"$WORK/init.sh" <<'GUEST'
#!/bin/sh
/fbtest info | sed 's/^/KVMM-/'
echo "kvmm display test: fbcon draws this on tty1" >/dev/tty1
read -r a </dev/tty1; echo "KVMM-GOT:$a"
read -r b </dev/tty1; echo "KVMM-GOT2:$b"
/fbtest pattern
while true; do sleep 1; done
GUEST
"$TOP/images/initramfs.sh" "$WORK/guest.cpio" --script "$WORK/init.sh" \
	--file "$WORK/fbtest" /fbtest --modules "$MODULES" virtio_pci virtio_input evdev
start=$(now_ms)
(export KVMM_DISPLAY_INNER=1; in_harness "$WORK/harness.log" --timeout 600 --rw "$WORK" -- \
	bash "$0" "$KVMM" "$WORK" "$KERNEL" "$WORK/guest.cpio")
check="$TOP/tests/boot/png_check.py"
[ "$(python3 "$check" size "$WORK/boot.png")" = 1024x768 ] || fail "boot.png is not 1024x768"
# The kernel's boot messages (console=tty0, which kvmm adds) and init's one line: a line of
# text lights about a thousand pixels, so more than four lines' worth is the kernel's.
lit=$(python3 "$check" lit "$WORK/boot.png" 200)
echo "display: $lit lit pixels in the top 200 rows after boot (fbcon's text)"
[ "$lit" -gt 4000 ] || fail "fbcon's boot text is not on the screen ($lit lit pixels)"
python3 "$check" pattern "$WORK/pattern.png" || fail "the screendump is not the guest's pattern"
grep -q '1024x768 32 bpp at 0xfc000000.*in a window, [1-9][0-9]* frames' "$WORK/info-display.txt" ||
	fail "info display: $(cat "$WORK/info-display.txt")"
if python3 "$check" pattern "$WORK/reset.png" >/dev/null; then fail "the pattern survived the reset"; fi
lit=$(python3 "$check" lit "$WORK/reset.png" 200)
[ "$lit" -gt 4000 ] || fail "after the reset fbcon's text is not on the screen ($lit lit pixels)"
echo "display: passed ($(($(now_ms) - start)) ms wall); after the reset $lit lit pixels, no pattern"
