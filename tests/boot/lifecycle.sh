#!/usr/bin/env bash
# Lifecycle control through the control socket (kvmm --api-sock, kvmm ctl), with the stock
# Debian kernel, inside the harness:
#   socket   the guest prints a tick every second; after `pause` no tick comes for 3 s and
#            `info status` says "paused (user)"; after `resume` ticks come again and it says
#            "running (unpaused)"; `reset` boots the guest a second time in the same process;
#            a subscriber saw suspended, resumed and reset; `quit` exits 0
#   disk     the guest writes and fsyncs a pattern to /dev/vda, then `quit`: the image holds it
#   reboots  the guest reboots itself 10 times in one process (it counts boots on a disk); then
#            `quit`; RSS and open fds after boot 10 within 10% of boot 1
#   fuzz     random bytes, malformed and oversized JSON and disconnects from several clients
#            for 10 s; then `info status` still answers and the guest still ticks
#   tests/boot/lifecycle.sh KVMM WORKDIR socket|disk|reboots|fuzz
source "$(dirname "$0")/lib.sh"
KVMM=${1:?usage: lifecycle.sh KVMM WORKDIR MODE} WORK=${2:?} MODE=${3:?}

# ---- inside the harness: kvmm in the background, driven through its socket
if [ "${KVMM_LIFECYCLE_INNER:-}" = 1 ]; then
	KERNEL=$4 INITRD=$5
	# Not in WORK: a socket on the harness's 9p share cannot be connected to.
	SOCK=$(mktemp -d /run/kvmm-lifecycle.XXXXXX)/api.sock LOG=$WORK/guest.log
	ctl() { "$KVMM" ctl --sock "$SOCK" "$@"; }
	# wait_for SECONDS CMD...: until CMD succeeds.
	wait_for() {
		local limit=$(($(date +%s) + $1))
		shift
		until "$@"; do
			[ "$(date +%s)" -lt "$limit" ] || return 1
			sleep 0.2
		done
	}
	ticks() { tr -d '\r' <"$LOG" | grep -c '^KVMM-TICK' || true; }
	boots() { tr -d '\r' <"$LOG" | grep -c '^KVMM-BOOT' || true; }
	more_ticks_than() { [ "$(ticks)" -gt "$1" ]; }
	boots_at_least() { [ "$(boots)" -ge "$1" ]; }
	status_is() { [ "$(ctl info status)" = "$1" ] || fail "info status: '$(ctl info status)', expected '$1'"; }
	disk=()
	# Made here, not outside: a retried attempt (in_harness, kvm-run) must not start from the
	# boot count or pattern an earlier attempt left on the disk.
	case $MODE in
	disk) truncate -s 0 "$WORK/disk.img" && truncate -s 16M "$WORK/disk.img" ;;
	reboots) truncate -s 0 "$WORK/disk.img" && truncate -s 1M "$WORK/disk.img" ;;
	esac
	[ -e "$WORK/disk.img" ] && disk=(--disk "$WORK/disk.img")
	rm -f "$SOCK"
	# -v: a triple fault is then named in the log (an emulated-SVM flake, see lib.sh).
	"$KVMM" -v --kernel "$KERNEL" --initrd "$INITRD" --mem 256M --monitor none \
		--api-sock "$SOCK" "${disk[@]}" --cmdline "panic=-1 loglevel=4" </dev/null >"$LOG" 2>&1 &
	pid=$!
	# On a failure the guest's console goes to the harness log too, where in_harness looks
	# for the emulation's known faults and retries those.
	on_exit() {
		local rc=$?
		kill $pid 2>/dev/null || true
		[ $rc -eq 0 ] || { echo "--- guest console (failed run):"; tail -n 300 "$LOG"; }
	}
	trap on_exit EXIT
	wait_for 30 test -S "$SOCK" || fail "kvmm made no socket"
	[ "$(stat -c %a "$SOCK")" = 600 ] || fail "socket mode $(stat -c %a "$SOCK"), expected 600"
	status_is "running (booted)"
	quit_and_wait() {
		ctl quit >/dev/null || fail "quit failed"
		local rc=0
		wait $pid || rc=$?
		[ $rc -eq 0 ] || fail "kvmm exited $rc after quit"
		[ ! -e "$SOCK" ] || fail "the socket file outlived kvmm"
	}
	case $MODE in
	socket)
		ctl events >"$WORK/events.log" &
		evpid=$!
		wait_for 150 more_ticks_than 2 || fail "the guest never ticked"
		ctl pause >/dev/null || fail "pause failed"
		status_is "paused (user)"
		out=$(ctl pause 2>&1) && fail "a second pause succeeded"
		grep -q "already paused" <<<"$out" || fail "second pause said: $out"
		n1=$(ticks)
		sleep 3
		n2=$(ticks)
		[ "$n1" = "$n2" ] || fail "the guest ticked while paused ($n1 -> $n2)"
		echo "lifecycle: paused 3 s, no tick (count stayed $n1)"
		ctl info cpus | grep -q '^CPU 0: ' || fail "info cpus while paused"
		ctl resume >/dev/null || fail "resume failed"
		status_is "running (unpaused)"
		out=$(ctl resume 2>&1) && fail "resume of a running VM succeeded"
		grep -q "not paused" <<<"$out" || fail "resume of a running VM said: $out"
		wait_for 30 more_ticks_than "$n2" || fail "no tick after resume"
		echo "lifecycle: ticks again after resume"
		ctl info cpus
		ctl info mem
		ctl info pci | grep -q '^00:00.0 8086:1237' || fail "info pci lacks the host bridge"
		ctl info version | grep -q '^kvmm ' || fail "info version"
		ctl reset >/dev/null || fail "reset failed"
		wait_for 150 boots_at_least 2 || fail "the guest did not boot again after reset"
		wait_for 60 more_ticks_than "$(ticks)" || fail "no tick after the reset's boot"
		status_is "running (booted)"
		echo "lifecycle: reset booted the guest a second time in the same process"
		quit_and_wait
		wait $evpid || fail "kvmm ctl events exited $?"
		for e in 'suspended (paused)' 'resumed (unpaused)' 'reset (user)' 'stopped (destroyed)'; do
			grep -q "^event $e" "$WORK/events.log" || fail "no '$e' event: $(cat "$WORK/events.log")"
		done
		echo "lifecycle: events seen: $(cut -d: -f1 "$WORK/events.log" | tr '\n' ',')"
		;;
	disk)
		wait_for 150 bash -c "tr -d '\r' <'$LOG' | grep -q '^KVMM-WRITTEN'" ||
			fail "the guest never wrote its pattern"
		quit_and_wait
		;;
	reboots)
		# Sampled 2 s after the boot's marker, while its guest sleeps (4 s, then it reboots):
		# the same point of each boot, once the kernel's memory use has settled.
		sample() { echo "$(awk '/^VmRSS/ {print $2}' /proc/$pid/status) $(ls /proc/$pid/fd | wc -l)"; }
		wait_for 150 boots_at_least 1 || fail "the guest never booted"
		sleep 2
		first=$(sample)
		wait_for 900 boots_at_least 10 || fail "only $(boots) boots"
		sleep 2
		last=$(sample)
		read -r rss1 fd1 <<<"$first"
		read -r rss10 fd10 <<<"$last"
		echo "lifecycle: after boot 1 RSS ${rss1} kB, ${fd1} fds; after boot 10 RSS ${rss10} kB, ${fd10} fds"
		[ "$fd10" -le $((fd1 + fd1 / 10)) ] || fail "open fds grew from $fd1 to $fd10"
		[ "$rss10" -le $((rss1 + rss1 / 10)) ] || fail "RSS grew from $rss1 kB to $rss10 kB"
		status_is "running (booted)"
		quit_and_wait
		;;
	fuzz)
		wait_for 150 more_ticks_than 1 || fail "the guest never ticked"
		python3 "$TOP/tests/boot/control_fuzz.py" "$SOCK" 10 || fail "the fuzzer failed"
		status_is "running (booted)"
		n=$(ticks)
		wait_for 30 more_ticks_than "$n" || fail "the guest stopped ticking after the fuzz"
		quit_and_wait
		;;
	esac
	exit 0
