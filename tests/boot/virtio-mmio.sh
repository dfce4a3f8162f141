#!/usr/bin/env bash
# virtio over MMIO (--transport mmio) with kvmm-kernel, whose virtio_mmio driver takes devices
# from the command line kvmm writes: the guest finds a disk and the rng as virtio-mmio
# platform devices (and no virtio device on PCI), reads a known pattern from /dev/vda, writes
# another behind it with fsync, and reads /dev/hwrng. After the guest reboots the host checks
# the image's bytes. Builds kvmm-kernel first when it is not cached.
#   tests/boot/virtio-mmio.sh KVMM WORKDIR
source "$(dirname "$0")/lib.sh"
KVMM=$1 WORK=$2
mkdir -p "$WORK"
images=$("$TOP/images/kvmm-images" kernel) || fail "images/kvmm-images kernel failed"
KERNEL=$(sed -n 's/^kernel=//p' <<<"$images")
[ -r "$KERNEL" ] || fail "no kvmm-kernel at '$KERNEL'"

pattern() { (set +o pipefail; yes "KVMM-MMIO-$1-0123456789" | head -c 1048576); }
rm -f "$WORK/disk.img"
pattern in >"$WORK/disk.img"
truncate -s 4M "$WORK/disk.img"
want_in=$(pattern in | md5sum | cut -d' ' -f1)
want_out=$(pattern out | md5sum | cut -d' ' -f1)

script=$(mktemp)
cat >"$script" <<'GUEST'
#!/bin/sh
echo "KVMM-MMIO-DEVICES $(cat /sys/bus/virtio/devices/*/device | tr '\n' ' ')"
echo "KVMM-MMIO-PARENTS $(for d in /sys/bus/virtio/devices/*; do basename "$(readlink -f "$d/..")"; done | tr '\n' ' ')"
echo "KVMM-MMIO-IOMEM $(grep virtio-mmio /proc/iomem | tr -d ' ' | tr '\n' ' ')"
echo "KVMM-MMIO-READ $(head -c 1048576 /dev/vda | md5sum | cut -d' ' -f1)"
yes KVMM-MMIO-out-0123456789 | head -c 1048576 | dd of=/dev/vda bs=4096 seek=256 conv=fsync 2>/dev/null &&
	echo KVMM-MMIO-WRITTEN
echo "KVMM-MMIO-RNG $(head -c 64 /dev/hwrng | od -An -tx1 | tr -d ' \n' | wc -c)"
GUEST
"$TOP/images/initramfs.sh" "$WORK/mmio.cpio" --script "$script"
rm -f "$script"

start=$(now_ms)
in_harness "$WORK/mmio.log" --timeout 400 --rw "$WORK" -- "$KVMM" --no-reboot --kernel "$KERNEL" \
	--initrd "$WORK/mmio.cpio" --mem 256M --transport mmio --disk "$WORK/disk.img" \
	--cmdline "panic=-1 loglevel=4"
log=$(tr -d '\r' <"$WORK/mmio.log")
devices=$(sed -n 's/^KVMM-MMIO-DEVICES //p' <<<"$log")
# virtio ids: 0x0004 entropy (the rng, attached first), 0x0002 block.
[ "$devices" = "0x0004 0x0002 " ] || fail "guest's virtio devices are '$devices', expected rng then block"
parents=$(sed -n 's/^KVMM-MMIO-PARENTS //p' <<<"$log")
[ "$parents" = "virtio-mmio.0 virtio-mmio.1 " ] ||
	fail "virtio devices hang off '$parents', expected the command line's virtio-mmio.0 and .1"
iomem=$(sed -n 's/^KVMM-MMIO-IOMEM //p' <<<"$log")
grep -q 'feb00000-feb00fff:virtio-mmio.0 ' <<<"$iomem" &&
	grep -q 'feb01000-feb01fff:virtio-mmio.1 ' <<<"$iomem" ||
	fail "guest's iomem has '$iomem', expected one page each at 0xfeb00000 and 0xfeb01000"
grep -q "^KVMM-MMIO-READ $want_in\$" <<<"$log" || fail "/dev/vda did not read back the image's pattern"
grep -q '^KVMM-MMIO-WRITTEN$' <<<"$log" || fail "the guest's write to /dev/vda failed"
grep -q '^KVMM-MMIO-RNG 128$' <<<"$log" || fail "/dev/hwrng did not give 64 bytes"
got=$(dd if="$WORK/disk.img" bs=4096 skip=256 count=256 2>/dev/null | md5sum | cut -d' ' -f1)
[ "$got" = "$want_out" ] || fail "disk.img does not hold the guest's pattern at 1 MiB"
echo "virtio-mmio: rng and disk found on MMIO, disk read and write check out on the host" \
	"($(($(now_ms) - start)) ms wall)"
