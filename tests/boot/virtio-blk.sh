#!/usr/bin/env bash
# virtio-blk with the stock Debian kernel's own drivers: the guest formats /dev/vda, mounts it,
# writes a file with a known pattern, and also writes the pattern raw at 1 MiB into /dev/vdb with
# fsync; after the guest reboots the host finds those exact bytes in the image files. A read-only
# disk (/dev/vdc) reads back its contents and refuses writes; serials reach /sys/block/*/serial.
# "sync" runs the requests synchronously (aio=sync) instead of through io_uring.
#   tests/boot/virtio-blk.sh KVMM WORKDIR [io_uring|sync]
source "$(dirname "$0")/lib.sh"
KVMM=$1 WORK=$2 AIO=${3:-io_uring}
case $AIO in
io_uring | sync) ;;
*) fail "aio mode '$AIO': want io_uring or sync" ;;
esac
mkdir -p "$WORK"
distro_kernel

# yes dies of SIGPIPE when head has enough: not a failure here.
pattern() { (set +o pipefail; yes KVMM-BLK-PATTERN-0123456789 | head -c 1048576); }
rm -f "$WORK"/fs.img "$WORK"/raw.img "$WORK"/ro.img
truncate -s 64M "$WORK/fs.img"
truncate -s 16M "$WORK/raw.img"
pattern >"$WORK/ro.img"
want_md5=$(pattern | md5sum | cut -d' ' -f1)

script=$(mktemp)
cat >"$script" <<GUEST
#!/bin/sh
echo "KVMM-SERIALS \$(cat /sys/block/vda/serial) \$(cat /sys/block/vdc/serial)"
echo "KVMM-RO \$(cat /sys/block/vda/ro) \$(cat /sys/block/vdc/ro)"
mke2fs -q /dev/vda && mkdir -p /mnt && mount -t ext4 /dev/vda /mnt &&
	yes KVMM-BLK-PATTERN-0123456789 | head -c 1048576 >/mnt/pattern && sync &&
	echo "KVMM-FS \$(md5sum </mnt/pattern | cut -d' ' -f1)" && umount /mnt
yes KVMM-BLK-PATTERN-0123456789 | head -c 1048576 | dd of=/dev/vdb bs=4096 seek=256 conv=fsync 2>/dev/null &&
	echo KVMM-RAW-WRITTEN
echo "KVMM-RO-READ \$(head -c 1048576 /dev/vdc | md5sum | cut -d' ' -f1)"
if dd if=/dev/zero of=/dev/vdc bs=4096 count=1 conv=fsync 2>/dev/null; then echo KVMM-RO-WRITE-ALLOWED; else echo KVMM-RO-WRITE-REFUSED; fi
sync
GUEST
"$TOP/images/initramfs.sh" "$WORK/blk.cpio" --script "$script" \
	--modules "$MODULES" virtio_pci virtio_blk crc16 crc32c_generic mbcache jbd2 ext4
rm -f "$script"

start=$(now_ms)
in_harness "$WORK/blk.log" --timeout 240 --rw "$WORK" -- "$KVMM" --no-reboot --kernel "$KERNEL" --initrd "$WORK/blk.cpio" --mem 256M \
	--disk "$WORK/fs.img,serial=kvmm-fs,aio=$AIO" --disk "$WORK/raw.img,aio=$AIO" \
	--disk "$WORK/ro.img,ro,serial=kvmm-ro,aio=$AIO" \
	--cmdline "panic=-1 loglevel=4"
log=$(tr -d '\r' <"$WORK/blk.log")
grep -q '^KVMM-SERIALS kvmm-fs kvmm-ro$' <<<"$log" || fail "disk serials did not reach the guest"
grep -q '^KVMM-RO 0 1$' <<<"$log" || fail "read-only flag wrong in the guest"
grep -q "^KVMM-FS $want_md5\$" <<<"$log" || fail "file on the guest's ext4 did not read back"
grep -q '^KVMM-RAW-WRITTEN$' <<<"$log" || fail "raw write to /dev/vdb failed in the guest"
grep -q "^KVMM-RO-READ $want_md5\$" <<<"$log" || fail "read-only disk did not read back its bytes"
grep -q '^KVMM-RO-WRITE-REFUSED$' <<<"$log" || fail "a write to the read-only disk succeeded"
got=$(dd if="$WORK/raw.img" bs=4096 skip=256 count=256 2>/dev/null | md5sum | cut -d' ' -f1)
[ "$got" = "$want_md5" ] || fail "raw.img does not hold the guest's pattern at 1 MiB"
# The ext4 image is checked by the host's own tools when they are there.
if command -v debugfs >/dev/null; then
	got=$(debugfs -R "cat /pattern" "$WORK/fs.img" 2>/dev/null | md5sum | cut -d' ' -f1)
	[ "$got" = "$want_md5" ] || fail "fs.img's /pattern does not hold the guest's bytes"
fi
cmp -s <(pattern) "$WORK/ro.img" || fail "the read-only image changed"
echo "virtio-blk ($AIO): ext4 file, raw pattern and read-only disk all check out ($(($(now_ms) - start)) ms wall)"
