#!/usr/bin/env bash
# What the graphical console costs the host, not pass/fail: kvmm's CPU time per second of wall
# time (all threads, and the display thread alone) with the stock Debian kernel at an idle
# prompt, --display none beside --display sdl (an idle screen), and while the guest redraws
# the whole screen as fast as it can (tests/boot/fbtest.c redraw), with the frames per second
# the window showed (`info display`, also in the window's title) and the guest drew. All in one
# harness run under Xvfb, so compare the ratios: absolute times are emulated SVM's.
#   tests/bench/display.sh KVMM [SECONDS]
source "$(dirname "$0")/../boot/lib.sh"
KVMM=$(realpath "${1:?usage: display.sh KVMM [SECONDS]}") SECS=${2:-10}
WORK=$(dirname "$KVMM")/bench-work/display

# ticks: utime + stime of /proc/$1 (a process or a task), in clock ticks.
ticks() {
	sed 's/.*) //' "$1/stat" | awk '{ print $12 + $13 }'
}

# frames SOCK: the frames the window has shown (0 without a display).
frames() {
	"$KVMM" ctl --sock "$1" --json info display |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["result"].get("frames", 0))'
}

# measure NAME ARGS...: boots, waits for the guest's marker, then samples SECS seconds.
measure() {
	local name=$1 sock log pid task t0 t1 d0 d1 w0 w1 f0 f1 guest
	shift
	sock=$(mktemp -d /run/kvmm-bench.XXXXXX)/api.sock log=$WORK/$name.log
	"$KVMM" --kernel "$KERNEL" --initrd "$INITRD" --mem 256M --monitor none --no-rng \
		--api-sock "$sock" "$@" </dev/null >"$log" 2>&1 &
	pid=$!
	for _ in $(seq 1200); do grep -q '^KVMM-READY' <(tr -d '\r' <"$log") && break; sleep 0.25; done
	grep -q '^KVMM-READY' <(tr -d '\r' <"$log") || { tail -20 "$log"; kill $pid; fail "$name: no marker"; }
	sleep 2 # the boot's last output drawn
	task=""
	for t in /proc/$pid/task/*; do [ "$(cat "$t/comm")" = "kvmm display" ] && task=$t; done
	w0=$(date +%s%N) t0=$(ticks /proc/$pid) d0=$([ -n "$task" ] && ticks "$task" || echo 0)
	f0=$(frames "$sock")
	sleep "$SECS"
	w1=$(date +%s%N) t1=$(ticks /proc/$pid) d1=$([ -n "$task" ] && ticks "$task" || echo 0)
	f1=$(frames "$sock")
	"$KVMM" ctl --sock "$sock" quit >/dev/null
	wait $pid || true
	guest=$(tr -d '\r' <"$log" | sed -n 's/^REDRAW .*guest_fps=\([0-9.]*\).*/\1/p')
	awk -v n="$name" -v t=$((t1 - t0)) -v d=$((d1 - d0)) -v w=$((w1 - w0)) -v f=$((f1 - f0)) \
		-v hz="$(getconf CLK_TCK)" -v g="${guest:--}" 'BEGIN {
		s = w / 1e9; printf "%s %.1f %.1f %.1f %s\n", n, t * 1000 / hz / s, d * 1000 / hz / s, f / s, g }'
}

if [ "${KVMM_BENCH_INNER:-}" = 1 ]; then
	KERNEL=$3 INITRD=$4
	[ -w /var/lib/xkb ] || mount -t tmpfs tmpfs /var/lib/xkb
	mkdir -p /tmp/.X11-unix && mount -t tmpfs tmpfs /tmp/.X11-unix
	export DISPLAY=:78
	Xvfb "$DISPLAY" -screen 0 1280x1024x24 -nolisten tcp -nolock >"$WORK/xvfb.log" 2>&1 &
	xvfb=$!
	trap 'kill $xvfb 2>/dev/null || true' EXIT
	for _ in $(seq 100); do xdotool getdisplaygeometry >/dev/null 2>&1 && break; sleep 0.2; done
	idle="panic=-1 loglevel=4 kvmm.run=\"echo KVMM-READY; exec sleep 100000\""
	draw="panic=-1 loglevel=4 kvmm.run=\"echo KVMM-READY; /fbtest redraw $((SECS + 8)); exec sleep 100000\""
	{
		measure none-idle --display none --cmdline "$idle"
		measure sdl-idle --display sdl --cmdline "$idle"
		measure sdl-redraw --display sdl --cmdline "$draw"
	} >"$WORK/results.txt"
	cat "$WORK/results.txt"
	exit 0
fi

mkdir -p "$WORK"
distro_kernel
cc -static -O2 -o "$WORK/fbtest" "$TOP/tests/boot/fbtest.c" || fail "cannot build fbtest"
"$TOP/images/initramfs.sh" "$WORK/guest.cpio" --file "$WORK/fbtest" /fbtest \
	--modules "$MODULES" virtio_pci virtio_input evdev
echo "== display benchmark (inside the harness's emulated SVM under Xvfb: compare the ratios)"
(export KVMM_BENCH_INNER=1; in_harness "$WORK/harness.log" --timeout 900 --rw "$WORK" -- \
	bash "$0" "$KVMM" "$SECS" "$KERNEL" "$WORK/guest.cpio") >/dev/null
awk -v secs="$SECS" '
	{ cpu[$1] = $2; thr[$1] = $3; fps[$1] = $4; g[$1] = $5 }
	END {
		printf "kvmm host CPU over %s s, 1024x768x32, Debian kernel at an idle prompt or redrawing:\n", secs
		printf "| case | kvmm CPU (ms/s) | display thread (ms/s) | frames shown/s | guest frames/s |\n| --- | --- | --- | --- | --- |\n"
		n = split("none-idle sdl-idle sdl-redraw", k, " ")
		for (i = 1; i <= n; i++)
			printf "| %s | %.1f | %.1f | %.1f | %s |\n", k[i], cpu[k[i]], thr[k[i]], fps[k[i]], g[k[i]]
		if (cpu["none-idle"] > 0)
			printf "idle display / no display: %.2fx kvmm CPU (+%.1f ms/s)\n", cpu["sdl-idle"] / cpu["none-idle"], cpu["sdl-idle"] - cpu["none-idle"]
		printf "full redraw: the display thread %.1f ms/s for %.1f frames/s\n", thr["sdl-redraw"], fps["sdl-redraw"]
	}' "$WORK/results.txt"
