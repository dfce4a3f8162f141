#!/usr/bin/env bash
# ACPI with the stock Debian kernel, several kvmm runs inside one harness boot:
#   tables  2 vCPUs, a disk and virtio-rng: the kernel's log has no ACPI error and lists the
#           tables; /sys/firmware/acpi/tables has APIC, FACP and DSDT; both vCPUs and every
#           virtio device appear; `poweroff -f` ends kvmm with 0 (ACPI S5). The same with the
#           guest's acpi=off (MP table only; the guest reboots, --no-reboot ends kvmm), with
#           --no-acpi, and on virtio-mmio. Prints the guest's uptime at its init with and
#           without ACPI.
#   power   `powerdown` on the socket: the busybox initramfs's acpid powers the guest off,
#           kvmm exits 0 within 10 s, the state goes running -> in shutdown -> shut off
#           (shutdown) with events; then reboot=acpi (the FADT's reset register, 0xCF9)
#           boots a second time in the same process and the second boot powers off.
#   debian  the Debian 12 systemd disk of images/kvmm-images debian (a copy): boots to a login
#           prompt, then `powerdown`: systemd stops its units, unmounts and powers off, kvmm
#           exits 0 within 60 s; the image passes e2fsck -n afterwards.
#   tests/boot/acpi.sh KVMM WORKDIR tables|power|debian
source "$(dirname "$0")/lib.sh"
KVMM=${1:?usage: acpi.sh KVMM WORKDIR MODE} WORK=${2:?} MODE=${3:?}

# What every guest here reports, then how it ends: kvmm.end=poweroff|reboot|wait.
GUEST_FACTS='up=$(cut -d" " -f1 /proc/uptime)
echo "KVMM-UPTIME $up"
echo "KVMM-CPUS $(grep -c ^processor /proc/cpuinfo)"
echo "KVMM-TABLES $(ls /sys/firmware/acpi/tables 2>/dev/null | tr "\n" " ")"
echo "KVMM-VIRTIO $(ls /sys/bus/virtio/devices 2>/dev/null | wc -l)"
dmesg | grep -i "ACPI.*error\|ACPI.*warning\|ACPI BIOS" | sed "s/^/KVMM-ACPIERR /"
dmesg | grep -o "ACPI: \(RSDP\|XSDT\|FACP\|DSDT\|FACS\|APIC\) 0x[0-9A-F]*" | sed "s/^/KVMM-ACPITAB /"
n=$(head -c 16 /dev/vda 2>/dev/null | tr -dc 0-9); n=$((${n:-0} + 1))
[ -b /dev/vda ] && printf "%-16s" "$n" | dd of=/dev/vda conv=fsync,notrunc 2>/dev/null
echo "KVMM-BOOT $n"
case "$(cat /proc/cmdline)" in
*kvmm.end=poweroff*) sync; poweroff -f ;;
*kvmm.end=second-boot-off*) sync; [ "$n" -ge 2 ] && poweroff -f; reboot -f ;;
*kvmm.end=wait*) echo KVMM-READY; while true; do sleep 10; done ;;
esac'

