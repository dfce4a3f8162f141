#!/usr/bin/env bash
# The guest images of images/kvmm-images boot under kvmm and reach their marker:
#   kvmm-kernel  kvmm-kernel + the busybox initramfs (builds the kernel first if it is not
#                cached: 3.5 min on 2 cores)
#   disk         kvmm-kernel with the ext4 image as root (root=/dev/vda rw, no initramfs); the
#                guest writes a file there that the host then reads back from the image
#   distro       the stock Debian kernel + the initramfs holding its virtio modules
#   net          kvmm-kernel + initramfs with a virtio-net NIC on a TAP (in a network namespace
#                of its own): init brings eth0 up with kvmm.ip=, and the guest pings the host end
#   net-mmio     the same NIC on the virtio-mmio transport with vhost=on: without MSI-X kvmm
#                relays vhost-net's interrupts, as its -v output must say
# The command comes from `kvmm.run=` on the kernel command line, as a user would give it. Each
# prints its boot-to-marker time: the guest's uptime at the marker, and the wall time of the
# whole harness run.
#   tests/boot/images-boot.sh KVMM WORKDIR kvmm-kernel|disk|distro|net|net-mmio
source "$(dirname "$0")/lib.sh"
KVMM=${1:?usage: images-boot.sh KVMM WORKDIR kvmm-kernel|disk|distro|net|net-mmio} WORK=${2:?} MODE=${3:?}
mkdir -p "$WORK"

nonce=$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')
# No double quotes in it: the kernel command line quotes kvmm.run="..." with them.
marker="echo KVMM-MARKER cpus=\$(grep -c ^processor /proc/cpuinfo)"
marker+=" virtio=\$(ls /sys/bus/virtio/devices | wc -l)"
marker+=" root=\$(grep ' / ' /proc/mounts | tail -n1 | cut -d' ' -f3)"
marker+=" uptime=\$(cut -d' ' -f1 /proc/uptime)"
args=(--no-reboot --cpus 2 --mem 512M)
case "$MODE" in
kvmm-kernel)
	kernel=$(image kernel kernel)
	args+=(--kernel "$kernel" --initrd "$(image initramfs initramfs)")
	run=$marker
	;;
disk)
	kernel=$(image kernel kernel)
	# A copy the guest may write to, in a directory the harness shares writable.
	cp "$(image disk disk)" "$WORK/root.ext4"
	args+=(--kernel "$kernel" --disk "$WORK/root.ext4")
	run="echo $nonce >/kvmm-written; $marker"
	rootargs="root=/dev/vda rw"
	;;
net | net-mmio)
	kernel=$(image kernel kernel)
	args+=(--kernel "$kernel" --initrd "$(image initramfs initramfs)")
	if [ "$MODE" = net ]; then
		args+=(--net tap=kvmmimg0)
	else
		args+=(-v --transport mmio --net tap=kvmmimg0,vhost=on)
	fi
	run="ping -c 2 -W 5 10.0.2.1 >/dev/null && echo KVMM-PING-OK; $marker"
	run+=" ip=\$(ip -4 -o addr show dev eth0 | awk '{print \$4}')"
	rootargs="kvmm.ip=10.0.2.15/24"
	;;
distro)
	kernel=$(image distro_kernel distro)
	args+=(--kernel "$kernel" --initrd "$(image distro_initramfs distro)")
	run=$marker
	;;
*) fail "unknown mode '$MODE' (kvmm-kernel, disk, distro, net, net-mmio)" ;;
esac
args+=(--cmdline "${rootargs:-} panic=-1 loglevel=4 kvmm.run=\"$run\"")

log=$WORK/$MODE.log
start=$(now_ms)
if [ "$MODE" = net ] || [ "$MODE" = net-mmio ]; then
	# The TAP's host end, 10.0.2.1, lives in a namespace of its own: nothing leaves the machine.
	host=$WORK/net-host.sh
	# shellcheck disable=SC2016 # $ns and $$ are the host script's
	{
		echo 'set -e; ns=kvmm-images-$$; ip netns add $ns; trap "ip netns del $ns" EXIT'
		echo 'ip netns exec $ns sh -c "ip link set lo up && ip tuntap add dev kvmmimg0 mode tap &&'
		echo '	ip addr add 10.0.2.1/24 dev kvmmimg0 && ip link set kvmmimg0 up"'
		printf 'ip netns exec $ns'
		printf ' %q' "$KVMM" "${args[@]}"
		printf ' </dev/null\n'
	} >"$host"
	in_harness "$log" --timeout 400 --rw "$WORK" -- bash "$host"
else
	in_harness "$log" --timeout 400 --rw "$WORK" -- "$KVMM" "${args[@]}"
fi
elapsed=$(($(now_ms) - start))
line=$(tr -d '\r' <"$log" | grep -m1 '^KVMM-MARKER ') || fail "guest never printed its marker"
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
[ "$(field cpus)" = 2 ] || fail "guest sees '$(field cpus)' CPUs, expected 2: $line"
# kvmm gives every guest a virtio-rng; the kernel (or its modules) must have found it.
[ "$(field virtio)" -ge 1 ] 2>/dev/null || fail "guest found no virtio device: $line"
uptime=$(field uptime)
[ -n "$uptime" ] || fail "no uptime in the marker: $line"
if [ "$MODE" = net ] || [ "$MODE" = net-mmio ]; then
	grep -q '^KVMM-PING-OK' <(tr -d '\r' <"$log") || fail "the guest could not ping the host end of its TAP"
	[ "$(field ip)" = 10.0.2.15/24 ] || fail "eth0 has address '$(field ip)', kvmm.ip= said 10.0.2.15/24: $line"
	echo "images-boot: $MODE: init gave eth0 10.0.2.15/24 from kvmm.ip= and the guest pinged the host"
fi
if [ "$MODE" = net-mmio ]; then
	grep -q 'virtio-net: vhost interrupts relayed by the I/O thread' "$log" ||
		fail "vhost-net did not start on the virtio-mmio NIC (kvmm -v says nothing of it)"
	echo "images-boot: net-mmio: vhost-net carried the NIC on virtio-mmio, its interrupts relayed"
fi
if [ "$MODE" = disk ]; then
	[ "$(field root)" = ext4 ] || fail "root filesystem is '$(field root)', expected ext4: $line"
	command -v debugfs >/dev/null || fail "debugfs not found (apt-get install e2fsprogs)"
	got=$(debugfs -R "cat /kvmm-written" "$WORK/root.ext4" 2>/dev/null)
	[ "$got" = "$nonce" ] || fail "the guest's write to its root did not reach the image (read '$got', expected '$nonce')"
	echo "images-boot: disk: the guest's write to its ext4 root is in the image"
fi
echo "images-boot: $MODE ($(basename "$kernel")): marker at ${uptime} s guest uptime;" \
	"boot to marker and reboot took ${elapsed} ms wall (harness included)"
