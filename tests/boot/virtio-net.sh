#!/usr/bin/env bash
# virtio-net on a TAP with the stock Debian kernel's virtio_net driver: the guest pings the host
# end of the TAP and sends it 64 MiB over TCP; both ends' MD5 sums must match. The host end lives
# in a network namespace this test creates (inside the harness's outer guest when there is no
# /dev/kvm here), so no traffic can leave the machine. With "vhost" the kernel's vhost-net
# carries the packets once the driver is up (--net ...,vhost=on).
#   tests/boot/virtio-net.sh KVMM WORKDIR [vhost]
source "$(dirname "$0")/lib.sh"
KVMM=$1 WORK=$2 MODE=${3:-userspace}
case $MODE in
vhost) vhost=on ;;
userspace) vhost=off ;;
*) fail "mode '$MODE': want vhost or userspace" ;;
esac
mkdir -p "$WORK"
rm -f "$WORK/received.bin" "$WORK/net.log"
distro_kernel

script=$(mktemp)
cat >"$script" <<'GUEST'
#!/bin/sh
ip link set lo up
ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0
echo "KVMM-MAC $(cat /sys/class/net/eth0/address)"
ping -c 3 -W 5 10.0.2.1 >/dev/null && echo KVMM-PING-OK
mount -t tmpfs -o size=80m tmpfs /tmp
head -c 67108864 /dev/urandom >/tmp/payload
echo "KVMM-SENT $(md5sum </tmp/payload | cut -d' ' -f1)"
t0=$(cut -d' ' -f1 /proc/uptime)
nc 10.0.2.1 5555 </tmp/payload && echo KVMM-SEND-DONE
t1=$(cut -d' ' -f1 /proc/uptime)
echo "KVMM-SEND-SECONDS $t0 $t1"
GUEST
"$TOP/images/initramfs.sh" "$WORK/net.cpio" --script "$script" \
	--modules "$MODULES" virtio_pci virtio_net
rm -f "$script"

# What runs where /dev/kvm is: a namespace holding the TAP, a TCP sink, and kvmm.
host=$WORK/net-host.sh
cat >"$host" <<HOST
#!/bin/sh
set -e
ns=kvmm-net-\$\$
ip netns add \$ns
trap 'ip netns del \$ns' EXIT
ip netns exec \$ns sh -c '
	ip link set lo up
	ip tuntap add dev kvmmtap0 mode tap
	ip addr add 10.0.2.1/24 dev kvmmtap0
	ip link set kvmmtap0 up
	# busybox nc quits when its stdin ends: a FIFO we hold open keeps it listening.
	fifo=\$(mktemp -u /dev/shm/kvmm-sink.XXXXXX) && mkfifo "\$fifo"
	/bin/busybox nc -l -p 5555 <"\$fifo" >"$WORK/received.bin" &
	sink=\$!
	exec 3>"\$fifo"
	"$KVMM" --kernel "$KERNEL" --initrd "$WORK/net.cpio" --mem 512M \
		--net tap=kvmmtap0,mac=52:54:00:12:34:56,vhost=$vhost --cmdline "panic=-1 loglevel=4" </dev/null
	rc=\$?
	# The guest sent everything before it rebooted; let the sink drain, then end it.
	sleep 1
	kill \$sink 2>/dev/null
	exec 3>&-
	rm -f "\$fifo"
	exit \$rc'
HOST
chmod +x "$host"

start=$(now_ms)
in_harness "$WORK/net.log" --timeout 300 --rw "$WORK" -- sh "$host"
log=$(tr -d '\r' <"$WORK/net.log")
grep -q '^KVMM-MAC 52:54:00:12:34:56$' <<<"$log" || fail "the guest's NIC does not have the MAC we gave"
grep -q '^KVMM-PING-OK$' <<<"$log" || fail "the guest could not ping the host end of the TAP"
# The last attempt's, should the harness have retried after an environment hang.
sent=$(sed -n 's/^KVMM-SENT \([0-9a-f]*\)$/\1/p' <<<"$log" | tail -n 1)
[ -n "$sent" ] || fail "the guest did not report what it sent"
[ -f "$WORK/received.bin" ] || fail "the host end received nothing"
got=$(md5sum <"$WORK/received.bin" | cut -d' ' -f1)
size=$(stat -c %s "$WORK/received.bin")
[ "$size" -eq 67108864 ] || fail "host received $size bytes, expected 67108864"
[ "$got" = "$sent" ] || fail "MD5 of the received 64 MiB ($got) differs from the guest's ($sent)"
secs=$(sed -n 's/^KVMM-SEND-SECONDS \([0-9.]*\) \([0-9.]*\)$/\1 \2/p' <<<"$log" | tail -n 1 |
	awk '{print $2 - $1}')
rate=$(awk -v s="${secs:-0}" 'BEGIN { if (s > 0) printf "%.1f", 64 / s; else print "?" }')
echo "virtio-net ($MODE): ping ok, 64 MiB guest->host over TCP in ${secs:-?} s guest time" \
	"($rate MiB/s), MD5 matches ($(($(now_ms) - start)) ms wall)"