fi

# ---- outside: the guest's initramfs, then the harness
mkdir -p "$WORK"
distro_kernel
case $MODE in
socket | fuzz)
	script='echo KVMM-BOOT; i=0; while true; do echo "KVMM-TICK $i"; i=$((i+1)); sleep 1; done'
	modules=()
	;;
disk)
	script='echo KVMM-BOOT
yes KVMM-QUIT-PATTERN | head -c 1048576 | dd of=/dev/vda bs=65536 conv=fsync 2>/dev/null && echo KVMM-WRITTEN
while true; do sleep 10; done'
	modules=(--modules "$MODULES" virtio_pci virtio_blk)
	;;
reboots)
	# The boot count lives in the disk's first sector, so it survives each reset.
	script='n=$(head -c 16 /dev/vda | tr -dc 0-9); n=$((${n:-0} + 1))
printf "%-16s" "$n" | dd of=/dev/vda conv=fsync,notrunc 2>/dev/null
echo "KVMM-BOOT $n"
sleep 4
[ "$n" -lt 10 ] && reboot -f
while true; do sleep 10; done'
	modules=(--modules "$MODULES" virtio_pci virtio_blk)
	;;
*) fail "mode '$MODE': want socket, disk, reboots or fuzz" ;;
esac
printf '#!/bin/sh\n%s\n' "$script" >"$WORK/init.sh"
"$TOP/images/initramfs.sh" "$WORK/guest.cpio" --script "$WORK/init.sh" "${modules[@]}"
start=$(now_ms)
(export KVMM_LIFECYCLE_INNER=1; in_harness "$WORK/harness.log" --timeout 900 --rw "$WORK" -- \
	bash "$0" "$KVMM" "$WORK" "$MODE" "$KERNEL" "$WORK/guest.cpio")
echo "--- the guest's console:"
tr -d '\r' <"$WORK/guest.log" | grep -a 'KVMM-\|kvmm:' | tail -n 30
if [ "$MODE" = disk ]; then
	want=$( (set +o pipefail; yes KVMM-QUIT-PATTERN | head -c 1048576) | md5sum | cut -d' ' -f1)
	got=$(head -c 1048576 "$WORK/disk.img" | md5sum | cut -d' ' -f1)
	[ "$got" = "$want" ] || fail "disk.img does not hold the pattern the guest wrote before quit"
	echo "lifecycle: the pattern written before quit is in the image"
fi
echo "lifecycle $MODE: passed ($(($(now_ms) - start)) ms wall)"
