#!/usr/bin/env bash
# Sequential read through virtio-blk (io_uring and synchronous) against the host reading the
# same file, in one run.
# Both reads are warm (page cache), so this measures kvmm's request path, not the disk.
# Prints numbers and their ratio; asserts nothing about speed. Where the host has no /dev/kvm
# the guest runs under the harness's emulated SVM, which says nothing about real hardware.
#   tests/bench/blk-read.sh KVMM [SIZE_MIB]
source "$(dirname "$0")/../boot/lib.sh"
KVMM=$(realpath "$1")
MIB=${2:-256}
WORK=$(mktemp -d /tmp/kvmm-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
distro_kernel

head -c $((MIB << 20)) /dev/urandom >"$WORK/disk.img"
cat "$WORK/disk.img" >/dev/null # warm the page cache
t0=$(now_ms)
dd if="$WORK/disk.img" of=/dev/null bs=1M 2>/dev/null
t1=$(now_ms)
host_mbs=$(awk -v m="$MIB" -v ms=$((t1 - t0)) 'BEGIN { printf "%.1f", m / (ms / 1000) }')

script=$(mktemp)
cat >"$script" <<'GUEST'
#!/bin/sh
t0=$(cut -d' ' -f1 /proc/uptime)
dd if=/dev/vda of=/dev/null bs=1M 2>/dev/null
t1=$(cut -d' ' -f1 /proc/uptime)
echo "KVMM-READ $t0 $t1"
GUEST
"$TOP/images/initramfs.sh" "$WORK/bench.cpio" --script "$script" --modules "$MODULES" virtio_pci virtio_blk
rm -f "$script"
# guest_read AIO: the guest's sequential read of the whole disk in MB/s, with that aio mode.
guest_read() {
	in_harness "$WORK/bench-$1.log" --timeout 400 -- "$KVMM" --no-reboot --kernel "$KERNEL" \
		--initrd "$WORK/bench.cpio" --mem 512M --disk "$WORK/disk.img,ro,aio=$1" \
		--cmdline "panic=-1 loglevel=3" >/dev/null
	local secs
	secs=$(tr -d '\r' <"$WORK/bench-$1.log" |
		sed -n 's/^KVMM-READ \([0-9.]*\) \([0-9.]*\)$/\1 \2/p' | tail -n 1 | awk '{print $2 - $1}')
	[ -n "$secs" ] || fail "the guest did not report its read time (aio=$1)"
	awk -v m="$MIB" -v s="$secs" 'BEGIN { printf "%.1f", m / s }'
}
uring_mbs=$(guest_read io_uring)
sync_mbs=$(guest_read sync)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
echo "blk-read: ${MIB} MiB sequential, host ${host_mbs} MB/s;" \
	"guest via virtio-blk io_uring ${uring_mbs} MB/s (guest/host $(ratio "$uring_mbs" "$host_mbs")," \
	"io_uring/sync $(ratio "$uring_mbs" "$sync_mbs")), synchronous ${sync_mbs} MB/s"