# ---- inside the harness
if [ "${KVMM_ACPI_INNER:-}" = 1 ]; then
	KERNEL=$4 INITRD=$5
	# run NAME EXPECTED_RC KVMM_ARGS...: one kvmm boot, its console in WORK/NAME.log.
	run() {
		local name=$1 want=$2 rc=0
		shift 2
		truncate -s 0 "$WORK/disk.img" && truncate -s 1M "$WORK/disk.img"
		timeout 240 "$KVMM" -v --kernel "$KERNEL" --initrd "$INITRD" --mem 256M \
			--disk "$WORK/disk.img" "$@" </dev/null >"$WORK/$name.log" 2>&1 || rc=$?
		tr -d '\r' <"$WORK/$name.log" | grep -a 'KVMM-\|kvmm:' | sed "s/^/$name: /"
		[ "$rc" -eq "$want" ] || fail "$name: kvmm exited $rc, expected $want"
	}
	fact() { tr -d '\r' <"$WORK/$1.log" | sed -n "s/^KVMM-$2 //p" | head -n 1; }
	# wait_console LOG REGEX SECONDS: until the console shows REGEX; false if kvmm ends first.
	wait_console() {
		local i
		# grep reads a process substitution, not a pipe: with pipefail, tr would die of
		# SIGPIPE when grep -q stops at a match early in a long log.
		for ((i = 0; i < $3 * 5; i++)); do
			grep -aq "$2" <(tr -d '\r' <"$1") && return 0
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.2
		done
		grep -aq "$2" <(tr -d '\r' <"$1")
	}
	# wait_exit SECONDS WHAT: kvmm's exit status in rc once it ends, within SECONDS of WHAT.
	wait_exit() {
		local i
		for ((i = 0; i < $1 * 10; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$pid" 2>/dev/null && fail "kvmm still runs $1 s after $2"
		rc=0
		wait "$pid" || rc=$?
	}
	check_common() {
		local name=$1 cpus=$2 virtio=$3
		[ "$(fact "$name" CPUS)" = "$cpus" ] || fail "$name: $(fact "$name" CPUS) CPUs, expected $cpus"
		[ "$(fact "$name" VIRTIO)" = "$virtio" ] ||
			fail "$name: $(fact "$name" VIRTIO) virtio devices, expected $virtio"
	}
	case $MODE in
	tables)
		run acpi 0 --cpus 2 --cmdline "panic=-1 loglevel=4 kvmm.end=poweroff"
		check_common acpi 2 2
		! grep -aq '^KVMM-ACPIERR' <(tr -d '\r' <"$WORK/acpi.log") || fail "ACPI errors in the guest's log"
		for t in APIC FACP DSDT; do
			grep -qw "$t" <<<"$(fact acpi TABLES)" || fail "no $t in /sys/firmware/acpi/tables: $(fact acpi TABLES)"
		done
		for t in RSDP XSDT FACP DSDT FACS APIC; do
			grep -aq "^KVMM-ACPITAB ACPI: $t " <(tr -d '\r' <"$WORK/acpi.log") || fail "the kernel did not list $t"
		done
		grep -q 'guest powered off (ACPI S5)' "$WORK/acpi.log" || fail "poweroff -f did not reach S5"

		run acpi-off 0 --cpus 2 --no-reboot --cmdline "panic=-1 loglevel=4 acpi=off kvmm.end=reboot"
		check_common acpi-off 2 2
		[ -z "$(fact acpi-off TABLES)" ] || fail "acpi=off still shows tables: $(fact acpi-off TABLES)"

		run no-acpi 0 --cpus 2 --no-reboot --no-acpi --cmdline "panic=-1 loglevel=4 kvmm.end=reboot"
		check_common no-acpi 2 2
		[ -z "$(fact no-acpi TABLES)" ] || fail "--no-acpi still shows tables"

		run mmio 0 --cpus 2 --transport mmio --cmdline "panic=-1 loglevel=4 kvmm.end=poweroff"
		check_common mmio 2 2
		! grep -aq '^KVMM-ACPIERR' <(tr -d '\r' <"$WORK/mmio.log") || fail "ACPI errors on virtio-mmio"

		# What ACPI costs the boot: two more of each, alternating, beside the first pair.
		with=$(fact acpi UPTIME) without=$(fact no-acpi UPTIME)
		for i in 2 3; do
			run "acpi-$i" 0 --cpus 2 --cmdline "panic=-1 loglevel=4 kvmm.end=poweroff" >/dev/null
			run "no-acpi-$i" 0 --cpus 2 --no-reboot --no-acpi \
				--cmdline "panic=-1 loglevel=4 kvmm.end=reboot" >/dev/null
			with="$with $(fact "acpi-$i" UPTIME)" without="$without $(fact "no-acpi-$i" UPTIME)"
		done
		median() { tr ' ' '\n' <<<"$1" | sort -n | sed -n 2p; }
		echo "acpi: guest uptime at init (s), 2 vCPUs, 256M: with ACPI $with (median" \
			"$(median "$with")), --no-acpi $without (median $(median "$without")); acpi=off" \
			"$(fact acpi-off UPTIME), ACPI on virtio-mmio $(fact mmio UPTIME)"
		;;
	power)
		SOCK=$(mktemp -d /run/kvmm-acpi.XXXXXX)/api.sock
		truncate -s 0 "$WORK/disk.img" && truncate -s 1M "$WORK/disk.img"
		"$KVMM" -v --kernel "$KERNEL" --initrd "$INITRD" --mem 256M --disk "$WORK/disk.img" \
			--monitor none --api-sock "$SOCK" --cmdline "panic=-1 loglevel=4 kvmm.end=wait" \
			</dev/null >"$WORK/powerdown.log" 2>&1 &
		pid=$!
		trap 'kill $pid 2>/dev/null || true' EXIT
		wait_console "$WORK/powerdown.log" '^KVMM-READY' 150 || {
			cat "$WORK/powerdown.log"
			fail "the guest never got ready"
		}
		"$KVMM" ctl --sock "$SOCK" events >"$WORK/events.log" 2>&1 &
		sleep 2 # the listener subscribes before the press
		t0=$(now_ms)
		out=$("$KVMM" ctl --sock "$SOCK" powerdown) || fail "powerdown failed: $out"
		echo "acpi: powerdown said: $out"
		grep -q '^in shutdown (user)' <<<"$out" || fail "powerdown: state '$out', expected in shutdown (user)"
		wait_exit 10 powerdown
		ms=$(($(now_ms) - t0))
		trap - EXIT
		tr -d '\r' <"$WORK/powerdown.log" | grep -a 'KVMM-\|kvmm:' | sed 's/^/powerdown: /'
		[ "$rc" -eq 0 ] || fail "kvmm exited $rc after powerdown, expected 0"
		grep -q 'kvmm-guest: power button: powering off' "$WORK/powerdown.log" ||
			fail "the guest's acpid did not see the button"
		sleep 0.5
		cat "$WORK/events.log"
		grep -q '^event powerdown (user): in shutdown (user)' "$WORK/events.log" || fail "no powerdown event"
		grep -q '^event stopped (shutdown): shut off (shutdown)' "$WORK/events.log" || fail "no stopped (shutdown) event"
		echo "acpi: powerdown to kvmm's exit: $ms ms"

		run reboot-acpi 0 --cmdline "panic=-1 loglevel=4 reboot=acpi kvmm.end=second-boot-off"
		[ "$(tr -d '\r' <"$WORK/reboot-acpi.log" | grep -c '^KVMM-BOOT')" = 2 ] || fail "reboot=acpi: not two boots"
		grep -q 'guest reset through the reset control register (0xCF9)' "$WORK/reboot-acpi.log" ||
			fail "reboot=acpi did not go through the FADT's reset register"
		grep -q 'guest powered off (ACPI S5)' "$WORK/reboot-acpi.log" || fail "the second boot did not power off"
		echo "acpi: reboot=acpi booted twice in one process, then powered off"
		;;
	debian)
		SOCK=$(mktemp -d /run/kvmm-acpi.XXXXXX)/api.sock LOG=$WORK/debian.log
		t0=$(now_ms)
		"$KVMM" -v --kernel "$KERNEL" --initrd "$INITRD" --mem 512M --cpus 2 \
			--disk "$WORK/debian.img" --monitor none --api-sock "$SOCK" \
			--cmdline "root=/dev/vda rw panic=-1" </dev/null >"$LOG" 2>&1 &
		pid=$!
		trap 'kill $pid 2>/dev/null || true; tail -n 80 "$LOG"' EXIT
		wait_console "$LOG" 'login: *$' 300 || fail "no login prompt within 300 s"
		boot_ms=$(($(now_ms) - t0))
		tr -d '\r' <"$LOG" | grep -a 'login:' | tail -n 1
		# Let the boot settle (logind must be up to take the key); then press the button.
		sleep 5
		t1=$(now_ms)
		out=$("$KVMM" ctl --sock "$SOCK" powerdown) || fail "powerdown failed: $out"
		echo "debian: powerdown said: $out"
		wait_exit 60 powerdown
		down_ms=$(($(now_ms) - t1))
		trap - EXIT
		echo "--- the guest's console from the button on:"
		tr -d '\r' <"$LOG" | sed -n '/Power key pressed\|System is powering down\|Stopping\|Stopped/,$p' |
			grep -a 'Power key\|powering down\|Reached target\|Unmount\|reboot: \|kvmm:' | tail -n 30 || true
		[ "$rc" -eq 0 ] || fail "kvmm exited $rc after powerdown, expected 0"
		grep -aq 'reboot: Power down' <(tr -d '\r' <"$LOG") || fail "the kernel did not say 'reboot: Power down'"
		grep -q 'guest powered off (ACPI S5)' "$LOG" || fail "the guest did not reach S5"
		echo "debian: login prompt after $boot_ms ms; powerdown to kvmm's exit (status 0): $down_ms ms"
		;;
	esac
	exit 0
