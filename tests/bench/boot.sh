#!/usr/bin/env bash
# Boot-time numbers, not pass/fail: boot to init for the Debian kernel and for kvmm-kernel, each
# with the same busybox initramfs, 512M and 2 vCPUs, by kvmm (kernel unpacked on the host, from
# the cache; and the classic way, its decompressor in the guest) and by Debian's QEMU with
# -M microvm, median of REPS (default 5), all in one outer guest; with kvmm's boot timeline, and
# the same direct boot with --seccomp off (what the per-thread filters cost).
# The kernel cache is on the outer guest's tmpfs (/run), as on a local disk: its 9p shares are
# slow to map.
#   tests/bench/boot.sh KVMM [REPS]
source "$(dirname "$0")/../boot/lib.sh"
KVMM=$(realpath "${1:?usage: boot.sh KVMM [REPS]}") REPS=${2:-5}
WORK=$(dirname "$KVMM")/bench-work/boot
rm -rf "$WORK"
mkdir -p "$WORK"
command -v qemu-system-x86_64 >/dev/null || fail "qemu-system-x86_64 not found (apt-get install qemu-system-x86)"
images=$("$TOP/images/kvmm-images" distro) || fail "images/kvmm-images distro failed"
dk=$(sed -n 's/^distro_kernel=//p' <<<"$images")
di=$(sed -n 's/^distro_initramfs=//p' <<<"$images")
kk=$("$TOP/images/kvmm-images" kernel | sed -n 's/^kernel=//p') || fail "images/kvmm-images kernel failed"
ki=$("$TOP/images/kvmm-images" initramfs | sed -n 's/^initramfs=//p')
echo "boot bench: kvmm $(git -C "$TOP" rev-parse --short HEAD 2>/dev/null), $(qemu-system-x86_64 --version | head -n1)"
echo "boot bench: times include the outer guest's emulated SVM (10-100x hardware); compare ratios"
set +e
"$HARNESS" --timeout 1500 --rw "$WORK" -- python3 "$TOP/tests/bench/boot_bench.py" "$KVMM" \
	"$REPS" /run/kvmm-boot-cache "debian:$dk:$di" "kvmm-kernel:$kk:$ki" </dev/null 2>&1 |
	tee "$WORK/boot.log" | tr -d '\r'
rc=${PIPESTATUS[0]}
set -e
[ "$rc" -eq 0 ] || echo "boot bench: the harness exited $rc (its output: $WORK/boot.log)" >&2
exit "$rc"
