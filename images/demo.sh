#!/usr/bin/env bash
# The demo: install what is needed, build kvmm, and boot the stock Debian kernel with a busybox
# initramfs holding its virtio modules (both from images/kvmm-images distro) to a shell on this
# terminal. Where this machine has no /dev/kvm it runs inside
# tests/harness/kvm-run's outer QEMU guest (slower: see README).
#   bash images/demo.sh [extra kvmm options...]
set -euo pipefail
cd "$(dirname "$0")/.."

.ci/install-deps
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target kvmm >/dev/null
images=$(images/kvmm-images distro)
kernel=$(sed -n 's/^distro_kernel=//p' <<<"$images")
initrd=$(sed -n 's/^distro_initramfs=//p' <<<"$images")
echo "demo: booting $kernel with kvmm (Ctrl-A x quits, Ctrl-A c the monitor, Ctrl-A h lists the keys)" >&2
exec tests/harness/kvm-run -- build/kvmm --kernel "$kernel" --initrd "$initrd" \
	--mem 512M --cpus 2 --cmdline "quiet" "$@"
