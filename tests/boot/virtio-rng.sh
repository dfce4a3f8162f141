#!/usr/bin/env bash
# The stock Debian kernel's own virtio_pci and virtio-rng drivers find kvmm's virtio-rng device
# on PCI (modern transport, MSI-X) and /dev/hwrng yields random bytes: a kick reaches the I/O
# thread through the ioeventfd, getrandom() fills the buffer, and the used ring plus an MSI
# bring it back.
# With "intx" the guest is told pci=nomsi, so the same must work over the INTx line the MP table
# routes to the IOAPIC, with ISR reads acknowledging it.
#   tests/boot/virtio-rng.sh KVMM WORKDIR [intx]
source "$(dirname "$0")/lib.sh"
KVMM=$1 WORK=$2 MODE=${3:-msix}
extra="" want_irqs="[1-9]"
if [ "$MODE" = intx ]; then
	extra="pci=nomsi" want_irqs="0"
fi
mkdir -p "$WORK"
distro_kernel
script=$(mktemp)
cat >"$script" <<'GUEST'
#!/bin/sh
for d in /sys/bus/pci/devices/*; do
	echo "KVMM-PCI $(basename "$d") $(cat "$d/vendor"):$(cat "$d/device") irqs=$(ls "$d/msi_irqs" 2>/dev/null | wc -l)"
done
echo "KVMM-RNG-CURRENT $(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)"
echo "KVMM-RNG $(head -c 64 /dev/hwrng | od -An -tx1 | tr -d ' \n')"
echo "KVMM-RNG $(head -c 64 /dev/hwrng | od -An -tx1 | tr -d ' \n')"
GUEST
"$TOP/images/initramfs.sh" "$WORK/rng.cpio" --script "$script" \
	--modules "$MODULES" virtio_pci virtio-rng
rm -f "$script"

start=$(now_ms)
in_harness "$WORK/rng.log" --timeout 180 -- "$KVMM" --no-reboot --kernel "$KERNEL" --initrd "$WORK/rng.cpio" --mem 256M \
	--cmdline "panic=-1 loglevel=4 $extra"
log=$(tr -d '\r' <"$WORK/rng.log")
grep -q "^KVMM-PCI .* 0x1af4:0x1044 irqs=$want_irqs\$" <<<"$log" ||
	fail "guest did not find a virtio-rng (1af4:1044) with the expected MSI-X vectors ($MODE)"
grep -q '^KVMM-RNG-CURRENT virtio_rng' <<<"$log" || fail "virtio_rng is not the guest's hwrng"
mapfile -t samples < <(sed -n 's/^KVMM-RNG \([0-9a-f]*\)$/\1/p' <<<"$log")
[ "${#samples[@]}" -eq 2 ] || fail "expected two samples from /dev/hwrng"
for s in "${samples[@]}"; do
	[ "${#s}" -eq 128 ] || fail "/dev/hwrng gave ${#s} hex digits, expected 128 (64 bytes)"
done
[ "${samples[0]}" != "${samples[1]}" ] || fail "two reads of /dev/hwrng returned the same bytes"
echo "virtio-rng ($MODE): guest read 2x64 random bytes through virtio-pci ($(($(now_ms) - start)) ms wall)"
