#!/usr/bin/env bash
# The stock Debian kernel boots to userspace with --cpus 2 --mem 512M: the guest's own
# /proc/cpuinfo and /proc/meminfo must agree with what we asked for, and under --no-reboot a guest
# reboot must make kvmm exit 0.
#   tests/boot/boot-smp.sh KVMM WORKDIR
source "$(dirname "$0")/lib.sh"
KVMM=$1 WORK=$2
mkdir -p "$WORK"
distro_kernel
test_initramfs "$WORK/smp.cpio" '
cpus=$(grep -c "^processor" /proc/cpuinfo)
memkb=$(awk "/^MemTotal:/ {print \$2}" /proc/meminfo)
bridge=$(cat /sys/bus/pci/devices/0000:00:00.0/vendor /sys/bus/pci/devices/0000:00:00.0/class 2>/dev/null | tr "\n" ":")
echo "KVMM-MARKER cpus=$cpus memtotal_kb=$memkb hostbridge=$bridge"'

start=$(now_ms)
in_harness "$WORK/smp.log" --timeout 400 -- "$KVMM" --no-reboot --kernel "$KERNEL" --initrd "$WORK/smp.cpio" \
	--cpus 2 --mem 512M --cmdline "panic=-1 loglevel=4"
elapsed=$(($(now_ms) - start))
line=$(tr -d '\r' <"$WORK/smp.log" | grep -m1 '^KVMM-MARKER ') || fail "guest never printed its marker"
cpus=$(sed -n 's/.*cpus=\([0-9]*\).*/\1/p' <<<"$line")
memkb=$(sed -n 's/.*memtotal_kb=\([0-9]*\).*/\1/p' <<<"$line")
[ "$cpus" = 2 ] || fail "guest sees $cpus CPUs, expected 2"
# MemTotal is RAM less what the kernel reserved for itself: at most 512 MiB, and the Debian
# kernel keeps well under 80 MiB of that.
[ "$memkb" -le $((512 * 1024)) ] && [ "$memkb" -ge $((432 * 1024)) ] ||
	fail "guest MemTotal ${memkb} kB is not what 512M gives"
# Found by Linux's own type-1 probe (no ACPI here): 440FX vendor, host bridge class.
grep -q 'hostbridge=0x8086:0x060000:' <<<"$line" || fail "guest did not find the PCI host bridge: $line"
echo "boot-smp: guest saw $cpus CPUs and ${memkb} kB; boot to marker and reboot took ${elapsed} ms wall (harness included)"