fi

# ---- outside: the guest's initramfs, then the harness
if [ "$MODE" = debian ]; then
	mkdir -p "$WORK"
	img=$(image debian debian)
	KERNEL=$(image distro_kernel distro)
	INITRD=$(image distro_initramfs distro)
	# The test boots a copy: the cached image stays as built.
	cp --sparse=always "$img" "$WORK/debian.img"
	start=$(now_ms)
	(export KVMM_ACPI_INNER=1; in_harness "$WORK/harness.log" --timeout 900 --rw "$WORK" -- \
		bash "$0" "$KVMM" "$WORK" "$MODE" "$KERNEL" "$INITRD")
	e2fsck -fn "$WORK/debian.img" >"$WORK/e2fsck.log" 2>&1 ||
		{ cat "$WORK/e2fsck.log"; fail "e2fsck -n found the image unclean after the shutdown"; }
	echo "acpi debian: e2fsck -fn: $(tail -n 1 "$WORK/e2fsck.log")"
	rm -f "$WORK/debian.img"
	echo "acpi debian: passed ($(($(now_ms) - start)) ms wall)"
	exit 0
fi
mkdir -p "$WORK"
distro_kernel
printf '#!/bin/sh\n%s\n' "$GUEST_FACTS" >"$WORK/init.sh"
"$TOP/images/initramfs.sh" "$WORK/guest.cpio" --script "$WORK/init.sh" \
	--modules "$MODULES" virtio_pci virtio_blk virtio_mmio virtio-rng button evdev
case $MODE in tables | power) ;; *) fail "mode '$MODE': want tables, power or debian" ;; esac
start=$(now_ms)
(export KVMM_ACPI_INNER=1; in_harness "$WORK/harness.log" --timeout 900 --rw "$WORK" -- \
	bash "$0" "$KVMM" "$WORK" "$MODE" "$KERNEL" "$WORK/guest.cpio")
echo "acpi $MODE: passed ($(($(now_ms) - start)) ms wall)"
