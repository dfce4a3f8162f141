#!/usr/bin/env bash
# The demo: install what is needed, build kvmm, and boot the stock Debian kernel with a busybox
# initramfs to a shell on this terminal. Where this machine has no /dev/kvm it runs inside
# tests/harness/kvm-run's outer QEMU guest (slower: see README).
#   bash images/demo.sh [extra kvmm options...]
set -euo pipefail
cd "$(dirname "$0")/.."

.ci/install-deps
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target kvmm >/dev/null
kernel=$(tests/harness/distro-kernel | sed -n 's/^vmlinuz=//p')
images/initramfs.sh build/images/demo.cpio
echo "demo: booting $kernel with kvmm (Ctrl-A x quits, Ctrl-A h lists the keys)" >&2
exec tests/harness/kvm-run -- build/kvmm --kernel "$kernel" --initrd build/images/demo.cpio \
	--mem 512M --cpus 2 --cmdline "quiet" "$@"
